//! The inbox's state word: one `AtomicPtr` that is either a tag or the top node.
//!
//! | value            | state        | meaning                                             |
//! |------------------|--------------|-----------------------------------------------------|
//! | [`EMPTY`] (0)    | empty        | no messages; the reader is running (or about to)    |
//! | [`BLOCKED`] (1)  | blocked      | no messages; the reader is asleep: next push wakes it |
//! | [`CLOSED`] (2)   | closed       | no more messages are accepted                       |
//! | node address     | has-messages | the top of a LIFO stack of nodes                    |
//!
//! Node addresses are aligned to at least 8, so they never collide with the tags.
//! The transitions and their orderings are documented on [`Inbox`](crate::Inbox).

use core::fmt;

use crate::message::Header;

/// No messages; the reader is not blocked.
pub(crate) const EMPTY: usize = 0;
/// No messages; the reader is blocked and the next push must schedule it.
pub(crate) const BLOCKED: usize = 1;
/// The inbox accepts no more messages.
pub(crate) const CLOSED: usize = 2;

/// The tag value `tag` as a pointer (no provenance: it is never dereferenced).
#[inline(always)]
pub(crate) const fn tag(tag: usize) -> *mut Header {
    core::ptr::without_provenance_mut(tag)
}

/// A decoded copy of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) *mut Header);

impl Snapshot {
    /// The word holds a node: the inbox has messages.
    #[inline(always)]
    pub(crate) fn has_messages(self) -> bool {
        self.0 as usize > CLOSED
    }

    #[inline(always)]
    pub(crate) fn is_empty(self) -> bool {
        self.0 as usize == EMPTY
    }

    #[inline(always)]
    pub(crate) fn is_blocked(self) -> bool {
        self.0 as usize == BLOCKED
    }

    #[inline(always)]
    pub(crate) fn is_closed(self) -> bool {
        self.0 as usize == CLOSED
    }

    /// The top node, or null for the tag states.
    #[inline(always)]
    pub(crate) fn top(self) -> *mut Header {
        if self.has_messages() {
            self.0
        } else {
            core::ptr::null_mut()
        }
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 as usize {
            EMPTY => f.write_str("Empty"),
            BLOCKED => f.write_str("Blocked"),
            CLOSED => f.write_str("Closed"),
            _ => write!(f, "HasMessages(top: {:p})", self.0),
        }
    }
}
