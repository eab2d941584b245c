//! [`System`]: a scheduler and a default memory resource to spawn actors with, and
//! [`spawn`], the free function underneath.

use core::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use zeta_arena::{MemoryResource, PoolResource};
use zeta_scheduler::{ManualScheduler, Scheduler, SchedulerError, SharingScheduler, StopReport};

use crate::actor::{Actor, StopReason};
use crate::address::Address;
use crate::cell::{spawn_cell, Birth, SharedResource};
use crate::error::SpawnError;
use crate::future::Future;
use crate::registry::Registry;
use crate::supervision::{EndCounts, EndTally, Supervisor};

/// Places `actor` in memory from `resource` and returns its address; the actor will run
/// on `scheduler` (started or not).
///
/// Nothing runs yet: the actor is idle until its first message, and
/// [`Actor::on_start`] runs then. The cell (header, inbox, actor) is one allocation from
/// `resource`, and so is each message later sent to it: with a pool or an arena, no
/// global allocation.
///
/// The actor holds a reference to its scheduler, and a scheduler holds the actors it has
/// queued: stop a scheduler when you are done with it (dropping a [`System`] does), or
/// actors queued on it keep it, and themselves, alive, as an `Arc` cycle would.
///
/// # Errors
///
/// [`SpawnError`] with the actor when `resource` has no memory for it.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use zeta::arena::{CountingResource, PoolResource};
/// use zeta::{spawn, Actor, Context, ManualScheduler, Scheduler};
///
/// struct Nop;
/// impl Actor for Nop {
///     type Message = ();
///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
/// }
///
/// let memory = Arc::new(CountingResource::new(PoolResource::new()));
/// let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
/// let nop = spawn(Nop, memory.clone(), scheduler.clone()).unwrap();
/// assert_eq!(memory.live_blocks(), 1); // the cell
/// nop.send(()).unwrap();
/// scheduler.run_until_idle().unwrap();
/// drop(nop);
/// assert_eq!(memory.live_blocks(), 0);
/// ```
pub fn spawn<A: Actor>(
    actor: A,
    resource: impl IntoSharedResource,
    scheduler: impl IntoSharedScheduler,
) -> Result<Address<A>, SpawnError<A>> {
    spawn_shared(
        actor,
        resource.into_shared_resource(),
        scheduler.into_shared_scheduler(),
        Birth::default(),
    )
}

/// A memory resource handle that [`spawn`] and friends accept: an `Arc` of any
/// resource type, or an already shared [`SharedResource`]
/// (`Arc<dyn MemoryResource + Send + Sync>`).
pub trait IntoSharedResource {
    /// The resource as the engine keeps it.
    fn into_shared_resource(self) -> SharedResource;
}

impl<R: MemoryResource + Send + Sync + 'static> IntoSharedResource for Arc<R> {
    #[inline]
    fn into_shared_resource(self) -> SharedResource {
        self
    }
}

impl IntoSharedResource for SharedResource {
    #[inline]
    fn into_shared_resource(self) -> SharedResource {
        self
    }
}

/// A scheduler handle that [`spawn`] accepts: an `Arc` of any scheduler type, or an
/// `Arc<dyn Scheduler>` (what [`Context::scheduler`](crate::Context::scheduler) and
/// [`Address::scheduler`] give).
pub trait IntoSharedScheduler {
    /// The scheduler as the engine keeps it.
    fn into_shared_scheduler(self) -> Arc<dyn Scheduler>;
}

impl<S: Scheduler + 'static> IntoSharedScheduler for Arc<S> {
    #[inline]
    fn into_shared_scheduler(self) -> Arc<dyn Scheduler> {
        self
    }
}

impl IntoSharedScheduler for Arc<dyn Scheduler> {
    #[inline]
    fn into_shared_scheduler(self) -> Arc<dyn Scheduler> {
        self
    }
}

/// Like [`spawn`], with a bounded mailbox: at most `capacity` messages sent and not yet
/// taken for dispatch. What a send to a full mailbox does depends on the send and on
/// who sends it:
///
/// | send | from outside an actor | from inside an actor (a handler, a hook) |
/// |---|---|---|
/// | [`Address::try_send`] | `Err` with [`Undelivered::Full`](crate::Undelivered::Full) | the same |
/// | [`Address::send`], `send_high`, `enqueue`, `ask` | as `try_send` | admitted over capacity; the sending actor yields after its current message |
/// | [`Address::send_blocking`], [`Address::send_timeout`] | waits for room (until the deadline: then `Full`) | `Err` with [`Undelivered::WouldBlock`](crate::Undelivered::WouldBlock) |
/// | [`Address::send_async`] | resolves when there is room | admitted over capacity, as `send` |
///
/// Stop and kill are not messages and are never refused; the engine's own mail (an
/// actor waker's wake-up, a monitor's `Down`) counts against the bound but is never
/// refused. Why a handler is never refused or blocked, and the protocol: the crate's
/// `bounded` module, summarised in `docs/runtime-semantics.md`.
///
/// The actor's cell is allocated with the bound's state after it (a few words more);
/// an unbounded actor pays nothing for the feature.
///
/// # Errors
///
/// [`SpawnError`] with the actor: [`SpawnFailure::InvalidCapacity`](crate::SpawnFailure::InvalidCapacity) for a capacity of
/// 0 or above `u32::MAX`; [`SpawnFailure::OutOfMemory`](crate::SpawnFailure::OutOfMemory) when `resource` has no room.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use zeta::arena::PoolResource;
/// use zeta::{spawn_bounded, Actor, Context, ManualScheduler, SpawnFailure, Undelivered};
///
/// struct Sink(u32);
/// impl Actor for Sink {
///     type Message = u32;
///     fn handle(&mut self, n: u32, _ctx: &mut Context<'_, Self>) {
///         self.0 += n;
///     }
/// }
///
/// let memory = Arc::new(PoolResource::new());
/// let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
/// let sink = spawn_bounded(Sink(0), 2, memory.clone(), scheduler.clone()).unwrap();
/// sink.try_send(1).unwrap();
/// sink.try_send(2).unwrap();
/// let full = sink.try_send(3).unwrap_err(); // two sent, none handled yet
/// assert_eq!(full.reason(), Undelivered::Full);
/// assert_eq!(full.into_message(), 3);
/// scheduler.run_until_idle().unwrap(); // handled: room again
/// sink.try_send(3).unwrap();
///
/// let refused = spawn_bounded(Sink(0), 0, memory, scheduler).unwrap_err();
/// assert_eq!(refused.reason(), SpawnFailure::InvalidCapacity);
/// ```
pub fn spawn_bounded<A: Actor>(
    actor: A,
    capacity: usize,
    resource: impl IntoSharedResource,
    scheduler: impl IntoSharedScheduler,
) -> Result<Address<A>, SpawnError<A>> {
    spawn_bounded_shared(
        actor,
        capacity,
        resource.into_shared_resource(),
        scheduler.into_shared_scheduler(),
        Birth::default(),
    )
}

pub(crate) fn spawn_shared<A: Actor>(
    actor: A,
    resource: SharedResource,
    scheduler: Arc<dyn Scheduler>,
    birth: Birth,
) -> Result<Address<A>, SpawnError<A>> {
    spawn_with(actor, resource, scheduler, false, 0, birth)
}

/// [`spawn_shared`] with a bounded mailbox of `capacity` (checked here).
pub(crate) fn spawn_bounded_shared<A: Actor>(
    actor: A,
    capacity: usize,
    resource: SharedResource,
    scheduler: Arc<dyn Scheduler>,
    birth: Birth,
) -> Result<Address<A>, SpawnError<A>> {
    match u32::try_from(capacity) {
        Ok(capacity) if capacity != 0 => {
            spawn_with(actor, resource, scheduler, false, capacity, birth)
        }
        _ => Err(SpawnError::invalid_capacity(actor)),
    }
}

/// [`spawn_shared`], for a supervised child if `supervised` (see `spawn_cell`), with a
/// bounded mailbox if `capacity` is not 0.
pub(crate) fn spawn_with<A: Actor>(
    actor: A,
    resource: SharedResource,
    scheduler: Arc<dyn Scheduler>,
    supervised: bool,
    capacity: u32,
    birth: Birth,
) -> Result<Address<A>, SpawnError<A>> {
    match spawn_cell(actor, resource, scheduler, supervised, capacity, birth) {
        // SAFETY: `spawn_cell::<A>` made the job.
        Ok(job) => Ok(unsafe { Address::from_job(job) }),
        Err(actor) => Err(SpawnError::new(actor)),
    }
}

/// A scheduler and a default memory resource: what most programs spawn actors with.
///
/// Dropping the system stops its scheduler (actors queued then are told shutdown; see
/// [`Actor::on_stop`]). Addresses may outlive it: sending through them afterwards
/// returns the message with
/// [`Undelivered::SchedulerStopped`](crate::Undelivered::SchedulerStopped) or
/// [`Undelivered::ActorStopped`](crate::Undelivered::ActorStopped).
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Context, System};
///
/// struct Printer;
/// impl Actor for Printer {
///     type Message = &'static str;
///     fn handle(&mut self, line: &'static str, _ctx: &mut Context<'_, Self>) {
///         assert_eq!(line, "hello");
///     }
/// }
///
/// let system = System::manual(64).unwrap();
/// let printer = system.spawn(Printer).unwrap();
/// printer.send("hello").unwrap();
/// assert_eq!(system.scheduler().run_until_idle().unwrap().messages, 1);
/// drop(system);
/// assert!(printer.send("late").is_err());
/// ```
pub struct System<S: Scheduler + 'static> {
    scheduler: Arc<S>,
    resource: SharedResource,
    registry: Arc<Registry>,
    /// The root supervisors, in the order spawned ([`System::spawn_supervisor`]).
    roots: Mutex<Vec<Address<Supervisor>>>,
    /// Ends counted by the supervisors of the system's trees.
    tally: Arc<EndTally>,
    /// Given to every actor spawned through the system (`observe`).
    #[cfg(feature = "observe")]
    observed: crate::observe::Observed,
}

/// What [`System::shutdown`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// The actors of the system's supervision trees (the root supervisors included)
    /// that ended, by reason, counted since the system was made.
    pub ends: EndCounts,
    /// Jobs still queued when the scheduler stopped, told shutdown
    /// ([`StopReport::cancelled`]): actors outside the trees, or a tree that did not end
    /// in time.
    pub cancelled: u64,
    /// Whether a root supervisor's tree had not ended when the wait for it gave up.
    pub timed_out: bool,
}

impl System<SharingScheduler> {
    /// A started [`SharingScheduler`] with `workers` threads (and the default
    /// `max_throughput`), and a [`PoolResource`].
    ///
    /// # Errors
    ///
    /// [`SchedulerError`] for a bad configuration (0 workers) or a thread that could
    /// not be spawned.
    pub fn sharing(workers: usize) -> Result<Self, SchedulerError> {
        let scheduler = SharingScheduler::builder().workers(workers).build()?;
        scheduler.start()?;
        Ok(Self::new(
            Arc::new(scheduler),
            Arc::new(PoolResource::new()),
        ))
    }

    /// [`sharing`](System::sharing), observed: `observer` is told of the workers
    /// (parks, steals, queue depths, timers) and of every actor spawned through the
    /// system ([`observe`](crate::observe)). Only with the `observe` feature.
    ///
    /// # Errors
    ///
    /// As [`sharing`](System::sharing).
    #[cfg(feature = "observe")]
    pub fn sharing_observed<O>(workers: usize, observer: Arc<O>) -> Result<Self, SchedulerError>
    where
        O: crate::observe::Observer + crate::observe::SchedulerObserver,
    {
        let scheduler = SharingScheduler::builder()
            .workers(workers)
            .observer(observer.clone())
            .build()?;
        scheduler.start()?;
        Ok(Self::new(Arc::new(scheduler), Arc::new(PoolResource::new())).with_observer(observer))
    }
}

impl System<SharingScheduler> {
    /// Shuts the system down in order: each root supervisor's tree
    /// ([`spawn_supervisor`](System::spawn_supervisor)), the last spawned first, children
    /// before their supervisor's `on_stop`, waiting up to `timeout` for each tree; then
    /// stops the scheduler (what is still queued is told shutdown). Returns what
    /// ended, by reason.
    ///
    /// # Errors
    ///
    /// [`SchedulerError`] from the scheduler's stop (from one of its own workers:
    /// `StopFromWorker`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeta::{Actor, Context, Intensity, Restart, RestartStrategy, Supervisor, System};
    ///
    /// struct Worker;
    /// impl Actor for Worker {
    ///     type Message = ();
    ///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
    /// }
    ///
    /// let system = System::sharing(2).unwrap();
    /// let tree = Supervisor::new(RestartStrategy::OneForOne, Intensity::default())
    ///     .with_child(Restart::Permanent, || Worker)
    ///     .with_child(Restart::Permanent, || Worker);
    /// system.spawn_supervisor(tree).unwrap();
    /// let report = system.shutdown(Duration::from_secs(5)).unwrap();
    /// assert_eq!(report.ends.stopped, 3); // two workers, then their supervisor
    /// assert!(!report.timed_out);
    /// ```
    pub fn shutdown(&self, timeout: Duration) -> Result<ShutdownReport, SchedulerError> {
        // A timeout past the end of time (`Duration::MAX`) is no deadline at all.
        let deadline = Instant::now().checked_add(timeout);
        self.shut_down_with(|ended| match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                ended.wait_timeout(left).ok()
            }
            // `wait_timeout` takes a timeout past the end of time as none.
            None => ended.wait_timeout(timeout).ok(),
        })
    }
}

impl System<ManualScheduler> {
    /// Shuts the system down in order, as [`System::<SharingScheduler>::shutdown`]
    /// does, running the scheduler on the calling thread until each tree has ended (or
    /// nothing is left to run).
    ///
    /// # Errors
    ///
    /// [`SchedulerError`] from the scheduler (`AlreadyRunning` when called from one of
    /// its jobs).
    pub fn shutdown(&self) -> Result<ShutdownReport, SchedulerError> {
        let mut failed = None;
        let report = self.shut_down_with(|ended| loop {
            if let Some(result) = ended.try_take() {
                return result.ok();
            }
            match self.scheduler.run_until_idle() {
                Ok(stats) if stats.resumes == 0 => return ended.try_take().and_then(Result::ok),
                Ok(_) => {}
                Err(error) => {
                    failed = Some(error);
                    return None;
                }
            }
        })?;
        match failed {
            Some(error) => Err(error),
            None => Ok(report),
        }
    }
}

impl System<ManualScheduler> {
    /// A [`ManualScheduler`] resuming each actor for at most `max_throughput` messages,
    /// and a [`PoolResource`]. Drive it with `system.scheduler().run_until_idle()`.
    ///
    /// # Errors
    ///
    /// [`SchedulerError::ZeroThroughput`] for a `max_throughput` of 0.
    pub fn manual(max_throughput: usize) -> Result<Self, SchedulerError> {
        let scheduler = ManualScheduler::new(max_throughput)?;
        Ok(Self::new(
            Arc::new(scheduler),
            Arc::new(PoolResource::new()),
        ))
    }

    /// [`manual`](System::manual), observed: `observer` is told of the timers'
    /// firings and of every actor spawned through the system
    /// ([`observe`](crate::observe)). Only with the `observe` feature.
    ///
    /// # Errors
    ///
    /// As [`manual`](System::manual).
    #[cfg(feature = "observe")]
    pub fn manual_observed<O>(
        max_throughput: usize,
        observer: Arc<O>,
    ) -> Result<Self, SchedulerError>
    where
        O: crate::observe::Observer + crate::observe::SchedulerObserver,
    {
        let scheduler = ManualScheduler::new(max_throughput)?.with_observer(observer.clone());
        Ok(Self::new(Arc::new(scheduler), Arc::new(PoolResource::new())).with_observer(observer))
    }
}

impl<S: Scheduler + 'static> System<S> {
    /// A system over `scheduler` (started or not: starting it is the caller's business)
    /// spawning into `resource` by default.
    ///
    /// # Examples
    ///
    /// Actors on a scheduler of one's own: the FIFO of the [`Scheduler`] trait's
    /// example, which runs actors as it runs any job.
    ///
    /// ```
    /// use std::collections::VecDeque;
    /// use std::sync::{Arc, Mutex};
    /// use zeta::arena::PoolResource;
    /// use zeta::scheduler::{QueuedJob, SchedulerError, StopReport, Stopped};
    /// use zeta::{Actor, Context, Reply, Scheduler, System, Undelivered};
    ///
    /// /// A FIFO run queue driven by its caller; `None` once stopped.
    /// struct Fifo(Mutex<Option<VecDeque<QueuedJob>>>);
    ///
    /// impl Fifo {
    ///     fn run_until_idle(&self) {
    ///         loop {
    ///             // The lock is not held while the job runs: a handler's sends submit.
    ///             let next = self.0.lock().unwrap().as_mut().and_then(VecDeque::pop_front);
    ///             let Some(job) = next else { return };
    ///             if let Some(again) = job.run(64).requeue {
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
    ///     fn start(&self) -> Result<(), SchedulerError> {
    ///         Ok(())
    ///     }
    ///     fn stop(&self) -> Result<StopReport, SchedulerError> {
    ///         let queued = self.0.lock().unwrap().take().unwrap_or_default();
    ///         Ok(StopReport { cancelled: queued.len() as u64 })
    ///     }
    /// }
    ///
    /// struct Greeter;
    /// impl Actor for Greeter {
    ///     type Message = (&'static str, Reply<String>);
    ///     fn handle(&mut self, (name, reply): Self::Message, _ctx: &mut Context<'_, Self>) {
    ///         let _ = reply.send(format!("hello, {name}"));
    ///     }
    /// }
    ///
    /// let fifo = Arc::new(Fifo(Mutex::new(Some(VecDeque::new()))));
    /// let system = System::new(fifo.clone(), Arc::new(PoolResource::new()));
    /// let greeter = system.spawn(Greeter).unwrap();
    /// let mut greeting = greeter.ask(|reply| ("zeta", reply)).unwrap();
    /// assert!(greeting.try_take().is_none()); // queued on the FIFO, not run yet
    /// fifo.run_until_idle();
    /// assert_eq!(greeting.try_take(), Some(Ok("hello, zeta".to_string())));
    ///
    /// system.stop().unwrap();
    /// let refused = greeter.ask(|reply| ("late", reply)).unwrap_err();
    /// assert_eq!(refused.reason(), Undelivered::SchedulerStopped);
    /// ```
    pub fn new(scheduler: Arc<S>, resource: impl IntoSharedResource) -> Self {
        Self {
            scheduler,
            resource: resource.into_shared_resource(),
            registry: Arc::new(Registry::new()),
            roots: Mutex::new(Vec::new()),
            tally: Arc::new(EndTally::default()),
            #[cfg(feature = "observe")]
            observed: Default::default(),
        }
    }

    /// This system, telling `observer` of every actor spawned through it from now on
    /// (and of their children: [`observe`](crate::observe)). The scheduler's own
    /// moments are its builder's business
    /// ([`SharingSchedulerBuilder::observer`](crate::scheduler::SharingSchedulerBuilder::observer)).
    /// Only with the `observe` feature.
    #[cfg(feature = "observe")]
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn crate::observe::Observer>) -> Self {
        self.observed = crate::observe::Observed::new(Some(observer));
        self
    }

    /// What an actor spawned through the system is born with.
    fn birth(&self) -> Birth {
        Birth {
            name: None,
            #[cfg(feature = "observe")]
            observed: self.observed.clone(),
        }
    }

    /// Spawns `actor` with a `name`, shown by its address's `Debug`, and given to the
    /// hooks (traces, metrics labels: [`observe`](crate::observe)). Names need not be
    /// unique; to find an actor by name, [`register`](Registry::register) it too.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] with the actor when the resource is out of memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Context, System};
    ///
    /// struct Matcher;
    /// impl Actor for Matcher {
    ///     type Message = ();
    ///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let matcher = system.spawn_named("matcher", Matcher).unwrap();
    /// assert_eq!(matcher.name(), Some("matcher"));
    /// assert!(format!("{matcher:?}").contains("\"matcher\""));
    /// ```
    pub fn spawn_named<A: Actor>(
        &self,
        name: &'static str,
        actor: A,
    ) -> Result<Address<A>, SpawnError<A>> {
        spawn_shared(
            actor,
            self.resource.clone(),
            self.scheduler.clone(),
            self.birth().named(name),
        )
    }

    /// Spawns a root supervisor of the system, and starts it (its static children with
    /// it): [`shutdown`](System::shutdown) ends its tree in order, and counts the ends.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] with the supervisor when the resource is out of memory.
    // The same error as `spawn`'s, which gives the actor back by value.
    #[allow(clippy::result_large_err)]
    pub fn spawn_supervisor(
        &self,
        mut supervisor: Supervisor,
    ) -> Result<Address<Supervisor>, SpawnError<Supervisor>> {
        supervisor.tally = Some(Arc::clone(&self.tally));
        let address = self.spawn(supervisor)?;
        // Err: the scheduler has stopped; the supervisor ended at once.
        let _ = self.scheduler.schedule(address.job().clone());
        self.roots.lock().push(address.clone());
        Ok(address)
    }

    /// Asks the root supervisors to shut down, the last spawned first, each tree in
    /// order ([`Supervisor::shutdown`]), calling `wait` on each root's end before the
    /// next; then stops the scheduler. `wait` returns how the root ended, if it did.
    fn shut_down_with(
        &self,
        mut wait: impl FnMut(&mut Future<StopReason>) -> Option<StopReason>,
    ) -> Result<ShutdownReport, SchedulerError> {
        let roots = core::mem::take(&mut *self.roots.lock());
        let mut timed_out = false;
        for root in roots.iter().rev() {
            let Ok(mut ended) = root.stopped() else {
                timed_out = true;
                continue;
            };
            // Err: it has ended already, or is ending: its future says so.
            let _ = Supervisor::shutdown(root);
            match wait(&mut ended) {
                Some(reason) => self.tally.count(&reason),
                None => timed_out = true,
            }
        }
        let report = self.scheduler.stop()?;
        Ok(ShutdownReport {
            ends: self.tally.counts(),
            cancelled: report.cancelled,
            timed_out,
        })
    }

    /// The system's names for actors: give an actor that must look others up a clone
    /// of it.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Spawns `actor` into the system's resource. See [`spawn`].
    ///
    /// # Errors
    ///
    /// [`SpawnError`] with the actor when the resource is out of memory.
    pub fn spawn<A: Actor>(&self, actor: A) -> Result<Address<A>, SpawnError<A>> {
        spawn_shared(
            actor,
            self.resource.clone(),
            self.scheduler.clone(),
            self.birth(),
        )
    }

    /// [`spawn_bounded`](System::spawn_bounded) with a `name` (see
    /// [`spawn_named`](System::spawn_named)).
    ///
    /// # Errors
    ///
    /// As [`spawn_bounded`](System::spawn_bounded).
    pub fn spawn_bounded_named<A: Actor>(
        &self,
        name: &'static str,
        actor: A,
        capacity: usize,
    ) -> Result<Address<A>, SpawnError<A>> {
        spawn_bounded_shared(
            actor,
            capacity,
            self.resource.clone(),
            self.scheduler.clone(),
            self.birth().named(name),
        )
    }

    /// Spawns `actor` into the system's resource with a bounded mailbox of `capacity`
    /// messages. See [`spawn_bounded`] for what sends to a full mailbox do.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] with the actor: an invalid capacity (0, or above `u32::MAX`), or
    /// the resource is out of memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Context, System, Undelivered};
    ///
    /// struct Slow;
    /// impl Actor for Slow {
    ///     type Message = u32;
    ///     fn handle(&mut self, _: u32, _ctx: &mut Context<'_, Self>) {}
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let slow = system.spawn_bounded(Slow, 1).unwrap();
    /// slow.send(1).unwrap();
    /// // From outside an actor, a send to a full mailbox is refused, message back.
    /// assert_eq!(slow.send(2).unwrap_err().reason(), Undelivered::Full);
    /// system.scheduler().run_until_idle().unwrap();
    /// slow.send(2).unwrap();
    /// ```
    pub fn spawn_bounded<A: Actor>(
        &self,
        actor: A,
        capacity: usize,
    ) -> Result<Address<A>, SpawnError<A>> {
        spawn_bounded_shared(
            actor,
            capacity,
            self.resource.clone(),
            self.scheduler.clone(),
            self.birth(),
        )
    }

    /// Spawns `actor` into `resource` (an arena, a pool of its own, ...): its cell and
    /// every message sent to it come from there.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] with the actor when `resource` is out of memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use zeta::arena::{CountingResource, PoolResource};
    /// use zeta::{Actor, Context, System};
    ///
    /// struct Nop;
    /// impl Actor for Nop {
    ///     type Message = u64;
    ///     fn handle(&mut self, _: u64, _ctx: &mut Context<'_, Self>) {}
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let mine = Arc::new(CountingResource::new(PoolResource::new()));
    /// let nop = system.spawn_in(mine.clone(), Nop).unwrap();
    /// nop.send(7).unwrap();
    /// assert_eq!(mine.live_blocks(), 2); // the cell and the message's node
    /// system.scheduler().run_until_idle().unwrap();
    /// assert_eq!(mine.live_blocks(), 1); // the node is freed once handled
    /// ```
    pub fn spawn_in<A: Actor>(
        &self,
        resource: impl IntoSharedResource,
        actor: A,
    ) -> Result<Address<A>, SpawnError<A>> {
        spawn_shared(
            actor,
            resource.into_shared_resource(),
            self.scheduler.clone(),
            self.birth(),
        )
    }

    /// The scheduler.
    pub fn scheduler(&self) -> &Arc<S> {
        &self.scheduler
    }

    /// The default resource.
    pub fn resource(&self) -> &Arc<dyn MemoryResource + Send + Sync> {
        &self.resource
    }

    /// Stops the scheduler now (dropping the system does it too): the actors still
    /// queued are told shutdown, and later sends give their message back.
    ///
    /// # Errors
    ///
    /// [`SchedulerError`] from the scheduler, e.g. when called from one of its workers.
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Context, System};
    ///
    /// struct Nop;
    /// impl Actor for Nop {
    ///     type Message = ();
    ///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let nop = system.spawn(Nop).unwrap();
    /// nop.send(()).unwrap(); // queued, never run
    /// assert_eq!(system.stop().unwrap().cancelled, 1);
    /// assert!(!nop.is_alive());
    /// assert!(nop.send(()).is_err());
    /// ```
    pub fn stop(&self) -> Result<StopReport, SchedulerError> {
        self.scheduler.stop()
    }
}

impl<S: Scheduler + 'static> Drop for System<S> {
    fn drop(&mut self) {
        // From a worker of its own scheduler this is `StopFromWorker`; the scheduler then
        // stops when its last reference goes.
        let _ = self.scheduler.stop();
    }
}

impl<S: Scheduler + fmt::Debug + 'static> fmt::Debug for System<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("System")
            .field("scheduler", &self.scheduler)
            .finish_non_exhaustive()
    }
}
