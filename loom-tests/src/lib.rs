//! loom models of zeta through its public API.
//!
//! This crate has no code of its own: its integration tests are loom models that drive
//! `zeta`, `zeta-mailbox` and `zeta-arena` only through what they export, the way a
//! user (or a scheduler built on them) would. Models of private internals live in their
//! crates (`zeta_mailbox::inbox::loom`, `zeta_arena::pool::loom`).
//!
//! - `tests/handshake.rs`: the inbox's block/unblock handshake end to end. A reader
//!   drains its inbox and blocks; a producer whose push returns `Unblocked` schedules it
//!   again. Every message is handled exactly once, in order, and none is left behind: no
//!   lost wake-up.
//! - `tests/actors.rs`: actors, on a loom-visible `zeta::Scheduler` written in the test.
//!   A handler replies while the asker drops or cancels its `Future` (and drops the
//!   address); two threads send to, kill or stop one actor at once. The actor is never
//!   run by two threads at once, every message is handled, given back or (behind a stop
//!   or kill) dropped, each value is dropped exactly once, and the actor's cell and
//!   every node go back to the memory resource, the cell only after the actor's drop.
//!
//! The models compile only under `--cfg zeta_loom`, which also switches the crates'
//! atomics and cells to loom's. Run them in release mode, with debug assertions and the
//! preemption bound used in CI:
//!
//! ```text
//! RUSTFLAGS="--cfg zeta_loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 \
//!     CARGO_TARGET_DIR=target/loom cargo test --release -p zeta-loom-tests --tests
//! ```
//!
//! Without the cfg the crate builds empty and its tests are no-ops.
