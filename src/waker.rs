//! The actor waker: a [`Waker`] whose `wake` delivers a wake-up message to an actor,
//! which then runs [`Actor::on_wake`](crate::Actor::on_wake).
//!
//! The waker's data pointer is the actor's cell, and the waker holds one reference on it
//! (so waking an actor whose addresses are all gone is still safe: the message comes
//! back closed, or is handled). No allocation: cloning is a refcount increment, and a
//! wake-up is a message node from the actor's own resource.

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

pub(crate) fn actor_waker<A: Actor>(job: &JobRef) -> Waker {
    let job = job.clone();
    let raw = RawWaker::new(job.into_raw().as_ptr().cast(), &VTableFor::<A>::VTABLE);
    // SAFETY: the vtable's functions uphold `RawWaker`'s contract: the data pointer is a
    // cell header carrying one reference, which `clone` duplicates and `wake`/`drop`
    // give up; a cell may be used from any thread.
    unsafe { Waker::from_raw(raw) }
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
    RawWaker::new(job.into_raw().as_ptr().cast(), &VTableFor::<A>::VTABLE)
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
