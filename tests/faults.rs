//! Fault tests: panics in handlers and hooks, contained per actor, on real worker
//! threads.
//!
//! - `one_percent_of_handlers_panic`: a thousand actors on a 2-worker `SharingScheduler`
//!   take a stream of messages of which about 1 % make the handler panic (chosen by a
//!   hash of a seed, the actor and the message's number: the same on every run), in
//!   three runs with different seeds and batch sizes (`max_throughput` 1, 8, 64).
//!   "The rest unaffected" means, exactly:
//!   1. an actor that never gets a panicking message handles every message sent to it,
//!      in order, answers every request, and stops with `StopReason::Stopped` when told;
//!   2. an actor whose first panicking message is its `p`-th handles exactly its first
//!      `p` messages, in order, then stops with `StopReason::Panicked` (seen by
//!      `on_stop`, once); every later send to it is accepted and dropped unhandled or
//!      comes back in a `SendError` (`ActorStopped`); its requests after the `p`-th
//!      resolve to `NoReply`, the panicking one's to `HandlerPanicked`;
//!   3. the workers live on: the scheduler counts exactly one caught panic per panicked
//!      actor, and actors spawned after all the panics are served;
//!   4. every payload is dropped exactly once, and the memory resource ends at zero.
//! - `panicking_hooks_are_contained`: `on_start` and `on_stop` panic for some actors, on
//!   every way an actor can end (stop, kill, handler panic, last address dropped,
//!   scheduler stopped); the others are unaffected and nothing leaks.
//!
//! The deliberate panics carry a marker; a panic hook, installed once for this test
//! binary (a hook is process-global, which is why these tests live in their own file),
//! silences exactly those and hands every other panic to the previous hook, so a real
//! failure still prints. The tests of this binary run in parallel threads; the hook is
//! the same for all of them.
//!
//! Sizes: `ZETA_STRESS_SCALE` (a float, default 1.0) multiplies them (actors, fresh
//! actors), e.g. `ZETA_STRESS_SCALE=0.01` for a run under valgrind.
#![cfg(not(zeta_loom))]

mod stress_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};

use stress_common::{
    mix, scaled, spawn_bounded, wait_until, Fate, Ledger, Token, HANG, REPLY_HANG,
};
use zeta::arena::{CountingResource, PoolResource};
use zeta::scheduler::Scheduler;
use zeta::{
    Actor, AskError, Context, Future, Reply, RequestError, SharingScheduler, StopReason, System,
    Undelivered,
};

/// In the payload of every deliberate panic, and only there.
const MARKER: &str = "deliberate panic from the zeta fault tests";

/// Silences this binary's deliberate panics; everything else goes to the previous hook.
fn silence_deliberate_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if text.is_some_and(|text| text.starts_with(MARKER)) {
                return;
            }
            previous(info);
        }));
    });
}

// ---------------------------------------------------------------------------------------
// 1. Panics in 1 % of handlers
// ---------------------------------------------------------------------------------------

/// Messages per actor in the stream.
const STREAM: u32 = 60;

/// Whether message `seq` to actor `index` panics, in the run seeded `seed`: about 1 %,
/// the same on every run.
fn poisoned(seed: u64, index: u32, seq: u32) -> bool {
    mix(mix(seed) ^ (u64::from(index) << 32 | u64::from(seq))) % 100 == 0
}

/// Whether message `seq` (to any actor) is a request.
fn is_request(seq: u32) -> bool {
    seq % 5 == 2
}

/// The answer of actor `index` to request `seq`.
fn answer(index: u32, seq: u32) -> u64 {
    u64::from(index) * 1_000_003 + u64::from(seq)
}

enum Job {
    Work {
        seq: u32,
        poison: bool,
        token: Token,
    },
    Ask {
        seq: u32,
        poison: bool,
        token: Token,
        reply: Reply<u64>,
    },
}

impl Job {
    fn into_token(self) -> Token {
        match self {
            Job::Work { token, .. } | Job::Ask { token, .. } => token,
        }
    }
}

/// Per actor: why it stopped and the sequence numbers it handled, in order.
type Report = (StopReason, Vec<u32>);

struct Reports {
    slots: Mutex<Vec<Option<Report>>>,
    /// `on_stop` calls, including any beyond the first for one actor.
    calls: AtomicUsize,
    /// `on_stop` calls for an actor that had already reported.
    repeated: AtomicUsize,
}

impl Reports {
    fn new(actors: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: Mutex::new(vec![None; actors]),
            calls: AtomicUsize::new(0),
            repeated: AtomicUsize::new(0),
        })
    }

    fn get(&self, index: u32) -> Option<Report> {
        self.slots.lock().unwrap()[index as usize].clone()
    }
}

struct Victim {
    index: u32,
    seen: Vec<u32>,
    reports: Arc<Reports>,
}

impl Actor for Victim {
    type Message = Job;

    fn handle(&mut self, job: Job, _ctx: &mut Context<'_, Self>) {
        match job {
            Job::Work { seq, poison, token } => {
                if poison {
                    // `token` is dropped by the unwinding, unmarked: `Unhandled`.
                    panic!("{MARKER}: actor {} message {seq}", self.index);
                }
                self.seen.push(seq);
                drop(token.mark(Fate::Handled));
            }
            Job::Ask {
                seq,
                poison,
                token,
                reply,
            } => {
                if poison {
                    // The unwinding drops `reply` unsent: the asker gets `HandlerPanicked`.
                    panic!("{MARKER}: actor {} request {seq}", self.index);
                }
                self.seen.push(seq);
                drop(token.mark(Fate::Handled));
                // Err only if the asker has gone; these askers keep their futures.
                reply
                    .send(answer(self.index, seq))
                    .expect("the asker waits");
            }
        }
    }

    fn on_stop(&mut self, reason: StopReason) {
        let mut slots = self.reports.slots.lock().unwrap();
        let slot = &mut slots[self.index as usize];
        if slot.is_some() {
            self.reports.repeated.fetch_add(1, Ordering::SeqCst);
        }
        *slot = Some((reason, core::mem::take(&mut self.seen)));
        self.reports.calls.fetch_add(1, Ordering::SeqCst);
    }
}

/// What the sender saw for one message.
enum Sent {
    /// Accepted; for a request, its future.
    Accepted(Option<Future<u64>>),
    /// Given back, with the reason.
    Returned(Undelivered),
}

#[test]
fn one_percent_of_handlers_panic() {
    silence_deliberate_panics();
    // Different batch sizes: a panic then finds the rest of the stream in the reader's
    // cache, in its inbox, or not yet sent.
    for (seed, max_throughput) in [(0xFA01_7501, 1), (0xFA01_7502, 8), (0xFA01_7503, 64)] {
        panicking_stream(seed, max_throughput);
    }
}

fn panicking_stream(seed: u64, max_throughput: usize) {
    let run = format!("seed {seed:#x}, max_throughput {max_throughput}");
    let actors = scaled(1000, 20) as u32;
    let fresh_actors = scaled(50, 4) as u32;
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = Arc::new(
        SharingScheduler::builder()
            .workers(2)
            .max_throughput(max_throughput)
            .build()
            .unwrap(),
    );
    scheduler.start().unwrap();
    let system = System::new(scheduler.clone(), memory.clone());
    let tokens = Ledger::new((actors + fresh_actors) as usize * (STREAM as usize + 8));
    let reports = Reports::new((actors + fresh_actors) as usize);
    let spawn_victim = |index: u32| {
        system
            .spawn(Victim {
                index,
                seen: Vec::new(),
                reports: reports.clone(),
            })
            .unwrap()
    };
    let victims: Arc<Vec<_>> = Arc::new((0..actors).map(spawn_victim).collect());

    // What the stream will do: each actor's first panicking message, if any.
    let first_poison: Vec<Option<u32>> = (0..actors)
        .map(|index| (0..STREAM).find(|&seq| poisoned(seed, index, seq)))
        .collect();
    let poison_total = (0..actors)
        .flat_map(|index| (0..STREAM).map(move |seq| (index, seq)))
        .filter(|&(index, seq)| poisoned(seed, index, seq))
        .count();
    let panicked_actors = first_poison.iter().filter(|p| p.is_some()).count();
    assert!(panicked_actors > 0 && panicked_actors < actors as usize);

    // Two outside senders; sender `t` owns the actors with `index % 2 == t`, so each
    // actor's messages come from one thread, in order. They go round the actors, one
    // message each per lap, so panics happen while the stream goes on.
    let senders: Vec<_> = (0..2u32)
        .map(|t| {
            let (victims, tokens) = (victims.clone(), tokens.clone());
            spawn_bounded(format!("sender {t}"), move || {
                let mine: Vec<u32> = (t..actors).step_by(2).collect();
                let mut sent: Vec<Vec<(u32, Sent)>> = mine.iter().map(|_| Vec::new()).collect();
                for seq in 0..STREAM {
                    for (slot, &index) in mine.iter().enumerate() {
                        let address = &victims[index as usize];
                        let token = Token::new(&tokens, 0);
                        let id = token.id;
                        let poison = poisoned(seed, index, seq);
                        let outcome = if is_request(seq) {
                            match address.ask(|reply| Job::Ask {
                                seq,
                                poison,
                                token,
                                reply,
                            }) {
                                Ok(future) => Sent::Accepted(Some(future)),
                                Err(AskError::Undelivered(error)) => {
                                    let reason = error.reason();
                                    let token = error.into_message().into_token();
                                    assert_eq!(token.id, id);
                                    drop(token.mark(Fate::Returned));
                                    Sent::Returned(reason)
                                }
                                Err(AskError::OutOfMemory) => panic!("out of memory"),
                                Err(AskError::NoTimers) => {
                                    unreachable!("a plain ask needs no timers")
                                }
                            }
                        } else {
                            match address.send(Job::Work { seq, poison, token }) {
                                Ok(()) => Sent::Accepted(None),
                                Err(error) => {
                                    let reason = error.reason();
                                    let token = error.into_message().into_token();
                                    assert_eq!(token.id, id);
                                    drop(token.mark(Fate::Returned));
                                    Sent::Returned(reason)
                                }
                            }
                        };
                        sent[slot].push((id, outcome));
                    }
                }
                (mine, sent)
            })
        })
        .collect();
    let mut sent: Vec<Vec<(u32, Sent)>> = (0..actors).map(|_| Vec::new()).collect();
    for sender in senders {
        let (mine, log) = sender.join(HANG);
        for (index, log) in mine.into_iter().zip(log) {
            sent[index as usize] = log;
        }
    }

    // Every panicked actor reports; every other one answers a last request (sent after
    // its whole stream), then is stopped and reports.
    wait_until(
        HANG,
        &format!("{run}: every poisoned actor reporting its panic"),
        || {
            (0..actors)
                .filter(|&index| first_poison[index as usize].is_some())
                .all(|index| reports.get(index).is_some())
        },
        || format!("{} on_stop calls", reports.calls.load(Ordering::SeqCst)),
    );
    for index in (0..actors).filter(|&index| first_poison[index as usize].is_none()) {
        let address = &victims[index as usize];
        let token = Token::new(&tokens, 0);
        let mut last = address
            .ask(|reply| Job::Ask {
                seq: STREAM,
                poison: false,
                token,
                reply,
            })
            .expect("a clean actor takes requests");
        assert_eq!(
            last.wait_timeout(REPLY_HANG),
            Ok(answer(index, STREAM)),
            "{run}: clean actor {index} answers after its stream"
        );
        address.stop().unwrap();
    }

    // The workers live on: actors spawned after every panic are served.
    let fresh: Vec<_> = (actors..actors + fresh_actors).map(spawn_victim).collect();
    for (k, address) in fresh.iter().enumerate() {
        let index = actors + k as u32;
        for seq in 0..3 {
            let token = Token::new(&tokens, 0);
            address
                .send(Job::Work {
                    seq,
                    poison: false,
                    token,
                })
                .unwrap();
        }
        let token = Token::new(&tokens, 0);
        let mut future = address
            .ask(|reply| Job::Ask {
                seq: 3,
                poison: false,
                token,
                reply,
            })
            .unwrap();
        assert_eq!(future.wait_timeout(REPLY_HANG), Ok(answer(index, 3)));
        address.stop().unwrap();
    }
    wait_until(
        HANG,
        &format!("{run}: every actor reporting"),
        || reports.calls.load(Ordering::SeqCst) == (actors + fresh_actors) as usize,
        || format!("{} on_stop calls", reports.calls.load(Ordering::SeqCst)),
    );

    // 1 and 2: each actor, by its stream.
    let (mut accepted_after_panic, mut returned_after_panic) = (0, 0);
    for index in 0..actors {
        let (reason, seen) = reports.get(index).unwrap();
        let log = std::mem::take(&mut sent[index as usize]);
        assert_eq!(log.len(), STREAM as usize);
        match first_poison[index as usize] {
            None => {
                assert_eq!(reason, StopReason::Stopped, "{run}: clean actor {index}");
                assert_eq!(
                    seen,
                    (0..=STREAM).collect::<Vec<_>>(),
                    "{run}: clean actor {index} handles everything, in order"
                );
                for (seq, (id, outcome)) in log.into_iter().enumerate() {
                    let seq = seq as u32;
                    let Sent::Accepted(future) = outcome else {
                        panic!("{run}: clean actor {index}: message {seq} came back");
                    };
                    if let Some(mut future) = future {
                        assert_eq!(future.wait_timeout(REPLY_HANG), Ok(answer(index, seq)));
                    }
                    assert_eq!(
                        tokens.fate(id),
                        Fate::Handled,
                        "{run}: actor {index} message {seq}"
                    );
                }
            }
            Some(p) => {
                // The poisoned one was a plain message or a request: its panic says which.
                let said = [
                    StopReason::Panicked(format!("{MARKER}: actor {index} message {p}").into()),
                    StopReason::Panicked(format!("{MARKER}: actor {index} request {p}").into()),
                ];
                assert!(
                    said.contains(&reason),
                    "{run}: poisoned actor {index}: {reason:?}"
                );
                assert_eq!(
                    seen,
                    (0..p).collect::<Vec<_>>(),
                    "{run}: poisoned actor {index} handles exactly what came before message {p}"
                );
                for (seq, (id, outcome)) in log.into_iter().enumerate() {
                    let seq = seq as u32;
                    let what = format!("{run}: poisoned actor {index} (at {p}), message {seq}");
                    match outcome {
                        Sent::Accepted(future) => {
                            if seq > p {
                                accepted_after_panic += 1;
                            }
                            if let Some(mut future) = future {
                                let expected = if seq < p {
                                    Ok(answer(index, seq))
                                } else if seq == p {
                                    // Held by the handler that panicked.
                                    Err(RequestError::HandlerPanicked)
                                } else {
                                    Err(RequestError::NoReply)
                                };
                                assert_eq!(future.wait_timeout(REPLY_HANG), expected, "{what}");
                            }
                            let expected = if seq < p {
                                Fate::Handled
                            } else {
                                Fate::Unhandled
                            };
                            assert_eq!(tokens.fate(id), expected, "{what}");
                        }
                        Sent::Returned(reason) => {
                            assert!(seq > p, "{what}: came back before the panic");
                            assert_eq!(reason, Undelivered::ActorStopped, "{what}");
                            assert_eq!(tokens.fate(id), Fate::Returned, "{what}");
                            returned_after_panic += 1;
                        }
                    }
                }
            }
        }
    }
    for index in actors..actors + fresh_actors {
        let (reason, seen) = reports.get(index).unwrap();
        assert_eq!(reason, StopReason::Stopped, "{run}: fresh actor {index}");
        assert_eq!(seen, [0, 1, 2, 3], "{run}: fresh actor {index}");
    }
    assert_eq!(
        reports.repeated.load(Ordering::SeqCst),
        0,
        "{run}: on_stop ran twice"
    );

    // 3: one caught panic per panicked actor, nothing else.
    let panics: u64 = scheduler.stats().iter().map(|w| w.panics).sum();
    assert_eq!(panics, panicked_actors as u64, "{run}: caught panics");

    // 4: payloads and memory.
    drop(victims);
    drop(fresh);
    system.stop().unwrap();
    drop(system);
    drop(scheduler);
    tokens.assert_balanced(&run);
    let stats = memory.stats();
    assert_eq!(stats.live_blocks, 0, "{run}: blocks left allocated");
    assert_eq!(stats.live_bytes, 0, "{run}: bytes left allocated");
    eprintln!(
        "{run}: {actors} actors x {STREAM} messages: {poison_total} panicking messages, \
         {panicked_actors} actors panicked; after their panics {accepted_after_panic} \
         messages were accepted and dropped, {returned_after_panic} came back"
    );
}

// ---------------------------------------------------------------------------------------
// 2. Panics in hooks
// ---------------------------------------------------------------------------------------

/// How a hooked actor is made to end.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ending {
    /// `Address::stop`.
    Stop,
    /// `Address::kill`.
    Kill,
    /// A handler panics.
    HandlerPanic,
    /// The last address is dropped while the actor is idle (or finishing its run).
    Dropped,
    /// Its scheduler stops while it is queued (on a `ManualScheduler`, where "queued"
    /// can be arranged exactly).
    SchedulerStopped,
}

#[derive(Clone, Copy, Debug)]
struct Plan {
    start_panics: bool,
    stop_panics: bool,
    ending: Ending,
}

impl Plan {
    /// What `on_stop` of actor `index` must see: the panic's own message too.
    fn reason(self, index: usize) -> StopReason {
        if self.start_panics {
            return StopReason::Panicked(format!("{MARKER}: on_start of actor {index}").into());
        }
        match self.ending {
            Ending::Stop => StopReason::Stopped,
            Ending::Kill => StopReason::Killed,
            Ending::HandlerPanic => {
                StopReason::Panicked(format!("{MARKER}: handler of actor {index}").into())
            }
            Ending::Dropped => StopReason::Dropped,
            Ending::SchedulerStopped => StopReason::SchedulerStopped,
        }
    }

    /// Whether the scheduler's worker catches a panic from this actor's resumes: in
    /// `on_start`, in a handler, or in `on_stop` when it runs inside a resume (a graceful
    /// stop or a kill; when the last address goes or the scheduler stops, `on_stop` runs
    /// outside any resume and its panic is caught there).
    fn worker_panics(self) -> u64 {
        let caught = self.start_panics
            || self.ending == Ending::HandlerPanic
            || (self.stop_panics && matches!(self.ending, Ending::Stop | Ending::Kill));
        u64::from(caught)
    }
}

enum HookMsg {
    Work(Token),
    Ask(Token, Reply<u64>),
    Panic(Token),
}

struct Hooked {
    index: usize,
    plan: Plan,
    reasons: Arc<Mutex<Vec<Vec<StopReason>>>>,
}

impl Actor for Hooked {
    type Message = HookMsg;

    fn on_start(&mut self, _ctx: &mut Context<'_, Self>) {
        if self.plan.start_panics {
            panic!("{MARKER}: on_start of actor {}", self.index);
        }
    }

    fn handle(&mut self, message: HookMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            HookMsg::Work(token) => drop(token.mark(Fate::Handled)),
            HookMsg::Ask(token, reply) => {
                drop(token.mark(Fate::Handled));
                reply.send(self.index as u64).expect("the asker waits");
            }
            HookMsg::Panic(_token) => panic!("{MARKER}: handler of actor {}", self.index),
        }
    }

    fn on_stop(&mut self, reason: StopReason) {
        self.reasons.lock().unwrap()[self.index].push(reason.clone());
        if self.plan.stop_panics {
            panic!("{MARKER}: on_stop of actor {} ({reason:?})", self.index);
        }
    }
}

/// Every plan, each for `each` actors.
fn plans(endings: &[Ending], each: usize) -> Vec<Plan> {
    let mut plans = Vec::new();
    for stop_panics in [false, true] {
        for &ending in endings {
            for start_panics in [false, true] {
                for _ in 0..each {
                    plans.push(Plan {
                        start_panics,
                        stop_panics,
                        ending,
                    });
                }
            }
        }
    }
    plans
}

#[test]
fn panicking_hooks_are_contained() {
    silence_deliberate_panics();
    let each = scaled(20, 2);
    hooks_on_a_sharing_scheduler(each);
    hooks_at_scheduler_stop(each);
}

fn hooks_on_a_sharing_scheduler(each: usize) {
    let plans = plans(
        &[
            Ending::Stop,
            Ending::Kill,
            Ending::HandlerPanic,
            Ending::Dropped,
        ],
        each,
    );
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = Arc::new(SharingScheduler::builder().workers(2).build().unwrap());
    scheduler.start().unwrap();
    let system = System::new(scheduler.clone(), memory.clone());
    let tokens = Ledger::new(plans.len() * 4 + 64);
    let reasons = Arc::new(Mutex::new(vec![Vec::new(); plans.len() + 1]));

    // All actors at once, from two outside threads, so that panicking and healthy
    // actors share the workers.
    let addresses: Arc<Vec<_>> = Arc::new(
        plans
            .iter()
            .enumerate()
            .map(|(index, &plan)| {
                system
                    .spawn(Hooked {
                        index,
                        plan,
                        reasons: reasons.clone(),
                    })
                    .unwrap()
            })
            .collect(),
    );
    let plans = Arc::new(plans);
    let drivers: Vec<_> = (0..2usize)
        .map(|t| {
            let (addresses, plans, tokens) = (addresses.clone(), plans.clone(), tokens.clone());
            spawn_bounded(format!("driver {t}"), move || {
                // (index, work token, request token, the answer or `None` if the
                // request came back)
                let mut asked = Vec::new();
                for index in (t..plans.len()).step_by(2) {
                    let address = &addresses[index];
                    let work = Token::new(&tokens, 0);
                    let work_id = work.id;
                    address.send(HookMsg::Work(work)).unwrap();
                    let token = Token::new(&tokens, 0);
                    let ask_id = token.id;
                    let answer = match address.ask(|reply| HookMsg::Ask(token, reply)) {
                        Ok(mut future) => {
                            let answer = future.wait_timeout(REPLY_HANG);
                            assert_ne!(answer, Err(RequestError::Timeout), "hang: actor {index}");
                            Some(answer)
                        }
                        // Possible only if `on_start` panicked on the work message.
                        Err(AskError::Undelivered(error)) => {
                            assert_eq!(error.reason(), Undelivered::ActorStopped);
                            let HookMsg::Ask(token, _) = error.into_message() else {
                                unreachable!("the request comes back");
                            };
                            drop(token.mark(Fate::Returned));
                            None
                        }
                        Err(AskError::OutOfMemory) => panic!("out of memory"),
                        Err(AskError::NoTimers) => unreachable!("a plain ask needs no timers"),
                    };
                    asked.push((index, work_id, ask_id, answer));
                }
                asked
            })
        })
        .collect();
    let mut asked: Vec<_> = drivers.into_iter().flat_map(|d| d.join(HANG)).collect();
    asked.sort_by_key(|&(index, ..)| index);

    // The endings, once every actor has answered (or died at its start).
    let mut kept = Vec::new();
    for (index, address) in Arc::try_unwrap(addresses)
        .expect("the drivers are done")
        .into_iter()
        .enumerate()
    {
        let plan = plans[index];
        if plan.start_panics {
            // Dead already: control messages come back, the address may go.
            wait_until(
                HANG,
                &format!("actor {index} ({plan:?}) dying"),
                || !address.is_alive(),
                String::new,
            );
            assert_eq!(
                address.stop().unwrap_err().reason(),
                Undelivered::ActorStopped
            );
            continue;
        }
        match plan.ending {
            Ending::Stop => address.stop().unwrap(),
            Ending::Kill => address.kill().unwrap(),
            Ending::HandlerPanic => address
                .send(HookMsg::Panic(Token::new(&tokens, 0)))
                .unwrap_or_else(|_| panic!("actor {index} is alive")),
            Ending::Dropped => {
                drop(address);
                continue;
            }
            Ending::SchedulerStopped => unreachable!(),
        }
        kept.push(address);
    }
    wait_until(
        HANG,
        "every hooked actor stopping",
        || {
            reasons
                .lock()
                .unwrap()
                .iter()
                .take(plans.len())
                .all(|r| !r.is_empty())
        },
        || {
            let reasons = reasons.lock().unwrap();
            let missing: Vec<_> = (0..plans.len())
                .filter(|&i| reasons[i].is_empty())
                .map(|i| (i, plans[i]))
                .take(5)
                .collect();
            format!("still running: {missing:?}")
        },
    );

    // The workers live on: a fresh, well-behaved actor is served.
    let fresh = system
        .spawn(Hooked {
            index: plans.len(),
            plan: Plan {
                start_panics: false,
                stop_panics: false,
                ending: Ending::Stop,
            },
            reasons: reasons.clone(),
        })
        .unwrap();
    let token = Token::new(&tokens, 0);
    let mut future = fresh.ask(|reply| HookMsg::Ask(token, reply)).unwrap();
    assert_eq!(
        future.wait_timeout(REPLY_HANG),
        Ok(plans.len() as u64),
        "served after the panics"
    );
    drop(future);
    fresh.stop().unwrap();
    wait_until(
        HANG,
        "the fresh actor stopping",
        || !reasons.lock().unwrap()[plans.len()].is_empty(),
        String::new,
    );

    for (index, work_id, ask_id, answer) in asked {
        let plan = plans[index];
        let what = format!("actor {index} ({plan:?})");
        assert_eq!(
            reasons.lock().unwrap()[index],
            [plan.reason(index)],
            "{what}: on_stop once"
        );
        if plan.start_panics {
            assert_eq!(tokens.fate(work_id), Fate::Unhandled, "{what}");
            match answer {
                // Asked while the actor was still alive: dropped unhandled.
                Some(answer) => {
                    assert_eq!(answer, Err(RequestError::NoReply), "{what}");
                    assert_eq!(tokens.fate(ask_id), Fate::Unhandled, "{what}");
                }
                // Asked after it died: the request came back.
                None => assert_eq!(tokens.fate(ask_id), Fate::Returned, "{what}"),
            }
        } else {
            assert_eq!(answer, Some(Ok(index as u64)), "{what}");
            assert_eq!(tokens.fate(work_id), Fate::Handled, "{what}");
            assert_eq!(tokens.fate(ask_id), Fate::Handled, "{what}");
        }
    }
    let expected: u64 = plans.iter().map(|plan| plan.worker_panics()).sum();
    // A worker counts a panic once the unwind has reached it, after `on_stop` recorded
    // its reason (and after the rest of the actor was dropped): wait for the count,
    // then check it is exact.
    let panics = || -> u64 { scheduler.stats().iter().map(|w| w.panics).sum() };
    wait_until(
        HANG,
        "the workers counting every panic",
        || panics() >= expected,
        || format!("{} of {expected}", panics()),
    );
    assert_eq!(panics(), expected, "panics caught by the workers");

    drop(kept);
    drop(fresh);
    system.stop().unwrap();
    drop(system);
    drop(scheduler);
    tokens.assert_balanced("hooks on a sharing scheduler");
    let stats = memory.stats();
    assert_eq!(stats.live_blocks, 0, "blocks left allocated");
    assert_eq!(stats.live_bytes, 0, "bytes left allocated");
}

/// `on_stop` at a scheduler stop (`SchedulerStopped`), panicking or not, on a
/// `ManualScheduler`: each actor runs once, then has a message and a request queued
/// when the scheduler stops.
fn hooks_at_scheduler_stop(each: usize) {
    let plans = plans(&[Ending::SchedulerStopped], each);
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let system = System::new(
        Arc::new(zeta::ManualScheduler::new(4).unwrap()),
        memory.clone(),
    );
    let tokens = Ledger::new(plans.len() * 4 + 64);
    let reasons = Arc::new(Mutex::new(vec![Vec::new(); plans.len()]));
    let addresses: Vec<_> = plans
        .iter()
        .enumerate()
        .map(|(index, &plan)| {
            system
                .spawn(Hooked {
                    index,
                    plan,
                    reasons: reasons.clone(),
                })
                .unwrap()
        })
        .collect();
    let first: Vec<u32> = addresses
        .iter()
        .map(|address| {
            let token = Token::new(&tokens, 0);
            let id = token.id;
            address.send(HookMsg::Work(token)).unwrap();
            id
        })
        .collect();
    system.scheduler().run_until_idle().unwrap();
    let queued: Vec<(u32, u32, Future<u64>)> = addresses
        .iter()
        .enumerate()
        .filter(|&(index, _)| !plans[index].start_panics)
        .map(|(_, address)| {
            let work = Token::new(&tokens, 0);
            let work_id = work.id;
            address.send(HookMsg::Work(work)).unwrap();
            let token = Token::new(&tokens, 0);
            let ask_id = token.id;
            let future = address.ask(|reply| HookMsg::Ask(token, reply)).unwrap();
            (work_id, ask_id, future)
        })
        .collect();
    system.stop().unwrap();

    for (index, plan) in plans.iter().enumerate() {
        let what = format!("actor {index} ({plan:?})");
        assert_eq!(
            reasons.lock().unwrap()[index],
            [plan.reason(index)],
            "{what}: on_stop once"
        );
        let expected = if plan.start_panics {
            Fate::Unhandled
        } else {
            Fate::Handled
        };
        assert_eq!(tokens.fate(first[index]), expected, "{what}");
        assert!(!addresses[index].is_alive(), "{what}");
    }
    for (work_id, ask_id, mut future) in queued {
        assert_eq!(future.try_take(), Some(Err(RequestError::NoReply)));
        assert_eq!(tokens.fate(work_id), Fate::Unhandled);
        assert_eq!(tokens.fate(ask_id), Fate::Unhandled);
    }
    drop(addresses);
    drop(system);
    tokens.assert_balanced("hooks at scheduler stop");
    let stats = memory.stats();
    assert_eq!(stats.live_blocks, 0, "blocks left allocated");
    assert_eq!(stats.live_bytes, 0, "bytes left allocated");
}
