//! `LocalSubmit`: a scheduler's fast path takes a job only from one of that scheduler's
//! own running jobs, and gives it back everywhere else, untouched.

#![cfg(not(zeta_loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use zeta_scheduler::{
    JobRef, LocalSubmit, ManualScheduler, Resumable, ResumeInfo, Scheduler, SharingScheduler,
};

/// Counts its runs.
struct Count(Arc<AtomicUsize>);
impl Resumable for Count {
    fn resume(&self, _max: usize) -> ResumeInfo {
        self.0.fetch_add(1, Ordering::SeqCst);
        ResumeInfo::done(1)
    }
}

/// When run, offers `job` to `local` and reports whether it was taken (or hands it
/// back to `fallback` when not).
struct Offer {
    local: LocalSubmit<'static>,
    job: Mutex<Option<JobRef>>,
    taken: mpsc::Sender<bool>,
}
impl Resumable for Offer {
    fn resume(&self, _max: usize) -> ResumeInfo {
        let job = self.job.lock().unwrap().take().expect("run once");
        let queued = job.into_queued().expect("idle");
        let taken = match self.local.try_submit(queued) {
            Ok(()) => true,
            Err(queued) => {
                drop(queued); // tells it shutdown
                false
            }
        };
        self.taken.send(taken).unwrap();
        ResumeInfo::done(1)
    }
}

fn leak<S: Scheduler + 'static>(scheduler: S) -> &'static S {
    Box::leak(Box::new(scheduler))
}

#[test]
fn manual_takes_only_from_its_own_jobs() {
    let own = leak(ManualScheduler::new(8).unwrap());
    let other = leak(ManualScheduler::new(8).unwrap());
    let local = own.local_submit().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let (taken, seen) = mpsc::channel();

    // Outside any job: given back.
    let queued = JobRef::new(Count(runs.clone())).into_queued().unwrap();
    assert!(local.try_submit(queued).is_err());

    // Inside a job of `own`: queued behind it, and run by the same drive.
    let offer = Offer {
        local,
        job: Mutex::new(Some(JobRef::new(Count(runs.clone())))),
        taken: taken.clone(),
    };
    own.schedule(JobRef::new(offer)).unwrap();
    assert_eq!(own.run_until_idle().unwrap().resumes, 2);
    assert!(seen.recv().unwrap());
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // Inside a job of another scheduler: given back.
    let offer = Offer {
        local,
        job: Mutex::new(Some(JobRef::new(Count(runs.clone())))),
        taken,
    };
    other.schedule(JobRef::new(offer)).unwrap();
    other.run_until_idle().unwrap();
    assert!(!seen.recv().unwrap());
    assert_eq!(own.run_until_idle().unwrap().resumes, 0);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn a_seeded_manual_scheduler_gives_everything_back() {
    let own = leak(ManualScheduler::with_seed(8, 7).unwrap());
    let (taken, seen) = mpsc::channel();
    let runs = Arc::new(AtomicUsize::new(0));
    let offer = Offer {
        local: own.local_submit().unwrap(),
        job: Mutex::new(Some(JobRef::new(Count(runs)))),
        taken,
    };
    own.schedule(JobRef::new(offer)).unwrap();
    own.run_until_idle().unwrap();
    assert!(
        !seen.recv().unwrap(),
        "seeded: every submission is shuffled in"
    );
}

#[test]
fn sharing_takes_only_on_its_own_workers() {
    let own = leak(SharingScheduler::builder().workers(1).build().unwrap());
    own.start().unwrap();
    let local = own.local_submit().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let (taken, seen) = mpsc::channel();

    let queued = JobRef::new(Count(runs.clone())).into_queued().unwrap();
    assert!(local.try_submit(queued).is_err(), "not a worker thread");

    let offer = Offer {
        local,
        job: Mutex::new(Some(JobRef::new(Count(runs.clone())))),
        taken,
    };
    own.schedule(JobRef::new(offer)).unwrap();
    assert!(seen.recv().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while runs.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the submitted job never ran"
        );
        std::thread::yield_now();
    }
    own.stop().unwrap();
}
