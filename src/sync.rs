//! The one place where the `zeta` crate switches between `std` and `loom`.
//!
//! The actor cell's own atomics (`killed`, `handled`, the weak count, the watch list)
//! and the routers' counters come from here: under `--cfg zeta_loom` they are loom's
//! instrumented types, so the models in `loom-tests/` see every access (the lower
//! crates' atomics, in the job header, the inbox and the request slot, are switched by
//! their own `sync` modules); otherwise the standard ones.
//!
//! The bounded mailboxes' waiter list is behind [`Mutex`] (parking_lot's, or loom's), and
//! their blocking senders park with [`park`]/[`unpark_all`]: `parking_lot_core` keyed by
//! an address in normal builds; under loom, where a thread parked in `parking_lot_core`
//! would wait on something loom cannot see, `park` yields to loom's scheduler once and
//! the caller re-checks its (loom-visible) condition, and `unpark_all` does nothing, as
//! in zeta-mailbox's `sync` module.
//!
//! The `IN_ACTOR` flags are a thread-local, and so is declared here, once per build: loom 0.7 runs every
//! model thread as a coroutine on the one OS thread that calls `loom::model`, so a
//! `std::thread_local!` would be one flag shared by all of them (a thread preempted
//! inside a handler would make another look "inside an actor", and guards restored out
//! of order would leave it set for the next iteration). `loom::thread_local!` gives
//! each model thread its own.

#[cfg(not(zeta_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

#[cfg(zeta_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

#[cfg(zeta_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `std::cell::UnsafeCell` with loom's closure-based access API, so that both builds
/// read the same (the watch list's stop reason is the one user).
#[cfg(not(zeta_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(zeta_loom))]
impl<T> UnsafeCell<T> {
    #[inline(always)]
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
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

#[cfg(not(zeta_loom))]
std::thread_local! {
    /// Whether this thread is inside an actor's `resume` (a handler or a hook:
    /// [`INSIDE`]), and whether the running actor must yield after its current message
    /// ([`YIELD`]). A `const` initialiser: no lazy-init check on the resume path.
    pub(crate) static IN_ACTOR: core::cell::Cell<u8> = const { core::cell::Cell::new(0) };
}

#[cfg(zeta_loom)]
loom::thread_local! {
    /// As above; loom's `thread_local!` has no `const` form.
    pub(crate) static IN_ACTOR: core::cell::Cell<u8> = core::cell::Cell::new(0);
}

/// `IN_ACTOR`: the thread is inside an actor's `resume`.
pub(crate) const INSIDE: u8 = 1;
/// `IN_ACTOR`: a send from the running handler was admitted over a bounded mailbox's
/// capacity; the actor yields after the current message (`bounded` module doc).
pub(crate) const YIELD: u8 = 2;

/// A mutex for the few places that need one off the hot path (a bounded mailbox's
/// waiter list): parking_lot's in normal builds, loom's under loom. Never poisoned.
pub(crate) struct Mutex<T>(
    #[cfg(not(zeta_loom))] parking_lot::Mutex<T>,
    #[cfg(zeta_loom)] loom::sync::Mutex<T>,
);

#[cfg(not(zeta_loom))]
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
#[cfg(zeta_loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(not(zeta_loom))]
        return Self(parking_lot::Mutex::new(value));
        #[cfg(zeta_loom)]
        return Self(loom::sync::Mutex::new(value));
    }

    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(zeta_loom))]
        return self.0.lock();
        // A loom mutex is poisoned only by a panic inside it, which fails the model.
        #[cfg(zeta_loom)]
        return self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
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

    /// Spins briefly (parking_lot's spin-before-park policy) until `ready` returns true
    /// or the budget is spent.
    #[inline]
    pub(crate) fn spin_until(mut ready: impl FnMut() -> bool) {
        let mut spin = SpinWait::new();
        while !ready() && spin.spin() {}
    }

    /// Parks the current thread on `key` if `validate` returns true, until an
    /// [`unpark_all`] on `key` or until `deadline`. `validate` runs under the lock of
    /// `key`'s bucket, the lock `unpark_all` takes.
    ///
    /// # Safety
    ///
    /// 1. `key` is the address of an object the caller holds a share of for the whole
    ///    call, and which no other synchronisation primitive parks on.
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

/// Thread "parking" that loom can see (see the module doc).
#[cfg(zeta_loom)]
mod parking {
    use std::time::Instant;

    use super::Parked;

    /// Nothing: every interleaving is explored anyway.
    #[inline]
    pub(crate) fn spin_until(_ready: impl FnMut() -> bool) {}

    /// Yields once if `validate` holds.
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

/// The thread handle a local system's bridge unparks (`local::bridge`): std's, or
/// loom's, so that the models in `local/loom.rs` see the park and the unpark.
#[cfg(not(zeta_loom))]
pub(crate) mod thread {
    pub(crate) use std::thread::{current, park, park_timeout, Thread};
}

/// The thread handle a local system's bridge unparks: loom's.
#[cfg(zeta_loom)]
pub(crate) mod thread {
    pub(crate) use loom::thread::{current, park, Thread};

    /// loom has no timed park: a timed wait is a wait (the models only wait for what
    /// is sure to come).
    pub(crate) fn park_timeout(_timeout: std::time::Duration) {
        park()
    }
}

/// The next id block's first id: ids are not part of any protocol a model checks, so
/// the counter is a plain `std` atomic in every build (loom's cannot be a `static`).
/// Relaxed: only uniqueness matters, which the read-modify-write gives.
pub(crate) fn next_id_block(size: u64) -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(size, std::sync::atomic::Ordering::Relaxed)
}

#[cfg(not(zeta_loom))]
std::thread_local! {
    /// This thread's block of actor ids: the next one and the block's end.
    pub(crate) static ID_BLOCK: core::cell::Cell<(u64, u64)> = const { core::cell::Cell::new((0, 0)) };
}

#[cfg(zeta_loom)]
loom::thread_local! {
    /// As above.
    pub(crate) static ID_BLOCK: core::cell::Cell<(u64, u64)> = core::cell::Cell::new((0, 0));
}
