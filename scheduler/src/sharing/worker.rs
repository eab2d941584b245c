//! One worker of a [`SharingScheduler`](super::SharingScheduler): where to find the next
//! job, how to run it, where a job goes when the local queue is full, how to sleep, and
//! what to do at stop.
//!
//! Finding work, in order:
//! 1. the LIFO slot: the job this worker scheduled last (an actor just messaged by the
//!    one that ran), for locality; at most [`MAX_LIFO_STREAK`] times in a row, so two
//!    actors messaging each other cannot starve the rest of the queue;
//! 2. every [`INJECTOR_INTERVAL`]th time past the slot, the injector first, so that a
//!    local queue that never empties (a job that always has more to do) cannot starve
//!    the jobs from outside or the overflow of a burst (Go's scheduler looks at its
//!    global queue every 61 ticks, tokio's at a similar interval);
//! 3. the local queue (FIFO);
//! 4. the injector: take as many jobs as the local queue has room for, plus one; run the
//!    oldest, put the rest on the local queue (where idle workers can steal them, so one
//!    is woken; so it is when the injector kept some back for the next taker);
//! 5. steal from the other workers, starting after this one.
//!
//! Then it spins a little (`spin_before_park` rounds), then sleeps (see `idle.rs`).
//!
//! # Timers
//!
//! The workers drive the scheduler's [`Timers`](crate::Timers) (`timer/mod.rs`): no
//! thread of their own. A worker looks at them every
//! [`CHECK_INTERVAL`](crate::CHECK_INTERVAL) jobs while busy (one load when no timer is
//! armed, else a clock reading) and whenever it runs out of jobs; whoever finds a
//! deadline passed fires what is due (a try: if another worker is firing, it goes on).
//! Fired timers schedule their actors onto this worker like sends from a handler.
//!
//! An idle worker about to park takes the *timer sleeper* role if nobody holds it
//! (`Shared::timer_sleeper`, a CAS), then reads the earliest deadline, and parks until
//! it (a deadline already passed: it fires instead). The others park without a
//! timeout. An armer whose deadline became the earliest (`Armed::Earlier`) reads the
//! role after its `fetch_min` of the earliest deadline: it unparks the role's holder,
//! or, if nobody holds it, notifies one sleeping worker, which takes the role as it
//! goes back to sleep. Both sides are a store then a load of different words, with a
//! SeqCst fence between: either the sleeper reads the new deadline, or the armer sees
//! the role taken and unparks its holder (an unpark before the park makes the park
//! return at once).
//! When every worker is busy, nobody needs waking: each looks at the timers within
//! `CHECK_INTERVAL` jobs, and before it parks. With a `timer_spin` (builder), the
//! sleeper parks until that long before the deadline, then loops (yielding) until it.
//!
//! # Overflow: a full local queue
//!
//! The local queue holds at most [`CAPACITY`] jobs (64: beyond that crossbeam-deque
//! would grow its buffer, an allocation; see `queue.rs`). Jobs reach it from this
//! worker only: the job the LIFO slot displaces when a job schedules another
//! ([`Worker::schedule_local`]), a job that must run again, the LIFO job whose streak
//! ended, and jobs taken from the injector. When a push finds the queue full (a job made
//! more than 64 others ready at once, e.g. an actor broadcasting to 100 actors), the
//! worker moves the older half of its queue, [`OVERFLOW_BATCH`] jobs, to the injector as
//! one batch (one CAS, no allocation: the jobs' own links chain them), pushes the new
//! job into the room that made, and wakes an idle worker, which takes the batch from the
//! injector. This is tokio's `push_overflow`. Taking from the injector never overflows:
//! a worker takes at most the room it has (the injector keeps the rest for the next
//! taker).
//!
//! # Stop
//!
//! Every job is resumed or told shutdown exactly once, and the stop report counts every
//! job told shutdown that was accepted (scheduled without an error). Jobs in the
//! injector when `stop` closes it are told shutdown and counted by `stop`. A job this
//! worker holds is told shutdown and counted (in `Shared::cancelled`, which `stop` reads
//! after joining the worker) by [`Worker::drain`], after the job it was running has
//! finished: those in its LIFO slot and local queue, and those the closed injector
//! refused, which it keeps for the drain in [`Worker::refused`] (so no job is told
//! shutdown in the middle of another job's run). The injector refuses jobs in two
//! places, both once `stop` has closed it: an overflow batch, and the part of a take
//! that the injector was to keep for the next taker (see `injector.rs`).

use core::cell::Cell;
use core::ptr;

use super::Shared;
use crate::injector::{Batch, Left, Taken};
use crate::job::QueuedJob;
use crate::queue::{Local, LocalQueue, StealQueue, CAPACITY};
use crate::sync::{thread, Ordering};

/// The LIFO slot may be used this many times in a row before the local queue gets a
/// turn.
pub(crate) const MAX_LIFO_STREAK: u32 = 16;

/// Every this many jobs taken past the LIFO slot, the worker looks at the injector
/// before its local queue. A prime, as in Go's scheduler, so that it does not fall into
/// step with a period of the workload.
pub(crate) const INJECTOR_INTERVAL: u32 = 61;

/// How many jobs a full local queue moves to the injector: the older half.
pub(crate) const OVERFLOW_BATCH: usize = CAPACITY.div_ceil(2);

crate::sync::const_thread_local! {
    /// The worker running on this thread, if any.
    static CURRENT: Cell<*const Worker> = Cell::new(ptr::null());
}

/// A worker's own state, on its thread's stack for the thread's lifetime.
pub(crate) struct Worker {
    pub(crate) shared: crate::sync::Arc<Shared>,
    pub(crate) index: usize,
    local: Local,
    lifo: Cell<Option<QueuedJob>>,
    lifo_streak: Cell<u32>,
    /// Jobs taken past the LIFO slot, for [`INJECTOR_INTERVAL`].
    ticks: Cell<u32>,
    /// Jobs the closed injector refused (overflow at stop): told shutdown by `drain`.
    refused: Cell<Batch>,
    /// Jobs run since the last look at the timers.
    timer_ticks: Cell<u32>,
}

/// Runs `f` with the current thread's worker if it belongs to the scheduler `id`.
#[inline]
pub(crate) fn with_current<R>(id: usize, f: impl FnOnce(&Worker) -> R) -> Option<R> {
    let worker = CURRENT.with(Cell::get);
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
            ticks: Cell::new(0),
            refused: Cell::new(Batch::default()),
            timer_ticks: Cell::new(0),
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
                self.timer_tick();
                continue;
            }
            if shared.timers.is_due() {
                shared.timers.poll();
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
            // The timer sleeper role, a fence, then the earliest deadline (module doc,
            // "Timers"; the armer's side is `Shared::timer_armed_earlier`).
            let sleeper = shared
                .timer_sleeper
                .compare_exchange(0, self.index + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok();
            let deadline = if sleeper {
                crate::sync::fence(Ordering::SeqCst);
                // With `timer_spin`, wake that much early and spin the rest: the loop
                // comes back here, finds the (earlier) wake-up time passed, and looks
                // again instead of sleeping, until the deadline fires.
                shared
                    .timers
                    .next_deadline()
                    .map(|d| d.checked_sub(shared.timer_spin).unwrap_or(d))
            } else {
                None
            };
            if deadline.is_some_and(|d| d <= std::time::Instant::now()) {
                // Due already, or within `timer_spin` of it: wait for it awake (while
                // no job comes), fire what is due instead of sleeping, look again.
                shared.timer_sleeper.store(0, Ordering::Release);
                shared.idle.cancel_sleep(self.index);
                if shared.timer_spin.is_zero() {
                    shared.timers.poll();
                } else {
                    self.spin_to_deadline();
                }
                continue;
            }
            self.stats().parks.fetch_add(1, Ordering::Relaxed);
            #[cfg(feature = "observe")]
            if let Some(observer) = &shared.observer {
                observer.on_park(self.index);
            }
            shared.idle.sleep(self.index, deadline);
            #[cfg(feature = "observe")]
            if let Some(observer) = &shared.observer {
                observer.on_unpark(self.index);
            }
            if sleeper {
                // Release the role. An armer that still sees it unparks us for nothing
                // (a token that makes a later park return at once: one more loop).
                shared.timer_sleeper.store(0, Ordering::Release);
            }
        }
    }

    /// The last stretch before a deadline (`timer_spin`): spins (yielding now and then)
    /// until a timer fires, a job arrives, the scheduler stops, or the next deadline is
    /// no longer within `timer_spin` (a look that only moved an entry to a finer slot of
    /// the wheel fires nothing: the spin goes on).
    #[cold]
    fn spin_to_deadline(&self) {
        let shared = &*self.shared;
        let mut rounds = 0u32;
        loop {
            if shared.is_stopping() || shared.injector.has_jobs() || self.local.len() > 0 {
                return;
            }
            if shared.timers.is_due() && shared.timers.poll().fired > 0 {
                return;
            }
            match shared.timers.time_to_next() {
                Some(left) if left <= shared.timer_spin => {}
                _ => return,
            }
            rounds = rounds.wrapping_add(1);
            if rounds % 64 == 0 {
                thread::yield_now();
            } else {
                core::hint::spin_loop();
            }
        }
    }

    /// Every `CHECK_INTERVAL` jobs, fires the timers that are due.
    #[inline]
    fn timer_tick(&self) {
        let ticks = self.timer_ticks.get() + 1;
        if ticks < crate::timer::CHECK_INTERVAL {
            self.timer_ticks.set(ticks);
            return;
        }
        self.timer_ticks.set(0);
        #[cfg(feature = "observe")]
        if let Some(observer) = &self.shared.observer {
            observer.on_queue_depth(self.index, self.local.len());
        }
        if self.shared.timers.is_due() {
            self.shared.timers.poll();
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
        // The LIFO job at the end of its streak, kept out of an empty queue (it would
        // come straight back, through the queue's atomic pop).
        let mut turned = None;
        if let Some(job) = self.lifo.take() {
            let streak = self.lifo_streak.get();
            if streak < MAX_LIFO_STREAK {
                self.lifo_streak.set(streak + 1);
                return Some(job);
            }
            if self.local.len() == 0 {
                turned = Some(job);
            } else {
                // Give the queue a turn: the LIFO job goes to its back.
                self.push_local(job);
            }
        }
        self.lifo_streak.set(0);
        let ticks = self.ticks.get().wrapping_add(1);
        self.ticks.set(ticks);
        if ticks % INJECTOR_INTERVAL == 0 {
            let room = CAPACITY.saturating_sub(self.local.len() + usize::from(turned.is_some()));
            if let Some(job) = self.take_injected(room) {
                // The injector's turn first; the LIFO job waits in the queue.
                if let Some(turned) = turned {
                    self.push_local(turned);
                }
                return Some(job);
            }
        }
        if turned.is_some() {
            return turned;
        }
        if let Some(job) = self.local.pop() {
            return Some(job);
        }
        self.find_elsewhere()
    }

    /// Takes from the injector as many jobs as the local queue has `room` for, plus the
    /// one returned to run now.
    fn take_injected(&self, room: usize) -> Option<QueuedJob> {
        let shared = &*self.shared;
        let Taken { mut jobs, left } = shared.injector.take(room + 1);
        let first = jobs.next();
        let mut more = !jobs.is_empty();
        for job in jobs {
            // Fits: only this thread pushes to the queue, and the caller measured `room`
            // (thieves only make more).
            self.push_local(job);
        }
        match left {
            Left::Nothing => {}
            Left::PutBack => more = true,
            Left::Refused(rest) => self.keep_refused(rest),
        }
        if more {
            shared.idle.notify_one();
        }
        first
    }

    /// The injector, then the other workers' queues.
    #[cold]
    fn find_elsewhere(&self) -> Option<QueuedJob> {
        let shared = &*self.shared;
        // All the room there is: the caller has just found the local queue empty, and
        // only this thread pushes to it.
        if let Some(job) = self.take_injected(CAPACITY) {
            return Some(job);
        }
        let n = shared.remotes.len();
        for k in 1..n {
            let victim = (self.index + k) % n;
            if let Some(job) = shared.remotes[victim].steal() {
                self.stats().steals.fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "observe")]
                if let Some(observer) = &shared.observer {
                    observer.on_steal(self.index, victim);
                }
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
            self.push_local(again);
            self.shared.idle.notify_one();
        }
    }

    /// Schedules from this worker's thread: into the LIFO slot; the job it displaces
    /// goes to the local queue, where others can steal it.
    #[inline]
    pub(crate) fn schedule_local(&self, job: QueuedJob) {
        if let Some(previous) = self.lifo.replace(Some(job)) {
            self.displaced(previous);
        }
    }

    /// The job the LIFO slot held goes to the local queue, where an idle worker may
    /// steal it. Out of line: `schedule_local` is inlined into every send.
    #[inline(never)]
    fn displaced(&self, previous: QueuedJob) {
        self.push_local(previous);
        self.shared.idle.notify_one();
    }

    /// Pushes onto the local queue; if it is full, moves its older half to the injector
    /// first (see "Overflow" in the module doc).
    #[inline]
    fn push_local(&self, job: QueuedJob) {
        if let Err(job) = self.local.push(job) {
            self.overflow(job);
        }
    }

    #[cold]
    fn overflow(&self, job: QueuedJob) {
        let mut batch = Batch::default();
        while batch.len() < OVERFLOW_BATCH {
            match self.local.pop() {
                Some(older) => batch.push(older),
                None => break,
            }
        }
        // There is room now: we popped at least one job, or thieves emptied the queue,
        // and nobody else pushes to it. Should there be none, the job goes with the
        // batch rather than be lost.
        if let Err(job) = self.local.push(job) {
            batch.push(job);
        }
        match self.shared.injector.push_batch(batch) {
            Ok(()) => self.shared.idle.notify_one(),
            Err(refused) => self.keep_refused(refused.into_jobs()),
        }
    }

    /// Keeps jobs the closed injector refused until `drain` tells them shutdown.
    #[cold]
    fn keep_refused(&self, jobs: impl IntoIterator<Item = QueuedJob>) {
        let mut refused = self.refused.take();
        for job in jobs {
            refused.push(job);
        }
        self.refused.set(refused);
    }

    /// At stop: every job left in this worker's slot and queue, and every job the
    /// closed injector refused, is told shutdown and counted.
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
        for job in self.refused.take().into_jobs() {
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
