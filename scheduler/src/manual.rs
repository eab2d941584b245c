//! [`ManualScheduler`]: single-threaded, deterministic, driven by the caller.
//!
//! Where a submission goes:
//!
//! - From a job this scheduler is running (an actor messaging another on the same
//!   scheduler, the common case), straight to the back of the ready queue: the driving
//!   thread owns it, and no borrow of it is alive while a job runs. No atomic operation.
//!   `RUNNING_ON` (a thread-local) names the scheduler whose job the thread is running,
//!   set only around `QueuedJob::run` in `step`, so the queue is never touched while
//!   `stop` or `refill` hold it (a job cancelled by `stop` that schedules another goes
//!   through the injector, which is closed by then).
//! - From anywhere else (other threads, a seeded scheduler, a job of another scheduler),
//!   through the injector, a lock-free push; before each job, the driver moves whatever
//!   the injector holds behind the ready queue (one load when it is empty), so these
//!   wait for at most what was ready when they arrived.
//!   A seeded scheduler sends everything this way, so that every batch of newly
//!   scheduled jobs is shuffled as before.

use core::cell::Cell;
use core::fmt;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::injector::Injector;
use crate::job::QueuedJob;
use crate::local_submit::{Kind, LocalSubmit};
use crate::scheduler::{Scheduler, SchedulerError, StopReport, Stopped};
use crate::sync::{AtomicBool, AtomicU64, Ordering, UnsafeCell};
use crate::timer::Timers;

/// What a `run_*` call of a [`ManualScheduler`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Jobs resumed.
    pub resumes: u64,
    /// Units of work the jobs reported (`ResumeInfo::messages_processed`).
    pub messages: u64,
    /// Resumes that panicked (caught; the job completed).
    pub panics: u64,
    /// Timers fired (each repeating timer once per deadline it reached).
    pub timers_fired: u64,
}

/// A scheduler with no threads: the caller runs the jobs, when it wants, for as long as
/// it wants. The game loop's tick and the test harness.
///
/// [`schedule`](Scheduler::schedule) may be called from any thread (it is a lock-free
/// push); the `run_*` methods run jobs on the calling thread, oldest first, each for at
/// most `max_throughput` units of work. With a seed, each batch of newly scheduled jobs is
/// shuffled by a generator that depends only on the seed, so the same seed gives the
/// same order: interleavings explored reproducibly.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use zeta_scheduler::{JobRef, ManualScheduler, ResumeInfo, Resumable, Scheduler};
///
/// struct Tick(Arc<AtomicUsize>);
/// impl Resumable for Tick {
///     fn resume(&self, _max: usize) -> ResumeInfo {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         ResumeInfo::awaiting(1)
///     }
/// }
///
/// let ticks = Arc::new(AtomicUsize::new(0));
/// let scheduler = ManualScheduler::new(64).unwrap();
/// let entity = JobRef::new(Tick(ticks.clone()));
/// for _frame in 0..3 {
///     scheduler.schedule(entity.clone()).unwrap();
///     let stats = scheduler.run_until_idle().unwrap();
///     assert_eq!(stats.resumes, 1);
/// }
/// assert_eq!(ticks.load(Ordering::Relaxed), 3);
/// ```
pub struct ManualScheduler {
    injector: Injector,
    /// Jobs taken from the injector, in run order. Only touched by the thread holding
    /// `driving`.
    ready: UnsafeCell<Ready>,
    /// The shuffle generator's state (0: no shuffling). Guarded by `driving` too.
    rng: UnsafeCell<u64>,
    /// Held by the thread inside a `run_*` call or `stop`.
    driving: AtomicBool,
    max_throughput: usize,
    cancelled: AtomicU64,
    /// On a virtual clock, moved only by `advance`/`advance_to`.
    timers: Timers,
}

// SAFETY: `ready` and `rng` are only accessed by the thread that holds `driving` (an
// atomic try-lock with Acquire/Release, see `Drive`); everything else is atomic. The
// queued jobs are `Send`.
unsafe impl Sync for ManualScheduler {}
// SAFETY: as above; nothing in it is tied to a thread.
unsafe impl Send for ManualScheduler {}

crate::sync::const_thread_local! {
    /// The scheduler whose job this thread is running inside `step`, if any.
    static RUNNING_ON: Cell<*const ManualScheduler> = Cell::new(core::ptr::null());
}

/// Marks the thread as running a job of a scheduler; restores the previous mark on drop
/// (also on unwind), so nested drives of other schedulers stay correct.
struct RunningOn(*const ManualScheduler);

impl RunningOn {
    #[inline]
    fn enter(scheduler: &ManualScheduler) -> Self {
        Self(RUNNING_ON.with(|current| current.replace(scheduler)))
    }
}

impl Drop for RunningOn {
    #[inline]
    fn drop(&mut self) {
        let previous = self.0;
        RUNNING_ON.with(|current| current.set(previous));
    }
}

/// Holding the right to drive the scheduler; released on drop (also on unwind).
struct Drive<'a>(&'a AtomicBool);

impl Drop for Drive<'_> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire in `drive`, handing `ready` to the next driver.
        self.0.store(false, Ordering::Release);
    }
}

/// The ready queue: jobs in run order, the oldest kept apart in `head`.
///
/// An actor messaging an idle one on the same scheduler leaves the queue empty before the
/// resume and one job in it after: the common case needs no ring buffer, and a job
/// submitted into an empty queue and popped from it touches only `head`. Invariant:
/// `head` is `None` only when `rest` is empty, so the order is `head` then `rest`.
#[derive(Default)]
struct Ready {
    head: Option<QueuedJob>,
    rest: VecDeque<QueuedJob>,
    /// Jobs run since the last look at the timers.
    ticks: u32,
}

impl Ready {
    #[inline]
    fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    #[inline]
    fn push_back(&mut self, job: QueuedJob) {
        if self.head.is_none() {
            self.head = Some(job);
        } else {
            self.rest.push_back(job);
        }
    }

    #[inline]
    fn pop_front(&mut self) -> Option<QueuedJob> {
        let job = self.head.take()?;
        // Tested first: an empty `rest` is the common case, and `head` is already None.
        if !self.rest.is_empty() {
            self.head = self.rest.pop_front();
        }
        Some(job)
    }

    /// Restores the invariant after jobs were appended to `rest` directly.
    #[inline]
    fn promote(&mut self) {
        if self.head.is_none() {
            self.head = self.rest.pop_front();
        }
    }

    /// Every job, in run order, leaving the queue empty.
    fn drain(&mut self) -> impl Iterator<Item = QueuedJob> + '_ {
        self.head.take().into_iter().chain(self.rest.drain(..))
    }
}

impl ManualScheduler {
    /// A scheduler that resumes each job for at most `max_throughput` units of work,
    /// in the order the jobs were scheduled.
    ///
    /// # Errors
    ///
    /// [`SchedulerError::ZeroThroughput`] if `max_throughput` is 0.
    pub fn new(max_throughput: usize) -> Result<Self, SchedulerError> {
        Self::build(max_throughput, 0)
    }

    /// Like [`new`](ManualScheduler::new), but each batch of newly scheduled jobs is
    /// shuffled by a generator seeded with `seed`: the same seed gives the same order.
    ///
    /// # Errors
    ///
    /// [`SchedulerError::ZeroThroughput`] if `max_throughput` is 0.
    pub fn with_seed(max_throughput: usize, seed: u64) -> Result<Self, SchedulerError> {
        // Never 0, which means "unseeded".
        Self::build(max_throughput, crate::rng::state_for(seed))
    }

    /// Tells `observer` of the timers' firings (the [`observe`](crate::observe)
    /// module); a manual scheduler has no workers to park or steal. Only with the
    /// `observe` feature.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use zeta_scheduler::observe::SchedulerObserver;
    /// use zeta_scheduler::ManualScheduler;
    ///
    /// #[derive(Default)]
    /// struct Polls(AtomicUsize);
    /// impl SchedulerObserver for Polls {
    ///     fn on_timers_fired(&self, fired: usize, _lateness: Duration) {
    ///         self.0.fetch_add(fired, Ordering::Relaxed);
    ///     }
    /// }
    ///
    /// let polls = Arc::new(Polls::default());
    /// let scheduler = ManualScheduler::new(64).unwrap().with_observer(polls.clone());
    /// scheduler.advance(Duration::from_millis(5)).unwrap(); // nothing armed
    /// assert_eq!(polls.0.load(Ordering::Relaxed), 0);
    /// ```
    #[cfg(feature = "observe")]
    pub fn with_observer(
        self,
        observer: std::sync::Arc<dyn crate::observe::SchedulerObserver>,
    ) -> Self {
        // Err: one was set already; the first stays (documented on `Timers`).
        let _ = self.timers.set_observer(observer);
        self
    }

    fn build(max_throughput: usize, rng: u64) -> Result<Self, SchedulerError> {
        if max_throughput == 0 {
            return Err(SchedulerError::ZeroThroughput);
        }
        let timers = Timers::with_virtual_clock();
        timers.set_tie_seed(rng);
        Ok(Self {
            injector: Injector::new(),
            ready: UnsafeCell::new(Ready::default()),
            rng: UnsafeCell::new(rng),
            driving: AtomicBool::new(false),
            max_throughput,
            cancelled: AtomicU64::new(0),
            timers,
        })
    }

    /// Whether the scheduler was built without a seed. `rng` is only written by the
    /// driving thread, and a seeded one never becomes 0; this is read on the driving
    /// thread only (inside `step`).
    #[inline]
    fn unseeded(&self) -> bool {
        // SAFETY: read by the thread holding `driving` (the caller is inside `step`), the
        // only one that writes `rng`.
        self.rng.with(|rng| unsafe { *rng == 0 })
    }

    fn drive(&self) -> Result<Drive<'_>, SchedulerError> {
        // Acquire: pairs with the Release in `Drive::drop`.
        self.driving
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .map(|_| Drive(&self.driving))
            .map_err(|_| SchedulerError::AlreadyRunning)
    }

    /// Runs `f` on the ready queue and generator.
    fn with_ready<R>(&self, _drive: &Drive<'_>, f: impl FnOnce(&mut Ready, &mut u64) -> R) -> R {
        self.ready.with_mut(|ready| {
            self.rng.with_mut(|rng| {
                // SAFETY: `_drive` proves this thread holds `driving`, the only licence
                // to touch `ready` and `rng`; the closure cannot start another drive
                // (it runs no job).
                unsafe { f(&mut *ready, &mut *rng) }
            })
        })
    }

    /// Moves newly scheduled jobs to the back of the ready queue (shuffled if seeded).
    fn refill(ready: &mut Ready, rng: &mut u64, injector: &Injector) {
        let rest = &mut ready.rest;
        let before = rest.len();
        rest.extend(injector.take_all());
        if *rng != 0 && rest.len() - before > 1 {
            // Depends only on the seed and the history.
            crate::rng::shuffle(&mut rest.make_contiguous()[before..], rng);
        }
        ready.promote();
    }

    /// Runs one job; returns whether there was one.
    fn step(&self, drive: &Drive<'_>, stats: &mut RunStats) -> bool {
        let (next, look) = self.with_ready(drive, |ready, rng| {
            // Outside submissions join behind what is ready now, before the next job:
            // jobs scheduled straight into `ready` cannot starve them.
            if ready.is_empty() || self.injector.has_jobs() {
                Self::refill(ready, rng, &self.injector);
            }
            ready.ticks += 1;
            let look = ready.ticks >= crate::timer::CHECK_INTERVAL;
            if look {
                ready.ticks = 0;
            }
            (ready.pop_front(), look)
        });
        let next = match next {
            Some(job) => {
                // While jobs keep coming, a look every `CHECK_INTERVAL` of them: timers
                // due at the clock's reading, and cancelled entries to take out.
                if look && self.timers.is_due() {
                    stats.timers_fired += self.timers.poll().fired as u64;
                }
                Some(job)
            }
            // Nothing ready: timers due at the clock's reading fire (they schedule
            // through the injector), then look again.
            None if self.timers.is_due() => {
                stats.timers_fired += self.timers.poll().fired as u64;
                self.with_ready(drive, |ready, rng| {
                    Self::refill(ready, rng, &self.injector);
                    ready.pop_front()
                })
            }
            None => None,
        };
        let Some(job) = next else {
            return false;
        };
        // The job runs with no borrow of `ready` alive: it may schedule (straight into
        // `ready`, see the module doc, or through the injector), and a re-entrant
        // `run_*` fails with `AlreadyRunning`.
        let ran = {
            let _running = RunningOn::enter(self);
            job.run(self.max_throughput)
        };
        stats.resumes += 1;
        match ran.info {
            Some(info) => stats.messages += info.messages_processed as u64,
            None => stats.panics += 1,
        }
        if let Some(again) = ran.requeue {
            // Behind what was scheduled meanwhile: round-robin.
            self.with_ready(drive, |ready, rng| {
                Self::refill(ready, rng, &self.injector);
                ready.push_back(again);
            });
        }
        true
    }

    /// Resumes the oldest ready job once. Returns whether there was one.
    ///
    /// # Errors
    ///
    /// [`SchedulerError::AlreadyRunning`] if called re-entrantly (from a job) or while
    /// another thread drives this scheduler.
    pub fn run_once(&self) -> Result<bool, SchedulerError> {
        let drive = self.drive()?;
        Ok(self.step(&drive, &mut RunStats::default()))
    }

    /// Runs jobs until none is ready. A job that keeps returning `Resume` keeps this
    /// going: use [`run_for`](ManualScheduler::run_for) to bound it.
    ///
    /// # Errors
    ///
    /// As for [`run_once`](ManualScheduler::run_once).
    pub fn run_until_idle(&self) -> Result<RunStats, SchedulerError> {
        let drive = self.drive()?;
        let mut stats = RunStats::default();
        while self.step(&drive, &mut stats) {}
        Ok(stats)
    }

    /// Runs jobs until none is ready or `budget` has passed (checked after each resume,
    /// so one resume can overrun it by its own length): a frame's time slice. A budget
    /// too large for the clock to represent (`Duration::MAX`) means no deadline: like
    /// [`run_until_idle`](ManualScheduler::run_until_idle).
    ///
    /// # Errors
    ///
    /// As for [`run_once`](ManualScheduler::run_once).
    pub fn run_for(&self, budget: Duration) -> Result<RunStats, SchedulerError> {
        let drive = self.drive()?;
        // `None`: the deadline is past what `Instant` can hold, so it is never reached.
        let deadline = Instant::now().checked_add(budget);
        let mut stats = RunStats::default();
        while self.step(&drive, &mut stats) && deadline.is_none_or(|d| Instant::now() < d) {}
        Ok(stats)
    }

    /// A job of this scheduler, running on this thread, submits `queued`: straight to
    /// the back of the ready queue if the scheduler is unseeded (module doc), else back
    /// to the caller, for the injector.
    ///
    /// # Safety
    ///
    /// `scheduler` points to a `ManualScheduler`, which must be alive if the calling
    /// thread is running one of its jobs (it is then inside its `step`); it is not
    /// dereferenced otherwise.
    #[inline]
    pub(crate) unsafe fn try_submit_running(
        scheduler: *const ManualScheduler,
        queued: QueuedJob,
    ) -> Result<(), QueuedJob> {
        if !RUNNING_ON.with(|current| core::ptr::eq(current.get(), scheduler)) {
            return Err(queued);
        }
        // SAFETY: the thread is running a job of this scheduler, inside its `step`: the
        // scheduler is alive (caller's duty).
        let this = unsafe { &*scheduler };
        if !this.unseeded() {
            return Err(queued);
        }
        this.ready.with_mut(|ready| {
            // SAFETY: `RUNNING_ON` is this scheduler only inside `step`, around the run
            // of a job, on the thread that holds `driving` (`step` takes a `Drive`); no
            // borrow of `ready` is alive there (module doc), and the job cannot start
            // another drive of this scheduler.
            unsafe { (*ready).push_back(queued) }
        });
        Ok(())
    }

    /// The virtual clock's reading. It starts at the scheduler's creation and moves
    /// only with [`advance`](ManualScheduler::advance) and
    /// [`advance_to`](ManualScheduler::advance_to).
    pub fn now(&self) -> Instant {
        self.timers.now()
    }

    /// Moves the virtual clock `by` forward, firing every timer that comes due on the
    /// way in deadline order (equal deadlines in arming order, or in an order drawn
    /// from the seed), and runs what they make ready: the clock stops at each deadline,
    /// the jobs run until idle, and only then does it go on. So a timer armed by a
    /// handler on the way fires too if it comes due within the advance. A minute of
    /// timers runs in the time their handlers take.
    ///
    /// # Errors
    ///
    /// As for [`run_once`](ManualScheduler::run_once).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeta_scheduler::ManualScheduler;
    ///
    /// let scheduler = ManualScheduler::new(64).unwrap();
    /// let start = scheduler.now();
    /// scheduler.advance(Duration::from_secs(60)).unwrap();
    /// assert_eq!(scheduler.now() - start, Duration::from_secs(60));
    /// ```
    pub fn advance(&self, by: Duration) -> Result<RunStats, SchedulerError> {
        self.advance_with(|timers, between| timers.advance_by(by, between))
    }

    /// Moves the virtual clock to `deadline` (never back: an earlier `deadline` only
    /// fires and runs what is due now), as [`advance`](ManualScheduler::advance) does.
    ///
    /// # Errors
    ///
    /// As for [`run_once`](ManualScheduler::run_once).
    pub fn advance_to(&self, deadline: Instant) -> Result<RunStats, SchedulerError> {
        self.advance_with(|timers, between| timers.advance_to(deadline, between))
    }

    fn advance_with(
        &self,
        advance: impl FnOnce(&Timers, &mut dyn FnMut()) -> Result<usize, ()>,
    ) -> Result<RunStats, SchedulerError> {
        let drive = self.drive()?;
        let mut stats = RunStats::default();
        while self.step(&drive, &mut stats) {}
        let mut between = || while self.step(&drive, &mut stats) {};
        let fired =
            advance(&self.timers, &mut between).map_err(|()| SchedulerError::AlreadyRunning)?;
        stats.timers_fired += fired as u64;
        while self.step(&drive, &mut stats) {}
        Ok(stats)
    }

    /// The `max_throughput` each resume gets.
    pub fn max_throughput(&self) -> usize {
        self.max_throughput
    }
}

impl Scheduler for ManualScheduler {
    #[inline]
    fn submit(&self, queued: QueuedJob) -> Result<(), Stopped> {
        // SAFETY: `self` is alive.
        match unsafe { Self::try_submit_running(self, queued) } {
            Ok(()) => Ok(()),
            Err(queued) => self.injector.push(queued).map_err(Stopped::new),
        }
    }

    fn local_submit(&self) -> Option<LocalSubmit<'_>> {
        Some(LocalSubmit(Kind::Manual(self), core::marker::PhantomData))
    }

    /// Virtual time: see [`advance`](ManualScheduler::advance).
    fn timers(&self) -> Option<&Timers> {
        Some(&self.timers)
    }

    /// Nothing to start: the caller drives it.
    fn start(&self) -> Result<(), SchedulerError> {
        Ok(())
    }

    /// Closes the scheduler and tells every queued job shutdown.
    ///
    /// # Errors
    ///
    /// [`SchedulerError::AlreadyRunning`] if called from a job it is running.
    fn stop(&self) -> Result<StopReport, SchedulerError> {
        let drive = self.drive()?;
        let mut cancelled = 0;
        for job in self.injector.close() {
            job.cancel();
            cancelled += 1;
        }
        self.with_ready(&drive, |ready, _| {
            for job in ready.drain() {
                job.cancel();
                cancelled += 1;
            }
        });
        // Pending timers are dropped undelivered (their payloads may end actors,
        // which no longer reach the closed injector).
        self.timers.close();
        self.cancelled.fetch_add(cancelled, Ordering::Relaxed);
        Ok(StopReport { cancelled })
    }
}

impl Drop for ManualScheduler {
    fn drop(&mut self) {
        // `&mut self`: nobody drives it. Every job still queued is told shutdown (by
        // `QueuedJob`'s drop), in the injector and in `ready` alike.
        drop(self.injector.close());
    }
}

impl fmt::Debug for ManualScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualScheduler")
            .field("max_throughput", &self.max_throughput)
            .field("cancelled", &self.cancelled.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
