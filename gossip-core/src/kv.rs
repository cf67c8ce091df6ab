//! Replicated key/value state, reconciled the Scuttlebutt way (van Renesse et al., 2008).
//!
//! Every node owns its keys and stamps each write (a set or a delete) with the next
//! version of its own counter. A replica of an owner's state is always a prefix of the
//! owner's history: it holds every write up to some version, its `max`, so one number
//! per owner (the digest) says what a replica lacks, and a delta is the owner's writes
//! above the peer's `max`, in version order. A delta cut short by the packet budget is
//! still a prefix, so it never leaves a gap.
//!
//! Deletes are tombstones, kept for a grace period and then reclaimed. A replica that
//! lags behind a reclaimed tombstone could no longer learn of that delete from a delta,
//! and would keep the key for ever (chitchat #110, #138): such a peer gets the owner's
//! whole state instead, which replaces its copy (a reset).
//!
//! Writes also ride on gossip, batched per owner (`Message::KeyWrites`, a delta of the
//! owner's recent writes); one that would leave a gap is kept out of order, outside the
//! prefix, until syncs fill it (see [`KvStore::apply_gossip`]). Acks carry a digest sum
//! ([`KvStore::sum`]) so that replicas that differ find each other, and a token bucket
//! bounds what a node sends (`Config::kv_bytes_per_sec`).

use crate::broadcast::QueueKind;
use crate::digest;
use crate::error::CommandError;
use crate::event::Event;
use crate::identity::NodeId;
use crate::node::Node;
use crate::prelude::*;
use crate::replica::{Entry, Replica};
use crate::sync::SyncPart;
use crate::time::Time;
use crate::wire::{self, KvDelta, KvScope, KvScopeOut, KvSection, KvWrite, Message};
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use bytes::Bytes;
use core::net::SocketAddr;
use core::time::Duration;
use rand_core::RngCore;

/// Most writes of one owner in one gossiped message: enough for an owner's whole state in
/// the common case of a few keys, so that any replica applies it without a gap.
const MAX_GOSSIPED_WRITES: usize = 16;

/// The key/value budget's burst: a second's worth may be spent at once.
const BURST: Duration = Duration::from_secs(1);

/// What a sync taught this node about keys, for the catch-up's pace (see
/// [`Node::on_push_pull`](crate::node::Node)).
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
    fn note(&mut self, new_keys: bool) {
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
    fn from_wire(w: &KvWrite<'_>) -> Self {
        Write { key: Bytes::copy_from_slice(w.key), value: w.value.map(Bytes::copy_from_slice), version: w.version }
    }
}

impl Write {
    /// An owned copy of a replica's entry.
    fn from_entry(e: &Entry) -> Self {
        Write { key: e.key_bytes(), value: e.value_bytes(), version: e.version() }
    }
}

impl Replica {
    /// Applies one write known to be newer than anything here for its key.
    fn put(&mut self, w: &Write) {
        self.insert(&w.key, w.value.as_deref(), w.version);
        self.max = self.max.max(w.version);
    }
}

/// When this node's own keys set with a time to live expire (see [`Node::set_with_ttl`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct Expiries {
    by_key: BTreeMap<Bytes, Time>,
    by_time: BTreeSet<(Time, Bytes)>,
}

impl Expiries {
    /// `key` expires at `at` (instead of when it was to).
    fn schedule(&mut self, key: Bytes, at: Time) {
        self.cancel(&key);
        self.by_time.insert((at, key.clone()));
        self.by_key.insert(key, at);
    }

    /// `key` no longer expires.
    fn cancel(&mut self, key: &Bytes) {
        if let Some(at) = self.by_key.remove(key) {
            self.by_time.remove(&(at, key.clone()));
        }
    }

    /// The next expiry.
    pub(crate) fn next(&self) -> Option<Time> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// A key whose time is up at `now`, if any.
    fn pop_due(&mut self, now: Time) -> Option<Bytes> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        let (_, key) = self.by_time.pop_first()?;
        self.by_key.remove(&key);
        Some(key)
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
    replicas: BTreeMap<NodeId, Replica>,
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
fn generation(version: u64) -> u64 {
    version >> 32
}

/// Encoded size of a write on the wire.
fn write_len(w: &Write) -> usize {
    KvWrite { key: &w.key, version: w.version, value: w.value.as_deref() }.encoded_len()
}

/// Encoded size of a delta in a sync's section.
fn delta_len(d: &OwnerDelta) -> usize {
    owner_delta_len(&d.owner) + d.writes.iter().map(write_len).sum::<usize>()
}

/// Encoded size of a replica's entry as a write on the wire.
fn entry_len(e: &Entry) -> usize {
    KvWrite { key: e.key(), version: e.version(), value: e.value() }.encoded_len()
}

/// Encoded size of an owner's delta header on the wire.
fn owner_delta_len(owner: &NodeId) -> usize {
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
    pub(crate) fn apply(&mut self, now: Time, me: &NodeId, delta: &OwnerDelta) -> Vec<Write> {
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
                changed.extend(live.map(|e| Write { key: e.key_bytes(), value: None, version: delta.up_to }));
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
            changed.extend(gone.into_iter().map(|key| Write { key, value: None, version: delta.up_to }));
            replica.reclaimed = replica.reclaimed.max(delta.base);
        }
        replica.reserve(delta.writes.iter().filter(|w| !replica.contains(&w.key)).count());
        for w in &delta.writes {
            let current = replica.get(&w.key);
            let newer = current.is_none_or(|e| w.version > e.version());
            if newer && (delta.reset || w.version > replica.max) {
                let was_live = current.is_some_and(Entry::is_live);
                replica.put(w);
                if w.value.is_none() {
                    self.tombstones.push_back((now, delta.owner.clone(), w.key.clone(), w.version));
                }
                if w.value.is_some() || was_live {
                    changed.push(w.clone());
                }
            }
        }
        replica.max = replica.max.max(delta.up_to);
        changed
    }

    /// Writes piggybacked on gossip, as a delta (see [`Message::KeyWrites`]): applied in
    /// order when the replica holds everything up to its `base`; otherwise each write that
    /// is newer than what is held for its key is kept out of order: shown at once, but not
    /// counted in the replica's `max`, not sent on in deltas, and not reclaimed while above
    /// it. So a busy owner's keys stay fresh through gossip even when its writes leave
    /// gaps, and the prefix still fills in through syncs. Returns the changes to report,
    /// and how it was taken.
    pub(crate) fn apply_gossip(&mut self, now: Time, me: &NodeId, delta: &OwnerDelta) -> (Vec<Write>, Taken) {
        let owner = &delta.owner;
        let before = self.max(owner.as_bytes());
        let mut changed = self.apply(now, me, delta);
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
        for w in &delta.writes {
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
                changed.push(w.clone());
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

impl<R: RngCore> Node<R> {
    /// Sets `key` to `value` in this node's replicated state. Every member learns it
    /// through syncs and reports [`Event::KeyChanged`]; setting the current value again
    /// changes nothing.
    pub fn set(&mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<(), CommandError> {
        let (key, value) = (key.into(), value.into());
        self.check_key(&key)?;
        if value.len() > self.config.max_value_len {
            return Err(CommandError::ValueTooLong { len: value.len() });
        }
        let me = self.identity.id.as_bytes();
        let held = self.kv.get(me, &key);
        if held.is_none() && self.kv.live_keys(me) >= self.config.max_keys {
            return Err(CommandError::TooManyKeys { max: self.config.max_keys });
        }
        self.expiries.cancel(&key);
        if held != Some(&value[..]) {
            self.write_own(key, Some(value));
        }
        Ok(())
    }

    /// Like [`Node::set`], and this node deletes the key `ttl` after the latest time it
    /// was given (every member then sees it deleted, as for [`Node::delete`]). Setting the
    /// key again, with or without a time to live, replaces the expiry; the same value
    /// with a new `ttl` only moves it. The owner expires its keys, so a key of a node that
    /// crashes lives on in the replicas until the member is forgotten (`reclaim_after`).
    pub fn set_with_ttl(
        &mut self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<(), CommandError> {
        let key = key.into();
        self.set(key.clone(), value)?;
        self.expiries.schedule(key, self.clock.saturating_add(ttl));
        Ok(())
    }

    /// Deletes this node's keys whose time to live is up (see [`Node::set_with_ttl`]).
    pub(crate) fn expire_keys(&mut self, now: Time) {
        while let Some(key) = self.expiries.pop_due(now) {
            if self.kv.get(self.identity.id.as_bytes(), &key).is_some() {
                self.write_own(key, None);
            }
        }
    }

    /// Records our own write and piggybacks our recent writes.
    fn write_own(&mut self, key: Bytes, value: Option<Bytes>) {
        let me = self.identity.id.clone();
        self.kv.write(self.clock, &me, self.identity.generation, key, value);
        self.piggyback_recent(&me);
    }

    /// Queues `owner`'s recent writes held here for gossip (see [`KvStore::recent`]), in
    /// one message that replaces any older one about the owner still queued. A write too
    /// large to ride on any packet travels with syncs only.
    fn piggyback_recent(&mut self, owner: &NodeId) {
        let Some(d) = self.kv.recent(owner, MAX_GOSSIPED_WRITES, self.config.max_message_len()) else { return };
        let writes = d.writes.iter().map(|w| KvWrite { key: &w.key, version: w.version, value: w.value.as_deref() });
        let mut message = Vec::new();
        wire::encode_key_writes(&mut message, owner.as_bytes(), d.base, d.up_to, writes);
        self.enqueue_bytes_on(QueueKind::Keys, owner.clone(), &message);
    }

    /// Writes piggybacked by a peer (at `from`): applied (see [`KvStore::apply_gossip`]),
    /// reported, and relayed if they taught us something: applied in order, as our own
    /// recent writes of the owner (a superset); taken out of order, as received (only a
    /// base made by a replica complete up to it is sure to be right). After a gap, this
    /// node is behind on that owner: it syncs with the sender soon
    /// ([`Node::sync_keys_soon`]), rather than wait for its periodic push-pull. (Pulling
    /// only the owners with gaps was tried: under a steady write load it brought writes
    /// the same gossip had just refreshed, and made copies staler for the same bytes than
    /// a sync, which brings what the node lags on most.)
    pub(crate) fn on_key_writes(&mut self, now: Time, from: SocketAddr, delta: &KvDelta<'_>) {
        let owner = delta.owner;
        if delta.reset || owner == self.identity.id.as_bytes() || self.members.find(owner).is_none() {
            return;
        }
        let owner_id = NodeId::copy_from_slice(owner);
        let me = self.identity.id.clone();
        let writes = delta.writes().map(|w| Write::from_wire(&w)).collect();
        let owned = OwnerDelta { owner: owner_id.clone(), reset: false, base: delta.base, writes, up_to: delta.up_to };
        let (changed, taken) = self.kv.apply_gossip(now, &me, &owned);
        for w in changed {
            self.report_key_change(&owner_id, w);
        }
        match taken {
            Taken::InOrder => self.piggyback_recent(&owner_id),
            Taken::OutOfOrder => {
                let message = Message::KeyWrites { delta: *delta };
                let mut encoded = Vec::with_capacity(message.encoded_len());
                message.encode(&mut encoded);
                let message = encoded;
                self.enqueue_bytes_on(QueueKind::Keys, owner_id, &message);
            }
            Taken::No => self.stats.kv_writes_redundant += 1,
        }
        if taken != Taken::No {
            self.stats.kv_writes_taken += 1;
        }
        if self.kv.max(owner) < delta.up_to {
            self.sync_keys_soon(now, from);
        }
    }

    /// This node is behind or ahead of the member at `from` on some owner's keys (a
    /// piggybacked write left a gap, or its ack carried a different [`KvStore::sum`]):
    /// sync with it, at most once a second (or per `catch_up_sync` when that is longer),
    /// and only with the budget for it. A sync costs each side a digest (an entry per
    /// owner), and syncs get half the budget (piggybacked writes the other half), so
    /// these syncs are spaced for digests to take at most half of that, and deltas the
    /// rest. (Spent every second, digests starved the deltas, and at 1,000 nodes copies
    /// stopped converging.)
    pub(crate) fn sync_keys_soon(&mut self, now: Time, from: SocketAddr) {
        if now < self.next_gap_sync {
            return;
        }
        let digest = self.kv.digest_len();
        if self.kv_room() < digest {
            return;
        }
        let pause = self.config.catch_up_sync.max(Duration::from_secs(1));
        self.next_gap_sync = now.saturating_add(pause.max(self.kv_time(8 * digest)));
        self.send_push_pull(from, self.catching_up(now), SyncPart::Request, None, None);
    }

    /// A member's ack carried its key/value sum: a different one from ours means one of us
    /// lacks writes the other has, and a sync settles it. This is what finds a replica
    /// that every gossiped copy of some write missed (after a partition heals, or once a
    /// busy owner goes quiet), which would otherwise wait for its periodic push-pull.
    pub(crate) fn on_key_sum(&mut self, now: Time, from: SocketAddr, sum: u64) {
        if sum != self.kv.sum() {
            self.sync_keys_soon(now, from);
        }
    }

    /// How many key/value bytes the budget lets this node send now (see
    /// [`Config::kv_bytes_per_sec`](crate::Config::kv_bytes_per_sec)).
    pub(crate) fn kv_room(&self) -> usize {
        let rate = self.config.kv_bytes_per_sec;
        if rate == 0 {
            return usize::MAX;
        }
        // Paid back in full one burst window after `kv_paid_until`'s debt began.
        let debt = self.kv_paid_until.saturating_since(self.clock).min(BURST);
        let free = BURST - debt;
        (rate as u128 * free.as_nanos() / BURST.as_nanos()) as usize
    }

    /// Records `bytes` of key/value traffic sent against the budget.
    pub(crate) fn kv_spend(&mut self, bytes: usize) {
        if bytes > 0 {
            self.kv_paid_until = self.kv_paid_until.max(self.clock).saturating_add(self.kv_time(bytes));
        }
    }

    /// How long the budget takes to pay for `bytes` (zero without a limit).
    fn kv_time(&self, bytes: usize) -> Duration {
        let rate = self.config.kv_bytes_per_sec as u128;
        if rate == 0 {
            return Duration::ZERO;
        }
        let nanos = bytes as u128 * BURST.as_nanos() / rate;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Deletes `key` from this node's replicated state (a no-op if it is not set).
    pub fn delete(&mut self, key: impl Into<Bytes>) -> Result<(), CommandError> {
        let key = key.into();
        self.check_key(&key)?;
        self.expiries.cancel(&key);
        if self.kv.get(self.identity.id.as_bytes(), &key).is_some() {
            self.write_own(key, None);
        }
        Ok(())
    }

    fn check_key(&self, key: &[u8]) -> Result<(), CommandError> {
        if self.left {
            return Err(CommandError::AlreadyLeft);
        }
        if key.is_empty() || key.len() > self.config.max_key_len {
            return Err(CommandError::KeyLength { len: key.len() });
        }
        Ok(())
    }

    /// The value of `key` in `owner`'s state, as far as this node knows it (`owner` may be
    /// this node's own id).
    pub fn get(&self, owner: &[u8], key: &[u8]) -> Option<&[u8]> {
        self.kv.get(owner, key)
    }

    /// `owner`'s keys and values as this node knows them, in key order.
    pub fn keys(&self, owner: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.kv.entries(owner)
    }

    /// Applies the deltas of a sync's key/value section, for owners this node knows as
    /// members (state about strangers could grow without bound), and reports changes.
    /// Outside its join phase the node also gossips what the sync taught it: after a
    /// partition heals, a sync across the cut is how one side first hears of the other's
    /// writes. (A joiner learning the whole state does not: that would be a storm.)
    /// Returns what it taught.
    pub(crate) fn merge_kv(&mut self, now: Time, section: &KvSection<'_>) -> KeysLearned {
        let relay = !self.catching_up(now);
        let me = self.identity.id.clone();
        let mut learned = KeysLearned::default();
        for d in section.deltas() {
            if self.members.find(d.owner).is_none() {
                continue;
            }
            let owner = NodeId::copy_from_slice(d.owner);
            let writes = d.writes().map(|w| Write::from_wire(&w)).collect();
            let delta = OwnerDelta { owner: owner.clone(), reset: d.reset, base: d.base, writes, up_to: d.up_to };
            let (before, held) = (self.kv.max(d.owner), self.kv.live_keys(d.owner));
            let changed = self.kv.apply(now, &me, &delta);
            let moved = self.kv.max(d.owner) != before;
            if moved {
                learned.note(self.kv.live_keys(d.owner) > held);
            }
            if relay && moved && !changed.is_empty() {
                self.piggyback_recent(&owner);
            }
            for w in changed {
                self.report_key_change(&owner, w);
            }
        }
        learned
    }

    /// Tells the application that `owner`'s key changed here.
    fn report_key_change(&mut self, owner: &NodeId, w: Write) {
        self.events.push_back(Event::KeyChanged {
            owner: owner.clone(),
            key: w.key,
            value: w.value,
            version: w.version,
        });
    }

    /// Encodes the key/value section of one part of a sync, digest-first (`None` when
    /// there is nothing to say):
    ///
    /// - request: our digest as bucket sums (nothing when we know no keys);
    /// - response: our owners of the buckets whose sums differ from the request's, listed
    ///   (nothing when none differ). To a request without keys, the deltas it lacks;
    /// - push-back: the deltas the responder lacks by its listing, and our own owners of
    ///   the same buckets, listed;
    /// - answer: the deltas the requester lacks by the push-back's listing.
    ///
    /// So two nodes that agree exchange one request's sums (half a byte per owner), and
    /// otherwise list the owners of the buckets that differ, where each side sent its
    /// whole digest before. Deltas take at most half a stream frame and the budget, and a
    /// listing goes only where the budget has room for it (else the response says nothing
    /// of keys, and the push-back carries its deltas alone); a peer's section with a
    /// complete digest gets what it lacks by that digest.
    pub(crate) fn kv_section(&mut self, part: SyncPart, peer: Option<&KvSection<'_>>) -> Option<Vec<u8>> {
        let room = (self.config.max_stream_frame / 2).min(self.kv_room());
        let peer_digest = |s: &KvSection<'_>| -> BTreeMap<NodeId, u64> {
            s.digest().map(|(id, max)| (NodeId::copy_from_slice(id), max)).collect()
        };
        let in_set = |set: &wire::BucketSet<'_>, id: &[u8]| set.contains(digest::bucket(id, set.log2()));
        let scope = peer.map(KvSection::scope);
        let out = match (part, scope) {
            (SyncPart::Request, _) => {
                if self.kv.owners() == 0 {
                    return None;
                }
                let sums = self.kv.bucket_sums(digest::kv_log2_for(self.kv.owners()));
                encode_deltas(KvScopeOut::Sums(&sums), core::iter::empty(), &[])
            }
            (SyncPart::Response, None) => {
                let deltas = self.kv.delta(&BTreeMap::new(), room);
                if deltas.is_empty() {
                    return None;
                }
                encode_deltas(KvScopeOut::Complete, core::iter::empty(), &deltas)
            }
            (SyncPart::Response, Some(KvScope::Sums(theirs))) => {
                let log2 = theirs.log2();
                let mine = self.kv.bucket_sums(log2);
                let mut bits = vec![0u8; wire::bitmap_len(log2)];
                let mut any = false;
                for (b, (m, t)) in mine.iter().zip(theirs.iter()).enumerate() {
                    if *m != t {
                        bits[b / 8] |= 1 << (b % 8);
                        any = true;
                    }
                }
                if !any {
                    return None;
                }
                let listed = self.kv.listed(log2, &bits);
                if listing_len(&listed) > self.kv_room() && self.pushes_waiting() {
                    return None; // the budget is for our pushes: this sync settles membership only
                }
                let listed = listed.iter().map(|(id, max)| (id.as_bytes(), *max));
                encode_deltas(KvScopeOut::Listed { log2, bits: &bits }, listed, &[])
            }
            (SyncPart::Response, Some(KvScope::Complete)) => {
                let deltas = self.kv.delta(&peer_digest(peer?), room);
                let digest = self.kv.digest().map(|(id, max)| (id.as_bytes(), max)).collect::<Vec<_>>();
                encode_deltas(KvScopeOut::Complete, digest.into_iter(), &deltas)
            }
            (SyncPart::PushBack, Some(KvScope::Complete)) => {
                let deltas = self.kv.delta(&peer_digest(peer?), room);
                if deltas.is_empty() {
                    return None;
                }
                encode_deltas(KvScopeOut::Complete, core::iter::empty(), &deltas)
            }
            (SyncPart::PushBack, Some(KvScope::Listed(set))) => {
                let deltas = self.kv.delta_within(&peer_digest(peer?), |id| in_set(&set, id), room);
                let listed = self.kv.listed(set.log2(), set.bits());
                let spent: usize = deltas.iter().map(delta_len).sum();
                if listing_len(&listed) > self.kv_room().saturating_sub(spent) && self.pushes_waiting() {
                    // Over budget: the deltas only, and no answer to them.
                    if deltas.is_empty() {
                        return None;
                    }
                    encode_deltas(KvScopeOut::Complete, core::iter::empty(), &deltas)
                } else {
                    let listed = listed.iter().map(|(id, max)| (id.as_bytes(), *max));
                    encode_deltas(KvScopeOut::Listed { log2: set.log2(), bits: set.bits() }, listed, &deltas)
                }
            }
            (SyncPart::Answer, Some(KvScope::Listed(set))) => {
                let deltas = self.kv.delta_within(&peer_digest(peer?), |id| in_set(&set, id), room);
                if deltas.is_empty() {
                    return None;
                }
                encode_deltas(KvScopeOut::Complete, core::iter::empty(), &deltas)
            }
            _ => return None, // a section that part never answers (a peer's mistake)
        };
        self.kv_spend(out.len());
        self.stats.kv_sync_bytes += out.len() as u64;
        Some(out)
    }

    /// What a sync response's listing shows the peer ahead of us on, among owners we know
    /// as members: its push-back's answer will teach us those keys (for the catch-up's
    /// pace).
    pub(crate) fn kv_listing_ahead(&self, section: &KvSection<'_>) -> KeysLearned {
        let mut ahead = KeysLearned::default();
        if matches!(section.scope(), KvScope::Listed(_)) {
            for (owner, max) in section.digest() {
                let held = self.kv.max(owner);
                if max > held && owner != self.identity.id.as_bytes() && self.members.find(owner).is_some() {
                    ahead.note(held == 0); // it holds nothing of the owner: keys will come
                }
            }
        }
        ahead
    }
}

/// Encoded size of a listing of these owners' digest entries.
fn listing_len(listed: &[(&NodeId, u64)]) -> usize {
    listed.iter().map(|(id, _)| wire::digest_entry_len(id.as_bytes())).sum()
}

/// Encodes a key/value section of `scope`, `digest` entries and `deltas`.
fn encode_deltas<'a>(
    scope: KvScopeOut<'_>,
    digest: impl ExactSizeIterator<Item = (&'a [u8], u64)>,
    deltas: &'a [OwnerDelta],
) -> Vec<u8> {
    let mut out = Vec::new();
    wire::encode_section(
        &mut out,
        scope,
        digest,
        deltas.iter().map(|d| {
            let writes =
                d.writes.iter().map(|w| KvWrite { key: &w.key, version: w.version, value: w.value.as_deref() });
            (d.owner.as_bytes(), d.reset, d.base, d.up_to, writes)
        }),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
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
        deltas.iter().flat_map(|d| stores[to].apply(now, &id(to), d)).collect()
    }

    /// Like [`sync`], digest-first: `to` sends its bucket sums, `from` lists its owners of
    /// the buckets that differ, `to` its own (the push-back), and `from` sends the deltas
    /// `to` lacks among those.
    fn sync_digest_first(
        stores: &mut [KvStore],
        now: Time,
        from: usize,
        to: usize,
        budget: usize,
        log2: u8,
    ) -> Vec<Write> {
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
        deltas.iter().flat_map(|d| stores[to].apply(now, &id(to), d)).collect()
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
                            stores[to].apply_gossip(now, &id(to), &delta);
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
                            stores[to].apply_gossip(now, &id(to), &delta);
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
                replica.apply(t, &id(1), &d);
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
                replica.apply(t, &id(1), &delta).into_iter().map(|w| (w.key, w.value)).collect();
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
}
