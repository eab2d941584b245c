//! [`Injector`]: where outside threads submit jobs, with no allocation per submission.
//!
//! An intrusive Treiber stack through the jobs' `next` links (crossbeam's `Injector`
//! would allocate a block every 63 pushes). Any thread pushes with one CAS; a worker
//! takes the whole stack with one CAS and spreads it over its local queue, where the
//! others can steal it. `close` makes later pushes fail so that a stopping scheduler can
//! account for every job.
//!
//! States of `head`: null (empty), [`CLOSED`] (tag 1), or the top job. Orderings as in
//! the inbox: push is a Release CAS (publishes the job's link and whatever the scheduler
//! did before), `take_all` and `close` acquire, which covers every push in the stack
//! because each push continues the release sequence. No ABA: jobs are only ever taken
//! all at once, never popped one by one.

use core::ptr::{self, NonNull};

use crate::job::{JobHeader, QueuedJob};
use crate::sync::{AtomicPtr, Ordering};

const CLOSED: usize = 1;

fn closed() -> *mut JobHeader {
    ptr::without_provenance_mut(CLOSED)
}

/// The intrusive multi-producer submission stack.
pub(crate) struct Injector {
    head: AtomicPtr<JobHeader>,
}

impl Injector {
    pub(crate) fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Pushes a job; gives it back if the injector is closed.
    ///
    /// A `QueuedJob` owns the job's `QUEUED` bit, so the job is in no other queue and its
    /// link is free.
    #[inline]
    pub(crate) fn push(&self, job: QueuedJob) -> Result<(), QueuedJob> {
        let node = job.into_raw();
        // Relaxed: a guess for the CAS.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            if head == closed() {
                // SAFETY: we just took this reference out with `into_raw`.
                return Err(unsafe { QueuedJob::from_raw(node) });
            }
            // SAFETY: the job holds QUEUED for this push: nobody else uses its link.
            unsafe { node.as_ref().next.with_mut(|next| *next = head) };
            // Release: publishes the link (and the scheduler's earlier writes) to the
            // Acquire in `take_all`/`close`.
            match self.head.compare_exchange_weak(
                head,
                node.as_ptr(),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => head = actual,
            }
        }
    }

    /// Takes every job, oldest first.
    #[inline]
    pub(crate) fn take_all(&self) -> Jobs {
        // Relaxed: a guess for the CAS, which acquires.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            if head.is_null() || head == closed() {
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

    /// Closes the injector and returns what was in it, oldest first.
    pub(crate) fn close(&self) -> Jobs {
        // Acquire: pairs with the Release of every push in the stack.
        let head = self.head.swap(closed(), Ordering::Acquire);
        if head.is_null() || head == closed() {
            return Jobs::empty();
        }
        // SAFETY: we took the whole chain; its links were published by the pushes.
        unsafe { Jobs::from_lifo(head) }
    }

    /// Whether a job is waiting (a snapshot). Callers that need it to be ordered after
    /// their own writes issue a SeqCst fence first (see `idle.rs`).
    #[inline]
    pub(crate) fn has_jobs(&self) -> bool {
        let head = self.head.load(Ordering::Relaxed);
        !head.is_null() && head != closed()
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        // A scheduler closes and drains its injector when it stops; if it never did, the
        // jobs still in it are cancelled (told shutdown) here.
        drop(self.close());
    }
}

/// Jobs taken out of an injector, oldest first. Dropping it cancels them.
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

    /// Reverses a LIFO chain into FIFO order.
    ///
    /// # Safety
    ///
    /// `top` starts a chain of job references owned by the caller, linked through
    /// `next`, with visible links, ending in null.
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
}

impl Iterator for Jobs {
    type Item = QueuedJob;

    #[inline]
    fn next(&mut self) -> Option<QueuedJob> {
        let node = NonNull::new(self.head)?;
        // SAFETY: the chain is ours; the link was written by `from_lifo`.
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
