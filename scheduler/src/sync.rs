//! The one place where zeta-scheduler switches between `std` and `loom`.
//!
//! The job state word, the injector, the idle registry and the parkers take their
//! atomics, locks and threads from here. Under `--cfg zeta_loom` they are loom's, and the
//! run queue is a loom-visible stand-in (see `queue.rs`), because loom cannot see inside
//! crossbeam-deque.

#[cfg(not(zeta_loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

#[cfg(zeta_loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

#[cfg(not(zeta_loom))]
pub(crate) use std::sync::Arc;

#[cfg(zeta_loom)]
pub(crate) use loom::sync::Arc;

#[cfg(zeta_loom)]
pub(crate) use loom::cell::UnsafeCell;

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

/// Threads: `std` normally, loom's in models.
pub(crate) mod thread {
    #[cfg(not(zeta_loom))]
    pub(crate) use std::thread::{yield_now, Builder, JoinHandle};

    #[cfg(zeta_loom)]
    pub(crate) use loom::thread::{yield_now, JoinHandle};

    /// Spawns a named worker thread, with a stack of `stack_size` bytes (`None`: std's
    /// default). The name must hold no NUL byte (std panics on one; the builder checks).
    #[cfg(not(zeta_loom))]
    pub(crate) fn spawn_named<F>(
        name: String,
        stack_size: Option<usize>,
        f: F,
    ) -> std::io::Result<JoinHandle<()>>
    where
        F: FnOnce() + Send + 'static,
    {
        let builder = Builder::new().name(name);
        match stack_size {
            Some(bytes) => builder.stack_size(bytes),
            None => builder,
        }
        .spawn(f)
    }

    /// Spawns a worker thread in the model (loom threads have no names, and loom sets
    /// their stacks).
    #[cfg(zeta_loom)]
    pub(crate) fn spawn_named<F>(
        _name: String,
        _stack_size: Option<usize>,
        f: F,
    ) -> std::io::Result<JoinHandle<()>>
    where
        F: FnOnce() + Send + 'static,
    {
        Ok(loom::thread::spawn(f))
    }
}

/// A mutex and condition variable with one API in both builds (parking_lot normally).
pub(crate) mod lock {
    #[cfg(not(zeta_loom))]
    pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};

    /// Waits on `cond`, releasing and re-taking `guard`.
    #[cfg(not(zeta_loom))]
    #[inline]
    pub(crate) fn wait<T>(cond: &Condvar, guard: &mut MutexGuard<'_, T>) {
        cond.wait(guard);
    }

    /// Waits on `cond` for at most `timeout`, releasing and re-taking `guard`.
    #[cfg(not(zeta_loom))]
    #[inline]
    pub(crate) fn wait_for<T>(
        cond: &Condvar,
        guard: &mut MutexGuard<'_, T>,
        timeout: std::time::Duration,
    ) {
        let _ = cond.wait_for(guard, timeout);
    }

    #[cfg(not(zeta_loom))]
    #[inline]
    pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex.lock()
    }

    #[cfg(zeta_loom)]
    pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

    /// Waits on `cond`, releasing and re-taking `guard`.
    #[cfg(zeta_loom)]
    pub(crate) fn wait<'a, T>(cond: &Condvar, guard: &mut MutexGuard<'a, T>) {
        // loom's `wait` takes the guard by value and hands it back: move it out of the
        // slot and put the returned one back.
        take_mut(guard, |g| cond.wait(g).unwrap_or_else(|e| e.into_inner()));
    }

    /// Loom has no time: a timed wait is a plain wait (the models arm no timers, so
    /// every timed park there is woken by an unpark).
    #[cfg(zeta_loom)]
    pub(crate) fn wait_for<'a, T>(
        cond: &Condvar,
        guard: &mut MutexGuard<'a, T>,
        _timeout: std::time::Duration,
    ) {
        wait(cond, guard);
    }

    #[cfg(zeta_loom)]
    pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces `*slot` with `f(old)`, aborting if `f` unwinds (nothing valid to leave).
    #[cfg(zeta_loom)]
    fn take_mut<T>(slot: &mut T, f: impl FnOnce(T) -> T) {
        struct AbortOnUnwind;
        impl Drop for AbortOnUnwind {
            fn drop(&mut self) {
                std::process::abort();
            }
        }
        let bomb = AbortOnUnwind;
        // SAFETY: `old` is read out of `slot` and `slot` is written back before anyone
        // can observe it; if `f` unwinds, the process aborts instead of leaving `slot`
        // moved-from.
        unsafe {
            let old = core::ptr::read(slot);
            core::ptr::write(slot, f(old));
        }
        core::mem::forget(bomb);
    }
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
