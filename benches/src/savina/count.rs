//! Savina's `count`: one actor floods another with increments, then asks for the total.
//!
//! **Savina.** A producer sends 1 000 000 `Increment` messages to a counter actor in
//! one loop, then a `Retrieve`; the counter answers with its count and the producer
//! checks it. It measures raw one-way message throughput into a single mailbox that
//! is never idle for long, so the receiver is rarely woken.
//!
//! **Ours.** The same two actors on a `SharingScheduler`, in a counted pool. The
//! producer sends its increments in batches of [`BATCH`], and after each batch sends
//! itself a `Continue` (handled in the same run of the producer, up to the scheduler's
//! `max_throughput`), so that no handler runs for tens of milliseconds and, with one
//! worker, the counter gets its turns; with two workers the counter is stolen and both
//! run at once. There is no flow control, as in Savina: the counter's inbox may grow
//! while the producer is ahead (the check line reports the pool's peak). After the last
//! batch the producer sends `Retrieve` with its own address; the counter answers with a
//! `Total` message and resets its count; the producer answers the outside `ask` that
//! started the run. One op is one increment message: a pool node allocated by the
//! producer's thread, pushed with one CAS, taken in a batch by the counter, dispatched
//! and freed (to the producer's pool shard, from another thread when the two run
//! apart).
//!
//! - Warm-up (not measured): one full run, which also grows the pool to the run's peak.
//! - Measured: one run of 1 000 000 × scale increments, from the outside ask to the
//!   main thread having the answer. Messages: the increments, the producer's
//!   `Continue`s and `Retrieve`, the counter's `Total`, the ask and its reply.
//!
//! **Checked.** The counter's total equals the increments sent, exactly, in both runs;
//! both actors stop gracefully, nothing panicked or was left queued, and every block
//! went back to the pool.
//!
//! **Local** (`--local`). The same actors, the same run and the same checks, built a
//! second time as local actors (`zeta::local`; the `savina` module doc says how) on a
//! `LocalSystem` that the main thread drives, in the same pool: the main thread's
//! requests are `LocalAddress::ask`s, and it runs the system until it is idle whenever
//! it waits for an answer, as it runs the `ManualScheduler` with `--manual`. The
//! producer's turn (up to `max_throughput` batches) runs before the counter's, as on
//! the floor.
//!
//! **Floor.** The same producer and counter on the floor (`zeta_bench::floor`, one
//! thread, no atomics), the same batches, `Continue`s, `Retrieve` and `Total`; the main
//! thread sends `Start` and runs the floor until idle, and the producer writes the
//! total into a shared cell (the floor has no requests). On one thread the producer's
//! turn (up to `max_throughput` batches) runs before the counter's, so the counter's
//! deque grows to tens of thousands of messages, in the warm-up only. Same sizes and
//! checks; `messages` counts the `Start`, the producer's sends and the `Total`.
//!
//! **Allocations.** None but the pool's growth, which the `chunks` column counts apart:
//! blocks go back to the shard of the thread that carved them, so when the producer runs
//! on another worker than in the warm-up, or gets further ahead of the counter (nothing
//! holds it back: Savina's count has no flow control), its shard takes more 64 KiB
//! chunks (some hundreds in a run of 1 000 000 on the 2-core VM).

use std::cell::Cell;
use std::rc::Rc;

use zeta_bench::floor::{ActorId, Floor};

use super::{returned, Case, Config, FloorMeter, Measured, Outcome, MAX_THROUGHPUT};

/// The case.
pub const CASE: Case = Case {
    name: "count",
    unit: "message",
    about: "a producer sends 1 000 000 increments to a counter, then asks for the total",
    run: threaded::run,
    local: local::run,
    floor,
};

/// Savina's default number of increments.
const INCREMENTS: u64 = 1_000_000;
/// Increments the producer sends per handled message.
const BATCH: u64 = 1_000;

/// What a run reports.
#[derive(Clone, Copy)]
struct Tally {
    /// The counter's answer.
    total: u64,
    /// Messages the producer sent: increments, `Continue`s and the `Retrieve`.
    sent: u64,
}

/// The actors and the run, written once and built twice (the `savina` module doc):
/// in [`threaded`] on zeta's thread-safe actors, in [`local`] on local actors.
macro_rules! zeta_side {
    () => {
        /// Counts increments; answers `Retrieve` with the count, and starts again from 0.
        struct Counter {
            count: u64,
        }

        enum CounterMsg {
            Increment,
            Retrieve(Address<Producer>),
        }

        impl Actor for Counter {
            type Message = CounterMsg;

            #[inline]
            fn handle(&mut self, message: CounterMsg, _ctx: &mut Context<'_, Self>) {
                match message {
                    CounterMsg::Increment => self.count += 1,
                    CounterMsg::Retrieve(producer) => {
                        let total = core::mem::take(&mut self.count);
                        // Err only if the producer has stopped: its asker then gets no answer
                        // and reports that.
                        let _ = producer.send(ProducerMsg::Total(total));
                    }
                }
            }
        }

        type RunReply = Reply<Result<Tally, &'static str>>;

        /// Sends increments in batches, then asks the counter for the total.
        struct Producer {
            counter: Address<Counter>,
            /// Increments still to send in this run.
            remaining: u64,
            /// Messages sent in this run.
            sent: u64,
            /// The outside asker of the run.
            done: Option<RunReply>,
        }

        enum ProducerMsg {
            /// Send this many increments, then answer with the counter's total.
            Start(u64, RunReply),
            /// Send the next batch.
            Continue,
            /// The counter's answer to `Retrieve`.
            Total(u64),
        }

        impl Producer {
            /// Sends one batch, then either the next `Continue` to itself or the `Retrieve`.
            #[inline]
            fn produce(&mut self, myself: &Address<Self>) {
                let batch = self.remaining.min(BATCH);
                for _ in 0..batch {
                    if self.counter.send(CounterMsg::Increment).is_err() {
                        self.fail("the counter stopped mid-run");
                        return;
                    }
                }
                self.remaining -= batch;
                self.sent += batch;
                let next = if self.remaining > 0 {
                    myself.send(ProducerMsg::Continue).is_ok()
                } else {
                    self.counter
                        .send(CounterMsg::Retrieve(myself.clone()))
                        .is_ok()
                };
                if next {
                    self.sent += 1;
                } else {
                    self.fail("a send failed at the end of a batch");
                }
            }

            fn fail(&mut self, why: &'static str) {
                self.remaining = 0;
                if let Some(done) = self.done.take() {
                    let _ = done.send(Err(why));
                }
            }
        }

        impl Actor for Producer {
            type Message = ProducerMsg;

            #[inline]
            fn handle(&mut self, message: ProducerMsg, ctx: &mut Context<'_, Self>) {
                match message {
                    ProducerMsg::Start(increments, done) => {
                        if self.done.is_some() {
                            let _ = done.send(Err("a run is already in progress"));
                            return;
                        }
                        self.remaining = increments;
                        self.sent = 0;
                        self.done = Some(done);
                        self.produce(ctx.address());
                    }
                    ProducerMsg::Continue => {
                        if self.done.is_some() {
                            self.produce(ctx.address());
                        }
                    }
                    ProducerMsg::Total(total) => {
                        if let Some(done) = self.done.take() {
                            let sent = self.sent;
                            // Err only if the asker has given up, which it then knows.
                            let _ = done.send(Ok(Tally { total, sent }));
                        }
                    }
                }
            }
        }

        /// One run of `increments`, started by an outside ask; checks the total.
        fn play(rig: &Rig, producer: &Address<Producer>, increments: u64) -> Result<Tally, String> {
            let future = producer
                .ask(|done| ProducerMsg::Start(increments, done))
                .map_err(|e| format!("asking the producer for a run: {e}"))?;
            let tally = rig
                .wait(future, "a run of increments")?
                .map_err(|e| format!("the run failed: {e}"))?;
            if tally.total != increments {
                return Err(format!(
                    "the counter counted {} increments, {increments} were sent",
                    tally.total
                ));
            }
            Ok(tally)
        }

        pub(super) fn run(config: &Config) -> Result<Outcome, String> {
            let increments = config.scaled(INCREMENTS, 1_000);
            let rig = Rig::new(config)?;
            let counter = rig.spawn(Counter { count: 0 })?;
            let producer = rig.spawn(Producer {
                counter: counter.clone(),
                remaining: 0,
                sent: 0,
                done: None,
            })?;

            // Warm-up: a full run, so that the pool has grown to the run's peak.
            play(&rig, &producer, increments)?;

            let meter = rig.meter();
            let tally = play(&rig, &producer, increments)?;
            let Measured {
                wall,
                allocations,
                chunks,
            } = meter.stop();

            rig.stop_actors(&[&producer, &counter])?;
            drop((producer, counter));
            let memory = rig.finish()?;

            Ok(Outcome {
                ops: increments,
                // The ask, the producer's sends, the counter's `Total`, the reply.
                messages: 1 + tally.sent + 1 + 1,
                wall,
                allocations,
                chunks,
                latency: Vec::new(),
                check: format!(
                    "total {} == {increments} increments sent (twice: warm-up and measured); \
                     actors stopped, {}",
                    tally.total,
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
    /// To the producer: send this many increments, then get the total.
    Start(u64),
    Continue,
    /// To the counter.
    Increment,
    /// To the counter: answer the producer with the count.
    Retrieve(ActorId),
    /// To the producer: the counter's answer.
    Total(u64),
}

fn floor(config: &Config) -> Result<Outcome, String> {
    let increments = config.scaled(INCREMENTS, 1_000);
    let mut floor: Floor<FloorMsg> = Floor::new(MAX_THROUGHPUT);
    let counter = {
        let mut count = 0u64;
        floor.spawn(move |message, ctx| match message {
            FloorMsg::Increment => count += 1,
            FloorMsg::Retrieve(producer) => {
                let total = core::mem::take(&mut count);
                // A failed send leaves the run without an answer, which the check sees.
                let _ = ctx.send(producer, FloorMsg::Total(total));
            }
            _ => {}
        })
    };
    // The run's answer: (total, messages sent), or `None` while it runs or if it failed.
    let answer: Rc<Cell<Option<Tally>>> = Rc::default();
    let producer = {
        let answer = answer.clone();
        let mut remaining = 0u64;
        let mut sent = 0u64;
        floor.spawn(move |message, ctx| {
            match message {
                FloorMsg::Start(n) => {
                    remaining = n;
                    sent = 0;
                }
                FloorMsg::Continue => {}
                FloorMsg::Total(total) => {
                    answer.set(Some(Tally { total, sent }));
                    return;
                }
                FloorMsg::Increment | FloorMsg::Retrieve(_) => return,
            }
            let batch = remaining.min(BATCH);
            for _ in 0..batch {
                if ctx.send(counter, FloorMsg::Increment).is_err() {
                    return; // no answer: the check fails
                }
            }
            remaining -= batch;
            sent += batch + 1;
            let next = if remaining > 0 {
                ctx.send(ctx.me(), FloorMsg::Continue)
            } else {
                ctx.send(counter, FloorMsg::Retrieve(ctx.me()))
            };
            if next.is_err() {
                sent = u64::MAX; // the check fails
            }
        })
    };
    let play = |floor: &mut Floor<FloorMsg>| -> Result<Tally, String> {
        answer.set(None);
        floor
            .send(producer, FloorMsg::Start(increments))
            .map_err(|_| "the producer stopped")?;
        floor.run_until_idle();
        match answer.get() {
            Some(tally) if tally.total == increments => Ok(tally),
            Some(tally) => Err(format!(
                "the counter counted {} increments, {increments} were sent",
                tally.total
            )),
            None => Err("the run ended without the counter's total".to_owned()),
        }
    };

    play(&mut floor)?;
    let meter = FloorMeter::start();
    let tally = play(&mut floor)?;
    let Measured {
        wall, allocations, ..
    } = meter.stop();

    Ok(Outcome {
        ops: increments,
        // The `Start`, the producer's sends, the counter's `Total`.
        messages: 1 + tally.sent + 1,
        wall,
        allocations,
        chunks: 0,
        latency: Vec::new(),
        check: format!(
            "total {} == {increments} increments sent (twice)",
            tally.total
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
            assert_eq!(outcome.ops, 10_000);
            // 10 batches: 10 000 increments, 9 `Continue`s, the `Retrieve`; the ask, the
            // `Total` and the reply.
            assert_eq!(outcome.messages, 10_000 + 9 + 1 + 3);
        }
        let floor = floor(&config).expect("the floor succeeds");
        assert_eq!((floor.ops, floor.messages), (10_000, 10_000 + 9 + 1 + 2));
    }
}
