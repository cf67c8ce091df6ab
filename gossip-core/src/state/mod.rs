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
//! prefix, until syncs fill it (see [`KvStore::apply_gossip`]). Owners also push their own
//! new writes straight to each member (`push.rs`). Acks carry a digest sum
//! ([`KvStore::sum`]) so that replicas that differ find each other, and a token bucket
//! bounds what a node sends (`Config::kv_bytes_per_sec`).

mod expiries;
mod push;
mod replica;
mod section;
mod store;
#[cfg(test)]
mod tests;

pub(crate) use store::{KeysLearned, KvStore};

use crate::config::Config;
use crate::error::CommandError;
use crate::event::Event;
use crate::identity::{Identity, NodeId};
use crate::membership::members::Members;
use crate::outbox::{Queue, time_for};
use crate::prelude::*;
use crate::shared::Shared;
use crate::time::Time;
use crate::wire::{self, KvDelta, KvScope, KvSection, KvWrite, Message};
use bytes::Bytes;
use core::time::Duration;
use expiries::Expiries;
use store::{MAX_GOSSIPED_WRITES, OwnerDelta, Taken, Write};

/// Replicated key/value state and what it costs to send: the store, the budget, the
/// expiries of this node's keys, and its owner pushes.
pub(crate) struct State {
    /// This node's id and life, the owner of its own keys.
    me: NodeId,
    generation: u32,
    /// Ours and every other owner's keys, as far as we know them.
    pub(crate) store: KvStore,
    /// When keys set with a time to live expire.
    expiries: Expiries,
    /// A piggybacked key write that left a gap starts a sync, but not before this.
    next_gap_sync: Time,
    /// The member slot the next owner push looks at first (see `push.rs`).
    push_cursor: usize,
    /// Our newest version, the member table's size and live count, and its push resets,
    /// when a push round last found every live member up to date: nothing to push until
    /// one changes.
    pushes_idle_at: Option<(u64, usize, usize, u64)>,
}

impl State {
    pub(crate) fn new(config: &Config, me: &Identity) -> Self {
        State {
            me: me.id.clone(),
            generation: me.generation,
            store: KvStore::bounded(config.max_keys.saturating_mul(4)),
            expiries: Expiries::default(),
            next_gap_sync: Time::ZERO,
            push_cursor: 0,
            pushes_idle_at: None,
        }
    }

    // ----------------------------------------------------------------------------------
    // Our own writes

    /// Sets our `key` to `value` (see [`Node::set`](crate::Node::set)), expiring at
    /// `expires` if given.
    pub(crate) fn set<R>(
        &mut self,
        sh: &mut Shared<'_, R>,
        key: Bytes,
        value: Bytes,
        expires: Option<Duration>,
    ) -> Result<(), CommandError> {
        check_key(sh.config, &key)?;
        if value.len() > sh.config.max_value_len {
            return Err(CommandError::ValueTooLong { len: value.len() });
        }
        let held = self.store.get(self.me.as_bytes(), &key);
        if held.is_none() && self.store.live_keys(self.me.as_bytes()) >= sh.config.max_keys {
            return Err(CommandError::TooManyKeys { max: sh.config.max_keys });
        }
        self.expiries.cancel(&key);
        if held != Some(&value[..]) {
            self.write_own(sh, key.clone(), Some(value));
        }
        if let Some(ttl) = expires {
            self.expiries.schedule(key, sh.now.saturating_add(ttl));
        }
        Ok(())
    }

    /// Deletes our `key` (a no-op if it is not set).
    pub(crate) fn delete<R>(&mut self, sh: &mut Shared<'_, R>, key: Bytes) -> Result<(), CommandError> {
        check_key(sh.config, &key)?;
        self.expiries.cancel(&key);
        if self.store.get(self.me.as_bytes(), &key).is_some() {
            self.write_own(sh, key, None);
        }
        Ok(())
    }

    /// Records our own write and piggybacks our recent writes.
    fn write_own<R>(&mut self, sh: &mut Shared<'_, R>, key: Bytes, value: Option<Bytes>) {
        let me = self.me.clone();
        self.store.write(sh.now, &me, self.generation, key, value);
        self.piggyback_recent(sh, &me);
    }

    /// Queues `owner`'s recent writes held here for gossip (see [`KvStore::recent`]), in
    /// one message that replaces any older one about the owner still queued. A write too
    /// large to ride on any packet travels with syncs only.
    fn piggyback_recent<R>(&mut self, sh: &mut Shared<'_, R>, owner: &NodeId) {
        let Some(d) = self.store.recent(owner, MAX_GOSSIPED_WRITES, sh.config.max_message_len()) else { return };
        let writes = d.writes.iter().map(|w| KvWrite { key: &w.key, version: w.version, value: w.value.as_deref() });
        let mut message = Vec::new();
        wire::encode_key_writes(&mut message, owner.as_bytes(), d.base, d.up_to, writes);
        sh.enqueue_encoded(Queue::Keys, owner.clone(), &message);
    }

    // ----------------------------------------------------------------------------------
    // Timers

    /// Reclaims old tombstones and deletes our keys whose time to live is up.
    pub(crate) fn on_timeout<R>(&mut self, sh: &mut Shared<'_, R>) {
        self.store.reclaim(sh.now, sh.config.key_tombstone_grace);
        while let Some(key) = self.expiries.pop_due(sh.now) {
            if self.store.get(self.me.as_bytes(), &key).is_some() {
                self.write_own(sh, key, None);
            }
        }
    }

    /// The next tombstone to reclaim or key to expire.
    pub(crate) fn next_deadline(&self, config: &Config) -> Option<Time> {
        let reclaim = self.store.next_reclaim(config.key_tombstone_grace);
        match (reclaim, self.expiries.next()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Forgets `owner`'s keys (it is gone for good).
    pub(crate) fn forget(&mut self, owner: &[u8]) {
        self.store.forget(owner);
    }

    // ----------------------------------------------------------------------------------
    // Others' writes

    /// Writes piggybacked by a peer: applied (see [`KvStore::apply_gossip`]), reported,
    /// and relayed if they taught us something: applied in order, as our own recent
    /// writes of the owner (a superset); taken out of order, as received (only a base made
    /// by a replica complete up to it is sure to be right). Returns whether they left a
    /// gap: this node is behind on that owner and should sync with the sender soon, rather
    /// than wait for its periodic push-pull. (Pulling only the owners with gaps was tried:
    /// under a steady write load it brought writes the same gossip had just refreshed, and
    /// made copies staler for the same bytes than a sync, which brings what the node lags
    /// on most.)
    pub(crate) fn on_key_writes<R>(&mut self, sh: &mut Shared<'_, R>, members: &Members, delta: &KvDelta<'_>) -> bool {
        let owner = delta.owner;
        if delta.reset || owner == self.me.as_bytes() || members.find(owner).is_none() {
            return false;
        }
        let owner_id = NodeId::copy_from_slice(owner);
        let writes = delta.writes().map(|w| Write::from_wire(&w)).collect();
        let owned = OwnerDelta { owner: owner_id.clone(), reset: false, base: delta.base, writes, up_to: delta.up_to };
        let (changed, taken) = self.store.apply_gossip(sh.now, &self.me, owned);
        for w in changed {
            report_key_change(sh, &owner_id, w);
        }
        match taken {
            Taken::InOrder => self.piggyback_recent(sh, &owner_id),
            Taken::OutOfOrder => sh.enqueue(Queue::Keys, owner_id, &Message::KeyWrites { delta: *delta }, 0, 0),
            Taken::No => sh.stats.kv_writes_redundant += 1,
        }
        if taken != Taken::No {
            sh.stats.kv_writes_taken += 1;
        }
        self.store.max(owner) < delta.up_to
    }

    /// Whether to sync with a member now because we are behind or ahead of it on some
    /// owner's keys (a piggybacked write left a gap, or its ack carried a different
    /// [`KvStore::sum`]): at most once a second (or per `catch_up_sync` when that is
    /// longer), and only with the budget for it. A sync costs each side a digest (an entry
    /// per owner), and syncs get half the budget (piggybacked writes the other half), so
    /// these syncs are spaced for digests to take at most half of that, and deltas the
    /// rest. (Spent every second, digests starved the deltas, and at 1,000 nodes copies
    /// stopped converging.)
    pub(crate) fn sync_due<R>(&mut self, sh: &Shared<'_, R>) -> bool {
        if sh.now < self.next_gap_sync {
            return false;
        }
        let digest = self.store.digest_len();
        if sh.kv_room() < digest {
            return false;
        }
        let pause = sh.config.catch_up_sync.max(Duration::from_secs(1));
        let paid = time_for(sh.config.kv_bytes_per_sec, 8 * digest);
        self.next_gap_sync = sh.now.saturating_add(pause.max(paid));
        true
    }

    /// Applies the deltas of a sync's key/value section, for owners this node knows as
    /// members (state about strangers could grow without bound), and reports changes.
    /// With `relay` (outside its join phase) the node also gossips what the sync taught
    /// it: after a partition heals, a sync across the cut is how one side first hears of
    /// the other's writes. (A joiner learning the whole state does not: that would be a
    /// storm.) Returns what it taught.
    pub(crate) fn merge<R>(
        &mut self,
        sh: &mut Shared<'_, R>,
        members: &Members,
        relay: bool,
        section: &KvSection<'_>,
    ) -> KeysLearned {
        let mut learned = KeysLearned::default();
        for d in section.deltas() {
            if members.find(d.owner).is_none() {
                continue;
            }
            let owner = NodeId::copy_from_slice(d.owner);
            let writes = d.writes().map(|w| Write::from_wire(&w)).collect();
            let delta = OwnerDelta { owner: owner.clone(), reset: d.reset, base: d.base, writes, up_to: d.up_to };
            let (before, held) = (self.store.max(d.owner), self.store.live_keys(d.owner));
            let changed = self.store.apply(sh.now, &self.me, delta);
            let moved = self.store.max(d.owner) != before;
            if moved {
                learned.note(self.store.live_keys(d.owner) > held);
            }
            if relay && moved && !changed.is_empty() {
                self.piggyback_recent(sh, &owner);
            }
            for w in changed {
                report_key_change(sh, &owner, w);
            }
        }
        learned
    }

    /// What a sync response's listing shows the peer ahead of us on, among owners we know
    /// as members: its push-back's answer will teach us those keys (for the catch-up's
    /// pace).
    pub(crate) fn listing_ahead(&self, members: &Members, section: &KvSection<'_>) -> KeysLearned {
        let mut ahead = KeysLearned::default();
        if matches!(section.scope(), KvScope::Listed(_)) {
            for (owner, max) in section.digest() {
                let held = self.store.max(owner);
                if max > held && owner != self.me.as_bytes() && members.find(owner).is_some() {
                    ahead.note(held == 0); // it holds nothing of the owner: keys will come
                }
            }
        }
        ahead
    }
}

/// Refuses an empty key or one over [`Config::max_key_len`].
fn check_key(config: &Config, key: &[u8]) -> Result<(), CommandError> {
    if key.is_empty() || key.len() > config.max_key_len {
        return Err(CommandError::KeyLength { len: key.len() });
    }
    Ok(())
}

/// Tells the application that `owner`'s key changed here.
fn report_key_change<R>(sh: &mut Shared<'_, R>, owner: &NodeId, w: Write) {
    sh.outbox.event(Event::KeyChanged { owner: owner.clone(), key: w.key, value: w.value, version: w.version });
}
