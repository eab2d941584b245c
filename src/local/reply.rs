//! Requests between local actors: [`LocalReply`] and [`LocalFuture`], two ends of one
//! slot from the system's memory, with no atomic operation.
//!
//! The slot holds a state (`Pending`, then `Ready`, `NoReply` or `Panicked`, then
//! `Taken`), the value, the waker of an `.await`ing task, and a count of its two ends.
//! The end that drops last frees it. An unsent reply's drop resolves the future with
//! [`RequestError::NoReply`] ([`RequestError::HandlerPanicked`] if a panic is
//! unwinding), so no request waits for an answer that cannot come.

use core::alloc::Layout;
use core::cell::{Cell, UnsafeCell};
use core::fmt;
use core::marker::PhantomData;
use core::mem::{ManuallyDrop, MaybeUninit};
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context as TaskContext, Poll, Waker};
use std::rc::Rc;
use std::time::{Duration, Instant};

use zeta_arena::{AllocError, MemoryResource};

use crate::cell::in_actor;
use crate::error::RequestError;
use crate::local::system::{LocalSystem, Shared};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Pending,
    Ready,
    NoReply,
    Panicked,
    /// An `ask_timeout`'s timer fired first (`Expirer`).
    TimedOut,
    Taken,
}

/// Called once when the request resolves: a continuation's block pushes its arrival
/// (`local::continuation`).
#[derive(Clone, Copy)]
pub(crate) struct Notify {
    pub(crate) block: NonNull<()>,
    pub(crate) call: unsafe fn(NonNull<()>),
}

struct Slot<T> {
    state: Cell<State>,
    /// The ends still held: 2, then 1, then the slot is freed.
    ends: Cell<u8>,
    waker: Cell<Option<Waker>>,
    notify: Cell<Option<Notify>>,
    value: UnsafeCell<MaybeUninit<T>>,
    /// Keeps the system (its memory resource, and its run queue for `wait`) alive.
    system: ManuallyDrop<Rc<Shared>>,
}

/// Makes a slot; its two ends.
pub(crate) fn pair<T>(system: &Rc<Shared>) -> Result<(LocalReply<T>, LocalFuture<T>), AllocError> {
    let block = system.home().allocate(Layout::new::<Slot<T>>())?;
    let slot = block.cast::<Slot<T>>();
    // SAFETY: a fresh block, sized and aligned for a slot, ours alone.
    unsafe {
        slot.as_ptr().write(Slot {
            state: Cell::new(State::Pending),
            ends: Cell::new(2),
            waker: Cell::new(None),
            notify: Cell::new(None),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            system: ManuallyDrop::new(Rc::clone(system)),
        });
    }
    Ok((
        LocalReply {
            slot,
            _local: PhantomData,
        },
        LocalFuture {
            slot,
            _local: PhantomData,
        },
    ))
}

impl<T> Slot<T> {
    /// The request resolved: wake an `.await`ing task, or push a continuation.
    fn resolved(&self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
        if let Some(notify) = self.notify.take() {
            // SAFETY: the hook's block is alive while the hook is set (it clears the
            // hook before it goes: `LocalFuture::set_notify`'s contract).
            unsafe { (notify.call)(notify.block) };
        }
    }
}

/// Gives up one end of the slot; the last frees it (and a value never taken).
///
/// # Safety
///
/// The caller owns one end of a live slot and does not use it afterwards.
unsafe fn release<T>(slot: NonNull<Slot<T>>) {
    // SAFETY: the caller's end keeps the slot live.
    let ends = unsafe { &slot.as_ref().ends };
    let left = ends.get() - 1;
    ends.set(left);
    if left != 0 {
        return;
    }
    let raw = slot.as_ptr();
    // SAFETY: the last end: the slot is ours alone. The value is dropped if it was sent
    // and never taken; the memory goes back through the home that `system` keeps
    // alive, and only then does `system` go.
    unsafe {
        let system = ManuallyDrop::take(&mut (*raw).system);
        let ready = (*raw).state.get() == State::Ready;
        let value = ready.then(|| (*(*raw).value.get()).assume_init_read());
        drop((*raw).waker.take());
        system
            .home()
            .deallocate(slot.cast(), Layout::new::<Slot<T>>());
        drop(system);
        drop(value);
    }
}

/// The answering end of a local request ([`LocalAddress::ask`]): put it in the message;
/// the handler [`send`](Self::send)s the value. Neither `Send` nor `Sync`.
///
/// Dropping it unsent resolves the request with [`RequestError::NoReply`].
///
/// # Examples
///
/// Replies kept, and answered later from outside the actor:
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use zeta::local::{LocalActor, LocalContext, LocalReply, LocalSystem};
///
/// type Held = Rc<RefCell<Vec<LocalReply<u32>>>>;
///
/// struct Holder(Held);
/// impl LocalActor for Holder {
///     type Message = LocalReply<u32>;
///     fn handle(&mut self, reply: LocalReply<u32>, _ctx: &mut LocalContext<'_, Self>) {
///         self.0.borrow_mut().push(reply);
///     }
/// }
///
/// let held = Held::default();
/// let system = LocalSystem::new(64).unwrap();
/// let holder = system.spawn(Holder(held.clone())).unwrap();
/// let mut kept = holder.ask(|reply| reply).unwrap();
/// let given_up = holder.ask(|reply| reply).unwrap();
/// system.run_until_idle().unwrap();
/// drop(given_up);
/// let (first, second) = {
///     let mut replies = held.borrow_mut();
///     let second = replies.pop().unwrap();
///     (replies.pop().unwrap(), second)
/// };
/// assert!(second.is_cancelled());
/// assert_eq!(second.send(2), Err(2)); // nobody would read it: given back
/// assert_eq!(first.send(1), Ok(()));
/// assert_eq!(kept.try_take(), Some(Ok(1)));
/// ```
///
/// [`LocalAddress::ask`]: crate::local::LocalAddress::ask
pub struct LocalReply<T> {
    slot: NonNull<Slot<T>>,
    _local: PhantomData<(*const (), T)>,
}

impl<T> LocalReply<T> {
    fn slot(&self) -> &Slot<T> {
        // SAFETY: this end keeps the slot live.
        unsafe { self.slot.as_ref() }
    }

    /// Answers the request.
    ///
    /// # Errors
    ///
    /// The value back if the asker dropped its [`LocalFuture`] (or its timeout
    /// expired).
    ///
    /// # Panics
    ///
    /// If the waker of the task awaiting the [`LocalFuture`] panics when woken; the
    /// reply is sent all the same.
    pub fn send(self, value: T) -> Result<(), T> {
        let this = ManuallyDrop::new(self);
        let slot = this.slot();
        let result = if slot.ends.get() == 1 || slot.state.get() != State::Pending {
            // Nobody can read it: the asker dropped its end, or its timeout expired.
            Err(value)
        } else {
            // SAFETY: `Pending` (a reply is sent once: `self` is consumed), so the value
            // is not initialised and nobody reads it until the state says `Ready`.
            unsafe { (*slot.value.get()).write(value) };
            slot.state.set(State::Ready);
            slot.resolved();
            Ok(())
        };
        // SAFETY: this end, given up once (`ManuallyDrop` keeps `Drop` from doing it).
        unsafe { release(this.slot) };
        result
    }

    /// Whether an answer would be thrown away: the asker dropped its future, or its
    /// timeout expired.
    pub fn is_cancelled(&self) -> bool {
        let slot = self.slot();
        slot.ends.get() == 1 || slot.state.get() != State::Pending
    }
}

impl<T> Drop for LocalReply<T> {
    fn drop(&mut self) {
        let slot = self.slot();
        if slot.state.get() == State::Pending {
            slot.state.set(if std::thread::panicking() {
                State::Panicked
            } else {
                State::NoReply
            });
            slot.resolved();
        }
        // SAFETY: this end, given up once.
        unsafe { release(self.slot) };
    }
}

impl<T> fmt::Debug for LocalReply<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalReply")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// The asking end of a local request: the answer, once the handler sends it.
///
/// Poll it with [`try_take`](Self::try_take), `.await` it (it is a
/// [`core::future::Future`]), or [`wait`](Self::wait) for it from outside the system's
/// handlers, which runs the system until the answer is there. Dropping it early is
/// safe: the answer is thrown away. Neither `Send` nor `Sync`.
///
/// # Examples
///
/// Awaited in an `async` block, polled by a loop that runs the system in between:
///
/// ```
/// use std::future::Future as _;
/// use std::pin::pin;
/// use std::task::{Context as TaskContext, Poll, Waker};
/// use zeta::local::{LocalActor, LocalContext, LocalReply, LocalSystem};
///
/// struct Doubler;
/// impl LocalActor for Doubler {
///     type Message = (u32, LocalReply<u32>);
///     fn handle(&mut self, (n, reply): Self::Message, _ctx: &mut LocalContext<'_, Self>) {
///         let _ = reply.send(2 * n);
///     }
/// }
///
/// let system = LocalSystem::new(64).unwrap();
/// let doubler = system.spawn(Doubler).unwrap();
/// let mut quadruple = pin!(async {
///     let twice = doubler.ask(|reply| (5, reply)).unwrap().await.unwrap();
///     doubler.ask(|reply| (twice, reply)).unwrap().await.unwrap()
/// });
/// let mut task = TaskContext::from_waker(Waker::noop());
/// let answer = loop {
///     match quadruple.as_mut().poll(&mut task) {
///         Poll::Ready(answer) => break answer,
///         Poll::Pending => {
///             system.run_until_idle().unwrap();
///         }
///     }
/// };
/// assert_eq!(answer, 20);
/// ```
pub struct LocalFuture<T> {
    slot: NonNull<Slot<T>>,
    _local: PhantomData<(*const (), T)>,
}

// The future is a pointer to its slot: moving it moves no value.
impl<T> Unpin for LocalFuture<T> {}

impl<T> LocalFuture<T> {
    fn slot(&self) -> &Slot<T> {
        // SAFETY: this end keeps the slot live.
        unsafe { self.slot.as_ref() }
    }

    /// Whether the request is resolved (answered, or never to be).
    pub fn is_ready(&self) -> bool {
        self.slot().state.get() != State::Pending
    }

    /// The answer if the request is resolved; `None` while it is pending. After the
    /// value was taken, `Err(NoReply)`.
    pub fn try_take(&mut self) -> Option<Result<T, RequestError>> {
        let slot = self.slot();
        match slot.state.get() {
            State::Pending => None,
            State::Ready => {
                slot.state.set(State::Taken);
                // SAFETY: `Ready` means the reply wrote the value; `Taken` keeps it from
                // being read again (or dropped at the release).
                Some(Ok(unsafe { (*slot.value.get()).assume_init_read() }))
            }
            State::NoReply | State::Taken => Some(Err(RequestError::NoReply)),
            State::Panicked => Some(Err(RequestError::HandlerPanicked)),
            State::TimedOut => Some(Err(RequestError::Timeout)),
        }
    }

    /// Has `notify` called once when the request resolves (at once if it has).
    ///
    /// # Safety
    ///
    /// `notify.block` stays valid until the call, or until [`clear_notify`]
    /// (Self::clear_notify) is called.
    pub(crate) unsafe fn set_notify(&self, notify: Notify) {
        let slot = self.slot();
        if slot.state.get() == State::Pending {
            slot.notify.set(Some(notify));
        } else {
            // SAFETY: the caller's duty.
            unsafe { (notify.call)(notify.block) };
        }
    }

    /// Forgets the hook set by [`set_notify`](Self::set_notify), if it was not called.
    pub(crate) fn clear_notify(&self) {
        self.slot().notify.set(None);
    }

    /// A third end, for the timer of an `ask_timeout`.
    pub(crate) fn expirer(&self) -> Expirer<T> {
        let ends = &self.slot().ends;
        ends.set(ends.get() + 1);
        Expirer { slot: self.slot }
    }

    /// Runs the system until the answer is there, and returns it.
    ///
    /// When the system has nothing to run and the request is pending, it waits for
    /// what can still make an actor ready: a message from another thread (if a
    /// [`SendAddress`](crate::local::SendAddress) exists) or a timer on a real clock;
    /// with neither, nothing can answer, and the wait ends. (A virtual clock moves
    /// only with [`LocalSystem::advance`](crate::local::LocalSystem::advance).)
    ///
    /// # Errors
    ///
    /// [`RequestError::WouldBlock`] inside a handler (the loop is already running);
    /// [`RequestError::NoReply`] if the request will not be answered (the reply was
    /// dropped, or the system went idle with nothing that could answer it, or stopped);
    /// [`RequestError::HandlerPanicked`].
    pub fn wait(mut self) -> Result<T, RequestError> {
        self.wait_until(None)
    }

    /// As [`wait`](Self::wait), for at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait), and [`RequestError::Timeout`] (the request stays
    /// pending; the future is still usable).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<T, RequestError> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    fn wait_until(&mut self, deadline: Option<Instant>) -> Result<T, RequestError> {
        if in_actor() {
            return Err(RequestError::WouldBlock);
        }
        let system = LocalSystem::from_shared(Rc::clone(&self.slot().system));
        loop {
            if let Some(result) = self.try_take() {
                return result;
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(RequestError::Timeout);
            }
            // Run the system, in one drive, until the request resolves, the system is
            // idle, or (looked at between runs) the deadline passes.
            let slot = self.slot();
            let pending = || {
                slot.state.get() == State::Pending
                    && deadline.is_none_or(|deadline| Instant::now() < deadline)
            };
            let idle = match system.shared().run_while(pending) {
                Ok(idle) => idle,
                Err(_) => return self.try_take().unwrap_or(Err(RequestError::NoReply)),
            };
            if !idle {
                continue;
            }
            if !system.shared().may_wake() {
                return self.try_take().unwrap_or(Err(RequestError::NoReply));
            }
            let timeout =
                deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
            let _ = system.park(timeout);
        }
    }
}

/// The timer's end of a request with a timeout: [`expire`](Self::expire) resolves it
/// with [`RequestError::Timeout`] unless it resolved first.
pub(crate) struct Expirer<T> {
    slot: NonNull<Slot<T>>,
}

impl<T> Expirer<T> {
    /// The deadline passed.
    pub(crate) fn expire(self) {
        // SAFETY: this end keeps the slot live.
        let slot = unsafe { self.slot.as_ref() };
        if slot.state.get() == State::Pending {
            slot.state.set(State::TimedOut);
            slot.resolved();
        }
    }
}

impl<T> Drop for Expirer<T> {
    fn drop(&mut self) {
        // SAFETY: this end, given up once.
        unsafe { release(self.slot) };
    }
}

impl<T> core::future::Future for LocalFuture<T> {
    type Output = Result<T, RequestError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.try_take() {
            Some(result) => Poll::Ready(result),
            None => {
                this.slot().waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for LocalFuture<T> {
    fn drop(&mut self) {
        // SAFETY: this end, given up once.
        unsafe { release(self.slot) };
    }
}

impl<T> fmt::Debug for LocalFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalFuture")
            .field("state", &self.slot().state.get())
            .finish()
    }
}
