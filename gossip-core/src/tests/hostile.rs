//! Hostile input into one hand-driven node: a refused packet leaves it exactly as it was,
//! and a stranger cannot complete its join. (Hostile input into a running cluster:
//! gossip-sim's tests/protocol/hostile.rs.)

use crate::Config;
use crate::wire::{Header, Message};
use bytes::BytesMut;
use core::time::Duration;

fn packet(cluster: &[u8], sender: &[u8], messages: &[Message<'_>]) -> Vec<u8> {
    let mut out = BytesMut::new();
    Header { cluster, sender }.encode(&mut out);
    for m in messages {
        m.encode(&mut out);
    }
    out.to_vec()
}

/// Everything a node hands out while it runs its own timers from `start` for `span`.
fn outputs(node: &mut crate::Node<super::util::TestRng>, start: crate::Time, span: Duration) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let end = start.saturating_add(span);
    let mut now = start;
    loop {
        while let Some(t) = node.poll_transmit() {
            out.push([t.dest.to_string().as_bytes(), &t.payload[..]].concat());
        }
        while let Some(e) = node.poll_event() {
            out.push(format!("{e:?}").into_bytes());
        }
        match node.poll_timeout() {
            Some(at) if at <= end => now = at.max(now),
            _ => return out,
        }
        node.handle_timeout(now);
    }
}

// A refused packet changes nothing, not even what a fresh node will do: neither its clock
// nor its timers nor its random generator. Fed garbage at t = 5 s and then started at
// t = 10 s, a node sends byte for byte what its twin that got nothing sends.
#[test]
fn a_refused_packet_leaves_even_a_fresh_node_as_it_was() {
    use super::util::rng;
    use crate::{Identity, Node, Time};
    let make = || Node::new(Config::lan(8), Identity::new("a", super::util::addr_of(0, 0)), rng(5)).unwrap();
    let (mut twin, mut fed) = (make(), make());
    let from = super::util::addr_of(1, 0);
    let garbage =
        [packet(b"other", b"b", &[Message::Ping { seq: 1, target: b"a" }]), vec![1, 2, 3], packet(b"", b"a", &[])];
    for bytes in &garbage {
        assert!(fed.handle_datagram(Time::from_nanos(5_000_000_000), from, bytes).is_err());
    }
    assert_eq!(fed.poll_timeout(), twin.poll_timeout());
    let start = Time::from_nanos(10_000_000_000);
    let seeds = [from];
    twin.join(start, &seeds).unwrap();
    fed.join(start, &seeds).unwrap();
    assert_eq!(outputs(&mut fed, start, Duration::from_secs(5)), outputs(&mut twin, start, Duration::from_secs(5)));
    assert_eq!(fed.stats().dropped(), 3);
}

/// Where a stranger (a sender no node has heard of) sends from.
fn stranger_addr() -> std::net::SocketAddr {
    super::util::addr_of(99, 9)
}

// A stranger's made-up sync answer does not complete a join: the joiner raises no Joined
// and keeps asking its seed.
#[test]
fn a_strangers_answer_does_not_complete_a_join() {
    use super::util::{addr_of, rng};
    use crate::wire::{MemberRecord, encode_push_pull};
    use crate::{Event, Identity, MemberState, Node, Time};
    let seed = addr_of(1, 0);
    let mut node = Node::new(Config::lan(8), Identity::new("a", addr_of(0, 0)), rng(5)).unwrap();
    node.join(Time::ZERO, &[seed]).unwrap();
    while node.poll_transmit().is_some() {}
    let me =
        MemberRecord { state: MemberState::Alive, incarnation: 0, id: b"mallory", addr: stranger_addr(), meta: b"" };
    let mut answer = BytesMut::new();
    Header { cluster: b"", sender: b"mallory" }.encode(&mut answer);
    encode_push_pull(&mut answer, false, false, [me].into_iter(), Some(&[0]), None);
    node.handle_stream(Time::ZERO, stranger_addr(), &answer).unwrap();
    assert!(!core::iter::from_fn(|| node.poll_event()).any(|e| e == Event::Joined), "a stranger completed the join");
    let retry = Time::ZERO.saturating_add(node.config().join_retry_interval);
    let mut asked_seed = false;
    while let Some(at) = node.poll_timeout().filter(|&at| at <= retry) {
        node.handle_timeout(at);
        asked_seed |= core::iter::from_fn(|| node.poll_transmit()).any(|t| t.dest == seed && t.reliable);
    }
    assert!(asked_seed, "the joiner stopped asking its seed");
}
