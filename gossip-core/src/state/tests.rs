//! The store and the node glue: unit tests and proptests.

use super::replica::Entry;
use super::store::*;
use super::*;
use crate::digest;
use alloc::collections::BTreeMap;
use proptest::prelude::*;

const NODES: usize = 3;
const GRACE: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
enum Op {
    /// Node `owner` sets key `key` to `value` (or deletes it).
    Write { owner: usize, key: u8, value: Option<u8> },
    /// `to` asks `from` for what it lacks, with this budget: by its whole digest, or
    /// digest-first over `2^log2` buckets.
    Sync { from: usize, to: usize, budget: usize, log2: Option<u8> },
    /// Time passes (seconds), and every node reclaims old tombstones.
    Wait { secs: u64 },
    /// `from` gossips its `most` most recent writes of `owner` to `to`, as one message.
    Piggyback { from: usize, owner: usize, most: usize, to: usize },
    /// `owner`'s `back`-th latest write of `key`, alone (an old message may still be in
    /// flight), reaches `to`, which takes it even out of order (as a node does).
    Gossip { owner: usize, key: u8, back: usize, to: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..NODES, 0..4u8, proptest::option::of(any::<u8>())).prop_map(|(owner, key, value)| Op::Write { owner, key, value }),
        3 => (0..NODES, 0..NODES, 20..200usize, proptest::option::of(0..3u8)).prop_map(|(from, to, budget, log2)| Op::Sync { from, to, budget, log2 }),
        1 => (1..8u64).prop_map(|secs| Op::Wait { secs }),
        3 => (0..NODES, 0..NODES, 1..4usize, 0..NODES).prop_map(|(from, owner, most, to)| Op::Piggyback { from, owner, most, to }),
        3 => (0..NODES, 0..4u8, 0..3usize, 0..NODES).prop_map(|(owner, key, back, to)| Op::Gossip { owner, key, back, to }),
    ]
}

fn id(i: usize) -> NodeId {
    NodeId::from(format!("n{i}"))
}

/// What a replica complete up to `max` may show for `key`: exactly the owner's latest
/// write if that is at or below `max`; else nothing or the value of any of its writes
/// (an earlier one it has, or a later one taken out of order from gossip). A deleted
/// key whose delete is the latest write, at or below `max`, never shows a value.
fn check_key(history: &[Write], key: &Bytes, max: u64, shown: Option<&[u8]>) -> Result<(), String> {
    let writes: Vec<&Write> = history.iter().filter(|w| w.key == *key).collect();
    match writes.last() {
        Some(latest) if latest.version <= max => {
            (latest.value.as_deref() == shown).then_some(()).ok_or(format!("{key:?}: {shown:?}, latest {latest:?}"))
        }
        _ => (shown.is_none() || writes.iter().any(|w| w.value.as_deref() == shown))
            .then_some(())
            .ok_or(format!("{key:?}: {shown:?} was never written")),
    }
}

/// The live keys of an owner after its writes up to `version`.
fn as_of(history: &[Write], version: u64) -> BTreeMap<Bytes, Bytes> {
    let mut state = BTreeMap::new();
    for w in history.iter().filter(|w| w.version <= version) {
        match &w.value {
            Some(v) => state.insert(w.key.clone(), v.clone()),
            None => state.remove(&w.key),
        };
    }
    state
}

fn view(store: &KvStore, owner: &NodeId) -> BTreeMap<Bytes, Bytes> {
    store.entries(owner.as_bytes()).map(|(k, v)| (Bytes::copy_from_slice(k), Bytes::copy_from_slice(v))).collect()
}

fn sync(stores: &mut [KvStore], now: Time, from: usize, to: usize, budget: usize) -> Vec<Write> {
    let digest: BTreeMap<NodeId, u64> = stores[to].digest().map(|(id, v)| (id.clone(), v)).collect();
    let deltas = stores[from].delta(&digest, budget);
    let encoded: usize =
        deltas.iter().map(|d| owner_delta_len(&d.owner) + d.writes.iter().map(write_len).sum::<usize>()).sum();
    assert!(encoded <= budget, "a delta of {encoded} bytes for a budget of {budget}");
    deltas.into_iter().flat_map(|d| stores[to].apply(now, &id(to), d)).collect()
}

/// Like [`sync`], digest-first: `to` sends its bucket sums, `from` lists its owners of
/// the buckets that differ, `to` its own (the push-back), and `from` sends the deltas
/// `to` lacks among those.
fn sync_digest_first(stores: &mut [KvStore], now: Time, from: usize, to: usize, budget: usize, log2: u8) -> Vec<Write> {
    let (theirs, mine) = (stores[to].bucket_sums(log2), stores[from].bucket_sums(log2));
    let mut bits = vec![0u8; wire::bitmap_len(log2)];
    for b in (0..mine.len()).filter(|&b| mine[b] != theirs[b]) {
        bits[b / 8] |= 1 << (b % 8);
    }
    let listing: BTreeMap<NodeId, u64> =
        stores[to].listed(log2, &bits).into_iter().map(|(id, v)| (id.clone(), v)).collect();
    let within = |id: &[u8]| {
        let b = digest::bucket(id, log2);
        bits[b / 8] & (1 << (b % 8)) != 0
    };
    let deltas = stores[from].delta_within(&listing, within, budget);
    deltas.into_iter().flat_map(|d| stores[to].apply(now, &id(to), d)).collect()
}

proptest! {
    // Cheap cases, and the out-of-order paths need many to be reached.
    #![proptest_config(ProptestConfig::with_cases(2048))]

    // Whatever the writes, partial syncs and reclaims: every replica complete up to a
    // version holds each key the owner last wrote by then exactly as written (no gap,
    // no deleted key back), and nothing the owner never wrote; and syncing everyone
    // with everyone makes every replica the owner's current state.
    #[test]
    fn replicas_are_prefixes_and_converge(ops in proptest::collection::vec(op(), 0..120)) {
        let mut stores: Vec<KvStore> = (0..NODES).map(|_| KvStore::default()).collect();
        let mut history: Vec<Vec<Write>> = vec![Vec::new(); NODES];
        let mut highest = [[[0u64; 4]; NODES]; NODES];
        let mut now = Time::ZERO;
        for op in ops {
            match op {
                Op::Write { owner, key, value } => {
                    let w = stores[owner].write(now, &id(owner), 0, Bytes::from(vec![key]), value.map(|v| Bytes::from(vec![v])));
                    history[owner].push(w);
                }
                Op::Sync { from, to, budget, log2 } => {
                    if from != to {
                        match log2 {
                            None => sync(&mut stores, now, from, to, budget),
                            Some(log2) => sync_digest_first(&mut stores, now, from, to, budget, log2),
                        };
                    }
                }
                Op::Wait { secs } => {
                    now = now.saturating_add(Duration::from_secs(secs));
                    for s in &mut stores {
                        s.reclaim(now, GRACE);
                    }
                }
                Op::Piggyback { from, owner, most, to } => {
                    if let Some(delta) = stores[from].recent(&id(owner), most, usize::MAX).filter(|_| from != to) {
                        stores[to].apply_gossip(now, &id(to), delta);
                    }
                }
                Op::Gossip { owner, key, back, to } => {
                    let key = Bytes::from(vec![key]);
                    let old = history[owner].iter().rev().filter(|w| w.key == key).nth(back).cloned();
                    if let Some(w) = old.filter(|_| owner != to) {
                        // Its base when it was new: every earlier write of another key.
                        let earlier = history[owner].iter().filter(|e| e.version < w.version && e.key != w.key);
                        let base = earlier.map(|e| e.version).max().unwrap_or(0);
                        let up_to = w.version;
                        let delta = OwnerDelta { owner: id(owner), reset: false, base, writes: vec![w], up_to };
                        stores[to].apply_gossip(now, &id(to), delta);
                    }
                }
            }
            for (i, s) in stores.iter().enumerate() {
                for (owner, written) in history.iter().enumerate() {
                    let max = s.digest().find(|(o, _)| **o == id(owner)).map_or(0, |(_, v)| v);
                    for key in (0..4u8).map(|k| Bytes::from(vec![k])) {
                        let shown = s.get(id(owner).as_bytes(), &key);
                        let checked = check_key(written, &key, max, shown);
                        prop_assert!(checked.is_ok(), "node {} owner {}: {:?}", i, owner, checked);
                        // What a replica holds for a key only ever moves forward.
                        let held = s.replicas.get(id(owner).as_bytes()).and_then(|r| r.get(&key)).map(Entry::version);
                        let seen = &mut highest[i][owner][usize::from(key[0])];
                        prop_assert!(held.is_none_or(|v| v >= *seen), "node {} owner {} key {:?}: {:?} after {}", i, owner, key, held, seen);
                        *seen = held.unwrap_or(*seen).max(*seen);
                    }
                }
            }
        }
        // Digest-first syncs converge as whole-digest ones did (two rounds), and agree.
        for log2 in [Some(0), Some(2)] {
            for from in 0..NODES {
                for to in (0..NODES).filter(|&to| to != from) {
                    match log2 {
                        None => sync(&mut stores, now, from, to, usize::MAX),
                        Some(log2) => sync_digest_first(&mut stores, now, from, to, usize::MAX, log2),
                    };
                }
            }
        }
        for s in &mut stores {
            for (owner, written) in history.iter().enumerate() {
                prop_assert_eq!(view(s, &id(owner)), as_of(written, u64::MAX));
            }
            prop_assert_eq!(s.bucket_sums(0), vec![s.sum()]);
        }
        let sums: Vec<Vec<u64>> = stores.iter().map(|s| s.bucket_sums(2)).collect();
        prop_assert!(sums.iter().all(|s| *s == sums[0]), "converged digests agree: {:?}", sums);
    }
}

// An owner that restarts with a higher generation supersedes its previous life: a
// replica drops the old keys (reporting them deleted) on its first write, whether the
// write comes alone (gossip) or in a delta built against the old life's version.
#[test]
fn a_restarted_owner_replaces_its_previous_life() {
    let t = Time::ZERO;
    let (old, new) = (id(0), id(0));
    for alone in [true, false] {
        let mut owner = KvStore::default();
        let mut replica = KvStore::default();
        owner.write(t, &old, 1, Bytes::from_static(b"a"), Some(Bytes::from_static(b"1")));
        owner.write(t, &old, 1, Bytes::from_static(b"b"), Some(Bytes::from_static(b"2")));
        for d in owner.delta(&BTreeMap::new(), usize::MAX) {
            replica.apply(t, &id(1), d);
        }
        let old_max = replica.max(old.as_bytes());
        let mut reborn = KvStore::default();
        let w = reborn.write(t, &new, 2, Bytes::from_static(b"c"), Some(Bytes::from_static(b"3")));
        assert!(w.version > old_max);
        let delta = if alone {
            reborn.recent(&new, 16, usize::MAX).expect("a write to gossip")
        } else {
            let digest = BTreeMap::from([(new.clone(), old_max)]);
            reborn.delta(&digest, usize::MAX).remove(0)
        };
        let mut changed: Vec<(Bytes, Option<Bytes>)> =
            replica.apply(t, &id(1), delta).into_iter().map(|w| (w.key, w.value)).collect();
        changed.sort();
        assert_eq!(
            changed,
            vec![
                (Bytes::from_static(b"a"), None),
                (Bytes::from_static(b"b"), None),
                (Bytes::from_static(b"c"), Some(Bytes::from_static(b"3")))
            ],
            "alone: {alone}"
        );
        assert_eq!(view(&replica, &new), BTreeMap::from([(Bytes::from_static(b"c"), Bytes::from_static(b"3"))]));
    }
}

// A replica that lags behind a delete whose tombstone everyone else has reclaimed gets
// a reset, and the deleted key does not come back (chitchat #110).
#[test]
fn a_reclaimed_delete_still_reaches_a_lagging_replica() {
    let mut stores: Vec<KvStore> = (0..3).map(|_| KvStore::default()).collect();
    let t0 = Time::ZERO;
    stores[0].write(t0, &id(0), 0, Bytes::from_static(b"k"), Some(Bytes::from_static(b"v")));
    sync(&mut stores, t0, 0, 2, usize::MAX);
    assert_eq!(stores[2].get(b"n0", b"k"), Some(&b"v"[..]));
    stores[0].write(t0, &id(0), 0, Bytes::from_static(b"k"), None);
    sync(&mut stores, t0, 0, 1, usize::MAX);
    let later = t0.saturating_add(GRACE);
    for s in &mut stores {
        s.reclaim(later, GRACE);
    }
    let changed = sync(&mut stores, later, 1, 2, usize::MAX);
    assert_eq!(stores[2].get(b"n0", b"k"), None);
    assert_eq!(changed.len(), 1, "the delete is reported: {changed:?}");
    assert!(changed[0].value.is_none());
}
