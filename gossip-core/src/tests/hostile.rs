//! Hostile input into a live node: typed errors, counted drops, no state change.

use super::util::{Harness, name};
use crate::wire::{Header, Message};
use crate::{Config, DecodeError, RecvError};
use bytes::BytesMut;
use core::time::Duration;
use proptest::prelude::*;

fn packet(cluster: &[u8], sender: &[u8], messages: &[Message<'_>]) -> Vec<u8> {
    let mut out = BytesMut::new();
    Header { cluster, sender }.encode(&mut out);
    for m in messages {
        m.encode(&mut out);
    }
    out.to_vec()
}

/// A snapshot of everything a peer could corrupt.
fn view(h: &Harness, i: usize) -> Vec<(crate::NodeId, crate::MemberState, u32, std::net::SocketAddr)> {
    h.node(i).peers().map(|m| (m.id().clone(), m.state(), m.incarnation(), m.addr())).collect()
}

fn small_cluster() -> Harness {
    let mut h = Harness::new(5, 9, Config::lan(5));
    h.join_all();
    h.run_for(Duration::from_secs(10));
    assert!(h.converged());
    h
}

// Packets from another cluster, from our own id, or undecodable are dropped, typed and counted, and change nothing.
#[test]
fn bad_packets_are_typed_counted_and_change_nothing() {
    let mut h = small_cluster();
    let before = view(&h, 0);
    let from = h.addr(1);
    let suspect = Message::Suspect { incarnation: 0, id: b"node-2", from: b"node-1" };
    let cases: Vec<(Vec<u8>, RecvError)> = vec![
        (packet(b"other", b"node-1", &[suspect]), RecvError::WrongCluster),
        (packet(b"", b"node-0", &[suspect]), RecvError::FromSelf),
        (vec![9, 0, 0, 1, b'x', 2, 0, 0, 0, 1], RecvError::Decode(DecodeError::UnsupportedVersion(9))),
        (vec![0u8; 70_000], RecvError::TooLarge),
    ];
    for (i, (bytes, want)) in cases.iter().enumerate() {
        let of_kind = h.node(0).stats().drops[want.kind()];
        let got = h.with(0, |n, now| n.handle_datagram(now, from, bytes));
        assert_eq!(got, Err(*want));
        assert_eq!(h.node(0).stats().dropped(), i as u64 + 1);
        assert_eq!(h.node(0).stats().drops[want.kind()], of_kind + 1, "{want}");
    }
    let decode = &h.node(0).stats().decode_errors;
    assert_eq!(decode[DecodeError::UnsupportedVersion(9).kind()], 1);
    assert_eq!(view(&h, 0), before);
    // A valid prefix followed by garbage is rejected whole: the suspicion is not applied.
    let mut bytes = packet(b"", b"node-1", &[suspect]);
    bytes.push(200);
    let got = h.with(0, |n, now| n.handle_datagram(now, from, &bytes));
    assert_eq!(got, Err(RecvError::Decode(DecodeError::UnknownMessage(200))));
    assert_eq!(view(&h, 0), before);
}

// A peer declaring us Down is refuted, not obeyed; claims about us never enter the table.
#[test]
fn claims_about_ourselves_are_refuted() {
    let mut h = small_cluster();
    let from = h.addr(1);
    let me = name(0);
    let bytes = packet(b"", b"node-1", &[Message::Down { incarnation: 7, id: me.as_bytes(), from: b"node-1" }]);
    h.with(0, |n, now| n.handle_datagram(now, from, &bytes)).unwrap();
    assert_eq!(h.node(0).local().incarnation, 8);
    assert!(h.node(0).member(me.as_bytes()).is_none());
    h.run_for(Duration::from_secs(10));
    assert!(h.converged());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    // Arbitrary bytes after a valid header never panic; if rejected, nothing changed.
    #[test]
    fn arbitrary_datagrams_never_corrupt_a_node(tail in proptest::collection::vec(any::<u8>(), 0..300), stream in any::<bool>()) {
        let mut h = small_cluster();
        let before = view(&h, 0);
        let mut bytes = packet(b"", b"node-1", &[]);
        bytes.extend_from_slice(&tail);
        let from = h.addr(1);
        let result = h.with(0, |n, now| if stream { n.handle_stream(now, from, &bytes) } else { n.handle_datagram(now, from, &bytes) });
        if result.is_err() {
            prop_assert_eq!(view(&h, 0), before);
            prop_assert_eq!(h.node(0).stats().dropped(), 1);
        }
        h.run_for(Duration::from_secs(2));
    }
}

/// Everything a node hands out while it runs its own timers from `start` for `span`.
fn outputs(node: &mut crate::Node<super::util::SplitMix>, start: crate::Time, span: Duration) -> Vec<Vec<u8>> {
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
    use super::util::SplitMix;
    use crate::{Identity, Node, Time};
    let make = || Node::new(Config::lan(8), Identity::new("a", super::util::addr_of(0, 0)), SplitMix(5)).unwrap();
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

// A node that has left takes no input: every packet is refused, typed and counted.
#[test]
fn a_node_that_has_left_refuses_input() {
    let mut h = small_cluster();
    let before = view(&h, 0);
    h.with(0, |n, now| n.leave(now)).unwrap();
    let from = h.addr(1);
    let news =
        [Message::Ping { seq: 9, target: b"node-0" }, Message::Down { incarnation: 0, id: b"node-2", from: b"node-1" }];
    let got = h.with(0, |n, now| n.handle_datagram(now, from, &packet(b"", b"node-1", &news)));
    assert_eq!(got, Err(RecvError::Left));
    assert_eq!(h.node(0).stats().drops[RecvError::Left.kind()], 1);
    assert_eq!(view(&h, 0), before);
}

// No claim exhausts a member's incarnations (item 1 of issue 14). A spoofed Alive at the
// top of the range, then a pause long enough to be declared Down: the member still
// refutes, and is back Alive everywhere within seconds of waking (it stayed Down 67 s
// when incarnations were plain integers capped below u32::MAX).
#[test]
fn a_claim_at_the_top_of_the_range_can_still_be_refuted() {
    for (seed, claimed) in [(1, u32::MAX - 1), (2, u32::MAX), (3, (1 << 31) + 7)] {
        let mut h = Harness::new(8, seed, Config::lan(8));
        h.join_all();
        h.run_for(Duration::from_secs(10));
        assert!(h.converged());
        let victim = name(3);
        let (from, addr) = (h.addr(1), h.addr(3));
        let claim = Message::Alive { incarnation: claimed, id: victim.as_bytes(), addr, meta: b"" };
        h.with(0, |n, now| n.handle_datagram(now, from, &packet(b"", b"node-1", &[claim]))).unwrap();
        h.run_for(Duration::from_secs(2));
        h.isolate(3, Duration::from_secs(8));
        h.run_for(Duration::from_secs(8));
        assert!(h.all_see(3, Some(crate::MemberState::Down)), "seed {seed}: the paused member is declared Down");
        let woke = h.now;
        let back = h.run_until(Duration::from_secs(60), Duration::from_millis(100), |h| {
            h.all_see(3, Some(crate::MemberState::Alive))
        });
        let waited = back.map(|t| t.saturating_since(woke));
        assert!(
            waited.is_some_and(|d| d <= Duration::from_secs(6)),
            "seed {seed}, claim {claimed}: back after {waited:?}"
        );
    }
}

/// Where a stranger (a sender no node has heard of) sends from.
fn stranger_addr() -> std::net::SocketAddr {
    super::util::addr_of(99, 9)
}

/// Whether no running node has seen member `j` anything but Alive at its own address
/// for `span`, checked every 100 ms.
fn stays_alive_where_it_is(h: &mut Harness, j: usize, span: Duration) -> bool {
    let (addr, end) = (h.addr(j), h.now.saturating_add(span));
    while h.now < end {
        h.run_for(Duration::from_millis(100));
        let ok = (0..h.len()).filter(|&i| i != j && h.is_up(i)).all(|i| {
            h.node(i)
                .member(name(j).as_bytes())
                .is_some_and(|m| m.state() == crate::MemberState::Alive && m.addr() == addr)
        });
        if !ok {
            return false;
        }
    }
    true
}

// Item 6: a stranger cannot accuse members, say they left, speak for them, reach the
// application or make a node ping for it. Each such message is refused and counted.
#[test]
fn a_stranger_cannot_accuse_members_nor_speak_for_them() {
    let mut h = small_cluster();
    let before = view(&h, 0);
    let elsewhere = super::util::addr_of(77, 7);
    let news = [
        Message::Suspect { incarnation: 0, id: b"node-2", from: b"mallory" },
        Message::Down { incarnation: 0, id: b"node-2", from: b"mallory" },
        Message::Left { incarnation: 0, id: b"node-3" },
        Message::UserMessage { payload: b"hello" },
        Message::Broadcast { origin: b"node-4", seq: 1, key: b"", payload: b"spoofed" },
        Message::PingReq { seq: 5, target: b"node-1", addr: elsewhere },
    ];
    let (events_before, refused_before) = (h.events.len(), h.node(0).stats().stranger_messages_refused);
    let (from, bytes) = (stranger_addr(), packet(b"", b"mallory", &news));
    let sent = h.with(0, |n, now| {
        n.handle_datagram(now, from, &bytes).unwrap();
        core::iter::from_fn(|| n.poll_transmit()).filter(|t| t.dest == elsewhere).count()
    });
    assert_eq!(sent, 0, "a stranger's ping-req is not honoured");
    assert_eq!(h.node(0).stats().stranger_messages_refused - refused_before, news.len() as u64);
    assert_eq!(view(&h, 0), before);
    assert_eq!(h.events.len(), events_before, "nothing reached the application");
    // Known as a member, the same sender would be heard (the rule is about strangers).
    let mut h = small_cluster();
    let (from, bytes) = (h.addr(1), packet(b"", b"node-1", &news[2..3]));
    h.with(0, |n, now| n.handle_datagram(now, from, &bytes)).unwrap();
    assert_eq!(h.view(0, 3), Some(crate::MemberState::Left));
}

// Item 5: whatever goes back to a stranger's datagram (acks to its pings, pings that check
// the members it claims) is no larger than the datagram, and carries no piggybacked news;
// a member's ping gets its ack with news as usual.
#[test]
fn a_stranger_gets_back_no_more_than_it_sent() {
    let mut h = small_cluster();
    // Some news queued at node 0, to piggyback.
    h.with(0, |n, _| n.set_meta(n.now(), &b"new"[..])).unwrap();
    let ping = Message::Ping { seq: 3, target: b"node-0" };
    let victim = stranger_addr();
    let fakes: Vec<Vec<u8>> = (0..40).map(|i| format!("fake-{i}").into_bytes()).collect();
    let claims: Vec<Message<'_>> = fakes
        .iter()
        .enumerate()
        .map(|(i, id)| Message::Alive { incarnation: 0, id, addr: super::util::addr_of(200 + i, 9), meta: b"" })
        .collect();
    for messages in [vec![ping], [vec![ping], claims].concat()] {
        let bytes = packet(b"", b"m", &messages);
        let out: Vec<_> = h.with(0, |n, now| {
            n.handle_datagram(now, victim, &bytes).unwrap();
            core::iter::from_fn(|| n.poll_transmit()).collect()
        });
        let back: usize = out.iter().map(|t| t.payload.len()).sum();
        assert!(back <= bytes.len(), "{back} bytes back for {}", bytes.len());
        for t in &out {
            let packet = crate::wire::decode(&t.payload, &crate::wire::Limits::default()).unwrap();
            assert_eq!(packet.messages.len(), 1, "a bare answer");
        }
    }
    assert!(h.node(0).stats().stranger_answers_withheld > 0, "not every claim was checked");
    let from = h.addr(1);
    let member_ping = packet(b"", b"node-1", &[ping]);
    let ack = h.with(0, |n, now| {
        n.handle_datagram(now, from, &member_ping).unwrap();
        n.poll_transmit().unwrap()
    });
    let packet = crate::wire::decode(&ack.payload, &crate::wire::Limits::default()).unwrap();
    assert!(packet.messages.len() > 1, "a member's ack carries news");
}

// Item 2: an Alive that moves a live member elsewhere, at an incarnation far ahead of its
// own, neither from a stranger nor in a member's name (a spoofed sender) takes it out:
// nobody ever sees it other than Alive where it is.
#[test]
fn a_live_member_cannot_be_moved_away() {
    for (sender, at) in [(&b"mallory"[..], stranger_addr()), (&b"node-1"[..], super::util::addr_of(1, 0))] {
        let mut h = small_cluster();
        let fake = super::util::addr_of(66, 6);
        let claim = Message::Alive { incarnation: 1 << 30, id: b"node-3", addr: fake, meta: b"" };
        let bytes = packet(b"", sender, &[claim]);
        for i in [0, 2, 4] {
            h.with(i, |n, now| n.handle_datagram(now, at, &bytes)).unwrap();
        }
        assert!(stays_alive_where_it_is(&mut h, 3, Duration::from_secs(60)), "{}", String::from_utf8_lossy(sender));
    }
}

// Item 3: 1,100 fake members announced to a node by a stranger never keep a real newcomer
// out: it is in every view 5, 30 and 90 s after it joins, and no fake is in any table.
// The same flood in a member's name (a spoofed sender; only a keyring stops that) fills
// the node's table, which still makes room for the newcomer that answers.
#[test]
fn a_flood_of_fake_members_never_locks_out_a_real_one() {
    for (sender, at) in [(&b"mallory"[..], stranger_addr()), (&b"node-1"[..], super::util::addr_of(1, 0))] {
        let mut h = Harness::new(6, 4, Config::lan(6));
        let seed = h.addr(0);
        h.with(0, |n, now| n.join(now, &[]).unwrap());
        for i in 1..5 {
            h.run_for(Duration::from_millis(10));
            h.with(i, |n, now| n.join(now, &[seed]).unwrap());
        }
        h.run_for(Duration::from_secs(10));
        let fakes: Vec<Vec<u8>> = (0..1_100).map(|i| format!("fake-{i:04}").into_bytes()).collect();
        for (c, chunk) in fakes.chunks(30).enumerate() {
            let claims: Vec<Message<'_>> = chunk
                .iter()
                .enumerate()
                .map(|(k, id)| Message::Alive {
                    incarnation: 0,
                    id,
                    addr: super::util::addr_of(c * 30 + k, 40),
                    meta: b"",
                })
                .collect();
            let bytes = packet(b"", sender, &claims);
            h.with(0, |n, now| n.handle_datagram(now, at, &bytes)).unwrap();
        }
        h.run_for(Duration::from_secs(1));
        h.with(5, |n, now| n.join(now, &[seed]).unwrap());
        if sender != b"mallory" {
            h.run_for(Duration::from_secs(5));
            assert_eq!(h.node(0).peers().count(), 1024, "the table is full");
            assert_eq!(h.view(0, 5), Some(crate::MemberState::Alive), "and took the newcomer");
            assert!(h.node(0).stats().members_evicted >= 1);
            continue;
        }
        for (t, after) in [(5, 5), (25, 30), (60, 90)] {
            h.run_for(Duration::from_secs(t));
            let seen = (0..5).filter(|&i| h.view(i, 5) == Some(crate::MemberState::Alive)).count();
            assert_eq!(seen, 5, "the newcomer seen by {seen} of 5 after {after} s");
            assert!((0..6).all(|i| h.node(i).peers().count() == 5), "a fake entered a table");
        }
    }
}

// A stranger's made-up sync answer does not complete a join: the joiner raises no Joined
// and keeps asking its seed.
#[test]
fn a_strangers_answer_does_not_complete_a_join() {
    use super::util::{SplitMix, addr_of};
    use crate::wire::{MemberRecord, encode_push_pull};
    use crate::{Event, Identity, MemberState, Node, Time};
    let seed = addr_of(1, 0);
    let mut node = Node::new(Config::lan(8), Identity::new("a", addr_of(0, 0)), SplitMix(5)).unwrap();
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
