//! zeta as a user sees it, in three shapes that programs built on actors are made of:
//! many threads feeding one actor (fan-in), one sender reaching many actors (broadcast,
//! fan-out), and messages passed from actor to actor around a ring (thread-ring).
//!
//! # What is measured
//!
//! Every figure is per message: the benchmarks use `iter_custom`, where one criterion
//! iteration is one message (one delivered message, one hop), and declare
//! `Throughput::Elements(1)`, so `time` is ns per message and `thrpt` messages per
//! second. Messages are run in rounds of thousands; what is inside the clock is said per
//! group. Actors and their messages live in a warmed `PoolResource`; every
//! `SharingScheduler` runs with `max_throughput(64)` and `spin_before_park(64)` (set
//! explicitly, so that a change of the defaults does not move the figures silently), and
//! is started, with its actors spawned and linked, before any clock starts. Only the
//! public API of `zeta` is used.
//!
//! - `patterns/fan-in/4-threads/<candidate>`: four threads that are not workers of the
//!   scheduler each send their share of a round of [`ROUND`] messages (`Data { sender,
//!   seq }`: a sender index and a sequence number) to one sink actor, as fast as they
//!   can, concurrently. The sender threads are spawned once per benchmark and wait at a
//!   [`StartGate`] ([`run_rounds`]): the clock starts when the measuring thread releases
//!   them, already awake and spinning, and stops when the measuring thread sees that
//!   the sink has handled every message of the round. For `zeta/<W>-worker` (a `SharingScheduler`
//!   with `W` = 1 or 2 workers) that is the whole path of each message: `Address::send`
//!   from an outside thread (a node from the sender's pool shard, a CAS push on the
//!   sink's inbox, contended by the four senders; when the push unblocks the inbox, the
//!   push of the sink on the scheduler's injector and `notify_one`, which wakes the
//!   worker if it parked), the worker's resume (take the whole inbox with one swap,
//!   reverse it, dispatch up to 64 messages, free each node to its sender's shard with a
//!   remote push), and in the end the sink's reply to the round's request, which the
//!   measuring thread polls with [`Backoff`] (spin, then yield). Before opening the gate
//!   (outside the clock) the measuring thread `ask`s the sink `Round { expect }`, which
//!   the sink handles before any of the round's messages (its push comes first); after
//!   stopping the clock it waits for every sender to be done with the round (one with
//!   nothing to send may not have started) before it sets up the next one. The
//!   baseline `crossbeam-unbounded` is the same shape with a plain channel and the same
//!   thread count: `crossbeam_channel::unbounded()`, four producer threads calling
//!   `send((sender, seq))`, and one consumer thread (in place of the worker) that takes
//!   them with `try_recv`, blocking in `recv_timeout` when the channel is empty (it
//!   parks, as zeta's worker does after its spin), and counts the round done; the
//!   measuring thread waits for that count with [`Backoff`]. Unbounded because zeta's
//!   inbox is unbounded too: a bounded channel would block the producers, another shape.
//!   It allocates one block of 31 slots per 31 messages, which its printed allocation
//!   count shows.
//! - `patterns/broadcast/<N>-actors/<W>-worker`: the measuring thread sends a run of
//!   ticks with a loop of `Broadcast::send`, one call per tick, each reaching all `N`
//!   listener actors (`N` - 1 copies of the `Copy` message `Tick` and the original: one
//!   `Address::send_with` per listener, so a node from the measuring thread's pool
//!   shard and a push per delivered message, plus the injector push and `notify_one` for
//!   each listener whose inbox the push unblocks). Then it waits, with [`Backoff`], until
//!   every listener has handled the run's last tick (each one counts it on a shared
//!   atomic); the clock covers the whole run, from the first send to that moment. One
//!   operation is one delivered message; a run is about [`RUN`] of them
//!   (`RUN / N` broadcasts). Criterion's iteration counts are rounded up to whole
//!   broadcasts and the time scaled back to the iteration count (at most `N` - 1 extra
//!   messages per sample of thousands). `100-actors` is on 1 and 2 workers;
//!   `4-actors/1-worker` is the design's fan-out shape, "1 → 4 workers, one worker
//!   thread" (a broadcast to 4 is the same per-message path as sending each message to
//!   one of 4 actors in turn: `Broadcast::send` is a loop of `Address::send_with`).
//! - `patterns/thread-ring/100-actors/<W>-worker`: 100 actors in a ring, each holding
//!   the address of the next; a `Token { left, done }` goes around, each actor sending
//!   it on with `left - 1` from inside its handler (the local path: a send that unblocks
//!   an idle actor schedules it on the current worker's LIFO slot, no injector, no
//!   wake-up), until `left` is 0 and the actor holding it answers the outside request
//!   `done` that started the run. One operation is one hop: one message between actors
//!   and the scheduling of the idle receiver. A run of [`RUN`] hops is started by an
//!   outside `ask` to actor 0 and ends when the measuring thread sees the answer
//!   (polling with [`Backoff`]); the clock covers whole runs, so the start and the end of
//!   a run (an outside ask and a worker's wake-up, some microseconds) are amortised over
//!   [`RUN`] hops. Unlike the ping-pong of `benches/actors.rs` (two actors that stay in
//!   cache), the token visits 100 actors' cells and inboxes in turn.
//!   `patterns/thread-ring/100-actors/floor` is the baseline: the same ring and runs on
//!   the floor (`zeta_bench::floor`: a hand-rolled actor loop on the measuring thread,
//!   boxed behaviours, `VecDeque` mailboxes and run queue, no atomics); a run is a
//!   `Token` sent to member 0 and `run_until_idle`, and the member that ends writes its
//!   index into a shared cell. After the group a line gives each candidate's time per
//!   hop divided by the floor's ([`zeta_bench::Ratios`]).
//!
//! # How to read it
//!
//! Compare within one run on one machine; absolute figures move with the machine, its
//! load and the OS scheduler.
//!
//! - fan-in: `zeta/1-worker` against `crossbeam-unbounded` is zeta's full actor path
//!   against a plain MPSC queue of the same messages with the same threads. zeta's
//!   message does more (a pool node, a dispatch, the actor's scheduling), but its
//!   producers push with one CAS and its consumer takes a whole batch with one swap.
//!   The design's target: ≥ 30 M msg/s (≤ 33 ns per message); on the design's machine
//!   crossbeam measured 42 M msg/s (24 ns) in this shape.
//! - broadcast: the cost per delivered message of a sender outside the scheduler. On one
//!   worker, the sender and the worker run in parallel (on two cores): the figure is the
//!   slower of the two sides. The design's target for the fan-out (`4-actors/1-worker`):
//!   ≤ 40 ns per message (actor-zeta: 830–1150 ns). `100-actors` against `4-actors`:
//!   the same work spread over 25 times as many actors, each resumed for fewer messages.
//! - thread-ring: the actor-to-actor path through many actors, against
//!   `actors/ping-pong` in `benches/actors.rs` (two actors; one round trip there is two
//!   hops here), and against the floor: the `×` figures printed after the group (zeta's
//!   mean time per hop over the floor's) are what to track across commits.
//! - `2-worker` against `1-worker`: not a scaling figure. In fan-in and thread-ring only
//!   one actor has work at any time, so a second worker can only steal it (its cache
//!   lines then move between cores); in broadcast the listeners can run on two workers,
//!   but the single sender is then the bottleneck.
//!
//! **Two cores.** Fan-in runs four senders, a worker (or a consumer) and the measuring
//! thread: six threads, on the 2-core machine this was written on, so the figures
//! include time-slicing, for zeta and the baseline alike (that is why the baseline has
//! the same threads). The 2-worker shapes run one more thread than there are cores with
//! the measuring thread. Cross-thread figures on small or virtual machines can be
//! bimodal from run to run (a worker still spinning or already parked when work comes):
//! run twice before believing a change, and look at the spread of the samples, not only
//! the estimate. Judge the engine by the single-worker figures, the allocation counts
//! and the shape.
//!
//! # Nothing lost, nothing allocated
//!
//! Every message is checked: the sink (and the baseline's consumer) checks that each
//! sender's sequence numbers arrive in order with no gap (per-sender FIFO) and answers
//! each round with the count received from each sender, which must be each sender's
//! share; every listener checks that ticks arrive in order, one each; the ring's last
//! actor answers its index, which must be the run's hop count modulo 100. A wrong
//! answer panics, so does a wait longer than [`STALL`] (a lost message would otherwise
//! hang the bench). After each benchmark the actors are stopped and the scheduler too,
//! and the bench panics unless every actor stopped gracefully having handled exactly
//! the messages sent to it, no job panicked, none was cancelled or rejected, and every
//! cell went back to its resource (the resource's `Arc` is unique again).
//!
//! This binary installs the counting global allocator of [`zeta_bench::counting`]
//! (checked at start), which counts only inside [`global_allocations`]. Before each
//! benchmark, after warm-up, it runs rounds of the benchmark's shape with counting on
//! and prints the global allocations per message of the whole process (senders,
//! workers, consumer; the bench's own code allocates nothing in its loops). For zeta it
//! panics unless there are none: the design promises no global allocation per message
//! in steady state, from outside threads as from inside handlers. Up to
//! [`COUNT_WINDOWS`] windows are counted until one is clean, because a pool shard grows
//! once the first time its thread allocates for an actor or a size it has not yet
//! served; a steady allocation shows in every window. The baseline's count is printed,
//! not asserted.
//!
//! That includes the broadcast to 100 actors: a burst of more than 64 actors made ready
//! at once, more than a worker's run queue holds. A worker takes from the injector only
//! what its queue has room for, and a full queue moves half of itself back to the
//! injector, so the queue never grows its buffer. (It used to: the crossbeam-deque
//! buffer grew past its minimum of 64 jobs and shrank back, a few allocations per run.)
//!
//! After each benchmark the bench also prints the workers' counters over the whole
//! benchmark (warm-up included): resumes, messages per resume, steals and parks. Few
//! messages per resume, or many parks, tell where the time of a slow shape went.
//!
//! This set-up work (warm-up, allocation counts, final checks) runs for every benchmark
//! whatever the command line's filter, which only skips criterion's part.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use crossbeam_channel::{RecvTimeoutError, TryRecvError};
use crossbeam_utils::CachePadded;
use zeta::arena::PoolResource;
use zeta::scheduler::WorkerStats;
use zeta::{
    Actor, Address, Broadcast, Context, Future, Reply, Scheduler, SharingScheduler, StopReason,
};
use zeta_bench::counting::{self, global_allocations, CountingAlloc};
use zeta_bench::floor::{ActorId, Floor};
use zeta_bench::{run_rounds, Backoff, Ratios, StartGate};

// ---------------------------------------------------------------------------------------
// Configuration.

/// Sender threads of the fan-in group.
const SENDERS: usize = 4;
/// Messages per fan-in round, all senders together.
const ROUND: u64 = 65_536;
/// Messages (broadcast) or hops (thread-ring) per run.
const RUN: u64 = 16_384;
/// Listeners of the broadcast shapes: the large broadcast, and the design's fan-out.
const BROADCAST_SIZES: [(usize, &[usize]); 2] = [(100, &[1, 2]), (4, &[1])];
/// Actors in the ring.
const RING: usize = 100;
/// Worker counts of the `SharingScheduler` shapes.
const WORKERS: [usize; 2] = [1, 2];
/// Every scheduler's `max_throughput`.
const MAX_THROUGHPUT: usize = 64;
/// `SharingScheduler`'s `spin_before_park` (its default, set explicitly).
const SPIN_BEFORE_PARK: u32 = 64;
/// Rounds (fan-in) or runs (broadcast, thread-ring) run before counting and measuring.
const WARM_UP: u64 = 4;
/// Rounds or runs per window of counted messages.
const COUNTED: u64 = 4;
/// Windows of counted messages at most, per benchmark (see [`check_allocations`]).
const COUNT_WINDOWS: usize = 3;
/// A wait for an answer that takes this long means a message was lost.
const STALL: Duration = Duration::from_secs(10);

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

// ---------------------------------------------------------------------------------------
// Shared by the groups.

/// What every actor of a benchmark reports when it stops: how many stopped gracefully,
/// and how many messages of the benchmark's kind they handled in all.
#[derive(Default)]
struct Tally {
    stopped: AtomicU64,
    handled: AtomicU64,
}

impl Tally {
    /// Called from `on_stop`.
    fn record(&self, reason: StopReason, handled: u64) {
        if reason == StopReason::Stopped {
            // Relaxed, both: read by the measuring thread after `SharingScheduler::stop`
            // has joined the workers, which orders every worker's writes before it.
            self.stopped.fetch_add(1, Ordering::Relaxed);
            self.handled.fetch_add(handled, Ordering::Relaxed);
        }
    }

    /// Panics unless `actors` actors stopped gracefully, having handled `handled`
    /// messages together. Call after the scheduler's `stop`.
    fn check(&self, actors: usize, handled: u64, what: &str) {
        // Relaxed: see `record`.
        let stopped = self.stopped.load(Ordering::Relaxed);
        assert_eq!(stopped, actors as u64, "{what}: actors stopped gracefully");
        let counted = self.handled.load(Ordering::Relaxed);
        assert_eq!(counted, handled, "{what}: messages handled by the actors");
    }
}

/// A started `SharingScheduler` with `workers` workers.
fn sharing(workers: usize) -> Arc<SharingScheduler> {
    let scheduler = SharingScheduler::builder()
        .workers(workers)
        .max_throughput(MAX_THROUGHPUT)
        .spin_before_park(SPIN_BEFORE_PARK)
        .thread_name("zeta-bench-worker")
        .build()
        .expect("a valid configuration");
    scheduler.start().expect("start the scheduler");
    Arc::new(scheduler)
}

/// Spawns `actor` in `pool`, to run on `scheduler`.
fn spawn<A: Actor>(
    actor: A,
    pool: &Arc<PoolResource>,
    scheduler: &Arc<SharingScheduler>,
) -> Address<A> {
    zeta::spawn(actor, pool.clone(), scheduler.clone())
        .unwrap_or_else(|_| panic!("no memory for an actor"))
}

/// Lets every worker park once, so that it happens before counting: a thread's first
/// park creates its parking_lot thread data, which can grow parking_lot's global table
/// (a one-time allocation).
fn settle(scheduler: &SharingScheduler) {
    let start = Instant::now();
    // `stats` returns a `Vec`: only called here, outside counting and timing.
    while scheduler.stats().iter().any(|worker| worker.parks == 0) {
        assert!(start.elapsed() < STALL, "a worker never parks");
        std::thread::yield_now();
    }
    // The count goes up as a worker goes to sleep, before parking_lot sets the thread
    // up: give the worker time to get there.
    std::thread::sleep(Duration::from_millis(10));
}

/// Stops `actors`, then the scheduler (joining its workers), and panics unless the
/// actors stopped, and no job panicked, was cancelled or rejected.
fn shut_down<A: Actor>(scheduler: &SharingScheduler, actors: &[Address<A>], what: &str) {
    for actor in actors {
        actor.stop().expect("the actor is still running");
    }
    wait_until(what, || actors.iter().all(|actor| !actor.is_alive()));
    // Joins the workers: every run, and so every actor's drop, is over after this.
    let report = scheduler.stop().expect("stop from the measuring thread");
    assert_eq!(report.cancelled, 0, "{what}: jobs cancelled at stop");
    let stats = scheduler.stats();
    let sum = |field: fn(&WorkerStats) -> u64| stats.iter().map(field).sum::<u64>();
    assert_eq!(sum(|w| w.panics), 0, "{what}: a handler panicked");
    assert_eq!(scheduler.rejected(), 0, "{what}: jobs rejected");
    let (resumes, messages) = (sum(|w| w.resumes), sum(|w| w.messages));
    println!(
        "{what}: workers over the whole benchmark: {resumes} resumes, {:.1} messages per \
         resume, {} steals, {} parks",
        messages as f64 / resumes.max(1) as f64,
        sum(|w| w.steals),
        sum(|w| w.parks)
    );
}

/// Panics unless every cell allocated from `resource` went back: each cell holds a
/// clone of the resource's `Arc` until its memory is returned.
fn check_returned<R>(resource: &Arc<R>, what: &str) {
    assert_eq!(
        Arc::strong_count(resource),
        1,
        "{what}: a cell was not returned to its resource"
    );
}

/// Polls `done` with [`Backoff`] (spin, then yield) until it returns `true`.
///
/// # Panics
///
/// If that takes longer than [`STALL`]: a message was lost.
#[inline]
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let mut backoff = Backoff::new();
    let mut polls = 0u32;
    let mut since = None;
    while !done() {
        backoff.snooze();
        polls = polls.wrapping_add(1);
        // Reading the clock is not free: only now and then, once the backoff yields.
        if polls % 1024 == 0 {
            let start: Instant = *since.get_or_insert_with(Instant::now);
            assert!(
                start.elapsed() < STALL,
                "{what}: no answer, a message was lost"
            );
        }
    }
}

/// The answer of a resolved request.
///
/// # Panics
///
/// If the request is not resolved, or resolved with an error.
fn answer(future: &mut Future<u64>, what: &str) -> u64 {
    match future.try_take() {
        Some(Ok(answer)) => answer,
        other => panic!("{what}: the request resolved to {other:?}"),
    }
}

/// Runs `messages` messages in calls of `run(n)` with `n` at most `per_call`, and
/// returns the sum of what the calls return (each times itself).
#[inline]
fn in_calls(messages: u64, per_call: u64, run: &mut impl FnMut(u64) -> Duration) -> Duration {
    let mut timed = Duration::ZERO;
    let mut left = messages;
    while left > 0 {
        let now = left.min(per_call);
        timed += run(now);
        left -= now;
    }
    timed
}

/// What a benchmark's count of global allocations must be.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// None in steady state, as zeta promises: anything else panics.
    Zero,
    /// A baseline: printed, not asserted.
    Baseline,
}

/// Counts the global allocations of `window` (which runs `messages` messages) and
/// prints them. For zeta, counts until a window makes none, or [`COUNT_WINDOWS`]
/// windows have run, and with [`Expect::Zero`] panics unless the last window made
/// none; for a baseline, counts one window.
///
/// More than one window: a one-time allocation can still come after warm-up, from a
/// pool shard that grows the first time its thread allocates for a given actor or size
/// (with two workers, the first time a worker runs an actor it has not run before). A
/// steady allocation shows in every window.
fn check_allocations(what: &str, messages: u64, expect: Expect, mut window: impl FnMut()) {
    let mut counts = Vec::with_capacity(COUNT_WINDOWS);
    let last = loop {
        let count = global_allocations(&mut window);
        counts.push(count);
        let enough = match expect {
            Expect::Zero => count == 0,
            Expect::Baseline => true,
        };
        if enough || counts.len() == COUNT_WINDOWS {
            break count;
        }
    };
    println!(
        "{what}: global allocations per {messages} messages: {counts:?} \
         ({:.4} per message in the last window)",
        last as f64 / messages as f64
    );
    match expect {
        Expect::Zero => assert_eq!(
            last, 0,
            "{what}: global allocations in every window: {counts:?}"
        ),
        Expect::Baseline => {}
    }
}

/// Creates the calling thread's parking_lot thread data (and parking_lot's global
/// table) now: it happens at a thread's first park, which can be any contended lock
/// inside the engine (waking a worker takes its parker's lock), and it allocates.
fn register_with_parking_lot() {
    let lock = parking_lot::Mutex::new(());
    let timed_out = parking_lot::Condvar::new()
        .wait_for(&mut lock.lock(), Duration::from_micros(1))
        .timed_out();
    assert!(timed_out, "nobody notifies this condition variable");
}

thread_local! {
    /// Whether [`register_with_parking_lot`] ran on this thread.
    static REGISTERED: Cell<bool> = const { Cell::new(false) };
}

/// [`register_with_parking_lot`], once per thread.
fn register_once() {
    REGISTERED.with(|registered| {
        if !registered.get() {
            register_with_parking_lot();
            registered.set(true);
        }
    });
}

// ---------------------------------------------------------------------------------------
// Fan-in.

/// The messages sender `sender` sends in a round of `messages`: an equal share, the
/// remainder going to the first senders.
#[inline]
fn share(messages: u64, sender: usize) -> u64 {
    messages / SENDERS as u64 + u64::from((sender as u64) < messages % SENDERS as u64)
}

/// Each sender's count packed in 16 bits (a share is at most `ROUND / SENDERS`).
#[inline]
fn packed(counts: impl Iterator<Item = u64>) -> u64 {
    counts
        .enumerate()
        .fold(0, |packed, (sender, count)| packed | count << (16 * sender))
}

/// What [`Sink`] and the baseline's consumer answer for a round of `messages`.
fn expected_counts(messages: u64) -> u64 {
    packed((0..SENDERS).map(|sender| share(messages, sender)))
}

/// Threads of a fan-in that have finished their part of the rounds so far.
///
/// The measuring thread waits for all of them at the end of every round (after the
/// clock stops) before it sets up the next one. The round's answer alone is not
/// enough: a sender whose share is 0 (rounds of fewer than [`SENDERS`] messages, as in
/// criterion's warm-up) may not even have read the round's size when the sink answers,
/// and would then read the next round's and send it twice.
#[derive(Default)]
struct Finished {
    threads: AtomicU64,
    /// Rounds ended so far; only the measuring thread uses it.
    rounds: AtomicU64,
}

impl Finished {
    /// A thread is done with its part of the round.
    fn one(&self) {
        // Release: pairs with the Acquire load in `wait_round`; the thread's reads of
        // the round's parameters come before it.
        self.threads.fetch_add(1, Ordering::Release);
    }

    /// Waits until the `threads` threads have finished the round that just ended.
    fn wait_round(&self, threads: usize, what: &str) {
        // Relaxed: only the measuring thread touches it.
        let rounds = self.rounds.load(Ordering::Relaxed) + 1;
        self.rounds.store(rounds, Ordering::Relaxed);
        let target = rounds * threads as u64;
        // Acquire: pairs with `one`.
        wait_until(what, || self.threads.load(Ordering::Acquire) == target);
    }
}

const _: () = assert!(SENDERS <= 4 && ROUND / SENDERS as u64 <= u16::MAX as u64);

/// The fan-in actor: checks per-sender order, answers each round's request when the
/// round's messages have all come.
struct Sink {
    /// The next sequence number of each sender, this round.
    next: [u64; SENDERS],
    /// Messages expected this round, and received so far.
    expect: u64,
    received: u64,
    /// The measuring thread's request for this round.
    done: Option<Reply<u64>>,
    /// `Data` messages handled, over every round.
    total: u64,
    tally: Arc<Tally>,
}

enum SinkMsg {
    /// The next round has `expect` messages; answer `done` when they came.
    Round {
        expect: u64,
        done: Reply<u64>,
    },
    Data {
        sender: usize,
        seq: u64,
    },
}

impl Sink {
    fn new(tally: Arc<Tally>) -> Self {
        Self {
            next: [0; SENDERS],
            expect: 0,
            received: 0,
            done: None,
            total: 0,
            tally,
        }
    }
}

impl Actor for Sink {
    type Message = SinkMsg;

    #[inline]
    fn handle(&mut self, message: SinkMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            SinkMsg::Round { expect, done } => {
                assert!(self.done.is_none(), "one round at a time");
                assert!(expect > 0, "a round has messages");
                self.next = [0; SENDERS];
                self.expect = expect;
                self.received = 0;
                self.done = Some(done);
            }
            SinkMsg::Data { sender, seq } => {
                assert_eq!(seq, self.next[sender], "per-sender FIFO, no gap");
                self.next[sender] = seq + 1;
                self.received += 1;
                self.total += 1;
                if self.received == self.expect {
                    let done = self.done.take().expect("the round's request came first");
                    if done.send(packed(self.next.into_iter())).is_err() {
                        panic!("the measuring thread dropped its future");
                    }
                }
            }
        }
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.tally.record(reason, self.total);
    }
}

/// `patterns/fan-in/4-threads/zeta/<W>-worker`.
fn fan_in_zeta(group: &mut BenchmarkGroup<'_, WallTime>, workers: usize) {
    let name = format!("zeta/{workers}-worker");
    let what = format!("patterns/fan-in/4-threads/{name}");
    let scheduler = sharing(workers);
    let pool = Arc::new(PoolResource::new());
    let tally = Arc::new(Tally::default());
    let sink = spawn(Sink::new(tally.clone()), &pool, &scheduler);
    // Messages in the round the senders are released for.
    let round_size = AtomicU64::new(0);
    // Set by a sender whose send failed (the sink stopped): it gives up its round.
    let failed = AtomicBool::new(false);
    let finished = Finished::default();
    let mut sent = 0u64;

    let send_share = |sender: usize| {
        register_once();
        // Relaxed: stored before `StartGate::open`, whose Release increment our
        // Acquire load in `StartGate::wait` read.
        let messages = round_size.load(Ordering::Relaxed);
        for seq in 0..share(messages, sender) {
            if sink.send(SinkMsg::Data { sender, seq }).is_err() {
                // Relaxed: the measuring thread only needs to see it eventually, to
                // stop waiting for a round that cannot complete.
                failed.store(true, Ordering::Relaxed);
                break;
            }
        }
        finished.one();
    };

    run_rounds(SENDERS, send_share, |gate: &StartGate| {
        // One round of `messages`, timed from the senders' release to the answer.
        let mut round = |messages: u64| -> Duration {
            // Relaxed: published to the senders by `open` (see the senders' load).
            round_size.store(messages, Ordering::Relaxed);
            let Ok(mut future) = sink.ask(|done| SinkMsg::Round {
                expect: messages,
                done,
            }) else {
                panic!("{what}: the sink stopped");
            };
            let start = gate.open();
            // Relaxed for `failed`: see the senders.
            wait_until(&what, || {
                future.is_ready() || failed.load(Ordering::Relaxed)
            });
            let elapsed = start.elapsed();
            finished.wait_round(SENDERS, &what);
            assert!(!failed.load(Ordering::Relaxed), "{what}: a send failed");
            assert_eq!(
                answer(&mut future, &what),
                expected_counts(messages),
                "{what}: messages received from each sender"
            );
            sent += messages;
            elapsed
        };

        // Warm: the senders' pool shards and chunks, every thread's one-time set-up.
        for _ in 0..WARM_UP {
            round(ROUND);
        }
        settle(&scheduler);
        check_allocations(&what, COUNTED * ROUND, Expect::Zero, || {
            for _ in 0..COUNTED {
                round(ROUND);
            }
        });

        group.bench_function(&name, |b| {
            b.iter_custom(|iters| in_calls(iters, ROUND, &mut round))
        });
    });

    shut_down(&scheduler, std::slice::from_ref(&sink), &what);
    tally.check(1, sent, &what);
    drop(sink);
    check_returned(&pool, &what);
}

/// `patterns/fan-in/4-threads/crossbeam-unbounded`: the same rounds through a channel,
/// with a consumer thread in place of the worker.
fn fan_in_crossbeam(group: &mut BenchmarkGroup<'_, WallTime>) {
    let name = "crossbeam-unbounded";
    let what = format!("patterns/fan-in/4-threads/{name}");
    let (tx, rx) = crossbeam_channel::unbounded::<(usize, u64)>();
    let round_size = AtomicU64::new(0);
    // Rounds the consumer has finished (or given up: see `failed`).
    let rounds_done = CachePadded::new(AtomicU64::new(0));
    // The consumer's answer for the last round, as `Sink`'s.
    let counts = AtomicU64::new(0);
    // Set by the consumer on a wrong message or a stall.
    let failed = AtomicBool::new(false);
    let finished = Finished::default();
    let mut sent = 0u64;

    let work = |thread: usize| {
        // Relaxed: as in `fan_in_zeta`.
        let messages = round_size.load(Ordering::Relaxed);
        if thread < SENDERS {
            for seq in 0..share(messages, thread) {
                tx.send((thread, seq)).expect("the receiver lives");
            }
            finished.one();
            return;
        }
        let mut next = [0u64; SENDERS];
        let mut ok = true;
        for _ in 0..messages {
            let message = match rx.try_recv() {
                Ok(message) => Ok(message),
                Err(TryRecvError::Empty) => rx.recv_timeout(STALL),
                Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
            };
            match message {
                Ok((sender, seq)) if seq == next[sender] => next[sender] = seq + 1,
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        // Relaxed: published by the Release increment below.
        counts.store(packed(next.into_iter()), Ordering::Relaxed);
        failed.store(!ok, Ordering::Relaxed);
        // Release: pairs with the measuring thread's Acquire load; the round's messages,
        // the counts and the producers' allocations (before their sends, which the
        // receptions synchronized with) come before it.
        rounds_done.fetch_add(1, Ordering::Release);
        finished.one();
    };

    run_rounds(SENDERS + 1, work, |gate: &StartGate| {
        let mut rounds = 0u64;
        let mut round = |messages: u64| -> Duration {
            // Relaxed: published to the threads by `open`.
            round_size.store(messages, Ordering::Relaxed);
            let start = gate.open();
            rounds += 1;
            // Acquire: pairs with the consumer's Release increment.
            wait_until(&what, || rounds_done.load(Ordering::Acquire) == rounds);
            let elapsed = start.elapsed();
            finished.wait_round(SENDERS + 1, &what);
            // Relaxed: see the consumer.
            assert!(!failed.load(Ordering::Relaxed), "{what}: a wrong message");
            assert_eq!(
                counts.load(Ordering::Relaxed),
                expected_counts(messages),
                "{what}: messages received from each producer"
            );
            sent += messages;
            elapsed
        };

        for _ in 0..WARM_UP {
            round(ROUND);
        }
        check_allocations(&what, COUNTED * ROUND, Expect::Baseline, || {
            for _ in 0..COUNTED {
                round(ROUND);
            }
        });

        group.bench_function(name, |b| {
            b.iter_custom(|iters| in_calls(iters, ROUND, &mut round))
        });
    });
    assert!(rx.is_empty(), "{what}: messages left after {sent}");
}

/// `patterns/fan-in/4-threads`.
fn fan_in(c: &mut Criterion) {
    let mut group = c.benchmark_group("patterns/fan-in/4-threads");
    group.throughput(Throughput::Elements(1));
    for workers in WORKERS {
        fan_in_zeta(&mut group, workers);
    }
    fan_in_crossbeam(&mut group);
    group.finish();
}

// ---------------------------------------------------------------------------------------
// Broadcast.

/// What a broadcast carries: the tick's number, and whether it ends the run.
#[derive(Clone, Copy)]
struct Tick {
    n: u64,
    last: bool,
}

/// A broadcast member: checks that ticks come in order, counts the end of each run.
struct Listener {
    /// The next tick expected.
    next: u64,
    /// Listeners that have handled the last tick of a run, over every run.
    finished: Arc<CachePadded<AtomicU64>>,
    tally: Arc<Tally>,
}

impl Actor for Listener {
    type Message = Tick;

    #[inline]
    fn handle(&mut self, tick: Tick, _ctx: &mut Context<'_, Self>) {
        assert_eq!(tick.n, self.next, "ticks in order, each once");
        self.next += 1;
        if tick.last {
            // Release: pairs with the measuring thread's Acquire load; this run's ticks
            // (and any allocation made for them) come before it.
            self.finished.fetch_add(1, Ordering::Release);
        }
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.tally.record(reason, self.next);
    }
}

/// `patterns/broadcast/<members>-actors/<W>-worker`.
fn broadcast_one(group: &mut BenchmarkGroup<'_, WallTime>, members: usize, workers: usize) {
    let name = format!("{members}-actors/{workers}-worker");
    let what = format!("patterns/broadcast/{name}");
    let scheduler = sharing(workers);
    let pool = Arc::new(PoolResource::new());
    let tally = Arc::new(Tally::default());
    let finished = Arc::new(CachePadded::new(AtomicU64::new(0)));
    let listeners: Vec<_> = (0..members)
        .map(|_| {
            let listener = Listener {
                next: 0,
                finished: finished.clone(),
                tally: tally.clone(),
            };
            spawn(listener, &pool, &scheduler)
        })
        .collect();
    let all = Broadcast::new(listeners.clone()).expect("members");
    let per_run = (RUN / members as u64).max(1);
    let mut ticks = 0u64;
    let mut runs = 0u64;

    // A run of `broadcasts` ticks, timed until every listener has handled them.
    let mut run = |broadcasts: u64| -> Duration {
        let start = Instant::now();
        for i in 0..broadcasts {
            let tick = Tick {
                n: ticks,
                last: i + 1 == broadcasts,
            };
            ticks += 1;
            match all.send(tick) {
                Ok(delivered) if delivered == members => {}
                _ => panic!("a listener stopped"),
            }
        }
        runs += 1;
        let target = runs * members as u64;
        // Acquire: pairs with the listeners' Release increments.
        wait_until(&what, || finished.load(Ordering::Acquire) == target);
        start.elapsed()
    };

    for _ in 0..WARM_UP {
        run(per_run);
    }
    settle(&scheduler);
    check_allocations(
        &what,
        COUNTED * per_run * members as u64,
        Expect::Zero,
        || {
            for _ in 0..COUNTED {
                run(per_run);
            }
        },
    );

    group.bench_function(&name, |b| {
        b.iter_custom(|iters| {
            // Whole broadcasts: round up, then scale the time back to `iters` messages.
            let broadcasts = iters.div_ceil(members as u64);
            let timed = in_calls(broadcasts, per_run, &mut run);
            timed.mul_f64(iters as f64 / (broadcasts * members as u64) as f64)
        })
    });

    shut_down(&scheduler, &listeners, &what);
    tally.check(members, ticks * members as u64, &what);
    drop((all, listeners));
    check_returned(&pool, &what);
}

/// `patterns/broadcast`.
fn broadcast(c: &mut Criterion) {
    let mut group = c.benchmark_group("patterns/broadcast");
    group.throughput(Throughput::Elements(1));
    for (members, workers) in BROADCAST_SIZES {
        for &workers in workers {
            broadcast_one(&mut group, members, workers);
        }
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------
// Thread ring.

/// A member of the ring: passes the token on, or answers when it has no hops left.
struct RingNode {
    index: u64,
    /// The next member; set by `Link`, right after spawn.
    next: Option<Address<RingNode>>,
    /// Tokens handled, over every run.
    tokens: u64,
    tally: Arc<Tally>,
}

enum RingMsg {
    Link(Address<RingNode>),
    /// `left` more hops, then answer `done` with the index of the actor holding it.
    Token {
        left: u64,
        done: Reply<u64>,
    },
}

impl Actor for RingNode {
    type Message = RingMsg;

    #[inline]
    fn handle(&mut self, message: RingMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            RingMsg::Link(next) => self.next = Some(next),
            RingMsg::Token { left, done } => {
                self.tokens += 1;
                if left == 0 {
                    if done.send(self.index).is_err() {
                        panic!("the measuring thread dropped its future");
                    }
                    return;
                }
                let next = self.next.as_ref().expect("linked before the first token");
                let token = RingMsg::Token {
                    left: left - 1,
                    done,
                };
                if next.send(token).is_err() {
                    panic!("the next actor stopped mid-run");
                }
            }
        }
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.tally.record(reason, self.tokens);
    }
}

enum FloorRingMsg {
    Link(ActorId),
    /// `left` more hops, then write the holder's index into the shared cell.
    Token(u64),
}

/// `patterns/thread-ring/100-actors/floor`: the same ring and runs on the floor, on the
/// measuring thread.
fn thread_ring_floor(group: &mut BenchmarkGroup<'_, WallTime>, ratios: &mut Ratios) {
    let what = format!("patterns/thread-ring/{RING}-actors/floor");
    let mut floor: Floor<FloorRingMsg> = Floor::new(MAX_THROUGHPUT);
    let ended: Rc<Cell<Option<u64>>> = Rc::default();
    let tokens: Rc<Cell<u64>> = Rc::default();
    let ring: Vec<ActorId> = (0..RING as u64)
        .map(|index| {
            let (ended, tokens) = (ended.clone(), tokens.clone());
            let mut next = None;
            floor.spawn(move |message, ctx| match message {
                FloorRingMsg::Link(id) => next = Some(id),
                FloorRingMsg::Token(left) => {
                    tokens.set(tokens.get() + 1);
                    if left == 0 {
                        ended.set(Some(index));
                        return;
                    }
                    let next = next.expect("linked before the first token");
                    if ctx.send(next, FloorRingMsg::Token(left - 1)).is_err() {
                        panic!("the next actor stopped mid-run");
                    }
                }
            })
        })
        .collect();
    for (index, &member) in ring.iter().enumerate() {
        if floor
            .send(member, FloorRingMsg::Link(ring[(index + 1) % RING]))
            .is_err()
        {
            panic!("{what}: a ring member stopped");
        }
    }
    let mut sent = 0u64;

    let mut run = |hops: u64| -> Duration {
        let start = Instant::now();
        if floor.send(ring[0], FloorRingMsg::Token(hops)).is_err() {
            panic!("{what}: actor 0 stopped");
        }
        floor.run_until_idle();
        let elapsed = start.elapsed();
        assert_eq!(
            ended.take(),
            Some(hops % RING as u64),
            "{what}: the actor holding the token after {hops} hops"
        );
        sent += hops + 1;
        elapsed
    };

    for _ in 0..WARM_UP {
        run(RUN);
    }
    check_allocations(&what, COUNTED * RUN, Expect::Zero, || {
        for _ in 0..COUNTED {
            run(RUN);
        }
    });

    group.bench_function("floor", |b| {
        b.iter_custom(|iters| {
            let took = in_calls(iters, RUN, &mut run);
            ratios.record("floor", iters, took);
            took
        })
    });
    assert_eq!(tokens.get(), sent, "{what}: every token handled once");
}

/// `patterns/thread-ring/100-actors/<W>-worker`.
fn thread_ring_one(group: &mut BenchmarkGroup<'_, WallTime>, workers: usize, ratios: &mut Ratios) {
    let name = format!("{workers}-worker");
    let what = format!("patterns/thread-ring/{RING}-actors/{name}");
    let scheduler = sharing(workers);
    let pool = Arc::new(PoolResource::new());
    let tally = Arc::new(Tally::default());
    let ring: Vec<_> = (0..RING as u64)
        .map(|index| {
            let node = RingNode {
                index,
                next: None,
                tokens: 0,
                tally: tally.clone(),
            };
            spawn(node, &pool, &scheduler)
        })
        .collect();
    for (index, node) in ring.iter().enumerate() {
        let next = ring[(index + 1) % RING].clone();
        if node.send(RingMsg::Link(next)).is_err() {
            panic!("{what}: a ring member stopped");
        }
    }
    // Tokens handled: each run's hops, plus its first delivery, from outside.
    let mut tokens = 0u64;

    // A run of `hops` hops from actor 0, timed from the ask to the answer.
    let mut run = |hops: u64| -> Duration {
        let start = Instant::now();
        let Ok(mut future) = ring[0].ask(|done| RingMsg::Token { left: hops, done }) else {
            panic!("{what}: actor 0 stopped");
        };
        wait_until(&what, || future.is_ready());
        let elapsed = start.elapsed();
        assert_eq!(
            answer(&mut future, &what),
            hops % RING as u64,
            "{what}: the actor holding the token after {hops} hops"
        );
        tokens += hops + 1;
        elapsed
    };

    for _ in 0..WARM_UP {
        run(RUN);
    }
    settle(&scheduler);
    check_allocations(&what, COUNTED * RUN, Expect::Zero, || {
        for _ in 0..COUNTED {
            run(RUN);
        }
    });

    group.bench_function(&name, |b| {
        b.iter_custom(|iters| {
            let took = in_calls(iters, RUN, &mut run);
            ratios.record(&name, iters, took);
            took
        })
    });

    shut_down(&scheduler, &ring, &what);
    tally.check(RING, tokens, &what);
    drop(ring);
    check_returned(&pool, &what);
}

/// `patterns/thread-ring/100-actors`.
fn thread_ring(c: &mut Criterion) {
    let name = format!("patterns/thread-ring/{RING}-actors");
    let mut group = c.benchmark_group(&name);
    group.throughput(Throughput::Elements(1));
    let mut ratios = Ratios::default();
    thread_ring_floor(&mut group, &mut ratios);
    for workers in WORKERS {
        thread_ring_one(&mut group, workers, &mut ratios);
    }
    group.finish();
    println!("{}", ratios.report(&name, "floor"));
}

fn main() {
    assert!(
        counting::installed(),
        "the counting allocator is this binary's global allocator"
    );
    register_with_parking_lot();
    let mut criterion = zeta_bench::criterion();
    fan_in(&mut criterion);
    broadcast(&mut criterion);
    thread_ring(&mut criterion);
    criterion.final_summary();
}
