//! Loom models of the bound's admission and room protocol (parent module doc).
//!
//! Run with `RUSTFLAGS="--cfg zeta_loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2
//! CARGO_TARGET_DIR=target/loom cargo test --release -p zeta --lib bounded`.
//!
//! The inbox is modelled by a loom counter of queued messages and an `accepting` flag
//! (the seal): what the bound's protocol sees of it. The runner "dispatches" what is
//! queued and gives the slots back in one `release`, as the cell's runner does per run.
//! An async sender waits through [`Bound::register`] with a real pinned [`Waiter`] and
//! the waker of `loom::future::block_on`, which parks the loom thread until it is woken:
//! a lost wake-up is a deadlock, which loom reports. Blocking senders' parks are yields
//! under loom (the crate's `sync` module), so they are modelled for safety (the count),
//! not for lost wake-ups: the async models carry that.

use core::future::{poll_fn, Future};
use core::pin::pin;
use core::ptr::NonNull;
use core::task::{Context, Poll, Waker};
use std::task::Wake;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

use super::waiters::Waiter;
use super::{Bound, NoRoom};
use crate::future::WaitStrategy;

/// Unparks a loom thread: the waker of [`block_on`].
struct Unparker(thread::Thread);

impl Wake for Unparker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this loom thread, parking it (loom-visibly) between polls: a
/// wake-up that never comes leaves every thread parked, a deadlock loom reports.
fn block_on<T>(future: impl Future<Output = T>) -> T {
    let mut future = pin!(future);
    let waker = Waker::from(std::sync::Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        thread::park();
    }
}

/// What the bound guards: messages queued, and whether the inbox accepts.
struct Mailbox {
    bound: Bound,
    queued: AtomicUsize,
    accepting: AtomicBool,
    /// The runner's thread, unparked by every push (the actor being scheduled).
    runner: thread::Thread,
}

impl Mailbox {
    /// A mailbox run by the calling thread.
    fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            bound: Bound::new(capacity),
            queued: AtomicUsize::new(0),
            accepting: AtomicBool::new(true),
            runner: thread::current(),
        })
    }

    fn accepts(&self) -> bool {
        self.accepting.load(Ordering::Acquire)
    }

    /// A sender that holds a slot pushes its message.
    fn push(&self) {
        self.queued.fetch_add(1, Ordering::Release);
        self.runner.unpark();
    }

    /// Runs until `messages` have been taken, parked (loom-visibly) while nothing is
    /// queued: so a sender never woken leaves both threads parked, which loom reports
    /// as a deadlock, instead of a runner spinning forever.
    fn run_until(&self, messages: usize, capacity: usize) {
        let mut taken = 0;
        while taken < messages {
            let now = self.run();
            assert!(now <= capacity, "more than the capacity was admitted");
            taken += now;
            if now == 0 {
                thread::park();
            }
        }
    }

    /// One run of the runner: takes what is queued, gives the slots back at once.
    fn run(&self) -> usize {
        let taken = self.queued.swap(0, Ordering::Acquire);
        if taken != 0 {
            self.bound.release(taken);
        }
        taken
    }

    /// Sends one message, waiting for room as `SendFuture` does; `false` if the actor
    /// stopped accepting.
    fn send_async(&self) -> bool {
        let waiter = Box::pin(Waiter::new());
        let node = NonNull::from(&*waiter);
        let mut registered = false;
        let sent = block_on(poll_fn(|cx| loop {
            if registered {
                // SAFETY: our pinned node, only linked into this bound's list.
                unsafe { self.bound.unregister(node) };
                registered = false;
            }
            if self.bound.try_acquire() {
                self.push();
                return Poll::Ready(true);
            }
            if !self.accepts() {
                return Poll::Ready(false);
            }
            // SAFETY: the node is pinned in its box, not linked (unregistered above),
            // and unlinked below before the box goes.
            if unsafe {
                self.bound
                    .register(node, cx.waker().clone(), || self.accepts())
            } {
                registered = true;
                return Poll::Pending;
            }
        }));
        if registered {
            // SAFETY: as above.
            unsafe { self.bound.unregister(node) };
        }
        drop(waiter);
        sent
    }
}

/// Capacity 1, two messages from an async sender; the runner runs until it has taken
/// both. The sender must be woken for the second (else `block_on` deadlocks); the count
/// ends at 0 and never exceeds the capacity.
#[test]
fn a_release_races_an_async_sender_waiting_for_room() {
    loom::model(|| {
        let mailbox = Mailbox::new(1);
        let sender = {
            let mailbox = mailbox.clone();
            thread::spawn(move || {
                assert!(mailbox.send_async());
                assert!(mailbox.send_async());
            })
        };
        mailbox.run_until(2, 1);
        sender.join().unwrap();
        assert_eq!(mailbox.bound.state.load().used(), 0);
    });
}

/// Capacity 1, a blocking sender sends two messages against the runner: never more
/// than the capacity admitted, every slot given back.
#[test]
fn a_blocking_sender_against_the_runner() {
    loom::model(|| {
        let mailbox = Mailbox::new(1);
        let sender = {
            let mailbox = mailbox.clone();
            thread::spawn(move || {
                for _ in 0..2 {
                    let acquired = mailbox.bound.acquire_blocking(
                        || mailbox.accepts(),
                        WaitStrategy::Park,
                        None,
                    );
                    assert_eq!(acquired, Ok(()));
                    mailbox.push();
                }
            })
        };
        mailbox.run_until(2, 1);
        sender.join().unwrap();
        assert_eq!(mailbox.bound.state.load().used(), 0);
    });
}

/// Capacity 1, full, nobody runs the actor: an async sender waits, and a seal (stop)
/// must wake it to find the actor no longer accepting. A blocking sender likewise
/// returns `Stopped`.
#[test]
fn a_seal_wakes_a_sender_waiting_for_room() {
    loom::model(|| {
        let mailbox = Mailbox::new(1);
        assert!(mailbox.bound.try_acquire());
        mailbox.push();
        let sender = {
            let mailbox = mailbox.clone();
            thread::spawn(move || {
                assert!(!mailbox.send_async());
                let blocked =
                    mailbox
                        .bound
                        .acquire_blocking(|| mailbox.accepts(), WaitStrategy::Park, None);
                assert_eq!(blocked, Err(NoRoom::Stopped));
            })
        };
        // The seal, then the unconditional wake (`Address::seal`).
        mailbox.accepting.store(false, Ordering::Release);
        mailbox.bound.wake_all();
        sender.join().unwrap();
    });
}
