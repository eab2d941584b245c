//! The program `scripts/rmw-count.sh` runs under callgrind: one shape of work, repeated,
//! with callgrind's event collection switched on for exactly the repetitions to count.
//!
//! ```text
//! rmw-probe <mode> [n]
//! ```
//!
//! | mode | what is repeated `n` times | per |
//! |---|---|---|
//! | `fetch-add` | one `AtomicU64::fetch_add` (calibration: must count 1 RMW) | iteration |
//! | `rmw-mix` | one `fetch_add`, one `swap`, one `compare_exchange` (calibration: 3) | iteration |
//! | `floor` | a ping-pong round trip on the floor (`zeta_bench::floor`) | message |
//! | `manual` | a ping-pong round trip between two zeta actors on a `ManualScheduler` | message |
//! | `sharing` | the same on a started 1-worker `SharingScheduler` | message |
//! | `local` | the same between two local actors on a `LocalSystem` (`zeta::local`) | message |
//! | `manual-noop` | `manual`, the actors observed by a `NoopObserver` (feature `observe`) | message |
//! | `manual-runs` | `manual`, observed by a counter of runs (`Interests::RUNS`) | message |
//! | `manual-all` | `manual`, observed by a counter of runs and messages (`Interests::ALL`) | message |
//!
//! A round trip is two messages, each to an idle actor (the receiver has nothing else
//! queued and is not running: every send unblocks it and schedules it). Every shape is
//! run once unmeasured first (pool chunks, queue buffers, code paths warm), then again
//! with collection on. In the actor shapes the pinger switches collection on in its
//! handler right before the first ping and off in the handler of the last pong, at the
//! same point of its loop, so the window holds exactly `2 n` whole message cycles
//! (send, schedule, resume, take, dispatch, block, free) and nothing of the set-up, of
//! the outside `ask` that starts the run or of the answer that ends it. Collection is
//! per thread in callgrind: on a `SharingScheduler` the window is the worker's, the
//! thread that runs both actors; the waiting main thread is not counted. The `local`
//! shape is the `manual` one with `LocalActor`s: the same handlers, the same pool
//! (`PoolResource`, bare), the run started by a `LocalAddress::ask` and driven by
//! `LocalSystem::run_until_idle` on the main thread, which is the system's.
//!
//! Prints `<mode> <per> <count>` on the last line of stdout, the count the script
//! divides by. Every answer is checked (a wrong one exits non-zero). Outside callgrind
//! the collection switch is a no-op sequence of instructions, so the program also runs
//! natively.

use std::cell::Cell;
use std::hint::black_box;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use zeta::arena::PoolResource;
use zeta::local::{LocalActor, LocalAddress, LocalContext, LocalReply, LocalSystem};
use zeta::{Actor, Address, Context, ManualScheduler, Reply, Scheduler, SharingScheduler};
use zeta_bench::floor::{ActorId, Floor};

/// Every scheduler's `max_throughput`, as in the benches.
const MAX_THROUGHPUT: usize = 64;
/// Round trips (or iterations) by default.
const DEFAULT_N: u64 = 50_000;

/// Callgrind's client requests, issued by the instruction sequence of valgrind.h
/// (amd64): outside valgrind it leaves every register as it was.
mod callgrind {
    /// `VG_USERREQ_TOOL_BASE('C', 'T')`.
    const BASE: u64 = ((b'C' as u64) << 24) | ((b'T' as u64) << 16);
    /// `CALLGRIND_TOGGLE_COLLECT`: the third request of callgrind's enum.
    const TOGGLE_COLLECT: u64 = BASE + 2;

    /// Switches callgrind's event collection on or off for the calling thread.
    #[inline(never)]
    pub fn toggle_collect() {
        request(TOGGLE_COLLECT);
    }

    #[cfg(target_arch = "x86_64")]
    fn request(code: u64) {
        let args: [u64; 6] = [code, 0, 0, 0, 0, 0];
        let _result: u64;
        // SAFETY: valgrind.h's "special instruction" sequence. The four rotations of
        // rdi add up to 128 bits, two whole turns, so rdi comes out as it went in;
        // `xchg rbx, rbx` changes nothing. Natively that is all it does (flags aside,
        // which `asm!` assumes clobbered). Under valgrind the sequence is recognised
        // and the request read from the six words `rax` points to, which live on this
        // stack frame for the whole statement; the answer comes back in rdx (the
        // default we pass, 0, if the tool ignores the request).
        unsafe {
            core::arch::asm!(
                "rol rdi, 3",
                "rol rdi, 13",
                "rol rdi, 61",
                "rol rdi, 51",
                "xchg rbx, rbx",
                in("rax") args.as_ptr(),
                inout("rdx") 0u64 => _result,
                options(nostack),
            );
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn request(_code: u64) {}
}

// ---------------------------------------------------------------------------------------
// Calibration.

/// `n` relaxed `fetch_add`s on one counter, collected.
fn fetch_add(n: u64) -> Result<u64, String> {
    let counter = AtomicU64::new(0);
    let run = |counter: &AtomicU64| {
        for _ in 0..n {
            black_box(counter).fetch_add(1, Ordering::Relaxed);
        }
    };
    run(&counter);
    callgrind::toggle_collect();
    run(&counter);
    callgrind::toggle_collect();
    match counter.load(Ordering::Relaxed) {
        total if total == 2 * n => Ok(n),
        total => Err(format!("the counter reads {total}, expected {}", 2 * n)),
    }
}

/// `n` iterations of one `fetch_add`, one `swap` and one `compare_exchange`, collected.
fn rmw_mix(n: u64) -> Result<u64, String> {
    let counter = AtomicU64::new(0);
    let last = AtomicU64::new(0);
    let run = |counter: &AtomicU64, last: &AtomicU64| {
        for i in 0..n {
            black_box(counter).fetch_add(1, Ordering::Relaxed);
            let before = black_box(last).swap(i, Ordering::AcqRel);
            // Always succeeds: `last` holds `i` since the swap.
            let _ =
                black_box(last).compare_exchange(i, before, Ordering::AcqRel, Ordering::Relaxed);
        }
    };
    run(&counter, &last);
    callgrind::toggle_collect();
    run(&counter, &last);
    callgrind::toggle_collect();
    match counter.load(Ordering::Relaxed) {
        total if total == 2 * n => Ok(n),
        total => Err(format!("the counter reads {total}, expected {}", 2 * n)),
    }
}

// ---------------------------------------------------------------------------------------
// Ping-pong on the floor.

enum FloorMsg {
    /// Make this many round trips, collected if the flag is set.
    Run(u64, bool),
    Ping(u64),
    Pong(u64),
}

/// `n` round trips on the floor, collected; returns the messages in the window.
fn floor(n: u64) -> Result<u64, String> {
    let mut floor: Floor<FloorMsg> = Floor::new(MAX_THROUGHPUT);
    let pinger_id: Rc<Cell<Option<ActorId>>> = Rc::default();
    let ponger = {
        let pinger_id = pinger_id.clone();
        floor.spawn(move |message, ctx| {
            if let FloorMsg::Ping(k) = message {
                let pinger = pinger_id.get().expect("set before the first run");
                if ctx.send(pinger, FloorMsg::Pong(k)).is_err() {
                    panic!("the pinger stopped");
                }
            }
        })
    };
    // Round trips made (over every run), and whether every pong came back in order.
    let rounds = Rc::new(Cell::new(0u64));
    let in_order = Rc::new(Cell::new(true));
    let pinger = {
        let (rounds, in_order) = (rounds.clone(), in_order.clone());
        let mut left = 0u64;
        let mut collecting = false;
        floor.spawn(move |message, ctx| {
            match message {
                FloorMsg::Run(n, collect) => {
                    left = n;
                    collecting = collect;
                    if collecting {
                        callgrind::toggle_collect();
                    }
                }
                FloorMsg::Pong(k) => {
                    in_order.set(in_order.get() && k == rounds.get());
                    rounds.set(rounds.get() + 1);
                }
                FloorMsg::Ping(_) => return,
            }
            if left == 0 {
                if collecting {
                    callgrind::toggle_collect();
                    collecting = false;
                }
                return;
            }
            left -= 1;
            if ctx.send(ponger, FloorMsg::Ping(rounds.get())).is_err() {
                panic!("the ponger stopped");
            }
        })
    };
    pinger_id.set(Some(pinger));
    for collect in [false, true] {
        if floor.send(pinger, FloorMsg::Run(n, collect)).is_err() {
            return Err("the pinger stopped".to_owned());
        }
        floor.run_until_idle();
    }
    if rounds.get() != 2 * n || !in_order.get() {
        return Err(format!(
            "{} round trips (in order: {}), expected {}",
            rounds.get(),
            in_order.get(),
            2 * n
        ));
    }
    Ok(2 * n)
}

// ---------------------------------------------------------------------------------------
// Ping-pong between zeta actors.

struct Ponger {
    pinger: Option<Address<Pinger>>,
}

enum PongerMsg {
    Hello(Address<Pinger>),
    Ping(u64),
}

impl Actor for Ponger {
    type Message = PongerMsg;

    #[inline]
    fn handle(&mut self, message: PongerMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            PongerMsg::Hello(pinger) => self.pinger = Some(pinger),
            PongerMsg::Ping(k) => {
                let pinger = self.pinger.as_ref().expect("hello comes first");
                if pinger.send(PingerMsg::Pong(k)).is_err() {
                    panic!("the pinger stopped");
                }
            }
        }
    }
}

struct Pinger {
    ponger: Address<Ponger>,
    /// Round trips left in this run.
    left: u64,
    /// Round trips made, over every run.
    rounds: u64,
    /// Whether every pong came back in order.
    in_order: bool,
    collecting: bool,
    done: Option<Reply<(u64, bool)>>,
}

enum PingerMsg {
    /// Make this many round trips, collected if the flag is set; answer the total.
    Run(u64, bool, Reply<(u64, bool)>),
    Pong(u64),
}

impl Actor for Pinger {
    type Message = PingerMsg;

    #[inline]
    fn handle(&mut self, message: PingerMsg, _ctx: &mut Context<'_, Self>) {
        match message {
            PingerMsg::Run(n, collect, done) => {
                self.left = n;
                self.done = Some(done);
                self.collecting = collect;
                if collect {
                    callgrind::toggle_collect();
                }
            }
            PingerMsg::Pong(k) => {
                self.in_order &= k == self.rounds;
                self.rounds += 1;
            }
        }
        if self.left == 0 {
            if self.collecting {
                callgrind::toggle_collect();
                self.collecting = false;
            }
            if let Some(done) = self.done.take() {
                let _ = done.send((self.rounds, self.in_order));
            }
            return;
        }
        self.left -= 1;
        if self.ponger.send(PongerMsg::Ping(self.rounds)).is_err() {
            panic!("the ponger stopped");
        }
    }
}

/// `n` round trips between two zeta actors on `scheduler`, collected; `drive` runs the
/// scheduler until the run's answer is in (or does nothing, for a started one).
fn zeta_pair<S: Scheduler + 'static>(
    n: u64,
    scheduler: Arc<S>,
    drive: impl Fn(&S),
) -> Result<u64, String> {
    zeta_pair_in(n, scheduler, None, drive)
}

/// [`zeta_pair`], the actors spawned through `system` if given (with its observer),
/// else with the free `spawn` into a pool of their own.
fn zeta_pair_in<S: Scheduler + 'static>(
    n: u64,
    scheduler: Arc<S>,
    system: Option<&zeta::System<S>>,
    drive: impl Fn(&S),
) -> Result<u64, String> {
    let pool = Arc::new(PoolResource::new());
    let ponger = match system {
        Some(system) => system.spawn(Ponger { pinger: None }),
        None => zeta::spawn(Ponger { pinger: None }, pool.clone(), scheduler.clone()),
    }
    .map_err(|_| "no memory for an actor".to_owned())?;
    let pinger = Pinger {
        ponger: ponger.clone(),
        left: 0,
        rounds: 0,
        in_order: true,
        collecting: false,
        done: None,
    };
    let pinger = match system {
        Some(system) => system.spawn(pinger),
        None => zeta::spawn(pinger, pool.clone(), scheduler.clone()),
    }
    .map_err(|_| "no memory for an actor".to_owned())?;
    ponger
        .send(PongerMsg::Hello(pinger.clone()))
        .map_err(|e| format!("hello: {e}"))?;
    let mut answer = (0, true);
    for collect in [false, true] {
        let future = pinger
            .ask(|done| PingerMsg::Run(n, collect, done))
            .map_err(|e| format!("asking the pinger: {e}"))?;
        drive(&scheduler);
        answer = future.wait().map_err(|e| format!("the run: {e}"))?;
    }
    pinger.stop().map_err(|e| format!("stop: {e}"))?;
    ponger.stop().map_err(|e| format!("stop: {e}"))?;
    drive(&scheduler);
    while pinger.is_alive() || ponger.is_alive() {
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
    match answer {
        (rounds, true) if rounds == 2 * n => Ok(2 * n),
        (rounds, in_order) => Err(format!(
            "{rounds} round trips (in order: {in_order}), expected {}",
            2 * n
        )),
    }
}

fn manual(n: u64) -> Result<u64, String> {
    let scheduler =
        Arc::new(ManualScheduler::new(MAX_THROUGHPUT).map_err(|e| format!("scheduler: {e}"))?);
    zeta_pair(n, scheduler, |scheduler| {
        scheduler
            .run_until_idle()
            .expect("driven by this thread only");
    })
}

/// The runner's counting observer (its `fetch_add`s are RMWs: they show in the count).
#[cfg(feature = "observe")]
use zeta_bench::observe::Counting;

/// `manual`, with the actors observed by `observer` (spawned through a system that
/// gives it to them).
#[cfg(feature = "observe")]
fn manual_observed(n: u64, observer: Arc<dyn zeta::observe::Observer>) -> Result<u64, String> {
    let scheduler =
        Arc::new(ManualScheduler::new(MAX_THROUGHPUT).map_err(|e| format!("scheduler: {e}"))?);
    let system =
        zeta::System::new(scheduler.clone(), Arc::new(PoolResource::new())).with_observer(observer);
    zeta_pair_in(n, scheduler, Some(&system), |scheduler| {
        scheduler
            .run_until_idle()
            .expect("driven by this thread only");
    })
}

fn sharing(n: u64) -> Result<u64, String> {
    let scheduler = SharingScheduler::builder()
        .workers(1)
        .max_throughput(MAX_THROUGHPUT)
        .spin_before_park(64)
        .build()
        .map_err(|e| format!("scheduler: {e}"))?;
    scheduler.start().map_err(|e| format!("start: {e}"))?;
    let scheduler = Arc::new(scheduler);
    let result = zeta_pair(n, scheduler.clone(), |_| {});
    let report = scheduler.stop().map_err(|e| format!("stop: {e}"))?;
    if report.cancelled != 0 {
        return Err(format!("{} jobs cancelled at the stop", report.cancelled));
    }
    result
}

// ---------------------------------------------------------------------------------------
// Ping-pong between local actors.

/// [`Ponger`] as a `LocalActor`.
struct LocalPonger {
    pinger: Option<LocalAddress<LocalPinger>>,
}

enum LocalPongerMsg {
    Hello(LocalAddress<LocalPinger>),
    Ping(u64),
}

impl LocalActor for LocalPonger {
    type Message = LocalPongerMsg;

    #[inline]
    fn handle(&mut self, message: LocalPongerMsg, _ctx: &mut LocalContext<'_, Self>) {
        match message {
            LocalPongerMsg::Hello(pinger) => self.pinger = Some(pinger),
            LocalPongerMsg::Ping(k) => {
                let pinger = self.pinger.as_ref().expect("hello comes first");
                if pinger.send(LocalPingerMsg::Pong(k)).is_err() {
                    panic!("the pinger stopped");
                }
            }
        }
    }
}

/// [`Pinger`] as a `LocalActor`: the same fields, the same handler.
struct LocalPinger {
    ponger: LocalAddress<LocalPonger>,
    left: u64,
    rounds: u64,
    in_order: bool,
    collecting: bool,
    done: Option<LocalReply<(u64, bool)>>,
}

enum LocalPingerMsg {
    Run(u64, bool, LocalReply<(u64, bool)>),
    Pong(u64),
}

impl LocalActor for LocalPinger {
    type Message = LocalPingerMsg;

    #[inline]
    fn handle(&mut self, message: LocalPingerMsg, _ctx: &mut LocalContext<'_, Self>) {
        match message {
            LocalPingerMsg::Run(n, collect, done) => {
                self.left = n;
                self.done = Some(done);
                self.collecting = collect;
                if collect {
                    callgrind::toggle_collect();
                }
            }
            LocalPingerMsg::Pong(k) => {
                self.in_order &= k == self.rounds;
                self.rounds += 1;
            }
        }
        if self.left == 0 {
            if self.collecting {
                callgrind::toggle_collect();
                self.collecting = false;
            }
            if let Some(done) = self.done.take() {
                let _ = done.send((self.rounds, self.in_order));
            }
            return;
        }
        self.left -= 1;
        if self.ponger.send(LocalPongerMsg::Ping(self.rounds)).is_err() {
            panic!("the ponger stopped");
        }
    }
}

/// `n` round trips between two local actors, collected.
fn local(n: u64) -> Result<u64, String> {
    let pool = Arc::new(PoolResource::new());
    let system =
        LocalSystem::with_resource(MAX_THROUGHPUT, pool).map_err(|e| format!("system: {e}"))?;
    let ponger = system
        .spawn(LocalPonger { pinger: None })
        .map_err(|_| "no memory for an actor".to_owned())?;
    let pinger = system
        .spawn(LocalPinger {
            ponger: ponger.clone(),
            left: 0,
            rounds: 0,
            in_order: true,
            collecting: false,
            done: None,
        })
        .map_err(|_| "no memory for an actor".to_owned())?;
    ponger
        .send(LocalPongerMsg::Hello(pinger.clone()))
        .map_err(|e| format!("hello: {e}"))?;
    let mut answer = (0, true);
    for collect in [false, true] {
        let mut future = pinger
            .ask(|done| LocalPingerMsg::Run(n, collect, done))
            .map_err(|e| format!("asking the pinger: {e}"))?;
        // As `manual` does: run until idle, then take the answer (`LocalFuture::wait`
        // would return to its own loop after every actor's run).
        system
            .run_until_idle()
            .map_err(|e| format!("the run: {e}"))?;
        answer = match future.try_take() {
            Some(Ok(answer)) => answer,
            Some(Err(e)) => return Err(format!("the run: {e}")),
            None => return Err("the system went idle without the run's answer".to_owned()),
        };
    }
    pinger.stop().map_err(|e| format!("stop: {e}"))?;
    ponger.stop().map_err(|e| format!("stop: {e}"))?;
    system
        .run_until_idle()
        .map_err(|e| format!("the last run: {e}"))?;
    if pinger.is_alive() || ponger.is_alive() {
        return Err("an actor outlived its stop".to_owned());
    }
    match answer {
        (rounds, true) if rounds == 2 * n => Ok(2 * n),
        (rounds, in_order) => Err(format!(
            "{rounds} round trips (in order: {in_order}), expected {}",
            2 * n
        )),
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let n = match args.next().map(|text| text.parse::<u64>()) {
        None => DEFAULT_N,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("rmw-probe: n must be a whole number above 0");
            return ExitCode::from(2);
        }
    };
    let (per, result) = match mode.as_str() {
        "fetch-add" => ("iteration", fetch_add(n)),
        "rmw-mix" => ("iteration", rmw_mix(n)),
        "floor" => ("message", floor(n)),
        "manual" => ("message", manual(n)),
        "sharing" => ("message", sharing(n)),
        "local" => ("message", local(n)),
        #[cfg(feature = "observe")]
        "manual-noop" => (
            "message",
            manual_observed(n, Arc::new(zeta::observe::NoopObserver)),
        ),
        #[cfg(feature = "observe")]
        "manual-runs" => (
            "message",
            manual_observed(
                n,
                Arc::new(Counting(zeta::observe::Interests::RUNS, AtomicU64::new(0))),
            ),
        ),
        #[cfg(feature = "observe")]
        "manual-all" => (
            "message",
            manual_observed(
                n,
                Arc::new(Counting(zeta::observe::Interests::ALL, AtomicU64::new(0))),
            ),
        ),
        _ => {
            eprintln!(
                "usage: rmw-probe fetch-add|rmw-mix|floor|manual|sharing|local \
                 (with the observe feature: manual-noop|manual-runs|manual-all) [n]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(count) => {
            println!("{mode} {per} {count}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("rmw-probe {mode}: {error}");
            ExitCode::FAILURE
        }
    }
}
