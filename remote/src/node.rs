//! [`Node`]: a zenoh session and the bridge between it and local actors.
//!
//! # Threads
//!
//! A node runs no actor and blocks no worker. Besides zenoh's own threads it has:
//!
//! - one *sender* thread per remote node it talks to (`peer.rs`): it drains that
//!   node's bounded outbound buffer into zenoh, and is the only thread that may block
//!   on the network (zenoh's blocking congestion control: when the link is full, it
//!   waits, the buffer fills, and senders get their messages back);
//! - one *control* thread: it answers the asks whose local answer came later than the
//!   query (woken by the answer's waker) and publishes the ends of exported actors.
//!
//! Deliveries to local actors run on zenoh's receiving threads (the subscriber and
//! queryable callbacks): a tell is sent to the actor's address; one for a full bounded
//! mailbox waits there for room (`send_blocking`), which stops zenoh reading from that
//! link: TCP pushes back on the sending node, whose sender thread waits in `put`,
//! whose outbound buffer fills, whose senders get [`Undelivered::Full`]. So a slow
//! receiver slows its senders down; nothing is dropped.
//!
//! [`Undelivered::Full`]: crate::Undelivered::Full

use core::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use zenoh::liveliness::LivelinessToken;
use zenoh::qos::{CongestionControl, Priority as ZPriority};
use zenoh::{Session, Wait};
use zeta::arena::MemoryResource;
use zeta::{Actor, Address, Context, Down, Scheduler, System};

/// A TCP endpoint on loopback with a port that is free now (`tcp/127.0.0.1:40123`):
/// for tests and examples, which listen on it. Another process may take the port
/// before the node binds it; then [`Node::open`] fails, and one tries another.
///
/// # Errors
///
/// When no port can be bound on loopback.
pub fn loopback_endpoint() -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(format!("tcp/{}", listener.local_addr()?))
}

use crate::address::{RemoteAddress, Target};
use crate::config::NodeConfig;
use crate::error::{LookupError, NodeError, engine};
use crate::export::{self, Exported};
use crate::keys;
use crate::peer::Peer;
use crate::protocol::{Protocol, Serve};
use crate::standin::StandIn;
use crate::wire::{self, Info, WireReason};

/// A node: exports local actors under names, and gives typed addresses of the actors
/// other nodes export.
///
/// Dropping it (or [`close`](Node::close)) closes it: its exports stop answering, the
/// other nodes see it lost, and the remote addresses it gave refuse further messages
/// with [`Undelivered::Closed`](crate::Undelivered::Closed); their stand-ins end with
/// [`StopReason::NodeLost`](zeta::StopReason::NodeLost) (the remote actors are out of
/// reach), so local watchers are told.
///
/// # Examples
///
/// Two nodes in one process, on loopback:
///
/// ```
/// use std::time::Duration;
/// use serde::{Deserialize, Serialize};
/// use zeta::{Actor, Context, Reply, System};
/// use zeta_remote::{Node, NodeConfig, Protocol, Serve};
///
/// struct Greeter;
/// impl Protocol for Greeter {
///     const NAME: &'static str = "doc.greeter";
///     const VERSION: u32 = 1;
///     type Tell = String;
///     type Ask = String;
///     type Answer = String;
/// }
///
/// struct Greet;
/// enum GreetMsg {
///     Hello(String),
///     Greet(String, Reply<String>),
/// }
/// impl Actor for Greet {
///     type Message = GreetMsg;
///     fn handle(&mut self, msg: GreetMsg, _ctx: &mut Context<'_, Self>) {
///         if let GreetMsg::Greet(name, reply) = msg {
///             let _ = reply.send(format!("hello, {name}"));
///         }
///     }
/// }
/// impl Serve<Greeter> for Greet {
///     fn tell(name: String) -> GreetMsg {
///         GreetMsg::Hello(name)
///     }
///     fn ask(name: String, reply: Reply<String>) -> GreetMsg {
///         GreetMsg::Greet(name, reply)
///     }
/// }
///
/// let system = System::sharing(1).unwrap();
/// let endpoint = zeta_remote::loopback_endpoint().unwrap();
/// let here = Node::open(NodeConfig::new("doc-here").listen(&endpoint), &system).unwrap();
/// let there = Node::open(NodeConfig::new("doc-there").connect(&endpoint), &system).unwrap();
///
/// let greeter = system.spawn(Greet).unwrap();
/// here.export::<Greeter, _>("greeter", &greeter).unwrap();
///
/// let remote = there.lookup::<Greeter>("doc-here", "greeter").unwrap();
/// remote.send("world".to_string()).unwrap();
/// let mut answer = remote.ask("zeta".to_string()).unwrap();
/// assert_eq!(answer.wait_timeout(Duration::from_secs(10)).unwrap(), "hello, zeta");
/// ```
pub struct Node {
    shared: Arc<Shared>,
}

/// A remote actor looked up: its protocol's name and version, and its `Target<P>`.
type Looked = (&'static str, u32, Arc<dyn Any + Send + Sync>);

/// What the node's parts share.
pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) config: NodeConfig,
    pub(crate) session: Session,
    pub(crate) scheduler: Arc<dyn Scheduler>,
    pub(crate) resource: Arc<dyn MemoryResource + Send + Sync>,
    pub(crate) closed: AtomicBool,
    pub(crate) stats: Arc<Stats>,
    /// The nodes talked to, by name.
    peers: Mutex<HashMap<String, Arc<Peer>>>,
    /// The actors looked up, by (node, name): each with its protocol's name and version.
    targets: Mutex<HashMap<(String, String), Looked>>,
    /// The exported actors, by name.
    pub(crate) exports: Mutex<HashMap<String, Arc<Exported>>>,
    /// Watches the exported actors, to publish their ends.
    sentinel: Mutex<Option<Address<Sentinel>>>,
    pub(crate) control: Sender<Control>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    token: Mutex<Option<LivelinessToken>>,
}

/// Counters of what arrived: every message a node receives is delivered or counted
/// here.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) delivered: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) undecodable: AtomicU64,
    pub(crate) answered: AtomicU64,
}

/// A node's counters ([`Node::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStats {
    /// Tells delivered to exported actors.
    pub delivered: u64,
    /// Tells that arrived for an actor that had ended (its mailbox refused them).
    pub refused: u64,
    /// Tells that did not decode as their protocol's message.
    pub undecodable: u64,
    /// Asks answered (with a value or an error).
    pub answered: u64,
}

/// Work for the control thread.
pub(crate) enum Control {
    /// An ask's local answer is ready: send it.
    Answer(Arc<dyn export::Answering>),
    /// Publish `bytes` on `key` (an exported actor's end).
    Publish { key: String, bytes: Vec<u8> },
    /// Stop.
    Stop,
}

impl Node {
    /// Opens a node: a zenoh session configured by `config`, whose stand-ins and
    /// watchers run on `system`'s scheduler and memory. Blocks until the session is
    /// open.
    ///
    /// # Errors
    ///
    /// [`NodeError::BadConfig`] for a bad name, capacity or endpoint;
    /// [`NodeError::Engine`] when zenoh cannot open the session (e.g. a port in use).
    pub fn open<S: Scheduler + 'static>(
        config: NodeConfig,
        system: &System<S>,
    ) -> Result<Node, NodeError> {
        if !keys::valid(&config.name) {
            return Err(NodeError::BadConfig(format!(
                "{:?} cannot be a node name",
                config.name
            )));
        }
        if config.outbound_capacity == 0 {
            return Err(NodeError::BadConfig("outbound_capacity is 0".into()));
        }
        let zenoh_config = config.zenoh().map_err(NodeError::BadConfig)?;
        let session = zenoh::open(zenoh_config)
            .wait()
            .map_err(|error| NodeError::Engine(engine(error)))?;
        let (control, requests) = crossbeam_channel::unbounded();
        let scheduler: Arc<dyn Scheduler> = system.scheduler().clone();
        let shared = Arc::new(Shared {
            name: config.name.clone(),
            config,
            session,
            scheduler,
            resource: system.resource().clone(),
            closed: AtomicBool::new(false),
            stats: Arc::default(),
            peers: Mutex::new(HashMap::new()),
            targets: Mutex::new(HashMap::new()),
            exports: Mutex::new(HashMap::new()),
            sentinel: Mutex::new(None),
            control,
            threads: Mutex::new(Vec::new()),
            token: Mutex::new(None),
        });
        let node = Node { shared };
        let sentinel = zeta::spawn(
            Sentinel(Arc::downgrade(&node.shared)),
            node.shared.resource.clone(),
            node.shared.scheduler.clone(),
        )
        .map_err(|_| NodeError::BadConfig("the system cannot spawn actors".into()))?;
        *lock(&node.shared.sentinel) = Some(sentinel);
        let session = node.shared.session.clone();
        let thread = std::thread::Builder::new()
            .name(format!("zeta-remote-control-{}", node.shared.name))
            .spawn(move || control_loop(&session, &requests))
            .map_err(|error| NodeError::Engine(engine(error)))?;
        lock(&node.shared.threads).push(thread);
        let token = node
            .shared
            .session
            .liveliness()
            .declare_token(keys::node(&node.shared.name))
            .wait()
            .map_err(|error| NodeError::Engine(engine(error)))?;
        *lock(&node.shared.token) = Some(token);
        Ok(node)
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// What arrived so far.
    pub fn stats(&self) -> NodeStats {
        let stats = &self.shared.stats;
        NodeStats {
            delivered: stats.delivered.load(Ordering::Relaxed),
            refused: stats.refused.load(Ordering::Relaxed),
            undecodable: stats.undecodable.load(Ordering::Relaxed),
            answered: stats.answered.load(Ordering::Relaxed),
        }
    }

    /// Exports `address` under `name`: other nodes reach it with
    /// `lookup::<P>(this node's name, name)`, and their tells and asks are delivered to
    /// it through `address`, as [`Serve`] says. When the actor ends, the nodes that
    /// looked it up are told (their stand-ins end with its reason), and later asks are
    /// answered [`RemoteError::Ended`](crate::RemoteError::Ended). The name stays taken
    /// until the node closes.
    ///
    /// # Errors
    ///
    /// [`NodeError::BadConfig`] for a name that cannot be part of a key;
    /// [`NodeError::Taken`] when the name is exported already;
    /// [`NodeError::ActorStopped`] when the actor cannot be watched (its memory has no
    /// room for the monitor; an actor that has ended can be exported, and is known as
    /// ended at once);
    /// [`NodeError::Engine`] when zenoh refuses a declaration; [`NodeError::Closed`].
    pub fn export<P: Protocol, A: Serve<P>>(
        &self,
        name: &str,
        address: &Address<A>,
    ) -> Result<(), NodeError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(NodeError::Closed);
        }
        if !keys::valid(name) {
            return Err(NodeError::BadConfig(format!(
                "{name:?} cannot be an actor name"
            )));
        }
        let mut exports = lock(&self.shared.exports);
        if exports.contains_key(name) {
            return Err(NodeError::Taken(name.to_owned()));
        }
        let exported = export::export::<P, A>(&self.shared, name, address)?;
        exports.insert(name.to_owned(), exported);
        drop(exports);
        let watched = match lock(&self.shared.sentinel).as_ref() {
            // The monitor stays until the actor ends (its handle is not needed).
            Some(sentinel) => sentinel
                .monitor(address)
                .map(drop)
                .map_err(|_| NodeError::ActorStopped),
            None => Err(NodeError::Closed),
        };
        if watched.is_err() {
            // Not watched, its end would never be told: no export.
            lock(&self.shared.exports).remove(name);
        }
        watched
    }

    /// A typed address of the actor that node `node` exports as `name`, speaking `P`.
    ///
    /// The first lookup of an actor asks its node (blocking, up to the lookup timeout)
    /// what the actor speaks, and checks it against `P`'s name and version; later
    /// lookups of it return the same remote actor (the same
    /// [`id`](RemoteAddress::id)) without asking. Do not call it from a handler: it
    /// blocks.
    ///
    /// # Errors
    ///
    /// [`LookupError::Mismatch`] when the actor speaks another protocol or version;
    /// [`LookupError::NotFound`] when no node answered in time;
    /// [`LookupError::BadName`], [`LookupError::Closed`], [`LookupError::Engine`],
    /// [`LookupError::Undecodable`].
    pub fn lookup<P: Protocol>(
        &self,
        node: &str,
        name: &str,
    ) -> Result<RemoteAddress<P>, LookupError> {
        let shared = &self.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(LookupError::Closed);
        }
        for part in [node, name] {
            if !keys::valid(part) {
                return Err(LookupError::BadName(part.to_owned()));
            }
        }
        let key = (node.to_owned(), name.to_owned());
        let expected = (P::NAME.to_owned(), P::VERSION);
        if let Some((protocol, version, target)) = lock(&shared.targets).get(&key) {
            return match Arc::clone(target).downcast::<Target<P>>() {
                Ok(target) if (*protocol, *version) == (P::NAME, P::VERSION) => {
                    Ok(RemoteAddress::new(target))
                }
                _ => Err(LookupError::Mismatch {
                    expected,
                    found: ((*protocol).to_owned(), *version),
                }),
            };
        }
        let peer = self.peer(node)?;
        let standin = zeta::spawn(StandIn, shared.resource.clone(), shared.scheduler.clone())
            .map_err(|_| LookupError::Engine("the system cannot spawn a stand-in".into()))?;
        // Down first, then the question: an end after the answer is published on
        // `down`; one before it is in the answer.
        let down = {
            let standin = standin.clone();
            let node_name = node.to_owned();
            shared
                .session
                .declare_subscriber(keys::actor(node, name, "down"))
                .callback(move |sample| {
                    if let Ok(reason) = wire::decode::<WireReason>(&sample.payload().to_bytes()) {
                        let _ = standin.send_high(reason.into_reason(&node_name));
                    }
                })
                .wait()
                .map_err(|error| LookupError::Engine(engine(error)))?
        };
        let info = self.info(node, name)?;
        if (info.protocol.as_str(), info.version) != (P::NAME, P::VERSION) {
            return Err(LookupError::Mismatch {
                expected,
                found: (info.protocol, info.version),
            });
        }
        if let Some(reason) = info.ended {
            let _ = standin.send_high(reason.into_reason(node));
        }
        let target = Arc::new(
            Target::<P>::new(shared, peer.clone(), node, name, standin.clone(), down)
                .map_err(|error| LookupError::Engine(engine(error)))?,
        );
        peer.adopt(standin);
        let mut targets = lock(&shared.targets);
        // Two first lookups raced: the one that got here first is the one.
        let (_, _, kept) = targets.entry(key).or_insert_with(|| {
            (
                P::NAME,
                P::VERSION,
                target.clone() as Arc<dyn Any + Send + Sync>,
            )
        });
        let kept = Arc::clone(kept).downcast::<Target<P>>().unwrap_or(target);
        Ok(RemoteAddress::new(kept))
    }

    /// Asks `node` what its actor `name` speaks; again, backing off, until an answer or
    /// the lookup timeout: a node just connected, or an actor just exported, is known to
    /// the network a moment later (declarations travel like messages).
    fn info(&self, node: &str, name: &str) -> Result<Info, LookupError> {
        let timeout = self.shared.config.lookup_timeout;
        let deadline = std::time::Instant::now() + timeout;
        let mut pause = std::time::Duration::from_millis(1);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let replies = self
                .shared
                .session
                .get(keys::actor(node, name, "info"))
                .priority(ZPriority::InteractiveHigh)
                .congestion_control(CongestionControl::Block)
                .timeout(left.max(std::time::Duration::from_millis(1)))
                .wait()
                .map_err(|error| LookupError::Engine(engine(error)))?;
            while let Ok(reply) = replies.recv() {
                if let Ok(sample) = reply.result() {
                    return wire::decode(&sample.payload().to_bytes())
                        .map_err(|error| LookupError::Undecodable(error.to_string()));
                }
            }
            if std::time::Instant::now() + pause >= deadline {
                return Err(LookupError::NotFound);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_millis(50));
        }
    }

    /// The peer `node`, made at its first use.
    fn peer(&self, node: &str) -> Result<Arc<Peer>, LookupError> {
        let mut peers = lock(&self.shared.peers);
        if let Some(peer) = peers.get(node) {
            if !peer.is_lost() {
                return Ok(peer.clone());
            }
        }
        let peer = Peer::open(&self.shared, node).map_err(LookupError::Engine)?;
        peers.insert(node.to_owned(), peer.clone());
        Ok(peer)
    }

    /// Closes the node now (dropping it does the same): see [`Node`].
    pub fn close(self) {
        drop(self);
    }
}

impl Shared {
    /// Forgets what was looked up on `node` (it was lost): a later lookup starts anew.
    pub(crate) fn forget(&self, node: &str) {
        lock(&self.targets).retain(|(of, _), _| of != node);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.closed.store(true, Ordering::Release);
        drop(lock(&shared.token).take());
        drop(lock(&shared.exports).drain().collect::<Vec<_>>());
        drop(lock(&shared.targets).drain().collect::<Vec<_>>());
        // Closed first: a sender thread waiting in `put` returns, and drains its buffer
        // fast into the closed session.
        let _ = shared.session.close().wait();
        let peers: Vec<_> = lock(&shared.peers).drain().map(|(_, peer)| peer).collect();
        for peer in &peers {
            // Unreachable from here on, as if lost: the stand-ins end with `NodeLost`,
            // and their watchers are told.
            peer.lose();
            peer.close();
        }
        let _ = shared.control.send(Control::Stop);
        let threads: Vec<_> = lock(&shared.threads).drain(..).collect();
        for thread in threads
            .into_iter()
            .chain(peers.iter().filter_map(|peer| peer.take_thread()))
        {
            let _ = thread.join();
        }
        drop(lock(&shared.sentinel).take());
    }
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

/// A lock that a panic elsewhere does not poison for us: what it guards is replaced
/// whole, never left half-updated.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The control thread: answers late asks, publishes ends.
fn control_loop(session: &Session, requests: &Receiver<Control>) {
    while let Ok(request) = requests.recv() {
        match request {
            Control::Answer(answering) => answering.answer(),
            Control::Publish { key, bytes } => {
                let _ = session
                    .put(key, bytes)
                    .priority(ZPriority::InteractiveHigh)
                    .congestion_control(CongestionControl::Block)
                    .wait();
            }
            Control::Stop => break,
        }
    }
}

/// Watches the exported actors; publishes each one's end.
struct Sentinel(Weak<Shared>);

impl Actor for Sentinel {
    type Message = ();

    fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {}

    fn on_down(&mut self, down: Down, _ctx: &mut Context<'_, Self>) {
        let Some(shared) = self.0.upgrade() else {
            return;
        };
        let ended: Vec<Arc<Exported>> = lock(&shared.exports)
            .values()
            .filter(|exported| exported.id == down.id)
            .cloned()
            .collect();
        for exported in ended {
            let reason = WireReason::of(&down.reason);
            if let Ok(bytes) = wire::encode(None, &reason) {
                let _ = shared.control.send(Control::Publish {
                    key: keys::actor(&shared.name, &exported.name, "down"),
                    bytes,
                });
            }
        }
    }
}
