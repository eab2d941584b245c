//! Regression tests for the hardening of stop, kill and spawn: each case failed (or did
//! not compile) before the change it guards.
//!
//! - A stop always returns, whatever user code runs in the drops it causes: a payload
//!   whose `Drop` asks another actor queued later in the same cancelled batch and
//!   waits (it used to block the stopping thread forever).
//! - Every payload is dropped exactly once, and `on_stop` runs, when a payload's `Drop`
//!   panics while the actor ends, whichever way it ends.
//! - Stop and kill work when the actor's memory resource refuses every allocation.
//! - An actor spawns children on its own scheduler and resource (`Context::spawn`, and
//!   `spawn` with the `Arc<dyn _>` handles a context gives).
//! - A scheduling duty that is forgotten, in any form the API gives it, never strands
//!   messages.
#![cfg(not(zeta_loom))]

use core::alloc::Layout;
use core::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use zeta::arena::{AllocError, CountingResource, MemoryResource, PoolResource};
use zeta::{
    spawn, Actor, Address, Context, Enqueued, ManualScheduler, Priority, Reply, RequestError,
    Scheduler, SharingScheduler, StopReason, System, Undelivered,
};

/// Far longer than any case takes; only reached when a case hangs.
const HANG: Duration = Duration::from_secs(60);

/// Runs `f` on its own thread and fails the test if it has not returned within
/// [`HANG`] (the thread is left behind: it is stuck).
fn must_return(what: &str, f: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    if finished.recv_timeout(HANG).is_err() {
        panic!("{what}: did not return within {HANG:?} (hung)");
    }
}

// ---------------------------------------------------------------------------------
// Item: a stop always returns.

/// The actor the blocking drop asks.
struct Echo;

impl Actor for Echo {
    type Message = Reply<u32>;
    fn handle(&mut self, reply: Reply<u32>, _ctx: &mut Context<'_, Self>) {
        let _ = reply.send(7);
    }
}

/// A payload whose `Drop` asks `Echo` and blocks on the answer.
struct AsksOnDrop {
    echo: Address<Echo>,
    outcome: Arc<Mutex<Vec<Result<u32, RequestError>>>>,
}

impl Drop for AsksOnDrop {
    fn drop(&mut self) {
        let outcome = match self.echo.ask(|reply| reply) {
            Ok(future) => future.wait(),
            Err(_) => Err(RequestError::NoReply),
        };
        self.outcome.lock().unwrap().push(outcome);
    }
}

struct Holder;

impl Actor for Holder {
    type Message = AsksOnDrop;
    fn handle(&mut self, _payload: AsksOnDrop, _ctx: &mut Context<'_, Self>) {}
}

#[test]
fn stop_returns_when_a_dropped_payload_waits_on_an_actor_cancelled_after_it() {
    // Both send orders: one of them puts the waited-on actor after the holder in the
    // cancelled batch (the order that used to hang).
    for echo_first in [false, true] {
        let outcome = Arc::new(Mutex::new(Vec::new()));
        let result = outcome.clone();
        must_return(
            &format!("drop(System), echo first: {echo_first}"),
            move || {
                let memory = Arc::new(CountingResource::new(PoolResource::new()));
                let system =
                    System::new(Arc::new(ManualScheduler::new(64).unwrap()), memory.clone());
                let holder = system.spawn(Holder).unwrap();
                let echo = system.spawn(Echo).unwrap();
                let payload = AsksOnDrop {
                    echo: echo.clone(),
                    outcome,
                };
                let mut pending = None;
                if echo_first {
                    pending = Some(echo.ask(|reply| reply).unwrap());
                }
                holder.send(payload).unwrap();
                if !echo_first {
                    pending = Some(echo.ask(|reply| reply).unwrap());
                }
                // Nothing ran: both actors are queued when the system stops.
                drop(system);
                assert_eq!(pending.unwrap().wait(), Err(RequestError::NoReply));
                drop((holder, echo));
                assert_eq!(memory.live_blocks(), 0, "every block back");
            },
        );
        let outcome = result.lock().unwrap();
        assert_eq!(outcome.len(), 1, "the payload was dropped once");
        assert!(
            matches!(
                outcome[0],
                Err(RequestError::WouldBlock) | Err(RequestError::NoReply)
            ),
            "a wait in an engine-run drop is refused, not blocked: {:?}",
            outcome[0]
        );
    }
}

#[test]
fn stop_returns_when_a_dropped_payload_waits_on_a_sharing_scheduler() {
    must_return("drop(System) on a sharing scheduler", || {
        let outcome = Arc::new(Mutex::new(Vec::new()));
        let system = System::sharing(1).unwrap();
        let holder = system.spawn(Holder).unwrap();
        let echo = system.spawn(Echo).unwrap();
        // Hold the only worker so both stay queued until the stop.
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        struct Gate(Arc<(Mutex<bool>, std::sync::Condvar)>);
        impl Actor for Gate {
            type Message = ();
            fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {
                let (open, opened) = &*self.0;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = opened.wait(open).unwrap();
                }
            }
        }
        let blocker = system.spawn(Gate(gate.clone())).unwrap();
        blocker.send(()).unwrap();
        holder
            .send(AsksOnDrop {
                echo: echo.clone(),
                outcome: outcome.clone(),
            })
            .unwrap();
        let pending = echo.ask(|reply| reply).unwrap();
        // Open the gate from another thread once the stop has begun (a stopping
        // scheduler refuses new jobs: poll with an idle actor until it does).
        let opener = std::thread::spawn({
            let system_scheduler = system.scheduler().clone();
            move || {
                struct Nop;
                impl Actor for Nop {
                    type Message = ();
                    fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
                }
                let probe = spawn(Nop, Arc::new(PoolResource::new()), system_scheduler).unwrap();
                loop {
                    match probe.send(()) {
                        Err(e) if e.reason() == Undelivered::SchedulerStopped => break,
                        _ => std::thread::sleep(Duration::from_millis(1)),
                    }
                }
                *gate.0.lock().unwrap() = true;
                gate.1.notify_all();
            }
        });
        drop(system);
        opener.join().unwrap();
        let _ = pending.wait();
        drop((holder, echo, blocker));
        assert_eq!(
            outcome.lock().unwrap().len(),
            1,
            "the payload was dropped once"
        );
    });
}

// ---------------------------------------------------------------------------------
// Item: every payload dropped once, and `on_stop` run, whatever panics.

/// A payload that counts its drops and may panic in `Drop`.
struct Bomb {
    panics: bool,
    drops: Arc<AtomicUsize>,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.panics {
            panic!("a payload's Drop panics on purpose");
        }
    }
}

struct Target {
    end: End,
    stops: Arc<Mutex<Vec<StopReason>>>,
}

impl Actor for Target {
    type Message = Bomb;
    fn handle(&mut self, _bomb: Bomb, ctx: &mut Context<'_, Self>) {
        match self.end {
            End::CtxStop => ctx.stop(),
            End::HandlerPanic => panic!("a handler panics on purpose"),
            End::Kill | End::SchedulerStop => {}
        }
    }
    fn on_stop(&mut self, reason: StopReason) {
        self.stops.lock().unwrap().push(reason);
    }
}

#[derive(Clone, Copy, Debug)]
enum End {
    /// `ctx.stop()` in the first handler, with the rest queued.
    CtxStop,
    /// `kill()` after the first message ran.
    Kill,
    /// The scheduler stops with the messages queued.
    SchedulerStop,
    /// The first handler panics, with the rest queued.
    HandlerPanic,
}

#[test]
fn a_panicking_payload_drop_leaks_nothing_and_on_stop_runs() {
    const QUEUED: usize = 10;
    for end in [
        End::CtxStop,
        End::Kill,
        End::SchedulerStop,
        End::HandlerPanic,
    ] {
        let case = format!("{end:?}");
        let memory = Arc::new(CountingResource::new(PoolResource::new()));
        let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
        let drops = Arc::new(AtomicUsize::new(0));
        let stops = Arc::new(Mutex::new(Vec::new()));
        let target = spawn(
            Target {
                end,
                stops: stops.clone(),
            },
            memory.clone(),
            scheduler.clone(),
        )
        .unwrap();
        let bomb = |panics| Bomb {
            panics,
            drops: drops.clone(),
        };
        // The first message starts the actor (and ends it, for CtxStop and
        // HandlerPanic, once the rest is queued behind it).
        target.send(bomb(false)).unwrap();
        if matches!(end, End::Kill | End::SchedulerStop) {
            scheduler.run_until_idle().unwrap();
        }
        for i in 0..QUEUED {
            target.send(bomb(i == 3)).unwrap();
        }
        match end {
            End::CtxStop | End::HandlerPanic => {
                let stats = scheduler.run_until_idle().unwrap();
                assert_eq!(stats.panics, 1, "{case}: the panic is reported once");
            }
            End::Kill => {
                target.kill().unwrap();
                let stats = scheduler.run_until_idle().unwrap();
                assert_eq!(stats.panics, 1, "{case}: the panic is reported once");
            }
            End::SchedulerStop => {
                scheduler.stop().unwrap();
            }
        }
        drop(target);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            QUEUED + 1,
            "{case}: every payload dropped exactly once"
        );
        let expected = match end {
            End::CtxStop => StopReason::Stopped,
            End::Kill => StopReason::Killed,
            End::SchedulerStop => StopReason::SchedulerStopped,
            End::HandlerPanic => StopReason::Panicked("a handler panics on purpose".into()),
        };
        assert_eq!(*stops.lock().unwrap(), [expected], "{case}: on_stop once");
        assert_eq!(memory.live_blocks(), 0, "{case}: every block back");
    }
}

// ---------------------------------------------------------------------------------
// Item: control never fails for lack of memory.

/// A pool that can be told to refuse every allocation.
struct Exhaustible {
    pool: PoolResource,
    refuse: AtomicBool,
    refused: AtomicUsize,
}

// SAFETY: forwards to a pool (which upholds the contract) or refuses; frees go back to
// the pool they came from.
unsafe impl MemoryResource for Exhaustible {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        if self.refuse.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(AllocError);
        }
        self.pool.allocate(layout)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller's duty: the block came from `allocate`, i.e. the pool.
        unsafe { self.pool.deallocate(ptr, layout) }
    }
}

struct Worker {
    stops: Arc<Mutex<Vec<StopReason>>>,
}

impl Actor for Worker {
    type Message = u64;
    fn handle(&mut self, _n: u64, _ctx: &mut Context<'_, Self>) {}
    fn on_stop(&mut self, reason: StopReason) {
        self.stops.lock().unwrap().push(reason);
    }
}

#[test]
fn stop_and_kill_work_when_the_resource_refuses_every_allocation() {
    for (threads, kill) in [(0, false), (0, true), (2, false), (2, true)] {
        let case = format!("{threads} workers, kill: {kill}");
        let memory = Arc::new(Exhaustible {
            pool: PoolResource::new(),
            refuse: AtomicBool::new(false),
            refused: AtomicUsize::new(0),
        });
        let manual = (threads == 0).then(|| Arc::new(ManualScheduler::new(64).unwrap()));
        let scheduler: Arc<dyn Scheduler> = match &manual {
            Some(manual) => manual.clone(),
            None => {
                let sharing = SharingScheduler::builder()
                    .workers(threads)
                    .build()
                    .unwrap();
                sharing.start().unwrap();
                Arc::new(sharing)
            }
        };
        let stops = Arc::new(Mutex::new(Vec::new()));
        let worker = spawn(
            Worker {
                stops: stops.clone(),
            },
            memory.clone(),
            scheduler.clone(),
        )
        .unwrap();
        worker.send(1).unwrap(); // started and idle again
        let drive = || {
            if let Some(manual) = &manual {
                manual.run_until_idle().unwrap();
            }
        };
        drive();
        // Started (an actor killed before its first run ends with no hooks at all).
        let deadline = std::time::Instant::now() + HANG;
        while worker.handled() == 0 {
            assert!(std::time::Instant::now() < deadline, "{case}: never ran");
            std::thread::yield_now();
        }

        memory.refuse.store(true, Ordering::SeqCst);
        let refused = worker.send(2).unwrap_err();
        assert_eq!(refused.reason(), Undelivered::OutOfMemory, "{case}");
        let before = memory.refused.load(Ordering::SeqCst);
        if kill {
            worker.kill().unwrap();
        } else {
            worker.stop().unwrap();
        }
        assert_eq!(
            memory.refused.load(Ordering::SeqCst),
            before,
            "{case}: the control asked for no memory"
        );
        drive();
        let deadline = std::time::Instant::now() + HANG;
        while stops.lock().unwrap().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "{case}: never stopped"
            );
            std::thread::yield_now();
        }
        let reason = if kill {
            StopReason::Killed
        } else {
            StopReason::Stopped
        };
        assert_eq!(*stops.lock().unwrap(), [reason], "{case}");
        assert!(worker.stop().is_err(), "{case}: stopped already");
        scheduler.stop().unwrap();
    }
}

// ---------------------------------------------------------------------------------
// Item: children on the parent's scheduler and resource.

struct Leaf;

impl Actor for Leaf {
    type Message = Reply<u32>;
    fn handle(&mut self, reply: Reply<u32>, _ctx: &mut Context<'_, Self>) {
        let _ = reply.send(1);
    }
}

/// Spawns one child each way and hands the addresses back.
struct Parent;

impl Actor for Parent {
    type Message = Reply<Vec<Address<Leaf>>>;
    fn handle(&mut self, reply: Reply<Vec<Address<Leaf>>>, ctx: &mut Context<'_, Self>) {
        let children = vec![
            ctx.spawn(Leaf).unwrap(),
            ctx.spawn_in(Arc::new(PoolResource::new()), Leaf).unwrap(),
            // The handles a context gives are accepted by `spawn` as they are.
            spawn(Leaf, ctx.resource().clone(), ctx.scheduler().clone()).unwrap(),
            spawn(
                Leaf,
                ctx.resource().clone(),
                ctx.address().scheduler().clone(),
            )
            .unwrap(),
        ];
        let _ = reply.send(children);
    }
}

#[test]
fn an_actor_spawns_children_on_its_own_scheduler_and_resource() {
    for threaded in [false, true] {
        let memory = Arc::new(CountingResource::new(PoolResource::new()));
        let manual = Arc::new(ManualScheduler::new(64).unwrap());
        let scheduler: Arc<dyn Scheduler> = if threaded {
            let sharing = SharingScheduler::builder().workers(2).build().unwrap();
            sharing.start().unwrap();
            Arc::new(sharing)
        } else {
            manual.clone()
        };
        let parent = spawn(Parent, memory.clone(), scheduler.clone()).unwrap();
        let mut asked = parent.ask(|reply| reply).unwrap();
        manual.run_until_idle().unwrap();
        let children = asked.wait_timeout(HANG).unwrap();
        drop(asked);
        assert_eq!(children.len(), 4);
        // On a worker the reply can be seen before the handler has returned and
        // its message node (and the reply's share of the slot) have gone back to
        // the parent's memory: wait for the worker to finish the turn.
        let deadline = std::time::Instant::now() + HANG;
        while memory.live_blocks() != 1 + 3 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(
            memory.live_blocks(),
            1 + 3,
            "the parent and 3 children in its memory"
        );
        for child in &children {
            assert!(
                Arc::ptr_eq(child.scheduler(), &scheduler),
                "the parent's scheduler"
            );
            let mut answer = child.ask(|reply| reply).unwrap();
            manual.run_until_idle().unwrap();
            assert_eq!(answer.wait_timeout(HANG), Ok(1));
        }
        drop((parent, children));
        scheduler.stop().unwrap();
        assert_eq!(memory.live_blocks(), 0);
    }
}

// ---------------------------------------------------------------------------------
// Item: a forgotten duty never strands messages.

struct Tally(Arc<AtomicUsize>);

impl Actor for Tally {
    type Message = u32;
    fn handle(&mut self, _n: u32, _ctx: &mut Context<'_, Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_forgotten_duty_never_strands_messages() {
    #[derive(Debug, Clone, Copy)]
    enum Forget {
        /// The borrowed duty is dropped.
        Borrowed,
        /// The owned duty is dropped (on another thread).
        Owned,
        /// The owned duty is turned into a run-queue entry that is dropped unrun: the
        /// actor is cancelled, its messages dropped, nothing waits forever.
        QueuedEntry,
    }
    for forget in [Forget::Borrowed, Forget::Owned, Forget::QueuedEntry] {
        let handled = Arc::new(AtomicUsize::new(0));
        let system = System::manual(64).unwrap();
        let tally = system.spawn(Tally(handled.clone())).unwrap();
        match tally.enqueue(Priority::Normal, 1).unwrap() {
            Enqueued::MustSchedule(duty) => match forget {
                Forget::Borrowed => drop(duty),
                Forget::Owned => {
                    let owned = duty.into_owned();
                    std::thread::spawn(move || drop(owned)).join().unwrap();
                }
                Forget::QueuedEntry => drop(duty.into_owned().into_queued()),
            },
            Enqueued::Queued => panic!("{forget:?}: the actor was idle"),
        }
        // A later message finds the actor scheduled, or refused if it was cancelled.
        let later = tally.send(2);
        system.scheduler().run_until_idle().unwrap();
        match forget {
            Forget::Borrowed | Forget::Owned => {
                later.unwrap();
                assert_eq!(
                    handled.load(Ordering::SeqCst),
                    2,
                    "{forget:?}: none stranded"
                );
            }
            Forget::QueuedEntry => {
                assert_eq!(handled.load(Ordering::SeqCst), 0, "{forget:?}");
                assert!(!tally.is_alive(), "{forget:?}: cancelled, not left waiting");
                let refused = later.unwrap_err();
                assert_eq!(refused.reason(), Undelivered::ActorStopped, "{forget:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Stop and kill through the seal: the corners.

/// Counts what it handles and records its hooks.
struct Recorder {
    hooks: Arc<Mutex<Vec<&'static str>>>,
    handled: Arc<AtomicUsize>,
}

impl Actor for Recorder {
    type Message = u32;
    fn on_start(&mut self, _ctx: &mut Context<'_, Self>) {
        self.hooks.lock().unwrap().push("start");
    }
    fn handle(&mut self, _n: u32, _ctx: &mut Context<'_, Self>) {
        self.handled.fetch_add(1, Ordering::SeqCst);
    }
    fn on_stop(&mut self, reason: StopReason) {
        self.hooks.lock().unwrap().push(match reason {
            StopReason::Stopped => "stopped",
            StopReason::Killed => "killed",
            _ => "other",
        });
    }
}

#[test]
fn stop_and_kill_corners() {
    #[derive(Debug, Clone, Copy)]
    enum Case {
        /// `stop` of an actor that never received a message: it starts, then stops.
        Fresh,
        /// `stop` with 10 queued, then `kill` before it runs: the kill wins, none of
        /// the 10 is handled.
        ThenKill,
        /// `stop` twice: the second is a no-op while stopping, an error once ended.
        Twice,
    }
    for case in [Case::Fresh, Case::ThenKill, Case::Twice] {
        let system = System::manual(64).unwrap();
        let hooks = Arc::new(Mutex::new(Vec::new()));
        let handled = Arc::new(AtomicUsize::new(0));
        let actor = system
            .spawn(Recorder {
                hooks: hooks.clone(),
                handled: handled.clone(),
            })
            .unwrap();
        let (expected_hooks, expected_handled): (&[&str], usize) = match case {
            Case::Fresh => {
                actor.stop().unwrap();
                (&["start", "stopped"], 0)
            }
            Case::ThenKill => {
                // Started first (a kill before the first run ends it with no hooks).
                actor.send(0).unwrap();
                system.scheduler().run_until_idle().unwrap();
                for n in 1..=10 {
                    actor.send(n).unwrap();
                }
                actor.stop().unwrap();
                actor.kill().unwrap();
                (&["start", "killed"], 1)
            }
            Case::Twice => {
                actor.send(0).unwrap();
                actor.stop().unwrap();
                actor.stop().unwrap();
                (&["start", "stopped"], 1)
            }
        };
        assert!(!actor.accepts(), "{case:?}: accepts nothing once stopped");
        system.scheduler().run_until_idle().unwrap();
        assert!(!actor.is_alive(), "{case:?}: ended");
        assert_eq!(*hooks.lock().unwrap(), expected_hooks, "{case:?}");
        assert_eq!(handled.load(Ordering::SeqCst), expected_handled, "{case:?}");
        assert_eq!(
            actor.stop().unwrap_err().reason(),
            Undelivered::ActorStopped,
            "{case:?}: ended, so stop fails"
        );
        assert_eq!(
            actor.kill().unwrap_err().reason(),
            Undelivered::ActorStopped,
            "{case:?}: ended, so kill fails"
        );
    }
}

/// The last address of an idle actor outlives its system, whose pool goes with the
/// actor's cell: the cell's memory resource (with its handle into the pool) is dropped in
/// place, never passed by value, so no reference into the pool is alive when the pool is
/// freed. A plain run passes either way; under Miri (Stacked or Tree Borrows) the
/// by-value drop was undefined behaviour, which this test showed.
#[test]
fn the_pool_goes_with_the_last_cell_after_its_system() {
    struct Quiet;
    impl Actor for Quiet {
        type Message = ();
        fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {}
    }
    let system = System::manual(64).unwrap();
    let quiet = system.spawn(Quiet).unwrap();
    drop(system);
    drop(quiet);
}

/// A panic's message compares and hashes by its text, however it was made: a literal's
/// equals the same text formatted at run time.
#[test]
fn panic_messages_compare_by_their_text() {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};
    let literal = zeta::PanicMessage::from("level 7");
    let formatted = zeta::PanicMessage::from(format!("level {}", 7));
    assert_eq!(literal, formatted);
    let hash = |message: &zeta::PanicMessage| {
        let mut hasher = DefaultHasher::new();
        message.hash(&mut hasher);
        hasher.finish()
    };
    assert_eq!(hash(&literal), hash(&formatted));
    assert_ne!(literal, zeta::PanicMessage::from("level 8"));
    assert_eq!(
        zeta::StopReason::Panicked(literal),
        zeta::StopReason::Panicked(formatted)
    );
}

/// A shutdown with no deadline (`Duration::MAX`) waits for the trees instead of
/// panicking on the deadline's arithmetic.
#[test]
fn a_shutdown_with_no_deadline_waits() {
    struct Idle;
    impl zeta::Actor for Idle {
        type Message = ();
        fn handle(&mut self, _: (), _ctx: &mut zeta::Context<'_, Self>) {}
    }
    let system = zeta::System::sharing(1).unwrap();
    let tree = zeta::Supervisor::new(
        zeta::RestartStrategy::OneForOne,
        zeta::Intensity {
            max_restarts: 1,
            within: std::time::Duration::from_secs(1),
        },
    )
    .with_child(zeta::Restart::Permanent, || Idle);
    system.spawn_supervisor(tree).unwrap();
    let report = system.shutdown(std::time::Duration::MAX).unwrap();
    assert_eq!(report.ends.stopped, 2);
    assert!(!report.timed_out);
}
