//! Two nodes in one process, on loopback: sends and asks both ways, order, monitors,
//! a node's loss, backpressure, mismatches. Every wait is bounded.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{
    Ask, Count, Counter, Tell, count, eventually, lane_priority, pair, send_until_accepted,
};
use zeta::{Actor, Context, Down, StopReason, System};
use zeta_remote::{LookupError, NodeConfig, Protocol, RemoteError, Undelivered};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn send_and_ask_both_ways() {
    let system = System::sharing(2).unwrap();
    let (a, b) = pair(&system, "ways-a", "ways-b", |config| config);
    let (actor_a, seen_a) = count();
    let (actor_b, seen_b) = count();
    a.export::<Counter, _>("counter", &system.spawn(actor_a).unwrap())
        .unwrap();
    b.export::<Counter, _>("counter", &system.spawn(actor_b).unwrap())
        .unwrap();
    let to_a = b.lookup::<Counter>("ways-a", "counter").unwrap();
    let to_b = a.lookup::<Counter>("ways-b", "counter").unwrap();
    for n in 1..=10 {
        to_a.send(Tell::Add(n)).unwrap();
        to_b.send_high(Tell::Add(2 * n)).unwrap();
    }
    // Per-sender FIFO: the sums are in before the questions are answered.
    assert_eq!(to_a.ask(Ask::Sum).unwrap().wait_timeout(WAIT), Ok(55));
    assert_eq!(to_b.ask_high(Ask::Sum).unwrap().wait_timeout(WAIT), Ok(110));
    assert_eq!(to_a.ask(Ask::Echo(7)).unwrap().wait_timeout(WAIT), Ok(7));
    assert_eq!(seen_a.tells.load(Ordering::Relaxed), 10);
    assert_eq!(seen_b.tells.load(Ordering::Relaxed), 10);
    // A second lookup is the same remote actor.
    assert_eq!(
        b.lookup::<Counter>("ways-a", "counter").unwrap().id(),
        to_a.id()
    );
    assert_eq!(a.stats().delivered, 10);
    assert_eq!(b.stats().delivered, 10);
}

#[test]
fn fifo_per_sender_per_priority_over_100_000_messages() {
    const N: u64 = 100_000;
    let system = System::sharing(2).unwrap();
    let (a, b) = pair(&system, "fifo-a", "fifo-b", |config| config);
    let (actor, seen) = count();
    a.export::<Counter, _>("counter", &system.spawn(actor).unwrap())
        .unwrap();
    let remote = b.lookup::<Counter>("fifo-a", "counter").unwrap();
    let senders: Vec<_> = (0..2u32)
        .map(|sender| {
            let remote = remote.clone();
            std::thread::spawn(move || {
                let mut returned = 0u64;
                let mut next = [1u64, 1u64];
                for i in 0..N / 2 {
                    let lane = (i % 3 == 0) as u8;
                    let message = Tell::Seq {
                        sender,
                        lane,
                        n: next[lane as usize],
                    };
                    // A full outbound buffer hands the message back: send it again
                    // (slowing down), so that every number arrives once.
                    returned += send_until_accepted(&remote, lane_priority(lane), message);
                    next[lane as usize] += 1;
                }
                returned
            })
        })
        .collect();
    let returned: u64 = senders.into_iter().map(|s| s.join().unwrap()).sum();
    eventually("every message", || seen.tells.load(Ordering::Relaxed) == N);
    assert_eq!(seen.disorder.load(Ordering::Relaxed), 0, "out of order");
    println!("100,000 messages in order; {returned} handed back (full) and sent again");
}

struct Watcher(mpsc::Sender<Down>);
impl Actor for Watcher {
    type Message = ();
    fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {}
    fn on_down(&mut self, down: Down, _ctx: &mut Context<'_, Self>) {
        let _ = self.0.send(down);
    }
}

#[test]
fn monitors_get_the_remote_reason_and_later_asks_the_end() {
    let system = System::sharing(2).unwrap();
    let (a, b) = pair(&system, "mon-a", "mon-b", |config| config);
    let (downs, down) = mpsc::channel();
    let watcher = system.spawn(Watcher(downs)).unwrap();
    for (name, end, reason) in [
        ("stops", Tell::Stop, StopReason::Stopped),
        (
            "panics",
            Tell::Panic,
            StopReason::Panicked("told to panic".into()),
        ),
    ] {
        let (actor, _) = count();
        let local = system.spawn(actor).unwrap();
        a.export::<Counter, _>(name, &local).unwrap();
        let remote = b.lookup::<Counter>("mon-a", name).unwrap();
        let _monitor = remote.monitor(&watcher).unwrap();
        remote.send(end).unwrap();
        let notice = down.recv_timeout(WAIT).unwrap();
        assert_eq!((notice.id, &notice.reason), (remote.id(), &reason));
        assert!(!remote.is_alive());
        assert_eq!(
            remote.send(Tell::Add(1)).unwrap_err().reason(),
            Undelivered::ActorStopped
        );
        // A node that looks it up after its end learns the end at once.
        let late = a.lookup::<Counter>("mon-a", name).unwrap();
        assert_eq!(
            late.stopped().unwrap().wait_timeout(WAIT),
            Ok(reason.clone())
        );
    }
    assert!(down.try_recv().is_err(), "one Down each");
}

#[test]
fn asks_resolve_with_every_kind_of_failure() {
    let system = System::sharing(2).unwrap();
    let (a, b) = pair(&system, "fail-a", "fail-b", |config| config);
    let (actor, _) = count();
    let local = system.spawn(actor).unwrap();
    a.export::<Counter, _>("counter", &local).unwrap();
    let remote = b.lookup::<Counter>("fail-a", "counter").unwrap();
    assert_eq!(
        remote.ask(Ask::Drop).unwrap().wait_timeout(WAIT),
        Err(RemoteError::NoReply)
    );
    assert_eq!(
        remote.ask(Ask::Panic).unwrap().wait_timeout(WAIT),
        Err(RemoteError::HandlerPanicked)
    );
    // The panic ended the actor (unsupervised): a later ask is refused here, once this
    // node knows (the stand-in has ended), or answered with the end by the actor's node.
    let ended = StopReason::Panicked("asked to panic".into());
    match remote.ask(Ask::Echo(1)) {
        Err(refused) => assert_eq!(refused.reason(), Undelivered::ActorStopped),
        Ok(mut after) => assert_eq!(
            after.wait_timeout(WAIT),
            Err(RemoteError::Ended(ended.clone()))
        ),
    }
    assert_eq!(
        remote.stopped().unwrap().wait_timeout(WAIT),
        Ok(ended.clone())
    );
    // A node that looks it up afresh, and asks before its stand-in has heard, is
    // answered with the end.
    let fresh = a.lookup::<Counter>("fail-a", "counter").unwrap();
    match fresh.ask(Ask::Echo(2)) {
        Err(refused) => assert_eq!(refused.reason(), Undelivered::ActorStopped),
        Ok(mut after) => assert_eq!(after.wait_timeout(WAIT), Err(RemoteError::Ended(ended))),
    }
}

#[test]
fn a_lost_node_ends_its_stand_ins_and_its_pending_asks() {
    let system = System::sharing(2).unwrap();
    let (a, b) = pair(&system, "lost-a", "lost-b", |config| config);
    let (actor, _) = count();
    a.export::<Counter, _>("slow", &system.spawn(actor).unwrap())
        .unwrap();
    let remote = b.lookup::<Counter>("lost-a", "slow").unwrap();
    let (downs, down) = mpsc::channel();
    let watcher = system.spawn(Watcher(downs)).unwrap();
    let _monitor = remote.monitor(&watcher).unwrap();
    // Keep the actor busy, so that an ask is pending when the node goes.
    remote.send(Tell::Slow(300_000)).unwrap();
    let mut pending = remote.ask(Ask::Echo(1)).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let closed = Instant::now();
    a.close();
    let notice = down.recv_timeout(WAIT).unwrap();
    let detected = closed.elapsed();
    assert_eq!(
        (notice.id, notice.reason),
        (remote.id(), StopReason::NodeLost)
    );
    assert_eq!(pending.wait_timeout(WAIT), Err(RemoteError::NodeLost));
    assert_eq!(
        remote.send(Tell::Add(1)).unwrap_err().reason(),
        Undelivered::NodeLost
    );
    println!("node closed: Down after {detected:?}");
}

#[test]
fn a_slow_receiver_slows_its_senders_and_loses_nothing() {
    const SENT: u64 = 3_000;
    let system = System::sharing(2).unwrap();
    let (a, b) = pair(&system, "slow-a", "slow-b", |config| {
        config.outbound_capacity(16)
    });
    let (actor, seen) = count();
    // A mailbox of 4, and 20 µs of sleep (so, on Linux, 70 µs or more) a message: far
    // slower than the sender.
    let local = system.spawn_bounded(actor, 4).unwrap();
    a.export::<Counter, _>("counter", &local).unwrap();
    let remote = b.lookup::<Counter>("slow-a", "counter").unwrap();
    remote.send(Tell::Slow(200)).unwrap();
    let (mut sent, mut accepted, mut returned) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    for n in 0..SENT {
        sent += 1;
        match remote.send(Tell::Slow(20 + n % 2)) {
            Ok(()) => accepted += 1,
            Err(error) => {
                assert_eq!(error.reason(), Undelivered::Full);
                returned += 1;
                // Slow down a little, as a real sender would.
                if returned % 64 == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    assert!(returned > 0, "the senders never felt the slow receiver");
    // Nothing is dropped on the way: once the receiver has caught up, what it handled
    // and what came back make up what was sent (the `Slow` first, besides).
    eventually("the accepted messages", || {
        seen.tells.load(Ordering::Relaxed) == accepted + 1
    });
    std::thread::sleep(Duration::from_millis(50)); // nothing more arrives
    let delivered = seen.tells.load(Ordering::Relaxed) - 1;
    assert_eq!(delivered + returned, sent);
    assert_eq!(a.stats().delivered, delivered + 1);
    assert_eq!(a.stats().refused + a.stats().undecodable, 0);
    println!("sent {sent}: {delivered} delivered + {returned} handed back (full)");
}

/// The same name and version as `Counter`, other types: a protocol written wrong.
struct Impostor;
impl Protocol for Impostor {
    const NAME: &'static str = "test.counter";
    const VERSION: u32 = 1;
    type Tell = u64;
    type Ask = u64;
    type Answer = u64;
}

struct Versioned;
impl Protocol for Versioned {
    const NAME: &'static str = "test.counter";
    const VERSION: u32 = 2;
    type Tell = Tell;
    type Ask = Ask;
    type Answer = u64;
}

#[test]
fn mismatches_and_missing_actors_are_errors() {
    let system = System::sharing(1).unwrap();
    let (a, b) = pair(&system, "mis-a", "mis-b", |config| {
        config.lookup_timeout(Duration::from_millis(300))
    });
    let (actor, seen) = count();
    a.export::<Counter, _>("counter", &system.spawn(actor).unwrap())
        .unwrap();
    assert_eq!(
        b.lookup::<Versioned>("mis-a", "counter").unwrap_err(),
        LookupError::Mismatch {
            expected: ("test.counter".into(), 2),
            found: ("test.counter".into(), 1),
        }
    );
    assert_eq!(
        b.lookup::<Counter>("mis-a", "nobody").unwrap_err(),
        LookupError::NotFound
    );
    assert!(matches!(
        b.lookup::<Counter>("mis-a", "a/b"),
        Err(LookupError::BadName(_))
    ));
    // Looked up once as `Counter`, the name cannot be had as another protocol.
    let _counter = b.lookup::<Counter>("mis-a", "counter").unwrap();
    assert!(matches!(
        b.lookup::<Versioned>("mis-a", "counter"),
        Err(LookupError::Mismatch { .. })
    ));
    // Same name and version, other types: the node that decodes says so.
    let impostor = a.lookup::<Impostor>("mis-a", "counter");
    let impostor = impostor.unwrap();
    // (Postcard is not self-describing: these numbers are no variant of `Ask`/`Tell`.)
    let undecodable = impostor.ask(1_000_000).unwrap().wait_timeout(WAIT);
    assert!(
        matches!(undecodable, Err(RemoteError::Undecodable(_))),
        "{undecodable:?}"
    );
    impostor.send(1_000_000).unwrap();
    eventually("the bad tell counted", || a.stats().undecodable == 1);
    assert_eq!(seen.tells.load(Ordering::Relaxed), 0);
}

#[test]
fn bad_configuration_is_an_error() {
    let system = System::sharing(1).unwrap();
    for config in [
        NodeConfig::new(""),
        NodeConfig::new("a/b"),
        NodeConfig::new("fine").outbound_capacity(0),
        NodeConfig::new("fine").listen("nonsense"),
    ] {
        assert!(zeta_remote::Node::open(config, &system).is_err());
    }
    let _ = Arc::new(()); // keep the import list honest across edits
    let _: Option<Count> = None;
}

/// An actor that asks a remote actor, the answer coming back as its own message.
struct Asker {
    remote: zeta_remote::RemoteAddress<Counter>,
    answers: mpsc::Sender<Result<u64, RemoteError>>,
}

enum AskerMsg {
    Go(u64),
    Answer(Result<u64, RemoteError>),
}

impl Actor for Asker {
    type Message = AskerMsg;
    fn handle(&mut self, msg: AskerMsg, ctx: &mut Context<'_, Self>) {
        match msg {
            AskerMsg::Go(n) => self
                .remote
                .ask_to(Ask::Echo(n), ctx.address(), AskerMsg::Answer)
                .unwrap(),
            AskerMsg::Answer(answer) => self.answers.send(answer).unwrap(),
        }
    }
}

#[test]
fn an_actor_asks_and_the_answer_comes_as_a_message() {
    let system = System::sharing(2).unwrap();
    let (a, b) = pair(&system, "to-a", "to-b", |config| config);
    let (actor, _) = count();
    let counter = system.spawn(actor).unwrap();
    a.export::<Counter, _>("counter", &counter).unwrap();
    let remote = b.lookup::<Counter>("to-a", "counter").unwrap();
    let (answers, answer) = mpsc::channel();
    let asker = system.spawn(Asker { remote, answers }).unwrap();
    for n in 0..100 {
        asker.send(AskerMsg::Go(n)).unwrap();
    }
    let mut got: Vec<u64> = (0..100)
        .map(|_| answer.recv_timeout(WAIT).unwrap().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert!(
        answer.recv_timeout(Duration::from_millis(100)).is_err(),
        "once each"
    );
}

/// Panics when told.
struct Fragile;
impl Actor for Fragile {
    type Message = bool;
    fn handle(&mut self, fail: bool, _ctx: &mut Context<'_, Self>) {
        assert!(!fail, "fragile");
    }
}

#[test]
fn a_link_is_one_way_and_closing_a_node_ends_its_stand_ins() {
    let system = System::sharing(2).unwrap();
    let (a, b) = pair(&system, "link-a", "link-b", |config| config);
    let (actor, _) = count();
    a.export::<Counter, _>("counter", &system.spawn(actor).unwrap())
        .unwrap();
    let remote = b.lookup::<Counter>("link-a", "counter").unwrap();
    // A local failure does not end the stand-in: the remote actor lives on.
    let fragile = system.spawn(Fragile).unwrap();
    remote.link(&fragile).unwrap();
    let mut fragile_ended = fragile.stopped().unwrap();
    fragile.send(true).unwrap();
    assert_eq!(
        fragile_ended.wait_timeout(WAIT),
        Ok(StopReason::Panicked("fragile".into()))
    );
    std::thread::sleep(Duration::from_millis(20));
    assert!(remote.is_alive());
    assert_eq!(remote.ask(Ask::Echo(3)).unwrap().wait_timeout(WAIT), Ok(3));
    // Closing this node: its stand-ins end (`NodeLost`), their watchers are told.
    let (downs, down) = mpsc::channel();
    let watcher = system.spawn(Watcher(downs)).unwrap();
    let _monitor = remote.monitor(&watcher).unwrap();
    b.close();
    let notice = down.recv_timeout(WAIT).unwrap();
    assert_eq!(
        (notice.id, notice.reason),
        (remote.id(), StopReason::NodeLost)
    );
    assert!(!remote.is_alive());
    assert_eq!(
        remote.send(Tell::Add(1)).unwrap_err().reason(),
        Undelivered::Closed
    );
    drop(a);
}
