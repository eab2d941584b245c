//! Jobs: a thin, refcounted pointer to a header with a `&'static` vtable.
//!
//! ```text
//! JobRef (one word) ──▶ #[repr(C)] JobHeader
//!                        state   (QUEUED / RUNNING / NOTIFIED / COMPLETE and the strong
//!                                 count, one word: see state.rs; destroyed at count zero)
//!                        next    (intrusive link: the injector, the manual queue)
//!                        vtable  (&'static: resume, shutdown, panicked, destroy)
//!                      followed by the job itself
//! ```
//!
//! A run queue holds one [`JobRef`] per entry, one word, and that reference keeps the job
//! alive while it is queued. The header may live anywhere: [`JobRef::new`] boxes a
//! [`Resumable`]; the actor layer embeds the header in its own allocation from a memory
//! resource and supplies its own vtable ([`JobRef::from_raw`]).
//!
//! Refcounting follows the usual rules: a Relaxed increment with an abort on overflow;
//! a Release decrement, and an Acquire before destroying (an Acquire load of the state
//! word rather than `Arc`'s fence, so that ThreadSanitizer sees it: see `state.rs`). The count lives in the
//! state word, so that queueing a job ([`JobRef::queue`]) and finishing a run
//! ([`QueuedJob::run`]) move the queue's reference in the same CAS as the state.

pub(crate) mod state;

#[cfg(all(test, zeta_loom))]
mod loom;

use core::any::Any;
use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

use self::state::State;
use crate::resumable::{Resumable, ResumeInfo};
use crate::sync::UnsafeCell;

/// The header at the start of every job.
#[repr(C)]
pub struct JobHeader {
    /// The state bits and the reference count.
    pub(crate) state: State,
    /// Intrusive link. Used only by the queue that holds the job, and a job is in at most
    /// one queue (its `QUEUED` bit).
    pub(crate) next: UnsafeCell<*mut JobHeader>,
    vtable: &'static JobVTable,
}

/// The type-erased operations of a job kind.
///
/// Every function receives the header of a live job of the kind the table belongs to.
#[derive(Debug)]
pub struct JobVTable {
    /// Runs at most `max_throughput` units of work ([`Resumable::resume`]).
    pub resume: unsafe fn(NonNull<JobHeader>, usize) -> ResumeInfo,
    /// The job will not be resumed: its scheduler is stopping ([`Resumable::shutdown`]).
    pub shutdown: unsafe fn(NonNull<JobHeader>),
    /// `resume` panicked with this payload ([`Resumable::panicked`]).
    pub panicked: unsafe fn(NonNull<JobHeader>, &(dyn Any + Send)),
    /// The last reference is gone: drop the job and free its memory.
    pub destroy: unsafe fn(NonNull<JobHeader>),
}

impl JobHeader {
    /// A header for a new job with one reference (to be adopted by
    /// [`JobRef::from_raw`]), idle, using `vtable`.
    pub fn new(vtable: &'static JobVTable) -> Self {
        Self {
            state: State::new(),
            next: UnsafeCell::new(core::ptr::null_mut()),
            vtable,
        }
    }
}

impl fmt::Debug for JobHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHeader")
            .field("state", &self.state.load())
            .finish()
    }
}

/// A boxed job: the header, then the [`Resumable`].
#[repr(C)]
struct BoxedJob<T> {
    header: JobHeader,
    job: T,
}

struct VTableFor<T>(PhantomData<T>);

impl<T: Resumable + Send + Sync + 'static> VTableFor<T> {
    const VTABLE: JobVTable = JobVTable {
        resume: resume_boxed::<T>,
        shutdown: shutdown_boxed::<T>,
        panicked: panicked_boxed::<T>,
        destroy: destroy_boxed::<T>,
    };
}

/// # Safety
///
/// `header` is the header of a live `BoxedJob<T>`.
unsafe fn boxed<'a, T>(header: NonNull<JobHeader>) -> &'a T {
    // SAFETY: the caller guarantees a live `BoxedJob<T>`, whose header is its first field
    // (`repr(C)`), so the cast finds the job.
    unsafe { &(*header.cast::<BoxedJob<T>>().as_ptr()).job }
}

unsafe fn resume_boxed<T: Resumable>(
    header: NonNull<JobHeader>,
    max_throughput: usize,
) -> ResumeInfo {
    // SAFETY: the vtable of a `BoxedJob<T>` is only called with its header.
    unsafe { boxed::<T>(header) }.resume(max_throughput)
}

unsafe fn shutdown_boxed<T: Resumable>(header: NonNull<JobHeader>) {
    // SAFETY: as above.
    unsafe { boxed::<T>(header) }.shutdown()
}

unsafe fn panicked_boxed<T: Resumable>(header: NonNull<JobHeader>, payload: &(dyn Any + Send)) {
    // SAFETY: as above.
    unsafe { boxed::<T>(header) }.panicked(payload)
}

unsafe fn destroy_boxed<T>(header: NonNull<JobHeader>) {
    // SAFETY: called once, when the last reference is gone; the job was made by
    // `Box::into_raw` in `JobRef::new`.
    drop(unsafe { Box::from_raw(header.cast::<BoxedJob<T>>().as_ptr()) });
}

/// An owned, refcounted reference to a job: one word.
///
/// Cloning adds a reference; dropping the last one destroys the job. A scheduler takes
/// one `JobRef` per queue entry, so a queued job cannot be freed.
///
/// # Examples
///
/// ```
/// use zeta_scheduler::{JobRef, ResumeInfo, Resumable};
///
/// struct Hello;
/// impl Resumable for Hello {
///     fn resume(&self, _max_throughput: usize) -> ResumeInfo {
///         ResumeInfo::done(1)
///     }
/// }
///
/// let job = JobRef::new(Hello);
/// let again = job.clone();
/// assert_eq!(job.ref_count(), 2);
/// drop(again);
/// assert_eq!(core::mem::size_of::<JobRef>(), core::mem::size_of::<usize>());
/// ```
pub struct JobRef {
    header: NonNull<JobHeader>,
}

// SAFETY: a job's vtable functions may be called from any thread: `JobRef::new` requires
// `T: Send + Sync`, and `from_raw` makes the same a duty of its caller. The refcount and
// state are atomics.
unsafe impl Send for JobRef {}
// SAFETY: as above; `&JobRef` only clones, reads the state, or compares.
unsafe impl Sync for JobRef {}

impl JobRef {
    /// Boxes `job` behind a header (one global allocation) and returns the first
    /// reference. The actor layer places its jobs in memory resources instead, through
    /// [`from_raw`](JobRef::from_raw).
    pub fn new<T: Resumable + Send + Sync + 'static>(job: T) -> Self {
        let boxed = Box::new(BoxedJob {
            header: JobHeader::new(&VTableFor::<T>::VTABLE),
            job,
        });
        // SAFETY: a fresh box with one reference in its header, which we adopt.
        unsafe { Self::from_raw(NonNull::from(Box::leak(boxed)).cast()) }
    }

    /// Adopts one reference to a job.
    ///
    /// # Safety
    ///
    /// 1. `header` points to a live [`JobHeader`] made with [`JobHeader::new`], at the
    ///    start of a job its vtable knows how to handle;
    /// 2. the caller owns one of its references (the one [`JobHeader::new`] starts with,
    ///    one given up by [`into_raw`](JobRef::into_raw), or one added by a clone that
    ///    was forgotten), and gives it to the new `JobRef`;
    /// 3. the vtable's functions may be called from any thread (the job is `Send + Sync`),
    ///    and `destroy` frees the job exactly as it was allocated.
    pub unsafe fn from_raw(header: NonNull<JobHeader>) -> Self {
        Self { header }
    }

    /// Gives up this reference without dropping it; [`from_raw`](JobRef::from_raw)
    /// takes it back.
    pub fn into_raw(self) -> NonNull<JobHeader> {
        let header = self.header;
        core::mem::forget(self);
        header
    }

    /// The header's address (for identity comparisons).
    pub fn as_ptr(&self) -> NonNull<JobHeader> {
        self.header
    }

    /// Whether the job has finished for good (`Done`, `Shutdown`, panicked, cancelled).
    pub fn is_complete(&self) -> bool {
        self.header().state.is_complete()
    }

    /// The number of references (a snapshot).
    pub fn ref_count(&self) -> usize {
        self.header().state.load().refs()
    }

    #[inline(always)]
    pub(crate) fn header(&self) -> &JobHeader {
        // SAFETY: we own a reference, so the job is live.
        unsafe { self.header.as_ref() }
    }

    /// Calls the job's `resume`.
    #[inline]
    pub(crate) fn resume(&self, max_throughput: usize) -> ResumeInfo {
        // SAFETY: the job is live (we hold a reference) and the table is its own.
        unsafe { (self.header().vtable.resume)(self.header, max_throughput) }
    }

    /// Tells the job it will not be resumed.
    pub(crate) fn shutdown(&self) {
        // SAFETY: as in `resume`.
        unsafe { (self.header().vtable.shutdown)(self.header) }
    }

    /// Tells the job its `resume` panicked.
    pub(crate) fn panicked(&self, payload: &(dyn Any + Send)) {
        // SAFETY: as in `resume`.
        unsafe { (self.header().vtable.panicked)(self.header, payload) }
    }
}

impl Clone for JobRef {
    #[inline]
    fn clone(&self) -> Self {
        // A new reference can only be made from an existing one, which keeps the job
        // alive; `ref_inc` aborts before the count could wrap.
        self.header().state.ref_inc();
        Self {
            header: self.header,
        }
    }
}

impl Drop for JobRef {
    #[inline]
    fn drop(&mut self) {
        // `ref_dec` decrements with Release (everything this reference's holder did to
        // the job happens before the destruction) and, on the last reference, loads the
        // word with Acquire (the destroyer sees every other holder's uses).
        if !self.header().state.ref_dec() {
            return;
        }
        // SAFETY: we held the last reference: nobody else can reach the job, and its
        // vtable's `destroy` frees it exactly as it was made.
        unsafe { (self.header().vtable.destroy)(self.header) }
    }
}

impl PartialEq for JobRef {
    fn eq(&self, other: &Self) -> bool {
        self.header == other.header
    }
}

impl Eq for JobRef {}

impl fmt::Debug for JobRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JobRef").field(self.header()).finish()
    }
}

/// A job that holds its `QUEUED` bit: the only form in which a job may sit in a run
/// queue. At most one exists per job at a time, which is what makes a job's run-queue
/// entry unique and its intrusive link safe to use.
///
/// Get one with [`JobRef::into_queued`]; give it to exactly one of [`run`](QueuedJob::run)
/// (which may hand it back to requeue) or [`cancel`](QueuedJob::cancel). Dropping it
/// cancels it, so a job is resumed or told shutdown for every time it was queued.
///
/// # Examples
///
/// A single-threaded FIFO scheduler's loop:
///
/// ```
/// use std::collections::VecDeque;
/// use zeta_scheduler::{JobRef, QueuedJob, ResumeInfo, Resumable};
///
/// struct Twice(std::sync::atomic::AtomicUsize);
/// impl Resumable for Twice {
///     fn resume(&self, _max: usize) -> ResumeInfo {
///         let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         if n == 0 { ResumeInfo::resume(1) } else { ResumeInfo::done(1) }
///     }
/// }
///
/// let mut ready: VecDeque<QueuedJob> = VecDeque::new();
/// let job = JobRef::new(Twice(0.into()));
/// ready.extend(job.clone().into_queued());
/// assert!(job.clone().into_queued().is_none(), "already queued: no second entry");
/// let mut resumes = 0;
/// while let Some(queued) = ready.pop_front() {
///     let ran = queued.run(16);
///     resumes += 1;
///     ready.extend(ran.requeue);
/// }
/// assert_eq!(resumes, 2);
/// assert!(job.is_complete());
/// ```
pub struct QueuedJob {
    job: JobRef,
}

/// What [`QueuedJob::run`] did.
#[derive(Debug)]
pub struct Ran {
    /// What the job reported, or `None` if `resume` panicked (the job is then complete
    /// and was told through [`Resumable::panicked`]).
    pub info: Option<ResumeInfo>,
    /// The job, queued again: it returned `Resume`, or was scheduled while it ran. Put
    /// it back in a run queue (or cancel it).
    pub requeue: Option<QueuedJob>,
}

impl JobRef {
    /// Takes the job's `QUEUED` bit: `Some` if the caller must now put it in a run queue,
    /// `None` if there is nothing to do (it is already queued, or running and now marked
    /// to run again, or complete). This is the first step of every `schedule`.
    #[inline]
    pub fn into_queued(self) -> Option<QueuedJob> {
        match self.header().state.transition_to_queued() {
            state::ToQueued::Push => Some(QueuedJob { job: self }),
            state::ToQueued::AlreadyScheduled | state::ToQueued::Complete => None,
        }
    }

    /// Like [`into_queued`](JobRef::into_queued), through a borrowed reference: on
    /// success the queue's new reference is added in the same atomic step as the
    /// `QUEUED` bit, so `job.queue()` costs one atomic read-modify-write where
    /// `job.clone().into_queued()` costs two (three when there is nothing to do). This is
    /// the hot path of a message send; give the result to [`Scheduler::submit`].
    ///
    /// [`Scheduler::submit`]: crate::Scheduler::submit
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta_scheduler::{JobRef, ResumeInfo, Resumable};
    ///
    /// struct Job;
    /// impl Resumable for Job {
    ///     fn resume(&self, _max: usize) -> ResumeInfo {
    ///         ResumeInfo::awaiting(1)
    ///     }
    /// }
    ///
    /// let job = JobRef::new(Job);
    /// let queued = job.queue().expect("idle: the caller must queue it");
    /// assert_eq!(job.ref_count(), 2, "the queue's reference");
    /// assert!(job.queue().is_none(), "already queued: no second entry");
    /// drop(queued.run(16));
    /// assert_eq!(job.ref_count(), 1);
    /// ```
    #[inline]
    pub fn queue(&self) -> Option<QueuedJob> {
        match self.header().state.transition_to_queued_with_ref() {
            state::ToQueued::Push => Some(QueuedJob {
                // SAFETY: the transition added one reference for the queue entry; the
                // new `JobRef` adopts it (rule 2 of `from_raw`). The header is a live
                // job's (we hold `self`), made as `from_raw` requires.
                job: unsafe { JobRef::from_raw(self.header) },
            }),
            state::ToQueued::AlreadyScheduled | state::ToQueued::Complete => None,
        }
    }

    /// Destroys the job whose count the caller has just taken to zero (without this
    /// reference's drop, which would decrement it again).
    ///
    /// # Safety
    ///
    /// The count is zero, and the caller's atomic step that made it so acquired (an
    /// AcqRel CAS, or a Release decrement followed by an Acquire load of the word):
    /// nobody else can reach the job, and every other owner's uses happen before.
    unsafe fn destroy_at_zero(self) {
        let header = self.into_raw();
        // SAFETY: the caller's guarantee: nobody else can reach the job; its vtable's
        // `destroy` frees it exactly as it was made.
        unsafe { (header.as_ref().vtable.destroy)(header) }
    }
}

impl QueuedJob {
    /// The job.
    pub fn job(&self) -> &JobRef {
        &self.job
    }

    /// Resumes the job for at most `max_throughput` units of work.
    ///
    /// A panic in `resume` is caught here: the job is told through
    /// [`Resumable::panicked`] and completes; the caller lives on.
    #[inline]
    pub fn run(self, max_throughput: usize) -> Ran {
        let job = self.into_job();
        let header = job.header();
        header.state.transition_to_running();
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.resume(max_throughput)));
        match outcome {
            Ok(info) => {
                let again = info.result == crate::ResumeResult::Resume;
                let complete = matches!(
                    info.result,
                    crate::ResumeResult::Done | crate::ResumeResult::Shutdown
                );
                // The queue's reference goes in the same CAS as `RUNNING` unless requeued.
                let requeue = match header
                    .state
                    .transition_from_running_releasing(again, complete)
                {
                    state::RunEnd::Requeue => Some(QueuedJob { job }),
                    state::RunEnd::Released => {
                        // Our reference is gone with the CAS: the job may already be
                        // freed by another owner, so not even its count may be touched.
                        core::mem::forget(job);
                        None
                    }
                    state::RunEnd::Last => {
                        // No fence: the CAS that took the count to zero is AcqRel, and
                        // its Acquire half pairs with every other owner's Release
                        // decrement (each heads a release sequence of RMWs that the CAS
                        // continues), as an Acquire fence would.
                        // SAFETY: the CAS took the count to zero and acquired (above):
                        // every other owner's use happens before this.
                        unsafe { job.destroy_at_zero() };
                        None
                    }
                };
                Ran {
                    info: Some(info),
                    requeue,
                }
            }
            Err(payload) => {
                let _ = header.state.transition_from_running(false, true);
                // A panicking hook must not take the caller down either.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    job.panicked(&*payload)
                }));
                Ran {
                    info: None,
                    requeue: None,
                }
            }
        }
    }

    /// Tells the job it will not be resumed (its scheduler is stopping) and releases it.
    /// The job completes.
    pub fn cancel(self) {
        drop(self);
    }

    /// Gives up the queued job as a raw header pointer, for intrusive queues; the
    /// `QUEUED` bit and one reference go with it.
    pub fn into_raw(self) -> NonNull<JobHeader> {
        self.into_job().into_raw()
    }

    /// Takes back a queued job given up by [`into_raw`](QueuedJob::into_raw).
    ///
    /// # Safety
    ///
    /// `header` came from `QueuedJob::into_raw` and is taken back once.
    pub unsafe fn from_raw(header: NonNull<JobHeader>) -> Self {
        // SAFETY: the caller passes a pointer from `into_raw`, which carried a reference.
        let job = unsafe { JobRef::from_raw(header) };
        Self { job }
    }

    fn into_job(self) -> JobRef {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; we move its only field out.
        unsafe { core::ptr::read(&this.job) }
    }
}

impl Drop for QueuedJob {
    fn drop(&mut self) {
        // A queued job dropped without being run is cancelled, never silently lost.
        if self.job.header().state.transition_to_cancelled() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.job.shutdown()));
        }
    }
}

impl fmt::Debug for QueuedJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("QueuedJob").field(&self.job).finish()
    }
}
