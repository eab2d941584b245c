//! The job state word: who may run a job, and whether it must run again.
//!
//! | bit        | meaning                                                        |
//! |------------|----------------------------------------------------------------|
//! | `QUEUED`   | the job is in exactly one run queue (the queue holds a ref)     |
//! | `RUNNING`  | a worker is inside `resume`                                    |
//! | `NOTIFIED` | scheduled while running: the runner requeues it afterwards      |
//! | `COMPLETE` | finished (`Done`, `Shutdown`, panicked or cancelled): never runs again |
//!
//! Transitions (each one CAS loop, [`State::update`]):
//!
//! ```text
//!   idle ──schedule──▶ QUEUED ──pop──▶ RUNNING ──Awaiting──▶ idle
//!                        ▲                │  │
//!                        └──Resume────────┘  ├──Done/Shutdown/panic──▶ COMPLETE
//!                        └──(NOTIFIED)───────┘
//!   RUNNING ──schedule──▶ RUNNING|NOTIFIED
//!   QUEUED  ──schedule──▶ QUEUED (nothing to do)
//!   COMPLETE ─schedule──▶ rejected
//! ```
//!
//! `QUEUED` and `RUNNING` are never both set: a job is in at most one run queue, and only
//! while nobody runs it; so a job is never resumed by two threads at once, and its
//! intrusive link is used by at most one queue.
//!
//! Orderings: `schedule` is AcqRel: Release so that what the scheduling thread did
//! before (pushing a message) happens before the resume that the queue hands the job
//! to (the queue's own Release/Acquire carries it), Acquire so that a scheduler that
//! sets `NOTIFIED` on a running job is ordered after the runner's earlier writes it may
//! depend on. The runner's transitions are AcqRel for the same two directions with the
//! previous and the next runner.

use core::fmt;

use crate::sync::{AtomicUsize, Ordering};

pub(crate) const QUEUED: usize = 1 << 0;
pub(crate) const RUNNING: usize = 1 << 1;
pub(crate) const NOTIFIED: usize = 1 << 2;
pub(crate) const COMPLETE: usize = 1 << 3;

/// A decoded copy of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) usize);

impl Snapshot {
    pub(crate) fn has(self, bits: usize) -> bool {
        self.0 & bits == bits
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_set();
        for (bit, name) in [
            (QUEUED, "QUEUED"),
            (RUNNING, "RUNNING"),
            (NOTIFIED, "NOTIFIED"),
            (COMPLETE, "COMPLETE"),
        ] {
            if self.has(bit) {
                list.entry(&format_args!("{name}"));
            }
        }
        list.finish()
    }
}

/// What `schedule` must do after [`State::transition_to_queued`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ToQueued {
    /// The caller set `QUEUED`: push the job into a run queue.
    Push,
    /// Already queued, or running and now notified: nothing to push.
    AlreadyScheduled,
    /// The job is complete: it will never run again.
    Complete,
}

/// What the runner must do after [`State::transition_from_running`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterRun {
    /// The job is queued again: push it back (the queue's reference is kept).
    Requeue,
    /// The job is idle or complete: drop the queue's reference.
    Release,
}

/// The atomic state word of a job.
pub(crate) struct State(AtomicUsize);

impl State {
    /// Idle: neither queued nor running.
    pub(crate) fn new() -> Self {
        Self(AtomicUsize::new(0))
    }

    pub(crate) fn load(&self) -> Snapshot {
        // Relaxed: for debugging and assertions only.
        Snapshot(self.0.load(Ordering::Relaxed))
    }

    /// The one CAS loop: applies `f` to the current state until the CAS succeeds, or `f`
    /// returns `None` (no change). Returns the previous state.
    #[inline]
    fn update(&self, mut f: impl FnMut(Snapshot) -> Option<usize>) -> Snapshot {
        // Relaxed: a guess for the CAS, which orders (AcqRel).
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            let Some(next) = f(Snapshot(current)) else {
                return Snapshot(current);
            };
            match self
                .0
                .compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Snapshot(current),
                Err(actual) => current = actual,
            }
        }
    }

    /// `schedule`: idle → QUEUED; RUNNING → RUNNING|NOTIFIED; otherwise nothing.
    #[inline]
    pub(crate) fn transition_to_queued(&self) -> ToQueued {
        let prev = self.update(|s| {
            if s.has(COMPLETE) || s.has(QUEUED) || s.has(RUNNING | NOTIFIED) {
                None
            } else if s.has(RUNNING) {
                Some(s.0 | NOTIFIED)
            } else {
                Some(s.0 | QUEUED)
            }
        });
        if prev.has(COMPLETE) {
            ToQueued::Complete
        } else if prev.has(QUEUED) || prev.has(RUNNING) {
            ToQueued::AlreadyScheduled
        } else {
            ToQueued::Push
        }
    }

    /// The worker that popped the job: QUEUED → RUNNING.
    #[inline]
    pub(crate) fn transition_to_running(&self) {
        let prev = self.update(|s| Some((s.0 & !QUEUED) | RUNNING));
        debug_assert!(
            prev.has(QUEUED) && !prev.has(RUNNING),
            "popped a job in state {prev:?}"
        );
    }

    /// After `resume` returned: `again` (it returned `Resume`) or NOTIFIED → QUEUED;
    /// `complete` → COMPLETE; else idle.
    #[inline]
    pub(crate) fn transition_from_running(&self, again: bool, complete: bool) -> AfterRun {
        let prev = self.update(|s| {
            let base = s.0 & !(RUNNING | NOTIFIED);
            Some(if complete {
                base | COMPLETE
            } else if again || s.has(NOTIFIED) {
                base | QUEUED
            } else {
                base
            })
        });
        debug_assert!(prev.has(RUNNING), "finished a job in state {prev:?}");
        if !complete && (again || prev.has(NOTIFIED)) {
            AfterRun::Requeue
        } else {
            AfterRun::Release
        }
    }

    /// A queued job cancelled at shutdown: QUEUED → COMPLETE. Returns whether this call
    /// completed it (it was not complete already).
    #[inline]
    pub(crate) fn transition_to_cancelled(&self) -> bool {
        !self
            .update(|s| Some((s.0 & !(QUEUED | NOTIFIED)) | COMPLETE))
            .has(COMPLETE)
    }

    pub(crate) fn is_complete(&self) -> bool {
        // Acquire: pairs with the AcqRel that set COMPLETE, for callers that then read
        // what the job finished with.
        Snapshot(self.0.load(Ordering::Acquire)).has(COMPLETE)
    }
}
