//! ManualScheduler: order, seeded shuffles, budgets, re-entrancy, stop, panics.

#![cfg(not(zeta_loom))]

mod common;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{Behaviour, Probe, Tally};
use zeta_scheduler::{
    JobRef, ManualScheduler, Resumable, ResumeInfo, Scheduler, SchedulerError, Stopped,
};

/// Records its id in a shared log when resumed.
struct Logged {
    id: usize,
    log: Arc<Mutex<Vec<usize>>>,
}

impl Resumable for Logged {
    fn resume(&self, _max: usize) -> ResumeInfo {
        self.log.lock().unwrap().push(self.id);
        ResumeInfo::done(1)
    }
}

fn run_order(scheduler: &ManualScheduler, n: usize) -> Vec<usize> {
    let log = Arc::new(Mutex::new(Vec::new()));
    for id in 0..n {
        scheduler
            .schedule(JobRef::new(Logged {
                id,
                log: log.clone(),
            }))
            .unwrap();
    }
    let stats = scheduler.run_until_idle().unwrap();
    assert_eq!(stats.resumes, n as u64);
    let order = log.lock().unwrap().clone();
    order
}

#[test]
fn unseeded_runs_in_scheduling_order() {
    let s = ManualScheduler::new(16).unwrap();
    assert_eq!(run_order(&s, 50), (0..50).collect::<Vec<_>>());
}

#[test]
fn the_same_seed_gives_the_same_order() {
    let a = run_order(&ManualScheduler::with_seed(16, 42).unwrap(), 50);
    let b = run_order(&ManualScheduler::with_seed(16, 42).unwrap(), 50);
    let c = run_order(&ManualScheduler::with_seed(16, 7).unwrap(), 50);
    assert_eq!(a, b);
    assert_ne!(a, c, "another seed, another interleaving");
    let d = run_order(&ManualScheduler::with_seed(16, 43).unwrap(), 50);
    assert_ne!(a, d, "seeds that differ in the lowest bit differ too");
    assert_ne!(a, (0..50).collect::<Vec<_>>(), "shuffled");
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..50).collect::<Vec<_>>(), "every job ran once");
}

#[test]
fn run_once_runs_one_job() {
    let s = ManualScheduler::new(4).unwrap();
    let tally = Tally::new();
    assert!(!s.run_once().unwrap());
    s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Work(10))))
        .unwrap();
    assert!(s.run_once().unwrap());
    assert_eq!(Tally::get(&tally.messages), 4);
    assert!(s.run_once().unwrap());
    assert!(s.run_once().unwrap());
    assert_eq!(Tally::get(&tally.messages), 10);
    assert!(!s.run_once().unwrap());
}

#[test]
fn run_for_bounds_a_job_that_never_ends() {
    struct Forever;
    impl Resumable for Forever {
        fn resume(&self, max: usize) -> ResumeInfo {
            ResumeInfo::resume(max)
        }
    }
    let s = ManualScheduler::new(8).unwrap();
    s.schedule(JobRef::new(Forever)).unwrap();
    let stats = s.run_for(Duration::from_millis(5)).unwrap();
    assert!(stats.resumes > 0);
    assert_eq!(stats.messages, stats.resumes * 8);
    assert_eq!(
        s.stop().unwrap().cancelled,
        1,
        "still queued: told shutdown at stop"
    );
}

#[test]
fn running_it_from_a_job_is_an_error() {
    static SCHEDULER: OnceLock<ManualScheduler> = OnceLock::new();
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    struct Reenter;
    impl Resumable for Reenter {
        fn resume(&self, _max: usize) -> ResumeInfo {
            let s = SCHEDULER.get().unwrap();
            let mut seen = SEEN.lock().unwrap();
            seen.push(format!("{:?}", s.run_once()));
            seen.push(format!("{:?}", s.stop()));
            ResumeInfo::done(0)
        }
    }
    let s = SCHEDULER.get_or_init(|| ManualScheduler::new(1).unwrap());
    s.schedule(JobRef::new(Reenter)).unwrap();
    s.run_until_idle().unwrap();
    assert_eq!(
        *SEEN.lock().unwrap(),
        ["Err(AlreadyRunning)", "Err(AlreadyRunning)"]
    );
    assert_eq!(
        SchedulerError::AlreadyRunning.to_string(),
        "the scheduler is already being run"
    );
}

#[test]
fn stop_tells_every_queued_job_and_rejects_later_ones() {
    let s = ManualScheduler::new(1).unwrap();
    let tally = Tally::new();
    for _ in 0..5 {
        s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Once)))
            .unwrap();
    }
    s.run_once().unwrap();
    assert_eq!(s.stop().unwrap().cancelled, 4);
    assert_eq!(Tally::get(&tally.shutdowns), 4);
    assert!(matches!(
        s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Once))),
        Err(Stopped { .. })
    ));
    assert_eq!(Tally::get(&tally.shutdowns), 5);
    assert_eq!(Tally::get(&tally.resumes), 1);
    assert_eq!(Tally::get(&tally.violations), 0);
}

#[test]
fn dropping_it_tells_queued_jobs() {
    let tally = Tally::new();
    {
        let s = ManualScheduler::with_seed(1, 3).unwrap();
        for _ in 0..3 {
            s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Once)))
                .unwrap();
        }
    }
    assert_eq!(Tally::get(&tally.shutdowns), 3);
}

#[test]
fn a_panic_is_caught() {
    let s = ManualScheduler::new(1).unwrap();
    let tally = Tally::new();
    s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Panic)))
        .unwrap();
    s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Once)))
        .unwrap();
    let stats = s.run_until_idle().unwrap();
    assert_eq!((stats.resumes, stats.panics), (2, 1));
    assert_eq!(Tally::get(&tally.panics), 1);
}

#[test]
fn zero_throughput_is_an_error() {
    assert!(matches!(
        ManualScheduler::new(0),
        Err(SchedulerError::ZeroThroughput)
    ));
    assert!(matches!(
        ManualScheduler::with_seed(0, 1),
        Err(SchedulerError::ZeroThroughput)
    ));
}

#[test]
fn schedule_from_another_thread() {
    let s = ManualScheduler::new(1).unwrap();
    let tally = Tally::new();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..1_000 {
                    s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Once)))
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(s.run_until_idle().unwrap().resumes, 4_000);
}

/// A budget too large to add to `Instant::now()` means no deadline, not a panic.
#[test]
fn run_for_an_unrepresentable_budget_runs_until_idle() {
    let s = ManualScheduler::new(16).unwrap();
    let tally = Tally::new();
    for _ in 0..3 {
        s.schedule(JobRef::new(Probe::new(&tally, Behaviour::Once)))
            .unwrap();
    }
    let stats = s.run_for(Duration::MAX).unwrap();
    assert_eq!(stats.resumes, 3);
    assert_eq!(Tally::get(&tally.resumes), 3);
}

/// Two jobs that schedule each other from inside their runs (`hops` times in all), and
/// one of them, on its first run, has an outside thread schedule a third job: the local
/// submissions go straight to the ready queue, and the outside one is not starved by
/// them (it runs as soon as what was ready when it arrived has run).
#[test]
fn local_submissions_do_not_starve_outside_ones() {
    struct Hop {
        id: usize,
        scheduler: Arc<OnceLock<Arc<ManualScheduler>>>,
        peer: Arc<Mutex<Option<JobRef>>>,
        outsider: Arc<OnceLock<JobRef>>,
        log: Arc<Mutex<Vec<usize>>>,
        hops: usize,
    }
    impl Resumable for Hop {
        fn resume(&self, _max: usize) -> ResumeInfo {
            let mut log = self.log.lock().unwrap();
            log.push(self.id);
            let done = log.len();
            drop(log);
            let scheduler = self.scheduler.get().unwrap();
            if done == 1 {
                // From another thread: through the injector.
                let outsider = self.outsider.get().unwrap().clone();
                let scheduler = scheduler.clone();
                std::thread::spawn(move || scheduler.schedule(outsider).unwrap())
                    .join()
                    .unwrap();
            }
            if done < self.hops {
                let peer = self.peer.lock().unwrap().clone().unwrap();
                scheduler.schedule(peer).unwrap();
            }
            ResumeInfo::awaiting(1)
        }
    }
    let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let cell = Arc::new(OnceLock::new());
    cell.set(scheduler.clone()).ok().unwrap();
    let (peer_of_a, peer_of_b) = (Arc::new(Mutex::new(None)), Arc::new(Mutex::new(None)));
    let outsider = Arc::new(OnceLock::new());
    let hop = |id, peer: &Arc<Mutex<Option<JobRef>>>| {
        JobRef::new(Hop {
            id,
            scheduler: cell.clone(),
            peer: peer.clone(),
            outsider: outsider.clone(),
            log: log.clone(),
            hops: 100,
        })
    };
    let a = hop(0, &peer_of_a);
    let b = hop(1, &peer_of_b);
    *peer_of_a.lock().unwrap() = Some(b.clone());
    *peer_of_b.lock().unwrap() = Some(a.clone());
    outsider
        .set(JobRef::new(Logged {
            id: 9,
            log: log.clone(),
        }))
        .unwrap();
    scheduler.schedule(a.clone()).unwrap();
    let stats = scheduler.run_until_idle().unwrap();
    assert_eq!(stats.resumes, 100, "99 hops and the outsider");
    let order = log.lock().unwrap().clone();
    let outsider_at = order.iter().position(|&id| id == 9).unwrap();
    assert!(
        outsider_at <= 2,
        "the outside job waited behind {outsider_at} local ones: {order:?}"
    );
    // Break the cycle of references between the two hops.
    peer_of_a.lock().unwrap().take();
    peer_of_b.lock().unwrap().take();
    drop((a, b));
}
