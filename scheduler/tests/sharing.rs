//! SharingScheduler: configuration, lifecycle, scheduling paths, panics, exclusivity, and
//! stop under load.

// These tests run real threads; loom models live in the crate.
#![cfg(not(zeta_loom))]

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock};

use common::{wait_until, Behaviour, Probe, Tally};
use zeta_scheduler::{
    JobRef, Resumable, ResumeInfo, Scheduler, SchedulerError, SharingScheduler, Stopped,
    MAX_WORKERS,
};

fn scheduler(workers: usize) -> SharingScheduler {
    SharingScheduler::builder()
        .workers(workers)
        .max_throughput(64)
        .build()
        .unwrap()
}

#[test]
fn bad_configuration_is_an_error() {
    let err = SharingScheduler::builder().workers(0).build().unwrap_err();
    assert!(matches!(err, SchedulerError::ZeroWorkers));
    assert_eq!(err.to_string(), "a scheduler needs at least one worker");
    let err = SharingScheduler::builder()
        .max_throughput(0)
        .build()
        .unwrap_err();
    assert!(matches!(err, SchedulerError::ZeroThroughput));
    assert_eq!(err.to_string(), "max_throughput must be at least 1");
    let err = SharingScheduler::builder()
        .workers(MAX_WORKERS + 1)
        .build()
        .unwrap_err();
    assert!(matches!(err, SchedulerError::TooManyWorkers { .. }));
}

/// A thread name that the OS cannot take (an interior NUL) is an error from `build`,
/// not a panic at `start`.
#[test]
fn a_thread_name_with_a_nul_is_an_error() {
    let outcome = std::panic::catch_unwind(|| {
        let s = SharingScheduler::builder()
            .workers(1)
            .thread_name("bad\0name")
            .build()?;
        s.start()?;
        Ok::<_, SchedulerError>(s)
    });
    match outcome {
        Ok(Err(err)) => {
            assert!(matches!(err, SchedulerError::InvalidThreadName), "{err:?}");
            assert_eq!(
                err.to_string(),
                "the worker thread name contains a NUL byte"
            );
        }
        Ok(Ok(s)) => panic!("started with a NUL in its threads' names: {s:?}"),
        Err(_) => panic!("building or starting panicked instead of returning an error"),
    }
}

#[test]
fn lifecycle_misuse_is_an_error() {
    let s = scheduler(1);
    s.start().unwrap();
    assert!(matches!(s.start(), Err(SchedulerError::AlreadyStarted)));
    assert_eq!(s.stop().unwrap().cancelled, 0);
    assert_eq!(s.stop().unwrap().cancelled, 0, "stopping twice is harmless");
    assert!(matches!(s.start(), Err(SchedulerError::AlreadyStopped)));
    let tally = Tally::new();
    assert!(matches!(
        s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Once))),
        Err(Stopped { .. })
    ));
    assert_eq!(
        Tally::get(&tally.shutdowns),
        1,
        "a job scheduled after stop is told shutdown"
    );
    assert_eq!(s.rejected(), 1);
}

#[test]
fn jobs_from_outside_run_on_the_workers() {
    let s = scheduler(2);
    s.start().unwrap();
    let tally = Tally::new();
    for _ in 0..10_000 {
        s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Once)))
            .unwrap();
    }
    wait_until("10,000 resumes", || Tally::get(&tally.resumes) == 10_000);
    let report = s.stop().unwrap();
    assert_eq!(report.cancelled, 0);
    let stats = s.stats();
    assert_eq!(stats.iter().map(|w| w.resumes).sum::<u64>(), 10_000);
    assert_eq!(stats.iter().map(|w| w.messages).sum::<u64>(), 10_000);
    assert_eq!(Tally::get(&tally.violations), 0);
}

#[test]
fn jobs_scheduled_before_start_run_after_it() {
    let s = scheduler(2);
    let tally = Tally::new();
    for _ in 0..100 {
        s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Once)))
            .unwrap();
    }
    assert_eq!(Tally::get(&tally.resumes), 0);
    s.start().unwrap();
    wait_until("100 resumes", || Tally::get(&tally.resumes) == 100);
    s.stop().unwrap();
}

#[test]
fn resume_requeues_within_max_throughput() {
    let s = SharingScheduler::builder()
        .workers(2)
        .max_throughput(7)
        .build()
        .unwrap();
    s.start().unwrap();
    let tally = Tally::new();
    let job = JobRef::new(Probe::new(&tally, Behaviour::Work(1000)));
    s.schedule(job.clone()).unwrap();
    wait_until("the job to complete", || job.is_complete());
    assert_eq!(Tally::get(&tally.resumes), 1000_u64.div_ceil(7));
    assert_eq!(Tally::get(&tally.messages), 1000);
    s.stop().unwrap();
    assert_eq!(Tally::get(&tally.violations), 0);
}

#[test]
fn an_awaiting_job_runs_again_each_time_it_is_scheduled() {
    let s = scheduler(2);
    s.start().unwrap();
    let tally = Tally::new();
    let job = JobRef::new(Probe::new(&tally, Behaviour::Await));
    for n in 1..=200 {
        s.schedule(job.clone()).unwrap();
        wait_until("the resume", || Tally::get(&tally.resumes) == n);
        // Idle again only after the worker released it; wait for that before the next.
        wait_until("the queue's reference to go", || job.ref_count() == 1);
    }
    s.stop().unwrap();
    assert!(!job.is_complete());
    assert_eq!(Tally::get(&tally.violations), 0);
}

/// One job hammered by two outside threads and by itself: never two resumes at once,
/// and every schedule is followed by a resume that sees it (a schedule while the job
/// runs marks it to run once more).
#[test]
fn a_job_is_never_resumed_twice_at_once_and_no_schedule_is_lost() {
    struct Hammered {
        running: AtomicUsize,
        requested: AtomicU64,
        seen: AtomicU64,
        resumes: AtomicU64,
        violations: AtomicU64,
    }
    impl Resumable for Hammered {
        fn resume(&self, _max: usize) -> ResumeInfo {
            if self.running.fetch_add(1, Ordering::AcqRel) != 0 {
                self.violations.fetch_add(1, Ordering::SeqCst);
            }
            // Everything requested before this resume began is now seen.
            self.seen
                .store(self.requested.load(Ordering::SeqCst), Ordering::SeqCst);
            for _ in 0..50 {
                std::hint::spin_loop();
            }
            self.resumes.fetch_add(1, Ordering::Relaxed);
            self.running.fetch_sub(1, Ordering::AcqRel);
            ResumeInfo::awaiting(1)
        }
    }
    let s = scheduler(2);
    s.start().unwrap();
    let state = Arc::new(Hammered {
        running: AtomicUsize::new(0),
        requested: AtomicU64::new(0),
        seen: AtomicU64::new(0),
        resumes: AtomicU64::new(0),
        violations: AtomicU64::new(0),
    });
    struct Handle(Arc<Hammered>);
    impl Resumable for Handle {
        fn resume(&self, max: usize) -> ResumeInfo {
            self.0.resume(max)
        }
    }
    let job = JobRef::new(Handle(state.clone()));
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let (s, job, state) = (&s, &job, &state);
            scope.spawn(move || {
                for _ in 0..50_000 {
                    state.requested.fetch_add(1, Ordering::SeqCst);
                    s.schedule(job.clone()).unwrap();
                }
            });
        }
    });
    wait_until("the last request to be seen", || {
        state.seen.load(Ordering::SeqCst) == 100_000
    });
    s.stop().unwrap();
    assert_eq!(
        state.violations.load(Ordering::SeqCst),
        0,
        "two resumes overlapped"
    );
    let resumes = state.resumes.load(Ordering::Relaxed);
    assert!(
        (1..=100_000).contains(&resumes),
        "{resumes} resumes for 100,000 schedules"
    );
}

#[test]
fn a_panic_is_caught_and_the_worker_lives_on() {
    let s = scheduler(1);
    s.start().unwrap();
    let tally = Tally::new();
    let bomb = JobRef::new(Probe::new(&tally, Behaviour::Panic));
    s.schedule(bomb.clone()).unwrap();
    wait_until("the panic hook", || Tally::get(&tally.panics) == 1);
    assert!(bomb.is_complete());
    assert!(
        s.schedule(bomb.clone()).is_ok(),
        "a complete job is not queued again"
    );
    for _ in 0..100 {
        s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Once)))
            .unwrap();
    }
    wait_until("the worker to go on", || Tally::get(&tally.resumes) == 100);
    s.stop().unwrap();
    assert_eq!(s.stats()[0].panics, 1);
    assert_eq!(Tally::get(&tally.panics), 1);
    assert_eq!(Tally::get(&tally.violations), 0);
}

#[test]
fn stop_from_a_worker_is_an_error() {
    static SCHEDULER: OnceLock<SharingScheduler> = OnceLock::new();
    static RESULT: OnceLock<bool> = OnceLock::new();
    struct Stopper;
    impl Resumable for Stopper {
        fn resume(&self, _max: usize) -> ResumeInfo {
            let stop = SCHEDULER.get().unwrap().stop();
            let _ = RESULT.set(matches!(stop, Err(SchedulerError::StopFromWorker)));
            ResumeInfo::done(0)
        }
    }
    let s = SCHEDULER.get_or_init(|| scheduler(1));
    s.start().unwrap();
    s.schedule(JobRef::new(Stopper)).unwrap();
    wait_until("the job", || RESULT.get().is_some());
    assert_eq!(RESULT.get(), Some(&true));
    assert!(!s.is_worker_thread());
    s.stop().unwrap();
}

#[test]
fn jobs_scheduled_from_a_worker_take_the_local_path() {
    type Slot = Arc<Mutex<Option<JobRef>>>;
    /// Each hop schedules the next job of the ring from inside the worker.
    struct Hop {
        scheduler: Arc<OnceLock<Arc<SharingScheduler>>>,
        next: Slot,
        hops: Arc<AtomicU64>,
        on_worker: Arc<AtomicU64>,
    }
    impl Resumable for Hop {
        fn resume(&self, _max: usize) -> ResumeInfo {
            if self.hops.fetch_add(1, Ordering::Relaxed) + 1 < 100_000 {
                let s = self.scheduler.get().unwrap();
                if s.is_worker_thread() {
                    self.on_worker.fetch_add(1, Ordering::Relaxed);
                }
                let next = self.next.lock().unwrap().clone();
                s.schedule(next.unwrap()).unwrap();
            }
            ResumeInfo::awaiting(1)
        }
    }
    let cell = Arc::new(OnceLock::new());
    let s = cell.get_or_init(|| Arc::new(scheduler(2))).clone();
    s.start().unwrap();
    let (hops, on_worker) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (a_next, b_next): (Slot, Slot) = Default::default();
    let hop = |next: &Slot| Hop {
        scheduler: cell.clone(),
        next: next.clone(),
        hops: hops.clone(),
        on_worker: on_worker.clone(),
    };
    let (a, b) = (JobRef::new(hop(&a_next)), JobRef::new(hop(&b_next)));
    *a_next.lock().unwrap() = Some(b.clone());
    *b_next.lock().unwrap() = Some(a.clone());
    s.schedule(a.clone()).unwrap();
    wait_until("100,000 hops", || hops.load(Ordering::Relaxed) >= 100_000);
    s.stop().unwrap();
    assert_eq!(s.stats().iter().map(|w| w.resumes).sum::<u64>(), 100_000);
    assert_eq!(
        on_worker.load(Ordering::Relaxed),
        99_999,
        "every hop was scheduled from a worker"
    );
    // Break the ring's reference cycle.
    a_next.lock().unwrap().take();
    b_next.lock().unwrap().take();
    assert_eq!((a.ref_count(), b.ref_count()), (1, 1));
}

/// On one worker, a job that always has more to do (it returns `Resume`, so it goes back
/// to the worker's local queue every time) does not starve the jobs scheduled from
/// outside, nor those a burst moved to the injector: the worker looks at the injector
/// every so often even when its own queue is never empty.
#[test]
fn a_worker_with_a_never_empty_queue_still_takes_jobs_from_outside() {
    let s = scheduler(1);
    s.start().unwrap();
    let busy = Tally::new();
    s.schedule(JobRef::new(Probe::new(&busy, Behaviour::Work(usize::MAX))))
        .unwrap();
    wait_until("the busy job to run twice", || {
        Tally::get(&busy.resumes) >= 2
    });
    let tally = Tally::new();
    for _ in 0..10 {
        s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Once)))
            .unwrap();
    }
    wait_until("the jobs from outside", || Tally::get(&tally.resumes) == 10);
    let report = s.stop().unwrap();
    assert_eq!(report.cancelled, 1, "the busy job, told shutdown at stop");
    assert_eq!(Tally::get(&busy.shutdowns), 1);
    assert_eq!(
        Tally::get(&busy.violations) + Tally::get(&tally.violations),
        0
    );
}

/// `stop` while jobs on the workers make bursts of jobs ready, each far more than a
/// worker's local queue holds (the overflow goes to the injector, and after the stop
/// closed it, back to the worker for its drain): every job is resumed or told shutdown
/// exactly once, and the stop report counts every job told shutdown (all of them were
/// accepted: scheduled from a worker, or from outside before the stop).
#[test]
fn stop_while_workers_overflow_their_queues() {
    const BURSTERS: usize = 4;
    const BURST: usize = 5_000;
    /// Schedules `BURST` probes from the worker, then is done.
    struct Burster {
        scheduler: Arc<OnceLock<SharingScheduler>>,
        probes: Arc<Tally>,
        own: Arc<Tally>,
        scheduled: Arc<AtomicUsize>,
    }
    impl Resumable for Burster {
        fn resume(&self, _max: usize) -> ResumeInfo {
            let s = self.scheduler.get().unwrap();
            for _ in 0..BURST {
                let probe = JobRef::new(Probe::new(&self.probes, Behaviour::Once));
                s.schedule(probe).expect("a worker's schedule is accepted");
                self.scheduled.fetch_add(1, Ordering::SeqCst);
            }
            self.own.resumes.fetch_add(1, Ordering::SeqCst);
            ResumeInfo::done(1)
        }
        fn shutdown(&self) {
            self.own.shutdowns.fetch_add(1, Ordering::SeqCst);
        }
    }
    for workers in [1, 2] {
        for wait_for_resumes in [0, 100, 5_000] {
            let cell = Arc::new(OnceLock::new());
            let s = cell.get_or_init(|| scheduler(workers));
            s.start().unwrap();
            let (probes, own) = (Tally::new(), Tally::new());
            let scheduled = Arc::new(AtomicUsize::new(0));
            for _ in 0..BURSTERS {
                s.schedule(JobRef::new(Burster {
                    scheduler: cell.clone(),
                    probes: probes.clone(),
                    own: own.clone(),
                    scheduled: scheduled.clone(),
                }))
                .unwrap();
            }
            wait_until("some probes to run", || {
                Tally::get(&probes.resumes) >= wait_for_resumes
            });
            let report = s.stop().unwrap();
            let what = format!("{workers} workers, stopped after {wait_for_resumes} resumes");
            let scheduled = scheduled.load(Ordering::SeqCst) as u64;
            assert_eq!(
                Tally::get(&probes.resumes) + Tally::get(&probes.shutdowns),
                scheduled,
                "{what}: each probe resumed or told shutdown"
            );
            assert_eq!(
                Tally::get(&own.resumes) + Tally::get(&own.shutdowns),
                BURSTERS as u64,
                "{what}: each burster resumed or told shutdown"
            );
            assert_eq!(
                report.cancelled,
                Tally::get(&probes.shutdowns) + Tally::get(&own.shutdowns),
                "{what}: the report counts every job told shutdown"
            );
            assert_eq!(s.rejected(), 0, "{what}");
            assert_eq!(Tally::get(&probes.violations), 0, "{what}");
        }
    }
}

/// The acceptance test: 10,000 queued jobs, two outside threads scheduling while
/// `stop` runs. `stop` returns, every thread is joined, and every job was resumed or told
/// shutdown, exactly once, with the counts adding up.
#[test]
fn stop_with_10000_queued_while_two_threads_schedule() {
    let s = SharingScheduler::builder().workers(2).build().unwrap();
    let tally = Tally::new();
    // Slow jobs (about 2 µs each), queued before the workers start, so that thousands
    // are still queued when `stop` comes.
    for _ in 0..10_000 {
        s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Busy(2_000))))
            .unwrap();
    }
    let created = AtomicU64::new(10_000);
    let rejected = AtomicU64::new(0);
    let both_running = Barrier::new(3);
    let report = std::thread::scope(|scope| {
        for _ in 0..2 {
            let (s, tally, created, rejected, both_running) =
                (&s, &tally, &created, &rejected, &both_running);
            scope.spawn(move || {
                let mut first = true;
                loop {
                    created.fetch_add(1, Ordering::SeqCst);
                    let result = s.schedule(JobRef::new(Probe::new(tally, Behaviour::Busy(2_000))));
                    if first {
                        both_running.wait();
                        first = false;
                    }
                    if result.is_err() {
                        rejected.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
            });
        }
        s.start().unwrap();
        both_running.wait();
        s.stop().unwrap()
    });
    let created = created.load(Ordering::SeqCst);
    let resumed = Tally::get(&tally.resumes);
    let shutdowns = Tally::get(&tally.shutdowns);
    assert_eq!(
        Tally::get(&tally.violations),
        0,
        "a job ran twice, or ran and was told shutdown"
    );
    assert_eq!(
        resumed + shutdowns,
        created,
        "{resumed} resumed + {shutdowns} told shutdown != {created} created"
    );
    assert_eq!(
        report.cancelled + rejected.load(Ordering::SeqCst),
        shutdowns
    );
    assert_eq!(
        rejected.load(Ordering::SeqCst),
        2,
        "each outside thread saw Stopped once"
    );
    assert_eq!(s.rejected(), 2);
    assert!(report.cancelled > 0, "stop found jobs queued");
    assert_eq!(s.stats().iter().map(|w| w.resumes).sum::<u64>(), resumed);
}

#[test]
fn dropping_a_running_scheduler_stops_it() {
    let tally = Tally::new();
    {
        let s = scheduler(2);
        s.start().unwrap();
        for _ in 0..1_000 {
            s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Busy(1_000))))
                .unwrap();
        }
    }
    assert_eq!(
        Tally::get(&tally.resumes) + Tally::get(&tally.shutdowns),
        1_000
    );
    assert_eq!(Tally::get(&tally.violations), 0);
}

#[test]
fn dropping_a_scheduler_that_never_started_tells_its_jobs() {
    let tally = Tally::new();
    {
        let s = scheduler(2);
        for _ in 0..10 {
            s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Once)))
                .unwrap();
        }
    }
    assert_eq!(Tally::get(&tally.shutdowns), 10);
}
