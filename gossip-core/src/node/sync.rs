//! The node's side of full-state syncs: merging a push-pull into the layers, building
//! one from them, and running the rounds the sync layer schedules (see `crate::sync`).

use super::Node;
use crate::digest;
use crate::event::Event;
use crate::identity::MemberState;
use crate::membership::members::warm_batches;
use crate::prelude::*;
use crate::state::KeysLearned;
use crate::sync::{Learned, SyncPart};
use crate::time::Time;
use crate::wire::{self, BucketSums, KvSection, MemberRecord, StateList};
use core::net::SocketAddr;
use rand_core::RngCore;

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
        let join_reply = response && !stranger && self.sync.awaits_join_reply();
        let catch_up = !self.config.catch_up_sync.is_zero();
        // Secondhand state in a join-phase exchange is merged quietly (members new to us
        // are not re-gossiped): from a joining sender (only its own record is news), or in
        // answer to our join or catch-up. Re-gossiping it costs n² messages in a mass join.
        let catching_up = self.sync.catching_up(now);
        let quiet = catch_up && (join || (!reply && (join_reply || catching_up)));
        let known = (self.membership.members.len(), self.membership.members.live());
        for batch in warm_batches(states.iter()) {
            if !stranger {
                self.membership.members.warm(batch.iter().map(|r| r.id));
            }
            for record in batch {
                if stranger {
                    if record.id == sender && record.state == MemberState::Alive {
                        self.membership.check_claim(&mut shared!(self), &record, None);
                    } else {
                        self.membership.refuse_from_stranger(&mut shared!(self), from, sender);
                    }
                    continue;
                }
                self.membership.quiet = quiet && record.id != sender;
                self.membership.merge_record(&mut shared!(self), &record, sender);
            }
        }
        self.membership.quiet = false;
        // Keys count as learning too: a joiner catches up on a large state sync by sync. A
        // response that lists owners ahead of ours will teach keys in its answer.
        let taken = kv.as_ref().filter(|_| !stranger);
        let relay = !self.sync.catching_up(now);
        let mut keys = taken.map_or_else(KeysLearned::default, |section| {
            self.state.merge(&mut shared!(self), &self.membership.members, relay, section)
        });
        if let Some(section) = taken {
            self.state.note_pushed_from(&mut self.membership.members, sender, section);
            if response {
                keys = keys.or(self.state.listing_ahead(&self.membership.members, section));
            }
        }
        // While catching up, only keys it did not hold count: under a steady write load
        // every sync brings new values, and counting those kept nodes catching up (a sync
        // a second) for as long as the writes went on. A listing cannot tell new keys from
        // new values (except of an owner held not at all), so the answer that follows it
        // keeps the catch-up going too when it brings new keys.
        let late_lesson = !reply && !response && catching_up && keys.new_keys;
        if catch_up && (response || late_lesson) {
            let members = self.membership.members.len() > known.0 || self.membership.members.live() > known.1;
            let learned = Learned { while_catching_up: members || keys.new_keys, otherwise: members || keys.any };
            self.sync.pace_catch_up(&self.config, &mut self.rng, now, join_reply, learned, join);
        }
        // Answer where the sender says it lives now (its own record comes first), not
        // where our table last saw it: it may have restarted.
        let own = states.iter().next().filter(|r| r.id == sender);
        let dest = own.map_or(from, |r| r.addr);
        // A join-phase exchange is one of many: each side sends what the other lacks, not
        // what it holds more of (see `Members::for_peer`).
        let still_catching_up = self.sync.catching_up(now);
        if reply {
            self.send_push_pull(dest, still_catching_up, SyncPart::Response, sums, kv.as_ref(), join);
        } else if response {
            let lacking_only = still_catching_up;
            self.send_push_pull(dest, still_catching_up, SyncPart::PushBack, sums, kv.as_ref(), lacking_only);
        } else if kv.is_some_and(|s| matches!(s.scope(), wire::KvScope::Listed(_))) {
            self.send_push_pull(dest, still_catching_up, SyncPart::Answer, None, kv.as_ref(), false);
        }
        if join_reply {
            self.sync.joined();
            self.outbox.event(Event::Joined);
        }
    }

    /// Queues one part of a sync to `dest` over a reliable stream: our own record, then
    /// (in a response or push-back) the members `peer`'s digest lacks (see
    /// `Members::for_peer`; all of them without a peer digest), then (in a request or response)
    /// our digest, then the key/value section (see [`State::section`](crate::state::State::section)). A push-back
    /// or an answer with nothing to say is not sent. `lacking_only`: a join-phase
    /// exchange, which leaves out buckets the peer holds more of (see `Members::for_peer`).
    pub(crate) fn send_push_pull(
        &mut self,
        dest: SocketAddr,
        join: bool,
        part: SyncPart,
        peer: Option<BucketSums<'_>>,
        peer_kv: Option<&KvSection<'_>>,
        lacking_only: bool,
    ) {
        let me = self.local();
        let view = self.membership.members.len() + 1;
        let log2 = peer.map_or_else(|| digest::log2_for(view), |p| p.log2());
        let mine = self.membership.members.digest().fold(log2, (me.id.as_bytes(), me.incarnation, me.state));
        let theirs: Option<Vec<u64>> = peer.map(|p| p.iter().collect());
        let same = theirs.as_ref() == Some(&mine);
        let kv = self.state.section(&mut shared!(self), part, peer_kv);
        if (part == SyncPart::PushBack && same || part == SyncPart::Answer) && kv.is_none() {
            return;
        }
        let mut records: Vec<MemberRecord<'_>> = vec![MemberRecord {
            state: me.state,
            incarnation: me.incarnation,
            id: me.id.as_bytes(),
            addr: me.addr,
            meta: &me.meta,
        }];
        if part != SyncPart::Request && part != SyncPart::Answer && !same {
            let own = (me.id.as_bytes(), me.incarnation, me.state);
            let sent = self.membership.members.for_peer(log2, &mine, theirs.as_deref(), own, lacking_only);
            records.extend(sent.into_iter().map(|m| MemberRecord {
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

    /// Full state exchange with one random live member.
    pub(crate) fn push_pull_round(&mut self) {
        if self.membership.left {
            return;
        }
        let Some((_, m)) = self.membership.members.random(&mut self.rng) else {
            return;
        };
        if m.state.is_live() {
            let dest = m.addr();
            // While catching up, flag the exchange as join-phase: our table is secondhand.
            // (Pulling only, without sending our table, halves the cost but slowed the
            // convergence of restarted members in the churn scenario: peers learn from it.)
            let catching_up = self.sync.catching_up(self.clock);
            self.send_push_pull(dest, catching_up, SyncPart::Request, None, None, false);
        }
    }

    /// Reconnect: a full state exchange with one random Down member, or now and then a
    /// seed (see [`Syncing::reconnect_target`](crate::sync::Syncing::reconnect_target)).
    pub(crate) fn reconnect_round(&mut self) {
        if self.membership.left {
            return;
        }
        if let Some(dest) = self.sync.reconnect_target(&self.membership.members, &mut self.rng) {
            self.send_push_pull(dest, false, SyncPart::Request, None, None, false);
        }
    }

    /// Sends a join push-pull to every seed; schedules a retry while nobody is known.
    pub(crate) fn contact_seeds(&mut self, now: Time) {
        for seed in self.sync.seeds_to_contact(&self.config, now, self.membership.members.live()) {
            self.send_push_pull(seed, true, SyncPart::Request, None, None, false);
        }
    }
}
