//! [`SharingScheduler`]: N worker threads with work stealing.
//!
//! Each worker owns a bounded FIFO run queue (crossbeam-deque, never more than 64 jobs, so
//! that it never allocates: see `queue.rs`) that the others steal from, and a LIFO slot
//! for the job it scheduled last. Outside threads submit through the
//! [`Injector`](crate::injector), an intrusive stack that does not allocate; a worker
//! whose queue is full moves half of it there (see "Overflow" in `worker.rs`). Idle
//! workers spin briefly, then park, with no lost wake-up (the protocol is in `idle.rs`).
//! See `worker.rs` for the order in which a worker looks for work.
//!
//! Lifecycle: NEW → (start) RUNNING → (stop) STOPPING → STOPPED. `stop` closes the
//! injector and tells every job in it shutdown, wakes every worker, and joins them; each
//! worker, on seeing STOPPING, finishes the job it is running and tells every job left in
//! its own slot and queue shutdown, and every job the closed injector refused it (an
//! overflow, or the rest of a take, that came after the close). Jobs scheduled from
//! outside after that are told shutdown by `schedule` itself, which returns [`Stopped`].
//! So every job is resumed or told shutdown, and the counts add up exactly.

#[cfg(all(test, zeta_loom))]
mod loom;
mod worker;

use core::fmt;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use self::worker::Worker;
use crate::idle::Idle;
use crate::injector::Injector;
use crate::job::QueuedJob;
use crate::local_submit::{Kind, LocalSubmit};
use crate::queue::{self, Local, Remote};
use crate::scheduler::{Scheduler, SchedulerError, StopReport, Stopped};
use crate::sync::lock::{lock, Mutex};
use crate::sync::thread::{spawn_named, JoinHandle};
use crate::sync::{Arc, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use crate::timer::Timers;

/// The most workers a scheduler can have.
pub const MAX_WORKERS: usize = 1024;

/// The smallest worker stack [`SharingSchedulerBuilder::stack_size`] accepts: 64 KiB,
/// room for the worker's own frames, a job's resume and a panic's unwinding, with no
/// large local in the job. Size real stacks for your handlers (see `stack_size`).
pub const MIN_STACK_SIZE: usize = 64 * 1024;

const NEW: u8 = 0;
const RUNNING: u8 = 1;
const STOPPING: u8 = 2;

static NEXT_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// Per-worker counters, written only by their worker.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) resumes: AtomicU64,
    pub(crate) messages: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) panics: AtomicU64,
}

/// A snapshot of one worker's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Jobs resumed.
    pub resumes: u64,
    /// Units of work reported by the jobs (`ResumeInfo::messages_processed`).
    pub messages: u64,
    /// Jobs taken from another worker's queue.
    pub steals: u64,
    /// Times the worker parked.
    pub parks: u64,
    /// Resumes that panicked (caught; the worker lived on).
    pub panics: u64,
}

/// What the workers share.
pub(crate) struct Shared {
    pub(crate) id: usize,
    pub(crate) injector: Injector,
    pub(crate) remotes: Box<[Remote]>,
    pub(crate) idle: Idle,
    lifecycle: AtomicU8,
    pub(crate) max_throughput: usize,
    pub(crate) spin: u32,
    pub(crate) counters: Box<[CachePadded<Counters>]>,
    /// Jobs told shutdown by the workers' drains at stop.
    pub(crate) cancelled: AtomicU64,
    /// Jobs told shutdown because they were scheduled after the stop.
    rejected: AtomicUsize,
    /// On the real clock; driven by the workers (`worker.rs`, "Timers").
    pub(crate) timers: Timers,
    /// The worker that sleeps until the earliest deadline, plus one (0: none).
    pub(crate) timer_sleeper: CachePadded<AtomicUsize>,
    /// How long before a deadline its sleeper wakes to spin (`timer_spin`).
    pub(crate) timer_spin: Duration,
    /// Told of parks, steals and queue depths (`observe`).
    #[cfg(feature = "observe")]
    pub(crate) observer: Option<std::sync::Arc<dyn crate::observe::SchedulerObserver>>,
}

impl Shared {
    /// An armed timer is now the earliest: the timer sleeper must look again, or, if
    /// nobody holds that role, any sleeping worker (it takes the role as it goes back
    /// to sleep). See "Timers" in `worker.rs`.
    pub(crate) fn timer_armed_earlier(&self) {
        // The armer's `fetch_min` of the earliest deadline, a fence, then the role;
        // the sleeper's claim of the role, a fence, then the deadline: the
        // store-buffering shape, which the two SeqCst fences order.
        crate::sync::fence(Ordering::SeqCst);
        match self.timer_sleeper.load(Ordering::Relaxed) {
            0 => self.idle.notify_one(),
            sleeper => self.idle.unpark(sleeper - 1),
        }
    }

    #[inline]
    pub(crate) fn is_stopping(&self) -> bool {
        // Acquire: pairs with the SeqCst swap in `stop`; a worker that sees STOPPING
        // also sees the closed injector.
        self.lifecycle.load(Ordering::Acquire) >= STOPPING
    }
}

/// Configures a [`SharingScheduler`].
///
/// # Stack size and large messages
///
/// Jobs run on the worker threads' stacks, which are std's default size (2 MiB, or
/// what the `RUST_MIN_STACK` environment variable says) unless
/// [`stack_size`](SharingSchedulerBuilder::stack_size) sets one. A message is moved
/// by value through several frames between its node and the handler (taken from the
/// inbox, matched, passed to `handle`), and each of those frames can hold a copy of
/// it: a by-value message of about 512 KiB overflows a default worker stack in a debug
/// build, about 2 MiB in a release build, and a stack overflow aborts the process. Send large payloads behind a pointer instead (a `Box`, or a handle into
/// memory the actors share): the message then moves one word. Raise `stack_size` for
/// handlers that need deep recursion or large locals.
///
/// # Examples
///
/// ```
/// use zeta_scheduler::{Scheduler, SharingScheduler};
///
/// let scheduler = SharingScheduler::builder()
///     .workers(2)
///     .max_throughput(32)
///     .thread_name("game-worker")
///     .stack_size(8 * 1024 * 1024)
///     .build()
///     .unwrap();
/// scheduler.start().unwrap();
/// scheduler.stop().unwrap();
/// ```
#[derive(Clone)]
pub struct SharingSchedulerBuilder {
    workers: usize,
    max_throughput: usize,
    spin: u32,
    name: String,
    stack_size: Option<usize>,
    timer_spin: Duration,
    #[cfg(feature = "observe")]
    observer: Option<std::sync::Arc<dyn crate::observe::SchedulerObserver>>,
}

impl Default for SharingSchedulerBuilder {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_throughput: 64,
            spin: 64,
            name: "zeta-worker".into(),
            stack_size: None,
            timer_spin: Duration::ZERO,
            #[cfg(feature = "observe")]
            observer: None,
        }
    }
}

impl core::fmt::Debug for SharingSchedulerBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut builder = f.debug_struct("SharingSchedulerBuilder");
        builder
            .field("workers", &self.workers)
            .field("max_throughput", &self.max_throughput)
            .field("spin", &self.spin)
            .field("name", &self.name)
            .field("stack_size", &self.stack_size)
            .field("timer_spin", &self.timer_spin);
        #[cfg(feature = "observe")]
        builder.field("observer", &self.observer.is_some());
        builder.finish()
    }
}

impl SharingSchedulerBuilder {
    /// The number of worker threads (default: the available parallelism).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// The most units of work (messages) a job runs per resume (default 64).
    pub fn max_throughput(mut self, max_throughput: usize) -> Self {
        self.max_throughput = max_throughput;
        self
    }

    /// How many times an idle worker looks for work before it parks (default 64; the
    /// first 16 with a spin hint, then yielding the CPU).
    pub fn spin_before_park(mut self, rounds: u32) -> Self {
        self.spin = rounds;
        self
    }

    /// The prefix of the worker threads' names (default `zeta-worker`); each worker is
    /// named `{name}-{index}`. A name with a NUL byte makes [`build`] fail.
    ///
    /// [`build`]: SharingSchedulerBuilder::build
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The size of each worker thread's stack, in bytes (default: std's, 2 MiB unless
    /// `RUST_MIN_STACK` says otherwise). Below [`MIN_STACK_SIZE`], [`build`] fails; a
    /// size the OS cannot provide makes [`start`] fail with [`SchedulerError::Spawn`].
    /// See [the type's doc](SharingSchedulerBuilder#stack-size-and-large-messages) for
    /// what uses the stack and how to send large payloads.
    ///
    /// [`build`]: SharingSchedulerBuilder::build
    /// [`start`]: Scheduler::start
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// How long before a timer's deadline the worker sleeping for it wakes, to spin
    /// (yielding) until the deadline instead of sleeping through it (default zero: it
    /// sleeps until the deadline). A parked thread's wake-up is late by the OS's timer
    /// slack and scheduling, some 50 to 100 µs on Linux; spinning the last stretch cuts
    /// an idle scheduler's timer lateness to a few µs, for up to this much CPU time per
    /// timer (BENCHMARKS.md, "Timers").
    pub fn timer_spin(mut self, spin: Duration) -> Self {
        self.timer_spin = spin;
        self
    }

    /// Tells `observer` of the workers' parks, wake-ups, steals and queue depths, and
    /// of the timers' firings (the [`observe`](crate::observe) module: when, on which
    /// thread). Only with the `observe` feature.
    #[cfg(feature = "observe")]
    pub fn observer(
        mut self,
        observer: std::sync::Arc<dyn crate::observe::SchedulerObserver>,
    ) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Builds the scheduler; its threads start with [`Scheduler::start`].
    ///
    /// # Errors
    ///
    /// A bad configuration, found here rather than at [`start`](Scheduler::start):
    /// [`SchedulerError::ZeroWorkers`], [`SchedulerError::ZeroThroughput`],
    /// [`SchedulerError::TooManyWorkers`], [`SchedulerError::InvalidThreadName`] for
    /// a thread name with a NUL byte (which `std::thread::Builder` would reject with a
    /// panic when the threads are spawned), or [`SchedulerError::StackTooSmall`] for a
    /// stack size below [`MIN_STACK_SIZE`] (0 included).
    pub fn build(self) -> Result<SharingScheduler, SchedulerError> {
        if self.workers == 0 {
            return Err(SchedulerError::ZeroWorkers);
        }
        if self.workers > MAX_WORKERS {
            return Err(SchedulerError::TooManyWorkers {
                requested: self.workers,
                max: MAX_WORKERS,
            });
        }
        if self.max_throughput == 0 {
            return Err(SchedulerError::ZeroThroughput);
        }
        if self.name.contains('\0') {
            return Err(SchedulerError::InvalidThreadName);
        }
        if let Some(requested) = self.stack_size.filter(|&bytes| bytes < MIN_STACK_SIZE) {
            return Err(SchedulerError::StackTooSmall {
                requested,
                min: MIN_STACK_SIZE,
            });
        }
        let (locals, remotes): (Vec<Local>, Vec<Remote>) =
            (0..self.workers).map(|_| queue::new()).unzip();
        let shared = Arc::new(Shared {
            // Relaxed: ids only have to be distinct.
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            injector: Injector::new(),
            remotes: remotes.into_boxed_slice(),
            idle: Idle::new(self.workers),
            lifecycle: AtomicU8::new(NEW),
            max_throughput: self.max_throughput,
            spin: if cfg!(zeta_loom) { 0 } else { self.spin },
            counters: (0..self.workers)
                .map(|_| CachePadded::new(Counters::default()))
                .collect(),
            cancelled: AtomicU64::new(0),
            rejected: AtomicUsize::new(0),
            timers: Timers::new(),
            timer_sleeper: CachePadded::new(AtomicUsize::new(0)),
            timer_spin: self.timer_spin,
            #[cfg(feature = "observe")]
            observer: self.observer.clone(),
        });
        #[cfg(feature = "observe")]
        if let Some(observer) = self.observer {
            // A fresh `Timers`: nothing was set.
            let _ = shared.timers.set_observer(observer);
        }
        Ok(SharingScheduler {
            shared,
            locals: Mutex::new(locals),
            threads: Mutex::new(Vec::new()),
            name: self.name,
            stack_size: self.stack_size,
        })
    }
}

/// A work-stealing scheduler: N worker threads, each with its own run queue.
///
/// - From a worker thread (a job scheduling another, e.g. an actor messaging an actor),
///   [`schedule`](Scheduler::schedule) puts the job in that worker's LIFO slot: it runs
///   next, on the same core, with its data still in cache. The job it displaces goes to
///   the worker's run queue, which holds up to 64 jobs; beyond that, half of them move
///   to the injector, where idle workers take them, so a burst of ready jobs (a
///   broadcast to 1,000 actors) allocates nothing either.
/// - From any other thread, it goes to an intrusive, allocation-free injector, and an
///   idle worker is woken.
/// - Idle workers steal from busy ones; with nothing to do, they spin briefly, then
///   park, with no lost wake-up.
/// - A panic in a job is caught at the worker: the job is told
///   ([`Resumable::panicked`](crate::Resumable::panicked)) and completes; the worker
///   lives on.
/// - [`stop`](Scheduler::stop) tells every queued job shutdown and joins every thread.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use zeta_scheduler::{JobRef, ResumeInfo, Resumable, Scheduler, SharingScheduler};
///
/// struct Count(Arc<AtomicUsize>);
/// impl Resumable for Count {
///     fn resume(&self, _max: usize) -> ResumeInfo {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         ResumeInfo::done(1)
///     }
/// }
///
/// let scheduler = SharingScheduler::builder().workers(2).build().unwrap();
/// scheduler.start().unwrap();
/// let done = Arc::new(AtomicUsize::new(0));
/// for _ in 0..100 {
///     scheduler.schedule(JobRef::new(Count(done.clone()))).unwrap();
/// }
/// while done.load(Ordering::Relaxed) < 100 {
///     std::thread::yield_now();
/// }
/// let report = scheduler.stop().unwrap();
/// assert_eq!(report.cancelled, 0);
/// assert_eq!(scheduler.stats().iter().map(|w| w.resumes).sum::<u64>(), 100);
/// ```
pub struct SharingScheduler {
    shared: Arc<Shared>,
    /// The workers' queues until `start` hands them to their threads.
    locals: Mutex<Vec<Local>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    name: String,
    stack_size: Option<usize>,
}

impl SharingScheduler {
    /// A builder with the defaults: one worker per available core, `max_throughput` 64.
    pub fn builder() -> SharingSchedulerBuilder {
        SharingSchedulerBuilder::default()
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.shared.remotes.len()
    }

    /// A snapshot of every worker's counters.
    pub fn stats(&self) -> Vec<WorkerStats> {
        self.shared
            .counters
            .iter()
            .map(|c| WorkerStats {
                resumes: c.resumes.load(Ordering::Relaxed),
                messages: c.messages.load(Ordering::Relaxed),
                steals: c.steals.load(Ordering::Relaxed),
                parks: c.parks.load(Ordering::Relaxed),
                panics: c.panics.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Jobs told shutdown because they were scheduled after the stop.
    pub fn rejected(&self) -> usize {
        self.shared.rejected.load(Ordering::Relaxed)
    }

    /// Whether the current thread is one of this scheduler's workers.
    pub fn is_worker_thread(&self) -> bool {
        worker::with_current(self.shared.id, |_| ()).is_some()
    }

    /// Stops the workers and collects what is left; `join` is false when called from a
    /// worker (from a drop), which cannot wait for itself.
    fn shut_down(&self, join: bool) -> StopReport {
        // SeqCst: the stop flag must be ordered with the sleepers' registration (the
        // fence in `Idle::prepare_sleep`), like any other work a sleeper must not miss.
        let previous = self.shared.lifecycle.swap(STOPPING, Ordering::SeqCst);
        let mut cancelled = 0;
        for job in self.shared.injector.close() {
            job.cancel();
            cancelled += 1;
        }
        self.shared.idle.notify_all();
        if previous == NEW {
            // Never started: nobody else can hold jobs (the local queues are only pushed
            // by their workers).
            lock(&self.locals).clear();
        }
        if join {
            let threads = core::mem::take(&mut *lock(&self.threads));
            for thread in threads {
                // A worker only panics on a bug in the scheduler itself (job panics are
                // caught); its queue is then lost, but `stop` must still return.
                let _ = thread.join();
            }
        }
        // Pending timers are dropped undelivered (on this thread, or by a worker
        // firing them right now as it lets go of them).
        self.shared.timers.close();
        let drained = self.shared.cancelled.swap(0, Ordering::Relaxed);
        StopReport {
            cancelled: cancelled + drained,
        }
    }
}

/// A submission from a worker of the scheduler `id` goes to that worker's LIFO slot;
/// from anywhere else the job comes back, for the injector.
#[inline]
pub(crate) fn submit_local(id: usize, queued: QueuedJob) -> Result<(), QueuedJob> {
    let mut queued = Some(queued);
    worker::with_current(id, |worker| {
        if let Some(job) = queued.take() {
            worker.schedule_local(job);
        }
    });
    match queued {
        None => Ok(()),
        Some(queued) => Err(queued),
    }
}

impl Scheduler for SharingScheduler {
    #[inline]
    fn submit(&self, queued: QueuedJob) -> Result<(), Stopped> {
        let shared = &*self.shared;
        let Err(queued) = submit_local(shared.id, queued) else {
            return Ok(());
        };
        match shared.injector.push(queued) {
            Ok(()) => {
                shared.idle.notify_one();
                Ok(())
            }
            Err(rejected) => {
                shared.rejected.fetch_add(1, Ordering::Relaxed);
                Err(Stopped::new(rejected))
            }
        }
    }

    fn local_submit(&self) -> Option<LocalSubmit<'_>> {
        Some(LocalSubmit(
            Kind::Sharing(self.shared.id),
            core::marker::PhantomData,
        ))
    }

    /// The real clock; idle workers park until the earliest deadline.
    fn timers(&self) -> Option<&Timers> {
        Some(&self.shared.timers)
    }

    fn timer_armed_earlier(&self) {
        self.shared.timer_armed_earlier();
    }

    fn start(&self) -> Result<(), SchedulerError> {
        // AcqRel: the winner of NEW → RUNNING owns the locals.
        match self.shared.lifecycle.compare_exchange(
            NEW,
            RUNNING,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {}
            Err(RUNNING) => return Err(SchedulerError::AlreadyStarted),
            Err(_) => return Err(SchedulerError::AlreadyStopped),
        }
        let locals = core::mem::take(&mut *lock(&self.locals));
        let mut threads = lock(&self.threads);
        for (index, local) in locals.into_iter().enumerate() {
            let worker = Worker::new(self.shared.clone(), index, local);
            let name = format!("{}-{index}", self.name);
            match spawn_named(name, self.stack_size, move || worker.run()) {
                Ok(handle) => threads.push(handle),
                Err(e) => {
                    drop(threads);
                    self.shut_down(true);
                    return Err(SchedulerError::Spawn(e));
                }
            }
        }
        Ok(())
    }

    fn stop(&self) -> Result<StopReport, SchedulerError> {
        if self.is_worker_thread() {
            return Err(SchedulerError::StopFromWorker);
        }
        Ok(self.shut_down(true))
    }
}

impl Drop for SharingScheduler {
    fn drop(&mut self) {
        let join = !self.is_worker_thread();
        self.shut_down(join);
    }
}

impl fmt::Debug for SharingScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharingScheduler")
            .field("workers", &self.workers())
            .field("max_throughput", &self.shared.max_throughput)
            .finish_non_exhaustive()
    }
}
