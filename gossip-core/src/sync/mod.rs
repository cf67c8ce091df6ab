//! Full-state synchronisation over reliable streams: joining through seeds, the periodic
//! push-pull (anti-entropy for anything gossip missed), the catch-up syncs that follow a
//! join, and Serf's reconnect to Down members that heals partitions.
//!
//! Every sync is digest-first: a request, a response, and a push-back when something
//! still differs (see [`SyncPart`]). Members travel only for buckets whose sums differ
//! (`crate::digest`). Replicated keys likewise: the request carries bucket sums of the
//! key/value digest, the response and push-back list the owners of the buckets that
//! differ, and the deltas (Scuttlebutt's, `crate::state`) go in the push-back and, for the
//! requester, in a fourth part, the answer.

use crate::digest;
use crate::event::Event;
use crate::identity::MemberState;
use crate::node::Node;
use crate::prelude::*;
use crate::state::KeysLearned;
use crate::time::Time;
use crate::wire::{self, BucketSums, KvSection, MemberRecord, StateList};
use core::net::SocketAddr;
use core::time::Duration;
use rand_core::RngCore;

/// A catch-up ends at the latest this many `catch_up_sync` delays after its last useful
/// sync, even when responses stop coming (a partition, a crashed peer): a node must not
/// stay in its quiet join phase for ever.
const CATCH_UP_SPAN: u32 = 16;

/// Whether a sync response taught this node something, by the catch-up's two measures
/// (see [`Node::pace_catch_up`]).
#[derive(Clone, Copy, Debug)]
struct Learned {
    /// Members, or keys it did not hold: what keeps a catch-up going.
    while_catching_up: bool,
    /// Members or any keys: what brings the next regular sync forward.
    otherwise: bool,
}

/// The parts of a digest-first sync (see [`Message::PushPull`](crate::wire::Message)).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum SyncPart {
    /// Our own record and digest; asks for what differs.
    Request,
    /// Our members of the buckets where the request's digest differs, and our digest.
    Response,
    /// After a response: our members of the buckets that still differ, the deltas the
    /// responder lacks, and our key/value owners of the buckets it listed.
    PushBack,
    /// After a push-back that listed key/value owners: the deltas it lacks by them (and
    /// our own record; no members, no digest). Not answered.
    Answer,
}

impl<R: RngCore> Node<R> {
    /// A sync message from `sender` (at `from`): merge its records, answer it, and track
    /// the join and its catch-up. From a `stranger`, only its own record is taken, as a
    /// claim to check (see `admission.rs`), and none of its keys.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_push_pull(
        &mut self,
        now: Time,
        from: SocketAddr,
        sender: &[u8],
        stranger: bool,
        join: bool,
        reply: bool,
        states: &StateList<'_>,
        sums: Option<BucketSums<'_>>,
        kv: Option<KvSection<'_>>,
    ) {
        let response = !reply && sums.is_some();
        // Only a member or a seed can complete our join: a stranger's made-up answer would
        // stop the retries of a node that knows nobody.
        let join_reply = response && !stranger && !self.joined && !self.seeds.is_empty();
        let catch_up = !self.config.catch_up_sync.is_zero();
        // Secondhand state in a join-phase exchange is merged quietly (members new to us
        // are not re-gossiped): from a joining sender (only its own record is news), or in
        // answer to our join or catch-up. Re-gossiping it costs n² messages in a mass join.
        let catching_up = self.catching_up(now);
        let quiet = catch_up && (join || (!reply && (join_reply || catching_up)));
        let known = (self.members.len(), self.members.live());
        for record in states.iter() {
            if stranger {
                if record.id == sender && record.state == MemberState::Alive {
                    self.check_claim(now, &record, None);
                } else {
                    self.refuse_from_stranger(from, sender);
                }
                continue;
            }
            self.quiet = quiet && record.id != sender;
            self.merge_record(now, &record, sender);
        }
        self.quiet = false;
        // Keys count as learning too: a joiner catches up on a large state sync by sync. A
        // response that lists owners ahead of ours will teach keys in its answer.
        let taken = kv.as_ref().filter(|_| !stranger);
        let relay = !self.catching_up(now);
        let mut keys = taken.map_or_else(KeysLearned::default, |section| {
            self.state.merge(&mut shared!(self), &self.members, now, relay, section)
        });
        if let Some(section) = taken {
            self.state.note_pushed_from(&mut self.members, sender, section);
            if response {
                keys = keys.or(self.state.listing_ahead(&self.members, section));
            }
        }
        // While catching up, only keys it did not hold count: under a steady write load
        // every sync brings new values, and counting those kept nodes catching up (a sync
        // a second) for as long as the writes went on. A listing cannot tell new keys from
        // new values (except of an owner held not at all), so the answer that follows it
        // keeps the catch-up going too when it brings new keys.
        let late_lesson = !reply && !response && catching_up && keys.new_keys;
        if catch_up && (response || late_lesson) {
            let members = self.members.len() > known.0 || self.members.live() > known.1;
            let learned = Learned { while_catching_up: members || keys.new_keys, otherwise: members || keys.any };
            self.pace_catch_up(now, join_reply, learned, join);
        }
        // Answer where the sender says it lives now (its own record comes first), not
        // where our table last saw it: it may have restarted.
        let own = states.iter().next().filter(|r| r.id == sender);
        let dest = own.map_or(from, |r| r.addr);
        if reply {
            self.send_push_pull(dest, self.catching_up(now), SyncPart::Response, sums, kv.as_ref());
        } else if response {
            self.send_push_pull(dest, self.catching_up(now), SyncPart::PushBack, sums, kv.as_ref());
        } else if kv.is_some_and(|s| matches!(s.scope(), wire::KvScope::Listed(_))) {
            self.send_push_pull(dest, self.catching_up(now), SyncPart::Answer, None, kv.as_ref());
        }
        if join_reply {
            self.joined = true;
            self.next_join_retry = None;
            self.outbox.event(Event::Joined);
        }
    }
    /// Whether this node is still catching up after its join (see [`Node::pace_catch_up`]).
    pub(crate) fn catching_up(&self, now: Time) -> bool {
        !self.catch_up.is_zero() && now <= self.catch_up_until
    }

    /// Whether this node may be in a mass join, where every node hears of every other and
    /// relaying each with the full budget costs n² · budget sends: for its whole
    /// catch-up, fruitless syncs included, since at a fast catch-up pace those come while
    /// joiners still arrive.
    pub(crate) fn in_join_storm(&self, now: Time) -> bool {
        self.catching_up(now)
    }

    /// Paces the catch-up syncs after a response to our sync (Trickle-like). A join reply
    /// starts them at `catch_up_sync`; while catching up, a response that taught us members
    /// keeps that pace and one that taught nothing lengthens the delay by one step, so that
    /// a node the thinner join-storm epidemic missed is mended within a few steps. The
    /// catch-up ends once the delay reaches four steps, eight if the peer is catching up
    /// too: in a mass join the gaps of a node and of its peers are alike (the last joiners
    /// are known to few), so silence is weak evidence. A regular sync that taught something
    /// is followed by another four steps later, without entering catch-up.
    fn pace_catch_up(&mut self, now: Time, join_reply: bool, learned: Learned, peer_catching_up: bool) {
        let first = self.config.catch_up_sync;
        let catching_up = self.catching_up(now);
        let delay = if join_reply || (catching_up && learned.while_catching_up) {
            self.catch_up = first;
            self.catch_up_until = now.saturating_add(first.saturating_mul(CATCH_UP_SPAN));
            first
        } else if catching_up {
            self.catch_up = self.catch_up.saturating_add(first);
            let enough = first.saturating_mul(if peer_catching_up { 8 } else { 4 });
            if self.catch_up >= enough {
                self.catch_up = Duration::ZERO; // caught up: the regular push-pull takes over
            }
            self.catch_up
        } else if learned.otherwise {
            // Not quiet: only a join starts a catch-up. Under a steady write load every
            // sync teaches something, and at the catch-up pace they would follow each
            // other twenty times a second.
            first.saturating_mul(4)
        } else {
            Duration::ZERO
        };
        if !delay.is_zero() {
            let at = self.random_phase(now.saturating_add(delay), delay, delay);
            self.next_push_pull = if join_reply { at } else { self.next_push_pull.min(at) };
        }
    }

    /// Queues one part of a sync to `dest` over a reliable stream: our own record, then
    /// (in a response or push-back) our members of the buckets where our digest differs
    /// from `peer` (all of them without a peer digest), then (in a request or response)
    /// our digest, then the key/value section (see [`State::section`](crate::state::State::section)). A push-back
    /// or an answer with nothing to say is not sent.
    pub(crate) fn send_push_pull(
        &mut self,
        dest: SocketAddr,
        join: bool,
        part: SyncPart,
        peer: Option<BucketSums<'_>>,
        peer_kv: Option<&KvSection<'_>>,
    ) {
        let me = self.local();
        let view = self.members.len() + 1;
        let log2 = peer.map_or_else(|| digest::log2_for(view), |p| p.log2());
        let mine = self.members.digest().fold(log2, (me.id.as_bytes(), me.incarnation, me.state));
        let theirs: Option<Vec<u64>> = peer.map(|p| p.iter().collect());
        let same = theirs.as_ref() == Some(&mine);
        let kv = self.state.section(&self.config, &mut self.stats, self.clock, part, peer_kv);
        if (part == SyncPart::PushBack && same || part == SyncPart::Answer) && kv.is_none() {
            return;
        }
        let differs = |id: &[u8]| {
            let b = digest::bucket(id, log2);
            theirs.as_ref().is_none_or(|t| t.get(b) != mine.get(b))
        };
        let mut records: Vec<MemberRecord<'_>> = vec![MemberRecord {
            state: me.state,
            incarnation: me.incarnation,
            id: me.id.as_bytes(),
            addr: me.addr,
            meta: &me.meta,
        }];
        if part != SyncPart::Request && part != SyncPart::Answer && !same {
            records.extend(self.members.iter().filter(|(_, m)| differs(m.id.as_bytes())).map(|(_, m)| MemberRecord {
                state: m.state,
                incarnation: m.incarnation,
                id: m.id.as_bytes(),
                addr: m.addr(),
                meta: m.meta(),
            }));
        }
        let sums = matches!(part, SyncPart::Request | SyncPart::Response).then_some(&mine[..]);
        let records_len = records.iter().map(MemberRecord::encoded_len).sum::<usize>();
        let len = wire::push_pull_len(records_len, sums.map(<[u64]>::len), kv.as_ref().map_or(0, Vec::len));
        let mut frame = self.outbox.start_frame(len);
        wire::encode_push_pull(&mut frame, join, part == SyncPart::Request, records.into_iter(), sums, kv.as_deref());
        self.outbox.send_frame(dest, frame);
    }

    /// memberlist's push-pull scaling: the interval grows with `log2(n / 32)` beyond 32
    /// members, so the cluster-wide rate of full syncs stays bounded.
    pub(crate) fn push_pull_interval(&self) -> Duration {
        let n = self.members.live() + 1;
        let mult = if n <= 32 { 1 } else { n.div_ceil(32).next_power_of_two().ilog2() + 1 };
        self.config.push_pull_interval.saturating_mul(mult)
    }

    /// Full state exchange with one random live member.
    pub(crate) fn push_pull_round(&mut self) {
        if self.left {
            return;
        }
        let Some((_, m)) = self.members.random(&mut self.rng) else {
            return;
        };
        if m.state.is_live() {
            let dest = m.addr();
            // While catching up, flag the exchange as join-phase: our table is secondhand.
            // (Pulling only, without sending our table, halves the cost but slowed the
            // convergence of restarted members in the churn scenario: peers learn from it.)
            let catching_up = self.catching_up(self.clock);
            self.send_push_pull(dest, catching_up, SyncPart::Request, None, None);
        }
    }

    /// Reconnect (Serf's idea): a full state exchange with one random Down member. After
    /// a partition heals, this is how the two sides find each other again; memberlist
    /// only syncs with live members and can stay split (memberlist #222).
    ///
    /// With no Down member left (a partition longer than `reclaim_after` makes the two
    /// sides forget each other), a node syncs with one of its join seeds instead, with
    /// probability `3 / (n + 1)`: about three seed syncs per interval cluster-wide,
    /// whatever its size.
    pub(crate) fn reconnect_round(&mut self) {
        if self.left {
            return;
        }
        if self.members.down() > 0 {
            if let Some(m) = self.members.random_in(MemberState::Down, &mut self.rng) {
                let dest = m.addr();
                self.send_push_pull(dest, false, SyncPart::Request, None, None);
            }
            return;
        }
        const SEED_SYNCS_PER_ROUND: usize = 3;
        if !self.seeds.is_empty() && crate::rand::below(&mut self.rng, self.members.live() + 1) < SEED_SYNCS_PER_ROUND {
            let seed = self.seeds[crate::rand::below(&mut self.rng, self.seeds.len())];
            self.send_push_pull(seed, false, SyncPart::Request, None, None);
        }
    }

    /// Sends a join push-pull to every seed; schedules a retry while nobody is known.
    pub(crate) fn contact_seeds(&mut self, now: Time) {
        if self.seeds.is_empty() || (self.joined && self.members.live() > 0) {
            self.next_join_retry = None;
            return;
        }
        for i in 0..self.seeds.len() {
            let seed = self.seeds[i];
            self.send_push_pull(seed, true, SyncPart::Request, None, None);
        }
        self.next_join_retry = Some(now.saturating_add(self.config.join_retry_interval));
    }
}

#[cfg(test)]
mod tests;
