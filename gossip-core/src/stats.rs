//! Counters a node keeps about itself: traffic, drops by cause, protocol activity.

use crate::error::RecvError;
use crate::wire::DecodeError;

/// Running totals since the node was built; read with [`Node::stats`](crate::Node::stats).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stats {
    /// Datagrams and frames received (accepted or not).
    pub packets_in: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Datagrams and frames handed out by `poll_transmit`.
    pub packets_out: u64,
    /// Bytes handed out.
    pub bytes_out: u64,
    /// Dropped input, indexed by [`RecvError::kind`].
    pub drops: [u64; RecvError::KINDS],
    /// Undecodable input, indexed by [`DecodeError::kind`].
    pub decode_errors: [u64; DecodeError::KINDS],
    /// Probes started (direct pings).
    pub probes: u64,
    /// Ping-reqs sent to helpers after a direct ping went unanswered.
    pub indirect_probes: u64,
    /// Probes that ended without any ack.
    pub failed_probes: u64,
    /// Ping-reqs this node relayed for others.
    pub relays: u64,
    /// Relays dropped because `max_relays` were already in flight.
    pub relays_dropped: u64,
    /// Suspicions this node started (its own failed probes).
    pub suspicions: u64,
    /// Suspects checked once more before being declared Down.
    pub verifications: u64,
    /// Checks run as a witness of another member's suspicion (see
    /// `Config::suspicion_witnesses`).
    pub witness_checks: u64,
    /// Witness checks that found the suspect silent and were confirmed to the accuser.
    pub witness_confirmations: u64,
    /// Witness requests refused because too many checks were in flight.
    pub witness_checks_dropped: u64,
    /// Times this node refuted a suspicion or declaration about itself.
    pub refutations: u64,
    /// Times this node told an accuser that its suspect had already refuted.
    pub corrections: u64,
    /// Key/value bytes sent: piggybacked key writes.
    pub kv_gossip_bytes: u64,
    /// Key/value bytes sent: digests and deltas in full syncs (streams).
    pub kv_sync_bytes: u64,
    /// Key/value bytes sent: this node's own writes pushed to members (datagrams).
    pub kv_push_bytes: u64,
    /// Gossiped key-write messages received that taught this node something (applied in
    /// order, or some writes taken out of order).
    pub kv_writes_taken: u64,
    /// Gossiped key-write messages received that taught it nothing (it had them, or newer).
    pub kv_writes_redundant: u64,
    /// Key writes refused because an owner's replica was full (see `Config::max_keys`).
    pub kv_refused: u64,
    /// Pings addressed to another id (a stale address): not answered.
    pub misdirected_pings: u64,
    /// Members not taken because `max_members` were already tracked, none of them Down,
    /// Left or without an answer to this node (see `members_evicted`).
    pub members_dropped: u64,
    /// Entries a full table gave up for a member that answered this node: Down or Left
    /// ones first, then ones that never answered it.
    pub members_evicted: u64,
    /// Messages from strangers (senders not in the table) that were not taken: news about
    /// other members, key writes, broadcasts, user messages, ping-reqs (see
    /// `Node::handle_datagram`).
    pub stranger_messages_refused: u64,
    /// Answers to strangers not sent because they would have been larger than what the
    /// stranger sent.
    pub stranger_answers_withheld: u64,
    /// Claims that a member is alive (from strangers, or of a newcomer to a full table)
    /// that the member confirmed by answering at the address claimed (see `admission.rs`).
    pub claims_confirmed: u64,
    /// Such claims dropped unchecked because too many were being checked.
    pub claims_dropped: u64,
    /// Alives that would have moved a live member to another address: refused (the member
    /// moves once it is Down or Left).
    pub address_conflicts: u64,
    /// Pieces of news dropped because the dissemination queue was full.
    pub gossip_dropped: u64,
    /// Calls whose `now` was earlier than a previous call's (the clock was clamped).
    pub time_regressions: u64,
}

impl Stats {
    /// Total input dropped, all causes.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    pub(crate) fn count_drop(&mut self, e: &RecvError) {
        self.drops[e.kind()] += 1;
        if let RecvError::Decode(d) = e {
            self.decode_errors[d.kind()] += 1;
        }
    }
}
