//! A supervised pool of order gateways behind a round-robin `Balancer`: gateways panic on
//! 1 % of the orders (chosen by a seeded hash), and their supervisor restarts them in
//! place, so the balancer's addresses keep working and the orders queued behind a
//! failure are served by the new instance.
//!
//! Four client threads send 2,500 orders each, as requests, through the balancer. It
//! prints the restarts, and checks its own result (exit status 1 if anything is wrong):
//!
//! - exactly the orders handled when a gateway panicked failed (their request resolved
//!   with `HandlerPanicked`), and they are exactly the poisoned ones;
//! - every other order was served once, with the right fill;
//! - per sender, each gateway handled a client's orders in the order sent, across its
//!   restarts;
//! - one restart per failure, the gateways' addresses unchanged, and, once everything
//!   is stopped, every block back in the memory resource.
//!
//! Run: `cargo run --release --example supervision`

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zeta::arena::{CountingResource, PoolResource};
use zeta::scheduler::Scheduler;
use zeta::{
    Actor, ActorId, Balancer, Context, Intensity, Reply, RequestError, Restart, RestartStrategy,
    SharingScheduler, Strategy, Supervisor, System,
};

const GATEWAYS: usize = 4;
const CLIENTS: u64 = 4;
const ORDERS: u64 = 2_500;
const SEED: u64 = 0x5EED_F00D_0DE5;
const WAIT: Duration = Duration::from_secs(30);

/// Whether an order poisons the gateway that handles it: 1 % of them, reproducibly (the
/// first draw of a generator seeded with the client and the order).
fn poisoned(client: u64, seq: u64) -> bool {
    let key =
        SEED ^ client.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seq.wrapping_mul(0xD1B5_4A32_D192_ED03);
    fastrand::Rng::with_seed(key).u64(..100) == 0
}

/// The price an order is filled at.
fn fill(client: u64, seq: u64) -> u64 {
    client * 1_000_000 + seq * 3
}

struct Order {
    client: u64,
    seq: u64,
    reply: Reply<u64>,
}

/// What the gateways handled, shared by every instance: `(gateway, client, seq)` in
/// the order each gateway handled them.
type Log = Arc<Mutex<Vec<(ActorId, u64, u64)>>>;

struct Gateway {
    log: Log,
}

impl Actor for Gateway {
    type Message = Order;

    fn handle(&mut self, order: Order, ctx: &mut Context<'_, Self>) {
        self.log
            .lock()
            .unwrap()
            .push((ctx.id(), order.client, order.seq));
        if poisoned(order.client, order.seq) {
            panic!(
                "gateway {}: a poisoned order from client {}",
                ctx.id(),
                order.client
            );
        }
        let _ = order.reply.send(fill(order.client, order.seq));
    }
}

fn main() -> ExitCode {
    // The gateways' panics are the point of the example: keep them off stderr.
    std::panic::set_hook(Box::new(|info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or("");
        if !text.contains("a poisoned order") {
            eprintln!("{info}");
        }
    }));
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("supervision: FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = SharingScheduler::builder()
        .workers(2)
        .build()
        .map_err(|e| e.to_string())?;
    scheduler.start().map_err(|e| e.to_string())?;
    let system = System::new(Arc::new(scheduler), memory.clone());

    let intensity = Intensity {
        max_restarts: 1_000,
        within: Duration::from_secs(60),
    };
    let supervisor = system
        .spawn(Supervisor::new(RestartStrategy::OneForOne, intensity))
        .map_err(|_| "no memory for the supervisor")?;
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let mut gateways = Vec::new();
    for _ in 0..GATEWAYS {
        let log = log.clone();
        let gateway = Supervisor::start_child(&supervisor, Restart::Permanent, move || Gateway {
            log: log.clone(),
        })
        .map_err(|e| e.to_string())?
        .wait_timeout(WAIT)
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        gateways.push(gateway);
    }
    let ids: Vec<ActorId> = gateways.iter().map(|g| g.id()).collect();
    let balancer =
        Arc::new(Balancer::new(gateways.clone(), Strategy::RoundRobin).map_err(|e| e.to_string())?);

    // The clients: each sends its orders as requests, then waits for every answer.
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let balancer = balancer.clone();
            std::thread::spawn(move || -> Result<Vec<Result<u64, RequestError>>, String> {
                let mut futures = Vec::with_capacity(ORDERS as usize);
                for seq in 0..ORDERS {
                    let future = balancer
                        .ask(|reply| Order { client, seq, reply })
                        .map_err(|e| format!("client {client}, order {seq}: {e}"))?;
                    futures.push(future);
                }
                Ok(futures
                    .into_iter()
                    .map(|mut future| future.wait_timeout(WAIT))
                    .collect())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for client in clients {
        answers.push(client.join().map_err(|_| "a client thread panicked")??);
    }

    // 1 and 2: exactly the poisoned orders failed, every other was filled right.
    let mut poisoned_orders = 0;
    for (client, answers) in answers.iter().enumerate() {
        let client = client as u64;
        for (seq, answer) in answers.iter().enumerate() {
            let seq = seq as u64;
            match (poisoned(client, seq), answer) {
                (true, Err(RequestError::HandlerPanicked)) => poisoned_orders += 1,
                (false, Ok(price)) if *price == fill(client, seq) => {}
                (poison, answer) => {
                    return Err(format!(
                        "client {client}, order {seq} (poisoned: {poison}): {answer:?}"
                    ))
                }
            }
        }
    }
    // Each order handled exactly once; per (gateway, client), in the order sent.
    let log = log.lock().unwrap().clone();
    if log.len() as u64 != CLIENTS * ORDERS {
        return Err(format!(
            "{} orders handled, {} sent",
            log.len(),
            CLIENTS * ORDERS
        ));
    }
    let mut last: HashMap<(ActorId, u64), u64> = HashMap::new();
    let mut seen = vec![0u32; (CLIENTS * ORDERS) as usize];
    for &(gateway, client, seq) in &log {
        if !ids.contains(&gateway) {
            return Err(format!("an order handled by an unknown actor {gateway}"));
        }
        seen[(client * ORDERS + seq) as usize] += 1;
        if let Some(&previous) = last.get(&(gateway, client)) {
            if seq <= previous {
                return Err(format!(
                    "gateway {gateway}: client {client}'s order {seq} after {previous}"
                ));
            }
        }
        last.insert((gateway, client), seq);
    }
    if seen.iter().any(|&times| times != 1) {
        return Err("an order was handled twice, or never".into());
    }

    // 4: one restart per failure, the same addresses.
    let stats = Supervisor::stats(&supervisor)
        .map_err(|e| e.to_string())?
        .wait_timeout(WAIT)
        .map_err(|e| e.to_string())?;
    println!(
        "supervision: {} orders from {CLIENTS} clients through {GATEWAYS} gateways; \
         {poisoned_orders} poisoned orders failed, {} restarts in place, {} children",
        CLIENTS * ORDERS,
        stats.restarts,
        stats.children
    );
    if stats.restarts != poisoned_orders || stats.children != GATEWAYS {
        return Err(format!(
            "{} restarts for {poisoned_orders} failures, {} children",
            stats.restarts, stats.children
        ));
    }
    if gateways.iter().map(|g| g.id()).collect::<Vec<_>>() != ids
        || !gateways.iter().all(|g| g.is_alive())
    {
        return Err("a gateway's address changed or died".into());
    }

    // Memory back to zero once everything is stopped.
    let mut ended = supervisor.stopped().map_err(|e| e.to_string())?;
    supervisor.stop().map_err(|e| e.to_string())?;
    ended.wait_timeout(WAIT).map_err(|e| e.to_string())?;
    let mut gateways_ended = Vec::new();
    for gateway in &gateways {
        gateways_ended.push(gateway.stopped().map_err(|e| e.to_string())?);
    }
    for mut gateway_ended in gateways_ended {
        gateway_ended
            .wait_timeout(WAIT)
            .map_err(|e| e.to_string())?;
    }
    drop((ended, balancer, gateways, supervisor));
    drop(answers);
    system.stop().map_err(|e| e.to_string())?;
    drop(system);
    if memory.live_blocks() != 0 {
        return Err(format!(
            "{} blocks still live at the end",
            memory.live_blocks()
        ));
    }
    println!("supervision: all checks passed; every block back in the pool");
    Ok(())
}
