//! [`Context`]: what a handler can do besides changing its actor.

use core::fmt;
use core::mem::ManuallyDrop;
use std::sync::Arc;

use core::ptr::NonNull;

use zeta_scheduler::{JobHeader, JobRef, Scheduler};

use crate::actor::Actor;
use crate::address::Address;
use crate::cell::{Cell, SharedResource};
use crate::error::{ControlError, SpawnError};
use crate::identity::ActorId;
use crate::supervision::Monitor;
use crate::sync::Ordering;
use crate::system::{spawn_bounded_shared, spawn_shared, IntoSharedResource};

/// Given to every handler and to [`Actor::on_start`]: the actor's own address, its
/// scheduler, a way to stop itself, and a waker.
///
/// Sends made from a handler schedule the receiver on the current worker's local queue
/// when the receiver runs on the same [`SharingScheduler`](zeta_scheduler::SharingScheduler):
/// the cheap path, with no wake-up of another thread.
pub struct Context<'a, A: Actor> {
    cell: &'a Cell<A>,
    /// The actor's own address, borrowed from the run-queue entry that keeps the cell
    /// alive while it runs: never dropped (its reference is not ours).
    myself: ManuallyDrop<Address<A>>,
    /// The actor's waker on the same borrowed reference: never dropped either.
    waker: ManuallyDrop<core::task::Waker>,
    stop: bool,
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
        spawn_shared(actor, self.resource().clone(), self.scheduler().clone())
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
        )
    }

    /// Stops the actor after the current message (or after `on_start`). Messages still
    /// queued are not handled: they are dropped, and the requests among them resolve
    /// with an error. [`Actor::on_stop`] runs with [`StopReason::Stopped`](crate::StopReason).
    pub fn stop(&mut self) {
        self.stop = true;
    }

    #[inline]
    pub(crate) fn stop_requested(&self) -> bool {
        self.stop
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

    /// The same waker as [`waker`](Context::waker), lent for the current message: it
    /// holds no reference of its own (it stands on the one that keeps the actor alive
    /// while it runs), so making it and letting it go cost nothing. Polling a future
    /// with it costs what the future does with it: a request that must wait keeps a
    /// clone (one refcount increment), and gives that up when it wakes the actor.
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
        f.debug_struct("Context")
            .field("id", &format_args!("{}", self.cell.id))
            .field("stop", &self.stop)
            .finish_non_exhaustive()
    }
}
