//! Actors through the public API: priorities, per-sender order, dead addresses,
//! addresses outliving their system, explicit scheduling, routers, wakers and waiting.
#![cfg(not(zeta_loom))]

use std::future::Future as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::time::Duration;

use zeta::arena::{CountingResource, NullResource, PoolResource};
use zeta::scheduler::Scheduler;
use zeta::{
    spawn, Actor, Address, Balancer, Broadcast, Context, Enqueued, Future, ManualScheduler,
    Priority, Recipient, Reply, RequestError, SharingScheduler, StopReason, Strategy, System,
    Undelivered, WaitStrategy,
};

static_assertions::assert_impl_all!(Address<Recorder>: Send, Sync, Clone);
static_assertions::assert_impl_all!(Future<String>: Send, Sync, Unpin);
static_assertions::assert_eq_size!(Address<Recorder>, usize);

/// Records what it handles, in order.
struct Recorder {
    log: Arc<Mutex<Vec<(u32, u32)>>>,
}

impl Actor for Recorder {
    /// (sender, sequence)
    type Message = (u32, u32);

    fn handle(&mut self, message: (u32, u32), _ctx: &mut Context<'_, Self>) {
        self.log.lock().unwrap().push(message);
    }
}

type Log = Arc<Mutex<Vec<(u32, u32)>>>;

fn recorder(system: &System<ManualScheduler>) -> (Address<Recorder>, Log) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let address = system.spawn(Recorder { log: log.clone() }).unwrap();
    (address, log)
}

#[test]
fn high_priority_overtakes_queued_normal_messages() {
    let system = System::manual(1024).unwrap();
    let (address, log) = recorder(&system);
    for i in 0..5 {
        address.send((0, i)).unwrap();
    }
    address.send_high((1, 0)).unwrap();
    address.send_high((1, 1)).unwrap();
    address.send_with(Priority::Normal, (0, 5)).unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [
            (1, 0),
            (1, 1),
            (0, 0),
            (0, 1),
            (0, 2),
            (0, 3),
            (0, 4),
            (0, 5)
        ]
    );
}

#[test]
fn high_priority_arriving_mid_batch_is_handled_before_the_next_normal() {
    // The recorder is resumed for 1 message per run, so the high message sent between
    // its runs lands while normal ones are still in its cache.
    let system = System::manual(1).unwrap();
    let (address, log) = recorder(&system);
    for i in 0..3 {
        address.send((0, i)).unwrap();
    }
    system.scheduler().run_once().unwrap(); // handles (0, 0), caches the rest
    address.send_high((1, 0)).unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(*log.lock().unwrap(), [(0, 0), (1, 0), (0, 1), (0, 2)]);
}

#[test]
fn per_sender_fifo_with_threads_and_priorities() {
    const SENDERS: u32 = 3;
    const EACH: u32 = 20_000;
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = Arc::new(
        SharingScheduler::builder()
            .workers(2)
            .max_throughput(32)
            .build()
            .unwrap(),
    );
    scheduler.start().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let address = spawn(
        Recorder { log: log.clone() },
        memory.clone(),
        scheduler.clone(),
    )
    .unwrap();
    std::thread::scope(|scope| {
        for sender in 0..SENDERS {
            let address = address.clone();
            scope.spawn(move || {
                for i in 0..EACH {
                    // Sender 0 sends everything high; the others normal.
                    let priority = if sender == 0 {
                        Priority::High
                    } else {
                        Priority::Normal
                    };
                    address.send_with(priority, (sender, i)).unwrap();
                }
            });
        }
    });
    while log.lock().unwrap().len() < (SENDERS * EACH) as usize {
        std::thread::sleep(Duration::from_millis(1));
    }
    let log = log.lock().unwrap();
    let mut next = [0u32; SENDERS as usize];
    for &(sender, i) in log.iter() {
        assert_eq!(i, next[sender as usize], "sender {sender} out of order");
        next[sender as usize] += 1;
    }
    assert!(next.iter().all(|&n| n == EACH));
    drop(address);
    scheduler.stop().unwrap();
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn a_dead_address_gives_the_message_back() {
    let system = System::manual(64).unwrap();
    let (address, log) = recorder(&system);
    address.send((0, 0)).unwrap();
    address.stop().unwrap();
    // After the stop: refused at once, the message comes back.
    let refused = address.send((0, 1)).unwrap_err();
    assert_eq!(refused.reason(), Undelivered::ActorStopped);
    assert_eq!(refused.into_message(), (0, 1));
    assert!(!address.accepts(), "stopping: accepts nothing");
    assert!(address.is_alive(), "not ended before it runs");
    system.scheduler().run_until_idle().unwrap();
    assert!(!address.is_alive());
    assert_eq!(*log.lock().unwrap(), [(0, 0)]);
    for send in [Address::send, Address::send_high] {
        let error = send(&address, (7, 7)).unwrap_err();
        assert_eq!(error.reason(), Undelivered::ActorStopped);
        assert_eq!(error.into_message(), (7, 7));
    }
    let error = address.enqueue(Priority::High, (8, 8)).unwrap_err();
    assert_eq!(error.into_message(), (8, 8));
    let error = address.ask(|_: Reply<u8>| (9, 9)).unwrap_err();
    assert_eq!(error.reason(), Undelivered::ActorStopped);
    assert_eq!(
        address.stop().unwrap_err().reason(),
        Undelivered::ActorStopped
    );
    assert_eq!(
        address.kill().unwrap_err().reason(),
        Undelivered::ActorStopped
    );
}

#[test]
fn an_address_outlives_its_system() {
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
    let system = System::new(scheduler, memory.clone());
    let log = Arc::new(Mutex::new(Vec::new()));
    let idle = system.spawn(Recorder { log: log.clone() }).unwrap();
    idle.send((0, 0)).unwrap();
    system.scheduler().run_until_idle().unwrap();
    let queued = system.spawn(Recorder { log: log.clone() }).unwrap();
    queued.send((1, 0)).unwrap();
    let never_ran = system.spawn(Recorder { log: log.clone() }).unwrap();
    drop(system); // stops the scheduler: `queued` is told shutdown

    // The idle actor's next send finds the scheduler stopped: the message comes back.
    let error = idle.send((0, 1)).unwrap_err();
    assert_eq!(error.reason(), Undelivered::SchedulerStopped);
    assert_eq!(error.into_message(), (0, 1));
    // From then on the actor is stopped.
    assert!(!idle.is_alive());
    assert_eq!(
        idle.send((0, 2)).unwrap_err().reason(),
        Undelivered::ActorStopped
    );
    assert_eq!(
        queued.send((1, 1)).unwrap_err().reason(),
        Undelivered::ActorStopped
    );
    let error = never_ran.ask(|_: Reply<u8>| (2, 0)).unwrap_err();
    assert_eq!(error.reason(), Undelivered::SchedulerStopped);
    assert_eq!(*log.lock().unwrap(), [(0, 0)]);
    drop((idle, queued, never_ran));
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn addresses_outlive_a_threaded_system_under_load() {
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = Arc::new(SharingScheduler::builder().workers(2).build().unwrap());
    scheduler.start().unwrap();
    let system = System::new(scheduler, memory.clone());
    let log = Arc::new(Mutex::new(Vec::new()));
    let addresses: Vec<_> = (0..8)
        .map(|_| system.spawn(Recorder { log: log.clone() }).unwrap())
        .collect();
    let returned = AtomicUsize::new(0);
    let sent = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for (t, chunk) in addresses.chunks(4).enumerate() {
            let (returned, sent) = (&returned, &sent);
            scope.spawn(move || {
                for i in 0..u32::MAX {
                    let address = &chunk[i as usize % chunk.len()];
                    sent.fetch_add(1, Ordering::SeqCst);
                    if let Err(error) = address.send((t as u32, i)) {
                        assert_eq!(
                            error.into_message(),
                            (t as u32, i),
                            "the message comes back"
                        );
                        returned.fetch_add(1, Ordering::SeqCst);
                        if returned.load(Ordering::SeqCst) > 100 {
                            return;
                        }
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(20));
        drop(system);
    });
    // Every message was handled, dropped at shutdown, or given back; nothing leaked.
    let handled = log.lock().unwrap().len();
    assert!(handled + returned.load(Ordering::SeqCst) <= sent.load(Ordering::SeqCst));
    drop(addresses);
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn futures_and_replies_outlive_everything_else() {
    struct Keeper {
        kept: Option<Reply<String>>,
    }
    impl Actor for Keeper {
        type Message = Reply<String>;
        fn handle(&mut self, reply: Reply<String>, _ctx: &mut Context<'_, Self>) {
            self.kept = Some(reply);
        }
    }
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
    let keeper = spawn(Keeper { kept: None }, memory.clone(), scheduler.clone()).unwrap();
    let mut future = keeper.ask(|reply| reply).unwrap();
    scheduler.run_until_idle().unwrap();
    assert!(!future.is_ready());
    // Everything but the future goes; the actor is dropped with the reply it kept.
    drop(keeper);
    drop(scheduler);
    assert!(memory.live_blocks() > 0, "the request node is still alive");
    assert_eq!(future.try_take(), Some(Err(RequestError::NoReply)));
    drop(future);
    assert_eq!(memory.live_blocks(), 0);
}

#[test]
fn explicit_scheduling_on_another_scheduler() {
    let system = System::manual(64).unwrap();
    let mine = ManualScheduler::new(64).unwrap();
    let (address, log) = recorder(&system);
    match address.enqueue(Priority::Normal, (0, 0)).unwrap() {
        Enqueued::MustSchedule(duty) => duty.schedule_on(&mine).unwrap(),
        Enqueued::Queued => panic!("the actor was idle"),
    }
    assert!(matches!(
        address.enqueue(Priority::Normal, (0, 1)).unwrap(),
        Enqueued::Queued
    ));
    assert_eq!(system.scheduler().run_until_idle().unwrap().messages, 0);
    assert_eq!(mine.run_until_idle().unwrap().messages, 2);
    // A duty dropped unscheduled falls back to the actor's own scheduler.
    let outcome = address.enqueue(Priority::Normal, (0, 2)).unwrap();
    assert!(matches!(outcome, Enqueued::MustSchedule(_)));
    drop(outcome);
    assert_eq!(system.scheduler().run_until_idle().unwrap().messages, 1);
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[test]
fn spawn_and_send_out_of_memory_are_errors() {
    struct Nop;
    impl Actor for Nop {
        type Message = u8;
        fn handle(&mut self, _: u8, _ctx: &mut Context<'_, Self>) {}
    }
    let scheduler = Arc::new(ManualScheduler::new(8).unwrap());
    let error = spawn(Nop, Arc::new(NullResource), scheduler).unwrap_err();
    let _nop: Nop = error.into_actor();
}

#[test]
fn context_stop_and_lifecycle_hooks() {
    #[derive(Default)]
    struct Hooks {
        events: Mutex<Vec<String>>,
    }
    struct Life {
        hooks: Arc<Hooks>,
    }
    impl Actor for Life {
        type Message = u32;
        fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
            assert!(ctx.address().is_alive());
            self.hooks.events.lock().unwrap().push("start".into());
        }
        fn handle(&mut self, n: u32, ctx: &mut Context<'_, Self>) {
            self.hooks.events.lock().unwrap().push(format!("{n}"));
            if n == 2 {
                ctx.stop();
            }
        }
        fn on_stop(&mut self, reason: StopReason) {
            self.hooks
                .events
                .lock()
                .unwrap()
                .push(format!("stop {reason:?}"));
        }
    }
    let system = System::manual(64).unwrap();
    let hooks = Arc::new(Hooks::default());
    let life = system
        .spawn(Life {
            hooks: hooks.clone(),
        })
        .unwrap();
    for n in 1..=3 {
        life.send(n).unwrap();
    }
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(
        *hooks.events.lock().unwrap(),
        ["start", "1", "2", "stop Stopped"]
    );
    assert_eq!(life.send(4).unwrap_err().into_message(), 4);

    // Never started: no hooks at all, even when dropped.
    let hooks = Arc::new(Hooks::default());
    drop(
        system
            .spawn(Life {
                hooks: hooks.clone(),
            })
            .unwrap(),
    );
    assert!(hooks.events.lock().unwrap().is_empty());
}

/// Answers `Get` with its count; `Add` adds.
struct Counter(u64);
enum CounterMsg {
    Add(u64),
    Get(Reply<u64>),
}
impl Actor for Counter {
    type Message = CounterMsg;
    fn handle(&mut self, message: CounterMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            CounterMsg::Add(n) => self.0 += n,
            CounterMsg::Get(reply) => drop(reply.send(self.0)),
        }
    }
}

#[test]
fn wait_strategies_and_timeouts() {
    let system = System::sharing(2).unwrap();
    let counter = system.spawn(Counter(0)).unwrap();
    for strategy in [WaitStrategy::Backoff, WaitStrategy::Park] {
        for _ in 0..100 {
            counter.send(CounterMsg::Add(1)).unwrap();
            let total = counter
                .ask(CounterMsg::Get)
                .unwrap()
                .wait_with(strategy)
                .unwrap();
            assert!(total >= 1);
        }
    }
    // A request nobody answers yet: times out, stays usable, resolves later. The
    // handler holds the reply until the test opens a latch after its timeout, so the
    // timeout cannot race the reply, however slow the machine.
    struct Slow;
    type Latch = Arc<(Mutex<bool>, std::sync::Condvar)>;
    impl Actor for Slow {
        type Message = (Latch, Reply<u8>);
        fn handle(&mut self, (latch, reply): (Latch, Reply<u8>), _ctx: &mut Context<'_, Self>) {
            let (open, opened) = &*latch;
            let mut open = open.lock().unwrap();
            while !*open {
                open = opened.wait(open).unwrap();
            }
            let _ = reply.send(1);
        }
    }
    let slow = system.spawn(Slow).unwrap();
    for strategy in [WaitStrategy::Backoff, WaitStrategy::Park] {
        let latch: Latch = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let mut future = slow.ask(|reply| (latch.clone(), reply)).unwrap();
        assert_eq!(
            future.wait_timeout_with(strategy, Duration::from_millis(1)),
            Err(RequestError::Timeout)
        );
        *latch.0.lock().unwrap() = true;
        latch.1.notify_all();
        assert_eq!(
            future.wait_timeout_with(strategy, Duration::from_secs(60)),
            Ok(1)
        );
    }
}

#[test]
fn blocking_inside_a_handler_is_refused() {
    struct Impatient {
        counter: Address<Counter>,
        result: Arc<Mutex<Option<Result<u64, RequestError>>>>,
    }
    impl Actor for Impatient {
        type Message = ();
        fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {
            let future = self.counter.ask(CounterMsg::Get).unwrap();
            *self.result.lock().unwrap() = Some(future.wait());
        }
    }
    let system = System::manual(64).unwrap();
    let counter = system.spawn(Counter(0)).unwrap();
    let result = Arc::new(Mutex::new(None));
    let impatient = system
        .spawn(Impatient {
            counter,
            result: result.clone(),
        })
        .unwrap();
    impatient.send(()).unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(*result.lock().unwrap(), Some(Err(RequestError::WouldBlock)));
}

struct CountingWaker(AtomicUsize);
impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_future_can_be_polled_and_awaited() {
    let system = System::manual(64).unwrap();
    let counter = system.spawn(Counter(7)).unwrap();
    let mut future = counter.ask(CounterMsg::Get).unwrap();
    let wakes = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(wakes.clone());
    let mut cx = TaskContext::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut future).poll(&mut cx).is_pending());
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        1,
        "the reply woke the waker"
    );
    assert_eq!(
        std::pin::Pin::new(&mut future).poll(&mut cx),
        Poll::Ready(Ok(7))
    );
}

/// Asks another actor without blocking: polls the future with its own waker (owned, or
/// the borrowed `waker_ref`), and takes the answer in `on_wake`.
#[test]
fn actor_to_actor_ask_with_the_actor_waker() {
    ask_with_the_actor_waker(false);
}

#[test]
fn actor_to_actor_ask_with_the_borrowed_actor_waker() {
    ask_with_the_actor_waker(true);
}

/// With either waker, no reference is left behind: once its last address is gone, the
/// asker ends and is dropped.
fn ask_with_the_actor_waker(borrowed: bool) {
    struct Asker {
        counter: Address<Counter>,
        pending: Option<Future<u64>>,
        answers: Arc<Mutex<Vec<u64>>>,
        borrowed: bool,
        dropped: Arc<AtomicBool>,
    }
    impl Drop for Asker {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }
    impl Actor for Asker {
        type Message = ();
        fn handle(&mut self, _: (), ctx: &mut Context<'_, Self>) {
            let mut future = self.counter.ask(CounterMsg::Get).unwrap();
            let owned;
            let waker = if self.borrowed {
                ctx.waker_ref()
            } else {
                owned = ctx.waker();
                &owned
            };
            let mut task = TaskContext::from_waker(waker);
            match std::pin::Pin::new(&mut future).poll(&mut task) {
                Poll::Ready(answer) => self.answers.lock().unwrap().push(answer.unwrap()),
                Poll::Pending => self.pending = Some(future),
            }
        }
        fn on_wake(&mut self, _ctx: &mut Context<'_, Self>) {
            if let Some(mut future) = self.pending.take() {
                match future.try_take() {
                    Some(answer) => self.answers.lock().unwrap().push(answer.unwrap()),
                    None => self.pending = Some(future),
                }
            }
        }
    }
    let system = System::sharing(2).unwrap();
    let counter = system.spawn(Counter(3)).unwrap();
    let answers = Arc::new(Mutex::new(Vec::new()));
    let dropped = Arc::new(AtomicBool::new(false));
    let asker = system
        .spawn(Asker {
            counter,
            pending: None,
            answers: answers.clone(),
            borrowed,
            dropped: dropped.clone(),
        })
        .unwrap();
    for _ in 0..100 {
        let before = answers.lock().unwrap().len();
        asker.send(()).unwrap();
        while answers.lock().unwrap().len() == before {
            std::thread::yield_now();
        }
    }
    assert!(answers.lock().unwrap().iter().all(|&a| a == 3));
    drop(asker);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !dropped.load(Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "the asker outlived its last address: a waker kept a reference"
        );
        std::thread::yield_now();
    }
}

#[test]
fn balancer_round_robin_and_least_loaded() {
    let system = System::manual(64).unwrap();
    let parts: Vec<_> = (0..3).map(|_| system.spawn(Counter(0)).unwrap()).collect();
    let balancer = Balancer::new(parts.clone(), Strategy::RoundRobin).unwrap();
    for i in 0..9u64 {
        balancer.send(CounterMsg::Add(1 << (i % 3))).unwrap();
    }
    system.scheduler().run_until_idle().unwrap();
    for (i, part) in parts.iter().enumerate() {
        let mut total = part.ask(CounterMsg::Get).unwrap();
        system.scheduler().run_until_idle().unwrap();
        assert_eq!(total.try_take(), Some(Ok(3 << i)), "placement by i % 3");
    }

    // Least loaded: with one member backed up, new messages go to the others.
    let least = Balancer::new(parts.clone(), Strategy::LeastLoaded).unwrap();
    for _ in 0..6 {
        least.send(CounterMsg::Add(0)).unwrap();
    }
    let queued: Vec<u64> = parts.iter().map(|p| p.handled()).collect();
    system.scheduler().run_until_idle().unwrap();
    let handled: Vec<u64> = parts
        .iter()
        .zip(&queued)
        .map(|(p, q)| p.handled() - q)
        .collect();
    assert_eq!(handled, [2, 2, 2], "equal load: spread evenly");

    // A stopped member is skipped; with all stopped the message comes back.
    parts[0].kill().unwrap();
    system.scheduler().run_until_idle().unwrap();
    for _ in 0..4 {
        balancer.send(CounterMsg::Add(1)).unwrap();
    }
    for part in &parts[1..] {
        part.kill().unwrap();
    }
    system.scheduler().run_until_idle().unwrap();
    let error = balancer.send(CounterMsg::Add(5)).unwrap_err();
    assert!(matches!(error.into_message(), CounterMsg::Add(5)));
}

#[test]
fn broadcast_reaches_every_member_once() {
    #[derive(Clone)]
    struct News(Arc<AtomicUsize>);
    struct Listener(usize);
    impl Actor for Listener {
        type Message = News;
        fn handle(&mut self, news: News, _ctx: &mut Context<'_, Self>) {
            self.0 += 1;
            news.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let system = System::sharing(2).unwrap();
    let listeners: Vec<_> = (0..5).map(|_| system.spawn(Listener(0)).unwrap()).collect();
    let all = Broadcast::new(listeners.clone()).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    assert_eq!(all.send(News(seen.clone())).unwrap(), 5);
    let recipient: &dyn Recipient<News> = &all;
    recipient.send_high(News(seen.clone())).unwrap();
    while seen.load(Ordering::SeqCst) < 10 {
        std::thread::yield_now();
    }
    assert!(listeners.iter().all(|l| l.handled() <= 2));
}

#[test]
fn dropping_the_last_address_stops_an_idle_actor_in_place() {
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = Arc::new(SharingScheduler::builder().workers(1).build().unwrap());
    scheduler.start().unwrap();
    for _ in 0..100 {
        let counter = spawn(Counter(0), memory.clone(), scheduler.clone()).unwrap();
        counter.send(CounterMsg::Add(1)).unwrap();
        assert_eq!(counter.ask(CounterMsg::Get).unwrap().wait(), Ok(1));
        drop(counter);
    }
    // The last reference may be a run-queue entry finishing on the worker.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while memory.live_blocks() != 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(memory.live_blocks(), 0);
    scheduler.stop().unwrap();
}

#[test]
fn handled_counts_every_message_whatever_the_throughput() {
    let system = System::manual(1).unwrap();
    let (address, _log) = recorder(&system);
    for i in 0..10 {
        address.send((0, i)).unwrap();
    }
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(address.handled(), 10);
    address.stop().unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(address.handled(), 10, "a stop is not a message");
}

#[test]
fn killed_before_it_ever_ran_runs_no_hooks() {
    struct Hooked(Arc<AtomicUsize>);
    impl Actor for Hooked {
        type Message = ();
        fn on_start(&mut self, _ctx: &mut Context<'_, Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
        fn on_stop(&mut self, _reason: StopReason) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let system = System::manual(8).unwrap();
    let hooks = Arc::new(AtomicUsize::new(0));
    let hooked = system.spawn(Hooked(hooks.clone())).unwrap();
    hooked.send(()).unwrap();
    hooked.kill().unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert!(!hooked.is_alive());
    assert_eq!(hooks.load(Ordering::SeqCst), 0);
}

#[test]
fn broadcast_of_messages_that_cannot_be_cloned() {
    // `CounterMsg` carries a `Reply`, so it is not `Clone`: `send_each` builds one per
    // member.
    let system = System::manual(8).unwrap();
    let counters: Vec<_> = (0..3).map(|i| system.spawn(Counter(i)).unwrap()).collect();
    let all = Broadcast::new(counters.clone()).unwrap();
    assert_eq!(all.send_each(Priority::Normal, || CounterMsg::Add(10)), 3);
    let mut totals: Vec<_> = counters
        .iter()
        .map(|c| c.ask(CounterMsg::Get).unwrap())
        .collect();
    system.scheduler().run_until_idle().unwrap();
    let totals: Vec<_> = totals
        .iter_mut()
        .map(|f| f.try_take().unwrap().unwrap())
        .collect();
    assert_eq!(totals, [10, 11, 12]);
}
