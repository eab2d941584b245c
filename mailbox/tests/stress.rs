//! Multi-thread stress of the inbox: exact conservation, per-producer FIFO, the
//! block/unblock handshake under contention, and close mid-stream.

// These tests run real threads; loom models live in the crates and in loom-tests/.
#![cfg(not(zeta_loom))]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use common::{Drops, Tracked};
use zeta_arena::{CountingResource, PoolResource};
use zeta_mailbox::{Cache, Enqueued, Envelope, Inbox, Priority, TryBlock};

const PRODUCERS: usize = 4;
const PER_PRODUCER: u64 = 50_000;

fn priority_of(seq: u64) -> Priority {
    if seq % 5 == 0 {
        Priority::High
    } else {
        Priority::Normal
    }
}

/// Four producers race one reader that drains continuously. Every message arrives once,
/// and within one (producer, priority) pair in the order it was sent.
#[test]
fn producers_conserve_and_keep_per_sender_fifo() {
    let pool = CountingResource::new(PoolResource::new());
    {
        let inbox = Inbox::new_unblocked();
        let done = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for producer in 0..PRODUCERS {
                let (inbox, pool, done) = (&inbox, &pool, &done);
                s.spawn(move || {
                    for seq in 0..PER_PRODUCER {
                        let message =
                            Envelope::new_in(pool, priority_of(seq), (producer, seq)).unwrap();
                        assert!(matches!(inbox.push(message), Enqueued::Queued));
                    }
                    done.fetch_add(1, Ordering::Release);
                });
            }
            // The reader: per (producer, priority), the last sequence number seen.
            let mut last = [[None::<u64>; 2]; PRODUCERS];
            let mut received = 0u64;
            let mut cache = Cache::new();
            loop {
                let finished = done.load(Ordering::Acquire) == PRODUCERS;
                while let Some(message) = cache.next_from(&inbox) {
                    let priority = message.priority();
                    let (producer, seq) = message.into_payload();
                    assert_eq!(priority, priority_of(seq));
                    let slot = &mut last[producer][priority as usize];
                    assert!(
                        slot.is_none_or(|prev| prev < seq),
                        "FIFO broken: {producer} {seq} after {slot:?}"
                    );
                    *slot = Some(seq);
                    received += 1;
                }
                if finished && !inbox.has_messages() {
                    break;
                }
                std::hint::spin_loop();
            }
            assert_eq!(received, PRODUCERS as u64 * PER_PRODUCER);
        });
    }
    assert_eq!(pool.live_blocks(), 0);
}

/// The handshake with real contention: whoever's push returns `Unblocked` runs the
/// reader right there (that is its "scheduling"). The reader drains, then tries to
/// block. A guard flag proves that two threads never run the reader at once, and the
/// final count proves that no message was stranded in a blocked inbox.
#[test]
fn handshake_never_strands_and_never_runs_twice() {
    struct Actor<'r> {
        inbox: Inbox<'r, u64>,
        running: AtomicBool,
        handled: AtomicU64,
        sum: AtomicU64,
        runs: AtomicU64,
    }

    impl Actor<'_> {
        /// Runs the reader; the caller holds the right to run.
        fn run(&self) {
            assert!(
                !self.running.swap(true, Ordering::Acquire),
                "two readers at once"
            );
            self.runs.fetch_add(1, Ordering::Relaxed);
            let mut cache = Cache::new();
            loop {
                while let Some(message) = cache.next_from(&self.inbox) {
                    self.sum
                        .fetch_add(message.into_payload(), Ordering::Relaxed);
                    self.handled.fetch_add(1, Ordering::Relaxed);
                }
                // Give the flag back before blocking: after a successful `try_block`
                // the reader must not touch the actor.
                self.running.store(false, Ordering::Release);
                match self.inbox.try_block() {
                    TryBlock::Blocked => return,
                    TryBlock::HasMessages => {
                        // Still ours: nobody could have been told `Unblocked`.
                        assert!(
                            !self.running.swap(true, Ordering::Acquire),
                            "two readers at once"
                        );
                    }
                    TryBlock::Closed | TryBlock::Sealed | TryBlock::Orphaned => {
                        unreachable!("never closed or sealed here")
                    }
                }
            }
        }
    }

    const SENDERS: u64 = 3;
    const PER: u64 = 40_000;
    let pool = PoolResource::new();
    let actor = Actor {
        inbox: Inbox::new(),
        running: AtomicBool::new(false),
        handled: AtomicU64::new(0),
        sum: AtomicU64::new(0),
        runs: AtomicU64::new(0),
    };
    std::thread::scope(|s| {
        for t in 0..SENDERS {
            let (actor, pool) = (&actor, &pool);
            s.spawn(move || {
                for i in 0..PER {
                    let message = Envelope::new_in(pool, Priority::Normal, t * PER + i).unwrap();
                    match actor.inbox.push(message) {
                        Enqueued::Unblocked => actor.run(),
                        Enqueued::Queued => {}
                        Enqueued::Closed(_) => unreachable!("never closed here"),
                    }
                }
            });
        }
    });
    let n = SENDERS * PER;
    assert_eq!(
        actor.handled.load(Ordering::Relaxed),
        n,
        "a message was stranded"
    );
    assert_eq!(actor.sum.load(Ordering::Relaxed), n * (n - 1) / 2);
    assert!(actor.inbox.is_blocked(), "the reader ends asleep");
    assert!(actor.runs.load(Ordering::Relaxed) >= 1);
}

/// Producers keep pushing until their own push comes back `Closed`, while the reader
/// handles some messages and then closes: the close lands mid-stream by construction.
/// Each message ends exactly one way (handled, handed back by `close`, or returned to
/// its producer as `Closed`), every payload is dropped exactly once, every node freed.
#[test]
fn close_mid_stream_loses_nothing() {
    const SENDERS: usize = 3;
    const CLOSE_AFTER: usize = 10_000;
    /// Producers pause while this many messages are unhandled, so the ids stay bounded.
    const WINDOW: usize = 4_096;
    const CAP: usize = CLOSE_AFTER + WINDOW + 2 * SENDERS;
    let drops = Drops::new(CAP);
    let pool = CountingResource::new(PoolResource::new());
    let next_id = AtomicUsize::new(0);
    let handled = AtomicUsize::new(0);
    let returned = AtomicUsize::new(0);
    let mut handed_back = 0;
    {
        let inbox = Inbox::new_unblocked();
        std::thread::scope(|s| {
            for t in 0..SENDERS {
                let (inbox, pool, drops) = (&inbox, &pool, &drops);
                let (next_id, handled, returned) = (&next_id, &handled, &returned);
                s.spawn(move || loop {
                    while next_id.load(Ordering::Relaxed) - handled.load(Ordering::Relaxed)
                        >= WINDOW
                        && !inbox.is_closed()
                    {
                        std::thread::yield_now();
                    }
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    assert!(id < CAP, "the window bounds the ids");
                    let message =
                        Envelope::new_in(pool, Priority::Normal, Tracked::new(drops, id, t, 0))
                            .unwrap();
                    if let Enqueued::Closed(back) = inbox.push(message) {
                        assert_eq!(back.payload().id, id);
                        returned.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                });
            }
            let mut cache = Cache::new();
            while handled.load(Ordering::Relaxed) < CLOSE_AFTER {
                match cache.next_from(&inbox) {
                    Some(message) => {
                        drop(message.into_payload());
                        handled.fetch_add(1, Ordering::Relaxed);
                    }
                    None => std::thread::yield_now(),
                }
            }
            // Close mid-stream: what is cached and what is queued both go back.
            handed_back += cache.len();
            drop(cache);
            handed_back += inbox.close().count();
        });
        assert!(inbox.is_closed());
    }
    let issued = next_id.load(Ordering::Relaxed);
    let handled = handled.load(Ordering::Relaxed);
    let returned = returned.load(Ordering::Relaxed);
    assert_eq!(
        returned, SENDERS,
        "every producer was still sending when the inbox closed"
    );
    assert_eq!(handled, CLOSE_AFTER);
    assert_eq!(
        handled + handed_back + returned,
        issued,
        "{handled} + {handed_back} + {returned}"
    );
    drops.assert_first_dropped_once(issued);
    assert_eq!(pool.live_blocks(), 0);
}
