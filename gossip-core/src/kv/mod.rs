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

mod store;
#[cfg(test)]
mod tests;

pub(crate) use store::*;

use crate::digest;
use crate::error::CommandError;
use crate::event::Event;
use crate::identity::NodeId;
use crate::node::Node;
use crate::outbox::Queue;
use crate::prelude::*;
use crate::sync::SyncPart;
use crate::time::Time;
use crate::wire::{self, KvDelta, KvScope, KvScopeOut, KvSection, KvWrite, Message};
use alloc::collections::BTreeMap;
use bytes::Bytes;
use core::net::SocketAddr;
use core::time::Duration;
use rand_core::RngCore;

impl<R: RngCore> Node<R> {
    /// Sets `key` to `value` in this node's replicated state. Every member learns it
    /// through syncs and reports [`Event::KeyChanged`]; setting the current value again
    /// changes nothing.
    pub fn set(&mut self, now: Time, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<(), CommandError> {
        self.observe(now);
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

    /// Like [`Node::set`], and this node deletes the key `ttl` after `now` (every member
    /// then sees it deleted, as for [`Node::delete`]). Setting the
    /// key again, with or without a time to live, replaces the expiry; the same value
    /// with a new `ttl` only moves it. The owner expires its keys, so a key of a node that
    /// crashes lives on in the replicas until the member is forgotten (`reclaim_after`).
    pub fn set_with_ttl(
        &mut self,
        now: Time,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<(), CommandError> {
        let key = key.into();
        self.set(now, key.clone(), value)?;
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
        self.enqueue_bytes_on(Queue::Keys, owner.clone(), &message);
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
                self.enqueue_bytes_on(Queue::Keys, owner_id, &message);
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
    pub fn delete(&mut self, now: Time, key: impl Into<Bytes>) -> Result<(), CommandError> {
        self.observe(now);
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
        self.outbox.event(Event::KeyChanged { owner: owner.clone(), key: w.key, value: w.value, version: w.version });
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
