//! Memory resources for zeta: where actors and messages live.
//!
//! zeta never decides for its users where memory comes from. Every allocation it makes
//! on their behalf goes through a [`MemoryResource`], the Rust counterpart of C++'s
//! `std::pmr::memory_resource`:
//!
//! - [`GlobalResource`]: the process's global allocator.
//! - [`MonotonicResource`]: a bump arena on bumpalo. Allocation is a pointer increment,
//!   single frees do nothing, and [`reset`](MonotonicResource::reset) or drop frees
//!   everything at once. It never runs destructors: whoever places a value drops it.
//! - [`PoolResource`]: size-class free lists with one shard per thread. Allocation and
//!   same-thread frees touch no shared word; a block freed on another thread goes back
//!   with one lock-free push that its owner takes whole. This is where message nodes
//!   live: in a steady state it makes no call to the allocator beneath it. Its
//!   [`PoolHandle`] ([`MemoryResource::pool_handle`]) reaches the same fast paths
//!   without a dynamic call when the pool is held as `dyn MemoryResource` (as an
//!   actor's memory is), so a node's size class is computed where its layout is known.
//! - [`NullResource`]: never has memory; for error paths.
//! - [`CountingResource`]: wraps any resource and counts live, peak and total blocks and
//!   bytes; the tool for leak tests.
//! - [`ResourceAllocator`]: any resource as an `allocator_api2` `Allocator`, so that
//!   collections inside an actor draw from the actor's memory.
//!
//! The trait is `unsafe` to implement: code that places values in the blocks relies on
//! them being valid, aligned and disjoint.
//!
//! # Example
//!
//! A pool counted for leaks, and a vector that grows inside it:
//!
//! ```
//! use allocator_api2::vec::Vec;
//! use zeta_arena::{CountingResource, PoolResource, ResourceAllocator};
//!
//! let pool = CountingResource::new(PoolResource::new());
//! {
//!     let mut prices: Vec<u64, _> = Vec::new_in(ResourceAllocator::new(&pool));
//!     for tick in 0..1_000u64 {
//!         prices.push(tick * 3);
//!     }
//!     assert_eq!(prices[999], 2997);
//!     assert_eq!(pool.live_blocks(), 1, "one buffer, regrown in place of the old");
//! }
//! assert_eq!(pool.live_blocks(), 0, "nothing leaked");
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

mod allocator;
mod counting;
mod monotonic;
pub mod pool;
mod resource;
mod sync;

pub use allocator::ResourceAllocator;
pub use counting::{CountingResource, CountingStats};
pub use monotonic::MonotonicResource;
pub use pool::{PoolConfigError, PoolHandle, PoolResource};
pub use resource::{AllocError, GlobalResource, MemoryResource, NullResource};
