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

// ---------------------------------------------------------------------------------------
// Waiting for the reply: `Pending::poll_take` (a waker) and `Pending::wait_until` (park).
// ---------------------------------------------------------------------------------------

mod wakers {
    //! A waker that counts its clones, drops and wake-ups (a hand-made `RawWaker` over an
    //! `Arc`, so that a waker dropped twice or never shows in the counts).

    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Arc;
    use std::task::{RawWaker, RawWakerVTable, Waker};

    #[derive(Default)]
    pub struct Counts {
        /// Wakers made: by `waker`, or by cloning one.
        pub clones: AtomicUsize,
        pub drops: AtomicUsize,
        pub wakes: AtomicUsize,
        /// Panic in `wake`/`wake_by_ref` (after counting).
        pub panics: bool,
    }

    impl Counts {
        pub fn wakes(&self) -> usize {
            self.wakes.load(Relaxed)
        }

        /// Wakers made and not yet dropped.
        pub fn live(&self) -> usize {
            self.clones.load(Relaxed) - self.drops.load(Relaxed)
        }
    }

    /// A `static`, not a `const`: every `&CONST` may be its own copy (one per function
    /// it is inlined into, per codegen unit), and `Waker::will_wake` compares vtable
    /// addresses, so a const table made clones of one waker look like different wakers
    /// in release builds. A static has one address.
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop);

    fn raw(counts: *const Counts) -> RawWaker {
        RawWaker::new(counts.cast(), &VTABLE)
    }

    unsafe fn clone(data: *const ()) -> RawWaker {
        // SAFETY: `data` came from `Arc::into_raw` and the waker being cloned holds one.
        unsafe {
            Arc::increment_strong_count(data.cast::<Counts>());
            (*data.cast::<Counts>()).clones.fetch_add(1, Relaxed);
        }
        raw(data.cast())
    }

    unsafe fn wake(data: *const ()) {
        // SAFETY: as in `clone`; `wake` consumes the waker.
        unsafe {
            wake_by_ref(data);
            drop(data);
        }
    }

    unsafe fn wake_by_ref(data: *const ()) {
        // SAFETY: as in `clone`.
        let counts = unsafe { &*data.cast::<Counts>() };
        counts.wakes.fetch_add(1, Relaxed);
        if counts.panics {
            panic!("the waker panics");
        }
    }

    unsafe fn drop(data: *const ()) {
        // SAFETY: as in `clone`; this waker's count is given back once, here.
        unsafe {
            (*data.cast::<Counts>()).drops.fetch_add(1, Relaxed);
            Arc::decrement_strong_count(data.cast::<Counts>());
        }
    }

    /// A waker over `counts`.
    pub fn waker(counts: &Arc<Counts>) -> Waker {
        counts.clones.fetch_add(1, Relaxed);
        let data = Arc::into_raw(Arc::clone(counts));
        // SAFETY: the vtable functions uphold `RawWaker`'s contract for an `Arc<Counts>`
        // pointer: clone adds a count, drop and wake give one back.
        unsafe { Waker::from_raw(raw(data)) }
    }
}

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use wakers::Counts;

/// How the reply side ends, for the waker tests.
#[derive(Clone, Copy, Debug)]
enum Completion {
    /// The handler sends 42.
    Sends,
    /// The handler drops the Reply.
    DropsReply,
    /// The envelope is dropped undispatched.
    DropsEnvelope,
}

impl Completion {
    const ALL: [Self; 3] = [Self::Sends, Self::DropsReply, Self::DropsEnvelope];

    fn run<'d>(self, message: Envelope<'_, Reply<'_, Value<'d>>>, drops: &'d AtomicU32) {
        match self {
            Self::Sends => assert!(message.into_payload().send(Value(42, drops)).is_ok()),
            Self::DropsReply => drop(message.into_payload()),
            Self::DropsEnvelope => drop(message),
        }
    }

    fn check(self, result: Result<Value<'_>, NoReply>) {
        match (self, result) {
            (Self::Sends, Ok(Value(42, _))) => {}
            (Self::DropsReply | Self::DropsEnvelope, Err(NoReply)) => {}
            (_, other) => panic!("{self:?}: {:?}", other.map(|v| v.0)),
        }
    }
}

/// The tests below count clones, so they rely on `will_wake` recognising a clone of the
/// test waker (in release too: see `wakers::VTABLE`).
#[test]
fn the_test_waker_will_wake_its_clones() {
    let counts = Arc::new(Counts::default());
    let waker = wakers::waker(&counts);
    let clone = waker.clone();
    assert!(waker.will_wake(&clone) && clone.will_wake(&waker));
    assert!(waker.will_wake(&wakers::waker(&counts)));
    assert!(!waker.will_wake(&wakers::waker(&Arc::new(Counts::default()))));
}

#[test]
fn a_registered_waker_is_woken_once_then_poll_is_ready() {
    for completion in Completion::ALL {
        let drops = AtomicU32::new(0);
        let counts = Arc::new(Counts::default());
        let pool = CountingResource::new(PoolResource::new());
        {
            let (message, mut pending) =
                Envelope::new_request_in(&pool, Priority::Normal, |reply| reply).unwrap();
            let waker = wakers::waker(&counts);
            let mut cx = Context::from_waker(&waker);
            assert!(pending.poll_take(&mut cx).is_pending(), "{completion:?}");
            assert!(pending.poll_take(&mut cx).is_pending(), "{completion:?}");
            assert_eq!(counts.live(), 2, "ours, and one stored: {completion:?}");
            assert_eq!(counts.wakes(), 0);

            completion.run(message, &drops);
            assert_eq!(counts.wakes(), 1, "woken once: {completion:?}");
            match pending.poll_take(&mut cx) {
                Poll::Ready(result) => completion.check(result),
                Poll::Pending => panic!("{completion:?}: still pending after the wake"),
            }
            // Ready again, like `try_take` after the value is taken; never a panic.
            assert_eq!(
                pending.poll_take(&mut cx).map(|r| r.map(|v| v.0)),
                Poll::Ready(Err(NoReply))
            );
            assert_eq!(counts.wakes(), 1, "no second wake: {completion:?}");
            drop(pending);
        }
        assert_eq!(counts.live(), 0, "the stored waker dropped: {completion:?}");
        assert_eq!(Arc::strong_count(&counts), 1);
        assert_eq!(
            drops.load(Ordering::Relaxed),
            u32::from(matches!(completion, Completion::Sends))
        );
        assert_eq!(pool.live_blocks(), 0, "{completion:?}: node freed");
    }
}

#[test]
fn a_request_complete_before_the_poll_is_ready_without_a_waker() {
    for completion in Completion::ALL {
        let drops = AtomicU32::new(0);
        let counts = Arc::new(Counts::default());
        let pool = CountingResource::new(PoolResource::new());
        let (message, mut pending) =
            Envelope::new_request_in(&pool, Priority::Normal, |reply| reply).unwrap();
        completion.run(message, &drops);
        let waker = wakers::waker(&counts);
        match pending.poll_take(&mut Context::from_waker(&waker)) {
            Poll::Ready(result) => completion.check(result),
            Poll::Pending => panic!("{completion:?}: pending, but complete"),
        }
        assert_eq!(counts.live(), 1, "nothing stored, only ours");
        drop(pending);
        assert_eq!(pool.live_blocks(), 0);
    }
}

#[test]
fn re_registering_a_different_waker_wakes_only_the_new_one() {
    for completion in Completion::ALL {
        let drops = AtomicU32::new(0);
        let (a, b) = (Arc::new(Counts::default()), Arc::new(Counts::default()));
        let pool = CountingResource::new(PoolResource::new());
        {
            let (message, mut pending) =
                Envelope::new_request_in(&pool, Priority::Normal, |reply| reply).unwrap();
            let (waker_a, waker_b) = (wakers::waker(&a), wakers::waker(&b));
            assert!(pending
                .poll_take(&mut Context::from_waker(&waker_a))
                .is_pending());
            assert!(pending
                .poll_take(&mut Context::from_waker(&waker_b))
                .is_pending());
            assert_eq!(a.live(), 1, "the replaced waker is dropped at once");
            assert_eq!(b.live(), 2);
            // The same waker again: kept, not cloned anew.
            assert!(pending
                .poll_take(&mut Context::from_waker(&waker_b))
                .is_pending());
            assert_eq!(b.clones.load(Ordering::Relaxed), 2);

            completion.run(message, &drops);
            assert_eq!((a.wakes(), b.wakes()), (0, 1), "{completion:?}");
            match pending.poll_take(&mut Context::from_waker(&waker_b)) {
                Poll::Ready(result) => completion.check(result),
                Poll::Pending => panic!("{completion:?}: still pending after the wake"),
            }
        }
        assert_eq!((a.live(), b.live()), (0, 0), "{completion:?}");
        assert_eq!((Arc::strong_count(&a), Arc::strong_count(&b)), (1, 1));
        assert_eq!(pool.live_blocks(), 0, "{completion:?}: node freed");
    }
}

/// A waker registered, then the Pending dropped: the node keeps the waker until its last
/// holder frees it, drops it exactly once, and nobody wakes a task that has gone.
#[test]
fn a_waker_left_by_a_dropped_pending_is_dropped_once_with_the_node() {
    for completion in Completion::ALL {
        let drops = AtomicU32::new(0);
        let counts = Arc::new(Counts::default());
        let pool = CountingResource::new(PoolResource::new());
        let (message, mut pending) =
            Envelope::new_request_in(&pool, Priority::Normal, |reply| reply).unwrap();
        let waker = wakers::waker(&counts);
        assert!(pending
            .poll_take(&mut Context::from_waker(&waker))
            .is_pending());
        drop(pending);
        assert_eq!(counts.live(), 2, "kept while the Reply holds the node");
        match completion {
            Completion::Sends => {
                let back = message.into_payload().send(Value(42, &drops));
                assert!(back.is_err(), "cancelled: the value comes back");
            }
            _ => completion.run(message, &drops),
        }
        assert_eq!(counts.wakes(), 0, "{completion:?}: woke a cancelled asker");
        assert_eq!(counts.live(), 1, "{completion:?}: dropped with the node");
        assert_eq!(
            counts.drops.load(Ordering::Relaxed),
            1,
            "dropped exactly once"
        );
        drop(waker);
        assert_eq!(counts.live(), 0);
        assert_eq!(Arc::strong_count(&counts), 1);
        assert_eq!(pool.live_blocks(), 0, "{completion:?}: node freed");
    }
}

/// A waker that panics when woken: the completion still happens, the panic reaches the
/// replier, and the node is not leaked.
#[test]
fn a_panicking_waker_neither_leaks_the_node_nor_loses_the_reply() {
    for completion in [Completion::Sends, Completion::DropsReply] {
        let drops = AtomicU32::new(0);
        let counts = Arc::new(Counts {
            panics: true,
            ..Counts::default()
        });
        let pool = CountingResource::new(PoolResource::new());
        let (message, mut pending) =
            Envelope::new_request_in(&pool, Priority::Normal, |reply| reply).unwrap();
        let waker = wakers::waker(&counts);
        assert!(pending
            .poll_take(&mut Context::from_waker(&waker))
            .is_pending());
        let replier = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            completion.run(message, &drops)
        }));
        assert!(
            replier.is_err(),
            "{completion:?}: the waker's panic propagates"
        );
        assert_eq!(counts.wakes(), 1);
        completion.check(pending.try_take().expect("complete despite the panic"));
        drop(pending);
        drop(waker);
        assert_eq!(counts.live(), 0);
        assert_eq!(pool.live_blocks(), 0, "{completion:?}: node freed");
    }
}

/// A minimal executor for one future: polls it on this thread, parks between polls, and
/// is woken by a `Wake` that unparks the thread.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// `poll_take` as a future on one thread, replies from another: every answer arrives.
#[test]
fn poll_take_as_a_future_across_threads() {
    const N: u64 = 5_000;
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
                            if question % 3 == 0 {
                                std::thread::yield_now(); // let the asker register first
                            }
                            let _ = reply.send(Value(question + 1, &NO_DROPS));
                            answered += 1;
                        }
                        None => std::thread::yield_now(),
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
                let answer = block_on(std::future::poll_fn(|cx| pending.poll_take(cx)));
                assert_eq!(answer.map(|v| v.0), Ok(question + 1));
            }
        });
    }
    assert_eq!(NO_DROPS.load(Ordering::Relaxed), N as u32);
    assert_eq!(pool.live_blocks(), 0);
}

#[test]
fn wait_until_receives_a_reply_sent_later_from_another_thread() {
    let drops = AtomicU32::new(0);
    let pool = CountingResource::new(PoolResource::new());
    {
        let (message, mut pending) =
            Envelope::new_request_in(&pool, Priority::Normal, |reply| reply).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(1));
                Completion::Sends.run(message, &drops);
            });
            let started = Instant::now();
            let answer = pending.wait_until(None).expect("no deadline: never None");
            assert_eq!(answer.map(|v| v.0), Ok(42));
            assert!(started.elapsed() >= Duration::from_millis(1));
        });
        assert_eq!(
            pending.wait_until(None).map(|r| r.map(|v| v.0)),
            Some(Err(NoReply)),
            "taken once"
        );
    }
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    assert_eq!(pool.live_blocks(), 0);
}

#[test]
fn wait_until_times_out_and_the_pending_stays_usable() {
    let drops = AtomicU32::new(0);
    let pool = CountingResource::new(PoolResource::new());
    {
        let (message, mut pending) =
            Envelope::new_request_in(&pool, Priority::Normal, |reply| reply).unwrap();
        let started = Instant::now();
        let deadline = started + Duration::from_millis(20);
        assert!(
            pending.wait_until(Some(deadline)).is_none(),
            "nobody replied"
        );
        assert!(Instant::now() >= deadline, "returned before the deadline");
        // A deadline already past: at once.
        assert!(pending.wait_until(Some(Instant::now())).is_none());
        assert!(!pending.is_ready());
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(2));
                Completion::Sends.run(message, &drops);
            });
            let far = Instant::now() + Duration::from_secs(60);
            let answer = pending.wait_until(Some(far)).expect("replied long before");
            assert_eq!(answer.map(|v| v.0), Ok(42));
        });
    }
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    assert_eq!(pool.live_blocks(), 0);
}

#[test]
fn a_reply_dropped_on_another_thread_wakes_the_parked_waiter_with_no_reply() {
    for completion in [Completion::DropsReply, Completion::DropsEnvelope] {
        let drops = AtomicU32::new(0);
        let pool = CountingResource::new(PoolResource::new());
        {
            let (message, mut pending) =
                Envelope::new_request_in(&pool, Priority::Normal, |reply| reply).unwrap();
            std::thread::scope(|s| {
                s.spawn(|| {
                    std::thread::sleep(Duration::from_millis(5));
                    completion.run(message, &drops);
                });
                match pending.wait_until(None) {
                    Some(result) => completion.check(result),
                    None => panic!("{completion:?}: None without a deadline"),
                }
            });
        }
        assert_eq!(pool.live_blocks(), 0, "{completion:?}: node freed");
    }
}

/// Many requests waited for with `wait_until`, replies racing the spin and the park (a
/// few replies are delayed so that the asker parks): every answer arrives, none is lost.
#[test]
fn wait_until_across_threads() {
    const N: u64 = 5_000;
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
                            if question % 500 == 0 {
                                std::thread::sleep(Duration::from_micros(200));
                            }
                            if question % 7 == 0 {
                                drop(reply);
                            } else {
                                let _ = reply.send(Value(question + 1, &NO_DROPS));
                            }
                            answered += 1;
                        }
                        None => std::thread::yield_now(),
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
                let answer = pending.wait_until(None).expect("no deadline");
                let expected = if question % 7 == 0 {
                    Err(NoReply)
                } else {
                    Ok(question + 1)
                };
                assert_eq!(answer.map(|v| v.0), expected);
            }
        });
    }
    assert_eq!(NO_DROPS.load(Ordering::Relaxed), (N - N.div_ceil(7)) as u32);
    assert_eq!(pool.live_blocks(), 0);
}
