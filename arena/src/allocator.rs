//! [`ResourceAllocator`]: any [`MemoryResource`] as an `allocator_api2` [`Allocator`].

use core::alloc::Layout;
use core::ptr::NonNull;

use allocator_api2::alloc::{AllocError as ApiAllocError, Allocator};

use crate::resource::MemoryResource;

/// Adapts a borrowed [`MemoryResource`] to the [`allocator_api2::alloc::Allocator`]
/// trait, so that `allocator_api2` collections (and bumpalo's, and hashbrown's) inside an
/// actor draw from the same memory as the actor.
///
/// The borrow ties every collection to the resource: a `Vec<T, ResourceAllocator<'r,
/// R>>` cannot outlive `'r`.
///
/// # Examples
///
/// ```
/// use allocator_api2::vec::Vec;
/// use zeta_arena::{CountingResource, GlobalResource, ResourceAllocator};
///
/// let counting = CountingResource::new(GlobalResource);
/// let mut v = Vec::new_in(ResourceAllocator::new(&counting));
/// v.extend(0..100u32);
/// assert_eq!(v.iter().sum::<u32>(), 4950);
/// assert_eq!(counting.live_blocks(), 1);
/// drop(v);
/// assert_eq!(counting.live_blocks(), 0);
/// ```
#[derive(Debug)]
pub struct ResourceAllocator<'r, R: ?Sized> {
    resource: &'r R,
}

impl<'r, R: ?Sized> ResourceAllocator<'r, R> {
    /// An allocator that allocates from `resource`.
    pub const fn new(resource: &'r R) -> Self {
        Self { resource }
    }

    /// The resource behind this allocator.
    pub const fn resource(&self) -> &'r R {
        self.resource
    }
}

impl<R: ?Sized> Clone for ResourceAllocator<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R: ?Sized> Copy for ResourceAllocator<'_, R> {}

// SAFETY: (1) blocks come from `MemoryResource::allocate`, whose contract (valid, aligned,
// non-overlapping until deallocated) is what `Allocator` requires; (2) clones share the
// same `&R`, so a block allocated through one clone may be freed through another; (3) the
// borrow keeps the resource alive while any clone exists; (4) zero-sized requests never
// reach the resource.
unsafe impl<R: MemoryResource + ?Sized> Allocator for ResourceAllocator<'_, R> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, ApiAllocError> {
        if layout.size() == 0 {
            return Ok(NonNull::slice_from_raw_parts(
                crate::resource::dangling(layout),
                0,
            ));
        }
        let block = self.resource.allocate(layout).map_err(|_| ApiAllocError)?;
        Ok(NonNull::slice_from_raw_parts(block, layout.size()))
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            // SAFETY: `Allocator`'s contract makes the caller pass a block this allocator
            // returned with this layout; non-zero blocks came from `resource.allocate`.
            unsafe { self.resource.deallocate(ptr, layout) }
        }
    }
}
