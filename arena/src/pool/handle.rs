//! [`PoolHandle`]: a pool's fast paths, reachable without a dynamic call.
//!
//! A resource shared as `Arc<dyn MemoryResource>` (an actor's memory) is called through
//! its vtable: every allocation and free is an indirect call into a function that cannot
//! be inlined, so the size class of a layout known at compile time is computed at run
//! time, and the call's prologue saves registers for slow paths it will not take. A
//! handle names the pool's shards directly. Its two operations are the pool's own rules
//! 3 and 4 (see the [parent module](super)) for the cases that need nothing from the
//! upstream resource, so the handle is the same type whatever the upstream is:
//!
//! - [`try_allocate`](PoolHandle::try_allocate): the calling thread's shard, from its
//!   one-entry cache, and a block of the layout's class from its free list, its remote
//!   stack or its newest chunk. `None` (the caller then goes through the resource) when
//!   the layout is not pooled, the thread's cached shard is another pool's, or the
//!   shard needs a new chunk;
//! - [`try_deallocate`](PoolHandle::try_deallocate): every pooled block, to its own
//!   shard's free list if the caller owns that shard, else to the shard's remote stack.
//!
//! Blocks are the pool's either way: one allocated through a handle may be freed
//! through the resource and the reverse.

use core::alloc::Layout;
use core::cell::Cell;
use core::ptr::NonNull;

use crossbeam_utils::CachePadded;

use super::shard::Shard;
use super::{class_of, home_of, thread_key};

/// A borrowed handle on a [`PoolResource`](super::PoolResource)'s fast paths, from
/// [`MemoryResource::pool_handle`](crate::MemoryResource::pool_handle). See the module
/// documentation.
///
/// # Examples
///
/// ```
/// use core::alloc::Layout;
/// use zeta_arena::{MemoryResource, PoolResource};
///
/// let pool = PoolResource::new();
/// let layout = Layout::new::<[u64; 4]>();
/// let handle = pool.pool_handle().expect("a pool has one");
/// // The first allocation of a thread claims its shard through the pool itself.
/// let first = pool.allocate(layout).unwrap();
/// let block = handle.try_allocate(layout).expect("the thread's shard has room");
/// // SAFETY: both blocks are this pool's, of `layout`, each freed once.
/// unsafe {
///     assert!(handle.try_deallocate(block, layout));
///     pool.deallocate(first, layout);
/// }
/// ```
#[derive(Clone, Copy)]
pub struct PoolHandle<'a> {
    pub(super) id: u64,
    pub(super) shards: &'a [CachePadded<Shard>],
}

impl<'a> PoolHandle<'a> {
    /// This thread's shard of the pool if the thread's one-entry cache holds it (the
    /// pool's own fast path too: `PoolResource::my_shard`).
    #[inline(always)]
    pub(super) fn cached_shard(self) -> Option<&'a Shard> {
        let (pool, shard) = thread_key::SHARD_CACHE.with(Cell::get);
        if pool != self.id {
            return None;
        }
        // The entry's shard is owned by this thread's live key (checked in tests).
        #[cfg(debug_assertions)]
        thread_key::debug_assert_owned(shard);
        // SAFETY: the cache holds a shard of the pool with this id, claimed by this
        // thread's key, which the thread keeps until its slot's destructor empties the
        // cache (`thread_key::SHARD_CACHE`); ids are never reused and the pool is alive
        // for `'a`, so the pointer is into `self.shards`.
        Some(unsafe { &*shard })
    }

    /// A block for `layout` from the calling thread's shard, or `None` if this needs the
    /// pool's slow path (see the module documentation): allocate through the resource
    /// then.
    #[inline]
    pub fn try_allocate(&self, layout: Layout) -> Option<NonNull<u8>> {
        let class = class_of(layout)?;
        let shard = self.cached_shard()?;
        // SAFETY: the cache names a shard this thread owns (rule 1).
        unsafe { shard.pop_owned(class).or_else(|| shard.carve(class)) }
    }

    /// Returns `ptr` to its shard if `layout` is pooled, and says whether it did; if
    /// not (`false`), deallocate through the resource.
    ///
    /// # Safety
    ///
    /// As for [`MemoryResource::deallocate`](crate::MemoryResource::deallocate) on the
    /// pool: `ptr` came from this pool (through the resource or a handle) with this
    /// `layout`, and is not used or freed again.
    #[inline]
    pub unsafe fn try_deallocate(&self, ptr: NonNull<u8>, layout: Layout) -> bool {
        let Some(class) = class_of(layout) else {
            return false;
        };
        let home = home_of(self.shards, ptr);
        match self.cached_shard() {
            // SAFETY: this thread owns `home`; the block is free and of `class`.
            Some(mine) if core::ptr::eq(mine, home) => unsafe { home.push_owned(ptr, class) },
            // SAFETY: the block is free, of `class`, and was carved by `home`.
            _ => unsafe { home.push_remote(ptr, class) },
        }
        true
    }
}

impl core::fmt::Debug for PoolHandle<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PoolHandle")
            .field("pool", &self.id)
            .finish_non_exhaustive()
    }
}
