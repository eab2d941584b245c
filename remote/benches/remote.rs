//! Remote round trips and one-way throughput, beside plain TCP on the same loopback, in
//! the same run.
//!
//! `cargo bench -p zeta-remote --bench remote` (release; `-- --rounds 5` for more rounds,
//! `-- --quick` for a smoke run). Each round runs, in turn:
//!
//! - `tcp ping-pong`: two threads, a blocking `TcpStream` each (`TCP_NODELAY`), a
//!   32-byte message echoed back and forth: the floor a network round trip costs here.
//! - `remote ask`: a thread asks an actor on the other node (a 32-byte `Vec<u8>`,
//!   echoed back) and waits for the answer, one at a time.
//! - `remote ping-pong`: two actors on two nodes tell each other a 32-byte message back
//!   and forth through their remote addresses (no thread waits).
//! - `tcp one-way`: 32-byte messages written one `write` each, counted by the reader.
//! - `remote one-way`: 32-byte tells from a thread to an actor on the other node
//!   (handed back when the outbound buffer is full, and sent again), counted by the
//!   actor.
//!
//! The two nodes are two zenoh sessions in this one process, connected over loopback
//! TCP (as are the two TCP threads); the round trips are printed as p50 / p99 of every
//! round trip of the round, the throughputs as messages per second; the table gives
//! the median of the rounds.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use zeta::{Actor, Context, Reply, System};
use zeta_remote::{Node, NodeConfig, Protocol, RemoteAddress, Serve, Undelivered};

const SIZE: usize = 32;
/// The first byte of a ping-pong message: bounce it back.
const BOUNCE: u8 = 1;
/// The first byte of a one-way message: count it.
const SINK: u8 = 0;

struct Echo;
impl Protocol for Echo {
    const NAME: &'static str = "bench.echo";
    const VERSION: u32 = 1;
    type Tell = Vec<u8>;
    type Ask = Vec<u8>;
    type Answer = Vec<u8>;
}

/// Answers asks with their bytes; counts tells, and bounces those marked `BOUNCE` to
/// `peer`.
struct Echoer {
    /// Set once both nodes have looked each other up.
    peer: Arc<OnceLock<RemoteAddress<Echo>>>,
    told: Arc<AtomicU64>,
    /// Ping-pong: the round trips left, and where to say it is over.
    rounds: Option<(u64, mpsc::Sender<Instant>)>,
}

enum EchoMsg {
    Tell(Vec<u8>),
    Ask(Vec<u8>, Reply<Vec<u8>>),
    /// Ping-pong: start `n` round trips, report the end on the sender.
    Start(u64, Vec<u8>, mpsc::Sender<Instant>),
}

impl Actor for Echoer {
    type Message = EchoMsg;
    fn handle(&mut self, msg: EchoMsg, _ctx: &mut Context<'_, Self>) {
        match msg {
            EchoMsg::Tell(bytes) => {
                self.told.fetch_add(1, Ordering::Relaxed);
                if let Some((left, done)) = &mut self.rounds {
                    *left -= 1;
                    if *left == 0 {
                        let _ = done.send(Instant::now());
                        self.rounds = None;
                        return;
                    }
                }
                // The first byte says whether to bounce it (ping-pong) or not (one-way).
                if bytes[0] == BOUNCE {
                    if let Some(peer) = self.peer.get() {
                        bounce(peer, bytes);
                    }
                }
            }
            EchoMsg::Ask(bytes, reply) => drop(reply.send(bytes)),
            EchoMsg::Start(n, bytes, done) => {
                self.rounds = Some((n, done));
                bounce(self.peer.get().expect("a peer"), bytes);
            }
        }
    }
}

fn bounce(peer: &RemoteAddress<Echo>, mut bytes: Vec<u8>) {
    loop {
        match peer.send(bytes) {
            Ok(()) => return,
            Err(error) if error.reason() == Undelivered::Full => {
                bytes = error.into_message();
                std::thread::yield_now();
            }
            Err(error) => panic!("{error}"),
        }
    }
}

impl Serve<Echo> for Echoer {
    fn tell(bytes: Vec<u8>) -> EchoMsg {
        EchoMsg::Tell(bytes)
    }
    fn ask(bytes: Vec<u8>, reply: Reply<Vec<u8>>) -> EchoMsg {
        EchoMsg::Ask(bytes, reply)
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap()
}

fn quantiles(h: &Histogram<u64>) -> (f64, f64) {
    (
        h.value_at_quantile(0.5) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
    )
}

fn tcp_ping_pong(rounds: u64) -> (f64, f64) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        let mut buffer = [0u8; SIZE];
        while stream.read_exact(&mut buffer).is_ok() {
            stream.write_all(&buffer).unwrap();
        }
    });
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut h = histogram();
    let mut buffer = [7u8; SIZE];
    for _ in 0..rounds {
        let start = Instant::now();
        stream.write_all(&buffer).unwrap();
        stream.read_exact(&mut buffer).unwrap();
        h.saturating_record(start.elapsed().as_nanos() as u64);
    }
    drop(stream);
    server.join().unwrap();
    quantiles(&h)
}

fn tcp_one_way(messages: u64) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buffer = [0u8; SIZE];
        let mut count = 0u64;
        while stream.read_exact(&mut buffer).is_ok() {
            count += 1;
        }
        (count, Instant::now())
    });
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_nodelay(true).unwrap();
    let buffer = [7u8; SIZE];
    let start = Instant::now();
    for _ in 0..messages {
        stream.write_all(&buffer).unwrap();
    }
    drop(stream);
    let (count, end) = reader.join().unwrap();
    assert_eq!(count, messages);
    messages as f64 / (end - start).as_secs_f64()
}

struct Remote {
    _system: System<zeta::SharingScheduler>,
    a: Node,
    _b: Node,
    /// On node b: answers asks, counts tells; bounces to a's `pong`.
    echo: RemoteAddress<Echo>,
    told: Arc<AtomicU64>,
    /// On node a: starts ping-pongs.
    ping: zeta::Address<Echoer>,
}

fn remote(name: &str) -> Remote {
    let system = System::sharing(2).unwrap();
    let endpoint = zeta_remote::loopback_endpoint().unwrap();
    let (name_a, name_b) = (format!("{name}-a"), format!("{name}-b"));
    let a = Node::open(NodeConfig::new(&name_a).listen(&endpoint), &system).unwrap();
    let b = Node::open(NodeConfig::new(&name_b).connect(&endpoint), &system).unwrap();
    let told = Arc::new(AtomicU64::new(0));
    let (to_a, to_b) = (Arc::new(OnceLock::new()), Arc::new(OnceLock::new()));
    let echo = system
        .spawn(Echoer {
            peer: to_a.clone(),
            told: told.clone(),
            rounds: None,
        })
        .unwrap();
    b.export::<Echo, _>("echo", &echo).unwrap();
    let ping = system
        .spawn(Echoer {
            peer: to_b.clone(),
            told: Arc::new(AtomicU64::new(0)),
            rounds: None,
        })
        .unwrap();
    a.export::<Echo, _>("ping", &ping).unwrap();
    let echo = a.lookup::<Echo>(&name_b, "echo").unwrap();
    let _ = to_b.set(echo.clone());
    let _ = to_a.set(b.lookup::<Echo>(&name_a, "ping").unwrap());
    Remote {
        _system: system,
        a,
        _b: b,
        echo,
        told,
        ping,
    }
}

fn remote_ask(remote: &Remote, rounds: u64) -> (f64, f64) {
    let mut h = histogram();
    for _ in 0..rounds {
        let start = Instant::now();
        let answer = remote
            .echo
            .ask(vec![7u8; SIZE])
            .unwrap()
            .wait_timeout(Duration::from_secs(10))
            .unwrap();
        h.saturating_record(start.elapsed().as_nanos() as u64);
        assert_eq!(answer.len(), SIZE);
    }
    quantiles(&h)
}

/// Ping-pong between actors: the mean round trip (no per-trip stamps: the trips run
/// inside the actors).
fn remote_ping_pong(remote: &Remote, rounds: u64) -> f64 {
    let (done, end) = mpsc::channel();
    let start = Instant::now();
    remote
        .ping
        .send(EchoMsg::Start(rounds, vec![BOUNCE; SIZE], done))
        .unwrap();
    let end = end.recv_timeout(Duration::from_secs(60)).unwrap();
    (end - start).as_secs_f64() * 1e6 / rounds as f64
}

fn remote_one_way(remote: &Remote, messages: u64) -> f64 {
    let before = remote.told.load(Ordering::Relaxed);
    let start = Instant::now();
    for _ in 0..messages {
        let mut bytes = vec![SINK; SIZE];
        loop {
            match remote.echo.send(bytes) {
                Ok(()) => break,
                Err(error) => {
                    assert_eq!(error.reason(), Undelivered::Full);
                    bytes = error.into_message();
                    std::thread::yield_now();
                }
            }
        }
    }
    while remote.told.load(Ordering::Relaxed) - before < messages {
        assert!(start.elapsed() < Duration::from_secs(60), "tells lost");
        std::thread::sleep(Duration::from_micros(50));
    }
    messages as f64 / start.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    let rounds: usize = args
        .iter()
        .position(|arg| arg == "--rounds")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(if quick { 1 } else { 5 });
    let (trips, messages) = if quick {
        (500, 5_000)
    } else {
        (10_000, 200_000)
    };
    let remote = remote("bench");
    let mut rows: Vec<(&str, Vec<(f64, f64)>)> = vec![
        ("tcp ping-pong", Vec::new()),
        ("remote ask", Vec::new()),
        ("remote ping-pong (mean)", Vec::new()),
        ("tcp one-way", Vec::new()),
        ("remote one-way", Vec::new()),
    ];
    for round in 0..rounds {
        rows[0].1.push(tcp_ping_pong(trips));
        rows[1].1.push(remote_ask(&remote, trips / 2));
        let mean = remote_ping_pong(&remote, trips);
        rows[2].1.push((mean, mean));
        let tcp = tcp_one_way(messages);
        rows[3].1.push((tcp, tcp));
        let zeta = remote_one_way(&remote, messages);
        rows[4].1.push((zeta, zeta));
        eprintln!(
            "round {round}: tcp rtt p50 {:.1} µs, ask p50 {:.1} µs, ping-pong {:.1} µs, tcp {:.0}/s, remote {:.0}/s",
            rows[0].1[round].0, rows[1].1[round].0, mean, tcp, zeta
        );
    }
    println!(
        "\n{SIZE}-byte messages on loopback, median of {rounds} rounds ({trips} round trips, {messages} one-way messages a round)\n"
    );
    println!("| case | p50 µs | p99 µs | messages/s |");
    println!("|---|--:|--:|--:|");
    for (name, values) in &rows {
        let p50 = median(values.iter().map(|v| v.0).collect());
        let p99 = median(values.iter().map(|v| v.1).collect());
        if name.contains("one-way") {
            println!("| {name} | | | {p50:.0} |");
        } else if name.contains("mean") {
            println!("| {name} | {p50:.1} (mean) | | |");
        } else {
            println!("| {name} | {p50:.1} | {p99:.1} | |");
        }
    }
    drop(remote.a);
}
