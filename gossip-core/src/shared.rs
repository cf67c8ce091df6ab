//! What a protocol layer is lent of its node for one call: the time, the settings, the
//! random generator, the outbox and the counters. A layer owns its own state and borrows
//! only this (and, read-only, what it must know of other layers), never the whole node.

use crate::config::Config;
use crate::identity::NodeId;
use crate::outbox::{Outbox, Queue, retransmit_limit};
use crate::stats::Stats;
use crate::time::Time;
use crate::wire::Message;
use core::net::SocketAddr;

pub(crate) struct Shared<'a, R> {
    /// The node's clock: the time of the input or command being handled.
    pub(crate) now: Time,
    /// Whether the node may be in a mass join (see
    /// [`Syncing::in_join_storm`](crate::sync::Syncing::in_join_storm)): members new to it
    /// are then relayed sparingly.
    pub(crate) join_storm: bool,
    pub(crate) config: &'a Config,
    pub(crate) rng: &'a mut R,
    pub(crate) outbox: &'a mut Outbox,
    pub(crate) stats: &'a mut Stats,
}

impl<R> Shared<'_, R> {
    /// How many times each piece of news is sent when `live` other members are live (see
    /// [`retransmit_limit`]).
    pub(crate) fn retransmit_budget(&self, live: usize) -> u32 {
        retransmit_limit(self.config.retransmit_mult, live + 1)
    }

    /// Queues one datagram to `dest`: the header, `primary` messages, then as much queued
    /// news as fits the MTU, news sent `limit` times retired (see
    /// [`Outbox::finish_datagram`]). With no primary message and no news, nothing is sent.
    pub(crate) fn send(&mut self, dest: SocketAddr, primary: &[Message<'_>], limit: u32) {
        let datagram = self.outbox.start_datagram();
        for m in primary {
            m.encode(datagram);
        }
        self.finish_datagram(dest, !primary.is_empty(), limit);
    }

    /// Like [`Shared::send`], with one primary message already encoded.
    pub(crate) fn send_encoded(&mut self, dest: SocketAddr, primary: &[u8], limit: u32) {
        self.outbox.start_datagram().extend_from_slice(primary);
        self.finish_datagram(dest, true, limit);
    }

    fn finish_datagram(&mut self, dest: SocketAddr, primary: bool, limit: u32) {
        let kv_rate = self.config.kv_bytes_per_sec;
        let kv_spent = self.outbox.finish_datagram(dest, primary, limit, self.now, kv_rate);
        self.stats.kv_gossip_bytes += kv_spent as u64;
    }

    /// How many key/value bytes the budget lets this node send now (see
    /// [`Config::kv_bytes_per_sec`]).
    pub(crate) fn kv_room(&self) -> usize {
        self.outbox.kv_room(self.now, self.config.kv_bytes_per_sec)
    }

    /// Records `bytes` of key/value traffic sent now against the budget.
    pub(crate) fn kv_spend(&mut self, bytes: usize) {
        self.outbox.kv_spend(self.now, self.config.kv_bytes_per_sec, bytes);
    }

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
