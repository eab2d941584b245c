//! [`LocalAddress`]: a local actor's handle on its own thread.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

use zeta_mailbox::{Enqueued, Envelope, Priority, Seal};

use crate::error::{AskError, ControlError, SendError, Undelivered};
use crate::identity::ActorId;
use crate::local::actor::LocalActor;
use crate::local::bridge::SendAddress;
use crate::local::cell::{self, Header, LocalCell, Mail};
use crate::local::reply::{self, LocalFuture, LocalReply};

/// The address of a [`LocalActor`]: one word, cloned and dropped with a plain
/// (non-atomic) count, neither `Send` nor `Sync`.
///
/// Safe to hold in any order with the actor and its system: once the actor has ended,
/// a send gives the message back ([`Undelivered::ActorStopped`]); once the system has
/// stopped, [`Undelivered::SchedulerStopped`]. Dropping the last address of an idle
/// actor ends it ([`StopReason::Dropped`](crate::StopReason::Dropped)).
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
/// let (gentle, abrupt) = (system.spawn(Nop).unwrap(), system.spawn(Nop).unwrap());
/// for n in 0..3 {
///     gentle.send(n).unwrap();
///     abrupt.send(n).unwrap();
/// }
/// assert_eq!(gentle.queued(), 3);
/// gentle.stop().unwrap(); // handles what is queued, then ends
/// abrupt.kill().unwrap(); // ends before its next message
/// assert_eq!(gentle.send(9).unwrap_err().reason(), Undelivered::ActorStopped);
/// system.run_until_idle().unwrap();
/// assert_eq!((gentle.handled(), abrupt.handled()), (3, 0));
/// assert!(!gentle.is_alive() && !abrupt.is_alive());
/// ```
///
/// Another thread reaches the actor through [`sendable`](Self::sendable), not through
/// the address itself, which cannot cross threads:
///
/// ```compile_fail,E0277
/// use zeta::local::{LocalActor, LocalContext, LocalSystem};
///
/// struct Quiet;
/// impl LocalActor for Quiet {
///     type Message = u32;
///     fn handle(&mut self, _: u32, _ctx: &mut LocalContext<'_, Self>) {}
/// }
///
/// let system = LocalSystem::new(64).unwrap();
/// let quiet = system.spawn(Quiet).unwrap();
/// std::thread::spawn(move || quiet.send(1)); // a local address is not `Send`
/// ```
pub struct LocalAddress<A: LocalActor> {
    header: NonNull<Header>,
    _actor: PhantomData<Local<A>>,
}

/// Neither `Send` nor `Sync` (the raw pointer), and covariant-free in `A`.
type Local<A> = (*const (), fn() -> A);

impl<A: LocalActor> LocalAddress<A> {
    /// Adopts a reference on the cell at `header`.
    ///
    /// # Safety
    ///
    /// `header` is a live `LocalCell<A>`'s, and the caller hands over one reference on it
    /// (or never drops the address: a view).
    #[inline(always)]
    pub(crate) unsafe fn from_header(header: NonNull<Header>) -> Self {
        Self {
            header,
            _actor: PhantomData,
        }
    }

    #[inline(always)]
    fn cell(&self) -> &LocalCell<A> {
        // SAFETY: the address's reference keeps the cell live.
        unsafe { LocalCell::from_header(self.header) }
    }

    /// Sends `message` with normal priority.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message: [`Undelivered::ActorStopped`] (the actor is
    /// stopping or ended), [`Undelivered::SchedulerStopped`] (the system stopped), or
    /// [`Undelivered::OutOfMemory`].
    #[inline]
    pub fn send(&self, message: A::Message) -> Result<(), SendError<A::Message>> {
        self.send_with(message, Priority::Normal)
    }

    /// Sends `message` with high priority: handled before the actor's normal messages.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    #[inline]
    pub fn send_high(&self, message: A::Message) -> Result<(), SendError<A::Message>> {
        self.send_with(message, Priority::High)
    }

    /// Sends `message` with `priority`: a node from the system's memory, appended to
    /// the actor's FIFO for that priority, and the actor queued if it was idle. No atomic
    /// operation.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    #[inline]
    pub fn send_with(
        &self,
        message: A::Message,
        priority: Priority,
    ) -> Result<(), SendError<A::Message>> {
        let cell = self.cell();
        if !cell.inbox.accepts() {
            return Err(SendError::new(message, self.refusal()));
        }
        let envelope = match Envelope::new_in(cell.home(), priority, Mail::User(message)) {
            Ok(envelope) => envelope,
            Err(failed) => {
                let message = (failed.payload).into_user();
                return Err(SendError::new(message, Undelivered::OutOfMemory));
            }
        };
        match self.push(envelope) {
            Ok(()) => Ok(()),
            Err(envelope) => Err(self.refused(envelope)),
        }
    }

    /// Queues a node made for this actor (a send, a timer's firing) and schedules the
    /// actor if it was idle; the node back if the actor has ended or is stopping.
    #[inline]
    pub(crate) fn push(
        &self,
        envelope: Envelope<'static, Mail<A::Message>>,
    ) -> Result<(), Envelope<'static, Mail<A::Message>>> {
        match self.cell().inbox.push(envelope) {
            Enqueued::Queued => Ok(()),
            Enqueued::Unblocked => {
                let shared = self.cell().shared();
                if !shared.is_stopped() {
                    // SAFETY: the unblocking push gave us the run right, handed over;
                    // the system runs (just looked).
                    unsafe { shared.enqueue(self.header) };
                    return Ok(());
                }
                self.refuse_stopped()
            }
            Enqueued::Closed(envelope) => Err(envelope),
        }
    }

    /// The error for a node the actor refused.
    #[cold]
    fn refused(&self, envelope: Envelope<'static, Mail<A::Message>>) -> SendError<A::Message> {
        SendError::new(envelope.into_payload().into_user(), self.refusal())
    }

    /// Why the actor refuses messages: its system stopped (which ended it), or it
    /// stopped.
    #[cold]
    fn refusal(&self) -> Undelivered {
        if self.shared().is_stopped() {
            Undelivered::SchedulerStopped
        } else {
            Undelivered::ActorStopped
        }
    }

    /// A stopped system refuses the actor the push woke: the node (the only one: a
    /// blocked inbox is empty) comes back, and the actor ends.
    #[cold]
    #[inline(never)]
    fn refuse_stopped(&self) -> Result<(), Envelope<'static, Mail<A::Message>>> {
        let cell = self.cell();
        let envelope = cell.inbox.pop();
        // SAFETY: the run right (from the unblocking push); the stopped system ends the
        // actor, as a thread-safe scheduler that refuses a job.
        unsafe { cell.shared().schedule(self.header) };
        envelope.map_or(Ok(()), Err)
    }

    /// Sends a request made by `make` from a fresh [`LocalReply`]; the
    /// [`LocalFuture`] gets the answer.
    ///
    /// # Errors
    ///
    /// [`AskError::Undelivered`] with the message (whose reply, dropped with it,
    /// resolves nothing: the future is not returned), or [`AskError::OutOfMemory`] for
    /// the reply's slot.
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::local::{LocalActor, LocalContext, LocalReply, LocalSystem};
    ///
    /// struct Doubler;
    /// impl LocalActor for Doubler {
    ///     type Message = (u32, LocalReply<u32>);
    ///     fn handle(&mut self, (n, reply): (u32, LocalReply<u32>), _: &mut LocalContext<'_, Self>) {
    ///         let _ = reply.send(2 * n);
    ///     }
    /// }
    ///
    /// let system = LocalSystem::new(64).unwrap();
    /// let doubler = system.spawn(Doubler).unwrap();
    /// let mut answer = doubler.ask(|reply| (21, reply)).unwrap();
    /// assert!(answer.try_take().is_none()); // nothing ran yet
    /// system.run_until_idle().unwrap();
    /// assert_eq!(answer.try_take(), Some(Ok(42)));
    /// ```
    pub fn ask<T>(
        &self,
        make: impl FnOnce(LocalReply<T>) -> A::Message,
    ) -> Result<LocalFuture<T>, AskError<A::Message>> {
        self.ask_with(make, Priority::Normal)
    }

    /// As [`ask`](Self::ask), with `priority`.
    ///
    /// # Errors
    ///
    /// As [`ask`](Self::ask).
    pub fn ask_with<T>(
        &self,
        make: impl FnOnce(LocalReply<T>) -> A::Message,
        priority: Priority,
    ) -> Result<LocalFuture<T>, AskError<A::Message>> {
        let (reply, future) =
            reply::pair(self.cell().shared()).map_err(|_| AskError::OutOfMemory)?;
        self.send_with(make(reply), priority)
            .map_err(AskError::Undelivered)?;
        Ok(future)
    }

    /// Stops the actor gracefully: later sends are refused, the messages queued before
    /// are handled, then it ends with [`StopReason::Stopped`](crate::StopReason::Stopped).
    /// Allocates nothing.
    ///
    /// # Errors
    ///
    /// [`ControlError`] ([`Undelivered::ActorStopped`]) if it had already ended.
    pub fn stop(&self) -> Result<(), ControlError> {
        let cell = self.cell();
        match cell.inbox.seal() {
            Seal::Sealed | Seal::AlreadySealed => Ok(()),
            Seal::Unblocked => {
                // SAFETY: the unblocking seal gave us the run right, handed over here
                // (a stopped system ends the actor at once).
                unsafe { cell.shared().schedule(self.header) };
                Ok(())
            }
            Seal::Closed => Err(ControlError::new(Undelivered::ActorStopped)),
        }
    }

    /// Kills the actor: it handles no further message (the one being handled
    /// finishes) and ends with [`StopReason::Killed`](crate::StopReason::Killed) at
    /// its next run. Allocates nothing.
    ///
    /// # Errors
    ///
    /// [`ControlError`] ([`Undelivered::ActorStopped`]) if it had already ended.
    pub fn kill(&self) -> Result<(), ControlError> {
        let cell = self.cell();
        if cell.inbox.is_closed() {
            return Err(ControlError::new(Undelivered::ActorStopped));
        }
        cell.killed.set(true);
        self.stop()
    }

    /// Whether the actor accepts messages: not stopping, not ended.
    pub(crate) fn accepts(&self) -> bool {
        self.cell().inbox.accepts()
    }

    /// The system's memory resource.
    #[inline(always)]
    pub(crate) fn home(&self) -> &'static crate::cell::Home {
        self.cell().home()
    }

    /// The system's shared part.
    #[inline(always)]
    pub(crate) fn shared(&self) -> &std::rc::Rc<crate::local::system::Shared> {
        self.cell().shared()
    }

    /// Whether the actor has not ended yet (it may be stopping).
    pub fn is_alive(&self) -> bool {
        !self.cell().inbox.is_closed()
    }

    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.cell().id
    }

    /// Messages the actor has handled.
    pub fn handled(&self) -> u64 {
        self.cell().handled.get()
    }

    /// The name the actor was spawned with ([`LocalSystem::spawn_named`](crate::local::LocalSystem::spawn_named)),
    /// if any.
    pub fn name(&self) -> Option<&'static str> {
        self.cell().name
    }

    /// Messages queued for the actor.
    pub fn queued(&self) -> usize {
        self.cell().inbox.len()
    }

    /// A handle other threads send through (the `bridge` module's protocol). Its
    /// clones keep the actor reachable as an address does; the reference is given back
    /// on this thread when the last one goes.
    ///
    /// # Errors
    ///
    /// [`ControlError`]: [`Undelivered::SchedulerStopped`] (the system stopped) or
    /// [`Undelivered::OutOfMemory`] (the release node could not be made).
    pub fn sendable(&self) -> Result<SendAddress<A::Message>, ControlError>
    where
        A::Message: Send,
    {
        SendAddress::export(self.cell().shared(), self.header)
    }
}

impl<A: LocalActor> Clone for LocalAddress<A> {
    #[inline]
    fn clone(&self) -> Self {
        cell::retain(self.header);
        Self {
            header: self.header,
            _actor: PhantomData,
        }
    }
}

impl<A: LocalActor> Drop for LocalAddress<A> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the address's reference, given up once.
        unsafe { cell::release(self.header) }
    }
}

impl<A: LocalActor> PartialEq for LocalAddress<A> {
    fn eq(&self, other: &Self) -> bool {
        self.header == other.header
    }
}

impl<A: LocalActor> Eq for LocalAddress<A> {}

impl<A: LocalActor> fmt::Debug for LocalAddress<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut address = f.debug_struct("LocalAddress");
        address.field("id", &self.id());
        if let Some(name) = self.name() {
            address.field("name", &name);
        }
        address.field("alive", &self.is_alive()).finish()
    }
}
