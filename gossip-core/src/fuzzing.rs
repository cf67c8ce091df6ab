//! Fuzz bodies, shared by the cargo-fuzz targets in `fuzz/` and by proptest cases that run
//! them on stable in `cargo test`. Built with `cfg(test)` or the `fuzzing` feature.
//!
//! Each body asserts the crate's promises about hostile input; a panic is a finding.

use crate::prelude::*;
use crate::wire::{self, Header, Limits, MemberRecord, Message, Packet};
use crate::{Config, Identity, MemberState, Node, NodeId, Time};
use arbitrary::Arbitrary;
use bytes::BytesMut;
use core::net::SocketAddr;
use core::time::Duration;
use smallvec::smallvec;

/// Decodes arbitrary bytes with the default [`Limits`]. Must never panic; whatever decodes
/// must re-encode to exactly `encoded_len` bytes, and those bytes must decode to an equal
/// packet that re-encodes to the same bytes (the encoding is canonical).
pub fn decode(data: &[u8]) {
    let limits = Limits::default();
    let Ok(packet) = wire::decode(data, &limits) else { return };
    let out = encode(&packet);
    assert_eq!(out.len(), packet.encoded_len(), "encoded_len disagrees with encode");
    let again = wire::decode(&out, &limits).expect("a re-encoded packet decodes");
    // Field by field: `Packet` is invariant in its lifetime, and `again` borrows `out`.
    assert_eq!(again.header, packet.header, "re-encoding changed the header");
    assert_eq!(again.messages[..], packet.messages[..], "re-encoding changed the messages");
    assert_eq!(encode(&again), out, "the encoding is not canonical");
}

/// The decrypting decoder (feature `encryption`): the first byte of `data` picks what to do
/// with the rest. Odd: the rest is taken as a sealed packet as received, which no key of the
/// ring may open (it was not sealed with one) and which must never panic. Even: the rest is
/// a plain packet, sealed with the ring's second key, then one byte is flipped when the
/// first byte says so; the ring must open exactly the untouched seal, to exactly the plain
/// bytes, which then go through [`decode`].
#[cfg(feature = "encryption")]
pub fn open_sealed(data: &[u8]) {
    use crate::seal::Keyring;
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut ring = Keyring::new([1; 32]);
    ring.add([2; 32]).expect("room for a second key");
    if mode & 1 == 1 {
        assert_eq!(ring.open(rest), None, "a packet sealed with no key of the ring opened");
        return;
    }
    let mut sender = Keyring::new([2; 32]);
    sender.add([3; 32]).expect("room");
    let nonce = [mode; 24];
    let mut sealed = sender.seal(nonce, rest);
    let flip = usize::from(mode >> 1);
    let tampered = mode & 2 == 2 && flip < sealed.len();
    if tampered && let Some(byte) = sealed.get_mut(flip) {
        *byte ^= 0x80;
    }
    match ring.open(&sealed) {
        Some(plain) => {
            assert!(!tampered, "a tampered seal opened");
            assert_eq!(plain, rest, "opening changed the bytes");
            decode(&plain);
        }
        None => assert!(tampered, "an untouched seal did not open"),
    }
}

/// The inflating decoder (feature `compression`): arbitrary bytes as a received packet must
/// inflate within the limit or fail typed, never panic; what inflates goes through
/// [`decode`]. And the bytes taken as a plain packet must, if they compress, inflate back
/// to themselves.
#[cfg(feature = "compression")]
pub fn inflate(data: &[u8]) {
    use crate::wire::compress;
    const MAX: usize = 1 << 16;
    if let Ok(Some(plain)) = compress::inflate(data, MAX) {
        assert!(plain.len() <= MAX, "inflated beyond the limit");
        decode(&plain);
    }
    if let Some(small) = compress::compress(data) {
        assert!(small.len() < data.len(), "compression made it longer");
        let back = compress::inflate(&small, MAX.max(data.len())).expect("our own compression inflates");
        assert_eq!(back.as_deref(), Some(data), "a round trip changed the bytes");
    }
}

fn encode(packet: &Packet<'_>) -> Vec<u8> {
    let mut out = BytesMut::new();
    packet.encode(&mut out);
    out.to_vec()
}

/// One step of a fuzzed node's life.
#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    /// Raw bytes as a datagram from peer `from % 8`.
    Datagram {
        /// Sending peer.
        from: u8,
        /// The bytes.
        data: Vec<u8>,
    },
    /// Raw bytes as a stream frame from peer `from % 8`.
    Stream {
        /// Sending peer.
        from: u8,
        /// The bytes.
        data: Vec<u8>,
    },
    /// A well-formed packet from peer `from % 8`, to reach deep into state handling.
    Valid {
        /// Sending peer (0 is the node itself: a spoofed packet).
        from: u8,
        /// What it says.
        message: FuzzMessage,
    },
    /// Time passes, then the node's timers run.
    Timeout {
        /// Milliseconds to advance.
        advance_ms: u16,
    },
    /// `join` through peer `seed % 8`.
    Join {
        /// Seed peer.
        seed: u8,
    },
    /// `leave`.
    Leave,
    /// The node sets its own key `key` (to `value`, of `len` bytes) or deletes it (`None`):
    /// what its pushes, gossip and syncs then carry.
    Write {
        /// Which of a few keys.
        key: u8,
        /// Its new value's length, or a delete.
        len: Option<u16>,
    },
}

/// A protocol message about a small world of eight ids (`node-0` is the fuzzed node).
#[derive(Arbitrary, Debug, Clone)]
#[allow(missing_docs)]
pub enum FuzzMessage {
    Ping { seq: u32, target: u8 },
    Ack { seq: u32 },
    Nack { seq: u32 },
    PingReq { seq: u32, target: u8 },
    Alive { incarnation: u8, id: u8, meta: Vec<u8> },
    Suspect { incarnation: u8, id: u8, from: u8 },
    Down { incarnation: u8, id: u8, from: u8 },
    Left { incarnation: u8, id: u8 },
    KeyWrite { owner: u8, base: u8, key: u8, version: u8, value: Option<u8> },
    Broadcast { origin: u8, seq: u8, key: Option<u8>, payload: Vec<u8> },
    UserMessage { payload: Vec<u8> },
    KeySum { sum: u64 },
    PushPull { reply: bool, records: Vec<(u8, u8, u8)>, sums: Option<Vec<u64>>, kv: Vec<(u8, u8, u64, Option<u8>)> },
}

fn peer_id(n: u8) -> NodeId {
    NodeId::from(format!("node-{}", n % 8))
}

fn peer_addr(n: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, n % 8], 7946))
}

/// Small incarnations mostly, a few at the top of the range and a few half-way round,
/// where serial order wraps (see `incarnation.rs`).
fn incarnation(n: u8) -> u32 {
    match n {
        250.. => u32::MAX - u32::from(255 - n),
        240..250 => (1 << 31) - 5 + u32::from(n - 240),
        _ => u32::from(n % 8),
    }
}

fn state(n: u8) -> MemberState {
    [MemberState::Alive, MemberState::Suspect, MemberState::Down, MemberState::Left][usize::from(n % 4)]
}

/// Encodes `message` as a packet from peer `from`.
fn valid_packet(from: u8, message: &FuzzMessage) -> Vec<u8> {
    let ids: Vec<NodeId> = (0..8).map(peer_id).collect();
    let id = |n: u8| ids[usize::from(n % 8)].as_bytes();
    let sender = id(from);
    let header = Header { cluster: b"", sender };
    let mut out = BytesMut::new();
    let m = match message {
        FuzzMessage::Ping { seq, target } => Message::Ping { seq: *seq, target: id(*target) },
        FuzzMessage::Ack { seq } => Message::Ack { seq: *seq },
        FuzzMessage::Nack { seq } => Message::Nack { seq: *seq },
        FuzzMessage::PingReq { seq, target } => {
            Message::PingReq { seq: *seq, target: id(*target), addr: peer_addr(*target) }
        }
        FuzzMessage::Alive { incarnation: i, id: n, meta } => {
            let meta = &meta[..meta.len().min(512)];
            Message::Alive { incarnation: incarnation(*i), id: id(*n), addr: peer_addr(*n), meta }
        }
        FuzzMessage::Suspect { incarnation: i, id: n, from: f } => {
            Message::Suspect { incarnation: incarnation(*i), id: id(*n), from: id(*f) }
        }
        FuzzMessage::Down { incarnation: i, id: n, from: f } => {
            Message::Down { incarnation: incarnation(*i), id: id(*n), from: id(*f) }
        }
        FuzzMessage::Left { incarnation: i, id: n } => Message::Left { incarnation: incarnation(*i), id: id(*n) },
        FuzzMessage::Broadcast { origin, seq, key, payload } => {
            let key: Vec<u8> = key.iter().map(|k| k % 4).collect();
            let payload = &payload[..payload.len().min(64)];
            header.encode(&mut out);
            Message::Broadcast { origin: id(*origin), seq: u64::from(*seq), key: &key, payload }.encode(&mut out);
            return out.to_vec();
        }
        FuzzMessage::UserMessage { payload } => Message::UserMessage { payload: &payload[..payload.len().min(64)] },
        FuzzMessage::KeySum { sum } => Message::KeySum { sum: *sum },
        FuzzMessage::KeyWrite { owner, base, key, version, value } => {
            let (key, value) = ([key % 4], value.map(|v| [v]));
            let write =
                wire::KvWrite { key: &key, version: u64::from(*version), value: value.as_ref().map(|v| &v[..]) };
            header.encode(&mut out);
            let (base, version) = (u64::from(*base), u64::from(*version));
            wire::encode_key_writes(&mut out, id(*owner), base, version, core::iter::once(write));
            return out.to_vec();
        }
        FuzzMessage::PushPull { reply, records, sums, kv } => {
            let records: Vec<MemberRecord<'_>> = records
                .iter()
                .take(64)
                .map(|&(s, i, n)| MemberRecord {
                    state: state(s),
                    incarnation: incarnation(i),
                    id: id(n),
                    addr: peer_addr(n),
                    meta: b"",
                })
                .collect();
            header.encode(&mut out);
            // A digest of the largest power-of-two length the input allows.
            let sums = sums.as_ref().map(|s| {
                let mut s = s.clone();
                s.resize(s.len().max(1), 0);
                s.truncate(1 << s.len().ilog2().min(10));
                s
            });
            // Key/value writes, one delta each: (owner, key, version, value); every seventh
            // a reset, with a base of half the version. The digest's scope comes from the
            // first write's key: complete, the digest's sums, or a listing of some of the
            // first eight buckets.
            let kv: Vec<u8> = {
                let mut section = Vec::new();
                let keys: Vec<[u8; 1]> = kv.iter().take(16).map(|&(_, k, _, _)| [k % 4]).collect();
                let values: Vec<Option<[u8; 1]>> = kv.iter().take(16).map(|&(_, _, _, v)| v.map(|v| [v])).collect();
                let pick = kv.first().map_or(0, |&(_, k, _, _)| k);
                let bits = [pick];
                let scope = match (pick % 3, &sums) {
                    (1, Some(sums)) => wire::KvScopeOut::Sums(sums),
                    (2, _) => wire::KvScopeOut::Listed { log2: 3, bits: &bits },
                    _ => wire::KvScopeOut::Complete,
                };
                wire::encode_section(
                    &mut section,
                    scope,
                    kv.iter().take(16).map(|&(o, _, version, _)| (id(o), version)).collect::<Vec<_>>().into_iter(),
                    kv.iter().take(16).enumerate().map(|(i, &(o, _, version, _))| {
                        let write = wire::KvWrite { key: &keys[i], version, value: values[i].as_ref().map(|v| &v[..]) };
                        (id(o), version % 7 == 0, version / 2, version, core::iter::once(write))
                    }),
                );
                section
            };
            let kv = (!kv.is_empty()).then_some(&kv[..]);
            wire::encode_push_pull(&mut out, false, *reply, records.into_iter(), sums.as_deref(), kv);
            return out.to_vec();
        }
    };
    Packet { header, messages: smallvec![m] }.encode(&mut out);
    out.to_vec()
}

/// A deterministic generator for the fuzzed node (xorshift64*; quality is irrelevant here,
/// determinism is what matters).
struct FuzzRng(u64);

impl rand_core::RngCore for FuzzRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.next_u64() as u8;
        }
    }
}

type Snapshot = Vec<(NodeId, MemberState, u32, SocketAddr)>;

fn snapshot(node: &Node<FuzzRng>) -> Snapshot {
    node.peers().map(|m| (m.id().clone(), m.state(), m.incarnation(), m.addr())).collect()
}

/// How the fuzzed node runs, from the length of its input: plain, with the phi detector,
/// sealing with a keyring (feature `encryption`), or compressing (feature `compression`).
/// With a keyring or compression, well-formed packets are sealed or compressed as a peer
/// would, so that they reach past `Node::unwrap`; raw bytes stay raw.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Phi,
    Sealed,
    Compressed,
}

/// What a peer of a node in `mode` sends for `plain`: sealed with the node's key, or
/// compressed when that pays. `nonce` must differ per packet.
fn as_sent(mode: Mode, plain: Vec<u8>, nonce: u64) -> Vec<u8> {
    match mode {
        #[cfg(feature = "encryption")]
        Mode::Sealed => {
            let mut n = [0u8; 24];
            n[..8].copy_from_slice(&nonce.to_le_bytes());
            crate::seal::Keyring::new(FUZZ_KEY).seal(n, &plain)
        }
        #[cfg(feature = "compression")]
        Mode::Compressed => wire::compress::compress(&plain).unwrap_or(plain),
        _ => {
            let _ = nonce;
            plain
        }
    }
}

/// The fuzzed node's key in [`Mode::Sealed`].
#[cfg(feature = "encryption")]
const FUZZ_KEY: [u8; 32] = [5; 32];

/// Drives one node (`node-0`; the length of `ops` picks plain, phi, sealed with a keyring
/// or compressing) through `ops` and checks its invariants after each:
/// datagrams never exceed the MTU; after `handle_timeout(now)` the next deadline is later
/// than `now`; the node never lists itself; the live count matches the table; and input
/// rejected with an error changed nothing and was counted exactly once.
pub fn drive_node(ops: &[Op]) {
    let mut config = Config::lan(16);
    let mode = [Mode::Plain, Mode::Phi, Mode::Sealed, Mode::Compressed][ops.len() % 4];
    match mode {
        Mode::Phi => {
            // The phi detector, on from the first round trip.
            config.detector = crate::Detector::Phi;
            config.phi_min_samples = 1;
        }
        #[cfg(feature = "encryption")]
        Mode::Sealed => config.keyring = Some(crate::seal::Keyring::new(FUZZ_KEY)),
        #[cfg(feature = "compression")]
        Mode::Compressed => config.compress_above = 64,
        _ => {}
    }
    let mtu = config.mtu;
    let me = peer_id(0);
    let mut node = Node::new(config, Identity::new(me.clone(), peer_addr(0)), FuzzRng(0x9E37_79B9_7F4A_7C15)).unwrap();
    let mut now = Time::ZERO;
    for (nonce, op) in ops.iter().take(256).enumerate() {
        let before = snapshot(&node);
        let dropped = node.stats().dropped();
        let result = match op {
            Op::Datagram { from, data } => Some(node.handle_datagram(now, peer_addr(*from), data)),
            Op::Stream { from, data } => Some(node.handle_stream(now, peer_addr(*from), data)),
            Op::Valid { from, message } => {
                let packet = as_sent(mode, valid_packet(*from, message), nonce as u64);
                Some(node.handle_datagram(now, peer_addr(*from), &packet))
            }
            Op::Timeout { advance_ms } => {
                now = now.saturating_add(Duration::from_millis(u64::from(*advance_ms)));
                node.handle_timeout(now);
                if let Some(next) = node.poll_timeout() {
                    assert!(next > now, "deadline {next:?} not after handle_timeout({now:?})");
                }
                None
            }
            Op::Join { seed } => {
                let _ = node.join(now, &[peer_addr(*seed)]);
                None
            }
            Op::Leave => {
                let _ = node.leave(now);
                None
            }
            Op::Write { key, len } => {
                let key = vec![b'k', key % 4];
                let _ = match len {
                    Some(len) => node.set(now, key, vec![b'v'; usize::from(*len % 2048)]),
                    None => node.delete(now, key),
                };
                None
            }
        };
        if let Some(Err(e)) = result {
            assert_eq!(snapshot(&node), before, "rejected input ({e}) changed the member table");
            assert_eq!(node.stats().dropped(), dropped + 1, "rejected input not counted once");
        }
        while let Some(t) = node.poll_transmit() {
            assert!(t.reliable || t.payload.len() <= mtu, "datagram of {} bytes over the MTU", t.payload.len());
        }
        while node.poll_event().is_some() {}
        assert!(node.member(me.as_bytes()).is_none(), "the node lists itself");
        let live = node.peers().filter(|m| m.state().is_live()).count();
        assert_eq!(node.live_members(), live, "live count out of step with the table");
    }
}
