//! loom models of the continuation block's protocol (see the [parent module](super)):
//! the take and arm race on the envelope word, and the reference count.
//!
//! Run with `RUSTFLAGS="--cfg zeta_loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2
//! CARGO_TARGET_DIR=target/loom cargo test --release -p zeta --lib continuation`.
//!
//! The models use the real header, take, arm, waker (its `static` table, clone, wake,
//! drop), `Expiry` and release, over a block whose table is a stand-in: its `deliver`
//! frees the envelope (a real message node from a counted resource) and queues the
//! block in a loom-visible one-slot inbox, its `call` and `discard` consume the
//! contents, and its `free` returns the block to a counted resource. What every model
//! checks:
//!
//! - delivery: exactly one delivery per block, whatever the order of the takers (a
//!   reply's wake, an expiry) and of the asker's arm;
//! - the contents: consumed exactly once, by the one dispatch of the delivered block;
//!   they live in a loom cell, which `free` reads, so loom checks that the consumer's
//!   access happens before the free (the count's Release decrement and Acquire load);
//! - memory: the block and the envelope node are freed exactly once
//!   (`CountingResource::live_blocks` back to zero at the end of every iteration).
//!
//! Seen to fail with a step broken: the take as a load and a store instead of one swap
//! delivers twice (the first model fails "delivered once"; in the second, the envelope
//! node is freed twice and the allocator aborts the process); the count's decrement
//! Relaxed instead of Release lets the free race the consumer's access to the contents
//! (the second model: loom's "Causality violation" on the cell). Not covered: the
//! arm's Release (the models build the block before spawning their threads, which
//! orders the contents already; in `ask` the block is published by the arm or by the
//! request slot's own Release).

use core::alloc::Layout;
use core::any::TypeId;
use core::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};

use ::loom::cell::UnsafeCell;
use ::loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use ::loom::sync::{Arc, Mutex};
use ::loom::thread;
use zeta_arena::{CountingResource, GlobalResource, MemoryResource};
use zeta_mailbox::{Envelope, Header, Priority};

use super::{borrowed_waker, BlockHeader, BlockVTable, Expiry, TimerSlot, UNARMED};
use crate::sync::{AtomicPtr, AtomicUsize as HeaderCount};

/// The memory of the blocks and their envelopes, counted. One per `#[test]`: `cargo
/// test` runs tests in parallel.
macro_rules! counting {
    () => {{
        static RESOURCE: CountingResource<GlobalResource> = CountingResource::new(GlobalResource);
        &RESOURCE
    }};
}

/// What a model's block shares with the model.
struct Shared {
    /// The asker's inbox, one slot: the delivered block.
    inbox: Mutex<Option<usize>>,
    delivered: AtomicUsize,
    consumed: AtomicUsize,
    resource: &'static CountingResource<GlobalResource>,
}

/// The stand-in for the closure and the `Pending`.
struct Contents(Arc<Shared>);

impl Drop for Contents {
    fn drop(&mut self) {
        self.0.consumed.fetch_add(1, Relaxed);
    }
}

#[repr(C)]
struct MockBlock {
    header: BlockHeader,
    contents: UnsafeCell<Option<Contents>>,
    shared: Arc<Shared>,
}

const VTABLE: BlockVTable = BlockVTable {
    deliver,
    call,
    discard,
    free,
    actor: TypeId::of::<()>,
};

fn shared(block: NonNull<BlockHeader>) -> Arc<Shared> {
    // SAFETY: a live mock block (the caller's reference).
    unsafe { Arc::clone(&block.cast::<MockBlock>().as_ref().shared) }
}

unsafe fn deliver(block: NonNull<BlockHeader>, envelope: NonNull<Header>) {
    let shared = shared(block);
    // SAFETY: the envelope taken, ours: a `u8` node from the shared resource.
    drop(unsafe { Envelope::<'static, u8>::from_raw(envelope) });
    shared.delivered.fetch_add(1, Relaxed);
    let previous = shared
        .inbox
        .lock()
        .unwrap()
        .replace(block.as_ptr() as usize);
    assert!(previous.is_none(), "delivered once");
}

/// Consumes the contents, then gives up the payload's reference.
unsafe fn consume(block: NonNull<BlockHeader>) {
    // SAFETY: the payload's contents are ours (the caller's duty); the block is live.
    let contents = unsafe {
        block
            .cast::<MockBlock>()
            .as_ref()
            .contents
            .with_mut(|contents| (*contents).take())
    };
    assert!(contents.is_some(), "consumed once");
    drop(contents);
    // SAFETY: the payload's reference, given up once.
    unsafe { super::release(block) };
}

unsafe fn call(block: NonNull<BlockHeader>, _actor: *mut (), _ctx: *mut ()) {
    // SAFETY: passed on.
    unsafe { consume(block) }
}

unsafe fn discard(block: NonNull<BlockHeader>) {
    // SAFETY: passed on.
    unsafe { consume(block) }
}

unsafe fn free(block: NonNull<BlockHeader>) {
    let mock = block.cast::<MockBlock>();
    // SAFETY: the last reference is gone: the block is ours. The read of the contents
    // is the check: it must happen after the consumer's write.
    unsafe {
        mock.as_ref()
            .contents
            .with(|contents| assert!((*contents).is_none(), "consumed before the free"));
        let resource = mock.as_ref().shared.resource;
        ptr::drop_in_place(mock.as_ptr());
        resource.deallocate(block.cast(), Layout::new::<MockBlock>());
    }
}

/// A block with its envelope in hand (not armed), `refs` references: the payload's
/// and the caller's others.
fn build(
    resource: &'static CountingResource<GlobalResource>,
    refs: usize,
) -> (NonNull<BlockHeader>, NonNull<Header>, Arc<Shared>) {
    assert_eq!(
        resource.live_blocks(),
        0,
        "the last iteration freed everything"
    );
    let shared = Arc::new(Shared {
        inbox: Mutex::new(None),
        delivered: AtomicUsize::new(0),
        consumed: AtomicUsize::new(0),
        resource,
    });
    let block = resource
        .allocate(Layout::new::<MockBlock>())
        .unwrap()
        .cast::<MockBlock>();
    // SAFETY: fresh, sized and aligned for a `MockBlock`.
    unsafe {
        block.as_ptr().write(MockBlock {
            header: BlockHeader {
                refs: HeaderCount::new(refs),
                envelope: AtomicPtr::new(UNARMED),
                vtable: &VTABLE,
                asker: NonNull::dangling(),
                timer: TimerSlot::new(false),
            },
            contents: UnsafeCell::new(Some(Contents(Arc::clone(&shared)))),
            shared: Arc::clone(&shared),
        })
    };
    let envelope = Envelope::new_in(resource, Priority::Normal, 0u8)
        .unwrap()
        .into_raw();
    (block.cast(), envelope, shared)
}

/// Dispatches the delivered block if it is in the inbox.
fn dispatch(shared: &Shared) -> bool {
    let Some(block) = shared.inbox.lock().unwrap().take() else {
        return false;
    };
    // SAFETY: a delivered block: its payload's contents and reference are ours.
    unsafe {
        call(
            NonNull::new_unchecked(block as *mut BlockHeader),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    true
}

/// A waker on the block with a reference of its own.
fn waker(block: NonNull<BlockHeader>) -> core::task::Waker {
    // SAFETY: the caller holds the payload's reference while the borrowed waker is
    // used; the clone has its own.
    let borrowed = unsafe { borrowed_waker(block) };
    (*borrowed).clone()
}

fn explore(name: &str, model: impl Fn() + Sync + Send + 'static) {
    let executions = std::sync::Arc::new(StdAtomicUsize::new(0));
    let counter = executions.clone();
    let start = std::time::Instant::now();
    ::loom::model(move || {
        counter.fetch_add(1, StdOrdering::Relaxed);
        model();
    });
    eprintln!(
        "loom model {name}: {} executions in {:.2?}",
        executions.load(StdOrdering::Relaxed),
        start.elapsed()
    );
}

/// The asker arms late (the `Reply` escaped `make`), racing a reply's wake and an
/// expiry: one of the three delivers, once.
#[test]
fn arm_racing_a_wake_and_an_expiry() {
    explore("arm racing a wake and an expiry", || {
        let resource = counting!();
        let (block, envelope, shared) = build(resource, 1);
        let waker = waker(block);
        // SAFETY: the payload's reference (ours) keeps the block alive.
        unsafe { block.as_ref() }.acquire();
        let expiry = Expiry(block);
        let replier = thread::spawn(move || waker.wake());
        let timer = thread::spawn(move || {
            let _ = expiry.expire();
        });
        // SAFETY: the envelope is ours; the payload (inside it, for the real block)
        // keeps the block alive until dispatched.
        let header = unsafe { block.as_ref() };
        if let Err(envelope) = header.arm(envelope) {
            // SAFETY: never armed: ours to deliver.
            unsafe { (header.vtable.deliver)(block, envelope) };
        }
        replier.join().unwrap();
        timer.join().unwrap();
        assert_eq!(shared.delivered.load(Relaxed), 1, "delivered once");
        assert!(dispatch(&shared));
        assert_eq!(shared.consumed.load(Relaxed), 1);
        drop(shared);
        assert_eq!(resource.live_blocks(), 0, "block and envelope freed");
    });
}

/// An armed block: a wake and an expiry race, and the dispatch of whichever delivered
/// races the waker's last drop, so the free can fall on any of the three threads.
#[test]
fn wake_racing_an_expiry_and_the_dispatch() {
    explore("wake racing an expiry and the dispatch", || {
        let resource = counting!();
        let (block, envelope, shared) = build(resource, 1);
        let waker = waker(block);
        // SAFETY: as above.
        let header = unsafe { block.as_ref() };
        header.acquire();
        let expiry = Expiry(block);
        assert!(header.arm(envelope).is_ok());
        // From here the model touches the block only through its handles.
        let replier = thread::spawn(move || waker.wake());
        let dispatcher = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || dispatch(&shared))
        };
        let _ = expiry.expire();
        replier.join().unwrap();
        let dispatched = dispatcher.join().unwrap();
        assert_eq!(shared.delivered.load(Relaxed), 1, "delivered once");
        assert!(dispatched || dispatch(&shared));
        assert_eq!(shared.consumed.load(Relaxed), 1);
        drop(shared);
        assert_eq!(resource.live_blocks(), 0, "block and envelope freed");
    });
}

/// The timeout's timer slot (parent module, "The timeout's timer"): the asker hands the
/// timer over while the contents are consumed on another thread (a `discard` after the
/// asker was killed). Exactly one of the two cancels the timer, once. Seen to fail
/// ("cancelled once": none, or two) with `hand` made a load and a store instead of one
/// swap.
#[test]
fn a_timer_handed_over_racing_the_consumer() {
    // A distinct address for the entry (never dereferenced by the slot).
    let storage = Box::leak(Box::new(core::mem::MaybeUninit::<
        zeta_scheduler::TimerHeader,
    >::uninit()));
    let entry = NonNull::from(storage).cast::<zeta_scheduler::TimerHeader>();
    let address = entry.as_ptr() as usize;
    loom::model(move || {
        let slot = Arc::new(TimerSlot::new(true));
        let cancelled = Arc::new(AtomicUsize::new(0));
        let consumer = {
            let (slot, cancelled) = (slot.clone(), cancelled.clone());
            thread::spawn(move || {
                slot.settle(|seen| {
                    assert_eq!(seen.as_ptr() as usize, address, "the entry handed over");
                    cancelled.fetch_add(1, Relaxed);
                })
            })
        };
        // SAFETY: the leaked storage's address: non-null.
        let entry = unsafe { NonNull::new_unchecked(address as *mut zeta_scheduler::TimerHeader) };
        slot.hand(entry, |_| {
            cancelled.fetch_add(1, Relaxed);
        });
        consumer.join().unwrap();
        assert_eq!(cancelled.load(Relaxed), 1, "cancelled once");
    });
}
