//! One worker of a [`SharingScheduler`](super::SharingScheduler): where to find the next
//! job, how to run it, how to sleep, and what to do at stop.
//!
//! Finding work, in order:
//! 1. the LIFO slot: the job this worker scheduled last (an actor just messaged by the
//!    one that ran), for locality; at most [`MAX_LIFO_STREAK`] times in a row, so two
//!    actors messaging each other cannot starve the rest of the queue;
//! 2. the local queue (FIFO);
//! 3. the injector: take everything, run the oldest, spread the rest on the local queue
//!    (where idle workers can steal it, so one is woken);
//! 4. steal from the other workers, starting after this one.
//!
//! Then it spins a little (`spin_before_park` rounds), then sleeps (see `idle.rs`).

use core::cell::Cell;
use core::ptr;

use super::Shared;
use crate::job::QueuedJob;
use crate::queue::{Local, LocalQueue, StealQueue};
use crate::sync::{thread, Ordering};

/// The LIFO slot may be used this many times in a row before the local queue gets a
/// turn.
pub(crate) const MAX_LIFO_STREAK: u32 = 16;

// Not a `const` initialiser: loom's `thread_local!` has no const form.
#[allow(clippy::missing_const_for_thread_local)]
mod current {
    use super::*;
    crate::sync::thread_local! {
        /// The worker running on this thread, if any.
        pub(super) static CURRENT: Cell<*const Worker> = Cell::new(ptr::null());
    }
}
use current::CURRENT;

/// A worker's own state, on its thread's stack for the thread's lifetime.
pub(crate) struct Worker {
    pub(crate) shared: crate::sync::Arc<Shared>,
    pub(crate) index: usize,
    local: Local,
    lifo: Cell<Option<QueuedJob>>,
    lifo_streak: Cell<u32>,
}

/// Runs `f` with the current thread's worker if it belongs to the scheduler `id`.
#[inline]
pub(crate) fn with_current<R>(id: usize, f: impl FnOnce(&Worker) -> R) -> Option<R> {
    let worker = CURRENT.try_with(Cell::get).ok()?;
    if worker.is_null() {
        return None;
    }
    // SAFETY: `CURRENT` is set only by `Worker::run` to a worker on its own stack, and
    // reset to null before that worker is dropped; this thread is that worker's thread.
    let worker = unsafe { &*worker };
    (worker.shared.id == id).then(|| f(worker))
}

impl Worker {
    pub(crate) fn new(shared: crate::sync::Arc<Shared>, index: usize, local: Local) -> Self {
        Self {
            shared,
            index,
            local,
            lifo: Cell::new(None),
            lifo_streak: Cell::new(0),
        }
    }

    /// The worker thread's body.
    pub(crate) fn run(self) {
        CURRENT.with(|current| current.set(&self));
        self.work();
        self.drain();
        CURRENT.with(|current| current.set(ptr::null()));
    }

    fn work(&self) {
        let shared = &*self.shared;
        loop {
            if shared.is_stopping() {
                return;
            }
            if let Some(job) = self.next_job() {
                self.run_job(job);
                continue;
            }
            if let Some(job) = self.spin() {
                self.run_job(job);
                continue;
            }
            if shared.is_stopping() {
                return;
            }
            shared.idle.prepare_sleep(self.index);
            // The re-check after the fence (idle.rs, step 3).
            if shared.is_stopping()
                || shared.injector.has_jobs()
                || shared.remotes.iter().any(|r| !r.is_empty())
            {
                shared.idle.cancel_sleep(self.index);
                continue;
            }
            self.stats().parks.fetch_add(1, Ordering::Relaxed);
            shared.idle.sleep(self.index);
        }
    }

    /// Looks for work a few times before sleeping.
    fn spin(&self) -> Option<QueuedJob> {
        for round in 0..self.shared.spin {
            if self.shared.is_stopping() {
                return None;
            }
            if round < 16 {
                core::hint::spin_loop();
            } else {
                thread::yield_now();
            }
            if let Some(job) = self.next_job() {
                return Some(job);
            }
        }
        None
    }

    #[inline]
    fn next_job(&self) -> Option<QueuedJob> {
        if let Some(job) = self.lifo.take() {
            let streak = self.lifo_streak.get();
            if streak < MAX_LIFO_STREAK {
                self.lifo_streak.set(streak + 1);
                return Some(job);
            }
            // Give the queue a turn: the LIFO job goes to its back.
            self.local.push(job);
        }
        self.lifo_streak.set(0);
        if let Some(job) = self.local.pop() {
            return Some(job);
        }
        self.find_elsewhere()
    }

    /// The injector, then the other workers' queues.
    #[cold]
    fn find_elsewhere(&self) -> Option<QueuedJob> {
        let shared = &*self.shared;
        let mut batch = shared.injector.take_all();
        if let Some(first) = batch.next() {
            if !batch.is_empty() {
                for job in batch {
                    self.local.push(job);
                }
                shared.idle.notify_one();
            }
            return Some(first);
        }
        let n = shared.remotes.len();
        for k in 1..n {
            if let Some(job) = shared.remotes[(self.index + k) % n].steal() {
                self.stats().steals.fetch_add(1, Ordering::Relaxed);
                return Some(job);
            }
        }
        None
    }

    #[inline]
    fn run_job(&self, job: QueuedJob) {
        let ran = job.run(self.shared.max_throughput);
        let stats = self.stats();
        // Relaxed load + store: this worker is the only writer of its counters.
        bump(&stats.resumes, 1);
        match ran.info {
            Some(info) => bump(&stats.messages, info.messages_processed as u64),
            None => bump(&stats.panics, 1),
        }
        if let Some(again) = ran.requeue {
            self.local.push(again);
            self.shared.idle.notify_one();
        }
    }

    /// Schedules from this worker's thread: into the LIFO slot; the job it displaces
    /// goes to the local queue, where others can steal it.
    #[inline]
    pub(crate) fn schedule_local(&self, job: QueuedJob) {
        if let Some(previous) = self.lifo.replace(Some(job)) {
            self.local.push(previous);
            self.shared.idle.notify_one();
        }
    }

    /// At stop: every job left in this worker's slot and queue is told shutdown.
    fn drain(&self) {
        let mut cancelled = 0;
        if let Some(job) = self.lifo.take() {
            job.cancel();
            cancelled += 1;
        }
        while let Some(job) = self.local.pop() {
            job.cancel();
            cancelled += 1;
        }
        self.shared
            .cancelled
            .fetch_add(cancelled, Ordering::Relaxed);
    }

    fn stats(&self) -> &super::Counters {
        &self.shared.counters[self.index]
    }
}

/// Adds to a counter only this thread writes (a load and a store, no RMW).
#[inline(always)]
fn bump(counter: &crate::sync::AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}
