//! The async senders waiting for room: an intrusive doubly linked list of [`Waiter`]
//! nodes, each inside its pinned [`SendFuture`](crate::SendFuture), behind the bound's
//! mutex. Nothing is allocated: linking a node writes two pointers.
//!
//! Every field of a node and of the list is read and written only with the bound's
//! mutex held (the methods take the list by `&mut`, which only the guard gives). A node
//! is linked only while its future is pinned, and its future unlinks it in `Drop`
//! before its memory can go (the `Pin` contract: a pinned value is dropped before its
//! memory is reused), so the list never points at freed memory.

use core::marker::PhantomPinned;
use core::ptr::{self, NonNull};
use core::task::Waker;

use crate::sync::UnsafeCell;

/// One async sender's place in the list.
pub(crate) struct Waiter {
    links: UnsafeCell<Links>,
    _pinned: PhantomPinned,
}

struct Links {
    prev: *const Waiter,
    next: *const Waiter,
    linked: bool,
    waker: Option<Waker>,
}

impl Waiter {
    pub(crate) fn new() -> Self {
        Self {
            links: UnsafeCell::new(Links {
                prev: ptr::null(),
                next: ptr::null(),
                linked: false,
                waker: None,
            }),
            _pinned: PhantomPinned,
        }
    }
}

/// The list; the bound's mutex guards it and every node in it.
pub(crate) struct WaitList {
    head: *const Waiter,
    tail: *const Waiter,
}

// SAFETY: the list holds pointers to nodes whose fields are touched only under the
// mutex that guards the list (module doc); the wakers they hold are `Send`.
unsafe impl Send for WaitList {}

impl WaitList {
    pub(crate) const fn new() -> Self {
        Self {
            head: ptr::null(),
            tail: ptr::null(),
        }
    }

    /// Whether nobody waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Links `waiter` at the back with `waker`.
    ///
    /// # Safety
    ///
    /// 1. `waiter` is pinned and not linked, and stays where it is until it is
    ///    unlinked (its owner unlinks it in its `Drop`, under this list's mutex).
    /// 2. The caller holds the mutex guarding this list (`&mut self` from its guard).
    pub(crate) unsafe fn push_back(&mut self, waiter: NonNull<Waiter>, waker: Waker) {
        let node = waiter.as_ptr().cast_const();
        let tail = self.tail;
        // SAFETY: duty 2: the node's fields are ours under the lock; duty 1: it is live.
        unsafe {
            (*node).links.with_mut(|links| {
                debug_assert!(!(*links).linked, "a waiter linked twice");
                (*links).prev = tail;
                (*links).next = ptr::null();
                (*links).linked = true;
                (*links).waker = Some(waker);
            });
        }
        match NonNull::new(tail.cast_mut()) {
            // SAFETY: the tail is a linked node: live (duty 1 of its own push), ours
            // under the lock.
            Some(tail) => unsafe {
                (*tail.as_ptr())
                    .links
                    .with_mut(|links| (*links).next = node)
            },
            None => self.head = node,
        }
        self.tail = node;
    }

    /// Unlinks `waiter` if it is linked; returns its waker (to be dropped after the
    /// lock is released: a waker's drop is user code).
    ///
    /// # Safety
    ///
    /// `waiter` is live, and was only ever linked into this list; the caller holds its
    /// mutex.
    pub(crate) unsafe fn remove(&mut self, waiter: NonNull<Waiter>) -> Option<Waker> {
        let node = waiter.as_ptr().cast_const();
        // SAFETY: live (duty), ours under the lock.
        let (linked, prev, next) = unsafe {
            (*node)
                .links
                .with(|links| ((*links).linked, (*links).prev, (*links).next))
        };
        if !linked {
            return None;
        }
        match NonNull::new(prev.cast_mut()) {
            // SAFETY: a linked node's neighbours are linked, so live; ours under the lock.
            Some(prev) => unsafe {
                (*prev.as_ptr())
                    .links
                    .with_mut(|links| (*links).next = next)
            },
            None => self.head = next,
        }
        match NonNull::new(next.cast_mut()) {
            // SAFETY: as above.
            Some(next) => unsafe {
                (*next.as_ptr())
                    .links
                    .with_mut(|links| (*links).prev = prev)
            },
            None => self.tail = prev,
        }
        // SAFETY: as above.
        unsafe {
            (*node).links.with_mut(|links| {
                (*links).linked = false;
                (*links).prev = ptr::null();
                (*links).next = ptr::null();
                (*links).waker.take()
            })
        }
    }

    /// Unlinks the oldest waiter; returns its waker, to be woken once the lock is
    /// released.
    pub(crate) fn pop_front(&mut self) -> Option<Waker> {
        let head = NonNull::new(self.head.cast_mut())?;
        // SAFETY: the head is linked, so live (its owner unlinks it before it goes);
        // `&mut self` is the lock; it was linked into this list.
        unsafe { self.remove(head) }
    }
}
