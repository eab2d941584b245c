//! Cost of an allocate + free of a message-sized block through `MemoryResource`, on one
//! thread and with the free on another thread.
//!
//! # What is measured
//!
//! Two block sizes: 48 B (`[u64; 6]`, a small message node; the pool serves it from its
//! 64 B class) and 256 B. Each block gets one 8-byte write after allocation, as a
//! message would, so that no candidate gains from never touching its blocks. Candidates:
//!
//! - `PoolResource`: zeta's pool on the global allocator, warmed (its chunks carved
//!   before the clock starts);
//! - `GlobalResource`: the system allocator behind `std::alloc` (glibc malloc, with its
//!   per-thread cache, on Linux);
//! - `mutex-freelist`: one `parking_lot::Mutex<Vec<NonNull<u8>>>` of freed blocks per
//!   layout over the global allocator: the simplest thread-safe pool, one lock per
//!   operation (uncontended on one thread, contended across two).
//!
//! - `pool/same-thread/<candidate>/<size>-x<batch>`: one thread allocates `batch` blocks,
//!   then frees them in allocation order; batch 1 is the LIFO best case of every
//!   allocator, batch 64 a burst of messages in flight. The timed loop contains only the
//!   resource's `allocate` / `deallocate`, the write, and pushes into a reused `Vec`.
//! - `pool/cross-thread/<candidate>/<size>`: the measuring thread allocates
//!   [`PER_ROUND`] blocks and hands them, in batches of [`BATCH`], to a freeing thread
//!   that deallocates every one, the message pattern (sender allocates, handler frees).
//!   Batches travel through a bounded crossbeam channel and come back empty through
//!   another, [`IN_FLIGHT`] batches in circulation, both sides polling with the same
//!   spin-then-yield [`Backoff`]; batch buffers are reused, so nothing but the candidate
//!   allocates. One iteration is one round, timed from the release of the already-running
//!   freeing thread ([`run_rounds`]) until every batch is back, that is until every block
//!   of the round is freed. The hand-off (two channel operations per 64 blocks) is the
//!   same for every candidate. For the pool this is its remote path: frees pushed onto
//!   the allocating thread's shard, which takes them back whole when its local list runs
//!   dry. Needs two idle cores; on fewer it measures time-slicing.
//!
//! # How to read it
//!
//! `Throughput::Elements` is the number of blocks per iteration, so the `thrpt` line is
//! allocate+free pairs per second for every shape; ns per block = 1000 / (Melem/s), or
//! `time / batch` (`time / PER_ROUND` across threads). Compare candidates within one
//! group of one run on one machine; absolute figures move with the machine and its load.
//!
//! Baselines: `GlobalResource` is what zeta would pay without a pool, `mutex-freelist`
//! what a naive pool would pay. Same-thread, all three are free lists of recently freed
//! blocks; the difference is the bookkeeping around them (size lookup, thread-local
//! access, lock). Across threads the candidates differ in how a free reaches the block's
//! owner: the system allocator's remote free path, a lock shared with the allocating
//! thread, or for the pool one CAS per free and one swap per refill. The cross-thread
//! figure is the one that matters for message traffic. A regression is `PoolResource`
//! losing ground against the baselines of the same run.
//!
//! The write into each block and the reused `Vec` are the same for every candidate;
//! the figures are not pure allocator cost, but their differences are.

use core::alloc::Layout;
use core::ptr::NonNull;
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use parking_lot::Mutex;
use zeta_arena::{AllocError, GlobalResource, MemoryResource, PoolResource};
use zeta_bench::{run_rounds, Backoff, StartGate};

/// Blocks per hand-off in the cross-thread group.
const BATCH: usize = 64;
/// Batches in circulation between the two threads.
const IN_FLIGHT: usize = 4;
/// Blocks allocated and freed per cross-thread round.
const PER_ROUND: usize = 256 * BATCH;

/// The block sizes, named for the benchmark ids.
fn layouts() -> [(&'static str, Layout); 2] {
    [
        ("48B", Layout::new::<[u64; 6]>()),
        ("256B", Layout::new::<[u64; 32]>()),
    ]
}

/// A block address that may cross threads.
struct Block(NonNull<u8>);

// SAFETY: a `Block` (neither `Copy` nor `Clone`) solely owns one allocated block, so
// sending it moves the block and no other thread keeps access; every resource here is
// `Sync`, so the receiving thread may free it.
unsafe impl Send for Block {}

/// Baseline: mutex-protected free lists of blocks, one per served layout, over the
/// global allocator. Other layouts go straight to the global allocator.
struct MutexFreeList {
    lists: Box<[(Layout, Mutex<Vec<Block>>)]>,
}

impl MutexFreeList {
    fn new(layouts: impl IntoIterator<Item = Layout>) -> Self {
        let lists = layouts
            .into_iter()
            .map(|layout| (layout, Mutex::new(Vec::with_capacity(PER_ROUND))))
            .collect();
        Self { lists }
    }

    #[inline]
    fn list(&self, layout: Layout) -> Option<&Mutex<Vec<Block>>> {
        self.lists
            .iter()
            .find(|(served, _)| *served == layout)
            .map(|(_, list)| list)
    }
}

// SAFETY: blocks come from `GlobalResource` (which upholds the contract); a served block
// is either handed out or on its layout's list, never both (`deallocate` pushes only
// blocks the caller owns, `allocate` pops each once under the lock); listed blocks stay
// valid until `Drop` frees them.
unsafe impl MemoryResource for MutexFreeList {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        // The guard is a temporary of this statement: the lock is released here.
        let popped = self.list(layout).and_then(|list| list.lock().pop());
        match popped {
            Some(Block(block)) => Ok(block),
            None => GlobalResource.allocate(layout),
        }
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        match self.list(layout) {
            Some(list) => list.lock().push(Block(ptr)),
            // SAFETY: a block of a layout without a list came from
            // `GlobalResource.allocate(layout)`, and the caller returns it once.
            None => unsafe { GlobalResource.deallocate(ptr, layout) },
        }
    }
}

impl Drop for MutexFreeList {
    fn drop(&mut self) {
        for (layout, list) in self.lists.iter_mut() {
            for Block(block) in list.get_mut().drain(..) {
                // SAFETY: blocks on this list came from
                // `GlobalResource.allocate(*layout)`, are owned by the list (their users
                // gave them back), and leave it here, once.
                unsafe { GlobalResource.deallocate(block, *layout) };
            }
        }
    }
}

/// Allocates a block and writes its first word, as a sender writes its message.
#[inline]
fn allocate_touched<R: MemoryResource>(resource: &R, layout: Layout, tag: usize) -> NonNull<u8> {
    let block = match resource.allocate(layout) {
        Ok(block) => block,
        Err(AllocError) => panic!("out of memory for {layout:?}"),
    };
    // SAFETY: the block is fresh, ours alone, valid for `layout.size()` ≥ 8 bytes and
    // aligned to `layout.align()` = 8 (resource contract; both layouts are `u64` arrays).
    unsafe { block.cast::<usize>().as_ptr().write(tag) };
    black_box(block)
}

fn bench_same_thread<R: MemoryResource>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    resource: &R,
) {
    let mut blocks: Vec<NonNull<u8>> = Vec::with_capacity(BATCH);
    for (size, layout) in layouts() {
        for batch in [1, BATCH] {
            group.throughput(Throughput::Elements(batch as u64));
            let id = BenchmarkId::new(name, format!("{size}-x{batch}"));
            group.bench_function(id, |b| {
                b.iter(|| {
                    for tag in 0..batch {
                        blocks.push(allocate_touched(resource, layout, tag));
                    }
                    for block in blocks.drain(..) {
                        // SAFETY: `block` came from `resource.allocate(layout)` just above
                        // and leaves `blocks` here, so it is freed exactly once.
                        unsafe { resource.deallocate(block, layout) };
                    }
                });
            });
        }
    }
}

fn same_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool/same-thread");
    let pool = PoolResource::new();
    warm(&pool);
    bench_same_thread(&mut group, "PoolResource", &pool);
    bench_same_thread(&mut group, "GlobalResource", &GlobalResource);
    let freelist = MutexFreeList::new(layouts().map(|(_, layout)| layout));
    bench_same_thread(&mut group, "mutex-freelist", &freelist);
    group.finish();
}

/// Carves chunks for both sizes on this thread, so growth is not measured.
fn warm(pool: &PoolResource) {
    for (_, layout) in layouts() {
        let blocks: Vec<_> = (0..PER_ROUND)
            .map(|tag| allocate_touched(pool, layout, tag))
            .collect();
        for block in blocks {
            // SAFETY: from `pool.allocate(layout)` above, freed once.
            unsafe { pool.deallocate(block, layout) };
        }
    }
}

/// Waits for the next batch on `channel`, polling with the shared backoff.
#[inline]
fn recv_polling<T>(channel: &Receiver<T>) -> T {
    let mut backoff = Backoff::new();
    loop {
        match channel.try_recv() {
            Ok(value) => return value,
            Err(TryRecvError::Empty) => backoff.snooze(),
            Err(TryRecvError::Disconnected) => unreachable!("both ends live for the bench"),
        }
    }
}

/// The freeing thread's side of a cross-thread round: frees the [`PER_ROUND`] blocks
/// it is handed, batch by batch, and sends each emptied batch buffer back.
fn free_round<R: MemoryResource>(
    resource: &R,
    layout: Layout,
    full: &Receiver<Vec<Block>>,
    empty: &Sender<Vec<Block>>,
) {
    for _ in 0..PER_ROUND / BATCH {
        let mut batch = recv_polling(full);
        for Block(block) in batch.drain(..) {
            // SAFETY: the allocating thread got `block` from `resource.allocate(layout)`
            // and moved it to us in the batch; it leaves the batch here, so it is freed
            // exactly once.
            unsafe { resource.deallocate(block, layout) };
        }
        if empty.try_send(batch).is_err() {
            unreachable!("IN_FLIGHT batch buffers exist and the channel holds them all");
        }
    }
}

/// The measuring thread's side of a cross-thread round: opens the round, allocates
/// [`PER_ROUND`] blocks into batches and hands them over, and stops the clock when every
/// batch buffer is back, that is when the other thread has freed every block.
fn allocate_round<R: MemoryResource>(
    gate: &StartGate,
    resource: &R,
    layout: Layout,
    full: &Sender<Vec<Block>>,
    empty: &Receiver<Vec<Block>>,
    spare: &mut Vec<Vec<Block>>,
) -> Duration {
    let start = gate.open();
    for _ in 0..PER_ROUND / BATCH {
        let mut batch = match spare.pop() {
            Some(batch) => batch,
            None => recv_polling(empty),
        };
        for tag in 0..BATCH {
            batch.push(Block(allocate_touched(resource, layout, tag)));
        }
        if full.try_send(batch).is_err() {
            unreachable!("IN_FLIGHT batch buffers exist and the channel holds them all");
        }
    }
    while spare.len() < IN_FLIGHT {
        spare.push(recv_polling(empty));
    }
    start.elapsed()
}

fn bench_cross_thread<R: MemoryResource + Sync>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    resource: &R,
) {
    for (size, layout) in layouts() {
        let (full_tx, full_rx) = crossbeam_channel::bounded(IN_FLIGHT);
        let (empty_tx, empty_rx) = crossbeam_channel::bounded(IN_FLIGHT);
        let mut spare: Vec<Vec<Block>> =
            (0..IN_FLIGHT).map(|_| Vec::with_capacity(BATCH)).collect();
        run_rounds(
            1,
            |_| free_round(resource, layout, &full_rx, &empty_tx),
            |gate| {
                // Warm: for the pool, the remote path cycling and the chunks carved.
                allocate_round(gate, resource, layout, &full_tx, &empty_rx, &mut spare);
                group.bench_function(BenchmarkId::new(name, size), |b| {
                    b.iter_custom(|iters| {
                        (0..iters)
                            .map(|_| {
                                allocate_round(
                                    gate, resource, layout, &full_tx, &empty_rx, &mut spare,
                                )
                            })
                            .sum()
                    });
                });
            },
        );
        // Every round ended with all batches back and empty: no block is left unfreed.
        assert!(spare.iter().all(Vec::is_empty) && spare.len() == IN_FLIGHT);
    }
}

fn cross_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool/cross-thread");
    group.throughput(Throughput::Elements(PER_ROUND as u64));
    bench_cross_thread(&mut group, "PoolResource", &PoolResource::new());
    bench_cross_thread(&mut group, "GlobalResource", &GlobalResource);
    let freelist = MutexFreeList::new(layouts().map(|(_, layout)| layout));
    bench_cross_thread(&mut group, "mutex-freelist", &freelist);
    group.finish();
}

fn main() {
    let mut criterion = zeta_bench::criterion();
    same_thread(&mut criterion);
    cross_thread(&mut criterion);
    criterion.final_summary();
}
