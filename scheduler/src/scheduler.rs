//! The [`Scheduler`] trait and what it reports.

use core::fmt;

use crate::job::{JobRef, QueuedJob};
use crate::local_submit::LocalSubmit;
use crate::timer::Timers;

/// Something that runs jobs: the built-in [`SharingScheduler`](crate::SharingScheduler)
/// and [`ManualScheduler`](crate::ManualScheduler), or your own.
///
/// An implementation provides [`submit`](Scheduler::submit), which receives a
/// [`QueuedJob`]: an entry made by [`JobRef::into_queued`] or [`JobRef::queue`], which
/// make every job's run-queue entry unique. It runs entries with
/// [`QueuedJob::run`](crate::QueuedJob::run) (which resumes the job, catches panics, and
/// says whether to requeue it), so that whatever it does, a job is never resumed by two
/// threads at once, and is resumed or told shutdown for every time it was queued.
///
/// An actor is such a job: the zeta crate's `System::new` runs actors on the scheduler
/// of the example below. [`timers`](Scheduler::timers) says how to give one time.
///
/// # Examples
///
/// A complete scheduler: a FIFO run queue with no threads, driven by its caller.
///
/// ```
/// use std::collections::VecDeque;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Mutex;
/// use zeta_scheduler::{
///     JobRef, QueuedJob, ResumeInfo, Resumable, Scheduler, SchedulerError, StopReport, Stopped,
/// };
///
/// /// The run queue; `None` once stopped.
/// struct Fifo(Mutex<Option<VecDeque<QueuedJob>>>);
///
/// impl Fifo {
///     fn new() -> Self {
///         Fifo(Mutex::new(Some(VecDeque::new())))
///     }
///
///     /// Runs jobs until none is ready; returns how many resumes that took.
///     fn run_until_idle(&self) -> usize {
///         let mut resumes = 0;
///         loop {
///             // The lock is not held while the job runs: a job may schedule others.
///             let next = self.0.lock().unwrap().as_mut().and_then(VecDeque::pop_front);
///             let Some(job) = next else { return resumes };
///             resumes += 1;
///             // Resumes it (catching a panic) and says whether it wants to run again.
///             if let Some(again) = job.run(16).requeue {
///                 let _ = self.submit(again); // refused after a stop: told shutdown
///             }
///         }
///     }
/// }
///
/// impl Scheduler for Fifo {
///     fn submit(&self, job: QueuedJob) -> Result<(), Stopped> {
///         match self.0.lock().unwrap().as_mut() {
///             Some(queue) => {
///                 queue.push_back(job);
///                 Ok(())
///             }
///             None => Err(Stopped::new(job)),
///         }
///     }
///
///     fn start(&self) -> Result<(), SchedulerError> {
///         Ok(()) // no threads: the caller drives it
///     }
///
///     fn stop(&self) -> Result<StopReport, SchedulerError> {
///         let queued = self.0.lock().unwrap().take().unwrap_or_default();
///         // Dropped outside the lock: each queued job is told shutdown.
///         Ok(StopReport { cancelled: queued.len() as u64 })
///     }
/// }
///
/// /// `left` units of work, done at most `max_throughput` at a time.
/// struct Countdown(AtomicUsize);
/// impl Resumable for Countdown {
///     fn resume(&self, max_throughput: usize) -> ResumeInfo {
///         let left = self.0.load(Ordering::Relaxed);
///         let done = left.min(max_throughput);
///         self.0.store(left - done, Ordering::Relaxed);
///         if left == done { ResumeInfo::done(done) } else { ResumeInfo::resume(done) }
///     }
/// }
///
/// let fifo = Fifo::new();
/// let job = JobRef::new(Countdown(AtomicUsize::new(40)));
/// fifo.schedule(job.clone()).unwrap();
/// fifo.schedule(job.clone()).unwrap(); // already queued: nothing more
/// assert_eq!(fifo.run_until_idle(), 3); // 16 + 16 + 8
/// assert!(job.is_complete());
///
/// let waiting = JobRef::new(Countdown(AtomicUsize::new(1)));
/// fifo.schedule(waiting.clone()).unwrap();
/// assert_eq!(fifo.stop().unwrap().cancelled, 1);
/// assert!(waiting.is_complete()); // told shutdown, never resumed
/// let late = JobRef::new(Countdown(AtomicUsize::new(1)));
/// assert!(fifo.schedule(late.clone()).is_err()); // refused
/// ```
pub trait Scheduler: Send + Sync {
    /// Queues `job` to be resumed.
    ///
    /// Scheduling a job that is already queued, or running (it is then resumed once more
    /// after the current run), does nothing more. The provided implementation takes the
    /// job's run right ([`JobRef::into_queued`]: its `QUEUED` bit, or, for a
    /// self-arbitrated job such as an actor, its own claim, which succeeds only if the
    /// job is idle) and gives the entry to [`submit`](Scheduler::submit).
    ///
    /// # Errors
    ///
    /// [`Stopped`] if the scheduler has stopped. The error holds the job, still queued
    /// (its run right taken, so nobody else runs it): the caller may inspect it, then
    /// drops it, which tells the job shutdown. The actor layer uses this window to take
    /// back the message whose send found the scheduler stopped.
    #[inline]
    fn schedule(&self, job: JobRef) -> Result<(), Stopped> {
        match job.into_queued() {
            Some(queued) => self.submit(queued),
            None => Ok(()),
        }
    }

    /// Puts a job that holds its run right into a run queue: the part of
    /// [`schedule`](Scheduler::schedule) a scheduler implements. The caller made the
    /// entry with [`JobRef::into_queued`], [`JobRef::queue`] (for a borrowed reference),
    /// or [`JobRef::take_run_right`] (the actor layer's send path: its push took the
    /// right), so it is the job's only entry.
    ///
    /// # Errors
    ///
    /// As for [`schedule`](Scheduler::schedule): [`Stopped`] hands the entry back.
    fn submit(&self, job: QueuedJob) -> Result<(), Stopped>;

    /// The scheduler's fast path for submissions from its own running jobs, to call
    /// without a dynamic call ([`LocalSubmit`]); `None` (the default) if it has none.
    /// What the handle queues, `submit` would have queued the same way.
    fn local_submit(&self) -> Option<LocalSubmit<'_>> {
        None
    }

    /// The scheduler's [`Timers`], if it keeps time: the built-in schedulers do (the
    /// sharing one on the real clock, the manual one on a virtual clock). The default
    /// is `None`: a scheduler without time, on which timers cannot be armed (the actor
    /// layer's timer calls return an error and hand the message back; nothing starts a
    /// thread behind your back). To give a custom scheduler time, keep a `Timers` in it,
    /// return it here, call [`Timers::poll`] from its loop, and sleep no longer than
    /// [`Timers::next_deadline`]; [`Timers::arm`] returning [`Armed::Earlier`] is the
    /// moment to wake a sleeping loop ([`Timers::close`] at stop). The zeta crate's
    /// `tests/timers.rs` has one such scheduler (`Clocked`: a FIFO, its timers polled
    /// from its loop, which sleeps no longer than the next deadline).
    ///
    /// [`Armed::Earlier`]: crate::Armed::Earlier
    fn timers(&self) -> Option<&Timers> {
        None
    }

    /// Tells a scheduler that keeps time that an armed timer's deadline is now the
    /// earliest ([`Armed::Earlier`](crate::Armed::Earlier)): a sleeping worker must look
    /// again. The default does nothing.
    fn timer_armed_earlier(&self) {}

    /// Starts running jobs (spawns threads, for a threaded scheduler). Jobs scheduled
    /// before `start` wait until then.
    ///
    /// # Errors
    ///
    /// [`SchedulerError`] if it already started, was stopped, or could not start.
    fn start(&self) -> Result<(), SchedulerError>;

    /// Stops: every job still queued is told shutdown, every thread is joined.
    ///
    /// # Errors
    ///
    /// [`SchedulerError`] on misuse, e.g. stopping a threaded scheduler from one of its
    /// own workers (it would wait for itself).
    fn stop(&self) -> Result<StopReport, SchedulerError>;
}

/// The scheduler has stopped and refused a job.
///
/// It holds the refused job as a [`QueuedJob`]: while the error lives, the job's `QUEUED`
/// bit is held, so nothing else can resume it and whoever holds the error has the job to
/// itself. Dropping the error (or the job taken out with [`into_job`](Stopped::into_job))
/// tells the job shutdown, so a refused job is never silently lost.
///
/// # Examples
///
/// ```
/// use zeta_scheduler::{JobRef, ManualScheduler, ResumeInfo, Resumable, Scheduler};
///
/// struct Job;
/// impl Resumable for Job {
///     fn resume(&self, _max: usize) -> ResumeInfo {
///         ResumeInfo::done(1)
///     }
/// }
///
/// let scheduler = ManualScheduler::new(16).unwrap();
/// scheduler.stop().unwrap();
/// let job = JobRef::new(Job);
/// let refused = scheduler.schedule(job.clone()).unwrap_err();
/// assert_eq!(refused.job(), &job);
/// drop(refused); // the job is told shutdown
/// assert!(job.is_complete());
/// ```
pub struct Stopped {
    job: QueuedJob,
}

impl Stopped {
    /// The error for a refused job (for [`Scheduler`] implementations).
    pub fn new(job: QueuedJob) -> Self {
        Self { job }
    }

    /// The refused job.
    pub fn job(&self) -> &JobRef {
        self.job.job()
    }

    /// Takes the refused job out; dropping or cancelling it tells it shutdown.
    pub fn into_job(self) -> QueuedJob {
        self.job
    }
}

impl fmt::Debug for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stopped").field("job", &self.job).finish()
    }
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the scheduler has stopped and refused the job")
    }
}

impl std::error::Error for Stopped {}

/// What [`Scheduler::stop`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StopReport {
    /// Jobs that were queued when the scheduler stopped and were told shutdown instead
    /// of being resumed (jobs scheduled after the stop are not counted here: their
    /// `schedule` returned [`Stopped`]).
    pub cancelled: u64,
}

/// A scheduler was misconfigured or misused.
#[derive(Debug)]
#[non_exhaustive]
pub enum SchedulerError {
    /// The worker count must be at least 1.
    ZeroWorkers,
    /// `max_throughput` must be at least 1.
    ZeroThroughput,
    /// More workers than the scheduler supports.
    TooManyWorkers {
        /// What was asked for.
        requested: usize,
        /// The limit.
        max: usize,
    },
    /// `start` was called twice.
    AlreadyStarted,
    /// The scheduler was stopped; it cannot start again.
    AlreadyStopped,
    /// `stop` was called from one of the scheduler's own worker threads.
    StopFromWorker,
    /// `run_*` was called while the scheduler was already being driven (re-entrantly, or
    /// from two threads).
    AlreadyRunning,
    /// The worker threads' name ([`thread_name`]) contains a NUL byte, which thread names
    /// cannot hold.
    ///
    /// [`thread_name`]: crate::SharingSchedulerBuilder::thread_name
    InvalidThreadName,
    /// The worker threads' stack size ([`stack_size`]) is below the least they run on.
    ///
    /// [`stack_size`]: crate::SharingSchedulerBuilder::stack_size
    StackTooSmall {
        /// What was asked for, in bytes.
        requested: usize,
        /// The least accepted ([`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE)).
        min: usize,
    },
    /// A worker thread could not be spawned.
    Spawn(std::io::Error),
}

impl fmt::Display for SchedulerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroWorkers => f.write_str("a scheduler needs at least one worker"),
            Self::ZeroThroughput => f.write_str("max_throughput must be at least 1"),
            Self::TooManyWorkers { requested, max } => {
                write!(
                    f,
                    "{requested} workers requested; at most {max} are supported"
                )
            }
            Self::AlreadyStarted => f.write_str("the scheduler has already started"),
            Self::AlreadyStopped => f.write_str("the scheduler has stopped and cannot start again"),
            Self::StopFromWorker => f.write_str(
                "stop called from one of the scheduler's workers; it would wait for itself",
            ),
            Self::AlreadyRunning => f.write_str("the scheduler is already being run"),
            Self::InvalidThreadName => f.write_str("the worker thread name contains a NUL byte"),
            Self::StackTooSmall { requested, min } => write!(
                f,
                "a worker stack of {requested} bytes is too small; at least {min} are needed"
            ),
            Self::Spawn(e) => write!(f, "could not spawn a worker thread: {e}"),
        }
    }
}

impl std::error::Error for SchedulerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn(e) => Some(e),
            _ => None,
        }
    }
}
