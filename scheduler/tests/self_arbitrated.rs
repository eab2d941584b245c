//! A self-arbitrated job written against the public API (`JobVTable::run_right`), not
//! an actor: its run right is one atomic flag. Checks the scheduler's side of the
//! protocol (scheduler/src/job/mod.rs, "Self-arbitrated jobs"): an entry only through
//! the job's claim, runs that touch no count, completion on `Done` and on cancel, and
//! the last outside reference's drop claiming an idle job or flagging a queued one;
//! the job is destroyed exactly once, after its last use, in every case.
//!
//! Not under `--cfg zeta_loom` (the job header's atomics are loom's there, usable only
//! inside a model; the protocol's loom models are in `loom-tests/`).

#![cfg(not(zeta_loom))]

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use zeta_scheduler::{JobHeader, JobRef, JobVTable, ResumeInfo, RunRight};

/// The job: a header, its run right (`idle`: true while nobody holds it), an orphan
/// flag for its runner, and counters the test reads.
#[repr(C)]
struct Flagged {
    header: JobHeader,
    idle: AtomicBool,
    orphan: AtomicBool,
    /// `Done` after this many runs (0: never).
    done_after: usize,
    runs: AtomicUsize,
    ended: AtomicUsize,
    destroyed: Arc<AtomicUsize>,
}

const VTABLE: JobVTable = JobVTable {
    resume,
    shutdown,
    panicked,
    destroy,
    run_right: Some(RunRight { claim, orphaned }),
};

/// # Safety
///
/// `header` is a live `Flagged`'s.
unsafe fn job<'a>(header: NonNull<JobHeader>) -> &'a Flagged {
    // SAFETY: the header is the first field of a `repr(C)` `Flagged` (caller's duty).
    unsafe { header.cast::<Flagged>().as_ref() }
}

unsafe fn resume(header: NonNull<JobHeader>, _max: usize) -> ResumeInfo {
    // SAFETY: the scheduler calls the table with this job's header.
    let job = unsafe { job(header) };
    let runs = job.runs.fetch_add(1, Ordering::Relaxed) + 1;
    if job.done_after != 0 && runs == job.done_after {
        job.ended.fetch_add(1, Ordering::Relaxed);
        return ResumeInfo::done(1);
    }
    // Before giving the right up: an orphan flag means nobody else holds a reference
    // unless one was made since (this job makes none), so it ends.
    if job.orphan.swap(false, Ordering::Acquire) {
        job.ended.fetch_add(1, Ordering::Relaxed);
        return ResumeInfo::done(1);
    }
    // Release: the run happens before the next claim (which acquires).
    job.idle.store(true, Ordering::Release);
    ResumeInfo::awaiting(1)
}

unsafe fn shutdown(header: NonNull<JobHeader>) {
    // SAFETY: as in `resume`.
    unsafe { job(header) }.ended.fetch_add(1, Ordering::Relaxed);
}

unsafe fn panicked(_header: NonNull<JobHeader>, _payload: &(dyn std::any::Any + Send)) {}

unsafe fn destroy(header: NonNull<JobHeader>) {
    // SAFETY: the last reference and pin are gone; the job was made by `Box::into_raw`.
    let job = unsafe { Box::from_raw(header.cast::<Flagged>().as_ptr()) };
    job.destroyed.fetch_add(1, Ordering::Relaxed);
}

unsafe fn claim(header: NonNull<JobHeader>) -> bool {
    // SAFETY: as in `resume`.
    let job = unsafe { job(header) };
    job.idle
        .compare_exchange(true, false, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
}

unsafe fn orphaned(header: NonNull<JobHeader>) -> bool {
    // SAFETY: as in `resume`; the caller's pin keeps the job.
    let job = unsafe { job(header) };
    // Simplified (one flag, not one word as an actor's inbox): the claim, else the flag.
    // Good enough for these single-threaded tests; an actor does both in one CAS.
    if job.idle.swap(false, Ordering::AcqRel) {
        job.ended.fetch_add(1, Ordering::Relaxed);
        return true;
    }
    job.orphan.store(true, Ordering::Release);
    false
}

/// A new idle job (run right with the job) and its first outside reference.
fn flagged(done_after: usize, destroyed: &Arc<AtomicUsize>) -> JobRef {
    let job = Box::new(Flagged {
        header: JobHeader::new(&VTABLE),
        idle: AtomicBool::new(true),
        orphan: AtomicBool::new(false),
        done_after,
        runs: AtomicUsize::new(0),
        ended: AtomicUsize::new(0),
        destroyed: destroyed.clone(),
    });
    // SAFETY: a live header made with `JobHeader::new` at the start of a `Flagged`,
    // whose table handles it; we adopt the creator's reference (the run right keeps the
    // other); the job is `Send + Sync` (atomics and an `Arc`); `destroy` frees the box.
    unsafe { JobRef::from_raw(NonNull::from(Box::leak(job)).cast()) }
}

fn state(job: &JobRef) -> &Flagged {
    // SAFETY: every `JobRef` in this file is a `Flagged`'s, kept alive by `job`.
    unsafe { job.as_ptr().cast::<Flagged>().as_ref() }
}

#[test]
fn entries_only_through_the_claim_and_runs_touch_no_count() {
    let destroyed = Arc::new(AtomicUsize::new(0));
    let job = flagged(0, &destroyed);
    assert_eq!(job.ref_count(), 2, "the creator's and the run right's");
    let entry = job.queue().expect("idle: the claim succeeds");
    assert!(job.queue().is_none(), "claimed: no second entry");
    assert_eq!(
        job.ref_count(),
        2,
        "the entry carries the run right's reference"
    );
    let ran = entry.run(16);
    assert!(
        ran.requeue.is_none(),
        "Awaiting: the right went back to the job"
    );
    assert_eq!(job.ref_count(), 2);
    assert!(!job.is_complete());
    // Claimed again after the run gave the right back.
    drop(job.queue().expect("idle again").run(16));
    assert_eq!(state(&job).runs.load(Ordering::Relaxed), 2);
    drop(job);
    assert_eq!(destroyed.load(Ordering::Relaxed), 1);
}

#[test]
fn done_completes_and_the_last_outside_drop_destroys() {
    let destroyed = Arc::new(AtomicUsize::new(0));
    let job = flagged(1, &destroyed);
    let ran = job.queue().expect("idle").run(16);
    assert!(ran.requeue.is_none());
    assert!(job.is_complete(), "Done gives the run right's reference up");
    assert_eq!(job.ref_count(), 1);
    assert!(job.queue().is_none(), "a complete job cannot be claimed");
    assert_eq!(destroyed.load(Ordering::Relaxed), 0);
    drop(job);
    assert_eq!(destroyed.load(Ordering::Relaxed), 1);
}

#[test]
fn last_outside_drop_of_an_idle_job_claims_and_ends_it() {
    let destroyed = Arc::new(AtomicUsize::new(0));
    let job = flagged(0, &destroyed);
    let other = job.clone();
    drop(job);
    assert_eq!(
        destroyed.load(Ordering::Relaxed),
        0,
        "one outside reference left"
    );
    drop(other);
    assert_eq!(
        destroyed.load(Ordering::Relaxed),
        1,
        "claimed, ended, destroyed"
    );
}

#[test]
fn last_outside_drop_of_a_queued_job_flags_it_and_the_run_ends_it() {
    let destroyed = Arc::new(AtomicUsize::new(0));
    let job = flagged(0, &destroyed);
    let entry = job.queue().expect("idle");
    drop(job);
    assert_eq!(destroyed.load(Ordering::Relaxed), 0, "the entry keeps it");
    let ran = entry.run(16);
    assert!(ran.requeue.is_none());
    assert_eq!(
        destroyed.load(Ordering::Relaxed),
        1,
        "the run found the flag and ended"
    );
}

#[test]
fn a_cancelled_entry_completes_the_job() {
    let destroyed = Arc::new(AtomicUsize::new(0));
    let job = flagged(0, &destroyed);
    job.queue().expect("idle").cancel();
    assert!(job.is_complete());
    assert_eq!(
        state(&job).ended.load(Ordering::Relaxed),
        1,
        "told shutdown once"
    );
    drop(job);
    assert_eq!(destroyed.load(Ordering::Relaxed), 1);
}
