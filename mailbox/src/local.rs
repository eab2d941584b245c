//! [`LocalInbox`]: the inbox of a reader that lives on one thread with all its senders
//! (a local, `!Send` actor), with no atomic operation.
//!
//! It is the thread-safe [`Inbox`](crate::Inbox) without the part that only threads
//! need. The nodes are the same ([`Envelope`]: one allocation from a memory resource,
//! the header first, the payload inline), and so are the reader's two FIFOs (a
//! [`Cache`], high before normal): a single thread's sends arrive in order, so a push
//! appends to its priority's FIFO directly ([`Cache::push`]) instead of going through a
//! LIFO stack that the reader takes and relinks. What is left of the inbox's protocol
//! is its states, kept in a `Cell`:
//!
//! | state | push | `try_block` | `seal` | `close` |
//! |---|---|---|---|---|
//! | `Blocked` (the reader sleeps) | queued, → `Open`: [`Enqueued::Unblocked`], the caller schedules the reader | — | → `Sealed`: [`Seal::Unblocked`] | → `Closed` |
//! | `Open` (running or scheduled) | queued: [`Enqueued::Queued`] | empty: → `Blocked`; else `HasMessages` | → `Sealed` | → `Closed` |
//! | `Sealed` (stop requested) | refused: [`Enqueued::Closed`] | empty: [`TryBlock::Sealed`] | `AlreadySealed` | → `Closed` |
//! | `Closed` (the reader ended) | refused | — | [`Seal::Closed`] | the remaining messages (none) |
//!
//! The same rule as the thread-safe inbox gives the right to run the reader: the push
//! or seal that takes the inbox out of `Blocked` holds it and schedules the reader; the
//! reader gives it up with the `try_block` that blocks. One thread does everything, so
//! a `Cell` decides what a CAS decides there.
//!
//! The inbox is neither `Send` nor `Sync`: its states and its FIFOs are plain memory.
//! Its methods never hand out a reference into it and call no user code while they
//! touch it (a message's drop runs after the message has left the inbox), so a
//! handler that sends to its own inbox while another method runs cannot reach one.

use core::cell::{Cell, UnsafeCell};
use core::fmt;
use core::marker::PhantomData;

use crate::cache::Cache;
use crate::inbox::{Enqueued, Seal, TryBlock};
use crate::message::Envelope;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Blocked,
    Open,
    Sealed,
    Closed,
}

/// A single-threaded inbox: the same nodes and FIFOs as [`Inbox`](crate::Inbox), no
/// atomics. See the [module doc](self) for its states.
///
/// # Examples
///
/// ```
/// use zeta_arena::GlobalResource;
/// use zeta_mailbox::{Enqueued, Envelope, LocalInbox, Priority, TryBlock};
///
/// let inbox = LocalInbox::new(); // blocked: the first push must schedule the reader
/// let push = |n: u32, priority| inbox.push(Envelope::new_in(&GlobalResource, priority, n).unwrap());
/// assert!(matches!(push(1, Priority::Normal), Enqueued::Unblocked));
/// assert!(matches!(push(2, Priority::Normal), Enqueued::Queued));
/// assert!(matches!(push(3, Priority::High), Enqueued::Queued));
/// let order: Vec<u32> = std::iter::from_fn(|| inbox.pop().map(|m| m.into_payload())).collect();
/// assert_eq!(order, [3, 1, 2]); // high first, then FIFO
/// assert_eq!(inbox.try_block(), TryBlock::Blocked);
/// ```
pub struct LocalInbox<'r, M> {
    fifos: UnsafeCell<Cache<'r, M>>,
    state: Cell<State>,
    /// Neither `Send` nor `Sync`: one thread owns it.
    _local: PhantomData<*const ()>,
}

impl<M> Default for LocalInbox<'_, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'r, M> LocalInbox<'r, M> {
    /// An empty inbox, blocked: the first push returns [`Enqueued::Unblocked`].
    pub const fn new() -> Self {
        Self {
            fifos: UnsafeCell::new(Cache::new()),
            state: Cell::new(State::Blocked),
            _local: PhantomData,
        }
    }

    /// Runs `f` on the FIFOs.
    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(&mut Cache<'r, M>) -> R) -> R {
        // SAFETY: the inbox is `!Sync`, so only this thread reaches it; no method lets a
        // reference into the FIFOs escape, and `f` (this module's code only) calls no
        // user code, so no other borrow is alive while this one is.
        f(unsafe { &mut *self.fifos.get() })
    }

    /// Queues `envelope` behind the messages of its priority. See the module doc for
    /// what the result asks of the caller.
    #[inline]
    pub fn push(&self, envelope: Envelope<'r, M>) -> Enqueued<'r, M> {
        match self.state.get() {
            State::Open => {
                self.with(|fifos| fifos.push(envelope));
                Enqueued::Queued
            }
            State::Blocked => {
                self.with(|fifos| fifos.push(envelope));
                self.state.set(State::Open);
                Enqueued::Unblocked
            }
            State::Sealed | State::Closed => Enqueued::Closed(envelope),
        }
    }

    /// The next message for the reader: the oldest high one, else the oldest normal one.
    #[inline]
    pub fn pop(&self) -> Option<Envelope<'r, M>> {
        self.with(Cache::pop)
    }

    /// Whether a message is queued.
    #[inline]
    pub fn has_messages(&self) -> bool {
        self.with(|fifos| !fifos.is_empty())
    }

    /// How many messages are queued.
    pub fn len(&self) -> usize {
        self.with(|fifos| fifos.len())
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        !self.has_messages()
    }

    /// The reader, out of messages, gives up the right to run: [`TryBlock::Blocked`]
    /// (the next push schedules it), [`TryBlock::HasMessages`] (keep going), or
    /// [`TryBlock::Sealed`] (drained after a seal: end, and [`close`](Self::close)).
    #[inline]
    pub fn try_block(&self) -> TryBlock {
        if self.has_messages() {
            return TryBlock::HasMessages;
        }
        match self.state.get() {
            State::Open | State::Blocked => {
                self.state.set(State::Blocked);
                TryBlock::Blocked
            }
            State::Sealed | State::Closed => TryBlock::Sealed,
        }
    }

    /// Refuses every later push (a graceful stop: what is queued is still handled).
    /// [`Seal::Unblocked`]: the reader was blocked, and the caller schedules it so that
    /// it drains and ends.
    pub fn seal(&self) -> Seal {
        match self.state.get() {
            State::Open => {
                self.state.set(State::Sealed);
                Seal::Sealed
            }
            State::Blocked => {
                self.state.set(State::Sealed);
                Seal::Unblocked
            }
            State::Sealed => Seal::AlreadySealed,
            State::Closed => Seal::Closed,
        }
    }

    /// Whether a push would be accepted now.
    pub fn accepts(&self) -> bool {
        matches!(self.state.get(), State::Blocked | State::Open)
    }

    /// Whether the reader is blocked: it neither runs nor is scheduled, and the next
    /// push or seal must schedule it.
    pub fn is_blocked(&self) -> bool {
        self.state.get() == State::Blocked
    }

    /// Whether the inbox is closed (its reader has ended).
    pub fn is_closed(&self) -> bool {
        self.state.get() == State::Closed
    }

    /// Closes the inbox for good and hands back the messages still queued, in the
    /// order they would have been handled (drop the [`Cache`] to drop them, or
    /// [`pop`](Cache::pop) them to fail their requests one by one). They leave the inbox
    /// before any of them is dropped.
    pub fn close(&self) -> Cache<'r, M> {
        self.state.set(State::Closed);
        self.with(core::mem::take)
    }
}

impl<M> fmt::Debug for LocalInbox<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalInbox")
            .field("state", &self.state.get())
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(all(test, not(zeta_loom)))]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use zeta_arena::{CountingResource, GlobalResource, PoolResource};

    use super::*;
    use crate::priority::Priority;

    fn message<'r, R: zeta_arena::MemoryResource + Sync>(
        resource: &'r R,
        priority: Priority,
        n: u64,
    ) -> Envelope<'r, u64> {
        Envelope::new_in(resource, priority, n).unwrap()
    }

    /// Against a model (two `VecDeque`s), a pseudo-random mix of pushes at both
    /// priorities, pops, blocks and a seal: the same messages in the same order, and
    /// the same answers.
    #[test]
    fn against_a_model() {
        let pool = CountingResource::new(PoolResource::new());
        let inbox = LocalInbox::new();
        let (mut high, mut normal) = (VecDeque::new(), VecDeque::new());
        let mut model_state = State::Blocked;
        // Seeded: the same sequence on every run.
        let mut rng = fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15);
        for n in 0..20_000u64 {
            match rng.u32(..8) {
                0..=3 => {
                    let priority = if rng.u32(..8) < 3 {
                        Priority::High
                    } else {
                        Priority::Normal
                    };
                    let got = inbox.push(message(&pool, priority, n));
                    match model_state {
                        State::Blocked | State::Open => {
                            assert!(matches!(
                                (&got, model_state),
                                (Enqueued::Unblocked, State::Blocked)
                                    | (Enqueued::Queued, State::Open)
                            ));
                            model_state = State::Open;
                            match priority {
                                Priority::High => high.push_back(n),
                                Priority::Normal => normal.push_back(n),
                            }
                        }
                        _ => assert!(matches!(got, Enqueued::Closed(_))),
                    }
                }
                4..=5 => {
                    let expected = high.pop_front().or_else(|| normal.pop_front());
                    assert_eq!(inbox.pop().map(Envelope::into_payload), expected);
                }
                6 => {
                    let expected = if !high.is_empty() || !normal.is_empty() {
                        TryBlock::HasMessages
                    } else if model_state == State::Sealed {
                        TryBlock::Sealed
                    } else {
                        model_state = State::Blocked;
                        TryBlock::Blocked
                    };
                    assert_eq!(inbox.try_block(), expected);
                }
                _ => {
                    if n > 19_000 {
                        let expected = match model_state {
                            State::Open => Seal::Sealed,
                            State::Blocked => Seal::Unblocked,
                            _ => Seal::AlreadySealed,
                        };
                        assert_eq!(inbox.seal(), expected);
                        model_state = State::Sealed;
                    }
                }
            }
            assert_eq!(inbox.len(), high.len() + normal.len());
        }
        let mut rest = inbox.close();
        let expected: Vec<u64> = high.into_iter().chain(normal).collect();
        let got: Vec<u64> =
            core::iter::from_fn(|| rest.pop().map(Envelope::into_payload)).collect();
        assert_eq!(got, expected);
        assert!(inbox.is_closed());
        assert!(matches!(
            inbox.push(message(&pool, Priority::Normal, 0)),
            Enqueued::Closed(_)
        ));
        drop(rest);
        assert_eq!(pool.live_blocks(), 0, "every node back");
    }

    /// Counts its drops.
    struct Counted<'a>(&'a AtomicUsize);

    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn every_payload_is_dropped_once_whatever_is_left() {
        let drops = AtomicUsize::new(0);
        {
            let inbox = LocalInbox::new();
            for n in 0..100 {
                let priority = if n % 3 == 0 {
                    Priority::High
                } else {
                    Priority::Normal
                };
                let _ = inbox
                    .push(Envelope::new_in(&GlobalResource, priority, Counted(&drops)).unwrap());
            }
            for _ in 0..10 {
                drop(inbox.pop());
            }
            assert_eq!(drops.load(Ordering::Relaxed), 10);
            drop(inbox.close()); // 90 more
            assert_eq!(drops.load(Ordering::Relaxed), 100);
            for _ in 0..5 {
                let _ = inbox.push(
                    Envelope::new_in(&GlobalResource, Priority::Normal, Counted(&drops)).unwrap(),
                );
            }
            // Refused pushes hand the message back, dropped here.
            assert_eq!(drops.load(Ordering::Relaxed), 105);
        }
        // An inbox dropped with messages drops them.
        {
            let inbox = LocalInbox::new();
            for _ in 0..7 {
                let _ = inbox.push(
                    Envelope::new_in(&GlobalResource, Priority::Normal, Counted(&drops)).unwrap(),
                );
            }
        }
        assert_eq!(drops.load(Ordering::Relaxed), 112);
    }

    #[test]
    fn it_is_neither_send_nor_sync() {
        static_assertions::assert_not_impl_any!(LocalInbox<'static, u64>: Send, Sync);
    }
}
