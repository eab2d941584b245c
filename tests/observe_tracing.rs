//! The `tracing` feature: `zeta::observe::Tracing` under a subscriber of the test's
//! own that records every event and every span entered and exited, checked line by
//! line for a small program on a manual scheduler (so everything happens on the test's
//! thread, under its default subscriber).
#![cfg(all(feature = "tracing", not(zeta_loom)))]

mod observe_common;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use zeta::observe::Tracing;
use zeta::{Actor, Context, System};

/// Records `LEVEL target message k=v ...` for events, `enter name k=v ...` and `exit
/// name` for spans.
#[derive(Default)]
struct Recording {
    next: AtomicU64,
    spans: Mutex<Vec<String>>,
    lines: Arc<Mutex<Vec<String>>>,
}

/// `message` first, then the other fields as `k=v`, in order.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn core::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.rest, " {}={value}", field.name());
    }
}

impl Subscriber for Recording {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields::default();
        span.record(&mut fields);
        let mut spans = self.spans.lock().unwrap();
        spans.push(format!("{}{}", span.metadata().name(), fields.rest));
        self.next.fetch_add(1, Ordering::Relaxed);
        Id::from_u64(spans.len() as u64)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        self.lines.lock().unwrap().push(format!(
            "{} {} {}{}",
            meta.level(),
            meta.target(),
            fields.message,
            fields.rest
        ));
    }

    fn enter(&self, span: &Id) {
        let name = self.spans.lock().unwrap()[span.into_u64() as usize - 1].clone();
        self.lines.lock().unwrap().push(format!("enter {name}"));
    }

    fn exit(&self, span: &Id) {
        let name = self.spans.lock().unwrap()[span.into_u64() as usize - 1].clone();
        let name = name.split(' ').next().unwrap_or_default().to_owned();
        self.lines.lock().unwrap().push(format!("exit {name}"));
    }
}

struct Greeter;

impl Actor for Greeter {
    type Message = &'static str;
    fn handle(&mut self, who: &'static str, ctx: &mut Context<'_, Self>) {
        tracing::info!(who, "hello");
        if who == "panic" {
            panic!("on purpose");
        }
        if who == "bye" {
            ctx.stop();
        }
    }
}

fn record(observer: Tracing, program: impl FnOnce(&System<zeta::ManualScheduler>)) -> Vec<String> {
    let recording = Recording::default();
    let lines = recording.lines.clone();
    tracing::subscriber::with_default(recording, || {
        let system = System::manual_observed(64, Arc::new(observer)).unwrap();
        program(&system);
    });
    let lines = lines.lock().unwrap().clone();
    lines
}

#[test]
fn lifecycle_events_and_message_spans() {
    let mut id = 0;
    let lines = record(Tracing::new().with_message_spans(), |system| {
        let greeter = system.spawn_named("greeter", Greeter).unwrap();
        id = greeter.id().get();
        greeter.send("ann").unwrap();
        greeter.send("bye").unwrap();
        system.scheduler().run_until_idle().unwrap();
    });
    let who = format!("actor=greeter#{id} actor.id={id} actor.type=observe_tracing::Greeter");
    assert_eq!(
        lines,
        [
            format!("DEBUG zeta spawned {who}"),
            format!("DEBUG zeta started {who}"),
            format!("enter message {who}"),
            "INFO observe_tracing hello who=ann".to_owned(),
            "exit message".to_owned(),
            format!("enter message {who}"),
            "INFO observe_tracing hello who=bye".to_owned(),
            "exit message".to_owned(),
            format!("DEBUG zeta stopped {who} reason=stopped"),
        ]
    );
}

#[test]
fn runs_and_a_panic() {
    observe_common::quiet_panics();
    let mut id = 0;
    let lines = record(Tracing::new().with_runs().with_message_spans(), |system| {
        let greeter = system.spawn(Greeter).unwrap();
        id = greeter.id().get();
        greeter.send("bob").unwrap();
        system.scheduler().run_until_idle().unwrap();
        greeter.send("panic").unwrap();
        system.scheduler().run_until_idle().unwrap();
    });
    let who = format!("actor=Greeter#{id} actor.id={id} actor.type=observe_tracing::Greeter");
    assert_eq!(
        lines,
        [
            format!("DEBUG zeta spawned {who}"),
            format!("DEBUG zeta started {who}"),
            format!("enter message {who}"),
            "INFO observe_tracing hello who=bob".to_owned(),
            "exit message".to_owned(),
            format!("TRACE zeta run {who} handled=1 backlog=0"),
            format!("enter message {who}"),
            "INFO observe_tracing hello who=panic".to_owned(),
            // The span of the panicking message closes before the panic is told.
            "exit message".to_owned(),
            format!("ERROR zeta panicked {who} panic=on purpose"),
            format!("WARN zeta stopped {who} reason=panicked: on purpose"),
        ]
    );
}

#[test]
fn without_opt_ins_only_the_lifecycle() {
    let lines = record(Tracing::new(), |system| {
        let greeter = system.spawn(Greeter).unwrap();
        greeter.send("cy").unwrap();
        system.scheduler().run_until_idle().unwrap();
    });
    let kinds: Vec<&str> = lines
        .iter()
        .map(|line| line.split(' ').nth(2).unwrap_or_default())
        .collect();
    // The address went at the end of the program: the idle actor ended with it.
    assert_eq!(kinds, ["spawned", "started", "hello", "stopped"]);
    assert!(
        lines[3].ends_with("reason=every address was dropped"),
        "{}",
        lines[3]
    );
}
