//! Stress tests through the public API, on real worker threads, with exact counts.
//!
//! - `forwarding_conserves_every_message`: a thousand actors forward a million
//!   messages, split over three runs on `SharingScheduler`s of 2, 3 and 4 workers,
//!   along pseudo-random chains of 1 to 8 hops with a pseudo-random priority per hop (a
//!   deterministic seed: every route, priority and payload is known in advance). Every
//!   message must end exactly once, each actor must have handled exactly the hops its
//!   routes give it (so the hops add up to the sum of the chain lengths), the payloads'
//!   checksum must match, and the workers' message counts must agree.
//! - `shutdown_under_load`: outside threads send, send high, enqueue and ask (a mix) to
//!   actors that also forward to each other, while the main thread stops the scheduler
//!   (`System::stop`, `Scheduler::stop`, dropping the `System`) or kills or stops every
//!   actor under them, in rounds with different worker counts, batch sizes and delays.
//!   The stop returns and the senders finish (within a deadline); every send succeeds
//!   or gives its message back; every future resolves to the answer or `NoReply`, never
//!   times out; a request answered was handled and one resolved `NoReply` never was;
//!   nothing sent after the stop returned is handled (but for high-priority messages
//!   overtaking a graceful stop); every payload is dropped exactly once; afterwards
//!   every send comes back and every actor is stopped.
//!
//! Every test counts its memory through a `CountingResource` and ends with zero live
//! blocks and bytes, once actors, addresses and system are gone. No check depends on
//! timing; deadlines only turn a hang into a failure with a clear message.
//!
//! Sizes: `ZETA_STRESS_SCALE` (a float, default 1.0) multiplies them all (actors,
//! messages, sends, rounds), each with a floor, e.g. `ZETA_STRESS_SCALE=0.01` for a run
//! under valgrind.
#![cfg(not(zeta_loom))]

mod stress_common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use fastrand::Rng;
use stress_common::{
    mix, scaled, spawn_bounded, wait_until, Fate, Ledger as TokenLedger, Token, HANG, REPLY_HANG,
};
use zeta::arena::{CountingResource, GlobalResource, MemoryResource, PoolResource};
use zeta::scheduler::Scheduler;
use zeta::{
    Actor, Address, AskError, Context, Enqueued, Future, Priority, Reply, RequestError,
    SharingScheduler, StopReason, System, Undelivered, WaitStrategy,
};

// ---------------------------------------------------------------------------------------
// 1. Forwarding conservation
// ---------------------------------------------------------------------------------------

/// The longest chain: a message is handled by 1 to `MAX_CHAIN` actors.
const MAX_CHAIN: u64 = 8;
/// Messages injected and not yet ended, at most (bounds the memory in flight).
const WINDOW: u64 = 8192;

/// One message, and the state of its route.
struct Hop {
    /// The message's number: its route starts with `route_start(seed, id, actors)`.
    id: u32,
    /// The actor this hop was sent to (checked by the receiver).
    to: u32,
    /// Hops left, this one included.
    remaining: u32,
    /// The route's generator, positioned after this hop's draws.
    rng: Rng,
    /// Transformed at every hop by the actor that handles it.
    payload: u64,
}

/// The first draws of message `id`'s route: its generator, length, first actor and
/// priority.
fn route_start(seed: u64, id: u32, actors: u64) -> (Rng, u32, u32, Priority) {
    let mut rng = stress_common::rng(seed, u64::from(id));
    let length = 1 + rng.u64(..MAX_CHAIN) as u32;
    let (to, priority) = next_hop(&mut rng, actors);
    (rng, length, to, priority)
}

/// The next actor and priority of a route.
fn next_hop(rng: &mut Rng, actors: u64) -> (u32, Priority) {
    let to = rng.u64(..actors) as u32;
    let priority = if rng.u64(..) & 1 == 0 {
        Priority::Normal
    } else {
        Priority::High
    };
    (to, priority)
}

/// What actor `index` does to a payload passing through it.
fn transform(payload: u64, index: u32) -> u64 {
    mix(payload ^ (u64::from(index) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// What the forwarders share with the test.
struct Ledger {
    /// One flag per message: set when it ends.
    ended: Box<[AtomicBool]>,
    ends: AtomicU64,
    double_ends: AtomicU64,
    /// Wrapping sum of the payloads of ended messages.
    checksum: AtomicU64,
    /// Sends from a handler that failed (the message came back and was dropped).
    forward_failures: AtomicU64,
    /// Hops that reached an actor other than the one they were sent to.
    misroutes: AtomicU64,
    /// Per actor: (hops handled, why it stopped), reported by `on_stop`.
    reports: Mutex<Vec<Option<(u64, StopReason)>>>,
    stops: AtomicUsize,
}

struct Forwarder {
    index: u32,
    hops: u64,
    peers: Arc<OnceLock<Vec<Address<Forwarder>>>>,
    ledger: Arc<Ledger>,
}

impl Actor for Forwarder {
    type Message = Hop;

    fn handle(&mut self, mut hop: Hop, _ctx: &mut Context<'_, Self>) {
        if hop.to != self.index {
            self.ledger.misroutes.fetch_add(1, Ordering::Relaxed);
        }
        self.hops += 1;
        hop.payload = transform(hop.payload, self.index);
        hop.remaining -= 1;
        if hop.remaining == 0 {
            if self.ledger.ended[hop.id as usize].swap(true, Ordering::Relaxed) {
                self.ledger.double_ends.fetch_add(1, Ordering::Relaxed);
            }
            self.ledger
                .checksum
                .fetch_add(hop.payload, Ordering::Relaxed);
            // Release: the test reads the other counters after seeing this one.
            self.ledger.ends.fetch_add(1, Ordering::Release);
            return;
        }
        let peers = self.peers.get().expect("peers are set before any message");
        let (to, priority) = next_hop(&mut hop.rng, peers.len() as u64);
        hop.to = to;
        if peers[to as usize].send_with(priority, hop).is_err() {
            self.ledger.forward_failures.fetch_add(1, Ordering::Release);
        }
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.ledger.reports.lock().unwrap()[self.index as usize] = Some((self.hops, reason));
        self.ledger.stops.fetch_add(1, Ordering::Release);
    }
}

/// What the routes must produce, computed without the engine.
struct Expected {
    hops: Vec<u64>,
    total_hops: u64,
    checksum: u64,
}

fn expected(seed: u64, messages: u32, actors: u32) -> Expected {
    let mut hops = vec![0u64; actors as usize];
    let mut total_hops = 0;
    let mut checksum = 0u64;
    for id in 0..messages {
        let (mut rng, length, mut to, _) = route_start(seed, id, u64::from(actors));
        let mut payload = u64::from(id);
        for step in 0..length {
            hops[to as usize] += 1;
            total_hops += 1;
            payload = transform(payload, to);
            if step + 1 < length {
                to = next_hop(&mut rng, u64::from(actors)).0;
            }
        }
        checksum = checksum.wrapping_add(payload);
    }
    Expected {
        hops,
        total_hops,
        checksum,
    }
}

fn forwarding_run<R: MemoryResource + Send + Sync + 'static>(
    workers: usize,
    actors: u32,
    messages: u32,
    seed: u64,
    memory: Arc<CountingResource<R>>,
) {
    let run = format!("forwarding, {workers} workers, {actors} actors, {messages} messages");
    let started = Instant::now();
    let want = expected(seed, messages, actors);

    let scheduler = Arc::new(
        SharingScheduler::builder()
            .workers(workers)
            .max_throughput(32)
            .build()
            .unwrap(),
    );
    scheduler.start().unwrap();
    let system = System::new(scheduler.clone(), memory.clone());
    let ledger = Arc::new(Ledger {
        ended: (0..messages).map(|_| AtomicBool::new(false)).collect(),
        ends: AtomicU64::new(0),
        double_ends: AtomicU64::new(0),
        checksum: AtomicU64::new(0),
        forward_failures: AtomicU64::new(0),
        misroutes: AtomicU64::new(0),
        reports: Mutex::new(vec![None; actors as usize]),
        stops: AtomicUsize::new(0),
    });
    let peers = Arc::new(OnceLock::new());
    let addresses: Vec<Address<Forwarder>> = (0..actors)
        .map(|index| {
            system
                .spawn(Forwarder {
                    index,
                    hops: 0,
                    peers: peers.clone(),
                    ledger: ledger.clone(),
                })
                .unwrap()
        })
        .collect();
    assert!(peers.set(addresses.clone()).is_ok());

    // Two outside threads inject, each half of the messages, keeping at most `WINDOW`
    // in flight.
    let injected = Arc::new(AtomicU64::new(0));
    let injectors: Vec<_> = (0..2u32)
        .map(|t| {
            let (ledger, injected, addresses) =
                (ledger.clone(), injected.clone(), addresses.clone());
            spawn_bounded(format!("injector {t}"), move || {
                let mut refused = 0u64;
                for id in (t..messages).step_by(2) {
                    let mut spins = 0u32;
                    // Loaded in this order, the ends may exceed the injections seen.
                    while injected.load(Ordering::Relaxed).saturating_sub(
                        ledger.ends.load(Ordering::Relaxed)
                            + ledger.forward_failures.load(Ordering::Relaxed),
                    ) > WINDOW
                    {
                        spins += 1;
                        if spins % 1024 == 0 {
                            std::thread::sleep(std::time::Duration::from_micros(50));
                        } else {
                            std::thread::yield_now();
                        }
                    }
                    let (rng, length, to, priority) = route_start(seed, id, u64::from(actors));
                    let hop = Hop {
                        id,
                        to,
                        remaining: length,
                        rng,
                        payload: u64::from(id),
                    };
                    injected.fetch_add(1, Ordering::Relaxed);
                    if addresses[to as usize].send_with(priority, hop).is_err() {
                        injected.fetch_sub(1, Ordering::Relaxed);
                        refused += 1;
                    }
                }
                refused
            })
        })
        .collect();
    let refused: u64 = injectors.into_iter().map(|i| i.join(HANG)).sum();
    assert_eq!(refused, 0, "{run}: an injection was refused");
    assert_eq!(injected.load(Ordering::SeqCst), u64::from(messages));

    wait_until(
        HANG,
        &format!("{run}: every message ending"),
        || {
            ledger.ends.load(Ordering::Acquire) + ledger.forward_failures.load(Ordering::Acquire)
                == u64::from(messages)
        },
        || {
            format!(
                "{} of {messages} ended, {} forwards failed",
                ledger.ends.load(Ordering::Acquire),
                ledger.forward_failures.load(Ordering::Acquire)
            )
        },
    );
    assert_eq!(ledger.forward_failures.load(Ordering::SeqCst), 0, "{run}");
    assert_eq!(ledger.misroutes.load(Ordering::SeqCst), 0, "{run}");
    assert_eq!(ledger.double_ends.load(Ordering::SeqCst), 0, "{run}");
    assert_eq!(ledger.ends.load(Ordering::SeqCst), u64::from(messages));
    let missing = ledger
        .ended
        .iter()
        .filter(|e| !e.load(Ordering::SeqCst))
        .count();
    assert_eq!(missing, 0, "{run}: messages that never ended");
    assert_eq!(
        ledger.checksum.load(Ordering::SeqCst),
        want.checksum,
        "{run}: checksum of the payloads"
    );

    // Stop every actor (graceful: after everything queued before) and collect its count.
    for address in &addresses {
        address.stop().unwrap();
    }
    wait_until(
        HANG,
        &format!("{run}: every actor stopping"),
        || ledger.stops.load(Ordering::Acquire) == actors as usize,
        || {
            format!(
                "{} of {actors} stopped",
                ledger.stops.load(Ordering::Acquire)
            )
        },
    );
    let report = system.stop().unwrap();
    assert_eq!(report.cancelled, 0, "{run}: nothing was left queued");

    let reports = ledger.reports.lock().unwrap().clone();
    let mut total_hops = 0;
    for (index, report) in reports.iter().enumerate() {
        let (hops, reason) = report
            .clone()
            .unwrap_or_else(|| panic!("{run}: actor {index} never stopped"));
        assert_eq!(reason, StopReason::Stopped, "{run}: actor {index}");
        assert_eq!(
            hops, want.hops[index],
            "{run}: hops handled by actor {index}"
        );
        assert_eq!(
            addresses[index].handled(),
            hops,
            "{run}: actor {index}'s handled() counts its hops (a stop is not a message)"
        );
        total_hops += hops;
    }
    assert_eq!(
        total_hops, want.total_hops,
        "{run}: the sum of chain lengths"
    );
    let processed: u64 = scheduler.stats().iter().map(|w| w.messages).sum();
    assert_eq!(
        processed, want.total_hops,
        "{run}: the workers' message counts (the hops: a stop is not a message)"
    );
    assert_eq!(
        scheduler.stats().iter().map(|w| w.panics).sum::<u64>(),
        0,
        "{run}"
    );

    drop(addresses);
    drop(peers);
    drop(system);
    drop(scheduler);
    let stats = memory.stats();
    assert_eq!(stats.live_blocks, 0, "{run}: blocks left allocated");
    assert_eq!(stats.live_bytes, 0, "{run}: bytes left allocated");
    assert!(stats.total_blocks as u64 >= want.total_hops, "{run}");
    eprintln!(
        "{run}: {} hops in {:.2?}",
        want.total_hops,
        started.elapsed()
    );
}

#[test]
fn forwarding_conserves_every_message() {
    let actors = scaled(1000, 8) as u32;
    // The message budget, split across the three runs.
    let total = scaled(1_000_000, 300);
    let each = (total / 3) as u32;
    forwarding_run(
        2,
        actors,
        each,
        0x5EED_0002,
        Arc::new(CountingResource::new(PoolResource::new())),
    );
    forwarding_run(
        3,
        actors,
        each,
        0x5EED_0003,
        Arc::new(CountingResource::new(GlobalResource)),
    );
    forwarding_run(
        4,
        actors,
        total as u32 - 2 * each,
        0x5EED_0004,
        Arc::new(CountingResource::new(PoolResource::new())),
    );
}

// ---------------------------------------------------------------------------------------
// 2. Shutdown under load
// ---------------------------------------------------------------------------------------

enum Cmd {
    /// Handle the token.
    Data(Token),
    /// Forward the token `hops` more times along a route drawn from the state, then
    /// handle it.
    Forward(Token, u8, u64),
    /// Answer with a new token whose value is the request token's id.
    Ask(Token, Reply<Token>),
}

impl Cmd {
    fn into_token(self) -> Token {
        match self {
            Cmd::Data(token) | Cmd::Forward(token, ..) | Cmd::Ask(token, _) => token,
        }
    }
}

struct Sink {
    peers: Arc<RwLock<Vec<Address<Sink>>>>,
    tokens: Arc<TokenLedger>,
}

impl Actor for Sink {
    type Message = Cmd;

    fn handle(&mut self, command: Cmd, _ctx: &mut Context<'_, Self>) {
        match command {
            Cmd::Data(token) | Cmd::Forward(token, 0, _) => drop(token.mark(Fate::Handled)),
            Cmd::Forward(token, hops, state) => {
                let next = mix(state);
                let peers = self.peers.read().unwrap();
                let priority = if next & 1 == 0 {
                    Priority::Normal
                } else {
                    Priority::High
                };
                let to = (next >> 1) as usize % peers.len();
                if let Err(error) =
                    peers[to].send_with(priority, Cmd::Forward(token, hops - 1, next))
                {
                    drop(
                        error
                            .into_message()
                            .into_token()
                            .mark(Fate::ReturnedInHandler),
                    );
                }
            }
            Cmd::Ask(token, reply) => {
                let answer = Token::new(&self.tokens, u64::from(token.id));
                drop(token.mark(Fate::Handled));
                if let Err(answer) = reply.send(answer) {
                    drop(answer.mark(Fate::Refused));
                }
            }
        }
    }
}

/// How a round stops things under the senders.
#[derive(Clone, Copy, Debug)]
enum StopKind {
    /// `System::stop`.
    System,
    /// `Scheduler::stop` on the `SharingScheduler` itself.
    Scheduler,
    /// Dropping the `System`.
    DropSystem,
    /// `Address::kill` on every actor (the scheduler runs on).
    KillActors,
    /// `Address::stop` on every actor (the scheduler runs on).
    StopActors,
}

impl StopKind {
    /// Whether a high-priority message sent after the stop may still be handled: it
    /// may overtake a graceful stop message, and nothing else.
    fn high_may_overtake(self) -> bool {
        matches!(self, StopKind::StopActors)
    }
}

/// What one sender thread saw.
#[derive(Default)]
struct SenderLog {
    /// Tokens of messages accepted (send `Ok`, or enqueue `Ok` then scheduled).
    accepted: Vec<u32>,
    /// Tokens of messages accepted after the stop had returned, that it forbids to
    /// handle.
    accepted_after_stop: Vec<u32>,
    /// Tokens given back by a send.
    returned: Vec<u32>,
    /// Request tokens whose future resolved with the answer.
    answered: Vec<u32>,
    /// Request tokens whose future resolved with `NoReply`.
    no_reply: Vec<u32>,
    /// Request tokens answered although asked after the stop had returned (and the
    /// stop forbids it).
    answered_after_stop: Vec<u32>,
    /// Sends that failed while the stop had not begun.
    early_failures: usize,
    /// Ops done in all, and after the stop had returned.
    ops: usize,
    ops_after_stop: usize,
}

struct SenderEnv {
    index: u64,
    addresses: Arc<Vec<Address<Sink>>>,
    tokens: Arc<TokenLedger>,
    ops: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    max_ops: usize,
    post_ops: usize,
    kind: StopKind,
}

impl SenderEnv {
    /// Whether a message of `priority` sent now may not be handled: it is sent after
    /// the stop returned, which forbids handling it.
    fn late(&self, after_stop: bool, priority: Priority) -> bool {
        after_stop && (priority == Priority::Normal || !self.kind.high_may_overtake())
    }
}

impl SenderLog {
    fn give_back(&mut self, token: Token, sent: u32, reason: Undelivered, env: &SenderEnv) {
        assert_eq!(
            token.id, sent,
            "the message that comes back is the one sent"
        );
        assert!(
            matches!(
                reason,
                Undelivered::ActorStopped | Undelivered::SchedulerStopped
            ),
            "unexpected reason {reason:?}"
        );
        if !env.stopping.load(Ordering::SeqCst) {
            self.early_failures += 1;
        }
        self.returned.push(token.id);
        drop(token.mark(Fate::Returned));
    }

    fn accept(&mut self, id: u32, late: bool) {
        self.accepted.push(id);
        if late {
            self.accepted_after_stop.push(id);
        }
    }

    fn resolve(&mut self, id: u32, mut future: Future<Token>, late: bool) {
        // Both ways of waiting: a lost unpark would show as a timeout.
        let strategy = if id % 2 == 0 {
            WaitStrategy::Backoff
        } else {
            WaitStrategy::Park
        };
        match future.wait_timeout_with(strategy, REPLY_HANG) {
            Ok(answer) => {
                assert_eq!(answer.value, u64::from(id), "the answer to request {id}");
                drop(answer.mark(Fate::Taken));
                self.answered.push(id);
                if late {
                    self.answered_after_stop.push(id);
                }
            }
            Err(RequestError::NoReply) => self.no_reply.push(id),
            Err(RequestError::Timeout) => {
                panic!("hang: request {id} unresolved after {REPLY_HANG:?}")
            }
            Err(other) => panic!("request {id}: unexpected {other:?}"),
        }
    }
}

fn sender(env: SenderEnv) -> SenderLog {
    let mut log = SenderLog::default();
    let mut rng = stress_common::rng(0x5E4D_E700, env.index);
    // (request token, future, asked after the stop)
    let mut pending: std::collections::VecDeque<(u32, Future<Token>, bool)> =
        std::collections::VecDeque::new();
    let mut post = 0;
    loop {
        let after_stop = env.stopped.load(Ordering::SeqCst);
        if after_stop {
            if post == env.post_ops {
                break;
            }
            post += 1;
            log.ops_after_stop += 1;
        } else if log.ops == env.max_ops || !env.tokens.has_room(1024) {
            // Out of budget before the stop: wait for it (rare; sizes make it unlikely).
            std::thread::sleep(std::time::Duration::from_micros(100));
            continue;
        }
        log.ops += 1;
        env.ops.fetch_add(1, Ordering::Relaxed);
        let address = &env.addresses[rng.u64(..env.addresses.len() as u64) as usize];
        let token = Token::new(&env.tokens, 0);
        let id = token.id;
        match rng.u64(..16) {
            op @ 0..=9 => {
                let (priority, command) = match op {
                    0..=5 => (Priority::Normal, Cmd::Data(token)),
                    6..=7 => (Priority::High, Cmd::Data(token)),
                    8 => (
                        Priority::Normal,
                        Cmd::Forward(token, 1 + rng.u64(..4) as u8, rng.u64(..)),
                    ),
                    _ => (
                        Priority::High,
                        Cmd::Forward(token, 1 + rng.u64(..4) as u8, rng.u64(..)),
                    ),
                };
                let late = env.late(after_stop, priority);
                match address.send_with(priority, command) {
                    Ok(()) => log.accept(id, late),
                    Err(error) => {
                        let reason = error.reason();
                        log.give_back(error.into_message().into_token(), id, reason, &env);
                    }
                }
            }
            op @ 10..=14 => {
                let priority = if op == 13 {
                    Priority::High
                } else {
                    Priority::Normal
                };
                let late = env.late(after_stop, priority);
                match address.ask_with(priority, |reply| Cmd::Ask(token, reply)) {
                    Ok(future) => {
                        log.accept(id, late);
                        match op {
                            13 => log.resolve(id, future, late),
                            14 => future.cancel(),
                            _ => pending.push_back((id, future, late)),
                        }
                    }
                    Err(AskError::Undelivered(error)) => {
                        let reason = error.reason();
                        log.give_back(error.into_message().into_token(), id, reason, &env);
                    }
                    Err(AskError::OutOfMemory) => panic!("out of memory"),
                    Err(AskError::NoTimers) => unreachable!("a plain ask needs no timers"),
                }
            }
            _ => {
                // The low-level path: enqueue, and discharge the duty ourselves (or drop
                // it, which falls back to the actor's scheduler).
                let late = env.late(after_stop, Priority::Normal);
                match address.enqueue(Priority::Normal, Cmd::Data(token)) {
                    Ok(Enqueued::Queued) => log.accept(id, late),
                    Ok(Enqueued::MustSchedule(duty)) => {
                        log.accept(id, late);
                        if rng.u64(..2) == 0 {
                            // Refused after the stop: the actor is told shutdown and the
                            // message is dropped unhandled.
                            let _ = duty.schedule_on(&**address.scheduler());
                        } else {
                            drop(duty);
                        }
                    }
                    Err(error) => {
                        let reason = error.reason();
                        log.give_back(error.into_message().into_token(), id, reason, &env);
                    }
                }
            }
        }
        while pending.len() > 64 {
            let (id, future, after) = pending.pop_front().unwrap();
            log.resolve(id, future, after);
        }
    }
    for (id, future, after) in pending {
        log.resolve(id, future, after);
    }
    log
}

fn shutdown_round(
    round: usize,
    workers: usize,
    max_throughput: usize,
    delay_ms: u64,
    kind: StopKind,
) {
    let what = format!(
        "round {round} ({workers} workers, max_throughput {max_throughput}, \
         stop after {delay_ms} ms, {kind:?})"
    );
    const SENDERS: u64 = 3;
    let actors = scaled(16, 4);
    let max_ops = scaled(200_000, 2_000);
    let post_ops = scaled(500, 20);
    let gate = scaled(2_000, 20);

    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = Arc::new(
        SharingScheduler::builder()
            .workers(workers)
            .max_throughput(max_throughput)
            .build()
            .unwrap(),
    );
    scheduler.start().unwrap();
    let system = System::new(scheduler.clone(), memory.clone());
    // Each op makes at most two tokens (a request and its answer).
    let tokens = TokenLedger::new(SENDERS as usize * (max_ops + post_ops) * 2 + 4096);
    let peers = Arc::new(RwLock::new(Vec::new()));
    let addresses: Vec<_> = (0..actors)
        .map(|_| {
            system
                .spawn(Sink {
                    peers: peers.clone(),
                    tokens: tokens.clone(),
                })
                .unwrap()
        })
        .collect();
    *peers.write().unwrap() = addresses.clone();
    let addresses = Arc::new(addresses);

    let ops = Arc::new(AtomicUsize::new(0));
    let stopping = Arc::new(AtomicBool::new(false));
    let stopped = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|index| {
            let env = SenderEnv {
                index: index + 100 * round as u64,
                addresses: addresses.clone(),
                tokens: tokens.clone(),
                ops: ops.clone(),
                stopping: stopping.clone(),
                stopped: stopped.clone(),
                max_ops,
                post_ops,
                kind,
            };
            spawn_bounded(format!("sender {index}"), move || sender(env))
        })
        .collect();

    // Mid-stream: the senders are under way before the stop.
    wait_until(
        HANG,
        &format!("{what}: the senders starting"),
        || ops.load(Ordering::Relaxed) >= gate,
        || format!("{} ops", ops.load(Ordering::Relaxed)),
    );
    std::thread::sleep(std::time::Duration::from_millis(delay_ms));
    stopping.store(true, Ordering::SeqCst);
    let stop_scheduler = scheduler.clone();
    let targets = addresses.clone();
    let system = spawn_bounded("stop", move || match kind {
        StopKind::System => {
            system.stop().unwrap();
            Some(system)
        }
        StopKind::Scheduler => {
            stop_scheduler.stop().unwrap();
            Some(system)
        }
        StopKind::DropSystem => {
            drop(system);
            None
        }
        StopKind::KillActors => {
            for address in targets.iter() {
                address.kill().unwrap();
            }
            Some(system)
        }
        StopKind::StopActors => {
            for address in targets.iter() {
                address.stop().unwrap();
            }
            Some(system)
        }
    })
    .join(HANG);
    stopped.store(true, Ordering::SeqCst);
    let logs: Vec<SenderLog> = senders.into_iter().map(|s| s.join(HANG)).collect();
    if matches!(kind, StopKind::KillActors | StopKind::StopActors) {
        // The actors end on the workers, in their own time.
        wait_until(
            HANG,
            &format!("{what}: every actor ending"),
            || addresses.iter().all(|address| !address.is_alive()),
            || {
                let alive = addresses.iter().filter(|a| a.is_alive()).count();
                format!("{alive} alive")
            },
        );
    }

    // After the stop, with the senders gone: a send to any actor comes back, and then
    // every actor has stopped.
    for address in addresses.iter() {
        let token = Token::new(&tokens, 0);
        let id = token.id;
        let error = address
            .send(Cmd::Data(token))
            .expect_err("a send after the stop must come back");
        let token = error.into_message().into_token();
        assert_eq!(token.id, id);
        drop(token.mark(Fate::Returned));
        assert!(!address.is_alive(), "{what}: an actor outlived the stop");
    }
    let accepted_after: usize = logs.iter().map(|l| l.accepted_after_stop.len()).sum();

    // Every payload was dropped exactly once, and each as its sender's view says.
    peers.write().unwrap().clear();
    drop(addresses);
    drop(system);
    drop(scheduler);
    tokens.assert_balanced(&what);
    let (mut accepted, mut returned, mut handled, mut unhandled) = (0, 0, 0, 0);
    for (s, log) in logs.iter().enumerate() {
        assert_eq!(
            log.early_failures, 0,
            "{what}: sender {s}: failed before the stop"
        );
        assert_eq!(log.ops_after_stop, post_ops, "{what}: sender {s}");
        for &id in &log.returned {
            assert_eq!(tokens.fate(id), Fate::Returned, "{what}: token {id}");
        }
        for &id in &log.accepted {
            let fate = tokens.fate(id);
            assert!(
                matches!(
                    fate,
                    Fate::Handled | Fate::Unhandled | Fate::ReturnedInHandler
                ),
                "{what}: accepted token {id} ended {fate:?}"
            );
            match fate {
                Fate::Handled => handled += 1,
                _ => unhandled += 1,
            }
        }
        for &id in &log.accepted_after_stop {
            assert_ne!(
                tokens.fate(id),
                Fate::Handled,
                "{what}: token {id}, accepted after the stop, was handled"
            );
        }
        assert!(
            log.answered_after_stop.is_empty(),
            "{what}: requests asked after the stop were answered: {:?}",
            log.answered_after_stop
        );
        for &id in &log.answered {
            assert_eq!(tokens.fate(id), Fate::Handled, "{what}: request {id}");
        }
        for &id in &log.no_reply {
            assert_eq!(
                tokens.fate(id),
                Fate::Unhandled,
                "{what}: request {id} resolved NoReply, so it was never handled"
            );
        }
        accepted += log.accepted.len();
        returned += log.returned.len();
    }
    let stats = memory.stats();
    assert_eq!(stats.live_blocks, 0, "{what}: blocks left allocated");
    assert_eq!(stats.live_bytes, 0, "{what}: bytes left allocated");
    eprintln!(
        "{what}: {accepted} accepted ({handled} handled, {unhandled} dropped at the stop \
         or given back in a handler; {accepted_after} after the stop), {returned} given back"
    );
}

#[test]
fn shutdown_under_load() {
    // 1 to 4 workers, four batch sizes, five delays before the stop and five stop
    // paths, combined differently in each round.
    const KINDS: [StopKind; 5] = [
        StopKind::System,
        StopKind::Scheduler,
        StopKind::DropSystem,
        StopKind::KillActors,
        StopKind::StopActors,
    ];
    const DELAYS_MS: [u64; 5] = [0, 1, 3, 10, 20];
    const THROUGHPUTS: [usize; 4] = [64, 1, 8, 16];
    for round in 0..scaled(20, 5) {
        shutdown_round(
            round,
            1 + round % 4,
            THROUGHPUTS[(round / 5) % 4],
            DELAYS_MS[(round / 4) % 5],
            KINDS[round % 5],
        );
    }
}
