//! [`Supervisor`]: an actor that restarts its children in place, by strategy, policy and
//! intensity, as OTP's supervisors do.
//!
//! A child is spawned by its supervisor (in the supervisor's memory resource, on its
//! scheduler) from a factory, with a [`Restart`] policy, and carries what it needs to be
//! rebuilt in its own cell (`restart.rs`). Every end of a child's instance (a panic,
//! a stop, a kill, a link's failure) comes to the supervisor as a parked child, in its
//! inbox at high priority, and the supervisor decides, one notice at a time:
//!
//! | policy | restarted after |
//! |---|---|
//! | [`Restart::Permanent`] | any end: a panic, a stop, a kill |
//! | [`Restart::Transient`] | an abnormal end: a panic, a kill, a link's failure (not a stop) |
//! | [`Restart::Temporary`] | never |
//!
//! and by [`RestartStrategy`]: the failed child alone, or also every other child (or every
//! child started after it), which are killed and restarted in place as their own
//! notices come back (a kill keeps their queues; sends to them are refused between the
//! kill and their restart).
//!
//! **Intensity.** Each restart decided for a child's own end counts (the siblings a
//! strategy restarts with it do not). One more than [`Intensity::max_restarts`] within
//! [`Intensity::within`] and the supervisor *fails*: it ends the child, kills every
//! other child, and panics, which its own supervisor (if it has one) sees as any
//! child's failure: the failure escalates up the tree. A supervisor's end (failure,
//! stop, kill) kills its children; a restarted supervisor starts its static children
//! ([`Supervisor::with_child`]) anew, and ends any child of its former instance that
//! comes back to it.
//!
//! A child that ends for good (not restarted) is told to its supervisor by a monitor's
//! [`Down`](crate::Down), and leaves its list.
//!
//! The decision allocates nothing: the restart's next notice comes from the
//! supervisor's memory resource, the new instance from the factory.

use core::any::{Any, TypeId};
use core::fmt;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zeta_scheduler::JobRef;

use super::monitor::{Down, Monitor};
use super::restart::{self, Factory, Parked};
use crate::actor::{Actor, StopReason};
use crate::address::Address;
use crate::context::Context;
use crate::error::AskError;
use crate::future::{Future, Reply};
use crate::identity::ActorId;
use crate::sync::{AtomicU64, Ordering};
use crate::system::spawn_with;

/// Which children a supervisor restarts when one of them ends and is restarted.
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Context, Intensity, Reply, Restart, RestartStrategy, Supervisor, System};
///
/// struct Counter(u32);
/// enum Msg {
///     Add,
///     Fail,
///     Get(Reply<u32>),
/// }
/// impl Actor for Counter {
///     type Message = Msg;
///     fn handle(&mut self, msg: Msg, _ctx: &mut Context<'_, Self>) {
///         match msg {
///             Msg::Add => self.0 += 1,
///             Msg::Fail => panic!("failed"),
///             Msg::Get(reply) => drop(reply.send(self.0)),
///         }
///     }
/// }
///
/// let system = System::manual(64).unwrap();
/// let run = || system.scheduler().run_until_idle().unwrap();
/// let strategy = RestartStrategy::OneForAll;
/// let supervisor = system.spawn(Supervisor::new(strategy, Intensity::default())).unwrap();
/// let a = Supervisor::start_child(&supervisor, Restart::Permanent, || Counter(0)).unwrap();
/// let b = Supervisor::start_child(&supervisor, Restart::Permanent, || Counter(0)).unwrap();
/// run();
/// let (a, b) = (a.wait().unwrap().unwrap(), b.wait().unwrap().unwrap()); // resolved
/// b.send(Msg::Add).unwrap();
/// run();
/// a.send(Msg::Fail).unwrap(); // `a` fails: both are rebuilt
/// run();
/// let mut count = b.ask(Msg::Get).unwrap();
/// let mut stats = Supervisor::stats(&supervisor).unwrap();
/// run();
/// assert_eq!(count.try_take(), Some(Ok(0))); // a new instance of `b`
/// let stats = stats.try_take().unwrap().unwrap();
/// assert_eq!((stats.restarts, stats.sibling_restarts), (1, 1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RestartStrategy {
    /// The child alone.
    OneForOne,
    /// Every child.
    OneForAll,
    /// The child and every child started after it.
    RestForOne,
}

/// When a child is restarted.
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Context, Intensity, Restart, RestartStrategy, Supervisor, System};
///
/// /// Fails on `true`, stops on `false`.
/// struct Job;
/// impl Actor for Job {
///     type Message = bool;
///     fn handle(&mut self, fail: bool, ctx: &mut Context<'_, Self>) {
///         assert!(!fail, "the job failed");
///         ctx.stop();
///     }
/// }
///
/// let system = System::manual(64).unwrap();
/// let run = || system.scheduler().run_until_idle().unwrap();
/// let strategy = RestartStrategy::OneForOne;
/// let supervisor = system.spawn(Supervisor::new(strategy, Intensity::default())).unwrap();
/// let job = Supervisor::start_child(&supervisor, Restart::Transient, || Job).unwrap();
/// run();
/// let job = job.wait().unwrap().unwrap();
/// job.send(true).unwrap(); // an abnormal end: restarted
/// run();
/// assert!(job.is_alive());
/// job.send(false).unwrap(); // a stop: its end is final
/// run();
/// assert!(!job.is_alive());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Restart {
    /// After any end.
    Permanent,
    /// After an abnormal end: a panic, a kill, a link's failure; not after a stop.
    Transient,
    /// Never: its end is final.
    Temporary,
}

impl Restart {
    fn wants(self, reason: &StopReason) -> bool {
        match self {
            Restart::Permanent => true,
            Restart::Transient => *reason != StopReason::Stopped,
            Restart::Temporary => false,
        }
    }
}

/// Restarts whose times a supervisor keeps room for from the start: an intensity of up
/// to this many restarts per window never allocates when deciding; a larger one grows
/// its record (from the global allocator) up to `max_restarts` times, once.
const RECORDED: usize = 64;

/// At most `max_restarts` restarts within `within`: one more, and the supervisor fails.
///
/// The window is measured on the real clock ([`Instant::now`]), also under a
/// [`ManualScheduler`](crate::ManualScheduler)'s virtual one.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zeta::{Actor, Context, Intensity, Restart, RestartStrategy, StopReason, Supervisor, System};
///
/// struct Flaky;
/// impl Actor for Flaky {
///     type Message = ();
///     fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {
///         panic!("flaky");
///     }
/// }
///
/// let system = System::manual(64).unwrap();
/// let run = || system.scheduler().run_until_idle().unwrap();
/// let intensity = Intensity { max_restarts: 2, within: Duration::from_secs(60) };
/// let supervisor = system.spawn(Supervisor::new(RestartStrategy::OneForOne, intensity)).unwrap();
/// let flaky = Supervisor::start_child(&supervisor, Restart::Permanent, || Flaky).unwrap();
/// run();
/// let flaky = flaky.wait().unwrap().unwrap();
/// let mut gave_up = supervisor.stopped().unwrap();
/// for _ in 0..2 {
///     flaky.send(()).unwrap(); // fails, and is restarted in place
///     run();
/// }
/// assert!(flaky.is_alive() && gave_up.try_take().is_none());
/// flaky.send(()).unwrap(); // a third failure within the minute: one too many
/// run();
/// assert!(matches!(gave_up.try_take(), Some(Ok(StopReason::Panicked(_)))));
/// assert!(!flaky.is_alive()); // ended with its supervisor
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Intensity {
    /// Restarts allowed within the window.
    pub max_restarts: u32,
    /// The window.
    pub within: Duration,
}

impl Default for Intensity {
    /// OTP's default: 1 restart in 5 seconds.
    fn default() -> Self {
        Self {
            max_restarts: 1,
            within: Duration::from_secs(5),
        }
    }
}

/// Why a child could not be started.
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Context, Intensity, Restart, RestartStrategy, StartError, Supervisor, System};
///
/// struct Configured;
/// impl Actor for Configured {
///     type Message = ();
///     fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {}
/// }
///
/// let system = System::manual(64).unwrap();
/// let strategy = RestartStrategy::OneForOne;
/// let supervisor = system.spawn(Supervisor::new(strategy, Intensity::default())).unwrap();
/// let factory = || -> Configured { panic!("no configuration") };
/// let started = Supervisor::start_child(&supervisor, Restart::Permanent, factory).unwrap();
/// system.scheduler().run_until_idle().unwrap();
/// match started.wait().unwrap() {
///     Err(StartError::FactoryPanicked(message)) => {
///         assert_eq!(message.as_str(), Some("no configuration"));
///     }
///     other => panic!("{other:?}"),
/// }
/// assert!(supervisor.is_alive()); // the supervisor lives on
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartError {
    /// A memory resource had no room for the child or what supervising it needs.
    OutOfMemory,
    /// The factory panicked, with this message.
    FactoryPanicked(crate::actor::PanicMessage),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::OutOfMemory => f.write_str("no memory for the child"),
            StartError::FactoryPanicked(message) => {
                write!(f, "the child's factory panicked: {message}")
            }
        }
    }
}

impl std::error::Error for StartError {}

/// What a supervisor has done, from [`Supervisor::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SupervisorStats {
    /// Children now supervised.
    pub children: usize,
    /// Restarts decided for a child's own end, since this instance started.
    pub restarts: u64,
    /// Restarts of siblings decided by the strategy.
    pub sibling_restarts: u64,
}

/// What ended how, counted by the supervisors of one tree (handed down to nested
/// supervisors) for [`System::shutdown`](crate::System): see [`EndCounts`].
#[derive(Debug, Default)]
pub(crate) struct EndTally {
    stopped: AtomicU64,
    killed: AtomicU64,
    panicked: AtomicU64,
    linked: AtomicU64,
    dropped: AtomicU64,
    scheduler_stopped: AtomicU64,
    node_lost: AtomicU64,
}

impl EndTally {
    pub(crate) fn count(&self, reason: &StopReason) {
        let counter = match reason {
            StopReason::Stopped => &self.stopped,
            StopReason::Killed => &self.killed,
            StopReason::Panicked(_) => &self.panicked,
            StopReason::Linked(_) => &self.linked,
            StopReason::Dropped => &self.dropped,
            StopReason::SchedulerStopped => &self.scheduler_stopped,
            StopReason::NodeLost => &self.node_lost,
        };
        // Relaxed: counters, read after the ends they count were waited for.
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn counts(&self) -> EndCounts {
        // Relaxed: as above.
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        EndCounts {
            stopped: read(&self.stopped),
            killed: read(&self.killed),
            panicked: read(&self.panicked),
            linked: read(&self.linked),
            dropped: read(&self.dropped),
            scheduler_stopped: read(&self.scheduler_stopped),
            node_lost: read(&self.node_lost),
        }
    }
}

/// Actors ended, by [`StopReason`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndCounts {
    /// [`StopReason::Stopped`].
    pub stopped: u64,
    /// [`StopReason::Killed`].
    pub killed: u64,
    /// [`StopReason::Panicked`].
    pub panicked: u64,
    /// [`StopReason::Linked`].
    pub linked: u64,
    /// [`StopReason::Dropped`].
    pub dropped: u64,
    /// [`StopReason::SchedulerStopped`].
    pub scheduler_stopped: u64,
    /// [`StopReason::NodeLost`].
    pub node_lost: u64,
}

impl EndCounts {
    /// Every end counted.
    pub fn total(&self) -> u64 {
        self.stopped
            + self.killed
            + self.panicked
            + self.linked
            + self.dropped
            + self.scheduler_stopped
            + self.node_lost
    }
}

/// Hands `tally` to `actor` if it is a supervisor.
fn inherit(actor: &mut dyn Any, tally: &Option<Arc<EndTally>>) {
    if let Some(supervisor) = actor.downcast_mut::<Supervisor>() {
        supervisor.tally = tally.clone();
    }
}

/// A static child: started by the supervisor's `on_start`, every time.
trait StaticChild: Send + Sync {
    fn start(
        &self,
        supervisor: &mut Supervisor,
        ctx: &Context<'_, Supervisor>,
    ) -> Result<ActorId, StartError>;
}

struct Spec<A: Actor> {
    restart: Restart,
    factory: Factory<A>,
}

impl<A: Actor> StaticChild for Spec<A> {
    fn start(
        &self,
        supervisor: &mut Supervisor,
        ctx: &Context<'_, Supervisor>,
    ) -> Result<ActorId, StartError> {
        supervisor
            .spawn_child(ctx, self.restart, Arc::clone(&self.factory))
            .map(|child| child.id())
    }
}

/// A child as its supervisor keeps it.
struct Child {
    id: ActorId,
    /// A strong reference: a supervisor keeps its children.
    job: JobRef,
    restart: Restart,
    kill: unsafe fn(&JobRef),
    /// An orderly end: `Shutdown` for a supervisor, `stop` for any other actor.
    shutdown: unsafe fn(&JobRef),
    /// Tells the supervisor when the child ends for good.
    _monitor: Monitor,
}

/// # Safety
///
/// `job` is a `Cell<A>`'s.
unsafe fn shutdown<A: Actor>(job: &JobRef) {
    if TypeId::of::<A>() == TypeId::of::<Supervisor>() {
        // SAFETY: the job is a `Cell<A>`'s and `A` is `Supervisor`.
        let supervisor = unsafe { Address::<Supervisor>::from_job(job.clone()) };
        // Err: it has ended, or cannot take the message: its end is on its way.
        let _ = Supervisor::shutdown(&supervisor);
    } else {
        // SAFETY: the caller's duty.
        let address = unsafe { Address::<A>::from_job(job.clone()) };
        let _ = address.stop();
    }
}

/// # Safety
///
/// `job` is a `Cell<A>`'s.
unsafe fn kill<A: Actor>(job: &JobRef) {
    // SAFETY: the caller's duty.
    let address = unsafe { Address::<A>::from_job(job.clone()) };
    // Err: it has ended already; nothing to do.
    let _ = address.kill();
}

/// What a [`Supervisor`] receives: built by its associated functions, and the engine's
/// notices of its children's ends.
pub struct SupervisorMsg(Inner);

/// Starts a child on the supervisor (boxed: starting a child is not a hot path).
type Starter = Box<dyn FnOnce(&mut Supervisor, &Context<'_, Supervisor>) + Send>;

enum Inner {
    Start(Starter),
    Parked(Parked),
    Stats(Reply<SupervisorStats>),
    Shutdown,
}

impl SupervisorMsg {
    pub(crate) fn parked(token: Parked) -> Self {
        Self(Inner::Parked(token))
    }

    pub(crate) fn into_parked(self) -> Option<Parked> {
        match self.0 {
            Inner::Parked(token) => Some(token),
            _ => None,
        }
    }
}

impl fmt::Debug for SupervisorMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Start(_) => f.write_str("Start"),
            Inner::Parked(token) => f.debug_tuple("Parked").field(token).finish(),
            Inner::Stats(_) => f.write_str("Stats"),
            Inner::Shutdown => f.write_str("Shutdown"),
        }
    }
}

/// An actor that supervises children: restarts them in place (same address, same
/// queue) by [`RestartStrategy`], [`Restart`] policy and [`Intensity`], and fails,
/// escalating to its own supervisor, when they fail too often. What is kept and lost at
/// a restart, and the shutdown order: docs/runtime-semantics.md, "Supervision".
///
/// | policy | restarted after |
/// |---|---|
/// | [`Restart::Permanent`] | any end: a panic, a stop, a kill, a link's failure |
/// | [`Restart::Transient`] | an abnormal end: not a stop |
/// | [`Restart::Temporary`] | never |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zeta::{Actor, Context, Intensity, Reply, Restart, RestartStrategy, Supervisor, System};
///
/// struct Gateway {
///     served: u64,
/// }
/// enum Order {
///     Place(u64, Reply<u64>),
///     Poison,
/// }
/// impl Actor for Gateway {
///     type Message = Order;
///     fn handle(&mut self, order: Order, _ctx: &mut Context<'_, Self>) {
///         match order {
///             Order::Place(n, reply) => {
///                 self.served += 1;
///                 let _ = reply.send(n * 2);
///             }
///             Order::Poison => panic!("a bad order"),
///         }
///     }
/// }
///
/// let system = System::sharing(1).unwrap();
/// let supervisor = system
///     .spawn(Supervisor::new(RestartStrategy::OneForOne, Intensity::default()))
///     .unwrap();
/// let gateway = Supervisor::start_child(&supervisor, Restart::Permanent, || Gateway { served: 0 })
///     .unwrap()
///     .wait_timeout(Duration::from_secs(5))
///     .unwrap()
///     .unwrap();
/// gateway.send(Order::Poison).unwrap();
/// // The same address, rebuilt in place: the order queued behind the poison is served.
/// let mut answer = gateway.ask(|reply| Order::Place(21, reply)).unwrap();
/// assert_eq!(answer.wait_timeout(Duration::from_secs(5)), Ok(42));
/// let stats = Supervisor::stats(&supervisor).unwrap().wait_timeout(Duration::from_secs(5));
/// assert_eq!(stats.unwrap().restarts, 1);
/// ```
pub struct Supervisor {
    strategy: RestartStrategy,
    intensity: Intensity,
    statics: Vec<Arc<dyn StaticChild>>,
    /// In start order.
    children: Vec<Child>,
    /// When the restarts within the window were decided.
    restarts: VecDeque<Instant>,
    /// Siblings killed by the strategy, to restart when their notice comes.
    pending: Vec<ActorId>,
    stats: SupervisorStats,
    /// Shutting down: no restarts; children stopped one by one, the last started
    /// first; the supervisor stops when none is left.
    shutting_down: bool,
    /// The tree's count of ends, when the tree belongs to a `System`.
    pub(crate) tally: Option<Arc<EndTally>>,
}

impl Supervisor {
    /// A supervisor with no children yet.
    pub fn new(strategy: RestartStrategy, intensity: Intensity) -> Self {
        Self {
            strategy,
            intensity,
            statics: Vec::new(),
            children: Vec::new(),
            restarts: VecDeque::with_capacity((intensity.max_restarts as usize).min(RECORDED)),
            pending: Vec::new(),
            stats: SupervisorStats::default(),
            shutting_down: false,
            tally: None,
        }
    }

    /// Adds a static child: started (in the order added) when the supervisor starts,
    /// and started anew whenever the supervisor is restarted. For trees whose shape is
    /// known: a nested supervisor built by a factory gets its children back this way.
    /// If one cannot be started (no memory, or its factory panicked), the supervisor
    /// kills those it started and fails. The [`shutdown`](Supervisor::shutdown) example
    /// builds a tree this way.
    pub fn with_child<A: Actor>(
        mut self,
        restart: Restart,
        factory: impl Fn() -> A + Send + Sync + 'static,
    ) -> Self {
        self.statics.push(Arc::new(Spec {
            restart,
            factory: Arc::new(factory) as Factory<A>,
        }));
        self
    }

    /// Asks `supervisor` to start a child made by `factory`, supervised with `restart`:
    /// the future resolves with the child's address (or why it could not start).
    ///
    /// # Errors
    ///
    /// [`AskError`] when the request could not be delivered to the supervisor.
    pub fn start_child<A: Actor>(
        supervisor: &Address<Supervisor>,
        restart: Restart,
        factory: impl Fn() -> A + Send + Sync + 'static,
    ) -> Result<Future<Result<Address<A>, StartError>>, AskError<SupervisorMsg>> {
        let factory: Factory<A> = Arc::new(factory);
        supervisor.ask(move |reply: Reply<Result<Address<A>, StartError>>| {
            SupervisorMsg(Inner::Start(Box::new(move |this, ctx| {
                let _ = reply.send(this.spawn_child(ctx, restart, factory));
            })))
        })
    }

    /// Asks `supervisor` what it has done.
    ///
    /// # Errors
    ///
    /// As for [`start_child`](Supervisor::start_child).
    pub fn stats(
        supervisor: &Address<Supervisor>,
    ) -> Result<Future<SupervisorStats>, AskError<SupervisorMsg>> {
        supervisor.ask(|reply| SupervisorMsg(Inner::Stats(reply)))
    }

    /// Asks `supervisor` to shut its tree down in order: no more restarts; its children
    /// stopped one at a time, the last started first (a child supervisor shut down the
    /// same way, so that every child ends before its parent's `on_stop`); then the
    /// supervisor stops. Wait for it with [`Address::stopped`].
    ///
    /// # Errors
    ///
    /// [`SendError`](crate::SendError) with the message, when the supervisor has ended
    /// or cannot take it (no memory for it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use zeta::{Actor, Context, Intensity, Restart, RestartStrategy, StopReason, Supervisor, System};
    ///
    /// /// Says when it stops.
    /// struct Part(&'static str, mpsc::Sender<&'static str>);
    /// impl Actor for Part {
    ///     type Message = ();
    ///     fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {}
    ///     fn on_stop(&mut self, _reason: StopReason) {
    ///         self.1.send(self.0).unwrap();
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let (log, stops) = mpsc::channel();
    /// let (first, second) = (log.clone(), log);
    /// let tree = Supervisor::new(RestartStrategy::OneForOne, Intensity::default())
    ///     .with_child(Restart::Permanent, move || Part("first", first.clone()))
    ///     .with_child(Restart::Permanent, move || Part("second", second.clone()));
    /// let root = system.spawn_supervisor(tree).unwrap(); // starts both children
    /// system.scheduler().run_until_idle().unwrap();
    /// let mut ended = root.stopped().unwrap();
    /// Supervisor::shutdown(&root).unwrap();
    /// system.scheduler().run_until_idle().unwrap();
    /// assert_eq!(ended.try_take(), Some(Ok(StopReason::Stopped)));
    /// assert_eq!(stops.try_iter().collect::<Vec<_>>(), ["second", "first"]); // last first
    /// ```
    pub fn shutdown(
        supervisor: &Address<Supervisor>,
    ) -> Result<(), crate::error::SendError<SupervisorMsg>> {
        supervisor.send_high(SupervisorMsg(Inner::Shutdown))
    }

    /// Stops the next child of an orderly shutdown, or the supervisor when none is left.
    fn shutdown_next(&mut self, ctx: &mut Context<'_, Supervisor>) {
        match self.children.last() {
            // SAFETY: `shutdown` is the child's type's.
            Some(child) => unsafe { (child.shutdown)(&child.job) },
            None => ctx.stop(),
        }
    }

    /// Spawns a child next to the supervisor, supervised.
    fn spawn_child<A: Actor>(
        &mut self,
        ctx: &Context<'_, Supervisor>,
        restart: Restart,
        factory: Factory<A>,
    ) -> Result<Address<A>, StartError> {
        let make = Arc::clone(&factory);
        let mut actor = catch_unwind(AssertUnwindSafe(move || make())).map_err(|payload| {
            StartError::FactoryPanicked(crate::actor::PanicMessage::from_payload(&*payload))
        })?;
        inherit(&mut actor, &self.tally);
        let child = spawn_with(
            actor,
            ctx.resource().clone(),
            ctx.scheduler().clone(),
            true,
            0,
            ctx.child_birth(),
        )
        .map_err(|_| StartError::OutOfMemory)?;
        // SAFETY: `child` is fresh: its only reference is ours, and it has never run.
        if unsafe { restart::attach(child.cell(), factory, ctx.address()) }.is_err() {
            let _ = child.kill();
            return Err(StartError::OutOfMemory);
        }
        let Ok(monitor) = ctx.monitor(&child) else {
            let _ = child.kill();
            return Err(StartError::OutOfMemory);
        };
        // Started at once, so that its `on_start` runs (a nested supervisor starts its
        // own children there): the run right of the idle child is claimed from here.
        // Err: the scheduler has stopped; the child ends when it is next touched.
        let _ = ctx.scheduler().schedule(child.job().clone());
        self.pending.reserve(1);
        self.children.push(Child {
            id: child.id(),
            job: child.job().clone(),
            restart,
            kill: kill::<A>,
            shutdown: shutdown::<A>,
            _monitor: monitor,
        });
        Ok(child)
    }

    /// Whether one more restart is within the intensity; if so, counts it.
    fn allow_restart(&mut self) -> bool {
        let now = Instant::now();
        while let Some(&first) = self.restarts.front() {
            if now.duration_since(first) > self.intensity.within {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        if self.restarts.len() >= self.intensity.max_restarts as usize {
            return false;
        }
        self.restarts.push_back(now);
        true
    }

    /// Kills every child, the last started first.
    fn kill_children(&mut self) {
        for child in self.children.iter().rev() {
            // SAFETY: `kill` is the child's type's.
            unsafe { (child.kill)(&child.job) };
        }
    }

    fn on_parked(&mut self, token: Parked, ctx: &Context<'_, Supervisor>) {
        if self.shutting_down {
            // No restarts any more: it ends, and its `Down` moves the shutdown on.
            token.stop();
            return;
        }
        let id = token.id();
        let Some(index) = self.children.iter().position(|child| child.id == id) else {
            // A child of an earlier instance of this supervisor: it ends.
            token.stop();
            return;
        };
        let policy = self.children[index].restart;
        if let Some(at) = self.pending.iter().position(|&pending| pending == id) {
            // Killed by the strategy: restarted with its sibling, uncounted.
            self.pending.swap_remove(at);
            if policy == Restart::Temporary {
                token.stop();
            } else {
                self.stats.sibling_restarts += 1;
                restart_or_end(token, &self.tally);
            }
            return;
        }
        if !policy.wants(token.reason()) {
            token.stop();
            return;
        }
        if !self.allow_restart() {
            let reason = token.reason().clone();
            token.stop();
            self.kill_children();
            panic!(
                "supervisor {}: more than {} restarts within {:?} (the last: {reason})",
                ctx.id(),
                self.intensity.max_restarts,
                self.intensity.within
            );
        }
        let siblings = match self.strategy {
            RestartStrategy::OneForOne => 0..0,
            RestartStrategy::OneForAll => 0..self.children.len(),
            RestartStrategy::RestForOne => index + 1..self.children.len(),
        };
        for sibling in &self.children[siblings] {
            if sibling.id != id && !self.pending.contains(&sibling.id) {
                self.pending.push(sibling.id);
                // SAFETY: `kill` is the sibling's type's.
                unsafe { (sibling.kill)(&sibling.job) };
            }
        }
        self.stats.restarts += 1;
        restart_or_end(token, &self.tally);
    }
}

/// Restarts the child (a child supervisor gets the tree's tally); if that cannot be
/// done, it ends.
fn restart_or_end(token: Parked, tally: &Option<Arc<EndTally>>) {
    if let Err(token) = token.restart(&mut |actor| inherit(actor, tally)) {
        token.stop();
    }
}

impl Actor for Supervisor {
    type Message = SupervisorMsg;

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        let statics = self.statics.clone();
        for spec in statics {
            if let Err(error) = spec.start(self, ctx) {
                self.kill_children();
                panic!(
                    "supervisor {}: a static child did not start: {error}",
                    ctx.id()
                );
            }
        }
    }

    fn handle(&mut self, message: SupervisorMsg, ctx: &mut Context<'_, Self>) {
        match message.0 {
            Inner::Start(start) => start(self, ctx),
            Inner::Parked(token) => self.on_parked(token, ctx),
            Inner::Stats(reply) => {
                let _ = reply.send(SupervisorStats {
                    children: self.children.len(),
                    ..self.stats
                });
            }
            Inner::Shutdown => {
                self.shutting_down = true;
                self.shutdown_next(ctx);
            }
        }
    }

    fn on_down(&mut self, down: Down, ctx: &mut Context<'_, Self>) {
        let before = self.children.len();
        self.children.retain(|child| child.id != down.id);
        if self.children.len() == before {
            // A child of an earlier instance, or not ours: not counted twice.
            return;
        }
        self.pending.retain(|&id| id != down.id);
        if let Some(tally) = &self.tally {
            tally.count(&down.reason);
        }
        if self.shutting_down {
            self.shutdown_next(ctx);
        }
    }

    fn on_stop(&mut self, _reason: StopReason) {
        self.kill_children();
    }
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("strategy", &self.strategy)
            .field("intensity", &self.intensity)
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}
