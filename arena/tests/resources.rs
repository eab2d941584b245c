//! Smoke and model tests for every memory resource, and the allocator adapter.

// These tests run real threads; loom models live in the crates and in loom-tests/.
#![cfg(not(zeta_loom))]

use core::alloc::Layout;
use core::ptr::NonNull;

use allocator_api2::vec::Vec as ApiVec;
use zeta_arena::pool::MAX_SHARDS;
use zeta_arena::{
    AllocError, CountingResource, GlobalResource, MemoryResource, MonotonicResource, NullResource,
    PoolConfigError, PoolResource, ResourceAllocator,
};

/// Allocates `layout`, checks the alignment, fills the block with `fill`.
fn alloc_filled(resource: &dyn MemoryResource, layout: Layout, fill: u8) -> NonNull<u8> {
    let block = resource.allocate(layout).expect("allocation");
    assert_eq!(
        block.as_ptr() as usize % layout.align(),
        0,
        "misaligned for {layout:?}"
    );
    // SAFETY: the block is valid for `layout.size()` bytes (resource contract).
    unsafe { block.as_ptr().write_bytes(fill, layout.size()) };
    block
}

/// Checks that the block still holds `fill` everywhere (no other block overlapped it).
fn assert_filled(block: NonNull<u8>, layout: Layout, fill: u8) {
    // SAFETY: the block is live and `layout.size()` bytes long.
    let bytes = unsafe { core::slice::from_raw_parts(block.as_ptr(), layout.size()) };
    assert!(
        bytes.iter().all(|&b| b == fill),
        "block {block:p} was overwritten"
    );
}

const LAYOUTS: &[(usize, usize)] = &[
    (1, 1),
    (8, 8),
    (24, 8),
    (40, 8),
    (64, 16),
    (100, 4),
    (128, 64),
    (500, 8),
    (4096, 8),
    (4097, 8),
    (64, 128),
    (10_000, 4096),
];

fn each_layout() -> impl Iterator<Item = Layout> {
    LAYOUTS
        .iter()
        .map(|&(size, align)| Layout::from_size_align(size, align).unwrap())
}

/// Every resource: aligned, disjoint blocks that keep their contents; zero-sized ok.
fn exercise(resource: &dyn MemoryResource) {
    let mut live = Vec::new();
    for round in 0..3u8 {
        for (i, layout) in each_layout().enumerate() {
            let fill = round.wrapping_mul(31).wrapping_add(i as u8);
            live.push((alloc_filled(resource, layout, fill), layout, fill));
        }
    }
    for &(block, layout, fill) in &live {
        assert_filled(block, layout, fill);
    }
    for (block, layout, _) in live {
        // SAFETY: allocated above with this layout, freed once.
        unsafe { resource.deallocate(block, layout) };
    }
    let zst = Layout::from_size_align(0, 32).unwrap();
    let empty = resource.allocate(zst).unwrap();
    assert_eq!(empty.as_ptr() as usize % 32, 0);
    // SAFETY: allocated above with this layout.
    unsafe { resource.deallocate(empty, zst) };
}

#[test]
fn global_resource_smoke() {
    exercise(&GlobalResource);
    assert!(GlobalResource.is_equal(&GlobalResource));
    assert!(!GlobalResource.is_equal(&PoolResource::new()));
}

#[test]
fn monotonic_resource_smoke_and_reset() {
    let arena = MonotonicResource::new();
    exercise(&arena);
    assert!(arena.is_equal(&arena));
    assert!(!arena.is_equal(&MonotonicResource::new()));

    // Reset frees everything at once and reuses the chunk: the same workload again
    // reserves no new memory.
    let mut arena = MonotonicResource::with_capacity(16 * 1024);
    let layout = Layout::new::<[u64; 4]>();
    let fill = |arena: &MonotonicResource| {
        let blocks: Vec<_> = (0..200)
            .map(|i| alloc_filled(arena, layout, i as u8))
            .collect();
        for (i, &block) in blocks.iter().enumerate() {
            assert_filled(block, layout, i as u8);
        }
    };
    fill(&arena);
    let reserved = arena.allocated_bytes();
    assert!(reserved >= 200 * 32);
    arena.reset();
    fill(&arena);
    assert_eq!(arena.allocated_bytes(), reserved);
}

#[test]
fn pool_resource_smoke() {
    let pool = PoolResource::new();
    exercise(&pool);
    assert!(pool.is_equal(&pool));
    assert!(!pool.is_equal(&PoolResource::new()));
}

#[test]
fn pool_reuses_freed_blocks_per_class() {
    let pool = PoolResource::new();
    let layout = Layout::new::<[u64; 5]>();
    let a = pool.allocate(layout).unwrap();
    let b = pool.allocate(layout).unwrap();
    // SAFETY: both from this pool with this layout, freed once.
    unsafe {
        pool.deallocate(a, layout);
        pool.deallocate(b, layout);
    }
    // LIFO reuse on the owner's local list.
    assert_eq!(pool.allocate(layout).unwrap(), b);
    assert_eq!(pool.allocate(layout).unwrap(), a);
    // A different class does not get those blocks.
    let other = pool.allocate(Layout::new::<[u64; 16]>()).unwrap();
    assert!(other != a && other != b);
    assert_eq!(pool.chunk_count(), 1);
}

#[test]
fn pool_sends_large_and_overaligned_layouts_upstream() {
    let pool = PoolResource::with_upstream(CountingResource::new(GlobalResource));
    let big = Layout::from_size_align(8192, 8).unwrap();
    let aligned = Layout::from_size_align(64, 128).unwrap();
    let a = pool.allocate(big).unwrap();
    let b = pool.allocate(aligned).unwrap();
    assert_eq!(b.as_ptr() as usize % 128, 0);
    assert_eq!(
        pool.upstream().live_blocks(),
        2,
        "no chunk, two direct blocks"
    );
    // SAFETY: both from this pool with these layouts.
    unsafe {
        pool.deallocate(a, big);
        pool.deallocate(b, aligned);
    }
    assert_eq!(pool.upstream().live_blocks(), 0);
}

#[test]
fn pool_returns_every_chunk_to_upstream_on_drop() {
    let upstream = CountingResource::new(GlobalResource);
    {
        let pool = PoolResource::with_shards(&upstream, 4).unwrap();
        let layout = Layout::new::<[u8; 1000]>();
        // Enough to need several chunks; never freed: dropping the pool reclaims them.
        let blocks: Vec<_> = (0..200).map(|_| pool.allocate(layout).unwrap()).collect();
        assert!(pool.chunk_count() >= 3);
        assert_eq!(upstream.live_blocks(), pool.chunk_count());
        drop(blocks);
    }
    assert_eq!(upstream.live_blocks(), 0);
    assert_eq!(upstream.live_bytes(), 0);
}

#[test]
fn pool_rejects_zero_shards() {
    let err = PoolResource::with_shards(GlobalResource, 0).unwrap_err();
    assert_eq!(err, PoolConfigError::ZeroShards);
    assert_eq!(err.to_string(), "a PoolResource needs at least one shard");
}

/// A shard count that cannot be allocated is an error, not an abort (1 << 40 shards
/// used to ask the allocator for 256 TiB) or a panic (`usize::MAX` overflowed the
/// table's capacity).
#[test]
fn pool_rejects_more_than_max_shards() {
    for requested in [MAX_SHARDS + 1, 1 << 40, usize::MAX - 1, usize::MAX] {
        let err = PoolResource::with_shards(GlobalResource, requested).unwrap_err();
        assert_eq!(err, PoolConfigError::TooManyShards { requested });
        assert_eq!(
            err.to_string(),
            format!("a PoolResource has at most 4096 shards, not {requested}")
        );
    }
    let pool = PoolResource::with_shards(GlobalResource, MAX_SHARDS).unwrap();
    assert_eq!(pool.shard_count(), MAX_SHARDS);
    let layout = Layout::new::<u64>();
    let block = pool.allocate(layout).unwrap();
    // SAFETY: `block` came from this pool with this layout and is returned once.
    unsafe { pool.deallocate(block, layout) };
    let default = PoolResource::new().shard_count();
    assert!((16..=MAX_SHARDS).contains(&default), "{default} shards");
}

/// Single thread against a model: random allocate/free sequences, every live block
/// keeps its own fill byte (no two live blocks overlap), everything is returned.
#[test]
fn pool_single_thread_model() {
    let counting = CountingResource::new(GlobalResource);
    let pool = PoolResource::with_upstream(&counting);
    // Seeded: the same sequence on every run.
    let mut rng = fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15);
    let mut live: Vec<(NonNull<u8>, Layout, u8)> = Vec::new();
    for step in 0..20_000u32 {
        if live.is_empty() || rng.u32(..3) != 0 {
            let size = rng.usize(1..=600);
            let align = 1 << rng.u32(..7);
            let layout = Layout::from_size_align(size, align).unwrap();
            live.push((alloc_filled(&pool, layout, step as u8), layout, step as u8));
        } else {
            let victim = rng.usize(..live.len());
            let (block, layout, fill) = live.swap_remove(victim);
            assert_filled(block, layout, fill);
            // SAFETY: allocated from this pool with this layout, freed once.
            unsafe { pool.deallocate(block, layout) };
        }
    }
    for (block, layout, fill) in live.drain(..) {
        assert_filled(block, layout, fill);
        // SAFETY: as above.
        unsafe { pool.deallocate(block, layout) };
    }
    drop(pool);
    assert_eq!(counting.live_blocks(), 0);
}

/// A `Vec` from allocator-api2 that grows inside each resource.
#[test]
fn allocator_adapter_grows_vec_in_resources() {
    let pool = CountingResource::new(PoolResource::new());
    {
        let mut v: ApiVec<u64, _> = ApiVec::new_in(ResourceAllocator::new(&pool));
        for i in 0..10_000u64 {
            v.push(i);
        }
        assert_eq!(v.iter().sum::<u64>(), 10_000 * 9_999 / 2);
        assert_eq!(pool.live_blocks(), 1);
        assert!(pool.stats().total_blocks > 5, "it grew by reallocating");
        v.truncate(10);
        v.shrink_to_fit();
        assert_eq!(v.len(), 10);
    }
    assert_eq!(pool.live_blocks(), 0);

    let arena = MonotonicResource::new();
    let mut words: ApiVec<&str, _> = ApiVec::new_in(ResourceAllocator::new(&arena));
    words.extend(["buy", "sell", "cancel"]);
    assert_eq!(words.join(" "), "buy sell cancel");

    let zst: ApiVec<(), _> = core::iter::repeat_n((), 5).fold(
        ApiVec::new_in(ResourceAllocator::new(&GlobalResource)),
        |mut v, x| {
            v.push(x);
            v
        },
    );
    assert_eq!(zst.len(), 5);
}

#[test]
fn allocation_failure_is_an_error_not_a_panic() {
    let counting = CountingResource::new(NullResource);
    assert_eq!(counting.allocate(Layout::new::<u64>()), Err(AllocError));
    assert_eq!(counting.stats().failures, 1);
    assert_eq!(counting.live_blocks(), 0);
    let pool = PoolResource::with_upstream(NullResource);
    assert_eq!(pool.allocate(Layout::new::<u64>()), Err(AllocError));
    let mut v: ApiVec<u8, _> = ApiVec::new_in(ResourceAllocator::new(&NullResource));
    assert!(v.try_reserve(10).is_err());
    assert_eq!(
        AllocError.to_string(),
        "memory resource could not allocate the requested layout"
    );
}

#[test]
fn counting_resource_tracks_peak_and_totals() {
    let counting = CountingResource::new(GlobalResource);
    let l64 = Layout::new::<[u8; 64]>();
    let l16 = Layout::new::<[u8; 16]>();
    let a = counting.allocate(l64).unwrap();
    let b = counting.allocate(l16).unwrap();
    // SAFETY: allocated above with these layouts.
    unsafe { counting.deallocate(a, l64) };
    let c = counting.allocate(l16).unwrap();
    let stats = counting.stats();
    assert_eq!(stats.live_blocks, 2);
    assert_eq!(stats.live_bytes, 32);
    assert_eq!(stats.peak_bytes, 80);
    assert_eq!(stats.total_blocks, 3);
    assert_eq!(stats.total_bytes, 96);
    // SAFETY: allocated above.
    unsafe {
        counting.deallocate(b, l16);
        counting.deallocate(c, l16);
    }
    assert_eq!(counting.stats().live_bytes, 0);
}

static_assertions::assert_impl_all!(PoolResource: Send, Sync);
static_assertions::assert_impl_all!(MonotonicResource: Send, Sync);
static_assertions::assert_impl_all!(CountingResource<PoolResource>: Send, Sync);
static_assertions::assert_impl_all!(ResourceAllocator<'static, PoolResource>: Send, Sync, Copy);
