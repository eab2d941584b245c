//! The bench runner: runs a subset of the Savina actor benchmarks on zeta and prints a
//! markdown table (or, with `--json`, one JSON document).
//!
//! ```text
//! cargo run --release -p zeta-bench -- [names...] [--scale X]
//!                                       [--workers N | --manual | --local]
//!                                       [--counted] [--json] [--list] [--help]
//! ```
//!
//! Savina (Imam and Sarkar, 2014) is the usual suite for comparing actor runtimes; each
//! case here keeps its workload and default size, and its module doc
//! (`src/savina/<name>.rs`) says what Savina's version does, what ours does, what one
//! op is and what is checked. Every case runs on a `SharingScheduler` with `--workers`
//! threads (`max_throughput` 64), or with `--manual` on a `ManualScheduler` that the
//! main thread runs whenever it waits for an answer, or with `--local` on local actors
//! (below), its actors and messages in a `PoolResource` (wrapped in a
//! `CountingResource` with `--counted`); it warms up first, then measures one run (wall
//! clock and global allocations), checks its answer exactly (a wrong answer is a
//! failure, never a number), stops its actors and the scheduler, and checks that
//! nothing panicked or was left queued and that every pool block went back.
//!
//! # `ZETA_BENCH_OBSERVER`: the hooks
//!
//! Built with the `observe` feature (`--features observe`, zeta's hooks), the
//! thread-safe modes spawn their actors with the observer the environment variable
//! `ZETA_BENCH_OBSERVER` names: `none` (the default), `noop` (a `NoopObserver`, which
//! wants no frequent hook), `runs` (a counter told of every run) or `all` (told of every
//! run and message). `scripts/hooks-cost.sh` runs the four states beside a build
//! without the feature, round after round (BENCHMARKS.md, "Hooks").
//!
//! # `--local`: local actors
//!
//! With `--local` every case runs its actors as `zeta::local::LocalActor`s on a
//! `LocalSystem` (`!Send` actors on one thread, no atomic read-modify-write on the
//! message path), which the main thread drives as it drives the `ManualScheduler` with
//! `--manual`: it runs the system until it is idle whenever it waits for an answer,
//! between batches of outside sends, and while it stops the actors. The actors, their
//! messages, the run and the checks are the very text of the thread-safe side, built a
//! second time against `zeta::local`'s types (the `savina` module doc says how), with
//! a `LocalRig` in place of the `Rig`: `max_throughput` 64, the same pool (bare, or
//! counted with `--counted`), the same deadline, and at the end the same checks by
//! local means (no panic on the system's thread, no actor left ready, every block or,
//! with a bare pool, every cell and reply slot back; `savina/local.rs`). The floor
//! runs beside it in the same process, as in the other modes.
//!
//! Every case fits on one thread, so none is skipped: each already runs on one thread
//! with `--manual`. Where a case has a sender outside the actors, the main thread and
//! the actors share the thread as with `--manual`: in `fjthrput` they take turns
//! between batches of sends, as on the floor; in `fjcreate` the main thread spawns
//! every child before it waits and the system runs them (the floor takes turns every
//! `max_throughput` children, so its children stay in the caches). Where a series is
//! timed from outside (`pingpong`'s `outside ask`), the asker is the system's own
//! thread, so the figure is a local request answered while the asker runs the system,
//! not a cross-thread round trip (a `SendAddress` from another thread would be that,
//! and is not measured here). `uct`'s nodes record their samples with an
//! atomic swap into a shared array on either side: one RMW per message that belongs to
//! the workload, not to the engine.
//!
//! Before that, in the same process, every case runs the same workload on the floor
//! (`zeta_bench::floor`: a hand-rolled actor loop on one thread, with no atomics), with
//! the same sizes, warm-up and checks; a wrong answer there fails the case too. The
//! floor is the baseline: what running these actors costs with nothing of what makes
//! zeta usable from many threads.
//!
//! # Reading the table
//!
//! - `ops` are in the case's own unit (`unit`: a round trip, a message, an actor);
//!   `wall` is the measured run; `ns/op` is `wall / ops`.
//! - `floor ns/op` is the floor's measured run divided by the same ops; `×floor` is
//!   zeta's `ns/op` divided by it: 1.00 means zeta runs the workload as fast as the
//!   single-threaded loop, 3.00 three times slower. It is the figure to track across
//!   commits (the floor moves with the machine as zeta does, so the ratio moves less
//!   than either). With `--workers` above 1 zeta may use more cores than the floor's
//!   one: compare `--workers 1` with the floor to judge the engine.
//! - `msg/s` counts every message sent in the measured run, replies and an actor's
//!   messages to itself included, so it can be compared across cases.
//! - `alloc/op` is global allocations (the system allocator, every thread of the
//!   process) inside the measured run, per op, with the total in brackets, except the
//!   pool's chunks, which `chunks` counts. Steady-state zeta makes none per message,
//!   per spawn into a pool, or per burst of newly ready actors: anything here is a bug.
//!   (The runner waits until every worker has parked once before it measures: a
//!   thread's first park registers it with parking_lot, a one-time allocation.)
//! - `chunks` is the 64 KiB chunks the case's pool took from the global allocator
//!   inside the measured run, one global allocation each: memory growth the warm-up did
//!   not reach, not a cost per op. A pool shard grows on a thread that had not needed
//!   as many blocks (blocks go back to the shard that carved them, and an actor may run
//!   on another worker than in the warm-up), or when a producer gets further ahead of
//!   its consumer than in the warm-up.
//! - `p50`, `p99`, `p99.9` are latency percentiles, for the cases that time single
//!   operations, in passes of their own outside the measured run (so that reading the
//!   clock does not slow the throughput figure). A case with several series shows each
//!   in a row of its own, labelled `case (series)`; `–` means none. They are read
//!   (nearest rank) from an HDR histogram made before the samples, to 3 significant
//!   digits: exact below 2048 ns, within 0.1 % above.
//! - Below the table, one line per case says what was checked, or why it failed, and
//!   one more the same for the floor, with the floor's global allocations per op (its
//!   deques growing beyond what the warm-up reached, and in `fjcreate` the box of every
//!   child's behaviour).
//! - `--json` gives each case a `floor` object (`ok`, and `ops`, `messages`, `wall_ns`,
//!   `ns_per_op`, `messages_per_s`, `allocations`, `allocations_per_op`, `check`, or
//!   `error`) and `ratio_to_floor` (the `×floor` figure, `null` when either side
//!   failed); `failed` counts the cases where either side failed. The document is
//!   `serde_json`'s, pretty-printed, each object's keys in alphabetical order; a figure
//!   that is not finite (a run too short for the clock) is `null`.
//!
//! # Caveats
//!
//! - Compare within one run on one machine; absolute figures move with the CPU, its
//!   load and the OS scheduler. Run twice before believing a change.
//! - On a small machine (the 2-core VM this was written on), the workers share the
//!   cores with the main thread, which sends from outside in `fjthrput` and `fjcreate`:
//!   the cross-thread figures there are dominated by thread wake-ups (some 10 µs each)
//!   and time-slicing, and can be bimodal from run to run. Judge the engine by
//!   `--workers 1`, the allocation counts and the shape; report the rest with its
//!   percentiles.
//! - `--scale` below 1 is for a quick check that everything runs, not a measurement:
//!   the runs are then short enough for one wake-up or page fault to matter.
//! - By default the cases run on a bare `PoolResource`: the engine's own figures, with
//!   the actors' cells checked back by the pool's reference count. `--counted` wraps
//!   the pool in a `CountingResource` so that every block is checked back, at a cost:
//!   five atomic read-modify-writes per allocation and two per free, on counters every
//!   thread shares, so about 7 per message (on the 2-core VM, the p50 of a ping-pong
//!   round trip, two messages, went from about 110 ns to about 190 ns). It is the
//!   stricter check (CI runs it), not a measurement. The header says which mode ran.
//! - A debug build is many times slower; the header says which build ran.
//! - The floor has no requests: where zeta's actors answer an `ask`, the floor's write
//!   into a shared cell. It has no outside thread either: where zeta's main thread
//!   sends from outside while the workers run (`fjthrput`, `fjcreate`), the floor's main
//!   thread and actors take turns. Each case's module doc says how its floor differs.
//!
//! The command line is parsed by `clap` (`command` below): `--help` prints every option,
//! and a bad command line is refused with what was wrong and the usage.
//!
//! Exit status: 0 if every selected case passed, 1 if any failed (each failure is
//! reported on stderr, and the other cases still run), 2 for a bad command line.

mod savina;

use std::fmt::Write as _;
use std::io::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use savina::{Case, Config, Latency, Outcome, CASES};
use serde_json::{json, Value};

#[global_allocator]
static GLOBAL: savina::CountingAlloc = savina::CountingAlloc;

/// The largest `--scale` accepted: beyond it the default sizes outgrow memory.
const MAX_SCALE: f64 = 1_000.0;

/// The usage line of `--help` and of a command-line error.
const USAGE: &str = "\
zeta-bench [names...] [--scale X] [--workers N | --manual | --local] [--counted]
                  [--json] [--list] [--help]";

const ABOUT: &str = "\
Runs a subset of the Savina actor benchmarks on zeta, and each on the floor (one
thread, no atomics) as a baseline, and prints a markdown table.";

const AFTER_HELP: &str = "Exit status: 0 all passed, 1 a case failed, 2 a bad command line.";

/// The command line: every option, its help and its check (`--help` prints it).
fn command() -> clap::Command {
    use clap::builder::PossibleValuesParser;
    use clap::{Arg, ArgAction, ArgGroup};

    clap::Command::new("zeta-bench")
        .about(ABOUT)
        .override_usage(USAGE)
        .after_help(AFTER_HELP)
        // A repeated option takes its last value, a repeated flag is the same flag.
        .args_override_self(true)
        .disable_help_flag(true)
        .arg(
            Arg::new("names")
                .value_name("names")
                .num_args(0..)
                .value_parser(PossibleValuesParser::new(
                    CASES.iter().map(|case| case.name),
                ))
                // `--list` describes them; a name that is none of them is refused with
                // the list.
                .hide_possible_values(true)
                .help("cases to run (default: all), see --list"),
        )
        .arg(
            Arg::new("scale")
                .long("scale")
                .value_name("X")
                .value_parser(parse_scale)
                .help(format!(
                    "multiply every case's size by X (0 < X <= {MAX_SCALE}; default 1: \
                     Savina's sizes)"
                )),
        )
        .arg(
            Arg::new("workers")
                .long("workers")
                .value_name("N")
                .value_parser(parse_workers)
                .help("worker threads of the scheduler (default: the available parallelism)"),
        )
        .arg(
            Arg::new("manual")
                .long("manual")
                .action(ArgAction::SetTrue)
                .help("a ManualScheduler instead, run by the main thread while it waits"),
        )
        .arg(
            Arg::new("local")
                .long("local")
                .action(ArgAction::SetTrue)
                .help(
                    "local actors (zeta::local) on a LocalSystem instead, run by the main\n\
                     thread while it waits (no worker threads)",
                ),
        )
        .group(
            ArgGroup::new("engine")
                .args(["workers", "manual", "local"])
                .multiple(false),
        )
        .arg(
            Arg::new("counted")
                .long("counted")
                .action(ArgAction::SetTrue)
                .help(
                    "wrap the pool in a CountingResource and check every block back at the\n\
                     end: a stricter leak check, but its shared counters slow every message",
                ),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help(
                    "print one JSON document instead of the table (each case with a\n\
                     \"floor\" object and \"ratio_to_floor\": zeta's ns/op over the floor's)",
                ),
        )
        .arg(
            Arg::new("list")
                .long("list")
                .action(ArgAction::SetTrue)
                .help("list the cases and exit"),
        )
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help("print this and exit"),
        )
}

/// `--scale`'s value: a number above 0 and at most [`MAX_SCALE`].
fn parse_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= MAX_SCALE => Ok(x),
        _ => Err(format!("expected a number above 0 and at most {MAX_SCALE}")),
    }
}

/// `--workers`' value: a whole number from 1 to the scheduler's maximum.
fn parse_workers(text: &str) -> Result<usize, String> {
    let max = zeta::scheduler::MAX_WORKERS;
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from 1 to {max}")),
    }
}

/// What the command line asks for (`--help` and a bad command line are the `Err`).
enum Command {
    List,
    Run(Options),
}

struct Options {
    cases: Vec<&'static Case>,
    config: Config,
    /// Whether the cases run on local actors (`--local`; `config.workers` is then 0).
    local: bool,
    /// Whether the pools count their blocks (`--counted`).
    counted: bool,
    json: bool,
}

/// The number of CPUs the process may use.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Parses a command line (`args`, the program's name first).
fn parse<I, T>(args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(args)?;
    if matches.get_flag("list") {
        return Ok(Command::List);
    }
    let names: Vec<&String> = matches
        .get_many::<String>("names")
        .map_or_else(Vec::new, Iterator::collect);
    let local = matches.get_flag("local");
    let workers = if local || matches.get_flag("manual") {
        0
    } else {
        matches
            .get_one::<usize>("workers")
            .copied()
            .unwrap_or_else(cpus)
    };
    let cases = CASES
        .iter()
        .filter(|case| names.is_empty() || names.iter().any(|name| *name == case.name))
        .collect();
    Ok(Command::Run(Options {
        cases,
        config: Config {
            scale: matches.get_one::<f64>("scale").copied().unwrap_or(1.0),
            workers,
        },
        local,
        counted: matches.get_flag("counted"),
        json: matches.get_flag("json"),
    }))
}

/// One case's results, as the runner saw them: zeta's and the floor's.
struct Report {
    case: &'static Case,
    result: Result<Outcome, String>,
    floor: Result<Outcome, String>,
}

impl Report {
    fn failed(&self) -> bool {
        self.result.is_err() || self.floor.is_err()
    }

    /// zeta's ns/op divided by the floor's, if both ran and made the same ops.
    fn ratio(&self) -> Option<f64> {
        match (&self.result, &self.floor) {
            (Ok(zeta), Ok(floor)) if zeta.ops == floor.ops => {
                Some(zeta.wall.as_secs_f64() / floor.wall.as_secs_f64())
            }
            _ => None,
        }
    }
}

/// Runs one side of a case (`case.run` or `case.floor`), catching a panic as a failure.
fn run_case(
    run: fn(&Config) -> Result<Outcome, String>,
    config: &Config,
) -> Result<Outcome, String> {
    match panic::catch_unwind(AssertUnwindSafe(|| run(config))) {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            Err(format!("panicked: {what}"))
        }
    }
}

fn main() -> ExitCode {
    let options = match parse(std::env::args_os()) {
        Ok(Command::List) => {
            print!("{}", list());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(options)) => options,
        // `--help` (on stdout, status 0) or a bad command line (on stderr, status 2).
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };

    savina::set_counted(options.counted);
    let total = options.cases.len();
    let mut reports = Vec::with_capacity(total);
    for (index, &case) in options.cases.iter().enumerate() {
        eprint!("[{}/{total}] {} ... ", index + 1, case.name);
        let _ = std::io::stderr().flush();
        let start = Instant::now();
        let floor = run_case(case.floor, &options.config);
        let floor_took = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let zeta = if options.local { case.local } else { case.run };
        let mut result = run_case(zeta, &options.config);
        let took = start.elapsed().as_secs_f64();
        if let (Ok(zeta), Ok(floor)) = (&result, &floor) {
            if zeta.ops != floor.ops {
                result = Err(format!(
                    "zeta made {} ops, the floor {}: not the same workload",
                    zeta.ops, floor.ops
                ));
            }
        }
        let status = |ok: bool| if ok { "done" } else { "FAILED" };
        eprintln!(
            "floor {} in {floor_took:.2} s, zeta {} in {took:.2} s",
            status(floor.is_ok()),
            status(result.is_ok())
        );
        if let Err(error) = &floor {
            eprintln!("zeta-bench: {} failed on the floor: {error}", case.name);
        }
        if let Err(error) = &result {
            eprintln!("zeta-bench: {} failed: {error}", case.name);
        }
        reports.push(Report {
            case,
            result,
            floor,
        });
    }

    let failed = reports.iter().filter(|r| r.failed()).count();
    let output = if options.json {
        let mut text =
            serde_json::to_string_pretty(&json(&options.config, options.local, &reports))
                .expect("a Value always serializes");
        text.push('\n');
        text
    } else {
        table(&options.config, options.local, &reports)
    };
    print!("{output}");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("zeta-bench: {failed} of {total} case(s) failed");
        ExitCode::FAILURE
    }
}

/// `--list`: name, unit and workload of every case.
fn list() -> String {
    let width = CASES.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let unit_width = CASES.iter().map(|c| c.unit.len()).max().unwrap_or(0);
    let mut out = String::new();
    for case in CASES {
        let _ = writeln!(
            out,
            "{:width$}  {:unit_width$}  {}",
            case.name, case.unit, case.about
        );
    }
    out
}

/// Which pool the cases ran with, for the header.
fn pool() -> &'static str {
    if savina::counted() {
        "counted pool"
    } else {
        "bare pool (block counts are kept only with --counted)"
    }
}

/// Which build this is, for the header.
fn build() -> &'static str {
    if cfg!(debug_assertions) {
        "debug build (slow: use --release)"
    } else {
        "release build"
    }
}

// ---------------------------------------------------------------------------------------
// The table.

/// The table's columns: header and whether the column is numeric (right-aligned).
const COLUMNS: [(&str, bool); WIDTH] = [
    ("case", false),
    ("unit", false),
    ("ops", true),
    ("wall", true),
    ("ns/op", true),
    ("floor ns/op", true),
    ("×floor", true),
    ("msg/s", true),
    ("alloc/op", true),
    ("chunks", true),
    ("p50", true),
    ("p99", true),
    ("p99.9", true),
];

/// Columns of the table.
const WIDTH: usize = 13;

const NONE: &str = "–";

/// The floor's ns/op cell.
fn floor_cell(report: &Report) -> String {
    match &report.floor {
        Ok(floor) => format!("{:.1}", floor.wall.as_nanos() as f64 / floor.ops as f64),
        Err(_) => "FAILED".to_owned(),
    }
}

/// The `×floor` cell.
fn ratio_cell(report: &Report) -> String {
    report
        .ratio()
        .map_or_else(|| NONE.to_owned(), |ratio| format!("{ratio:.2}"))
}

fn table(config: &Config, local: bool, reports: &[Report]) -> String {
    let mut rows: Vec<[String; WIDTH]> = Vec::new();
    for report in reports {
        let name = report.case.name;
        let unit = report.case.unit.to_owned();
        match &report.result {
            Ok(outcome) => {
                let ns_per_op = outcome.wall.as_nanos() as f64 / outcome.ops as f64;
                let rate = outcome.messages as f64 / outcome.wall.as_secs_f64();
                let allocations = allocations_cell(outcome);
                let inline = match outcome.latency.as_slice() {
                    [(_, latency)] => Some(latency),
                    _ => None,
                };
                let [p50, p99, p999] = latency_cells(inline);
                rows.push([
                    name.to_owned(),
                    unit,
                    grouped(outcome.ops),
                    duration(outcome.wall),
                    format!("{ns_per_op:.1}"),
                    floor_cell(report),
                    ratio_cell(report),
                    rate_per_second(rate),
                    allocations,
                    grouped(outcome.chunks),
                    p50,
                    p99,
                    p999,
                ]);
                if outcome.latency.len() > 1 {
                    for (label, latency) in &outcome.latency {
                        let [p50, p99, p999] = latency_cells(Some(latency));
                        rows.push([
                            format!("{name} ({label})"),
                            format!("{} samples", grouped(latency.samples as u64)),
                            NONE.to_owned(),
                            NONE.to_owned(),
                            NONE.to_owned(),
                            NONE.to_owned(),
                            NONE.to_owned(),
                            NONE.to_owned(),
                            NONE.to_owned(),
                            NONE.to_owned(),
                            p50,
                            p99,
                            p999,
                        ]);
                    }
                }
            }
            Err(_) => {
                let mut row: [String; WIDTH] = core::array::from_fn(|_| NONE.to_owned());
                row[0] = name.to_owned();
                row[1] = unit;
                row[2] = "FAILED".to_owned();
                row[5] = floor_cell(report);
                rows.push(row);
            }
        }
    }

    let mut widths = COLUMNS.map(|(header, _)| header.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; WIDTH]| {
        let mut out = String::from("|");
        for ((cell, width), (_, numeric)) in cells.iter().zip(widths).zip(COLUMNS) {
            let pad = " ".repeat(width - cell.chars().count());
            if numeric {
                let _ = write!(out, " {pad}{cell} |");
            } else {
                let _ = write!(out, " {cell}{pad} |");
            }
        }
        out.push('\n');
        out
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "zeta Savina subset: scale {}, {}, {} CPU(s), {}, {}; the floor: 1 \
         thread, no atomics (×floor = zeta's ns/op ÷ the floor's)\n",
        config.scale,
        match config.workers {
            _ if local => "local actors on a LocalSystem run by the main thread".to_owned(),
            0 => "a ManualScheduler run by the main thread".to_owned(),
            n => format!("{n} worker(s)"),
        },
        cpus(),
        pool(),
        build()
    );
    out.push_str(&line(&COLUMNS.map(|(header, _)| header.to_owned())));
    out.push('|');
    for (width, (_, numeric)) in widths.iter().zip(COLUMNS) {
        let dashes = "-".repeat(width.saturating_sub(1).max(2));
        if numeric {
            let _ = write!(out, " {dashes}: |");
        } else {
            let _ = write!(out, " {dashes}- |");
        }
    }
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
    }
    out.push('\n');
    for report in reports {
        let name = report.case.name;
        let _ = match &report.result {
            Ok(outcome) => writeln!(out, "- {name}: {}", outcome.check),
            Err(error) => writeln!(out, "- {name}: FAILED: {error}"),
        };
        let _ = match &report.floor {
            Ok(floor) => writeln!(
                out,
                "- {name} (floor): {}; global allocations per op: {}",
                floor.check,
                allocations_cell(floor)
            ),
            Err(error) => writeln!(out, "- {name} (floor): FAILED: {error}"),
        };
    }
    out
}

/// Global allocations per op, with the total in brackets (`0` if none).
fn allocations_cell(outcome: &Outcome) -> String {
    if outcome.allocations == 0 {
        "0".to_owned()
    } else {
        format!(
            "{:.4} ({})",
            outcome.allocations as f64 / outcome.ops as f64,
            outcome.allocations
        )
    }
}

/// p50, p99 and p99.9 cells, or dashes.
fn latency_cells(latency: Option<&Latency>) -> [String; 3] {
    match latency {
        Some(l) => [duration(l.p50), duration(l.p99), duration(l.p999)],
        None => [NONE.to_owned(), NONE.to_owned(), NONE.to_owned()],
    }
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A duration with a unit that keeps three significant digits or so.
fn duration(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// Events per second, with an SI prefix.
fn rate_per_second(rate: f64) -> String {
    if !rate.is_finite() {
        NONE.to_owned()
    } else if rate >= 1e6 {
        format!("{:.1} M", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1} k", rate / 1e3)
    } else {
        format!("{rate:.0}")
    }
}

// ---------------------------------------------------------------------------------------
// JSON.

/// `--json`'s document (a number that is not finite becomes `null`).
fn json(config: &Config, local: bool, reports: &[Report]) -> Value {
    let cases: Vec<Value> = reports.iter().map(case_json).collect();
    json!({
        "config": {
            "scale": config.scale,
            "workers": config.workers,
            "cpus": cpus(),
            "counted_pool": savina::counted(),
            "manual": config.workers == 0 && !local,
            "local": local,
            "debug_build": cfg!(debug_assertions),
        },
        "cases": cases,
        "failed": reports.iter().filter(|r| r.failed()).count(),
    })
}

/// One case: its name, zeta's run (or error), the floor's, and the ratio of the two.
fn case_json(report: &Report) -> Value {
    let case = report.case;
    let mut out = json!({
        "name": case.name,
        "unit": case.unit,
        "about": case.about,
    });
    match &report.result {
        Ok(o) => {
            let latency: Vec<Value> = o
                .latency
                .iter()
                .map(|(label, l)| {
                    json!({
                        "label": label,
                        "samples": l.samples,
                        "p50_ns": nanos(l.p50),
                        "p99_ns": nanos(l.p99),
                        "p999_ns": nanos(l.p999),
                        "max_ns": nanos(l.max),
                    })
                })
                .collect();
            out["ok"] = json!(true);
            measured_fields(&mut out, o);
            out["pool_chunks"] = json!(o.chunks);
            out["latency"] = Value::Array(latency);
            out["check"] = json!(o.check);
        }
        Err(error) => {
            out["ok"] = json!(false);
            out["error"] = json!(error);
        }
    }
    out["floor"] = match &report.floor {
        Ok(f) => {
            let mut floor = json!({ "ok": true, "check": f.check });
            measured_fields(&mut floor, f);
            floor
        }
        Err(error) => json!({ "ok": false, "error": error }),
    };
    out["ratio_to_floor"] = json!(report.ratio());
    out
}

/// Adds the fields of a measured run: ops, messages, wall, ns/op, rate, allocations.
fn measured_fields(out: &mut Value, o: &Outcome) {
    out["ops"] = json!(o.ops);
    out["messages"] = json!(o.messages);
    out["wall_ns"] = json!(nanos(o.wall));
    out["ns_per_op"] = json!(o.wall.as_nanos() as f64 / o.ops as f64);
    out["messages_per_s"] = json!(o.messages as f64 / o.wall.as_secs_f64());
    out["allocations"] = json!(o.allocations);
    out["allocations_per_op"] = json!(o.allocations as f64 / o.ops as f64);
}

/// A duration in whole nanoseconds (`u64` holds 584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command line: the program's name, then `line`'s words.
    fn args(line: &str) -> Vec<String> {
        std::iter::once("zeta-bench")
            .chain(line.split_whitespace())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn manual_means_no_workers() {
        let Ok(Command::Run(options)) = parse(args("threadring --manual")) else {
            panic!("a valid command line");
        };
        assert_eq!(options.config.workers, 0);
    }

    #[test]
    fn local_means_no_workers() {
        let Ok(Command::Run(options)) = parse(args("count --local --counted")) else {
            panic!("a valid command line");
        };
        assert!(options.local && options.counted);
        assert_eq!(options.config.workers, 0);
        let Ok(Command::Run(options)) = parse(args("--manual")) else {
            panic!("a valid command line");
        };
        assert!(!options.local);
    }

    #[test]
    fn parses_names_and_options() {
        let Ok(Command::Run(options)) = parse(args("count pingpong --scale 0.5 --workers=3"))
        else {
            panic!("a valid command line");
        };
        // CASES order, whatever the order on the command line.
        let names: Vec<&str> = options.cases.iter().map(|c| c.name).collect();
        assert_eq!(names, ["pingpong", "count"]);
        assert_eq!(options.config.scale, 0.5);
        assert_eq!(options.config.workers, 3);
        assert!(!options.json);
    }

    #[test]
    fn no_names_is_every_case() {
        let Ok(Command::Run(options)) = parse(args("--json")) else {
            panic!("a valid command line");
        };
        assert_eq!(options.cases.len(), CASES.len());
        assert!(options.json);
    }

    #[test]
    fn rejects_bad_command_lines() {
        for line in [
            "nosuchcase",
            "--scale",
            "--scale 0",
            "--scale -1",
            "--scale abc",
            "--scale nan",
            "--scale inf",
            "--workers 0",
            "--workers -2",
            "--workers x",
            "--frobnicate",
            "--local --manual",
            "--manual --local",
            "--local --workers 1",
            "--workers=2 --local",
            "--workers 1 --manual",
            "--list --json --scale 0",
        ] {
            let Err(error) = parse(args(line)) else {
                panic!("{line:?} must be refused");
            };
            // A bad command line: on stderr, exit status 2.
            assert!(error.use_stderr(), "{line:?}: {error}");
            assert_eq!(error.exit_code(), 2, "{line:?}: {error}");
        }
        // Each refusal says what was wrong.
        let message = |line: &str| match parse(args(line)) {
            Err(error) => error.render().to_string(),
            Ok(_) => panic!("{line:?} must be refused"),
        };
        assert!(message("--scale 0").contains("above 0 and at most 1000"));
        let max = zeta::scheduler::MAX_WORKERS;
        assert!(message("--workers 0").contains(&format!("from 1 to {max}")));
        let unknown = message("nosuchcase");
        assert!(unknown.contains("nosuchcase"), "{unknown}");
        assert!(CASES.iter().all(|c| unknown.contains(c.name)), "{unknown}");
        assert!(message("--local --manual").contains("cannot be used with"));
    }

    #[test]
    fn a_repeated_option_takes_its_last_value() {
        let Ok(Command::Run(options)) = parse(args("--workers 2 --workers=3 --json --json")) else {
            panic!("a valid command line");
        };
        assert_eq!(options.config.workers, 3);
        assert!(options.json);
    }

    #[test]
    fn list_and_help() {
        assert!(matches!(parse(args("--list")), Ok(Command::List)));
        for line in ["--help", "-h", "count --help"] {
            let Err(help) = parse(args(line)) else {
                panic!("{line:?}: help is printed, not run");
            };
            // On stdout, exit status 0.
            assert!(!help.use_stderr(), "{line:?}");
            assert_eq!(help.exit_code(), 0, "{line:?}");
            let text = help.render().to_string();
            for option in [
                "--scale X",
                "--workers N",
                "--manual",
                "--local",
                "--counted",
                "--json",
                "--list",
                "--help",
                "Exit status",
                "Savina",
                "[names]",
            ] {
                assert!(text.contains(option), "--help lacks {option:?}:\n{text}");
            }
        }
    }

    fn outcome(latency: Vec<(&'static str, Latency)>) -> Outcome {
        Outcome {
            ops: 1_000,
            messages: 2_000,
            wall: Duration::from_micros(50),
            allocations: 3,
            chunks: 4_321,
            latency,
            check: "checked \"all\"".to_owned(),
        }
    }

    fn floor_outcome(wall_ns: u64) -> Outcome {
        Outcome {
            ops: 1_000,
            messages: 2_000,
            wall: Duration::from_nanos(wall_ns),
            allocations: 2,
            chunks: 0,
            latency: Vec::new(),
            check: "floor checked".to_owned(),
        }
    }

    fn latency(p50: u64) -> Latency {
        Latency::from_nanos(&[p50, p50 + 1, p50 + 2]).expect("samples")
    }

    #[test]
    fn a_table_has_a_row_per_case_and_per_series() {
        let reports = [
            Report {
                case: &CASES[0],
                result: Ok(outcome(vec![("a", latency(100)), ("b", latency(2_000))])),
                floor: Ok(floor_outcome(12_500)),
            },
            Report {
                case: &CASES[1],
                result: Ok(outcome(vec![("only", latency(300))])),
                floor: Err("floor wrong".to_owned()),
            },
            Report {
                case: &CASES[2],
                result: Err("wrong".to_owned()),
                floor: Ok(floor_outcome(10_000)),
            },
        ];
        let config = Config {
            scale: 1.0,
            workers: 2,
        };
        let out = table(&config, false, &reports);
        let rows: Vec<&str> = out.lines().filter(|l| l.starts_with('|')).collect();
        // Header, rule, the first case and its two series, the second, the failure.
        assert_eq!(rows.len(), 2 + 3 + 1 + 1, "{out}");
        assert!(
            rows[3].starts_with(&format!("| {} (a)", CASES[0].name)),
            "{out}"
        );
        assert!(rows[4].contains("2.0 µs"), "{out}");
        assert!(
            rows[5].contains("301 ns")
                && rows[5].contains("0.0030 (3)")
                && rows[5].contains(" 4,321 |"),
            "{out}"
        );
        assert!(rows[6].contains("FAILED"), "{out}");
        assert!(out.contains(&format!("- {}: FAILED: wrong", CASES[2].name)));
        // 50 µs over 1 000 ops against the floor's 12.5 µs: 50.0 and 12.5 ns/op, ×4.
        let cells = |row: &str| -> Vec<String> {
            row.split('|').map(|cell| cell.trim().to_owned()).collect()
        };
        // `ns/op`, `floor ns/op`, `×floor` (after the leading empty cell).
        assert_eq!(cells(rows[2])[5..8], ["50.0", "12.5", "4.00"], "{out}");
        assert_eq!(cells(rows[5])[5..8], ["50.0", "FAILED", "–"], "{out}");
        assert_eq!(cells(rows[6])[5..8], ["–", "10.0", "–"], "{out}");
        assert!(out.contains(&format!(
            "- {} (floor): floor checked; global allocations per op: 0.0020 (2)",
            CASES[0].name
        )));
        assert!(out.contains(&format!("- {} (floor): FAILED: floor wrong", CASES[1].name)));
        let text = serde_json::to_string_pretty(&json(&config, false, &reports)).unwrap();
        let doc: Value = serde_json::from_str(&text).expect("a JSON document");
        assert_eq!(doc["config"]["scale"], 1.0, "{text}");
        assert_eq!(doc["config"]["workers"], 2, "{text}");
        assert_eq!(doc["config"]["manual"], false, "{text}");
        assert_eq!(doc["config"]["local"], false, "{text}");
        let cases = doc["cases"].as_array().expect("an array of cases");
        assert_eq!(cases.len(), 3, "{text}");
        let [first, second, third] = [&cases[0], &cases[1], &cases[2]];
        assert_eq!(first["name"], CASES[0].name, "{text}");
        assert_eq!(first["ok"], true, "{text}");
        assert_eq!(first["ops"], 1_000, "{text}");
        assert_eq!(first["wall_ns"], 50_000, "{text}");
        assert_eq!(first["ns_per_op"], 50.0, "{text}");
        assert_eq!(first["allocations"], 3, "{text}");
        assert_eq!(first["allocations_per_op"], 0.003, "{text}");
        assert_eq!(first["pool_chunks"], 4_321, "{text}");
        assert_eq!(first["check"], "checked \"all\"", "{text}");
        assert_eq!(first["latency"][0]["label"], "a", "{text}");
        assert_eq!(first["latency"][0]["samples"], 3, "{text}");
        assert_eq!(first["latency"][1]["p50_ns"], 2_001, "{text}");
        assert_eq!(first["latency"][1]["max_ns"], 2_002, "{text}");
        assert_eq!(
            first["floor"],
            json!({
                "ok": true,
                "ops": 1_000,
                "messages": 2_000,
                "wall_ns": 12_500,
                "ns_per_op": 12.5,
                "messages_per_s": 2_000.0 / 12.5e-6,
                "allocations": 2,
                "allocations_per_op": 0.002,
                "check": "floor checked",
            }),
            "{text}"
        );
        // 50 ns/op over 12.5.
        assert_eq!(first["ratio_to_floor"], 4.0, "{text}");
        assert_eq!(
            second["floor"],
            json!({ "ok": false, "error": "floor wrong" }),
            "{text}"
        );
        assert_eq!(second["ratio_to_floor"], Value::Null, "{text}");
        assert_eq!(third["ok"], false, "{text}");
        assert_eq!(third["error"], "wrong", "{text}");
        assert!(third.get("ops").is_none(), "{text}");
        assert_eq!(third["floor"]["ns_per_op"], 10.0, "{text}");
        assert_eq!(doc["failed"], 2, "{text}");
    }

    #[test]
    fn json_has_no_nan() {
        // A run too short for the clock: not-finite figures are `null`, not `NaN`.
        let mut zero = floor_outcome(0);
        zero.ops = 0;
        let report = Report {
            case: &CASES[0],
            result: Ok(zero.clone()),
            floor: Ok(zero),
        };
        let config = Config {
            scale: 1.0,
            workers: 0,
        };
        let doc = json(&config, true, &[report]);
        let text = doc.to_string();
        assert!(!text.contains("NaN"), "{text}");
        assert_eq!(doc["cases"][0]["ns_per_op"], Value::Null, "{text}");
        assert_eq!(doc["cases"][0]["messages_per_s"], Value::Null, "{text}");
        assert_eq!(doc["config"]["manual"], false, "{text}");
        assert_eq!(doc["config"]["local"], true, "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), doc);
    }

    #[test]
    fn formats() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(duration(Duration::from_nanos(850)), "850 ns");
        assert_eq!(duration(Duration::from_nanos(12_340)), "12.3 µs");
        assert_eq!(duration(Duration::from_millis(1_500)), "1.50 s");
    }
}
