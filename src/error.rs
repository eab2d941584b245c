//! What can go wrong when sending, asking, spawning and waiting.

use core::fmt;

/// Why a message was not delivered.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zeta::{Actor, Context, System, Undelivered};
///
/// struct Nop;
/// impl Actor for Nop {
///     type Message = u32;
///     fn handle(&mut self, _: u32, _ctx: &mut Context<'_, Self>) {}
/// }
///
/// let system = System::manual(64).unwrap();
/// let bounded = system.spawn_bounded(Nop, 1).unwrap();
/// bounded.send(1).unwrap();
/// assert_eq!(bounded.send(2).unwrap_err().reason(), Undelivered::Full);
///
/// let nop = system.spawn(Nop).unwrap();
/// let never = nop.send_interval(Duration::ZERO, || 0).unwrap_err();
/// assert_eq!(never.reason(), Undelivered::BadTime);
/// nop.stop().unwrap();
/// assert_eq!(nop.send(3).unwrap_err().reason(), Undelivered::ActorStopped);
///
/// let idle = system.spawn(Nop).unwrap();
/// system.stop().unwrap();
/// assert_eq!(idle.send(4).unwrap_err().reason(), Undelivered::SchedulerStopped);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Undelivered {
    /// The actor has stopped (or was never able to start): its inbox is closed.
    ActorStopped,
    /// The actor's scheduler has stopped, so the actor will never run again.
    SchedulerStopped,
    /// The actor's memory resource could not allocate the message node.
    OutOfMemory,
    /// A timer was asked of a scheduler that keeps no time
    /// ([`Scheduler::timers`](zeta_scheduler::Scheduler::timers) is `None`).
    NoTimers,
    /// A timer's period is zero, or its deadline is beyond what the clock can hold.
    BadTime,
    /// The actor's mailbox is bounded and full: [`Address::try_send`], a plain send
    /// from outside an actor, or a [`send_timeout`] whose deadline passed
    /// ([`bounded`](crate::spawn_bounded) mailboxes).
    ///
    /// [`Address::try_send`]: crate::Address::try_send
    /// [`send_timeout`]: crate::Address::send_timeout
    Full,
    /// A blocking send ([`send_blocking`](crate::Address::send_blocking)) to a full
    /// mailbox was refused because the thread is running an actor: a handler that
    /// blocks its worker can deadlock the scheduler (as [`RequestError::WouldBlock`]).
    WouldBlock,
}

impl fmt::Display for Undelivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ActorStopped => "the actor has stopped",
            Self::SchedulerStopped => "the actor's scheduler has stopped",
            Self::OutOfMemory => "the actor's memory resource is out of memory",
            Self::NoTimers => "the actor's scheduler keeps no time: timers cannot be armed",
            Self::BadTime => "the timer's period is zero or its deadline out of the clock's range",
            Self::Full => "the actor's mailbox is full",
            Self::WouldBlock => "refused to block inside an actor's handler",
        })
    }
}

/// A message that could not be delivered, given back with the reason.
///
/// # Examples
///
/// ```
/// # use zeta::{Actor, Context, System, Undelivered};
/// # struct Echo;
/// # impl Actor for Echo {
/// #     type Message = String;
/// #     fn handle(&mut self, _: String, ctx: &mut Context<'_, Self>) { ctx.stop() }
/// # }
/// let system = System::manual(64).unwrap();
/// let echo = system.spawn(Echo).unwrap();
/// echo.kill().unwrap();
/// system.scheduler().run_until_idle().unwrap();
/// let error = echo.send(String::from("hello?")).unwrap_err();
/// assert_eq!(error.reason(), Undelivered::ActorStopped);
/// assert_eq!(error.into_message(), "hello?"); // nothing is lost
/// ```
pub struct SendError<M> {
    message: M,
    reason: Undelivered,
}

impl<M> SendError<M> {
    pub(crate) fn new(message: M, reason: Undelivered) -> Self {
        Self { message, reason }
    }

    /// Why it was not delivered.
    pub fn reason(&self) -> Undelivered {
        self.reason
    }

    /// The message.
    pub fn message(&self) -> &M {
        &self.message
    }

    /// Takes the message back.
    pub fn into_message(self) -> M {
        self.message
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<M> fmt::Display for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message not delivered: {}", self.reason)
    }
}

impl<M> std::error::Error for SendError<M> {}

/// An `ask` that could not be sent.
///
/// # Examples
///
/// ```
/// use zeta::{Actor, AskError, Context, Reply, System, Undelivered};
///
/// struct Echo;
/// impl Actor for Echo {
///     type Message = (u32, Reply<u32>);
///     fn handle(&mut self, (n, reply): (u32, Reply<u32>), _ctx: &mut Context<'_, Self>) {
///         let _ = reply.send(n);
///     }
/// }
///
/// let system = System::manual(64).unwrap();
/// let echo = system.spawn(Echo).unwrap();
/// echo.stop().unwrap();
/// match echo.ask(|reply| (7, reply)) {
///     Err(AskError::Undelivered(error)) => {
///         assert_eq!(error.reason(), Undelivered::ActorStopped);
///         let (n, _reply) = error.into_message(); // its `Reply` answers nobody
///         assert_eq!(n, 7);
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
pub enum AskError<M> {
    /// The request was built but not delivered; the message (with its `Reply` inside,
    /// now answering nobody) comes back.
    Undelivered(SendError<M>),
    /// The actor's memory resource could not allocate the request node; the message was
    /// never built.
    OutOfMemory,
    /// A request with a timeout ([`Context::ask_timeout`](crate::Context::ask_timeout))
    /// on a scheduler that keeps no time; the message was never built.
    NoTimers,
}

impl<M> AskError<M> {
    /// Why the request was not delivered.
    pub fn reason(&self) -> Undelivered {
        match self {
            Self::Undelivered(error) => error.reason(),
            Self::OutOfMemory => Undelivered::OutOfMemory,
            Self::NoTimers => Undelivered::NoTimers,
        }
    }
}

impl<M> fmt::Debug for AskError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Undelivered(error) => f.debug_tuple("Undelivered").field(error).finish(),
            Self::OutOfMemory => f.write_str("OutOfMemory"),
            Self::NoTimers => f.write_str("NoTimers"),
        }
    }
}

impl<M> fmt::Display for AskError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request not delivered: {}", self.reason())
    }
}

impl<M> std::error::Error for AskError<M> {}

/// A stop or kill request that could not be delivered.
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Context, System, Undelivered};
///
/// struct Nop;
/// impl Actor for Nop {
///     type Message = ();
///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
/// }
///
/// let system = System::manual(64).unwrap();
/// let nop = system.spawn(Nop).unwrap();
/// nop.stop().unwrap();
/// nop.stop().unwrap(); // already stopping: nothing more to do
/// system.scheduler().run_until_idle().unwrap(); // it ends
/// assert_eq!(nop.stop().unwrap_err().reason(), Undelivered::ActorStopped);
///
/// let idle = system.spawn(Nop).unwrap();
/// system.stop().unwrap();
/// assert_eq!(idle.kill().unwrap_err().reason(), Undelivered::SchedulerStopped);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ControlError {
    reason: Undelivered,
}

impl ControlError {
    pub(crate) fn new(reason: Undelivered) -> Self {
        Self { reason }
    }

    /// Why: the actor had already stopped, its scheduler had stopped (it is stopped
    /// now), or there was no memory for the control message.
    pub fn reason(&self) -> Undelivered {
        self.reason
    }
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "control message not delivered: {}", self.reason)
    }
}

impl std::error::Error for ControlError {}

/// The actor could not be spawned: its memory resource has no room for it, or the
/// configuration asked for is invalid ([`SpawnFailure`]). The actor comes back.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use zeta::arena::NullResource;
/// use zeta::{Actor, Context, SpawnFailure, System};
///
/// struct Named(String);
/// impl Actor for Named {
///     type Message = ();
///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
/// }
///
/// let system = System::manual(64).unwrap();
/// let refused = system.spawn_in(Arc::new(NullResource), Named("kept".into())).unwrap_err();
/// assert_eq!(refused.reason(), SpawnFailure::OutOfMemory);
/// let actor = refused.into_actor(); // nothing is lost
///
/// let refused = system.spawn_bounded(actor, 0).unwrap_err();
/// assert_eq!(refused.reason(), SpawnFailure::InvalidCapacity);
/// assert_eq!(refused.into_actor().0, "kept");
/// ```
pub struct SpawnError<A> {
    actor: A,
    reason: SpawnFailure,
}

/// Why an actor could not be spawned ([`SpawnError::reason`]; the [`SpawnError`]
/// example meets both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpawnFailure {
    /// The memory resource has no room for the actor.
    OutOfMemory,
    /// A bounded mailbox's capacity must be at least 1 and at most `u32::MAX`.
    InvalidCapacity,
}

impl<A> SpawnError<A> {
    pub(crate) fn new(actor: A) -> Self {
        Self {
            actor,
            reason: SpawnFailure::OutOfMemory,
        }
    }

    pub(crate) fn invalid_capacity(actor: A) -> Self {
        Self {
            actor,
            reason: SpawnFailure::InvalidCapacity,
        }
    }

    /// Why the actor was not spawned.
    pub fn reason(&self) -> SpawnFailure {
        self.reason
    }

    /// Takes the actor back.
    pub fn into_actor(self) -> A {
        self.actor
    }
}

impl<A> fmt::Debug for SpawnError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpawnError({:?})", self.reason)
    }
}

impl<A> fmt::Display for SpawnError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.reason {
            SpawnFailure::OutOfMemory => {
                "could not spawn the actor: its memory resource is out of memory"
            }
            SpawnFailure::InvalidCapacity => {
                "could not spawn the actor: a mailbox capacity must be between 1 and u32::MAX"
            }
        })
    }
}

impl<A> std::error::Error for SpawnError<A> {}

/// A request that resolved without a value.
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Address, Context, Reply, RequestError, System};
///
/// struct Oracle;
/// enum Question {
///     Dropped(Reply<u32>),
///     Panicked(Reply<u32>),
/// }
/// impl Actor for Oracle {
///     type Message = Question;
///     fn handle(&mut self, question: Question, _ctx: &mut Context<'_, Self>) {
///         match question {
///             Question::Dropped(reply) => drop(reply),
///             Question::Panicked(_reply) => panic!("no answer"),
///         }
///     }
/// }
///
/// /// Waits for an answer inside a handler: refused, as a blocked worker can
/// /// deadlock its scheduler.
/// struct Impatient(Address<Oracle>);
/// impl Actor for Impatient {
///     type Message = Reply<Result<u32, RequestError>>;
///     fn handle(&mut self, reply: Self::Message, _ctx: &mut Context<'_, Self>) {
///         let asked = self.0.ask(Question::Dropped).unwrap();
///         let _ = reply.send(asked.wait());
///     }
/// }
///
/// let system = System::manual(64).unwrap();
/// let oracle = system.spawn(Oracle).unwrap();
/// let impatient = system.spawn(Impatient(oracle.clone())).unwrap();
/// let mut dropped = oracle.ask(Question::Dropped).unwrap();
/// let mut refused = impatient.ask(|reply| reply).unwrap();
/// system.scheduler().run_until_idle().unwrap();
/// assert_eq!(dropped.try_take(), Some(Err(RequestError::NoReply)));
/// assert_eq!(refused.try_take(), Some(Ok(Err(RequestError::WouldBlock))));
///
/// let mut panicked = oracle.ask(Question::Panicked).unwrap();
/// system.scheduler().run_until_idle().unwrap();
/// assert_eq!(panicked.try_take(), Some(Err(RequestError::HandlerPanicked)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestError {
    /// It will never be answered: the handler dropped its `Reply`, or the actor stopped,
    /// was killed or failed before handling it, or its scheduler stopped. Also returned
    /// when the value was already taken.
    NoReply,
    /// It will never be answered: the handler that held it panicked (the `Reply` was
    /// dropped by the unwinding). A supervised actor is rebuilt, and the requests
    /// queued behind this one are answered by the new instance.
    HandlerPanicked,
    /// The wait timed out; the request is still pending (the future stays usable).
    Timeout,
    /// Blocking to wait was refused because the thread is running an actor: a handler
    /// that blocks its worker can deadlock the scheduler. Poll, or use
    /// [`Context::waker`](crate::Context::waker), instead.
    WouldBlock,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoReply => "the request will never be answered",
            Self::HandlerPanicked => "the request will never be answered: its handler panicked",
            Self::Timeout => "timed out waiting for the reply",
            Self::WouldBlock => "refused to block inside an actor's handler",
        })
    }
}

impl std::error::Error for RequestError {}
