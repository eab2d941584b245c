//! Request nodes: a message and the slot for its reply in one allocation.
//!
//! `ask` sends a message that carries a [`Reply`] and gives the asker a [`Pending`]; both
//! point into the message's own node, so a request costs one allocation, like a plain
//! send:
//!
//! ```text
//! #[repr(C)] RequestNode<M, T>
//! +------------------+
//! | Header           |  as for every node (the vtable is the request one)
//! | payload: M       |  at the same offset as in a plain node: an Envelope<M> reads it
//! | slot: Slot<T>    |  state word + the reply value + how to free the node
//! +------------------+
//! ```
//!
//! # The slot protocol
//!
//! One atomic word holds four flags and a reference count:
//!
//! | bit         | set by                 | meaning                                   |
//! |-------------|------------------------|-------------------------------------------|
//! | `VALUE`     | `Reply::send`          | the value is written and may be read      |
//! | `CLOSED`    | `Reply` dropped unsent | no value will ever come                   |
//! | `CANCELLED` | `Pending` dropped      | nobody will read a value                  |
//! | `TAKEN`     | `Pending::try_take`    | the value has been moved out              |
//! | refs (×16)  |                        | holders: the payload, the `Reply`, the `Pending` (3 at the start) |
//!
//! - `VALUE` and `CLOSED` are each set at most once, and never both: the `Reply` is
//!   consumed by `send` and otherwise sets `CLOSED` when dropped.
//! - The value is written only by the `Reply` before it sets `VALUE` (Release), and read
//!   only by the `Pending` after it saw `VALUE` (Acquire).
//! - Each holder gives up its reference exactly once: the payload when its envelope is
//!   dispatched or dropped, the `Reply` when sent or dropped, the `Pending` when dropped.
//!   The decrement is AcqRel: Release publishes the holder's writes, and the last holder
//!   acquires everyone's before it frees the node. The last holder drops a value that
//!   was sent but never taken (`VALUE` without `TAKEN`), then returns the node to its
//!   resource.
//!
//! So whatever the order of reply, dispatch, cancellation and drops, the value is
//! dropped exactly once, the node is freed exactly once, and the asker learns either the
//! value or that none will come (the handler dropped the `Reply`; the message was
//! dropped unhandled, at close, or in a panicking handler). The loom models
//! (`request::loom`) check the races: reply racing cancel, reply racing the node's
//! release, and drops in every order.

#[cfg(all(test, zeta_loom))]
mod loom;

use core::alloc::Layout;
use core::fmt;
use core::marker::PhantomData;
use core::mem::{ManuallyDrop, MaybeUninit};
use core::ptr::{self, NonNull};

use zeta_arena::{AllocError, MemoryResource};

use crate::message::{Envelope, Header, NodeVTable};
use crate::priority::Priority;
use crate::sync::{AtomicUsize, Ordering, UnsafeCell};

const VALUE: usize = 1;
const CLOSED: usize = 2;
const CANCELLED: usize = 4;
const TAKEN: usize = 8;
const REF_ONE: usize = 16;

/// The reply half of a request node.
struct Slot<T> {
    state: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
    /// Frees the whole node (it knows the payload, value and resource types).
    free: unsafe fn(NonNull<Header>),
}

#[repr(C)]
struct RequestNode<M, T> {
    header: Header,
    payload: ManuallyDrop<M>,
    slot: Slot<T>,
}

/// Gives up one reference; the last one frees the node.
///
/// # Safety
///
/// The caller holds one of the node's references and gives it up; `slot` is the node's.
#[inline]
unsafe fn release<T>(node: NonNull<Header>, slot: NonNull<Slot<T>>) {
    // SAFETY: we hold a reference, so the node is live.
    let slot = unsafe { slot.as_ref() };
    // AcqRel: Release publishes this holder's writes (the value, TAKEN); Acquire makes
    // the last holder see every other holder's before it frees (see the module doc).
    if slot.state.fetch_sub(REF_ONE, Ordering::AcqRel) < 2 * REF_ONE {
        // SAFETY: that was the last reference: nobody else can reach the node.
        unsafe { (slot.free)(node) }
    }
}

/// Frees a `RequestNode<M, T>` from an `R`: drops a value that was sent but not taken,
/// then returns the memory. The payload is not touched (its holder dropped or moved it).
///
/// # Safety
///
/// The node is a `RequestNode<M, T>` from an `R` whose last reference is gone.
unsafe fn free_node<M, T, R: MemoryResource>(node: NonNull<Header>) {
    let request = node.cast::<RequestNode<M, T>>().as_ptr();
    // SAFETY: the node is live and ours alone (last reference, acquired in `release`).
    unsafe {
        let slot = &(*request).slot;
        let state = slot.state.load(Ordering::Relaxed);
        if state & VALUE != 0 && state & TAKEN == 0 {
            slot.value.with_mut(|value| (*value).assume_init_drop());
        }
        let resource = &*((*request).header.resource as *const R);
        resource.deallocate(node.cast(), Layout::new::<RequestNode<M, T>>());
    }
}

/// The request node's table: the payload's share is given up after it is dropped or
/// moved out.
struct RequestVTableFor<M, T, R>(PhantomData<(M, T, R)>);

impl<M, T, R: MemoryResource> RequestVTableFor<M, T, R> {
    const VTABLE: NodeVTable = NodeVTable {
        drop: drop_payload::<M, T>,
        take: take_payload::<M, T>,
    };
}

/// Gives up the payload's reference when dropped (also on unwind).
struct PayloadShare<T> {
    node: NonNull<Header>,
    slot: NonNull<Slot<T>>,
}

impl<T> Drop for PayloadShare<T> {
    fn drop(&mut self) {
        // SAFETY: the payload's reference is given up exactly once, here.
        unsafe { release(self.node, self.slot) }
    }
}

fn slot_of<M, T>(node: NonNull<Header>) -> NonNull<Slot<T>> {
    let request = node.cast::<RequestNode<M, T>>().as_ptr();
    // SAFETY: in bounds of the node; no reference is created.
    unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*request).slot)) }
}

/// # Safety
///
/// `node` is a live `RequestNode<M, T>` whose payload is initialised and owned by the
/// caller (the envelope being dropped).
unsafe fn drop_payload<M, T>(node: NonNull<Header>) {
    let _share = PayloadShare {
        node,
        slot: slot_of::<M, T>(node),
    };
    // SAFETY: the payload is initialised and dropped once; `_share` releases after.
    unsafe { ManuallyDrop::drop(&mut (*node.cast::<RequestNode<M, T>>().as_ptr()).payload) }
}

/// # Safety
///
/// As for [`drop_payload`]; `out` is valid for a write of `M`.
unsafe fn take_payload<M, T>(node: NonNull<Header>, out: *mut u8) {
    let _share = PayloadShare {
        node,
        slot: slot_of::<M, T>(node),
    };
    // SAFETY: the payload is initialised and moved out once.
    unsafe {
        let payload =
            ptr::addr_of!((*node.cast::<RequestNode<M, T>>().as_ptr()).payload).cast::<M>();
        ptr::copy_nonoverlapping(payload, out.cast::<M>(), 1);
    }
}

/// The request will never be answered: the [`Reply`] was dropped without a value (the
/// handler did not reply, the message was dropped unhandled at close, or the handler
/// panicked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoReply;

impl fmt::Display for NoReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request will never be answered: its reply was dropped")
    }
}

impl std::error::Error for NoReply {}

/// The right to answer a request, carried inside the request message.
///
/// [`send`](Reply::send) writes the value into the request's own node; dropping the
/// `Reply` unsent tells the asker that no value will come ([`NoReply`]).
pub struct Reply<'r, T> {
    node: NonNull<Header>,
    slot: NonNull<Slot<T>>,
    _value: PhantomData<(T, &'r ())>,
}

// SAFETY: a `Reply` moves a `T` to the asker's thread (hence `T: Send`); the slot is
// synchronised by its state word; the node's resource was required to be `Sync`.
unsafe impl<T: Send> Send for Reply<'_, T> {}
// SAFETY: `&Reply` only reads the state word.
unsafe impl<T: Send> Sync for Reply<'_, T> {}

impl<T> Reply<'_, T> {
    fn slot(&self) -> &Slot<T> {
        // SAFETY: we hold a reference: the node is live.
        unsafe { self.slot.as_ref() }
    }

    /// Answers the request.
    ///
    /// # Errors
    ///
    /// Gives the value back if the asker has already gone (cancelled or dropped its
    /// [`Pending`]). `Ok` means the value is in the slot; the asker may still go before
    /// reading it, and then the value is dropped with the node.
    pub fn send(self, value: T) -> Result<(), T> {
        let this = ManuallyDrop::new(self);
        let slot = this.slot();
        // Acquire: pairs with the Pending's Release when it cancelled (nothing to read,
        // but it keeps the check meaningful).
        if slot.state.load(Ordering::Acquire) & CANCELLED != 0 {
            // SAFETY: we give up the Reply's reference once (Drop will not run).
            unsafe { release(this.node, this.slot) };
            return Err(value);
        }
        // SAFETY: only the Reply writes the value, once, before VALUE is set; nobody reads
        // it before seeing VALUE.
        slot.value.with_mut(|cell| unsafe { (*cell).write(value) });
        // Release: publishes the value to the Pending's Acquire load.
        slot.state.fetch_or(VALUE, Ordering::Release);
        // SAFETY: as above.
        unsafe { release(this.node, this.slot) };
        Ok(())
    }

    /// Whether the asker has gone: a handler may skip expensive work.
    pub fn is_cancelled(&self) -> bool {
        self.slot().state.load(Ordering::Relaxed) & CANCELLED != 0
    }
}

impl<T> Drop for Reply<'_, T> {
    fn drop(&mut self) {
        // Release: orders this before the Pending's Acquire that sees CLOSED.
        self.slot().state.fetch_or(CLOSED, Ordering::Release);
        // SAFETY: the Reply's reference is given up once, here.
        unsafe { release(self.node, self.slot) };
    }
}

impl<T> fmt::Debug for Reply<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// The asker's side of a request: the reply will appear in the request's node.
///
/// Poll it with [`try_take`](Pending::try_take). Dropping it cancels the request: the
/// replier sees [`Reply::is_cancelled`], and a value sent anyway is dropped with the
/// node. The waiting strategies (spin, back-off, park, `.await`) are built on this by
/// the actor layer.
pub struct Pending<'r, T> {
    node: NonNull<Header>,
    slot: NonNull<Slot<T>>,
    _value: PhantomData<(T, &'r ())>,
}

// SAFETY: a `Pending` receives a `T` from the replier's thread (hence `T: Send`); the
// slot is synchronised by its state word; the node's resource is `Sync`.
unsafe impl<T: Send> Send for Pending<'_, T> {}
// SAFETY: `&Pending` only reads the state word.
unsafe impl<T: Send> Sync for Pending<'_, T> {}

impl<T> Pending<'_, T> {
    fn slot(&self) -> &Slot<T> {
        // SAFETY: we hold a reference: the node is live.
        unsafe { self.slot.as_ref() }
    }

    /// Whether [`try_take`](Pending::try_take) would return something now.
    pub fn is_ready(&self) -> bool {
        self.slot().state.load(Ordering::Relaxed) & (VALUE | CLOSED) != 0
    }

    /// The reply if it has come: `Some(Ok(value))` once, then `Some(Err(NoReply))`;
    /// `Some(Err(NoReply))` if it never will; `None` while it may still come.
    pub fn try_take(&mut self) -> Option<Result<T, NoReply>> {
        let slot = self.slot();
        // Acquire: pairs with the Release in `Reply::send` (the value) and in `Reply`'s
        // drop (CLOSED).
        let state = slot.state.load(Ordering::Acquire);
        if state & TAKEN != 0 {
            return Some(Err(NoReply));
        }
        if state & VALUE != 0 {
            // SAFETY: VALUE was set after the value was written (acquired above); only
            // this Pending reads it, once: TAKEN is set next.
            let value = slot
                .value
                .with(|cell| unsafe { (*cell).assume_init_read() });
            // Relaxed: only this side reads TAKEN before the last release, which orders it.
            slot.state.fetch_or(TAKEN, Ordering::Relaxed);
            return Some(Ok(value));
        }
        if state & CLOSED != 0 {
            return Some(Err(NoReply));
        }
        None
    }

    /// Cancels the request (the same as dropping it).
    pub fn cancel(self) {
        drop(self);
    }
}

impl<T> Drop for Pending<'_, T> {
    fn drop(&mut self) {
        // Release: pairs with the Reply's Acquire check in `send`.
        self.slot().state.fetch_or(CANCELLED, Ordering::Release);
        // SAFETY: the Pending's reference is given up once, here.
        unsafe { release(self.node, self.slot) };
    }
}

impl<T> fmt::Debug for Pending<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("ready", &self.is_ready())
            .finish()
    }
}

/// Gives up the payload's and the Pending's references if building the payload unwinds
/// (the Reply's went with the unwinding closure).
struct Unbuilt<T> {
    node: NonNull<Header>,
    slot: NonNull<Slot<T>>,
}

impl<T> Drop for Unbuilt<T> {
    fn drop(&mut self) {
        // SAFETY: two references are ours (the payload's and the Pending's); the payload
        // was never written, and `free_node` does not touch it.
        unsafe {
            release(self.node, self.slot);
            release(self.node, self.slot);
        }
    }
}

impl<'r, M> Envelope<'r, M> {
    /// Allocates a request: one node from `resource` holding the message that `make`
    /// builds around the [`Reply`] it is given, and the slot the reply will land in.
    ///
    /// # Errors
    ///
    /// [`AllocError`] if `resource` has no memory for the node (`make` is not called).
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta_arena::PoolResource;
    /// use zeta_mailbox::{Envelope, Priority, Reply};
    ///
    /// enum Msg<'r> {
    ///     Price { symbol: &'static str, reply: Reply<'r, u64> },
    /// }
    ///
    /// let pool = PoolResource::new();
    /// let (message, mut pending) = Envelope::new_request_in(&pool, Priority::Normal, |reply| Msg::Price {
    ///     symbol: "ZETA",
    ///     reply,
    /// })
    /// .unwrap();
    /// assert!(pending.try_take().is_none());
    /// // The handler:
    /// match message.into_payload() {
    ///     Msg::Price { symbol, reply } => reply.send(symbol.len() as u64 * 100).unwrap(),
    /// }
    /// assert_eq!(pending.try_take(), Some(Ok(400)));
    /// ```
    pub fn new_request_in<T, R: MemoryResource + Sync>(
        resource: &'r R,
        priority: Priority,
        make: impl FnOnce(Reply<'r, T>) -> M,
    ) -> Result<(Self, Pending<'r, T>), AllocError> {
        let request = resource
            .allocate(Layout::new::<RequestNode<M, T>>())?
            .cast::<RequestNode<M, T>>();
        let node = request.cast::<Header>();
        // SAFETY: the block is fresh, sized and aligned for a `RequestNode<M, T>`
        // (resource contract), and ours alone; the payload is written below.
        let slot = unsafe {
            let raw = request.as_ptr();
            ptr::addr_of_mut!((*raw).header).write(Header {
                next: UnsafeCell::new(ptr::null_mut()),
                vtable: &RequestVTableFor::<M, T, R>::VTABLE,
                resource: resource as *const R as *const (),
                priority,
            });
            let slot = ptr::addr_of_mut!((*raw).slot);
            slot.write(Slot {
                state: AtomicUsize::new(3 * REF_ONE),
                value: UnsafeCell::new(MaybeUninit::uninit()),
                free: free_node::<M, T, R>,
            });
            NonNull::new_unchecked(slot)
        };
        let reply = Reply {
            node,
            slot,
            _value: PhantomData,
        };
        let unbuilt = Unbuilt { node, slot };
        let payload = make(reply);
        core::mem::forget(unbuilt);
        // SAFETY: the payload field is ours to initialise, once.
        unsafe { ptr::addr_of_mut!((*request.as_ptr()).payload).write(ManuallyDrop::new(payload)) };
        // SAFETY: a complete node whose payload is an `M` at `Node<M>`'s offset (both are
        // `repr(C)` with the header first), owned by nobody else; its vtable gives up the
        // payload's share of the node.
        let envelope = unsafe { Envelope::from_raw(node) };
        Ok((
            envelope,
            Pending {
                node,
                slot,
                _value: PhantomData,
            },
        ))
    }
}
