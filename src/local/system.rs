//! [`LocalSystem`]: the run queue of a thread's local actors, driven by the caller.

use core::cell::{Cell, RefCell};
use core::fmt;
use core::ptr::NonNull;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zeta_arena::GlobalResource;
use zeta_scheduler::{ResumeResult, RunStats, SchedulerError, Timers};

use crate::actor::StopReason;
use crate::cell::{Home, SharedResource};
use crate::error::SpawnError;
use crate::local::actor::LocalActor;
use crate::local::address::LocalAddress;
use crate::local::bridge::{drop_parcels, Bridge};
use crate::local::cell::{self, Header};
use crate::system::IntoSharedResource;

/// The part of a local system its cells and handles share (through an `Rc`).
pub(crate) struct Shared {
    head: Cell<Option<NonNull<Header>>>,
    tail: Cell<Option<NonNull<Header>>>,
    /// Every cell not yet freed (`cell`'s module doc).
    all: Cell<Option<NonNull<Header>>>,
    /// A seeded system's ready actors (`draw`), instead of `head`/`tail`.
    drawn: RefCell<Vec<NonNull<Header>>>,
    queued: Cell<usize>,
    max_throughput: usize,
    /// The seeded stream for the ready order; 0 when the order is FIFO.
    rng: Cell<u64>,
    stopped: Cell<bool>,
    driving: Cell<bool>,
    /// The user's handles ([`LocalSystem`]); the system stops when the last one goes.
    handles: Cell<usize>,
    /// The cross-thread inbox, and the home of every node and cell of the system.
    pub(crate) bridge: Arc<Bridge>,
    /// The exports that hold a reference on a cell, by key (`bridge`).
    pub(crate) exports: RefCell<Vec<(u64, NonNull<Header>)>>,
    pub(crate) next_export: Cell<u64>,
    /// The system's timers (`local::time`), on a real or a virtual clock.
    timers: Timers,
    /// Runs since the last look at the timers.
    since_look: Cell<u32>,
    /// Runs that ended in a panic (caught), for `RunStats::panics`.
    pub(crate) panics: Cell<u64>,
    /// Told of every actor of the system (`observe`).
    #[cfg(feature = "observe")]
    pub(crate) observed: crate::observe::Observed,
}

/// While jobs keep coming, the loop looks at the timers every this many runs (and
/// whenever nothing is ready), as the `ManualScheduler` does.
const CHECK_INTERVAL: u32 = 16;

/// A system of local actors: [`LocalActor`]s on one thread, with no atomic operation on
/// the message path, driven by the caller like the
/// [`ManualScheduler`](crate::ManualScheduler).
///
/// A send queues the message in the actor's inbox and, if the actor was idle, the actor
/// on the system's run queue; [`run_once`](Self::run_once),
/// [`run_until_idle`](Self::run_until_idle) and [`run_for`](Self::run_for) run the
/// queued actors, each for at most `max_throughput` messages at a time. With
/// [`with_seed`](Self::with_seed), the next actor to run is drawn from the ready ones by
/// a seeded stream instead of taken in FIFO order: another interleaving, the same one
/// for the same seed.
///
/// The handle is neither `Send` nor `Sync`, nor is anything made from it but a
/// [`SendAddress`](crate::local::SendAddress) (`LocalAddress::sendable`), through
/// which other threads reach an actor.
///
/// Dropping the last handle stops the system: every actor that has not ended, queued or
/// idle, ends with [`StopReason::SchedulerStopped`] (its `on_stop` runs, its queued
/// messages are dropped and their requests resolve with an error), pending timers are
/// dropped, and later sends, from this thread or another, give their message back.
///
/// # Examples
///
/// ```
/// use zeta::local::{LocalActor, LocalContext, LocalReply, LocalSystem};
///
/// struct Counter(u64);
/// enum Msg {
///     Add(u64),
///     Get(LocalReply<u64>),
/// }
/// impl LocalActor for Counter {
///     type Message = Msg;
///     fn handle(&mut self, msg: Msg, _ctx: &mut LocalContext<'_, Self>) {
///         match msg {
///             Msg::Add(n) => self.0 += n,
///             Msg::Get(reply) => drop(reply.send(self.0)),
///         }
///     }
/// }
///
/// let system = LocalSystem::new(64).unwrap();
/// let counter = system.spawn(Counter(0)).unwrap();
/// for n in 1..=10 {
///     counter.send(Msg::Add(n)).unwrap();
/// }
/// let total = counter.ask(Msg::Get).unwrap();
/// assert_eq!(total.wait(), Ok(55)); // `wait` runs the system until the answer
/// ```
pub struct LocalSystem {
    shared: Rc<Shared>,
}

impl LocalSystem {
    /// A system whose actors live in the global allocator, run `max_throughput`
    /// messages at a time.
    ///
    /// # Errors
    ///
    /// [`SchedulerError::ZeroThroughput`] for a `max_throughput` of 0.
    pub fn new(max_throughput: usize) -> Result<Self, SchedulerError> {
        Self::builder().max_throughput(max_throughput).build()
    }

    /// A builder for the other settings: memory resource, seeded order, virtual clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use zeta::arena::PoolResource;
    /// use zeta::local::LocalSystem;
    ///
    /// let system = LocalSystem::builder()
    ///     .max_throughput(32)
    ///     .resource(Arc::new(PoolResource::new()))
    ///     .seed(7)
    ///     .virtual_clock()
    ///     .build()
    ///     .unwrap();
    /// let start = system.now();
    /// system.advance(Duration::from_secs(5)).unwrap();
    /// assert_eq!(system.now() - start, Duration::from_secs(5));
    /// ```
    pub fn builder() -> LocalSystemBuilder {
        LocalSystemBuilder {
            max_throughput: 64,
            resource: None,
            seed: None,
            virtual_clock: false,
            #[cfg(feature = "observe")]
            observer: None,
        }
    }

    /// A system whose actors and messages live in `resource` (a pool, an arena, a
    /// counting wrapper: any [`MemoryResource`](crate::arena::MemoryResource) that other
    /// threads may use too, for the sends that come through the bridge).
    ///
    /// # Errors
    ///
    /// [`SchedulerError::ZeroThroughput`] for a `max_throughput` of 0.
    pub fn with_resource(
        max_throughput: usize,
        resource: impl IntoSharedResource,
    ) -> Result<Self, SchedulerError> {
        Self::builder()
            .max_throughput(max_throughput)
            .resource(resource)
            .build()
    }

    /// A system that draws the next actor to run from the ready ones with a stream
    /// seeded by `seed` (the scheduler crate's [`rng`](crate::scheduler::rng)), instead
    /// of FIFO: the same seed, the same order.
    ///
    /// # Errors
    ///
    /// [`SchedulerError::ZeroThroughput`] for a `max_throughput` of 0.
    pub fn with_seed(
        max_throughput: usize,
        resource: impl IntoSharedResource,
        seed: u64,
    ) -> Result<Self, SchedulerError> {
        Self::builder()
            .max_throughput(max_throughput)
            .resource(resource)
            .seed(seed)
            .build()
    }

    fn build(builder: LocalSystemBuilder) -> Result<Self, SchedulerError> {
        let LocalSystemBuilder {
            max_throughput,
            resource,
            seed,
            virtual_clock,
            #[cfg(feature = "observe")]
            observer,
        } = builder;
        if max_throughput == 0 {
            return Err(SchedulerError::ZeroThroughput);
        }
        let resource = resource.unwrap_or_else(|| Arc::new(GlobalResource));
        let rng = seed.map_or(0, zeta_scheduler::rng::state_for);
        let timers = if virtual_clock {
            Timers::with_virtual_clock()
        } else {
            Timers::new()
        };
        if rng != 0 {
            timers.set_tie_seed(rng);
        }
        #[cfg(feature = "observe")]
        let observed = match observer {
            Some((actors, timers_observer)) => {
                // A fresh `Timers`: nothing was set.
                let _ = timers.set_observer(timers_observer);
                crate::observe::Observed::new(Some(actors))
            }
            None => crate::observe::Observed::default(),
        };
        let shared = Rc::new(Shared {
            head: Cell::new(None),
            tail: Cell::new(None),
            all: Cell::new(None),
            drawn: RefCell::new(Vec::new()),
            queued: Cell::new(0),
            max_throughput,
            rng: Cell::new(rng),
            stopped: Cell::new(false),
            driving: Cell::new(false),
            handles: Cell::new(0),
            bridge: Arc::new(Bridge::new(Home::new(resource))),
            exports: RefCell::new(Vec::new()),
            next_export: Cell::new(0),
            timers,
            since_look: Cell::new(0),
            panics: Cell::new(0),
            #[cfg(feature = "observe")]
            observed,
        });
        Ok(Self::from_shared(shared))
    }

    pub(crate) fn from_shared(shared: Rc<Shared>) -> Self {
        shared.handles.set(shared.handles.get() + 1);
        Self { shared }
    }

    pub(crate) fn shared(&self) -> &Rc<Shared> {
        &self.shared
    }

    /// Places `actor` in the system's memory; it runs at its first message.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] (with the actor back) if the memory resource has no room.
    pub fn spawn<A: LocalActor>(&self, actor: A) -> Result<LocalAddress<A>, SpawnError<A>> {
        self.shared.spawn(actor, None)
    }

    /// Spawns `actor` with a `name`, shown by its address's `Debug` and given to the
    /// hooks (as [`System::spawn_named`](crate::System::spawn_named)).
    ///
    /// # Errors
    ///
    /// [`SpawnError`] (with the actor back) if the memory resource has no room.
    pub fn spawn_named<A: LocalActor>(
        &self,
        name: &'static str,
        actor: A,
    ) -> Result<LocalAddress<A>, SpawnError<A>> {
        self.shared.spawn(actor, Some(name))
    }

    /// Runs one actor for at most `max_throughput` messages (after delivering what
    /// other threads sent). `Ok(false)` when nothing was ready.
    ///
    /// # Errors
    ///
    /// [`SchedulerError::AlreadyRunning`] when called from inside a handler of this
    /// system (the system is already being driven); [`SchedulerError::AlreadyStopped`]
    /// once it has stopped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use zeta::local::{LocalActor, LocalContext, LocalSystem};
    ///
    /// type Log = Rc<RefCell<Vec<(&'static str, u32)>>>;
    ///
    /// struct Named(&'static str, Log);
    /// impl LocalActor for Named {
    ///     type Message = u32;
    ///     fn handle(&mut self, n: u32, _ctx: &mut LocalContext<'_, Self>) {
    ///         self.1.borrow_mut().push((self.0, n));
    ///     }
    /// }
    ///
    /// let log = Log::default();
    /// let system = LocalSystem::new(1).unwrap(); // one message per actor per run
    /// let a = system.spawn(Named("a", log.clone())).unwrap();
    /// let b = system.spawn(Named("b", log.clone())).unwrap();
    /// a.send(1).unwrap();
    /// a.send(2).unwrap();
    /// b.send(1).unwrap();
    /// assert_eq!(system.ready(), 2);
    /// while system.run_once().unwrap() {}
    /// assert_eq!(*log.borrow(), [("a", 1), ("b", 1), ("a", 2)]); // `a` waited its turn
    /// ```
    pub fn run_once(&self) -> Result<bool, SchedulerError> {
        let _drive = self.shared.drive()?;
        Ok(self.shared.step(&mut RunStats::default()))
    }

    /// Runs until no actor is ready (what other threads sent meanwhile included).
    ///
    /// # Errors
    ///
    /// As [`run_once`](Self::run_once).
    pub fn run_until_idle(&self) -> Result<RunStats, SchedulerError> {
        let _drive = self.shared.drive()?;
        let mut stats = RunStats::default();
        let panics = self.shared.panics.get();
        while self.shared.step(&mut stats) {}
        stats.panics = self.shared.panics.get() - panics;
        Ok(stats)
    }

    /// Runs until no actor is ready or `budget` has passed (checked between runs).
    ///
    /// # Errors
    ///
    /// As [`run_once`](Self::run_once).
    pub fn run_for(&self, budget: Duration) -> Result<RunStats, SchedulerError> {
        let _drive = self.shared.drive()?;
        let deadline = Instant::now().checked_add(budget);
        let mut stats = RunStats::default();
        let panics = self.shared.panics.get();
        while self.shared.step(&mut stats) {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                break;
            }
        }
        stats.panics = self.shared.panics.get() - panics;
        Ok(stats)
    }

    /// Waits, at most `timeout` (`None`: for ever), for a message from another thread
    /// ([`SendAddress`](crate::local::SendAddress)); returns at once if one is there.
    /// On a real clock, it also returns when the next timer is due. `true` when a
    /// message arrived (run the system to deliver it).
    ///
    /// # Errors
    ///
    /// [`SchedulerError::AlreadyRunning`] from inside a handler.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    /// use zeta::local::{LocalActor, LocalContext, LocalSystem};
    ///
    /// struct Sum(Rc<Cell<u64>>);
    /// impl LocalActor for Sum {
    ///     type Message = u64;
    ///     fn handle(&mut self, n: u64, _ctx: &mut LocalContext<'_, Self>) {
    ///         self.0.set(self.0.get() + n);
    ///     }
    /// }
    ///
    /// let total = Rc::new(Cell::new(0));
    /// let system = LocalSystem::new(64).unwrap();
    /// let remote = system.spawn(Sum(total.clone())).unwrap().sendable().unwrap();
    /// assert!(!system.park(Some(Duration::from_millis(1))).unwrap()); // nothing came
    /// std::thread::spawn(move || remote.send(5).unwrap()).join().unwrap();
    /// // A thread serving others parks until something comes, then runs the system.
    /// assert!(system.park(None).unwrap()); // already there: at once
    /// system.run_until_idle().unwrap();
    /// assert_eq!(total.get(), 5);
    /// ```
    pub fn park(&self, timeout: Option<Duration>) -> Result<bool, SchedulerError> {
        if self.shared.driving.get() {
            return Err(SchedulerError::AlreadyRunning);
        }
        // On a real clock, no longer than until the next timer is due.
        let timers = &self.shared.timers;
        let timer = (!timers.is_virtual())
            .then(|| timers.time_to_next())
            .flatten();
        let timeout = match (timeout, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(self.shared.bridge.park(timeout))
    }

    /// The system's clock: virtual ([`LocalSystemBuilder::virtual_clock`]: it moves
    /// only with [`advance`](Self::advance)) or real.
    pub fn now(&self) -> Instant {
        self.shared.timers.now()
    }

    /// When the earliest pending timer is due, if any: how long a loop on a real clock
    /// may sleep (or [`park`](Self::park)) before it runs the system again.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.shared.timers.next_deadline()
    }

    /// Moves a virtual clock forward by `by`, stopping at each timer's deadline to
    /// fire what is due and run the system until idle, then runs it until idle at the
    /// end. On a real clock it runs until the real clock reaches the target.
    ///
    /// # Errors
    ///
    /// As [`run_once`](Self::run_once).
    pub fn advance(&self, by: Duration) -> Result<RunStats, SchedulerError> {
        self.advance_with(|timers, between| timers.advance_by(by, between))
    }

    /// [`advance`](Self::advance) to a point on the clock.
    ///
    /// # Errors
    ///
    /// As [`run_once`](Self::run_once).
    pub fn advance_to(&self, deadline: Instant) -> Result<RunStats, SchedulerError> {
        self.advance_with(|timers, between| timers.advance_to(deadline, between))
    }

    fn advance_with(
        &self,
        advance: impl FnOnce(&Timers, &mut dyn FnMut()) -> Result<usize, ()>,
    ) -> Result<RunStats, SchedulerError> {
        let _drive = self.shared.drive()?;
        let mut stats = RunStats::default();
        let panics = self.shared.panics.get();
        while self.shared.step(&mut stats) {}
        let mut between = || while self.shared.step(&mut stats) {};
        let fired = advance(&self.shared.timers, &mut between)
            .map_err(|()| SchedulerError::AlreadyRunning)?;
        stats.timers_fired += fired as u64;
        while self.shared.step(&mut stats) {}
        stats.panics = self.shared.panics.get() - panics;
        Ok(stats)
    }

    /// How many actors are ready to run.
    pub fn ready(&self) -> usize {
        self.shared.queued.get()
    }

    /// The largest number of messages one actor handles before the next one runs.
    pub fn max_throughput(&self) -> usize {
        self.shared.max_throughput
    }

    /// The memory resource of the system's actors and messages.
    pub fn resource(&self) -> &SharedResource {
        &self.shared.bridge.home().resource
    }
}

/// The settings of a [`LocalSystem`] ([`LocalSystem::builder`]).
#[derive(Clone)]
#[must_use]
pub struct LocalSystemBuilder {
    max_throughput: usize,
    resource: Option<SharedResource>,
    seed: Option<u64>,
    virtual_clock: bool,
    #[cfg(feature = "observe")]
    observer: Option<(
        Arc<dyn crate::observe::Observer>,
        Arc<dyn crate::observe::SchedulerObserver>,
    )>,
}

impl LocalSystemBuilder {
    /// Tells `observer` of every actor of the system (spawn, start, runs, messages,
    /// panics, stops: the [`observe`](crate::observe) module's hooks, on the system's
    /// thread) and of its timers' firings. Only with the `observe` feature.
    #[cfg(feature = "observe")]
    pub fn observer<O>(mut self, observer: Arc<O>) -> Self
    where
        O: crate::observe::Observer + crate::observe::SchedulerObserver,
    {
        self.observer = Some((observer.clone(), observer));
        self
    }

    /// The most messages one actor handles before the next one runs (default 64).
    pub fn max_throughput(mut self, max_throughput: usize) -> Self {
        self.max_throughput = max_throughput;
        self
    }

    /// Where actors, messages, reply slots and timers live (default: the global
    /// allocator). Other threads use it too, for what they send through the bridge.
    pub fn resource(mut self, resource: impl IntoSharedResource) -> Self {
        self.resource = Some(resource.into_shared_resource());
        self
    }

    /// Draws the next actor to run, and the order of timers due at the same instant,
    /// from a stream seeded by `seed`: the same seed, the same run.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// A virtual clock, which starts at the build and moves only with
    /// [`LocalSystem::advance`] (a deterministic game loop or test).
    pub fn virtual_clock(mut self) -> Self {
        self.virtual_clock = true;
        self
    }

    /// The system.
    ///
    /// # Errors
    ///
    /// [`SchedulerError::ZeroThroughput`] for a `max_throughput` of 0.
    pub fn build(self) -> Result<LocalSystem, SchedulerError> {
        LocalSystem::build(self)
    }
}

impl fmt::Debug for LocalSystemBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSystemBuilder")
            .field("max_throughput", &self.max_throughput)
            .field("seed", &self.seed)
            .field("virtual_clock", &self.virtual_clock)
            .finish_non_exhaustive()
    }
}

impl Clone for LocalSystem {
    fn clone(&self) -> Self {
        Self::from_shared(Rc::clone(&self.shared))
    }
}

impl Drop for LocalSystem {
    /// The last handle stops the system (cells keep its shared part, not its run).
    fn drop(&mut self) {
        let left = self.shared.handles.get() - 1;
        self.shared.handles.set(left);
        if left == 0 {
            self.shared.stop();
        }
    }
}

impl fmt::Debug for LocalSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalSystem")
            .field("ready", &self.shared.queued.get())
            .field("max_throughput", &self.shared.max_throughput)
            .field("stopped", &self.shared.stopped.get())
            .finish()
    }
}

/// Marks the system as driven for a scope.
pub(crate) struct Drive<'a>(&'a Shared);

impl Drop for Drive<'_> {
    fn drop(&mut self) {
        self.0.driving.set(false);
    }
}

impl Shared {
    /// The system's memory resource.
    #[inline(always)]
    pub(crate) fn home(&self) -> &'static Home {
        // SAFETY: the home lives in the bridge, which this `Shared` keeps alive; the
        // `'static` lets cells and nodes point at it, and each of them keeps the
        // `Shared` (a cell its `Rc`) or the bridge (a node in flight, its export's
        // `Arc`) alive for as long as it uses it.
        unsafe { &*(self.bridge.home() as *const Home) }
    }

    pub(crate) fn spawn<A: LocalActor>(
        self: &Rc<Self>,
        actor: A,
        name: Option<&'static str>,
    ) -> Result<LocalAddress<A>, SpawnError<A>> {
        match cell::spawn_cell(actor, self, name) {
            // SAFETY: a fresh cell whose count (2) includes this address's reference.
            Ok(header) => Ok(unsafe { LocalAddress::from_header(header) }),
            Err(actor) => Err(SpawnError::new(actor)),
        }
    }

    /// The system's timers.
    #[inline(always)]
    pub(crate) fn timers(&self) -> &Timers {
        &self.timers
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    /// Runs, in one drive, while `keep_going` says so and something is ready;
    /// `Ok(true)` when it stopped because nothing was ready.
    pub(crate) fn run_while(
        &self,
        mut keep_going: impl FnMut() -> bool,
    ) -> Result<bool, SchedulerError> {
        let _drive = self.drive()?;
        let mut stats = RunStats::default();
        while keep_going() {
            if !self.step(&mut stats) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether something can still make an actor ready without the caller: a
    /// [`SendAddress`](crate::local::SendAddress), or a timer on a real clock.
    pub(crate) fn may_wake(&self) -> bool {
        !self.exports.borrow().is_empty()
            || (!self.timers.is_virtual() && self.timers.next_deadline().is_some())
    }

    fn drive(&self) -> Result<Drive<'_>, SchedulerError> {
        if self.driving.get() {
            return Err(SchedulerError::AlreadyRunning);
        }
        if self.stopped.get() {
            return Err(SchedulerError::AlreadyStopped);
        }
        self.driving.set(true);
        Ok(Drive(self))
    }

    /// Adds a new cell to the list of all cells.
    pub(crate) fn link(&self, header: NonNull<Header>) {
        // SAFETY: a live cell, and the cells of the list are live (unlinked before
        // they are freed).
        unsafe {
            let old = self.all.replace(Some(header));
            header.as_ref().all_next.set(old);
            if let Some(old) = old {
                old.as_ref().all_prev.set(Some(header));
            }
        }
    }

    /// Takes a cell that is being freed out of the list of all cells.
    pub(crate) fn unlink(&self, header: NonNull<Header>) {
        // SAFETY: a listed cell, still live, and its neighbours are listed and live.
        unsafe {
            let (prev, next) = (
                header.as_ref().all_prev.get(),
                header.as_ref().all_next.get(),
            );
            match prev {
                Some(prev) => prev.as_ref().all_next.set(next),
                None => self.all.set(next),
            }
            if let Some(next) = next {
                next.as_ref().all_prev.set(prev);
            }
        }
    }

    /// Ends every idle actor (the system stops). Each cell is held by a reference while
    /// it is ended, so the walk's position stays listed whatever the ending frees.
    fn end_idle(&self) {
        let mut at = self.all.get();
        if let Some(header) = at {
            cell::retain(header);
        }
        while let Some(header) = at {
            // SAFETY: our reference keeps it live (and listed).
            unsafe { (header.as_ref().vtable.end_if_idle)(header) };
            // SAFETY: still listed: our reference is not given up yet.
            let next = unsafe { header.as_ref() }.all_next.get();
            if let Some(next) = next {
                cell::retain(next);
            }
            // SAFETY: the reference taken above, given up once.
            unsafe { cell::release(header) };
            at = next;
        }
    }

    /// Queues the actor at `header` to run.
    ///
    /// # Safety
    ///
    /// The caller holds the actor's run right (an unblocking push or seal), and hands
    /// it over. On the system's thread.
    #[inline]
    pub(crate) unsafe fn schedule(&self, header: NonNull<Header>) {
        if self.stopped.get() {
            // SAFETY: we hold the run right (caller's duty); a stopped system refuses to
            // run the actor, which ends.
            unsafe { (header.as_ref().vtable.end)(header, StopReason::SchedulerStopped) };
            return;
        }
        // SAFETY: the caller's duty, and the system runs.
        unsafe { self.enqueue(header) }
    }

    /// Appends the actor at `header` to the run queue.
    ///
    /// # Safety
    ///
    /// As [`schedule`](Self::schedule), and the system has not stopped (the caller
    /// looked).
    #[inline]
    pub(crate) unsafe fn enqueue(&self, header: NonNull<Header>) {
        self.queued.set(self.queued.get() + 1);
        if self.rng.get() != 0 {
            self.drawn.borrow_mut().push(header);
            return;
        }
        // SAFETY: the run right keeps the cell live while it is queued.
        unsafe { header.as_ref() }.next.set(None);
        match self.tail.replace(Some(header)) {
            // SAFETY: a queued cell is live (its run right is the queue's).
            Some(tail) => unsafe { tail.as_ref() }.next.set(Some(header)),
            None => self.head.set(Some(header)),
        }
    }

    /// The next actor to run: the oldest, or one drawn by the seeded stream.
    #[inline]
    fn pop(&self) -> Option<NonNull<Header>> {
        let len = self.queued.get();
        if len == 0 {
            return None;
        }
        self.queued.set(len - 1);
        let state = self.rng.get();
        if state != 0 {
            return Some(self.draw(state, len));
        }
        // SAFETY: queued cells are live (their run right is the queue's), and the queue
        // is not empty.
        unsafe {
            let head = self.head.get().unwrap_unchecked();
            let next = head.as_ref().next.get();
            self.head.set(next);
            if next.is_none() {
                self.tail.set(None);
            }
            Some(head)
        }
    }

    /// A seeded system's draw: any of the `len` ready actors, by the stream. The ready
    /// ones are kept in a vector then (swap-remove: O(1)), which grows to the most
    /// actors ever ready at once and stays.
    #[cold]
    fn draw(&self, mut state: u64, len: usize) -> NonNull<Header> {
        let pick = (zeta_scheduler::rng::next(&mut state) % len as u64) as usize;
        self.rng.set(state);
        self.drawn.borrow_mut().swap_remove(pick)
    }

    /// Delivers what other threads sent, then runs one actor. Whether anything ran.
    #[inline(always)]
    fn step(&self, stats: &mut RunStats) -> bool {
        if self.bridge.has_mail() {
            self.deliver_bridged();
        }
        let looks = self.since_look.get() + 1;
        if looks >= CHECK_INTERVAL {
            self.since_look.set(0);
            self.fire_due(stats);
        } else {
            self.since_look.set(looks);
        }
        let header = match self.pop() {
            Some(header) => header,
            None => {
                // Nothing ready: what is due fires (and may make actors ready).
                self.fire_due(stats);
                match self.pop() {
                    Some(header) => header,
                    None => return false,
                }
            }
        };
        // SAFETY: the queue held the run right, now ours; it keeps the cell live.
        let info = unsafe { (header.as_ref().vtable.resume)(header, self.max_throughput) };
        stats.resumes += 1;
        stats.messages += info.messages_processed as u64;
        if info.result == ResumeResult::Resume {
            // SAFETY: `Resume` leaves the run right with us.
            unsafe { self.schedule(header) };
        }
        true
    }

    /// Fires the timers that are due by the clock.
    #[inline]
    fn fire_due(&self, stats: &mut RunStats) {
        if self.timers.is_due() {
            stats.timers_fired += self.timers.poll().fired as u64;
        }
    }

    /// Takes everything other threads sent and hands each parcel to its actor.
    #[cold]
    fn deliver_bridged(&self) {
        for parcel in self.bridge.take() {
            // SAFETY: on the system's thread, and the exports' references keep the
            // targets live (`bridge` module doc).
            unsafe { parcel.open(self) };
        }
    }

    /// Stops the system: refuses further runs and cross-thread sends, ends the queued
    /// actors, and gives back the exports' references.
    fn stop(&self) {
        if self.stopped.replace(true) {
            return;
        }
        // Parcels still in flight are dropped undelivered (a request in them resolves
        // with an error); later sends from other threads get their message back.
        drop_parcels(self.bridge.close());
        // Pending timers are dropped undelivered (their messages with them; their
        // targets' addresses go, which may end idle actors).
        self.timers.close();
        while let Some(header) = self.pop() {
            // SAFETY: the queue held the run right, now ours.
            unsafe { (header.as_ref().vtable.end)(header, StopReason::SchedulerStopped) };
        }
        // Idle actors end too: nothing would run them again.
        self.end_idle();
        let exports = core::mem::take(&mut *self.exports.borrow_mut());
        for (_, header) in exports {
            // SAFETY: each export's reference, given up once: its release parcel, if it
            // comes, finds no entry (and none can come: the bridge is closed).
            unsafe { cell::release(header) };
        }
    }
}
