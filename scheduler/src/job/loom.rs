//! loom model of the reference count that shares the job state word (see `state.rs`):
//! the end of a run gives up the queue's reference in the same CAS that clears
//! `RUNNING`, racing the drop of the last other reference.
//!
//! Run with `RUSTFLAGS="--cfg zeta_loom -C debug-assertions" cargo test --release
//! -p zeta-scheduler --lib job::loom`.

use ::loom::cell::UnsafeCell;
use ::loom::sync::atomic::AtomicUsize;
use ::loom::sync::atomic::Ordering::Relaxed;
use ::loom::sync::Arc;
use ::loom::thread;

use crate::{JobRef, Resumable, ResumeInfo};

/// A job whose `resume` and `Drop` both write one loom cell, whose outside owner writes
/// another before it lets go, and which counts its drops: a destruction not ordered
/// after the run or after the outside owner's last use, or none, or two, fails the model.
struct Touchy {
    cell: UnsafeCell<usize>,
    /// Written by the outside owner before it drops its reference (see `outside_use`).
    outside: UnsafeCell<usize>,
    dropped: Arc<AtomicUsize>,
}

// SAFETY: `cell` is written only inside `resume` (which the job's RUNNING bit makes
// exclusive) and in `Drop` (by the owner of the last reference); `outside` only by the
// one outside owner while it holds its reference, and in `Drop`. loom's causality
// checker verifies that every such access is ordered after the previous one.
unsafe impl Sync for Touchy {}

impl Resumable for Touchy {
    fn resume(&self, _max_throughput: usize) -> ResumeInfo {
        // SAFETY: inside `resume`; see the `Sync` impl.
        self.cell.with_mut(|value| unsafe { *value += 1 });
        ResumeInfo::awaiting(1)
    }
}

impl Drop for Touchy {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: the last reference is gone.
        self.cell.with_mut(|value| unsafe { *value += 1 });
        // SAFETY: as above.
        self.outside.with_mut(|value| unsafe { *value += 1 });
        // Relaxed: read after the join.
        self.dropped.fetch_add(1, Relaxed);
    }
}

/// The outside owner's last use of the job before it drops its reference.
fn outside_use(job: &JobRef) {
    // SAFETY: `job` is a `Touchy` boxed by `JobRef::new` (so `boxed` finds it) and the
    // reference keeps it alive; only this thread writes `outside` before the
    // destruction (see the `Sync` impl).
    let touchy = unsafe { super::boxed::<Touchy>(job.as_ptr()) };
    // SAFETY: as above.
    touchy.outside.with_mut(|value| unsafe { *value += 1 });
}

/// The run's releasing CAS (`QueuedJob::run` → `transition_from_running_releasing`)
/// races the drop of the only other reference, with the queue entry made through a
/// borrowed reference (`JobRef::queue`, whose CAS adds the queue's reference). Whoever
/// takes the count to zero destroys the job, exactly once, after the other's last use.
///
/// Both directions are checked: the runner's write in `resume` must happen before an
/// outside destroyer's `Drop` (the CAS's Release half, then the Acquire load in
/// `State::ref_dec`), and the outside owner's write before its drop must happen before
/// the runner's `Drop` when the runner destroys (the outside Release decrement, then the
/// CAS's Acquire half).
///
/// Breaking it on purpose: with the releasing CAS made Relaxed (instead of AcqRel),
/// this model fails with loom's causality violation on the cell (the destroyer's write
/// in `Drop` is not ordered after the runner's write in `resume`); with the Acquire
/// load in `State::ref_dec` made Relaxed, the same; with the CAS made Release only
/// (no Acquire half), on `outside` (the runner destroys without seeing the outside
/// owner's write).
#[test]
fn run_release_races_last_drop() {
    ::loom::model(|| {
        let dropped = Arc::new(AtomicUsize::new(0));
        let job = JobRef::new(Touchy {
            cell: UnsafeCell::new(0),
            outside: UnsafeCell::new(0),
            dropped: dropped.clone(),
        });
        let queued = job.queue().expect("an idle job is queued");
        assert_eq!(job.ref_count(), 2, "the queue's reference");
        let runner = thread::spawn(move || {
            let ran = queued.run(16);
            assert!(ran.requeue.is_none(), "Awaiting: not requeued");
        });
        outside_use(&job);
        drop(job);
        runner.join().expect("the runner does not panic");
        assert_eq!(dropped.load(Relaxed), 1, "destroyed exactly once");
    });
}

/// A job scheduled while it runs is requeued with the queue's reference kept (the
/// releasing CAS does not give it up), and the job is destroyed once, after its second
/// run, by whichever of the runner and the outside owner lets go last.
#[test]
fn notified_run_keeps_the_queue_reference() {
    ::loom::model(|| {
        let dropped = Arc::new(AtomicUsize::new(0));
        let job = JobRef::new(Touchy {
            cell: UnsafeCell::new(0),
            outside: UnsafeCell::new(0),
            dropped: dropped.clone(),
        });
        let queued = job.queue().expect("an idle job is queued");
        let other = job.clone();
        let runner = thread::spawn(move || {
            let mut next = Some(queued);
            let mut runs = 0;
            while let Some(queued) = next.take() {
                runs += 1;
                next = queued.run(16).requeue;
            }
            runs
        });
        // Either finds the job queued or running (nothing to push, or NOTIFIED: the
        // runner runs it again) or idle again (we must run it ourselves).
        let mine = other.queue();
        drop(other);
        let extra = mine.map_or(0, |queued| {
            assert!(queued.run(16).requeue.is_none());
            1
        });
        drop(job);
        let runs = runner.join().expect("the runner does not panic");
        assert!(
            runs + extra >= 1 && runs + extra <= 2,
            "runs: {runs} + {extra}"
        );
        assert_eq!(dropped.load(Relaxed), 1, "destroyed exactly once");
    });
}
