//! Savina's `pingpong`: two actors pass a message back and forth.
//!
//! **Savina.** A `Ping` actor sends `Ping` to a `Pong` actor, which answers `Pong`; on
//! each answer the pinger sends the next ping, 40 000 times; then both stop. It measures
//! the cost of a message whose receiver is always idle: every message wakes its
//! receiver.
//!
//! **Ours.** The same two actors on a `SharingScheduler`, in a counted pool. A run of
//! round trips starts with an outside `ask` to the pinger (`Run`) and ends when the
//! pinger answers it, with the number of round trips it made; the ponger echoes the
//! round's number, and the pinger checks that every pong comes back in order. One op is
//! one round trip: two messages, each a pool node allocated, pushed, taken, dispatched
//! and freed, plus the scheduling of the idle receiver (from a handler: the worker's
//! LIFO slot, no thread wake-up unless the other worker steals the actor).
//!
//! - Warm-up (not measured): a run of a quarter of the round trips.
//! - Throughput (the measured region): one run of 40 000 × scale round trips. The clock
//!   includes the outside ask that starts the run and the main thread noticing the
//!   answer (a parked worker's wake-up, some microseconds on a VM), amortised over the
//!   run. Messages: 2 per round trip, plus the ask and its reply.
//! - Latency, in two separate passes after the measured one, so that reading the clock
//!   costs the throughput figure nothing: `round trip` is a second run of the same
//!   length in which the pinger reads the clock before each ping and on each pong (the
//!   samples go into a histogram made before the run, whose recording allocates nothing,
//!   handed over with the answer); each sample includes one clock read, some 20 ns. `outside ask` is 10 000 × scale
//!   requests from the main thread to the ponger, one at a time, each timed from the
//!   `ask` until `wait` (parking, `WaitStrategy::Park`) returns the answer: a
//!   cross-thread round trip, mostly the wake-ups of a parked worker and of the parked
//!   main thread.
//!
//! **Checked.** Every pong is the round's number, in order; the pinger's count of round
//! trips is exact after every run; every outside answer is `n + 1`; at the end both
//! actors stop gracefully, nothing panicked or was left queued, and every block went
//! back to the pool.
//!
//! **Local** (`--local`). The same actors, the same run and the same checks, built a
//! second time as local actors (`zeta::local`; the `savina` module doc says how) on a
//! `LocalSystem` that the main thread drives, in the same pool: the main thread's
//! requests are `LocalAddress::ask`s, and it runs the system until it is idle whenever
//! it waits for an answer, as it runs the `ManualScheduler` with `--manual`. Every send
//! to the idle receiver appends the node to its FIFO and the receiver to the system's
//! run queue, with no atomic read-modify-write. The `outside ask` series is then the
//! main thread asking the ponger and running the system until the answer is there: a
//! request on the system's own thread, not a cross-thread round trip.
//!
//! **Floor.** The same two actors on the floor (`zeta_bench::floor`, one thread, no
//! atomics): the main thread sends the pinger `Run` and runs the floor until idle; the
//! pinger writes its count into a shared cell when the run is over (the floor has no
//! requests). Warm-up, measured run, sizes and checks as above; `messages` counts the
//! `Run` and the round trips. There is no floor for the latency series: reading the
//! clock in the floor's round trip would measure the clock, and with one thread there
//! is no outside thread to ask from.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use zeta_bench::floor::{ActorId, Floor};

use hdrhistogram::Histogram;

use super::{
    latency_histogram, returned, Case, Config, FloorMeter, Latency, Measured, Outcome,
    MAX_THROUGHPUT,
};

/// The case.
pub const CASE: Case = Case {
    name: "pingpong",
    unit: "round trip",
    about: "2 actors, 40 000 round trips (ping -> pong); round-trip and outside-ask latency",
    run: threaded::run,
    local: local::run,
    floor,
};

/// Savina's default number of round trips.
const ROUND_TRIPS: u64 = 40_000;
/// Requests from the main thread timed one by one for the `outside ask` series.
const OUTSIDE_ASKS: u64 = 10_000;

/// The actors and the run, written once and built twice (the `savina` module doc):
/// in [`threaded`] on zeta's thread-safe actors, in [`local`] on local actors.
macro_rules! zeta_side {
    () => {
        /// Echoes pings (plain sends) and answers questions with `n + 1` (requests).
        struct Ponger {
            /// Set by `Hello`, right after spawn.
            pinger: Option<Address<Pinger>>,
        }

        enum PongerMsg {
            Hello(Address<Pinger>),
            Ping(u64),
            Question(u64, Reply<u64>),
        }

        impl Actor for Ponger {
            type Message = PongerMsg;

            #[inline]
            fn handle(&mut self, message: PongerMsg, ctx: &mut Context<'_, Self>) {
                match message {
                    PongerMsg::Hello(pinger) => self.pinger = Some(pinger),
                    PongerMsg::Ping(n) => {
                        let sent = match &self.pinger {
                            Some(pinger) => pinger.send(PingerMsg::Pong(n)).is_ok(),
                            None => false,
                        };
                        if !sent {
                            // The pinger's next send fails and it reports the run as failed.
                            ctx.stop();
                        }
                    }
                    PongerMsg::Question(n, reply) => {
                        // Err only if the asker has given up, which it then knows.
                        let _ = reply.send(n + 1);
                    }
                }
            }
        }

        /// What a run reports.
        struct Finished {
            /// Round trips made so far, over every run.
            rounds: u64,
            /// The latency samples (ns per round trip), if the run was timed.
            samples: Option<Box<Histogram<u64>>>,
        }

        type RunReply = Reply<Result<Finished, &'static str>>;

        /// Makes runs of round trips with the ponger.
        struct Pinger {
            ponger: Address<Ponger>,
            /// Round trips left in the current run.
            remaining: u64,
            /// Round trips completed, over every run.
            rounds: u64,
            /// The latency samples of a timed run.
            samples: Option<Box<Histogram<u64>>>,
            /// When the ping in flight was sent (timed runs only).
            sent_at: Instant,
            /// The outside asker of the current run.
            done: Option<RunReply>,
        }

        enum PingerMsg {
            /// Make this many round trips, timing each if a histogram comes with it
            /// (boxed: the message stays small).
            Run(u64, Option<Box<Histogram<u64>>>, RunReply),
            Pong(u64),
        }

        impl Pinger {
            /// Sends the next ping, or answers the run when it is complete.
            #[inline]
            fn next(&mut self) {
                if self.remaining == 0 {
                    self.answer(Ok(()));
                    return;
                }
                self.remaining -= 1;
                if self.samples.is_some() {
                    self.sent_at = Instant::now();
                }
                if self.ponger.send(PongerMsg::Ping(self.rounds)).is_err() {
                    self.answer(Err("the ponger stopped mid-run"));
                }
            }

            /// Ends the current run.
            fn answer(&mut self, result: Result<(), &'static str>) {
                self.remaining = 0;
                let samples = self.samples.take();
                if let Some(done) = self.done.take() {
                    let rounds = self.rounds;
                    // Err only if the asker has given up, which it then knows.
                    let _ = done.send(result.map(|()| Finished { rounds, samples }));
                }
            }
        }

        impl Actor for Pinger {
            type Message = PingerMsg;

            #[inline]
            fn handle(&mut self, message: PingerMsg, _ctx: &mut Context<'_, Self>) {
                match message {
                    PingerMsg::Run(rounds, samples, done) => {
                        if self.done.is_some() {
                            let _ = done.send(Err("a run is already in progress"));
                            return;
                        }
                        self.remaining = rounds;
                        self.samples = samples;
                        self.done = Some(done);
                        self.next();
                    }
                    PingerMsg::Pong(n) => {
                        if self.done.is_none() {
                            return; // a failed run's late pong
                        }
                        if n != self.rounds {
                            self.answer(Err("a pong came back out of order"));
                            return;
                        }
                        if let Some(samples) = &mut self.samples {
                            // Adds to a count: allocates nothing (`latency_histogram`).
                            samples.saturating_record(self.sent_at.elapsed().as_nanos() as u64);
                        }
                        self.rounds += 1;
                        self.next();
                    }
                }
            }
        }

        /// One run of `rounds` round trips, started by an outside ask; returns what the pinger
        /// answered.
        fn play(
            rig: &Rig,
            pinger: &Address<Pinger>,
            rounds: u64,
            samples: Option<Box<Histogram<u64>>>,
        ) -> Result<Finished, String> {
            let future = pinger
                .ask(|done| PingerMsg::Run(rounds, samples, done))
                .map_err(|e| format!("asking the pinger for a run: {e}"))?;
            rig.wait(future, "a run of round trips")?
                .map_err(|e| format!("the run failed: {e}"))
        }

        pub(super) fn run(config: &Config) -> Result<Outcome, String> {
            let rounds = config.scaled(ROUND_TRIPS, 100);
            let asks = config.scaled(OUTSIDE_ASKS, 100);
            let rig = Rig::new(config)?;
            let ponger = rig.spawn(Ponger { pinger: None })?;
            let pinger = rig.spawn(Pinger {
                ponger: ponger.clone(),
                remaining: 0,
                rounds: 0,
                samples: None,
                sent_at: Instant::now(),
                done: None,
            })?;
            ponger
                .send(PongerMsg::Hello(pinger.clone()))
                .map_err(|e| format!("introducing the pinger: {e}"))?;

            let mut total = 0;
            let mut check = |finished: &Finished, rounds: u64| {
                total += rounds;
                if finished.rounds == total {
                    Ok(())
                } else {
                    Err(format!(
                        "the pinger counted {} round trips, {total} were asked for",
                        finished.rounds
                    ))
                }
            };

            // Warm-up: the pool's chunks, the queues, every thread's one-time set-up.
            let warm = (rounds / 4).max(100);
            check(&play(&rig, &pinger, warm, None)?, warm)?;

            let meter = rig.meter();
            let finished = play(&rig, &pinger, rounds, None)?;
            let Measured {
                wall,
                allocations,
                chunks,
            } = meter.stop();
            check(&finished, rounds)?;

            // Latency, 1: round trips timed by the pinger, in a run of their own.
            let timed = play(&rig, &pinger, rounds, Some(Box::new(latency_histogram())))?;
            check(&timed, rounds)?;
            let samples = timed
                .samples
                .ok_or("the timed run came back without samples")?;
            if samples.len() != rounds {
                return Err(format!(
                    "{} round trips timed, {rounds} made",
                    samples.len()
                ));
            }
            let round_trip = Latency::from_histogram(&samples).ok_or("no round trip timed")?;

            // Latency, 2: requests from this thread to the ponger, one at a time.
            let ask = |n: u64| -> Result<u64, String> {
                let start = Instant::now();
                let future = ponger
                    .ask(|reply| PongerMsg::Question(n, reply))
                    .map_err(|e| format!("asking the ponger: {e}"))?;
                let answer = rig.wait(future, "an outside ask")?;
                let took = start.elapsed().as_nanos() as u64;
                if answer == n + 1 {
                    Ok(took)
                } else {
                    Err(format!("the ponger answered {answer} to {n}"))
                }
            };
            for n in 0..100 {
                ask(n)?;
            }
            let mut outside = latency_histogram();
            for n in 0..asks {
                outside.saturating_record(ask(n)?);
            }
            let outside = Latency::from_histogram(&outside).ok_or("no outside ask timed")?;

            rig.stop_actors(&[&pinger, &ponger])?;
            drop((pinger, ponger));
            let memory = rig.finish()?;

            Ok(Outcome {
                ops: rounds,
                messages: 2 * rounds + 2,
                wall,
                allocations,
                chunks,
                latency: vec![("round trip", round_trip), ("outside ask", outside)],
                check: format!(
                    "{rounds} pongs back in order, {total} round trips counted over 3 runs; \
                     {asks} outside asks answered n + 1; actors stopped, {}",
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
    /// To the ponger: who the pinger is.
    Hello(ActorId),
    /// To the pinger: make this many round trips.
    Run(u64),
    Ping(u64),
    Pong(u64),
}

/// What the floor's pinger reports after each run: round trips so far, and whether a
/// pong came back out of order or a send failed.
#[derive(Clone, Copy, Default)]
struct FloorTally {
    rounds: u64,
    wrong: bool,
    finished: bool,
}

fn floor(config: &Config) -> Result<Outcome, String> {
    let rounds = config.scaled(ROUND_TRIPS, 100);
    let mut floor: Floor<FloorMsg> = Floor::new(MAX_THROUGHPUT);
    let ponger = {
        let mut pinger = None;
        floor.spawn(move |message, ctx| match message {
            FloorMsg::Hello(id) => pinger = Some(id),
            FloorMsg::Ping(n) => {
                if let Some(pinger) = pinger {
                    // A failed send leaves the run unfinished, which the check sees.
                    let _ = ctx.send(pinger, FloorMsg::Pong(n));
                }
            }
            FloorMsg::Run(_) | FloorMsg::Pong(_) => {}
        })
    };
    let tally = Rc::new(Cell::new(FloorTally::default()));
    let pinger = {
        let tally = tally.clone();
        let mut remaining = 0u64;
        let mut made = 0u64;
        let mut wrong = false;
        floor.spawn(move |message, ctx| {
            match message {
                FloorMsg::Run(n) => remaining = n,
                FloorMsg::Pong(n) => {
                    wrong |= n != made;
                    made += 1;
                }
                FloorMsg::Hello(_) | FloorMsg::Ping(_) => return,
            }
            if remaining == 0 {
                tally.set(FloorTally {
                    rounds: made,
                    wrong,
                    finished: true,
                });
                return;
            }
            remaining -= 1;
            if ctx.send(ponger, FloorMsg::Ping(made)).is_err() {
                wrong = true;
            }
        })
    };
    floor
        .send(ponger, FloorMsg::Hello(pinger))
        .map_err(|_| "introducing the pinger")?;

    let mut total = 0;
    let mut play = |floor: &mut Floor<FloorMsg>, rounds: u64| -> Result<(), String> {
        tally.set(FloorTally::default());
        floor
            .send(pinger, FloorMsg::Run(rounds))
            .map_err(|_| "the pinger stopped")?;
        floor.run_until_idle();
        total += rounds;
        match tally.get() {
            FloorTally {
                rounds: made,
                wrong: false,
                finished: true,
            } if made == total => Ok(()),
            FloorTally { rounds: made, .. } => Err(format!(
                "the pinger counted {made} round trips, {total} were asked for, or a \
                 pong came back out of order"
            )),
        }
    };
    play(&mut floor, (rounds / 4).max(100))?;
    let meter = FloorMeter::start();
    play(&mut floor, rounds)?;
    let Measured {
        wall, allocations, ..
    } = meter.stop();

    Ok(Outcome {
        ops: rounds,
        messages: 2 * rounds + 1,
        wall,
        allocations,
        chunks: 0,
        latency: Vec::new(),
        check: format!("{rounds} pongs back in order, {total} round trips counted over 2 runs"),
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
            assert_eq!(outcome.messages, 802);
            let labels: Vec<&str> = outcome.latency.iter().map(|(label, _)| *label).collect();
            assert_eq!(labels, ["round trip", "outside ask"]);
            assert_eq!(outcome.latency[0].1.samples, 400);
            assert_eq!(outcome.latency[1].1.samples, 100);
        }
        let floor = floor(&config).expect("the floor succeeds");
        assert_eq!(floor.ops, 400);
    }
}
