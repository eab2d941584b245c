//! Cost per message of the mailbox path, against a `Mutex<VecDeque>` and crossbeam
//! channels.
//!
//! # What is measured
//!
//! One message is a `u64`. For `zeta-inbox` it travels the whole zeta path:
//! `Envelope::new_in(&pool, Priority::Normal, n)` from a warmed `PoolResource`,
//! `Inbox::push`, then on the reader's side `Cache::refill` (one `take_all` plus the
//! relink into arrival order), `Cache::pop` and `Envelope::into_payload`, which returns the
//! node to the pool. The baselines carry the bare `u64` (no node to allocate: that is the
//! point of comparing):
//!
//! - `mutex-vecdeque`: `parking_lot::Mutex<VecDeque<u64>>`, one lock per `push_back` and
//!   one per `pop_front` (capacity reserved up front, so no allocation once warm);
//! - `crossbeam-unbounded`: `crossbeam_channel::unbounded`, `send` / `try_recv` (it
//!   allocates one slot block per 31 messages, amortised into the figure);
//! - `crossbeam-bounded`: `crossbeam_channel::bounded(64)` (one producer only: a full
//!   bounded channel would block the producers, a different shape).
//!
//! The inbox is created with `Inbox::new_unblocked()`: the reader is deemed running for
//! the whole bench and never blocks, so every push returns `Enqueued::Queued` (anything
//! else panics). The block/unblock handshake, and the scheduling it triggers, is not
//! measured here.
//!
//! - `inbox/1-producer/<candidate>/<batch>`: one thread sends `batch` messages, then
//!   drains them all, per iteration; `batch` is 1 (no amortisation of the take: the
//!   worst case per message) and 64 (the take and the lock-free swap amortised over a
//!   burst). Single-threaded: this is the instruction path, with no cache line moving
//!   between cores.
//! - `inbox/2-producers/<candidate>`: two producer threads each send [`PER_PRODUCER`]
//!   messages as fast as they can, concurrently, while the measuring thread consumes
//!   them (polling with [`Backoff`]: spin, then yield; no candidate parks). One
//!   iteration is one round of `2 × PER_PRODUCER` messages, timed from the release of the
//!   two already-running producers (a spin handshake, [`run_rounds`]) to the reception of
//!   the last message. Threads are spawned once per candidate, outside the timing; the
//!   producers sleep between rounds and are awake before the clock starts. Included:
//!   allocation and push on the producers (with contention between them), take, pop and
//!   dispatch on the consumer, and for zeta the remote frees of nodes to the producers'
//!   pool shards and their reuse. This needs three cores to be a contention figure: on
//!   fewer, the three threads time-slice and the figure mostly measures the scheduler.
//!
//! # How to read it
//!
//! Every benchmark sets `Throughput::Elements(messages per iteration)`, so criterion's
//! `thrpt` line is messages per second for every candidate and shape; ns per message =
//! 1000 / (Melem/s), or `time / batch` (`time / (2 × PER_PRODUCER)` for two producers).
//! Compare candidates within one group of one run on one machine; absolute figures move
//! with the machine and its load, and the `change:` line criterion prints against a
//! saved run from another machine or day means nothing.
//!
//! The baselines are the yardstick, not competitors to beat at any price:
//!
//! - `zeta-inbox` does more per message than the baselines (a pool allocation and free,
//!   a vtable call on dispatch, the split by priority); the baselines show what a plain
//!   queue of the same `u64` costs on this machine;
//! - at batch 1 the take (one CAS) and the refill are paid per message, at batch 64 once
//!   per 64: the gap between the two shapes is the cost of the take;
//! - with two producers the mutex is contended on every operation, while the inbox costs
//!   one CAS per push and one swap per take, and its node frees cross threads.
//!
//! A regression is `zeta-inbox` losing ground against the baselines of the same run, not
//! a change of the absolute figures.
//!
//! Before measuring, [`check_no_leaks`] runs every shape once on a counting pool and
//! asserts that every node went back (a bench that leaks would measure a growing heap).

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use parking_lot::Mutex;
use zeta_arena::{CountingResource, MemoryResource, PoolResource};
use zeta_bench::{run_rounds, Backoff};
use zeta_mailbox::{Cache, Enqueued, Envelope, Inbox, Priority};

/// Batch shapes of the one-producer group: messages sent before the reader drains.
const BATCHES: [u64; 2] = [1, 64];
/// Messages each producer sends per round in the two-producer group.
const PER_PRODUCER: u64 = 8192;

/// One candidate queue: producers `send`, the single reader `receive`s.
trait Mailbox: Sync {
    /// The reader's private state (the zeta cache).
    type Reader;

    fn reader(&self) -> Self::Reader;

    /// Sends one message; never blocks in these shapes.
    fn send(&self, value: u64);

    /// Takes everything queued now, calls `sink` on each message in order, returns how
    /// many there were.
    fn receive(&self, reader: &mut Self::Reader, sink: &mut impl FnMut(u64)) -> u64;
}

/// The zeta path: pooled envelopes through a lock-free inbox into a cache.
struct ZetaInbox<'p, R> {
    pool: &'p R,
    inbox: Inbox<'p, u64>,
}

impl<'p, R: MemoryResource + Sync> ZetaInbox<'p, R> {
    fn new(pool: &'p R) -> Self {
        Self {
            pool,
            inbox: Inbox::new_unblocked(),
        }
    }
}

impl<'p, R: MemoryResource + Sync> Mailbox for ZetaInbox<'p, R> {
    type Reader = Cache<'p, u64>;

    fn reader(&self) -> Cache<'p, u64> {
        Cache::new()
    }

    #[inline]
    fn send(&self, value: u64) {
        let message = match Envelope::new_in(self.pool, Priority::Normal, value) {
            Ok(message) => message,
            Err(failed) => panic!("pool out of memory: {failed}"),
        };
        match self.inbox.push(message) {
            Enqueued::Queued => {}
            Enqueued::Unblocked => unreachable!("the reader never blocks in this bench"),
            Enqueued::Closed(back) => {
                drop(back);
                unreachable!("the inbox is never closed in this bench")
            }
        }
    }

    #[inline]
    fn receive(&self, cache: &mut Cache<'p, u64>, sink: &mut impl FnMut(u64)) -> u64 {
        cache.refill(&self.inbox);
        let mut received = 0;
        while let Some(message) = cache.pop() {
            sink(message.into_payload());
            received += 1;
        }
        received
    }
}

/// Baseline: a locked deque, one lock per push and per pop.
struct MutexDeque(Mutex<VecDeque<u64>>);

impl MutexDeque {
    fn new() -> Self {
        Self(Mutex::new(VecDeque::with_capacity(
            4 * PER_PRODUCER as usize,
        )))
    }
}

impl Mailbox for MutexDeque {
    type Reader = ();

    fn reader(&self) {}

    #[inline]
    fn send(&self, value: u64) {
        self.0.lock().push_back(value);
    }

    #[inline]
    fn receive(&self, _: &mut (), sink: &mut impl FnMut(u64)) -> u64 {
        let mut received = 0;
        loop {
            // The guard is a temporary of this statement: the lock is not held in `sink`.
            let next = self.0.lock().pop_front();
            match next {
                Some(value) => sink(value),
                None => return received,
            }
            received += 1;
        }
    }
}

/// Baseline: a crossbeam channel (bounded or unbounded).
struct Channel(Sender<u64>, Receiver<u64>);

impl Mailbox for Channel {
    type Reader = ();

    fn reader(&self) {}

    #[inline]
    fn send(&self, value: u64) {
        match self.0.try_send(value) {
            Ok(()) => {}
            Err(error) => panic!("a channel never fills or closes in this bench: {error}"),
        }
    }

    #[inline]
    fn receive(&self, _: &mut (), sink: &mut impl FnMut(u64)) -> u64 {
        let mut received = 0;
        loop {
            match self.1.try_recv() {
                Ok(value) => sink(value),
                Err(TryRecvError::Empty) => return received,
                Err(TryRecvError::Disconnected) => unreachable!("both ends live"),
            }
            received += 1;
        }
    }
}

/// One iteration of the one-producer shape: send `batch` messages, drain them.
#[inline]
fn send_then_drain<M: Mailbox>(mailbox: &M, reader: &mut M::Reader, batch: u64) {
    for n in 0..batch {
        mailbox.send(black_box(n));
    }
    let received = mailbox.receive(reader, &mut |value| {
        black_box(value);
    });
    assert_eq!(received, batch, "every message sent is received");
}

/// The consumer of a two-producer round: polls until `2 × PER_PRODUCER` messages came,
/// and checks by their sum that each arrived exactly once.
#[inline]
fn consume_round<M: Mailbox>(mailbox: &M, reader: &mut M::Reader) {
    let expected = 2 * PER_PRODUCER;
    let (mut received, mut sum) = (0, 0u64);
    let mut backoff = Backoff::new();
    while received < expected {
        let got = mailbox.receive(reader, &mut |value| sum = sum.wrapping_add(value));
        if got == 0 {
            backoff.snooze();
        } else {
            backoff.reset();
            received += got;
        }
    }
    assert_eq!(received, expected, "no message received twice");
    assert_eq!(sum, PER_PRODUCER * (PER_PRODUCER - 1), "every message once");
}

/// The producers' side of a round.
fn produce_round<M: Mailbox>(mailbox: &M) {
    for n in 0..PER_PRODUCER {
        mailbox.send(n);
    }
}

/// Runs `rounds` two-producer rounds outside criterion.
fn two_producer_rounds<M: Mailbox>(mailbox: &M, rounds: usize) {
    run_rounds(
        2,
        |_| produce_round(mailbox),
        |gate| {
            let mut reader = mailbox.reader();
            for _ in 0..rounds {
                gate.open();
                consume_round(mailbox, &mut reader);
            }
        },
    );
}

/// Runs every shape once with the zeta path on a counting pool and asserts that no node
/// is left allocated: every envelope was dispatched and returned its node.
fn check_no_leaks() {
    let counted = CountingResource::new(PoolResource::new());
    {
        let mailbox = ZetaInbox::new(&counted);
        let mut cache = mailbox.reader();
        for batch in BATCHES {
            send_then_drain(&mailbox, &mut cache, batch);
            assert_eq!(counted.live_blocks(), 0, "leak at batch {batch}");
        }
        two_producer_rounds(&mailbox, 2);
        assert_eq!(counted.live_blocks(), 0, "leak with two producers");
    }
    assert_eq!(counted.live_blocks(), 0, "leak at drop");
    assert!(counted.stats().total_blocks >= 4 * PER_PRODUCER as usize);
}

fn bench_one_producer<M: Mailbox>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    mailbox: &M,
) {
    let mut reader = mailbox.reader();
    for batch in BATCHES {
        group.throughput(Throughput::Elements(batch));
        group.bench_with_input(BenchmarkId::new(name, batch), &batch, |b, &batch| {
            b.iter(|| send_then_drain(mailbox, &mut reader, batch));
        });
    }
}

fn one_producer(c: &mut Criterion) {
    let mut group = c.benchmark_group("inbox/1-producer");

    let pool = PoolResource::new();
    let zeta = ZetaInbox::new(&pool);
    // Warm: claim this thread's shard and carve a chunk, so the first sample does not
    // pay for growth.
    send_then_drain(&zeta, &mut zeta.reader(), 256);
    bench_one_producer(&mut group, "zeta-inbox", &zeta);
    bench_one_producer(&mut group, "mutex-vecdeque", &MutexDeque::new());
    let (tx, rx) = crossbeam_channel::unbounded();
    bench_one_producer(&mut group, "crossbeam-unbounded", &Channel(tx, rx));
    let (tx, rx) = crossbeam_channel::bounded(64);
    bench_one_producer(&mut group, "crossbeam-bounded", &Channel(tx, rx));

    group.finish();
}

fn bench_two_producers<M: Mailbox>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    mailbox: &M,
) {
    run_rounds(
        2,
        |_| produce_round(mailbox),
        |gate| {
            let mut reader = mailbox.reader();
            // Warm, with the threads that will be measured: for zeta, their pool shards
            // claimed, chunks carved and remote frees cycling.
            for _ in 0..2 {
                gate.open();
                consume_round(mailbox, &mut reader);
            }
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = gate.open();
                        consume_round(mailbox, &mut reader);
                        total += start.elapsed();
                    }
                    total
                });
            });
        },
    );
}

fn two_producers(c: &mut Criterion) {
    let mut group = c.benchmark_group("inbox/2-producers");
    group.throughput(Throughput::Elements(2 * PER_PRODUCER));

    let pool = PoolResource::new();
    let zeta = ZetaInbox::new(&pool);
    bench_two_producers(&mut group, "zeta-inbox", &zeta);
    bench_two_producers(&mut group, "mutex-vecdeque", &MutexDeque::new());
    let (tx, rx) = crossbeam_channel::unbounded();
    bench_two_producers(&mut group, "crossbeam-unbounded", &Channel(tx, rx));

    group.finish();
}

fn main() {
    let mut criterion = zeta_bench::criterion();
    check_no_leaks();
    one_producer(&mut criterion);
    two_producers(&mut criterion);
    criterion.final_summary();
}
