//! The actor waker: a [`Waker`] whose `wake` delivers a wake-up message to an actor,
//! which then runs [`Actor::on_wake`](crate::Actor::on_wake).
//!
//! The waker's data pointer is the actor's cell, and the waker holds one reference on it
//! (so waking an actor whose addresses are all gone is still safe: the message comes
//! back closed, or is handled). No allocation: cloning is a refcount increment, and a
//! wake-up is a message node from the actor's own resource.
//!
//! # The vtable's address
//!
//! [`Waker::will_wake`] compares the data pointer *and the vtable's address*, and a
//! request node keeps its stored waker only if the new one `will_wake` it. A `static`
//! would give one address, but a `static` cannot depend on `A` (and one inside a generic
//! function is shared by every instantiation), so the table is a generic associated
//! `const`, and every `&CONST` may be a copy of its own. All wakers take the address
//! from one function, `vtable::<A>`, which is `#[inline(never)]`: one instance, hence
//! one address, per actor type in each crate that instantiates it. The language does not
//! promise even that, and two crates (release builds do not share generic instances)
//! have two copies. That remaining case is harmless:
//!
//! 1. A false "not the same" (same actor, two addresses) is allowed by `will_wake`'s
//!    contract, and costs the request node a clone of the new waker and a drop of the
//!    stored one (a refcount up and down); only one waker stays stored, and it wakes the
//!    same actor, so no wake-up is lost or doubled.
//! 2. A false "the same" cannot happen: equal data pointers are the same cell (a stored
//!    waker holds a strong reference, so the cell cannot be freed and reused meanwhile),
//!    hence the same `A`; and tables of two types at one address (identical code folded
//!    together) have the same functions, so they behave the same.

use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::task::{RawWaker, RawWakerVTable, Waker};

use zeta_mailbox::Priority;
use zeta_scheduler::JobRef;

use crate::actor::Actor;
use crate::address::Address;
use crate::cell::Mail;

struct VTableFor<A>(PhantomData<A>);

impl<A: Actor> VTableFor<A> {
    const VTABLE: RawWakerVTable =
        RawWakerVTable::new(clone::<A>, wake::<A>, wake_by_ref::<A>, drop_waker::<A>);
}

/// The one place that takes the table's address, so that the wakers of one actor type
/// share it (see "The vtable's address" in the module doc); not inlined, so that its
/// callers do not each get a copy of the constant.
#[inline(never)]
fn vtable<A: Actor>() -> &'static RawWakerVTable {
    &VTableFor::<A>::VTABLE
}

pub(crate) fn actor_waker<A: Actor>(job: &JobRef) -> Waker {
    let job = job.clone();
    let raw = RawWaker::new(job.into_raw().as_ptr().cast(), vtable::<A>());
    // SAFETY: the vtable's functions uphold `RawWaker`'s contract: the data pointer is a
    // cell header carrying one reference, which `clone` duplicates and `wake`/`drop`
    // give up; a cell may be used from any thread.
    unsafe { Waker::from_raw(raw) }
}

/// The actor waker of `header`'s cell, standing on a reference it does not own: for
/// [`Context::waker_ref`](crate::Context::waker_ref). No refcount changes; its clones
/// are ordinary actor wakers, each with a reference of its own.
///
/// # Safety
///
/// `header` is a live `Cell<A>`'s, and a reference on it is held for as long as the
/// waker is used; the waker is never dropped (dropping it would give up a reference it
/// does not hold), which the `ManuallyDrop` leaves to the caller.
#[inline]
pub(crate) unsafe fn borrowed_waker<A: Actor>(
    header: core::ptr::NonNull<zeta_scheduler::JobHeader>,
) -> ManuallyDrop<Waker> {
    // The constant's address, not `vtable::<A>()`: this runs at every resume, and a
    // call there costs more than the one rare effect of another address (a request
    // polled with this waker and then with an owned one clones the second: case 1 of
    // "The vtable's address").
    let raw = RawWaker::new(header.as_ptr().cast(), &VTableFor::<A>::VTABLE);
    // SAFETY: the vtable's functions uphold `RawWaker`'s contract for a data pointer that
    // is a live cell header with a reference (the caller's duty: the reference exists
    // while the waker is used); `clone` makes a waker with its own reference, and the
    // `ManuallyDrop` keeps this one from being dropped.
    ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
}

/// The address the waker's reference stands for, borrowed (not given up).
///
/// # Safety
///
/// `data` is a waker's data pointer, from `actor_waker::<A>`, whose reference is live.
unsafe fn borrowed<A: Actor>(data: *const ()) -> ManuallyDrop<Address<A>> {
    // SAFETY: (caller) a live `Cell<A>` header with a reference we borrow; ManuallyDrop
    // keeps us from giving it up.
    unsafe {
        let job = JobRef::from_raw(core::ptr::NonNull::new_unchecked(data as *mut _));
        ManuallyDrop::new(Address::from_job(job))
    }
}

unsafe fn clone<A: Actor>(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a live waker's.
    let address = unsafe { borrowed::<A>(data) };
    let job = address.job().clone();
    RawWaker::new(job.into_raw().as_ptr().cast(), vtable::<A>())
}

unsafe fn wake<A: Actor>(data: *const ()) {
    // SAFETY: `data` is a live waker's; `wake` consumes it, so its reference is ours to
    // give up (ManuallyDrop::into_inner).
    unsafe {
        wake_by_ref::<A>(data);
        drop(ManuallyDrop::into_inner(borrowed::<A>(data)));
    }
}

unsafe fn wake_by_ref<A: Actor>(data: *const ()) {
    // SAFETY: `data` is a live waker's.
    let address = unsafe { borrowed::<A>(data) };
    // A stopped actor has nothing to wake; out of memory, the wake-up is lost (the
    // actor polls again at its next message).
    let _ = address.deliver(Priority::Normal, Mail::Wake);
}

unsafe fn drop_waker<A: Actor>(data: *const ()) {
    // SAFETY: `data` is a live waker's, dropped: its reference is given up once.
    drop(ManuallyDrop::into_inner(unsafe { borrowed::<A>(data) }));
}

#[cfg(all(test, not(zeta_loom)))]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::task::Waker;

    use crate::{Actor, Context, System};

    /// Keeps two wakers made by `ctx.waker()` in one handler.
    struct Keep(Arc<Mutex<Vec<Waker>>>);

    impl Actor for Keep {
        type Message = ();
        fn handle(&mut self, (): (), ctx: &mut Context<'_, Self>) {
            let mut wakers = self.0.lock().unwrap();
            wakers.push(ctx.waker());
            wakers.push(ctx.waker());
        }
    }

    /// Within one crate, the wakers of one actor and their clones share the vtable's
    /// address, so a request node keeps its stored waker instead of cloning anew.
    #[test]
    fn wakers_of_one_actor_will_wake_each_other_and_not_another_actors() {
        let system = System::manual(16).unwrap();
        let (mine, other) = (Arc::default(), Arc::default());
        for wakers in [&mine, &other] {
            let address = system.spawn(Keep(Arc::clone(wakers))).unwrap();
            address.send(()).unwrap();
        }
        system.scheduler().run_until_idle().unwrap();
        let mut mine = mine.lock().unwrap();
        let mut other = other.lock().unwrap();
        let clone = mine[0].clone();
        assert!(mine[0].will_wake(&mine[1]) && mine[1].will_wake(&mine[0]));
        assert!(mine[0].will_wake(&clone) && clone.will_wake(&mine[1]));
        assert!(!mine[0].will_wake(&other[0]) && !other[1].will_wake(&clone));
        // Each actor holds the list of its own wakers, which hold the actor: break the
        // cycle, or both actors (and the scheduler they hold) leak.
        drop(clone);
        mine.clear();
        other.clear();
    }
}
