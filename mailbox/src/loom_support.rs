//! Helpers shared by this crate's loom models (`inbox::loom`, `request::loom`).

use ::loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use ::loom::sync::Arc;

/// Explicit scheduling points, so that loom permutes whole operations.
///
/// loom 0.7's DPOR remembers only the *last* access to each atomic. When a thread's
/// access to `head` is a plain load (every `push` starts with one, and a `take_all` that
/// finds the inbox empty does nothing else), a later load by another thread overwrites
/// that record, and the race between the first load and the other thread's CAS is never
/// reversed (tokio-rs/loom#166, #392). Without these points, a model of one push racing
/// one `take_all` ran a single interleaving, the push after the take, and a Relaxed
/// publishing CAS in `push` went unnoticed by the `take_all` models.
///
/// A Relaxed `fetch_add` on this counter before each operation is an RMW, which loom
/// treats as dependent on every other access to the counter, so each pair of operations
/// from different threads is explored in both orders. Being Relaxed (and no thread here
/// issuing a Release fence), it creates no happens-before edge: it cannot hide a missing
/// ordering in the protocol under test.
#[derive(Clone)]
pub(crate) struct Interleave(Arc<AtomicUsize>);

impl Interleave {
    pub(crate) fn new() -> Self {
        Self(Arc::new(AtomicUsize::new(0)))
    }

    /// A point where loom may switch to any other thread.
    pub(crate) fn point(&self) {
        // Relaxed: only the scheduling point matters, never the value (see above).
        self.0.fetch_add(1, Relaxed);
    }
}
