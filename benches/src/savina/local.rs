//! [`LocalRig`]: a case's set-up on local actors (`--local`), the counterpart of
//! [`Rig`](super::Rig) for a `LocalSystem`.
//!
//! The same memory (a `PoolResource`, counted with `--counted`), the same deadline, the
//! same methods under the same names (`spawn`, `meter`, `wait`, `tick`, `stop_actors`,
//! `finish`), so that a case's run compiles against either (the `savina` module doc).
//! What differs is the driver: a [`LocalSystem`] owned by the case's thread, which
//! [`wait`](LocalRig::wait), [`tick`](LocalRig::tick) and
//! [`stop_actors`](LocalRig::stop_actors) run until it is idle, as [`Rig`](super::Rig)
//! runs its `ManualScheduler` with `--manual`.
//!
//! # The checks at the end
//!
//! [`finish`](LocalRig::finish) checks what `Rig::finish` checks, by the means a local
//! system has:
//!
//! - **Nothing panicked.** `LocalSystem::run_until_idle` does not count the panics it
//!   catches (its `RunStats::panics` stays 0), so the rig counts them itself: a panic
//!   hook, installed once per process, counts every panic on the thread it happens on
//!   (before handing it to the previous hook, which prints it), and the rig compares the
//!   count of its own thread, the system's, before and after. A handler's or a hook's
//!   panic is caught by the system and counted here.
//! - **Nothing was left queued.** No actor is ready when the case is done; dropping the
//!   system would end a queued one with `SchedulerStopped`, as a stopping
//!   `ManualScheduler` cancels its queued jobs.
//! - **Every block went back.** Once the system's handle is dropped: with `--counted`,
//!   the pool's count of live blocks is 0; with a bare pool, nothing holds the pool's
//!   `Arc` but the rig. Every local cell and every reply slot holds the system's shared
//!   part, which holds the memory resource: one cell or slot never freed keeps it.

use std::cell::Cell;
use std::sync::Once;
use std::time::{Duration, Instant};

use zeta::arena::CountingStats;
use zeta::local::{LocalActor, LocalAddress, LocalFuture, LocalSystem};

use super::{timed_out, Config, Meter, Pool, Stoppable, MAX_THROUGHPUT};

thread_local! {
    /// Panics on this thread since the hook was installed.
    static PANICS: Cell<u64> = const { Cell::new(0) };
}

/// Installs, once per process, the hook that counts panics per thread ([`PANICS`]).
fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|panics| panics.set(panics.get() + 1));
            previous(info);
        }));
    });
}

/// Panics on this thread so far (once [`count_panics`] has run).
fn panics_here() -> u64 {
    PANICS.with(Cell::get)
}

/// A case's local system and memory, and its deadline: a [`LocalSystem`] driven by the
/// case's thread, with `max_throughput` [`MAX_THROUGHPUT`], whose actors and messages
/// live in a `PoolResource` (counted or bare, see [`set_counted`](super::set_counted)).
///
/// [`finish`](LocalRig::finish) checks that nothing panicked or was left queued, and
/// that every block went back to the pool (module doc).
pub struct LocalRig {
    system: LocalSystem,
    memory: Pool,
    limit: Duration,
    deadline: Instant,
    /// [`panics_here`] when the rig was made.
    panics: u64,
}

impl LocalRig {
    /// Builds the system, on an empty pool.
    pub fn new(config: &Config) -> Result<Self, String> {
        count_panics();
        let memory = Pool::new();
        let system = match &memory {
            Pool::Counted(pool) => LocalSystem::with_resource(MAX_THROUGHPUT, pool.clone()),
            Pool::Bare(pool) => LocalSystem::with_resource(MAX_THROUGHPUT, pool.clone()),
        }
        .map_err(|e| format!("local system: {e}"))?;
        let limit = config.time_limit();
        Ok(Self {
            system,
            memory,
            limit,
            deadline: Instant::now() + limit,
            panics: panics_here(),
        })
    }

    /// Spawns `actor` into the system (its cell from the pool).
    pub fn spawn<A: LocalActor>(&self, actor: A) -> Result<LocalAddress<A>, String> {
        self.system
            .spawn(actor)
            .map_err(|_| "spawn: the pool is out of memory".to_owned())
    }

    /// Starts the clock and the allocation counters of the measured region.
    pub fn meter(&self) -> Meter<'_> {
        Meter::start(&self.memory)
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// An `Err` saying that `what` did not happen before the deadline.
    pub fn timed_out(&self, what: &str) -> String {
        timed_out(what, self.limit)
    }

    /// Runs the system until `future`'s answer is there (until it is idle, then looks,
    /// as `Rig::wait` runs a `ManualScheduler`); an idle system with no answer is an
    /// `Err` (the answer can no longer come).
    ///
    /// Not `LocalFuture::wait`, which returns to its own loop after every actor's run
    /// (`LocalSystem::run_once`, then a look at the answer): on ping-pong that costs
    /// some 6 ns per round trip more than `run_until_idle` on this 2-core VM.
    pub fn wait<T>(&self, mut future: LocalFuture<T>, what: &str) -> Result<T, String> {
        loop {
            match future.try_take() {
                Some(Ok(answer)) => return Ok(answer),
                Some(Err(error)) => return Err(format!("{what}: the request failed: {error}")),
                None => {}
            }
            if self.expired() {
                return Err(self.timed_out(what));
            }
            if self.run()? == 0 && !future.is_ready() {
                return Err(format!("{what}: the system is idle and no answer came"));
            }
        }
    }

    /// The case's thread gives the actors a turn: runs the system until it is idle.
    pub fn tick(&self) -> Result<(), String> {
        self.run().map(drop)
    }

    /// Stops `actors` gracefully (each after the messages already queued to it) and runs
    /// the system until none of them is alive.
    pub fn stop_actors(&self, actors: &[&dyn Stoppable]) -> Result<(), String> {
        for actor in actors {
            actor.stop_actor()?;
        }
        while actors.iter().any(|actor| actor.alive()) {
            if self.expired() {
                return Err(self.timed_out("stopping the actors"));
            }
            if self.run()? == 0 && actors.iter().any(|actor| actor.alive()) {
                return Err("stopping the actors: the system is idle".to_owned());
            }
        }
        Ok(())
    }

    /// Runs the system until it is idle; returns how many actor runs it made.
    fn run(&self) -> Result<u64, String> {
        let stats = self
            .system
            .run_until_idle()
            .map_err(|e| format!("local system: {e}"))?;
        Ok(stats.resumes)
    }

    /// Checks that no handler panicked and no actor is left queued, drops the system,
    /// then checks that every block went back to the pool. Call it after dropping every
    /// address. Returns the pool's final counters (all 0 for a bare pool, see
    /// [`returned`](super::returned)).
    pub fn finish(self) -> Result<CountingStats, String> {
        let Self {
            system,
            memory,
            panics,
            ..
        } = self;
        let panics = panics_here() - panics;
        if panics != 0 {
            return Err(format!("{panics} panic(s) on the system's thread"));
        }
        let ready = system.ready();
        if ready != 0 {
            return Err(format!("{ready} actor(s) still queued at the end"));
        }
        drop(system);
        memory.check_returned("reference(s) (from a local cell, a reply slot or the system)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeta::local::LocalContext;

    /// Counts its messages; panics on `None`.
    struct Touchy(u64);

    impl LocalActor for Touchy {
        type Message = Option<u64>;

        fn handle(&mut self, message: Option<u64>, _ctx: &mut LocalContext<'_, Self>) {
            match message {
                Some(n) => self.0 += n,
                None => panic!("a `None` (this panic is the test's)"),
            }
        }
    }

    fn rig() -> LocalRig {
        LocalRig::new(&Config {
            scale: 0.01,
            workers: 0,
        })
        .expect("a rig")
    }

    #[test]
    fn a_clean_run_finishes() {
        let rig = rig();
        let actor = rig.spawn(Touchy(0)).expect("spawned");
        actor.send(Some(1)).expect("sent");
        rig.tick().expect("ran");
        assert_eq!(actor.handled(), 1);
        rig.stop_actors(&[&actor]).expect("stopped");
        drop(actor);
        rig.finish().expect("nothing wrong");
    }

    #[test]
    fn a_panic_in_a_handler_fails_the_finish() {
        let rig = rig();
        let actor = rig.spawn(Touchy(0)).expect("spawned");
        actor.send(None).expect("sent");
        rig.tick().expect("ran");
        assert!(!actor.is_alive(), "the panic ended the actor");
        drop(actor);
        let error = rig.finish().expect_err("a panic is a failure");
        assert!(error.contains("1 panic(s)"), "{error}");
    }

    #[test]
    fn an_actor_left_queued_fails_the_finish() {
        let rig = rig();
        let actor = rig.spawn(Touchy(0)).expect("spawned");
        actor.send(Some(1)).expect("sent");
        drop(actor);
        let error = rig.finish().expect_err("a queued actor is a failure");
        assert!(error.contains("1 actor(s) still queued"), "{error}");
    }

    #[test]
    fn a_cell_never_freed_fails_the_finish() {
        let rig = rig();
        let actor = rig.spawn(Touchy(0)).expect("spawned");
        std::mem::forget(actor.clone());
        rig.stop_actors(&[&actor]).expect("stopped");
        drop(actor);
        let error = rig.finish().expect_err("a leaked cell is a failure");
        assert!(error.contains("never went back to the pool"), "{error}");
    }
}
