//! Hooks: an [`Observer`] that the engine calls at the moments of an actor's life that
//! matter, and a [`SchedulerObserver`] for the schedulers' own (parks, steals, queue
//! depth, timers). With the `tracing` and `metrics` features, ready-made observers
//! turn them into spans, events and metrics ([`Tracing`], [`Metrics`]).
//!
//! # Zero cost unless used
//!
//! All of it is behind the `observe` cargo feature (`tracing` and `metrics` turn it
//! on). Without it, this module does not exist, a cell has no observer field, and the
//! engine's hot paths are the same instructions as before hooks existed: the hook
//! sites are `#[cfg]`ed out, not branched over. BENCHMARKS.md, "Hooks", measures the
//! four states side by side: no feature, the feature with no observer, a no-op
//! observer, and an observer that counts every run.
//!
//! # Protocol
//!
//! - **Where an observer comes from.** It is given to a [`System`](crate::System)
//!   ([`with_observer`](crate::System::with_observer),
//!   [`sharing_observed`](crate::System::sharing_observed),
//!   [`manual_observed`](crate::System::manual_observed)) and copied into each actor's
//!   cell at spawn (one `Arc` clone, at spawn only): actors spawned through the
//!   system, through a [`Context`](crate::Context) (a child inherits its parent's
//!   observer) or by a [`Supervisor`](crate::Supervisor) (its children inherit its
//!   own) are observed; an actor spawned with the free [`spawn`](crate::spawn) is not.
//!   The observer of a cell never changes.
//! - **Interests, read once.** [`Observer::interests`] is read at spawn and kept in the
//!   cell beside the observer. The frequent hooks, [`on_run`](Observer::on_run) (once
//!   per run) and [`on_message`](Observer::on_message) /
//!   [`on_message_done`](Observer::on_message_done) (twice per message), are called
//!   only for the interests declared: the runner reads the byte once per run and
//!   tests it before and after each message and at the end of the run (an idle
//!   observer, or none, costs 9 instructions per message on a ping-pong where each
//!   message is a run: BENCHMARKS.md, "Hooks"). The rare hooks (spawn, start, stop,
//!   panic, restart, down) are always called.
//! - **Where and when.** Every hook runs synchronously on the thread where the moment
//!   happens, with no lock of the engine's held:
//!
//!   | hook | called by | when |
//!   |---|---|---|
//!   | `on_spawn` | the spawner | the cell is built, before anyone can send to it |
//!   | `on_start` | the runner | after `Actor::on_start` returned (each instance of a supervised child) |
//!   | `on_message` / `on_message_done` | the runner | around each message, hooks and continuations included (`MESSAGES`) |
//!   | `on_run` | the runner | at the end of each run, before the actor is given up (`RUNS`) |
//!   | `on_panic` | the runner | a handler or hook panicked; before `on_stop` |
//!   | `on_stop` | whoever ends the actor | after `Actor::on_stop` ran and the actor was dropped, before watchers are told |
//!   | `on_restart` | the supervisor | a supervised child's new instance is in place |
//!   | `on_down` | the watcher's runner | a `Down` reached a monitoring actor |
//!
//!   `on_message_done` is not called for a message whose handler panicked, nor
//!   `on_run` for a run that panicked: `on_panic` is told instead. `on_run` is called
//!   before the run gives the actor up, so it never races the actor's next run or its
//!   end; it is followed by `on_stop` when the run ended the actor.
//! - **Local actors** ([`local`](crate::local)) are told the same hooks, on the
//!   system's thread, by an observer given to their system's builder
//!   ([`LocalSystemBuilder::observer`](crate::local::LocalSystemBuilder::observer)),
//!   which every actor of the system shares.
//! - **Hooks must be quick and must not block**: they sit on the paths they observe.
//!   They should not panic either: a panic in a frequent hook (`on_message`,
//!   `on_message_done`, `on_run`) unwinds like one in the actor's handler (the actor
//!   ends with `StopReason::Panicked`); one in a rare hook is caught and dropped.
//! - **Nothing allocates**: the engine passes [`ActorInfo`] (three words, `Copy`) and
//!   references; what an observer does with them is its own business.

use core::fmt;

pub use zeta_scheduler::observe::SchedulerObserver;

use crate::actor::{PanicMessage, StopReason};
use crate::identity::ActorId;
use crate::supervision::Down;

#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "tracing")]
mod tracing;

#[cfg(feature = "metrics")]
pub use self::metrics::Metrics;
#[cfg(feature = "tracing")]
pub use self::tracing::Tracing;

/// Which actor a hook is about: three words, `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActorInfo {
    /// Its id ([`Address::id`](crate::Address::id)).
    pub id: ActorId,
    /// The name it was spawned with ([`System::spawn_named`](crate::System::spawn_named)),
    /// if any.
    pub name: Option<&'static str>,
    /// Its type's name (`core::any::type_name`).
    pub type_name: &'static str,
}

impl fmt::Debug for ActorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut info = f.debug_struct("ActorInfo");
        info.field("id", &format_args!("{}", self.id));
        if let Some(name) = self.name {
            info.field("name", &name);
        }
        info.field("type_name", &self.type_name).finish()
    }
}

impl fmt::Display for ActorInfo {
    /// The name if it has one, else the type's last path segment; then the id:
    /// `"matcher#12"`, `"Account#7"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = self.name.unwrap_or_else(|| short_type_name(self.type_name));
        write!(f, "{label}#{}", self.id.get())
    }
}

/// `a::b::C<d::E>` → `C<d::E>`: the last segment before any generics.
fn short_type_name(full: &'static str) -> &'static str {
    let head = full.split('<').next().unwrap_or(full);
    match head.rfind("::") {
        Some(at) => &full[at + 2..],
        None => full,
    }
}

/// What one run of an actor did ([`Observer::on_run`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Run {
    /// Messages handled in the run (hooks' and continuations' included).
    pub handled: usize,
    /// Messages taken from the mailbox and not yet handled when the run ended: the
    /// backlog the runner knows of without touching the mailbox (a run that stopped
    /// at `max_throughput` may leave more in the inbox, taken at its next run; a run
    /// that ended with the mailbox empty reports 0).
    pub backlog: usize,
}

/// Which of the frequent hooks an observer wants ([`Observer::interests`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interests(u8);

impl Interests {
    /// Neither: only the rare hooks (spawn, start, stop, panic, restart, down).
    pub const NONE: Self = Self(0);
    /// [`Observer::on_run`], once per run.
    pub const RUNS: Self = Self(1);
    /// [`Observer::on_message`] and [`Observer::on_message_done`], around each message.
    pub const MESSAGES: Self = Self(2);
    /// Both.
    pub const ALL: Self = Self(3);

    /// Both sets.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every interest of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub(crate) const fn bits(self) -> u8 {
        self.0
    }
}

impl fmt::Debug for Interests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            0 => "NONE",
            1 => "RUNS",
            2 => "MESSAGES",
            _ => "ALL",
        })
    }
}

/// What the engine tells of its actors (module doc: where an observer comes from, on
/// which thread each hook runs, and what it must not do).
///
/// Every method has an empty default: implement the ones you need, and say in
/// [`interests`](Observer::interests) which of the frequent ones you want.
///
/// # Examples
///
/// An observer that counts starts and stops, and the messages handled, on a manual
/// scheduler:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use zeta::observe::{ActorInfo, Interests, Observer, Run, SchedulerObserver};
/// use zeta::{Actor, Context, StopReason, System};
///
/// #[derive(Default)]
/// struct Census {
///     started: AtomicU64,
///     stopped: AtomicU64,
///     handled: AtomicU64,
/// }
/// impl Observer for Census {
///     fn interests(&self) -> Interests {
///         Interests::RUNS
///     }
///     fn on_start(&self, _actor: &ActorInfo) {
///         self.started.fetch_add(1, Ordering::Relaxed);
///     }
///     fn on_run(&self, _actor: &ActorInfo, run: Run) {
///         self.handled.fetch_add(run.handled as u64, Ordering::Relaxed);
///     }
///     fn on_stop(&self, actor: &ActorInfo, reason: &StopReason) {
///         assert_eq!(actor.name, Some("counter"));
///         assert_eq!(*reason, StopReason::Stopped);
///         self.stopped.fetch_add(1, Ordering::Relaxed);
///     }
/// }
/// impl SchedulerObserver for Census {}
///
/// struct Counter(u64);
/// impl Actor for Counter {
///     type Message = u64;
///     fn handle(&mut self, n: u64, _ctx: &mut Context<'_, Self>) {
///         self.0 += n;
///     }
/// }
///
/// let census = Arc::new(Census::default());
/// let system = System::manual_observed(64, census.clone()).unwrap();
/// let counter = system.spawn_named("counter", Counter(0)).unwrap();
/// for n in 0..10 {
///     counter.send(n).unwrap();
/// }
/// counter.stop().unwrap();
/// system.scheduler().run_until_idle().unwrap();
/// assert_eq!(census.started.load(Ordering::Relaxed), 1);
/// assert_eq!(census.handled.load(Ordering::Relaxed), 10);
/// assert_eq!(census.stopped.load(Ordering::Relaxed), 1);
/// ```
pub trait Observer: Send + Sync + 'static {
    /// Which frequent hooks to call, read once per actor at its spawn. Default:
    /// [`Interests::ALL`].
    fn interests(&self) -> Interests {
        Interests::ALL
    }

    /// An actor was spawned (its cell is built; it has not run).
    fn on_spawn(&self, actor: &ActorInfo) {
        let _ = actor;
    }

    /// An actor's `on_start` returned: it is about to handle its first message.
    fn on_start(&self, actor: &ActorInfo) {
        let _ = actor;
    }

    /// An actor is about to handle a message ([`Interests::MESSAGES`]).
    fn on_message(&self, actor: &ActorInfo) {
        let _ = actor;
    }

    /// An actor handled a message ([`Interests::MESSAGES`]); not called when the
    /// handler panicked.
    fn on_message_done(&self, actor: &ActorInfo) {
        let _ = actor;
    }

    /// A run of an actor ended ([`Interests::RUNS`]).
    fn on_run(&self, actor: &ActorInfo, run: Run) {
        let _ = (actor, run);
    }

    /// An actor's handler, hook or continuation panicked (`on_stop` follows, or, for
    /// a supervised child, its supervisor's decision).
    fn on_panic(&self, actor: &ActorInfo, panic: &PanicMessage) {
        let _ = (actor, panic);
    }

    /// An actor (or an instance of a supervised child) ended, for `reason`.
    fn on_stop(&self, actor: &ActorInfo, reason: &StopReason) {
        let _ = (actor, reason);
    }

    /// A supervised child was restarted in place: a new instance, the same address.
    fn on_restart(&self, actor: &ActorInfo) {
        let _ = actor;
    }

    /// A monitoring (or trapping linked) actor received `down`.
    fn on_down(&self, actor: &ActorInfo, down: &Down) {
        let _ = (actor, down);
    }
}

/// Two observers, both told everything (each only its interests' frequent hooks);
/// e.g. `(Tracing::new(), Metrics::new())`.
impl<A: Observer, B: Observer> Observer for (A, B) {
    fn interests(&self) -> Interests {
        self.0.interests().union(self.1.interests())
    }
    fn on_spawn(&self, actor: &ActorInfo) {
        self.0.on_spawn(actor);
        self.1.on_spawn(actor);
    }
    fn on_start(&self, actor: &ActorInfo) {
        self.0.on_start(actor);
        self.1.on_start(actor);
    }
    fn on_message(&self, actor: &ActorInfo) {
        if self.0.interests().contains(Interests::MESSAGES) {
            self.0.on_message(actor);
        }
        if self.1.interests().contains(Interests::MESSAGES) {
            self.1.on_message(actor);
        }
    }
    fn on_message_done(&self, actor: &ActorInfo) {
        if self.1.interests().contains(Interests::MESSAGES) {
            self.1.on_message_done(actor);
        }
        if self.0.interests().contains(Interests::MESSAGES) {
            self.0.on_message_done(actor);
        }
    }
    fn on_run(&self, actor: &ActorInfo, run: Run) {
        if self.0.interests().contains(Interests::RUNS) {
            self.0.on_run(actor, run);
        }
        if self.1.interests().contains(Interests::RUNS) {
            self.1.on_run(actor, run);
        }
    }
    fn on_panic(&self, actor: &ActorInfo, panic: &PanicMessage) {
        self.0.on_panic(actor, panic);
        self.1.on_panic(actor, panic);
    }
    fn on_stop(&self, actor: &ActorInfo, reason: &StopReason) {
        self.0.on_stop(actor, reason);
        self.1.on_stop(actor, reason);
    }
    fn on_restart(&self, actor: &ActorInfo) {
        self.0.on_restart(actor);
        self.1.on_restart(actor);
    }
    fn on_down(&self, actor: &ActorInfo, down: &Down) {
        self.0.on_down(actor, down);
        self.1.on_down(actor, down);
    }
}

/// An observer that does nothing and wants no frequent hook: what the hooks cost when
/// an observer is installed but idle (BENCHMARKS.md, "Hooks").
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopObserver;

impl Observer for NoopObserver {
    fn interests(&self) -> Interests {
        Interests::NONE
    }
}

impl SchedulerObserver for NoopObserver {}

/// What a cell keeps of its observer: the observer and its interests, read at spawn.
#[derive(Clone, Default)]
pub(crate) struct Observed {
    observer: Option<std::sync::Arc<dyn Observer>>,
    interests: u8,
}

impl Observed {
    pub(crate) fn new(observer: Option<std::sync::Arc<dyn Observer>>) -> Self {
        let interests = observer.as_ref().map_or(0, |o| o.interests().bits());
        Self {
            observer,
            interests,
        }
    }

    /// The observer, if any.
    #[inline]
    pub(crate) fn get(&self) -> Option<&dyn Observer> {
        self.observer.as_deref()
    }

    /// The interests' bits (0 without an observer).
    #[inline(always)]
    pub(crate) fn interests(&self) -> u8 {
        self.interests
    }
}
