//! [`LocalSubmit`]: a scheduler's own fast path for a submission made by one of its
//! running jobs, reachable without a dynamic call.
//!
//! An actor keeps its scheduler as `Arc<dyn Scheduler>`, so every send that wakes an
//! idle actor is an indirect call to [`Scheduler::submit`], which cannot be inlined,
//! although what it does in the common case is small: the sender is a job of the same
//! scheduler, and the woken job goes straight into that worker's LIFO slot (a
//! [`SharingScheduler`](crate::SharingScheduler)) or onto the back of the driving
//! thread's ready queue (an unseeded [`ManualScheduler`](crate::ManualScheduler)). A
//! handle from [`Scheduler::local_submit`] does exactly that, inline, and gives the job
//! back otherwise ([`try_submit`](LocalSubmit::try_submit) returns `Err`), for the
//! caller to hand to `submit`. It is the same code `submit` runs first: the two paths
//! cannot disagree.

use core::marker::PhantomData;

use crate::job::QueuedJob;
use crate::manual::ManualScheduler;

/// A scheduler's fast path for submissions from its own running jobs; see the module
/// documentation. Other schedulers have none ([`Scheduler::local_submit`] is `None`).
/// It borrows its scheduler.
///
/// [`Scheduler::local_submit`]: crate::Scheduler::local_submit
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
/// let local = scheduler.local_submit().expect("a manual scheduler has one");
/// // Not inside one of its jobs: the handle gives the job back, for `submit`.
/// let queued = JobRef::new(Job).into_queued().unwrap();
/// let queued = local.try_submit(queued).unwrap_err();
/// scheduler.submit(queued).unwrap();
/// assert_eq!(scheduler.run_until_idle().unwrap().resumes, 1);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct LocalSubmit<'a>(pub(crate) Kind, pub(crate) PhantomData<&'a ()>);

#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// A `SharingScheduler`'s id: its workers' jobs submit to the worker's LIFO slot.
    Sharing(usize),
    /// A `ManualScheduler`: its jobs submit to its ready queue while it runs them.
    Manual(*const ManualScheduler),
}

// SAFETY: the `Manual` pointer is only compared with the thread's `RUNNING_ON` mark and
// dereferenced when they are equal, i.e. on the thread that is running a job of that
// scheduler, which is alive then (it is inside `step`, and the handle's borrow keeps it
// alive anyway); everything else is a plain id.
unsafe impl Send for LocalSubmit<'_> {}
// SAFETY: as above; the handle is immutable.
unsafe impl Sync for LocalSubmit<'_> {}

impl LocalSubmit<'_> {
    /// Queues `job` if the calling thread is running a job of this scheduler (the
    /// scheduler's own cheap path), else gives it back for
    /// [`Scheduler::submit`](crate::Scheduler::submit).
    ///
    /// # Errors
    ///
    /// The job, untouched, when the fast path does not apply.
    #[inline]
    pub fn try_submit(self, job: QueuedJob) -> Result<(), QueuedJob> {
        match self.0 {
            Kind::Sharing(id) => crate::sharing::submit_local(id, job),
            // SAFETY: `try_submit_running` dereferences the pointer only when the thread
            // is inside that scheduler's `step` (see the `Send` impl above).
            Kind::Manual(scheduler) => unsafe {
                ManualScheduler::try_submit_running(scheduler, job)
            },
        }
    }
}
