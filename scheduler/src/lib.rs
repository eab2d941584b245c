//! Resumable jobs and the schedulers that run them.
//!
//! A scheduler knows nothing of messages or actors: it runs [`Resumable`] jobs. A
//! worker resumes a job for at most `max_throughput` units of work and gets a
//! [`ResumeInfo`] back, whose [`ResumeResult`] says what to do next: requeue it
//! (`Resume`), forget it until something schedules it again (`Awaiting`: for an actor,
//! its inbox is blocked and the next sender that unblocks it schedules it), or retire it
//! (`Done`, `Shutdown`).
//!
//! - [`JobRef`]: a thin (one word), refcounted pointer to a job header with a `&'static`
//!   vtable. A run queue holds one per entry, so a queued job cannot be freed.
//! - [`QueuedJob`]: a job holding its right to run (its `QUEUED` bit, or, for a
//!   self-arbitrated job such as an actor, the right the job's own protocol gave), the
//!   only thing a queue may hold. It
//!   makes a job's run-queue entry unique, and [`QueuedJob::run`] never lets two threads
//!   resume one job at once; it catches panics.
//! - [`Scheduler`]: `schedule`, `start`, `stop`, implementable outside this crate; a
//!   scheduler may also offer a [`LocalSubmit`], its cheap path for jobs scheduled by
//!   its own running jobs, callable without a dynamic call.
//! - [`SharingScheduler`]: N workers with work stealing, a LIFO slot for locality, an
//!   allocation-free injector for outside threads, spin-then-park idling with no lost
//!   wake-up, and a stop that accounts for every job.
//! - [`ManualScheduler`]: no threads; the caller runs jobs (`run_once`, `run_until_idle`,
//!   `run_for`), optionally shuffled by a seed, reproducibly; its clock is virtual
//!   (`advance`, `advance_to`).
//! - [`Timers`]: a hierarchical timing wheel owned by a scheduler, with a lock-free
//!   arming path; entries of any type behind a [`TimerHeader`]. The sharing scheduler's
//!   idle workers park until the earliest deadline (no timer thread).
//!
//! Bad configuration (0 workers, `max_throughput` 0) is an `Err`, never a panic.
//!
//! # Example
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use zeta_scheduler::{JobRef, ManualScheduler, ResumeInfo, Resumable, Scheduler};
//!
//! /// A job with `left` units of work, done `max_throughput` at a time.
//! struct Countdown { left: AtomicUsize, resumes: Arc<AtomicUsize> }
//!
//! impl Resumable for Countdown {
//!     fn resume(&self, max_throughput: usize) -> ResumeInfo {
//!         self.resumes.fetch_add(1, Ordering::Relaxed);
//!         let left = self.left.load(Ordering::Relaxed);
//!         let done = left.min(max_throughput);
//!         self.left.store(left - done, Ordering::Relaxed);
//!         if left == done { ResumeInfo::done(done) } else { ResumeInfo::resume(done) }
//!     }
//! }
//!
//! let scheduler = ManualScheduler::new(4).unwrap();
//! let resumes = Arc::new(AtomicUsize::new(0));
//! let job = JobRef::new(Countdown { left: AtomicUsize::new(10), resumes: resumes.clone() });
//! scheduler.schedule(job.clone()).unwrap();
//! let stats = scheduler.run_until_idle().unwrap();
//! assert_eq!((stats.resumes, stats.messages), (3, 10)); // 4 + 4 + 2
//! assert!(job.is_complete());
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

mod idle;
mod injector;
mod job;
mod local_submit;
mod manual;
#[cfg(feature = "observe")]
pub mod observe;
mod queue;
mod resumable;
pub mod rng;
mod scheduler;
mod sharing;
mod sync;
mod timer;

pub use job::{JobHeader, JobRef, JobVTable, QueuedJob, Ran, RunRight};
pub use local_submit::LocalSubmit;
pub use manual::{ManualScheduler, RunStats};
pub use resumable::{Resumable, ResumeInfo, ResumeResult};
pub use scheduler::{Scheduler, SchedulerError, StopReport, Stopped};
pub use sharing::{
    SharingScheduler, SharingSchedulerBuilder, WorkerStats, MAX_WORKERS, MIN_STACK_SIZE,
};
pub use timer::{
    Armed, CancelOutcome, Fire, Polled, TimerHeader, TimerVTable, Timers, CHECK_INTERVAL,
};
