//! The bridge: how other threads reach a local actor ([`SendAddress`]).
//!
//! # The protocol
//!
//! Every local system owns one thread-safe [`Inbox`] (zeta-mailbox's lock-free LIFO
//! with its block/unblock handshake, model-checked there). A [`SendAddress`] made on the
//! system's thread (`LocalAddress::sendable`) lets any thread send to its actor:
//!
//! 1. The sender makes the message's node (the very node the actor's inbox will hold:
//!    an `Envelope<Mail<M>>`, from the system's memory resource) and a *parcel* node
//!    naming the target, then pushes the parcel: **one CAS**. A push that unblocks the
//!    bridge unparks the system's thread (which may be waiting in
//!    [`LocalSystem::park`](crate::local::LocalSystem::park)); a refused push (the
//!    system is gone) gives the message back.
//! 2. The system's thread, at each step of its loop, looks at the bridge (a load) and,
//!    when it has mail, takes it whole (one swap) and hands each message node to its
//!    actor's local inbox, in the order pushed per sender (per priority, as any send).
//!    Nothing is allocated on the way: the node made by the sender is the one queued.
//! 3. Before it parks, the system's thread blocks the bridge (`try_block`); a push after
//!    that unblocks it and unparks the thread, so no message waits for a wake-up that
//!    never comes (the inbox's handshake: exactly one party wins the transition).
//!
//! # Who keeps the target alive
//!
//! The cell's count is not atomic, so another thread cannot hold a reference on it. An
//! export holds one for all its clones, taken on the system's thread when it is made and
//! listed in the system under a key. When the last clone goes (on any thread), a
//! *release* parcel, allocated when the export was made (control never waits for
//! memory), goes through the bridge after every message of the export, and the
//! system's thread gives the reference back. If the system stops first, it gives back
//! the references of every export still listed, closes the bridge, and the late
//! release parcel is refused and dropped.
//!
//! # What a cross-thread sender gets
//!
//! - `Ok(())`: the message is in the bridge. It reaches the actor at the system's next
//!   step, unless the actor ends first: then it is dropped, like a message queued at its
//!   end (a request in it resolves with an error).
//! - [`Undelivered::SchedulerStopped`] with the message: the local system is gone.
//! - [`Undelivered::OutOfMemory`] with the message: no memory for the nodes.

use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use zeta_mailbox::{Cache, Enqueued, Envelope, Inbox, Priority, TryBlock};

use crate::cell::Home;
use crate::error::{ControlError, SendError, Undelivered};
use crate::local::cell::{self, Header, Mail};
use crate::local::system::Shared;
use crate::sync::thread;

/// A local system's cross-thread inbox, and the home of its memory.
pub(crate) struct Bridge {
    /// Dropped before `home`, which its parcels' nodes point at.
    inbox: Inbox<'static, Parcel>,
    home: Home,
    /// The system's thread, unparked by an unblocking push.
    thread: thread::Thread,
}

impl Bridge {
    pub(crate) fn new(home: Home) -> Self {
        Self {
            inbox: Inbox::new(),
            home,
            thread: thread::current(),
        }
    }

    pub(crate) fn home(&self) -> &Home {
        &self.home
    }

    /// The home with the lifetime of the nodes that point at it.
    fn home_static(&self) -> &'static Home {
        // SAFETY: every node from it is owned by the bridge's inbox, a parcel, an export
        // or a local cell, each of which keeps the bridge (its `Arc`, or the system's
        // `Rc` that holds it) alive for as long as the node exists.
        unsafe { &*(&self.home as *const Home) }
    }

    /// Whether other threads sent something (a load).
    #[inline(always)]
    pub(crate) fn has_mail(&self) -> bool {
        self.inbox.has_messages()
    }

    /// Everything sent so far, in the order pushed per sender, high before normal.
    pub(crate) fn take(&self) -> impl Iterator<Item = Parcel> {
        let mut fifos = Cache::new();
        fifos.extend(self.inbox.take_all());
        core::iter::from_fn(move || fifos.pop().map(Envelope::into_payload))
    }

    /// Closes the bridge for good; what was sent and not yet taken comes back.
    pub(crate) fn close(&self) -> impl Iterator<Item = Parcel> {
        let mut fifos = Cache::new();
        fifos.extend(self.inbox.close());
        core::iter::from_fn(move || fifos.pop().map(Envelope::into_payload))
    }

    /// Waits (at most `timeout`) for mail; whether some is there.
    pub(crate) fn park(&self, timeout: Option<Duration>) -> bool {
        if self.has_mail() {
            return true;
        }
        match self.inbox.try_block() {
            // The next push unblocks and unparks us; one between the block and the park
            // leaves the thread's token set, so the park returns at once.
            TryBlock::Blocked => match timeout {
                Some(timeout) => thread::park_timeout(timeout),
                None => thread::park(),
            },
            TryBlock::Closed | TryBlock::Sealed => return false,
            TryBlock::HasMessages | TryBlock::Orphaned => {}
        }
        self.has_mail()
    }

    /// Pushes a parcel; a refused one comes back.
    fn push(&self, parcel: Envelope<'static, Parcel>) -> Result<(), Envelope<'static, Parcel>> {
        match self.inbox.push(parcel) {
            Enqueued::Queued => Ok(()),
            Enqueued::Unblocked => {
                self.thread.unpark();
                Ok(())
            }
            Enqueued::Closed(parcel) => Err(parcel),
        }
    }
}

/// What crosses the bridge.
pub(crate) enum Parcel {
    /// A message node for the cell at `target`.
    Deliver {
        target: NonNull<Header>,
        message: NonNull<zeta_mailbox::Header>,
        /// Drops the message node, for a parcel dropped undelivered.
        discard: unsafe fn(NonNull<zeta_mailbox::Header>),
    },
    /// The export listed under this key has no handle left.
    Release { key: u64 },
}

// SAFETY: a parcel owns a message node of a `Send` type (`SendAddress` requires it) and
// names a cell that only the system's thread dereferences (`open`); its `discard`
// drops the node wherever the parcel is dropped, which `M: Send` allows.
unsafe impl Send for Parcel {}

impl Parcel {
    /// Hands the parcel to its actor, or gives back its export's reference.
    ///
    /// # Safety
    ///
    /// On `shared`'s thread, `shared` being the system whose bridge the parcel crossed.
    pub(crate) unsafe fn open(self, shared: &Shared) {
        match *ManuallyDrop::new(self) {
            Parcel::Deliver {
                target, message, ..
            } => {
                // SAFETY: the export that sent it holds a reference on the target until
                // its release parcel, which comes after this one (module doc); the node
                // is an envelope for the target's inbox, handed over whole.
                unsafe { (target.as_ref().vtable.deliver)(target, message) }
            }
            Parcel::Release { key } => {
                let found = {
                    let mut exports = shared.exports.borrow_mut();
                    let at = exports.iter().position(|&(listed, _)| listed == key);
                    at.map(|at| exports.swap_remove(at).1)
                };
                if let Some(header) = found {
                    // SAFETY: the export's reference, listed once and given back once.
                    unsafe { cell::release(header) };
                }
            }
        }
    }
}

impl Drop for Parcel {
    fn drop(&mut self) {
        if let Parcel::Deliver {
            message, discard, ..
        } = *self
        {
            // SAFETY: the parcel owns the node, which its `discard` is typed for.
            unsafe { discard(message) }
        }
    }
}

/// # Safety
///
/// `node` is an `Envelope<'static, Mail<M>>` nobody else owns.
unsafe fn discard<M>(node: NonNull<zeta_mailbox::Header>) {
    // SAFETY: the caller's duty.
    drop(unsafe { Envelope::<'static, Mail<M>>::from_raw(node) });
}

/// Takes the message back out of a parcel that was not delivered (refused by the
/// bridge, or never pushed).
///
/// # Safety
///
/// `parcel` was made by `SendAddress::<M>::send_with`.
unsafe fn unwrap_message<M>(parcel: Parcel) -> M {
    match *ManuallyDrop::new(parcel) {
        Parcel::Deliver { message, .. } => {
            // SAFETY: a parcel made by `SendAddress::<M>::send_with`, whose node is an
            // `Envelope<Mail<M>>`, owned by the parcel and handed over whole.
            let message = (unsafe { Envelope::<'static, Mail<M>>::from_raw(message) }
                .into_payload())
            .into_user();
            message
        }
        Parcel::Release { .. } => unreachable!("a release parcel carries no message"),
    }
}

/// What all clones of a [`SendAddress`] share.
struct Export {
    bridge: Arc<Bridge>,
    target: NonNull<Header>,
    /// Sent when the last clone goes; taken by that drop only.
    release: Option<Envelope<'static, Parcel>>,
}

// SAFETY: `target` is only named in parcels, dereferenced on the system's thread;
// `release` is touched only by the export's drop, which has it alone; the bridge is
// `Sync`.
unsafe impl Send for Export {}
// SAFETY: as above: a shared export is only read (`bridge`, `target`).
unsafe impl Sync for Export {}

impl Drop for Export {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            // Refused: the system stopped and gave the reference back itself.
            let _ = self.bridge.push(release);
        }
    }
}

/// A handle through which any thread sends to one local actor: `Send`, `Sync`, cheap
/// to clone (one atomic increment), made on the actor's thread by
/// [`LocalAddress::sendable`](crate::local::LocalAddress::sendable).
///
/// A send makes the message's node from the system's memory resource and pushes it
/// through the system's bridge (one lock-free inbox per local system: one atomic
/// read-modify-write per message); the system's thread delivers it at its next step. See
/// the `bridge` module's protocol for what a sender gets when the actor or the system is
/// gone.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use zeta::local::{LocalActor, LocalContext, LocalSystem};
///
/// struct Sum(Rc<Cell<u64>>);
/// impl LocalActor for Sum {
///     type Message = u64;
///     fn handle(&mut self, n: u64, _ctx: &mut LocalContext<'_, Self>) {
///         self.0.set(self.0.get() + n);
///     }
/// }
///
/// let total = Rc::new(Cell::new(0));
/// let system = LocalSystem::new(64).unwrap();
/// let sum = system.spawn(Sum(total.clone())).unwrap();
/// let remote = sum.sendable().unwrap();
/// std::thread::spawn(move || {
///     for n in 1..=100 {
///         remote.send(n).unwrap();
///     }
/// })
/// .join()
/// .unwrap();
/// system.run_until_idle().unwrap();
/// assert_eq!(total.get(), 5050);
/// ```
pub struct SendAddress<M> {
    export: Arc<Export>,
    _message: PhantomData<fn(M)>,
}

impl<M> Clone for SendAddress<M> {
    fn clone(&self) -> Self {
        Self {
            export: Arc::clone(&self.export),
            _message: PhantomData,
        }
    }
}

impl<M: Send + 'static> SendAddress<M> {
    /// Makes an export of the cell at `header` (on the system's thread).
    pub(crate) fn export(
        shared: &Rc<Shared>,
        header: NonNull<Header>,
    ) -> Result<Self, ControlError> {
        if shared.is_stopped() {
            return Err(ControlError::new(Undelivered::SchedulerStopped));
        }
        let key = shared.next_export.get();
        let home = shared.bridge.home_static();
        let release = Envelope::new_in(home, Priority::Normal, Parcel::Release { key })
            .map_err(|_| ControlError::new(Undelivered::OutOfMemory))?;
        shared.next_export.set(key + 1);
        cell::retain(header);
        shared.exports.borrow_mut().push((key, header));
        Ok(Self {
            export: Arc::new(Export {
                bridge: Arc::clone(&shared.bridge),
                target: header,
                release: Some(release),
            }),
            _message: PhantomData,
        })
    }

    /// Sends `message` with normal priority.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message: [`Undelivered::SchedulerStopped`] (the local
    /// system is gone) or [`Undelivered::OutOfMemory`].
    pub fn send(&self, message: M) -> Result<(), SendError<M>> {
        self.send_with(message, Priority::Normal)
    }

    /// Sends `message` with high priority: handled before the actor's normal messages.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_high(&self, message: M) -> Result<(), SendError<M>> {
        self.send_with(message, Priority::High)
    }

    /// Sends `message` with `priority`.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_with(&self, message: M, priority: Priority) -> Result<(), SendError<M>> {
        let bridge = &*self.export.bridge;
        if bridge.inbox.is_closed() {
            return Err(SendError::new(message, Undelivered::SchedulerStopped));
        }
        let home = bridge.home_static();
        let node = match Envelope::new_in(home, priority, Mail::User(message)) {
            Ok(node) => node,
            Err(failed) => {
                let message = (failed.payload).into_user();
                return Err(SendError::new(message, Undelivered::OutOfMemory));
            }
        };
        let parcel = Parcel::Deliver {
            target: self.export.target,
            message: node.into_raw(),
            discard: discard::<M>,
        };
        let parcel = match Envelope::new_in(home, priority, parcel) {
            Ok(parcel) => parcel,
            Err(failed) => {
                // SAFETY: the parcel made just above, for an `M`.
                let message = unsafe { unwrap_message::<M>(failed.payload) };
                return Err(SendError::new(message, Undelivered::OutOfMemory));
            }
        };
        bridge.push(parcel).map_err(|parcel| {
            // SAFETY: the parcel made above, for an `M`, refused whole.
            let message = unsafe { unwrap_message::<M>(parcel.into_payload()) };
            SendError::new(message, Undelivered::SchedulerStopped)
        })
    }

    /// Whether the local system still takes messages (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::local::{LocalActor, LocalContext, LocalSystem};
    /// use zeta::Undelivered;
    ///
    /// struct Nop;
    /// impl LocalActor for Nop {
    ///     type Message = u32;
    ///     fn handle(&mut self, _: u32, _ctx: &mut LocalContext<'_, Self>) {}
    /// }
    ///
    /// let system = LocalSystem::new(64).unwrap();
    /// let remote = system.spawn(Nop).unwrap().sendable().unwrap();
    /// assert!(remote.is_connected());
    /// drop(system); // the last handle: the system stops
    /// assert!(!remote.is_connected());
    /// let refused = remote.send(7).unwrap_err();
    /// assert_eq!(refused.reason(), Undelivered::SchedulerStopped);
    /// assert_eq!(refused.into_message(), 7);
    /// ```
    pub fn is_connected(&self) -> bool {
        !self.export.bridge.inbox.is_closed()
    }
}

impl<M> fmt::Debug for SendAddress<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendAddress")
            .field("connected", &!self.export.bridge.inbox.is_closed())
            .finish_non_exhaustive()
    }
}

/// The drops of the parcels a stopping system refuses, each caught on its own.
pub(crate) fn drop_parcels(parcels: impl Iterator<Item = Parcel>) {
    for parcel in parcels {
        let _ = catch_unwind(AssertUnwindSafe(move || drop(parcel)));
    }
}
