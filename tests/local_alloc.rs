//! Zero global allocations per message on the local path (`zeta::local`), in a steady
//! state, with the system's memory in a warmed `PoolResource`:
//!
//! - ping-pong between two local actors (plain sends), 10,000 round trips;
//! - requests between two local actors: the asker keeps the `LocalFuture` and looks at
//!   it when its next message comes (a system with `max_throughput` 1, so that the
//!   answerer runs in between), 1,000 round trips;
//! - requests from outside: `ask` + `run_until_idle` + `try_take`, and `ask` + `wait`,
//!   1,000 each;
//! - sends from another thread through a `SendAddress` (the bridge), 10,000 messages,
//!   at most 256 in the bridge at a time, the local thread running and parking until
//!   they have all arrived.
//!
//! Message nodes, request slots and bridge parcels come from the system's pool; the
//! global allocator must see nothing once the pool has its chunks and each thread has
//! done its one-time registrations (a pool shard). Allocations are counted on every
//! thread; this binary holds this single test, which measures the paths one after the
//! other, so nothing else in the process allocates while a path is measured.
#![cfg(not(zeta_loom))]

use std::alloc::{GlobalAlloc, Layout, System as SystemAlloc};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use zeta::arena::PoolResource;
use zeta::local::{
    LocalActor, LocalAddress, LocalContext, LocalFuture, LocalReply, LocalSystem, SendAddress,
};

struct CountingAlloc;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator, which upholds `GlobalAlloc`'s
// contract; the counter is a static atomic.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { SystemAlloc.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { SystemAlloc.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { SystemAlloc.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { SystemAlloc.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::SeqCst)
}

const WARM_UP_RUNS: usize = 5;

/// Global allocations while `run` does `rounds`, after warm-up runs of the same size.
fn measure(rounds: u64, mut run: impl FnMut(u64)) -> u64 {
    for _ in 0..WARM_UP_RUNS {
        run(rounds);
    }
    let before = allocations();
    run(rounds);
    allocations() - before
}

/// Answers pings (plain sends) and questions (requests).
struct Ponger {
    pinger: Option<LocalAddress<Pinger>>,
}

enum PongerMsg {
    Hello(LocalAddress<Pinger>),
    Ping(u64),
    Question(u64, LocalReply<u64>),
}

impl LocalActor for Ponger {
    type Message = PongerMsg;

    fn handle(&mut self, message: PongerMsg, _ctx: &mut LocalContext<'_, Self>) {
        match message {
            PongerMsg::Hello(pinger) => self.pinger = Some(pinger),
            PongerMsg::Ping(n) => {
                let pinger = self.pinger.as_ref().expect("hello first");
                pinger
                    .send(PingerMsg::Pong(n))
                    .expect("the pinger is alive");
            }
            PongerMsg::Question(n, reply) => reply.send(n + 1).expect("the asker waits"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Ping-pong: plain sends.
    Send,
    /// `LocalAddress::ask`; the future is looked at in the asker's next message.
    Ask,
}

/// Runs rounds against the ponger; tells the outside when a run is complete.
struct Pinger {
    ponger: LocalAddress<Ponger>,
    mode: Mode,
    remaining: u64,
    rounds: u64,
    pending: Option<LocalFuture<u64>>,
    done: Rc<Cell<u64>>,
}

enum PingerMsg {
    Run(u64),
    Pong(u64),
    /// Look at the pending request.
    Check,
}

impl Pinger {
    fn next(&mut self, ctx: &mut LocalContext<'_, Self>) {
        if self.remaining == 0 {
            self.done.set(self.rounds);
            return;
        }
        self.remaining -= 1;
        let n = self.rounds;
        match self.mode {
            Mode::Send => self.ponger.send(PongerMsg::Ping(n)).expect("alive"),
            Mode::Ask => {
                let future = self
                    .ponger
                    .ask(|reply| PongerMsg::Question(n, reply))
                    .expect("alive");
                self.pending = Some(future);
                ctx.address().send(PingerMsg::Check).expect("alive");
            }
        }
    }
}

impl LocalActor for Pinger {
    type Message = PingerMsg;

    fn handle(&mut self, message: PingerMsg, ctx: &mut LocalContext<'_, Self>) {
        match message {
            PingerMsg::Run(rounds) => {
                self.remaining = rounds;
                self.next(ctx);
            }
            PingerMsg::Pong(n) => {
                assert_eq!(n, self.rounds);
                self.rounds += 1;
                self.next(ctx);
            }
            PingerMsg::Check => {
                let mut future = self.pending.take().expect("a pending request");
                match future.try_take() {
                    Some(answer) => {
                        assert_eq!(answer, Ok(self.rounds + 1));
                        self.rounds += 1;
                        self.next(ctx);
                    }
                    None => {
                        self.pending = Some(future);
                        ctx.address().send(PingerMsg::Check).expect("alive");
                    }
                }
            }
        }
    }
}

/// The pair on `system`; `done` holds the rounds made when a run is complete.
fn pair(
    system: &LocalSystem,
    mode: Mode,
) -> (LocalAddress<Pinger>, LocalAddress<Ponger>, Rc<Cell<u64>>) {
    let ponger = system.spawn(Ponger { pinger: None }).unwrap();
    let done = Rc::new(Cell::new(0));
    let pinger = system
        .spawn(Pinger {
            ponger: ponger.clone(),
            mode,
            remaining: 0,
            rounds: 0,
            pending: None,
            done: done.clone(),
        })
        .unwrap();
    ponger.send(PongerMsg::Hello(pinger.clone())).unwrap();
    system.run_until_idle().unwrap();
    (pinger, ponger, done)
}

/// Round trips between two local actors.
fn between_actors(mode: Mode, max_throughput: usize, rounds: u64) -> u64 {
    let system = LocalSystem::with_resource(max_throughput, Arc::new(PoolResource::new())).unwrap();
    round_trips(system, mode, rounds)
}

/// Counts every hook it is told of (relaxed atomics: nothing allocated).
#[cfg(feature = "observe")]
struct Census(std::sync::atomic::AtomicU64);

#[cfg(feature = "observe")]
impl zeta::observe::Observer for Census {
    fn on_message(&self, _: &zeta::observe::ActorInfo) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fn on_message_done(&self, _: &zeta::observe::ActorInfo) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fn on_run(&self, _: &zeta::observe::ActorInfo, _: zeta::observe::Run) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(feature = "observe")]
impl zeta::observe::SchedulerObserver for Census {}

/// Round trips between two local actors of a system whose observer is told of every
/// run and message (`observe` feature).
#[cfg(feature = "observe")]
fn observed_between_actors(rounds: u64) -> u64 {
    let census = Arc::new(Census(std::sync::atomic::AtomicU64::new(0)));
    let system = LocalSystem::builder()
        .resource(Arc::new(PoolResource::new()))
        .observer(census.clone())
        .build()
        .unwrap();
    let count = round_trips(system, Mode::Send, rounds);
    // At least a run and the two message hooks per message.
    assert!(census.0.load(std::sync::atomic::Ordering::Relaxed) >= 6 * rounds);
    count
}

/// `rounds` round trips on `system`, measured.
fn round_trips(system: LocalSystem, mode: Mode, rounds: u64) -> u64 {
    let (pinger, ponger, done) = pair(&system, mode);
    let mut total = 0;
    let count = measure(rounds, |rounds| {
        pinger.send(PingerMsg::Run(rounds)).unwrap();
        system.run_until_idle().unwrap();
        total += rounds;
        assert_eq!(done.get(), total);
    });
    drop((pinger, ponger, system));
    count
}

/// Requests from outside the system: `try_take` after a run, and `wait`.
fn from_outside(rounds: u64) -> u64 {
    let system = LocalSystem::with_resource(64, Arc::new(PoolResource::new())).unwrap();
    let (pinger, ponger, _done) = pair(&system, Mode::Send);
    let count = measure(rounds, |rounds| {
        for n in 0..rounds {
            if n % 2 == 0 {
                let mut future = ponger.ask(|reply| PongerMsg::Question(n, reply)).unwrap();
                system.run_until_idle().unwrap();
                assert_eq!(future.try_take(), Some(Ok(n + 1)));
            } else {
                let future = ponger.ask(|reply| PongerMsg::Question(n, reply)).unwrap();
                assert_eq!(future.wait(), Ok(n + 1));
            }
        }
    });
    drop((pinger, ponger, system));
    count
}

/// Counts what arrives.
struct Sink(Rc<Cell<u64>>);

impl LocalActor for Sink {
    type Message = u64;

    fn handle(&mut self, n: u64, _ctx: &mut LocalContext<'_, Self>) {
        assert_eq!(n, self.0.get(), "in order");
        self.0.set(n + 1);
    }
}

/// At most this many messages in the bridge at once: the pool's peak (and so its
/// chunks) is reached during the warm-up, whatever the two threads' relative speed.
const WINDOW: u64 = 256;

/// Another thread sends `rounds` messages through a `SendAddress` per run, at most
/// [`WINDOW`] ahead of what has arrived; the local thread runs and parks until they have
/// all arrived. Also checks that the pool took no chunk in the measured run.
fn through_the_bridge(rounds: u64) -> u64 {
    let pool = Arc::new(PoolResource::new());
    let system = LocalSystem::with_resource(64, pool.clone()).unwrap();
    let received = Rc::new(Cell::new(0));
    let sink = system.spawn(Sink(received.clone())).unwrap();
    let remote: SendAddress<u64> = sink.sendable().unwrap();
    let go = Arc::new(Barrier::new(2));
    let finished = Arc::new(AtomicBool::new(false));
    let arrived = Arc::new(AtomicU64::new(0));
    let sender = {
        let (go, finished, arrived) = (go.clone(), finished.clone(), arrived.clone());
        std::thread::spawn(move || {
            let mut next = 0;
            loop {
                go.wait();
                if finished.load(Ordering::SeqCst) {
                    return;
                }
                for _ in 0..rounds {
                    while next - arrived.load(Ordering::Acquire) >= WINDOW {
                        std::thread::yield_now();
                    }
                    remote.send(next).expect("the system runs");
                    next += 1;
                }
            }
        })
    };
    let mut total = 0;
    let mut chunks = 0;
    let count = measure(rounds, |rounds| {
        chunks = pool.chunk_count();
        go.wait();
        total += rounds;
        let deadline = Instant::now() + Duration::from_secs(120);
        while received.get() < total {
            system.run_until_idle().unwrap();
            arrived.store(received.get(), Ordering::Release);
            if received.get() < total {
                system.park(Some(Duration::from_millis(10))).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "hang: {} of {total}",
                received.get()
            );
        }
    });
    assert_eq!(
        pool.chunk_count(),
        chunks,
        "the pool grew in the measured run"
    );
    finished.store(true, Ordering::SeqCst);
    go.wait();
    sender.join().unwrap();
    drop((sink, system));
    count
}

#[test]
fn zero_global_allocations_per_local_message() {
    let paths = [
        (
            "local ping-pong, 10,000 round trips",
            between_actors(Mode::Send, 64, 10_000),
        ),
        (
            "local ask between actors, 1,000 round trips",
            between_actors(Mode::Ask, 1, 1_000),
        ),
        (
            "ask from outside (try_take, wait), 1,000",
            from_outside(1_000),
        ),
        (
            "10,000 sends from another thread through a SendAddress",
            through_the_bridge(10_000),
        ),
        #[cfg(feature = "observe")]
        (
            "observed local ping-pong (every hook), 10,000 round trips",
            observed_between_actors(10_000),
        ),
    ];
    for (path, count) in paths {
        println!("{path}: {count} global allocations");
    }
    for (path, count) in paths {
        assert_eq!(count, 0, "{path}");
    }
}
