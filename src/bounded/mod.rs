//! Bounded mailboxes: a capacity chosen at spawn, and what senders do when it is reached.
//!
//! An actor spawned with [`spawn_bounded`](crate::spawn_bounded) (or
//! [`System::spawn_bounded`](crate::System::spawn_bounded),
//! [`Context::spawn_bounded`](crate::Context::spawn_bounded)) admits at most `capacity`
//! user messages that have been sent and not yet taken for dispatch by its runner. An
//! unbounded actor (the default) pays one plain load of the cell's `capacity` field and a
//! predictable branch per send, and one per run on the runner's side: nothing else.
//!
//! # Where it lives
//!
//! The cell keeps the capacity in a `u32` that sits in padding (the cell is no larger
//! than before); a bounded cell is allocated with a [`Bound`] right after it, in the same
//! block (`cell::BoundedCell`). The bound is reached through the job's pointer, which
//! covers the whole block.
//!
//! # The protocol
//!
//! One word ([`state`]): `used` (messages admitted and not yet given back) and a
//! `WAITERS` flag. Plus a list of async waiters behind a mutex, and `parking_lot_core`'s
//! queue keyed by the word's address for blocked threads.
//!
//! | who | does | on the word |
//! |---|---|---|
//! | a sender with room | `try_acquire` before it allocates and pushes | CAS `used → used + 1` if `used < capacity`, else `Full` (nothing changed) |
//! | a handler's send to a full mailbox, control mail (`Wake`, `Down`) | `charge` | `fetch_add(1)` whatever `used` is |
//! | a sender whose push failed after admission (closed, out of memory, scheduler stopped) | `release(1)` | `fetch_sub(1)`; wakes all if `WAITERS` was set |
//! | the runner, once per run (before `try_block`, before requeueing, before ending) | `release(n)`, n = messages dispatched in that run | `fetch_sub(n)`; wakes all if `WAITERS` was set |
//! | a waiter (blocking or async), after a failed `try_acquire` | `announce`, then parks or returns `Pending` unless the old word shows room | `fetch_or(WAITERS)` |
//! | whoever wakes (`wake_all`) | clears `WAITERS`, `unpark_all`s the key, drains the async list and wakes each waker outside the lock | `fetch_and(!WAITERS)` |
//! | a seal (stop, kill) and the actor's end (`finish`) | `wake_all` unconditionally | as above |
//!
//! Every message that enters a bounded inbox is counted: user messages through
//! admission, the engine's own (`Mail::Wake` from an actor waker, `Mail::Down` from a
//! monitor or link) through `charge`, never refused. The runner gives back exactly what
//! it dispatched, so the count is `admitted - dispatched` whatever the mix. Messages
//! dropped undispatched when the actor ends, and those of a run a panic cut short, are
//! never given back: the count no longer matters then (a panic ends a bounded actor: a
//! supervised child, which outlives its instance's panic, cannot be bounded), and the
//! end wakes every waiter, who finds the inbox closed.
//!
//! **No lost wake-up, blocking.** A blocked sender announces, and parks with
//! `parking_lot_core` keyed on the word's address, validated under the bucket lock by
//! "`WAITERS` set, still full, still accepting". The runner's `release` and the
//! waiter's `announce` are read-modify-writes of one word, so one is first: if the
//! release is, `announce` returns a word with room and the waiter retries without
//! parking; if the announce is, the release sees `WAITERS`, and `wake_all` clears it
//! and calls `unpark_all`, which takes the same bucket lock as `validate`: either
//! `validate` ran first (the thread is queued and woken) or after (it sees `WAITERS`
//! clear, or room, and does not sleep). A waiter that finds room taken again by another
//! sender waits again: `used ≥ capacity > 0` means admitted messages are outstanding,
//! so a release (or the actor's end) is still to come.
//!
//! **No lost wake-up, async.** An async sender links its pinned node with a clone of its
//! waker into the list *and* announces, both under the list's mutex; if the announce
//! returns a word with room (or the actor no longer accepts), it unlinks and retries
//! instead of returning `Pending`. A release that sees `WAITERS` locks the mutex after
//! its `fetch_and`: a waiter whose announce came before the release in the word's order
//! linked its node before that lock (its unlock precedes the releaser's lock), so the
//! drain finds it. A woken waiter is unlinked by the waker; its next poll starts over.
//!
//! **Seal and end.** A stop or kill seals the inbox (another word), then wakes
//! unconditionally: a waiter's check of `accepts()` (under the bucket lock, or under the
//! list's mutex) and the sealer's wake-up take the same lock, so the waiter sees the seal
//! or is woken by it. Waking only when `WAITERS` is set would be a store-buffer race
//! between two words (each side writes one and reads the other), which only SeqCst on
//! both sides would close; the unconditional wake costs a stop of a bounded actor one
//! bucket lock and one mutex lock.
//!
//! **Why Relaxed.** The word carries no data: messages are published by the inbox's
//! Release push and Acquire take. What the waiting needs beyond the word's own
//! modification order comes from a lock (the bucket lock; the list's mutex), as argued
//! above.
//!
//! # A handler's send to a full mailbox
//!
//! Blocking a worker inside a handler can deadlock any cycle of actors (Savina's `big`
//! with capacity 1 does, on mailboxes that block senders: every actor waits for room in
//! another's). So a send made while the thread runs an actor (a handler, a hook) is
//! never refused for fullness and never blocks: [`Address::send`](crate::Address::send)
//! (and `send_high`, `enqueue`, `ask`, a polled
//! [`send_async`](crate::Address::send_async)) admits it over capacity (`charge`), and
//! the *sending* actor yields at the end of its current message: its run returns early
//! and it goes to the back of its scheduler's queue, behind the receiver, which throttles
//! it. A handler that would rather shed load uses
//! [`try_send`](crate::Address::try_send), which is refused with
//! [`Undelivered::Full`](crate::Undelivered::Full) there too; a blocking
//! [`send_blocking`](crate::Address::send_blocking) inside an actor is refused with
//! [`Undelivered::WouldBlock`](crate::Undelivered::WouldBlock), as a blocking
//! `Future::wait` is. The yield is one flag in the thread's `IN_ACTOR` word, read once
//! per dispatched message.
//!
//! From outside an actor, `send` on a full mailbox behaves as `try_send` (`Full`, the
//! message back); `send_blocking` waits (spin, then park, as its [`WaitStrategy`] says,
//! up to an optional deadline); `send_async` resolves when there is room.
//!
//! # Checked
//!
//! The loom models (`bounded::loom`, `--cfg zeta_loom`): a runner giving back racing an
//! async sender that waits for room, seen to fail (loom: deadlock, both threads parked)
//! with the waiter's announce moved before its link and out of the mutex: the release
//! found `WAITERS`, drained a list the node was not in yet, and the sender slept for
//! ever; and with the release not looking at `WAITERS`. A blocking sender against the
//! runner (the count never above the capacity, every slot given back); a seal racing
//! an async and a blocking waiter (both return `Stopped`).

pub(crate) mod send;
pub(crate) mod state;
pub(crate) mod waiters;

#[cfg(all(test, zeta_loom))]
mod loom;

use core::ptr::NonNull;
use core::task::Waker;
use std::time::{Duration, Instant};

use crate::future::WaitStrategy;
use crate::sync::{self, Mutex, Parked};

use self::state::{Acquire, State};
use self::waiters::{WaitList, Waiter};

/// How many wakers `wake_all` takes out of the list per lock: woken outside it.
const WAKE_BATCH: usize = 32;
/// Backoff's first park and its cap, as for a request's `Future::wait`.
const FIRST_NAP: Duration = Duration::from_micros(1);
const MAX_NAP: Duration = Duration::from_millis(1);

/// A bounded mailbox's admission state. `#[repr(C)]`: `state` first, so that its
/// address (the parking key) is not the mutex's (which parks on its own).
#[repr(C)]
pub(crate) struct Bound {
    state: State,
    capacity: usize,
    waiters: Mutex<WaitList>,
}

/// Why a blocking wait for room ended without a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoRoom {
    /// The actor no longer accepts messages.
    Stopped,
    /// The deadline passed.
    TimedOut,
}

impl Bound {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: State::new(),
            capacity,
            waiters: Mutex::new(WaitList::new()),
        }
    }

    /// The capacity.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Takes a slot if there is room.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        self.state.try_acquire(self.capacity) == Acquire::Acquired
    }

    /// Takes a slot whatever the count (control mail; a handler's send).
    #[inline]
    pub(crate) fn charge(&self) {
        self.state.charge();
    }

    /// Gives `n` slots back, waking the waiters if any announced themselves.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        if self.state.release(n).has_waiters() {
            self.wake_all();
        }
    }

    /// The parking key: the word's address.
    fn key(&self) -> usize {
        core::ptr::from_ref(&self.state).addr()
    }

    /// Clears `WAITERS` and wakes every waiter: parked threads, then async senders
    /// (their wakers called outside the lock, in batches).
    ///
    /// # Panics
    ///
    /// If a waker panics; the waiters not yet woken stay linked (a later wake finds
    /// them).
    #[cold]
    #[inline(never)]
    pub(crate) fn wake_all(&self) {
        self.state.clear_waiters();
        // SAFETY: 1. the key is the address of this bound's word, which lives as long as
        // its cell, and on which only this module parks (the mutex is at another
        // address). 2. no validate here.
        unsafe { sync::unpark_all(self.key()) };
        loop {
            let mut wakers: [Option<Waker>; WAKE_BATCH] = [const { None }; WAKE_BATCH];
            let more = {
                let mut list = self.waiters.lock();
                for slot in wakers.iter_mut() {
                    match list.pop_front() {
                        Some(waker) => *slot = Some(waker),
                        None => break,
                    }
                }
                !list.is_empty()
            };
            for waker in wakers.iter_mut().filter_map(Option::take) {
                waker.wake();
            }
            if !more {
                return;
            }
        }
    }

    /// Blocks until a slot is taken, the actor stops accepting (`accepts` turns false),
    /// or `deadline` passes. See "No lost wake-up, blocking" in the module doc.
    pub(crate) fn acquire_blocking(
        &self,
        accepts: impl Fn() -> bool,
        strategy: WaitStrategy,
        deadline: Option<Instant>,
    ) -> Result<(), NoRoom> {
        let mut spun = false;
        let mut nap = FIRST_NAP;
        loop {
            if self.try_acquire() {
                return Ok(());
            }
            if !accepts() {
                return Err(NoRoom::Stopped);
            }
            let now = Instant::now();
            if deadline.is_some_and(|deadline| now >= deadline) {
                return Err(NoRoom::TimedOut);
            }
            if !spun {
                // Room often comes within a run of the receiver: cheaper than a park.
                spun = true;
                sync::spin_until(|| self.state.load().has_room(self.capacity) || !accepts());
                continue;
            }
            if self.state.announce().has_room(self.capacity) {
                continue;
            }
            let until = match strategy {
                WaitStrategy::Park => deadline,
                WaitStrategy::Backoff => {
                    let span = now + nap;
                    nap = (nap * 2).min(MAX_NAP);
                    Some(deadline.map_or(span, |deadline| deadline.min(span)))
                }
            };
            let validate = || {
                let word = self.state.load();
                word.has_waiters() && !word.has_room(self.capacity) && accepts()
            };
            // SAFETY: 1. the key is this bound's word (see `wake_all`); the caller holds
            // an address, so the cell and its bound live for the whole call. 2.
            // `validate` is two atomic loads: no panic, no parking_lot.
            match unsafe { sync::park(self.key(), validate, until) } {
                // A span of the backoff, or the deadline: the loop's checks decide.
                Parked::TimedOut | Parked::Unparked | Parked::Invalid => {}
            }
        }
    }

    /// Links `waiter` with `waker` and announces, under the list's mutex; `true` if the
    /// sender must wait (returns `Pending`), `false` if the word showed room (or the
    /// actor stopped accepting) and the waiter was unlinked again: retry.
    ///
    /// # Safety
    ///
    /// `waiter` is pinned, not linked, and unlinked by its owner (under this mutex)
    /// before it goes; it is only ever linked into this bound's list.
    pub(crate) unsafe fn register(
        &self,
        waiter: NonNull<Waiter>,
        waker: Waker,
        accepts: impl Fn() -> bool,
    ) -> bool {
        let mut list = self.waiters.lock();
        // SAFETY: the caller's duties; the guard is the lock.
        unsafe { list.push_back(waiter, waker) };
        // Under the mutex, after the link: a release that sees this `WAITERS` locks the
        // mutex after we unlock, and finds the node (module doc).
        if self.state.announce().has_room(self.capacity) || !accepts() {
            // SAFETY: linked just now, under the same lock.
            let waker = unsafe { list.remove(waiter) };
            drop(list);
            drop(waker);
            return false;
        }
        true
    }

    /// Unlinks `waiter` if it is still linked (a wake unlinks it first).
    ///
    /// # Safety
    ///
    /// `waiter` is live and only ever linked into this bound's list.
    pub(crate) unsafe fn unregister(&self, waiter: NonNull<Waiter>) {
        let waker = {
            let mut list = self.waiters.lock();
            // SAFETY: the caller's duties; the guard is the lock.
            unsafe { list.remove(waiter) }
        };
        // Outside the lock: a waker's drop is user code.
        drop(waker);
    }
}
