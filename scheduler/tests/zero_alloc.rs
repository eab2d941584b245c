//! Zero global allocations per schedule + resume in a steady state: from outside threads
//! (the injector path), from inside a worker (the LIFO-slot / local-queue path), in
//! bursts from inside a worker (more jobs made ready at once than a local queue holds:
//! the overflow path), and on a ManualScheduler.
//!
//! Worker threads are spawned by the scheduler, so allocations are counted globally; the
//! binary holds this single test, which runs the paths one after the other, so nothing
//! else in the process allocates while a path is measured.

#![cfg(not(zeta_loom))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use zeta_scheduler::{JobRef, ManualScheduler, Resumable, ResumeInfo, Scheduler, SharingScheduler};

struct CountingAlloc;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to `System`, which upholds `GlobalAlloc`'s contract; the
// counter is a static atomic.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::SeqCst)
}

/// Counts its resumes and waits for the next schedule.
struct Tick(Arc<AtomicU64>);

impl Resumable for Tick {
    fn resume(&self, _max: usize) -> ResumeInfo {
        self.0.fetch_add(1, Ordering::Release);
        ResumeInfo::awaiting(1)
    }
}

/// Warm-up's last step: every worker has parked at least once. A thread's first park
/// registers it with parking_lot, which may grow its global table: a one-time cost per
/// thread, not a per-job one.
fn wait_until_every_worker_parked(s: &SharingScheduler) {
    while s.stats().iter().any(|w| w.parks == 0) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

fn wait_for(counter: &AtomicU64, target: u64) {
    while counter.load(Ordering::Acquire) < target {
        std::thread::yield_now();
    }
}

/// Outside thread: schedule 64 jobs, wait for them, repeat.
fn outside_path(workers: usize) -> u64 {
    let s = SharingScheduler::builder()
        .workers(workers)
        .build()
        .unwrap();
    s.start().unwrap();
    let resumes = Arc::new(AtomicU64::new(0));
    let jobs: Vec<JobRef> = (0..64)
        .map(|_| JobRef::new(Tick(resumes.clone())))
        .collect();
    let mut target = 0;
    let round = |target: &mut u64| {
        for job in &jobs {
            s.schedule(job.clone()).unwrap();
        }
        *target += 64;
        wait_for(&resumes, *target);
    };
    for _ in 0..2_000 {
        round(&mut target); // warm-up: queues grow to their working size
    }
    wait_until_every_worker_parked(&s);
    let before = allocations();
    for _ in 0..20_000 {
        round(&mut target);
    }
    let allocated = allocations() - before;
    s.stop().unwrap();
    allocated
}

/// Inside a worker: two jobs schedule each other (the LIFO slot), `HOPS` hops a round.
fn local_path(workers: usize) -> u64 {
    const HOPS: u64 = 1_000;
    struct Hop {
        scheduler: Arc<OnceLock<SharingScheduler>>,
        next: Arc<Mutex<Option<JobRef>>>,
        hops: Arc<AtomicU64>,
        until: Arc<AtomicU64>,
    }
    impl Resumable for Hop {
        fn resume(&self, _max: usize) -> ResumeInfo {
            let hop = self.hops.fetch_add(1, Ordering::AcqRel) + 1;
            if hop < self.until.load(Ordering::Acquire) {
                let next = self.next.lock().unwrap().clone();
                if let Some(next) = next {
                    self.scheduler.get().unwrap().schedule(next).unwrap();
                }
            }
            ResumeInfo::awaiting(1)
        }
    }
    let cell = Arc::new(OnceLock::new());
    let s = cell.get_or_init(|| {
        SharingScheduler::builder()
            .workers(workers)
            .build()
            .unwrap()
    });
    s.start().unwrap();
    let (hops, until) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (a_next, b_next) = (Arc::new(Mutex::new(None)), Arc::new(Mutex::new(None)));
    let hop = |next: &Arc<Mutex<Option<JobRef>>>| Hop {
        scheduler: cell.clone(),
        next: next.clone(),
        hops: hops.clone(),
        until: until.clone(),
    };
    let (a, b) = (JobRef::new(hop(&a_next)), JobRef::new(hop(&b_next)));
    *a_next.lock().unwrap() = Some(b.clone());
    *b_next.lock().unwrap() = Some(a.clone());
    let round = || {
        let target = until.load(Ordering::Acquire) + HOPS;
        until.store(target, Ordering::Release);
        s.schedule(a.clone()).unwrap();
        wait_for(&hops, target);
    };
    for _ in 0..200 {
        round();
    }
    wait_until_every_worker_parked(s);
    let before = allocations();
    for _ in 0..2_000 {
        round();
    }
    let allocated = allocations() - before;
    s.stop().unwrap();
    a_next.lock().unwrap().take();
    b_next.lock().unwrap().take();
    allocated
}

/// Inside a worker, in bursts: one job schedules `BURST` others at once (an actor
/// messaging many idle actors from a handler), far more than a worker's local queue
/// holds; the overflow goes to the injector.
fn burst_path(workers: usize) -> u64 {
    const BURST: usize = 1_000;
    struct Fan {
        scheduler: Arc<OnceLock<SharingScheduler>>,
        targets: Vec<JobRef>,
    }
    impl Resumable for Fan {
        fn resume(&self, _max: usize) -> ResumeInfo {
            let scheduler = self.scheduler.get().unwrap();
            for target in &self.targets {
                scheduler.schedule(target.clone()).unwrap();
            }
            ResumeInfo::awaiting(1)
        }
    }
    let cell = Arc::new(OnceLock::new());
    let s = cell.get_or_init(|| {
        SharingScheduler::builder()
            .workers(workers)
            .build()
            .unwrap()
    });
    s.start().unwrap();
    let resumes = Arc::new(AtomicU64::new(0));
    let fan = JobRef::new(Fan {
        scheduler: cell.clone(),
        targets: (0..BURST)
            .map(|_| JobRef::new(Tick(resumes.clone())))
            .collect(),
    });
    let mut target = 0;
    let mut round = || {
        s.schedule(fan.clone()).unwrap();
        target += BURST as u64;
        wait_for(&resumes, target);
    };
    for _ in 0..200 {
        round();
    }
    wait_until_every_worker_parked(s);
    let before = allocations();
    for _ in 0..2_000 {
        round();
    }
    let allocated = allocations() - before;
    s.stop().unwrap();
    allocated
}

/// ManualScheduler: schedule 64 jobs, run until idle, repeat.
fn manual_path() -> u64 {
    let s = ManualScheduler::new(64).unwrap();
    let resumes = Arc::new(AtomicU64::new(0));
    let jobs: Vec<JobRef> = (0..64)
        .map(|_| JobRef::new(Tick(resumes.clone())))
        .collect();
    let round = || {
        for job in &jobs {
            s.schedule(job.clone()).unwrap();
        }
        assert_eq!(s.run_until_idle().unwrap().resumes, 64);
    };
    for _ in 0..100 {
        round();
    }
    let before = allocations();
    for _ in 0..10_000 {
        round();
    }
    allocations() - before
}

#[test]
fn zero_global_allocations_per_schedule_and_resume() {
    let results = [
        ("outside thread, 1 worker, 1,280,000 jobs", outside_path(1)),
        ("outside thread, 2 workers, 1,280,000 jobs", outside_path(2)),
        ("inside a worker, 1 worker, 2,000,000 hops", local_path(1)),
        ("inside a worker, 2 workers, 2,000,000 hops", local_path(2)),
        (
            "bursts of 1,000 from a worker, 1 worker, 2,000 bursts",
            burst_path(1),
        ),
        (
            "bursts of 1,000 from a worker, 2 workers, 2,000 bursts",
            burst_path(2),
        ),
        ("manual, 640,000 jobs", manual_path()),
    ];
    for (path, allocated) in results {
        println!("{path}: {allocated} global allocations");
    }
    for (path, allocated) in results {
        assert_eq!(allocated, 0, "{path}");
    }
}
