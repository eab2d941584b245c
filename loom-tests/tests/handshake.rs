//! The block/unblock handshake end to end, through the public API of `zeta-mailbox`.
//!
//! A reader runs in turns: it refills a [`Cache`] from its inbox, handles everything,
//! and calls [`Inbox::try_block`], which either blocks (the turn ends) or reports that a
//! message slipped in (the turn goes on). A producer whose push returns
//! [`Enqueued::Unblocked`] must schedule the reader's next turn. The models check that
//! this loses no wake-up: every message is handled exactly once, in sending order, and
//! when everything is joined the inbox is blocked and empty.
//!
//! The actor's state (the list of handled messages) is a loom cell that only the reader
//! touches during a turn: if two turns ever overlapped, or one turn's writes were not
//! ordered before the next turn on another thread, loom would fail the model.
//!
//! Every inbox operation is preceded by [`Actor::point`], an explicit scheduling point:
//! loom 0.7's DPOR remembers only the last access to each atomic, so a race between one
//! thread's plain load (every push starts with one) and another thread's CAS is lost when
//! a third load intervenes (tokio-rs/loom#166, #392). The point is a Relaxed RMW on a
//! separate counter: loom permutes those, and being Relaxed it orders nothing.
#![cfg(zeta_loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use loom::sync::Arc;
use loom::thread;
use zeta_arena::GlobalResource;
use zeta_mailbox::{Cache, Enqueued, Envelope, Inbox, Priority, TryBlock};

/// Where the messages' nodes come from; a ZST, so a `static` is a `&'static` resource.
static GLOBAL: GlobalResource = GlobalResource;

/// How many messages the producer sends.
const MESSAGES: u32 = 2;

/// An actor: its inbox and the state only its current turn may touch.
struct Actor {
    inbox: Inbox<'static, u32>,
    handled: UnsafeCell<Vec<u32>>,
    /// Counter of the scheduling points (see the module documentation).
    points: AtomicUsize,
}

// SAFETY: `handled` is touched only by `run_turn` and `handled`, whose callers hold the
// right to run the actor; the inbox protocol makes that right exclusive and hands it
// over with happens-before, which loom checks on every access. `Inbox<u32>` and the
// atomic counter are `Sync`.
unsafe impl Sync for Actor {}
// SAFETY: as above; the inbox and a `Vec<u32>` are `Send`.
unsafe impl Send for Actor {}

impl Actor {
    /// An actor whose reader is deemed running (its first turn is under way).
    fn new() -> Self {
        Self {
            inbox: Inbox::new_unblocked(),
            handled: UnsafeCell::new(Vec::new()),
            points: AtomicUsize::new(0),
        }
    }

    /// A point where loom may switch to any other thread.
    fn point(&self) {
        // Relaxed: only the scheduling point matters, never the value; with no Release
        // fence anywhere it creates no happens-before edge, so it hides no bug.
        self.points.fetch_add(1, Relaxed);
    }

    /// Sends message `n`; `true` if the caller must schedule the reader.
    fn send(&self, n: u32) -> bool {
        let message = Envelope::new_in(&GLOBAL, Priority::Normal, n).expect("global allocator");
        self.point();
        match self.inbox.push(message) {
            Enqueued::Unblocked => true,
            Enqueued::Queued => false,
            Enqueued::Closed(_) => panic!("nobody closes this inbox"),
        }
    }

    /// One turn of the reader: drain, handle, and block once nothing is left.
    ///
    /// # Safety
    ///
    /// The caller holds the right to run: the turn started with [`Actor::new`], or the
    /// caller's push returned `Unblocked`, or the caller joined the thread that did.
    unsafe fn run_turn(&self) {
        let mut cache = Cache::new();
        loop {
            self.point();
            cache.refill(&self.inbox);
            while let Some(message) = cache.pop() {
                let n = message.into_payload();
                // SAFETY: we hold the right to run (the caller's duty, kept until the
                // `Blocked` below), so no other thread touches `handled`.
                self.handled
                    .with_mut(|handled| unsafe { (*handled).push(n) });
            }
            self.point();
            match self.inbox.try_block() {
                // The right to run is gone: the next push returns `Unblocked`.
                TryBlock::Blocked => return,
                // A message slipped in between the refill and the block: keep going
                // (not a spin: the next refill takes it).
                TryBlock::HasMessages => continue,
                TryBlock::Closed | TryBlock::Sealed | TryBlock::Orphaned => {
                    panic!("nobody closes, seals or orphans this inbox")
                }
            }
        }
    }

    /// The messages handled so far, in order.
    ///
    /// # Safety
    ///
    /// No turn is under way on another thread, and the last one happened before this
    /// call (the threads that ran turns were joined).
    unsafe fn handled(&self) -> Vec<u32> {
        // SAFETY: the caller guarantees exclusive, ordered access.
        self.handled.with(|handled| unsafe { (*handled).clone() })
    }
}

/// Checks the end state: every message handled exactly once and in order, and the
/// inbox blocked with nothing in it.
///
/// # Safety
///
/// As for [`Actor::handled`].
unsafe fn assert_no_lost_wakeup(actor: &Actor) {
    // SAFETY: forwarded from the caller.
    let handled = unsafe { actor.handled() };
    assert_eq!(
        handled,
        (0..MESSAGES).collect::<Vec<_>>(),
        "exactly once, in order"
    );
    assert!(actor.inbox.is_blocked(), "the last turn ended in a block");
    assert!(!actor.inbox.has_messages(), "nothing left behind");
}

/// The reader's first turn runs on one thread while a producer sends; a push that
/// returns `Unblocked` records that the reader must run again, and the main thread runs
/// that turn after joining both.
///
/// Asserts: at most one push unblocks (the reader thread blocks once); after the
/// scheduled turn, if any, every message was handled exactly once in order and the
/// inbox is blocked and empty.
#[test]
fn unblocked_reader_runs_again_after_join() {
    loom::model(|| {
        let actor = Arc::new(Actor::new());
        let producer = {
            let actor = Arc::clone(&actor);
            thread::spawn(move || (0..MESSAGES).filter(|&n| actor.send(n)).count())
        };
        let reader = {
            let actor = Arc::clone(&actor);
            // SAFETY: the actor starts unblocked and this is its only reader turn
            // before the join.
            thread::spawn(move || unsafe { actor.run_turn() })
        };
        let wakes = producer.join().expect("producer panicked");
        reader.join().expect("reader panicked");

        assert!(wakes <= 1, "one block, so at most one wake-up, got {wakes}");
        if wakes == 1 {
            // SAFETY: the producer's `Unblocked` gave it the right to run, and the join
            // passed it to us; the reader thread gave it up with its `Blocked`.
            unsafe { actor.run_turn() };
        }
        // SAFETY: every thread that ran a turn was joined.
        unsafe { assert_no_lost_wakeup(&actor) };
    });
}

/// As above, but the producer runs the scheduled turn itself, at once, between its
/// sends: the right to run, and the actor's state, pass from the reader thread to the
/// producer thread through the inbox alone (`try_block`'s Release, the Acquire of the
/// unblocking push), with nothing else ordering them.
///
/// Asserts: every message handled exactly once and in order, turns never overlap
/// (loom's cell checks), and the inbox ends blocked and empty.
#[test]
fn unblocked_reader_runs_on_the_producer() {
    loom::model(|| {
        let actor = Arc::new(Actor::new());
        let producer = {
            let actor = Arc::clone(&actor);
            thread::spawn(move || {
                for n in 0..MESSAGES {
                    if actor.send(n) {
                        // SAFETY: our push returned `Unblocked`: the right to run is ours
                        // until this turn blocks again.
                        unsafe { actor.run_turn() };
                    }
                }
            })
        };
        let reader = {
            let actor = Arc::clone(&actor);
            // SAFETY: the actor starts unblocked and this is its first turn.
            thread::spawn(move || unsafe { actor.run_turn() })
        };
        producer.join().expect("producer panicked");
        reader.join().expect("reader panicked");
        // SAFETY: every thread that ran a turn was joined.
        unsafe { assert_no_lost_wakeup(&actor) };
    });
}
