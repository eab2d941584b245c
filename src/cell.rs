//! The actor cell: one allocation, from the actor's memory resource, holding everything
//! an actor is.
//!
//! ```text
//! #[repr(C)] Cell<A>                      ◀── Address<A> / JobRef: one word each
//! +-------------------------------+
//! | JobHeader                     |  state bits + strong count (one word),
//! |                               |  run-queue link, &'static vtable (resume/shutdown/
//! |                               |  panicked/destroy for this A)
//! | inbox: Inbox<Mail<A::Message>>|  the lock-free LIFO every sender pushes onto
//! | killed: AtomicBool            |  kill requested: checked before every message
//! | trap_exits: AtomicBool        |  a linked actor's failure is a `Down`, not a stop
//! | capacity: u32                 |  0, or a bounded mailbox's capacity (in padding)
//! | handled: AtomicU64            |  messages handled (one writer, the runner)
//! | weak: AtomicUsize             |  request nodes + 1 (see below)
//! | home: Home                    |  the memory resource (cell and message nodes)
//! | scheduler: Arc<dyn Scheduler> |  where senders schedule the actor
//! | local_submit                  |  its fast path from its own jobs, if it has one
//! | core: UnsafeCell<Core<A>>     |  the actor, its FIFO caches, `started`:
//! |                               |  touched only by whoever holds the run right
//! | watch: WatchWord              |  who is told when the actor ends (a list
//! |                               |  allocated at the first watch)
//! | id: ActorId                   |  given at spawn
//! +-------------------------------+
//! | bound: Bound                  |  a bounded actor's only (`BoundedCell`): its
//! |                               |  admission word and waiters (`bounded`)
//! +-------------------------------+
//! ```
//!
//! # Who may touch `core`: the run right
//!
//! `core` is accessed by exactly one party at a time: the holder of the actor's *run
//! right*. The right is the inbox's unblocked state (zeta-mailbox's block/unblock
//! handshake), and the cell's job is *self-arbitrated* (zeta-scheduler's job module,
//! "Self-arbitrated jobs"): the scheduler keeps no state of its own for it.
//!
//! - A blocked inbox: nobody holds the right. The one party whose single CAS moves the
//!   inbox out of BLOCKED takes it: an unblocking push (`Enqueued::Unblocked`), an
//!   unblocking seal (stop, kill), a claim from outside (`Scheduler::schedule` of the
//!   job: `try_unblock`), or the orphan claim of the last address's drop (below).
//! - The taker hands the right to a scheduler as the actor's one run-queue entry
//!   ([`QueuedJob`](zeta_scheduler::QueuedJob), made by `JobRef::take_run_right`, no
//!   atomic); whoever holds the entry (the queue, the worker running it, a canceller, a
//!   refusing scheduler's [`Stopped`](zeta_scheduler::Stopped)) holds the right.
//! - The runner gives the right up with the `try_block` that blocks the inbox
//!   (`Awaiting`): from that CAS on it touches nothing of the actor. Or it ends the
//!   actor (`Done`, a panic, a cancel), which closes the inbox for good.
//! - A supervised child's runner, when the child's instance ends, may instead hand the
//!   right to a *parked token* pushed to its supervisor (`supervision::restart`), and
//!   return `Awaiting` with the inbox left unblocked: senders only queue, and nobody
//!   runs the child until the token's holder restarts it (handing the right to the
//!   scheduler, as an unblocking send does) or ends it (completing the job). Its
//!   resume (the `SUPERVISED` table's) catches a panic itself for that.
//!
//! Senders touch only `inbox` (lock-free), `killed`, and the refcount.
//!
//! # Who holds which reference
//!
//! The job's strong count holds one reference per address, waker and `JobRef` clone
//! (*outside* references), plus **one for the run right**, for the actor's whole life:
//! the run-queue entry carries it while the actor is queued or running, and the idle
//! actor keeps it while blocked. So queueing, starting and ending a run move no count:
//! a message through an idle actor costs the sender's push and the reader's `take_all`
//! and `try_block`, and nothing else atomic.
//!
//! The run right's reference goes when the actor ends (`COMPLETE`, in one CAS). Until
//! then the count never reaches zero, so the drop of the *last outside* reference must
//! end the actor itself (`StopReason::Dropped`): its CAS turns the reference into a
//! *pin* (the memory stays, no access is given), and `orphaned` then calls
//! `Inbox::orphan`:
//!
//! - the inbox was **blocked** (the actor idle): the dropper claims the run right and
//!   ends the actor there, then gives up the run right's reference;
//! - otherwise the holder of the right is running or queued: the inbox gets the
//!   **orphan flag**, which keeps `try_block` from blocking. The runner's `try_block`
//!   reports `Orphaned` once it has drained the inbox, and the runner reads the count
//!   (ordered after the dropper's decrement by the flag's Release and the clearing
//!   CAS's Acquire): **1** means only its own run right is left, and nobody but itself
//!   could make a new reference, so it ends the actor; more means a reference was made
//!   since (the actor cloned its own address, or a waker), whose last drop will orphan
//!   the inbox again, so it blocks as usual.
//!
//! The flag and the claim are on the inbox word, the same word as `try_block`'s CAS, so
//! either the runner blocks first and the dropper claims, or the dropper flags first and
//! the runner cannot block without seeing it. The loom models in `loom-tests/` (two
//! last drops at once, the last drop racing `try_block`, an actor cloning its own
//! address while the last outside one drops, an outside schedule racing an unblocking
//! push) check exactly that, each seen to fail with a step broken.
//!
//! # Stop and kill
//!
//! Control allocates nothing at the moment of use, so a kill switch works when the
//! actor's memory resource is exhausted:
//!
//! - **stop** seals the inbox ([`Inbox::seal`](zeta_mailbox::Inbox::seal)): from that
//!   CAS on, sends are refused and hand their message back; what was queued before it is
//!   handled; the runner's `try_block` then reports `Sealed` and the actor ends with
//!   [`StopReason::Stopped`]. A seal of a blocked inbox hands the run right to the
//!   stopper, who schedules the actor like an unblocking sender.
//! - **kill** sets `killed`, then seals. The runner checks `killed` before every message,
//!   so at most the message being handled finishes; the seal's Release (even when the
//!   inbox was sealed already, the CAS is made) publishes the flag to the runner's next
//!   Acquire on the inbox, and wakes a blocked actor. The runner acts on the flag once
//!   the seal is there too: the two are one event, which a supervised child's restart
//!   takes back whole (`restart_racing_a_send` in `loom-tests/` is the race it closes).
//!
//! # Drops the engine runs
//!
//! Ending an actor (`finish`) drops user values: unhandled payloads, the actor itself,
//! and runs `on_stop`. These run with the thread marked as inside an actor, so a
//! blocking `Future::wait` in them returns `WouldBlock` instead of blocking (a stopping
//! scheduler cancels its actors one after the other on one thread; a wait there for
//! an actor later in the same batch would never return). Each is caught separately:
//! a panicking `Drop` or hook does not keep the other payloads from being dropped, nor
//! `on_stop` from running.
//!
//! # Why memory stays valid
//!
//! Two counts, like `Arc`'s strong and weak:
//!
//! - **Strong** (the count in the job header's state word): addresses, wakers and the
//!   run right (above). They keep the *actor* alive. The last goes only after the actor
//!   ended (`destroy`): its inbox and caches are dropped, and the strong side's one weak
//!   reference is given up.
//! - **Weak** (`weak`): request nodes, plus one for all strong references together. They
//!   keep the cell's *memory* and its resource alive; the last one returns the cell to
//!   the resource and drops the resource handle and the scheduler handle.
//!
//! Why that split: a request node can outlive everything else (a `Reply` kept in an
//! actor's state, a `Future` kept by the asker), and must be able to return its memory
//! to the resource, so it needs the resource alive. But if it kept the *actor* alive, an
//! actor holding a `Reply` to its own request would never be dropped. So a node holds a
//! weak reference: request nodes are allocated through the cell itself as a
//! [`MemoryResource`], whose `allocate` takes a weak reference and whose `deallocate`
//! gives it back after returning the memory.
//!
//! A plain message node never outlives the strong side: it is in the inbox or the cache
//! (emptied by `destroy`), in the hands of a sender that holds an address, or being
//! dispatched by the runner.

use core::alloc::Layout;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use std::cell::Cell as StdCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use zeta_arena::{AllocError, MemoryResource, PoolHandle};
use zeta_mailbox::Orphan;
use zeta_mailbox::{Cache, Inbox, TryBlock};
use zeta_scheduler::{JobHeader, JobRef, JobVTable, LocalSubmit, ResumeInfo, RunRight, Scheduler};

use crate::actor::{Actor, PanicMessage, StopReason};
use crate::bounded::Bound;
use crate::context::Context;
use crate::continuation::ContinuationRef;
use crate::identity::ActorId;
use crate::supervision::monitor::Notice;
use crate::supervision::restart::{self, RestartPart};
use crate::supervision::watch::WatchWord;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering, INSIDE, IN_ACTOR, YIELD};

/// A shared memory resource, as the engine keeps it.
pub type SharedResource = Arc<dyn MemoryResource + Send + Sync>;

/// What travels through an actor's inbox: the user's messages and the engine's own.
///
/// Stop and kill are not messages: they seal the inbox (`Inbox::seal`), which allocates
/// nothing, so they cannot fail for lack of memory (module doc, "Stop and kill").
pub(crate) enum Mail<M> {
    User(M),
    /// A waker from `Context::waker` was woken.
    Wake,
    /// An actor this one monitors has ended (`supervision::monitor`).
    Down(Notice),
    /// A request this actor made with `Context::ask` is answered (or expired): run its
    /// continuation (`continuation`).
    Continue(ContinuationRef),
}

impl<M> Mail<M> {
    #[inline]
    pub(crate) fn into_user(self) -> Option<M> {
        match self {
            Mail::User(message) => Some(message),
            _ => None,
        }
    }
}

/// The actor's memory resource, sized so message nodes can point at it.
///
/// When the resource is a pool, its [`PoolHandle`] is kept beside it, and the nodes of
/// the actor's messages are allocated and freed through it: no dynamic call, and the
/// size class of a node's layout, known where the node is made, is computed at compile
/// time. What the handle cannot do (a layout the pool does not serve, a thread whose
/// cached shard is another pool's, a shard that needs a chunk) goes through the
/// resource, which is the same pool.
pub(crate) struct Home {
    pub(crate) resource: SharedResource,
    /// Borrowed from `resource`, whose `Arc` keeps the pool where it is for as long as
    /// this `Home` exists: the `'static` is never handed out.
    pool: Option<PoolHandle<'static>>,
}

impl Home {
    pub(crate) fn new(resource: SharedResource) -> Self {
        // SAFETY: the handle borrows the pool inside `resource`'s allocation, which stays
        // where it is while the `Arc` we keep beside it lives; the handle goes when this
        // `Home` does, and is only used through `&self`.
        let pool = resource.pool_handle().map(|handle| unsafe {
            core::mem::transmute::<PoolHandle<'_>, PoolHandle<'static>>(handle)
        });
        Self { resource, pool }
    }
}

// SAFETY: every call is forwarded to a resource that upholds the trait's contract, or to
// its own pool handle: a block from either path is the same pool's.
unsafe impl MemoryResource for Home {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        if let Some(block) = self.pool.and_then(|pool| pool.try_allocate(layout)) {
            return Ok(block);
        }
        self.resource.allocate(layout)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if let Some(pool) = self.pool {
            // SAFETY: the caller's duty: the block came from `allocate` above, which
            // takes it from this pool either way.
            if unsafe { pool.try_deallocate(ptr, layout) } {
                return;
            }
        }
        // SAFETY: the caller's duty (the block came from `allocate` above).
        unsafe { self.resource.deallocate(ptr, layout) }
    }

    fn identity(&self) -> *const () {
        self.resource.identity()
    }

    #[inline]
    fn pool_handle(&self) -> Option<PoolHandle<'_>> {
        self.pool
    }
}

/// The part of the cell only the run-right holder touches.
pub(crate) struct Core<A: Actor> {
    /// `None` once the actor has stopped (or, supervised, while it is parked).
    actor: Option<A>,
    cache: Cache<'static, Mail<A::Message>>,
    started: bool,
    /// A supervised child's factory and supervisor (`supervision::restart`), from the
    /// actor's memory; `None` for an unsupervised actor, and once the child has ended
    /// for good.
    restart: Option<NonNull<RestartPart<A>>>,
}

#[repr(C)]
pub(crate) struct Cell<A: Actor> {
    header: JobHeader,
    pub(crate) inbox: Inbox<'static, Mail<A::Message>>,
    pub(crate) killed: AtomicBool,
    /// A linked actor's failure is a `Down` for `on_down`, not a stop
    /// (`Context::trap_exits`). Written and read by the run-right holder only: an
    /// atomic for the cell's `Sync`, Relaxed.
    pub(crate) trap_exits: AtomicBool,
    /// 0 for an unbounded actor; else the capacity of its bounded mailbox, whose
    /// [`Bound`] follows the cell in its block ([`BoundedCell`]). Set at spawn, never
    /// changed; it sits in the padding after the two flags, so the cell is no larger.
    pub(crate) capacity: u32,
    pub(crate) handled: AtomicU64,
    weak: AtomicUsize,
    pub(crate) home: ManuallyDrop<Home>,
    pub(crate) scheduler: ManuallyDrop<Arc<dyn Scheduler>>,
    /// `scheduler`'s [`LocalSubmit`], taken at spawn: a send from one of the
    /// scheduler's own running jobs queues the actor without a dynamic call. It
    /// borrows the scheduler that `scheduler`'s `Arc` keeps alive beside it, for as
    /// long as the cell lives: the `'static` is never handed out.
    pub(crate) local_submit: Option<LocalSubmit<'static>>,
    core: core::cell::UnsafeCell<Core<A>>,
    /// Who is told when the actor ends (`supervision::watch`): one word, touched only
    /// when watching starts and when the actor ends.
    pub(crate) watch: WatchWord,
    /// Given at spawn, never changed.
    pub(crate) id: ActorId,
    /// Given at spawn (`spawn_named`), never changed.
    pub(crate) name: Option<&'static str>,
    /// Told of the actor's life (`observe`): set at spawn, never changed.
    #[cfg(feature = "observe")]
    pub(crate) observed: crate::observe::Observed,
}

/// What an actor is given at spawn besides itself: its name, and (with the `observe`
/// feature) the observer it inherits from its system or its parent.
#[derive(Clone, Default)]
pub(crate) struct Birth {
    pub(crate) name: Option<&'static str>,
    #[cfg(feature = "observe")]
    pub(crate) observed: crate::observe::Observed,
}

impl Birth {
    /// This birth with a name.
    pub(crate) fn named(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }

    /// A child's: its parent's observer, no name.
    pub(crate) fn child_of<A: Actor>(parent: &Cell<A>) -> Self {
        let _ = parent;
        Self {
            name: None,
            #[cfg(feature = "observe")]
            observed: parent.observed.clone(),
        }
    }
}

// SAFETY: what threads share in a cell is atomic (the header's state word with its
// count, the inbox head, `killed`, `trap_exits`, `handled`, the weak count, the `watch`
// word, whose list is `Sync`) or immutable after spawn (`home` with its pool handle,
// `scheduler` and its `local_submit`, all `Send + Sync`; `id`; `capacity`; `name`, a
// `&'static str`; `observed`, an `Arc` of a `Send + Sync` observer); `core` (its
// restart part included) is touched by one run-right holder at a time (module doc),
// and moves between threads with it, hence `A: Send` (the `Actor` bound) and messages
// `Send`. The intrusive link is used only by the one queue holding the job.
unsafe impl<A: Actor> Sync for Cell<A> {}
// SAFETY: as above.
unsafe impl<A: Actor> Send for Cell<A> {}

/// A bounded actor's block: its cell, then its [`Bound`] (`bounded` module doc). The
/// cell is first, so the block's address is the cell's and its job's.
#[repr(C)]
pub(crate) struct BoundedCell<A: Actor> {
    cell: Cell<A>,
    bound: Bound,
}

/// The layout of the block a cell with `capacity` lives in.
#[inline]
fn block_layout<A: Actor>(capacity: u32) -> Layout {
    if capacity == 0 {
        Layout::new::<Cell<A>>()
    } else {
        Layout::new::<BoundedCell<A>>()
    }
}

/// The bound of a bounded actor's cell.
///
/// # Safety
///
/// `header` is a live `Cell<A>`'s whose `capacity` is not 0, with the provenance of its
/// whole block (a job's pointer, or the one `resume` is given: not one derived from a
/// `&Cell<A>`, which covers the cell only); the bound is used only while the cell lives.
#[inline(always)]
pub(crate) unsafe fn bound_of<'a, A: Actor>(header: NonNull<JobHeader>) -> &'a Bound {
    // SAFETY: a cell with a capacity was allocated as a `BoundedCell<A>` (`spawn_cell`),
    // whose first field it is; the pointer covers the block (caller's duty).
    unsafe { &(*header.cast::<BoundedCell<A>>().as_ptr()).bound }
}

struct VTableFor<A>(PhantomData<A>);

impl<A: Actor> VTableFor<A> {
    /// A supervised child's: its resume catches a panic to park the child
    /// (`supervision::restart`); the rest is the same.
    const SUPERVISED: JobVTable = JobVTable {
        resume: resume_supervised::<A>,
        ..Self::VTABLE
    };

    const VTABLE: JobVTable = JobVTable {
        resume: resume::<A>,
        shutdown: shutdown::<A>,
        panicked: panicked::<A>,
        destroy: destroy::<A>,
        run_right: Some(RunRight {
            claim: claim::<A>,
            orphaned: orphaned::<A>,
        }),
    };
}

/// Places `actor` in a new cell allocated from `resource`; the returned reference is the
/// cell's first. A `supervised` cell resumes through the supervised resume, and must be
/// given its restart part (`supervision::restart::attach`) before anyone can reach it.
/// A `capacity` other than 0 makes its mailbox bounded: the cell is allocated with its
/// [`Bound`] after it ([`BoundedCell`]).
pub(crate) fn spawn_cell<A: Actor>(
    actor: A,
    resource: SharedResource,
    scheduler: Arc<dyn Scheduler>,
    supervised: bool,
    capacity: u32,
    birth: Birth,
) -> Result<JobRef, A> {
    let Ok(block) = resource.allocate(block_layout::<A>(capacity)) else {
        return Err(actor);
    };
    let cell = block.cast::<Cell<A>>();
    // SAFETY: the handle borrows the scheduler inside `scheduler`'s allocation, which
    // the `Arc` stored beside it in the cell keeps alive until the cell's memory goes
    // (`release_weak`), after every use of the handle (a send needs the cell).
    let local_submit = scheduler.local_submit().map(|local| unsafe {
        core::mem::transmute::<LocalSubmit<'_>, LocalSubmit<'static>>(local)
    });
    // SAFETY: the block is fresh, sized and aligned for a `Cell<A>` (resource contract),
    // and ours alone.
    unsafe {
        cell.as_ptr().write(Cell {
            header: JobHeader::new(if supervised {
                &VTableFor::<A>::SUPERVISED
            } else {
                &VTableFor::<A>::VTABLE
            }),
            inbox: Inbox::new(),
            killed: AtomicBool::new(false),
            trap_exits: AtomicBool::new(false),
            capacity,
            handled: AtomicU64::new(0),
            weak: AtomicUsize::new(1),
            home: ManuallyDrop::new(Home::new(resource)),
            local_submit,
            scheduler: ManuallyDrop::new(scheduler),
            core: core::cell::UnsafeCell::new(Core {
                actor: Some(actor),
                cache: Cache::new(),
                started: false,
                restart: None,
            }),
            watch: WatchWord::new(),
            id: ActorId::next(),
            name: birth.name,
            #[cfg(feature = "observe")]
            observed: birth.observed,
        });
        if capacity != 0 {
            // The block was allocated as a `BoundedCell<A>` (`block_layout`); its bound
            // is written once, here, before anyone can reach the cell.
            core::ptr::addr_of_mut!((*block.cast::<BoundedCell<A>>().as_ptr()).bound)
                .write(Bound::new(capacity as usize));
        }
    };
    // SAFETY: (1) a live header made with `JobHeader::new` at the start of a `Cell<A>`,
    // which `VTableFor<A>` handles; (2) we adopt the one reference it starts with;
    // (3) `A: Send` and the cell's shared parts are atomics, so the table may run on any
    // thread, and `destroy` frees the cell through the resource it came from.
    let job = unsafe { JobRef::from_raw(cell.cast()) };
    #[cfg(feature = "observe")]
    // SAFETY: made above for this `A`; `job` keeps it alive.
    unsafe { Cell::<A>::from_job(&job) }.tell(|observer, actor| observer.on_spawn(actor));
    Ok(job)
}

impl<A: Actor> Cell<A> {
    /// The cell behind a job reference.
    ///
    /// # Safety
    ///
    /// `job` was made by [`spawn_cell`] for this `A`.
    #[inline(always)]
    pub(crate) unsafe fn from_job(job: &JobRef) -> &Cell<A> {
        // SAFETY: the header is the first field of a `repr(C)` `Cell<A>` (caller's duty),
        // kept alive by the reference `job` holds.
        unsafe { job.as_ptr().cast::<Cell<A>>().as_ref() }
    }

    /// The resource for plain message nodes, typed for the cell's inbox.
    #[inline(always)]
    pub(crate) fn home(&self) -> &'static Home {
        // SAFETY: the `'static` only lets a node be typed for the cell's
        // `Inbox<'static, _>`; a plain message node never outlives the cell (module doc,
        // "Why memory stays valid"), and no API hands such a node to a user.
        unsafe { &*(&*self.home as *const Home) }
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

    /// Calls `hook` with the observer, if the actor has one, catching a panic in it
    /// (a rare hook's panic is dropped: `observe` module doc). Out of line: the rare
    /// hooks' sites stay small.
    #[cfg(feature = "observe")]
    #[cold]
    #[inline(never)]
    pub(crate) fn tell(
        &self,
        hook: impl FnOnce(&dyn crate::observe::Observer, &crate::observe::ActorInfo),
    ) {
        if let Some(observer) = self.observed.get() {
            let info = self.info();
            discard(catch_unwind(AssertUnwindSafe(|| hook(observer, &info))).err());
        }
    }

    /// `on_message` (or, `done`, `on_message_done`): out of line, called only when the
    /// observer wants them. Not caught: a panic here is the runner's, as the handler's.
    #[cfg(feature = "observe")]
    #[inline(never)]
    fn tell_message(&self, done: bool) {
        if let Some(observer) = self.observed.get() {
            if done {
                observer.on_message_done(&self.info());
            } else {
                observer.on_message(&self.info());
            }
        }
    }

    /// Whether the actor has not ended yet (it may be stopping).
    #[inline]
    pub(crate) fn is_alive(&self) -> bool {
        !self.inbox.is_closed()
    }

    /// Whether the actor accepts messages: not stopping, not ended.
    #[inline]
    pub(crate) fn accepts(&self) -> bool {
        self.inbox.accepts()
    }

    /// The core.
    ///
    /// # Safety
    ///
    /// The caller holds the run right (module doc, "Who may touch `core`"), and no other
    /// reference to the core is live.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    pub(crate) unsafe fn core(&self) -> &mut Core<A> {
        // SAFETY: exclusive by the caller's duty.
        unsafe { &mut *self.core.get() }
    }
}

/// The cell seen as the memory resource of its request nodes.
///
/// `repr(transparent)` over an `UnsafeCell`, so that a `&Shelter` (what a request node
/// holds as its resource, and what `deallocate` is called on) covers the cell with
/// shared *read-write* permission and no protector: the last node's `deallocate` frees
/// the cell through it, which a `&Cell` (read-only for most of its fields) would not
/// allow.
#[repr(transparent)]
pub(crate) struct Shelter<A: Actor>(core::cell::UnsafeCell<Cell<A>>);

// SAFETY: a shelter is only ever a view of a cell, which is `Sync` (see `Cell`).
unsafe impl<A: Actor> Sync for Shelter<A> {}
// SAFETY: as above.
unsafe impl<A: Actor> Send for Shelter<A> {}

impl<A: Actor> Shelter<A> {
    /// The cell behind a job reference, as a request resource.
    ///
    /// # Safety
    ///
    /// `job` was made by [`spawn_cell`] for this `A`; the `'static` is the caller's to
    /// justify (a request node holds a weak reference for as long as it uses it).
    #[inline(always)]
    pub(crate) unsafe fn from_job(job: &JobRef) -> &'static Shelter<A> {
        // SAFETY: `repr(transparent)` over `UnsafeCell<Cell<A>>`, itself
        // `repr(transparent)` over the cell, whose header is first (caller's duty); the
        // pointer keeps the provenance of the cell's allocation.
        unsafe { job.as_ptr().cast::<Shelter<A>>().as_ref() }
    }

    /// The cell at `header`, as a resource: for a holder of a weak reference that keeps
    /// a pointer, not a job (a continuation's block, `continuation`).
    ///
    /// # Safety
    ///
    /// `header` is a `Cell<A>`'s, with the provenance of its allocation, and the caller
    /// holds a weak reference on it for as long as it uses the shelter.
    #[inline(always)]
    pub(crate) unsafe fn from_header(header: NonNull<JobHeader>) -> &'static Shelter<A> {
        // SAFETY: as in `from_job`; the weak reference keeps the memory (caller's duty).
        unsafe { header.cast::<Shelter<A>>().as_ref() }
    }
}

// SAFETY: `allocate` hands out blocks of the actor's own resource (which upholds the
// contract) and `deallocate` gives them back to it.
unsafe impl<A: Actor> MemoryResource for Shelter<A> {
    /// A block for a request node; the node holds a weak reference on the cell until
    /// it is freed, so the cell's memory and resource outlive it.
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        // SAFETY: the cell is live (the asker holds an address); shared access only.
        let cell = unsafe { &*self.0.get() };
        let block = cell.home.allocate(layout)?;
        // Relaxed: a new reference made while another (the asker's address, strong, and
        // its share of the weak count) keeps the cell alive; nothing is published.
        let old = cell.weak.fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            std::process::abort();
        }
        Ok(block)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        let cell = self.0.get();
        // SAFETY: the node's weak reference keeps the cell's memory and `home` valid; the
        // block came from `allocate` above (caller's duty). The `&Home` ends here.
        unsafe { (*cell).home.deallocate(ptr, layout) };
        // SAFETY: `allocate` took one weak reference for this block, given back once
        // here. This may free the cell, through a pointer with write permission (from
        // the `UnsafeCell`); nothing touches `self` after it.
        unsafe { release_weak::<A>(NonNull::new_unchecked(cell)) };
    }

    fn identity(&self) -> *const () {
        // SAFETY: as in `allocate`.
        unsafe { &*self.0.get() }.home.identity()
    }
}

/// Whether the current thread is running an actor (blocking here could deadlock it).
pub(crate) fn in_actor() -> bool {
    IN_ACTOR.with(StdCell::get) & INSIDE != 0
}

/// Asks the running actor to yield after its current message: a send from its handler
/// was admitted over a bounded mailbox's capacity (`bounded` module doc). Does nothing
/// outside an actor.
pub(crate) fn request_yield() {
    IN_ACTOR.with(|flags| {
        let now = flags.get();
        if now & INSIDE != 0 {
            flags.set(now | YIELD);
        }
    });
}

/// Whether a yield was asked for since the last call; clears the request.
#[inline(always)]
fn take_yield() -> bool {
    IN_ACTOR.with(|flags| {
        let now = flags.get();
        if now & YIELD == 0 {
            return false;
        }
        flags.set(now & !YIELD);
        true
    })
}

/// Marks the thread as running an actor (with no yield asked for yet), also across an
/// unwind; the flags before are restored at the end of the scope.
pub(crate) struct InActor(u8);

impl InActor {
    #[inline]
    pub(crate) fn enter() -> Self {
        Self(IN_ACTOR.with(|flags| flags.replace(INSIDE)))
    }
}

impl Drop for InActor {
    #[inline]
    fn drop(&mut self) {
        let previous = self.0;
        IN_ACTOR.with(|flag| flag.set(previous));
    }
}

/// Messages handled in a run, and how many of them are already added to
/// `Cell::handled` and given back to a bounded mailbox's [`Bound`].
///
/// A run that unwinds (a handler's panic) gives nothing back: the panic ends the actor,
/// and the count no longer matters then (its end wakes every waiter). That holds
/// because a supervised child, which outlives its instance's panic, cannot be bounded
/// (`spawn_with` gives it capacity 0); bounding one would need the park path to give
/// back what the panicking run dispatched. (A `Drop` here doing it on unwind cost the
/// plain resume 18 instructions per message, counted by `scripts/rmw-count.sh`.)
struct Count<A: Actor> {
    handled: usize,
    recorded: usize,
    /// The observer's interests (`observe`), read once per run; `RUNS` is cleared
    /// once the run is reported, so it is reported once.
    #[cfg(feature = "observe")]
    interests: u8,
    /// The running cell's header, with the provenance of its whole block.
    header: NonNull<JobHeader>,
    _actor: PhantomData<fn() -> A>,
}

impl<A: Actor> Count<A> {
    #[inline]
    fn new(cell: &Cell<A>, header: NonNull<JobHeader>) -> Self {
        let _ = cell;
        Self {
            handled: 0,
            recorded: 0,
            #[cfg(feature = "observe")]
            interests: cell.observed.interests(),
            header,
            _actor: PhantomData,
        }
    }

    /// Tells the observer of the run, once, if it wants runs (`observe`): before the
    /// run gives the actor up, so that it never races the next run or the end.
    #[cfg(feature = "observe")]
    #[inline]
    fn report(&mut self, cell: &Cell<A>, backlog: usize) {
        let runs = crate::observe::Interests::RUNS.bits();
        if self.interests & runs != 0 {
            self.interests &= !runs;
            tell_run(cell, self.handled, backlog);
        }
    }

    /// Whether the observer wants each message (`observe`).
    #[cfg(feature = "observe")]
    #[inline(always)]
    fn per_message(&self) -> bool {
        self.interests & crate::observe::Interests::MESSAGES.bits() != 0
    }

    /// Adds what is not yet recorded to the cell's total, and gives as many slots back
    /// to a bounded mailbox: one read-modify-write per run (`bounded` module doc).
    #[inline]
    fn record(&mut self, cell: &Cell<A>) {
        let new = self.handled - self.recorded;
        if new != 0 {
            // One writer (the runner), so load + store; Relaxed: a statistic for
            // routers, read with no other data depending on it.
            let total = cell.handled.load(Ordering::Relaxed);
            cell.handled.store(total + new as u64, Ordering::Relaxed);
            self.recorded = self.handled;
            if cell.capacity != 0 {
                // SAFETY: a cell with a capacity; `header` is the one `resume` was
                // given, and the run right keeps the cell alive while we run.
                unsafe { bound_of::<A>(self.header) }.release(new);
            }
        }
    }
}

/// `on_run`: out of line, called only when the observer wants runs. Not caught: a
/// panic here is the runner's, as the handler's.
#[cfg(feature = "observe")]
#[inline(never)]
fn tell_run<A: Actor>(cell: &Cell<A>, handled: usize, backlog: usize) {
    if let Some(observer) = cell.observed.get() {
        observer.on_run(&cell.info(), crate::observe::Run { handled, backlog });
    }
}

/// How a run ends.
enum Outcome {
    Awaiting,
    Resume,
    Stop(StopReason),
}

impl<A: Actor> Core<A> {
    /// Handles at most `max_throughput` messages. Called from one place only
    /// (`resume`), so that it is inlined there whole.
    fn run(
        &mut self,
        cell: &Cell<A>,
        header: NonNull<JobHeader>,
        max_throughput: usize,
    ) -> ResumeInfo {
        let mut count = Count::new(cell, header);
        let outcome = self.dispatch(cell, header, max_throughput, &mut count);
        let handled = count.handled;
        match outcome {
            // `dispatch` recorded the count and blocked the inbox: touch nothing of the
            // actor now.
            Outcome::Awaiting => ResumeInfo::awaiting(handled),
            Outcome::Resume => {
                count.record(cell);
                #[cfg(feature = "observe")]
                count.report(cell, self.cache.len());
                ResumeInfo::resume(handled)
            }
            Outcome::Stop(reason) => {
                count.record(cell);
                #[cfg(feature = "observe")]
                count.report(cell, self.cache.len());
                // SAFETY: we hold the run right (the caller's).
                unsafe { self.stop_run(cell, header, reason, handled) }
            }
        }
    }

    /// The run ended the actor's instance: park it for its supervisor, or end it.
    /// Out of line, so that the message loop stays small enough to be inlined whole.
    ///
    /// # Safety
    ///
    /// The caller holds the run right, and touches nothing of the actor afterwards.
    #[cold]
    #[inline(never)]
    unsafe fn stop_run(
        &mut self,
        cell: &Cell<A>,
        header: NonNull<JobHeader>,
        reason: StopReason,
        handled: usize,
    ) -> ResumeInfo {
        // A handler's `Context::exit` ends the loop as a stop does; its reason is here.
        let reason = crate::context::exit_reason(reason);
        // SAFETY: the caller's duty.
        let reason = match unsafe { self.park(cell, header, reason) } {
            Ok(()) => return ResumeInfo::awaiting(handled),
            Err(reason) => reason,
        };
        if let Some(panic) = self.finish(cell, header, reason) {
            // Everything is dropped and `on_stop` has run: report the panic at the
            // resume boundary, like one in a handler (`panicked` then finds nothing
            // left to do).
            std::panic::resume_unwind(panic);
        }
        ResumeInfo::done(handled)
    }

    /// A supervised child's instance ended with `reason`: end the instance (`on_stop`,
    /// drop) and hand the run right to its supervisor (`supervision::restart`). `Err`
    /// with the reason when the child is not supervised, the reason is not one a
    /// supervisor decides on, or the supervisor cannot be told: end it for good then.
    ///
    /// # Safety
    ///
    /// The caller holds the run right; after `Ok` it touches nothing of the actor.
    unsafe fn park(
        &mut self,
        cell: &Cell<A>,
        header: NonNull<JobHeader>,
        reason: StopReason,
    ) -> Result<(), StopReason> {
        let Some(mut part) = self.restart else {
            return Err(reason);
        };
        if !restart::parks(&reason) || !cell.is_alive() {
            return Err(reason);
        }
        let _scope = InActor::enter();
        if let Some(mut actor) = self.actor.take() {
            if self.started {
                let hook_reason = reason.clone();
                let _ = catch_unwind(AssertUnwindSafe(|| actor.on_stop(hook_reason)));
            }
            let _ = drop_caught(actor);
            #[cfg(feature = "observe")]
            cell.tell(|observer, actor| observer.on_stop(actor, &reason));
        }
        self.started = false;
        // SAFETY: the part lives until the child ends for good; the run right makes it
        // ours. After `Ok` the token holds the run right (the caller's duty).
        unsafe { restart::park(cell, header, part.as_mut(), reason) }
    }

    /// Makes `part` this (fresh) actor's restart part.
    pub(crate) fn set_restart(&mut self, part: NonNull<RestartPart<A>>) {
        self.restart = Some(part);
    }

    /// The restart part, if the actor is supervised and has not ended for good.
    pub(crate) fn restart_part(&mut self) -> Option<NonNull<RestartPart<A>>> {
        self.restart
    }

    /// A new instance for a parked child: `on_start` runs at its first resume.
    pub(crate) fn reinstate(&mut self, actor: A) {
        debug_assert!(self.actor.is_none(), "a parked child has no instance");
        self.actor = Some(actor);
        self.started = false;
    }

    /// Ends a parked child for good (its supervisor decided so, or is gone). `header`
    /// is the cell's job pointer (as for [`bound_of`]).
    pub(crate) fn end_for_good(
        &mut self,
        cell: &Cell<A>,
        header: NonNull<JobHeader>,
        reason: StopReason,
    ) {
        discard(self.finish(cell, header, reason));
    }

    /// The message loop; it tells the observer of each message and of the run, if it
    /// wants them (`observe`: the interests were read into `count`, one test each).
    #[inline]
    fn dispatch(
        &mut self,
        cell: &Cell<A>,
        header: NonNull<JobHeader>,
        max_throughput: usize,
        count: &mut Count<A>,
    ) -> Outcome {
        let Some(actor) = self.actor.as_mut() else {
            // Stopped already (a finished job is not resumed; kept for robustness).
            return Outcome::Stop(StopReason::Stopped);
        };
        if !self.started && cell.killed.load(Ordering::Relaxed) && !cell.accepts() {
            // Killed before it ever ran: no hooks at all.
            return Outcome::Stop(StopReason::Killed);
        }
        // SAFETY: `header` is this cell's, from the run-queue entry that keeps it alive.
        let mut ctx = unsafe { Context::new(cell, header) };
        if !self.started {
            self.started = true;
            actor.on_start(&mut ctx);
            #[cfg(feature = "observe")]
            cell.tell(|observer, actor| observer.on_start(actor));
            if ctx.stop_requested() {
                return Outcome::Stop(StopReason::Stopped);
            }
        }
        let outcome = loop {
            if count.handled == max_throughput {
                if self.cache.is_empty() && !cell.inbox.has_messages() {
                    break Self::try_block(cell, count);
                }
                break Outcome::Resume;
            }
            // Relaxed: polled so that a kill takes effect at the next message. What
            // guarantees it is seen is the seal that `kill` makes after the store
            // (Release): the runner's next Acquire on the inbox (`take_all`, or
            // `try_block` reporting `Sealed`; a sealed inbox never blocks) reads it.
            // A kill counts once its seal is there too (`!accepts`, read only when the
            // flag is up): the flag and the seal are one event, so that a supervised
            // child restarted after a kill takes both back, not the flag alone with the
            // seal still to come on the new instance.
            if cell.killed.load(Ordering::Relaxed) && !cell.accepts() {
                break Outcome::Stop(StopReason::Killed);
            }
            let Some(envelope) = self.cache.next_from(&cell.inbox) else {
                break Self::try_block(cell, count);
            };
            count.handled += 1;
            #[cfg(feature = "observe")]
            if count.per_message() {
                cell.tell_message(false);
            }
            match envelope.into_payload() {
                Mail::User(message) => actor.handle(message, &mut ctx),
                Mail::Wake => actor.on_wake(&mut ctx),
                Mail::Down(notice) => {
                    if let Some(reason) = on_down(actor, cell, notice, &mut ctx) {
                        break Outcome::Stop(reason);
                    }
                }
                // A panic in the continuation unwinds from here, as one in `handle`.
                Mail::Continue(continuation) => continuation.run(actor, &mut ctx),
            }
            #[cfg(feature = "observe")]
            if count.per_message() {
                cell.tell_message(true);
            }
            if ctx.stop_requested() {
                break Outcome::Stop(StopReason::Stopped);
            }
            // A send from this handler went over a bounded mailbox's capacity: make way
            // for the receiver (`bounded` module doc). With nothing left, block as usual.
            if take_yield() && (!self.cache.is_empty() || cell.inbox.has_messages()) {
                break Outcome::Resume;
            }
        };
        outcome
    }

    /// Records the count, then tries to give the run right away.
    #[inline]
    fn try_block(cell: &Cell<A>, count: &mut Count<A>) -> Outcome {
        // Before `try_block`: once it succeeds, the actor is not ours to touch.
        count.record(cell);
        #[cfg(feature = "observe")]
        count.report(cell, 0);
        loop {
            return match cell.inbox.try_block() {
                // From here on the next sender that unblocks the inbox owns the actor.
                TryBlock::Blocked => Outcome::Awaiting,
                TryBlock::HasMessages => Outcome::Resume,
                // Stopped or killed from outside, and drained. Relaxed: `Sealed` acquired
                // the seal that published the flag (module doc, "Stop and kill").
                TryBlock::Sealed if cell.killed.load(Ordering::Relaxed) => {
                    Outcome::Stop(StopReason::Killed)
                }
                TryBlock::Sealed | TryBlock::Closed => Outcome::Stop(StopReason::Stopped),
                // The last outside reference went while we ran (module doc, "Who holds
                // which reference"). `Orphaned` acquired the orphaner's decrement, so the
                // count read here is that one or a later one: 1 means only the run right
                // (ours) is left, and nobody but us could make another.
                TryBlock::Orphaned if cell.header.ref_count() == 1 => {
                    Outcome::Stop(StopReason::Dropped)
                }
                // A reference was made since (e.g. the actor cloned its own address):
                // its last drop orphans the inbox again. Block as usual.
                TryBlock::Orphaned => continue,
            };
        }
    }

    /// Ends the actor: closes the inbox, drops what was never handled (requests among it
    /// resolve with an error), runs `on_stop` if `on_start` ran, drops the actor.
    /// Idempotent. Every user drop and hook runs inside an actor scope and under its own
    /// `catch_unwind` (module doc, "Drops the engine runs"), so one panicking payload
    /// neither leaks the others nor skips `on_stop`; the first panic's payload is
    /// returned once everything is done (the others are discarded), for the caller to
    /// report or drop.
    #[must_use]
    ///
    /// `header` is the cell's, with the provenance of its whole block (as for
    /// [`bound_of`]): a bounded mailbox's waiters are woken once the inbox is closed, to
    /// find it so.
    fn finish(
        &mut self,
        cell: &Cell<A>,
        header: NonNull<JobHeader>,
        reason: StopReason,
    ) -> Option<Panic> {
        let _scope = InActor::enter();
        let mut first = None;
        let actor = self.actor.take();
        for envelope in cell.inbox.close() {
            keep_first(&mut first, drop_caught(envelope));
        }
        if cell.capacity != 0 {
            // SAFETY: a cell with a capacity; the caller's `header` covers its block.
            let bound = unsafe { bound_of::<A>(header) };
            keep_first(
                &mut first,
                catch_unwind(AssertUnwindSafe(|| bound.wake_all())).err(),
            );
        }
        while let Some(envelope) = self.cache.pop() {
            keep_first(&mut first, drop_caught(envelope));
        }
        if let Some(mut actor) = actor {
            if self.started {
                let hook_reason = reason.clone();
                let stopped = catch_unwind(AssertUnwindSafe(|| actor.on_stop(hook_reason)));
                keep_first(&mut first, stopped.err());
            }
            keep_first(&mut first, drop_caught(actor));
            #[cfg(feature = "observe")]
            cell.tell(|observer, actor| observer.on_stop(actor, &reason));
        }
        // A supervised child's part goes with it: its supervisor's address and the
        // armed notice (a supervisor and its child hold each other until then).
        if let Some(part) = self.restart.take() {
            // SAFETY: attached to this cell, used by nobody now (we hold the run right
            // and the child ends); dropping its address may end the supervisor here.
            let freed = catch_unwind(AssertUnwindSafe(|| unsafe {
                restart::free(part, &cell.home)
            }));
            keep_first(&mut first, freed.err());
        }
        // Last: a watcher told of the end finds everything of the actor done. Never
        // unwinds; a second `finish` finds the list closed.
        cell.watch.close(&*cell.home, &reason);
        first
    }
}

/// A monitored or linked actor ended: out of the dispatch loop, which stays as small as
/// it was. Returns the reason to stop with when a linked actor's failure takes this one
/// down.
#[cold]
#[inline(never)]
fn on_down<A: Actor>(
    actor: &mut A,
    cell: &Cell<A>,
    notice: Notice,
    ctx: &mut Context<'_, A>,
) -> Option<StopReason> {
    let (down, link) = notice.into_down();
    #[cfg(feature = "observe")]
    cell.tell(|observer, actor| observer.on_down(actor, &down));
    // Relaxed: written by the run-right holder only (`Context::trap_exits`).
    if link && down.reason.is_failure() && !cell.trap_exits.load(Ordering::Relaxed) {
        return Some(StopReason::Linked(down.id));
    }
    actor.on_down(down, ctx);
    None
}

/// A caught panic's payload.
type Panic = Box<dyn core::any::Any + Send>;

/// Drops `value`, catching a panic in its `Drop`.
#[inline]
fn drop_caught<T>(value: T) -> Option<Panic> {
    catch_unwind(AssertUnwindSafe(move || drop(value))).err()
}

/// Keeps the first caught panic; a later one is dropped (a panic in dropping it is
/// caught and discarded too).
fn keep_first(first: &mut Option<Panic>, panic: Option<Panic>) {
    if let Some(panic) = panic {
        if first.is_none() {
            *first = Some(panic);
        } else {
            let _ = drop_caught(panic);
        }
    }
}

/// Discards what `finish` caught where nobody is left to tell (cancel, last drop,
/// after a panic already reported).
fn discard(panic: Option<Panic>) {
    if let Some(panic) = panic {
        let _ = drop_caught(panic);
    }
}

/// # Safety
///
/// `header` is a live `Cell<A>`'s, and the caller holds its run right (it runs the entry).
unsafe fn resume<A: Actor>(header: NonNull<JobHeader>, max_throughput: usize) -> ResumeInfo {
    // SAFETY: the vtable of a `Cell<A>` is only called with its header.
    let cell = unsafe { header.cast::<Cell<A>>().as_ref() };
    let _scope = InActor::enter();
    // SAFETY: the caller runs the job: the run right (module doc).
    unsafe { cell.core() }.run(cell, header, max_throughput)
}

/// A supervised child's resume: a panic is caught here, not by the scheduler, so that
/// the child can be parked for its supervisor with its queue (`supervision::restart`).
/// The message loop is [`resume`]'s, called through a pointer: one direct caller keeps
/// it inlined there whole, as it was before supervision.
///
/// # Safety
///
/// As for [`resume`].
unsafe fn resume_supervised<A: Actor>(
    header: NonNull<JobHeader>,
    max_throughput: usize,
) -> ResumeInfo {
    // SAFETY: as in `resume`.
    let cell = unsafe { header.cast::<Cell<A>>().as_ref() };
    let plain: unsafe fn(NonNull<JobHeader>, usize) -> ResumeInfo =
        core::hint::black_box(resume::<A>);
    // SAFETY: the caller runs the job: the run right.
    let ran = catch_unwind(AssertUnwindSafe(|| unsafe {
        plain(header, max_throughput)
    }));
    let payload = match ran {
        Ok(info) => return info,
        Err(payload) => payload,
    };
    crate::context::clear_exit();
    let _scope = InActor::enter();
    if !cell.is_alive() {
        // The actor ended in that run (a drop or hook panicked in `finish`): report it
        // as an unsupervised one would.
        std::panic::resume_unwind(payload);
    }
    let reason = StopReason::Panicked(PanicMessage::from_payload(&*payload));
    #[cfg(feature = "observe")]
    if let StopReason::Panicked(panic) = &reason {
        cell.tell(|observer, actor| observer.on_panic(actor, panic));
    }
    // SAFETY: the panicking run is over; the run right is still ours.
    let core = unsafe { cell.core() };
    // SAFETY: as above; after `Ok` we touch nothing of the actor.
    match unsafe { core.park(cell, header, reason) } {
        Ok(()) => {
            // Handled: the supervisor decides. Not a panic of the scheduler's.
            discard(Some(payload));
            ResumeInfo::awaiting(0)
        }
        Err(reason) => {
            // Ended for good, then reported like an unsupervised actor's panic (the
            // scheduler's `panicked` finds nothing left to do).
            discard(core.finish(cell, header, reason));
            std::panic::resume_unwind(payload)
        }
    }
}

/// # Safety
///
/// `header` is a live `Cell<A>`'s, and the caller holds its run right (a run-queue
/// entry being cancelled).
unsafe fn shutdown<A: Actor>(header: NonNull<JobHeader>) {
    // SAFETY: as in `resume`; a cancelled queued job is not running.
    let cell = unsafe { header.cast::<Cell<A>>().as_ref() };
    // SAFETY: the caller holds the run right (the entry).
    discard(unsafe { cell.core() }.finish(cell, header, StopReason::SchedulerStopped));
}

/// An explicit schedule from outside: takes the run right if the actor is idle.
///
/// # Safety
///
/// `header` is a live `Cell<A>`'s.
unsafe fn claim<A: Actor>(header: NonNull<JobHeader>) -> bool {
    // SAFETY: the caller's reference keeps the cell alive.
    let cell = unsafe { header.cast::<Cell<A>>().as_ref() };
    cell.inbox.try_unblock()
}

/// The last address (or waker) went while the actor had not ended (module doc, "Who
/// holds which reference"): end it here if it is idle, else flag its inbox for the
/// holder of the run right. Returns whether it ended here.
///
/// # Safety
///
/// `header` is a live `Cell<A>`'s, kept by the caller's pin, and only the run right's
/// reference is left.
unsafe fn orphaned<A: Actor>(header: NonNull<JobHeader>) -> bool {
    // SAFETY: the pin keeps the cell's memory; the strong side is intact (the run
    // right's reference is not given up).
    let cell = unsafe { header.cast::<Cell<A>>().as_ref() };
    match cell.inbox.orphan() {
        Orphan::Claimed => {
            // SAFETY: the claim gave us the run right; only its reference is left, so
            // nobody else can reach the actor to make a new one.
            discard(unsafe { cell.core() }.finish(cell, header, StopReason::Dropped));
            true
        }
        // The holder of the run right finds the flag before it can block.
        Orphan::Flagged => false,
        // Ended already: its ender gives up the run right's reference.
        Orphan::Closed => false,
    }
}

/// # Safety
///
/// `header` is a live `Cell<A>`'s whose `resume` panicked; the job is complete.
unsafe fn panicked<A: Actor>(header: NonNull<JobHeader>, payload: &(dyn core::any::Any + Send)) {
    // SAFETY: as in `resume`.
    let cell = unsafe { header.cast::<Cell<A>>().as_ref() };
    let reason = StopReason::Panicked(PanicMessage::from_payload(payload));
    // A panic in `finish` of a run that had ended the actor reaches here too: only a
    // live actor's panic is the actor's.
    #[cfg(feature = "observe")]
    if let (true, StopReason::Panicked(panic)) = (cell.is_alive(), &reason) {
        cell.tell(|observer, actor| observer.on_panic(actor, panic));
    }
    // SAFETY: the job is complete and the panicking run is over: nobody else resumes it.
    discard(unsafe { cell.core() }.finish(cell, header, reason));
}

/// # Safety
///
/// `header` is a `Cell<A>`'s whose last strong reference is gone.
unsafe fn destroy<A: Actor>(header: NonNull<JobHeader>) {
    let cell = header.cast::<Cell<A>>();
    {
        // SAFETY: the last strong reference is gone: nobody else can reach the actor
        // (weak holders only use `home` and `weak`).
        let cell_ref = unsafe { cell.as_ref() };
        // SAFETY: exclusive, as above. `finish` never unwinds, whatever user drops and
        // hooks do, so the cell cannot leak.
        discard(unsafe { cell_ref.core() }.finish(cell_ref, cell.cast(), StopReason::Dropped));
    }
    // SAFETY: exclusive as above; the inbox and the core are dropped once, here, and
    // never touched again (weak holders do not use them). `finish` emptied both and
    // took the actor, so no user code runs here.
    unsafe {
        core::ptr::drop_in_place(core::ptr::addr_of_mut!((*cell.as_ptr()).inbox));
        core::ptr::drop_in_place(core::ptr::addr_of_mut!((*cell.as_ptr()).core));
        // Closed by `finish` above, so it holds no entry; nobody can add one any more.
        (*cell.as_ptr()).watch.free(&*(*cell.as_ptr()).home);
        if (*cell.as_ptr()).capacity != 0 {
            // Nobody waits any more: a waiter holds an address (a strong reference).
            core::ptr::drop_in_place(core::ptr::addr_of_mut!(
                (*cell.cast::<BoundedCell<A>>().as_ptr()).bound
            ));
        }
    }
    // SAFETY: the strong side's weak reference, given up once.
    unsafe { release_weak::<A>(cell) };
}

/// Gives up a weak reference; the last one returns the cell's memory.
///
/// # Safety
///
/// The caller holds a weak reference on this live `Cell<A>` and gives it up.
unsafe fn release_weak<A: Actor>(cell: NonNull<Cell<A>>) {
    // SAFETY: a weak reference keeps the cell's memory, `weak` and `home` valid.
    let weak = unsafe { &cell.as_ref().weak };
    // Release: this holder's uses of the cell happen before the free.
    if weak.fetch_sub(1, Ordering::Release) != 1 {
        return;
    }
    // Acquire: reads the zero this decrement (the end of every holder's release
    // sequence) wrote, so every other holder's uses happen before the free. A load,
    // not a standalone fence, so that ThreadSanitizer sees the edge too (as std's
    // `Arc` does); it costs the same on the hot path (none: this is the last release).
    let _ = weak.load(Ordering::Acquire);
    // The home is dropped in place, never passed by value: it holds a reference into
    // its pool (the pool handle), which a by-value argument would keep protected while
    // the drop of its own `Arc` frees that pool (undefined behaviour under Stacked and
    // Tree Borrows; Miri caught it).
    // SAFETY: (1) the last weak reference is gone, so the strong side is gone too and
    // `destroy` has dropped the inbox and the core; (2) `home` and `scheduler` are taken
    // out once, and the memory goes back to the resource it came from, with the layout
    // `spawn_cell` used; (3) nothing touches the cell afterwards.
    unsafe {
        let layout = block_layout::<A>((*cell.as_ptr()).capacity);
        let mut home = ManuallyDrop::new(ManuallyDrop::take(&mut (*cell.as_ptr()).home));
        let scheduler = ManuallyDrop::take(&mut (*cell.as_ptr()).scheduler);
        home.deallocate(cell.cast(), layout);
        drop(scheduler);
        ManuallyDrop::drop(&mut home);
    }
}
