//! Restart in place: a supervised actor rebuilt inside its own cell, its address and its
//! queue kept.
//!
//! A child spawned by a [`Supervisor`](super::Supervisor) carries a [`RestartPart`] in
//! its core: the factory that makes a new instance, its supervisor's address, and one
//! *armed* notice, a node of the supervisor's inbox allocated in advance. When the
//! child's instance ends (a panic, caught at the child's resume; a stop; a kill; a
//! link's failure), the runner, which holds the actor's run right:
//!
//! 1. runs the old instance's `on_stop` with the reason and drops it; the queue (the
//!    caches and the inbox) is left as it is, and only the message being handled when
//!    it panicked is lost (its `Reply` was dropped by the unwinding: the asker gets
//!    `RequestError::HandlerPanicked`);
//! 2. writes a [`Parked`] token into the armed notice and pushes it into the
//!    supervisor's inbox (at high priority), and returns `Awaiting` to its scheduler
//!    without blocking the inbox. **The token is the run right now**: nobody resumes the
//!    child (a send finds the inbox unblocked and only queues), and nothing else
//!    touches its core, until the token is used.
//!
//! The supervisor decides, in its handler, holding the token:
//!
//! - [`Parked::restart`]: arms a new notice (from the supervisor's memory: no global
//!   allocation), makes the new instance with the factory, takes back the seal of a
//!   stop or a kill (and the kill flag), and hands the run right to the child's
//!   scheduler like an unblocking send: the new instance runs `on_start` and then the
//!   queued messages, in order;
//! - dropping the token (or [`Parked::stop`]): the child ends for good, as an
//!   unsupervised actor would, with the same reason (queued requests get `NoReply`,
//!   watchers are told). A token that cannot be delivered (the supervisor has ended)
//!   or is dropped unhandled (the supervisor's queue is dropped) ends the child too:
//!   no child waits for a decision that will not come.
//!
//! While parked, the child's cell is alive and accepting (unless stopped or killed):
//! senders queue, and the new instance handles what they sent. A kill that arrives while
//! the child is parked is not lost: the restarted instance finds the flag and ends
//! again (and parks again, for the supervisor to decide).

use core::alloc::Layout;
use core::any::Any;
use core::fmt;
use core::ptr::NonNull;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use zeta_arena::{AllocError, MemoryResource};
use zeta_mailbox::{Envelope, Priority};
use zeta_scheduler::{JobHeader, JobRef};

use super::supervisor::{Supervisor, SupervisorMsg};
use crate::actor::{Actor, StopReason};
use crate::address::{submit_own, Address};
use crate::cell::{Cell, Home, Mail};
use crate::identity::ActorId;
use crate::sync::Ordering;

/// Makes a child's instances.
pub(crate) type Factory<A> = Arc<dyn Fn() -> A + Send + Sync>;

/// A notice of the supervisor's inbox, allocated in advance.
type Armed = Envelope<'static, Mail<SupervisorMsg>>;

/// What a supervised cell keeps to be rebuilt (in the core: the run-right holder's).
pub(crate) struct RestartPart<A: Actor> {
    factory: Factory<A>,
    supervisor: Address<Supervisor>,
    /// The notice for the next end; `None` only between a park and the restart.
    armed: Option<Armed>,
}

/// A notice for `supervisor`'s inbox, from its memory.
fn arm(supervisor: &Address<Supervisor>) -> Result<Armed, AllocError> {
    Envelope::new_in(supervisor.cell().home(), Priority::High, Mail::Wake).map_err(|_| AllocError)
}

/// Whether an end with `reason` goes to the supervisor (the others end the child for
/// good: the scheduler's stop, the last address's drop).
pub(crate) fn parks(reason: &StopReason) -> bool {
    matches!(
        reason,
        StopReason::Panicked(_)
            | StopReason::Stopped
            | StopReason::Killed
            | StopReason::Linked(_)
            | StopReason::NodeLost
    )
}

/// Makes `cell` (fresh, never run: nobody else can reach its core) a supervised child of
/// `supervisor`, rebuilt by `factory`.
///
/// # Errors
///
/// [`AllocError`] when the supervisor's memory has no room for the notice or the
/// child's for the part; the child is then left unsupervised.
///
/// # Safety
///
/// The caller holds the only reference to `cell`, which has never been scheduled.
pub(crate) unsafe fn attach<A: Actor>(
    cell: &Cell<A>,
    factory: Factory<A>,
    supervisor: &Address<Supervisor>,
) -> Result<(), AllocError> {
    let armed = arm(supervisor)?;
    let home: &Home = &cell.home;
    let block = home
        .allocate(Layout::new::<RestartPart<A>>())?
        .cast::<RestartPart<A>>();
    // SAFETY: fresh, sized and aligned for a `RestartPart<A>`, ours.
    unsafe {
        block.as_ptr().write(RestartPart {
            factory,
            supervisor: supervisor.clone(),
            armed: Some(armed),
        })
    };
    // SAFETY: nobody else can reach the core (caller's duty).
    unsafe { cell.core() }.set_restart(block);
    Ok(())
}

/// Frees a cell's restart part (its `destroy`).
///
/// # Safety
///
/// `part` came from [`attach`] for this cell, whose `home` is given; nobody uses it any
/// more.
pub(crate) unsafe fn free<A: Actor>(part: NonNull<RestartPart<A>>, home: &Home) {
    // SAFETY: the caller's duty; dropped once, then its block returned once.
    unsafe {
        core::ptr::drop_in_place(part.as_ptr());
        home.deallocate(part.cast(), Layout::new::<RestartPart<A>>());
    }
}

/// Parks the child whose instance just ended with `reason`: `actor_ended` has run
/// `on_stop` and dropped the old instance. Delivers the token to the supervisor.
///
/// Returns the reason back when the child cannot be parked (no armed notice, or the
/// supervisor refused it): the caller then ends the child for good.
///
/// # Safety
///
/// The caller holds the run right of `header`'s cell, `cell`, with `part` its restart
/// part; after an `Ok` it touches nothing of the actor (the token holds the right).
pub(crate) unsafe fn park<A: Actor>(
    cell: &Cell<A>,
    header: NonNull<JobHeader>,
    part: &mut RestartPart<A>,
    reason: StopReason,
) -> Result<(), StopReason> {
    let Some(mut notice) = part.armed.take() else {
        return Err(reason);
    };
    // A reference for the token: the child's cell stays while the token exists.
    // SAFETY: `header` is live (the caller runs it); the view's reference is not ours.
    let view = core::mem::ManuallyDrop::new(unsafe { JobRef::from_raw(header) });
    let job = JobRef::clone(&view);
    let token = Parked {
        job: Some(job),
        id: cell.id,
        reason,
        ops: &OpsFor::<A>::OPS,
    };
    *notice.payload_mut() = Mail::User(SupervisorMsg::parked(token));
    match part.supervisor.push(notice) {
        Ok(()) => Ok(()),
        Err((mail, _)) => {
            let Some(mut token) = mail.into_user().and_then(SupervisorMsg::into_parked) else {
                unreachable!("the notice carries the token")
            };
            // Not dropped as a token: the caller ends the child itself (it holds the
            // core; the token's drop would reach for it too).
            drop(token.job.take());
            Err(token.reason.clone())
        }
    }
}

/// A parked child: its run right, and what ended its last instance. Given to the
/// supervisor; [`restart`](Parked::restart) it, or drop it to end the child for good.
pub(crate) struct Parked {
    /// `None` once used.
    job: Option<JobRef>,
    id: ActorId,
    reason: StopReason,
    ops: &'static ParkedOps,
}

/// What a restart does to the new instance before it is installed.
type Prepare<'a> = &'a mut dyn FnMut(&mut dyn Any);

struct ParkedOps {
    restart: unsafe fn(&JobRef, &StopReason, Prepare<'_>) -> Result<(), ()>,
    stop: unsafe fn(&JobRef, StopReason),
}

struct OpsFor<A>(core::marker::PhantomData<A>);

impl<A: Actor> OpsFor<A> {
    const OPS: ParkedOps = ParkedOps {
        restart: restart::<A>,
        stop: stop::<A>,
    };
}

impl Parked {
    /// The child.
    pub(crate) fn id(&self) -> ActorId {
        self.id
    }

    /// What ended its instance.
    pub(crate) fn reason(&self) -> &StopReason {
        &self.reason
    }

    /// Rebuilds the child in place and schedules it; `prepare` sees the new instance
    /// first (a supervisor hands its own bookkeeping to a child supervisor). On `Err`
    /// (no memory for the next notice, the factory panicked) the token comes back: drop
    /// it to end the child.
    pub(crate) fn restart(mut self, prepare: &mut dyn FnMut(&mut dyn Any)) -> Result<(), Parked> {
        let job = self.job.take().expect("a token is used once");
        // SAFETY: the token holds the child's run right, handed on here (on `Ok`, to
        // its scheduler); `ops` is the child's type's.
        match unsafe { (self.ops.restart)(&job, &self.reason, prepare) } {
            Ok(()) => Ok(()),
            Err(()) => {
                self.job = Some(job);
                Err(self)
            }
        }
    }

    /// Ends the child for good, with the reason its instance ended with.
    pub(crate) fn stop(self) {
        drop(self);
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            // SAFETY: the token holds the run right; `ops` is the child's type's.
            unsafe { (self.ops.stop)(&job, self.reason.clone()) };
        }
    }
}

impl fmt::Debug for Parked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parked")
            .field("id", &self.id)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// # Safety
///
/// `job` is a `Cell<A>`'s, and the caller holds its run right (a parked token), which
/// is handed on on `Ok`.
unsafe fn restart<A: Actor>(
    job: &JobRef,
    reason: &StopReason,
    prepare: &mut dyn FnMut(&mut dyn Any),
) -> Result<(), ()> {
    // SAFETY: the caller's duty.
    let cell = unsafe { Cell::<A>::from_job(job) };
    // SAFETY: the run right is ours (caller's duty).
    let core = unsafe { cell.core() };
    let Some(mut part) = core.restart_part() else {
        return Err(());
    };
    // SAFETY: the part lives as long as the cell; the run right makes it ours.
    let part = unsafe { part.as_mut() };
    // The next notice first: without it, the next end could not be told.
    let Ok(armed) = arm(&part.supervisor) else {
        return Err(());
    };
    let factory = Arc::clone(&part.factory);
    let Ok(mut actor) = catch_unwind(AssertUnwindSafe(move || factory())) else {
        return Err(());
    };
    prepare(&mut actor);
    part.armed = Some(armed);
    core.reinstate(actor);
    if matches!(reason, StopReason::Killed) {
        // Relaxed: the kill that parked the child is handled; ordered for the next
        // runner by the handoff below, as the flag's other uses are.
        cell.killed.store(false, Ordering::Relaxed);
    }
    if matches!(reason, StopReason::Stopped | StopReason::Killed) {
        // The seal of the stop or kill that ended the instance: the new one accepts.
        cell.inbox.unseal();
    }
    // Before the hand-off: from it on, the new instance may run (and end) elsewhere.
    #[cfg(feature = "observe")]
    cell.tell(|observer, actor| observer.on_restart(actor));
    // SAFETY: the run right is ours and handed on here, as an unblocking send's.
    if let Err(stopped) = unsafe { submit_own(job, cell) } {
        // The scheduler has stopped: dropping the refusal tells the child shutdown.
        drop(stopped);
    }
    Ok(())
}

/// # Safety
///
/// As for [`restart`]; the run right ends with the child.
unsafe fn stop<A: Actor>(job: &JobRef, reason: StopReason) {
    // SAFETY: the caller's duty.
    let cell = unsafe { Cell::<A>::from_job(job) };
    // SAFETY: the run right is ours.
    unsafe { cell.core() }.end_for_good(cell, job.as_ptr(), reason);
    // The run right ends with the child, and its reference with it: as an entry, whose
    // drop completes the job (its shutdown finds the child ended: nothing more).
    // SAFETY: the run right is ours, handed on once, here.
    drop(unsafe { job.take_run_right() });
}
