//! Application messages: broadcasts for every member, piggybacked like membership news
//! (each member delivers one once and relays it), and direct messages to one member.

use crate::error::CommandError;
use crate::event::Event;
use crate::identity::NodeId;
use crate::node::Node;
use crate::outbox::Queue;
use crate::prelude::*;
use crate::time::Time;
use crate::wire::Message;
use bytes::Bytes;
use core::net::SocketAddr;
use rand_core::RngCore;
use smallvec::SmallVec;

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

impl<R: RngCore> Node<R> {
    /// Sends `payload` to every member: each delivers it once, as [`Event::Broadcast`], and
    /// passes it on. At most [`Config::max_value_len`](crate::Config) bytes. A broadcast
    /// small enough to ride on a datagram beside the largest membership message is
    /// piggybacked on gossip; a larger one travels over streams, to as many members as a
    /// piggybacked one gets sends, each passing it on the same way once:
    /// nothing is ever sent over the MTU.
    pub fn broadcast(&mut self, now: Time, payload: impl Into<Bytes>) -> Result<(), CommandError> {
        self.broadcast_keyed(now, Bytes::new(), payload)
    }

    /// Like [`Node::broadcast`], with an invalidation key: a newer broadcast of this node
    /// with the same key replaces the older wherever it still waits to be sent (a large
    /// broadcast, sent at once, is never replaced).
    pub fn broadcast_keyed(
        &mut self,
        now: Time,
        key: impl Into<Bytes>,
        payload: impl Into<Bytes>,
    ) -> Result<(), CommandError> {
        let (key, payload) = (key.into(), payload.into());
        if self.left {
            return Err(CommandError::AlreadyLeft);
        }
        self.observe(now);
        if key.len() > self.config.max_key_len {
            return Err(CommandError::KeyLength { len: key.len() });
        }
        let me = self.identity.id.clone();
        let seq = (u64::from(self.identity.generation) << 32) | (u64::from(self.broadcasts_sent) + 1);
        let message = Message::Broadcast { origin: me.as_bytes(), seq, key: &key, payload: &payload };
        if payload.len() > self.config.max_value_len || message.encoded_len() > self.config.max_stream_frame / 2 {
            return Err(CommandError::ValueTooLong { len: payload.len() });
        }
        self.broadcasts_sent += 1;
        self.pass_on(&message);
        Ok(())
    }

    /// Sends `payload` to the member `to` alone: over a stream if `reliable` (delivered
    /// unless the member is down), else in one datagram (best effort), or over a stream
    /// anyway when it does not fit one. The member reports [`Event::Message`].
    pub fn send_to(
        &mut self,
        now: Time,
        to: &[u8],
        payload: impl Into<Bytes>,
        reliable: bool,
    ) -> Result<(), CommandError> {
        let payload = payload.into();
        if self.left {
            return Err(CommandError::AlreadyLeft);
        }
        self.observe(now);
        let Some(dest) = self.members.by_id(to).map(|m| m.addr()) else {
            return Err(CommandError::UnknownMember);
        };
        let message = Message::UserMessage { payload: &payload };
        if payload.len() > self.config.max_value_len || message.encoded_len() > self.config.max_stream_frame / 2 {
            return Err(CommandError::ValueTooLong { len: payload.len() });
        }
        if reliable || message.encoded_len() > self.config.max_message_len() {
            self.outbox.send_stream(dest, &message);
        } else {
            self.send(dest, &[message]);
        }
        Ok(())
    }

    /// A broadcast arrived: delivered and passed on the first time, from a known member.
    pub(crate) fn on_broadcast(&mut self, origin: &[u8], seq: u64, key: &[u8], payload: &[u8]) {
        if origin == self.identity.id.as_bytes() || self.members.find(origin).is_none() {
            return;
        }
        let origin_id = NodeId::copy_from_slice(origin);
        if !self.seen_broadcasts.entry(origin_id.clone()).or_default().first_time(seq) {
            return;
        }
        self.outbox.event(Event::Broadcast { origin: origin_id, payload: Bytes::copy_from_slice(payload) });
        self.pass_on(&Message::Broadcast { origin, seq, key, payload });
    }

    /// Spreads a broadcast this node sends or delivered for the first time: piggybacked
    /// when it fits a datagram beside the largest membership message, else over streams.
    fn pass_on(&mut self, message: &Message<'_>) {
        if message.encoded_len() <= self.config.max_message_len() {
            self.enqueue_user_news(message);
        } else {
            self.spread_big(message);
        }
    }

    /// Sends a broadcast too large for a datagram over streams, at once, to as many random
    /// live members as a piggybacked one gets sends (`retransmit_mult * ceil(log10(n+1))`):
    /// each member does the same the first time it delivers it, so it reaches everyone
    /// with high probability (a member missing it has that many chances per sender), at
    /// the cost of that many copies of it per member, as on the piggybacked path.
    pub(crate) fn spread_big(&mut self, message: &Message<'_>) {
        let want = self.retransmit_budget() as usize;
        let want = want.min(self.members.live());
        let mut targets: SmallVec<[SocketAddr; 16]> = SmallVec::new();
        for _ in 0..want * 4 {
            if targets.len() >= want {
                break;
            }
            let Some((_, m)) = self.members.random(&mut self.rng) else { break };
            if m.state.is_live() && !targets.contains(&m.addr()) {
                targets.push(m.addr());
            }
        }
        for dest in targets {
            self.outbox.send_stream(dest, message);
        }
    }

    /// Queues a broadcast for piggybacking: its subject is its origin and its key, or its
    /// origin and number when it has no key (length-prefixed, so no two collide).
    fn enqueue_user_news(&mut self, message: &Message<'_>) {
        let Message::Broadcast { origin, seq, key, .. } = message else { return };
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
        self.enqueue_on(Queue::User, NodeId::new(subject), message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::util::{SplitMix, datagram, introduce};
    use crate::wire::{self, Limits};
    use crate::{Config, Identity, Time};
    use core::net::SocketAddr;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 3, i], 7946))
    }

    /// Node `name` at `addr(i)` that knows `peers` (name, address byte) as Alive members.
    fn node(name: &str, i: u8, peers: &[(&'static [u8], u8)]) -> Node<SplitMix> {
        let mut node = Node::new(Config::lan(10), Identity::new(name, addr(i)), SplitMix(u64::from(i))).unwrap();
        for &(id, j) in peers {
            introduce(&mut node, Time::ZERO, id, addr(j));
        }
        while node.poll_transmit().is_some() {}
        while node.poll_event().is_some() {}
        node
    }

    fn payloads(node: &mut Node<SplitMix>) -> Vec<(Vec<u8>, Vec<u8>)> {
        core::iter::from_fn(|| node.poll_event())
            .filter_map(|e| match e {
                Event::Broadcast { origin, payload } | Event::Message { from: origin, payload } => {
                    Some((origin.as_bytes().to_vec(), payload.to_vec()))
                }
                _ => None,
            })
            .collect()
    }

    // A broadcast from a member is delivered once however often it arrives, and relayed;
    // one from a stranger is ignored.
    #[test]
    fn a_broadcast_is_delivered_once_and_relayed() {
        let mut a = node("a", 1, &[(b"b", 2)]);
        let from_b = Message::Broadcast { origin: b"b", seq: 1, key: b"", payload: b"hello" };
        let from_z = Message::Broadcast { origin: b"z", seq: 1, key: b"", payload: b"spam" };
        for _ in 0..3 {
            a.handle_datagram(Time::ZERO, addr(2), &datagram(b"b", &[from_b, from_z])).unwrap();
        }
        assert_eq!(payloads(&mut a), vec![(b"b".to_vec(), b"hello".to_vec())]);
        assert_eq!(a.outbox.queue(Queue::User).len(), 1, "relayed once");
    }

    // A newer broadcast with the same invalidation key replaces the one still queued;
    // unkeyed broadcasts all stay.
    #[test]
    fn an_invalidation_key_replaces_the_queued_broadcast() {
        let mut a = node("a", 1, &[(b"b", 2)]);
        a.broadcast_keyed(a.now(), "config", "v1").unwrap();
        a.broadcast_keyed(a.now(), "config", "v2").unwrap();
        a.broadcast(a.now(), "x").unwrap();
        a.broadcast(a.now(), "x").unwrap();
        assert_eq!(a.outbox.queue(Queue::User).len(), 3);
        a.send(addr(2), &[]);
        let t = a.poll_transmit().unwrap();
        let packet = wire::decode(&t.payload, &Limits::default()).unwrap();
        let sent: Vec<&[u8]> = packet
            .messages
            .iter()
            .filter_map(|m| match m {
                Message::Broadcast { payload, .. } => Some(*payload),
                _ => None,
            })
            .collect();
        assert_eq!(sent.len(), 3);
        assert!(sent.contains(&&b"v2"[..]) && !sent.contains(&&b"v1"[..]));
        assert_eq!(a.broadcast(a.now(), vec![0u8; 4097]), Err(CommandError::ValueTooLong { len: 4097 }));
    }

    // A direct message reaches its member alone, by datagram or by stream; a message to a
    // stranger is refused.
    #[test]
    fn a_direct_message_reaches_its_member() {
        let mut a = node("a", 1, &[(b"b", 2)]);
        let mut b = node("b", 2, &[(b"a", 1)]);
        for reliable in [false, true] {
            a.send_to(a.now(), b"b", "ping me", reliable).unwrap();
            let t = a.poll_transmit().unwrap();
            assert_eq!((t.dest, t.reliable), (addr(2), reliable));
            if reliable {
                b.handle_stream(Time::ZERO, addr(1), &t.payload).unwrap();
            } else {
                b.handle_datagram(Time::ZERO, addr(1), &t.payload).unwrap();
            }
            assert_eq!(payloads(&mut b), vec![(b"a".to_vec(), b"ping me".to_vec())]);
        }
        assert_eq!(a.send_to(a.now(), b"nobody", "x", false), Err(CommandError::UnknownMember));
    }

    // A broadcast too large for a datagram goes over streams, to as many members as a
    // piggybacked one gets sends, and each member that delivers it passes it on the same
    // way; a direct message too large for a datagram goes over a stream even if best effort
    // was asked for.
    #[test]
    fn large_messages_take_the_reliable_path() {
        let peers: Vec<(&'static [u8], u8)> =
            vec![(b"b", 2), (b"c", 3), (b"d", 4), (b"e", 5), (b"f", 6), (b"g", 7), (b"h", 8)];
        let mut a = node("a", 1, &peers);
        let big = vec![7u8; 3000];
        a.broadcast(a.now(), big.clone()).unwrap();
        assert!(a.outbox.queue(Queue::User).is_empty(), "not piggybacked");
        let sent: Vec<crate::Transmit> = core::iter::from_fn(|| a.poll_transmit()).collect();
        // Eight members known to each: 4 * ceil(log10(9)) = 4 sends.
        assert_eq!(sent.len(), 4);
        assert!(sent.iter().all(|t| t.reliable));
        let dests: alloc::collections::BTreeSet<SocketAddr> = sent.iter().map(|t| t.dest).collect();
        assert_eq!(dests.len(), 4, "distinct members");

        let mut b = node("b", 2, &[(b"a", 1), (b"c", 3), (b"d", 4), (b"e", 5), (b"f", 6), (b"g", 7), (b"h", 8)]);
        for _ in 0..2 {
            b.handle_stream(Time::ZERO, addr(1), &sent[0].payload).unwrap();
        }
        assert_eq!(payloads(&mut b), vec![(b"a".to_vec(), big.clone())], "delivered once");
        let passed: Vec<crate::Transmit> = core::iter::from_fn(|| b.poll_transmit()).collect();
        assert!(passed.len() == 4 && passed.iter().all(|t| t.reliable), "passed on over streams once");

        a.send_to(a.now(), b"b", big.clone(), false).unwrap();
        let t = a.poll_transmit().unwrap();
        assert!(t.reliable && t.dest == addr(2));
        b.handle_stream(Time::ZERO, addr(1), &t.payload).unwrap();
        assert_eq!(payloads(&mut b), vec![(b"a".to_vec(), big)]);
    }

    #[test]
    fn each_sequence_number_is_new_once() {
        let mut w = SeenWindow::default();
        for seq in [5, 3, 70, 7, 69, 200] {
            assert!(w.first_time(seq), "{seq}");
            assert!(!w.first_time(seq), "{seq} again");
        }
        assert!(!w.first_time(100), "more than 64 behind counts as seen");
        assert!(w.first_time(199));
    }
}
