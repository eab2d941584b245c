//! Timers for actors: [`Address::send_after`], [`Address::send_interval`],
//! [`Address::stop_after`], [`Address::kill_after`] (and
//! [`Context::send_after`](crate::Context::send_after) and
//! [`Context::send_interval`](crate::Context::send_interval) for the actor itself), and
//! the [`Timer`] handle that cancels them.
//!
//! # How a timer is made, fired and freed
//!
//! Arming allocates one *entry* from the target actor's memory resource (it holds an
//! address of the target, which keeps the cell and its resource alive): a
//! [`TimerHeader`] (zeta-scheduler's; its state word decides fire against cancel), the
//! target's address, and the payload. For [`send_after`](Address::send_after) the
//! payload is the message *already in its node*, allocated now from the same resource:
//! firing is the push of that node onto the inbox (and the scheduling the push may
//! call for), so a firing timer allocates nothing. A repeating timer
//! ([`send_interval`](Address::send_interval)) keeps a maker closure and takes a node
//! from the target's resource for each tick (from a pool: no global allocation in
//! steady state); a delayed [`stop`](Address::stop_after) or
//! [`kill`](Address::kill_after) carries nothing and allocates nothing when it fires.
//!
//! The entry is armed on the target's scheduler's [`Timers`](zeta_scheduler::Timers):
//! the [`SharingScheduler`](zeta_scheduler::SharingScheduler)'s real clock (its
//! workers fire timers; an idle worker parks until the earliest deadline), or the
//! [`ManualScheduler`](zeta_scheduler::ManualScheduler)'s virtual clock, which moves
//! only with `advance`/`advance_to`. A scheduler without timers refuses:
//! [`Undelivered::NoTimers`], the message handed back.
//!
//! # Guarantees
//!
//! - **Never early.** A timer fires when its scheduler's clock has reached its
//!   deadline, never before. How late depends on the scheduler (BENCHMARKS.md,
//!   "Timers").
//! - **Exactly once.** A one-shot timer is delivered, or cancelled ([`Timer::cancel`]
//!   returns [`CancelOutcome::Cancelled`], and the message was dropped), or dropped
//!   undelivered because its scheduler stopped: exactly one of these. A message whose
//!   target has stopped by the time it fires is dropped (the request inside it, if
//!   any, resolves with an error): its node is freed then.
//! - **Order.** Timers fire in deadline order; equal deadlines in arming order (on a
//!   seeded `ManualScheduler`, in an order drawn from the seed). A fired message joins
//!   the target's inbox like a send from the thread that fired it.
//! - **Repeating.** A [`send_interval`](Address::send_interval) fires at `start +
//!   k × period`; periods missed while the scheduler could not fire (a busy or
//!   suspended machine) are skipped, not bunched. It stops when cancelled, when its
//!   target stops, or when its maker panics. A cancel while a tick is being delivered
//!   lets that tick arrive, and no tick after it.
//! - **References.** A pending timer holds its target like an address does, until it
//!   fires or is cancelled. Dropping the [`Timer`] handle does not cancel the timer.

use core::alloc::Layout;
use core::fmt;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use zeta_arena::MemoryResource;
use zeta_mailbox::{Envelope, Priority};
use zeta_scheduler::{Armed, CancelOutcome, Fire, TimerHeader, TimerVTable};

use crate::actor::Actor;
use crate::address::Address;
use crate::cell::Mail;
use crate::continuation::Expiry;
use crate::error::{ControlError, SendError, Undelivered};

/// A handle to an armed timer: cancel it, or ask whether it is still pending.
///
/// Dropping the handle leaves the timer armed. The handle is one entry reference and a
/// function pointer: `Send` and `Sync`, and cancelling works from any thread.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use zeta::{Actor, CancelOutcome, Context, System};
///
/// struct Order { filled: bool, timed_out: bool }
/// enum Event { Fill, Timeout }
/// impl Actor for Order {
///     type Message = Event;
///     fn handle(&mut self, event: Event, _ctx: &mut Context<'_, Self>) {
///         match event {
///             Event::Fill => self.filled = true,
///             Event::Timeout => self.timed_out = true,
///         }
///     }
/// }
///
/// let system = System::manual(64).unwrap();
/// let order = system.spawn(Order { filled: false, timed_out: false }).unwrap();
/// let timeout = order.send_after(Duration::from_millis(500), Event::Timeout).unwrap();
/// order.send(Event::Fill).unwrap();
/// system.scheduler().run_until_idle().unwrap();
/// // Filled in time: the timeout is cancelled, and never delivered.
/// assert_eq!(timeout.cancel(), CancelOutcome::Cancelled);
/// system.scheduler().advance(Duration::from_secs(1)).unwrap();
/// ```
pub struct Timer(Handle);

/// What a timer handle is, thread-safe ([`Timer`]) or local
/// ([`LocalTimer`](crate::local::LocalTimer)): one reference on the entry, and the
/// cancel for its target's kind (monomorphised per actor type). The wrappers add only
/// whether the handle may cross threads.
pub(crate) struct Handle {
    entry: NonNull<TimerHeader>,
    cancel: unsafe fn(NonNull<TimerHeader>) -> CancelOutcome,
}

impl Handle {
    /// A handle over one reference on `entry`.
    ///
    /// # Safety
    ///
    /// The caller hands over one reference on a live, armed `entry`, and `cancel` is the
    /// one for the entry's type (it may be called with a reference held).
    pub(crate) unsafe fn new(
        entry: NonNull<TimerHeader>,
        cancel: unsafe fn(NonNull<TimerHeader>) -> CancelOutcome,
    ) -> Self {
        Self { entry, cancel }
    }

    /// Cancels, and gives up the reference.
    pub(crate) fn cancel(self) -> CancelOutcome {
        let this = ManuallyDrop::new(self);
        // SAFETY: the handle's reference, given up once below; `cancel` is the entry's
        // (`new`'s contract).
        let outcome = unsafe { (this.cancel)(this.entry) };
        // SAFETY: the handle's reference, not used after this.
        unsafe { TimerHeader::release(this.entry) };
        outcome
    }

    /// Whether the timer may still fire (a snapshot).
    pub(crate) fn is_pending(&self) -> bool {
        // SAFETY: the handle holds a reference.
        unsafe { self.entry.as_ref() }.is_pending()
    }

    /// Gives the reference away (to a continuation's block).
    fn into_entry(self) -> NonNull<TimerHeader> {
        ManuallyDrop::new(self).entry
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle's reference, given up once; the timer stays armed.
        unsafe { TimerHeader::release(self.entry) };
    }
}

// SAFETY: the handle touches the entry's atomic state word and, when its cancel wins,
// drops the payload on the calling thread: a message (`Send`), a maker closure (required
// `Send`), or nothing. The entry's memory is freed by whichever holder is last, which
// any thread may be.
unsafe impl Send for Timer {}
// SAFETY: `&Timer` only reads the state word (`is_pending`).
unsafe impl Sync for Timer {}

impl Timer {
    /// Cancels the timer: [`CancelOutcome::Cancelled`] if it had not fired (it never
    /// will, and its message was dropped here); [`CancelOutcome::Fired`] if a one-shot
    /// timer had already fired (too late); [`CancelOutcome::Dropped`] if it was dropped
    /// undelivered because its scheduler stopped. A repeating timer answers `Cancelled`
    /// while it runs: no tick is delivered after the call (a tick being delivered at
    /// that moment still arrives).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeta::{Actor, CancelOutcome, Context, System};
    ///
    /// struct Nop;
    /// impl Actor for Nop {
    ///     type Message = ();
    ///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let nop = system.spawn(Nop).unwrap();
    /// let second = Duration::from_secs(1);
    /// let (early, late, never) = (
    ///     nop.send_after(second, ()).unwrap(),
    ///     nop.send_after(second, ()).unwrap(),
    ///     nop.send_after(10 * second, ()).unwrap(),
    /// );
    /// assert!(early.is_pending());
    /// assert_eq!(early.cancel(), CancelOutcome::Cancelled); // in time: never delivered
    /// assert_eq!(system.scheduler().advance(second).unwrap().messages, 1);
    /// assert!(!late.is_pending());
    /// assert_eq!(late.cancel(), CancelOutcome::Fired); // too late: delivered
    /// system.stop().unwrap();
    /// assert_eq!(never.cancel(), CancelOutcome::Dropped); // its scheduler stopped first
    /// ```
    pub fn cancel(self) -> CancelOutcome {
        self.0.cancel()
    }

    /// Whether the timer may still fire (a snapshot).
    pub fn is_pending(&self) -> bool {
        self.0.is_pending()
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("pending", &self.is_pending())
            .finish()
    }
}

/// An entry: the header first, then the target and the payload.
#[repr(C)]
struct Entry<A: Actor, P> {
    header: TimerHeader,
    target: ManuallyDrop<Address<A>>,
    payload: core::cell::UnsafeCell<ManuallyDrop<P>>,
}

/// A one-shot payload.
enum Once<M: Send + 'static> {
    Message(Envelope<'static, Mail<M>>),
    Stop,
    Kill,
}

/// The timer half of [`Context::ask_timeout`](crate::Context::ask_timeout): at the
/// deadline, the request's continuation is delivered unless its answer delivered it
/// first (`Expiry::expire`: exactly once against the answer). Dropped unfired (the
/// scheduler stopped), it lets the expiry go: the answer alone delivers then.
struct Expire(Expiry);

/// A repeating payload.
struct Every<F> {
    make: F,
    period: u64,
    priority: Priority,
}

/// What a payload does when its entry fires.
trait Payload<A: Actor>: Send + Sized + 'static {
    const REPEATING: bool;
    /// Fires; `Fire::Once` for one-shot payloads (moved out by the caller) and for a
    /// repeating one that stops.
    fn fire(this: FireWith<'_, A, Self>) -> Fire;
}

/// What `fire` is given: the target, and the payload (moved out for one-shot entries,
/// borrowed for repeating ones).
enum FireWith<'a, A: Actor, P> {
    Owned(&'a Address<A>, P),
    Borrowed(&'a Address<A>, &'a mut P),
}

impl<A: Actor> Payload<A> for Once<A::Message> {
    const REPEATING: bool = false;

    fn fire(this: FireWith<'_, A, Self>) -> Fire {
        let FireWith::Owned(target, payload) = this else {
            unreachable!("a one-shot payload is moved out to fire")
        };
        match payload {
            // A target that has stopped hands the message back: dropped here (a request
            // inside resolves with an error).
            Once::Message(envelope) => drop(target.push(envelope)),
            Once::Stop => drop(target.stop()),
            Once::Kill => drop(target.kill()),
        }
        Fire::Once
    }
}

impl<A: Actor> Payload<A> for Expire {
    const REPEATING: bool = false;

    fn fire(this: FireWith<'_, A, Self>) -> Fire {
        let FireWith::Owned(_, Expire(expiry)) = this else {
            unreachable!("a one-shot payload is moved out to fire")
        };
        expiry.expire();
        Fire::Once
    }
}

/// Arms the timeout of a continuation request on `asker`'s scheduler: `expiry` fires
/// `after` from now. The timer's handle goes to the continuation's block, which
/// cancels it once the continuation is consumed (`continuation.rs`, "The timeout's
/// timer"). If the timer cannot be armed (the scheduler stopped, or the resource has no
/// room for the entry), the request expires now.
pub(crate) fn arm_expiry<A: Actor>(asker: &Address<A>, after: Duration, expiry: Expiry) {
    let block = expiry.block_timer();
    match arm(asker, Deadline::After(after), Expire(expiry)) {
        Ok(timer) => {
            // SAFETY: the handle's reference goes to the block, for an entry whose target
            // is the asker, an `A`.
            unsafe { block.hand::<A>(timer.0.into_entry()) };
        }
        Err((Expire(expiry), _)) => {
            drop(block);
            expiry.expire();
        }
    }
}

/// Cancels a timer whose handle was handed to a continuation's block, and gives up the
/// handle's reference.
///
/// # Safety
///
/// `entry` carries a handle's reference (given up here, once) on an entry whose target
/// is an `A`.
pub(crate) unsafe fn cancel_handed<A: Actor>(entry: NonNull<TimerHeader>) {
    // The handle the caller's reference belongs to (the caller's duty), rebuilt: its
    // `cancel` gives the reference up after cancelling. Too late (`Fired`) or dropped
    // at a stop is fine: the entry then goes on its own.
    // SAFETY: the caller's reference, on an entry of an `A` target.
    let _ = unsafe { Handle::new(entry, cancel::<A>) }.cancel();
}

impl<A: Actor, F> Payload<A> for Every<F>
where
    F: FnMut() -> A::Message + Send + 'static,
{
    const REPEATING: bool = true;

    fn fire(this: FireWith<'_, A, Self>) -> Fire {
        let FireWith::Borrowed(target, every) = this else {
            unreachable!("a repeating payload is borrowed to fire")
        };
        let message = (every.make)();
        match target.deliver(every.priority, Mail::User(message)) {
            Ok(()) => Fire::Again(every.period),
            // No room for this tick's node: skip it, try the next.
            Err((_, Undelivered::OutOfMemory)) => Fire::Again(every.period),
            // The target (or its scheduler) has stopped: so does the timer.
            Err(_) => Fire::Once,
        }
    }
}

struct VTableFor<A, P>(core::marker::PhantomData<(A, P)>);

impl<A: Actor, P: Payload<A>> VTableFor<A, P> {
    const VTABLE: TimerVTable = TimerVTable {
        fire: fire::<A, P>,
        discard: discard::<A, P>,
        release: release::<A, P>,
    };
}

/// # Safety
///
/// `header` is an `Entry<A, P>`'s, alive, and the caller holds the right to fire.
unsafe fn fire<A: Actor, P: Payload<A>>(header: NonNull<TimerHeader>) -> Fire {
    let entry = header.cast::<Entry<A, P>>();
    // SAFETY: alive (the caller's duty); the target is initialised until `release`.
    let target = unsafe { &*(*entry.as_ptr()).target };
    let fired = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the right to fire makes the payload ours (zeta-scheduler's entry
        // protocol): a one-shot payload is moved out here, once (it is never discarded
        // after firing); a repeating one is borrowed for this firing.
        unsafe {
            let payload = (*entry.as_ptr()).payload.get();
            if P::REPEATING {
                P::fire(FireWith::Borrowed(target, &mut **payload))
            } else {
                P::fire(FireWith::Owned(target, ManuallyDrop::take(&mut *payload)))
            }
        }
    }));
    // A panic (a message's drop, a maker): a one-shot timer has fired; a repeating one
    // stops (its payload is then discarded by the driver).
    fired.unwrap_or(Fire::Once)
}

/// # Safety
///
/// `header` is an `Entry<A, P>`'s, alive; the caller owns the payload, which is still
/// in place (not moved out by `fire`).
unsafe fn discard<A: Actor, P: Payload<A>>(header: NonNull<TimerHeader>) {
    let entry = header.cast::<Entry<A, P>>();
    // SAFETY: the caller's duty; dropped once. A panicking drop is contained.
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
        ManuallyDrop::drop(&mut *(*entry.as_ptr()).payload.get());
    }));
}

/// # Safety
///
/// `header` is an `Entry<A, P>`'s, allocated by `arm::<A, P>`, and its last reference
/// is gone.
unsafe fn release<A: Actor, P: Payload<A>>(header: NonNull<TimerHeader>) {
    let entry = header.cast::<Entry<A, P>>();
    // SAFETY: the last reference: the entry is ours. The target is moved out first: it
    // keeps the cell, hence its `home`, alive while the block goes back to it.
    unsafe {
        let target = ManuallyDrop::take(&mut (*entry.as_ptr()).target);
        target
            .cell()
            .home()
            .deallocate(entry.cast(), Layout::new::<Entry<A, P>>());
        // A panicking drop here (an actor's drop, as the last address goes) must not
        // unwind into the wheel.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(target)));
    }
}

/// Cancels an `Entry<A, _>` through its target's scheduler.
///
/// # Safety
///
/// `header` is an entry of an `A` target, and the caller holds a reference.
unsafe fn cancel<A: Actor>(header: NonNull<TimerHeader>) -> CancelOutcome {
    // The target is at the same offset in every `Entry<A, P>` (`repr(C)`, after the
    // header); read it through the one-shot layout.
    let entry = header.cast::<Entry<A, Once<A::Message>>>();
    // SAFETY: alive (the caller's reference); the target is initialised until release.
    let target = unsafe { &*(*entry.as_ptr()).target };
    match target.scheduler().timers() {
        // SAFETY: the caller holds a reference.
        Some(timers) => unsafe { timers.cancel(header) },
        // Unreachable (the entry was armed on these timers), but safe: decide on the
        // entry alone.
        None => CancelOutcome::Dropped,
    }
}

/// Allocates, fills and arms an entry for `target`. On failure, the payload comes back
/// with the reason.
fn arm<A: Actor, P: Payload<A>>(
    target: &Address<A>,
    deadline: Deadline,
    payload: P,
) -> Result<Timer, (P, Undelivered)> {
    let Some(timers) = target.scheduler().timers() else {
        return Err((payload, Undelivered::NoTimers));
    };
    if !target.accepts() {
        return Err((payload, Undelivered::ActorStopped));
    }
    let deadline = match deadline {
        // Beyond what `Instant` can hold (some 136 years is the most asked for then):
        // it will not fire in this process's life, but it is armed like any other.
        Deadline::After(delay) => {
            let now = timers.now();
            now.checked_add(delay)
                .or_else(|| now.checked_add(Duration::from_secs(1 << 32)))
        }
        Deadline::At(instant) => Some(instant),
    };
    // From the actor's own memory, like its message nodes: the entry holds an address,
    // which keeps the cell and its `home` alive until the entry is freed (`release`).
    let Ok(block) = target.cell().home().allocate(Layout::new::<Entry<A, P>>()) else {
        return Err((payload, Undelivered::OutOfMemory));
    };
    let entry = block.cast::<Entry<A, P>>();
    // SAFETY: a fresh block, sized and aligned for the entry, ours alone.
    unsafe {
        entry.as_ptr().write(Entry {
            header: TimerHeader::new(&VTableFor::<A, P>::VTABLE, 2, P::REPEATING),
            target: ManuallyDrop::new(target.clone()),
            payload: core::cell::UnsafeCell::new(ManuallyDrop::new(payload)),
        })
    };
    let header = entry.cast::<TimerHeader>();
    let Some(deadline) = deadline else {
        // The clock cannot say when: take it all back.
        // SAFETY: never armed, ours alone.
        return Err((unsafe { take_back(entry) }, Undelivered::BadTime));
    };
    // SAFETY: a live entry made with `TimerHeader::new`, never armed; its vtable is
    // this module's, which upholds the contract (no unwinding out of it).
    match unsafe { timers.arm(header, deadline) } {
        Ok(armed) => {
            if armed == Armed::Earlier {
                target.scheduler().timer_armed_earlier();
            }
            // SAFETY: the handle's reference (the entry was made with two: the
            // wheel's and this one), on an entry of an `A` target.
            Ok(Timer(unsafe { Handle::new(header, cancel::<A>) }))
        }
        // SAFETY: refused: still ours alone.
        Err(_) => Err((unsafe { take_back(entry) }, Undelivered::SchedulerStopped)),
    }
}

/// Takes the payload out of an entry that was never armed, and frees the entry.
///
/// # Safety
///
/// `entry` was made by `arm`, never armed, and nobody else has it.
unsafe fn take_back<A: Actor, P: Payload<A>>(entry: NonNull<Entry<A, P>>) -> P {
    // SAFETY: ours alone (the caller's duty); the payload is moved out once, and the two
    // releases (the handle's and the wheel's references) free the entry, which
    // `release` does without touching the payload.
    unsafe {
        let payload = ManuallyDrop::take(&mut *(*entry.as_ptr()).payload.get());
        let header = entry.cast::<TimerHeader>();
        TimerHeader::release(header);
        TimerHeader::release(header);
        payload
    }
}

enum Deadline {
    After(Duration),
    At(Instant),
}

impl<A: Actor> Address<A> {
    /// Sends `message` at normal priority once `delay` has passed on the actor's
    /// scheduler's clock (virtual on a [`ManualScheduler`](crate::ManualScheduler)).
    ///
    /// The message's node is allocated now, from the actor's memory resource: the
    /// firing allocates nothing. See the [`Timer`] handle to cancel it, and the module
    /// guarantees (never early, exactly once).
    ///
    /// # Errors
    ///
    /// [`SendError`] with the message: the actor has stopped
    /// ([`Undelivered::ActorStopped`]), its scheduler has stopped or keeps no time
    /// ([`Undelivered::SchedulerStopped`], [`Undelivered::NoTimers`]), or its memory
    /// resource has no room ([`Undelivered::OutOfMemory`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeta::{Actor, Context, System};
    ///
    /// struct Alarm(Vec<&'static str>);
    /// impl Actor for Alarm {
    ///     type Message = &'static str;
    ///     fn handle(&mut self, what: &'static str, _ctx: &mut Context<'_, Self>) {
    ///         self.0.push(what);
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let alarm = system.spawn(Alarm(Vec::new())).unwrap();
    /// alarm.send_after(Duration::from_secs(30), "wake up").unwrap();
    /// let scheduler = system.scheduler();
    /// assert_eq!(scheduler.advance(Duration::from_secs(29)).unwrap().messages, 0);
    /// assert_eq!(scheduler.advance(Duration::from_secs(1)).unwrap().messages, 1);
    /// ```
    pub fn send_after(
        &self,
        delay: Duration,
        message: A::Message,
    ) -> Result<Timer, SendError<A::Message>> {
        self.send_timed(Deadline::After(delay), Priority::Normal, message)
    }

    /// [`send_after`](Address::send_after) at a point on the scheduler's clock (an
    /// `Instant` from [`Context::now`](crate::Context::now) or the scheduler's own
    /// `now`; a point already passed fires at the next look).
    ///
    /// # Errors
    ///
    /// As for `send_after`.
    pub fn send_at(
        &self,
        deadline: Instant,
        message: A::Message,
    ) -> Result<Timer, SendError<A::Message>> {
        self.send_timed(Deadline::At(deadline), Priority::Normal, message)
    }

    /// [`send_after`](Address::send_after) at `priority`.
    ///
    /// # Errors
    ///
    /// As for `send_after`.
    pub fn send_after_with(
        &self,
        delay: Duration,
        priority: Priority,
        message: A::Message,
    ) -> Result<Timer, SendError<A::Message>> {
        self.send_timed(Deadline::After(delay), priority, message)
    }

    fn send_timed(
        &self,
        deadline: Deadline,
        priority: Priority,
        message: A::Message,
    ) -> Result<Timer, SendError<A::Message>> {
        let envelope = match Envelope::new_in(self.cell().home(), priority, Mail::User(message)) {
            Ok(envelope) => envelope,
            Err(failed) => {
                return Err(SendError::new(
                    user(failed.payload),
                    Undelivered::OutOfMemory,
                ))
            }
        };
        arm(self, deadline, Once::Message(envelope)).map_err(|(payload, reason)| {
            let Once::Message(envelope) = payload else {
                unreachable!("the payload given back is the one given")
            };
            SendError::new(user(envelope.into_payload()), reason)
        })
    }

    /// Sends `make()` at normal priority every `period`, the first after one period,
    /// until the returned [`Timer`] is cancelled or the actor stops (or `make`
    /// panics). Each tick takes a node from the actor's memory resource (a pool: no
    /// global allocation in steady state); a tick for which the resource has no room
    /// is skipped. Missed periods are skipped, not bunched.
    ///
    /// # Errors
    ///
    /// [`ControlError`]: the actor or its scheduler has stopped, the scheduler keeps
    /// no time, the resource has no room for the timer, or `period` is zero
    /// ([`Undelivered::BadTime`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeta::{Actor, Context, System};
    ///
    /// struct Game { frames: u32 }
    /// impl Actor for Game {
    ///     type Message = ();
    ///     fn handle(&mut self, _tick: (), _ctx: &mut Context<'_, Self>) {
    ///         self.frames += 1;
    ///     }
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let game = system.spawn(Game { frames: 0 }).unwrap();
    /// let tick = game.send_interval(Duration::from_micros(16_667), || ()).unwrap();
    /// // A minute of 60 Hz frames, in the time the handler takes.
    /// let stats = system.scheduler().advance(Duration::from_secs(60)).unwrap();
    /// assert_eq!(stats.messages, 3599); // 60 s / 16.667 ms, rounded down
    /// tick.cancel();
    /// ```
    pub fn send_interval<F>(&self, period: Duration, make: F) -> Result<Timer, ControlError>
    where
        F: FnMut() -> A::Message + Send + 'static,
    {
        self.send_interval_with(period, Priority::Normal, make)
    }

    /// [`send_interval`](Address::send_interval) at `priority`.
    ///
    /// # Errors
    ///
    /// As for `send_interval`.
    pub fn send_interval_with<F>(
        &self,
        period: Duration,
        priority: Priority,
        make: F,
    ) -> Result<Timer, ControlError>
    where
        F: FnMut() -> A::Message + Send + 'static,
    {
        if period.is_zero() {
            return Err(ControlError::new(Undelivered::BadTime));
        }
        let nanos = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        let every = Every {
            make,
            period: nanos,
            priority,
        };
        arm(self, Deadline::After(period), every).map_err(|(every, reason)| {
            drop(every);
            ControlError::new(reason)
        })
    }

    /// Stops the actor (as [`stop`](Address::stop) does) once `delay` has passed. The
    /// firing allocates nothing.
    ///
    /// # Errors
    ///
    /// [`ControlError`]: the actor or its scheduler has stopped, the scheduler keeps
    /// no time, or the resource has no room for the timer.
    pub fn stop_after(&self, delay: Duration) -> Result<Timer, ControlError> {
        arm(self, Deadline::After(delay), Once::<A::Message>::Stop)
            .map_err(|(_, reason)| ControlError::new(reason))
    }

    /// Kills the actor (as [`kill`](Address::kill) does) once `delay` has passed: a
    /// watchdog. The firing allocates nothing.
    ///
    /// # Errors
    ///
    /// As for [`stop_after`](Address::stop_after).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use zeta::{Actor, CancelOutcome, Context, StopReason, System};
    ///
    /// struct Job;
    /// impl Actor for Job {
    ///     type Message = ();
    ///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let limit = Duration::from_secs(5);
    /// let quick = system.spawn(Job).unwrap();
    /// let watchdog = quick.kill_after(limit).unwrap();
    /// quick.send(()).unwrap();
    /// system.scheduler().run_until_idle().unwrap();
    /// assert_eq!(watchdog.cancel(), CancelOutcome::Cancelled); // done in time
    ///
    /// let stuck = system.spawn(Job).unwrap();
    /// stuck.kill_after(limit).unwrap();
    /// system.scheduler().advance(limit).unwrap();
    /// assert_eq!(stuck.stopped().unwrap().try_take(), Some(Ok(StopReason::Killed)));
    /// assert!(quick.is_alive());
    /// ```
    pub fn kill_after(&self, delay: Duration) -> Result<Timer, ControlError> {
        arm(self, Deadline::After(delay), Once::<A::Message>::Kill)
            .map_err(|(_, reason)| ControlError::new(reason))
    }
}

/// The user message inside a `Mail` built from one.
#[inline(always)]
fn user<M>(mail: Mail<M>) -> M {
    match mail.into_user() {
        Some(message) => message,
        None => unreachable!("only user mail is armed by send_after"),
    }
}
