//! `Context::ask`: requests from one actor to another whose answer runs a continuation
//! on the asker, as a message.
//!
//! Every case runs on a `ManualScheduler` (deterministic: the test decides what happens
//! before the answer), some also on a `SharingScheduler`, and ends with the
//! `CountingResource` back to zero live blocks (cells, message and request nodes,
//! continuation blocks), every continuation run at most once, and every capture of a
//! continuation dropped exactly once, run or not.
#![cfg(not(zeta_loom))]

use core::alloc::Layout;
use core::ptr::NonNull;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use zeta::arena::{AllocError, CountingResource, MemoryResource, PoolResource};
use zeta::scheduler::Scheduler;
use zeta::{
    Actor, Address, AskError, Context, ManualScheduler, Reply, RequestError, Restart,
    RestartStrategy, SharingScheduler, StopReason, Supervisor, System, Undelivered,
};

type Memory = Arc<CountingResource<PoolResource>>;

/// Holds the replies it is asked for until told what to do with them.
struct Holder {
    replies: Vec<Reply<u64>>,
}

enum HolderMsg {
    /// Keep the reply for later.
    Ask(Reply<u64>),
    /// Answer at once with this value.
    Answer(u64, Reply<u64>),
    /// Answer every kept reply with this value.
    AnswerAll(u64),
    /// Panic while holding this reply.
    Panic(Reply<u64>),
    /// A message without a reply.
    Nothing,
}

impl Actor for Holder {
    type Message = HolderMsg;

    fn handle(&mut self, message: HolderMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            HolderMsg::Ask(reply) => self.replies.push(reply),
            HolderMsg::Answer(n, reply) => {
                let _ = reply.send(n);
            }
            HolderMsg::AnswerAll(n) => {
                for reply in self.replies.drain(..) {
                    let _ = reply.send(n);
                }
            }
            HolderMsg::Panic(_reply) => panic!("the target panics holding the reply"),
            HolderMsg::Nothing => {}
        }
    }
}

/// What the asker does, sent to it as a message.
type Script = Box<dyn FnOnce(&mut Asker, &mut Context<'_, Asker>) + Send>;

/// Runs the scripts it is sent; its continuations log their results into `results`.
struct Asker {
    target: Address<Holder>,
    results: Arc<Mutex<Vec<Result<u64, RequestError>>>>,
    /// Counts the continuations run on this instance.
    ran: u64,
    /// Which instance this is (supervised restarts).
    generation: u64,
    stops: Arc<Mutex<Vec<StopReason>>>,
}

impl Actor for Asker {
    type Message = Script;

    fn handle(&mut self, script: Script, ctx: &mut Context<'_, Self>) {
        script(self, ctx);
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.stops.lock().unwrap().push(reason);
    }
}

/// A capture that counts its drops.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// One test's actors and counters.
struct Setup {
    scheduler: Arc<ManualScheduler>,
    system: System<ManualScheduler>,
    memory: Memory,
    target: Address<Holder>,
    asker: Address<Asker>,
    results: Arc<Mutex<Vec<Result<u64, RequestError>>>>,
    stops: Arc<Mutex<Vec<StopReason>>>,
    drops: Arc<AtomicUsize>,
}

impl Setup {
    fn new() -> Self {
        let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
        let memory: Memory = Arc::new(CountingResource::new(PoolResource::new()));
        let system = System::new(scheduler.clone(), memory.clone());
        let target = system.spawn(Holder { replies: vec![] }).unwrap();
        let results = Arc::default();
        let stops = Arc::default();
        let asker = system
            .spawn(Asker {
                target: target.clone(),
                results: Arc::clone(&results),
                ran: 0,
                generation: 0,
                stops: Arc::clone(&stops),
            })
            .unwrap();
        Self {
            scheduler,
            system,
            memory,
            target,
            asker,
            results,
            stops,
            drops: Arc::default(),
        }
    }

    fn run(&self) {
        self.scheduler.run_until_idle().unwrap();
    }

    /// Sends the asker a script that asks the target with `make`; the continuation logs
    /// the result and holds a [`Tracked`] capture. `asked` receives what `ctx.ask`
    /// returned.
    fn ask(
        &self,
        make: impl FnOnce(Reply<u64>) -> HolderMsg + Send + 'static,
        asked: mpsc::Sender<Result<(), AskError<HolderMsg>>>,
    ) {
        let tracked = Tracked(self.drops.clone());
        self.asker
            .send(Box::new(
                move |this: &mut Asker, ctx: &mut Context<'_, Asker>| {
                    let target = this.target.clone();
                    let result = ctx.ask(&target, make, move |this: &mut Asker, _ctx, result| {
                        let _keep = &tracked;
                        this.ran += 1;
                        this.results.lock().unwrap().push(result);
                    });
                    asked.send(result).unwrap();
                },
            ))
            .unwrap_or_else(|_| panic!("the asker is alive"));
    }

    fn results(&self) -> Vec<Result<u64, RequestError>> {
        self.results.lock().unwrap().clone()
    }

    fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }

    /// Drops everything, and checks that every block went back.
    fn finish(self) {
        let Self {
            scheduler,
            system,
            memory,
            target,
            asker,
            ..
        } = self;
        drop((target, asker));
        scheduler.run_until_idle().unwrap();
        drop(system);
        drop(scheduler);
        assert_eq!(memory.live_blocks(), 0, "every block back");
    }
}

#[test]
fn the_answer_runs_the_continuation_on_the_asker() {
    let setup = Setup::new();
    let (asked, outcome) = mpsc::channel();
    setup.ask(|reply| HolderMsg::Answer(7, reply), asked.clone());
    setup.ask(HolderMsg::Ask, asked);
    setup.run();
    assert!(outcome.try_recv().unwrap().is_ok());
    assert!(outcome.try_recv().unwrap().is_ok());
    assert_eq!(setup.results(), [Ok(7)]);
    assert_eq!(setup.drops(), 1, "the run continuation's capture");
    setup.target.send(HolderMsg::AnswerAll(8)).unwrap();
    setup.run();
    assert_eq!(setup.results(), [Ok(7), Ok(8)]);
    assert_eq!(setup.drops(), 2);
    setup.finish();
}

/// The asker ends before the answer: in the three ways an actor ends. The answer's
/// arrival finds the asker's inbox closed; the continuation is dropped, never run.
#[test]
fn the_asker_ending_before_the_answer_drops_the_continuation() {
    for end in ["stop", "kill", "panic"] {
        let setup = Setup::new();
        let (asked, outcome) = mpsc::channel();
        setup.ask(HolderMsg::Ask, asked);
        setup.run();
        assert!(outcome.try_recv().unwrap().is_ok());
        match end {
            "stop" => setup.asker.stop().unwrap(),
            "kill" => setup.asker.kill().unwrap(),
            _ => setup
                .asker
                .send(Box::new(|_: &mut Asker, _: &mut Context<'_, Asker>| {
                    panic!("the asker panics")
                }))
                .unwrap_or_else(|_| panic!("alive")),
        }
        setup.run();
        assert!(!setup.asker.is_alive(), "{end}");
        assert_eq!(setup.drops(), 0, "{end}: still pending");
        // The answer comes: its arrival is refused, the continuation dropped.
        setup.target.send(HolderMsg::AnswerAll(1)).unwrap();
        setup.run();
        assert_eq!(setup.results(), [], "{end}: never run");
        assert_eq!(setup.drops(), 1, "{end}: dropped once");
        setup.finish();
    }
}

/// The answer is queued in the asker's inbox when the asker is killed: dropped with the
/// queue, never run.
#[test]
fn a_queued_continuation_is_dropped_when_the_asker_is_killed() {
    let setup = Setup::new();
    let (asked, _outcome) = mpsc::channel();
    setup.ask(|reply| HolderMsg::Answer(3, reply), asked);
    // The asker asks; the target answers; the continuation is then queued.
    assert!(setup.scheduler.run_once().unwrap());
    assert!(setup.scheduler.run_once().unwrap());
    setup.asker.kill().unwrap();
    setup.run();
    assert_eq!(setup.results(), []);
    assert_eq!(setup.drops(), 1);
    assert_eq!(*setup.stops.lock().unwrap(), [StopReason::Killed]);
    setup.finish();
}

#[test]
fn a_dead_target_gives_the_message_back_and_drops_the_continuation() {
    let setup = Setup::new();
    setup.target.stop().unwrap();
    setup.run();
    let (asked, outcome) = mpsc::channel();
    setup.ask(|reply| HolderMsg::Answer(1, reply), asked);
    setup.run();
    match outcome.try_recv().unwrap() {
        Err(AskError::Undelivered(error)) => {
            assert_eq!(error.reason(), Undelivered::ActorStopped);
            let HolderMsg::Answer(1, reply) = error.into_message() else {
                panic!("the message comes back");
            };
            assert!(reply.is_cancelled(), "nobody reads its answer");
        }
        other => panic!("expected the message back, got {other:?}"),
    }
    setup.run();
    assert_eq!(setup.results(), [], "never run");
    assert_eq!(setup.drops(), 1, "dropped once");
    setup.finish();
}

/// The target ends holding the request, or its handler panics with it, or drops it.
#[test]
fn the_target_failing_to_answer_runs_the_continuation_with_the_error() {
    for (case, expected) in [
        ("stop", RequestError::NoReply),
        ("kill", RequestError::NoReply),
        ("drop", RequestError::NoReply),
        ("panic", RequestError::HandlerPanicked),
    ] {
        let setup = Setup::new();
        let (asked, _outcome) = mpsc::channel();
        if case == "panic" {
            setup.ask(HolderMsg::Panic, asked);
        } else if case == "drop" {
            // `make` drops the reply: the request is complete before it is sent.
            setup.ask(|_reply| HolderMsg::Nothing, asked);
        } else {
            setup.ask(HolderMsg::Ask, asked);
        }
        setup.run();
        match case {
            "stop" => setup.target.stop().unwrap(),
            "kill" => setup.target.kill().unwrap(),
            _ => {}
        }
        setup.run();
        assert_eq!(setup.results(), [Err(expected)], "{case}");
        assert_eq!(setup.drops(), 1, "{case}");
        setup.finish();
    }
}

#[test]
fn make_may_answer_the_request_itself_or_hand_the_reply_on() {
    let setup = Setup::new();
    let (asked, _outcome) = mpsc::channel();
    setup.ask(
        |reply| {
            reply.send(11).unwrap();
            HolderMsg::Nothing
        },
        asked.clone(),
    );
    setup.run();
    assert_eq!(setup.results(), [Ok(11)]);
    // The reply goes to another thread, which answers while the asker is still
    // building: delivered once, whichever side comes first.
    for round in 0..200 {
        let (reply_tx, reply_rx) = mpsc::channel::<Reply<u64>>();
        let answering = std::thread::spawn(move || reply_rx.recv().unwrap().send(round));
        setup.ask(
            move |reply| {
                reply_tx.send(reply).unwrap();
                HolderMsg::Nothing
            },
            asked.clone(),
        );
        setup.run();
        let _ = answering.join().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while setup.results().len() < round as usize + 2 {
            assert!(Instant::now() < deadline, "the continuation runs");
            setup.run();
            std::thread::yield_now();
        }
        assert_eq!(setup.results().last(), Some(&Ok(round)));
    }
    assert_eq!(setup.drops(), 201);
    setup.finish();
}

#[test]
fn a_panic_in_the_continuation_is_a_handler_panic() {
    let setup = Setup::new();
    let tracked = Tracked(setup.drops.clone());
    setup
        .asker
        .send(Box::new(
            move |this: &mut Asker, ctx: &mut Context<'_, Asker>| {
                let target = this.target.clone();
                ctx.ask(
                    &target,
                    |reply| HolderMsg::Answer(5, reply),
                    move |_: &mut Asker, _ctx, result: Result<u64, RequestError>| {
                        let _keep = &tracked;
                        assert_eq!(result, Ok(5));
                        panic!("the continuation panics");
                    },
                )
                .unwrap();
            },
        ))
        .unwrap_or_else(|_| panic!("alive"));
    let mut ended = setup.asker.stopped().unwrap();
    setup.run();
    assert_eq!(
        ended.try_take(),
        Some(Ok(StopReason::Panicked("the continuation panics".into())))
    );
    assert_eq!(
        *setup.stops.lock().unwrap(),
        [StopReason::Panicked("the continuation panics".into())]
    );
    assert_eq!(setup.drops(), 1, "the capture dropped while unwinding");
    drop(ended);
    setup.finish();
}

/// A resource that grants a number of allocations, then refuses.
struct Budget {
    pool: CountingResource<PoolResource>,
    left: AtomicIsize,
}

// SAFETY: forwards to a counted pool (which upholds the contract) or refuses; frees go
// back to the pool they came from.
unsafe impl MemoryResource for Budget {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        if self.left.fetch_sub(1, Ordering::SeqCst) <= 0 {
            return Err(AllocError);
        }
        self.pool.allocate(layout)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's duty: the block came from `allocate`, i.e. the pool.
        unsafe { self.pool.deallocate(ptr, layout) }
    }
}

/// `ctx.ask` makes three allocations (the continuation block and the arrival's node
/// from the asker's memory, then the request from the target's): each failing in turn
/// gives `OutOfMemory`, leaves nothing allocated, and drops the continuation uncalled.
#[test]
fn out_of_memory_at_each_allocation_leaks_nothing() {
    for granted in 0..3 {
        let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
        let budget = Arc::new(Budget {
            pool: CountingResource::new(PoolResource::new()),
            left: AtomicIsize::new(isize::MAX),
        });
        let system = System::new(scheduler.clone(), budget.clone());
        let target = system.spawn(Holder { replies: vec![] }).unwrap();
        let results = Arc::default();
        let asker = system
            .spawn(Asker {
                target: target.clone(),
                results: Arc::clone(&results),
                ran: 0,
                generation: 0,
                stops: Arc::default(),
            })
            .unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let made = Arc::new(AtomicUsize::new(0));
        let (asked, outcome) = mpsc::channel();
        let (tracked, counted, budget_in) = (Tracked(drops.clone()), made.clone(), budget.clone());
        asker
            .send(Box::new(
                move |this: &mut Asker, ctx: &mut Context<'_, Asker>| {
                    budget_in.left.store(granted, Ordering::SeqCst);
                    let target = this.target.clone();
                    let result = ctx.ask(
                        &target,
                        move |reply| {
                            counted.fetch_add(1, Ordering::SeqCst);
                            HolderMsg::Answer(1, reply)
                        },
                        move |_: &mut Asker, _ctx, _result: Result<u64, RequestError>| {
                            let _keep = &tracked;
                            unreachable!("never run");
                        },
                    );
                    budget_in.left.store(isize::MAX, Ordering::SeqCst);
                    asked.send(result.map_err(|error| error.reason())).unwrap();
                },
            ))
            .unwrap_or_else(|_| panic!("alive"));
        scheduler.run_until_idle().unwrap();
        assert_eq!(
            outcome.try_recv().unwrap(),
            Err(Undelivered::OutOfMemory),
            "{granted} granted"
        );
        assert_eq!(made.load(Ordering::SeqCst), 0, "make is not called");
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the continuation dropped");
        assert!(results.lock().unwrap().is_empty());
        drop((target, asker));
        scheduler.run_until_idle().unwrap();
        drop(system);
        assert_eq!(
            budget.pool.live_blocks(),
            0,
            "{granted} granted: every block back"
        );
    }
}

/// A supervised asker fails and is restarted in place while its request is pending:
/// the continuation, a message in the queue, runs on the new instance.
#[test]
fn a_restarted_asker_runs_the_continuation_on_its_new_instance() {
    let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
    let memory: Memory = Arc::new(CountingResource::new(PoolResource::new()));
    let system = System::new(scheduler.clone(), memory.clone());
    let target = system.spawn(Holder { replies: vec![] }).unwrap();
    let supervisor = system
        .spawn(Supervisor::new(
            RestartStrategy::OneForOne,
            zeta::Intensity::default(),
        ))
        .unwrap();
    let results: Arc<Mutex<Vec<Result<u64, RequestError>>>> = Arc::default();
    let generations = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let factory = {
        let (target, results, generations) = (target.clone(), results.clone(), generations.clone());
        move || Asker {
            target: target.clone(),
            results: results.clone(),
            ran: 0,
            generation: generations.fetch_add(1, Ordering::SeqCst) as u64,
            stops: Arc::default(),
        }
    };
    let mut started = Supervisor::start_child(&supervisor, Restart::Permanent, factory).unwrap();
    scheduler.run_until_idle().unwrap();
    let asker = started.try_take().unwrap().unwrap().unwrap();
    drop(started);
    let seen_in = seen.clone();
    asker
        .send(Box::new(
            move |this: &mut Asker, ctx: &mut Context<'_, Asker>| {
                let target = this.target.clone();
                ctx.ask(
                    &target,
                    HolderMsg::Ask,
                    move |this: &mut Asker, _ctx, result| {
                        seen_in.lock().unwrap().push((this.generation, result));
                    },
                )
                .unwrap();
            },
        ))
        .unwrap_or_else(|_| panic!("alive"));
    scheduler.run_until_idle().unwrap();
    asker
        .send(Box::new(|_: &mut Asker, _: &mut Context<'_, Asker>| {
            panic!("the first instance fails")
        }))
        .unwrap_or_else(|_| panic!("alive"));
    scheduler.run_until_idle().unwrap();
    assert_eq!(generations.load(Ordering::SeqCst), 2, "restarted");
    target.send(HolderMsg::AnswerAll(9)).unwrap();
    scheduler.run_until_idle().unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [(1, Ok(9))],
        "run on the new instance"
    );
    drop((asker, target));
    supervisor.stop().unwrap();
    scheduler.run_until_idle().unwrap();
    drop(supervisor);
    drop(system);
    assert_eq!(memory.live_blocks(), 0);
}

/// Many askers and targets on two workers, every continuation run once.
#[test]
fn continuations_on_a_sharing_scheduler() {
    const ASKERS: usize = 8;
    const EACH: u64 = 2_000;
    let scheduler = SharingScheduler::builder().workers(2).build().unwrap();
    scheduler.start().unwrap();
    let scheduler = Arc::new(scheduler);
    let memory: Memory = Arc::new(CountingResource::new(PoolResource::new()));
    let system = System::new(scheduler.clone(), memory.clone());
    let results: Arc<Mutex<Vec<Result<u64, RequestError>>>> = Arc::default();
    let mut askers = Vec::new();
    for _ in 0..ASKERS {
        let target = system.spawn(Holder { replies: vec![] }).unwrap();
        let asker = system
            .spawn(Asker {
                target,
                results: results.clone(),
                ran: 0,
                generation: 0,
                stops: Arc::default(),
            })
            .unwrap();
        askers.push(asker);
    }
    /// Asks `n`, and from the continuation the next, until `EACH`.
    fn chain(this: &mut Asker, ctx: &mut Context<'_, Asker>, n: u64) {
        let target = this.target.clone();
        ctx.ask(
            &target,
            move |reply| HolderMsg::Answer(n, reply),
            move |this: &mut Asker, ctx, result| {
                assert_eq!(result, Ok(n));
                this.ran += 1;
                if n + 1 < EACH {
                    chain(this, ctx, n + 1);
                } else {
                    this.results.lock().unwrap().push(Ok(this.ran));
                }
            },
        )
        .unwrap();
    }
    for asker in &askers {
        asker
            .send(Box::new(
                |this: &mut Asker, ctx: &mut Context<'_, Asker>| chain(this, ctx, 0),
            ))
            .unwrap_or_else(|_| panic!("alive"));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while results.lock().unwrap().len() < ASKERS {
        assert!(Instant::now() < deadline, "every chain ends");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(results.lock().unwrap().iter().all(|r| *r == Ok(EACH)));
    drop(askers);
    scheduler.stop().unwrap();
    drop(system);
    assert_eq!(memory.live_blocks(), 0);
}
