//! The piggyback queue: news waiting to ride on outgoing packets, least-sent first.

use crate::hashing::{IdMap, Keys, id_map};
use crate::identity::NodeId;
use crate::prelude::*;
use bytes::{BufMut, BytesMut};
use smallvec::SmallVec;

/// How many times each piece of news is sent: `mult * ceil(log10(n + 1))` for `n` live
/// members, enough to reach all of them with high probability (SWIM's infection-style
/// dissemination; memberlist's `retransmitLimit`).
pub(crate) fn retransmit_limit(mult: u32, n: usize) -> u32 {
    // ceil(log10(n + 1)) is the number of decimal digits of n, for n >= 1.
    let digits = if n == 0 { 1 } else { n.ilog10() + 1 };
    mult.saturating_mul(digits)
}

/// No entry: the end of a stack.
const NONE: u32 = u32::MAX;

/// One encoded message, inline when it is small (most are: an Alive with a short id is
/// about 25 bytes). Not a slice of a shared buffer: a long-queued message would pin the
/// whole buffer it was cut from.
type Encoded = SmallVec<[u8; 32]>;

#[derive(Debug)]
struct Entry {
    subject: NodeId,
    message: Encoded,
    /// Times sent so far: the entry sits in the stack `levels[sends]`.
    sends: u32,
    /// Sends beyond the fill's limit this entry is due (urgent news).
    extra: u32,
    /// Neighbours in that stack (slab indices, or [`NONE`]).
    above: u32,
    below: u32,
}

/// One stack of entries, linked through the entries themselves.
#[derive(Copy, Clone, Debug)]
struct Stack {
    top: u32,
    bottom: u32,
}

impl Stack {
    const EMPTY: Stack = Stack { top: NONE, bottom: NONE };
}

/// Pre-encoded messages about members, each keyed by its subject: newer news about a
/// member replaces older news still queued, and nothing is re-encoded per packet.
///
/// Order: fewest sends first, and among equals the most recently queued or sent first
/// (fresh news spreads before old news, as in memberlist). `levels[k]` is a stack of the
/// entries sent `k` times, linked through the entries, so queueing, sending, replacing
/// and dropping are O(1): no ordered map, and no hashing per send.
#[derive(Debug)]
pub(crate) struct Dissemination {
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
    by_subject: IdMap<u32>,
    levels: Vec<Stack>,
    /// Scratch for one fill: slab indices taken, reused to avoid an allocation per packet.
    taken: Vec<u32>,
}

impl Dissemination {
    /// An empty queue whose subject index hashes with `keys`.
    pub(crate) fn new(keys: Keys) -> Self {
        Dissemination {
            entries: Vec::new(),
            free: Vec::new(),
            by_subject: id_map(keys),
            levels: Vec::new(),
            taken: Vec::new(),
        }
    }

    /// Pieces of news queued.
    pub(crate) fn len(&self) -> usize {
        self.by_subject.len()
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_subject.is_empty()
    }

    fn entry(&mut self, idx: u32) -> &mut Entry {
        self.entries[idx as usize].as_mut().expect("linked entries are occupied")
    }

    /// Puts entry `idx` on top of the stack for its send count.
    fn link(&mut self, idx: u32) {
        let level = self.entry(idx).sends as usize;
        if self.levels.len() <= level {
            self.levels.resize(level + 1, Stack::EMPTY);
        }
        let old_top = self.levels[level].top;
        let entry = self.entry(idx);
        (entry.above, entry.below) = (NONE, old_top);
        match old_top {
            NONE => self.levels[level].bottom = idx,
            top => self.entry(top).above = idx,
        }
        self.levels[level].top = idx;
    }

    /// Takes entry `idx` out of its stack.
    fn unlink(&mut self, idx: u32) {
        let Entry { sends, above, below, .. } = *self.entry(idx);
        let level = sends as usize;
        match above {
            NONE => self.levels[level].top = below,
            a => self.entry(a).below = below,
        }
        match below {
            NONE => self.levels[level].bottom = above,
            b => self.entry(b).above = above,
        }
    }

    /// Takes entry `idx` out of the queue. Once the queue is empty, frees what a burst of
    /// news (a mass join) made it allocate.
    fn retire(&mut self, idx: u32) {
        self.unlink(idx);
        if let Some(entry) = self.entries[idx as usize].take() {
            self.by_subject.remove(&entry.subject);
            self.free.push(idx);
        }
        if self.by_subject.is_empty() && self.entries.capacity() > 256 {
            self.entries = Vec::new();
            self.free = Vec::new();
            self.by_subject.shrink_to(0);
            self.levels.clear();
        }
    }

    /// Queues `message` (one encoded wire message) about `subject`, replacing older news
    /// about the same subject, as if already sent `sent` times (a smaller retransmit budget,
    /// and a place behind fresher news), and due `extra` sends beyond the limit. If more
    /// than `capacity` are queued, the most-sent entry is dropped and `true` returned so the
    /// caller can count it.
    pub(crate) fn push(&mut self, subject: NodeId, message: &[u8], capacity: usize, sent: u32, extra: u32) -> bool {
        let message = Encoded::from_slice(message);
        if let Some(&idx) = self.by_subject.get(&subject) {
            self.unlink(idx);
            let entry = self.entry(idx);
            (entry.message, entry.sends, entry.extra) = (message, sent, extra);
            self.link(idx);
        } else {
            let entry = Some(Entry { subject: subject.clone(), message, sends: sent, extra, above: NONE, below: NONE });
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
            self.link(idx);
        }
        if self.len() <= capacity {
            return false;
        }
        // Drop the most-sent entry, the one longest in its stack.
        if let Some(stack) = self.levels.iter().rev().find(|s| s.bottom != NONE) {
            self.retire(stack.bottom);
        }
        true
    }

    /// Another node sent us `message` about `subject`, which we have queued as it is: the
    /// news is spreading without us, so count that as one of our sends (rumor mongering's
    /// "feedback and counter" rule, as in Demers et al.). An epidemic's last rounds then
    /// end sooner, where most nodes already have the news, while fresh news is rarely heard
    /// twice and spreads as before. News sent `limit` times (plus its extra) is retired.
    pub(crate) fn heard_again(&mut self, subject: &[u8], message: &[u8], limit: u32) {
        let Some(&idx) = self.by_subject.get(subject) else { return };
        let entry = self.entry(idx);
        // Urgent news (a Down, a comeback) must reach everyone: it keeps its whole budget.
        if entry.message[..] != *message || entry.extra > 0 {
            return;
        }
        self.count_send(idx, limit);
    }

    /// Counts one more send of entry `idx`: it moves up a stack, or is retired once sent
    /// `limit` times (plus its extra).
    fn count_send(&mut self, idx: u32, limit: u32) {
        let entry = self.entry(idx);
        if entry.sends + 1 >= limit.saturating_add(entry.extra) {
            self.retire(idx);
        } else {
            self.unlink(idx);
            self.entry(idx).sends += 1;
            self.link(idx);
        }
    }

    /// Appends queued messages to `out` while they fit in `room` bytes, in queue order,
    /// and counts a send for each. News sent `limit` times (plus its extra) is retired.
    /// Returns how many messages were appended.
    pub(crate) fn fill(&mut self, out: &mut BytesMut, mut room: usize, limit: u32) -> usize {
        /// The smallest message we queue (a Left with a 1-byte id); below it, stop looking.
        const SMALLEST: usize = 7;
        /// Give up after this many entries that did not fit, so a nearly full packet
        /// never scans a long queue.
        const MAX_MISSES: usize = 16;
        self.taken.clear();
        let mut misses = 0;
        'levels: for stack in &self.levels {
            let mut idx = stack.top;
            while idx != NONE {
                if room < SMALLEST || misses >= MAX_MISSES {
                    break 'levels;
                }
                let Some(entry) = &self.entries[idx as usize] else { break };
                if entry.message.len() <= room {
                    out.put_slice(&entry.message);
                    room -= entry.message.len();
                    self.taken.push(idx);
                } else {
                    misses += 1;
                }
                idx = entry.below;
            }
        }
        let taken = core::mem::take(&mut self.taken);
        // Oldest first, so that the newest taken ends on top of its next stack.
        for &idx in taken.iter().rev() {
            self.count_send(idx, limit);
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

    // News heard again from elsewhere counts as one of our sends, and is retired at the
    // limit like sent news; other news about the same subject, and urgent news, are left
    // alone.
    #[test]
    fn news_heard_again_counts_as_sent() {
        let mut q = Dissemination::new(Keys::default());
        q.push(NodeId::from("a"), b"a-news", 10, 0, 0);
        q.heard_again(b"a", b"a-other", 3);
        q.heard_again(b"b", b"a-news", 3);
        let mut out = BytesMut::new();
        assert_eq!(q.fill(&mut out, 100, 3), 1);
        q.heard_again(b"a", b"a-news", 3);
        assert_eq!(q.fill(&mut out, 100, 3), 1);
        assert!(q.is_empty(), "sent twice and heard once: three in all, the limit");
        let mut q = Dissemination::new(Keys::default());
        q.push(NodeId::from("a"), b"a-news", 10, 0, 0);
        for _ in 0..3 {
            assert_eq!(q.fill(&mut out, 100, 3), 1);
        }
        assert!(q.is_empty(), "unheard news is sent the whole limit");
        q.push(NodeId::from("a"), b"a-news", 10, 0, 3);
        for _ in 0..5 {
            q.heard_again(b"a", b"a-news", 3);
        }
        for _ in 0..6 {
            assert_eq!(q.fill(&mut out, 100, 3), 1, "urgent news keeps its whole budget");
        }
        assert!(q.is_empty());
    }

    #[test]
    fn newer_news_replaces_older_and_least_sent_goes_first() {
        let mut q = Dissemination::new(Keys::default());
        q.push(NodeId::from("a"), b"a-old-news", 10, 0, 0);
        q.push(NodeId::from("b"), b"b-news-xx", 10, 0, 0);
        q.push(NodeId::from("a"), b"a-new-news", 10, 0, 0);
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
        q.push(NodeId::from("a"), b"aaaaaaa", 2, 0, 0);
        let mut out = BytesMut::new();
        q.fill(&mut out, 100, 5);
        q.push(NodeId::from("b"), b"bbbbbbb", 2, 0, 0);
        assert!(q.push(NodeId::from("c"), b"ccccccc", 2, 0, 0));
        out.clear();
        q.fill(&mut out, 100, 5);
        assert_eq!(&out[..], b"cccccccbbbbbbb");
    }

    /// The queue's contract, stated as the simplest model that meets it: per subject, the
    /// current message, its sends, and when it was last queued or sent; a fill takes
    /// entries by (fewest sends, latest placement) while they fit, skipping at most
    /// `MAX_MISSES` that do not; the capacity drop takes the most-sent, earliest placed.
    #[derive(Default)]
    struct Model {
        entries: Vec<(u8, Vec<u8>, u32, u64)>,
        clock: u64,
    }

    impl Model {
        fn push(&mut self, subject: u8, message: Vec<u8>, capacity: usize, sent: u32) -> bool {
            self.clock += 1;
            self.entries.retain(|e| e.0 != subject);
            self.entries.push((subject, message, sent, self.clock));
            if self.entries.len() <= capacity {
                return false;
            }
            let worst = (0..self.entries.len()).max_by_key(|&i| (self.entries[i].2, u64::MAX - self.entries[i].3));
            self.entries.remove(worst.unwrap());
            true
        }

        fn fill(&mut self, mut room: usize, limit: u32) -> Vec<u8> {
            self.entries.sort_by_key(|e| (e.2, u64::MAX - e.3));
            let (mut out, mut taken, mut misses) = (Vec::new(), Vec::new(), 0);
            for (i, e) in self.entries.iter().enumerate() {
                if room < 7 || misses >= 16 {
                    break;
                }
                if e.1.len() <= room {
                    out.extend_from_slice(&e.1);
                    room -= e.1.len();
                    taken.push(i);
                } else {
                    misses += 1;
                }
            }
            for &i in taken.iter().rev() {
                self.clock += 1;
                self.entries[i].2 += 1;
                self.entries[i].3 = self.clock;
            }
            self.entries.retain(|e| e.2 < limit);
            out
        }
    }

    proptest::proptest! {
        #[test]
        fn the_queue_behaves_like_its_model(
            ops in proptest::collection::vec((0u8..12, 7usize..40, proptest::bool::ANY, 0u32..3), 1..300),
            capacity in 1usize..10,
            limit in 1u32..6,
        ) {
            let (mut q, mut model) = (Dissemination::new(Keys::default()), Model::default());
            for (i, (subject, size, is_fill, sent)) in ops.into_iter().enumerate() {
                if is_fill {
                    let mut out = BytesMut::new();
                    let room = size * 3;
                    let count = q.fill(&mut out, room, limit);
                    let expected = model.fill(room, limit);
                    proptest::prop_assert_eq!(&out[..], &expected[..]);
                    proptest::prop_assert!(count <= expected.len() && out.len() <= room);
                } else {
                    let message = vec![i as u8; size];
                    let sent = sent.min(limit - 1); // a head start short of the limit, as nodes use it
                    let dropped = q.push(NodeId::new([subject]), &message, capacity, sent, 0);
                    proptest::prop_assert_eq!(dropped, model.push(subject, message, capacity, sent));
                }
                proptest::prop_assert_eq!(q.len(), model.entries.len());
            }
        }
    }
}
