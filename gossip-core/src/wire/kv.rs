//! The key/value part of a push-pull: a Scuttlebutt digest and deltas (see `crate::state`).
//!
//! ```text
//! section  scope | digest_count u32 | (id | max u64)* | delta_count u32 | delta*
//! scope    0 (the digest is complete) | 1 log2 u8 sums (u64 per bucket) | 2 log2 u8 bitmap
//! delta    id | flags u8 (1: reset) | base u64 | up_to u64 | write_count u32 | write*
//! write    key_len u16 | key | version u64 | kind u8 (0: delete, 1: set) | [value_len u32 | value]
//! ```
//!
//! The scope says what the digest covers (see [`KvScope`]): syncs are digest-first, a
//! request carrying only bucket sums of the sender's digest, and the answers listing
//! only the owners of buckets whose sums differ (`crate::state`). A bitmap has a bit per
//! bucket, bucket `i` in bit `i % 8` of byte `i / 8`, and at least one byte.
//!
//! Decoding validates the whole section once and keeps it as borrowed bytes; the
//! iterators re-read it and cannot fail.

use super::{BucketSums, DecodeError, Limits, MAX_BUCKETS, Reader, put_id, read_id, read_sums};
use bytes::BufMut;

/// Smallest digest entry: a 1-byte id and a version.
const MIN_DIGEST_ENTRY: usize = 2 + 8;
/// Smallest delta: a 1-byte id, flags, base, up_to and an empty write count.
const MIN_DELTA: usize = 2 + 1 + 8 + 8 + 4;
/// Smallest write: an empty key, a version and a delete marker.
const MIN_WRITE: usize = 2 + 8 + 1;

/// A validated key/value section, still in wire form.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct KvSection<'a> {
    scope: KvScope<'a>,
    /// The digest entries and the deltas.
    raw: &'a [u8],
}

/// Which of the sender's owners a [`KvSection`]'s digest lists.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KvScope<'a> {
    /// Every owner the sender knows (none when the section carries deltas only).
    Complete,
    /// None: the sender's digest folded into sums per bucket of owner ids (see
    /// `crate::digest::kv_sums`), for the receiver to list its owners of the buckets whose
    /// sums differ from its own.
    Sums(BucketSums<'a>),
    /// Exactly the sender's owners in these buckets (an owner of theirs not listed is one
    /// the sender does not know).
    Listed(BucketSet<'a>),
}

/// A set of buckets among `2^log2` (`log2` up to `super::MAX_SUMS_LOG2`), as a bitmap.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BucketSet<'a> {
    log2: u8,
    bits: &'a [u8],
}

impl<'a> BucketSet<'a> {
    /// The number of buckets, as a power of two.
    pub fn log2(&self) -> u8 {
        self.log2
    }

    /// Whether bucket `b` is in the set.
    pub fn contains(&self, b: usize) -> bool {
        self.bits.get(b / 8).is_some_and(|byte| byte & (1 << (b % 8)) != 0)
    }

    /// The bitmap, a bit per bucket.
    pub fn bits(&self) -> &'a [u8] {
        self.bits
    }
}

/// Bytes in a bitmap of `2^log2` buckets.
pub(crate) fn bitmap_len(log2: u8) -> usize {
    (1usize << log2.min(super::MAX_SUMS_LOG2)).div_ceil(8)
}

/// A section's scope, to encode (see [`KvScope`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KvScopeOut<'a> {
    /// See [`KvScope::Complete`].
    Complete,
    /// See [`KvScope::Sums`]: a power-of-two number of sums up to [`MAX_BUCKETS`].
    Sums(&'a [u64]),
    /// See [`KvScope::Listed`]: `bits` is `ceil(2^log2 / 8)` bytes, no bit set past
    /// the last bucket.
    Listed {
        /// The number of buckets, as a power of two.
        log2: u8,
        /// The bitmap.
        bits: &'a [u8],
    },
}

#[cfg_attr(not(feature = "wire"), allow(dead_code))] // read by packet tools (feature `wire`)
impl KvScopeOut<'_> {
    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        match self {
            KvScopeOut::Complete => 1,
            KvScopeOut::Sums(sums) => sums.len().saturating_mul(8).saturating_add(2),
            KvScopeOut::Listed { bits, .. } => bits.len().saturating_add(2),
        }
    }
}

/// One owner's writes in a [`KvSection`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct KvDelta<'a> {
    /// Whose keys.
    pub owner: &'a [u8],
    /// The whole state, replacing the receiver's copy.
    pub reset: bool,
    /// See `crate::state` (`OwnerDelta::base`).
    pub base: u64,
    /// The version the receiver is complete up to once it applies the delta.
    pub up_to: u64,
    writes: &'a [u8],
    count: u32,
}

/// One write in a [`KvDelta`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct KvWrite<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The owner's version of this write.
    pub version: u64,
    /// The value set, or `None` for a delete.
    pub value: Option<&'a [u8]>,
}

impl KvWrite<'_> {
    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        MIN_WRITE.saturating_add(self.key.len()).saturating_add(self.value.map_or(0, |v| v.len().saturating_add(4)))
    }
}

/// Encoded size of a delta's header (`owner` and the fixed fields).
pub(crate) fn delta_header_len(owner: &[u8]) -> usize {
    MIN_DELTA.saturating_sub(1).saturating_add(owner.len())
}

/// Encoded size of a digest entry for `owner`.
pub(crate) fn digest_entry_len(owner: &[u8]) -> usize {
    MIN_DIGEST_ENTRY.saturating_sub(1).saturating_add(owner.len())
}

/// Limits that hold for anything a section was validated with (for re-reading).
const RELAXED: Limits = Limits {
    max_id_len: 255,
    max_meta_len: 65_535,
    max_messages: usize::MAX,
    max_push_pull_members: usize::MAX,
    max_key_len: u16::MAX as usize,
    max_value_len: u32::MAX as usize,
};

fn read_count(r: &mut Reader<'_>, field: &'static str, min_item: usize, max: usize) -> Result<usize, DecodeError> {
    let count = r.u32(field)? as usize;
    let max = max.min(r.remaining().checked_div(min_item).unwrap_or(0));
    if count > max {
        return Err(DecodeError::TooMany { field, count, max });
    }
    Ok(count)
}

pub(super) fn read_write<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<KvWrite<'a>, DecodeError> {
    let key_len = usize::from(r.u16("key length")?);
    if key_len > limits.max_key_len {
        return Err(DecodeError::TooLong { field: "key", len: key_len, max: limits.max_key_len });
    }
    let key = r.bytes(key_len, "key")?;
    let version = r.u64("key version")?;
    let value = match r.u8("write kind")? {
        0 => None,
        1 => {
            let len = r.u32("value length")? as usize;
            if len > limits.max_value_len {
                return Err(DecodeError::TooLong { field: "value", len, max: limits.max_value_len });
            }
            Some(r.bytes(len, "value")?)
        }
        other => return Err(DecodeError::UnknownWriteKind(other)),
    };
    Ok(KvWrite { key, version, value })
}

pub(super) fn read_delta<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<KvDelta<'a>, DecodeError> {
    let owner = read_id(r, limits, "key owner")?;
    let flags = r.u8("delta flags")?;
    if flags & !1 != 0 {
        return Err(DecodeError::UnknownFlags(flags));
    }
    let (base, up_to) = (r.u64("delta base")?, r.u64("delta up_to")?);
    let count = read_count(r, "key writes", MIN_WRITE, usize::MAX)?;
    let before = r.clone();
    for _ in 0..count {
        read_write(r, limits)?;
    }
    let writes = before.clone().bytes(before.remaining().saturating_sub(r.remaining()), "key writes")?;
    // `count` came from a u32.
    Ok(KvDelta { owner, reset: flags & 1 != 0, base, up_to, writes, count: count as u32 })
}

fn read_scope<'a>(r: &mut Reader<'a>) -> Result<KvScope<'a>, DecodeError> {
    Ok(match r.u8("key digest scope")? {
        0 => KvScope::Complete,
        1 => KvScope::Sums(read_sums(r)?),
        2 => {
            let log2 = r.u8("key digest buckets")?;
            if log2 > super::MAX_SUMS_LOG2 {
                let count = 1usize.checked_shl(u32::from(log2)).unwrap_or(usize::MAX);
                return Err(DecodeError::TooMany { field: "key digest buckets", count, max: MAX_BUCKETS });
            }
            let bits = r.bytes(bitmap_len(log2), "key digest bitmap")?;
            // Fewer than eight buckets leave high bits unused; they must be clear.
            let used = 1u32 << log2;
            if let Some(&last) = bits.last()
                && used < 8
                && last >> used != 0
            {
                return Err(DecodeError::UnknownFlags(last));
            }
            KvScope::Listed(BucketSet { log2, bits })
        }
        other => return Err(DecodeError::UnknownDigestScope(other)),
    })
}

/// Reads and validates a section.
pub(super) fn read_section<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<KvSection<'a>, DecodeError> {
    let scope = read_scope(r)?;
    let before = r.clone();
    let owners = read_count(r, "digest owners", MIN_DIGEST_ENTRY, limits.max_push_pull_members)?;
    for _ in 0..owners {
        read_id(r, limits, "digest owner")?;
        r.u64("digest version")?;
    }
    let deltas = read_count(r, "key deltas", MIN_DELTA, limits.max_push_pull_members)?;
    for _ in 0..deltas {
        read_delta(r, limits)?;
    }
    let raw = before.clone().bytes(before.remaining().saturating_sub(r.remaining()), "key section")?;
    Ok(KvSection { scope, raw })
}

impl<'a> KvSection<'a> {
    /// Which of the sender's owners [`KvSection::digest`] lists.
    pub fn scope(&self) -> KvScope<'a> {
        self.scope
    }

    /// The sender's digest: each owner it knows and the version it is complete up to.
    pub fn digest(&self) -> impl Iterator<Item = (&'a [u8], u64)> + 'a {
        let mut r = Reader::new(self.raw);
        let count = r.u32("digest owners").unwrap_or(0);
        (0..count).map_while(move |_| Some((read_id(&mut r, &RELAXED, "").ok()?, r.u64("").ok()?)))
    }

    /// The deltas the sender built for the receiver.
    pub fn deltas(&self) -> impl Iterator<Item = KvDelta<'a>> + 'a {
        let mut r = Reader::new(self.raw);
        let owners = r.u32("digest owners").unwrap_or(0);
        for _ in 0..owners {
            let _ = (read_id(&mut r, &RELAXED, ""), r.u64(""));
        }
        let count = r.u32("key deltas").unwrap_or(0);
        (0..count).map_while(move |_| read_delta(&mut r, &RELAXED).ok())
    }

    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        let scope = match self.scope {
            KvScope::Complete => 1,
            KvScope::Sums(sums) => sums.encoded_len().saturating_add(1),
            KvScope::Listed(set) => set.bits.len().saturating_add(2),
        };
        scope.saturating_add(self.raw.len())
    }

    /// Writes the section back out.
    pub fn encode(&self, out: &mut impl BufMut) {
        match self.scope {
            KvScope::Complete => put_scope(out, KvScopeOut::Complete),
            KvScope::Sums(sums) => {
                out.put_u8(1);
                out.put_u8(sums.log2);
                out.put_slice(sums.raw);
            }
            KvScope::Listed(set) => put_scope(out, KvScopeOut::Listed { log2: set.log2, bits: set.bits }),
        }
        out.put_slice(self.raw);
    }
}

/// Writes a scope.
fn put_scope(out: &mut impl BufMut, scope: KvScopeOut<'_>) {
    match scope {
        KvScopeOut::Complete => out.put_u8(0),
        KvScopeOut::Sums(sums) => {
            out.put_u8(1);
            out.put_u8(sums.len().trailing_zeros() as u8);
            for &s in sums {
                out.put_u64(s);
            }
        }
        KvScopeOut::Listed { log2, bits } => {
            out.put_u8(2);
            out.put_u8(log2);
            out.put_slice(bits);
        }
    }
}

impl<'a> KvDelta<'a> {
    /// Encoded size in bytes.
    pub fn encoded_len(&self) -> usize {
        delta_header_len(self.owner).saturating_add(self.writes.len())
    }

    /// Writes the delta back out.
    pub fn encode(&self, out: &mut impl BufMut) {
        put_id(out, self.owner);
        out.put_u8(u8::from(self.reset));
        out.put_u64(self.base);
        out.put_u64(self.up_to);
        out.put_u32(self.count);
        out.put_slice(self.writes);
    }

    /// The writes, in the order sent (version order).
    pub fn writes(&self) -> impl Iterator<Item = KvWrite<'a>> + 'a {
        let mut r = Reader::new(self.writes);
        (0..self.count).map_while(move |_| read_write(&mut r, &RELAXED).ok())
    }
}

/// Writes a section: its `scope`, the `digest` entries, then the `deltas`, each as (owner,
/// reset, base, up_to, writes).
pub(crate) fn encode_section<'w, W>(
    out: &mut impl BufMut,
    scope: KvScopeOut<'_>,
    digest: impl ExactSizeIterator<Item = (&'w [u8], u64)>,
    deltas: impl ExactSizeIterator<Item = (&'w [u8], bool, u64, u64, W)>,
) where
    W: ExactSizeIterator<Item = KvWrite<'w>>,
{
    put_scope(out, scope);
    out.put_u32(digest.len() as u32);
    for (owner, max) in digest {
        put_id(out, owner);
        out.put_u64(max);
    }
    out.put_u32(deltas.len() as u32);
    for (owner, reset, base, up_to, writes) in deltas {
        put_delta(out, owner, reset, base, up_to, writes);
    }
}

/// Writes one delta: its owner, flags, base, up_to, and writes.
pub(super) fn put_delta<'w>(
    out: &mut impl BufMut,
    owner: &[u8],
    reset: bool,
    base: u64,
    up_to: u64,
    writes: impl ExactSizeIterator<Item = KvWrite<'w>>,
) {
    put_id(out, owner);
    out.put_u8(u8::from(reset));
    out.put_u64(base);
    out.put_u64(up_to);
    out.put_u32(writes.len() as u32);
    for w in writes {
        put_write(out, &w);
    }
}

/// Writes one write (key, version, kind, value).
pub(super) fn put_write(out: &mut impl BufMut, w: &KvWrite<'_>) {
    out.put_u16(w.key.len() as u16);
    out.put_slice(w.key);
    out.put_u64(w.version);
    match w.value {
        None => out.put_u8(0),
        Some(v) => {
            out.put_u8(1);
            out.put_u32(v.len() as u32);
            out.put_slice(v);
        }
    }
}
