//! [`SendFuture`]: an async send that resolves when a bounded mailbox has room.

use core::fmt;
use core::future::Future as StdFuture;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context as TaskContext, Poll};

use zeta_mailbox::Priority;

use crate::actor::Actor;
use crate::address::{Address, Admit};
use crate::cell::Mail;
use crate::error::{SendError, Undelivered};

use super::waiters::Waiter;

/// The future of [`Address::send_async`]: resolves to `Ok(())` once the message is in
/// the actor's mailbox, or to a [`SendError`] carrying it back.
///
/// While the mailbox is full it holds its own place in the mailbox's list of waiters
/// (nothing is allocated), and the actor's runner wakes it when it makes room; it then
/// tries again, and waits again if another sender took the room first. Dropping it
/// takes its place out of the list and drops the message;
/// [`cancel`](SendFuture::cancel) gives the message back instead.
///
/// # Panics
///
/// Polled again after it resolved, it panics, as most futures do.
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, A: Actor> {
    address: &'a Address<A>,
    /// `None` once resolved or cancelled.
    message: Option<A::Message>,
    /// Whether `waiter` may be linked in the bound's list: set when it is linked, and
    /// cleared only by this future (the runner's wake unlinks it without telling us).
    registered: bool,
    /// Structurally pinned: linked only while the future is pinned, unlinked in `Drop`.
    waiter: Waiter,
}

// SAFETY: the future moves the message to the actor's thread (hence `A::Message: Send`,
// which `Actor` requires); its waiter's raw links are touched only under the bound's
// mutex, from whichever thread polls or drops the future or wakes it.
unsafe impl<A: Actor> Send for SendFuture<'_, A> {}
// SAFETY: a `&SendFuture` gives access to nothing (no method takes `&self`).
unsafe impl<A: Actor> Sync for SendFuture<'_, A> {}

impl<'a, A: Actor> SendFuture<'a, A> {
    pub(crate) fn new(address: &'a Address<A>, message: A::Message) -> Self {
        Self {
            address,
            message: Some(message),
            registered: false,
            waiter: Waiter::new(),
        }
    }

    /// Gives up: takes the future's place out of the list of waiters and returns the
    /// message, if it was not sent yet (`None` once the future has resolved). The
    /// future is then spent; polling it panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future as _;
    /// use std::pin::pin;
    /// use std::task::{Context as TaskContext, Waker};
    /// use zeta::{Actor, Context, System};
    ///
    /// struct Sink;
    /// impl Actor for Sink {
    ///     type Message = String;
    ///     fn handle(&mut self, _: String, _ctx: &mut Context<'_, Self>) {}
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let sink = system.spawn_bounded(Sink, 1).unwrap();
    /// sink.send("first".to_string()).unwrap();
    /// let mut waiting = pin!(sink.send_async("second".to_string()));
    /// let mut task = TaskContext::from_waker(Waker::noop());
    /// assert!(waiting.as_mut().poll(&mut task).is_pending());
    /// assert_eq!(waiting.as_mut().cancel().as_deref(), Some("second"));
    /// ```
    pub fn cancel(self: Pin<&mut Self>) -> Option<A::Message> {
        // SAFETY: nothing is moved out of `waiter`; `message` is not structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        this.unregister();
        this.message.take()
    }

    /// Takes `waiter` out of the list if it may be in it.
    fn unregister(&mut self) {
        if !core::mem::take(&mut self.registered) {
            return;
        }
        if let Some(bound) = self.address.bound() {
            // SAFETY: our node, live (we are not dropped yet), and only ever linked into
            // this address's bound's list.
            unsafe { bound.unregister(NonNull::from(&self.waiter)) };
        }
    }
}

impl<A: Actor> StdFuture for SendFuture<'_, A> {
    type Output = Result<(), SendError<A::Message>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        // SAFETY: nothing is moved out of `waiter` (it is only used through a pointer,
        // and unlinked in `Drop`); the other fields are not structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let address = this.address;
        let Some(message) = this.message.take() else {
            panic!("`SendFuture` polled after it resolved");
        };
        let Some(bound) = address.bound() else {
            return Poll::Ready(address.send(message));
        };
        // Woken (the runner unlinked us) or polled for another reason: start over.
        this.unregister();
        let waiter = NonNull::from(&this.waiter);
        loop {
            match address.admit(bound, Admit::Send) {
                Ok(()) => {
                    let pushed =
                        address.push_admitted(bound, Priority::Normal, Mail::User(message));
                    return Poll::Ready(pushed.map_err(|(mail, reason)| {
                        let Some(message) = mail.into_user() else {
                            unreachable!("only user mail is given back to a user's send")
                        };
                        SendError::new(message, reason)
                    }));
                }
                Err(Undelivered::Full) => {}
                Err(reason) => return Poll::Ready(Err(SendError::new(message, reason))),
            }
            // Cloned before the lock: a clone is user code.
            let waker = cx.waker().clone();
            let cell = address.cell();
            // SAFETY: the future is pinned (we are in `poll`) and its node is not linked
            // (unregistered above, or unlinked again by a `register` that returned
            // false); `Drop` unlinks it before the memory goes; it is only ever linked
            // into this address's bound's list.
            if unsafe { bound.register(waiter, waker, || cell.accepts()) } {
                this.registered = true;
                this.message = Some(message);
                return Poll::Pending;
            }
        }
    }
}

impl<A: Actor> Drop for SendFuture<'_, A> {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl<A: Actor> fmt::Debug for SendFuture<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture")
            .field("address", self.address)
            .field("sent", &self.message.is_none())
            .finish_non_exhaustive()
    }
}
