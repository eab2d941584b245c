//! The game of `game_loop.rs` on local actors: 2,000 entities on a
//! [`LocalSystem`](zeta::local::LocalSystem) that share their world through
//! `Rc<RefCell<..>>`, run side by side with the same game on a [`ManualScheduler`], both
//! checked against a plain sequential simulation.
//!
//! # The design it shows
//!
//! - The same game as `game_loop.rs`: a ring of entities, each frame the main loop sends
//!   every entity `Update { frame, dt }` and gives the system `run_for(budget)` slices
//!   until the frame's messages have all been handled; some neighbouring pairs collide
//!   (a hash of the pair and the frame picks them) and each side sends the other a
//!   `Collision` with an impulse computed from its just-updated state; impulses are
//!   summed per frame and applied in the next frame's update, so the result depends on
//!   neither the order the actors run in nor how a frame is cut into slices. The physics
//!   and the bookkeeping are one `EntityCore`, shared by both versions, so both do the
//!   same work and send the same messages.
//! - The local version's entities are [`LocalActor`]s: their addresses are
//!   [`LocalAddress`]es (one word, a plain count), the query's reply a [`LocalReply`],
//!   the stop counter an `Rc<Cell<usize>>`, and the loop drives the system the way it
//!   drives the `ManualScheduler`: `run_for`, `run_once`, `run_until_idle`, and
//!   `LocalSystem::with_seed` for a seeded ready order.
//! - What the thread-safe version cannot have: the entities share a `World` through an
//!   `Rc<RefCell<World>>` (neither `Send` nor `Sync`). In its update, each entity writes
//!   its new body into the world's table (what a renderer would draw) and logs every
//!   collision it sends in the world's per-frame collision log (what sound or particles
//!   would read). Between frames the main loop reads both, as a renderer would, with no
//!   message and no lock. The borrow is held across the entity's sends: a local send
//!   only queues (no handler runs inside it), so no other handler can borrow the world
//!   meanwhile.
//! - Every entity and message node of each version lives in its own `PoolResource`
//!   (wrapped in a `CountingResource`); once the pool is warm a frame takes no new chunk.
//!
//! # What it checks (exit code 1 on the first failure)
//!
//! Four configurations, each run on both systems with the same seed and the same
//! slice: the ready order as scheduled with 1 ms slices; two seeds of the systems'
//! seeded order (`ManualScheduler::with_seed`, `LocalSystem::with_seed`), one with 1 ms
//! slices and one with 25 µs slices so that every frame needs several; and the order as
//! scheduled with the main loop sending each frame's updates in a seeded permutation.
//!
//! - For both: every frame's messages were all handled within that frame (the
//!   `RunStats::messages` of the frame's `run_for` calls add up to exactly N updates plus
//!   that frame's collisions, and `run_once` then finds nothing to run); after the last
//!   frame each entity's state, read with `ask` (run the system, then `try_take`),
//!   equals the sequential simulation's exactly; the seeded runs really change the
//!   order (of the frames where an entity got collisions from both neighbours, the
//!   right neighbour's came first in almost none in the order as scheduled, and must in
//!   a quarter to three quarters of them when seeded); the pool took no new chunk after
//!   the first frame, only the N actor cells are live after the frames, and nothing is
//!   live after every entity is stopped (each one's `on_stop` runs once) and every
//!   handle dropped. Both systems handled the same number of messages.
//! - For the local version, also every frame: the world's table holds, for every
//!   entity, the body the simulation has after that frame, written in that frame, and
//!   the world's collision log holds exactly the simulation's collisions of that frame
//!   (sorted, then compared: the order they were logged in is the run order). After the
//!   stop, the world's `Rc` is held by the main loop alone (every actor was dropped).
//!
//! # What it prints
//!
//! Per configuration, the messages per frame and the time each frame spent inside
//! `run_for` (p50/p99/max, measured with `Instant`, recorded into an HDR histogram made
//! before the first frame) on the `ManualScheduler` and on the `LocalSystem` side by
//! side, with the ratio local / manual; then, per system, the nanoseconds per message,
//! the frames that needed more than one `run_for`, and how often the right neighbour's
//! collision came first. The two versions run one after the
//! other, the `ManualScheduler` first; the local handlers do slightly more (the world's
//! writes and log).
//!
//! How to read the seeded rows: the two systems seed their order differently. The
//! `ManualScheduler` shuffles each batch of newly ready jobs once; the `LocalSystem`
//! draws every next actor from all the ready ones (a swap-remove from a vector of
//! them). Both cost O(1) per step, but the same seed gives each its own order. The
//! last configuration seeds the order another way (a FIFO system, the sends shuffled),
//! and compares the two message paths in the same mixed order.
//!
//! Run: `cargo run --release --example game_loop_local` (and `cargo test --example
//! game_loop_local` for a smaller game on the local system).

use std::cell::{Cell, RefCell};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use zeta::arena::{CountingResource, PoolResource};
use zeta::local::{LocalActor, LocalAddress, LocalContext, LocalReply, LocalSystem};
use zeta::scheduler::{RunStats, SchedulerError};
use zeta::{Actor, Address, Context, Future, ManualScheduler, Reply, StopReason, System};

/// The example's game.
const GAME: Game = Game {
    entities: 2_000,
    frames: 120,
};
/// About one neighbouring pair in this many collides each frame.
const COLLIDE_ONE_IN: u64 = 4;
const MAX_THROUGHPUT: usize = 64;
/// Positions stay within `-WORLD..=WORLD`; entities bounce off the walls.
const WORLD: i64 = 1_000_000_000;

/// The size of a game: the example's, or a test's smaller one.
#[derive(Clone, Copy, Debug)]
struct Game {
    /// At least 3, so that an entity's two neighbours differ.
    entities: usize,
    frames: u32,
}

impl Game {
    fn left_of(&self, id: usize) -> usize {
        (id + self.entities - 1) % self.entities
    }

    fn right_of(&self, id: usize) -> usize {
        (id + 1) % self.entities
    }
}

/// The frame's time step in microseconds: a fixed 60 Hz step with a deterministic
/// jitter, so that `dt` really travels in the message.
fn dt_us(frame: u32) -> i64 {
    16_000 + i64::from(frame * 7_919 % 1_334)
}

/// Whether the pair `(left, left + 1)` collides in `frame`: the first draw of a
/// generator seeded with both, the same on every run. The key is spread over the whole
/// word first (× an odd constant): seeds that differ only in their high bits give
/// correlated first draws, and neighbouring pairs would collide together less often.
fn pair_collides(left: usize, frame: u32) -> bool {
    let key = ((left as u64) << 32 | u64::from(frame)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    fastrand::Rng::with_seed(key).u64(..COLLIDE_ONE_IN) == 0
}

/// An entity's physics: integer units, so that the result is exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Body {
    /// Position, in units of `velocity × µs`.
    pos: i64,
    vel: i64,
}

impl Body {
    fn initial(id: usize) -> Self {
        let id = id as i64;
        Self {
            pos: (id * 1_000_003) % (2 * WORLD) - WORLD,
            vel: (id * 37) % 9_001 - 4_500,
        }
    }

    /// One frame: apply the impulses collected in the previous frame, move, bounce.
    fn step(&mut self, dt_us: i64, impulse: i64) {
        self.vel += impulse;
        self.pos += self.vel * dt_us;
        if self.pos > WORLD {
            self.pos = 2 * WORLD - self.pos;
            self.vel = -self.vel;
        } else if self.pos < -WORLD {
            self.pos = -2 * WORLD - self.pos;
            self.vel = -self.vel;
        }
    }

    /// The impulse this body gives its right neighbour in a collision (the left one
    /// gets the opposite).
    fn impulse(&self) -> i64 {
        (self.pos / 1_000).rem_euclid(41) - 20
    }
}

/// What an entity reports when asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Snapshot {
    body: Body,
    updates: u32,
    collisions: u32,
    /// Updates that did not come in frame order, and collisions from a frame other than
    /// the current or the previous one: must stay 0.
    out_of_order: u32,
    /// Collisions this entity could not deliver: must stay 0.
    undelivered: u32,
}

/// Arrival-order statistics: they depend on the run order, so they are not compared
/// with the simulation; they show that the seeded order really changed the order.
#[derive(Clone, Copy, Debug, Default)]
struct Arrivals {
    /// Frames in which this entity got collisions from both neighbours.
    two_sided: u32,
    /// Of those, the frames where the right neighbour's came first.
    right_first: u32,
}

impl Arrivals {
    fn add(&mut self, other: Arrivals) {
        self.two_sided += other.two_sided;
        self.right_first += other.right_first;
    }
}

/// One collision as the local world's log holds it (and the simulation lists it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct CollisionEvent {
    frame: u32,
    from: usize,
    to: usize,
    impulse: i64,
}

/// The collisions an update sends: the impulse for each neighbour that collides.
struct Outgoing {
    to_right: Option<i64>,
    to_left: Option<i64>,
}

/// An entity's state and rules, the same in both versions; the actors around it only
/// carry the messages.
struct EntityCore {
    id: usize,
    game: Game,
    body: Body,
    /// Impulses received, by the parity of the frame they happened in: the update of
    /// frame `f` applies (and clears) slot `(f - 1) % 2`, collisions of frame `f` add to
    /// slot `f % 2`.
    impulses: [i64; 2],
    next_frame: u32,
    updates: u32,
    collisions: u32,
    out_of_order: u32,
    undelivered: u32,
    /// The frame and side of the last collision received.
    last_collision: Option<(u32, bool)>,
    arrivals: Arrivals,
}

impl EntityCore {
    fn new(id: usize, game: Game) -> Self {
        Self {
            id,
            game,
            body: Body::initial(id),
            impulses: [0; 2],
            next_frame: 0,
            updates: 0,
            collisions: 0,
            out_of_order: 0,
            undelivered: 0,
            last_collision: None,
            arrivals: Arrivals::default(),
        }
    }

    /// The update of `frame`: applies the previous frame's impulses, moves, and says
    /// which collisions to send.
    fn update(&mut self, frame: u32, dt_us: i64) -> Outgoing {
        // Per-sender FIFO: the main loop's updates come in frame order.
        if frame != self.next_frame {
            self.out_of_order += 1;
        }
        self.next_frame = frame + 1;
        self.updates += 1;
        let previous = ((frame + 1) % 2) as usize;
        let impulse = core::mem::take(&mut self.impulses[previous]);
        self.body.step(dt_us, impulse);
        let impulse = self.body.impulse();
        Outgoing {
            to_right: pair_collides(self.id, frame).then_some(impulse),
            to_left: pair_collides(self.game.left_of(self.id), frame).then_some(-impulse),
        }
    }

    fn collision(&mut self, frame: u32, impulse: i64, from_right: bool) {
        // Before or after our own update of `frame`, never from another frame.
        if frame != self.next_frame && frame + 1 != self.next_frame {
            self.out_of_order += 1;
        }
        if let Some((last_frame, last_from_right)) = self.last_collision {
            if last_frame == frame {
                self.arrivals.two_sided += 1;
                self.arrivals.right_first += u32::from(last_from_right);
            }
        }
        self.last_collision = Some((frame, from_right));
        self.impulses[(frame % 2) as usize] += impulse;
        self.collisions += 1;
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            body: self.body,
            updates: self.updates,
            collisions: self.collisions,
            out_of_order: self.out_of_order,
            undelivered: self.undelivered,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The thread-safe version: `game_loop.rs`'s entity on a ManualScheduler.
// ---------------------------------------------------------------------------------------

enum EntityMsg {
    /// The neighbours, sent once before the first frame.
    Link {
        left: Address<Entity>,
        right: Address<Entity>,
    },
    Update {
        frame: u32,
        dt_us: i64,
    },
    Collision {
        frame: u32,
        impulse: i64,
        from_right: bool,
    },
    Query(Reply<(Snapshot, Arrivals)>),
}

struct Entity {
    core: EntityCore,
    /// Left, right.
    neighbours: Option<(Address<Entity>, Address<Entity>)>,
    stopped: Arc<AtomicUsize>,
}

fn collide(core: &mut EntityCore, to: Option<&Address<Entity>>, message: EntityMsg) {
    if !matches!(to.map(|n| n.send(message)), Some(Ok(()))) {
        core.undelivered += 1;
    }
}

impl Actor for Entity {
    type Message = EntityMsg;

    fn handle(&mut self, message: EntityMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            EntityMsg::Link { left, right } => self.neighbours = Some((left, right)),
            EntityMsg::Update { frame, dt_us } => {
                let out = self.core.update(frame, dt_us);
                let (left, right) = match &self.neighbours {
                    Some((left, right)) => (Some(left), Some(right)),
                    None => (None, None),
                };
                if let Some(impulse) = out.to_right {
                    let message = EntityMsg::Collision {
                        frame,
                        impulse,
                        from_right: false,
                    };
                    collide(&mut self.core, right, message);
                }
                if let Some(impulse) = out.to_left {
                    let message = EntityMsg::Collision {
                        frame,
                        impulse,
                        from_right: true,
                    };
                    collide(&mut self.core, left, message);
                }
            }
            EntityMsg::Collision {
                frame,
                impulse,
                from_right,
            } => self.core.collision(frame, impulse, from_right),
            EntityMsg::Query(reply) => {
                let _ = reply.send((self.core.snapshot(), self.core.arrivals));
            }
        }
    }

    fn on_stop(&mut self, reason: StopReason) {
        if reason == StopReason::Stopped {
            self.stopped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The local version: the same entity as a LocalActor, with a world shared by `Rc`.
// ---------------------------------------------------------------------------------------

/// What the local entities share: written by them during a frame, read by the main loop
/// between frames.
struct World {
    /// Each entity's body after its latest update (what a renderer would draw).
    bodies: Vec<Body>,
    /// The frame of each entity's latest update (`u32::MAX` before the first).
    written: Vec<u32>,
    /// The collisions sent this frame, logged by their senders in the order they ran;
    /// the main loop reads and clears it after each frame.
    collisions: Vec<CollisionEvent>,
}

impl World {
    fn new(game: Game) -> Self {
        Self {
            bodies: (0..game.entities).map(Body::initial).collect(),
            written: vec![u32::MAX; game.entities],
            // Room for every pair colliding on both sides: the log never grows.
            collisions: Vec::with_capacity(2 * game.entities),
        }
    }
}

enum LocalMsg {
    /// The neighbours, sent once before the first frame.
    Link {
        left: LocalAddress<LocalEntity>,
        right: LocalAddress<LocalEntity>,
    },
    Update {
        frame: u32,
        dt_us: i64,
    },
    Collision {
        frame: u32,
        impulse: i64,
        from_right: bool,
    },
    Query(LocalReply<(Snapshot, Arrivals)>),
}

struct LocalEntity {
    core: EntityCore,
    /// Left, right.
    neighbours: Option<(LocalAddress<LocalEntity>, LocalAddress<LocalEntity>)>,
    world: Rc<RefCell<World>>,
    stopped: Rc<Cell<usize>>,
}

fn collide_local(core: &mut EntityCore, to: Option<&LocalAddress<LocalEntity>>, message: LocalMsg) {
    if !matches!(to.map(|n| n.send(message)), Some(Ok(()))) {
        core.undelivered += 1;
    }
}

impl LocalActor for LocalEntity {
    type Message = LocalMsg;

    fn handle(&mut self, message: LocalMsg, _ctx: &mut LocalContext<'_, Self>) {
        match message {
            LocalMsg::Link { left, right } => self.neighbours = Some((left, right)),
            LocalMsg::Update { frame, dt_us } => {
                let out = self.core.update(frame, dt_us);
                let id = self.core.id;
                let game = self.core.game;
                // Held across the sends below: a local send only queues.
                let mut world = self.world.borrow_mut();
                world.bodies[id] = self.core.body;
                world.written[id] = frame;
                let (left, right) = match &self.neighbours {
                    Some((left, right)) => (Some(left), Some(right)),
                    None => (None, None),
                };
                if let Some(impulse) = out.to_right {
                    world.collisions.push(CollisionEvent {
                        frame,
                        from: id,
                        to: game.right_of(id),
                        impulse,
                    });
                    let message = LocalMsg::Collision {
                        frame,
                        impulse,
                        from_right: false,
                    };
                    collide_local(&mut self.core, right, message);
                }
                if let Some(impulse) = out.to_left {
                    world.collisions.push(CollisionEvent {
                        frame,
                        from: id,
                        to: game.left_of(id),
                        impulse,
                    });
                    let message = LocalMsg::Collision {
                        frame,
                        impulse,
                        from_right: true,
                    };
                    collide_local(&mut self.core, left, message);
                }
            }
            LocalMsg::Collision {
                frame,
                impulse,
                from_right,
            } => self.core.collision(frame, impulse, from_right),
            LocalMsg::Query(reply) => {
                let _ = reply.send((self.core.snapshot(), self.core.arrivals));
            }
        }
    }

    fn on_stop(&mut self, reason: StopReason) {
        if reason == StopReason::Stopped {
            self.stopped.set(self.stopped.get() + 1);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The sequential simulation: the expected result.
// ---------------------------------------------------------------------------------------

/// The same world, simulated by a plain loop, one frame at a time.
struct Simulation {
    game: Game,
    bodies: Vec<Body>,
    /// Impulses to apply in the next frame.
    pending: Vec<i64>,
    next: Vec<i64>,
    collisions: Vec<u32>,
}

impl Simulation {
    fn new(game: Game) -> Self {
        Self {
            game,
            bodies: (0..game.entities).map(Body::initial).collect(),
            pending: vec![0; game.entities],
            next: vec![0; game.entities],
            collisions: vec![0; game.entities],
        }
    }

    /// Simulates `frame`; `log` gets the frame's collisions, sorted.
    fn frame(&mut self, frame: u32, log: &mut Vec<CollisionEvent>) {
        let game = self.game;
        log.clear();
        self.next.fill(0);
        for id in 0..game.entities {
            self.bodies[id].step(dt_us(frame), self.pending[id]);
            let impulse = self.bodies[id].impulse();
            if pair_collides(id, frame) {
                let to = game.right_of(id);
                self.next[to] += impulse;
                self.collisions[to] += 1;
                log.push(CollisionEvent {
                    frame,
                    from: id,
                    to,
                    impulse,
                });
            }
            if pair_collides(game.left_of(id), frame) {
                let to = game.left_of(id);
                self.next[to] -= impulse;
                self.collisions[to] += 1;
                log.push(CollisionEvent {
                    frame,
                    from: id,
                    to,
                    impulse: -impulse,
                });
            }
        }
        core::mem::swap(&mut self.pending, &mut self.next);
        log.sort_unstable();
    }

    /// The entities' states after `frames` frames.
    fn snapshots(&self, frames: u32) -> Vec<Snapshot> {
        self.bodies
            .iter()
            .zip(&self.collisions)
            .map(|(&body, &collisions)| Snapshot {
                body,
                updates: frames,
                collisions,
                out_of_order: 0,
                undelivered: 0,
            })
            .collect()
    }
}

/// The whole game, simulated: the final states and the collisions of each frame.
struct Reference {
    snapshots: Vec<Snapshot>,
    collisions_per_frame: Vec<u64>,
}

fn simulate(game: Game) -> Reference {
    let mut simulation = Simulation::new(game);
    let mut log = Vec::new();
    let mut collisions_per_frame = Vec::with_capacity(game.frames as usize);
    for frame in 0..game.frames {
        simulation.frame(frame, &mut log);
        collisions_per_frame.push(log.len() as u64);
    }
    Reference {
        snapshots: simulation.snapshots(game.frames),
        collisions_per_frame,
    }
}

// ---------------------------------------------------------------------------------------
// The frame loop and the checks, for both versions.
// ---------------------------------------------------------------------------------------

/// One run's configuration.
#[derive(Clone, Copy)]
struct Config {
    name: &'static str,
    /// The system's seed (`with_seed`): a seeded ready order.
    seed: Option<u64>,
    /// A seed for the order the main loop sends each frame's updates in (a new seeded
    /// permutation every frame); `None`: in id order.
    send_seed: Option<u64>,
    budget: Duration,
}

impl Config {
    /// Whether the run order is seeded, by the system or by the sends.
    fn seeded(&self) -> bool {
        self.seed.is_some() || self.send_seed.is_some()
    }
}

/// The order the main loop sends a frame's updates in.
struct SendOrder {
    ids: Vec<usize>,
    /// The seeded generator, if the order is shuffled.
    rng: Option<fastrand::Rng>,
}

impl SendOrder {
    fn new(game: Game, config: &Config) -> Self {
        Self {
            ids: (0..game.entities).collect(),
            rng: config.send_seed.map(fastrand::Rng::with_seed),
        }
    }

    /// The next frame's order.
    fn next_frame(&mut self) -> &[usize] {
        if let Some(rng) = &mut self.rng {
            rng.shuffle(&mut self.ids);
        }
        &self.ids
    }
}

/// What one run measured.
struct Measured {
    /// Time spent inside `run_for`, per frame, in ns ([`frame_histogram`]).
    frame_times: Histogram<u64>,
    /// Time spent inside `run_for`, over every frame.
    time_inside: Duration,
    /// Frames that needed more than one `run_for` call.
    sliced_frames: usize,
    run_for_calls: usize,
    messages_min: u64,
    messages_max: u64,
    messages_total: u64,
    arrivals: Arrivals,
}

impl Measured {
    fn new() -> Self {
        Self {
            frame_times: frame_histogram(),
            time_inside: Duration::ZERO,
            sliced_frames: 0,
            run_for_calls: 0,
            messages_min: u64::MAX,
            messages_max: 0,
            messages_total: 0,
            arrivals: Arrivals::default(),
        }
    }
}

/// Runs one frame's messages with `run_for(budget)` slices until all `expected` are
/// handled, then checks with `run_once` that nothing is left; records the frame.
fn run_frame(
    frame: u32,
    expected: u64,
    budget: Duration,
    measured: &mut Measured,
    mut run_for: impl FnMut(Duration) -> Result<RunStats, SchedulerError>,
    run_once: impl FnOnce() -> Result<bool, SchedulerError>,
) -> Result<(), String> {
    let mut handled = 0;
    let mut calls = 0;
    let mut spent = Duration::ZERO;
    while handled < expected {
        let start = Instant::now();
        let stats = run_for(budget).map_err(|e| e.to_string())?;
        spent += start.elapsed();
        calls += 1;
        handled += stats.messages;
        if stats.resumes == 0 {
            return Err(format!(
                "frame {frame}: nothing left to run after {handled} of {expected} messages"
            ));
        }
    }
    if handled != expected {
        return Err(format!(
            "frame {frame}: {handled} messages handled, expected {expected}"
        ));
    }
    // The frame is over: nothing may be left to run.
    if run_once().map_err(|e| e.to_string())? {
        return Err(format!("frame {frame}: work left after the frame"));
    }
    record_frame(measured, frame, spent)?;
    measured.run_for_calls += calls;
    if calls > 1 {
        measured.sliced_frames += 1;
    }
    measured.messages_min = measured.messages_min.min(handled);
    measured.messages_max = measured.messages_max.max(handled);
    measured.messages_total += handled;
    Ok(())
}

/// Compares a run's final snapshot of entity `id` with the simulation's.
fn check_snapshot(id: usize, snapshot: &Snapshot, reference: &Reference) -> Result<(), String> {
    let expected = &reference.snapshots[id];
    if snapshot != expected {
        return Err(format!(
            "entity {id}: {snapshot:?}, the sequential simulation says {expected:?}"
        ));
    }
    Ok(())
}

/// In a seeded run, the arrival order must really be mixed: in the order as scheduled the
/// right neighbour's collision almost never comes first (it ran after the left one); in
/// a seeded order it must come first in a quarter to three quarters of the two-sided
/// frames (about half, if the order is fair).
fn check_mixed(config: &Config, arrivals: Arrivals) -> Result<(), String> {
    let Arrivals {
        two_sided,
        right_first,
    } = arrivals;
    if config.seeded()
        && (two_sided == 0 || 4 * right_first < two_sided || 4 * right_first > 3 * two_sided)
    {
        return Err(format!(
            "the seeded order did not mix the orders: the right neighbour's collision came \
             first in {right_first} of {two_sided} two-sided frames"
        ));
    }
    Ok(())
}

/// The game on a `ManualScheduler` (as `game_loop.rs`).
fn run_manual(game: Game, config: &Config, reference: &Reference) -> Result<Measured, String> {
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = match config.seed {
        Some(seed) => ManualScheduler::with_seed(MAX_THROUGHPUT, seed),
        None => ManualScheduler::new(MAX_THROUGHPUT),
    }
    .map_err(|e| format!("scheduler: {e}"))?;
    let scheduler = Arc::new(scheduler);
    let system = System::new(scheduler.clone(), memory.clone());
    let stopped = Arc::new(AtomicUsize::new(0));

    let mut entities = Vec::with_capacity(game.entities);
    for id in 0..game.entities {
        let entity = Entity {
            core: EntityCore::new(id, game),
            neighbours: None,
            stopped: stopped.clone(),
        };
        let entity = system
            .spawn(entity)
            .map_err(|e| format!("spawn {id}: {e}"))?;
        entities.push(entity);
    }
    for (id, entity) in entities.iter().enumerate() {
        let link = EntityMsg::Link {
            left: entities[game.left_of(id)].clone(),
            right: entities[game.right_of(id)].clone(),
        };
        entity.send(link).map_err(|e| format!("link {id}: {e}"))?;
    }
    let linked = scheduler.run_until_idle().map_err(|e| e.to_string())?;
    if linked.messages != game.entities as u64 {
        return Err(format!(
            "{} of {} links handled",
            linked.messages, game.entities
        ));
    }

    let mut order = SendOrder::new(game, config);
    let mut measured = Measured::new();
    let mut warm_chunks = 0;
    for frame in 0..game.frames {
        let dt_us = dt_us(frame);
        for &id in order.next_frame() {
            entities[id]
                .send(EntityMsg::Update { frame, dt_us })
                .map_err(|e| format!("frame {frame}: update to {id}: {e}"))?;
        }
        let expected = game.entities as u64 + reference.collisions_per_frame[frame as usize];
        run_frame(
            frame,
            expected,
            config.budget,
            &mut measured,
            |budget| scheduler.run_for(budget),
            || scheduler.run_once(),
        )?;
        if frame == 0 {
            warm_chunks = memory.inner().chunk_count();
        }
    }
    let chunks = memory.inner().chunk_count();
    if chunks != warm_chunks {
        return Err(format!(
            "the pool grew from {warm_chunks} to {chunks} chunks after the first frame"
        ));
    }

    // Read every entity's state: run the scheduler, then `try_take` (never `wait()`
    // here: this thread is the only one that runs handlers; `game_loop.rs` says more).
    let mut futures: Vec<Future<(Snapshot, Arrivals)>> = Vec::with_capacity(game.entities);
    for (id, entity) in entities.iter().enumerate() {
        let future = entity
            .ask(EntityMsg::Query)
            .map_err(|e| format!("query {id}: {e}"))?;
        futures.push(future);
    }
    let queried = scheduler.run_until_idle().map_err(|e| e.to_string())?;
    if queried.messages != game.entities as u64 {
        return Err(format!(
            "{} of {} queries handled",
            queried.messages, game.entities
        ));
    }
    for (id, mut future) in futures.into_iter().enumerate() {
        let (snapshot, arrivals) = match future.try_take() {
            Some(Ok(answer)) => answer,
            Some(Err(e)) => return Err(format!("entity {id}: query failed: {e}")),
            None => return Err(format!("entity {id}: no answer after run_until_idle")),
        };
        check_snapshot(id, &snapshot, reference)?;
        measured.arrivals.add(arrivals);
    }
    check_mixed(config, measured.arrivals)?;
    if memory.live_blocks() != game.entities {
        return Err(format!(
            "{} blocks live after the frames, expected the {} actor cells",
            memory.live_blocks(),
            game.entities
        ));
    }

    // Graceful stop: each entity drops its neighbours' addresses as it ends, which
    // breaks the ring of addresses; then ours go, and every cell returns to the pool.
    for (id, entity) in entities.iter().enumerate() {
        entity.stop().map_err(|e| format!("stop {id}: {e}"))?;
    }
    scheduler.run_until_idle().map_err(|e| e.to_string())?;
    if stopped.load(Ordering::Relaxed) != game.entities {
        return Err(format!(
            "{} of {} entities ran on_stop(Stopped)",
            stopped.load(Ordering::Relaxed),
            game.entities
        ));
    }
    drop(entities);
    drop(system);
    if memory.live_blocks() != 0 {
        return Err(format!("{} blocks leaked", memory.live_blocks()));
    }
    Ok(measured)
}

/// The game on a `LocalSystem`, with the world checked against the simulation after
/// every frame.
fn run_local(game: Game, config: &Config, reference: &Reference) -> Result<Measured, String> {
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let system = match config.seed {
        Some(seed) => LocalSystem::with_seed(MAX_THROUGHPUT, memory.clone(), seed),
        None => LocalSystem::with_resource(MAX_THROUGHPUT, memory.clone()),
    }
    .map_err(|e| format!("local system: {e}"))?;
    let world = Rc::new(RefCell::new(World::new(game)));
    let stopped = Rc::new(Cell::new(0));

    let mut entities = Vec::with_capacity(game.entities);
    for id in 0..game.entities {
        let entity = LocalEntity {
            core: EntityCore::new(id, game),
            neighbours: None,
            world: world.clone(),
            stopped: stopped.clone(),
        };
        let entity = system
            .spawn(entity)
            .map_err(|e| format!("spawn {id}: {e}"))?;
        entities.push(entity);
    }
    for (id, entity) in entities.iter().enumerate() {
        let link = LocalMsg::Link {
            left: entities[game.left_of(id)].clone(),
            right: entities[game.right_of(id)].clone(),
        };
        entity.send(link).map_err(|e| format!("link {id}: {e}"))?;
    }
    let linked = system.run_until_idle().map_err(|e| e.to_string())?;
    if linked.messages != game.entities as u64 {
        return Err(format!(
            "{} of {} links handled",
            linked.messages, game.entities
        ));
    }

    // The simulation, a frame at a time alongside, for the world's per-frame check.
    let mut simulation = Simulation::new(game);
    let mut expected_log = Vec::with_capacity(2 * game.entities);
    let mut order = SendOrder::new(game, config);
    let mut measured = Measured::new();
    let mut warm_chunks = 0;
    for frame in 0..game.frames {
        let dt_us = dt_us(frame);
        for &id in order.next_frame() {
            entities[id]
                .send(LocalMsg::Update { frame, dt_us })
                .map_err(|e| format!("frame {frame}: update to {id}: {e}"))?;
        }
        let expected = game.entities as u64 + reference.collisions_per_frame[frame as usize];
        run_frame(
            frame,
            expected,
            config.budget,
            &mut measured,
            |budget| system.run_for(budget),
            || system.run_once(),
        )?;
        if frame == 0 {
            warm_chunks = memory.inner().chunk_count();
        }

        // What a renderer would read between frames: the world, with no message.
        simulation.frame(frame, &mut expected_log);
        let mut world = world.borrow_mut();
        for id in 0..game.entities {
            if world.written[id] != frame || world.bodies[id] != simulation.bodies[id] {
                return Err(format!(
                    "frame {frame}: the world has entity {id} at {:?} written in frame {}, \
                     the sequential simulation says {:?}",
                    world.bodies[id], world.written[id], simulation.bodies[id]
                ));
            }
        }
        world.collisions.sort_unstable();
        if world.collisions != expected_log {
            let at = (world.collisions.iter())
                .zip(&expected_log)
                .position(|(logged, expected)| logged != expected)
                .unwrap_or(world.collisions.len().min(expected_log.len()));
            return Err(format!(
                "frame {frame}: the world's collision log has {} entries, the sequential \
                 simulation {}; sorted, they differ first at {at}: {:?} logged, {:?} expected",
                world.collisions.len(),
                expected_log.len(),
                world.collisions.get(at),
                expected_log.get(at)
            ));
        }
        world.collisions.clear();
    }
    let chunks = memory.inner().chunk_count();
    if chunks != warm_chunks {
        return Err(format!(
            "the pool grew from {warm_chunks} to {chunks} chunks after the first frame"
        ));
    }

    // Read every entity's state: run the system, then `try_take` (`wait` would do it
    // too, one request at a time: the loop of a local system is this thread's).
    let mut futures = Vec::with_capacity(game.entities);
    for (id, entity) in entities.iter().enumerate() {
        let future = entity
            .ask(LocalMsg::Query)
            .map_err(|e| format!("query {id}: {e}"))?;
        futures.push(future);
    }
    let queried = system.run_until_idle().map_err(|e| e.to_string())?;
    if queried.messages != game.entities as u64 {
        return Err(format!(
            "{} of {} queries handled",
            queried.messages, game.entities
        ));
    }
    for (id, mut future) in futures.into_iter().enumerate() {
        let (snapshot, arrivals) = match future.try_take() {
            Some(Ok(answer)) => answer,
            Some(Err(e)) => return Err(format!("entity {id}: query failed: {e}")),
            None => return Err(format!("entity {id}: no answer after run_until_idle")),
        };
        check_snapshot(id, &snapshot, reference)?;
        measured.arrivals.add(arrivals);
    }
    check_mixed(config, measured.arrivals)?;
    if memory.live_blocks() != game.entities {
        return Err(format!(
            "{} blocks live after the frames, expected the {} actor cells",
            memory.live_blocks(),
            game.entities
        ));
    }

    // Graceful stop, as on the ManualScheduler: the ring of addresses breaks as the
    // entities end, then ours go.
    for (id, entity) in entities.iter().enumerate() {
        entity.stop().map_err(|e| format!("stop {id}: {e}"))?;
    }
    system.run_until_idle().map_err(|e| e.to_string())?;
    if stopped.get() != game.entities {
        return Err(format!(
            "{} of {} entities ran on_stop(Stopped)",
            stopped.get(),
            game.entities
        ));
    }
    drop(entities);
    drop(system);
    if memory.live_blocks() != 0 {
        return Err(format!("{} blocks leaked", memory.live_blocks()));
    }
    if Rc::strong_count(&world) != 1 {
        return Err(format!(
            "{} holders of the world left besides the main loop",
            Rc::strong_count(&world) - 1
        ));
    }
    Ok(measured)
}

// ---------------------------------------------------------------------------------------
// The report.
// ---------------------------------------------------------------------------------------

/// The longest frame time the histograms hold, in ns: a minute.
const FRAME_TIME_HIGHEST_NS: u64 = 60_000_000_000;

/// An empty histogram of frame times in ns: 1 ns to [`FRAME_TIME_HIGHEST_NS`], 3
/// significant digits (a percentile is the frame time to within 0.1 %). Its counts for
/// the whole range are made here, before the first frame (some 200 KiB), and it never
/// resizes: recording adds to a count and allocates nothing.
fn frame_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, FRAME_TIME_HIGHEST_NS, 3).expect("valid bounds")
}

/// Records a frame's time inside `run_for`.
fn record_frame(measured: &mut Measured, frame: u32, spent: Duration) -> Result<(), String> {
    let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
    measured.frame_times.record(nanos).map_err(|_| {
        format!("frame {frame}: {spent:?} inside run_for, beyond the histogram's range")
    })?;
    measured.time_inside += spent;
    Ok(())
}

/// The nearest-rank percentile of the recorded frame times.
fn percentile(times: &Histogram<u64>, p: f64) -> Duration {
    Duration::from_nanos(times.value_at_quantile(p))
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A run's frame times: p50, p99, max.
fn quantiles(measured: &Measured) -> [Duration; 3] {
    let times = &measured.frame_times;
    [
        percentile(times, 0.50),
        percentile(times, 0.99),
        Duration::from_nanos(times.max()),
    ]
}

fn ratio(local: Duration, manual: Duration) -> f64 {
    local.as_secs_f64() / manual.as_secs_f64()
}

fn details(system: &str, measured: &Measured, wall: Duration) -> String {
    let inside = measured.time_inside;
    format!(
        "  {system}: {:.1} ns/message inside run_for, {} frames needing >1 run_for ({} \
         calls), right neighbour's collision first in {}/{} two-sided, whole run with setup \
         and checks {:.1} ms",
        inside.as_nanos() as f64 / measured.messages_total as f64,
        measured.sliced_frames,
        measured.run_for_calls,
        measured.arrivals.right_first,
        measured.arrivals.two_sided,
        wall.as_secs_f64() * 1e3
    )
}

fn main_checked() -> Result<(), String> {
    let game = GAME;
    let reference = simulate(game);
    let configs = [
        Config {
            name: "ready order as scheduled",
            seed: None,
            send_seed: None,
            budget: Duration::from_millis(1),
        },
        Config {
            name: "seeded, seed 0x5eed",
            seed: Some(0x5eed),
            send_seed: None,
            budget: Duration::from_millis(1),
        },
        Config {
            name: "seeded, seed 42",
            seed: Some(42),
            send_seed: None,
            budget: Duration::from_micros(25),
        },
        Config {
            name: "as scheduled, sends shuffled, seed 0x5eed",
            seed: None,
            send_seed: Some(0x5eed),
            budget: Duration::from_millis(1),
        },
    ];
    println!(
        "game_loop_local: {} entity actors in a pool, {} frames, about 1 neighbouring pair in \
         {COLLIDE_ONE_IN} colliding each frame, max_throughput {MAX_THROUGHPUT}; each run on \
         a ManualScheduler, then on a LocalSystem with the world in an Rc<RefCell<..>>",
        game.entities, game.frames
    );
    println!(
        "| run | run_for budget | messages/frame | frame time p50 manual / local | ratio | \
         p99 manual / local | ratio | max manual / local | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for config in &configs {
        let started = Instant::now();
        let manual = run_manual(game, config, &reference)
            .map_err(|e| format!("{}, ManualScheduler: {e}", config.name))?;
        let manual_wall = started.elapsed();
        let started = Instant::now();
        let local = run_local(game, config, &reference)
            .map_err(|e| format!("{}, LocalSystem: {e}", config.name))?;
        let local_wall = started.elapsed();
        if (
            manual.messages_min,
            manual.messages_max,
            manual.messages_total,
        ) != (local.messages_min, local.messages_max, local.messages_total)
        {
            return Err(format!(
                "{}: the two systems handled different numbers of messages",
                config.name
            ));
        }
        let m = quantiles(&manual);
        let l = quantiles(&local);
        println!(
            "| {} | {:.0} µs | {}..{} | {:.1} / {:.1} µs | {:.2} | {:.1} / {:.1} µs | {:.2} | \
             {:.1} / {:.1} µs | {:.2} |",
            config.name,
            micros(config.budget),
            local.messages_min,
            local.messages_max,
            micros(m[0]),
            micros(l[0]),
            ratio(l[0], m[0]),
            micros(m[1]),
            micros(l[1]),
            ratio(l[1], m[1]),
            micros(m[2]),
            micros(l[2]),
            ratio(l[2], m[2]),
        );
        println!("{}", details("manual", &manual, manual_wall));
        println!("{}", details("local ", &local, local_wall));
    }
    println!(
        "ok: in all {} runs on both systems every frame's messages were handled within the \
         frame, all {} entity states equal the sequential simulation exactly, the pool did \
         not grow after frame 0, and nothing leaked; on the local system the shared world \
         matched the simulation after every frame",
        configs.len(),
        game.entities
    );
    Ok(())
}

fn main() -> ExitCode {
    match main_checked() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("game_loop_local FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

// Not under the loom cfg: the engine's atomics are loom's there, usable only in models.
#[cfg(all(test, not(zeta_loom)))]
mod tests {
    use super::*;

    const SMALL: Game = Game {
        entities: 64,
        frames: 24,
    };

    #[test]
    fn a_small_game_on_local_actors_matches_the_simulation() {
        let reference = simulate(SMALL);
        for (seed, budget) in [
            (None, Duration::from_millis(10)),
            (Some(7), Duration::from_millis(10)),
            (Some(42), Duration::from_micros(1)),
        ] {
            let config = Config {
                name: "test",
                seed,
                send_seed: None,
                budget,
            };
            let measured = run_local(SMALL, &config, &reference).unwrap();
            let expected: u64 = reference
                .collisions_per_frame
                .iter()
                .map(|collisions| SMALL.entities as u64 + collisions)
                .sum();
            assert_eq!(measured.messages_total, expected);
            assert_eq!(measured.frame_times.len(), u64::from(SMALL.frames));
            assert!(measured.time_inside > Duration::ZERO);
        }
    }
}
