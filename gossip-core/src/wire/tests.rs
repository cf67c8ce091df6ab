//! Codec properties: round trips, no panic on any bytes, and one exact error per malformed
//! input kind.
// Tests may index and unwrap: a panic here is a failed test, not a reachable bug.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use super::*;
use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;

/// Owned form of one member record, borrowed as a [`MemberRecord`] by `view`.
#[derive(Clone, Debug)]
struct OwnedRecord {
    state: MemberState,
    incarnation: u32,
    id: Vec<u8>,
    addr: SocketAddr,
    meta: Vec<u8>,
}

impl OwnedRecord {
    fn view(&self) -> MemberRecord<'_> {
        let OwnedRecord { state, incarnation, ref id, addr, ref meta } = *self;
        MemberRecord { state, incarnation, id, addr, meta }
    }
}

/// Owned form of one message; `view` borrows it as a [`Message`].
#[derive(Clone, Debug)]
enum OwnedMessage {
    Ping(u32, Vec<u8>),
    Ack(u32),
    Nack(u32),
    PingReq(u32, Vec<u8>, SocketAddr),
    Alive(u32, Vec<u8>, SocketAddr, Vec<u8>),
    Suspect(u32, Vec<u8>, Vec<u8>),
    Down(u32, Vec<u8>, Vec<u8>),
    Left(u32, Vec<u8>),
    /// Owner, base, up_to, writes of (key, version, value), and their
    /// `encode_key_writes` output (tag included).
    KeyWrites(Vec<u8>, u64, u64, Vec<OwnedWrite>, Vec<u8>),
    /// Origin, seq, key, payload.
    Broadcast(Vec<u8>, u64, Vec<u8>, Vec<u8>),
    UserMessage(Vec<u8>),
    KeySum(u64),
    /// The records, the digest, the key/value section and their `encode_push_pull`
    /// output (tag included).
    PushPull {
        records: Vec<OwnedRecord>,
        sums: Option<Vec<u64>>,
        kv: Option<OwnedKv>,
        wire: Vec<u8>,
    },
}

impl OwnedMessage {
    fn push_pull(
        join: bool,
        reply: bool,
        records: Vec<OwnedRecord>,
        sums: Option<Vec<u64>>,
        kv: Option<OwnedKv>,
    ) -> Self {
        let mut wire = Vec::new();
        let views = records.iter().map(OwnedRecord::view).collect::<Vec<_>>();
        let section = kv.as_ref().map(OwnedKv::encode);
        encode_push_pull(&mut wire, join, reply, views.into_iter(), sums.as_deref(), section.as_deref());
        OwnedMessage::PushPull { records, sums, kv, wire }
    }

    fn view(&self) -> Message<'_> {
        match self {
            OwnedMessage::Ping(seq, target) => Message::Ping { seq: *seq, target },
            OwnedMessage::Ack(seq) => Message::Ack { seq: *seq },
            OwnedMessage::Nack(seq) => Message::Nack { seq: *seq },
            OwnedMessage::PingReq(seq, target, addr) => Message::PingReq { seq: *seq, target, addr: *addr },
            OwnedMessage::Alive(inc, id, addr, meta) => Message::Alive { incarnation: *inc, id, addr: *addr, meta },
            OwnedMessage::Suspect(inc, id, from) => Message::Suspect { incarnation: *inc, id, from },
            OwnedMessage::Down(inc, id, from) => Message::Down { incarnation: *inc, id, from },
            OwnedMessage::Left(inc, id) => Message::Left { incarnation: *inc, id },
            OwnedMessage::Broadcast(origin, seq, key, payload) => {
                Message::Broadcast { origin, seq: *seq, key, payload }
            }
            OwnedMessage::UserMessage(payload) => Message::UserMessage { payload },
            OwnedMessage::KeySum(sum) => Message::KeySum { sum: *sum },
            // The only public way to a `StateList` is decoding the encoded records.
            OwnedMessage::PushPull { wire, .. } | OwnedMessage::KeyWrites(.., wire) => {
                let mut r = Reader::new(wire);
                let m = read_message(&mut r, &Limits::default()).expect("encode_push_pull output decodes");
                assert!(r.is_empty(), "encode_push_pull wrote trailing bytes");
                m
            }
        }
    }
}

/// Owned form of a whole packet; `view` borrows it as a [`Packet`].
#[derive(Clone, Debug)]
struct OwnedPacket {
    cluster: Vec<u8>,
    sender: Vec<u8>,
    messages: Vec<OwnedMessage>,
}

impl OwnedPacket {
    fn view(&self) -> Packet<'_> {
        let header = Header { cluster: &self.cluster, sender: &self.sender };
        Packet { header, messages: self.messages.iter().map(OwnedMessage::view).collect() }
    }
}

/// Bytes of a length in `min..=max`, the two bounds weighted up so limits get exercised.
fn bytes_in(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![4 => vec(any::<u8>(), min..=max), 1 => vec(any::<u8>(), min), 1 => vec(any::<u8>(), max)]
}

fn id() -> impl Strategy<Value = Vec<u8>> {
    bytes_in(1, 128)
}

fn meta() -> impl Strategy<Value = Vec<u8>> {
    bytes_in(0, 512)
}

fn incarnation() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0), Just(u32::MAX), any::<u32>()]
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((Ipv4Addr::from(ip), port))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((Ipv6Addr::from(ip), port))),
    ]
}

fn state() -> impl Strategy<Value = MemberState> {
    prop_oneof![Just(MemberState::Alive), Just(MemberState::Suspect), Just(MemberState::Down), Just(MemberState::Left)]
}

fn record() -> impl Strategy<Value = OwnedRecord> {
    (state(), incarnation(), id(), addr(), meta()).prop_map(|(state, incarnation, id, addr, meta)| OwnedRecord {
        state,
        incarnation,
        id,
        addr,
        meta,
    })
}

/// Owned form of a key/value section: digest entries, and deltas of
/// (owner, reset, base, up_to, writes of (key, version, value)).
type OwnedWrite = (Vec<u8>, u64, Option<Vec<u8>>);
type OwnedDelta = (Vec<u8>, bool, u64, u64, Vec<OwnedWrite>);
#[derive(Clone, Debug, PartialEq)]
struct OwnedKv {
    scope: OwnedScope,
    digest: Vec<(Vec<u8>, u64)>,
    deltas: Vec<OwnedDelta>,
}

/// Owned form of a [`KvScope`].
#[derive(Clone, Debug, PartialEq)]
enum OwnedScope {
    Complete,
    Sums(Vec<u64>),
    Listed(u8, Vec<u8>),
}

impl OwnedKv {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let scope = match &self.scope {
            OwnedScope::Complete => KvScopeOut::Complete,
            OwnedScope::Sums(sums) => KvScopeOut::Sums(sums),
            OwnedScope::Listed(log2, bits) => KvScopeOut::Listed { log2: *log2, bits },
        };
        encode_section(
            &mut out,
            scope,
            self.digest.iter().map(|(id, v)| (&id[..], *v)),
            self.deltas.iter().map(|(owner, reset, base, up_to, writes)| {
                let writes =
                    writes.iter().map(|(k, version, v)| KvWrite { key: k, version: *version, value: v.as_deref() });
                (&owner[..], *reset, *base, *up_to, writes)
            }),
        );
        out
    }

    fn read(section: &KvSection<'_>) -> Self {
        let scope = match section.scope() {
            KvScope::Complete => OwnedScope::Complete,
            KvScope::Sums(sums) => OwnedScope::Sums(sums.iter().collect()),
            KvScope::Listed(set) => OwnedScope::Listed(set.log2(), set.bits().to_vec()),
        };
        OwnedKv {
            scope,
            digest: section.digest().map(|(id, v)| (id.to_vec(), v)).collect(),
            deltas: section
                .deltas()
                .map(|d| {
                    let writes = d.writes().map(|w| (w.key.to_vec(), w.version, w.value.map(<[u8]>::to_vec))).collect();
                    (d.owner.to_vec(), d.reset, d.base, d.up_to, writes)
                })
                .collect(),
        }
    }
}

fn kv_section() -> impl Strategy<Value = Option<OwnedKv>> {
    let write = (bytes_in(0, 8), any::<u64>(), proptest::option::of(bytes_in(0, 16)));
    let delta = (id(), any::<bool>(), any::<u64>(), any::<u64>(), vec(write, 0..4));
    // A listing's bitmap has no bit set past its last bucket.
    let listed = (0..=super::MAX_SUMS_LOG2).prop_flat_map(|log2| {
        vec(any::<u8>(), bitmap_len(log2)).prop_map(move |mut bits| {
            if log2 < 3 {
                bits[0] &= (1u8 << (1u8 << log2)) - 1;
            }
            OwnedScope::Listed(log2, bits)
        })
    });
    let scope = prop_oneof![
        Just(OwnedScope::Complete),
        (0..=4u8).prop_flat_map(|log2| vec(any::<u64>(), 1 << log2)).prop_map(OwnedScope::Sums),
        listed,
    ];
    proptest::option::of(
        (scope, vec((id(), any::<u64>()), 0..4), vec(delta, 0..3)).prop_map(|(scope, digest, deltas)| OwnedKv {
            scope,
            digest,
            deltas,
        }),
    )
}

/// A digest of 1 to 8 buckets, or none.
fn sums() -> impl Strategy<Value = Option<Vec<u64>>> {
    proptest::option::of((0..=3usize).prop_flat_map(|log2| vec(any::<u64>(), 1 << log2)))
}

/// A [`Message::KeyWrites`] of up to three writes.
fn key_writes() -> impl Strategy<Value = OwnedMessage> {
    let write = (bytes_in(0, 256), any::<u64>(), proptest::option::of(bytes_in(0, 64)));
    (id(), any::<u64>(), any::<u64>(), vec(write, 0..4)).prop_map(|(o, base, up_to, writes)| {
        let mut wire = Vec::new();
        let views = writes.iter().map(|(k, version, v)| KvWrite { key: k, version: *version, value: v.as_deref() });
        encode_key_writes(&mut wire, &o, base, up_to, views);
        OwnedMessage::KeyWrites(o, base, up_to, writes, wire)
    })
}

fn message() -> impl Strategy<Value = OwnedMessage> {
    prop_oneof![
        (any::<u32>(), id()).prop_map(|(s, t)| OwnedMessage::Ping(s, t)),
        any::<u32>().prop_map(OwnedMessage::Ack),
        any::<u32>().prop_map(OwnedMessage::Nack),
        (any::<u32>(), id(), addr()).prop_map(|(s, t, a)| OwnedMessage::PingReq(s, t, a)),
        (incarnation(), id(), addr(), meta()).prop_map(|(i, id, a, m)| OwnedMessage::Alive(i, id, a, m)),
        (incarnation(), id(), id()).prop_map(|(i, id, f)| OwnedMessage::Suspect(i, id, f)),
        (incarnation(), id(), id()).prop_map(|(i, id, f)| OwnedMessage::Down(i, id, f)),
        (incarnation(), id()).prop_map(|(i, id)| OwnedMessage::Left(i, id)),
        key_writes(),
        (id(), any::<u64>(), bytes_in(0, 256), bytes_in(0, 64))
            .prop_map(|(o, s, k, p)| OwnedMessage::Broadcast(o, s, k, p)),
        bytes_in(0, 64).prop_map(OwnedMessage::UserMessage),
        any::<u64>().prop_map(OwnedMessage::KeySum),
        (any::<bool>(), any::<bool>(), vec(record(), 0..6), sums(), kv_section())
            .prop_map(|(j, r, rs, sums, kv)| OwnedMessage::push_pull(j, r, rs, sums, kv)),
    ]
}

fn packet() -> impl Strategy<Value = OwnedPacket> {
    (bytes_in(0, MAX_CLUSTER_LEN), id(), vec(message(), 1..8)).prop_map(|(cluster, sender, messages)| OwnedPacket {
        cluster,
        sender,
        messages,
    })
}

/// Encodes a packet, checking that `encoded_len` is exactly what was written.
fn encode(p: &Packet<'_>) -> Vec<u8> {
    let mut out = BytesMut::new();
    p.encode(&mut out);
    assert_eq!(out.len(), p.encoded_len(), "Packet::encoded_len");
    out.to_vec()
}

fn header_bytes(cluster: &[u8], sender: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let h = Header { cluster, sender };
    h.encode(&mut out);
    assert_eq!(out.len(), h.encoded_len(), "Header::encoded_len");
    out
}

/// Whatever decoded re-encodes to bytes that decode to the same packet.
fn assert_reencodes(p: &Packet<'_>) -> Result<(), TestCaseError> {
    let again = encode(p);
    let q = decode(&again, &Limits::default());
    prop_assert_eq!(q.as_ref().map(|q| (q.header, &q.messages[..])), Ok((p.header, &p.messages[..])));
    Ok(())
}

proptest! {
    // Encoding a packet writes `encoded_len` bytes, and decoding them gives the same packet back.
    #[test]
    fn packets_round_trip(owned in packet()) {
        // `bytes` first: `Packet` is invariant in its lifetime, so it must outlive `p`.
        let bytes = encode(&owned.view());
        let p = owned.view();
        for m in &p.messages {
            let mut out = Vec::new();
            m.encode(&mut out);
            prop_assert_eq!(out.len(), m.encoded_len());
        }
        let decoded = decode(&bytes, &Limits::default());
        prop_assert_eq!(decoded, Ok(p));
    }

    // A decoded push-pull re-encodes byte for byte and iterates back the records encoded.
    #[test]
    fn push_pull_records_round_trip(
        join: bool,
        reply: bool,
        records in vec(record(), 0..12),
        sums in sums(),
        kv in kv_section(),
    ) {
        let owned = OwnedMessage::push_pull(join, reply, records, sums, kv);
        let OwnedMessage::PushPull { records, sums, kv, wire } = &owned else { unreachable!() };
        let Message::PushPull { join: j, reply: r, states, sums: got_sums, kv: got_kv } = owned.view() else {
            panic!("not a push-pull")
        };
        prop_assert_eq!((j, r, states.len(), states.is_empty()), (join, reply, records.len(), records.is_empty()));
        prop_assert_eq!(got_sums.map(|s| s.iter().collect::<Vec<_>>()), sums.clone());
        prop_assert_eq!(got_kv.map(|s| OwnedKv::read(&s)), kv.clone());
        let mut again = Vec::new();
        owned.view().encode(&mut again);
        prop_assert_eq!(&again, wire);
        let got: Vec<_> = states.iter().collect();
        let want: Vec<_> = records.iter().map(OwnedRecord::view).collect();
        prop_assert_eq!(got, want);
        for rec in records {
            let mut out = Vec::new();
            rec.view().encode(&mut out);
            prop_assert_eq!(out.len(), rec.view().encoded_len());
        }
    }

    // A decoded batch of key writes gives back its owner, base, up_to and writes, and
    // re-encodes byte for byte.
    #[test]
    fn key_writes_round_trip(owned in key_writes()) {
        let OwnedMessage::KeyWrites(owner, base, up_to, writes, wire) = &owned else { unreachable!() };
        let Message::KeyWrites { delta } = owned.view() else { panic!("not key writes") };
        prop_assert_eq!((delta.owner, delta.reset, delta.base, delta.up_to), (&owner[..], false, *base, *up_to));
        let got: Vec<OwnedWrite> = delta.writes().map(|w| (w.key.to_vec(), w.version, w.value.map(<[u8]>::to_vec))).collect();
        prop_assert_eq!(&got, writes);
        let mut again = Vec::new();
        owned.view().encode(&mut again);
        prop_assert_eq!(&again, wire);
    }

    // Arbitrary bytes never panic the decoder.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..2000)) {
        let _ = decode(&bytes, &Limits::default());
    }

    // Arbitrary bytes after a valid header never panic, and anything accepted re-encodes.
    #[test]
    fn arbitrary_body_never_panics(
        cluster in bytes_in(0, MAX_CLUSTER_LEN),
        sender in id(),
        tail in vec(any::<u8>(), 0..2000),
    ) {
        let mut bytes = header_bytes(&cluster, &sender);
        bytes.extend(tail);
        if let Ok(p) = decode(&bytes, &Limits::default()) {
            assert_reencodes(&p)?;
        }
    }

    // Flipping, truncating or inserting bytes in a valid packet never panics, and anything
    // still accepted re-encodes to bytes that decode to the same packet.
    #[test]
    fn mutated_packets_never_panic(
        owned in packet(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..6),
    ) {
        let mut bytes = encode(&owned.view());
        for (at, value, kind) in edits {
            let at = at.index(bytes.len() + 1);
            match kind {
                0 if at < bytes.len() => bytes[at] ^= value.max(1),
                1 => bytes.truncate(at),
                _ => bytes.insert(at, value),
            }
        }
        if let Ok(p) = decode(&bytes, &Limits::default()) {
            assert_reencodes(&p)?;
        }
    }
}

/// A header with an empty cluster and sender `n`, followed by `body`.
fn with_body(body: &[u8]) -> Vec<u8> {
    let mut bytes = header_bytes(b"", b"n");
    bytes.extend_from_slice(body);
    bytes
}

/// One valid 16-byte member record (the smallest there is) in state `state`.
fn record_bytes(state: u8) -> [u8; 16] {
    [state, 0, 0, 0, 1, 1, b'a', 4, 10, 0, 0, 1, 0x1F, 0x90, 0, 0]
}

/// A key/value section of one delta (owner "o") with one write of key "k" whose kind byte
/// is `kind`: a set of an empty value for 1, nothing after the kind otherwise.
fn kv_write_bytes(kind: u8) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 0, 0, 0, 0, 0, 1, 1, b'o', 0];
    v.extend_from_slice(&[0; 16]);
    v.extend_from_slice(&[0, 0, 0, 1, 0, 1, b'k']);
    v.extend_from_slice(&[0; 8]);
    v.push(kind);
    if kind == 1 {
        v.extend_from_slice(&[0; 4]);
    }
    v
}

/// Like [`kv_write_bytes`] with a set of a key `len` bytes long.
fn kv_write_bytes_key(len: u16) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 0, 0, 0, 0, 0, 1, 1, b'o', 0];
    v.extend_from_slice(&[0; 16]);
    v.extend_from_slice(&[0, 0, 0, 1]);
    v.extend_from_slice(&len.to_be_bytes());
    v.extend(core::iter::repeat_n(b'k', usize::from(len)));
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&[1, 0, 0, 0, 0]);
    v
}

fn push_pull_body(flags: u8, count: u32, records: &[u8]) -> Vec<u8> {
    let mut body = vec![tag::PUSH_PULL, flags];
    body.extend_from_slice(&count.to_be_bytes());
    body.extend_from_slice(records);
    with_body(&body)
}

/// Declares one test per malformed input, each asserting its exact error, and
/// `error_cases()` listing them all for the kind checks.
macro_rules! error_cases {
    ($($(#[$doc:meta])* $name:ident: $bytes:expr, $limits:expr => $want:expr;)*) => {
        $(
            $(#[$doc])*
            #[test]
            fn $name() {
                assert_eq!(decode(&$bytes, &$limits), Err($want));
            }
        )*
        fn error_cases() -> Vec<(Vec<u8>, Limits, DecodeError)> {
            vec![$(($bytes.to_vec(), $limits, $want)),*]
        }
    };
}

const DEFAULT: Limits = Limits {
    max_id_len: 128,
    max_meta_len: 512,
    max_messages: 255,
    max_push_pull_members: 65_536,
    max_key_len: 256,
    max_value_len: 4096,
};

error_cases! {
    /// A version other than `VERSION` is refused before anything else is read.
    wrong_version: [2u8, 0, 0, 1, b'n', 2, 0, 0, 0, 0], DEFAULT => DecodeError::UnsupportedVersion(2);
    /// Any nonzero header flag byte is refused.
    header_flags: [1u8, 0x80, 0, 1, b'n', 2, 0, 0, 0, 0], DEFAULT => DecodeError::UnknownFlags(0x80);
    /// A tag past the last known one is refused.
    unknown_tag: with_body(&[14, 0, 0, 0, 0]), DEFAULT => DecodeError::UnknownMessage(14);
    /// A zero-length sender id is refused.
    empty_sender: [1u8, 0, 0, 0, 2, 0, 0, 0, 0], DEFAULT => DecodeError::EmptyId { field: "sender" };
    /// An id one byte over `max_id_len` is refused.
    long_sender: header_bytes(b"", &[b'x'; 129]), DEFAULT => DecodeError::TooLong { field: "sender", len: 129, max: 128 };
    /// A member id over a tightened `max_id_len` is refused.
    long_member_id: with_body(&[8, 0, 0, 0, 1, 4, b'a', b'b', b'c', b'd']), Limits { max_id_len: 3, ..DEFAULT }
        => DecodeError::TooLong { field: "member id", len: 4, max: 3 };
    /// A cluster name over `MAX_CLUSTER_LEN` is refused.
    long_cluster: [1u8, 0, 65], DEFAULT => DecodeError::TooLong { field: "cluster", len: 65, max: MAX_CLUSTER_LEN };
    /// Metadata one byte over `max_meta_len` is refused before its bytes are read.
    long_meta: with_body(&[5, 0, 0, 0, 1, 1, b'a', 4, 1, 2, 3, 4, 0, 80, 2, 1]), DEFAULT
        => DecodeError::TooLong { field: "meta", len: 513, max: 512 };
    /// A header with nothing after it carries no message.
    header_only: with_body(&[]), DEFAULT => DecodeError::NoMessages;
    /// An ack cut inside its sequence number names the field.
    truncated_ack: with_body(&[2, 0, 0]), DEFAULT => DecodeError::Truncated { field: "seq" };
    /// An address family other than 4 or 6 is refused.
    address_family: with_body(&[4, 0, 0, 0, 1, 1, b'a', 5, 1, 2, 3, 4, 0, 80]), DEFAULT
        => DecodeError::UnknownAddressFamily(5);
    /// A million members claimed in 16 bytes fail on the count, before any record is read.
    huge_push_pull: push_pull_body(0, 1_000_000, &record_bytes(0)), DEFAULT
        => DecodeError::TooMany { field: "push-pull members", count: 1_000_000, max: 1 };
    /// A push-pull over a tightened `max_push_pull_members` is refused.
    push_pull_limit: push_pull_body(0, 2, &[record_bytes(0), record_bytes(1)].concat()),
        Limits { max_push_pull_members: 1, ..DEFAULT }
        => DecodeError::TooMany { field: "push-pull members", count: 2, max: 1 };
    /// One ack more than `max_messages` is refused.
    too_many_acks: with_body(&[2, 0, 0, 0, 7].repeat(256)), DEFAULT
        => DecodeError::TooMany { field: "messages", count: 256, max: 255 };
    /// A member state byte outside 0..=3 is refused.
    member_state: push_pull_body(0, 1, &record_bytes(4)), DEFAULT => DecodeError::UnknownState(4);
    /// Push-pull flags with a bit other than join, reply, digest and key/value are refused.
    push_pull_flags: push_pull_body(0b1_0000, 0, &[]), DEFAULT => DecodeError::UnknownFlags(0b1_0000);
    /// A key/value write that is neither a delete nor a set is refused.
    write_kind: push_pull_body(0b1000, 0, &kv_write_bytes(2)), DEFAULT => DecodeError::UnknownWriteKind(2);
    /// A key over `max_key_len` is refused before its bytes are read.
    long_key: push_pull_body(0b1000, 0, &kv_write_bytes_key(257)), DEFAULT
        => DecodeError::TooLong { field: "key", len: 257, max: 256 };
    /// A digest of more than `MAX_BUCKETS` buckets is refused before its sums are read.
    huge_digest: push_pull_body(0b100, 0, &[11]), DEFAULT
        => DecodeError::TooMany { field: "digest buckets", count: 2048, max: MAX_BUCKETS };
    /// A key/value digest scope other than complete, sums or listed is refused.
    kv_scope: push_pull_body(0b1000, 0, &[3, 0, 0, 0, 0, 0, 0, 0, 0]), DEFAULT => DecodeError::UnknownDigestScope(3);
    /// A key/value listing of more than `MAX_BUCKETS` buckets is refused before its bitmap is read.
    huge_kv_listing: push_pull_body(0b1000, 0, &[2, 11]), DEFAULT
        => DecodeError::TooMany { field: "key digest buckets", count: 2048, max: MAX_BUCKETS };
    /// A listing of two buckets with a third bit set is refused.
    kv_listing_bits: push_pull_body(0b1000, 0, &[2, 1, 0b111, 0, 0, 0, 0, 0, 0, 0, 0]), DEFAULT
        => DecodeError::UnknownFlags(0b111);
    /// A digest cut short names the field.
    truncated_digest: push_pull_body(0b100, 0, &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0]), DEFAULT
        => DecodeError::Truncated { field: "digest sums" };
}

// The malformed inputs above are valid once the one defect is repaired, so each test fails
// for the reason it names.
#[test]
fn repaired_cases_decode() {
    let ok = |bytes: &[u8], limits: &Limits| decode(bytes, limits).map(|p| p.messages.len());
    assert_eq!(ok(&[1, 0, 0, 1, b'n', 2, 0, 0, 0, 0], &DEFAULT), Ok(1));
    assert_eq!(ok(&header_bytes(b"", &[b'x'; 128]), &DEFAULT), Err(DecodeError::NoMessages));
    assert_eq!(ok(&with_body(&[8, 255, 255, 255, 254, 1, b'a']), &DEFAULT), Ok(1));
    assert_eq!(ok(&with_body(&[5, 0, 0, 0, 1, 1, b'a', 4, 1, 2, 3, 4, 0, 80, 0, 0]), &DEFAULT), Ok(1));
    assert_eq!(ok(&push_pull_body(0b11, 1, &record_bytes(3)), &DEFAULT), Ok(1));
    assert_eq!(ok(&push_pull_body(0b1000, 0, &kv_write_bytes(1)), &DEFAULT), Ok(1));
    assert_eq!(ok(&push_pull_body(0b1000, 0, &kv_write_bytes_key(256)), &DEFAULT), Ok(1));
    assert_eq!(ok(&push_pull_body(0b111, 0, &[[0].as_slice(), &[0; 8]].concat()), &DEFAULT), Ok(1));
    assert_eq!(ok(&push_pull_body(0b100, 0, &[[10].as_slice(), &[0; 8192]].concat()), &DEFAULT), Ok(1));
    assert_eq!(ok(&push_pull_body(0b1000, 0, &[0, 0, 0, 0, 0, 0, 0, 0, 0]), &DEFAULT), Ok(1));
    assert_eq!(ok(&push_pull_body(0b1000, 0, &[[2, 10].as_slice(), &[0xff; 128], &[0; 8]].concat()), &DEFAULT), Ok(1));
    assert_eq!(ok(&push_pull_body(0b1000, 0, &[2, 1, 0b11, 0, 0, 0, 0, 0, 0, 0, 0]), &DEFAULT), Ok(1));
    assert_eq!(ok(&with_body(&[2, 0, 0, 0, 7].repeat(255)), &DEFAULT), Ok(255));
    assert_eq!(DEFAULT, Limits::default());
}

// Every error produced above has a kind below `KINDS`, a name and a non-empty message; kinds
// are equal exactly when variants are, and together they cover every kind.
#[test]
fn error_kinds_are_distinct_and_displayed() {
    let mut errors: Vec<DecodeError> = error_cases()
        .iter()
        .map(|(bytes, limits, want)| {
            let got = decode(bytes, limits).unwrap_err();
            assert_eq!(got, *want);
            got
        })
        .collect();
    errors.push(DecodeError::BadCompression); // raised by `compress::inflate`, not by `decode`
    for a in &errors {
        assert!(a.kind() < DecodeError::KINDS, "{a:?}");
        assert!(!DecodeError::KIND_NAMES[a.kind()].is_empty());
        assert!(!a.to_string().is_empty(), "{a:?}");
        for b in &errors {
            let same_variant = core::mem::discriminant(a) == core::mem::discriminant(b);
            assert_eq!(a.kind() == b.kind(), same_variant, "{a:?} vs {b:?}");
        }
    }
    let kinds: alloc::collections::BTreeSet<usize> = errors.iter().map(DecodeError::kind).collect();
    assert_eq!(kinds.len(), DecodeError::KINDS);
}

// The largest Alive the protocol budgets for is the largest one the encoder writes.
#[test]
fn the_largest_alive_is_as_long_as_the_encoder_makes_it() {
    for (id_len, meta_len) in [(1, 0), (64, 512), (255, 1024)] {
        let (id, meta) = (vec![b'i'; id_len], vec![b'm'; meta_len]);
        let addr = SocketAddr::from(([0xfe80, 0, 0, 0, 0, 0, 0, 1], 7946));
        let alive = Message::Alive { incarnation: u32::MAX, id: &id, addr, meta: &meta };
        let mut out = BytesMut::new();
        alive.encode(&mut out);
        assert_eq!(max_alive_len(id_len, meta_len), out.len());
    }
}

// The largest probe the settings are checked against is the largest one the encoder writes.
#[test]
fn the_largest_probe_is_as_long_as_the_encoder_makes_it() {
    for (cluster_len, id_len) in [(0, 1), (12, 64), (64, 255)] {
        let (cluster, id) = (vec![b'c'; cluster_len], vec![b'i'; id_len]);
        let mut out = BytesMut::new();
        Header { cluster: &cluster, sender: &id }.encode(&mut out);
        Message::Suspect { incarnation: 1, id: &id, from: &id }.encode(&mut out);
        Message::Ping { seq: 1, target: &id }.encode(&mut out);
        assert_eq!(max_probe_len(cluster_len, id_len), out.len());
    }
}
