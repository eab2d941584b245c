//! Routers: addresses that forward without an inbox of their own.
//!
//! A router is not an actor: sending through it picks the member(s) and pushes straight
//! into their inboxes, so routing costs no extra hop, no extra message node and no
//! scheduling of its own (actor-zeta's balancer does the same by overriding `enqueue`).
//! [`Recipient`] lets code take an address or a router alike.

use core::fmt;

use zeta_mailbox::Priority;

use crate::actor::Actor;
use crate::address::Address;
use crate::error::{AskError, SendError, Undelivered};
use crate::future::{Future, Reply};
use crate::sync::{AtomicU64, AtomicUsize, Ordering};

/// Something messages of type `M` can be sent to: an [`Address`], a [`Balancer`], a
/// [`Broadcast`].
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Context, Recipient, System};
///
/// struct Log(Vec<u32>);
/// impl Actor for Log {
///     type Message = u32;
///     fn handle(&mut self, n: u32, _ctx: &mut Context<'_, Self>) {
///         self.0.push(n);
///     }
/// }
///
/// fn emit(to: &dyn Recipient<u32>) {
///     to.send(7).unwrap();
/// }
///
/// let system = System::manual(64).unwrap();
/// let log = system.spawn(Log(Vec::new())).unwrap();
/// emit(&log);
/// assert_eq!(system.scheduler().run_until_idle().unwrap().messages, 1);
/// ```
pub trait Recipient<M>: Send + Sync {
    /// Sends `message` at `priority`.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message when it could not be delivered anywhere.
    fn send_with(&self, priority: Priority, message: M) -> Result<(), SendError<M>>;

    /// Sends `message` at normal priority.
    ///
    /// # Errors
    ///
    /// As for [`send_with`](Recipient::send_with).
    fn send(&self, message: M) -> Result<(), SendError<M>> {
        self.send_with(Priority::Normal, message)
    }

    /// Sends `message` at high priority.
    ///
    /// # Errors
    ///
    /// As for [`send_with`](Recipient::send_with).
    fn send_high(&self, message: M) -> Result<(), SendError<M>> {
        self.send_with(Priority::High, message)
    }
}

impl<A: Actor> Recipient<A::Message> for Address<A> {
    #[inline]
    fn send_with(
        &self,
        priority: Priority,
        message: A::Message,
    ) -> Result<(), SendError<A::Message>> {
        Address::send_with(self, priority, message)
    }
}

/// How a [`Balancer`] picks a member.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Each member in turn.
    #[default]
    RoundRobin,
    /// The member with the fewest messages outstanding: messages this balancer sent it
    /// minus messages it has handled (exact when the balancer is its only sender; the
    /// handled count is updated at the end of each run). Ties go round-robin.
    LeastLoaded,
}

/// Forwards each message to one member.
///
/// A member that has stopped is skipped: the message goes to the next one, and comes
/// back to the sender only when every member has stopped.
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Balancer, Context, Strategy, System};
///
/// struct Part(u32);
/// impl Actor for Part {
///     type Message = u32;
///     fn handle(&mut self, _n: u32, _ctx: &mut Context<'_, Self>) {
///         self.0 += 1;
///     }
/// }
///
/// let system = System::manual(64).unwrap();
/// let parts: Vec<_> = (0..3).map(|_| system.spawn(Part(0)).unwrap()).collect();
/// let balancer = Balancer::new(parts.clone(), Strategy::RoundRobin).unwrap();
/// for i in 0..6 {
///     balancer.send(i).unwrap();
/// }
/// system.scheduler().run_until_idle().unwrap();
/// assert!(parts.iter().all(|part| part.handled() == 2));
/// ```
pub struct Balancer<A: Actor> {
    members: Box<[Address<A>]>,
    sent: Box<[AtomicU64]>,
    next: AtomicUsize,
    strategy: Strategy,
}

/// A router was given no members.
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Address, Balancer, Broadcast, Context, NoMembers, Strategy};
///
/// struct Nop;
/// impl Actor for Nop {
///     type Message = ();
///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
/// }
///
/// let nobody: Vec<Address<Nop>> = Vec::new();
/// assert_eq!(Balancer::new(nobody.clone(), Strategy::RoundRobin).unwrap_err(), NoMembers);
/// assert_eq!(Broadcast::new(nobody).unwrap_err(), NoMembers);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NoMembers;

impl fmt::Display for NoMembers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a router needs at least one member")
    }
}

impl std::error::Error for NoMembers {}

impl<A: Actor> Balancer<A> {
    /// A balancer over `members`.
    ///
    /// # Errors
    ///
    /// [`NoMembers`] when `members` is empty.
    pub fn new(members: Vec<Address<A>>, strategy: Strategy) -> Result<Self, NoMembers> {
        if members.is_empty() {
            return Err(NoMembers);
        }
        let sent = members.iter().map(|_| AtomicU64::new(0)).collect();
        Ok(Self {
            members: members.into_boxed_slice(),
            sent,
            next: AtomicUsize::new(0),
            strategy,
        })
    }

    /// The members.
    pub fn members(&self) -> &[Address<A>] {
        &self.members
    }

    /// Which member the next message goes to.
    fn pick(&self) -> usize {
        // Relaxed: a ticket for spreading load; no data is published through it.
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        let len = self.members.len();
        let mut start = ticket % len;
        // Skip members that are stopping or stopped (a snapshot: one may stop right after; `send`
        // then moves on to the next).
        for offset in 0..len {
            let i = (ticket + offset) % len;
            if self.members[i].accepts() {
                start = i;
                break;
            }
        }
        match self.strategy {
            Strategy::RoundRobin => start,
            Strategy::LeastLoaded => {
                let mut best = start;
                let mut best_load = u64::MAX;
                for offset in 0..len {
                    let i = (start + offset) % len;
                    if !self.members[i].accepts() {
                        continue;
                    }
                    let load = self.sent[i]
                        .load(Ordering::Relaxed)
                        .saturating_sub(self.members[i].handled());
                    if load < best_load {
                        best = i;
                        best_load = load;
                        if load == 0 {
                            break;
                        }
                    }
                }
                best
            }
        }
    }

    /// Sends `message` at `priority` to one member.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message when no member accepted it: a member that has
    /// stopped, or whose bounded mailbox is full, is passed over for the next one
    /// ([`Undelivered::Full`] if one was full); another failure returns at once.
    pub fn send_with(
        &self,
        priority: Priority,
        message: A::Message,
    ) -> Result<(), SendError<A::Message>> {
        let len = self.members.len();
        let first = self.pick();
        let mut message = message;
        // `Full` if a member was full (a bounded mailbox) and none took the message.
        let mut reason = Undelivered::ActorStopped;
        for offset in 0..len {
            let i = (first + offset) % len;
            match self.members[i].send_with(priority, message) {
                Ok(()) => {
                    self.sent[i].fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(error) if error.reason() == Undelivered::ActorStopped => {
                    message = error.into_message();
                }
                Err(error) if error.reason() == Undelivered::Full => {
                    reason = Undelivered::Full;
                    message = error.into_message();
                }
                Err(error) => return Err(error),
            }
        }
        Err(SendError::new(message, reason))
    }

    /// Sends `message` at normal priority to one member.
    ///
    /// # Errors
    ///
    /// As for [`send_with`](Balancer::send_with).
    pub fn send(&self, message: A::Message) -> Result<(), SendError<A::Message>> {
        self.send_with(Priority::Normal, message)
    }

    /// Sends `message` at high priority to one member.
    ///
    /// # Errors
    ///
    /// As for [`send_with`](Balancer::send_with).
    pub fn send_high(&self, message: A::Message) -> Result<(), SendError<A::Message>> {
        self.send_with(Priority::High, message)
    }

    /// Asks one member at normal priority (see [`Address::ask`]); members that have
    /// stopped are skipped when picking.
    ///
    /// # Errors
    ///
    /// [`AskError`] as for [`Address::ask`]: a request is built once, so if the picked
    /// member stops before it is delivered, the message comes back rather than going to
    /// another member.
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Balancer, Context, Reply, Strategy, System};
    ///
    /// /// Answers with its own number.
    /// struct Replica(u32);
    /// impl Actor for Replica {
    ///     type Message = Reply<u32>;
    ///     fn handle(&mut self, reply: Reply<u32>, _ctx: &mut Context<'_, Self>) {
    ///         let _ = reply.send(self.0);
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let replicas: Vec<_> = (0..3).map(|n| system.spawn(Replica(n)).unwrap()).collect();
    /// replicas[1].stop().unwrap(); // skipped from now on
    /// let pool = Balancer::new(replicas, Strategy::LeastLoaded).unwrap();
    /// let mut answers: Vec<_> = (0..4).map(|_| pool.ask(|reply| reply).unwrap()).collect();
    /// system.scheduler().run_until_idle().unwrap();
    /// let mut answered: Vec<u32> =
    ///     answers.iter_mut().map(|answer| answer.try_take().unwrap().unwrap()).collect();
    /// answered.sort();
    /// assert_eq!(answered, [0, 0, 2, 2]); // spread over the two that accept
    /// ```
    pub fn ask<T: Send>(
        &self,
        make: impl FnOnce(Reply<T>) -> A::Message,
    ) -> Result<Future<T>, AskError<A::Message>> {
        self.ask_with(Priority::Normal, make)
    }

    /// [`ask`](Balancer::ask) at high priority.
    ///
    /// # Errors
    ///
    /// As for [`ask`](Balancer::ask).
    pub fn ask_high<T: Send>(
        &self,
        make: impl FnOnce(Reply<T>) -> A::Message,
    ) -> Result<Future<T>, AskError<A::Message>> {
        self.ask_with(Priority::High, make)
    }

    /// [`ask`](Balancer::ask) at `priority`.
    ///
    /// # Errors
    ///
    /// As for [`ask`](Balancer::ask).
    pub fn ask_with<T: Send>(
        &self,
        priority: Priority,
        make: impl FnOnce(Reply<T>) -> A::Message,
    ) -> Result<Future<T>, AskError<A::Message>> {
        let i = self.pick();
        let future = self.members[i].ask_with(priority, make)?;
        self.sent[i].fetch_add(1, Ordering::Relaxed);
        Ok(future)
    }
}

impl<A: Actor> Recipient<A::Message> for Balancer<A> {
    fn send_with(
        &self,
        priority: Priority,
        message: A::Message,
    ) -> Result<(), SendError<A::Message>> {
        Balancer::send_with(self, priority, message)
    }
}

impl<A: Actor> fmt::Debug for Balancer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balancer")
            .field("members", &self.members.len())
            .field("strategy", &self.strategy)
            .finish()
    }
}

/// Forwards a copy of each message to every member.
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Broadcast, Context, System};
///
/// struct Listener;
/// impl Actor for Listener {
///     type Message = &'static str;
///     fn handle(&mut self, _news: &'static str, _ctx: &mut Context<'_, Self>) {}
/// }
///
/// let system = System::manual(64).unwrap();
/// let listeners: Vec<_> = (0..4).map(|_| system.spawn(Listener).unwrap()).collect();
/// let all = Broadcast::new(listeners.clone()).unwrap();
/// assert_eq!(all.send("tick").unwrap(), 4);
/// system.scheduler().run_until_idle().unwrap();
/// assert!(listeners.iter().all(|l| l.handled() == 1));
/// ```
pub struct Broadcast<A: Actor> {
    members: Box<[Address<A>]>,
}

impl<A: Actor> Broadcast<A> {
    /// A broadcast to `members`.
    ///
    /// # Errors
    ///
    /// [`NoMembers`] when `members` is empty.
    pub fn new(members: Vec<Address<A>>) -> Result<Self, NoMembers> {
        if members.is_empty() {
            return Err(NoMembers);
        }
        Ok(Self {
            members: members.into_boxed_slice(),
        })
    }

    /// The members.
    pub fn members(&self) -> &[Address<A>] {
        &self.members
    }

    /// Sends a message built by `make` to every member, for messages that cannot be
    /// cloned (for instance an enum with request variants); returns how many accepted
    /// theirs.
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Broadcast, Context, Priority, Reply, System};
    ///
    /// struct Counter(u32);
    /// enum Msg {
    ///     Add(u32),
    ///     Reset,
    ///     Get(Reply<u32>), // a `Reply` cannot be cloned, nor can `Msg`
    /// }
    /// impl Actor for Counter {
    ///     type Message = Msg;
    ///     fn handle(&mut self, msg: Msg, _ctx: &mut Context<'_, Self>) {
    ///         match msg {
    ///             Msg::Add(n) => self.0 += n,
    ///             Msg::Reset => self.0 = 0,
    ///             Msg::Get(reply) => drop(reply.send(self.0)),
    ///         }
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let counters: Vec<_> = (0..3).map(|_| system.spawn(Counter(0)).unwrap()).collect();
    /// let all = Broadcast::new(counters.clone()).unwrap();
    /// assert_eq!(all.send_each(Priority::Normal, || Msg::Add(5)), 3);
    /// assert_eq!(all.send_each(Priority::High, || Msg::Reset), 3); // before the adds
    /// system.scheduler().run_until_idle().unwrap();
    /// let mut total = counters[0].ask(Msg::Get).unwrap();
    /// system.scheduler().run_until_idle().unwrap();
    /// assert_eq!(total.try_take(), Some(Ok(5)));
    /// ```
    pub fn send_each(&self, priority: Priority, mut make: impl FnMut() -> A::Message) -> usize {
        self.members
            .iter()
            .filter(|member| member.send_with(priority, make()).is_ok())
            .count()
    }
}

impl<A: Actor> Broadcast<A>
where
    A::Message: Clone,
{
    /// Sends a copy of `message` at `priority` to every member (the last one gets the
    /// original) and returns how many accepted it. Copies that a member refused, for
    /// whatever reason, are dropped, and the next member gets its copy all the same.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message when no member accepted it, with the last
    /// member's reason.
    pub fn send_with(
        &self,
        priority: Priority,
        message: A::Message,
    ) -> Result<usize, SendError<A::Message>> {
        let (last, rest) = self.members.split_last().expect("at least one member");
        let mut delivered = 0;
        for member in rest {
            if member.send_with(priority, message.clone()).is_ok() {
                delivered += 1;
            }
        }
        match last.send_with(priority, message) {
            Ok(()) => Ok(delivered + 1),
            Err(error) if delivered > 0 => {
                drop(error);
                Ok(delivered)
            }
            Err(error) => Err(error),
        }
    }

    /// [`send_with`](Broadcast::send_with) at normal priority.
    ///
    /// # Errors
    ///
    /// As for [`send_with`](Broadcast::send_with).
    pub fn send(&self, message: A::Message) -> Result<usize, SendError<A::Message>> {
        self.send_with(Priority::Normal, message)
    }
}

impl<A: Actor> Recipient<A::Message> for Broadcast<A>
where
    A::Message: Clone,
{
    fn send_with(
        &self,
        priority: Priority,
        message: A::Message,
    ) -> Result<(), SendError<A::Message>> {
        Broadcast::send_with(self, priority, message).map(drop)
    }
}

impl<A: Actor> fmt::Debug for Broadcast<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcast")
            .field("members", &self.members.len())
            .finish()
    }
}
