//! Savina's `threadring`: a token passed around a ring of actors.
//!
//! **Savina.** `ThreadRingConfig`: 100 actors in a ring, each knowing the next; the main
//! program sends `PingMessage(100 000)` to the first. An actor that gets a ping with
//! hops left passes `ping(n - 1)` to the next; the one that gets `ping(0)` starts an
//! exit wave (`ExitMessage(100)`) that goes once more around the ring, each actor
//! exiting as it passes it on. Only one message is in flight at any time: it measures
//! the hand-off from one actor to the next, each time to an idle receiver.
//!
//! **Ours.** The same ring of 100 actors on a `SharingScheduler`, in a counted pool. The
//! main thread `ask`s the first member with the token (`hops` passes to go); the token
//! carries the request's `Reply` around the ring, and the member that gets it with none
//! left answers the main thread with its index. There is no exit wave: after the check,
//! the main thread stops every member, outside the clock. Each pass is a send from a
//! handler to an idle actor, so it schedules the receiver on the current worker (its
//! LIFO slot): the ring runs on one worker at a time unless the other steals.
//!
//! - Warm-up (not measured): a run of a tenth of the hops.
//! - The measured region: one run of 100 000 × scale hops, from the `ask` to the answer.
//!   Messages: the `ask`, every pass, the reply.
//!
//! **One op** is one pass: a member sending the token to the next.
//!
//! **Checked.** The member that ends is `hops mod 100` (the token starts at member 0);
//! every member counts the tokens it handled, and each count is exactly the number of
//! `k` in `0..=hops` with `k mod 100` equal to its index, summed over both runs (so the
//! measured run handled `hops + 1` tokens: the passes and the `ask`); no send failed; at
//! the end every member stops gracefully, nothing panicked or was left queued, and every
//! block went back to the pool.
//!
//! **Local** (`--local`). The same actors, the same run and the same checks, built a
//! second time as local actors (`zeta::local`; the `savina` module doc says how) on a
//! `LocalSystem` that the main thread drives, in the same pool: the main thread's
//! requests are `LocalAddress::ask`s, and it runs the system until it is idle whenever
//! it waits for an answer, as it runs the `ManualScheduler` with `--manual`. Each pass
//! queues the next member on the system's run queue, behind nobody.
//!
//! **Floor.** The same ring on the floor (`zeta_bench::floor`, one thread, no atomics),
//! linked by `Link` messages; the main thread sends member 0 the token and runs the
//! floor until idle, and the member that ends writes its index into a shared cell
//! (the floor has no requests). Same sizes and checks (each member's count of tokens
//! over both runs); `messages` counts the passes and the first delivery.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use zeta_bench::floor::{ActorId, Floor};

use super::{returned, Case, Config, FloorMeter, Measured, Outcome, Stoppable, MAX_THROUGHPUT};

/// The case.
pub const CASE: Case = Case {
    name: "threadring",
    unit: "pass",
    about: "100 actors in a ring pass one token 100 000 times",
    run: threaded::run,
    local: local::run,
    floor,
};

/// Actors in the ring (Savina's default; not scaled).
const MEMBERS: usize = 100;
/// Passes of the token at scale 1 (Savina's default).
const HOPS: u64 = 100_000;

/// Tokens member `index` handles in a run of `hops` passes started at member 0: the
/// `k` in `0..=hops` with `k mod MEMBERS == index`.
fn tokens_at(index: usize, hops: u64) -> u64 {
    let index = index as u64;
    if index > hops {
        0
    } else {
        (hops - index) / MEMBERS as u64 + 1
    }
}

/// The member that gets the token with none left, in a run of `hops` passes.
fn end_of(hops: u64) -> usize {
    (hops % MEMBERS as u64) as usize
}

/// The actors and the run, written once and built twice (the `savina` module doc):
/// in [`threaded`] on zeta's thread-safe actors, in [`local`] on local actors.
macro_rules! zeta_side {
    () => {
        /// A member of the ring.
        struct Member {
            /// Its place in the ring.
            index: usize,
            /// The next member; set by [`Msg::Link`] before any token.
            next: Option<Address<Member>>,
            /// Tokens handled, over every run.
            handled: u64,
            /// Sends that failed (the token was lost with its `Reply`: the asker learns it).
            failed: u64,
        }

        enum Msg {
            /// Sets the next member.
            Link(Address<Member>),
            /// The token, with `left` passes to go; `done` answers the main thread's request
            /// with the index of the member that gets it with none left.
            Token { left: u64, done: Reply<usize> },
            /// Answers (tokens handled, sends failed) so far.
            Count(Reply<(u64, u64)>),
        }

        impl Actor for Member {
            type Message = Msg;

            #[inline]
            fn handle(&mut self, message: Msg, _ctx: &mut Context<'_, Self>) {
                match message {
                    Msg::Token { left, done } => {
                        self.handled += 1;
                        if left == 0 {
                            // Err only if the asker has given up, which it then knows.
                            let _ = done.send(self.index);
                            return;
                        }
                        let token = Msg::Token {
                            left: left - 1,
                            done,
                        };
                        // A token that cannot be passed drops its `Reply`, so the main thread's
                        // wait ends with an error instead of running into the time limit.
                        let passed = match &self.next {
                            Some(next) => next.send(token).is_ok(),
                            None => false,
                        };
                        if !passed {
                            self.failed += 1;
                        }
                    }
                    Msg::Link(next) => self.next = Some(next),
                    Msg::Count(reply) => {
                        let _ = reply.send((self.handled, self.failed));
                    }
                }
            }
        }

        /// One run of `hops` passes, started by an `ask` to `first`; returns the index of the
        /// member that ended it.
        fn play(rig: &Rig, first: &Address<Member>, hops: u64) -> Result<usize, String> {
            let future = first
                .ask(|done| Msg::Token { left: hops, done })
                .map_err(|e| format!("handing the token to the ring: {e}"))?;
            rig.wait(future, "a run around the ring")
        }

        pub(super) fn run(config: &Config) -> Result<Outcome, String> {
            let hops = config.scaled(HOPS, MEMBERS as u64);
            let warm = (hops / 10).max(MEMBERS as u64);
            let rig = Rig::new(config)?;

            let mut ring = Vec::with_capacity(MEMBERS);
            for index in 0..MEMBERS {
                ring.push(rig.spawn(Member {
                    index,
                    next: None,
                    handled: 0,
                    failed: 0,
                })?);
            }
            for (index, member) in ring.iter().enumerate() {
                let next = ring[(index + 1) % MEMBERS].clone();
                member
                    .send(Msg::Link(next))
                    .map_err(|e| format!("linking the ring: {e}"))?;
            }

            // Warm-up: the pool's blocks, the workers' queues, every thread's first park.
            let ended = play(&rig, &ring[0], warm)?;
            if ended != end_of(warm) {
                return Err(format!(
                    "warm-up: member {ended} ended, expected {}",
                    end_of(warm)
                ));
            }

            let meter = rig.meter();
            let ended = play(&rig, &ring[0], hops)?;
            let Measured {
                wall,
                allocations,
                chunks,
            } = meter.stop();

            if ended != end_of(hops) {
                return Err(format!("member {ended} ended, expected {}", end_of(hops)));
            }
            let mut total = 0;
            for (index, member) in ring.iter().enumerate() {
                let future = member
                    .ask(Msg::Count)
                    .map_err(|e| format!("asking member {index} for its count: {e}"))?;
                let (handled, failed) = rig.wait(future, "a member's count")?;
                if failed != 0 {
                    return Err(format!("member {index}: {failed} passes failed"));
                }
                let expected = tokens_at(index, warm) + tokens_at(index, hops);
                if handled != expected {
                    return Err(format!(
                        "member {index} handled {handled} tokens over both runs, expected {expected}"
                    ));
                }
                total += handled;
            }
            let measured = total - (warm + 1);

            let stoppables: Vec<&dyn Stoppable> = ring.iter().map(|m| m as &dyn Stoppable).collect();
            rig.stop_actors(&stoppables)?;
            drop(stoppables);
            drop(ring);
            let memory = rig.finish()?;

            Ok(Outcome {
                ops: hops,
                messages: hops + 2,
                wall,
                allocations,
                chunks,
                latency: Vec::new(),
                check: format!(
                    "member {ended} ended; {measured} tokens handled in the run ({} to {} per \
                     member, each exact); 100 actors stopped, {}",
                    tokens_at(MEMBERS - 1, hops),
                    tokens_at(0, hops),
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
    Link(ActorId),
    Token(u64),
}

fn floor(config: &Config) -> Result<Outcome, String> {
    let hops = config.scaled(HOPS, MEMBERS as u64);
    let warm = (hops / 10).max(MEMBERS as u64);
    let mut floor: Floor<FloorMsg> = Floor::new(MAX_THROUGHPUT);
    // The member that ended the run, and each member's tokens (and failed sends).
    let ended: Rc<Cell<Option<usize>>> = Rc::default();
    let counts: Rc<RefCell<Vec<(u64, u64)>>> = Rc::new(RefCell::new(vec![(0, 0); MEMBERS]));
    let ring: Vec<ActorId> = (0..MEMBERS)
        .map(|index| {
            let (ended, counts) = (ended.clone(), counts.clone());
            let mut next = None;
            floor.spawn(move |message, ctx| match message {
                FloorMsg::Token(left) => {
                    counts.borrow_mut()[index].0 += 1;
                    if left == 0 {
                        ended.set(Some(index));
                        return;
                    }
                    let passed = match next {
                        Some(next) => ctx.send(next, FloorMsg::Token(left - 1)).is_ok(),
                        None => false,
                    };
                    if !passed {
                        counts.borrow_mut()[index].1 += 1;
                    }
                }
                FloorMsg::Link(id) => next = Some(id),
            })
        })
        .collect();
    for (index, &member) in ring.iter().enumerate() {
        floor
            .send(member, FloorMsg::Link(ring[(index + 1) % MEMBERS]))
            .map_err(|_| "linking the ring")?;
    }
    let play = |floor: &mut Floor<FloorMsg>, hops: u64| -> Result<(), String> {
        floor
            .send(ring[0], FloorMsg::Token(hops))
            .map_err(|_| "handing the token to the ring")?;
        floor.run_until_idle();
        match ended.take() {
            Some(index) if index == end_of(hops) => Ok(()),
            other => Err(format!("member {other:?} ended, expected {}", end_of(hops))),
        }
    };

    play(&mut floor, warm)?;
    let meter = FloorMeter::start();
    play(&mut floor, hops)?;
    let Measured {
        wall, allocations, ..
    } = meter.stop();

    for (index, &(handled, failed)) in counts.borrow().iter().enumerate() {
        let expected = tokens_at(index, warm) + tokens_at(index, hops);
        if failed != 0 || handled != expected {
            return Err(format!(
                "member {index} handled {handled} tokens over both runs, expected \
                 {expected}; {failed} passes failed"
            ));
        }
    }
    Ok(Outcome {
        ops: hops,
        messages: hops + 1,
        wall,
        allocations,
        chunks: 0,
        latency: Vec::new(),
        check: format!(
            "member {} ended; tokens per member exact over both runs",
            end_of(hops)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_per_member_add_up() {
        for hops in [0, 1, 99, 100, 101, 12_345] {
            let total: u64 = (0..MEMBERS).map(|index| tokens_at(index, hops)).sum();
            assert_eq!(total, hops + 1, "hops {hops}");
            assert_eq!(tokens_at(end_of(hops), hops), hops / MEMBERS as u64 + 1);
        }
    }

    #[test]
    fn a_small_ring_runs_and_checks() {
        let config = Config {
            scale: 0.01,
            workers: 2,
        };
        for side in [threaded::run, local::run] {
            let outcome = side(&config).expect("the case succeeds");
            assert_eq!(outcome.ops, 1_000);
            assert_eq!(outcome.messages, 1_002);
        }
        let floor = floor(&config).expect("the floor succeeds");
        assert_eq!((floor.ops, floor.messages), (1_000, 1_001));
    }
}
