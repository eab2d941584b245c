//! Errors: every one says what happened to the message, and gives it back when it can.

use core::fmt;

use zeta::StopReason;

/// Why a remote send or ask was refused: the message is handed back in the
/// [`SendError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Undelivered {
    /// The outbound buffer to the actor's node is full: the node (or the link to it)
    /// is slower than its senders. Try again later, drop, or slow down.
    Full,
    /// The actor's node has been lost (its liveliness token went away).
    NodeLost,
    /// The actor has ended (its node said so).
    ActorStopped,
    /// This node is closed.
    Closed,
    /// The message could not be encoded (serde refused it).
    Encode,
}

impl fmt::Display for Undelivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "the outbound buffer to the actor's node is full",
            Self::NodeLost => "the actor's node was lost",
            Self::ActorStopped => "the remote actor has ended",
            Self::Closed => "this node is closed",
            Self::Encode => "the message could not be encoded",
        })
    }
}

/// A remote message that was not sent, given back with the reason.
pub struct SendError<M> {
    message: M,
    reason: Undelivered,
}

impl<M> SendError<M> {
    pub(crate) fn new(message: M, reason: Undelivered) -> Self {
        Self { message, reason }
    }

    /// Why it was not sent.
    pub fn reason(&self) -> Undelivered {
        self.reason
    }

    /// The message.
    pub fn message(&self) -> &M {
        &self.message
    }

    /// Takes the message back.
    pub fn into_message(self) -> M {
        self.message
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<M> fmt::Display for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "remote message not sent: {}", self.reason)
    }
}

impl<M> std::error::Error for SendError<M> {}

/// Why a remote request was not answered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteError {
    /// No answer came within the node's ask timeout
    /// ([`NodeConfig::ask_timeout`](crate::NodeConfig::ask_timeout)), or a local
    /// [`RemoteFuture::wait_timeout`](crate::RemoteFuture::wait_timeout) gave up (then
    /// the request is still pending).
    Timeout,
    /// The actor's node was lost before it answered.
    NodeLost,
    /// The actor had ended, with this reason.
    Ended(StopReason),
    /// The handler dropped the reply unsent, or the actor ended before answering.
    NoReply,
    /// The handler panicked.
    HandlerPanicked,
    /// The actor's bounded mailbox was full: the request was not delivered.
    Full,
    /// The request (on the actor's node) or the answer (here) did not decode: the two
    /// nodes disagree on the protocol's types. The text says what failed.
    Undecodable(String),
    /// This node closed before the answer came.
    Closed,
    /// Blocking to wait was refused because the thread is running an actor (as
    /// [`zeta::RequestError::WouldBlock`]).
    WouldBlock,
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("no answer in time"),
            Self::NodeLost => f.write_str("the actor's node was lost"),
            Self::Ended(reason) => write!(f, "the remote actor has ended: {reason}"),
            Self::NoReply => f.write_str("the request will never be answered"),
            Self::HandlerPanicked => f.write_str("the remote handler panicked"),
            Self::Full => f.write_str("the remote actor's mailbox was full"),
            Self::Undecodable(what) => write!(f, "undecodable: {what}"),
            Self::Closed => f.write_str("this node is closed"),
            Self::WouldBlock => f.write_str("refused to block inside an actor's handler"),
        }
    }
}

impl std::error::Error for RemoteError {}

/// Why a lookup failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LookupError {
    /// A node or actor name that cannot be part of a key: empty, or with `/`, `*`,
    /// `$`, `?` or `#` in it.
    BadName(String),
    /// No node answered for that actor within the lookup timeout.
    NotFound,
    /// The actor speaks another protocol, or another version of it.
    Mismatch {
        /// The protocol and version asked for.
        expected: (String, u32),
        /// The protocol and version found.
        found: (String, u32),
    },
    /// The answer did not decode.
    Undecodable(String),
    /// This node is closed.
    Closed,
    /// The messaging engine refused: the text says why.
    Engine(String),
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadName(name) => write!(f, "{name:?} cannot be a node or actor name"),
            Self::NotFound => f.write_str("no such actor answered"),
            Self::Mismatch { expected, found } => write!(
                f,
                "protocol mismatch: expected {} v{}, found {} v{}",
                expected.0, expected.1, found.0, found.1
            ),
            Self::Undecodable(what) => write!(f, "undecodable lookup answer: {what}"),
            Self::Closed => f.write_str("this node is closed"),
            Self::Engine(what) => write!(f, "messaging engine: {what}"),
        }
    }
}

impl std::error::Error for LookupError {}

/// Why a node could not be opened, or an actor exported.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeError {
    /// A bad configuration or name: the text says which.
    BadConfig(String),
    /// That name is exported already on this node.
    Taken(String),
    /// The actor has ended (it cannot be exported), or its memory is full.
    ActorStopped,
    /// This node is closed.
    Closed,
    /// The messaging engine refused: the text says why.
    Engine(String),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadConfig(what) => write!(f, "bad configuration: {what}"),
            Self::Taken(name) => write!(f, "{name:?} is exported already"),
            Self::ActorStopped => f.write_str("the actor has ended"),
            Self::Closed => f.write_str("this node is closed"),
            Self::Engine(what) => write!(f, "messaging engine: {what}"),
        }
    }
}

impl std::error::Error for NodeError {}

/// A messaging engine error, as text.
pub(crate) fn engine(error: impl fmt::Display) -> String {
    error.to_string()
}
