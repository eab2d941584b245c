//! The registry: names per system, the type checked at lookup, entries gone when the
//! actor ends; concurrent registration, lookup and death from several threads.
#![cfg(not(zeta_loom))]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zeta::arena::{CountingResource, PoolResource};
use zeta::scheduler::Scheduler;
use zeta::{
    Actor, Context, LookupError, ManualScheduler, RegisterError, Reply, SharingScheduler,
    StopReason, System,
};

struct Named(u64);

impl Actor for Named {
    type Message = Reply<u64>;

    fn handle(&mut self, reply: Reply<u64>, _ctx: &mut Context<'_, Self>) {
        let _ = reply.send(self.0);
    }
}

struct Other;

impl Actor for Other {
    type Message = ();

    fn handle(&mut self, (): (), _ctx: &mut Context<'_, Self>) {}
}

#[test]
fn names_types_and_ends() {
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let system = System::new(Arc::new(ManualScheduler::new(64).unwrap()), memory.clone());
    let registry = system.registry().clone();
    let first = system.spawn(Named(1)).unwrap();
    let other = system.spawn(Other).unwrap();
    registry.register("a", &first).unwrap();
    registry.register("b", &other).unwrap();
    assert_eq!(
        registry.register("a", &other),
        Err(RegisterError::Taken(first.id()))
    );
    assert_eq!(registry.lookup::<Named>("a").unwrap(), first);
    assert_eq!(registry.id_of("b"), Some(other.id()));
    assert!(matches!(
        registry.lookup::<Named>("b"),
        Err(LookupError::WrongType { registered }) if registered.ends_with("Other")
    ));
    assert_eq!(registry.lookup::<Named>("c"), Err(LookupError::NotFound));

    // A registered actor outlives its other addresses, as a registered process does.
    let mut first_ended = first.stopped().unwrap();
    drop(first);
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(first_ended.try_take(), None);
    let found = registry.lookup::<Named>("a").unwrap();
    let mut answer = found.ask(|reply| reply).unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(answer.try_take(), Some(Ok(1)));

    // Ended: the name is free, and taken by the next.
    found.stop().unwrap();
    system.scheduler().run_until_idle().unwrap();
    assert_eq!(first_ended.try_take(), Some(Ok(StopReason::Stopped)));
    assert_eq!(registry.lookup::<Named>("a"), Err(LookupError::NotFound));
    assert_eq!(registry.register("a", &found), Err(RegisterError::Ended));
    let second = system.spawn(Named(2)).unwrap();
    registry.register("a", &second).unwrap();
    assert_eq!(registry.lookup::<Named>("a").unwrap(), second);
    assert!(registry.unregister("a"));
    assert!(!registry.unregister("a"));
    let mut names = registry.names();
    names.sort();
    assert_eq!(names, ["b"]);

    drop((found, second, other, answer, first_ended));
    drop(system);
    drop(registry);
    assert_eq!(memory.live_blocks(), 0, "every block back");
}

/// Four threads register, look up and end actors under a few shared names at once: a
/// lookup finds a live actor of the right type or nothing, never another type's and
/// never one that has ended for good before the lookup began; a registration succeeds
/// only when no live actor holds the name.
#[test]
fn concurrent_register_lookup_and_death() {
    const THREADS: u64 = 4;
    const ROUNDS: u64 = 500;
    let memory = Arc::new(CountingResource::new(PoolResource::new()));
    let scheduler = SharingScheduler::builder().workers(2).build().unwrap();
    scheduler.start().unwrap();
    let system = Arc::new(System::new(Arc::new(scheduler), memory.clone()));
    let found = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (system, found) = (system.clone(), found.clone());
            std::thread::spawn(move || {
                let registry = system.registry().clone();
                for round in 0..ROUNDS {
                    let name = ["x", "y", "z"][(round % 3) as usize];
                    let me = system.spawn(Named(thread)).unwrap();
                    match registry.register(name, &me) {
                        Ok(()) => {}
                        Err(RegisterError::Taken(_)) => {}
                        Err(error) => panic!("{error}"),
                    }
                    match registry.lookup::<Named>(name) {
                        Ok(actor) => {
                            // Alive when looked up; it answers unless it has stopped
                            // since.
                            let answer = actor.ask(|reply| reply);
                            if let Ok(mut answer) = answer {
                                if let Ok(value) = answer.wait_timeout(Duration::from_secs(10)) {
                                    assert!(value < THREADS);
                                    found.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        Err(LookupError::NotFound) => {}
                        Err(error) => panic!("{error}"),
                    }
                    assert!(
                        registry.lookup::<Other>(name).is_err(),
                        "never another type"
                    );
                    if round % 2 == 0 {
                        let _ = me.stop();
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(found.load(Ordering::Relaxed) > 0);
    for name in ["x", "y", "z"] {
        if let Ok(actor) = system.registry().lookup::<Named>(name) {
            let _ = actor.stop();
        }
        system.registry().unregister(name);
    }
    drop(system);
    assert_eq!(memory.live_blocks(), 0, "every block back");
}
