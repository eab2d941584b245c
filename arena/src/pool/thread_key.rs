//! Thread keys: a small non-zero number per live thread, handed back when it exits.
//!
//! A pool shard is owned by the thread whose key is in its `owner` word. Keys are
//! recycled: when a thread exits, its thread-local slot's destructor returns the key to
//! a free list, and the next new thread takes it, inheriting every shard the old thread
//! owned in every pool (its free lists included). So the number of keys, and of shards
//! claimed in any pool, is bounded by the number of threads alive at once, not by the
//! number of threads ever started.
//!
//! Hand-over is ordered by the `FREE_KEYS` mutex: everything the exiting thread did to
//! its shards happens before its destructor pushes the key (under the lock), which
//! happens before the new thread pops it (under the lock), which happens before the new
//! thread touches the shards.
//!
//! The counter and the free list are process-wide `std` state, never loom's: they are
//! not part of a modelled protocol. Under loom they are not used at all: a model
//! thread's key is fixed by its index in the model ([`crate::sync::fixed_thread_key`]
//! explains why), and is never recycled.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use super::shard::Shard;

/// The next never-used key. Starts at 1: 0 means "unclaimed" in a shard's owner word.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);
/// Keys of threads that have exited, ready for reuse.
static FREE_KEYS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// The per-thread slot: the thread's key, and a one-entry cache of its shard in the pool
/// it used last.
pub(crate) struct ThreadSlot {
    pub(crate) key: u64,
    /// Whether `key` came from the free list or counter and goes back on exit (always,
    /// except under loom).
    recycled: bool,
    /// Id of the pool `cached_shard` belongs to; 0 when empty. Pool ids are never reused,
    /// so a stale entry is never mistaken for a live pool's.
    pub(crate) cached_pool: Cell<u64>,
    pub(crate) cached_shard: Cell<*const Shard>,
}

impl ThreadSlot {
    fn new() -> Self {
        if let Some(key) = crate::sync::fixed_thread_key() {
            return Self::with_key(key, false);
        }
        let reused = FREE_KEYS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        // Relaxed: the counter only has to hand out distinct values.
        let key = reused.unwrap_or_else(|| NEXT_KEY.fetch_add(1, Relaxed));
        Self::with_key(key, true)
    }

    fn with_key(key: u64, recycled: bool) -> Self {
        Self {
            key,
            recycled,
            cached_pool: Cell::new(0),
            cached_shard: Cell::new(core::ptr::null()),
        }
    }
}

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        if !self.recycled {
            return;
        }
        // Cold: once per thread exit. The lock orders this thread's last shard accesses
        // before the next owner's first (see the module doc).
        FREE_KEYS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(self.key);
    }
}

crate::sync::thread_local! {
    pub(crate) static SLOT: ThreadSlot = ThreadSlot::new();
}

/// Runs `f` with this thread's slot, or returns `None` while the thread is being torn
/// down and its slot is already gone.
#[inline]
pub(crate) fn with_slot<R>(f: impl FnOnce(&ThreadSlot) -> R) -> Option<R> {
    SLOT.try_with(f).ok()
}
