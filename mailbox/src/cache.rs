//! [`Cache`]: the reader's two FIFO queues, high and normal.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use crate::inbox::{Batch, Inbox};
use crate::message::{next_of, priority_of, set_next, Envelope, Header};
use crate::priority::Priority;

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
        while let Some(current) = NonNull::new(node) {
            // SAFETY: the batch's chain is ours (taken with Acquire, see `Inbox`), and
            // `current` is live; we read its link before overwriting it.
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
