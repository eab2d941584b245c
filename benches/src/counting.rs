//! A global allocator that counts, for the benches that assert "no allocation".
//!
//! [`CountingAlloc`] forwards every call to the system allocator and, while counting is
//! on, counts allocations and reallocations (not frees). Counting is on only inside
//! [`global_allocations`]; otherwise its cost is one relaxed load of a flag per
//! allocation, the same for every candidate of a bench.
//!
//! The allocator is a library item, but each bench binary installs it itself (a global
//! allocator is per binary):
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: zeta_bench::counting::CountingAlloc = zeta_bench::counting::CountingAlloc;
//! ```
//!
//! In a binary that does not install it, [`global_allocations`] returns 0 whatever the
//! work allocates; [`installed`] tells the two cases apart, so that a bench can refuse to
//! assert "zero allocations" vacuously.

use std::alloc::{GlobalAlloc, Layout, System as SystemAlloc};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The system allocator, counting allocations (and reallocations) while
/// [`global_allocations`] runs.
///
/// Install it with `#[global_allocator]` in the bench binary (see the module doc).
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingAlloc;

/// Whether [`CountingAlloc`] counts; set only by [`global_allocations`].
static COUNTING: AtomicBool = AtomicBool::new(false);
/// Allocations (and reallocations) counted so far.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

#[inline(always)]
fn count_allocation() {
    // Relaxed, both: see `global_allocations` for why the counted window is exact for
    // the allocations it is meant to see.
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator, which upholds
// `GlobalAlloc`'s contract; counting touches only two static atomics and never
// allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: the caller's contract for `alloc` is passed on.
        unsafe { SystemAlloc.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on.
        unsafe { SystemAlloc.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: the caller's contract for `realloc` is passed on.
        unsafe { SystemAlloc.realloc(ptr, layout, new_size) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on.
        unsafe { SystemAlloc.dealloc(ptr, layout) }
    }
}

/// Global allocations made by the whole process while `work` runs.
///
/// `work` must wait for everything it starts on other threads (it does: each operation
/// ends when the measuring thread has the answer). Relaxed is then exact for what is
/// counted: the store of `true` comes before the measuring thread's first send, whose
/// hand-off to a worker (the inbox push and take, the scheduler's queue) orders it
/// before that worker's loads of the flag; and a worker's counted allocation comes
/// before the reply or message that ends the operation, which orders it before the
/// final load here. A worker's allocation after the last hand-off (while going to sleep)
/// may or may not be counted: the one-time ones (a thread's first park) are done in
/// warm-up, before counting.
///
/// Counts nothing unless [`CountingAlloc`] is the binary's global allocator (see
/// [`installed`]). Not reentrant: two overlapping calls would each see the other's
/// allocations and the first to return would stop the count of the second.
pub fn global_allocations(work: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    work();
    COUNTING.store(false, Ordering::Relaxed);
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

/// Whether [`CountingAlloc`] is this binary's global allocator: counts one boxed value.
///
/// A bench that asserts "no global allocation" calls this first, since without the
/// allocator every count is 0.
pub fn installed() -> bool {
    global_allocations(|| drop(black_box(Box::new(black_box(1u64))))) > 0
}
