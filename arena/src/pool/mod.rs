//! [`PoolResource`]: size-class free lists, one shard per thread, lock-free remote frees.
//!
//! # Design
//!
//! Message nodes are allocated by whichever thread sends and freed by whichever thread
//! handles them, so the pool must be fast when the two differ. It is split into
//! **shards**, one per thread that uses it (a shard is claimed on first use with the
//! thread's key: a small non-zero number per live thread, recycled when it exits; see
//! the private `pool/thread_key.rs`). Each shard has:
//!
//! - `local`: per-class free lists and a bump cursor into its newest chunk, touched only
//!   by the owner, with plain loads and stores;
//! - `remote`: per-class Treiber stacks where *other* threads push blocks they free.
//!
//! Memory comes from the upstream resource in 64 KiB chunks aligned to their size. A
//! chunk's header records the shard that carved it, so `deallocate` finds a block's home
//! with one mask: `ptr & !(CHUNK - 1)`. Blocks always go back to the shard that carved
//! them; in a steady state (a producer allocating, a consumer freeing) they cycle
//! between the two threads and no new chunk is ever needed.
//!
//! # Protocol
//!
//! Rule 1, ownership: `local` of a shard is accessed only by its owner: the live thread
//! whose key is in `owner`, or for the overflow shard, the holder of `overflow_lock`.
//! Keys are unique among live threads; a key (and so its shards) passes to a new thread
//! only after the old one has exited, ordered by the key mutex (see `thread_key.rs`).
//! A thread finds its shard through a one-entry cache (`thread_key::SHARD_CACHE`, one
//! load on every allocation and free); the thread's slot empties it before handing the
//! key on, so a pool operation later in the thread's exit (from another thread-local's
//! destructor) finds no shard and takes the paths of a thread without one.
//!
//! Rule 2, claiming: a thread finds its shard by probing from `key % shards` for a shard
//! whose `owner == key`, claiming the first unclaimed one (`owner == 0`) it meets with a
//! CAS `0 → key`. Claims are never released (keys are recycled instead), so the probe
//! always meets the thread's own shard before any unclaimed one. If every shard belongs
//! to another live thread, the thread uses the overflow shard under a mutex (a cold,
//! documented fallback for more threads than shards).
//!
//! Rule 3, allocation (owner): pop the local list; if empty, take the whole remote stack
//! with one `swap(null, Acquire)` and pop from it; if that is empty too, carve from the
//! chunk; if the chunk is full, get a new chunk from upstream (cold).
//!
//! Rule 4, deallocation: the owner pushes onto its local list; any other thread pushes
//! onto the block's shard's remote stack with a `Release` CAS.
//!
//! Orderings: the remote stack is push-many / take-all-one. A pusher writes the block's
//! link, then publishes the block with a `Release` CAS; the owner's `Acquire` swap reads
//! the head of a release sequence that contains every earlier push, so all their links
//! are visible when it walks the list. There is no ABA problem: single blocks are never
//! popped from a remote stack, so a pusher's CAS succeeding on a head it read means its
//! link is correct. The owner words are only compared against the caller's own key or
//! claimed from 0; a thread reading its own key there reads its own earlier write.
//!
//! A [`PoolHandle`] runs rules 3 and 4 for the cases that need nothing from upstream
//! (`handle.rs`): the same shards, the same blocks, no dynamic call.
//!
//! The model of rule 3 racing rule 4 is `pool::loom` (run with `--cfg zeta_loom`).

mod handle;
mod shard;
pub(crate) mod thread_key;

pub use handle::PoolHandle;

#[cfg(all(test, zeta_loom))]
mod loom;

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;
use std::sync::atomic::{AtomicU64 as StdAtomicU64, AtomicUsize, Ordering::Relaxed};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use self::shard::{ChunkHeader, FreeBlock, Shard};
use crate::resource::{AllocError, GlobalResource, MemoryResource};
use crate::sync::Ordering;

/// Size of a chunk, and its alignment.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// log2 of the smallest class: 16 bytes, or larger if a free block's link is (as it is
/// under loom, whose cells carry bookkeeping).
const MIN_SHIFT: u32 = {
    let link = core::mem::size_of::<FreeBlock>();
    let mut shift = 4;
    while (1usize << shift) < link {
        shift += 1;
    }
    shift
};
/// Number of size classes: powers of two from `1 << MIN_SHIFT` to [`MAX_BLOCK`].
pub(crate) const CLASSES: usize = (12 - MIN_SHIFT + 1) as usize;
/// The largest pooled block; larger requests go to the upstream resource.
pub const MAX_BLOCK: usize = 4096;
/// The largest pooled alignment; more strictly aligned requests go upstream.
pub const MAX_ALIGN: usize = 64;

/// The most per-thread shards a pool may have ([`PoolResource::with_shards`]).
///
/// The shard table is allocated whole when the pool is made, about 256 bytes a shard
/// (two cache-padded parts), so 4096 shards are 1 MiB; a shard's chunks come only once a
/// thread uses it. 4096 threads using one pool at once is far beyond what the pool is
/// for; threads beyond the shard count still work, sharing the overflow shard under a
/// mutex. The default ([`PoolResource::new`]) is `4 × available_parallelism`, at least
/// 16 and at most this.
pub const MAX_SHARDS: usize = 4096;

/// Bytes in a block of `class`.
#[inline(always)]
pub(crate) const fn class_size(class: usize) -> usize {
    1 << (class as u32 + MIN_SHIFT)
}

/// Alignment of every block of `class`: its size, capped at [`MAX_ALIGN`].
#[inline(always)]
pub(crate) const fn block_align(class: usize) -> usize {
    let size = class_size(class);
    if size < MAX_ALIGN {
        size
    } else {
        MAX_ALIGN
    }
}

/// The class that serves `layout`, or `None` if it goes upstream.
#[inline(always)]
fn class_of(layout: Layout) -> Option<usize> {
    if layout.size() > MAX_BLOCK || layout.align() > MAX_ALIGN {
        return None;
    }
    // A block of class c has size 2^c >= size and alignment min(2^c, 64) >= align.
    let need = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
    Some((need.next_power_of_two().trailing_zeros() - MIN_SHIFT) as usize)
}

/// The shard of `shards` that carved `block`, a pooled block (of a class) of the pool
/// whose shards these are.
#[inline(always)]
fn home_of(shards: &[CachePadded<Shard>], block: NonNull<u8>) -> &Shard {
    let offset = block.as_ptr() as usize & (CHUNK_SIZE - 1);
    let chunk = block.as_ptr().wrapping_sub(offset).cast::<ChunkHeader>();
    // SAFETY: `block` is a pooled block (the caller checked its class), so it lies in a
    // chunk aligned to CHUNK_SIZE whose header, at the chunk's start, was written before
    // the block was first handed out; that hand-out happens before this deallocation,
    // and the header is never written again.
    let index = unsafe { (*chunk).shard };
    &shards[index]
}

/// Gives every pool a distinct id, never reused, for the per-thread shard cache.
static NEXT_POOL_ID: StdAtomicU64 = StdAtomicU64::new(1);

/// Bad [`PoolResource`] configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolConfigError {
    /// A pool needs at least one shard.
    ZeroShards,
    /// More shards than [`MAX_SHARDS`] were asked for.
    TooManyShards {
        /// The number asked for.
        requested: usize,
    },
}

impl fmt::Display for PoolConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroShards => f.write_str("a PoolResource needs at least one shard"),
            Self::TooManyShards { requested } => write!(
                f,
                "a PoolResource has at most {MAX_SHARDS} shards, not {requested}"
            ),
        }
    }
}

impl std::error::Error for PoolConfigError {}

/// A thread-safe pool of size-classed blocks: the default home of message nodes.
///
/// Requests up to [`MAX_BLOCK`] bytes (and [`MAX_ALIGN`] alignment) are served from
/// per-class free lists; larger ones go straight to the upstream resource. Each thread
/// that uses the pool gets a shard of its own, so allocation and same-thread
/// deallocation are plain loads and stores, and a block freed by another thread goes
/// back with one lock-free push that the owner collects whole. Memory is reused, not
/// grown, in a steady state: blocks return to the shard that carved them. Chunks go back
/// to the upstream when the pool is dropped.
///
/// The protocol is written down in the [module documentation](self).
///
/// # Examples
///
/// ```
/// use core::alloc::Layout;
/// use zeta_arena::{MemoryResource, PoolResource};
///
/// let pool = PoolResource::new();
/// let layout = Layout::new::<[u64; 6]>();
/// let a = pool.allocate(layout).unwrap();
/// // SAFETY: `a` came from this pool with this layout and is returned once.
/// unsafe { pool.deallocate(a, layout) };
/// let b = pool.allocate(layout).unwrap();
/// assert_eq!(a, b, "the freed block is reused");
/// # unsafe { pool.deallocate(b, layout) };
/// ```
pub struct PoolResource<U: MemoryResource = GlobalResource> {
    id: u64,
    upstream: U,
    /// One shard per thread (claimed on first use), plus the overflow shard at the end.
    shards: Box<[CachePadded<Shard>]>,
    /// Held while a thread without a shard of its own uses the overflow shard.
    overflow_lock: Mutex<()>,
    /// Chunks taken from upstream so far (for statistics and growth tests).
    chunks: AtomicUsize,
}

impl PoolResource<GlobalResource> {
    /// A pool on the global allocator with a shard for each of up to
    /// `4 × available_parallelism` threads (at least 16, at most [`MAX_SHARDS`]).
    pub fn new() -> Self {
        Self::with_upstream(GlobalResource)
    }
}

impl Default for PoolResource<GlobalResource> {
    fn default() -> Self {
        Self::new()
    }
}

impl<U: MemoryResource> PoolResource<U> {
    /// A pool that takes its chunks from `upstream`, with the default number of shards
    /// (as [`PoolResource::new`]).
    pub fn with_upstream(upstream: U) -> Self {
        let threads = std::thread::available_parallelism().map_or(4, |n| n.get());
        Self::build(upstream, threads.saturating_mul(4).clamp(16, MAX_SHARDS))
    }

    /// A pool that takes its chunks from `upstream`, with `shards` per-thread shards:
    /// that many threads at once use it without any lock; more share one under a mutex.
    ///
    /// # Errors
    ///
    /// [`PoolConfigError::ZeroShards`] if `shards` is 0, and
    /// [`PoolConfigError::TooManyShards`] if it is above [`MAX_SHARDS`].
    pub fn with_shards(upstream: U, shards: usize) -> Result<Self, PoolConfigError> {
        if shards == 0 {
            return Err(PoolConfigError::ZeroShards);
        }
        if shards > MAX_SHARDS {
            return Err(PoolConfigError::TooManyShards { requested: shards });
        }
        Ok(Self::build(upstream, shards))
    }

    /// A pool with `shards` (1 to [`MAX_SHARDS`]) per-thread shards.
    fn build(upstream: U, shards: usize) -> Self {
        debug_assert!((1..=MAX_SHARDS).contains(&shards), "{shards} shards");
        // The overflow shard's owner word is never matched by a key (keys count up from
        // 1 and are bounded by the number of live threads).
        let shards = (0..=shards)
            .map(|i| CachePadded::new(Shard::new(if i == shards { u64::MAX } else { 0 })))
            .collect();
        Self {
            // Relaxed: ids only have to be distinct.
            id: NEXT_POOL_ID.fetch_add(1, Relaxed),
            upstream,
            shards,
            overflow_lock: Mutex::new(()),
            chunks: AtomicUsize::new(0),
        }
    }

    /// The resource chunks come from.
    pub fn upstream(&self) -> &U {
        &self.upstream
    }

    /// How many chunks of [`CHUNK_SIZE`] bytes the pool has taken from upstream. Flat in
    /// a steady state.
    pub fn chunk_count(&self) -> usize {
        self.chunks.load(Relaxed)
    }

    /// The number of per-thread shards (not counting the overflow shard).
    pub fn shard_count(&self) -> usize {
        self.shards.len() - 1
    }

    #[inline(always)]
    fn overflow(&self) -> &Shard {
        &self.shards[self.shards.len() - 1]
    }

    /// This thread's shard, claiming one on first use; `None` if every shard belongs to
    /// another live thread, or the thread is exiting.
    #[inline]
    fn my_shard(&self) -> Option<&Shard> {
        match self.handle().cached_shard() {
            Some(shard) => Some(shard),
            None => self.my_shard_slow(),
        }
    }

    /// The handle on this pool's shards (also what [`MemoryResource::pool_handle`]
    /// gives).
    #[inline(always)]
    fn handle(&self) -> PoolHandle<'_> {
        PoolHandle {
            id: self.id,
            shards: &self.shards,
        }
    }

    /// [`my_shard`](Self::my_shard) on a cache miss: the thread's key, its shard, and
    /// the cache filled.
    #[cold]
    #[inline(never)]
    fn my_shard_slow(&self) -> Option<&Shard> {
        thread_key::with_slot(|slot| {
            let shard = self.find_shard(slot.key)?;
            thread_key::SHARD_CACHE.with(|cache| cache.set((self.id, shard)));
            Some(shard)
        })
        .flatten()
    }

    /// Rule 2: probe for this key's shard, claiming the first unclaimed one.
    #[cold]
    fn find_shard(&self, key: u64) -> Option<&Shard> {
        let n = self.shards.len() - 1;
        let start = (key % n as u64) as usize;
        for i in (start..n).chain(0..start) {
            let shard = &self.shards[i];
            // Relaxed: we only act on our own key (our own earlier write) or on 0, which
            // the CAS below re-validates.
            match shard.owner.load(Ordering::Relaxed) {
                k if k == key => return Some(shard),
                0 => {
                    // Acquire on success is not needed for the shard's contents (a fresh
                    // shard has none); Relaxed suffices: the claim only has to be unique.
                    match shard
                        .owner
                        .compare_exchange(0, key, Ordering::Relaxed, Ordering::Relaxed)
                    {
                        Ok(_) => return Some(shard),
                        Err(k) if k == key => return Some(shard),
                        Err(_) => continue,
                    }
                }
                _ => continue,
            }
        }
        None
    }

    /// Rule 3 for `shard`, whose owner the caller is.
    ///
    /// # Safety
    ///
    /// The caller owns `shard` (rule 1), and `index` is its position in `self.shards`.
    #[inline]
    unsafe fn allocate_owned(
        &self,
        shard: &Shard,
        index: usize,
        class: usize,
    ) -> Result<NonNull<u8>, AllocError> {
        // SAFETY: the caller owns `shard`.
        if let Some(block) = unsafe { shard.pop_owned(class) } {
            return Ok(block);
        }
        // SAFETY: the caller owns `shard`.
        if let Some(block) = unsafe { shard.carve(class) } {
            return Ok(block);
        }
        // SAFETY: forwarded from the caller.
        unsafe { self.grow(shard, index, class) }
    }

    /// Cold path: a new chunk from upstream for `shard`, then carve from it.
    ///
    /// # Safety
    ///
    /// As for [`allocate_owned`](Self::allocate_owned).
    #[cold]
    #[inline(never)]
    unsafe fn grow(
        &self,
        shard: &Shard,
        index: usize,
        class: usize,
    ) -> Result<NonNull<u8>, AllocError> {
        let layout = chunk_layout();
        let chunk = self.upstream.allocate(layout)?;
        self.chunks.fetch_add(1, Relaxed);
        // SAFETY: the caller owns `shard`; the chunk is fresh, ours alone, aligned to
        // and as large as CHUNK_SIZE.
        unsafe { shard.install_chunk(chunk, CHUNK_SIZE, index) };
        // SAFETY: the caller owns `shard`; a fresh chunk fits any class.
        unsafe { shard.carve(class) }.ok_or(AllocError)
    }

    #[inline(always)]
    fn index_of(&self, shard: &Shard) -> usize {
        // Shards are consecutive `CachePadded<Shard>`s and `shard` is one of them.
        (shard as *const Shard as usize - self.shards.as_ptr() as usize)
            / core::mem::size_of::<CachePadded<Shard>>()
    }
}

fn chunk_layout() -> Layout {
    match Layout::from_size_align(CHUNK_SIZE, CHUNK_SIZE) {
        Ok(layout) => layout,
        Err(_) => unreachable!("CHUNK_SIZE is a power of two"),
    }
}

// SAFETY: (1) pooled blocks are carved from live chunks at distinct offsets, sized and
// aligned for their class, which covers the layout (see `class_of`); (2) a block is on
// at most one free list at a time and handed out by one owner at a time (rule 1), so
// live blocks never overlap; (3) chunks stay allocated until the pool is dropped;
// (4) unpooled layouts go to and come back from `upstream`, decided by the same
// `class_of(layout)` on both sides.
unsafe impl<U: MemoryResource> MemoryResource for PoolResource<U> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        let Some(class) = class_of(layout) else {
            return self.upstream.allocate(layout);
        };
        if let Some(shard) = self.my_shard() {
            // SAFETY: `my_shard` returned the shard this thread owns (rule 2).
            return unsafe { self.allocate_owned(shard, self.index_of(shard), class) };
        }
        self.allocate_overflow(class)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        let Some(class) = class_of(layout) else {
            // SAFETY: the caller passes a block from `allocate(layout)`, which for this
            // layout came from `upstream.allocate(layout)`.
            return unsafe { self.upstream.deallocate(ptr, layout) };
        };
        let home = home_of(&self.shards, ptr);
        match self.my_shard() {
            // SAFETY: this thread owns `home`; the block is free and of `class`.
            Some(mine) if core::ptr::eq(mine, home) => unsafe { home.push_owned(ptr, class) },
            // SAFETY: the block is free, of `class`, and was carved by `home`.
            _ => unsafe { home.push_remote(ptr, class) },
        }
    }

    #[inline]
    fn pool_handle(&self) -> Option<PoolHandle<'_>> {
        Some(self.handle())
    }
}

impl<U: MemoryResource> PoolResource<U> {
    /// Allocation by a thread without a shard: the overflow shard, under its lock.
    #[cold]
    #[inline(never)]
    fn allocate_overflow(&self, class: usize) -> Result<NonNull<u8>, AllocError> {
        let _owner = self.overflow_lock.lock();
        let index = self.shards.len() - 1;
        // SAFETY: holding `overflow_lock` makes this thread the overflow shard's owner.
        unsafe { self.allocate_owned(self.overflow(), index, class) }
    }
}

impl<U: MemoryResource> Drop for PoolResource<U> {
    fn drop(&mut self) {
        let layout = chunk_layout();
        for shard in self.shards.iter() {
            let mut chunk = shard.local.with_mut(|local| {
                // SAFETY: `&mut self`: no thread can be using the pool any more.
                unsafe { (*local).chunks }
            });
            while let Some(header) = NonNull::new(chunk) {
                // SAFETY: every header in the list was written by `install_chunk` at the
                // start of a chunk we still own.
                chunk = unsafe { header.as_ref().next };
                // SAFETY: the chunk came from `upstream.allocate(chunk_layout())` in
                // `grow`, and is freed once: it is on exactly one shard's list.
                unsafe { self.upstream.deallocate(header.cast(), layout) };
            }
        }
    }
}

impl<U: MemoryResource + fmt::Debug> fmt::Debug for PoolResource<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolResource")
            .field("id", &self.id)
            .field("upstream", &self.upstream)
            .field("shards", &self.shard_count())
            .field("chunks", &self.chunk_count())
            .finish()
    }
}
