//! loom models of the bridge (`bridge` module doc): other threads' sends into a local
//! system through its one lock-free inbox, and the system's loop that drains it and
//! parks when it has nothing to do.
//!
//! Run with `RUSTFLAGS="--cfg zeta_loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2
//! CARGO_TARGET_DIR=target/loom cargo test --release -p zeta --lib local`.
//!
//! The models run the real `LocalSystem`, `SendAddress` and bridge (the inbox's atomics
//! are loom's, through zeta-mailbox's `sync`; the park and unpark are loom's, through
//! the crate's `sync::thread`). What they check:
//!
//! - no lost wake-up: a loop that parks whenever it finds nothing to do never sleeps
//!   through a message (loom reports a deadlock if the last push's unpark is missed);
//! - conservation at the system's end: a message sent while the system is dropped is
//!   handled, or handed back to its sender, or dropped undelivered, exactly one of the
//!   three, and every node goes back to the memory resource.
//!
//! Seen to fail with a step broken: `Bridge::park` parking without blocking the inbox
//! first (`try_block`), so that a push onto the open inbox returns `Queued` and wakes
//! nobody, deadlocks the first model ("deadlock; threads = [..]").

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use zeta_arena::{CountingResource, GlobalResource};

use crate::local::{LocalActor, LocalContext, LocalSystem};

struct Sum(Rc<Cell<u64>>);

impl LocalActor for Sum {
    type Message = Counted;
    fn handle(&mut self, message: Counted, _ctx: &mut LocalContext<'_, Self>) {
        self.0.set(self.0.get() + message.value);
    }
}

/// A payload that counts its drops (a std atomic: a statistic, not part of the
/// protocol under test).
struct Counted {
    value: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn a_cross_thread_send_always_wakes_the_parked_loop() {
    loom::model(|| {
        let system = LocalSystem::new(8).unwrap();
        let total = Rc::new(Cell::new(0));
        let sum = system.spawn(Sum(total.clone())).unwrap();
        let remote = sum.sendable().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let sender_drops = drops.clone();
        let sender = loom::thread::spawn(move || {
            for value in [1, 2] {
                let message = Counted {
                    value,
                    drops: sender_drops.clone(),
                };
                assert!(remote.send(message).is_ok());
            }
        });
        while total.get() != 3 {
            system.run_until_idle().unwrap();
            if total.get() != 3 {
                system.park(None).unwrap();
            }
        }
        sender.join().unwrap();
        drop((sum, system));
        assert_eq!(drops.load(Ordering::Relaxed), 2);
    });
}

#[test]
fn a_send_racing_the_systems_end_is_handled_returned_or_dropped_once() {
    loom::model(|| {
        let memory = Arc::new(CountingResource::new(GlobalResource));
        let system = LocalSystem::with_resource(8, memory.clone()).unwrap();
        let total = Rc::new(Cell::new(0));
        let sum = system.spawn(Sum(total.clone())).unwrap();
        let remote = sum.sendable().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let sender_drops = drops.clone();
        let sender = loom::thread::spawn(move || {
            let message = Counted {
                value: 1,
                drops: sender_drops,
            };
            match remote.send(message) {
                Ok(()) => 0,
                Err(refused) => {
                    drop(refused.into_message());
                    1
                }
            }
        });
        system.run_until_idle().unwrap();
        let handled = total.get();
        drop(system);
        let returned = sender.join().unwrap();
        drop(sum);
        // Handled, or handed back, or dropped at the stop: one of them, and one drop.
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        assert!(handled + returned <= 1);
        assert_eq!(memory.live_blocks(), 0);
    });
}
