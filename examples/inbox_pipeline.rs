//! Market data fan-in on the mailbox layer: three feed threads send quotes (normal
//! priority) and cancels (high priority) into one inbox; a reader thread drains it in
//! batches and parks when its inbox is blocked. Whoever's send returns `Unblocked`
//! wakes it: the block/unblock handshake, with no lost wake-up.
//!
//! It checks its own result and exits non-zero if anything is wrong: every message
//! handled exactly once, per-feed FIFO within each priority, the stop message last, and
//! every message node back in the pool.
//!
//! Run: `cargo run --release --example inbox_pipeline`

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::thread::{self, Thread};
use std::time::Instant;

use zeta::arena::{CountingResource, PoolResource};
use zeta::mailbox::{Cache, Enqueued, Envelope, Inbox, Priority, TryBlock};

const FEEDS: usize = 3;
const QUOTES_PER_FEED: u64 = 300_000;
const CANCEL_EVERY: u64 = 10;

enum Msg {
    Quote { feed: usize, seq: u64, price: u64 },
    Cancel { feed: usize, seq: u64 },
    Stop,
}

/// The reader's wake-up: set by whoever won the right to run it, consumed by the reader.
struct Wake {
    flag: AtomicBool,
    reader: OnceLock<Thread>,
}

impl Wake {
    fn wake(&self) {
        // Release: pairs with the reader's Acquire swap, ordering the unblocking push
        // (and the right to run that came with it) before the reader resumes.
        self.flag.store(true, Ordering::Release);
        if let Some(reader) = self.reader.get() {
            reader.unpark();
        }
    }

    fn sleep(&self) {
        while !self.flag.swap(false, Ordering::Acquire) {
            thread::park();
        }
    }
}

fn send<'r>(inbox: &Inbox<'r, Msg>, wake: &Wake, message: Envelope<'r, Msg>) -> Result<(), String> {
    match inbox.push(message) {
        Enqueued::Queued => Ok(()),
        Enqueued::Unblocked => {
            wake.wake();
            Ok(())
        }
        Enqueued::Closed(_) => Err("the reader closed its inbox early".into()),
    }
}

#[derive(Default)]
struct Report {
    quotes: u64,
    cancels: u64,
    wakeups: u64,
    price_sum: u64,
}

/// The reader: drains (high first, per-feed FIFO), blocks and sleeps when there is
/// nothing left, until the stop message.
fn read(inbox: &Inbox<'_, Msg>, wake: &Wake) -> Result<Report, String> {
    let mut report = Report::default();
    let mut last_quote = [None::<u64>; FEEDS];
    let mut last_cancel = [None::<u64>; FEEDS];
    let mut cache = Cache::new();
    loop {
        // The inbox starts blocked, and we come back here after every `Blocked`.
        wake.sleep();
        report.wakeups += 1;
        loop {
            while let Some(message) = cache.next_from(inbox) {
                match message.into_payload() {
                    Msg::Quote { feed, seq, price } => {
                        if last_quote[feed].is_some_and(|prev| prev >= seq) {
                            return Err(format!(
                                "feed {feed}: quote {seq} after {:?}",
                                last_quote[feed]
                            ));
                        }
                        last_quote[feed] = Some(seq);
                        report.quotes += 1;
                        report.price_sum += price;
                    }
                    Msg::Cancel { feed, seq } => {
                        if last_cancel[feed].is_some_and(|prev| prev >= seq) {
                            return Err(format!(
                                "feed {feed}: cancel {seq} after {:?}",
                                last_cancel[feed]
                            ));
                        }
                        last_cancel[feed] = Some(seq);
                        report.cancels += 1;
                    }
                    Msg::Stop => {
                        // Sent after every feed finished: nothing may follow it.
                        if !cache.is_empty() || !inbox.close().is_empty() {
                            return Err("messages queued after Stop".into());
                        }
                        return Ok(report);
                    }
                }
            }
            match inbox.try_block() {
                TryBlock::Blocked => break,
                TryBlock::HasMessages => continue,
                TryBlock::Closed | TryBlock::Sealed | TryBlock::Orphaned => {
                    return Err("closed, sealed or orphaned by someone else".into())
                }
            }
        }
    }
}

fn run() -> Result<(), String> {
    let pool = CountingResource::new(PoolResource::new());
    let inbox: Inbox<'_, Msg> = Inbox::new();
    let wake = Wake {
        flag: AtomicBool::new(false),
        reader: OnceLock::new(),
    };
    let started = Instant::now();
    let report = thread::scope(|s| -> Result<Report, String> {
        let (inbox, wake, pool) = (&inbox, &wake, &pool);
        let reader = s.spawn(move || read(inbox, wake));
        let _ = wake.reader.set(reader.thread().clone());
        let feeds: Vec<_> = (0..FEEDS)
            .map(|feed| {
                s.spawn(move || -> Result<(), String> {
                    for seq in 0..QUOTES_PER_FEED {
                        let quote = Msg::Quote {
                            feed,
                            seq,
                            price: 100 + seq % 7,
                        };
                        let message = Envelope::new_in(pool, Priority::Normal, quote)
                            .map_err(|e| e.to_string())?;
                        send(inbox, wake, message)?;
                        if seq % CANCEL_EVERY == 0 {
                            let cancel = Msg::Cancel { feed, seq };
                            let message = Envelope::new_in(pool, Priority::High, cancel)
                                .map_err(|e| e.to_string())?;
                            send(inbox, wake, message)?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for feed in feeds {
            feed.join().map_err(|_| "a feed panicked".to_string())??;
        }
        // Every feed's sends happen before this one (the joins), so it is last.
        let stop =
            Envelope::new_in(pool, Priority::Normal, Msg::Stop).map_err(|e| e.to_string())?;
        send(inbox, wake, stop)?;
        reader
            .join()
            .map_err(|_| "the reader panicked".to_string())?
    })?;
    let elapsed = started.elapsed();

    let expected_quotes = FEEDS as u64 * QUOTES_PER_FEED;
    let expected_cancels = FEEDS as u64 * QUOTES_PER_FEED.div_ceil(CANCEL_EVERY);
    let expected_price_sum = FEEDS as u64 * (0..QUOTES_PER_FEED).map(|s| 100 + s % 7).sum::<u64>();
    let total = expected_quotes + expected_cancels + 1;
    println!("| messages | reader wake-ups | pool chunks (64 KiB) | wall time | ns/message |");
    println!("|---|---|---|---|---|");
    println!(
        "| {total} | {} | {} | {:.1} ms | {:.1} |",
        report.wakeups,
        pool.inner().chunk_count(),
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_nanos() as f64 / total as f64
    );
    if report.quotes != expected_quotes || report.cancels != expected_cancels {
        return Err(format!(
            "lost messages: {} of {expected_quotes} quotes, {} of {expected_cancels} cancels",
            report.quotes, report.cancels
        ));
    }
    if report.price_sum != expected_price_sum {
        return Err(format!(
            "price sum {} != {expected_price_sum}",
            report.price_sum
        ));
    }
    if pool.live_blocks() != 0 {
        return Err(format!("{} message nodes leaked", pool.live_blocks()));
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            println!("ok: every message handled once, in per-feed order; no node leaked");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}
