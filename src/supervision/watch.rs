//! The watch list: who is told when an actor ends, told exactly once, with nothing
//! allocated at the end.
//!
//! Every actor cell has one [`Watchers`] list. An *entry* is a request node (one
//! allocation from the watched actor's memory, through its shelter, so it holds a weak
//! reference on the cell) whose payload is an [`Entry`]: the link to the next entry and
//! what to do at the end:
//!
//! - [`Kind::Stopped`]: answer the [`Reply`] of an [`Address::stopped`] future with the
//!   [`StopReason`];
//! - [`Kind::Monitor`]: push a `Down` into a watching actor's inbox, through a node
//!   allocated for it when the monitor was made (see `monitor.rs`).
//!
//! The entry is made when watching starts, so the end allocates nothing and cannot fail
//! to notify.
//!
//! # The cell's word
//!
//! Most actors are never watched, so the list is not in the cell: the cell has one word
//! ([`WatchWord`]), and the list ([`Watchers`]) is allocated from the actor's memory at
//! the first watch. (The cell's size sets its pool class, and a cell that crosses into
//! the next class is both twice as large and, at a power-of-two stride, kept in fewer
//! cache sets: 56 bytes more in every cell made threadring 12 % slower.) The word is:
//!
//! | value | meaning | set by |
//! |---|---|---|
//! | 0 | alive, never watched | spawn |
//! | the list's address | watched at least once (alive or not: the list knows) | the first watcher: CAS `0 → list` (AcqRel; a loser frees its list) |
//! | `code << 1 \| 1` (odd) | ended before anyone watched: the [`StopReason`] without a panic message | the ender: CAS `0 → code` (Release) |
//!
//! The ender of an actor that panicked with a message and was never watched allocates
//! the list (a failure path may allocate) so that the message is kept for later
//! watchers; if that fails, they get the reason without it. A watcher that finds the
//! odd word fires its entry at once with the decoded reason; its Acquire load pairs with
//! the ender's Release, so the answer comes after everything the actor did.
//!
//! # The list word
//!
//! `head` is a Treiber stack of entries with one more state: **`CLOSED`** (a dangling,
//! 8-aligned pointer no node can have), set once, when the actor ends.
//!
//! | who | operation | on `head` |
//! |---|---|---|
//! | a watcher ([`add`](Watchers::add)) | push its entry | CAS `h → e` with `e.next = h` (Release); if `h` is `CLOSED`, fire `e` itself |
//! | the ender ([`close`](Watchers::close)) | write the reason, take every entry | swap `→ CLOSED` (AcqRel), fire each |
//! | a sweeper ([`sweep`](Watchers::sweep)) | take every entry, drop the cancelled ones, put the rest back | CAS `h → null` (Acquire); re-push the survivors like `add` (if `CLOSED` by then, fire them itself) |
//!
//! **Ownership.** An entry belongs to exactly one party at a time: its maker until its
//! push succeeds, then the list, then whoever took it with a successful swap or CAS of
//! `head` (the ender, or a sweeper until its re-push succeeds). Nobody else reads its
//! link. Entries are only ever taken all at once, never popped one by one, so there is
//! no ABA: a push's CAS compares the head it linked to, and if that node was taken,
//! freed and its memory reused as a new head meanwhile, the new head is still what the
//! entry should link to.
//!
//! **Exactly once.** Each entry is fired by the one party that owns it when the list is
//! `CLOSED`: the ender fires what its swap took; a maker or a sweeper that finds
//! `CLOSED` fires what it holds. `CLOSED` is never undone (a sweeper's CAS expects a
//! node or null, never `CLOSED`), so no entry is pushed after the ender's swap into a
//! list nobody will fire.
//!
//! **The reason.** The ender writes the [`StopReason`] into `reason` *before* its
//! swap, whose Release publishes it; a party that sees `CLOSED` read it with Acquire
//! (the load or the failed CAS), so it reads the written reason. Nobody writes it again:
//! the ender holds the actor's run right (or its last reference) and `close` is called
//! once per actor (a second call sees `CLOSED` and does nothing).
//!
//! **Cancelled entries.** A future dropped, or a monitor taken back, leaves its entry in
//! the list (only the list's owner may unlink it). So that a long-lived actor watched
//! and unwatched in a loop does not accumulate them, the push that takes the count of
//! pushes since the last sweep past both [`SWEEP_AFTER`] and the number of entries the
//! last sweep kept sweeps: the list at most doubles between sweeps, and each push pays
//! for a constant share of them.
//!
//! **Orderings.** Push: the successful CAS is Release (publishes the entry's contents
//! and link to the one who takes it); loads and failed CASes are Acquire (to read the
//! reason after `CLOSED`). Take: the ender's swap is AcqRel (Acquire: the entries'
//! contents; Release: the reason), the sweeper's CAS Acquire. The counters are Relaxed:
//! they only decide when to sweep, never what an entry's fate is.
//!
//! The loom model `watchers_exactly_once` (`loom-tests/tests/actors.rs`) races an
//! [`Address::stopped`] registration and a sweep against the actor's end.
//!
//! [`Address::stopped`]: crate::Address::stopped

use core::alloc::Layout;
use core::ptr::{self, NonNull};
use std::panic::{catch_unwind, AssertUnwindSafe};

use zeta_arena::{AllocError, MemoryResource};
use zeta_mailbox::{Envelope, Header, Reply};

use super::monitor::MonitorEntry;
use crate::actor::PanicMessage;
use crate::actor::StopReason;
use crate::sync::{AtomicPtr, AtomicUsize, Ordering, UnsafeCell};

/// Pushes since the last sweep below which no sweep runs (1 under loom, so that a model
/// with two entries sweeps).
#[cfg(not(zeta_loom))]
pub(crate) const SWEEP_AFTER: usize = 32;
#[cfg(zeta_loom)]
pub(crate) const SWEEP_AFTER: usize = 1;

/// What an entry does when the actor ends.
pub(crate) enum Kind {
    /// Answers an [`Address::stopped`](crate::Address::stopped) future. `None` once
    /// answered.
    Stopped(Option<Reply<'static, StopReason>>),
    /// Tells a watching actor.
    Monitor(MonitorEntry),
}

/// The payload of an entry's node.
pub(crate) struct Entry {
    /// The next entry down the list: read and written only by the entry's owner.
    next: *mut Header,
    pub(crate) kind: Kind,
}

// SAFETY: `next` is only touched by the entry's one owner at a time (module doc), which
// may be on any thread; the rest is `Send` (`MonitorEntry` says why it is).
unsafe impl Send for Entry {}

impl Entry {
    pub(crate) fn new(kind: Kind) -> Self {
        Self {
            next: ptr::null_mut(),
            kind,
        }
    }

    /// Whether nobody waits for this entry any more.
    fn is_cancelled(&self) -> bool {
        match &self.kind {
            Kind::Stopped(reply) => reply.as_ref().is_none_or(Reply::is_cancelled),
            Kind::Monitor(monitor) => monitor.is_cancelled(),
        }
    }
}

/// An entry as the list holds it.
type Node = Envelope<'static, Entry>;

/// `head`'s value once the actor has ended: 8, aligned like a node, never one.
#[inline]
fn closed() -> *mut Header {
    NonNull::<Header>::dangling().as_ptr()
}

/// The link of the entry `node`.
///
/// # Safety
///
/// The caller owns `node`, a live entry.
#[inline]
unsafe fn next_of(node: *mut Header) -> *mut Header {
    // SAFETY: the caller's duty; the view does not drop the node.
    let view =
        core::mem::ManuallyDrop::new(unsafe { Node::from_raw(NonNull::new_unchecked(node)) });
    view.payload().next
}

/// Sets the link of the entry `node`.
///
/// # Safety
///
/// As for [`next_of`].
#[inline]
unsafe fn set_next(node: *mut Header, next: *mut Header) {
    // SAFETY: the caller's duty; the view does not drop the node.
    let mut view =
        core::mem::ManuallyDrop::new(unsafe { Node::from_raw(NonNull::new_unchecked(node)) });
    view.payload_mut().next = next;
}

/// The cell's word for its watch list (module doc, "The cell's word").
pub(crate) struct WatchWord(AtomicPtr<Watchers>);

/// What a watcher finds.
enum Found<'a> {
    List(&'a Watchers),
    /// Ended before anyone watched it.
    Ended(StopReason),
}

/// The odd word of an actor that ended, unwatched, with `reason`: a tag with no
/// provenance, never dereferenced.
fn encode(reason: &StopReason) -> *mut Watchers {
    let code = match reason {
        StopReason::Stopped => 0,
        StopReason::Killed => 1,
        StopReason::Panicked(_) => 2,
        StopReason::SchedulerStopped => 3,
        StopReason::Dropped => 4,
        StopReason::NodeLost => 5,
        // `close` keeps the list for these: never encoded.
        StopReason::Linked(_) => 4,
    };
    ptr::without_provenance_mut((code << 1) | 1)
}

/// What a non-zero `word` says.
///
/// # Safety
///
/// `word` was read from a live cell's [`WatchWord`] with Acquire, so that a list it
/// points to is initialised; the list lives as long as the cell's strong side.
unsafe fn decode<'a>(word: *mut Watchers) -> Found<'a> {
    if word.addr() & 1 == 0 {
        // SAFETY: an even non-null word is the list (with its provenance), initialised
        // before the CAS that published it (Release) and acquired by the caller.
        return Found::List(unsafe { &*word });
    }
    Found::Ended(match word.addr() >> 1 {
        0 => StopReason::Stopped,
        1 => StopReason::Killed,
        2 => StopReason::Panicked(PanicMessage::opaque()),
        3 => StopReason::SchedulerStopped,
        5 => StopReason::NodeLost,
        _ => StopReason::Dropped,
    })
}

impl WatchWord {
    pub(crate) fn new() -> Self {
        Self(AtomicPtr::new(ptr::null_mut()))
    }

    /// The list, allocated from `home` if nobody has watched yet; or the reason, if the
    /// actor ended unwatched.
    fn find<R: MemoryResource>(&self, home: &R) -> Result<Found<'_>, AllocError> {
        // Acquire: the list's contents, written before the CAS that published it; or
        // the actor's end, before the CAS that wrote the odd word.
        let word = self.0.load(Ordering::Acquire);
        if !word.is_null() {
            // SAFETY: read with Acquire from our cell, kept alive by the caller.
            return Ok(unsafe { decode(word) });
        }
        let block = home.allocate(Layout::new::<Watchers>())?.cast::<Watchers>();
        // SAFETY: fresh, sized and aligned for a `Watchers`, ours.
        unsafe { block.as_ptr().write(Watchers::new()) };
        // AcqRel: Release publishes the list's contents to later Acquire loads; Acquire
        // (also on failure) reads what the winner published.
        match self.0.compare_exchange(
            ptr::null_mut(),
            block.as_ptr(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: ours, published; it lives until the cell's `destroy` frees it.
            Ok(_) => Ok(Found::List(unsafe { block.as_ref() })),
            Err(actual) => {
                // SAFETY: never published: ours alone, freed once.
                unsafe {
                    ptr::drop_in_place(block.as_ptr());
                    home.deallocate(block.cast(), Layout::new::<Watchers>());
                }
                // SAFETY: read with Acquire from our cell.
                Ok(unsafe { decode(actual) })
            }
        }
    }

    /// Adds `entry` to the actor's watch list, or fires it now if the actor has ended.
    ///
    /// # Errors
    ///
    /// [`AllocError`] when the list had to be made and `home` has no room for it (the
    /// entry is dropped).
    pub(crate) fn add<R: MemoryResource>(&self, home: &R, entry: Node) -> Result<(), AllocError> {
        match self.find(home)? {
            Found::List(list) => list.add(entry),
            // SAFETY: the entry is ours.
            Found::Ended(reason) => unsafe { fire(entry.into_raw().as_ptr(), &reason) },
        }
        Ok(())
    }

    /// The actor ended with `reason`: fire its watchers. Idempotent.
    ///
    /// Called only by the party that ends the actor, never concurrently with itself.
    pub(crate) fn close<R: MemoryResource>(&self, home: &R, reason: &StopReason) {
        loop {
            // Acquire: a list's contents (as in `find`).
            let word = self.0.load(Ordering::Acquire);
            if word.is_null() {
                let keep = match reason {
                    StopReason::Panicked(message) => message.as_str().is_some(),
                    StopReason::Linked(_) => true,
                    _ => false,
                };
                if keep {
                    // Keep the message for later watchers: a failure path may
                    // allocate; without memory, they get the panic without its
                    // message. (A `Linked` end never gets here: linking made the list.)
                    if let Ok(Found::List(list)) = self.find(home) {
                        list.close(reason);
                        return;
                    }
                }
                // Release: the actor's end, to a watcher that reads the odd word.
                if self
                    .0
                    .compare_exchange(
                        ptr::null_mut(),
                        encode(reason),
                        Ordering::Release,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    return;
                }
                // A list appeared: close it.
                continue;
            }
            // SAFETY: read with Acquire from our cell, alive (we end it).
            match unsafe { decode(word) } {
                Found::List(list) => list.close(reason),
                Found::Ended(_) => {}
            }
            return;
        }
    }

    /// Frees the list, if there is one.
    ///
    /// # Safety
    ///
    /// The actor has ended and its last strong reference is gone (the cell's
    /// `destroy`): nobody can add or sweep any more. `home` is the resource the list
    /// came from.
    pub(crate) unsafe fn free<R: MemoryResource>(&self, home: &R) {
        // Relaxed: the caller is alone with the cell (the strong count's last release
        // ordered every other use before it).
        let list = self.0.load(Ordering::Relaxed);
        if !list.is_null() && list.addr() & 1 == 0 {
            // SAFETY: the caller's duty: the list is ours alone now, closed and empty;
            // freed once, to the resource it came from.
            unsafe {
                ptr::drop_in_place(list);
                home.deallocate(
                    NonNull::new_unchecked(list).cast(),
                    Layout::new::<Watchers>(),
                );
            }
        }
    }
}

/// The watchers of one actor.
pub(crate) struct Watchers {
    head: AtomicPtr<Header>,
    /// Pushes since the last sweep.
    pushed: AtomicUsize,
    /// Entries the last sweep put back.
    kept: AtomicUsize,
    /// Written once by the ender before `CLOSED`; read by those who see `CLOSED`.
    reason: UnsafeCell<Option<StopReason>>,
}

// SAFETY: `head` and the counters are atomic; `reason` is written once, before the
// Release that sets `CLOSED`, and only read after an Acquire that saw it (module doc);
// the entries it links are `Send`.
unsafe impl Sync for Watchers {}
// SAFETY: as above.
unsafe impl Send for Watchers {}

impl Watchers {
    fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
            pushed: AtomicUsize::new(0),
            kept: AtomicUsize::new(0),
            reason: UnsafeCell::new(None),
        }
    }

    /// The reason the actor ended with.
    ///
    /// # Safety
    ///
    /// The caller saw `CLOSED` with an Acquire load or read-modify-write of `head`.
    unsafe fn reason(&self) -> StopReason {
        // SAFETY: written before the Release swap that set `CLOSED`, which the caller
        // acquired; never written again.
        self.reason
            .with(|reason| unsafe { (*reason).clone() })
            .expect("the reason is written before the list closes")
    }

    /// Adds `entry`; if the actor has ended already, fires it here, now.
    fn add(&self, entry: Node) {
        let node = entry.into_raw().as_ptr();
        // Acquire: if it is `CLOSED`, the reason written before it.
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            if head == closed() {
                // SAFETY: we own `node` (not pushed); we saw `CLOSED` with Acquire.
                unsafe { fire(node, &self.reason()) };
                return;
            }
            // SAFETY: we own `node` until the CAS below succeeds.
            unsafe { set_next(node, head) };
            // Release on success: the entry's contents and link, to whoever takes it.
            // Acquire on failure: as for the load.
            match self
                .head
                .compare_exchange_weak(head, node, Ordering::Release, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }
        // Relaxed: a heuristic (module doc, "Cancelled entries").
        let pushed = self.pushed.fetch_add(1, Ordering::Relaxed) + 1;
        if pushed >= SWEEP_AFTER && pushed > self.kept.load(Ordering::Relaxed) {
            self.sweep();
        }
    }

    /// Drops the cancelled entries: takes the whole list, keeps the live ones, puts them
    /// back (or fires them, if the actor ended meanwhile).
    fn sweep(&self) {
        self.pushed.store(0, Ordering::Relaxed);
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            if head.is_null() || head == closed() {
                return;
            }
            // Acquire: the entries' contents, published by their pushes' Release.
            match self.head.compare_exchange_weak(
                head,
                ptr::null_mut(),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }
        // The list is ours: keep the live entries in a chain, drop the others.
        let (mut first, mut last) = (ptr::null_mut::<Header>(), ptr::null_mut::<Header>());
        let mut kept = 0;
        let mut node = head;
        while !node.is_null() {
            // SAFETY: we own the taken list; `node` is one of its live entries.
            let next = unsafe { next_of(node) };
            // SAFETY: as above; reading the payload only.
            let cancelled = unsafe {
                core::mem::ManuallyDrop::new(Node::from_raw(NonNull::new_unchecked(node)))
                    .payload()
                    .is_cancelled()
            };
            if cancelled {
                // SAFETY: ours, taken out of the list once. A monitor's drop gives up its
                // watcher's address and node: user code may run (the watcher ending),
                // and a panic there must not lose the rest of the list.
                let entry = unsafe { Node::from_raw(NonNull::new_unchecked(node)) };
                let _ = catch_unwind(AssertUnwindSafe(move || drop(entry)));
            } else {
                // SAFETY: ours.
                unsafe { set_next(node, ptr::null_mut()) };
                if last.is_null() {
                    first = node;
                } else {
                    // SAFETY: ours.
                    unsafe { set_next(last, node) };
                }
                last = node;
                kept += 1;
            }
            node = next;
        }
        self.kept.store(kept, Ordering::Relaxed);
        if first.is_null() {
            return;
        }
        // Put the chain back on top of whatever was pushed meanwhile.
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            if head == closed() {
                // The actor ended while we held these: they are ours to fire.
                // SAFETY: we saw `CLOSED` with Acquire.
                let reason = unsafe { self.reason() };
                // SAFETY: we own the chain.
                unsafe { fire_all(first, &reason) };
                return;
            }
            // SAFETY: we own the chain until the CAS succeeds.
            unsafe { set_next(last, head) };
            // As in `add`.
            match self
                .head
                .compare_exchange_weak(head, first, Ordering::Release, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }

    /// Closes the list with `reason` and fires every entry in it. Idempotent.
    ///
    /// Called only by the party that ends the actor (the holder of its run right, or of
    /// its last reference), and never concurrently with itself.
    fn close(&self, reason: &StopReason) {
        // Relaxed: only `close` stores `CLOSED`, and it is not called concurrently.
        if self.head.load(Ordering::Relaxed) == closed() {
            return;
        }
        // SAFETY: nobody reads `reason` before seeing `CLOSED`, which is not set yet,
        // and only the ender writes it.
        self.reason
            .with_mut(|slot| unsafe { *slot = Some(reason.clone()) });
        // AcqRel: Release publishes the reason to whoever sees `CLOSED`; Acquire reads
        // the entries' contents, published by their pushes.
        let taken = self.head.swap(closed(), Ordering::AcqRel);
        // SAFETY: the swap gave us the list.
        unsafe { fire_all(taken, reason) };
    }
}

/// Fires every entry of a chain.
///
/// # Safety
///
/// The caller owns the chain starting at `node` (null for none).
unsafe fn fire_all(mut node: *mut Header, reason: &StopReason) {
    while !node.is_null() {
        // SAFETY: the caller owns the chain; the link is read before the entry goes.
        let next = unsafe { next_of(node) };
        // SAFETY: as above.
        unsafe { fire(node, reason) };
        node = next;
    }
}

/// Fires one entry. Never unwinds (a waker or a user drop that panics is caught).
///
/// # Safety
///
/// The caller owns `node`, a live entry, and gives it up.
unsafe fn fire(node: *mut Header, reason: &StopReason) {
    // SAFETY: the caller's duty.
    let mut entry = unsafe { Node::from_raw(NonNull::new_unchecked(node)) };
    let _ = catch_unwind(AssertUnwindSafe(move || {
        match &mut entry.payload_mut().kind {
            Kind::Stopped(reply) => {
                let reply = reply.take();
                drop(entry);
                if let Some(reply) = reply {
                    // Err: the future was dropped; nobody to tell.
                    let _ = reply.send(reason.clone());
                }
            }
            Kind::Monitor(_) => super::monitor::fire(entry, reason),
        }
    }));
}
