//! A timer entry's header and its state word: who may fire it, who may cancel it, and
//! how many hold it.
//!
//! | bits      | set by                               | meaning                                   |
//! |-----------|--------------------------------------|-------------------------------------------|
//! | `FIRING`  | the driver, taking the right to fire | the payload is the driver's while it fires |
//! | `FIRED`   | the driver, firing a one-shot entry  | delivered (final)                         |
//! | `CANCELLED` | a canceller, or the closing driver | will never fire again (final)             |
//! | refs (×8) |                                      | holders: the wheel side, the handle       |
//!
//! The payload (what firing delivers: a message node, a message maker) is owned by
//! whoever moves the status out of *pending* (no bit among the three):
//!
//! ```text
//!   pending ──fire (one-shot), CAS──────▶ FIRED          the driver delivers the payload
//!   pending ──fire (repeating), CAS─────▶ FIRING ──CAS──▶ pending (re-armed: the driver
//!                                            │               gave the payload back)
//!                                            └─cancel─▶ FIRING|CANCELLED ──▶ the driver
//!                                                         drops the payload when it ends
//!   pending ──cancel, CAS───────────────▶ CANCELLED      the canceller drops the payload
//!   pending ──close (scheduler stopped)─▶ CANCELLED      the driver drops it, undelivered
//! ```
//!
//! Every transition out of *pending* is one CAS on the word, so exactly one party wins a
//! one-shot entry: it is delivered, or cancelled (or dropped undelivered at close),
//! never two of these and never none. The winner's CAS is AcqRel: Acquire so that it
//! sees the payload as the arming thread wrote it (published by the Release of the
//! arming push) and as a re-arming driver left it, Release so that the next owner of a
//! re-armed payload sees what this one did to it.
//!
//! References follow `Arc`: the count starts at the holders the arming side made (the
//! wheel's, plus the handle's if there is one); each holder gives its reference up once
//! with a Release decrement, and the last one acquires (an Acquire load after the
//! decrement) before it calls the entry's `release`, which frees the memory. The
//! wheel's reference is given up by the driver when the entry leaves the wheel for good
//! (fired, found cancelled, or dropped at close); the handle's by its owner.

use core::fmt;
use core::ptr::NonNull;

use crate::sync::{AtomicUsize, Ordering, UnsafeCell};

/// The driver holds the payload: a repeating entry is being fired.
pub(crate) const FIRING: usize = 1 << 0;
/// A one-shot entry has fired.
pub(crate) const FIRED: usize = 1 << 1;
/// The entry was cancelled (or dropped at close): it never fires again.
pub(crate) const CANCELLED: usize = 1 << 2;
const STATUS: usize = FIRING | FIRED | CANCELLED;
/// One reference.
pub(crate) const REF_ONE: usize = 1 << 3;

/// What firing an entry did, as its [`TimerVTable::fire`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fire {
    /// Done: a one-shot entry delivered its payload (or found its target gone).
    Once,
    /// A repeating entry wants to fire again at this many nanoseconds after its last
    /// deadline (its period).
    Again(u64),
}

/// How a timer entry is fired, dropped and freed: a `&'static` table of `unsafe fn`s,
/// one per entry type, as a job has its [`JobVTable`](crate::JobVTable).
pub struct TimerVTable {
    /// Delivers the payload (the driver won the right to fire). `repeating` entries
    /// keep their payload and say when to fire again; one-shot entries move it out.
    ///
    /// Called on the thread driving the timers, which is running the wheel: it must not
    /// unwind (catch panics inside), and must not drive the same [`Timers`](super::Timers)
    /// (arming new timers is fine: arming never touches the wheel).
    pub fire: unsafe fn(NonNull<TimerHeader>) -> Fire,
    /// Drops the payload undelivered (the caller won the right by cancelling, or the
    /// timers closed). Must not unwind either.
    pub discard: unsafe fn(NonNull<TimerHeader>),
    /// Frees the entry: its last reference is gone. Must not unwind.
    pub release: unsafe fn(NonNull<TimerHeader>),
}

/// The header every timer entry starts with (`#[repr(C)]`, first field), so that the
/// wheel can link, order and fire entries of any type.
///
/// Made by [`TimerHeader::new`]; armed with [`Timers::arm`](super::Timers::arm).
#[repr(C)]
pub struct TimerHeader {
    state: AtomicUsize,
    /// The intrusive link: in the arming stack, then in one wheel slot's list. Written
    /// only by the arming thread before the push, then by the driver.
    pub(crate) next: UnsafeCell<*mut TimerHeader>,
    /// Nanoseconds after the timers' epoch. Written by the arming thread before the
    /// push, then only by the driver (re-arming a repeating entry).
    pub(crate) deadline: UnsafeCell<u64>,
    vtable: &'static TimerVTable,
    /// Fires again and again (keeps its payload between firings).
    repeating: bool,
}

// SAFETY: the header's plain fields are written by one party at a time, handed over by
// the arming push (Release) and the driver's take (Acquire); the state word is atomic.
unsafe impl Send for TimerHeader {}
// SAFETY: as above.
unsafe impl Sync for TimerHeader {}

/// What a status bit test found.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) usize);

impl Snapshot {
    #[inline]
    pub(crate) fn refs(self) -> usize {
        self.0 / REF_ONE
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("firing", &(self.0 & FIRING != 0))
            .field("fired", &(self.0 & FIRED != 0))
            .field("cancelled", &(self.0 & CANCELLED != 0))
            .field("refs", &self.refs())
            .finish()
    }
}

/// What a cancel found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CancelOutcome {
    /// Cancelled in time: the timer will never deliver (again); its payload was dropped.
    Cancelled,
    /// Too late: the one-shot timer has fired (its message was delivered, or handed to
    /// a target that had stopped).
    Fired,
    /// Already cancelled, or dropped undelivered because its scheduler stopped.
    Dropped,
}

impl TimerHeader {
    /// A header for an entry with `vtable`, held by `holders` references (the wheel's
    /// and, if the arming side keeps a handle, the handle's: 1 or 2). A `repeating`
    /// entry keeps its payload between firings (its `fire` returns [`Fire::Again`]
    /// to be re-armed); a one-shot entry's `fire` moves the payload out.
    ///
    /// A cancel of a one-shot entry is decided against its firing: exactly one wins. A
    /// cancel of a repeating entry while it is firing lets that firing finish, and no
    /// firing starts after it.
    pub fn new(vtable: &'static TimerVTable, holders: usize, repeating: bool) -> Self {
        debug_assert!((1..=2).contains(&holders));
        Self {
            state: AtomicUsize::new(holders * REF_ONE),
            next: UnsafeCell::new(core::ptr::null_mut()),
            deadline: UnsafeCell::new(0),
            vtable,
            repeating,
        }
    }

    /// The state now (a snapshot; Acquire, so a status seen is a status whose payload
    /// effects are visible).
    #[inline]
    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.state.load(Ordering::Acquire))
    }

    /// Whether the entry is still pending (neither fired for good nor cancelled).
    pub fn is_pending(&self) -> bool {
        self.load().0 & (FIRED | CANCELLED) == 0
    }

    /// The driver takes the right to fire: pending → FIRED (one-shot) or FIRING
    /// (repeating). `false`: it was cancelled first.
    #[inline]
    pub(crate) fn start_fire(&self, repeating: bool) -> bool {
        let to = if repeating { FIRING } else { FIRED };
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            if current & STATUS != 0 {
                return false;
            }
            // AcqRel: the module doc.
            match self.state.compare_exchange_weak(
                current,
                current | to,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    /// A repeating entry's firing is over: FIRING → pending, giving the payload back.
    /// `false`: it was cancelled meanwhile, and the payload stays the driver's to drop.
    #[inline]
    pub(crate) fn end_fire(&self) -> bool {
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            debug_assert!(current & FIRING != 0);
            if current & CANCELLED != 0 {
                return false;
            }
            // AcqRel: Release hands the payload to its next owner (the next fire, or a
            // canceller), Acquire pairs with nothing new but keeps the CAS symmetric.
            match self.state.compare_exchange_weak(
                current,
                current & !FIRING,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    /// Whether the entry repeats.
    #[inline]
    pub(crate) fn is_repeating(&self) -> bool {
        self.repeating
    }

    /// A repeating entry stops for good while the driver holds FIRING: FIRING →
    /// FIRED (CANCELLED, if a cancel came meanwhile, stays). The payload stays the
    /// driver's to drop.
    #[inline]
    pub(crate) fn stop_repeating(&self) {
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            debug_assert!(current & FIRING != 0);
            // AcqRel: as in `end_fire`.
            match self.state.compare_exchange_weak(
                current,
                (current & !FIRING) | FIRED,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => current = now,
            }
        }
    }

    /// Cancels: pending → CANCELLED (the caller then drops the payload: `true` in the
    /// second place), or FIRING → FIRING|CANCELLED (the driver drops it).
    pub(crate) fn cancel(&self) -> (CancelOutcome, bool) {
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            if current & CANCELLED != 0 {
                return (CancelOutcome::Dropped, false);
            }
            if current & FIRED != 0 {
                return (CancelOutcome::Fired, false);
            }
            // AcqRel: Acquire, to own a payload the arming thread or the last firing
            // wrote; Release for the driver that finds the bit.
            match self.state.compare_exchange_weak(
                current,
                current | CANCELLED,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return (CancelOutcome::Cancelled, current & FIRING == 0),
                Err(now) => current = now,
            }
        }
    }

    /// Fires through the vtable.
    ///
    /// # Safety
    ///
    /// The caller won [`start_fire`](Self::start_fire) and `this` is alive.
    #[inline]
    pub(crate) unsafe fn fire(this: NonNull<TimerHeader>) -> Fire {
        // SAFETY: alive (the caller's duty); the vtable's contract is the entry type's.
        unsafe { (this.as_ref().vtable.fire)(this) }
    }

    /// Drops the payload through the vtable.
    ///
    /// # Safety
    ///
    /// The caller owns the payload (won the cancel, or holds FIRING of a cancelled
    /// entry) and `this` is alive.
    #[inline]
    pub(crate) unsafe fn discard(this: NonNull<TimerHeader>) {
        // SAFETY: as above.
        unsafe { (this.as_ref().vtable.discard)(this) }
    }

    /// Gives up one reference; frees the entry if it was the last.
    ///
    /// # Safety
    ///
    /// The caller holds a reference, which it no longer uses after this call.
    #[inline]
    pub unsafe fn release(this: NonNull<TimerHeader>) {
        // SAFETY: alive while the caller's reference is held.
        let header = unsafe { this.as_ref() };
        // Release: publishes this holder's use; the last one acquires below.
        let previous = header.state.fetch_sub(REF_ONE, Ordering::Release);
        if previous / REF_ONE == 1 {
            // Acquire: every other holder's use (and its Release decrement) happens
            // before the free.
            let _ = header.state.load(Ordering::Acquire);
            // SAFETY: the last reference: nobody else can reach the entry.
            unsafe { (header.vtable.release)(this) }
        }
    }

    /// Cancels the entry for its handle: see [`TimerRef::cancel`](super::TimerRef::cancel).
    ///
    /// # Safety
    ///
    /// The caller holds a reference.
    pub(crate) unsafe fn cancel_and_discard(this: NonNull<TimerHeader>) -> CancelOutcome {
        // SAFETY: alive while the caller's reference is held.
        let (outcome, owns_payload) = unsafe { this.as_ref() }.cancel();
        if owns_payload {
            // SAFETY: the cancel won the payload.
            unsafe { Self::discard(this) };
        }
        outcome
    }

    /// The deadline (driver or arming thread only: see the field).
    #[inline]
    pub(crate) fn deadline(&self) -> u64 {
        // SAFETY: read by the party that owns the header's plain fields (see there).
        self.deadline.with(|d| unsafe { *d })
    }

    #[inline]
    pub(crate) fn set_deadline(&self, deadline: u64) {
        // SAFETY: written by the party that owns the header's plain fields.
        self.deadline.with_mut(|d| unsafe { *d = deadline })
    }

    #[inline]
    pub(crate) fn next(&self) -> *mut TimerHeader {
        // SAFETY: as for `deadline`.
        self.next.with(|n| unsafe { *n })
    }

    #[inline]
    pub(crate) fn set_next(&self, next: *mut TimerHeader) {
        // SAFETY: as for `deadline`.
        self.next.with_mut(|n| unsafe { *n = next })
    }
}

impl fmt::Debug for TimerHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHeader")
            .field("state", &self.load())
            .finish_non_exhaustive()
    }
}
