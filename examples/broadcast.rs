//! actor-zeta's broadcast example: five worker actors on a two-thread
//! `SharingScheduler`. Each is asked to `download("test_data_{i}")` and answers with the
//! length of what it fetched; then one announcement goes to all five through a real
//! [`Broadcast`] router (which pushes a copy into every member's inbox, with no inbox of
//! its own).
//!
//! It checks its own result and exits non-zero if anything is wrong: each reply is 11
//! and they sum to 55; the broadcast was accepted by all 5; and every worker saw the
//! announcement exactly once and did exactly one download. The count is asked for after
//! the broadcast, from the same thread, so per-sender FIFO guarantees the worker has
//! handled the announcement by the time it answers.
//!
//! `Broadcast<A>` needs `A::Message: Clone`, but a request carries a `Reply`, which is
//! one-shot and cannot be cloned; so `Job` implements `Clone` by hand for the one variant
//! that is ever broadcast (see `impl Clone for Job`).
//!
//! Run: `cargo run --release --example broadcast`

use std::process::ExitCode;
use std::time::Duration;

use zeta::{Actor, Broadcast, Context, Reply, System};

const WORKERS: usize = 5;
const TIMEOUT: Duration = Duration::from_secs(5);

enum Job {
    /// Fetch `name`; answer with the length of what was fetched.
    Download(String, Reply<usize>),
    /// Sent to everyone through the broadcast.
    Announce(&'static str),
    /// (downloads, announcements) seen so far.
    Counts(Reply<(u64, u64)>),
}

impl Clone for Job {
    fn clone(&self) -> Self {
        match self {
            Job::Announce(text) => Job::Announce(text),
            // A `Reply` is one-shot: requests are asked of one worker, never broadcast.
            Job::Download(..) | Job::Counts(..) => unreachable!("only announcements are broadcast"),
        }
    }
}

struct Worker {
    downloads: u64,
    announcements: u64,
}

impl Actor for Worker {
    type Message = Job;

    fn handle(&mut self, job: Job, _ctx: &mut Context<'_, Self>) {
        match job {
            Job::Download(name, reply) => {
                self.downloads += 1;
                // "Downloading" the test data: its content is its name.
                let data = name.into_bytes();
                let _ = reply.send(data.len()); // Err only if the asker has gone
            }
            Job::Announce(_) => self.announcements += 1,
            Job::Counts(reply) => {
                let _ = reply.send((self.downloads, self.announcements));
            }
        }
    }
}

fn run() -> Result<(), String> {
    let system = System::sharing(2).map_err(|e| format!("scheduler: {e:?}"))?;
    let workers = (0..WORKERS)
        .map(|_| {
            system.spawn(Worker {
                downloads: 0,
                announcements: 0,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mut errors = Vec::new();

    // All five requests in flight at once, then the answers.
    let mut downloads = Vec::new();
    for (i, worker) in workers.iter().enumerate() {
        let name = format!("test_data_{i}");
        let future = worker
            .ask(|reply| Job::Download(name, reply))
            .map_err(|e| e.to_string())?;
        downloads.push(future);
    }
    let mut sum = 0;
    for (i, mut future) in downloads.into_iter().enumerate() {
        let length = future
            .wait_timeout(TIMEOUT)
            .map_err(|e| format!("download {i}: {e}"))?;
        println!("worker {i}: download(\"test_data_{i}\") -> {length}");
        if length != 11 {
            errors.push(format!("worker {i} answered {length}, expected 11"));
        }
        sum += length;
    }
    println!("sum of lengths: {sum}");
    if sum != 55 {
        errors.push(format!("sum {sum}, expected 55"));
    }

    let everyone = Broadcast::new(workers).map_err(|e| e.to_string())?;
    let accepted = everyone
        .send(Job::Announce("new data available"))
        .map_err(|e| e.to_string())?;
    println!("broadcast accepted by {accepted} of {WORKERS} workers");
    if accepted != WORKERS {
        errors.push(format!(
            "broadcast accepted by {accepted}, expected {WORKERS}"
        ));
    }

    // Asked after the broadcast, from this same thread: handled after it (per-sender FIFO).
    for (i, worker) in everyone.members().iter().enumerate() {
        let (downloads, announcements) = worker
            .ask(Job::Counts)
            .map_err(|e| e.to_string())?
            .wait_timeout(TIMEOUT)
            .map_err(|e| format!("counts of worker {i}: {e}"))?;
        println!("worker {i}: {downloads} download(s), {announcements} announcement(s)");
        if (downloads, announcements) != (1, 1) {
            errors.push(format!(
                "worker {i} saw {downloads} downloads and {announcements} announcements, \
                 expected 1 and 1"
            ));
        }
    }
    for (w, stats) in system.scheduler().stats().iter().enumerate() {
        println!(
            "scheduler thread {w}: {} resumes, {} messages, {} steals, {} parks",
            stats.resumes, stats.messages, stats.steals, stats.parks
        );
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
            println!("ok: each reply 11, sum 55, every worker saw the broadcast once");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}
