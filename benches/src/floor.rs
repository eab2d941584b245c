//! The floor: a hand-rolled, single-threaded actor loop with no atomics, the baseline
//! every zeta figure is divided by (DESIGN.md, "Numbers": "floor (hand-rolled, 1
//! thread)").
//!
//! # What it is
//!
//! The cheapest correct thing one thread can do to run actors:
//!
//! - an actor is a boxed behaviour, `Box<dyn FnMut(M, &mut Ctx<M>)>` (one indirect call
//!   per message, as zeta's dispatch through an actor's table), and a mailbox: two
//!   `VecDeque<M>`s (high and normal priority) holding the messages by value, so a
//!   message costs no allocation once the deques have grown;
//! - the run queue is a `VecDeque` of actor indices, and each mailbox has a `ready` flag,
//!   set by the send that finds it clear: an actor is queued once, however many messages
//!   wait for it, and is never queued while it runs;
//! - a turn pops an actor and hands it up to `max_throughput` messages, high before
//!   normal, each priority FIFO; the actor is queued again at the back if messages
//!   remain, else its flag is cleared;
//! - an [`ActorId`] is an index and a generation: an actor that stops (`Ctx::stop`)
//!   drops its behaviour and its queued messages, bumps its slot's generation, so that a
//!   send to the old id fails (`Err(message)`, as zeta's closed inbox), and leaves the
//!   slot for the next spawn.
//!
//! Everything is owned by one `Floor` on one thread: no atomic, no lock, no reference
//! count, no memory ordering, no thread hand-off, no wake-up. The messages of one
//! `Floor` are one type `M` (a case with several kinds of actors uses one enum).
//!
//! # Why it is the baseline
//!
//! It keeps zeta's semantics (per-sender FIFO, high before normal, an actor run by one
//! thread at a time and queued at most once, `max_throughput` per turn, a failed send
//! to a stopped actor) and drops everything zeta needs to be usable from many threads:
//! the multi-producer inbox, the exactly-once scheduling handshake, the message nodes
//! in a memory resource shared across threads, the futures. The ratio `zeta ÷ floor`,
//! measured in the same process, is then what that costs, on a given machine; a change
//! to the engine shows as the ratio moving, whatever the machine's speed. A local
//! (`!Send`) mode of zeta could at best approach this figure.
//!
//! It is not a toy actor library to be used: it has no timers, no requests (a case that
//! needs a reply lets a behaviour write into shared state, or sends a message back), no
//! spawning from inside a handler, and a panic in a behaviour unwinds through
//! [`Floor::run_until_idle`].
//!
//! # Example
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use zeta_bench::floor::Floor;
//!
//! let total = Rc::new(Cell::new(0));
//! let mut floor = Floor::new(64);
//! let counter = {
//!     let total = total.clone();
//!     floor.spawn(move |n: u64, _ctx| total.set(total.get() + n))
//! };
//! for n in 1..=10 {
//!     floor.send(counter, n).unwrap();
//! }
//! let stats = floor.run_until_idle();
//! assert_eq!(total.get(), 55);
//! assert_eq!((stats.resumes, stats.messages), (1, 10));
//! ```

use std::collections::VecDeque;

/// An actor's behaviour: called once per message, with the actor's [`Ctx`].
pub type Behaviour<M> = Box<dyn FnMut(M, &mut Ctx<'_, M>)>;

/// The address of an actor of a [`Floor`]: its slot and the slot's generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ActorId {
    index: u32,
    generation: u32,
}

impl ActorId {
    /// The actor's slot, from 0 in spawn order (a stopped actor's slot is reused).
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// One actor's queued messages and its place in the run queue.
struct Mailbox<M> {
    high: VecDeque<M>,
    normal: VecDeque<M>,
    /// The generation of the slot's current actor; bumped when it stops.
    generation: u32,
    /// Queued in the run queue, or running: a send must not queue it again.
    ready: bool,
}

impl<M> Mailbox<M> {
    #[inline]
    fn pop(&mut self) -> Option<M> {
        if self.high.is_empty() {
            self.normal.pop_front()
        } else {
            self.high.pop_front()
        }
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.high.is_empty() && self.normal.is_empty()
    }
}

/// Queues `message` for `to` and, if `to` was idle, `to` on the run queue.
#[inline]
fn deliver<M>(
    mailboxes: &mut [Mailbox<M>],
    run_queue: &mut VecDeque<u32>,
    to: ActorId,
    message: M,
    high: bool,
) -> Result<(), M> {
    let Some(mailbox) = mailboxes.get_mut(to.index as usize) else {
        return Err(message);
    };
    if mailbox.generation != to.generation {
        return Err(message); // stopped
    }
    if high {
        mailbox.high.push_back(message);
    } else {
        mailbox.normal.push_back(message);
    }
    if !mailbox.ready {
        mailbox.ready = true;
        run_queue.push_back(to.index);
    }
    Ok(())
}

/// What a behaviour can do while it handles a message: send, and stop itself.
pub struct Ctx<'a, M> {
    me: ActorId,
    mailboxes: &'a mut [Mailbox<M>],
    run_queue: &'a mut VecDeque<u32>,
    stopped: bool,
}

impl<M> Ctx<'_, M> {
    /// The running actor's own id.
    #[inline]
    pub fn me(&self) -> ActorId {
        self.me
    }

    /// Sends `message` to `to` at normal priority (to itself too).
    ///
    /// # Errors
    ///
    /// The message back if `to` has stopped.
    #[inline]
    pub fn send(&mut self, to: ActorId, message: M) -> Result<(), M> {
        deliver(self.mailboxes, self.run_queue, to, message, false)
    }

    /// Sends `message` to `to` at high priority: it is handled before every normal one
    /// queued there.
    ///
    /// # Errors
    ///
    /// The message back if `to` has stopped.
    #[inline]
    pub fn send_high(&mut self, to: ActorId, message: M) -> Result<(), M> {
        deliver(self.mailboxes, self.run_queue, to, message, true)
    }

    /// Stops the running actor once this message is handled: its behaviour and any
    /// message still queued for it are dropped, and sends to it fail from then on.
    #[inline]
    pub fn stop(&mut self) {
        self.stopped = true;
    }
}

/// What one [`Floor::run_until_idle`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Turns: actors taken from the run queue.
    pub resumes: u64,
    /// Messages handled.
    pub messages: u64,
    /// Messages dropped because their actor stopped before handling them.
    pub dropped: u64,
}

/// A single-threaded actor loop: the floor (see the [module doc](self)).
pub struct Floor<M> {
    mailboxes: Vec<Mailbox<M>>,
    /// `None` for a free slot.
    behaviours: Vec<Option<Behaviour<M>>>,
    run_queue: VecDeque<u32>,
    /// Free slots, reused last in, first out.
    free: Vec<u32>,
    max_throughput: usize,
}

impl<M> Floor<M> {
    /// An empty floor whose actors handle at most `max_throughput` messages per turn.
    ///
    /// # Panics
    ///
    /// If `max_throughput` is 0.
    pub fn new(max_throughput: usize) -> Self {
        assert!(max_throughput > 0, "max_throughput must be at least 1");
        Self {
            mailboxes: Vec::new(),
            behaviours: Vec::new(),
            run_queue: VecDeque::new(),
            free: Vec::new(),
            max_throughput,
        }
    }

    /// Adds an actor; it runs when it gets a message. Boxes `behaviour` (a global
    /// allocation unless it captures nothing) and takes a stopped actor's slot if there
    /// is one (its deques keep their capacity).
    ///
    /// # Panics
    ///
    /// Beyond `u32::MAX` slots.
    pub fn spawn(&mut self, behaviour: impl FnMut(M, &mut Ctx<'_, M>) + 'static) -> ActorId {
        let behaviour: Behaviour<M> = Box::new(behaviour);
        if let Some(index) = self.free.pop() {
            self.behaviours[index as usize] = Some(behaviour);
            let generation = self.mailboxes[index as usize].generation;
            return ActorId { index, generation };
        }
        let index = u32::try_from(self.mailboxes.len()).expect("at most u32::MAX actors");
        self.mailboxes.push(Mailbox {
            high: VecDeque::new(),
            normal: VecDeque::new(),
            generation: 0,
            ready: false,
        });
        self.behaviours.push(Some(behaviour));
        ActorId {
            index,
            generation: 0,
        }
    }

    /// Sends `message` to `to` at normal priority, from outside any actor.
    ///
    /// # Errors
    ///
    /// The message back if `to` has stopped.
    #[inline]
    pub fn send(&mut self, to: ActorId, message: M) -> Result<(), M> {
        deliver(&mut self.mailboxes, &mut self.run_queue, to, message, false)
    }

    /// Sends `message` to `to` at high priority, from outside any actor.
    ///
    /// # Errors
    ///
    /// The message back if `to` has stopped.
    #[inline]
    pub fn send_high(&mut self, to: ActorId, message: M) -> Result<(), M> {
        deliver(&mut self.mailboxes, &mut self.run_queue, to, message, true)
    }

    /// Runs turns until no actor has a message.
    ///
    /// # Panics
    ///
    /// Unwinds a behaviour's panic (the floor is then in no state to be run again).
    pub fn run_until_idle(&mut self) -> RunStats {
        let mut stats = RunStats::default();
        let max_throughput = self.max_throughput;
        while let Some(index) = self.run_queue.pop_front() {
            let slot = index as usize;
            stats.resumes += 1;
            let Some(behaviour) = self.behaviours[slot].as_mut() else {
                unreachable!("only a live actor is queued");
            };
            let mut ctx = Ctx {
                me: ActorId {
                    index,
                    generation: self.mailboxes[slot].generation,
                },
                mailboxes: &mut self.mailboxes,
                run_queue: &mut self.run_queue,
                stopped: false,
            };
            let mut handled = 0;
            while handled < max_throughput {
                let Some(message) = ctx.mailboxes[slot].pop() else {
                    break;
                };
                handled += 1;
                behaviour(message, &mut ctx);
                if ctx.stopped {
                    break;
                }
            }
            stats.messages += handled as u64;
            if ctx.stopped {
                stats.dropped += self.retire(index);
                continue;
            }
            let mailbox = &mut self.mailboxes[slot];
            if mailbox.is_empty() {
                mailbox.ready = false;
            } else {
                self.run_queue.push_back(index);
            }
        }
        stats
    }

    /// Frees a stopped actor's slot (it is not in the run queue: it was running);
    /// returns the messages dropped.
    fn retire(&mut self, index: u32) -> u64 {
        let slot = index as usize;
        self.behaviours[slot] = None;
        let mailbox = &mut self.mailboxes[slot];
        let dropped = (mailbox.high.len() + mailbox.normal.len()) as u64;
        mailbox.high.clear();
        mailbox.normal.clear();
        mailbox.ready = false;
        mailbox.generation = mailbox.generation.wrapping_add(1);
        self.free.push(index);
        dropped
    }

    /// Actors that have not stopped.
    pub fn live(&self) -> usize {
        self.behaviours.len() - self.free.len()
    }

    /// Whether every mailbox is empty (after [`run_until_idle`](Floor::run_until_idle)
    /// it is).
    pub fn is_idle(&self) -> bool {
        self.run_queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[test]
    fn high_before_normal_fifo_within_each() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let mut floor = Floor::new(64);
        let log = seen.clone();
        let actor = floor.spawn(move |n: u32, _ctx| log.borrow_mut().push(n));
        for n in [1, 2, 3] {
            floor.send(actor, n).unwrap();
        }
        for n in [10, 11] {
            floor.send_high(actor, n).unwrap();
        }
        floor.run_until_idle();
        assert_eq!(*seen.borrow(), [10, 11, 1, 2, 3]);
    }

    #[test]
    fn an_actor_is_queued_once_and_turns_are_bounded() {
        let mut floor = Floor::new(3);
        let a = floor.spawn(|_: (), _ctx| {});
        let b = floor.spawn(|_: (), _ctx| {});
        for _ in 0..7 {
            floor.send(a, ()).unwrap();
        }
        floor.send(b, ()).unwrap();
        // a: 3, b: 1, a: 3, a: 1.
        let stats = floor.run_until_idle();
        assert_eq!(
            stats,
            RunStats {
                resumes: 4,
                messages: 8,
                dropped: 0
            }
        );
        assert!(floor.is_idle());
    }

    #[test]
    fn sends_from_a_behaviour_and_to_itself() {
        // A ring of 3 passing a countdown; the last one records who ended.
        let ended = Rc::new(RefCell::new(None));
        let mut floor: Floor<u64> = Floor::new(64);
        let ids: Rc<RefCell<Vec<ActorId>>> = Rc::default();
        for i in 0..3 {
            let (ids, ended) = (ids.clone(), ended.clone());
            floor.spawn(move |left, ctx| {
                if left == 0 {
                    *ended.borrow_mut() = Some(i);
                } else {
                    let next = ids.borrow()[(i + 1) % 3];
                    ctx.send(next, left - 1).unwrap();
                }
            });
        }
        let first = {
            let mut ids = ids.borrow_mut();
            ids.extend((0..3).map(|index| ActorId {
                index,
                generation: 0,
            }));
            ids[0]
        };
        floor.send(first, 10).unwrap();
        let stats = floor.run_until_idle();
        assert_eq!(*ended.borrow(), Some(10 % 3));
        assert_eq!(stats.messages, 11);
        assert_eq!(stats.resumes, 11);
    }

    #[test]
    fn a_stopped_actor_refuses_messages_and_its_slot_is_reused() {
        let mut floor = Floor::new(64);
        let first = floor.spawn(|_: u8, ctx| ctx.stop());
        floor.send(first, 1).unwrap();
        floor.send(first, 2).unwrap();
        let stats = floor.run_until_idle();
        assert_eq!((stats.messages, stats.dropped), (1, 1));
        assert_eq!(floor.live(), 0);
        assert_eq!(floor.send(first, 3), Err(3));
        let second = floor.spawn(|_: u8, _ctx| {});
        assert_eq!(second.index(), first.index());
        assert_ne!(second, first);
        assert_eq!(floor.send(first, 4), Err(4));
        floor.send(second, 5).unwrap();
        assert_eq!(floor.run_until_idle().messages, 1);
        assert_eq!(floor.live(), 1);
    }
}
