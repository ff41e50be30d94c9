//! The ownership state machine of a dma-buf.
//!
//! Transcribed from Andrew Davis' proposal on dri-devel ("dma-buf: heaps: Add
//! heap helpers", July 2019; `shared/references/001`). A buffer is un-owned,
//! CPU-owned or device-owned, and unmapped, CPU-mapped, device-mapped or
//! both; five combinations are valid. Six operation classes move it between
//! them; the DOT graph of the proposal lists every valid transition and
//! everything else is refused. Buffers start in, and are only released from,
//! [`OwnershipState::UnownedUnmapped`].
//!
//! Mappings are reference counted, as the proposal assumes: "`map_dma_buf`
//! refers only to the first [mapping]", `unmap_dma_buf` "to the last device
//! unmapping". [`Ownership`] counts device and CPU mappings; only the first
//! map and the last unmap of each kind go through the table, the others only
//! change the count.

use std::fmt;

/// The five valid states of the proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnershipState {
    /// `uo_um`: nobody maps or owns the buffer; the only state it starts in
    /// and is released from.
    UnownedUnmapped,
    /// `do_dm`: mapped for a device only; the device owns it.
    DeviceOwnedDeviceMapped,
    /// `do_cdm`: mapped for the CPU and a device; the device owns it, so the
    /// CPU must begin access before touching the bytes.
    DeviceOwnedCpuDeviceMapped,
    /// `co_cm`: mapped for the CPU only; the CPU owns it.
    CpuOwnedCpuMapped,
    /// `co_cdm`: mapped for the CPU and a device; the CPU owns it until it
    /// ends its access.
    CpuOwnedCpuDeviceMapped,
}

/// The six operation classes of the proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnershipOp {
    /// `map_dma_buf`: a device maps the buffer (here: a Vulkan import).
    MapDevice,
    /// `unmap_dma_buf`: a device drops its mapping.
    UnmapDevice,
    /// `begin_cpu_access`: the CPU takes ownership (`DMA_BUF_IOCTL_SYNC` START).
    BeginCpuAccess,
    /// `end_cpu_access`: the CPU gives ownership back (`DMA_BUF_IOCTL_SYNC` END).
    EndCpuAccess,
    /// `mmap/vmap/kmap`: the CPU maps the buffer.
    MapCpu,
    /// `munmap/vunmap/kunmap`: the CPU drops its mapping.
    UnmapCpu,
}

impl OwnershipState {
    /// All five states.
    pub const ALL: [OwnershipState; 5] = [
        Self::UnownedUnmapped,
        Self::DeviceOwnedDeviceMapped,
        Self::DeviceOwnedCpuDeviceMapped,
        Self::CpuOwnedCpuMapped,
        Self::CpuOwnedCpuDeviceMapped,
    ];

    /// The node name in the proposal's DOT graph.
    pub fn dot_name(self) -> &'static str {
        match self {
            Self::UnownedUnmapped => "uo_um",
            Self::DeviceOwnedDeviceMapped => "do_dm",
            Self::DeviceOwnedCpuDeviceMapped => "do_cdm",
            Self::CpuOwnedCpuMapped => "co_cm",
            Self::CpuOwnedCpuDeviceMapped => "co_cdm",
        }
    }

    /// The state `op` leads to, or an error when the proposal has no such
    /// edge. This is the bare table: it knows nothing of reference counts.
    pub fn transition(self, op: OwnershipOp) -> Result<OwnershipState, OwnershipError> {
        use OwnershipOp as Op;
        use OwnershipState as S;
        let next = match (self, op) {
            (S::UnownedUnmapped, Op::MapDevice) => S::DeviceOwnedDeviceMapped,
            (S::UnownedUnmapped, Op::MapCpu) => S::CpuOwnedCpuMapped,

            (S::DeviceOwnedDeviceMapped, Op::MapDevice) => S::DeviceOwnedDeviceMapped,
            (S::DeviceOwnedDeviceMapped, Op::UnmapDevice) => S::UnownedUnmapped,
            (S::DeviceOwnedDeviceMapped, Op::MapCpu) => S::DeviceOwnedCpuDeviceMapped,

            (S::DeviceOwnedCpuDeviceMapped, Op::MapDevice | Op::MapCpu) => {
                S::DeviceOwnedCpuDeviceMapped
            }
            (S::DeviceOwnedCpuDeviceMapped, Op::UnmapDevice) => S::CpuOwnedCpuMapped,
            (S::DeviceOwnedCpuDeviceMapped, Op::BeginCpuAccess) => S::CpuOwnedCpuDeviceMapped,
            (S::DeviceOwnedCpuDeviceMapped, Op::UnmapCpu) => S::DeviceOwnedDeviceMapped,

            (S::CpuOwnedCpuMapped, Op::MapDevice) => S::CpuOwnedCpuDeviceMapped,
            (S::CpuOwnedCpuMapped, Op::EndCpuAccess) => S::CpuOwnedCpuMapped,
            (S::CpuOwnedCpuMapped, Op::UnmapCpu) => S::UnownedUnmapped,

            (S::CpuOwnedCpuDeviceMapped, Op::MapDevice | Op::MapCpu) => S::CpuOwnedCpuDeviceMapped,
            (S::CpuOwnedCpuDeviceMapped, Op::UnmapDevice) => S::CpuOwnedCpuMapped,
            (S::CpuOwnedCpuDeviceMapped, Op::EndCpuAccess) => S::DeviceOwnedCpuDeviceMapped,

            (state, op) => return Err(OwnershipError { state, op }),
        };
        Ok(next)
    }
}

impl fmt::Display for OwnershipState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnownedUnmapped => "Un-Owned Un-Mapped",
            Self::DeviceOwnedDeviceMapped => "Device-Owned Device-Mapped",
            Self::DeviceOwnedCpuDeviceMapped => "Device-Owned CPU/Device-Mapped",
            Self::CpuOwnedCpuMapped => "CPU-Owned CPU-Mapped",
            Self::CpuOwnedCpuDeviceMapped => "CPU-Owned CPU/Device-Mapped",
        })
    }
}

impl OwnershipOp {
    /// All six operations.
    pub const ALL: [OwnershipOp; 6] = [
        Self::MapDevice,
        Self::UnmapDevice,
        Self::BeginCpuAccess,
        Self::EndCpuAccess,
        Self::MapCpu,
        Self::UnmapCpu,
    ];
}

impl fmt::Display for OwnershipOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MapDevice => "map_dma_buf",
            Self::UnmapDevice => "unmap_dma_buf",
            Self::BeginCpuAccess => "begin_cpu_access",
            Self::EndCpuAccess => "end_cpu_access",
            Self::MapCpu => "mmap",
            Self::UnmapCpu => "munmap",
        })
    }
}

/// An operation the state machine has no edge for in the current state.
///
/// Returned by [`OwnershipState::transition`], and by
/// [`Dmabuf::map_device`](super::Dmabuf::map_device) /
/// [`Dmabuf::unmap_device`](super::Dmabuf::unmap_device) when the caller
/// unmaps a device mapping it never made, or maps while the CPU holds the
/// buffer in a way the proposal forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{op} is not valid in state {state} ({})", state.dot_name())]
pub struct OwnershipError {
    /// The state the buffer was, and still is, in.
    pub state: OwnershipState,
    /// The refused operation.
    pub op: OwnershipOp,
}

/// The state machine plus the mapping reference counts of one buffer.
#[derive(Debug)]
pub(crate) struct Ownership {
    state: OwnershipState,
    device_maps: u64,
    cpu_maps: u64,
}

impl Ownership {
    /// A buffer nobody maps or owns.
    pub(crate) fn new() -> Self {
        Self {
            state: OwnershipState::UnownedUnmapped,
            device_maps: 0,
            cpu_maps: 0,
        }
    }

    pub(crate) fn state(&self) -> OwnershipState {
        self.state
    }

    /// Device mappings still counted.
    pub(crate) fn device_maps(&self) -> u64 {
        self.device_maps
    }

    /// Applies `op`. A map while mappings of that kind exist, and an unmap
    /// that is not the last, only change the count; every other operation
    /// goes through [`OwnershipState::transition`]. On error nothing changes.
    pub(crate) fn apply(&mut self, op: OwnershipOp) -> Result<(), OwnershipError> {
        let (count, is_map) = match op {
            OwnershipOp::MapDevice => (&mut self.device_maps, true),
            OwnershipOp::UnmapDevice => (&mut self.device_maps, false),
            OwnershipOp::MapCpu => (&mut self.cpu_maps, true),
            OwnershipOp::UnmapCpu => (&mut self.cpu_maps, false),
            OwnershipOp::BeginCpuAccess | OwnershipOp::EndCpuAccess => {
                self.state = self.state.transition(op)?;
                return Ok(());
            }
        };
        if is_map && *count > 0 {
            *count += 1;
        } else if !is_map && *count > 1 {
            *count -= 1;
        } else {
            // The first map or the last unmap (or an unmap of nothing, which
            // the table refuses: no unmapped state has an unmap edge).
            self.state = self.state.transition(op)?;
            *count = u64::from(is_map);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The edges of the DOT graph in reference 001, copied line by line
    /// (`from -> to [ label="op" ]`), commented-out edges left out.
    const DOT_EDGES: &[(&str, &str, &str)] = &[
        ("uo_um", "do_dm", "map_dma_buf"),
        ("uo_um", "co_cm", "mmap/vmap/kmap"),
        ("do_dm", "do_dm", "map_dma_buf"),
        ("do_dm", "uo_um", "unmap_dma_buf"),
        ("do_dm", "do_cdm", "mmap/vmap/kmap"),
        ("do_cdm", "do_cdm", "map_dma_buf"),
        ("do_cdm", "co_cm", "unmap_dma_buf"),
        ("do_cdm", "co_cdm", "begin_cpu_access"),
        ("do_cdm", "do_cdm", "mmap/vmap/kmap"),
        ("do_cdm", "do_dm", "ummanp/vunmap/kunmap"),
        ("co_cm", "co_cdm", "map_dma_buf"),
        ("co_cm", "co_cm", "end_cpu_access"),
        ("co_cm", "uo_um", "ummanp/vunmap/kunmap"),
        ("co_cdm", "co_cdm", "map_dma_buf"),
        ("co_cdm", "co_cm", "unmap_dma_buf"),
        ("co_cdm", "do_cdm", "end_cpu_access"),
        ("co_cdm", "co_cdm", "mmap/vmap/kmap"),
    ];

    /// The DOT label of an operation (including the reference's "ummanp").
    fn dot_label(op: OwnershipOp) -> &'static str {
        match op {
            OwnershipOp::MapDevice => "map_dma_buf",
            OwnershipOp::UnmapDevice => "unmap_dma_buf",
            OwnershipOp::BeginCpuAccess => "begin_cpu_access",
            OwnershipOp::EndCpuAccess => "end_cpu_access",
            OwnershipOp::MapCpu => "mmap/vmap/kmap",
            OwnershipOp::UnmapCpu => "ummanp/vunmap/kunmap",
        }
    }

    #[test]
    fn every_state_and_operation_matches_the_reference() {
        for state in OwnershipState::ALL {
            for op in OwnershipOp::ALL {
                let edge = DOT_EDGES
                    .iter()
                    .find(|(from, _, label)| *from == state.dot_name() && *label == dot_label(op));
                let got = state.transition(op).map(OwnershipState::dot_name);
                match edge {
                    Some((_, to, _)) => assert_eq!(got, Ok(*to), "{state:?} × {op:?}"),
                    None => assert_eq!(
                        got.map_err(|e| (e.state, e.op)),
                        Err((state, op)),
                        "{state:?} × {op:?}"
                    ),
                }
            }
        }
    }

    #[test]
    fn the_reference_has_seventeen_edges() {
        let valid = OwnershipState::ALL
            .iter()
            .flat_map(|s| OwnershipOp::ALL.iter().map(move |op| s.transition(*op)))
            .filter(Result::is_ok)
            .count();
        assert_eq!(valid, DOT_EDGES.len());
    }

    #[test]
    fn error_names_state_and_operation() {
        let err = OwnershipState::UnownedUnmapped.transition(OwnershipOp::UnmapDevice);
        let msg = err.map_err(|e| e.to_string()).err();
        assert_eq!(
            msg.as_deref(),
            Some("unmap_dma_buf is not valid in state Un-Owned Un-Mapped (uo_um)")
        );
    }

    #[test]
    fn device_mappings_are_counted() {
        let mut own = Ownership::new();
        own.apply(OwnershipOp::MapDevice).unwrap();
        own.apply(OwnershipOp::MapDevice).unwrap();
        assert_eq!(own.device_maps(), 2);
        own.apply(OwnershipOp::UnmapDevice).unwrap();
        assert_eq!(own.state(), OwnershipState::DeviceOwnedDeviceMapped);
        own.apply(OwnershipOp::UnmapDevice).unwrap();
        assert_eq!(own.state(), OwnershipState::UnownedUnmapped);
        assert_eq!(own.device_maps(), 0);
        let err = own.apply(OwnershipOp::UnmapDevice).unwrap_err();
        assert_eq!(
            (err.state, err.op),
            (OwnershipState::UnownedUnmapped, OwnershipOp::UnmapDevice)
        );
    }

    #[test]
    fn a_second_cpu_mapping_in_co_cm_only_counts() {
        // co_cm has no mmap edge: the proposal's ops refer to the first map.
        let mut own = Ownership::new();
        own.apply(OwnershipOp::MapCpu).unwrap();
        own.apply(OwnershipOp::MapCpu).unwrap();
        assert_eq!(own.state(), OwnershipState::CpuOwnedCpuMapped);
        own.apply(OwnershipOp::UnmapCpu).unwrap();
        assert_eq!(own.state(), OwnershipState::CpuOwnedCpuMapped);
        own.apply(OwnershipOp::UnmapCpu).unwrap();
        assert_eq!(own.state(), OwnershipState::UnownedUnmapped);
    }

    #[test]
    fn import_then_cpu_access_then_release() {
        use OwnershipOp as Op;
        use OwnershipState as S;
        let mut own = Ownership::new();
        let steps = [
            (Op::MapDevice, S::DeviceOwnedDeviceMapped),
            (Op::MapCpu, S::DeviceOwnedCpuDeviceMapped),
            (Op::BeginCpuAccess, S::CpuOwnedCpuDeviceMapped),
            (Op::EndCpuAccess, S::DeviceOwnedCpuDeviceMapped),
            (Op::UnmapDevice, S::CpuOwnedCpuMapped),
            (Op::UnmapCpu, S::UnownedUnmapped),
        ];
        for (op, state) in steps {
            own.apply(op).unwrap();
            assert_eq!(own.state(), state, "after {op:?}");
        }
    }

    #[test]
    fn refused_operations_change_nothing() {
        let mut own = Ownership::new();
        own.apply(OwnershipOp::MapDevice).unwrap();
        own.apply(OwnershipOp::MapCpu).unwrap();
        own.apply(OwnershipOp::BeginCpuAccess).unwrap();
        // co_cdm: the CPU must end its access before unmapping.
        assert!(own.apply(OwnershipOp::UnmapCpu).is_err());
        assert!(own.apply(OwnershipOp::BeginCpuAccess).is_err());
        assert_eq!(own.state(), OwnershipState::CpuOwnedCpuDeviceMapped);
        assert_eq!((own.device_maps, own.cpu_maps), (1, 1));
    }
}
