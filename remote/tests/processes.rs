//! Two nodes as two processes on loopback: this test binary runs itself a second time
//! as the other node (`ZETA_REMOTE_CHILD` set), so `cargo test` needs no service
//! started by hand.
//!
//! The parent listens; the child connects, exports a counter, sends and asks to the
//! parent's, and says `ready`. Then the parent sends and asks to the child's (100,000
//! numbered messages on two priorities, checked in order), watches it, and kills the
//! process (SIGKILL): the `Down` (`NodeLost`) and the pending ask's `NodeLost` must
//! come within `DETECTION_BOUND`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Ask, Counter, Tell, count, lane_priority, send_until_accepted};
use zeta::{Actor, Context, Down, StopReason, System};
use zeta_remote::{Node, NodeConfig, RemoteError, Undelivered};

const WAIT: Duration = Duration::from_secs(20);
/// How soon a killed process's watchers must know. On loopback the kernel closes the
/// dead process's sockets at once, and zenoh drops its token: milliseconds.
const DETECTION_BOUND: Duration = Duration::from_secs(2);

fn main() {
    if let Ok(endpoint) = std::env::var("ZETA_REMOTE_CHILD") {
        child(&endpoint);
        return;
    }
    parent();
    println!("processes: ok");
}

/// The second process: node `proc-child`.
fn child(endpoint: &str) {
    let system = System::sharing(1).unwrap();
    let node = Node::open(NodeConfig::new("proc-child").connect(endpoint), &system).unwrap();
    let (actor, _seen) = count();
    node.export::<Counter, _>("counter", &system.spawn(actor).unwrap())
        .unwrap();
    // This way too: the parent's counter.
    let parent = node.lookup::<Counter>("proc-parent", "counter").unwrap();
    for n in 1..=10 {
        parent.send(Tell::Add(n)).unwrap();
    }
    assert_eq!(parent.ask(Ask::Sum).unwrap().wait_timeout(WAIT), Ok(55));
    println!("ready");
    std::io::stdout().flush().unwrap();
    // Until killed (or the parent goes: stdin closes).
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

struct Watcher(mpsc::Sender<(Down, Instant)>);
impl Actor for Watcher {
    type Message = ();
    fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {}
    fn on_down(&mut self, down: Down, _ctx: &mut Context<'_, Self>) {
        let _ = self.0.send((down, Instant::now()));
    }
}

fn parent() {
    let system = System::sharing(2).unwrap();
    let (node, endpoint) = (0..10)
        .find_map(|_| {
            let endpoint = zeta_remote::loopback_endpoint().unwrap();
            let node = Node::open(NodeConfig::new("proc-parent").listen(&endpoint), &system);
            node.ok().map(|node| (node, endpoint))
        })
        .expect("a free port on loopback");
    let (actor, seen) = count();
    node.export::<Counter, _>("counter", &system.spawn(actor).unwrap())
        .unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("ZETA_REMOTE_CHILD", &endpoint)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (said, hear) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = said.send(line.unwrap_or_default());
        }
    });
    let ready = hear.recv_timeout(WAIT);
    if ready.as_deref() != Ok("ready") {
        let _ = child.kill();
        panic!("the child node did not start: {ready:?}");
    }
    // The child's tells and ask reached this process.
    assert_eq!(seen.sum.load(Ordering::Relaxed), 55);

    let remote = node.lookup::<Counter>("proc-child", "counter").unwrap();
    assert_eq!(
        remote.ask(Ask::Echo(42)).unwrap().wait_timeout(WAIT),
        Ok(42)
    );

    // Per-sender FIFO per priority, across processes: 100,000 numbered messages, one
    // in three high.
    const N: u64 = 100_000;
    let (mut next, mut returned) = ([1u64, 1u64], 0u64);
    let started = Instant::now();
    for i in 0..N {
        let lane = (i % 3 == 0) as u8;
        let message = Tell::Seq {
            sender: 0,
            lane,
            n: next[lane as usize],
        };
        returned += send_until_accepted(&remote, lane_priority(lane), message);
        next[lane as usize] += 1;
    }
    let mut tells = 0;
    while tells < N {
        assert!(started.elapsed() < WAIT, "only {tells} of {N} arrived");
        tells = remote.ask(Ask::Tells).unwrap().wait_timeout(WAIT).unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!(remote.ask(Ask::Disorder).unwrap().wait_timeout(WAIT), Ok(0));
    println!(
        "{N} messages across processes, in order, in {elapsed:?} ({:.0} messages/s); \
         {returned} handed back (full) and sent again",
        N as f64 / elapsed.as_secs_f64()
    );

    // The kill.
    let (downs, down) = mpsc::channel();
    let watcher = system.spawn(Watcher(downs)).unwrap();
    let _monitor = remote.monitor(&watcher).unwrap();
    remote.send(Tell::Slow(5_000_000)).unwrap();
    let mut pending = remote.ask(Ask::Echo(1)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!pending.is_ready());
    let killed = Instant::now();
    child.kill().unwrap();
    let (notice, at) = down.recv_timeout(WAIT).expect("a Down for the killed node");
    let detected = at - killed;
    assert_eq!(
        (notice.id, notice.reason),
        (remote.id(), StopReason::NodeLost)
    );
    assert_eq!(pending.wait_timeout(WAIT), Err(RemoteError::NodeLost));
    let failed = killed.elapsed();
    assert_eq!(
        remote.send(Tell::Add(1)).unwrap_err().reason(),
        Undelivered::NodeLost
    );
    println!("killed: Down after {detected:?}, the pending ask failed after {failed:?}");
    assert!(detected < DETECTION_BOUND, "Down after {detected:?}");
    assert!(failed < DETECTION_BOUND, "the ask failed after {failed:?}");
    let _ = child.wait();
}
