//! Timers: virtual time on the `ManualScheduler` (deterministic by seed), real time on
//! the `SharingScheduler` (never early), cancel against fire, intervals, delayed stop and
//! kill, timers whose target died, timers dropped at a scheduler's stop, a scheduler
//! without time, and what a timer leaves behind (every block back, every payload dropped
//! once).
#![cfg(not(zeta_loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zeta::arena::{CountingResource, PoolResource};
use zeta::scheduler::{QueuedJob, SchedulerError, StopReport, Stopped};
use zeta::{
    Actor, Address, CancelOutcome, Context, ManualScheduler, Scheduler, StopReason, System,
    Undelivered,
};

const HANG: Duration = Duration::from_secs(60);

/// Records `(virtual time since start, who, what)` for every message.
type Log = Arc<Mutex<Vec<(Duration, usize, u64)>>>;

/// An entity of a game: its interval's ticks are 1, 2, 3...; its one-shot timers
/// 5,000 + k; on every third message it arms two timers with equal deadlines (what +
/// 10,000 and what + 20,000), by a rule that depends only on what it has seen, so a run
/// is a function of the schedule.
struct Entity {
    who: usize,
    start: Instant,
    log: Log,
    seen: u64,
}

impl Actor for Entity {
    type Message = u64;
    fn handle(&mut self, what: u64, ctx: &mut Context<'_, Self>) {
        self.seen += 1;
        let at = ctx.now() - self.start;
        self.log.lock().unwrap().push((at, self.who, what));
        // Every third message arms two more timers with equal deadlines (ties).
        if self.seen % 3 == 0 && what < 10_000 {
            let delay = Duration::from_millis(1 + what % 5);
            ctx.send_after(delay, what + 10_000).unwrap();
            ctx.send_after(delay, what + 20_000).unwrap();
        }
    }
}

/// A game minute under virtual time: 8 entities, each with an interval and one-shot
/// timers, many with equal deadlines. Returns the log.
fn game(seed: Option<u64>) -> Vec<(Duration, usize, u64)> {
    let scheduler = Arc::new(match seed {
        Some(seed) => ManualScheduler::with_seed(16, seed).unwrap(),
        None => ManualScheduler::new(16).unwrap(),
    });
    let system = System::new(scheduler.clone(), Arc::new(PoolResource::new()));
    let log: Log = Arc::default();
    let start = scheduler.now();
    let mut timers = Vec::new();
    let entities: Vec<Address<Entity>> = (0..8)
        .map(|who| {
            system
                .spawn(Entity {
                    who,
                    start,
                    log: log.clone(),
                    seen: 0,
                })
                .unwrap()
        })
        .collect();
    for (who, entity) in entities.iter().enumerate() {
        let mut n = 0;
        // All entities tick on the same 100 ms beat: ties every time.
        timers.push(
            entity
                .send_interval(Duration::from_millis(100), move || {
                    n += 1;
                    n
                })
                .unwrap(),
        );
        for k in 0..4u64 {
            timers.push(
                entity
                    .send_after(Duration::from_millis(50 * (k + 1)), 5_000 + k)
                    .unwrap(),
            );
        }
        let _ = who;
    }
    let stats = scheduler.advance(Duration::from_secs(60)).unwrap();
    assert!(stats.timers_fired >= 8 * 600, "{stats:?}");
    assert_eq!(scheduler.now() - start, Duration::from_secs(60));
    for timer in timers {
        timer.cancel();
    }
    drop(entities);
    drop(system);
    let log = log.lock().unwrap().clone();
    log
}

#[test]
fn virtual_time_is_deterministic_by_seed() {
    let started = Instant::now();
    let first = game(Some(7));
    // 8 entities × 600 ticks, plus the one-shot timers and what they armed.
    assert!(first.len() > 8 * 600, "{}", first.len());
    for _ in 0..2 {
        assert_eq!(game(Some(7)), first, "the same seed, the same run");
    }
    // Never early: each message is handled at a virtual time at or after its deadline,
    // and the log is in time order.
    assert!(first.windows(2).all(|w| w[0].0 <= w[1].0));
    // Ticks come at exact multiples of the period.
    for &(at, _, what) in &first {
        if what < 1_000 {
            assert_eq!(at, Duration::from_millis(100) * what as u32, "tick {what}");
        }
    }
    // Another seed breaks ties another way (what the entities then arm depends on the
    // order they saw things in; the interval ticks are the same, in another order).
    let other = (8..12)
        .map(|seed| game(Some(seed)))
        .find(|log| log != &first)
        .expect("some seed orders the ties differently");
    let ticks = |log: &[(Duration, usize, u64)]| {
        let mut ticks: Vec<_> = log.iter().filter(|e| e.2 < 1_000).copied().collect();
        ticks.sort();
        ticks
    };
    assert_eq!(ticks(&other), ticks(&first));
    assert_eq!(ticks(&first).len(), 8 * 600);
    // Unseeded: equal deadlines in arming order, the same every run.
    assert_eq!(game(None), game(None));
    // A minute of game time, four times over, in real seconds at most.
    assert!(started.elapsed() < HANG);
}

/// Records when each message was handled.
struct Stamp(Arc<Mutex<Vec<(u64, Instant)>>>);

impl Actor for Stamp {
    type Message = u64;
    fn handle(&mut self, what: u64, _ctx: &mut Context<'_, Self>) {
        self.0.lock().unwrap().push((what, Instant::now()));
    }
}

#[test]
fn a_timer_never_fires_early_on_a_sharing_scheduler() {
    for (workers, spin) in [(1, 0), (2, 0), (1, 200), (2, 200)] {
        let scheduler = zeta::SharingScheduler::builder()
            .workers(workers)
            .timer_spin(Duration::from_micros(spin))
            .build()
            .unwrap();
        scheduler.start().unwrap();
        let system = System::new(Arc::new(scheduler), Arc::new(PoolResource::new()));
        let stamps = Arc::new(Mutex::new(Vec::new()));
        let stamp = system.spawn(Stamp(stamps.clone())).unwrap();
        let delays: Vec<Duration> = [0u64, 1, 100, 1_000, 2_000, 5_000, 10_000]
            .iter()
            .map(|&us| Duration::from_micros(us))
            .collect();
        let mut armed = Vec::new();
        for (i, &delay) in delays.iter().enumerate() {
            armed.push((Instant::now(), delay));
            drop(stamp.send_after(delay, i as u64).unwrap());
        }
        let deadline = Instant::now() + HANG;
        while stamps.lock().unwrap().len() < delays.len() {
            assert!(Instant::now() < deadline, "a timer never fired");
            std::thread::sleep(Duration::from_millis(1));
        }
        for &(i, at) in stamps.lock().unwrap().iter() {
            let (armed_at, delay) = armed[i as usize];
            assert!(at >= armed_at + delay, "timer {i} fired early");
        }
        system.shutdown(HANG).unwrap();
    }
}

#[test]
fn idle_workers_wake_for_a_timer_armed_earlier_than_the_one_they_sleep_for() {
    let system = System::sharing(2).unwrap();
    let stamps = Arc::new(Mutex::new(Vec::new()));
    let stamp = system.spawn(Stamp(stamps.clone())).unwrap();
    // The workers go to sleep until a deadline an hour away...
    let late = stamp.send_after(Duration::from_secs(3600), 0).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    // ...and must wake for one a millisecond away.
    let armed = Instant::now();
    drop(stamp.send_after(Duration::from_millis(1), 1).unwrap());
    let deadline = Instant::now() + HANG;
    while stamps.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the earlier timer never fired");
        std::thread::sleep(Duration::from_micros(200));
    }
    assert!(stamps.lock().unwrap()[0].1 >= armed + Duration::from_millis(1));
    assert_eq!(late.cancel(), CancelOutcome::Cancelled);
    system.shutdown(HANG).unwrap();
}

/// Counts drops of its payload, to check each is dropped exactly once.
struct Payload(Arc<AtomicUsize>);

impl Drop for Payload {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

struct Sink(Arc<AtomicUsize>);

impl Actor for Sink {
    type Message = Payload;
    fn handle(&mut self, _payload: Payload, _ctx: &mut Context<'_, Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// What `counted_sink` makes.
type SinkRig = (
    Arc<ManualScheduler>,
    System<ManualScheduler>,
    Arc<CountingResource<PoolResource>>,
    Address<Sink>,
    Arc<AtomicUsize>,
    Arc<AtomicUsize>,
);

/// A manual system on a counted pool, a sink, and its counters (handled, dropped).
fn counted_sink() -> SinkRig {
    let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let system = System::new(scheduler.clone(), memory.clone());
    let handled = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let sink = system.spawn(Sink(handled.clone())).unwrap();
    (scheduler, system, memory, sink, handled, dropped)
}

#[test]
fn cancel_before_and_after_the_fire() {
    let (scheduler, system, memory, sink, handled, dropped) = counted_sink();
    let early = sink
        .send_after(Duration::from_millis(10), Payload(dropped.clone()))
        .unwrap();
    let late = sink
        .send_after(Duration::from_millis(10), Payload(dropped.clone()))
        .unwrap();
    assert!(early.is_pending());
    assert_eq!(early.cancel(), CancelOutcome::Cancelled);
    assert_eq!(
        dropped.load(Ordering::Relaxed),
        1,
        "cancelled: dropped at once"
    );
    scheduler.advance(Duration::from_millis(9)).unwrap();
    assert_eq!(handled.load(Ordering::Relaxed), 0, "not yet: never early");
    assert!(late.is_pending());
    scheduler.advance(Duration::from_millis(1)).unwrap();
    assert_eq!(
        handled.load(Ordering::Relaxed),
        1,
        "at its deadline exactly"
    );
    assert!(!late.is_pending());
    assert_eq!(late.cancel(), CancelOutcome::Fired, "too late");
    assert_eq!(
        dropped.load(Ordering::Relaxed),
        2,
        "each payload dropped once"
    );
    drop(sink);
    scheduler.run_until_idle().unwrap();
    drop(system);
    assert_eq!(memory.live_blocks(), 0, "every block back");
}

#[test]
fn a_timer_whose_actor_died_frees_its_node() {
    for kill in [false, true] {
        let (scheduler, system, memory, sink, handled, dropped) = counted_sink();
        let timer = sink
            .send_after(Duration::from_secs(1), Payload(dropped.clone()))
            .unwrap();
        if kill {
            sink.kill().unwrap();
        } else {
            sink.stop().unwrap();
        }
        scheduler.run_until_idle().unwrap();
        assert!(!sink.is_alive());
        // The timer holds the cell like an address; its message is still in its node.
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
        drop(timer);
        drop(sink);
        scheduler.advance(Duration::from_secs(1)).unwrap();
        assert_eq!(handled.load(Ordering::Relaxed), 0);
        assert_eq!(dropped.load(Ordering::Relaxed), 1, "dropped when it fired");
        drop(system);
        assert_eq!(memory.live_blocks(), 0, "kill {kill}: every block back");
        // Arming at a dead actor is refused, the message handed back.
    }
    let (scheduler, _system, _memory, sink, _handled, dropped) = counted_sink();
    sink.stop().unwrap();
    scheduler.run_until_idle().unwrap();
    let refused = sink
        .send_after(Duration::from_secs(1), Payload(dropped.clone()))
        .unwrap_err();
    assert_eq!(refused.reason(), Undelivered::ActorStopped);
    drop(refused.into_message());
    assert_eq!(dropped.load(Ordering::Relaxed), 1);
}

#[test]
fn a_stopped_scheduler_drops_its_pending_timers() {
    let (scheduler, system, memory, sink, handled, dropped) = counted_sink();
    let timers: Vec<_> = (0..10)
        .map(|i| {
            sink.send_after(Duration::from_millis(i), Payload(dropped.clone()))
                .unwrap()
        })
        .collect();
    let interval = sink
        .send_interval(Duration::from_millis(1), {
            let dropped = dropped.clone();
            move || Payload(dropped.clone())
        })
        .unwrap();
    scheduler.stop().unwrap();
    assert_eq!(handled.load(Ordering::Relaxed), 0);
    assert_eq!(dropped.load(Ordering::Relaxed), 10, "dropped undelivered");
    for timer in timers {
        assert_eq!(timer.cancel(), CancelOutcome::Dropped);
    }
    assert_eq!(interval.cancel(), CancelOutcome::Dropped);
    // Arming on a stopped scheduler hands the message back.
    let refused = sink
        .send_after(Duration::from_millis(1), Payload(dropped.clone()))
        .unwrap_err();
    assert_eq!(refused.reason(), Undelivered::SchedulerStopped);
    drop(refused);
    drop(sink);
    drop(system);
    assert_eq!(dropped.load(Ordering::Relaxed), 11);
    assert_eq!(memory.live_blocks(), 0, "every block back");
}

#[test]
fn an_interval_ticks_at_exact_multiples_until_cancelled_or_its_actor_stops() {
    let (scheduler, system, memory, sink, handled, dropped) = counted_sink();
    let interval = sink
        .send_interval(Duration::from_millis(10), {
            let dropped = dropped.clone();
            move || Payload(dropped.clone())
        })
        .unwrap();
    let stats = scheduler.advance(Duration::from_secs(1)).unwrap();
    assert_eq!(stats.timers_fired, 100);
    assert_eq!(
        handled.load(Ordering::Relaxed),
        100,
        "a tick every 10 ms, to 1 s"
    );
    assert_eq!(interval.cancel(), CancelOutcome::Cancelled);
    scheduler.advance(Duration::from_secs(1)).unwrap();
    assert_eq!(
        handled.load(Ordering::Relaxed),
        100,
        "none after the cancel"
    );
    // An interval whose actor stops stops too, and frees its entry.
    let interval = sink
        .send_interval(Duration::from_millis(10), {
            let dropped = dropped.clone();
            move || Payload(dropped.clone())
        })
        .unwrap();
    scheduler.advance(Duration::from_millis(25)).unwrap();
    sink.stop().unwrap();
    scheduler.advance(Duration::from_millis(100)).unwrap();
    assert_eq!(handled.load(Ordering::Relaxed), 102);
    assert!(!interval.is_pending(), "stopped with its actor");
    drop(interval);
    drop(sink);
    drop(system);
    assert_eq!(
        dropped.load(Ordering::Relaxed),
        handled.load(Ordering::Relaxed) + 1,
        "the tick made for the stopped actor was dropped"
    );
    assert_eq!(memory.live_blocks(), 0, "every block back");
    // A zero period is refused.
    let (_scheduler, _system, _memory, sink, _handled, _dropped) = counted_sink();
    let error = sink
        .send_interval(Duration::ZERO, || unreachable!())
        .unwrap_err();
    assert_eq!(error.reason(), Undelivered::BadTime);
}

#[test]
fn a_panicking_maker_stops_its_interval_and_the_actor_lives_on() {
    let (scheduler, _system, _memory, sink, handled, dropped) = counted_sink();
    let mut n = 0;
    let interval = sink
        .send_interval(Duration::from_millis(1), {
            let dropped = dropped.clone();
            move || {
                n += 1;
                assert!(n < 3, "the third tick's maker panics");
                Payload(dropped.clone())
            }
        })
        .unwrap();
    scheduler.advance(Duration::from_millis(10)).unwrap();
    assert_eq!(handled.load(Ordering::Relaxed), 2);
    assert!(!interval.is_pending());
    sink.send(Payload(dropped.clone())).unwrap();
    scheduler.run_until_idle().unwrap();
    assert_eq!(handled.load(Ordering::Relaxed), 3, "the actor lives on");
}

/// Records how it ended.
struct Watched(Arc<Mutex<Option<StopReason>>>);

impl Actor for Watched {
    type Message = ();
    fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {}
    fn on_stop(&mut self, reason: StopReason) {
        *self.0.lock().unwrap() = Some(reason);
    }
}

#[test]
fn delayed_stop_and_kill() {
    for kill in [false, true] {
        let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
        let system = System::new(scheduler.clone(), Arc::new(PoolResource::new()));
        let ended = Arc::new(Mutex::new(None));
        let actor = system.spawn(Watched(ended.clone())).unwrap();
        // Started (an actor killed before it ever ran ends with no hooks at all).
        actor.send(()).unwrap();
        scheduler.run_until_idle().unwrap();
        let timer = if kill {
            actor.kill_after(Duration::from_secs(5)).unwrap()
        } else {
            actor.stop_after(Duration::from_secs(5)).unwrap()
        };
        scheduler.advance(Duration::from_secs(4)).unwrap();
        assert!(actor.accepts());
        scheduler.advance(Duration::from_secs(1)).unwrap();
        assert!(!actor.is_alive());
        let reason = if kill {
            StopReason::Killed
        } else {
            StopReason::Stopped
        };
        assert_eq!(ended.lock().unwrap().clone(), Some(reason));
        assert_eq!(timer.cancel(), CancelOutcome::Fired);
    }
}

/// A scheduler that keeps no time: a plain FIFO driven by hand.
#[derive(Default)]
struct Timeless(Mutex<std::collections::VecDeque<QueuedJob>>);

impl Scheduler for Timeless {
    fn submit(&self, job: QueuedJob) -> Result<(), Stopped> {
        self.0.lock().unwrap().push_back(job);
        Ok(())
    }
    fn start(&self) -> Result<(), SchedulerError> {
        Ok(())
    }
    fn stop(&self) -> Result<StopReport, SchedulerError> {
        let jobs: Vec<_> = self.0.lock().unwrap().drain(..).collect();
        let cancelled = jobs.len() as u64;
        drop(jobs);
        Ok(StopReport { cancelled })
    }
}

#[test]
fn a_scheduler_without_time_refuses_timers_and_hands_the_message_back() {
    let scheduler = Arc::new(Timeless::default());
    let system = System::new(scheduler.clone(), Arc::new(PoolResource::new()));
    let dropped = Arc::new(AtomicUsize::new(0));
    let sink = system.spawn(Sink(Arc::new(AtomicUsize::new(0)))).unwrap();
    let refused = sink
        .send_after(Duration::from_millis(1), Payload(dropped.clone()))
        .unwrap_err();
    assert_eq!(refused.reason(), Undelivered::NoTimers);
    let _payload = refused.into_message();
    assert_eq!(
        dropped.load(Ordering::Relaxed),
        0,
        "handed back, not dropped"
    );
    assert_eq!(
        sink.stop_after(Duration::from_millis(1))
            .unwrap_err()
            .reason(),
        Undelivered::NoTimers
    );
    scheduler.stop().unwrap();
}

#[test]
fn many_cancelled_timers_do_not_pile_up() {
    let (scheduler, system, memory, sink, _handled, dropped) = counted_sink();
    let baseline = memory.live_blocks();
    let mut peak = 0;
    for round in 0..100 {
        let timers: Vec<_> = (0..100)
            .map(|_| {
                sink.send_after(Duration::from_secs(3600), Payload(dropped.clone()))
                    .unwrap()
            })
            .collect();
        for timer in timers {
            assert_eq!(timer.cancel(), CancelOutcome::Cancelled);
        }
        // The driver sweeps cancelled entries as it looks at the wheel.
        scheduler.advance(Duration::from_millis(1)).unwrap();
        if round > 0 {
            peak = peak.max(memory.live_blocks() - baseline);
        }
    }
    assert_eq!(dropped.load(Ordering::Relaxed), 100 * 100);
    assert!(
        peak <= 300,
        "cancelled entries piled up: {peak} blocks live"
    );
    drop(sink);
    drop(system);
    assert_eq!(memory.live_blocks(), 0);
}

/// Arms a timer at itself from its handler, as a watchdog pattern does.
struct Heartbeat {
    beats: u32,
    done: Arc<AtomicUsize>,
}

impl Actor for Heartbeat {
    type Message = ();
    fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
        self.beats += 1;
        if self.beats < 50 {
            ctx.send_after(Duration::from_micros(200), ()).unwrap();
        } else {
            self.done.store(1, Ordering::Release);
        }
    }
}

#[test]
fn handlers_arm_timers_on_a_sharing_scheduler() {
    let system = System::sharing(2).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let heart = system
        .spawn(Heartbeat {
            beats: 0,
            done: done.clone(),
        })
        .unwrap();
    let started = Instant::now();
    heart.send(()).unwrap();
    let deadline = Instant::now() + HANG;
    while done.load(Ordering::Acquire) == 0 {
        assert!(Instant::now() < deadline, "the heartbeat stopped");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        started.elapsed() >= Duration::from_micros(200 * 49),
        "never early"
    );
    system.shutdown(HANG).unwrap();
}

/// Holds every `Reply` it gets, or answers at once, as told.
struct Server {
    answer: bool,
    held: Vec<zeta::Reply<u64>>,
}

impl Actor for Server {
    type Message = zeta::Reply<u64>;
    fn handle(&mut self, reply: zeta::Reply<u64>, _ctx: &mut Context<'_, Self>) {
        if self.answer {
            let _ = reply.send(7);
        } else {
            self.held.push(reply);
        }
    }
}

/// Asks the server with a timeout on every message; records each outcome.
struct TimedAsker {
    server: Address<Server>,
    timeout: Duration,
    outcomes: Arc<Mutex<Vec<Result<u64, zeta::RequestError>>>>,
}

impl Actor for TimedAsker {
    type Message = ();
    fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
        ctx.ask_timeout(
            &self.server,
            self.timeout,
            |reply| reply,
            |this: &mut Self, _ctx, result| this.outcomes.lock().unwrap().push(result),
        )
        .unwrap();
    }
}

#[test]
fn ask_timeout_on_virtual_time() {
    for answer in [false, true] {
        let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
        let memory = Arc::new(CountingResource::new(PoolResource::new()));
        let system = System::new(scheduler.clone(), memory.clone());
        let server = system
            .spawn(Server {
                answer,
                held: Vec::new(),
            })
            .unwrap();
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let asker = system
            .spawn(TimedAsker {
                server: server.clone(),
                timeout: Duration::from_millis(100),
                outcomes: outcomes.clone(),
            })
            .unwrap();
        for _ in 0..10 {
            asker.send(()).unwrap();
        }
        scheduler.run_until_idle().unwrap();
        let expected: Vec<Result<u64, zeta::RequestError>> =
            if answer { vec![Ok(7); 10] } else { Vec::new() };
        assert_eq!(*outcomes.lock().unwrap(), expected, "answered {answer}");
        scheduler.advance(Duration::from_millis(99)).unwrap();
        assert_eq!(
            outcomes.lock().unwrap().len(),
            expected.len(),
            "never early"
        );
        scheduler.advance(Duration::from_millis(1)).unwrap();
        let expected = if answer {
            vec![Ok(7); 10]
        } else {
            vec![Err(zeta::RequestError::Timeout); 10]
        };
        assert_eq!(*outcomes.lock().unwrap(), expected, "exactly once each");
        drop((asker, server));
        scheduler.advance(Duration::from_secs(1)).unwrap();
        drop(system);
        assert_eq!(
            memory.live_blocks(),
            0,
            "answered {answer}: every block back"
        );
    }
}

#[test]
fn ask_timeout_on_a_sharing_scheduler_and_without_time() {
    let system = System::sharing(2).unwrap();
    let server = system
        .spawn(Server {
            answer: false,
            held: Vec::new(),
        })
        .unwrap();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let asker = system
        .spawn(TimedAsker {
            server,
            timeout: Duration::from_millis(2),
            outcomes: outcomes.clone(),
        })
        .unwrap();
    let started = Instant::now();
    asker.send(()).unwrap();
    let deadline = Instant::now() + HANG;
    while outcomes.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the timeout never came");
        std::thread::sleep(Duration::from_micros(200));
    }
    assert!(started.elapsed() >= Duration::from_millis(2), "never early");
    assert_eq!(
        *outcomes.lock().unwrap(),
        vec![Err(zeta::RequestError::Timeout)]
    );
    system.shutdown(HANG).unwrap();

    // A scheduler that keeps no time refuses the request before building it.
    let scheduler = Arc::new(Timeless::default());
    let system = System::new(scheduler.clone(), Arc::new(PoolResource::new()));
    struct Probe(Address<Server>, Arc<Mutex<Option<Undelivered>>>);
    impl Actor for Probe {
        type Message = ();
        fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
            let refused = ctx
                .ask_timeout(
                    &self.0,
                    Duration::from_millis(1),
                    |_| unreachable!("never built"),
                    |_: &mut Self, _, _: Result<u64, _>| unreachable!(),
                )
                .unwrap_err();
            *self.1.lock().unwrap() = Some(refused.reason());
        }
    }
    let server = system
        .spawn(Server {
            answer: true,
            held: Vec::new(),
        })
        .unwrap();
    let seen = Arc::new(Mutex::new(None));
    let probe = system.spawn(Probe(server, seen.clone())).unwrap();
    probe.send(()).unwrap();
    // Drive the timeless scheduler by hand.
    loop {
        let next = scheduler.0.lock().unwrap().pop_front();
        let Some(job) = next else { break };
        let ran = job.run(64);
        if let Some(again) = ran.requeue {
            scheduler.0.lock().unwrap().push_back(again);
        }
    }
    assert_eq!(*seen.lock().unwrap(), Some(Undelivered::NoTimers));
    scheduler.stop().unwrap();
}

/// A scheduler of one's own that keeps time: a FIFO and a `Timers` on the real clock,
/// driven by `run_for`, which fires what is due and sleeps no longer than the next
/// deadline (the recipe of `Scheduler::timers`).
#[derive(Default)]
struct Clocked {
    queue: Mutex<std::collections::VecDeque<QueuedJob>>,
    timers: zeta::scheduler::Timers,
}

impl Clocked {
    /// Fires what is due now, then runs jobs until none is ready: one look, however
    /// long it takes.
    fn look_and_drain(&self) {
        self.timers.poll();
        loop {
            let next = self.queue.lock().unwrap().pop_front();
            let Some(job) = next else { return };
            if let Some(again) = job.run(64).requeue {
                self.queue.lock().unwrap().push_back(again);
            }
        }
    }

    /// Runs jobs and fires timers for `span` of real time.
    fn run_for(&self, span: Duration) {
        let end = Instant::now() + span;
        while Instant::now() < end {
            self.timers.poll();
            let next = self.queue.lock().unwrap().pop_front();
            match next {
                Some(job) => {
                    if let Some(again) = job.run(64).requeue {
                        self.queue.lock().unwrap().push_back(again);
                    }
                }
                // Idle: sleep until the next deadline (or the end), never past it.
                None => {
                    let left = end.saturating_duration_since(Instant::now());
                    let sleep = self.timers.time_to_next().map_or(left, |t| t.min(left));
                    std::thread::sleep(sleep);
                }
            }
        }
    }
}

impl Scheduler for Clocked {
    fn submit(&self, job: QueuedJob) -> Result<(), Stopped> {
        self.queue.lock().unwrap().push_back(job);
        Ok(())
    }
    fn timers(&self) -> Option<&zeta::scheduler::Timers> {
        Some(&self.timers)
    }
    fn start(&self) -> Result<(), SchedulerError> {
        Ok(())
    }
    fn stop(&self) -> Result<StopReport, SchedulerError> {
        self.timers.close();
        let jobs: Vec<_> = self.queue.lock().unwrap().drain(..).collect();
        let cancelled = jobs.len() as u64;
        drop(jobs);
        Ok(StopReport { cancelled })
    }
}

#[test]
fn a_scheduler_of_ones_own_keeps_time_with_timers() {
    let scheduler = Arc::new(Clocked::default());
    let system = System::new(scheduler.clone(), Arc::new(PoolResource::new()));
    let stamps = Arc::new(Mutex::new(Vec::new()));
    let stamp = system.spawn(Stamp(stamps.clone())).unwrap();
    // Deadlines from one instant, so that their order does not depend on how long the
    // arming takes (a preempted test thread could otherwise arm "1 ms" after "3 ms" has
    // come).
    let armed = Instant::now();
    let timers: Vec<_> = [3u64, 1, 2]
        .iter()
        .map(|&ms| {
            stamp
                .send_at(armed + Duration::from_millis(ms), ms)
                .unwrap()
        })
        .collect();
    scheduler.run_for(Duration::from_millis(20));
    let stamps = stamps.lock().unwrap().clone();
    assert_eq!(
        stamps.iter().map(|s| s.0).collect::<Vec<_>>(),
        [1, 2, 3],
        "in deadline order"
    );
    for &(ms, at) in &stamps {
        assert!(at >= armed + Duration::from_millis(ms), "never early");
    }
    for timer in timers {
        assert_eq!(timer.cancel(), CancelOutcome::Fired);
    }
    scheduler.stop().unwrap();
}

/// Timers already due when the scheduler first looks fire in deadline order, not in
/// the order they were armed: those the wheel has not passed go into it and fire with
/// its own, those armed for a moment it has passed (instants in the past) fire first,
/// sorted. Deterministic: the first look comes after every deadline.
#[test]
fn timers_due_at_the_first_look_fire_in_deadline_order() {
    let scheduler = Arc::new(Clocked::default());
    let system = System::new(scheduler.clone(), Arc::new(PoolResource::new()));
    let stamps = Arc::new(Mutex::new(Vec::new()));
    let stamp = system.spawn(Stamp(stamps.clone())).unwrap();
    // Some time after the timers' epoch (an instant before it is clamped to it, so
    // distinct instants there would tie), the wheel looks: its last look is the
    // moment from which "the past" is measured.
    scheduler.run_for(Duration::from_millis(5));
    let past = Instant::now();
    scheduler.timers.poll();
    let armed = Instant::now();
    for ms in [3u64, 1, 2] {
        let _ = stamp
            .send_at(armed + Duration::from_millis(ms), ms)
            .unwrap();
    }
    // Instants before the wheel's last look, armed out of order too.
    for (back, tag) in [(300u64, 12), (900, 10), (600, 11)] {
        let _ = stamp
            .send_at(past - Duration::from_micros(back), tag)
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(10));
    scheduler.look_and_drain();
    let order: Vec<u64> = stamps.lock().unwrap().iter().map(|s| s.0).collect();
    assert_eq!(order, [10, 11, 12, 1, 2, 3], "in deadline order");
    scheduler.stop().unwrap();
}
