//! loom models of the inbox protocol (see the [parent module](super) for the protocol).
//!
//! Run with `RUSTFLAGS="--cfg zeta_loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2
//! cargo test --release -p zeta-mailbox --lib`. Every model has at most three threads
//! (the main thread included) and at most four messages.
//!
//! The message links are loom cells (see `crate::sync`), so every model that takes
//! messages on another thread than the one that pushed them also checks that the
//! publishing Release CAS in `push` and the Acquire in `take_all`/`close` order the link
//! writes before their reads. The actor's state is modelled by [`Actor`], a loom cell
//! that only the holder of the right to run may touch: two holders at once, or a
//! hand-over without happens-before (the `try_block` Release, the Acquire half of an
//! unblocking push, the Acquire of `try_unblock`), fails the model.
//!
//! Every thread calls [`Interleave::point`] before each inbox operation; see there for
//! the loom limitation this works around.

use ::loom::cell::UnsafeCell;
use ::loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use ::loom::sync::Arc;
use ::loom::thread;
use zeta_arena::GlobalResource;

use super::{Enqueued, Inbox, Orphan, Seal, TryBlock};
use crate::loom_support::Interleave;
use crate::{Cache, Envelope, Priority};

/// The node resource of every model: a ZST, so a `static` gives the `&'static` that
/// spawned threads need.
static GLOBAL: GlobalResource = GlobalResource;

/// A normal-priority message from the global allocator.
fn envelope<M>(payload: M) -> Envelope<'static, M> {
    Envelope::new_in(&GLOBAL, Priority::Normal, payload).expect("the global allocator failed")
}

/// Takes everything queued into `cache`, then pops it all; returns the payloads in the
/// order the cache gives them.
fn drain<M>(inbox: &Inbox<'static, M>, cache: &mut Cache<'static, M>) -> Vec<M> {
    cache.refill(inbox);
    std::iter::from_fn(|| cache.pop())
        .map(Envelope::into_payload)
        .collect()
}

/// The actor's state: only the current holder of the right to run may touch it.
struct Actor(UnsafeCell<usize>);

// SAFETY: the cell is only accessed through `Actor::run`, whose callers hold the right
// to run, which the inbox protocol makes exclusive and hands over with happens-before;
// loom checks exactly that on every access, so a protocol bug fails the model instead
// of racing.
unsafe impl Sync for Actor {}
// SAFETY: a `usize` in a cell; nothing thread-bound.
unsafe impl Send for Actor {}

impl Actor {
    fn new() -> Self {
        Self(UnsafeCell::new(0))
    }

    /// Runs one step of the actor.
    ///
    /// # Safety
    ///
    /// The caller holds the right to run: it is the reader of an inbox that is not
    /// blocked, or it won the right from a blocked one (`Enqueued::Unblocked`, or
    /// `try_unblock` returned `true`) and has not given it up since, or it joined the
    /// thread that held it.
    unsafe fn run(&self) {
        // SAFETY: the caller holds the right to run, so no other thread touches the
        // cell, and the hand-over that gave it the right ordered the previous holder's
        // accesses before this one (loom verifies both).
        self.0.with_mut(|steps| unsafe { *steps += 1 });
    }
}

/// A producer: pushes `payload`; if that unblocked the inbox, takes the right to run
/// (touches the actor, standing for scheduling it). Returns whether it did.
fn push_and_wake(inbox: &Inbox<'static, usize>, actor: &Actor, payload: usize) -> bool {
    match inbox.push(envelope(payload)) {
        Enqueued::Unblocked => {
            // SAFETY: our push moved the inbox out of BLOCKED: we hold the right to run.
            unsafe { actor.run() };
            true
        }
        Enqueued::Queued => false,
        Enqueued::Closed(_) => panic!("nobody closes this inbox"),
    }
}

/// Spawns `producers` threads, each pushing its index with [`push_and_wake`] after a
/// scheduling point.
fn spawn_producers(
    producers: usize,
    inbox: &Arc<Inbox<'static, usize>>,
    actor: &Arc<Actor>,
    sched: &Interleave,
) -> Vec<thread::JoinHandle<bool>> {
    (0..producers)
        .map(|id| {
            let (inbox, actor, sched) = (Arc::clone(inbox), Arc::clone(actor), sched.clone());
            thread::spawn(move || {
                sched.point();
                push_and_wake(&inbox, &actor, id)
            })
        })
        .collect()
}

/// Joins the producers; returns how many pushes returned `Unblocked`.
fn join_wakes(handles: Vec<thread::JoinHandle<bool>>) -> usize {
    handles
        .into_iter()
        .map(|h| h.join().expect("producer panicked"))
        .filter(|&woke| woke)
        .count()
}

/// Model (a): `producers` threads each push one message while the reader (the main
/// thread, holding the right to run of an unblocked inbox) calls `try_block` once, after
/// taking what is there if `take_first`.
///
/// Asserts: without `take_first`, exactly one push returns `Unblocked` iff `try_block`
/// returned `Blocked`, and none when it returned `HasMessages`; with it, a blocked
/// reader is woken exactly once iff a message arrived after the block. If nobody holds
/// the right to run after the join, the inbox is blocked and empty: no stranded message.
/// Every message is taken exactly once.
fn push_races_try_block(producers: usize, take_first: bool) {
    ::loom::model(move || {
        let inbox = Arc::new(Inbox::<'static, usize>::new_unblocked());
        let actor = Arc::new(Actor::new());
        let sched = Interleave::new();
        let handles = spawn_producers(producers, &inbox, &actor, &sched);

        // The reader's last turn before it tries to sleep.
        let mut cache = Cache::new();
        let mut received = Vec::new();
        if take_first {
            sched.point();
            received = drain(&inbox, &mut cache);
        }
        let taken_before_block = received.len();
        // SAFETY: the inbox started unblocked with the main thread as its reader.
        unsafe { actor.run() };
        sched.point();
        let blocked = inbox.try_block();
        if blocked == TryBlock::HasMessages {
            // SAFETY: `HasMessages`: the reader keeps the right to run.
            unsafe { actor.run() };
        }

        let wakes = join_wakes(handles);
        match blocked {
            // Every message not taken before the block was pushed after it, and the
            // first of those pushes (only it) found the inbox BLOCKED.
            TryBlock::Blocked => assert_eq!(
                wakes,
                usize::from(taken_before_block < producers),
                "one Unblocked per block, iff a message came after it"
            ),
            TryBlock::HasMessages => assert_eq!(wakes, 0, "the reader never blocked"),
            TryBlock::Closed | TryBlock::Sealed | TryBlock::Orphaned => {
                panic!("nobody closes, seals or orphans this inbox")
            }
        }

        let someone_runs = blocked == TryBlock::HasMessages || wakes == 1;
        if someone_runs {
            assert!(inbox.has_messages(), "the runner has something to do");
            // SAFETY: the holder of the right to run (the reader, or the producer whose
            // push returned Unblocked) passed it to us by being joined.
            unsafe { actor.run() };
            received.extend(drain(&inbox, &mut cache));
            assert_eq!(inbox.try_block(), TryBlock::Blocked);
        } else {
            // Nobody will run the reader: nothing may wait in the inbox.
            assert!(
                inbox.is_blocked(),
                "no runner, so the inbox must be blocked"
            );
            assert!(!inbox.has_messages(), "stranded message in a blocked inbox");
        }

        received.sort_unstable();
        assert_eq!(
            received,
            (0..producers).collect::<Vec<_>>(),
            "every message taken exactly once"
        );
    });
}

#[test]
fn one_push_races_try_block() {
    push_races_try_block(1, false);
}

#[test]
fn two_pushes_race_try_block() {
    push_races_try_block(2, false);
}

#[test]
fn two_pushes_race_take_all_then_try_block() {
    push_races_try_block(2, true);
}

/// A payload that counts its drops in a shared slot per message.
struct Counted {
    id: usize,
    drops: Arc<Vec<AtomicUsize>>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        // Relaxed: the counts are read after every thread has been joined.
        self.drops[self.id].fetch_add(1, Relaxed);
    }
}

/// Model (b): two producers push `per_producer` messages each while the main thread
/// (the reader) takes what is there once, then closes the inbox.
///
/// Asserts: every message ends in exactly one of the taken batch, the batch `close`
/// hands back, or an `Enqueued::Closed` returned to its producer; no push succeeds
/// after one was refused; a second close hands back nothing; and every payload is
/// dropped exactly once.
fn push_races_close(per_producer: usize) {
    ::loom::model(move || {
        let total = 2 * per_producer;
        let drops: Arc<Vec<AtomicUsize>> =
            Arc::new((0..total).map(|_| AtomicUsize::new(0)).collect());
        let inbox = Arc::new(Inbox::<'static, Counted>::new_unblocked());
        let sched = Interleave::new();
        let handles: Vec<_> = (0..2)
            .map(|producer| {
                let (inbox, drops, sched) = (Arc::clone(&inbox), Arc::clone(&drops), sched.clone());
                thread::spawn(move || {
                    let mut refused = Vec::new();
                    for seq in 0..per_producer {
                        let id = producer * per_producer + seq;
                        let message = envelope(Counted {
                            id,
                            drops: Arc::clone(&drops),
                        });
                        sched.point();
                        match inbox.push(message) {
                            Enqueued::Queued => assert!(refused.is_empty(), "queued after Closed"),
                            Enqueued::Unblocked => panic!("the reader never blocks"),
                            // Dropped here, on the producer: the drop counts say whether
                            // that happens exactly once.
                            Enqueued::Closed(back) => refused.push(back.payload().id),
                        }
                    }
                    refused
                })
            })
            .collect();

        let mut cache = Cache::new();
        sched.point();
        let mut settled: Vec<usize> = drain(&inbox, &mut cache)
            .into_iter()
            .map(|message| message.id)
            .collect();
        sched.point();
        let handed_back = inbox.close();
        settled.extend(handed_back.map(|envelope| envelope.payload().id));
        assert!(inbox.is_closed());

        for handle in handles {
            settled.extend(handle.join().expect("producer panicked"));
        }
        settled.sort_unstable();
        assert_eq!(
            settled,
            (0..total).collect::<Vec<_>>(),
            "each message taken, handed back or refused, exactly once"
        );
        assert!(
            inbox.close().is_empty(),
            "the second close hands back nothing"
        );
        for (id, count) in drops.iter().enumerate() {
            assert_eq!(count.load(Relaxed), 1, "message {id} dropped once");
        }
    });
}

#[test]
fn pushes_race_close() {
    push_races_close(1);
}

#[test]
fn push_pairs_race_close() {
    push_races_close(2);
}

/// Model (c): two producers push two messages each, tagged `(producer, seq)`, into an
/// unblocked inbox, while the reader takes twice into its cache; it takes a third time
/// after the join.
///
/// Asserts: every push is `Queued`; all four messages come out of the cache exactly
/// once, and each producer's in the order it sent them (also across takes: the second
/// batch lands behind what the first left in the cache).
#[test]
fn take_all_races_pushes() {
    ::loom::model(|| {
        let inbox = Arc::new(Inbox::<'static, (usize, usize)>::new_unblocked());
        let sched = Interleave::new();
        let handles: Vec<_> = (0..2)
            .map(|producer| {
                let (inbox, sched) = (Arc::clone(&inbox), sched.clone());
                thread::spawn(move || {
                    for seq in 0..2 {
                        sched.point();
                        let result = inbox.push(envelope((producer, seq)));
                        assert!(matches!(result, Enqueued::Queued), "{result:?}");
                    }
                })
            })
            .collect();

        let mut cache = Cache::new();
        sched.point();
        cache.refill(&inbox);
        sched.point();
        cache.refill(&inbox);
        for handle in handles {
            handle.join().expect("producer panicked");
        }
        let received = drain(&inbox, &mut cache);
        assert!(!inbox.has_messages());

        assert_eq!(received.len(), 4, "{received:?}");
        for producer in 0..2 {
            let sequence: Vec<usize> = received
                .iter()
                .filter(|(p, _)| *p == producer)
                .map(|&(_, seq)| seq)
                .collect();
            assert_eq!(sequence, [0, 1], "producer {producer}, all: {received:?}");
        }
    });
}

/// Model (d): on a blocked inbox (`Inbox::new`), `producers` threads push one message
/// each while the main thread calls `try_unblock`.
///
/// Asserts: exactly one party wins the right to run (`try_unblock` returned `true`, or
/// one push returned `Unblocked`), and only the winner touches the actor; afterwards
/// every message is taken exactly once, and the inbox blocks and unblocks again.
fn try_unblock_races_push(producers: usize) {
    ::loom::model(move || {
        let inbox = Arc::new(Inbox::<'static, usize>::new());
        let actor = Arc::new(Actor::new());
        let sched = Interleave::new();
        let handles = spawn_producers(producers, &inbox, &actor, &sched);

        sched.point();
        let unblocked_here = inbox.try_unblock();
        if unblocked_here {
            // SAFETY: `try_unblock` returned true: we won the right to run.
            unsafe { actor.run() };
        }
        let wakes = join_wakes(handles);
        assert_eq!(
            usize::from(unblocked_here) + wakes,
            1,
            "exactly one party wins the blocked inbox"
        );

        // The winner (joined, or us) runs the reader.
        // SAFETY: we won, or joined the producer that did.
        unsafe { actor.run() };
        let mut received = drain(&inbox, &mut Cache::new());
        received.sort_unstable();
        assert_eq!(received, (0..producers).collect::<Vec<_>>());
        assert_eq!(inbox.try_block(), TryBlock::Blocked);
        assert!(
            inbox.try_unblock(),
            "blocked again, so try_unblock wins again"
        );
    });
}

#[test]
fn try_unblock_races_one_push() {
    try_unblock_races_push(1);
}

#[test]
fn try_unblock_races_two_pushes() {
    try_unblock_races_push(2);
}

/// Model (d'): as (d), but the block is a real one: the reader (the main thread) runs a
/// step of the actor and calls `try_block`, while one thread calls `try_unblock` and
/// another pushes. The winner touches the actor, so loom checks that `try_unblock`'s
/// Acquire (or the unblocking push's fence) orders the reader's step before the
/// winner's; (d) has no reader step to order.
///
/// Asserts: if the reader blocked, exactly one of the two others won; if it did not (the
/// push came first), neither did, and the reader kept the right to run. Afterwards the
/// message is taken exactly once.
#[test]
fn try_unblock_and_push_race_try_block() {
    ::loom::model(|| {
        let inbox = Arc::new(Inbox::<'static, usize>::new_unblocked());
        let actor = Arc::new(Actor::new());
        let sched = Interleave::new();
        let mut handles = spawn_producers(1, &inbox, &actor, &sched);
        handles.push({
            let (inbox, actor, sched) = (Arc::clone(&inbox), Arc::clone(&actor), sched.clone());
            thread::spawn(move || {
                sched.point();
                let won = inbox.try_unblock();
                if won {
                    // SAFETY: `try_unblock` returned true: we won the right to run.
                    unsafe { actor.run() };
                }
                won
            })
        });

        // SAFETY: the inbox started unblocked with the main thread as its reader.
        unsafe { actor.run() };
        sched.point();
        let blocked = inbox.try_block();
        if blocked == TryBlock::HasMessages {
            // SAFETY: `HasMessages`: the reader keeps the right to run.
            unsafe { actor.run() };
        }
        let winners = join_wakes(handles);
        match blocked {
            TryBlock::Blocked => assert_eq!(winners, 1, "exactly one party wins the block"),
            TryBlock::HasMessages => assert_eq!(winners, 0, "the reader never blocked"),
            TryBlock::Closed | TryBlock::Sealed | TryBlock::Orphaned => {
                panic!("nobody closes, seals or orphans this inbox")
            }
        }

        // SAFETY: the reader kept the right to run, or we joined the winner.
        unsafe { actor.run() };
        assert_eq!(drain(&inbox, &mut Cache::new()), [0]);
        assert_eq!(inbox.try_block(), TryBlock::Blocked);
    });
}

/// The reader of the seal models: its cache, what it handled, and whether it ended, all
/// in one loom cell that only the holder of the right to run may touch.
struct Reader {
    state: UnsafeCell<ReaderState>,
    /// What the sealer (or orphaner) wrote before sealing (orphaning); the ending
    /// reader reads it.
    note: UnsafeCell<usize>,
}

struct ReaderState {
    cache: Cache<'static, usize>,
    handled: Vec<usize>,
    /// What the end found queued and dropped.
    dropped: Vec<usize>,
    ended: usize,
}

// SAFETY: `state` is only touched through `Reader::run` and `Reader::end`, whose
// callers hold the right to run (exclusive, handed over with happens-before: what loom
// checks); `note` is written once, by the sealer before `seal` or the orphaner before
// `orphan`, and read by the ending reader after `TryBlock::Sealed` or
// `TryBlock::Orphaned`, ordered by that Release and the reader's Acquire (also checked
// by loom).
unsafe impl Sync for Reader {}
// SAFETY: the cache holds global-allocator nodes of `usize`; nothing thread-bound.
unsafe impl Send for Reader {}

impl Reader {
    fn new() -> Self {
        Self {
            state: UnsafeCell::new(ReaderState {
                cache: Cache::new(),
                handled: Vec::new(),
                dropped: Vec::new(),
                ended: 0,
            }),
            note: UnsafeCell::new(0),
        }
    }

    /// Runs the reader until it blocks or ends: handles everything queued, then tries
    /// to block; on `Sealed` it reads the sealer's note, ends and closes the inbox.
    ///
    /// # Safety
    ///
    /// The caller holds the right to run (as for [`Actor::run`]).
    unsafe fn run(&self, inbox: &Inbox<'static, usize>) {
        loop {
            // SAFETY: the caller holds the right to run: exclusive access (loom checks).
            self.state.with_mut(|state| unsafe {
                while let Some(message) = (*state).cache.next_from(inbox) {
                    (*state).handled.push(message.into_payload());
                }
            });
            match inbox.try_block() {
                TryBlock::Blocked => return,
                TryBlock::HasMessages => continue,
                TryBlock::Sealed => {
                    // SAFETY: written by the sealer before `seal`; `Sealed` acquired it.
                    let note = self.note.with(|note| unsafe { *note });
                    assert_eq!(note, 1, "the ending reader sees what the sealer wrote");
                    // SAFETY: we still hold the right to run.
                    self.state.with_mut(|state| unsafe { (*state).ended += 1 });
                    assert!(
                        inbox.close().is_empty(),
                        "a sealed, drained inbox holds nothing"
                    );
                    return;
                }
                TryBlock::Orphaned => {
                    // SAFETY: written by the orphaner before `orphan`; `Orphaned`
                    // acquired it.
                    let note = self.note.with(|note| unsafe { *note });
                    assert_eq!(note, 2, "the reader sees what the orphaner wrote");
                    // SAFETY: we still hold the right to run.
                    unsafe { self.end(inbox) };
                    return;
                }
                TryBlock::Closed => panic!("only the ending reader closes, once"),
            }
        }
    }

    /// Ends the reader as an owner nobody can reach: closes the inbox and drops what is
    /// in it (a push may have come in since the last look).
    ///
    /// # Safety
    ///
    /// The caller holds the right to run (as for [`Actor::run`]).
    unsafe fn end(&self, inbox: &Inbox<'static, usize>) {
        // SAFETY: the caller holds the right to run: exclusive access (loom checks).
        self.state.with_mut(|state| unsafe {
            (*state).ended += 1;
            for message in inbox.close() {
                (*state).dropped.push(message.into_payload());
            }
        });
    }
}

/// Model (f): `orphan` racing a push and the reader's `try_block`. An orphaner writes a
/// note (standing for its reference given up), then orphans the inbox: on `Claimed` it
/// holds the run right and ends the reader itself; on `Flagged` the reader must find
/// the flag before it can block. A producer pushes one message (running the reader if
/// its push unblocked it); the reader starts running on the main thread
/// (`reader_running`) or blocked.
///
/// Asserts: the reader ends exactly once (an orphaned reader is never left asleep,
/// which a lost flag or a `try_block` that ignores it would do); when the reader ends
/// on the flag, it sees the note; the message is handled, dropped at the end, or handed
/// back, exactly once; the inbox ends closed.
fn orphan_races_push_and_try_block(reader_running: bool) {
    ::loom::model(move || {
        let (inbox, reader) = reader_setup(reader_running);
        let sched = Interleave::new();

        let producer = spawn_pusher(&inbox, &reader, &sched);
        let orphaner = {
            let (inbox, reader, sched) = (Arc::clone(&inbox), Arc::clone(&reader), sched.clone());
            thread::spawn(move || {
                // SAFETY: only the orphaner writes the note, before orphaning.
                reader.note.with_mut(|note| unsafe { *note = 2 });
                sched.point();
                match inbox.orphan() {
                    // SAFETY: the claim took the run right from a blocked inbox.
                    Orphan::Claimed => unsafe { reader.end(&inbox) },
                    Orphan::Flagged => {}
                    Orphan::Closed => panic!("only the ending reader closes, after the orphan"),
                }
            })
        };
        if reader_running {
            sched.point();
            // SAFETY: the inbox started unblocked with the main thread as its reader.
            unsafe { reader.run(&inbox) };
        }
        let refused = producer.join().expect("producer panicked");
        orphaner.join().expect("orphaner panicked");

        assert!(inbox.is_closed(), "the orphaned reader ended and closed");
        // SAFETY: every thread is joined; the reader has ended.
        reader.state.with(|state| unsafe {
            assert_eq!((*state).ended, 1, "the reader ends exactly once");
            let (handled, dropped) = (&(*state).handled, &(*state).dropped);
            assert_eq!(
                handled.len() + dropped.len() + usize::from(refused),
                1,
                "handled, dropped or refused, exactly once: handled {handled:?}, \
                 dropped {dropped:?}, refused {refused}"
            );
        });
    });
}

#[test]
fn orphan_races_push_and_running_reader() {
    orphan_races_push_and_try_block(true);
}

#[test]
fn orphan_races_push_and_blocked_reader() {
    orphan_races_push_and_try_block(false);
}

/// The inbox of the seal and orphan models, unblocked with the main thread as its
/// reader (`reader_running`) or blocked, and its reader.
fn reader_setup(reader_running: bool) -> (Arc<Inbox<'static, usize>>, Arc<Reader>) {
    let inbox = if reader_running {
        Inbox::new_unblocked()
    } else {
        Inbox::new()
    };
    (Arc::new(inbox), Arc::new(Reader::new()))
}

/// Spawns the producer of the seal and orphan models: it pushes 7, running the reader
/// if its push unblocked the inbox. Its thread returns whether 7 was handed back.
fn spawn_pusher(
    inbox: &Arc<Inbox<'static, usize>>,
    reader: &Arc<Reader>,
    sched: &Interleave,
) -> thread::JoinHandle<bool> {
    let (inbox, reader, sched) = (Arc::clone(inbox), Arc::clone(reader), sched.clone());
    thread::spawn(move || {
        sched.point();
        match inbox.push(envelope(7)) {
            Enqueued::Queued => false,
            Enqueued::Unblocked => {
                // SAFETY: our push unblocked the inbox: we hold the right to run.
                unsafe { reader.run(&inbox) };
                false
            }
            Enqueued::Closed(message) => {
                assert_eq!(message.into_payload(), 7);
                true
            }
        }
    })
}

/// Model (e): `seal` racing a push and the reader's `try_block`. A sealer writes a note,
/// then seals (running the reader itself if the seal unblocked it); a producer pushes
/// one message (running the reader if its push unblocked it); the reader either starts
/// running on the main thread (`reader_running`) or starts blocked.
///
/// Asserts: the reader ends exactly once (a seal never leaves it asleep), and reads the
/// note the sealer wrote before sealing (the seal's Release and the Acquire of
/// `TryBlock::Sealed` or of the unblocking seal); the message is handled exactly once
/// or handed back to its producer, never both and never neither; the inbox ends closed.
fn seal_races_push_and_try_block(reader_running: bool) {
    ::loom::model(move || {
        let (inbox, reader) = reader_setup(reader_running);
        let sched = Interleave::new();

        let producer = spawn_pusher(&inbox, &reader, &sched);
        let sealer = {
            let (inbox, reader, sched) = (Arc::clone(&inbox), Arc::clone(&reader), sched.clone());
            thread::spawn(move || {
                // SAFETY: only the sealer writes the note, before sealing.
                reader.note.with_mut(|note| unsafe { *note = 1 });
                sched.point();
                match inbox.seal() {
                    // SAFETY: the seal unblocked the inbox: we hold the right to run.
                    Seal::Unblocked => unsafe { reader.run(&inbox) },
                    Seal::Sealed => {}
                    other => panic!("one seal of an open inbox: {other:?}"),
                }
            })
        };
        if reader_running {
            sched.point();
            // SAFETY: the inbox started unblocked with the main thread as its reader.
            unsafe { reader.run(&inbox) };
        }
        let refused = producer.join().expect("producer panicked");
        sealer.join().expect("sealer panicked");

        assert!(
            inbox.is_closed(),
            "the sealed reader ran and closed the inbox"
        );
        // SAFETY: every thread is joined; the reader has ended.
        reader.state.with(|state| unsafe {
            assert_eq!((*state).ended, 1, "the reader ends exactly once");
            let handled = &(*state).handled;
            assert_eq!(
                handled.len() + usize::from(refused),
                1,
                "handled or refused, exactly once: handled {handled:?}, refused {refused}"
            );
        });
    });
}

#[test]
fn seal_races_push_and_running_reader() {
    seal_races_push_and_try_block(true);
}

#[test]
fn seal_races_push_and_blocked_reader() {
    seal_races_push_and_try_block(false);
}
