//! The last owner of a job sees every other owner's uses before it destroys the job,
//! whichever owner lets go last: the runner (its AcqRel run-end CAS) or an outside
//! holder of a `JobRef` (a Release decrement, then an Acquire load of the state word).
//!
//! As an ordinary test it checks that each job is destroyed exactly once, after its run.
//! Its real use is under ThreadSanitizer, which checks the happens-before edge between
//! the runner's write in `resume` and the destroyer's read in `Drop`, and which does not
//! model a standalone `fence(Acquire)` (so the drop path must acquire with a load):
//!
//! ```text
//! RUSTFLAGS="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer" \
//!   CARGO_TARGET_DIR=target/tsan cargo +nightly test -p zeta-scheduler \
//!   --target x86_64-unknown-linux-gnu --test refcount
//! ```

#![cfg(not(zeta_loom))]

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use zeta_scheduler::{JobRef, Resumable, ResumeInfo};

/// Destructions, over all jobs.
static DESTROYED: AtomicUsize = AtomicUsize::new(0);

/// A job whose `resume` writes a plain (non-atomic) field and whose `Drop` reads it.
struct Plain {
    written: UnsafeCell<u64>,
}

// SAFETY: `written` is written only inside `resume` (the job's RUNNING bit makes that
// exclusive) and read only in `Drop` (by the owner of the last reference, after every
// other owner's uses: the property under test).
unsafe impl Sync for Plain {}

impl Resumable for Plain {
    fn resume(&self, _max_throughput: usize) -> ResumeInfo {
        // SAFETY: inside `resume`: see the `Sync` impl.
        unsafe { *self.written.get() += 1 };
        ResumeInfo::awaiting(1)
    }
}

impl Drop for Plain {
    fn drop(&mut self) {
        assert_eq!(*self.written.get_mut(), 1, "destroyed after its one run");
        // Relaxed: read after the threads are joined.
        DESTROYED.fetch_add(1, Ordering::Relaxed);
    }
}

/// One job, run on another thread while this one holds a reference; `outside_last`
/// makes this thread drop its reference only after the run has ended, through a Relaxed
/// flag (no happens-before edge: only the refcount may order the run before the drop).
fn race(outside_last: bool) {
    let job = JobRef::new(Plain {
        written: UnsafeCell::new(0),
    });
    let queued = job.queue().expect("an idle job is queued");
    let ran = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            assert!(queued.run(16).requeue.is_none(), "Awaiting: not requeued");
            // Relaxed: on purpose, see above.
            ran.store(true, Ordering::Relaxed);
        });
        if outside_last {
            while !ran.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        }
        drop(job);
    });
}

#[test]
fn the_last_owner_destroys_after_every_use() {
    const ROUNDS: usize = 200;
    for round in 0..ROUNDS {
        race(round % 2 == 0);
    }
    assert_eq!(DESTROYED.load(Ordering::Relaxed), ROUNDS);
}
