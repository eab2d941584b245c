//! [`Context`]: what a handler can do besides changing its actor.

use core::fmt;
use core::mem::ManuallyDrop;
use std::sync::Arc;

use core::ptr::NonNull;

use zeta_mailbox::Priority;
use zeta_scheduler::{JobHeader, JobRef, Scheduler};

use crate::actor::{Actor, StopReason};
use crate::address::Address;
use crate::cell::{Birth, Cell, SharedResource};
use crate::continuation::{self, Expiry};
use crate::error::{AskError, ControlError, RequestError, SpawnError};
use crate::future::Reply;
use crate::identity::ActorId;
use crate::supervision::Monitor;
use crate::sync::Ordering;
use crate::system::{spawn_bounded_shared, spawn_shared, IntoSharedResource};

/// Given to every handler and to [`Actor::on_start`]: the actor's own address, its
/// scheduler, a way to stop itself, requests whose answers come back as messages
/// ([`ask`](Context::ask)), and a waker.
///
/// Sends made from a handler schedule the receiver on the current worker's local queue
/// when the receiver runs on the same [`SharingScheduler`](zeta_scheduler::SharingScheduler):
/// the cheap path, with no wake-up of another thread.
///
/// # Examples
///
/// An actor that keeps time with messages to itself, then stops itself:
///
/// ```
/// use std::time::Duration;
/// use zeta::{Actor, Context, StopReason, System};
///
/// /// Ticks once a second, three times, then stops.
/// struct Countdown {
///     left: u32,
/// }
/// impl Actor for Countdown {
///     type Message = ();
///     fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
///         if self.left == 0 {
///             ctx.stop(); // after this message
///         } else {
///             self.left -= 1;
///             // The next tick, to itself, on the scheduler's clock.
///             ctx.send_after(Duration::from_secs(1), ()).unwrap();
///         }
///     }
/// }
///
/// let system = System::manual(64).unwrap();
/// let countdown = system.spawn(Countdown { left: 3 }).unwrap();
/// let mut ended = countdown.stopped().unwrap();
/// countdown.send(()).unwrap();
/// let clock = system.scheduler(); // a virtual clock: seconds pass in no time
/// clock.advance(Duration::from_secs(2)).unwrap();
/// assert!(countdown.is_alive());
/// clock.advance(Duration::from_secs(1)).unwrap();
/// assert_eq!(ended.try_take(), Some(Ok(StopReason::Stopped)));
/// assert_eq!(countdown.handled(), 4);
/// ```
pub struct Context<'a, A: Actor> {
    cell: &'a Cell<A>,
    /// The actor's own address, borrowed from the run-queue entry that keeps the cell
    /// alive while it runs: never dropped (its reference is not ours).
    myself: ManuallyDrop<Address<A>>,
    /// The actor's waker on the same borrowed reference: never dropped either.
    waker: ManuallyDrop<core::task::Waker>,
    /// Set by [`stop`](Context::stop) and [`exit`](Context::exit): end after the current
    /// message (with the reason in `EXIT`, if `exit` set one).
    stop: bool,
}

std::thread_local! {
    /// The reason [`Context::exit`] gave, read back on the same thread by the runner's
    /// stop path (`exit_reason`) right after the handler returns. Kept out of `Context`
    /// and out of the message loop, which pay for every field and every branch on each
    /// run: the loop ends with [`StopReason::Stopped`] as for `stop`, and only the cold
    /// stop path looks here. Empty at every other moment: a handler that panics after
    /// `exit` has it cleared by the panic path (`clear_exit`).
    static EXIT: core::cell::Cell<Option<StopReason>> = const { core::cell::Cell::new(None) };
}

/// The reason an actor whose run ended with `reason` ends with: the one its handler gave
/// [`Context::exit`], if it ended as if stopped and one was given.
#[cold]
pub(crate) fn exit_reason(reason: StopReason) -> StopReason {
    match reason {
        StopReason::Stopped => EXIT.with(|exit| exit.take()).unwrap_or(reason),
        other => other,
    }
}

/// Forgets an `exit` whose handler then panicked (the panic is the reason).
#[cold]
pub(crate) fn clear_exit() {
    drop(EXIT.with(|exit| exit.take()));
}

impl<'a, A: Actor> Context<'a, A> {
    /// # Safety
    ///
    /// `header` is `cell`'s, as the scheduler passed it to `resume` (so with the
    /// provenance of the cell's allocation), and a reference is held for `'a`.
    #[inline]
    pub(crate) unsafe fn new(cell: &'a Cell<A>, header: NonNull<JobHeader>) -> Self {
        // SAFETY: the cell is live for `'a` (the runner holds a reference), and the
        // `ManuallyDrop` keeps us from giving up a reference we do not own.
        let job = unsafe { JobRef::from_raw(header) };
        Self {
            cell,
            // SAFETY: the job is a `Cell<A>`'s.
            myself: ManuallyDrop::new(unsafe { Address::from_job(job) }),
            // SAFETY: `header` is a `Cell<A>`'s, with a reference held for `'a` (the
            // caller's duty), and the waker is only lent out for `'a`, never dropped.
            waker: unsafe { crate::waker::borrowed_waker::<A>(header) },
            stop: false,
        }
    }

    /// The actor's own address. Clone it to keep it (an actor that stores its own
    /// address keeps itself alive until it stops).
    ///
    /// # Examples
    ///
    /// A long job cut into slices: the actor sends itself the rest, so that messages
    /// queued meanwhile are handled between the slices.
    ///
    /// ```
    /// use zeta::{Actor, Context, Reply, System};
    ///
    /// struct Summer {
    ///     total: u64,
    /// }
    /// enum Job {
    ///     Sum { from: u64, to: u64 },
    ///     Total(Reply<u64>),
    /// }
    /// impl Actor for Summer {
    ///     type Message = Job;
    ///     fn handle(&mut self, job: Job, ctx: &mut Context<'_, Self>) {
    ///         match job {
    ///             Job::Sum { from, to } => {
    ///                 let end = to.min(from + 9);
    ///                 self.total += (from..=end).sum::<u64>();
    ///                 if end < to {
    ///                     ctx.address().send(Job::Sum { from: end + 1, to }).unwrap();
    ///                 }
    ///             }
    ///             Job::Total(reply) => drop(reply.send(self.total)),
    ///         }
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let summer = system.spawn(Summer { total: 0 }).unwrap();
    /// summer.send(Job::Sum { from: 1, to: 100 }).unwrap();
    /// let mut early = summer.ask(Job::Total).unwrap(); // queued behind the first slice
    /// system.scheduler().run_until_idle().unwrap();
    /// assert_eq!(early.try_take(), Some(Ok(55))); // answered after 1 + ... + 10
    /// let mut total = summer.ask(Job::Total).unwrap();
    /// system.scheduler().run_until_idle().unwrap();
    /// assert_eq!(total.try_take(), Some(Ok(5050)));
    /// ```
    #[inline]
    pub fn address(&self) -> &Address<A> {
        &self.myself
    }

    /// The actor's id (as [`Address::id`]).
    #[inline]
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// Makes the running actor monitor `target`: see [`Address::monitor`].
    ///
    /// # Errors
    ///
    /// As for [`Address::monitor`].
    pub fn monitor<T: Actor>(&self, target: &Address<T>) -> Result<Monitor, ControlError> {
        self.myself.monitor(target)
    }

    /// Whether a linked actor's failure ([`Address::link`]) stops this actor (`false`,
    /// the default) or comes to [`Actor::on_down`] as a `Down` (`true`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use zeta::{Actor, Address, Context, Down, System};
    ///
    /// struct Fragile;
    /// impl Actor for Fragile {
    ///     type Message = ();
    ///     fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {
    ///         panic!("broken");
    ///     }
    /// }
    ///
    /// /// Linked to its worker, and told of the worker's failure instead of sharing it.
    /// struct Keeper {
    ///     worker: Address<Fragile>,
    ///     downs: mpsc::Sender<Down>,
    /// }
    /// impl Actor for Keeper {
    ///     type Message = ();
    ///     fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
    ///         ctx.trap_exits(true);
    ///         ctx.address().link(&self.worker).unwrap();
    ///     }
    ///     fn on_down(&mut self, down: Down, _ctx: &mut Context<'_, Self>) {
    ///         self.downs.send(down).unwrap();
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let worker = system.spawn(Fragile).unwrap();
    /// let (downs, down) = mpsc::channel();
    /// let keeper = system.spawn(Keeper { worker: worker.clone(), downs }).unwrap();
    /// keeper.send(()).unwrap();
    /// system.scheduler().run_until_idle().unwrap();
    /// worker.send(()).unwrap(); // it panics
    /// system.scheduler().run_until_idle().unwrap();
    /// let down = down.try_recv().unwrap();
    /// assert_eq!(down.id, worker.id());
    /// assert!(down.reason.is_failure());
    /// assert!(keeper.is_alive()); // trapped: not taken down with it
    /// ```
    pub fn trap_exits(&self, trap: bool) {
        // Relaxed: read only by the holder of the actor's run right, which is us now,
        // or a later holder, ordered after us by the handoff of the right.
        self.cell.trap_exits.store(trap, Ordering::Relaxed);
    }

    /// The scheduler the actor runs on.
    pub fn scheduler(&self) -> &Arc<dyn Scheduler> {
        &self.cell.scheduler
    }

    /// The memory resource the actor lives in (and its messages are allocated from).
    pub fn resource(&self) -> &SharedResource {
        &self.cell.home.resource
    }

    /// Spawns a child: `actor` goes into this actor's memory resource and runs on this
    /// actor's scheduler. See [`spawn`](crate::spawn).
    ///
    /// # Errors
    ///
    /// [`SpawnError`] with the actor when the resource is out of memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Context, Reply, System};
    ///
    /// struct Child;
    /// impl Actor for Child {
    ///     type Message = Reply<&'static str>;
    ///     fn handle(&mut self, reply: Reply<&'static str>, _ctx: &mut Context<'_, Self>) {
    ///         let _ = reply.send("child here");
    ///     }
    /// }
    ///
    /// struct Parent;
    /// impl Actor for Parent {
    ///     type Message = Reply<zeta::Address<Child>>;
    ///     fn handle(&mut self, reply: Reply<zeta::Address<Child>>, ctx: &mut Context<'_, Self>) {
    ///         let child = ctx.spawn(Child).unwrap(); // same scheduler, same memory
    ///         let _ = reply.send(child);
    ///     }
    /// }
    ///
    /// let system = System::sharing(1).unwrap();
    /// let parent = system.spawn(Parent).unwrap();
    /// let child = parent.ask(|reply| reply).unwrap().wait().unwrap();
    /// assert_eq!(child.ask(|reply| reply).unwrap().wait(), Ok("child here"));
    /// ```
    pub fn spawn<C: Actor>(&self, actor: C) -> Result<Address<C>, SpawnError<C>> {
        spawn_shared(
            actor,
            self.resource().clone(),
            self.scheduler().clone(),
            Birth::child_of(self.cell),
        )
    }

    /// Spawns a child with a bounded mailbox of `capacity` messages, into this actor's
    /// memory resource and onto its scheduler. See [`spawn_bounded`](crate::spawn_bounded)
    /// for what sends to a full mailbox do: this actor's own sends to it are never
    /// refused for fullness (they are admitted over capacity, and this actor yields
    /// after the current message), unless made with
    /// [`try_send`](Address::try_send).
    ///
    /// # Errors
    ///
    /// [`SpawnError`] with the actor: an invalid capacity (0, or above `u32::MAX`), or
    /// the resource is out of memory.
    pub fn spawn_bounded<C: Actor>(
        &self,
        actor: C,
        capacity: usize,
    ) -> Result<Address<C>, SpawnError<C>> {
        spawn_bounded_shared(
            actor,
            capacity,
            self.resource().clone(),
            self.scheduler().clone(),
            Birth::child_of(self.cell),
        )
    }

    /// Spawns a child into `resource` (an arena, a pool of its own, ...), on this
    /// actor's scheduler.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] with the actor when `resource` is out of memory.
    pub fn spawn_in<C: Actor>(
        &self,
        resource: impl IntoSharedResource,
        actor: C,
    ) -> Result<Address<C>, SpawnError<C>> {
        spawn_shared(
            actor,
            resource.into_shared_resource(),
            self.scheduler().clone(),
            Birth::child_of(self.cell),
        )
    }

    /// Spawns a child with a `name` (see [`System::spawn_named`](crate::System::spawn_named)),
    /// into this actor's memory resource and onto its scheduler.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] with the actor when the resource is out of memory.
    pub fn spawn_named<C: Actor>(
        &self,
        name: &'static str,
        actor: C,
    ) -> Result<Address<C>, SpawnError<C>> {
        spawn_shared(
            actor,
            self.resource().clone(),
            self.scheduler().clone(),
            self.child_birth().named(name),
        )
    }

    /// [`spawn_bounded`](Context::spawn_bounded) with a `name` (see
    /// [`System::spawn_named`](crate::System::spawn_named)).
    ///
    /// # Errors
    ///
    /// As [`spawn_bounded`](Context::spawn_bounded).
    pub fn spawn_bounded_named<C: Actor>(
        &self,
        name: &'static str,
        actor: C,
        capacity: usize,
    ) -> Result<Address<C>, SpawnError<C>> {
        spawn_bounded_shared(
            actor,
            capacity,
            self.resource().clone(),
            self.scheduler().clone(),
            self.child_birth().named(name),
        )
    }

    /// What a child of this actor is born with: its observer.
    pub(crate) fn child_birth(&self) -> Birth {
        Birth::child_of(self.cell)
    }

    /// The name the actor was spawned with, if any.
    pub fn name(&self) -> Option<&'static str> {
        self.cell.name
    }

    /// Stops the actor after the current message (or after `on_start`). Messages still
    /// queued are not handled: they are dropped, and the requests among them resolve
    /// with an error. [`Actor::on_stop`] runs with [`StopReason::Stopped`].
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Context, Reply, RequestError, StopReason, System};
    ///
    /// /// Answers one question, then stops.
    /// struct Once;
    /// impl Actor for Once {
    ///     type Message = Reply<&'static str>;
    ///     fn handle(&mut self, reply: Reply<&'static str>, ctx: &mut Context<'_, Self>) {
    ///         let _ = reply.send("the answer");
    ///         ctx.stop();
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let once = system.spawn(Once).unwrap();
    /// let mut first = once.ask(|reply| reply).unwrap();
    /// let mut second = once.ask(|reply| reply).unwrap(); // queued behind the first
    /// system.scheduler().run_until_idle().unwrap();
    /// assert_eq!(first.try_take(), Some(Ok("the answer")));
    /// assert_eq!(second.try_take(), Some(Err(RequestError::NoReply))); // dropped unhandled
    /// assert_eq!(once.stopped().unwrap().try_take(), Some(Ok(StopReason::Stopped)));
    /// ```
    pub fn stop(&mut self) {
        self.stop = true;
        EXIT.with(|exit| drop(exit.take()));
    }

    /// Ends the actor after the current message (or after `on_start`), as
    /// [`stop`](Context::stop) does, but with `reason`: [`Actor::on_stop`], the
    /// [`stopped`](crate::Address::stopped) future, monitors, links and supervisors all
    /// see `reason`. A failure ([`StopReason::is_failure`]) takes linked actors down as
    /// a panic would, without a panic. The last call before the end wins.
    ///
    /// This is how an actor that stands for something outside the process ends as that
    /// thing ended: `zeta-remote`'s stand-in for a remote actor exits with the remote
    /// actor's reason, or with [`StopReason::NodeLost`].
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Context, StopReason, System};
    ///
    /// /// Ends as its feed says the thing it stands for ended.
    /// struct Proxy;
    /// impl Actor for Proxy {
    ///     type Message = StopReason;
    ///     fn handle(&mut self, ended: StopReason, ctx: &mut Context<'_, Self>) {
    ///         ctx.exit(ended);
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let proxy = system.spawn(Proxy).unwrap();
    /// let partner = system.spawn(Proxy).unwrap();
    /// proxy.link(&partner).unwrap();
    /// let mut ended = partner.stopped().unwrap();
    /// proxy.send(StopReason::NodeLost).unwrap();
    /// system.scheduler().run_until_idle().unwrap();
    /// assert_eq!(proxy.stopped().unwrap().try_take(), Some(Ok(StopReason::NodeLost)));
    /// // A failure: the linked partner went down with it.
    /// assert_eq!(ended.try_take(), Some(Ok(StopReason::Linked(proxy.id()))));
    /// ```
    pub fn exit(&mut self, reason: StopReason) {
        self.stop = true;
        EXIT.with(|exit| drop(exit.replace(Some(reason))));
    }

    #[inline]
    pub(crate) fn stop_requested(&self) -> bool {
        self.stop
    }

    /// The actor's scheduler's clock: the real one, or a
    /// [`ManualScheduler`](crate::ManualScheduler)'s virtual one (then handlers that
    /// read time through here run the same under a test as in production). A scheduler
    /// that keeps no time gives `Instant::now()`.
    pub fn now(&self) -> std::time::Instant {
        match self.cell.scheduler.timers() {
            Some(timers) => timers.now(),
            None => std::time::Instant::now(),
        }
    }

    /// Sends `message` to this actor once `delay` has passed:
    /// [`Address::send_after`] on its own address.
    ///
    /// # Errors
    ///
    /// As for [`Address::send_after`].
    ///
    /// # Examples
    ///
    /// Retries with a doubling delay:
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeta::{Actor, Context, System};
    ///
    /// struct Retrier {
    ///     attempts: u32,
    ///     delay: Duration,
    /// }
    /// impl Actor for Retrier {
    ///     type Message = ();
    ///     fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
    ///         self.attempts += 1;
    ///         let succeeded = self.attempts == 3; // the third attempt works
    ///         if !succeeded {
    ///             ctx.send_after(self.delay, ()).unwrap();
    ///             self.delay *= 2;
    ///         }
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let retrier = system.spawn(Retrier { attempts: 0, delay: Duration::from_secs(1) }).unwrap();
    /// retrier.send(()).unwrap(); // the first attempt, now; then at 1 s and 3 s
    /// let clock = system.scheduler();
    /// clock.advance(Duration::from_secs(2)).unwrap();
    /// assert_eq!(retrier.handled(), 2);
    /// clock.advance(Duration::from_secs(1)).unwrap();
    /// assert_eq!(retrier.handled(), 3);
    /// clock.advance(Duration::from_secs(60)).unwrap();
    /// assert_eq!(retrier.handled(), 3); // succeeded: no more attempts
    /// ```
    pub fn send_after(
        &self,
        delay: std::time::Duration,
        message: A::Message,
    ) -> Result<crate::Timer, crate::SendError<A::Message>> {
        self.myself.send_after(delay, message)
    }

    /// Sends `make()` to this actor every `period`: [`Address::send_interval`] on its
    /// own address.
    ///
    /// # Errors
    ///
    /// As for [`Address::send_interval`].
    pub fn send_interval<F>(
        &self,
        period: std::time::Duration,
        make: F,
    ) -> Result<crate::Timer, ControlError>
    where
        F: FnMut() -> A::Message + Send + 'static,
    {
        self.myself.send_interval(period, make)
    }

    /// A waker that, when woken, makes the actor run [`Actor::on_wake`]. Poll a
    /// [`Future`](crate::Future) with it (or register it on one) to learn when a reply
    /// has come in without blocking the worker.
    ///
    /// Cloning and dropping it is a refcount change; waking it sends a message node from
    /// the actor's memory resource (no global allocation with a pool).
    pub fn waker(&self) -> core::task::Waker {
        crate::waker::actor_waker::<A>(self.myself.job())
    }

    /// Asks `target` on this actor's behalf; the answer comes back as a message to
    /// this actor, and `continuation` runs then with `&mut` the actor, its context and
    /// the result. No future to keep, poll or wake: the short form of the
    /// [`waker_ref`](Context::waker_ref) example.
    ///
    /// `make` builds the message around the [`Reply`] the target answers through, as
    /// for [`Address::ask`]. The continuation is a message like any other: it runs on
    /// this actor's worker, in its turn among the actor's messages, at normal priority
    /// (see [`ask_high`](Context::ask_high)), never concurrently with a handler.
    ///
    /// | what happens | the continuation |
    /// |---|---|
    /// | the target replies `v` | runs with `Ok(v)` |
    /// | the target drops the `Reply` unsent, stops or is killed before answering, its scheduler stops | runs with `Err(RequestError::NoReply)` |
    /// | the target's handler panics holding the `Reply` | runs with `Err(RequestError::HandlerPanicked)` |
    /// | this actor stops, is killed or fails before the answer is handled | never runs: it is dropped, with what it captured |
    /// | this actor (supervised) is restarted before the answer is handled | runs on the new instance |
    /// | the request cannot be delivered (the target has ended) | never runs: `Err` here, with the message |
    ///
    /// A panic in the continuation is a panic in a handler of this actor.
    ///
    /// # Memory
    ///
    /// Three blocks, from memory resources: the request node from the target's (as
    /// for `Address::ask`), and from this actor's a message node for the answer's
    /// arrival, made now so that the arrival allocates nothing, and a block holding the
    /// continuation inline. With a `PoolResource` (the default), a continuation whose
    /// captures take up to **4,040 bytes** (4,032 if aligned to 32 or 64) makes no
    /// global allocation; larger ones make one, through the pool's upstream. A pending
    /// continuation keeps this actor alive, as a waker from [`waker`](Context::waker)
    /// does, until the answer is delivered.
    ///
    /// # Errors
    ///
    /// [`AskError::OutOfMemory`] when a block cannot be allocated (`make` is not
    /// called); [`AskError::Undelivered`] with the message when the target has ended
    /// or its scheduler has stopped. The continuation is dropped uncalled either way.
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Address, Context, Reply, System};
    ///
    /// struct Doubler;
    /// impl Actor for Doubler {
    ///     type Message = (u64, Reply<u64>);
    ///     fn handle(&mut self, (n, reply): (u64, Reply<u64>), _ctx: &mut Context<'_, Self>) {
    ///         reply.send(2 * n).unwrap();
    ///     }
    /// }
    ///
    /// /// Asks the doubler, and learns of the answer in the continuation.
    /// struct Asker {
    ///     doubler: Address<Doubler>,
    ///     answer: std::sync::mpsc::Sender<u64>,
    /// }
    /// impl Actor for Asker {
    ///     type Message = u64;
    ///     fn handle(&mut self, n: u64, ctx: &mut Context<'_, Self>) {
    ///         ctx.ask(&self.doubler, |reply| (n, reply), |this: &mut Self, _ctx, answer| {
    ///             this.answer.send(answer.unwrap()).unwrap();
    ///         })
    ///         .unwrap();
    ///     }
    /// }
    ///
    /// let system = System::sharing(1).unwrap();
    /// let doubler = system.spawn(Doubler).unwrap();
    /// let (answer, answers) = std::sync::mpsc::channel();
    /// let asker = system.spawn(Asker { doubler, answer }).unwrap();
    /// asker.send(21).unwrap();
    /// assert_eq!(answers.recv().unwrap(), 42);
    /// ```
    ///
    /// [`Reply`]: crate::Reply
    /// [`Address::ask`]: crate::Address::ask
    #[inline]
    pub fn ask<B, T, K>(
        &self,
        target: &Address<B>,
        make: impl FnOnce(Reply<T>) -> B::Message,
        continuation: K,
    ) -> Result<(), AskError<B::Message>>
    where
        B: Actor,
        T: Send + 'static,
        K: FnOnce(&mut A, &mut Context<'_, A>, Result<T, RequestError>) + Send + 'static,
    {
        self.ask_with(Priority::Normal, target, make, continuation)
    }

    /// [`ask`](Context::ask) at high priority: the request is handled before the
    /// target's queued normal messages, and the continuation before this actor's.
    ///
    /// # Errors
    ///
    /// As for [`ask`](Context::ask).
    #[inline]
    pub fn ask_high<B, T, K>(
        &self,
        target: &Address<B>,
        make: impl FnOnce(Reply<T>) -> B::Message,
        continuation: K,
    ) -> Result<(), AskError<B::Message>>
    where
        B: Actor,
        T: Send + 'static,
        K: FnOnce(&mut A, &mut Context<'_, A>, Result<T, RequestError>) + Send + 'static,
    {
        self.ask_with(Priority::High, target, make, continuation)
    }

    /// [`ask`](Context::ask) at `priority` (both the request and the continuation).
    ///
    /// # Errors
    ///
    /// As for [`ask`](Context::ask).
    pub fn ask_with<B, T, K>(
        &self,
        priority: Priority,
        target: &Address<B>,
        make: impl FnOnce(Reply<T>) -> B::Message,
        continuation: K,
    ) -> Result<(), AskError<B::Message>>
    where
        B: Actor,
        T: Send + 'static,
        K: FnOnce(&mut A, &mut Context<'_, A>, Result<T, RequestError>) + Send + 'static,
    {
        continuation::ask(&self.myself, target, priority, make, continuation, false).map(drop)
    }

    /// [`ask`](Context::ask) with a deadline: if no answer has come `timeout` from now
    /// (on this actor's scheduler's clock: virtual on a
    /// [`ManualScheduler`](crate::ManualScheduler)), the continuation runs with
    /// `Err(RequestError::Timeout)` and the request is cancelled (a late
    /// `Reply::send` gets its value back). An answer that comes first runs it with the
    /// answer; exactly one of the two delivers it, and the result is read when it runs
    /// (an answer that arrives after the deadline but before the continuation runs
    /// still wins).
    ///
    /// The timer is one more entry from this actor's memory (no global allocation with
    /// a pool). An answer that comes first cancels it when the continuation runs: it
    /// never fires, and its entry goes back when the wheel next meets it (cancelled
    /// entries are swept once they number half the wheel). If the timer cannot be
    /// armed after the request went out (the scheduler has just stopped, or the
    /// resource has no room for the entry), the request times out at once.
    ///
    /// # Errors
    ///
    /// As for [`ask`](Context::ask), and [`AskError::NoTimers`] if this actor's
    /// scheduler keeps no time (`make` is not called).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeta::{Actor, Address, Context, Reply, RequestError, System};
    ///
    /// /// Holds every `Reply` and never answers.
    /// struct Silent(Vec<Reply<u64>>);
    /// impl Actor for Silent {
    ///     type Message = Reply<u64>;
    ///     fn handle(&mut self, reply: Reply<u64>, _ctx: &mut Context<'_, Self>) {
    ///         self.0.push(reply);
    ///     }
    /// }
    ///
    /// struct Asker {
    ///     silent: Address<Silent>,
    ///     outcome: std::sync::mpsc::Sender<Result<u64, RequestError>>,
    /// }
    /// impl Actor for Asker {
    ///     type Message = ();
    ///     fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
    ///         let timeout = Duration::from_millis(250);
    ///         ctx.ask_timeout(&self.silent, timeout, |reply| reply, |this: &mut Self, _ctx, result| {
    ///             this.outcome.send(result).unwrap();
    ///         })
    ///         .unwrap();
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let silent = system.spawn(Silent(Vec::new())).unwrap();
    /// let (outcome, outcomes) = std::sync::mpsc::channel();
    /// let asker = system.spawn(Asker { silent, outcome }).unwrap();
    /// asker.send(()).unwrap();
    /// // Virtual time: a quarter of a second passes in no time.
    /// system.scheduler().advance(Duration::from_millis(249)).unwrap();
    /// assert!(outcomes.try_recv().is_err(), "not yet");
    /// system.scheduler().advance(Duration::from_millis(1)).unwrap();
    /// assert_eq!(outcomes.try_recv().unwrap(), Err(RequestError::Timeout));
    /// ```
    pub fn ask_timeout<B, T, K>(
        &self,
        target: &Address<B>,
        timeout: std::time::Duration,
        make: impl FnOnce(Reply<T>) -> B::Message,
        continuation: K,
    ) -> Result<(), AskError<B::Message>>
    where
        B: Actor,
        T: Send + 'static,
        K: FnOnce(&mut A, &mut Context<'_, A>, Result<T, RequestError>) + Send + 'static,
    {
        if self.cell.scheduler.timers().is_none() {
            return Err(AskError::NoTimers);
        }
        let expiry = self.ask_expiring(Priority::Normal, target, make, continuation)?;
        crate::time::arm_expiry(&self.myself, timeout, expiry);
        Ok(())
    }

    /// [`ask_with`](Context::ask_with), and the handle that expires the request: a
    /// timer keeps it and calls [`Expiry::expire`] at the deadline (the continuation
    /// then runs with `Err(RequestError::Timeout)` unless the answer came first), or
    /// drops it once the continuation has run. The base of a timeout variant.
    pub(crate) fn ask_expiring<B, T, K>(
        &self,
        priority: Priority,
        target: &Address<B>,
        make: impl FnOnce(Reply<T>) -> B::Message,
        continuation: K,
    ) -> Result<Expiry, AskError<B::Message>>
    where
        B: Actor,
        T: Send + 'static,
        K: FnOnce(&mut A, &mut Context<'_, A>, Result<T, RequestError>) + Send + 'static,
    {
        match continuation::ask(&self.myself, target, priority, make, continuation, true)? {
            Some(expiry) => Ok(expiry),
            None => unreachable!("asked with an expiry"),
        }
    }

    /// The same waker as [`waker`](Context::waker), lent for the current message: it
    /// holds no reference of its own (it stands on the one that keeps the actor alive
    /// while it runs), so making it and letting it go cost nothing. Polling a future
    /// with it costs what the future does with it: a request that must wait keeps a
    /// clone (one refcount increment), and gives that up when it wakes the actor.
    ///
    /// This is the advanced path, for polling futures of any kind. For a request to
    /// another actor, [`ask`](Context::ask) does what the example below does by hand
    /// (keep the future, poll it, take the answer on the wake-up) in one call, with the
    /// answer handled by a closure.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Future as _;
    /// use std::pin::Pin;
    /// use std::task::{Context as TaskContext, Poll};
    /// use zeta::{Actor, Address, Context, Future, Reply, System};
    ///
    /// struct Doubler;
    /// impl Actor for Doubler {
    ///     type Message = (u64, Reply<u64>);
    ///     fn handle(&mut self, (n, reply): (u64, Reply<u64>), _ctx: &mut Context<'_, Self>) {
    ///         reply.send(2 * n);
    ///     }
    /// }
    ///
    /// /// Asks the doubler, and learns of the answer in `on_wake`.
    /// struct Asker {
    ///     doubler: Address<Doubler>,
    ///     pending: Option<Future<u64>>,
    ///     answer: std::sync::mpsc::Sender<u64>,
    /// }
    /// impl Actor for Asker {
    ///     type Message = u64;
    ///     fn handle(&mut self, n: u64, ctx: &mut Context<'_, Self>) {
    ///         let mut future = self.doubler.ask(|reply| (n, reply)).unwrap();
    ///         let mut task = TaskContext::from_waker(ctx.waker_ref());
    ///         match Pin::new(&mut future).poll(&mut task) {
    ///             Poll::Ready(answer) => self.answer.send(answer.unwrap()).unwrap(),
    ///             Poll::Pending => self.pending = Some(future),
    ///         }
    ///     }
    ///     fn on_wake(&mut self, _ctx: &mut Context<'_, Self>) {
    ///         if let Some(Ok(answer)) = self.pending.as_mut().and_then(|f| f.try_take()) {
    ///             self.pending = None;
    ///             self.answer.send(answer).unwrap();
    ///         }
    ///     }
    /// }
    ///
    /// let system = System::sharing(1).unwrap();
    /// let doubler = system.spawn(Doubler).unwrap();
    /// let (answer, answers) = std::sync::mpsc::channel();
    /// let asker = system.spawn(Asker { doubler, pending: None, answer }).unwrap();
    /// asker.send(21).unwrap();
    /// assert_eq!(answers.recv().unwrap(), 42);
    /// ```
    #[inline]
    pub fn waker_ref(&self) -> &core::task::Waker {
        &self.waker
    }
}

impl<A: Actor> fmt::Debug for Context<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut context = f.debug_struct("Context");
        context.field("id", &format_args!("{}", self.cell.id));
        if let Some(name) = self.cell.name {
            context.field("name", &name);
        }
        context.field("stop", &self.stop).finish_non_exhaustive()
    }
}
