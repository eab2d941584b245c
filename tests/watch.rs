//! Knowing when actors end: `Address::stopped` futures and monitors.
//!
//! - `stopped()` resolves once with the reason, for every way an actor ends, also when
//!   asked after the end; futures dropped early leave nothing behind (the watch list is
//!   swept), and every block goes back to the pool.
//! - A monitor delivers one `Down` (who, why) for every way the target ends, also when
//!   the target was already dead; `demonitor` decides the race with the end exactly
//!   once; the `Down` comes after the target's earlier messages; memory back to zero.
//! - Stress: monitors and `stopped()` racing stop, kill and panic on two workers: one
//!   `Down` per monitor and one answer per future, never two, never none.
#![cfg(not(zeta_loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zeta::arena::{CountingResource, PoolResource};
use zeta::scheduler::Scheduler;
use zeta::{
    Actor, ActorId, Address, Context, Down, ManualScheduler, RequestError, SharingScheduler,
    StopReason, System,
};

const HANG: Duration = Duration::from_secs(10);

type Memory = Arc<CountingResource<PoolResource>>;

fn memory() -> Memory {
    Arc::new(CountingResource::new(PoolResource::new()))
}

/// How a target ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Stop,
    CtxStop,
    Kill,
    Panic,
    SchedulerStop,
    Dropped,
}

const ENDS: [End; 6] = [
    End::Stop,
    End::CtxStop,
    End::Kill,
    End::Panic,
    End::SchedulerStop,
    End::Dropped,
];

impl End {
    fn reason(self) -> StopReason {
        match self {
            End::Stop | End::CtxStop => StopReason::Stopped,
            End::Kill => StopReason::Killed,
            End::Panic => StopReason::Panicked("the target panics on purpose".into()),
            End::SchedulerStop => StopReason::SchedulerStopped,
            End::Dropped => StopReason::Dropped,
        }
    }
}

enum TargetMsg {
    Work,
    Stop,
    Panic,
    /// Tell the watcher something, then go on.
    Tell(Address<Watcher>, u32),
}

struct Target;

impl Actor for Target {
    type Message = TargetMsg;

    fn handle(&mut self, message: TargetMsg, ctx: &mut Context<'_, Self>) {
        match message {
            TargetMsg::Work => {}
            TargetMsg::Stop => ctx.stop(),
            TargetMsg::Panic => panic!("the target panics on purpose"),
            TargetMsg::Tell(watcher, n) => watcher.send(WatcherMsg::Told(n)).unwrap(),
        }
    }
}

/// What a watcher saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Told(u32),
    Down(ActorId, StopReason),
}

enum WatcherMsg {
    Told(u32),
}

struct Watcher {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Actor for Watcher {
    type Message = WatcherMsg;

    fn handle(&mut self, WatcherMsg::Told(n): WatcherMsg, _ctx: &mut Context<'_, Self>) {
        self.seen.lock().unwrap().push(Seen::Told(n));
    }

    fn on_down(&mut self, down: Down, _ctx: &mut Context<'_, Self>) {
        self.seen
            .lock()
            .unwrap()
            .push(Seen::Down(down.id, down.reason));
    }
}

/// Ends `target` as `end` says, on a manual scheduler, running it to idle. Takes the
/// address: for `Dropped` it is the last one.
fn end_on_manual(system: &System<ManualScheduler>, target: Address<Target>, end: End) {
    // Started first, so that every end runs `on_stop`-like paths alike.
    target.send(TargetMsg::Work).unwrap();
    system.scheduler().run_until_idle().unwrap();
    match end {
        End::Stop => target.stop().unwrap(),
        End::CtxStop => target.send(TargetMsg::Stop).unwrap(),
        End::Kill => target.kill().unwrap(),
        End::Panic => target.send(TargetMsg::Panic).unwrap(),
        End::SchedulerStop => {
            target.send(TargetMsg::Work).unwrap();
            system.stop().unwrap();
        }
        End::Dropped => drop(target),
    }
    if end != End::SchedulerStop {
        system.scheduler().run_until_idle().unwrap();
    }
}

#[test]
fn stopped_resolves_once_with_the_reason_for_every_end() {
    for end in ENDS {
        let memory = memory();
        let system = System::new(Arc::new(ManualScheduler::new(64).unwrap()), memory.clone());
        let target = system.spawn(Target).unwrap();
        let mut before = target.stopped().unwrap();
        let dropped_early = target.stopped().unwrap();
        drop(dropped_early);
        assert_eq!(before.try_take(), None, "{end:?}: not yet");
        let late = (end != End::Dropped).then(|| target.clone());
        end_on_manual(&system, target, end);
        assert_eq!(before.try_take(), Some(Ok(end.reason())), "{end:?}");
        assert_eq!(
            before.try_take(),
            Some(Err(RequestError::NoReply)),
            "{end:?}: once"
        );
        if let Some(late) = late {
            // Asked after the end: resolved at once, with the same reason.
            let mut after = late.stopped().unwrap();
            assert_eq!(
                after.try_take(),
                Some(Ok(end.reason())),
                "{end:?}: asked late"
            );
        }
        drop(before);
        drop(system);
        assert_eq!(memory.live_blocks(), 0, "{end:?}: every block back");
    }
}

#[test]
fn stopped_futures_dropped_in_a_loop_leave_nothing_behind() {
    let memory = memory();
    let system = System::new(Arc::new(ManualScheduler::new(64).unwrap()), memory.clone());
    let target = system.spawn(Target).unwrap();
    let mut kept = target.stopped().unwrap();
    let baseline = memory.live_blocks();
    let mut peak = 0;
    for _ in 0..10_000 {
        drop(target.stopped().unwrap());
        peak = peak.max(memory.live_blocks());
    }
    // The list is swept when it has doubled since the last sweep (and at 32 at least):
    // the cancelled entries never pile up.
    assert!(
        peak <= baseline + 64,
        "peak {peak} blocks over a baseline of {baseline}"
    );
    target.stop().unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(
        kept.try_take(),
        Some(Ok(StopReason::Stopped)),
        "the kept one survived every sweep"
    );
    drop((kept, target, system));
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn stopped_can_be_awaited_and_times_out_while_alive() {
    let system = System::sharing(1).unwrap();
    let target = system.spawn(Target).unwrap();
    let mut future = target.stopped().unwrap();
    assert_eq!(
        future.wait_timeout(Duration::from_millis(5)),
        Err(RequestError::Timeout)
    );
    target.send(TargetMsg::Stop).unwrap();
    let reason = block_on(future);
    assert_eq!(reason, Ok(StopReason::Stopped));
}

/// A minimal executor: polls `future` with a waker that unparks this thread.
fn block_on<F: core::future::Future>(future: F) -> F::Output {
    use std::task::{Context as TaskContext, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let deadline = std::time::Instant::now() + HANG;
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        assert!(std::time::Instant::now() < deadline, "hung");
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

#[test]
fn a_monitor_delivers_one_down_for_every_end() {
    for end in ENDS {
        let memory = memory();
        let system = System::new(Arc::new(ManualScheduler::new(64).unwrap()), memory.clone());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let watcher = system.spawn(Watcher { seen: seen.clone() }).unwrap();
        let target = system.spawn(Target).unwrap();
        let id = target.id();
        let monitor = watcher.monitor(&target).unwrap();
        assert_eq!(monitor.target(), id);
        let late = (end != End::Dropped).then(|| target.clone());
        end_on_manual(&system, target, end);
        if end == End::SchedulerStop {
            // The scheduler is gone: the watcher cannot run to see it. The `Down` was
            // pushed (or refused); nothing leaks either way.
            drop((monitor, late, watcher, system));
            assert_eq!(memory.live_blocks(), 0, "{end:?}: every block back");
            continue;
        }
        let want = vec![Seen::Down(id, end.reason())];
        assert_eq!(*seen.lock().unwrap(), want, "{end:?}");
        assert!(!monitor.demonitor(), "{end:?}: too late to take it back");
        if let Some(late) = late {
            // Monitoring a dead actor: the `Down` comes at once.
            let _again = watcher.monitor(&late).unwrap();
            system.scheduler().run_until_idle().unwrap();
            assert_eq!(seen.lock().unwrap().len(), 2, "{end:?}: monitored late");
            assert_eq!(seen.lock().unwrap()[1], want[0], "{end:?}: monitored late");
        }
        drop(watcher);
        system.scheduler().run_until_idle().unwrap();
        drop(system);
        assert_eq!(memory.live_blocks(), 0, "{end:?}: every block back");
    }
}

#[test]
fn demonitor_before_the_end_means_no_down() {
    let memory = memory();
    let system = System::new(Arc::new(ManualScheduler::new(64).unwrap()), memory.clone());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watcher = system.spawn(Watcher { seen: seen.clone() }).unwrap();
    let target = system.spawn(Target).unwrap();
    let taken_back = watcher.monitor(&target).unwrap();
    let kept = watcher.monitor(&target).unwrap();
    assert!(taken_back.demonitor(), "in time");
    drop(kept); // dropping the handle keeps the monitor
    target.kill().unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [Seen::Down(target.id(), StopReason::Killed)]
    );
    drop((watcher, target, system));
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn the_down_comes_after_the_targets_earlier_messages() {
    let system = System::sharing(2).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watcher = system.spawn(Watcher { seen: seen.clone() }).unwrap();
    let target = system.spawn(Target).unwrap();
    let _monitor = watcher.monitor(&target).unwrap();
    for n in 0..100 {
        target.send(TargetMsg::Tell(watcher.clone(), n)).unwrap();
    }
    target.send(TargetMsg::Stop).unwrap();
    let mut ended = target.stopped().unwrap();
    assert_eq!(ended.wait_timeout(HANG), Ok(StopReason::Stopped));
    let deadline = std::time::Instant::now() + HANG;
    while seen.lock().unwrap().len() < 101 {
        assert!(
            std::time::Instant::now() < deadline,
            "hung: {:?}",
            seen.lock().unwrap().len()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut want: Vec<Seen> = (0..100).map(Seen::Told).collect();
    want.push(Seen::Down(target.id(), StopReason::Stopped));
    assert_eq!(*seen.lock().unwrap(), want);
}

#[test]
fn a_monitor_keeps_its_watcher_alive_until_the_down() {
    let memory = memory();
    let system = System::new(Arc::new(ManualScheduler::new(64).unwrap()), memory.clone());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watcher = system.spawn(Watcher { seen: seen.clone() }).unwrap();
    let target = system.spawn(Target).unwrap();
    let monitor = watcher.monitor(&target).unwrap();
    let mut watcher_ended = watcher.stopped().unwrap();
    drop(watcher);
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(watcher_ended.try_take(), None, "held by the monitor");
    target.stop().unwrap();
    system.scheduler().run_until_idle().unwrap();
    // The `Down` was handled, then the watcher, left with no reference, ended.
    assert_eq!(
        *seen.lock().unwrap(),
        [Seen::Down(target.id(), StopReason::Stopped)]
    );
    assert_eq!(watcher_ended.try_take(), Some(Ok(StopReason::Dropped)));
    // The handle keeps the target's memory (not the target) until it goes.
    drop((monitor, target, watcher_ended, system));
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn a_watcher_that_ended_first_leaves_nothing_behind() {
    let memory = memory();
    let system = System::new(Arc::new(ManualScheduler::new(64).unwrap()), memory.clone());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watcher = system.spawn(Watcher { seen: seen.clone() }).unwrap();
    let target = system.spawn(Target).unwrap();
    let monitor = watcher.monitor(&target).unwrap();
    watcher.kill().unwrap();
    system.scheduler().run_until_idle().unwrap();
    target.stop().unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert!(seen.lock().unwrap().is_empty());
    assert!(!monitor.demonitor(), "fired, into a closed inbox");
    drop((watcher, target, system));
    assert_eq!(memory.live_blocks(), 0);
}

/// Stress: on two workers, a monitor and a `stopped()` future are made from another
/// thread while the target is stopped, killed or made to panic. Each must be told once.
#[test]
fn watching_races_the_end() {
    const ROUNDS: usize = 300;
    let memory = memory();
    let scheduler = SharingScheduler::builder().workers(2).build().unwrap();
    scheduler.start().unwrap();
    let system = System::new(Arc::new(scheduler), memory.clone());
    let downs = Arc::new(AtomicUsize::new(0));
    struct Counter(Arc<AtomicUsize>);
    impl Actor for Counter {
        type Message = ();
        fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {}
        fn on_down(&mut self, _down: Down, _ctx: &mut Context<'_, Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let watcher = system.spawn(Counter(downs.clone())).unwrap();
    let ends = [End::Stop, End::Kill, End::Panic];
    for round in 0..ROUNDS {
        let end = ends[round % ends.len()];
        let target = system.spawn(Target).unwrap();
        target.send(TargetMsg::Work).unwrap();
        let racer = {
            let (watcher, target) = (watcher.clone(), target.clone());
            std::thread::spawn(move || {
                let monitor = watcher.monitor(&target).unwrap();
                let future = target.stopped().unwrap();
                (monitor, future)
            })
        };
        match end {
            End::Stop => target.stop().unwrap(),
            End::Kill => target.kill().unwrap(),
            _ => target.send(TargetMsg::Panic).unwrap(),
        }
        let (monitor, mut future) = racer.join().unwrap();
        assert_eq!(future.wait_timeout(HANG), Ok(end.reason()), "round {round}");
        drop(monitor);
        let deadline = std::time::Instant::now() + HANG;
        while downs.load(Ordering::SeqCst) < round + 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: no Down"
            );
            std::thread::yield_now();
        }
    }
    // Let late duplicates (there must be none) arrive before counting.
    watcher.stop().unwrap();
    assert_eq!(
        watcher.stopped().unwrap().wait_timeout(HANG),
        Ok(StopReason::Stopped)
    );
    assert_eq!(downs.load(Ordering::SeqCst), ROUNDS, "one Down per monitor");
    drop((watcher, system));
    assert_eq!(memory.live_blocks(), 0);
}

/// An actor nobody watched keeps only its reason in a word of its cell; one that
/// panicked with a message keeps the message too (the failure path makes the list).
#[test]
fn watching_an_actor_that_ended_unwatched() {
    for end in ENDS {
        if end == End::Dropped {
            continue; // no address left to watch it with
        }
        let memory = memory();
        let system = System::new(Arc::new(ManualScheduler::new(64).unwrap()), memory.clone());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let watcher = system.spawn(Watcher { seen: seen.clone() }).unwrap();
        let target = system.spawn(Target).unwrap();
        let keep = target.clone();
        end_on_manual(&system, target, end);
        let mut late = keep.stopped().unwrap();
        assert_eq!(late.try_take(), Some(Ok(end.reason())), "{end:?}");
        let monitor = watcher.monitor(&keep).unwrap();
        if end != End::SchedulerStop {
            system.scheduler().run_until_idle().unwrap();
            assert_eq!(
                *seen.lock().unwrap(),
                [Seen::Down(keep.id(), end.reason())],
                "{end:?}"
            );
        }
        drop((late, monitor, keep, watcher, system));
        assert_eq!(memory.live_blocks(), 0, "{end:?}: every block back");
    }
}

/// A linked actor that traps exits: what `on_down` saw.
struct Trapper {
    trap: bool,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Actor for Trapper {
    type Message = TargetMsg;

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.trap_exits(self.trap);
    }

    fn handle(&mut self, message: TargetMsg, _ctx: &mut Context<'_, Self>) {
        if let TargetMsg::Panic = message {
            panic!("the partner panics on purpose");
        }
    }

    fn on_down(&mut self, down: Down, _ctx: &mut Context<'_, Self>) {
        self.seen
            .lock()
            .unwrap()
            .push(Seen::Down(down.id, down.reason));
    }
}

/// Links, table-driven: how the first actor ends × whether the partner traps exits.
/// A failure (a panic, or a link's) takes an untrapping partner down with
/// `Linked(first)`; anything else, or a trapping partner, gives it a `Down` instead,
/// and it lives on. Memory back to zero in every case.
#[test]
fn links_pass_failures_on_unless_exits_are_trapped() {
    for end in [End::Stop, End::Kill, End::Panic] {
        for trap in [false, true] {
            let case = format!("{end:?}, trap {trap}");
            let memory = memory();
            let system = System::new(Arc::new(ManualScheduler::new(64).unwrap()), memory.clone());
            let seen = Arc::new(Mutex::new(Vec::new()));
            let first = system.spawn(Target).unwrap();
            let partner = system
                .spawn(Trapper {
                    trap,
                    seen: seen.clone(),
                })
                .unwrap();
            partner.send(TargetMsg::Work).unwrap(); // started: trap set
            system.scheduler().run_until_idle().unwrap();
            first.link(&partner).unwrap();
            let mut partner_ended = partner.stopped().unwrap();
            let first_id = first.id();
            end_on_manual(&system, first, end);
            let taken_down = end == End::Panic && !trap;
            if taken_down {
                assert_eq!(
                    partner_ended.try_take(),
                    Some(Ok(StopReason::Linked(first_id))),
                    "{case}"
                );
                assert!(seen.lock().unwrap().is_empty(), "{case}");
            } else {
                assert_eq!(partner_ended.try_take(), None, "{case}: lives on");
                assert_eq!(
                    *seen.lock().unwrap(),
                    [Seen::Down(first_id, end.reason())],
                    "{case}"
                );
                partner.stop().unwrap();
                system.scheduler().run_until_idle().unwrap();
            }
            drop((partner_ended, partner, system));
            assert_eq!(memory.live_blocks(), 0, "{case}: every block back");
        }
    }
}

/// A failure runs down a chain of links: a-b-c, a panics, b and c stop with `Linked`.
#[test]
fn a_failure_runs_down_a_chain_of_links() {
    let memory = memory();
    let system = System::new(Arc::new(ManualScheduler::new(64).unwrap()), memory.clone());
    let a = system.spawn(Target).unwrap();
    let b = system.spawn(Target).unwrap();
    let c = system.spawn(Target).unwrap();
    a.link(&b).unwrap();
    b.link(&c).unwrap();
    let (mut b_ended, mut c_ended) = (b.stopped().unwrap(), c.stopped().unwrap());
    a.send(TargetMsg::Work).unwrap();
    a.send(TargetMsg::Panic).unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(b_ended.try_take(), Some(Ok(StopReason::Linked(a.id()))));
    assert_eq!(c_ended.try_take(), Some(Ok(StopReason::Linked(b.id()))));
    assert!(!a.is_alive() && !b.is_alive() && !c.is_alive());
    drop((a, b, c, b_ended, c_ended, system));
    assert_eq!(memory.live_blocks(), 0);
}

/// `Context::exit`: the reason reaches `on_stop`, `stopped`, monitors and links; a panic
/// after it wins; it leaves nothing behind for the next actor run on the thread.
mod exit {
    use std::sync::mpsc;

    use zeta::{Actor, Context, Down, StopReason, System};

    enum Order {
        Exit(StopReason),
        ExitThenPanic,
        Stop,
    }

    struct Ender(mpsc::Sender<StopReason>);
    impl Actor for Ender {
        type Message = Order;
        fn handle(&mut self, order: Order, ctx: &mut Context<'_, Self>) {
            match order {
                Order::Exit(reason) => ctx.exit(reason),
                Order::ExitThenPanic => {
                    ctx.exit(StopReason::NodeLost);
                    panic!("after exit");
                }
                Order::Stop => ctx.stop(),
            }
        }
        fn on_stop(&mut self, reason: StopReason) {
            self.0.send(reason).unwrap();
        }
    }

    struct Watcher(mpsc::Sender<Down>);
    impl Actor for Watcher {
        type Message = ();
        fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
        fn on_down(&mut self, down: Down, _ctx: &mut Context<'_, Self>) {
            self.0.send(down).unwrap();
        }
    }

    #[test]
    fn every_observer_sees_the_reason_and_a_later_panic_wins() {
        let system = System::manual(64).unwrap();
        let (stops, on_stop) = mpsc::channel();
        let (downs, down) = mpsc::channel();
        let watcher = system.spawn(Watcher(downs)).unwrap();
        let run = |order: Order| {
            let ender = system.spawn(Ender(stops.clone())).unwrap();
            let _monitor = watcher.monitor(&ender).unwrap();
            let mut stopped = ender.stopped().unwrap();
            ender.send(order).unwrap();
            system.scheduler().run_until_idle().unwrap();
            let seen = on_stop.try_recv().unwrap();
            assert_eq!(stopped.try_take(), Some(Ok(seen.clone())));
            let notice = down.try_recv().unwrap();
            assert_eq!((notice.id, &notice.reason), (ender.id(), &seen));
            // A monitor made after the end gets the same reason.
            let _late = watcher.monitor(&ender).unwrap();
            system.scheduler().run_until_idle().unwrap();
            assert_eq!(down.try_recv().unwrap().reason, seen);
            seen
        };
        assert_eq!(run(Order::Exit(StopReason::Killed)), StopReason::Killed);
        assert_eq!(run(Order::Exit(StopReason::NodeLost)), StopReason::NodeLost);
        assert_eq!(
            run(Order::ExitThenPanic),
            StopReason::Panicked("after exit".into())
        );
        // The panicked exit left nothing for the next stop on this thread.
        assert_eq!(run(Order::Stop), StopReason::Stopped);
        assert!(StopReason::NodeLost.is_failure());
    }

    #[test]
    fn a_failure_by_exit_takes_links_down() {
        let system = System::sharing(2).unwrap();
        let (stops, on_stop) = mpsc::channel();
        let a = system.spawn(Ender(stops.clone())).unwrap();
        let b = system.spawn(Ender(stops)).unwrap();
        a.link(&b).unwrap();
        let mut b_ended = b.stopped().unwrap();
        a.send(Order::Exit(StopReason::NodeLost)).unwrap();
        assert_eq!(
            b_ended.wait_timeout(std::time::Duration::from_secs(10)),
            Ok(StopReason::Linked(a.id()))
        );
        let mut seen: Vec<_> = on_stop.iter().take(2).collect();
        seen.sort_by_key(|reason| reason.to_string());
        assert_eq!(seen, [StopReason::NodeLost, StopReason::Linked(a.id())]);
    }
}
