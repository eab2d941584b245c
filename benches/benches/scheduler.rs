//! Cost per job of scheduling and resuming a trivial job, on zeta's `SharingScheduler`
//! and on a work-sharing pool like actor-zeta's (one locked queue and a condition
//! variable), from outside the pool and from inside a worker.
//!
//! # What is measured
//!
//! A job does almost nothing, so that the figure is the scheduler's: the outside job
//! bumps a shared counter, a chain hop decrements a hop count and schedules the next hop.
//! Every job returns `ResumeInfo::awaiting(1)` (zeta) or is simply run once (baseline),
//! so the same pre-created jobs are scheduled again and again: nothing in the bench's
//! code allocates in the timed loop. zeta runs with `max_throughput(64)` and
//! `spin_before_park(64)`, set explicitly so that a change of the defaults does not move
//! the figures silently.
//!
//! - `scheduler/outside/<candidate>/<W>-worker/<batch>`: the measuring thread, which is
//!   not a worker, schedules `batch` jobs (1 or 1024) from a fixed set of [`JOBS`]
//!   pre-created jobs (taken in turn, so a job is never scheduled again right after it
//!   ran), then waits (spin, then yield: [`Backoff`]) until the shared counter shows
//!   that all of them ran. Included: for zeta, the refcount clone, `into_queued`, the
//!   push on the allocation-free injector and `notify_one` on the measuring thread;
//!   the injector's take (as many jobs as the worker's run queue has room for, 64; a
//!   batch of 1024 leaves the rest in the injector for the next take, so the queue
//!   never grows its crossbeam-deque buffer), the stealing by the second worker, the run protocol and the counter bump on the
//!   workers; and the wake-up of a worker that went to sleep between rounds. For the
//!   baseline: the `Arc` clone, one lock + push + `notify_one` per job, one lock + pop
//!   per job on the workers, and their condition-variable waits and wake-ups. Batch 1
//!   is a round trip, mostly a wake-up latency; batch 1024 is throughput.
//! - `scheduler/from-worker/<candidate>/<W>-worker`: a chain of [`HOPS`] hops over a
//!   ring of two jobs: each hop, running on a worker, schedules the other job of the
//!   ring, until the hop count reaches 0; the last hop bumps a `finished` counter the
//!   measuring thread waits on. One iteration is one chain: the first hop is scheduled
//!   from outside, then every hop is scheduled from inside. For zeta this is the local
//!   path: the LIFO slot (every 17th hop through the local queue, the anti-starvation
//!   rule of `worker.rs`), with no wake-up: a second worker is woken at most once per
//!   chain, by the first hop's `notify_one`, and sleeps again, since the chain puts
//!   nothing where it could steal except, for an instant, that 17th hop. For the
//!   baseline, every hop is a lock, a push and a `notify_one` on the one shared queue,
//!   which with two workers can wake the idle one on every hop.
//! - `scheduler/manual/zeta-manual/<batch>`: `ManualScheduler`, single-threaded:
//!   schedule `batch` jobs of the fixed set, then `run_until_idle`. The floor: the
//!   scheduling and run protocol with no thread hand-off at all.
//!
//! Every benchmark declares `Throughput::Elements` = jobs (or hops) per iteration, so
//! `thrpt` is jobs per second; ns per job = 1000 / (Melem/s), or `time / batch`
//! (`time / HOPS` for a chain).
//!
//! # The baseline: `mutex-condvar`
//!
//! [`MutexPool`] is the work-sharing design of actor-zeta (`scheduler/policy/
//! work_sharing.hpp`, from CAF): one queue behind one mutex for every worker and every
//! producer, and a condition variable. `push` locks, appends, calls `notify_one` with the
//! lock held, unlocks, whether it is called from outside or from a worker; a worker
//! locks, waits on the condition variable while the queue is empty (no spinning), pops,
//! unlocks, runs. It is kept fair: the queue is a `VecDeque<Arc<dyn PoolJob>>` with
//! capacity reserved (actor-zeta's `std::list` allocates a node per push; this does not),
//! jobs are reused `Arc`s (one refcount increment per push, as zeta's `JobRef` clone),
//! and the lock and condition variable are `parking_lot`'s: like glibc's
//! `pthread_cond_signal`, its `notify_one` is a load when nobody waits, whereas
//! `std::sync::Condvar::notify_one` makes a futex syscall every time (about 180 ns here),
//! which would charge the baseline for something actor-zeta does not pay.
//!
//! # How to read it
//!
//! Compare candidates within one group of one run on one machine; absolute figures move
//! with the machine, its load and the OS scheduler. The baseline is the yardstick: the
//! ratio is the figure to track, and a regression is zeta losing ground against it in
//! the same run. What the ratio means per shape:
//!
//! - outside, batch 1024: lock-free injector plus per-worker queues against one lock
//!   taken twice per job;
//! - outside, batch 1: mostly how fast an idle worker notices work: zeta's workers spin
//!   (then yield) a little before parking, the baseline's wait on the condition
//!   variable at once, so each of its round trips includes a futex wake-up;
//! - from-worker: zeta's LIFO slot (no atomic RMW on a shared queue, no wake-up) against
//!   the shared locked queue. With 1 worker the baseline's lock is uncontended and both
//!   cost a handful of atomic operations per hop, so expect them close; with 2 workers
//!   the baseline also pays the idle worker's wake-ups and contention on its lock, which
//!   is what the LIFO slot avoids.
//!
//! **Two cores.** The machine this was written on has 2 cores. With 2 workers, the
//! measuring thread (waiting with [`Backoff`], which yields after a short spin) competes
//! with them for a core, so the 2-worker figures include some time-slicing: read them
//! as "2 workers plus a submitter on 2 cores", not as a scaling figure. On a machine
//! with at least 3 idle cores, they measure contention instead. On such a small (or
//! virtualised) machine the figures are also bimodal from run to run, the round trips
//! (outside, batch 1) most: a fraction of a microsecond when the worker is still
//! spinning on its own core, several microseconds when it has parked or shares a core
//! with the measuring thread (what `taskset -c 0` forces). Batch 1024 has shown a slow
//! mode too, 3 to 5 times slower, for either candidate, in some runs. Run twice before
//! believing a change.
//!
//! # Nothing lost
//!
//! Each benchmark counts what it scheduled. After it, the candidate is stopped (zeta:
//! `Scheduler::stop`; baseline: its threads are joined) and the bench panics unless the
//! workers' resume counts, the job counter and the hops add up exactly, nothing was
//! cancelled, and no job panicked: a wrong result is a failure, not a number. A wait
//! longer than [`STALL`] panics too (a lost job would otherwise hang the bench).
//!
//! The two jobs of a chain ring refer to each other (a reference cycle), so each ring is
//! leaked on purpose, with its scheduler once stopped: a few kilobytes per benchmark,
//! made before the clock starts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};
use zeta_bench::Backoff;
use zeta_scheduler::{JobRef, ManualScheduler, Resumable, ResumeInfo, Scheduler, SharingScheduler};

/// Pre-created jobs of the outside and manual shapes, scheduled in turn.
const JOBS: usize = 1024;
/// Jobs scheduled per iteration in the outside and manual shapes.
const BATCHES: [usize; 2] = [1, JOBS];
/// Hops per chain (one iteration) in the from-worker shape.
const HOPS: u64 = 4096;
/// Worker counts of the threaded shapes.
const WORKERS: [usize; 2] = [1, 2];
/// zeta's `max_throughput` (the jobs report 1 unit of work; only the limit's
/// bookkeeping matters).
const MAX_THROUGHPUT: usize = 64;
/// zeta's `spin_before_park` (its default, set explicitly).
const SPIN_BEFORE_PARK: u32 = 64;
/// A wait for jobs to run that takes this long means a job was lost.
const STALL: Duration = Duration::from_secs(10);

/// Waits until `counter` reaches `target`, polling with [`Backoff`].
///
/// # Panics
///
/// If `counter` does not reach `target` within [`STALL`]: a job was lost.
#[inline]
fn wait_for(counter: &AtomicU64, target: u64, what: &str) {
    let mut backoff = Backoff::new();
    let mut polls = 0u32;
    let mut since = None;
    // Relaxed: only the value matters here; the jobs' effects are synchronised by the
    // candidate's own queue hand-offs, and the final checks run after a thread join.
    while counter.load(Ordering::Relaxed) < target {
        backoff.snooze();
        polls = polls.wrapping_add(1);
        // Reading the clock is not free: only now and then, once the backoff yields.
        if polls % 1024 == 0 {
            let start: Instant = *since.get_or_insert_with(Instant::now);
            assert!(
                start.elapsed() < STALL,
                "{what}: stuck at {} of {target}; a job was lost",
                counter.load(Ordering::Relaxed)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Jobs.

/// The outside job: bumps a shared counter. The same type runs on both candidates.
struct Tick(Arc<CachePadded<AtomicU64>>);

impl Tick {
    #[inline]
    fn bump(&self) {
        // Relaxed: a count; `wait_for` only needs its value.
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Resumable for Tick {
    #[inline]
    fn resume(&self, _max_throughput: usize) -> ResumeInfo {
        self.bump();
        ResumeInfo::awaiting(1)
    }
}

impl PoolJob for Tick {
    #[inline]
    fn run(&self, _pool: &PoolShared) {
        self.bump();
    }
}

/// The hop count of a chain, shared by the two jobs of its ring and the measuring thread.
struct Chain {
    /// Hops left in the current chain; written by the hop that runs (one at a time).
    remaining: CachePadded<AtomicU64>,
    /// Chains completed; bumped by the last hop, polled by the measuring thread.
    finished: CachePadded<AtomicU64>,
}

impl Chain {
    fn new() -> Self {
        Self {
            remaining: CachePadded::new(AtomicU64::new(0)),
            finished: CachePadded::new(AtomicU64::new(0)),
        }
    }

    /// Measuring thread: arms a chain of [`HOPS`] hops; schedule its first hop next.
    fn arm(&self) {
        // Relaxed: the first hop reads it after the candidate's queue hand-off (zeta's
        // injector push and take, the baseline's mutex), which orders this store before
        // that load; and `wait` ordered it after the previous chain's last store.
        self.remaining.store(HOPS, Ordering::Relaxed);
    }

    /// One hop: returns whether the chain goes on (then schedule the next hop).
    #[inline]
    fn hop(&self) -> bool {
        // Relaxed load and store, no RMW: hops run one at a time, each scheduled by the
        // previous one, so each happens after the previous through the candidate's own
        // queue hand-off (zeta: the run state and the LIFO slot or run queue; baseline:
        // the mutex).
        let left = self.remaining.load(Ordering::Relaxed) - 1;
        self.remaining.store(left, Ordering::Relaxed);
        if left == 0 {
            // Release: pairs with the Acquire fence in `wait`, so that the next `arm`
            // comes after the store above.
            self.finished.fetch_add(1, Ordering::Release);
            return false;
        }
        true
    }

    /// Measuring thread: waits until `chains` chains have finished.
    fn wait(&self, chains: u64) {
        wait_for(&self.finished, chains, "chain");
        // Acquire: pairs with the Release bump of the chain's last hop (`hop`), read
        // by `wait_for`'s Relaxed load: the next `arm` happens after that hop's store.
        std::sync::atomic::fence(Ordering::Acquire);
    }
}

/// A ring of two zeta jobs that schedule each other, with the scheduler they run on.
struct ZetaRing {
    scheduler: SharingScheduler,
    jobs: OnceLock<[JobRef; 2]>,
    chain: Chain,
}

/// One job of a [`ZetaRing`].
struct ZetaHop {
    ring: &'static ZetaRing,
    /// Index of the other job of the ring.
    next: usize,
}

impl Resumable for ZetaHop {
    #[inline]
    fn resume(&self, _max_throughput: usize) -> ResumeInfo {
        let ring = self.ring;
        if ring.chain.hop() {
            let jobs = ring
                .jobs
                .get()
                .expect("the ring is set before its first hop");
            if ring.scheduler.schedule(jobs[self.next].clone()).is_err() {
                // Caught by the worker; the chain then stalls and `wait_for` fails.
                panic!("the scheduler stopped mid-chain");
            }
        }
        ResumeInfo::awaiting(1)
    }
}

/// A ring of two baseline jobs that push each other.
struct PoolRing {
    jobs: OnceLock<[Arc<dyn PoolJob>; 2]>,
    chain: Chain,
}

/// One job of a [`PoolRing`].
struct PoolHop {
    ring: &'static PoolRing,
    /// Index of the other job of the ring.
    next: usize,
}

impl PoolJob for PoolHop {
    #[inline]
    fn run(&self, pool: &PoolShared) {
        let ring = self.ring;
        if ring.chain.hop() {
            let jobs = ring
                .jobs
                .get()
                .expect("the ring is set before its first hop");
            pool.push(jobs[self.next].clone());
        }
    }
}

// ---------------------------------------------------------------------------------------
// The baseline: actor-zeta's work-sharing pool.

/// A job of the baseline pool; `pool` lets it push more jobs (a worker's
/// `internal_enqueue` in actor-zeta, which goes to the same shared queue).
trait PoolJob: Send + Sync {
    fn run(&self, pool: &PoolShared);
}

/// What the baseline's workers and producers share.
struct PoolShared {
    state: Mutex<PoolState>,
    ready: Condvar,
}

struct PoolState {
    queue: VecDeque<Arc<dyn PoolJob>>,
    stopping: bool,
}

impl PoolShared {
    /// actor-zeta's `enqueue`: lock, append, `notify_one` under the lock.
    #[inline]
    fn push(&self, job: Arc<dyn PoolJob>) {
        let mut state = self.state.lock();
        state.queue.push_back(job);
        self.ready.notify_one();
    }
}

/// actor-zeta's work-sharing scheduler: N threads on one `Mutex<VecDeque>` and a
/// `Condvar`. See the file header.
struct MutexPool {
    shared: Arc<PoolShared>,
    threads: Vec<JoinHandle<u64>>,
}

impl MutexPool {
    fn start(workers: usize) -> Self {
        let shared = Arc::new(PoolShared {
            state: Mutex::new(PoolState {
                queue: VecDeque::with_capacity(4 * JOBS),
                stopping: false,
            }),
            ready: Condvar::new(),
        });
        let threads = (0..workers)
            .map(|index| {
                let shared = shared.clone();
                thread::Builder::new()
                    .name(format!("mutex-pool-{index}"))
                    .spawn(move || Self::work(&shared))
                    .expect("spawn a pool worker")
            })
            .collect();
        Self { shared, threads }
    }

    /// A worker: actor-zeta's `dequeue` (lock, wait while empty, pop, unlock), then run.
    /// Returns the number of jobs it ran.
    fn work(shared: &PoolShared) -> u64 {
        let mut runs = 0;
        loop {
            let job = {
                let mut state = shared.state.lock();
                loop {
                    if let Some(job) = state.queue.pop_front() {
                        break job;
                    }
                    if state.stopping {
                        return runs;
                    }
                    shared.ready.wait(&mut state);
                }
            };
            job.run(shared);
            runs += 1;
        }
    }

    fn push(&self, job: Arc<dyn PoolJob>) {
        self.shared.push(job);
    }

    /// Lets the workers finish what is queued, joins them, and returns the jobs they ran.
    fn stop(self) -> u64 {
        self.shared.state.lock().stopping = true;
        self.shared.ready.notify_all();
        self.threads
            .into_iter()
            .map(|thread| thread.join().expect("a pool worker panicked"))
            .sum()
    }
}

// ---------------------------------------------------------------------------------------
// Shapes.

fn zeta_scheduler(workers: usize) -> SharingScheduler {
    let scheduler = SharingScheduler::builder()
        .workers(workers)
        .max_throughput(MAX_THROUGHPUT)
        .spin_before_park(SPIN_BEFORE_PARK)
        .thread_name("zeta-bench-worker")
        .build()
        .expect("a valid configuration");
    scheduler.start().expect("start the scheduler");
    scheduler
}

/// Stops a zeta scheduler and panics unless its workers resumed exactly `expected` jobs,
/// none panicked, and nothing was cancelled or rejected.
fn stop_and_check(scheduler: &SharingScheduler, expected: u64, what: &str) {
    let report = scheduler.stop().expect("stop from the measuring thread");
    let stats = scheduler.stats();
    let resumes: u64 = stats.iter().map(|w| w.resumes).sum();
    let panics: u64 = stats.iter().map(|w| w.panics).sum();
    assert_eq!(resumes, expected, "{what}: resumes");
    assert_eq!(panics, 0, "{what}: a job panicked");
    assert_eq!(report.cancelled, 0, "{what}: jobs cancelled at stop");
    assert_eq!(scheduler.rejected(), 0, "{what}: jobs rejected");
}

/// The outside shape's state for one candidate: the counter the jobs bump, what was
/// scheduled so far, and the next job of the fixed set.
struct Outside {
    counter: Arc<CachePadded<AtomicU64>>,
    scheduled: u64,
    cursor: usize,
}

impl Outside {
    fn new() -> Self {
        Self {
            counter: Arc::new(CachePadded::new(AtomicU64::new(0))),
            scheduled: 0,
            cursor: 0,
        }
    }

    fn tick(&self) -> Tick {
        Tick(self.counter.clone())
    }

    /// One iteration: `submit` `batch` jobs in turn, then wait until all of them ran.
    #[inline]
    fn round(&mut self, batch: usize, submit: &impl Fn(usize)) {
        for _ in 0..batch {
            submit(self.cursor);
            self.cursor = (self.cursor + 1) % JOBS;
        }
        self.scheduled += batch as u64;
        wait_for(&self.counter, self.scheduled, "outside");
    }

    /// Every batch shape of one candidate, after a warm-up round of each.
    fn bench(
        &mut self,
        group: &mut BenchmarkGroup<'_, WallTime>,
        name: &str,
        submit: &impl Fn(usize),
    ) {
        for batch in BATCHES {
            // Warm: grow the run queues to the batch before the clock starts.
            for _ in 0..4 {
                self.round(batch, submit);
            }
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_function(BenchmarkId::new(name, batch), |b| {
                b.iter(|| self.round(batch, submit));
            });
        }
        // Relaxed: the workers are idle (every job ran); this is the final count.
        assert_eq!(
            self.counter.load(Ordering::Relaxed),
            self.scheduled,
            "{name}: every job ran once"
        );
    }
}

fn outside(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheduler/outside");
    for workers in WORKERS {
        let name = format!("zeta-sharing/{workers}-worker");
        let scheduler = zeta_scheduler(workers);
        let mut state = Outside::new();
        let jobs: Vec<JobRef> = (0..JOBS).map(|_| JobRef::new(state.tick())).collect();
        state.bench(&mut group, &name, &|i| {
            if scheduler.schedule(jobs[i].clone()).is_err() {
                panic!("the scheduler stopped while the bench runs");
            }
        });
        stop_and_check(&scheduler, state.scheduled, &name);

        let name = format!("mutex-condvar/{workers}-worker");
        let pool = MutexPool::start(workers);
        let mut state = Outside::new();
        let jobs: Vec<Arc<dyn PoolJob>> = (0..JOBS)
            .map(|_| Arc::new(state.tick()) as Arc<dyn PoolJob>)
            .collect();
        state.bench(&mut group, &name, &|i| pool.push(jobs[i].clone()));
        assert_eq!(pool.stop(), state.scheduled, "{name}: jobs run");
    }
    group.finish();
}

/// Benchmarks chains on one candidate: `start` schedules the first hop of an armed
/// chain. Returns the number of hops run.
fn bench_chains(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    chain: &Chain,
    start: &impl Fn(),
) -> u64 {
    let mut chains = 0;
    let run = |chains: &mut u64| {
        chain.arm();
        start();
        *chains += 1;
        chain.wait(*chains);
    };
    // Warm: the threads running, the queues grown.
    for _ in 0..4 {
        run(&mut chains);
    }
    group.bench_function(name, |b| b.iter(|| run(&mut chains)));
    chains * HOPS
}

fn from_worker(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheduler/from-worker");
    group.throughput(Throughput::Elements(HOPS));
    for workers in WORKERS {
        let name = format!("zeta-sharing/{workers}-worker");
        let ring: &'static ZetaRing = Box::leak(Box::new(ZetaRing {
            scheduler: zeta_scheduler(workers),
            jobs: OnceLock::new(),
            chain: Chain::new(),
        }));
        let jobs = [0, 1].map(|i| JobRef::new(ZetaHop { ring, next: 1 - i }));
        assert!(ring.jobs.set(jobs).is_ok(), "a new ring");
        let hops = bench_chains(&mut group, &name, &ring.chain, &|| {
            let first = ring.jobs.get().expect("set above")[0].clone();
            if ring.scheduler.schedule(first).is_err() {
                panic!("the scheduler stopped while the bench runs");
            }
        });
        stop_and_check(&ring.scheduler, hops, &name);

        let name = format!("mutex-condvar/{workers}-worker");
        let pool = MutexPool::start(workers);
        let ring: &'static PoolRing = Box::leak(Box::new(PoolRing {
            jobs: OnceLock::new(),
            chain: Chain::new(),
        }));
        let jobs = [0, 1].map(|i| Arc::new(PoolHop { ring, next: 1 - i }) as Arc<dyn PoolJob>);
        assert!(ring.jobs.set(jobs).is_ok(), "a new ring");
        let hops = bench_chains(&mut group, &name, &ring.chain, &|| {
            pool.push(ring.jobs.get().expect("set above")[0].clone());
        });
        assert_eq!(pool.stop(), hops, "{name}: hops run");
    }
    group.finish();
}

fn manual(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheduler/manual");
    let scheduler = ManualScheduler::new(MAX_THROUGHPUT).expect("a valid configuration");
    let counter = Arc::new(CachePadded::new(AtomicU64::new(0)));
    let jobs: Vec<JobRef> = (0..JOBS)
        .map(|_| JobRef::new(Tick(counter.clone())))
        .collect();
    let (mut scheduled, mut cursor) = (0u64, 0usize);
    let mut round = |batch: usize| {
        for _ in 0..batch {
            if scheduler.schedule(jobs[cursor].clone()).is_err() {
                panic!("the scheduler stopped while the bench runs");
            }
            cursor = (cursor + 1) % JOBS;
        }
        let stats = scheduler.run_until_idle().expect("not driven elsewhere");
        assert_eq!(stats.resumes, batch as u64, "every job scheduled ran once");
        scheduled += batch as u64;
    };
    for batch in BATCHES {
        round(batch);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("zeta-manual", batch), |b| {
            b.iter(|| round(batch));
        });
    }
    let report = scheduler.stop().expect("not driven elsewhere");
    assert_eq!(report.cancelled, 0, "manual: jobs cancelled at stop");
    // Relaxed: single thread.
    assert_eq!(
        counter.load(Ordering::Relaxed),
        scheduled,
        "manual: jobs run"
    );
    group.finish();
}

fn main() {
    let mut criterion = zeta_bench::criterion();
    outside(&mut criterion);
    from_worker(&mut criterion);
    manual(&mut criterion);
    criterion.final_summary();
}
