//! Local actors' timers and continuations: virtual and real time, cancel, the system's
//! stop with timers pending, actor-to-actor requests with and without timeouts, and
//! every block back in the pool afterwards.
#![cfg(not(zeta_loom))]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zeta::arena::{CountingResource, PoolResource};
use zeta::local::{LocalActor, LocalAddress, LocalContext, LocalReply, LocalSystem};
use zeta::{CancelOutcome, RequestError, StopReason, Undelivered};

type Log = Rc<RefCell<Vec<String>>>;

fn counted() -> Arc<CountingResource<PoolResource>> {
    Arc::new(CountingResource::new(PoolResource::new()))
}

fn virtual_system(memory: &Arc<CountingResource<PoolResource>>, seed: Option<u64>) -> LocalSystem {
    let builder = LocalSystem::builder()
        .resource(memory.clone())
        .virtual_clock();
    match seed {
        Some(seed) => builder.seed(seed).build().unwrap(),
        None => builder.build().unwrap(),
    }
}

struct Recorder {
    log: Log,
    stopped: Rc<RefCell<Option<StopReason>>>,
}

impl LocalActor for Recorder {
    type Message = String;
    fn handle(&mut self, message: String, _ctx: &mut LocalContext<'_, Self>) {
        self.log.borrow_mut().push(message);
    }
    fn on_stop(&mut self, reason: StopReason) {
        *self.stopped.borrow_mut() = Some(reason);
    }
}

fn recorder(
    system: &LocalSystem,
) -> (LocalAddress<Recorder>, Log, Rc<RefCell<Option<StopReason>>>) {
    let log = Log::default();
    let stopped = Rc::new(RefCell::new(None));
    let address = system
        .spawn(Recorder {
            log: log.clone(),
            stopped: stopped.clone(),
        })
        .unwrap();
    // Start it, so that `on_stop` runs at its end.
    address.send("start".into()).unwrap();
    system.run_until_idle().unwrap();
    log.borrow_mut().clear();
    (address, log, stopped)
}

#[test]
fn timers_fire_in_deadline_order_never_early_on_virtual_time() {
    let memory = counted();
    {
        let system = virtual_system(&memory, None);
        let (address, log, _) = recorder(&system);
        let start = system.now();
        address
            .send_after(Duration::from_millis(30), "c".into())
            .unwrap();
        address
            .send_after(Duration::from_millis(10), "a".into())
            .unwrap();
        address
            .send_at(start + Duration::from_millis(20), "b".into())
            .unwrap();
        address
            .send_after(Duration::from_millis(10), "a2".into())
            .unwrap();
        assert_eq!(
            system.advance(Duration::from_millis(9)).unwrap().messages,
            0
        );
        let stats = system.advance(Duration::from_millis(1)).unwrap();
        assert_eq!((stats.messages, stats.timers_fired), (2, 2));
        assert_eq!(*log.borrow(), ["a", "a2"]); // equal deadlines: arming order
        system.advance(Duration::from_millis(20)).unwrap();
        assert_eq!(*log.borrow(), ["a", "a2", "b", "c"]);
        assert_eq!(system.now() - start, Duration::from_millis(30));
    }
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn a_cancelled_timer_never_fires_and_its_message_is_dropped() {
    let memory = counted();
    {
        let system = virtual_system(&memory, None);
        let (address, log, _) = recorder(&system);
        let timer = address
            .send_after(Duration::from_secs(1), "late".into())
            .unwrap();
        assert!(timer.is_pending());
        assert_eq!(timer.cancel(), CancelOutcome::Cancelled);
        let fired = address
            .send_after(Duration::from_millis(1), "on time".into())
            .unwrap();
        system.advance(Duration::from_secs(2)).unwrap();
        assert_eq!(*log.borrow(), ["on time"]);
        assert!(!fired.is_pending());
        assert_eq!(fired.cancel(), CancelOutcome::Fired);
    }
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn an_interval_ticks_until_cancelled_or_until_its_target_stops() {
    let memory = counted();
    {
        let system = virtual_system(&memory, None);
        let (address, log, stopped) = recorder(&system);
        let mut n = 0;
        let tick = address
            .send_interval(Duration::from_millis(10), move || {
                n += 1;
                format!("tick {n}")
            })
            .unwrap();
        system.advance(Duration::from_millis(35)).unwrap();
        assert_eq!(*log.borrow(), ["tick 1", "tick 2", "tick 3"]);
        assert_eq!(tick.cancel(), CancelOutcome::Cancelled);
        system.advance(Duration::from_millis(100)).unwrap();
        assert_eq!(log.borrow().len(), 3);

        // A second interval ends with its target.
        let _tick = address
            .send_interval(Duration::from_millis(10), || "again".to_string())
            .unwrap();
        address.stop_after(Duration::from_millis(25)).unwrap();
        let stats = system.advance(Duration::from_millis(100)).unwrap();
        assert_eq!(log.borrow().len(), 5);
        assert_eq!(*stopped.borrow(), Some(StopReason::Stopped));
        // Two ticks and the stop, then the third tick found the target gone.
        assert_eq!(stats.timers_fired, 4);
    }
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn kill_after_is_a_watchdog() {
    let memory = counted();
    {
        let system = virtual_system(&memory, None);
        let (address, log, stopped) = recorder(&system);
        address.kill_after(Duration::from_millis(5)).unwrap();
        address
            .send_after(Duration::from_millis(10), "too late".into())
            .unwrap();
        system.advance(Duration::from_millis(20)).unwrap();
        assert!(log.borrow().is_empty());
        assert_eq!(*stopped.borrow(), Some(StopReason::Killed));
        assert!(!address.is_alive());
    }
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn the_systems_stop_drops_pending_timers_undelivered() {
    let memory = counted();
    let (address, log, stopped) = {
        let system = virtual_system(&memory, None);
        let (address, log, stopped) = recorder(&system);
        let timer = address
            .send_after(Duration::from_secs(1), "never".into())
            .unwrap();
        drop(system);
        assert_eq!(timer.cancel(), CancelOutcome::Dropped);
        (address, log, stopped)
    };
    assert!(log.borrow().is_empty());
    // The stop ended the idle actor too.
    assert_eq!(*stopped.borrow(), Some(StopReason::SchedulerStopped));
    let refused = address
        .send_after(Duration::from_secs(1), "after".into())
        .unwrap_err();
    assert_eq!(refused.reason(), Undelivered::SchedulerStopped);
    assert_eq!(refused.into_message(), "after");
    let refused = address.send("after".into()).unwrap_err();
    assert_eq!(refused.reason(), Undelivered::SchedulerStopped);
    drop(address);
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn timers_fire_on_a_real_clock_and_park_wakes_for_them() {
    let system = LocalSystem::new(64).unwrap();
    let (address, log, _) = recorder(&system);
    let start = Instant::now();
    address
        .send_after(Duration::from_millis(20), "now".into())
        .unwrap();
    assert!(system.next_deadline().is_some());
    while log.borrow().is_empty() {
        system.run_until_idle().unwrap();
        if log.borrow().is_empty() {
            // Returns at the deadline: no cross-thread mail will come.
            assert!(!system.park(Some(Duration::from_secs(5))).unwrap());
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the timer never fired"
        );
    }
    assert!(start.elapsed() >= Duration::from_millis(20), "fired early");
    assert_eq!(system.next_deadline(), None);
}

#[test]
fn equal_deadlines_follow_the_seed() {
    let order = |seed| {
        let memory = counted();
        let system = virtual_system(&memory, Some(seed));
        let (address, log, _) = recorder(&system);
        for n in 0..8 {
            address
                .send_after(Duration::from_millis(1), n.to_string())
                .unwrap();
        }
        system.advance(Duration::from_millis(1)).unwrap();
        let seen = log.borrow().clone();
        seen
    };
    assert_eq!(order(1), order(1));
    let orders: Vec<_> = (0..4).map(order).collect();
    assert!(
        orders.iter().any(|o| o != &orders[0]),
        "the seed changes nothing"
    );
}

// ---- continuations ----

struct Doubler {
    /// Replies are kept until a `Flush` (to answer late), or dropped (`Drop`).
    held: Vec<(u64, LocalReply<u64>)>,
}

enum DoublerMsg {
    Double(u64, LocalReply<u64>),
    Hold(u64, LocalReply<u64>),
    Flush,
    Drop(LocalReply<u64>),
    Panic(LocalReply<u64>),
}

impl LocalActor for Doubler {
    type Message = DoublerMsg;
    fn handle(&mut self, message: DoublerMsg, _ctx: &mut LocalContext<'_, Self>) {
        match message {
            DoublerMsg::Double(n, reply) => drop(reply.send(2 * n)),
            DoublerMsg::Hold(n, reply) => self.held.push((n, reply)),
            DoublerMsg::Flush => {
                for (n, reply) in self.held.drain(..) {
                    // A late answer comes back to the replier.
                    if reply.is_cancelled() {
                        assert_eq!(reply.send(2 * n), Err(2 * n));
                    } else {
                        reply.send(2 * n).unwrap();
                    }
                }
            }
            DoublerMsg::Drop(reply) => drop(reply),
            DoublerMsg::Panic(_reply) => panic!("doubler failed"),
        }
    }
}

type Results = Rc<RefCell<Vec<Result<u64, RequestError>>>>;

struct Asker {
    doubler: LocalAddress<Doubler>,
    results: Results,
    stopped: Rc<RefCell<Option<StopReason>>>,
}

enum AskerMsg {
    Ask(
        fn(u64, LocalReply<u64>) -> DoublerMsg,
        u64,
        Option<Duration>,
    ),
    PanicInContinuation,
}

impl LocalActor for Asker {
    type Message = AskerMsg;
    fn handle(&mut self, message: AskerMsg, ctx: &mut LocalContext<'_, Self>) {
        match message {
            AskerMsg::Ask(make, n, timeout) => {
                let record = |this: &mut Self, _: &mut LocalContext<'_, Self>, result| {
                    this.results.borrow_mut().push(result)
                };
                match timeout {
                    None => ctx.ask(&self.doubler, |reply| make(n, reply), record),
                    Some(timeout) => {
                        ctx.ask_timeout(&self.doubler, timeout, |reply| make(n, reply), record)
                    }
                }
                .unwrap_or_else(|error| panic!("ask refused: {error:?}"));
            }
            AskerMsg::PanicInContinuation => {
                ctx.ask(
                    &self.doubler,
                    |reply| DoublerMsg::Double(1, reply),
                    |_: &mut Self, _, _| panic!("continuation failed"),
                )
                .unwrap();
            }
        }
    }
    fn on_stop(&mut self, reason: StopReason) {
        *self.stopped.borrow_mut() = Some(reason);
    }
}

struct Setup {
    system: LocalSystem,
    doubler: LocalAddress<Doubler>,
    asker: LocalAddress<Asker>,
    results: Results,
    stopped: Rc<RefCell<Option<StopReason>>>,
}

fn setup(memory: &Arc<CountingResource<PoolResource>>) -> Setup {
    let system = virtual_system(memory, None);
    let doubler = system.spawn(Doubler { held: Vec::new() }).unwrap();
    let results = Results::default();
    let stopped = Rc::new(RefCell::new(None));
    let asker = system
        .spawn(Asker {
            doubler: doubler.clone(),
            results: results.clone(),
            stopped: stopped.clone(),
        })
        .unwrap();
    Setup {
        system,
        doubler,
        asker,
        results,
        stopped,
    }
}

#[test]
fn a_continuation_runs_on_the_asker_with_each_outcome() {
    let memory = counted();
    {
        let s = setup(&memory);
        s.asker
            .send(AskerMsg::Ask(DoublerMsg::Double, 21, None))
            .unwrap();
        s.asker
            .send(AskerMsg::Ask(|_, reply| DoublerMsg::Drop(reply), 0, None))
            .unwrap();
        s.system.run_until_idle().unwrap();
        assert_eq!(*s.results.borrow(), [Ok(42), Err(RequestError::NoReply)]);
        s.asker
            .send(AskerMsg::Ask(|_, reply| DoublerMsg::Panic(reply), 0, None))
            .unwrap();
        s.system.run_until_idle().unwrap();
        assert_eq!(s.results.borrow()[2], Err(RequestError::HandlerPanicked));
        assert!(!s.doubler.is_alive());
        drop(s);
    }
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn a_request_to_a_stopped_actor_is_refused_and_its_continuation_dropped() {
    let memory = counted();
    {
        let s = setup(&memory);
        s.doubler.stop().unwrap();
        s.system.run_until_idle().unwrap();
        s.asker
            .send(AskerMsg::Ask(DoublerMsg::Double, 1, None))
            .unwrap();
        s.system.run_until_idle().unwrap();
        // The asker's handler panicked on the refusal (this test's asker does).
        assert!(matches!(*s.stopped.borrow(), Some(StopReason::Panicked(_))));
        assert!(s.results.borrow().is_empty());
        drop(s);
    }
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn ask_timeout_expires_and_a_late_answer_comes_back_to_the_replier() {
    let memory = counted();
    {
        let s = setup(&memory);
        let hold = |n, reply| DoublerMsg::Hold(n, reply);
        s.asker
            .send(AskerMsg::Ask(hold, 5, Some(Duration::from_millis(50))))
            .unwrap();
        s.system.run_until_idle().unwrap();
        assert!(s.results.borrow().is_empty());
        s.system.advance(Duration::from_millis(49)).unwrap();
        assert!(s.results.borrow().is_empty(), "expired early");
        s.system.advance(Duration::from_millis(1)).unwrap();
        assert_eq!(*s.results.borrow(), [Err(RequestError::Timeout)]);
        // The answer after the timeout is thrown away (the doubler asserts it).
        s.doubler.send(DoublerMsg::Flush).unwrap();
        s.system.run_until_idle().unwrap();
        assert_eq!(s.results.borrow().len(), 1);
        assert!(s.doubler.is_alive());
        drop(s);
    }
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn a_quick_answer_cancels_the_timeout_and_frees_its_timer() {
    let memory = counted();
    {
        let s = setup(&memory);
        let before = memory.live_blocks();
        s.asker
            .send(AskerMsg::Ask(
                DoublerMsg::Double,
                4,
                Some(Duration::from_secs(60)),
            ))
            .unwrap();
        s.system.run_until_idle().unwrap();
        assert_eq!(*s.results.borrow(), [Ok(8)]);
        // The timer was cancelled when the continuation ran: its payload (the
        // request's third end) is gone, only the entry's block waits for the wheel.
        assert_eq!(memory.live_blocks(), before + 1);
        let stats = s.system.advance(Duration::from_secs(120)).unwrap();
        assert_eq!((stats.messages, stats.timers_fired), (0, 0));
        assert_eq!(s.results.borrow().len(), 1);
        assert_eq!(memory.live_blocks(), before);
        drop(s);
    }
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn an_asker_that_ends_before_the_answer_drops_its_continuation() {
    let memory = counted();
    {
        let s = setup(&memory);
        let hold = |n, reply| DoublerMsg::Hold(n, reply);
        s.asker.send(AskerMsg::Ask(hold, 1, None)).unwrap();
        s.system.run_until_idle().unwrap();
        s.asker.kill().unwrap();
        s.system.run_until_idle().unwrap();
        assert_eq!(*s.stopped.borrow(), Some(StopReason::Killed));
        s.doubler.send(DoublerMsg::Flush).unwrap();
        s.system.run_until_idle().unwrap();
        assert!(s.results.borrow().is_empty());
        drop(s);
    }
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn a_panic_in_a_continuation_is_a_handler_panic() {
    let memory = counted();
    {
        let s = setup(&memory);
        s.asker.send(AskerMsg::PanicInContinuation).unwrap();
        let stats = s.system.run_until_idle().unwrap();
        assert_eq!(stats.panics, 1); // the asker's run, caught
        let stopped = s.stopped.borrow().clone();
        match stopped {
            Some(StopReason::Panicked(message)) => {
                assert_eq!(message.as_str(), Some("continuation failed"))
            }
            other => panic!("{other:?}"),
        }
        drop(s);
    }
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn pending_continuations_and_timeouts_go_when_the_system_stops() {
    let memory = counted();
    {
        let s = setup(&memory);
        let hold = |n, reply| DoublerMsg::Hold(n, reply);
        s.asker
            .send(AskerMsg::Ask(hold, 1, Some(Duration::from_secs(1))))
            .unwrap();
        s.asker.send(AskerMsg::Ask(hold, 2, None)).unwrap();
        s.system.run_until_idle().unwrap();
        let Setup {
            system,
            doubler,
            asker,
            results,
            ..
        } = s;
        drop(system);
        drop(doubler);
        drop(asker);
        assert!(results.borrow().is_empty());
    }
    assert_eq!(memory.live_blocks(), 0);
}
