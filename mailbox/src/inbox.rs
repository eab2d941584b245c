//! [`Inbox`]: the lock-free LIFO inbox, and the block/unblock handshake.
//!
//! # The protocol
//!
//! The inbox is one word, `head`, holding a tag or the top of a Treiber stack of nodes
//! (see [`state`] for the encoding):
//!
//! ```text
//!                 push (Queued)           push (Queued)
//!            +----------------------+   +-----------+
//!            v                      |   v           |
//!         EMPTY --push (Queued)--> HAS-MESSAGES ----+
//!          | ^ ^                      |
//! try_block| | +----take_all----------+
//!          v |
//!        BLOCKED --push (Unblocked)--> HAS-MESSAGES
//!          |   --try_unblock (won)---> EMPTY
//!          |
//!          +--seal (Unblocked)--> SEALED-EMPTY <--take_all-- SEALED-HAS-MESSAGES
//!                                   ^     |                        ^
//!   EMPTY --seal (Sealed)-----------+     | try_block: Sealed      |
//!   HAS-MESSAGES --seal (Sealed)----------|------------------------+
//!                                         v (the reader ends and closes)
//!   any state --close--> CLOSED  (absorbing; push returns Closed(message))
//!
//!   BLOCKED --orphan (Claimed)--> EMPTY          (the orphaner holds the run right)
//!   EMPTY / HAS-MESSAGES --orphan (Flagged)--> same | ORPHAN
//!   EMPTY | ORPHAN --try_block: Orphaned--> EMPTY (flag consumed; the reader decides)
//! ```
//!
//! **Orphaning** is how a reader learns that its owner may have become unreachable
//! (the actor layer calls it when the last outside reference to an actor goes; see
//! `zeta`'s cell module for the reference protocol). It either claims a blocked inbox
//! (the caller takes the run right and ends the owner), or flags it for the reader, who
//! holds the run right: the flag survives pushes and `take_all`, makes `try_block`
//! fail, and is consumed by the `try_block` that reports [`TryBlock::Orphaned`]. The
//! flag and the claim are on the same word as `try_block`'s CAS, so exactly one of them
//! happens first: either the reader blocks and the orphaner claims, or the orphaner
//! flags and the reader sees the flag before it can block.
//!
//! **Sealing** is how an actor is stopped without allocating anything: `seal` sets a
//! flag in the state word, after which every push is refused (it returns `Closed` with
//! its message, exactly as on a closed inbox), while the messages already queued stay
//! the reader's to handle. Everything pushed before the seal is in the stack, everything
//! after it was handed back: the seal is a cut in the one modification order of `head`.
//! A sealed inbox never blocks: `try_block` on a sealed, drained inbox reports
//! [`TryBlock::Sealed`] (the reader then ends and closes the inbox), and sealing a
//! blocked inbox moves it straight to sealed-empty, handing the right to run to the
//! sealer ([`Seal::Unblocked`]), as an unblocking push does. So a sealed reader always
//! runs once more and is never left asleep.
//!
//! Who does what:
//!
//! - **Producers** (any thread) only `push`.
//! - **The reader** (whoever currently has the right to run the actor: at most one
//!   thread at a time, guaranteed by this very protocol) calls `take_all`, `try_block`
//!   and normally `close`.
//! - **The right to run** passes with the state: the reader holds it while the state is
//!   EMPTY or HAS-MESSAGES. A successful `try_block` gives it up; the one producer whose
//!   push moves BLOCKED to HAS-MESSAGES (it gets [`Enqueued::Unblocked`]), or the one
//!   caller whose `try_unblock` wins, receives it and must schedule the reader. Both are
//!   single CAS transitions out of BLOCKED, so exactly one party wins each block; and
//!   `try_block` is a CAS from EMPTY only, so it fails (the reader keeps running) if a
//!   message slipped in. No message can be stranded in a blocked inbox: a node is only
//!   ever pushed onto BLOCKED by the CAS that reports `Unblocked`.
//!
//! Transitions and orderings:
//!
//! | operation     | CAS / swap                     | success order | why                         |
//! |---------------|--------------------------------|---------------|-----------------------------|
//! | `push`        | `h → node` (h ≠ CLOSED)         | Release       | publishes the node's payload and link to the reader's Acquire in `take_all`/`close` |
//! | `push` from BLOCKED | same, AcqRel | + Acquire     | synchronises with `try_block`'s Release: what the reader did before blocking happens before the new scheduling |
//! | `try_block`   | `EMPTY → BLOCKED`              | Release       | publishes the reader's work to the unblocking party |
//! | `try_unblock` | `BLOCKED → EMPTY`              | Acquire       | as the `Unblocked` push: pairs with `try_block` |
//! | `take_all`    | `stack → EMPTY`                | Acquire       | pairs with every push's Release: pushes are RMWs on `head`, so each continues the release sequence of the earlier ones and one Acquire sees all their links |
//! | `close`       | swap `→ CLOSED`                | Acquire       | as `take_all`, for the messages it hands back |
//! | `seal`        | `h → h \| SEALED` (BLOCKED → EMPTY \| SEALED) | Release | publishes what the sealer wrote before (e.g. a kill flag) to the reader; from BLOCKED, AcqRel, as an unblocking push |
//! | `try_block` finding SEALED | (failed CAS) then a load | Acquire | pairs with the seal's Release, so the ending reader sees what the sealer wrote |
//! | `orphan`      | `BLOCKED → EMPTY`, or `h → h \| ORPHAN` | AcqRel  | from BLOCKED: Acquire, as an unblocking push; otherwise Release: publishes what the orphaner did before (its reference given up) to the reader |
//! | `try_block` finding ORPHAN | `EMPTY \| ORPHAN → EMPTY` | Acquire | pairs with the orphan's Release: the reader sees the reference count the orphaner left |
//!
//! Failure orderings are Relaxed: a failed CAS only reloads the guess, and a push that
//! sees CLOSED hands its own node back without touching anything else.
//!
//! No ABA: nodes are never popped one by one from `head`; the reader swaps out the whole
//! stack, so a producer's CAS that succeeds on the head it read has written the correct
//! link. A node's `next` is written only by its owner at the time: the producer before
//! publishing it, the reader after taking it.
//!
//! The loom models (`inbox::loom`, run with `--cfg zeta_loom`) check push racing
//! `try_block` (exactly one `Unblocked` per block, never a stranded message), push racing
//! `close` (every message taken, handed back or returned, exactly once), `take_all`
//! racing pushes (conservation and per-producer order), `try_unblock` racing push, and
//! `seal` racing pushes and `try_block` (every message handled or handed back, exactly
//! once; the reader runs after every seal; the sealer's writes are seen by the reader).

#[cfg(all(test, zeta_loom))]
mod loom;

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::message::{next_of, set_next, Envelope, Header};
use crate::state::{self, Snapshot, BLOCKED, CLOSED, EMPTY, ORPHAN, SEALED};
use crate::sync::{AtomicPtr, Ordering};

/// What [`Inbox::push`] did with a message.
#[must_use = "on `Unblocked` the caller must schedule the reader, or the message waits forever"]
pub enum Enqueued<'r, M> {
    /// The message is queued; the reader is running or already scheduled.
    Queued,
    /// The message is queued and the reader was blocked: the caller now holds the right
    /// to run it and must schedule it.
    Unblocked,
    /// The inbox is closed: the message was not queued and comes back.
    Closed(Envelope<'r, M>),
}

impl<M> Enqueued<'_, M> {
    /// Whether the caller must schedule the reader.
    #[inline]
    pub fn must_schedule(&self) -> bool {
        matches!(self, Self::Unblocked)
    }
}

impl<M> fmt::Debug for Enqueued<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Queued => f.write_str("Queued"),
            Self::Unblocked => f.write_str("Unblocked"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

/// What [`Inbox::try_block`] found.
#[must_use = "on `Blocked` the reader must stop touching the actor; otherwise it keeps running"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryBlock {
    /// The inbox was empty and is now blocked: the right to run passes to the next
    /// sender, whose push will return [`Enqueued::Unblocked`].
    Blocked,
    /// A message arrived: the inbox stays unblocked and the reader keeps running.
    HasMessages,
    /// The inbox is sealed and drained: the reader keeps the right to run, and should
    /// end (and [`close`](Inbox::close) the inbox). Everything the sealer did before
    /// [`Inbox::seal`] is visible to the caller.
    Sealed,
    /// The inbox was orphaned ([`Inbox::orphan`]) and is drained: the flag is cleared,
    /// and the reader keeps the run right. It must check whether its owner can still be
    /// reached (a new reference may have been made since), and end if not; otherwise
    /// call `try_block` again. Everything the orphaner did before [`Inbox::orphan`] is
    /// visible to the caller.
    Orphaned,
    /// The inbox is closed.
    Closed,
}

/// What [`Inbox::orphan`] did.
#[must_use = "on `Claimed` the caller holds the run right and must end or schedule the reader"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orphan {
    /// The inbox was blocked: the caller now holds the run right.
    Claimed,
    /// The reader holds the run right and will find the flag before it blocks.
    Flagged,
    /// The inbox is closed; nothing changed.
    Closed,
}

/// What [`Inbox::seal`] did.
#[must_use = "on `Unblocked` the caller must schedule the reader, or it never ends"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seal {
    /// The inbox was accepting messages and is now sealed; its reader is running or
    /// scheduled, and will find the seal.
    Sealed,
    /// The inbox was blocked and is now sealed: the caller holds the right to run the
    /// reader and must schedule it (as after a push that returned
    /// [`Enqueued::Unblocked`]).
    Unblocked,
    /// The inbox was sealed already; nothing changed (but what the caller wrote before
    /// is published to the reader all the same).
    AlreadySealed,
    /// The inbox is closed; nothing changed.
    Closed,
}

/// A lock-free multi-producer inbox: a Treiber stack of message nodes with the states
/// empty, has-messages, blocked and closed.
///
/// Producers [`push`](Inbox::push) from any thread with one CAS; the reader takes the
/// whole stack at once with [`take_all`](Inbox::take_all) (a [`Cache`](crate::Cache)
/// restores arrival order and splits priorities), and gives up the right to run with
/// [`try_block`](Inbox::try_block) when there is nothing left. The protocol is in the
/// [module documentation](self).
///
/// A new inbox starts **blocked**: nobody runs its reader yet, and the first push
/// returns [`Enqueued::Unblocked`].
///
/// # Examples
///
/// ```
/// use zeta_arena::PoolResource;
/// use zeta_mailbox::{Cache, Enqueued, Envelope, Inbox, Priority, TryBlock};
///
/// let pool = PoolResource::new();
/// let inbox = Inbox::new();
/// let send = |n: u32, p| inbox.push(Envelope::new_in(&pool, p, n).unwrap());
///
/// assert!(matches!(send(1, Priority::Normal), Enqueued::Unblocked)); // schedule the reader
/// assert!(matches!(send(2, Priority::Normal), Enqueued::Queued));
/// assert!(matches!(send(3, Priority::High), Enqueued::Queued));
///
/// // The reader runs:
/// let mut cache = Cache::new();
/// cache.extend(inbox.take_all());
/// let order: Vec<u32> = std::iter::from_fn(|| cache.pop()).map(|m| m.into_payload()).collect();
/// assert_eq!(order, [3, 1, 2]); // high first, then arrival order
/// assert_eq!(inbox.try_block(), TryBlock::Blocked); // asleep until the next push
/// ```
pub struct Inbox<'r, M> {
    head: AtomicPtr<Header>,
    _owns: PhantomData<Envelope<'r, M>>,
}

// SAFETY: the inbox owns envelopes of `M` and hands them to whichever thread takes them,
// so both moving it and sharing it need `M: Send`; envelopes are `Send` under the same
// bound (their resources are `Sync`). All shared access goes through the atomic `head`.
unsafe impl<M: Send> Send for Inbox<'_, M> {}
// SAFETY: as above: `&Inbox` only moves whole envelopes in and out.
unsafe impl<M: Send> Sync for Inbox<'_, M> {}

impl<M> Default for Inbox<'_, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'r, M> Inbox<'r, M> {
    /// A blocked, empty inbox: the first push returns [`Enqueued::Unblocked`].
    pub fn new() -> Self {
        Self::with_state(BLOCKED)
    }

    /// An empty inbox whose reader is deemed running: pushes return
    /// [`Enqueued::Queued`] until the reader blocks.
    pub fn new_unblocked() -> Self {
        Self::with_state(EMPTY)
    }

    fn with_state(tag: usize) -> Self {
        Self {
            head: AtomicPtr::new(state::tag(tag)),
            _owns: PhantomData,
        }
    }

    /// Queues a message.
    ///
    /// Returns [`Enqueued::Unblocked`] if the reader was blocked (the caller must
    /// schedule it), [`Enqueued::Queued`] otherwise, or [`Enqueued::Closed`] with the
    /// message if the inbox is closed or sealed. Lock-free: one CAS when uncontended.
    #[inline]
    pub fn push(&self, message: Envelope<'r, M>) -> Enqueued<'r, M> {
        let node = message.into_raw();
        // Relaxed: only a guess for the CAS, which validates it.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let seen = Snapshot(head);
            if !seen.accepts() {
                // Closed or sealed: the CAS below would have written after the seal or
                // the close, so the message is refused.
                // SAFETY: `node` came from `into_raw` above and was never published.
                return Enqueued::Closed(unsafe { Envelope::from_raw(node) });
            }
            // SAFETY: the node is still private to this thread.
            unsafe { set_next(node, seen.top()) };
            // An orphan flag stays (a sealed inbox refused us above).
            let new = node.as_ptr().map_addr(|addr| addr | seen.push_flags());
            // Release: publishes the payload and link (see the module table). From
            // BLOCKED, AcqRel: the Acquire half pairs with the Release CAS in `try_block`,
            // so the reader's work before blocking happens before whatever we do with the
            // right to run. (In the CAS itself rather than a fence after it, so that
            // ThreadSanitizer sees the edge; it costs nothing on the common path, whose
            // order is chosen from the value already read.)
            match self.head.compare_exchange_weak(
                head,
                new,
                seen.publishing_order(),
                Ordering::Relaxed,
            ) {
                Ok(_) if seen.is_blocked() => return Enqueued::Unblocked,
                Ok(_) => return Enqueued::Queued,
                Err(actual) => head = actual,
            }
        }
    }

    /// Takes every queued message at once (newest first), leaving the inbox empty.
    ///
    /// Returns an empty batch if the inbox is empty, blocked or closed. Meant for the
    /// reader; a [`Cache`](crate::Cache) puts the batch back in arrival order.
    #[inline]
    pub fn take_all(&self) -> Batch<'r, M> {
        // Relaxed: a guess for the CAS, which acquires.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let seen = Snapshot(head);
            if !seen.has_messages() {
                return Batch::empty();
            }
            // Acquire: pairs with the Release of every push in the stack. The flags stay.
            match self.head.compare_exchange_weak(
                head,
                state::tag(EMPTY | seen.flags()),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Batch::from_top(seen.top()),
                Err(actual) => head = actual,
            }
        }
    }

    /// The reader gives up the right to run if nothing is queued.
    ///
    /// [`TryBlock::Blocked`] means the next push will return [`Enqueued::Unblocked`] and
    /// its caller will schedule the reader; after it, the reader must not touch the
    /// actor's state. [`TryBlock::HasMessages`] means a message slipped in: keep
    /// running. [`TryBlock::Sealed`] means the inbox is sealed and drained: the reader
    /// keeps the right to run and should end. Calling it on an already blocked inbox
    /// reports `Blocked` again.
    #[inline]
    pub fn try_block(&self) -> TryBlock {
        loop {
            // Release: publishes the reader's work to the party that unblocks (which
            // acquires). Relaxed on failure: nothing changes hands.
            let actual = match self.head.compare_exchange(
                state::tag(EMPTY),
                state::tag(BLOCKED),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return TryBlock::Blocked,
                Err(actual) => Snapshot(actual),
            };
            if actual.is_closed() {
                return TryBlock::Closed;
            }
            if actual.is_blocked() {
                return TryBlock::Blocked;
            }
            if actual.has_messages() {
                return TryBlock::HasMessages;
            }
            if actual.is_sealed() {
                // Sealed and drained. Acquire: pairs with the Release CAS in `seal`. The
                // value this load reads is the one the failed CAS read or a later one,
                // each written by a read-modify-write that continues the seal's release
                // sequence, so the sealer's earlier writes are visible. (A load rather
                // than a fence, so that ThreadSanitizer sees the edge.)
                let _ = self.head.load(Ordering::Acquire);
                return TryBlock::Sealed;
            }
            // Orphaned and drained: clear the flag. Acquire: pairs with the Release CAS
            // in `orphan` (as above, through the release sequence), so the orphaner's
            // earlier writes (its reference given up) are visible to the reader.
            if self
                .head
                .compare_exchange(
                    actual.0,
                    state::tag(EMPTY),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return TryBlock::Orphaned;
            }
            // A push or a seal came in between: look again.
        }
    }

    /// Seals the inbox: later pushes are refused (they return [`Enqueued::Closed`] with
    /// their message), and the messages already queued stay for the reader, who finds
    /// [`TryBlock::Sealed`] once it has drained them. Allocates nothing, so it cannot
    /// fail for lack of memory: it is how an actor is stopped.
    ///
    /// Returns [`Seal::Unblocked`] if the reader was blocked: the caller must then
    /// schedule it, exactly as after an unblocking push. The write is made even when the
    /// inbox is already sealed, so what the caller did before is published to the reader
    /// in every case but `Closed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta_arena::PoolResource;
    /// use zeta_mailbox::{Cache, Enqueued, Envelope, Inbox, Priority, Seal, TryBlock};
    ///
    /// let pool = PoolResource::new();
    /// let inbox = Inbox::new_unblocked();
    /// let send = |n: u32| inbox.push(Envelope::new_in(&pool, Priority::Normal, n).unwrap());
    /// assert!(matches!(send(1), Enqueued::Queued));
    /// assert_eq!(inbox.seal(), Seal::Sealed);
    /// assert!(matches!(send(2), Enqueued::Closed(_))); // refused: 2 comes back
    ///
    /// // The reader drains what came before the seal, then learns it must end.
    /// let mut cache = Cache::new();
    /// assert_eq!(cache.next_from(&inbox).map(|m| m.into_payload()), Some(1));
    /// assert!(cache.next_from(&inbox).is_none());
    /// assert_eq!(inbox.try_block(), TryBlock::Sealed);
    /// ```
    pub fn seal(&self) -> Seal {
        // Relaxed: a guess for the CAS.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let seen = Snapshot(head);
            if seen.is_closed() {
                return Seal::Closed;
            }
            let new = if seen.is_blocked() {
                state::tag(EMPTY | SEALED)
            } else {
                seen.with_flags(SEALED)
            };
            // Release: publishes the sealer's earlier writes to the reader (who acquires
            // in `try_block`, or in `take_all` for a sealed stack). Written even when
            // already sealed, to publish them all the same. From BLOCKED, AcqRel, as an
            // unblocking push: pairs with `try_block`'s Release.
            match self.head.compare_exchange_weak(
                head,
                new,
                seen.publishing_order(),
                Ordering::Relaxed,
            ) {
                Ok(_) if seen.is_blocked() => return Seal::Unblocked,
                Ok(_) if seen.is_sealed() => return Seal::AlreadySealed,
                Ok(_) => return Seal::Sealed,
                Err(actual) => head = actual,
            }
        }
    }

    /// Takes a seal back: pushes are accepted again. For the holder of the run right
    /// only (a reader that is running, or one kept from running by its owner), which
    /// is why the inbox is neither blocked nor closed here. Returns whether it was
    /// sealed. Used to restart an actor in place after a stop or a kill.
    ///
    /// Acquire: the sealer's writes (published by its Release), as `try_block` would
    /// read them.
    ///
    /// # Panics
    ///
    /// In debug builds, if the inbox is blocked or closed (the caller does not hold the
    /// run right).
    pub fn unseal(&self) -> bool {
        // Relaxed: a guess for the CAS.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let seen = Snapshot(head);
            debug_assert!(
                !seen.is_blocked() && !seen.is_closed(),
                "unseal without the run right: {seen:?}"
            );
            if !seen.is_sealed() {
                return false;
            }
            let new = head.map_addr(|addr| addr & !SEALED);
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => head = actual,
            }
        }
    }

    /// Moves a blocked, empty inbox back to empty without a message.
    ///
    /// Returns `true` if this call won the right to run the reader (exactly like a push
    /// that returns [`Enqueued::Unblocked`]): the caller must schedule it. Returns
    /// `false` if the inbox was not blocked (the reader runs, is scheduled, or the inbox
    /// is closed). Used to run a reader with nothing queued, e.g. to start an actor.
    #[inline]
    pub fn try_unblock(&self) -> bool {
        // Acquire: pairs with `try_block`'s Release, as the unblocking push does.
        self.head
            .compare_exchange(
                state::tag(BLOCKED),
                state::tag(EMPTY),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Tells the reader that the last outside reference to its owner is gone, or takes
    /// the run right if the reader is blocked.
    ///
    /// - [`Orphan::Claimed`]: the inbox was blocked and is now empty, unblocked, and the
    ///   caller holds the run right (as after a push that returned
    ///   [`Enqueued::Unblocked`]). Nobody will run the reader unless the caller does: it
    ///   ends the owner or schedules it.
    /// - [`Orphan::Flagged`]: the reader holds the run right (running, or queued to run);
    ///   the inbox now carries the orphan flag, and the reader's next
    ///   [`try_block`](Inbox::try_block) that finds it drained reports
    ///   [`TryBlock::Orphaned`] instead of blocking. What the caller wrote before this
    ///   call (e.g. giving up its reference) is visible to the reader then.
    /// - [`Orphan::Closed`]: the inbox is closed; nothing changed.
    ///
    /// Allocates nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta_mailbox::{Inbox, Orphan, TryBlock};
    ///
    /// let blocked: Inbox<'_, u32> = Inbox::new();
    /// assert_eq!(blocked.orphan(), Orphan::Claimed); // the caller now runs (or ends) it
    ///
    /// let running: Inbox<'_, u32> = Inbox::new_unblocked();
    /// assert_eq!(running.orphan(), Orphan::Flagged);
    /// assert_eq!(running.try_block(), TryBlock::Orphaned); // the reader checks its owner
    /// assert_eq!(running.try_block(), TryBlock::Blocked); // the flag is consumed
    /// ```
    pub fn orphan(&self) -> Orphan {
        // Relaxed: a guess for the CAS.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let seen = Snapshot(head);
            if seen.is_closed() {
                return Orphan::Closed;
            }
            let new = if seen.is_blocked() {
                state::tag(EMPTY)
            } else {
                seen.with_flags(ORPHAN)
            };
            // AcqRel: from BLOCKED, Acquire pairs with `try_block`'s Release, as an
            // unblocking push does (the last run happens before the claimer's use of the
            // reader); otherwise, Release publishes the caller's earlier writes to the
            // reader, who acquires when `try_block` clears the flag.
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) if seen.is_blocked() => return Orphan::Claimed,
                Ok(_) => return Orphan::Flagged,
                Err(actual) => head = actual,
            }
        }
    }

    /// Closes the inbox and hands back every undelivered message (newest first), so
    /// that requests among them can be failed instead of hanging.
    ///
    /// Later pushes return [`Enqueued::Closed`] with their message. Closing twice hands
    /// back nothing the second time.
    pub fn close(&self) -> Batch<'r, M> {
        // Acquire: pairs with the Release of every push in the stack we take.
        let prev = self.head.swap(state::tag(CLOSED), Ordering::Acquire);
        Batch::from_top(Snapshot(prev).top())
    }

    /// Whether a message is queued (a snapshot: it may change at once).
    #[inline]
    pub fn has_messages(&self) -> bool {
        // Relaxed: a hint; taking the messages goes through `take_all`, which acquires.
        Snapshot(self.head.load(Ordering::Relaxed)).has_messages()
    }

    /// Whether the inbox is blocked (a snapshot).
    pub fn is_blocked(&self) -> bool {
        Snapshot(self.head.load(Ordering::Relaxed)).is_blocked()
    }

    /// Whether the inbox is closed. Once true, it stays true.
    pub fn is_closed(&self) -> bool {
        Snapshot(self.head.load(Ordering::Relaxed)).is_closed()
    }

    /// Whether the inbox is sealed (a snapshot; a sealed inbox is later closed).
    pub fn is_sealed(&self) -> bool {
        Snapshot(self.head.load(Ordering::Relaxed)).is_sealed()
    }

    /// Whether a push would be accepted now: neither sealed nor closed (a snapshot; once
    /// false, it stays false).
    #[inline]
    pub fn accepts(&self) -> bool {
        Snapshot(self.head.load(Ordering::Relaxed)).accepts()
    }

    /// Whether the inbox is empty and not blocked (a snapshot).
    pub fn is_empty(&self) -> bool {
        Snapshot(self.head.load(Ordering::Relaxed)).is_empty()
    }
}

impl<M> Drop for Inbox<'_, M> {
    fn drop(&mut self) {
        // `&mut self`: no other thread can push; whatever synchronised our exclusive
        // access also ordered their pushes before this. Dropping the batch drops every
        // payload and frees every node.
        drop(self.close());
    }
}

impl<M> fmt::Debug for Inbox<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("state", &Snapshot(self.head.load(Ordering::Relaxed)))
            .finish()
    }
}

/// Messages taken from an [`Inbox`] at once, newest first (LIFO).
///
/// Iterating yields the envelopes newest first; [`Cache::extend`](crate::Cache::extend)
/// restores arrival order. Dropping the batch drops the remaining messages.
pub struct Batch<'r, M> {
    top: *mut Header,
    _owns: PhantomData<Envelope<'r, M>>,
}

// SAFETY: a batch owns its envelopes, which are `Send` when `M: Send`.
unsafe impl<M: Send> Send for Batch<'_, M> {}

impl<'r, M> Batch<'r, M> {
    fn empty() -> Self {
        Self::from_top(core::ptr::null_mut())
    }

    fn from_top(top: *mut Header) -> Self {
        Self {
            top,
            _owns: PhantomData,
        }
    }

    /// Whether the batch holds no message.
    pub fn is_empty(&self) -> bool {
        self.top.is_null()
    }

    /// The batch's only message, if it holds exactly one; otherwise the batch comes
    /// back unchanged.
    #[inline]
    pub(crate) fn single(self) -> Result<Envelope<'r, M>, Self> {
        let Some(top) = NonNull::new(self.top) else {
            return Err(self);
        };
        // SAFETY: the batch owns its chain, whose links are visible (see `next`).
        if !unsafe { next_of(top) }.is_null() {
            return Err(self);
        }
        let top = self.into_top();
        // SAFETY: the node is an `Envelope<'r, M>` pushed into the inbox, now owned by
        // us, alone in its chain.
        Ok(unsafe { Envelope::from_raw(NonNull::new_unchecked(top)) })
    }

    /// Hands the chain to a consumer that relinks it (the cache).
    pub(crate) fn into_top(self) -> *mut Header {
        let top = self.top;
        core::mem::forget(self);
        top
    }
}

impl<'r, M> Iterator for Batch<'r, M> {
    type Item = Envelope<'r, M>;

    #[inline]
    fn next(&mut self) -> Option<Envelope<'r, M>> {
        let node = NonNull::new(self.top)?;
        // SAFETY: the batch owns its chain, taken with an Acquire that made every link
        // visible (or built by this thread).
        self.top = unsafe { next_of(node) };
        // SAFETY: the node is an `Envelope<'r, M>` pushed into the inbox, now owned by
        // us and unlinked from the rest of the batch.
        Some(unsafe { Envelope::from_raw(node) })
    }
}

impl<M> Drop for Batch<'_, M> {
    fn drop(&mut self) {
        for message in self.by_ref() {
            drop(message);
        }
    }
}

impl<M> fmt::Debug for Batch<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("is_empty", &self.is_empty())
            .finish()
    }
}
