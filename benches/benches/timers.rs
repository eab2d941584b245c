//! Timers: how late they fire on a `SharingScheduler` (real time), and what arming,
//! firing and cancelling cost on a `ManualScheduler` (virtual time), beside a plain
//! send.
//!
//! # Lateness (printed first; not a criterion figure)
//!
//! A timer armed with [`Address::send_at`] at `now + delay` carries its deadline; the
//! handler reads the clock and records `handled - deadline`: the whole path from the
//! deadline to the handler (the worker's wake-up or its next look at the timers, the
//! fire, the push, the scheduling, the dispatch). Timers are armed one at a time from
//! the measuring thread, the next once the last was handled, at delays of 1 ms and
//! 10 ms, on 1 and 2 workers:
//!
//! - *idle*: nothing else runs, so the worker that sleeps until the deadline (the
//!   *timer sleeper*) is woken by its park's timeout: the OS's timer slack and wake-up;
//! - *busy*: one actor per worker keeps messaging itself (about 0.3 µs of work per
//!   message), so no worker sleeps and the timer is fired when a worker next looks at
//!   the timers, every `CHECK_INTERVAL` (16) resumes of at most `max_throughput` (64)
//!   messages each.
//!
//! - *idle + spin 100 µs*: idle, on a scheduler built with `timer_spin(100 µs)`: the
//!   sleeper wakes 100 µs early and spins (yielding) to the deadline.
//!
//! p50 / p99 / p99.9 / max over the samples ([`SAMPLES_1MS`], [`SAMPLES_10MS`]; scale
//! them with `ZETA_TIMER_SAMPLES`, a multiplier).
//!
//! # Cost (criterion; ns per timer; `iter_custom`, one iteration = one operation)
//!
//! On a `ManualScheduler` driven by the measuring thread, actors in a warmed pool, in
//! batches of [`BATCH`]:
//!
//! - `timers/cost/send` (the baseline): `BATCH` plain sends to a sink, then
//!   `run_until_idle`: a node allocated, pushed, taken, dispatched, freed.
//! - `timers/cost/send-after`: `BATCH` `send_after(1 µs)` (an entry and a node from the
//!   pool, the entry pushed on the arming stack), then `advance(1 µs)`: the entries taken
//!   into the wheel, fired in order (the push), the sink run. The difference from `send`
//!   is a timer's whole cost: arm, wheel, fire, free.
//! - `timers/cost/arm-cancel`: `send_after(1 s)` then `cancel`: the message dropped and
//!   the entry freed at the next look (the wheel sweeps cancelled entries).
//!
//! After the group a line gives each candidate's time over the baseline's; at the end,
//! the global allocations of 1,000 operations of each, after warm-up.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use zeta::arena::PoolResource;
use zeta::{Actor, Context, ManualScheduler, Scheduler, SharingScheduler, System};
use zeta_bench::counting::{self, CountingAlloc};
use zeta_bench::Ratios;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Timers per lateness run at 1 ms.
const SAMPLES_1MS: usize = 2_000;
/// Timers per lateness run at 10 ms.
const SAMPLES_10MS: usize = 300;
/// Timers per measured batch.
const BATCH: u64 = 64;

/// Reports how late each timer's message was handled.
struct Stamp(mpsc::Sender<Duration>);

impl Actor for Stamp {
    type Message = Instant;
    fn handle(&mut self, deadline: Instant, _ctx: &mut Context<'_, Self>) {
        let now = Instant::now();
        assert!(now >= deadline, "a timer fired early");
        let _ = self.0.send(now - deadline);
    }
}

/// Keeps a worker busy: messages itself forever, with a little work per message.
struct Spinner;

impl Actor for Spinner {
    type Message = ();
    fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
        let mut x = 0u64;
        for i in 0..300u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        std::hint::black_box(x);
        let _ = ctx.address().send(());
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn lateness(workers: usize, busy: bool, spin: Duration, delay: Duration, samples: usize) {
    let scheduler = SharingScheduler::builder()
        .workers(workers)
        .max_throughput(64)
        .spin_before_park(64)
        .timer_spin(spin)
        .build()
        .unwrap();
    scheduler.start().unwrap();
    let system = System::new(Arc::new(scheduler), Arc::new(PoolResource::new()));
    let spinners: Vec<_> = if busy {
        (0..workers)
            .map(|_| {
                let spinner = system.spawn(Spinner).unwrap();
                spinner.send(()).unwrap();
                spinner
            })
            .collect()
    } else {
        Vec::new()
    };
    let (tx, rx) = mpsc::channel();
    let stamp = system.spawn(Stamp(tx)).unwrap();
    let mut late = Vec::with_capacity(samples);
    for _ in 0..samples {
        let deadline = Instant::now() + delay;
        drop(stamp.send_at(deadline, deadline).unwrap());
        late.push(
            rx.recv_timeout(Duration::from_secs(60))
                .expect("a timer fired"),
        );
    }
    for spinner in &spinners {
        spinner.kill().unwrap();
    }
    system.shutdown(Duration::from_secs(60)).unwrap();
    late.sort_unstable();
    println!(
        "timers/lateness/{workers}-worker/{}{}/{} ms: p50 {:.2?} p99 {:.2?} p99.9 {:.2?} max {:.2?} ({samples} timers)",
        if busy { "busy" } else { "idle" },
        if spin.is_zero() {
            String::new()
        } else {
            format!("+spin {spin:?}")
        },
        delay.as_millis(),
        percentile(&late, 0.50),
        percentile(&late, 0.99),
        percentile(&late, 0.999),
        late[late.len() - 1],
    );
}

struct Sink(u64);

impl Actor for Sink {
    type Message = u64;
    fn handle(&mut self, n: u64, _ctx: &mut Context<'_, Self>) {
        self.0 = self.0.wrapping_add(n);
    }
}

fn cost(c: &mut Criterion, allocations: &mut Vec<(String, u64)>) {
    let name = "timers/cost";
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    let mut ratios = Ratios::default();
    let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
    let system = System::new(scheduler.clone(), Arc::new(PoolResource::new()));
    let sink = system.spawn(Sink(0)).unwrap();

    let send = || {
        for n in 0..BATCH {
            sink.send(n).unwrap();
        }
        scheduler.run_until_idle().unwrap();
    };
    let send_after = || {
        for n in 0..BATCH {
            drop(sink.send_after(Duration::from_micros(1), n).unwrap());
        }
        scheduler.advance(Duration::from_micros(1)).unwrap();
    };
    let arm_cancel = || {
        for n in 0..BATCH {
            sink.send_after(Duration::from_secs(1), n).unwrap().cancel();
        }
        // The next look sweeps the cancelled entries out of the wheel.
        scheduler.run_until_idle().unwrap();
        scheduler.advance(Duration::from_nanos(1)).unwrap();
    };
    for (candidate, op) in [
        ("send", &send as &dyn Fn()),
        ("send-after", &send_after),
        ("arm-cancel", &arm_cancel),
    ] {
        group.bench_function(candidate, |b| {
            b.iter_custom(|iterations| {
                let batches = iterations.div_ceil(BATCH);
                let start = Instant::now();
                for _ in 0..batches {
                    op();
                }
                let took = start.elapsed();
                ratios.record(candidate, batches * BATCH, took);
                took.mul_f64(iterations as f64 / (batches * BATCH) as f64)
            })
        });
        for _ in 0..1_000 / BATCH as usize {
            op();
        }
        let count = counting::global_allocations(|| {
            for _ in 0..1_000 / BATCH as usize {
                op();
            }
        });
        allocations.push((
            format!("{candidate} ({} timers)", 1_000 / BATCH * BATCH),
            count,
        ));
    }
    group.finish();
    println!("{}", ratios.report(name, "send"));
}

fn main() {
    assert!(
        counting::installed(),
        "the counting allocator is this binary's global allocator"
    );
    let scale: f64 = std::env::var("ZETA_TIMER_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    if wanted("timers/lateness") {
        let spin = Duration::from_micros(100);
        for workers in [1, 2] {
            for (busy, spin) in [
                (false, Duration::ZERO),
                (false, spin),
                (true, Duration::ZERO),
            ] {
                for (delay, samples) in [
                    (Duration::from_millis(1), SAMPLES_1MS),
                    (Duration::from_millis(10), SAMPLES_10MS),
                ] {
                    let samples = ((samples as f64 * scale) as usize).max(10);
                    lateness(workers, busy, spin, delay, samples);
                }
            }
        }
    }
    let mut criterion = zeta_bench::criterion();
    let mut allocations = Vec::new();
    cost(&mut criterion, &mut allocations);
    criterion.final_summary();
    for (candidate, count) in allocations {
        println!("timers allocations: {candidate}: {count} global allocations");
    }
}
