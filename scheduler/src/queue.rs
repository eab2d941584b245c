//! The per-worker run queue: bounded, so that it never allocates, and behind a seam that
//! loom can see through.
//!
//! Normal builds use crossbeam-deque: the owner pushes and pops FIFO on a [`Worker`],
//! the others steal through [`Stealer`]s. loom cannot see inside crossbeam-deque (it uses
//! core atomics), so loom builds use a stand-in with the same interface: a loom mutex
//! around a `VecDeque`. The stand-in is slow and simple on purpose; the models check the
//! scheduler's own protocols (sleep/wake, run states, overflow, stop), not crossbeam's.
//!
//! # Capacity
//!
//! A queue holds at most [`CAPACITY`] jobs, and [`LocalQueue::push`] hands the job back
//! when it is full. The bound is crossbeam-deque's: `Worker::new_fifo` allocates a
//! buffer of `MIN_CAP` = 64 slots (crossbeam-deque 0.8, `src/deque.rs`), `Worker::push`
//! allocates a buffer twice as large when it finds `len >= cap`, and `Worker::pop`
//! allocates a smaller one again (plus epoch garbage) once a grown buffer is less than
//! a quarter full. So a queue that never holds more than 64 jobs keeps its first
//! buffer and never calls the allocator: we push only while `len() < 64`. `len` reads
//! the front index once, and thieves only move it forward, so it can overstate the
//! length, never understate it: a queue below 64 here is below 64 in `Worker::push`.
//!
//! Where a job goes when the queue is full (the injector), and how stop accounts for it,
//! is the worker's business: see `sharing/worker.rs`.
//!
//! [`Worker`]: crossbeam_deque::Worker
//! [`Stealer`]: crossbeam_deque::Stealer

use crate::job::QueuedJob as JobRef;

/// The most jobs a local queue holds: crossbeam-deque's initial buffer (`MIN_CAP`),
/// which it never grows as long as it holds no more (see the module doc). One job in
/// loom builds, so that the models exercise the overflow path.
pub(crate) const CAPACITY: usize = if cfg!(zeta_loom) { 1 } else { 64 };

/// The owner's end of a worker's run queue.
pub(crate) trait LocalQueue: Send {
    /// Pushes a job at the back, or hands it back if the queue holds [`CAPACITY`] jobs.
    fn push(&self, job: JobRef) -> Result<(), JobRef>;
    /// Pops the job at the front.
    fn pop(&self) -> Option<JobRef>;
    /// The number of jobs queued, as the owner sees it: thieves may have taken some
    /// since (never added: only the owner pushes).
    fn len(&self) -> usize;
}

/// The other workers' end of a run queue.
pub(crate) trait StealQueue: Send + Sync {
    /// Takes a job from the front, if any.
    fn steal(&self) -> Option<JobRef>;
    /// Whether the queue is empty (a snapshot).
    fn is_empty(&self) -> bool;
}

#[cfg(not(zeta_loom))]
mod imp {
    use crossbeam_deque::{Steal, Stealer, Worker};

    use super::{JobRef, LocalQueue, StealQueue, CAPACITY};

    pub(crate) struct Local(Worker<JobRef>);
    pub(crate) struct Remote(Stealer<JobRef>);

    pub(crate) fn new() -> (Local, Remote) {
        let worker = Worker::new_fifo();
        let stealer = worker.stealer();
        (Local(worker), Remote(stealer))
    }

    impl LocalQueue for Local {
        #[inline]
        fn push(&self, job: JobRef) -> Result<(), JobRef> {
            // At most CAPACITY - 1 before this push: `Worker::push` then writes into the
            // buffer it has (see the module doc).
            if self.0.len() >= CAPACITY {
                return Err(job);
            }
            self.0.push(job);
            Ok(())
        }

        #[inline]
        fn pop(&self) -> Option<JobRef> {
            self.0.pop()
        }

        #[inline]
        fn len(&self) -> usize {
            self.0.len()
        }
    }

    impl StealQueue for Remote {
        #[inline]
        fn steal(&self) -> Option<JobRef> {
            loop {
                match self.0.steal() {
                    Steal::Success(job) => return Some(job),
                    Steal::Empty => return None,
                    Steal::Retry => core::hint::spin_loop(),
                }
            }
        }

        #[inline]
        fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }
}

#[cfg(zeta_loom)]
mod imp {
    use std::collections::VecDeque;

    use super::{JobRef, LocalQueue, StealQueue, CAPACITY};
    use crate::sync::lock::{lock, Mutex};
    use crate::sync::Arc;

    pub(crate) struct Local(Arc<Mutex<VecDeque<JobRef>>>);
    pub(crate) struct Remote(Arc<Mutex<VecDeque<JobRef>>>);

    pub(crate) fn new() -> (Local, Remote) {
        let queue = Arc::new(Mutex::new(VecDeque::with_capacity(CAPACITY)));
        (Local(queue.clone()), Remote(queue))
    }

    impl LocalQueue for Local {
        fn push(&self, job: JobRef) -> Result<(), JobRef> {
            let mut queue = lock(&self.0);
            if queue.len() >= CAPACITY {
                return Err(job);
            }
            queue.push_back(job);
            Ok(())
        }

        fn pop(&self) -> Option<JobRef> {
            lock(&self.0).pop_front()
        }

        fn len(&self) -> usize {
            lock(&self.0).len()
        }
    }

    impl StealQueue for Remote {
        fn steal(&self) -> Option<JobRef> {
            lock(&self.0).pop_front()
        }

        fn is_empty(&self) -> bool {
            lock(&self.0).is_empty()
        }
    }
}

pub(crate) use imp::{new, Local, Remote};

#[cfg(all(test, not(zeta_loom)))]
mod tests {
    use super::*;
    use crate::{JobRef as Job, Resumable, ResumeInfo};

    struct Nop;
    impl Resumable for Nop {
        fn resume(&self, _max_throughput: usize) -> ResumeInfo {
            ResumeInfo::done(1)
        }
    }

    fn queued() -> JobRef {
        Job::new(Nop).into_queued().expect("a new job is idle")
    }

    #[test]
    fn holds_capacity_jobs_then_hands_the_next_back() {
        let (local, remote) = new();
        for n in 0..CAPACITY {
            assert!(local.push(queued()).is_ok(), "job {n} fits");
        }
        assert_eq!(local.len(), CAPACITY);
        assert!(local.push(queued()).is_err(), "full");
        assert!(remote.steal().is_some());
        assert_eq!(local.len(), CAPACITY - 1);
        assert!(local.push(queued()).is_ok(), "a steal made room");
        assert!(local.push(queued()).is_err(), "full again");
        let mut popped = 0;
        while local.pop().is_some() {
            popped += 1;
        }
        assert_eq!(popped, CAPACITY);
    }
}
