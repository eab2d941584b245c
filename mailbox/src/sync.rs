//! The one place where zeta-mailbox switches between `std` and `loom`.
//!
//! The inbox's state word and the nodes' intrusive links come from here: under
//! `--cfg zeta_loom` they are loom's instrumented types, so the models see every access;
//! otherwise the standard ones, with [`UnsafeCell`] a zero-cost wrapper exposing loom's
//! closure-based API so that both builds read the same.
//!
//! Thread parking too: [`park`] and [`unpark_all`] are `parking_lot_core`'s, keyed by an
//! address, in normal builds; under loom, where a thread parked in `parking_lot_core`
//! would wait on something loom cannot see, `park` yields to loom's scheduler once and
//! the caller re-checks its (loom-visible) condition, and `unpark_all` does nothing.

#[cfg(not(zeta_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicPtr, AtomicUsize, Ordering};

#[cfg(zeta_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicPtr, AtomicUsize, Ordering};

#[cfg(zeta_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `std::cell::UnsafeCell` with loom's closure-based access API.
#[cfg(not(zeta_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(zeta_loom))]
impl<T> UnsafeCell<T> {
    #[inline(always)]
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a shared raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with an exclusive raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// How a [`park`] call returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parked {
    /// Woken by an [`unpark_all`] on the key (under loom: after one yield). The
    /// condition the caller waits for may still be false: check it again.
    Unparked,
    /// `validate` returned false: the thread did not sleep.
    Invalid,
    /// The deadline passed first.
    TimedOut,
}

/// Thread parking keyed by an address: `parking_lot_core` in normal builds.
#[cfg(not(zeta_loom))]
mod parking {
    use std::time::Instant;

    use parking_lot_core::{ParkResult, SpinWait, DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};

    use super::Parked;

    /// Spins briefly (exponential back-off, then a few `yield`s: parking_lot's own
    /// spin-before-park policy) until `ready` returns true or the budget is spent.
    #[inline]
    pub(crate) fn spin_until(mut ready: impl FnMut() -> bool) {
        let mut spin = SpinWait::new();
        while !ready() && spin.spin() {}
    }

    /// Parks the current thread on `key` if `validate` returns true, until an
    /// [`unpark_all`] on `key` or until `deadline`.
    ///
    /// `validate` runs under the lock of `key`'s bucket, the lock `unpark_all` takes:
    /// a condition made true before an `unpark_all` is seen either by `validate` (the
    /// thread does not sleep) or by the `unpark_all` finding the thread queued.
    ///
    /// # Safety
    ///
    /// 1. `key` is the address of an object the caller owns (or holds a share of) for
    ///    the whole call, and which no other synchronisation primitive parks on.
    /// 2. `validate` neither panics nor calls into `parking_lot`.
    #[inline]
    pub(crate) unsafe fn park(
        key: usize,
        validate: impl FnOnce() -> bool,
        deadline: Option<Instant>,
    ) -> Parked {
        // SAFETY: the caller's duties 1 and 2 are `parking_lot_core::park`'s; the
        // `before_sleep` and `timed_out` callbacks do nothing, so cannot panic.
        let result = unsafe {
            parking_lot_core::park(
                key,
                validate,
                || {},
                |_, _| {},
                DEFAULT_PARK_TOKEN,
                deadline,
            )
        };
        match result {
            ParkResult::Unparked(_) => Parked::Unparked,
            ParkResult::Invalid => Parked::Invalid,
            ParkResult::TimedOut => Parked::TimedOut,
        }
    }

    /// Wakes every thread parked on `key`.
    ///
    /// # Safety
    ///
    /// As for [`park`], duty 1.
    #[inline]
    pub(crate) unsafe fn unpark_all(key: usize) {
        // SAFETY: the caller controls `key` (duty 1); we are not in a signal handler.
        unsafe { parking_lot_core::unpark_all(key, DEFAULT_UNPARK_TOKEN) };
    }
}

/// Thread "parking" that loom can see: `parking_lot_core` is invisible to loom, so a
/// parked thread would be a wait on something loom cannot see (and a deadlock to it).
/// Here `park` yields once to loom's scheduler and returns; the caller re-checks its
/// condition (a loom atomic, written by another modelled thread) and parks again.
#[cfg(zeta_loom)]
mod parking {
    use std::time::Instant;

    use super::Parked;

    /// Nothing: every interleaving is explored anyway, and a spin only adds states.
    #[inline]
    pub(crate) fn spin_until(_ready: impl FnMut() -> bool) {}

    /// Yields once if `validate` holds. A `deadline` is checked against the real
    /// clock, so a model that wants to stay deterministic passes `None`.
    ///
    /// # Safety
    ///
    /// None needed here; `unsafe` to keep the signature of the normal build.
    #[inline]
    pub(crate) unsafe fn park(
        _key: usize,
        validate: impl FnOnce() -> bool,
        deadline: Option<Instant>,
    ) -> Parked {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            Parked::TimedOut
        } else if validate() {
            loom::thread::yield_now();
            Parked::Unparked
        } else {
            Parked::Invalid
        }
    }

    /// Nothing to wake: a waiter only yields, and sees the state word change itself.
    ///
    /// # Safety
    ///
    /// None needed here; `unsafe` to keep the signature of the normal build.
    #[inline]
    pub(crate) unsafe fn unpark_all(_key: usize) {}
}

pub(crate) use parking::{park, spin_until, unpark_all};
