//! Time, owned by the scheduler: [`Timers`], a hierarchical timing wheel with a
//! lock-free arming path, and the clock it reads (real, or virtual for the
//! [`ManualScheduler`](crate::ManualScheduler)).
//!
//! The scheduler crate knows nothing of messages: a timer is an *entry* that starts
//! with a [`TimerHeader`] and says, through its [`TimerVTable`], how to fire (the actor
//! layer's entries push a message node made when the timer was armed, so firing
//! allocates nothing), how to drop its payload undelivered, and how to free itself.
//!
//! # The protocol
//!
//! ```text
//!   arming thread                          driver (one thread at a time)
//!   ─────────────                          ─────────────────────────────
//!   write deadline, links                  `driving`: CAS false → true (a try: a
//!   push on `arming` (CAS, Release) ──┐      thread that loses does not wait)
//!   fence(SeqCst); `earliest` fetch_min └▶ take `arming` whole (swap, Acquire),
//!   lowered? tell the scheduler            reverse it to arming order, insert
//!     (`Armed::Earlier`)                   (or fire at once if already due);
//!                                          fire every entry whose deadline ≤ now,
//!   cancel: CAS on the entry's state         in deadline order;
//!     (entry.rs), the winner drops         store the next expiration in `earliest`
//!     the payload; count it in             (Release), fence(SeqCst), then look at
//!     `cancelled` (Relaxed)                  `arming` again: anything there → loop;
//!                                          `driving` := false (Release)
//! ```
//!
//! - **Exactly once.** Fire and cancel decide on the entry's state word (entry.rs):
//!   one CAS out of *pending* wins. A one-shot timer is delivered or cancelled (or, at
//!   [`close`](Timers::close), dropped undelivered), never two of these, never none.
//!   The loom model `cancel_racing_fire` checks it, and the payload dropped and the
//!   entry freed exactly once.
//! - **Never early.** Deadlines are kept in nanoseconds after the epoch, rounded up;
//!   an entry fires only when `deadline <= now`, `now` rounded down (wheel.rs).
//! - **No timer lost between arming and parking.** `earliest` tells an idle worker how
//!   long it may sleep. The driver overwrites it with the wheel's next expiration,
//!   which does not know of entries still on the arming stack; so it stores, then
//!   looks at the stack again. An armer pushes, then lowers `earliest`. Each side
//!   writes one word and then reads the other (the store-buffering shape), which only
//!   a total order rules out: a SeqCst fence between the two on both sides. If the
//!   driver's fence comes first, the armer's `fetch_min` (after its fence) reads the
//!   driver's store or a later value, so its deadline survives; otherwise the driver's
//!   look (after its fence) sees the push, and it loops. (Fences rather than SeqCst
//!   accesses: loom models fences exactly, and treats SeqCst accesses as AcqRel.) The
//!   loom model `arming_races_the_driver` checks it, and fails with the re-check
//!   removed.
//! - **Cancelled entries do not pile up.** A cancelled entry leaves the wheel when the
//!   driver meets it, or earlier: once the cancelled entries number half the wheel (and
//!   at least [`SWEEP_AFTER`]), a look is due ([`is_due`](Timers::is_due)) even if no
//!   deadline has come, and the driver drops them, from the arming stack and from the
//!   wheel. Memory stays within about twice the live timers however many are cancelled.
//!
//! Firing runs on the driver's thread inside [`poll`](Timers::poll): the entry's `fire`
//! must not unwind (the actor layer catches panics), and firing may arm new timers
//! (arming never touches the wheel).
//!
//! # Where time comes from
//!
//! A [`Scheduler`](crate::Scheduler) provides timers through
//! [`Scheduler::timers`](crate::Scheduler::timers). The
//! [`SharingScheduler`](crate::SharingScheduler) owns one `Timers` with the real clock:
//! its workers look at it every [`CHECK_INTERVAL`] jobs and before they park, and an
//! idle worker parks with a timeout until the earliest deadline (no timer thread). The
//! [`ManualScheduler`](crate::ManualScheduler) owns one with a virtual clock that only
//! its caller moves (`advance`, `advance_to`). A custom scheduler embeds a `Timers` the
//! same way: call [`poll`](Timers::poll) from its loop, and sleep no longer than
//! [`next_deadline`](Timers::next_deadline). One that provides none (the default
//! `timers()` returns `None`) has no timers: the actor layer's timer calls then hand
//! the message back with an error, they never start a thread of their own.

#[cfg(all(test, zeta_loom))]
mod loom;

mod entry;
mod wheel;

use core::fmt;
use core::ptr::{self, NonNull};
use std::time::{Duration, Instant};

pub use entry::{CancelOutcome, Fire, TimerHeader, TimerVTable};

use self::wheel::{List, Wheel};
use crate::sync::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, UnsafeCell};

/// How many jobs a [`SharingScheduler`](crate::SharingScheduler) worker runs between
/// two looks at its timers while it is busy (it also looks before it parks). A due
/// timer waits at most this many resumes of a busy worker.
pub const CHECK_INTERVAL: u32 = 16;

/// A sweep of cancelled entries is considered once at least this many were cancelled.
const SWEEP_AFTER: usize = if cfg!(zeta_loom) { 1 } else { 64 };

/// No deadline: `earliest` when no timer is armed.
const NONE: u64 = u64::MAX;

/// What [`Timers::arm`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Armed {
    /// Armed; an earlier deadline was already known, so a sleeper's timeout still
    /// holds.
    Queued,
    /// Armed, and its deadline is now the earliest known: a scheduler whose threads
    /// sleep until the earliest deadline must wake one to look again.
    Earlier,
}

/// What one [`Timers::poll`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Polled {
    /// Entries fired (each repeating entry once per deadline it reached).
    pub fired: usize,
    /// Whether this thread drove the wheel (`false`: another thread was driving it,
    /// and nothing was done).
    pub drove: bool,
    /// How late the latest of the entries fired was: the clock's reading at the poll
    /// minus its deadline (zero on a virtual clock, which stops at each deadline).
    /// Timers never fire early, so this is what a firing costs in precision.
    pub lateness: Duration,
}

/// A timing wheel and its clock: see the module doc.
pub struct Timers {
    /// Real: `Instant::now()`. Virtual: the epoch plus `virtual_now` nanoseconds.
    epoch: Instant,
    virtual_clock: bool,
    virtual_now: AtomicU64,
    /// Entries armed and not yet taken by the driver (a Treiber stack of headers).
    arming: AtomicPtr<TimerHeader>,
    /// When the wheel next needs a look (ns after the epoch): its next expiration (the
    /// start of its earliest occupied slot, at most the earliest deadline), lowered by
    /// armers to their deadlines; [`NONE`] if nothing is armed.
    earliest: AtomicU64,
    /// Held by the driver.
    driving: AtomicBool,
    /// Owned by the holder of `driving`.
    wheel: UnsafeCell<Box<Driver>>,
    /// Entries cancelled and not yet taken out (a hint for the sweep).
    cancelled: AtomicUsize,
    /// `cancelled` at which a look is due to take them out: half the wheel, at least
    /// `SWEEP_AFTER` (set by the driver).
    sweep_at: AtomicUsize,
    closed: AtomicBool,
    /// Seeded shuffle of entries due at the same nanosecond (0: arming order).
    seed: AtomicU64,
    /// Told of each poll that fired something ([`Timers::set_observer`]).
    #[cfg(feature = "observe")]
    observer: std::sync::OnceLock<std::sync::Arc<dyn crate::observe::SchedulerObserver>>,
}

/// What the driver owns.
struct Driver {
    wheel: Wheel,
    /// The tie-shuffle generator's state.
    rng: u64,
}

// SAFETY: `wheel` is only touched by the holder of `driving` (Acquire on taking it,
// Release on giving it back); the entries it links are `Send + Sync` headers whose
// plain fields are handed over by the arming push; everything else is atomic.
unsafe impl Send for Timers {}
// SAFETY: as above.
unsafe impl Sync for Timers {}

/// Holding `driving`; released on drop (also on unwind).
struct Drive<'a>(&'a Timers);

impl Drop for Drive<'_> {
    fn drop(&mut self) {
        let timers = self.0;
        // Release: hands the wheel to the next driver (pairs with the Acquire CAS in
        // `drive`).
        timers.driving.store(false, Ordering::Release);
        // A `close` that found the wheel taken left the drain to its holder: it set
        // `closed`, a fence, then tried to take the wheel; we gave the wheel back, a
        // fence, then look at `closed`. The fences order the two: one side sees the
        // other's write.
        fence(Ordering::SeqCst);
        if timers.closed.load(Ordering::Relaxed)
            && timers
                .driving
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            timers.drain_held();
            timers.driving.store(false, Ordering::Release);
        }
    }
}

impl Default for Timers {
    fn default() -> Self {
        Self::new()
    }
}

impl Timers {
    /// Timers on the real clock (`Instant::now()`).
    pub fn new() -> Self {
        Self::build(false)
    }

    /// Timers on a virtual clock that starts at the moment of this call and moves only
    /// when [`advance_to`](Timers::advance_to) moves it.
    pub fn with_virtual_clock() -> Self {
        Self::build(true)
    }

    fn build(virtual_clock: bool) -> Self {
        Self {
            epoch: Instant::now(),
            virtual_clock,
            virtual_now: AtomicU64::new(0),
            arming: AtomicPtr::new(ptr::null_mut()),
            earliest: AtomicU64::new(NONE),
            driving: AtomicBool::new(false),
            wheel: UnsafeCell::new(Box::new(Driver {
                wheel: Wheel::new(),
                rng: 0,
            })),
            cancelled: AtomicUsize::new(0),
            sweep_at: AtomicUsize::new(SWEEP_AFTER),
            closed: AtomicBool::new(false),
            seed: AtomicU64::new(0),
            #[cfg(feature = "observe")]
            observer: std::sync::OnceLock::new(),
        }
    }

    /// Tells `observer` of every poll that fires timers, with how many fired and how
    /// late ([`SchedulerObserver::on_timers_fired`](crate::observe::SchedulerObserver::on_timers_fired)).
    /// Set once, before the timers are driven: a scheduler sets it when it is built
    /// with an observer.
    ///
    /// # Errors
    ///
    /// The observer back, when one was set already.
    #[cfg(feature = "observe")]
    pub fn set_observer(
        &self,
        observer: std::sync::Arc<dyn crate::observe::SchedulerObserver>,
    ) -> Result<(), std::sync::Arc<dyn crate::observe::SchedulerObserver>> {
        self.observer.set(observer)
    }

    /// Entries due at the same nanosecond fire in an order shuffled by `seed` (the same
    /// seed, the same order) instead of arming order. 0: arming order.
    pub fn set_tie_seed(&self, seed: u64) {
        self.seed.store(seed, Ordering::Relaxed);
    }

    /// Whether the clock is virtual.
    pub fn is_virtual(&self) -> bool {
        self.virtual_clock
    }

    /// The clock's reading.
    #[inline]
    pub fn now(&self) -> Instant {
        if self.virtual_clock {
            self.epoch + Duration::from_nanos(self.virtual_now.load(Ordering::Acquire))
        } else {
            Instant::now()
        }
    }

    /// `now` in nanoseconds after the epoch, rounded down.
    #[inline]
    fn now_ns(&self) -> u64 {
        if self.virtual_clock {
            // Acquire: pairs with the Release store in `advance_to`.
            self.virtual_now.load(Ordering::Acquire)
        } else {
            duration_ns(Instant::now().saturating_duration_since(self.epoch))
        }
    }

    /// `instant` in nanoseconds after the epoch, rounded up (never early).
    #[inline]
    fn instant_ns(&self, instant: Instant) -> u64 {
        let since = instant.saturating_duration_since(self.epoch);
        // `Duration` holds whole nanoseconds: nothing to round on this clock.
        duration_ns(since)
    }

    /// When the timers next need a look, if any timer is armed: no later than the
    /// earliest deadline, and earlier when that deadline sits in a coarse slot of the
    /// wheel (then the look moves it to a finer one and fires nothing). A thread that
    /// sleeps until this point misses no deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        // Acquire: a value stored by the driver or an armer; a sleeper orders this
        // read after its claim of the sleeper role with a fence (sharing/worker.rs).
        match self.earliest.load(Ordering::Acquire) {
            NONE => None,
            ns => Some(self.epoch + Duration::from_nanos(ns)),
        }
    }

    /// How long until [`next_deadline`](Timers::next_deadline) (zero if it has
    /// passed), if any timer is armed.
    pub fn time_to_next(&self) -> Option<Duration> {
        // Acquire: as in `next_deadline`.
        match self.earliest.load(Ordering::Acquire) {
            NONE => None,
            ns => Some(Duration::from_nanos(ns.saturating_sub(self.now_ns()))),
        }
    }

    /// Whether a look is due: a deadline has passed, or enough timers were cancelled
    /// that their entries should be taken out (memory). Two loads when no timer is
    /// armed, else also a clock reading.
    #[inline]
    pub fn is_due(&self) -> bool {
        // Relaxed: hints; a stale value only delays the look to the next check, and
        // the sleeper's reading before it parks is ordered by fences.
        let earliest = self.earliest.load(Ordering::Relaxed);
        (earliest != NONE && earliest <= self.now_ns())
            || self.cancelled.load(Ordering::Relaxed) >= self.sweep_at.load(Ordering::Relaxed)
    }

    /// Arms `entry` to fire at `deadline` (at once, at the next poll, if it has
    /// passed).
    ///
    /// # Errors
    ///
    /// The entry back, untouched, if the timers are closed (their scheduler stopped).
    ///
    /// # Safety
    ///
    /// `entry` points to a live entry made with [`TimerHeader::new`], never armed
    /// before, whose vtable's functions uphold [`TimerVTable`]'s contract; the
    /// reference counted as the wheel's is handed to the timers (on `Err` it stays the
    /// caller's).
    pub unsafe fn arm(
        &self,
        entry: NonNull<TimerHeader>,
        deadline: Instant,
    ) -> Result<Armed, NonNull<TimerHeader>> {
        // Relaxed: a hint that saves work; `close` drains the stack after setting it,
        // so an entry that slips in after the check is still dropped by the closer,
        // or by `Drop`.
        if self.closed.load(Ordering::Relaxed) {
            return Err(entry);
        }
        let ns = self.instant_ns(deadline);
        // SAFETY: alive and not yet shared (the caller's duty).
        let header = unsafe { entry.as_ref() };
        header.set_deadline(ns);
        let mut head = self.arming.load(Ordering::Relaxed);
        loop {
            header.set_next(head);
            // Release: publishes the header's fields to the driver's Acquire swap.
            match self.arming.compare_exchange_weak(
                head,
                entry.as_ptr(),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => head = now,
            }
        }
        // The push, then the fence, then `earliest`: the module doc ("No timer lost").
        fence(Ordering::SeqCst);
        let previous = self.earliest.fetch_min(ns, Ordering::AcqRel);
        Ok(if ns < previous {
            Armed::Earlier
        } else {
            Armed::Queued
        })
    }

    /// Cancels an armed entry (see [`CancelOutcome`]); the winner of a cancel drops the
    /// payload here, on the calling thread.
    ///
    /// # Safety
    ///
    /// The caller holds a reference to `entry` (its handle's).
    pub unsafe fn cancel(&self, entry: NonNull<TimerHeader>) -> CancelOutcome {
        // SAFETY: the caller holds a reference.
        let outcome = unsafe { TimerHeader::cancel_and_discard(entry) };
        if outcome == CancelOutcome::Cancelled {
            // Relaxed: a hint for the sweep.
            self.cancelled.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }

    /// Fires every entry whose deadline has come (by this clock), in deadline order,
    /// on this thread. Does nothing if another thread is driving the timers.
    pub fn poll(&self) -> Polled {
        match self.drive() {
            Some(drive) => self.poll_driven(&drive, self.now_ns()),
            None => Polled::default(),
        }
    }

    /// A virtual clock's only mover: fires, in deadline order, every entry due up to
    /// `target`, stopping the clock at each deadline and calling `between` (which runs
    /// what the firing made ready) before going on, then moves the clock to `target`.
    /// A clock never goes back: a `target` before the clock's reading fires what is
    /// due now and leaves the clock where it is. Returns the number of entries fired.
    ///
    /// On a real clock, the clock is not moved: this polls until `target` is reached
    /// by the real clock's reading (use it on virtual clocks).
    ///
    /// # Errors
    ///
    /// `Err(())` if another thread is driving these timers.
    #[allow(clippy::result_unit_err)]
    pub fn advance_to(&self, target: Instant, between: impl FnMut()) -> Result<usize, ()> {
        self.advance_ns(self.instant_ns(target), between)
    }

    /// [`advance_to`](Timers::advance_to) the clock's reading plus `by` (saturating at
    /// the end of time).
    ///
    /// # Errors
    ///
    /// As for `advance_to`.
    #[allow(clippy::result_unit_err)]
    pub fn advance_by(&self, by: Duration, between: impl FnMut()) -> Result<usize, ()> {
        self.advance_ns(self.now_ns().saturating_add(duration_ns(by)), between)
    }

    fn advance_ns(&self, target: u64, mut between: impl FnMut()) -> Result<usize, ()> {
        let mut fired = 0;
        loop {
            let drive = self.drive().ok_or(())?;
            let now = self.now_ns();
            // Fire what is due at the clock's reading, then step to the next deadline.
            let polled = self.poll_driven(&drive, now);
            fired += polled.fired;
            // Acquire: as in `next_deadline` (the driver's own store, just made).
            let next = self.earliest.load(Ordering::Acquire);
            drop(drive);
            if polled.fired > 0 {
                between();
                continue;
            }
            if !self.virtual_clock || next > target || next == NONE {
                break;
            }
            // Release: pairs with the Acquire loads of `now`.
            self.virtual_now.store(next.max(now), Ordering::Release);
        }
        if self.virtual_clock && target > self.virtual_now.load(Ordering::Acquire) {
            self.virtual_now.store(target, Ordering::Release);
        }
        Ok(fired)
    }

    fn drive(&self) -> Option<Drive<'_>> {
        // Acquire: pairs with the Release in `Drive::drop`, handing over the wheel.
        self.driving
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Drive(self))
    }

    fn poll_driven(&self, _drive: &Drive<'_>, now: u64) -> Polled {
        let mut polled = Polled {
            fired: 0,
            drove: true,
            lateness: Duration::ZERO,
        };
        self.wheel.with_mut(|driver| {
            // SAFETY: `_drive` proves this thread holds `driving`, the licence to the
            // wheel; nothing called below drives these timers again (`fire` must not).
            let driver = unsafe { &mut **driver };
            loop {
                self.intake(driver, now, &mut polled);
                while let Some(expiration) = driver.wheel.next_expiration() {
                    if expiration.deadline > now {
                        break;
                    }
                    let mut list = driver.wheel.take(expiration);
                    let elapsed = driver.wheel.elapsed();
                    let mut due = List::EMPTY;
                    while let Some(entry) = list.pop_front() {
                        // SAFETY: a wheel entry is alive (the wheel holds a reference).
                        if unsafe { entry.as_ref() }.deadline() <= elapsed {
                            // SAFETY: taken out of the slot: unlisted.
                            unsafe { due.push_back(entry) };
                        } else {
                            // SAFETY: as above; it goes to a lower level.
                            unsafe { driver.wheel.insert(entry) };
                        }
                    }
                    self.fire_all(driver, due, now, &mut polled);
                }
                driver.wheel.advance_idle(now);
                self.maybe_sweep(driver);
                let next = driver.wheel.next_expiration().map_or(NONE, |e| e.deadline);
                // Store, fence, then look at the stack again: the module doc.
                self.earliest.store(next, Ordering::Release);
                fence(Ordering::SeqCst);
                if self.arming.load(Ordering::Relaxed).is_null() {
                    break;
                }
            }
        });
        #[cfg(feature = "observe")]
        if polled.fired > 0 {
            if let Some(observer) = self.observer.get() {
                observer.on_timers_fired(polled.fired, polled.lateness);
            }
        }
        polled
    }

    /// Moves what was armed into the wheel, firing at once what is already due.
    fn intake(&self, driver: &mut Driver, now: u64, polled: &mut Polled) {
        // Acquire: pairs with the arming CAS, so the headers' fields are visible.
        let mut head = self.arming.swap(ptr::null_mut(), Ordering::Acquire);
        if head.is_null() {
            return;
        }
        // The stack is newest first: reverse it into arming order.
        let mut reversed: *mut TimerHeader = ptr::null_mut();
        while let Some(entry) = NonNull::new(head) {
            // SAFETY: an armed entry is alive (the wheel's reference is ours now).
            let header = unsafe { entry.as_ref() };
            head = header.next();
            header.set_next(reversed);
            reversed = entry.as_ptr();
        }
        let mut due = List::EMPTY;
        let mut dropped = 0;
        while let Some(entry) = NonNull::new(reversed) {
            // SAFETY: as above.
            let header = unsafe { entry.as_ref() };
            reversed = header.next();
            if !header.is_pending() {
                // Cancelled before it reached the wheel.
                dropped += 1;
                // SAFETY: the wheel's reference, given up once.
                unsafe { TimerHeader::release(entry) };
                continue;
            }
            // An entry whose deadline the wheel has passed already (armed for a moment
            // before the last look: a zero delay, a past instant, or an arming that
            // raced the look) fires now, before everything in the wheel, whose
            // deadlines are all later; in deadline order among its kind. The others go
            // into the wheel, even those due by `now`: the look that follows fires
            // them with the wheel's, in deadline order (not in arming order ahead of
            // earlier ones already in the wheel).
            if header.deadline() <= driver.wheel.elapsed() {
                // SAFETY: unlisted (taken off the stack); `due` holds live entries.
                unsafe { due.insert_sorted(entry) };
            } else {
                // SAFETY: unlisted; its deadline is after `elapsed`.
                unsafe { driver.wheel.insert(entry) };
            }
        }
        if dropped > 0 {
            // Relaxed: a hint. Saturating: a cancel counts itself after its CAS, so
            // its entry can be dropped here before it is counted.
            let _ = self
                .cancelled
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(dropped))
                });
        }
        self.fire_all(driver, due, now, polled);
    }

    /// Fires `due` (entries whose deadline has come), re-arming repeating ones.
    fn fire_all(&self, driver: &mut Driver, mut due: List, now: u64, polled: &mut Polled) {
        let seed = self.seed.load(Ordering::Relaxed);
        if seed != 0 {
            due = shuffle_ties(driver, due, seed);
        }
        while let Some(entry) = due.pop_front() {
            self.fire_one(driver, entry, now, polled);
        }
    }

    fn fire_one(
        &self,
        driver: &mut Driver,
        entry: NonNull<TimerHeader>,
        now: u64,
        polled: &mut Polled,
    ) {
        // SAFETY: the wheel's reference keeps it alive.
        let header = unsafe { entry.as_ref() };
        let repeating = header.is_repeating();
        if !header.start_fire(repeating) {
            // Cancelled: the canceller dropped the payload.
            // SAFETY: the wheel's reference, given up once.
            unsafe { TimerHeader::release(entry) };
            return;
        }
        polled.fired += 1;
        let late = Duration::from_nanos(now.saturating_sub(header.deadline()));
        polled.lateness = polled.lateness.max(late);
        // SAFETY: the right to fire is ours (FIRED or FIRING): so is the payload.
        let fire = AbortOnUnwind::around(|| unsafe { TimerHeader::fire(entry) });
        // A repeating entry's next deadline: the first multiple of its period after the
        // clock (missed periods are skipped, not bunched); none once it stops, or at the
        // end of time. Written before `end_fire` gives the payload back: the header's
        // plain fields stay the driver's (a canceller only touches the state word and
        // the payload).
        let elapsed = driver.wheel.elapsed();
        let next = match fire {
            Fire::Again(period) if repeating => {
                let (last, period) = (header.deadline(), period.max(1));
                let mut next = last.saturating_add(period);
                if next <= elapsed {
                    let behind = (elapsed - last) / period + 1;
                    next = last.saturating_add(behind.saturating_mul(period));
                }
                (next > elapsed).then_some(next)
            }
            _ => None,
        };
        let Some(next) = next else {
            if repeating {
                // A repeating entry that will not fire again: its payload (kept between
                // firings) is ours to drop.
                header.stop_repeating();
                // SAFETY: we hold FIRING: the payload is ours.
                AbortOnUnwind::around(|| unsafe { TimerHeader::discard(entry) });
            }
            // SAFETY: the wheel's reference, given up once.
            unsafe { TimerHeader::release(entry) };
            return;
        };
        header.set_deadline(next);
        if !header.end_fire() {
            // Cancelled while firing: the payload is ours to drop.
            // SAFETY: we hold FIRING of a cancelled entry.
            AbortOnUnwind::around(|| unsafe { TimerHeader::discard(entry) });
            // SAFETY: the wheel's reference, given up once.
            unsafe { TimerHeader::release(entry) };
            return;
        }
        // SAFETY: the entry left every list; its deadline is ahead.
        unsafe { driver.wheel.insert(entry) };
    }

    fn maybe_sweep(&self, driver: &mut Driver) {
        // Relaxed: hints (see `cancel`).
        if self.cancelled.load(Ordering::Relaxed) >= self.sweep_at.load(Ordering::Relaxed) {
            self.cancelled.store(0, Ordering::Relaxed);
            driver.wheel.retain(
                // SAFETY: wheel entries are alive (the wheel's reference).
                |entry| unsafe { entry.as_ref() }.is_pending(),
                // SAFETY: the wheel's reference, given up once.
                |entry| unsafe { TimerHeader::release(entry) },
            );
        }
        // The next sweep when half the wheel is cancelled: memory stays within twice
        // the live timers, and the sweeps' cost is amortised over the cancels.
        self.sweep_at
            .store(SWEEP_AFTER.max(driver.wheel.len / 2), Ordering::Relaxed);
    }

    /// Refuses further arming and drops every pending entry undelivered (its handle's
    /// `cancel` then reports [`CancelOutcome::Dropped`]), on this thread, or, if
    /// another thread is driving the timers right now, on that one as it lets go.
    /// Called by a scheduler's stop.
    pub fn close(&self) {
        // Store, fence, then try to take the wheel: see `Drive::drop`.
        self.closed.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if let Some(drive) = self.drive() {
            self.drain_held();
            drop(drive);
        }
    }

    /// Drops everything in the wheel and on the arming stack. The caller holds
    /// `driving`.
    fn drain_held(&self) {
        self.wheel.with_mut(|driver| {
            // SAFETY: the caller holds `driving`.
            let driver = unsafe { &mut **driver };
            let mut dropped = List::EMPTY;
            driver.wheel.drain(|entry| {
                // SAFETY: wheel entries are alive and leave the wheel here: unlisted.
                unsafe { dropped.push_back(entry) }
            });
            // Acquire: as in `intake`.
            let mut head = self.arming.swap(ptr::null_mut(), Ordering::Acquire);
            while let Some(entry) = NonNull::new(head) {
                // SAFETY: armed entries are alive.
                head = unsafe { entry.as_ref() }.next();
                // SAFETY: off the stack: unlisted.
                unsafe { dropped.push_back(entry) };
            }
            while let Some(entry) = dropped.pop_front() {
                // SAFETY: alive (the wheel's reference).
                let (_, owns) = unsafe { entry.as_ref() }.cancel();
                if owns {
                    // SAFETY: the cancel won the payload.
                    AbortOnUnwind::around(|| unsafe { TimerHeader::discard(entry) });
                }
                // SAFETY: the wheel's reference, given up once.
                unsafe { TimerHeader::release(entry) };
            }
            self.earliest.store(NONE, Ordering::Release);
        });
    }
}

impl Drop for Timers {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Relaxed);
        // `&mut self`: nobody drives; whatever is left (armed after a close that had
        // drained) goes now.
        self.drain_held();
    }
}

impl fmt::Debug for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field("virtual", &self.virtual_clock)
            .field("next_deadline", &self.next_deadline())
            .finish_non_exhaustive()
    }
}

#[inline]
fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX - 1)
}

/// Shuffles runs of entries with equal deadlines (runs of up to 64) by the seed.
fn shuffle_ties(driver: &mut Driver, mut due: List, seed: u64) -> List {
    if driver.rng == 0 {
        driver.rng = crate::rng::state_for(seed);
    }
    let mut out = List::EMPTY;
    let mut run: [Option<NonNull<TimerHeader>>; 64] = [None; 64];
    let mut len = 0;
    let mut run_deadline = 0;
    while let Some(entry) = due.pop_front() {
        // SAFETY: alive (the wheel's reference).
        let deadline = unsafe { entry.as_ref() }.deadline();
        if len == run.len() || (len > 0 && deadline != run_deadline) {
            flush_run(&mut run, &mut len, &mut out, &mut driver.rng);
        }
        run_deadline = deadline;
        run[len] = Some(entry);
        len += 1;
    }
    flush_run(&mut run, &mut len, &mut out, &mut driver.rng);
    out
}

/// Shuffles the first `len` entries of `run` onto `out`.
fn flush_run(
    run: &mut [Option<NonNull<TimerHeader>>; 64],
    len: &mut usize,
    out: &mut List,
    rng: &mut u64,
) {
    crate::rng::shuffle(&mut run[..*len], rng);
    for slot in run.iter_mut().take(*len) {
        if let Some(entry) = slot.take() {
            // SAFETY: taken from the due list: alive and unlisted.
            unsafe { out.push_back(entry) };
        }
    }
    *len = 0;
}

/// Aborts if `f` unwinds: the wheel is mid-update (entry vtables must not unwind).
struct AbortOnUnwind;

impl AbortOnUnwind {
    #[inline]
    fn around<R>(f: impl FnOnce() -> R) -> R {
        let bomb = AbortOnUnwind;
        let result = f();
        core::mem::forget(bomb);
        result
    }
}

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        std::process::abort();
    }
}
