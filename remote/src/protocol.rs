//! What crosses the wire: a [`Protocol`] names the messages an exported actor takes from
//! other nodes, and [`Serve`] says how the actor takes them.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeta::{Actor, Reply};

/// A type that can cross the wire: serde both ways, `Send`, owned.
///
/// Implemented for every such type; nothing to write.
pub trait Wire: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Wire for T {}

/// The messages that nodes exchange with one exported actor: fire-and-forget
/// [`Tell`](Protocol::Tell)s, and [`Ask`](Protocol::Ask)s answered with an
/// [`Answer`](Protocol::Answer).
///
/// [`NAME`](Protocol::NAME) and [`VERSION`](Protocol::VERSION) are checked when a node
/// first looks the actor up ([`Node::lookup`](crate::Node::lookup)): a node that
/// expects another protocol, or another version of it, gets
/// [`LookupError::Mismatch`](crate::LookupError::Mismatch) instead of messages it would
/// decode into garbage. Change the version whenever the types change shape.
///
/// A protocol without requests uses [`Never`] for `Ask` (and anything for `Answer`).
///
/// # Examples
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use zeta_remote::Protocol;
///
/// #[derive(Serialize, Deserialize)]
/// pub enum Quote {
///     Tick { symbol: String, price: u64 },
/// }
///
/// /// The quotes feed: ticks in, last prices out.
/// pub struct Quotes;
/// impl Protocol for Quotes {
///     const NAME: &'static str = "example.quotes";
///     const VERSION: u32 = 1;
///     type Tell = Quote;
///     type Ask = String; // a symbol
///     type Answer = Option<u64>; // its last price
/// }
/// ```
pub trait Protocol: 'static {
    /// The protocol's name, the same on every node (e.g. `"trading.orders"`).
    const NAME: &'static str;
    /// Its version: nodes with another version cannot talk to each other.
    const VERSION: u32;
    /// A fire-and-forget message.
    type Tell: Wire;
    /// A request.
    type Ask: Wire;
    /// A request's answer.
    type Answer: Wire;
}

/// How an actor takes a [`Protocol`]'s messages: each becomes one of the actor's own
/// messages, delivered through its normal [`Address`](zeta::Address), so that
/// everything local applies (priorities, bounded mailboxes, supervision).
///
/// # Examples
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use zeta::{Actor, Context, Reply};
/// use zeta_remote::{Protocol, Serve};
///
/// pub struct Counter;
/// impl Protocol for Counter {
///     const NAME: &'static str = "example.counter";
///     const VERSION: u32 = 1;
///     type Tell = u64; // add
///     type Ask = (); // read
///     type Answer = u64;
/// }
///
/// struct Count(u64);
/// enum CountMsg {
///     Add(u64),
///     Read(Reply<u64>),
/// }
/// impl Actor for Count {
///     type Message = CountMsg;
///     fn handle(&mut self, msg: CountMsg, _ctx: &mut Context<'_, Self>) {
///         match msg {
///             CountMsg::Add(n) => self.0 += n,
///             CountMsg::Read(reply) => drop(reply.send(self.0)),
///         }
///     }
/// }
/// impl Serve<Counter> for Count {
///     fn tell(n: u64) -> CountMsg {
///         CountMsg::Add(n)
///     }
///     fn ask((): (), reply: Reply<u64>) -> CountMsg {
///         CountMsg::Read(reply)
///     }
/// }
/// ```
pub trait Serve<P: Protocol>: Actor {
    /// The actor's message for a tell.
    fn tell(message: P::Tell) -> Self::Message;
    /// The actor's message for a request, around the [`Reply`] it answers through.
    fn ask(request: P::Ask, reply: Reply<P::Answer>) -> Self::Message;
}

/// A message that cannot exist: the [`Ask`](Protocol::Ask) of a protocol without
/// requests (`fn ask(never: Never, _) -> _ { match never {} }`). Decoding one always
/// fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Never {}
