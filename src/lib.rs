//! zeta: a zero-allocation cooperative actor scheduler engine.
//!
//! This facade re-exports the engine's layers:
//!
//! - [`arena`]: memory resources (where actors and messages live);
//! - [`mailbox`]: message nodes, priorities and the lock-free inbox;
//! - [`scheduler`]: resumable jobs and the schedulers that run them.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

pub use zeta_arena as arena;
pub use zeta_mailbox as mailbox;
pub use zeta_scheduler as scheduler;

/// The README's examples, compiled and run as doc tests so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
