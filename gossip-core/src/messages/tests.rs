//! Broadcasts and direct messages between two or three nodes.

use super::*;
use crate::tests::util::{TestRng, datagram, introduce, rng};
use crate::wire::{self, Limits};
use crate::{Config, Identity, Node, Time};
use core::net::SocketAddr;

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 3, i], 7946))
}

/// Node `name` at `addr(i)` that knows `peers` (name, address byte) as Alive members.
fn node(name: &str, i: u8, peers: &[(&'static [u8], u8)]) -> Node<TestRng> {
    let mut node = Node::new(Config::lan(10), Identity::new(name, addr(i)), rng(u64::from(i))).unwrap();
    for &(id, j) in peers {
        introduce(&mut node, Time::ZERO, id, addr(j));
    }
    while node.poll_transmit().is_some() {}
    while node.poll_event().is_some() {}
    node
}

fn payloads(node: &mut Node<TestRng>) -> Vec<(Vec<u8>, Vec<u8>)> {
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
