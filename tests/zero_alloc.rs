//! Zero global allocations per message in a steady state, actor to actor: plain sends
//! (ping-pong) and ask + reply (the asker polls the future with its actor waker and takes
//! the answer in `on_wake`), on a `SharingScheduler` (1 and 2 workers) and on a
//! `ManualScheduler`.
//!
//! Messages, request nodes and wake-up nodes come from the actors' `PoolResource`; the
//! global allocator must see nothing once the pool has its chunks and every thread has
//! done its one-time registrations (a pool shard, parking_lot's thread data). Worker
//! threads are spawned by the scheduler, so allocations are counted globally; the binary
//! holds this single test, which measures the paths one after the other, so nothing else
//! in the process allocates while a path is measured.
#![cfg(not(zeta_loom))]

use std::alloc::{GlobalAlloc, Layout, System as SystemAlloc};
use std::future::Future as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use zeta::arena::PoolResource;
use zeta::scheduler::Scheduler;
use zeta::{
    Actor, Address, Context, Future, ManualScheduler, Reply, SharingScheduler, System, WaitStrategy,
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

/// Answers pings (plain sends) and questions (requests).
struct Ponger {
    pinger: Option<Address<Pinger>>,
}

enum PongerMsg {
    Hello(Address<Pinger>),
    Ping(u64),
    Question(u64, Reply<u64>),
}

impl Actor for Ponger {
    type Message = PongerMsg;

    fn handle(&mut self, message: PongerMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            PongerMsg::Hello(pinger) => self.pinger = Some(pinger),
            PongerMsg::Ping(n) => {
                let pinger = self.pinger.as_ref().expect("hello first");
                pinger
                    .send(PingerMsg::Pong(n))
                    .expect("the pinger is alive");
            }
            PongerMsg::Question(n, reply) => {
                reply.send(n + 1).expect("the asker waits");
            }
        }
    }
}

/// Runs rounds of ping-pong or of ask + reply against the ponger, and answers the
/// outside asker when a run is complete.
struct Pinger {
    ponger: Address<Ponger>,
    remaining: u64,
    asking: bool,
    pending: Option<Future<u64>>,
    done: Option<Reply<u64>>,
    rounds: u64,
}

enum PingerMsg {
    /// Run this many rounds (`true`: ask + reply; `false`: ping-pong), then reply.
    Run(u64, bool, Reply<u64>),
    Pong(u64),
}

impl Pinger {
    fn next(&mut self, ctx: &mut Context<'_, Self>) {
        if self.remaining == 0 {
            if let Some(done) = self.done.take() {
                done.send(self.rounds).expect("the outside asker waits");
            }
            return;
        }
        self.remaining -= 1;
        if !self.asking {
            self.ponger
                .send(PongerMsg::Ping(self.rounds))
                .expect("alive");
            return;
        }
        let n = self.rounds;
        let mut future = self
            .ponger
            .ask(|reply| PongerMsg::Question(n, reply))
            .expect("alive");
        let waker = ctx.waker();
        match std::pin::Pin::new(&mut future).poll(&mut TaskContext::from_waker(&waker)) {
            Poll::Ready(answer) => self.answered(answer.expect("answered"), ctx),
            Poll::Pending => self.pending = Some(future),
        }
    }

    fn answered(&mut self, answer: u64, ctx: &mut Context<'_, Self>) {
        assert_eq!(answer, self.rounds + 1);
        self.rounds += 1;
        self.next(ctx);
    }
}

impl Actor for Pinger {
    type Message = PingerMsg;

    fn handle(&mut self, message: PingerMsg, ctx: &mut Context<'_, Self>) {
        match message {
            PingerMsg::Run(rounds, asking, done) => {
                self.remaining = rounds;
                self.asking = asking;
                self.done = Some(done);
                self.next(ctx);
            }
            PingerMsg::Pong(n) => {
                assert_eq!(n, self.rounds);
                self.rounds += 1;
                self.next(ctx);
            }
        }
    }

    fn on_wake(&mut self, ctx: &mut Context<'_, Self>) {
        let Some(mut future) = self.pending.take() else {
            return;
        };
        match future.try_take() {
            Some(answer) => self.answered(answer.expect("answered"), ctx),
            None => self.pending = Some(future),
        }
    }
}

fn pair<S: Scheduler + 'static>(system: &System<S>) -> Address<Pinger> {
    let ponger = system.spawn(Ponger { pinger: None }).unwrap();
    let pinger = system
        .spawn(Pinger {
            ponger: ponger.clone(),
            remaining: 0,
            asking: false,
            pending: None,
            done: None,
            rounds: 0,
        })
        .unwrap();
    ponger.send(PongerMsg::Hello(pinger.clone())).unwrap();
    pinger
}

const ROUNDS: u64 = 100_000;
const WARM_UP_RUNS: usize = 20;

/// Global allocations while `run` makes `ROUNDS` rounds, after warm-up runs.
fn measure(mut run: impl FnMut(u64)) -> u64 {
    for _ in 0..WARM_UP_RUNS {
        run(ROUNDS / 10);
    }
    let before = allocations();
    run(ROUNDS);
    allocations() - before
}

fn on_sharing(workers: usize, asking: bool) -> u64 {
    let scheduler = SharingScheduler::builder()
        .workers(workers)
        .build()
        .unwrap();
    scheduler.start().unwrap();
    let scheduler = Arc::new(scheduler);
    let system = System::new(scheduler.clone(), Arc::new(PoolResource::new()));
    let pinger = pair(&system);
    let mut total = 0;
    let mut run = |rounds: u64| {
        let future = pinger
            .ask(|reply| PingerMsg::Run(rounds, asking, reply))
            .unwrap();
        total += rounds;
        assert_eq!(future.wait_with(WaitStrategy::Park), Ok(total));
        // Warming up, let every worker park once: a thread's first park registers it
        // with parking_lot (a one-time cost), and later runs may park any of them.
        // (`stats()` returns a `Vec`: not called in the measured run.)
        while rounds < ROUNDS && scheduler.stats().iter().any(|w| w.parks == 0) {
            std::thread::yield_now();
        }
    };
    let count = measure(&mut run);
    drop(pinger);
    drop(system);
    count
}

fn on_manual(asking: bool) -> u64 {
    let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
    let system = System::new(scheduler.clone(), Arc::new(PoolResource::new()));
    let pinger = pair(&system);
    let mut total = 0;
    let mut run = |rounds: u64| {
        let mut future = pinger
            .ask(|reply| PingerMsg::Run(rounds, asking, reply))
            .unwrap();
        total += rounds;
        scheduler.run_until_idle().unwrap();
        assert_eq!(future.try_take(), Some(Ok(total)));
    };
    let count = measure(&mut run);
    drop(pinger);
    drop(system);
    count
}

#[test]
fn zero_global_allocations_per_message_actor_to_actor() {
    let results = [
        ("sharing, 1 worker, send", on_sharing(1, false)),
        ("sharing, 1 worker, ask + reply", on_sharing(1, true)),
        ("sharing, 2 workers, send", on_sharing(2, false)),
        ("sharing, 2 workers, ask + reply", on_sharing(2, true)),
        ("manual, send", on_manual(false)),
        ("manual, ask + reply", on_manual(true)),
    ];
    for (path, count) in results {
        println!("{path}: {count} global allocations over {ROUNDS} round trips");
    }
    for (path, count) in results {
        assert_eq!(count, 0, "{path}");
    }
}
