//! loom model of the pool protocol: remote frees racing the owner's allocation (rules 3
//! and 4 of the [parent module](super)).
//!
//! Run with `RUSTFLAGS="--cfg zeta_loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2
//! cargo test --release -p zeta-arena --lib`.
//!
//! A free block's link is a loom cell (`shard::FreeBlock`), and the shards' owner words
//! and remote stacks are loom atomics, so when the owner follows a link that a remote
//! free wrote, loom checks that the Release CAS in `Shard::push_remote` and the Acquire
//! swap in `Shard::take_remote` ordered the write before the read. The per-thread slot
//! (key and shard cache) is a `loom::thread_local!`, and under loom a thread's key is
//! its index in the model (`crate::sync::fixed_thread_key`, which explains why the
//! process-wide key counter and free list cannot be used): the same schedule always
//! makes the same probes and claims, as loom's replay requires.
//!
//! Every thread calls [`Interleave::point`] before each pool operation: loom 0.7's DPOR
//! remembers only the last access to each atomic, so a race between one thread's plain
//! load (`take_remote` starts with a Relaxed peek, `push_remote` with a Relaxed load) and
//! another thread's RMW is lost when a third load intervenes (tokio-rs/loom#166, #392).
//! Without the points, the one-free model ran a single interleaving.
//!
//! Pools here have two shards: the main thread claims one on its first allocation, the
//! first thread to free claims the other, and in the two-free model the last finds none
//! and frees remotely without a shard (the overflow shard's `parking_lot` mutex,
//! invisible to loom, is never taken: only allocation uses it, and only the main thread
//! allocates).

use core::alloc::Layout;
use core::ptr::NonNull;

use ::loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use ::loom::sync::Arc;
use ::loom::thread;

use super::PoolResource;
use crate::resource::{GlobalResource, MemoryResource};

/// Explicit scheduling points, so that loom permutes whole pool operations (see the
/// module documentation).
///
/// A Relaxed `fetch_add` is an RMW, which loom treats as dependent on every other access
/// to the counter, so each pair of operations from different threads is explored in both
/// orders. Being Relaxed (and no thread here issuing a Release fence), it creates no
/// happens-before edge: it cannot hide a missing ordering in the pool.
#[derive(Clone)]
struct Interleave(Arc<AtomicUsize>);

impl Interleave {
    fn new() -> Self {
        Self(Arc::new(AtomicUsize::new(0)))
    }

    /// A point where loom may switch to any other thread.
    fn point(&self) {
        // Relaxed: only the scheduling point matters, never the value (see above).
        self.0.fetch_add(1, Relaxed);
    }
}

/// A pooled block handed to another thread to free.
struct Block(NonNull<u8>);

// SAFETY: the block is moved to the freeing thread and the main thread does not touch
// it afterwards; a pooled block may be freed on any thread (`PoolResource` is `Sync`).
unsafe impl Send for Block {}

/// The layout of every block in the models: one class, so every free meets every
/// allocation on the same stacks.
const LAYOUT: Layout = Layout::new::<[u64; 2]>();

fn pool() -> Arc<PoolResource> {
    Arc::new(PoolResource::with_shards(GlobalResource, 2).expect("two shards"))
}

fn allocate(pool: &PoolResource) -> NonNull<u8> {
    pool.allocate(LAYOUT).expect("the global allocator failed")
}

/// Frees `block` on a new loom thread: a remote free, since the main thread's shard
/// carved it.
fn free_remotely(
    pool: &Arc<PoolResource>,
    block: NonNull<u8>,
    sched: &Interleave,
) -> thread::JoinHandle<()> {
    let (pool, block, sched) = (Arc::clone(pool), Block(block), sched.clone());
    thread::spawn(move || {
        let Block(block) = block;
        sched.point();
        // SAFETY: `block` came from `pool.allocate(LAYOUT)` on the main thread, which
        // handed it over and never uses it again; it is freed once, here.
        unsafe { pool.deallocate(block, LAYOUT) };
    })
}

/// Asserts that no two of `blocks` (all live at once) are the same.
fn assert_distinct(blocks: &[NonNull<u8>]) {
    for (i, a) in blocks.iter().enumerate() {
        for b in &blocks[i + 1..] {
            assert_ne!(a, b, "two live blocks at one address: {blocks:?}");
        }
    }
}

/// Frees blocks the main thread owns (a local free).
fn free_all(pool: &PoolResource, blocks: &[NonNull<u8>]) {
    for &block in blocks {
        // SAFETY: every block came from `pool.allocate(LAYOUT)`, is live, and is freed
        // once: the callers pass each live block exactly once.
        unsafe { pool.deallocate(block, LAYOUT) };
    }
}

/// The main thread allocates A, another thread frees it while main allocates twice more.
///
/// Asserts, for every interleaving: the blocks main holds at once are distinct (A may
/// come back during the race, when the remote free was published before main's take);
/// after the join, one more allocation is enough for A to have come back through the
/// remote stack, exactly once.
#[test]
fn remote_free_races_owner_allocation() {
    ::loom::model(|| {
        let pool = pool();
        let sched = Interleave::new();
        let a = allocate(&pool);
        let remote = free_remotely(&pool, a, &sched);

        sched.point();
        let b = allocate(&pool);
        sched.point();
        let c = allocate(&pool);
        assert_ne!(b, c, "two live blocks at one address");
        remote.join().expect("remote free panicked");

        // If neither B nor C is A, A waits on the remote stack, and the join made the
        // push visible: the local list is empty (B and C emptied or bypassed it), so
        // this allocation takes the remote stack.
        let d = allocate(&pool);
        let held = [b, c, d];
        assert_distinct(&held);
        assert_eq!(
            held.iter().filter(|&&block| block == a).count(),
            1,
            "A came back through the remote stack: {a:?} in {held:?}"
        );
        free_all(&pool, &held);
    });
}

/// Two threads free one block each onto the same remote stack while the owner
/// allocates: the owner's Acquire swap must see both links, the second push continuing
/// the release sequence of the first.
///
/// Asserts: live blocks are distinct; after the join, two allocations are enough for
/// both freed blocks to have come back, each exactly once.
#[test]
fn two_remote_frees_race_owner_allocation() {
    ::loom::model(|| {
        let pool = pool();
        let sched = Interleave::new();
        let a1 = allocate(&pool);
        let a2 = allocate(&pool);
        let remotes = [
            free_remotely(&pool, a1, &sched),
            free_remotely(&pool, a2, &sched),
        ];

        sched.point();
        let b = allocate(&pool);
        for remote in remotes {
            remote.join().expect("remote free panicked");
        }
        // Whatever B took, at most two freed blocks wait (on the remote stack, or on the
        // local list after B took the stack): two allocations get them both.
        let c = allocate(&pool);
        let d = allocate(&pool);
        let held = [b, c, d];
        assert_distinct(&held);
        for freed in [a1, a2] {
            assert_eq!(
                held.iter().filter(|&&block| block == freed).count(),
                1,
                "{freed:?} came back: {held:?}"
            );
        }
        free_all(&pool, &held);
    });
}
