//! loom models of the [`SharingScheduler`] protocols: the sleep/wake handshake (see
//! `idle.rs`), the job run states (see `job/state.rs`), stop (see the
//! [parent module](super)), and stop racing the jobs a worker moves to or keeps out of
//! the injector (see `worker.rs` and `injector.rs`).
//!
//! Run with `RUSTFLAGS="--cfg zeta_loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2
//! cargo test --release -p zeta-scheduler --lib` (add `-- --nocapture` to see how many
//! executions each model explored, and which paths). Every model has at most three
//! threads, the main thread included. With 2 preemptions the whole run takes about
//! 140 s on the 2-core VM, almost all of it the two-worker model
//! (`schedule_while_running_…`, ~720 000 executions); the others take a few seconds
//! together.
//!
//! Under the `zeta_loom` cfg the scheduler's workers are loom threads, its run queues
//! loom mutexes holding one job each (`queue.rs`: so a second job overflows), and `spin_before_park` is 0, so a worker with nothing to
//! do goes straight to the sleep protocol. The main thread never spins either: it waits
//! for a job with [`Signal::wait_for`], a loom condition variable. A lost wake-up
//! therefore leaves every thread blocked, which loom reports as a deadlock. (When the
//! deadlock is detected on a worker blocked in `Parker::park`, the panic unwinds into
//! the abort guard of `sync::lock::wait`, so the test binary ends with SIGABRT right
//! after loom's `deadlock; threads = …` message; run a failing model on its own.)
//!
//! A panic inside `resume` (a failed assertion, or loom's causality checker) is caught
//! by [`QueuedJob::run`](crate::QueuedJob::run) and reported through
//! [`Resumable::panicked`]; every job here counts those and the model asserts the count
//! is zero, so such a failure still fails the model.

use std::sync::atomic::AtomicUsize as StdAtomicUsize;
use std::sync::Mutex as StdMutex;
use std::time::Instant;

use ::loom::cell::UnsafeCell;
use ::loom::sync::atomic::AtomicUsize;
use ::loom::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use ::loom::sync::{Arc, Condvar, Mutex};
use ::loom::thread;

use super::SharingScheduler;
use crate::idle::Idle;
use crate::{JobRef, Resumable, ResumeInfo, Scheduler};

/// Runs `model` through [`::loom::model`] and prints how many executions it explored
/// and how long that took (visible with `--nocapture`).
fn explore(name: &'static str, model: impl Fn() + Sync + Send + 'static) {
    static PRINT: StdMutex<()> = StdMutex::new(());
    let executions = std::sync::Arc::new(StdAtomicUsize::new(0));
    let counter = executions.clone();
    let start = Instant::now();
    ::loom::model(move || {
        // Relaxed: a std counter outside the model, read after `model` returns.
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        model();
    });
    let _serial = PRINT.lock();
    eprintln!(
        "loom model {name}: {} executions in {:.2?}",
        executions.load(std::sync::atomic::Ordering::Relaxed),
        start.elapsed()
    );
}

/// How a job tells the main thread it ran: a counter under a loom mutex, and a
/// condition variable the main thread waits on.
///
/// Not `thread::park`/`Thread::unpark`: in loom 0.7 an `unpark` makes the target
/// runnable whatever it is blocked on, so a late `unpark` from a job reaching the main
/// thread while it waits for a loom mutex inside `stop` fails loom's own assertion
/// ("expected to be able to acquire lock"). A condition variable only wakes its waiters.
struct Signal {
    count: Mutex<usize>,
    raised: Condvar,
}

impl Signal {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            count: Mutex::new(0),
            raised: Condvar::new(),
        })
    }

    /// Counts one event and wakes the main thread.
    fn raise(&self) {
        *self.count.lock().expect("no panic under the lock") += 1;
        self.raised.notify_all();
    }

    /// Blocks until `n` events were raised; if they never are, loom reports a deadlock.
    fn wait_for(&self, n: usize) {
        let mut count = self.count.lock().expect("no panic under the lock");
        while *count < n {
            count = self.raised.wait(count).expect("no panic under the lock");
        }
    }
}

/// What happened to a job: resumes, shutdowns, caught panics.
#[derive(Default)]
struct Outcome {
    resumes: AtomicUsize,
    shutdowns: AtomicUsize,
    panics: AtomicUsize,
    /// The first caught panic's message, for the failure report.
    panic_message: StdMutex<Option<String>>,
}

impl Outcome {
    /// `(resumes, shutdowns)`. Relaxed: read after joining every thread that wrote them.
    fn counts(&self) -> (usize, usize) {
        (self.resumes.load(Relaxed), self.shutdowns.load(Relaxed))
    }

    fn record_shutdown(&self) {
        // Relaxed: read after the join (`counts`).
        self.shutdowns.fetch_add(1, Relaxed);
    }

    fn record_panic(&self, payload: &(dyn std::any::Any + Send)) {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned());
        // Relaxed: read after the join (`assert_no_panic`).
        self.panics.fetch_add(1, Relaxed);
        self.panic_message
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(message);
    }

    /// Fails the model if a `resume` panicked (the scheduler caught it).
    fn assert_no_panic(&self) {
        let panics = self.panics.load(Relaxed);
        let message = self
            .panic_message
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        assert_eq!(panics, 0, "a resume panicked: {message:?}");
    }
}

/// Model 1's job: raises the signal and is done.
struct WakeMain {
    signal: Arc<Signal>,
    outcome: Arc<Outcome>,
}

impl Resumable for WakeMain {
    fn resume(&self, _max_throughput: usize) -> ResumeInfo {
        // Relaxed: read after the join (`counts`).
        self.outcome.resumes.fetch_add(1, Relaxed);
        self.signal.raise();
        ResumeInfo::done(1)
    }

    fn shutdown(&self) {
        self.outcome.record_shutdown();
    }

    fn panicked(&self, payload: &(dyn std::any::Any + Send)) {
        self.outcome.record_panic(payload);
    }
}

/// Histogram of `WorkerStats::parks` over the executions of a model, to show which
/// paths it explored.
struct Parks(StdMutex<Vec<usize>>);

impl Parks {
    const fn new() -> Self {
        Self(StdMutex::new(Vec::new()))
    }

    fn record(&self, parks: u64) {
        let parks = usize::try_from(parks).expect("few parks");
        let mut histogram = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if histogram.len() <= parks {
            histogram.resize(parks + 1, 0);
        }
        histogram[parks] += 1;
    }

    fn take(&self) -> Vec<usize> {
        core::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Model 1: a job scheduled from outside (the main thread) while the only worker goes
/// to sleep is never lost; with `before_start`, the job is scheduled before `start`
/// (it waits in the injector, whose `notify_one` finds nobody asleep).
///
/// Bound: main and one worker, one job scheduled once (~1 300 executions; ~270 with
/// `before_start`). The main thread waits until the job has run, then stops the
/// scheduler. If the worker's re-check missed the job *and* the main thread's
/// `notify_one` missed the sleeper, both block: loom reports a deadlock.
///
/// Asserts: the job was resumed exactly once and never told shutdown; `stop` cancelled
/// nothing; the job is complete. Across executions: some execution had the worker park
/// both before the job came and after it ran (so the wake-a-parked-worker path was
/// explored).
fn schedule_races_sleep(before_start: bool) {
    static PARKS: [Parks; 2] = [Parks::new(), Parks::new()];
    let parks = &PARKS[usize::from(before_start)];
    let name = if before_start {
        "schedule_before_start_is_not_lost"
    } else {
        "schedule_races_worker_sleep"
    };
    explore(name, move || {
        let scheduler = SharingScheduler::builder()
            .workers(1)
            .spin_before_park(0)
            .build()
            .expect("valid configuration");
        let signal = Signal::new();
        let outcome = Arc::new(Outcome::default());
        let job = JobRef::new(WakeMain {
            signal: signal.clone(),
            outcome: outcome.clone(),
        });

        if before_start {
            scheduler.schedule(job.clone()).expect("not stopped");
            scheduler.start().expect("starts once");
        } else {
            scheduler.start().expect("starts once");
            scheduler.schedule(job.clone()).expect("not stopped");
        }
        signal.wait_for(1);
        let report = scheduler.stop().expect("stopped from outside");

        outcome.assert_no_panic();
        assert_eq!(outcome.counts(), (1, 0), "(resumes, shutdowns)");
        assert_eq!(report.cancelled, 0);
        assert!(job.is_complete());
        parks.record(scheduler.stats()[0].parks);
    });
    let histogram = parks.take();
    eprintln!("  {name}: executions by worker parks: {histogram:?}");
    if !before_start {
        assert!(
            histogram.len() > 2 && histogram[2] > 0,
            "no execution had the worker asleep before the job came: {histogram:?}"
        );
    }
}

#[test]
fn schedule_races_worker_sleep() {
    schedule_races_sleep(false);
}

#[test]
fn schedule_before_start_is_not_lost() {
    schedule_races_sleep(true);
}

/// State that only the thread resuming the job may touch: a loom cell, so that two
/// resumes that are not ordered by happens-before (running at once, or handed over
/// without synchronisation) fail the model.
struct Exclusive(UnsafeCell<usize>);

// SAFETY: the cell is only accessed through `Exclusive::enter` (by the thread inside
// the job's `resume`, which the job's RUNNING bit makes exclusive) and `Exclusive::get`
// (after every such thread was joined); loom checks exactly that on every access, so a
// scheduler bug fails the model instead of racing.
unsafe impl Sync for Exclusive {}

impl Exclusive {
    fn new() -> Self {
        Self(UnsafeCell::new(0))
    }

    /// Counts one exclusive section.
    ///
    /// # Safety
    ///
    /// The caller is inside the job's `resume`: it holds the job's RUNNING bit.
    unsafe fn enter(&self) {
        // SAFETY: the caller holds RUNNING, so no other thread is in `resume`, and the
        // hand-over of the job from the previous runner (its AcqRel state transitions,
        // the run queues) ordered that runner's access before this one; loom verifies
        // both.
        self.0.with_mut(|sections| unsafe { *sections += 1 });
    }

    /// The number of sections so far.
    ///
    /// # Safety
    ///
    /// Every thread that entered has been joined (the scheduler was stopped).
    unsafe fn get(&self) -> usize {
        // SAFETY: the joins order every `enter` before this read (caller's duty).
        self.0.with(|sections| unsafe { *sections })
    }
}

/// Model 2's job: tells the main thread it started, *then* touches the exclusive
/// state, and waits for the next schedule (`Awaiting`).
///
/// The signal comes first so that the main thread's second `schedule` can overlap the
/// exclusive section: touching the cell before signalling would order it before the
/// second schedule, and a second concurrent resume could go unnoticed.
struct ExclusiveJob {
    signal: Arc<Signal>,
    state: Exclusive,
    outcome: Arc<Outcome>,
}

impl Resumable for ExclusiveJob {
    fn resume(&self, _max_throughput: usize) -> ResumeInfo {
        // Relaxed: read after the join (`counts`).
        self.outcome.resumes.fetch_add(1, Relaxed);
        self.signal.raise();
        // SAFETY: we are inside `resume`.
        unsafe { self.state.enter() };
        ResumeInfo::awaiting(1)
    }

    fn shutdown(&self) {
        self.outcome.record_shutdown();
    }

    fn panicked(&self, payload: &(dyn std::any::Any + Send)) {
        self.outcome.record_panic(payload);
    }
}

/// Model 2: a job is never resumed by two workers at once, and a schedule while it runs
/// gives exactly one more resume (the NOTIFIED bit).
///
/// Bound: main and two workers, one job scheduled twice (~720 000 executions, about
/// 135 s: the largest model; a third schedule or worker would not fit the budget, and
/// two workers are the least that can resume one job at once).
///
/// The main thread schedules the job, waits until its `resume` has started, and
/// schedules it again: that second schedule finds the job RUNNING (it sets NOTIFIED,
/// and the runner requeues the job on its local queue, where the other worker may
/// steal it) or already idle again (it goes through the injector to either worker).
/// Then it waits for the second resume and stops.
///
/// Asserts: no two resumes touch the job's loom cell without happens-before between
/// them (loom's causality checker, caught as a panic and counted); exactly two resumes
/// (none lost, none doubled), two cell sections, no shutdown, nothing cancelled; the
/// job is idle (`Awaiting`), not complete. Across executions: the second resume ran on
/// the same worker, on the other one through the injector, and on the other one by
/// stealing the requeue that NOTIFIED caused (each path explored at least once).
#[test]
fn schedule_while_running_resumes_once_more_never_concurrently() {
    /// Executions by where the second resume ran (see the end of the test).
    static HANDOVERS: StdMutex<[usize; 3]> = StdMutex::new([0; 3]);
    explore(
        "schedule_while_running_resumes_once_more_never_concurrently",
        || {
            let scheduler = SharingScheduler::builder()
                .workers(2)
                .spin_before_park(0)
                .build()
                .expect("valid configuration");
            scheduler.start().expect("starts once");
            let signal = Signal::new();
            let outcome = Arc::new(Outcome::default());
            let job = Arc::new(ExclusiveJob {
                signal: signal.clone(),
                state: Exclusive::new(),
                outcome: outcome.clone(),
            });
            let job_ref = JobRef::new(ArcJob(job.clone()));

            scheduler.schedule(job_ref.clone()).expect("not stopped");
            signal.wait_for(1);
            scheduler.schedule(job_ref.clone()).expect("not stopped");
            signal.wait_for(2);
            let report = scheduler.stop().expect("stopped from outside");

            outcome.assert_no_panic();
            assert_eq!(outcome.counts(), (2, 0), "(resumes, shutdowns)");
            // SAFETY: `stop` joined both workers, the only threads that resume the job.
            assert_eq!(unsafe { job.state.get() }, 2, "exclusive sections");
            assert_eq!(report.cancelled, 0);
            assert!(!job_ref.is_complete(), "Awaiting leaves the job idle");

            let stats = scheduler.stats();
            let path = match (stats[0].resumes, stats[1].resumes) {
                (2, 0) | (0, 2) => 0,
                (1, 1) if stats[0].steals + stats[1].steals == 0 => 1,
                (1, 1) => 2,
                other => panic!("resumes per worker: {other:?}"),
            };
            HANDOVERS.lock().unwrap_or_else(|e| e.into_inner())[path] += 1;
        },
    );
    let handovers = core::mem::take(&mut *HANDOVERS.lock().unwrap_or_else(|e| e.into_inner()));
    eprintln!(
        "  executions by second resume: same worker {}, other worker via the injector {}, \
         other worker by stealing the NOTIFIED requeue {}",
        handovers[0], handovers[1], handovers[2]
    );
    assert!(
        handovers.iter().all(|&n| n > 0),
        "a hand-over path was never explored: {handovers:?}"
    );
}

/// A job behind a loom `Arc`, so that the model can still reach its state after the
/// scheduler has dropped its references.
struct ArcJob<T>(Arc<T>);

impl<T: Resumable> Resumable for ArcJob<T> {
    fn resume(&self, max_throughput: usize) -> ResumeInfo {
        self.0.resume(max_throughput)
    }

    fn shutdown(&self) {
        self.0.shutdown();
    }

    fn panicked(&self, payload: &(dyn std::any::Any + Send)) {
        self.0.panicked(payload);
    }
}

/// Model 3's job: counts its resumes and shutdowns; done after one resume.
struct Counted(Arc<Outcome>);

impl Resumable for Counted {
    fn resume(&self, _max_throughput: usize) -> ResumeInfo {
        // Relaxed: read after the join (`counts`).
        self.0.resumes.fetch_add(1, Relaxed);
        ResumeInfo::done(1)
    }

    fn shutdown(&self) {
        self.0.record_shutdown();
    }

    fn panicked(&self, payload: &(dyn std::any::Any + Send)) {
        self.0.record_panic(payload);
    }
}

/// Model 3: `stop` racing a `schedule` accounts for the job exactly once.
///
/// Bound: main, one scheduling thread, one worker (started before the race), one job
/// (~2 200 executions). The scheduling thread schedules a fresh job while the main
/// thread calls `stop`.
///
/// Asserts, after joining: the job was resumed exactly once or told shutdown exactly
/// once, never both, never neither; `schedule` returned `Err(Stopped)` iff the job was
/// rejected after the stop (`rejected() == 1`, told shutdown, not counted in the stop
/// report); if it returned `Ok`, the stop report counts it iff it was told shutdown
/// (closed in the injector, or drained from the worker's queue); the job is complete.
#[test]
fn stop_races_schedule() {
    explore("stop_races_schedule", || {
        let scheduler = Arc::new(
            SharingScheduler::builder()
                .workers(1)
                .spin_before_park(0)
                .build()
                .expect("valid configuration"),
        );
        scheduler.start().expect("starts once");
        let outcome = Arc::new(Outcome::default());
        let job = JobRef::new(Counted(outcome.clone()));

        let scheduling = {
            let (scheduler, job) = (scheduler.clone(), job.clone());
            thread::spawn(move || scheduler.schedule(job))
        };
        let report = scheduler.stop().expect("stopped from outside");
        // Dropping the error tells the refused job shutdown.
        let scheduled = scheduling
            .join()
            .expect("schedule does not panic")
            .map_err(drop);

        outcome.assert_no_panic();
        let (resumes, shutdowns) = outcome.counts();
        assert_eq!(
            resumes + shutdowns,
            1,
            "resumed XOR told shutdown: (resumes, shutdowns) = {:?}",
            (resumes, shutdowns)
        );
        match scheduled {
            Err(()) => {
                assert_eq!(shutdowns, 1, "a rejected job is told shutdown");
                assert_eq!(scheduler.rejected(), 1);
                assert_eq!(report.cancelled, 0, "rejected jobs are not in the report");
            }
            Ok(()) => {
                assert_eq!(scheduler.rejected(), 0);
                assert_eq!(
                    report.cancelled, shutdowns as u64,
                    "an accepted job told shutdown was cancelled by the stop"
                );
            }
        }
        assert!(job.is_complete());
    });
}

/// Explicit scheduling points for the threads of model 4 (as in the mailbox models).
///
/// loom 0.7's DPOR can fail to reverse a race between a plain load and another thread's
/// write (tokio-rs/loom#166, #392), and model 4's re-check is a plain Relaxed load. A
/// Relaxed `fetch_add` on this counter is an RMW, which loom treats as dependent on every
/// other access to the counter, so each pair of marked operations from different
/// threads is explored in both orders. Being Relaxed, it adds no happens-before edge, so
/// it cannot hide a missing fence in the protocol. (The models that drive the real
/// scheduler cannot mark the workers' operations; they rely on the workers' own RMWs and
/// loom mutexes, and the provoked failures show they still find the races.)
#[derive(Clone)]
struct Interleave(Arc<AtomicUsize>);

impl Interleave {
    fn new() -> Self {
        Self(Arc::new(AtomicUsize::new(0)))
    }

    /// A point where loom may switch to any other thread.
    fn point(&self) {
        // Relaxed: only the scheduling point matters, never the value (see above).
        self.0.fetch_add(1, Relaxed);
    }
}

/// Work items for model 4: a counter standing for the injector.
struct Work(AtomicUsize);

impl Work {
    /// Publishes one item (the injector's Release push).
    fn push(&self) {
        self.0.fetch_add(1, Release);
    }

    /// Takes one item, if any (the worker's Acquire `take_all`).
    fn take(&self) -> bool {
        self.0
            .fetch_update(Acquire, Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// The re-check after registering: a Relaxed load, like `Injector::has_jobs`; the
    /// SeqCst fence in `prepare_sleep` is what orders it.
    fn available(&self) -> bool {
        self.0.load(Relaxed) > 0
    }
}

/// A worker's idle loop against [`Idle`] alone: take an item, or register, re-check,
/// and park; returns once it took one item.
fn sleeper(idle: &Idle, index: usize, work: &Work, sched: &Interleave) {
    loop {
        sched.point();
        if work.take() {
            return;
        }
        idle.prepare_sleep(index);
        sched.point();
        if work.available() {
            idle.cancel_sleep(index);
            continue;
        }
        idle.sleep(index, None);
    }
}

/// Model 4: the idle protocol alone (`crate::idle`): `notify_one` racing
/// `prepare_sleep` + re-check never leaves a sleeper parked while work is available.
///
/// Bound: main (the notifier) and `sleepers` sleeper threads (1 or 2), one item per
/// sleeper (~50 and ~24 000 executions). Each sleeper
/// runs [`sleeper`] until it has taken one item; the main thread publishes `sleepers`
/// items, each followed by `notify_one`. With two sleepers, each notification must
/// wake a *registered* sleeper (one that will not see the item by itself), and the
/// flag each notifier clears must belong to a worker that has not yet left. (The
/// two-sleeper model found that `prepare_sleep` set the flag before incrementing
/// `count`: a notifier could clear that flag and decrement first, so `count` read 0
/// while the other sleeper was parked, and the next `notify_one` returned early.)
///
/// Asserts: every sleeper returns (a lost wake-up is a loom deadlock) and every item is
/// taken.
fn notify_races_sleep(sleepers: usize) {
    let name = if sleepers == 1 {
        "idle_notify_races_one_sleeper"
    } else {
        "idle_notify_races_two_sleepers"
    };
    explore(name, move || {
        let idle = Arc::new(Idle::new(sleepers));
        let work = Arc::new(Work(AtomicUsize::new(0)));
        let sched = Interleave::new();
        let handles: Vec<_> = (0..sleepers)
            .map(|index| {
                let (idle, work, sched) = (idle.clone(), work.clone(), sched.clone());
                thread::spawn(move || sleeper(&idle, index, &work, &sched))
            })
            .collect();

        for _ in 0..sleepers {
            sched.point();
            work.push();
            idle.notify_one();
        }
        for handle in handles {
            handle.join().expect("sleeper panicked");
        }
        assert!(!work.take(), "every item was taken");
    });
}

#[test]
fn idle_notify_races_one_sleeper() {
    notify_races_sleep(1);
}

#[test]
fn idle_notify_races_two_sleepers() {
    notify_races_sleep(2);
}

/// Model 5's first job: tells the main thread it started, then schedules `targets`
/// from the worker, one after the other, and is done.
struct Fan {
    scheduler: Arc<std::sync::OnceLock<SharingScheduler>>,
    signal: Arc<Signal>,
    targets: Vec<JobRef>,
    outcome: Arc<Outcome>,
}

impl Resumable for Fan {
    fn resume(&self, _max_throughput: usize) -> ResumeInfo {
        // Relaxed: read after the join (`counts`).
        self.outcome.resumes.fetch_add(1, Relaxed);
        self.signal.raise();
        let scheduler = self.scheduler.get().expect("set before the first schedule");
        for target in &self.targets {
            // From the worker: always accepted (the LIFO slot and the local queue).
            assert!(
                scheduler.schedule(target.clone()).is_ok(),
                "a worker's schedule"
            );
        }
        ResumeInfo::done(1)
    }

    fn shutdown(&self) {
        self.outcome.record_shutdown();
    }

    fn panicked(&self, payload: &(dyn std::any::Any + Send)) {
        self.outcome.record_panic(payload);
    }
}

/// The accounting every stop model checks: each job resumed XOR told shutdown, exactly
/// once; the stop report counts every job told shutdown (all were accepted); nothing was
/// rejected; every job is complete.
fn assert_accounted(
    scheduler: &SharingScheduler,
    report: crate::StopReport,
    jobs: &[(&JobRef, &Outcome)],
) {
    let mut shutdowns = 0;
    for (n, (job, outcome)) in jobs.iter().enumerate() {
        outcome.assert_no_panic();
        let (resumes, told) = outcome.counts();
        assert_eq!(
            resumes + told,
            1,
            "job {n}: resumed XOR told shutdown, (resumes, shutdowns) = {:?}",
            (resumes, told)
        );
        assert!(job.is_complete(), "job {n} complete");
        shutdowns += told as u64;
    }
    assert_eq!(
        report.cancelled, shutdowns,
        "the stop report counts every job told shutdown"
    );
    assert_eq!(scheduler.rejected(), 0, "every job was accepted");
}

/// Model 5: a worker's local queue overflowing to the injector races `stop` closing it.
///
/// Bound: main and one worker; four jobs (~2 600 executions). Under loom a local queue
/// holds one job (`queue::CAPACITY`), so the fan's three schedules from the worker
/// overflow it: the first goes to the LIFO slot, the second displaces it into the
/// queue, the third displaces the second into a full queue, and the worker moves the
/// older one to the injector as a batch. The main thread waits until the fan has
/// started, then stops the scheduler, so the close races the batch push (it is either
/// taken by the close, or refused and kept by the worker for its drain) and everything
/// after it (the worker taking the batch back, running the rest).
///
/// Asserts: [`assert_accounted`] for all four jobs.
///
/// Breaking it on purpose: with the worker dropping a refused batch (telling its jobs
/// shutdown without counting them) instead of keeping it for the drain, the model fails
/// on the report's count.
#[test]
fn overflow_races_stop() {
    explore("overflow_races_stop", || {
        let cell = Arc::new(std::sync::OnceLock::new());
        let scheduler = cell.get_or_init(|| {
            SharingScheduler::builder()
                .workers(1)
                .spin_before_park(0)
                .build()
                .expect("valid configuration")
        });
        scheduler.start().expect("starts once");
        let signal = Signal::new();
        let outcomes: Vec<Arc<Outcome>> = (0..3).map(|_| Arc::new(Outcome::default())).collect();
        let targets: Vec<JobRef> = outcomes
            .iter()
            .map(|outcome| JobRef::new(Counted(outcome.clone())))
            .collect();
        let fan_outcome = Arc::new(Outcome::default());
        let fan = JobRef::new(Fan {
            scheduler: cell.clone(),
            signal: signal.clone(),
            targets: targets.clone(),
            outcome: fan_outcome.clone(),
        });

        scheduler.schedule(fan.clone()).expect("not stopped");
        signal.wait_for(1);
        let report = scheduler.stop().expect("stopped from outside");

        let mut jobs = vec![(&fan, &*fan_outcome)];
        jobs.extend(targets.iter().zip(outcomes.iter().map(|o| &**o)));
        assert_accounted(scheduler, report, &jobs);
    });
}

/// Model 6: the rest of a worker's take from the injector, put back for the next
/// taker, races `stop` closing the injector.
///
/// Bound: main and one worker; three jobs (~370 executions). They are scheduled before
/// `start`, so they wait in the injector; under loom the worker's local queue holds one
/// job, so its first take keeps two (one to run, one for the queue) and puts the third
/// back. The main thread stops the scheduler right after starting it, so the close
/// races the take and the put-back (the rest is either taken by the close, or refused
/// and kept by the worker for its drain).
///
/// Asserts: [`assert_accounted`] for the three jobs.
///
/// Breaking it on purpose: with the worker dropping a refused rest (telling its jobs
/// shutdown without counting them) instead of keeping it for the drain, the model fails
/// on the report's count.
#[test]
fn take_rest_races_stop() {
    explore("take_rest_races_stop", || {
        let scheduler = SharingScheduler::builder()
            .workers(1)
            .spin_before_park(0)
            .build()
            .expect("valid configuration");
        let outcomes: Vec<Arc<Outcome>> = (0..3).map(|_| Arc::new(Outcome::default())).collect();
        let jobs: Vec<JobRef> = outcomes
            .iter()
            .map(|outcome| JobRef::new(Counted(outcome.clone())))
            .collect();
        for job in &jobs {
            scheduler.schedule(job.clone()).expect("not stopped");
        }
        scheduler.start().expect("starts once");
        let report = scheduler.stop().expect("stopped from outside");

        let accounted: Vec<_> = jobs.iter().zip(outcomes.iter().map(|o| &**o)).collect();
        assert_accounted(&scheduler, report, &accounted);
    });
}
