//! Requests from inside a local actor whose answer comes back as a message:
//! [`LocalContext::ask`], [`ask_with`](LocalContext::ask_with) and
//! [`ask_timeout`](LocalContext::ask_timeout).
//!
//! # The protocol
//!
//! The thread-safe continuation (`crate::continuation`) on one thread, where no race
//! is left:
//!
//! 1. The ask makes a reply slot (`reply`), and one *block* from the system's memory
//!    holding the slot's asking end, the continuation closure, an address of the asker,
//!    and the asker's *arrival*: its message node, made now, carrying a pointer to the
//!    block. The slot gets a hook to the block.
//! 2. The request goes to the target. When it resolves (the reply sent, dropped, or
//!    the timeout's timer firing first), the slot calls the hook once: the block pushes
//!    its arrival into the asker's inbox (allocating nothing, and scheduling the asker
//!    if it was idle).
//! 3. The asker handles the arrival like any message, in its turn: the block gives up
//!    its memory, then the closure runs with `&mut` the actor, its context and the
//!    result. A panic there is a handler's panic.
//! 4. If the asker has ended when the request resolves, the arrival is refused and
//!    dropped, and with it the block: the closure is dropped unrun. An arrival queued
//!    when the asker ends is dropped with the inbox, the same way.
//!
//! With a timeout, a local timer on the asker holds a third end of the slot; whichever
//! of the reply and the timer resolves the slot first wins (one thread: the state says
//! which), and the block cancels the timer when the continuation is consumed, so a quick
//! answer frees the timer's entry at once.
//!
//! Memory: the slot, the block (the closure inline) and the arrival node, all from the
//! system's memory resource (a pool: no global allocation); a timeout adds one timer
//! entry.

use core::alloc::Layout;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use std::time::Duration;

use zeta_arena::MemoryResource;
use zeta_mailbox::{Envelope, Priority};

use crate::error::{AskError, RequestError};
use crate::local::actor::{LocalActor, LocalContext};
use crate::local::address::LocalAddress;
use crate::local::cell::Mail;
use crate::local::reply::{self, LocalFuture, LocalReply, Notify};
use crate::local::time::{self, LocalTimer};

/// A continuation's arrival, as it travels in the asker's inbox.
pub(crate) struct ContinueRef {
    block: NonNull<()>,
    /// Consumes the block: frees it, then runs the closure on `(actor, ctx)`, erased
    /// (`*mut A`, `*mut LocalContext<'_, A>`).
    run: unsafe fn(NonNull<()>, *mut (), *mut ()),
    /// Frees the block and drops the closure unrun.
    discard: unsafe fn(NonNull<()>),
}

impl ContinueRef {
    /// Runs the continuation on the asker.
    ///
    /// # Safety
    ///
    /// `actor` and `ctx` are the running asker's (the `A` the block was made for).
    #[inline]
    pub(crate) unsafe fn run<A: LocalActor>(self, actor: &mut A, ctx: &mut LocalContext<'_, A>) {
        let this = ManuallyDrop::new(self);
        // SAFETY: the block is ours (the arrival owned it); its `run` is typed for `A`
        // (caller's duty), and consumes it.
        unsafe {
            (this.run)(
                this.block,
                (actor as *mut A).cast(),
                (ctx as *mut LocalContext<'_, A>).cast(),
            )
        }
    }
}

impl Drop for ContinueRef {
    fn drop(&mut self) {
        // SAFETY: an arrival dropped undelivered owns its block.
        unsafe { (self.discard)(self.block) }
    }
}

/// The block: the slot's asking end, the closure, the asker, and the arrival.
struct Block<A: LocalActor, T, K> {
    future: LocalFuture<T>,
    asker: LocalAddress<A>,
    arrival: Option<Envelope<'static, Mail<A::Message>>>,
    timer: Option<LocalTimer>,
    continuation: K,
}

/// Frees the block, handing its parts back; the timeout's timer, if any, is cancelled
/// (answered first: its entry and its end of the slot go now; too late or dropped at a
/// stop: it goes on its own).
///
/// # Safety
///
/// `block` is a live `Block<A, T, K>` made by `ask_local`, owned by the caller.
unsafe fn take_block<A: LocalActor, T, K>(block: NonNull<()>) -> Block<A, T, K> {
    let block = block.cast::<Block<A, T, K>>();
    // SAFETY: owned (caller's duty): read out once, then the memory goes back through
    // the home that the read-out asker address keeps alive.
    let mut parts = unsafe {
        let parts = block.as_ptr().read();
        parts
            .asker
            .home()
            .deallocate(block.cast(), Layout::new::<Block<A, T, K>>());
        parts
    };
    if let Some(timer) = parts.timer.take() {
        let _ = timer.cancel();
    }
    parts
}

/// # Safety
///
/// As [`take_block`]; `actor` and `ctx` are the running asker's.
unsafe fn run<A, T, K>(block: NonNull<()>, actor: *mut (), ctx: *mut ())
where
    A: LocalActor,
    K: FnOnce(&mut A, &mut LocalContext<'_, A>, Result<T, RequestError>),
{
    // SAFETY: the caller's duty.
    let mut parts = unsafe { take_block::<A, T, K>(block) };
    let result = parts
        .future
        .try_take()
        .unwrap_or(Err(RequestError::NoReply));
    let Block {
        future,
        asker,
        arrival,
        continuation,
        ..
    } = parts;
    drop((future, arrival));
    // The asker's address goes before the closure runs: it may be the last one, and
    // the runner ends an orphan when its inbox runs dry.
    drop(asker);
    // SAFETY: the caller's duty: `A`'s actor and context.
    unsafe {
        continuation(
            &mut *actor.cast::<A>(),
            &mut *ctx.cast::<LocalContext<'_, A>>(),
            result,
        )
    }
}

/// # Safety
///
/// As [`take_block`].
unsafe fn discard<A: LocalActor, T, K>(block: NonNull<()>) {
    // SAFETY: the caller's duty.
    drop(unsafe { take_block::<A, T, K>(block) });
}

/// The slot's hook: the request resolved, push the arrival.
///
/// # Safety
///
/// `block` is a live `Block<A, T, K>` that the hook stands for (no arrival pushed yet).
unsafe fn arrive<A: LocalActor, T, K>(block: NonNull<()>) {
    let block = block.cast::<Block<A, T, K>>();
    // SAFETY: live (caller's duty); the arrival is taken once (the hook is called once).
    let (asker, arrival) = unsafe {
        let block = &mut *block.as_ptr();
        (&block.asker as *const LocalAddress<A>, block.arrival.take())
    };
    if let Some(arrival) = arrival {
        // SAFETY: the asker's address lives in the block, which the arrival owns from
        // here on; a refused arrival is dropped after the push returns, freeing the
        // block then.
        let refused = unsafe { &*asker }.push(arrival);
        drop(refused);
    }
}

impl<A: LocalActor> LocalContext<'_, A> {
    /// Asks `target` with a request made by `make`; when the answer comes (or the
    /// request fails), `continuation` runs on this actor, as a message, with `&mut` the
    /// actor: no future to poll, no blocking.
    ///
    /// # Errors
    ///
    /// [`AskError::Undelivered`] with the message (the continuation is dropped unrun),
    /// or [`AskError::OutOfMemory`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use zeta::local::{LocalActor, LocalAddress, LocalContext, LocalReply, LocalSystem};
    ///
    /// struct Doubler;
    /// impl LocalActor for Doubler {
    ///     type Message = (u64, LocalReply<u64>);
    ///     fn handle(&mut self, (n, reply): Self::Message, _: &mut LocalContext<'_, Self>) {
    ///         let _ = reply.send(2 * n);
    ///     }
    /// }
    ///
    /// struct Asker {
    ///     doubler: LocalAddress<Doubler>,
    ///     answers: Rc<RefCell<Vec<u64>>>,
    /// }
    /// impl LocalActor for Asker {
    ///     type Message = u64;
    ///     fn handle(&mut self, n: u64, ctx: &mut LocalContext<'_, Self>) {
    ///         ctx.ask(&self.doubler, |reply| (n, reply), |this: &mut Self, _ctx, answer| {
    ///             this.answers.borrow_mut().push(answer.unwrap());
    ///         })
    ///         .unwrap();
    ///     }
    /// }
    ///
    /// let answers = Rc::new(RefCell::new(Vec::new()));
    /// let system = LocalSystem::new(64).unwrap();
    /// let doubler = system.spawn(Doubler).unwrap();
    /// let asker = system.spawn(Asker { doubler, answers: answers.clone() }).unwrap();
    /// asker.send(21).unwrap();
    /// asker.send(50).unwrap();
    /// system.run_until_idle().unwrap();
    /// assert_eq!(*answers.borrow(), [42, 100]);
    /// ```
    pub fn ask<B, T, K>(
        &self,
        target: &LocalAddress<B>,
        make: impl FnOnce(LocalReply<T>) -> B::Message,
        continuation: K,
    ) -> Result<(), AskError<B::Message>>
    where
        B: LocalActor,
        T: 'static,
        K: FnOnce(&mut A, &mut LocalContext<'_, A>, Result<T, RequestError>) + 'static,
    {
        self.ask_local(Priority::Normal, target, None, make, continuation)
    }

    /// [`ask`](Self::ask) with `priority`: for the request and for the arrival of its
    /// continuation.
    ///
    /// # Errors
    ///
    /// As [`ask`](Self::ask).
    pub fn ask_with<B, T, K>(
        &self,
        priority: Priority,
        target: &LocalAddress<B>,
        make: impl FnOnce(LocalReply<T>) -> B::Message,
        continuation: K,
    ) -> Result<(), AskError<B::Message>>
    where
        B: LocalActor,
        T: 'static,
        K: FnOnce(&mut A, &mut LocalContext<'_, A>, Result<T, RequestError>) + 'static,
    {
        self.ask_local(priority, target, None, make, continuation)
    }

    /// [`ask`](Self::ask), resolved with [`RequestError::Timeout`] if no answer came
    /// within `timeout` on the system's clock (a later answer is thrown away: the
    /// reply's `send` gives it back).
    ///
    /// # Errors
    ///
    /// As [`ask`](Self::ask).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    /// use zeta::local::{LocalActor, LocalAddress, LocalContext, LocalReply, LocalSystem};
    /// use zeta::RequestError;
    ///
    /// /// Holds every reply and never answers.
    /// struct Silent(Vec<LocalReply<u64>>);
    /// impl LocalActor for Silent {
    ///     type Message = LocalReply<u64>;
    ///     fn handle(&mut self, reply: LocalReply<u64>, _ctx: &mut LocalContext<'_, Self>) {
    ///         self.0.push(reply);
    ///     }
    /// }
    ///
    /// type Outcome = Rc<RefCell<Option<Result<u64, RequestError>>>>;
    ///
    /// struct Asker(LocalAddress<Silent>, Outcome);
    /// impl LocalActor for Asker {
    ///     type Message = ();
    ///     fn handle(&mut self, (): (), ctx: &mut LocalContext<'_, Self>) {
    ///         let timeout = Duration::from_millis(250);
    ///         ctx.ask_timeout(&self.0, timeout, |reply| reply, |this: &mut Self, _ctx, result| {
    ///             *this.1.borrow_mut() = Some(result);
    ///         })
    ///         .unwrap();
    ///     }
    /// }
    ///
    /// let outcome = Outcome::default();
    /// let system = LocalSystem::builder().virtual_clock().build().unwrap();
    /// let silent = system.spawn(Silent(Vec::new())).unwrap();
    /// let asker = system.spawn(Asker(silent, outcome.clone())).unwrap();
    /// asker.send(()).unwrap();
    /// system.advance(Duration::from_millis(249)).unwrap();
    /// assert_eq!(*outcome.borrow(), None); // not yet
    /// system.advance(Duration::from_millis(1)).unwrap();
    /// assert_eq!(*outcome.borrow(), Some(Err(RequestError::Timeout)));
    /// ```
    pub fn ask_timeout<B, T, K>(
        &self,
        target: &LocalAddress<B>,
        timeout: Duration,
        make: impl FnOnce(LocalReply<T>) -> B::Message,
        continuation: K,
    ) -> Result<(), AskError<B::Message>>
    where
        B: LocalActor,
        T: 'static,
        K: FnOnce(&mut A, &mut LocalContext<'_, A>, Result<T, RequestError>) + 'static,
    {
        self.ask_local(Priority::Normal, target, Some(timeout), make, continuation)
    }

    fn ask_local<B, T, K>(
        &self,
        priority: Priority,
        target: &LocalAddress<B>,
        timeout: Option<Duration>,
        make: impl FnOnce(LocalReply<T>) -> B::Message,
        continuation: K,
    ) -> Result<(), AskError<B::Message>>
    where
        B: LocalActor,
        T: 'static,
        K: FnOnce(&mut A, &mut LocalContext<'_, A>, Result<T, RequestError>) + 'static,
    {
        let asker = self.address();
        let home = asker.home();
        let (reply, future) = reply::pair(asker.shared()).map_err(|_| AskError::OutOfMemory)?;
        let Ok(memory) = home.allocate(Layout::new::<Block<A, T, K>>()) else {
            return Err(AskError::OutOfMemory);
        };
        let block = memory.cast::<Block<A, T, K>>();
        let arrival = ContinueRef {
            block: block.cast(),
            run: run::<A, T, K>,
            discard: discard::<A, T, K>,
        };
        let arrival = match Envelope::new_in(home, priority, Mail::Continue(arrival)) {
            Ok(arrival) => arrival,
            Err(failed) => {
                // Not a block yet: its memory goes back as it is.
                core::mem::forget(failed.payload);
                // SAFETY: allocated above with this layout, never written.
                unsafe { home.deallocate(memory, Layout::new::<Block<A, T, K>>()) };
                return Err(AskError::OutOfMemory);
            }
        };
        let timer = match timeout {
            None => None,
            Some(timeout) => {
                match time::arm(asker, time::Deadline::After(timeout), future.expirer()) {
                    Ok(timer) => Some(timer),
                    // No timer (the system stopped, or no memory): expire now.
                    Err((expirer, _)) => {
                        expirer.expire();
                        None
                    }
                }
            }
        };
        // SAFETY: a fresh block, sized and aligned for it, ours alone.
        unsafe {
            block.as_ptr().write(Block {
                future,
                asker: asker.clone(),
                arrival: Some(arrival),
                timer,
                continuation,
            });
        }
        let notify = Notify {
            block: block.cast(),
            call: arrive::<A, T, K>,
        };
        // SAFETY: the block lives until the hook is called (it is freed only by its
        // arrival, which the hook pushes) or cleared (below, on a refused request).
        unsafe { (*block.as_ptr()).future.set_notify(notify) };
        match target.send_with(make(reply), priority) {
            Ok(()) => Ok(()),
            Err(error) => {
                // SAFETY: the block is live: its hook cannot have been called, since the
                // reply is still inside the refused message.
                let block_ref = unsafe { &mut *block.as_ptr() };
                block_ref.future.clear_notify();
                let arrival = block_ref.arrival.take();
                // The arrival owns the block: dropping it frees the block unrun.
                drop(arrival);
                Err(AskError::Undelivered(error))
            }
        }
    }
}
