//! Timers for local actors: [`LocalAddress::send_after`], [`send_interval`],
//! [`stop_after`], [`kill_after`] (and the same on [`LocalContext`]), and the
//! [`LocalTimer`] handle.
//!
//! The same timers as the thread-safe ones (`crate::time`), on the same wheel
//! (zeta-scheduler's [`Timers`](zeta_scheduler::Timers), whose entry protocol decides
//! fire against cancel exactly once): one per [`LocalSystem`], on a real clock, or on
//! a virtual one ([`LocalSystemBuilder::virtual_clock`]) that only
//! [`LocalSystem::advance`] moves. The system's loop looks at the wheel every 16 runs
//! and whenever nothing is ready, and fires what is due on its own thread; an entry
//! holds a [`LocalAddress`] of its target and its payload (the message already in its
//! node: firing allocates nothing), so an entry, and its handle, stay on the system's
//! thread: [`LocalTimer`] is neither `Send` nor `Sync`.
//!
//! The guarantees are the thread-safe ones ("Guarantees" in `crate::time`): never
//! early; delivered, cancelled or dropped at the system's stop, exactly one of the
//! three; deadline order, ties in arming order (or by the seed); a repeating timer
//! skips missed periods and stops when cancelled, when its target stops, or when its
//! maker panics; a pending timer holds its target like an address.
//!
//! [`send_interval`]: LocalAddress::send_interval
//! [`stop_after`]: LocalAddress::stop_after
//! [`kill_after`]: LocalAddress::kill_after
//! [`LocalSystem`]: crate::local::LocalSystem
//! [`LocalSystem::advance`]: crate::local::LocalSystem::advance
//! [`LocalSystemBuilder::virtual_clock`]: crate::local::LocalSystemBuilder::virtual_clock

use core::alloc::Layout;
use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use zeta_arena::MemoryResource;
use zeta_mailbox::{Envelope, Priority};
use zeta_scheduler::{CancelOutcome, Fire, TimerHeader, TimerVTable};

use crate::error::{ControlError, SendError, Undelivered};
use crate::local::actor::{LocalActor, LocalContext};
use crate::local::address::LocalAddress;
use crate::local::cell::Mail;
use crate::local::reply::Expirer;
use crate::time::Handle;

/// A handle to an armed local timer: cancel it, or ask whether it is pending. Dropping
/// it leaves the timer armed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zeta::local::{LocalActor, LocalContext, LocalSystem};
/// use zeta::CancelOutcome;
///
/// struct Order(Vec<&'static str>);
/// impl LocalActor for Order {
///     type Message = &'static str;
///     fn handle(&mut self, event: &'static str, _ctx: &mut LocalContext<'_, Self>) {
///         self.0.push(event);
///     }
/// }
///
/// let system = LocalSystem::builder().virtual_clock().build().unwrap();
/// let order = system.spawn(Order(Vec::new())).unwrap();
/// let timeout = order.send_after(Duration::from_millis(500), "timeout").unwrap();
/// order.send("fill").unwrap();
/// system.run_until_idle().unwrap();
/// assert_eq!(timeout.cancel(), CancelOutcome::Cancelled); // filled in time
/// assert_eq!(system.advance(Duration::from_secs(1)).unwrap().messages, 0);
/// ```
pub struct LocalTimer {
    handle: Handle,
    /// Neither `Send` nor `Sync`: the cancel drops a local payload here.
    _local: PhantomData<*const ()>,
}

impl LocalTimer {
    /// Cancels the timer: [`CancelOutcome::Cancelled`] if it had not fired (it never
    /// will; its message was dropped here), [`CancelOutcome::Fired`] if a one-shot
    /// timer had fired, [`CancelOutcome::Dropped`] if its system stopped first.
    pub fn cancel(self) -> CancelOutcome {
        self.handle.cancel()
    }

    /// Whether the timer may still fire (a snapshot).
    pub fn is_pending(&self) -> bool {
        self.handle.is_pending()
    }
}

impl fmt::Debug for LocalTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalTimer")
            .field("pending", &self.is_pending())
            .finish()
    }
}

/// An entry: the header first, then the target and the payload.
#[repr(C)]
struct Entry<A: LocalActor, P> {
    header: TimerHeader,
    target: ManuallyDrop<LocalAddress<A>>,
    payload: UnsafeCell<ManuallyDrop<P>>,
}

/// A one-shot payload.
enum Once<M: 'static> {
    Message(Envelope<'static, Mail<M>>),
    Stop,
    Kill,
}

/// A repeating payload.
struct Every<F> {
    make: F,
    period: u64,
    priority: Priority,
}

/// What a payload does when its entry fires.
pub(crate) trait Payload<A: LocalActor>: Sized + 'static {
    const REPEATING: bool;
    fn fire(target: &LocalAddress<A>, this: FireWith<'_, Self>) -> Fire;
}

/// The payload, moved out for a one-shot entry, borrowed for a repeating one.
pub(crate) enum FireWith<'a, P> {
    Owned(P),
    Borrowed(&'a mut P),
}

impl<A: LocalActor> Payload<A> for Once<A::Message> {
    const REPEATING: bool = false;

    fn fire(target: &LocalAddress<A>, this: FireWith<'_, Self>) -> Fire {
        let FireWith::Owned(payload) = this else {
            unreachable!("a one-shot payload is moved out to fire")
        };
        match payload {
            // A target that has stopped hands the node back: dropped here.
            Once::Message(envelope) => drop(target.push(envelope)),
            Once::Stop => drop(target.stop()),
            Once::Kill => drop(target.kill()),
        }
        Fire::Once
    }
}

impl<A: LocalActor, F: FnMut() -> A::Message + 'static> Payload<A> for Every<F> {
    const REPEATING: bool = true;

    fn fire(target: &LocalAddress<A>, this: FireWith<'_, Self>) -> Fire {
        let FireWith::Borrowed(every) = this else {
            unreachable!("a repeating payload is borrowed to fire")
        };
        match target.send_with(ascribe((every.make)()), every.priority) {
            Ok(()) => Fire::Again(every.period),
            Err(error) if error.reason() == Undelivered::OutOfMemory => Fire::Again(every.period),
            // The target (or its system) has stopped: so does the timer.
            Err(_) => Fire::Once,
        }
    }
}

impl<A: LocalActor, T: 'static> Payload<A> for Expirer<T> {
    const REPEATING: bool = false;

    fn fire(_target: &LocalAddress<A>, this: FireWith<'_, Self>) -> Fire {
        let FireWith::Owned(expirer) = this else {
            unreachable!("a one-shot payload is moved out to fire")
        };
        expirer.expire();
        Fire::Once
    }
}

/// The identity, naming the message type for inference.
#[inline(always)]
fn ascribe<M>(message: M) -> M {
    message
}

struct VTableFor<A, P>(PhantomData<(A, P)>);

impl<A: LocalActor, P: Payload<A>> VTableFor<A, P> {
    const VTABLE: TimerVTable = TimerVTable {
        fire: fire::<A, P>,
        discard: discard::<A, P>,
        release: release::<A, P>,
    };
}

/// # Safety
///
/// `header` is an `Entry<A, P>`'s, alive, and the caller (the system's loop, on its
/// thread) holds the right to fire.
unsafe fn fire<A: LocalActor, P: Payload<A>>(header: NonNull<TimerHeader>) -> Fire {
    let entry = header.cast::<Entry<A, P>>();
    // SAFETY: alive (the caller's duty); the target is initialised until `release`.
    let target = unsafe { &*(*entry.as_ptr()).target };
    let fired = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the right to fire makes the payload ours: a one-shot payload is moved
        // out once (never discarded after firing); a repeating one is borrowed.
        unsafe {
            let payload = (*entry.as_ptr()).payload.get();
            if P::REPEATING {
                P::fire(target, FireWith::Borrowed(&mut **payload))
            } else {
                P::fire(target, FireWith::Owned(ManuallyDrop::take(&mut *payload)))
            }
        }
    }));
    fired.unwrap_or(Fire::Once)
}

/// # Safety
///
/// `header` is an `Entry<A, P>`'s, alive; the caller owns the payload, still in place.
unsafe fn discard<A: LocalActor, P: Payload<A>>(header: NonNull<TimerHeader>) {
    let entry = header.cast::<Entry<A, P>>();
    // SAFETY: the caller's duty; dropped once. A panicking drop is contained.
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
        ManuallyDrop::drop(&mut *(*entry.as_ptr()).payload.get());
    }));
}

/// # Safety
///
/// `header` is an `Entry<A, P>`'s, allocated by `arm::<A, P>`, and its last reference
/// is gone (on the system's thread: the handle and the wheel are both there).
unsafe fn release<A: LocalActor, P: Payload<A>>(header: NonNull<TimerHeader>) {
    let entry = header.cast::<Entry<A, P>>();
    // SAFETY: the last reference: the entry is ours. The target is moved out first: it
    // keeps the cell, hence the home, alive while the block goes back.
    unsafe {
        let target = ManuallyDrop::take(&mut (*entry.as_ptr()).target);
        target
            .home()
            .deallocate(entry.cast(), Layout::new::<Entry<A, P>>());
        let _ = catch_unwind(AssertUnwindSafe(move || drop(target)));
    }
}

/// # Safety
///
/// `header` is an entry of an `A` target, and the caller holds a reference.
unsafe fn cancel<A: LocalActor>(header: NonNull<TimerHeader>) -> CancelOutcome {
    // The target is at the same offset in every `Entry<A, P>` (`repr(C)`, after the
    // header): read it through the one-shot layout.
    let entry = header.cast::<Entry<A, Once<A::Message>>>();
    // SAFETY: alive (the caller's reference); the target is initialised until release.
    let target = unsafe { &*(*entry.as_ptr()).target };
    // SAFETY: the caller holds a reference; the entry was armed on these timers.
    unsafe { target.shared().timers().cancel(header) }
}

pub(crate) enum Deadline {
    After(Duration),
    At(Instant),
}

/// Allocates, fills and arms an entry for `target`; on failure the payload comes back.
pub(crate) fn arm<A: LocalActor, P: Payload<A>>(
    target: &LocalAddress<A>,
    deadline: Deadline,
    payload: P,
) -> Result<LocalTimer, (P, Undelivered)> {
    let shared = target.shared();
    if shared.is_stopped() {
        return Err((payload, Undelivered::SchedulerStopped));
    }
    if !target.accepts() {
        return Err((payload, Undelivered::ActorStopped));
    }
    let timers = shared.timers();
    let deadline = match deadline {
        Deadline::After(delay) => {
            let now = timers.now();
            now.checked_add(delay)
                .or_else(|| now.checked_add(Duration::from_secs(1 << 32)))
        }
        Deadline::At(instant) => Some(instant),
    };
    let Some(deadline) = deadline else {
        return Err((payload, Undelivered::BadTime));
    };
    let Ok(block) = target.home().allocate(Layout::new::<Entry<A, P>>()) else {
        return Err((payload, Undelivered::OutOfMemory));
    };
    let entry = block.cast::<Entry<A, P>>();
    // SAFETY: a fresh block, sized and aligned for the entry, ours alone.
    unsafe {
        entry.as_ptr().write(Entry {
            header: TimerHeader::new(&VTableFor::<A, P>::VTABLE, 2, P::REPEATING),
            target: ManuallyDrop::new(target.clone()),
            payload: UnsafeCell::new(ManuallyDrop::new(payload)),
        })
    };
    let header = entry.cast::<TimerHeader>();
    // SAFETY: a live entry made with `TimerHeader::new`, never armed; its vtable is
    // this module's, which does not unwind. Nothing is woken: the system's own loop is
    // the only driver, and it looks at the wheel before it parks.
    match unsafe { timers.arm(header, deadline) } {
        Ok(_) => Ok(LocalTimer {
            // SAFETY: the handle's reference (the entry was made with two: the wheel's
            // and this one), on an entry of an `A` target.
            handle: unsafe { Handle::new(header, cancel::<A>) },
            _local: PhantomData,
        }),
        // SAFETY: refused (closed timers): still ours alone.
        Err(_) => Err((unsafe { take_back(entry) }, Undelivered::SchedulerStopped)),
    }
}

/// Takes the payload out of an entry that was never armed, and frees the entry.
///
/// # Safety
///
/// `entry` was made by `arm`, never armed, and nobody else has it.
unsafe fn take_back<A: LocalActor, P: Payload<A>>(entry: NonNull<Entry<A, P>>) -> P {
    // SAFETY: ours alone; the payload is moved out once, and the two releases (the
    // handle's and the wheel's references) free the entry without touching it.
    unsafe {
        let payload = ManuallyDrop::take(&mut *(*entry.as_ptr()).payload.get());
        let header = entry.cast::<TimerHeader>();
        TimerHeader::release(header);
        TimerHeader::release(header);
        payload
    }
}

impl<A: LocalActor> LocalAddress<A> {
    /// Sends `message` at normal priority once `delay` has passed on the system's
    /// clock. The node is allocated now: the firing allocates nothing.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message: the actor or the system has stopped, the
    /// deadline is out of the clock's range ([`Undelivered::BadTime`]), or no memory.
    pub fn send_after(
        &self,
        delay: Duration,
        message: A::Message,
    ) -> Result<LocalTimer, SendError<A::Message>> {
        self.send_timed(Deadline::After(delay), Priority::Normal, message)
    }

    /// [`send_after`](Self::send_after) at a point on the system's clock
    /// ([`LocalSystem::now`](crate::local::LocalSystem::now)).
    ///
    /// # Errors
    ///
    /// As [`send_after`](Self::send_after).
    pub fn send_at(
        &self,
        deadline: Instant,
        message: A::Message,
    ) -> Result<LocalTimer, SendError<A::Message>> {
        self.send_timed(Deadline::At(deadline), Priority::Normal, message)
    }

    /// [`send_after`](Self::send_after) at `priority`.
    ///
    /// # Errors
    ///
    /// As [`send_after`](Self::send_after).
    pub fn send_after_with(
        &self,
        delay: Duration,
        priority: Priority,
        message: A::Message,
    ) -> Result<LocalTimer, SendError<A::Message>> {
        self.send_timed(Deadline::After(delay), priority, message)
    }

    fn send_timed(
        &self,
        deadline: Deadline,
        priority: Priority,
        message: A::Message,
    ) -> Result<LocalTimer, SendError<A::Message>> {
        let envelope = match Envelope::new_in(self.home(), priority, Mail::User(message)) {
            Ok(envelope) => envelope,
            Err(failed) => {
                let message = (failed.payload).into_user();
                return Err(SendError::new(message, Undelivered::OutOfMemory));
            }
        };
        arm(self, deadline, Once::Message(envelope)).map_err(|(payload, reason)| {
            let Once::Message(envelope) = payload else {
                unreachable!("the payload given back is the one given")
            };
            let message = (envelope.into_payload()).into_user();
            SendError::new(message, reason)
        })
    }

    /// Sends `make()` at normal priority every `period`, the first after one period,
    /// until the timer is cancelled, the actor stops, or `make` panics. Each tick takes
    /// a node from the system's resource (a pool: no global allocation); missed periods
    /// are skipped.
    ///
    /// # Errors
    ///
    /// [`ControlError`]: the actor or the system has stopped, no memory, or `period`
    /// is zero ([`Undelivered::BadTime`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeta::local::{LocalActor, LocalContext, LocalSystem};
    ///
    /// struct Game { frames: u32 }
    /// impl LocalActor for Game {
    ///     type Message = ();
    ///     fn handle(&mut self, _tick: (), _ctx: &mut LocalContext<'_, Self>) {
    ///         self.frames += 1;
    ///     }
    /// }
    ///
    /// let system = LocalSystem::builder().virtual_clock().build().unwrap();
    /// let game = system.spawn(Game { frames: 0 }).unwrap();
    /// let tick = game.send_interval(Duration::from_micros(16_667), || ()).unwrap();
    /// // A minute of 60 Hz frames, in the time the handler takes.
    /// assert_eq!(system.advance(Duration::from_secs(60)).unwrap().messages, 3599);
    /// tick.cancel();
    /// ```
    pub fn send_interval<F>(&self, period: Duration, make: F) -> Result<LocalTimer, ControlError>
    where
        F: FnMut() -> A::Message + 'static,
    {
        self.send_interval_with(period, Priority::Normal, make)
    }

    /// [`send_interval`](Self::send_interval) at `priority`.
    ///
    /// # Errors
    ///
    /// As [`send_interval`](Self::send_interval).
    pub fn send_interval_with<F>(
        &self,
        period: Duration,
        priority: Priority,
        make: F,
    ) -> Result<LocalTimer, ControlError>
    where
        F: FnMut() -> A::Message + 'static,
    {
        if period.is_zero() {
            return Err(ControlError::new(Undelivered::BadTime));
        }
        let every = Every {
            make,
            period: u64::try_from(period.as_nanos()).unwrap_or(u64::MAX),
            priority,
        };
        arm(self, Deadline::After(period), every).map_err(|(every, reason)| {
            drop(every);
            ControlError::new(reason)
        })
    }

    /// Stops the actor (as [`stop`](Self::stop)) once `delay` has passed.
    ///
    /// # Errors
    ///
    /// [`ControlError`]: the actor or the system has stopped, or no memory.
    pub fn stop_after(&self, delay: Duration) -> Result<LocalTimer, ControlError> {
        arm(self, Deadline::After(delay), Once::<A::Message>::Stop)
            .map_err(|(_, reason)| ControlError::new(reason))
    }

    /// Kills the actor (as [`kill`](Self::kill)) once `delay` has passed: a watchdog.
    ///
    /// # Errors
    ///
    /// As [`stop_after`](Self::stop_after).
    pub fn kill_after(&self, delay: Duration) -> Result<LocalTimer, ControlError> {
        arm(self, Deadline::After(delay), Once::<A::Message>::Kill)
            .map_err(|(_, reason)| ControlError::new(reason))
    }
}

impl<A: LocalActor> LocalContext<'_, A> {
    /// The system's clock (virtual or real).
    pub fn now(&self) -> Instant {
        self.address().shared().timers().now()
    }

    /// Sends `message` to this actor once `delay` has passed
    /// ([`LocalAddress::send_after`]).
    ///
    /// # Errors
    ///
    /// As [`LocalAddress::send_after`].
    pub fn send_after(
        &self,
        delay: Duration,
        message: A::Message,
    ) -> Result<LocalTimer, SendError<A::Message>> {
        self.address().send_after(delay, message)
    }

    /// Sends `make()` to this actor every `period` ([`LocalAddress::send_interval`]).
    ///
    /// # Errors
    ///
    /// As [`LocalAddress::send_interval`].
    pub fn send_interval<F>(&self, period: Duration, make: F) -> Result<LocalTimer, ControlError>
    where
        F: FnMut() -> A::Message + 'static,
    {
        self.address().send_interval(period, make)
    }
}
