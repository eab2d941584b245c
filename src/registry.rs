//! [`Registry`]: names for actors, one registry per [`System`](crate::System), with the
//! actor's type checked at lookup.
//!
//! # Protocol
//!
//! A map from name to entry behind a read-mostly lock (`parking_lot::RwLock`): lookups
//! take the read side (many at once, no writer waiting on them for long), registration
//! and removal the write side. Neither is on a message's path: an actor looked up once
//! is then reached through its [`Address`], lock-free.
//!
//! An entry holds the actor's job (a strong reference, as an address: a registered
//! actor is not ended by the drop of its last other address, as an Erlang registered
//! process is not), its [`ActorId`], and its type (`TypeId` and name), checked at
//! lookup: a lookup for the wrong type is an `Err`, never a transmute and never a
//! panic.
//!
//! **Removed when the actor ends.** An actor's end takes no lock, so it does not touch
//! the registry: an entry whose actor has ended is treated as absent by every
//! operation (a lookup finds nothing, a registration takes the name), and removed by
//! the first write that meets it. So that ended actors do not pile up unnamed, a
//! registration that finds the map at least twice as large as after the last sweep
//! (and [`SWEEP_AT`] entries at least) removes every ended one: the map holds at most
//! about twice the live names.

use core::any::TypeId;
use core::fmt;
use std::collections::HashMap;

use parking_lot::RwLock;
use zeta_scheduler::JobRef;

use crate::actor::Actor;
use crate::address::Address;
use crate::cell::Cell;
use crate::identity::ActorId;

/// Entries below which no sweep runs.
const SWEEP_AT: usize = 64;

struct Entry {
    job: JobRef,
    id: ActorId,
    type_id: TypeId,
    type_name: &'static str,
    /// Whether the actor has not ended (its type's `Address::is_alive`).
    alive: fn(&JobRef) -> bool,
}

impl Entry {
    fn is_alive(&self) -> bool {
        (self.alive)(&self.job)
    }
}

fn alive<A: Actor>(job: &JobRef) -> bool {
    // SAFETY: the entry was made from an `Address<A>` (`register`), whose job is a
    // `Cell<A>`'s, kept alive by the entry's reference.
    unsafe { Cell::<A>::from_job(job) }.is_alive()
}

struct Names {
    map: HashMap<Box<str>, Entry>,
    /// Entries after the last sweep.
    after_sweep: usize,
}

/// Names for actors (per [`System`](crate::System): [`System::registry`](crate::System::registry)).
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Context, LookupError, System};
///
/// struct Clock;
/// impl Actor for Clock {
///     type Message = ();
///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
/// }
/// struct Other;
/// impl Actor for Other {
///     type Message = ();
///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
/// }
///
/// let system = System::manual(64).unwrap();
/// let clock = system.spawn(Clock).unwrap();
/// system.registry().register("clock", &clock).unwrap();
/// assert!(system.registry().register("clock", &clock).is_err()); // taken
/// assert_eq!(system.registry().lookup::<Clock>("clock").unwrap(), clock);
/// assert!(matches!(system.registry().lookup::<Other>("clock"), Err(LookupError::WrongType { .. })));
/// clock.stop().unwrap();
/// system.scheduler().run_until_idle().unwrap();
/// assert_eq!(system.registry().lookup::<Clock>("clock"), Err(LookupError::NotFound));
/// ```
pub struct Registry {
    names: RwLock<Names>,
}

/// Why a name could not be registered.
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Context, RegisterError, System};
///
/// struct Nop;
/// impl Actor for Nop {
///     type Message = ();
///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
/// }
///
/// let system = System::manual(64).unwrap();
/// let registry = system.registry();
/// let first = system.spawn(Nop).unwrap();
/// let second = system.spawn(Nop).unwrap();
/// registry.register("main", &first).unwrap();
/// assert_eq!(registry.register("main", &second), Err(RegisterError::Taken(first.id())));
/// first.stop().unwrap();
/// system.scheduler().run_until_idle().unwrap();
/// assert_eq!(registry.register("spare", &first), Err(RegisterError::Ended));
/// registry.register("main", &second).unwrap(); // free again: its actor has ended
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RegisterError {
    /// Another live actor has the name.
    Taken(ActorId),
    /// The actor has ended.
    Ended,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Taken(id) => write!(f, "the name is taken by actor {id}"),
            RegisterError::Ended => f.write_str("the actor has ended"),
        }
    }
}

impl std::error::Error for RegisterError {}

/// Why a lookup found no address.
///
/// # Examples
///
/// ```
/// use zeta::{Actor, Context, LookupError, System};
///
/// struct Clock;
/// impl Actor for Clock {
///     type Message = ();
///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
/// }
/// struct Alarm;
/// impl Actor for Alarm {
///     type Message = ();
///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
/// }
///
/// let system = System::manual(64).unwrap();
/// let clock = system.spawn(Clock).unwrap();
/// system.registry().register("clock", &clock).unwrap();
/// match system.registry().lookup::<Alarm>("clock") {
///     Err(LookupError::WrongType { registered }) => assert!(registered.ends_with("Clock")),
///     other => panic!("{other:?}"),
/// }
/// let missing = system.registry().lookup::<Clock>("alarm");
/// assert_eq!(missing, Err(LookupError::NotFound));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LookupError {
    /// No live actor has the name.
    NotFound,
    /// The actor with the name is of another type.
    WrongType {
        /// The registered actor's type.
        registered: &'static str,
    },
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::NotFound => f.write_str("no live actor has the name"),
            LookupError::WrongType { registered } => {
                write!(f, "the actor with the name is a {registered}")
            }
        }
    }
}

impl std::error::Error for LookupError {}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self {
            names: RwLock::new(Names {
                map: HashMap::new(),
                after_sweep: 0,
            }),
        }
    }

    /// Gives `address`'s actor the name `name`, until it ends or
    /// [`unregister`](Registry::unregister).
    ///
    /// # Errors
    ///
    /// [`RegisterError::Taken`] if a live actor has the name (the same actor included);
    /// [`RegisterError::Ended`] if this one has ended.
    pub fn register<A: Actor>(
        &self,
        name: &str,
        address: &Address<A>,
    ) -> Result<(), RegisterError> {
        if !address.is_alive() {
            return Err(RegisterError::Ended);
        }
        let mut names = self.names.write();
        if let Some(entry) = names.map.get(name) {
            if entry.is_alive() {
                return Err(RegisterError::Taken(entry.id));
            }
        }
        let entry = Entry {
            job: address.job().clone(),
            id: address.id(),
            type_id: TypeId::of::<A>(),
            type_name: core::any::type_name::<A>(),
            alive: alive::<A>,
        };
        // Replaces an ended actor's entry, if there was one.
        names.map.insert(name.into(), entry);
        let len = names.map.len();
        if len >= SWEEP_AT && len >= 2 * names.after_sweep {
            names.map.retain(|_, entry| entry.is_alive());
            names.after_sweep = names.map.len();
        }
        Ok(())
    }

    /// The address of the live actor named `name`, of type `A`.
    ///
    /// # Errors
    ///
    /// [`LookupError::NotFound`] if no live actor has the name;
    /// [`LookupError::WrongType`] if it is not an `A`.
    pub fn lookup<A: Actor>(&self, name: &str) -> Result<Address<A>, LookupError> {
        let names = self.names.read();
        let entry = names.map.get(name).ok_or(LookupError::NotFound)?;
        if !entry.is_alive() {
            return Err(LookupError::NotFound);
        }
        if entry.type_id != TypeId::of::<A>() {
            return Err(LookupError::WrongType {
                registered: entry.type_name,
            });
        }
        // SAFETY: the entry was made from an `Address<A>` (same `TypeId`).
        Ok(unsafe { Address::from_job(entry.job.clone()) })
    }

    /// The id of the live actor named `name`, whatever its type.
    pub fn id_of(&self, name: &str) -> Option<ActorId> {
        let names = self.names.read();
        names
            .map
            .get(name)
            .filter(|entry| entry.is_alive())
            .map(|entry| entry.id)
    }

    /// Removes the name; returns whether a live actor had it.
    ///
    /// # Examples
    ///
    /// ```
    /// use zeta::{Actor, Context, System};
    ///
    /// struct Nop;
    /// impl Actor for Nop {
    ///     type Message = ();
    ///     fn handle(&mut self, _: (), _ctx: &mut Context<'_, Self>) {}
    /// }
    ///
    /// let system = System::manual(64).unwrap();
    /// let registry = system.registry();
    /// let (a, b) = (system.spawn(Nop).unwrap(), system.spawn(Nop).unwrap());
    /// registry.register("a", &a).unwrap();
    /// registry.register("b", &b).unwrap();
    /// let mut names = registry.names();
    /// names.sort();
    /// assert_eq!(names, ["a", "b"]);
    /// assert!(registry.unregister("a"));
    /// assert_eq!(registry.id_of("a"), None);
    /// assert_eq!(registry.id_of("b"), Some(b.id()));
    /// assert!(a.is_alive()); // only the name is gone
    /// ```
    pub fn unregister(&self, name: &str) -> bool {
        let removed = self.names.write().map.remove(name);
        // Dropped outside the lock: the last reference may end the actor here.
        removed.is_some_and(|entry| entry.is_alive())
    }

    /// The names of live actors, in no order.
    pub fn names(&self) -> Vec<String> {
        let names = self.names.read();
        names
            .map
            .iter()
            .filter(|(_, entry)| entry.is_alive())
            .map(|(name, _)| name.to_string())
            .collect()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("entries", &self.names.read().map.len())
            .finish()
    }
}
