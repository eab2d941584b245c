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

/// The per-thread slot: the thread's key, held from the thread's first pool operation
/// until the slot is destroyed at the thread's exit.
pub(crate) struct ThreadSlot {
    pub(crate) key: u64,
    /// Whether `key` came from the free list or counter and goes back on exit (always,
    /// except under loom).
    recycled: bool,
}

crate::sync::const_thread_local! {
    /// A one-entry cache of this thread's shard in the pool it used last: the pool's id
    /// (0 when empty; pool ids are never reused, so a stale entry is never mistaken for a
    /// live pool's) and the shard. Apart from the slot because the slot has a destructor,
    /// so every access to it checks its lazy state; this one has none and is read with
    /// one load on every allocation and free. Set only while the slot is alive (under
    /// [`with_slot`]), and emptied by the slot's destructor before the key is handed
    /// on, so an entry always names a shard this thread owns.
    pub(crate) static SHARD_CACHE: Cell<(u64, *const Shard)> = Cell::new((0, core::ptr::null()));
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
        Self { key, recycled }
    }
}

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        if !self.recycled {
            return;
        }
        // The shards go with the key: forget them first. A pool operation later in this
        // thread's exit (another thread-local's destructor) then misses the cache, finds
        // no slot, and frees remotely or allocates from the overflow shard.
        SHARD_CACHE.with(|cache| cache.set((0, core::ptr::null())));
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

/// Checks that `shard`, found in [`SHARD_CACHE`], belongs to this thread's live key: an
/// entry left behind by a slot already destroyed (the thread exiting, its key perhaps
/// another thread's by now) fails here.
#[cfg(debug_assertions)]
pub(crate) fn debug_assert_owned(shard: *const Shard) {
    // SAFETY: `shard` is a cached entry's: it points into a live pool's shard table
    // (the caller's pool, by the entry's id), and `owner` is an atomic.
    let owner = unsafe { &(*shard).owner };
    let key = with_slot(|slot| slot.key);
    // Relaxed: this thread's own claim, or the hand-over ordered by `FREE_KEYS`.
    let ok = key.is_some_and(|key| owner.load(crate::sync::Ordering::Relaxed) == key);
    assert!(
        ok,
        "pool shard cache used without the key that owns the shard ({key:?})"
    );
}
