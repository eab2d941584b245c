//! The one place where zeta-arena switches between `std` and `loom`.
//!
//! Everything the loom models must see (the pool's shard words, its remote-free stacks,
//! the links written into free blocks) is imported from here. Under `--cfg zeta_loom`
//! they are loom's instrumented types; otherwise they are the standard ones, and
//! [`UnsafeCell`] is a zero-cost wrapper with loom's `with`/`with_mut` API so that the
//! code reads the same in both builds.
//!
//! Process-wide bookkeeping that is not part of any modelled protocol (the counter that
//! hands out thread keys, the list of keys to reuse) always uses `std` directly; see
//! `pool/thread_key.rs`.

#[cfg(not(zeta_loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

#[cfg(zeta_loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

#[cfg(zeta_loom)]
pub(crate) use loom::cell::UnsafeCell;

#[cfg(not(zeta_loom))]
pub(crate) use std::thread_local;

#[cfg(zeta_loom)]
pub(crate) use loom::thread_local;

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
