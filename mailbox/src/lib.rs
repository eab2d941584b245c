//! The mailbox layer of zeta: message nodes, priorities, the lock-free inbox.
//!
//! One message is one allocation: an [`Envelope`] is a node holding a small header (an
//! intrusive link, the priority, a `&'static` table for drop and dispatch, the resource
//! it came from, and in its padding a prefetch hint the reader's cache writes) and the
//! payload inline, taken from a
//! [`MemoryResource`](zeta_arena::MemoryResource) (a pool, in steady state, so the global
//! allocator is never called).
//!
//! Producers push nodes onto an [`Inbox`], a Treiber stack with one CAS per push. The push
//! reports whether the reader must now be scheduled ([`Enqueued::Unblocked`]), and gives
//! the message back if the inbox is closed ([`Enqueued::Closed`]): nothing is lost
//! silently. The reader takes the whole stack with one CAS ([`Inbox::take_all`]), relinks
//! it into a [`Cache`] (high before normal, arrival order per sender within a priority;
//! each node is told where the node a few places after it lies, so that handling a long
//! batch whose nodes left the CPU's caches waits for several misses at once, not one
//! after another),
//! and when nothing is left gives up the right to run with [`Inbox::try_block`]. Exactly
//! one party wins every block/unblock handshake; the protocol, with the reason for every
//! atomic ordering, is in the [`inbox`] module, and loom models check it.
//!
//! For a reader whose senders all live on its own thread (a local, `!Send` actor),
//! [`LocalInbox`] is the same nodes and the same two FIFOs with no atomic operation: a
//! push appends to its priority's FIFO, and the block/unblock handshake is a `Cell`.
//!
//! This crate knows nothing of scheduling: it only reports `Unblocked`.
//!
//! # Example
//!
//! A producer thread sends through a pool; the reader drains, blocks, and is woken.
//!
//! ```
//! use zeta_arena::PoolResource;
//! use zeta_mailbox::{Cache, Enqueued, Envelope, Inbox, Priority, TryBlock};
//!
//! let pool = PoolResource::new();
//! let inbox = Inbox::new_unblocked(); // the reader is running
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         for n in 0..100u64 {
//!             let message = Envelope::new_in(&pool, Priority::Normal, n).unwrap();
//!             match inbox.push(message) {
//!                 Enqueued::Queued | Enqueued::Unblocked => {}
//!                 Enqueued::Closed(back) => panic!("closed: {}", back.into_payload()),
//!             }
//!         }
//!     });
//! });
//! let mut cache = Cache::new();
//! let mut expected = 0;
//! while let Some(message) = cache.next_from(&inbox) {
//!     assert_eq!(message.into_payload(), expected); // per-sender FIFO
//!     expected += 1;
//! }
//! assert_eq!(expected, 100);
//! assert_eq!(inbox.try_block(), TryBlock::Blocked);
//! let wake = inbox.push(Envelope::new_in(&pool, Priority::High, 7).unwrap());
//! assert!(matches!(wake, Enqueued::Unblocked)); // the sender must schedule the reader
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

mod cache;
pub mod inbox;
pub mod local;
#[cfg(all(test, zeta_loom))]
mod loom_support;
mod message;
mod priority;
pub mod request;
pub mod state;
mod sync;

pub use cache::Cache;
pub use inbox::{Batch, Enqueued, Inbox, Orphan, Seal, TryBlock};
pub use local::LocalInbox;
pub use message::{AllocFailed, Envelope, Header};
pub use priority::Priority;
pub use request::{NoReply, Pending, Reply};
