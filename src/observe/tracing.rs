//! [`Tracing`]: the hooks as `tracing` events and spans (the `tracing` feature).
//!
//! Every event and span has the target `zeta` and these fields, so a subscriber can
//! filter by actor: `actor` (the name, or the type's last segment, then `#` and the
//! id: `matcher#12`), `actor.id`, and `actor.type`.
//!
//! | hook | what | level |
//! |---|---|---|
//! | spawn, start | event `spawned`, `started` | DEBUG |
//! | stop | event `stopped`, with `reason` | DEBUG; WARN for a failure (panic, linked) |
//! | panic | event `panicked`, with `panic` | ERROR |
//! | restart | event `restarted` | INFO |
//! | down | event `down`, with `watched` and `reason` | DEBUG |
//! | run (opt-in, [`Tracing::with_runs`]) | event `run`, with `handled` and `backlog` | TRACE |
//! | message (opt-in, [`Tracing::with_message_spans`]) | span `message` around each | TRACE |
//! | park, unpark, steal, queue depth | events with `worker` (`victim`, `depth`) | TRACE |
//! | timers fired | event `timers fired`, with `fired` and `lateness_ns` | TRACE |
//!
//! Lifecycle events are always emitted (the subscriber's filter decides what it
//! keeps, at the cost of one callsite check when it keeps nothing). The frequent ones,
//! runs and per-message spans, are opted into, so the engine does not even call the
//! hook when they are not wanted; a message span is entered on the runner's thread
//! for the length of its handler, so events a handler emits are inside it.

use core::cell::RefCell;
use core::time::Duration;

use tracing::span::EnteredSpan;
use tracing::{debug, error, info, trace, trace_span, warn};

use super::{ActorInfo, Interests, Observer, Run, SchedulerObserver};

/// An event about `actor` at `level` (a `tracing` macro's name), with the target
/// `zeta`, the actor's three fields, then the rest.
macro_rules! actor_event {
    ($level:ident, $actor:expr, $($rest:tt)+) => {
        $level!(
            target: "zeta",
            actor = %$actor,
            actor.id = $actor.id.get(),
            actor.type = $actor.type_name,
            $($rest)+
        )
    };
}
use crate::actor::{PanicMessage, StopReason};
use crate::supervision::Down;

std::thread_local! {
    /// The span of the message this thread's runner is handling, if message spans are
    /// on: one at a time (a runner handles one message at a time; a handler that
    /// panics leaves it for `on_panic` to close).
    static MESSAGE: RefCell<Option<EnteredSpan>> = const { RefCell::new(None) };
}

/// Closes this thread's message span, if one is open.
fn close_message_span() {
    // `try_with`: at thread exit the slot may be gone already; nothing to close then.
    let open = MESSAGE.try_with(|slot| slot.borrow_mut().take());
    drop(open);
}

/// The hooks as `tracing` events and spans (module doc: which, at which level).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use zeta::observe::Tracing;
/// use zeta::{Actor, Context, System};
///
/// struct Echo;
/// impl Actor for Echo {
///     type Message = u32;
///     fn handle(&mut self, n: u32, _ctx: &mut Context<'_, Self>) {
///         tracing::info!(n, "handled"); // inside the `message` span
///     }
/// }
///
/// // With a subscriber installed (e.g. tracing-subscriber's `fmt`), this prints
/// // `spawned`, `started`, one `message` span per message, and `stopped`.
/// let tracing = Arc::new(Tracing::new().with_message_spans());
/// let system = System::manual_observed(64, tracing).unwrap();
/// let echo = system.spawn_named("echo", Echo).unwrap();
/// echo.send(7).unwrap();
/// echo.stop().unwrap();
/// system.scheduler().run_until_idle().unwrap();
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Tracing {
    runs: bool,
    message_spans: bool,
}

impl Tracing {
    /// Lifecycle events only (spawn, start, stop, panic, restart, down) and the
    /// schedulers' events.
    pub const fn new() -> Self {
        Self {
            runs: false,
            message_spans: false,
        }
    }

    /// Also a TRACE event at the end of each run, with the messages handled and the
    /// backlog.
    #[must_use]
    pub const fn with_runs(mut self) -> Self {
        self.runs = true;
        self
    }

    /// Also a TRACE span `message` around each message an actor handles.
    #[must_use]
    pub const fn with_message_spans(mut self) -> Self {
        self.message_spans = true;
        self
    }
}

impl Observer for Tracing {
    fn interests(&self) -> Interests {
        let runs = if self.runs {
            Interests::RUNS
        } else {
            Interests::NONE
        };
        let messages = if self.message_spans {
            Interests::MESSAGES
        } else {
            Interests::NONE
        };
        runs.union(messages)
    }

    fn on_spawn(&self, actor: &ActorInfo) {
        actor_event!(debug, actor, "spawned");
    }

    fn on_start(&self, actor: &ActorInfo) {
        actor_event!(debug, actor, "started");
    }

    fn on_message(&self, actor: &ActorInfo) {
        close_message_span();
        let span = trace_span!(
            target: "zeta",
            "message",
            actor = %actor,
            actor.id = actor.id.get(),
            actor.type = actor.type_name,
        );
        let entered = span.entered();
        // Err: the thread is exiting; the span closes here instead.
        let _ = MESSAGE.try_with(|slot| *slot.borrow_mut() = Some(entered));
    }

    fn on_message_done(&self, _actor: &ActorInfo) {
        close_message_span();
    }

    fn on_run(&self, actor: &ActorInfo, run: Run) {
        actor_event!(
            trace,
            actor,
            handled = run.handled,
            backlog = run.backlog,
            "run"
        );
    }

    fn on_panic(&self, actor: &ActorInfo, panic: &PanicMessage) {
        close_message_span();
        actor_event!(
            error,
            actor,
            panic = %panic,
            "panicked"
        );
    }

    fn on_stop(&self, actor: &ActorInfo, reason: &StopReason) {
        close_message_span();
        if reason.is_failure() {
            actor_event!(
                warn,
                actor,
                reason = %reason,
                "stopped"
            );
        } else {
            actor_event!(
                debug,
                actor,
                reason = %reason,
                "stopped"
            );
        }
    }

    fn on_restart(&self, actor: &ActorInfo) {
        actor_event!(info, actor, "restarted");
    }

    fn on_down(&self, actor: &ActorInfo, down: &Down) {
        actor_event!(
            debug,
            actor,
            watched = down.id.get(),
            reason = %down.reason,
            "down"
        );
    }
}

impl SchedulerObserver for Tracing {
    fn on_park(&self, worker: usize) {
        trace!(target: "zeta", worker, "park");
    }

    fn on_unpark(&self, worker: usize) {
        trace!(target: "zeta", worker, "unpark");
    }

    fn on_steal(&self, worker: usize, victim: usize) {
        trace!(target: "zeta", worker, victim, "steal");
    }

    fn on_queue_depth(&self, worker: usize, depth: usize) {
        trace!(target: "zeta", worker, depth, "queue depth");
    }

    fn on_timers_fired(&self, fired: usize, lateness: Duration) {
        trace!(
            target: "zeta",
            fired,
            lateness_ns = lateness.as_nanos() as u64,
            "timers fired"
        );
    }
}
