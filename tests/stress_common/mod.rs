//! Helpers shared by `tests/stress.rs` and `tests/faults.rs`: the size scale, a
//! deterministic pseudo-random generator, a payload that accounts for its own drop,
//! and bounded waits that turn a hang into a failed test with a clear message.
//!
//! `ZETA_STRESS_SCALE` (a float, default 1.0) multiplies every size in those tests
//! (actors, messages, rounds of sends), so that a slow run (valgrind, miri-like tools)
//! can use e.g. `ZETA_STRESS_SCALE=0.01`. Every size has a floor, so the tests still
//! exercise the same paths at small scales.
#![allow(dead_code)] // each test binary uses a different part

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any single wait may take before the test declares a hang. Generous: a debug
/// build on a loaded 2-core machine is slow, and these are hang detectors, not timing
/// assertions.
pub const HANG: Duration = Duration::from_secs(120);

/// A request's `wait_timeout`: a `Timeout` after this long is reported as a hang.
pub const REPLY_HANG: Duration = Duration::from_secs(10);

/// `ZETA_STRESS_SCALE`, default 1.0.
pub fn scale() -> f64 {
    match std::env::var("ZETA_STRESS_SCALE") {
        Ok(text) => match text.trim().parse::<f64>() {
            Ok(value) if value.is_finite() && value > 0.0 => value,
            _ => panic!("ZETA_STRESS_SCALE must be a positive number, got {text:?}"),
        },
        Err(_) => 1.0,
    }
}

/// `base` multiplied by the scale, at least `floor`.
pub fn scaled(base: usize, floor: usize) -> usize {
    ((base as f64 * scale()).round() as usize).max(floor)
}

/// The generator of stream `stream` of the run seeded `seed`: a seeded
/// `fastrand::Rng`, the same numbers on every run and platform.
pub fn rng(seed: u64, stream: u64) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F))
}

/// A well-mixed hash of `key`: the first number of the generator seeded with it, the
/// same on every run and platform. The key is spread over the whole word first (× an
/// odd constant): seeds that differ only in their high bits give correlated first draws.
pub fn mix(key: u64) -> u64 {
    fastrand::Rng::with_seed(key.wrapping_mul(0x9E37_79B9_7F4A_7C15)).u64(..)
}

/// How a [`Token`] ended, recorded by its `Drop`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Fate {
    /// Not dropped yet (the ledger's initial state; never set by a drop).
    Alive = 0,
    /// Dropped without anyone marking it: the engine dropped it unhandled (at stop, at
    /// a panic, or inside a message it never delivered).
    Unhandled = 1,
    /// A handler handled it.
    Handled = 2,
    /// A send gave it back to the sender (a `SendError` or an `AskError`).
    Returned = 3,
    /// A handler tried to forward it and the send gave it back.
    ReturnedInHandler = 4,
    /// A reply value taken by the asker.
    Taken = 5,
    /// A reply value the replier got back because the asker had gone.
    Refused = 6,
}

impl Fate {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Fate::Alive,
            1 => Fate::Unhandled,
            2 => Fate::Handled,
            3 => Fate::Returned,
            4 => Fate::ReturnedInHandler,
            5 => Fate::Taken,
            6 => Fate::Refused,
            _ => unreachable!("not a fate: {value}"),
        }
    }
}

/// Where every [`Token`] records its one drop.
pub struct Ledger {
    fates: Box<[AtomicU8]>,
    next: AtomicUsize,
    dropped: AtomicUsize,
    /// Drops of a token whose slot already had a fate: a double drop.
    double_drops: AtomicUsize,
}

impl Ledger {
    /// Room for `capacity` tokens.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            fates: (0..capacity).map(|_| AtomicU8::new(0)).collect(),
            next: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
            double_drops: AtomicUsize::new(0),
        })
    }

    /// Whether `n` more tokens fit.
    pub fn has_room(&self, n: usize) -> bool {
        self.next.load(Ordering::Relaxed) + n <= self.fates.len()
    }

    /// Tokens made so far.
    pub fn created(&self) -> usize {
        self.next.load(Ordering::SeqCst).min(self.fates.len())
    }

    /// Tokens dropped so far.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    /// How token `id` ended.
    pub fn fate(&self, id: u32) -> Fate {
        Fate::from_u8(self.fates[id as usize].load(Ordering::SeqCst))
    }

    /// Every token made was dropped exactly once.
    pub fn assert_balanced(&self, what: &str) {
        let created = self.created();
        assert_eq!(
            self.double_drops.load(Ordering::SeqCst),
            0,
            "{what}: a payload was dropped twice"
        );
        assert_eq!(
            self.dropped(),
            created,
            "{what}: payloads created vs dropped"
        );
        let alive = (0..created as u32)
            .filter(|&id| self.fate(id) == Fate::Alive)
            .count();
        assert_eq!(alive, 0, "{what}: payloads never dropped");
    }
}

/// A payload that records in its [`Ledger`] how it was dropped, exactly once.
pub struct Token {
    pub id: u32,
    /// A value carried along (e.g. what a reply answers).
    pub value: u64,
    /// What the drop records; `Unhandled` unless someone marks it.
    pub fate: Fate,
    ledger: Arc<Ledger>,
}

impl Token {
    /// A new token.
    ///
    /// # Panics
    ///
    /// When the ledger is full (the test sized it too small).
    pub fn new(ledger: &Arc<Ledger>, value: u64) -> Self {
        let id = ledger.next.fetch_add(1, Ordering::SeqCst);
        assert!(id < ledger.fates.len(), "the ledger is full");
        Self {
            id: id as u32,
            value,
            fate: Fate::Unhandled,
            ledger: ledger.clone(),
        }
    }

    /// Marks the fate the drop will record.
    pub fn mark(mut self, fate: Fate) -> Self {
        self.fate = fate;
        self
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        let previous = self.ledger.fates[self.id as usize].swap(self.fate as u8, Ordering::SeqCst);
        if previous != Fate::Alive as u8 {
            self.ledger.double_drops.fetch_add(1, Ordering::SeqCst);
        }
        self.ledger.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `done` until it holds; a hang (longer than `limit`) fails the test with
/// `what` and the progress `progress` reports.
pub fn wait_until(
    limit: Duration,
    what: &str,
    mut done: impl FnMut() -> bool,
    progress: impl Fn() -> String,
) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "hang: {what} did not happen within {limit:?} ({})",
            progress()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A thread whose end is awaited with a deadline: a hang fails the test instead of
/// hanging it (the stuck thread is left behind, detached).
pub struct Bounded<T> {
    what: String,
    handle: JoinHandle<()>,
    result: mpsc::Receiver<T>,
}

/// Runs `f` on a new thread; [`Bounded::join`] waits for it with a deadline.
pub fn spawn_bounded<T: Send + 'static>(
    what: impl Into<String>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Bounded<T> {
    let what = what.into();
    let (tx, result) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name(what.clone())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn a test thread");
    Bounded {
        what,
        handle,
        result,
    }
}

impl<T> Bounded<T> {
    /// Waits at most `limit` for the thread's result; a panic in the thread is
    /// propagated.
    pub fn join(self, limit: Duration) -> T {
        match self.result.recv_timeout(limit) {
            Ok(value) => {
                self.handle.join().expect("the thread has sent its result");
                value
            }
            Err(RecvTimeoutError::Timeout) => {
                panic!("hang: {} did not finish within {limit:?}", self.what)
            }
            Err(RecvTimeoutError::Disconnected) => match self.handle.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => unreachable!("the thread ended without a result"),
            },
        }
    }
}
