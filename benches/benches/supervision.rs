//! Cost of supervision: a restart in place, a monitor's `Down`, a `stopped()` future,
//! beside what a program without them would do instead, on a `ManualScheduler` driven
//! by the measuring thread (no thread hand-off), in a warmed `PoolResource`.
//!
//! # What is measured (ns per operation; `iter_custom`, one iteration = one operation)
//!
//! - `supervision/restart/kill`: a supervised, idle child (one-for-one, permanent) is
//!   killed and `run_until_idle` runs: the child wakes, ends its instance (no `on_stop`
//!   work), parks, its notice goes to the supervisor, which restarts it in place (a new
//!   notice from the pool, the factory, the unseal, the schedule), and the child's new
//!   instance runs `on_start`. One operation is one restart, decision included.
//! - `supervision/restart/panic`: the same, the child's instance ended by a handler's
//!   panic (a message `Poison` sent, then `run_until_idle`): the unwinding (std's: it
//!   allocates the panic's payload) and the catch are included.
//! - `supervision/respawn` (the baseline): what a program without restart in place does
//!   instead: spawn a new actor (a cell from the pool), send it one message, stop the
//!   old one, `run_until_idle`. One operation is one replacement.
//! - `supervision/down/monitor`: spawn a target, monitor it from a watcher, stop it,
//!   `run_until_idle`: the target ends, its `Down` is pushed (no allocation) and the
//!   watcher's `on_down` runs. `supervision/down/unwatched` (the baseline): the same
//!   without the monitor. The difference is a monitor's whole cost: two nodes allocated
//!   and freed, the watch list, the `Down`'s delivery and dispatch.
//! - `supervision/down/stopped`: spawn, `stopped()`, stop, `run_until_idle`, take the
//!   reason: the join future's cost over `unwatched`.
//!
//! After each group a line gives each candidate's time over the baseline's
//! ([`zeta_bench::Ratios`]); at the end, the global allocations of 1,000 operations of
//! each candidate, counted after warm-up ([`zeta_bench::counting`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, Throughput};
use zeta::arena::PoolResource;
use zeta::{
    Actor, Address, Context, Down, Intensity, ManualScheduler, Restart, RestartStrategy,
    Supervisor, System,
};
use zeta_bench::counting::{self, CountingAlloc};
use zeta_bench::Ratios;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

type Manual = System<ManualScheduler>;

fn system() -> Manual {
    System::new(
        Arc::new(ManualScheduler::new(64).unwrap()),
        Arc::new(PoolResource::new()),
    )
}

/// A child with a little state, made again at each restart.
struct Child {
    _state: [u64; 4],
}

enum ChildMsg {
    Work,
    Poison,
}

impl Actor for Child {
    type Message = ChildMsg;

    fn handle(&mut self, message: ChildMsg, _ctx: &mut Context<'_, Self>) {
        if let ChildMsg::Poison = message {
            panic!("a benchmarked child fails on purpose");
        }
    }
}

/// Counts the `Down`s it is told of.
struct Watcher(u64);

impl Actor for Watcher {
    type Message = ();

    fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {}

    fn on_down(&mut self, _down: Down, _ctx: &mut Context<'_, Self>) {
        self.0 += 1;
    }
}

/// A supervisor with one permanent child, both started.
fn supervised(system: &Manual) -> (Address<Supervisor>, Address<Child>) {
    // Never exceeded (a window of a nanosecond), and within the supervisor's record.
    let intensity = Intensity {
        max_restarts: 64,
        within: Duration::from_nanos(1),
    };
    let supervisor = system
        .spawn(Supervisor::new(RestartStrategy::OneForOne, intensity))
        .unwrap();
    let mut started =
        Supervisor::start_child(&supervisor, Restart::Permanent, || Child { _state: [0; 4] })
            .unwrap();
    system.scheduler().run_until_idle().unwrap();
    let child = started.try_take().unwrap().unwrap().unwrap();
    (supervisor, child)
}

/// One restart after a kill.
fn restart_by_kill(system: &Manual, child: &Address<Child>) {
    child.kill().unwrap();
    system.scheduler().run_until_idle().unwrap();
}

/// One restart after a panic.
fn restart_by_panic(system: &Manual, child: &Address<Child>) {
    child.send(ChildMsg::Poison).unwrap();
    system.scheduler().run_until_idle().unwrap();
}

/// One replacement without restart in place.
fn respawn(system: &Manual, current: &mut Address<Child>) {
    let next = system.spawn(Child { _state: [0; 4] }).unwrap();
    next.send(ChildMsg::Work).unwrap();
    current.stop().unwrap();
    *current = next;
    system.scheduler().run_until_idle().unwrap();
}

/// What ends a target in the `down` group.
#[derive(Clone, Copy)]
enum Watch {
    None,
    Monitor,
    Stopped,
}

fn end_watched(system: &Manual, watcher: &Address<Watcher>, watch: Watch) {
    let target = system.spawn(Child { _state: [0; 4] }).unwrap();
    let mut monitor = None;
    let mut future = None;
    match watch {
        Watch::None => {}
        Watch::Monitor => monitor = Some(watcher.monitor(&target).unwrap()),
        Watch::Stopped => future = Some(target.stopped().unwrap()),
    }
    target.stop().unwrap();
    system.scheduler().run_until_idle().unwrap();
    if let Some(mut future) = future {
        assert!(future.try_take().is_some(), "the end was told");
    }
    drop(monitor);
}

fn timed(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    ratios: &mut Ratios,
    name: &str,
    mut op: impl FnMut(),
) {
    group.bench_function(name, |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                op();
            }
            let took = start.elapsed();
            ratios.record(name, iterations, took);
            took
        })
    });
}

fn restart(c: &mut Criterion, allocations: &mut Vec<(String, u64)>) {
    let name = "supervision/restart";
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    let mut ratios = Ratios::default();

    let plain = system();
    let mut current = plain.spawn(Child { _state: [0; 4] }).unwrap();
    timed(&mut group, &mut ratios, "respawn", || {
        respawn(&plain, &mut current)
    });
    allocations.push(("respawn".into(), count(|| respawn(&plain, &mut current))));

    let sys = system();
    let (supervisor, child) = supervised(&sys);
    timed(&mut group, &mut ratios, "kill", || {
        restart_by_kill(&sys, &child)
    });
    allocations.push((
        "restart/kill".into(),
        count(|| restart_by_kill(&sys, &child)),
    ));
    timed(&mut group, &mut ratios, "panic", || {
        restart_by_panic(&sys, &child)
    });
    allocations.push((
        "restart/panic".into(),
        count(|| restart_by_panic(&sys, &child)),
    ));
    // The panic machinery's own share: std boxes each panic's payload.
    allocations.push((
        "a caught panic!, alone (std)".into(),
        count(|| {
            let _ = std::panic::catch_unwind(|| panic!("a benchmarked child fails on purpose"));
        }),
    ));
    group.finish();
    println!("{}", ratios.report(name, "respawn"));
    drop((supervisor, child, sys, current, plain));
}

fn down(c: &mut Criterion, allocations: &mut Vec<(String, u64)>) {
    let name = "supervision/down";
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    let mut ratios = Ratios::default();
    let sys = system();
    let watcher = sys.spawn(Watcher(0)).unwrap();
    for (candidate, watch) in [
        ("unwatched", Watch::None),
        ("monitor", Watch::Monitor),
        ("stopped", Watch::Stopped),
    ] {
        timed(&mut group, &mut ratios, candidate, || {
            end_watched(&sys, &watcher, watch)
        });
        allocations.push((
            format!("down/{candidate}"),
            count(|| end_watched(&sys, &watcher, watch)),
        ));
    }
    group.finish();
    println!("{}", ratios.report(name, "unwatched"));
}

/// Global allocations of 1,000 runs of `op`, after 1,000 unmeasured ones.
fn count(mut op: impl FnMut()) -> u64 {
    for _ in 0..1_000 {
        op();
    }
    counting::global_allocations(|| {
        for _ in 0..1_000 {
            op();
        }
    })
}

fn main() {
    assert!(
        counting::installed(),
        "the counting allocator is this binary's global allocator"
    );
    // Quiet: the restarts panic on purpose, thousands of times.
    std::panic::set_hook(Box::new(|_| {}));
    let mut criterion = zeta_bench::criterion();
    let mut allocations = Vec::new();
    restart(&mut criterion, &mut allocations);
    down(&mut criterion, &mut allocations);
    criterion.final_summary();
    for (candidate, count) in allocations {
        println!(
            "supervision allocations: {candidate}: {count} global allocations per 1,000 operations"
        );
    }
}
