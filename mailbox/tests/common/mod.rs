//! Shared test payloads: a payload that records its drop, per id.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

/// One drop counter per message id: after a test, every id must read exactly 1.
pub struct Drops(Vec<AtomicU32>);

impl Drops {
    /// Counters for ids `0..n`, all zero.
    pub fn new(n: usize) -> Self {
        Self((0..n).map(|_| AtomicU32::new(0)).collect())
    }

    /// Panics unless every id was dropped exactly once.
    pub fn assert_each_dropped_once(&self) {
        for (id, count) in self.0.iter().enumerate() {
            assert_eq!(
                count.load(Ordering::Relaxed),
                1,
                "message {id} dropped wrong number of times"
            );
        }
    }

    /// Panics unless ids `0..n` were each dropped exactly once and the rest never.
    pub fn assert_first_dropped_once(&self, n: usize) {
        for (id, count) in self.0.iter().enumerate() {
            let expected = u32::from(id < n);
            assert_eq!(
                count.load(Ordering::Relaxed),
                expected,
                "message {id} dropped wrong number of times"
            );
        }
    }

    /// How many ids have been dropped at least once.
    pub fn dropped(&self) -> usize {
        self.0
            .iter()
            .filter(|c| c.load(Ordering::Relaxed) > 0)
            .count()
    }
}

/// A payload that counts its drop in `Drops`.
pub struct Tracked<'d> {
    /// Unique id: the index of its drop counter.
    pub id: usize,
    /// Which producer sent it.
    pub producer: usize,
    /// The producer's sequence number.
    pub seq: u64,
    drops: &'d Drops,
}

impl<'d> Tracked<'d> {
    /// A payload counted in `drops` under `id`.
    pub fn new(drops: &'d Drops, id: usize, producer: usize, seq: u64) -> Self {
        Self {
            id,
            producer,
            seq,
            drops,
        }
    }
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.drops.0[self.id].fetch_add(1, Ordering::Relaxed);
    }
}
