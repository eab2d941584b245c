//! What the remote tests share: a counter protocol and its actor, and a pair of nodes on
//! loopback.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeta::Priority;
use zeta::{Actor, Context, Reply, SharingScheduler, System};
use zeta_remote::{Node, NodeConfig, Protocol, RemoteAddress, Serve, Undelivered};

/// Tells: a sequence number at a priority; asks: echo, sum, panic, drop.
pub struct Counter;
impl Protocol for Counter {
    const NAME: &'static str = "test.counter";
    const VERSION: u32 = 1;
    type Tell = Tell;
    type Ask = Ask;
    type Answer = u64;
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Tell {
    Add(u64),
    /// A numbered message of a sender at a priority (0 normal, 1 high).
    Seq {
        sender: u32,
        lane: u8,
        n: u64,
    },
    /// Sleep this many microseconds (a slow receiver).
    Slow(u64),
    Stop,
    Panic,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Ask {
    Echo(u64),
    Sum,
    /// The tells handled so far.
    Tells,
    /// The messages seen out of order so far.
    Disorder,
    Panic,
    Drop,
}

/// What a counter saw, read by the test.
#[derive(Default)]
pub struct Seen {
    pub sum: AtomicU64,
    pub tells: AtomicU64,
    /// Messages out of order (per sender and lane).
    pub disorder: AtomicU64,
}

pub struct Count {
    pub seen: Arc<Seen>,
    pub last: std::collections::HashMap<(u32, u8), u64>,
}

pub enum CountMsg {
    Tell(Tell),
    Ask(Ask, Reply<u64>),
}

impl Actor for Count {
    type Message = CountMsg;
    fn handle(&mut self, msg: CountMsg, ctx: &mut Context<'_, Self>) {
        match msg {
            CountMsg::Tell(tell) => {
                self.seen.tells.fetch_add(1, Ordering::Relaxed);
                match tell {
                    Tell::Add(n) => {
                        self.seen.sum.fetch_add(n, Ordering::Relaxed);
                    }
                    Tell::Seq { sender, lane, n } => {
                        let last = self.last.entry((sender, lane)).or_insert(0);
                        if n != *last + 1 {
                            self.seen.disorder.fetch_add(1, Ordering::Relaxed);
                        }
                        *last = n;
                    }
                    Tell::Slow(micros) => std::thread::sleep(Duration::from_micros(micros)),
                    Tell::Stop => ctx.stop(),
                    Tell::Panic => panic!("told to panic"),
                }
            }
            CountMsg::Ask(ask, reply) => match ask {
                Ask::Echo(n) => drop(reply.send(n)),
                Ask::Sum => drop(reply.send(self.seen.sum.load(Ordering::Relaxed))),
                Ask::Tells => drop(reply.send(self.seen.tells.load(Ordering::Relaxed))),
                Ask::Disorder => drop(reply.send(self.seen.disorder.load(Ordering::Relaxed))),
                Ask::Panic => panic!("asked to panic"),
                Ask::Drop => drop(reply),
            },
        }
    }
}

impl Serve<Counter> for Count {
    fn tell(message: Tell) -> CountMsg {
        CountMsg::Tell(message)
    }
    fn ask(request: Ask, reply: Reply<u64>) -> CountMsg {
        CountMsg::Ask(request, reply)
    }
}

pub fn count() -> (Count, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    (
        Count {
            seen: seen.clone(),
            last: Default::default(),
        },
        seen,
    )
}

/// Two nodes on loopback, `a` listening and `b` connected to it, with short timeouts.
pub fn pair(
    system: &System<SharingScheduler>,
    a: &str,
    b: &str,
    tune: impl Fn(NodeConfig) -> NodeConfig,
) -> (Node, Node) {
    for _ in 0..10 {
        let endpoint = zeta_remote::loopback_endpoint().unwrap();
        let Ok(first) = Node::open(tune(NodeConfig::new(a).listen(&endpoint)), system) else {
            continue; // the port was taken meanwhile
        };
        let second = Node::open(tune(NodeConfig::new(b).connect(&endpoint)), system).unwrap();
        return (first, second);
    }
    panic!("no free port on loopback");
}

/// Waits (up to 20 s) until `done`.
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Sends `message` at `priority`, again each time it comes back because the outbound
/// buffer is full (any other refusal fails the test): the sender slows down, and the
/// message is sent once. Returns how many times it came back.
pub fn send_until_accepted(
    remote: &RemoteAddress<Counter>,
    priority: Priority,
    mut message: Tell,
) -> u64 {
    let mut returned = 0;
    while let Err(error) = remote.send_with(priority, message) {
        assert_eq!(error.reason(), Undelivered::Full);
        returned += 1;
        message = error.into_message();
        std::thread::yield_now();
    }
    returned
}

/// The priority of a numbered message's lane: 1 high, 0 normal.
pub fn lane_priority(lane: u8) -> Priority {
    if lane == 1 {
        Priority::High
    } else {
        Priority::Normal
    }
}
