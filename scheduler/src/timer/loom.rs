//! loom models of the timers' protocol (the parent module's doc):
//!
//! - `cancel_racing_fire`: a one-shot timer's firing against its handle's cancel.
//!   Exactly one of delivered / cancelled, the payload consumed once (delivered or
//!   discarded), the entry freed once, and `cancel`'s answer matching what happened.
//!   Seen to fail (the payload both delivered and discarded) with `TimerHeader::cancel`
//!   made a plain load-then-store instead of a CAS.
//! - `arming_races_the_driver`: an armer pushing while the driver stores the next
//!   deadline. The armed deadline must survive in `earliest` (a sleeping worker's
//!   timeout), or be fired. Seen to fail with the driver's second look at the arming
//!   stack removed (its store of the wheel's deadline, which does not know the new
//!   entry, overwrote the armer's `fetch_min`).
//! - `cancel_racing_close`: a cancel against a closing scheduler's drain.
//!
//! Run with `RUSTFLAGS="--cfg zeta_loom -C debug-assertions" cargo test --release
//! -p zeta-scheduler --lib timer::loom`.

use core::ptr::NonNull;
use std::time::Duration;

use ::loom::cell::UnsafeCell;
use ::loom::sync::atomic::AtomicUsize;
use ::loom::sync::atomic::Ordering::Relaxed;
use ::loom::sync::Arc;
use ::loom::thread;

use super::{CancelOutcome, Fire, TimerHeader, TimerVTable, Timers};

/// An entry whose payload is a loom cell: firing and discarding both consume it, so a
/// payload used twice, or by two threads unordered, fails the model.
#[repr(C)]
struct Probe {
    header: TimerHeader,
    payload: UnsafeCell<bool>,
    delivered: Arc<AtomicUsize>,
    discarded: Arc<AtomicUsize>,
    freed: Arc<AtomicUsize>,
}

fn consume(probe: &Probe) {
    // SAFETY: only the owner of the payload (the winner of the entry's state) calls
    // this; loom checks that the accesses are ordered.
    probe.payload.with_mut(|taken| unsafe {
        assert!(!*taken, "payload used twice");
        *taken = true;
    });
}

unsafe fn fire(header: NonNull<TimerHeader>) -> Fire {
    // SAFETY: a `Probe` (repr(C), header first), alive while fired.
    let probe = unsafe { header.cast::<Probe>().as_ref() };
    consume(probe);
    probe.delivered.fetch_add(1, Relaxed);
    Fire::Once
}

unsafe fn discard(header: NonNull<TimerHeader>) {
    // SAFETY: as in `fire`.
    let probe = unsafe { header.cast::<Probe>().as_ref() };
    consume(probe);
    probe.discarded.fetch_add(1, Relaxed);
}

unsafe fn release(header: NonNull<TimerHeader>) {
    // SAFETY: boxed by `probe`, the last reference gone.
    let probe = unsafe { Box::from_raw(header.cast::<Probe>().as_ptr()) };
    probe.freed.fetch_add(1, Relaxed);
}

static VTABLE: TimerVTable = TimerVTable {
    fire,
    discard,
    release,
};

struct Counts {
    delivered: Arc<AtomicUsize>,
    discarded: Arc<AtomicUsize>,
    freed: Arc<AtomicUsize>,
}

/// A boxed probe with two references (the wheel's and a handle's).
fn probe() -> (NonNull<TimerHeader>, Counts) {
    let counts = Counts {
        delivered: Arc::new(AtomicUsize::new(0)),
        discarded: Arc::new(AtomicUsize::new(0)),
        freed: Arc::new(AtomicUsize::new(0)),
    };
    let probe = Box::new(Probe {
        header: TimerHeader::new(&VTABLE, 2, false),
        payload: UnsafeCell::new(false),
        delivered: counts.delivered.clone(),
        discarded: counts.discarded.clone(),
        freed: counts.freed.clone(),
    });
    (NonNull::from(Box::leak(probe)).cast(), counts)
}

/// A raw entry pointer that may cross into a model thread (the entry is `Sync`).
#[derive(Clone, Copy)]
struct Sent(NonNull<TimerHeader>);
// SAFETY: `TimerHeader` is `Send + Sync`; the probe's fields are loom types.
unsafe impl Send for Sent {}

#[test]
fn cancel_racing_fire() {
    loom::model(|| {
        let timers = Arc::new(Timers::with_virtual_clock());
        let (entry, counts) = probe();
        let deadline = timers.now() + Duration::from_nanos(5);
        // SAFETY: a fresh entry; the wheel's reference goes to the timers.
        assert!(unsafe { timers.arm(entry, deadline) }.is_ok());
        let driver = {
            let timers = timers.clone();
            thread::spawn(move || {
                timers
                    .advance_by(Duration::from_nanos(10), || {})
                    .expect("the only driver");
            })
        };
        let handle = Sent(entry);
        // SAFETY: the handle's reference, held until the release below.
        let outcome = unsafe { timers.cancel(handle.0) };
        // SAFETY: the handle's reference, given up once.
        unsafe { TimerHeader::release(handle.0) };
        driver.join().unwrap();
        let delivered = counts.delivered.load(Relaxed);
        let discarded = counts.discarded.load(Relaxed);
        assert_eq!(delivered + discarded, 1, "exactly one of fire and cancel");
        match outcome {
            CancelOutcome::Cancelled => assert_eq!(discarded, 1),
            CancelOutcome::Fired => assert_eq!(delivered, 1),
            CancelOutcome::Dropped => panic!("nothing closed the timers"),
        }
        assert_eq!(counts.freed.load(Relaxed), 1, "freed exactly once");
    });
}

#[test]
fn arming_races_the_driver() {
    loom::model(|| {
        let timers = Arc::new(Timers::with_virtual_clock());
        let (entry, counts) = probe();
        let deadline = timers.now() + Duration::from_nanos(100);
        let driver = {
            let timers = timers.clone();
            thread::spawn(move || {
                // Nothing is due at 0: the driver only takes in and stores `earliest`.
                let _ = timers.poll();
            })
        };
        let armed = Sent(entry);
        // SAFETY: a fresh entry; the wheel's reference goes to the timers.
        assert!(unsafe { timers.arm(armed.0, deadline) }.is_ok());
        driver.join().unwrap();
        // A sleeping worker must wake by the armed deadline (the wheel may ask for
        // earlier: the start of the slot that holds it).
        let next = timers.next_deadline().expect("a timer lost");
        assert!(next <= deadline, "a sleeper would wake too late");
        // SAFETY: the handle's reference, given up once.
        unsafe { TimerHeader::release(armed.0) };
        drop(timers);
        assert_eq!(counts.delivered.load(Relaxed), 0);
        assert_eq!(
            counts.discarded.load(Relaxed),
            1,
            "dropped at the timers' drop"
        );
        assert_eq!(counts.freed.load(Relaxed), 1);
    });
}

#[test]
fn cancel_racing_close() {
    loom::model(|| {
        let timers = Arc::new(Timers::with_virtual_clock());
        let (entry, counts) = probe();
        let deadline = timers.now() + Duration::from_nanos(5);
        // SAFETY: a fresh entry; the wheel's reference goes to the timers.
        assert!(unsafe { timers.arm(entry, deadline) }.is_ok());
        let closer = {
            let timers = timers.clone();
            thread::spawn(move || timers.close())
        };
        let handle = Sent(entry);
        // SAFETY: the handle's reference, held until the release below.
        let outcome = unsafe { timers.cancel(handle.0) };
        // SAFETY: the handle's reference, given up once.
        unsafe { TimerHeader::release(handle.0) };
        closer.join().unwrap();
        assert_eq!(
            counts.delivered.load(Relaxed),
            0,
            "a closed timer never fires"
        );
        assert_eq!(
            counts.discarded.load(Relaxed),
            1,
            "the payload dropped once"
        );
        assert!(matches!(
            outcome,
            CancelOutcome::Cancelled | CancelOutcome::Dropped
        ));
        assert_eq!(counts.freed.load(Relaxed), 1);
    });
}
