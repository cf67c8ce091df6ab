//! The member table: a slab of members with a by-id index, and the precedence rules that
//! decide whether a piece of news about a member supersedes what is known.

use crate::digest::{self, Digest};
use crate::hashing::Keys;
use crate::identity::{MemberInfo, MemberState, NodeId};
use crate::membership::id_index::IdIndex;
use crate::membership::incarnation::{at_least, newer};
use crate::prelude::*;
use crate::time::Time;
use bytes::Bytes;
use core::hash::BuildHasher;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use smallvec::SmallVec;

/// Everything this node knows about one other member.
///
/// Kept small (48 bytes with an inline id): a node holds one per member, and a simulator
/// holds n² of them. The address is stored as IP and port (the wire carries no IPv6 flow
/// or scope), an IPv6 address, metadata and suspicion bookkeeping, which most members
/// lack, in one optional box.
#[derive(Clone, Debug)]
pub struct Member {
    pub(crate) id: NodeId,
    /// The IPv4 address; unused when `extra` holds an IPv6 one.
    ipv4: Ipv4Addr,
    port: u16,
    pub(crate) incarnation: u32,
    pub(crate) state: MemberState,
    /// Whether it ever answered this node's own ping at its address: proof that it exists,
    /// which a full table keeps over entries without it (see `admission.rs`).
    pub(crate) answered: bool,
    /// When the state last changed here.
    pub(crate) since: Time,
    /// How far this node's own writes have been pushed to it: the low half of the version
    /// in this node's current life, 0 for none (see `state/push.rs`).
    pub(crate) pushed: u32,
    extra: Option<Box<Extra>>,
}

/// The parts of a member most members lack; present only while one of them is.
#[derive(Clone, Debug, Default)]
struct Extra {
    ipv6: Option<Ipv6Addr>,
    meta: Bytes,
    /// Lifeguard bookkeeping while Suspect.
    suspicion: Option<Suspicion>,
}

/// The metadata of a member that has none.
static NO_META: Bytes = Bytes::new();

impl Member {
    /// A member first heard of at `since`.
    pub(crate) fn new(id: NodeId, addr: SocketAddr, incarnation: u32, state: MemberState, since: Time) -> Self {
        let mut member = Member {
            id,
            ipv4: Ipv4Addr::UNSPECIFIED,
            port: 0,
            incarnation,
            state,
            answered: false,
            since,
            pushed: 0,
            extra: None,
        };
        member.set_addr(addr);
        member
    }

    /// Changes the boxed parts through `f`, boxing on demand and unboxing once empty.
    fn edit_extra(&mut self, f: impl FnOnce(&mut Extra)) {
        let mut extra = self.extra.take().unwrap_or_default();
        f(&mut extra);
        if extra.ipv6.is_some() || !extra.meta.is_empty() || extra.suspicion.is_some() {
            self.extra = Some(extra);
        }
    }

    /// Lifeguard bookkeeping, while Suspect.
    pub(crate) fn suspicion(&self) -> Option<&Suspicion> {
        self.extra.as_ref()?.suspicion.as_ref()
    }

    /// Lifeguard bookkeeping to change, while Suspect.
    pub(crate) fn suspicion_mut(&mut self) -> Option<&mut Suspicion> {
        self.extra.as_mut()?.suspicion.as_mut()
    }

    /// Starts (`Some`) or ends (`None`) the suspicion bookkeeping.
    pub(crate) fn set_suspicion(&mut self, suspicion: Option<Suspicion>) {
        if suspicion.is_some() || self.suspicion().is_some() {
            self.edit_extra(|e| e.suspicion = suspicion);
        }
    }

    /// Sets the address peers reach it at.
    pub(crate) fn set_addr(&mut self, addr: SocketAddr) {
        self.port = addr.port();
        let ipv6 = match addr.ip() {
            IpAddr::V4(ip) => {
                self.ipv4 = ip;
                None
            }
            IpAddr::V6(ip) => Some(ip),
        };
        if ipv6.is_some() || self.extra.as_ref().is_some_and(|e| e.ipv6.is_some()) {
            self.edit_extra(|e| e.ipv6 = ipv6);
        }
    }

    /// Sets its metadata, keeping the buffer when it is unchanged. Returns whether it changed.
    pub(crate) fn set_meta(&mut self, meta: &[u8]) -> bool {
        if self.meta().is_empty() && meta.is_empty() || self.meta() == meta {
            return false;
        }
        self.edit_extra(|e| e.meta = Bytes::copy_from_slice(meta));
        true
    }

    /// The member's id.
    pub fn id(&self) -> &NodeId {
        &self.id
    }
    /// Where it is reached.
    pub fn addr(&self) -> SocketAddr {
        let ip = match self.extra.as_ref().and_then(|e| e.ipv6) {
            Some(ip) => IpAddr::V6(ip),
            None => IpAddr::V4(self.ipv4),
        };
        SocketAddr::new(ip, self.port)
    }
    /// Its incarnation as last heard.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }
    /// Its liveness as seen here.
    pub fn state(&self) -> MemberState {
        self.state
    }
    /// Its metadata.
    pub fn meta(&self) -> &Bytes {
        self.extra.as_ref().map_or(&NO_META, |e| &e.meta)
    }
    /// When its state last changed, on this node's clock.
    pub fn state_since(&self) -> Time {
        self.since
    }
    /// An owned snapshot.
    pub fn info(&self) -> MemberInfo {
        MemberInfo {
            id: self.id.clone(),
            addr: self.addr(),
            incarnation: self.incarnation,
            state: self.state,
            meta: self.meta().clone(),
        }
    }
}

/// An ongoing suspicion (Lifeguard): when it started, how many independent confirmations
/// would shrink it to the minimum, and who has confirmed so far (the first is its origin).
#[derive(Clone, Debug)]
pub(crate) struct Suspicion {
    pub(crate) start: Time,
    pub(crate) expected: u32,
    pub(crate) confirmers: SmallVec<[NodeId; 4]>,
    /// Whether the pre-Down verification was sent (see `Membership::suspicion_expired`).
    pub(crate) verified: bool,
    /// Whether the early check at the minimum timeout was sent.
    pub(crate) early_checked: bool,
}

impl Suspicion {
    /// Independent confirmations beyond the originating suspicion.
    pub(crate) fn confirmations(&self) -> u32 {
        (self.confirmers.len() as u32).saturating_sub(1)
    }

    /// Whether `from` would be a new confirmation: not a confirmer yet, and fewer than
    /// `expected` so far.
    pub(crate) fn can_confirm(&self, from: &[u8]) -> bool {
        self.confirmations() < self.expected && !self.confirmers.iter().any(|c| c.as_bytes() == from)
    }
}

/// A stable handle to a member slot; stale once the member is reclaimed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct MemberRef {
    idx: u32,
    generation: u32,
}

#[derive(Debug)]
struct Slot {
    /// Bumped when the slot is reused, so old [`MemberRef`]s go stale.
    generation: u32,
    /// Bumped on every state change, so old timers go stale.
    epoch: u32,
    member: Option<Member>,
}

/// The table of every member except this node.
#[derive(Debug)]
pub(crate) struct Members {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Slot indices of occupied slots, hashed by member id: about 5 bytes per member, and
    /// the id compared is the one in the slot, which a lookup reads anyway.
    index: IdIndex,
    keys: Keys,
    live: usize,
    down: usize,
    /// Bumped whenever a member becomes live or stops being live (or is added or removed
    /// while live), so a view derived from the live set knows when to recompute.
    live_set_version: u64,
    /// Per-bucket sums of every member's (id, incarnation, state), for digest-first syncs.
    digest: Digest,
    /// Each slot's finest digest bucket (as [`Digest::add`] returned it; stale for a free
    /// slot): 2 bytes a member, so that a sync hashes only the members it may send.
    fine_buckets: Vec<u16>,
    /// Push marks reset so far (see [`Members::reset_pushed`]).
    push_resets: u64,
}

impl Members {
    /// An empty table whose id index hashes with `keys`.
    pub(crate) fn new(keys: Keys) -> Self {
        Members {
            slots: Vec::new(),
            free: Vec::new(),
            index: IdIndex::default(),
            keys,
            live: 0,
            down: 0,
            live_set_version: 0,
            digest: Digest::default(),
            fine_buckets: Vec::new(),
            push_resets: 0,
        }
    }

    /// Members tracked, tombstones included.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Members Alive or Suspect.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Members Down (tombstones not yet reclaimed).
    pub(crate) fn down(&self) -> usize {
        self.down
    }

    /// The digest of the table (see [`crate::digest`]).
    pub(crate) fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Changes whenever the set of live members does (see the field).
    pub(crate) fn live_set_version(&self) -> u64 {
        self.live_set_version
    }

    /// Adjusts the live and Down counts for a member entering (`+1`) or leaving (`-1`) a state.
    fn count(&mut self, state: MemberState, delta: isize) {
        if state.is_live() {
            self.live_set_version = self.live_set_version.wrapping_add(1);
        }
        let counter = match state {
            MemberState::Alive | MemberState::Suspect => &mut self.live,
            MemberState::Down => &mut self.down,
            MemberState::Left => return,
        };
        *counter = counter.wrapping_add_signed(delta);
    }

    pub(crate) fn find(&self, id: &[u8]) -> Option<MemberRef> {
        let idx = self.index.find(self.keys.hash_one(id), |idx| id_at(&self.slots, idx) == id)?;
        Some(MemberRef { idx, generation: self.slots[idx as usize].generation })
    }

    /// Reads what lookups of `ids` will read (their first index entries, then the slot of
    /// any entry whose tag matches) and nothing else, in passes whose loads do not wait
    /// on each other: done for a batch of received records before they are merged, the
    /// batch's cache misses overlap instead of coming one by one (in a simulator holding
    /// n² members nearly every lookup misses).
    pub(crate) fn warm<'a>(&self, ids: impl Iterator<Item = &'a [u8]>) {
        let hashes: SmallVec<[u64; WARM_BATCH]> = ids.map(|id| self.keys.hash_one(id)).collect();
        hashes.iter().for_each(|&h| self.index.touch(h));
        for &h in &hashes {
            self.index.find(h, |idx| {
                core::hint::black_box(id_at(&self.slots, idx).first().copied());
                false
            });
        }
    }

    fn slot(&self, r: MemberRef) -> Option<&Slot> {
        self.slots.get(r.idx as usize).filter(|s| s.generation == r.generation && s.member.is_some())
    }

    pub(crate) fn get(&self, r: MemberRef) -> Option<&Member> {
        self.slot(r).and_then(|s| s.member.as_ref())
    }

    pub(crate) fn by_id(&self, id: &[u8]) -> Option<&Member> {
        self.find(id).and_then(|r| self.get(r))
    }

    /// The member's current timer epoch (see [`Members::update`]).
    pub(crate) fn epoch(&self, r: MemberRef) -> Option<u32> {
        self.slot(r).map(|s| s.epoch)
    }

    /// Adds a member not yet known; the caller checked with [`Members::find`].
    pub(crate) fn insert(&mut self, member: Member) -> MemberRef {
        self.count(member.state, 1);
        let fine = self.digest.add(member.id.as_bytes(), member.incarnation, member.state);
        let hash = self.keys.hash_one(member.id.as_bytes());
        let r = match self.free.pop() {
            Some(idx) => {
                let slot = &mut self.slots[idx as usize];
                slot.generation = slot.generation.wrapping_add(1);
                slot.epoch = slot.epoch.wrapping_add(1);
                slot.member = Some(member);
                self.fine_buckets[idx as usize] = fine;
                MemberRef { idx, generation: slot.generation }
            }
            None => {
                let idx = self.slots.len() as u32;
                if self.slots.len() == self.slots.capacity() {
                    // By half, not double: a table's spare slots are mostly resident (the
                    // allocator hands out pages other tables touched), 56 bytes each.
                    let more = (self.slots.len() / 2).max(4);
                    self.slots.reserve_exact(more);
                    self.fine_buckets.reserve_exact(more);
                }
                self.slots.push(Slot { generation: 0, epoch: 0, member: Some(member) });
                self.fine_buckets.push(fine);
                MemberRef { idx, generation: 0 }
            }
        };
        let (slots, keys) = (&self.slots, &self.keys);
        self.index.insert(hash, r.idx, |idx| keys.hash_one(id_at(slots, idx)));
        r
    }

    /// Changes a member through `f`, keeping the live count right, and bumps its epoch so
    /// that timers scheduled for its previous state go stale. Returns the new epoch.
    pub(crate) fn update(&mut self, r: MemberRef, f: impl FnOnce(&mut Member)) -> Option<u32> {
        let slot = self.slots.get_mut(r.idx as usize).filter(|s| s.generation == r.generation)?;
        let member = slot.member.as_mut()?;
        let before = (member.state, member.incarnation);
        f(member);
        let after = (member.state, member.incarnation);
        slot.epoch = slot.epoch.wrapping_add(1);
        let epoch = slot.epoch;
        if before != after {
            let id = member.id.as_bytes();
            self.digest.remove(id, before.1, before.0);
            self.digest.add(id, after.1, after.0);
        }
        // Alive and Suspect are both live: a move between them changes no count.
        if before.0 != after.0 && !(before.0.is_live() && after.0.is_live()) {
            self.count(before.0, -1);
            self.count(after.0, 1);
        }
        Some(epoch)
    }

    /// Changes a suspect's suspicion bookkeeping through `f` (a no-op for a member without
    /// one); like [`Members::update`], it bumps the epoch. Returns the new epoch.
    pub(crate) fn update_suspicion(&mut self, r: MemberRef, f: impl FnOnce(&mut Suspicion)) -> Option<u32> {
        self.update(r, |m| {
            if let Some(s) = m.suspicion_mut() {
                f(s);
            }
        })
    }

    /// Sets a member's push mark back to nothing pushed (perhaps a new life, which holds
    /// none of our keys), without a new epoch, and counts it: see [`Members::push_resets`].
    pub(crate) fn reset_pushed(&mut self, r: MemberRef) {
        if let Some(slot) = self.slots.get_mut(r.idx as usize).filter(|s| s.generation == r.generation)
            && let Some(member) = slot.member.as_mut()
        {
            member.pushed = 0;
            self.push_resets += 1;
        }
    }

    /// How many push marks were reset: owner pushes idle until it changes (see
    /// `state/push.rs`).
    pub(crate) fn push_resets(&self) -> u64 {
        self.push_resets
    }

    /// Notes that a member answered this node's ping. Not a change of state: its timers
    /// stand (no new epoch).
    pub(crate) fn mark_answered(&mut self, r: MemberRef) {
        if let Some(slot) = self.slots.get_mut(r.idx as usize).filter(|s| s.generation == r.generation)
            && let Some(member) = slot.member.as_mut()
        {
            member.answered = true;
        }
    }

    /// Forgets a member (tombstone reclaim).
    pub(crate) fn remove(&mut self, r: MemberRef) -> Option<Member> {
        let slot = self.slots.get_mut(r.idx as usize).filter(|s| s.generation == r.generation)?;
        let member = slot.member.take()?;
        self.count(member.state, -1);
        self.digest.remove(member.id.as_bytes(), member.incarnation, member.state);
        self.index.remove(self.keys.hash_one(member.id.as_bytes()), r.idx);
        self.free.push(r.idx);
        Some(member)
    }

    /// A uniformly random occupied slot, by rejection over the slab; `None` after a few
    /// misses (an almost empty slab). O(1) expected: no scan of the table.
    pub(crate) fn random(&self, rng: &mut impl rand_core::RngCore) -> Option<(MemberRef, &Member)> {
        if self.slots.is_empty() {
            return None;
        }
        (0..8).find_map(|_| self.at(crate::rand::below(rng, self.slots.len())))
    }

    /// A uniformly random member in `state`: by rejection first, then, when such members
    /// are rare, by an exact pick over the table. The caller checks there is one.
    pub(crate) fn random_in(&self, state: MemberState, rng: &mut impl rand_core::RngCore) -> Option<&Member> {
        for _ in 0..8 {
            if let Some((_, m)) = self.random(rng)
                && m.state == state
            {
                return Some(m);
            }
        }
        let matching = self.iter().filter(|(_, m)| m.state == state).count();
        let k = crate::rand::below(rng, matching);
        self.iter().map(|(_, m)| m).filter(|m| m.state == state).nth(k)
    }

    /// The slab's length: slot numbers run below it.
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The member in slot `idx`, if any.
    pub(crate) fn at(&self, idx: usize) -> Option<(MemberRef, &Member)> {
        let slot = self.slots.get(idx)?;
        Some((MemberRef { idx: idx as u32, generation: slot.generation }, slot.member.as_ref()?))
    }

    /// Every member, in table order (deterministic: it depends only on the history of
    /// inserts and removals, never on hashing).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (MemberRef, &Member)> {
        (0..self.slots.len()).filter_map(|idx| self.at(idx))
    }

    /// The members a sync sends a peer whose digest at `2^log2` buckets is `theirs` (all of
    /// them without one, or with one of another size), where ours (`mine`, this node's own
    /// record `own` counted, which goes anyway) differs: in
    /// each bucket that differs, the one or two members the peer lacks when that explains
    /// the difference (see [`digest::lacking`]), else the whole bucket. With
    /// `lacking_only` (a join-phase exchange, one of many), not a bucket where the peer
    /// counts more members than we do: it most likely holds all of ours and more, and its
    /// push-back brings the rest; what it lacks there too, a later sync brings. In table
    /// order.
    pub(crate) fn for_peer(
        &self,
        log2: u8,
        mine: &[u64],
        theirs: Option<&[u64]>,
        own: (&[u8], u32, MemberState),
        lacking_only: bool,
    ) -> Vec<&Member> {
        let Some(theirs) = theirs.filter(|t| t.len() == mine.len()) else {
            return self.iter().map(|(_, m)| m).collect();
        };
        /// Stands for the own record among a bucket's candidates: no slot, so marking it
        /// sends nothing (the own record goes first anyway).
        const OWN: usize = usize::MAX;
        let shortfall = |b: usize| digest::minus(mine[b], theirs[b]);
        let (own_bucket, own_entry) = digest::place(own.0, own.1, own.2, log2);
        // The buckets to look into: those that differ, but in a join-phase exchange not
        // those where the peer counts more members (no set of ours makes up a shortfall
        // that is negative in count).
        let look: Vec<bool> = match lacking_only {
            false => (0..mine.len()).map(|b| shortfall(b) != 0).collect(),
            true => {
                let counts = self.digest.counts(log2);
                let ours = |b: usize| counts[b] as usize + usize::from(b == own_bucket);
                (0..mine.len()).map(|b| shortfall(b) != 0 && !digest::fewer(shortfall(b), ours(b))).collect()
            }
        };
        // The (bucket, entry, slot) of each member of a bucket looked into; only those
        // members are hashed.
        let mut placed: Vec<(usize, u64, usize)> = Vec::new();
        if look[own_bucket] {
            placed.push((own_bucket, own_entry, OWN));
        }
        for (idx, &fine) in self.fine_buckets.iter().enumerate() {
            if !look[digest::coarse(fine, log2)] {
                continue;
            }
            if let Some((_, m)) = self.at(idx) {
                let (b, e) = digest::place(m.id.as_bytes(), m.incarnation, m.state, log2);
                placed.push((b, e, idx));
            }
        }
        // Grouped by bucket (a counting sort: `start[b]..start[b + 1]` is bucket b's group).
        let mut start = vec![0usize; mine.len() + 1];
        for &(b, _, _) in &placed {
            start[b + 1] += 1;
        }
        for b in 0..mine.len() {
            start[b + 1] += start[b];
        }
        let mut grouped = vec![(0u64, 0usize); placed.len()];
        let mut next = start.clone();
        for &(b, e, idx) in &placed {
            grouped[next[b]] = (e, idx);
            next[b] += 1;
        }
        let mut send = vec![false; self.slots.len()];
        let mut mark = |idx: usize| {
            if let Some(s) = send.get_mut(idx) {
                *s = true;
            }
        };
        let mut entries: Vec<u64> = Vec::new();
        for b in 0..mine.len() {
            let group = &grouped[start[b]..start[b + 1]];
            if group.is_empty() {
                continue;
            }
            entries.clear();
            entries.extend(group.iter().map(|c| c.0));
            match digest::lacking(&entries, shortfall(b)) {
                Some((i, j)) => {
                    mark(group[i].1);
                    if let Some(j) = j {
                        mark(group[j].1);
                    }
                }
                None => group.iter().for_each(|c| mark(c.1)),
            }
        }
        // In table order, reading only the slots sent.
        send.iter().enumerate().filter(|&(_, &s)| s).filter_map(|(idx, _)| self.at(idx)).map(|(_, m)| m).collect()
    }
}

/// How many received records or messages are applied together, their lookups warmed
/// first (see [`Members::warm`]).
const WARM_BATCH: usize = 16;

/// `items` in batches of [`WARM_BATCH`], in order: apply each after warming its lookups.
pub(crate) fn warm_batches<T>(mut items: impl Iterator<Item = T>) -> impl Iterator<Item = SmallVec<[T; WARM_BATCH]>> {
    core::iter::from_fn(move || {
        let batch: SmallVec<[T; WARM_BATCH]> = items.by_ref().take(WARM_BATCH).collect();
        (!batch.is_empty()).then_some(batch)
    })
}

/// The id of the member in slot `idx` (empty for a free slot, which the index never holds).
fn id_at(slots: &[Slot], idx: u32) -> &[u8] {
    slots[idx as usize].member.as_ref().map_or(&[], |m| m.id.as_bytes())
}

/// Whether news that a member is in `state` at `incarnation` supersedes what is known
/// (`current`: its state and incarnation, `None` when unknown). SWIM's precedence:
///
/// - Alive needs a strictly higher incarnation than anything known (a refutation or
///   rejoin); an unknown member is accepted as Alive.
/// - Suspect overrides Alive at the same or a higher incarnation, and an older Suspect.
/// - Down overrides Alive and Suspect at the same or a higher incarnation.
/// - Left overrides Alive, Suspect and Down at the same or a higher incarnation.
/// - News about unknown members other than Alive is ignored, and tombstones only yield
///   to a higher incarnation of Alive (or Left over Down).
pub(crate) fn supersedes(current: Option<(MemberState, u32)>, state: MemberState, incarnation: u32) -> bool {
    use MemberState::*;
    let Some((cur, cur_inc)) = current else {
        return state == Alive;
    };
    match state {
        Alive => newer(incarnation, cur_inc),
        Suspect => match cur {
            Alive => at_least(incarnation, cur_inc),
            Suspect => newer(incarnation, cur_inc),
            Down | Left => false,
        },
        Down => cur.is_live() && at_least(incarnation, cur_inc),
        Left => cur != Left && at_least(incarnation, cur_inc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MemberState::*;

    #[test]
    fn precedence_follows_swim() {
        assert!(supersedes(None, Alive, 0));
        assert!(!supersedes(None, Suspect, 5));
        assert!(!supersedes(None, Down, 5));
        assert!(!supersedes(Some((Alive, 3)), Alive, 3));
        assert!(supersedes(Some((Suspect, 3)), Alive, 4));
        assert!(!supersedes(Some((Suspect, 3)), Alive, 3));
        assert!(supersedes(Some((Alive, 3)), Suspect, 3));
        assert!(!supersedes(Some((Alive, 3)), Suspect, 2));
        assert!(!supersedes(Some((Suspect, 3)), Suspect, 3));
        assert!(supersedes(Some((Suspect, 3)), Down, 3));
        assert!(!supersedes(Some((Down, 3)), Down, 9));
        assert!(supersedes(Some((Down, 3)), Alive, 4));
        assert!(supersedes(Some((Down, 3)), Left, 3));
        assert!(!supersedes(Some((Left, 3)), Down, 4));
        assert!(supersedes(Some((Left, 3)), Alive, 4));
    }

    fn member(name: &str, state: MemberState) -> Member {
        Member::new(NodeId::from(name), "127.0.0.1:1".parse().unwrap(), 0, state, Time::ZERO)
    }

    /// A simulator holds one `Member` per pair of nodes: 10,000 nodes make 10^8 of them.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_member_fits_in_48_bytes() {
        assert!(core::mem::size_of::<Member>() <= 48, "{}", core::mem::size_of::<Member>());
        assert!(core::mem::size_of::<Slot>() <= 56, "{}", core::mem::size_of::<Slot>());
    }

    /// Addresses of either family survive, and the box goes once only IPv4 is left.
    #[test]
    fn addresses_of_both_families_round_trip() {
        let mut m = member("a", Alive);
        for addr in ["[2001:db8::7]:7946", "10.0.0.9:80", "[::1]:1", "127.0.0.1:1"] {
            let addr: SocketAddr = addr.parse().unwrap();
            m.set_addr(addr);
            assert_eq!(m.addr(), addr);
            assert_eq!(m.extra.is_some(), addr.is_ipv6());
        }
        m.set_addr("[::1]:2".parse().unwrap());
        m.set_meta(b"x");
        m.set_addr("10.0.0.1:3".parse().unwrap());
        assert_eq!((m.addr(), &m.meta()[..]), ("10.0.0.1:3".parse().unwrap(), &b"x"[..]));
    }

    #[test]
    fn slab_reuse_makes_old_handles_stale_and_counts_live_members() {
        let mut t = Members::new(Keys::default());
        let a = t.insert(member("a", Alive));
        let b = t.insert(member("b", Alive));
        assert_eq!(t.live(), 2);
        t.update(b, |m| m.state = Down);
        assert_eq!((t.live(), t.down()), (1, 1));
        let mut rng = crate::tests::util::rng(3);
        assert_eq!(t.random_in(Down, &mut rng).unwrap().id().as_bytes(), b"b");
        t.remove(b);
        assert_eq!(t.down(), 0);
        assert!(t.get(b).is_none());
        let c = t.insert(member("c", Alive));
        assert_ne!(b, c, "a reused slot must get a new generation");
        assert!(t.get(b).is_none());
        assert_eq!(t.by_id(b"c").unwrap().id().as_bytes(), b"c");
        assert_eq!(t.iter().map(|(r, _)| r).collect::<Vec<_>>(), vec![a, c]);
        assert_eq!(t.live(), 2);
    }

    /// A peer that lacks a few members is sent just those; a peer that holds a member we
    /// lack, or holds one differently, is sent the whole of that member's bucket; a peer
    /// that agrees is sent nothing.
    #[test]
    fn a_peer_is_sent_what_its_digest_lacks() {
        let table = |names: &[String], bump: Option<&str>| {
            let mut t = Members::new(Keys::default());
            for name in names {
                let mut m = member(name, Alive);
                m.incarnation = u32::from(bump == Some(name.as_str()));
                t.insert(m);
            }
            t
        };
        let names: Vec<String> = (0..64).map(|i| format!("node-{i}")).collect();
        let own = (&b"me"[..], 0, Alive);
        let log2 = digest::log2_for(names.len());
        let ours = table(&names, None);
        let mine = ours.digest().fold(log2, own);
        let sent_as = |peer: &Members, lacking_only: bool| -> Vec<String> {
            let theirs = peer.digest().fold(log2, own);
            let sent = ours.for_peer(log2, &mine, Some(&theirs), own, lacking_only);
            sent.iter().map(|m| String::from_utf8(m.id.as_bytes().to_vec()).unwrap()).collect()
        };
        let sent = |peer: &Members| sent_as(peer, false);
        assert!(sent(&ours).is_empty());
        let without = |gone: &[usize]| {
            names.iter().enumerate().filter(|(i, _)| !gone.contains(i)).map(|(_, n)| n.clone()).collect::<Vec<_>>()
        };
        assert_eq!(sent(&table(&without(&[5]), None)), vec!["node-5"]);
        assert_eq!(sent(&table(&without(&[5, 40]), None)), vec!["node-5", "node-40"]);
        let bucket_of = |name: &str| digest::bucket(name.as_bytes(), log2);
        let whole =
            |name: &str| -> Vec<String> { names.iter().filter(|n| bucket_of(n) == bucket_of(name)).cloned().collect() };
        assert_eq!(sent(&table(&names, Some("node-9"))), whole("node-9"));
        let mut more = names.clone();
        more.push("node-extra".into());
        assert_eq!(sent(&table(&more, None)), whole("node-extra"));
        // In a join-phase exchange, a bucket the peer holds more of is left out; one it
        // holds as many of, differently, is still sent whole.
        assert!(sent_as(&table(&more, None), true).is_empty());
        assert_eq!(sent_as(&table(&names, Some("node-9")), true), whole("node-9"));
        assert_eq!(sent_as(&table(&without(&[5]), None), true), vec!["node-5"]);
    }
}
