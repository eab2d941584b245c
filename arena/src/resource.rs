//! The [`MemoryResource`] trait, its error type, and [`GlobalResource`].

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use crate::pool::PoolHandle;

/// A memory resource could not satisfy an allocation.
///
/// Returned by [`MemoryResource::allocate`] when the upstream allocator is out of memory
/// or the layout is one the resource cannot serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct AllocError;

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("memory resource could not allocate the requested layout")
    }
}

impl std::error::Error for AllocError {}

/// A source of memory blocks, chosen by the user: the Rust counterpart of C++'s
/// `std::pmr::memory_resource`.
///
/// Blocks are requested and returned by [`Layout`]. The trait is object safe, so code
/// that should not be generic can take a `&dyn MemoryResource`. Implementations are
/// `Send + Sync` where they can be; every resource in this crate is.
///
/// Zero-sized layouts are allowed: an implementation may return a dangling pointer
/// aligned to `layout.align()` for them, and must then accept it back in
/// [`deallocate`](MemoryResource::deallocate) as a no-op.
///
/// # Safety
///
/// Implementors promise that a block returned by `allocate(layout)`:
/// 1. is valid for reads and writes of `layout.size()` bytes and aligned to
///    `layout.align()`;
/// 2. does not overlap any other block of this resource that has not been deallocated;
/// 3. stays valid until it is passed to `deallocate` or the resource is dropped
///    (a resource may free everything at once when it is dropped or reset).
///
/// Code that places values in these blocks (message nodes, actors) relies on this for
/// memory safety.
///
/// # Examples
///
/// ```
/// use core::alloc::Layout;
/// use zeta_arena::{GlobalResource, MemoryResource};
///
/// let resource = GlobalResource;
/// let layout = Layout::new::<[u64; 4]>();
/// let block = resource.allocate(layout).unwrap();
/// // SAFETY: `block` came from `resource.allocate(layout)` and is returned once.
/// unsafe { resource.deallocate(block, layout) };
/// ```
pub unsafe trait MemoryResource {
    /// Allocates a block that fits `layout`.
    ///
    /// # Errors
    ///
    /// [`AllocError`] when the resource (or the allocator beneath it) has no memory for
    /// `layout`.
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError>;

    /// Returns a block to the resource.
    ///
    /// # Safety
    ///
    /// `ptr` must have been returned by `allocate` on this resource (or on one that
    /// [`is_equal`](MemoryResource::is_equal) to it) with this same `layout`, and must
    /// not have been deallocated since.
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout);

    /// Whether memory allocated from `self` may be deallocated through `other` and the
    /// reverse.
    ///
    /// The default compares [`identity`](MemoryResource::identity).
    fn is_equal(&self, other: &dyn MemoryResource) -> bool {
        self.identity() == other.identity()
    }

    /// An address that identifies the pool of memory behind this resource.
    ///
    /// The default is the address of `self`; resources that are interchangeable across
    /// instances (such as [`GlobalResource`]) return a shared address.
    fn identity(&self) -> *const () {
        self as *const Self as *const ()
    }

    /// The fast paths of the [`PoolResource`](crate::PoolResource) behind this resource,
    /// if it is one, to call without a dynamic call ([`PoolHandle`]). The default is
    /// `None`; a resource that wraps another must not forward it if it does something of
    /// its own on every call (as [`CountingResource`](crate::CountingResource) counts).
    fn pool_handle(&self) -> Option<PoolHandle<'_>> {
        None
    }
}

/// A dangling, well-aligned pointer for a zero-sized layout.
#[inline]
pub(crate) fn dangling(layout: Layout) -> NonNull<u8> {
    // `Layout` guarantees a non-zero power-of-two alignment, so this address is non-null
    // and aligned.
    NonNull::new(core::ptr::without_provenance_mut(layout.align())).unwrap_or(NonNull::dangling())
}

/// The process's global allocator (`std::alloc`) as a [`MemoryResource`].
///
/// All instances are interchangeable: [`is_equal`](MemoryResource::is_equal) holds for
/// any two.
///
/// # Examples
///
/// ```
/// use zeta_arena::{GlobalResource, MemoryResource};
/// assert!(GlobalResource.is_equal(&GlobalResource));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalResource;

static GLOBAL_IDENTITY: u8 = 0;

// SAFETY: blocks come from `std::alloc::alloc`, which hands out valid, non-overlapping,
// aligned blocks until `dealloc`; zero-sized layouts get a dangling pointer and are never
// passed to `dealloc`.
unsafe impl MemoryResource for GlobalResource {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        // SAFETY: the layout has a non-zero size, checked above.
        NonNull::new(unsafe { std::alloc::alloc(layout) }).ok_or(AllocError)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            // SAFETY: the caller guarantees `ptr` came from `allocate(layout)` above with a
            // non-zero size, i.e. from `std::alloc::alloc(layout)`.
            unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) }
        }
    }

    fn identity(&self) -> *const () {
        &GLOBAL_IDENTITY as *const u8 as *const ()
    }
}

// SAFETY: forwards to `R`, which upholds the contract.
unsafe impl<R: MemoryResource + ?Sized> MemoryResource for &R {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        (**self).allocate(layout)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's guarantee for `self` is the guarantee for `**self`.
        unsafe { (**self).deallocate(ptr, layout) }
    }

    fn identity(&self) -> *const () {
        (**self).identity()
    }

    #[inline]
    fn pool_handle(&self) -> Option<PoolHandle<'_>> {
        (**self).pool_handle()
    }
}

// SAFETY: forwards to `R`, which upholds the contract; the `Arc` keeps `R` alive at
// least as long as this handle.
unsafe impl<R: MemoryResource + ?Sized> MemoryResource for std::sync::Arc<R> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        (**self).allocate(layout)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's guarantee for `self` is the guarantee for `**self`.
        unsafe { (**self).deallocate(ptr, layout) }
    }

    fn identity(&self) -> *const () {
        (**self).identity()
    }

    #[inline]
    fn pool_handle(&self) -> Option<PoolHandle<'_>> {
        (**self).pool_handle()
    }
}

/// A resource that never has memory: every non-empty allocation fails with
/// [`AllocError`]. The counterpart of C++'s `std::pmr::null_memory_resource()`.
///
/// Use it to test error paths, or as the upstream of a structure that must never grow.
///
/// # Examples
///
/// ```
/// use core::alloc::Layout;
/// use zeta_arena::{AllocError, MemoryResource, NullResource};
///
/// assert_eq!(NullResource.allocate(Layout::new::<u64>()), Err(AllocError));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NullResource;

// SAFETY: hands out no block but dangling ones for zero-sized layouts, which are never
// read or written.
unsafe impl MemoryResource for NullResource {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        Err(AllocError)
    }

    #[inline]
    unsafe fn deallocate(&self, _ptr: NonNull<u8>, _layout: Layout) {
        // Only zero-sized blocks were ever handed out: nothing to free.
    }
}
