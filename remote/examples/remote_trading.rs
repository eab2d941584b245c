//! Remote trading: a market node and a desk node, two processes on loopback. The example
//! starts the market process itself (it runs its own binary again with `--market`).
//!
//! - The **market** node (the second process) runs the exchange, exported as
//!   `exchange` (protocol `Orders`: an order asks, a fill answers), and a feed thread
//!   that publishes `TICKS` price ticks to the desk's `strategy` (protocol `Ticks`,
//!   tells), then an `End` with the count. When the outbound buffer is full the feed
//!   gets the tick back and sends it again: backpressure, nothing lost.
//! - The **desk** node (this process) runs the strategy, exported as `strategy`, and a
//!   gateway. Every `ORDER_EVERY`th tick the strategy orders through the gateway, which
//!   asks the remote exchange with `ask_to`: the fill comes back as the gateway's own
//!   message, with no thread blocked. Orders travel at high priority, so they and their
//!   fills pass the ticks queued on the link. After the feed's `End`, the gateway sends
//!   `SEQUENTIAL` more orders one at a time (each after the previous fill): the round
//!   trip with nothing else on the link.
//!
//! It checks that every tick arrived once and in order, that every order was answered
//! exactly once with a fill, and that the market process exits cleanly; it prints the
//! ticks' one-way throughput and the orders' round-trip latency (p50, p99, p99.9), under
//! load and alone. It exits non-zero on any failure.
//!
//! `cargo run --release -p zeta-remote --example remote_trading`

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use zeta::{Actor, Address, Context, Priority, Reply, System};
use zeta_remote::{
    Never, Node, NodeConfig, Protocol, RemoteAddress, RemoteError, Serve, Undelivered,
};

const TICKS: u64 = 50_000;
const ORDER_EVERY: u64 = 10;
const SEQUENTIAL: u64 = 2_000;
const SYMBOLS: u16 = 8;
const WAIT: Duration = Duration::from_secs(60);
/// How soon the gateway tries again to send orders the outbound buffer refused.
const RETRY: Duration = Duration::from_micros(200);

/// Ticks from the market to the desk.
struct Ticks;
impl Protocol for Ticks {
    const NAME: &'static str = "trading.ticks";
    const VERSION: u32 = 1;
    type Tell = Feed;
    type Ask = Never;
    type Answer = ();
}

#[derive(Debug, Serialize, Deserialize)]
enum Feed {
    Tick { seq: u64, symbol: u16, price: u64 },
    End { count: u64 },
}

/// Orders from the desk to the market's exchange.
struct Orders;
impl Protocol for Orders {
    const NAME: &'static str = "trading.orders";
    const VERSION: u32 = 1;
    type Tell = Never;
    type Ask = Order;
    type Answer = Fill;
}

#[derive(Debug, Serialize, Deserialize)]
struct Order {
    id: u64,
    symbol: u16,
    qty: u32,
    /// Buy at most at this price.
    limit: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Fill {
    id: u64,
    qty: u32,
    price: u64,
}

fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--market") {
        market(&args.next().expect("--market <endpoint>"));
    } else {
        desk();
    }
}

// ---- The market process ----

/// Fills orders at the last price of their symbol (none above the limit).
struct Exchange {
    last: Vec<u64>,
}

enum ExchangeMsg {
    Price { symbol: u16, price: u64 },
    Order(Order, Reply<Fill>),
}

impl Actor for Exchange {
    type Message = ExchangeMsg;
    fn handle(&mut self, msg: ExchangeMsg, _ctx: &mut Context<'_, Self>) {
        match msg {
            ExchangeMsg::Price { symbol, price } => self.last[symbol as usize] = price,
            ExchangeMsg::Order(order, reply) => {
                let price = self.last[order.symbol as usize];
                let qty = if price <= order.limit { order.qty } else { 0 };
                let _ = reply.send(Fill {
                    id: order.id,
                    qty,
                    price,
                });
            }
        }
    }
}

impl Serve<Orders> for Exchange {
    fn tell(never: Never) -> ExchangeMsg {
        match never {}
    }
    fn ask(order: Order, reply: Reply<Fill>) -> ExchangeMsg {
        ExchangeMsg::Order(order, reply)
    }
}

fn market(endpoint: &str) {
    let system = System::sharing(1).unwrap();
    let config = NodeConfig::new("market")
        .connect(endpoint)
        .lookup_timeout(Duration::from_secs(30));
    let node = Node::open(config, &system).unwrap();
    let exchange = system
        .spawn_named(
            "exchange",
            Exchange {
                last: vec![100_000; SYMBOLS as usize],
            },
        )
        .unwrap();
    node.export::<Orders, _>("exchange", &exchange).unwrap();
    let strategy = node.lookup::<Ticks>("desk", "strategy").unwrap();
    println!("ready");
    std::io::stdout().flush().unwrap();

    // The feed: a random walk per symbol, to the local exchange and the remote desk.
    let mut rng = fastrand::Rng::with_seed(7);
    let mut prices = vec![100_000u64; SYMBOLS as usize];
    let mut handed_back = 0u64;
    for seq in 1..=TICKS {
        let symbol = rng.u16(0..SYMBOLS);
        let price = &mut prices[symbol as usize];
        *price = (*price as i64 + rng.i64(-50..=50)).max(1) as u64;
        exchange
            .send(ExchangeMsg::Price {
                symbol,
                price: *price,
            })
            .unwrap();
        let mut tick = Feed::Tick {
            seq,
            symbol,
            price: *price,
        };
        loop {
            match strategy.send(tick) {
                Ok(()) => break,
                Err(error) if error.reason() == Undelivered::Full => {
                    handed_back += 1;
                    tick = error.into_message();
                    std::thread::yield_now();
                }
                Err(error) => panic!("the desk is gone: {error}"),
            }
        }
    }
    while let Err(error) = strategy.send(Feed::End { count: TICKS }) {
        assert_eq!(error.reason(), Undelivered::Full);
        std::thread::yield_now();
    }
    println!("fed {TICKS} ticks, {handed_back} handed back (full) and sent again");
    std::io::stdout().flush().unwrap();
    // Until the desk is done with us: it closes our stdin.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

// ---- The desk process ----

/// Counts the ticks (checking their order) and orders through the gateway.
struct Strategy {
    gateway: Address<Gateway>,
    next_seq: u64,
    first: Option<Instant>,
}

impl Actor for Strategy {
    type Message = Feed;
    fn handle(&mut self, feed: Feed, _ctx: &mut Context<'_, Self>) {
        match feed {
            Feed::Tick { seq, symbol, price } => {
                assert_eq!(seq, self.next_seq, "ticks out of order");
                self.next_seq += 1;
                self.first.get_or_insert_with(Instant::now);
                if seq % ORDER_EVERY == 0 {
                    self.gateway
                        .send(GatewayMsg::Place { symbol, price })
                        .unwrap();
                }
            }
            Feed::End { count } => {
                assert_eq!(self.next_seq - 1, count, "ticks lost");
                let elapsed = self.first.map_or(Duration::ZERO, |first| first.elapsed());
                self.gateway
                    .send(GatewayMsg::FeedDone { count, elapsed })
                    .unwrap();
            }
        }
    }
}

impl Serve<Ticks> for Strategy {
    fn tell(feed: Feed) -> Feed {
        feed
    }
    fn ask(never: Never, _reply: Reply<()>) -> Feed {
        match never {}
    }
}

/// Asks the exchange; records each order's round trip and that it was answered once.
struct Gateway {
    exchange: RemoteAddress<Orders>,
    /// When each order was sent, and whether it was sent alone (the sequential phase).
    sent_at: Vec<Option<(Instant, bool)>>,
    answered: Vec<u8>,
    loaded: Histogram<u64>,
    alone: Histogram<u64>,
    feed: Option<(u64, Duration)>,
    /// Orders of the sequential phase still to answer; `None` until it starts.
    sequential_left: Option<u64>,
    /// Orders the outbound buffer refused, to send again.
    backlog: std::collections::VecDeque<Order>,
    /// How many times an order was handed back (full).
    refused: u64,
    filled: u64,
    done: mpsc::Sender<Report>,
}

enum GatewayMsg {
    Place { symbol: u16, price: u64 },
    Filled(u64, Result<Fill, RemoteError>),
    Retry,
    FeedDone { count: u64, elapsed: Duration },
}

struct Report {
    ticks: u64,
    feed_elapsed: Duration,
    orders: u64,
    filled: u64,
    loaded: Histogram<u64>,
    alone: Histogram<u64>,
    answered_once: bool,
    refused: u64,
}

impl Gateway {
    fn place(&mut self, symbol: u16, price: u64, ctx: &Context<'_, Self>) {
        let id = self.sent_at.len() as u64;
        let alone = self.sequential_left.is_some();
        self.sent_at.push(Some((Instant::now(), alone)));
        self.answered.push(0);
        let order = Order {
            id,
            symbol,
            qty: 10,
            limit: price + 100,
        };
        if !self.backlog.is_empty() {
            // Behind the ones kept back: orders leave in order.
            self.backlog.push_back(order);
            return;
        }
        // At high priority: orders and their fills pass the ticks queued on the link.
        let placed = self
            .exchange
            .ask_to_with(Priority::High, order, ctx.address(), move |fill| {
                GatewayMsg::Filled(id, fill)
            });
        if let Err(error) = placed {
            // The outbound buffer to the market is full: keep the order, try again in a
            // moment (a handler never waits for the network).
            assert_eq!(error.reason(), Undelivered::Full, "order {id} not sent");
            if self.backlog.is_empty() {
                ctx.send_after(RETRY, GatewayMsg::Retry).expect("timers");
            }
            self.backlog.push_back(error.into_message());
            self.refused += 1;
        }
    }

    /// Sends the orders kept back, in order, until the buffer is full again.
    fn retry(&mut self, ctx: &Context<'_, Self>) {
        while let Some(order) = self.backlog.pop_front() {
            let id = order.id;
            let placed =
                self.exchange
                    .ask_to_with(Priority::High, order, ctx.address(), move |fill| {
                        GatewayMsg::Filled(id, fill)
                    });
            if let Err(error) = placed {
                assert_eq!(error.reason(), Undelivered::Full, "order {id} not sent");
                self.backlog.push_front(error.into_message());
                self.refused += 1;
                ctx.send_after(RETRY, GatewayMsg::Retry).expect("timers");
                return;
            }
        }
    }

    /// After the feed's end and the last order under load: the sequential phase; after
    /// its last order: the report.
    fn next_phase(&mut self, ctx: &Context<'_, Self>) {
        let Some((ticks, feed_elapsed)) = self.feed else {
            return;
        };
        if !self.answered.iter().all(|&n| n > 0) {
            return;
        }
        match self.sequential_left {
            None => {
                self.sequential_left = Some(SEQUENTIAL);
                self.place(0, 1_000_000, ctx);
            }
            Some(0) => {
                let report = Report {
                    ticks,
                    feed_elapsed,
                    orders: self.answered.len() as u64,
                    filled: self.filled,
                    loaded: self.loaded.clone(),
                    alone: self.alone.clone(),
                    answered_once: self.answered.iter().all(|&n| n == 1),
                    refused: self.refused,
                };
                let _ = self.done.send(report);
            }
            Some(_) => {}
        }
    }
}

impl Actor for Gateway {
    type Message = GatewayMsg;
    fn handle(&mut self, msg: GatewayMsg, ctx: &mut Context<'_, Self>) {
        match msg {
            GatewayMsg::Place { symbol, price } => self.place(symbol, price, ctx),
            GatewayMsg::Filled(id, fill) => {
                let fill = fill.unwrap_or_else(|error| panic!("order {id}: {error}"));
                assert_eq!(fill.id, id);
                self.answered[id as usize] += 1;
                if fill.qty > 0 {
                    self.filled += 1;
                }
                let (sent, alone) = self.sent_at[id as usize].take().expect("answered twice");
                let nanos = sent.elapsed().as_nanos() as u64;
                if alone {
                    self.alone.saturating_record(nanos);
                    let left = self
                        .sequential_left
                        .as_mut()
                        .expect("in the sequential phase");
                    *left -= 1;
                    if *left > 0 {
                        self.place((id % SYMBOLS as u64) as u16, fill.price, ctx);
                    }
                } else {
                    self.loaded.saturating_record(nanos);
                }
                self.next_phase(ctx);
            }
            GatewayMsg::Retry => self.retry(ctx),
            GatewayMsg::FeedDone { count, elapsed } => {
                self.feed = Some((count, elapsed));
                self.next_phase(ctx);
            }
        }
    }
}

fn desk() {
    let system = System::sharing(2).unwrap();
    let config = |endpoint: &str| {
        NodeConfig::new("desk")
            .listen(endpoint)
            .lookup_timeout(Duration::from_secs(30))
    };
    let (node, endpoint) = (0..10)
        .find_map(|_| {
            let endpoint = zeta_remote::loopback_endpoint().ok()?;
            let node = Node::open(config(&endpoint), &system).ok()?;
            Some((node, endpoint))
        })
        .expect("a free port on loopback");

    // The market process: this binary again.
    let mut market = Command::new(std::env::current_exe().unwrap())
        .args(["--market", &endpoint])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the market process");
    let (lines, said) = mpsc::channel();
    let stdout = market.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });

    // The exchange, once the market has exported it (the lookup asks until then); then
    // the desk's actors, and the strategy exported for the market's feed, which looks
    // it up in the same way.
    let exchange = match node.lookup::<Orders>("market", "exchange") {
        Ok(exchange) => exchange,
        Err(error) => {
            let _ = market.kill();
            panic!("no exchange: {error}");
        }
    };
    let histogram = || Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    let (done, report) = mpsc::channel();
    let gateway = system
        .spawn_named(
            "gateway",
            Gateway {
                exchange,
                sent_at: Vec::new(),
                answered: Vec::new(),
                loaded: histogram(),
                alone: histogram(),
                feed: None,
                sequential_left: None,
                backlog: Default::default(),
                refused: 0,
                filled: 0,
                done,
            },
        )
        .unwrap();
    let strategy = system
        .spawn_named(
            "strategy",
            Strategy {
                gateway,
                next_seq: 1,
                first: None,
            },
        )
        .unwrap();
    node.export::<Ticks, _>("strategy", &strategy).unwrap();

    let report = match report.recv_timeout(WAIT) {
        Ok(report) => report,
        Err(_) => {
            let _ = market.kill();
            panic!("the run did not finish in {WAIT:?}");
        }
    };
    drop(market.stdin.take()); // the market's stdin closes: it exits
    let status = market.wait().unwrap();
    for line in said.try_iter().filter(|line| line != "ready") {
        println!("market: {line}");
    }
    assert!(status.success(), "the market process failed: {status}");
    check_and_print(&report);
}

fn check_and_print(report: &Report) {
    assert_eq!(report.ticks, TICKS);
    assert_eq!(report.orders, TICKS / ORDER_EVERY + SEQUENTIAL);
    assert!(
        report.answered_once,
        "an order was not answered exactly once"
    );
    let per_second = report.ticks as f64 / report.feed_elapsed.as_secs_f64();
    println!(
        "ticks: {} one way in {:?} ({per_second:.0} ticks/s)",
        report.ticks, report.feed_elapsed
    );
    for (what, histogram) in [("under load", &report.loaded), ("alone", &report.alone)] {
        println!(
            "order round trip {what} ({} orders): p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs",
            histogram.len(),
            histogram.value_at_quantile(0.50) as f64 / 1e3,
            histogram.value_at_quantile(0.99) as f64 / 1e3,
            histogram.value_at_quantile(0.999) as f64 / 1e3,
        );
    }
    println!(
        "ok: every tick once and in order, {} orders answered once each ({} filled; {} times handed back full and sent again), the market exited cleanly",
        report.orders, report.filled, report.refused
    );
}
