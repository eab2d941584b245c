//! Cost of bounded mailboxes: the same actors, spawned unbounded and bounded, in the
//! same run, on a `ManualScheduler` driven by the measuring thread (no thread
//! hand-off), in a warmed `PoolResource`.
//!
//! # What is measured (ns per message or round trip; `iter_custom`)
//!
//! - `bounded/burst/unbounded`: the thread sends 64 messages to a sink (`send`), then
//!   `run_until_idle` handles them in one run. One operation is one message: its send,
//!   its share of the schedule and the run, its dispatch.
//! - `bounded/burst/bounded-64`: the same sink spawned with capacity 64, which the burst
//!   never fills: each send's admission (a CAS on the bound's word) and the run's one
//!   give-back, over `unbounded`.
//! - `bounded/burst/bounded-16`: capacity 16, sent with `try_send`; a refused message
//!   makes the thread run the scheduler and send it again: four runs per burst instead
//!   of one, and the refusals.
//! - `bounded/ping-pong/unbounded` and `bounded/ping-pong/bounded-1`: two actors
//!   exchanging a message back and forth from their handlers, 1,000 round trips per
//!   outside request; one operation is one round trip. Bounded to 1, each handler's
//!   send finds room (the receiver's runner gave its slot back before blocking), so it
//!   measures admission and give-back on the actor-to-actor path.
//!
//! After each group a line gives each candidate's time over `unbounded`'s
//! ([`zeta_bench::Ratios`]); at the end, the global allocations of 1,000 operations of
//! each candidate, counted after warm-up ([`zeta_bench::counting`]).

use std::sync::Arc;
use std::time::Instant;

use criterion::{BenchmarkGroup, Criterion, Throughput};
use zeta::arena::PoolResource;
use zeta::{Actor, Address, Context, ManualScheduler, Reply, System};
use zeta_bench::counting::{self, CountingAlloc};
use zeta_bench::Ratios;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

type Manual = System<ManualScheduler>;

/// Messages per burst.
const BURST: u64 = 64;
/// Round trips per outside request.
const ROUNDS: u64 = 1_000;

fn system() -> Manual {
    System::new(
        Arc::new(ManualScheduler::new(64).unwrap()),
        Arc::new(PoolResource::new()),
    )
}

struct Sink(u64);

impl Actor for Sink {
    type Message = u64;
    #[inline]
    fn handle(&mut self, n: u64, _ctx: &mut Context<'_, Self>) {
        self.0 = self.0.wrapping_add(n);
    }
}

/// One burst: `BURST` sends, then the run (`try_send` and a run on `Full` if `retry`).
fn burst(sys: &Manual, sink: &Address<Sink>, retry: bool) {
    for n in 0..BURST {
        if retry {
            let mut message = n;
            while let Err(full) = sink.try_send(message) {
                message = full.into_message();
                sys.scheduler().run_until_idle().unwrap();
            }
        } else {
            sink.send(n).unwrap();
        }
    }
    sys.scheduler().run_until_idle().unwrap();
}

struct Ponger {
    pinger: Option<Address<Pinger>>,
}

enum PongerMsg {
    Hello(Address<Pinger>),
    Ping,
}

impl Actor for Ponger {
    type Message = PongerMsg;
    #[inline]
    fn handle(&mut self, message: PongerMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            PongerMsg::Hello(pinger) => self.pinger = Some(pinger),
            PongerMsg::Ping => {
                let pinger = self.pinger.as_ref().expect("hello first");
                pinger.send(PingerMsg::Pong).expect("alive");
            }
        }
    }
}

struct Pinger {
    ponger: Address<Ponger>,
    left: u64,
    done: Option<Reply<()>>,
}

enum PingerMsg {
    Run(u64, Reply<()>),
    Pong,
}

impl Pinger {
    #[inline]
    fn next(&mut self) {
        if self.left == 0 {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
            return;
        }
        self.left -= 1;
        self.ponger.send(PongerMsg::Ping).expect("alive");
    }
}

impl Actor for Pinger {
    type Message = PingerMsg;
    #[inline]
    fn handle(&mut self, message: PingerMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            PingerMsg::Run(rounds, done) => {
                self.left = rounds;
                self.done = Some(done);
                self.next();
            }
            PingerMsg::Pong => self.next(),
        }
    }
}

/// A pinger and its ponger, bounded to `capacity` if given.
fn pair(sys: &Manual, capacity: Option<usize>) -> Address<Pinger> {
    let ponger = Ponger { pinger: None };
    let ponger = match capacity {
        None => sys.spawn(ponger),
        Some(capacity) => sys.spawn_bounded(ponger, capacity),
    }
    .unwrap_or_else(|_| panic!("spawned"));
    let pinger = Pinger {
        ponger: ponger.clone(),
        left: 0,
        done: None,
    };
    let pinger = match capacity {
        None => sys.spawn(pinger),
        Some(capacity) => sys.spawn_bounded(pinger, capacity),
    }
    .unwrap_or_else(|_| panic!("spawned"));
    ponger.send(PongerMsg::Hello(pinger.clone())).unwrap();
    sys.scheduler().run_until_idle().unwrap();
    pinger
}

/// `ROUNDS` round trips.
fn rounds(sys: &Manual, pinger: &Address<Pinger>) {
    let mut done = pinger
        .ask(|reply| PingerMsg::Run(ROUNDS, reply))
        .unwrap_or_else(|_| panic!("room for the request"));
    sys.scheduler().run_until_idle().unwrap();
    assert_eq!(done.try_take(), Some(Ok(())));
}

/// Times `op`, which does `per_op` operations per call.
fn timed(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    ratios: &mut Ratios,
    name: &str,
    per_call: u64,
    mut op: impl FnMut(),
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iterations| {
            let calls = iterations.div_ceil(per_call);
            let start = Instant::now();
            for _ in 0..calls {
                op();
            }
            let took = start.elapsed();
            ratios.record(name, calls * per_call, took);
            took.mul_f64(iterations as f64 / (calls * per_call) as f64)
        })
    });
}

/// Global allocations of the calls of `op` that make 1,000 operations, after as many
/// unmeasured ones.
fn count(per_call: u64, mut op: impl FnMut()) -> u64 {
    let calls = 1_000u64.div_ceil(per_call);
    for _ in 0..calls {
        op();
    }
    counting::global_allocations(|| {
        for _ in 0..calls {
            op();
        }
    })
}

fn bursts(c: &mut Criterion, allocations: &mut Vec<(String, u64)>) {
    let name = "bounded/burst";
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    let mut ratios = Ratios::default();
    let sys = system();
    for (candidate, capacity, retry) in [
        ("unbounded", None, false),
        ("bounded-64", Some(64), false),
        ("bounded-16", Some(16), true),
    ] {
        let sink = match capacity {
            None => sys.spawn(Sink(0)),
            Some(capacity) => sys.spawn_bounded(Sink(0), capacity),
        }
        .unwrap_or_else(|_| panic!("spawned"));
        timed(&mut group, &mut ratios, candidate, BURST, || {
            burst(&sys, &sink, retry)
        });
        allocations.push((
            format!("burst/{candidate}"),
            count(BURST, || burst(&sys, &sink, retry)),
        ));
    }
    group.finish();
    println!("{}", ratios.report(name, "unbounded"));
}

fn ping_pong(c: &mut Criterion, allocations: &mut Vec<(String, u64)>) {
    let name = "bounded/ping-pong";
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    let mut ratios = Ratios::default();
    let sys = system();
    for (candidate, capacity) in [("unbounded", None), ("bounded-1", Some(1))] {
        let pinger = pair(&sys, capacity);
        timed(&mut group, &mut ratios, candidate, ROUNDS, || {
            rounds(&sys, &pinger)
        });
        allocations.push((
            format!("ping-pong/{candidate}"),
            count(ROUNDS, || rounds(&sys, &pinger)),
        ));
    }
    group.finish();
    println!("{}", ratios.report(name, "unbounded"));
}

fn main() {
    assert!(
        counting::installed(),
        "the counting allocator is this binary's global allocator"
    );
    let mut criterion = zeta_bench::criterion();
    let mut allocations = Vec::new();
    bursts(&mut criterion, &mut allocations);
    ping_pong(&mut criterion, &mut allocations);
    criterion.final_summary();
    for (candidate, count) in allocations {
        println!(
            "bounded allocations: {candidate}: {count} global allocations per 1,000 operations"
        );
    }
}
