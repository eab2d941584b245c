//! The Savina subset: what every case shares.
//!
//! A case is a function from a [`Config`] to an [`Outcome`]: it builds its actors,
//! runs the workload with the clock and the allocation counter running (a [`Meter`]),
//! checks its own answer (a wrong answer is an `Err`, never a number), stops everything
//! it started and reports. The runner (`runner.rs`) turns outcomes into the table.
//!
//! Every case also runs its workload on the floor ([`zeta_bench::floor`]: one thread, no
//! atomics) with the same sizes and the same checks, in the same process: its
//! `floor` function returns the floor's [`Outcome`], and the runner prints zeta's
//! figure divided by the floor's. A floor run measures with a [`FloorMeter`].
//!
//! A [`Rig`] is the usual set-up: a started `SharingScheduler` with the configured
//! workers (or, with [`Config::workers`] 0, a `ManualScheduler` that the case's thread
//! drives while it waits), a `PoolResource` for the actors and their messages (counted
//! with `--counted`), a deadline for every wait, and at the end the checks that nothing
//! panicked, nothing was left queued and every block went back to the pool.
//!
//! # Two kinds of zeta actor, one workload
//!
//! Every case also runs on local actors (`--local`: `zeta::local`, `!Send` actors on a
//! `LocalSystem` that the case's thread drives), with a [`LocalRig`], the same set-up
//! and checks for a `LocalSystem`. The case's actors and its run are written once, in a
//! `macro_rules!` of the case's file, and built twice: in a module `threaded` with
//! `zeta::{Actor, Address, Context, Reply}` and `Rig` in scope, and in a module `local`
//! with `zeta::local::{LocalActor, LocalAddress, LocalContext, LocalReply}` imported
//! under those names and `LocalRig` as `Rig`. The two kinds of actor have the same
//! shape (`handle`, `on_stop`, `send`, `ask`, `stop`, a context with `address` and
//! `stop`), so the same text compiles against both: the local figure is the same
//! handlers, the same messages and the same checks, not a port. [`SendWithPriority`]
//! irons out the one difference the cases meet (the argument order of `send_with`).

use std::alloc::{GlobalAlloc, Layout, System as SystemAlloc};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use zeta::arena::{CountingResource, CountingStats, PoolResource};
use zeta::local::{LocalActor, LocalAddress};
use zeta::{
    Actor, Address, Future, ManualScheduler, Priority, RequestError, Scheduler, SendError,
    SharingScheduler, WaitStrategy,
};

pub mod big;
pub mod chameneos;
pub mod count;
pub mod fjcreate;
pub mod fjthrput;
mod local;
pub mod pingpong;
pub mod threadring;
pub mod uct;

pub use self::local::LocalRig;

/// How a run is parameterised.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Multiplies every case's default size (Savina's parameters at 1.0).
    pub scale: f64,
    /// Worker threads of the `SharingScheduler` each case runs on; 0: a
    /// `ManualScheduler` instead, run by the case's own thread whenever it waits.
    pub workers: usize,
}

impl Config {
    /// `default` scaled, never below `min`.
    pub fn scaled(&self, default: u64, min: u64) -> u64 {
        ((default as f64 * self.scale).round() as u64).max(min)
    }
}

/// The largest latency sample a [`latency_histogram`] tells apart: a day, above every
/// wait's deadline (60 s × scale, with scale at most 1000), so no sample is clamped.
pub const LATENCY_HIGHEST: Duration = Duration::from_secs(24 * 60 * 60);

/// An empty histogram for latency samples in nanoseconds, from 1 ns to
/// [`LATENCY_HIGHEST`] with 3 significant digits: a percentile read from it is the
/// sample's value to within 0.1 % (exact below 2048 ns).
///
/// It is sized for that whole range here, once (some 300 KiB of counts, made before
/// any sample), and never resizes: recording a sample ([`Histogram::saturating_record`])
/// only adds to a count and allocates nothing.
pub fn latency_histogram() -> Histogram<u64> {
    let highest = u64::try_from(LATENCY_HIGHEST.as_nanos()).expect("a day fits in u64 ns");
    Histogram::new_with_bounds(1, highest, 3).expect("valid bounds: 1 <= 2 × 1 <= a day")
}

/// Latency percentiles of one series of samples.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// Samples the percentiles were taken over.
    pub samples: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Largest sample.
    pub max: Duration,
}

impl Latency {
    /// Percentiles of the samples (ns) recorded in `histogram` (nearest rank: the
    /// smallest sample that at least that fraction of the samples do not exceed, to the
    /// histogram's precision). `None` if it is empty.
    pub fn from_histogram(histogram: &Histogram<u64>) -> Option<Self> {
        if histogram.is_empty() {
            return None;
        }
        let at = |q: f64| Duration::from_nanos(histogram.value_at_quantile(q));
        Some(Self {
            samples: usize::try_from(histogram.len()).unwrap_or(usize::MAX),
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            max: Duration::from_nanos(histogram.max()),
        })
    }

    /// Percentiles of `samples` (nanoseconds), through a [`latency_histogram`]. `None`
    /// if empty.
    pub fn from_nanos(samples: &[u64]) -> Option<Self> {
        let mut histogram = latency_histogram();
        for &sample in samples {
            histogram.saturating_record(sample);
        }
        Self::from_histogram(&histogram)
    }
}

/// What one case reports.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Operations, in the case's own unit (named in [`Case::unit`]).
    pub ops: u64,
    /// Messages sent in total (every send and every reply counts once).
    pub messages: u64,
    /// Wall time of the measured region.
    pub wall: Duration,
    /// Global allocations made by the whole process inside the measured region, other
    /// than the pool's chunks (counted in `chunks`).
    pub allocations: u64,
    /// Chunks (64 KiB each) the case's pool took from the global allocator inside the
    /// measured region: growth of the pool that the warm-up did not reach.
    pub chunks: u64,
    /// Latency series, if the case has any, each with its label (`"urgent"`, ...).
    pub latency: Vec<(&'static str, Latency)>,
    /// One line on what was checked, e.g. `"sum 499999500000"`.
    pub check: String,
}

/// One case of the subset.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Savina's name: `pingpong`, `count`, ...
    pub name: &'static str,
    /// What one operation is: `"round trip"`, `"message"`, `"actor"`, ...
    pub unit: &'static str,
    /// One line: the workload at scale 1.
    pub about: &'static str,
    /// Runs the case on zeta's thread-safe actors (a `SharingScheduler`, or a
    /// `ManualScheduler` with [`Config::workers`] 0).
    pub run: fn(&Config) -> Result<Outcome, String>,
    /// Runs the same actors as local actors on a `LocalSystem` (`--local`;
    /// [`Config::workers`] does not apply).
    pub local: fn(&Config) -> Result<Outcome, String>,
    /// Runs the same workload on the floor, with the same checks.
    pub floor: fn(&Config) -> Result<Outcome, String>,
}

/// Every case, in the order the runner runs them.
pub const CASES: &[Case] = &[
    pingpong::CASE,
    count::CASE,
    fjthrput::CASE,
    fjcreate::CASE,
    threadring::CASE,
    chameneos::CASE,
    big::CASE,
    uct::CASE,
];

/// The system allocator, counting every allocation and reallocation of the process.
///
/// `runner.rs` installs it as the `#[global_allocator]`; the cost is one relaxed
/// `fetch_add` per allocation, for every case alike.
pub struct CountingAlloc;

/// Allocations (and reallocations) since the process started.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator, which upholds
// `GlobalAlloc`'s contract; counting touches one static atomic and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees on `layout`.
        unsafe { SystemAlloc.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees on `layout`.
        unsafe { SystemAlloc.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which got it from `SystemAlloc`
        // with the same `layout` (the caller's guarantee).
        unsafe { SystemAlloc.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees on `ptr`, `layout` and
        // `new_size`; `ptr` came from `SystemAlloc` (see `dealloc`).
        unsafe { SystemAlloc.realloc(ptr, layout, new_size) }
    }
}

/// Global allocations made by the process so far (all threads).
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// The clock and the allocation counters of a measured region ([`Rig::meter`]).
///
/// Start it when the workload is set up (actors spawned and warm, unless spawning is
/// what the case measures) and stop it once the case has seen its final answer, which
/// orders every counted allocation of the workload before the stop.
pub struct Meter<'a> {
    start: Instant,
    allocations: u64,
    pool: &'a Pool,
    chunks: usize,
}

/// What a [`Meter`] measured.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// Wall time.
    pub wall: Duration,
    /// Global allocations other than the pool's chunks.
    pub allocations: u64,
    /// Chunks the pool took from the global allocator (one global allocation each).
    pub chunks: u64,
}

impl<'a> Meter<'a> {
    /// Starts the clock and the counters, now.
    fn start(pool: &'a Pool) -> Self {
        let chunks = pool.chunk_count();
        let allocations = allocations();
        Meter {
            start: Instant::now(),
            allocations,
            pool,
            chunks,
        }
    }

    /// Wall time and global allocations since [`Rig::meter`], with the pool's chunks
    /// counted apart.
    pub fn stop(self) -> Measured {
        let wall = self.start.elapsed();
        let all = allocations() - self.allocations;
        let chunks = self.pool.chunk_count().saturating_sub(self.chunks) as u64;
        Measured {
            wall,
            // Each chunk is one allocation from the pool's upstream, the global
            // allocator (`PoolResource::new`).
            allocations: all.saturating_sub(chunks),
            chunks,
        }
    }
}

/// The clock and the allocation counter of a floor run: what a [`Meter`] is for a
/// [`Rig`], with no pool (the floor's messages live in its deques).
pub struct FloorMeter {
    start: Instant,
    allocations: u64,
}

impl FloorMeter {
    /// Starts the clock and the counter.
    pub fn start() -> Self {
        let allocations = allocations();
        Self {
            start: Instant::now(),
            allocations,
        }
    }

    /// Wall time and global allocations since [`start`](FloorMeter::start); `chunks`
    /// is 0.
    pub fn stop(self) -> Measured {
        let wall = self.start.elapsed();
        Measured {
            wall,
            allocations: allocations() - self.allocations,
            chunks: 0,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Setting a case up and tearing it down.

/// Every case's `max_throughput`, set explicitly so that a change of the scheduler's
/// default does not move the figures silently.
pub const MAX_THROUGHPUT: usize = 64;

/// Every case's `spin_before_park` (the scheduler's default, set explicitly).
pub const SPIN_BEFORE_PARK: u32 = 64;

/// The memory a case's actors and messages live in: a pool, counted, so that the case
/// can check at the end that every block went back.
pub type Memory = CountingResource<PoolResource>;

/// Whether [`Rig`]s count their pool's blocks (not by default; see [`set_counted`]).
static COUNTED: AtomicBool = AtomicBool::new(false);

/// Chooses the pool of every [`Rig`] made from now on: counted (`true`, the runner's `--counted`),
/// a [`Memory`], whose every block is checked back at the end; or bare (`false`, the default), a
/// plain [`PoolResource`], for figures without the counters' cost (`CountingResource`
/// makes five atomic read-modify-writes per allocation and two per free, on counters
/// that every thread shares), where only the actors' cells are checked back (each
/// holds a reference to the pool until its memory is returned).
pub fn set_counted(counted: bool) {
    // Relaxed: set by the runner before any case starts (on the same thread).
    COUNTED.store(counted, Ordering::Relaxed);
}

/// Whether [`Rig`]s count their pool's blocks.
pub fn counted() -> bool {
    // Relaxed: see `set_counted`.
    COUNTED.load(Ordering::Relaxed)
}

/// A rig's pool.
enum Pool {
    Counted(Arc<Memory>),
    Bare(Arc<PoolResource>),
}

impl Pool {
    /// An empty pool, counted or bare as [`set_counted`] chose.
    fn new() -> Self {
        if counted() {
            Pool::Counted(Arc::new(CountingResource::new(PoolResource::new())))
        } else {
            Pool::Bare(Arc::new(PoolResource::new()))
        }
    }

    /// Checks, once everything made from the pool is gone, that every block went back
    /// (counted), or that nothing holds the pool any more (bare: `holders` says what
    /// would); the pool's final counters (all 0 for a bare pool, see [`returned`]).
    fn check_returned(&self, holders: &str) -> Result<CountingStats, String> {
        match self {
            Pool::Counted(pool) => {
                let stats = pool.stats();
                if stats.live_blocks != 0 {
                    return Err(format!(
                        "{} block(s) ({} bytes) never went back to the pool",
                        stats.live_blocks, stats.live_bytes
                    ));
                }
                Ok(stats)
            }
            Pool::Bare(pool) => {
                let held = Arc::strong_count(pool) - 1;
                if held != 0 {
                    return Err(format!("{held} {holders} never went back to the pool"));
                }
                Ok(CountingStats::default())
            }
        }
    }

    /// The chunks the pool has taken from its upstream so far.
    fn chunk_count(&self) -> usize {
        match self {
            Pool::Counted(pool) => pool.inner().chunk_count(),
            Pool::Bare(pool) => pool.chunk_count(),
        }
    }
}

/// "all N pool blocks returned (peak X MiB in use)", or for a bare pool (no block
/// counts), "all actor cells returned to the pool": the end of a case's check line.
pub fn returned(stats: &CountingStats) -> String {
    if counted() {
        let peak = stats.peak_bytes as f64;
        let peak = if peak < (1 << 20) as f64 {
            format!("{:.0} KiB", peak / 1024.0)
        } else {
            format!("{:.1} MiB", peak / (1 << 20) as f64)
        };
        format!(
            "all {} pool blocks returned (peak {peak} in use)",
            stats.total_blocks
        )
    } else {
        "all actor cells returned to the (bare) pool".to_owned()
    }
}

/// The `Err` of a wait that ran into the time limit `limit`.
fn timed_out(what: &str, limit: Duration) -> String {
    format!(
        "{what}: not done within the time limit of {limit:.0?} (a message lost, or a much \
         slower machine than expected)"
    )
}

impl Config {
    /// How long a case may take before it gives up with an `Err` (a lost message would
    /// otherwise hang the runner): 60 s × max(1, scale), from [`Rig::new`].
    pub fn time_limit(&self) -> Duration {
        Duration::from_secs_f64(60.0 * self.scale.max(1.0))
    }
}

/// A case's scheduler and memory, and its deadline: a started [`SharingScheduler`] with
/// [`Config::workers`] workers (with 0, a [`ManualScheduler`] that [`wait`](Rig::wait)
/// and [`stop_actors`](Rig::stop_actors) run on the calling thread), and a counted
/// [`PoolResource`] every actor of the case is spawned into (or a bare one, see
/// [`set_counted`]).
///
/// [`finish`](Rig::finish) stops the scheduler and checks that nothing went wrong on
/// the way (no panic, no cancelled or rejected job) and that every block went back to
/// the pool (with a bare pool: every actor cell). A rig dropped without `finish` (a
/// case returning early with an `Err`) stops its scheduler, so that its workers do not
/// outlive the case.
pub struct Rig {
    driver: Driver,
    memory: Pool,
    limit: Duration,
    deadline: Instant,
    /// With the `observe` feature and `ZETA_BENCH_OBSERVER` set: a system over the
    /// scheduler whose observer the actors are spawned with ([`observer_from_env`]).
    #[cfg(feature = "observe")]
    observed: Option<Observed>,
}

/// A system over the rig's scheduler, with an observer (`observe` feature).
#[cfg(feature = "observe")]
enum Observed {
    Sharing(zeta::System<SharingScheduler>),
    Manual(zeta::System<ManualScheduler>),
}

#[cfg(feature = "observe")]
use zeta_bench::observe::Counting;

/// The observer `ZETA_BENCH_OBSERVER` names (`observe` feature; BENCHMARKS.md,
/// "Hooks"): unset or `none`, none; `noop`, a [`NoopObserver`](zeta::observe::NoopObserver)
/// (no frequent hook wanted); `runs`, a counter told of every run; `all`, a counter
/// told of every run and message.
///
/// # Errors
///
/// Any other value.
#[cfg(feature = "observe")]
pub fn observer_from_env() -> Result<Option<Arc<dyn zeta::observe::Observer>>, String> {
    use zeta::observe::Interests;
    match std::env::var("ZETA_BENCH_OBSERVER").as_deref() {
        Err(_) | Ok("none") => Ok(None),
        Ok("noop") => Ok(Some(Arc::new(zeta::observe::NoopObserver))),
        Ok("runs") => Ok(Some(Arc::new(Counting(Interests::RUNS, AtomicU64::new(0))))),
        Ok("all") => Ok(Some(Arc::new(Counting(Interests::ALL, AtomicU64::new(0))))),
        Ok(other) => Err(format!(
            "ZETA_BENCH_OBSERVER={other}: expected none, noop, runs or all"
        )),
    }
}

/// The scheduler of a [`Rig`].
enum Driver {
    Sharing(Arc<SharingScheduler>),
    Manual {
        scheduler: Arc<ManualScheduler>,
        /// Panics caught in every `run_until_idle` so far.
        panics: AtomicU64,
    },
}

impl Driver {
    fn scheduler(&self) -> &dyn Scheduler {
        match self {
            Driver::Sharing(scheduler) => &**scheduler,
            Driver::Manual { scheduler, .. } => &**scheduler,
        }
    }
}

impl Rig {
    /// Builds and starts the scheduler, and an empty pool.
    pub fn new(config: &Config) -> Result<Self, String> {
        let driver = if config.workers == 0 {
            let scheduler =
                ManualScheduler::new(MAX_THROUGHPUT).map_err(|e| format!("scheduler: {e}"))?;
            Driver::Manual {
                scheduler: Arc::new(scheduler),
                panics: AtomicU64::new(0),
            }
        } else {
            let scheduler = SharingScheduler::builder()
                .workers(config.workers)
                .max_throughput(MAX_THROUGHPUT)
                .spin_before_park(SPIN_BEFORE_PARK)
                .thread_name("zeta-savina")
                .build()
                .map_err(|e| format!("scheduler: {e}"))?;
            scheduler
                .start()
                .map_err(|e| format!("scheduler start: {e}"))?;
            Driver::Sharing(Arc::new(scheduler))
        };
        let limit = config.time_limit();
        let memory = Pool::new();
        #[cfg(feature = "observe")]
        let observed = observer_from_env()?.map(|observer| {
            let resource: Arc<dyn zeta::arena::MemoryResource + Send + Sync> = match &memory {
                Pool::Counted(pool) => pool.clone(),
                Pool::Bare(pool) => pool.clone(),
            };
            match &driver {
                Driver::Sharing(scheduler) => Observed::Sharing(
                    zeta::System::new(scheduler.clone(), resource).with_observer(observer),
                ),
                Driver::Manual { scheduler, .. } => Observed::Manual(
                    zeta::System::new(scheduler.clone(), resource).with_observer(observer),
                ),
            }
        });
        Ok(Self {
            driver,
            memory,
            limit,
            deadline: Instant::now() + limit,
            #[cfg(feature = "observe")]
            observed,
        })
    }

    /// Spawns `actor` into the pool, on the scheduler.
    pub fn spawn<A: Actor>(&self, actor: A) -> Result<Address<A>, String> {
        #[cfg(feature = "observe")]
        if let Some(observed) = &self.observed {
            // The system's resource is the rig's pool.
            let spawned = match observed {
                Observed::Sharing(system) => system.spawn(actor),
                Observed::Manual(system) => system.spawn(actor),
            };
            return spawned.map_err(|_| "spawn: the pool is out of memory".to_owned());
        }
        let scheduler: Arc<dyn Scheduler> = match &self.driver {
            Driver::Sharing(scheduler) => scheduler.clone(),
            Driver::Manual { scheduler, .. } => scheduler.clone(),
        };
        let spawned = match &self.memory {
            Pool::Counted(pool) => zeta::spawn(actor, pool.clone(), scheduler),
            Pool::Bare(pool) => zeta::spawn(actor, pool.clone(), scheduler),
        };
        spawned.map_err(|_| "spawn: the pool is out of memory".to_owned())
    }

    /// Starts the clock and the allocation counters of the measured region, once every
    /// worker has parked at least once (a thread's first park registers it with
    /// parking_lot, whose table then may grow: a one-time allocation, not the
    /// workload's; the warm-up has the main thread park on its answers).
    pub fn meter(&self) -> Meter<'_> {
        if let Driver::Sharing(scheduler) = &self.driver {
            while scheduler.stats().iter().any(|worker| worker.parks == 0) && !self.expired() {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
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

    /// Waits for `future`'s answer until the deadline, parking (no busy wait).
    /// With a `ManualScheduler`, runs it until the answer is there; an idle scheduler
    /// with no answer is an `Err` (the answer can no longer come).
    pub fn wait<T: Send>(&self, mut future: Future<T>, what: &str) -> Result<T, String> {
        if let Driver::Manual { .. } = &self.driver {
            loop {
                match future.try_take() {
                    Some(Ok(answer)) => return Ok(answer),
                    Some(Err(error)) => return Err(format!("{what}: the request failed: {error}")),
                    None => {}
                }
                if self.expired() {
                    return Err(self.timed_out(what));
                }
                if self.run_manual()? == 0 && !future.is_ready() {
                    return Err(format!("{what}: the scheduler is idle and no answer came"));
                }
            }
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        match future.wait_timeout_with(WaitStrategy::Park, left) {
            Ok(answer) => Ok(answer),
            Err(RequestError::Timeout) => Err(self.timed_out(what)),
            Err(error) => Err(format!("{what}: the request failed: {error}")),
        }
    }

    /// The case's thread gives the actors a turn, as a single-threaded program would
    /// between batches of outside sends: with a `ManualScheduler`, runs it until it is
    /// idle (the queued messages are handled while they are still in the caches, as
    /// on the floor); with a `SharingScheduler`, nothing (its workers run beside the
    /// sender).
    pub fn tick(&self) -> Result<(), String> {
        self.run_manual().map(drop)
    }

    /// Stops `actors` gracefully (each after the messages already queued to it) and
    /// waits until none of them is alive.
    pub fn stop_actors(&self, actors: &[&dyn Stoppable]) -> Result<(), String> {
        for actor in actors {
            actor.stop_actor()?;
        }
        while actors.iter().any(|actor| actor.alive()) {
            if self.expired() {
                return Err(self.timed_out("stopping the actors"));
            }
            match &self.driver {
                Driver::Sharing(_) => std::thread::sleep(Duration::from_micros(100)),
                Driver::Manual { .. } => {
                    if self.run_manual()? == 0 && actors.iter().any(|actor| actor.alive()) {
                        return Err("stopping the actors: the scheduler is idle".to_owned());
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs the `ManualScheduler` until it is idle, counting the panics it caught;
    /// returns how many jobs it resumed (0 with a `SharingScheduler`).
    fn run_manual(&self) -> Result<u64, String> {
        let Driver::Manual { scheduler, panics } = &self.driver else {
            return Ok(0);
        };
        let stats = scheduler
            .run_until_idle()
            .map_err(|e| format!("manual scheduler: {e}"))?;
        panics.fetch_add(stats.panics, Ordering::Relaxed);
        Ok(stats.resumes)
    }

    /// Stops the scheduler (joining its workers), then checks that no handler panicked,
    /// no job was cancelled at the stop or rejected after it, and, once the scheduler
    /// is gone, that every block went back to the pool. Call it after dropping every
    /// address. Returns the pool's final counters (peak, totals; all 0 for a bare pool,
    /// see [`returned`]).
    #[cfg_attr(not(feature = "observe"), allow(unused_mut))]
    pub fn finish(mut self) -> Result<CountingStats, String> {
        // The observed system holds the pool too (its default resource): it goes
        // first, stopping the scheduler (the stop below then finds nothing to do).
        #[cfg(feature = "observe")]
        drop(self.observed.take());
        let report = self
            .driver
            .scheduler()
            .stop()
            .map_err(|e| format!("scheduler stop: {e}"))?;
        let (panics, rejected) = match &self.driver {
            Driver::Sharing(scheduler) => (
                scheduler.stats().iter().map(|w| w.panics).sum(),
                scheduler.rejected(),
            ),
            // A closed `ManualScheduler` rejects nothing silently: a schedule after its
            // stop gives the job back to the caller.
            Driver::Manual { panics, .. } => (panics.load(Ordering::Relaxed), 0),
        };
        if panics != 0 {
            return Err(format!("{panics} handler(s) panicked"));
        }
        if report.cancelled != 0 || rejected != 0 {
            return Err(format!(
                "jobs still queued at the stop: {} cancelled, {rejected} rejected",
                report.cancelled
            ));
        }
        // Our reference to the scheduler holds no actor: a stopped scheduler has let go
        // of every job it had queued. With a bare pool, each actor cell holds a clone of
        // the pool's `Arc` until its memory is returned; a message node lives no longer
        // than its receiver's cell.
        self.memory.check_returned("actor cell(s)")
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // A second stop finds nothing left to do.
        let _ = self.driver.scheduler().stop();
    }
}

/// An address of any actor type, for [`Rig::stop_actors`].
pub trait Stoppable {
    /// Sends the actor a graceful stop.
    fn stop_actor(&self) -> Result<(), String>;
    /// Whether the actor still accepts messages.
    fn alive(&self) -> bool;
}

impl<A: Actor> Stoppable for Address<A> {
    fn stop_actor(&self) -> Result<(), String> {
        self.stop()
            .map_err(|e| format!("stop {}: {e}", core::any::type_name::<A>()))
    }

    fn alive(&self) -> bool {
        self.is_alive()
    }
}

impl<A: LocalActor> Stoppable for LocalAddress<A> {
    fn stop_actor(&self) -> Result<(), String> {
        self.stop()
            .map_err(|e| format!("stop {}: {e}", core::any::type_name::<A>()))
    }

    fn alive(&self) -> bool {
        self.is_alive()
    }
}

/// A send at a given priority, with the same arguments for both kinds of address
/// (`Address::send_with` takes the priority first, `LocalAddress::send_with` the
/// message first), so that a case's actors compile against both (module doc).
pub trait SendWithPriority<M> {
    /// Sends `message` with `priority`: `send_with` of the address.
    ///
    /// # Errors
    ///
    /// As `send_with`: the message back, and why.
    fn send_with_priority(&self, priority: Priority, message: M) -> Result<(), SendError<M>>;
}

impl<A: Actor> SendWithPriority<A::Message> for Address<A> {
    #[inline(always)]
    fn send_with_priority(
        &self,
        priority: Priority,
        message: A::Message,
    ) -> Result<(), SendError<A::Message>> {
        self.send_with(priority, message)
    }
}

impl<A: LocalActor> SendWithPriority<A::Message> for LocalAddress<A> {
    #[inline(always)]
    fn send_with_priority(
        &self,
        priority: Priority,
        message: A::Message,
    ) -> Result<(), SendError<A::Message>> {
        self.send_with(message, priority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_are_nearest_rank() {
        // 1 to 1000 ns, shuffled: exact below 2048 ns.
        let samples: Vec<u64> = (1..=1_000).map(|i| (i * 389) % 1_000 + 1).collect();
        let latency = Latency::from_nanos(&samples).expect("samples");
        assert_eq!(latency.samples, 1_000);
        assert_eq!(latency.p50, Duration::from_nanos(500));
        assert_eq!(latency.p99, Duration::from_nanos(990));
        assert_eq!(latency.p999, Duration::from_nanos(999));
        assert_eq!(latency.max, Duration::from_nanos(1_000));
        assert!(Latency::from_nanos(&[]).is_none());
        // Three samples, as the runner's table test uses them.
        let three = Latency::from_nanos(&[300, 301, 302]).expect("samples");
        assert_eq!(three.p50, Duration::from_nanos(301));
        assert_eq!(three.max, Duration::from_nanos(302));
    }

    #[test]
    fn large_samples_keep_three_digits_and_never_resize() {
        let mut histogram = latency_histogram();
        let counts = histogram.distinct_values();
        let highest = LATENCY_HIGHEST.as_nanos() as u64;
        for sample in [0, 1, 12_345, 7_654_321, 59_999_999_999, highest, u64::MAX] {
            histogram.saturating_record(sample);
        }
        // Recording only added to counts: the histogram did not grow.
        assert_eq!(histogram.distinct_values(), counts);
        assert_eq!(histogram.len(), 7);
        let latency = Latency::from_histogram(&histogram).expect("samples");
        let p50 = latency.p50.as_nanos() as f64;
        assert!((7_654_321.0..=7_654_321.0 * 1.001).contains(&p50), "{p50}");
        // Above the range: counted as the highest value, within 0.1 %.
        let max = latency.max.as_nanos() as f64;
        assert!(
            (highest as f64..=highest as f64 * 1.001).contains(&max),
            "{max}"
        );
    }
}
