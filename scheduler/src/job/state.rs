//! The job state word: who may run a job, whether it must run again, and how many
//! references to it exist.
//!
//! | bits       | meaning                                                        |
//! |------------|----------------------------------------------------------------|
//! | `QUEUED`   | the job is in exactly one run queue (the queue holds a ref)     |
//! | `RUNNING`  | a worker is inside `resume`                                    |
//! | `NOTIFIED` | scheduled while running: the runner requeues it afterwards      |
//! | `COMPLETE` | finished (`Done`, `Shutdown`, panicked or cancelled): never runs again |
//! | `4..20`    | pins (self-arbitrated jobs; 8 bits on 32-bit targets), units of [`PIN_ONE`] |
//! | `20..`     | the reference count, in units of [`REF_ONE`]                    |
//!
//! A self-arbitrated job (see the parent module) uses only `COMPLETE`, the pins and the
//! count, with these transitions, each one CAS (AcqRel):
//!
//! ```text
//!   new:                      refs 2 (the creator's, the run right's)
//!   outside drop, refs > 2 or COMPLETE:   refs - 1            (→ destroy if 0 and no pin)
//!   outside drop, refs = 2, !COMPLETE:    refs - 1, pins + 1  (→ RunRight::orphaned)
//!   unpin:                                pins - 1            (→ destroy if nothing left)
//!   unpin, the job ended in `orphaned`:   pins - 1, refs - 1, COMPLETE
//!   run right given up at the end:        refs - 1, COMPLETE  (→ destroy if nothing left)
//! ```
//!
//! The pin is what makes the orphan notice safe: the dropper has given up its reference
//! (so the job's holder of the run right can see a count of 1, and end the job) but
//! still touches the job to notify it, and nothing may free it meanwhile.
//!
//! Transitions (each one CAS loop, [`State::update`], or one `fetch_add`/`fetch_sub` for
//! the count alone):
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
//! The count shares the word with the bits so that the two transitions of the hot path
//! that also move a reference do it in the same CAS: queueing a job through a borrowed
//! reference ([`State::transition_to_queued_with_ref`]: `QUEUED` and one more reference,
//! the queue's) and a run that ends with the job idle or complete
//! ([`State::transition_from_running_releasing`]: `RUNNING` cleared and the queue's
//! reference given up). A message's trip through a scheduler then costs three atomic
//! read-modify-writes on the job (queue, run, finish) instead of five.
//!
//! Orderings: `schedule` is AcqRel: Release so that what the scheduling thread did
//! before (pushing a message) happens before the resume that the queue hands the job
//! to (the queue's own Release/Acquire carries it), Acquire so that a scheduler that
//! sets `NOTIFIED` on a running job is ordered after the runner's earlier writes it may
//! depend on. The runner's transitions are AcqRel for the same two directions with the
//! previous and the next runner. The count follows `Arc`: increments Relaxed (a new
//! reference is made from an existing one), decrements Release, and the thread that
//! takes the count to zero acquires before destroying the job, so every other owner's
//! use happens before the destruction. `Arc` acquires with a fence; [`State::ref_dec`]
//! loads the word with Acquire instead (the same guarantee here, see there, and one
//! that ThreadSanitizer can see). A releasing run-end is an AcqRel CAS, which includes
//! both halves.
use core::fmt;

use crate::sync::{AtomicUsize, Ordering};

pub(crate) const QUEUED: usize = 1 << 0;
pub(crate) const RUNNING: usize = 1 << 1;
pub(crate) const NOTIFIED: usize = 1 << 2;
pub(crate) const COMPLETE: usize = 1 << 3;
/// How many bits the pin count takes (self-arbitrated jobs only): 16 where the word
/// has room, 8 on 32-bit targets.
const PIN_BITS: u32 = if usize::BITS >= 64 { 16 } else { 8 };
/// One pin (self-arbitrated jobs): an orphaning drop in progress keeps the memory.
pub(crate) const PIN_ONE: usize = 1 << 4;
/// The pin field.
const PIN_MASK: usize = ((1 << PIN_BITS) - 1) * PIN_ONE;
/// One reference, in the count that fills the word above the state bits and the pins.
pub(crate) const REF_ONE: usize = 1 << (4 + PIN_BITS);

/// A decoded copy of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) usize);

impl Snapshot {
    pub(crate) fn has(self, bits: usize) -> bool {
        self.0 & bits == bits
    }

    /// The number of references.
    pub(crate) fn refs(self) -> usize {
        self.0 / REF_ONE
    }

    /// The number of pins (orphaning drops in progress; self-arbitrated jobs only).
    pub(crate) fn pins(self) -> usize {
        (self.0 & PIN_MASK) / PIN_ONE
    }

    /// Neither a reference nor a pin is left: the job must be destroyed.
    fn is_unowned(self) -> bool {
        self.0 & !(COMPLETE | QUEUED | RUNNING | NOTIFIED) == 0
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_set();
        list.entry(&format_args!("refs: {}", self.refs()));
        if self.pins() != 0 {
            list.entry(&format_args!("pins: {}", self.pins()));
        }
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

/// What the runner must do after [`State::transition_from_running_releasing`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunEnd {
    /// The job is queued again: push it back (the queue's reference is kept).
    Requeue,
    /// The job is idle or complete and the queue's reference is given up; others remain.
    Released,
    /// The job is idle or complete and the queue's reference was the last: destroy it.
    Last,
}

/// What dropping an outside reference to a self-arbitrated job must lead to
/// ([`State::release_outside`]).
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutsideDrop {
    /// Other references (or pins) remain: nothing else to do.
    Released,
    /// Only the run right's reference remains, and the job is not complete: the
    /// reference became a pin; tell the job (`RunRight::orphaned`), then unpin.
    Orphaned,
    /// Nothing remains: destroy the job (acquired).
    Last,
}

/// The atomic state word of a job.
pub(crate) struct State(AtomicUsize);

impl State {
    /// Idle: neither queued nor running; one reference (the creator's).
    pub(crate) fn new() -> Self {
        Self(AtomicUsize::new(REF_ONE))
    }

    /// A self-arbitrated job: two references, the creator's and the run right's.
    pub(crate) fn with_run_right() -> Self {
        Self(AtomicUsize::new(2 * REF_ONE))
    }

    /// Drops an outside reference to a self-arbitrated job (module doc, "Self-arbitrated
    /// jobs"): one CAS. If it leaves the run right's reference alone on a job that has
    /// not completed, the dropped reference becomes a pin in the same CAS.
    ///
    /// AcqRel: Release so that this owner's uses happen before a destruction or the
    /// orphan notice; Acquire for `Last`, which destroys.
    #[inline]
    pub(crate) fn release_outside(&self) -> OutsideDrop {
        let (prev, next) = self.transition(|s| {
            debug_assert!(s.refs() >= 1, "reference count underflow");
            if !s.has(COMPLETE) && s.refs() == 2 {
                if s.pins() == PIN_MASK / PIN_ONE {
                    // As for references: a count that would wrap aborts.
                    std::process::abort();
                }
                s.0 - REF_ONE + PIN_ONE
            } else {
                s.0 - REF_ONE
            }
        });
        if next.pins() > prev.pins() {
            OutsideDrop::Orphaned
        } else if next.is_unowned() {
            OutsideDrop::Last
        } else {
            OutsideDrop::Released
        }
    }

    /// Gives up a pin from [`release_outside`](State::release_outside); with
    /// `and_run_right`, also the run right's reference, completing the job (the orphan
    /// notice ended it). Returns whether the caller must destroy the job (AcqRel, as
    /// `release_outside`).
    #[inline]
    pub(crate) fn unpin(&self, and_run_right: bool) -> bool {
        let (_, next) = self.transition(|s| {
            debug_assert!(s.pins() >= 1, "unpinned a job in state {s:?}");
            if and_run_right {
                (s.0 | COMPLETE) - PIN_ONE - REF_ONE
            } else {
                s.0 - PIN_ONE
            }
        });
        next.is_unowned()
    }

    /// The holder of a self-arbitrated job's run right ends it: `COMPLETE`, and the run
    /// right's reference given up. Returns whether the caller must destroy the job
    /// (AcqRel, as `release_outside`).
    #[inline]
    pub(crate) fn complete_run_right(&self) -> bool {
        let (_, next) = self.transition(|s| {
            debug_assert!(!s.has(COMPLETE), "completed twice: {s:?}");
            (s.0 | COMPLETE) - REF_ONE
        });
        next.is_unowned()
    }

    /// [`update`](State::update) for a transition that always applies: returns the
    /// previous word and the one `step` made of it.
    #[inline]
    fn transition(&self, step: impl Fn(Snapshot) -> usize) -> (Snapshot, Snapshot) {
        let prev = self.update(|s| Some(step(s)));
        (prev, Snapshot(step(prev)))
    }

    /// One more reference, made from an existing one.
    #[inline]
    pub(crate) fn ref_inc(&self) {
        // Relaxed: the caller already holds a reference (see the module doc).
        let prev = self.0.fetch_add(REF_ONE, Ordering::Relaxed);
        if prev > isize::MAX as usize {
            // More references than fit: the count would wrap. Like `Arc`, abort.
            std::process::abort();
        }
    }

    /// One reference fewer. Returns whether it was the last one: the caller must then
    /// destroy the job (this call has already acquired every other owner's uses).
    #[inline]
    pub(crate) fn ref_dec(&self) -> bool {
        // Release: this owner's uses happen before the destroyer's Acquire load below
        // (or the destroyer's AcqRel run-end CAS).
        let prev = self.0.fetch_sub(REF_ONE, Ordering::Release);
        debug_assert!(Snapshot(prev).refs() >= 1, "reference count underflow");
        if Snapshot(prev).refs() != 1 {
            return false;
        }
        // Acquire load, where `Arc` has an Acquire fence: pairs with the Release
        // decrements and AcqRel CASes of every other owner. Every write to this word after
        // `new` is a read-modify-write, so each of those heads a release sequence that
        // our `fetch_sub` continues, and the load reads our `fetch_sub`'s value: it
        // synchronizes with all of them, as the fence would. Unlike a standalone fence,
        // ThreadSanitizer sees it (std's `Arc` does the same under the sanitizer); it is
        // one load of a line this thread has just written, on the last drop only.
        let _ = self.0.load(Ordering::Acquire);
        true
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

    /// `schedule` through a borrowed reference: as
    /// [`transition_to_queued`](State::transition_to_queued), and on `Push` one more
    /// reference (the queue's) in the same CAS.
    #[inline]
    pub(crate) fn transition_to_queued_with_ref(&self) -> ToQueued {
        let prev = self.update(|s| {
            if s.has(COMPLETE) || s.has(QUEUED) || s.has(RUNNING | NOTIFIED) {
                None
            } else if s.has(RUNNING) {
                Some(s.0 | NOTIFIED)
            } else {
                if s.0 > isize::MAX as usize {
                    // As in `ref_inc`.
                    std::process::abort();
                }
                Some((s.0 | QUEUED) + REF_ONE)
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

    /// As [`transition_from_running`](State::transition_from_running), and when the job
    /// is not requeued, the queue's reference is given up in the same CAS. After
    /// `Released` the caller must not touch the job (its reference is gone); after `Last`
    /// it must destroy it (the CAS is AcqRel: it has acquired every other owner's uses).
    #[inline]
    pub(crate) fn transition_from_running_releasing(&self, again: bool, complete: bool) -> RunEnd {
        let prev = self.update(|s| {
            let base = s.0 & !(RUNNING | NOTIFIED);
            Some(if complete {
                (base | COMPLETE) - REF_ONE
            } else if again || s.has(NOTIFIED) {
                base | QUEUED
            } else {
                base - REF_ONE
            })
        });
        debug_assert!(prev.has(RUNNING), "finished a job in state {prev:?}");
        debug_assert!(
            prev.refs() >= 1,
            "a running job without the queue's reference"
        );
        if !complete && (again || prev.has(NOTIFIED)) {
            RunEnd::Requeue
        } else if prev.refs() == 1 {
            RunEnd::Last
        } else {
            RunEnd::Released
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
