//! Lifecycle combinations, table-driven: how the asker treats its future × how the actor
//! ends, on a `ManualScheduler` (deterministic) and on a `SharingScheduler` (real
//! threads, with a gate to hold the actor while the table's case is set up).
//!
//! Every case ends with the `CountingResource` back to zero live blocks (cell, message
//! and request nodes all returned), every request resolved (the asker saw the value or
//! `NoReply`, or the replier learned it was cancelled), every reply value dropped exactly
//! once, and `on_stop` run once with the expected reason.
#![cfg(not(zeta_loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use zeta::arena::{CountingResource, PoolResource};
use zeta::scheduler::Scheduler;
use zeta::{
    Actor, AskError, Context, Future, ManualScheduler, Reply, RequestError, SharingScheduler,
    StopReason, System, Undelivered,
};

#[derive(Default)]
struct Counts {
    /// Reply values alive (created minus dropped).
    values_alive: AtomicUsize,
    replies_sent: AtomicUsize,
    replies_refused: AtomicUsize,
    handled: AtomicUsize,
    actors_dropped: AtomicUsize,
    stops: Mutex<Vec<StopReason>>,
}

/// A reply value that counts itself.
struct Value {
    n: u64,
    counts: Arc<Counts>,
}

impl Value {
    fn new(n: u64, counts: &Arc<Counts>) -> Self {
        counts.values_alive.fetch_add(1, Ordering::SeqCst);
        Self {
            n,
            counts: counts.clone(),
        }
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        self.counts.values_alive.fetch_sub(1, Ordering::SeqCst);
    }
}

enum Msg {
    /// Answer with `n * 10`.
    Ask(u64, Reply<Value>),
    /// Panic in the handler.
    Panic,
    /// Rendezvous with the test, then wait for it to release us.
    Hold(Arc<Barrier>, Arc<Barrier>),
}

struct Server {
    counts: Arc<Counts>,
}

impl Actor for Server {
    type Message = Msg;

    fn handle(&mut self, message: Msg, _ctx: &mut Context<'_, Self>) {
        self.counts.handled.fetch_add(1, Ordering::SeqCst);
        match message {
            Msg::Ask(n, reply) => {
                let value = Value::new(n * 10, &self.counts);
                match reply.send(value) {
                    Ok(()) => self.counts.replies_sent.fetch_add(1, Ordering::SeqCst),
                    Err(_value) => self.counts.replies_refused.fetch_add(1, Ordering::SeqCst),
                };
            }
            Msg::Panic => panic!("handler panics on purpose"),
            Msg::Hold(entered, release) => {
                entered.wait();
                release.wait();
            }
        }
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.counts.stops.lock().unwrap().push(reason);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.counts.actors_dropped.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Clone, Copy, Debug)]
enum Asker {
    /// Keep the future and take the result.
    Take,
    /// Drop the future before the actor runs.
    DropBefore,
    /// Drop the future after the actor ran, without taking.
    DropAfter,
    /// `cancel()` before the actor runs.
    Cancel,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ending {
    /// The request is handled; the actor ends when its last address goes.
    Normal,
    /// `stop()` after the request: the request (queued before) is answered, one asked
    /// after the stop is refused at once (its message comes back).
    StopWithQueue,
    /// `kill()` after the request: it is not handled.
    Kill,
    /// A handler panics before the request is reached.
    Panic,
}

const ASKERS: [Asker; 4] = [
    Asker::Take,
    Asker::DropBefore,
    Asker::DropAfter,
    Asker::Cancel,
];
const ENDINGS: [Ending; 4] = [
    Ending::Normal,
    Ending::StopWithQueue,
    Ending::Kill,
    Ending::Panic,
];

/// Runs one case; `hold` and `release` bracket the part where the actor must not run.
fn run_case<S: Scheduler + 'static>(
    asker: Asker,
    ending: Ending,
    system: System<S>,
    memory: &CountingResource<PoolResource>,
    drive: &dyn Fn(&S),
    threaded: bool,
) {
    let case = format!("{asker:?} x {ending:?}");
    let counts = Arc::new(Counts::default());
    let server = system
        .spawn(Server {
            counts: counts.clone(),
        })
        .unwrap();

    let release = Arc::new(Barrier::new(2));
    if threaded {
        // Hold the actor on its worker while the case is set up.
        let entered = Arc::new(Barrier::new(2));
        server
            .send(Msg::Hold(entered.clone(), release.clone()))
            .unwrap();
        entered.wait();
    }
    if ending == Ending::Panic {
        server.send(Msg::Panic).unwrap();
    }
    let mut future: Option<Future<Value>> = Some(server.ask(|reply| Msg::Ask(4, reply)).unwrap());
    match ending {
        Ending::Normal | Ending::Panic => {}
        Ending::StopWithQueue => {
            server.stop().unwrap();
            match server.ask(|reply: Reply<Value>| Msg::Ask(5, reply)) {
                Err(AskError::Undelivered(refused)) => {
                    assert_eq!(refused.reason(), Undelivered::ActorStopped, "{case}");
                    assert!(matches!(refused.into_message(), Msg::Ask(5, _)), "{case}");
                }
                other => panic!("{case}: asked after stop: {:?}", other.map(|_| ())),
            }
        }
        Ending::Kill => server.kill().unwrap(),
    }
    match asker {
        Asker::DropBefore => drop(future.take()),
        Asker::Cancel => future.take().unwrap().cancel(),
        Asker::Take | Asker::DropAfter => {}
    }

    if threaded {
        release.wait();
    }
    drive(system.scheduler());

    let expected_value = matches!(ending, Ending::Normal | Ending::StopWithQueue);
    match asker {
        Asker::Take => {
            let result = future.take().unwrap().wait().map(|value| value.n);
            if expected_value {
                assert_eq!(result, Ok(40), "{case}");
            } else {
                assert_eq!(result, Err(RequestError::NoReply), "{case}");
            }
        }
        Asker::DropAfter => {
            let future = future.take().unwrap();
            if threaded {
                // Resolved by now or soon: wait without taking the value.
                while !future.is_ready() {
                    std::thread::yield_now();
                }
            }
            assert!(future.is_ready(), "{case}: resolved before it is dropped");
            drop(future);
        }
        Asker::DropBefore | Asker::Cancel => {}
    }

    // The actor has ended (or ends now, for Normal, when its last address goes).
    if ending != Ending::Normal {
        while threaded && server.is_alive() {
            std::thread::yield_now();
        }
        let error = server.send(Msg::Panic).unwrap_err();
        assert_eq!(error.reason(), Undelivered::ActorStopped, "{case}");
        assert!(
            matches!(error.into_message(), Msg::Panic),
            "{case}: the message comes back"
        );
    }
    drop(server);
    drop(system);

    let handled_request = expected_value;
    let replied = counts.replies_sent.load(Ordering::SeqCst);
    let refused = counts.replies_refused.load(Ordering::SeqCst);
    if handled_request {
        assert_eq!(replied + refused, 1, "{case}: the request was handled once");
        if matches!(asker, Asker::DropBefore | Asker::Cancel) {
            assert_eq!(refused, 1, "{case}: the replier learned the asker had gone");
        } else {
            assert_eq!(replied, 1, "{case}");
        }
    } else {
        assert_eq!(
            replied + refused,
            0,
            "{case}: the request was never handled"
        );
    }
    assert_eq!(
        counts.values_alive.load(Ordering::SeqCst),
        0,
        "{case}: every value dropped once"
    );
    assert_eq!(
        counts.actors_dropped.load(Ordering::SeqCst),
        1,
        "{case}: the actor dropped once"
    );
    let expected_reason = match ending {
        Ending::Normal => StopReason::Dropped,
        Ending::StopWithQueue => StopReason::Stopped,
        Ending::Kill => StopReason::Killed,
        Ending::Panic => StopReason::Panicked("handler panics on purpose".into()),
    };
    if ending == Ending::Kill && !threaded {
        // Killed before its first run: it never started, so no hooks ran.
        assert!(
            counts.stops.lock().unwrap().is_empty(),
            "{case}: no on_stop"
        );
    } else {
        assert_eq!(
            *counts.stops.lock().unwrap(),
            [expected_reason],
            "{case}: on_stop once"
        );
    }
    assert_eq!(memory.live_blocks(), 0, "{case}: every block returned");
}

#[test]
fn every_combination_on_a_manual_scheduler() {
    for ending in ENDINGS {
        for asker in ASKERS {
            let memory = Arc::new(CountingResource::new(PoolResource::new()));
            let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
            let system = System::new(scheduler, memory.clone());
            run_case(
                asker,
                ending,
                system,
                &memory,
                &|s: &ManualScheduler| {
                    s.run_until_idle().unwrap();
                },
                false,
            );
        }
    }
}

#[test]
fn every_combination_on_a_sharing_scheduler() {
    for ending in ENDINGS {
        for asker in ASKERS {
            let memory = Arc::new(CountingResource::new(PoolResource::new()));
            let scheduler = Arc::new(SharingScheduler::builder().workers(2).build().unwrap());
            scheduler.start().unwrap();
            let system = System::new(scheduler, memory.clone());
            run_case(
                asker,
                ending,
                system,
                &memory,
                &|_: &SharingScheduler| {},
                true,
            );
        }
    }
}
