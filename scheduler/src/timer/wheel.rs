//! The hierarchical timing wheel: where armed entries wait, owned by whoever drives the
//! timers (no atomics here).
//!
//! Time is in nanoseconds after the timers' epoch, the wheel's tick: a deadline is kept
//! exactly, so an entry never fires before it (`deadline <= now`), and virtual time
//! stops exactly on a deadline. [`LEVELS`] levels of 64 slots cover the whole `u64`
//! range (6 bits per level; level `l` has slots of `64^l` ns). An entry sits at the
//! level of the highest 6-bit group in which its deadline differs from `elapsed` (the
//! time the wheel has been advanced to), in the slot its deadline has in that group:
//! the scheme of tokio's and the Linux kernel's wheels. Each level keeps a bitmap of
//! its occupied slots, so the next expiration is found with a rotate and a count of
//! trailing zeros per level, not by stepping through ticks.
//!
//! Advancing: the first level with an occupied slot holds the earliest entries (an
//! entry at level `l` differs from `elapsed` in group `l`, so it comes after every
//! entry of the lower levels, which share that group with `elapsed`). Its next occupied
//! slot starts at the expiration time; the wheel moves `elapsed` there, takes the
//! slot's list whole, and hands each entry back to the caller: due (deadline reached)
//! or to be re-inserted, which puts it at a lower level (the cascade). A slot's list is
//! FIFO, and a cascade keeps its order, so entries with equal deadlines come out in the
//! order they went in.
//!
//! `elapsed` never passes an occupied slot without taking it: it moves to an
//! expiration, or to a `now` before the next expiration.

use core::ptr::{self, NonNull};

use super::entry::TimerHeader;

/// Levels of 64 slots: 11 × 6 bits cover a `u64` of nanoseconds.
pub(crate) const LEVELS: usize = 11;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;

/// A FIFO list of entries linked through their `next`.
#[derive(Clone, Copy)]
pub(crate) struct List {
    head: *mut TimerHeader,
    tail: *mut TimerHeader,
}

impl List {
    pub(crate) const EMPTY: List = List {
        head: ptr::null_mut(),
        tail: ptr::null_mut(),
    };

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Appends `entry`.
    ///
    /// # Safety
    ///
    /// `entry` is alive, in no other list, and its links are the caller's to write.
    #[inline]
    pub(crate) unsafe fn push_back(&mut self, entry: NonNull<TimerHeader>) {
        // SAFETY: alive (the caller's duty).
        let header = unsafe { entry.as_ref() };
        header.set_next(ptr::null_mut());
        if self.tail.is_null() {
            self.head = entry.as_ptr();
        } else {
            // SAFETY: the tail is an entry of this list, alive while listed.
            unsafe { (*self.tail).set_next(entry.as_ptr()) };
        }
        self.tail = entry.as_ptr();
    }

    /// Inserts `entry` after every entry whose deadline is at most its own: a list
    /// kept in deadline order stays so, equal deadlines in insertion order. At the end
    /// in one step when it goes last (the usual case); else it walks the list.
    ///
    /// # Safety
    ///
    /// As for [`push_back`](List::push_back); every listed entry is alive.
    pub(crate) unsafe fn insert_sorted(&mut self, entry: NonNull<TimerHeader>) {
        // SAFETY: alive (the caller's duty).
        let deadline = unsafe { entry.as_ref() }.deadline();
        // SAFETY: the tail is a listed entry, alive (the caller's duty).
        if self.tail.is_null() || unsafe { (*self.tail).deadline() } <= deadline {
            // SAFETY: the caller's duty.
            unsafe { self.push_back(entry) };
            return;
        }
        let mut sorted = List::EMPTY;
        let mut placed = false;
        while let Some(listed) = self.pop_front() {
            // SAFETY: a listed entry is alive (the caller's duty).
            if !placed && unsafe { listed.as_ref() }.deadline() > deadline {
                // SAFETY: the caller's duty; taken out of no list.
                unsafe { sorted.push_back(entry) };
                placed = true;
            }
            // SAFETY: just taken off this list: unlisted.
            unsafe { sorted.push_back(listed) };
        }
        debug_assert!(placed, "the tail's deadline is after the entry's");
        *self = sorted;
    }

    /// Takes the first entry.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<NonNull<TimerHeader>> {
        let head = NonNull::new(self.head)?;
        // SAFETY: a listed entry is alive; its link is the list owner's.
        let next = unsafe { head.as_ref() }.next();
        self.head = next;
        if next.is_null() {
            self.tail = ptr::null_mut();
        }
        Some(head)
    }
}

struct Level {
    occupied: u64,
    slots: [List; SLOTS],
}

/// The earliest occupied slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Expiration {
    level: usize,
    slot: usize,
    /// When the slot starts (ns after the epoch).
    pub(crate) deadline: u64,
}

/// The wheel. Not thread-safe: its owner is the timers' driver.
pub(crate) struct Wheel {
    elapsed: u64,
    levels: [Level; LEVELS],
    /// Entries in the wheel.
    pub(crate) len: usize,
}

impl Wheel {
    pub(crate) fn new() -> Self {
        Self {
            elapsed: 0,
            levels: core::array::from_fn(|_| Level {
                occupied: 0,
                slots: [List::EMPTY; SLOTS],
            }),
            len: 0,
        }
    }

    /// The time the wheel has been advanced to.
    #[inline]
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Inserts `entry`, whose deadline is after `elapsed`.
    ///
    /// # Safety
    ///
    /// As for [`List::push_back`].
    pub(crate) unsafe fn insert(&mut self, entry: NonNull<TimerHeader>) {
        // SAFETY: alive (the caller's duty).
        let deadline = unsafe { entry.as_ref() }.deadline();
        debug_assert!(
            deadline > self.elapsed,
            "a due entry is fired, not inserted"
        );
        let level = level_for(self.elapsed, deadline);
        let slot = slot_for(deadline, level);
        let level = &mut self.levels[level];
        // SAFETY: the caller's duty.
        unsafe { level.slots[slot].push_back(entry) };
        level.occupied |= 1 << slot;
        self.len += 1;
    }

    /// The earliest occupied slot, if any.
    pub(crate) fn next_expiration(&self) -> Option<Expiration> {
        for (index, level) in self.levels.iter().enumerate() {
            if level.occupied == 0 {
                continue;
            }
            let shift = index as u32 * SLOT_BITS;
            let now_slot = ((self.elapsed >> shift) as usize) & (SLOTS - 1);
            let zeros = level
                .occupied
                .rotate_right(now_slot as u32)
                .trailing_zeros() as usize;
            let slot = (zeros + now_slot) % SLOTS;
            // The level's whole range (64^(index+1) ns) may not fit a u64: u128.
            let range = 1u128 << (shift + SLOT_BITS);
            let start = u128::from(self.elapsed) & !(range - 1);
            let mut deadline = start + ((slot as u128) << shift);
            if slot < now_slot {
                // Wrapped around (cannot happen while `elapsed` never passes an
                // occupied slot; kept for robustness).
                deadline += range;
            }
            let deadline = u64::try_from(deadline).unwrap_or(u64::MAX);
            return Some(Expiration {
                level: index,
                slot,
                deadline,
            });
        }
        None
    }

    /// Takes the slot of `expiration` whole and moves `elapsed` to its start. The
    /// caller fires the entries that are due (`deadline <= elapsed`) and re-inserts
    /// the rest (a cascade to a lower level).
    pub(crate) fn take(&mut self, expiration: Expiration) -> List {
        debug_assert!(expiration.deadline >= self.elapsed);
        self.elapsed = expiration.deadline;
        let level = &mut self.levels[expiration.level];
        level.occupied &= !(1 << expiration.slot);
        let list = core::mem::replace(&mut level.slots[expiration.slot], List::EMPTY);
        let mut counted = list;
        while counted.pop_front().is_some() {
            self.len -= 1;
        }
        list
    }

    /// Moves `elapsed` to `now`, which must be before the next expiration.
    pub(crate) fn advance_idle(&mut self, now: u64) {
        debug_assert!(self.next_expiration().is_none_or(|e| e.deadline > now));
        if now > self.elapsed {
            self.elapsed = now;
        }
    }

    /// Takes every entry out, level by level, slot by slot.
    pub(crate) fn drain(&mut self, mut each: impl FnMut(NonNull<TimerHeader>)) {
        for level in &mut self.levels {
            level.occupied = 0;
            for slot in &mut level.slots {
                let mut list = core::mem::replace(slot, List::EMPTY);
                while let Some(entry) = list.pop_front() {
                    each(entry);
                }
            }
        }
        self.len = 0;
    }

    /// Keeps only the entries `keep` accepts (a sweep of cancelled ones); the others
    /// are handed to `removed`.
    pub(crate) fn retain(
        &mut self,
        mut keep: impl FnMut(NonNull<TimerHeader>) -> bool,
        mut removed: impl FnMut(NonNull<TimerHeader>),
    ) {
        for level in &mut self.levels {
            for (index, slot) in level.slots.iter_mut().enumerate() {
                let mut list = core::mem::replace(slot, List::EMPTY);
                while let Some(entry) = list.pop_front() {
                    if keep(entry) {
                        // SAFETY: taken from this slot's list just now: alive, unlisted.
                        unsafe { slot.push_back(entry) };
                    } else {
                        self.len -= 1;
                        removed(entry);
                    }
                }
                if slot.is_empty() {
                    level.occupied &= !(1 << index);
                }
            }
        }
    }
}

/// The level for `deadline` seen from `elapsed`: the highest 6-bit group where they
/// differ (group 0 when they differ only in it, or not at all).
#[inline]
fn level_for(elapsed: u64, deadline: u64) -> usize {
    let masked = (elapsed ^ deadline) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros();
    (significant / SLOT_BITS) as usize
}

#[inline]
fn slot_for(deadline: u64, level: usize) -> usize {
    ((deadline >> (level as u32 * SLOT_BITS)) as usize) & (SLOTS - 1)
}

#[cfg(all(test, not(zeta_loom)))]
mod tests {
    use super::*;
    use crate::timer::entry::{Fire, TimerVTable};

    unsafe fn never(_: NonNull<TimerHeader>) -> Fire {
        unreachable!()
    }
    unsafe fn nothing(_: NonNull<TimerHeader>) {}
    static VTABLE: TimerVTable = TimerVTable {
        fire: never,
        discard: nothing,
        release: nothing,
    };

    fn entry(deadline: u64) -> Box<TimerHeader> {
        let header = Box::new(TimerHeader::new(&VTABLE, 1, false));
        header.set_deadline(deadline);
        header
    }

    /// Advances to `now` the way the driver does, returning the deadlines fired.
    fn advance(wheel: &mut Wheel, now: u64) -> Vec<u64> {
        let mut fired = Vec::new();
        while let Some(expiration) = wheel.next_expiration() {
            if expiration.deadline > now {
                break;
            }
            let mut list = wheel.take(expiration);
            while let Some(entry) = list.pop_front() {
                // SAFETY: the test's boxes outlive the wheel's use of them.
                let deadline = unsafe { entry.as_ref() }.deadline();
                if deadline <= wheel.elapsed() {
                    assert!(deadline <= now, "fired early");
                    fired.push(deadline);
                } else {
                    // SAFETY: as above; the entry left its slot.
                    unsafe { wheel.insert(entry) };
                }
            }
        }
        wheel.advance_idle(now);
        fired
    }

    #[test]
    fn levels_and_slots() {
        assert_eq!(level_for(0, 1), 0);
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(0, u64::MAX), 10);
        assert_eq!(level_for(100, 101), 0);
        assert_eq!(slot_for(64 * 5 + 3, 1), 5);
    }

    #[test]
    fn fires_in_deadline_order_never_early() {
        let mut wheel = Wheel::new();
        let deadlines = [
            5u64,
            1,
            64,
            63,
            4096,
            4095,
            1_000_000,
            999_999,
            17,
            17,
            1 << 40,
            u64::MAX - 1,
            (1 << 40) + 1,
        ];
        let boxes: Vec<_> = deadlines.iter().map(|&d| entry(d)).collect();
        for b in &boxes {
            // SAFETY: boxes outlive the wheel's use.
            unsafe { wheel.insert(NonNull::from(&**b)) };
        }
        assert_eq!(wheel.len, deadlines.len());
        let mut fired = Vec::new();
        for now in [0, 16, 17, 100, 5000, 1_000_000, 1 << 41, u64::MAX] {
            fired.extend(advance(&mut wheel, now));
        }
        let mut sorted = deadlines.to_vec();
        sorted.sort_unstable();
        assert_eq!(fired, sorted);
        assert_eq!(wheel.len, 0);
        assert!(wheel.next_expiration().is_none());
    }

    #[test]
    fn a_pseudo_random_schedule_fires_sorted() {
        // The crate's seeded generator: the same schedule on every run.
        let mut state = crate::rng::state_for(0x2545_F491_4F6C_DD1D);
        let mut wheel = Wheel::new();
        let mut boxes = Vec::new();
        let mut expected = Vec::new();
        let mut fired = Vec::new();
        let mut now = 0u64;
        for round in 0..2000 {
            let draw = crate::rng::next(&mut state);
            let delay = match round % 4 {
                0 => draw % 64,
                1 => draw % 100_000,
                2 => draw % 10_000_000_000,
                _ => draw % (1 << 50),
            } + 1;
            let b = entry(now + delay);
            // SAFETY: boxes outlive the wheel's use.
            unsafe { wheel.insert(NonNull::from(&*b)) };
            expected.push(now + delay);
            boxes.push(b);
            now += draw % 50_000;
            fired.extend(advance(&mut wheel, now));
        }
        fired.extend(advance(&mut wheel, u64::MAX));
        let mut sorted = expected.clone();
        sorted.sort_unstable();
        assert_eq!(fired, sorted);
    }
}
