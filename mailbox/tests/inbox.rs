//! Single-thread tests of envelopes, the inbox state machine and the cache: smoke, a
//! model comparison, priorities, drop counts, failures.

// These tests run real threads; loom models live in the crates and in loom-tests/.
#![cfg(not(zeta_loom))]

mod common;

use std::collections::VecDeque;

use common::{Drops, Tracked};
use zeta_arena::{
    AllocError, CountingResource, GlobalResource, MemoryResource, NullResource, PoolResource,
};
use zeta_mailbox::{Cache, Enqueued, Envelope, Inbox, Priority, TryBlock};

fn envelope<'r, R: MemoryResource + Sync, M>(r: &'r R, p: Priority, m: M) -> Envelope<'r, M> {
    Envelope::new_in(r, p, m).expect("allocation")
}

#[test]
fn state_machine_smoke() {
    let pool = PoolResource::new();
    let inbox: Inbox<'_, u32> = Inbox::new();
    assert!(inbox.is_blocked());
    assert!(inbox.take_all().is_empty(), "nothing to take while blocked");
    assert!(matches!(
        inbox.push(envelope(&pool, Priority::Normal, 1)),
        Enqueued::Unblocked
    ));
    assert!(inbox.has_messages());
    assert!(matches!(
        inbox.push(envelope(&pool, Priority::Normal, 2)),
        Enqueued::Queued
    ));
    assert_eq!(inbox.try_block(), TryBlock::HasMessages);
    let batch: Vec<u32> = inbox.take_all().map(Envelope::into_payload).collect();
    assert_eq!(batch, [2, 1], "a batch is newest first");
    assert!(inbox.is_empty());
    assert!(!inbox.try_unblock(), "not blocked");
    assert_eq!(inbox.try_block(), TryBlock::Blocked);
    assert_eq!(inbox.try_block(), TryBlock::Blocked, "idempotent");
    assert!(inbox.try_unblock(), "wins the right to run");
    assert!(!inbox.try_unblock(), "only once");
    assert!(matches!(
        inbox.push(envelope(&pool, Priority::Normal, 3)),
        Enqueued::Queued
    ));
    let handed_back: Vec<u32> = inbox.close().map(Envelope::into_payload).collect();
    assert_eq!(handed_back, [3]);
    assert!(inbox.is_closed());
    assert_eq!(inbox.try_block(), TryBlock::Closed);
    assert!(!inbox.try_unblock());
    match inbox.push(envelope(&pool, Priority::High, 4)) {
        Enqueued::Closed(back) => assert_eq!(back.into_payload(), 4),
        other => panic!("pushed into a closed inbox: {other:?}"),
    }
    assert!(inbox.close().is_empty(), "closing twice hands back nothing");
    assert!(inbox.take_all().is_empty());
    assert_eq!(format!("{inbox:?}"), "Inbox { state: Closed }");
}

#[test]
fn must_schedule_only_on_unblocked() {
    let inbox = Inbox::new();
    let first = inbox.push(envelope(&GlobalResource, Priority::Normal, ()));
    assert!(first.must_schedule());
    let second = inbox.push(envelope(&GlobalResource, Priority::Normal, ()));
    assert!(!second.must_schedule());
}

#[test]
fn high_priority_overtakes_queued_normal() {
    let pool = PoolResource::new();
    let inbox = Inbox::new_unblocked();
    for (n, p) in [
        (1, Priority::Normal),
        (2, Priority::Normal),
        (3, Priority::High),
        (4, Priority::Normal),
        (5, Priority::High),
    ] {
        let _ = inbox.push(envelope(&pool, p, n));
    }
    let mut cache = Cache::new();
    assert_eq!(cache.refill(&inbox), 5);
    assert_eq!(cache.len(), 5);
    let order: Vec<i32> = std::iter::from_fn(|| cache.pop())
        .map(Envelope::into_payload)
        .collect();
    assert_eq!(order, [3, 5, 1, 2, 4]);
    assert!(cache.is_empty());
}

#[test]
fn next_from_picks_up_high_arriving_mid_batch() {
    let pool = PoolResource::new();
    let inbox = Inbox::new_unblocked();
    let mut cache = Cache::new();
    for n in 0..4 {
        let _ = inbox.push(envelope(&pool, Priority::Normal, n));
    }
    assert_eq!(cache.next_from(&inbox).map(Envelope::into_payload), Some(0));
    let _ = inbox.push(envelope(&pool, Priority::High, 100));
    let _ = inbox.push(envelope(&pool, Priority::Normal, 4));
    let _ = inbox.push(envelope(&pool, Priority::High, 101));
    let rest: Vec<i32> = std::iter::from_fn(|| cache.next_from(&inbox))
        .map(Envelope::into_payload)
        .collect();
    assert_eq!(rest, [100, 101, 1, 2, 3, 4]);
}

/// Single thread against a simple model (two `VecDeque`s): random pushes with random
/// priorities, random refills and pops. The cache must agree with the model at every
/// pop, given what has been refilled.
#[test]
fn single_thread_against_model() {
    let pool = CountingResource::new(PoolResource::new());
    {
        let inbox = Inbox::new_unblocked();
        let mut cache = Cache::new();
        // `pending` = pushed but not yet refilled; `model_*` = refilled, not popped.
        let mut pending: Vec<(Priority, u64)> = Vec::new();
        let (mut model_high, mut model_normal) = (VecDeque::new(), VecDeque::new());
        // Seeded: the same sequence on every run.
        let mut rng = fastrand::Rng::with_seed(0x2545_F491_4F6C_DD1D);
        for n in 0..50_000u64 {
            match rng.u32(..10) {
                0..=5 => {
                    let p = if rng.u32(..4) == 0 {
                        Priority::High
                    } else {
                        Priority::Normal
                    };
                    assert!(!inbox.push(envelope(&pool, p, n)).must_schedule());
                    pending.push((p, n));
                }
                6 => {
                    let got = cache.refill(&inbox);
                    assert_eq!(got, pending.len());
                    for (p, v) in pending.drain(..) {
                        match p {
                            Priority::High => model_high.push_back(v),
                            Priority::Normal => model_normal.push_back(v),
                        }
                    }
                }
                _ => {
                    let expected = model_high.pop_front().or_else(|| model_normal.pop_front());
                    assert_eq!(cache.pop().map(Envelope::into_payload), expected);
                }
            }
            assert_eq!(cache.len(), model_high.len() + model_normal.len());
        }
    }
    assert_eq!(pool.live_blocks(), 0, "every node went back to the pool");
}

/// Every payload is dropped exactly once wherever its node ends: handled, left in the
/// cache, left in the inbox, handed back by close, returned by a closed inbox, or
/// dropped as part of a batch.
#[test]
fn every_payload_dropped_exactly_once() {
    let drops = Drops::new(60);
    let pool = CountingResource::new(PoolResource::new());
    {
        let inbox = Inbox::new_unblocked();
        let mut cache = Cache::new();
        let push = |id| {
            inbox.push(envelope(
                &pool,
                Priority::Normal,
                Tracked::new(&drops, id, 0, 0),
            ))
        };
        for id in 0..10 {
            let _ = push(id);
        }
        cache.refill(&inbox);
        for _ in 0..5 {
            drop(cache.pop().unwrap().into_payload()); // handled: 0..5
        }
        for id in 10..20 {
            let _ = push(id);
        }
        drop(inbox.take_all()); // a dropped batch: 10..20
        for id in 20..30 {
            let _ = push(id);
        }
        let mut batch = inbox.take_all();
        drop(batch.next()); // one taken from a batch, the rest dropped with it
        drop(batch);
        for id in 30..40 {
            let _ = push(id);
        }
        let handed_back = inbox.close(); // handed back by close: 30..40
        assert_eq!(handed_back.count(), 10);
        for id in 40..50 {
            match push(id) {
                Enqueued::Closed(back) => drop(back), // returned by the closed inbox
                _ => panic!("closed inbox accepted a message"),
            }
        }
        let second = Inbox::new_unblocked();
        for id in 50..60 {
            let _ = second.push(envelope(
                &pool,
                Priority::High,
                Tracked::new(&drops, id, 0, 0),
            ));
        }
        drop(second); // left in an inbox that is dropped
                      // 5..10 are still in the cache, dropped with it at the end of this scope.
        assert_eq!(drops.dropped(), 55);
    }
    drops.assert_each_dropped_once();
    assert_eq!(pool.live_blocks(), 0);
}

/// A payload whose drop panics still gives its node back to the resource.
#[test]
fn panicking_payload_drop_frees_node() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("boom");
        }
    }
    let pool = CountingResource::new(GlobalResource);
    let message = envelope(&pool, Priority::Normal, Bomb);
    assert_eq!(pool.live_blocks(), 1);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(message)));
    assert!(result.is_err());
    assert_eq!(pool.live_blocks(), 0);
}

#[test]
fn allocation_failure_returns_the_payload() {
    let err = Envelope::new_in(&NullResource, Priority::High, String::from("order 7")).unwrap_err();
    assert_eq!(err.payload, "order 7");
    assert_eq!(err.to_string(), AllocError.to_string());
}

#[test]
fn envelope_accessors_and_layout() {
    let pool = CountingResource::new(GlobalResource);
    let mut e = envelope(&pool, Priority::High, vec![1, 2, 3]);
    e.payload_mut().push(4);
    assert_eq!(e.payload(), &[1, 2, 3, 4]);
    assert_eq!(
        format!("{e:?}"),
        "Envelope { priority: High, payload: [1, 2, 3, 4] }"
    );
    // One allocation per message: header and payload together.
    assert_eq!(pool.live_blocks(), 1);
    assert_eq!(pool.live_bytes(), 32 + core::mem::size_of::<Vec<i32>>());
    drop(e);
    let zst = envelope(&pool, Priority::Normal, ());
    assert_eq!(pool.live_bytes(), 32, "a unit message is just the header");
    zst.into_payload();
    assert_eq!(pool.live_blocks(), 0);
}

static_assertions::assert_impl_all!(Inbox<'static, u64>: Send, Sync);
static_assertions::assert_impl_all!(Envelope<'static, u64>: Send, Sync);
static_assertions::assert_impl_all!(Cache<'static, u64>: Send);
static_assertions::assert_not_impl_any!(Inbox<'static, std::rc::Rc<u8>>: Send, Sync);
static_assertions::assert_not_impl_any!(Envelope<'static, std::rc::Rc<u8>>: Send);
static_assertions::assert_eq_size!(zeta_mailbox::Header, [u64; 4]);
