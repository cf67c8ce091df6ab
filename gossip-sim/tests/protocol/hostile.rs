//! Hostile input into a live node of a small cluster: typed errors, counted drops, no
//! state change, and nothing a stranger says takes a member out or keeps one out.

use crate::util::{SECOND, all_see, cluster, converged, elsewhere, join_first, node, packet, run_for, run_until};
use core::time::Duration;
use gossip_sim::Sim;
use gossip_sim::gossip_core::wire::{self, Limits, Message};
use gossip_sim::gossip_core::{Config, DecodeError, MemberState, NodeId, RecvError};
use gossip_sim::sim::name;
use proptest::prelude::*;
use std::net::SocketAddr;

/// A snapshot of everything a peer could corrupt in node `i`'s table.
fn view(sim: &Sim, i: usize) -> Vec<(NodeId, MemberState, u32, SocketAddr)> {
    node(sim, i).peers().map(|m| (m.id().clone(), m.state(), m.incarnation(), m.addr())).collect()
}

/// Five nodes, converged after 10 s.
fn small_cluster() -> Sim {
    let mut sim = cluster(5, 9, Config::lan(5));
    join_first(&mut sim, 5);
    run_for(&mut sim, Duration::from_secs(10));
    assert!(converged(&sim));
    sim
}

/// Where a stranger (a sender no node has heard of) sends from.
fn stranger_addr() -> SocketAddr {
    elsewhere(99, 9)
}

// Packets from another cluster, from our own id, or undecodable are dropped, typed and
// counted, and change nothing.
#[test]
fn bad_packets_are_typed_counted_and_change_nothing() {
    let mut sim = small_cluster();
    let before = view(&sim, 0);
    let from = sim.addr(1);
    let suspect = Message::Suspect { incarnation: 0, id: b"node-2", from: b"node-1" };
    let cases: Vec<(Vec<u8>, RecvError)> = vec![
        (packet(b"other", b"node-1", &[suspect]), RecvError::WrongCluster),
        (packet(b"", b"node-0", &[suspect]), RecvError::FromSelf),
        (vec![9, 0, 0, 1, b'x', 2, 0, 0, 0, 1], RecvError::Decode(DecodeError::UnsupportedVersion(9))),
        (vec![0u8; 70_000], RecvError::TooLarge),
    ];
    for (i, (bytes, want)) in cases.iter().enumerate() {
        let of_kind = node(&sim, 0).stats().drops[want.kind()];
        let got = sim.with_node(0, |n, now| n.handle_datagram(now, from, bytes));
        assert_eq!(got, Err(*want));
        assert_eq!(node(&sim, 0).stats().dropped(), i as u64 + 1);
        assert_eq!(node(&sim, 0).stats().drops[want.kind()], of_kind + 1, "{want}");
    }
    let decode = &node(&sim, 0).stats().decode_errors;
    assert_eq!(decode[DecodeError::UnsupportedVersion(9).kind()], 1);
    assert_eq!(view(&sim, 0), before);
    // A valid prefix followed by garbage is rejected whole: the suspicion is not applied.
    let mut bytes = packet(b"", b"node-1", &[suspect]);
    bytes.push(200);
    let got = sim.with_node(0, |n, now| n.handle_datagram(now, from, &bytes));
    assert_eq!(got, Err(RecvError::Decode(DecodeError::UnknownMessage(200))));
    assert_eq!(view(&sim, 0), before);
}

// A peer declaring us Down is refuted, not obeyed; claims about us never enter the table.
#[test]
fn claims_about_ourselves_are_refuted() {
    let mut sim = small_cluster();
    let from = sim.addr(1);
    let me = name(0);
    let bytes = packet(b"", b"node-1", &[Message::Down { incarnation: 7, id: me.as_bytes(), from: b"node-1" }]);
    sim.with_node(0, |n, now| n.handle_datagram(now, from, &bytes)).unwrap();
    assert_eq!(node(&sim, 0).local().incarnation, 8);
    assert!(node(&sim, 0).member(me.as_bytes()).is_none());
    run_for(&mut sim, Duration::from_secs(10));
    assert!(converged(&sim));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    // Arbitrary bytes after a valid header never panic; if rejected, nothing changed.
    #[test]
    fn arbitrary_datagrams_never_corrupt_a_node(tail in proptest::collection::vec(any::<u8>(), 0..300), stream in any::<bool>()) {
        let mut sim = small_cluster();
        let before = view(&sim, 0);
        let mut bytes = packet(b"", b"node-1", &[]);
        bytes.extend_from_slice(&tail);
        let from = sim.addr(1);
        let result = sim.with_node(0, |n, now| if stream { n.handle_stream(now, from, &bytes) } else { n.handle_datagram(now, from, &bytes) });
        if result.is_err() {
            prop_assert_eq!(view(&sim, 0), before);
            prop_assert_eq!(node(&sim, 0).stats().dropped(), 1);
        }
        run_for(&mut sim, Duration::from_secs(2));
    }
}

// A node that has left takes no input: every packet is refused, typed and counted.
#[test]
fn a_node_that_has_left_refuses_input() {
    let mut sim = small_cluster();
    let before = view(&sim, 0);
    sim.with_node(0, |n, now| n.leave(now)).unwrap();
    let from = sim.addr(1);
    let news =
        [Message::Ping { seq: 9, target: b"node-0" }, Message::Down { incarnation: 0, id: b"node-2", from: b"node-1" }];
    let got = sim.with_node(0, |n, now| n.handle_datagram(now, from, &packet(b"", b"node-1", &news)));
    assert_eq!(got, Err(RecvError::Left));
    assert_eq!(node(&sim, 0).stats().drops[RecvError::Left.kind()], 1);
    assert_eq!(view(&sim, 0), before);
}

// No claim exhausts a member's incarnations (item 1 of issue 14). A spoofed Alive at the
// top of the range, then a cut long enough to be declared Down: the member still refutes,
// and is back Alive everywhere within seconds of the heal (it stayed Down 67 s when
// incarnations were plain integers capped below u32::MAX).
#[test]
fn a_claim_at_the_top_of_the_range_can_still_be_refuted() {
    for (seed, claimed) in [(1, u32::MAX - 1), (2, u32::MAX), (3, (1 << 31) + 7)] {
        let mut sim = cluster(8, seed, Config::lan(8));
        join_first(&mut sim, 8);
        run_for(&mut sim, Duration::from_secs(10));
        assert!(converged(&sim));
        let victim = name(3);
        let (from, addr) = (sim.addr(1), sim.addr(3));
        let claim = Message::Alive { incarnation: claimed, id: victim.as_bytes(), addr, meta: b"" };
        sim.with_node(0, |n, now| n.handle_datagram(now, from, &packet(b"", b"node-1", &[claim]))).unwrap();
        run_for(&mut sim, Duration::from_secs(2));
        crate::util::isolate(&mut sim, 3);
        run_for(&mut sim, Duration::from_secs(8));
        assert!(all_see(&sim, 3, Some(MemberState::Down)), "seed {seed}: the cut-off member is declared Down");
        sim.heal();
        let woke = sim.now;
        let back = run_until(&mut sim, Duration::from_secs(60), Duration::from_millis(100), |s| {
            all_see(s, 3, Some(MemberState::Alive))
        });
        let waited = back.map(|t| t.saturating_since(woke));
        assert!(
            waited.is_some_and(|d| d <= Duration::from_secs(6)),
            "seed {seed}, claim {claimed}: back after {waited:?}"
        );
    }
}

/// Whether no running node has seen member `j` anything but Alive at its own address
/// for `span`, checked every 100 ms.
fn stays_alive_where_it_is(sim: &mut Sim, j: usize, span: Duration) -> bool {
    let (addr, end) = (sim.addr(j), sim.now.saturating_add(span));
    while sim.now < end {
        run_for(sim, Duration::from_millis(100));
        let ok = crate::util::up(sim).filter(|&i| i != j).all(|i| {
            node(sim, i).member(name(j).as_bytes()).is_some_and(|m| m.state() == MemberState::Alive && m.addr() == addr)
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
    let mut sim = small_cluster();
    let before = view(&sim, 0);
    let elsewhere = elsewhere(77, 7);
    let news = [
        Message::Suspect { incarnation: 0, id: b"node-2", from: b"mallory" },
        Message::Down { incarnation: 0, id: b"node-2", from: b"mallory" },
        Message::Left { incarnation: 0, id: b"node-3" },
        Message::UserMessage { payload: b"hello" },
        Message::Broadcast { origin: b"node-4", seq: 1, key: b"", payload: b"spoofed" },
        Message::PingReq { seq: 5, target: b"node-1", addr: elsewhere },
    ];
    let (events_before, refused_before) = (sim.event_log.len(), node(&sim, 0).stats().stranger_messages_refused);
    let (from, bytes) = (stranger_addr(), packet(b"", b"mallory", &news));
    let sent = sim.with_node(0, |n, now| {
        n.handle_datagram(now, from, &bytes).unwrap();
        core::iter::from_fn(|| n.poll_transmit()).filter(|t| t.dest == elsewhere).count()
    });
    assert_eq!(sent, 0, "a stranger's ping-req is not honoured");
    assert_eq!(node(&sim, 0).stats().stranger_messages_refused - refused_before, news.len() as u64);
    assert_eq!(view(&sim, 0), before);
    assert_eq!(sim.event_log.len(), events_before, "nothing reached the application");
    // Known as a member, the same sender would be heard (the rule is about strangers).
    let mut sim = small_cluster();
    let (from, bytes) = (sim.addr(1), packet(b"", b"node-1", &news[2..3]));
    sim.with_node(0, |n, now| n.handle_datagram(now, from, &bytes)).unwrap();
    assert_eq!(sim.view(0, 3), Some(MemberState::Left));
}

// Item 5: whatever goes back to a stranger's datagram (acks to its pings, pings that check
// the members it claims) is no larger than the datagram, and carries no piggybacked news;
// a member's ping gets its ack with news as usual.
#[test]
fn a_stranger_gets_back_no_more_than_it_sent() {
    let mut sim = small_cluster();
    // Some news queued at node 0, to piggyback.
    sim.with_node(0, |n, now| n.set_meta(now, &b"new"[..])).unwrap();
    let ping = Message::Ping { seq: 3, target: b"node-0" };
    let victim = stranger_addr();
    let fakes: Vec<Vec<u8>> = (0..40).map(|i| format!("fake-{i}").into_bytes()).collect();
    let claims: Vec<Message<'_>> = fakes
        .iter()
        .enumerate()
        .map(|(i, id)| Message::Alive { incarnation: 0, id, addr: elsewhere(200 + i, 9), meta: b"" })
        .collect();
    for messages in [vec![ping], [vec![ping], claims].concat()] {
        let bytes = packet(b"", b"m", &messages);
        let out: Vec<_> = sim.with_node(0, |n, now| {
            n.handle_datagram(now, victim, &bytes).unwrap();
            core::iter::from_fn(|| n.poll_transmit()).collect()
        });
        let back: usize = out.iter().map(|t| t.payload.len()).sum();
        assert!(back <= bytes.len(), "{back} bytes back for {}", bytes.len());
        for t in &out {
            let packet = wire::decode(&t.payload, &Limits::default()).unwrap();
            assert_eq!(packet.messages.len(), 1, "a bare answer");
        }
    }
    assert!(node(&sim, 0).stats().stranger_answers_withheld > 0, "not every claim was checked");
    let from = sim.addr(1);
    let member_ping = packet(b"", b"node-1", &[ping]);
    let ack = sim.with_node(0, |n, now| {
        n.handle_datagram(now, from, &member_ping).unwrap();
        n.poll_transmit().unwrap()
    });
    let packet = wire::decode(&ack.payload, &Limits::default()).unwrap();
    assert!(packet.messages.len() > 1, "a member's ack carries news");
}

// Item 2: an Alive that moves a live member elsewhere, at an incarnation far ahead of its
// own, neither from a stranger nor in a member's name (a spoofed sender) takes it out:
// nobody ever sees it other than Alive where it is.
#[test]
fn a_live_member_cannot_be_moved_away() {
    for spoofed in [false, true] {
        let mut sim = small_cluster();
        let (sender, at) = if spoofed { (&b"node-1"[..], sim.addr(1)) } else { (&b"mallory"[..], stranger_addr()) };
        let claim = Message::Alive { incarnation: 1 << 30, id: b"node-3", addr: elsewhere(66, 6), meta: b"" };
        let bytes = packet(b"", sender, &[claim]);
        for i in [0, 2, 4] {
            sim.with_node(i, |n, now| n.handle_datagram(now, at, &bytes)).unwrap();
        }
        assert!(stays_alive_where_it_is(&mut sim, 3, Duration::from_secs(60)), "{}", String::from_utf8_lossy(sender));
    }
}

// Item 3: 1,100 fake members announced to a node by a stranger never keep a real newcomer
// out: it is in every view 5, 30 and 90 s after it joins, and no fake is in any table.
// The same flood in a member's name (a spoofed sender; only a keyring stops that) fills
// the node's table, which still makes room for the newcomer that answers.
#[test]
fn a_flood_of_fake_members_never_locks_out_a_real_one() {
    for (seed, spoofed) in [1, 2, 3].into_iter().flat_map(|seed| [(seed, false), (seed, true)]) {
        let mut sim = cluster(6, seed, Config::lan(6));
        join_first(&mut sim, 5);
        run_for(&mut sim, Duration::from_secs(10));
        let (sender, at) = if spoofed { (&b"node-1"[..], sim.addr(1)) } else { (&b"mallory"[..], stranger_addr()) };
        let fakes: Vec<Vec<u8>> = (0..1_100).map(|i| format!("fake-{i:04}").into_bytes()).collect();
        for (c, chunk) in fakes.chunks(30).enumerate() {
            let claims: Vec<Message<'_>> = chunk
                .iter()
                .enumerate()
                .map(|(k, id)| Message::Alive { incarnation: 0, id, addr: elsewhere(c * 30 + k, 40), meta: b"" })
                .collect();
            let bytes = packet(b"", sender, &claims);
            sim.with_node(0, |n, now| n.handle_datagram(now, at, &bytes)).unwrap();
        }
        run_for(&mut sim, SECOND);
        sim.start(5, &[0]);
        if spoofed {
            run_for(&mut sim, Duration::from_secs(5));
            assert_eq!(node(&sim, 0).peers().count(), 1024, "seed {seed}: the table is full");
            assert_eq!(sim.view(0, 5), Some(MemberState::Alive), "seed {seed}: and took the newcomer");
            assert!(node(&sim, 0).stats().members_evicted >= 1, "seed {seed}");
            continue;
        }
        for (t, after) in [(5, 5), (25, 30), (60, 90)] {
            run_for(&mut sim, Duration::from_secs(t));
            let seen = (0..5).filter(|&i| sim.view(i, 5) == Some(MemberState::Alive)).count();
            assert_eq!(seen, 5, "seed {seed}: the newcomer seen by {seen} of 5 after {after} s");
            assert!((0..6).all(|i| node(&sim, i).peers().count() == 5), "seed {seed}: a fake entered a table");
        }
    }
}
