//! Cost of zeta's actor paths, end to end through the public API of the `zeta` crate:
//! a message round trip between two actors, a request between two actors, a request
//! from a thread outside the scheduler, and the whole life of an actor.
//!
//! # What is measured
//!
//! Every figure is per operation: the benchmarks use `iter_custom`, where one criterion
//! iteration is one operation (a round trip, a request, an actor), and declare
//! `Throughput::Elements(1)`, so `time` is ns per operation and `thrpt` operations per
//! second. Operations are run in batches; what is inside the clock is said per group.
//! Actors and their messages live in a warmed `PoolResource` (except in `spawn-stop`,
//! which compares resources). Schedulers run with `max_throughput(64)` and, for
//! `SharingScheduler`, `spin_before_park(64)`, set explicitly so that a change of the
//! defaults does not move the figures silently; workers are started before any clock
//! starts.
//!
//! - `actors/ping-pong/<scheduler>`: a pinger actor sends `Ping(n)` to a ponger actor,
//!   which sends `Pong(n)` back; on the pong the pinger sends the next ping. One
//!   operation is one round trip: two messages, each a pool node allocated, pushed on
//!   the receiver's inbox, taken, dispatched and freed, plus the scheduling of the
//!   receiver (it is idle each time: every message unblocks its inbox). A run of
//!   [`RUN`] round trips is started by an outside `ask` (`PingerMsg::Run`) and ends
//!   when the pinger answers it; the clock covers whole runs, so the start of a run (the
//!   ask, for a `SharingScheduler` the wake-up of a parked worker) and its end (the
//!   measuring thread noticing the answer) are amortised over [`RUN`] round trips: the
//!   `outside-ask` latency / [`RUN`] per round trip, a fraction of a nanosecond (a few
//!   ns if a worker wake-up takes 50 µs). The measuring thread waits on the answer with
//!   [`Backoff`] (spin, then yield; it never sleeps); with a `ManualScheduler` it drives
//!   the run itself with `run_until_idle`.
//! - `actors/ask-reply/<scheduler>`: the same pair and runs, but each step is a
//!   request: the pinger `ask`s the ponger (`Question(n)`: one request node, the reply
//!   slot inside it), polls the returned `Future` once with its actor waker, lent by
//!   `Context::waker_ref()` (no refcount change), which the request clones to keep
//!   (one), and returns; the ponger answers
//!   through the `Reply`, which wakes the waker: a `Wake` message to the pinger, whose
//!   `on_wake` takes the answer with `try_take` and asks the next question. One
//!   operation is one request: two messages (the question and the wake-up), the waker's
//!   registration and wake, the reply slot's hand-off. Runs as for ping-pong.
//! - `actors/ask-reply/continuation/<scheduler>`: the same pair and runs, in the same
//!   group, but the pinger asks with `Context::ask` and takes the answer in the
//!   continuation, which asks the next question: per request, the request node, and
//!   from the pinger's pool the continuation block and the node of the answer's
//!   arrival (made at the ask), the block's waker registered in the slot, and the
//!   answer pushing that node (no `on_wake`, no future kept in the actor). Two
//!   messages per request, as with the waker.
//!
//!   `<scheduler>` is `manual` (`ManualScheduler` on the measuring thread: no thread
//!   hand-off), `sharing/1-worker` (both actors on one worker: every send is a push to
//!   that worker's LIFO slot, no wake-up) and `sharing/2-worker` (a second worker can
//!   steal an actor, so the pair may run on two cores, and messages then cross cores
//!   and may wake a parked worker).
//! - `actors/ping-pong/floor` and `actors/ask-reply/floor`: the baseline, the same pair
//!   and runs on the floor (`zeta_bench::floor`: a hand-rolled actor loop on the
//!   measuring thread, boxed behaviours, `VecDeque` mailboxes and run queue, no
//!   atomics). Ping-pong: `Ping(n)`, `Pong(n)`. Ask-reply: the floor's request is a
//!   `Question(n, reply)` whose reply is a shared slot (`Rc<Cell<Option<u64>>>`, one
//!   per pinger, cloned into each question) and the asker's id; the ponger writes
//!   `n + 1` into the slot and sends the asker `Wake`, on which the pinger takes the
//!   answer and asks again: two messages and a slot hand-off, as zeta's question and
//!   wake-up. A run starts with a `Run` message from the measuring thread and ends
//!   with `run_until_idle`; the pinger writes its count into a shared cell.
//!   `actors/ping-pong/floor+2rmw` and `floor+3rmw`: the floor's ping-pong with, per
//!   message, the atomic read-modify-writes a thread-safe inbox cannot do without and
//!   nothing else (`InboxWords`): the protocol's own cost on this machine. After each
//!   group a line gives every candidate's time per op divided by the floor's
//!   ([`zeta_bench::Ratios`]).
//! - `actors/outside-ask/<strategy>/<W>-worker`: the measuring thread, which is not a
//!   worker, asks the ponger a `Question(n)` and waits for the answer, one request at a
//!   time, on a `SharingScheduler` with `W` workers. Inside the clock: `ask` (request
//!   node from the pool, push, `schedule` on the injector, `notify_one`), a worker
//!   noticing the job (spinning, or woken from a park), the handler and its reply, and
//!   the measuring thread noticing the reply. `<strategy>` is how it waits:
//!   `backoff` is `Future::wait_with(WaitStrategy::Backoff)` (256 `spin_loop` checks,
//!   then sleep 1 µs, 2 µs, ... up to 1 ms between checks: the replier wakes nobody,
//!   but a reply that misses the spin is seen after a sleep, and a `thread::sleep` of
//!   1 µs lasts the OS timer slack, some 50 µs on Linux), `park` is
//!   `wait_with(WaitStrategy::Park)` (parking_lot_core's `SpinWait`, a few short spins
//!   then a few `yield`s, then park until the replier unparks it), and `spin-try-take`
//!   is the baseline: `try_take` in a loop with `spin_loop` hints, never sleeping or
//!   yielding (the lowest latency a waiter can get, at the price of a core). This is a
//!   round trip: mostly wake-up latency, on either side. After the criterion
//!   measurement, each of these benchmarks also times [`LATENCY_SAMPLES`] requests one
//!   by one and prints their p50, p99, p99.9 and maximum (cross-thread figures on a
//!   small machine have long tails; a mean hides them).
//! - `actors/spawn-stop/<resource>`: on a `ManualScheduler` driven by the measuring
//!   thread, per actor: `zeta::spawn` of a small actor (one cell allocated from the
//!   resource), `Address::stop` (a seal of the inbox, no allocation, which schedules
//!   the idle actor), `run_until_idle` (the first resume: `on_start`, the
//!   stop, `on_stop`, the actor dropped, its inbox closed), and the drop of the address
//!   (the last reference: the cell goes back to the resource). `<resource>` is
//!   `PoolResource` (warmed), `MonotonicResource` (a bump arena: nothing is freed one
//!   by one) and `GlobalResource` (the system allocator). Actors are timed in batches of
//!   [`SPAWN_BATCH`]; between batches, outside the clock, the monotonic arena is reset
//!   (it never frees, so without a reset it would grow for the whole run). It is created
//!   with one chunk large enough for a batch (measured on a probe arena first), and
//!   the bench checks after every batch that it never had to grow, so no chunk
//!   allocation is timed.
//!
//! # How to read it
//!
//! Compare within one run on one machine; absolute figures move with the machine, its
//! load and the OS scheduler. What the figures mean:
//!
//! - `floor` is the baseline: the same actors with nothing of what makes zeta usable
//!   from many threads (no multi-producer inbox, no scheduling handshake, no atomics, no
//!   memory resource). The `×` figures printed after each group (zeta's mean time per
//!   op over the floor's) are what to track across commits. `manual` is zeta with no
//!   thread hand-off and no atomic that another core contends. `sharing/1-worker` adds
//!   the worker's run protocol and the LIFO slot; the gap between the two is the cost
//!   of the threaded scheduler on the local path. The design's targets on one worker: ≤ 30 ns per ping-pong round trip,
//!   ≤ 60 ns per ask + reply, ≤ 150 ns per spawn + stop.
//! - ask-reply against ping-pong, same scheduler: the extra cost of a request (the
//!   reply slot, the waker) over a plain message.
//! - outside-ask: compare the strategies with each other and with `spin-try-take`,
//!   whose figure is the hand-off latency with no sleeping waiter on the asking side.
//!   `park` minus `spin-try-take` is what parking and unparking the asker costs,
//!   `backoff` minus `spin-try-take` what sleeping costs (the timer slack). criterion's
//!   `time` is a mean: for `backoff` it mixes replies caught by the spin with replies
//!   seen after a sleep, so read it with the printed percentiles. On a
//!   2-core VM all of these are dominated by wake-ups: judge the engine by the
//!   single-worker and manual figures, the allocation counts and the shape.
//! - spawn-stop: the resources against each other; `GlobalResource` is the system
//!   allocator's `malloc` + `free`, twice per actor (the cell and the stop node).
//!
//! **Two cores.** With 2 workers, the measuring thread competes with them for a core:
//! read the 2-worker figures as "2 workers plus a waiter on 2 cores", not as a scaling
//! figure. On small or virtual machines the cross-thread figures can be bimodal from run
//! to run, and even from one sample to the next (a worker still spinning or already
//! parked; a waiter that catches the reply while it spins or yields, or parks): on the
//! 2-core VM this was written on, `park` has shown a fast mode near 0.3 µs per request
//! and a slow one near 3 µs, in the same run. Run twice before believing a change, and
//! look at the spread of the samples, not only the estimate.
//!
//! # Nothing lost, nothing allocated
//!
//! Every run checks its answer: the pinger answers the total of round trips made so
//! far, the ponger `n + 1` for question `n`, and a run of `run_until_idle` in
//! spawn-stop must resume the actor exactly once and handle exactly its stop message;
//! a wrong result panics. A wait longer than [`STALL`] on an answer panics too (a lost
//! message would otherwise hang the bench). After each benchmark the actors are stopped
//! and the scheduler too, and the bench panics unless the actors stopped, no job
//! panicked, none was cancelled or rejected, every spawn-stop actor's `on_stop` ran
//! with `StopReason::Stopped`, and every cell went back to its resource (the resource's
//! `Arc` is unique again).
//!
//! This binary installs a counting global allocator, which counts only inside
//! [`global_allocations`] (otherwise its cost is one relaxed load of a flag per
//! allocation, for every candidate). Before each benchmark, after warm-up, the bench
//! runs its operation thousands of times with counting on and prints the global
//! allocations per operation; it panics unless there are none, except for
//! `spawn-stop/GlobalResource`, whose count (2 per actor) is the point. The count
//! covers the whole process (workers included) and the bench's own code, which
//! allocates nothing in the timed loops. A pool shard grows once the first time its
//! thread allocates a given size, which with two workers can happen after warm-up (a
//! worker running an actor for the first time), so up to [`COUNT_WINDOWS`] windows
//! are counted until one is clean; a steady allocation shows in every window.
//!
//! This set-up work (warm-up, allocation counts, latency percentiles) runs for every
//! benchmark whatever the command line's filter, which only skips criterion's part.

use std::cell::Cell;
use std::future::Future as _;
use std::hint;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use zeta::arena::{GlobalResource, MemoryResource, MonotonicResource, PoolResource};
use zeta::{
    Actor, Address, Context, Future, ManualScheduler, Reply, Scheduler, SharingScheduler,
    StopReason, WaitStrategy,
};
use zeta_bench::counting::{global_allocations, CountingAlloc};
use zeta_bench::floor::{ActorId, Floor};
use zeta_bench::{Backoff, Ratios};

/// Round trips (requests) per run in the ping-pong and ask-reply groups: one outside
/// ask starts a run and its answer ends it.
const RUN: u64 = 16_384;
/// Actors per timed batch in the spawn-stop group.
const SPAWN_BATCH: u64 = 1024;
/// Worker counts of the `SharingScheduler` shapes.
const WORKERS: [usize; 2] = [1, 2];
/// Every scheduler's `max_throughput`.
const MAX_THROUGHPUT: usize = 64;
/// `SharingScheduler`'s `spin_before_park` (its default, set explicitly).
const SPIN_BEFORE_PARK: u32 = 64;
/// Requests timed one by one for the latency percentiles of the outside-ask group.
const LATENCY_SAMPLES: usize = 10_000;
/// Runs (of [`RUN`] round trips, or [`SPAWN_BATCH`] actors) per window of counted
/// operations.
const COUNTED_RUNS: u64 = 4;
/// Outside requests run with the counting allocator on, per window.
const COUNTED_REQUESTS: u64 = 2_000;
/// Windows of counted operations at most, per benchmark (see [`check_allocations`]).
const COUNT_WINDOWS: usize = 3;
/// A wait for an answer that takes this long means a message was lost.
const STALL: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Counting the global allocator.

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

// ---------------------------------------------------------------------------------------
// Actors.

/// Answers pings with pongs (plain sends) and questions with `n + 1` (requests).
struct Ponger {
    /// Set by `Hello`, right after spawn.
    pinger: Option<Address<Pinger>>,
}

enum PongerMsg {
    Hello(Address<Pinger>),
    Ping(u64),
    Question(u64, Reply<u64>),
}

impl Actor for Ponger {
    type Message = PongerMsg;

    #[inline]
    fn handle(&mut self, message: PongerMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            PongerMsg::Hello(pinger) => self.pinger = Some(pinger),
            PongerMsg::Ping(n) => {
                let pinger = self.pinger.as_ref().expect("hello comes first");
                if pinger.send(PingerMsg::Pong(n)).is_err() {
                    panic!("the pinger stopped mid-run");
                }
            }
            PongerMsg::Question(n, reply) => {
                if reply.send(n + 1).is_err() {
                    panic!("the asker dropped its future");
                }
            }
        }
    }
}

/// What the pinger does per round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// `Ping` and `Pong`: two plain sends.
    PingPong,
    /// `ask` + reply, the answer taken in `on_wake`.
    AskReply,
    /// `Context::ask`, the answer handled in the continuation; measured in the
    /// ask-reply group, beside `AskReply`.
    Continuation,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::PingPong => "ping-pong",
            Shape::AskReply | Shape::Continuation => "ask-reply",
        }
    }
}

/// Makes runs of round trips (or requests) with the ponger, and answers the outside
/// asker of a run with the total of rounds made so far.
struct Pinger {
    ponger: Address<Ponger>,
    shape: Shape,
    /// Rounds left in the current run.
    remaining: u64,
    /// Rounds completed, over every run.
    rounds: u64,
    /// The request in flight (ask-reply), polled again in `on_wake`.
    pending: Option<Future<u64>>,
    /// The outside asker of the current run.
    done: Option<Reply<u64>>,
}

enum PingerMsg {
    /// Make this many rounds, then answer with the total.
    Run(u64, Reply<u64>),
    Pong(u64),
}

impl Pinger {
    /// Starts the next round, or answers the run when it is complete.
    #[inline]
    fn next(&mut self, ctx: &mut Context<'_, Self>) {
        if self.remaining == 0 {
            let done = self.done.take().expect("a run is in progress");
            if done.send(self.rounds).is_err() {
                panic!("the outside asker dropped its future");
            }
            return;
        }
        self.remaining -= 1;
        let n = self.rounds;
        match self.shape {
            Shape::PingPong => {
                if self.ponger.send(PongerMsg::Ping(n)).is_err() {
                    panic!("the ponger stopped mid-run");
                }
            }
            Shape::AskReply => {
                let Ok(mut future) = self.ponger.ask(|reply| PongerMsg::Question(n, reply)) else {
                    panic!("the ponger stopped mid-run");
                };
                match Pin::new(&mut future).poll(&mut TaskContext::from_waker(ctx.waker_ref())) {
                    Poll::Ready(answer) => self.answered(answer.ok(), ctx),
                    Poll::Pending => self.pending = Some(future),
                }
            }
            Shape::Continuation => {
                let asked = ctx.ask(
                    &self.ponger,
                    |reply| PongerMsg::Question(n, reply),
                    |this: &mut Self, ctx, answer| this.answered(answer.ok(), ctx),
                );
                if asked.is_err() {
                    panic!("the ponger stopped mid-run");
                }
            }
        }
    }

    #[inline]
    fn answered(&mut self, answer: Option<u64>, ctx: &mut Context<'_, Self>) {
        assert_eq!(answer, Some(self.rounds + 1), "the ponger's answer");
        self.rounds += 1;
        self.next(ctx);
    }
}

impl Actor for Pinger {
    type Message = PingerMsg;

    #[inline]
    fn handle(&mut self, message: PingerMsg, ctx: &mut Context<'_, Self>) {
        match message {
            PingerMsg::Run(rounds, done) => {
                assert!(self.done.is_none(), "one run at a time");
                self.remaining = rounds;
                self.done = Some(done);
                self.next(ctx);
            }
            PingerMsg::Pong(n) => {
                assert_eq!(n, self.rounds, "pongs come back in order");
                self.rounds += 1;
                self.next(ctx);
            }
        }
    }

    #[inline]
    fn on_wake(&mut self, ctx: &mut Context<'_, Self>) {
        let Some(mut future) = self.pending.take() else {
            return;
        };
        match future.try_take() {
            Some(answer) => self.answered(answer.ok(), ctx),
            None => self.pending = Some(future),
        }
    }
}

/// The spawn-stop group's actor: does nothing, counts its graceful stops.
struct Nop;

/// `Nop`s stopped with `StopReason::Stopped`. Only the measuring thread runs them (the
/// `ManualScheduler` is driven by it).
static NOPS_STOPPED: AtomicU64 = AtomicU64::new(0);

impl Actor for Nop {
    type Message = ();

    fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}

    #[inline]
    fn on_stop(&mut self, reason: StopReason) {
        if reason == StopReason::Stopped {
            // Relaxed load and store, no RMW: one thread runs every `Nop` (above).
            let stopped = NOPS_STOPPED.load(Ordering::Relaxed);
            NOPS_STOPPED.store(stopped + 1, Ordering::Relaxed);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Schedulers.

/// A scheduler the measuring thread can wait on.
enum Driver {
    /// Driven by the measuring thread with `run_until_idle`.
    Manual(Arc<ManualScheduler>),
    /// Started: its workers run the actors.
    Sharing(Arc<SharingScheduler>),
}

impl Driver {
    fn manual() -> Self {
        Driver::Manual(Arc::new(
            ManualScheduler::new(MAX_THROUGHPUT).expect("a valid configuration"),
        ))
    }

    fn sharing(workers: usize) -> Self {
        let scheduler = SharingScheduler::builder()
            .workers(workers)
            .max_throughput(MAX_THROUGHPUT)
            .spin_before_park(SPIN_BEFORE_PARK)
            .thread_name("zeta-bench-worker")
            .build()
            .expect("a valid configuration");
        scheduler.start().expect("start the scheduler");
        Driver::Sharing(Arc::new(scheduler))
    }

    fn name(&self) -> String {
        match self {
            Driver::Manual(_) => "manual".to_owned(),
            Driver::Sharing(scheduler) => format!("sharing/{}-worker", scheduler.workers()),
        }
    }

    fn spawn<A: Actor>(&self, actor: A, pool: &Arc<PoolResource>) -> Address<A> {
        let spawned = match self {
            Driver::Manual(scheduler) => zeta::spawn(actor, pool.clone(), scheduler.clone()),
            Driver::Sharing(scheduler) => zeta::spawn(actor, pool.clone(), scheduler.clone()),
        };
        spawned.unwrap_or_else(|_| panic!("no memory for an actor"))
    }

    /// Waits until `future` resolves (for a manual scheduler: runs it until idle) and
    /// returns the answer.
    ///
    /// # Panics
    ///
    /// If the request resolved with an error, or took longer than [`STALL`].
    #[inline]
    fn complete(&self, future: &mut Future<u64>) -> u64 {
        match self {
            Driver::Manual(scheduler) => {
                scheduler
                    .run_until_idle()
                    .expect("driven by the measuring thread only");
            }
            Driver::Sharing(_) => wait_ready(future),
        }
        match future.try_take() {
            Some(Ok(answer)) => answer,
            other => panic!("the request resolved to {other:?}"),
        }
    }

    /// Lets every worker park once, so that it happens before counting: a thread's
    /// first park creates its parking_lot thread data, which can grow parking_lot's
    /// global table (a one-time allocation).
    fn settle(&self) {
        if let Driver::Sharing(scheduler) = self {
            let start = Instant::now();
            // `stats` returns a `Vec`: only called here, outside counting and timing.
            while scheduler.stats().iter().any(|worker| worker.parks == 0) {
                assert!(start.elapsed() < STALL, "a worker never parks");
                std::thread::yield_now();
            }
            // The count goes up as a worker goes to sleep, before parking_lot sets the
            // thread up: give the worker time to get there.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops `addresses`' actors, then the scheduler (joining its workers), and panics
    /// unless the actors stopped, and no job panicked, was cancelled or rejected.
    fn shut_down(self, addresses: &[&dyn Stoppable], what: &str) {
        for address in addresses {
            address.stop_actor();
        }
        match &self {
            Driver::Manual(scheduler) => {
                let stats = scheduler
                    .run_until_idle()
                    .expect("driven by the measuring thread only");
                assert_eq!(stats.panics, 0, "{what}: a handler panicked");
            }
            Driver::Sharing(_) => {
                let start = Instant::now();
                while addresses.iter().any(|address| address.alive()) {
                    assert!(start.elapsed() < STALL, "{what}: an actor does not stop");
                    std::thread::yield_now();
                }
            }
        }
        // Joins the workers: every run, and so every actor's drop, is over after this.
        let report = match &self {
            Driver::Manual(scheduler) => scheduler.stop(),
            Driver::Sharing(scheduler) => scheduler.stop(),
        }
        .expect("stop from the measuring thread");
        assert_eq!(report.cancelled, 0, "{what}: jobs cancelled at stop");
        if let Driver::Sharing(scheduler) = &self {
            let panics: u64 = scheduler.stats().iter().map(|w| w.panics).sum();
            assert_eq!(panics, 0, "{what}: a handler panicked");
            assert_eq!(scheduler.rejected(), 0, "{what}: jobs rejected");
        }
    }
}

/// An address of any actor type, for [`Driver::shut_down`].
trait Stoppable {
    fn stop_actor(&self);
    fn alive(&self) -> bool;
}

impl<A: Actor> Stoppable for Address<A> {
    fn stop_actor(&self) {
        self.stop().expect("the actor is still running");
    }

    fn alive(&self) -> bool {
        self.is_alive()
    }
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

/// Waits until `future` resolves, polling with [`Backoff`] (spin, then yield).
///
/// # Panics
///
/// If it takes longer than [`STALL`]: a message was lost.
#[inline]
fn wait_ready(future: &Future<u64>) {
    let mut backoff = Backoff::new();
    let mut polls = 0u32;
    let mut since = None;
    while !future.is_ready() {
        backoff.snooze();
        polls = polls.wrapping_add(1);
        // Reading the clock is not free: only now and then, once the backoff yields.
        if polls % 1024 == 0 {
            let start: Instant = *since.get_or_insert_with(Instant::now);
            assert!(start.elapsed() < STALL, "no answer: a message was lost");
        }
    }
}

/// Runs `operations` operations in calls of `run(batch)` with batches of at most
/// `batch` operations, and returns the time taken: `iter_custom`'s routine.
#[inline]
fn timed_in_batches(operations: u64, batch: u64, run: &mut impl FnMut(u64)) -> Duration {
    let start = Instant::now();
    let mut left = operations;
    while left > 0 {
        let now = left.min(batch);
        run(now);
        left -= now;
    }
    start.elapsed()
}

// ---------------------------------------------------------------------------------------
// Groups.

// ---------------------------------------------------------------------------------------
// The floor.

/// The floor's reply: a slot the asker reads, and who to wake when it is written.
struct FloorReply {
    slot: Rc<Cell<Option<u64>>>,
    asker: ActorId,
}

enum FloorMsg {
    /// To the ponger: who the pinger is.
    Hello(ActorId),
    /// To the pinger: make this many rounds.
    Run(u64),
    Ping(u64),
    Pong(u64),
    Question(u64, FloorReply),
    /// To the pinger: its question's answer is in the slot.
    Wake,
}

/// The atomic operations a thread-safe engine cannot do without, added to the floor's
/// messages by the `floor+<n>rmw` variants: each actor has an inbox word; a send does
/// the push's CAS on the receiver's word, and a message received does `n - 1` more on
/// the receiver's own (1: a detach-and-block CAS; 2: a take's swap and a block's CAS).
/// Only the atomics: the messages still travel through the floor's queues.
struct InboxWords {
    words: [AtomicUsize; 2],
    rmw: u32,
}

impl InboxWords {
    /// The sender's push onto `to`'s word: a load and a CAS, as a Treiber push.
    #[inline]
    fn push(&self, to: usize) {
        if self.rmw == 0 {
            return;
        }
        let word = &self.words[to];
        let mut top = word.load(Ordering::Relaxed);
        while let Err(now) =
            word.compare_exchange_weak(top, top + 4, Ordering::AcqRel, Ordering::Relaxed)
        {
            top = now;
        }
    }

    /// The receiver's side for one message on its own word `me`.
    #[inline]
    fn receive(&self, me: usize) {
        let word = &self.words[me];
        if self.rmw >= 3 {
            // Take: swap the stack out.
            let top = word.swap(0, Ordering::AcqRel);
            hint::black_box(top);
        }
        if self.rmw >= 2 {
            // Block (or detach-and-block): CAS from what was seen to BLOCKED.
            let seen = word.load(Ordering::Relaxed);
            let _ = word.compare_exchange(seen, 2, Ordering::AcqRel, Ordering::Relaxed);
        }
    }
}

/// `actors/<shape>/floor`: the same runs on the floor, on the measuring thread. With
/// `rmw` > 0, `actors/<shape>/floor+<rmw>rmw`: the floor plus that many atomic
/// read-modify-writes per message ([`InboxWords`]).
fn floor_pair(
    group: &mut BenchmarkGroup<'_, WallTime>,
    shape: Shape,
    rmw: u32,
    ratios: &mut Ratios,
) {
    let id = match rmw {
        0 => "floor".to_owned(),
        n => format!("floor+{n}rmw"),
    };
    let what = format!("actors/{}/{id}", shape.name());
    let words = Rc::new(InboxWords {
        words: [AtomicUsize::new(2), AtomicUsize::new(2)],
        rmw,
    });
    let (pinger_word, ponger_word) = (0, 1);
    let mut floor: Floor<FloorMsg> = Floor::new(MAX_THROUGHPUT);
    let ponger = {
        let mut pinger = None;
        let words = words.clone();
        floor.spawn(move |message, ctx| match message {
            FloorMsg::Hello(id) => pinger = Some(id),
            FloorMsg::Ping(n) => {
                words.receive(ponger_word);
                let pinger = pinger.expect("hello comes first");
                words.push(pinger_word);
                if ctx.send(pinger, FloorMsg::Pong(n)).is_err() {
                    panic!("the pinger stopped mid-run");
                }
            }
            FloorMsg::Question(n, reply) => {
                reply.slot.set(Some(n + 1));
                if ctx.send(reply.asker, FloorMsg::Wake).is_err() {
                    panic!("the asker stopped mid-run");
                }
            }
            _ => unreachable!("the ponger gets pings and questions"),
        })
    };
    // The pinger's count of rounds, written when a run ends.
    let finished: Rc<Cell<Option<u64>>> = Rc::default();
    let pinger = {
        let finished = finished.clone();
        let slot: Rc<Cell<Option<u64>>> = Rc::default();
        let mut remaining = 0u64;
        let mut rounds = 0u64;
        let words = words.clone();
        floor.spawn(move |message, ctx| {
            match message {
                FloorMsg::Run(n) => remaining = n,
                FloorMsg::Pong(n) => {
                    words.receive(pinger_word);
                    assert_eq!(n, rounds, "pongs come back in order");
                    rounds += 1;
                }
                FloorMsg::Wake => {
                    assert_eq!(slot.take(), Some(rounds + 1), "the ponger's answer");
                    rounds += 1;
                }
                _ => unreachable!("the pinger gets runs, pongs and wake-ups"),
            }
            if remaining == 0 {
                finished.set(Some(rounds));
                return;
            }
            remaining -= 1;
            let sent = match shape {
                Shape::PingPong => {
                    words.push(ponger_word);
                    ctx.send(ponger, FloorMsg::Ping(rounds))
                }
                Shape::AskReply | Shape::Continuation => {
                    let reply = FloorReply {
                        slot: slot.clone(),
                        asker: ctx.me(),
                    };
                    ctx.send(ponger, FloorMsg::Question(rounds, reply))
                }
            };
            if sent.is_err() {
                panic!("the ponger stopped mid-run");
            }
        })
    };
    if floor.send(ponger, FloorMsg::Hello(pinger)).is_err() {
        panic!("{what}: the ponger stopped");
    }

    let mut total = 0u64;
    let mut run = |rounds: u64| {
        if floor.send(pinger, FloorMsg::Run(rounds)).is_err() {
            panic!("the pinger stopped");
        }
        floor.run_until_idle();
        total += rounds;
        assert_eq!(finished.take(), Some(total), "rounds made");
    };
    for _ in 0..4 {
        run(RUN);
    }
    let per = match shape {
        Shape::PingPong => "round trips",
        Shape::AskReply | Shape::Continuation => "requests",
    };
    check_allocations(&what, COUNTED_RUNS * RUN, per, Some(0), || {
        for _ in 0..COUNTED_RUNS {
            run(RUN);
        }
    });

    group.bench_function(&id, |b| {
        b.iter_custom(|iters| {
            let took = timed_in_batches(iters, RUN, &mut run);
            ratios.record(&id, iters, took);
            took
        })
    });
}

/// `actors/ping-pong` and `actors/ask-reply`.
fn actor_to_actor(c: &mut Criterion, shape: Shape) {
    let name = format!("actors/{}", shape.name());
    let mut group = c.benchmark_group(&name);
    group.throughput(Throughput::Elements(1));
    let mut ratios = Ratios::default();
    floor_pair(&mut group, shape, 0, &mut ratios);
    if let Shape::PingPong = shape {
        for rmw in [2, 3] {
            floor_pair(&mut group, shape, rmw, &mut ratios);
        }
    }
    // The ask-reply group also measures `Context::ask` on each scheduler, as
    // `continuation/<scheduler>`.
    let shapes = match shape {
        Shape::AskReply => vec![Shape::AskReply, Shape::Continuation],
        _ => vec![shape],
    };
    let kinds = core::iter::once(None).chain(WORKERS.map(Some));
    for (workers, shape) in kinds.flat_map(|kind| shapes.iter().map(move |&shape| (kind, shape))) {
        // Made one at a time: only the measured scheduler exists.
        let driver = workers.map_or_else(Driver::manual, Driver::sharing);
        let name = match shape {
            Shape::Continuation => format!("continuation/{}", driver.name()),
            _ => driver.name(),
        };
        let what = format!("actors/{}/{name}", shape.name());
        let pool = Arc::new(PoolResource::new());
        let ponger = driver.spawn(Ponger { pinger: None }, &pool);
        let pinger = driver.spawn(
            Pinger {
                ponger: ponger.clone(),
                shape,
                remaining: 0,
                rounds: 0,
                pending: None,
                done: None,
            },
            &pool,
        );
        if ponger.send(PongerMsg::Hello(pinger.clone())).is_err() {
            panic!("{what}: the ponger stopped");
        }

        let mut total = 0u64;
        let mut run = |rounds: u64| {
            let Ok(mut future) = pinger.ask(|reply| PingerMsg::Run(rounds, reply)) else {
                panic!("the pinger stopped");
            };
            total += rounds;
            assert_eq!(driver.complete(&mut future), total, "rounds made");
        };
        // Warm: the pool's chunks, the queues, every thread's one-time registrations.
        for _ in 0..4 {
            run(RUN);
        }
        driver.settle();
        let per = match shape {
            Shape::PingPong => "round trips",
            Shape::AskReply | Shape::Continuation => "requests",
        };
        check_allocations(&what, COUNTED_RUNS * RUN, per, Some(0), || {
            for _ in 0..COUNTED_RUNS {
                run(RUN);
            }
        });

        group.bench_function(&name, |b| {
            b.iter_custom(|iters| {
                let took = timed_in_batches(iters, RUN, &mut run);
                ratios.record(&name, iters, took);
                took
            })
        });
        driver.shut_down(&[&pinger as &dyn Stoppable, &ponger], &what);
        drop((pinger, ponger));
        check_returned(&pool, &what);
    }
    group.finish();
    println!("{}", ratios.report(&name, "floor"));
}

/// How the outside thread waits for its answer.
#[derive(Clone, Copy, Debug)]
enum Wait {
    Backoff,
    Park,
    SpinTryTake,
}

impl Wait {
    const ALL: [Wait; 3] = [Wait::Backoff, Wait::Park, Wait::SpinTryTake];

    fn name(self) -> &'static str {
        match self {
            Wait::Backoff => "backoff",
            Wait::Park => "park",
            Wait::SpinTryTake => "spin-try-take",
        }
    }

    /// Waits for `future`'s answer.
    ///
    /// # Panics
    ///
    /// If the request resolved with an error; `spin-try-take` also after [`STALL`]
    /// (the two `wait_with` strategies have no timeout: a request always resolves, so
    /// a hang there is a bug of the engine).
    #[inline]
    fn answer(self, mut future: Future<u64>) -> u64 {
        let result = match self {
            Wait::Backoff => future.wait_with(WaitStrategy::Backoff),
            Wait::Park => future.wait_with(WaitStrategy::Park),
            Wait::SpinTryTake => {
                let mut polls = 0u32;
                let mut since = None;
                loop {
                    if let Some(result) = future.try_take() {
                        break result;
                    }
                    hint::spin_loop();
                    polls = polls.wrapping_add(1);
                    if polls % (1 << 16) == 0 {
                        let start: Instant = *since.get_or_insert_with(Instant::now);
                        assert!(start.elapsed() < STALL, "no answer: a message was lost");
                    }
                }
            }
        };
        match result {
            Ok(answer) => answer,
            Err(error) => panic!("the request resolved to {error:?}"),
        }
    }
}

/// `actors/outside-ask`.
fn outside_ask(c: &mut Criterion) {
    let mut group = c.benchmark_group("actors/outside-ask");
    group.throughput(Throughput::Elements(1));
    for workers in WORKERS {
        let driver = Driver::sharing(workers);
        let pool = Arc::new(PoolResource::new());
        let ponger = driver.spawn(Ponger { pinger: None }, &pool);
        let mut asked = 0u64;
        for wait in Wait::ALL {
            let name = format!("{}/{workers}-worker", wait.name());
            let what = format!("actors/outside-ask/{name}");
            let mut request = || {
                let n = asked;
                asked += 1;
                let Ok(future) = ponger.ask(|reply| PongerMsg::Question(n, reply)) else {
                    panic!("the ponger stopped");
                };
                assert_eq!(wait.answer(future), n + 1, "the ponger's answer");
            };
            for _ in 0..1_000 {
                request();
            }
            driver.settle();
            check_allocations(&what, COUNTED_REQUESTS, "requests", Some(0), || {
                for _ in 0..COUNTED_REQUESTS {
                    request();
                }
            });

            group.bench_function(&name, |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        request();
                    }
                    start.elapsed()
                })
            });
            print_latencies(&what, &mut request);
        }
        driver.shut_down(&[&ponger as &dyn Stoppable], "actors/outside-ask");
        drop(ponger);
        check_returned(&pool, "actors/outside-ask");
    }
    group.finish();
}

/// Times [`LATENCY_SAMPLES`] calls of `request` one by one and prints percentiles.
fn print_latencies(what: &str, request: &mut impl FnMut()) {
    let mut samples: Vec<Duration> = Vec::with_capacity(LATENCY_SAMPLES);
    for _ in 0..LATENCY_SAMPLES {
        let start = Instant::now();
        request();
        samples.push(start.elapsed());
    }
    samples.sort_unstable();
    let at = |quantile: f64| samples[((samples.len() - 1) as f64 * quantile) as usize];
    println!(
        "{what}: latency over {LATENCY_SAMPLES} requests: p50 {:.2?}, p99 {:.2?}, \
         p99.9 {:.2?}, max {:.2?}",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );
}

/// Counts the global allocations of `window` (which runs `operations` operations,
/// named `unit`) until a window makes `expected` per operation, or [`COUNT_WINDOWS`]
/// windows have run; prints every window's count, and panics unless the last one is
/// as expected. With `expected: None`, counts one window and prints it.
///
/// More than one window: a one-time allocation can still come after warm-up, from a
/// pool shard that grows the first time its thread allocates a given size (with two
/// workers, the first time a worker runs an actor it has not run before). A steady
/// allocation shows in every window.
fn check_allocations(
    what: &str,
    operations: u64,
    unit: &str,
    expected: Option<u64>,
    mut window: impl FnMut(),
) {
    let mut counts = Vec::with_capacity(COUNT_WINDOWS);
    let last = loop {
        let count = global_allocations(&mut window);
        counts.push(count);
        if counts.len() == COUNT_WINDOWS || expected.is_none_or(|e| count == e * operations) {
            break count;
        }
    };
    println!(
        "{what}: global allocations per {operations} {unit}: {counts:?} \
         ({:.3} per operation in the last window)",
        last as f64 / operations as f64
    );
    if let Some(expected) = expected {
        assert_eq!(
            last,
            expected * operations,
            "{what}: global allocations in every window: {counts:?}"
        );
    }
}

/// `actors/spawn-stop/<name>` on `resource`; `between` runs after every batch, outside
/// the clock (the monotonic arena's reset), and `expected` is the global allocations
/// per actor the resource makes (`None`: report only).
fn spawn_stop<R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    resource: Arc<R>,
    between: fn(&mut Arc<R>),
    expected: Option<u64>,
) where
    R: MemoryResource + Send + Sync + 'static,
{
    let what = format!("actors/spawn-stop/{name}");
    let scheduler = Arc::new(ManualScheduler::new(MAX_THROUGHPUT).expect("a valid configuration"));
    let mut resource = resource;
    let mut spawned = 0u64;
    let mut batch = |resource: &Arc<R>, actors: u64| {
        for _ in 0..actors {
            let Ok(address) = zeta::spawn(Nop, resource.clone(), scheduler.clone()) else {
                panic!("no memory for an actor");
            };
            if address.stop().is_err() {
                panic!("a new actor refused stop");
            }
            let stats = scheduler
                .run_until_idle()
                .expect("driven by the measuring thread only");
            // A stop seals the inbox: no message, one resume that ends the actor.
            assert!(
                stats.resumes == 1 && stats.messages == 0 && stats.panics == 0,
                "one resume acting on the stop: {stats:?}"
            );
            drop(address);
        }
        spawned += actors;
    };
    // Warm: the pool's chunks, the scheduler's queue.
    for _ in 0..4 {
        batch(&resource, SPAWN_BATCH);
        check_returned(&resource, &what);
        between(&mut resource);
    }
    check_allocations(
        &what,
        COUNTED_RUNS * SPAWN_BATCH,
        "actors",
        expected,
        || {
            for _ in 0..COUNTED_RUNS {
                batch(&resource, SPAWN_BATCH);
                check_returned(&resource, &what);
                between(&mut resource);
            }
        },
    );

    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let actors = left.min(SPAWN_BATCH);
                let start = Instant::now();
                batch(&resource, actors);
                timed += start.elapsed();
                left -= actors;
                check_returned(&resource, "spawn-stop");
                between(&mut resource);
            }
            timed
        })
    });

    let report = scheduler.stop().expect("stop from the measuring thread");
    assert_eq!(report.cancelled, 0, "{what}: jobs cancelled at stop");
    // Relaxed: written by this thread only.
    let stopped = NOPS_STOPPED.swap(0, Ordering::Relaxed);
    assert_eq!(stopped, spawned, "{what}: every actor stopped gracefully");
}

/// Does nothing between batches: the pool and the global allocator free one by one.
fn nothing<R>(_: &mut Arc<R>) {}

/// Frees the monotonic arena's batch at once, keeping its chunk, and checks that the
/// batch fitted in that chunk (no chunk was allocated inside the clock).
fn reset_arena(arena: &mut Arc<MonotonicResource>) {
    let arena = Arc::get_mut(arena).expect("every cell went back to the arena");
    let reserved = arena.allocated_bytes();
    arena.reset();
    assert_eq!(
        arena.allocated_bytes(),
        reserved,
        "the arena grew beyond its first chunk inside the clock"
    );
}

/// `actors/spawn-stop`.
fn spawn_stop_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("actors/spawn-stop");
    group.throughput(Throughput::Elements(1));

    spawn_stop(
        &mut group,
        "PoolResource",
        Arc::new(PoolResource::new()),
        nothing,
        Some(0),
    );

    // A probe batch tells how many bytes a batch takes (cells, stop nodes, padding);
    // the measured arena starts with one chunk at least that large.
    let probe = Arc::new(MonotonicResource::new());
    let scheduler = Arc::new(ManualScheduler::new(MAX_THROUGHPUT).expect("a valid configuration"));
    for _ in 0..SPAWN_BATCH {
        let Ok(address) = zeta::spawn(Nop, probe.clone(), scheduler.clone()) else {
            panic!("no memory for an actor");
        };
        address.stop().expect("a new actor accepts stop");
        scheduler.run_until_idle().expect("driven by this thread");
    }
    let bytes = probe.allocated_bytes();
    drop(scheduler);
    // Relaxed: written by this thread only.
    NOPS_STOPPED.store(0, Ordering::Relaxed);
    spawn_stop(
        &mut group,
        "MonotonicResource",
        Arc::new(MonotonicResource::with_capacity(bytes)),
        reset_arena,
        Some(0),
    );

    spawn_stop(
        &mut group,
        "GlobalResource",
        Arc::new(GlobalResource),
        nothing,
        None,
    );
    group.finish();
}

/// Creates the measuring thread's parking_lot thread data (and parking_lot's global
/// table) now: it happens at a thread's first park, which for this thread can be any
/// contended lock inside the engine, and it allocates.
fn register_with_parking_lot() {
    let lock = parking_lot::Mutex::new(());
    let timed_out = parking_lot::Condvar::new()
        .wait_for(&mut lock.lock(), Duration::from_micros(1))
        .timed_out();
    assert!(timed_out, "nobody notifies this condition variable");
}

fn main() {
    register_with_parking_lot();
    let mut criterion = zeta_bench::criterion();
    actor_to_actor(&mut criterion, Shape::PingPong);
    actor_to_actor(&mut criterion, Shape::AskReply);
    outside_ask(&mut criterion);
    spawn_stop_group(&mut criterion);
    criterion.final_summary();
}
