//! Remote actors for zeta: addresses that cross machines, over zenoh.
//!
//! zeta does not grow a network protocol of its own: it rides
//! [zenoh](https://zenoh.io), which runs inside the process (peer to peer, no server to
//! start; routers for scale), tells when a process goes away (liveliness tokens), has
//! request/reply (queries), priorities, and congestion control that slows a sender down
//! instead of dropping. This crate is the bridge between it and local actors; the core
//! crates never depend on it.
//!
//! # A tour
//!
//! - A [`Protocol`] names what crosses the wire for one actor: fire-and-forget
//!   [`Tell`](Protocol::Tell)s and [`Ask`](Protocol::Ask)s with their
//!   [`Answer`](Protocol::Answer), all serde types, and a name and version checked at
//!   first contact. [`Serve`] says how an actor takes them: each becomes one of the
//!   actor's own messages, delivered through its normal [`Address`](zeta::Address), so
//!   everything local applies (priorities, bounded mailboxes, supervision).
//! - A [`Node`] is a zenoh session plus the bridge: [`Node::export`] puts a local actor
//!   under a name; [`Node::lookup`] gives a typed [`RemoteAddress`] of an actor another
//!   node exports (or an error, if it speaks another protocol or version).
//! - [`RemoteAddress::send`] and [`send_high`](RemoteAddress::send_high) encode the
//!   message ([postcard](https://docs.rs/postcard)) and queue it for the node's sender
//!   thread; [`ask`](RemoteAddress::ask) is a zenoh query whose answer resolves a
//!   [`RemoteFuture`]. Nothing blocks the caller: a full outbound buffer hands the
//!   message back ([`Undelivered::Full`]).
//! - [`RemoteAddress::monitor`]: a local watcher gets the same [`Down`](zeta::Down) as
//!   for a local actor when the remote one ends, and one with
//!   [`StopReason::NodeLost`](zeta::StopReason::NodeLost) when its node goes.
//!
//! The guarantees (ordering, delivery, what a partition does), what allocates, and how
//! to run two nodes are in `docs/runtime-semantics.md` ("Remote actors") and the
//! guide's chapter 14.
//!
//! # Key layout and priorities
//!
//! Every key starts with `zeta/<node>`: the node's liveliness token is `zeta/<node>`,
//! and an exported actor `a` has `zeta/<node>/a/tell` (publications), `.../ask` and
//! `.../info` (queries) and `.../down` (its end). Zeta's normal priority travels at
//! zenoh's `Data`, high at `DataHigh`, and lookups and ends at `InteractiveHigh`, above
//! both; all with blocking congestion control, so nothing is dropped by zenoh.
//!
//! # Example
//!
//! See [`Node`] for two nodes in one process, and the `remote_trading` example for two
//! processes.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod address;
mod config;
mod error;
mod export;
mod keys;
mod node;
mod peer;
mod protocol;
mod standin;
mod wire;

pub use crate::address::{RemoteAddress, RemoteFuture};
pub use crate::config::{Mode, NodeConfig};
pub use crate::error::{LookupError, NodeError, RemoteError, SendError, Undelivered};
pub use crate::node::{Node, NodeStats, loopback_endpoint};
pub use crate::protocol::{Never, Protocol, Serve, Wire};

/// The guide's chapter on remote actors, compiled and run as doc tests so that it stays
/// true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/guide/14-remote-actors.md")]
pub struct GuideRemoteActors;
