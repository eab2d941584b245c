//! Monitors: an actor told once, by a [`Down`] message, that another actor ended.
//!
//! `watcher.monitor(&target)` (or [`Context::monitor`](crate::Context::monitor)) makes
//! two allocations, and they are all the notification will ever need:
//!
//! - the *notice*: a message node of the watcher's inbox, from the watcher's memory, with
//!   a placeholder payload;
//! - the *entry*: a request node from the target's memory, pushed onto the target's
//!   watch list (`watch.rs`). Its payload ([`MonitorEntry`]) holds the notice, a strong
//!   reference to the watcher, the target's id, and the [`Reply`] end of a request
//!   whose [`Pending`] end is the [`Monitor`] handle.
//!
//! When the target ends, whoever owns the entry at that moment fires it: it decides the
//! race with [`Monitor::demonitor`] on the request's slot (one read-modify-write on each
//! side: [`Reply::send_unless_cancelled`] against [`Pending::cancel_unanswered`], so
//! exactly one learns that it came first), writes the reason into the entry, writes
//! the entry into the notice's payload (`Mail::Down`, one word) and pushes the notice
//! into the watcher's inbox like any message, scheduling the watcher if the push woke
//! it. Nothing is allocated; a watcher that has ended refuses the push, and the notice
//! and the entry are freed. The watcher's runner turns the notice back into a [`Down`]
//! for [`Actor::on_down`](crate::Actor::on_down), freeing both nodes.
//!
//! So a `Down` is delivered at most once (one entry, fired once, by the watch list's
//! ownership rule) and at least once unless taken back in time (every entry of a closed
//! list is fired, and one added to a closed list is fired by its maker). It travels at
//! normal priority, after every normal-priority message the target sent before it
//! ended: the end happens after those sends, on the same thread or on one that took
//! the actor over from it through its inbox.
//!
//! A monitor keeps its watcher alive (like an address the target holds) until its
//! `Down` is delivered or it is taken back: a supervisor is not dropped under its
//! children. Dropping the [`Monitor`] handle does not take it back.

use core::fmt;
use core::ptr::NonNull;

use zeta_mailbox::{Envelope, Header, Pending, Priority, Reply};
use zeta_scheduler::JobRef;

use super::watch::{Entry, Kind};
use crate::actor::{Actor, StopReason};
use crate::address::Address;
use crate::cell::{Mail, Shelter};
use crate::error::{ControlError, Undelivered};
use crate::identity::ActorId;

/// An actor ended: what a watcher receives in [`Actor::on_down`](crate::Actor::on_down).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Down {
    /// The actor that ended.
    pub id: ActorId,
    /// Why.
    pub reason: StopReason,
}

/// A monitor made by [`Address::monitor`] or [`Context::monitor`](crate::Context::monitor):
/// take it back with [`demonitor`](Monitor::demonitor). Dropping the handle leaves the
/// monitor in place.
///
/// The handle keeps the watched actor's *memory* (one node and the cell's block, as a
/// pending request does), not the actor: drop it when it is no longer needed.
pub struct Monitor {
    /// `None` only inside `demonitor` and `drop`.
    pending: Option<Pending<'static, ()>>,
    target: ActorId,
}

impl Monitor {
    /// The watched actor.
    pub fn target(&self) -> ActorId {
        self.target
    }

    /// Takes the monitor back. `true`: no `Down` will come for it; `false`: too late,
    /// the target has ended and its `Down` is delivered (or on its way, and will be
    /// handled as usual).
    ///
    /// The entry stays in the target's watch list until the list is next swept or the
    /// target ends; the watcher's reference and the notice's node go then.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use zeta::{Actor, ActorId, Context, Down, System};
    ///
    /// struct Nop;
    /// impl Actor for Nop {
    ///     type Message = ();
    ///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
    /// }
    ///
    /// struct Watcher(mpsc::Sender<ActorId>);
    /// impl Actor for Watcher {
    ///     type Message = ();
    ///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
    ///     fn on_down(&mut self, down: Down, _ctx: &mut Context<'_, Self>) {
    ///         self.0.send(down.id).unwrap();
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let (ids, downs) = mpsc::channel();
    /// let watcher = system.spawn(Watcher(ids)).unwrap();
    /// let (kept, dropped) = (system.spawn(Nop).unwrap(), system.spawn(Nop).unwrap());
    /// let _watching = watcher.monitor(&kept).unwrap();
    /// let taken_back = watcher.monitor(&dropped).unwrap();
    /// assert_eq!(taken_back.target(), dropped.id());
    /// assert!(taken_back.demonitor()); // in time: no `Down` will come for it
    /// kept.kill().unwrap();
    /// dropped.kill().unwrap();
    /// system.scheduler().run_until_idle().unwrap();
    /// assert_eq!(downs.try_iter().collect::<Vec<_>>(), [kept.id()]);
    /// ```
    pub fn demonitor(mut self) -> bool {
        match self.pending.take() {
            Some(pending) => pending.cancel_unanswered(),
            None => false,
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            // The monitor stays: the entry fires as usual; its answer is nobody's.
            pending.detach();
        }
    }
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// How to deliver and discard the notice of a watcher of one type.
struct NoticeVTable {
    /// Writes the entry into the notice and pushes it into the watcher's inbox.
    deliver: unsafe fn(JobRef, NonNull<Header>, Envelope<'static, Entry>),
    /// Frees the notice, never sent.
    discard: unsafe fn(NonNull<Header>),
}

struct VTableFor<W>(core::marker::PhantomData<W>);

impl<W: Actor> VTableFor<W> {
    const VTABLE: NoticeVTable = NoticeVTable {
        deliver: deliver::<W>,
        discard: discard::<W>,
    };
}

/// A monitor as the target's watch list holds it.
pub(crate) struct MonitorEntry {
    /// Decides the race with `demonitor`; `None` once fired.
    reply: Option<Reply<'static, ()>>,
    /// The watcher's job (a strong reference); `None` once handed to `deliver`.
    watcher: Option<JobRef>,
    /// The watcher's notice node (placeholder payload); `None` once handed on.
    notice: Option<NonNull<Header>>,
    target: ActorId,
    /// Written when fired, read by the watcher.
    reason: Option<StopReason>,
    /// Half of a link: the target's failure stops the watcher unless it traps exits.
    link: bool,
    vtable: &'static NoticeVTable,
}

// SAFETY: the notice node is owned by the entry alone until handed on, and its payload
// (a watcher's `Mail`) is `Send`; its resource is `Sync`. The rest is `Send`.
unsafe impl Send for MonitorEntry {}

impl MonitorEntry {
    pub(crate) fn is_cancelled(&self) -> bool {
        self.reply.as_ref().is_none_or(Reply::is_cancelled)
    }
}

impl Drop for MonitorEntry {
    fn drop(&mut self) {
        if let Some(notice) = self.notice.take() {
            // SAFETY: never handed on: ours, freed once.
            unsafe { (self.vtable.discard)(notice) };
        }
    }
}

/// The `Down` in a watcher's inbox: the fired entry, one word.
pub(crate) struct Notice(Envelope<'static, Entry>);

impl Notice {
    /// The `Down`, and whether it is a link's, freeing the entry.
    pub(crate) fn into_down(self) -> (Down, bool) {
        match self.0.into_payload().kind {
            Kind::Monitor(mut monitor) => (
                Down {
                    id: monitor.target,
                    reason: monitor
                        .reason
                        .take()
                        .expect("a notice is sent after its reason is written"),
                },
                monitor.link,
            ),
            Kind::Stopped(_) => unreachable!("only monitor entries are sent as notices"),
        }
    }
}

/// Makes `watcher` monitor `target`.
pub(crate) fn monitor<W: Actor, T: Actor>(
    watcher: &Address<W>,
    target: &Address<T>,
) -> Result<Monitor, ControlError> {
    watch(watcher, target, false)
}

/// Links `a` and `b`: each watches the other through a link's monitor, whose notice
/// travels at high priority (a failure takes the partner down before its queued
/// normal messages, as a kill would).
pub(crate) fn link<A: Actor, B: Actor>(a: &Address<A>, b: &Address<B>) -> Result<(), ControlError> {
    let a_watches_b = watch(a, b, true)?;
    match watch(b, a, true) {
        Ok(b_watches_a) => {
            drop((a_watches_b, b_watches_a));
            Ok(())
        }
        Err(error) => {
            // Half a link is no link: take the first half back (if `b` has ended
            // meanwhile, its `Down` is already on its way to `a`, as a link's).
            let _ = a_watches_b.demonitor();
            Err(error)
        }
    }
}

/// Makes `watcher` monitor `target`, as half of a link if `link`.
fn watch<W: Actor, T: Actor>(
    watcher: &Address<W>,
    target: &Address<T>,
    link: bool,
) -> Result<Monitor, ControlError> {
    let out_of_memory = || ControlError::new(Undelivered::OutOfMemory);
    let priority = if link {
        Priority::High
    } else {
        Priority::Normal
    };
    let notice = Envelope::new_in(watcher.cell().home(), priority, Mail::<W::Message>::Wake)
        .map_err(|_| out_of_memory())?;
    // SAFETY: the job is a `Cell<T>`'s. The `'static` is what the weak count makes
    // true: the entry's node holds a weak reference on the target's cell for as long
    // as it lives (as a request's does).
    let shelter: &'static Shelter<T> = unsafe { Shelter::from_job(target.job()) };
    let (entry, pending) = Envelope::new_request_in(shelter, Priority::Normal, |reply| {
        Entry::new(Kind::Monitor(MonitorEntry {
            reply: Some(reply),
            watcher: Some(watcher.job().clone()),
            notice: Some(notice.into_raw()),
            target: target.id(),
            reason: None,
            link,
            vtable: &VTableFor::<W>::VTABLE,
        }))
    })
    .map_err(|_| out_of_memory())?;
    let cell = target.cell();
    cell.watch
        .add(&*cell.home, entry)
        .map_err(|_| out_of_memory())?;
    Ok(Monitor {
        pending: Some(pending),
        target: target.id(),
    })
}

/// Fires a monitor's entry (the target ended with `reason`).
pub(crate) fn fire(mut entry: Envelope<'static, Entry>, reason: &StopReason) {
    let Kind::Monitor(monitor) = &mut entry.payload_mut().kind else {
        unreachable!("called for monitor entries")
    };
    let Some(reply) = monitor.reply.take() else {
        return;
    };
    if !reply.send_unless_cancelled(()) {
        // Taken back first: dropping the entry frees the notice.
        return;
    }
    monitor.reason = Some(reason.clone());
    let (Some(watcher), Some(notice)) = (monitor.watcher.take(), monitor.notice.take()) else {
        unreachable!("an entry fires once")
    };
    let deliver = monitor.vtable.deliver;
    // SAFETY: the notice is ours (taken out of the entry), a `W` node of this vtable's.
    unsafe { deliver(watcher, notice, entry) };
}

/// # Safety
///
/// `watcher` is a `Cell<W>`'s job; `notice` is an unsent node of its inbox's type,
/// owned by the caller and given up.
unsafe fn deliver<W: Actor>(
    watcher: JobRef,
    notice: NonNull<Header>,
    entry: Envelope<'static, Entry>,
) {
    // SAFETY: the caller's duty.
    let mut node = unsafe { Envelope::<'static, Mail<W::Message>>::from_raw(notice) };
    *node.payload_mut() = Mail::Down(Notice(entry));
    // SAFETY: the caller's duty: a `Cell<W>`'s job.
    let address = unsafe { Address::<W>::from_job(watcher) };
    // Refused: the watcher has ended (or its scheduler has stopped): nobody to tell;
    // the notice is dropped with the entry in it.
    if let Err((mail, _)) = address.push(node) {
        drop(mail);
    }
}

/// # Safety
///
/// `notice` is an unsent node of a `Cell<W>`'s inbox type, owned by the caller and given
/// up.
unsafe fn discard<W: Actor>(notice: NonNull<Header>) {
    // SAFETY: the caller's duty.
    drop(unsafe { Envelope::<'static, Mail<W::Message>>::from_raw(notice) });
}
