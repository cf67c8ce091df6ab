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
    h.node(i).members().map(|m| (m.id().clone(), m.state(), m.incarnation(), m.addr())).collect()
}

fn small_cluster() -> Harness {
    let mut h = Harness::new(5, 9, Config::lan(5));
    h.join_all();
    h.run_for(Duration::from_secs(10));
    assert!(h.converged());
    h
}

// Packets from another cluster, from our own id, claiming an impossible incarnation, or
// otherwise undecodable are dropped, typed and counted, and change nothing.
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
        (
            packet(b"", b"node-1", &[Message::Alive { incarnation: u32::MAX, id: b"node-2", addr: from, meta: b"" }]),
            RecvError::Decode(DecodeError::ImpossibleIncarnation),
        ),
    ];
    for (i, (bytes, want)) in cases.iter().enumerate() {
        let of_kind = h.node(0).stats().drops[want.kind()];
        let got = h.with(0, |n, now| n.handle_datagram(now, from, bytes));
        assert_eq!(got, Err(*want));
        assert_eq!(h.node(0).stats().dropped(), i as u64 + 1);
        assert_eq!(h.node(0).stats().drops[want.kind()], of_kind + 1, "{want}");
    }
    let decode = &h.node(0).stats().decode_errors;
    assert_eq!(decode[DecodeError::ImpossibleIncarnation.kind()], 1);
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
