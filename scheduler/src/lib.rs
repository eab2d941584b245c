//! Resumable jobs and the schedulers that run them.
//!
//! A scheduler knows nothing of messages or actors: it runs [`Resumable`] jobs. A
//! worker resumes a job for at most `max_throughput` units of work and gets a
//! [`ResumeInfo`] back, whose [`ResumeResult`] says what to do with the job next:
//! requeue it, forget it until something wakes it, or retire it.
//!
//! For an actor, a unit of work is one message; [`ResumeResult::Awaiting`] means its
//! inbox is empty and blocked, and the next sender that unblocks it will schedule it
//! again (see `zeta_mailbox::Inbox::try_block`).
//!
//! # Example
//!
//! ```
//! use zeta_scheduler::{Resumable, ResumeInfo, ResumeResult};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//!
//! /// A job with a fixed amount of work.
//! struct Countdown(AtomicUsize);
//!
//! impl Resumable for Countdown {
//!     fn resume(&self, max_throughput: usize) -> ResumeInfo {
//!         let left = self.0.load(Ordering::Relaxed);
//!         let done = left.min(max_throughput);
//!         self.0.store(left - done, Ordering::Relaxed);
//!         let result = if left == done { ResumeResult::Done } else { ResumeResult::Resume };
//!         ResumeInfo { result, messages_processed: done }
//!     }
//! }
//!
//! let job = Countdown(AtomicUsize::new(10));
//! assert_eq!(job.resume(4), ResumeInfo { result: ResumeResult::Resume, messages_processed: 4 });
//! assert_eq!(job.resume(4).messages_processed, 4);
//! assert_eq!(job.resume(4), ResumeInfo { result: ResumeResult::Done, messages_processed: 2 });
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

/// What a scheduler does with a job after resuming it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResumeResult {
    /// More work is ready: put the job back in a run queue.
    Resume,
    /// Nothing to do, and the job has arranged to be scheduled again by whoever gives
    /// it work (for an actor: its inbox is blocked). Drop the queue's reference.
    Awaiting,
    /// The job has finished for good. Drop the queue's reference.
    Done,
    /// The job stopped because the scheduler is shutting down.
    Shutdown,
}

/// What a job reports after one resumption.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResumeInfo {
    /// What to do with the job next.
    pub result: ResumeResult,
    /// Units of work (messages) handled during this resumption; at most the
    /// `max_throughput` the job was given.
    pub messages_processed: usize,
}

/// A unit of scheduling: something a worker can resume for a bounded amount of work.
///
/// A scheduler guarantees that one job is never resumed by two threads at once.
pub trait Resumable {
    /// Runs at most `max_throughput` units of work and reports what happened.
    fn resume(&self, max_throughput: usize) -> ResumeInfo;
}
