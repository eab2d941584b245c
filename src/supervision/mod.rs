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
//!   inbox, through a node allocated when the monitor was made. **Links** are two
//!   monitors whose notice stops the partner on a failure, unless it traps exits.
//! - **Restart in place** (`restart.rs`): a supervised child whose instance ends hands
//!   its run right, with its queue intact, to its supervisor as a parked token, through
//!   a notice allocated in advance; the supervisor rebuilds it in its own cell (same
//!   address, same queue) or ends it.
//! - **Supervisors** (`supervisor.rs`): [`Supervisor`], an actor deciding by strategy,
//!   policy and intensity, and failing (escalating to its own supervisor) beyond it.
//!
//! What is allocated, and when: `stopped` one node from the watched actor's memory;
//! `monitor` one node from the watched actor's memory and one from the watcher's; the
//! first watcher of an actor (either kind) its watch list's block too; a
//! supervised child, when it is started, its restart part and its first notice, and at
//! each restart its next notice (from the supervisor's memory resource). The end of an
//! actor, a park and a restart allocate nothing from the global allocator and take no
//! lock (the factory's own allocations are the user's).
//!
//! [`Address::stopped`]: crate::Address::stopped
//! [`StopReason`]: crate::StopReason
//! [`Supervisor`]: crate::Supervisor

pub(crate) mod monitor;
pub(crate) mod restart;
pub(crate) mod supervisor;
pub(crate) mod watch;

pub use monitor::{Down, Monitor};
pub(crate) use supervisor::EndTally;
pub use supervisor::{
    EndCounts, Intensity, Restart, RestartStrategy, StartError, Supervisor, SupervisorMsg,
    SupervisorStats,
};
