//! The bound's state word: how many messages are admitted and not yet given back, and
//! whether anyone may be waiting for room. The protocol is in the parent module's doc.

use core::fmt;

use crate::sync::{AtomicUsize, Ordering};

/// Someone may be waiting for room: a parked blocking sender, or an async send's waiter
/// in the list. Set by a waiter (`announce`), cleared by whoever wakes them all.
pub(crate) const WAITERS: usize = 1;
/// One admitted message; the bits above `WAITERS` count them.
pub(crate) const ONE: usize = 2;

/// A value the word held.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) usize);

impl Snapshot {
    /// Messages admitted and not yet given back.
    #[inline]
    pub(crate) fn used(self) -> usize {
        self.0 / ONE
    }

    /// Whether `WAITERS` is set.
    #[inline]
    pub(crate) fn has_waiters(self) -> bool {
        self.0 & WAITERS != 0
    }

    /// Whether one more message fits under `capacity`.
    #[inline]
    pub(crate) fn has_room(self, capacity: usize) -> bool {
        self.used() < capacity
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("used", &self.used())
            .field("waiters", &self.has_waiters())
            .finish()
    }
}

/// What [`State::try_acquire`] did.
#[must_use = "on `Acquired` the caller owns a slot and must give it back if it does not push"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acquire {
    /// A slot is the caller's.
    Acquired,
    /// The mailbox is at capacity; nothing changed.
    Full,
}

/// The word. Every operation is Relaxed: it carries no data (a message travels through
/// the inbox, whose push is Release and whose take is Acquire), and the two handshakes
/// that need more than the word's own modification order get it from a lock (parent
/// module doc, "Why Relaxed").
pub(crate) struct State(AtomicUsize);

impl State {
    pub(crate) fn new() -> Self {
        Self(AtomicUsize::new(0))
    }

    #[inline]
    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Ordering::Relaxed))
    }

    /// Takes a slot if fewer than `capacity` are taken: the one CAS loop.
    #[inline]
    pub(crate) fn try_acquire(&self, capacity: usize) -> Acquire {
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            if !Snapshot(current).has_room(capacity) {
                return Acquire::Full;
            }
            // Relaxed: see the type's doc.
            match self.0.compare_exchange_weak(
                current,
                current + ONE,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Acquire::Acquired,
                Err(actual) => current = actual,
            }
        }
    }

    /// Takes a slot whatever the count: control mail, and a handler's send over
    /// capacity (parent module doc). Aborts rather than wrap (2^63 messages).
    #[inline]
    pub(crate) fn charge(&self) {
        // Relaxed: see the type's doc.
        let previous = self.0.fetch_add(ONE, Ordering::Relaxed);
        if previous > usize::MAX / 2 {
            std::process::abort();
        }
    }

    /// Gives `n` slots back; returns the word before.
    #[inline]
    pub(crate) fn release(&self, n: usize) -> Snapshot {
        // Relaxed: see the type's doc. The WAITERS bit this returns is decided by the
        // word's modification order, against the waiter's `announce`.
        let previous = Snapshot(self.0.fetch_sub(n * ONE, Ordering::Relaxed));
        debug_assert!(previous.used() >= n, "{previous:?} gives back {n}");
        previous
    }

    /// Sets `WAITERS`; returns the word before (which decides whether to wait at all).
    #[inline]
    pub(crate) fn announce(&self) -> Snapshot {
        // Relaxed: ordered against `release` by the word's modification order.
        Snapshot(self.0.fetch_or(WAITERS, Ordering::Relaxed))
    }

    /// Clears `WAITERS`, before waking everyone who may wait.
    #[inline]
    pub(crate) fn clear_waiters(&self) {
        // Relaxed: the wake that follows takes the locks the waiters check under.
        self.0.fetch_and(!WAITERS, Ordering::Relaxed);
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.load().fmt(f)
    }
}
