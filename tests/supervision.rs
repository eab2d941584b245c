//! Supervision: restart in place, table-driven.
//!
//! {one-for-one, one-for-all, rest-for-one} × {panic, stop, kill} × {permanent,
//! transient, temporary}: three children a, b, c (a and c permanent, b with the table's
//! policy); b's instance ends as the table says, with a request queued behind the end.
//! Checked in every case: whether b is restarted in place (same address, a new
//! instance) or ends for good; which siblings the strategy restarts; what each request
//! resolves to (the one being handled at a panic: `HandlerPanicked`; the queued one: answered
//! by the new instance, or `NoReply` if b ends, or by the old one for a graceful stop);
//! the supervisor's counts; and, after the supervisor is stopped, every block back in
//! the `CountingResource`.
//!
//! Then: the restart intensity exceeded escalates up two levels and the root's failure
//! ends the whole tree; restarts under load from 4 sender threads keep every queued
//! message, in per-sender order.
#![cfg(not(zeta_loom))]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zeta::arena::{CountingResource, PoolResource};
use zeta::scheduler::Scheduler;
use zeta::{
    Actor, Address, Context, Intensity, ManualScheduler, Reply, RequestError, Restart,
    RestartStrategy, SharingScheduler, StopReason, Supervisor, System,
};

const HANG: Duration = Duration::from_secs(10);

type Memory = Arc<CountingResource<PoolResource>>;

/// Silences the panics these tests make on purpose (they say so).
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if text
                .is_some_and(|text| text.contains("on purpose") || text.contains("restarts within"))
            {
                return;
            }
            previous(info);
        }));
    });
}

/// A child: says which instance it is.
struct Worker {
    generation: u64,
}

enum Msg {
    Generation(Reply<u64>),
    /// Panics while holding a request.
    Panic(Reply<u64>),
}

impl Actor for Worker {
    type Message = Msg;

    fn handle(&mut self, message: Msg, _ctx: &mut Context<'_, Self>) {
        match message {
            Msg::Generation(reply) => {
                let _ = reply.send(self.generation);
            }
            Msg::Panic(_reply) => panic!("a worker fails on purpose"),
        }
    }
}

/// A factory of workers numbering their instances from a shared counter.
fn workers(counter: &Arc<AtomicU64>) -> impl Fn() -> Worker + Send + Sync + 'static {
    let counter = counter.clone();
    move || Worker {
        generation: counter.fetch_add(1, Ordering::SeqCst),
    }
}

fn generation(
    system: &System<ManualScheduler>,
    worker: &Address<Worker>,
) -> Result<u64, RequestError> {
    let mut future = worker.ask(Msg::Generation).expect("accepts");
    system.scheduler().run_until_idle().unwrap();
    future.try_take().expect("answered or refused")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Panic,
    Stop,
    Kill,
}

fn start(
    system: &System<ManualScheduler>,
    supervisor: &Address<Supervisor>,
    restart: Restart,
    counter: &Arc<AtomicU64>,
) -> Address<Worker> {
    let mut future = Supervisor::start_child(supervisor, restart, workers(counter)).unwrap();
    system.scheduler().run_until_idle().unwrap();
    future.try_take().unwrap().unwrap().unwrap()
}

#[test]
fn strategies_by_ends_by_policies() {
    quiet_panics();
    let strategies = [
        RestartStrategy::OneForOne,
        RestartStrategy::OneForAll,
        RestartStrategy::RestForOne,
    ];
    let policies = [Restart::Permanent, Restart::Transient, Restart::Temporary];
    for strategy in strategies {
        for end in [End::Panic, End::Stop, End::Kill] {
            for policy in policies {
                one_case(strategy, end, policy);
            }
        }
    }
}

fn one_case(strategy: RestartStrategy, end: End, policy: Restart) {
    let case = format!("{strategy:?} x {end:?} x {policy:?}");
    let memory: Memory = Arc::new(CountingResource::new(PoolResource::new()));
    let system = System::new(Arc::new(ManualScheduler::new(64).unwrap()), memory.clone());
    let intensity = Intensity {
        max_restarts: 10,
        within: Duration::from_secs(60),
    };
    let supervisor = system.spawn(Supervisor::new(strategy, intensity)).unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let a = start(&system, &supervisor, Restart::Permanent, &counter);
    let b = start(&system, &supervisor, policy, &counter);
    let c = start(&system, &supervisor, Restart::Permanent, &counter);
    let before = [&a, &b, &c].map(|worker| generation(&system, worker).unwrap());
    let b_id = b.id();

    // b's instance ends, with a request queued behind the end.
    let mut doomed = None;
    let mut queued = match end {
        End::Panic => {
            doomed = Some(b.ask(Msg::Panic).unwrap());
            b.ask(Msg::Generation).unwrap()
        }
        End::Stop => {
            let queued = b.ask(Msg::Generation).unwrap();
            b.stop().unwrap();
            queued
        }
        End::Kill => {
            let queued = b.ask(Msg::Generation).unwrap();
            b.kill().unwrap();
            queued
        }
    };
    system.scheduler().run_until_idle().unwrap();

    let reason = match end {
        End::Panic => StopReason::Panicked("a worker fails on purpose".into()),
        End::Stop => StopReason::Stopped,
        End::Kill => StopReason::Killed,
    };
    let restarted = match policy {
        Restart::Permanent => true,
        Restart::Transient => end != End::Stop,
        Restart::Temporary => false,
    };
    if let Some(mut doomed) = doomed {
        assert_eq!(
            doomed.try_take(),
            Some(Err(RequestError::HandlerPanicked)),
            "{case}: the panicking request"
        );
    }
    let queued_answer = queued.try_take();
    match (end, restarted) {
        (End::Stop, _) => assert_eq!(
            queued_answer,
            Some(Ok(before[1])),
            "{case}: handled before the stop"
        ),
        (_, true) => {
            let answer = queued_answer
                .expect("answered")
                .expect("by the new instance");
            assert!(
                answer > before[2],
                "{case}: the new instance ({answer}) answered the queued request"
            );
        }
        (_, false) => assert_eq!(
            queued_answer,
            Some(Err(RequestError::NoReply)),
            "{case}: b ended"
        ),
    }
    assert_eq!(b.is_alive(), restarted, "{case}: b alive");
    if restarted {
        let now = generation(&system, &b).expect("b answers");
        assert!(now > before[2], "{case}: b is a new instance");
        assert_eq!(b.id(), b_id, "{case}: the same actor");
    } else {
        let mut ended = b.stopped().unwrap();
        assert_eq!(
            ended.try_take(),
            Some(Ok(reason.clone())),
            "{case}: b's end"
        );
    }
    let siblings_restarted = match (restarted, strategy) {
        (false, _) | (true, RestartStrategy::OneForOne) => [false, false],
        (true, RestartStrategy::OneForAll) => [true, true],
        (true, RestartStrategy::RestForOne) => [false, true],
    };
    for (index, (sibling, restarted)) in [(&a, siblings_restarted[0]), (&c, siblings_restarted[1])]
        .into_iter()
        .enumerate()
    {
        let now = generation(&system, sibling).expect("siblings live on");
        let then = before[index * 2];
        assert_eq!(
            now != then,
            restarted,
            "{case}: sibling {index} (was {then}, now {now})"
        );
    }
    let mut asked = Supervisor::stats(&supervisor).unwrap();
    system.scheduler().run_until_idle().unwrap();
    let stats = asked.try_take().unwrap().unwrap();
    drop(asked);
    assert_eq!(stats.restarts, u64::from(restarted), "{case}: restarts");
    assert_eq!(
        stats.sibling_restarts,
        siblings_restarted.iter().filter(|&&s| s).count() as u64,
        "{case}: sibling restarts"
    );
    assert_eq!(
        stats.children,
        2 + usize::from(restarted),
        "{case}: children"
    );

    // The supervisor's end kills its children: everything goes back.
    let mut children_ended = [&a, &b, &c].map(|worker| worker.stopped().unwrap());
    supervisor.stop().unwrap();
    system.scheduler().run_until_idle().unwrap();
    for ended in &mut children_ended {
        assert!(
            ended.try_take().is_some_and(|r| r.is_ok()),
            "{case}: every child ended"
        );
    }
    // A future keeps its actor's memory (not the actor): all of them go first.
    drop((queued, children_ended));
    drop((a, b, c, supervisor, system));
    assert_eq!(memory.live_blocks(), 0, "{case}: every block back");
}

/// Publishes the address of each new instance of a worker, so that a test can reach
/// the static children of nested supervisors.
struct Published {
    slot: Arc<Mutex<Option<Address<Published>>>>,
}

impl Actor for Published {
    type Message = Reply<u64>;

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        *self.slot.lock().unwrap() = Some(ctx.address().clone());
    }

    fn handle(&mut self, _reply: Reply<u64>, _ctx: &mut Context<'_, Self>) {
        panic!("a leaf fails on purpose");
    }
}

/// root (intensity 0) ─ middle (intensity 0) ─ leaf supervisor (intensity 1) ─ leaf.
/// The leaf fails twice: its supervisor exceeds its intensity and fails; the middle
/// supervisor may not restart it (intensity 0) and fails; the root may not restart the
/// middle (intensity 0) and fails: the whole tree ends, children first.
#[test]
fn intensity_exceeded_escalates_up_two_levels_and_the_root_takes_the_tree_down() {
    quiet_panics();
    let memory: Memory = Arc::new(CountingResource::new(PoolResource::new()));
    let system = System::new(Arc::new(ManualScheduler::new(64).unwrap()), memory.clone());
    let slot = Arc::new(Mutex::new(None));
    let never = Intensity {
        max_restarts: 0,
        within: Duration::from_secs(60),
    };
    let once = Intensity {
        max_restarts: 1,
        within: Duration::from_secs(60),
    };
    let leaf_slot = slot.clone();
    let leaf_supervisor = move || {
        let slot = leaf_slot.clone();
        Supervisor::new(RestartStrategy::OneForOne, once)
            .with_child(Restart::Permanent, move || Published { slot: slot.clone() })
    };
    let middle = move || {
        Supervisor::new(RestartStrategy::OneForOne, never)
            .with_child(Restart::Permanent, leaf_supervisor.clone())
    };
    let root = system
        .spawn(
            Supervisor::new(RestartStrategy::OneForOne, never)
                .with_child(Restart::Permanent, middle),
        )
        .unwrap();
    let mut root_ended = root.stopped().unwrap();
    // Started by its first message: the statics start in cascade.
    let mut stats = Supervisor::stats(&root).unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(stats.try_take().unwrap().unwrap().children, 1);
    drop(stats);
    let leaf = slot.lock().unwrap().clone().expect("the leaf started");

    // First failure: restarted in place by its supervisor (intensity 1).
    drop(leaf.ask(|reply| reply).unwrap());
    system.scheduler().run_until_idle().unwrap();
    assert!(leaf.is_alive(), "restarted once");
    assert_eq!(root_ended.try_take(), None);

    // Second failure: the leaf supervisor fails, then the middle, then the root.
    let mut leaf_ended = leaf.stopped().unwrap();
    drop(leaf.ask(|reply| reply).unwrap());
    system.scheduler().run_until_idle().unwrap();
    let root_reason = root_ended.try_take().expect("the root ended").unwrap();
    assert!(root_reason.is_failure(), "the root failed: {root_reason}");
    assert!(leaf_ended.try_take().is_some(), "the leaf ended too");
    assert!(!leaf.is_alive());
    drop((leaf, root, leaf_ended, root_ended, system));
    *slot.lock().unwrap() = None;
    assert_eq!(memory.live_blocks(), 0, "every block back");
}

/// Counts what it handles per sender and checks per-sender order; fails on every
/// `FAIL_EVERY`-th message it handles.
struct Ordered {
    /// Shared by every instance: the order is checked across restarts.
    next: Arc<Mutex<[u64; SENDERS]>>,
    handled: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
    counter: u64,
}

const SENDERS: usize = 4;
const PER_SENDER: u64 = 2_000;
const FAIL_EVERY: u64 = 97;

impl Actor for Ordered {
    type Message = (usize, u64);

    fn handle(&mut self, (sender, seq): (usize, u64), _ctx: &mut Context<'_, Self>) {
        self.counter += 1;
        {
            let mut next = self.next.lock().unwrap();
            assert_eq!(
                seq, next[sender],
                "sender {sender}: per-sender order, nothing skipped"
            );
            next[sender] = seq + 1;
        }
        if self.counter % FAIL_EVERY == 0 {
            self.failures.fetch_add(1, Ordering::SeqCst);
            panic!("an ordered worker fails on purpose");
        }
        self.handled.fetch_add(1, Ordering::SeqCst);
    }
}

/// Restarts under load: 4 threads send to a supervised child that panics every 97th
/// message. The messages queued behind each failure are kept and handled in
/// per-sender order by the next instance; only the failing ones are lost.
#[test]
fn restarts_under_load_keep_queued_messages_in_per_sender_order() {
    quiet_panics();
    let memory: Memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = SharingScheduler::builder().workers(2).build().unwrap();
    scheduler.start().unwrap();
    let system = System::new(Arc::new(scheduler), memory.clone());
    let intensity = Intensity {
        max_restarts: 1_000_000,
        within: Duration::from_secs(60),
    };
    let supervisor = system
        .spawn(Supervisor::new(RestartStrategy::OneForOne, intensity))
        .unwrap();
    let handled = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    // Order is checked across instances: the next expected numbers are shared.
    let next = Arc::new(Mutex::new([0u64; SENDERS]));
    let factory = {
        let (handled, failures, next) = (handled.clone(), failures.clone(), next.clone());
        move || Ordered {
            next: next.clone(),
            handled: handled.clone(),
            failures: failures.clone(),
            counter: 0,
        }
    };
    let child = Supervisor::start_child(&supervisor, Restart::Permanent, factory)
        .unwrap()
        .wait_timeout(HANG)
        .unwrap()
        .unwrap();
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let child = child.clone();
            std::thread::spawn(move || {
                for seq in 0..PER_SENDER {
                    child
                        .send((sender, seq))
                        .expect("a supervised child accepts while restarting");
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    let total = SENDERS as u64 * PER_SENDER;
    let deadline = std::time::Instant::now() + HANG;
    while handled.load(Ordering::SeqCst) + failures.load(Ordering::SeqCst) < total {
        assert!(
            std::time::Instant::now() < deadline,
            "hung: {} of {total}",
            handled.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        handled.load(Ordering::SeqCst) + failures.load(Ordering::SeqCst),
        total,
        "none lost"
    );
    assert_eq!(
        *next.lock().unwrap(),
        [PER_SENDER; SENDERS],
        "every message seen, in order"
    );
    assert!(failures.load(Ordering::SeqCst) >= 1, "restarts happened");
    let stats = Supervisor::stats(&supervisor)
        .unwrap()
        .wait_timeout(HANG)
        .unwrap();
    assert_eq!(
        stats.restarts,
        failures.load(Ordering::SeqCst),
        "one restart per failure"
    );
    let mut ended = child.stopped().unwrap();
    supervisor.stop().unwrap();
    assert!(ended.wait_timeout(HANG).is_ok());
    drop((child, supervisor, ended));
    system.stop().unwrap();
    drop(system);
    assert_eq!(memory.live_blocks(), 0, "every block back");
}

/// Records its end in a shared log: `(name, what)`.
struct Logged {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

impl Actor for Logged {
    type Message = ();

    fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {}

    fn on_stop(&mut self, reason: StopReason) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {reason}", self.name));
    }
}

/// `System::shutdown` ends the trees in order: the last root first; in each tree the
/// children, the last started first, each before its supervisor's `on_stop`; a nested
/// supervisor's children before it. Counts by reason; memory back to zero.
#[test]
fn shutdown_ends_trees_children_first() {
    let memory: Memory = Arc::new(CountingResource::new(PoolResource::new()));
    let system = System::new(Arc::new(ManualScheduler::new(64).unwrap()), memory.clone());
    let log = Arc::new(Mutex::new(Vec::new()));
    let logged = |name: &'static str| {
        let log = log.clone();
        move || Logged {
            name,
            log: log.clone(),
        }
    };
    let nested = {
        let (a, b) = (logged("nested-a"), logged("nested-b"));
        move || {
            Supervisor::new(RestartStrategy::OneForOne, Intensity::default())
                .with_child(Restart::Permanent, a.clone())
                .with_child(Restart::Transient, b.clone())
        }
    };
    let first = Supervisor::new(RestartStrategy::OneForAll, Intensity::default())
        .with_child(Restart::Permanent, logged("first-1"))
        .with_child(Restart::Permanent, nested)
        .with_child(Restart::Temporary, logged("first-3"));
    let second = Supervisor::new(RestartStrategy::OneForOne, Intensity::default())
        .with_child(Restart::Permanent, logged("second-1"));
    let first = system.spawn_supervisor(first).unwrap();
    let second = system.spawn_supervisor(second).unwrap();
    system.scheduler().run_until_idle().unwrap();
    let (mut first_ended, mut second_ended) = (first.stopped().unwrap(), second.stopped().unwrap());
    let report = system.shutdown().unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            "second-1 stopped",
            "first-3 stopped",
            "nested-b stopped",
            "nested-a stopped",
            "first-1 stopped",
        ],
        "the last root first, the last child first, a nested tree before its parent's next"
    );
    assert_eq!(first_ended.try_take(), Some(Ok(StopReason::Stopped)));
    assert_eq!(second_ended.try_take(), Some(Ok(StopReason::Stopped)));
    // 5 workers, the nested supervisor, the two roots.
    assert_eq!(report.ends.stopped, 8, "{report:?}");
    assert_eq!(report.ends.total(), 8, "{report:?}");
    assert!(!report.timed_out);
    assert_eq!(report.cancelled, 0);
    drop((first, second, first_ended, second_ended, system));
    assert_eq!(memory.live_blocks(), 0, "every block back");
}
