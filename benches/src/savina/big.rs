//! Savina's `big`: many actors ping random others, each waiting for its pong.
//!
//! **Savina.** `BigConfig`: 120 actors, 20 000 pings each, and a sink. Each actor knows
//! every actor; it sends a `PingMessage` to one chosen by its own seeded `Random` and
//! waits: the receiver answers with a `PongMessage`, and on the pong (checked to come
//! from the actor pinged) the actor sends its next ping, until it has sent all of them;
//! then it tells the sink (`ExitMessage`). When all 120 have, the sink tells everyone to
//! exit. Many actors, each with at most one ping of its own in flight but pinged by any
//! other at any time: it measures many-to-many traffic with no hot spot.
//!
//! **Ours.** The same 120 actors and sink on a `SharingScheduler`, in a counted pool.
//! Each actor draws its targets from a `fastrand::Rng` seeded from the round's seed and
//! its index, among the *other* actors (Savina may pick the pinger itself). The
//! main thread starts a round by `ask`ing the sink (`Start`), then sends every actor a
//! `Kick` with the round's number of pings and seed (Savina's initial `PongMessage(-1)`);
//! an actor that has had all its pongs sends the sink `Done` with its counts, and the
//! sink answers the main thread with the totals once all 120 have. The actors do not
//! exit: the next `Kick` starts another round; the main thread stops them at the end.
//!
//! - Warm-up (not measured): a round of a tenth of the pings.
//! - The measured region: one round of 20 000 × scale pings per actor, from the `ask`
//!   to the answer. Messages: every ping, every pong and every `Done`, plus the 120
//!   `Kick`s, the `ask` and its reply.
//!
//! **One op** is one ping (and so one pong): 120 × 20 000 at scale 1.
//!
//! **Checked.** Every actor sent exactly its pings and had exactly as many pongs, each
//! from the actor it had pinged; all 120 reported to the sink; the pings each actor
//! answered in the round are exactly what replaying every actor's generator predicts
//! (the targets depend only on the seeds, not on the scheduling); no send failed; at
//! the end every actor stops gracefully, nothing panicked or was left queued, and every
//! block went back to the pool.
//!
//! **Local** (`--local`). The same actors, the same run and the same checks, built a
//! second time as local actors (`zeta::local`; the `savina` module doc says how) on a
//! `LocalSystem` that the main thread drives, in the same pool: the main thread's
//! requests are `LocalAddress::ask`s, and it runs the system until it is idle whenever
//! it waits for an answer, as it runs the `ManualScheduler` with `--manual`.
//!
//! **Floor.** The same 120 actors and sink on the floor (`zeta_bench::floor`, one
//! thread, no atomics), with the same generators and protocol (one enum for both kinds
//! of actor; the peers' ids shared through an `Rc`); the main thread sends the sink
//! `Start` and every actor `Kick`, then runs the floor until idle; the sink writes the
//! totals into a shared cell and each actor its pings answered into a shared table on
//! `Answered` (the floor has no requests). Same sizes and checks; `messages` counts
//! the pings, pongs, `Done`s, `Kick`s and the `Start`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use fastrand::Rng;
use zeta_bench::floor::{ActorId, Ctx, Floor};

use super::{returned, Case, Config, FloorMeter, Measured, Outcome, Stoppable, MAX_THROUGHPUT};

/// The case.
pub const CASE: Case = Case {
    name: "big",
    unit: "ping",
    about: "120 actors each ping random others 20 000 times, each ping answered by a pong",
    run: threaded::run,
    local: local::run,
    floor,
};

/// Actors (Savina's default; not scaled).
const ACTORS: usize = 120;
/// Pings per actor at scale 1 (Savina's default).
const PINGS: u64 = 20_000;
/// Seeds of the warm-up round and of the measured one.
const WARM_SEED: u64 = 0x5EED_0001;
const SEED: u64 = 0x5EED_0002;

/// The generator of actor `index` in a round seeded with `seed`.
fn seeded(seed: u64, index: usize) -> Rng {
    Rng::with_seed(seed ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// The next target of actor `me`: uniform among the other `ACTORS - 1` actors.
#[inline]
fn next_target(rng: &mut Rng, me: usize) -> usize {
    let other = rng.usize(..ACTORS - 1);
    if other >= me {
        other + 1
    } else {
        other
    }
}

/// The pings each actor receives in a round of `pings` per actor seeded with `seed`.
fn replay(seed: u64, pings: u64) -> Vec<u64> {
    let mut received = vec![0; ACTORS];
    for me in 0..ACTORS {
        let mut rng = seeded(seed, me);
        for _ in 0..pings {
            received[next_target(&mut rng, me)] += 1;
        }
    }
    received
}

/// Checks a round's totals, and the pings each actor answered in it (`before` and
/// `after` the round) against the replay of the generators.
fn check(
    totals: &Counts,
    before: &[u64],
    after: &[u64],
    pings: u64,
    seed: u64,
    what: &str,
) -> Result<(), String> {
    let all = ACTORS as u64 * pings;
    let fail = |what_is: String| Err(format!("{what}: {what_is}"));
    if totals.actors != ACTORS {
        return fail(format!("{} of {ACTORS} actors reported", totals.actors));
    }
    if totals.failed != 0 {
        return fail(format!("{} sends failed", totals.failed));
    }
    if totals.pings != all || totals.pongs != all {
        return fail(format!(
            "{} pings sent and {} pongs received, expected {all} each",
            totals.pings, totals.pongs
        ));
    }
    if totals.wrong != 0 {
        return fail(format!(
            "{} pongs came from another actor than the one pinged",
            totals.wrong
        ));
    }
    for (index, expected) in replay(seed, pings).into_iter().enumerate() {
        let got = after[index] - before[index];
        if got != expected {
            return fail(format!(
                "actor {index} answered {got} pings, its peers' generators sent it {expected}"
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The actors.

/// What an actor reports to the sink at the end of its round.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    /// Pings sent.
    pings: u64,
    /// Pongs received.
    pongs: u64,
    /// Pongs from another actor than the one pinged.
    wrong: u64,
    /// Sends that failed.
    failed: u64,
    /// Actors that reported (the sink's totals).
    actors: usize,
}

/// The actors and the run, written once and built twice (the `savina` module doc):
/// in [`threaded`] on zeta's thread-safe actors, in [`local`] on local actors.
macro_rules! zeta_side {
    () => {
        struct Pinger {
            index: usize,
            /// Every actor, by index (itself included); set by `Peers` before any round.
            peers: Arc<[Address<Pinger>]>,
            sink: Address<Sink>,
            /// The generator.
            rng: Rng,
            /// Pings left to send in this round.
            left: u64,
            /// The actor whose pong is awaited (Savina's `expPinger`).
            awaited: usize,
            /// This round's counts.
            counts: Counts,
            /// Pings answered, over every round.
            answered: u64,
        }

        enum PingerMsg {
            /// Every actor, by index.
            Peers(Arc<[Address<Pinger>]>),
            /// Starts a round of `pings` pings with targets drawn from `seed`.
            Kick {
                pings: u64,
                seed: u64,
            },
            Ping {
                from: usize,
            },
            Pong {
                from: usize,
            },
            /// Answers the pings answered so far and the sends that failed doing so.
            Answered(Reply<(u64, u64)>),
        }

        impl Pinger {
            /// Sends the next ping, or reports to the sink when the round is over.
            #[inline]
            fn next(&mut self) {
                if self.left == 0 {
                    let done = SinkMsg::Done(self.counts);
                    // A lost report leaves the sink short of one: the main thread's wait then
                    // ends at the time limit with an `Err`.
                    let _ = self.sink.send(done);
                    return;
                }
                self.left -= 1;
                let target = next_target(&mut self.rng, self.index);
                self.awaited = target;
                self.counts.pings += 1;
                let delivered = match self.peers.get(target) {
                    Some(peer) => peer.send(PingerMsg::Ping { from: self.index }).is_ok(),
                    None => false,
                };
                if !delivered {
                    self.counts.failed += 1;
                }
            }
        }

        impl Actor for Pinger {
            type Message = PingerMsg;

            #[inline]
            fn handle(&mut self, message: PingerMsg, _ctx: &mut Context<'_, Self>) {
                match message {
                    PingerMsg::Ping { from } => {
                        self.answered += 1;
                        let delivered = match self.peers.get(from) {
                            Some(peer) => peer.send(PingerMsg::Pong { from: self.index }).is_ok(),
                            None => false,
                        };
                        if !delivered {
                            self.counts.failed += 1;
                        }
                    }
                    PingerMsg::Pong { from } => {
                        self.counts.pongs += 1;
                        if from != self.awaited {
                            self.counts.wrong += 1;
                        }
                        self.next();
                    }
                    PingerMsg::Kick { pings, seed } => {
                        self.rng = seeded(seed, self.index);
                        self.left = pings;
                        self.counts = Counts::default();
                        self.next();
                    }
                    PingerMsg::Peers(peers) => self.peers = peers,
                    PingerMsg::Answered(reply) => {
                        let _ = reply.send((self.answered, self.counts.failed));
                    }
                }
            }
        }

        /// Adds up the actors' reports and answers the main thread when all are in.
        struct Sink {
            /// Actors in the round.
            actors: usize,
            totals: Counts,
            done: Option<Reply<Counts>>,
        }

        enum SinkMsg {
            /// Starts a round of `actors` actors; answered with the totals.
            Start { actors: usize, done: Reply<Counts> },
            /// An actor's report.
            Done(Counts),
        }

        impl Actor for Sink {
            type Message = SinkMsg;

            fn handle(&mut self, message: SinkMsg, _ctx: &mut Context<'_, Self>) {
                match message {
                    SinkMsg::Done(counts) => {
                        let totals = &mut self.totals;
                        totals.pings += counts.pings;
                        totals.pongs += counts.pongs;
                        totals.wrong += counts.wrong;
                        totals.failed += counts.failed;
                        totals.actors += 1;
                        if totals.actors == self.actors {
                            if let Some(done) = self.done.take() {
                                let _ = done.send(*totals);
                            }
                        }
                    }
                    SinkMsg::Start { actors, done } => {
                        self.actors = actors;
                        self.totals = Counts::default();
                        self.done = Some(done);
                    }
                }
            }
        }

        // -------------------------------------------------------------------------------
        // The case.

        /// Plays one round: `pings` per actor, targets from `seed`; returns the sink's totals.
        fn play(
            rig: &Rig,
            sink: &Address<Sink>,
            pingers: &[Address<Pinger>],
            pings: u64,
            seed: u64,
        ) -> Result<Counts, String> {
            let future = sink
                .ask(|done| SinkMsg::Start {
                    actors: pingers.len(),
                    done,
                })
                .map_err(|e| format!("starting a round: {e}"))?;
            for pinger in pingers {
                pinger
                    .send(PingerMsg::Kick { pings, seed })
                    .map_err(|e| format!("kicking an actor: {e}"))?;
            }
            rig.wait(future, "a round of pings")
        }

        /// Asks every actor for the pings it answered so far.
        fn answered(rig: &Rig, pingers: &[Address<Pinger>]) -> Result<Vec<u64>, String> {
            let mut answered = Vec::with_capacity(pingers.len());
            for (index, pinger) in pingers.iter().enumerate() {
                let future = pinger
                    .ask(PingerMsg::Answered)
                    .map_err(|e| format!("asking actor {index} for its count: {e}"))?;
                let (count, failed) = rig.wait(future, "an actor's count")?;
                if failed != 0 {
                    return Err(format!("actor {index}: {failed} sends failed"));
                }
                answered.push(count);
            }
            Ok(answered)
        }

        pub(super) fn run(config: &Config) -> Result<Outcome, String> {
            let pings = config.scaled(PINGS, 10);
            let warm = (pings / 10).max(10);
            let rig = Rig::new(config)?;

            let sink = rig.spawn(Sink {
                actors: 0,
                totals: Counts::default(),
                done: None,
            })?;
            let mut pingers = Vec::with_capacity(ACTORS);
            for index in 0..ACTORS {
                pingers.push(rig.spawn(Pinger {
                    index,
                    peers: Arc::new([]),
                    sink: sink.clone(),
                    rng: Rng::with_seed(0),
                    left: 0,
                    awaited: usize::MAX,
                    counts: Counts::default(),
                    answered: 0,
                })?);
            }
            let peers: Arc<[Address<Pinger>]> = pingers.clone().into();
            for pinger in &pingers {
                pinger
                    .send(PingerMsg::Peers(peers.clone()))
                    .map_err(|e| format!("introducing the actors: {e}"))?;
            }
            drop(peers);

            // Warm-up: the pool's blocks, the workers' queues, every thread's first park.
            let before = answered(&rig, &pingers)?;
            let totals = play(&rig, &sink, &pingers, warm, WARM_SEED)?;
            let after = answered(&rig, &pingers)?;
            check(&totals, &before, &after, warm, WARM_SEED, "warm-up")?;

            let before = after;
            let meter = rig.meter();
            let totals = play(&rig, &sink, &pingers, pings, SEED)?;
            let Measured {
                wall,
                allocations,
                chunks,
            } = meter.stop();
            let after = answered(&rig, &pingers)?;
            check(&totals, &before, &after, pings, SEED, "the round")?;
            let (fewest, most) = before
                .iter()
                .zip(&after)
                .map(|(b, a)| a - b)
                .fold((u64::MAX, 0), |(lo, hi), n| (lo.min(n), hi.max(n)));

            let mut stoppables: Vec<&dyn Stoppable> = vec![&sink];
            stoppables.extend(pingers.iter().map(|p| p as &dyn Stoppable));
            rig.stop_actors(&stoppables)?;
            drop(stoppables);
            drop((sink, pingers));
            let memory = rig.finish()?;

            let all = ACTORS as u64 * pings;
            Ok(Outcome {
                ops: all,
                // Pings, pongs, `Done`s; the `Kick`s, the `ask` and its reply.
                messages: 2 * all + 2 * ACTORS as u64 + 2,
                wall,
                allocations,
                chunks,
                latency: Vec::new(),
                check: format!(
                    "{all} pings and pongs, each pong from the actor pinged; pings answered per \
                     actor as replayed ({fewest} to {most}); 121 actors stopped, {}",
                    returned(&memory)
                ),
            })
        }
    };
}

/// On zeta's thread-safe actors: a `SharingScheduler`, or with `--manual` a
/// `ManualScheduler`.
mod threaded {
    use super::*;
    use crate::savina::Rig;
    use zeta::{Actor, Address, Context, Reply};

    zeta_side!();
}

/// On local actors (`--local`): a `LocalSystem` driven by the case's thread.
mod local {
    use super::*;
    use crate::savina::LocalRig as Rig;
    use zeta::local::{
        LocalActor as Actor, LocalAddress as Address, LocalContext as Context, LocalReply as Reply,
    };

    zeta_side!();
}

// ---------------------------------------------------------------------------------------
// The floor.

enum FloorMsg {
    // To an actor.
    Peers(Rc<[ActorId]>),
    Kick {
        pings: u64,
        seed: u64,
    },
    Ping {
        from: usize,
    },
    Pong {
        from: usize,
    },
    /// Write the pings answered so far (and the failed sends) into the shared table.
    Answered,
    // To the sink.
    Start {
        actors: usize,
    },
    Done(Counts),
}

/// The floor's actor: [`Pinger`]'s state and protocol.
struct FloorPinger {
    index: usize,
    peers: Rc<[ActorId]>,
    sink: ActorId,
    rng: Rng,
    left: u64,
    awaited: usize,
    counts: Counts,
    answered: u64,
    table: Rc<RefCell<Vec<(u64, u64)>>>,
}

impl FloorPinger {
    #[inline]
    fn next(&mut self, ctx: &mut Ctx<'_, FloorMsg>) {
        if self.left == 0 {
            // A lost report leaves the sink short: no answer, which the check sees.
            let _ = ctx.send(self.sink, FloorMsg::Done(self.counts));
            return;
        }
        self.left -= 1;
        let target = next_target(&mut self.rng, self.index);
        self.awaited = target;
        self.counts.pings += 1;
        let delivered = match self.peers.get(target) {
            Some(&peer) => ctx.send(peer, FloorMsg::Ping { from: self.index }).is_ok(),
            None => false,
        };
        if !delivered {
            self.counts.failed += 1;
        }
    }

    #[inline]
    fn handle(&mut self, message: FloorMsg, ctx: &mut Ctx<'_, FloorMsg>) {
        match message {
            FloorMsg::Ping { from } => {
                self.answered += 1;
                let delivered = match self.peers.get(from) {
                    Some(&peer) => ctx.send(peer, FloorMsg::Pong { from: self.index }).is_ok(),
                    None => false,
                };
                if !delivered {
                    self.counts.failed += 1;
                }
            }
            FloorMsg::Pong { from } => {
                self.counts.pongs += 1;
                if from != self.awaited {
                    self.counts.wrong += 1;
                }
                self.next(ctx);
            }
            FloorMsg::Kick { pings, seed } => {
                self.rng = seeded(seed, self.index);
                self.left = pings;
                self.counts = Counts::default();
                self.next(ctx);
            }
            FloorMsg::Peers(peers) => self.peers = peers,
            FloorMsg::Answered => {
                self.table.borrow_mut()[self.index] = (self.answered, self.counts.failed);
            }
            FloorMsg::Start { .. } | FloorMsg::Done(_) => {}
        }
    }
}

fn floor(config: &Config) -> Result<Outcome, String> {
    let pings = config.scaled(PINGS, 10);
    let warm = (pings / 10).max(10);
    let mut floor: Floor<FloorMsg> = Floor::new(MAX_THROUGHPUT);
    let answer: Rc<Cell<Option<Counts>>> = Rc::default();
    let sink = {
        let answer = answer.clone();
        let mut actors = 0;
        let mut totals = Counts::default();
        floor.spawn(move |message, _ctx| match message {
            FloorMsg::Done(counts) => {
                totals.pings += counts.pings;
                totals.pongs += counts.pongs;
                totals.wrong += counts.wrong;
                totals.failed += counts.failed;
                totals.actors += 1;
                if totals.actors == actors {
                    answer.set(Some(totals));
                }
            }
            FloorMsg::Start { actors: n } => {
                actors = n;
                totals = Counts::default();
            }
            _ => {}
        })
    };
    let table: Rc<RefCell<Vec<(u64, u64)>>> = Rc::new(RefCell::new(vec![(0, 0); ACTORS]));
    let pingers: Vec<ActorId> = (0..ACTORS)
        .map(|index| {
            let mut pinger = FloorPinger {
                index,
                peers: Rc::new([]),
                sink,
                rng: Rng::with_seed(0),
                left: 0,
                awaited: usize::MAX,
                counts: Counts::default(),
                answered: 0,
                table: table.clone(),
            };
            floor.spawn(move |message, ctx| pinger.handle(message, ctx))
        })
        .collect();
    let peers: Rc<[ActorId]> = pingers.clone().into();
    for &pinger in &pingers {
        floor
            .send(pinger, FloorMsg::Peers(peers.clone()))
            .map_err(|_| "introducing the actors")?;
    }
    drop(peers);
    let answered = |floor: &mut Floor<FloorMsg>| -> Result<Vec<u64>, String> {
        for &pinger in &pingers {
            floor
                .send(pinger, FloorMsg::Answered)
                .map_err(|_| "asking an actor for its count")?;
        }
        floor.run_until_idle();
        let table = table.borrow();
        if let Some(index) = table.iter().position(|&(_, failed)| failed != 0) {
            return Err(format!("actor {index}: {} sends failed", table[index].1));
        }
        Ok(table.iter().map(|&(count, _)| count).collect())
    };
    let play = |floor: &mut Floor<FloorMsg>, pings: u64, seed: u64| -> Result<Counts, String> {
        floor
            .send(sink, FloorMsg::Start { actors: ACTORS })
            .map_err(|_| "starting a round")?;
        for &pinger in &pingers {
            floor
                .send(pinger, FloorMsg::Kick { pings, seed })
                .map_err(|_| "kicking an actor")?;
        }
        floor.run_until_idle();
        answer
            .take()
            .ok_or_else(|| "the round ended without the sink's totals".to_owned())
    };

    let before = answered(&mut floor)?;
    let totals = play(&mut floor, warm, WARM_SEED)?;
    let after = answered(&mut floor)?;
    check(&totals, &before, &after, warm, WARM_SEED, "warm-up")?;

    let before = after;
    let meter = FloorMeter::start();
    let totals = play(&mut floor, pings, SEED)?;
    let Measured {
        wall, allocations, ..
    } = meter.stop();
    let after = answered(&mut floor)?;
    check(&totals, &before, &after, pings, SEED, "the round")?;

    let all = ACTORS as u64 * pings;
    Ok(Outcome {
        ops: all,
        // Pings, pongs, `Done`s, `Kick`s, the `Start`.
        messages: 2 * all + 2 * ACTORS as u64 + 1,
        wall,
        allocations,
        chunks: 0,
        latency: Vec::new(),
        check: format!(
            "{all} pings and pongs, each pong from the actor pinged; pings answered per \
             actor as replayed"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_other_actors_and_all_of_them() {
        let mut hit = [false; ACTORS];
        for me in [0, 1, ACTORS / 2, ACTORS - 1] {
            let mut rng = seeded(SEED, me);
            for _ in 0..10_000 {
                let target = next_target(&mut rng, me);
                assert!(target < ACTORS && target != me);
                hit[target] = true;
            }
        }
        assert!(hit.iter().all(|&h| h));
        assert_eq!(replay(SEED, 7).iter().sum::<u64>(), 7 * ACTORS as u64);
    }

    #[test]
    fn a_small_round_runs_and_checks() {
        let config = Config {
            scale: 0.005,
            workers: 2,
        };
        for side in [threaded::run, local::run] {
            let outcome = side(&config).expect("the case succeeds");
            assert_eq!(outcome.ops, 100 * ACTORS as u64);
        }
        let floor = floor(&config).expect("the floor succeeds");
        assert_eq!(floor.ops, 100 * ACTORS as u64);
    }
}
