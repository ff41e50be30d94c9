//! Pointer input for games and 3D viewers, on smithay's implementations:
//! relative motion (`zwp_relative_pointer_manager_v1`) and pointer
//! constraints (`zwp_pointer_constraints_v1`).
//!
//! * Every movement of the pointer by a delta ([`State::pointer_moved_by`]:
//!   the embedded server's `pointer_by`; the nested window's raw mouse
//!   motion, [`State::pointer_raw_motion`]) is reported to the focused
//!   surface's relative pointers, even where the pointer cannot move
//!   further. The nested window moves the pointer to the host's absolute
//!   places while no constraint is active, and by raw motion while one
//!   is ([`State::pointer_constrained`]); it then locks the host's pointer
//!   where the host can (a Wayland desktop, not X).
//! * A constraint is activated while its surface has the pointer: at once
//!   if it has it when the constraint is made, else when the pointer
//!   enters it. smithay deactivates it when the pointer leaves.
//! * A locked pointer stays where it is: only relative motion is reported.
//!   A confined pointer stays inside its surface's region (the whole
//!   surface without one).
//! * A lock's cursor position hint is not used: the pointer is not moved
//!   when the lock ends.

use smithay::input::pointer::{PointerHandle, RelativeMotionEvent};
use smithay::reexports::wayland_server::DisplayHandle;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Logical, Point, Rectangle};
use smithay::wayland::compositor::RectangleKind;
use smithay::wayland::pointer_constraints::{
    PointerConstraint, PointerConstraintsHandler, PointerConstraintsState, with_pointer_constraint,
};
use smithay::wayland::relative_pointer::RelativePointerManagerState;
use smithay::{delegate_pointer_constraints, delegate_relative_pointer};

use super::state::State;

/// Makes the two globals.
pub(crate) fn create_globals(display: &DisplayHandle) {
    // Their states only hold the globals' ids, which nothing removes.
    let _ = RelativePointerManagerState::new::<State>(display);
    let _ = PointerConstraintsState::new::<State>(display);
}

/// What an active constraint on the focused surface allows.
enum Constrained {
    /// The pointer does not move.
    Locked,
    /// The pointer stays inside this part of the output.
    Confined(Rectangle<f64, Logical>),
}

impl State {
    /// The pointer moved by `delta` (a mouse's motion, before any
    /// constraint): relative motion to the focused surface, and the
    /// pointer moves as far as the surface's constraint lets it.
    pub(crate) fn pointer_moved_by(&mut self, delta: Point<f64, Logical>) {
        let Some(pointer) = self.seat.get_pointer() else {
            return;
        };
        let focus = self.surface_under(self.pointer_location);
        self.relative_motion(&pointer, focus.clone(), delta);
        let target = self.pointer_location + delta;
        match focus.and_then(|(surface, origin)| constrained(&surface, origin, &pointer)) {
            Some(Constrained::Locked) => pointer.frame(self),
            Some(Constrained::Confined(area)) => {
                // Inside the area's last whole pixel; an area under a pixel
                // wide holds the pointer at its edge (`f64::clamp` would
                // panic on a maximum under the minimum).
                let within = |v: f64, from: f64, size: f64| v.min(from + size - 1.0).max(from);
                let inside = Point::from((
                    within(target.x, area.loc.x, area.size.w),
                    within(target.y, area.loc.y, area.size.h),
                ));
                self.pointer_motion(inside);
            }
            None => self.pointer_motion(target),
        }
    }

    /// A mouse moved by `delta` where something else (the host's absolute
    /// pointer) places the pointer: while a constraint is active, the
    /// delta moves it ([`pointer_moved_by`](Self::pointer_moved_by));
    /// otherwise it is only told as relative motion.
    pub(crate) fn pointer_raw_motion(&mut self, delta: Point<f64, Logical>) {
        if self.pointer_constrained() {
            self.pointer_moved_by(delta);
        } else if let Some(pointer) = self.seat.get_pointer() {
            let focus = self.surface_under(self.pointer_location);
            self.relative_motion(&pointer, focus, delta);
            pointer.frame(self);
        }
    }

    /// Whether the surface under the pointer holds it with an active
    /// constraint (locked or confined).
    pub(crate) fn pointer_constrained(&self) -> bool {
        let Some(pointer) = self.seat.get_pointer() else {
            return false;
        };
        self.surface_under(self.pointer_location)
            .is_some_and(|(surface, origin)| constrained(&surface, origin, &pointer).is_some())
    }

    /// Tells the focused surface's relative pointers of `delta`.
    fn relative_motion(
        &mut self,
        pointer: &PointerHandle<State>,
        focus: Option<(WlSurface, Point<f64, Logical>)>,
        delta: Point<f64, Logical>,
    ) {
        let event = RelativeMotionEvent {
            delta,
            delta_unaccel: delta,
            utime: u64::from(self.input_time()) * 1000,
        };
        pointer.relative_motion(self, focus, &event);
    }

    /// Activates the constraint of the surface the pointer is on, if it
    /// has one that is not active yet.
    pub(crate) fn activate_pointer_constraint(&mut self) {
        let Some(pointer) = self.seat.get_pointer() else {
            return;
        };
        if let Some(surface) = pointer.current_focus() {
            with_pointer_constraint(&surface, &pointer, |constraint| {
                if let Some(constraint) = constraint.filter(|c| !c.is_active()) {
                    constraint.activate();
                }
            });
        }
    }
}

/// What the active constraint of `surface` (whose origin is at `origin`
/// on the output) allows `pointer`, if it has one.
fn constrained(
    surface: &WlSurface,
    origin: Point<f64, Logical>,
    pointer: &PointerHandle<State>,
) -> Option<Constrained> {
    // Measured before the constraint is looked at: both lock the
    // surface's state.
    let size = smithay::desktop::utils::bbox_from_surface_tree(surface, (0, 0)).size;
    let whole = Rectangle::from_size(size);
    with_pointer_constraint(surface, pointer, |constraint| {
        let constraint = constraint.filter(|c| c.is_active())?;
        Some(match &*constraint {
            PointerConstraint::Locked(_) => Constrained::Locked,
            PointerConstraint::Confined(confined) => {
                // The region's first added rectangle that meets the
                // surface; the whole surface without a region.
                let area = confined
                    .region()
                    .and_then(|region| {
                        region.rects.iter().find_map(|(kind, rect)| {
                            matches!(kind, RectangleKind::Add)
                                .then(|| rect.intersection(whole))
                                .flatten()
                        })
                    })
                    .unwrap_or(whole);
                let mut area = area.to_f64();
                area.loc += origin;
                Constrained::Confined(area)
            }
        })
    })
}

impl PointerConstraintsHandler for State {
    fn new_constraint(&mut self, surface: &WlSurface, pointer: &PointerHandle<Self>) {
        if pointer.current_focus().as_ref() == Some(surface) {
            with_pointer_constraint(surface, pointer, |constraint| {
                if let Some(constraint) = constraint {
                    constraint.activate();
                }
            });
        }
    }

    fn cursor_position_hint(
        &mut self,
        _surface: &WlSurface,
        _pointer: &PointerHandle<Self>,
        _location: Point<f64, Logical>,
    ) {
        // The pointer is not moved when a lock ends (module docs).
    }
}

delegate_relative_pointer!(State);
delegate_pointer_constraints!(State);
