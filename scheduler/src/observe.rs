//! Hooks for the schedulers' own moments: a worker parks, wakes, steals, how deep its
//! queue is, timers fire. Behind the `observe` cargo feature: without it, none of this
//! exists and no scheduler has a branch for it.
//!
//! # Protocol
//!
//! An observer is an `Arc<dyn SchedulerObserver>` given to a scheduler when it is built
//! ([`SharingSchedulerBuilder::observer`](crate::SharingSchedulerBuilder::observer),
//! [`ManualScheduler::with_observer`](crate::ManualScheduler::with_observer)) or to a
//! [`Timers`](crate::Timers) ([`set_observer`](crate::Timers::set_observer)), and never
//! changed: the hot paths read an immutable `Option`, one predictable branch, and
//! make no call when it is `None`.
//!
//! The hooks are called on the thread where the moment happens (a worker's own
//! thread; the thread polling the timers), synchronously, with no lock of the
//! scheduler's held, so they must be quick and must not block: they sit on the
//! paths they observe. They must not drive the timers (poll, advance) from
//! [`on_timers_fired`](SchedulerObserver::on_timers_fired), which is called while the
//! poll still holds the wheel. A panic in a hook is not caught by the scheduler: it
//! unwinds through the worker like a panic in the scheduler itself, so don't.
//!
//! | hook | when | how often |
//! |---|---|---|
//! | `on_park` / `on_unpark` | a worker goes to sleep / comes back | per sleep |
//! | `on_steal` | a worker took a job from another's queue | per steal |
//! | `on_queue_depth` | a worker's local queue length | every `CHECK_INTERVAL` jobs |
//! | `on_timers_fired` | a poll fired timers | per poll that fired any |
//!
//! Every method has an empty default: implement the ones you need.

use std::time::Duration;

/// What a scheduler tells of itself (module doc: when, on which thread, how often).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use zeta_scheduler::observe::SchedulerObserver;
/// use zeta_scheduler::{Scheduler, SharingScheduler};
///
/// #[derive(Default)]
/// struct Parks(AtomicU64);
/// impl SchedulerObserver for Parks {
///     fn on_park(&self, _worker: usize) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let parks = Arc::new(Parks::default());
/// let scheduler = SharingScheduler::builder()
///     .workers(1)
///     .observer(parks.clone())
///     .build()
///     .unwrap();
/// scheduler.start().unwrap();
/// // With nothing to run, the worker goes to sleep: the hook sees it.
/// while parks.0.load(Ordering::Relaxed) == 0 {
///     std::thread::yield_now();
/// }
/// scheduler.stop().unwrap();
/// assert_eq!(scheduler.stats()[0].parks, parks.0.load(Ordering::Relaxed));
/// ```
pub trait SchedulerObserver: Send + Sync + 'static {
    /// Worker `worker` is about to sleep (nothing to run, nothing to steal).
    fn on_park(&self, worker: usize) {
        let _ = worker;
    }

    /// Worker `worker` woke from a sleep.
    fn on_unpark(&self, worker: usize) {
        let _ = worker;
    }

    /// Worker `worker` took a job from worker `victim`'s queue.
    fn on_steal(&self, worker: usize, victim: usize) {
        let _ = (worker, victim);
    }

    /// Worker `worker`'s local run queue holds `depth` jobs (sampled every
    /// [`CHECK_INTERVAL`](crate::CHECK_INTERVAL) jobs it runs).
    fn on_queue_depth(&self, worker: usize, depth: usize) {
        let _ = (worker, depth);
    }

    /// A poll of the timers fired `fired` entries; the latest was `lateness` past its
    /// deadline ([`Polled::lateness`](crate::Polled::lateness)).
    fn on_timers_fired(&self, fired: usize, lateness: Duration) {
        let _ = (fired, lateness);
    }
}

/// Two observers, both told everything.
impl<A: SchedulerObserver, B: SchedulerObserver> SchedulerObserver for (A, B) {
    fn on_park(&self, worker: usize) {
        self.0.on_park(worker);
        self.1.on_park(worker);
    }
    fn on_unpark(&self, worker: usize) {
        self.0.on_unpark(worker);
        self.1.on_unpark(worker);
    }
    fn on_steal(&self, worker: usize, victim: usize) {
        self.0.on_steal(worker, victim);
        self.1.on_steal(worker, victim);
    }
    fn on_queue_depth(&self, worker: usize, depth: usize) {
        self.0.on_queue_depth(worker, depth);
        self.1.on_queue_depth(worker, depth);
    }
    fn on_timers_fired(&self, fired: usize, lateness: Duration) {
        self.0.on_timers_fired(fired, lateness);
        self.1.on_timers_fired(fired, lateness);
    }
}
