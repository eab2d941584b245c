//! The [`Actor`] trait and why an actor stops ([`StopReason`]).

use crate::context::Context;

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
    /// [`StopReason::Panicked`], its queued requests resolve with an error, and the
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopReason {
    /// A graceful stop: [`Address::stop`](crate::Address::stop) (after every message
    /// queued before it) or [`Context::stop`] (after the current message).
    Stopped,
    /// [`Address::kill`](crate::Address::kill): before any further message.
    Killed,
    /// A handler or hook panicked.
    Panicked,
    /// Its scheduler stopped (or refused to run it).
    SchedulerStopped,
    /// Every [`Address`](crate::Address) and pending request is gone while it was idle.
    Dropped,
}
