//! [`Cache`]: the reader's two FIFO queues, high and normal.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use crate::inbox::{Batch, Inbox, TryBlock};
use crate::message::{next_of, priority_of, set_next, Envelope, Header};
use crate::priority::Priority;
use crate::state::{self, EMPTY};
use crate::sync::{fence, Ordering};

/// An intrusive FIFO through the nodes' `next` links.
struct Fifo {
    head: *mut Header,
    tail: *mut Header,
}

impl Fifo {
    const fn new() -> Self {
        Self {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
        }
    }

    /// Appends the chain `first..=last` (already linked, `last.next` null).
    ///
    /// # Safety
    ///
    /// The chain's nodes are owned by the cache and `last` ends it.
    #[inline]
    unsafe fn append(&mut self, first: *mut Header, last: *mut Header) {
        if first.is_null() {
            return;
        }
        match NonNull::new(self.tail) {
            // SAFETY: the tail is a node we own.
            Some(tail) => unsafe { set_next(tail, first) },
            None => self.head = first,
        }
        self.tail = last;
    }

    /// # Safety
    ///
    /// The FIFO's nodes are owned by the cache.
    #[inline]
    unsafe fn pop(&mut self) -> Option<NonNull<Header>> {
        let node = NonNull::new(self.head)?;
        // SAFETY: the node is ours; its link was written by `Cache::extend`.
        self.head = unsafe { next_of(node) };
        if self.head.is_null() {
            self.tail = ptr::null_mut();
        }
        Some(node)
    }
}

/// The reader's side of an [`Inbox`]: two FIFO queues that restore arrival order.
///
/// [`extend`](Cache::extend) takes a LIFO [`Batch`] and relinks it (no allocation) into
/// a high and a normal queue in arrival order: per-producer FIFO within each priority,
/// since one producer's pushes land on the stack in program order. [`pop`](Cache::pop)
/// returns every high message before the next normal one.
/// [`next_from`](Cache::next_from) also picks up high-priority messages that arrive
/// while a batch is being handled.
///
/// Dropping the cache drops the messages still in it.
///
/// # Reading in place
///
/// [`next_from`](Cache::next_from) detaches what it takes from the inbox (a CAS), and
/// [`Inbox::try_block`] then blocks the empty inbox (a second CAS): two atomic
/// read-modify-writes on the reader's side for a message through an idle reader. The
/// in-place methods make it one. [`next_in_place`](Cache::next_in_place) takes the new
/// nodes with an Acquire *load*, leaving them linked from the inbox's word, and
/// [`try_block_in_place`](Cache::try_block_in_place) moves the word from the top it
/// observed straight to BLOCKED, detaching every node handled and blocking in one CAS.
/// The observed top node is kept allocated (its payload handed out, the node itself
/// retained) until the word has moved off it, so a CAS that finds the same address
/// really found no push (no ABA).
///
/// Nodes taken in place stay linked from the inbox's word, so nothing else may read
/// that inbox meanwhile. The contract of every in-place method:
///
/// 1. The caller holds the inbox's run right (it is the only reader at a time, and the
///    block/unblock hand-over orders one holder's calls before the next's).
/// 2. From its first in-place call on an inbox until [`close_in_place`](Cache::close_in_place),
///    or a [`try_block_in_place`](Cache::try_block_in_place) that returns `Blocked`,
///    this cache is the only reader of that inbox: no [`Inbox::take_all`],
///    [`Inbox::try_block`], [`Inbox::close`], [`next_from`](Cache::next_from) or
///    [`refill`](Cache::refill) on it, no other cache reading it in place, and the
///    cache is used with no other inbox.
/// 3. Neither the inbox nor the cache is dropped while the cache holds nodes in place
///    (between those two points): close the inbox with `close_in_place` first.
///
/// # Examples
///
/// ```
/// use zeta_arena::GlobalResource;
/// use zeta_mailbox::{Cache, Envelope, Inbox, Priority};
///
/// let inbox = Inbox::new_unblocked();
/// let mut cache = Cache::new();
/// for n in 0..3u8 {
///     let _ = inbox.push(Envelope::new_in(&GlobalResource, Priority::Normal, n).unwrap());
/// }
/// assert_eq!(cache.next_from(&inbox).map(|m| m.into_payload()), Some(0));
/// // An urgent message arrives mid-batch; it overtakes the queued normal ones.
/// let _ = inbox.push(Envelope::new_in(&GlobalResource, Priority::High, 9).unwrap());
/// assert_eq!(cache.next_from(&inbox).map(|m| m.into_payload()), Some(9));
/// assert_eq!(cache.next_from(&inbox).map(|m| m.into_payload()), Some(1));
/// ```
pub struct Cache<'r, M> {
    high: Fifo,
    normal: Fifo,
    len: usize,
    /// Reading in place: the top of the chain the inbox's word still links, all of it
    /// taken into this cache (null: nothing read in place).
    observed: *mut Header,
    /// The observed top, handled: its payload is gone, its node is kept until the
    /// inbox's word has moved off it (no ABA on the blocking CAS).
    retained: *mut Header,
    _owns: PhantomData<Envelope<'r, M>>,
}

// SAFETY: the cache owns envelopes of `M`, which are `Send` when `M: Send`.
unsafe impl<M: Send> Send for Cache<'_, M> {}

impl<M> Default for Cache<'_, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'r, M> Cache<'r, M> {
    /// An empty cache.
    pub const fn new() -> Self {
        Self {
            high: Fifo::new(),
            normal: Fifo::new(),
            len: 0,
            observed: ptr::null_mut(),
            retained: ptr::null_mut(),
            _owns: PhantomData,
        }
    }

    /// Adds a batch taken from an inbox, after everything already cached.
    ///
    /// The batch is newest first; walking it and pushing each node to the front of its
    /// priority's list yields arrival order. One pass, no allocation.
    pub fn extend(&mut self, batch: Batch<'r, M>) {
        // SAFETY: the batch's chain is ours, ends with a null link, and is given up here.
        unsafe { self.extend_chain(batch.into_top(), ptr::null_mut()) };
    }

    /// Relinks the LIFO chain from `top` down to `stop` (excluded) into the FIFOs, after
    /// everything already cached; returns how many nodes came.
    ///
    /// # Safety
    ///
    /// The nodes from `top` down to `stop` are `Envelope<'r, M>` nodes owned by the
    /// caller and given to the cache, their links visible to this thread, and the chain
    /// reaches `stop` (or ends with a null link when `stop` is null).
    #[inline]
    unsafe fn extend_chain(&mut self, top: *mut Header, stop: *mut Header) -> usize {
        let before = self.len;
        let mut node = top;
        let (mut high_first, mut high_last) = (ptr::null_mut(), ptr::null_mut());
        let (mut normal_first, mut normal_last) = (ptr::null_mut(), ptr::null_mut());
        while let Some(current) = NonNull::new(node).filter(|n| n.as_ptr() != stop) {
            // SAFETY: the chain is ours (the caller's duty: taken with Acquire, see
            // `Inbox`), and `current` is live; we read its link before overwriting it.
            let (next, priority) = unsafe { (next_of(current), priority_of(current)) };
            let (first, last): (&mut *mut Header, &mut *mut Header) = match priority {
                Priority::High => (&mut high_first, &mut high_last),
                Priority::Normal => (&mut normal_first, &mut normal_last),
            };
            // SAFETY: `current` is ours; relinking it in front of the older ones.
            unsafe { set_next(current, *first) };
            if last.is_null() {
                *last = current.as_ptr();
            }
            *first = current.as_ptr();
            self.len += 1;
            node = next;
        }
        // SAFETY: both chains are ours, linked above, each ending with a null link.
        unsafe {
            self.high.append(high_first, high_last);
            self.normal.append(normal_first, normal_last);
        }
        self.len - before
    }

    /// Takes everything queued in `inbox` into the cache; returns how many messages came.
    pub fn refill(&mut self, inbox: &Inbox<'r, M>) -> usize {
        let before = self.len;
        self.extend(inbox.take_all());
        self.len - before
    }

    /// The next message: the oldest high one, else the oldest normal one.
    #[inline]
    pub fn pop(&mut self) -> Option<Envelope<'r, M>> {
        // SAFETY: the FIFOs hold nodes the cache owns.
        let node = unsafe { self.high.pop().or_else(|| self.normal.pop()) }?;
        self.len -= 1;
        // SAFETY: every node in the cache was an `Envelope<'r, M>` and is now unlinked.
        Some(unsafe { Envelope::from_raw(node) })
    }

    /// The next message to handle, looking into `inbox` first unless a high message is
    /// already cached: a high message that arrived since the last refill overtakes the
    /// cached normal ones. Costs one relaxed load when the inbox is empty.
    #[inline]
    pub fn next_from(&mut self, inbox: &Inbox<'r, M>) -> Option<Envelope<'r, M>> {
        if self.high.head.is_null() && inbox.has_messages() {
            self.refill(inbox);
        }
        self.pop()
    }

    /// Whether the inbox holds messages this cache has not taken in place (a snapshot,
    /// one Relaxed load; see [reading in place](Cache#reading-in-place)).
    #[inline]
    pub fn has_new_in_place(&self, inbox: &Inbox<'r, M>) -> bool {
        let top = inbox.load_relaxed().top();
        !top.is_null() && top != self.observed
    }

    /// The next message's payload, reading `inbox` in place: the new nodes are taken
    /// into the cache with one Acquire load and stay linked from the inbox's word, and a
    /// high message that arrived since the last look overtakes the cached normal ones
    /// (as [`next_from`](Cache::next_from)). No read-modify-write.
    ///
    /// # Safety
    ///
    /// The contract of [reading in place](Cache#reading-in-place).
    #[inline]
    pub unsafe fn next_in_place(&mut self, inbox: &Inbox<'r, M>) -> Option<M> {
        if self.high.head.is_null() && self.has_new_in_place(inbox) {
            // SAFETY: passed on from the caller.
            unsafe { self.refill_in_place(inbox) };
        }
        // SAFETY: passed on from the caller.
        unsafe { self.pop_in_place() }
    }

    /// Takes the nodes pushed since the last look into the cache, leaving them linked
    /// from the inbox's word. Returns how many came.
    ///
    /// # Safety
    ///
    /// The contract of [reading in place](Cache#reading-in-place).
    unsafe fn refill_in_place(&mut self, inbox: &Inbox<'r, M>) -> usize {
        // Acquire: pairs with the Release of every push above `observed` (see
        // `Inbox::load_acquire`), so their links and payloads are visible.
        let top = inbox.load_acquire().top();
        if top.is_null() || top == self.observed {
            return 0;
        }
        // (A node kept from before the last block, with `observed` null, is not in the
        // chain either: released below like a superseded top.)
        // SAFETY: the nodes from `top` down to `observed` were pushed since the last
        // look (the word only grows above `observed` while we hold the run right, and
        // `observed` is kept allocated, so no other node has its address); nobody else
        // takes them (the contract), and the Acquire above made their links visible.
        let came = unsafe { self.extend_chain(top, self.observed) };
        self.observed = top;
        // The word has moved off the old top for good: the blocking CAS now expects
        // `top`, so the old one may go back to its resource.
        self.release_retained();
        came
    }

    /// Pops the next message; the observed top is emptied but kept.
    ///
    /// # Safety
    ///
    /// The contract of [reading in place](Cache#reading-in-place).
    #[inline]
    unsafe fn pop_in_place(&mut self) -> Option<M> {
        // SAFETY: the FIFOs hold nodes the cache owns.
        let node = unsafe { self.high.pop().or_else(|| self.normal.pop()) }?;
        self.len -= 1;
        if node.as_ptr() != self.observed {
            // SAFETY: every node in the cache was an `Envelope<'r, M>`, now unlinked.
            return Some(unsafe { Envelope::from_raw(node) }.into_payload());
        }
        debug_assert!(self.retained.is_null(), "two observed tops at once");
        let mut out = core::mem::MaybeUninit::<M>::uninit();
        // SAFETY: the node is ours and holds an `M`, moved out once; the node itself is
        // kept (`retained`) and released once the inbox's word has moved off it.
        unsafe { (node.as_ref().vtable.take_keep)(node, out.as_mut_ptr().cast()) };
        self.retained = node.as_ptr();
        // SAFETY: `take_keep` wrote the payload.
        Some(unsafe { out.assume_init() })
    }

    /// The reader gives up the right to run if nothing new is queued: one CAS from the
    /// observed top (or EMPTY) to BLOCKED, which both detaches every node handled in
    /// place and blocks the inbox. Reports as [`Inbox::try_block`]; after `Blocked` the
    /// cache holds nothing in place, and the caller must not touch it (nor the reader)
    /// any more: the next holder of the run right owns it. The node kept for the
    /// blocking CAS stays in the cache, unlinked, and goes back to its resource at the
    /// next holder's first look (or when the cache is dropped): an idle reader keeps one
    /// node's memory.
    ///
    /// Returns [`TryBlock::HasMessages`] without trying if messages are still cached.
    ///
    /// # Safety
    ///
    /// The contract of [reading in place](Cache#reading-in-place).
    pub unsafe fn try_block_in_place(&mut self, inbox: &Inbox<'r, M>) -> TryBlock {
        if !self.is_empty() {
            return TryBlock::HasMessages;
        }
        let observed = self.observed;
        if observed.is_null() {
            // The word links no node handled in place: a node kept from before the
            // last block may go now.
            self.release_retained();
        }
        let expected = if observed.is_null() {
            state::tag(EMPTY)
        } else {
            observed
        };
        loop {
            // Leave the cache as the next holder of the run right must find it *before*
            // the CAS: once it succeeds, this thread touches nothing of the reader any
            // more (the next holder may run at once, and the cell around this cache may
            // even be gone). The kept node stays `retained`: no longer linked from the
            // word, it is released by the next holder's first look.
            self.observed = ptr::null_mut();
            let actual = match inbox.block_from(expected) {
                // No ABA: `observed` is kept allocated (`retained`) past this CAS, so the
                // word still held it only if nothing was pushed: every node of the chain
                // was handled.
                Ok(()) => return TryBlock::Blocked,
                Err(actual) => actual,
            };
            self.observed = observed;
            if actual.is_closed() {
                return TryBlock::Closed;
            }
            if actual.is_blocked() {
                return TryBlock::Blocked;
            }
            if actual.top() != self.observed {
                return TryBlock::HasMessages;
            }
            if actual.is_sealed() {
                // Pairs with the seal's Release, as in `Inbox::try_block`.
                fence(Ordering::Acquire);
                return TryBlock::Sealed;
            }
            // Orphaned: clear the flag (Acquire, as in `Inbox::try_block`).
            if inbox.clear_orphan(actual) {
                return TryBlock::Orphaned;
            }
        }
    }

    /// Closes `inbox` and hands back the messages it holds that this cache has not
    /// taken (newest first); the cache keeps the ones it took, for
    /// [`pop`](Cache::pop), and holds nothing in place afterwards.
    ///
    /// # Safety
    ///
    /// The contract of [reading in place](Cache#reading-in-place).
    pub unsafe fn close_in_place(&mut self, inbox: &Inbox<'r, M>) -> Batch<'r, M> {
        let top = inbox.swap_closed().top();
        let mut node = top;
        if top == self.observed {
            node = ptr::null_mut();
        } else {
            // Cut the new nodes off the chain taken in place.
            while let Some(current) = NonNull::new(node) {
                // SAFETY: a node pushed since the last look, ours now (the swap took it
                // with Acquire); we read its link before cutting it.
                let next = unsafe { next_of(current) };
                if next == self.observed {
                    // SAFETY: as above.
                    unsafe { set_next(current, ptr::null_mut()) };
                    break;
                }
                node = next;
            }
            node = top;
        }
        self.observed = ptr::null_mut();
        self.release_retained();
        Batch::from_top(node)
    }

    /// Returns the retained node (if any) to its resource.
    fn release_retained(&mut self) {
        if let Some(node) = NonNull::new(core::mem::replace(&mut self.retained, ptr::null_mut())) {
            // SAFETY: a node whose payload `pop_in_place` moved out, kept for this one
            // release.
            unsafe { (node.as_ref().vtable.release)(node) }
        }
    }

    /// How many messages are cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no message is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<M> Drop for Cache<'_, M> {
    fn drop(&mut self) {
        while let Some(message) = self.pop() {
            drop(message);
        }
        self.release_retained();
    }
}

impl<M> fmt::Debug for Cache<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache").field("len", &self.len).finish()
    }
}
