//! Membership digests, so that a full sync sends only what differs. A view's digest is,
//! per bucket of ids, the wrapping sum of a hash of each member's (id, incarnation,
//! state). A sum does not depend on order, so the member table keeps it current in O(1)
//! per change. Before a full sync the two nodes compare digests and exchange only the
//! members of buckets whose sums differ: two nodes that agree exchange a few kilobytes
//! instead of their whole tables, which at 10,000 members is the difference between
//! microseconds and milliseconds per sync.
//!
//! A sum is two fields: the top byte counts the bucket's members (mod 256) and the low 56
//! bits sum their hashes, each field wrapping on its own. From the count a node sees which
//! side holds more of a bucket, and from the hash part which members make up the
//! difference (see [`lacking`]).
//!
//! The hash is fixed, not keyed like the id index: both nodes must compute the same one.
//! A peer crafting colliding states could at most hide a difference from a sync, which a
//! peer able to send states can do more simply by lying.

use crate::identity::MemberState;
use crate::prelude::*;

/// The most buckets a digest has, as a power of two: what the wire allows.
pub(crate) const MAX_LOG2: u8 = crate::wire::MAX_SUMS_LOG2;

/// Per-bucket sums at the finest granularity; coarser digests are folded from it.
#[derive(Clone, Debug)]
pub(crate) struct Digest {
    sums: Box<[u64]>,
    /// Members per finest bucket, exactly (a sum's count wraps at 256).
    counts: Box<[u32]>,
}

impl Default for Digest {
    fn default() -> Self {
        Digest { sums: vec![0; 1 << MAX_LOG2].into_boxed_slice(), counts: vec![0; 1 << MAX_LOG2].into_boxed_slice() }
    }
}

impl Digest {
    /// Counts a member in `state` at `incarnation`. Returns its bucket at the finest
    /// granularity, `2^MAX_LOG2` buckets, where a coarser bucket is the low bits (see
    /// [`coarse`]): a table keeps it per member, so that finding the members of the buckets
    /// a sync must send hashes only those.
    pub(crate) fn add(&mut self, id: &[u8], incarnation: u32, state: MemberState) -> u16 {
        let h = id_hash(id);
        let fine = fine_bucket(h);
        self.sums[fine] = plus(self.sums[fine], entry(h, incarnation, state));
        self.counts[fine] += 1;
        fine as u16
    }

    /// Stops counting a member previously added with the same values.
    pub(crate) fn remove(&mut self, id: &[u8], incarnation: u32, state: MemberState) {
        let h = id_hash(id);
        let fine = fine_bucket(h);
        self.sums[fine] = minus(self.sums[fine], entry(h, incarnation, state));
        self.counts[fine] = self.counts[fine].saturating_sub(1);
    }

    /// How many members each of `2^log2` buckets holds (this node's own record not counted).
    pub(crate) fn counts(&self, log2: u8) -> Vec<u32> {
        fold_finest(&self.counts, log2, |a, b| a + b)
    }

    /// The sums over `2^log2` buckets (`log2 <= MAX_LOG2`), with this node's own record
    /// (`own`) counted too: a node's view includes itself, as its peer's view does.
    pub(crate) fn fold(&self, log2: u8, own: (&[u8], u32, MemberState)) -> Vec<u64> {
        let mut folded = fold_finest(&self.sums, log2, plus);
        let (id, incarnation, state) = own;
        let h = id_hash(id);
        let own_sum = &mut folded[bucket_at(h, log2)];
        *own_sum = plus(*own_sum, entry(h, incarnation, state));
        folded
    }
}

/// How many buckets (as a power of two) a view of `n` members asks for: about eight
/// members per bucket, so that a sync between nodes differing in a few members moves a
/// few buckets.
pub(crate) fn log2_for(n: usize) -> u8 {
    let buckets = n.div_ceil(8).max(1).next_power_of_two();
    (buckets.ilog2() as u8).min(MAX_LOG2)
}

/// How many buckets (as a power of two) a key/value digest of `owners` entries is folded
/// into: about sixteen owners per bucket (an entry is ~17 bytes, a sum 8), so a request
/// costs about half a byte per owner and a bucket that differs lists ~270 bytes.
pub(crate) fn kv_log2_for(owners: usize) -> u8 {
    let buckets = owners.div_ceil(16).max(1).next_power_of_two();
    (buckets.ilog2() as u8).min(MAX_LOG2)
}

/// A key/value digest of (owner, max) entries folded into `2^log2` bucket sums of
/// [`kv_entry`] over owner ids.
pub(crate) fn kv_sums<'a>(entries: impl Iterator<Item = (&'a [u8], u64)>, log2: u8) -> Vec<u64> {
    let mut sums = vec![0u64; bucket_mask(log2) + 1];
    for (owner, max) in entries {
        let sum = &mut sums[bucket(owner, log2)];
        *sum = sum.wrapping_add(kv_entry(owner, max));
    }
    sums
}

/// Per-bucket values at the finest granularity folded into `2^log2` buckets with `add`:
/// bucket `i` folds into `i & mask`, so chunk by chunk, element-wise (the loop vectorizes).
fn fold_finest<T: Copy + Default>(finest: &[T], log2: u8, add: impl Fn(T, T) -> T) -> Vec<T> {
    let mut folded = vec![T::default(); bucket_mask(log2) + 1];
    for chunk in finest.chunks(folded.len()) {
        folded.iter_mut().zip(chunk).for_each(|(f, &v)| *f = add(*f, v));
    }
    folded
}

/// The low bits of a member sum: the hashes.
const HASHES: u64 = (1 << 56) - 1;

/// Two member sums (or a sum and an entry) added, count and hashes each wrapping.
fn plus(a: u64, b: u64) -> u64 {
    (a & !HASHES).wrapping_add(b & !HASHES) | (a.wrapping_add(b) & HASHES)
}

/// `b` taken from `a`, count and hashes each wrapping: what `b` lacks of `a`.
pub(crate) fn minus(a: u64, b: u64) -> u64 {
    (a & !HASHES).wrapping_sub(b & !HASHES) | (a.wrapping_sub(b) & HASHES)
}

/// Whether a difference of sums (ours [`minus`] theirs) says that the peer counted more
/// members than our `ours`. Counts wrap at 256, so this tells only while both are below
/// 128: it never says so for a bucket where we count 128 or more.
pub(crate) fn fewer(difference: u64, ours: usize) -> bool {
    ours < 128 && ((difference >> 56) as u8 as i8) < 0
}

/// A member's place in a digest of `2^log2` buckets: its bucket, and what it adds to that
/// bucket's sum.
pub(crate) fn place(id: &[u8], incarnation: u32, state: MemberState, log2: u8) -> (usize, u64) {
    let h = id_hash(id);
    (bucket_at(h, log2), entry(h, incarnation, state))
}

/// The most members of one bucket searched for a pair by [`lacking`]: a bound on the work a
/// peer's made-up sums can cause (a bucket holds about eight).
const MAX_PAIR_SEARCH: usize = 32;

/// Which of our members a peer lacks when its sum of a bucket falls short of ours by
/// `shortfall` (ours [`minus`] theirs), given what each of our members of the bucket
/// adds to it (`entries`): one or two whose entries make up the shortfall exactly. The
/// peer then holds the rest of the bucket as we do (but for a 56-bit coincidence), and a
/// sync sends it just those instead of the whole bucket. `None` when no one or two do: the
/// peer holds something we lack or hold differently, and needs the whole bucket.
///
/// In a mass join, where most differences are members one side has not heard of yet, this
/// is what keeps the catch-up syncs from resending every bucket a member is missing from.
pub(crate) fn lacking(entries: &[u64], shortfall: u64) -> Option<(usize, Option<usize>)> {
    if let Some(i) = entries.iter().position(|&e| e == shortfall) {
        return Some((i, None));
    }
    let searched = &entries[..entries.len().min(MAX_PAIR_SEARCH)];
    searched.iter().enumerate().find_map(|(i, &a)| {
        let j = searched[i + 1..].iter().position(|&b| plus(a, b) == shortfall)?;
        Some((i, Some(i + 1 + j)))
    })
}

/// The bucket among `2^log2` of a member whose finest bucket is `fine` (see [`Digest::add`]).
pub(crate) fn coarse(fine: u16, log2: u8) -> usize {
    usize::from(fine) & bucket_mask(log2)
}

/// The bucket of `id` among `2^log2`.
pub(crate) fn bucket(id: &[u8], log2: u8) -> usize {
    bucket_at(id_hash(id), log2)
}

fn bucket_mask(log2: u8) -> usize {
    (1usize << log2.min(MAX_LOG2)) - 1
}

fn bucket_at(h: u64, log2: u8) -> usize {
    h as usize & bucket_mask(log2)
}

fn fine_bucket(h: u64) -> usize {
    bucket_at(h, MAX_LOG2)
}

/// A fixed 64-bit hash of an id: its length, then each 8-byte word (the last zero-padded)
/// mixed in. A sync hashes every member of the table, so this runs a word, not a byte, at
/// a time.
fn id_hash(id: &[u8]) -> u64 {
    let mut words = id.chunks_exact(8);
    let mut h = 0x9e37_79b9_7f4a_7c15 ^ id.len() as u64;
    for word in &mut words {
        h = mix(h ^ u64::from_le_bytes(word.try_into().unwrap_or_default()));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let last = rest.iter().rev().fold(0u64, |w, &b| w << 8 | u64::from(b));
        h = mix(h ^ last);
    }
    h
}

/// One owner's contribution to a key/value digest sum (see `KvStore::sum`): its id and
/// the version its replica is complete up to.
pub(crate) fn kv_entry(owner: &[u8], max: u64) -> u64 {
    mix(id_hash(owner) ^ mix(max).rotate_left(17))
}

/// One member's contribution to its bucket's sum: a count of one and its hash.
fn entry(id_hash: u64, incarnation: u32, state: MemberState) -> u64 {
    let state = match state {
        MemberState::Alive => 1u64,
        MemberState::Suspect => 2,
        MemberState::Down => 3,
        MemberState::Left => 4,
    };
    1 << 56 | mix(id_hash ^ mix((u64::from(incarnation) << 3) | state)) & HASHES
}

/// SplitMix64's finaliser: every input bit affects every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use MemberState::*;

    /// Sums agree whatever the order of changes, and differ in exactly the bucket of a
    /// member whose incarnation or state differs.
    #[test]
    fn sums_are_order_free_and_localise_differences() {
        let ids: Vec<String> = (0..200).map(|i| format!("node-{i}")).collect();
        let (mut a, mut b) = (Digest::default(), Digest::default());
        for id in &ids {
            a.add(id.as_bytes(), 1, Alive);
        }
        for id in ids.iter().rev() {
            b.add(id.as_bytes(), 0, Suspect);
            b.remove(id.as_bytes(), 0, Suspect);
            b.add(id.as_bytes(), 1, Alive);
        }
        let own = (&b"me"[..], 3, Alive);
        for log2 in 0..=MAX_LOG2 {
            assert_eq!(a.fold(log2, own), b.fold(log2, own));
        }
        b.remove(b"node-7", 1, Alive);
        b.add(b"node-7", 2, Alive);
        let log2 = log2_for(ids.len());
        let (fa, fb) = (a.fold(log2, own), b.fold(log2, own));
        let differing: Vec<usize> = (0..fa.len()).filter(|&i| fa[i] != fb[i]).collect();
        assert_eq!(differing, vec![bucket(b"node-7", log2)]);
        assert_ne!(a.fold(log2, (b"me", 4, Alive)), a.fold(log2, own), "the own record counts");
    }

    #[test]
    fn key_sums_localise_the_owner_that_differs() {
        let owners: Vec<(String, u64)> = (0..100).map(|i| (format!("node-{i}"), i)).collect();
        let log2 = kv_log2_for(owners.len());
        assert_eq!(log2, 3);
        let a = kv_sums(owners.iter().map(|(o, v)| (o.as_bytes(), *v)), log2);
        let b = kv_sums(owners.iter().rev().map(|(o, v)| (o.as_bytes(), *v + u64::from(o == "node-42"))), log2);
        let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        assert_eq!(differing, vec![bucket(b"node-42", log2)]);
        assert_eq!(
            a.iter().fold(0u64, |s, x| s.wrapping_add(*x)),
            kv_sums(owners.iter().map(|(o, v)| (o.as_bytes(), *v)), 0)[0]
        );
    }

    /// A peer lacking one or two of a bucket's members is told exactly those; a peer that
    /// holds anything differently, or lacks three, is told the whole bucket.
    #[test]
    fn a_shortfall_of_one_or_two_members_names_them() {
        let ids: Vec<String> = (0..8).map(|i| format!("node-{i}")).collect();
        let entries: Vec<u64> = ids.iter().map(|id| place(id.as_bytes(), 1, Alive, 0).1).collect();
        let total = |skip: &[usize]| (0..8).filter(|i| !skip.contains(i)).fold(0u64, |s, i| plus(s, entries[i]));
        let ours = total(&[]);
        assert_eq!(lacking(&entries, minus(ours, total(&[3]))), Some((3, None)));
        assert_eq!(lacking(&entries, minus(ours, total(&[2, 6]))), Some((2, Some(6))));
        assert_eq!(lacking(&entries, minus(ours, total(&[1, 4, 5]))), None);
        assert!(!fewer(minus(ours, total(&[1, 4, 5])), 8));
        // The peer holds node-3 at another incarnation.
        let older = plus(total(&[3]), place(b"node-3", 0, Alive, 0).1);
        assert_eq!(lacking(&entries, minus(ours, older)), None);
        assert!(!fewer(minus(ours, older), 8));
        // The peer holds a member we lack.
        let more = plus(ours, place(b"node-9", 1, Alive, 0).1);
        assert_eq!(lacking(&entries, minus(ours, more)), None);
        assert!(fewer(minus(ours, more), 8));
        assert!(!fewer(minus(ours, more), 300), "a count past 127 may have wrapped");
    }

    /// Counts are exact where a sum's count byte wraps.
    #[test]
    fn counts_are_exact_past_the_wrap() {
        let mut d = Digest::default();
        let ids: Vec<String> = (0..300).map(|i| format!("m-{i}")).collect();
        ids.iter().for_each(|id| _ = d.add(id.as_bytes(), 1, Alive));
        ids[..10].iter().for_each(|id| d.remove(id.as_bytes(), 1, Alive));
        assert_eq!(d.counts(0), [290]);
        assert_eq!(d.fold(0, (b"me", 1, Alive))[0] >> 56, (290 + 1) % 256);
        assert_eq!(d.counts(3).iter().sum::<u32>(), 290);
        assert_eq!(d.counts(3).len(), 8);
    }

    #[test]
    fn a_coarse_bucket_is_the_low_bits_of_the_finest() {
        for i in 0..500 {
            let id = format!("member-{i}");
            for log2 in 0..=MAX_LOG2 {
                let fine = Digest::default().add(id.as_bytes(), 1, Alive);
                assert_eq!(coarse(fine, log2), bucket(id.as_bytes(), log2));
            }
        }
    }

    #[test]
    fn about_eight_members_per_bucket_up_to_the_finest() {
        assert_eq!(log2_for(0), 0);
        assert_eq!(log2_for(8), 0);
        assert_eq!(log2_for(9), 1);
        assert_eq!(log2_for(1000), 7);
        assert_eq!(log2_for(10_000), MAX_LOG2);
    }
}
