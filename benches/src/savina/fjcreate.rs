//! Savina's `fjcreate` (fork-join creation): many short-lived actors, each created,
//! sent one message, and gone.
//!
//! **Savina.** The benchmark's main thread creates 40 000 actors one after the other
//! and sends each one message; each actor performs a small computation (`sin(θ)²`) on
//! it and exits. It measures the whole life of an actor: creation, first scheduling,
//! one message, termination and reclamation.
//!
//! **Ours.** The main thread spawns each actor with `zeta::spawn` into the case's
//! counted pool (the actor's cell is one pool block: no global allocation), on the
//! `SharingScheduler`, sends it one message (a second pool block; the actor is idle, so
//! the send schedules it through the injector and may wake a parked worker) and drops
//! its address. The actor computes [`compute`]`(v)` and calls `Context::stop`; its
//! `on_stop` sends a `Done` to a collector actor, with the result and whether it
//! stopped gracefully; then the actor is dropped and its cell goes back to the pool
//! (from a worker thread: a remote free to the main thread's pool shard).
//! The collector counts the `Done`s and answers the request the main thread made
//! before the first spawn once all have come in. One op is one actor.
//!
//! - Warm-up (not measured): one full run, which grows the pool to the run's peak.
//! - Measured: from the collector's request, through the 40 000 × scale spawns and
//!   sends, to the main thread having the collector's answer. Messages: per actor its
//!   work message and its `Done`, plus the request and its reply.
//!
//! **Checked.** Every actor handled its message (the checksum of the results equals
//! the one the main thread computes afterwards) and ran `on_stop` with
//! `StopReason::Stopped`; at the end the collector stops gracefully, nothing panicked
//! or was left queued, and every block (every cell, every message) went back to the
//! pool.
//!
//! **Local** (`--local`). The same actors, the same run and the same checks, built a
//! second time as local actors (`zeta::local`; the `savina` module doc says how) on a
//! `LocalSystem` that the main thread drives, in the same pool: the main thread's
//! requests are `LocalAddress::ask`s, and it runs the system until it is idle whenever
//! it waits for an answer, as it runs the `ManualScheduler` with `--manual`. As with
//! `--manual`, the children run when the main thread waits for the collector's answer,
//! after the last spawn: every child is queued by then (each cell and message a pool
//! block), which the warm-up grows the pool for.
//!
//! **Floor.** The same collector and children on the floor (`zeta_bench::floor`, one
//! thread, no atomics): the main thread sends the collector `Expect`, spawns each child
//! (a boxed behaviour in a free floor slot) and sends it its value, and runs the floor
//! until idle after every `max_throughput` children and at the end. A child computes,
//! sends `Done` and stops itself in the same handler (the floor has no `on_stop`), which
//! drops its behaviour and frees its slot; the collector writes its tally into a shared
//! cell when all are in. With one thread there is no worker beside the spawner: the
//! spawner and the children take turns, so that the live children and their slots stay
//! few and within the caches (spawning the whole run first, 40 000 children, would
//! measure memory traffic instead). Same sizes and checks, and after each run only the
//! collector is alive on the floor. `messages` counts per child its message and its
//! `Done`, plus the `Expect`. Allocations: one per child, the box of its behaviour
//! (zeta places the actor in its pool instead).
//!
//! **Allocations.** None: spawning into a warm pool makes no global allocation, and
//! neither do the bursts of newly ready children (a worker takes from the injector only
//! what its run queue has room for, so the queue never grows; this case used to show
//! 0.004 to 0.015 allocations per actor from crossbeam-deque buffers growing and
//! shrinking). What remains is the pool's growth, which the `chunks` column counts
//! apart: 64 KiB chunks taken by a shard on a thread that needed fewer blocks in the
//! warm-up (blocks go back to the shard that carved them), or when the main thread gets
//! further ahead of the workers than in the warm-up.

use std::cell::Cell;
use std::rc::Rc;

use zeta::StopReason;
use zeta_bench::floor::Floor;

use super::fjthrput::compute;
use super::{returned, Case, Config, FloorMeter, Measured, Outcome, MAX_THROUGHPUT};

/// The case.
pub const CASE: Case = Case {
    name: "fjcreate",
    unit: "actor",
    about: "40 000 actors, each spawned, sent one message (sin^2 work), and stopped",
    run: threaded::run,
    local: local::run,
    floor,
};

/// Savina's default number of actors.
const ACTORS: u64 = 40_000;

/// What the collector saw in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    /// `Done`s received.
    done: u64,
    /// Children that handled their message.
    handled: u64,
    /// Children that stopped gracefully.
    stopped: u64,
    /// Wrapping sum of the children's results.
    checksum: u64,
}

/// The actors and the run, written once and built twice (the `savina` module doc):
/// in [`threaded`] on zeta's thread-safe actors, in [`local`] on local actors.
macro_rules! zeta_side {
    () => {
        /// A short-lived actor: one message, then it stops and reports.
        struct Child {
            collector: Address<Collector>,
            /// The result of its one message, once handled.
            result: Option<u64>,
        }

        impl Actor for Child {
            type Message = u64;

            #[inline]
            fn handle(&mut self, value: u64, ctx: &mut Context<'_, Self>) {
                self.result = Some(compute(value));
                ctx.stop();
            }

            #[inline]
            fn on_stop(&mut self, reason: StopReason) {
                let done = Done {
                    result: self.result,
                    stopped: reason == StopReason::Stopped,
                };
                // Err only if the collector has stopped: its count then falls short, which the
                // main thread reports.
                let _ = self.collector.send(CollectorMsg::Done(done));
            }
        }

        /// A child's last word.
        struct Done {
            /// Its result, if it handled its message.
            result: Option<u64>,
            /// Whether it stopped with `StopReason::Stopped`.
            stopped: bool,
        }

        /// Counts the children's `Done`s and answers when all have come in.
        struct Collector {
            expected: u64,
            tally: Tally,
            waiter: Option<Reply<Tally>>,
        }

        enum CollectorMsg {
            /// Expect this many `Done`s; answer with the tally when they are in.
            Expect(u64, Reply<Tally>),
            Done(Done),
        }

        impl Collector {
            fn answer_if_complete(&mut self) {
                if self.tally.done >= self.expected {
                    if let Some(waiter) = self.waiter.take() {
                        // Err only if the asker has given up, which it then knows.
                        let _ = waiter.send(core::mem::take(&mut self.tally));
                    }
                }
            }
        }

        impl Actor for Collector {
            type Message = CollectorMsg;

            #[inline]
            fn handle(&mut self, message: CollectorMsg, _ctx: &mut Context<'_, Self>) {
                match message {
                    CollectorMsg::Expect(expected, waiter) => {
                        self.expected = expected;
                        self.tally = Tally::default();
                        self.waiter = Some(waiter);
                        self.answer_if_complete();
                    }
                    CollectorMsg::Done(done) => {
                        self.tally.done += 1;
                        if let Some(result) = done.result {
                            self.tally.handled += 1;
                            self.tally.checksum = self.tally.checksum.wrapping_add(result);
                        }
                        if done.stopped {
                            self.tally.stopped += 1;
                        }
                        self.answer_if_complete();
                    }
                }
            }
        }

        /// One run: `actors` children spawned and sent one message each; the collector's
        /// tally.
        fn play(rig: &Rig, collector: &Address<Collector>, actors: u64) -> Result<Tally, String> {
            let future = collector
                .ask(|waiter| CollectorMsg::Expect(actors, waiter))
                .map_err(|e| format!("asking the collector: {e}"))?;
            for value in 0..actors {
                let child = rig.spawn(Child {
                    collector: collector.clone(),
                    result: None,
                })?;
                child
                    .send(value)
                    .map_err(|e| format!("the message to child {value}: {e}"))?;
            }
            rig.wait(future, "the collector's tally")
        }

        pub(super) fn run(config: &Config) -> Result<Outcome, String> {
            let actors = config.scaled(ACTORS, 100);
            let rig = Rig::new(config)?;
            let collector = rig.spawn(Collector {
                expected: 0,
                tally: Tally::default(),
                waiter: None,
            })?;
            let want = Tally {
                done: actors,
                handled: actors,
                stopped: actors,
                checksum: (0..actors).fold(0u64, |sum, value| sum.wrapping_add(compute(value))),
            };
            let check = |got: Tally, run: &str| {
                if got == want {
                    Ok(())
                } else {
                    Err(format!(
                        "{run}: {} of {actors} children reported, {} handled their message, {} \
                         stopped gracefully; checksum {:#x}, expected {:#x}",
                        got.done, got.handled, got.stopped, got.checksum, want.checksum
                    ))
                }
            };

            // Warm-up: a full run, so that the pool has grown to the run's peak.
            check(play(&rig, &collector, actors)?, "warm-up")?;

            let meter = rig.meter();
            let got = play(&rig, &collector, actors)?;
            let Measured {
                wall,
                allocations,
                chunks,
            } = meter.stop();
            check(got, "measured run")?;

            rig.stop_actors(&[&collector])?;
            drop(collector);
            let memory = rig.finish()?;

            Ok(Outcome {
                ops: actors,
                // Per child its message and its `Done`; the request and its reply.
                messages: 2 * actors + 2,
                wall,
                allocations,
                chunks,
                latency: Vec::new(),
                check: format!(
                    "{actors} children handled their message (checksum as computed) and stopped \
                     gracefully, twice; {}",
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
    /// To the collector: expect this many `Done`s.
    Expect(u64),
    /// To a child: its value.
    Value(u64),
    /// To the collector: a child's result.
    Done(u64),
}

fn floor(config: &Config) -> Result<Outcome, String> {
    let actors = config.scaled(ACTORS, 100);
    let mut floor: Floor<FloorMsg> = Floor::new(MAX_THROUGHPUT);
    // The collector's answer, once every `Done` is in.
    let answer: Rc<Cell<Option<Tally>>> = Rc::default();
    let collector = {
        let answer = answer.clone();
        let mut expected = 0;
        let mut tally = Tally::default();
        floor.spawn(move |message, _ctx| {
            match message {
                FloorMsg::Expect(n) => {
                    expected = n;
                    tally = Tally::default();
                }
                FloorMsg::Done(result) => {
                    tally.done += 1;
                    tally.handled += 1;
                    tally.stopped += 1;
                    tally.checksum = tally.checksum.wrapping_add(result);
                }
                FloorMsg::Value(_) => return,
            }
            if tally.done >= expected {
                answer.set(Some(core::mem::take(&mut tally)));
            }
        })
    };
    let want = Tally {
        done: actors,
        handled: actors,
        stopped: actors,
        checksum: (0..actors).fold(0u64, |sum, value| sum.wrapping_add(compute(value))),
    };
    let play = |floor: &mut Floor<FloorMsg>, run: &str| -> Result<(), String> {
        answer.set(None);
        let mut dropped = 0;
        floor
            .send(collector, FloorMsg::Expect(actors))
            .map_err(|_| "the collector stopped")?;
        for value in 0..actors {
            let child = floor.spawn(move |message, ctx| {
                if let FloorMsg::Value(value) = message {
                    // A lost `Done` leaves the collector short, which the check sees.
                    let _ = ctx.send(collector, FloorMsg::Done(compute(value)));
                    ctx.stop();
                }
            });
            floor
                .send(child, FloorMsg::Value(value))
                .map_err(|_| format!("the message to child {value}"))?;
            if (value + 1) % MAX_THROUGHPUT as u64 == 0 {
                dropped += floor.run_until_idle().dropped;
            }
        }
        dropped += floor.run_until_idle().dropped;
        let got = answer.take().unwrap_or_default();
        if got != want || dropped != 0 || floor.live() != 1 {
            return Err(format!(
                "{run}: {} of {actors} children reported, checksum {:#x}, expected {:#x}; \
                 {} messages dropped, {} actors alive (the collector only expected)",
                got.done,
                got.checksum,
                want.checksum,
                dropped,
                floor.live()
            ));
        }
        Ok(())
    };

    play(&mut floor, "warm-up")?;
    let meter = FloorMeter::start();
    play(&mut floor, "measured run")?;
    let Measured {
        wall, allocations, ..
    } = meter.stop();

    Ok(Outcome {
        ops: actors,
        messages: 2 * actors + 1,
        wall,
        allocations,
        chunks: 0,
        latency: Vec::new(),
        check: format!(
            "{actors} children handled their message (checksum as computed) and stopped, \
             twice"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_runs_and_checks() {
        let config = Config {
            scale: 0.01,
            workers: 2,
        };
        for side in [threaded::run, local::run] {
            let outcome = side(&config).expect("the case succeeds");
            assert_eq!(outcome.ops, 400);
            assert_eq!(outcome.messages, 2 * 400 + 2);
        }
        let floor = floor(&config).expect("the floor succeeds");
        assert_eq!((floor.ops, floor.messages), (400, 2 * 400 + 1));
    }
}
