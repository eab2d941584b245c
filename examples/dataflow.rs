//! actor-zeta's dataflow example: P = 3 producer threads feed C = 4 consumer actors on a
//! two-thread `SharingScheduler`. Each producer sends 200 000 messages round-robin over
//! the consumers, numbered from 0 per (producer, consumer, priority). Producer 0 sends
//! every 10th message it sends to each consumer at high priority. The rule relied on:
//! FIFO per sender *within a priority* (a high message may overtake normal ones sent
//! before it, never another high one from the same sender).
//!
//! Memory is bounded by flow control: after every 4096 messages a producer asks each
//! consumer to `Sync` and waits; per-sender FIFO means the answer comes only after the
//! consumer handled everything that producer sent it before. So at most 4096 data nodes
//! per producer are alive at once.
//!
//! It checks its own result and exits non-zero if anything is wrong: at each consumer each
//! producer's numbers arrive strictly +1 in each priority, with exact counts (asked for at
//! the end); the `CountingResource` everything lives in peaks below cells + 3 × 4096 data
//! nodes + 2 × 3 × 4 sync requests; once drained, only the 4 actor cells are live (0 after).
//!
//! Run: `cargo run --release --example dataflow`

use std::sync::Arc;
use std::time::{Duration, Instant};

use zeta::arena::{CountingResource, PoolResource};
use zeta::{Actor, Address, Context, Priority, Reply, System};

const PRODUCERS: usize = 3;
const CONSUMERS: usize = 4;
const PER_PRODUCER: u64 = 200_000;
const WINDOW: u64 = 4096;
const HIGH_EVERY: u64 = 10;

enum Msg {
    /// (producer, high, seq): `seq` counts per (producer, consumer, priority) from 0.
    Data(usize, bool, u64),
    Sync(Reply<()>),
    Tally(Reply<Tally>),
}

#[derive(Debug, Default)]
struct Tally {
    /// [producer][0 = normal, 1 = high]: the next number expected.
    received: [[u64; 2]; PRODUCERS],
    first_error: Option<String>,
    /// High messages from producer 0 handled before normal ones it sent earlier.
    overtakes: u64,
}

#[derive(Default)]
struct Consumer(Tally);

impl Actor for Consumer {
    type Message = Msg;

    fn handle(&mut self, message: Msg, _ctx: &mut Context<'_, Self>) {
        let tally = &mut self.0;
        match message {
            Msg::Data(producer, high, seq) => {
                let expected = &mut tally.received[producer][high as usize];
                if seq != *expected && tally.first_error.is_none() {
                    let error =
                        format!("producer {producer} (high: {high}): {seq}, not {expected}");
                    tally.first_error = Some(error);
                }
                *expected += 1;
                // The seq-th high message was sent after seq * (HIGH_EVERY - 1) normal ones.
                if high && tally.received[producer][0] < seq * (HIGH_EVERY - 1) {
                    tally.overtakes += 1;
                }
            }
            // Err only if the asker has gone.
            Msg::Sync(reply) => drop(reply.send(())),
            Msg::Tally(reply) => drop(reply.send(core::mem::take(tally))),
        }
    }
}

/// Waits until every consumer has handled everything this thread sent it before.
fn sync(consumers: &[Address<Consumer>]) -> Result<(), String> {
    let futures = consumers
        .iter()
        .map(|consumer| consumer.ask(Msg::Sync).map_err(text))
        .collect::<Result<Vec<_>, _>>()?;
    futures
        .into_iter()
        .try_for_each(|future| future.wait().map_err(|e| format!("sync: {e}")))
}

/// Sends this producer's share; returns what it sent, per consumer and lane.
fn produce(producer: usize, consumers: &[Address<Consumer>]) -> Result<Vec<[u64; 2]>, String> {
    let mut sent = vec![[0u64; 2]; CONSUMERS];
    for j in 0..PER_PRODUCER {
        let c = j as usize % CONSUMERS;
        let high = producer == 0 && (sent[c][0] + sent[c][1]) % HIGH_EVERY == 0;
        let seq = sent[c][high as usize];
        let priority = [Priority::Normal, Priority::High][high as usize];
        let data = Msg::Data(producer, high, seq);
        consumers[c].send_with(priority, data).map_err(text)?;
        sent[c][high as usize] += 1;
        if (j + 1) % WINDOW == 0 {
            sync(consumers)?;
        }
    }
    sync(consumers)?;
    Ok(sent)
}

/// Bytes of one data node and one `Sync` request node, measured on a probe consumer whose
/// scheduler never runs (dropping that system cancels the queued probe).
fn node_sizes(memory: &Arc<CountingResource<PoolResource>>) -> Result<(usize, usize), String> {
    let idle = System::manual(1).map_err(text)?;
    let probe = idle
        .spawn_in(memory.clone(), Consumer::default())
        .map_err(text)?;
    let before = memory.live_bytes();
    probe.send(Msg::Data(0, false, 0)).map_err(text)?;
    let data_node = memory.live_bytes() - before;
    let future = probe.ask(Msg::Sync).map_err(text)?;
    let sync_node = memory.live_bytes() - before - data_node;
    drop((future, probe, idle));
    Ok((data_node, sync_node))
}

fn run() -> Result<(), String> {
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let (data_node, sync_node) = node_sizes(&memory)?;
    let system = System::sharing(2).map_err(text)?;
    let consumers = (0..CONSUMERS)
        .map(|_| system.spawn_in(memory.clone(), Consumer::default()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(text)?;
    let cells = memory.stats();

    let started = Instant::now();
    let sent = std::thread::scope(|scope| {
        let consumers = &consumers;
        let handles: Vec<_> = (0..PRODUCERS)
            .map(|p| scope.spawn(move || produce(p, consumers)))
            .collect();
        let joined = handles
            .into_iter()
            .map(|h| h.join().expect("producer panicked"));
        joined.collect::<Result<Vec<_>, _>>()
    })?;
    let elapsed = started.elapsed();
    let peak = memory.stats().peak_bytes;

    let mut overtakes = 0;
    for (c, consumer) in consumers.iter().enumerate() {
        let future = consumer.ask(Msg::Tally).map_err(text)?;
        let tally = future.wait().map_err(|e| format!("tally {c}: {e}"))?;
        overtakes += tally.overtakes;
        if let Some(error) = tally.first_error {
            return Err(format!("consumer {c}: out of order: {error}"));
        }
        for (p, lanes) in tally.received.iter().enumerate() {
            let want = sent[p][c];
            ensure(
                *lanes == want,
                format!("consumer {c}: {lanes:?} of {want:?} from {p}"),
            )?;
        }
    }

    let total: u64 = sent.iter().flatten().flatten().sum();
    let bound = cells.live_bytes
        + PRODUCERS * WINDOW as usize * data_node
        + 2 * PRODUCERS * CONSUMERS * sync_node;
    println!("| messages | wall time | ns/msg | node bytes (data, sync) | peak bytes (bound) |");
    println!("|---|---|---|---|---|");
    println!(
        "| {total} | {:.1} ms | {:.1} | {data_node}, {sync_node} | {peak} ({bound}) |",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_nanos() as f64 / total as f64
    );
    println!("high messages of producer 0 that overtook earlier normal ones: {overtakes}");
    ensure(peak <= bound, format!("peak {peak} bytes above the bound"))?;

    // The last request nodes go when the consumers finish their runs: wait a little.
    let deadline = Instant::now() + Duration::from_secs(2);
    while memory.live_blocks() != CONSUMERS && Instant::now() < deadline {
        std::thread::yield_now();
    }
    let (live, bytes) = (memory.live_blocks(), memory.live_bytes());
    println!(
        "drained: {live} live blocks, {bytes} live bytes (the {CONSUMERS} cells: {} bytes)",
        cells.live_bytes
    );
    let only_cells = (live, bytes) == (CONSUMERS, cells.live_bytes);
    ensure(
        only_cells,
        "more than the actor cells is alive after draining".into(),
    )?;
    drop((system, consumers));
    let leaked = memory.live_blocks();
    ensure(leaked == 0, format!("{leaked} blocks leaked"))
}

fn ensure(ok: bool, error: String) -> Result<(), String> {
    ok.then_some(()).ok_or(error)
}

fn text(error: impl std::fmt::Debug) -> String {
    format!("{error:?}")
}

fn main() {
    if let Err(error) = run() {
        eprintln!("FAILED: {error}");
        std::process::exit(1);
    }
    println!("ok: per-sender FIFO within each priority, exact counts, memory bounded");
}
