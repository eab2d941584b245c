//! Knowing when actors end: the watch list, [`Address::stopped`] futures and
//! monitors.
//!
//! zeta owns its actors' memory and scheduling, so it can tell who ended, why, and
//! exactly once, with nothing allocated at the end:
//!
//! - Every cell has a **watch list** (`watch.rs`): a lock-free stack of entries, each a
//!   request node allocated when watching starts, closed and fired once by the party
//!   that ends the actor, after `on_stop` has run and the actor has been dropped. Its
//!   protocol (ownership, exactly-once firing, the reason's publication, sweeping the
//!   cancelled entries) is written there.
//! - [`Address::stopped`]: a [`Future`](crate::Future) of the [`StopReason`] whose
//!   reply end is an entry: a join that can block, time out or be `.await`ed.
//! - **Monitors** (`monitor.rs`): a [`Down`] delivered as a message into the watcher's
//!   inbox, through a node allocated when the monitor was made.
//!
//! What is allocated, and when: `stopped` one node from the watched actor's memory;
//! `monitor` one node from the watched actor's memory and one from the watcher's. The
//! end of an actor allocates nothing, takes no lock, and cannot fail to notify.
//!
//! [`Address::stopped`]: crate::Address::stopped
//! [`StopReason`]: crate::StopReason

pub(crate) mod monitor;
pub(crate) mod watch;

pub use monitor::{Down, Monitor};
