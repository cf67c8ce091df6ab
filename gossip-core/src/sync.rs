//! Full-state synchronisation over reliable streams: joining through seeds, the periodic
//! push-pull (anti-entropy for anything gossip missed), the catch-up syncs that follow a
//! join, and Serf's reconnect to Down members that heals partitions.

use crate::event::{Event, Transmit};
use crate::identity::MemberState;
use crate::node::Node;
use crate::time::Time;
use crate::wire::{self, Header, MemberRecord, StateList};
use bytes::BytesMut;
use core::net::SocketAddr;
use core::time::Duration;
use rand_core::RngCore;

/// A catch-up ends at the latest this many `catch_up_sync` delays after its last useful
/// sync, even when responses stop coming (a partition, a crashed peer): a node must not
/// stay in its quiet join phase for ever.
const CATCH_UP_SPAN: u32 = 16;

impl<R: RngCore> Node<R> {
    /// A full state from `sender` (at `from`): merge it, answer it if asked, and track
    /// the join and its catch-up.
    pub(crate) fn on_push_pull(
        &mut self,
        now: Time,
        from: SocketAddr,
        sender: &[u8],
        join: bool,
        reply: bool,
        states: &StateList<'_>,
    ) {
        let join_reply = !reply && !self.joined && !self.seeds.is_empty();
        let catch_up = !self.config.catch_up_sync.is_zero();
        // Secondhand state in a join-phase exchange is merged quietly (members new to us
        // are not re-gossiped): from a joining sender (only its own record is news), or in
        // answer to our join or catch-up. Re-gossiping it costs n² messages in a mass join.
        let catching_up = self.catching_up(now);
        let quiet = catch_up && (join || (!reply && (join_reply || catching_up)));
        let known = (self.members.len(), self.members.live());
        for record in states.iter() {
            self.quiet = quiet && record.id != sender;
            self.merge_record(now, &record);
        }
        self.quiet = false;
        if !reply && catch_up {
            let learned = self.members.len() > known.0 || self.members.live() > known.1;
            self.pace_catch_up(now, join_reply, learned, join);
        }
        if reply {
            // Answer where the sender says it lives now (its own record comes
            // first), not where our table last saw it: it may have restarted.
            let own = states.iter().next().filter(|r| r.id == sender);
            let dest = own.map_or(from, |r| r.addr);
            self.send_push_pull(dest, self.catching_up(now), false);
        } else if join_reply {
            self.joined = true;
            self.next_join_retry = None;
            self.events.push_back(Event::Joined);
        }
    }

    /// Whether this node is still catching up after its join (see [`Node::pace_catch_up`]).
    fn catching_up(&self, now: Time) -> bool {
        !self.catch_up.is_zero() && now <= self.catch_up_until
    }

    /// Paces the catch-up syncs after a response to our sync (Trickle-like). A join reply
    /// starts them at `catch_up_sync`; while catching up, a response that taught us members
    /// keeps that pace and one that taught nothing doubles the delay. Two fruitless syncs in
    /// a row end the catch-up, three if the peer is catching up too: in a mass join the gaps
    /// of a node and of its peers are alike (the last joiners are known to few), so silence
    /// is weak evidence. A regular sync that taught something is followed by another soon,
    /// without entering catch-up.
    fn pace_catch_up(&mut self, now: Time, join_reply: bool, learned: bool, peer_catching_up: bool) {
        let first = self.config.catch_up_sync;
        let catching_up = self.catching_up(now);
        let delay = if join_reply || (catching_up && learned) {
            self.catch_up = first;
            self.catch_up_until = now.saturating_add(first.saturating_mul(CATCH_UP_SPAN));
            first
        } else if catching_up {
            self.catch_up = self.catch_up.saturating_mul(2);
            let enough = first.saturating_mul(if peer_catching_up { 8 } else { 4 });
            if self.catch_up >= enough {
                self.catch_up = Duration::ZERO; // caught up: the regular push-pull takes over
            }
            self.catch_up
        } else if learned {
            first // not quiet: only a join starts a catch-up
        } else {
            Duration::ZERO
        };
        if !delay.is_zero() {
            let at = self.random_phase(now.saturating_add(delay), delay, delay);
            self.next_push_pull = if join_reply { at } else { self.next_push_pull.min(at) };
        }
    }

    /// Queues this node's full membership view to `dest` over a reliable stream.
    pub(crate) fn send_push_pull(&mut self, dest: SocketAddr, join: bool, reply: bool) {
        let me = self.local();
        let mut records: Vec<MemberRecord<'_>> = Vec::with_capacity(self.members.len() + 1);
        records.push(MemberRecord {
            state: me.state,
            incarnation: me.incarnation,
            id: me.id.as_bytes(),
            addr: me.addr,
            meta: &me.meta,
        });
        records.extend(self.members.iter().map(|(_, m)| MemberRecord {
            state: m.state,
            incarnation: m.incarnation,
            id: m.id.as_bytes(),
            addr: m.addr(),
            meta: m.meta(),
        }));
        let header = Header { cluster: &self.config.cluster_name, sender: me.id.as_bytes() };
        let len = header.encoded_len() + 6 + records.iter().map(MemberRecord::encoded_len).sum::<usize>();
        let mut out = BytesMut::with_capacity(len);
        header.encode(&mut out);
        wire::encode_push_pull(&mut out, join, reply, records.into_iter());
        self.transmits.push_back(Transmit { dest, payload: out.freeze(), reliable: true });
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
            self.send_push_pull(dest, catching_up, true);
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
                self.send_push_pull(dest, false, true);
            }
            return;
        }
        const SEED_SYNCS_PER_ROUND: usize = 3;
        if !self.seeds.is_empty() && crate::rand::below(&mut self.rng, self.members.live() + 1) < SEED_SYNCS_PER_ROUND {
            let seed = self.seeds[crate::rand::below(&mut self.rng, self.seeds.len())];
            self.send_push_pull(seed, false, true);
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
            self.send_push_pull(seed, true, true);
        }
        self.next_join_retry = Some(now.saturating_add(self.config.join_retry_interval));
    }
}
