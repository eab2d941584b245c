//! [`Resumable`], [`ResumeInfo`] and [`ResumeResult`]: the contract between a job and the
//! scheduler that runs it.

use core::any::Any;

/// What a scheduler does with a job after resuming it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResumeResult {
    /// More work is ready: put the job back in a run queue.
    Resume,
    /// Nothing to do, and the job has arranged to be scheduled again by whoever gives
    /// it work (for an actor: its inbox is blocked). Drop the queue's reference.
    Awaiting,
    /// The job has finished for good. It is never resumed again.
    Done,
    /// The job stopped because its world is shutting down. It is never resumed again.
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

impl ResumeInfo {
    /// `Awaiting` after `messages_processed` units of work.
    pub const fn awaiting(messages_processed: usize) -> Self {
        Self {
            result: ResumeResult::Awaiting,
            messages_processed,
        }
    }

    /// `Resume` after `messages_processed` units of work.
    pub const fn resume(messages_processed: usize) -> Self {
        Self {
            result: ResumeResult::Resume,
            messages_processed,
        }
    }

    /// `Done` after `messages_processed` units of work.
    pub const fn done(messages_processed: usize) -> Self {
        Self {
            result: ResumeResult::Done,
            messages_processed,
        }
    }
}

/// A unit of scheduling: something a worker can resume for a bounded amount of work.
///
/// Wrap it in a [`JobRef`](crate::JobRef) to schedule it. A scheduler guarantees that
/// one job is never resumed by two threads at once, and that a job is resumed, or told
/// [`shutdown`](Resumable::shutdown), for every time it was queued.
///
/// # Examples
///
/// ```
/// use zeta_scheduler::{Resumable, ResumeInfo, ResumeResult};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// /// A job with a fixed amount of work.
/// struct Countdown(AtomicUsize);
///
/// impl Resumable for Countdown {
///     fn resume(&self, max_throughput: usize) -> ResumeInfo {
///         let left = self.0.load(Ordering::Relaxed);
///         let done = left.min(max_throughput);
///         self.0.store(left - done, Ordering::Relaxed);
///         if left == done { ResumeInfo::done(done) } else { ResumeInfo::resume(done) }
///     }
/// }
///
/// let job = Countdown(AtomicUsize::new(10));
/// assert_eq!(job.resume(4), ResumeInfo { result: ResumeResult::Resume, messages_processed: 4 });
/// assert_eq!(job.resume(4).messages_processed, 4);
/// assert_eq!(job.resume(4), ResumeInfo::done(2));
/// ```
pub trait Resumable {
    /// Runs at most `max_throughput` units of work and reports what happened.
    fn resume(&self, max_throughput: usize) -> ResumeInfo;

    /// The job was queued but will not be resumed: its scheduler is stopping (or had
    /// stopped when it was scheduled). It will never be resumed again. The default does
    /// nothing; an actor fails its pending requests here.
    fn shutdown(&self) {}

    /// `resume` panicked; the panic was caught at the worker, which lives on. The job
    /// is complete and will never be resumed again. The default does nothing; an actor
    /// marks itself failed and fails its pending requests here.
    fn panicked(&self, payload: &(dyn Any + Send)) {
        let _ = payload;
    }
}
