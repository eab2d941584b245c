//! [`MonotonicResource`]: bump allocation on bumpalo, freed all at once.

use core::alloc::Layout;
use core::ptr::NonNull;

use bumpalo::Bump;
use parking_lot::Mutex;

use crate::resource::{AllocError, MemoryResource};

/// A monotonic (bump) arena: allocation is a pointer increment, deallocation of a single
/// block does nothing, and [`reset`](MonotonicResource::reset) or drop frees everything.
///
/// Use it for things that live as long as a phase of the program: the actors of a level,
/// a frame's scratch data. It is built on [`bumpalo::Bump`].
///
/// **Drop is the placer's job**: the arena releases memory, it never runs destructors.
/// Whoever places a value in it must drop that value before the memory is reset.
///
/// The arena is `Send + Sync`: allocations are serialised by an uncontended lock, so it
/// suits placement (spawning actors), not the per-message path; use a
/// [`PoolResource`](crate::PoolResource) for messages.
///
/// # Examples
///
/// ```
/// use core::alloc::Layout;
/// use zeta_arena::{MemoryResource, MonotonicResource};
///
/// let mut arena = MonotonicResource::with_capacity(1024);
/// let a = arena.allocate(Layout::new::<u64>()).unwrap();
/// let b = arena.allocate(Layout::new::<u64>()).unwrap();
/// assert_ne!(a, b);
/// assert!(arena.allocated_bytes() >= 16);
/// arena.reset(); // frees both at once
/// ```
#[derive(Debug, Default)]
pub struct MonotonicResource {
    bump: Mutex<Bump>,
}

impl MonotonicResource {
    /// An empty arena; its first chunk is allocated on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// An arena whose first chunk holds at least `bytes`.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            bump: Mutex::new(Bump::with_capacity(bytes)),
        }
    }

    /// Frees every block at once and keeps the largest chunk for reuse.
    ///
    /// Taking `&mut self` guarantees that no block handed out through a shared borrow
    /// of this arena is still in use.
    pub fn reset(&mut self) {
        self.bump.get_mut().reset();
    }

    /// Bytes currently reserved from the global allocator by this arena's chunks.
    pub fn allocated_bytes(&self) -> usize {
        self.bump.lock().allocated_bytes()
    }
}

// SAFETY: blocks come from `Bump::try_alloc_layout`, which returns distinct, aligned blocks
// of the requested size that stay valid until the bump is reset (needs `&mut self`) or
// dropped; `deallocate` never frees anything, so no block is invalidated early.
unsafe impl MemoryResource for MonotonicResource {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.bump
            .lock()
            .try_alloc_layout(layout)
            .map_err(|_| AllocError)
    }

    unsafe fn deallocate(&self, _ptr: NonNull<u8>, _layout: Layout) {
        // Monotonic: memory is reclaimed by `reset` or drop.
    }
}
