//! Jobs: a thin, refcounted pointer to a header with a `&'static` vtable.
//!
//! ```text
//! JobRef (one word) ──▶ #[repr(C)] JobHeader
//!                        state   (QUEUED / RUNNING / NOTIFIED / COMPLETE and the strong
//!                                 count, one word: see state.rs; destroyed at count zero)
//!                        next    (intrusive link: the injector, the manual queue)
//!                        vtable  (&'static: resume, shutdown, panicked, destroy,
//!                                 and for self-arbitrated jobs claim, orphaned)
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

//!
//! # Self-arbitrated jobs
//!
//! A job whose table has [`run_right`](JobVTable::run_right) arbitrates its own right to
//! run, and the state word's `QUEUED`/`RUNNING`/`NOTIFIED` bits are never used for it.
//! An actor is one: its inbox's unblocked state *is* the right (the push that unblocks
//! the inbox takes it, the `try_block` that blocks it gives it up), so queueing, starting
//! and ending a run need no atomic operation of the scheduler's own. The rules:
//!
//! - **The run right owns one reference** for the job's whole life: the second of the
//!   two [`JobHeader::new`] starts with. While the job is idle, the job keeps it; whoever
//!   takes the right (by the job's protocol, then [`JobRef::take_run_right`]; or from
//!   outside, [`RunRight::claim`] through [`JobRef::queue`]/[`JobRef::into_queued`]) holds it
//!   inside the one [`QueuedJob`] that exists for that taking. So making the entry, and
//!   running it, touch no count.
//! - **A run** ([`QueuedJob::run`]): `Resume` hands the same entry back for requeueing;
//!   `Awaiting` means the job gave the right up (the entry is forgotten: its reference
//!   stays with the idle job, and the runner must not touch the job again); `Done`,
//!   `Shutdown`, a panic, or a cancelled entry *complete* the job: `COMPLETE` is set and
//!   the run right's reference given up, in one CAS.
//! - **Other references** (addresses, wakers, [`JobRef`] clones) are *outside* ones. The
//!   drop of the one that leaves the run right's reference alone on a job not yet
//!   complete turns, in the same CAS, into a *pin*: a count that keeps the job's memory
//!   but gives no access. The dropper then calls [`RunRight::orphaned`]: the job either
//!   claims its idle run right and ends there, or marks itself so that the holder of the
//!   right notices before it next gives the right up (and ends the job if it finds no
//!   other reference by then: one may have been made since, e.g. an actor cloning its
//!   own address). The dropper then unpins, and destroys the job if nothing is left.
//! - **Destruction** happens when no reference and no pin is left, which, since the
//!   run right's reference goes only at completion, is always after completion.
//!
//! The count and the pins follow the rules above: Relaxed increments; every decrement
//! and unpin an AcqRel CAS (Release for this owner's uses, Acquire for the destroyer).

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
    /// one queue (its one [`QueuedJob`]).
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
    /// `Some` for a job that arbitrates its own right to run (module doc,
    /// "Self-arbitrated jobs"); `None` for one that the state word arbitrates.
    pub run_right: Option<RunRight>,
}

/// The operations of a job that arbitrates its own right to run (module doc,
/// "Self-arbitrated jobs"), e.g. an actor, whose inbox's unblocked state *is* the right.
///
/// Both functions receive the header of a live job of the kind the table belongs to.
#[derive(Clone, Copy, Debug)]
pub struct RunRight {
    /// Tries to take the run right from outside (an explicit `schedule` of the job):
    /// `true` if the caller now holds it, and must hand it to a run queue (as a
    /// [`QueuedJob`]) or cancel it. `false` if somebody holds it already, or the job has
    /// ended.
    pub claim: unsafe fn(NonNull<JobHeader>) -> bool,
    /// The last reference besides the run right's has gone, and the job has not
    /// completed. The caller holds a pin (the job's memory stays), not a reference.
    /// Either take the run right and end the job here (return `true`: the caller then
    /// gives up the run right's reference and completes the job), or make sure that the
    /// holder of the run right notices before it next gives the right up, and ends the
    /// job then if nobody has made a new reference meanwhile (return `false`).
    pub orphaned: unsafe fn(NonNull<JobHeader>) -> bool,
}

impl JobHeader {
    /// A header for a new, idle job using `vtable`, with one reference to be adopted by
    /// [`JobRef::from_raw`], and, if the job arbitrates its own run right
    /// (`vtable.run_right` is `Some`), a second one that belongs to the run right: the
    /// job keeps it while idle, and hands it to whoever takes the right, as
    /// [`JobRef::take_run_right`] or [`RunRight::claim`] (module doc, "Self-arbitrated
    /// jobs").
    pub fn new(vtable: &'static JobVTable) -> Self {
        Self {
            state: if vtable.run_right.is_some() {
                State::with_run_right()
            } else {
                State::new()
            },
            next: UnsafeCell::new(core::ptr::null_mut()),
            vtable,
        }
    }
}

impl JobHeader {
    /// The number of references (a snapshot, Relaxed: a caller that needs a particular
    /// count to be visible orders the load itself, as an actor does after its inbox's
    /// Acquire).
    pub fn ref_count(&self) -> usize {
        self.state.load().refs()
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
        run_right: None,
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

    /// The run-right operations of a self-arbitrated job.
    #[inline(always)]
    fn run_right_ops(&self) -> Option<RunRight> {
        self.header().vtable.run_right
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
        if let Some(run_right) = self.run_right_ops() {
            // SAFETY: an outside reference (a run right's travels as a `QueuedJob`,
            // whose drop never gets here), given up once.
            unsafe { release_outside(self.header, run_right) };
            return;
        }
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

/// Gives up an outside reference to a self-arbitrated job (module doc, "Self-arbitrated
/// jobs").
///
/// # Safety
///
/// `header` is a live self-arbitrated job's, with `run_right` its table, and the caller
/// gives up an outside reference it owns.
#[inline]
unsafe fn release_outside(header: NonNull<JobHeader>, run_right: RunRight) {
    // SAFETY: our reference keeps the job alive until the CAS in `release_outside`.
    let state = unsafe { &header.as_ref().state };
    match state.release_outside() {
        state::OutsideDrop::Released => {}
        state::OutsideDrop::Last => {
            // SAFETY: no reference and no pin left, and the CAS acquired every other
            // owner's uses; the vtable's `destroy` frees the job as it was made.
            unsafe { (header.as_ref().vtable.destroy)(header) }
        }
        state::OutsideDrop::Orphaned => orphaned(header, run_right),
    }
}

/// The last outside reference became a pin: tell the job, then unpin.
#[cold]
fn orphaned(header: NonNull<JobHeader>, run_right: RunRight) {
    // SAFETY: the pin keeps the job's memory (nothing destroys it while pinned); the
    // job is self-arbitrated with this table.
    let ended = unsafe { (run_right.orphaned)(header) };
    // SAFETY: the pin keeps the header valid until this CAS.
    if unsafe { header.as_ref() }.state.unpin(ended) {
        // SAFETY: no reference and no pin left; the CAS acquired every other owner's
        // uses; the vtable's `destroy` frees the job as it was made.
        unsafe { (header.as_ref().vtable.destroy)(header) }
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

/// A job that holds its right to run (its `QUEUED` bit, or a self-arbitrated job's own
/// run right: module doc): the only form in which a job may sit in a run queue. At most
/// one exists per job at a time, which is what makes a job's run-queue entry unique and
/// its intrusive link safe to use.
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
    /// Dropped by hand: a self-arbitrated job's entry is its run right, whose reference
    /// is given up by `complete_run_right`, not by `JobRef`'s drop.
    job: core::mem::ManuallyDrop<JobRef>,
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
    ///
    /// For a self-arbitrated job (module doc), the job's own claim decides instead
    /// ([`RunRight::claim`]): `Some` only if it was idle; a queued or running one is not
    /// marked to run again (its own protocol runs it when there is work).
    #[inline]
    pub fn into_queued(self) -> Option<QueuedJob> {
        if self.run_right_ops().is_some() {
            // Our reference goes; the run right's goes with the entry.
            return self.queue();
        }
        match self.header().state.transition_to_queued() {
            state::ToQueued::Push => Some(QueuedJob::new(self)),
            state::ToQueued::AlreadyScheduled | state::ToQueued::Complete => None,
        }
    }

    /// Like [`into_queued`](JobRef::into_queued), through a borrowed reference: on
    /// success the queue's new reference is added in the same atomic step as the
    /// `QUEUED` bit, so `job.queue()` costs one atomic read-modify-write where
    /// `job.clone().into_queued()` costs two (three when there is nothing to do); for a
    /// self-arbitrated job, the claim's (the entry carries the run right's reference).
    /// Give the result to [`Scheduler::submit`].
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
        if let Some(run_right) = self.run_right_ops() {
            // SAFETY: a live self-arbitrated job (we hold a reference) with this table.
            if !unsafe { (run_right.claim)(self.header) } {
                return None;
            }
            // SAFETY: the claim gave us the run right.
            return Some(unsafe { self.take_run_right() });
        }
        match self.header().state.transition_to_queued_with_ref() {
            state::ToQueued::Push => Some(QueuedJob::new(
                // SAFETY: the transition added one reference for the queue entry; the
                // new `JobRef` adopts it (rule 2 of `from_raw`). The header is a live
                // job's (we hold `self`), made as `from_raw` requires.
                unsafe { JobRef::from_raw(self.header) },
            )),
            state::ToQueued::AlreadyScheduled | state::ToQueued::Complete => None,
        }
    }

    /// The run-queue entry of a self-arbitrated job whose run right the caller has just
    /// taken (e.g. its push unblocked the actor's inbox): it carries the run right's own
    /// reference, so making it costs no atomic operation.
    ///
    /// # Safety
    ///
    /// The job arbitrates its own run right (`run_right` is `Some` in its table), and
    /// the caller has taken that right by the job's own protocol and not handed it on:
    /// for each time the right is taken, one entry is made.
    #[inline]
    pub unsafe fn take_run_right(&self) -> QueuedJob {
        debug_assert!(self.run_right_ops().is_some(), "not a self-arbitrated job");
        // SAFETY: the run right owns one reference (`JobHeader::new`), which the entry
        // adopts; the header is a live job's made as `from_raw` requires.
        QueuedJob::new(unsafe { JobRef::from_raw(self.header) })
    }

    /// Gives up the run right's reference of a self-arbitrated job that has ended:
    /// `COMPLETE`, and the job destroyed if nothing else holds it.
    ///
    /// # Safety
    ///
    /// `self` is the run right's reference (a `QueuedJob`'s), and the job has ended.
    unsafe fn complete_run_right(self) {
        let header = self.into_raw();
        // SAFETY: the run right's reference keeps the job alive until this CAS.
        if unsafe { header.as_ref() }.state.complete_run_right() {
            // SAFETY: no reference and no pin left, and the CAS acquired every other
            // owner's uses; the vtable's `destroy` frees the job as it was made.
            unsafe { (header.as_ref().vtable.destroy)(header) }
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
    #[inline(always)]
    fn new(job: JobRef) -> Self {
        Self {
            job: core::mem::ManuallyDrop::new(job),
        }
    }

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
        if self.job.run_right_ops().is_some() {
            return self.run_self_arbitrated(max_throughput);
        }
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
                    state::RunEnd::Requeue => Some(QueuedJob::new(job)),
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

    /// `run` for a self-arbitrated job: the entry is the run right, so starting and
    /// ending a run touch no atomic unless the job ends (module doc, "Self-arbitrated
    /// jobs").
    #[inline]
    fn run_self_arbitrated(self, max_throughput: usize) -> Ran {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.job.resume(max_throughput)
        }));
        match outcome {
            Ok(info) => match info.result {
                crate::ResumeResult::Resume => Ran {
                    info: Some(info),
                    requeue: Some(self),
                },
                crate::ResumeResult::Awaiting => {
                    // The job gave the run right up (its inbox blocked): the right's
                    // reference stays with the job, and the job is not ours to touch.
                    core::mem::forget(self);
                    Ran {
                        info: Some(info),
                        requeue: None,
                    }
                }
                crate::ResumeResult::Done | crate::ResumeResult::Shutdown => {
                    // SAFETY: we hold the run right of the job, which has ended.
                    unsafe { self.into_job().complete_run_right() };
                    Ran {
                        info: Some(info),
                        requeue: None,
                    }
                }
            },
            Err(payload) => {
                let job = self.into_job();
                // A panicking hook must not take the caller down either.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    job.panicked(&*payload)
                }));
                // SAFETY: we hold the run right; the job has ended (`panicked`).
                unsafe { job.complete_run_right() };
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

    /// Gives up the queued job as a raw header pointer, for intrusive queues; the run
    /// right (the `QUEUED` bit, or a self-arbitrated job's) and one reference go with it.
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
        Self::new(job)
    }

    fn into_job(self) -> JobRef {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; we move its only field out.
        core::mem::ManuallyDrop::into_inner(unsafe { core::ptr::read(&this.job) })
    }
}

impl Drop for QueuedJob {
    fn drop(&mut self) {
        // A queued job dropped without being run is cancelled, never silently lost.
        if self.job.run_right_ops().is_some() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.job.shutdown()));
            // SAFETY: the entry is the run right; we give it up once, and never touch
            // `self.job` again (a `ManuallyDrop`, not dropped by the glue).
            unsafe { core::mem::ManuallyDrop::take(&mut self.job).complete_run_right() };
            return;
        }
        if self.job.header().state.transition_to_cancelled() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.job.shutdown()));
        }
        // SAFETY: the queue's reference, given up once; the field is not used again.
        unsafe { core::mem::ManuallyDrop::drop(&mut self.job) };
    }
}

impl fmt::Debug for QueuedJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("QueuedJob").field(&self.job).finish()
    }
}
