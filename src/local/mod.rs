//! Local actors: `!Send` actors on one thread, with no atomic operation on the message
//! path.
//!
//! A game's frame or a single-threaded simulation runs over state full of `Rc` and
//! `RefCell`, and pays nothing for thread safety it does not use. A [`LocalSystem`] is a
//! run queue owned by one thread and driven by it, like the
//! [`ManualScheduler`](crate::ManualScheduler) (`run_once`, `run_until_idle`,
//! `run_for`, an optional seeded order); its actors are [`LocalActor`]s, which need not
//! be `Send`, nor their messages; their [`LocalAddress`]es are one word, cloned with a
//! plain increment, and cannot leave the thread (a `compile_fail` test on
//! [`LocalAddress`] says so).
//!
//! # The path of one message
//!
//! 1. **Allocate**: the node comes from the system's memory resource (a pool: no global
//!    allocation), the same node as on the thread-safe path (zeta-mailbox's
//!    `Envelope`: header first, payload inline).
//! 2. **Enqueue**: appended to the actor's FIFO for its priority
//!    ([`LocalInbox`](crate::mailbox::LocalInbox): the thread-safe inbox's states in a
//!    `Cell`, the same FIFOs). A push that finds the actor idle (blocked) holds its run
//!    right and appends it to the system's run queue, an intrusive list through the
//!    cells.
//! 3. **Resume**: the loop pops the next actor and runs it for at most `max_throughput`
//!    messages, high before normal, FIFO per priority; a panic is caught at the run's
//!    boundary.
//! 4. **Reply**: a [`LocalReply`] fills a slot that its [`LocalFuture`] reads; both are
//!    plain memory.
//! 5. **Block**: out of messages, the actor gives up the run right (its inbox goes back
//!    to `Blocked`): the next send queues it again.
//!
//! No step has an atomic read-modify-write; `scripts/rmw-count.sh local` counts them (0.00 per message).
//!
//! # Other threads: the bridge
//!
//! A [`SendAddress`] (from [`LocalAddress::sendable`]) is `Send + Sync`: any thread
//! sends through it into one lock-free inbox per system (one atomic read-modify-write
//! per message), which the system's loop drains into the actors' local inboxes at each
//! step. A local handler reaches thread-safe actors with their ordinary
//! [`Address`](crate::Address). The `bridge` module states the protocol and what a
//! sender gets when the system is gone (the message back).
//!
//! # What is shared with the thread-safe path, and what is not
//!
//! The two paths share their building blocks and differ only where atomics are:
//!
//! | | thread-safe | local |
//! |---|---|---|
//! | message node | `Envelope` | the same `Envelope` |
//! | priority and per-sender FIFO | `Cache` (two FIFOs) | the same `Cache` |
//! | inbox states | `Inbox`: one atomic word, CAS | `LocalInbox`: the same states and results (`Enqueued`, `TryBlock`, `Seal`) in a `Cell` |
//! | run right | the inbox's unblocked state | the same rule |
//! | stop, kill | seal (+ a flag), no allocation | the same |
//! | lifecycle, hooks | `on_start`, `handle`, `on_stop`, panics caught per run | the same order and the same `StopReason`s |
//! | count | strong + weak, atomic, orphan handshake on the inbox word | one plain count, the orphan check at the block |
//! | run queue | a `Scheduler` (work-stealing deques, injector) | an intrusive list in the system |
//! | request | a reply slot in the message's node, atomic states | a slot with plain states |
//!
//! Why separate types over shared blocks, and not one cell generic over a small "ops"
//! trait (atomic or not): the thread-safe cell's protocol is more than atomics swapped
//! for cells. Its steps exist *because* of other threads: the orphan flag on the inbox
//! word racing `try_block`, the weak count that lets a request node outlive the actor
//! on another thread, the `local_submit` fast path, the bounded mailbox's admission
//! word, the supervised park token. Behind an ops trait, each would become a method
//! whose local version is a no-op or a different algorithm, and the one proven,
//! model-checked protocol would be read through an abstraction it does not need. The
//! parts that are the same in both (the node, the FIFOs, the state table, the results,
//! the order of the hooks, the stop reasons) are the same *code*, from zeta-mailbox and
//! the crate's `actor` module; what differs is small and in this folder. The loop in
//! `cell.rs` follows the thread-safe one line for line (start, kill check, throughput
//! check, pop, dispatch, stop check, block), so the two are read and reviewed side by
//! side.
//!
//! # Example
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use zeta::local::{LocalActor, LocalAddress, LocalContext, LocalSystem};
//!
//! // A world shared by reference count inside one thread.
//! type World = Rc<RefCell<Vec<i64>>>;
//!
//! struct Mover {
//!     world: World,
//!     next: Option<LocalAddress<Mover>>,
//! }
//!
//! impl LocalActor for Mover {
//!     type Message = usize;
//!     fn handle(&mut self, slot: usize, _ctx: &mut LocalContext<'_, Self>) {
//!         self.world.borrow_mut()[slot] += 1;
//!         if let Some(next) = &self.next {
//!             next.send(slot + 1).unwrap();
//!         }
//!     }
//! }
//!
//! let world: World = Rc::new(RefCell::new(vec![0; 3]));
//! let system = LocalSystem::new(64).unwrap();
//! let last = system.spawn(Mover { world: world.clone(), next: None }).unwrap();
//! let middle = system.spawn(Mover { world: world.clone(), next: Some(last) }).unwrap();
//! let first = system.spawn(Mover { world: world.clone(), next: Some(middle) }).unwrap();
//! first.send(0).unwrap();
//! let stats = system.run_until_idle().unwrap();
//! assert_eq!(*world.borrow(), [1, 1, 1]);
//! assert_eq!(stats.messages, 3);
//! ```

mod actor;
mod address;
mod bridge;
mod cell;
mod continuation;
#[cfg(all(test, zeta_loom))]
mod loom;
mod reply;
mod system;
mod time;

pub use self::actor::{LocalActor, LocalContext};
pub use self::address::LocalAddress;
pub use self::bridge::SendAddress;
pub use self::reply::{LocalFuture, LocalReply};
pub use self::system::{LocalSystem, LocalSystemBuilder};
pub use self::time::LocalTimer;
