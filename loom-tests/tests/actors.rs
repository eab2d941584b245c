//! The actor layer end to end, through the public API of `zeta`: requests answered
//! while the asker gives up, and an actor messaged (or killed, or stopped) from two
//! threads at once.
//!
//! What every model checks:
//!
//! - Memory: each iteration spawns into its own [`Memory`] (a [`CountingResource`] over
//!   the global allocator), and ends, once every address, future and the scheduler are
//!   gone, with `live_blocks() == 0`: the actor's cell and every message or request
//!   node were returned exactly once (a node freed twice wraps the count). And the
//!   cell's return happens after the actor's drop, wherever each happens ([`Memory`]'s
//!   witness): the weak count's Release/Acquire.
//! - Values: every value a model makes is a [`Counted`], which counts its drops in a loom
//!   `Arc<AtomicUsize>`; each is dropped exactly once, by whoever ended with it. One
//!   never dropped also leaks its loom `Arc`, which loom reports.
//! - Exclusivity: the actor's handlers and `on_stop` touch a loom [`UnsafeCell`] in the
//!   shared [`Tally`] mutably, and swap an "inside" flag: two runs of one actor that
//!   overlap, or that follow each other on different threads without happens-before,
//!   fail loom's cell checks (or the flag's assertion).
//!
//! Scheduling is explicit and loom-visible: [`LoomFifo`] is a `zeta::Scheduler` over a
//! loom `Mutex<VecDeque<QueuedJob>>`, built on `JobRef::into_queued` and
//! `QueuedJob::run` like any user scheduler. A thread that sends then drains it, so a
//! job queued by a send is run by that sender or by the runner that requeues it.
//!
//! A handler's panic (a failed assertion, or a loom cell check, which panics) is caught
//! by `QueuedJob::run`, like any handler panic; [`LoomFifo::drain`] turns it back into a
//! failure of the model.
//!
//! Every thread calls [`Interleave::point`] between the operations it performs: loom
//! 0.7's DPOR can miss a race between one thread's plain load and another's
//! read-modify-write when a third access intervenes (see `handshake.rs`); the point is a
//! Relaxed read-modify-write on a separate counter, so it orders nothing.
//!
//! `Future::wait` is never used: it sleeps or parks outside loom's sight. The models
//! join, then look with `is_ready`/`try_take`.
#![cfg(zeta_loom)]

use core::alloc::Layout;
use core::ptr::NonNull;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicPtr as StdAtomicPtr, AtomicUsize as StdAtomicUsize};
use std::time::Instant;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use loom::sync::{Arc, Mutex};
use loom::thread;
use zeta::arena::{AllocError, CountingResource, GlobalResource, MemoryResource};
use zeta::scheduler::{QueuedJob, SchedulerError, StopReport, Stopped};
use zeta::{Actor, Context, Reply, Scheduler, StopReason, Undelivered};

/// The memory every model spawns into: the global allocator, counted, with a
/// loom-visible witness of the actor cell's return.
///
/// The cell goes back to the resource when its last weak reference goes (the strong
/// side's, given up by `destroy` after it dropped the actor, or a request node's), on
/// whichever thread that is. Everything the other holders did to the cell must happen
/// before that: the weak count's Release decrement and Acquire load. Loom cannot see
/// the cell's own memory (it is plain memory from the global allocator), so the models
/// make the two ends visible: the actor's `Drop` (the last use of the strong side) and
/// this resource's `deallocate` of the cell's block both write the [`Tally`]'s loom
/// cell, and loom fails the model if the drop does not happen before the free.
struct Memory {
    counting: CountingResource<GlobalResource>,
    /// The first block allocated: the actor's cell (`spawn` allocates nothing else
    /// first). A std atomic: written once, before any model thread exists.
    cell: StdAtomicPtr<u8>,
    tally: Arc<Tally>,
}

impl Memory {
    fn new(tally: &Arc<Tally>) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            counting: CountingResource::new(GlobalResource),
            cell: StdAtomicPtr::new(core::ptr::null_mut()),
            tally: Arc::clone(tally),
        })
    }

    fn live_blocks(&self) -> usize {
        self.counting.live_blocks()
    }
}

// SAFETY: every block comes from, and goes back to, the counting resource; the rest is
// bookkeeping.
unsafe impl MemoryResource for Memory {
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        let block = self.counting.allocate(layout)?;
        // Relaxed: the first call is `spawn`'s, on the model's main thread before it
        // spawns any other; later calls only read that.
        let _ = self.cell.compare_exchange(
            core::ptr::null_mut(),
            block.as_ptr(),
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(block)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // Relaxed: as above.
        if ptr.as_ptr() == self.cell.load(std::sync::atomic::Ordering::Relaxed) {
            self.tally.witness(|seen| seen.cell_freed += 1);
        }
        // SAFETY: the caller's duty: `ptr` came from `allocate(layout)`, which got it
        // from the counting resource.
        unsafe { self.counting.deallocate(ptr, layout) }
    }
}

/// Runs `model` through [`loom::model`] and prints how many executions it explored and
/// how long that took (visible with `--nocapture`).
fn explore(name: &str, model: impl Fn() + Sync + Send + 'static) {
    let executions = std::sync::Arc::new(StdAtomicUsize::new(0));
    let counter = executions.clone();
    let start = Instant::now();
    loom::model(move || {
        // Relaxed: a std counter outside the model, read after `model` returns.
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        model();
    });
    eprintln!(
        "loom model {name}: {} executions in {:.2?}",
        executions.load(std::sync::atomic::Ordering::Relaxed),
        start.elapsed()
    );
}

/// Explicit scheduling points (see the module documentation).
#[derive(Clone)]
struct Interleave(Arc<AtomicUsize>);

impl Interleave {
    fn new() -> Self {
        Self(Arc::new(AtomicUsize::new(0)))
    }

    /// A point where loom may switch to any other thread.
    fn point(&self) {
        // Relaxed: only the scheduling point matters, never the value; with no Release
        // fence anywhere it creates no happens-before edge, so it hides no bug.
        self.0.fetch_add(1, Relaxed);
    }
}

/// A FIFO scheduler loom can see: the run queue is a loom mutex.
struct LoomFifo {
    queue: Mutex<VecDeque<QueuedJob>>,
    stopped: AtomicBool,
    /// How many messages a run may handle: 1 makes runs end with `Resume` (and block
    /// only after a full batch); more, with `Awaiting` once the inbox is empty.
    max_throughput: usize,
}

impl LoomFifo {
    fn new(max_throughput: usize) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            queue: Mutex::new(VecDeque::new()),
            stopped: AtomicBool::new(false),
            max_throughput,
        })
    }

    fn pop(&self) -> Option<QueuedJob> {
        self.queue.lock().unwrap().pop_front()
    }

    /// Runs jobs until the queue is empty; returns how many runs that took.
    ///
    /// # Panics
    ///
    /// If a job's `resume` panicked (a handler's assertion or a loom check failed).
    fn drain(&self) -> usize {
        let mut runs = 0;
        while let Some(job) = self.pop() {
            let ran = job.run(self.max_throughput);
            runs += 1;
            assert!(
                ran.info.is_some(),
                "an actor's resume panicked (see the message above)"
            );
            if let Some(again) = ran.requeue {
                self.queue.lock().unwrap().push_back(again);
            }
        }
        runs
    }
}

impl Scheduler for LoomFifo {
    fn submit(&self, queued: QueuedJob) -> Result<(), Stopped> {
        // Relaxed: the models stop the scheduler only after joining every thread.
        if self.stopped.load(Relaxed) {
            return Err(Stopped::new(queued));
        }
        self.queue.lock().unwrap().push_back(queued);
        Ok(())
    }

    fn start(&self) -> Result<(), SchedulerError> {
        Ok(())
    }

    fn stop(&self) -> Result<StopReport, SchedulerError> {
        self.stopped.store(true, Relaxed);
        let cancelled: Vec<QueuedJob> = self.queue.lock().unwrap().drain(..).collect();
        let cancelled = cancelled.into_iter().map(QueuedJob::cancel).count();
        Ok(StopReport {
            cancelled: cancelled as u64,
        })
    }
}

/// A value that counts how often it is made and dropped.
struct Counted {
    counts: Arc<Counts>,
}

/// What happened to the [`Counted`] values of one iteration.
#[derive(Default)]
struct Counts {
    made: AtomicUsize,
    dropped: AtomicUsize,
}

impl Counts {
    fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Asserts that every value made was dropped exactly once, and returns how many.
    fn assert_balanced(&self) -> usize {
        // Relaxed: read after every thread that makes or drops a value was joined.
        let made = self.made.load(Relaxed);
        let dropped = self.dropped.load(Relaxed);
        assert_eq!(made, dropped, "{made} values made, {dropped} dropped");
        made
    }
}

impl Counted {
    fn new(counts: &Arc<Counts>) -> Self {
        // Relaxed: only counted; read after the joins.
        counts.made.fetch_add(1, Relaxed);
        Self {
            counts: Arc::clone(counts),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // Relaxed: only counted; read after the joins.
        self.counts.dropped.fetch_add(1, Relaxed);
    }
}

/// The actor's bookkeeping, shared with the model so it can be read after the joins.
struct Tally {
    /// Messages handled and `on_stop` calls, touched only from the actor's handlers and
    /// hooks: loom checks that no two such accesses race.
    seen: UnsafeCell<Seen>,
    /// Set while a handler or hook runs: a second one entering at once fails.
    inside: AtomicBool,
}

#[derive(Clone, Debug, Default)]
struct Seen {
    handled: usize,
    stops: Vec<StopReason>,
    /// The actor was dropped (`Drop` of the actor struct).
    actor_dropped: usize,
    /// The actor's cell went back to the resource.
    cell_freed: usize,
}

// SAFETY: `seen` is touched by the actor's handlers and hooks, which the engine runs one
// at a time with happens-before between them (what these models check: loom fails any
// access that races), and by the model after joining every thread that ran them.
unsafe impl Sync for Tally {}

impl Tally {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            seen: UnsafeCell::new(Seen::default()),
            inside: AtomicBool::new(false),
        })
    }

    /// Runs `f` on the actor's bookkeeping, as one of its handlers or hooks.
    fn record(&self, f: impl FnOnce(&mut Seen)) {
        // Relaxed: an RMW, so loom tries every order of two entries; the cell's checks
        // are what catch unordered runs, this catches overlapping ones outright.
        assert!(
            !self.inside.swap(true, Relaxed),
            "two handlers of one actor ran at once"
        );
        // SAFETY: the engine runs an actor's handlers and hooks one at a time (checked
        // by loom on this very access, and by the flag above).
        self.seen.with_mut(|seen| f(unsafe { &mut *seen }));
        self.inside.store(false, Relaxed);
    }

    /// Runs `f` on the bookkeeping from the actor's drop or the cell's free (not
    /// handlers, so without the flag).
    fn witness(&self, f: impl FnOnce(&mut Seen)) {
        // SAFETY: the actor's drop comes after its last handler and hook, and the cell's
        // free after the drop: what the models check (loom fails an access that races).
        self.seen.with_mut(|seen| f(unsafe { &mut *seen }));
    }

    /// What the actor saw.
    ///
    /// # Safety
    ///
    /// Every thread that ran the actor, or may have dropped or freed it, has been joined.
    unsafe fn seen(&self) -> Seen {
        // SAFETY: the caller's duty.
        self.seen.with(|seen| unsafe { (*seen).clone() })
    }
}

/// Answers each request with a fresh [`Counted`].
struct Replier {
    counts: Arc<Counts>,
    tally: Arc<Tally>,
}

impl Actor for Replier {
    type Message = Reply<Counted>;

    fn handle(&mut self, reply: Reply<Counted>, _ctx: &mut Context<'_, Self>) {
        self.tally.record(|seen| seen.handled += 1);
        // `Err` gives the value back when the asker has gone: dropped here.
        drop(reply.send(Counted::new(&self.counts)));
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.tally.record(|seen| seen.stops.push(reason));
    }
}

impl Drop for Replier {
    fn drop(&mut self) {
        self.tally.witness(|seen| seen.actor_dropped += 1);
    }
}

/// Handles [`Counted`] messages (dropping them).
struct Sink {
    tally: Arc<Tally>,
}

impl Actor for Sink {
    type Message = Counted;

    fn handle(&mut self, message: Counted, _ctx: &mut Context<'_, Self>) {
        self.tally.record(|seen| seen.handled += 1);
        drop(message);
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.tally.record(|seen| seen.stops.push(reason));
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.tally.witness(|seen| seen.actor_dropped += 1);
    }
}

/// How the asker gives up in [`reply_racing_asker`].
#[derive(Clone, Copy)]
enum GiveUp {
    /// Drops its address, then the future: the actor's last strong reference may go on
    /// either thread, and so may the request node's last holder, after it.
    DropAddressThenFuture,
    /// Looks for the reply once (`try_take`), then cancels.
    TakeThenCancel,
    /// Drops the future on a thread of its own while the main thread drops the
    /// address: three threads, every order of the two drops and the run.
    DropBothOnTwoThreads,
}

/// The asker asks, then gives up (`how`) while a runner thread runs the actor, whose
/// handler replies. Nothing leaks, the value is dropped exactly once, and the actor ends
/// once, dropped, when its last address goes.
fn reply_racing_asker(how: GiveUp) {
    let tally = Tally::new();
    let memory = Memory::new(&tally);
    let fifo = LoomFifo::new(16);
    let counts = Counts::new();
    let points = Interleave::new();
    let replier = zeta::spawn(
        Replier {
            counts: Arc::clone(&counts),
            tally: Arc::clone(&tally),
        },
        memory.clone(),
        fifo.clone(),
    )
    .unwrap_or_else(|_| panic!("the global allocator refused the cell"));
    // Schedules the actor on `fifo`: the runner below runs it.
    let mut future = replier.ask(|reply| reply).expect("the actor is alive");

    let runner = {
        let fifo = fifo.clone();
        let points = points.clone();
        thread::spawn(move || {
            points.point();
            fifo.drain()
        })
    };

    let mut kept = Some(replier);
    match how {
        GiveUp::DropAddressThenFuture => {
            points.point();
            drop(kept.take());
            points.point();
            drop(future);
        }
        GiveUp::TakeThenCancel => {
            points.point();
            match future.try_take() {
                // The value is dropped here, the one drop it gets.
                None | Some(Ok(_)) => {}
                Some(Err(error)) => panic!("the handler replies, yet the asker got {error:?}"),
            }
            points.point();
            future.cancel();
        }
        GiveUp::DropBothOnTwoThreads => {
            let asker = {
                let points = points.clone();
                thread::spawn(move || {
                    points.point();
                    drop(future);
                })
            };
            points.point();
            drop(kept.take());
            asker.join().expect("asker panicked");
        }
    }

    let runs = runner.join().expect("runner panicked");
    assert_eq!(runs, 1, "one request: one run");
    assert_eq!(fifo.drain(), 0, "nothing left to run after the join");
    // The actor is idle: dropping its last address (if still kept) ends it here.
    drop(kept);
    assert_eq!(fifo.stop().expect("stop").cancelled, 0);
    drop(fifo);

    assert_eq!(counts.assert_balanced(), 1, "the handler made one value");
    // SAFETY: the runner was joined, and the actor has ended (its last address is gone
    // and it was idle), on this thread or on the runner.
    let seen = unsafe { tally.seen() };
    assert_eq!(seen.handled, 1, "one request handled");
    assert_eq!(
        seen.stops,
        [StopReason::Dropped],
        "ended once, when dropped"
    );
    assert_eq!((seen.actor_dropped, seen.cell_freed), (1, 1), "{seen:?}");
    assert_eq!(
        memory.live_blocks(),
        0,
        "the cell and the request node went back to the resource"
    );
}

/// A handler replies on the runner thread while the asker drops its address, then its
/// future, on the main thread: the cell's last strong reference (the address, the run
/// queue's entry) and the request node's last holder (the message, the `Reply`, the
/// `Pending`) may each be on either thread, so the cell's memory may be returned by the
/// asker's future after the runner ended the actor (the [`Memory`] witness).
#[test]
fn reply_racing_future_drop() {
    explore("reply_racing_future_drop", || {
        reply_racing_asker(GiveUp::DropAddressThenFuture)
    });
}

/// As [`reply_racing_future_drop`], with the address and the future dropped on two
/// threads, concurrently with the run and with each other.
#[test]
fn reply_racing_future_and_address_drops() {
    explore("reply_racing_future_and_address_drops", || {
        reply_racing_asker(GiveUp::DropBothOnTwoThreads)
    });
}

/// A handler replies while the asker takes a look (`try_take`) and cancels.
#[test]
fn reply_racing_cancel() {
    explore("reply_racing_cancel", || {
        reply_racing_asker(GiveUp::TakeThenCancel)
    });
}

/// What the second thread of [`two_threads_one_actor`] does.
#[derive(Clone, Copy, Debug)]
enum Second {
    /// Sends a message too.
    Send,
    /// Kills the actor.
    Kill,
    /// Stops the actor gracefully.
    Stop,
}

/// Two threads each do one thing to the same idle actor, a `Sink` (the first sends a
/// message, the second does `second`), then drain the scheduler; the main thread drops
/// its address meanwhile, so the actor's last reference may go on any thread.
///
/// Asserts: the actor's runs never overlap and are ordered (the [`Tally`] checks);
/// every message is handled or given back to its sender (a stop seals the inbox: what
/// was pushed before it is handled, what comes after is refused), or, only behind a
/// kill, dropped unhandled; each is dropped exactly once; nothing is left to run after
/// the joins; the actor ends exactly once (a stop or kill of an idle actor wakes it);
/// the memory is all returned.
fn two_threads_one_actor(second: Second, max_throughput: usize) {
    let tally = Tally::new();
    let memory = Memory::new(&tally);
    let fifo = LoomFifo::new(max_throughput);
    let counts = Counts::new();
    let points = Interleave::new();
    let sink = zeta::spawn(
        Sink {
            tally: Arc::clone(&tally),
        },
        memory.clone(),
        fifo.clone(),
    )
    .unwrap_or_else(|_| panic!("the global allocator refused the cell"));

    // Each thread returns how many of its messages came back.
    let first = {
        let (sink, fifo, counts, points) =
            (sink.clone(), fifo.clone(), counts.clone(), points.clone());
        thread::spawn(move || {
            points.point();
            let back = match sink.send(Counted::new(&counts)) {
                Ok(()) => 0,
                Err(error) => {
                    assert_eq!(error.reason(), Undelivered::ActorStopped);
                    drop(error.into_message());
                    1
                }
            };
            points.point();
            fifo.drain();
            back
        })
    };
    let other = {
        let (sink, fifo, counts, points) =
            (sink.clone(), fifo.clone(), counts.clone(), points.clone());
        thread::spawn(move || {
            points.point();
            let back = match second {
                Second::Send => match sink.send(Counted::new(&counts)) {
                    Ok(()) => 0,
                    Err(error) => panic!("nobody stops the actor, yet {error}"),
                },
                Second::Kill => {
                    // A runner that sees the flag and ends the actor before the seal is
                    // in does so because of this kill: `kill` reports success.
                    sink.kill().expect("only this thread ends the actor");
                    0
                }
                Second::Stop => {
                    sink.stop().expect("only this thread ends the actor");
                    0
                }
            };
            points.point();
            fifo.drain();
            back
        })
    };
    drop(sink);

    let back = first.join().expect("first thread panicked")
        + other.join().expect("second thread panicked");
    assert_eq!(
        fifo.drain(),
        0,
        "a message was stranded: nothing ran it before the joins"
    );
    assert_eq!(fifo.stop().expect("stop").cancelled, 0);
    drop(fifo);

    let sent = counts.assert_balanced();
    // SAFETY: every thread that ran the actor was joined; every address is gone, and
    // the actor was idle, so it has ended.
    let seen = unsafe { tally.seen() };
    let (handled, stops) = (seen.handled, seen.stops.clone());
    assert_eq!((seen.actor_dropped, seen.cell_freed), (1, 1), "{seen:?}");
    let expected_stop = match second {
        Second::Send => StopReason::Dropped,
        Second::Kill => StopReason::Killed,
        Second::Stop => StopReason::Stopped,
    };
    if matches!(second, Second::Kill) && handled == 0 && stops.is_empty() {
        // Killed before its first run: it never started, so no hooks ran.
    } else {
        assert_eq!(stops, [expected_stop], "the actor ends once");
    }
    match second {
        Second::Send => assert_eq!((sent, handled, back), (2, 2, 0), "both messages handled"),
        Second::Kill => {
            assert_eq!(sent, 1);
            assert!(handled + back <= 1, "handled {handled}, given back {back}");
        }
        Second::Stop => {
            assert_eq!(sent, 1);
            assert_eq!(
                handled + back,
                1,
                "after a stop nothing is accepted that is then dropped"
            );
        }
    }
    assert_eq!(memory.live_blocks(), 0, "the cell and every node went back");
}

/// Runs [`two_threads_one_actor`] with runs of one message (ending in `Resume`) and
/// of up to 16 (ending in `Awaiting` once the inbox is empty).
fn both_throughputs(name: &'static str, second: Second) {
    for max_throughput in [1, 16] {
        explore(
            &format!("{name} (max_throughput {max_throughput})"),
            move || two_threads_one_actor(second, max_throughput),
        );
    }
}

/// Two threads each send one message to the same idle actor, then drain the
/// scheduler: exactly one send schedules it at a time, its runs never overlap, and both
/// messages are handled exactly once.
#[test]
fn actor_never_resumed_twice_at_once() {
    both_throughputs("actor_never_resumed_twice_at_once", Second::Send);
}

/// One thread sends while another kills: the message is handled (before the kill),
/// given back (after the seal), or dropped unhandled with the queue, and dropped exactly
/// once.
#[test]
fn kill_racing_send() {
    both_throughputs("kill_racing_send", Second::Kill);
}

/// One thread sends while another stops the actor gracefully: the message is handled
/// (pushed before the seal) or given back (after it), never dropped unhandled, and
/// dropped exactly once.
#[test]
fn stop_racing_send() {
    both_throughputs("stop_racing_send", Second::Stop);
}

/// Clones its own address in its handler, and drops the clone before returning.
struct Cloner {
    tally: Arc<Tally>,
}

impl Actor for Cloner {
    type Message = ();

    fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
        self.tally.record(|seen| seen.handled += 1);
        let me = ctx.address().clone();
        drop(me);
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.tally.record(|seen| seen.stops.push(reason));
    }
}

impl Drop for Cloner {
    fn drop(&mut self) {
        self.tally.witness(|seen| seen.actor_dropped += 1);
    }
}

/// The last references of an actor going on several threads at once: (a) two threads
/// drop the last two addresses of an idle actor; (b) one thread sends a message and
/// runs the actor, whose handler clones and drops its own address, while another drops
/// the last outside address.
///
/// Asserts: the actor ends exactly once, with `Dropped`, after its handler (if it ran);
/// it is dropped once and its cell freed once, after the drop (the [`Tally`]'s loom
/// cell orders the three); nothing is left queued; every block goes back.
fn last_references_race(handler_clones: bool) {
    let tally = Tally::new();
    let memory = Memory::new(&tally);
    let fifo = LoomFifo::new(16);
    let points = Interleave::new();
    let actor = zeta::spawn(
        Cloner {
            tally: Arc::clone(&tally),
        },
        memory.clone(),
        fifo.clone(),
    )
    .unwrap_or_else(|_| panic!("the global allocator refused the cell"));
    // Started and idle: its first message handled.
    actor.send(()).unwrap_or_else(|_| panic!("alive"));
    fifo.drain();

    let first = {
        let (actor, fifo, points) = (actor.clone(), fifo.clone(), points.clone());
        thread::spawn(move || {
            points.point();
            if handler_clones {
                actor
                    .send(())
                    .unwrap_or_else(|_| panic!("alive: we hold an address"));
                drop(actor);
                points.point();
                fifo.drain();
            } else {
                drop(actor);
            }
        })
    };
    let second = {
        let (actor, points) = (actor.clone(), points.clone());
        thread::spawn(move || {
            points.point();
            drop(actor);
        })
    };
    drop(actor);
    first.join().expect("first thread panicked");
    second.join().expect("second thread panicked");
    assert_eq!(fifo.drain(), 0, "nothing left to run after the joins");
    assert_eq!(fifo.stop().expect("stop").cancelled, 0);
    drop(fifo);

    // SAFETY: every thread that ran, dropped or freed the actor was joined.
    let seen = unsafe { tally.seen() };
    assert_eq!(seen.handled, 1 + usize::from(handler_clones), "{seen:?}");
    assert_eq!(seen.stops, [StopReason::Dropped], "the actor ends once");
    assert_eq!((seen.actor_dropped, seen.cell_freed), (1, 1), "{seen:?}");
    assert_eq!(memory.live_blocks(), 0, "the cell and every node went back");
}

/// Two threads drop the last two addresses of an idle actor at once.
#[test]
fn two_last_drops_at_once() {
    explore("two_last_drops_at_once", || last_references_race(false));
}

/// An actor clones (and drops) its own address in its handler while another thread
/// drops the last outside address.
#[test]
fn own_address_cloned_while_last_outside_address_drops() {
    explore(
        "own_address_cloned_while_last_outside_address_drops",
        || last_references_race(true),
    );
}

/// An idle `Sink` spawned into its own counted memory on a [`LoomFifo`], and what the
/// last-drop models check after their joins.
struct SinkModel {
    tally: Arc<Tally>,
    memory: std::sync::Arc<Memory>,
    fifo: std::sync::Arc<LoomFifo>,
    counts: Arc<Counts>,
    points: Interleave,
}

impl SinkModel {
    /// The model and the sink's only address.
    fn new() -> (Self, zeta::Address<Sink>) {
        let tally = Tally::new();
        let memory = Memory::new(&tally);
        let fifo = LoomFifo::new(16);
        let sink = zeta::spawn(
            Sink {
                tally: Arc::clone(&tally),
            },
            memory.clone(),
            fifo.clone(),
        )
        .unwrap_or_else(|_| panic!("the global allocator refused the cell"));
        let model = Self {
            tally,
            memory,
            fifo,
            counts: Counts::new(),
            points: Interleave::new(),
        };
        (model, sink)
    }

    /// After the joins, with every address gone: nothing left to run; `sent` values
    /// made, handled, and dropped once each; the actor ended once, with `Dropped`, was
    /// dropped once and its cell freed once, after the drop; every block went back.
    fn assert_ended_dropped(self, sent: usize) {
        assert_eq!(self.fifo.drain(), 0, "nothing left to run after the joins");
        assert_eq!(self.fifo.stop().expect("stop").cancelled, 0);
        drop(self.fifo);
        assert_eq!(self.counts.assert_balanced(), sent);
        // SAFETY: every thread that ran, dropped or freed the actor was joined.
        let seen = unsafe { self.tally.seen() };
        assert_eq!(seen.handled, sent, "{seen:?}");
        assert_eq!(seen.stops, [StopReason::Dropped], "the actor ends once");
        assert_eq!((seen.actor_dropped, seen.cell_freed), (1, 1), "{seen:?}");
        assert_eq!(
            self.memory.live_blocks(),
            0,
            "the cell and every node went back"
        );
    }
}

/// The last address of an actor that is queued (a message sent, not yet handled) drops
/// on the main thread while another thread runs the actor: the drop either claims the
/// blocked actor after its run (and ends it there), or flags its inbox while it is
/// queued or running, and the runner's `try_block` finds the flag and ends it instead of
/// blocking.
///
/// Asserts: the message is handled once; the actor ends exactly once, with `Dropped`,
/// after its handler; it is dropped once and its cell freed once, after the drop;
/// nothing is left to run; every block goes back.
///
/// Breaking it on purpose: with the runner ignoring the orphan flag (`TryBlock::Orphaned`
/// always taken as "a reference was made since"), the actor blocks with no address left
/// and never ends (`the actor ends once` fails: no stop at all); with `orphan` setting
/// the flag without Release (Acquire only), the runner may read the count from before
/// the drop's decrement, take it for a new reference, and block: the same failure (also
/// in `own_address_cloned_while_last_outside_address_drops`); with the runner's final
/// release ignoring the dropper's pin (destroying at no reference left, pins or not),
/// loom reports the dropper's unpin touching the freed job's state word (an access to a
/// dropped loom object; also in the other model).
#[test]
fn last_address_dropped_racing_try_block() {
    explore("last_address_dropped_racing_try_block", || {
        let (model, sink) = SinkModel::new();
        sink.send(Counted::new(&model.counts))
            .unwrap_or_else(|_| panic!("alive"));
        let runner = {
            let (fifo, points) = (model.fifo.clone(), model.points.clone());
            thread::spawn(move || {
                points.point();
                fifo.drain();
            })
        };
        model.points.point();
        drop(sink);
        runner.join().expect("runner panicked");
        model.assert_ended_dropped(1);
    });
}

/// An explicit schedule from outside (`Scheduler::schedule` with a clone of the actor's
/// job, as a user scheduler might start an actor) races a send that unblocks the idle
/// actor; both threads then drain the scheduler. The schedule must go through the same
/// run right as the send (the inbox's unblocked state): exactly one of them queues the
/// actor, so it is never run twice at once.
///
/// Asserts: the actor's runs never overlap and are ordered (the [`Tally`] checks); the
/// message is handled once; nothing is left to run; after the last address goes, the
/// actor ends once, with `Dropped`; every block goes back. The sender sends two
/// messages, so that two runs at once would each find one to handle.
///
/// Breaking it on purpose: with the actor's `claim` taking the run right without the
/// inbox's CAS (always `true`), two entries of the actor exist at once and loom reports
/// two runs racing on the [`Tally`].
#[test]
fn outside_schedule_racing_unblocking_push() {
    explore("outside_schedule_racing_unblocking_push", || {
        let (model, sink) = SinkModel::new();
        // Started and idle.
        sink.send(Counted::new(&model.counts))
            .unwrap_or_else(|_| panic!("alive"));
        model.fifo.drain();

        let scheduler = {
            let (job, fifo, points) =
                (sink.job().clone(), model.fifo.clone(), model.points.clone());
            thread::spawn(move || {
                points.point();
                fifo.schedule(job).expect("the scheduler runs");
                points.point();
                fifo.drain();
            })
        };
        let sender = {
            let (sink, fifo, counts, points) = (
                sink.clone(),
                model.fifo.clone(),
                model.counts.clone(),
                model.points.clone(),
            );
            thread::spawn(move || {
                points.point();
                // Two messages, so that two runs at once would each have one to handle.
                for _ in 0..2 {
                    sink.send(Counted::new(&counts))
                        .unwrap_or_else(|_| panic!("alive: we hold an address"));
                }
                points.point();
                fifo.drain();
            })
        };
        scheduler.join().expect("scheduler thread panicked");
        sender.join().expect("sender panicked");
        assert_eq!(model.fifo.drain(), 0, "nothing left to run after the joins");
        drop(sink);
        model.assert_ended_dropped(3);
    });
}

/// Watching an actor races its end (`Address::stopped` and the watch list): one thread
/// registers a future, drops it, and registers another, whose push sweeps the list
/// (under loom a sweep runs at every push past the first: the dropped future's entry is
/// taken out, the kept one put back), while another thread stops the actor and runs it,
/// which closes the list and fires what it holds.
///
/// Whatever the order (the push before the close, the sweep holding the kept entry
/// while the list closes, the push after the close), the kept future is answered
/// exactly once, with `Stopped`; the dropped one's entry is freed; the reason a late
/// party reads is the one the ender wrote (the watch list's loom cell); every block
/// goes back.
///
/// Breaking it on purpose: with the close's swap `Release` instead of `AcqRel`, or the
/// sweeper re-pushing onto a closed list instead of firing what it holds, this fails.
#[test]
fn watching_races_the_end() {
    explore("watching_races_the_end", || {
        let (model, sink) = SinkModel::new();
        // Started and idle.
        sink.send(Counted::new(&model.counts))
            .unwrap_or_else(|_| panic!("alive"));
        model.fifo.drain();

        let watcher = {
            let (sink, points) = (sink.clone(), model.points.clone());
            thread::spawn(move || {
                let dropped = sink.stopped().expect("memory for the entry");
                drop(dropped);
                points.point();
                sink.stopped().expect("memory for the entry")
            })
        };
        let stopper = {
            let (sink, fifo, points) = (sink.clone(), model.fifo.clone(), model.points.clone());
            thread::spawn(move || {
                points.point();
                sink.stop().expect("alive");
                fifo.drain();
            })
        };
        let mut kept = watcher.join().expect("watcher panicked");
        stopper.join().expect("stopper panicked");
        assert_eq!(model.fifo.drain(), 0, "nothing left to run after the joins");
        assert_eq!(kept.try_take(), Some(Ok(StopReason::Stopped)), "told once");
        assert!(matches!(kept.try_take(), Some(Err(_))), "and only once");
        drop(kept);
        drop(sink);
        assert_eq!(model.fifo.stop().expect("stop").cancelled, 0);
        assert_eq!(model.counts.assert_balanced(), 1);
        // SAFETY: every thread that ran, dropped or freed the actor was joined.
        let seen = unsafe { model.tally.seen() };
        assert_eq!(seen.stops, [StopReason::Stopped], "the actor ends once");
        assert_eq!(
            model.memory.live_blocks(),
            0,
            "the cell and every node went back"
        );
    });
}

/// Counts the `Down`s it is told of, as handled messages in its own [`Tally`].
struct DownCounter {
    tally: Arc<Tally>,
}

impl Actor for DownCounter {
    type Message = ();

    fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {}

    fn on_down(&mut self, _down: zeta::Down, _ctx: &mut Context<'_, Self>) {
        self.tally.record(|seen| seen.handled += 1);
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.tally.record(|seen| seen.stops.push(reason));
    }
}

/// A monitor's registration races its target's end: one thread makes a watcher
/// monitor the sink (the sink's watch list made at this first watch, or the end
/// already recorded in the cell's word), while another stops the sink and runs it.
///
/// Whatever the order, the watcher's `on_down` runs exactly once (the `Down` pushed by
/// the ender, or fired at once by the registration that found the end), nothing is
/// leaked (the watcher, kept alive by its monitor until the `Down`, ends `Dropped` when
/// its last address goes), every block goes back.
///
/// Breaking it on purpose: with a registration that finds the end recorded in the
/// cell's word keeping its entry unfired, the `Down` is lost and this fails.
#[test]
fn monitor_registration_races_the_end() {
    explore("monitor_registration_races_the_end", || {
        let (model, sink) = SinkModel::new();
        let watcher_tally = Tally::new();
        let watcher = zeta::spawn(
            DownCounter {
                tally: Arc::clone(&watcher_tally),
            },
            model.memory.clone(),
            model.fifo.clone(),
        )
        .unwrap_or_else(|_| panic!("the global allocator refused the cell"));
        // Both started and idle.
        sink.send(Counted::new(&model.counts))
            .unwrap_or_else(|_| panic!("alive"));
        watcher.send(()).unwrap_or_else(|_| panic!("alive"));
        model.fifo.drain();

        let registrar = {
            let (watcher, sink, points) = (watcher.clone(), sink.clone(), model.points.clone());
            thread::spawn(move || {
                points.point();
                watcher.monitor(&sink).expect("memory for the monitor")
            })
        };
        let stopper = {
            let (sink, fifo, points) = (sink.clone(), model.fifo.clone(), model.points.clone());
            thread::spawn(move || {
                points.point();
                sink.stop().expect("alive");
                fifo.drain();
            })
        };
        let monitor = registrar.join().expect("registrar panicked");
        stopper.join().expect("stopper panicked");
        model.fifo.drain();
        assert!(
            !monitor.demonitor(),
            "the end came first: too late to take it back"
        );
        // SAFETY: every thread that ran the watcher was joined, and the drain is over.
        let seen = unsafe { watcher_tally.seen() };
        assert_eq!(seen.handled, 1, "exactly one Down");
        drop(watcher);
        model.fifo.drain();
        // SAFETY: as above.
        let seen = unsafe { watcher_tally.seen() };
        assert_eq!(
            seen.stops,
            [StopReason::Dropped],
            "the watcher ends once, left"
        );
        drop(sink);
        assert_eq!(model.fifo.stop().expect("stop").cancelled, 0);
        assert_eq!(model.counts.assert_balanced(), 1);
        // SAFETY: every thread that ran, dropped or freed the actor was joined.
        let seen = unsafe { model.tally.seen() };
        assert_eq!(seen.stops, [StopReason::Stopped], "the sink ends once");
        assert_eq!(
            model.memory.live_blocks(),
            0,
            "every cell and node went back"
        );
    });
}

/// A supervised child for [`restart_racing_a_send`]: records its messages and stops in
/// the shared [`Tally`], which every instance uses.
struct Restartable {
    tally: Arc<Tally>,
}

impl Actor for Restartable {
    type Message = Counted;

    fn handle(&mut self, message: Counted, _ctx: &mut Context<'_, Self>) {
        self.tally.record(|seen| seen.handled += 1);
        drop(message);
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.tally.record(|seen| seen.stops.push(reason));
    }
}

/// A supervised child is killed (and so parked, and restarted in place by its
/// supervisor) on one thread, while another sends it a message; both threads run the
/// scheduler.
///
/// Whatever the order, the message is handled exactly once (by the old instance, or by
/// the new one after the restart) or given back (`ActorStopped`, sent between the
/// kill's seal and the restart's unseal); the old instance's `on_stop` runs once, with
/// `Killed`, and nothing ends the new one; every handler and hook of either instance
/// runs one at a time, in happens-before order (the [`Tally`]'s loom cell: the run right
/// handed from the runner to the parked token, to the supervisor, and back to the
/// scheduler); the child is alive at the end, with the same address; every block goes
/// back.
///
/// It caught a real race: the runner counted a kill on its flag alone, before the
/// kill's seal; the restart took the flag back, and the late seal then stopped the new
/// instance (`[Killed, Stopped]`). A kill now counts once its seal is there too.
#[test]
fn restart_racing_a_send() {
    explore("restart_racing_a_send", || {
        let witness = Tally::new();
        let memory = Memory::new(&witness);
        let fifo = LoomFifo::new(16);
        let counts = Counts::new();
        let points = Interleave::new();
        let tally = Tally::new();
        let intensity = zeta::Intensity {
            max_restarts: 8,
            within: std::time::Duration::from_secs(3600),
        };
        let supervisor = zeta::spawn(
            zeta::Supervisor::new(zeta::RestartStrategy::OneForOne, intensity),
            memory.clone(),
            fifo.clone(),
        )
        .unwrap_or_else(|_| panic!("the global allocator refused the cell"));
        let factory = {
            let tally = Arc::clone(&tally);
            move || Restartable {
                tally: Arc::clone(&tally),
            }
        };
        let mut started =
            zeta::Supervisor::start_child(&supervisor, zeta::Restart::Permanent, factory)
                .unwrap_or_else(|_| panic!("the supervisor is alive"));
        fifo.drain();
        let child = started
            .try_take()
            .expect("answered")
            .expect("a reply")
            .expect("started");
        drop(started);

        let killer = {
            let (child, fifo, points) = (child.clone(), fifo.clone(), points.clone());
            thread::spawn(move || {
                points.point();
                child.kill().expect("alive");
                fifo.drain();
            })
        };
        let sender = {
            let (child, fifo, counts, points) = (
                child.clone(),
                fifo.clone(),
                Arc::clone(&counts),
                points.clone(),
            );
            thread::spawn(move || {
                points.point();
                let accepted = match child.send(Counted::new(&counts)) {
                    Ok(()) => true,
                    Err(error) => {
                        assert_eq!(error.reason(), Undelivered::ActorStopped);
                        false
                    }
                };
                fifo.drain();
                accepted
            })
        };
        killer.join().expect("killer panicked");
        let accepted = sender.join().expect("sender panicked");
        fifo.drain();
        assert!(child.is_alive(), "restarted in place");
        // SAFETY: every thread that ran the child was joined, and the drain is over.
        let seen = unsafe { tally.seen() };
        assert_eq!(
            seen.handled,
            usize::from(accepted),
            "handled once if accepted: {seen:?}"
        );
        assert_eq!(
            seen.stops,
            [StopReason::Killed],
            "the old instance's on_stop, once"
        );

        let mut ended = child.stopped().expect("memory for the future");
        supervisor.stop().expect("alive");
        fifo.drain();
        assert_eq!(
            ended.try_take(),
            Some(Ok(StopReason::Killed)),
            "killed with its supervisor"
        );
        drop((ended, child, supervisor));
        fifo.drain();
        assert_eq!(fifo.stop().expect("stop").cancelled, 0);
        assert_eq!(counts.assert_balanced(), 1);
        assert_eq!(memory.live_blocks(), 0, "every cell and node went back");
    });
}
