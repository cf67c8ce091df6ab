//! Application messages: broadcasts for every member, piggybacked like membership news
//! (each member delivers one once and relays it), and direct messages to one member.

use crate::config::Config;
use crate::error::CommandError;
use crate::event::Event;
use crate::hashing::{IdMap, Keys, id_map};
use crate::identity::{Identity, NodeId};
use crate::membership::members::Members;
use crate::outbox::Queue;
use crate::prelude::*;
use crate::shared::Shared;
use crate::wire::Message;
use bytes::Bytes;
use core::net::SocketAddr;
use rand_core::RngCore;
use smallvec::SmallVec;

#[cfg(test)]
mod tests;

/// Which of an origin's broadcasts this node has delivered: all up to `max - 64`, and a
/// bitmap of the 64 before and at `max`. An older one is taken as delivered: a broadcast
/// lives for seconds, while an origin sends 64 more only in a burst.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SeenWindow {
    max: u64,
    bits: u64,
}

impl SeenWindow {
    /// Marks `seq` seen; returns whether it was new.
    pub(crate) fn first_time(&mut self, seq: u64) -> bool {
        if seq > self.max {
            let shift = seq - self.max;
            self.bits = if shift >= 64 { 0 } else { self.bits << shift };
            self.bits |= 1;
            self.max = seq;
            return true;
        }
        let back = self.max - seq;
        if back >= 64 || self.bits & (1 << back) != 0 {
            return false;
        }
        self.bits |= 1 << back;
        true
    }
}

/// The broadcasts this node sent and delivered.
pub(crate) struct Messages {
    /// Broadcasts this node has sent in this life (see [`Node::broadcast`](crate::Node::broadcast)).
    sent: u32,
    /// Per origin, which of its broadcasts were delivered here.
    seen: IdMap<SeenWindow>,
}

impl Messages {
    pub(crate) fn new(keys: Keys) -> Self {
        Messages { sent: 0, seen: id_map(keys) }
    }

    /// Sends a broadcast of `me` with invalidation `key` (empty: none) to every member.
    pub(crate) fn broadcast<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        members: &Members,
        me: &Identity,
        key: &[u8],
        payload: &[u8],
    ) -> Result<(), CommandError> {
        if key.len() > sh.config.max_key_len {
            return Err(CommandError::KeyLength { len: key.len() });
        }
        let seq = (u64::from(me.generation) << 32) | (u64::from(self.sent) + 1);
        let message = Message::Broadcast { origin: me.id.as_bytes(), seq, key, payload };
        check_size(sh.config, payload.len(), &message)?;
        self.sent += 1;
        pass_on(sh, members, &message);
        Ok(())
    }

    /// A broadcast arrived: delivered and passed on the first time, from a known member
    /// other than `me`.
    pub(crate) fn on_broadcast<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        members: &Members,
        me: &[u8],
        broadcast: &Message<'_>,
    ) {
        let Message::Broadcast { origin, seq, payload, .. } = *broadcast else { return };
        if origin == me || members.find(origin).is_none() {
            return;
        }
        let origin_id = NodeId::copy_from_slice(origin);
        if !self.seen.entry(origin_id.clone()).or_default().first_time(seq) {
            return;
        }
        sh.outbox.event(Event::Broadcast { origin: origin_id, payload: Bytes::copy_from_slice(payload) });
        pass_on(sh, members, broadcast);
    }

    /// Forgets which broadcasts of `origin` were delivered (it is gone for good).
    pub(crate) fn forget(&mut self, origin: &[u8]) {
        self.seen.remove(origin);
    }
}

/// Refuses an application message whose payload is over [`Config::max_value_len`] or
/// that would not fit a stream frame with room to spare.
pub(crate) fn check_size(config: &Config, payload: usize, message: &Message<'_>) -> Result<(), CommandError> {
    if payload > config.max_value_len || message.encoded_len() > config.max_stream_frame / 2 {
        return Err(CommandError::ValueTooLong { len: payload });
    }
    Ok(())
}

/// Spreads a broadcast this node sends or delivered for the first time: piggybacked
/// when it fits a datagram beside the largest membership message, else over streams.
fn pass_on<R: RngCore>(sh: &mut Shared<'_, R>, members: &Members, message: &Message<'_>) {
    if message.encoded_len() <= sh.config.max_message_len() {
        let Message::Broadcast { origin, seq, key, .. } = message else { return };
        sh.enqueue(Queue::User, subject(origin, *seq, key), message, 0, 0);
    } else {
        spread_big(sh, members, message);
    }
}

/// A broadcast's subject in the piggyback queue: its origin and its key, or its origin and
/// number when it has no key (length-prefixed, so no two collide).
fn subject(origin: &[u8], seq: u64, key: &[u8]) -> NodeId {
    let mut subject = Vec::with_capacity(1 + origin.len() + key.len().max(8) + 1);
    subject.push(origin.len() as u8);
    subject.extend_from_slice(origin);
    if key.is_empty() {
        subject.push(0);
        subject.extend_from_slice(&seq.to_be_bytes());
    } else {
        subject.push(1);
        subject.extend_from_slice(key);
    }
    NodeId::new(subject)
}

/// Sends a broadcast too large for a datagram over streams, at once, to as many random
/// live members as a piggybacked one gets sends (`retransmit_mult * ceil(log10(n+1))`):
/// each member does the same the first time it delivers it, so it reaches everyone
/// with high probability (a member missing it has that many chances per sender), at
/// the cost of that many copies of it per member, as on the piggybacked path.
fn spread_big<R: RngCore>(sh: &mut Shared<'_, R>, members: &Members, message: &Message<'_>) {
    let want = sh.retransmit_budget(members.live()) as usize;
    let want = want.min(members.live());
    let mut targets: SmallVec<[SocketAddr; 16]> = SmallVec::new();
    for _ in 0..want * 4 {
        if targets.len() >= want {
            break;
        }
        let Some((_, m)) = members.random(sh.rng) else { break };
        if m.state.is_live() && !targets.contains(&m.addr()) {
            targets.push(m.addr());
        }
    }
    for dest in targets {
        sh.outbox.send_stream(dest, message);
    }
}
