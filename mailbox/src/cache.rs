//! [`Cache`]: the reader's two FIFO queues, high and normal.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use crate::inbox::{Batch, Inbox};
use crate::message::{ahead_of, next_of, priority_of, set_ahead, set_next, Envelope, Header};
use crate::priority::Priority;

/// How many places ahead in its FIFO a node's prefetch hint points (a power of two).
///
/// A long batch taken from the inbox is linked into the FIFOs in one walk, and its
/// nodes are often out of the CPU's caches again by the time they are handled (a reader
/// handles `max_throughput` of them per run, and other actors' runs come between). A pop
/// that follows only `next` then waits for one cache miss per message, each found only
/// when the previous one is back. `extend`, which sees every node's address, writes into
/// each node the offset of the node this many places further on (`Header::ahead`), and
/// `pop` prefetches it: up to this many misses are then in flight at once. For a batch
/// still in cache, the cost is a few instructions per node.
pub(crate) const LOOKAHEAD: usize = 8;

/// The last [`LOOKAHEAD`] nodes `extend` put at the front of one FIFO: the one
/// [`LOOKAHEAD`] places behind the next node to link is the next one's target.
struct Behind {
    nodes: [*mut Header; LOOKAHEAD],
    count: usize,
}

impl Behind {
    const fn new() -> Self {
        Self {
            nodes: [ptr::null_mut(); LOOKAHEAD],
            count: 0,
        }
    }

    /// Records `node` as the newest linked, and returns its hint: the offset of the
    /// node linked [`LOOKAHEAD`] steps before it, which will be popped that many places
    /// after it (0 if there is none, or it is out of an `i32`'s reach).
    #[inline(always)]
    fn hint_for(&mut self, node: *mut Header) -> i32 {
        let slot = &mut self.nodes[self.count & (LOOKAHEAD - 1)];
        let target = core::mem::replace(slot, node);
        self.count += 1;
        if target.is_null() {
            return 0;
        }
        i32::try_from((target as isize).wrapping_sub(node as isize)).unwrap_or(0)
    }
}

/// Asks the CPU to bring the line at `address` into its caches. Only a hint: it reads
/// nothing the program sees and faults on no address, so any address will do.
#[inline(always)]
fn prefetch(address: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(miri), not(zeta_loom)))]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 CPU has; it is a hint that
    // never faults and changes no memory.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(address.cast())
    };
    #[cfg(not(all(target_arch = "x86_64", not(miri), not(zeta_loom))))]
    let _ = address;
}

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
        // SAFETY: the node is ours; its link and hint were written by `Cache::extend`.
        let (next, ahead) = unsafe { (next_of(node), ahead_of(node)) };
        if ahead != 0 {
            prefetch(node.as_ptr().cast::<u8>().wrapping_offset(ahead as isize));
        }
        self.head = next;
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
            _owns: PhantomData,
        }
    }

    /// Adds a batch taken from an inbox, after everything already cached.
    ///
    /// The batch is newest first; walking it and pushing each node to the front of its
    /// priority's list yields arrival order. One pass, no allocation.
    pub fn extend(&mut self, batch: Batch<'r, M>) {
        let mut node = batch.into_top();
        let (mut high_first, mut high_last) = (ptr::null_mut(), ptr::null_mut());
        let (mut normal_first, mut normal_last) = (ptr::null_mut(), ptr::null_mut());
        let (mut high_behind, mut normal_behind) = (Behind::new(), Behind::new());
        while let Some(current) = NonNull::new(node) {
            // SAFETY: the batch's chain is ours (taken with Acquire, see `Inbox`), and
            // `current` is live; we read its link before overwriting it.
            let (next, priority) = unsafe { (next_of(current), priority_of(current)) };
            let (first, last, behind): (&mut *mut Header, &mut *mut Header, &mut Behind) =
                match priority {
                    Priority::High => (&mut high_first, &mut high_last, &mut high_behind),
                    Priority::Normal => (&mut normal_first, &mut normal_last, &mut normal_behind),
                };
            // SAFETY: `current` is ours; relinking it in front of the older ones, with
            // the hint to the node `LOOKAHEAD` places after it in its FIFO.
            unsafe {
                set_next(current, *first);
                set_ahead(current, behind.hint_for(current.as_ptr()));
            }
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
    }

    /// Appends one message behind those of its priority (the local inbox's push: a
    /// single thread's sends arrive in order, with nothing to relink).
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta_arena::GlobalResource;
    /// use zeta_mailbox::{Cache, Envelope, Priority};
    ///
    /// let mut cache = Cache::new();
    /// for (n, priority) in [(1u8, Priority::Normal), (2, Priority::High), (3, Priority::Normal)] {
    ///     cache.push(Envelope::new_in(&GlobalResource, priority, n).unwrap());
    /// }
    /// let order: Vec<u8> = std::iter::from_fn(|| cache.pop().map(|m| m.into_payload())).collect();
    /// assert_eq!(order, [2, 1, 3]);
    /// ```
    #[inline]
    pub fn push(&mut self, envelope: Envelope<'r, M>) {
        let node = envelope.into_raw();
        // SAFETY: the node is ours now (taken from the envelope); it gets a null link
        // and no prefetch hint (a node just written is in the caches), and ends the
        // chain it is appended as.
        unsafe {
            set_next(node, ptr::null_mut());
            set_ahead(node, 0);
            let fifo = match priority_of(node) {
                Priority::High => &mut self.high,
                Priority::Normal => &mut self.normal,
            };
            fifo.append(node.as_ptr(), node.as_ptr());
        }
        self.len += 1;
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
            let mut batch = inbox.take_all();
            if self.len == 0 {
                // Nothing cached: a batch of one (an idle reader's usual case) is the
                // next message as it is, with no relinking.
                batch = match batch.single() {
                    Ok(only) => return Some(only),
                    Err(batch) => batch,
                };
            }
            self.extend(batch);
        }
        self.pop()
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
    }
}

impl<M> fmt::Debug for Cache<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache").field("len", &self.len).finish()
    }
}

#[cfg(all(test, not(zeta_loom)))]
mod tests {
    use super::*;
    use zeta_arena::GlobalResource;

    /// The nodes of one FIFO in pop order.
    fn chain(fifo: &Fifo) -> Vec<NonNull<Header>> {
        let mut nodes = Vec::new();
        let mut node = fifo.head;
        while let Some(current) = NonNull::new(node) {
            nodes.push(current);
            // SAFETY: the FIFO's nodes are the cache's, linked by `extend`.
            node = unsafe { next_of(current) };
        }
        nodes
    }

    /// Every node's hint names the node `LOOKAHEAD` places after it in its own FIFO, or
    /// is 0 for the last `LOOKAHEAD`; also across two batches appended one after the
    /// other, and with the priorities interleaved.
    #[test]
    fn each_hint_points_lookahead_places_on_in_its_fifo() {
        let inbox = Inbox::new_unblocked();
        let mut cache = Cache::new();
        for batch in 0..2u32 {
            for n in 0..40u32 {
                let priority = if n % 5 == 0 {
                    Priority::High
                } else {
                    Priority::Normal
                };
                let envelope = Envelope::new_in(&GlobalResource, priority, batch * 100 + n);
                let _ = inbox.push(envelope.unwrap());
            }
            assert_eq!(cache.refill(&inbox), 40);
        }
        for (fifo, len) in [(&cache.high, 16), (&cache.normal, 64)] {
            let nodes = chain(fifo);
            assert_eq!(nodes.len(), len);
            // Within each batch of `len / 2` nodes (hints never cross an `extend`).
            for (i, node) in nodes.iter().enumerate() {
                // SAFETY: a node of the cache.
                let ahead = unsafe { ahead_of(*node) };
                let in_batch = i % (len / 2);
                if in_batch + LOOKAHEAD < len / 2 {
                    let target = nodes[i + LOOKAHEAD].as_ptr() as isize;
                    // 0 where the offset does not fit (allocations 2 GiB apart).
                    let expected = i32::try_from(target - node.as_ptr() as isize).unwrap_or(0);
                    assert_eq!(ahead, expected, "node {i}");
                } else {
                    assert_eq!(ahead, 0, "node {i}");
                }
            }
        }
        let order: Vec<u32> =
            core::iter::from_fn(|| cache.pop().map(|m| m.into_payload())).collect();
        let expected: Vec<u32> = [0u32, 100]
            .iter()
            .flat_map(|b| (0..40).filter(|n| n % 5 == 0).map(move |n| b + n))
            .chain(
                [0u32, 100]
                    .iter()
                    .flat_map(|b| (0..40).filter(|n| n % 5 != 0).map(move |n| b + n)),
            )
            .collect();
        assert_eq!(order, expected);
    }
}
