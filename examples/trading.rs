//! A trading pipeline on a 2-worker [`SharingScheduler`]: market data → strategy → risk
//! → order gateway, with order timeouts on the scheduler's timers, a bounded gateway
//! mailbox with backpressure, and cancels and a kill switch sent at high priority.
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
//!   tick-to-order latency (`Instant::elapsed` of the tick's stamp) into an HDR
//!   histogram (`hdrhistogram`) sized up front for 1 ns to a minute, which never
//!   resizes, so recording never allocates.
//! - Order timeouts. For each order it logs, the gateway arms
//!   `ctx.send_after(ORDER_TIMEOUT, Expire(seq))` and keeps the [`Timer`] with the
//!   resting order. The gateway stands in for the exchange with a deterministic fill
//!   rule (`fills`): when the order `FILL_AFTER` orders after a resting one is logged,
//!   the resting one is filled if that later order's price has traded through its own (a
//!   buy at or below its price, a sell at or above); if not, it rests until its timer
//!   expires it or a cancel takes it. A fill or a cancel cancels the timer:
//!   `CancelOutcome::Cancelled` (the expiry will never come), or `Fired` if the timer
//!   won the race (its expiry is then on its way, and the handler ignores an expiry for
//!   an order that has ended). On `Drain` the gateway answers only once every timer it
//!   armed has been cancelled or handled (within `ORDER_TIMEOUT`), so no timer outlives
//!   the run and every unfilled order has expired.
//! - A bounded gateway. The gateway is spawned with `spawn_bounded(.., GATEWAY_CAPACITY)`:
//!   at most that many messages (orders, cancels, requests, timer expiries) sent and not
//!   yet dispatched, room given back at the end of each of its runs. Risk forwards with
//!   `try_send`; refused with `Undelivered::Full`, it counts the order as throttled,
//!   marks it, and sends it anyway with `send`, which from a handler is admitted over
//!   capacity and makes risk yield after the current message (it goes to the back of
//!   the run queue). That is backpressure that slows risk and loses nothing: the order
//!   log stays exact.
//! - Cancels travel at high priority. Mid-stream the main thread makes queued normal
//!   messages observable: it asks the gateway to `Hold` (an `ask` from outside an actor
//!   to a full mailbox is refused with `Full`; main retries until it gets in). The
//!   gateway replies with how many orders it has logged and its `CANCELS` newest resting
//!   orders, then blocks its worker until main opens a latch: a test-harness trick,
//!   never something to do in production. Strategy and risk keep running on the other
//!   worker, so orders pile up in the gateway's mailbox, throttled once it is full. When
//!   risk reports (by an `ask_high`) that at least `QUEUED_MIN` orders (more than
//!   `GATEWAY_CAPACITY`) were forwarded past the gate, the mailbox is over capacity, and
//!   stays so until the gate opens: the gateway gives room back only when its run ends,
//!   and that run is blocked in `Hold`. So main's own `send_high` of the first cancel is
//!   refused with `Full` (checked), and main cannot wait for room either: a
//!   `send_blocking` (which sends at normal priority anyway) would wait for a release
//!   that only main's latch can bring, a deadlock; and cancels sent after the release
//!   would no longer be behind the queued orders. Main hands the burst to a desk actor
//!   (unbounded) with an `ask_high`; the desk's handler sends the `CANCELS` cancels with
//!   `send_high`, admitted over capacity as any handler's send is. When the desk
//!   answers, the cancels are in the gateway's mailbox behind the queued orders, and
//!   main releases the gate.
//! - Near the end, main sends the kill switch to risk with `ask_high`; risk answers with
//!   the sequence of the last order it handled before the switch, and blocks every order
//!   after it.
//! - The feed thread ends the stream with a `Drain` request through the whole pipeline:
//!   each stage adds its counters to the report and passes the request on behind its
//!   last order (per-sender FIFO), and the gateway answers it once its timers are done.
//!
//! # What it checks (exit code 1 on the first failure)
//!
//! Expected values come from running the same price feed, strategy rule, risk limit and
//! fill rule sequentially in this program.
//!
//! - High overtakes queued normal: with `Q ≥ QUEUED_MIN` orders (normal priority, sent by
//!   risk) known to be in the gateway's mailbox before the first cancel was sent (risk
//!   had forwarded them before answering main's query, and the desk sent the cancels
//!   after the answer), the log shows the gate, then the `CANCELS` cancels, then those
//!   `Q` orders. Each cancel found its order resting.
//! - FIFO per sender within a priority: the cancels (the desk, high) are handled in the
//!   order sent; the orders (risk, normal) reach the gateway in sequence order, and the
//!   whole order log equals the expected one; the ticks (the feed, normal) reach the
//!   strategy in sequence order. Nothing is asserted about the order between different
//!   senders of the same priority: zeta promises none.
//! - Kill switch: once the switch is acknowledged with sequence `K`, no order with a
//!   sequence after `K` reaches the gateway. Exact counts: the gateway logged exactly the
//!   orders the rule and the limit give for ticks up to `K`; risk rejected exactly the
//!   expected number up to `K` and blocked every candidate after `K` (at least one).
//! - Backpressure: main's `send_high` to the held, full gateway was refused with `Full`.
//!   Every throttled order still reached the gateway (risk's count equals the number of
//!   orders the gateway logged marked throttled). Behind the held gateway the `k`-th
//!   queued order found at least `k` messages admitted and not given back (the `Hold`
//!   its run is blocked in, and the `k - 1` orders before it), so at least
//!   `Q - GATEWAY_CAPACITY + 1` of the `Q` queued orders were throttled.
//! - Timeouts: every order ended exactly once: filled, expired, or cancelled by the
//!   burst. Each order's timer was cancelled (`Cancelled`, and no expiry came) or
//!   delivered its expiry exactly once (which either expired the order, or found it
//!   filled or cancelled after a `Fired` cancel); never `Dropped`; none left pending at
//!   the end. The filled orders are exactly those the fill rule gives, less the burst's
//!   targets, except orders that expired before their fill came: the gateway marks
//!   those, and they are printed apart (none unless the pipeline stalls for
//!   `ORDER_TIMEOUT`). An expired order rested at least `ORDER_TIMEOUT` (read on the
//!   scheduler's clock when armed and when the expiry is handled: never early). The
//!   cancel burst's targets are orders the fill rule left resting at the gate. How many
//!   orders expire, and how late, depends on timing: printed, not asserted.
//! - Every tick was handled, no send failed, every latency fit the histogram's range
//!   (it never resized), and after the actors are dropped and the scheduler is stopped
//!   no memory block is live (every timer's entry was freed).
//!
//! It prints how the orders ended (filled, expired, cancelled) and how the timers did,
//! how many orders were throttled (gateway full), the tick-to-order latency
//! p50/p99/p99.9/max (orders whose tick was published before the gate was released are
//! left out, since their latency includes the artificial hold; their number and maximum
//! are printed apart), and the messages per second handled by the three actors up to the
//! gateway's `Drain` (the wait for the last timers left out).
//!
//! Run: `cargo run --release --example trading`

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use zeta::arena::{CountingResource, PoolResource};
use zeta::scheduler::Scheduler;
use zeta::{
    Actor, Address, CancelOutcome, Context, Future, Reply, SharingScheduler, System, Timer,
    Undelivered,
};

const TICKS: u64 = 200_000;
/// Ticks published but not yet handled by the strategy, at most.
const WINDOW: u64 = 64;
const MA_LEN: usize = 16;
const POSITION_LIMIT: i64 = 8;
const CANCELS: usize = 16;
/// The gateway's mailbox: messages sent and not yet dispatched, at most (a handler's
/// send goes over it, and its actor yields).
const GATEWAY_CAPACITY: usize = 32;
/// Orders that must be queued behind the held gateway before the cancels are sent: more
/// than the gateway's capacity, so that the held gateway is full and risk throttled.
const QUEUED_MIN: u64 = 64;
const _: () = assert!(QUEUED_MIN > GATEWAY_CAPACITY as u64);
/// How long an order rests at the gateway, unless filled or cancelled first.
const ORDER_TIMEOUT: Duration = Duration::from_millis(50);
/// An order is filled or not (`fills`) when this many later orders have been logged.
const FILL_AFTER: usize = 8;
/// Ticks published when main stages the cancel burst, and when it pulls the kill switch.
const CANCEL_AT: u64 = TICKS / 2;
const KILL_AT: u64 = TICKS * 9 / 10;
/// How long main waits for any one stage before it gives up.
const PATIENCE: Duration = Duration::from_secs(10);

/// A deterministic random walk, one price per tick (a seeded generator: the same walk
/// on every run).
struct PriceFeed {
    rng: fastrand::Rng,
    price: i64,
}

impl PriceFeed {
    fn new() -> Self {
        Self {
            rng: fastrand::Rng::with_seed(0x2545_F491_4F6C_DD1D),
            price: 100_000,
        }
    }

    fn next_price(&mut self) -> i64 {
        self.price += self.rng.i64(-3..=3);
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

/// The fill rule: `resting` is filled if `market`, the order logged `FILL_AFTER` orders
/// after it, has traded through its price (a buy fills at or below its price, a sell at
/// or above). Decided once, when `market` is logged; an order it does not fill rests
/// until it expires or is cancelled.
fn fills(resting: &Ticket, market: &Ticket) -> bool {
    match resting.side {
        Side::Buy => market.price <= resting.price,
        Side::Sell => market.price >= resting.price,
    }
}

/// An order as the gateway logs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ticket {
    seq: u64,
    side: Side,
    qty: i64,
    price: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    Order(Ticket),
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
    ticket: Ticket,
    /// When the tick that caused it was published.
    tick_at: Instant,
    /// Risk found the gateway's mailbox full (`try_send`) and sent it over capacity.
    throttled: bool,
}

/// How an order left the gateway's book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Filled,
    Expired,
    /// By the cancel burst.
    Cancelled,
}

/// An order in the gateway's book, and what became of it and of its timer.
struct Resting {
    ticket: Ticket,
    /// The scheduler's clock when its timer was armed.
    armed_at: Instant,
    /// Until the timer is cancelled (the handle is spent) or the drain ends.
    timer: Option<Timer>,
    end: Option<End>,
    /// What the timer's cancel answered, if a fill or a cancel ended the order.
    cancel: Option<CancelOutcome>,
    /// Expiry messages handled for it.
    expiries: u32,
    /// The fill rule filled it, but it had expired before.
    fill_missed: bool,
}

/// What strategy and risk add to the report on `Drain`, on its way to the gateway.
#[derive(Default)]
struct Counters {
    // strategy
    ticks: u64,
    ticks_out_of_order: u64,
    candidates: u64,
    // risk
    risk_received: u64,
    rejected: u64,
    blocked: u64,
    forwarded: u64,
    throttled: u64,
    // both
    undelivered: u64,
}

/// The answer to `Drain`: the upstream counters, and what the gateway adds.
struct Report {
    ticks: u64,
    ticks_out_of_order: u64,
    candidates: u64,
    risk_received: u64,
    rejected: u64,
    blocked: u64,
    forwarded: u64,
    throttled: u64,
    /// Sends and timers that failed, at every stage.
    undelivered: u64,
    log: Vec<Entry>,
    book: Vec<Resting>,
    /// `None` if the gateway was drained twice (it is not).
    latencies_ns: Option<Histogram<u64>>,
    /// Latencies above the histogram's range (recording them would have resized it).
    latencies_out_of_range: u64,
    held: u64,
    held_max_ns: u64,
    /// Orders logged marked throttled, and those of them queued behind the gate.
    throttled_logged: u64,
    throttled_held: u64,
    timers_armed: u64,
    /// Expiries that found their order ended (filled or cancelled after a `Fired`).
    stale_expiries: u64,
    /// Expiries for no order in the book.
    unknown_expiries: u64,
    /// Expired orders that rested less than `ORDER_TIMEOUT`.
    early_expiries: u64,
    expired_min_age: Option<Duration>,
    expired_max_age: Duration,
    /// Timers still pending when the gateway answered the drain.
    timers_pending: u64,
    /// When the drain reached the gateway (before it waited for its timers).
    drained_at: Instant,
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

/// The gateway's answer to `Hold`, just before it blocks.
struct HoldAck {
    /// Orders logged.
    logged: usize,
    /// The newest resting orders, newest first: the first `found` are set.
    targets: [u64; CANCELS],
    found: usize,
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
    counters: Counters,
}

impl Actor for Strategy {
    type Message = StrategyMsg;

    fn handle(&mut self, message: StrategyMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            StrategyMsg::Tick(tick) => {
                if tick.seq != self.next_seq {
                    self.counters.ticks_out_of_order += 1;
                }
                self.next_seq = tick.seq + 1;
                self.counters.ticks += 1;
                if let Some((side, qty)) = self.signal.on_price(tick.price) {
                    self.counters.candidates += 1;
                    let order = Order {
                        ticket: Ticket {
                            seq: tick.seq,
                            side,
                            qty,
                            price: tick.price,
                        },
                        tick_at: tick.at,
                        throttled: false,
                    };
                    if self.risk.send(RiskMsg::Order(order)).is_err() {
                        self.counters.undelivered += 1;
                    }
                }
                // Release: pairs with the feed's Acquire load; only a credit count.
                self.progress.store(self.counters.ticks, Ordering::Release);
            }
            StrategyMsg::Drain(reply) => {
                let counters = core::mem::take(&mut self.counters);
                // On failure the reply is dropped with the message: the asker sees
                // `NoReply`.
                let _ = self.risk.send(RiskMsg::Drain(reply, counters));
            }
        }
    }
}

enum RiskMsg {
    Order(Order),
    /// How many orders have been forwarded so far.
    Forwarded(Reply<u64>),
    KillSwitch(Reply<KillAck>),
    Drain(Reply<Report>, Counters),
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
    throttled: u64,
    undelivered: u64,
}

impl Risk {
    /// Forwards `order` to the bounded gateway: `try_send` first, to see the mailbox
    /// full; if it is, the order is marked throttled and sent anyway with `send`, which
    /// from a handler is admitted over capacity and makes this actor yield after the
    /// current message. Nothing is shed.
    fn forward(&mut self, order: Order) {
        let sent = match self.gateway.try_send(GatewayMsg::Order(order)) {
            Err(full) if full.reason() == Undelivered::Full => {
                self.throttled += 1;
                let GatewayMsg::Order(mut order) = full.into_message() else {
                    unreachable!("the message given back is the one given")
                };
                order.throttled = true;
                self.gateway.send(GatewayMsg::Order(order)).is_ok()
            }
            sent => sent.is_ok(),
        };
        if sent {
            self.forwarded += 1;
        } else {
            self.undelivered += 1;
        }
    }
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
                self.last_order_seq = Some(order.ticket.seq);
                if self.limits.allows(order.ticket.side, order.ticket.qty) {
                    self.forward(order);
                } else {
                    self.rejected += 1;
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
            RiskMsg::Drain(reply, mut counters) => {
                counters.risk_received = self.received;
                counters.rejected = self.rejected;
                counters.blocked = self.blocked;
                counters.forwarded = self.forwarded;
                counters.throttled = self.throttled;
                counters.undelivered += self.undelivered;
                // From a handler: admitted even if the gateway is full.
                let _ = self.gateway.send(GatewayMsg::Drain(reply, counters));
            }
        }
    }
}

enum DeskMsg {
    /// Send these cancels to the gateway at high priority, in order; reply with how
    /// many failed.
    Cancels([u64; CANCELS], Reply<u64>),
}

/// Where main's cancels enter the pipeline when the gateway's mailbox is full: a
/// handler's send is admitted over capacity, where main's own is refused.
struct Desk {
    gateway: Address<Gateway>,
}

impl Actor for Desk {
    type Message = DeskMsg;

    fn handle(&mut self, message: DeskMsg, _ctx: &mut Context<'_, Self>) {
        let DeskMsg::Cancels(targets, reply) = message;
        let mut failed = 0;
        for (id, &target) in targets.iter().enumerate() {
            if self
                .gateway
                .send_high(GatewayMsg::Cancel { id, target })
                .is_err()
            {
                failed += 1;
            }
        }
        let _ = reply.send(failed);
    }
}

enum GatewayMsg {
    Order(Order),
    Cancel {
        id: usize,
        target: u64,
    },
    /// An order's timer: it expires unless it has ended.
    Expire(u64),
    /// Reply with the orders logged and the newest resting, then block until the latch
    /// opens.
    Hold(Reply<HoldAck>, Arc<Latch>),
    /// Answered once no timer is outstanding.
    Drain(Reply<Report>, Counters),
}

struct Gateway {
    log: Vec<Entry>,
    /// Every order logged, in sequence order (risk sends in order).
    book: Vec<Resting>,
    /// Taken into the report at the drain.
    latencies_ns: Option<Histogram<u64>>,
    latencies_out_of_range: u64,
    released_at: Option<Instant>,
    held: u64,
    held_max_ns: u64,
    throttled_logged: u64,
    throttled_held: u64,
    timers_armed: u64,
    /// Armed, and neither cancelled in time nor handled yet.
    timers_outstanding: u64,
    stale_expiries: u64,
    unknown_expiries: u64,
    early_expiries: u64,
    expired_min_age: Option<Duration>,
    expired_max_age: Duration,
    undelivered: u64,
    drained_at: Option<Instant>,
    draining: Option<(Reply<Report>, Counters)>,
}

impl Gateway {
    fn new() -> Self {
        Self {
            log: Vec::with_capacity(TICKS as usize + CANCELS + 1),
            book: Vec::with_capacity(TICKS as usize),
            latencies_ns: Some(latency_histogram()),
            latencies_out_of_range: 0,
            released_at: None,
            held: 0,
            held_max_ns: 0,
            throttled_logged: 0,
            throttled_held: 0,
            timers_armed: 0,
            timers_outstanding: 0,
            stale_expiries: 0,
            unknown_expiries: 0,
            early_expiries: 0,
            expired_min_age: None,
            expired_max_age: Duration::ZERO,
            undelivered: 0,
            drained_at: None,
            draining: None,
        }
    }

    fn find(&self, seq: u64) -> Option<usize> {
        self.book
            .binary_search_by_key(&seq, |resting| resting.ticket.seq)
            .ok()
    }

    /// Ends a resting order by a fill or a cancel, and cancels its timer.
    fn close(&mut self, i: usize, end: End) {
        let resting = &mut self.book[i];
        resting.end = Some(end);
        if let Some(timer) = resting.timer.take() {
            let outcome = timer.cancel();
            resting.cancel = Some(outcome);
            // `Fired`: the expiry is on its way, and counted off when it is handled.
            if outcome == CancelOutcome::Cancelled {
                self.timers_outstanding -= 1;
            }
        }
    }

    /// Answers the drain if it has come and no timer is outstanding.
    fn try_finish(&mut self) {
        if self.timers_outstanding != 0 {
            return;
        }
        let Some((reply, counters)) = self.draining.take() else {
            return;
        };
        // Every timer has fired or was cancelled: let the handles go (their entries
        // are freed with the last one).
        let mut pending = 0;
        for resting in &mut self.book {
            if let Some(timer) = resting.timer.take() {
                pending += u64::from(timer.is_pending());
            }
        }
        let report = Report {
            ticks: counters.ticks,
            ticks_out_of_order: counters.ticks_out_of_order,
            candidates: counters.candidates,
            risk_received: counters.risk_received,
            rejected: counters.rejected,
            blocked: counters.blocked,
            forwarded: counters.forwarded,
            throttled: counters.throttled,
            undelivered: counters.undelivered + self.undelivered,
            log: core::mem::take(&mut self.log),
            book: core::mem::take(&mut self.book),
            latencies_ns: self.latencies_ns.take(),
            latencies_out_of_range: self.latencies_out_of_range,
            held: self.held,
            held_max_ns: self.held_max_ns,
            throttled_logged: self.throttled_logged,
            throttled_held: self.throttled_held,
            timers_armed: self.timers_armed,
            stale_expiries: self.stale_expiries,
            unknown_expiries: self.unknown_expiries,
            early_expiries: self.early_expiries,
            expired_min_age: self.expired_min_age,
            expired_max_age: self.expired_max_age,
            timers_pending: pending,
            drained_at: self.drained_at.unwrap_or_else(Instant::now),
        };
        let _ = reply.send(report);
    }
}

impl Actor for Gateway {
    type Message = GatewayMsg;

    fn handle(&mut self, message: GatewayMsg, ctx: &mut Context<'_, Self>) {
        match message {
            GatewayMsg::Order(order) => {
                let latency = order.tick_at.elapsed().as_nanos() as u64;
                let held = self.released_at.is_some_and(|at| order.tick_at < at);
                if held {
                    self.held += 1;
                    self.held_max_ns = self.held_max_ns.max(latency);
                } else if let Some(latencies) = &mut self.latencies_ns {
                    // Adds to a count, never resizes (`latency_histogram`).
                    if latencies.record(latency).is_err() {
                        self.latencies_out_of_range += 1;
                    }
                }
                if order.throttled {
                    self.throttled_logged += 1;
                    self.throttled_held += u64::from(held);
                }
                let ticket = order.ticket;
                self.log.push(Entry::Order(ticket));
                let armed_at = ctx.now();
                let timer = match ctx.send_after(ORDER_TIMEOUT, GatewayMsg::Expire(ticket.seq)) {
                    Ok(timer) => {
                        self.timers_armed += 1;
                        self.timers_outstanding += 1;
                        Some(timer)
                    }
                    Err(_) => {
                        self.undelivered += 1;
                        None
                    }
                };
                self.book.push(Resting {
                    ticket,
                    armed_at,
                    timer,
                    end: None,
                    cancel: None,
                    expiries: 0,
                    fill_missed: false,
                });
                // The fill rule, for the order `FILL_AFTER` before this one.
                if let Some(i) = self.book.len().checked_sub(FILL_AFTER + 1) {
                    if fills(&self.book[i].ticket, &ticket) {
                        match self.book[i].end {
                            None => self.close(i, End::Filled),
                            Some(End::Expired) => self.book[i].fill_missed = true,
                            Some(End::Filled | End::Cancelled) => {}
                        }
                    }
                }
            }
            GatewayMsg::Cancel { id, target } => {
                let hit = match self.find(target) {
                    Some(i) if self.book[i].end.is_none() => {
                        self.close(i, End::Cancelled);
                        true
                    }
                    _ => false,
                };
                self.log.push(Entry::Cancel { id, target, hit });
            }
            GatewayMsg::Expire(seq) => {
                self.timers_outstanding -= 1;
                match self.find(seq) {
                    Some(i) => {
                        let resting = &mut self.book[i];
                        resting.expiries += 1;
                        if resting.end.is_none() {
                            resting.end = Some(End::Expired);
                            let age = ctx.now().saturating_duration_since(resting.armed_at);
                            if age < ORDER_TIMEOUT {
                                self.early_expiries += 1;
                            }
                            self.expired_min_age =
                                Some(self.expired_min_age.map_or(age, |min| min.min(age)));
                            self.expired_max_age = self.expired_max_age.max(age);
                        } else {
                            self.stale_expiries += 1;
                        }
                    }
                    None => self.unknown_expiries += 1,
                }
                self.try_finish();
            }
            GatewayMsg::Hold(reply, release) => {
                let mut targets = [0; CANCELS];
                let newest = self.book.iter().rev().filter(|r| r.end.is_none());
                let mut found = 0;
                for (slot, resting) in targets.iter_mut().zip(newest) {
                    *slot = resting.ticket.seq;
                    found += 1;
                }
                let _ = reply.send(HoldAck {
                    logged: self.book.len(),
                    targets,
                    found,
                });
                self.log.push(Entry::Gate);
                release.wait_open();
                self.released_at = Some(Instant::now());
            }
            GatewayMsg::Drain(reply, counters) => {
                self.drained_at = Some(Instant::now());
                self.draining = Some((reply, counters));
                self.try_finish();
            }
        }
    }
}
// ---------------------------------------------------------------------------------------
// The expected result, computed sequentially.

struct Expected {
    /// Every order the strategy's rule gives, in sequence order.
    candidates: Vec<Ticket>,
}

impl Expected {
    fn compute() -> Self {
        let mut prices = PriceFeed::new();
        let mut signal = Signal::new();
        let mut candidates = Vec::new();
        for seq in 0..TICKS {
            let price = prices.next_price();
            if let Some((side, qty)) = signal.on_price(price) {
                candidates.push(Ticket {
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
    fn forwarded_through(&self, last: Option<u64>) -> (Vec<Ticket>, u64) {
        let mut limits = Limits { position: 0 };
        let mut forwarded = Vec::new();
        let mut rejected = 0;
        for ticket in &self.candidates {
            if last.is_none_or(|last| ticket.seq > last) {
                break;
            }
            if limits.allows(ticket.side, ticket.qty) {
                forwarded.push(*ticket);
            } else {
                rejected += 1;
            }
        }
        (forwarded, rejected)
    }

    /// Which of the orders logged the fill rule fills, cancels and expiries aside.
    fn fill_rule(logged: &[Ticket]) -> Vec<bool> {
        (0..logged.len())
            .map(|i| {
                logged
                    .get(i + FILL_AFTER)
                    .is_some_and(|market| fills(&logged[i], market))
            })
            .collect()
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
    /// The gateway's newest resting orders at the gate, newest first.
    targets: [u64; CANCELS],
    held_for: Duration,
    /// How many times main's `Hold` was refused (`Full`) before it got in.
    hold_refused: u64,
}

/// Holds the gateway, lets orders queue behind it, has the desk send the cancels at
/// high priority (main's own `send_high` is refused: the gateway is full), releases the
/// gateway.
fn cancel_burst(
    gateway: &Address<Gateway>,
    risk: &Address<Risk>,
    desk: &Address<Desk>,
) -> Result<Burst, String> {
    let release = Arc::new(Latch::default());
    let staged = (|| -> Result<(HoldAck, Instant, u64, u64), String> {
        // From outside an actor, an `ask` to a full mailbox is refused: try again.
        let deadline = Instant::now() + PATIENCE;
        let mut hold_refused = 0;
        let mut hold = loop {
            match gateway.ask(|reply| GatewayMsg::Hold(reply, release.clone())) {
                Ok(hold) => break hold,
                Err(e) if e.reason() == Undelivered::Full && Instant::now() < deadline => {
                    hold_refused += 1;
                    thread::sleep(Duration::from_micros(50));
                }
                Err(e) => return Err(format!("hold: {e}")),
            }
        };
        let ack = hold
            .wait_timeout(PATIENCE)
            .map_err(|e| format!("hold: {e}"))?;
        let held_at = Instant::now();
        if ack.found < CANCELS {
            return Err(format!("only {} orders resting at the gate", ack.found));
        }
        let deadline = held_at + PATIENCE;
        let forwarded = loop {
            let forwarded = risk
                .ask_high(RiskMsg::Forwarded)
                .map_err(|e| format!("forwarded: {e}"))?
                .wait_timeout(PATIENCE)
                .map_err(|e| format!("forwarded: {e}"))?;
            if forwarded >= ack.logged as u64 + QUEUED_MIN || Instant::now() > deadline {
                break forwarded;
            }
            thread::sleep(Duration::from_micros(50));
        };
        let queued = forwarded.saturating_sub(ack.logged as u64);
        if queued < QUEUED_MIN {
            return Err(format!(
                "{queued} orders queued behind the gate, {QUEUED_MIN} wanted"
            ));
        }
        // The gateway's mailbox holds the `Hold` its run is blocked in and the queued
        // orders, none given back before that run ends: more than its capacity. Main's
        // own send is refused, and waiting for room would wait for main's own latch.
        match gateway.send_high(GatewayMsg::Cancel {
            id: 0,
            target: ack.targets[0],
        }) {
            Err(e) if e.reason() == Undelivered::Full => {}
            Err(e) => return Err(format!("cancel 0: {e}")),
            Ok(()) => {
                return Err(format!(
                    "main's send_high got into the held gateway, {queued} orders queued, \
                     capacity {GATEWAY_CAPACITY}: expected Full"
                ))
            }
        }
        // A handler's send is admitted over capacity: the desk sends the burst.
        let failed = desk
            .ask_high(|reply| DeskMsg::Cancels(ack.targets, reply))
            .map_err(|e| format!("desk: {e}"))?
            .wait_timeout(PATIENCE)
            .map_err(|e| format!("desk: {e}"))?;
        if failed != 0 {
            return Err(format!("{failed} of {CANCELS} cancels failed at the desk"));
        }
        Ok((ack, held_at, forwarded, hold_refused))
    })();
    // Whatever happened, the gateway must not stay blocked.
    release.open();
    let (ack, held_at, forwarded, hold_refused) = staged?;
    let held_for = held_at.elapsed();
    Ok(Burst {
        logged: ack.logged,
        forwarded,
        targets: ack.targets,
        held_for,
        hold_refused,
    })
}

/// The largest latency the gateway's histogram holds, in ns: a minute.
const LATENCY_HIGHEST_NS: u64 = 60_000_000_000;

/// The gateway's latency histogram: 1 ns to [`LATENCY_HIGHEST_NS`], 3 significant digits
/// (a percentile is the sample to within 0.1 %). Its counts for the whole range are made
/// here, before the first tick (some 200 KiB), and it never resizes: recording adds to a
/// count and allocates nothing; a latency above the range is refused (and counted).
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_HIGHEST_NS, 3).expect("valid bounds")
}

fn micros(ns: u64) -> f64 {
    ns as f64 / 1e3
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn ensure(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}

/// With the `tracing` feature and `ZETA_TRACE` set: a `Tracing` observer for the
/// system and its scheduler (lifecycle events; with `ZETA_TRACE=runs` each run too),
/// into a `tracing-subscriber` `fmt` subscriber on stderr at the level
/// `ZETA_TRACE_LEVEL` names (default DEBUG; TRACE adds runs, parks, steals, timers).
#[cfg(feature = "tracing")]
fn tracing_observer() -> Option<Arc<zeta::observe::Tracing>> {
    let what = std::env::var("ZETA_TRACE").ok()?;
    let level = std::env::var("ZETA_TRACE_LEVEL")
        .ok()
        .and_then(|level| level.parse().ok())
        .unwrap_or(tracing::Level::DEBUG);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
    let observer = zeta::observe::Tracing::new();
    Some(Arc::new(if what == "runs" {
        observer.with_runs()
    } else {
        observer
    }))
}

fn main_checked() -> Result<(), String> {
    let expected = Expected::compute();
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let builder = SharingScheduler::builder().workers(2);
    #[cfg(feature = "tracing")]
    let tracing = tracing_observer();
    #[cfg(feature = "tracing")]
    let builder = match &tracing {
        Some(observer) => builder.observer(observer.clone()),
        None => builder,
    };
    let scheduler = builder.build().map_err(|e| e.to_string())?;
    scheduler.start().map_err(|e| e.to_string())?;
    let system = System::new(Arc::new(scheduler), memory.clone());
    #[cfg(feature = "tracing")]
    let system = match tracing {
        Some(observer) => system.with_observer(observer),
        None => system,
    };

    let gateway = system
        .spawn_bounded_named("gateway", Gateway::new(), GATEWAY_CAPACITY)
        .map_err(|e| format!("spawn gateway: {e}"))?;
    let desk = system
        .spawn_named(
            "desk",
            Desk {
                gateway: gateway.clone(),
            },
        )
        .map_err(|e| format!("spawn desk: {e}"))?;
    let risk = system
        .spawn_named(
            "risk",
            Risk {
                limits: Limits { position: 0 },
                gateway: gateway.clone(),
                killed: false,
                last_order_seq: None,
                received: 0,
                rejected: 0,
                blocked: 0,
                forwarded: 0,
                throttled: 0,
                undelivered: 0,
            },
        )
        .map_err(|e| format!("spawn risk: {e}"))?;
    let progress = Arc::new(AtomicU64::new(0));
    let strategy = system
        .spawn_named(
            "strategy",
            Strategy {
                signal: Signal::new(),
                risk: risk.clone(),
                progress: progress.clone(),
                next_seq: 0,
                counters: Counters::default(),
            },
        )
        .map_err(|e| format!("spawn strategy: {e}"))?;

    let published = AtomicU64::new(0);
    let started = Instant::now();
    let (burst, ack, report) = thread::scope(|s| -> Result<_, String> {
        let feed = s.spawn(|| feed(&strategy, &progress, &published));
        let staged = (|| -> Result<(Burst, KillAck), String> {
            wait_for(&published, CANCEL_AT)?;
            let burst = cancel_burst(&gateway, &risk, &desk)?;
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
        // The gateway answers once its last timers are done: within `ORDER_TIMEOUT`.
        let report = drain?
            .wait_timeout(PATIENCE)
            .map_err(|e| format!("drain: {e}"))?;
        Ok((burst, ack, report))
    })?;
    let elapsed = report.drained_at.saturating_duration_since(started);

    // --- FIFO per sender.
    ensure(report.ticks == TICKS, || {
        format!("the strategy handled {} of {TICKS} ticks", report.ticks)
    })?;
    ensure(report.ticks_out_of_order == 0, || {
        format!("{} ticks out of order", report.ticks_out_of_order)
    })?;
    ensure(report.undelivered == 0, || {
        format!("{} sends or timers failed", report.undelivered)
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
    let orders: Vec<Ticket> = report
        .log
        .iter()
        .filter_map(|entry| match entry {
            Entry::Order(ticket) => Some(*ticket),
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
    ensure(queued >= QUEUED_MIN, || {
        format!("{queued} orders queued behind the gate, {QUEUED_MIN} wanted")
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

    // --- Backpressure: throttled, never lost.
    ensure(report.throttled == report.throttled_logged, || {
        format!(
            "risk throttled {} orders, the gateway logged {} marked throttled",
            report.throttled, report.throttled_logged
        )
    })?;
    // The k-th queued order found the `Hold` and k - 1 orders admitted and not given
    // back: from k = GATEWAY_CAPACITY on, `try_send` was refused.
    let must_throttle = queued + 1 - GATEWAY_CAPACITY as u64;
    ensure(report.throttled_held >= must_throttle, || {
        format!(
            "{} orders throttled behind the held gateway; with {queued} queued and capacity \
             {GATEWAY_CAPACITY}, at least {must_throttle}",
            report.throttled_held
        )
    })?;

    // --- Timeouts: every order ended once, every timer cancelled or delivered once.
    let book = &report.book;
    ensure(
        book.iter().map(|r| r.ticket).eq(forwarded.iter().copied()),
        || {
            format!(
                "the book holds {} orders, expected {}",
                book.len(),
                forwarded.len()
            )
        },
    )?;
    let rule = Expected::fill_rule(&forwarded);
    let mut target_at = [0; CANCELS];
    for (k, &target) in burst.targets.iter().enumerate() {
        let i = forwarded
            .binary_search_by_key(&target, |t| t.seq)
            .map_err(|_| format!("cancel {k} targets {target}, which was never logged"))?;
        // Filled before the gate by the rule: it cannot have been resting there.
        let filled_before = rule[i] && i + FILL_AFTER < burst.logged;
        ensure(i < burst.logged && !filled_before, || {
            format!(
                "cancel {k} targets order {target} (#{i}), not resting at the gate by the \
                 fill rule ({} logged before the gate)",
                burst.logged
            )
        })?;
        target_at[k] = i;
    }
    let (mut filled, mut expired, mut cancelled, mut missed) = (0u64, 0u64, 0u64, 0u64);
    let (mut in_time, mut too_late, mut expiries) = (0u64, 0u64, 0u64);
    for (i, r) in book.iter().enumerate() {
        let seq = r.ticket.seq;
        expiries += u64::from(r.expiries);
        let timer_ok = match r.end {
            None => return Err(format!("order {seq} never ended")),
            Some(End::Expired) => {
                expired += 1;
                r.cancel.is_none() && r.expiries == 1
            }
            Some(End::Filled | End::Cancelled) => match (r.cancel, r.expiries) {
                (Some(CancelOutcome::Cancelled), 0) => {
                    in_time += 1;
                    true
                }
                (Some(CancelOutcome::Fired), 1) => {
                    too_late += 1;
                    true
                }
                _ => false,
            },
        };
        ensure(timer_ok, || {
            format!(
                "order {seq} ended {:?}: its timer's cancel answered {:?}, {} expiries came",
                r.end, r.cancel, r.expiries
            )
        })?;
        filled += u64::from(r.end == Some(End::Filled));
        cancelled += u64::from(r.end == Some(End::Cancelled));
        missed += u64::from(r.fill_missed);
        ensure(!r.fill_missed || r.end == Some(End::Expired), || {
            format!(
                "order {seq} marked as expired before its fill, but {:?}",
                r.end
            )
        })?;
        let target = target_at.contains(&i);
        ensure((r.end == Some(End::Cancelled)) == target, || {
            format!(
                "order {seq} ended {:?}; a target of the burst: {target}",
                r.end
            )
        })?;
        let by_rule = rule[i] && !target;
        ensure(
            (r.end == Some(End::Filled) || r.fill_missed) == by_rule,
            || {
                format!(
                    "order {seq} ended {:?} (expired before its fill: {}); the fill rule fills \
                 it: {by_rule}",
                    r.end, r.fill_missed
                )
            },
        )?;
    }
    ensure(report.timers_armed == book.len() as u64, || {
        format!(
            "{} timers armed for {} orders",
            report.timers_armed,
            book.len()
        )
    })?;
    ensure(
        report.timers_armed == in_time + expiries
            && expiries == expired + report.stale_expiries
            && report.stale_expiries == too_late,
        || {
            format!(
                "timers: {} armed, {in_time} cancelled in time, {expiries} expiries handled \
                 ({expired} expired an order, {} found it ended; {too_late} cancels too late)",
                report.timers_armed, report.stale_expiries
            )
        },
    )?;
    ensure(report.unknown_expiries == 0, || {
        format!("{} expiries for no order", report.unknown_expiries)
    })?;
    ensure(report.early_expiries == 0, || {
        format!(
            "{} orders expired before resting {ORDER_TIMEOUT:?} (the soonest after {:?})",
            report.early_expiries, report.expired_min_age
        )
    })?;
    ensure(report.timers_pending == 0, || {
        format!("{} timers still pending at the end", report.timers_pending)
    })?;

    // --- Latencies, memory.
    let latencies = report
        .latencies_ns
        .ok_or("the gateway's latencies went into an earlier report")?;
    ensure(report.latencies_out_of_range == 0, || {
        format!(
            "{} latencies above {} s, out of the histogram's range",
            report.latencies_out_of_range,
            LATENCY_HIGHEST_NS / 1_000_000_000
        )
    })?;
    ensure(
        latencies.len() + report.held == forwarded.len() as u64,
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

    // The book's timer handles went at the drain; the report goes now, before the count.
    let logged = report.book.len();
    drop(report.book);
    drop((strategy, risk, gateway, desk));
    system.stop().map_err(|e| e.to_string())?;
    drop(system);
    ensure(memory.live_blocks() == 0, || {
        format!("{} memory blocks live at the end", memory.live_blocks())
    })?;

    let messages = TICKS + report.risk_received + report.forwarded + CANCELS as u64;
    println!(
        "trading: {TICKS} ticks -> strategy -> risk -> gateway (mailbox bounded to \
         {GATEWAY_CAPACITY}) on a 2-worker SharingScheduler (feed window {WINDOW} ticks)"
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
        "backpressure: {} orders throttled (gateway full), {} of them behind the held gateway \
         (at least {must_throttle} had to be); each sent anyway over capacity, none lost; \
         main's hold got in after {} refusals (Full)",
        report.throttled, report.throttled_held, burst.hold_refused,
    );
    println!(
        "cancels: main's send_high refused (Full) by the held gateway, so the desk sent \
         {CANCELS} high while {queued} orders were queued ({} logged before the gate, held \
         {:.2} ms): all {CANCELS} handled right after the gate, in order, before those {queued}",
        burst.logged,
        millis(burst.held_for),
    );
    println!(
        "order ends: {logged} orders, each ended once: {filled} filled (the fill rule fills \
         {}; {missed} expired before their fill came), {expired} expired, {cancelled} \
         cancelled by the burst",
        filled + missed,
    );
    println!(
        "timers ({ORDER_TIMEOUT:?}): {} armed, {in_time} cancelled in time, {too_late} fired \
         before their fill or cancel (expiry ignored), {expired} expired their order after \
         {:.2} to {:.2} ms (never early), none left pending",
        report.timers_armed,
        millis(report.expired_min_age.unwrap_or_default()),
        millis(report.expired_max_age),
    );
    println!(
        "tick-to-order latency over {} orders: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, \
         max {:.1} µs ({} orders with ticks from before the gate's release left out, max {:.1} µs)",
        latencies.len(),
        micros(latencies.value_at_quantile(0.50)),
        micros(latencies.value_at_quantile(0.99)),
        micros(latencies.value_at_quantile(0.999)),
        micros(latencies.max()),
        report.held,
        micros(report.held_max_ns),
    );
    println!(
        "throughput: {messages} messages (ticks + orders to risk + orders to the gateway + \
         cancels) in {:.1} ms up to the drain: {:.2} M messages/s, {:.2} M ticks/s",
        millis(elapsed),
        messages as f64 / elapsed.as_secs_f64() / 1e6,
        TICKS as f64 / elapsed.as_secs_f64() / 1e6,
    );
    println!(
        "ok: exact order log and counts, priorities, kill switch, fills and backpressure as \
         asserted, every order ended once, every timer cancelled or delivered once, no leak"
    );
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
