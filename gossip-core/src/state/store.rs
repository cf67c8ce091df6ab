//! The key/value store: this node's own keys and its replicas of every other owner's,
//! the tombstones and their grace period. No I/O: what the node learns and sends goes
//! through `super`.

use super::replica::{Entry, Replica};
use crate::identity::NodeId;
use crate::prelude::*;
use crate::time::Time;
use crate::wire::{self, KvWrite};
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use bytes::Bytes;
use core::time::Duration;

/// Most writes of one owner in one gossiped message: enough for an owner's whole state in
/// the common case of a few keys, so that any replica applies it without a gap.
pub(super) const MAX_GOSSIPED_WRITES: usize = 16;

/// What a sync taught this node about keys, for the catch-up's pace (see
/// `node/sync.rs`, `on_push_pull`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeysLearned {
    /// Some replica moved forward.
    pub(crate) any: bool,
    /// Some replica gained keys it did not hold (more than new values of known keys: what
    /// a joiner learns, and a node under a steady write load does not).
    pub(crate) new_keys: bool,
}

impl KeysLearned {
    /// Notes a replica that moved forward, gaining keys or not.
    pub(super) fn note(&mut self, new_keys: bool) {
        self.any = true;
        self.new_keys |= new_keys;
    }

    /// Either's lessons.
    pub(crate) fn or(self, other: KeysLearned) -> KeysLearned {
        KeysLearned { any: self.any || other.any, new_keys: self.new_keys || other.new_keys }
    }
}

/// One write by an owner: a value, or `None` for a delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Write {
    pub(crate) key: Bytes,
    pub(crate) value: Option<Bytes>,
    pub(crate) version: u64,
}

/// What a delta carries for one owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OwnerDelta {
    pub(crate) owner: NodeId,
    /// The whole state, replacing the receiver's copy (see the module docs).
    pub(crate) reset: bool,
    /// Not a reset: the version the writes start after; the receiver applies them only if
    /// it holds everything up to it (else there would be a gap). A reset: the sender's
    /// reclaim watermark, which the receiver adopts.
    pub(crate) base: u64,
    /// The writes, in version order: those above the receiver's `max`, or all for a reset.
    pub(crate) writes: Vec<Write>,
    /// The version the receiver holds everything up to once it applies this: the last
    /// write's, or the owner's `max` when the delta is complete.
    pub(crate) up_to: u64,
}

impl Write {
    /// An owned copy of a write as the wire carries it.
    pub(super) fn from_wire(w: &KvWrite<'_>) -> Self {
        Write { key: Bytes::copy_from_slice(w.key), value: w.value.map(Bytes::copy_from_slice), version: w.version }
    }
}

impl Write {
    /// An owned copy of a replica's entry.
    fn from_entry(e: &Entry) -> Self {
        Write { key: e.key_bytes(), value: e.value_bytes(), version: e.version() }
    }
}

/// One change a delta made to a replica, in the order it is reported: a write of the
/// delta (by its place in it), or a key the delta dropped (deleted at that version).
enum Change {
    Written(usize),
    Dropped(Bytes, u64),
}

impl OwnerDelta {
    /// The writes of `changes`: the delta's own moved out of it, not copied (under a large
    /// state every key a node learns is one).
    fn into_changed(self, changes: Vec<Change>) -> Vec<Write> {
        let mut writes: Vec<Option<Write>> = self.writes.into_iter().map(Some).collect();
        let write = |c| match c {
            Change::Written(i) => writes.get_mut(i).and_then(Option::take),
            Change::Dropped(key, version) => Some(Write { key, value: None, version }),
        };
        changes.into_iter().filter_map(write).collect()
    }
}

impl Replica {
    /// Applies one write known to be newer than anything here for its key.
    fn put(&mut self, w: &Write) {
        self.insert(&w.key, w.value.as_deref(), w.version);
        self.max = self.max.max(w.version);
    }
}

/// How a gossiped delta was taken (see [`KvStore::apply_gossip`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    /// Nothing new.
    No,
    /// Applied without a gap: the replica is complete up to the delta's `up_to`.
    InOrder,
    /// Some writes kept out of order (the delta left a gap).
    OutOfOrder,
}

/// Every owner's keys as this node knows them, its own included.
#[derive(Clone, Debug)]
pub(crate) struct KvStore {
    pub(super) replicas: BTreeMap<NodeId, Replica>,
    /// Tombstones in the order they were learned here, with when, for reclaiming.
    tombstones: VecDeque<(Time, NodeId, Bytes, u64)>,
    /// Most keys (deleted ones included) a replica of another owner may hold.
    max_entries: usize,
    /// Writes refused because they would have grown a replica beyond `max_entries`.
    pub(crate) refused: u64,
    /// [`KvStore::sum`], while no replica's `max` has changed since.
    sum: Option<u64>,
}

impl Default for KvStore {
    /// A store without a bound on replicas.
    fn default() -> Self {
        KvStore::bounded(usize::MAX)
    }
}

/// The owner's life a version belongs to: its high 32 bits (see
/// [`Identity::generation`](crate::Identity::generation)); within a life, versions count up
/// from `generation << 32 | 1`.
pub(super) fn generation(version: u64) -> u64 {
    version >> 32
}

/// Encoded size of a write on the wire.
pub(super) fn write_len(w: &Write) -> usize {
    KvWrite { key: &w.key, version: w.version, value: w.value.as_deref() }.encoded_len()
}

/// Encoded size of a delta in a sync's section.
pub(super) fn delta_len(d: &OwnerDelta) -> usize {
    owner_delta_len(&d.owner) + d.writes.iter().map(write_len).sum::<usize>()
}

/// Encoded size of a replica's entry as a write on the wire.
pub(super) fn entry_len(e: &Entry) -> usize {
    KvWrite { key: e.key(), version: e.version(), value: e.value() }.encoded_len()
}

/// Encoded size of an owner's delta header on the wire.
pub(super) fn owner_delta_len(owner: &NodeId) -> usize {
    wire::delta_header_len(owner.as_bytes())
}

impl KvStore {
    /// A store whose replicas of other owners hold at most `max_entries` keys each.
    pub(crate) fn bounded(max_entries: usize) -> Self {
        KvStore { replicas: BTreeMap::new(), tombstones: VecDeque::new(), max_entries, refused: 0, sum: None }
    }

    /// Whether the owner's replica has room for `delta`: for the keys it does not hold yet,
    /// or for all of a reset's, which replaces the replica (counted as a refusal when not).
    fn has_room(&mut self, delta: &OwnerDelta) -> bool {
        let held = self.replicas.get(&delta.owner).filter(|_| !delta.reset);
        let new = delta.writes.iter().filter(|w| held.is_none_or(|r| !r.contains(&w.key))).count();
        let room = held.map_or(0, |r| r.len()).saturating_add(new) <= self.max_entries;
        if !room {
            self.refused += 1;
        }
        room
    }

    /// How many live keys `owner` has here.
    pub(crate) fn live_keys(&self, owner: &[u8]) -> usize {
        self.replicas.get(owner).map_or(0, |r| r.iter().filter(|e| e.is_live()).count())
    }

    /// `owner`'s write of `key` (`None`: a delete) with the next version of its life
    /// `generation` (see [`generation`]); returns it.
    pub(crate) fn write(
        &mut self,
        now: Time,
        owner: &NodeId,
        generation: u32,
        key: Bytes,
        value: Option<Bytes>,
    ) -> Write {
        self.sum = None;
        let replica = self.replicas.entry(owner.clone()).or_default();
        let w = Write { key, value, version: (replica.max + 1).max(u64::from(generation) << 32 | 1) };
        replica.put(&w);
        if w.value.is_none() {
            self.tombstones.push_back((now, owner.clone(), w.key.clone(), w.version));
        }
        w
    }

    /// The version `owner`'s replica here is complete up to (0: nothing known).
    pub(crate) fn max(&self, owner: &[u8]) -> u64 {
        self.replicas.get(owner).map_or(0, |r| r.max)
    }

    /// The live value of `key` at `owner`.
    pub(crate) fn get(&self, owner: &[u8], key: &[u8]) -> Option<&[u8]> {
        self.replicas.get(owner)?.get(key)?.value()
    }

    /// `owner`'s live keys and values, in key order.
    pub(crate) fn entries(&self, owner: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.replicas.get(owner).into_iter().flat_map(|r| r.iter().filter_map(|e| Some((e.key(), e.value()?))))
    }

    /// The digest: each known owner and the version its replica is complete up to.
    pub(crate) fn digest(&self) -> impl Iterator<Item = (&NodeId, u64)> {
        self.replicas.iter().map(|(id, r)| (id, r.max))
    }

    /// The digest folded into one order-free number: the wrapping sum over owners of a
    /// fixed hash of (owner, max); 0 when no key is known. Two stores with the same digest
    /// have the same sum, and different digests almost surely differ.
    pub(crate) fn sum(&mut self) -> u64 {
        let replicas = &self.replicas;
        *self.sum.get_or_insert_with(|| {
            replicas.iter().fold(0u64, |s, (id, r)| s.wrapping_add(crate::digest::kv_entry(id.as_bytes(), r.max)))
        })
    }

    /// How many owners the digest has.
    pub(crate) fn owners(&self) -> usize {
        self.replicas.len()
    }

    /// The digest folded into `2^log2` bucket sums over owner ids (see
    /// `crate::digest::kv_sums`); their wrapping total is [`KvStore::sum`].
    pub(crate) fn bucket_sums(&self, log2: u8) -> Vec<u64> {
        crate::digest::kv_sums(self.digest().map(|(id, max)| (id.as_bytes(), max)), log2)
    }

    /// The digest's entries for the owners in the buckets `set` holds, among `2^log2`.
    pub(crate) fn listed(&self, log2: u8, set: &[u8]) -> Vec<(&NodeId, u64)> {
        let holds = |b: usize| set.get(b / 8).is_some_and(|byte| byte & (1 << (b % 8)) != 0);
        self.digest().filter(|(id, _)| holds(crate::digest::bucket(id.as_bytes(), log2))).collect()
    }

    /// Encoded size of the digest, bytes.
    pub(crate) fn digest_len(&self) -> usize {
        self.replicas.keys().map(|id| wire::digest_entry_len(id.as_bytes())).sum()
    }

    /// What a peer whose digest is `peer` lacks, within `budget` encoded bytes: owners
    /// the peer has never heard of first, then those it lags most behind (scuttle depth),
    /// each as a prefix of its writes in version order. A reset (see the module docs) is
    /// all or nothing: it waits for a budget it fits in.
    pub(crate) fn delta(&self, peer: &BTreeMap<NodeId, u64>, budget: usize) -> Vec<OwnerDelta> {
        self.delta_within(peer, |_| true, budget)
    }

    /// Like [`KvStore::delta`], for the owners `within` picks only: the peer's digest
    /// `peer` lists exactly its owners among those (a digest-first sync's buckets).
    pub(crate) fn delta_within(
        &self,
        peer: &BTreeMap<NodeId, u64>,
        within: impl Fn(&[u8]) -> bool,
        budget: usize,
    ) -> Vec<OwnerDelta> {
        let mut behind: Vec<(&NodeId, &Replica, Option<u64>)> = self
            .replicas
            .iter()
            .filter(|(id, _)| within(id.as_bytes()))
            .filter_map(|(id, r)| {
                let theirs = peer.get(id).copied();
                (r.max > theirs.unwrap_or(0)).then_some((id, r, theirs))
            })
            .collect();
        // Unknown owners first, then the largest lag; the id breaks ties (deterministic).
        behind.sort_by_key(|(id, r, theirs)| (theirs.is_some(), u64::MAX - (r.max - theirs.unwrap_or(0)), *id));
        let mut room = budget;
        let mut deltas = Vec::new();
        for (owner, replica, theirs) in behind {
            let header = owner_delta_len(owner);
            if room < header {
                break;
            }
            let after = theirs.unwrap_or(0);
            let reset = after < replica.reclaimed;
            let held = replica.after(if reset { 0 } else { after });
            let mut used = header;
            let mut taken = 0;
            for e in &held {
                if used + entry_len(e) > room {
                    break;
                }
                used += entry_len(e);
                taken += 1;
            }
            if taken == 0 && !held.is_empty() || reset && taken < held.len() {
                continue; // nothing of it fits; a smaller owner may
            }
            let complete = taken == held.len();
            let writes: Vec<Write> = held[..taken].iter().map(|e| Write::from_entry(e)).collect();
            let up_to = if complete { replica.max } else { writes.last().map_or(after, |w| w.version) };
            room -= used;
            let base = if reset { replica.reclaimed } else { after };
            deltas.push(OwnerDelta { owner: owner.clone(), reset, base, writes, up_to });
        }
        deltas
    }

    /// `owner`'s writes after version `after`, as a prefix within `room` encoded bytes,
    /// never a reset: below the owner's reclaim watermark it starts there instead (a
    /// replica that lacks what lies below takes it out of order, see
    /// [`KvStore::apply_gossip`]). `None` when there is nothing after it or nothing fits.
    pub(crate) fn since(&self, owner: &NodeId, after: u64, room: usize) -> Option<OwnerDelta> {
        let reclaimed = self.replicas.get(owner)?.reclaimed;
        let peer = BTreeMap::from([(owner.clone(), after.max(reclaimed))]);
        self.delta_within(&peer, |id| id == owner.as_bytes(), room).pop()
    }

    /// Applies a peer's delta for one owner (never our own: we are its only writer).
    /// Returns the writes that changed a live value here (sets, and deletes of keys we
    /// had), for events.
    pub(crate) fn apply(&mut self, now: Time, me: &NodeId, delta: OwnerDelta) -> Vec<Write> {
        let changes = self.apply_in_order(now, me, &delta);
        delta.into_changed(changes)
    }

    /// [`KvStore::apply`], naming the changes.
    fn apply_in_order(&mut self, now: Time, me: &NodeId, delta: &OwnerDelta) -> Vec<Change> {
        let mut changed = Vec::new();
        if delta.owner == *me {
            return changed;
        }
        self.sum = None;
        let mut max = self.replicas.get(&delta.owner).map_or(0, |r| r.max);
        if generation(delta.up_to) > generation(max) && max > 0 {
            // The owner restarted: its previous life's keys are gone.
            if let Some(old) = self.replicas.remove(&delta.owner) {
                let live = old.iter().filter(|e| e.is_live());
                changed.extend(live.map(|e| Change::Dropped(e.key_bytes(), delta.up_to)));
            }
            max = 0;
        }
        // A delta that starts in an older generation holds the newer one from its start: a
        // replica never mixes two lives.
        let base = if generation(delta.base) < generation(delta.up_to) { 0 } else { delta.base };
        if delta.up_to <= max || (!delta.reset && base > max) {
            return changed; // nothing newer, or a gap
        }
        if !self.has_room(delta) {
            return changed;
        }
        let replica = self.replicas.entry(delta.owner.clone()).or_default();
        if delta.reset {
            // Keys the owner no longer has were deleted and their tombstones reclaimed: drop
            // them, live ones (reported deleted) and old tombstones alike (passed on, a stale
            // tombstone would take a key's version backwards elsewhere). Keys held out of
            // order, above the reset, stay.
            let kept: BTreeSet<&[u8]> = delta.writes.iter().map(|w| &w.key[..]).collect();
            let gone = replica.drop_where(|e| e.version() <= delta.up_to && !kept.contains(e.key()));
            changed.extend(gone.into_iter().map(|key| Change::Dropped(key, delta.up_to)));
            replica.reclaimed = replica.reclaimed.max(delta.base);
        }
        replica.reserve(delta.writes.iter().filter(|w| !replica.contains(&w.key)).count());
        for (i, w) in delta.writes.iter().enumerate() {
            let current = replica.get(&w.key);
            let newer = current.is_none_or(|e| w.version > e.version());
            if newer && (delta.reset || w.version > replica.max) {
                let was_live = current.is_some_and(Entry::is_live);
                replica.put(w);
                if w.value.is_none() {
                    self.tombstones.push_back((now, delta.owner.clone(), w.key.clone(), w.version));
                }
                if w.value.is_some() || was_live {
                    changed.push(Change::Written(i));
                }
            }
        }
        replica.max = replica.max.max(delta.up_to);
        changed
    }

    /// Writes piggybacked on gossip, as a delta (see [`Message::KeyWrites`](crate::wire::Message::KeyWrites)): applied in
    /// order when the replica holds everything up to its `base`; otherwise each write that
    /// is newer than what is held for its key is kept out of order: shown at once, but not
    /// counted in the replica's `max`, not sent on in deltas, and not reclaimed while above
    /// it. So a busy owner's keys stay fresh through gossip even when its writes leave
    /// gaps, and the prefix still fills in through syncs. Returns the changes to report,
    /// and how it was taken.
    pub(crate) fn apply_gossip(&mut self, now: Time, me: &NodeId, delta: OwnerDelta) -> (Vec<Write>, Taken) {
        let (changes, taken) = self.apply_gossip_changes(now, me, &delta);
        (delta.into_changed(changes), taken)
    }

    /// [`KvStore::apply_gossip`], naming the changes.
    fn apply_gossip_changes(&mut self, now: Time, me: &NodeId, delta: &OwnerDelta) -> (Vec<Change>, Taken) {
        let owner = &delta.owner;
        let before = self.max(owner.as_bytes());
        let mut changed = self.apply_in_order(now, me, delta);
        let after = self.max(owner.as_bytes());
        if after >= delta.up_to || *owner == *me {
            return (changed, if after > before { Taken::InOrder } else { Taken::No });
        }
        if !self.has_room(delta) {
            return (changed, Taken::No);
        }
        let replica = self.replicas.entry(owner.clone()).or_default();
        // Out of order: only within the replica's life, and only what is newer for its key.
        if generation(delta.up_to) != generation(replica.max) && replica.max > 0 {
            return (changed, Taken::No);
        }
        let mut taken = Taken::No;
        replica.reserve(delta.writes.iter().filter(|w| !replica.contains(&w.key)).count());
        for (i, w) in delta.writes.iter().enumerate() {
            let current = replica.get(&w.key);
            if current.is_some_and(|e| e.version() >= w.version) || w.version <= replica.max {
                continue;
            }
            let was_live = current.is_some_and(Entry::is_live);
            replica.insert(&w.key, w.value.as_deref(), w.version);
            if w.value.is_none() {
                self.tombstones.push_back((now, owner.clone(), w.key.clone(), w.version));
            }
            if w.value.is_some() || was_live {
                changed.push(Change::Written(i));
            }
            taken = Taken::OutOfOrder;
        }
        (changed, taken)
    }

    /// `owner`'s most recent writes for gossip: its latest write of each key, newest
    /// first up to `most` writes and `room` encoded bytes (header included), as a delta
    /// that a replica complete up to its `base` applies without a gap. (Every write
    /// between `base` and `max` not in it was to a key whose latest write is in it.)
    /// `None` when nothing of the owner is known or even its newest write does not fit.
    pub(crate) fn recent(&self, owner: &NodeId, most: usize, room: usize) -> Option<OwnerDelta> {
        let r = self.replicas.get(owner)?;
        let latest = r.after(0);
        let mut used = wire::key_writes_header_len(owner.as_bytes());
        let mut cut = latest.len();
        while cut > 0 && latest.len() - cut < most && used + entry_len(latest[cut - 1]) <= room {
            used += entry_len(latest[cut - 1]);
            cut -= 1;
        }
        if cut == latest.len() {
            return None;
        }
        let base = cut.checked_sub(1).map_or(0, |i| latest[i].version()).max(r.reclaimed);
        let writes = latest[cut..].iter().map(|e| Write::from_entry(e)).collect();
        Some(OwnerDelta { owner: owner.clone(), reset: false, base, writes, up_to: r.max })
    }

    /// Forgets tombstones learned more than `grace` ago.
    pub(crate) fn reclaim(&mut self, now: Time, grace: Duration) {
        while let Some((at, _, _, _)) = self.tombstones.front()
            && now.saturating_since(*at) >= grace
        {
            let Some((_, owner, key, version)) = self.tombstones.pop_front() else { break };
            // A tombstone since overwritten by a set needs no reclaiming: lagging peers get
            // the set, which supersedes the delete. An owner forgotten meanwhile neither.
            let Some(replica) = self.replicas.get_mut(&owner) else { continue };
            if replica.get(&key).is_some_and(|e| !e.is_live() && e.version() == version) {
                if version > replica.max {
                    // Held out of order: the prefix must reach it first (see `apply_gossip`).
                    self.tombstones.push_back((now, owner, key, version));
                    continue;
                }
                replica.remove(&key);
                replica.reclaimed = replica.reclaimed.max(version);
            }
        }
    }

    /// When the oldest tombstone is due for reclaiming, if there is one.
    pub(crate) fn next_reclaim(&self, grace: Duration) -> Option<Time> {
        self.tombstones.front().map(|(at, ..)| at.saturating_add(grace))
    }

    /// Forgets an owner's keys (it was reclaimed from the member table).
    pub(crate) fn forget(&mut self, owner: &[u8]) {
        self.sum = None;
        self.replicas.remove(owner);
    }
}
