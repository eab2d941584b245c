//! The `Scheduler` trait is implementable outside the crate: a complete single-threaded
//! FIFO scheduler in a few dozen lines, built on `JobRef::into_queued` and
//! `QueuedJob::run`, which keep it from double-queueing or double-resuming a job.

#![cfg(not(zeta_loom))]

mod common;

use std::collections::VecDeque;
use std::sync::Mutex;

use common::{Behaviour, Probe, Tally};
use zeta_scheduler::{JobRef, QueuedJob, Scheduler, SchedulerError, StopReport, Stopped};

/// A FIFO scheduler driven by `run`: the simplest thing a user might write.
#[derive(Default)]
struct Fifo {
    queue: Mutex<VecDeque<QueuedJob>>,
    stopped: Mutex<bool>,
}

impl Fifo {
    /// Runs jobs until none is left; returns how many resumes that took.
    fn run(&self, max_throughput: usize) -> usize {
        let mut resumes = 0;
        loop {
            let next = self.queue.lock().unwrap().pop_front();
            let Some(job) = next else { return resumes };
            let ran = job.run(max_throughput);
            resumes += 1;
            if let Some(again) = ran.requeue {
                self.queue.lock().unwrap().push_back(again);
            }
        }
    }
}

impl Scheduler for Fifo {
    fn submit(&self, queued: QueuedJob) -> Result<(), Stopped> {
        if *self.stopped.lock().unwrap() {
            return Err(Stopped::new(queued));
        }
        self.queue.lock().unwrap().push_back(queued);
        Ok(())
    }

    fn start(&self) -> Result<(), SchedulerError> {
        Ok(())
    }

    fn stop(&self) -> Result<StopReport, SchedulerError> {
        *self.stopped.lock().unwrap() = true;
        let cancelled = self
            .queue
            .lock()
            .unwrap()
            .drain(..)
            .map(QueuedJob::cancel)
            .count();
        Ok(StopReport {
            cancelled: cancelled as u64,
        })
    }
}

#[test]
fn a_user_written_scheduler_runs_jobs() {
    let fifo = Fifo::default();
    let scheduler: &dyn Scheduler = &fifo;
    scheduler.start().unwrap();
    let tally = Tally::new();
    let worker = JobRef::new(Probe::new(&tally, Behaviour::Work(10)));
    scheduler.schedule(worker.clone()).unwrap();
    scheduler.schedule(worker.clone()).unwrap(); // already queued: no second entry
    for _ in 0..3 {
        scheduler
            .schedule(JobRef::new(Probe::new(&tally, Behaviour::Once)))
            .unwrap();
    }
    assert_eq!(fifo.run(4), 3 + 3); // the worker in three resumes (4 + 4 + 2), three others
    assert!(worker.is_complete());
    assert_eq!(Tally::get(&tally.messages), 13);
    scheduler
        .schedule(JobRef::new(Probe::new(&tally, Behaviour::Once)))
        .unwrap();
    assert_eq!(scheduler.stop().unwrap().cancelled, 1);
    assert!(matches!(
        scheduler.schedule(JobRef::new(Probe::new(&tally, Behaviour::Once))),
        Err(Stopped { .. })
    ));
    assert_eq!(Tally::get(&tally.shutdowns), 2);
    assert_eq!(Tally::get(&tally.violations), 0);
}
