//! Helpers shared by this crate's loom models (`inbox::loom`, `request::loom`).

use ::loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use ::loom::sync::Arc;
use core::task::{RawWaker, RawWakerVTable, Waker};

/// Explicit scheduling points, so that loom permutes whole operations.
///
/// loom 0.7's DPOR remembers only the *last* access to each atomic. When a thread's
/// access to `head` is a plain load (every `push` starts with one, and a `take_all` that
/// finds the inbox empty does nothing else), a later load by another thread overwrites
/// that record, and the race between the first load and the other thread's CAS is never
/// reversed (tokio-rs/loom#166, #392). Without these points, a model of one push racing
/// one `take_all` ran a single interleaving, the push after the take, and a Relaxed
/// publishing CAS in `push` went unnoticed by the `take_all` models.
///
/// A Relaxed `fetch_add` on this counter before each operation is an RMW, which loom
/// treats as dependent on every other access to the counter, so each pair of operations
/// from different threads is explored in both orders. Being Relaxed (and no thread here
/// issuing a Release fence), it creates no happens-before edge: it cannot hide a missing
/// ordering in the protocol under test.
#[derive(Clone)]
pub(crate) struct Interleave(Arc<AtomicUsize>);

impl Interleave {
    pub(crate) fn new() -> Self {
        Self(Arc::new(AtomicUsize::new(0)))
    }

    /// A point where loom may switch to any other thread.
    pub(crate) fn point(&self) {
        // Relaxed: only the scheduling point matters, never the value (see above).
        self.0.fetch_add(1, Relaxed);
    }
}

/// Wake-ups counted where loom sees them, for the waker models.
///
/// [`Wakes::waker`] makes a [`Waker`] over a loom `Arc<Wakes>` (a hand-made
/// `RawWaker`): its wake-ups are a loom atomic, and its clones are counts of that `Arc`,
/// so a stored waker that is never dropped is a leak loom reports at the end of the
/// iteration, and one dropped twice trips loom's reference count.
pub(crate) struct Wakes(AtomicUsize);

static WAKES_VTABLE: RawWakerVTable =
    RawWakerVTable::new(wakes_clone, wakes_wake, wakes_wake_by_ref, wakes_drop);

impl Wakes {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self(AtomicUsize::new(0)))
    }

    /// A waker that counts into `this`.
    pub(crate) fn waker(this: &Arc<Self>) -> Waker {
        let data = Arc::into_raw(Arc::clone(this)).cast::<()>();
        // SAFETY: the vtable's functions uphold `RawWaker`'s contract for a pointer
        // from `Arc::<Wakes>::into_raw`: clone adds a count, drop and wake give one back.
        unsafe { Waker::from_raw(RawWaker::new(data, &WAKES_VTABLE)) }
    }

    /// The wake-ups so far.
    pub(crate) fn count(&self) -> usize {
        // Relaxed: read after joining the threads that wake.
        self.0.load(Relaxed)
    }
}

/// # Safety
///
/// `data` is from [`Wakes::waker`] (an `Arc<Wakes>`), and the waker holds its count.
unsafe fn wakes_clone(data: *const ()) -> RawWaker {
    // SAFETY: the caller's duty: the waker being cloned keeps the count above zero.
    unsafe { Arc::increment_strong_count(data.cast::<Wakes>()) };
    RawWaker::new(data, &WAKES_VTABLE)
}

/// # Safety
///
/// As for [`wakes_clone`]; the waker is consumed.
unsafe fn wakes_wake(data: *const ()) {
    // SAFETY: the caller's duty; the waker's count is given back once, by the drop.
    unsafe {
        wakes_wake_by_ref(data);
        wakes_drop(data);
    }
}

/// # Safety
///
/// As for [`wakes_clone`].
unsafe fn wakes_wake_by_ref(data: *const ()) {
    // SAFETY: the caller's duty: the `Arc` is alive while the waker is.
    let wakes = unsafe { &*data.cast::<Wakes>() };
    // Relaxed: only counted; read after the join.
    wakes.0.fetch_add(1, Relaxed);
}

/// # Safety
///
/// As for [`wakes_clone`]; the waker is dropped and its count given back, once.
unsafe fn wakes_drop(data: *const ()) {
    // SAFETY: the caller's duty.
    unsafe { Arc::decrement_strong_count(data.cast::<Wakes>()) };
}
