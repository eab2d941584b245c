//! The [`Actor`] trait and why an actor stops ([`StopReason`]).

use core::any::Any;
use core::fmt;
use std::sync::Arc;

use crate::context::Context;
use crate::identity::ActorId;
use crate::supervision::Down;

/// A user struct plus its message type: the unit the engine schedules.
///
/// The message type is usually an enum, and [`handle`](Actor::handle) a `match` on it:
/// the Rust form of a dispatch table, checked at compile time, so sending a message of
/// the wrong type does not compile. Handlers get `&mut self` (an actor is only ever run
/// by one thread at a time), the message by value, and a [`Context`].
///
/// # Lifecycle
///
/// 1. [`spawn`](crate::spawn) places the actor in a memory resource; nothing runs yet.
/// 2. [`on_start`](Actor::on_start) runs at the first resume, before the first message.
/// 3. [`handle`](Actor::handle) runs once per message, high priority first.
/// 4. [`on_stop`](Actor::on_stop) runs exactly once if `on_start` ran, with the
///    [`StopReason`], and then the actor is dropped. Messages it never handled are
///    dropped too: the requests among them resolve with an error.
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Context, Reply};
///
/// struct Counter {
///     total: u64,
/// }
///
/// enum CounterMsg {
///     Add(u64),
///     Total(Reply<u64>),
/// }
///
/// impl Actor for Counter {
///     type Message = CounterMsg;
///
///     fn handle(&mut self, message: CounterMsg, _ctx: &mut Context<'_, Self>) {
///         match message {
///             CounterMsg::Add(n) => self.total += n,
///             CounterMsg::Total(reply) => {
///                 let _ = reply.send(self.total); // Err only if the asker has gone
///             }
///         }
///     }
/// }
/// ```
pub trait Actor: Send + Sized + 'static {
    /// What the actor receives.
    type Message: Send + 'static;

    /// Handles one message.
    ///
    /// A panic here is caught by the scheduler: the actor stops with
    /// [`StopReason::Panicked`] (with the panic's message), its queued requests resolve with an error, and the
    /// worker thread lives on.
    fn handle(&mut self, message: Self::Message, ctx: &mut Context<'_, Self>);

    /// Runs at the first resume, before the first message.
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        let _ = ctx;
    }

    /// Runs when a waker from [`Context::waker`] is woken (for example by a
    /// [`Future`](crate::Future) the actor polls).
    fn on_wake(&mut self, ctx: &mut Context<'_, Self>) {
        let _ = ctx;
    }

    /// Runs when an actor this one monitors has ended ([`Address::monitor`],
    /// [`Context::monitor`]): once per monitor, with who ended and why. Also for a
    /// linked actor's end ([`Address::link`]), unless that end was a failure and this
    /// actor does not trap exits: then this actor stops, with [`StopReason::Linked`],
    /// instead. The default does nothing.
    ///
    /// [`Address::link`]: crate::Address::link
    ///
    /// [`Address::monitor`]: crate::Address::monitor
    fn on_down(&mut self, down: Down, ctx: &mut Context<'_, Self>) {
        let _ = (down, ctx);
    }

    /// Runs once when the actor ends, if [`on_start`](Actor::on_start) ran; the actor is
    /// dropped right after.
    ///
    /// It may run on a scheduler's worker, on the thread that stops the scheduler, or on
    /// the thread that drops the actor's last [`Address`](crate::Address)
    /// ([`StopReason::Dropped`]). A panic here is caught and ignored.
    fn on_stop(&mut self, reason: StopReason) {
        let _ = reason;
    }
}

/// Why an actor stopped.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use zeta::{Actor, Context, StopReason, System};
///
/// struct Fragile(Arc<Mutex<Option<StopReason>>>);
/// impl Actor for Fragile {
///     type Message = u32;
///     fn handle(&mut self, n: u32, _ctx: &mut Context<'_, Self>) {
///         assert!(n < 10, "{n} is too big");
///     }
///     fn on_stop(&mut self, reason: StopReason) {
///         *self.0.lock().unwrap() = Some(reason);
///     }
/// }
///
/// let seen = Arc::new(Mutex::new(None));
/// let system = System::manual(64).unwrap();
/// let fragile = system.spawn(Fragile(seen.clone())).unwrap();
/// fragile.send(1).unwrap();
/// fragile.send(12).unwrap();
/// system.scheduler().run_until_idle().unwrap();
/// let reason = seen.lock().unwrap().take().unwrap();
/// assert!(reason.is_failure());
/// match reason {
///     StopReason::Panicked(message) => assert_eq!(message.as_str(), Some("12 is too big")),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopReason {
    /// A graceful stop: [`Address::stop`](crate::Address::stop) (after every message
    /// queued before it) or [`Context::stop`] (after the current message).
    Stopped,
    /// [`Address::kill`](crate::Address::kill): before any further message.
    Killed,
    /// A handler or hook panicked, with this message.
    Panicked(PanicMessage),
    /// Its scheduler stopped (or refused to run it).
    SchedulerStopped,
    /// Every [`Address`](crate::Address) and pending request is gone while it was idle.
    Dropped,
    /// An actor linked to this one ([`Address::link`](crate::Address::link)) failed
    /// (panicked, or was itself taken down by a link), and this one does not trap
    /// exits ([`Context::trap_exits`]).
    Linked(ActorId),
    /// The actor was on another node, and that node was lost: it closed, its process
    /// ended, or the link to it broke for longer than its lease. Only the stand-ins of
    /// remote actors (the `zeta-remote` crate) end with it; like a panic, it is a
    /// failure, which links pass on.
    NodeLost,
}

impl StopReason {
    /// Whether the actor failed: it panicked, or a linked actor's failure took it
    /// down. Not for a stop, a kill (a deliberate end), its scheduler's stop or the
    /// last address's drop. A failure is what links pass on.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            StopReason::Panicked(_) | StopReason::Linked(_) | StopReason::NodeLost
        )
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Stopped => f.write_str("stopped"),
            StopReason::Killed => f.write_str("killed"),
            StopReason::Panicked(message) => write!(f, "panicked: {message}"),
            StopReason::SchedulerStopped => f.write_str("its scheduler stopped"),
            StopReason::Dropped => f.write_str("every address was dropped"),
            StopReason::Linked(id) => write!(f, "the linked actor {id} failed"),
            StopReason::NodeLost => f.write_str("its node was lost"),
        }
    }
}

/// What a panic said: its message when the payload was a string (as `panic!` with a
/// message makes it), else nothing.
///
/// Taking it from the payload allocates only for a formatted message (a `String`
/// payload, whose text is copied into a shared `Arc<str>`); a literal's `&'static str`
/// is kept as it is. A failure path may allocate; every notice of the stop (`on_stop`
/// and those built on it) shares the one message.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zeta::{Actor, Context, StopReason, System};
///
/// struct Gauge;
/// impl Actor for Gauge {
///     type Message = u32;
///     fn handle(&mut self, level: u32, _ctx: &mut Context<'_, Self>) {
///         assert!(level <= 100, "level {level} is out of range");
///     }
/// }
///
/// let system = System::sharing(1).unwrap();
/// let gauge = system.spawn(Gauge).unwrap();
/// let mut ended = gauge.stopped().unwrap();
/// gauge.send(120).unwrap();
/// match ended.wait_timeout(Duration::from_secs(5)) {
///     Ok(StopReason::Panicked(message)) => {
///         assert_eq!(message.as_str(), Some("level 120 is out of range"));
///         assert_eq!(message.to_string(), "level 120 is out of range");
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone)]
pub struct PanicMessage(Text);

/// Equal when the texts are: a message built from a literal equals the same text
/// formatted at run time (`"x".into()` and `String::from("x").into()`); two messages
/// without a text are equal.
impl PartialEq for PanicMessage {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for PanicMessage {}

impl core::hash::Hash for PanicMessage {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

#[derive(Clone)]
enum Text {
    Static(&'static str),
    Shared(Arc<str>),
    Opaque,
}

impl PanicMessage {
    /// The message of the panic whose payload is `payload`.
    pub(crate) fn from_payload(payload: &(dyn Any + Send)) -> Self {
        if let Some(text) = payload.downcast_ref::<&'static str>() {
            Self(Text::Static(text))
        } else if let Some(text) = payload.downcast_ref::<String>() {
            Self(Text::Shared(Arc::from(text.as_str())))
        } else {
            Self(Text::Opaque)
        }
    }

    /// A message whose text is not known.
    pub(crate) fn opaque() -> Self {
        Self(Text::Opaque)
    }

    /// The message, if the payload was a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.0 {
            Text::Static(text) => Some(text),
            Text::Shared(text) => Some(text),
            Text::Opaque => None,
        }
    }
}

impl From<&'static str> for PanicMessage {
    /// A message, e.g. to compare with one an actor stopped with.
    fn from(text: &'static str) -> Self {
        Self(Text::Static(text))
    }
}

impl From<String> for PanicMessage {
    fn from(text: String) -> Self {
        Self(Text::Shared(Arc::from(text)))
    }
}

impl fmt::Debug for PanicMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(text) => fmt::Debug::fmt(text, f),
            None => f.write_str("<not a string>"),
        }
    }
}

impl fmt::Display for PanicMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str().unwrap_or("<a payload that is not a string>"))
    }
}
