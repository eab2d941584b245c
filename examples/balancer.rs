//! actor-zeta's balancer example: a key-value collection split over three "part" actors,
//! reached through a round-robin [`Balancer`] that has no inbox of its own (sending through
//! it pushes straight into the chosen part's inbox).
//!
//! The balancer keeps one ticket counter, so when one thread sends through it the i-th
//! operation goes to part `i % 3`. The sequence below is laid out so that operation i
//! always concerns key `i % 3`: inserts 0, 1, 2; updates 0, 1; remove 2; finds 0, 1, 2.
//! Every operation — the finds too (with `ask`) — therefore goes through the balancer's
//! own round-robin and still reaches the part that holds its key; per-sender FIFO orders
//! each key's insert before its update, remove and find.
//!
//! It checks its own result and exits non-zero if anything is wrong: placement by `i % 3`
//! (each part is asked directly, through `members()`, which keys it was given), exactly
//! 3 inserts, 2 updates and 1 remove seen across the parts with no operation on a missing
//! key, and finds returning the updated values (and `None` for the removed key).
//!
//! Run: `cargo run --release --example balancer`

use std::collections::HashMap;
use std::process::ExitCode;

use zeta::{Actor, Balancer, Context, Reply, Strategy, System};

const PARTS: usize = 3;

/// One operation on the collection.
enum Op {
    Insert(u64, String),
    Update(u64, String),
    Remove(u64),
    Find(u64, Reply<Option<String>>),
    /// Asked of each part directly, at the end.
    Stats(Reply<PartStats>),
}

#[derive(Debug, Default)]
struct PartStats {
    /// Keys ever inserted here, in order.
    placed: Vec<u64>,
    /// Keys held now, sorted.
    held: Vec<u64>,
    inserts: u64,
    updates: u64,
    removes: u64,
    /// Updates or removes of a key this part does not hold, inserts of one it does.
    misses: u64,
}

/// A part of the collection: a plain `HashMap`, touched only by its own handler.
#[derive(Default)]
struct Part {
    map: HashMap<u64, String>,
    stats: PartStats,
}

impl Actor for Part {
    type Message = Op;

    fn handle(&mut self, op: Op, _ctx: &mut Context<'_, Self>) {
        let stats = &mut self.stats;
        match op {
            Op::Insert(key, value) => {
                stats.inserts += 1;
                stats.placed.push(key);
                if self.map.insert(key, value).is_some() {
                    stats.misses += 1;
                }
            }
            Op::Update(key, value) => {
                stats.updates += 1;
                match self.map.get_mut(&key) {
                    Some(slot) => *slot = value,
                    None => stats.misses += 1,
                }
            }
            Op::Remove(key) => {
                stats.removes += 1;
                if self.map.remove(&key).is_none() {
                    stats.misses += 1;
                }
            }
            Op::Find(key, reply) => {
                // Err only if the asker has gone.
                let _ = reply.send(self.map.get(&key).cloned());
            }
            Op::Stats(reply) => {
                let mut held: Vec<u64> = self.map.keys().copied().collect();
                held.sort_unstable();
                stats.held = held;
                let _ = reply.send(core::mem::take(stats));
            }
        }
    }
}

fn run() -> Result<(), String> {
    let system = System::sharing(2).map_err(|e| format!("scheduler: {e:?}"))?;
    let parts = (0..PARTS)
        // (`SpawnError` carries the actor back: map it right away, it is large.)
        .map(|_| system.spawn(Part::default()).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let balancer = Balancer::new(parts, Strategy::RoundRobin).map_err(|e| e.to_string())?;

    // Operation i concerns key i % 3 (see the module doc): the round-robin ticket and the
    // key agree all the way through.
    let mut ticket = 0u64;
    let mut next_key = || {
        let key = ticket % PARTS as u64;
        ticket += 1;
        key
    };
    for key in [0, 1, 2] {
        assert_eq!(key, next_key());
        let op = Op::Insert(key, format!("value-{key}"));
        balancer.send(op).map_err(|e| e.to_string())?;
    }
    for key in [0, 1] {
        assert_eq!(key, next_key());
        let op = Op::Update(key, format!("value-{key}-updated"));
        balancer.send(op).map_err(|e| e.to_string())?;
    }
    assert_eq!(2, next_key());
    balancer.send(Op::Remove(2)).map_err(|e| e.to_string())?;
    let mut finds = Vec::new();
    for key in [0, 1, 2] {
        assert_eq!(key, next_key());
        let future = balancer
            .ask(|reply| Op::Find(key, reply))
            .map_err(|e| e.to_string())?;
        finds.push((key, future));
    }

    let mut errors = Vec::new();
    for (key, future) in finds {
        let found = future.wait().map_err(|e| format!("find {key}: {e}"))?;
        let expected = (key < 2).then(|| format!("value-{key}-updated"));
        println!("find({key}) through the balancer -> {found:?}");
        if found != expected {
            errors.push(format!("find({key}) = {found:?}, expected {expected:?}"));
        }
    }

    println!("| part | keys placed | keys held | inserts | updates | removes | misses |");
    println!("|---|---|---|---|---|---|---|");
    let mut totals = [0u64; 4];
    for (i, part) in balancer.members().iter().enumerate() {
        let stats = part
            .ask(Op::Stats)
            .map_err(|e| e.to_string())?
            .wait()
            .map_err(|e| format!("stats of part {i}: {e}"))?;
        println!(
            "| {i} | {:?} | {:?} | {} | {} | {} | {} |",
            stats.placed, stats.held, stats.inserts, stats.updates, stats.removes, stats.misses
        );
        if stats.placed != [i as u64] {
            errors.push(format!("part {i} was given keys {:?}", stats.placed));
        }
        let held: &[u64] = if i < 2 { &[i as u64] } else { &[] };
        if stats.held != held {
            errors.push(format!(
                "part {i} holds {:?}, expected {held:?}",
                stats.held
            ));
        }
        totals[0] += stats.inserts;
        totals[1] += stats.updates;
        totals[2] += stats.removes;
        totals[3] += stats.misses;
    }
    println!(
        "total: {} inserts, {} updates, {} removes, {} misses",
        totals[0], totals[1], totals[2], totals[3]
    );
    if totals != [3, 2, 1, 0] {
        errors.push(format!(
            "inserts/updates/removes/misses {totals:?}, expected [3, 2, 1, 0]"
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            println!("ok: placement by i % 3, counts 3/2/1, finds see the updates");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}
