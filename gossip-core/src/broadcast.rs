//! Application messages: broadcasts for every member, piggybacked like membership news
//! (each member delivers one once and relays it), and direct messages to one member.

use crate::error::CommandError;
use crate::event::{Event, Transmit};
use crate::identity::NodeId;
use crate::node::Node;
use crate::wire::{Header, Message};
use bytes::{Bytes, BytesMut};
use rand_core::RngCore;

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
    /// Sends `payload` to every member, piggybacked on gossip: each delivers it once, as
    /// [`Event::Broadcast`], and relays it. At most
    /// [`Config::max_value_len`](crate::Config) bytes, and small enough to ride on a
    /// datagram beside the largest membership message.
    pub fn broadcast(&mut self, payload: impl Into<Bytes>) -> Result<(), CommandError> {
        self.broadcast_keyed(Bytes::new(), payload)
    }

    /// Like [`Node::broadcast`], with an invalidation key: a newer broadcast of this node
    /// with the same key replaces the older wherever it still waits to be sent.
    pub fn broadcast_keyed(&mut self, key: impl Into<Bytes>, payload: impl Into<Bytes>) -> Result<(), CommandError> {
        let (key, payload) = (key.into(), payload.into());
        if self.left {
            return Err(CommandError::AlreadyLeft);
        }
        if key.len() > self.config.max_key_len {
            return Err(CommandError::KeyLength { len: key.len() });
        }
        let me = self.identity.id.clone();
        let seq = (u64::from(self.identity.generation) << 32) | (u64::from(self.broadcasts_sent) + 1);
        let message = Message::Broadcast { origin: me.as_bytes(), seq, key: &key, payload: &payload };
        if payload.len() > self.config.max_value_len || message.encoded_len() > self.config.max_message_len() {
            return Err(CommandError::ValueTooLong { len: payload.len() });
        }
        self.broadcasts_sent += 1;
        self.enqueue_user_news(&message);
        Ok(())
    }

    /// Sends `payload` to the member `to` alone: over a stream if `reliable` (delivered
    /// unless the member is down), else in one datagram (best effort). The member
    /// reports [`Event::Message`].
    pub fn send_to(&mut self, to: &[u8], payload: impl Into<Bytes>, reliable: bool) -> Result<(), CommandError> {
        let payload = payload.into();
        if self.left {
            return Err(CommandError::AlreadyLeft);
        }
        let Some(dest) = self.members.by_id(to).map(|m| m.addr()) else {
            return Err(CommandError::UnknownMember);
        };
        let message = Message::UserMessage { payload: &payload };
        let too_long = if reliable { self.config.max_stream_frame / 2 } else { self.config.max_message_len() };
        if payload.len() > self.config.max_value_len || message.encoded_len() > too_long {
            return Err(CommandError::ValueTooLong { len: payload.len() });
        }
        if reliable {
            let header = Header { cluster: &self.config.cluster_name, sender: self.identity.id.as_bytes() };
            let mut out = BytesMut::with_capacity(header.encoded_len() + message.encoded_len());
            header.encode(&mut out);
            message.encode(&mut out);
            self.transmits.push_back(Transmit { dest, payload: out.freeze(), reliable: true });
        } else {
            self.send(dest, &[message]);
        }
        Ok(())
    }

    /// A broadcast arrived: delivered and relayed the first time, from a known member.
    pub(crate) fn on_broadcast(&mut self, origin: &[u8], seq: u64, key: &[u8], payload: &[u8]) {
        if origin == self.identity.id.as_bytes() || self.members.find(origin).is_none() {
            return;
        }
        let origin_id = NodeId::copy_from_slice(origin);
        if !self.seen_broadcasts.entry(origin_id.clone()).or_default().first_time(seq) {
            return;
        }
        self.events.push_back(Event::Broadcast { origin: origin_id, payload: Bytes::copy_from_slice(payload) });
        self.enqueue_user_news(&Message::Broadcast { origin, seq, key, payload });
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
        self.enqueue_on(QueueKind::User, NodeId::new(subject), message);
    }
}

/// Which piggyback queue news goes to (see `Node::send`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum QueueKind {
    /// Replicated key writes.
    Keys,
    /// User broadcasts.
    User,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::util::{SplitMix, datagram};
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
            let alive = Message::Alive { incarnation: 0, id, addr: addr(j), meta: b"" };
            node.handle_datagram(Time::ZERO, addr(j), &datagram(id, &[alive])).unwrap();
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
        assert_eq!(a.user_gossip.len(), 1, "relayed once");
    }

    // A newer broadcast with the same invalidation key replaces the one still queued;
    // unkeyed broadcasts all stay.
    #[test]
    fn an_invalidation_key_replaces_the_queued_broadcast() {
        let mut a = node("a", 1, &[(b"b", 2)]);
        a.broadcast_keyed("config", "v1").unwrap();
        a.broadcast_keyed("config", "v2").unwrap();
        a.broadcast("x").unwrap();
        a.broadcast("x").unwrap();
        assert_eq!(a.user_gossip.len(), 3);
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
        assert_eq!(a.broadcast(vec![0u8; 4097]), Err(CommandError::ValueTooLong { len: 4097 }));
    }

    // A direct message reaches its member alone, by datagram or by stream; a message to a
    // stranger is refused.
    #[test]
    fn a_direct_message_reaches_its_member() {
        let mut a = node("a", 1, &[(b"b", 2)]);
        let mut b = node("b", 2, &[(b"a", 1)]);
        for reliable in [false, true] {
            a.send_to(b"b", "ping me", reliable).unwrap();
            let t = a.poll_transmit().unwrap();
            assert_eq!((t.dest, t.reliable), (addr(2), reliable));
            if reliable {
                b.handle_stream(Time::ZERO, addr(1), &t.payload).unwrap();
            } else {
                b.handle_datagram(Time::ZERO, addr(1), &t.payload).unwrap();
            }
            assert_eq!(payloads(&mut b), vec![(b"a".to_vec(), b"ping me".to_vec())]);
        }
        assert_eq!(a.send_to(b"nobody", "x", false), Err(CommandError::UnknownMember));
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
