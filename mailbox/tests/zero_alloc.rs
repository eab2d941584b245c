//! The message path makes no global allocation in a steady state: node allocate, push,
//! take_all, dispatch or drop, through a warmed `PoolResource`, on one thread and with a
//! second producer thread.
//!
//! The counting allocator counts per thread (a const-initialised thread local, which
//! never allocates itself), so tests running in parallel in this binary cannot pollute
//! each other's counts.

// These tests run real threads; loom models live in the crates and in loom-tests/.
#![cfg(not(zeta_loom))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use zeta_arena::PoolResource;
use zeta_mailbox::{Cache, Enqueued, Envelope, Inbox, Priority, TryBlock};

struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    // `try_with`: the slot may be gone while the thread is being torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: forwards every call to `System`, which upholds `GlobalAlloc`'s contract; the
// counter is a thread-local `Cell` with const initialisation, which never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Global allocations made by this thread so far.
fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// A message the size of a typical actor message (a few words).
#[derive(Clone, Copy)]
struct Order {
    id: u64,
    price: u64,
    qty: u32,
}

/// One thread: send, take, dispatch, drop, block and unblock, all through the pool.
#[test]
fn zero_global_allocations_per_message_one_thread() {
    let pool = PoolResource::new();
    let inbox = Inbox::new();
    let mut cache = Cache::new();
    let mut checksum = 0u64;
    let mut round = |n: u64, checksum: &mut u64| {
        for i in 0..n {
            let priority = if i % 8 == 0 {
                Priority::High
            } else {
                Priority::Normal
            };
            let message = Envelope::new_in(
                &pool,
                priority,
                Order {
                    id: i,
                    price: 100 + i,
                    qty: 1,
                },
            )
            .unwrap();
            match inbox.push(message) {
                Enqueued::Queued | Enqueued::Unblocked => {}
                Enqueued::Closed(_) => unreachable!(),
            }
            if i % 64 == 63 {
                // Batches of 64, and one in 256 dropped unhandled.
                while let Some(message) = cache.next_from(&inbox) {
                    if message.payload().id % 256 == 0 {
                        drop(message);
                    } else {
                        let order = message.into_payload();
                        *checksum += order.price * u64::from(order.qty);
                    }
                }
                assert_eq!(inbox.try_block(), TryBlock::Blocked);
            }
        }
    };
    round(10_000, &mut checksum); // warm-up: the pool's shard gets its chunk
    let before = allocations();
    round(1_000_000, &mut checksum);
    let after = allocations();
    assert!(checksum > 0);
    assert_eq!(
        after - before,
        0,
        "global allocations in 1,000,000 messages"
    );
}

/// Two threads: a producer thread allocates and pushes; this thread takes, dispatches
/// and frees (remote frees back to the producer's shard). In-flight messages are
/// bounded, as they are behind any real consumer. After warm-up, neither thread calls
/// the global allocator.
#[test]
fn zero_global_allocations_per_message_second_producer() {
    const WARMUP: u64 = 50_000;
    const MEASURED: u64 = 500_000;
    const MAX_IN_FLIGHT: usize = 512;
    let pool = PoolResource::new();
    let inbox = Inbox::new_unblocked();
    let in_flight = AtomicUsize::new(0);
    let producer_allocations = AtomicU64::new(u64::MAX);
    let consumer_allocations = std::thread::scope(|s| {
        let (pool, inbox, in_flight, producer_allocations) =
            (&pool, &inbox, &in_flight, &producer_allocations);
        s.spawn(move || {
            let mut before = 0;
            for i in 0..WARMUP + MEASURED {
                if i == WARMUP {
                    before = allocations();
                }
                while in_flight.load(Ordering::Acquire) >= MAX_IN_FLIGHT {
                    std::hint::spin_loop();
                }
                in_flight.fetch_add(1, Ordering::AcqRel);
                let message = Envelope::new_in(
                    pool,
                    Priority::Normal,
                    Order {
                        id: i,
                        price: i,
                        qty: 2,
                    },
                )
                .unwrap();
                assert!(matches!(inbox.push(message), Enqueued::Queued));
            }
            producer_allocations.store(allocations() - before, Ordering::Release);
        });
        let mut cache = Cache::new();
        let mut expected = 0u64;
        let mut before = 0;
        while expected < WARMUP + MEASURED {
            if expected == WARMUP {
                before = allocations();
            }
            match cache.next_from(inbox) {
                Some(message) => {
                    let order = message.into_payload();
                    assert_eq!(order.id, expected, "one producer: FIFO");
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                    expected += 1;
                }
                None => std::hint::spin_loop(),
            }
        }
        allocations() - before
    });
    assert_eq!(
        consumer_allocations, 0,
        "consumer thread: global allocations"
    );
    assert_eq!(
        producer_allocations.load(Ordering::Acquire),
        0,
        "producer thread: global allocations"
    );
}

/// A request (one node holding the message and its reply slot) through a warm pool:
/// build, push, take, dispatch, answer, read the answer. No global allocation.
#[test]
fn zero_global_allocations_per_request_and_reply() {
    struct Ask<'r> {
        question: u64,
        reply: zeta_mailbox::Reply<'r, u64>,
    }
    let pool = PoolResource::new();
    let inbox = Inbox::new_unblocked();
    let mut cache = Cache::new();
    let mut round = |n: u64| {
        for question in 0..n {
            let (message, mut pending) =
                Envelope::new_request_in(&pool, Priority::Normal, |reply| Ask { question, reply })
                    .unwrap();
            assert!(matches!(inbox.push(message), Enqueued::Queued));
            let Ask { question, reply } = cache.next_from(&inbox).unwrap().into_payload();
            reply.send(question + 1).unwrap();
            assert_eq!(pending.try_take(), Some(Ok(question + 1)));
        }
    };
    round(1_000);
    let before = allocations();
    round(500_000);
    assert_eq!(
        allocations() - before,
        0,
        "global allocations in 500,000 requests"
    );
}
