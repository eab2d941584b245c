//! Bounded mailboxes (`spawn_bounded`): admission, waiting for room, what a handler's
//! send to a full mailbox does, and that control bypasses the bound.
//!
//! - `four_senders_into_capacity_16`: 4 outside threads × 100,000 messages (×
//!   `ZETA_STRESS_SCALE`) into one actor bounded to 16, on a 2-worker
//!   `SharingScheduler`, each thread with another way of sending (`send_blocking` with
//!   each wait strategy, `try_send` shedding what is refused, `send_async` on a small
//!   thread-parking executor): every message delivered or returned, per-sender FIFO,
//!   every payload dropped once, the memory back to zero.
//! - `big_completes_with_capacity_1_and_8`: Savina's `big` traffic (every actor pings
//!   random others and waits for each pong) with every actor and the sink bounded to 1
//!   and to 8, on a 2-worker `SharingScheduler` and on a `ManualScheduler`: it completes
//!   (a handler's send is never refused or blocked for fullness) with exact counts.
//! - The rest: the API's edges, one behaviour each.
#![cfg(not(zeta_loom))]

mod stress_common;

use std::future::Future as _;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use zeta::arena::{CountingResource, PoolResource};
use zeta::{
    Actor, Address, Context, Down, ManualScheduler, Reply, Scheduler, SharingScheduler,
    SpawnFailure, StopReason, System, Undelivered, WaitStrategy,
};

use stress_common::scaled;

/// How long a test may wait for an answer before calling it a hang.
const HANG: Duration = Duration::from_secs(60);

/// A waker that unparks a thread: a minimal executor for `send_async` from a thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` to completion on this thread, parking between polls.
fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut task = TaskContext::from_waker(&waker);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut task) {
            return value;
        }
        thread::park_timeout(HANG);
    }
}

/// A payload that counts its drops.
struct Tracked {
    sender: usize,
    seq: u64,
    drops: Arc<AtomicU64>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

/// Checks per-sender FIFO and counts what it handles.
struct Receiver {
    last: Vec<Option<u64>>,
    handled: Arc<Vec<AtomicU64>>,
    out_of_order: Arc<AtomicU64>,
}

impl Actor for Receiver {
    type Message = Tracked;

    fn handle(&mut self, message: Tracked, _ctx: &mut Context<'_, Self>) {
        let last = &mut self.last[message.sender];
        if last.is_some_and(|last| message.seq <= last) {
            self.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
        *last = Some(message.seq);
        self.handled[message.sender].fetch_add(1, Ordering::Release);
    }
}

#[test]
fn four_senders_into_capacity_16() {
    const SENDERS: usize = 4;
    let per_sender = scaled(100_000, 1_000) as u64;
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = SharingScheduler::builder().workers(2).build().unwrap();
    scheduler.start().unwrap();
    let system = System::new(Arc::new(scheduler), memory.clone());
    let drops = Arc::new(AtomicU64::new(0));
    let handled: Arc<Vec<AtomicU64>> = Arc::new((0..SENDERS).map(|_| AtomicU64::new(0)).collect());
    let out_of_order = Arc::new(AtomicU64::new(0));
    let receiver = system
        .spawn_bounded(
            Receiver {
                last: vec![None; SENDERS],
                handled: handled.clone(),
                out_of_order: out_of_order.clone(),
            },
            16,
        )
        .unwrap();
    assert_eq!(receiver.capacity(), Some(16));
    let returned: Vec<u64> = thread::scope(|s| {
        let senders: Vec<_> = (0..SENDERS)
            .map(|sender| {
                let receiver = &receiver;
                let drops = &drops;
                s.spawn(move || {
                    let mut returned = 0;
                    for seq in 0..per_sender {
                        let message = Tracked {
                            sender,
                            seq,
                            drops: drops.clone(),
                        };
                        let sent = match sender {
                            0 => receiver.send_blocking(message, WaitStrategy::Park),
                            1 => receiver.send_blocking(message, WaitStrategy::Backoff),
                            2 => receiver.try_send(message),
                            _ => block_on(receiver.send_async(message)),
                        };
                        if let Err(error) = sent {
                            assert_eq!(error.reason(), Undelivered::Full, "sender {sender}");
                            returned += 1;
                            drop(error.into_message());
                        }
                    }
                    returned
                })
            })
            .collect();
        senders.into_iter().map(|s| s.join().unwrap()).collect()
    });
    // Everything sent is either handled or was returned: wait for the handling.
    let deadline = std::time::Instant::now() + HANG;
    for sender in 0..SENDERS {
        let expected = per_sender - returned[sender];
        while handled[sender].load(Ordering::Acquire) < expected {
            assert!(
                std::time::Instant::now() < deadline,
                "sender {sender}: a hang"
            );
            thread::yield_now();
        }
    }
    for sender in 0..SENDERS {
        assert_eq!(
            handled[sender].load(Ordering::Acquire) + returned[sender],
            per_sender,
            "sender {sender}: delivered + returned"
        );
    }
    // Only `try_send` may be refused.
    assert_eq!(returned[0] + returned[1] + returned[3], 0);
    assert_eq!(out_of_order.load(Ordering::Relaxed), 0, "per-sender FIFO");
    let mut ended = receiver.stopped().unwrap();
    receiver.stop().unwrap();
    assert_eq!(ended.wait_timeout(HANG), Ok(StopReason::Stopped));
    drop(ended);
    drop(receiver);
    system.stop().unwrap();
    drop(system);
    assert_eq!(drops.load(Ordering::Relaxed), SENDERS as u64 * per_sender);
    assert_eq!(memory.live_blocks(), 0, "nothing leaked");
}

// -------------------------------------------------------------------------------------
// Savina's big.

struct Pinger {
    index: usize,
    peers: Arc<[Address<Pinger>]>,
    sink: Address<Sink>,
    rng: fastrand::Rng,
    left: u64,
    awaited: usize,
    pongs: u64,
    wrong: u64,
    failed: u64,
}

enum PingerMsg {
    Peers(Arc<[Address<Pinger>]>),
    Kick(u64),
    Ping(usize),
    Pong(usize),
}

impl Pinger {
    fn next(&mut self) {
        if self.left == 0 {
            if self
                .sink
                .send(SinkMsg::Done(self.pongs, self.wrong, self.failed))
                .is_err()
            {
                self.failed += 1;
            }
            return;
        }
        self.left -= 1;
        let n = self.peers.len();
        let mut target = self.rng.usize(..n - 1);
        if target >= self.index {
            target += 1;
        }
        self.awaited = target;
        if self.peers[target]
            .send(PingerMsg::Ping(self.index))
            .is_err()
        {
            self.failed += 1;
        }
    }
}

impl Actor for Pinger {
    type Message = PingerMsg;

    fn handle(&mut self, message: PingerMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            PingerMsg::Peers(peers) => self.peers = peers,
            PingerMsg::Kick(pings) => {
                self.left = pings;
                self.next();
            }
            PingerMsg::Ping(from) => {
                if self.peers[from].send(PingerMsg::Pong(self.index)).is_err() {
                    self.failed += 1;
                }
            }
            PingerMsg::Pong(from) => {
                self.pongs += 1;
                if from != self.awaited {
                    self.wrong += 1;
                }
                self.next();
            }
        }
    }
}

struct Sink {
    actors: usize,
    totals: (u64, u64, u64),
    reported: usize,
    done: Option<Reply<(u64, u64, u64)>>,
}

enum SinkMsg {
    Start(Reply<(u64, u64, u64)>),
    Done(u64, u64, u64),
}

impl Actor for Sink {
    type Message = SinkMsg;

    fn handle(&mut self, message: SinkMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            SinkMsg::Start(done) => self.done = Some(done),
            SinkMsg::Done(pongs, wrong, failed) => {
                self.totals.0 += pongs;
                self.totals.1 += wrong;
                self.totals.2 += failed;
                self.reported += 1;
                if self.reported == self.actors {
                    if let Some(done) = self.done.take() {
                        let _ = done.send(self.totals);
                    }
                }
            }
        }
    }
}

/// Sends from the test thread: waits for room on a `SharingScheduler`; on a
/// `ManualScheduler` (driven by this thread) runs it while the mailbox is full.
fn outside_send<A: Actor>(
    address: &Address<A>,
    message: A::Message,
    manual: Option<&ManualScheduler>,
) {
    match manual {
        None => address
            .send_blocking(message, WaitStrategy::Park)
            .unwrap_or_else(|_| panic!("the actor is alive")),
        Some(scheduler) => {
            let mut message = message;
            loop {
                match address.try_send(message) {
                    Ok(()) => return,
                    Err(full) => {
                        assert_eq!(full.reason(), Undelivered::Full);
                        message = full.into_message();
                        scheduler.run_until_idle().unwrap();
                    }
                }
            }
        }
    }
}

/// One round of big with every mailbox bounded to `capacity`; returns the totals.
fn big<S: Scheduler + 'static>(
    system: &System<S>,
    capacity: usize,
    manual: Option<&ManualScheduler>,
) -> (u64, u64, u64) {
    let actors = 24;
    let pings = scaled(2_000, 50) as u64;
    let sink = system
        .spawn_bounded(
            Sink {
                actors,
                totals: (0, 0, 0),
                reported: 0,
                done: None,
            },
            capacity,
        )
        .unwrap();
    let pingers: Vec<Address<Pinger>> = (0..actors)
        .map(|index| {
            system
                .spawn_bounded(
                    Pinger {
                        index,
                        peers: Arc::new([]),
                        sink: sink.clone(),
                        rng: stress_common::rng(0x5EED, index as u64),
                        left: 0,
                        awaited: usize::MAX,
                        pongs: 0,
                        wrong: 0,
                        failed: 0,
                    },
                    capacity,
                )
                .unwrap()
        })
        .collect();
    let peers: Arc<[Address<Pinger>]> = pingers.clone().into();
    for pinger in &pingers {
        outside_send(pinger, PingerMsg::Peers(peers.clone()), manual);
    }
    drop(peers);
    let mut done = loop {
        match sink.ask(SinkMsg::Start) {
            Ok(future) => break future,
            Err(refused) => {
                assert_eq!(refused.reason(), Undelivered::Full);
                if let Some(scheduler) = manual {
                    scheduler.run_until_idle().unwrap();
                } else {
                    thread::yield_now();
                }
            }
        }
    };
    for pinger in &pingers {
        outside_send(pinger, PingerMsg::Kick(pings), manual);
    }
    let totals = match manual {
        None => done.wait_timeout(HANG).expect("big completes"),
        Some(scheduler) => {
            scheduler.run_until_idle().unwrap();
            done.try_take().expect("big completes").unwrap()
        }
    };
    for pinger in &pingers {
        pinger.stop().unwrap();
    }
    sink.stop().unwrap();
    if let Some(scheduler) = manual {
        scheduler.run_until_idle().unwrap();
    }
    assert_eq!(
        totals,
        (actors as u64 * pings, 0, 0),
        "pongs, wrong, failed"
    );
    totals
}

#[test]
fn big_completes_with_capacity_1_and_8() {
    for capacity in [1, 8] {
        let memory = Arc::new(CountingResource::new(PoolResource::new()));
        let scheduler = SharingScheduler::builder().workers(2).build().unwrap();
        scheduler.start().unwrap();
        let system = System::new(Arc::new(scheduler), memory.clone());
        big(&system, capacity, None);
        system.stop().unwrap();
        drop(system);
        assert_eq!(memory.live_blocks(), 0, "sharing, capacity {capacity}");

        let memory = Arc::new(CountingResource::new(PoolResource::new()));
        let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
        let system = System::new(scheduler.clone(), memory.clone());
        big(&system, capacity, Some(&scheduler));
        drop(system);
        assert_eq!(memory.live_blocks(), 0, "manual, capacity {capacity}");
    }
}

// -------------------------------------------------------------------------------------
// The edges.

struct Sum(Arc<AtomicU64>);

impl Actor for Sum {
    type Message = u64;
    fn handle(&mut self, n: u64, _ctx: &mut Context<'_, Self>) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

fn manual() -> (Arc<ManualScheduler>, System<ManualScheduler>) {
    let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
    let system = System::new(scheduler.clone(), Arc::new(PoolResource::new()));
    (scheduler, system)
}

#[test]
fn capacity_zero_or_too_large_is_a_configuration_error() {
    let (_scheduler, system) = manual();
    let total = Arc::new(AtomicU64::new(0));
    let error = system.spawn_bounded(Sum(total.clone()), 0).unwrap_err();
    assert_eq!(error.reason(), SpawnFailure::InvalidCapacity);
    let error = error.into_actor();
    if usize::BITS > 32 {
        let error = system
            .spawn_bounded(error, u32::MAX as usize + 1)
            .unwrap_err();
        assert_eq!(error.reason(), SpawnFailure::InvalidCapacity);
    }
    assert_eq!(system.spawn(Sum(total)).unwrap().capacity(), None);
}

#[test]
fn outside_sends_to_a_full_mailbox_come_back_and_room_returns_after_a_run() {
    let (scheduler, system) = manual();
    let total = Arc::new(AtomicU64::new(0));
    let sum = system.spawn_bounded(Sum(total.clone()), 2).unwrap();
    sum.send(1).unwrap();
    sum.send_high(2).unwrap();
    for refused in [
        sum.send(4).unwrap_err(),
        sum.send_high(4).unwrap_err(),
        sum.try_send(4).unwrap_err(),
        sum.send_timeout(4, WaitStrategy::Backoff, Duration::from_millis(2))
            .unwrap_err(),
    ] {
        assert_eq!(refused.reason(), Undelivered::Full);
        assert_eq!(refused.into_message(), 4);
    }
    assert_eq!(
        sum.enqueue(zeta::Priority::Normal, 4).unwrap_err().reason(),
        Undelivered::Full
    );
    assert!(matches!(
        sum.ask(|_reply: Reply<()>| 4),
        Err(zeta::AskError::Undelivered(ref e)) if e.reason() == Undelivered::Full
    ));
    scheduler.run_until_idle().unwrap();
    assert_eq!(total.load(Ordering::Relaxed), 3);
    sum.try_send(10).unwrap();
    sum.send(20).unwrap();
    scheduler.run_until_idle().unwrap();
    assert_eq!(total.load(Ordering::Relaxed), 33);
}

/// Sends `n` to the target from its handler, with the send named in the message.
struct Forwarder {
    target: Address<Sum>,
    results: Arc<Mutex<Vec<Result<(), Undelivered>>>>,
}

enum How {
    Send(u64),
    Try(u64),
    Blocking(u64),
    Async(u64),
}

impl Actor for Forwarder {
    type Message = How;
    fn handle(&mut self, how: How, _ctx: &mut Context<'_, Self>) {
        let result = match how {
            How::Send(n) => self.target.send(n),
            How::Try(n) => self.target.try_send(n),
            How::Blocking(n) => self.target.send_blocking(n, WaitStrategy::Park),
            How::Async(n) => {
                let mut send = pin!(self.target.send_async(n));
                match send
                    .as_mut()
                    .poll(&mut TaskContext::from_waker(Waker::noop()))
                {
                    Poll::Ready(result) => result,
                    Poll::Pending => panic!("a handler's send_async never waits"),
                }
            }
        };
        self.results
            .lock()
            .unwrap()
            .push(result.map_err(|e| e.reason()));
    }
}

#[test]
fn a_handler_is_never_refused_for_fullness_unless_it_asks() {
    let (scheduler, system) = manual();
    let total = Arc::new(AtomicU64::new(0));
    let target = system.spawn_bounded(Sum(total.clone()), 1).unwrap();
    target.send(1).unwrap(); // full
    let results = Arc::new(Mutex::new(Vec::new()));
    let forwarder = system
        .spawn(Forwarder {
            target: target.clone(),
            results: results.clone(),
        })
        .unwrap();
    for how in [
        How::Send(10),
        How::Try(100),
        How::Blocking(1_000),
        How::Async(10_000),
    ] {
        forwarder.send(how).unwrap();
    }
    scheduler.run_until_idle().unwrap();
    assert_eq!(
        *results.lock().unwrap(),
        [
            Ok(()),
            Err(Undelivered::Full),
            Err(Undelivered::WouldBlock),
            Ok(())
        ]
    );
    assert_eq!(total.load(Ordering::Relaxed), 1 + 10 + 10_000);
}

/// Sends one message to a bounded consumer per tick, recording the consumer's backlog
/// (sent and not yet handled) at each send.
struct Producer {
    consumer: Address<Counter>,
    consumed: Arc<AtomicU64>,
    sent: u64,
    most_behind: Arc<AtomicU64>,
}

struct Counter(Arc<AtomicU64>);

impl Actor for Counter {
    type Message = ();
    fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Actor for Producer {
    type Message = ();
    fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {
        let behind = self.sent - self.consumed.load(Ordering::Relaxed);
        self.most_behind.fetch_max(behind, Ordering::Relaxed);
        self.consumer.send(()).expect("never refused in a handler");
        self.sent += 1;
    }
}

#[test]
fn a_handler_over_capacity_yields_to_the_receiver() {
    let (scheduler, system) = manual();
    let consumed = Arc::new(AtomicU64::new(0));
    let consumer = system.spawn_bounded(Counter(consumed.clone()), 4).unwrap();
    let most_behind = Arc::new(AtomicU64::new(0));
    let producer = system
        .spawn(Producer {
            consumer,
            consumed: consumed.clone(),
            sent: 0,
            most_behind: most_behind.clone(),
        })
        .unwrap();
    for _ in 0..200 {
        producer.send(()).unwrap();
    }
    scheduler.run_until_idle().unwrap();
    assert_eq!(consumed.load(Ordering::Relaxed), 200);
    // Without the yield the producer would run 64 ticks (its max_throughput) ahead.
    let behind = most_behind.load(Ordering::Relaxed);
    assert!(
        behind <= 5,
        "the consumer fell {behind} behind a capacity of 4"
    );
}

#[test]
fn stop_and_kill_release_waiting_senders_and_control_bypasses_the_bound() {
    for kill in [false, true] {
        let memory = Arc::new(CountingResource::new(PoolResource::new()));
        let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
        let system = System::new(scheduler.clone(), memory.clone());
        let total = Arc::new(AtomicU64::new(0));
        let sum = system.spawn_bounded(Sum(total.clone()), 1).unwrap();
        sum.send(1).unwrap(); // full, and nobody runs it yet
        let waiting = Arc::new(AtomicUsize::new(0));
        let (blocked, asynced) = thread::scope(|s| {
            let blocked = s.spawn(|| {
                waiting.fetch_add(1, Ordering::Relaxed);
                sum.send_blocking(2, WaitStrategy::Park)
                    .map_err(|e| e.reason())
            });
            let asynced = s.spawn(|| {
                waiting.fetch_add(1, Ordering::Relaxed);
                block_on(sum.send_async(3)).map_err(|e| e.reason())
            });
            while waiting.load(Ordering::Relaxed) < 2 {
                thread::yield_now();
            }
            thread::sleep(Duration::from_millis(20));
            // Not a message: never refused, whatever the bound.
            if kill {
                sum.kill().unwrap();
            } else {
                sum.stop().unwrap();
            }
            (blocked.join().unwrap(), asynced.join().unwrap())
        });
        assert_eq!(blocked, Err(Undelivered::ActorStopped), "kill {kill}");
        assert_eq!(asynced, Err(Undelivered::ActorStopped), "kill {kill}");
        scheduler.run_until_idle().unwrap();
        assert!(!sum.is_alive());
        assert_eq!(total.load(Ordering::Relaxed), if kill { 0 } else { 1 });
        drop(sum);
        drop(system);
        assert_eq!(memory.live_blocks(), 0);
    }
}

/// Records its `Down`s.
struct Watcher(Arc<AtomicBool>);

impl Actor for Watcher {
    type Message = u64;
    fn handle(&mut self, _: u64, _ctx: &mut Context<'_, Self>) {}
    fn on_down(&mut self, _down: Down, _ctx: &mut Context<'_, Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_down_reaches_a_full_watcher_and_counts_against_its_bound() {
    let (scheduler, system) = manual();
    let told = Arc::new(AtomicBool::new(false));
    let watcher = system.spawn_bounded(Watcher(told.clone()), 1).unwrap();
    let target = system.spawn(Sum(Arc::new(AtomicU64::new(0)))).unwrap();
    let _monitor = watcher.monitor(&target).unwrap();
    watcher.send(1).unwrap(); // full
    target.stop().unwrap();
    scheduler.run_until_idle().unwrap();
    assert!(told.load(Ordering::Relaxed), "the Down was delivered");
    // Both were given back: room for one again, not two.
    watcher.try_send(2).unwrap();
    assert_eq!(watcher.try_send(3).unwrap_err().reason(), Undelivered::Full);
}

#[test]
fn a_dropped_or_cancelled_send_future_leaves_nothing_behind() {
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
    let system = System::new(scheduler.clone(), memory.clone());
    let total = Arc::new(AtomicU64::new(0));
    let sum = system.spawn_bounded(Sum(total.clone()), 1).unwrap();
    sum.send(1).unwrap();
    let mut task = TaskContext::from_waker(Waker::noop());
    {
        // Dropped while waiting in the list.
        let mut first = Box::pin(sum.send_async(10));
        assert!(first.as_mut().poll(&mut task).is_pending());
        let mut second = pin!(sum.send_async(100));
        assert!(second.as_mut().poll(&mut task).is_pending());
        drop(first);
        assert_eq!(second.as_mut().cancel(), Some(100));
    }
    {
        // Waiting, woken by the run (unlinked by the runner), dropped unpolled.
        let mut third = Box::pin(sum.send_async(1_000));
        assert!(third.as_mut().poll(&mut task).is_pending());
        scheduler.run_until_idle().unwrap();
        drop(third);
    }
    // Never polled.
    drop(sum.send_async(10_000));
    sum.send(2).unwrap();
    scheduler.run_until_idle().unwrap();
    assert_eq!(total.load(Ordering::Relaxed), 3);
    {
        // Waiting when the actor ends; dropped after.
        sum.send(1).unwrap();
        let mut fourth = Box::pin(sum.send_async(5));
        assert!(fourth.as_mut().poll(&mut task).is_pending());
        sum.kill().unwrap();
        scheduler.run_until_idle().unwrap();
        match fourth.as_mut().poll(&mut task) {
            Poll::Ready(Err(refused)) => {
                assert_eq!(refused.reason(), Undelivered::ActorStopped);
                assert_eq!(refused.into_message(), 5);
            }
            _ => panic!("the actor has ended"),
        }
    }
    drop(sum);
    drop(system);
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn a_balancer_passes_over_full_members() {
    let (scheduler, system) = manual();
    let total = Arc::new(AtomicU64::new(0));
    let members: Vec<_> = (0..2)
        .map(|_| system.spawn_bounded(Sum(total.clone()), 1).unwrap())
        .collect();
    let balancer = zeta::Balancer::new(members, zeta::Strategy::RoundRobin).unwrap();
    balancer.send(1).unwrap();
    balancer.send(2).unwrap();
    let refused = balancer.send(4).unwrap_err();
    assert_eq!(refused.reason(), Undelivered::Full);
    scheduler.run_until_idle().unwrap();
    balancer.send(4).unwrap();
    scheduler.run_until_idle().unwrap();
    assert_eq!(total.load(Ordering::Relaxed), 7);
}

#[test]
fn a_waker_wake_up_is_never_refused() {
    struct Woken {
        wakes: Arc<AtomicU64>,
        waker: Arc<Mutex<Option<Waker>>>,
    }
    impl Actor for Woken {
        type Message = u8;
        fn handle(&mut self, _: u8, ctx: &mut Context<'_, Self>) {
            *self.waker.lock().unwrap() = Some(ctx.waker());
        }
        fn on_wake(&mut self, _ctx: &mut Context<'_, Self>) {
            self.wakes.fetch_add(1, Ordering::Relaxed);
        }
    }
    let (scheduler, system) = manual();
    let wakes = Arc::new(AtomicU64::new(0));
    let waker = Arc::new(Mutex::new(None));
    let woken = system
        .spawn_bounded(
            Woken {
                wakes: wakes.clone(),
                waker: waker.clone(),
            },
            1,
        )
        .unwrap();
    woken.send(0).unwrap();
    scheduler.run_until_idle().unwrap();
    let waker = waker.lock().unwrap().take().expect("stored");
    woken.send(1).unwrap(); // full
    waker.wake_by_ref(); // the engine's own mail: counted, not refused
    scheduler.run_until_idle().unwrap();
    assert_eq!(wakes.load(Ordering::Relaxed), 1);
    // Both given back.
    woken.try_send(2).unwrap();
    assert_eq!(woken.try_send(3).unwrap_err().reason(), Undelivered::Full);
    drop(waker);
}
