//! Savina's `chameneos`: creatures meet in pairs through a broker and change colour.
//!
//! **Savina.** `ChameneosConfig`: a mall actor and 100 chameneo actors with colours
//! red, yellow, blue (`i mod 3`), 200 000 meetings. Each chameneo sends the mall
//! `MeetMsg(colour, self)`. The mall keeps at most one waiting chameneo: the next one to
//! ask is paired with it, the mall forwards the newcomer's `MeetMsg` to the waiting one
//! and counts a meeting. The waiting one takes the complement of the two colours (the
//! same colour if both are equal, the third colour otherwise), counts the meeting,
//! sends `ChangeMsg(new colour)` to its partner (who takes that colour and counts the
//! meeting too), and both ask the mall again. Once the meetings are used up, the mall
//! answers every `MeetMsg` with `ExitMsg`; the chameneo fades and sends the mall its
//! count of meetings (`MeetingCountMsg`); when all 100 have, the mall exits. It
//! measures a contended broker: one actor every other one talks to.
//!
//! **Ours.** The same mall and 100 chameneos on a `SharingScheduler`, in a counted pool,
//! with Savina's colour table. The main thread starts a game by `ask`ing the mall
//! (`Start`: the budget of meetings and the number of chameneos), then sends each
//! chameneo `Go` (Savina's chameneos ask the mall on start). The mall forwards the
//! newcomer's request to the waiting chameneo with the newcomer's address (Savina sends
//! the actor reference); the waiting one sends `Change` to the newcomer with the new
//! colour and the colour it had, so that the newcomer can recompute the complement
//! itself. When every chameneo has faded and reported, the mall answers the main
//! thread with the game's totals. The chameneos do not exit after a game: `Go` starts
//! the next one with their initial colours; the main thread stops them at the end.
//!
//! - Warm-up (not measured): a game of a tenth of the meetings.
//! - The measured region: one game of 200 000 × scale meetings, from the `ask` to the
//!   answer. Messages: the `ask` and its reply, the 100 `Go`s, every request to the
//!   mall (100 + 2 per meeting), every forward and `Change` (1 each per meeting), every
//!   `Exit` and count (100 each): 4 × meetings + 4 × 100 + 2. The actors count their
//!   own sends, and the total must be that.
//!
//! **One op** is one meeting.
//!
//! **Checked.** The mall made exactly the budget of meetings; the chameneos' own counts
//! add up to 2 × the budget; all 100 faded and reported; every `Change` carried the
//! complement of the two colours as the receiver computes it from the table; the sum of
//! the colours (red 0, yellow 1, blue 2) modulo 3 is what it was at the start (every
//! meeting by the table keeps it); the messages sent add up; no send failed; at the end
//! every actor stops gracefully, nothing panicked or was left queued, and every block
//! went back to the pool.
//!
//! **Local** (`--local`). The same actors, the same run and the same checks, built a
//! second time as local actors (`zeta::local`; the `savina` module doc says how) on a
//! `LocalSystem` that the main thread drives, in the same pool: the main thread's
//! requests are `LocalAddress::ask`s, and it runs the system until it is idle whenever
//! it waits for an answer, as it runs the `ManualScheduler` with `--manual`.
//!
//! **Floor.** The same mall and chameneos on the floor (`zeta_bench::floor`, one thread,
//! no atomics), with the same protocol and messages (one enum for both kinds of actor);
//! the main thread sends the mall `Start` and every chameneo `Go`, then runs the floor
//! until idle, and the mall writes the game's totals into a shared cell where zeta's
//! mall answers the request (the write is counted as that reply, so that the same check
//! of the messages applies). Same sizes and checks; `messages` counts every message
//! but the reply.

use std::cell::Cell;
use std::rc::Rc;

use zeta_bench::floor::{ActorId, Ctx, Floor};

use super::{returned, Case, Config, FloorMeter, Measured, Outcome, Stoppable, MAX_THROUGHPUT};

/// The case.
pub const CASE: Case = Case {
    name: "chameneos",
    unit: "meeting",
    about: "a mall pairs 100 chameneos for 200 000 meetings; colours by complement",
    run: threaded::run,
    local: local::run,
    floor,
};

/// Chameneos (Savina's default; not scaled).
const CHAMENEOS: usize = 100;
/// Meetings at scale 1 (Savina's default).
const MEETINGS: u64 = 200_000;

/// A chameneo's colour; the numbers are used for the modulo-3 check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Colour {
    Red = 0,
    Yellow = 1,
    Blue = 2,
    /// After the game (Savina's `FADED`).
    Faded = 3,
}

impl Colour {
    /// Savina's starting colours: red, yellow, blue, in turn.
    fn initial(index: usize) -> Self {
        [Colour::Red, Colour::Yellow, Colour::Blue][index % 3]
    }

    /// Savina's `ChameneosHelper.complement`: the colour both take when `self` meets
    /// `other`.
    fn complement(self, other: Colour) -> Colour {
        use Colour::*;
        match (self, other) {
            (Faded, _) | (_, Faded) => Faded,
            (Red, Red) => Red,
            (Red, Yellow) => Blue,
            (Red, Blue) => Yellow,
            (Yellow, Red) => Blue,
            (Yellow, Yellow) => Yellow,
            (Yellow, Blue) => Red,
            (Blue, Red) => Yellow,
            (Blue, Yellow) => Red,
            (Blue, Blue) => Blue,
        }
    }
}

/// What a game adds up to, as the mall answers it.
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    /// Meetings the mall arranged.
    meetings: u64,
    /// The sum of the chameneos' own counts of meetings.
    taken_part: u64,
    /// Chameneos that faded and reported.
    faded: usize,
    /// The sum of their colours before fading.
    colour_sum: u64,
    /// `Change`s with a colour not by the table.
    wrong: u64,
    /// Messages the actors sent, the mall's reply to the main thread included.
    sent: u64,
    /// Sends that failed.
    failed: u64,
}

/// Messages of a game of `meetings` among `players` chameneos: the `ask` and its reply,
/// a `Go` each, the requests to the mall (one each at the start, two per meeting), a
/// forward and a `Change` per meeting, an `Exit` and a count each.
fn messages_of(meetings: u64, players: u64) -> u64 {
    2 + players + (players + 2 * meetings) + 2 * meetings + 2 * players
}

/// Checks a game's totals.
fn check(totals: &Totals, meetings: u64, what: &str) -> Result<(), String> {
    let players = CHAMENEOS as u64;
    let start_sum: u64 = (0..CHAMENEOS).map(|i| Colour::initial(i) as u64).sum();
    // The main thread's `ask` and `Go`s are not counted by the actors.
    let sent = totals.sent + 1 + players;
    let wrong = |what_is: String| Err(format!("{what}: {what_is}"));
    if totals.failed != 0 {
        return wrong(format!("{} sends failed", totals.failed));
    }
    if totals.faded != CHAMENEOS {
        return wrong(format!(
            "{} of {CHAMENEOS} chameneos reported",
            totals.faded
        ));
    }
    if totals.meetings != meetings {
        return wrong(format!(
            "the mall arranged {} meetings, the budget was {meetings}",
            totals.meetings
        ));
    }
    if totals.taken_part != 2 * meetings {
        return wrong(format!(
            "the chameneos took part in {} meetings, expected {}",
            totals.taken_part,
            2 * meetings
        ));
    }
    if totals.wrong != 0 {
        return wrong(format!(
            "{} colour changes not by the complement table",
            totals.wrong
        ));
    }
    if totals.colour_sum % 3 != start_sum % 3 {
        return wrong(format!(
            "the colours sum to {} mod 3 at the end, {} at the start",
            totals.colour_sum % 3,
            start_sum % 3
        ));
    }
    if sent != messages_of(meetings, players) {
        return wrong(format!(
            "{sent} messages sent, expected {}",
            messages_of(meetings, players)
        ));
    }
    Ok(())
}

/// The actors and the run, written once and built twice (the `savina` module doc):
/// in [`threaded`] on zeta's thread-safe actors, in [`local`] on local actors.
macro_rules! zeta_side {
    () => {
        // -------------------------------------------------------------------------------
        // The chameneo.

        struct Chameneo {
            index: usize,
            mall: Address<Mall>,
            colour: Colour,
            /// Meetings in the current game.
            meetings: u64,
            /// `Change`s whose colour is not the complement by the table.
            wrong: u64,
            /// Messages sent in the current game.
            sent: u64,
            /// Sends that failed in the current game.
            failed: u64,
        }

        enum ChameneoMsg {
            /// Starts a game: back to the initial colour, ask the mall.
            Go,
            /// From the mall: `partner` asked while this one was waiting; meet it.
            Meet {
                partner: Address<Chameneo>,
                colour: Colour,
            },
            /// From the partner this one asked to meet: take `colour`, the complement of this
            /// one's colour and `theirs`.
            Change { colour: Colour, theirs: Colour },
            /// From the mall: the meetings are used up; fade and report.
            Exit,
        }

        impl Chameneo {
            #[inline]
            fn ask_mall(&mut self) {
                let request = MallMsg::Meet {
                    index: self.index,
                    colour: self.colour,
                };
                self.sent += 1;
                if self.mall.send(request).is_err() {
                    self.failed += 1;
                }
            }
        }

        impl Actor for Chameneo {
            type Message = ChameneoMsg;

            #[inline]
            fn handle(&mut self, message: ChameneoMsg, _ctx: &mut Context<'_, Self>) {
                match message {
                    ChameneoMsg::Meet { partner, colour } => {
                        let mine = self.colour;
                        self.colour = mine.complement(colour);
                        self.meetings += 1;
                        self.sent += 1;
                        let change = ChameneoMsg::Change {
                            colour: self.colour,
                            theirs: mine,
                        };
                        if partner.send(change).is_err() {
                            self.failed += 1;
                        }
                        self.ask_mall();
                    }
                    ChameneoMsg::Change { colour, theirs } => {
                        if self.colour.complement(theirs) != colour {
                            self.wrong += 1;
                        }
                        self.colour = colour;
                        self.meetings += 1;
                        self.ask_mall();
                    }
                    ChameneoMsg::Exit => {
                        let count = MallMsg::Count {
                            meetings: self.meetings,
                            colour: self.colour,
                            wrong: self.wrong,
                            sent: self.sent + 1,
                            failed: self.failed,
                        };
                        self.colour = Colour::Faded;
                        // A lost count leaves the mall short of one: the main thread's wait
                        // then ends at the time limit with an `Err`.
                        let _ = self.mall.send(count);
                    }
                    ChameneoMsg::Go => {
                        self.colour = Colour::initial(self.index);
                        self.meetings = 0;
                        self.wrong = 0;
                        self.sent = 0;
                        self.failed = 0;
                        self.ask_mall();
                    }
                }
            }
        }

        // -------------------------------------------------------------------------------
        // The mall.

        struct Mall {
            /// Every chameneo, by index; set by `Chameneos` before any game.
            chameneos: Vec<Address<Chameneo>>,
            /// Meetings left in the current game.
            left: u64,
            /// The chameneo waiting for a partner, with its colour.
            waiting: Option<(usize, Colour)>,
            /// Chameneos in the current game.
            players: usize,
            totals: Totals,
            /// The main thread's request for the current game.
            done: Option<Reply<Totals>>,
        }

        enum MallMsg {
            /// Every chameneo, by index.
            Chameneos(Vec<Address<Chameneo>>),
            /// Starts a game of `meetings` among `players` chameneos; answered with its totals.
            Start {
                meetings: u64,
                players: usize,
                done: Reply<Totals>,
            },
            /// Chameneo `index`, of colour `colour`, wants to meet.
            Meet { index: usize, colour: Colour },
            /// A faded chameneo's report.
            Count {
                meetings: u64,
                colour: Colour,
                wrong: u64,
                sent: u64,
                failed: u64,
            },
        }

        impl Mall {
            /// Sends `message` to chameneo `index`, counting it.
            #[inline]
            fn tell(&mut self, index: usize, message: ChameneoMsg) {
                self.totals.sent += 1;
                let delivered = match self.chameneos.get(index) {
                    Some(chameneo) => chameneo.send(message).is_ok(),
                    None => false,
                };
                if !delivered {
                    self.totals.failed += 1;
                }
            }
        }

        impl Actor for Mall {
            type Message = MallMsg;

            #[inline]
            fn handle(&mut self, message: MallMsg, _ctx: &mut Context<'_, Self>) {
                match message {
                    MallMsg::Meet { index, colour } => {
                        if self.left == 0 {
                            self.tell(index, ChameneoMsg::Exit);
                            return;
                        }
                        match self.waiting.take() {
                            None => self.waiting = Some((index, colour)),
                            Some((waiting, _)) => {
                                self.left -= 1;
                                self.totals.meetings += 1;
                                let Some(partner) = self.chameneos.get(index).cloned() else {
                                    self.totals.failed += 1;
                                    return;
                                };
                                self.tell(waiting, ChameneoMsg::Meet { partner, colour });
                            }
                        }
                    }
                    MallMsg::Count {
                        meetings,
                        colour,
                        wrong,
                        sent,
                        failed,
                    } => {
                        let totals = &mut self.totals;
                        totals.faded += 1;
                        totals.taken_part += meetings;
                        totals.colour_sum += colour as u64;
                        totals.wrong += wrong;
                        totals.sent += sent;
                        totals.failed += failed;
                        if totals.faded == self.players {
                            totals.sent += 1; // the answer below
                            if let Some(done) = self.done.take() {
                                let _ = done.send(*totals);
                            }
                        }
                    }
                    MallMsg::Start {
                        meetings,
                        players,
                        done,
                    } => {
                        self.left = meetings;
                        self.players = players;
                        self.waiting = None;
                        self.totals = Totals::default();
                        self.done = Some(done);
                    }
                    MallMsg::Chameneos(chameneos) => self.chameneos = chameneos,
                }
            }
        }

        // -------------------------------------------------------------------------------
        // The case.

        /// Plays one game of `meetings` meetings and checks its totals.
        fn play(
            rig: &Rig,
            mall: &Address<Mall>,
            chameneos: &[Address<Chameneo>],
            meetings: u64,
        ) -> Result<Totals, String> {
            let future = mall
                .ask(|done| MallMsg::Start {
                    meetings,
                    players: chameneos.len(),
                    done,
                })
                .map_err(|e| format!("starting a game: {e}"))?;
            for chameneo in chameneos {
                chameneo
                    .send(ChameneoMsg::Go)
                    .map_err(|e| format!("starting a chameneo: {e}"))?;
            }
            rig.wait(future, "a game of chameneos")
        }

        pub(super) fn run(config: &Config) -> Result<Outcome, String> {
            let meetings = config.scaled(MEETINGS, 10);
            let warm = (meetings / 10).max(10);
            let rig = Rig::new(config)?;

            let mall = rig.spawn(Mall {
                chameneos: Vec::new(),
                left: 0,
                waiting: None,
                players: 0,
                totals: Totals::default(),
                done: None,
            })?;
            let mut chameneos = Vec::with_capacity(CHAMENEOS);
            for index in 0..CHAMENEOS {
                chameneos.push(rig.spawn(Chameneo {
                    index,
                    mall: mall.clone(),
                    colour: Colour::initial(index),
                    meetings: 0,
                    wrong: 0,
                    sent: 0,
                    failed: 0,
                })?);
            }
            mall.send(MallMsg::Chameneos(chameneos.clone()))
                .map_err(|e| format!("introducing the chameneos: {e}"))?;

            // Warm-up: the pool's blocks, the workers' queues, every thread's first park.
            check(&play(&rig, &mall, &chameneos, warm)?, warm, "warm-up")?;

            let meter = rig.meter();
            let totals = play(&rig, &mall, &chameneos, meetings)?;
            let Measured {
                wall,
                allocations,
                chunks,
            } = meter.stop();
            check(&totals, meetings, "the game")?;

            let mut stoppables: Vec<&dyn Stoppable> = vec![&mall];
            stoppables.extend(chameneos.iter().map(|c| c as &dyn Stoppable));
            rig.stop_actors(&stoppables)?;
            drop(stoppables);
            drop((mall, chameneos));
            let memory = rig.finish()?;

            Ok(Outcome {
                ops: meetings,
                messages: messages_of(meetings, CHAMENEOS as u64),
                wall,
                allocations,
                chunks,
                latency: Vec::new(),
                check: format!(
                    "{} meetings, {} taken part in, {} faded, colours by the table \
                     (sum mod 3 kept), {} messages counted; 101 actors stopped, {}",
                    totals.meetings,
                    totals.taken_part,
                    totals.faded,
                    messages_of(meetings, CHAMENEOS as u64),
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
    // To the mall.
    Chameneos(Vec<ActorId>),
    Start {
        meetings: u64,
        players: usize,
    },
    Meet {
        index: usize,
        colour: Colour,
    },
    Count {
        meetings: u64,
        colour: Colour,
        wrong: u64,
        sent: u64,
        failed: u64,
    },
    // To a chameneo.
    Go,
    Partner {
        partner: ActorId,
        colour: Colour,
    },
    Change {
        colour: Colour,
        theirs: Colour,
    },
    Exit,
}

/// The floor's mall: [`Mall`]'s state and protocol.
struct FloorMall {
    chameneos: Vec<ActorId>,
    left: u64,
    waiting: Option<(usize, Colour)>,
    players: usize,
    totals: Totals,
    answer: Rc<Cell<Option<Totals>>>,
}

impl FloorMall {
    #[inline]
    fn tell(&mut self, ctx: &mut Ctx<'_, FloorMsg>, index: usize, message: FloorMsg) {
        self.totals.sent += 1;
        let delivered = match self.chameneos.get(index) {
            Some(&chameneo) => ctx.send(chameneo, message).is_ok(),
            None => false,
        };
        if !delivered {
            self.totals.failed += 1;
        }
    }

    #[inline]
    fn handle(&mut self, message: FloorMsg, ctx: &mut Ctx<'_, FloorMsg>) {
        match message {
            FloorMsg::Meet { index, colour } => {
                if self.left == 0 {
                    self.tell(ctx, index, FloorMsg::Exit);
                    return;
                }
                match self.waiting.take() {
                    None => self.waiting = Some((index, colour)),
                    Some((waiting, _)) => {
                        self.left -= 1;
                        self.totals.meetings += 1;
                        let Some(&partner) = self.chameneos.get(index) else {
                            self.totals.failed += 1;
                            return;
                        };
                        self.tell(ctx, waiting, FloorMsg::Partner { partner, colour });
                    }
                }
            }
            FloorMsg::Count {
                meetings,
                colour,
                wrong,
                sent,
                failed,
            } => {
                let totals = &mut self.totals;
                totals.faded += 1;
                totals.taken_part += meetings;
                totals.colour_sum += colour as u64;
                totals.wrong += wrong;
                totals.sent += sent;
                totals.failed += failed;
                if totals.faded == self.players {
                    totals.sent += 1; // the answer below, zeta's reply
                    self.answer.set(Some(*totals));
                }
            }
            FloorMsg::Start { meetings, players } => {
                self.left = meetings;
                self.players = players;
                self.waiting = None;
                self.totals = Totals::default();
            }
            FloorMsg::Chameneos(chameneos) => self.chameneos = chameneos,
            _ => {}
        }
    }
}

/// The floor's chameneo: [`Chameneo`]'s state and protocol.
struct FloorChameneo {
    index: usize,
    mall: ActorId,
    colour: Colour,
    meetings: u64,
    wrong: u64,
    sent: u64,
    failed: u64,
}

impl FloorChameneo {
    #[inline]
    fn ask_mall(&mut self, ctx: &mut Ctx<'_, FloorMsg>) {
        let request = FloorMsg::Meet {
            index: self.index,
            colour: self.colour,
        };
        self.sent += 1;
        if ctx.send(self.mall, request).is_err() {
            self.failed += 1;
        }
    }

    #[inline]
    fn handle(&mut self, message: FloorMsg, ctx: &mut Ctx<'_, FloorMsg>) {
        match message {
            FloorMsg::Partner { partner, colour } => {
                let mine = self.colour;
                self.colour = mine.complement(colour);
                self.meetings += 1;
                self.sent += 1;
                let change = FloorMsg::Change {
                    colour: self.colour,
                    theirs: mine,
                };
                if ctx.send(partner, change).is_err() {
                    self.failed += 1;
                }
                self.ask_mall(ctx);
            }
            FloorMsg::Change { colour, theirs } => {
                if self.colour.complement(theirs) != colour {
                    self.wrong += 1;
                }
                self.colour = colour;
                self.meetings += 1;
                self.ask_mall(ctx);
            }
            FloorMsg::Exit => {
                let count = FloorMsg::Count {
                    meetings: self.meetings,
                    colour: self.colour,
                    wrong: self.wrong,
                    sent: self.sent + 1,
                    failed: self.failed,
                };
                self.colour = Colour::Faded;
                // A lost count leaves the mall short: no answer, which the check sees.
                let _ = ctx.send(self.mall, count);
            }
            FloorMsg::Go => {
                self.colour = Colour::initial(self.index);
                self.meetings = 0;
                self.wrong = 0;
                self.sent = 0;
                self.failed = 0;
                self.ask_mall(ctx);
            }
            _ => {}
        }
    }
}

fn floor(config: &Config) -> Result<Outcome, String> {
    let meetings = config.scaled(MEETINGS, 10);
    let warm = (meetings / 10).max(10);
    let mut floor: Floor<FloorMsg> = Floor::new(MAX_THROUGHPUT);
    let answer: Rc<Cell<Option<Totals>>> = Rc::default();
    let mut mall = FloorMall {
        chameneos: Vec::new(),
        left: 0,
        waiting: None,
        players: 0,
        totals: Totals::default(),
        answer: answer.clone(),
    };
    let mall = floor.spawn(move |message, ctx| mall.handle(message, ctx));
    let chameneos: Vec<ActorId> = (0..CHAMENEOS)
        .map(|index| {
            let mut chameneo = FloorChameneo {
                index,
                mall,
                colour: Colour::initial(index),
                meetings: 0,
                wrong: 0,
                sent: 0,
                failed: 0,
            };
            floor.spawn(move |message, ctx| chameneo.handle(message, ctx))
        })
        .collect();
    floor
        .send(mall, FloorMsg::Chameneos(chameneos.clone()))
        .map_err(|_| "introducing the chameneos")?;
    let play = |floor: &mut Floor<FloorMsg>, meetings: u64| -> Result<Totals, String> {
        floor
            .send(
                mall,
                FloorMsg::Start {
                    meetings,
                    players: chameneos.len(),
                },
            )
            .map_err(|_| "starting a game")?;
        for &chameneo in &chameneos {
            floor
                .send(chameneo, FloorMsg::Go)
                .map_err(|_| "starting a chameneo")?;
        }
        floor.run_until_idle();
        answer
            .take()
            .ok_or_else(|| "the game ended without the mall's totals".to_owned())
    };

    check(&play(&mut floor, warm)?, warm, "warm-up")?;
    let meter = FloorMeter::start();
    let totals = play(&mut floor, meetings)?;
    let Measured {
        wall, allocations, ..
    } = meter.stop();
    check(&totals, meetings, "the game")?;

    Ok(Outcome {
        ops: meetings,
        messages: messages_of(meetings, CHAMENEOS as u64) - 1,
        wall,
        allocations,
        chunks: 0,
        latency: Vec::new(),
        check: format!(
            "{} meetings, {} taken part in, {} faded, colours by the table (sum mod 3 \
             kept), messages counted",
            totals.meetings, totals.taken_part, totals.faded
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complement_is_the_same_colour_or_the_third() {
        let colours = [Colour::Red, Colour::Yellow, Colour::Blue];
        for a in colours {
            for b in colours {
                let c = a.complement(b);
                assert_eq!(c, b.complement(a), "symmetric");
                if a == b {
                    assert_eq!(c, a);
                } else {
                    assert!(c != a && c != b && c != Colour::Faded);
                }
                // Two colours of the pair, before and after: the sum mod 3 is kept.
                assert_eq!((a as u64 + b as u64) % 3, (2 * c as u64) % 3);
            }
            assert_eq!(a.complement(Colour::Faded), Colour::Faded);
        }
    }

    #[test]
    fn a_small_game_runs_and_checks() {
        let config = Config {
            scale: 0.01,
            workers: 2,
        };
        for side in [threaded::run, local::run] {
            let outcome = side(&config).expect("the case succeeds");
            assert_eq!(outcome.ops, 2_000);
            assert_eq!(outcome.messages, messages_of(2_000, CHAMENEOS as u64));
        }
        let floor = floor(&config).expect("the floor succeeds");
        assert_eq!(floor.ops, 2_000);
    }
}
