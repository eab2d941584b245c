//! The message node: one allocation holding a header and the payload, and
//! [`Envelope`], the owning handle to it.
//!
//! ```text
//! #[repr(C)] Node<M>
//! +----------------------+  <- the pointer an inbox links and a run queue moves
//! | Header               |
//! |   next      (link)   |  intrusive: written by the pusher before publication,
//! |   vtable    (&'static)|            read by the sole consumer after taking
//! |   resource  (*const) |  where the node goes back to
//! |   priority  (u8)     |
//! +----------------------+
//! | payload: M           |  inline, at a fixed offset for a given M
//! +----------------------+
//! ```
//!
//! The header is first, so a `*mut Header` is a pointer to the node. Type erasure follows
//! the usual pattern (a raw pointer plus a `&'static` table of `unsafe fn`s): the table
//! knows the concrete payload and resource types, and has two entries, `drop` (the node
//! was never handled: drop the payload, free the node) and `take` (dispatch: move the
//! payload out to the handler, free the node).

use core::alloc::Layout;
use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ptr::{self, NonNull};

use zeta_arena::{AllocError, MemoryResource};

use crate::priority::Priority;
use crate::sync::UnsafeCell;

/// The header at the start of every message node.
///
/// Its fields are private to the crate; what a user can see of a node goes through
/// [`Envelope`].
///
/// Aligned to 8 on every target, so that a node's address leaves the inbox's tag and
/// flag bits free (see the inbox's state word).
#[repr(C, align(8))]
pub struct Header {
    /// The next node down the inbox's LIFO stack, or in a consumer's FIFO cache.
    /// Written only by the thread that owns the node at that moment (the pusher before
    /// the publishing CAS, the consumer after taking it).
    pub(crate) next: UnsafeCell<*mut Header>,
    pub(crate) vtable: &'static NodeVTable,
    /// The resource the node came from, erased; `vtable` knows its type.
    pub(crate) resource: *const (),
    pub(crate) priority: Priority,
    /// Where the node [`LOOKAHEAD`](crate::cache::LOOKAHEAD) places further on in its
    /// consumer's FIFO lies, as a byte offset from this node (0: none, or too far for
    /// an `i32`). Written by `Cache::extend` while the node is the consumer's, read by
    /// the consumer's pop to prefetch that node; in the header's padding, so it costs
    /// no space.
    pub(crate) ahead: UnsafeCell<i32>,
}

/// The type-erased operations of a node kind.
pub(crate) struct NodeVTable {
    /// Drops the payload in place and returns the node to its resource (for a request
    /// node: gives up the payload's share of it).
    pub(crate) drop: unsafe fn(NonNull<Header>),
    /// Moves the payload to `out` (a `*mut M`) and returns the node to its resource (for
    /// a request node: gives up the payload's share of it).
    pub(crate) take: unsafe fn(NonNull<Header>, *mut u8),
}

/// A node carrying a payload of type `M`.
#[repr(C)]
struct Node<M> {
    header: Header,
    payload: ManuallyDrop<M>,
}

/// The table for nodes of `M` allocated from an `R`.
struct VTableFor<M, R>(PhantomData<(M, R)>);

impl<M, R: MemoryResource> VTableFor<M, R> {
    const VTABLE: NodeVTable = NodeVTable {
        drop: drop_node::<M, R>,
        take: take_node::<M, R>,
    };
}

/// Returns the node's memory to its resource, also if dropping the payload unwinds.
struct Release<R: MemoryResource, M> {
    node: NonNull<Header>,
    _types: PhantomData<(M, *const R)>,
}

impl<R: MemoryResource, M> Drop for Release<R, M> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: (1) the node's header is initialised and `resource` points to the `R`
        // it was allocated from (written by `Envelope::new_in`); (2) the envelope's
        // lifetime keeps that resource alive; (3) the node was allocated with
        // `Layout::new::<Node<M>>()`, and is released once: the envelope was consumed.
        unsafe {
            let resource = &*(self.node.as_ref().resource as *const R);
            resource.deallocate(self.node.cast(), Layout::new::<Node<M>>());
        }
    }
}

/// # Safety
///
/// `node` is a live `Node<M>` from an `R` that nobody else references; it is consumed.
unsafe fn drop_node<M, R: MemoryResource>(node: NonNull<Header>) {
    let _release = Release::<R, M> {
        node,
        _types: PhantomData,
    };
    // SAFETY: the node is a live `Node<M>` whose payload was never moved out (the
    // caller's duty); `_release` frees the memory afterwards, even on unwind.
    unsafe { ManuallyDrop::drop(&mut (*node.cast::<Node<M>>().as_ptr()).payload) }
}

/// # Safety
///
/// As for [`drop_node`]; `out` is valid for a write of `M`.
unsafe fn take_node<M, R: MemoryResource>(node: NonNull<Header>, out: *mut u8) {
    let _release = Release::<R, M> {
        node,
        _types: PhantomData,
    };
    // SAFETY: the payload is initialised and, the node being consumed, read exactly once.
    unsafe {
        let payload = ptr::addr_of!((*node.cast::<Node<M>>().as_ptr()).payload).cast::<M>();
        ptr::copy_nonoverlapping(payload, out.cast::<M>(), 1);
    }
}

/// Allocating a message node failed; the payload comes back.
pub struct AllocFailed<M> {
    /// The message that could not be placed.
    pub payload: M,
}

impl<M> fmt::Debug for AllocFailed<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AllocFailed { .. }")
    }
}

impl<M> fmt::Display for AllocFailed<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&AllocError, f)
    }
}

impl<M> std::error::Error for AllocFailed<M> {}

/// An owned message node: one allocation from a [`MemoryResource`] holding the header and
/// the payload inline.
///
/// Sending moves the envelope into an [`Inbox`](crate::Inbox); the consumer gets it back
/// from a [`Cache`](crate::Cache) and [dispatches](Envelope::into_payload) it. Dropping
/// an envelope drops its payload and returns the node to its resource: every payload is
/// dropped exactly once, wherever the node ends (handled, handed back at close, or
/// discarded).
///
/// The lifetime `'r` is that of the resource: an envelope cannot outlive the memory it
/// lives in.
///
/// # Examples
///
/// ```
/// use zeta_arena::PoolResource;
/// use zeta_mailbox::{Envelope, Priority};
///
/// let pool = PoolResource::new();
/// let envelope = Envelope::new_in(&pool, Priority::High, String::from("cancel 42")).unwrap();
/// assert_eq!(envelope.priority(), Priority::High);
/// assert_eq!(envelope.payload(), "cancel 42");
/// let text = envelope.into_payload(); // the node is back in the pool
/// assert_eq!(text, "cancel 42");
/// ```
pub struct Envelope<'r, M> {
    node: NonNull<Header>,
    _owns: PhantomData<(M, &'r ())>,
}

// SAFETY: an envelope owns its `M` (hence `M: Send`); its node's resource was required
// to be `Sync` at construction, so returning the node from another thread is sound.
unsafe impl<M: Send> Send for Envelope<'_, M> {}
// SAFETY: a shared envelope only gives out `&M`.
unsafe impl<M: Sync> Sync for Envelope<'_, M> {}

impl<'r, M> Envelope<'r, M> {
    /// Places `payload` in a node allocated from `resource`.
    ///
    /// `R: Sync` because the node may be freed on another thread than the one that
    /// allocated it.
    ///
    /// # Errors
    ///
    /// [`AllocFailed`] with the payload when `resource` has no memory for the node.
    #[inline]
    pub fn new_in<R: MemoryResource + Sync>(
        resource: &'r R,
        priority: Priority,
        payload: M,
    ) -> Result<Self, AllocFailed<M>> {
        let node = match resource.allocate(Layout::new::<Node<M>>()) {
            Ok(block) => block.cast::<Node<M>>(),
            Err(AllocError) => return Err(AllocFailed { payload }),
        };
        // SAFETY: the block is fresh, sized and aligned for a `Node<M>` (resource
        // contract), and ours alone.
        unsafe {
            node.as_ptr().write(Node {
                header: Header {
                    next: UnsafeCell::new(ptr::null_mut()),
                    vtable: &VTableFor::<M, R>::VTABLE,
                    resource: resource as *const R as *const (),
                    priority,
                    ahead: UnsafeCell::new(0),
                },
                payload: ManuallyDrop::new(payload),
            })
        };
        Ok(Self {
            node: node.cast(),
            _owns: PhantomData,
        })
    }

    /// The message's priority.
    #[inline]
    pub fn priority(&self) -> Priority {
        // SAFETY: the envelope owns a live node.
        unsafe { self.node.as_ref().priority }
    }

    /// The payload.
    #[inline]
    pub fn payload(&self) -> &M {
        // SAFETY: the envelope owns a live `Node<M>` with an initialised payload.
        unsafe { &(*self.node.cast::<Node<M>>().as_ptr()).payload }
    }

    /// The payload, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut M {
        // SAFETY: as in `payload`, and `&mut self` makes the access exclusive.
        unsafe { &mut (*self.node.cast::<Node<M>>().as_ptr()).payload }
    }

    /// Dispatch: moves the payload out and returns the node to its resource.
    #[inline]
    pub fn into_payload(self) -> M {
        let node = self.into_raw();
        let mut out = core::mem::MaybeUninit::<M>::uninit();
        // SAFETY: we own the node (consumed `self`), so its vtable's `take` may consume
        // it; `out` has room for an `M`.
        unsafe {
            (node.as_ref().vtable.take)(node, out.as_mut_ptr().cast());
            out.assume_init()
        }
    }

    /// Dispatch when the caller knows where the node came from: moves the payload out
    /// and returns the node to `resource` directly, with no dynamic call (a reader
    /// whose every node comes from one resource, such as a local actor's inbox).
    ///
    /// # Safety
    ///
    /// The envelope was made by [`new_in`](Envelope::new_in) with this `resource` (the
    /// same object, or one whose `deallocate` takes its blocks back), and is a plain
    /// message node (not a request node, whose memory the payload only shares).
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta_arena::{CountingResource, GlobalResource};
    /// use zeta_mailbox::{Envelope, Priority};
    ///
    /// let memory = CountingResource::new(GlobalResource);
    /// let envelope = Envelope::new_in(&memory, Priority::Normal, String::from("fill")).unwrap();
    /// assert_eq!(memory.live_blocks(), 1);
    /// // SAFETY: made just above from `memory`, a plain message node.
    /// let text = unsafe { envelope.into_payload_from(&memory) };
    /// assert_eq!((text.as_str(), memory.live_blocks()), ("fill", 0));
    /// ```
    #[inline(always)]
    pub unsafe fn into_payload_from<R: MemoryResource>(self, resource: &R) -> M {
        let node = self.into_raw();
        // SAFETY: we own the node (consumed `self`): the payload, initialised, is read
        // once, then the node, a `Node<M>` from `resource` (the caller's duty), goes
        // back to it with its layout.
        unsafe {
            let payload = ManuallyDrop::into_inner(ptr::read(ptr::addr_of!(
                (*node.cast::<Node<M>>().as_ptr()).payload
            )));
            resource.deallocate(node.cast(), Layout::new::<Node<M>>());
            payload
        }
    }

    /// Gives up ownership of the node without dropping it, for an intrusive structure
    /// of the caller's that holds envelopes (the inbox holds them this way). Take it
    /// back with [`from_raw`](Envelope::from_raw), or it leaks.
    #[inline]
    pub fn into_raw(self) -> NonNull<Header> {
        let node = self.node;
        core::mem::forget(self);
        node
    }

    /// Takes ownership of a node.
    ///
    /// # Safety
    ///
    /// `node` came from [`Envelope::into_raw`] of an `Envelope<'r, M>` (or is a freshly
    /// built node whose payload is an `M` at the offset of `Node<M>`'s), and is not owned
    /// by anything else.
    #[inline]
    pub unsafe fn from_raw(node: NonNull<Header>) -> Self {
        Self {
            node,
            _owns: PhantomData,
        }
    }
}

impl<M> Drop for Envelope<'_, M> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the envelope owns the node and is going away, so `drop` may consume it.
        unsafe { (self.node.as_ref().vtable.drop)(self.node) }
    }
}

impl<M: fmt::Debug> fmt::Debug for Envelope<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("priority", &self.priority())
            .field("payload", self.payload())
            .finish()
    }
}

/// The priority of a raw node.
///
/// # Safety
///
/// `node` is live and owned by the caller.
#[inline(always)]
pub(crate) unsafe fn priority_of(node: NonNull<Header>) -> Priority {
    // SAFETY: the caller guarantees the node is live.
    unsafe { node.as_ref().priority }
}

/// The link of a raw node.
///
/// # Safety
///
/// `node` is live, and the caller owns it, or took it with an Acquire operation that
/// synchronised with the Release that published it.
#[inline(always)]
pub(crate) unsafe fn next_of(node: NonNull<Header>) -> *mut Header {
    // SAFETY: per the caller's duty, the link was written before we got the node.
    unsafe { node.as_ref().next.with(|next| *next) }
}

/// The node's prefetch offset ([`Header::ahead`]).
///
/// # Safety
///
/// As for [`set_next`]: `node` is live and owned by the caller.
#[inline(always)]
pub(crate) unsafe fn ahead_of(node: NonNull<Header>) -> i32 {
    // SAFETY: the caller owns the node.
    unsafe { node.as_ref().ahead.with(|ahead| *ahead) }
}

/// Sets the node's prefetch offset ([`Header::ahead`]).
///
/// # Safety
///
/// As for [`set_next`].
#[inline(always)]
pub(crate) unsafe fn set_ahead(node: NonNull<Header>, ahead: i32) {
    // SAFETY: the caller has exclusive access to the node.
    unsafe { node.as_ref().ahead.with_mut(|slot| *slot = ahead) }
}

/// Sets the link of a raw node.
///
/// # Safety
///
/// `node` is live and owned exclusively by the caller (not yet published, or taken).
#[inline(always)]
pub(crate) unsafe fn set_next(node: NonNull<Header>, next: *mut Header) {
    // SAFETY: the caller has exclusive access to the node.
    unsafe { node.as_ref().next.with_mut(|link| *link = next) }
}
