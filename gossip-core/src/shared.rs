//! What a protocol layer is lent of its node for one call: the settings, the random
//! generator, the outbox and the counters. A layer owns its own state and borrows only
//! this (and, read-only, what it must know of other layers), never the whole node.

use crate::config::Config;
use crate::identity::NodeId;
use crate::members::Members;
use crate::outbox::{Outbox, Queue, retransmit_limit};
use crate::stats::Stats;
use crate::wire::Message;

pub(crate) struct Shared<'a, R> {
    pub(crate) config: &'a Config,
    pub(crate) rng: &'a mut R,
    pub(crate) outbox: &'a mut Outbox,
    pub(crate) stats: &'a mut Stats,
}

impl<R> Shared<'_, R> {
    /// Queues news on `queue` (see [`Outbox::push_news`]), counting a piece the full queue
    /// dropped.
    pub(crate) fn enqueue(&mut self, queue: Queue, subject: NodeId, message: &Message<'_>, sent: u32, extra: u32) {
        if self.outbox.push_news(queue, subject, message, sent, extra) {
            self.stats.gossip_dropped += 1;
        }
    }

    /// Like [`Shared::enqueue`], with the message already encoded.
    pub(crate) fn enqueue_encoded(&mut self, queue: Queue, subject: NodeId, message: &[u8]) {
        if self.outbox.push_encoded(queue, subject, message) {
            self.stats.gossip_dropped += 1;
        }
    }
}

/// How many times each piece of news is sent at the cluster's current size (see
/// [`retransmit_limit`]).
pub(crate) fn retransmit_budget(config: &Config, members: &Members) -> u32 {
    retransmit_limit(config.retransmit_mult, members.live() + 1)
}
