//! [`RemoteAddress`]: a typed handle of an actor on another node, and
//! [`RemoteFuture`], the answer to a remote ask.

use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context as TaskContext, Poll};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::TrySendError;
use zenoh::Wait;
use zenoh::pubsub::Subscriber;
use zenoh::qos::{CongestionControl, Priority as ZPriority};
use zenoh::query::ConsolidationMode;
use zeta::{
    Actor, ActorId, Address, ControlError, Monitor, Priority, Reply, RequestError, StopReason,
};

use crate::error::{RemoteError, SendError, Undelivered};
use crate::keys;
use crate::node::{Shared, lock};
use crate::peer::{Frame, Peer, Publishers};
use crate::protocol::{Protocol, Wire};
use crate::standin::StandIn;
use crate::wire::{self, Answer, Failure};

/// The zenoh priority of a zeta priority: normal at zenoh's default `Data`, high at
/// `DataHigh`, above it; control (lookups, ends) goes above both (`InteractiveHigh`).
pub(crate) fn zenoh_priority(priority: Priority) -> ZPriority {
    match priority {
        Priority::High => ZPriority::DataHigh,
        _ => ZPriority::Data,
    }
}

/// A remote actor as this node knows it.
pub(crate) struct Target<P> {
    shared: Arc<Shared>,
    peer: Arc<Peer>,
    node: String,
    name: String,
    publishers: Arc<Publishers>,
    ask_key: String,
    standin: Address<StandIn>,
    _down: Subscriber<()>,
    _protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol> Target<P> {
    pub(crate) fn new(
        shared: &Arc<Shared>,
        peer: Arc<Peer>,
        node: &str,
        name: &str,
        standin: Address<StandIn>,
        down: Subscriber<()>,
    ) -> zenoh::Result<Self> {
        let tell = keys::actor(node, name, "tell");
        let publisher = |priority| {
            shared
                .session
                .declare_publisher(tell.clone())
                .priority(zenoh_priority(priority))
                .congestion_control(CongestionControl::Block)
                .wait()
        };
        let publishers = Arc::new(Publishers {
            normal: publisher(Priority::Normal)?,
            high: publisher(Priority::High)?,
        });
        Ok(Self {
            shared: shared.clone(),
            peer,
            node: node.to_owned(),
            name: name.to_owned(),
            publishers,
            ask_key: keys::actor(node, name, "ask"),
            standin,
            _down: down,
            _protocol: PhantomData,
        })
    }
}

/// A typed address of an actor on another node ([`Node::lookup`](crate::Node::lookup)),
/// speaking protocol `P`. Cheap to clone, `Send + Sync`.
///
/// Sends never block: the message is encoded on the calling thread (postcard, into a
/// reused buffer) and queued for the node's sender thread; when that queue is full, the
/// message comes back ([`Undelivered::Full`]). So a handler can send to remote actors
/// like to local ones.
///
/// Guarantees: at most once; per sender, FIFO per priority while the link to the node
/// lives. A message accepted by `send` may still be lost with the link (the node is
/// lost before it gets there): its watchers learn of the loss by a `Down` with
/// [`StopReason::NodeLost`].
pub struct RemoteAddress<P: Protocol> {
    target: Arc<Target<P>>,
}

impl<P: Protocol> Clone for RemoteAddress<P> {
    fn clone(&self) -> Self {
        Self {
            target: self.target.clone(),
        }
    }
}

impl<P: Protocol> core::fmt::Debug for RemoteAddress<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RemoteAddress")
            .field("node", &self.target.node)
            .field("name", &self.target.name)
            .field("id", &self.target.standin.id())
            .finish_non_exhaustive()
    }
}

impl<P: Protocol> RemoteAddress<P> {
    pub(crate) fn new(target: Arc<Target<P>>) -> Self {
        Self { target }
    }

    /// The remote actor's identity on this node (its stand-in's id): the `id` of the
    /// [`Down`](zeta::Down) its watchers get.
    pub fn id(&self) -> ActorId {
        self.target.standin.id()
    }

    /// The node it is on.
    pub fn node(&self) -> &str {
        &self.target.node
    }

    /// The name it is exported under.
    pub fn name(&self) -> &str {
        &self.target.name
    }

    /// Whether it is alive as far as this node knows: it has not ended, and its node
    /// has not been lost.
    pub fn is_alive(&self) -> bool {
        self.target.standin.is_alive() && !self.target.peer.is_lost()
    }

    /// Sends `message` at normal priority.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message: [`Undelivered::Full`] when the outbound buffer to
    /// the node is full; [`Undelivered::NodeLost`], [`Undelivered::ActorStopped`],
    /// [`Undelivered::Closed`], [`Undelivered::Encode`].
    pub fn send(&self, message: P::Tell) -> Result<(), SendError<P::Tell>> {
        self.send_with(Priority::Normal, message)
    }

    /// Sends `message` at high priority: delivered to the actor as a high-priority
    /// message, and carried by zenoh at a higher priority than normal ones.
    ///
    /// # Errors
    ///
    /// As for [`send`](RemoteAddress::send).
    pub fn send_high(&self, message: P::Tell) -> Result<(), SendError<P::Tell>> {
        self.send_with(Priority::High, message)
    }

    /// Sends `message` at `priority`.
    ///
    /// # Errors
    ///
    /// As for [`send`](RemoteAddress::send).
    pub fn send_with(
        &self,
        priority: Priority,
        message: P::Tell,
    ) -> Result<(), SendError<P::Tell>> {
        if let Err(reason) = self.check() {
            return Err(SendError::new(message, reason));
        }
        let Ok(bytes) = wire::encode(Some(wire::flag(priority)), &message) else {
            return Err(SendError::new(message, Undelivered::Encode));
        };
        let frame = Frame::Tell {
            publishers: self.target.publishers.clone(),
            high: priority == Priority::High,
            bytes,
        };
        match self.target.peer.offer(frame) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(SendError::new(message, Undelivered::Full)),
            Err(TrySendError::Disconnected(_)) => Err(SendError::new(message, Undelivered::Closed)),
        }
    }

    /// Asks at normal priority: the [`RemoteFuture`] resolves to the answer, or to a
    /// [`RemoteError`] (never hangs: at worst, after the node's ask timeout).
    ///
    /// # Errors
    ///
    /// [`SendError`] with the request, as for [`send`](RemoteAddress::send).
    pub fn ask(&self, request: P::Ask) -> Result<RemoteFuture<P::Answer>, SendError<P::Ask>> {
        self.ask_with(Priority::Normal, request)
    }

    /// [`ask`](RemoteAddress::ask) at high priority.
    ///
    /// # Errors
    ///
    /// As for [`ask`](RemoteAddress::ask).
    pub fn ask_high(&self, request: P::Ask) -> Result<RemoteFuture<P::Answer>, SendError<P::Ask>> {
        self.ask_with(Priority::High, request)
    }

    /// [`ask`](RemoteAddress::ask) at `priority`.
    ///
    /// # Errors
    ///
    /// As for [`ask`](RemoteAddress::ask).
    pub fn ask_with(
        &self,
        priority: Priority,
        request: P::Ask,
    ) -> Result<RemoteFuture<P::Answer>, SendError<P::Ask>> {
        let (reply, future) = zeta::Future::pair();
        self.query(priority, request, Answerer::Future(reply))?;
        Ok(RemoteFuture { inner: future })
    }

    /// Asks, and has the answer delivered to the local actor `to` as a message:
    /// `wrap(answer)`, sent at normal priority, once. This is how an actor asks a remote
    /// actor without blocking: the answer comes back into its own mailbox, like any
    /// message (`to` is usually the asker's own address, [`Context::address`]).
    ///
    /// `wrap` runs on one of the node's threads (zenoh's receiving thread, or the
    /// sender thread if the query could not be made). A bounded `to` that is full is
    /// waited on, as a tell from another node is. If `to` has ended, the answer is
    /// dropped.
    ///
    /// # Errors
    ///
    /// As for [`ask`](RemoteAddress::ask); then `wrap` is never called.
    ///
    /// [`Context::address`]: zeta::Context::address
    pub fn ask_to<A: Actor>(
        &self,
        request: P::Ask,
        to: &Address<A>,
        wrap: impl FnOnce(Result<P::Answer, RemoteError>) -> A::Message + Send + 'static,
    ) -> Result<(), SendError<P::Ask>> {
        self.ask_to_with(Priority::Normal, request, to, wrap)
    }

    /// [`ask_to`](RemoteAddress::ask_to) at `priority`: a high-priority request travels
    /// (and its answer comes back) ahead of normal-priority traffic on the link, and is
    /// delivered to the remote actor at high priority.
    ///
    /// # Errors
    ///
    /// As for [`ask`](RemoteAddress::ask); then `wrap` is never called.
    pub fn ask_to_with<A: Actor>(
        &self,
        priority: Priority,
        request: P::Ask,
        to: &Address<A>,
        wrap: impl FnOnce(Result<P::Answer, RemoteError>) -> A::Message + Send + 'static,
    ) -> Result<(), SendError<P::Ask>> {
        let to = to.clone();
        let deliver = move |answer| {
            // `false`: `to` has ended; nobody to tell.
            let _ = crate::export::send_or_wait(&to, Priority::Normal, wrap(answer));
        };
        self.query(priority, request, Answerer::Message(Box::new(deliver)))
    }

    /// Queues the query of an ask, answered through `answerer`.
    fn query(
        &self,
        priority: Priority,
        request: P::Ask,
        answerer: Answerer<P::Answer>,
    ) -> Result<(), SendError<P::Ask>> {
        if let Err(reason) = self.check() {
            return Err(SendError::new(request, reason));
        }
        let Ok(bytes) = wire::encode(Some(wire::flag(priority)), &request) else {
            return Err(SendError::new(request, Undelivered::Encode));
        };
        let timeout = self.target.shared.config.ask_timeout;
        let slot = Arc::new(Mutex::new(Some(answerer)));
        let call = Call {
            answerer: slot.clone(),
            shared: self.target.shared.clone(),
            peer: self.target.peer.clone(),
            deadline: Instant::now() + timeout,
        };
        let key = self.target.ask_key.clone();
        let frame = Frame::Ask(Box::new(move |session: &zenoh::Session| {
            // An error: the session is closing; dropping the callback (with `call`)
            // answers with why.
            let _ = session
                .get(key)
                .payload(bytes)
                .priority(zenoh_priority(priority))
                .congestion_control(CongestionControl::Block)
                .consolidation(ConsolidationMode::None)
                .timeout(timeout)
                .callback(move |reply| call.answered(&reply))
                .wait();
        }));
        let (reason, frame) = match self.target.peer.offer(frame) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(frame)) => (Undelivered::Full, frame),
            Err(TrySendError::Disconnected(frame)) => (Undelivered::Closed, frame),
        };
        // Refused: the caller gets the request back and nothing else. The answerer is
        // taken out before the frame (and the call in it) is dropped, so that the
        // call does not answer too.
        drop(lock(&slot).take());
        drop(frame);
        Err(SendError::new(request, reason))
    }

    /// Makes `watcher` monitor the remote actor: its
    /// [`on_down`](zeta::Actor::on_down) gets a [`Down`](zeta::Down) with
    /// [`id`](RemoteAddress::id) and the actor's reason when the actor ends, or with
    /// [`StopReason::NodeLost`] when its node is lost. Once, as for a local monitor
    /// (this is one, of the actor's stand-in).
    ///
    /// # Errors
    ///
    /// As for [`Address::monitor`].
    pub fn monitor<W: Actor>(&self, watcher: &Address<W>) -> Result<Monitor, ControlError> {
        watcher.monitor(&self.target.standin)
    }

    /// Links `local` and the remote actor, one way: when the remote actor fails (it
    /// panicked, or its node was lost), `local` stops with
    /// [`StopReason::Linked`] (the stand-in's id) unless it traps exits. The remote
    /// actor is not told of `local`'s end, and the stand-in outlives it (it traps
    /// exits).
    ///
    /// # Errors
    ///
    /// As for [`Address::link`].
    pub fn link<W: Actor>(&self, local: &Address<W>) -> Result<(), ControlError> {
        local.link(&self.target.standin)
    }

    /// A future of the remote actor's end, as this node learns it.
    ///
    /// # Errors
    ///
    /// As for [`Address::stopped`].
    pub fn stopped(&self) -> Result<zeta::Future<StopReason>, ControlError> {
        self.target.standin.stopped()
    }

    fn check(&self) -> Result<(), Undelivered> {
        if self.target.shared.closed.load(Ordering::Acquire) {
            Err(Undelivered::Closed)
        } else if self.target.peer.is_lost() {
            Err(Undelivered::NodeLost)
        } else if !self.target.standin.is_alive() {
            Err(Undelivered::ActorStopped)
        } else {
            Ok(())
        }
    }
}

/// Where an ask's answer goes.
enum Answerer<T> {
    /// A [`RemoteFuture`]'s reply slot.
    Future(Reply<Result<T, RemoteError>>),
    /// A message to a local actor ([`RemoteAddress::ask_to`]).
    Message(Box<dyn FnOnce(Result<T, RemoteError>) + Send>),
}

impl<T> Answerer<T> {
    fn give(self, answer: Result<T, RemoteError>) {
        match self {
            // Refused: the asker has gone; nobody to tell.
            Answerer::Future(reply) => drop(reply.send(answer)),
            Answerer::Message(deliver) => deliver(answer),
        }
    }
}

/// An ask in flight: the callback of its query. Dropped by zenoh when the query is
/// over; unanswered then, it answers with why.
struct Call<T> {
    answerer: Arc<Mutex<Option<Answerer<T>>>>,
    shared: Arc<Shared>,
    peer: Arc<Peer>,
    deadline: Instant,
}

impl<T: Wire> Call<T> {
    fn answered(&self, reply: &zenoh::query::Reply) {
        let Some(answerer) = lock(&self.answerer).take() else {
            return;
        };
        let result = match reply.result() {
            Ok(sample) => match wire::decode::<Answer<T>>(&sample.payload().to_bytes()) {
                Ok(Answer::Ok(value)) => Ok(value),
                Ok(Answer::Err(failure)) => Err(match failure {
                    Failure::Ended(reason) => {
                        RemoteError::Ended(reason.into_reason(&self.peer.node))
                    }
                    Failure::NoReply => RemoteError::NoReply,
                    Failure::HandlerPanicked => RemoteError::HandlerPanicked,
                    Failure::Full => RemoteError::Full,
                    Failure::Undecodable(what) => RemoteError::Undecodable(what),
                }),
                Err(error) => Err(RemoteError::Undecodable(error.to_string())),
            },
            Err(error) => Err(RemoteError::Undecodable(format!(
                "an error reply: {}",
                String::from_utf8_lossy(&error.payload().to_bytes())
            ))),
        };
        answerer.give(result);
    }
}

impl<T> Drop for Call<T> {
    fn drop(&mut self) {
        let Some(answerer) = lock(&self.answerer).take() else {
            return;
        };
        // The exporting node always answers; a query over with no answer before its
        // deadline found nobody to ask: the node (or its export) is gone.
        let error = if self.shared.closed.load(Ordering::Acquire) {
            RemoteError::Closed
        } else if self.peer.is_lost() || Instant::now() < self.deadline {
            RemoteError::NodeLost
        } else {
            RemoteError::Timeout
        };
        answerer.give(Err(error));
    }
}

/// The answer to a remote ask: resolves to the value or to a [`RemoteError`], never
/// hangs (at worst, it resolves after the node's ask timeout).
///
/// Wait for it ([`wait`](RemoteFuture::wait), [`wait_timeout`](RemoteFuture::wait_timeout)),
/// poll it ([`try_take`](RemoteFuture::try_take)), or `.await` it. Dropping it discards
/// the answer.
#[must_use = "dropping the future discards the answer"]
pub struct RemoteFuture<T> {
    inner: zeta::Future<Result<T, RemoteError>>,
}

fn flatten<T>(result: Result<Result<T, RemoteError>, RequestError>) -> Result<T, RemoteError> {
    match result {
        Ok(answer) => answer,
        Err(RequestError::Timeout) => Err(RemoteError::Timeout),
        Err(RequestError::WouldBlock) => Err(RemoteError::WouldBlock),
        Err(_) => Err(RemoteError::NoReply),
    }
}

impl<T> RemoteFuture<T> {
    /// Whether it has resolved.
    pub fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }

    /// The result, if it has resolved; never blocks.
    pub fn try_take(&mut self) -> Option<Result<T, RemoteError>> {
        self.inner.try_take().map(flatten)
    }

    /// Blocks until it resolves.
    ///
    /// # Errors
    ///
    /// [`RemoteError`]: why no answer came; [`RemoteError::WouldBlock`] inside an actor.
    pub fn wait(self) -> Result<T, RemoteError> {
        flatten(self.inner.wait())
    }

    /// Blocks until it resolves or `timeout` passes; after a timeout it is still
    /// usable.
    ///
    /// # Errors
    ///
    /// [`RemoteError::Timeout`], and as for [`wait`](RemoteFuture::wait).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<T, RemoteError> {
        flatten(self.inner.wait_timeout(timeout))
    }
}

impl<T> core::future::Future for RemoteFuture<T> {
    type Output = Result<T, RemoteError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx).map(flatten)
    }
}

impl<T> core::fmt::Debug for RemoteFuture<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RemoteFuture")
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}
