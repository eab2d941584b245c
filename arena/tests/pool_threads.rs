//! Multi-thread tests of `PoolResource`: cross-thread frees, steady state without
//! growth, more threads than shards, and shard reuse after threads exit.

// These tests run real threads; loom models live in the crates and in loom-tests/.
#![cfg(not(zeta_loom))]

use core::alloc::Layout;
use core::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use zeta_arena::{CountingResource, GlobalResource, MemoryResource, PoolResource};

/// A block address that may cross threads.
#[derive(Clone, Copy)]
struct Block(NonNull<u8>);
// SAFETY: the tests hand each block to exactly one thread at a time.
unsafe impl Send for Block {}

const LAYOUT: Layout = Layout::new::<[u64; 6]>();

fn stamp(block: NonNull<u8>, value: u64) {
    // SAFETY: a live 48-byte block, aligned for u64.
    unsafe { block.cast::<[u64; 6]>().write([value; 6]) };
}

fn check(block: NonNull<u8>, value: u64) {
    // SAFETY: a live block stamped by `stamp`.
    let words = unsafe { block.cast::<[u64; 6]>().read() };
    assert_eq!(words, [value; 6], "block reused while live");
}

/// P producers allocate and stamp, one consumer checks and frees (remote frees).
/// Exact conservation: every block allocated is freed, and the upstream ends at zero.
#[test]
fn cross_thread_frees_conserve_blocks() {
    const PRODUCERS: u64 = 3;
    const PER: u64 = 50_000;
    let upstream = CountingResource::new(GlobalResource);
    let pool = PoolResource::with_upstream(&upstream);
    let (tx, rx) = mpsc::sync_channel::<(Block, u64)>(256);
    let freed = std::thread::scope(|s| {
        for p in 0..PRODUCERS {
            let tx = tx.clone();
            let pool = &pool;
            s.spawn(move || {
                for i in 0..PER {
                    let value = p << 32 | i;
                    let block = pool.allocate(LAYOUT).unwrap();
                    stamp(block, value);
                    tx.send((Block(block), value)).unwrap();
                }
            });
        }
        drop(tx);
        let mut freed = 0u64;
        for (Block(block), value) in rx {
            check(block, value);
            // SAFETY: allocated from `pool` with LAYOUT by a producer, freed once here.
            unsafe { pool.deallocate(block, LAYOUT) };
            freed += 1;
        }
        freed
    });
    assert_eq!(freed, PRODUCERS * PER);
    // In-flight blocks are bounded by the channel, so the pool stays small.
    assert!(pool.chunk_count() <= 4 * PRODUCERS as usize, "{pool:?}");
    drop(pool);
    assert_eq!(upstream.live_blocks(), 0);
}

/// A producer/consumer pair in a steady state stops taking chunks from upstream: blocks
/// cycle back to the producer's shard through its remote-free stack.
#[test]
fn steady_state_does_not_grow() {
    let pool = PoolResource::new();
    let (tx, rx) = mpsc::sync_channel::<Block>(64);
    let (back, done) = mpsc::channel::<usize>();
    std::thread::scope(|s| {
        let pool_ref = &pool;
        s.spawn(move || {
            for round in 0..40 {
                for _ in 0..10_000 {
                    tx.send(Block(pool_ref.allocate(LAYOUT).unwrap())).unwrap();
                }
                if round == 9 || round == 39 {
                    back.send(pool_ref.chunk_count()).unwrap();
                }
            }
        });
        for Block(block) in rx {
            // SAFETY: allocated from `pool` with LAYOUT, freed once.
            unsafe { pool.deallocate(block, LAYOUT) };
        }
    });
    let after_warmup = done.recv().unwrap();
    let at_end = done.recv().unwrap();
    assert_eq!(after_warmup, at_end, "the pool grew in a steady state");
}

/// More threads than shards: the extra ones share the overflow shard under its lock,
/// and everything stays correct.
#[test]
fn more_threads_than_shards() {
    let upstream = CountingResource::new(GlobalResource);
    let pool = PoolResource::with_shards(&upstream, 1).unwrap();
    let start = AtomicBool::new(false);
    let total = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (pool, start, total) = (&pool, &start, &total);
            s.spawn(move || {
                while !start.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                let mut mine = Vec::new();
                for i in 0..5_000u64 {
                    let block = pool.allocate(LAYOUT).unwrap();
                    stamp(block, t << 32 | i);
                    mine.push((block, t << 32 | i));
                    if i % 3 == 0 {
                        let (b, v) = mine.swap_remove(0);
                        check(b, v);
                        // SAFETY: allocated above, freed once.
                        unsafe { pool.deallocate(b, LAYOUT) };
                    }
                }
                for (b, v) in mine {
                    check(b, v);
                    // SAFETY: allocated above, freed once.
                    unsafe { pool.deallocate(b, LAYOUT) };
                }
                total.fetch_add(5_000, Ordering::Relaxed);
            });
        }
        start.store(true, Ordering::Release);
    });
    assert_eq!(total.load(Ordering::Relaxed), 20_000);
    drop(pool);
    assert_eq!(upstream.live_blocks(), 0);
}

/// Threads that exit hand their key, and so their shard and its free blocks, to the next
/// thread: a long succession of short-lived threads does not claim new shards or chunks.
#[test]
fn exited_threads_shards_are_reused() {
    let pool = PoolResource::with_shards(GlobalResource, 64).unwrap();
    for _ in 0..200 {
        std::thread::scope(|s| {
            s.spawn(|| {
                let blocks: Vec<_> = (0..100).map(|_| pool.allocate(LAYOUT).unwrap()).collect();
                for block in blocks {
                    // SAFETY: allocated above, freed once.
                    unsafe { pool.deallocate(block, LAYOUT) };
                }
            });
        });
    }
    // Without recycling, 200 threads would claim all 64 shards and then share the
    // overflow shard: 65 chunks. With it, one thread at a time reuses the last one's key
    // and shard; other tests' threads running in parallel in this binary can take a few
    // keys in between, hence the margin.
    assert!(pool.chunk_count() <= 32, "{pool:?}");
}

/// A thread-local destructor that runs after the thread's pool slot is gone (the thread
/// exiting, its key already handed on) still frees and allocates correctly, while the
/// next thread, which may hold that key now, works in the same shard: the exiting
/// thread must not use the shard's owner-only lists any more. Both orders of the two
/// destructors are run. In a debug build, a cached shard used without its key fails an
/// assertion in the pool.
#[test]
fn pool_use_in_a_late_thread_local_destructor() {
    use std::cell::Cell;
    use std::sync::OnceLock;

    static POOL: OnceLock<PoolResource> = OnceLock::new();
    /// Set by the next thread once it has allocated (so holds a key, maybe the old one).
    static NEXT_STARTED: AtomicBool = AtomicBool::new(false);

    struct Late(Cell<Option<Block>>);
    impl Drop for Late {
        fn drop(&mut self) {
            let pool = POOL.get().expect("set before the threads start");
            // Let the next thread take a key first (bounded: it may be slow to start).
            for _ in 0..10_000 {
                if NEXT_STARTED.load(Ordering::Acquire) {
                    break;
                }
                std::thread::yield_now();
            }
            if let Some(Block(block)) = self.0.take() {
                check(block, 7);
                // SAFETY: allocated by this thread below, freed once.
                unsafe { pool.deallocate(block, LAYOUT) };
            }
            let fresh = pool.allocate(LAYOUT).unwrap();
            stamp(fresh, 9);
            check(fresh, 9);
            // SAFETY: allocated just above, freed once.
            unsafe { pool.deallocate(fresh, LAYOUT) };
        }
    }
    thread_local! {
        static LATE: Late = const { Late(Cell::new(None)) };
    }

    let pool = POOL.get_or_init(|| PoolResource::with_shards(GlobalResource, 4).unwrap());
    for round in 0..40 {
        NEXT_STARTED.store(false, Ordering::Relaxed);
        let late_first = round % 2 == 0;
        let exiting = std::thread::spawn(move || {
            if late_first {
                // Registered before the pool's slot: destroyed after it (glibc runs
                // thread-local destructors in reverse order of registration).
                LATE.with(|_| {});
            }
            let block = pool.allocate(LAYOUT).unwrap();
            stamp(block, 7);
            LATE.with(|late| late.0.set(Some(Block(block))));
        });
        let next = std::thread::spawn(move || {
            let blocks: Vec<_> = (0..64).map(|_| pool.allocate(LAYOUT).unwrap()).collect();
            NEXT_STARTED.store(true, Ordering::Release);
            for (i, &block) in blocks.iter().enumerate() {
                stamp(block, i as u64);
            }
            for _ in 0..100 {
                let more: Vec<_> = (0..16).map(|_| pool.allocate(LAYOUT).unwrap()).collect();
                for &block in &more {
                    stamp(block, u64::MAX);
                }
                for block in more {
                    check(block, u64::MAX);
                    // SAFETY: allocated above, freed once.
                    unsafe { pool.deallocate(block, LAYOUT) };
                }
            }
            for (i, block) in blocks.into_iter().enumerate() {
                check(block, i as u64);
                // SAFETY: allocated above, freed once.
                unsafe { pool.deallocate(block, LAYOUT) };
            }
        });
        exiting.join().unwrap();
        next.join().unwrap();
    }
}

/// A pool handle allocates and frees the pool's own blocks, interchangeably with the
/// pool: a block from one is freed by the other and comes back; a layout the pool
/// does not serve, and a thread whose cached shard is not this pool's, get `None`
/// (and go through the pool); a free from another thread goes to the block's shard.
#[test]
fn pool_handle_shares_the_pools_blocks() {
    let upstream = CountingResource::new(GlobalResource);
    let pool = PoolResource::with_upstream(&upstream);
    let handle = pool.pool_handle().expect("a pool has a handle");
    let other = PoolResource::new();

    // No shard cached yet on this thread for `pool` (a fresh pool): the handle defers.
    assert!(handle.try_allocate(LAYOUT).is_none());
    let first = pool.allocate(LAYOUT).unwrap();
    // Now the thread's cache names its shard of `pool`.
    let a = handle.try_allocate(LAYOUT).expect("cached shard");
    stamp(a, 1);
    stamp(first, 2);
    // SAFETY: each block is this pool's, of LAYOUT, freed once.
    unsafe {
        pool.deallocate(a, LAYOUT);
        assert!(handle.try_deallocate(first, LAYOUT));
    }
    // The last freed is the first reused, through either path.
    assert_eq!(handle.try_allocate(LAYOUT), Some(first));
    assert_eq!(pool.allocate(LAYOUT).unwrap(), a);

    // Not pooled: too big.
    let big = Layout::from_size_align(1 << 20, 8).unwrap();
    assert!(handle.try_allocate(big).is_none());

    // Using another pool moves this thread's one-entry cache: the handle defers again.
    let o = other.allocate(LAYOUT).unwrap();
    assert!(handle.try_allocate(LAYOUT).is_none());

    // A free from another thread through the handle: to the block's shard's remote
    // stack, from which this thread's next allocations take it back.
    let moved = Block(first);
    std::thread::scope(|s| {
        s.spawn(move || {
            let moved = moved; // the whole `Block` (Send), not its field
            let Block(block) = moved;
            // SAFETY: this pool's block of LAYOUT, freed once.
            assert!(unsafe { handle.try_deallocate(block, LAYOUT) });
        });
    });
    let again: Vec<_> = (0..64).map(|_| pool.allocate(LAYOUT).unwrap()).collect();
    assert!(
        again.contains(&first),
        "the remote free came back to its shard"
    );

    // SAFETY: every block freed once, to the resource it came from.
    unsafe {
        other.deallocate(o, LAYOUT);
        pool.deallocate(a, LAYOUT);
        for block in again {
            pool.deallocate(block, LAYOUT);
        }
    }
    drop(pool);
    assert_eq!(upstream.live_blocks(), 0, "every chunk went back upstream");
}

/// A counting resource does not hand out its inner pool's handle: every block it gives
/// must be counted.
#[test]
fn a_counting_resource_has_no_pool_handle() {
    let counted = CountingResource::new(PoolResource::new());
    assert!(counted.pool_handle().is_none());
    assert!(counted.inner().pool_handle().is_some());
}
