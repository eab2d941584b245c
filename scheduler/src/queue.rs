//! The per-worker run queue, behind a seam that loom can see through.
//!
//! Normal builds use crossbeam-deque: the owner pushes and pops FIFO on a [`Worker`],
//! the others steal through [`Stealer`]s. loom cannot see inside crossbeam-deque (it uses
//! core atomics), so loom builds use a stand-in with the same interface: a loom mutex
//! around a `VecDeque`. The stand-in is slow and simple on purpose; the models check the
//! scheduler's own protocols (sleep/wake, run states, stop), not crossbeam's.
//!
//! [`Worker`]: crossbeam_deque::Worker
//! [`Stealer`]: crossbeam_deque::Stealer

use crate::job::QueuedJob as JobRef;

/// The owner's end of a worker's run queue.
pub(crate) trait LocalQueue: Send {
    /// Pushes a job at the back.
    fn push(&self, job: JobRef);
    /// Pops the job at the front.
    fn pop(&self) -> Option<JobRef>;
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

    use super::{JobRef, LocalQueue, StealQueue};

    pub(crate) struct Local(Worker<JobRef>);
    pub(crate) struct Remote(Stealer<JobRef>);

    pub(crate) fn new() -> (Local, Remote) {
        let worker = Worker::new_fifo();
        let stealer = worker.stealer();
        (Local(worker), Remote(stealer))
    }

    impl LocalQueue for Local {
        #[inline]
        fn push(&self, job: JobRef) {
            self.0.push(job);
        }

        #[inline]
        fn pop(&self) -> Option<JobRef> {
            self.0.pop()
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

    use super::{JobRef, LocalQueue, StealQueue};
    use crate::sync::lock::{lock, Mutex};
    use crate::sync::Arc;

    pub(crate) struct Local(Arc<Mutex<VecDeque<JobRef>>>);
    pub(crate) struct Remote(Arc<Mutex<VecDeque<JobRef>>>);

    pub(crate) fn new() -> (Local, Remote) {
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        (Local(queue.clone()), Remote(queue))
    }

    impl LocalQueue for Local {
        fn push(&self, job: JobRef) {
            lock(&self.0).push_back(job);
        }

        fn pop(&self) -> Option<JobRef> {
            lock(&self.0).pop_front()
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
