//! [`FenceSource`]: a calloop event source that fires once when a fence
//! signals.

use std::io;
use std::os::fd::AsFd;

use calloop::generic::Generic;
use calloop::{EventSource, Interest, Mode, Poll, PostAction, Readiness, Token, TokenFactory};
use tracing::trace;

use super::SyncFile;

/// Waits for a [`SyncFile`] on a calloop event loop.
///
/// The sync_file's fd is registered for readability, which the kernel
/// reports once every fence in it has signalled. The callback then runs
/// exactly once, receiving the `SyncFile` back, and the source removes
/// itself from the loop. A fence that has already signalled fires on the
/// next dispatch. The loop never blocks on the fence: it keeps dispatching
/// other sources while the fence is pending.
///
/// A fence that signalled with an error fires like any other; ask
/// [`SyncFile::info`] for the status if it matters.
///
/// ```no_run
/// # fn example(fence: dmabridge::sync::SyncFile) -> Result<(), Box<dyn std::error::Error>> {
/// use dmabridge::sync::FenceSource;
///
/// let event_loop = calloop::EventLoop::<bool>::try_new()?;
/// event_loop
///     .handle()
///     .insert_source(FenceSource::new(fence), |fence, &mut (), done| {
///         drop(fence);
///         *done = true;
///     })?;
/// # Ok(())
/// # }
/// ```
#[must_use = "a FenceSource does nothing until inserted into an event loop"]
#[derive(Debug)]
pub struct FenceSource {
    watch: OnceReadable<SyncFile>,
}

impl FenceSource {
    /// Wraps `fence`; insert the source into a loop to wait for it.
    pub fn new(fence: SyncFile) -> Self {
        Self {
            watch: OnceReadable::new(fence),
        }
    }
}

impl EventSource for FenceSource {
    type Event = SyncFile;
    type Metadata = ();
    type Ret = ();
    type Error = io::Error;

    fn process_events<C>(
        &mut self,
        readiness: Readiness,
        token: Token,
        callback: C,
    ) -> Result<PostAction, Self::Error>
    where
        C: FnMut(Self::Event, &mut Self::Metadata) -> Self::Ret,
    {
        self.watch.process_events(readiness, token, callback)
    }

    fn register(&mut self, poll: &mut Poll, factory: &mut TokenFactory) -> calloop::Result<()> {
        self.watch.register(poll, factory)
    }

    fn reregister(&mut self, poll: &mut Poll, factory: &mut TokenFactory) -> calloop::Result<()> {
        self.watch.reregister(poll, factory)
    }

    fn unregister(&mut self, poll: &mut Poll) -> calloop::Result<()> {
        self.watch.unregister(poll)
    }
}

/// The logic of [`FenceSource`] for any fd: fire once, handing the fd back,
/// when it becomes readable, then ask to be removed.
///
/// A sync_file only becomes readable when its fences signal, which is why
/// readability alone decides; the tests drive this with a pipe.
#[derive(Debug)]
struct OnceReadable<F: AsFd> {
    /// `None` once fired: the fd has been handed to the callback.
    generic: Option<Generic<F>>,
}

impl<F: AsFd> OnceReadable<F> {
    fn new(fd: F) -> Self {
        Self {
            generic: Some(Generic::new(fd, Interest::READ, Mode::Level)),
        }
    }
}

impl<F: AsFd> EventSource for OnceReadable<F> {
    type Event = F;
    type Metadata = ();
    type Ret = ();
    type Error = io::Error;

    fn process_events<C>(
        &mut self,
        readiness: Readiness,
        token: Token,
        mut callback: C,
    ) -> Result<PostAction, Self::Error>
    where
        C: FnMut(Self::Event, &mut Self::Metadata) -> Self::Ret,
    {
        let Some(generic) = self.generic.as_mut() else {
            return Ok(PostAction::Remove);
        };
        let mut readable = false;
        // `Generic` checks that the token is its own.
        generic.process_events(readiness, token, |readiness, _| {
            readable = readiness.readable;
            Ok(PostAction::Continue)
        })?;
        if !readable {
            return Ok(PostAction::Continue);
        }
        // `Generic::unwrap` deletes the fd from the poller before handing it
        // out, so the callback may close it; `unregister` below then has
        // nothing left to do when calloop acts on `PostAction::Remove`.
        if let Some(generic) = self.generic.take() {
            trace!("fence signalled");
            callback(generic.unwrap(), &mut ());
        }
        Ok(PostAction::Remove)
    }

    fn register(&mut self, poll: &mut Poll, factory: &mut TokenFactory) -> calloop::Result<()> {
        match self.generic.as_mut() {
            Some(generic) => generic.register(poll, factory),
            None => Ok(()),
        }
    }

    fn reregister(&mut self, poll: &mut Poll, factory: &mut TokenFactory) -> calloop::Result<()> {
        match self.generic.as_mut() {
            Some(generic) => generic.reregister(poll, factory),
            None => Ok(()),
        }
    }

    fn unregister(&mut self, poll: &mut Poll) -> calloop::Result<()> {
        match self.generic.as_mut() {
            Some(generic) => generic.unregister(poll),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;
    use std::time::Duration;

    use calloop::EventLoop;
    use calloop::timer::{TimeoutAction, Timer};
    use rustix::pipe::pipe;

    use super::*;

    /// Counts the callback runs and keeps the fd it was handed.
    #[derive(Default)]
    struct State {
        fired: usize,
        fd: Option<OwnedFd>,
        ticks: usize,
    }

    fn insert(event_loop: &EventLoop<'_, State>, reader: OwnedFd) {
        event_loop
            .handle()
            .insert_source(
                OnceReadable::new(reader),
                |fd, &mut (), state: &mut State| {
                    state.fired += 1;
                    state.fd = Some(fd);
                },
            )
            .unwrap();
    }

    #[test]
    fn fires_once_after_becoming_readable_and_loop_keeps_running() {
        let mut event_loop = EventLoop::<State>::try_new().unwrap();
        let (reader, writer) = pipe().unwrap();
        insert(&event_loop, reader);
        // Another source proves the loop is dispatching while the fd is pending.
        event_loop
            .handle()
            .insert_source(Timer::immediate(), |_, &mut (), state: &mut State| {
                state.ticks += 1;
                TimeoutAction::ToDuration(Duration::from_millis(1))
            })
            .unwrap();

        let mut state = State::default();
        for _ in 0..5 {
            event_loop
                .dispatch(Some(Duration::from_millis(10)), &mut state)
                .unwrap();
        }
        assert_eq!(state.fired, 0);
        assert!(
            state.ticks >= 3,
            "the loop stalled: {} timer ticks",
            state.ticks
        );

        rustix::io::write(&writer, b"x").unwrap();
        event_loop
            .dispatch(Some(Duration::from_millis(100)), &mut state)
            .unwrap();
        assert_eq!(state.fired, 1);
        assert!(state.fd.is_some());

        // Still readable (nobody drained the pipe) but removed: no second run.
        for _ in 0..3 {
            event_loop
                .dispatch(Some(Duration::from_millis(10)), &mut state)
                .unwrap();
        }
        assert_eq!(state.fired, 1);
    }

    #[test]
    fn already_readable_fires_on_next_dispatch() {
        let mut event_loop = EventLoop::<State>::try_new().unwrap();
        let (reader, writer) = pipe().unwrap();
        rustix::io::write(&writer, b"x").unwrap();
        insert(&event_loop, reader);

        let mut state = State::default();
        event_loop
            .dispatch(Some(Duration::ZERO), &mut state)
            .unwrap();
        assert_eq!(state.fired, 1);
    }

    #[test]
    fn callback_may_close_the_fd() {
        let mut event_loop = EventLoop::<State>::try_new().unwrap();
        let (reader, writer) = pipe().unwrap();
        rustix::io::write(&writer, b"x").unwrap();
        event_loop
            .handle()
            .insert_source(
                OnceReadable::new(reader),
                |fd, &mut (), state: &mut State| {
                    drop(fd);
                    state.fired += 1;
                },
            )
            .unwrap();

        let mut state = State::default();
        for _ in 0..3 {
            event_loop
                .dispatch(Some(Duration::ZERO), &mut state)
                .unwrap();
        }
        assert_eq!(state.fired, 1);
    }

    #[test]
    fn removing_a_pending_source_is_clean() {
        let mut event_loop = EventLoop::<State>::try_new().unwrap();
        let (reader, _writer) = pipe().unwrap();
        let token = event_loop
            .handle()
            .insert_source(
                OnceReadable::new(reader),
                |_, &mut (), state: &mut State| {
                    state.fired += 1;
                },
            )
            .unwrap();
        let mut state = State::default();
        event_loop
            .dispatch(Some(Duration::ZERO), &mut state)
            .unwrap();
        event_loop.handle().remove(token);
        event_loop
            .dispatch(Some(Duration::ZERO), &mut state)
            .unwrap();
        assert_eq!(state.fired, 0);
    }
}
