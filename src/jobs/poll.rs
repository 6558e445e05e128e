//! When an idle worker looks at the queue again.
//!
//! apalis 1.0's own `IntervalStrategy` (and `BackoffStrategy`) re-arm their timer when it
//! fires but do not poll the new one, so no wake-up is registered. The worker still comes
//! back when the fetch that follows returns `Pending` first. When the fetch finishes in the
//! same poll (seen on SQLite under load), nothing wakes the worker again until its next
//! heartbeat, 30 s later. A job queued in between waited that long: CI's pages check saw a
//! reset email take over 20 s. This strategy polls the new timer at once, so the next tick is
//! always scheduled.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::{PollSnapshot, PollStrategy};
use tokio::time::{Instant, Sleep};

/// Wakes the worker every `every`, whatever else happens in between.
pub(crate) struct EveryInterval {
    every: Duration,
    timer: Pin<Box<Sleep>>,
}

impl EveryInterval {
    pub(crate) fn new(every: Duration) -> Self {
        EveryInterval {
            every,
            timer: Box::pin(tokio::time::sleep(every)),
        }
    }
}

impl Clone for EveryInterval {
    fn clone(&self) -> Self {
        EveryInterval::new(self.every)
    }
}

impl std::fmt::Debug for EveryInterval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EveryInterval")
            .field("every", &self.every)
            .finish()
    }
}

impl PollStrategy for EveryInterval {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        if self.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.timer.as_mut().reset(Instant::now() + self.every);
        // The poll that registers the next wake-up; a fresh timer is never ready.
        let _ = self.timer.as_mut().poll(cx);
        Poll::Ready(Some(()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    use super::*;

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// After a tick, the next tick comes without anything else polling the strategy in
    /// between: the case apalis' `IntervalStrategy` misses.
    #[tokio::test]
    async fn every_tick_schedules_the_next() {
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let snapshot = PollSnapshot::default();
        let mut strategy = EveryInterval::new(Duration::from_millis(30));

        assert!(strategy.poll_drive(&mut cx, &snapshot).is_pending());
        for tick in 1..=3 {
            tokio::time::sleep(Duration::from_millis(80)).await;
            assert_eq!(
                wakes.0.load(Ordering::SeqCst),
                tick,
                "tick {tick} woke the worker"
            );
            assert!(strategy.poll_drive(&mut cx, &snapshot).is_ready());
        }
    }
}
