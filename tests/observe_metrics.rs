//! The `metrics` feature: `zeta::observe::Metrics` through a recorder of the test's
//! own (installed globally, so that the workers' threads record too), checked for exact
//! counts on deterministic runs: a manual scheduler for the actors and timers, and a
//! sharing scheduler whose parks and steals must equal its own counters.
#![cfg(all(feature = "metrics", not(zeta_loom)))]

mod observe_common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use zeta::observe::Metrics;
use zeta::{Actor, Context, Intensity, Reply, Restart, RestartStrategy, Supervisor, System};

/// A histogram's samples.
#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

/// Every series, by `name{label=value,...}` (labels in the order given).
#[derive(Default)]
struct Registry {
    counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<String, Arc<Samples>>>,
}

fn series(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|label| format!("{}={}", label.key(), label.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for &'static Registry {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut counters = self.counters.lock().unwrap();
        Counter::from_arc(counters.entry(series(key)).or_default().clone())
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut gauges = self.gauges.lock().unwrap();
        Gauge::from_arc(gauges.entry(series(key)).or_default().clone())
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut histograms = self.histograms.lock().unwrap();
        Histogram::from_arc(histograms.entry(series(key)).or_default().clone())
    }
}

impl Registry {
    fn counter(&self, series: &str) -> u64 {
        self.counters
            .lock()
            .unwrap()
            .get(series)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn gauge(&self, series: &str) -> Option<f64> {
        self.gauges
            .lock()
            .unwrap()
            .get(series)
            .map(|g| f64::from_bits(g.load(Ordering::Relaxed)))
    }

    fn samples(&self, series: &str) -> Vec<f64> {
        self.histograms
            .lock()
            .unwrap()
            .get(series)
            .map_or_else(Vec::new, |h| h.0.lock().unwrap().clone())
    }
}

enum Msg {
    Add(u64),
    Panic,
    Get(Reply<u64>),
}

struct Sink(u64);

impl Actor for Sink {
    type Message = Msg;
    fn handle(&mut self, msg: Msg, _ctx: &mut Context<'_, Self>) {
        match msg {
            Msg::Add(n) => self.0 += n,
            Msg::Panic => panic!("on purpose"),
            Msg::Get(reply) => {
                let _ = reply.send(self.0);
            }
        }
    }
}

// One test: the recorder is the process's.
#[test]
fn exact_counts_through_a_recorder() {
    observe_common::quiet_panics();
    let registry: &'static Registry = Box::leak(Box::default());
    metrics::set_global_recorder(registry).unwrap();

    // Actors, on a manual scheduler with max_throughput 4.
    let system = System::manual_observed(4, Arc::new(Metrics::new())).unwrap();
    let sink = system.spawn_named("sink", Sink(0)).unwrap();
    for n in 0..10 {
        sink.send(Msg::Add(n)).unwrap();
    }
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(registry.counter("zeta_actors_spawned_total{actor=sink}"), 1);
    assert_eq!(registry.counter("zeta_actors_started_total{actor=sink}"), 1);
    assert_eq!(
        registry.counter("zeta_messages_handled_total{actor=sink}"),
        10
    );
    // Runs of 4, 4 and 2: the gauge shows what the last run left, none.
    assert_eq!(
        registry.gauge("zeta_mailbox_backlog{actor=sink}"),
        Some(0.0)
    );

    // A panic, unsupervised: one panic, one stop for it.
    let fails = system.spawn_named("fails", Sink(0)).unwrap();
    fails.send(Msg::Panic).unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(registry.counter("zeta_actor_panics_total{actor=fails}"), 1);
    assert_eq!(
        registry.counter("zeta_actors_stopped_total{actor=fails,reason=panicked}"),
        1
    );

    // A supervised child (labelled by its type) panics twice: two restarts in place.
    let intensity = Intensity {
        max_restarts: 5,
        within: Duration::from_secs(60),
    };
    let supervisor = system
        .spawn_named(
            "supervisor",
            Supervisor::new(RestartStrategy::OneForOne, intensity),
        )
        .unwrap();
    let mut started = Supervisor::start_child(&supervisor, Restart::Permanent, || Sink(0)).unwrap();
    system.scheduler().run_until_idle().unwrap();
    let child = started.try_take().unwrap().unwrap().unwrap();
    child.send(Msg::Panic).unwrap();
    system.scheduler().run_until_idle().unwrap();
    child.send(Msg::Panic).unwrap();
    child.send(Msg::Add(3)).unwrap();
    let mut total = child.ask(Msg::Get).unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(total.try_take(), Some(Ok(3)));
    assert_eq!(registry.counter("zeta_actor_restarts_total{actor=Sink}"), 2);
    assert_eq!(registry.counter("zeta_actor_panics_total{actor=Sink}"), 2);
    assert_eq!(registry.counter("zeta_actors_started_total{actor=Sink}"), 3);
    assert_eq!(
        registry.counter("zeta_actors_stopped_total{actor=Sink,reason=panicked}"),
        2
    );

    // Timers: three, at two deadlines, on the virtual clock (never late).
    sink.send_after(Duration::from_millis(10), Msg::Add(1))
        .unwrap();
    sink.send_after(Duration::from_millis(10), Msg::Add(1))
        .unwrap();
    sink.send_after(Duration::from_millis(20), Msg::Add(1))
        .unwrap();
    system
        .scheduler()
        .advance(Duration::from_millis(25))
        .unwrap();
    assert_eq!(registry.counter("zeta_timers_fired_total{}"), 3);
    assert_eq!(
        registry.samples("zeta_timer_lateness_seconds{}"),
        [0.0, 0.0]
    );
    assert_eq!(
        registry.counter("zeta_messages_handled_total{actor=sink}"),
        13
    );

    // Stops, by reason.
    sink.stop().unwrap();
    assert!(fails.kill().is_err()); // ended already: no second stop
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(
        registry.counter("zeta_actors_stopped_total{actor=sink,reason=stopped}"),
        1
    );
    assert_eq!(
        registry.counter("zeta_actors_stopped_total{actor=fails,reason=panicked}"),
        1
    );
    drop(system);

    // Workers: a sharing scheduler's parks and steals, as its own counters say.
    let system = System::sharing_observed(2, Arc::new(Metrics::new())).unwrap();
    let counter = system.spawn_named("counter", Sink(0)).unwrap();
    for n in 0..1000 {
        counter.send(Msg::Add(n)).unwrap();
    }
    assert_eq!(counter.ask(Msg::Get).unwrap().wait(), Ok(499_500));
    system.stop().unwrap();
    let stats = system.scheduler().stats();
    for (worker, stats) in stats.iter().enumerate() {
        assert_eq!(
            registry.counter(&format!("zeta_worker_parks_total{{worker={worker}}}")),
            stats.parks,
            "worker {worker}"
        );
        assert_eq!(
            registry.counter(&format!("zeta_worker_steals_total{{worker={worker}}}")),
            stats.steals,
            "worker {worker}"
        );
    }
    assert_eq!(
        registry.counter("zeta_messages_handled_total{actor=counter}"),
        1001
    );
}
