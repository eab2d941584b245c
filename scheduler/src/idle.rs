//! Sleeping and waking idle workers, with no lost wake-up.
//!
//! # The protocol
//!
//! Each worker has a `sleeping` flag and a [`Parker`]; `count` is the number of flags
//! set. A worker that found no work (after spinning a little) goes to sleep:
//!
//! 1. `count += 1`; `sleeping[i] = true` (in that order: see `prepare_sleep`);
//! 2. `fence(SeqCst)`;
//! 3. looks for work once more (the injector, every run queue, the stop flag);
//! 4. if it finds some: it un-registers (if its flag is still set, clears it and
//!    decrements `count`; if someone already cleared it, that someone also unparked it,
//!    which only leaves a token that makes a later park return at once) and works;
//! 5. otherwise it parks until unparked, then un-registers the same way and loops.
//!
//! A thread that makes work available (pushes to the injector, or to a stealable local
//! queue) then *notifies one*:
//!
//! 1. `fence(SeqCst)`;
//! 2. if `count == 0`: done (nobody sleeps);
//! 3. otherwise it finds a worker whose flag it can swap from true to false, decrements
//!    `count`, and unparks that worker.
//!
//! **Why no wake-up is lost.** The sleeper's flag write (step 1) and the notifier's push
//! both precede a SeqCst fence, and each side then reads what the other wrote. The
//! fences are totally ordered: if the sleeper's fence comes first, the notifier reads
//! `count > 0` and the flag set, and wakes someone; if the notifier's comes first, the
//! sleeper's re-check in step 3 sees the job. Acquire/Release alone cannot give this:
//! each side stores then loads a *different* location (the store-buffering pattern),
//! which only a total order over the two fences rules out.
//!
//! The parker is the usual token parker (EMPTY / PARKED / NOTIFIED under a mutex and a
//! condition variable): an unpark that comes before the park is not lost either.
//!
//! Whoever clears a flag owns the decrement of `count`, so the count never drifts.

use crossbeam_utils::CachePadded;

use std::time::{Duration, Instant};

use crate::sync::lock::{lock, wait, wait_for, Condvar, Mutex};
use crate::sync::{fence, AtomicBool, AtomicU8, AtomicUsize, Ordering};

const EMPTY: u8 = 0;
const PARKED: u8 = 1;
const NOTIFIED: u8 = 2;

/// A token parker: `unpark` before `park` makes `park` return at once.
pub(crate) struct Parker {
    state: AtomicU8,
    lock: Mutex<()>,
    cond: Condvar,
}

impl Parker {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU8::new(EMPTY),
            lock: Mutex::new(()),
            cond: Condvar::new(),
        }
    }

    /// Blocks until a token is available (and consumes it) or `deadline` passes.
    pub(crate) fn park_until(&self, deadline: Option<Instant>) {
        // Fast path: a token is already there. Acquire: pairs with the unparker's
        // Release swap, so what it did before unparking is visible.
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        let mut guard = lock(&self.lock);
        match self
            .state
            .compare_exchange(EMPTY, PARKED, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => {}
            Err(NOTIFIED) => {
                // The token arrived meanwhile. Acquire: as above.
                self.state.swap(EMPTY, Ordering::Acquire);
                return;
            }
            Err(other) => unreachable!("parker in state {other} while its owner parks"),
        }
        loop {
            match deadline {
                None => wait(&self.cond, &mut guard),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left == Duration::ZERO {
                        // Timed out: take PARKED back (or a token that came just now).
                        // Acquire: as above, if it is a token.
                        self.state.swap(EMPTY, Ordering::Acquire);
                        return;
                    }
                    wait_for(&self.cond, &mut guard, left);
                }
            }
            // Spurious wake-ups loop; a real one finds NOTIFIED.
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Makes a token available, waking the owner if it is parked.
    pub(crate) fn unpark(&self) {
        // Release: pairs with the Acquire in `park`.
        match self.state.swap(NOTIFIED, Ordering::Release) {
            EMPTY | NOTIFIED => {}
            PARKED => {
                // Take the lock so the notification cannot slip in between the owner's
                // PARKED store and its wait (it holds the lock across both).
                drop(lock(&self.lock));
                self.cond.notify_one();
            }
            other => unreachable!("parker in state {other}"),
        }
    }
}

/// The registry of sleeping workers.
pub(crate) struct Idle {
    sleeping: Box<[CachePadded<AtomicBool>]>,
    parkers: Box<[Parker]>,
    count: CachePadded<AtomicUsize>,
    /// Where the next notification starts looking, to spread wake-ups.
    next: AtomicUsize,
}

impl Idle {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            sleeping: (0..workers)
                .map(|_| CachePadded::new(AtomicBool::new(false)))
                .collect(),
            parkers: (0..workers).map(|_| Parker::new()).collect(),
            count: CachePadded::new(AtomicUsize::new(0)),
            next: AtomicUsize::new(0),
        }
    }

    /// Steps 1 and 2 of going to sleep: register, then the fence. The caller then looks
    /// for work once more and calls [`cancel_sleep`](Idle::cancel_sleep) or
    /// [`sleep`](Idle::sleep).
    pub(crate) fn prepare_sleep(&self, worker: usize) {
        // Count first, then the flag: whoever clears the flag decrements `count`, so the
        // increment must come before any such decrement, or `count` could drop to 0
        // while another worker is still registered and a `notify_one` would skip it.
        // Relaxed: the SeqCst fence below orders it before the re-check.
        self.count.fetch_add(1, Ordering::Relaxed);
        // Release: pairs with the AcqRel swap of a notifier that clears the flag, so our
        // increment happens before its decrement.
        self.sleeping[worker].store(true, Ordering::Release);
        fence(Ordering::SeqCst);
    }

    /// Step 4: the re-check found work.
    pub(crate) fn cancel_sleep(&self, worker: usize) {
        self.unregister(worker);
    }

    /// Step 5: park until notified (or `deadline`, the earliest timer's), then
    /// un-register. Returns after any wake-up; the caller looks for work again.
    pub(crate) fn sleep(&self, worker: usize, deadline: Option<Instant>) {
        self.parkers[worker].park_until(deadline);
        self.unregister(worker);
    }

    /// Wakes worker `worker` (the timer sleeper: an earlier deadline was armed), even
    /// if it is not registered as sleeping: an unpark before its park makes that park
    /// return at once.
    pub(crate) fn unpark(&self, worker: usize) {
        self.parkers[worker].unpark();
    }

    fn unregister(&self, worker: usize) {
        // AcqRel swap: whoever clears the flag owns the decrement.
        if self.sleeping[worker].swap(false, Ordering::AcqRel) {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Wakes one sleeping worker, if any, after the caller made work available.
    #[inline]
    pub(crate) fn notify_one(&self) {
        fence(Ordering::SeqCst);
        // Relaxed after the fence: see the module doc.
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        self.notify_one_slow();
    }

    #[cold]
    fn notify_one_slow(&self) {
        let n = self.sleeping.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in (start..n).chain(0..start) {
            if self.sleeping[i].load(Ordering::Relaxed)
                && self.sleeping[i].swap(false, Ordering::AcqRel)
            {
                self.count.fetch_sub(1, Ordering::Relaxed);
                self.parkers[i].unpark();
                return;
            }
        }
    }

    /// Wakes every worker (stop).
    pub(crate) fn notify_all(&self) {
        fence(Ordering::SeqCst);
        for (i, parker) in self.parkers.iter().enumerate() {
            if self.sleeping[i].swap(false, Ordering::AcqRel) {
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
            parker.unpark();
        }
    }
}
