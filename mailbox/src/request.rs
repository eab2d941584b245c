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
//! One atomic word holds seven flags and a reference count:
//!
//! | bit         | set by                          | cleared by                | meaning                                  |
//! |-------------|---------------------------------|---------------------------|------------------------------------------|
//! | `VALUE`     | `Reply::send`                   | never                     | the value is written and may be read     |
//! | `CLOSED`    | `Reply` dropped unsent          | never                     | no value will ever come                  |
//! | `CANCELLED` | `Pending` dropped               | never                     | nobody will read a value                 |
//! | `TAKEN`     | the `Pending`, taking the value | never                     | the value has been moved out             |
//! | `WAKER`     | `poll_take`, after storing      | `poll_take`, to replace   | the waker cell holds the asker's waker   |
//! | `PARKED`    | `wait_until`, before parking    | never                     | a thread may be parked on the slot       |
//! | `PANICKED`  | `Reply` dropped while unwinding | never                     | with `CLOSED`: the handler panicked      |
//! | refs (×64)  |                                 |                           | holders: the payload, the `Reply`, the `Pending` (3 at the start) |
//!
//! - `VALUE` and `CLOSED` are each set at most once, and never both: the `Reply` is
//!   consumed by `send` and otherwise sets `CLOSED` when dropped. Setting either is the
//!   *completion*; only the `Reply` completes.
//! - The value is written only by the `Reply` before it sets `VALUE` (Release), and read
//!   only by the `Pending` after it saw `VALUE` (Acquire).
//! - Each holder gives up its reference exactly once: the payload when its envelope is
//!   dispatched or dropped, the `Reply` when sent or dropped, the `Pending` when dropped.
//!   The decrement is AcqRel: Release publishes the holder's writes, and the last holder
//!   acquires everyone's before it frees the node. The last holder drops a value that
//!   was sent but never taken (`VALUE` without `TAKEN`) and a stored waker (`WAKER`),
//!   then returns the node to its resource.
//!
//! So whatever the order of reply, dispatch, cancellation and drops, the value is
//! dropped exactly once, the node is freed exactly once, and the asker learns either the
//! value or that none will come (the handler dropped the `Reply`; the message was
//! dropped unhandled, at close, or in a panicking handler). The loom models
//! (`request::loom`) check the races: reply racing cancel, reply racing the node's
//! release, drops in every order, and the two ways of waiting below.
//!
//! ## Deciding a race: [`Reply::send_unless_cancelled`] and [`Pending::cancel_unanswered`]
//!
//! `send` checks `CANCELLED` with a load before writing, so a cancel that lands between
//! the check and the `fetch_or(VALUE)` leaves both sides believing they came first. A
//! caller that must know (a monitor's notice against its `demonitor`) uses the decided
//! pair instead: the replier writes the value and `fetch_or(VALUE)`s, the asker
//! `fetch_or(CANCELLED)`s, and each reads the other's bit in the `prev` its own
//! read-modify-write returned. The two are ordered in the word's modification order,
//! so exactly one finds the other's bit clear. A value written into a cancelled slot is
//! dropped by the node's last holder, as one never taken is. [`Pending::detach`] gives
//! up the asker's reference without cancelling (the reply is sent and dropped unread).
//! Model 8 (`request::loom`) checks it.
//!
//! ## Waiting with a waker: [`Pending::poll_take`]
//!
//! The slot has one waker cell. **The waker is written only by the `Pending` while
//! `WAKER` is clear, and read only by the replier who saw `WAKER` set when it
//! completed** (and, after the last release, dropped by the node's free). The protocol
//! is tokio's oneshot (`poll_recv`, `set_rx_task`/`unset_rx_task`, `set_complete`):
//!
//! - *Register* (`WAKER` clear): store a clone of the task's waker, then
//!   `fetch_or(WAKER)` (AcqRel). If that finds `VALUE` or `CLOSED`, the replier
//!   completed first and saw `WAKER` clear, so it will not wake anyone: return `Ready`
//!   (the waker stays, with `WAKER` set, for the free to drop). Otherwise the replier
//!   completes later, sees `WAKER`, and wakes.
//! - *Replace* (`WAKER` set, and the stored waker does not `will_wake` the new one):
//!   `fetch_and(!WAKER)` (Acquire) takes the cell back. If that finds `VALUE` or
//!   `CLOSED`, the replier completed first, saw `WAKER`, and may be reading the cell
//!   right now: set `WAKER` again (the free drops the old waker) and return `Ready`.
//!   Otherwise the replier's completion is later in the word's modification order and
//!   will see `WAKER` clear: the cell is the `Pending`'s alone, so it drops the old
//!   waker and registers the new one as above.
//! - *Complete* (`Reply::send`, `Reply`'s drop): set `VALUE` or `CLOSED` (Release) and
//!   look at the old word. If it has `WAKER` (and not `CANCELLED`), an Acquire fence
//!   (pairing with the Release of the `fetch_or(WAKER)` that stored it) makes the
//!   waker readable, and the replier calls `wake_by_ref` on it, *before* giving up its
//!   reference, so the node is alive. The release is done by a guard, so a panicking
//!   waker still gives up the reference (and frees the node if it was the last).
//!
//! No wake-up is lost: the completion and the `fetch_or(WAKER)` are read-modify-writes
//! of one word, so one is first. If the completion is, the `Pending` sees it; if the
//! registration is, the replier sees `WAKER`.
//!
//! ## Waiting by parking: [`Pending::wait_until`]
//!
//! A thread spins briefly (replies often come within a microsecond; the spin is
//! `parking_lot_core::SpinWait`: a few exponential spins, then a few yields), then sets `PARKED`
//! and parks with `parking_lot_core`, keyed by the slot's address, validated by
//! "neither `VALUE` nor `CLOSED`", and loops until one of them is set or the deadline
//! passes. A completion whose old word has `PARKED` calls `unpark_all` on the key,
//! before the replier gives up its reference.
//!
//! - *No lost wake-up.* If the completion comes before the `fetch_or(PARKED)` in the
//!   word's order, the waiter sees it and does not park. Otherwise the replier sees
//!   `PARKED` and calls `unpark_all`, which takes the lock of the key's bucket. The
//!   validate closure runs under that same lock: if it runs first, the thread is
//!   queued before the lock is released and `unpark_all` finds and wakes it; if it runs
//!   after, the lock orders the completion before it and it sees `VALUE`/`CLOSED` and
//!   does not sleep. There is no window between the check and the sleep.
//! - *An unpark on a reused address is harmless.* A freed node's memory may be reused
//!   for another request, whose slot then has the same address, hence the same key. An
//!   unpark for the old request cannot reach the new one's waiter: the replier unparks
//!   before it gives up its reference, so the old node is alive and every thread queued
//!   on the key is the old node's own waiter (a waiter holds the `Pending`, hence a
//!   reference, for its whole wait). And a waiter never takes an unpark to mean "the
//!   reply is there": it re-checks the word and parks again if the request is not
//!   complete, so even an unpark it did not expect costs one round of its loop, never a
//!   wrong answer. `PARKED` is never cleared: a waiter that timed out leaves it set, and
//!   the completion then unparks an empty queue (one bucket lock, nothing more).
//!
//! Under `--cfg zeta_loom`, `parking_lot_core` is invisible to loom; the crate's `sync`
//! module then turns the spin into nothing, a park into one `loom::thread::yield_now`
//! (the loop re-checks the loom-visible word), and `unpark_all` into nothing.

#[cfg(all(test, zeta_loom))]
mod loom;

use core::alloc::Layout;
use core::fmt;
use core::marker::PhantomData;
use core::mem::{self, ManuallyDrop, MaybeUninit};
use core::ptr::{self, NonNull};
use core::task::{Context, Poll, Waker};
use std::time::Instant;

use zeta_arena::{AllocError, MemoryResource};

use crate::message::{Envelope, Header, NodeVTable};
use crate::priority::Priority;
use crate::sync::{self, fence, AtomicUsize, Ordering, Parked, UnsafeCell};

/// The value is written and may be read.
const VALUE: usize = 1;
/// The `Reply` was dropped unsent: no value will come.
const CLOSED: usize = 2;
/// The `Pending` was dropped: nobody will read a value.
const CANCELLED: usize = 4;
/// The value has been moved out by the `Pending`.
const TAKEN: usize = 8;
/// The waker cell holds the `Pending`'s waker (see "Waiting with a waker").
const WAKER: usize = 16;
/// A thread may be parked on the slot's address (see "Waiting by parking").
const PARKED: usize = 32;
/// Set with `CLOSED` when the `Reply` was dropped by an unwinding panic: the handler
/// that held it panicked.
const PANICKED: usize = 64;
/// One holder's reference; the bits below are flags.
const REF_ONE: usize = 128;

/// The request is complete: a value came, or none will.
const COMPLETE: usize = VALUE | CLOSED;

/// The reply half of a request node.
struct Slot<T> {
    state: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
    /// Initialised while `WAKER` is set, and while the `Pending` is between storing a
    /// waker and setting `WAKER` (or between clearing it and dropping the old waker).
    waker: UnsafeCell<MaybeUninit<Waker>>,
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

/// Wakes the asker after the `Reply` completed the request (set `VALUE` or `CLOSED`)
/// over the old word `prev`: the stored waker if `prev` has `WAKER`, the parked thread
/// if it has `PARKED`; nobody if the asker has gone (`CANCELLED`).
///
/// # Safety
///
/// 1. The caller is the `Reply` that completed the request with a Release
///    read-modify-write of the state word which returned `prev`.
/// 2. It still holds its reference (the node is live), and gives it up only after this
///    returns or unwinds.
#[inline]
unsafe fn notify<T>(slot: NonNull<Slot<T>>, prev: usize) {
    if prev & (WAKER | PARKED) != 0 && prev & CANCELLED == 0 {
        // SAFETY: passed on from the caller.
        unsafe { notify_slow(slot, prev) }
    }
}

/// # Safety
///
/// As for [`notify`].
#[cold]
unsafe fn notify_slow<T>(slot: NonNull<Slot<T>>, prev: usize) {
    if prev & PARKED != 0 {
        // SAFETY: the key is the address of the slot, which is live (duty 2) and parked
        // on only by its own `Pending` (see "Waiting by parking"). Unparking first: a
        // panicking waker below must not strand a parked thread.
        unsafe { sync::unpark_all(slot.as_ptr().addr()) };
    }
    if prev & WAKER != 0 {
        // Acquire: pairs with the Release of the `fetch_or(WAKER)` in
        // `Pending::register` that published the waker `prev` shows (our Release
        // read-modify-write read it, or a later value of its release sequence).
        fence(Ordering::Acquire);
        // SAFETY: 1. the node is live (duty 2). 2. `WAKER` was set when we completed, so
        // the cell holds a waker (published, fence above) and the `Pending` will not
        // write it again: it only writes with `WAKER` clear, and its clear would find
        // our completion and set `WAKER` back without touching the cell. Reads may
        // overlap (its `will_wake`); `Waker` is `Sync`.
        unsafe {
            slot.as_ref()
                .waker
                .with(|waker| (*waker).assume_init_ref().wake_by_ref());
        }
    }
}

/// Frees a `RequestNode<M, T>` from an `R`: drops a value that was sent but not taken
/// and a stored waker, then returns the memory. The payload is not touched (its holder
/// dropped or moved it).
///
/// # Safety
///
/// The node is a `RequestNode<M, T>` from an `R` whose last reference is gone.
unsafe fn free_node<M, T, R: MemoryResource>(node: NonNull<Header>) {
    // Declared first, dropped last: the memory goes back even if dropping the value or
    // the waker (user code) panics.
    let _memory = Deallocate::<M, T, R> {
        node,
        _types: PhantomData,
    };
    let request = node.cast::<RequestNode<M, T>>().as_ptr();
    // SAFETY: the node is live and ours alone (last reference, acquired in `release`).
    let slot = unsafe { &(*request).slot };
    // Relaxed: `release` acquired every holder's writes, the flags included.
    let state = slot.state.load(Ordering::Relaxed);
    // Both are moved out, then dropped at the end of the scope (value first).
    let mut _waker = None;
    if state & WAKER != 0 {
        // SAFETY: `WAKER` set means the cell holds a waker (the `Pending` stores it
        // before setting the bit and drops it only after clearing it); read out once.
        _waker = Some(unsafe { slot.waker.with_mut(|waker| (*waker).assume_init_read()) });
    }
    let mut _value = None;
    if state & VALUE != 0 && state & TAKEN == 0 {
        // SAFETY: `VALUE` without `TAKEN`: written by `send` and never moved out; read
        // out once.
        _value = Some(unsafe { slot.value.with_mut(|value| (*value).assume_init_read()) });
    }
}

/// Returns a freed node's memory to its resource when dropped (also on unwind).
struct Deallocate<M, T, R: MemoryResource> {
    node: NonNull<Header>,
    _types: PhantomData<(M, T, R)>,
}

impl<M, T, R: MemoryResource> Drop for Deallocate<M, T, R> {
    fn drop(&mut self) {
        let request = self.node.cast::<RequestNode<M, T>>().as_ptr();
        // SAFETY: made only by `free_node`, for a node whose last reference is gone and
        // which came from an `R` (its caller's duty); the header is intact (nobody
        // writes it after construction), and the node is not touched after this.
        unsafe {
            let resource = &*((*request).header.resource as *const R);
            resource.deallocate(self.node.cast(), Layout::new::<RequestNode<M, T>>());
        }
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

/// One holder's reference (the payload's, or the `Reply`'s while it completes), given
/// up when dropped, also on unwind (a panicking payload drop or waker).
struct Share<T> {
    node: NonNull<Header>,
    slot: NonNull<Slot<T>>,
}

impl<T> Drop for Share<T> {
    fn drop(&mut self) {
        // SAFETY: a `Share` is made for a reference its maker owns and hands over (the
        // payload's in the vtable functions, the Reply's in `send` and its drop); it is
        // given up exactly once, here.
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
    let _share = Share {
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
    let _share = Share {
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
    ///
    /// # Panics
    ///
    /// If the asker's waker panics when woken; the reply is sent all the same.
    pub fn send(self, value: T) -> Result<(), T> {
        let this = ManuallyDrop::new(self);
        // The Reply's reference (Drop will not run), given up when `share` goes, on
        // every path below, unwinding included.
        let share = Share {
            node: this.node,
            slot: this.slot,
        };
        // SAFETY: `share` holds the Reply's reference: the node is live until it goes.
        let slot = unsafe { share.slot.as_ref() };
        // Acquire: pairs with the Pending's Release when it cancelled (nothing to read,
        // but it keeps the check meaningful).
        if slot.state.load(Ordering::Acquire) & CANCELLED != 0 {
            return Err(value);
        }
        // SAFETY: only the Reply writes the value, once, before VALUE is set; nobody reads
        // it before seeing VALUE.
        slot.value.with_mut(|cell| unsafe { (*cell).write(value) });
        // Release: publishes the value to the Pending's Acquire (the load in `try_take`,
        // the read-modify-writes in `poll_take`). The waker, if `prev` shows one, is
        // acquired by the fence in `notify_slow`.
        let prev = slot.state.fetch_or(VALUE, Ordering::Release);
        // SAFETY: we completed with the Release above, which returned `prev`; `share`
        // keeps our reference until `notify` returns or unwinds.
        unsafe { notify(share.slot, prev) };
        Ok(())
    }

    /// Answers the request unless the asker has cancelled, deciding the race with a
    /// cancel by one read-modify-write of the slot's word: `true` if the value was in
    /// the slot before any cancel, and then [`Pending::cancel_unanswered`] returns
    /// `false`; `false` if the asker cancelled first (the value is dropped with the
    /// node), and then it returns `true`. Exactly one side learns that it came first.
    ///
    /// [`send`](Reply::send) can answer `Ok` to a cancel that lands between its check
    /// and its write; this one cannot.
    ///
    /// # Panics
    ///
    /// If the asker's waker panics when woken; the reply is sent all the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta_arena::PoolResource;
    /// use zeta_mailbox::{Envelope, Priority};
    ///
    /// let pool = PoolResource::new();
    /// let (message, pending) = Envelope::new_request_in(&pool, Priority::Normal, |reply| reply).unwrap();
    /// assert!(pending.cancel_unanswered()); // first
    /// assert!(!message.into_payload().send_unless_cancelled(7u32)); // too late
    /// ```
    pub fn send_unless_cancelled(self, value: T) -> bool {
        let this = ManuallyDrop::new(self);
        // The Reply's reference, given up when `share` goes, on every path below.
        let share = Share {
            node: this.node,
            slot: this.slot,
        };
        // SAFETY: `share` holds the Reply's reference: the node is live until it goes.
        let slot = unsafe { share.slot.as_ref() };
        // SAFETY: only the Reply writes the value, once, before VALUE is set; nobody
        // reads it before seeing VALUE (a cancelled slot's value is dropped by the
        // node's last holder, who acquired every holder's release).
        slot.value.with_mut(|cell| unsafe { (*cell).write(value) });
        // Release: publishes the value, as in `send`. Which of this and the Pending's
        // `fetch_or(CANCELLED)` is first in the word's modification order decides.
        let prev = slot.state.fetch_or(VALUE, Ordering::Release);
        // SAFETY: we completed with the Release above, which returned `prev`; `share`
        // keeps our reference until `notify` returns or unwinds.
        unsafe { notify(share.slot, prev) };
        prev & CANCELLED == 0
    }

    /// Whether the asker has gone: a handler may skip expensive work.
    pub fn is_cancelled(&self) -> bool {
        self.slot().state.load(Ordering::Relaxed) & CANCELLED != 0
    }
}

impl<T> Drop for Reply<'_, T> {
    fn drop(&mut self) {
        // The Reply's reference, given up once, when `_share` goes (also if the waker
        // panics).
        let _share = Share {
            node: self.node,
            slot: self.slot,
        };
        // Dropped by an unwinding panic: the handler that held it panicked, and the
        // asker may be told so.
        let closed = if std::thread::panicking() {
            CLOSED | PANICKED
        } else {
            CLOSED
        };
        // Release: orders this before the Pending's Acquire that sees CLOSED. The waker,
        // if `prev` shows one, is acquired by the fence in `notify_slow`.
        let prev = self.slot().state.fetch_or(closed, Ordering::Release);
        // SAFETY: we completed with the Release above, which returned `prev`; `_share`
        // keeps our reference until `notify` returns or unwinds.
        unsafe { notify(self.slot, prev) };
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
/// Check it with [`try_take`](Pending::try_take), wait for it in a task with
/// [`poll_take`](Pending::poll_take) (a waker), or on a thread with
/// [`wait_until`](Pending::wait_until) (spin, then park). None of them allocates.
/// Dropping it cancels the request: the replier sees [`Reply::is_cancelled`], and a
/// value sent anyway is dropped with the node.
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

    /// Whether no value will come because the `Reply` was dropped by a panic's unwinding
    /// (the handler holding it panicked), rather than dropped unsent otherwise. Read it
    /// after [`try_take`](Pending::try_take) (or a wait) returned `Err(NoReply)`.
    pub fn abandoned_by_panic(&self) -> bool {
        // Relaxed: set together with CLOSED, which the caller acquired when it saw the
        // request complete.
        self.slot().state.load(Ordering::Relaxed) & PANICKED != 0
    }

    /// Whether [`try_take`](Pending::try_take) would return something now.
    pub fn is_ready(&self) -> bool {
        self.slot().state.load(Ordering::Relaxed) & (VALUE | CLOSED) != 0
    }

    /// The reply if it has come: `Some(Ok(value))` once, then `Some(Err(NoReply))`;
    /// `Some(Err(NoReply))` if it never will; `None` while it may still come.
    pub fn try_take(&mut self) -> Option<Result<T, NoReply>> {
        // Acquire: pairs with the Release in `Reply::send` (the value) and in `Reply`'s
        // drop (CLOSED).
        let state = self.slot().state.load(Ordering::Acquire);
        if state & COMPLETE == 0 {
            return None;
        }
        // SAFETY: read with Acquire just now, and complete.
        Some(unsafe { self.take_completed(state) })
    }

    /// The result of a completed request whose word this `Pending` read as `state`.
    ///
    /// # Safety
    ///
    /// `state` has `VALUE` or `CLOSED` and was returned by an Acquire operation (or one
    /// followed by an Acquire fence) of this `Pending` on the state word.
    #[inline]
    unsafe fn take_completed(&mut self, state: usize) -> Result<T, NoReply> {
        debug_assert_ne!(state & COMPLETE, 0, "take_completed on {state:#b}");
        // `TAKEN` is set only by this `Pending`, so any word it read since shows it.
        if state & (VALUE | TAKEN) != VALUE {
            return Err(NoReply);
        }
        let slot = self.slot();
        // SAFETY: VALUE was set after the value was written, and `state` was acquired
        // (the caller's duty); only this Pending reads it, once: TAKEN is set next.
        let value = slot
            .value
            .with(|cell| unsafe { (*cell).assume_init_read() });
        // Relaxed: only this side reads TAKEN before the last release, which orders it.
        slot.state.fetch_or(TAKEN, Ordering::Relaxed);
        Ok(value)
    }

    /// Polls for the reply from an async task: `Ready` with what
    /// [`try_take`](Pending::try_take) would return if the request is complete,
    /// otherwise `Pending`, with `cx`'s waker stored in the request's node (no
    /// allocation) to be woken once, when the reply is sent or the [`Reply`] dropped.
    ///
    /// As with any future, only the waker of the latest poll is woken; a waker that
    /// [`will_wake`](Waker::will_wake) the stored one is not stored again. After
    /// `Ready(Ok(value))`, every poll returns `Ready(Err(NoReply))`, like `try_take`.
    ///
    /// A future is `core::future::poll_fn(|cx| pending.poll_take(cx))`.
    ///
    /// # Panics
    ///
    /// If cloning `cx`'s waker or dropping the one it replaces panics; the request is
    /// left consistent (no waker stored, or the old one).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use std::task::{Context, Poll, Wake, Waker};
    ///
    /// use zeta_arena::PoolResource;
    /// use zeta_mailbox::{Envelope, NoReply, Priority, Reply};
    ///
    /// /// A waker that counts its wake-ups.
    /// struct Count(AtomicUsize);
    ///
    /// impl Wake for Count {
    ///     fn wake(self: Arc<Self>) {
    ///         self.wake_by_ref();
    ///     }
    ///     fn wake_by_ref(self: &Arc<Self>) {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    ///
    /// let pool = PoolResource::new();
    /// let (message, mut pending) =
    ///     Envelope::new_request_in(&pool, Priority::Normal, |reply: Reply<'_, u32>| reply)
    ///         .unwrap();
    /// let count = Arc::new(Count(AtomicUsize::new(0)));
    /// let waker = Waker::from(Arc::clone(&count));
    /// let mut cx = Context::from_waker(&waker);
    ///
    /// assert!(pending.poll_take(&mut cx).is_pending()); // the waker is stored
    /// message.into_payload().send(7).unwrap(); // the handler replies: wakes it
    /// assert_eq!(count.0.load(Ordering::Relaxed), 1);
    /// assert_eq!(pending.poll_take(&mut cx), Poll::Ready(Ok(7)));
    /// assert_eq!(pending.poll_take(&mut cx), Poll::Ready(Err(NoReply)));
    /// ```
    pub fn poll_take(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, NoReply>> {
        // Acquire: as in `try_take`.
        let state = self.slot().state.load(Ordering::Acquire);
        if state & COMPLETE != 0 {
            // SAFETY: read with Acquire just now, and complete.
            return Poll::Ready(unsafe { self.take_completed(state) });
        }
        match self.register(cx.waker(), state) {
            // SAFETY: `register` returns a complete word read by an Acquire
            // read-modify-write of this `Pending`.
            Poll::Ready(prev) => Poll::Ready(unsafe { self.take_completed(prev) }),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Like [`poll_take`](Pending::poll_take), but takes nothing: `Ready(())` if the
    /// request is complete (the value, if one came, stays in the slot for
    /// [`try_take`](Pending::try_take)), otherwise `Pending`, with `cx`'s waker stored
    /// to be woken once at completion. For a caller that registers a waker now and
    /// reads the result later, elsewhere.
    ///
    /// # Panics
    ///
    /// As for [`poll_take`](Pending::poll_take).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    ///
    /// use zeta_arena::PoolResource;
    /// use zeta_mailbox::{Envelope, Priority, Reply};
    ///
    /// let pool = PoolResource::new();
    /// let (message, mut pending) =
    ///     Envelope::new_request_in(&pool, Priority::Normal, |reply: Reply<'_, u32>| reply)
    ///         .unwrap();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(pending.poll_ready(&mut cx).is_pending()); // the waker is stored
    /// message.into_payload().send(7).unwrap();
    /// assert_eq!(pending.poll_ready(&mut cx), Poll::Ready(()));
    /// assert_eq!(pending.try_take(), Some(Ok(7))); // still there
    /// ```
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Acquire: as in `try_take`, so that a later `try_take` on this thread finds
        // what this saw (it loads again anyway).
        let state = self.slot().state.load(Ordering::Acquire);
        if state & COMPLETE != 0 {
            return Poll::Ready(());
        }
        self.register(cx.waker(), state).map(|_| ())
    }

    /// Stores `waker` to be woken at completion (see "Waiting with a waker" in the
    /// module doc), or returns `Ready` with the complete word, read by an Acquire
    /// read-modify-write, if the request completes meanwhile (nothing is taken).
    ///
    /// `state` is a word this `Pending` read, without `VALUE` or `CLOSED`.
    fn register(&mut self, waker: &Waker, state: usize) -> Poll<usize> {
        let slot = self.slot();
        // Set when the cell holds a waker we take back; dropped at the end of the scope,
        // after the new one is published (its drop is user code and may panic).
        let mut _replaced = None;
        if state & WAKER != 0 {
            // SAFETY: `WAKER` is set (by this Pending, the only one to set or clear it),
            // so the cell holds our waker; the replier only reads it, and only this
            // Pending writes it, while `WAKER` is clear.
            let same = slot
                .waker
                .with(|cell| unsafe { (*cell).assume_init_ref().will_wake(waker) });
            if same {
                return Poll::Pending;
            }
            // Cloned before any change to the slot: a panicking clone leaves it as it was.
            let new = waker.clone();
            // Acquire: if the request completed, pairs with its Release (`send`'s, or
            // the `Reply` drop's) so that the value can be read. Relaxed would do for
            // the cell itself: we only touch it if the completion is later in the
            // word's order than this clear, and then the replier never reads it.
            let prev = slot.state.fetch_and(!WAKER, Ordering::Acquire);
            if prev & COMPLETE != 0 {
                // The replier saw `WAKER` and may be waking the old waker now: give the
                // bit back, leaving the cell alone, so that the free drops it. Relaxed:
                // the cell's contents were published by the Release that first set
                // `WAKER`, and our own later release (Release) orders this bit before
                // the free.
                slot.state.fetch_or(WAKER, Ordering::Relaxed);
                // `prev` was read by an Acquire read-modify-write, and is complete.
                return Poll::Ready(prev);
            }
            // SAFETY: we cleared `WAKER` before any completion (`prev` has none), so the
            // replier will see it clear and never read the cell: it is ours. It held a
            // waker (`WAKER` was set); we move it out and the new one in.
            _replaced = Some(slot.waker.with_mut(|cell| unsafe {
                mem::replace(&mut *cell, MaybeUninit::new(new)).assume_init()
            }));
        } else {
            let new = waker.clone();
            // SAFETY: `WAKER` is clear, so the cell is the Pending's alone (the replier
            // reads it only if it saw `WAKER` set when it completed) and holds nothing
            // (the free drops a waker only with `WAKER` set; a replaced one was moved
            // out).
            slot.waker.with_mut(|cell| unsafe { (*cell).write(new) });
        }
        // AcqRel. Release: publishes the waker just stored to the replier, whose Acquire
        // fence in `notify_slow` pairs with it when its completion finds `WAKER`.
        // Acquire: if the request completed first, pairs with its Release so that the
        // value can be read.
        let prev = slot.state.fetch_or(WAKER, Ordering::AcqRel);
        if prev & COMPLETE != 0 {
            // The replier completed before `WAKER` was set, so it wakes nobody: the
            // waker stays stored, with `WAKER` set, for the free to drop. `prev` was
            // read by an Acquire read-modify-write, and is complete.
            return Poll::Ready(prev);
        }
        Poll::Pending
    }

    /// Blocks the thread until the reply comes or `deadline` passes: spins briefly,
    /// then parks (no allocation). Returns what [`try_take`](Pending::try_take) would,
    /// or `None` if `deadline` passed first; the `Pending` stays usable (wait again,
    /// poll, or drop it). `None` as the deadline waits for as long as it takes: the
    /// request always completes, with [`NoReply`] if the [`Reply`] is dropped unsent.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// use zeta_arena::PoolResource;
    /// use zeta_mailbox::{Envelope, Priority, Reply};
    ///
    /// let pool = PoolResource::new();
    /// let (message, mut pending) =
    ///     Envelope::new_request_in(&pool, Priority::Normal, |reply: Reply<'_, String>| reply)
    ///         .unwrap();
    /// // Nobody answers yet: the deadline passes.
    /// let soon = Instant::now() + Duration::from_millis(1);
    /// assert_eq!(pending.wait_until(Some(soon)), None);
    ///
    /// std::thread::scope(|s| {
    ///     s.spawn(move || {
    ///         let reply = message.into_payload(); // the handler, on another thread
    ///         reply.send("pong".to_string()).unwrap();
    ///     });
    ///     assert_eq!(pending.wait_until(None), Some(Ok("pong".to_string())));
    /// });
    /// ```
    pub fn wait_until(&mut self, deadline: Option<Instant>) -> Option<Result<T, NoReply>> {
        match self.try_take() {
            Some(result) => Some(result),
            None => self.wait_slow(deadline),
        }
    }

    /// Like [`wait_until`](Pending::wait_until) without its spin: parks at once until
    /// the request completes or `deadline` passes. A caller that keeps its own schedule
    /// of checks (a doubling backoff) sleeps with it, and the reply still wakes it at
    /// once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// use zeta_arena::PoolResource;
    /// use zeta_mailbox::{Envelope, Priority, Reply};
    ///
    /// let pool = PoolResource::new();
    /// let (message, mut pending) =
    ///     Envelope::new_request_in(&pool, Priority::Normal, |reply: Reply<'_, u32>| reply)
    ///         .unwrap();
    /// let soon = Instant::now() + Duration::from_micros(50);
    /// assert_eq!(pending.sleep_until(soon), None); // nobody answered in time
    /// std::thread::scope(|s| {
    ///     s.spawn(move || message.into_payload().send(7).unwrap());
    ///     // A long span, cut short by the reply.
    ///     let later = Instant::now() + Duration::from_secs(30);
    ///     let mut answer = None;
    ///     while answer.is_none() {
    ///         answer = pending.sleep_until(later);
    ///     }
    ///     assert_eq!(answer, Some(Ok(7)));
    /// });
    /// ```
    pub fn sleep_until(&mut self, deadline: Instant) -> Option<Result<T, NoReply>> {
        match self.try_take() {
            Some(result) => Some(result),
            None => self.park_until(Some(deadline)),
        }
    }

    #[cold]
    fn wait_slow(&mut self, deadline: Option<Instant>) -> Option<Result<T, NoReply>> {
        // Replies often come within a microsecond: cheaper than a park and an unpark.
        sync::spin_until(|| self.is_ready());
        self.park_until(deadline)
    }

    /// Parks until the request completes or `deadline` passes (see "Waiting by
    /// parking"), then looks.
    fn park_until(&mut self, deadline: Option<Instant>) -> Option<Result<T, NoReply>> {
        let key = self.slot.as_ptr().addr();
        loop {
            let slot = self.slot();
            // Relaxed: `PARKED` carries no data. What matters is the order of this
            // read-modify-write and the completion's in the word's modification order
            // (see "Waiting by parking"); the value is acquired by `try_take` below.
            if slot.state.fetch_or(PARKED, Ordering::Relaxed) & COMPLETE != 0 {
                break;
            }
            // Relaxed: runs under the bucket lock that the replier's `unpark_all` takes
            // after completing; that lock orders the completion before this load if the
            // replier got the lock first (otherwise it finds this thread queued).
            let validate = || slot.state.load(Ordering::Relaxed) & COMPLETE == 0;
            // SAFETY: 1. the key is the address of this Pending's slot, live while we
            // hold the Pending (a reference), and parked on by nobody else (it is not a
            // lock or any other primitive's address). 2. `validate` is an atomic load:
            // it cannot panic and does not call `parking_lot`.
            if unsafe { sync::park(key, validate, deadline) } == Parked::TimedOut {
                break;
            }
            // Unparked (the request completed) or not parked (it did in between): the
            // next round sees it, or parks again.
        }
        self.try_take()
    }

    /// Cancels the request (the same as dropping it).
    pub fn cancel(self) {
        drop(self);
    }

    /// Gives up the asker's side without cancelling: the replier still answers (its
    /// [`Reply::is_cancelled`] stays false), and the answer is dropped with the node,
    /// unread. For a request kept for its side effect, not its answer.
    pub fn detach(self) {
        let this = ManuallyDrop::new(self);
        // SAFETY: the Pending's reference is given up once, here (Drop will not run).
        unsafe { release(this.node, this.slot) };
    }

    /// Cancels the request, and tells whether that came before any answer: `false` if
    /// a value was already in the slot (it is dropped with the node). Paired with
    /// [`Reply::send_unless_cancelled`], exactly one side learns that it came first.
    pub fn cancel_unanswered(self) -> bool {
        let this = ManuallyDrop::new(self);
        // Release: pairs with the Reply's Acquire check in `send`; the read-modify-write
        // is ordered with the Reply's `fetch_or(VALUE)` in the word's modification order.
        let prev = this.slot().state.fetch_or(CANCELLED, Ordering::Release);
        // SAFETY: the Pending's reference is given up once, here (Drop will not run).
        unsafe { release(this.node, this.slot) };
        prev & VALUE == 0
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
                ahead: UnsafeCell::new(0),
            });
            let slot = ptr::addr_of_mut!((*raw).slot);
            slot.write(Slot {
                state: AtomicUsize::new(3 * REF_ONE),
                value: UnsafeCell::new(MaybeUninit::uninit()),
                waker: UnsafeCell::new(MaybeUninit::uninit()),
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
