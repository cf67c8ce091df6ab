//! Codec properties: round trips, no panic on any bytes, and one exact error per malformed
//! input kind.
// Tests may index and unwrap: a panic here is a failed test, not a reachable bug.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic, clippy::arithmetic_side_effects)]

use super::*;
use bytes::BytesMut;
use proptest::prelude::*;

/// Owned form of a message, so proptest can generate it; `view` borrows it as a `Message`.
#[derive(Clone, Debug)]
enum Owned {
    Ping(u32, Vec<u8>),
    Ack(u32),
    Nack(u32),
    PingReq(u32, Vec<u8>, SocketAddr),
    Alive(u32, Vec<u8>, SocketAddr, Vec<u8>),
    Suspect(u32, Vec<u8>, Vec<u8>),
    Down(u32, Vec<u8>, Vec<u8>),
    Left(u32, Vec<u8>),
    PushPull(bool, bool, Vec<OwnedRecord>),
}

#[derive(Clone, Debug)]
struct OwnedRecord(MemberState, u32, Vec<u8>, SocketAddr, Vec<u8>);

impl OwnedRecord {
    fn view(&self) -> MemberRecord<'_> {
        MemberRecord { state: self.0, incarnation: self.1, id: &self.2, addr: self.3, meta: &self.4 }
    }
}

/// Encodes a push-pull body from owned records and decodes it back as a borrowed list.
fn push_pull_bytes(join: bool, reply: bool, records: &[OwnedRecord]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_push_pull(&mut out, join, reply, records.iter().map(OwnedRecord::view).collect::<Vec<_>>().into_iter());
    out.to_vec()
}

impl Owned {
    /// Encodes the message alone (no header).
    fn encode(&self) -> Vec<u8> {
        let m = match self {
            Owned::Ping(s, t) => Message::Ping { seq: *s, target: t },
            Owned::Ack(s) => Message::Ack { seq: *s },
            Owned::Nack(s) => Message::Nack { seq: *s },
            Owned::PingReq(s, t, a) => Message::PingReq { seq: *s, target: t, addr: *a },
            Owned::Alive(i, id, a, m) => Message::Alive { incarnation: *i, id, addr: *a, meta: m },
            Owned::Suspect(i, id, f) => Message::Suspect { incarnation: *i, id, from: f },
            Owned::Down(i, id, f) => Message::Down { incarnation: *i, id, from: f },
            Owned::Left(i, id) => Message::Left { incarnation: *i, id },
            Owned::PushPull(j, r, records) => return push_pull_bytes(*j, *r, records),
        };
        let mut out = BytesMut::new();
        m.encode(&mut out);
        assert_eq!(out.len(), m.encoded_len());
        out.to_vec()
    }
}

fn id() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..=128)
}

fn meta() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=512)
}

fn incarnation() -> impl Strategy<Value = u32> {
    prop_oneof![0..16u32, 0..u32::MAX]
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((Ipv6Addr::from(ip), port))),
    ]
}

fn state() -> impl Strategy<Value = MemberState> {
    prop_oneof![Just(MemberState::Alive), Just(MemberState::Suspect), Just(MemberState::Down), Just(MemberState::Left)]
}

fn record() -> impl Strategy<Value = OwnedRecord> {
    (state(), incarnation(), id(), addr(), meta()).prop_map(|(s, i, id, a, m)| OwnedRecord(s, i, id, a, m))
}

fn message() -> impl Strategy<Value = Owned> {
    prop_oneof![
        (any::<u32>(), id()).prop_map(|(s, t)| Owned::Ping(s, t)),
        any::<u32>().prop_map(Owned::Ack),
        any::<u32>().prop_map(Owned::Nack),
        (any::<u32>(), id(), addr()).prop_map(|(s, t, a)| Owned::PingReq(s, t, a)),
        (incarnation(), id(), addr(), meta()).prop_map(|(i, id, a, m)| Owned::Alive(i, id, a, m)),
        (incarnation(), id(), id()).prop_map(|(i, id, f)| Owned::Suspect(i, id, f)),
        (incarnation(), id(), id()).prop_map(|(i, id, f)| Owned::Down(i, id, f)),
        (incarnation(), id()).prop_map(|(i, id)| Owned::Left(i, id)),
        (any::<bool>(), any::<bool>(), proptest::collection::vec(record(), 0..6))
            .prop_map(|(j, r, rs)| Owned::PushPull(j, r, rs)),
    ]
}

fn header_bytes(cluster: &[u8], sender: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    let h = Header { cluster, sender };
    h.encode(&mut out);
    assert_eq!(out.len(), h.encoded_len());
    out.to_vec()
}

/// A packet built by concatenating a header and encoded messages.
fn packet_bytes(cluster: &[u8], sender: &[u8], messages: &[Owned]) -> Vec<u8> {
    let mut bytes = header_bytes(cluster, sender);
    for m in messages {
        bytes.extend(m.encode());
    }
    bytes
}

fn reencode(p: &Packet<'_>) -> Vec<u8> {
    let mut out = BytesMut::new();
    p.encode(&mut out);
    assert_eq!(out.len(), p.encoded_len());
    out.to_vec()
}

proptest! {
    // Any valid packet decodes, re-encodes to the same bytes, and keeps every field.
    #[test]
    fn valid_packets_round_trip(
        cluster in proptest::collection::vec(any::<u8>(), 0..=64),
        sender in id(),
        messages in proptest::collection::vec(message(), 1..8),
    ) {
        let bytes = packet_bytes(&cluster, &sender, &messages);
        let p = decode(&bytes, &Limits::default()).unwrap();
        prop_assert_eq!(p.header, Header { cluster: &cluster, sender: &sender });
        prop_assert_eq!(p.messages.len(), messages.len());
        prop_assert_eq!(&reencode(&p), &bytes);
        for (got, want) in p.messages.iter().zip(&messages) {
            if let (Message::PushPull { join, reply, states }, Owned::PushPull(j, r, records)) = (got, want) {
                prop_assert_eq!((*join, *reply), (*j, *r));
                let got: Vec<_> = states.iter().collect();
                let want: Vec<_> = records.iter().map(OwnedRecord::view).collect();
                prop_assert_eq!(got, want);
            }
        }
    }

    // Arbitrary bytes never panic the decoder.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = decode(&bytes, &Limits::default());
    }

    // Arbitrary bytes after a valid header never panic, and whatever decodes re-encodes
    // to bytes that decode to the same packet.
    #[test]
    fn arbitrary_body_never_panics(sender in id(), tail in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut bytes = header_bytes(b"c", &sender);
        bytes.extend(tail);
        if let Ok(p) = decode(&bytes, &Limits::default()) {
            // Compared as bytes: the encoding is canonical, so equal bytes mean equal packets.
            let again = reencode(&p);
            let twice = decode(&again, &Limits::default()).map(|q| reencode(&q));
            prop_assert_eq!(twice, Ok(again.clone()));
        }
    }

    // Flipping, truncating or inserting bytes in a valid packet never panics; any packet
    // still accepted re-encodes canonically.
    #[test]
    fn mutated_packets_never_panic(
        messages in proptest::collection::vec(message(), 1..4),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0..3u8), 1..6),
    ) {
        let mut bytes = packet_bytes(b"", b"node", &messages);
        for (at, value, kind) in edits {
            let at = at % (bytes.len() + 1);
            match kind {
                0 if at < bytes.len() => bytes[at] ^= value | 1,
                1 => bytes.truncate(at),
                _ => bytes.insert(at, value),
            }
        }
        if let Ok(p) = decode(&bytes, &Limits::default()) {
            // Compared as bytes: the encoding is canonical, so equal bytes mean equal packets.
            let again = reencode(&p);
            let twice = decode(&again, &Limits::default()).map(|q| reencode(&q));
            prop_assert_eq!(twice, Ok(again.clone()));
        }
    }
}

fn err(bytes: &[u8]) -> DecodeError {
    decode(bytes, &Limits::default()).unwrap_err()
}

fn with_body(body: &[u8]) -> Vec<u8> {
    let mut bytes = header_bytes(b"", b"n");
    bytes.extend_from_slice(body);
    bytes
}

// Each malformed input is rejected with the one error that names what is wrong.
#[test]
fn each_malformation_has_its_own_error() {
    let long_id = vec![b'x'; 200];
    let cases: Vec<(Vec<u8>, DecodeError)> = vec![
        (vec![], DecodeError::Truncated { field: "version" }),
        (vec![2, 0, 0, 1, b'n', 2, 0, 0, 0, 0], DecodeError::UnsupportedVersion(2)),
        (vec![1, 4, 0, 1, b'n', 2, 0, 0, 0, 0], DecodeError::UnknownFlags(4)),
        (vec![1, 0, 65], DecodeError::TooLong { field: "cluster", len: 65, max: 64 }),
        (vec![1, 0, 0, 0], DecodeError::EmptyId { field: "sender" }),
        (header_bytes(b"", &long_id), DecodeError::TooLong { field: "sender", len: 200, max: 128 }),
        (header_bytes(b"", b"n"), DecodeError::NoMessages),
        (with_body(&[99]), DecodeError::UnknownMessage(99)),
        (with_body(&[2, 0, 0]), DecodeError::Truncated { field: "seq" }),
        (with_body(&[8, 255, 255, 255, 255, 1, b'a']), DecodeError::ImpossibleIncarnation),
        (with_body(&[4, 0, 0, 0, 1, 1, b'a', 5, 0, 0]), DecodeError::UnknownAddressFamily(5)),
        (
            with_body(&[5, 0, 0, 0, 1, 1, b'a', 4, 1, 2, 3, 4, 0, 80, 2, 1]),
            DecodeError::TooLong { field: "meta", len: 513, max: 512 },
        ),
        (with_body(&[9, 4, 0, 0, 0, 0]), DecodeError::UnknownFlags(4)),
        (
            with_body(&[9, 0, 0, 0, 0, 1, 7, 0, 0, 0, 0, 1, b'a', 4, 1, 2, 3, 4, 0, 80, 0, 0]),
            DecodeError::UnknownState(7),
        ),
    ];
    let mut kinds = std::collections::BTreeSet::new();
    for (bytes, want) in &cases {
        assert_eq!(err(bytes), *want, "input {bytes:?}");
        assert!(want.kind() < DecodeError::KINDS);
        assert!(!want.to_string().is_empty());
        kinds.insert(want.kind());
    }
    // Every kind but TooMany is covered above; TooMany has its own test.
    assert_eq!(kinds.len(), DecodeError::KINDS - 1);
}

// Counts a peer claims are capped by the bytes that follow and by the limits, before
// anything is allocated.
#[test]
fn claimed_counts_are_capped_before_allocation() {
    // A push-pull claiming a million members in a few bytes.
    let huge = with_body(&[9, 0, 0, 0x0F, 0x42, 0x40, 0, 0, 0]);
    assert!(matches!(err(&huge), DecodeError::TooMany { field: "push-pull members", count: 1_000_000, .. }));
    // More acks than `max_messages`.
    let limits = Limits { max_messages: 4, ..Limits::default() };
    let mut five = header_bytes(b"", b"n");
    for seq in 0..5u8 {
        five.extend_from_slice(&[2, 0, 0, 0, seq]);
    }
    assert_eq!(decode(&five, &limits).unwrap_err(), DecodeError::TooMany { field: "messages", count: 5, max: 4 });
    assert_eq!(DecodeError::TooMany { field: "x", count: 1, max: 0 }.kind(), 8);
}

// Stricter limits reject what the defaults accept.
#[test]
fn limits_are_honoured() {
    let bytes = packet_bytes(b"", b"sender-id", &[Owned::Left(1, b"abcdef".to_vec())]);
    assert!(decode(&bytes, &Limits::default()).is_ok());
    let tight = Limits { max_id_len: 5, ..Limits::default() };
    assert_eq!(decode(&bytes, &tight).unwrap_err(), DecodeError::TooLong { field: "sender", len: 9, max: 5 });
}
