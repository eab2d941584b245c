//! The inbox's state word: one `AtomicPtr` that is either a tag or the top node, plus
//! two flags.
//!
//! The low three bits of a node address are free (node headers are aligned to 8:
//! `#[repr(align(8))]` on the header). Bit 1 marks the two tag states that carry no
//! flag; bits 0 and 2 are the flags.
//!
//! | value            | state        | meaning                                             |
//! |------------------|--------------|-----------------------------------------------------|
//! | `EMPTY` (0)      | empty        | no messages; the reader holds the run right (running or queued) |
//! | `BLOCKED` (2)    | blocked      | no messages; nobody holds the run right: the next push takes it |
//! | `CLOSED` (3)     | closed       | no more messages are accepted                       |
//! | node address     | has-messages | the top of a LIFO stack of nodes; the reader holds the run right |
//!
//! and two flags, set only on EMPTY or on a node address (never on BLOCKED or CLOSED):
//!
//! | flag          | meaning                                                              |
//! |---------------|----------------------------------------------------------------------|
//! | `SEALED` (4)  | no new message is accepted; the reader drains what is queued, then ends |
//! | `ORPHAN` (1)  | the owner's last outside reference went while the reader held the run right: the reader must check, before it blocks, whether anyone can still reach it |
//!
//! `BLOCKED` never carries a flag: sealing a blocked inbox unblocks it (the sealer
//! takes the run right), and orphaning one claims it (the orphaner takes the run right).
//! Closing clears every flag.
//!
//! The transitions and their orderings are documented on [`Inbox`](crate::Inbox).

use core::fmt;

use crate::sync::Ordering;

use crate::message::Header;

/// No messages; the reader is not blocked.
pub(crate) const EMPTY: usize = 0;
/// No messages; the reader is blocked and the next push must schedule it.
pub(crate) const BLOCKED: usize = 2;
/// The inbox accepts no more messages.
pub(crate) const CLOSED: usize = 3;
/// Flag: no new messages are accepted, but the queued ones are still the reader's to
/// handle.
pub(crate) const SEALED: usize = 4;
/// Flag: the last outside reference to the reader's owner went while the reader held
/// the run right (see [`Inbox::orphan`](crate::Inbox::orphan)).
pub(crate) const ORPHAN: usize = 1;
/// Both flags.
const FLAGS: usize = SEALED | ORPHAN;
/// The bits a node address leaves free.
const LOW_BITS: usize = 7;
/// The bit that only the flagless tags (`BLOCKED`, `CLOSED`) have.
const TAG_BIT: usize = 2;

/// The tag value `tag` as a pointer (no provenance: it is never dereferenced).
#[inline(always)]
pub(crate) const fn tag(tag: usize) -> *mut Header {
    core::ptr::without_provenance_mut(tag)
}

/// A decoded copy of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) *mut Header);

impl Snapshot {
    #[inline(always)]
    fn word(self) -> usize {
        self.0 as usize
    }

    /// The word holds a node: the inbox has messages.
    #[inline(always)]
    pub(crate) fn has_messages(self) -> bool {
        self.word() & !LOW_BITS != 0
    }

    /// No messages and not blocked (flags or not).
    #[inline(always)]
    pub(crate) fn is_empty(self) -> bool {
        self.word() & !FLAGS == EMPTY
    }

    /// The [`SEALED`] flag is set.
    #[inline(always)]
    pub(crate) fn is_sealed(self) -> bool {
        self.flags() & SEALED != 0
    }

    /// The [`ORPHAN`] flag is set.
    #[inline(always)]
    pub(crate) fn is_orphaned(self) -> bool {
        self.flags() & ORPHAN != 0
    }

    /// Pushes are accepted: neither closed nor sealed.
    #[inline(always)]
    pub(crate) fn accepts(self) -> bool {
        // BLOCKED has no SEALED bit; CLOSED is the one value with both low bits.
        self.word() & SEALED == 0 && self.word() != CLOSED
    }

    /// The flags of this word, to carry over to a new one.
    #[inline(always)]
    pub(crate) fn flags(self) -> usize {
        if self.word() & TAG_BIT == 0 {
            self.word() & FLAGS
        } else {
            0
        }
    }

    #[inline(always)]
    pub(crate) fn is_blocked(self) -> bool {
        self.word() == BLOCKED
    }

    #[inline(always)]
    pub(crate) fn is_closed(self) -> bool {
        self.word() == CLOSED
    }

    /// The success order of a push or seal that replaces this word: Release (it
    /// publishes what the caller wrote), and AcqRel from BLOCKED, where the caller takes
    /// the run right and must also acquire what the reader did before `try_block`'s
    /// Release. Chosen from the value already read, so it costs nothing (and it is in
    /// the CAS rather than a fence after it, which ThreadSanitizer cannot see).
    #[inline(always)]
    pub(crate) fn publishing_order(self) -> Ordering {
        if self.is_blocked() {
            Ordering::AcqRel
        } else {
            Ordering::Release
        }
    }

    /// This word with `flags` added (a node or EMPTY; never BLOCKED or CLOSED).
    #[inline(always)]
    pub(crate) fn with_flags(self, flags: usize) -> *mut Header {
        debug_assert!(self.word() & TAG_BIT == 0, "flags on {self:?}");
        self.0.map_addr(|addr| addr | flags)
    }

    /// The top node (with its provenance, the flags cleared), or null for the tag
    /// states: their values are below 8, so clearing the low bits leaves 0. No branch.
    #[inline(always)]
    pub(crate) fn top(self) -> *mut Header {
        self.0.map_addr(|addr| addr & !LOW_BITS)
    }

    /// The flags a push carries over to its node: the orphan flag. Only for a word that
    /// [`accepts`](Snapshot::accepts) (so not sealed, not closed); BLOCKED's bit 0 is
    /// clear, so no branch is needed.
    #[inline(always)]
    pub(crate) fn push_flags(self) -> usize {
        debug_assert!(self.accepts(), "a push onto {self:?}");
        self.word() & ORPHAN
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_blocked() {
            return f.write_str("Blocked");
        }
        if self.is_closed() {
            return f.write_str("Closed");
        }
        let sealed = if self.is_sealed() { "Sealed" } else { "" };
        let orphan = if self.is_orphaned() { "Orphaned" } else { "" };
        if self.has_messages() {
            write!(f, "{sealed}{orphan}HasMessages(top: {:p})", self.top())
        } else {
            write!(f, "{sealed}{orphan}Empty")
        }
    }
}
