//! Worker stack size: a job with a large stack frame runs on workers given a large
//! stack; sizes below the minimum are an error; the minimum runs jobs, panicking ones
//! included.

#![cfg(not(zeta_loom))]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::{wait_until, Behaviour, Probe, Tally};
use zeta_scheduler::{
    JobRef, Resumable, ResumeInfo, Scheduler, SchedulerError, SharingScheduler, MIN_STACK_SIZE,
};

/// Bytes of the large frame: twice std's default thread stack.
const FRAME: usize = 4 << 20;

/// Uses a `FRAME`-byte local that the optimiser cannot remove.
#[inline(never)]
fn large_frame(seed: u8) -> u64 {
    let mut frame = [0u8; FRAME];
    frame[FRAME - 1] = seed;
    let frame = std::hint::black_box(&mut frame);
    u64::from(frame[0]) + u64::from(frame[FRAME - 1])
}

/// Runs [`large_frame`] and records its result.
struct LargeFrame(Arc<AtomicU64>);

impl Resumable for LargeFrame {
    fn resume(&self, _max_throughput: usize) -> ResumeInfo {
        self.0.store(large_frame(7), Ordering::Release);
        ResumeInfo::done(1)
    }
}

#[test]
fn a_job_with_a_large_frame_runs_on_a_large_stack() {
    let s = SharingScheduler::builder()
        .workers(2)
        .stack_size(32 << 20)
        .build()
        .unwrap();
    s.start().unwrap();
    let result = Arc::new(AtomicU64::new(0));
    s.schedule(JobRef::new(LargeFrame(result.clone()))).unwrap();
    wait_until("the large frame", || result.load(Ordering::Acquire) != 0);
    assert_eq!(result.load(Ordering::Acquire), 7);
    assert_eq!(s.stop().unwrap().cancelled, 0);
}

#[test]
fn a_stack_below_the_minimum_is_an_error() {
    for requested in [0, 1, MIN_STACK_SIZE - 1] {
        let err = SharingScheduler::builder()
            .stack_size(requested)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, SchedulerError::StackTooSmall { requested: r, min } if r == requested && min == MIN_STACK_SIZE),
            "{err:?}"
        );
    }
    let err = SharingScheduler::builder()
        .stack_size(0)
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("a worker stack of 0 bytes is too small; at least {MIN_STACK_SIZE} are needed")
    );
}

#[test]
fn the_minimum_stack_runs_jobs_and_survives_a_panic() {
    let s = SharingScheduler::builder()
        .workers(1)
        .stack_size(MIN_STACK_SIZE)
        .build()
        .unwrap();
    s.start().unwrap();
    let tally = Tally::new();
    for behaviour in [Behaviour::Once, Behaviour::Panic, Behaviour::Work(1_000)] {
        s.schedule(JobRef::new(Probe::new(&tally, behaviour)))
            .unwrap();
    }
    wait_until("the three jobs", || {
        Tally::get(&tally.panics) == 1 && Tally::get(&tally.messages) >= 1_001
    });
    assert_eq!(s.stop().unwrap().cancelled, 0);
    assert_eq!(Tally::get(&tally.violations), 0);
}

/// A stack the OS cannot provide fails `start` with an error, not a panic.
#[test]
fn a_stack_the_os_cannot_provide_fails_start() {
    let s = SharingScheduler::builder()
        .workers(1)
        .stack_size(usize::MAX)
        .build()
        .unwrap();
    assert!(matches!(s.start(), Err(SchedulerError::Spawn(_))));
    // The failed start stopped the scheduler.
    assert!(matches!(s.start(), Err(SchedulerError::AlreadyStopped)));
}
