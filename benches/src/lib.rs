//! zeta's benchmarks, and the helpers they share.
//!
//! The criterion benches live in `benches/` of this crate and are regression
//! instruments, not marketing: each file's header says what it measures, what is inside
//! the timed region, and which baseline it is compared against. `README.md` beside this
//! crate tells how to run them and how to read the output.
//!
//! - `benches/inbox.rs`: cost per message of the mailbox path (allocate an
//!   [`Envelope`](zeta_mailbox::Envelope) from a pool, push, take, pop, dispatch), one
//!   and two producers, against a `Mutex<VecDeque>` and crossbeam channels.
//! - `benches/pool.rs`: cost of an allocate + free of a message-sized block through
//!   [`MemoryResource`](zeta_arena::MemoryResource), on one thread and with the free on
//!   another thread, for the pool, the system allocator and a mutex free list.
//! - `benches/actors.rs`: cost per operation of the actor paths of `zeta`: a
//!   ping-pong round trip and an ask + reply between two actors, a request from an
//!   outside thread with each wait strategy, and spawn + stop of an actor in a pool, an
//!   arena and the global allocator; with a count of global allocations per operation.
//! - `benches/patterns.rs`: zeta in the shapes users build, per message: fan-in from four
//!   outside threads to one actor (against a crossbeam channel), a `Broadcast` to 100
//!   actors (and the 1 → 4 fan-out), and a token passed around a ring of 100 actors; with
//!   a count of global allocations per message.
//!
//! The actor benches and the runner's cases also run on [`floor`]: a hand-rolled,
//! single-threaded actor loop with no atomics, the baseline zeta's figures are divided
//! by.
//!
//! This library holds what more than one bench needs to measure threads honestly:
//!
//! - [`Backoff`]: spin, then yield; the one polling policy every candidate's consumer
//!   uses, so that no candidate wins by waiting differently.
//! - [`StartGate`] and [`run_rounds`]: worker threads spawned once, outside the timed
//!   region, and released together for each timed round by a spin handshake, so that
//!   neither thread spawning nor the wake-up of a sleeping thread is measured.
//! - [`counting`]: a global allocator that counts allocations while asked to, which each
//!   bench binary installs to print (and assert) its global allocations per operation.
//! - [`Ratios`]: each candidate's mean time per operation over a baseline's, printed
//!   after a criterion group (criterion prints no ratios).
//!
//! The crate also holds the bench runner, `src/runner.rs` (`cargo run --release -p
//! zeta-bench -- --help`): a subset of the Savina actor benchmarks, one table.
//! And `rmw-probe` (`src/bin/rmw_probe.rs`), which `scripts/rmw-count.sh` runs under
//! callgrind to count instructions and atomic read-modify-writes per message.
//!
//! # Example
//!
//! Two workers each add 1 000 to a counter per round; the leader times the rounds from
//! the moment both workers are running.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::time::Duration;
//! use zeta_bench::{run_rounds, Backoff};
//!
//! let counter = AtomicU64::new(0);
//! let timed = run_rounds(
//!     2,
//!     |_worker| {
//!         for _ in 0..1_000 {
//!             counter.fetch_add(1, Ordering::Relaxed);
//!         }
//!     },
//!     |gate| {
//!         let mut total = Duration::ZERO;
//!         for round in 1..=3u64 {
//!             let start = gate.open();
//!             let mut backoff = Backoff::new();
//!             while counter.load(Ordering::Relaxed) < round * 2_000 {
//!                 backoff.snooze();
//!             }
//!             total += start.elapsed();
//!         }
//!         total
//!     },
//! );
//! assert_eq!(counter.load(Ordering::Relaxed), 6_000);
//! assert!(timed > Duration::ZERO);
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(
    missing_docs,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

pub mod counting;
pub mod floor;

use std::hint;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::Criterion;

/// Spin with exponential backoff, then yield the CPU: how a bench thread waits for
/// something another thread will do soon.
///
/// It never parks: a parked thread's wake-up (tens of microseconds) would dominate what
/// the benches measure. It yields after a few rounds of spinning so that a bench with
/// more threads than cores still makes progress.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use zeta_bench::Backoff;
///
/// let flag = AtomicBool::new(false);
/// std::thread::scope(|s| {
///     s.spawn(|| flag.store(true, Ordering::Release));
///     let mut backoff = Backoff::new();
///     while !flag.load(Ordering::Acquire) {
///         backoff.snooze();
///     }
/// });
/// ```
#[derive(Debug, Default)]
pub struct Backoff {
    step: u32,
}

impl Backoff {
    /// Steps of spinning (2^step spin hints each) before yielding.
    const SPIN_LIMIT: u32 = 6;

    /// A fresh backoff, starting with the shortest spin.
    pub const fn new() -> Self {
        Self { step: 0 }
    }

    /// Waits a little: spins `2^step` times while `step` is small, then yields the CPU.
    #[inline]
    pub fn snooze(&mut self) {
        if self.step <= Self::SPIN_LIMIT {
            for _ in 0..1u32 << self.step {
                hint::spin_loop();
            }
            self.step += 1;
        } else {
            thread::yield_now();
        }
    }

    /// Back to the shortest spin, after the awaited thing happened.
    #[inline]
    pub fn reset(&mut self) {
        self.step = 0;
    }
}

/// Releases a fixed set of worker threads together for each timed round.
///
/// Between rounds the workers sleep on a [`Barrier`], so idle workers cost no CPU. A
/// round starts in two steps: [`open`](StartGate::open) first passes the barrier and
/// spins until every worker is awake and spinning (not timed), then takes the start
/// time and releases them with one store. So the timed region contains neither thread
/// spawning nor the wake-up of a sleeping thread, only the propagation of one cache
/// line to the spinning workers.
///
/// Exactly one thread, the leader, calls `open` and `close`; `workers` other threads
/// call [`wait`](StartGate::wait). [`run_rounds`] wires this up.
#[derive(Debug)]
pub struct StartGate {
    workers: usize,
    /// `workers + 1` parties: where workers sleep between rounds.
    barrier: Barrier,
    /// Workers awake in this round and spinning on `go`.
    ready: AtomicUsize,
    /// Round counter; a change releases the spinning workers.
    go: AtomicUsize,
    /// Set before the last barrier: the workers leave instead of running a round.
    stop: AtomicBool,
}

impl StartGate {
    /// A gate for `workers` worker threads plus one leader.
    pub fn new(workers: usize) -> Self {
        Self {
            workers,
            barrier: Barrier::new(workers + 1),
            ready: AtomicUsize::new(0),
            go: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        }
    }

    /// Worker side: sleeps until the leader opens the next round and returns `true` when
    /// it starts, or returns `false` once the leader has closed the gate.
    pub fn wait(&self) -> bool {
        self.barrier.wait();
        // Relaxed: `close` stores `stop` before its barrier wait, and the barrier (a
        // mutex inside) orders that store before our return from `wait` above.
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        // Relaxed: this value is only compared with later loads. It cannot be this
        // round's increment: see the `ready` increment below.
        let seen = self.go.load(Ordering::Relaxed);
        // Release: pairs with the Acquire load of `ready` in `open`, which waits for this
        // increment before incrementing `go`. So our load of `go` above happens before
        // that increment and reads the previous round's value: we cannot miss the start.
        self.ready.fetch_add(1, Ordering::Release);
        let mut backoff = Backoff::new();
        // Acquire: pairs with the Release increment in `open`, see there.
        while self.go.load(Ordering::Acquire) == seen {
            backoff.snooze();
        }
        true
    }

    /// Leader side: wakes the workers, waits until all of them spin, then starts the
    /// clock and releases them. Returns the start time of the round.
    pub fn open(&self) -> Instant {
        self.barrier.wait();
        let mut backoff = Backoff::new();
        // Acquire: pairs with each worker's Release increment, see `wait`.
        while self.ready.load(Ordering::Acquire) < self.workers {
            backoff.snooze();
        }
        // Relaxed: no worker touches `ready` again before the next barrier, which orders
        // this store before their next increment.
        self.ready.store(0, Ordering::Relaxed);
        let start = Instant::now();
        // Release: pairs with the workers' Acquire loads of `go`: whatever the leader set
        // up before the round is visible to them when they start.
        self.go.fetch_add(1, Ordering::Release);
        start
    }

    /// Leader side: lets the workers return from [`wait`](StartGate::wait) with `false`.
    /// Waits until every worker has finished its current round.
    pub fn close(&self) {
        // Relaxed: the barrier below orders it before the workers' load (see `wait`).
        self.stop.store(true, Ordering::Relaxed);
        self.barrier.wait();
    }
}

/// Closes the gate when the leader is done, also if it unwinds, so the scope can join.
struct CloseOnDrop<'g>(&'g StartGate);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Runs `lead` on this thread and `workers` threads that run `work(index)` once per round
/// the leader opens with [`StartGate::open`].
///
/// The workers are spawned before `lead` starts and joined after it returns (the gate is
/// closed then, also if `lead` panics), so none of that is inside a timed round. Returns
/// what `lead` returns.
///
/// A round ends when the leader decides (typically when it has received everything the
/// workers produce); the next `open` waits for every worker to be back at the gate.
/// What the leader sets up for the next round before calling `open` can still be seen
/// by a worker of the previous round that has not started yet: one that produces
/// nothing may not have, when the leader has received everything. If workers read
/// per-round parameters, have them signal when they are done and wait for that.
///
/// # Panics
///
/// Propagates a panic of `lead` or of a worker. A worker that panics mid-round leaves
/// the leader waiting for it, so `work` should not panic.
pub fn run_rounds<W, L, T>(workers: usize, work: W, lead: L) -> T
where
    W: Fn(usize) + Sync,
    L: FnOnce(&StartGate) -> T,
{
    let gate = StartGate::new(workers);
    thread::scope(|s| {
        for index in 0..workers {
            let (gate, work) = (&gate, &work);
            s.spawn(move || {
                while gate.wait() {
                    work(index);
                }
            });
        }
        let _close = CloseOnDrop(&gate);
        lead(&gate)
    })
}

/// Each candidate's time per operation in a criterion group, next to a baseline's: the
/// ratio that criterion does not print.
///
/// Record every timed call of a benchmark's `iter_custom` routine (its iterations and
/// the time it returns) under the candidate's name; [`report`](Ratios::report) then
/// gives each candidate's mean time per iteration and its ratio to the baseline's.
/// The means are over every call criterion made, its warm-up included, so they are not
/// criterion's estimates (printed above, per benchmark); the ratio of two such means,
/// taken over seconds of calls, is what to track.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zeta_bench::Ratios;
///
/// let mut ratios = Ratios::default();
/// ratios.record("floor", 1_000, Duration::from_micros(10));
/// ratios.record("zeta", 500, Duration::from_micros(20));
/// ratios.record("zeta", 500, Duration::from_micros(20));
/// assert_eq!(ratios.ratio("zeta", "floor"), Some(4.0));
/// assert_eq!(
///     ratios.report("group", "floor"),
///     "group: time per op ÷ floor's (means of every timed call, warm-up included): \
///      floor 10.0 ns, zeta 40.0 ns (×4.00)"
/// );
/// ```
#[derive(Debug, Default)]
pub struct Ratios {
    /// Per candidate, in the order first recorded: iterations and time.
    totals: Vec<(String, u64, Duration)>,
}

impl Ratios {
    /// Adds one timed call of `candidate`: `iterations` in `took`.
    pub fn record(&mut self, candidate: &str, iterations: u64, took: Duration) {
        match self.totals.iter_mut().find(|(name, ..)| name == candidate) {
            Some((_, n, time)) => {
                *n += iterations;
                *time += took;
            }
            None => self.totals.push((candidate.to_owned(), iterations, took)),
        }
    }

    /// Mean ns per iteration of `candidate`, if it recorded any.
    pub fn mean_ns(&self, candidate: &str) -> Option<f64> {
        self.totals
            .iter()
            .find(|(name, ..)| name == candidate)
            .filter(|(_, n, _)| *n > 0)
            .map(|(_, n, time)| time.as_nanos() as f64 / *n as f64)
    }

    /// `candidate`'s mean time per iteration divided by `baseline`'s.
    pub fn ratio(&self, candidate: &str, baseline: &str) -> Option<f64> {
        Some(self.mean_ns(candidate)? / self.mean_ns(baseline)?)
    }

    /// One line: every candidate's mean, and its ratio to `baseline`'s.
    pub fn report(&self, group: &str, baseline: &str) -> String {
        let mut line = format!(
            "{group}: time per op ÷ {baseline}'s (means of every timed call, warm-up included):"
        );
        for (i, (name, ..)) in self.totals.iter().enumerate() {
            let mean = self.mean_ns(name).unwrap_or(f64::NAN);
            line.push_str(if i == 0 { " " } else { ", " });
            line.push_str(&format!("{name} {mean:.1} ns"));
            if name != baseline {
                match self.ratio(name, baseline) {
                    Some(ratio) => line.push_str(&format!(" (×{ratio:.2})")),
                    None => line.push_str(" (no baseline timed)"),
                }
            }
        }
        line
    }
}

/// The `Criterion` every bench in this crate uses: short by default, so the whole suite
/// runs in minutes (1 s warm-up, 2 s measurement, 20 samples).
///
/// These are set before `configure_from_args`, so the command line (`--warm-up-time`,
/// `--measurement-time`, `--sample-size`) still overrides them; per-group settings
/// would not. (The `criterion_group!` macro would do the same, but generates an
/// undocumented `pub fn`.)
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn rounds_run_every_worker_once_each() {
        let hits = AtomicU64::new(0);
        let rounds = run_rounds(
            3,
            |worker| {
                hits.fetch_add(1 << (16 * worker), Ordering::Relaxed);
            },
            |gate| {
                for round in 1..=5u64 {
                    gate.open();
                    let target = round * (1 + (1 << 16) + (1 << 32));
                    let mut backoff = Backoff::new();
                    while hits.load(Ordering::Relaxed) != target {
                        backoff.snooze();
                    }
                }
                5
            },
        );
        assert_eq!(rounds, 5);
        assert_eq!(
            hits.load(Ordering::Relaxed),
            5 * (1 + (1 << 16) + (1 << 32))
        );
    }

    #[test]
    fn counting_needs_the_allocator_installed() {
        // The library's test binary does not install `CountingAlloc`.
        assert!(!counting::installed());
        assert_eq!(
            counting::global_allocations(|| drop(std::hint::black_box(vec![1u8; 64]))),
            0
        );
    }

    #[test]
    fn no_round_no_work() {
        let hits = AtomicU64::new(0);
        run_rounds(
            2,
            |_| {
                hits.fetch_add(1, Ordering::Relaxed);
            },
            |_| (),
        );
        assert_eq!(hits.load(Ordering::Relaxed), 0);
    }
}

/// The observers the runner and rmw-probe install (zeta's `observe` feature; BENCHMARKS.md,
/// "Hooks").
#[cfg(feature = "observe")]
pub mod observe {
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Counts what it is told with relaxed atomics (the messages of its runs, and each
    /// message it is told of): the observer of `runs` and `all`, and of rmw-probe's
    /// `manual-runs` and `manual-all`.
    pub struct Counting(pub zeta::observe::Interests, pub AtomicU64);

    impl zeta::observe::Observer for Counting {
        fn interests(&self) -> zeta::observe::Interests {
            self.0
        }
        fn on_run(&self, _: &zeta::observe::ActorInfo, run: zeta::observe::Run) {
            self.1.fetch_add(run.handled as u64, Ordering::Relaxed);
        }
        fn on_message(&self, _: &zeta::observe::ActorInfo) {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }
}
