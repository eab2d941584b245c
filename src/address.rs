//! [`Address`]: the typed, refcounted handle through which an actor is reached.

use core::fmt;
use core::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zeta_mailbox::{Enqueued as InboxEnqueued, Envelope, Priority, Seal};
use zeta_scheduler::{JobRef, QueuedJob, Scheduler, Stopped};

use crate::actor::{Actor, StopReason};
use crate::bounded::send::SendFuture;
use crate::bounded::{Bound, NoRoom};
use crate::cell::{bound_of, in_actor, request_yield, Cell, Mail, Shelter};
use crate::error::{AskError, ControlError, SendError, Undelivered};
use crate::future::{Future, Reply, WaitStrategy};
use crate::identity::ActorId;
use crate::supervision::monitor::{self, Monitor};
use crate::supervision::watch::{Entry, Kind};
use crate::sync::Ordering;

/// A typed handle to an actor: one word, cheap to clone (a refcount increment),
/// `Send + Sync`.
///
/// Only `A::Message` can be sent through an `Address<A>`: a message of the wrong type
/// does not compile.
///
/// An address keeps the actor's memory alive, not the actor running: holding one after
/// the actor stopped, or after its scheduler stopped, is safe, and sending through it
/// then returns a [`SendError`] that carries the message back. When the last address
/// (and the last pending request) goes while the actor is idle, the actor stops with
/// [`StopReason::Dropped`](crate::StopReason::Dropped).
///
/// # Sending, in two layers
///
/// - [`send`](Address::send), [`send_high`](Address::send_high),
///   [`ask`](Address::ask): enqueue and, when the actor must be scheduled, schedule it on
///   the scheduler it was spawned with.
/// - [`enqueue`](Address::enqueue): enqueue only, and tell the caller whether the actor
///   must now be scheduled; the caller does it, on any [`Scheduler`].
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Context, Reply, System};
///
/// struct Doubler;
/// enum Msg {
///     Double(u64, Reply<u64>),
/// }
/// impl Actor for Doubler {
///     type Message = Msg;
///     fn handle(&mut self, Msg::Double(n, reply): Msg, _ctx: &mut Context<'_, Self>) {
///         let _ = reply.send(2 * n);
///     }
/// }
///
/// let system = System::sharing(1).unwrap();
/// let doubler = system.spawn(Doubler).unwrap();
/// let answer = doubler.ask(|reply| Msg::Double(21, reply)).unwrap();
/// assert_eq!(answer.wait(), Ok(42));
/// ```
pub struct Address<A: Actor> {
    job: JobRef,
    /// `fn() -> A`: an address never gives access to the actor itself, so it is
    /// `Send + Sync` whatever `A` is.
    _actor: PhantomData<fn() -> A>,
}

impl<A: Actor> Address<A> {
    /// # Safety
    ///
    /// `job` was made by `spawn_cell::<A>`.
    #[inline]
    pub(crate) unsafe fn from_job(job: JobRef) -> Self {
        Self {
            job,
            _actor: PhantomData,
        }
    }

    #[inline(always)]
    pub(crate) fn cell(&self) -> &Cell<A> {
        // SAFETY: an `Address<A>` is only made from a `Cell<A>`'s job (`from_job`).
        unsafe { Cell::from_job(&self.job) }
    }

    /// The actor's id: unique in the process, the same through every clone.
    #[inline]
    pub fn id(&self) -> ActorId {
        self.cell().id
    }

    /// The actor as a schedulable job, for explicit scheduling (see
    /// [`enqueue`](Address::enqueue)).
    pub fn job(&self) -> &JobRef {
        &self.job
    }

    /// The scheduler the actor was spawned with.
    pub fn scheduler(&self) -> &Arc<dyn Scheduler> {
        &self.cell().scheduler
    }

    /// Whether the actor has not ended yet (a snapshot). It may be stopping: after
    /// [`stop`](Address::stop) or [`kill`](Address::kill) it is alive until it has
    /// drained and run [`Actor::on_stop`], but accepts nothing (see
    /// [`accepts`](Address::accepts)).
    pub fn is_alive(&self) -> bool {
        self.cell().is_alive()
    }

    /// Whether a send would be accepted now (a snapshot: the actor may stop right
    /// after): false from the moment it is stopped or killed.
    pub fn accepts(&self) -> bool {
        self.cell().accepts()
    }

    /// The capacity of the actor's bounded mailbox; `None` if it is unbounded (see
    /// [`spawn_bounded`](crate::spawn_bounded)).
    pub fn capacity(&self) -> Option<usize> {
        self.bound().map(Bound::capacity)
    }

    /// The name the actor was spawned with ([`System::spawn_named`](crate::System::spawn_named)),
    /// if any.
    pub fn name(&self) -> Option<&'static str> {
        self.cell().name
    }

    /// How many messages the actor has handled (updated at the end of each run: a
    /// statistic, e.g. for [`Balancer`](crate::Balancer)'s least-loaded choice).
    pub fn handled(&self) -> u64 {
        self.cell().handled.load(Ordering::Relaxed)
    }

    /// Sends `message` at normal priority, scheduling the actor if needed.
    ///
    /// To a bounded mailbox ([`spawn_bounded`](crate::spawn_bounded)) that is full, a
    /// send from outside an actor is refused ([`Undelivered::Full`]), and one from a
    /// handler is admitted over capacity (the sending actor then yields after its
    /// current message); [`try_send`](Address::try_send),
    /// [`send_blocking`](Address::send_blocking) and [`send_async`](Address::send_async)
    /// choose otherwise.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message when the actor has stopped, its scheduler has
    /// stopped, its memory resource is out of memory, or (from outside an actor) its
    /// bounded mailbox is full.
    #[inline]
    pub fn send(&self, message: A::Message) -> Result<(), SendError<A::Message>> {
        self.send_with(Priority::Normal, message)
    }

    /// Sends `message` at high priority: it is handled before every normal message
    /// already queued (per sender, high messages stay in order).
    ///
    /// # Errors
    ///
    /// As for [`send`](Address::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use zeta::{Actor, Context, System};
    ///
    /// struct Printer(mpsc::Sender<&'static str>);
    /// impl Actor for Printer {
    ///     type Message = &'static str;
    ///     fn handle(&mut self, line: &'static str, _ctx: &mut Context<'_, Self>) {
    ///         self.0.send(line).unwrap();
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let (lines, printed) = mpsc::channel();
    /// let printer = system.spawn(Printer(lines)).unwrap();
    /// printer.send("normal 1").unwrap();
    /// printer.send("normal 2").unwrap();
    /// printer.send_high("urgent").unwrap();
    /// system.scheduler().run_until_idle().unwrap();
    /// let order: Vec<_> = printed.try_iter().collect();
    /// assert_eq!(order, ["urgent", "normal 1", "normal 2"]);
    /// ```
    #[inline]
    pub fn send_high(&self, message: A::Message) -> Result<(), SendError<A::Message>> {
        self.send_with(Priority::High, message)
    }

    /// Sends `message` at `priority`.
    ///
    /// # Errors
    ///
    /// As for [`send`](Address::send).
    #[inline(always)]
    pub fn send_with(
        &self,
        priority: Priority,
        message: A::Message,
    ) -> Result<(), SendError<A::Message>> {
        // The one cost of bounded mailboxes to an unbounded actor: a load and a branch.
        if let Some(bound) = self.bound() {
            return self.send_bounded(bound, priority, message, Admit::Send);
        }
        let pushed = match Envelope::new_in(self.cell().home(), priority, Mail::User(message)) {
            Ok(envelope) => self.push_raw(envelope),
            Err(failed) => Err((failed.payload, Undelivered::OutOfMemory)),
        };
        pushed.map_err(|(mail, reason)| SendError::new(user(mail), reason))
    }

    /// Sends `message` at normal priority unless the actor's mailbox is bounded and
    /// full, inside an actor or not: then it comes back with [`Undelivered::Full`].
    /// For an unbounded actor, the same as [`send`](Address::send). A handler sheds
    /// load with it where a plain `send` would be admitted over capacity (see
    /// [`spawn_bounded`](crate::spawn_bounded)).
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message: [`Undelivered::Full`], or as for
    /// [`send`](Address::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Context, System, Undelivered};
    ///
    /// struct Log(Vec<u32>);
    /// impl Actor for Log {
    ///     type Message = u32;
    ///     fn handle(&mut self, n: u32, _ctx: &mut Context<'_, Self>) {
    ///         self.0.push(n);
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let log = system.spawn_bounded(Log(Vec::new()), 3).unwrap();
    /// let mut shed = Vec::new();
    /// for n in 0..5 {
    ///     if let Err(full) = log.try_send(n) {
    ///         assert_eq!(full.reason(), Undelivered::Full);
    ///         shed.push(full.into_message());
    ///     }
    /// }
    /// assert_eq!(shed, [3, 4]);
    /// ```
    pub fn try_send(&self, message: A::Message) -> Result<(), SendError<A::Message>> {
        match self.bound() {
            None => self.send(message),
            Some(bound) => self.send_bounded(bound, Priority::Normal, message, Admit::Try),
        }
    }

    /// Sends `message` at normal priority, waiting while the actor's bounded mailbox is
    /// full: spins briefly, then parks (as `strategy` says, as a request's
    /// [`Future::wait_with`] does) until the actor's runner makes room, or the actor
    /// stops. For an unbounded actor, the same as [`send`](Address::send).
    ///
    /// Inside an actor it never blocks: a full mailbox is refused with
    /// [`Undelivered::WouldBlock`] (a blocked worker can deadlock its scheduler). On a
    /// [`ManualScheduler`](zeta_scheduler::ManualScheduler), the thread that drives the
    /// scheduler must not wait for an actor it drives: use
    /// [`send_timeout`](Address::send_timeout) or [`try_send`](Address::try_send).
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message: [`Undelivered::WouldBlock`] inside an actor;
    /// [`Undelivered::ActorStopped`] if the actor stops while the sender waits; or as
    /// for [`send`](Address::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Context, System, WaitStrategy};
    ///
    /// struct Sum(u64);
    /// impl Actor for Sum {
    ///     type Message = u64;
    ///     fn handle(&mut self, n: u64, _ctx: &mut Context<'_, Self>) {
    ///         self.0 += n;
    ///     }
    /// }
    ///
    /// let system = System::sharing(1).unwrap();
    /// let sum = system.spawn_bounded(Sum(0), 4).unwrap();
    /// for n in 0..1_000 {
    ///     // Never refused: waits while 4 are queued.
    ///     sum.send_blocking(n, WaitStrategy::Park).unwrap();
    /// }
    /// ```
    pub fn send_blocking(
        &self,
        message: A::Message,
        strategy: WaitStrategy,
    ) -> Result<(), SendError<A::Message>> {
        self.send_until(message, strategy, None)
    }

    /// [`send_blocking`](Address::send_blocking), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message: [`Undelivered::Full`] when the mailbox was still
    /// full at the deadline; or as for [`send_blocking`](Address::send_blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeta::{Actor, Context, System, Undelivered, WaitStrategy};
    ///
    /// struct Idle;
    /// impl Actor for Idle {
    ///     type Message = u8;
    ///     fn handle(&mut self, _: u8, _ctx: &mut Context<'_, Self>) {}
    /// }
    ///
    /// let system = System::manual(64).unwrap(); // nobody runs it
    /// let idle = system.spawn_bounded(Idle, 1).unwrap();
    /// idle.send(1).unwrap();
    /// let late = idle.send_timeout(2, WaitStrategy::Park, Duration::from_millis(5));
    /// assert_eq!(late.unwrap_err().reason(), Undelivered::Full);
    /// ```
    pub fn send_timeout(
        &self,
        message: A::Message,
        strategy: WaitStrategy,
        timeout: Duration,
    ) -> Result<(), SendError<A::Message>> {
        self.send_until(message, strategy, Instant::now().checked_add(timeout))
    }

    fn send_until(
        &self,
        message: A::Message,
        strategy: WaitStrategy,
        deadline: Option<Instant>,
    ) -> Result<(), SendError<A::Message>> {
        let Some(bound) = self.bound() else {
            return self.send(message);
        };
        let waited = if bound.try_acquire() {
            Ok(())
        } else if in_actor() {
            Err(Undelivered::WouldBlock)
        } else {
            let cell = self.cell();
            bound
                .acquire_blocking(|| cell.accepts(), strategy, deadline)
                .map_err(|why| match why {
                    NoRoom::Stopped => Undelivered::ActorStopped,
                    NoRoom::TimedOut => Undelivered::Full,
                })
        };
        match waited {
            Ok(()) => self
                .push_admitted(bound, Priority::Normal, Mail::User(message))
                .map_err(|(mail, reason)| SendError::new(user(mail), reason)),
            Err(reason) => Err(SendError::new(message, reason)),
        }
    }

    /// Sends `message` at normal priority once the actor's bounded mailbox has room: a
    /// future that resolves when the message is in (or refused for another reason),
    /// for async code, with no runtime. Waiting allocates nothing: the future holds its
    /// own place in the mailbox's list of waiters, and the actor's runner wakes it when
    /// it makes room. For an unbounded actor, it resolves at its first poll, as
    /// [`send`](Address::send).
    ///
    /// Polled inside an actor, it resolves at once as a plain `send` there does
    /// (admitted over capacity). Dropping it before it resolves drops the message and
    /// takes its place out of the list; [`SendFuture::cancel`] takes the message back
    /// instead.
    ///
    /// # Errors
    ///
    /// The future resolves to [`SendError`] with the message:
    /// [`Undelivered::ActorStopped`] if the actor stops while it waits, or as for
    /// [`send`](Address::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future as _;
    /// use std::pin::pin;
    /// use std::task::{Context as TaskContext, Poll, Waker};
    /// use zeta::{Actor, Context, System};
    ///
    /// struct Sink;
    /// impl Actor for Sink {
    ///     type Message = u32;
    ///     fn handle(&mut self, _: u32, _ctx: &mut Context<'_, Self>) {}
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let sink = system.spawn_bounded(Sink, 1).unwrap();
    /// sink.send(1).unwrap();
    /// let mut task = TaskContext::from_waker(Waker::noop());
    /// let mut second = pin!(sink.send_async(2));
    /// assert!(second.as_mut().poll(&mut task).is_pending()); // full: it waits
    /// system.scheduler().run_until_idle().unwrap(); // the actor makes room
    /// assert!(matches!(second.as_mut().poll(&mut task), Poll::Ready(Ok(()))));
    /// ```
    pub fn send_async(&self, message: A::Message) -> SendFuture<'_, A> {
        SendFuture::new(self, message)
    }

    /// The bound of a bounded actor: `None` (one load, one branch) for the others.
    #[inline(always)]
    pub(crate) fn bound(&self) -> Option<&Bound> {
        if self.cell().capacity == 0 {
            return None;
        }
        // SAFETY: a cell with a capacity, reached through the job's pointer (which
        // covers its whole block); our reference keeps it alive for the borrow.
        Some(unsafe { bound_of::<A>(self.job.as_ptr()) })
    }

    /// A user message to a bounded actor: admission by `admit`'s rule, then the push.
    #[cold]
    #[inline(never)]
    fn send_bounded(
        &self,
        bound: &Bound,
        priority: Priority,
        message: A::Message,
        admit: Admit,
    ) -> Result<(), SendError<A::Message>> {
        if let Err(reason) = self.admit(bound, admit) {
            return Err(SendError::new(message, reason));
        }
        self.push_admitted(bound, priority, Mail::User(message))
            .map_err(|(mail, reason)| SendError::new(user(mail), reason))
    }

    /// Takes a slot for a user message by the rule of `admit` (`bounded` module doc, "A
    /// handler's send to a full mailbox").
    pub(crate) fn admit(&self, bound: &Bound, admit: Admit) -> Result<(), Undelivered> {
        if bound.try_acquire() {
            return Ok(());
        }
        if !self.cell().accepts() {
            return Err(Undelivered::ActorStopped);
        }
        match admit {
            Admit::Send if in_actor() => {
                bound.charge();
                request_yield();
                Ok(())
            }
            Admit::Send | Admit::Try => Err(Undelivered::Full),
        }
    }

    /// Allocates and pushes `mail`, which holds a slot of `bound`; the slot goes back
    /// if the message does not get in.
    pub(crate) fn push_admitted(
        &self,
        bound: &Bound,
        priority: Priority,
        mail: Mail<A::Message>,
    ) -> Result<(), (Mail<A::Message>, Undelivered)> {
        let pushed = match Envelope::new_in(self.cell().home(), priority, mail) {
            Ok(envelope) => self.push_raw(envelope),
            Err(failed) => Err((failed.payload, Undelivered::OutOfMemory)),
        };
        if pushed.is_err() {
            bound.release(1);
        }
        pushed
    }

    /// The low-level send: enqueues `message` and reports whether the actor must now be
    /// scheduled, without scheduling it.
    ///
    /// On [`Enqueued::MustSchedule`] the caller hands the actor to a scheduler of its
    /// choice ([`MustSchedule::schedule_on`]); exactly one enqueue wins that duty per
    /// time the actor goes idle, so the actor is never queued twice.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message when the actor has stopped or its memory resource
    /// is out of memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use zeta::{Actor, Context, Enqueued, ManualScheduler, Priority, Scheduler, System};
    ///
    /// struct Sink(u32);
    /// impl Actor for Sink {
    ///     type Message = u32;
    ///     fn handle(&mut self, n: u32, _ctx: &mut Context<'_, Self>) {
    ///         self.0 += n;
    ///     }
    /// }
    ///
    /// let mine = Arc::new(ManualScheduler::new(64).unwrap());
    /// let system = System::manual(64).unwrap();
    /// let sink = system.spawn(Sink(0)).unwrap();
    /// match sink.enqueue(Priority::Normal, 1).unwrap() {
    ///     Enqueued::MustSchedule(duty) => duty.schedule_on(&*mine).unwrap(),
    ///     Enqueued::Queued => unreachable!("the actor was idle"),
    /// }
    /// // The second message finds the actor already scheduled.
    /// assert!(matches!(sink.enqueue(Priority::Normal, 2).unwrap(), Enqueued::Queued));
    /// assert_eq!(mine.run_until_idle().unwrap().messages, 2);
    /// ```
    pub fn enqueue(
        &self,
        priority: Priority,
        message: A::Message,
    ) -> Result<Enqueued<'_, A>, SendError<A::Message>> {
        let cell = self.cell();
        let bound = self.bound();
        if let Some(bound) = bound {
            if let Err(reason) = self.admit(bound, Admit::Send) {
                return Err(SendError::new(message, reason));
            }
        }
        let refused = |payload, reason| {
            if let Some(bound) = bound {
                bound.release(1);
            }
            Err(SendError::new(user(payload), reason))
        };
        let envelope = match Envelope::new_in(cell.home(), priority, Mail::User(message)) {
            Ok(envelope) => envelope,
            Err(failed) => return refused(failed.payload, Undelivered::OutOfMemory),
        };
        match cell.inbox.push(envelope) {
            InboxEnqueued::Queued => Ok(Enqueued::Queued),
            InboxEnqueued::Unblocked => Ok(Enqueued::MustSchedule(MustSchedule {
                address: self,
                done: false,
            })),
            InboxEnqueued::Closed(envelope) => {
                refused(envelope.into_payload(), Undelivered::ActorStopped)
            }
        }
    }

    /// Sends a request at normal priority: `make` builds the message around the
    /// [`Reply`] the handler answers through, and the returned [`Future`] resolves to
    /// the answer. The reply slot lives in the message's own node: one allocation, from
    /// the actor's memory resource.
    ///
    /// # Errors
    ///
    /// [`AskError`]: the request could not be allocated, or could not be delivered (the
    /// message comes back).
    #[inline]
    pub fn ask<T: Send>(
        &self,
        make: impl FnOnce(Reply<T>) -> A::Message,
    ) -> Result<Future<T>, AskError<A::Message>> {
        self.ask_with(Priority::Normal, make)
    }

    /// [`ask`](Address::ask) at high priority.
    ///
    /// # Errors
    ///
    /// As for [`ask`](Address::ask).
    #[inline]
    pub fn ask_high<T: Send>(
        &self,
        make: impl FnOnce(Reply<T>) -> A::Message,
    ) -> Result<Future<T>, AskError<A::Message>> {
        self.ask_with(Priority::High, make)
    }

    /// [`ask`](Address::ask) at `priority`.
    ///
    /// # Errors
    ///
    /// As for [`ask`](Address::ask).
    pub fn ask_with<T: Send>(
        &self,
        priority: Priority,
        make: impl FnOnce(Reply<T>) -> A::Message,
    ) -> Result<Future<T>, AskError<A::Message>> {
        // SAFETY: the job is a `Cell<A>`'s. The `'static` is what the weak count makes
        // true: a request node is allocated through the cell's shelter as a resource
        // (`impl MemoryResource for Shelter`), which takes a weak reference for as long
        // as the node lives, so the cell's memory and resource outlive the node, its
        // `Reply` and its `Pending`.
        let resource: &'static Shelter<A> = unsafe { Shelter::from_job(&self.job) };
        let (envelope, pending) =
            Envelope::new_request_in(resource, priority, |reply| Mail::User(make(reply)))
                .map_err(|_| AskError::OutOfMemory)?;
        // The node now holds its own reference on the cell; from here the request
        // travels like any message.
        let pushed = match self.bound() {
            None => self.push_raw(envelope),
            Some(bound) => match self.admit(bound, Admit::Send) {
                Ok(()) => {
                    let pushed = self.push_raw(envelope);
                    if pushed.is_err() {
                        bound.release(1);
                    }
                    pushed
                }
                Err(reason) => Err((envelope.into_payload(), reason)),
            },
        };
        match pushed {
            Ok(()) => Ok(Future::new(pending)),
            Err((mail, reason)) => {
                drop(pending);
                Err(AskError::Undelivered(SendError::new(user(mail), reason)))
            }
        }
    }

    /// A future of the actor's end: resolves with the [`StopReason`] once the actor
    /// has ended (its `on_stop` has run and it has been dropped), at once if it has
    /// already. Wait for it like a request's [`Future`]: block, with a timeout, or
    /// `.await`. Dropping it early is fine.
    ///
    /// One node from the actor's memory resource, allocated now (and, for the actor's
    /// first watcher, its watch list's block); the actor's end allocates nothing to
    /// answer it.
    ///
    /// # Errors
    ///
    /// [`ControlError`] with [`Undelivered::OutOfMemory`] when the actor's resource has
    /// no room for the node.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeta::{Actor, Context, StopReason, System};
    ///
    /// struct Worker;
    /// impl Actor for Worker {
    ///     type Message = ();
    ///     fn handle(&mut self, _: (), ctx: &mut Context<'_, Self>) {
    ///         ctx.stop();
    ///     }
    /// }
    ///
    /// let system = System::sharing(1).unwrap();
    /// let worker = system.spawn(Worker).unwrap();
    /// let mut ended = worker.stopped().unwrap();
    /// worker.send(()).unwrap();
    /// assert_eq!(ended.wait_timeout(Duration::from_secs(5)), Ok(StopReason::Stopped));
    /// // Asked after the end: resolved at once.
    /// assert_eq!(worker.stopped().unwrap().wait(), Ok(StopReason::Stopped));
    /// ```
    ///
    /// [`StopReason`]: crate::StopReason
    pub fn stopped(&self) -> Result<Future<StopReason>, ControlError> {
        // SAFETY: the job is a `Cell<A>`'s. The `'static` is what the weak count makes
        // true, as for `ask`: the node holds a weak reference on the cell while it lives.
        let resource: &'static Shelter<A> = unsafe { Shelter::from_job(&self.job) };
        let (entry, pending) = Envelope::new_request_in(resource, Priority::Normal, |reply| {
            Entry::new(Kind::Stopped(Some(reply)))
        })
        .map_err(|_| ControlError::new(Undelivered::OutOfMemory))?;
        let cell = self.cell();
        cell.watch
            .add(&*cell.home, entry)
            .map_err(|_| ControlError::new(Undelivered::OutOfMemory))?;
        Ok(Future::new(pending))
    }

    /// Makes this actor monitor `target`: when `target` ends, this actor's
    /// [`Actor::on_down`] runs once with a [`Down`] saying who and why (at once if it
    /// has ended already), unless the [`Monitor`] is taken back first.
    ///
    /// Two nodes, allocated now: one from `target`'s memory, one from this actor's; the
    /// end of `target` allocates nothing to deliver the `Down`. The monitor keeps this
    /// actor alive (as an address would) until its `Down` is delivered or it is taken
    /// back. Inside a handler, [`Context::monitor`](crate::Context::monitor) does the
    /// same for the running actor.
    ///
    /// # Errors
    ///
    /// [`ControlError`] with [`Undelivered::OutOfMemory`] when either resource has no
    /// room for its node.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use zeta::{Actor, Context, Down, StopReason, System};
    ///
    /// struct Worker;
    /// impl Actor for Worker {
    ///     type Message = u32;
    ///     fn handle(&mut self, n: u32, _ctx: &mut Context<'_, Self>) {
    ///         assert!(n != 13, "unlucky");
    ///     }
    /// }
    ///
    /// struct Watcher(mpsc::Sender<Down>);
    /// impl Actor for Watcher {
    ///     type Message = ();
    ///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
    ///     fn on_down(&mut self, down: Down, _ctx: &mut Context<'_, Self>) {
    ///         self.0.send(down).unwrap();
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let (tx, downs) = mpsc::channel();
    /// let watcher = system.spawn(Watcher(tx)).unwrap();
    /// let worker = system.spawn(Worker).unwrap();
    /// let _monitor = watcher.monitor(&worker).unwrap();
    /// worker.send(13).unwrap();
    /// system.scheduler().run_until_idle().unwrap();
    /// let down = downs.try_recv().unwrap();
    /// assert_eq!(down.id, worker.id());
    /// assert_eq!(down.reason, StopReason::Panicked("unlucky".into()));
    /// assert!(downs.try_recv().is_err()); // once
    /// ```
    ///
    /// [`Down`]: crate::Down
    /// [`Monitor`]: crate::Monitor
    pub fn monitor<T: Actor>(&self, target: &Address<T>) -> Result<Monitor, ControlError> {
        monitor::monitor(self, target)
    }

    /// Links this actor and `other`: when either fails (panics, or is itself taken
    /// down by a link: [`StopReason::is_failure`]), the other stops too, with
    /// [`StopReason::Linked`], unless it traps exits
    /// ([`Context::trap_exits`](crate::Context::trap_exits)); then its
    /// [`Actor::on_down`] gets the [`Down`](crate::Down), as it does for any other end of
    /// its partner. The failure's notice travels at high priority: the partner stops
    /// before its queued normal messages.
    ///
    /// A link is two monitors, one each way (four nodes, allocated now; an end
    /// allocates nothing), and lasts until one of the two ends. Each keeps the other
    /// alive, as an address would.
    ///
    /// # Errors
    ///
    /// [`ControlError`] with [`Undelivered::OutOfMemory`] when a resource has no room:
    /// then there is no link.
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Context, StopReason, System};
    ///
    /// struct Part;
    /// impl Actor for Part {
    ///     type Message = bool;
    ///     fn handle(&mut self, fail: bool, _ctx: &mut Context<'_, Self>) {
    ///         assert!(!fail, "a part fails");
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let engine = system.spawn(Part).unwrap();
    /// let gearbox = system.spawn(Part).unwrap();
    /// engine.link(&gearbox).unwrap();
    /// let mut gearbox_ended = gearbox.stopped().unwrap();
    /// engine.send(true).unwrap();
    /// system.scheduler().run_until_idle().unwrap();
    /// assert_eq!(gearbox_ended.try_take(), Some(Ok(StopReason::Linked(engine.id()))));
    /// ```
    pub fn link<B: Actor>(&self, other: &Address<B>) -> Result<(), ControlError> {
        monitor::link(self, other)
    }

    /// Stops the actor gracefully: every message queued before this call is handled,
    /// then [`Actor::on_stop`] runs with [`StopReason::Stopped`](crate::StopReason).
    /// From this call on the actor accepts nothing: later sends return their message in
    /// a [`SendError`] ([`Undelivered::ActorStopped`]), and [`accepts`] is false;
    /// [`is_alive`] turns false once the actor has ended.
    ///
    /// Allocates nothing, so it works when the actor's memory resource is exhausted.
    /// Stopping an actor that is already stopping is a no-op.
    ///
    /// [`is_alive`]: Address::is_alive
    /// [`accepts`]: Address::accepts
    ///
    /// # Errors
    ///
    /// [`ControlError`] with [`Undelivered::ActorStopped`] when the actor had already
    /// stopped, or [`Undelivered::SchedulerStopped`] when the actor was idle and its
    /// scheduler has stopped (the actor then ends at once, with
    /// [`StopReason::SchedulerStopped`](crate::StopReason)).
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Context, System, Undelivered};
    ///
    /// struct Sum(u64);
    /// impl Actor for Sum {
    ///     type Message = u64;
    ///     fn handle(&mut self, n: u64, _ctx: &mut Context<'_, Self>) {
    ///         self.0 += n;
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let sum = system.spawn(Sum(0)).unwrap();
    /// sum.send(1).unwrap();
    /// sum.stop().unwrap();
    /// let refused = sum.send(2).unwrap_err(); // after the stop: handed back
    /// assert_eq!(refused.reason(), Undelivered::ActorStopped);
    /// assert_eq!(refused.into_message(), 2);
    /// system.scheduler().run_until_idle().unwrap(); // handles 1, then stops
    /// assert_eq!(sum.handled(), 1);
    /// ```
    pub fn stop(&self) -> Result<(), ControlError> {
        self.seal()
    }

    /// Stops the actor now: no further message is handled (the one being handled
    /// finishes), queued messages are dropped and the requests among them resolve with
    /// an error; [`Actor::on_stop`] runs with [`StopReason::Killed`](crate::StopReason).
    /// From this call on the actor accepts nothing, as after [`stop`](Address::stop).
    ///
    /// Allocates nothing, so it works when the actor's memory resource is exhausted: a
    /// kill switch cannot fail for lack of memory. Killing an actor that is already
    /// stopping (even gracefully) makes it stop now.
    ///
    /// # Errors
    ///
    /// As for [`stop`](Address::stop).
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Context, Reply, RequestError, StopReason, System};
    ///
    /// struct Worker;
    /// impl Actor for Worker {
    ///     type Message = Reply<u32>;
    ///     fn handle(&mut self, reply: Reply<u32>, _ctx: &mut Context<'_, Self>) {
    ///         let _ = reply.send(1);
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let worker = system.spawn(Worker).unwrap();
    /// let mut queued = worker.ask(|reply| reply).unwrap();
    /// worker.kill().unwrap();
    /// assert!(!worker.accepts()); // from now on
    /// assert!(worker.is_alive()); // until it has ended
    /// system.scheduler().run_until_idle().unwrap();
    /// assert!(!worker.is_alive());
    /// assert_eq!(queued.try_take(), Some(Err(RequestError::NoReply))); // never handled
    /// assert_eq!(worker.stopped().unwrap().try_take(), Some(Ok(StopReason::Killed)));
    /// ```
    pub fn kill(&self) -> Result<(), ControlError> {
        let cell = self.cell();
        if cell.inbox.is_closed() {
            return Err(ControlError::new(Undelivered::ActorStopped));
        }
        // Relaxed: the seal below publishes it (its CAS is Release, made even when the
        // inbox is sealed already), and the runner reads it after an Acquire on the
        // inbox; before every message it also polls it, as an early hint.
        cell.killed.store(true, Ordering::Relaxed);
        match self.seal() {
            // Closed after our flag was set: the actor has ended, perhaps through it.
            // Either way it is stopped, which is what was asked.
            Err(error) if error.reason() == Undelivered::ActorStopped => Ok(()),
            result => result,
        }
    }

    /// Seals the inbox (no allocation) and, if that woke the actor, schedules it so it
    /// runs and ends.
    fn seal(&self) -> Result<(), ControlError> {
        let cell = self.cell();
        let sealed = cell.inbox.seal();
        if let Some(bound) = self.bound() {
            // Senders waiting for room find the seal (`bounded` module doc, "Seal and
            // end": unconditionally, not only when `WAITERS` is set).
            bound.wake_all();
        }
        match sealed {
            Seal::Sealed | Seal::AlreadySealed => Ok(()),
            Seal::Closed => Err(ControlError::new(Undelivered::ActorStopped)),
            // The seal unblocked the actor: we hold the run right, as an unblocking
            // sender does, and schedule it.
            // SAFETY: the unblocking seal gave us the run right, handed on once.
            Seal::Unblocked => unsafe { submit_own(&self.job, cell) }.map_err(|stopped| {
                // Dropping the refused entry tells the actor shutdown: it ends here, on
                // this thread.
                drop(stopped);
                ControlError::new(Undelivered::SchedulerStopped)
            }),
        }
    }

    /// Allocates a node for the engine's own `mail` (a wake-up), pushes it, and
    /// schedules the actor if the push unblocked it. Never refused for a bounded
    /// mailbox's fullness (it counts against the bound: [`push`](Address::push)).
    #[inline(always)]
    pub(crate) fn deliver(
        &self,
        priority: Priority,
        mail: Mail<A::Message>,
    ) -> Result<(), (Mail<A::Message>, Undelivered)> {
        match Envelope::new_in(self.cell().home(), priority, mail) {
            Ok(envelope) => self.push(envelope),
            Err(failed) => Err((failed.payload, Undelivered::OutOfMemory)),
        }
    }

    /// Pushes the engine's own mail (a wake-up, a monitor's `Down`, a supervisor's
    /// notice) and schedules the actor if the push unblocked it. A bounded mailbox
    /// counts it but never refuses it (`bounded` module doc).
    #[inline(always)]
    pub(crate) fn push(
        &self,
        envelope: Envelope<'static, Mail<A::Message>>,
    ) -> Result<(), (Mail<A::Message>, Undelivered)> {
        match self.bound() {
            None => self.push_raw(envelope),
            Some(bound) => self.push_charged(bound, envelope),
        }
    }

    #[cold]
    #[inline(never)]
    fn push_charged(
        &self,
        bound: &Bound,
        envelope: Envelope<'static, Mail<A::Message>>,
    ) -> Result<(), (Mail<A::Message>, Undelivered)> {
        bound.charge();
        let pushed = self.push_raw(envelope);
        if pushed.is_err() {
            bound.release(1);
        }
        pushed
    }

    /// Pushes `envelope` and schedules the actor if the push unblocked it; a bounded
    /// mailbox's slot, if any, is the caller's business.
    #[inline(always)]
    fn push_raw(
        &self,
        envelope: Envelope<'static, Mail<A::Message>>,
    ) -> Result<(), (Mail<A::Message>, Undelivered)> {
        let cell = self.cell();
        match cell.inbox.push(envelope) {
            InboxEnqueued::Queued => Ok(()),
            // Winning `Unblocked` gave us the run right: its entry costs no atomic.
            // SAFETY: the unblocking push gave us the run right, handed on once.
            InboxEnqueued::Unblocked => match unsafe { submit_own(&self.job, cell) } {
                Ok(()) => Ok(()),
                Err(stopped) => Err((self.rescue(stopped), Undelivered::SchedulerStopped)),
            },
            InboxEnqueued::Closed(envelope) => {
                Err((envelope.into_payload(), Undelivered::ActorStopped))
            }
        }
    }

    /// The scheduler refused the actor that our push unblocked: take our message back.
    ///
    /// `stopped` holds the actor's run right, so we have the actor to ourselves. Our
    /// message is the oldest in the inbox: the inbox was empty and blocked when we pushed
    /// (that is what `Unblocked` means), and nobody has taken from it since (taking needs
    /// the run right, which is ours). So we close the inbox, keep the last node of the
    /// LIFO batch, drop the others (their requests resolve with an error), and let
    /// `stopped` go, which tells the actor shutdown.
    #[cold]
    fn rescue(&self, stopped: Stopped) -> Mail<A::Message> {
        let mut oldest = None;
        for envelope in self.cell().inbox.close() {
            drop(oldest.replace(envelope));
        }
        drop(stopped);
        oldest
            .expect("the message that unblocked the inbox is still in it")
            .into_payload()
    }
}

/// How a user message is admitted into a full bounded mailbox (`bounded` module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// `send`, `enqueue`, `ask`, a polled `send_async`: refused from outside an actor,
    /// admitted over capacity from inside one (which then yields).
    Send,
    /// `try_send`: refused wherever it is made.
    Try,
}

/// The user message inside a `Mail` built from one.
#[inline(always)]
fn user<M>(mail: Mail<M>) -> M {
    match mail.into_user() {
        Some(message) => message,
        None => unreachable!("only user mail is given back to senders of user messages"),
    }
}

impl<A: Actor> Clone for Address<A> {
    #[inline]
    fn clone(&self) -> Self {
        Self {
            job: self.job.clone(),
            _actor: PhantomData,
        }
    }
}

impl<A: Actor> PartialEq for Address<A> {
    fn eq(&self, other: &Self) -> bool {
        self.job == other.job
    }
}

impl<A: Actor> Eq for Address<A> {}

impl<A: Actor> fmt::Debug for Address<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut address = f.debug_struct("Address");
        address.field("id", &format_args!("{}", self.id()));
        if let Some(name) = self.name() {
            address.field("name", &name);
        }
        address
            .field("actor", &core::any::type_name::<A>())
            .field("alive", &self.is_alive())
            .finish()
    }
}

/// What [`Address::enqueue`] did.
///
/// # Examples
///
/// A batch enqueued, and the actor scheduled once, after it:
///
/// ```
/// use zeta::{Actor, Context, Enqueued, Priority, System};
///
/// struct Sink;
/// impl Actor for Sink {
///     type Message = u32;
///     fn handle(&mut self, _: u32, _ctx: &mut Context<'_, Self>) {}
/// }
///
/// let system = System::manual(64).unwrap();
/// let scheduler = system.scheduler();
/// let sink = system.spawn(Sink).unwrap();
/// let mut duties = Vec::new();
/// for n in 0..100 {
///     match sink.enqueue(Priority::Normal, n).unwrap() {
///         Enqueued::MustSchedule(duty) => duties.push(duty),
///         Enqueued::Queued => {}
///     }
/// }
/// assert_eq!(duties.len(), 1); // only the first found the actor idle
/// for duty in duties {
///     duty.schedule_on(scheduler.as_ref()).unwrap();
/// }
/// assert_eq!(scheduler.run_until_idle().unwrap().messages, 100);
/// ```
#[must_use = "on `MustSchedule` the actor must be scheduled, or its messages wait"]
pub enum Enqueued<'a, A: Actor> {
    /// The actor was already scheduled or running; nothing to do.
    Queued,
    /// The actor was idle: schedule it now.
    MustSchedule(MustSchedule<'a, A>),
}

/// The duty to schedule an actor that an enqueue woke.
///
/// Give it to [`schedule_on`](MustSchedule::schedule_on) with any scheduler, or keep it
/// past the borrow with [`into_owned`](MustSchedule::into_owned). If it is dropped
/// instead, it schedules the actor on the scheduler the actor was spawned with, so a
/// forgotten duty delays the actor but never strands its messages. (Only leaking it, with
/// `mem::forget`, can: as with a lock guard, what a leaked value owed is never done.)
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Context, Enqueued, Priority, System};
///
/// struct Sink;
/// impl Actor for Sink {
///     type Message = u32;
///     fn handle(&mut self, _: u32, _ctx: &mut Context<'_, Self>) {}
/// }
///
/// let system = System::manual(64).unwrap();
/// let sink = system.spawn(Sink).unwrap();
/// match sink.enqueue(Priority::Normal, 1).unwrap() {
///     // Dropped undone: the duty schedules the actor on its own scheduler.
///     Enqueued::MustSchedule(duty) => drop(duty),
///     Enqueued::Queued => unreachable!("the actor was idle"),
/// }
/// assert_eq!(system.scheduler().run_until_idle().unwrap().messages, 1);
/// ```
#[must_use = "schedule the actor with `schedule_on`"]
pub struct MustSchedule<'a, A: Actor> {
    address: &'a Address<A>,
    done: bool,
}

impl<A: Actor> MustSchedule<'_, A> {
    /// Schedules the actor on `scheduler`.
    ///
    /// # Errors
    ///
    /// [`Stopped`] if `scheduler` has stopped; dropping the error tells the actor
    /// shutdown (its queued messages are dropped; requests resolve with an error).
    pub fn schedule_on(mut self, scheduler: &dyn Scheduler) -> Result<(), Stopped> {
        self.done = true;
        // SAFETY: the duty is the run right of an unblocking push; `done` keeps the
        // drop from handing it on again.
        unsafe { submit(&self.address.job, scheduler) }
    }

    /// The duty, detached from the borrowed address (it holds an address of its own):
    /// to schedule later, elsewhere, or on another thread. Dropped, it schedules the
    /// actor on its own scheduler, as this one would.
    pub fn into_owned(mut self) -> ScheduleDuty<A> {
        self.done = true;
        ScheduleDuty {
            address: Some(self.address.clone()),
        }
    }
}

impl<A: Actor> Drop for MustSchedule<'_, A> {
    fn drop(&mut self) {
        if !self.done {
            // SAFETY: an undischarged duty is the run right of an unblocking push.
            unsafe { schedule_on_own(self.address) };
        }
    }
}

/// An owned duty to schedule an actor, from [`MustSchedule::into_owned`].
///
/// Like [`MustSchedule`], it schedules the actor on the actor's own scheduler when
/// dropped, so it never strands messages.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use zeta::{Actor, Context, Enqueued, ManualScheduler, Priority, System};
///
/// struct Sink(u32);
/// impl Actor for Sink {
///     type Message = u32;
///     fn handle(&mut self, n: u32, _ctx: &mut Context<'_, Self>) {
///         self.0 += n;
///     }
/// }
///
/// let system = System::manual(64).unwrap();
/// let sink = system.spawn(Sink(0)).unwrap();
/// let duty = match sink.enqueue(Priority::Normal, 1).unwrap() {
///     Enqueued::MustSchedule(duty) => duty.into_owned(),
///     Enqueued::Queued => unreachable!("the actor was idle"),
/// };
/// let mine = Arc::new(ManualScheduler::new(64).unwrap());
/// std::thread::spawn({
///     let mine = mine.clone();
///     move || duty.schedule_on(&*mine).unwrap()
/// })
/// .join()
/// .unwrap();
/// assert_eq!(mine.run_until_idle().unwrap().messages, 1);
/// ```
#[must_use = "schedule the actor with `schedule_on`"]
pub struct ScheduleDuty<A: Actor> {
    /// `None` once discharged.
    address: Option<Address<A>>,
}

impl<A: Actor> ScheduleDuty<A> {
    /// The actor to be scheduled.
    pub fn address(&self) -> &Address<A> {
        match &self.address {
            Some(address) => address,
            None => unreachable!("only discharged by consuming methods"),
        }
    }

    /// Schedules the actor on `scheduler`.
    ///
    /// # Errors
    ///
    /// As for [`MustSchedule::schedule_on`].
    pub fn schedule_on(mut self, scheduler: &dyn Scheduler) -> Result<(), Stopped> {
        match self.address.take() {
            // SAFETY: the duty is the run right of an unblocking push; taking the
            // address discharges it, so it is handed on once.
            Some(address) => unsafe { submit(&address.job, scheduler) },
            None => Ok(()),
        }
    }

    /// The actor's run-queue entry, for a run queue of the caller's own: run it with
    /// [`QueuedJob::run`]. The duty is the actor's run right, and the entry carries it.
    ///
    /// The entry owes what the duty owed: dropping it unrun *cancels* the actor (it is
    /// told shutdown, as by a stopping scheduler), so nothing waits forever either way.
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Context, Enqueued, Priority, System};
    ///
    /// struct Sink;
    /// impl Actor for Sink {
    ///     type Message = u32;
    ///     fn handle(&mut self, _: u32, _ctx: &mut Context<'_, Self>) {}
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let sink = system.spawn(Sink).unwrap();
    /// let Enqueued::MustSchedule(duty) = sink.enqueue(Priority::Normal, 1).unwrap() else {
    ///     unreachable!("the actor was idle");
    /// };
    /// let entry = duty.into_owned().into_queued();
    /// let ran = entry.run(64); // resumed here, on this thread
    /// assert_eq!(ran.info.unwrap().messages_processed, 1);
    /// assert!(ran.requeue.is_none()); // out of messages: idle again
    /// assert_eq!(sink.handled(), 1);
    /// ```
    pub fn into_queued(mut self) -> QueuedJob {
        match self.address.take() {
            // SAFETY: the duty holds the run right (an unblocking push), handed on once.
            Some(address) => unsafe { address.job.take_run_right() },
            None => unreachable!("only discharged by consuming methods"),
        }
    }
}

impl<A: Actor> Drop for ScheduleDuty<A> {
    fn drop(&mut self) {
        if let Some(address) = self.address.take() {
            // SAFETY: an undischarged duty is the run right of an unblocking push.
            unsafe { schedule_on_own(&address) };
        }
    }
}

impl<A: Actor> fmt::Debug for ScheduleDuty<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScheduleDuty").finish_non_exhaustive()
    }
}

/// Gives the actor's run right, which the caller has just taken (an unblocking push or
/// seal), to `scheduler` as a run-queue entry: no atomic operation (cell module doc,
/// "Who holds which reference").
///
/// # Safety
///
/// `job` is an actor cell's, and the caller holds its run right (an unblocking push or
/// seal, or a `MustSchedule`/`ScheduleDuty` made by one) and hands it on here, once.
#[inline]
unsafe fn submit(job: &JobRef, scheduler: &dyn Scheduler) -> Result<(), Stopped> {
    // SAFETY: an actor cell's job is self-arbitrated, and the caller hands its run right
    // on here (caller's duty).
    scheduler.submit(unsafe { job.take_run_right() })
}

/// [`submit`] to the actor's own scheduler, through its fast path when the caller is one
/// of that scheduler's running jobs (`zeta_scheduler::LocalSubmit`): no dynamic call.
///
/// # Safety
///
/// As for [`submit`]; `cell` is `job`'s.
#[inline]
pub(crate) unsafe fn submit_own<A: Actor>(job: &JobRef, cell: &Cell<A>) -> Result<(), Stopped> {
    // SAFETY: an actor cell's job is self-arbitrated, and the caller hands its run right
    // on here (caller's duty).
    let queued = unsafe { job.take_run_right() };
    let queued = match cell.local_submit {
        Some(local) => match local.try_submit(queued) {
            Ok(()) => return Ok(()),
            Err(queued) => queued,
        },
        None => queued,
    };
    cell.scheduler.submit(queued)
}

/// Schedules the actor on its own scheduler (a duty that was not discharged); if that
/// has stopped, dropping the refusal tells the actor shutdown.
///
/// # Safety
///
/// As for [`submit`]: the caller holds the run right and hands it on.
unsafe fn schedule_on_own<A: Actor>(address: &Address<A>) {
    // SAFETY: the caller's duty.
    let _ = unsafe { submit_own(&address.job, address.cell()) };
}

impl<A: Actor> fmt::Debug for Enqueued<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Queued => f.write_str("Queued"),
            Self::MustSchedule(duty) => f.debug_tuple("MustSchedule").field(duty).finish(),
        }
    }
}

impl<A: Actor> fmt::Debug for MustSchedule<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MustSchedule").finish_non_exhaustive()
    }
}
