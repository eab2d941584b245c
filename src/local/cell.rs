//! The local actor cell: one allocation holding a local actor, its inbox and its count.
//!
//! ```text
//! #[repr(C)] LocalCell<A>                ◀── LocalAddress<A>: one word
//! +--------------------------------+
//! | Header                         |  run-queue link, &'static vtable, strong count
//! | inbox: LocalInbox<Mail<M>>     |  the two FIFOs and the block/unblock state
//! | killed: Cell<bool>             |  kill requested: checked before every message
//! | handled: Cell<u64>             |  messages handled
//! | home: &Home                    |  the system's memory resource (cell and nodes)
//! | system: Rc<Shared>             |  the run queue this actor is scheduled onto
//! | core: UnsafeCell<Core<A>>      |  the actor and `started`: the runner's only
//! | id: ActorId                    |
//! +--------------------------------+
//! ```
//!
//! # The run right and the count
//!
//! As in the thread-safe cell (`crate::cell`), the right to run the actor is the
//! inbox's unblocked state: the push or seal that takes the inbox out of `Blocked`
//! holds it and puts the cell on its system's run queue; the runner gives it up with
//! the `try_block` that blocks, or ends the actor. One thread does all of it, so the
//! states are a `Cell` and the count is a plain `usize`.
//!
//! The strong count is one per address and per cross-thread export (`bridge`), plus
//! **one for the actor's life**, held by whoever holds the run right (the run queue, the
//! runner, or the idle actor itself) and given up when the actor ends. So when the
//! count falls to 1 the actor is *orphaned*: nobody can send to it again. An idle
//! orphan is ended at once by the drop that orphaned it ([`StopReason::Dropped`]); a
//! queued or running one is ended by its runner when its inbox runs dry. At 0 the cell's
//! memory goes back to the resource.
//!
//! The system also lists every cell not yet freed (an intrusive list through the
//! header, two stores at spawn and at the free): its stop ends the idle actors there and
//! then, so that actors holding each other's addresses (or requests) in a cycle do not
//! outlive it.
//!
//! # What user code may do while the engine is inside a cell
//!
//! A handler runs with `&mut` the actor (in `core`); everything else a handler can reach
//! of its own cell (the inbox through a send, `killed` through a kill, the count through
//! an address's clone or drop) is a separate field behind a `Cell`. The paths that could
//! reach `core` again are closed: driving the system from inside a handler is refused
//! (`LocalSystem::run_once` returns `AlreadyRunning`), and a drop that orphans an actor
//! ends it only if it is idle, which the running one is not.

use core::alloc::Layout;
use core::cell::{Cell, UnsafeCell};
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The interests' bits (`observe`).
#[cfg(feature = "observe")]
const RUNS: u8 = crate::observe::Interests::RUNS.bits();
#[cfg(feature = "observe")]
const MESSAGES: u8 = crate::observe::Interests::MESSAGES.bits();
use std::rc::Rc;

use zeta_arena::MemoryResource;
use zeta_mailbox::{Cache, Envelope, LocalInbox, TryBlock};
use zeta_scheduler::ResumeInfo;

use crate::actor::{PanicMessage, StopReason};
use crate::cell::{Home, InActor};
use crate::identity::ActorId;
use crate::local::actor::{LocalActor, LocalContext};
use crate::local::continuation::ContinueRef;
use crate::local::system::{LocalSystem, Shared};

/// What travels through a local actor's inbox.
///
/// The user's messages, and the engine's own, as in the thread-safe `Mail`.
pub(crate) enum Mail<M> {
    User(M),
    /// A request this actor made with `LocalContext::ask` resolved: run its
    /// continuation (`local::continuation`).
    Continue(ContinueRef),
}

impl<M> Mail<M> {
    /// The user message of a node made from one.
    #[inline(always)]
    pub(crate) fn into_user(self) -> M {
        match self {
            Mail::User(message) => message,
            Mail::Continue(_) => unreachable!("only user mail is made from a user message"),
        }
    }
}

/// The start of every local cell: what the run queue and the type-erased paths need.
#[repr(C)]
pub(crate) struct Header {
    /// The next cell in the system's run queue; written only while queued.
    pub(crate) next: Cell<Option<NonNull<Header>>>,
    /// The system's list of every cell not yet freed (so that its stop can end the
    /// idle ones): linked at spawn, unlinked at `destroy`.
    pub(crate) all_prev: Cell<Option<NonNull<Header>>>,
    pub(crate) all_next: Cell<Option<NonNull<Header>>>,
    pub(crate) vtable: &'static VTable,
    /// Addresses and exports, plus one for the actor's life (module doc).
    pub(crate) strong: Cell<usize>,
}

/// The operations of a cell, for an `A` the caller no longer knows.
pub(crate) struct VTable {
    /// Runs the actor for at most `max_throughput` messages.
    ///
    /// The caller holds the run right; a `Done` result means the actor ended and the
    /// life reference is gone (the cell may be freed).
    pub(crate) resume: unsafe fn(NonNull<Header>, usize) -> ResumeInfo,
    /// Ends the actor now, with the run right held (a stopped system refusing it).
    pub(crate) end: unsafe fn(NonNull<Header>, StopReason),
    /// The count fell to 1: end the actor if it is idle.
    pub(crate) orphaned: unsafe fn(NonNull<Header>),
    /// The system stops: end the actor with `SchedulerStopped` if it is idle (blocked,
    /// so nobody holds its run right).
    pub(crate) end_if_idle: unsafe fn(NonNull<Header>),
    /// The count fell to 0: free the cell.
    pub(crate) destroy: unsafe fn(NonNull<Header>),
    /// Queues a message node made for this cell's inbox by another thread (`bridge`).
    pub(crate) deliver: unsafe fn(NonNull<Header>, NonNull<zeta_mailbox::Header>),
}

/// The runner's part of the cell.
pub(crate) struct Core<A> {
    actor: Option<A>,
    started: bool,
}

#[repr(C)]
pub(crate) struct LocalCell<A: LocalActor> {
    header: Header,
    pub(crate) inbox: LocalInbox<'static, Mail<A::Message>>,
    pub(crate) killed: Cell<bool>,
    /// The system's observer's interests (`observe`), read at spawn: in the padding
    /// after `killed`, beside what the runner reads anyway.
    #[cfg(feature = "observe")]
    interests: u8,
    pub(crate) handled: Cell<u64>,
    /// The system's resource, which `system` keeps alive (it lives in the bridge).
    home: &'static Home,
    system: ManuallyDrop<Rc<Shared>>,
    core: UnsafeCell<Core<A>>,
    pub(crate) id: ActorId,
    pub(crate) name: Option<&'static str>,
}

struct VTableFor<A>(core::marker::PhantomData<A>);

impl<A: LocalActor> VTableFor<A> {
    const VTABLE: VTable = VTable {
        resume: resume::<A>,
        end: end::<A>,
        orphaned: orphaned::<A>,
        end_if_idle: end_if_idle::<A>,
        destroy: destroy::<A>,
        deliver: deliver::<A>,
    };
}

/// Places `actor` in a new cell from the system's resource; the count starts at 2 (the
/// returned address, and the actor's life).
pub(crate) fn spawn_cell<A: LocalActor>(
    actor: A,
    system: &Rc<Shared>,
    name: Option<&'static str>,
) -> Result<NonNull<Header>, A> {
    let home = system.home();
    let Ok(block) = home.allocate(Layout::new::<LocalCell<A>>()) else {
        return Err(actor);
    };
    let cell = block.cast::<LocalCell<A>>();
    // SAFETY: the block is fresh, sized and aligned for a `LocalCell<A>` (the resource's
    // contract), and ours alone.
    unsafe {
        cell.as_ptr().write(LocalCell {
            header: Header {
                next: Cell::new(None),
                all_prev: Cell::new(None),
                all_next: Cell::new(None),
                vtable: &VTableFor::<A>::VTABLE,
                strong: Cell::new(2),
            },
            inbox: LocalInbox::new(),
            killed: Cell::new(false),
            #[cfg(feature = "observe")]
            interests: system.observed.interests(),
            handled: Cell::new(0),
            home,
            system: ManuallyDrop::new(Rc::clone(system)),
            core: UnsafeCell::new(Core {
                actor: Some(actor),
                started: false,
            }),
            id: ActorId::next(),
            name,
        });
    }
    system.link(cell.cast());
    #[cfg(feature = "observe")]
    // SAFETY: made above; the address about to be returned keeps it alive.
    unsafe { LocalCell::<A>::from_header(cell.cast()) }.tell(|o, actor| o.on_spawn(actor));
    Ok(cell.cast())
}

impl<A: LocalActor> LocalCell<A> {
    /// The cell at `header`.
    ///
    /// # Safety
    ///
    /// `header` starts a live `LocalCell<A>` (made by [`spawn_cell`] for this `A`) that
    /// stays alive for `'a`.
    #[inline(always)]
    pub(crate) unsafe fn from_header<'a>(header: NonNull<Header>) -> &'a Self {
        // SAFETY: the header is the first field of a `repr(C)` cell (caller's duty).
        unsafe { header.cast::<Self>().as_ref() }
    }

    /// Who the actor is, for the hooks.
    #[cfg(feature = "observe")]
    #[inline]
    pub(crate) fn info(&self) -> crate::observe::ActorInfo {
        crate::observe::ActorInfo {
            id: self.id,
            name: self.name,
            type_name: core::any::type_name::<A>(),
        }
    }

    /// Tells the observer of a run that did not panic, if it wants runs (`observe`;
    /// nothing without the feature).
    #[inline(always)]
    fn observe_run(&self, handled: usize) {
        #[cfg(feature = "observe")]
        if self.interests & RUNS != 0 {
            self.tell_run(handled);
        }
        let _ = handled;
    }

    /// `on_run`, out of line. Not caught: a panic here is the run's, as the handler's
    /// (the run is over: the actor is not ended for it).
    #[cfg(feature = "observe")]
    #[inline(never)]
    fn tell_run(&self, handled: usize) {
        if let Some(observer) = self.system.observed.get() {
            let run = crate::observe::Run {
                handled,
                backlog: self.inbox.len(),
            };
            observer.on_run(&self.info(), run);
        }
    }

    /// `on_message` (or, `done`, `on_message_done`), out of line. Not caught: a panic
    /// here is the runner's, as the handler's.
    #[cfg(feature = "observe")]
    #[inline(never)]
    fn tell_message(&self, done: bool) {
        if let Some(observer) = self.system.observed.get() {
            if done {
                observer.on_message_done(&self.info());
            } else {
                observer.on_message(&self.info());
            }
        }
    }

    /// Calls `hook` with the system's observer, if it has one, catching a panic in it.
    #[cfg(feature = "observe")]
    #[cold]
    #[inline(never)]
    pub(crate) fn tell(
        &self,
        hook: impl FnOnce(&dyn crate::observe::Observer, &crate::observe::ActorInfo),
    ) {
        if let Some(observer) = self.system.observed.get() {
            let _ = catch_unwind(AssertUnwindSafe(|| hook(observer, &self.info())));
        }
    }

    /// The resource for the actor's message nodes.
    #[inline(always)]
    pub(crate) fn home(&self) -> &'static Home {
        self.home
    }

    /// The system's shared part.
    #[inline(always)]
    pub(crate) fn shared(&self) -> &Rc<Shared> {
        &self.system
    }

    /// A handle to the system.
    pub(crate) fn system(&self) -> LocalSystem {
        LocalSystem::from_shared(Rc::clone(&self.system))
    }
}

/// Takes one more reference on the cell.
#[inline(always)]
pub(crate) fn retain(header: NonNull<Header>) {
    // SAFETY: the caller holds a reference, so the header is live.
    let strong = unsafe { &header.as_ref().strong };
    // A count cannot overflow before memory runs out: each reference is a value
    // somewhere (`mem::forget` aside, which `Rc` guards against the same way).
    let next = strong.get() + 1;
    if next == usize::MAX {
        std::process::abort();
    }
    strong.set(next);
}

/// Gives up one reference on the cell: at 1 the actor is orphaned, at 0 it is freed.
///
/// # Safety
///
/// The caller owns one reference on a live cell and does not use it afterwards.
#[inline]
pub(crate) unsafe fn release(header: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the header live until the store.
    let (strong, vtable) = unsafe { (&header.as_ref().strong, header.as_ref().vtable) };
    let left = strong.get() - 1;
    strong.set(left);
    match left {
        // SAFETY: the last reference: nobody else can reach the cell.
        0 => unsafe { (vtable.destroy)(header) },
        // SAFETY: the life reference is still there, so the cell is live.
        1 => unsafe { (vtable.orphaned)(header) },
        _ => {}
    }
}

/// How a run ends.
///
/// Small (a byte): the panic's reason, which holds a message, is built out of line.
#[derive(Clone, Copy)]
enum Outcome {
    Awaiting,
    Resume,
    Stopped,
    Killed,
    Dropped,
}

/// # Safety
///
/// `header` is a live `LocalCell<A>`'s, and the caller holds its run right.
unsafe fn resume<A: LocalActor>(header: NonNull<Header>, max_throughput: usize) -> ResumeInfo {
    // SAFETY: the run right holds the life reference, so the cell is live for the run.
    let cell = unsafe { LocalCell::<A>::from_header(header) };
    let mut handled = 0;
    let outcome = {
        let _inside = InActor::enter();
        // SAFETY: the caller holds the run right: nobody else touches `core` (module
        // doc, "What user code may do").
        let core = unsafe { &mut *cell.core.get() };
        catch_unwind(AssertUnwindSafe(|| {
            core.run(cell, max_throughput, &mut handled)
        }))
    };
    cell.handled.set(cell.handled.get() + handled as u64);
    // A run that panicked is told by `on_panic` instead, as on the thread-safe path.
    let reason = match outcome {
        Ok(Outcome::Awaiting) => {
            cell.observe_run(handled);
            return ResumeInfo::awaiting(handled);
        }
        Ok(Outcome::Resume) => {
            cell.observe_run(handled);
            return ResumeInfo::resume(handled);
        }
        Ok(ended) => {
            cell.observe_run(handled);
            match ended {
                Outcome::Killed => StopReason::Killed,
                Outcome::Dropped => StopReason::Dropped,
                _ => StopReason::Stopped,
            }
        }
        Err(payload) => {
            let panics = &cell.shared().panics;
            panics.set(panics.get() + 1);
            let reason = panicked(payload);
            #[cfg(feature = "observe")]
            if let StopReason::Panicked(panic) = &reason {
                cell.tell(|observer, actor| observer.on_panic(actor, panic));
            }
            reason
        }
    };
    // SAFETY: we hold the run right, and touch nothing of the cell afterwards.
    unsafe { finish::<A>(header, reason) };
    ResumeInfo::done(handled)
}

/// The reason of a run that panicked.
#[cold]
#[inline(never)]
fn panicked(payload: Box<dyn core::any::Any + Send>) -> StopReason {
    let message = PanicMessage::from_payload(&*payload);
    // A payload whose drop panics is dropped where that cannot unwind.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    StopReason::Panicked(message)
}

impl<A: LocalActor> Core<A> {
    /// Handles at most `max_throughput` messages, counting them in `handled`.
    #[inline(always)]
    fn run(&mut self, cell: &LocalCell<A>, max_throughput: usize, handled: &mut usize) -> Outcome {
        let Some(actor) = self.actor.as_mut() else {
            // Not reachable: the actor is taken out only by `finish`, which closes the
            // inbox, so no run right is handed out afterwards.
            return Outcome::Stopped;
        };
        let mut ctx = LocalContext::new(cell);
        if !self.started {
            // Killed before its first run: it ends with no hook, as a thread-safe actor.
            if cell.killed.get() {
                return Outcome::Killed;
            }
            self.started = true;
            actor.on_start(&mut ctx);
            #[cfg(feature = "observe")]
            cell.tell(|observer, actor| observer.on_start(actor));
            if ctx.stop_requested() {
                return Outcome::Stopped;
            }
        }
        // The per-message hooks, if the observer wants them (read once per run).
        #[cfg(feature = "observe")]
        let per_message = cell.interests & MESSAGES != 0;
        loop {
            if cell.killed.get() {
                return Outcome::Killed;
            }
            if *handled == max_throughput {
                return Outcome::Resume;
            }
            let Some(envelope) = cell.inbox.pop() else {
                return match cell.inbox.try_block() {
                    // Only the life reference is left: nobody can send again.
                    TryBlock::Blocked if cell.header.strong.get() == 1 => Outcome::Dropped,
                    TryBlock::Blocked => Outcome::Awaiting,
                    // A local inbox is never orphaned and not closed while its
                    // actor runs: only `Sealed` is left.
                    TryBlock::Sealed | TryBlock::Orphaned | TryBlock::Closed => Outcome::Stopped,
                    TryBlock::HasMessages => continue,
                };
            };
            *handled += 1;
            #[cfg(feature = "observe")]
            if per_message {
                cell.tell_message(false);
            }
            // SAFETY: every node of a local inbox is a plain message node from the
            // system's home (sends, timers, continuations' arrivals, and the bridge's
            // deliveries, made from the same home by other threads).
            match unsafe { envelope.into_payload_from(cell.home()) } {
                Mail::User(message) => actor.handle(message, &mut ctx),
                // SAFETY: an arrival in this actor's inbox was made for this `A` (by
                // its own `LocalContext::ask`); these are its actor and context.
                Mail::Continue(arrival) => unsafe { arrival.run(actor, &mut ctx) },
            }
            #[cfg(feature = "observe")]
            if per_message {
                cell.tell_message(true);
            }
            if ctx.stop_requested() {
                return Outcome::Stopped;
            }
        }
    }
}

/// Ends the actor: closes its inbox, runs `on_stop` (if it started), drops the actor and
/// then the messages it never handled (their requests resolve with an error), each
/// caught on its own, and gives up the life reference.
///
/// # Safety
///
/// `header` is a live `LocalCell<A>`'s whose actor has not ended, and the caller holds
/// its run right (or claims it: the inbox is blocked, and nobody else runs it).
#[cold]
unsafe fn finish<A: LocalActor>(header: NonNull<Header>, reason: StopReason) {
    {
        // SAFETY: the life reference, given up only at the end of this function, keeps
        // the cell live.
        let cell = unsafe { LocalCell::<A>::from_header(header) };
        let rest: Cache<'static, Mail<A::Message>> = cell.inbox.close();
        // SAFETY: the run right (caller's duty); the borrow ends before any user code.
        let (actor, started) = unsafe {
            let core = &mut *cell.core.get();
            (core.actor.take(), core.started)
        };
        let _inside = InActor::enter();
        if let Some(mut actor) = actor {
            #[cfg(feature = "observe")]
            let told = reason.clone();
            if started {
                let _ = catch_unwind(AssertUnwindSafe(|| actor.on_stop(reason)));
            }
            let _ = catch_unwind(AssertUnwindSafe(move || drop(actor)));
            #[cfg(feature = "observe")]
            cell.tell(|observer, actor| observer.on_stop(actor, &told));
        }
        drop_all(rest);
    }
    // SAFETY: the life reference, which the caller's run right stood for.
    unsafe { release(header) };
}

/// Drops the messages in `rest` one by one, a panicking `Drop` caught on its own.
fn drop_all<M>(mut rest: Cache<'static, M>) {
    while let Some(envelope) = rest.pop() {
        let _ = catch_unwind(AssertUnwindSafe(move || drop(envelope)));
    }
}

/// # Safety
///
/// As [`finish`].
unsafe fn end<A: LocalActor>(header: NonNull<Header>, reason: StopReason) {
    // SAFETY: the caller's duty.
    unsafe { finish::<A>(header, reason) }
}

/// # Safety
///
/// `header` is a live `LocalCell<A>`'s whose count just fell to 1.
unsafe fn orphaned<A: LocalActor>(header: NonNull<Header>) {
    // SAFETY: the life reference keeps it live.
    let cell = unsafe { LocalCell::<A>::from_header(header) };
    if cell.inbox.is_blocked() {
        // Idle: nobody holds the run right, so the dropper takes it (one thread: the
        // close in `finish` is the claim). A queued or running actor is ended by its
        // runner, which checks the count when its inbox runs dry.
        // SAFETY: as above.
        unsafe { finish::<A>(header, StopReason::Dropped) }
    }
}

/// # Safety
///
/// `header` is a live `LocalCell<A>`'s, and the caller holds a reference on it.
unsafe fn end_if_idle<A: LocalActor>(header: NonNull<Header>) {
    // SAFETY: the caller's reference keeps it live.
    let cell = unsafe { LocalCell::<A>::from_header(header) };
    if cell.inbox.is_blocked() {
        // SAFETY: blocked: nobody holds the run right; the close in `finish` claims it.
        unsafe { finish::<A>(header, StopReason::SchedulerStopped) }
    }
}

/// # Safety
///
/// `header` is a `LocalCell<A>`'s whose count is 0: nobody else references it.
unsafe fn destroy<A: LocalActor>(header: NonNull<Header>) {
    let cell = header.cast::<LocalCell<A>>().as_ptr();
    // SAFETY: the cell is ours alone (count 0); its actor ended (the life reference is
    // gone only through `finish`), so its inbox is closed and empty and `core` holds no
    // actor. Drop in place, then give the memory back through the home that `system`
    // keeps alive, and only then let `system` go.
    unsafe {
        let system = ManuallyDrop::take(&mut (*cell).system);
        system.unlink(header);
        let home = (*cell).home;
        core::ptr::drop_in_place(cell);
        home.deallocate(header.cast(), Layout::new::<LocalCell<A>>());
        drop(system);
    }
}

/// # Safety
///
/// `header` is a live `LocalCell<A>`'s; `node` is an `Envelope<'static,
/// Mail<A::Message>>` from this system's home that nobody else owns. On the system's
/// thread.
unsafe fn deliver<A: LocalActor>(header: NonNull<Header>, node: NonNull<zeta_mailbox::Header>) {
    // SAFETY: the caller's duty (the export that sent it holds a reference).
    let cell = unsafe { LocalCell::<A>::from_header(header) };
    // SAFETY: the node is an envelope of this type, handed over whole (caller's duty).
    let envelope = unsafe { Envelope::<'static, Mail<A::Message>>::from_raw(node) };
    match cell.inbox.push(envelope) {
        zeta_mailbox::Enqueued::Queued => {}
        // SAFETY: the unblocking push holds the run right, handed to the run queue.
        zeta_mailbox::Enqueued::Unblocked => unsafe { cell.shared().schedule(header) },
        // The actor ended while the message crossed: dropped as if it had been queued
        // at the end (a request in it resolves with an error).
        zeta_mailbox::Enqueued::Closed(envelope) => {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(envelope)));
        }
    }
}
