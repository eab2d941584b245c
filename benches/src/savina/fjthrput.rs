//! Savina's `fjthrput` (fork-join throughput): many actors, each sent many messages
//! from outside, each message a little work.
//!
//! **Savina.** 60 actors; the benchmark's main thread sends 10 000 messages to each, in
//! rounds (one message to every actor, then the next round). On each message an actor
//! performs a small computation (`sin(θ)²`, checked so that it cannot be removed).
//! It measures message throughput into many mailboxes from one outside sender, with the
//! actors spread over the worker threads.
//!
//! **Ours.** The same 60 actors on a `SharingScheduler`, in a counted pool, and the
//! same order of sends from the main thread, which is not a worker: each send
//! allocates a pool node from the main thread's shard, pushes it, and, when the actor
//! was idle, schedules it through the injector and wakes a parked worker if there is
//! one. Each message carries a value `v`; the actor computes [`compute`]`(v)`
//! (Savina's `sin(θ)²`, with `θ` from `v`) and adds its bits to a checksum. Messages go
//! at high or normal priority, chosen by a `fastrand::Rng` with a fixed seed (about
//! half each), and say which they are, so that the actor counts both. After the last
//! round the main thread asks every actor for its tally (a normal-priority request:
//! per-sender FIFO puts it after every normal message, and high ones are handled
//! first), which also resets it. One op is one work message.
//!
//! On a `ManualScheduler` (`--manual`) there is no worker beside the sender: as on the
//! floor, the main thread and the actors take turns, the scheduler run until idle
//! after every `max_throughput` rounds of sends ([`Rig::tick`], which does nothing on a
//! `SharingScheduler`). Sending the whole run first would queue 1.2 million nodes
//! (77 MB at scale 2) before any actor runs, and measure cache and TLB misses on the
//! walk of that backlog instead of the engine.
//!
//! - Warm-up (not measured): one full run, which grows the pool to the run's peak.
//! - Measured: the 600 000 × scale sends, the 60 tally requests and their answers, up
//!   to the main thread having the last answer. Messages: the work messages, the
//!   requests and the replies.
//!
//! **Checked.** Every actor handled exactly 10 000 × scale messages, and as many high
//! and normal ones as were sent to it; its checksum equals the one the main thread
//! computes afterwards from the same values (so every computation ran, on the right
//! value). At the end the actors stop gracefully, nothing panicked or was left queued,
//! and every block went back to the pool.
//!
//! **Local** (`--local`). The same actors, the same run and the same checks, built a
//! second time as local actors (`zeta::local`; the `savina` module doc says how) on a
//! `LocalSystem` that the main thread drives, in the same pool: the main thread's
//! requests are `LocalAddress::ask`s, and it runs the system until it is idle whenever
//! it waits for an answer, as it runs the `ManualScheduler` with `--manual`; between
//! batches of sends it runs the system too ([`LocalRig::tick`](super::LocalRig::tick)),
//! so that the main thread and the actors take turns, as on the floor.
//!
//! **Floor.** The same 60 actors on the floor (`zeta_bench::floor`, one thread, no
//! atomics), the same values, priorities (`send_high` for the high ones) and work; each
//! actor's `Report` writes its tally into a shared table (the floor has no requests).
//! With one thread there is no sender running beside the actors: the main thread and
//! the actors take turns, `max_throughput` rounds of sends, then the floor until idle,
//! so that each actor's turn handles a full `max_throughput` of messages (high ones
//! first) and the queued messages stay within the caches (queueing the whole run
//! first, 600 000 messages, would measure memory traffic instead). The figure is the
//! cost of a send plus the cost of handling the message, on one core. Same sizes and
//! checks; `messages` counts the work messages and the tally requests.
//!
//! **Allocations.** None but the pool's growth, which the `chunks` column counts apart:
//! the main thread's pool shard takes more 64 KiB chunks when the actors fall further
//! behind its sends than in the warm-up.

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;

use fastrand::Rng;
use zeta::Priority;
use zeta_bench::floor::{ActorId, Floor};

use super::{
    returned, Case, Config, FloorMeter, Measured, Outcome, SendWithPriority, Stoppable,
    MAX_THROUGHPUT,
};

/// The case.
pub const CASE: Case = Case {
    name: "fjthrput",
    unit: "message",
    about: "60 actors x 10 000 messages each from outside, high/normal priority, sin^2 work",
    run: threaded::run,
    local: local::run,
    floor,
};

/// Savina's default number of actors.
const ACTORS: u64 = 60;
/// Savina's default number of messages per actor.
const MESSAGES_PER_ACTOR: u64 = 10_000;
/// The seed of the priority choices.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// Savina's per-message work (`ForkJoinConfig.performComputation`): `sin(θ)²`, here
/// with `θ = 37.2 + (value mod 1024)`, the input hidden from the optimiser. Returns the
/// result's bits, for a checksum that must match exactly.
#[inline]
pub fn compute(value: u64) -> u64 {
    let theta = black_box(37.2 + (value % 1024) as f64);
    let sin = theta.sin();
    (sin * sin).to_bits()
}

/// The priority of each message, reproducibly: high when the next draw is `true`.
fn priorities() -> Rng {
    Rng::with_seed(SEED)
}

/// What an actor handled since its last report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    high: u64,
    normal: u64,
    /// Wrapping sum of [`compute`] over the values handled.
    checksum: u64,
}

impl Tally {
    #[inline]
    fn add(&mut self, value: u64, high: bool) {
        self.checksum = self.checksum.wrapping_add(compute(value));
        if high {
            self.high += 1;
        } else {
            self.normal += 1;
        }
    }
}

/// The value of the message of round `round` to actor `actor`.
#[inline]
fn value(round: u64, actor: usize) -> u64 {
    round * ACTORS + actor as u64
}

/// What every actor must have handled in a run of `rounds`.
fn expected(actors: usize, rounds: u64) -> Vec<Tally> {
    let mut tallies = vec![Tally::default(); actors];
    let mut priorities = priorities();
    for round in 0..rounds {
        for (index, tally) in tallies.iter_mut().enumerate() {
            tally.add(value(round, index), priorities.bool());
        }
    }
    tallies
}

/// Compares a run's tallies with what was sent.
fn check(got: &[Tally], want: &[Tally], run: &str) -> Result<(), String> {
    for (index, (got, want)) in got.iter().zip(want).enumerate() {
        if got != want {
            return Err(format!(
                "{run}: actor {index} handled {} high + {} normal (checksum {:#x}), \
                 sent {} high + {} normal (checksum {:#x})",
                got.high, got.normal, got.checksum, want.high, want.normal, want.checksum
            ));
        }
    }
    Ok(())
}

/// The actors and the run, written once and built twice (the `savina` module doc):
/// in [`threaded`] on zeta's thread-safe actors, in [`local`] on local actors.
macro_rules! zeta_side {
    () => {
        /// One of the 60 actors.
        struct Worker {
            tally: Tally,
        }

        enum Msg {
            /// Work on `value`; `high` says at which priority it was sent.
            Work { value: u64, high: bool },
            /// Answer with the tally and start a new one.
            Report(Reply<Tally>),
        }

        impl Actor for Worker {
            type Message = Msg;

            #[inline]
            fn handle(&mut self, message: Msg, _ctx: &mut Context<'_, Self>) {
                match message {
                    Msg::Work { value, high } => self.tally.add(value, high),
                    Msg::Report(reply) => {
                        // Err only if the asker has given up, which it then knows.
                        let _ = reply.send(core::mem::take(&mut self.tally));
                    }
                }
            }
        }

        /// One run: every round's sends, then every actor's tally, into `tallies` (reserved
        /// by the caller, so that the measured region does not allocate it).
        fn play(
            rig: &Rig,
            actors: &[Address<Worker>],
            rounds: u64,
            tallies: &mut Vec<Tally>,
        ) -> Result<(), String> {
            let mut priorities = priorities();
            for round in 0..rounds {
                for (index, actor) in actors.iter().enumerate() {
                    let high = priorities.bool();
                    let priority = if high {
                        Priority::High
                    } else {
                        Priority::Normal
                    };
                    let value = value(round, index);
                    actor
                        .send_with_priority(priority, Msg::Work { value, high })
                        .map_err(|e| format!("a send to actor {index}: {e}"))?;
                }
                if (round + 1) % MAX_THROUGHPUT as u64 == 0 {
                    rig.tick()?;
                }
            }
            tallies.clear();
            for (index, actor) in actors.iter().enumerate() {
                let future = actor
                    .ask(Msg::Report)
                    .map_err(|e| format!("asking actor {index} for its tally: {e}"))?;
                tallies.push(rig.wait(future, "a tally")?);
            }
            Ok(())
        }

        pub(super) fn run(config: &Config) -> Result<Outcome, String> {
            let rounds = config.scaled(MESSAGES_PER_ACTOR, 10);
            let rig = Rig::new(config)?;
            let actors = (0..ACTORS)
                .map(|_| {
                    rig.spawn(Worker {
                        tally: Tally::default(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let want = expected(actors.len(), rounds);

            let mut got = Vec::with_capacity(actors.len());

            // Warm-up: a full run, so that the pool has grown to the run's peak.
            play(&rig, &actors, rounds, &mut got)?;
            check(&got, &want, "warm-up")?;

            let meter = rig.meter();
            play(&rig, &actors, rounds, &mut got)?;
            let Measured {
                wall,
                allocations,
                chunks,
            } = meter.stop();
            check(&got, &want, "measured run")?;

            let stoppable: Vec<&dyn Stoppable> =
                actors.iter().map(|a| a as &dyn Stoppable).collect();
            rig.stop_actors(&stoppable)?;
            drop(stoppable);
            drop(actors);
            let memory = rig.finish()?;

            let ops = ACTORS * rounds;
            let high: u64 = got.iter().map(|t| t.high).sum();
            Ok(Outcome {
                ops,
                // The work messages, the tally requests and their replies.
                messages: ops + 2 * ACTORS,
                wall,
                allocations,
                chunks,
                latency: Vec::new(),
                check: format!(
                    "each of {ACTORS} actors handled {rounds} messages, high/normal counts and \
                     sin^2 checksums as sent ({high} high, {} normal in all); actors stopped, \
                     {}",
                    ops - high,
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
    Work {
        value: u64,
        high: bool,
    },
    /// Write the tally into the shared table and start a new one.
    Report,
}

/// One floor run: every round's sends, the floor run until idle after every
/// `MAX_THROUGHPUT` rounds, then the tally requests and the floor until idle again.
fn floor_play(floor: &mut Floor<FloorMsg>, actors: &[ActorId], rounds: u64) -> Result<(), String> {
    let mut priorities = priorities();
    for round in 0..rounds {
        for (index, &actor) in actors.iter().enumerate() {
            let high = priorities.bool();
            let message = FloorMsg::Work {
                value: value(round, index),
                high,
            };
            let sent = if high {
                floor.send_high(actor, message)
            } else {
                floor.send(actor, message)
            };
            sent.map_err(|_| format!("a send to actor {index} failed"))?;
        }
        if (round + 1) % MAX_THROUGHPUT as u64 == 0 {
            floor.run_until_idle();
        }
    }
    for (index, &actor) in actors.iter().enumerate() {
        floor
            .send(actor, FloorMsg::Report)
            .map_err(|_| format!("asking actor {index} for its tally"))?;
    }
    floor.run_until_idle();
    Ok(())
}

fn floor(config: &Config) -> Result<Outcome, String> {
    let rounds = config.scaled(MESSAGES_PER_ACTOR, 10);
    let mut floor: Floor<FloorMsg> = Floor::new(MAX_THROUGHPUT);
    let tallies: Rc<RefCell<Vec<Option<Tally>>>> =
        Rc::new(RefCell::new(vec![None; ACTORS as usize]));
    let actors: Vec<ActorId> = (0..ACTORS as usize)
        .map(|index| {
            let tallies = tallies.clone();
            let mut tally = Tally::default();
            floor.spawn(move |message, _ctx| match message {
                FloorMsg::Work { value, high } => tally.add(value, high),
                FloorMsg::Report => tallies.borrow_mut()[index] = Some(core::mem::take(&mut tally)),
            })
        })
        .collect();
    let want = expected(actors.len(), rounds);
    let take = |run: &str| -> Result<Vec<Tally>, String> {
        let got: Option<Vec<Tally>> = tallies.borrow_mut().iter_mut().map(Option::take).collect();
        let got = got.ok_or_else(|| format!("{run}: an actor did not report"))?;
        check(&got, &want, run)?;
        Ok(got)
    };

    floor_play(&mut floor, &actors, rounds)?;
    take("warm-up")?;
    let meter = FloorMeter::start();
    floor_play(&mut floor, &actors, rounds)?;
    let Measured {
        wall, allocations, ..
    } = meter.stop();
    let got = take("measured run")?;

    let ops = ACTORS * rounds;
    let high: u64 = got.iter().map(|t| t.high).sum();
    Ok(Outcome {
        ops,
        messages: ops + ACTORS,
        wall,
        allocations,
        chunks: 0,
        latency: Vec::new(),
        check: format!(
            "each of {ACTORS} actors handled {rounds} messages, high/normal counts and \
             sin^2 checksums as sent ({high} high, {} normal in all)",
            ops - high
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_are_mixed_and_reproducible() {
        let draw = || {
            let mut priorities = priorities();
            (0..10_000).map(|_| priorities.bool()).collect::<Vec<_>>()
        };
        let first = draw();
        assert_eq!(first, draw());
        let high = first.iter().filter(|&&high| high).count();
        assert!((4_500..5_500).contains(&high), "{high} high of 10 000");
    }

    #[test]
    fn a_small_run_runs_and_checks() {
        let config = Config {
            scale: 0.01,
            workers: 2,
        };
        for side in [threaded::run, local::run] {
            let outcome = side(&config).expect("the case succeeds");
            assert_eq!(outcome.ops, 60 * 100);
            assert_eq!(outcome.messages, 60 * 100 + 2 * 60);
        }
        let floor = floor(&config).expect("the floor succeeds");
        assert_eq!((floor.ops, floor.messages), (60 * 100, 60 * 100 + 60));
    }

    #[test]
    fn a_small_run_takes_turns_on_the_manual_scheduler() {
        let config = Config {
            scale: 0.01,
            workers: 0,
        };
        let outcome = threaded::run(&config).expect("the case succeeds");
        assert_eq!(outcome.ops, 60 * 100);
        assert_eq!(outcome.messages, 60 * 100 + 2 * 60);
    }
}
