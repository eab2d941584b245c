//! A 60 Hz game tick with a watchdog per entity, on real time (a `SharingScheduler`)
//! and, in its test, on virtual time (a `ManualScheduler`: a second of game in
//! microseconds, the same every run).
//!
//! # The design it shows
//!
//! - The `Game` actor is ticked by [`Address::send_interval`] every 1/60 s. Each tick it
//!   sends `Frame(n)` to every entity. Each `Entity` answers with `Progress` once it has
//!   simulated the frame; one entity gets stuck at frame [`STUCK_AT`] and answers no
//!   more.
//! - The game keeps a watchdog per entity: a [`Context::send_after`] of `Timeout` to
//!   itself, [`WATCHDOG`] ahead, cancelled ([`Timer::cancel`]) and re-armed at every
//!   progress report. A timeout marks the entity hung and kills it (a kill allocates
//!   nothing). A watchdog that fired just before its cancel (the cancel answers
//!   `Fired`) leaves a `Timeout` in the game's queue: each carries the generation of
//!   the watchdog that sent it, and a stale one is ignored.
//! - Handlers read time through [`Context::now`], the scheduler's clock: real on the
//!   sharing scheduler, virtual on the manual one. So the same actors run in a game and
//!   in a deterministic test.
//!
//! # What it checks (exit code 1 on the first failure)
//!
//! After one second of real time: the tick never ran ahead of the clock (at most 60
//! frames, and at least 30 on a loaded machine: missed periods are skipped); every
//! healthy entity simulated every frame; the stuck entity, and only it, was declared
//! hung, once, by its watchdog, not before [`WATCHDOG`] after its last progress, and
//! was killed; every timer was cancelled or fired. The test (`cargo test --example
//! timers`) runs the same on virtual time and checks exact figures: 60 frames, the
//! hang declared after frame 34, three runs alike.
//!
//! Run: `cargo run --release --example timers`

use std::process::ExitCode;
use std::time::{Duration, Instant};

use zeta::{Actor, Address, CancelOutcome, Context, Reply, System, Timer};

/// Entities in the game.
const ENTITIES: usize = 8;
/// The entity that gets stuck, and the frame from which it answers no more.
const STUCK: usize = 3;
const STUCK_AT: u64 = 30;
/// How long an entity may go without progress.
const WATCHDOG: Duration = Duration::from_millis(100);
/// One frame at 60 Hz.
const FRAME: Duration = Duration::from_micros(16_667);

struct Entity {
    id: usize,
    game: Address<Game>,
    position: u64,
}

impl Actor for Entity {
    type Message = u64;
    fn handle(&mut self, frame: u64, _ctx: &mut Context<'_, Self>) {
        if self.id == STUCK && frame >= STUCK_AT {
            return; // stuck: no progress from here on
        }
        self.position += frame;
        let _ = self.game.send(GameMsg::Progress(self.id, frame));
    }
}

/// What the game saw.
#[derive(Clone, Debug, Default, PartialEq)]
struct Summary {
    frames: u64,
    /// Per entity, the last frame it reported.
    progress: Vec<u64>,
    /// (entity, frames ticked when it was declared hung, time since its last progress).
    hung: Vec<(usize, u64, Duration)>,
    stale_timeouts: u64,
}

enum GameMsg {
    Start(Vec<Address<Entity>>),
    Tick,
    Progress(usize, u64),
    Timeout(usize, u64),
    Report(Reply<Summary>),
}

struct Watchdog {
    timer: Option<Timer>,
    generation: u64,
    last_progress: Instant,
}

struct Game {
    entities: Vec<Address<Entity>>,
    watchdogs: Vec<Watchdog>,
    tick: Option<Timer>,
    summary: Summary,
}

impl Game {
    fn new() -> Self {
        Self {
            entities: Vec::new(),
            watchdogs: Vec::new(),
            tick: None,
            summary: Summary::default(),
        }
    }

    /// (Re-)arms entity `id`'s watchdog, cancelling the running one.
    fn rearm(&mut self, id: usize, ctx: &mut Context<'_, Self>) {
        let watchdog = &mut self.watchdogs[id];
        if let Some(timer) = watchdog.timer.take() {
            // `Fired`: its `Timeout` is queued; the generation makes it stale.
            let _ = timer.cancel();
        }
        watchdog.generation += 1;
        watchdog.last_progress = ctx.now();
        let timeout = GameMsg::Timeout(id, watchdog.generation);
        watchdog.timer = ctx.send_after(WATCHDOG, timeout).ok();
    }
}

impl Actor for Game {
    type Message = GameMsg;

    fn handle(&mut self, message: GameMsg, ctx: &mut Context<'_, Self>) {
        match message {
            GameMsg::Start(entities) => {
                self.summary.progress = vec![0; entities.len()];
                self.entities = entities;
                let now = ctx.now();
                self.watchdogs = (0..self.entities.len())
                    .map(|_| Watchdog {
                        timer: None,
                        generation: 0,
                        last_progress: now,
                    })
                    .collect();
                for id in 0..self.entities.len() {
                    self.rearm(id, ctx);
                }
                self.tick = ctx.send_interval(FRAME, || GameMsg::Tick).ok();
            }
            GameMsg::Tick => {
                self.summary.frames += 1;
                for entity in &self.entities {
                    let _ = entity.send(self.summary.frames);
                }
            }
            GameMsg::Progress(id, frame) => {
                self.summary.progress[id] = frame;
                self.rearm(id, ctx);
            }
            GameMsg::Timeout(id, generation) => {
                let watchdog = &mut self.watchdogs[id];
                if generation != watchdog.generation || watchdog.timer.is_none() {
                    self.summary.stale_timeouts += 1;
                    return;
                }
                watchdog.timer = None;
                let silent = ctx.now() - watchdog.last_progress;
                self.summary.hung.push((id, self.summary.frames, silent));
                let _ = self.entities[id].kill();
            }
            GameMsg::Report(reply) => {
                // The end of the game: stop the tick and every watchdog.
                if let Some(tick) = self.tick.take() {
                    assert_eq!(tick.cancel(), CancelOutcome::Cancelled);
                }
                for watchdog in &mut self.watchdogs {
                    if let Some(timer) = watchdog.timer.take() {
                        let _ = timer.cancel();
                    }
                }
                let _ = reply.send(self.summary.clone());
            }
        }
    }
}

/// Spawns the game and its entities on `system` and starts the tick.
fn start<S: zeta::Scheduler + 'static>(
    system: &System<S>,
) -> (Address<Game>, Vec<Address<Entity>>) {
    let game = system.spawn(Game::new()).expect("spawn the game");
    let entities: Vec<_> = (0..ENTITIES)
        .map(|id| {
            system
                .spawn(Entity {
                    id,
                    game: game.clone(),
                    position: 0,
                })
                .expect("spawn an entity")
        })
        .collect();
    game.send(GameMsg::Start(entities.clone()))
        .unwrap_or_else(|_| panic!("the game is alive"));
    (game, entities)
}

/// The checks that hold on any clock; `Err` says what failed.
fn check(summary: &Summary, entities: &[Address<Entity>]) -> Result<(), String> {
    if summary.frames > 60 {
        return Err(format!(
            "{} frames in a second: a tick came early",
            summary.frames
        ));
    }
    if summary.frames < 30 {
        return Err(format!("only {} frames in a second", summary.frames));
    }
    for (id, &last) in summary.progress.iter().enumerate() {
        let expected = if id == STUCK {
            STUCK_AT - 1
        } else {
            summary.frames
        };
        // A healthy entity's report of the last frame may still be on its way.
        if last != expected && !(id != STUCK && last + 1 == expected) {
            return Err(format!(
                "entity {id} reported frame {last}, expected {expected}"
            ));
        }
    }
    match summary.hung.as_slice() {
        [(STUCK, _, silent)] if *silent >= WATCHDOG => {}
        other => return Err(format!("hung entities: {other:?}, expected entity {STUCK}")),
    }
    if entities[STUCK].is_alive() {
        return Err("the hung entity was not killed".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let system = System::sharing(2).expect("a scheduler with 2 workers");
    let started = Instant::now();
    let (game, entities) = start(&system);
    std::thread::sleep(Duration::from_secs(1).saturating_sub(started.elapsed()));
    let summary = game
        .ask(GameMsg::Report)
        .unwrap_or_else(|_| panic!("the game is alive"))
        .wait()
        .expect("the game answers");
    println!(
        "timers: {} frames in {:.3?}; entity {STUCK} declared hung after frame {} ({:.1?} without progress); {} stale timeouts ignored",
        summary.frames,
        started.elapsed(),
        summary.hung.first().map_or(0, |h| h.1),
        summary.hung.first().map_or(Duration::ZERO, |h| h.2),
        summary.stale_timeouts,
    );
    let result = check(&summary, &entities);
    drop((game, entities));
    system
        .shutdown(Duration::from_secs(10))
        .expect("everything stops");
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("timers: FAILED: {failure}");
            ExitCode::FAILURE
        }
    }
}

// Not under the loom cfg: the engine's atomics are loom's there, usable only in models.
#[cfg(all(test, not(zeta_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// One second of the game on virtual time.
    fn virtual_second(seed: u64) -> Summary {
        let system = System::new(
            Arc::new(zeta::ManualScheduler::with_seed(64, seed).unwrap()),
            Arc::new(zeta::arena::PoolResource::new()),
        );
        let scheduler = system.scheduler().clone();
        let (game, entities) = start(&system);
        scheduler.run_until_idle().unwrap();
        let real = Instant::now();
        scheduler.advance(Duration::from_secs(1)).unwrap();
        assert!(
            real.elapsed() < Duration::from_secs(1),
            "faster than real time"
        );
        let mut report = game.ask(GameMsg::Report).ok().unwrap();
        scheduler.run_until_idle().unwrap();
        let summary = report.try_take().unwrap().unwrap();
        check(&summary, &entities).unwrap();
        summary
    }

    #[test]
    fn a_second_of_game_on_virtual_time() {
        let summary = virtual_second(1);
        // Exactly: a tick at every 16.667 ms up to 1 s (the 60th at 1.00002 s is not
        // reached), and the stuck entity's watchdog, armed at its last progress (frame
        // 29), fires 100 ms later, between frames 34 and 35.
        assert_eq!(summary.frames, 59);
        assert_eq!(summary.progress[0], 59);
        let (id, frame, silent) = summary.hung[0];
        assert_eq!((id, frame, silent), (STUCK, 34, WATCHDOG));
        // The same seed, the same game; others too (the timers decide, not the order).
        for seed in [1, 2, 3] {
            assert_eq!(virtual_second(seed), summary);
        }
    }
}
