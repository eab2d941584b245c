//! The stand-in: a local actor that stands for a remote one, so that local watchers
//! monitor (and link to) it as they would a local actor.
//!
//! It does nothing but end: the node sends it the remote actor's end (its reason, from
//! the `down` publication or the lookup's answer) or [`StopReason::NodeLost`] when the
//! remote node goes, and it exits with that reason ([`Context::exit`]). Its
//! [`ActorId`](zeta::ActorId) is the remote actor's identity on this node: the `id` of
//! the `Down` its watchers get.

use zeta::{Actor, Context, StopReason};

/// Stands for a remote actor: ends as it ended.
pub(crate) struct StandIn;

impl Actor for StandIn {
    type Message = StopReason;

    /// A local actor linked to the remote one ([`RemoteAddress::link`]) must not take
    /// the stand-in down when it fails: the remote actor lives on. Trapped, its end is
    /// a `Down` the stand-in ignores.
    ///
    /// [`RemoteAddress::link`]: crate::RemoteAddress::link
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.trap_exits(true);
    }

    fn handle(&mut self, ended: StopReason, ctx: &mut Context<'_, Self>) {
        ctx.exit(ended);
    }
}
