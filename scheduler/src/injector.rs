//! [`Injector`]: where outside threads submit jobs, and where workers put the jobs their
//! local queues have no room for, with no allocation.
//!
//! Two words, each a chain of jobs linked through their `next` fields:
//!
//! - `head`, an intrusive Treiber stack, newest on top. Any thread pushes one job with
//!   one CAS ([`push`](Injector::push)); a worker whose local queue is full pushes a
//!   whole [`Batch`] with one CAS ([`push_batch`](Injector::push_batch)).
//!   (crossbeam's `Injector` would allocate a block every 63 pushes.)
//! - `backlog`, a FIFO chain, oldest first: jobs a worker took out of `head` and had no
//!   room for, left for whoever takes next.
//!
//! A worker takes at most as many jobs as it has room for ([`take`](Injector::take)):
//! the whole backlog if there is one, else the whole stack, reversed into FIFO order
//! (one pass over its jobs). It keeps the first `max` and puts the rest back as the
//! backlog with one CAS, so that the next taker does not walk them again: a burst of `n`
//! jobs costs O(n) in all, not O(n²/max). If another worker put a backlog back in the
//! meantime (two workers taking at once), the rest goes onto the stack instead, reversed
//! back into stack order (one pass over the rest). The backlog is only refilled when
//! empty, so jobs in the stack wait behind at most one backlog.
//!
//! States of each word: null (empty), [`CLOSED`] (tag 1), or the first job of a chain.
//! [`close`](Injector::close) swaps both to `CLOSED` and returns what they held; every
//! later push, batch push and put-back fails and hands its jobs back to the caller.
//! Between a take and its put-back, the rest belongs to the taking worker alone: if the
//! injector closed meanwhile, the put-back fails ([`Left::Refused`]) and that worker
//! tells those jobs shutdown at its stop, counted like the rest of its queue (see
//! `sharing/worker.rs`). So each job is, at every moment, in `head`, in `backlog`, or
//! held by exactly one thread, and stop accounts for every one.
//!
//! Orderings, as in the inbox: whatever publishes a chain is a Release CAS (push, batch
//! push, put-back; the links are written before it), whatever takes one acquires (the
//! CAS in `take`, the swaps in `close`). A push continues the release sequence of the
//! pushes below it (each is a read-modify-write), so taking the stack acquires every
//! link in it. A put-back re-publishes links its taker acquired: happens-before is
//! transitive, so the next taker sees them too. No ABA: chains are only ever taken
//! whole, links are read only after the CAS that took them, and a CAS that finds a
//! different chain than expected fails.

use core::ptr::{self, NonNull};

use crate::job::{JobHeader, QueuedJob};
use crate::sync::{AtomicPtr, Ordering};

const CLOSED: usize = 1;

fn closed() -> *mut JobHeader {
    ptr::without_provenance_mut(CLOSED)
}

/// Whether `word` (a value of `head` or `backlog`) is a chain of jobs.
#[inline]
fn is_chain(word: *mut JobHeader) -> bool {
    !word.is_null() && word != closed()
}

/// The intrusive multi-producer submission stack, and the backlog.
pub(crate) struct Injector {
    head: AtomicPtr<JobHeader>,
    backlog: AtomicPtr<JobHeader>,
}

/// What [`Injector::take`] took.
pub(crate) struct Taken {
    /// At most `max` jobs, oldest first.
    pub(crate) jobs: Jobs,
    /// What became of the rest.
    pub(crate) left: Left,
}

/// The jobs [`Injector::take`] took but did not return.
pub(crate) enum Left {
    /// There were none.
    Nothing,
    /// Put back into the injector for the next taker: wake a worker.
    PutBack,
    /// The injector closed meanwhile and refused them: the caller must tell them
    /// shutdown and count them (dropping them tells them).
    Refused(Jobs),
}

impl Injector {
    pub(crate) fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
            backlog: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Pushes a job; gives it back if the injector is closed.
    ///
    /// A `QueuedJob` owns the job's run right, so the job is in no other queue and its
    /// link is free.
    #[inline]
    pub(crate) fn push(&self, job: QueuedJob) -> Result<(), QueuedJob> {
        let node = job.into_raw();
        match self.splice(node, node) {
            Ok(()) => Ok(()),
            // SAFETY: we just took this reference out with `into_raw`, and the failed
            // splice left it ours.
            Err(()) => Err(unsafe { QueuedJob::from_raw(node) }),
        }
    }

    /// Pushes a whole batch with one CAS, keeping its order (its oldest job comes out
    /// first); gives it back if the injector is closed.
    pub(crate) fn push_batch(&self, batch: Batch) -> Result<(), Batch> {
        let (Some(top), Some(bottom)) = (NonNull::new(batch.top), NonNull::new(batch.bottom))
        else {
            return Ok(());
        };
        match self.splice(top, bottom) {
            Ok(()) => {
                // The jobs are in the stack now.
                core::mem::forget(batch);
                Ok(())
            }
            Err(()) => Err(batch),
        }
    }

    /// Links the chain `top ..= bottom` (the caller's, linked from `top` down to
    /// `bottom`) on top of the stack; `Err` if the injector is closed (the chain is
    /// still the caller's).
    #[inline]
    fn splice(&self, top: NonNull<JobHeader>, bottom: NonNull<JobHeader>) -> Result<(), ()> {
        // Relaxed: a guess for the CAS.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            if head == closed() {
                return Err(());
            }
            // SAFETY: the chain is the caller's, whose jobs hold their run rights: nobody
            // else uses their links until the CAS below publishes them.
            unsafe { bottom.as_ref().next.with_mut(|next| *next = head) };
            // Release: publishes the links (and the scheduler's earlier writes) to the
            // Acquire in `take`/`close`.
            match self.head.compare_exchange_weak(
                head,
                top.as_ptr(),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => head = actual,
            }
        }
    }

    /// Takes at most `max` jobs (`max` ≥ 1), oldest first: from the backlog if there is
    /// one, else from the stack; the rest is put back (see the module doc).
    pub(crate) fn take(&self, max: usize) -> Taken {
        let mut jobs = self.take_backlog();
        if jobs.is_empty() {
            jobs = self.take_stack();
        }
        let rest = jobs.split_off(max.max(1));
        let left = if rest.is_empty() {
            Left::Nothing
        } else {
            match self.put_back(rest) {
                Ok(()) => Left::PutBack,
                Err(rest) => Left::Refused(rest),
            }
        };
        Taken { jobs, left }
    }

    /// Takes every job, oldest first (the backlog, then the stack).
    pub(crate) fn take_all(&self) -> Jobs {
        let mut jobs = self.take_backlog();
        jobs.append(self.take_stack());
        jobs
    }

    /// Takes the whole backlog, already oldest first.
    #[inline]
    fn take_backlog(&self) -> Jobs {
        // Relaxed: a guess for the CAS, which acquires.
        let mut backlog = self.backlog.load(Ordering::Relaxed);
        loop {
            if !is_chain(backlog) {
                return Jobs::empty();
            }
            // Acquire: pairs with the Release CAS of the put-back that made this backlog.
            match self.backlog.compare_exchange_weak(
                backlog,
                ptr::null_mut(),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                // SAFETY: we took the whole chain; its links were published by the
                // put-back (and, before it, by the pushes).
                Ok(_) => return unsafe { Jobs::from_fifo(backlog) },
                Err(actual) => backlog = actual,
            }
        }
    }

    /// Takes the whole stack, oldest first.
    #[inline]
    fn take_stack(&self) -> Jobs {
        // Relaxed: a guess for the CAS, which acquires.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            if !is_chain(head) {
                return Jobs::empty();
            }
            // Acquire: pairs with the Release of every push in the stack.
            match self.head.compare_exchange_weak(
                head,
                ptr::null_mut(),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                // SAFETY: we took the whole chain; its links were published by the pushes.
                Ok(_) => return unsafe { Jobs::from_lifo(head) },
                Err(actual) => head = actual,
            }
        }
    }

    /// Puts the rest of a take back: as the backlog if it is empty, else onto the stack;
    /// `Err` with the jobs if the injector is closed.
    fn put_back(&self, rest: Jobs) -> Result<(), Jobs> {
        let first = rest.head;
        // Release: publishes the chain's links to the Acquire in `take_backlog`/`close`.
        // Relaxed on failure: we only look at what the word holds.
        match self.backlog.compare_exchange(
            ptr::null_mut(),
            first,
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            Ok(_) => {
                // The jobs are in the backlog now.
                core::mem::forget(rest);
                Ok(())
            }
            Err(word) if word == closed() => Err(rest),
            Err(_) => self.put_back_slow(rest),
        }
    }

    /// Another worker's backlog is there: push the rest onto the stack, newest on top.
    #[cold]
    fn put_back_slow(&self, rest: Jobs) -> Result<(), Jobs> {
        let mut batch = Batch::default();
        for job in rest {
            batch.push(job);
        }
        self.push_batch(batch).map_err(Batch::into_jobs)
    }

    /// Closes the injector and returns what was in it, oldest first.
    pub(crate) fn close(&self) -> Jobs {
        // Acquire: pairs with the Release of every push in the stack.
        let stack = self.head.swap(closed(), Ordering::Acquire);
        // Acquire: pairs with the Release CAS of the put-back that made the backlog.
        let backlog = self.backlog.swap(closed(), Ordering::Acquire);
        let mut jobs = if is_chain(backlog) {
            // SAFETY: we took the whole chain; its links were published by the put-back.
            unsafe { Jobs::from_fifo(backlog) }
        } else {
            Jobs::empty()
        };
        if is_chain(stack) {
            // SAFETY: we took the whole chain; its links were published by the pushes.
            jobs.append(unsafe { Jobs::from_lifo(stack) });
        }
        jobs
    }

    /// Whether a job is waiting (a snapshot). Callers that need it to be ordered after
    /// their own writes issue a SeqCst fence first (see `idle.rs`).
    #[inline]
    pub(crate) fn has_jobs(&self) -> bool {
        // Relaxed: see above.
        is_chain(self.head.load(Ordering::Relaxed))
            || is_chain(self.backlog.load(Ordering::Relaxed))
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        // A scheduler closes and drains its injector when it stops; if it never did, the
        // jobs still in it are cancelled (told shutdown) here.
        drop(self.close());
    }
}

/// Jobs linked by one thread into a chain for [`Injector::push_batch`], newest on top
/// (the stack's order). Dropping it cancels them.
pub(crate) struct Batch {
    top: *mut JobHeader,
    bottom: *mut JobHeader,
    len: usize,
}

// SAFETY: the chain owns queued job references, which are `Send`.
unsafe impl Send for Batch {}

impl Default for Batch {
    fn default() -> Self {
        Self {
            top: ptr::null_mut(),
            bottom: ptr::null_mut(),
            len: 0,
        }
    }
}

impl Batch {
    /// Adds a job on top: it comes out of the injector after the ones added before it.
    #[inline]
    pub(crate) fn push(&mut self, job: QueuedJob) {
        let node = job.into_raw();
        // SAFETY: the job holds its run right and is in no queue: its link is ours.
        unsafe { node.as_ref().next.with_mut(|next| *next = self.top) };
        if self.bottom.is_null() {
            self.bottom = node.as_ptr();
        }
        self.top = node.as_ptr();
        self.len += 1;
    }

    /// The number of jobs in the batch.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The jobs, newest first.
    pub(crate) fn into_jobs(self) -> Jobs {
        let jobs = Jobs { head: self.top };
        core::mem::forget(self);
        jobs
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        drop(Jobs { head: self.top });
    }
}

/// Jobs taken out of an injector, in order. Dropping it cancels them.
pub(crate) struct Jobs {
    head: *mut JobHeader,
}

// SAFETY: the chain owns job references, which are `Send`.
unsafe impl Send for Jobs {}

impl Jobs {
    pub(crate) fn empty() -> Self {
        Self {
            head: ptr::null_mut(),
        }
    }

    /// Adopts a chain that is in order already.
    ///
    /// # Safety
    ///
    /// `first` starts a chain of job references owned by the caller, linked through
    /// `next`, with visible links, ending in null.
    unsafe fn from_fifo(first: *mut JobHeader) -> Self {
        Self { head: first }
    }

    /// Reverses a LIFO chain into FIFO order.
    ///
    /// # Safety
    ///
    /// As for [`from_fifo`](Jobs::from_fifo).
    unsafe fn from_lifo(top: *mut JobHeader) -> Self {
        let mut reversed: *mut JobHeader = ptr::null_mut();
        let mut node = top;
        while let Some(current) = NonNull::new(node) {
            // SAFETY: the chain is ours and its links are visible (caller's duty).
            unsafe {
                node = current.as_ref().next.with(|next| *next);
                current.as_ref().next.with_mut(|next| *next = reversed);
            }
            reversed = current.as_ptr();
        }
        Self { head: reversed }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Keeps the first `n` jobs and returns the rest.
    fn split_off(&mut self, n: usize) -> Jobs {
        if n == 0 {
            return core::mem::replace(self, Jobs::empty());
        }
        let Some(mut last_kept) = NonNull::new(self.head) else {
            return Jobs::empty();
        };
        for _ in 1..n {
            // SAFETY: the chain is ours; its links are visible (a `Jobs` invariant).
            let next = unsafe { last_kept.as_ref().next.with(|next| *next) };
            match NonNull::new(next) {
                Some(next) => last_kept = next,
                None => return Jobs::empty(),
            }
        }
        // SAFETY: as above; cutting the link hands the rest to the new `Jobs`.
        let rest = unsafe {
            last_kept
                .as_ref()
                .next
                .with_mut(|next| core::mem::replace(&mut *next, ptr::null_mut()))
        };
        Jobs { head: rest }
    }

    /// Links `other` after the last job (walks this chain: for cold paths).
    fn append(&mut self, other: Jobs) {
        let other = core::mem::ManuallyDrop::new(other);
        let Some(mut last) = NonNull::new(self.head) else {
            self.head = other.head;
            return;
        };
        // SAFETY: both chains are ours; their links are visible (a `Jobs` invariant).
        unsafe {
            while let Some(next) = NonNull::new(last.as_ref().next.with(|next| *next)) {
                last = next;
            }
            last.as_ref().next.with_mut(|next| *next = other.head);
        }
    }
}

impl Iterator for Jobs {
    type Item = QueuedJob;

    #[inline]
    fn next(&mut self) -> Option<QueuedJob> {
        let node = NonNull::new(self.head)?;
        // SAFETY: the chain is ours; its links are visible (a `Jobs` invariant).
        self.head = unsafe { node.as_ref().next.with(|next| *next) };
        // SAFETY: each node in the chain is a queued job its pusher gave up with `into_raw`.
        Some(unsafe { QueuedJob::from_raw(node) })
    }
}

impl Drop for Jobs {
    fn drop(&mut self) {
        for job in self.by_ref() {
            drop(job);
        }
    }
}

#[cfg(all(test, not(zeta_loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::{JobRef, Resumable, ResumeInfo};

    /// Records its number when resumed; counts its shutdowns.
    struct Numbered {
        n: usize,
        log: Arc<std::sync::Mutex<Vec<usize>>>,
        shutdowns: Arc<AtomicUsize>,
    }

    impl Resumable for Numbered {
        fn resume(&self, _max_throughput: usize) -> ResumeInfo {
            self.log.lock().unwrap().push(self.n);
            ResumeInfo::done(1)
        }
        fn shutdown(&self) {
            self.shutdowns.fetch_add(1, Ordering::Relaxed);
        }
    }

    struct Fixture {
        log: Arc<std::sync::Mutex<Vec<usize>>>,
        shutdowns: Arc<AtomicUsize>,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                log: Arc::default(),
                shutdowns: Arc::default(),
            }
        }

        fn job(&self, n: usize) -> QueuedJob {
            JobRef::new(Numbered {
                n,
                log: self.log.clone(),
                shutdowns: self.shutdowns.clone(),
            })
            .into_queued()
            .expect("a new job is idle")
        }

        fn run(&self, jobs: Jobs) -> Vec<usize> {
            self.log.lock().unwrap().clear();
            for job in jobs {
                assert!(job.run(1).requeue.is_none());
            }
            core::mem::take(&mut *self.log.lock().unwrap())
        }
    }

    #[test]
    fn take_returns_at_most_max_oldest_first_and_keeps_the_rest_in_order() {
        let f = Fixture::new();
        let injector = Injector::new();
        for n in 0..10 {
            assert!(injector.push(f.job(n)).is_ok());
        }
        let taken = injector.take(3);
        assert!(matches!(taken.left, Left::PutBack));
        assert_eq!(f.run(taken.jobs), [0, 1, 2]);
        // Pushed after the take: behind the backlog.
        assert!(injector.push(f.job(10)).is_ok());
        let taken = injector.take(4);
        assert!(matches!(taken.left, Left::PutBack));
        assert_eq!(f.run(taken.jobs), [3, 4, 5, 6]);
        let taken = injector.take(100);
        assert!(
            matches!(taken.left, Left::Nothing),
            "the backlog, all of it"
        );
        assert_eq!(f.run(taken.jobs), [7, 8, 9]);
        assert!(injector.has_jobs());
        assert_eq!(f.run(injector.take_all()), [10]);
        assert!(!injector.has_jobs());
        assert_eq!(f.shutdowns.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_batch_comes_out_in_the_order_it_was_made() {
        let f = Fixture::new();
        let injector = Injector::new();
        assert!(injector.push(f.job(0)).is_ok());
        let mut batch = Batch::default();
        for n in 1..5 {
            batch.push(f.job(n));
        }
        assert_eq!(batch.len(), 4);
        assert!(injector.push_batch(batch).is_ok());
        assert!(injector.push(f.job(5)).is_ok());
        assert_eq!(f.run(injector.take_all()), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_rest_finding_the_backlog_taken_goes_onto_the_stack_in_order() {
        let f = Fixture::new();
        let injector = Injector::new();
        for n in 0..4 {
            assert!(injector.push(f.job(n)).is_ok());
        }
        let first = injector.take(1); // 0; backlog 1, 2, 3
        for n in 4..8 {
            assert!(injector.push(f.job(n)).is_ok());
        }
        // The backlog is taken whole (1, 2, 3): `take` puts 2, 3 back.
        let second = injector.take(1);
        // Another take of the stack (4..8) with the backlog full: 5, 6, 7 go back onto
        // the stack.
        let mut stack = injector.take_stack();
        let rest = stack.split_off(1);
        assert!(injector.put_back(rest).is_ok());
        assert_eq!(f.run(first.jobs), [0]);
        assert_eq!(f.run(second.jobs), [1]);
        assert_eq!(f.run(stack), [4]);
        assert_eq!(f.run(injector.take_all()), [2, 3, 5, 6, 7]);
    }

    #[test]
    fn closing_refuses_everything_and_returns_every_job_once() {
        let f = Fixture::new();
        let injector = Injector::new();
        for n in 0..6 {
            assert!(injector.push(f.job(n)).is_ok());
        }
        let taken = injector.take(2); // 0, 1; backlog 2..6
        assert!(injector.push(f.job(6)).is_ok());
        let closed: Vec<QueuedJob> = injector.close().collect();
        assert_eq!(closed.len(), 5, "the backlog and the stack");
        drop(closed);
        assert!(injector.push(f.job(7)).is_err());
        let mut batch = Batch::default();
        batch.push(f.job(8));
        assert!(injector.push_batch(batch).is_err());
        let mut kept = taken.jobs;
        let rest = kept.split_off(1);
        assert!(injector.put_back(rest).is_err());
        drop(kept);
        assert!(!injector.has_jobs());
        assert_eq!(
            f.shutdowns.load(Ordering::Relaxed),
            9,
            "every job told shutdown once"
        );
        assert!(injector.close().is_empty(), "closing twice finds nothing");
    }

    #[test]
    fn split_off_edges() {
        let f = Fixture::new();
        let injector = Injector::new();
        for n in 0..3 {
            assert!(injector.push(f.job(n)).is_ok());
        }
        let mut jobs = injector.take_all();
        assert!(jobs.split_off(3).is_empty(), "exactly 3");
        assert!(jobs.split_off(4).is_empty(), "one more than there are");
        assert!(jobs.split_off(5).is_empty(), "more than there are");
        let rest = jobs.split_off(0);
        assert!(jobs.is_empty());
        assert_eq!(f.run(rest), [0, 1, 2]);
    }
}
