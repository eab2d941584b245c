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
//! `pool/thread_key.rs`. Under loom it is bypassed: [`fixed_thread_key`] gives each
//! model thread its key.

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

/// Declares a thread-local of a type without drop glue: with a `const` initialiser in a
/// normal build, so an access is one thread-pointer-relative load with no lazy-init
/// check (and it stays usable while the thread's other thread-locals are destroyed);
/// loom's `thread_local!` in models, which has no `const` form.
macro_rules! const_thread_local {
    ($(#[$attr:meta])* $vis:vis static $name:ident: $ty:ty = $init:expr;) => {
        #[cfg(not(zeta_loom))]
        std::thread_local! { $(#[$attr])* $vis static $name: $ty = const { $init }; }
        #[cfg(zeta_loom)]
        loom::thread_local! { $(#[$attr])* $vis static $name: $ty = $init; }
    };
}
pub(crate) use const_thread_local;

/// The current thread's pool key when the build fixes it, else `None` (the normal
/// build: keys come from the counter and free list in `pool/thread_key.rs`).
///
/// Under loom it is the model thread's index plus one (0 means "unclaimed"). The
/// counter and free list are `std` statics that outlive a loom iteration and are shared
/// by the models running in parallel, so the key a model thread got depended on earlier
/// iterations (the order their threads exited in) and on other tests. The shard probe
/// starts at `key % shards`, so the same schedule then performed different atomic
/// operations, and loom, which replays a schedule's recorded choices by position, fed
/// them to the wrong ones: an owner CAS read a stale 0 and claimed a shard its owner
/// still held, and the model failed on a race that cannot happen. A model thread's index
/// is fixed by the schedule, unique in the execution and never reused, so these keys
/// need no recycling; every iteration builds its pools afresh.
#[cfg(zeta_loom)]
pub(crate) fn fixed_thread_key() -> Option<u64> {
    // loom's `ThreadId` shows its index only through `Debug`, as "ThreadId(3)".
    let id = format!("{:?}", loom::thread::current().id());
    let index = id
        .strip_prefix("ThreadId(")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|index| index.parse::<u64>().ok());
    match index {
        Some(index) => Some(index + 1),
        None => panic!("unexpected loom ThreadId format: {id}"),
    }
}

/// See the loom version: in a normal build no key is fixed.
#[cfg(not(zeta_loom))]
#[inline(always)]
pub(crate) fn fixed_thread_key() -> Option<u64> {
    None
}

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
