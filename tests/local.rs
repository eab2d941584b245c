//! Local actors (`zeta::local`): the test ladder.
//!
//! 1. **Smoke**: spawn, `send`, `send_high`, the `run_*` calls and their `RunStats`,
//!    `handled()`, `queued()`, `max_throughput`, the seeded ready order, the context.
//! 2. **Single-thread model**: seeded random sequences of operations (sends of both
//!    priorities, stop, kill, `run_once`, drops and clones of addresses, spawns, the
//!    system's drop) checked step by step against a queue model: which messages each
//!    actor handles and in which order, which sends come back and why, how and when each
//!    actor ends.
//! 3. **Drop counts**: every payload dropped exactly once on every path (handled,
//!    queued at a stop, a kill, a panic, the system's drop, refused, in flight across the
//!    bridge); every unsent `LocalReply` resolves its future.
//! 4. **Memory**: a `CountingResource` back to zero live blocks in every drop order of
//!    the system, addresses, futures and `SendAddress`es (one kept on another thread past
//!    the system).
//! 5. **Lifecycle table** (tokio's `task_combinations`): where a panic is × how the actor
//!    ends × what the asker does with its future.
//! 6. **Requests**: `ask`, `try_take`, `wait`, `wait_timeout`, `.await` (a hand-rolled
//!    waker), what is refused inside a handler, replies kept and replies refused.
//! 7. **The bridge**: 4 threads × `SendAddress` clones into one local actor
//!    (conservation, per-sender FIFO per priority); sends racing the system's drop.
//! 8. **Both kinds of actors**: a local actor and a thread-safe one (on a
//!    `ManualScheduler` and on a `SharingScheduler`) sending to each other.
//!
//! The steady state's zero global allocations are measured in `tests/local_alloc.rs`,
//! its own binary (a counting global allocator).
//!
//! `ZETA_STRESS_SCALE` (as in `tests/stress_common`) multiplies the bridge stress sizes
//! (a debug build uses a quarter to a fifth of the release sizes) and the model's seeds.
#![cfg(not(zeta_loom))]

mod stress_common;

use std::cell::{Cell, RefCell};
use std::collections::{HashSet, VecDeque};
use std::future::Future as _;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Once};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use stress_common::{scaled, spawn_bounded, Fate, Ledger, Token, HANG, REPLY_HANG};
use zeta::arena::{CountingResource, MemoryResource, PoolResource};
use zeta::local::{
    LocalActor, LocalAddress, LocalContext, LocalFuture, LocalReply, LocalSystem, SendAddress,
};
use zeta::scheduler::{RunStats, Scheduler, SchedulerError};
use zeta::{
    Actor, AskError, Context, Priority, RequestError, SpawnFailure, StopReason, System, Undelivered,
};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// In the payload of every deliberate panic, and only there.
const MARKER: &str = "deliberate panic from the zeta local tests";
const HANDLER_PANIC: &str = "deliberate panic from the zeta local tests: handler";
const START_PANIC: &str = "deliberate panic from the zeta local tests: on_start";
const STOP_PANIC: &str = "deliberate panic from the zeta local tests: on_stop";
const DROP_PANIC: &str = "deliberate panic from the zeta local tests: payload drop";

/// Silences this binary's deliberate panics; everything else goes to the previous hook.
fn silence_deliberate_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if text.is_some_and(|text| text.starts_with(MARKER)) {
                return;
            }
            previous(info);
        }));
    });
}

/// Panics with `text` as a `&'static str` payload (so `StopReason::Panicked` keeps it).
fn deliberate(text: &'static str) -> ! {
    std::panic::panic_any(text)
}

/// Two stop reasons are the same (a panic's by its text, which `PanicMessage`'s `==`
/// would also compare by how it is stored).
fn same_reason(a: &StopReason, b: &StopReason) -> bool {
    match (a, b) {
        (StopReason::Panicked(a), StopReason::Panicked(b)) => a.as_str() == b.as_str(),
        (a, b) => a == b,
    }
}

fn panicked(text: &'static str) -> StopReason {
    StopReason::Panicked(text.into())
}

/// A memory resource whose live blocks are counted: the leak detector.
type Memory = Arc<CountingResource<PoolResource>>;

fn counting() -> Memory {
    Arc::new(CountingResource::new(PoolResource::new()))
}

/// Drop counts of [`Tracked`] payloads, by id (single-threaded).
#[derive(Clone, Default)]
struct Drops(Rc<RefCell<Vec<u32>>>);

impl Drops {
    /// A new payload.
    fn token(&self) -> Tracked {
        let mut counts = self.0.borrow_mut();
        counts.push(0);
        Tracked {
            id: (counts.len() - 1) as u32,
            drops: self.clone(),
        }
    }

    fn made(&self) -> usize {
        self.0.borrow().len()
    }

    fn times(&self, id: u32) -> u32 {
        self.0.borrow()[id as usize]
    }

    /// Every payload made was dropped exactly once.
    fn assert_each_once(&self, what: &str) {
        for (id, &n) in self.0.borrow().iter().enumerate() {
            assert_eq!(n, 1, "{what}: payload {id} dropped {n} times");
        }
    }
}

/// A payload that counts its drops.
struct Tracked {
    id: u32,
    drops: Drops,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.0.borrow_mut()[self.id as usize] += 1;
    }
}

/// A hand-rolled waker that counts its wake-ups (no async runtime).
#[derive(Default)]
struct WakeCount(AtomicUsize);

impl Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl WakeCount {
    fn waker() -> (Arc<Self>, Waker) {
        let count = Arc::new(Self::default());
        (count.clone(), Waker::from(count))
    }

    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Polls `future` once with `waker`.
fn poll<T>(future: &mut LocalFuture<T>, waker: &Waker) -> Poll<Result<T, RequestError>> {
    Pin::new(future).poll(&mut TaskContext::from_waker(waker))
}

/// What [`Recorder`]s see: (actor name, message), in the order handled.
type Log = Rc<RefCell<Vec<(char, u32)>>>;

/// Records every message in a shared log.
struct Recorder {
    name: char,
    log: Log,
}

impl LocalActor for Recorder {
    type Message = u32;

    fn handle(&mut self, n: u32, _ctx: &mut LocalContext<'_, Self>) {
        self.log.borrow_mut().push((self.name, n));
    }
}

fn recorder(name: char, log: &Log) -> Recorder {
    Recorder {
        name,
        log: log.clone(),
    }
}

/// Hooks and drops of an actor, seen from outside.
#[derive(Default)]
struct Hooks {
    starts: Cell<u32>,
    stops: RefCell<Vec<StopReason>>,
    drops: Cell<u32>,
}

/// Sums what it receives; its message is `Send`, so other threads reach it.
struct Tally {
    sum: Rc<Cell<u64>>,
    hooks: Rc<Hooks>,
}

impl Tally {
    fn new() -> (Self, Rc<Cell<u64>>, Rc<Hooks>) {
        let sum = Rc::new(Cell::new(0));
        let hooks = Rc::new(Hooks::default());
        (
            Self {
                sum: sum.clone(),
                hooks: hooks.clone(),
            },
            sum,
            hooks,
        )
    }
}

impl LocalActor for Tally {
    type Message = u64;

    fn on_start(&mut self, _ctx: &mut LocalContext<'_, Self>) {
        self.hooks.starts.set(self.hooks.starts.get() + 1);
    }

    fn handle(&mut self, n: u64, _ctx: &mut LocalContext<'_, Self>) {
        self.sum.set(self.sum.get() + n);
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.hooks.stops.borrow_mut().push(reason);
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.hooks.drops.set(self.hooks.drops.get() + 1);
    }
}

// ---------------------------------------------------------------------------------------
// 1. Smoke
// ---------------------------------------------------------------------------------------

#[test]
fn smoke_send_send_high_and_run() {
    let system = LocalSystem::new(64).unwrap();
    assert_eq!(system.max_throughput(), 64);
    let log = Log::default();
    let a = system.spawn(recorder('a', &log)).unwrap();
    assert!(a.is_alive());
    assert_eq!((a.handled(), a.queued(), system.ready()), (0, 0, 0));
    assert!(!system.run_once().unwrap(), "nothing is ready");

    a.send(1).unwrap();
    a.send(2).unwrap();
    a.send_high(10).unwrap();
    a.send(3).unwrap();
    a.send_with(11, Priority::High).unwrap();
    a.send_with(4, Priority::Normal).unwrap();
    assert_eq!(a.queued(), 6);
    assert_eq!(system.ready(), 1, "queued once, however many messages");
    assert!(
        log.borrow().is_empty(),
        "nothing runs before the system is driven"
    );

    assert!(system.run_once().unwrap());
    let a_order: Vec<u32> = log.borrow().iter().map(|&(_, n)| n).collect();
    assert_eq!(
        a_order,
        [10, 11, 1, 2, 3, 4],
        "high first, FIFO per priority"
    );
    assert_eq!((a.handled(), a.queued(), system.ready()), (6, 0, 0));
    assert!(!system.run_once().unwrap(), "idle again");
    assert_eq!(system.run_until_idle().unwrap(), RunStats::default());

    let b = system.spawn(recorder('b', &log)).unwrap();
    assert_ne!(a.id(), b.id());
    assert_eq!(a, a.clone());
    a.send(5).unwrap();
    b.send(1).unwrap();
    b.send(2).unwrap();
    a.send_high(12).unwrap();
    assert_eq!(system.ready(), 2);
    let stats = system.run_until_idle().unwrap();
    assert_eq!((stats.resumes, stats.messages, stats.panics), (2, 4, 0));
    assert_eq!((a.handled(), b.handled()), (8, 2));
    assert_eq!(
        log.borrow()[6..],
        [('a', 12), ('a', 5), ('b', 1), ('b', 2)],
        "FIFO ready order: a was queued first"
    );
    let debug = format!("{a:?} {system:?}");
    assert!(debug.contains("LocalAddress") && debug.contains("LocalSystem"));
}

#[test]
fn zero_throughput_is_refused() {
    assert!(matches!(
        LocalSystem::new(0),
        Err(SchedulerError::ZeroThroughput)
    ));
    assert!(matches!(
        LocalSystem::with_resource(0, counting()),
        Err(SchedulerError::ZeroThroughput)
    ));
    assert!(matches!(
        LocalSystem::with_seed(0, counting(), 7),
        Err(SchedulerError::ZeroThroughput)
    ));
}

#[test]
fn max_throughput_lets_other_actors_run_in_between() {
    let system = LocalSystem::new(2).unwrap();
    let log = Log::default();
    let a = system.spawn(recorder('a', &log)).unwrap();
    let b = system.spawn(recorder('b', &log)).unwrap();
    for n in 0..5 {
        a.send(n).unwrap();
    }
    b.send(0).unwrap();

    assert!(system.run_once().unwrap());
    assert_eq!(*log.borrow(), [('a', 0), ('a', 1)], "two at a time");
    assert_eq!(a.queued(), 3);
    assert_eq!(system.ready(), 2, "a is queued again, behind b");
    let stats = system.run_until_idle().unwrap();
    assert_eq!(
        *log.borrow(),
        [('a', 0), ('a', 1), ('b', 0), ('a', 2), ('a', 3), ('a', 4)]
    );
    assert_eq!((stats.resumes, stats.messages), (3, 4));
    assert_eq!((a.handled(), b.handled()), (5, 1));

    // Throughput 1: strict rotation.
    let system = LocalSystem::new(1).unwrap();
    let log = Log::default();
    let actors: Vec<_> = ['x', 'y', 'z']
        .into_iter()
        .map(|name| system.spawn(recorder(name, &log)).unwrap())
        .collect();
    for n in 0..3 {
        for actor in &actors {
            actor.send(n).unwrap();
        }
    }
    let stats = system.run_until_idle().unwrap();
    let names: String = log.borrow().iter().map(|&(name, _)| name).collect();
    assert_eq!(names, "xyzxyzxyz");
    assert_eq!(stats.messages, 9);
    assert!(stats.resumes >= 9);
}

/// Sends itself a message for each one it handles: never idle (until `SPIN_LIMIT`, a
/// bound that turns a run that does not keep to its budget into a failure, not a hang).
struct Spinner {
    spins: Rc<Cell<u64>>,
}

const SPIN_LIMIT: u64 = 2_000_000;

impl LocalActor for Spinner {
    type Message = ();

    fn handle(&mut self, (): (), ctx: &mut LocalContext<'_, Self>) {
        self.spins.set(self.spins.get() + 1);
        if self.spins.get() < SPIN_LIMIT {
            // Refused once the spinner is stopping: then it drains and ends.
            let _ = ctx.address().send(());
        }
    }
}

#[test]
fn run_for_keeps_to_its_budget() {
    let system = LocalSystem::new(4).unwrap();
    let spins = Rc::new(Cell::new(0));
    let spinner = system
        .spawn(Spinner {
            spins: spins.clone(),
        })
        .unwrap();
    spinner.send(()).unwrap();

    let stats = system.run_for(Duration::ZERO).unwrap();
    assert_eq!(
        (stats.resumes, stats.messages),
        (1, 4),
        "one run, then the budget is looked at"
    );

    // A budget of many runs, however slow a run is here (a debug build, a tool).
    let started = Instant::now();
    assert!(system.run_once().unwrap());
    let budget = (started.elapsed() * 20).max(Duration::from_millis(30));
    let started = Instant::now();
    let stats = system.run_for(budget).unwrap();
    let took = started.elapsed();
    assert!(took >= budget, "returned after {took:?}");
    assert!(took < HANG, "run_for overran its budget: {took:?}");
    assert!(stats.resumes > 1);
    assert_eq!(stats.messages, 4 * stats.resumes);
    assert_eq!(spins.get(), 4 + 4 + stats.messages);
    assert_eq!(system.ready(), 1, "still busy");
    assert!(spins.get() < SPIN_LIMIT / 2, "the test's bound is too low");

    spinner.stop().unwrap();
    let stats = system.run_until_idle().unwrap();
    assert_eq!(
        stats.messages, 1,
        "the queued message, whose send back is refused"
    );
    assert!(!spinner.is_alive());
    let started = Instant::now();
    assert_eq!(
        system.run_for(Duration::from_secs(3600)).unwrap(),
        RunStats::default()
    );
    assert!(started.elapsed() < Duration::from_secs(60), "idle: at once");
}

/// Panics in its handler (or in `on_start`).
struct Crasher {
    in_start: bool,
}

impl LocalActor for Crasher {
    type Message = ();

    fn on_start(&mut self, _ctx: &mut LocalContext<'_, Self>) {
        if self.in_start {
            deliberate(START_PANIC);
        }
    }

    fn handle(&mut self, (): (), _ctx: &mut LocalContext<'_, Self>) {
        deliberate(HANDLER_PANIC);
    }
}

#[test]
fn run_stats_count_the_runs_that_panicked() {
    silence_deliberate_panics();
    let system = LocalSystem::new(64).unwrap();
    let log = Log::default();
    let quiet = system.spawn(recorder('q', &log)).unwrap();
    let in_handler = system.spawn(Crasher { in_start: false }).unwrap();
    let in_start = system.spawn(Crasher { in_start: true }).unwrap();
    quiet.send(1).unwrap();
    in_handler.send(()).unwrap();
    in_start.send(()).unwrap();
    let stats = system.run_until_idle().unwrap();
    assert!(!in_handler.is_alive() && !in_start.is_alive());
    assert_eq!(stats.resumes, 3);
    assert_eq!(
        stats.panics, 2,
        "RunStats::panics: \"resumes that panicked (caught; the job completed)\", as a \
         ManualScheduler counts them"
    );
}

/// The order in which `actors` actors, each sent one message in spawn order, run.
fn ready_order(system: LocalSystem, actors: u32) -> Vec<u32> {
    let log = Log::default();
    let addresses: Vec<_> = (0..actors)
        .map(|_| system.spawn(recorder('x', &log)).unwrap())
        .collect();
    for (n, address) in addresses.iter().enumerate() {
        address.send(n as u32).unwrap();
    }
    system.run_until_idle().unwrap();
    let order: Vec<u32> = log.borrow().iter().map(|&(_, n)| n).collect();
    order
}

#[test]
fn a_seed_gives_a_reproducible_ready_order() {
    let fifo = ready_order(LocalSystem::new(64).unwrap(), 8);
    assert_eq!(fifo, (0..8).collect::<Vec<_>>(), "unseeded: FIFO");

    let seeded = |seed| ready_order(LocalSystem::with_seed(64, counting(), seed).unwrap(), 8);
    let mut orders = HashSet::new();
    for seed in 0..16 {
        let order = seeded(seed);
        assert_eq!(order, seeded(seed), "seed {seed}: the same order again");
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..8).collect::<Vec<_>>(), "seed {seed}: each once");
        orders.insert(order);
    }
    assert!(
        orders.len() > 8,
        "distinct seeds, distinct orders: {} orders from 16 seeds",
        orders.len()
    );
}

/// Exercises its context.
struct Probe {
    seen: Rc<RefCell<Vec<String>>>,
    child_log: Log,
    children: Vec<LocalAddress<Recorder>>,
    hooks: Rc<Hooks>,
}

enum ProbeMsg {
    /// Check the context's id and address against the outside's.
    Whoami(zeta::ActorId),
    /// Spawn a child and message it.
    Spawn,
    /// Stop after this message.
    StopNow,
    Plain(Tracked),
}

impl LocalActor for Probe {
    type Message = ProbeMsg;

    fn on_start(&mut self, _ctx: &mut LocalContext<'_, Self>) {
        self.hooks.starts.set(self.hooks.starts.get() + 1);
    }

    fn handle(&mut self, message: ProbeMsg, ctx: &mut LocalContext<'_, Self>) {
        match message {
            ProbeMsg::Whoami(id) => {
                let system = ctx.system();
                self.seen.borrow_mut().push(format!(
                    "{} {} {} {}",
                    ctx.id() == id,
                    ctx.address().id() == id,
                    ctx.address().is_alive(),
                    system.max_throughput(),
                ));
            }
            ProbeMsg::Spawn => {
                let child = ctx.spawn(recorder('c', &self.child_log)).unwrap();
                child.send(self.children.len() as u32).unwrap();
                self.children.push(child);
            }
            ProbeMsg::StopNow => ctx.stop(),
            ProbeMsg::Plain(_token) => self.seen.borrow_mut().push("plain".into()),
        }
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.hooks.stops.borrow_mut().push(reason);
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.hooks.drops.set(self.hooks.drops.get() + 1);
    }
}

#[test]
fn the_context_spawns_and_stops() {
    let system = LocalSystem::new(16).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let child_log = Log::default();
    let hooks = Rc::new(Hooks::default());
    let drops = Drops::default();
    let probe = system
        .spawn(Probe {
            seen: seen.clone(),
            child_log: child_log.clone(),
            children: Vec::new(),
            hooks: hooks.clone(),
        })
        .unwrap();
    probe.send(ProbeMsg::Whoami(probe.id())).unwrap();
    probe.send(ProbeMsg::Spawn).unwrap();
    probe.send(ProbeMsg::Spawn).unwrap();
    probe.send(ProbeMsg::Plain(drops.token())).unwrap();
    let stats = system.run_until_idle().unwrap();
    assert_eq!(*seen.borrow(), ["true true true 16", "plain"]);
    assert_eq!(*child_log.borrow(), [('c', 0), ('c', 1)]);
    assert_eq!(stats.messages, 6, "the probe's 4 and its children's 2");
    assert_eq!(hooks.starts.get(), 1);

    probe.send(ProbeMsg::StopNow).unwrap();
    probe.send(ProbeMsg::Plain(drops.token())).unwrap();
    probe.send(ProbeMsg::Plain(drops.token())).unwrap();
    system.run_until_idle().unwrap();
    assert!(!probe.is_alive());
    assert_eq!(probe.handled(), 5);
    assert_eq!(seen.borrow().len(), 2, "nothing handled after the stop");
    assert_eq!(*hooks.stops.borrow(), [StopReason::Stopped]);
    assert_eq!(hooks.drops.get(), 1);
    assert_eq!(drops.made(), 3);
    drops.assert_each_once("queued behind ctx.stop()");
    // The children went with the probe's drop (their last addresses): idle, so at once.
    let refused = probe.send(ProbeMsg::Spawn).unwrap_err();
    assert_eq!(refused.reason(), Undelivered::ActorStopped);
    assert!(matches!(refused.into_message(), ProbeMsg::Spawn));
    assert_eq!(
        probe.stop().map_err(|e| e.reason()),
        Err(Undelivered::ActorStopped)
    );
    assert_eq!(
        probe.kill().map_err(|e| e.reason()),
        Err(Undelivered::ActorStopped)
    );
}

#[test]
fn stop_is_graceful_and_kill_is_not() {
    let system = LocalSystem::new(64).unwrap();
    let log = Log::default();
    let stopped = system.spawn(recorder('s', &log)).unwrap();
    let killed = system.spawn(recorder('k', &log)).unwrap();
    // Both started and idle.
    stopped.send(0).unwrap();
    killed.send(0).unwrap();
    system.run_until_idle().unwrap();
    for n in 1..=3 {
        stopped.send(n).unwrap();
        killed.send(n).unwrap();
    }
    stopped.stop().unwrap();
    killed.kill().unwrap();
    stopped.stop().unwrap(); // again: nothing new
    assert!(
        stopped.is_alive() && killed.is_alive(),
        "they end when they run"
    );
    for address in [&stopped, &killed] {
        let refused = address.send(9).unwrap_err();
        assert_eq!(refused.reason(), Undelivered::ActorStopped);
        assert_eq!(refused.into_message(), 9);
    }
    system.run_until_idle().unwrap();
    assert!(!stopped.is_alive() && !killed.is_alive());
    assert_eq!(
        *log.borrow(),
        [('s', 0), ('k', 0), ('s', 1), ('s', 2), ('s', 3)],
        "the stopped actor handled what was queued before the stop; the killed one nothing"
    );
    assert_eq!((stopped.handled(), killed.handled()), (4, 1));
}

/// Holds addresses (its own, others'), and logs its end.
struct Linked {
    name: char,
    held: Vec<LocalAddress<Linked>>,
    log: Rc<RefCell<Vec<String>>>,
}

enum LinkedMsg {
    Hold(LocalAddress<Linked>),
    KeepSelf,
    /// Drop every address held.
    Release,
    Note,
}

impl LocalActor for Linked {
    type Message = LinkedMsg;

    fn handle(&mut self, message: LinkedMsg, ctx: &mut LocalContext<'_, Self>) {
        match message {
            LinkedMsg::Hold(address) => self.held.push(address),
            LinkedMsg::KeepSelf => self.held.push(ctx.address().clone()),
            LinkedMsg::Release => {
                self.log
                    .borrow_mut()
                    .push(format!("{} releases", self.name));
                self.held.clear();
                self.log
                    .borrow_mut()
                    .push(format!("{} released", self.name));
            }
            LinkedMsg::Note => self.log.borrow_mut().push(format!("{} note", self.name)),
        }
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.log
            .borrow_mut()
            .push(format!("{} stop {reason:?}", self.name));
    }
}

impl Drop for Linked {
    fn drop(&mut self) {
        self.log.borrow_mut().push(format!("{} drop", self.name));
        // The addresses held go after the actor's own drop.
    }
}

fn linked(
    system: &LocalSystem,
    name: char,
    log: &Rc<RefCell<Vec<String>>>,
) -> LocalAddress<Linked> {
    let address = system
        .spawn(Linked {
            name,
            held: Vec::new(),
            log: log.clone(),
        })
        .unwrap();
    address.send(LinkedMsg::Note).unwrap(); // started
    address
}

#[test]
fn addresses_dropped_inside_handlers_and_hooks() {
    let memory = counting();
    let system = LocalSystem::with_resource(64, memory.clone()).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let take =
        |log: &Rc<RefCell<Vec<String>>>| -> Vec<String> { log.borrow_mut().drain(..).collect() };

    // An actor holding its own address is not orphaned by the last outside one; when it
    // lets go of it, it ends at its next block.
    let a = linked(&system, 'a', &log);
    a.send(LinkedMsg::KeepSelf).unwrap();
    system.run_until_idle().unwrap();
    a.send(LinkedMsg::Release).unwrap();
    drop(a);
    system.run_until_idle().unwrap();
    assert_eq!(
        take(&log),
        [
            "a note",
            "a releases",
            "a released",
            "a stop Dropped",
            "a drop"
        ]
    );

    // The last address of an idle actor, dropped inside another's handler: it ends
    // there and then; of a queued one: it handles its messages first.
    let a = linked(&system, 'a', &log);
    let b = linked(&system, 'b', &log);
    let c = linked(&system, 'c', &log);
    system.run_until_idle().unwrap();
    a.send(LinkedMsg::Hold(b)).unwrap();
    a.send(LinkedMsg::Hold(c.clone())).unwrap();
    c.send(LinkedMsg::Note).unwrap();
    drop(c);
    a.send(LinkedMsg::Release).unwrap();
    take(&log);
    system.run_until_idle().unwrap();
    assert_eq!(
        take(&log),
        [
            "a releases",
            "b stop Dropped",
            "b drop",
            "a released",
            "c note",
            "c stop Dropped",
            "c drop"
        ]
    );
    drop(a);
    assert_eq!(take(&log), ["a stop Dropped", "a drop"]);

    // A chain: each actor holds the last address of the next; the first one's end
    // ends them all, inside each other's drops.
    let a = linked(&system, 'a', &log);
    let b = linked(&system, 'b', &log);
    let c = linked(&system, 'c', &log);
    b.send(LinkedMsg::Hold(c)).unwrap();
    a.send(LinkedMsg::Hold(b)).unwrap();
    system.run_until_idle().unwrap();
    take(&log);
    drop(a);
    assert_eq!(
        take(&log),
        [
            "a stop Dropped",
            "a drop",
            "b stop Dropped",
            "b drop",
            "c stop Dropped",
            "c drop"
        ]
    );

    // A killed actor's drop releases an idle one.
    let a = linked(&system, 'a', &log);
    let b = linked(&system, 'b', &log);
    a.send(LinkedMsg::Hold(b)).unwrap();
    system.run_until_idle().unwrap();
    take(&log);
    a.kill().unwrap();
    system.run_until_idle().unwrap();
    assert_eq!(
        take(&log),
        ["a stop Killed", "a drop", "b stop Dropped", "b drop"]
    );
    drop(a);
    drop(system);
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn the_system_stops_with_its_last_handle() {
    let memory = counting();
    let system = LocalSystem::with_resource(64, memory.clone()).unwrap();
    let layout = std::alloc::Layout::new::<[u64; 4]>();
    let block = system.resource().allocate(layout).unwrap();
    assert_eq!(memory.live_blocks(), 1, "resource() is the system's memory");
    // SAFETY: allocated just above from the same resource, with this layout.
    unsafe { system.resource().deallocate(block, layout) };

    let log = Log::default();
    let clone = system.clone();
    let a = system.spawn(recorder('a', &log)).unwrap();
    drop(system);
    a.send(1).unwrap();
    assert_eq!(
        clone.run_until_idle().unwrap().messages,
        1,
        "a clone keeps it running"
    );
    a.send(2).unwrap();
    drop(clone);
    assert!(!a.is_alive(), "queued when the last handle went");
    let refused = a.send(3).unwrap_err();
    assert_eq!(refused.reason(), Undelivered::SchedulerStopped);
    assert_eq!(*log.borrow(), [('a', 1)]);
    drop(a);
    assert_eq!(memory.live_blocks(), 0);

    // A stopped system refuses exports, and the first send to an idle actor gives the
    // message back with `SchedulerStopped` (the actor ends).
    let system = LocalSystem::new(64).unwrap();
    let (tally, _sum, hooks) = Tally::new();
    let tally = system.spawn(tally).unwrap();
    tally.send(1).unwrap();
    system.run_until_idle().unwrap();
    drop(system);
    assert!(!tally.is_alive(), "idle: the system's stop ends it too");
    assert_eq!(*hooks.stops.borrow(), [StopReason::SchedulerStopped]);
    assert_eq!(
        tally.sendable().map(|_| ()).map_err(|e| e.reason()),
        Err(Undelivered::SchedulerStopped)
    );
    let refused = tally.send(2).unwrap_err();
    assert_eq!(refused.reason(), Undelivered::SchedulerStopped);
    assert_eq!(refused.into_message(), 2);
}

// ---------------------------------------------------------------------------------------
// 2. Single-thread model
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Plain,
    /// The handler calls `ctx.stop()`.
    StopSelf,
    /// The handler panics.
    Panic,
}

struct ModelMsg {
    id: u32,
    kind: Kind,
    _token: Tracked,
}

/// What the model's actors did, by actor index.
#[derive(Default)]
struct Observed {
    handled: RefCell<Vec<Vec<u32>>>,
    starts: RefCell<Vec<u32>>,
    stops: RefCell<Vec<Vec<StopReason>>>,
    dropped: RefCell<Vec<u32>>,
}

impl Observed {
    fn add(&self) -> usize {
        self.handled.borrow_mut().push(Vec::new());
        self.starts.borrow_mut().push(0);
        self.stops.borrow_mut().push(Vec::new());
        self.dropped.borrow_mut().push(0);
        self.dropped.borrow().len() - 1
    }

    /// Per actor: messages handled, and whether the actor was dropped.
    fn snapshot(&self) -> Vec<(usize, u32)> {
        let handled = self.handled.borrow();
        let dropped = self.dropped.borrow();
        handled
            .iter()
            .map(Vec::len)
            .zip(dropped.iter().copied())
            .collect()
    }
}

struct ModelActor {
    index: usize,
    seen: Rc<Observed>,
}

impl LocalActor for ModelActor {
    type Message = ModelMsg;

    fn on_start(&mut self, _ctx: &mut LocalContext<'_, Self>) {
        self.seen.starts.borrow_mut()[self.index] += 1;
    }

    fn handle(&mut self, message: ModelMsg, ctx: &mut LocalContext<'_, Self>) {
        self.seen.handled.borrow_mut()[self.index].push(message.id);
        match message.kind {
            Kind::Plain => {}
            Kind::StopSelf => ctx.stop(),
            Kind::Panic => deliberate(HANDLER_PANIC),
        }
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.seen.stops.borrow_mut()[self.index].push(reason);
    }
}

impl Drop for ModelActor {
    fn drop(&mut self) {
        self.seen.dropped.borrow_mut()[self.index] += 1;
    }
}

/// One actor, as the model sees it.
struct ActorModel {
    high: VecDeque<(u32, Kind)>,
    normal: VecDeque<(u32, Kind)>,
    sealed: bool,
    killed: bool,
    /// On the run queue.
    queued: bool,
    ended: Option<StopReason>,
    /// Whether `on_start` ran: `Some(false)` before the first run; `None` when the first
    /// run found the actor killed (the model does not decide whether the hooks run then:
    /// see `a_kill_before_the_first_run_runs_no_hooks`).
    started: Option<bool>,
    addresses: usize,
    handled: Vec<u32>,
}

impl ActorModel {
    fn new() -> Self {
        Self {
            high: VecDeque::new(),
            normal: VecDeque::new(),
            sealed: false,
            killed: false,
            queued: false,
            ended: None,
            started: Some(false),
            addresses: 1,
            handled: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.high.len() + self.normal.len()
    }
}

struct Model {
    actors: Vec<ActorModel>,
    ready: VecDeque<usize>,
    stopped: bool,
    throughput: usize,
    returned: Vec<u32>,
}

impl Model {
    fn end(&mut self, i: usize, reason: StopReason) {
        let actor = &mut self.actors[i];
        assert!(actor.ended.is_none(), "model: actor {i} ends twice");
        actor.ended = Some(reason);
        actor.high.clear();
        actor.normal.clear();
    }

    fn enqueue(&mut self, i: usize) {
        self.actors[i].queued = true;
        self.ready.push_back(i);
    }

    /// Runs actor `i`, just taken off the run queue.
    fn resume(&mut self, i: usize) -> usize {
        let throughput = self.throughput;
        let actor = &mut self.actors[i];
        assert!(actor.queued && actor.ended.is_none(), "model: resumed {i}");
        actor.queued = false;
        if actor.started == Some(false) {
            actor.started = if actor.killed { None } else { Some(true) };
        }
        let mut handled = 0;
        loop {
            let actor = &mut self.actors[i];
            if actor.killed {
                self.end(i, StopReason::Killed);
                return handled;
            }
            if handled == throughput {
                self.enqueue(i);
                return handled;
            }
            match actor.high.pop_front().or_else(|| actor.normal.pop_front()) {
                Some((id, kind)) => {
                    handled += 1;
                    actor.handled.push(id);
                    match kind {
                        Kind::Plain => {}
                        Kind::StopSelf => {
                            self.end(i, StopReason::Stopped);
                            return handled;
                        }
                        Kind::Panic => {
                            self.end(i, panicked(HANDLER_PANIC));
                            return handled;
                        }
                    }
                }
                None => {
                    if actor.sealed {
                        self.end(i, StopReason::Stopped);
                    } else if actor.addresses == 0 {
                        self.end(i, StopReason::Dropped);
                    }
                    return handled;
                }
            }
        }
    }

    fn send(&mut self, i: usize, high: bool, id: u32, kind: Kind) -> Result<(), Undelivered> {
        if self.stopped {
            // The system's stop ended every actor: the message comes back.
            return Err(Undelivered::SchedulerStopped);
        }
        let actor = &mut self.actors[i];
        if actor.ended.is_some() || actor.sealed {
            return Err(Undelivered::ActorStopped);
        }
        if high {
            actor.high.push_back((id, kind));
        } else {
            actor.normal.push_back((id, kind));
        }
        if !actor.queued {
            self.enqueue(i);
        }
        Ok(())
    }

    fn stop(&mut self, i: usize, kill: bool) -> Result<(), Undelivered> {
        let actor = &mut self.actors[i];
        if actor.ended.is_some() {
            return Err(Undelivered::ActorStopped);
        }
        actor.killed |= kill;
        if actor.sealed {
            return Ok(());
        }
        actor.sealed = true;
        if !actor.queued {
            if self.stopped {
                self.end(i, StopReason::SchedulerStopped);
            } else {
                self.enqueue(i);
            }
        }
        Ok(())
    }

    fn drop_address(&mut self, i: usize) {
        let actor = &mut self.actors[i];
        actor.addresses -= 1;
        if actor.addresses == 0 && actor.ended.is_none() && !actor.queued {
            self.end(i, StopReason::Dropped);
        }
    }

    fn drop_system(&mut self) {
        self.stopped = true;
        while let Some(i) = self.ready.pop_front() {
            self.actors[i].queued = false;
            self.end(i, StopReason::SchedulerStopped);
        }
        // Then every idle actor that has not ended.
        for i in 0..self.actors.len() {
            if self.actors[i].ended.is_none() {
                self.end(i, StopReason::SchedulerStopped);
            }
        }
    }
}

/// The real side of a model run.
struct Real {
    system: Option<LocalSystem>,
    seen: Rc<Observed>,
    addresses: Vec<Vec<LocalAddress<ModelActor>>>,
}

impl Real {
    fn spawn(&mut self, model: &mut Model) {
        let system = self.system.as_ref().expect("spawn on a live system");
        let index = self.seen.add();
        let address = system
            .spawn(ModelActor {
                index,
                seen: self.seen.clone(),
            })
            .unwrap();
        self.addresses.push(vec![address]);
        model.actors.push(ActorModel::new());
        assert_eq!(self.addresses.len(), model.actors.len());
    }
}

/// Everything observable agrees with the model.
fn check_model(model: &Model, real: &Real, what: &dyn Fn() -> String) {
    if let Some(system) = &real.system {
        assert_eq!(system.ready(), model.ready.len(), "{}: ready", what());
    }
    let handled = real.seen.handled.borrow();
    let starts = real.seen.starts.borrow();
    let stops = real.seen.stops.borrow();
    let dropped = real.seen.dropped.borrow();
    for (i, actor) in model.actors.iter().enumerate() {
        if let Some(address) = real.addresses[i].first() {
            assert_eq!(
                address.queued(),
                actor.len(),
                "{}: actor {i} queued",
                what()
            );
            assert_eq!(
                address.handled(),
                actor.handled.len() as u64,
                "{}: actor {i} handled",
                what()
            );
            assert_eq!(
                address.is_alive(),
                actor.ended.is_none(),
                "{}: actor {i} alive",
                what()
            );
        }
        assert_eq!(
            handled[i].len(),
            actor.handled.len(),
            "{}: actor {i} handled (log)",
            what()
        );
        match &actor.ended {
            None => {
                assert_eq!(dropped[i], 0, "{}: actor {i} dropped while alive", what());
                assert!(
                    stops[i].is_empty(),
                    "{}: actor {i} on_stop while alive",
                    what()
                );
                let expected = u32::from(actor.started == Some(true));
                assert_eq!(starts[i], expected, "{}: actor {i} on_start", what());
            }
            Some(reason) => {
                assert_eq!(dropped[i], 1, "{}: actor {i} dropped once", what());
                match actor.started {
                    Some(true) => {
                        assert_eq!(starts[i], 1, "{}: actor {i} on_start", what());
                        assert_eq!(stops[i].len(), 1, "{}: actor {i} on_stop once", what());
                        assert!(
                            same_reason(&stops[i][0], reason),
                            "{}: actor {i} ended with {:?}, the model says {reason:?}",
                            what(),
                            stops[i][0]
                        );
                    }
                    Some(false) => {
                        assert_eq!(starts[i], 0, "{}: actor {i} never ran", what());
                        assert!(stops[i].is_empty(), "{}: actor {i} on_stop", what());
                    }
                    None => {
                        assert!(starts[i] <= 1, "{}: actor {i} on_start", what());
                        assert_eq!(
                            stops[i].len() as u32,
                            starts[i],
                            "{}: actor {i} on_stop iff on_start",
                            what()
                        );
                        if let Some(stop) = stops[i].first() {
                            assert!(same_reason(stop, reason), "{}: actor {i}", what());
                        }
                    }
                }
            }
        }
    }
}

/// One seeded sequence of `ops` operations. `seeded`: the system draws its ready order
/// from `seed` too, and the model learns which actor ran from what it did (a
/// throughput above any queue length makes every run observable).
fn run_model(seed: u64, throughput: usize, seeded: bool, ops: usize) {
    let memory = counting();
    let system = if seeded {
        LocalSystem::with_seed(throughput, memory.clone(), seed)
    } else {
        LocalSystem::with_resource(throughput, memory.clone())
    }
    .unwrap();
    let drops = Drops::default();
    let mut real = Real {
        system: Some(system),
        seen: Rc::new(Observed::default()),
        addresses: Vec::new(),
    };
    let mut model = Model {
        actors: Vec::new(),
        ready: VecDeque::new(),
        stopped: false,
        throughput,
        returned: Vec::new(),
    };
    // The model's own seeded stream (the system's order is seeded apart).
    let mut draw = fastrand::Rng::with_seed(seed ^ 0x5EED);
    for _ in 0..3 {
        real.spawn(&mut model);
    }

    for step in 0..ops {
        let what = || format!("seed {seed}, throughput {throughput}, seeded {seeded}, step {step}");
        let reachable: Vec<usize> = (0..real.addresses.len())
            .filter(|&i| !real.addresses[i].is_empty())
            .collect();
        let alive = model.actors.iter().filter(|a| a.ended.is_none()).count();
        let roll = draw.usize(..100);
        if (reachable.is_empty() || alive == 0) && real.system.is_some() {
            real.spawn(&mut model);
        } else if roll < 45 && !reachable.is_empty() {
            // Mostly to live actors; sometimes to any (refused if it has ended).
            let live: Vec<usize> = reachable
                .iter()
                .copied()
                .filter(|&i| model.actors[i].ended.is_none())
                .collect();
            let pool = if live.is_empty() || draw.usize(..8) == 0 {
                &reachable
            } else {
                &live
            };
            let i = pool[draw.usize(..pool.len())];
            let high = draw.usize(..3) == 0;
            let kind = match draw.usize(..60) {
                0 => Kind::StopSelf,
                1 => Kind::Panic,
                _ => Kind::Plain,
            };
            let token = drops.token();
            let id = token.id;
            let message = ModelMsg {
                id,
                kind,
                _token: token,
            };
            let address = &real.addresses[i][draw.usize(..real.addresses[i].len())];
            let sent = if high {
                address.send_high(message)
            } else {
                address.send(message)
            };
            match (sent, model.send(i, high, id, kind)) {
                (Ok(()), Ok(())) => {}
                (Err(refused), Err(reason)) => {
                    assert_eq!(refused.reason(), reason, "{}: send to {i}", what());
                    assert_eq!(refused.into_message().id, id, "{}: message back", what());
                    model.returned.push(id);
                }
                (sent, expected) => panic!(
                    "{}: send to {i}: {:?}, the model says {expected:?}",
                    what(),
                    sent.map_err(|e| e.reason())
                ),
            }
        } else if roll < 47 && !reachable.is_empty() {
            let i = reachable[draw.usize(..reachable.len())];
            let kill = draw.usize(..3) == 0;
            let address = &real.addresses[i][0];
            let done = if kill { address.kill() } else { address.stop() };
            assert_eq!(
                done.map_err(|e| e.reason()),
                model.stop(i, kill),
                "{}: {} {i}",
                what(),
                if kill { "kill" } else { "stop" }
            );
        } else if roll < 72 {
            let Some(system) = &real.system else {
                check_model(&model, &real, &what);
                continue;
            };
            if seeded {
                let before = real.seen.snapshot();
                let ran = system.run_once().unwrap();
                assert_eq!(ran, !model.ready.is_empty(), "{}: run_once", what());
                if ran {
                    let after = real.seen.snapshot();
                    let changed: Vec<usize> = (0..after.len())
                        .filter(|&i| before.get(i) != Some(&after[i]))
                        .collect();
                    assert_eq!(changed.len(), 1, "{}: one actor ran: {changed:?}", what());
                    let i = changed[0];
                    let at = model.ready.iter().position(|&r| r == i);
                    let at = at.unwrap_or_else(|| panic!("{}: ran {i}, not ready", what()));
                    model.ready.remove(at);
                    model.resume(i);
                }
            } else {
                let expected = model.ready.pop_front();
                let ran = system.run_once().unwrap();
                assert_eq!(ran, expected.is_some(), "{}: run_once", what());
                if let Some(i) = expected {
                    model.resume(i);
                }
            }
        } else if roll < 79 && !reachable.is_empty() {
            let i = reachable[draw.usize(..reachable.len())];
            let at = draw.usize(..real.addresses[i].len());
            drop(real.addresses[i].swap_remove(at));
            model.drop_address(i);
        } else if roll < 88 && !reachable.is_empty() {
            let i = reachable[draw.usize(..reachable.len())];
            let clone = real.addresses[i][0].clone();
            real.addresses[i].push(clone);
            model.actors[i].addresses += 1;
        } else if roll < 91 && real.system.is_some() && alive < 6 && model.actors.len() < 32 {
            real.spawn(&mut model);
        } else if roll < 94 && real.system.is_some() {
            let system = real.system.as_ref().unwrap();
            let stats = system.run_until_idle().unwrap();
            let mut handled = 0;
            while let Some(i) = model.ready.pop_front() {
                handled += model.resume(i);
            }
            assert_eq!(stats.messages, handled as u64, "{}: run_until_idle", what());
        } else if roll == 94 && step > ops / 2 && draw.usize(..3) == 0 && real.system.is_some() {
            drop(real.system.take());
            model.drop_system();
        }
        check_model(&model, &real, &what);
    }

    // Wind down: run what is ready, drop every address, then the system.
    let what = || format!("seed {seed}, throughput {throughput}, seeded {seeded}, the end");
    if let Some(system) = &real.system {
        system.run_until_idle().unwrap();
        while let Some(i) = model.ready.pop_front() {
            model.resume(i);
        }
        check_model(&model, &real, &what);
    }
    for i in 0..real.addresses.len() {
        while let Some(address) = real.addresses[i].pop() {
            drop(address);
            model.drop_address(i);
        }
    }
    check_model(&model, &real, &what);
    drop(real.system.take());
    model.drop_system();
    check_model(&model, &real, &what);

    for (i, actor) in model.actors.iter().enumerate() {
        assert!(actor.ended.is_some(), "{}: actor {i} never ended", what());
        assert_eq!(
            real.seen.handled.borrow()[i],
            actor.handled,
            "{}: actor {i}'s order",
            what()
        );
    }
    drops.assert_each_once(&what());
    let handled: HashSet<u32> = model
        .actors
        .iter()
        .flat_map(|a| a.handled.clone())
        .collect();
    assert!(
        model.returned.iter().all(|id| !handled.contains(id)),
        "{}: a message both handled and returned",
        what()
    );
    assert_eq!(memory.live_blocks(), 0, "{}: blocks left", what());
}

/// Seeds per model test (times `ZETA_STRESS_SCALE`), and operations per seed.
fn model_seeds() -> u64 {
    scaled(200, 10) as u64
}

const MODEL_OPS: usize = 400;

#[test]
fn model_fifo_order() {
    silence_deliberate_panics();
    for seed in 0..model_seeds() {
        for throughput in [1, 2, 3, 64] {
            run_model(seed, throughput, false, MODEL_OPS);
        }
    }
}

#[test]
fn model_seeded_order() {
    silence_deliberate_panics();
    for seed in 0..model_seeds() * 2 {
        run_model(seed, 1 << 20, true, MODEL_OPS);
    }
}

// ---------------------------------------------------------------------------------------
// 3. Drop counts
// ---------------------------------------------------------------------------------------

/// Handles [`Tracked`] payloads; some messages stop or crash it.
struct Holder {
    handled: Rc<RefCell<Vec<u32>>>,
    hooks: Rc<Hooks>,
}

enum HolderMsg {
    Keep(Tracked),
    StopNow,
    Panic,
}

impl LocalActor for Holder {
    type Message = HolderMsg;

    fn on_start(&mut self, _ctx: &mut LocalContext<'_, Self>) {
        self.hooks.starts.set(self.hooks.starts.get() + 1);
    }

    fn handle(&mut self, message: HolderMsg, ctx: &mut LocalContext<'_, Self>) {
        match message {
            HolderMsg::Keep(token) => self.handled.borrow_mut().push(token.id),
            HolderMsg::StopNow => ctx.stop(),
            HolderMsg::Panic => deliberate(HANDLER_PANIC),
        }
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.hooks.stops.borrow_mut().push(reason);
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.hooks.drops.set(self.hooks.drops.get() + 1);
    }
}

#[derive(Clone, Copy, Debug)]
enum HolderEnd {
    /// Everything handled, then the last address goes.
    Handled,
    /// A `ctx.stop()` ahead of the normal payloads.
    ContextStop,
    /// `kill()` with the payloads queued.
    Kill,
    /// A handler panics ahead of the normal payloads.
    Panic,
    /// The system goes with the payloads queued.
    SystemDropped,
    /// `stop()`; the sends after it are refused.
    Refused,
    /// The last address goes with the payloads queued: they are still handled.
    AddressDropped,
}

#[test]
fn every_payload_is_dropped_exactly_once() {
    silence_deliberate_panics();
    use HolderEnd::*;
    for end in [
        Handled,
        ContextStop,
        Kill,
        Panic,
        SystemDropped,
        Refused,
        AddressDropped,
    ] {
        let memory = counting();
        let system = LocalSystem::with_resource(64, memory.clone()).unwrap();
        let drops = Drops::default();
        let handled = Rc::new(RefCell::new(Vec::new()));
        let hooks = Rc::new(Hooks::default());
        let holder = system
            .spawn(Holder {
                handled: handled.clone(),
                hooks: hooks.clone(),
            })
            .unwrap();
        // Started and idle, so that every end runs the hooks.
        holder.send(HolderMsg::Keep(drops.token())).unwrap();
        system.run_until_idle().unwrap();
        assert_eq!(hooks.starts.get(), 1);

        match end {
            ContextStop => holder.send(HolderMsg::StopNow).unwrap(),
            Panic => holder.send(HolderMsg::Panic).unwrap(),
            _ => {}
        }
        for _ in 0..4 {
            holder.send(HolderMsg::Keep(drops.token())).unwrap();
        }
        // Ahead of the stop or the panic.
        holder.send_high(HolderMsg::Keep(drops.token())).unwrap();
        let mut system = Some(system);
        let mut holder = Some(holder);
        let mut refused = 0;
        match end {
            Handled | ContextStop | Panic => {
                system.as_ref().unwrap().run_until_idle().unwrap();
            }
            Kill => {
                holder.as_ref().unwrap().kill().unwrap();
                system.as_ref().unwrap().run_until_idle().unwrap();
            }
            SystemDropped => drop(system.take()),
            Refused => {
                let address = holder.as_ref().unwrap();
                address.stop().unwrap();
                for high in [false, true] {
                    let token = drops.token();
                    let id = token.id;
                    let sent = if high {
                        address.send_high(HolderMsg::Keep(token))
                    } else {
                        address.send(HolderMsg::Keep(token))
                    };
                    let error = sent.unwrap_err();
                    assert_eq!(error.reason(), Undelivered::ActorStopped);
                    let HolderMsg::Keep(back) = error.into_message() else {
                        panic!("another message came back")
                    };
                    assert_eq!(back.id, id);
                    assert_eq!(drops.times(id), 0, "not dropped on the way back");
                    drop(back);
                    assert_eq!(drops.times(id), 1);
                    refused += 1;
                }
                system.as_ref().unwrap().run_until_idle().unwrap();
            }
            AddressDropped => {
                drop(holder.take());
                system.as_ref().unwrap().run_until_idle().unwrap();
            }
        }
        if let Some(holder) = &holder {
            assert_eq!(holder.is_alive(), matches!(end, Handled), "{end:?}");
        }
        drop(holder);
        if let Some(system) = &system {
            assert!(!system.run_once().unwrap());
        }
        drop(system);

        let expected_handled: usize = match end {
            Handled | Refused | AddressDropped => 6,
            ContextStop | Panic => 2,
            Kill | SystemDropped => 1,
        };
        assert_eq!(handled.borrow().len(), expected_handled, "{end:?}: handled");
        assert_eq!(drops.made(), 6 + refused, "{end:?}");
        drops.assert_each_once(&format!("{end:?}"));
        assert_eq!(hooks.drops.get(), 1, "{end:?}: the actor dropped once");
        let expected_reason = match end {
            Handled | AddressDropped => StopReason::Dropped,
            ContextStop | Refused => StopReason::Stopped,
            Kill => StopReason::Killed,
            Panic => panicked(HANDLER_PANIC),
            SystemDropped => StopReason::SchedulerStopped,
        };
        let stops = hooks.stops.borrow();
        assert_eq!(stops.len(), 1, "{end:?}: on_stop once");
        assert!(
            same_reason(&stops[0], &expected_reason),
            "{end:?}: {stops:?}"
        );
        assert_eq!(memory.live_blocks(), 0, "{end:?}: blocks left");
    }
}

/// Answers requests, or not.
struct Answerer {
    kept: Vec<LocalReply<u64>>,
}

/// What each kept reply's send gave.
type Sends = Rc<RefCell<Vec<Result<(), u64>>>>;

enum AnswerMsg {
    /// Answer `2 * n`.
    Double(u64, LocalReply<u64>),
    /// Drop the reply unsent.
    Ignore(LocalReply<u64>),
    /// Keep the reply in the actor's state.
    Keep(LocalReply<u64>),
    /// Answer the kept replies with `n`.
    AnswerKept(u64, Sends),
    /// Panic while holding the reply.
    PanicWith(LocalReply<u64>),
    /// Panic.
    Panic,
}

impl LocalActor for Answerer {
    type Message = AnswerMsg;

    fn handle(&mut self, message: AnswerMsg, _ctx: &mut LocalContext<'_, Self>) {
        match message {
            AnswerMsg::Double(n, reply) => {
                let _ = reply.send(2 * n);
            }
            AnswerMsg::Ignore(reply) => drop(reply),
            AnswerMsg::Keep(reply) => self.kept.push(reply),
            AnswerMsg::AnswerKept(n, sends) => {
                for reply in self.kept.drain(..) {
                    let cancelled = reply.is_cancelled();
                    let sent = reply.send(n);
                    assert_eq!(cancelled, sent.is_err(), "is_cancelled() foretold it");
                    sends.borrow_mut().push(sent);
                }
            }
            AnswerMsg::PanicWith(_reply) => deliberate(HANDLER_PANIC),
            AnswerMsg::Panic => deliberate(HANDLER_PANIC),
        }
    }
}

fn answerer(system: &LocalSystem) -> LocalAddress<Answerer> {
    system.spawn(Answerer { kept: Vec::new() }).unwrap()
}

#[test]
fn every_unsent_reply_resolves_its_future() {
    silence_deliberate_panics();
    let memory = counting();
    let system = LocalSystem::with_resource(64, memory.clone()).unwrap();
    let (wakes, waker) = WakeCount::waker();

    // Dropped unsent by the handler; the polled future is woken.
    let server = answerer(&system);
    let mut ignored = server.ask(AnswerMsg::Ignore).unwrap();
    assert!(poll(&mut ignored, &waker).is_pending());
    assert!(!ignored.is_ready());
    system.run_until_idle().unwrap();
    assert_eq!(wakes.get(), 1, "the drop woke the asker");
    assert!(ignored.is_ready());
    assert_eq!(ignored.try_take(), Some(Err(RequestError::NoReply)));

    // Held by a panicking handler, and queued behind it.
    let mut held = server.ask(AnswerMsg::PanicWith).unwrap();
    let mut behind = server.ask(|reply| AnswerMsg::Double(1, reply)).unwrap();
    assert!(poll(&mut held, &waker).is_pending());
    system.run_until_idle().unwrap();
    assert_eq!(wakes.get(), 2);
    assert!(!server.is_alive());
    assert_eq!(held.try_take(), Some(Err(RequestError::HandlerPanicked)));
    assert_eq!(behind.try_take(), Some(Err(RequestError::NoReply)));

    // Refused at the ask: the reply comes back inside the message, answering nobody.
    match server.ask(|reply| AnswerMsg::Double(2, reply)) {
        Err(AskError::Undelivered(refused)) => {
            assert_eq!(refused.reason(), Undelivered::ActorStopped);
            let AnswerMsg::Double(2, reply) = refused.into_message() else {
                panic!("another message came back")
            };
            assert!(reply.is_cancelled(), "its future was never handed out");
            assert_eq!(reply.send(4), Err(4));
        }
        other => panic!("asked a stopped actor: {:?}", other.map(|_| ())),
    }

    drop((ignored, held, behind, server));

    // Queued when the actor is killed; queued when it is stopped (answered).
    let server = answerer(&system);
    let mut killed = server.ask(|reply| AnswerMsg::Double(3, reply)).unwrap();
    server.kill().unwrap();
    system.run_until_idle().unwrap();
    assert_eq!(killed.try_take(), Some(Err(RequestError::NoReply)));
    drop((killed, server));
    let server = answerer(&system);
    let mut stopped = server.ask(|reply| AnswerMsg::Double(3, reply)).unwrap();
    server.stop().unwrap();
    system.run_until_idle().unwrap();
    assert_eq!(stopped.try_take(), Some(Ok(6)), "a stop is graceful");
    drop((stopped, server));

    // Kept in the actor's state: the actor goes with its last address, or panics later.
    let server = answerer(&system);
    let mut kept = server.ask(AnswerMsg::Keep).unwrap();
    system.run_until_idle().unwrap();
    assert!(!kept.is_ready());
    drop(server);
    assert_eq!(kept.try_take(), Some(Err(RequestError::NoReply)));
    drop(kept);
    let server = answerer(&system);
    let mut kept = server.ask(AnswerMsg::Keep).unwrap();
    server.send(AnswerMsg::Panic).unwrap();
    system.run_until_idle().unwrap();
    assert_eq!(
        kept.try_take(),
        Some(Err(RequestError::NoReply)),
        "dropped with the actor, after the panic was caught"
    );
    drop((kept, server));
    assert_eq!(memory.live_blocks(), 0);

    // Queued when the system goes; kept by an actor idle when it goes.
    let keeper = answerer(&system);
    let mut kept = keeper.ask(AnswerMsg::Keep).unwrap();
    system.run_until_idle().unwrap();
    let server = answerer(&system);
    let mut queued = server.ask(|reply| AnswerMsg::Double(5, reply)).unwrap();
    drop(system);
    assert_eq!(queued.try_take(), Some(Err(RequestError::NoReply)));
    assert!(!server.is_alive());
    assert!(!keeper.is_alive(), "idle: the system's stop ends it too");
    assert_eq!(kept.try_take(), Some(Err(RequestError::NoReply)));
    drop(keeper);
    drop((server, queued, kept));
    assert_eq!(memory.live_blocks(), 0);
}

/// Takes [`Token`]s (which count their drops in a thread-safe ledger).
struct TokenSink {
    handled: Rc<Cell<usize>>,
}

impl LocalActor for TokenSink {
    type Message = Token;

    fn handle(&mut self, token: Token, _ctx: &mut LocalContext<'_, Self>) {
        self.handled.set(self.handled.get() + 1);
        drop(token.mark(Fate::Handled));
    }
}

/// Sends `count` tokens through `remote` on another thread (high every third).
fn send_tokens_from_a_thread(remote: &SendAddress<Token>, ledger: &Arc<Ledger>, count: u64) {
    let remote = remote.clone();
    let ledger = ledger.clone();
    spawn_bounded("bridge sender", move || {
        for n in 0..count {
            let token = Token::new(&ledger, n);
            if n % 3 == 0 {
                remote.send_high(token).unwrap();
            } else {
                remote.send(token).unwrap();
            }
        }
    })
    .join(HANG);
}

fn fates(ledger: &Ledger) -> [usize; 3] {
    let mut counts = [0; 3];
    for id in 0..ledger.created() as u32 {
        match ledger.fate(id) {
            Fate::Handled => counts[0] += 1,
            Fate::Unhandled => counts[1] += 1,
            Fate::Returned => counts[2] += 1,
            other => panic!("token {id}: {other:?}"),
        }
    }
    counts
}

#[test]
fn bridged_payloads_in_flight_are_dropped_once_with_the_system() {
    let memory = counting();
    let ledger = Ledger::new(256);
    let system = LocalSystem::with_resource(64, memory.clone()).unwrap();
    let handled = Rc::new(Cell::new(0));
    let sink = system
        .spawn(TokenSink {
            handled: handled.clone(),
        })
        .unwrap();
    let remote = sink.sendable().unwrap();
    assert!(remote.is_connected());
    assert!(format!("{remote:?}").contains("SendAddress"));

    send_tokens_from_a_thread(&remote, &ledger, 10);
    system.run_until_idle().unwrap();
    assert_eq!(handled.get(), 10);

    // In flight: in the bridge, not yet delivered.
    send_tokens_from_a_thread(&remote, &ledger, 100);
    assert_eq!(ledger.dropped(), 10);
    drop(system);
    assert_eq!(
        ledger.dropped(),
        110,
        "the system's drop dropped what was in flight"
    );
    assert!(!remote.is_connected());
    assert!(!sink.is_alive(), "idle: the system's stop ends it too");

    // Later sends from another thread get their message back.
    let thread_remote = remote.clone();
    let thread_ledger = ledger.clone();
    spawn_bounded("late sender", move || {
        for n in 0..10 {
            let refused = thread_remote
                .send(Token::new(&thread_ledger, n))
                .unwrap_err();
            assert_eq!(refused.reason(), Undelivered::SchedulerStopped);
            drop(refused.into_message().mark(Fate::Returned));
        }
    })
    .join(HANG);
    drop(remote);
    drop(sink);
    ledger.assert_balanced("bridge, system dropped");
    assert_eq!(fates(&ledger), [10, 100, 10]);
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn a_bridged_message_for_an_ended_actor_is_dropped_once() {
    let memory = counting();
    let ledger = Ledger::new(64);
    let system = LocalSystem::with_resource(64, memory.clone()).unwrap();
    let handled = Rc::new(Cell::new(0));
    let sink = system
        .spawn(TokenSink {
            handled: handled.clone(),
        })
        .unwrap();
    let remote = sink.sendable().unwrap();
    sink.stop().unwrap();
    system.run_until_idle().unwrap();
    assert!(!sink.is_alive());
    // The bridge is open (the system runs): the sends succeed, the deliveries find the
    // actor gone.
    send_tokens_from_a_thread(&remote, &ledger, 5);
    assert_eq!(ledger.dropped(), 0);
    let stats = system.run_until_idle().unwrap();
    assert_eq!(stats.messages, 0);
    assert_eq!(ledger.dropped(), 5);
    assert_eq!(handled.get(), 0);
    drop((remote, sink, system));
    ledger.assert_balanced("bridge, actor ended");
    assert_eq!(fates(&ledger), [0, 5, 0]);
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn the_last_send_address_gives_its_actor_back() {
    let memory = counting();
    let system = LocalSystem::with_resource(64, memory.clone()).unwrap();
    let (tally, sum, hooks) = Tally::new();
    let address = system.spawn(tally).unwrap();
    let remote = address.sendable().unwrap();
    drop(address);
    system.run_until_idle().unwrap();
    assert_eq!(hooks.drops.get(), 0, "the export keeps the actor");

    let other = remote.clone();
    spawn_bounded("remote", move || {
        remote.send(5).unwrap();
        other.send_high(6).unwrap();
    })
    .join(HANG);
    system.run_until_idle().unwrap();
    assert_eq!(sum.get(), 11);
    assert_eq!(*hooks.stops.borrow(), [StopReason::Dropped]);
    assert_eq!(hooks.drops.get(), 1);

    // Idle when its export goes.
    let (tally, _sum, hooks) = Tally::new();
    let address = system.spawn(tally).unwrap();
    let remote = address.sendable().unwrap();
    address.send(1).unwrap();
    system.run_until_idle().unwrap();
    drop(address);
    spawn_bounded("remote", move || drop(remote)).join(HANG);
    assert_eq!(
        hooks.drops.get(),
        0,
        "the release waits for the system's next step"
    );
    let stats = system.run_until_idle().unwrap();
    assert_eq!(stats.messages, 0);
    assert_eq!(*hooks.stops.borrow(), [StopReason::Dropped]);
    assert_eq!(hooks.drops.get(), 1);
    drop(system);
    assert_eq!(memory.live_blocks(), 0);
}

/// A resource that refuses allocations once its budget is spent (`usize::MAX`:
/// unlimited).
struct Limited {
    inner: CountingResource<PoolResource>,
    left: AtomicUsize,
}

impl Limited {
    fn allow(&self, n: usize) {
        self.left.store(n, Ordering::SeqCst);
    }
}

// SAFETY: every block comes from, and goes back to, `inner`; refusing is allowed.
unsafe impl MemoryResource for Limited {
    fn allocate(
        &self,
        layout: std::alloc::Layout,
    ) -> Result<std::ptr::NonNull<u8>, zeta::arena::AllocError> {
        let spent = self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| match left {
                usize::MAX => Some(usize::MAX),
                0 => None,
                left => Some(left - 1),
            });
        match spent {
            Ok(_) => self.inner.allocate(layout),
            Err(_) => Err(zeta::arena::AllocError),
        }
    }

    unsafe fn deallocate(&self, ptr: std::ptr::NonNull<u8>, layout: std::alloc::Layout) {
        // SAFETY: the caller's contract, passed on: the block came from `inner`.
        unsafe { self.inner.deallocate(ptr, layout) }
    }
}

#[test]
fn out_of_memory_gives_everything_back() {
    let memory = Arc::new(Limited {
        inner: CountingResource::new(PoolResource::new()),
        left: AtomicUsize::new(usize::MAX),
    });
    let system = LocalSystem::with_resource(64, memory.clone()).unwrap();
    let drops = Drops::default();
    let handled = Rc::new(RefCell::new(Vec::new()));
    let hooks = Rc::new(Hooks::default());
    let holder = system
        .spawn(Holder {
            handled: handled.clone(),
            hooks: hooks.clone(),
        })
        .unwrap();
    let (tally, sum, _hooks) = Tally::new();
    let tally = system.spawn(tally).unwrap();
    let remote = tally.sendable().unwrap();
    let answer = answerer(&system);

    memory.allow(0);
    let refused = holder.send(HolderMsg::Keep(drops.token())).unwrap_err();
    assert_eq!(refused.reason(), Undelivered::OutOfMemory);
    drop(refused);
    let made = Cell::new(false);
    let asked = answer.ask(|reply| {
        made.set(true);
        AnswerMsg::Double(1, reply)
    });
    assert!(matches!(asked, Err(AskError::OutOfMemory)));
    assert!(!made.get(), "the message is not built without its slot");
    assert_eq!(
        tally.sendable().map(|_| ()).map_err(|e| e.reason()),
        Err(Undelivered::OutOfMemory)
    );
    let spawned = system.spawn(Holder {
        handled: handled.clone(),
        hooks: hooks.clone(),
    });
    let spawned = spawned.map(|_| ()).unwrap_err();
    assert_eq!(spawned.reason(), SpawnFailure::OutOfMemory);
    drop(spawned.into_actor());
    // The bridge: no memory for the message's node, then none for the parcel.
    for budget in [0, 1] {
        memory.allow(budget);
        let refused = remote.send(7).unwrap_err();
        assert_eq!(
            refused.reason(),
            Undelivered::OutOfMemory,
            "budget {budget}"
        );
        assert_eq!(refused.into_message(), 7);
    }

    memory.allow(usize::MAX);
    holder.send(HolderMsg::Keep(drops.token())).unwrap();
    remote.send(8).unwrap();
    let answered = answer.ask(|reply| AnswerMsg::Double(2, reply)).unwrap();
    system.run_until_idle().unwrap();
    assert_eq!(answered.wait(), Ok(4));
    assert_eq!(sum.get(), 8);
    assert_eq!(handled.borrow().len(), 1);
    drop((holder, tally, remote, answer, system));
    drops.assert_each_once("out of memory");
    assert_eq!(
        hooks.drops.get(),
        2,
        "the holder, and the actor that was not spawned"
    );
    assert_eq!(memory.inner.live_blocks(), 0);
}

// ---------------------------------------------------------------------------------------
// 4. Memory
// ---------------------------------------------------------------------------------------

/// A reply value that counts the live ones.
struct Value {
    n: u64,
    alive: Rc<Cell<i64>>,
}

impl Value {
    fn new(n: u64, alive: &Rc<Cell<i64>>) -> Self {
        alive.set(alive.get() + 1);
        Self {
            n,
            alive: alive.clone(),
        }
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        self.alive.set(self.alive.get() - 1);
    }
}

/// Answers some requests, keeps the replies of others.
struct Keeper {
    kept: Vec<LocalReply<Value>>,
    alive: Rc<Cell<i64>>,
    hooks: Rc<Hooks>,
}

enum KeeperMsg {
    Answer(LocalReply<Value>),
    Keep(LocalReply<Value>),
    Note(Tracked),
}

impl LocalActor for Keeper {
    type Message = KeeperMsg;

    fn handle(&mut self, message: KeeperMsg, _ctx: &mut LocalContext<'_, Self>) {
        match message {
            KeeperMsg::Answer(reply) => drop(reply.send(Value::new(7, &self.alive))),
            KeeperMsg::Keep(reply) => self.kept.push(reply),
            KeeperMsg::Note(_token) => {}
        }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.hooks.drops.set(self.hooks.drops.get() + 1);
    }
}

fn keeper(system: &LocalSystem, alive: &Rc<Cell<i64>>, hooks: &Rc<Hooks>) -> LocalAddress<Keeper> {
    system
        .spawn(Keeper {
            kept: Vec::new(),
            alive: alive.clone(),
            hooks: hooks.clone(),
        })
        .unwrap()
}

/// Every permutation of `0..n`.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut all = Vec::new();
    for shorter in permutations(n - 1) {
        for at in 0..=shorter.len() {
            let mut order = shorter.clone();
            order.insert(at, n - 1);
            all.push(order);
        }
    }
    all
}

/// What a test holds, to drop in some order.
#[allow(dead_code)] // held only to be dropped
enum Held {
    System(LocalSystem),
    Address(LocalAddress<Keeper>),
    Future(LocalFuture<Value>),
    Remote(SendAddress<u64>),
}

#[test]
fn no_block_is_left_in_any_drop_order() {
    let names = [
        "system",
        "keeper",
        "queued actor",
        "answered future",
        "pending future",
        "send address",
    ];
    for order in permutations(names.len()) {
        let what: Vec<&str> = order.iter().map(|&i| names[i]).collect();
        let memory = counting();
        let system = LocalSystem::with_resource(8, memory.clone()).unwrap();
        let alive = Rc::new(Cell::new(0));
        let hooks = Rc::new(Hooks::default());
        let drops = Drops::default();
        let keeper_address = keeper(&system, &alive, &hooks);
        let answered = keeper_address.ask(KeeperMsg::Answer).unwrap();
        let pending = keeper_address.ask(KeeperMsg::Keep).unwrap();
        system.run_until_idle().unwrap();
        assert!(answered.is_ready() && !pending.is_ready());
        let queued = keeper(&system, &alive, &hooks);
        queued.send(KeeperMsg::Note(drops.token())).unwrap();
        queued.send(KeeperMsg::Note(drops.token())).unwrap();
        let (tally, _sum, tally_hooks) = Tally::new();
        let tally = system.spawn(tally).unwrap();
        let remote = tally.sendable().unwrap();
        drop(tally);
        remote.send(5).unwrap(); // in the bridge
        assert!(memory.live_blocks() > 0);

        let mut held = [
            Some(Held::System(system)),
            Some(Held::Address(keeper_address)),
            Some(Held::Address(queued)),
            Some(Held::Future(answered)),
            Some(Held::Future(pending)),
            Some(Held::Remote(remote)),
        ];
        for &i in &order {
            drop(held[i].take());
        }
        assert_eq!(memory.live_blocks(), 0, "{what:?}: blocks left");
        assert_eq!(alive.get(), 0, "{what:?}: reply values alive");
        assert_eq!(hooks.drops.get(), 2, "{what:?}: keepers dropped");
        assert_eq!(tally_hooks.drops.get(), 1, "{what:?}: tally dropped");
        drops.assert_each_once(&format!("{what:?}"));
    }
}

#[test]
fn a_send_address_on_another_thread_outlives_the_system() {
    let memory = counting();
    let system = LocalSystem::with_resource(64, memory.clone()).unwrap();
    let alive = Rc::new(Cell::new(0));
    let hooks = Rc::new(Hooks::default());
    let (tally, sum, tally_hooks) = Tally::new();
    let tally = system.spawn(tally).unwrap();
    let remote = tally.sendable().unwrap();
    let sent = Arc::new(Barrier::new(2));
    let go = Arc::new(Barrier::new(2));
    let holder = {
        let (sent, go) = (sent.clone(), go.clone());
        spawn_bounded("remote holder", move || {
            remote.send(1).unwrap();
            sent.wait();
            go.wait(); // the system is gone
            assert!(!remote.is_connected());
            let refused = remote.clone().send(2).unwrap_err();
            assert_eq!(refused.reason(), Undelivered::SchedulerStopped);
            assert_eq!(refused.into_message(), 2);
            drop(remote);
        })
    };
    sent.wait();
    system.run_until_idle().unwrap();
    assert_eq!(sum.get(), 1);

    // Futures kept past everything: one answered, one pending, one waited for later.
    let keeper_address = keeper(&system, &alive, &hooks);
    let mut answered = keeper_address.ask(KeeperMsg::Answer).unwrap();
    let mut pending = keeper_address.ask(KeeperMsg::Keep).unwrap();
    let waited = keeper_address.ask(KeeperMsg::Answer).unwrap();
    system.run_until_idle().unwrap();
    drop(system);
    // The system's stop ended every actor, idle ones too.
    assert_eq!(*tally_hooks.stops.borrow(), [StopReason::SchedulerStopped]);
    drop(tally);
    drop(keeper_address);
    assert_eq!(hooks.drops.get(), 1);
    assert!(
        memory.live_blocks() > 0,
        "the futures' slots, the export's release node"
    );

    go.wait();
    holder.join(HANG);
    assert_eq!(
        pending.try_take().map(|r| r.map(|v| v.n)),
        Some(Err(RequestError::NoReply))
    );
    assert_eq!(
        waited.wait().map(|v| v.n),
        Ok(7),
        "wait on a stopped system: the answer"
    );
    assert_eq!(answered.try_take().map(|r| r.map(|v| v.n)), Some(Ok(7)));
    drop((answered, pending));
    assert_eq!(alive.get(), 0);
    assert_eq!(memory.live_blocks(), 0);
}

// ---------------------------------------------------------------------------------------
// 5. Lifecycle table
// ---------------------------------------------------------------------------------------

/// Where the case panics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    /// The handler of the request panics while holding its reply.
    InHandler,
    InOnStart,
    InOnStop,
    /// A payload queued behind the request panics when dropped.
    InPayloadDrop,
}

/// How the actor ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// `stop()` with the request and payloads queued.
    StopQueued,
    /// `kill()` with them queued.
    KillQueued,
    /// Everything handled, then the last address goes.
    LastAddressIdle,
    /// The last address goes with everything queued.
    LastAddressQueued,
    /// The system goes with the actor queued.
    SystemDroppedQueued,
    /// Everything handled, the system goes, then the last address.
    SystemDroppedIdle,
}

/// What the asker does with its future.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asker {
    /// Drops it before the actor runs.
    DropBefore,
    /// Drops it, resolved and untaken, once the actor has ended.
    DropAfter,
    /// Keeps it past the system and the address, then takes the result.
    Keep,
}

const FAULTS: [Fault; 5] = [
    Fault::None,
    Fault::InHandler,
    Fault::InOnStart,
    Fault::InOnStop,
    Fault::InPayloadDrop,
];
const ENDINGS: [Ending; 6] = [
    Ending::StopQueued,
    Ending::KillQueued,
    Ending::LastAddressIdle,
    Ending::LastAddressQueued,
    Ending::SystemDroppedQueued,
    Ending::SystemDroppedIdle,
];
const ASKERS: [Asker; 3] = [Asker::DropBefore, Asker::DropAfter, Asker::Keep];

#[derive(Default)]
struct LifeCounts {
    hooks: Hooks,
    handled: RefCell<Vec<&'static str>>,
    replies_sent: Cell<u32>,
    replies_refused: Cell<u32>,
    values: Rc<Cell<i64>>,
    bombs_dropped: Cell<u32>,
}

/// Panics when dropped.
struct Bomb(Rc<LifeCounts>);

impl Drop for Bomb {
    fn drop(&mut self) {
        self.0.bombs_dropped.set(self.0.bombs_dropped.get() + 1);
        deliberate(DROP_PANIC);
    }
}

enum LifeMsg {
    Warm,
    Ask(LocalReply<Value>),
    Payload(Tracked),
    Bomb(Bomb),
}

struct Subject {
    fault: Fault,
    counts: Rc<LifeCounts>,
}

impl LocalActor for Subject {
    type Message = LifeMsg;

    fn on_start(&mut self, _ctx: &mut LocalContext<'_, Self>) {
        let starts = &self.counts.hooks.starts;
        starts.set(starts.get() + 1);
        if self.fault == Fault::InOnStart {
            deliberate(START_PANIC);
        }
    }

    fn handle(&mut self, message: LifeMsg, _ctx: &mut LocalContext<'_, Self>) {
        let counts = &self.counts;
        match message {
            LifeMsg::Warm => counts.handled.borrow_mut().push("warm"),
            LifeMsg::Ask(reply) => {
                counts.handled.borrow_mut().push("ask");
                if self.fault == Fault::InHandler {
                    deliberate(HANDLER_PANIC);
                }
                match reply.send(Value::new(40, &counts.values)) {
                    Ok(()) => counts.replies_sent.set(counts.replies_sent.get() + 1),
                    Err(value) => {
                        assert_eq!(value.n, 40);
                        counts.replies_refused.set(counts.replies_refused.get() + 1);
                    }
                }
            }
            LifeMsg::Payload(_token) => counts.handled.borrow_mut().push("payload"),
            LifeMsg::Bomb(bomb) => {
                counts.handled.borrow_mut().push("bomb");
                drop(bomb);
            }
        }
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.counts.hooks.stops.borrow_mut().push(reason);
        if self.fault == Fault::InOnStop {
            deliberate(STOP_PANIC);
        }
    }
}

impl Drop for Subject {
    fn drop(&mut self) {
        let drops = &self.counts.hooks.drops;
        drops.set(drops.get() + 1);
    }
}

/// What the request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Value,
    NoReply,
    HandlerPanicked,
}

/// The expected outcome of a case.
struct Expected {
    reason: StopReason,
    started: bool,
    answer: Answer,
    /// Whether the three payloads are handled.
    payloads_handled: bool,
}

fn expected(fault: Fault, ending: Ending) -> Expected {
    use Ending::*;
    // The actor runs (again) after the request was queued, except when the system goes
    // first; a kill ends it before it handles anything.
    let runs = ending != SystemDroppedQueued;
    let handles = runs && ending != KillQueued;
    let quiet_reason = match ending {
        StopQueued => StopReason::Stopped,
        KillQueued => StopReason::Killed,
        LastAddressIdle | LastAddressQueued => StopReason::Dropped,
        // The system's stop ends every actor, queued or idle.
        SystemDroppedQueued | SystemDroppedIdle => StopReason::SchedulerStopped,
    };
    match fault {
        Fault::None | Fault::InOnStop => Expected {
            reason: quiet_reason,
            started: true,
            answer: if handles {
                Answer::Value
            } else {
                Answer::NoReply
            },
            payloads_handled: handles,
        },
        Fault::InHandler => Expected {
            reason: if handles {
                panicked(HANDLER_PANIC)
            } else {
                quiet_reason
            },
            started: true,
            answer: if handles {
                Answer::HandlerPanicked
            } else {
                Answer::NoReply
            },
            payloads_handled: false,
        },
        Fault::InPayloadDrop => Expected {
            reason: if handles {
                panicked(DROP_PANIC)
            } else {
                quiet_reason
            },
            started: true,
            answer: if handles {
                Answer::Value
            } else {
                Answer::NoReply
            },
            payloads_handled: false,
        },
        // Not warmed up: the first run is the one after the request. A kill before the
        // first run ends the actor with no hooks at all (as on the thread-safe path).
        Fault::InOnStart => Expected {
            reason: if handles {
                panicked(START_PANIC)
            } else {
                quiet_reason
            },
            started: handles,
            answer: Answer::NoReply,
            payloads_handled: false,
        },
    }
}

fn lifecycle_case(fault: Fault, ending: Ending, asker: Asker) {
    let case = format!("{fault:?} × {ending:?} × {asker:?}");
    let expect = expected(fault, ending);
    let memory = counting();
    let system = LocalSystem::with_resource(64, memory.clone()).unwrap();
    let counts = Rc::new(LifeCounts::default());
    let drops = Drops::default();
    let subject = system
        .spawn(Subject {
            fault,
            counts: counts.clone(),
        })
        .unwrap();
    if fault != Fault::InOnStart {
        subject.send(LifeMsg::Warm).unwrap();
        system.run_until_idle().unwrap();
        assert_eq!(counts.hooks.starts.get(), 1, "{case}: warmed up");
    }

    let mut future = Some(subject.ask(LifeMsg::Ask).unwrap());
    if fault == Fault::InPayloadDrop {
        subject.send(LifeMsg::Bomb(Bomb(counts.clone()))).unwrap();
    }
    for _ in 0..3 {
        subject.send(LifeMsg::Payload(drops.token())).unwrap();
    }
    if asker == Asker::DropBefore {
        drop(future.take());
    }

    let mut system = Some(system);
    let mut subject = Some(subject);
    let run = |system: &Option<LocalSystem>| {
        system.as_ref().unwrap().run_until_idle().unwrap();
    };
    match ending {
        Ending::StopQueued => {
            let address = subject.as_ref().unwrap();
            address.stop().unwrap();
            let refused = address.send(LifeMsg::Payload(drops.token())).unwrap_err();
            assert_eq!(refused.reason(), Undelivered::ActorStopped, "{case}");
            drop(refused);
            run(&system);
        }
        Ending::KillQueued => {
            subject.as_ref().unwrap().kill().unwrap();
            run(&system);
        }
        Ending::LastAddressIdle => {
            run(&system);
            drop(subject.take());
        }
        Ending::LastAddressQueued => {
            drop(subject.take());
            run(&system);
        }
        Ending::SystemDroppedQueued => {
            drop(system.take());
            let address = subject.as_ref().unwrap();
            assert!(!address.is_alive(), "{case}: ended with the system");
            let refused = address.send(LifeMsg::Payload(drops.token())).unwrap_err();
            assert_eq!(refused.reason(), Undelivered::SchedulerStopped, "{case}");
            drop(refused);
        }
        Ending::SystemDroppedIdle => {
            run(&system);
            drop(system.take());
        }
    }
    if asker == Asker::DropAfter {
        let future = future.take().unwrap();
        // Every ending has handled or dropped the request by now.
        assert!(future.is_ready(), "{case}: resolved before it is dropped");
        drop(future);
    }
    drop(subject);
    drop(system);

    let answer = future.take().map(|mut future| {
        let answer = future.try_take();
        let again = future.try_take().map(|r| r.map(|v| v.n));
        match &answer {
            // A value is taken once; an error stays what it was.
            Some(Ok(_)) => assert_eq!(again, Some(Err(RequestError::NoReply)), "{case}"),
            Some(Err(error)) => assert_eq!(again, Some(Err(*error)), "{case}"),
            None => {}
        }
        answer
    });
    if let Some(answer) = answer {
        let got = match answer {
            Some(Ok(value)) => {
                assert_eq!(value.n, 40, "{case}");
                Answer::Value
            }
            Some(Err(RequestError::NoReply)) => Answer::NoReply,
            Some(Err(RequestError::HandlerPanicked)) => Answer::HandlerPanicked,
            other => panic!(
                "{case}: the future holds {:?}",
                other.map(|r| r.map(|v| v.n))
            ),
        };
        assert_eq!(got, expect.answer, "{case}: the answer");
    }
    let answered = expect.answer == Answer::Value;
    if answered && asker == Asker::DropBefore {
        assert_eq!(
            counts.replies_refused.get(),
            1,
            "{case}: the value came back"
        );
    } else {
        assert_eq!(counts.replies_refused.get(), 0, "{case}");
    }
    let sent = u32::from(answered && asker != Asker::DropBefore);
    assert_eq!(counts.replies_sent.get(), sent, "{case}: replies sent");
    assert_eq!(counts.values.get(), 0, "{case}: every value dropped once");

    let payloads = counts
        .handled
        .borrow()
        .iter()
        .filter(|&&h| h == "payload")
        .count();
    let expected_payloads = if expect.payloads_handled { 3 } else { 0 };
    assert_eq!(payloads, expected_payloads, "{case}: payloads handled");
    drops.assert_each_once(&case);
    if fault == Fault::InPayloadDrop {
        assert_eq!(
            counts.bombs_dropped.get(),
            1,
            "{case}: the bomb dropped once"
        );
    }

    assert_eq!(
        counts.hooks.drops.get(),
        1,
        "{case}: the actor dropped once"
    );
    let starts = counts.hooks.starts.get();
    let stops = counts.hooks.stops.borrow();
    assert_eq!(starts, u32::from(expect.started), "{case}: on_start");
    if expect.started {
        assert_eq!(stops.len(), 1, "{case}: on_stop once");
        assert!(
            same_reason(&stops[0], &expect.reason),
            "{case}: ended with {:?}, expected {:?}",
            stops[0],
            expect.reason
        );
    } else {
        assert!(
            stops.is_empty(),
            "{case}: on_stop without on_start: {stops:?}"
        );
    }
    assert_eq!(memory.live_blocks(), 0, "{case}: blocks left");
}

/// Killed before its first run: the only combination of the table where the actor
/// never started and is not left to the system's drop.
fn killed_before_its_first_run(fault: Fault, ending: Ending) -> bool {
    fault == Fault::InOnStart && ending == Ending::KillQueued
}

#[test]
fn lifecycle_combinations() {
    silence_deliberate_panics();
    let mut cases = 0;
    for fault in FAULTS {
        for ending in ENDINGS {
            if killed_before_its_first_run(fault, ending) {
                continue; // `a_kill_before_the_first_run_runs_no_hooks`
            }
            for asker in ASKERS {
                lifecycle_case(fault, ending, asker);
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 5 * 6 * 3 - 3);
}

#[test]
fn a_kill_before_the_first_run_runs_no_hooks() {
    silence_deliberate_panics();
    for asker in ASKERS {
        lifecycle_case(Fault::InOnStart, Ending::KillQueued, asker);
    }
    // The same without a fault: spawned, sent to, killed, run.
    let system = LocalSystem::new(64).unwrap();
    let (tally, sum, hooks) = Tally::new();
    let tally = system.spawn(tally).unwrap();
    tally.send(1).unwrap();
    tally.kill().unwrap();
    system.run_until_idle().unwrap();
    assert!(!tally.is_alive());
    assert_eq!(sum.get(), 0);
    assert_eq!(hooks.drops.get(), 1);
    assert_eq!(
        hooks.starts.get(),
        0,
        "on_start ran for an actor killed before it ran"
    );
    assert!(hooks.stops.borrow().is_empty());
}

// ---------------------------------------------------------------------------------------
// 6. Requests
// ---------------------------------------------------------------------------------------

#[test]
fn ask_and_try_take() {
    let memory = counting();
    let system = LocalSystem::with_resource(64, memory.clone()).unwrap();
    let server = answerer(&system);
    let mut future = server.ask(|reply| AnswerMsg::Double(21, reply)).unwrap();
    assert!(!future.is_ready());
    assert_eq!(future.try_take(), None, "nothing ran yet");
    assert!(format!("{future:?}").contains("Pending"));
    system.run_until_idle().unwrap();
    assert!(future.is_ready());
    assert_eq!(future.try_take(), Some(Ok(42)));
    assert_eq!(
        future.try_take(),
        Some(Err(RequestError::NoReply)),
        "taken already"
    );

    // High priority: answered before the normal ones queued ahead of it.
    let sends = Sends::default();
    let kept = server.ask(AnswerMsg::Keep).unwrap();
    server
        .send(AnswerMsg::AnswerKept(1, sends.clone()))
        .unwrap();
    let mut urgent = server
        .ask_with(|reply| AnswerMsg::Double(5, reply), Priority::High)
        .unwrap();
    assert!(system.run_once().unwrap());
    assert_eq!(urgent.try_take(), Some(Ok(10)));
    assert_eq!(kept.wait(), Ok(1));
    assert_eq!(*sends.borrow(), [Ok(())]);
    drop((future, urgent, server, system));
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn wait_runs_the_system_until_the_answer() {
    let system = LocalSystem::new(1).unwrap();
    let server = answerer(&system);
    let log = Log::default();
    let busy = system.spawn(recorder('b', &log)).unwrap();
    for n in 0..10 {
        busy.send(n).unwrap();
    }
    let future = server.ask(|reply| AnswerMsg::Double(4, reply)).unwrap();
    assert_eq!(future.wait(), Ok(8));
    assert!(log.borrow().len() < 10, "wait stops once it has the answer");
    let mut future = server.ask(|reply| AnswerMsg::Double(5, reply)).unwrap();
    assert_eq!(future.wait_timeout(HANG), Ok(10));

    // Nothing can answer (the reply is kept, and no other thread can send): the wait
    // ends at once with NoReply, and the future stays usable.
    let mut kept = server.ask(AnswerMsg::Keep).unwrap();
    let started = Instant::now();
    assert_eq!(kept.wait_timeout(HANG), Err(RequestError::NoReply));
    assert!(started.elapsed() < HANG / 2);
    let sends = Sends::default();
    server
        .send(AnswerMsg::AnswerKept(3, sends.clone()))
        .unwrap();
    system.run_until_idle().unwrap();
    assert_eq!(
        kept.try_take(),
        Some(Ok(3)),
        "answered later, from the actor's state"
    );
    assert_eq!(*sends.borrow(), [Ok(())]);
}

/// Forwards what other threads send to an [`Answerer`] (whose messages carry local
/// replies, so it cannot be reached from other threads itself).
struct Relay {
    to: LocalAddress<Answerer>,
    sends: Sends,
}

impl LocalActor for Relay {
    type Message = u64;

    fn handle(&mut self, n: u64, _ctx: &mut LocalContext<'_, Self>) {
        self.to
            .send(AnswerMsg::AnswerKept(n, self.sends.clone()))
            .unwrap();
    }
}

#[test]
fn wait_timeout_parks_while_another_thread_can_answer() {
    let memory = counting();
    let system = LocalSystem::with_resource(64, memory.clone()).unwrap();
    let server = answerer(&system);
    let sends = Sends::default();
    let relay = system
        .spawn(Relay {
            to: server.clone(),
            sends: sends.clone(),
        })
        .unwrap();
    let remote = relay.sendable().unwrap();

    let mut kept = server.ask(AnswerMsg::Keep).unwrap();
    let timeout = Duration::from_millis(30);
    let started = Instant::now();
    assert_eq!(kept.wait_timeout(timeout), Err(RequestError::Timeout));
    assert!(started.elapsed() >= timeout);
    assert!(!kept.is_ready(), "still pending, still usable");

    let answering = spawn_bounded("answering thread", move || {
        std::thread::sleep(Duration::from_millis(20));
        remote.send(77).unwrap();
        remote
    });
    assert_eq!(
        kept.wait_timeout(REPLY_HANG),
        Ok(77),
        "woken by the other thread's send"
    );
    let remote = answering.join(HANG);
    assert_eq!(*sends.borrow(), [Ok(())]);
    drop(kept);

    // `wait` (no timeout) the same way.
    let kept = server.ask(AnswerMsg::Keep).unwrap();
    let answering = spawn_bounded("answering thread", move || {
        std::thread::sleep(Duration::from_millis(20));
        remote.send_high(78).unwrap();
    });
    assert_eq!(kept.wait(), Ok(78));
    answering.join(HANG);
    drop((server, relay, system));
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn await_with_a_hand_rolled_waker() {
    silence_deliberate_panics();
    let system = LocalSystem::new(64).unwrap();
    let server = answerer(&system);
    let (first_wakes, first) = WakeCount::waker();
    let (second_wakes, second) = WakeCount::waker();

    let mut future = server.ask(|reply| AnswerMsg::Double(8, reply)).unwrap();
    assert!(poll(&mut future, &first).is_pending());
    assert!(
        poll(&mut future, &second).is_pending(),
        "the later waker replaces the first"
    );
    system.run_until_idle().unwrap();
    assert_eq!((first_wakes.get(), second_wakes.get()), (0, 1));
    assert_eq!(poll(&mut future, &first), Poll::Ready(Ok(16)));

    // Answered before the first poll: ready at once, nobody woken.
    let mut future = server.ask(|reply| AnswerMsg::Double(9, reply)).unwrap();
    system.run_until_idle().unwrap();
    assert_eq!(poll(&mut future, &first), Poll::Ready(Ok(18)));
    assert_eq!(first_wakes.get(), 0);

    // Resolved by a drop, and by a panic.
    let mut ignored = server.ask(AnswerMsg::Ignore).unwrap();
    assert!(poll(&mut ignored, &first).is_pending());
    system.run_until_idle().unwrap();
    assert_eq!(first_wakes.get(), 1);
    assert_eq!(
        poll(&mut ignored, &first),
        Poll::Ready(Err(RequestError::NoReply))
    );
    let mut crashed = server.ask(AnswerMsg::PanicWith).unwrap();
    assert!(poll(&mut crashed, &first).is_pending());
    system.run_until_idle().unwrap();
    assert_eq!(first_wakes.get(), 2);
    assert_eq!(
        poll(&mut crashed, &first),
        Poll::Ready(Err(RequestError::HandlerPanicked))
    );
}

/// Tries what a handler must not do, and records the results.
struct Reentrant {
    server: LocalAddress<Answerer>,
    results: Rc<RefCell<Vec<String>>>,
}

impl LocalActor for Reentrant {
    type Message = ();

    fn handle(&mut self, (): (), ctx: &mut LocalContext<'_, Self>) {
        let mut results = self.results.borrow_mut();
        let future = self.server.ask(|r| AnswerMsg::Double(1, r)).unwrap();
        results.push(format!("{:?}", future.wait()));
        let mut future = self.server.ask(|r| AnswerMsg::Double(2, r)).unwrap();
        results.push(format!("{:?}", future.wait_timeout(Duration::from_secs(1))));
        let system = ctx.system();
        results.push(format!("{:?}", system.run_once()));
        results.push(format!("{:?}", system.run_until_idle()));
        results.push(format!("{:?}", system.run_for(Duration::from_secs(1))));
        results.push(format!("{:?}", system.park(Some(Duration::from_secs(1)))));
    }
}

#[test]
fn a_handler_cannot_block_or_drive_its_system() {
    let system = LocalSystem::new(64).unwrap();
    let server = answerer(&system);
    let results = Rc::new(RefCell::new(Vec::new()));
    let reentrant = system
        .spawn(Reentrant {
            server: server.clone(),
            results: results.clone(),
        })
        .unwrap();
    reentrant.send(()).unwrap();
    let stats = system.run_until_idle().unwrap();
    assert_eq!(
        *results.borrow(),
        [
            "Err(WouldBlock)",
            "Err(WouldBlock)",
            "Err(AlreadyRunning)",
            "Err(AlreadyRunning)",
            "Err(AlreadyRunning)",
            "Err(AlreadyRunning)",
        ]
    );
    assert_eq!(
        stats.messages, 3,
        "the probe, then the two requests (answered to nobody)"
    );
    assert!(reentrant.is_alive(), "refusals, not failures");
    assert!(
        system.run_once().is_ok(),
        "outside a handler, the system is drivable again"
    );
}

#[test]
fn a_reply_after_its_future_is_gone_gives_the_value_back() {
    let system = LocalSystem::new(64).unwrap();
    let server = answerer(&system);
    let sends = Sends::default();
    let dropped = server.ask(AnswerMsg::Keep).unwrap();
    let waiting = server.ask(AnswerMsg::Keep).unwrap();
    system.run_until_idle().unwrap();
    drop(dropped);
    server
        .send(AnswerMsg::AnswerKept(5, sends.clone()))
        .unwrap();
    system.run_until_idle().unwrap();
    assert_eq!(*sends.borrow(), [Err(5), Ok(())]);
    assert_eq!(waiting.wait(), Ok(5));

    // Refused values are the handler's to drop: each exactly once.
    let alive = Rc::new(Cell::new(0));
    let hooks = Rc::new(Hooks::default());
    let keeper_address = keeper(&system, &alive, &hooks);
    for _ in 0..3 {
        drop(keeper_address.ask(KeeperMsg::Answer).unwrap());
    }
    let kept = keeper_address.ask(KeeperMsg::Answer).unwrap();
    system.run_until_idle().unwrap();
    assert_eq!(alive.get(), 1, "only the answer a future holds is alive");
    drop(kept);
    assert_eq!(alive.get(), 0, "an untaken answer goes with its future");
}

// ---------------------------------------------------------------------------------------
// 7. The bridge
// ---------------------------------------------------------------------------------------

const SENDERS: usize = 4;

/// What a bridge sender sends: who, with which priority, its sequence number in that
/// priority, and a value for the sum.
struct Numbered {
    sender: usize,
    high: bool,
    seq: u64,
    value: u64,
}

/// Checks per-sender FIFO per priority and sums what arrives.
struct Checker {
    last: Vec<[Option<u64>; 2]>,
    counts: Rc<RefCell<Vec<[u64; 2]>>>,
    received: Rc<Cell<u64>>,
    sum: Rc<Cell<u64>>,
    violations: Rc<RefCell<Vec<String>>>,
}

impl LocalActor for Checker {
    type Message = Numbered;

    fn handle(&mut self, m: Numbered, _ctx: &mut LocalContext<'_, Self>) {
        let lane = usize::from(m.high);
        let last = &mut self.last[m.sender][lane];
        if last.is_some_and(|last| m.seq <= last) {
            let mut violations = self.violations.borrow_mut();
            if violations.len() < 8 {
                violations.push(format!(
                    "sender {} {}: {} after {:?}",
                    m.sender,
                    if m.high { "high" } else { "normal" },
                    m.seq,
                    last
                ));
            }
        }
        *last = Some(m.seq);
        self.counts.borrow_mut()[m.sender][lane] += 1;
        self.received.set(self.received.get() + 1);
        self.sum.set(self.sum.get().wrapping_add(m.value));
    }
}

/// Messages per bridge sender: 100,000 in release, a quarter in debug, times
/// `ZETA_STRESS_SCALE`.
fn per_sender() -> usize {
    let base = if cfg!(debug_assertions) {
        25_000
    } else {
        100_000
    };
    scaled(base, 500)
}

#[test]
fn bridged_messages_keep_their_priority() {
    let system = LocalSystem::new(64).unwrap();
    let log = Log::default();
    let target = system.spawn(recorder('r', &log)).unwrap();
    let remote = target.sendable().unwrap();
    // Queued locally first, idle actor: the bridged high ones still go first.
    target.send(0).unwrap();
    target.send(1).unwrap();
    let sender = remote.clone();
    spawn_bounded("priorities", move || {
        sender.send(2).unwrap();
        sender.send_high(10).unwrap();
        sender.send(3).unwrap();
        sender.send_with(11, Priority::High).unwrap();
    })
    .join(HANG);
    assert_eq!(target.queued(), 2, "the bridged ones wait in the bridge");
    system.run_until_idle().unwrap();
    let order: Vec<u32> = log.borrow().iter().map(|&(_, n)| n).collect();
    assert_eq!(order, [10, 11, 0, 1, 2, 3]);

    // Across two batches: normal ones delivered and queued, then a high one.
    log.borrow_mut().clear();
    let sender = remote.clone();
    spawn_bounded("first batch", move || {
        for n in 20..24 {
            sender.send(n).unwrap();
        }
    })
    .join(HANG);
    assert!(system.run_once().unwrap());
    assert_eq!(log.borrow().len(), 4);
    target.send(24).unwrap();
    target.send(25).unwrap();
    spawn_bounded("second batch", move || remote.send_high(12).unwrap()).join(HANG);
    system.run_until_idle().unwrap();
    let order: Vec<u32> = log.borrow().iter().map(|&(_, n)| n).collect();
    assert_eq!(order, [20, 21, 22, 23, 12, 24, 25]);
}

#[test]
fn park_waits_for_the_bridge_and_a_send_wakes_it() {
    let system = LocalSystem::new(64).unwrap();
    let (tally, sum, _hooks) = Tally::new();
    let tally = system.spawn(tally).unwrap();
    let remote = tally.sendable().unwrap();

    // Nothing comes: each park waits out its timeout (a spurious wake-up aside).
    let started = Instant::now();
    let mut parks = 0;
    while started.elapsed() < Duration::from_millis(40) {
        assert!(!system.park(Some(Duration::from_millis(10))).unwrap());
        parks += 1;
    }
    assert!(
        parks <= 8,
        "park returned at once {parks} times: it does not wait"
    );

    // A message waiting: at once.
    remote.send(1).unwrap();
    let started = Instant::now();
    assert!(system.park(Some(REPLY_HANG)).unwrap());
    assert!(started.elapsed() < REPLY_HANG / 2);
    system.run_until_idle().unwrap();

    // A send from another thread wakes a parked system, long before its timeout.
    for n in 2..5 {
        let sender = remote.clone();
        let thread = spawn_bounded("waker", move || {
            std::thread::sleep(Duration::from_millis(20));
            sender.send(n).unwrap();
        });
        let started = Instant::now();
        while !system.park(Some(REPLY_HANG)).unwrap() {
            assert!(started.elapsed() < REPLY_HANG / 2, "not woken");
        }
        assert!(
            started.elapsed() < REPLY_HANG / 2,
            "woken by the send, not the timeout"
        );
        thread.join(HANG);
        system.run_until_idle().unwrap();
    }
    assert_eq!(sum.get(), 1 + 2 + 3 + 4);
}

#[test]
fn bridge_stress_conserves_and_keeps_each_senders_order() {
    let memory = counting();
    let system = LocalSystem::with_resource(64, memory.clone()).unwrap();
    let counts = Rc::new(RefCell::new(vec![[0; 2]; SENDERS]));
    let received = Rc::new(Cell::new(0));
    let sum = Rc::new(Cell::new(0));
    let violations = Rc::new(RefCell::new(Vec::new()));
    let checker = system
        .spawn(Checker {
            last: vec![[None; 2]; SENDERS],
            counts: counts.clone(),
            received: received.clone(),
            sum: sum.clone(),
            violations: violations.clone(),
        })
        .unwrap();
    let remote = checker.sendable().unwrap();
    let each = per_sender();
    let total = (each * SENDERS) as u64;
    let start = Arc::new(Barrier::new(SENDERS + 1));
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let remote = remote.clone();
            let start = start.clone();
            spawn_bounded(format!("bridge sender {sender}"), move || {
                let mut rng = stress_common::rng(0xB41D6E, sender as u64);
                let mut seqs = [0u64; 2];
                let mut sum = 0u64;
                start.wait();
                for _ in 0..each {
                    let high = rng.u64(..4) == 0;
                    let lane = usize::from(high);
                    let value = rng.u64(..) >> 8;
                    sum = sum.wrapping_add(value);
                    let message = Numbered {
                        sender,
                        high,
                        seq: seqs[lane],
                        value,
                    };
                    seqs[lane] += 1;
                    let sent = if high {
                        remote.send_high(message)
                    } else {
                        remote.send(message)
                    };
                    assert!(sent.is_ok(), "the system is running");
                }
                (seqs, sum)
            })
        })
        .collect();
    drop(remote);
    start.wait();

    let deadline = Instant::now() + HANG;
    let mut parks = 0u64;
    while received.get() < total {
        system.run_until_idle().unwrap();
        if received.get() < total {
            system.park(Some(Duration::from_millis(20))).unwrap();
            parks += 1;
        }
        assert!(
            Instant::now() < deadline,
            "hang: {} of {total} arrived",
            received.get()
        );
    }
    let mut expected_sum = 0u64;
    for (sender, thread) in senders.into_iter().enumerate() {
        let (seqs, sent_sum) = thread.join(HANG);
        assert_eq!(
            counts.borrow()[sender],
            seqs,
            "sender {sender}: normal, high counts"
        );
        expected_sum = expected_sum.wrapping_add(sent_sum);
    }
    assert!(
        violations.borrow().is_empty(),
        "FIFO broken: {:?}",
        violations.borrow()
    );
    assert_eq!(sum.get(), expected_sum, "sum of values");
    assert_eq!(checker.handled(), total);
    assert_eq!(system.run_until_idle().unwrap().messages, 0, "nothing more");
    println!("{total} messages from {SENDERS} threads, {parks} parks");
    drop((checker, system));
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn bridge_sends_racing_the_system_drop_are_conserved() {
    // More rounds at a larger scale (more races); each round's size only shrinks.
    let rounds = scaled(24, 4);
    let base = if cfg!(debug_assertions) {
        4_000
    } else {
        20_000
    };
    let per_thread = scaled(base, 100).min(base);
    let mut outcomes = [0; 3];
    for round in 0..rounds {
        let memory = counting();
        let ledger = Ledger::new(SENDERS * (per_thread + 4));
        let system = LocalSystem::with_resource(64, memory.clone()).unwrap();
        let handled = Rc::new(Cell::new(0));
        let sink = system
            .spawn(TokenSink {
                handled: handled.clone(),
            })
            .unwrap();
        let remote = sink.sendable().unwrap();
        let start = Arc::new(Barrier::new(SENDERS + 1));
        let senders: Vec<_> = (0..SENDERS)
            .map(|sender| {
                let remote = remote.clone();
                let ledger = ledger.clone();
                let start = start.clone();
                spawn_bounded(format!("racing sender {sender}"), move || {
                    let (mut sent, mut returned) = (0usize, 0usize);
                    start.wait();
                    for n in 0..per_thread as u64 {
                        let token = Token::new(&ledger, n);
                        let result = if n % 5 == 0 {
                            remote.send_high(token)
                        } else {
                            remote.send(token)
                        };
                        match result {
                            Ok(()) => sent += 1,
                            Err(refused) => {
                                assert_eq!(refused.reason(), Undelivered::SchedulerStopped);
                                drop(refused.into_message().mark(Fate::Returned));
                                returned += 1;
                                break;
                            }
                        }
                    }
                    // Once refused (or done), every later send is refused too, or (done
                    // before the drop) accepted, never lost.
                    for n in 0..3 {
                        match remote.send(Token::new(&ledger, n)) {
                            Ok(()) => sent += 1,
                            Err(refused) => {
                                drop(refused.into_message().mark(Fate::Returned));
                                returned += 1;
                            }
                        }
                    }
                    (sent, returned)
                })
            })
            .collect();
        drop(remote);
        start.wait();
        // Let some arrive (none, a quarter, a half, ...) before the system goes.
        let threshold = SENDERS * per_thread * (round % 4) / 6;
        let deadline = Instant::now() + HANG;
        while handled.get() < threshold {
            system.run_until_idle().unwrap();
            if handled.get() < threshold {
                system.park(Some(Duration::from_millis(5))).unwrap();
            }
            assert!(Instant::now() < deadline, "hang: round {round}");
        }
        drop(system);
        let (mut sent, mut returned) = (0, 0);
        for thread in senders {
            let (s, r) = thread.join(HANG);
            sent += s;
            returned += r;
        }
        drop(sink);
        let what = format!("round {round}");
        ledger.assert_balanced(&what);
        let [delivered, dropped, came_back] = fates(&ledger);
        assert_eq!(delivered, handled.get(), "{what}: handled");
        assert_eq!(came_back, returned, "{what}: returned");
        assert_eq!(
            delivered + dropped,
            sent,
            "{what}: accepted = handled + dropped"
        );
        assert_eq!(
            delivered + came_back + dropped,
            ledger.created(),
            "{what}: delivered + returned + dropped undelivered = sent"
        );
        assert_eq!(memory.live_blocks(), 0, "{what}: blocks left");
        for (total, n) in outcomes.iter_mut().zip([delivered, came_back, dropped]) {
            *total += n;
        }
    }
    println!("handled, returned, dropped in flight: {outcomes:?}");
    // At the usual sizes every outcome happens; a tiny scale under a slow tool (a
    // serialising scheduler) may not race at all, and checks conservation only.
    if stress_common::scale() >= 1.0 {
        assert!(
            outcomes.iter().all(|&n| n > 0),
            "the rounds did not race: {outcomes:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 8. Local and thread-safe actors together
// ---------------------------------------------------------------------------------------

/// A thread-safe actor that answers each number `n` with `n + 1` into a local actor.
struct Echo {
    back: Option<SendAddress<u64>>,
}

enum EchoMsg {
    Hello(SendAddress<u64>),
    Ping(u64),
}

impl Actor for Echo {
    type Message = EchoMsg;

    fn handle(&mut self, message: EchoMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            EchoMsg::Hello(back) => self.back = Some(back),
            EchoMsg::Ping(n) => self
                .back
                .as_ref()
                .expect("hello first")
                .send(n + 1)
                .expect("the local system runs"),
        }
    }
}

/// A local actor that plays ping-pong with an [`Echo`] until `until`.
struct LocalPinger {
    echo: zeta::Address<Echo>,
    expected: u64,
    until: u64,
    done: Rc<Cell<bool>>,
}

impl LocalActor for LocalPinger {
    type Message = u64;

    fn handle(&mut self, n: u64, _ctx: &mut LocalContext<'_, Self>) {
        assert_eq!(n, self.expected, "in order");
        if n >= self.until {
            self.done.set(true);
            return;
        }
        self.expected = n + 2;
        self.echo
            .send(EchoMsg::Ping(n + 1))
            .expect("the echo is alive");
    }
}

/// Sets up the pair; the first ping is queued.
fn pinger_pair<S: Scheduler + 'static>(
    local: &LocalSystem,
    system: &System<S>,
    until: u64,
) -> (Rc<Cell<bool>>, LocalAddress<LocalPinger>) {
    let echo = system.spawn(Echo { back: None }).unwrap();
    let done = Rc::new(Cell::new(false));
    let pinger = local
        .spawn(LocalPinger {
            echo: echo.clone(),
            expected: 0,
            until,
            done: done.clone(),
        })
        .unwrap();
    echo.send(EchoMsg::Hello(pinger.sendable().unwrap()))
        .unwrap();
    pinger.send(0).unwrap();
    (done, pinger)
}

#[test]
fn a_local_actor_and_a_thread_safe_one_on_a_manual_scheduler() {
    let memory = counting();
    let local = LocalSystem::with_resource(64, memory.clone()).unwrap();
    let system = System::manual(64).unwrap();
    let rounds = 1_000;
    let (done, pinger) = pinger_pair(&local, &system, 2 * rounds);
    let mut turns = 0;
    while !done.get() {
        local.run_until_idle().unwrap();
        system.scheduler().run_until_idle().unwrap();
        turns += 1;
        assert!(turns <= 4 * rounds, "no progress");
    }
    assert_eq!(pinger.handled(), rounds + 1);
    drop(pinger);
    drop(system);
    drop(local);
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn a_local_actor_and_a_thread_safe_one_on_a_sharing_scheduler() {
    let memory = counting();
    let local = LocalSystem::with_resource(64, memory.clone()).unwrap();
    let system = System::sharing(2).unwrap();
    let rounds = 2_000;
    let (done, pinger) = pinger_pair(&local, &system, 2 * rounds);
    let deadline = Instant::now() + HANG;
    while !done.get() {
        local.run_until_idle().unwrap();
        if !done.get() {
            local.park(Some(Duration::from_millis(20))).unwrap();
        }
        assert!(Instant::now() < deadline, "hang at {}", pinger.handled());
    }
    assert_eq!(pinger.handled(), rounds + 1);
    drop(pinger);
    system.scheduler().stop().unwrap();
    drop(system);
    drop(local);
    assert_eq!(memory.live_blocks(), 0);
}
