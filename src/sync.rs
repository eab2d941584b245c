//! The one place where the `zeta` crate switches between `std` and `loom`.
//!
//! The actor cell's own atomics (`killed`, `handled`, the weak count, the watch list)
//! and the routers' counters come from here: under `--cfg zeta_loom` they are loom's
//! instrumented types, so the models in `loom-tests/` see every access (the lower
//! crates' atomics, in the job header, the inbox and the request slot, are switched by
//! their own `sync` modules); otherwise the standard ones.
//!
//! The `IN_ACTOR` flag is a thread-local, and so is declared here, once per build: loom 0.7 runs every
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
    /// Whether this thread is inside an actor's `resume` (a handler or a hook). A
    /// `const` initialiser: no lazy-init check on the resume path.
    pub(crate) static IN_ACTOR: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

#[cfg(zeta_loom)]
loom::thread_local! {
    /// As above; loom's `thread_local!` has no `const` form.
    pub(crate) static IN_ACTOR: core::cell::Cell<bool> = core::cell::Cell::new(false);
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
