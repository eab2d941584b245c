//! Continuations: an actor asks another, and the answer comes back as a message to the
//! asker, handled by a closure given `&mut` the actor, its [`Context`] and the result
//! ([`Context::ask`]). No actor polls a future by hand.
//!
//! # The block
//!
//! `ctx.ask(&target, make, continuation)` makes three allocations, all from memory
//! resources, and nothing else is allocated until the continuation has run:
//!
//! - the request node, from the *target's* memory, as for [`Address::ask`] (the message
//!   `make` builds around its [`Reply`], and the reply slot);
//! - the *block*, from the *asker's* memory through its `Shelter` (so it holds a weak
//!   reference: the asker's cell memory and resource outlive it);
//! - the *envelope*: a message node of the asker's inbox, from the asker's memory,
//!   whose payload is `Mail::Continue`, one word pointing at the block. It is made now
//!   so that the reply's arrival allocates nothing and cannot fail for lack of memory.
//!
//! ```text
//! #[repr(C)] Block<A, T, K>                    from the asker's memory (its Shelter)
//! +-------------------------------------+
//! | BlockHeader                         |
//! |   refs: AtomicUsize                 |  the envelope's payload (1), each waker
//! |                                     |  clone, an Expiry handle
//! |   envelope: AtomicPtr<Header>       |  UNARMED (null) / the envelope / FIRED
//! |   vtable: &'static BlockVTable      |  deliver, call, discard, free for A, T, K
//! |   asker: NonNull<JobHeader>         |  the asker's cell; a strong reference that
//! |                                     |  goes with the envelope (below)
//! |   timer: AtomicPtr<TimerHeader>     |  the timeout's timer, if any (below)
//! | pending: Pending<'static, T>        |  the request's asker side
//! | continuation: K                     |  the user's closure, inline
//! +-------------------------------------+
//! ```
//!
//! 56 bytes before `K` on a 64-bit target. The asker's memory is a `PoolResource` by
//! default, whose largest size class is 4,096 bytes aligned to at most 64
//! (`zeta_arena::pool::MAX_BLOCK`): a continuation whose captures take up to **4,040
//! bytes** (4,032 if they need an alignment of 32 or 64) is served by the pool, and a
//! request makes no global allocation in a steady state. Larger captures go to the
//! pool's upstream resource, the global allocator by default, one allocation per
//! request (box the large part yourself to make that explicit). With another resource
//! (an arena, `GlobalResource`), the block comes from it, like every message node.
//!
//! # The protocol
//!
//! The block registers a waker of its own on the request's `Pending` (`poll_ready`:
//! the slot stores a clone, one reference on the block). Its `wake` does not allocate:
//! it *takes* the envelope and pushes it into the asker's inbox, scheduling the asker
//! as any send does. The asker's runner dispatches `Mail::Continue` like any message:
//! it takes the result from the `Pending` and calls the closure.
//!
//! One atomic word decides who delivers the envelope, `BlockHeader::envelope`:
//!
//! | state     | meaning                                                        |
//! |-----------|----------------------------------------------------------------|
//! | `UNARMED` | the block is being built: the asker holds the envelope          |
//! | envelope  | armed: the envelope waits for the first taker                   |
//! | `FIRED`   | taken (or a taker came while unarmed): nothing more to deliver  |
//!
//! - *Take* (the waker's `wake`, [`Expiry::expire`]): `swap(FIRED)`. Finding the
//!   envelope, the taker delivers it; finding `UNARMED` or `FIRED`, it does nothing.
//! - *Arm* (the asker, once, after the request is pushed to the target):
//!   `compare_exchange(UNARMED, envelope)`. Failing means a taker came first (the
//!   [`Reply`] escaped `make` and was completed at once): the asker delivers the
//!   envelope itself. If the request completed before the waker could be registered,
//!   the asker delivers it itself without arming.
//!
//! So the envelope is delivered **exactly once**: by the one swap that finds it armed,
//! or by the asker when the envelope was never armed. The waker is woken once by the
//! request's completion; an expiry is a second taker, and whichever of the two swaps
//! first delivers. Whoever holds the envelope (the asker while building, the slot while
//! armed, the taker) also holds the block's strong reference on the asker, and gives it
//! up after pushing: a pending continuation keeps the asker alive, as an actor waker
//! does, and a continuation queued in the asker's own inbox does not.
//!
//! The closure and the `Pending` (the block's *contents*) belong to the envelope's
//! payload, the `ContinuationRef`: the asker's runner consumes them at dispatch
//! (`call`), and a payload dropped undelivered (the asker has stopped, was killed, or
//! its scheduler has stopped: the push is refused, or the queued envelope is dropped at
//! its end) drops them without calling the closure (`discard`). Either way the
//! `Pending` goes, so the request node can be freed, which drops the stored waker. The
//! block's memory goes back when its last reference does (the payload's, given up
//! after the contents, the waker's, an `Expiry`'s): Release decrement, Acquire load,
//! then `free` returns it through the asker's shelter.
//!
//! The result is decided at dispatch: the value or the request's error if the request
//! has completed, else (only after an expiry) [`RequestError::Timeout`], after
//! cancelling the request with `Pending::cancel_unanswered` (the replier then sees
//! `Reply::is_cancelled`, and a value sent after that is dropped with the node).
//!
//! The loom model (`continuation::loom`, `--cfg zeta_loom`) checks the take and arm
//! race with the reference count: a reply's wake, an expiry and a late arm, the block
//! freed once and after every use, the contents consumed once.
//!
//! # The timeout's timer
//!
//! [`Context::ask_timeout`] arms a timer whose entry holds an [`Expiry`]. So that the
//! entry (and the block it keeps) goes as soon as the continuation is consumed, not at
//! the deadline, the block keeps the timer's handle in `timer`, a word with three
//! states: `NO_TIMER`, the entry, `SETTLED`. Two parties, one swap each:
//!
//! - the asker, once the timer is armed (in the handler that asked), `swap(entry)`:
//!   finding `SETTLED`, the contents are consumed already, and it cancels the timer
//!   itself;
//! - whoever consumes the contents (`call` at dispatch, `discard` when dropped
//!   undelivered, on any thread), first `swap(SETTLED)`: finding an entry, it cancels
//!   that timer (the expiry in it is dropped; a timer that fired already is left be).
//!   A block made without an expiry starts `SETTLED`, and its consumer only loads the
//!   word: a continuation without a timeout pays no atomic operation for this.
//!
//! The two swaps are ordered on the one word, so exactly one party finds the other's
//! value and cancels, and the handle's reference is given up once. AcqRel: the entry's
//! pointer is published to the consumer, and a consumer's `SETTLED` to the asker.
//!
//! # Orderings
//!
//! - Arming is a Release (the contents written before it are published to the taker
//!   that finds the envelope); the take is AcqRel: Acquire pairs with the arming
//!   Release, and Release publishes, to an asker whose arm then fails (Acquire on
//!   failure), what the taker did before (the completion of the request it was woken
//!   for), so that the asker's delivery, and the dispatch after it, see the result.
//! - The count is `Arc`'s: Relaxed increment (made while another reference keeps the
//!   block alive) with an overflow abort, Release decrement, Acquire load by the last.

#[cfg(all(test, zeta_loom))]
mod loom;

use core::alloc::Layout;
use core::any::TypeId;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ptr::{self, NonNull};
use core::task::{Context as TaskContext, RawWaker, RawWakerVTable, Waker};

use zeta_arena::MemoryResource;
use zeta_mailbox::{Envelope, Header, Pending, Priority};
use zeta_scheduler::{JobHeader, TimerHeader};

use crate::actor::Actor;
use crate::address::Address;
use crate::cell::{Mail, Shelter};
use crate::context::Context;
use crate::error::{AskError, RequestError, SendError};
use crate::future::{map_result, Reply};
use crate::sync::{AtomicPtr, AtomicUsize, Ordering};

/// What every step of the protocol touches, whatever the block's types.
#[repr(C)]
pub(crate) struct BlockHeader {
    /// The envelope's payload, each waker clone, an `Expiry`.
    refs: AtomicUsize,
    /// `UNARMED`, the envelope (armed), or `FIRED` (see the module doc).
    envelope: AtomicPtr<Header>,
    vtable: &'static BlockVTable,
    /// The asker's cell. Its strong reference goes with the envelope (module doc), and
    /// the pointer stays valid for `free` through the block's weak reference.
    asker: NonNull<JobHeader>,
    /// The timeout's timer (`Context::ask_timeout`): see "The timeout's timer" in the
    /// module doc.
    timer: TimerSlot,
}

/// The word of "The timeout's timer" (module doc): `NO_TIMER`, an entry (its handle's
/// reference, handed to the block), or `SETTLED`.
pub(crate) struct TimerSlot(AtomicPtr<TimerHeader>);

impl TimerSlot {
    /// A slot for a block with an expiry (`timed`) or without one (settled from the
    /// start: nothing will be handed over).
    pub(crate) fn new(timed: bool) -> Self {
        Self(AtomicPtr::new(if timed { NO_TIMER } else { settled() }))
    }

    /// The consumer's half: marks the slot settled, and gives `cancel` the entry handed
    /// over before, if any.
    #[inline]
    pub(crate) fn settle(&self, cancel: impl FnOnce(NonNull<TimerHeader>)) {
        // An untimed block starts `SETTLED` and is never changed: one plain load, no
        // swap, for every continuation without a timeout. A timed block starts
        // `NO_TIMER`, which only its one consumer changes to `SETTLED`. Relaxed: the
        // value is immutable for untimed blocks; a timed one is decided by the swap.
        if self.0.load(Ordering::Relaxed) == settled() {
            return;
        }
        // AcqRel: Acquire to own an entry handed over (published by `hand`'s Release),
        // Release so that `hand` finding `SETTLED` sees the consumer done.
        let previous = self.0.swap(settled(), Ordering::AcqRel);
        if previous != NO_TIMER && previous != settled() {
            // SAFETY: neither sentinel: an entry `hand` stored.
            cancel(unsafe { NonNull::new_unchecked(previous) });
        }
    }

    /// The asker's half: hands over `entry`; if the slot is settled already, gives it
    /// to `cancel` instead (nobody else will).
    #[inline]
    pub(crate) fn hand(
        &self,
        entry: NonNull<TimerHeader>,
        cancel: impl FnOnce(NonNull<TimerHeader>),
    ) {
        // AcqRel: as in `settle`.
        let previous = self.0.swap(entry.as_ptr(), Ordering::AcqRel);
        debug_assert!(
            previous == NO_TIMER || previous == settled(),
            "handed twice"
        );
        if previous == settled() {
            // The consumer came first and will not look again: cancel here. (Nobody
            // reads the slot after both halves, so the entry left in it is never used.)
            cancel(entry);
        }
    }
}

/// The block's operations for one asker type `A`, reply type `T` and closure `K`.
pub(crate) struct BlockVTable {
    /// Pushes the envelope into the asker's inbox and gives up the strong reference on
    /// the asker (the envelope's holder's).
    deliver: unsafe fn(NonNull<BlockHeader>, NonNull<Header>),
    /// Runs the continuation with the actor and its context (erased: `*mut A`,
    /// `*mut Context<'_, A>`), and gives up the payload's reference.
    call: unsafe fn(NonNull<BlockHeader>, *mut (), *mut ()),
    /// Drops the contents without calling them, and gives up the payload's reference.
    discard: unsafe fn(NonNull<BlockHeader>),
    /// Returns the block's memory (the last reference is gone).
    free: unsafe fn(NonNull<BlockHeader>),
    /// The asker's type, checked in debug builds at dispatch.
    actor: fn() -> TypeId,
}

/// The envelope is with the asker, who is building the block.
const UNARMED: *mut Header = ptr::null_mut();

/// No timer has been handed to the block (yet).
const NO_TIMER: *mut TimerHeader = ptr::null_mut();

/// The contents have been consumed: a timer handed over now is cancelled by its giver.
/// A dangling, aligned address that no entry has.
#[inline(always)]
fn settled() -> *mut TimerHeader {
    NonNull::<TimerHeader>::dangling().as_ptr()
}

/// The consumer's half of "The timeout's timer", for an `A` asker's block.
///
/// # Safety
///
/// The caller consumes `block`'s contents (it holds the payload's reference), and the
/// block's asker is an `A`.
#[inline]
unsafe fn settle_timer<A: Actor>(block: NonNull<BlockHeader>) {
    // SAFETY: the caller's reference keeps the block alive.
    let header = unsafe { block.as_ref() };
    header.timer.settle(|entry| {
        // SAFETY: an entry handed over by `BlockTimer::hand`, with its handle's
        // reference, which the block owned and gives up here, once; its target is the
        // asker, an `A` (the caller's duty).
        unsafe { crate::time::cancel_handed::<A>(entry) }
    });
}

/// The envelope has been taken (or a taker came before it was armed). Never a node's
/// address: a node is a live allocation, and this is a dangling, aligned address that
/// no allocation has (the address of a zero-sized `Header`).
#[inline(always)]
fn fired() -> *mut Header {
    NonNull::<Header>::dangling().as_ptr()
}

impl BlockHeader {
    /// Takes the envelope if it is armed: `Some` at most once over the block's life,
    /// and never if `arm` failed (the asker delivered it then).
    #[inline]
    fn take(&self) -> Option<NonNull<Header>> {
        // AcqRel: Acquire pairs with the Release of `arm`, so that the envelope's and
        // the block's contents are ours to hand on; Release publishes what we did
        // before (the request's completion) to an asker whose `arm` reads our `FIRED`.
        let previous = self.envelope.swap(fired(), Ordering::AcqRel);
        if previous == UNARMED || previous == fired() {
            return None;
        }
        // SAFETY: neither sentinel, so the envelope `arm` stored: non-null.
        Some(unsafe { NonNull::new_unchecked(previous) })
    }

    /// Arms the block with its envelope. `Err` with the envelope if a taker came first:
    /// the caller delivers it.
    #[inline]
    fn arm(&self, envelope: NonNull<Header>) -> Result<(), NonNull<Header>> {
        // Release on success: publishes the block's contents and the envelope to the
        // taker's Acquire swap. Acquire on failure: pairs with the taker's Release
        // swap, so that what it saw (the request complete) is seen by our delivery.
        match self.envelope.compare_exchange(
            UNARMED,
            envelope.as_ptr(),
            Ordering::Release,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(()),
            Err(_) => Err(envelope),
        }
    }

    /// A new reference, made while the caller's keeps the block alive.
    #[inline]
    fn acquire(&self) {
        // Relaxed: as `Arc::clone`; the caller's reference keeps the block alive, and
        // nothing is published by the increment.
        let old = self.refs.fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            std::process::abort();
        }
    }
}

/// Gives up one reference on the block; the last one frees it.
///
/// # Safety
///
/// The caller holds a reference on the live block `block` and gives it up; it does not
/// touch the block afterwards.
#[inline]
unsafe fn release(block: NonNull<BlockHeader>) {
    // SAFETY: our reference keeps the block alive until the decrement.
    let header = unsafe { block.as_ref() };
    let free = header.vtable.free;
    // Release: this holder's uses of the block happen before the free.
    if header.refs.fetch_sub(1, Ordering::Release) != 1 {
        return;
    }
    // Acquire: reads the zero this decrement wrote, the end of every holder's release
    // sequence, so every other holder's uses happen before the free (a load rather than
    // a fence, so that ThreadSanitizer sees the edge, as for the cell's weak count).
    let _ = header.refs.load(Ordering::Acquire);
    // SAFETY: the last reference is gone: nobody else can reach the block.
    unsafe { free(block) }
}

/// Gives up a reference when dropped, also on unwind.
struct Releasing(NonNull<BlockHeader>);

impl Drop for Releasing {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: made only for a reference its maker owns and hands over; given up
        // once, here.
        unsafe { release(self.0) }
    }
}

/// Takes the envelope if it is armed and delivers it.
///
/// # Safety
///
/// The caller holds a reference on the live block for the whole call.
unsafe fn fire(block: NonNull<BlockHeader>) -> bool {
    // SAFETY: the caller's reference keeps the block alive.
    let header = unsafe { block.as_ref() };
    match header.take() {
        Some(envelope) => {
            // SAFETY: the taken envelope (and the strong reference with it) is ours,
            // handed on once; the caller's reference keeps the block alive meanwhile.
            unsafe { (header.vtable.deliver)(block, envelope) };
            true
        }
        None => false,
    }
}

/// The block's waker: one `static` table for every block type (its functions go
/// through the block's own table), so every block waker has the same table address.
static WAKER: RawWakerVTable = RawWakerVTable::new(clone_waker, wake, wake_by_ref, drop_waker);

unsafe fn clone_waker(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a live block waker's, whose reference keeps the block alive.
    unsafe { (*data.cast::<BlockHeader>()).acquire() };
    RawWaker::new(data, &WAKER)
}

unsafe fn wake(data: *const ()) {
    // The waker's reference, given up after the wake (also if it unwinds).
    // SAFETY: `data` is a live block waker's, consumed: its reference is ours.
    let _release = Releasing(unsafe { NonNull::new_unchecked(data as *mut BlockHeader) });
    // SAFETY: as above.
    unsafe { wake_by_ref(data) };
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: `data` is a live block waker's, whose reference is held for the call.
    let _ = unsafe { fire(NonNull::new_unchecked(data as *mut BlockHeader)) };
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: `data` is a live block waker's, dropped: its reference is given up once.
    unsafe { release(NonNull::new_unchecked(data as *mut BlockHeader)) };
}

/// A waker on `block` that stands on a reference it does not hold (never dropped).
///
/// # Safety
///
/// The caller holds a reference on the live block while the waker is used.
unsafe fn borrowed_waker(block: NonNull<BlockHeader>) -> ManuallyDrop<Waker> {
    let raw = RawWaker::new(block.as_ptr().cast_const().cast(), &WAKER);
    // SAFETY: the table's functions uphold `RawWaker`'s contract for a live block
    // pointer with a reference (the caller's duty while it is used); `clone` makes a
    // waker with a reference of its own; the `ManuallyDrop` keeps this one from giving
    // up one it does not hold.
    ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
}

/// The handle a timer keeps to fire a continuation's expiry: one reference on the
/// block. See [`Expiry::expire`].
pub(crate) struct Expiry(NonNull<BlockHeader>);

// SAFETY: the handle's operations are the block's atomic take and count, and a delivery
// that pushes a `Send` envelope into an actor's inbox (any thread may); the block's
// contents (`T: Send`, `K: Send`) are not touched through it.
unsafe impl Send for Expiry {}
// SAFETY: `&Expiry` gives access to nothing.
unsafe impl Sync for Expiry {}

impl Expiry {
    /// The deadline has passed: delivers the continuation now, unless the reply's wake
    /// (or an earlier expiry) delivered it already. Exactly once against the reply: one
    /// of the two finds the envelope armed. The continuation, dispatched, runs with the
    /// reply if it has come by then, otherwise with [`RequestError::Timeout`] after
    /// cancelling the request. `true` if this call delivered it.
    ///
    /// Call it from any thread (a timer's, a worker's): it pushes a message and may
    /// schedule the asker like a send, and allocates nothing. It may run user code as a
    /// send does: if the asker has stopped, the continuation is dropped here.
    pub(crate) fn expire(self) -> bool {
        let this = ManuallyDrop::new(self);
        // The handle's reference, given up after the delivery (also if it unwinds).
        let _release = Releasing(this.0);
        // SAFETY: the handle's reference keeps the block alive for the call.
        unsafe { fire(this.0) }
    }

    /// A handle on the same block, to hand it the timer that will own this expiry
    /// ([`BlockTimer::hand`]).
    pub(crate) fn block_timer(&self) -> BlockTimer {
        // SAFETY: the handle's reference keeps the block alive while we take another.
        unsafe { self.0.as_ref() }.acquire();
        BlockTimer(self.0)
    }

    /// Whether the continuation has been delivered (or is being): an expiry would now
    /// do nothing. A snapshot, for a timer that sweeps settled entries early.
    #[cfg_attr(any(not(test), zeta_loom), allow(dead_code))]
    pub(crate) fn is_settled(&self) -> bool {
        // SAFETY: the handle's reference keeps the block alive.
        let header = unsafe { self.0.as_ref() };
        // Relaxed: a hint; `expire` decides with its swap.
        header.envelope.load(Ordering::Relaxed) == fired()
    }
}

impl Drop for Expiry {
    fn drop(&mut self) {
        // SAFETY: the handle's reference, given up once.
        unsafe { release(self.0) }
    }
}

/// The asker's half of "The timeout's timer": one reference on the block, to hand it
/// the timer's handle once the timer is armed.
pub(crate) struct BlockTimer(NonNull<BlockHeader>);

impl BlockTimer {
    /// Hands the block the timer's handle reference (`entry`, an `A` asker's timer):
    /// the block cancels it when its contents are consumed. If they are already, the
    /// timer is cancelled here.
    ///
    /// # Safety
    ///
    /// `entry` carries a timer handle's reference (its `Timer` forgotten), for an entry
    /// whose target is the block's asker, an `A`.
    pub(crate) unsafe fn hand<A: Actor>(self, entry: NonNull<TimerHeader>) {
        let this = ManuallyDrop::new(self);
        let _release = Releasing(this.0);
        // SAFETY: our reference keeps the block alive.
        let header = unsafe { this.0.as_ref() };
        header.timer.hand(entry, |entry| {
            // SAFETY: the handle's reference, ours (the caller's duty), given up once:
            // the contents were consumed already, so nobody will take it from the block.
            unsafe { crate::time::cancel_handed::<A>(entry) }
        });
    }
}

impl Drop for BlockTimer {
    fn drop(&mut self) {
        // SAFETY: our reference, given up once.
        unsafe { release(self.0) }
    }
}

/// `Mail::Continue`'s payload: the block, and its contents to consume (one word).
pub(crate) struct ContinuationRef(NonNull<BlockHeader>);

// SAFETY: made only for blocks whose contents are `Send` (`Pending<T>` with `T: Send`,
// `K: Send`); the envelope carrying it moves the contents' ownership to the thread that
// dispatches or drops it, and the block's shared parts are atomic.
unsafe impl Send for ContinuationRef {}

impl ContinuationRef {
    /// Runs the continuation (dispatch), consuming the contents; a panic in it unwinds
    /// to the caller, as a handler's does, after the contents are dropped.
    #[inline]
    pub(crate) fn run<A: Actor>(self, actor: &mut A, ctx: &mut Context<'_, A>) {
        let this = ManuallyDrop::new(self);
        // SAFETY: the payload's reference keeps the block alive.
        let vtable = unsafe { this.0.as_ref() }.vtable;
        // The envelope is delivered only to the inbox of the actor that asked, through
        // its own cell (`deliver::<A>`): the block is an `A` asker's.
        debug_assert!((vtable.actor)() == TypeId::of::<A>());
        // SAFETY: the contents are ours (the payload, consumed: Drop will not run), the
        // block was made for this `A` (above), and the pointers are valid for the call.
        unsafe {
            (vtable.call)(
                this.0,
                (actor as *mut A).cast(),
                (ctx as *mut Context<'_, A>).cast(),
            )
        }
    }
}

impl Drop for ContinuationRef {
    fn drop(&mut self) {
        // SAFETY: the payload's reference keeps the block alive; the contents are ours
        // and are dropped once, here (dropped undelivered or unhandled).
        unsafe { (self.0.as_ref().vtable.discard)(self.0) }
    }
}

/// The whole block for an asker `A`, reply type `T` and continuation `K`.
#[repr(C)]
struct Block<A: Actor, T, K> {
    header: BlockHeader,
    pending: ManuallyDrop<Pending<'static, T>>,
    continuation: ManuallyDrop<K>,
    _actor: PhantomData<fn(A)>,
}

struct VTableFor<A, T, K>(PhantomData<(A, T, K)>);

impl<A, T, K> VTableFor<A, T, K>
where
    A: Actor,
    T: Send + 'static,
    K: FnOnce(&mut A, &mut Context<'_, A>, Result<T, RequestError>) + Send + 'static,
{
    const VTABLE: BlockVTable = BlockVTable {
        deliver: deliver::<A>,
        call: call::<A, T, K>,
        discard: discard::<A, T, K>,
        free: free::<A, T, K>,
        actor: TypeId::of::<A>,
    };
}

/// # Safety
///
/// `block` is a live block of an `A` asker, kept alive by a reference of the caller's;
/// `envelope` is its envelope (a node of `Cell<A>`'s inbox carrying `Mail::Continue`),
/// owned by the caller with the strong reference on the asker, both given up here.
unsafe fn deliver<A: Actor>(block: NonNull<BlockHeader>, envelope: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the block alive; `asker` is immutable.
    let asker = unsafe { block.as_ref() }.asker;
    // SAFETY: the caller owns the strong reference, a `Cell<A>`'s (the asker's own
    // job, cloned at build).
    let address = unsafe { Address::<A>::from_job(zeta_scheduler::JobRef::from_raw(asker)) };
    // SAFETY: the caller's duty: a node of the asker's inbox type, owned by the caller.
    let envelope = unsafe { Envelope::<'static, Mail<A::Message>>::from_raw(envelope) };
    // Refused (the asker has stopped, or its scheduler has): the continuation is
    // dropped uncalled, its contents with it.
    if let Err((mail, _)) = address.push(envelope) {
        drop(mail);
    }
}

/// Moves the contents out of the block.
///
/// # Safety
///
/// `block` is a live `Block<A, T, K>` whose contents are initialised and owned by the
/// caller; they are read once.
unsafe fn take_contents<A: Actor, T, K>(block: NonNull<BlockHeader>) -> (Pending<'static, T>, K) {
    let block = block.cast::<Block<A, T, K>>().as_ptr();
    // SAFETY: the caller's duty; read once, never dropped in place (ManuallyDrop).
    unsafe {
        (
            ManuallyDrop::into_inner(ptr::read(ptr::addr_of!((*block).pending))),
            ManuallyDrop::into_inner(ptr::read(ptr::addr_of!((*block).continuation))),
        )
    }
}

/// The request's result at dispatch: what came, or a timeout if nothing has (only an
/// expiry delivers the continuation before the request completes).
fn settle<T>(mut pending: Pending<'static, T>) -> Result<T, RequestError> {
    match pending.try_take() {
        Some(result) => map_result(result, &pending),
        None => {
            // A reply racing this cancel is dropped with the node, as one that comes
            // after a `Future::wait_timeout` gave up would be.
            let _ = pending.cancel_unanswered();
            Err(RequestError::Timeout)
        }
    }
}

/// # Safety
///
/// `block` is a live `Block<A, T, K>` whose contents are owned by the caller (the
/// dispatched payload), given up here with the payload's reference; `actor` is a
/// `*mut A` and `ctx` a `*mut Context<'_, A>`, valid and unaliased for the call.
unsafe fn call<A, T, K>(block: NonNull<BlockHeader>, actor: *mut (), ctx: *mut ())
where
    A: Actor,
    T: Send + 'static,
    K: FnOnce(&mut A, &mut Context<'_, A>, Result<T, RequestError>) + Send + 'static,
{
    // Declared first, dropped last: the payload's reference, also on unwind.
    let _release = Releasing(block);
    // SAFETY: the contents are ours (the caller's duty); the asker is an `A`.
    unsafe { settle_timer::<A>(block) };
    // SAFETY: the caller's duty: the contents are ours.
    let (pending, continuation) = unsafe { take_contents::<A, T, K>(block) };
    // The `Pending` goes before the closure runs: the request node can be freed even if
    // the closure panics or keeps running for long.
    let result = settle(pending);
    // SAFETY: the caller's duty: valid, unaliased pointers of these types.
    let (actor, ctx) = unsafe { (&mut *actor.cast::<A>(), &mut *ctx.cast::<Context<'_, A>>()) };
    continuation(actor, ctx, result);
}

/// # Safety
///
/// `block` is a live `Block<A, T, K>` whose contents are owned by the caller (a payload
/// dropped undelivered or unhandled), given up here with the payload's reference.
unsafe fn discard<A: Actor, T, K>(block: NonNull<BlockHeader>) {
    let _release = Releasing(block);
    // SAFETY: the contents are ours (the caller's duty); the asker is an `A`.
    unsafe { settle_timer::<A>(block) };
    // SAFETY: the caller's duty. Dropped in order (the `Pending`, then the closure),
    // the second also if the first unwinds.
    drop(unsafe { take_contents::<A, T, K>(block) });
}

/// # Safety
///
/// `block` is a `Block<A, T, K>` whose last reference is gone: its contents were
/// consumed and its strong reference given up; its weak reference is ours.
unsafe fn free<A: Actor, T, K>(block: NonNull<BlockHeader>) {
    // SAFETY: the block's weak reference keeps the asker's cell memory; the asker is
    // an `A` (built by `ask::<A, ..>`); `asker` is immutable.
    let shelter = unsafe { Shelter::<A>::from_header(block.as_ref().asker) };
    // SAFETY: allocated from this shelter with this layout (`ask`); gives up the weak
    // reference the allocation took. Nothing touches the block afterwards.
    unsafe { shelter.deallocate(block.cast(), Layout::new::<Block<A, T, K>>()) };
}

/// The block's memory before it is built: returned if building stops (allocation
/// failure, or `make` unwinding).
struct Unbuilt<A: Actor> {
    shelter: &'static Shelter<A>,
    block: NonNull<u8>,
    layout: Layout,
}

impl<A: Actor> Drop for Unbuilt<A> {
    fn drop(&mut self) {
        // SAFETY: allocated from this shelter with this layout, never initialised or
        // published; returned once (the guard is forgotten once the block is built).
        unsafe { self.shelter.deallocate(self.block, self.layout) };
    }
}

/// `Context::ask` and its variants: asks `target` on behalf of `asker` (the running
/// actor), and arranges for `continuation` to run on `asker` with the result. With
/// `expiry`, also returns the handle that a timer fires.
pub(crate) fn ask<A, B, T, K>(
    asker: &Address<A>,
    target: &Address<B>,
    priority: Priority,
    make: impl FnOnce(Reply<T>) -> B::Message,
    continuation: K,
    with_expiry: bool,
) -> Result<Option<Expiry>, AskError<B::Message>>
where
    A: Actor,
    B: Actor,
    T: Send + 'static,
    K: FnOnce(&mut A, &mut Context<'_, A>, Result<T, RequestError>) + Send + 'static,
{
    let layout = Layout::new::<Block<A, T, K>>();
    // SAFETY: the asker's job is a `Cell<A>`'s. The `'static` is what the weak count
    // makes true: the block holds the weak reference its allocation takes until `free`.
    let shelter: &'static Shelter<A> = unsafe { Shelter::from_job(asker.job()) };
    let memory = Unbuilt {
        shelter,
        block: shelter
            .allocate(layout)
            .map_err(|_| AskError::OutOfMemory)?,
        layout,
    };
    let block = memory.block.cast::<Block<A, T, K>>();
    let header = block.cast::<BlockHeader>();
    // A placeholder payload until the block is built: dropped on a failure below, it
    // drops nothing of the block.
    let mut envelope = Envelope::new_in(asker.cell().home(), priority, Mail::<A::Message>::Wake)
        .map_err(|_| AskError::OutOfMemory)?;
    // SAFETY: the job is a `Cell<B>`'s; the `'static` as in `Address::ask_with`.
    let target_shelter: &'static Shelter<B> = unsafe { Shelter::from_job(target.job()) };
    let (request, mut pending) =
        Envelope::new_request_in(target_shelter, priority, |reply| Mail::User(make(reply)))
            .map_err(|_| AskError::OutOfMemory)?;
    // Everything is allocated: build the block.
    core::mem::forget(memory);
    *envelope.payload_mut() = Mail::Continue(ContinuationRef(header));
    // The envelope, and the strong reference that goes with it: ours until armed.
    let envelope = envelope.into_raw();
    let strong = asker.job().clone().into_raw();
    // SAFETY: the block is fresh, sized and aligned for a `Block<A, T, K>` (resource
    // contract), and ours alone: nothing points at it yet but the envelope we hold.
    unsafe {
        ptr::addr_of_mut!((*block.as_ptr()).header).write(BlockHeader {
            refs: AtomicUsize::new(1 + usize::from(with_expiry)),
            envelope: AtomicPtr::new(UNARMED),
            timer: TimerSlot::new(with_expiry),
            vtable: &VTableFor::<A, T, K>::VTABLE,
            asker: strong,
        });
        ptr::addr_of_mut!((*block.as_ptr()).continuation).write(ManuallyDrop::new(continuation));
    }
    // Register the block's waker before anyone else can answer (the `Reply` is in the
    // request we hold, unless `make` gave it away). The slot keeps a clone: one
    // reference. Ready: completed already (by `make`, or by whoever it gave the `Reply`
    // to), nothing registered: we deliver ourselves below.
    let completed = {
        // SAFETY: the envelope's payload (we hold it) holds a reference on the live
        // block while the waker is used; it is not dropped.
        let waker = unsafe { borrowed_waker(header) };
        pending
            .poll_ready(&mut TaskContext::from_waker(&waker))
            .is_ready()
    };
    // SAFETY: as above: still ours alone (a taker finds `UNARMED` and does nothing).
    unsafe { ptr::addr_of_mut!((*block.as_ptr()).pending).write(ManuallyDrop::new(pending)) };
    let expiry = with_expiry.then(|| Expiry(header));
    // Until armed or delivered, the envelope and the strong reference are ours: given
    // up by the guard if the push unwinds (a refusing scheduler's or a dropped
    // payload's panic) or is refused.
    let unarmed = Unarmed::<A> {
        envelope,
        strong,
        _actor: PhantomData,
    };
    match target.push(request) {
        Ok(()) => {
            let envelope = ManuallyDrop::new(unarmed).envelope;
            // SAFETY: we hold the envelope, hence the payload's reference: the block is
            // live; after a successful arm we touch it no more.
            let header_ref = unsafe { header.as_ref() };
            let deliver_now = if completed {
                Err(envelope)
            } else {
                header_ref.arm(envelope)
            };
            if let Err(envelope) = deliver_now {
                // SAFETY: never armed: the envelope and the strong reference are ours,
                // handed on once; the payload inside it keeps the block alive.
                unsafe { (header_ref.vtable.deliver)(header, envelope) };
            }
            Ok(expiry)
        }
        Err((mail, reason)) => {
            // The target is gone: the continuation is dropped uncalled (never armed,
            // so no taker delivers it), and the message comes back.
            drop(unarmed);
            drop(expiry);
            Err(AskError::Undelivered(SendError::new(user(mail), reason)))
        }
    }
}

/// The envelope and the strong reference of a block not armed: dropped, they drop the
/// contents (through the payload) and give up the reference.
struct Unarmed<A: Actor> {
    envelope: NonNull<Header>,
    strong: NonNull<JobHeader>,
    _actor: PhantomData<fn(A)>,
}

impl<A: Actor> Drop for Unarmed<A> {
    fn drop(&mut self) {
        // SAFETY: the envelope is ours (never armed, so no taker has it), a node of the
        // asker's inbox type; dropping it drops the contents through its payload.
        drop(unsafe { Envelope::<'static, Mail<A::Message>>::from_raw(self.envelope) });
        // SAFETY: the strong reference that goes with the envelope, a `Cell<A>`'s,
        // given up once.
        drop(unsafe { Address::<A>::from_job(zeta_scheduler::JobRef::from_raw(self.strong)) });
    }
}

/// The user message inside a `Mail` built from one.
#[inline(always)]
fn user<M>(mail: Mail<M>) -> M {
    match mail.into_user() {
        Some(message) => message,
        None => unreachable!("only user mail is given back to senders of user messages"),
    }
}

#[cfg(all(test, not(zeta_loom)))]
mod tests {
    //! The expiry hook a timer uses (`Expiry::expire`), called directly, and the
    //! layout figures the docs give.

    use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
    use std::sync::{mpsc, Arc, Mutex};

    use zeta_arena::{CountingResource, PoolResource};

    use super::{Block, Expiry};
    use crate::cell::Mail;
    use crate::error::RequestError;
    use crate::{Actor, Address, Context, ManualScheduler, Priority, Reply, System};

    /// Gives the replies it is asked for to the test.
    struct Target(mpsc::Sender<Reply<u64>>);

    impl Actor for Target {
        type Message = Reply<u64>;
        fn handle(&mut self, reply: Reply<u64>, _ctx: &mut Context<'_, Self>) {
            self.0.send(reply).unwrap();
        }
    }

    type Results = Arc<Mutex<Vec<Result<u64, RequestError>>>>;

    /// Asks the target with an expiry on each message, and gives the handle out.
    struct Asker {
        target: Address<Target>,
        expiries: mpsc::Sender<Expiry>,
        results: Results,
        drops: Arc<AtomicUsize>,
    }

    struct Tracked(Arc<AtomicUsize>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, StdOrdering::SeqCst);
        }
    }

    impl Actor for Asker {
        type Message = ();
        fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
            let tracked = Tracked(self.drops.clone());
            let expiry = ctx
                .ask_expiring(
                    Priority::Normal,
                    &self.target,
                    |reply| reply,
                    move |this: &mut Self, _ctx, result| {
                        let _keep = &tracked;
                        this.results.lock().unwrap().push(result);
                    },
                )
                .unwrap();
            self.expiries.send(expiry).unwrap();
        }
    }

    struct Setup {
        scheduler: Arc<ManualScheduler>,
        system: System<ManualScheduler>,
        memory: Arc<CountingResource<PoolResource>>,
        asker: Address<Asker>,
        replies: mpsc::Receiver<Reply<u64>>,
        expiries: mpsc::Receiver<Expiry>,
        results: Results,
        drops: Arc<AtomicUsize>,
    }

    impl Setup {
        fn new() -> Self {
            let scheduler = Arc::new(ManualScheduler::new(64).unwrap());
            let memory = Arc::new(CountingResource::new(PoolResource::new()));
            let system = System::new(scheduler.clone(), memory.clone());
            let (reply_tx, replies) = mpsc::channel();
            let (expiry_tx, expiries) = mpsc::channel();
            let target = system.spawn(Target(reply_tx)).unwrap();
            let results = Results::default();
            let drops = Arc::new(AtomicUsize::new(0));
            let asker = system
                .spawn(Asker {
                    target,
                    expiries: expiry_tx,
                    results: results.clone(),
                    drops: drops.clone(),
                })
                .unwrap();
            Self {
                scheduler,
                system,
                memory,
                asker,
                replies,
                expiries,
                results,
                drops,
            }
        }

        /// The asker asks; returns the target's reply and the expiry handle.
        fn ask(&self) -> (Reply<u64>, Expiry) {
            self.asker.send(()).unwrap();
            self.scheduler.run_until_idle().unwrap();
            (
                self.replies.try_recv().unwrap(),
                self.expiries.try_recv().unwrap(),
            )
        }

        fn run(&self) {
            self.scheduler.run_until_idle().unwrap();
        }

        fn results(&self) -> Vec<Result<u64, RequestError>> {
            self.results.lock().unwrap().clone()
        }

        fn finish(self) {
            let Self {
                scheduler,
                system,
                memory,
                asker,
                ..
            } = self;
            drop(asker);
            scheduler.run_until_idle().unwrap();
            drop(system);
            assert_eq!(memory.live_blocks(), 0, "every block back");
        }
    }

    #[test]
    fn an_expiry_before_the_answer_runs_the_continuation_with_a_timeout() {
        let setup = Setup::new();
        let (reply, expiry) = setup.ask();
        assert!(!expiry.is_settled());
        assert!(expiry.expire(), "the expiry delivers");
        setup.run();
        assert_eq!(setup.results(), [Err(RequestError::Timeout)]);
        assert!(reply.is_cancelled(), "the request is cancelled");
        assert_eq!(reply.send(1), Err(1), "a late answer is refused");
        assert_eq!(setup.results().len(), 1, "run once");
        assert_eq!(setup.drops.load(StdOrdering::SeqCst), 1);
        setup.finish();
    }

    #[test]
    fn an_expiry_after_the_answer_does_nothing() {
        let setup = Setup::new();
        let (reply, expiry) = setup.ask();
        reply.send(4).unwrap();
        assert!(expiry.is_settled());
        assert!(!expiry.expire(), "the answer delivered it");
        setup.run();
        assert_eq!(setup.results(), [Ok(4)]);
        // A timer cancelled instead: the handle is dropped.
        let (reply, expiry) = setup.ask();
        drop(expiry);
        reply.send(5).unwrap();
        setup.run();
        assert_eq!(setup.results(), [Ok(4), Ok(5)]);
        assert_eq!(setup.drops.load(StdOrdering::SeqCst), 2);
        setup.finish();
    }

    /// The result is decided at dispatch: an answer that comes after the expiry but
    /// before the continuation runs is the result.
    #[test]
    fn an_answer_after_the_expiry_but_before_the_dispatch_wins() {
        let setup = Setup::new();
        let (reply, expiry) = setup.ask();
        assert!(expiry.expire());
        reply.send(6).unwrap();
        setup.run();
        assert_eq!(setup.results(), [Ok(6)]);
        setup.finish();
    }

    #[test]
    fn an_expiry_for_an_asker_that_has_ended_drops_the_continuation() {
        let setup = Setup::new();
        let (reply, expiry) = setup.ask();
        setup.asker.stop().unwrap();
        setup.run();
        assert!(expiry.expire(), "taken, and refused by the closed inbox");
        assert_eq!(setup.drops.load(StdOrdering::SeqCst), 1, "dropped uncalled");
        assert!(setup.results().is_empty());
        assert!(reply.is_cancelled());
        drop(reply);
        setup.finish();
    }

    /// The answer and the expiry from two threads at once: the continuation is
    /// delivered once, by one of them.
    #[test]
    fn an_expiry_racing_the_answer_delivers_once() {
        const ROUNDS: u64 = 500;
        let setup = Setup::new();
        let mut by_expiry = 0;
        for round in 0..ROUNDS {
            let (reply, expiry) = setup.ask();
            let answering = std::thread::spawn(move || reply.send(round).is_ok());
            let expired = expiry.expire();
            let answered = answering.join().unwrap();
            by_expiry += u64::from(expired);
            setup.run();
            let last = setup.results().pop().unwrap();
            // Both are done before the dispatch: the answer is there unless the
            // expiry's cancel (at dispatch) came first, which it cannot here.
            assert!(answered);
            assert_eq!(last, Ok(round));
        }
        assert_eq!(setup.results().len() as u64, ROUNDS, "each delivered once");
        assert_eq!(setup.drops.load(StdOrdering::SeqCst) as u64, ROUNDS);
        println!("{by_expiry} of {ROUNDS} delivered by the expiry");
        setup.finish();
    }

    /// The figures of the module doc: 56 bytes before the continuation's captures, so
    /// that 4,040 bytes of captures fill the pool's largest class, and `Mail` is no
    /// larger than before it had `Continue` (its largest other variant: one word).
    #[test]
    fn layout() {
        use core::mem::size_of;
        type Capture<const N: usize> = [u8; N];
        assert_eq!(size_of::<Block<Asker, u64, Capture<0>>>(), 56);
        assert_eq!(
            size_of::<Block<Asker, u64, Capture<4040>>>(),
            zeta_arena::pool::MAX_BLOCK
        );
        #[repr(align(64))]
        struct Wide {
            _bytes: [u8; 64],
        }
        assert_eq!(size_of::<Block<Asker, u64, [Wide; 63]>>(), 4096);
        // As before `Mail::Continue` (measured on the parent commit).
        assert_eq!(size_of::<Mail<()>>(), 16);
        assert_eq!(size_of::<Mail<u64>>(), 16);
        assert_eq!(size_of::<Mail<[u64; 2]>>(), 24);
        assert_eq!(size_of::<Mail<String>>(), 24);
        assert_eq!(size_of::<Mail<Reply<u64>>>(), 24);
    }
}
