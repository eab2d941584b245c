//! A game loop on a [`ManualScheduler`]: 2,000 entity actors, ticked once a frame
//! within a time budget, checked against a plain sequential simulation.
//!
//! # The design it shows
//!
//! - The scheduler has no threads: the main loop *is* the scheduler's thread. Each frame
//!   it sends every entity `Update { frame, dt }`, then gives the scheduler time slices
//!   with `run_for(budget)` until the frame's messages have all been handled. A frame
//!   that needs more than one slice is where a real game would render or poll input
//!   between slices.
//! - Every entity lives in one `PoolResource` (wrapped in a `CountingResource` to watch
//!   it): the actor cells and every message node come from the pool, and once the pool is
//!   warm a frame takes no new memory from the global allocator.
//! - Entities talk to each other inside a frame. The entities form a ring; each frame
//!   some neighbouring pairs `(i, i + 1)` collide (a hash of the pair and the frame picks
//!   them), and while handling its update each side of a pair sends the other a
//!   `Collision` carrying an impulse computed from its own, just updated, state. An
//!   entity can so receive two collisions in one frame, one from each neighbour, and
//!   which comes first depends on which neighbour the scheduler ran first.
//! - The state update does not depend on that order, nor on how a frame is cut into
//!   `run_for` slices. Impulses are summed (commutative), into an accumulator for the
//!   frame they happened in, and the receiver applies frame `f`'s sum in its update of
//!   frame `f + 1`, so it would not matter either whether a collision of frame `f` came
//!   before or after the receiver's own update of frame `f`. (With this loop it always
//!   comes after, because the update was queued first, but zeta only promises
//!   per-sender FIFO, so the entity does not rely on more.) What is relied on: the main
//!   loop's updates reach each entity in frame order (per-sender FIFO), and the loop's
//!   frame barrier (frame `f + 1` is sent only when every message of frame `f` has been
//!   handled). `ManualScheduler::with_seed` shuffles every batch of ready actors; the
//!   seeded runs show that the order really changes and the result does not.
//!
//! # What it checks (exit code 1 on the first failure)
//!
//! Three runs: the ready order as scheduled with 1 ms slices, and two seeds, one with
//! 1 ms slices and one with 25 µs slices so that every frame needs several.
//!
//! - Every frame's messages were all handled within that frame: the `RunStats::messages`
//!   of the frame's `run_for` calls add up to exactly N updates plus that frame's
//!   collisions (known from the sequential simulation), and `run_once` then finds nothing
//!   left to run.
//! - After the last frame, each entity's state, read with `ask` (run the scheduler, then
//!   `try_take`), equals the sequential simulation's exactly (integer positions and
//!   velocities, every update seen once and in frame order, every collision received,
//!   none undeliverable).
//! - The shuffle is not vacuous: in the seeded runs, of the frames where an entity got
//!   collisions from both neighbours, some had the right neighbour's first and some the
//!   left one's.
//! - Memory: the pool takes no new chunk after the first frame; after the frames only
//!   the N actor cells are live; after every entity is stopped (each one's `on_stop`
//!   runs once) and every address is dropped, nothing is live.
//!
//! It prints, per run, the messages per frame, the time each frame spent inside
//! `run_for` (p50/p99/max, measured with `Instant`, recorded into an HDR histogram made
//! before the first frame), how many frames needed more than one `run_for` call, and
//! how often the right neighbour's collision came first.
//!
//! Run: `cargo run --release --example game_loop`

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use zeta::arena::{CountingResource, PoolResource};
use zeta::{Actor, Address, Context, Future, ManualScheduler, Reply, StopReason, System};

const ENTITIES: usize = 2_000;
const FRAMES: u32 = 120;
/// About one neighbouring pair in this many collides each frame.
const COLLIDE_ONE_IN: u64 = 4;
const MAX_THROUGHPUT: usize = 64;
/// Positions stay within `-WORLD..=WORLD`; entities bounce off the walls.
const WORLD: i64 = 1_000_000_000;

/// The frame's time step in microseconds: a fixed 60 Hz step with a deterministic
/// jitter, so that `dt` really travels in the message.
fn dt_us(frame: u32) -> i64 {
    16_000 + i64::from(frame * 7_919 % 1_334)
}

fn left_of(id: usize) -> usize {
    (id + ENTITIES - 1) % ENTITIES
}

fn right_of(id: usize) -> usize {
    (id + 1) % ENTITIES
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
/// with the simulation; they show that the shuffle really changed the order.
#[derive(Clone, Copy, Debug, Default)]
struct Arrivals {
    /// Frames in which this entity got collisions from both neighbours.
    two_sided: u32,
    /// Of those, the frames where the right neighbour's came first.
    right_first: u32,
}

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
    id: usize,
    body: Body,
    /// Impulses received, by the parity of the frame they happened in: the update of
    /// frame `f` applies (and clears) slot `(f - 1) % 2`, collisions of frame `f` add to
    /// slot `f % 2`.
    impulses: [i64; 2],
    neighbours: Option<(Address<Entity>, Address<Entity>)>,
    next_frame: u32,
    updates: u32,
    collisions: u32,
    out_of_order: u32,
    undelivered: u32,
    /// The frame and side of the last collision received.
    last_collision: Option<(u32, bool)>,
    arrivals: Arrivals,
    stopped: Arc<AtomicUsize>,
}

impl Entity {
    fn new(id: usize, stopped: Arc<AtomicUsize>) -> Self {
        Self {
            id,
            body: Body::initial(id),
            impulses: [0; 2],
            neighbours: None,
            next_frame: 0,
            updates: 0,
            collisions: 0,
            out_of_order: 0,
            undelivered: 0,
            last_collision: None,
            arrivals: Arrivals::default(),
            stopped,
        }
    }

    fn collide(&mut self, to: Option<&Address<Entity>>, message: EntityMsg) {
        if !matches!(to.map(|n| n.send(message)), Some(Ok(()))) {
            self.undelivered += 1;
        }
    }
}

impl Actor for Entity {
    type Message = EntityMsg;

    fn handle(&mut self, message: EntityMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            EntityMsg::Link { left, right } => self.neighbours = Some((left, right)),
            EntityMsg::Update { frame, dt_us } => {
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
                let neighbours = self.neighbours.take();
                if pair_collides(self.id, frame) {
                    let to_right = EntityMsg::Collision {
                        frame,
                        impulse,
                        from_right: false,
                    };
                    self.collide(neighbours.as_ref().map(|(_, r)| r), to_right);
                }
                if pair_collides(left_of(self.id), frame) {
                    let to_left = EntityMsg::Collision {
                        frame,
                        impulse: -impulse,
                        from_right: true,
                    };
                    self.collide(neighbours.as_ref().map(|(l, _)| l), to_left);
                }
                self.neighbours = neighbours;
            }
            EntityMsg::Collision {
                frame,
                impulse,
                from_right,
            } => {
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
            EntityMsg::Query(reply) => {
                let snapshot = Snapshot {
                    body: self.body,
                    updates: self.updates,
                    collisions: self.collisions,
                    out_of_order: self.out_of_order,
                    undelivered: self.undelivered,
                };
                let _ = reply.send((snapshot, self.arrivals));
            }
        }
    }

    fn on_stop(&mut self, reason: StopReason) {
        if reason == StopReason::Stopped {
            self.stopped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The same world, simulated by a plain loop: the expected result.
struct Reference {
    snapshots: Vec<Snapshot>,
    collisions_per_frame: Vec<u64>,
}

fn simulate() -> Reference {
    let mut bodies: Vec<Body> = (0..ENTITIES).map(Body::initial).collect();
    let mut collisions = vec![0u32; ENTITIES];
    let mut pending = vec![0i64; ENTITIES];
    let mut collisions_per_frame = Vec::with_capacity(FRAMES as usize);
    for frame in 0..FRAMES {
        let mut next = vec![0i64; ENTITIES];
        let mut count = 0;
        for id in 0..ENTITIES {
            bodies[id].step(dt_us(frame), pending[id]);
            let impulse = bodies[id].impulse();
            if pair_collides(id, frame) {
                next[right_of(id)] += impulse;
                collisions[right_of(id)] += 1;
                count += 1;
            }
            if pair_collides(left_of(id), frame) {
                next[left_of(id)] -= impulse;
                collisions[left_of(id)] += 1;
                count += 1;
            }
        }
        pending = next;
        collisions_per_frame.push(count);
    }
    let snapshots = bodies
        .iter()
        .zip(&collisions)
        .map(|(&body, &collisions)| Snapshot {
            body,
            updates: FRAMES,
            collisions,
            out_of_order: 0,
            undelivered: 0,
        })
        .collect();
    Reference {
        snapshots,
        collisions_per_frame,
    }
}

/// One run's configuration.
struct Config {
    name: &'static str,
    seed: Option<u64>,
    budget: Duration,
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

fn run(config: &Config, reference: &Reference) -> Result<Measured, String> {
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = match config.seed {
        Some(seed) => ManualScheduler::with_seed(MAX_THROUGHPUT, seed),
        None => ManualScheduler::new(MAX_THROUGHPUT),
    }
    .map_err(|e| format!("scheduler: {e}"))?;
    let scheduler = Arc::new(scheduler);
    let system = System::new(scheduler.clone(), memory.clone());
    let stopped = Arc::new(AtomicUsize::new(0));

    let mut entities = Vec::with_capacity(ENTITIES);
    for id in 0..ENTITIES {
        let entity = system
            .spawn(Entity::new(id, stopped.clone()))
            .map_err(|e| format!("spawn {id}: {e}"))?;
        entities.push(entity);
    }
    for (id, entity) in entities.iter().enumerate() {
        let link = EntityMsg::Link {
            left: entities[left_of(id)].clone(),
            right: entities[right_of(id)].clone(),
        };
        entity.send(link).map_err(|e| format!("link {id}: {e}"))?;
    }
    let linked = scheduler.run_until_idle().map_err(|e| e.to_string())?;
    if linked.messages != ENTITIES as u64 {
        return Err(format!("{} of {ENTITIES} links handled", linked.messages));
    }

    let mut measured = Measured {
        frame_times: frame_histogram(),
        time_inside: Duration::ZERO,
        sliced_frames: 0,
        run_for_calls: 0,
        messages_min: u64::MAX,
        messages_max: 0,
        messages_total: 0,
        arrivals: Arrivals::default(),
    };
    let mut warm_chunks = 0;
    for frame in 0..FRAMES {
        let dt_us = dt_us(frame);
        for (id, entity) in entities.iter().enumerate() {
            entity
                .send(EntityMsg::Update { frame, dt_us })
                .map_err(|e| format!("frame {frame}: update to {id}: {e}"))?;
        }
        let expected = ENTITIES as u64 + reference.collisions_per_frame[frame as usize];
        let mut handled = 0;
        let mut calls = 0;
        let mut spent = Duration::ZERO;
        while handled < expected {
            let start = Instant::now();
            let stats = scheduler
                .run_for(config.budget)
                .map_err(|e| e.to_string())?;
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
        if scheduler.run_once().map_err(|e| e.to_string())? {
            return Err(format!("frame {frame}: work left after the frame"));
        }
        record_frame(&mut measured, frame, spent)?;
        measured.run_for_calls += calls;
        if calls > 1 {
            measured.sliced_frames += 1;
        }
        measured.messages_min = measured.messages_min.min(handled);
        measured.messages_max = measured.messages_max.max(handled);
        measured.messages_total += handled;
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

    // Read every entity's state. Never `wait()` on these futures here: on a
    // ManualScheduler the only thread that runs handlers is this one, so a blocking wait
    // would sleep forever on a reply that only our own next `run_*` call could produce.
    // (`wait` refuses to block inside an actor, but this thread is outside any actor, so
    // it would really block: a deadlock.) Run the scheduler, then `try_take`.
    let mut futures: Vec<Future<(Snapshot, Arrivals)>> = Vec::with_capacity(ENTITIES);
    for (id, entity) in entities.iter().enumerate() {
        let future = entity
            .ask(EntityMsg::Query)
            .map_err(|e| format!("query {id}: {e}"))?;
        futures.push(future);
    }
    let queried = scheduler.run_until_idle().map_err(|e| e.to_string())?;
    if queried.messages != ENTITIES as u64 {
        return Err(format!(
            "{} of {ENTITIES} queries handled",
            queried.messages
        ));
    }
    for (id, mut future) in futures.into_iter().enumerate() {
        let (snapshot, arrivals) = match future.try_take() {
            Some(Ok(answer)) => answer,
            Some(Err(e)) => return Err(format!("entity {id}: query failed: {e}")),
            None => return Err(format!("entity {id}: no answer after run_until_idle")),
        };
        let expected = &reference.snapshots[id];
        if snapshot != *expected {
            return Err(format!(
                "entity {id}: {snapshot:?}, the sequential simulation says {expected:?}"
            ));
        }
        measured.arrivals.two_sided += arrivals.two_sided;
        measured.arrivals.right_first += arrivals.right_first;
    }
    let arrivals = measured.arrivals;
    if config.seed.is_some()
        && (arrivals.right_first == 0 || arrivals.right_first == arrivals.two_sided)
    {
        return Err(format!(
            "the shuffle did not mix the orders: the right neighbour's collision came first \
             in {} of {} two-sided frames",
            arrivals.right_first, arrivals.two_sided
        ));
    }
    if memory.live_blocks() != ENTITIES {
        return Err(format!(
            "{} blocks live after the frames, expected the {ENTITIES} actor cells",
            memory.live_blocks()
        ));
    }

    // Graceful stop: each entity drops its neighbours' addresses as it ends, which
    // breaks the ring of addresses; then ours go, and every cell returns to the pool.
    for (id, entity) in entities.iter().enumerate() {
        entity.stop().map_err(|e| format!("stop {id}: {e}"))?;
    }
    scheduler.run_until_idle().map_err(|e| e.to_string())?;
    if stopped.load(Ordering::Relaxed) != ENTITIES {
        return Err(format!(
            "{} of {ENTITIES} entities ran on_stop(Stopped)",
            stopped.load(Ordering::Relaxed)
        ));
    }
    drop(entities);
    drop(system);
    if memory.live_blocks() != 0 {
        return Err(format!("{} blocks leaked", memory.live_blocks()));
    }
    Ok(measured)
}

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

fn main_checked() -> Result<(), String> {
    let reference = simulate();
    let configs = [
        Config {
            name: "ready order as scheduled",
            seed: None,
            budget: Duration::from_millis(1),
        },
        Config {
            name: "shuffled, seed 0x5eed",
            seed: Some(0x5eed),
            budget: Duration::from_millis(1),
        },
        Config {
            name: "shuffled, seed 42",
            seed: Some(42),
            budget: Duration::from_micros(25),
        },
    ];
    println!(
        "game_loop: {ENTITIES} entity actors in a pool, {FRAMES} frames, about 1 neighbouring \
         pair in {COLLIDE_ONE_IN} colliding each frame, max_throughput {MAX_THROUGHPUT}"
    );
    println!(
        "| run | run_for budget | messages/frame | run_for time/frame p50 | p99 | max | \
         frames needing >1 run_for | run_for calls | right neighbour's collision first |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for config in &configs {
        let started = Instant::now();
        let measured = run(config, &reference).map_err(|e| format!("{}: {e}", config.name))?;
        let wall = started.elapsed();
        let times = &measured.frame_times;
        println!(
            "| {} | {:.0} µs | {}..{} | {:.1} µs | {:.1} µs | {:.1} µs | {}/{FRAMES} | {} \
             | {}/{} two-sided |",
            config.name,
            micros(config.budget),
            measured.messages_min,
            measured.messages_max,
            micros(percentile(times, 0.50)),
            micros(percentile(times, 0.99)),
            micros(Duration::from_nanos(times.max())),
            measured.sliced_frames,
            measured.run_for_calls,
            measured.arrivals.right_first,
            measured.arrivals.two_sided,
        );
        let inside = measured.time_inside;
        println!(
            "  {} messages, {:.1} ns/message inside run_for; whole run with setup and checks \
             {:.1} ms",
            measured.messages_total,
            inside.as_nanos() as f64 / measured.messages_total as f64,
            wall.as_secs_f64() * 1e3
        );
    }
    println!(
        "ok: in all {} runs every frame's messages were handled within the frame, all \
         {ENTITIES} entity states equal the sequential simulation exactly, the pool did not \
         grow after frame 0, and nothing leaked",
        configs.len()
    );
    Ok(())
}

fn main() -> ExitCode {
    match main_checked() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("game_loop FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
