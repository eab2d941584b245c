//! Request nodes: every combination of how the reply side and the asking side end,
//! table-driven; each ends with the value dropped exactly once and the node freed.

#![cfg(not(zeta_loom))]

mod common;

use std::sync::atomic::{AtomicU32, Ordering};

use zeta_arena::{CountingResource, GlobalResource, NullResource, PoolResource};
use zeta_mailbox::{Cache, Enqueued, Envelope, Inbox, NoReply, Pending, Priority, Reply};

/// A reply value that counts its drops.
struct Value<'d>(u64, &'d AtomicU32);

impl Drop for Value<'_> {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
}

struct Ask<'r, 'd> {
    question: u64,
    reply: Reply<'r, Value<'d>>,
}

/// How the handler side ends.
#[derive(Clone, Copy, Debug)]
enum Handler {
    /// Dispatched; replies.
    Replies,
    /// Dispatched; drops the Reply without answering.
    Forgets,
    /// Never dispatched: the envelope is dropped (inbox closed, actor stopped).
    Unhandled,
    /// Dispatched; panics while holding the Reply (unwinding drops it).
    Panics,
}

/// How the asking side ends.
#[derive(Clone, Copy, Debug)]
enum Asker {
    /// Takes the reply after the handler ran.
    Takes,
    /// Cancels before the handler runs.
    CancelsBefore,
    /// Drops the Pending after the handler ran, without reading.
    DropsAfter,
    /// Cancels explicitly after the handler ran.
    CancelsAfter,
}

#[test]
fn every_combination_frees_the_node_and_drops_the_value_once() {
    let handlers = [
        Handler::Replies,
        Handler::Forgets,
        Handler::Unhandled,
        Handler::Panics,
    ];
    let askers = [
        Asker::Takes,
        Asker::CancelsBefore,
        Asker::DropsAfter,
        Asker::CancelsAfter,
    ];
    for handler in handlers {
        for asker in askers {
            let drops = AtomicU32::new(0);
            let pool = CountingResource::new(PoolResource::new());
            let (message, pending) =
                Envelope::new_request_in(&pool, Priority::Normal, |reply| Ask {
                    question: 21,
                    reply,
                })
                .unwrap();
            assert_eq!(pool.live_blocks(), 1, "one allocation per request");
            let mut pending = Some(pending);
            if let Asker::CancelsBefore = asker {
                pending.take().unwrap().cancel();
            }
            let mut sent = None;
            match handler {
                Handler::Replies => {
                    let Ask { question, reply } = message.into_payload();
                    let cancelled = reply.is_cancelled();
                    sent = Some(reply.send(Value(question * 2, &drops)).is_ok());
                    assert_eq!(sent, Some(!cancelled));
                }
                Handler::Forgets => drop(message.into_payload()),
                Handler::Unhandled => drop(message),
                Handler::Panics => {
                    let ask = message.into_payload();
                    let result =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                            let _held = ask;
                            panic!("handler fails");
                        }));
                    assert!(result.is_err());
                }
            }
            match asker {
                Asker::Takes => {
                    let mut pending = pending.take().unwrap();
                    assert!(pending.is_ready(), "{handler:?}");
                    match (handler, pending.try_take()) {
                        (Handler::Replies, Some(Ok(value))) => assert_eq!(value.0, 42),
                        (_, Some(Err(NoReply))) if !matches!(handler, Handler::Replies) => {}
                        (_, other) => {
                            panic!("{handler:?}/{asker:?}: {:?}", other.map(|r| r.map(|v| v.0)))
                        }
                    }
                    assert!(
                        matches!(pending.try_take(), Some(Err(NoReply))),
                        "taken once"
                    );
                }
                Asker::CancelsBefore => {}
                Asker::DropsAfter => drop(pending.take()),
                Asker::CancelsAfter => pending.take().unwrap().cancel(),
            }
            let expected_drops = u32::from(matches!(handler, Handler::Replies));
            assert_eq!(
                drops.load(Ordering::Relaxed),
                expected_drops,
                "{handler:?}/{asker:?}: value drops"
            );
            assert_eq!(pool.live_blocks(), 0, "{handler:?}/{asker:?}: node freed");
            let _ = sent;
        }
    }
}

/// Requests closed in an inbox resolve to `NoReply` instead of hanging.
#[test]
fn requests_in_a_closed_inbox_resolve_to_no_reply() {
    let pool = CountingResource::new(PoolResource::new());
    {
        let inbox: Inbox<'_, Ask<'_, 'static>> = Inbox::new_unblocked();
        let mut pendings: Vec<Pending<'_, Value<'static>>> = Vec::new();
        for question in 0..10 {
            let (message, pending) =
                Envelope::new_request_in(&pool, Priority::High, |reply| Ask { question, reply })
                    .unwrap();
            assert!(matches!(inbox.push(message), Enqueued::Queued));
            pendings.push(pending);
        }
        drop(inbox.close());
        for mut pending in pendings {
            assert!(matches!(pending.try_take(), Some(Err(NoReply))));
        }
        // After the close, a request comes straight back: dropping it answers NoReply.
        let (message, mut pending) =
            Envelope::new_request_in(&pool, Priority::Normal, |reply| Ask { question: 0, reply })
                .unwrap();
        match inbox.push(message) {
            Enqueued::Closed(back) => drop(back),
            other => panic!("{other:?}"),
        }
        assert_eq!(pending.try_take().map(|r| r.is_err()), Some(true));
    }
    assert_eq!(pool.live_blocks(), 0);
}

/// One thread asks, another answers, through an inbox and a pool: every request gets its
/// own answer.
#[test]
fn ask_and_answer_across_threads() {
    const N: u64 = 20_000;
    static NO_DROPS: AtomicU32 = AtomicU32::new(0);
    let pool = CountingResource::new(PoolResource::new());
    {
        let inbox: Inbox<'_, Ask<'_, 'static>> = Inbox::new_unblocked();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut cache = Cache::new();
                let mut answered = 0;
                while answered < N {
                    match cache.next_from(&inbox) {
                        Some(message) => {
                            let Ask { question, reply } = message.into_payload();
                            let _ = reply.send(Value(question * question, &NO_DROPS));
                            answered += 1;
                        }
                        None => std::hint::spin_loop(),
                    }
                }
            });
            for question in 0..N {
                let (message, mut pending) =
                    Envelope::new_request_in(&pool, Priority::Normal, |reply| Ask {
                        question,
                        reply,
                    })
                    .unwrap();
                assert!(matches!(inbox.push(message), Enqueued::Queued));
                let answer = loop {
                    if let Some(answer) = pending.try_take() {
                        break answer;
                    }
                    std::hint::spin_loop();
                };
                assert_eq!(answer.map(|v| v.0), Ok(question * question));
            }
        });
    }
    assert_eq!(
        NO_DROPS.load(Ordering::Relaxed),
        N as u32,
        "every answer dropped once"
    );
    assert_eq!(pool.live_blocks(), 0);
}

#[test]
fn a_failing_allocation_builds_nothing() {
    let mut called = false;
    let result =
        Envelope::new_request_in(&NullResource, Priority::Normal, |reply: Reply<'_, u8>| {
            called = true;
            reply
        });
    assert!(result.is_err());
    assert!(!called);
}

#[test]
fn a_panicking_builder_frees_the_node() {
    let counting = CountingResource::new(GlobalResource);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ =
            Envelope::new_request_in(&counting, Priority::Normal, |_reply: Reply<'_, u8>| -> u8 {
                panic!("builder fails")
            });
    }));
    assert!(result.is_err());
    assert_eq!(counting.live_blocks(), 0);
}

#[test]
fn send_to_a_cancelled_request_gives_the_value_back() {
    let (message, pending) = Envelope::new_request_in(
        &GlobalResource,
        Priority::Normal,
        |reply: Reply<'_, String>| reply,
    )
    .unwrap();
    pending.cancel();
    let reply = message.into_payload();
    assert!(reply.is_cancelled());
    assert_eq!(reply.send("late".into()), Err("late".to_string()));
    assert_eq!(
        NoReply.to_string(),
        "the request will never be answered: its reply was dropped"
    );
}

static_assertions::assert_impl_all!(Reply<'static, u64>: Send, Sync);
static_assertions::assert_impl_all!(Pending<'static, u64>: Send, Sync);
static_assertions::assert_not_impl_any!(Reply<'static, std::rc::Rc<u8>>: Send);
