//! [`LocalActor`], the trait of an actor that lives on one thread, and
//! [`LocalContext`], what its handlers get.

use core::mem::ManuallyDrop;
use core::ptr::NonNull;

use crate::actor::StopReason;
use crate::error::SpawnError;
use crate::identity::ActorId;
use crate::local::address::LocalAddress;
use crate::local::cell::{Header, LocalCell};
use crate::local::system::LocalSystem;

/// An actor of a [`LocalSystem`]: an [`Actor`](crate::Actor) that need not be `Send`,
/// nor its messages.
///
/// The same shape and the same lifecycle as [`Actor`](crate::Actor): `on_start` at the
/// first run, `handle` once per message (high priority first, FIFO per priority),
/// `on_stop` once with the [`StopReason`] if `on_start` ran, then the drop. A panic in a
/// handler or a hook is caught at the run's boundary, as on a thread-safe scheduler: the
/// actor stops with [`StopReason::Panicked`] and the system goes on.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use zeta::local::{LocalActor, LocalContext, LocalSystem};
///
/// // `Rc<RefCell<..>>` state: not `Send`, and it need not be.
/// struct Tally(Rc<RefCell<Vec<u32>>>);
///
/// impl LocalActor for Tally {
///     type Message = u32;
///     fn handle(&mut self, n: u32, _ctx: &mut LocalContext<'_, Self>) {
///         self.0.borrow_mut().push(n);
///     }
/// }
///
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let system = LocalSystem::new(64).unwrap();
/// let tally = system.spawn(Tally(seen.clone())).unwrap();
/// tally.send(1).unwrap();
/// tally.send_high(2).unwrap();
/// system.run_until_idle().unwrap();
/// assert_eq!(*seen.borrow(), [2, 1]); // high before normal
/// ```
pub trait LocalActor: Sized + 'static {
    /// What the actor receives.
    type Message: 'static;

    /// Handles one message.
    fn handle(&mut self, message: Self::Message, ctx: &mut LocalContext<'_, Self>);

    /// Runs at the first run, before the first message.
    fn on_start(&mut self, ctx: &mut LocalContext<'_, Self>) {
        let _ = ctx;
    }

    /// Runs once when the actor ends, if [`on_start`](LocalActor::on_start) ran; the
    /// actor is dropped right after. A panic here is caught and ignored.
    fn on_stop(&mut self, reason: StopReason) {
        let _ = reason;
    }
}

/// What a [`LocalActor`]'s handler gets besides the message: its own address, its
/// system (to spawn, to ask), and the way to stop.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use zeta::local::{LocalActor, LocalAddress, LocalContext, LocalSystem};
///
/// type Log = Rc<RefCell<Vec<u32>>>;
///
/// struct Helper(Log);
/// impl LocalActor for Helper {
///     type Message = u32;
///     fn handle(&mut self, n: u32, _ctx: &mut LocalContext<'_, Self>) {
///         self.0.borrow_mut().push(n);
///     }
/// }
///
/// /// Spawns a helper when it starts, hands it work, and stops on `None`.
/// struct Boss {
///     log: Log,
///     helper: Option<LocalAddress<Helper>>,
/// }
/// impl LocalActor for Boss {
///     type Message = Option<u32>;
///     fn on_start(&mut self, ctx: &mut LocalContext<'_, Self>) {
///         self.helper = Some(ctx.spawn(Helper(self.log.clone())).unwrap());
///     }
///     fn handle(&mut self, work: Option<u32>, ctx: &mut LocalContext<'_, Self>) {
///         match (work, &self.helper) {
///             (Some(n), Some(helper)) => helper.send(n * 10).unwrap(),
///             _ => ctx.stop(), // what is still queued is dropped
///         }
///     }
/// }
///
/// let log = Log::default();
/// let system = LocalSystem::new(64).unwrap();
/// let boss = system.spawn(Boss { log: log.clone(), helper: None }).unwrap();
/// for work in [Some(1), Some(2), None, Some(3)] {
///     boss.send(work).unwrap();
/// }
/// system.run_until_idle().unwrap();
/// assert_eq!(*log.borrow(), [10, 20]);
/// assert!(!boss.is_alive());
/// ```
pub struct LocalContext<'a, A: LocalActor> {
    cell: &'a LocalCell<A>,
    /// A view of the running actor's address: made without a count, never dropped.
    address: ManuallyDrop<LocalAddress<A>>,
    stop: bool,
}

impl<'a, A: LocalActor> LocalContext<'a, A> {
    /// The context of the actor in `cell`, which its runner holds.
    #[inline(always)]
    pub(crate) fn new(cell: &'a LocalCell<A>) -> Self {
        // SAFETY: the view is never dropped (`ManuallyDrop`), so it gives back no count
        // it did not take; the runner's hold keeps the cell alive for `'a`.
        let address = ManuallyDrop::new(unsafe {
            LocalAddress::from_header(NonNull::from(cell).cast::<Header>())
        });
        Self {
            cell,
            address,
            stop: false,
        }
    }

    /// Whether the handler asked to stop.
    #[inline(always)]
    pub(crate) fn stop_requested(&self) -> bool {
        self.stop
    }

    /// The running actor's address (clone it to keep it: a clone is a plain increment).
    pub fn address(&self) -> &LocalAddress<A> {
        &self.address
    }

    /// The running actor's id.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// The system the actor runs on.
    pub fn system(&self) -> LocalSystem {
        self.cell.system()
    }

    /// Spawns an actor on the same system.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] (with the actor back) if the memory resource has no room.
    pub fn spawn<C: LocalActor>(&self, actor: C) -> Result<LocalAddress<C>, SpawnError<C>> {
        self.cell.shared().spawn(actor, None)
    }

    /// Spawns a child with a `name` (see [`LocalSystem::spawn_named`](crate::local::LocalSystem::spawn_named)).
    ///
    /// # Errors
    ///
    /// [`SpawnError`] (with the actor back) if the memory resource has no room.
    pub fn spawn_named<C: LocalActor>(
        &self,
        name: &'static str,
        actor: C,
    ) -> Result<LocalAddress<C>, SpawnError<C>> {
        self.cell.shared().spawn(actor, Some(name))
    }

    /// The name the actor was spawned with, if any.
    pub fn name(&self) -> Option<&'static str> {
        self.cell.name
    }

    /// Stops the actor after the current message: the messages still queued are
    /// dropped (their requests resolve with an error), and it ends with
    /// [`StopReason::Stopped`].
    pub fn stop(&mut self) {
        self.stop = true;
    }
}
