//! One owner's keys as a replica holds them, packed for memory.
//!
//! A simulator holds n² replicas (10^8 keys at 1,000 nodes of 100 keys each), and a real
//! node holds one per member. Each key is one [`Entry`] of 32 bytes in a vector sorted by
//! key and sized exactly, with the key and value inline when they fit in 21 bytes
//! together, and in one exact-size box beside it when not. (A `BTreeMap` of `Bytes` cost
//! ~275 bytes a key in the simulator: two 32-byte handles, each with its buffer and, once
//! cloned, a shared header, in tree nodes part full.) Lookups are a binary search; an
//! insert in the middle moves the entries after it, which the bound on keys per replica
//! keeps small.

use crate::prelude::*;
use bytes::Bytes;

/// Key and value bytes stored inline up to this many in all.
const INLINE: usize = 21;
/// The inline length byte's flag for a live key (lengths stay below it).
const LIVE: u8 = 0x80;

/// A key's latest write as a replica holds it: the key, the value (none for a delete's
/// tombstone) and the write's version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    version: u64,
    data: Packed,
}

/// The key's bytes followed by the value's, with their lengths and whether the key is
/// live: inline, `[key_len, len | LIVE, bytes...]`; boxed, `[key_len (2, LE), live, bytes...]`.
/// (So the enum is 24 bytes: its tag and 23 inline bytes, or its tag and the box.)
#[derive(Clone, Debug, PartialEq, Eq)]
enum Packed {
    Inline([u8; INLINE + 2]),
    Boxed(Box<[u8]>),
}

impl Entry {
    /// A packed entry. Keys are at most `u16::MAX` bytes (`Config::validate` and the
    /// decoder check it); a longer one is cut there rather than wrap.
    fn new(key: &[u8], value: Option<&[u8]>, version: u64) -> Self {
        let key = &key[..key.len().min(usize::from(u16::MAX))];
        let value_bytes = value.unwrap_or_default();
        let len = key.len() + value_bytes.len();
        let live = value.is_some();
        let data = if len <= INLINE {
            let mut buf = [0; INLINE + 2];
            buf[0] = key.len() as u8;
            buf[1] = len as u8 | if live { LIVE } else { 0 };
            buf[2..2 + key.len()].copy_from_slice(key);
            buf[2 + key.len()..2 + len].copy_from_slice(value_bytes);
            Packed::Inline(buf)
        } else {
            let mut buf = Vec::with_capacity(3 + len);
            buf.extend_from_slice(&(key.len() as u16).to_le_bytes());
            buf.push(u8::from(live));
            buf.extend_from_slice(key);
            buf.extend_from_slice(value_bytes);
            Packed::Boxed(buf.into_boxed_slice())
        };
        Entry { version, data }
    }

    /// The key and value bytes, and where the key ends.
    fn parts(&self) -> (&[u8], usize, bool) {
        match &self.data {
            Packed::Inline(buf) => {
                let len = usize::from(buf[1] & !LIVE);
                (&buf[2..2 + len], usize::from(buf[0]), buf[1] & LIVE != 0)
            }
            Packed::Boxed(buf) => (&buf[3..], usize::from(u16::from_le_bytes([buf[0], buf[1]])), buf[2] != 0),
        }
    }

    /// The key.
    pub(crate) fn key(&self) -> &[u8] {
        let (bytes, key_len, _) = self.parts();
        &bytes[..key_len]
    }

    /// The value, or `None` for a tombstone.
    pub(crate) fn value(&self) -> Option<&[u8]> {
        let (bytes, key_len, live) = self.parts();
        live.then(|| &bytes[key_len..])
    }

    /// Whether the key is set (not a tombstone).
    pub(crate) fn is_live(&self) -> bool {
        self.parts().2
    }

    /// The version of the write.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// The value as an owned handle (for an event or a delta).
    pub(crate) fn value_bytes(&self) -> Option<Bytes> {
        self.value().map(Bytes::copy_from_slice)
    }

    /// The key as an owned handle.
    pub(crate) fn key_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.key())
    }
}

/// A replica of one owner's keys.
#[derive(Clone, Debug, Default)]
pub(crate) struct Replica {
    /// Every write up to this version is reflected here.
    pub(crate) max: u64,
    /// The highest version of a reclaimed tombstone: a peer below it gets a reset.
    pub(crate) reclaimed: u64,
    /// Latest write per key (deletes included, until reclaimed), sorted by key.
    entries: Vec<Entry>,
}

impl Replica {
    /// Where `key` is, or would go.
    fn find(&self, key: &[u8]) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.key().cmp(key))
    }

    /// The entry for `key`, if any.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.find(key).ok().and_then(|i| self.entries.get(i))
    }

    /// Whether `key` has an entry (live or a tombstone).
    pub(crate) fn contains(&self, key: &[u8]) -> bool {
        self.find(key).is_ok()
    }

    /// How many keys are held, tombstones included.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Room for `additional` more keys, exactly: replicas are many and mostly stay the
    /// size their first delta gave them.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.entries.reserve_exact(additional);
    }

    /// Records a write of `key` (replacing what was held for it); `max` is unchanged.
    pub(crate) fn insert(&mut self, key: &[u8], value: Option<&[u8]>, version: u64) {
        let entry = Entry::new(key, value, version);
        match self.find(key) {
            Ok(i) => self.entries[i] = entry,
            Err(i) => self.entries.insert(i, entry),
        }
    }

    /// Forgets `key`'s entry.
    pub(crate) fn remove(&mut self, key: &[u8]) {
        if let Ok(i) = self.find(key) {
            self.entries.remove(i);
        }
    }

    /// Every entry, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Drops the entries `drop` picks, in key order; returns the keys of the live ones.
    pub(crate) fn drop_where(&mut self, mut drop: impl FnMut(&Entry) -> bool) -> Vec<Bytes> {
        let mut live = Vec::new();
        self.entries.retain(|e| {
            let gone = drop(e);
            if gone && e.is_live() {
                live.push(e.key_bytes());
            }
            !gone
        });
        live
    }

    /// Entries above `after` and up to `max`, in version order: a prefix of the owner's
    /// history (never the newer writes held out of order).
    pub(crate) fn after(&self, after: u64) -> Vec<&Entry> {
        let mut held: Vec<&Entry> =
            self.entries.iter().filter(|e| e.version > after && e.version <= self.max).collect();
        held.sort_unstable_by_key(|e| e.version);
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_thirty_two_bytes_and_keeps_its_bytes() {
        assert_eq!(size_of::<Entry>(), 32);
        let long = vec![7u8; 300];
        for (key, value) in [
            (&b"k"[..], Some(&b""[..])),
            (b"key-001", Some(b"value-12-34")),
            (b"key", None),
            (&[1u8; 21][..], Some(&[][..])),
            (&[1u8; 20][..], Some(&[2u8; 2][..])),
            (&[1u8; 21][..], None),
            (b"key-001", Some(b"value-123-45")),
            (&long[..], Some(&long[..])),
            (&long[..], None),
        ] {
            let e = Entry::new(key, value, 9);
            assert_eq!((e.key(), e.value(), e.version(), e.is_live()), (key, value, 9, value.is_some()));
        }
    }

    #[test]
    fn a_replica_stays_sorted_by_key() {
        let mut r = Replica::default();
        for (i, k) in [b"c", b"a", b"d", b"b", b"a"].into_iter().enumerate() {
            r.insert(k, Some(b"v"), i as u64 + 1);
        }
        let keys: Vec<&[u8]> = r.iter().map(Entry::key).collect();
        assert_eq!(keys, [b"a", b"b", b"c", b"d"]);
        assert_eq!(r.get(b"a").map(Entry::version), Some(5));
        r.remove(b"b");
        assert!(!r.contains(b"b") && r.len() == 3);
        r.max = 4;
        let versions: Vec<u64> = r.after(1).iter().map(|e| e.version()).collect();
        assert_eq!(versions, [3], "c (1) is at or below 1, a (5) above max: held out of order");
        assert_eq!(r.drop_where(|e| e.key() != b"c"), vec![Bytes::from_static(b"a"), Bytes::from_static(b"d")]);
    }
}
