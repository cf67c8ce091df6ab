//! Who may tell this node what: the stranger rule, the check of what strangers claim, and
//! the size of what goes back to them.
//!
//! Without a keyring nothing on the wire is authenticated, so a node cannot tell a member
//! from someone who names a member as the sender. What it can refuse is the word of a
//! sender it has never heard of, which is what a blind flood, or a spoofed packet from
//! outside the cluster, looks like. A packet's sender is a *member* when its id is in the
//! table (in any state), or the packet comes from a seed this node joins through; anyone
//! else is a *stranger*. From a stranger a node takes:
//!
//! - pings, answered with a bare ack;
//! - acks and nacks (they only count when they match a ping this node sent);
//! - Alives, about itself or others, as claims to check, not news: the member named is
//!   pinged at the address given, and the Alive is applied only once it answers from
//!   there, so that addresses nobody answers at (a spoofed flood) never take a place in
//!   the table, and a newcomer that really answers always gets one;
//! - sync messages, of which only the sender's own record is checked, and which are
//!   answered over the stream they came on.
//!
//! What goes back to a stranger's datagram (acks, checks) is at most as many bytes as it
//! sent, so that nobody can use a node to amplify traffic at a spoofed address. News about
//! suspicions and departures, key writes, broadcasts, user messages and ping-reqs from a
//! stranger are dropped, and counted in [`Stats::stranger_messages_refused`]. A keyring
//! is what makes a cluster safe on a hostile network: with one, only key holders can send
//! anything at all.
//!
//! [`Stats::stranger_messages_refused`]: crate::Stats::stranger_messages_refused

use super::Membership;
use crate::identity::NodeId;
use crate::shared::Shared;
use crate::time::Time;
use crate::wire::{MemberRecord, Message};
use alloc::collections::VecDeque;
use bytes::Bytes;
use core::net::SocketAddr;
use rand_core::RngCore;

/// Claims awaiting their member's answer at once; a flood beyond this pushes out the oldest.
const MAX_CLAIMS: usize = 64;

/// Whether a message from a stranger is taken (see the module docs): Alives are, as
/// claims to check; sync messages are, but only the sender's own record in them is.
pub(crate) fn taken_from_stranger(message: &Message<'_>) -> bool {
    matches!(
        message,
        Message::Ping { .. }
            | Message::Ack { .. }
            | Message::Nack { .. }
            | Message::Alive { .. }
            | Message::PushPull { .. }
    )
}

/// A member a stranger claims is alive, pinged at the address the claim gives.
#[derive(Debug)]
struct Claim {
    seq: u32,
    id: NodeId,
    addr: SocketAddr,
    incarnation: u32,
    meta: Bytes,
    /// Until when its ack counts.
    until: Time,
}

/// Claims being checked, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    pending: VecDeque<Claim>,
}

impl Membership {
    /// Whether a packet from `sender` comes from a stranger (see the module docs);
    /// `from_seed` says whether it comes from one of our join seeds' addresses (asked
    /// only of a sender not in the table).
    pub(crate) fn is_stranger(&self, sender: &[u8], from_seed: impl FnOnce() -> bool) -> bool {
        self.members.find(sender).is_none() && !from_seed()
    }

    /// Drops what a stranger said that it may not say (see the module docs), and counts it.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn refuse_from_stranger<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, from: SocketAddr, sender: &[u8]) {
        trace!(node = %self.identity.id, %from, sender = %alloc::string::String::from_utf8_lossy(sender), "a stranger's message refused");
        sh.stats.stranger_messages_refused += 1;
    }

    /// A stranger claims `record` (an Alive, or its own record in a sync): ping the member
    /// where the claim says it lives, and apply the claim when it answers (see
    /// [`Membership::claim_answered`]). The ping is charged to `budget`, what may still go
    /// back for the stranger's packet (`None` for a stream).
    pub(crate) fn check_claim<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        record: &MemberRecord<'_>,
        budget: Option<&mut usize>,
    ) {
        if self.is_me(record.id) {
            return;
        }
        let pending = &mut self.claims.pending;
        if let Some(known) = pending.iter_mut().find(|c| c.id.as_bytes() == record.id) {
            // Claimed again (a retried join): the newest word counts, the ping stands.
            known.addr = record.addr;
            known.incarnation = record.incarnation;
            known.meta = Bytes::copy_from_slice(record.meta);
            return;
        }
        while pending.front().is_some_and(|c| c.until < sh.now) {
            pending.pop_front();
        }
        let seq = self.prober.next_seq();
        if !self.send_bare(sh, record.addr, &Message::Ping { seq, target: record.id }, budget) {
            return;
        }
        let pending = &mut self.claims.pending;
        if pending.len() >= MAX_CLAIMS {
            pending.pop_front();
            sh.stats.claims_dropped += 1;
        }
        let until = sh.now.saturating_add(sh.config.probe_timeout.saturating_mul(2));
        pending.push_back(Claim {
            seq,
            id: NodeId::copy_from_slice(record.id),
            addr: record.addr,
            incarnation: record.incarnation,
            meta: Bytes::copy_from_slice(record.meta),
            until,
        });
    }

    /// An ack from `from` with `seq`: if it answers the check of a claim, the claim is
    /// applied as if the member had just been heard of. Returns whether it did.
    pub(crate) fn claim_answered<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, from: SocketAddr, seq: u32) -> bool {
        let pending = &mut self.claims.pending;
        let Some(i) = pending.iter().position(|c| c.seq == seq && c.addr == from && c.until >= sh.now) else {
            return false;
        };
        let Some(c) = pending.remove(i) else { return false };
        sh.stats.claims_confirmed += 1;
        if self.members.find(c.id.as_bytes()).is_none() && !self.make_room(sh) {
            sh.stats.members_dropped += 1;
            return true;
        }
        self.on_alive(sh, c.incarnation, c.id.as_bytes(), c.addr, &c.meta);
        if let Some(r) = self.members.find(c.id.as_bytes()) {
            self.members.mark_answered(r);
        }
        true
    }

    /// Makes a place in a full table for a member that just answered: a Down or Left
    /// tombstone goes first, else an entry that never answered this node (a flood vouched
    /// for by a member it trusts, most likely). Returns whether there is room.
    fn make_room<R: RngCore>(&mut self, sh: &mut Shared<'_, R>) -> bool {
        if self.members.len() < sh.config.max_members {
            return true;
        }
        let gone = self.members.iter().find(|(_, m)| !m.state.is_live());
        let Some(r) = gone.or_else(|| self.members.iter().find(|(_, m)| !m.answered)).map(|(r, _)| r) else {
            return false;
        };
        self.forget(r);
        sh.stats.members_evicted += 1;
        true
    }

    /// Sends `message` alone in a datagram to `dest` (no piggybacked news), if `budget`
    /// has room for it, which it then takes; otherwise sends nothing, counts it, and
    /// returns false.
    pub(crate) fn send_bare<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        dest: SocketAddr,
        message: &Message<'_>,
        budget: Option<&mut usize>,
    ) -> bool {
        let sent = sh.outbox.send_bare(dest, message, budget);
        if !sent {
            sh.stats.stranger_answers_withheld += 1;
        }
        sent
    }
}
