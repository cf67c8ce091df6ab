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
}

/// Pre-encoded messages about members, each keyed by its subject: newer news about a
/// member replaces older news still queued, and nothing is re-encoded per packet.
#[derive(Debug)]
pub(crate) struct Dissemination {
    queue: BTreeMap<Key, Entry>,
    by_subject: IdMap<Key>,
    sequence: u64,
    /// Scratch for one fill: keys taken, reused to avoid an allocation per packet.
    taken: Vec<Key>,
}

impl Dissemination {
    /// An empty queue whose subject index hashes with `keys`.
    pub(crate) fn new(keys: Keys) -> Self {
        Dissemination { queue: BTreeMap::new(), by_subject: id_map(keys), sequence: 0, taken: Vec::new() }
    }

    /// Pieces of news queued.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues `message` (one encoded wire message) about `subject`, replacing older news
    /// about the same subject. If more than `capacity` are queued, the most-sent entry is
    /// dropped and `true` returned so the caller can count it.
    pub(crate) fn push(&mut self, subject: NodeId, message: Bytes, capacity: usize) -> bool {
        if let Some(old) = self.by_subject.remove(&subject) {
            self.queue.remove(&old);
        }
        self.sequence += 1;
        let key = Key { sends: 0, age: u64::MAX - self.sequence };
        self.by_subject.insert(subject.clone(), key);
        self.queue.insert(key, Entry { subject, message });
        if self.queue.len() > capacity {
            if let Some((_, dropped)) = self.queue.pop_last() {
                self.by_subject.remove(&dropped.subject);
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
        for (key, entry) in &self.queue {
            if room < SMALLEST || misses >= MAX_MISSES {
                break;
            }
            if entry.message.len() <= room {
                out.put_slice(&entry.message);
                room -= entry.message.len();
                self.taken.push(*key);
            } else {
                misses += 1;
            }
        }
        for key in &self.taken {
            let Some(entry) = self.queue.remove(key) else {
                continue;
            };
            let next = Key { sends: key.sends + 1, age: key.age };
            if next.sends >= limit {
                self.by_subject.remove(&entry.subject);
            } else {
                self.by_subject.insert(entry.subject.clone(), next);
                self.queue.insert(next, entry);
            }
        }
        self.taken.len()
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
