//! The exporting side: an actor's tells, asks and lookups, taken from zenoh and given
//! to the actor through its address.
//!
//! - **Tells** (subscriber on `zeta/<node>/<actor>/tell`): decoded and sent to the
//!   actor at the priority they were sent with. A bounded mailbox that is full is
//!   waited on (`send_blocking`), on zenoh's receiving thread: that is the pause that
//!   pushes back on the senders (`node.rs`, "Threads"). A tell for an actor that has
//!   ended, or that does not decode, is counted ([`NodeStats`](crate::NodeStats)).
//! - **Asks** (queryable on `zeta/<node>/<actor>/ask`): decoded and asked of the actor
//!   with [`Address::ask_with`]. The query is kept until the local future resolves: its
//!   waker hands it to the control thread, which sends the answer (so neither zenoh's
//!   thread nor the actor's worker waits for the other). Every query gets exactly one
//!   answer: the value, or a [`Failure`].
//! - **Lookups** (queryable on `zeta/<node>/<actor>/info`): the protocol's name and
//!   version, and the actor's end if it has ended.

use core::pin::Pin;
use core::task::{Context as TaskContext, Poll, Waker};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::Wake;

use crossbeam_channel::Sender;
use serde::Serialize;
use zenoh::Wait;
use zenoh::pubsub::Subscriber;
use zenoh::query::{Query, Queryable};
use zeta::{Actor, ActorId, Address, Priority, RequestError, Undelivered, WaitStrategy};

use crate::error::{NodeError, engine};
use crate::keys;
use crate::node::{Control, Shared, Stats, lock};
use crate::protocol::{Protocol, Serve, Wire};
use crate::wire::{self, Answer, Failure, Info, WireReason};

/// An exported actor: what its declarations share.
pub(crate) struct Exported {
    pub(crate) name: String,
    pub(crate) id: ActorId,
    _tells: Subscriber<()>,
    _asks: Queryable<()>,
    _info: Queryable<()>,
}

/// Declares `address`'s tell subscriber and ask and info queryables under `name`.
pub(crate) fn export<P: Protocol, A: Serve<P>>(
    shared: &Arc<Shared>,
    name: &str,
    address: &Address<A>,
) -> Result<Arc<Exported>, NodeError> {
    let session = &shared.session;
    let stats = shared.stats.clone();
    let declared = |error: zenoh::Error| NodeError::Engine(engine(error));

    let tells = {
        let address = address.clone();
        let stats = stats.clone();
        session
            .declare_subscriber(keys::actor(&shared.name, name, "tell"))
            .callback(move |sample| {
                match wire::decode_message::<P::Tell>(&sample.payload().to_bytes()) {
                    Ok((priority, message)) => {
                        deliver(&stats, &address, priority, A::tell(message))
                    }
                    Err(_) => {
                        stats.undecodable.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .wait()
            .map_err(declared)?
    };

    let asks = {
        let address = address.clone();
        let control = shared.control.clone();
        session
            .declare_queryable(keys::actor(&shared.name, name, "ask"))
            .callback(move |query| {
                let bytes = query
                    .payload()
                    .map(|payload| payload.to_bytes().into_owned())
                    .unwrap_or_default();
                let (priority, request) = match wire::decode_message::<P::Ask>(&bytes) {
                    Ok(decoded) => decoded,
                    Err(error) => {
                        let failure = Failure::Undecodable(error.to_string());
                        return answer::<P::Answer>(&stats, &query, Answer::Err(failure));
                    }
                };
                match address.ask_with(priority, |reply| A::ask(request, reply)) {
                    Ok(future) => {
                        let address = address.clone();
                        let ended = Box::new(move || end_of(&address));
                        Pending::start(future, query, ended, control.clone(), stats.clone());
                    }
                    Err(error) => {
                        let failure = match error.reason() {
                            Undelivered::Full => Failure::Full,
                            _ => match end_of(&address) {
                                Some(reason) => Failure::Ended(reason),
                                None => Failure::NoReply,
                            },
                        };
                        answer::<P::Answer>(&stats, &query, Answer::Err(failure));
                    }
                }
            })
            .wait()
            .map_err(declared)?
    };

    let info = {
        let address = address.clone();
        session
            .declare_queryable(keys::actor(&shared.name, name, "info"))
            .callback(move |query| {
                let info = Info {
                    protocol: P::NAME.to_owned(),
                    version: P::VERSION,
                    ended: end_of(&address),
                };
                if let Ok(bytes) = wire::encode(None, &info) {
                    let _ = query.reply(query.key_expr().clone(), bytes).wait();
                }
            })
            .wait()
            .map_err(declared)?
    };

    Ok(Arc::new(Exported {
        name: name.to_owned(),
        id: address.id(),
        _tells: tells,
        _asks: asks,
        _info: info,
    }))
}

/// Gives a tell to the actor: now, or once its bounded mailbox has room.
fn deliver<A: Actor>(stats: &Stats, address: &Address<A>, priority: Priority, message: A::Message) {
    let counter = if send_or_wait(address, priority, message) {
        &stats.delivered
    } else {
        &stats.refused
    };
    // Relaxed: counters, read after the deliveries they count were waited for.
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Sends `message` to a local actor from one of the node's threads: now, or, when its
/// bounded mailbox is full, once it has room (at normal priority, as `send_blocking`
/// sends). The wait is the receiver's pause (module doc). `false`: the actor has ended.
pub(crate) fn send_or_wait<A: Actor>(
    address: &Address<A>,
    priority: Priority,
    message: A::Message,
) -> bool {
    match address.send_with(priority, message) {
        Ok(()) => true,
        Err(error) if error.reason() == Undelivered::Full => address
            .send_blocking(error.into_message(), WaitStrategy::default())
            .is_ok(),
        Err(_) => false,
    }
}

/// How the actor ended, if it has.
fn end_of<A: Actor>(address: &Address<A>) -> Option<WireReason> {
    if address.is_alive() {
        return None;
    }
    // An ended actor's `stopped` future resolves at once, with the reason.
    let reason = address.stopped().ok()?.try_take()?.ok()?;
    Some(WireReason::of(&reason))
}

/// Sends `answer` to `query`.
fn answer<T: Serialize>(stats: &Stats, query: &Query, answer: Answer<T>) {
    stats.answered.fetch_add(1, Ordering::Relaxed);
    if let Ok(bytes) = wire::encode(None, &answer) {
        // An error: the asker's link is gone; its query ends without an answer there.
        let _ = query.reply(query.key_expr().clone(), bytes).wait();
    }
}

/// A query waiting for its local answer.
pub(crate) trait Answering: Send + Sync {
    /// Polls the local answer; sends it if it is ready.
    fn answer(self: Arc<Self>);
}

/// Whether the actor has ended, and how.
type Ended = Box<dyn Fn() -> Option<WireReason> + Send + Sync>;

struct Pending<T> {
    state: Mutex<Option<(zeta::Future<T>, Query)>>,
    /// A request dropped unanswered by an actor that has since ended is answered with
    /// the end.
    ended: Ended,
    control: Sender<Control>,
    stats: Arc<Stats>,
}

impl<T: Wire> Pending<T> {
    fn start(
        future: zeta::Future<T>,
        query: Query,
        ended: Ended,
        control: Sender<Control>,
        stats: Arc<Stats>,
    ) {
        let pending = Arc::new(Pending {
            state: Mutex::new(Some((future, query))),
            ended,
            control,
            stats,
        });
        pending.answer();
    }
}

impl<T: Wire> Answering for Pending<T> {
    fn answer(self: Arc<Self>) {
        // Held while polling: a wake that comes meanwhile queues this for the control
        // thread, which then waits here and finds the answer ready.
        let mut state = lock(&self.state);
        let Some((mut future, query)) = state.take() else {
            return;
        };
        let waker = Waker::from(self.clone());
        match Pin::new(&mut future).poll(&mut TaskContext::from_waker(&waker)) {
            Poll::Pending => *state = Some((future, query)),
            Poll::Ready(result) => {
                drop(state);
                let reply = match result {
                    Ok(value) => Answer::Ok(value),
                    Err(RequestError::HandlerPanicked) => Answer::Err(Failure::HandlerPanicked),
                    Err(_) => Answer::Err(match (self.ended)() {
                        Some(reason) => Failure::Ended(reason),
                        None => Failure::NoReply,
                    }),
                };
                answer(&self.stats, &query, reply);
            }
        }
    }
}

impl<T: Wire> Wake for Pending<T> {
    fn wake(self: Arc<Self>) {
        // Refused only once the node has closed: the query goes with it.
        let answering: Arc<dyn Answering> = self.clone();
        let _ = self.control.send(Control::Answer(answering));
    }
}
