//! The guide (`docs/guide/`), compiled and run as doc tests so that it stays true.
//!
//! Each chapter is the documentation of one struct below; `cargo test --doc` builds and
//! runs every Rust block in it. The module exists only when doc tests are collected
//! (`#[cfg(doctest)]`): it adds nothing to the crate.

#[doc = include_str!("../docs/guide/01-first-actor.md")]
pub struct FirstActor;

#[doc = include_str!("../docs/guide/02-send-ask-priorities.md")]
pub struct SendAskPriorities;

#[doc = include_str!("../docs/guide/03-actor-to-actor-requests.md")]
pub struct ActorToActorRequests;

#[doc = include_str!("../docs/guide/04-memory.md")]
pub struct Memory;

#[doc = include_str!("../docs/guide/05-schedulers.md")]
pub struct Schedulers;

#[doc = include_str!("../docs/guide/06-supervision.md")]
pub struct Supervision;

#[doc = include_str!("../docs/guide/07-timers.md")]
pub struct Timers;

#[doc = include_str!("../docs/guide/08-bounded-mailboxes.md")]
pub struct BoundedMailboxes;

#[doc = include_str!("../docs/guide/09-local-actors.md")]
pub struct LocalActors;

#[doc = include_str!("../docs/guide/10-deterministic-testing.md")]
pub struct DeterministicTesting;

#[doc = include_str!("../docs/guide/11-performance.md")]
pub struct Performance;

#[doc = include_str!("../docs/guide/12-coming-from-ractor-or-actix.md")]
pub struct ComingFromRactorOrActix;

/// Chapter 13 runs the `tracing` and `metrics` observers: with those features only (as
/// the README's test command runs the doc tests).
#[cfg(all(feature = "tracing", feature = "metrics"))]
#[doc = include_str!("../docs/guide/13-observability.md")]
pub struct Observability;
