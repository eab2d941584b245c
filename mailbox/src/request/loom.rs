//! loom models of the request slot protocol (see the [parent module](super) for the
//! protocol).
//!
//! Run with `RUSTFLAGS="--cfg zeta_loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2
//! cargo test --release -p zeta-mailbox --lib`. Every model has at most three threads
//! (the main thread included) and one request.
//!
//! What every model checks:
//!
//! - The node: each `#[test]` has its own `static` [`CountingResource`] (made by
//!   [`counting!`]), and every iteration ends with `live_blocks() == 0` (and starts with
//!   it, in [`ask`]): a node never freed stays counted, and one freed twice wraps the
//!   count (if the allocator does not abort first).
//! - The value: a [`Value`] counts its drops in a loom `Arc<AtomicUsize>`, so each model
//!   asserts that the value sent was dropped exactly once, by whoever ended with it (the
//!   asker after taking it, the replier when `send` gave it back, or the last holder
//!   with the node); a value never dropped also leaks its loom `Arc`, which loom reports.
//! - The ordering: the value lives in the slot's loom cell, so loom checks that its
//!   write (`Reply::send`), its read (`Pending::try_take`) and its drop with the node
//!   (`free_node`) are ordered by happens-before: the Release that sets `VALUE` against
//!   the Acquire in `try_take`, and the AcqRel decrement in `release` for the last
//!   holder.
//!
//! - The waker (models 5 to 7): the wakers are [`Wakes`], loom-visible (their count is a
//!   loom atomic, their clones counts of a loom `Arc`, so a stored waker never dropped
//!   leaks and loom reports it). The waker lives in the slot's loom cell, so loom checks
//!   that the `Pending`'s writes (store, replace) and the replier's read (`wake_by_ref`)
//!   never race, and that the free's drop comes after both. Each model asserts that no
//!   wake-up is lost: a poll that returned `Pending` is followed by a wake of the waker
//!   it stored.
//!
//! Every thread calls [`Interleave::point`] before each slot operation: `send`,
//! `try_take`, `poll_take` and `is_cancelled` start with a plain load, the case loom's
//! DPOR misses (see there).

use ::loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use ::loom::sync::Arc;
use ::loom::thread;
use core::fmt;
use core::task::{Context, Poll, Waker};
use zeta_arena::{CountingResource, GlobalResource};

use super::{NoReply, Pending, Reply};
use crate::loom_support::{Interleave, Wakes};
use crate::{Envelope, Priority};

/// The node resource of the models: the global allocator, counted.
type Resource = CountingResource<GlobalResource>;

/// A fresh `&'static Resource`, one per expansion site.
///
/// Spawned threads need `'static` envelopes, hence a `static`; `cargo test` runs the
/// tests in parallel, hence one per `#[test]` (loom runs a model's iterations one after
/// the other, and each ends with the count back at zero).
macro_rules! counting {
    () => {{
        static RESOURCE: Resource = Resource::new(GlobalResource);
        &RESOURCE
    }};
}

/// What a [`Value`] holds while intact.
const MAGIC: u64 = 0x5EED_F00D_CAFE_0042;

/// The reply value: counts its drops.
struct Value {
    magic: u64,
    drops: Arc<AtomicUsize>,
}

impl Value {
    fn new(drops: &Arc<AtomicUsize>) -> Self {
        Self {
            magic: MAGIC,
            drops: Arc::clone(drops),
        }
    }

    /// Asserts the value arrived whole (loom has already checked the read's ordering).
    fn check(&self) {
        assert_eq!(self.magic, MAGIC, "the reply value is intact");
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        // Relaxed: the count is read after every thread has been joined.
        self.drops.fetch_add(1, Relaxed);
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Value({:#x})", self.magic)
    }
}

/// The request message: it carries the [`Reply`] (an `Option` so that model 4 can take
/// it out and leave the envelope behind).
struct Ask {
    reply: Option<Reply<'static, Value>>,
}

impl Ask {
    /// The reply of a dispatched request.
    fn into_reply(self) -> Reply<'static, Value> {
        self.reply.expect("every request is built with its reply")
    }
}

/// The asker's [`Pending`], forgotten instead of dropped if its thread panics.
///
/// loom reports a causality violation on the value by panicking inside the slot's cell
/// access (in `try_take`, say) and leaves the cell marked as in use; dropping the
/// `Pending` while unwinding may free the node, which touches the cell again, panics in
/// a destructor and aborts the whole test binary. Forgetting it lets the model fail
/// alone, with loom's message.
struct Asker(Option<Pending<'static, Value>>);

impl Asker {
    fn try_take(&mut self) -> Option<Result<Value, NoReply>> {
        self.pending().try_take()
    }

    fn is_ready(&self) -> bool {
        self.0.as_ref().is_some_and(Pending::is_ready)
    }

    fn poll_take(&mut self, waker: &Waker) -> Poll<Result<Value, NoReply>> {
        self.pending().poll_take(&mut Context::from_waker(waker))
    }

    fn wait(&mut self) -> Option<Result<Value, NoReply>> {
        self.pending().wait_until(None)
    }

    /// Cancels the request explicitly ([`Pending::cancel`]; dropping does the same).
    fn cancel(mut self) {
        if let Some(pending) = self.0.take() {
            pending.cancel();
        }
    }

    fn pending(&mut self) -> &mut Pending<'static, Value> {
        self.0
            .as_mut()
            .expect("the Pending goes only with the Asker")
    }
}

impl Drop for Asker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            core::mem::forget(self.0.take());
        }
    }
}

/// Allocates a request from `resource`, which must hold nothing else.
fn ask(resource: &'static Resource) -> (Envelope<'static, Ask>, Asker) {
    assert_eq!(
        resource.live_blocks(),
        0,
        "the previous iteration freed its node"
    );
    let (envelope, pending) = Envelope::new_request_in(resource, Priority::Normal, |reply| Ask {
        reply: Some(reply),
    })
    .expect("the global allocator failed");
    (envelope, Asker(Some(pending)))
}

/// The end of every iteration (all threads joined): `values` values were dropped, once
/// each, and the node went back.
fn settled(resource: &Resource, drops: &AtomicUsize, values: usize) {
    assert_eq!(
        drops.load(Relaxed),
        values,
        "each value dropped exactly once"
    );
    assert_eq!(resource.live_blocks(), 0, "the node freed exactly once");
}

/// Sends a fresh value; returns whether it landed in the slot. A value given back is
/// checked and dropped here.
fn send(reply: Reply<'static, Value>, drops: &Arc<AtomicUsize>) -> bool {
    match reply.send(Value::new(drops)) {
        Ok(()) => true,
        Err(value) => {
            value.check();
            false
        }
    }
}

/// Model 1: the handler (thread A) dispatches the request, checks `is_cancelled` and
/// sends a value, while the asker (thread B) cancels the request, after polling it once
/// if `poll_first`. The main thread only builds the request, joins both and checks.
///
/// The asker is not the main thread so that loom needs no preemption to start it: the
/// main thread blocks in `join`. A take that lands between `send`'s `fetch_or(VALUE)`
/// and its release, followed by the cancel, leaves the handler to free the node with
/// a value that was taken; that schedule then costs one preemption (inside `send`)
/// instead of two, and fits the bound of 2.
///
/// Asserts: the value is dropped exactly once, whichever way it went (taken by the
/// asker, given back by `send` and dropped on A, or left in the slot and dropped with
/// the node by the last of the three holders; loom checks the drop's ordering against
/// the write); a `send` after `is_cancelled` returned true gives the value back; a poll
/// never sees `NoReply` (the reply is sent); the node is freed.
fn reply_races_cancel(resource: &'static Resource, poll_first: bool) {
    ::loom::model(move || {
        let drops = Arc::new(AtomicUsize::new(0));
        let sched = Interleave::new();
        let (envelope, mut pending) = ask(resource);
        let handler = {
            let (drops, sched) = (Arc::clone(&drops), sched.clone());
            thread::spawn(move || {
                sched.point();
                let reply = envelope.into_payload().into_reply();
                sched.point();
                let cancelled = reply.is_cancelled();
                sched.point();
                let sent = send(reply, &drops);
                assert!(
                    !(cancelled && sent),
                    "sent after is_cancelled said cancelled"
                );
                sent
            })
        };
        let asker = {
            let sched = sched.clone();
            thread::spawn(move || {
                let mut taken = None;
                if poll_first {
                    sched.point();
                    match pending.try_take() {
                        None => {}
                        Some(Ok(value)) => {
                            value.check();
                            taken = Some(value);
                        }
                        Some(Err(NoReply)) => panic!("NoReply, but the reply is sent"),
                    }
                }
                sched.point();
                pending.cancel();
                // Kept until both threads are joined: a second drop of the value, with
                // the node, would show in the count.
                taken
            })
        };

        let sent = handler.join().expect("handler panicked");
        let taken = asker.join().expect("asker panicked");
        assert!(
            sent || taken.is_none(),
            "taken, yet send gave the value back"
        );
        drop(taken);
        settled(resource, &drops, 1);
    });
}

#[test]
fn reply_races_cancel_at_once() {
    reply_races_cancel(counting!(), false);
}

#[test]
fn reply_races_poll_then_cancel() {
    reply_races_cancel(counting!(), true);
}

/// Model 2: the handler (thread A) dispatches the request and sends a value while the
/// asker (main) polls it once; the asker polls again after joining A, and once more.
///
/// Asserts: `send` succeeds (the asker is there); the value comes out exactly once,
/// intact (loom checks that the Acquire of `try_take` orders the write in `send`
/// before the read), from the first poll or else from the one after the join; nothing
/// before it is `NoReply`, and every poll after it is; the value was not dropped
/// before the asker dropped it; the node is freed.
#[test]
fn reply_races_take() {
    let resource = counting!();
    ::loom::model(move || {
        let drops = Arc::new(AtomicUsize::new(0));
        let sched = Interleave::new();
        let (envelope, mut pending) = ask(resource);
        let handler = {
            let (drops, sched) = (Arc::clone(&drops), sched.clone());
            thread::spawn(move || {
                sched.point();
                let reply = envelope.into_payload().into_reply();
                sched.point();
                send(reply, &drops)
            })
        };

        sched.point();
        let first = pending.try_take();
        assert!(
            handler.join().expect("handler panicked"),
            "send failed, but the asker waits"
        );
        let value = match first {
            Some(Ok(value)) => value,
            None => match pending.try_take() {
                Some(Ok(value)) => value,
                other => panic!("after the join the value is there, got {other:?}"),
            },
            Some(Err(NoReply)) => panic!("NoReply, but the reply is sent"),
        };
        value.check();
        assert!(
            matches!(pending.try_take(), Some(Err(NoReply))),
            "taken once only"
        );
        assert!(pending.is_ready());
        assert_eq!(drops.load(Relaxed), 0, "dropped while the asker held it");
        drop(value);
        drop(pending);
        settled(resource, &drops, 1);
    });
}

/// Model 3: thread A lets the `Reply` go unsent, by dropping the envelope unhandled (as
/// `close` does) or, if `dispatch`, by dispatching it and dropping the `Reply` (a
/// handler that does not answer), while the asker (main) polls once, then drops the
/// `Pending` at once, or if `wait`, joins A first and polls again.
///
/// Asserts: no poll ever sees a value; a poll after the join sees `NoReply`; the node is
/// freed exactly once, whichever holder goes last.
fn unsent_reply_races_asker(resource: &'static Resource, dispatch: bool, wait: bool) {
    ::loom::model(move || {
        let drops = Arc::new(AtomicUsize::new(0));
        let sched = Interleave::new();
        let (envelope, mut pending) = ask(resource);
        let dropper = {
            let sched = sched.clone();
            thread::spawn(move || {
                sched.point();
                if dispatch {
                    let reply = envelope.into_payload().into_reply();
                    sched.point();
                    drop(reply);
                } else {
                    drop(envelope);
                }
            })
        };

        sched.point();
        let first = pending.try_take();
        assert!(
            matches!(first, None | Some(Err(NoReply))),
            "a value from an unsent reply: {first:?}"
        );
        if wait {
            dropper.join().expect("dropper panicked");
            assert!(
                matches!(pending.try_take(), Some(Err(NoReply))),
                "NoReply after the join"
            );
            assert!(pending.is_ready());
            drop(pending);
        } else {
            sched.point();
            drop(pending);
            dropper.join().expect("dropper panicked");
        }
        settled(resource, &drops, 0);
    });
}

#[test]
fn envelope_dropped_races_cancel() {
    unsent_reply_races_asker(counting!(), false, false);
}

#[test]
fn envelope_dropped_races_poll() {
    unsent_reply_races_asker(counting!(), false, true);
}

#[test]
fn reply_dropped_races_cancel() {
    unsent_reply_races_asker(counting!(), true, false);
}

#[test]
fn reply_dropped_races_poll() {
    unsent_reply_races_asker(counting!(), true, true);
}

/// Model 4: the three holders go on three threads, in any order. Thread A takes the
/// `Reply` out of the payload (leaving the envelope undispatched), hands it to thread
/// B, and drops the envelope (the payload's share); B sends a value if `answer`, else
/// drops the `Reply`; the asker (main) polls once and drops the `Pending`.
///
/// Asserts: a poll sees the value only if B sent it, and `NoReply` only if B did not;
/// the value is dropped exactly once (by main after taking it, by B when `send` gave
/// it back, or with the node by whichever of the three threads releases last); the
/// node is freed exactly once.
fn holders_on_three_threads(resource: &'static Resource, answer: bool) {
    ::loom::model(move || {
        let drops = Arc::new(AtomicUsize::new(0));
        let sched = Interleave::new();
        let (mut envelope, mut pending) = ask(resource);
        let holder = {
            let (drops, sched) = (Arc::clone(&drops), sched.clone());
            thread::spawn(move || {
                let reply = envelope
                    .payload_mut()
                    .reply
                    .take()
                    .expect("built with a reply");
                let replier = {
                    let sched = sched.clone();
                    thread::spawn(move || {
                        sched.point();
                        if answer {
                            send(reply, &drops)
                        } else {
                            drop(reply);
                            false
                        }
                    })
                };
                sched.point();
                drop(envelope);
                replier
            })
        };

        sched.point();
        let taken = pending.try_take();
        sched.point();
        drop(pending);

        let replier = holder.join().expect("holder panicked");
        let sent = replier.join().expect("replier panicked");
        match taken {
            Some(Ok(value)) => {
                assert!(sent, "a value taken that send gave back");
                value.check();
            }
            Some(Err(NoReply)) => assert!(!answer, "NoReply, but the reply is sent"),
            None => {}
        }
        settled(resource, &drops, usize::from(answer));
    });
}

#[test]
fn holders_on_three_threads_answered() {
    holders_on_three_threads(counting!(), true);
}

#[test]
fn holders_on_three_threads_unanswered() {
    holders_on_three_threads(counting!(), false);
}

/// Model 5: the handler (thread A) dispatches the request and sends a value while the
/// asker (thread B) polls it once with a waker; the main thread joins both.
///
/// Asserts: no lost wake-up. The poll is either `Ready(Ok)` on its own, and then nobody
/// woke its waker (the send came first, before `WAKER` was set), or `Pending`, and then
/// the waker was woken exactly once and a poll after the join is `Ready(Ok)`; either
/// way the next poll is `Ready(Err(NoReply))`. The value and the stored waker are
/// dropped exactly once (loom reports a leaked waker `Arc`), the node is freed.
#[test]
fn send_races_waker_registration() {
    let resource = counting!();
    ::loom::model(move || {
        let drops = Arc::new(AtomicUsize::new(0));
        let sched = Interleave::new();
        let wakes = Wakes::new();
        let (envelope, mut pending) = ask(resource);
        let handler = {
            let (drops, sched) = (Arc::clone(&drops), sched.clone());
            thread::spawn(move || {
                sched.point();
                let reply = envelope.into_payload().into_reply();
                sched.point();
                send(reply, &drops)
            })
        };
        let asker = {
            let (sched, waker) = (sched.clone(), Wakes::waker(&wakes));
            thread::spawn(move || {
                sched.point();
                let first = pending.poll_take(&waker);
                (pending, first, waker)
            })
        };

        assert!(handler.join().expect("handler panicked"), "send failed");
        let (mut pending, first, waker) = asker.join().expect("asker panicked");
        let value = match first {
            Poll::Ready(Ok(value)) => {
                assert_eq!(wakes.count(), 0, "woken, but Ready on its own");
                value
            }
            Poll::Pending => {
                assert_eq!(wakes.count(), 1, "lost wake-up: Pending, and never woken");
                match pending.poll_take(&waker) {
                    Poll::Ready(Ok(value)) => value,
                    other => panic!("woken, then {other:?}"),
                }
            }
            Poll::Ready(Err(NoReply)) => panic!("NoReply, but the reply is sent"),
        };
        value.check();
        assert!(
            matches!(pending.poll_take(&waker), Poll::Ready(Err(NoReply))),
            "a poll after Ready(Ok) is Ready(Err(NoReply))"
        );
        assert!(wakes.count() <= 1, "woken twice");
        drop((value, pending, waker));
        settled(resource, &drops, 1);
    });
}

/// Model 6: thread A dispatches the request and drops the `Reply` unsent (or, if
/// `answer`, sends a value), while the asker (thread B) polls with waker `a`, then
/// polls with a different waker `b` (the replacement: clear `WAKER`, drop `a`, store
/// `b`, set `WAKER`). Main joins both, then polls once more.
///
/// Asserts: no data race on the waker cell (loom's cell: the replacement's writes never
/// overlap the replier's `wake_by_ref`, and the free's drop comes after both); no lost
/// wake-up: unless a poll was `Ready`, `b` was woken, once; `a` is woken only if the
/// completion came while it was stored, and then the second poll is `Ready`; the results
/// are those of the completion; every waker clone is dropped once, the node freed.
fn reply_races_waker_replacement(resource: &'static Resource, answer: bool) {
    ::loom::model(move || {
        let drops = Arc::new(AtomicUsize::new(0));
        let sched = Interleave::new();
        let (a, b) = (Wakes::new(), Wakes::new());
        let (envelope, mut pending) = ask(resource);
        let replier = {
            let (drops, sched) = (Arc::clone(&drops), sched.clone());
            thread::spawn(move || {
                sched.point();
                let reply = envelope.into_payload().into_reply();
                sched.point();
                if answer {
                    assert!(send(reply, &drops), "send failed, but the asker waits");
                } else {
                    drop(reply);
                }
            })
        };
        let asker = {
            let sched = sched.clone();
            let (waker_a, waker_b) = (Wakes::waker(&a), Wakes::waker(&b));
            thread::spawn(move || {
                sched.point();
                let first = pending.poll_take(&waker_a);
                let second = if first.is_ready() {
                    None
                } else {
                    sched.point();
                    Some(pending.poll_take(&waker_b))
                };
                (pending, first, second, waker_b)
            })
        };

        replier.join().expect("replier panicked");
        let (mut pending, first, second, waker_b) = asker.join().expect("asker panicked");
        let expected = |result: Result<Value, NoReply>| match (answer, result) {
            (true, Ok(value)) => value.check(),
            (false, Err(NoReply)) => {}
            (_, other) => panic!("answer: {answer}, got {other:?}"),
        };
        match (first, second) {
            (Poll::Ready(result), None) => {
                expected(result);
                assert_eq!((a.count(), b.count()), (0, 0), "woken, but Ready at once");
            }
            (Poll::Pending, Some(Poll::Ready(result))) => {
                expected(result);
                assert_eq!(b.count(), 0, "b woken, but never stored");
                assert!(a.count() <= 1, "a woken twice");
            }
            (Poll::Pending, Some(Poll::Pending)) => {
                assert_eq!(
                    (a.count(), b.count()),
                    (0, 1),
                    "lost wake-up: b stored, and not woken once (or a woken after it went)"
                );
                match pending.poll_take(&waker_b) {
                    Poll::Ready(result) => expected(result),
                    Poll::Pending => panic!("b woken, yet still Pending"),
                }
            }
            (first, second) => panic!("impossible polls: {first:?}, then {second:?}"),
        }
        assert!(
            matches!(pending.poll_take(&waker_b), Poll::Ready(Err(NoReply))),
            "complete and taken: Ready(Err(NoReply))"
        );
        drop((pending, waker_b));
        settled(resource, &drops, usize::from(answer));
    });
}

#[test]
fn reply_dropped_races_waker_replacement() {
    reply_races_waker_replacement(counting!(), false);
}

#[test]
fn send_races_waker_replacement() {
    reply_races_waker_replacement(counting!(), true);
}

/// Model 7: the asker (thread B) waits with `wait_until(None)` while the handler
/// (thread A) dispatches the request and sends a value, or if not `answer`, drops the
/// `Reply`. Under loom the park is a yield and the loop re-checks the state word (see
/// `crate::sync`), so this checks the waiting loop and the `PARKED` bit, not
/// `parking_lot_core`'s handshake.
///
/// Asserts: the wait ends (loom reports a deadlock if a waiter could yield forever),
/// with the value if it was sent, `NoReply` if not; the value is dropped once, the node
/// freed.
fn wait_races_reply(resource: &'static Resource, answer: bool) {
    ::loom::model(move || {
        let drops = Arc::new(AtomicUsize::new(0));
        let sched = Interleave::new();
        let (envelope, mut pending) = ask(resource);
        let replier = {
            let (drops, sched) = (Arc::clone(&drops), sched.clone());
            thread::spawn(move || {
                sched.point();
                let reply = envelope.into_payload().into_reply();
                sched.point();
                if answer {
                    assert!(send(reply, &drops), "send failed, but the asker waits");
                } else {
                    drop(reply);
                }
            })
        };
        let asker = {
            let sched = sched.clone();
            thread::spawn(move || {
                sched.point();
                let result = pending.wait();
                (pending, result)
            })
        };

        replier.join().expect("replier panicked");
        let (pending, result) = asker.join().expect("asker panicked");
        match (answer, result) {
            (true, Some(Ok(value))) => value.check(),
            (false, Some(Err(NoReply))) => {}
            (_, other) => panic!("answer: {answer}, wait_until(None) gave {other:?}"),
        }
        drop(pending);
        settled(resource, &drops, usize::from(answer));
    });
}

#[test]
fn wait_races_send() {
    wait_races_reply(counting!(), true);
}

#[test]
fn wait_races_reply_dropped() {
    wait_races_reply(counting!(), false);
}

/// Model 8: the decided race. The handler (thread A) answers with
/// `Reply::send_unless_cancelled` while the asker (thread B) takes the request back
/// with `Pending::cancel_unanswered`: exactly one of the two learns that it came first
/// (a monitor's `Down` against its `demonitor`), and the value is dropped once (with
/// the node, since nobody takes it), the node freed once.
///
/// Breaking it on purpose: with `send_unless_cancelled` deciding by a load of the word
/// before its `fetch_or` (as `send` checks), both sides can win.
#[test]
fn decided_send_races_decided_cancel() {
    let resource: &'static Resource = counting!();
    ::loom::model(move || {
        let drops = Arc::new(AtomicUsize::new(0));
        let sched = Interleave::new();
        let (envelope, mut asker) = ask(resource);
        let pending = asker.0.take().expect("fresh");
        let handler = {
            let (drops, sched) = (Arc::clone(&drops), sched.clone());
            thread::spawn(move || {
                sched.point();
                let reply = envelope.into_payload().into_reply();
                sched.point();
                reply.send_unless_cancelled(Value::new(&drops))
            })
        };
        let canceller = {
            let sched = sched.clone();
            thread::spawn(move || {
                sched.point();
                pending.cancel_unanswered()
            })
        };
        let sent_first = handler.join().expect("handler panicked");
        let cancelled_first = canceller.join().expect("canceller panicked");
        assert!(
            sent_first != cancelled_first,
            "exactly one side is first (sent first: {sent_first}, cancelled first: {cancelled_first})"
        );
        settled(resource, &drops, 1);
    });
}
