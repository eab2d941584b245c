//! [`ActorId`]: a stable, unique name for each actor, for `Debug`, `Down` notices and
//! logs.
//!
//! An id is given at spawn and never reused within a process (a `u64` counter that
//! does not wrap in practice: 2^64 spawns). The counter is shared, but spawning does not
//! take a shared atomic each time: each thread reserves a block of [`BLOCK`] ids with
//! one `fetch_add` and hands them out from a thread-local, so ids from different threads
//! are unique but not in spawn order.

use core::fmt;
use core::num::NonZeroU64;

use crate::sync::{next_id_block, ID_BLOCK};

/// Ids a thread reserves at a time.
pub(crate) const BLOCK: u64 = 1024;

/// An actor's id: unique among every actor this process has spawned, stable for the
/// actor's life.
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Context, System};
///
/// struct Nop;
/// impl Actor for Nop {
///     type Message = ();
///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
/// }
///
/// let system = System::manual(64).unwrap();
/// let a = system.spawn(Nop).unwrap();
/// let b = system.spawn(Nop).unwrap();
/// assert_ne!(a.id(), b.id());
/// assert_eq!(a.id(), a.clone().id());
/// assert!(format!("{a:?}").contains(&a.id().to_string()));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorId(NonZeroU64);

impl ActorId {
    /// A fresh id.
    #[inline]
    pub(crate) fn next() -> Self {
        ID_BLOCK.with(|block| {
            let (mut next, mut end) = block.get();
            if next == end {
                next = next_id_block(BLOCK);
                end = next + BLOCK;
            }
            block.set((next + 1, end));
            // The counter starts at 1 and does not wrap in practice (2^64 ids).
            Self(NonZeroU64::new(next).expect("actor ids do not wrap"))
        })
    }

    /// The id as a number.
    #[inline]
    pub fn get(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Debug for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorId({})", self.0)
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
