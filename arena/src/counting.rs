//! [`CountingResource`]: a wrapper that counts what passes through it.

use core::alloc::Layout;
use core::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::resource::{AllocError, MemoryResource};

/// Wraps any [`MemoryResource`] and counts blocks and bytes: live, peak and totals.
///
/// The tool for leak tests: after a test, [`live_blocks`](CountingResource::live_blocks)
/// must be back to zero. Counters are updated with relaxed atomics, so they are exact
/// once the threads using the resource have been joined (the join synchronises), and a
/// best-effort snapshot while they run.
///
/// # Examples
///
/// ```
/// use core::alloc::Layout;
/// use zeta_arena::{CountingResource, GlobalResource, MemoryResource};
///
/// let counting = CountingResource::new(GlobalResource);
/// let layout = Layout::new::<u32>();
/// let block = counting.allocate(layout).unwrap();
/// assert_eq!(counting.live_blocks(), 1);
/// // SAFETY: allocated above with the same layout, returned once.
/// unsafe { counting.deallocate(block, layout) };
/// assert_eq!(counting.stats().live_blocks, 0);
/// assert_eq!(counting.stats().total_blocks, 1);
/// ```
#[derive(Debug, Default)]
pub struct CountingResource<R> {
    inner: R,
    live_bytes: AtomicUsize,
    live_blocks: AtomicUsize,
    peak_bytes: AtomicUsize,
    total_bytes: AtomicUsize,
    total_blocks: AtomicUsize,
    failures: AtomicUsize,
}

/// A snapshot of a [`CountingResource`]'s counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CountingStats {
    /// Bytes allocated and not yet deallocated.
    pub live_bytes: usize,
    /// Blocks allocated and not yet deallocated.
    pub live_blocks: usize,
    /// The highest `live_bytes` seen.
    pub peak_bytes: usize,
    /// Bytes ever allocated.
    pub total_bytes: usize,
    /// Blocks ever allocated.
    pub total_blocks: usize,
    /// Allocations the inner resource refused.
    pub failures: usize,
}

impl<R> CountingResource<R> {
    /// Wraps `inner`, with every counter at zero.
    pub const fn new(inner: R) -> Self {
        Self {
            inner,
            live_bytes: AtomicUsize::new(0),
            live_blocks: AtomicUsize::new(0),
            peak_bytes: AtomicUsize::new(0),
            total_bytes: AtomicUsize::new(0),
            total_blocks: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
        }
    }

    /// The wrapped resource.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// Blocks allocated and not yet deallocated.
    pub fn live_blocks(&self) -> usize {
        self.live_blocks.load(Relaxed)
    }

    /// Bytes allocated and not yet deallocated.
    pub fn live_bytes(&self) -> usize {
        self.live_bytes.load(Relaxed)
    }

    /// All counters at once.
    pub fn stats(&self) -> CountingStats {
        CountingStats {
            live_bytes: self.live_bytes.load(Relaxed),
            live_blocks: self.live_blocks.load(Relaxed),
            peak_bytes: self.peak_bytes.load(Relaxed),
            total_bytes: self.total_bytes.load(Relaxed),
            total_blocks: self.total_blocks.load(Relaxed),
            failures: self.failures.load(Relaxed),
        }
    }
}

// SAFETY: every block comes from, and goes back to, `inner`, which upholds the contract;
// the counters are bookkeeping only.
unsafe impl<R: MemoryResource> MemoryResource for CountingResource<R> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        match self.inner.allocate(layout) {
            Ok(block) => {
                // Relaxed: the counters order nothing; they are read after a join or as
                // a snapshot.
                let live = self.live_bytes.fetch_add(layout.size(), Relaxed) + layout.size();
                self.peak_bytes.fetch_max(live, Relaxed);
                self.live_blocks.fetch_add(1, Relaxed);
                self.total_bytes.fetch_add(layout.size(), Relaxed);
                self.total_blocks.fetch_add(1, Relaxed);
                Ok(block)
            }
            Err(e) => {
                self.failures.fetch_add(1, Relaxed);
                Err(e)
            }
        }
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        self.live_bytes.fetch_sub(layout.size(), Relaxed);
        self.live_blocks.fetch_sub(1, Relaxed);
        // SAFETY: the caller guarantees `ptr` came from `self.allocate(layout)`, which got
        // it from `self.inner.allocate(layout)`.
        unsafe { self.inner.deallocate(ptr, layout) }
    }
}
