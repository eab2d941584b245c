//! Savina's `uct`, as a priority case: urgent and normal messages queued behind busy
//! actors, and the latency of each.
//!
//! **Savina.** `UctConfig` (Unbalanced Cobwebbed Tree): a root actor grows a tree of up
//! to 200 000 node actors. Each node asks the root whether it may have children; the
//! root answers with a coin toss, and for about half of the families
//! (`URGENT_NODE_PERCENT` = 50) marks one child urgent; children come
//! `BINOMIAL_PARAM` = 10 at a time, each with a computation size drawn from a normal
//! distribution (mean `AVG_COMP_SIZE` = 500, deviation `STDEV_COMP_SIZE` = 100, in units
//! of a 40 000-iteration busy loop). Then the root traverses the tree: every node runs
//! its computation and passes the traversal on to its children (an urgent child was to
//! get `UrgentTraverseMessage`, but only from a node that got one itself, which the root
//! never sends). "Urgent" there is a message *type*: Savina's actor libraries have no
//! mailbox priority, so an urgent message would wait in line like any other.
//!
//! **Ours.** What is kept: a root that drives the work, fan-outs of 10, 200 000 work
//! messages at scale 1, half of them urgent, each with a computation size drawn around
//! 500 ± 100. What changes: urgency is the mailbox's priority (`send_high`), and the
//! tree is flattened so that queues build up behind busy actors, which is where a
//! priority shows (no tree growth, no asks to the root per node):
//!
//! - 10 parent actors (the fan-out) and 4 node actors (the "few workers") on a
//!   `SharingScheduler`, in a counted pool.
//! - The root runs rounds. In a round it tells every parent `Go`; a parent sends a burst
//!   of 100 `Traverse` messages, each to a node drawn at random, in pairs of one urgent
//!   (`send_high`) and one normal in random order (exactly half urgent), each stamped
//!   with `Instant::now()` at the send, a sequence number per (parent, node, priority)
//!   and a computation size (500 ± 100, a sum of four uniforms, iterations of a
//!   multiply chain, some hundreds of nanoseconds: Savina's units without its ×40 000).
//!   Then it sends every node an `EndOfBurst` (normal priority, so after all its
//!   traversals of the round, urgent ones included). A node, per `Traverse`, reads the
//!   clock (the latency from send to the start of handling), then computes; when it
//!   has the 10 `EndOfBurst`s of the round it tells the root, and when all 4 nodes
//!   have, the root starts the next round, or answers the main thread after the last.
//!   The parents send faster than the nodes compute, so each round queues some 250
//!   messages behind each node: urgent ones overtake the normal ones queued before them.
//! - Latency samples go into two arrays of atomics (urgent, normal), one slot per pair
//!   of messages, allocated before the clock starts; a node swaps its sample in, so a
//!   slot written twice is seen. Sampling allocates nothing; it costs the two clock
//!   reads.
//! - Warm-up (not measured): 20 × scale rounds. The measured region: 200 × scale rounds
//!   (200 000 × scale `Traverse` messages), from the main thread's `ask` to the root's
//!   answer. Messages: per round 10 `Go`s, 1000 `Traverse`, 40 `EndOfBurst`, 4 round
//!   ends; plus the `ask` and its reply.
//!
//! **One op** is one `Traverse` message, sent, queued, handled and timed.
//!
//! **Checked.** Every `Traverse` was handled exactly once: per (parent, node, priority)
//! the node saw exactly the sequence numbers the parent sent, in order (per-sender FIFO
//! within a priority), and every sample slot of the measured rounds was written once;
//! the counts per priority are exact (half urgent); no send failed; at the end every
//! actor stops gracefully, nothing panicked or was left queued, and every block went
//! back to the pool. The check line gives the ratio of the urgent p50 to the normal
//! p50, and the pool's peak (the queues at their longest).
//!
//! **Local** (`--local`). The same actors, the same run and the same checks, built a
//! second time as local actors (`zeta::local`; the `savina` module doc says how) on a
//! `LocalSystem` that the main thread drives, in the same pool: the main thread's
//! requests are `LocalAddress::ask`s, and it runs the system until it is idle whenever
//! it waits for an answer, as it runs the `ManualScheduler` with `--manual`. The
//! samples go into the same arrays of atomics as on the thread-safe side: one atomic
//! swap per `Traverse`, the workload's, not the engine's.
//!
//! **Floor.** The same root, parents and nodes on the floor (`zeta_bench::floor`, one
//! thread, no atomics), with the same generators, priorities (`send_high` for the
//! urgent ones), clock reads, work and protocol (one enum for the three kinds of
//! actor); the samples go into `Cell`s, the root writes its answer and the actors
//! their reports into shared cells (the floor has no requests). On one thread a
//! parent's whole burst is queued before a node runs, so the queues are at least as
//! long as with zeta on one worker. Same sizes and checks; its check line gives its own
//! urgent p50 / normal p50. `messages` counts every message but the reply.

use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use fastrand::Rng;
use zeta::Priority;
use zeta_bench::floor::{ActorId, Ctx, Floor};

use super::{
    returned, Case, Config, FloorMeter, Latency, Measured, Outcome, SendWithPriority, Stoppable,
    MAX_THROUGHPUT,
};

/// The case.
pub const CASE: Case = Case {
    name: "uct",
    unit: "message",
    about: "10 parents send bursts to 4 busy nodes, 200 000 messages, half urgent",
    run: threaded::run,
    local: local::run,
    floor,
};

/// Parent actors: the fan-out (Savina's `BINOMIAL_PARAM`).
const PARENTS: usize = 10;
/// Node actors, which do the work and get the queues.
const NODES: usize = 4;
/// `Traverse` messages per parent per round; even (pairs of urgent + normal).
const BURST: u32 = 100;
/// Rounds at scale 1: 200 × 10 × 100 = 200 000 messages (Savina's `MAX_NODES`).
const ROUNDS: u64 = 200;
/// The computation size, mean and deviation (Savina's `AVG_COMP_SIZE`,
/// `STDEV_COMP_SIZE`), in iterations of [`compute`].
const AVG_COMP: i64 = 500;
const STDEV_COMP: i64 = 100;
/// An empty sample slot.
const EMPTY: u64 = u64::MAX;

/// Parent `index`'s generator: its nodes, computation sizes and pair orders.
fn parent_rng(index: u32) -> Rng {
    Rng::with_seed(0x0C7_5EED ^ u64::from(index + 1).wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// A computation size around `AVG_COMP ± STDEV_COMP` from 64 random bits: the sum of
/// four 16-bit uniforms, a bell curve within ±3.5 deviations (always positive here).
#[inline]
fn comp_size(bits: u64) -> u32 {
    let sum: i64 = (0..4).map(|i| ((bits >> (16 * i)) & 0xFFFF) as i64).sum();
    // Mean 4 × 32767.5, deviation 65536 / √3 ≈ 37837.
    let size = AVG_COMP + STDEV_COMP * (sum - 131_070) / 37_837;
    size.max(1) as u32
}

/// The node's work: `size` steps of a multiply chain (each waits for the previous).
#[inline]
fn compute(size: u32, seed: u64) -> u64 {
    let mut x = seed;
    for _ in 0..black_box(size) {
        x = x
            .wrapping_mul(0x5851_F42D_4C95_7F2D)
            .wrapping_add(0x1405_7B7E_F767_814F);
    }
    x
}

/// Latency samples (ns), one slot per pair of `Traverse` messages: the urgent one's
/// and the normal one's. Parent `p`'s pair `k` (counted over every round) is slot
/// `p * pairs_per_parent + k`.
struct Samples {
    urgent: Box<[AtomicU64]>,
    normal: Box<[AtomicU64]>,
    pairs_per_parent: u32,
}

impl Samples {
    fn new(pairs_per_parent: u32) -> Self {
        let slots = PARENTS * pairs_per_parent as usize;
        let empty = || (0..slots).map(|_| AtomicU64::new(EMPTY)).collect();
        Self {
            urgent: empty(),
            normal: empty(),
            pairs_per_parent,
        }
    }

    /// The samples of pairs `pairs` of every parent, of one priority; `Err` names an
    /// empty slot.
    fn take(&self, urgent: bool, pairs: std::ops::Range<u32>) -> Result<Vec<u64>, (usize, u32)> {
        let slots = if urgent { &self.urgent } else { &self.normal };
        let mut out = Vec::with_capacity(PARENTS * pairs.len());
        for parent in 0..PARENTS {
            for pair in pairs.clone() {
                let slot = parent * self.pairs_per_parent as usize + pair as usize;
                // Relaxed: read after the round's answer, which every write happens
                // before (each node's write precedes its `RoundDone`, which precedes the
                // root's answer).
                match slots[slot].load(Ordering::Relaxed) {
                    EMPTY => return Err((parent, pair)),
                    nanos => out.push(nanos),
                }
            }
        }
        Ok(out)
    }
}

/// Index of a priority in the per-priority arrays.
const URGENT: usize = 0;
const NORMAL: usize = 1;

/// What a node reports after the run.
#[derive(Clone, Copy, Debug, Default)]
struct NodeReport {
    /// Next expected sequence number per parent and priority: the count handled.
    next: [[u32; 2]; PARENTS],
    /// `Traverse` messages whose number was not the next expected.
    out_of_order: u64,
    /// Sample slots found already written.
    duplicates: u64,
    /// Sends that failed.
    failed: u64,
}

/// What a parent reports after the run.
#[derive(Clone, Copy, Debug, Default)]
struct ParentReport {
    /// Next sequence number per node and priority: the count sent.
    next: [[u32; 2]; NODES],
    /// Pairs sent.
    pairs: u32,
    /// Sends that failed.
    failed: u64,
}

/// Messages of `rounds` rounds, the `ask` and its reply included.
fn messages_of(rounds: u64) -> u64 {
    let per_round = PARENTS as u64 * (1 + BURST as u64 + NODES as u64) + NODES as u64;
    rounds * per_round + 2
}

/// Checks what the parents sent against what the nodes handled, over every round so
/// far (`rounds`).
fn check_counts(parents: &[ParentReport], nodes: &[NodeReport], rounds: u64) -> Result<(), String> {
    let mut handled = [0u64; 2];
    for (n, node) in nodes.iter().enumerate() {
        if node.failed != 0 {
            return Err(format!("node {n}: {} sends failed", node.failed));
        }
        if node.out_of_order != 0 {
            return Err(format!(
                "node {n}: {} messages out of order within their priority",
                node.out_of_order
            ));
        }
        if node.duplicates != 0 {
            return Err(format!(
                "node {n}: {} messages handled twice",
                node.duplicates
            ));
        }
    }
    for (p, parent) in parents.iter().enumerate() {
        if parent.failed != 0 {
            return Err(format!("parent {p}: {} sends failed", parent.failed));
        }
        for (n, node) in nodes.iter().enumerate() {
            for priority in [URGENT, NORMAL] {
                let sent = parent.next[n][priority];
                let got = node.next[p][priority];
                if sent != got {
                    return Err(format!(
                        "parent {p} sent node {n} {sent} messages of priority {priority}, \
                         the node handled {got}"
                    ));
                }
                handled[priority] += u64::from(got);
            }
        }
    }
    let half = rounds * PARENTS as u64 * u64::from(BURST) / 2;
    if handled != [half, half] {
        return Err(format!(
            "{} urgent and {} normal messages handled, expected {half} each",
            handled[URGENT], handled[NORMAL]
        ));
    }
    Ok(())
}

/// The actors and the run, written once and built twice (the `savina` module doc):
/// in [`threaded`] on zeta's thread-safe actors, in [`local`] on local actors.
macro_rules! zeta_side {
    () => {
        // -------------------------------------------------------------------------------
        // The nodes.

        struct Node {
            root: Address<Root>,
            samples: Arc<Samples>,
            /// `EndOfBurst`s seen in this round.
            ends: usize,
            report: NodeReport,
            /// The computations' results, folded (kept so that they are not optimised away).
            checksum: u64,
        }

        enum NodeMsg {
            /// A unit of work, and the sample it makes.
            Traverse {
                sent: Instant,
                urgent: bool,
                parent: u32,
                seq: u32,
                slot: u32,
                size: u32,
            },
            /// A parent's last message of the round (normal priority).
            EndOfBurst,
            /// Answers the node's report.
            Report(Reply<NodeReport>),
        }

        impl Actor for Node {
            type Message = NodeMsg;

            #[inline]
            fn handle(&mut self, message: NodeMsg, _ctx: &mut Context<'_, Self>) {
                match message {
                    NodeMsg::Traverse {
                        sent,
                        urgent,
                        parent,
                        seq,
                        slot,
                        size,
                    } => {
                        let nanos =
                            Instant::now().saturating_duration_since(sent).as_nanos() as u64;
                        let (priority, slots) = if urgent {
                            (URGENT, &self.samples.urgent)
                        } else {
                            (NORMAL, &self.samples.normal)
                        };
                        let report = &mut self.report;
                        // Relaxed: the slot is read after the run's answer (see `Samples::take`);
                        // the swap only has to see an earlier write to the same slot, which the
                        // slot's modification order gives.
                        if slots[slot as usize].swap(nanos, Ordering::Relaxed) != EMPTY {
                            report.duplicates += 1;
                        }
                        let next = &mut report.next[parent as usize][priority];
                        if seq != *next {
                            report.out_of_order += 1;
                        }
                        *next = seq.wrapping_add(1);
                        self.checksum = compute(size, self.checksum);
                    }
                    NodeMsg::EndOfBurst => {
                        self.ends += 1;
                        if self.ends == PARENTS {
                            self.ends = 0;
                            if self.root.send(RootMsg::RoundDone).is_err() {
                                self.report.failed += 1;
                            }
                        }
                    }
                    NodeMsg::Report(reply) => {
                        black_box(self.checksum);
                        let _ = reply.send(self.report);
                    }
                }
            }
        }

        // -------------------------------------------------------------------------------
        // The parents.

        struct Parent {
            index: u32,
            nodes: Vec<Address<Node>>,
            /// The generator.
            rng: Rng,
            /// Where this parent's sample slots start.
            first_slot: u32,
            report: ParentReport,
        }

        enum ParentMsg {
            /// Send this round's burst.
            Go,
            /// Answers the parent's report.
            Report(Reply<ParentReport>),
        }

        impl Parent {
            /// Sends one `Traverse` of the pair in `slot`.
            #[inline]
            fn traverse(&mut self, urgent: bool, slot: u32) {
                let node = self.rng.usize(..NODES);
                let size = comp_size(self.rng.u64(..));
                let priority = if urgent { URGENT } else { NORMAL };
                let next = &mut self.report.next[node][priority];
                let seq = *next;
                *next += 1;
                let message = NodeMsg::Traverse {
                    sent: Instant::now(),
                    urgent,
                    parent: self.index,
                    seq,
                    slot,
                    size,
                };
                let priority = if urgent {
                    Priority::High
                } else {
                    Priority::Normal
                };
                if self.nodes[node]
                    .send_with_priority(priority, message)
                    .is_err()
                {
                    self.report.failed += 1;
                }
            }
        }

        impl Actor for Parent {
            type Message = ParentMsg;

            #[inline]
            fn handle(&mut self, message: ParentMsg, _ctx: &mut Context<'_, Self>) {
                match message {
                    ParentMsg::Go => {
                        for _ in 0..BURST / 2 {
                            let slot = self.first_slot + self.report.pairs;
                            let urgent_first = self.rng.bool();
                            self.traverse(urgent_first, slot);
                            self.traverse(!urgent_first, slot);
                            self.report.pairs += 1;
                        }
                        for node in &self.nodes {
                            if node.send(NodeMsg::EndOfBurst).is_err() {
                                self.report.failed += 1;
                            }
                        }
                    }
                    ParentMsg::Report(reply) => {
                        let _ = reply.send(self.report);
                    }
                }
            }
        }

        // -------------------------------------------------------------------------------
        // The root.

        struct Root {
            parents: Vec<Address<Parent>>,
            /// Rounds left in the current run.
            left: u64,
            /// Nodes done with the current round.
            ends: usize,
            /// Sends that failed.
            failed: u64,
            /// The main thread's request for the current run.
            done: Option<Reply<u64>>,
        }

        enum RootMsg {
            /// Run `rounds` rounds; answered with the sends that failed.
            Run { rounds: u64, done: Reply<u64> },
            /// A node has had every parent's burst of the round.
            RoundDone,
            /// Every parent.
            Parents(Vec<Address<Parent>>),
        }

        impl Root {
            fn round(&mut self) {
                for parent in &self.parents {
                    if parent.send(ParentMsg::Go).is_err() {
                        self.failed += 1;
                    }
                }
            }
        }

        impl Actor for Root {
            type Message = RootMsg;

            fn handle(&mut self, message: RootMsg, _ctx: &mut Context<'_, Self>) {
                match message {
                    RootMsg::RoundDone => {
                        self.ends += 1;
                        if self.ends < NODES {
                            return;
                        }
                        self.ends = 0;
                        self.left -= 1;
                        if self.left > 0 {
                            self.round();
                        } else if let Some(done) = self.done.take() {
                            let _ = done.send(self.failed);
                        }
                    }
                    RootMsg::Run { rounds, done } => {
                        self.left = rounds;
                        self.done = Some(done);
                        self.round();
                    }
                    RootMsg::Parents(parents) => self.parents = parents,
                }
            }
        }

        // -------------------------------------------------------------------------------
        // The case.

        /// Runs `rounds` rounds.
        fn play(rig: &Rig, root: &Address<Root>, rounds: u64) -> Result<(), String> {
            let future = root
                .ask(|done| RootMsg::Run { rounds, done })
                .map_err(|e| format!("starting the rounds: {e}"))?;
            match rig.wait(future, "the rounds")? {
                0 => Ok(()),
                failed => Err(format!("the root: {failed} sends failed")),
            }
        }

        pub(super) fn run(config: &Config) -> Result<Outcome, String> {
            let rounds = config.scaled(ROUNDS, 2);
            let warm = (rounds / 10).max(2);
            let rig = Rig::new(config)?;

            // Sample slots are numbered with `u32`s.
            let pairs_per_parent = (warm + rounds) * u64::from(BURST / 2);
            if PARENTS as u64 * pairs_per_parent > u64::from(u32::MAX) {
                return Err(format!("{rounds} rounds: too many for the sample slots"));
            }
            let pairs_per_parent = pairs_per_parent as u32;
            let samples = Arc::new(Samples::new(pairs_per_parent));

            let root = rig.spawn(Root {
                parents: Vec::new(),
                left: 0,
                ends: 0,
                failed: 0,
                done: None,
            })?;
            let mut nodes = Vec::with_capacity(NODES);
            for _ in 0..NODES {
                nodes.push(rig.spawn(Node {
                    root: root.clone(),
                    samples: samples.clone(),
                    ends: 0,
                    report: NodeReport::default(),
                    checksum: 0,
                })?);
            }
            let mut parents = Vec::with_capacity(PARENTS);
            for index in 0..PARENTS as u32 {
                parents.push(rig.spawn(Parent {
                    index,
                    nodes: nodes.clone(),
                    rng: parent_rng(index),
                    first_slot: index * pairs_per_parent,
                    report: ParentReport::default(),
                })?);
            }
            // The root was spawned first (the nodes need its address): it learns its parents
            // by a message.
            root.send(RootMsg::Parents(parents.clone()))
                .map_err(|e| format!("introducing the parents: {e}"))?;

            // Warm-up: the pool's chunks for queues this long, the workers' queues, every
            // thread's first park.
            play(&rig, &root, warm)?;

            let meter = rig.meter();
            play(&rig, &root, rounds)?;
            let Measured {
                wall,
                allocations,
                chunks,
            } = meter.stop();

            let mut parent_reports = Vec::with_capacity(PARENTS);
            for parent in &parents {
                let future = parent
                    .ask(ParentMsg::Report)
                    .map_err(|e| format!("asking a parent for its report: {e}"))?;
                parent_reports.push(rig.wait(future, "a parent's report")?);
            }
            let mut node_reports = Vec::with_capacity(NODES);
            for node in &nodes {
                let future = node
                    .ask(NodeMsg::Report)
                    .map_err(|e| format!("asking a node for its report: {e}"))?;
                node_reports.push(rig.wait(future, "a node's report")?);
            }
            check_counts(&parent_reports, &node_reports, warm + rounds)?;

            let measured = (warm * u64::from(BURST / 2)) as u32..pairs_per_parent;
            let take = |urgent| {
                samples.take(urgent, measured.clone()).map_err(|(p, k)| {
                    format!("parent {p}'s pair {k}: a message was never handled (no sample)")
                })
            };
            let urgent = take(true)?;
            let normal = take(false)?;
            let half = rounds * PARENTS as u64 * u64::from(BURST) / 2;
            if urgent.len() as u64 != half || normal.len() as u64 != half {
                return Err(format!(
                    "{} urgent and {} normal samples, expected {half} each",
                    urgent.len(),
                    normal.len()
                ));
            }
            let urgent = Latency::from_nanos(&urgent).ok_or("no urgent sample")?;
            let normal = Latency::from_nanos(&normal).ok_or("no normal sample")?;

            let mut stoppables: Vec<&dyn Stoppable> = vec![&root];
            stoppables.extend(parents.iter().map(|p| p as &dyn Stoppable));
            stoppables.extend(nodes.iter().map(|n| n as &dyn Stoppable));
            rig.stop_actors(&stoppables)?;
            drop(stoppables);
            drop((root, parents, nodes));
            let memory = rig.finish()?;

            let ratio = urgent.p50.as_secs_f64() / normal.p50.as_secs_f64().max(f64::MIN_POSITIVE);
            Ok(Outcome {
                ops: 2 * half,
                messages: messages_of(rounds),
                wall,
                allocations,
                chunks,
                latency: vec![("urgent", urgent), ("normal", normal)],
                check: format!(
                    "{half} urgent + {half} normal handled once each, per-sender FIFO per \
                     priority; urgent p50 / normal p50 = {ratio:.2}; 15 actors stopped, {}",
                    returned(&memory)
                ),
            })
        }
    };
}

/// On zeta's thread-safe actors: a `SharingScheduler`, or with `--manual` a
/// `ManualScheduler`.
mod threaded {
    use super::*;
    use crate::savina::Rig;
    use zeta::{Actor, Address, Context, Reply};

    zeta_side!();
}

/// On local actors (`--local`): a `LocalSystem` driven by the case's thread.
mod local {
    use super::*;
    use crate::savina::LocalRig as Rig;
    use zeta::local::{
        LocalActor as Actor, LocalAddress as Address, LocalContext as Context, LocalReply as Reply,
    };

    zeta_side!();
}

// ---------------------------------------------------------------------------------------
// The floor.

enum FloorMsg {
    // To the root.
    Run(u64),
    RoundDone,
    Parents(Vec<ActorId>),
    // To a parent.
    Go,
    // To a node.
    Traverse {
        sent: Instant,
        urgent: bool,
        parent: u32,
        seq: u32,
        slot: u32,
        size: u32,
    },
    EndOfBurst,
    /// To a parent or a node: write your report into the shared table.
    Report,
}

/// [`Samples`] in `Cell`s: one thread writes and reads them.
struct FloorSamples {
    urgent: Box<[Cell<u64>]>,
    normal: Box<[Cell<u64>]>,
    pairs_per_parent: u32,
}

impl FloorSamples {
    fn new(pairs_per_parent: u32) -> Self {
        let slots = PARENTS * pairs_per_parent as usize;
        let empty = || (0..slots).map(|_| Cell::new(EMPTY)).collect();
        Self {
            urgent: empty(),
            normal: empty(),
            pairs_per_parent,
        }
    }

    /// As [`Samples::take`].
    fn take(&self, urgent: bool, pairs: std::ops::Range<u32>) -> Result<Vec<u64>, (usize, u32)> {
        let slots = if urgent { &self.urgent } else { &self.normal };
        let mut out = Vec::with_capacity(PARENTS * pairs.len());
        for parent in 0..PARENTS {
            for pair in pairs.clone() {
                let slot = parent * self.pairs_per_parent as usize + pair as usize;
                match slots[slot].get() {
                    EMPTY => return Err((parent, pair)),
                    nanos => out.push(nanos),
                }
            }
        }
        Ok(out)
    }
}

/// The floor's node: [`Node`]'s state and protocol.
struct FloorNode {
    index: usize,
    root: ActorId,
    samples: Rc<FloorSamples>,
    ends: usize,
    report: NodeReport,
    checksum: u64,
    reports: Rc<RefCell<Vec<NodeReport>>>,
}

impl FloorNode {
    #[inline]
    fn handle(&mut self, message: FloorMsg, ctx: &mut Ctx<'_, FloorMsg>) {
        match message {
            FloorMsg::Traverse {
                sent,
                urgent,
                parent,
                seq,
                slot,
                size,
            } => {
                let nanos = Instant::now().saturating_duration_since(sent).as_nanos() as u64;
                let (priority, slots) = if urgent {
                    (URGENT, &self.samples.urgent)
                } else {
                    (NORMAL, &self.samples.normal)
                };
                let report = &mut self.report;
                if slots[slot as usize].replace(nanos) != EMPTY {
                    report.duplicates += 1;
                }
                let next = &mut report.next[parent as usize][priority];
                if seq != *next {
                    report.out_of_order += 1;
                }
                *next = seq.wrapping_add(1);
                self.checksum = compute(size, self.checksum);
            }
            FloorMsg::EndOfBurst => {
                self.ends += 1;
                if self.ends == PARENTS {
                    self.ends = 0;
                    if ctx.send(self.root, FloorMsg::RoundDone).is_err() {
                        self.report.failed += 1;
                    }
                }
            }
            FloorMsg::Report => {
                black_box(self.checksum);
                self.reports.borrow_mut()[self.index] = self.report;
            }
            _ => {}
        }
    }
}

/// The floor's parent: [`Parent`]'s state and protocol.
struct FloorParent {
    index: u32,
    nodes: Vec<ActorId>,
    rng: Rng,
    first_slot: u32,
    report: ParentReport,
    reports: Rc<RefCell<Vec<ParentReport>>>,
}

impl FloorParent {
    #[inline]
    fn traverse(&mut self, ctx: &mut Ctx<'_, FloorMsg>, urgent: bool, slot: u32) {
        let node = self.rng.usize(..NODES);
        let size = comp_size(self.rng.u64(..));
        let priority = if urgent { URGENT } else { NORMAL };
        let next = &mut self.report.next[node][priority];
        let seq = *next;
        *next += 1;
        let message = FloorMsg::Traverse {
            sent: Instant::now(),
            urgent,
            parent: self.index,
            seq,
            slot,
            size,
        };
        let sent = if urgent {
            ctx.send_high(self.nodes[node], message)
        } else {
            ctx.send(self.nodes[node], message)
        };
        if sent.is_err() {
            self.report.failed += 1;
        }
    }

    #[inline]
    fn handle(&mut self, message: FloorMsg, ctx: &mut Ctx<'_, FloorMsg>) {
        match message {
            FloorMsg::Go => {
                for _ in 0..BURST / 2 {
                    let slot = self.first_slot + self.report.pairs;
                    let urgent_first = self.rng.bool();
                    self.traverse(ctx, urgent_first, slot);
                    self.traverse(ctx, !urgent_first, slot);
                    self.report.pairs += 1;
                }
                for &node in &self.nodes {
                    if ctx.send(node, FloorMsg::EndOfBurst).is_err() {
                        self.report.failed += 1;
                    }
                }
            }
            FloorMsg::Report => self.reports.borrow_mut()[self.index as usize] = self.report,
            _ => {}
        }
    }
}

fn floor(config: &Config) -> Result<Outcome, String> {
    let rounds = config.scaled(ROUNDS, 2);
    let warm = (rounds / 10).max(2);
    let pairs_per_parent = (warm + rounds) * u64::from(BURST / 2);
    if PARENTS as u64 * pairs_per_parent > u64::from(u32::MAX) {
        return Err(format!("{rounds} rounds: too many for the sample slots"));
    }
    let pairs_per_parent = pairs_per_parent as u32;
    let samples = Rc::new(FloorSamples::new(pairs_per_parent));
    let mut floor: Floor<FloorMsg> = Floor::new(MAX_THROUGHPUT);

    // The root's answer: the sends that failed, once the last round is done.
    let answer: Rc<Cell<Option<u64>>> = Rc::default();
    let root = {
        let answer = answer.clone();
        let mut parents: Vec<ActorId> = Vec::new();
        let mut left = 0u64;
        let mut ends = 0usize;
        let mut failed = 0u64;
        floor.spawn(move |message, ctx| {
            match message {
                FloorMsg::RoundDone => {
                    ends += 1;
                    if ends < NODES {
                        return;
                    }
                    ends = 0;
                    left -= 1;
                    if left == 0 {
                        answer.set(Some(failed));
                        return;
                    }
                }
                FloorMsg::Run(rounds) => left = rounds,
                FloorMsg::Parents(all) => {
                    parents = all;
                    return;
                }
                _ => return,
            }
            for &parent in &parents {
                if ctx.send(parent, FloorMsg::Go).is_err() {
                    failed += 1;
                }
            }
        })
    };
    let node_reports: Rc<RefCell<Vec<NodeReport>>> =
        Rc::new(RefCell::new(vec![NodeReport::default(); NODES]));
    let nodes: Vec<ActorId> = (0..NODES)
        .map(|index| {
            let mut node = FloorNode {
                index,
                root,
                samples: samples.clone(),
                ends: 0,
                report: NodeReport::default(),
                checksum: 0,
                reports: node_reports.clone(),
            };
            floor.spawn(move |message, ctx| node.handle(message, ctx))
        })
        .collect();
    let parent_reports: Rc<RefCell<Vec<ParentReport>>> =
        Rc::new(RefCell::new(vec![ParentReport::default(); PARENTS]));
    let parents: Vec<ActorId> = (0..PARENTS as u32)
        .map(|index| {
            let mut parent = FloorParent {
                index,
                nodes: nodes.clone(),
                rng: parent_rng(index),
                first_slot: index * pairs_per_parent,
                report: ParentReport::default(),
                reports: parent_reports.clone(),
            };
            floor.spawn(move |message, ctx| parent.handle(message, ctx))
        })
        .collect();
    floor
        .send(root, FloorMsg::Parents(parents.clone()))
        .map_err(|_| "introducing the parents")?;

    let play = |floor: &mut Floor<FloorMsg>, rounds: u64| -> Result<(), String> {
        floor
            .send(root, FloorMsg::Run(rounds))
            .map_err(|_| "starting the rounds")?;
        floor.run_until_idle();
        match answer.take() {
            Some(0) => Ok(()),
            Some(failed) => Err(format!("the root: {failed} sends failed")),
            None => Err("the rounds ended without the root's answer".to_owned()),
        }
    };

    play(&mut floor, warm)?;
    let meter = FloorMeter::start();
    play(&mut floor, rounds)?;
    let Measured {
        wall, allocations, ..
    } = meter.stop();

    for &actor in parents.iter().chain(&nodes) {
        floor
            .send(actor, FloorMsg::Report)
            .map_err(|_| "asking for a report")?;
    }
    floor.run_until_idle();
    check_counts(
        &parent_reports.borrow(),
        &node_reports.borrow(),
        warm + rounds,
    )?;
    let measured = (warm * u64::from(BURST / 2)) as u32..pairs_per_parent;
    let take = |urgent| {
        samples.take(urgent, measured.clone()).map_err(|(p, k)| {
            format!("parent {p}'s pair {k}: a message was never handled (no sample)")
        })
    };
    let urgent = Latency::from_nanos(&take(true)?).ok_or("no urgent sample")?;
    let normal = Latency::from_nanos(&take(false)?).ok_or("no normal sample")?;
    let half = rounds * PARENTS as u64 * u64::from(BURST) / 2;
    let ratio = urgent.p50.as_secs_f64() / normal.p50.as_secs_f64().max(f64::MIN_POSITIVE);
    Ok(Outcome {
        ops: 2 * half,
        messages: messages_of(rounds) - 1,
        wall,
        allocations,
        chunks: 0,
        latency: Vec::new(),
        check: format!(
            "{half} urgent + {half} normal handled once each, per-sender FIFO per \
             priority; urgent p50 / normal p50 = {ratio:.2}"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comp_sizes_centre_on_the_mean() {
        let mut rng = Rng::with_seed(1);
        let sizes: Vec<u32> = (0..100_000).map(|_| comp_size(rng.u64(..))).collect();
        let mean = sizes.iter().map(|&s| f64::from(s)).sum::<f64>() / sizes.len() as f64;
        let var = sizes
            .iter()
            .map(|&s| (f64::from(s) - mean).powi(2))
            .sum::<f64>()
            / sizes.len() as f64;
        assert!((mean - AVG_COMP as f64).abs() < 2.0, "mean {mean}");
        assert!(
            (var.sqrt() - STDEV_COMP as f64).abs() < 3.0,
            "deviation {}",
            var.sqrt()
        );
        assert!(sizes.iter().all(|&s| s > 0));
    }

    #[test]
    fn a_few_rounds_run_and_check() {
        let config = Config {
            scale: 0.01,
            workers: 2,
        };
        for side in [threaded::run, local::run] {
            let outcome = side(&config).expect("the case succeeds");
            assert_eq!(outcome.ops, 2_000);
            assert_eq!(outcome.messages, messages_of(2));
            assert_eq!(outcome.latency.len(), 2);
        }
        let floor = floor(&config).expect("the floor succeeds");
        assert_eq!(floor.ops, 2_000);
    }
}
