//! A probe job for scheduler tests: counts what happens to it and checks that it is
//! never resumed by two threads at once.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use zeta_scheduler::{Resumable, ResumeInfo, ResumeResult};

/// Counters shared by a group of probes.
#[derive(Default)]
pub struct Tally {
    /// Resumes, over all probes.
    pub resumes: AtomicU64,
    /// Units of work reported.
    pub messages: AtomicU64,
    /// Shutdown notifications.
    pub shutdowns: AtomicU64,
    /// Panic notifications.
    pub panics: AtomicU64,
    /// Violations seen (a second concurrent resume, a resume after shutdown, ...).
    pub violations: AtomicU64,
}

impl Tally {
    /// A shared, zeroed tally.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::SeqCst)
    }
}

/// What a probe does when resumed.
#[derive(Clone, Copy)]
pub enum Behaviour {
    /// `Done` after one resume.
    Once,
    /// `Awaiting` every time.
    Await,
    /// `work` units in all, `max_throughput` at a time, then `Done`.
    Work(usize),
    /// Panics.
    Panic,
    /// Busy for about this many nanoseconds, then `Done`.
    Busy(u64),
}

/// A job that records its fate in a [`Tally`].
pub struct Probe {
    pub tally: Arc<Tally>,
    pub behaviour: Behaviour,
    running: AtomicBool,
    done: AtomicBool,
    left: AtomicUsize,
}

impl Probe {
    /// A probe with `behaviour`, counted in `tally`.
    pub fn new(tally: &Arc<Tally>, behaviour: Behaviour) -> Self {
        let left = match behaviour {
            Behaviour::Work(n) => n,
            _ => 0,
        };
        Self {
            tally: tally.clone(),
            behaviour,
            running: AtomicBool::new(false),
            done: AtomicBool::new(false),
            left: AtomicUsize::new(left),
        }
    }
}

impl Resumable for Probe {
    fn resume(&self, max_throughput: usize) -> ResumeInfo {
        if self.running.swap(true, Ordering::Acquire) || self.done.load(Ordering::Relaxed) {
            self.tally.violations.fetch_add(1, Ordering::SeqCst);
        }
        let info = match self.behaviour {
            Behaviour::Once => ResumeInfo::done(1),
            Behaviour::Await => ResumeInfo::awaiting(1),
            Behaviour::Work(_) => {
                let left = self.left.load(Ordering::Relaxed);
                let n = left.min(max_throughput);
                self.left.store(left - n, Ordering::Relaxed);
                ResumeInfo {
                    result: if n == left {
                        ResumeResult::Done
                    } else {
                        ResumeResult::Resume
                    },
                    messages_processed: n,
                }
            }
            Behaviour::Panic => {
                self.running.store(false, Ordering::Release);
                panic!("probe panics on purpose");
            }
            Behaviour::Busy(nanos) => {
                let start = std::time::Instant::now();
                while (start.elapsed().as_nanos() as u64) < nanos {
                    std::hint::spin_loop();
                }
                ResumeInfo::done(1)
            }
        };
        if matches!(info.result, ResumeResult::Done | ResumeResult::Shutdown) {
            self.done.store(true, Ordering::Relaxed);
        }
        self.tally
            .messages
            .fetch_add(info.messages_processed as u64, Ordering::SeqCst);
        self.tally.resumes.fetch_add(1, Ordering::SeqCst);
        self.running.store(false, Ordering::Release);
        info
    }

    fn shutdown(&self) {
        if self.done.swap(true, Ordering::Relaxed) {
            self.tally.violations.fetch_add(1, Ordering::SeqCst);
        }
        self.tally.shutdowns.fetch_add(1, Ordering::SeqCst);
    }

    fn panicked(&self, payload: &(dyn std::any::Any + Send)) {
        let message = payload.downcast_ref::<&str>().copied().unwrap_or("");
        if message != "probe panics on purpose" {
            self.tally.violations.fetch_add(1, Ordering::SeqCst);
        }
        self.tally.panics.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits (yielding) until `f` holds, failing the test after 20 s instead of hanging.
pub fn wait_until(what: &str, f: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed().as_secs() < 20,
            "timed out waiting for {what}"
        );
        std::thread::yield_now();
    }
}
