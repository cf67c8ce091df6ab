//! The piggyback queue: news waiting to ride on outgoing packets, least-sent first.

use crate::hashing::{IdMap, Keys, id_map};
use crate::identity::NodeId;
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::BTreeMap;

/// How many times each piece of news is sent: `mult * ceil(log10(n + 1))` for `n` live
/// members, enough to reach all of them with high probability (SWIM's infection-style
/// dissemination; memberlist's `retransmitLimit`).
pub(crate) fn retransmit_limit(mult: u32, n: usize) -> u32 {
    // ceil(log10(n + 1)) is the number of decimal digits of n, for n >= 1.
    let digits = if n == 0 { 1 } else { n.ilog10() + 1 };
    mult.saturating_mul(digits)
}

/// Queue order: fewest sends first, then newest first.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    sends: u32,
    /// `u64::MAX - sequence`, so that newer news sorts first.
    age: u64,
}

#[derive(Debug)]
struct Entry {
    subject: NodeId,
    message: Bytes,
    /// Its current place in the queue.
    key: Key,
}

/// Pre-encoded messages about members, each keyed by its subject: newer news about a
/// member replaces older news still queued, and nothing is re-encoded per packet.
///
/// Entries live in a slab; the ordered queue and the subject index hold slab indices, so
/// counting a send moves a small key in the queue and never touches the subject index.
#[derive(Debug)]
pub(crate) struct Dissemination {
    queue: BTreeMap<Key, u32>,
    by_subject: IdMap<u32>,
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
    sequence: u64,
    /// Scratch for one fill: slab indices taken, reused to avoid an allocation per packet.
    taken: Vec<u32>,
}

impl Dissemination {
    /// An empty queue whose subject index hashes with `keys`.
    pub(crate) fn new(keys: Keys) -> Self {
        Dissemination {
            queue: BTreeMap::new(),
            by_subject: id_map(keys),
            entries: Vec::new(),
            free: Vec::new(),
            sequence: 0,
            taken: Vec::new(),
        }
    }

    /// Pieces of news queued.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Takes entry `idx` out of the slab and the subject index (its queue key is the
    /// caller's business).
    fn retire(&mut self, idx: u32) -> Option<Entry> {
        let entry = self.entries.get_mut(idx as usize)?.take()?;
        self.by_subject.remove(&entry.subject);
        self.free.push(idx);
        Some(entry)
    }

    /// Queues `message` (one encoded wire message) about `subject`, replacing older news
    /// about the same subject. If more than `capacity` are queued, the most-sent entry is
    /// dropped and `true` returned so the caller can count it.
    pub(crate) fn push(&mut self, subject: NodeId, message: Bytes, capacity: usize) -> bool {
        self.sequence += 1;
        let key = Key { sends: 0, age: u64::MAX - self.sequence };
        if let Some(&idx) = self.by_subject.get(&subject)
            && let Some(entry) = self.entries[idx as usize].as_mut()
        {
            self.queue.remove(&entry.key);
            entry.message = message;
            entry.key = key;
            self.queue.insert(key, idx);
        } else {
            let entry = Some(Entry { subject: subject.clone(), message, key });
            let idx = match self.free.pop() {
                Some(idx) => {
                    self.entries[idx as usize] = entry;
                    idx
                }
                None => {
                    self.entries.push(entry);
                    (self.entries.len() - 1) as u32
                }
            };
            self.by_subject.insert(subject, idx);
            self.queue.insert(key, idx);
        }
        if self.queue.len() > capacity {
            if let Some((_, idx)) = self.queue.pop_last() {
                self.retire(idx);
            }
            return true;
        }
        false
    }

    /// Appends queued messages to `out` while they fit in `room` bytes, least-sent first,
    /// and counts a send for each. News sent `limit` times is retired. Returns how many
    /// messages were appended.
    pub(crate) fn fill(&mut self, out: &mut BytesMut, mut room: usize, limit: u32) -> usize {
        /// The smallest message we queue (a Left with a 1-byte id); below it, stop looking.
        const SMALLEST: usize = 7;
        /// Give up after this many entries that did not fit, so a nearly full packet
        /// never scans a long queue.
        const MAX_MISSES: usize = 16;
        self.taken.clear();
        let mut misses = 0;
        for &idx in self.queue.values() {
            if room < SMALLEST || misses >= MAX_MISSES {
                break;
            }
            let Some(entry) = &self.entries[idx as usize] else { continue };
            if entry.message.len() <= room {
                out.put_slice(&entry.message);
                room -= entry.message.len();
                self.taken.push(idx);
            } else {
                misses += 1;
            }
        }
        let taken = core::mem::take(&mut self.taken);
        for &idx in &taken {
            let Some(entry) = self.entries[idx as usize].as_mut() else { continue };
            self.queue.remove(&entry.key);
            entry.key.sends += 1;
            if entry.key.sends >= limit {
                self.retire(idx);
            } else {
                self.queue.insert(entry.key, idx);
            }
        }
        let count = taken.len();
        self.taken = taken;
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_grows_with_log_of_cluster_size() {
        assert_eq!(retransmit_limit(4, 1), 4);
        assert_eq!(retransmit_limit(4, 9), 4);
        assert_eq!(retransmit_limit(4, 10), 8);
        assert_eq!(retransmit_limit(4, 1000), 16);
    }

    #[test]
    fn newer_news_replaces_older_and_least_sent_goes_first() {
        let mut q = Dissemination::new(Keys::default());
        q.push(NodeId::from("a"), Bytes::from_static(b"a-old-news"), 10);
        q.push(NodeId::from("b"), Bytes::from_static(b"b-news-xx"), 10);
        q.push(NodeId::from("a"), Bytes::from_static(b"a-new-news"), 10);
        assert_eq!(q.len(), 2);
        let mut out = BytesMut::new();
        // Room for one message: the newest (a-new) goes first.
        assert_eq!(q.fill(&mut out, 10, 3), 1);
        assert_eq!(&out[..], b"a-new-news");
        out.clear();
        // b has fewer sends now, so it goes before a.
        assert_eq!(q.fill(&mut out, 10, 3), 1);
        assert_eq!(&out[..], b"b-news-xx");
        out.clear();
        // Both fit: each is sent until its limit, then retired.
        for _ in 0..2 {
            assert_eq!(q.fill(&mut out, 100, 3), 2);
        }
        assert!(q.is_empty());
    }

    #[test]
    fn capacity_drops_the_most_sent() {
        let mut q = Dissemination::new(Keys::default());
        q.push(NodeId::from("a"), Bytes::from_static(b"aaaaaaa"), 2);
        let mut out = BytesMut::new();
        q.fill(&mut out, 100, 5);
        q.push(NodeId::from("b"), Bytes::from_static(b"bbbbbbb"), 2);
        assert!(q.push(NodeId::from("c"), Bytes::from_static(b"ccccccc"), 2));
        out.clear();
        q.fill(&mut out, 100, 5);
        assert_eq!(&out[..], b"cccccccbbbbbbb");
    }
}
