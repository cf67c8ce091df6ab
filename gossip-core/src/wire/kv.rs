//! The key/value part of a push-pull: a Scuttlebutt digest and deltas (see `crate::kv`).
//!
//! ```text
//! section  digest_count u32 | (id | max u64)* | delta_count u32 | delta*
//! delta    id | flags u8 (1: reset) | base u64 | up_to u64 | write_count u32 | write*
//! write    key_len u16 | key | version u64 | kind u8 (0: delete, 1: set) | [value_len u32 | value]
//! ```
//!
//! Decoding validates the whole section once and keeps it as borrowed bytes; the
//! iterators re-read it and cannot fail.

use super::{DecodeError, Limits, Reader, put_id, read_id};
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
    raw: &'a [u8],
}

/// One owner's writes in a [`KvSection`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct KvDelta<'a> {
    /// Whose keys.
    pub owner: &'a [u8],
    /// The whole state, replacing the receiver's copy.
    pub reset: bool,
    /// See `crate::kv::OwnerDelta::base`.
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
pub fn delta_header_len(owner: &[u8]) -> usize {
    MIN_DELTA.saturating_sub(1).saturating_add(owner.len())
}

/// Encoded size of a digest entry for `owner`.
pub fn digest_entry_len(owner: &[u8]) -> usize {
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

/// Reads and validates a section.
pub(super) fn read_section<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<KvSection<'a>, DecodeError> {
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
    Ok(KvSection { raw })
}

impl<'a> KvSection<'a> {
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
        self.raw.len()
    }

    /// Writes the section back out.
    pub fn encode(&self, out: &mut impl BufMut) {
        out.put_slice(self.raw);
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

/// Writes a section: the `digest` entries, then the `deltas`, each as (owner, reset, base,
/// up_to, writes).
pub fn encode_section<'w, W>(
    out: &mut impl BufMut,
    digest: impl ExactSizeIterator<Item = (&'w [u8], u64)>,
    deltas: impl ExactSizeIterator<Item = (&'w [u8], bool, u64, u64, W)>,
) where
    W: ExactSizeIterator<Item = KvWrite<'w>>,
{
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
