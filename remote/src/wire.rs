//! The codec and the frames: postcard over serde.
//!
//! Why postcard: a compact, stable format (its wire format is specified and frozen for
//! 1.x), varint integers, no schema or field names on the wire, no allocation to
//! encode into a buffer one has, and serde, so any message type that derives it
//! crosses. Its cost is measured by `cargo bench -p zeta-remote --bench codec`
//! (BENCHMARKS.md, "Remote").
//!
//! A tell or an ask is one byte of flags (the zeta priority) and the postcard bytes of
//! the message. An answer is an [`Answer`]; a lookup's reply an [`Info`]; an actor's end
//! a [`WireReason`].

use std::cell::RefCell;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeta::{PanicMessage, Priority, StopReason};

/// The flag byte of a normal-priority message.
pub(crate) const NORMAL: u8 = 0;
/// The flag byte of a high-priority message.
pub(crate) const HIGH: u8 = 1;

pub(crate) fn flag(priority: Priority) -> u8 {
    match priority {
        Priority::High => HIGH,
        _ => NORMAL,
    }
}

std::thread_local! {
    /// The encoding buffer of the thread: grown once to the largest message, reused.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// `flag` and the postcard bytes of `value`, in a vector of their exact size: encoded
/// into the thread's reused buffer, then copied out once (the one allocation, which
/// the messaging engine then owns and frees).
pub(crate) fn encode<T: Serialize + ?Sized>(
    flag: Option<u8>,
    value: &T,
) -> Result<Vec<u8>, postcard::Error> {
    SCRATCH.with(|scratch| {
        let mut buffer = scratch.take();
        buffer.clear();
        buffer.extend(flag);
        let buffer = postcard::to_extend(value, buffer)?;
        let bytes = buffer.as_slice().to_vec();
        scratch.replace(buffer);
        Ok(bytes)
    })
}

/// A tell's or an ask's priority and message.
pub(crate) fn decode_message<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<(Priority, T), postcard::Error> {
    let (&flag, rest) = bytes
        .split_first()
        .ok_or(postcard::Error::DeserializeUnexpectedEnd)?;
    let priority = if flag & HIGH != 0 {
        Priority::High
    } else {
        Priority::Normal
    };
    Ok((priority, decode(rest)?))
}

/// A value that uses every byte: postcard is not self-describing, so bytes of another
/// type may decode; leftovers at least catch some of those.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    match postcard::take_from_bytes(bytes)? {
        (value, []) => Ok(value),
        _ => Err(postcard::Error::DeserializeBadEncoding),
    }
}

/// A lookup's answer: what the exported actor speaks, and whether it has ended.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Info {
    pub(crate) protocol: String,
    pub(crate) version: u32,
    pub(crate) ended: Option<WireReason>,
}

/// A [`StopReason`] on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum WireReason {
    Stopped,
    Killed,
    Panicked(Option<String>),
    SchedulerStopped,
    Dropped,
    /// Taken down by a link to the actor with this id, on the actor's own node.
    Linked(u64),
    NodeLost,
}

impl WireReason {
    pub(crate) fn of(reason: &StopReason) -> Self {
        match reason {
            StopReason::Stopped => Self::Stopped,
            StopReason::Killed => Self::Killed,
            StopReason::Panicked(message) => Self::Panicked(message.as_str().map(str::to_owned)),
            StopReason::SchedulerStopped => Self::SchedulerStopped,
            StopReason::Dropped => Self::Dropped,
            StopReason::Linked(id) => Self::Linked(id.get()),
            StopReason::NodeLost => Self::NodeLost,
            // A reason added later: a failure, said as one.
            other => Self::Panicked(Some(other.to_string())),
        }
    }

    /// The reason as this node gives it to watchers of the actor's stand-in. A link's
    /// end names an actor of the other node, whose id means nothing here: it is given
    /// as a failure with that said in words (a failure too, so links pass it on).
    pub(crate) fn into_reason(self, node: &str) -> StopReason {
        match self {
            Self::Stopped => StopReason::Stopped,
            Self::Killed => StopReason::Killed,
            Self::Panicked(Some(message)) => StopReason::Panicked(message.into()),
            Self::Panicked(None) => StopReason::Panicked(PanicMessage::from("")),
            Self::SchedulerStopped => StopReason::SchedulerStopped,
            Self::Dropped => StopReason::Dropped,
            Self::Linked(id) => StopReason::Panicked(
                format!("taken down by its link to actor #{id} of node {node}").into(),
            ),
            Self::NodeLost => StopReason::NodeLost,
        }
    }
}

/// An ask's answer on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Answer<T> {
    Ok(T),
    Err(Failure),
}

/// Why an ask was not answered, as the answering node tells it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Failure {
    /// The actor has ended.
    Ended(WireReason),
    /// The handler dropped the reply unsent, or the actor ended before answering.
    NoReply,
    /// The handler panicked.
    HandlerPanicked,
    /// The actor's bounded mailbox was full.
    Full,
    /// The request did not decode as the protocol's `Ask`.
    Undecodable(String),
}
