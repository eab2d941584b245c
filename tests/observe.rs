//! The hooks (`zeta::observe`, the `observe` feature): a recording observer checks the
//! exact sequence of events of small programs on a manual scheduler (lifecycle, runs
//! and messages, panics, restarts, downs, timers, inheritance by children and
//! supervised children, interests), and a sharing scheduler's parks and steals.
#![cfg(all(feature = "observe", not(zeta_loom)))]

mod observe_common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zeta::observe::{ActorInfo, Interests, NoopObserver, Observer, Run, SchedulerObserver};
use zeta::{
    Actor, Context, Down, Intensity, ManualScheduler, PanicMessage, Reply, Restart,
    RestartStrategy, StopReason, Supervisor, System,
};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Spawn(&'static str),
    Start(&'static str),
    Message(&'static str),
    Done(&'static str),
    Run(&'static str, Run),
    Panic(&'static str, String),
    Stop(&'static str, StopReason),
    Restart(&'static str),
    Down(&'static str, StopReason),
    Timers(usize, Duration),
}

/// Records every hook, labelled by the actor's name (or type).
struct Recorder {
    interests: Interests,
    events: Mutex<Vec<Event>>,
    parks: AtomicU64,
    unparks: AtomicU64,
    steals: AtomicU64,
    depths: AtomicU64,
}

impl Recorder {
    fn new(interests: Interests) -> Arc<Self> {
        Arc::new(Self {
            interests,
            events: Mutex::new(Vec::new()),
            parks: AtomicU64::new(0),
            unparks: AtomicU64::new(0),
            steals: AtomicU64::new(0),
            depths: AtomicU64::new(0),
        })
    }

    fn push(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }

    fn take(&self) -> Vec<Event> {
        core::mem::take(&mut *self.events.lock().unwrap())
    }
}

fn who(actor: &ActorInfo) -> &'static str {
    actor.name.unwrap_or(actor.type_name)
}

impl Observer for Recorder {
    fn interests(&self) -> Interests {
        self.interests
    }
    fn on_spawn(&self, actor: &ActorInfo) {
        self.push(Event::Spawn(who(actor)));
    }
    fn on_start(&self, actor: &ActorInfo) {
        self.push(Event::Start(who(actor)));
    }
    fn on_message(&self, actor: &ActorInfo) {
        self.push(Event::Message(who(actor)));
    }
    fn on_message_done(&self, actor: &ActorInfo) {
        self.push(Event::Done(who(actor)));
    }
    fn on_run(&self, actor: &ActorInfo, run: Run) {
        self.push(Event::Run(who(actor), run));
    }
    fn on_panic(&self, actor: &ActorInfo, panic: &PanicMessage) {
        self.push(Event::Panic(who(actor), panic.to_string()));
    }
    fn on_stop(&self, actor: &ActorInfo, reason: &StopReason) {
        self.push(Event::Stop(who(actor), reason.clone()));
    }
    fn on_restart(&self, actor: &ActorInfo) {
        self.push(Event::Restart(who(actor)));
    }
    fn on_down(&self, actor: &ActorInfo, down: &Down) {
        self.push(Event::Down(who(actor), down.reason.clone()));
    }
}

impl SchedulerObserver for Recorder {
    fn on_park(&self, _worker: usize) {
        self.parks.fetch_add(1, Ordering::Relaxed);
    }
    fn on_unpark(&self, _worker: usize) {
        self.unparks.fetch_add(1, Ordering::Relaxed);
    }
    fn on_steal(&self, _worker: usize, _victim: usize) {
        self.steals.fetch_add(1, Ordering::Relaxed);
    }
    fn on_queue_depth(&self, _worker: usize, _depth: usize) {
        self.depths.fetch_add(1, Ordering::Relaxed);
    }
    fn on_timers_fired(&self, fired: usize, lateness: Duration) {
        self.push(Event::Timers(fired, lateness));
    }
}

enum Msg {
    Add(u64),
    Panic,
    Spawn(Reply<zeta::Address<Echo>>),
    Get(Reply<u64>),
}

struct Echo(u64);

impl Actor for Echo {
    type Message = Msg;
    fn handle(&mut self, msg: Msg, ctx: &mut Context<'_, Self>) {
        match msg {
            Msg::Add(n) => self.0 += n,
            Msg::Panic => panic!("on purpose"),
            Msg::Spawn(reply) => {
                let _ = reply.send(ctx.spawn_named("child", Echo(0)).unwrap());
            }
            Msg::Get(reply) => {
                let _ = reply.send(self.0);
            }
        }
    }
}

fn manual(recorder: &Arc<Recorder>) -> System<ManualScheduler> {
    System::manual_observed(4, recorder.clone()).unwrap()
}

#[test]
fn a_life_told_in_order() {
    let recorder = Recorder::new(Interests::ALL);
    let system = manual(&recorder);
    let echo = system.spawn_named("echo", Echo(0)).unwrap();
    assert_eq!(echo.name(), Some("echo"));
    assert!(format!("{echo:?}").contains("name: \"echo\""), "{echo:?}");
    for n in 0..6 {
        echo.send(Msg::Add(n)).unwrap();
    }
    echo.stop().unwrap();
    system.scheduler().run_until_idle().unwrap();
    let mut expected = vec![Event::Spawn("echo"), Event::Start("echo")];
    // max_throughput 4: a run of 4 (2 more taken, the backlog), then 2 and the stop.
    for _ in 0..4 {
        expected.extend([Event::Message("echo"), Event::Done("echo")]);
    }
    expected.push(Event::Run(
        "echo",
        Run {
            handled: 4,
            backlog: 2,
        },
    ));
    for _ in 0..2 {
        expected.extend([Event::Message("echo"), Event::Done("echo")]);
    }
    expected.push(Event::Run(
        "echo",
        Run {
            handled: 2,
            backlog: 0,
        },
    ));
    expected.push(Event::Stop("echo", StopReason::Stopped));
    assert_eq!(recorder.take(), expected);
}

#[test]
fn interests_keep_the_frequent_hooks_away() {
    for (interests, runs, messages) in [
        (Interests::NONE, false, false),
        (Interests::RUNS, true, false),
        (Interests::MESSAGES, false, true),
        (Interests::ALL, true, true),
    ] {
        let recorder = Recorder::new(interests);
        let system = manual(&recorder);
        let echo = system.spawn(Echo(0)).unwrap();
        echo.send(Msg::Add(1)).unwrap();
        system.scheduler().run_until_idle().unwrap();
        let events = recorder.take();
        let has_run = events.iter().any(|e| matches!(e, Event::Run(..)));
        let has_message = events.iter().any(|e| matches!(e, Event::Message(_)));
        assert_eq!((has_run, has_message), (runs, messages), "{interests:?}");
        assert!(events.contains(&Event::Start(core::any::type_name::<Echo>())));
    }
}

#[test]
fn a_panic_is_told_then_the_stop() {
    observe_common::quiet_panics();
    let recorder = Recorder::new(Interests::MESSAGES);
    let system = manual(&recorder);
    let echo = system.spawn_named("echo", Echo(0)).unwrap();
    echo.send(Msg::Panic).unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(
        recorder.take(),
        vec![
            Event::Spawn("echo"),
            Event::Start("echo"),
            Event::Message("echo"),
            // No `Done` for the panicking message.
            Event::Panic("echo", "on purpose".into()),
            Event::Stop("echo", StopReason::Panicked("on purpose".into())),
        ]
    );
}

#[test]
fn children_inherit_the_observer_and_the_free_spawn_does_not() {
    let recorder = Recorder::new(Interests::NONE);
    let system = manual(&recorder);
    let parent = system.spawn_named("parent", Echo(0)).unwrap();
    let mut child = parent.ask(Msg::Spawn).unwrap();
    system.scheduler().run_until_idle().unwrap();
    let child = child.try_take().unwrap().unwrap();
    assert_eq!(child.name(), Some("child"));
    child.send(Msg::Add(1)).unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(
        recorder.take(),
        vec![
            Event::Spawn("parent"),
            Event::Start("parent"),
            Event::Spawn("child"),
            Event::Start("child"),
        ]
    );
    let unobserved = zeta::spawn(
        Echo(0),
        system.resource().clone(),
        system.scheduler().clone(),
    )
    .unwrap();
    unobserved.send(Msg::Add(1)).unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(recorder.take(), vec![]);
}

#[test]
fn a_restart_in_place_is_told() {
    observe_common::quiet_panics();
    let recorder = Recorder::new(Interests::NONE);
    let system = manual(&recorder);
    let intensity = Intensity {
        max_restarts: 5,
        within: Duration::from_secs(60),
    };
    let supervisor = system
        .spawn_named(
            "supervisor",
            Supervisor::new(RestartStrategy::OneForOne, intensity),
        )
        .unwrap();
    let mut started = Supervisor::start_child(&supervisor, Restart::Permanent, || Echo(0)).unwrap();
    system.scheduler().run_until_idle().unwrap();
    let child = started.try_take().unwrap().unwrap().unwrap();
    child.send(Msg::Panic).unwrap();
    child.send(Msg::Add(2)).unwrap();
    let mut total = child.ask(Msg::Get).unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(total.try_take(), Some(Ok(2)));
    let echo = core::any::type_name::<Echo>();
    let panic = StopReason::Panicked("on purpose".into());
    assert_eq!(
        recorder.take(),
        vec![
            Event::Spawn("supervisor"),
            Event::Start("supervisor"),
            Event::Spawn(echo),
            Event::Start(echo),
            Event::Panic(echo, "on purpose".into()),
            // The instance's end, then the supervisor's decision (a parked token, not
            // a `Down`): the same cell, a new instance.
            Event::Stop(echo, panic),
            Event::Restart(echo),
            Event::Start(echo),
        ]
    );
}

struct Watcher;

impl Actor for Watcher {
    type Message = ();
    fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
    fn on_down(&mut self, _down: Down, _ctx: &mut Context<'_, Self>) {}
}

#[test]
fn a_down_is_told_to_the_watcher() {
    let recorder = Recorder::new(Interests::NONE);
    let system = manual(&recorder);
    let watcher = system.spawn_named("watcher", Watcher).unwrap();
    let watched = system.spawn_named("watched", Echo(0)).unwrap();
    let _monitor = watcher.monitor(&watched).unwrap();
    system.scheduler().run_until_idle().unwrap();
    watched.kill().unwrap();
    system.scheduler().run_until_idle().unwrap();
    // The watcher had not run yet: the `Down` is its first message.
    assert_eq!(
        recorder.take(),
        vec![
            Event::Spawn("watcher"),
            Event::Spawn("watched"),
            Event::Stop("watched", StopReason::Killed),
            Event::Start("watcher"),
            Event::Down("watcher", StopReason::Killed),
        ]
    );
}

#[test]
fn timers_firing_are_told_with_their_lateness() {
    let recorder = Recorder::new(Interests::NONE);
    let system = manual(&recorder);
    let echo = system.spawn_named("echo", Echo(0)).unwrap();
    echo.send_after(Duration::from_millis(10), Msg::Add(1))
        .unwrap();
    echo.send_after(Duration::from_millis(10), Msg::Add(2))
        .unwrap();
    echo.send_after(Duration::from_millis(30), Msg::Add(3))
        .unwrap();
    system
        .scheduler()
        .advance(Duration::from_millis(50))
        .unwrap();
    let timers: Vec<_> = recorder
        .take()
        .into_iter()
        .filter(|e| matches!(e, Event::Timers(..)))
        .collect();
    // The virtual clock stops at each deadline: two polls, never late.
    assert_eq!(
        timers,
        vec![
            Event::Timers(2, Duration::ZERO),
            Event::Timers(1, Duration::ZERO)
        ]
    );
}

#[test]
fn workers_park_and_wake_under_the_observer() {
    let recorder = Recorder::new(Interests::RUNS);
    let system = System::sharing_observed(2, recorder.clone()).unwrap();
    let echo = system.spawn_named("echo", Echo(0)).unwrap();
    // Let the workers go to sleep, then wake one with work.
    while recorder.parks.load(Ordering::Relaxed) < 2 {
        std::thread::yield_now();
    }
    for n in 0..1000 {
        echo.send(Msg::Add(n)).unwrap();
    }
    assert_eq!(echo.ask(Msg::Get).unwrap().wait(), Ok(499_500));
    system.stop().unwrap();
    assert!(recorder.unparks.load(Ordering::Relaxed) >= 1);
    let parks: u64 = system.scheduler().stats().iter().map(|w| w.parks).sum();
    assert_eq!(recorder.parks.load(Ordering::Relaxed), parks);
    let steals: u64 = system.scheduler().stats().iter().map(|w| w.steals).sum();
    assert_eq!(recorder.steals.load(Ordering::Relaxed), steals);
    let handled: usize = recorder
        .take()
        .iter()
        .map(|e| match e {
            Event::Run(_, run) => run.handled,
            _ => 0,
        })
        .sum();
    assert_eq!(handled, 1001);
}

#[test]
fn a_noop_observer_is_told_nothing_frequent() {
    let system = System::manual_observed(64, Arc::new(NoopObserver)).unwrap();
    let echo = system.spawn(Echo(0)).unwrap();
    echo.send(Msg::Add(5)).unwrap();
    assert_eq!(
        system.scheduler().run_until_idle().unwrap().messages,
        1,
        "the actor runs as without an observer"
    );
    assert_eq!(NoopObserver.interests(), Interests::NONE);
}

/// A local actor: the same hooks, on the system's thread.
struct Local(u64);

impl zeta::local::LocalActor for Local {
    type Message = Option<u64>;
    fn handle(&mut self, n: Option<u64>, ctx: &mut zeta::local::LocalContext<'_, Self>) {
        match n {
            Some(n) => self.0 += n,
            None => panic!("on purpose"),
        }
        assert_eq!(ctx.name(), Some("local"));
    }
}

#[test]
fn local_actors_are_told_too() {
    observe_common::quiet_panics();
    let recorder = Recorder::new(Interests::ALL);
    let system = zeta::local::LocalSystem::builder()
        .max_throughput(2)
        .virtual_clock()
        .observer(recorder.clone())
        .build()
        .unwrap();
    let local = system.spawn_named("local", Local(0)).unwrap();
    assert!(
        format!("{local:?}").contains("name: \"local\""),
        "{local:?}"
    );
    for n in 0..3 {
        local.send(Some(n)).unwrap();
    }
    system.run_until_idle().unwrap();
    let _timer = local
        .send_after(Duration::from_millis(5), Some(10))
        .unwrap();
    system.advance(Duration::from_millis(5)).unwrap();
    local.send(None).unwrap();
    system.run_until_idle().unwrap();
    let m = || [Event::Message("local"), Event::Done("local")];
    let run = |handled, backlog| Event::Run("local", Run { handled, backlog });
    let mut expected = vec![Event::Spawn("local"), Event::Start("local")];
    expected.extend(m());
    expected.extend(m());
    expected.push(run(2, 1));
    expected.extend(m());
    expected.push(run(1, 0));
    expected.push(Event::Timers(1, Duration::ZERO));
    expected.extend(m());
    expected.push(run(1, 0));
    // No `Done` and no run for the panicking one: the panic is told instead.
    expected.push(Event::Message("local"));
    expected.push(Event::Panic("local", "on purpose".into()));
    expected.push(Event::Stop(
        "local",
        StopReason::Panicked("on purpose".into()),
    ));
    assert_eq!(recorder.take(), expected);
}
