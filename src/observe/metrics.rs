//! [`Metrics`]: the hooks as counters, gauges and a histogram through the `metrics`
//! facade (the `metrics` feature), recorded by whatever recorder the program installs
//! (Prometheus exporter, statsd, a test's own).
//!
//! | metric | kind | labels | from |
//! |---|---|---|---|
//! | `zeta_actors_spawned_total` | counter | `actor` | spawn |
//! | `zeta_actors_started_total` | counter | `actor` | start |
//! | `zeta_actors_stopped_total` | counter | `actor`, `reason` | stop |
//! | `zeta_actor_panics_total` | counter | `actor` | panic |
//! | `zeta_actor_restarts_total` | counter | `actor` | restart |
//! | `zeta_actor_downs_total` | counter | `actor` | down received |
//! | `zeta_messages_handled_total` | counter | `actor` | each run |
//! | `zeta_mailbox_backlog` | gauge | `actor` | each run ([`Run::backlog`]) |
//! | `zeta_worker_parks_total` | counter | `worker` | park |
//! | `zeta_worker_steals_total` | counter | `worker` | steal |
//! | `zeta_worker_queue_depth` | gauge | `worker` | every `CHECK_INTERVAL` jobs |
//! | `zeta_timers_fired_total` | counter | | each poll that fired |
//! | `zeta_timer_lateness_seconds` | histogram | | each poll that fired ([`Polled::lateness`](crate::scheduler::Polled::lateness)) |
//!
//! The `actor` label is the actor's name, or its type's last path segment if it has
//! none: a bounded set of values (never the id), as metric labels must be. Actors
//! that share a label share its series (the backlog gauge then shows the last run's).
//! `reason` is one of `stopped`, `killed`, `panicked`, `scheduler_stopped`, `dropped`,
//! `linked`. `worker` is the worker's index, `0` to `63`, then `64+` for the rest.
//!
//! Labels are `&'static str`s, so building a key allocates nothing; what registering
//! or updating a series costs is the recorder's. Per-actor series are looked up at
//! each event (the engine keeps no handle per actor); the per-worker handles are
//! registered once, at a worker's first event.

use core::time::Duration;
use std::sync::OnceLock;

use metrics::{counter, gauge, histogram, Counter, Gauge};

use super::{ActorInfo, Interests, Observer, Run, SchedulerObserver};
use crate::actor::{PanicMessage, StopReason};
use crate::supervision::Down;

/// Workers with a label of their own; the others share `64+`.
const LABELLED_WORKERS: usize = 64;

/// `0` to `63`, then `64+`.
const WORKER_LABELS: [&str; LABELLED_WORKERS + 1] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32",
    "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46", "47", "48",
    "49", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "60", "61", "62", "63",
    "64+",
];

/// One worker's series, registered at its first event.
struct Worker {
    parks: Counter,
    steals: Counter,
    depth: Gauge,
}

/// The hooks as metrics (module doc: which, with which labels).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use zeta::observe::Metrics;
/// use zeta::{Actor, Context, System};
///
/// struct Sink;
/// impl Actor for Sink {
///     type Message = u32;
///     fn handle(&mut self, _: u32, _ctx: &mut Context<'_, Self>) {}
/// }
///
/// // With a recorder installed (`metrics::set_global_recorder`, or an exporter's
/// // installer), `zeta_messages_handled_total{actor="sink"}` reads 3 after this.
/// let system = System::manual_observed(64, Arc::new(Metrics::new())).unwrap();
/// let sink = system.spawn_named("sink", Sink).unwrap();
/// for n in 0..3 {
///     sink.send(n).unwrap();
/// }
/// system.scheduler().run_until_idle().unwrap();
/// ```
pub struct Metrics {
    workers: [OnceLock<Worker>; LABELLED_WORKERS + 1],
}

impl Metrics {
    /// Records through the global recorder (`metrics::set_global_recorder`), or the
    /// thread's local one where the hook runs (`metrics::with_local_recorder`).
    pub fn new() -> Self {
        Self {
            workers: [const { OnceLock::new() }; LABELLED_WORKERS + 1],
        }
    }

    fn worker(&self, index: usize) -> &Worker {
        let slot = index.min(LABELLED_WORKERS);
        self.workers[slot].get_or_init(|| {
            let worker = WORKER_LABELS[slot];
            Worker {
                parks: counter!("zeta_worker_parks_total", "worker" => worker),
                steals: counter!("zeta_worker_steals_total", "worker" => worker),
                depth: gauge!("zeta_worker_queue_depth", "worker" => worker),
            }
        })
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The `actor` label.
fn label(actor: &ActorInfo) -> &'static str {
    actor
        .name
        .unwrap_or_else(|| super::short_type_name(actor.type_name))
}

/// The `reason` label.
fn reason_label(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::Stopped => "stopped",
        StopReason::Killed => "killed",
        StopReason::Panicked(_) => "panicked",
        StopReason::SchedulerStopped => "scheduler_stopped",
        StopReason::Dropped => "dropped",
        StopReason::Linked(_) => "linked",
        StopReason::NodeLost => "node_lost",
    }
}

impl Observer for Metrics {
    fn interests(&self) -> Interests {
        Interests::RUNS
    }

    fn on_spawn(&self, actor: &ActorInfo) {
        counter!("zeta_actors_spawned_total", "actor" => label(actor)).increment(1);
    }

    fn on_start(&self, actor: &ActorInfo) {
        counter!("zeta_actors_started_total", "actor" => label(actor)).increment(1);
    }

    fn on_run(&self, actor: &ActorInfo, run: Run) {
        let actor = label(actor);
        if run.handled > 0 {
            counter!("zeta_messages_handled_total", "actor" => actor).increment(run.handled as u64);
        }
        gauge!("zeta_mailbox_backlog", "actor" => actor).set(run.backlog as f64);
    }

    fn on_panic(&self, actor: &ActorInfo, _panic: &PanicMessage) {
        counter!("zeta_actor_panics_total", "actor" => label(actor)).increment(1);
    }

    fn on_stop(&self, actor: &ActorInfo, reason: &StopReason) {
        counter!(
            "zeta_actors_stopped_total",
            "actor" => label(actor),
            "reason" => reason_label(reason)
        )
        .increment(1);
    }

    fn on_restart(&self, actor: &ActorInfo) {
        counter!("zeta_actor_restarts_total", "actor" => label(actor)).increment(1);
    }

    fn on_down(&self, actor: &ActorInfo, _down: &Down) {
        counter!("zeta_actor_downs_total", "actor" => label(actor)).increment(1);
    }
}

impl SchedulerObserver for Metrics {
    fn on_park(&self, worker: usize) {
        self.worker(worker).parks.increment(1);
    }

    fn on_steal(&self, worker: usize, _victim: usize) {
        self.worker(worker).steals.increment(1);
    }

    fn on_queue_depth(&self, worker: usize, depth: usize) {
        self.worker(worker).depth.set(depth as f64);
    }

    fn on_timers_fired(&self, fired: usize, lateness: Duration) {
        counter!("zeta_timers_fired_total").increment(fired as u64);
        histogram!("zeta_timer_lateness_seconds").record(lateness.as_secs_f64());
    }
}
