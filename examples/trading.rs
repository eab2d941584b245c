//! A trading pipeline on a 2-worker [`SharingScheduler`]: market data → strategy → risk
//! → order gateway, with cancels and a kill switch sent at high priority.
//!
//! # The design it shows
//!
//! - A feed thread (outside the scheduler) publishes `TICKS` ticks to the strategy actor,
//!   each stamped with `Instant::now()` just before it is sent. It keeps at most
//!   `WINDOW` ticks in flight (credit-based flow control on the strategy's progress), so
//!   the latency figures measure the pipeline, not an ever-growing backlog. The window
//!   trades latency for throughput: the ticks in it wait their turn at the strategy, so
//!   a smaller window gives lower latency and fewer messages per second.
//! - The strategy keeps a moving average of the last `MA_LEN` prices and orders when the
//!   price crosses it (buy on crossing up, sell on crossing down; the quantity grows with
//!   the distance). Risk keeps the position within `±POSITION_LIMIT`, rejects what would
//!   break it, and forwards the rest. The gateway records each order in a log and its
//!   tick-to-order latency (`Instant::elapsed` of the tick's stamp) into a `Vec`
//!   preallocated for every tick, so recording never allocates.
//! - Cancels travel at high priority. Mid-stream the main thread makes queued normal
//!   messages observable: it asks the gateway to `Hold` (the gateway replies with how
//!   many orders it has logged, then blocks its worker until main opens a latch: a
//!   test-harness trick, never something to do in production). Strategy and risk keep running on the
//!   other worker, so orders pile up in the gateway's inbox. When risk reports (by an
//!   `ask_high`) that at least `QUEUED_MIN` orders were forwarded past the gate, main
//!   sends a burst of `CANCELS` cancels with `send_high`, for the most recent resting
//!   orders, and releases the gate.
//! - Near the end, main sends the kill switch to risk with `ask_high`; risk answers with
//!   the sequence of the last order it handled before the switch, and blocks every order
//!   after it.
//! - The feed thread ends the stream with a `Drain` request through the whole pipeline:
//!   each stage adds its counters to the report and passes the request on behind its
//!   last order (per-sender FIFO), and the gateway answers it.
//!
//! # What it checks (exit code 1 on the first failure)
//!
//! Expected values come from running the same price feed, strategy rule and risk limit
//! sequentially in this program.
//!
//! - High overtakes queued normal: with `Q ≥ 1` orders (normal priority, sent by risk)
//!   known to be in the gateway's inbox before the first cancel was sent (risk had
//!   forwarded them before answering main's query, and main sent the cancels after the
//!   answer), the log shows the gate, then the `CANCELS` cancels, then those `Q` orders.
//!   Each cancel found its resting order.
//! - FIFO per sender within a priority: the cancels (main, high) are handled in the
//!   order sent; the orders (risk, normal) reach the gateway in sequence order, and the
//!   whole order log equals the expected one; the ticks (the feed, normal) reach the
//!   strategy in sequence order. Nothing is asserted about the order between different
//!   senders of the same priority: zeta promises none.
//! - Kill switch: once the switch is acknowledged with sequence `K`, no order with a
//!   sequence after `K` reaches the gateway. Exact counts: the gateway logged exactly the
//!   orders the rule and the limit give for ticks up to `K`; risk rejected exactly the
//!   expected number up to `K` and blocked every candidate after `K` (at least one).
//! - Every tick was handled, no send failed, the latency `Vec` never reallocated, and
//!   after the actors are dropped and the scheduler is stopped no memory block is live.
//!
//! It prints the tick-to-order latency p50/p99/p99.9/max (orders whose tick was
//! published before the gate was released are left out, since their latency includes
//! the artificial hold; their number and maximum are printed apart) and the messages per
//! second handled by the three actors over the whole run.
//!
//! Run: `cargo run --release --example trading`

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use zeta::arena::{CountingResource, PoolResource};
use zeta::scheduler::Scheduler;
use zeta::{Actor, Address, Context, Future, Reply, SharingScheduler, System};

const TICKS: u64 = 200_000;
/// Ticks published but not yet handled by the strategy, at most.
const WINDOW: u64 = 64;
const MA_LEN: usize = 16;
const POSITION_LIMIT: i64 = 8;
const CANCELS: usize = 16;
/// Orders that must be queued behind the held gateway before the cancels are sent.
const QUEUED_MIN: u64 = 64;
/// Ticks published when main stages the cancel burst, and when it pulls the kill switch.
const CANCEL_AT: u64 = TICKS / 2;
const KILL_AT: u64 = TICKS * 9 / 10;
/// How long main waits for any one stage before it gives up.
const PATIENCE: Duration = Duration::from_secs(10);

/// A deterministic random walk, one price per tick.
struct PriceFeed {
    state: u64,
    price: i64,
}

impl PriceFeed {
    fn new() -> Self {
        Self {
            state: 0x2545_F491_4F6C_DD1D,
            price: 100_000,
        }
    }

    fn next_price(&mut self) -> i64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.price += (self.state % 7) as i64 - 3;
        self.price
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Buy,
    Sell,
}

/// The strategy's rule: order when the price crosses its moving average.
struct Signal {
    window: [i64; MA_LEN],
    sum: i64,
    seen: usize,
    above: Option<bool>,
}

impl Signal {
    fn new() -> Self {
        Self {
            window: [0; MA_LEN],
            sum: 0,
            seen: 0,
            above: None,
        }
    }

    fn on_price(&mut self, price: i64) -> Option<(Side, i64)> {
        let slot = self.seen % MA_LEN;
        self.sum += price - self.window[slot];
        self.window[slot] = price;
        self.seen += 1;
        if self.seen < MA_LEN {
            return None;
        }
        let diff = price * MA_LEN as i64 - self.sum;
        if diff == 0 {
            return None; // on the average: no crossing either way
        }
        let above = diff > 0;
        match self.above.replace(above) {
            Some(before) if before != above => {
                let side = if above { Side::Buy } else { Side::Sell };
                Some((side, 1 + (diff.abs() / MA_LEN as i64) % 5))
            }
            _ => None,
        }
    }
}

/// Risk's rule: the position stays within `±POSITION_LIMIT`.
struct Limits {
    position: i64,
}

impl Limits {
    fn allows(&mut self, side: Side, qty: i64) -> bool {
        let next = match side {
            Side::Buy => self.position + qty,
            Side::Sell => self.position - qty,
        };
        if next.abs() > POSITION_LIMIT {
            return false;
        }
        self.position = next;
        true
    }
}

/// An order as the gateway logs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fill {
    seq: u64,
    side: Side,
    qty: i64,
    price: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    Order(Fill),
    /// Where the gateway was held (and released).
    Gate,
    /// A cancel: its number in the burst, the order it targets, whether that order was
    /// resting.
    Cancel {
        id: usize,
        target: u64,
        hit: bool,
    },
}

struct Tick {
    seq: u64,
    price: i64,
    at: Instant,
}

struct Order {
    fill: Fill,
    /// When the tick that caused it was published.
    tick_at: Instant,
}

/// What each stage adds to the report on `Drain`.
#[derive(Default)]
struct Report {
    // strategy
    ticks: u64,
    ticks_out_of_order: u64,
    candidates: u64,
    // risk
    risk_received: u64,
    rejected: u64,
    blocked: u64,
    forwarded: u64,
    // gateway
    log: Vec<Entry>,
    latencies_ns: Vec<u64>,
    latency_capacity: usize,
    held: u64,
    held_max_ns: u64,
    // all stages
    undelivered: u64,
}

/// What holds the gateway: opened once by main, on every path (also on errors), so the
/// gateway's worker is never left blocked.
#[derive(Default)]
struct Latch {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Latch {
    fn open(&self) {
        *self.open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.opened.notify_all();
    }

    fn wait_open(&self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        while !*open {
            open = self.opened.wait(open).unwrap_or_else(|e| e.into_inner());
        }
    }
}

struct KillAck {
    /// The last order risk handled before the switch.
    last_order_seq: Option<u64>,
    forwarded: u64,
}

// ---------------------------------------------------------------------------------------
// The actors.

enum StrategyMsg {
    Tick(Tick),
    Drain(Reply<Report>),
}

struct Strategy {
    signal: Signal,
    risk: Address<Risk>,
    /// Ticks handled, published for the feed's flow control.
    progress: Arc<AtomicU64>,
    next_seq: u64,
    report: Report,
}

impl Actor for Strategy {
    type Message = StrategyMsg;

    fn handle(&mut self, message: StrategyMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            StrategyMsg::Tick(tick) => {
                if tick.seq != self.next_seq {
                    self.report.ticks_out_of_order += 1;
                }
                self.next_seq = tick.seq + 1;
                self.report.ticks += 1;
                if let Some((side, qty)) = self.signal.on_price(tick.price) {
                    self.report.candidates += 1;
                    let order = Order {
                        fill: Fill {
                            seq: tick.seq,
                            side,
                            qty,
                            price: tick.price,
                        },
                        tick_at: tick.at,
                    };
                    if self.risk.send(RiskMsg::Order(order)).is_err() {
                        self.report.undelivered += 1;
                    }
                }
                // Release: pairs with the feed's Acquire load; only a credit count.
                self.progress.store(self.report.ticks, Ordering::Release);
            }
            StrategyMsg::Drain(reply) => {
                let report = core::mem::take(&mut self.report);
                // On failure the reply is dropped with the message: the asker sees
                // `NoReply`.
                let _ = self.risk.send(RiskMsg::Drain(reply, report));
            }
        }
    }
}

enum RiskMsg {
    Order(Order),
    /// How many orders have been forwarded so far.
    Forwarded(Reply<u64>),
    KillSwitch(Reply<KillAck>),
    Drain(Reply<Report>, Report),
}

struct Risk {
    limits: Limits,
    gateway: Address<Gateway>,
    killed: bool,
    last_order_seq: Option<u64>,
    received: u64,
    rejected: u64,
    blocked: u64,
    forwarded: u64,
    undelivered: u64,
}

impl Actor for Risk {
    type Message = RiskMsg;

    fn handle(&mut self, message: RiskMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            RiskMsg::Order(order) => {
                self.received += 1;
                if self.killed {
                    self.blocked += 1;
                    return;
                }
                self.last_order_seq = Some(order.fill.seq);
                if !self.limits.allows(order.fill.side, order.fill.qty) {
                    self.rejected += 1;
                } else if self.gateway.send(GatewayMsg::Order(order)).is_ok() {
                    self.forwarded += 1;
                } else {
                    self.undelivered += 1;
                }
            }
            RiskMsg::Forwarded(reply) => {
                let _ = reply.send(self.forwarded);
            }
            RiskMsg::KillSwitch(reply) => {
                self.killed = true;
                let _ = reply.send(KillAck {
                    last_order_seq: self.last_order_seq,
                    forwarded: self.forwarded,
                });
            }
            RiskMsg::Drain(reply, mut report) => {
                report.risk_received = self.received;
                report.rejected = self.rejected;
                report.blocked = self.blocked;
                report.forwarded = self.forwarded;
                report.undelivered += self.undelivered;
                let _ = self.gateway.send(GatewayMsg::Drain(reply, report));
            }
        }
    }
}

enum GatewayMsg {
    Order(Order),
    Cancel {
        id: usize,
        target: u64,
    },
    /// Reply with the number of orders logged, then block until the latch opens.
    Hold(Reply<usize>, Arc<Latch>),
    Drain(Reply<Report>, Report),
}

struct Gateway {
    log: Vec<Entry>,
    /// Resting orders, by sequence (ascending: risk sends in order): cancelled or not.
    book: Vec<(u64, bool)>,
    latencies_ns: Vec<u64>,
    released_at: Option<Instant>,
    held: u64,
    held_max_ns: u64,
}

impl Gateway {
    fn new() -> Self {
        Self {
            log: Vec::with_capacity(TICKS as usize + CANCELS + 1),
            book: Vec::with_capacity(TICKS as usize),
            latencies_ns: Vec::with_capacity(TICKS as usize),
            released_at: None,
            held: 0,
            held_max_ns: 0,
        }
    }
}

impl Actor for Gateway {
    type Message = GatewayMsg;

    fn handle(&mut self, message: GatewayMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            GatewayMsg::Order(order) => {
                let latency = order.tick_at.elapsed().as_nanos() as u64;
                let held = self.released_at.is_some_and(|at| order.tick_at < at);
                if held {
                    self.held += 1;
                    self.held_max_ns = self.held_max_ns.max(latency);
                } else {
                    self.latencies_ns.push(latency);
                }
                self.log.push(Entry::Order(order.fill));
                self.book.push((order.fill.seq, false));
            }
            GatewayMsg::Cancel { id, target } => {
                let hit = match self.book.binary_search_by_key(&target, |&(seq, _)| seq) {
                    Ok(i) => !core::mem::replace(&mut self.book[i].1, true),
                    Err(_) => false,
                };
                self.log.push(Entry::Cancel { id, target, hit });
            }
            GatewayMsg::Hold(reply, release) => {
                let _ = reply.send(self.book.len());
                self.log.push(Entry::Gate);
                release.wait_open();
                self.released_at = Some(Instant::now());
            }
            GatewayMsg::Drain(reply, mut report) => {
                report.latency_capacity = self.latencies_ns.capacity();
                report.log = core::mem::take(&mut self.log);
                report.latencies_ns = core::mem::take(&mut self.latencies_ns);
                report.held = self.held;
                report.held_max_ns = self.held_max_ns;
                let _ = reply.send(report);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The expected result, computed sequentially.

struct Expected {
    /// Every order the strategy's rule gives, in sequence order.
    candidates: Vec<Fill>,
}

impl Expected {
    fn compute() -> Self {
        let mut prices = PriceFeed::new();
        let mut signal = Signal::new();
        let mut candidates = Vec::new();
        for seq in 0..TICKS {
            let price = prices.next_price();
            if let Some((side, qty)) = signal.on_price(price) {
                candidates.push(Fill {
                    seq,
                    side,
                    qty,
                    price,
                });
            }
        }
        Self { candidates }
    }

    /// The orders risk forwards and how many it rejects when it handles the candidates
    /// with a sequence up to `last`; `None`: no candidate at all (a kill switch before
    /// the first order).
    fn forwarded_through(&self, last: Option<u64>) -> (Vec<Fill>, u64) {
        let mut limits = Limits { position: 0 };
        let mut forwarded = Vec::new();
        let mut rejected = 0;
        for fill in &self.candidates {
            if last.is_none_or(|last| fill.seq > last) {
                break;
            }
            if limits.allows(fill.side, fill.qty) {
                forwarded.push(*fill);
            } else {
                rejected += 1;
            }
        }
        (forwarded, rejected)
    }
}

// ---------------------------------------------------------------------------------------
// The run.

fn feed(
    strategy: &Address<Strategy>,
    progress: &AtomicU64,
    published: &AtomicU64,
) -> Result<Future<Report>, String> {
    let mut prices = PriceFeed::new();
    for seq in 0..TICKS {
        let price = prices.next_price();
        let mut spins = 0u32;
        let mut deadline = None;
        // Acquire: pairs with the strategy's Release store.
        while seq - progress.load(Ordering::Acquire) >= WINDOW {
            if spins < 64 {
                core::hint::spin_loop();
                spins += 1;
                continue;
            }
            thread::yield_now();
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + PATIENCE);
            if Instant::now() > deadline {
                return Err(format!("the strategy stalled at tick {seq}"));
            }
        }
        let tick = Tick {
            seq,
            price,
            at: Instant::now(),
        };
        strategy
            .send(StrategyMsg::Tick(tick))
            .map_err(|e| format!("tick {seq}: {e}"))?;
        // Relaxed: progress for main's staging, orders nothing.
        published.store(seq + 1, Ordering::Relaxed);
    }
    // Behind every tick (same sender): the report comes when the pipeline is drained.
    strategy
        .ask(StrategyMsg::Drain)
        .map_err(|e| format!("drain: {e}"))
}

fn wait_for(published: &AtomicU64, at_least: u64) -> Result<(), String> {
    let deadline = Instant::now() + PATIENCE;
    while published.load(Ordering::Relaxed) < at_least {
        if Instant::now() > deadline {
            return Err(format!("the feed did not reach tick {at_least}"));
        }
        thread::sleep(Duration::from_micros(100));
    }
    Ok(())
}

/// What the cancel burst saw.
struct Burst {
    /// Orders the gateway had logged when it was held.
    logged: usize,
    /// Orders risk had forwarded before the cancels were sent.
    forwarded: u64,
    targets: Vec<u64>,
    held_for: Duration,
}

/// Holds the gateway, lets orders queue behind it, sends the cancels at high priority,
/// releases the gateway.
fn cancel_burst(
    gateway: &Address<Gateway>,
    risk: &Address<Risk>,
    expected: &Expected,
) -> Result<Burst, String> {
    let release = Arc::new(Latch::default());
    let staged = (|| -> Result<(usize, Instant, u64, Vec<u64>), String> {
        let logged = gateway
            .ask(|reply| GatewayMsg::Hold(reply, release.clone()))
            .map_err(|e| format!("hold: {e}"))?
            .wait_timeout(PATIENCE)
            .map_err(|e| format!("hold: {e}"))?;
        let held_at = Instant::now();
        let deadline = held_at + PATIENCE;
        let forwarded = loop {
            let forwarded = risk
                .ask_high(RiskMsg::Forwarded)
                .map_err(|e| format!("forwarded: {e}"))?
                .wait_timeout(PATIENCE)
                .map_err(|e| format!("forwarded: {e}"))?;
            if forwarded >= logged as u64 + QUEUED_MIN || Instant::now() > deadline {
                break forwarded;
            }
            thread::sleep(Duration::from_micros(50));
        };
        // The most recent resting orders, newest first.
        let (resting, _) = expected.forwarded_through(Some(u64::MAX));
        if logged < CANCELS {
            return Err(format!("only {logged} orders resting at the gate"));
        }
        let targets: Vec<u64> = (0..CANCELS).map(|k| resting[logged - 1 - k].seq).collect();
        for (id, &target) in targets.iter().enumerate() {
            gateway
                .send_high(GatewayMsg::Cancel { id, target })
                .map_err(|e| format!("cancel {id}: {e}"))?;
        }
        Ok((logged, held_at, forwarded, targets))
    })();
    // Whatever happened, the gateway must not stay blocked.
    release.open();
    let (logged, held_at, forwarded, targets) = staged?;
    let held_for = held_at.elapsed();
    Ok(Burst {
        logged,
        forwarded,
        targets,
        held_for,
    })
}

/// The nearest-rank percentile of sorted samples.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn micros(ns: u64) -> f64 {
    ns as f64 / 1e3
}

fn ensure(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}

fn main_checked() -> Result<(), String> {
    let expected = Expected::compute();
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = SharingScheduler::builder()
        .workers(2)
        .build()
        .map_err(|e| e.to_string())?;
    scheduler.start().map_err(|e| e.to_string())?;
    let system = System::new(Arc::new(scheduler), memory.clone());

    let gateway = system
        .spawn(Gateway::new())
        .map_err(|e| format!("spawn gateway: {e}"))?;
    let risk = system
        .spawn(Risk {
            limits: Limits { position: 0 },
            gateway: gateway.clone(),
            killed: false,
            last_order_seq: None,
            received: 0,
            rejected: 0,
            blocked: 0,
            forwarded: 0,
            undelivered: 0,
        })
        .map_err(|e| format!("spawn risk: {e}"))?;
    let progress = Arc::new(AtomicU64::new(0));
    let strategy = system
        .spawn(Strategy {
            signal: Signal::new(),
            risk: risk.clone(),
            progress: progress.clone(),
            next_seq: 0,
            report: Report::default(),
        })
        .map_err(|e| format!("spawn strategy: {e}"))?;

    let published = AtomicU64::new(0);
    let started = Instant::now();
    let (burst, ack, report) = thread::scope(|s| -> Result<_, String> {
        let feed = s.spawn(|| feed(&strategy, &progress, &published));
        let staged = (|| -> Result<(Burst, KillAck), String> {
            wait_for(&published, CANCEL_AT)?;
            let burst = cancel_burst(&gateway, &risk, &expected)?;
            wait_for(&published, KILL_AT)?;
            let ack = risk
                .ask_high(RiskMsg::KillSwitch)
                .map_err(|e| format!("kill switch: {e}"))?
                .wait_timeout(PATIENCE)
                .map_err(|e| format!("kill switch: {e}"))?;
            Ok((burst, ack))
        })();
        // Join the feed whatever happened (the scope would anyway).
        let drain = feed.join().map_err(|_| "the feed panicked".to_string())?;
        let (burst, ack) = staged?;
        let report = drain?
            .wait_timeout(PATIENCE)
            .map_err(|e| format!("drain: {e}"))?;
        Ok((burst, ack, report))
    })?;
    let elapsed = started.elapsed();

    // --- FIFO per sender.
    ensure(report.ticks == TICKS, || {
        format!("the strategy handled {} of {TICKS} ticks", report.ticks)
    })?;
    ensure(report.ticks_out_of_order == 0, || {
        format!("{} ticks out of order", report.ticks_out_of_order)
    })?;
    ensure(report.undelivered == 0, || {
        format!("{} sends failed", report.undelivered)
    })?;
    let candidates = expected.candidates.len() as u64;
    ensure(
        report.candidates == candidates && report.risk_received == candidates,
        || {
            format!(
                "candidates: strategy {}, risk {}, expected {candidates}",
                report.candidates, report.risk_received
            )
        },
    )?;

    // --- The kill switch.
    let kill_seq = ack.last_order_seq;
    let (forwarded, rejected) = expected.forwarded_through(kill_seq);
    let after_kill = expected
        .candidates
        .iter()
        .filter(|c| kill_seq.is_none_or(|k| c.seq > k))
        .count() as u64;
    let orders: Vec<Fill> = report
        .log
        .iter()
        .filter_map(|entry| match entry {
            Entry::Order(fill) => Some(*fill),
            _ => None,
        })
        .collect();
    if let Some(late) = orders.iter().find(|o| kill_seq.is_none_or(|k| o.seq > k)) {
        return Err(format!(
            "order {} reached the gateway after the kill switch at {kill_seq:?}",
            late.seq
        ));
    }
    ensure(orders == forwarded, || {
        let first_diff = orders.iter().zip(&forwarded).position(|(a, b)| a != b);
        format!(
            "the gateway logged {} orders, expected {} (first difference at {first_diff:?})",
            orders.len(),
            forwarded.len()
        )
    })?;
    ensure(
        ack.forwarded == forwarded.len() as u64 && report.forwarded == ack.forwarded,
        || {
            format!(
                "forwarded: {} at the switch, {} at the end, expected {}",
                ack.forwarded,
                report.forwarded,
                forwarded.len()
            )
        },
    )?;
    ensure(report.rejected == rejected && rejected > 0, || {
        format!(
            "risk rejected {}, expected {rejected} (> 0)",
            report.rejected
        )
    })?;
    ensure(report.blocked == after_kill && after_kill > 0, || {
        format!(
            "risk blocked {} after the switch, expected {after_kill} (> 0)",
            report.blocked
        )
    })?;

    // --- High overtakes queued normal, FIFO within high.
    let gates: Vec<usize> = (0..report.log.len())
        .filter(|&i| report.log[i] == Entry::Gate)
        .collect();
    let [gate] = gates[..] else {
        return Err(format!("{} gates in the log", gates.len()));
    };
    let logged_before = report.log[..gate]
        .iter()
        .filter(|e| matches!(e, Entry::Order(_)))
        .count();
    ensure(logged_before == burst.logged, || {
        format!(
            "{logged_before} orders before the gate, the gateway said {}",
            burst.logged
        )
    })?;
    let queued = burst.forwarded.saturating_sub(burst.logged as u64);
    ensure(queued >= 1, || {
        "no order was queued behind the gate: nothing to overtake".to_string()
    })?;
    for (k, &target) in burst.targets.iter().enumerate() {
        let entry = report.log.get(gate + 1 + k);
        let want = Entry::Cancel {
            id: k,
            target,
            hit: true,
        };
        ensure(entry == Some(&want), || {
            format!("log[gate + {}] is {entry:?}, expected {want:?}", 1 + k)
        })?;
    }
    let cancels_total = report
        .log
        .iter()
        .filter(|e| matches!(e, Entry::Cancel { .. }))
        .count();
    ensure(cancels_total == CANCELS, || {
        format!("{cancels_total} cancels in the log, {CANCELS} sent")
    })?;
    // The Q queued orders are the next ones after the cancels, in sequence order.
    let after_cancels = &report.log[gate + 1 + CANCELS..];
    for (i, want) in forwarded[burst.logged..burst.forwarded as usize]
        .iter()
        .enumerate()
    {
        ensure(after_cancels.get(i) == Some(&Entry::Order(*want)), || {
            format!(
                "queued order {} (seq {}) is not right after the cancels: {:?}",
                i,
                want.seq,
                after_cancels.get(i)
            )
        })?;
    }

    // --- Latencies, memory.
    let mut latencies = report.latencies_ns;
    ensure(latencies.capacity() == report.latency_capacity, || {
        "the latency Vec reallocated".to_string()
    })?;
    ensure(
        latencies.len() as u64 + report.held == forwarded.len() as u64,
        || {
            format!(
                "{} latencies + {} held != {} orders",
                latencies.len(),
                report.held,
                forwarded.len()
            )
        },
    )?;
    ensure(!latencies.is_empty(), || "no latency measured".to_string())?;
    latencies.sort_unstable();

    drop((strategy, risk, gateway));
    system.stop().map_err(|e| e.to_string())?;
    drop(system);
    ensure(memory.live_blocks() == 0, || {
        format!("{} memory blocks live at the end", memory.live_blocks())
    })?;

    let messages = TICKS + report.risk_received + report.forwarded + CANCELS as u64;
    println!(
        "trading: {TICKS} ticks -> strategy -> risk -> gateway on a 2-worker SharingScheduler \
         (feed window {WINDOW} ticks)"
    );
    println!(
        "orders: {candidates} from the rule; {} forwarded, {} rejected by the position \
         limit, {} blocked by the kill switch (acknowledged at order seq {}, tick {} of {TICKS})",
        report.forwarded,
        report.rejected,
        report.blocked,
        kill_seq.map_or("-".to_string(), |k| k.to_string()),
        kill_seq.map_or(0, |k| k + 1),
    );
    println!(
        "cancels: {CANCELS} sent high while {queued} orders were queued at the held gateway \
         ({} logged before the gate, held {:.2} ms): all {CANCELS} handled right after the gate, \
         in order, before those {queued}",
        burst.logged,
        burst.held_for.as_secs_f64() * 1e3
    );
    println!(
        "tick-to-order latency over {} orders: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, \
         max {:.1} µs ({} orders with ticks from before the gate's release left out, max {:.1} µs)",
        latencies.len(),
        micros(percentile(&latencies, 0.50)),
        micros(percentile(&latencies, 0.99)),
        micros(percentile(&latencies, 0.999)),
        micros(latencies[latencies.len() - 1]),
        report.held,
        micros(report.held_max_ns),
    );
    println!(
        "throughput: {messages} messages (ticks + orders to risk + orders to the gateway + \
         cancels) in {:.1} ms: {:.2} M messages/s, {:.2} M ticks/s",
        elapsed.as_secs_f64() * 1e3,
        messages as f64 / elapsed.as_secs_f64() / 1e6,
        TICKS as f64 / elapsed.as_secs_f64() / 1e6,
    );
    println!("ok: exact order log and counts, priorities and kill switch as asserted, no leak");
    Ok(())
}

fn main() -> ExitCode {
    match main_checked() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trading FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
