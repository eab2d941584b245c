//! zeta: a zero-allocation cooperative actor scheduler engine.
//!
//! Actors live in memory the user chooses (a pool, an arena, the global allocator),
//! behind an intrusive refcount. They receive high- and normal-priority messages through
//! lock-free LIFO inboxes; a scheduler resumes each for at most `max_throughput` messages
//! at a time. Enqueueing tells the caller when the actor must be scheduled, and
//! scheduling is an explicit call on a [`Scheduler`] anyone can implement. Requests
//! return futures that resolve with the reply or with an error, never hang.
//!
//! # A tour
//!
//! - [`Actor`]: a struct plus its message type; `handle` gets `&mut self`, the message
//!   by value and a [`Context`].
//! - [`spawn`] / [`System::spawn`]: place an actor in a memory resource; get an
//!   [`Address`], a one-word, `Send + Sync` handle.
//! - [`Address::send`], [`Address::send_high`]: enqueue and schedule;
//!   [`Address::enqueue`]: enqueue and let the caller schedule.
//! - [`Address::ask`]: a request whose reply slot lives in the message's own node; the
//!   [`Future`] waits (spin, backoff or park), times out, cancels, or is `.await`ed.
//! - [`Context::ask`]: a request from inside an actor whose answer comes back as a
//!   message to the asker, handled by a closure with `&mut` the actor: no future to
//!   poll.
//! - [`Address::stop`] (graceful) and [`Address::kill`] (now); [`Actor::on_start`] and
//!   [`Actor::on_stop`].
//! - [`Balancer`] and [`Broadcast`]: routers that forward without an inbox of their own.
//! - [`spawn_bounded`] / [`System::spawn_bounded`]: a mailbox with a capacity;
//!   [`Address::try_send`], [`Address::send_blocking`] and [`Address::send_async`] choose
//!   what a send to a full one does (a handler's plain send is never refused or blocked).
//!
//! The layers underneath are re-exported: [`arena`] (memory resources), [`mailbox`]
//! (message nodes and the inbox), [`scheduler`] (jobs and schedulers). The runtime's
//! guarantees (ordering, priorities, what happens at stop, kill and panic, what
//! allocates) are written down in `docs/runtime-semantics.md`.
//!
//! # Example
//!
//! ```
//! use zeta::{Actor, Context, Reply, System};
//!
//! struct Account {
//!     balance: i64,
//! }
//!
//! enum Op {
//!     Deposit(i64),
//!     Balance(Reply<i64>),
//! }
//!
//! impl Actor for Account {
//!     type Message = Op;
//!     fn handle(&mut self, op: Op, _ctx: &mut Context<'_, Self>) {
//!         match op {
//!             Op::Deposit(amount) => self.balance += amount,
//!             Op::Balance(reply) => drop(reply.send(self.balance)),
//!         }
//!     }
//! }
//!
//! let system = System::sharing(2).unwrap();
//! let account = system.spawn(Account { balance: 0 }).unwrap();
//! for _ in 0..10 {
//!     account.send(Op::Deposit(5)).unwrap();
//! }
//! // Per-sender FIFO: the deposits are handled before the question.
//! assert_eq!(account.ask(Op::Balance).unwrap().wait(), Ok(50));
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

mod actor;
mod address;
mod bounded;
mod cell;
mod context;
mod continuation;
mod error;
mod future;
mod identity;
pub mod local;
#[cfg(feature = "observe")]
pub mod observe;
mod registry;
mod router;
mod supervision;
mod sync;
mod system;
mod time;
mod waker;

pub use zeta_arena as arena;
pub use zeta_mailbox as mailbox;
pub use zeta_scheduler as scheduler;

pub use crate::actor::{Actor, PanicMessage, StopReason};
pub use crate::address::{Address, Enqueued, MustSchedule, ScheduleDuty};
pub use crate::bounded::send::SendFuture;
pub use crate::cell::SharedResource;
pub use crate::context::Context;
pub use crate::error::{
    AskError, ControlError, RequestError, SendError, SpawnError, SpawnFailure, Undelivered,
};
pub use crate::future::{Future, Reply, WaitStrategy};
pub use crate::identity::ActorId;
pub use crate::registry::{LookupError, RegisterError, Registry};
pub use crate::router::{Balancer, Broadcast, NoMembers, Recipient, Strategy};
pub use crate::supervision::{
    Down, EndCounts, Intensity, Monitor, Restart, RestartStrategy, StartError, Supervisor,
    SupervisorMsg, SupervisorStats,
};
pub use crate::system::{
    spawn, spawn_bounded, IntoSharedResource, IntoSharedScheduler, ShutdownReport, System,
};
pub use crate::time::Timer;
pub use zeta_mailbox::Priority;
pub use zeta_scheduler::{CancelOutcome, ManualScheduler, Scheduler, SharingScheduler};

/// The README's examples, compiled and run as doc tests so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(doctest)]
mod guide;
