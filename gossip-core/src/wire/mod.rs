//! The wire codec: typed messages, a versioned header with a cluster-name check, and
//! compound packets. It knows nothing of [`Node`](crate::Node).
//!
//! A packet is a header followed by one or more messages, back to back, up to the end:
//!
//! ```text
//! header   version u8 | flags u8 | cluster_len u8 | cluster | sender_len u8 | sender
//! message  tag u8 | body (per tag, below)
//! ```
//!
//! Integers are big-endian. Ids are `len u8 | bytes` (non-empty), metadata `len u16 | bytes`,
//! addresses `family u8 (4|6) | ip | port u16`. Decoding borrows from the input, checks every
//! length against the remaining bytes and the [`Limits`] before trusting it, and rejects the
//! whole packet on the first error: a packet is applied entirely or not at all.
//!
//! Encoding never fails: callers compare [`Message::encoded_len`] with their budget first.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

#[cfg(feature = "compression")]
pub(crate) mod compress;
mod error;
mod kv;
mod reader;
mod state;

pub use error::DecodeError;
pub use kv::{BucketSet, KvDelta, KvScope, KvScopeOut, KvSection, KvWrite};
pub(crate) use kv::{bitmap_len, delta_header_len, digest_entry_len, encode_section};
pub use reader::Reader;
pub use state::MemberState;

use bytes::BufMut;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use smallvec::SmallVec;

/// The most buckets a digest has, as a power of two (1,024: about ten members per bucket
/// at 10,000 members).
pub(crate) const MAX_SUMS_LOG2: u8 = 10;

/// The protocol version this build speaks and sends.
pub const VERSION: u8 = 1;

/// Bounds a decoder applies to what a peer claims, before allocating or trusting anything.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest node id accepted, bytes (at most 255: the length is a `u8`).
    pub max_id_len: usize,
    /// Longest metadata accepted, bytes (at most 65535: the length is a `u16`).
    pub max_meta_len: usize,
    /// Most messages accepted in one packet.
    pub max_messages: usize,
    /// Most member records accepted in one push-pull message (also the most key owners).
    pub max_push_pull_members: usize,
    /// Longest key accepted, bytes (at most 65535: the length is a `u16`).
    pub max_key_len: usize,
    /// Longest value accepted, bytes.
    pub max_value_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_id_len: 128,
            max_meta_len: 512,
            max_messages: 255,
            max_push_pull_members: 65_536,
            max_key_len: 256,
            max_value_len: 4096,
        }
    }
}

/// The start of every packet: who sent it and for which cluster.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The cluster name; a receiver with another name drops the packet.
    pub cluster: &'a [u8],
    /// The sender's node id.
    pub sender: &'a [u8],
}

/// Longest cluster name, bytes.
pub const MAX_CLUSTER_LEN: usize = 64;

/// Message tags on the wire.
mod tag {
    pub const PING: u8 = 1;
    pub const ACK: u8 = 2;
    pub const NACK: u8 = 3;
    pub const PING_REQ: u8 = 4;
    pub const ALIVE: u8 = 5;
    pub const SUSPECT: u8 = 6;
    pub const DOWN: u8 = 7;
    pub const LEFT: u8 = 8;
    pub const PUSH_PULL: u8 = 9;
    pub const KEY_WRITES: u8 = 10;
    pub const BROADCAST: u8 = 11;
    pub const USER_MESSAGE: u8 = 12;
    pub const KEY_SUM: u8 = 13;
}

/// One protocol message, borrowing its variable-length fields from the received bytes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // `UserMessage` is the application's, beside the protocol's
pub enum Message<'a> {
    /// A direct probe. `target` names the member the sender meant to reach, so a different
    /// node now at that address does not answer for it.
    Ping {
        /// Sequence number to echo in the ack.
        seq: u32,
        /// The id the sender believes lives at this address.
        target: &'a [u8],
    },
    /// Answer to a ping (or relayed by an indirect prober), echoing its `seq`.
    Ack {
        /// The sequence number of the ping being answered.
        seq: u32,
    },
    /// Lifeguard: an indirect prober could not reach the target in time, but is itself alive.
    Nack {
        /// The sequence number of the ping-req being answered.
        seq: u32,
    },
    /// Asks the receiver to probe `target` at `addr` and relay the ack (or a nack) back.
    PingReq {
        /// Sequence number to echo in the relayed ack or nack.
        seq: u32,
        /// The member to probe.
        target: &'a [u8],
        /// Where to probe it.
        addr: SocketAddr,
    },
    /// A member is alive at `addr` with this incarnation and metadata.
    Alive {
        /// The member's incarnation.
        incarnation: u32,
        /// The member.
        id: &'a [u8],
        /// Its address.
        addr: SocketAddr,
        /// Its metadata.
        meta: &'a [u8],
    },
    /// `from` suspects the member at this incarnation.
    Suspect {
        /// The incarnation being suspected.
        incarnation: u32,
        /// The suspected member.
        id: &'a [u8],
        /// Who raised or confirmed the suspicion (Lifeguard counts distinct confirmers).
        from: &'a [u8],
    },
    /// `from` declared the member failed at this incarnation.
    Down {
        /// The incarnation declared down.
        incarnation: u32,
        /// The failed member.
        id: &'a [u8],
        /// Who declared it.
        from: &'a [u8],
    },
    /// The member left gracefully at this incarnation.
    Left {
        /// The incarnation it left with.
        incarnation: u32,
        /// The member.
        id: &'a [u8],
    },
    /// A full-state sync, sent over a reliable stream. A sync is digest-first: the request
    /// carries the sender's own record and its digest; the response, the members of the
    /// buckets whose sums differ and the responder's digest; then the requester pushes back
    /// its members of the buckets that still differ, if any. Key/value state goes the same
    /// way (see [`KvScope`]), with a fourth message, the responder's deltas for the
    /// requester, when the push-back listed key/value owners.
    PushPull {
        /// The sender is joining (through the receiver, or catching up after its join):
        /// its table may lag, and only its own record is firsthand.
        join: bool,
        /// The sender wants the receiver's state back.
        reply: bool,
        /// The sender's own record first, then the members it sends.
        states: StateList<'a>,
        /// The sender's digest: what the receiver compares its view with.
        sums: Option<BucketSums<'a>>,
        /// Replicated key/value state: the sender's Scuttlebutt digest (whole, as bucket
        /// sums, or for some buckets), and deltas for the receiver.
        kv: Option<KvSection<'a>>,
    },
    /// Recent writes of one owner's replicated keys, piggybacked like membership news: a
    /// delta as in a sync (see [`KvDelta`]; never a reset), the owner's latest write of
    /// each key changed after `base`, in version order. A receiver holding everything of
    /// the owner up to `base` applies it without a gap; others may take its writes out of
    /// order. One message refreshes all of an owner's recent keys.
    KeyWrites {
        /// The writes.
        delta: KvDelta<'a>,
    },
    /// The sender's key/value digest folded into one number (an order-free sum over its
    /// owners and versions), riding on its acks: a prober whose own sum differs is behind
    /// or ahead on some owner, and syncs with it.
    KeySum {
        /// The sum.
        sum: u64,
    },
    /// A user broadcast for every member, piggybacked like membership news.
    Broadcast {
        /// Who broadcast it.
        origin: &'a [u8],
        /// Its number at the origin (unique per origin, with the origin's generation in
        /// the high 32 bits), so each member delivers it once.
        seq: u64,
        /// The invalidation key (empty: none): a newer broadcast of the origin with the
        /// same key replaces this one in every queue it still waits in.
        key: &'a [u8],
        /// The application's bytes.
        payload: &'a [u8],
    },
    /// A user message for the receiver alone, from the packet's sender.
    UserMessage {
        /// The application's bytes.
        payload: &'a [u8],
    },
}

/// One member's full state, as carried by a push-pull.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord<'a> {
    /// The member's liveness as the sender sees it.
    pub state: MemberState,
    /// Its incarnation.
    pub incarnation: u32,
    /// Its id.
    pub id: &'a [u8],
    /// Its address.
    pub addr: SocketAddr,
    /// Its metadata.
    pub meta: &'a [u8],
}

/// A validated run of [`MemberRecord`]s, still in wire form (no allocation for big states).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct StateList<'a> {
    count: u32,
    raw: &'a [u8],
}

#[cfg_attr(not(feature = "wire"), allow(dead_code))] // read by packet tools (feature `wire`)
impl<'a> StateList<'a> {
    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The records, in wire order.
    pub fn iter(&self) -> impl Iterator<Item = MemberRecord<'a>> + 'a {
        let mut reader = Reader::new(self.raw);
        // The raw bytes were validated with the same limits when decoded (or written by
        // `encode_push_pull`), so a failure here cannot happen; it would end the iteration.
        let limits = Limits { max_id_len: 255, max_meta_len: 65_535, ..Limits::default() };
        core::iter::from_fn(move || if reader.is_empty() { None } else { read_record(&mut reader, &limits).ok() })
    }
}

/// A digest on the wire: per bucket of member ids, the sum of the sender's member hashes
/// (see `crate::digest`). Its length is a power of two up to [`MAX_BUCKETS`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BucketSums<'a> {
    log2: u8,
    raw: &'a [u8],
}

/// The most buckets a digest may have.
pub const MAX_BUCKETS: usize = 1 << MAX_SUMS_LOG2;

impl BucketSums<'_> {
    /// The number of buckets, as a power of two.
    pub fn log2(&self) -> u8 {
        self.log2
    }

    /// The sums, bucket by bucket.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.raw.chunks_exact(8).map(|c| c.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
    }

    /// Encoded size: the bucket count's log2, then the sums.
    fn encoded_len(&self) -> usize {
        1usize.saturating_add(self.raw.len())
    }
}

/// A decoded packet: its header and every message, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Who sent it, for which cluster.
    pub header: Header<'a>,
    /// The messages, at least one.
    pub messages: SmallVec<[Message<'a>; 8]>,
}

/// Smallest possible encoded message (an ack: tag + seq), used to cap counts early.
const MIN_MESSAGE_LEN: usize = 5;
/// Smallest possible member record: state, incarnation, 1-byte id, IPv4 address, empty meta.
const MIN_RECORD_LEN: usize = 1 + 4 + 2 + 7 + 2;

/// Decodes a whole packet, or says what was wrong with it.
pub fn decode<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Packet<'a>, DecodeError> {
    let mut r = Reader::new(bytes);
    let header = read_header(&mut r, limits)?;
    // Rounded up, so a short body fails on what is wrong with it rather than on its count.
    let most = limits.max_messages.min(r.remaining().div_ceil(MIN_MESSAGE_LEN));
    let mut messages = SmallVec::new();
    while !r.is_empty() {
        if messages.len() >= most {
            let count = messages.len().saturating_add(1);
            return Err(DecodeError::TooMany { field: "messages", count, max: most });
        }
        messages.push(read_message(&mut r, limits)?);
    }
    if messages.is_empty() {
        return Err(DecodeError::NoMessages);
    }
    Ok(Packet { header, messages })
}

fn read_header<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<Header<'a>, DecodeError> {
    let version = r.u8("version")?;
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let flags = r.u8("flags")?;
    if flags != 0 {
        return Err(DecodeError::UnknownFlags(flags));
    }
    let cluster_len = usize::from(r.u8("cluster length")?);
    if cluster_len > MAX_CLUSTER_LEN {
        return Err(DecodeError::TooLong { field: "cluster", len: cluster_len, max: MAX_CLUSTER_LEN });
    }
    let cluster = r.bytes(cluster_len, "cluster")?;
    let sender = read_id(r, limits, "sender")?;
    Ok(Header { cluster, sender })
}

fn read_id<'a>(r: &mut Reader<'a>, limits: &Limits, field: &'static str) -> Result<&'a [u8], DecodeError> {
    let len = usize::from(r.u8(field)?);
    if len == 0 {
        return Err(DecodeError::EmptyId { field });
    }
    if len > limits.max_id_len {
        return Err(DecodeError::TooLong { field, len, max: limits.max_id_len });
    }
    r.bytes(len, field)
}

fn read_meta<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<&'a [u8], DecodeError> {
    let len = usize::from(r.u16("meta length")?);
    if len > limits.max_meta_len {
        return Err(DecodeError::TooLong { field: "meta", len, max: limits.max_meta_len });
    }
    r.bytes(len, "meta")
}

fn read_incarnation(r: &mut Reader<'_>) -> Result<u32, DecodeError> {
    r.u32("incarnation")
}

/// Reads an address: `family u8 (4|6) | ip | port u16` (also the tokio adapter's stream preamble).
pub fn read_addr(r: &mut Reader<'_>) -> Result<SocketAddr, DecodeError> {
    let ip = match r.u8("address family")? {
        4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>("ipv4 address")?)),
        6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>("ipv6 address")?)),
        other => return Err(DecodeError::UnknownAddressFamily(other)),
    };
    Ok(SocketAddr::new(ip, r.u16("port")?))
}

fn read_state(r: &mut Reader<'_>) -> Result<MemberState, DecodeError> {
    match r.u8("member state")? {
        0 => Ok(MemberState::Alive),
        1 => Ok(MemberState::Suspect),
        2 => Ok(MemberState::Down),
        3 => Ok(MemberState::Left),
        other => Err(DecodeError::UnknownState(other)),
    }
}

fn state_byte(state: MemberState) -> u8 {
    match state {
        MemberState::Alive => 0,
        MemberState::Suspect => 1,
        MemberState::Down => 2,
        MemberState::Left => 3,
    }
}

fn read_record<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<MemberRecord<'a>, DecodeError> {
    let state = read_state(r)?;
    let incarnation = read_incarnation(r)?;
    let id = read_id(r, limits, "member id")?;
    let addr = read_addr(r)?;
    let meta = read_meta(r, limits)?;
    Ok(MemberRecord { state, incarnation, id, addr, meta })
}

fn read_message<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<Message<'a>, DecodeError> {
    Ok(match r.u8("message tag")? {
        tag::PING => Message::Ping { seq: r.u32("seq")?, target: read_id(r, limits, "ping target")? },
        tag::ACK => Message::Ack { seq: r.u32("seq")? },
        tag::NACK => Message::Nack { seq: r.u32("seq")? },
        tag::PING_REQ => {
            Message::PingReq { seq: r.u32("seq")?, target: read_id(r, limits, "ping-req target")?, addr: read_addr(r)? }
        }
        tag::ALIVE => Message::Alive {
            incarnation: read_incarnation(r)?,
            id: read_id(r, limits, "member id")?,
            addr: read_addr(r)?,
            meta: read_meta(r, limits)?,
        },
        tag::SUSPECT => Message::Suspect {
            incarnation: read_incarnation(r)?,
            id: read_id(r, limits, "member id")?,
            from: read_id(r, limits, "suspecter id")?,
        },
        tag::DOWN => Message::Down {
            incarnation: read_incarnation(r)?,
            id: read_id(r, limits, "member id")?,
            from: read_id(r, limits, "accuser id")?,
        },
        tag::LEFT => Message::Left { incarnation: read_incarnation(r)?, id: read_id(r, limits, "member id")? },
        tag::PUSH_PULL => {
            let flags = r.u8("push-pull flags")?;
            if flags & !0b1111 != 0 {
                return Err(DecodeError::UnknownFlags(flags));
            }
            let count = r.u32("push-pull count")? as usize;
            let max = limits.max_push_pull_members.min(r.remaining() / MIN_RECORD_LEN);
            if count > max {
                return Err(DecodeError::TooMany { field: "push-pull members", count, max });
            }
            let before = r.clone();
            for _ in 0..count {
                read_record(r, limits)?;
            }
            let consumed = before.remaining().saturating_sub(r.remaining());
            let raw = before.clone().bytes(consumed, "push-pull members")?;
            let sums = if flags & 4 != 0 { Some(read_sums(r)?) } else { None };
            let kv = if flags & 8 != 0 { Some(kv::read_section(r, limits)?) } else { None };
            Message::PushPull {
                join: flags & 1 != 0,
                reply: flags & 2 != 0,
                // `count <= max <= usize` and it came from a u32.
                states: StateList { count: count as u32, raw },
                sums,
                kv,
            }
        }
        tag::KEY_WRITES => Message::KeyWrites { delta: kv::read_delta(r, limits)? },
        tag::BROADCAST => Message::Broadcast {
            origin: read_id(r, limits, "broadcast origin")?,
            seq: r.u64("broadcast seq")?,
            key: read_key(r, limits)?,
            payload: read_payload(r, limits)?,
        },
        tag::USER_MESSAGE => Message::UserMessage { payload: read_payload(r, limits)? },
        tag::KEY_SUM => Message::KeySum { sum: r.u64("key sum")? },
        other => return Err(DecodeError::UnknownMessage(other)),
    })
}

fn read_key<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<&'a [u8], DecodeError> {
    let len = usize::from(r.u16("key length")?);
    if len > limits.max_key_len {
        return Err(DecodeError::TooLong { field: "key", len, max: limits.max_key_len });
    }
    r.bytes(len, "key")
}

fn read_payload<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<&'a [u8], DecodeError> {
    let len = r.u32("payload length")? as usize;
    if len > limits.max_value_len {
        return Err(DecodeError::TooLong { field: "payload", len, max: limits.max_value_len });
    }
    r.bytes(len, "payload")
}

fn read_sums<'a>(r: &mut Reader<'a>) -> Result<BucketSums<'a>, DecodeError> {
    let log2 = r.u8("digest size")?;
    if log2 > MAX_SUMS_LOG2 {
        let count = 1usize.checked_shl(u32::from(log2)).unwrap_or(usize::MAX);
        return Err(DecodeError::TooMany { field: "digest buckets", count, max: MAX_BUCKETS });
    }
    let raw = r.bytes(8usize << log2, "digest sums")?;
    Ok(BucketSums { log2, raw })
}

/// The push-pull flags byte.
fn push_pull_flags(join: bool, reply: bool, sums: bool, kv: bool) -> u8 {
    u8::from(join) | (u8::from(reply) << 1) | (u8::from(sums) << 2) | (u8::from(kv) << 3)
}

// ---------------------------------------------------------------------------------------
// Encoding. Lengths are the caller's to check (ids ≤ 255, meta ≤ 65535, cluster ≤ 64);
// the node validates them at its API so that nothing oversize is ever built.

/// Encoded size of an id (length byte + bytes).
fn id_len(id: &[u8]) -> usize {
    1usize.saturating_add(id.len())
}

/// Encoded size of an address.
pub(crate) fn addr_len(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => 1 + 4 + 2,
        SocketAddr::V6(_) => 1 + 16 + 2,
    }
}

fn put_id(out: &mut impl BufMut, id: &[u8]) {
    out.put_u8(id.len() as u8);
    out.put_slice(id);
}

/// Writes an address as [`read_addr`] reads it (a family byte, the address, the port).
pub fn put_addr(out: &mut impl BufMut, addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.put_u8(4);
            out.put_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.put_u8(6);
            out.put_slice(&ip.octets());
        }
    }
    out.put_u16(addr.port());
}

fn put_meta(out: &mut impl BufMut, meta: &[u8]) {
    out.put_u16(meta.len() as u16);
    out.put_slice(meta);
}

impl Header<'_> {
    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        header_len(self.cluster.len(), self.sender.len())
    }

    /// Writes the header.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(VERSION);
        out.put_u8(0);
        out.put_u8(self.cluster.len() as u8);
        out.put_slice(self.cluster);
        put_id(out, self.sender);
    }
}

impl MemberRecord<'_> {
    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        5usize
            .saturating_add(id_len(self.id))
            .saturating_add(addr_len(&self.addr))
            .saturating_add(2)
            .saturating_add(self.meta.len())
    }

    /// Writes the record.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_u8(state_byte(self.state));
        out.put_u32(self.incarnation);
        put_id(out, self.id);
        put_addr(out, &self.addr);
        put_meta(out, self.meta);
    }
}

/// Writes a push-pull message carrying `records` and, if given, a digest of `sums` and a
/// key/value section `kv` (the owned-state counterpart of [`Message::PushPull`]; `sums`
/// has a power-of-two length up to [`MAX_BUCKETS`], `kv` is [`encode_section`] output).
/// Returns nothing: the caller sized the buffer.
pub(crate) fn encode_push_pull<'r>(
    out: &mut impl BufMut,
    join: bool,
    reply: bool,
    records: impl ExactSizeIterator<Item = MemberRecord<'r>>,
    sums: Option<&[u64]>,
    kv: Option<&[u8]>,
) {
    out.put_u8(tag::PUSH_PULL);
    out.put_u8(push_pull_flags(join, reply, sums.is_some(), kv.is_some()));
    out.put_u32(records.len() as u32);
    for record in records {
        record.encode(out);
    }
    if let Some(sums) = sums {
        debug_assert!(sums.len().is_power_of_two() && sums.len() <= MAX_BUCKETS);
        out.put_u8(sums.len().trailing_zeros() as u8);
        for &s in sums {
            out.put_u64(s);
        }
    }
    if let Some(kv) = kv {
        out.put_slice(kv);
    }
}

/// Writes a [`Message::KeyWrites`]: `owner`'s `writes` after `base`, complete up to `up_to`.
pub(crate) fn encode_key_writes<'w>(
    out: &mut impl BufMut,
    owner: &[u8],
    base: u64,
    up_to: u64,
    writes: impl ExactSizeIterator<Item = KvWrite<'w>>,
) {
    out.put_u8(tag::KEY_WRITES);
    kv::put_delta(out, owner, false, base, up_to, writes);
}

/// Encoded size of a push-pull digest of `buckets` sums (zero without one).
pub(crate) fn sums_len(buckets: Option<usize>) -> usize {
    buckets.map_or(0, |n| n.saturating_mul(8).saturating_add(1))
}

/// Encoded size of a [`Message::PushPull`] body written by [`encode_push_pull`]: the tag,
/// the flags and the record count, then `records` bytes of member records, a digest of
/// `buckets` sums, and `kv` bytes of key/value section.
pub(crate) fn push_pull_len(records: usize, buckets: Option<usize>, kv: usize) -> usize {
    6usize.saturating_add(records).saturating_add(sums_len(buckets)).saturating_add(kv)
}

/// Encoded size of a [`Message::KeyWrites`] for `owner` without its writes: the tag and
/// the delta's header.
pub(crate) fn key_writes_header_len(owner: &[u8]) -> usize {
    delta_header_len(owner).saturating_add(1)
}

/// Encoded size of a header: version, flags, cluster name, sender id.
fn header_len(cluster: usize, sender: usize) -> usize {
    3usize.saturating_add(cluster).saturating_add(1).saturating_add(sender)
}

/// Encoded size of a Ping without its tag: sequence number, target id.
fn ping_body_len(target: usize) -> usize {
    4usize.saturating_add(1).saturating_add(target)
}

/// Encoded size of a Suspect or Down without its tag: incarnation, id, accuser's id.
fn accusation_body_len(id: usize, from: usize) -> usize {
    4usize.saturating_add(1).saturating_add(id).saturating_add(1).saturating_add(from)
}

/// Encoded size of the largest header (a cluster name of `cluster_len` bytes, a sender
/// id of `max_id_len`) and a ping with a buddy suspicion ahead of it, the most a probe
/// carries besides news.
pub(crate) fn max_probe_len(cluster_len: usize, max_id_len: usize) -> usize {
    let header = header_len(cluster_len, max_id_len);
    let ping = ping_body_len(max_id_len).saturating_add(1);
    let buddy = accusation_body_len(max_id_len, max_id_len).saturating_add(1);
    header.saturating_add(ping).saturating_add(buddy)
}

/// Encoded size of an Alive without its tag: incarnation, id, address, metadata.
fn alive_body_len(id: usize, addr: usize, meta: usize) -> usize {
    4usize.saturating_add(1).saturating_add(id).saturating_add(addr).saturating_add(2).saturating_add(meta)
}

/// Encoded size of the largest Alive (tag included) with ids of at most `max_id_len`
/// bytes and metadata of at most `max_meta_len`: the largest membership message.
pub(crate) fn max_alive_len(max_id_len: usize, max_meta_len: usize) -> usize {
    let ipv6 = addr_len(&SocketAddr::from(([0u16; 8], 0)));
    alive_body_len(max_id_len, ipv6, max_meta_len).saturating_add(1)
}

impl Message<'_> {
    /// Encoded size in bytes, tag included.
    pub fn encoded_len(&self) -> usize {
        let body = match self {
            Message::Ping { target, .. } => ping_body_len(target.len()),
            Message::Ack { .. } | Message::Nack { .. } => 4,
            Message::PingReq { target, addr, .. } => {
                4usize.saturating_add(id_len(target)).saturating_add(addr_len(addr))
            }
            Message::Alive { id, addr, meta, .. } => alive_body_len(id.len(), addr_len(addr), meta.len()),
            Message::Suspect { id, from, .. } | Message::Down { id, from, .. } => {
                accusation_body_len(id.len(), from.len())
            }
            Message::Left { id, .. } => 4usize.saturating_add(id_len(id)),
            Message::KeyWrites { delta } => delta.encoded_len(),
            Message::Broadcast { origin, key, payload, .. } => {
                id_len(origin).saturating_add(8 + 2 + 4).saturating_add(key.len()).saturating_add(payload.len())
            }
            Message::UserMessage { payload } => payload.len().saturating_add(4),
            Message::KeySum { .. } => 8,
            Message::PushPull { states, sums, kv, .. } => 5usize
                .saturating_add(states.raw.len())
                .saturating_add(sums.map_or(0, |s| s.encoded_len()))
                .saturating_add(kv.map_or(0, |k| k.encoded_len())),
        };
        body.saturating_add(1)
    }

    /// Writes the message, tag first.
    pub fn encode(&self, out: &mut impl BufMut) {
        match *self {
            Message::Ping { seq, target } => {
                out.put_u8(tag::PING);
                out.put_u32(seq);
                put_id(out, target);
            }
            Message::Ack { seq } => {
                out.put_u8(tag::ACK);
                out.put_u32(seq);
            }
            Message::Nack { seq } => {
                out.put_u8(tag::NACK);
                out.put_u32(seq);
            }
            Message::PingReq { seq, target, addr } => {
                out.put_u8(tag::PING_REQ);
                out.put_u32(seq);
                put_id(out, target);
                put_addr(out, &addr);
            }
            Message::Alive { incarnation, id, addr, meta } => {
                out.put_u8(tag::ALIVE);
                out.put_u32(incarnation);
                put_id(out, id);
                put_addr(out, &addr);
                put_meta(out, meta);
            }
            Message::Suspect { incarnation, id, from } => {
                out.put_u8(tag::SUSPECT);
                out.put_u32(incarnation);
                put_id(out, id);
                put_id(out, from);
            }
            Message::Down { incarnation, id, from } => {
                out.put_u8(tag::DOWN);
                out.put_u32(incarnation);
                put_id(out, id);
                put_id(out, from);
            }
            Message::Left { incarnation, id } => {
                out.put_u8(tag::LEFT);
                out.put_u32(incarnation);
                put_id(out, id);
            }
            Message::Broadcast { origin, seq, key, payload } => {
                out.put_u8(tag::BROADCAST);
                put_id(out, origin);
                out.put_u64(seq);
                out.put_u16(key.len() as u16);
                out.put_slice(key);
                out.put_u32(payload.len() as u32);
                out.put_slice(payload);
            }
            Message::UserMessage { payload } => {
                out.put_u8(tag::USER_MESSAGE);
                out.put_u32(payload.len() as u32);
                out.put_slice(payload);
            }
            Message::KeySum { sum } => {
                out.put_u8(tag::KEY_SUM);
                out.put_u64(sum);
            }
            Message::KeyWrites { delta } => {
                out.put_u8(tag::KEY_WRITES);
                delta.encode(out);
            }
            Message::PushPull { join, reply, states, sums, kv } => {
                out.put_u8(tag::PUSH_PULL);
                out.put_u8(push_pull_flags(join, reply, sums.is_some(), kv.is_some()));
                out.put_u32(states.count);
                out.put_slice(states.raw);
                if let Some(sums) = sums {
                    out.put_u8(sums.log2);
                    out.put_slice(sums.raw);
                }
                if let Some(kv) = kv {
                    kv.encode(out);
                }
            }
        }
    }
}

#[cfg_attr(not(feature = "wire"), allow(dead_code))] // read by packet tools (feature `wire`)
impl Packet<'_> {
    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        self.messages.iter().fold(self.header.encoded_len(), |n, m| n.saturating_add(m.encoded_len()))
    }

    /// Writes the header and every message.
    pub fn encode(&self, out: &mut impl BufMut) {
        self.header.encode(out);
        for m in &self.messages {
            m.encode(out);
        }
    }
}

#[cfg(test)]
mod tests;
