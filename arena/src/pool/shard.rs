//! One shard of a [`PoolResource`](super::PoolResource): the owner's free lists and bump
//! cursor, and the remote-free stacks other threads push onto.
//!
//! See the protocol in the parent module's documentation.

use core::ptr::{self, NonNull};

use crossbeam_utils::CachePadded;

use super::{block_align, class_size, CLASSES};
use crate::sync::{AtomicPtr, AtomicU64, Ordering, UnsafeCell};

/// The link written into a block while it is free. Every pooled block is at least
/// `size_of::<FreeBlock>()` bytes and aligned for it.
#[repr(C)]
pub(crate) struct FreeBlock {
    next: UnsafeCell<*mut FreeBlock>,
}

/// Placed at the start of every chunk: which shard carved it, and the shard's chunk
/// list. Written once by the owner before any block of the chunk is handed out;
/// read-only afterwards until the pool is dropped.
#[repr(C)]
pub(crate) struct ChunkHeader {
    pub(crate) shard: usize,
    pub(crate) next: *mut ChunkHeader,
}

/// State that only the shard's owner touches.
pub(crate) struct Local {
    /// Per-class singly linked free lists.
    free: [*mut FreeBlock; CLASSES],
    /// Bump cursor and end inside the newest chunk (null when there is none).
    cursor: *mut u8,
    end: *mut u8,
    /// Every chunk this shard carved, to return to the upstream when the pool drops.
    pub(crate) chunks: *mut ChunkHeader,
}

pub(crate) struct Shard {
    /// Thread key of the owner; 0 while unclaimed. Only ever written by a claim CAS from 0.
    pub(crate) owner: AtomicU64,
    /// Owner-only state: accessed only by the thread whose key is in `owner` (or, for
    /// the overflow shard, by the holder of the pool's overflow lock).
    pub(crate) local: UnsafeCell<Local>,
    /// Remote-free stacks, one per class: pushed by any thread, taken whole by the owner.
    /// Padded: other cores write here while the owner works on `local`.
    remote: CachePadded<[AtomicPtr<FreeBlock>; CLASSES]>,
}

// SAFETY: `local` is only touched by the shard's single owner (rule 1 of the pool
// protocol: the owner is the thread holding the key in `owner`, keys are unique among
// live threads, and hand-over to a new owner is ordered by the key mutex); `remote` and
// `owner` are atomics. The raw pointers in `Local` point into chunks owned by the pool.
unsafe impl Sync for Shard {}
// SAFETY: as above; moving a shard between threads moves nothing thread-bound.
unsafe impl Send for Shard {}

impl Shard {
    pub(crate) fn new(owner: u64) -> Self {
        Self {
            owner: AtomicU64::new(owner),
            local: UnsafeCell::new(Local {
                free: [ptr::null_mut(); CLASSES],
                cursor: ptr::null_mut(),
                end: ptr::null_mut(),
                chunks: ptr::null_mut(),
            }),
            remote: CachePadded::new(core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut()))),
        }
    }

    /// Pops a free block of `class` for the owner: the local list first, else the whole
    /// remote stack is taken with one swap. `None` when both are empty (carve next).
    ///
    /// # Safety
    ///
    /// The caller is this shard's owner (see the pool protocol, rule 1).
    #[inline]
    pub(crate) unsafe fn pop_owned(&self, class: usize) -> Option<NonNull<u8>> {
        self.local.with_mut(|local| {
            // SAFETY: the caller is the owner, the only thread that touches `local`.
            let local = unsafe { &mut *local };
            let mut head = local.free[class];
            if head.is_null() {
                head = self.take_remote(class);
                if head.is_null() {
                    return None;
                }
            }
            // SAFETY: `head` is a free block of this shard: it was linked by
            // `push_owned` (this thread) or `push_remote` (whose Release CAS the Acquire
            // swap in `take_remote` synchronised with), so its link is initialised and
            // visible, and nobody else holds it.
            local.free[class] = unsafe { (*head).next.with(|next| *next) };
            NonNull::new(head.cast())
        })
    }

    /// Takes the whole remote stack of `class`, or null if it is empty.
    #[cold]
    fn take_remote(&self, class: usize) -> *mut FreeBlock {
        let stack = &self.remote[class];
        // Relaxed peek: an empty stack is the common case on a miss, and a plain load
        // does not steal the line from pushers. A stale null only means we carve a
        // block a little early.
        if stack.load(Ordering::Relaxed).is_null() {
            return ptr::null_mut();
        }
        // Acquire: synchronises with the Release CAS in `push_remote` of every block in
        // the stack (each later push continues the release sequence), so the links those
        // threads wrote are visible before we follow them.
        stack.swap(ptr::null_mut(), Ordering::Acquire)
    }

    /// Returns a block to the owner's local list.
    ///
    /// # Safety
    ///
    /// The caller is this shard's owner, and `block` is a block of `class` carved by
    /// this shard that nobody uses any more.
    #[inline]
    pub(crate) unsafe fn push_owned(&self, block: NonNull<u8>, class: usize) {
        let block = block.as_ptr().cast::<FreeBlock>();
        self.local.with_mut(|local| {
            // SAFETY: the caller is the owner, the only thread that touches `local`.
            let local = unsafe { &mut *local };
            // SAFETY: `block` is free, at least `size_of::<FreeBlock>()` bytes and
            // aligned for it (every class is); writing a fresh link is our right.
            unsafe {
                block.write(FreeBlock {
                    next: UnsafeCell::new(local.free[class]),
                })
            };
            local.free[class] = block;
        });
    }

    /// Returns a block from any thread: a lock-free push onto the remote stack of
    /// `class`, which the owner later takes whole.
    ///
    /// # Safety
    ///
    /// `block` is a block of `class` carved by this shard that nobody uses any more.
    #[inline]
    pub(crate) unsafe fn push_remote(&self, block: NonNull<u8>, class: usize) {
        let block = block.as_ptr().cast::<FreeBlock>();
        let stack = &self.remote[class];
        // SAFETY: the block is free and sized/aligned for a `FreeBlock`; until the CAS
        // below publishes it, only this thread knows it.
        unsafe {
            block.write(FreeBlock {
                next: UnsafeCell::new(ptr::null_mut()),
            })
        };
        // Relaxed: the value is only a guess for the CAS, which validates it.
        let mut head = stack.load(Ordering::Relaxed);
        loop {
            // SAFETY: the block is still private to this thread (not yet published).
            unsafe { (*block).next.with_mut(|next| *next = head) };
            // Release on success: publishes the link written above to the owner's
            // Acquire swap in `take_remote`. Relaxed on failure: we retry.
            // No ABA: nobody pops single blocks from this stack; the owner only takes it
            // whole, so `head` being current implies the link we wrote is right.
            match stack.compare_exchange_weak(head, block, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }

    /// Carves a fresh block of `class` from the newest chunk; `None` if it is full.
    ///
    /// # Safety
    ///
    /// The caller is this shard's owner.
    #[inline]
    pub(crate) unsafe fn carve(&self, class: usize) -> Option<NonNull<u8>> {
        self.local.with_mut(|local| {
            // SAFETY: the caller is the owner, the only thread that touches `local`.
            let local = unsafe { &mut *local };
            if local.cursor.is_null() {
                return None;
            }
            let align = block_align(class);
            let pad = (local.cursor as usize).wrapping_neg() & (align - 1);
            let room = local.end as usize - local.cursor as usize;
            if pad + class_size(class) > room {
                return None;
            }
            // In bounds: `pad + size <= room`, checked above; the pointers carry the
            // chunk's provenance.
            let block = local.cursor.wrapping_add(pad);
            local.cursor = block.wrapping_add(class_size(class));
            NonNull::new(block)
        })
    }

    /// Makes `chunk` (freshly allocated, `size` bytes, header not yet written) this
    /// shard's newest chunk.
    ///
    /// # Safety
    ///
    /// The caller is this shard's owner; `chunk` is exclusively ours, aligned to its
    /// size and at least a header long.
    pub(crate) unsafe fn install_chunk(&self, chunk: NonNull<u8>, size: usize, index: usize) {
        self.local.with_mut(|local| {
            // SAFETY: the caller is the owner, the only thread that touches `local`.
            let local = unsafe { &mut *local };
            let header = chunk.as_ptr().cast::<ChunkHeader>();
            // SAFETY: `chunk` is exclusively ours and large and aligned enough for a
            // header (the caller's duty).
            unsafe {
                header.write(ChunkHeader {
                    shard: index,
                    next: local.chunks,
                })
            };
            local.chunks = header;
            local.cursor = chunk
                .as_ptr()
                .wrapping_add(core::mem::size_of::<ChunkHeader>());
            local.end = chunk.as_ptr().wrapping_add(size);
        });
    }
}
