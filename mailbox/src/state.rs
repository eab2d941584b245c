//! The inbox's state word: one `AtomicPtr` that is either a tag or the top node.
//!
//! | value            | state        | meaning                                             |
//! |------------------|--------------|-----------------------------------------------------|
//! | `EMPTY` (0)      | empty        | no messages; the reader is running (or about to)    |
//! | `BLOCKED` (1)    | blocked      | no messages; the reader is asleep: next push wakes it |
//! | `CLOSED` (2)     | closed       | no more messages are accepted                       |
//! | node address     | has-messages | the top of a LIFO stack of nodes                    |
//!
//! and one flag, `SEALED` (4), that may be set on EMPTY or on a node address:
//!
//! | value                | state               | meaning                                  |
//! |----------------------|---------------------|------------------------------------------|
//! | `EMPTY \| SEALED`    | sealed, drained     | no new messages accepted; nothing queued: the reader ends |
//! | `node \| SEALED`     | sealed, has-messages | no new messages accepted; the reader drains what is queued |
//!
//! `BLOCKED | SEALED` and `CLOSED | SEALED` never exist: sealing a blocked inbox unblocks
//! it (the sealer schedules the reader), and closing clears every flag.
//!
//! Node headers are aligned to 8 (`#[repr(align(8))]` on the header), so node
//! addresses never collide with the tags or the flag.
//! The transitions and their orderings are documented on [`Inbox`](crate::Inbox).

use core::fmt;

use crate::message::Header;

/// No messages; the reader is not blocked.
pub(crate) const EMPTY: usize = 0;
/// No messages; the reader is blocked and the next push must schedule it.
pub(crate) const BLOCKED: usize = 1;
/// The inbox accepts no more messages.
pub(crate) const CLOSED: usize = 2;
/// Flag: no new messages are accepted, but the queued ones are still the reader's to
/// handle.
pub(crate) const SEALED: usize = 4;

/// The tag value `tag` as a pointer (no provenance: it is never dereferenced).
#[inline(always)]
pub(crate) const fn tag(tag: usize) -> *mut Header {
    core::ptr::without_provenance_mut(tag)
}

/// A decoded copy of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) *mut Header);

impl Snapshot {
    /// The word without the [`SEALED`] flag.
    #[inline(always)]
    fn unflagged(self) -> usize {
        self.0 as usize & !SEALED
    }

    /// The word holds a node: the inbox has messages.
    #[inline(always)]
    pub(crate) fn has_messages(self) -> bool {
        self.unflagged() > CLOSED
    }

    /// No messages and not blocked (sealed or not).
    #[inline(always)]
    pub(crate) fn is_empty(self) -> bool {
        self.unflagged() == EMPTY
    }

    /// The [`SEALED`] flag is set.
    #[inline(always)]
    pub(crate) fn is_sealed(self) -> bool {
        self.0 as usize & SEALED != 0
    }

    /// Pushes are accepted: neither closed nor sealed.
    #[inline(always)]
    pub(crate) fn accepts(self) -> bool {
        self.0 as usize & (SEALED | CLOSED) == 0
    }

    /// The [`SEALED`] flag of this word, to carry over to a new one.
    #[inline(always)]
    pub(crate) fn seal_flag(self) -> usize {
        self.0 as usize & SEALED
    }

    #[inline(always)]
    pub(crate) fn is_blocked(self) -> bool {
        self.0 as usize == BLOCKED
    }

    #[inline(always)]
    pub(crate) fn is_closed(self) -> bool {
        self.0 as usize == CLOSED
    }

    /// The top node (with its provenance, the flag cleared), or null for the tag
    /// states.
    #[inline(always)]
    pub(crate) fn top(self) -> *mut Header {
        if self.has_messages() {
            self.0.map_addr(|addr| addr & !SEALED)
        } else {
            core::ptr::null_mut()
        }
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sealed = if self.is_sealed() { "Sealed" } else { "" };
        match self.unflagged() {
            EMPTY => write!(f, "{sealed}Empty"),
            BLOCKED => f.write_str("Blocked"),
            CLOSED => f.write_str("Closed"),
            _ => write!(f, "{sealed}HasMessages(top: {:p})", self.top()),
        }
    }
}
