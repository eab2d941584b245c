//! A remote node as this node sees it: whether it is alive (its liveliness token), the
//! bounded outbound buffer of what waits to be sent to it, and the sender thread that
//! drains the buffer into zenoh.
//!
//! # The outbound buffer
//!
//! A send encodes the message on the caller's thread and offers the bytes to the
//! buffer (`try_send` on a bounded crossbeam channel: no lock, no wait). A full buffer
//! refuses, and the caller gets its message back ([`Undelivered::Full`]). So a handler
//! never blocks on the network: only the sender thread does, in zenoh's `put` with
//! blocking congestion control when the link to the node is full. One thread per
//! remote node keeps one slow node from holding up the others.
//!
//! Order: the buffer is FIFO and one thread drains it, so a sender's messages to one
//! node leave in the order sent; zenoh keeps that order per priority.
//!
//! # Loss
//!
//! When the node's token goes (its session closed, its process ended, or the link was
//! down longer than the lease), the peer is *lost*, for good: its stand-ins end with
//! [`StopReason::NodeLost`], later sends are refused with
//! [`Undelivered::NodeLost`], and what was looked up on it is forgotten, so that a
//! lookup after the node comes back starts anew.
//!
//! No lock-free protocol of the crate's own is involved: the buffer is crossbeam's
//! bounded channel, and the loss is a flag read without a lock only as a hint (a send
//! that reads it late is refused a moment later, or its message is lost with the link,
//! which at-most-once allows). What must be exact is that every stand-in is told of the
//! loss once: `lose` sets the flag and then drains the stand-ins under their lock, and
//! `adopt` reads the flag under the same lock, so a stand-in adopted concurrently is
//! either drained by `lose` or sees the flag and is told by `adopt` itself.
//!
//! [`Undelivered::Full`]: crate::Undelivered::Full
//! [`Undelivered::NodeLost`]: crate::Undelivered::NodeLost

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::sample::SampleKind;
use zenoh::{Session, Wait};
use zeta::{Address, StopReason};

use crate::keys;
use crate::node::{Shared, lock};
use crate::standin::StandIn;

/// What waits in a peer's outbound buffer.
pub(crate) enum Frame {
    /// A tell: its bytes, for the target's publisher of its priority.
    Tell {
        publishers: Arc<Publishers>,
        high: bool,
        bytes: Vec<u8>,
    },
    /// An ask: the query to make.
    Ask(Box<dyn FnOnce(&Session) + Send>),
    /// The node is closing: stop.
    Stop,
}

/// A remote actor's two publishers, one per zeta priority.
pub(crate) struct Publishers {
    pub(crate) normal: Publisher<'static>,
    pub(crate) high: Publisher<'static>,
}

/// A remote node.
pub(crate) struct Peer {
    /// Its name.
    pub(crate) node: String,
    lost: AtomicBool,
    outbound: Sender<Frame>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The stand-ins of its actors, to end when it is lost.
    standins: Mutex<Vec<Address<StandIn>>>,
    liveliness: Mutex<Option<Subscriber<()>>>,
}

impl Peer {
    /// Starts talking to `node`: its sender thread, and a watch on its token.
    pub(crate) fn open(shared: &Arc<Shared>, node: &str) -> Result<Arc<Peer>, String> {
        let (outbound, frames) = crossbeam_channel::bounded(shared.config.outbound_capacity);
        let peer = Arc::new(Peer {
            node: node.to_owned(),
            lost: AtomicBool::new(false),
            outbound,
            thread: Mutex::new(None),
            standins: Mutex::new(Vec::new()),
            liveliness: Mutex::new(None),
        });
        let session = shared.session.clone();
        let thread = std::thread::Builder::new()
            .name(format!("zeta-remote-out-{node}"))
            .spawn(move || send_loop(&session, &frames))
            .map_err(|error| error.to_string())?;
        *lock(&peer.thread) = Some(thread);
        let watch = {
            let peer: Weak<Peer> = Arc::downgrade(&peer);
            let shared: Weak<Shared> = Arc::downgrade(shared);
            let node = node.to_owned();
            shared
                .upgrade()
                .expect("the caller holds the node")
                .session
                .liveliness()
                .declare_subscriber(keys::node(&node))
                .history(true)
                .callback(move |sample| {
                    if sample.kind() != SampleKind::Delete {
                        return;
                    }
                    if let Some(peer) = peer.upgrade() {
                        peer.lose();
                    }
                    if let Some(shared) = shared.upgrade() {
                        shared.forget(&node);
                    }
                })
                .wait()
                .map_err(|error| error.to_string())?
        };
        *lock(&peer.liveliness) = Some(watch);
        Ok(peer)
    }

    /// Whether the node was lost.
    pub(crate) fn is_lost(&self) -> bool {
        // Acquire, with the AcqRel swap in `lose`: a reader that sees the loss sees
        // what the loser wrote before it. Nothing depends on more than the flag (a
        // hint, module doc); what must be exact, the stand-ins told once, rests on
        // `standins`' lock, whose release and acquire order the swap in `lose` before
        // `adopt`'s read whenever `lose` locks first.
        self.lost.load(Ordering::Acquire)
    }

    /// The node was lost: once, end its stand-ins.
    pub(crate) fn lose(&self) {
        if self.lost.swap(true, Ordering::AcqRel) {
            return;
        }
        for standin in lock(&self.standins).drain(..) {
            // Refused only by a stand-in that has ended already.
            let _ = standin.send_high(StopReason::NodeLost);
        }
    }

    /// Keeps `standin`, to end it if the node is lost; ends it now if it is.
    pub(crate) fn adopt(&self, standin: Address<StandIn>) {
        let mut standins = lock(&self.standins);
        if self.is_lost() {
            let _ = standin.send_high(StopReason::NodeLost);
        } else {
            standins.retain(Address::is_alive);
            standins.push(standin);
        }
    }

    /// Offers `frame` to the outbound buffer.
    pub(crate) fn offer(&self, frame: Frame) -> Result<(), TrySendError<Frame>> {
        self.outbound.try_send(frame)
    }

    /// Stops the sender thread (after what is queued) and the watch.
    pub(crate) fn close(&self) {
        drop(lock(&self.liveliness).take());
        // Blocks only while the buffer is full, which the sender thread is draining
        // (into a closed session, fast).
        let _ = self.outbound.send(Frame::Stop);
    }

    /// The sender thread, to join after [`close`](Peer::close).
    pub(crate) fn take_thread(&self) -> Option<JoinHandle<()>> {
        lock(&self.thread).take()
    }
}

/// The sender thread: one frame at a time, in order.
fn send_loop(session: &Session, frames: &Receiver<Frame>) {
    while let Ok(frame) = frames.recv() {
        match frame {
            Frame::Tell {
                publishers,
                high,
                bytes,
            } => {
                let publisher = if high {
                    &publishers.high
                } else {
                    &publishers.normal
                };
                // An error: the session is closing; the message is lost with the
                // node's link (at-most-once).
                let _ = publisher.put(bytes).wait();
            }
            Frame::Ask(query) => query(session),
            Frame::Stop => break,
        }
    }
}
