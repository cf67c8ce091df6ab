//! Membership: who is in the cluster and in what state, and how this node finds out.
//!
//! The layer owns the member table and everything that changes it: the SWIM probe cycle
//! (`probe.rs`) with phi accrual (`phi.rs`) and Lifeguard's local health
//! (`lifeguard.rs`), the rules that apply membership news and run suspicions
//! (`news.rs`), focused suspicions (`focused.rs`), and what strangers may say
//! (`admission.rs`). It is lent a [`Shared`] context for each call: it sends through
//! the outbox and raises events there, and knows nothing of the other layers.

pub(crate) mod admission;
mod focused;
pub(crate) mod id_index;
pub(crate) mod incarnation;
pub(crate) mod lifeguard;
pub(crate) mod members;
mod news;
pub(crate) mod phi;
pub(crate) mod probe;
pub(crate) mod timer;

pub(crate) use news::Accusation;

use crate::hashing::Keys;
use crate::identity::{Identity, MemberInfo, MemberState, NodeId};
use crate::outbox::Queue;
use crate::prelude::*;
use crate::shared::Shared;
use crate::wire::Message;
use admission::Claims;
use core::net::SocketAddr;
use lifeguard::LocalHealth;
use members::{MemberRef, Members};
use probe::Prober;
use rand_core::RngCore;
use smallvec::SmallVec;
use timer::Deadlines;

/// This node's membership: itself, the members it knows, and the checks in flight.
pub(crate) struct Membership {
    /// This node as it presents itself (its metadata may change).
    pub(crate) identity: Identity,
    pub(crate) incarnation: u32,
    /// This node left the cluster: it takes no input and probes nobody.
    pub(crate) left: bool,
    pub(crate) members: Members,
    pub(crate) health: LocalHealth,
    /// Suspicion and reclaim deadlines of members.
    pub(crate) deadlines: Deadlines,
    pub(crate) prober: Prober,
    /// Claims of strangers (and of newcomers to a full table) being checked (see
    /// `admission.rs`).
    claims: Claims,
    /// Set while merging secondhand state whose new members are not to be re-gossiped
    /// (see [`Config::catch_up_sync`]).
    pub(crate) quiet: bool,
    /// Members evicted from a full table, whose state the other layers must forget too
    /// (see [`Membership::take_forgotten`]).
    forgotten: Vec<NodeId>,
}

impl Membership {
    pub(crate) fn new(identity: Identity, keys: Keys) -> Self {
        Membership {
            identity,
            incarnation: 0,
            left: false,
            members: Members::new(keys),
            health: LocalHealth::default(),
            deadlines: Deadlines::default(),
            prober: Prober::default(),
            claims: Claims::default(),
            quiet: false,
            forgotten: Vec::new(),
        }
    }

    /// This node as others should see it.
    pub(crate) fn local(&self) -> MemberInfo {
        MemberInfo {
            id: self.identity.id.clone(),
            addr: self.identity.addr,
            incarnation: self.incarnation,
            state: if self.left { MemberState::Left } else { MemberState::Alive },
            meta: self.identity.meta.clone(),
        }
    }

    /// Forgets a member for good, and notes it for the other layers.
    pub(crate) fn forget(&mut self, r: MemberRef) {
        if let Some(m) = self.members.remove(r) {
            self.forgotten.push(m.id);
        }
    }

    /// The members forgotten since the last call: their keys and broadcasts seen are to be
    /// forgotten too.
    #[inline]
    pub(crate) fn take_forgotten(&mut self) -> impl Iterator<Item = NodeId> + '_ {
        self.forgotten.drain(..)
    }

    /// How many times each piece of news is sent at the cluster's current size.
    pub(crate) fn retransmit_budget<R>(&self, sh: &Shared<'_, R>) -> u32 {
        sh.retransmit_budget(self.members.live())
    }

    /// Queues one datagram to `dest`: `primary` messages, then queued news (see
    /// [`Shared::send`]).
    pub(crate) fn send<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, dest: SocketAddr, primary: &[Message<'_>]) {
        let limit = self.retransmit_budget(sh);
        sh.send(dest, primary, limit);
    }

    /// Queues membership news about `subject`, replacing older news about it.
    pub(crate) fn enqueue_news<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, subject: &NodeId, message: &Message<'_>) {
        self.enqueue_news_with(sh, subject, message, 0, 0);
    }

    /// Like [`Membership::enqueue_news`], with only half the retransmit budget: news this
    /// node merely relays while others relay it too (see `on_alive`).
    pub(crate) fn enqueue_news_sparingly<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        subject: &NodeId,
        message: &Message<'_>,
    ) {
        let limit = self.retransmit_budget(sh);
        self.enqueue_news_with(sh, subject, message, limit - (limit / 2).max(1), 0);
    }

    /// Like [`Membership::enqueue_news`], with twice the retransmit budget: news that must
    /// reach every member and has no other way to (a Down).
    pub(crate) fn enqueue_urgent_news<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        subject: &NodeId,
        message: &Message<'_>,
    ) {
        let limit = self.retransmit_budget(sh);
        self.enqueue_news_with(sh, subject, message, 0, limit);
    }

    /// Queues `message` about `subject` as if sent `sent` times, due `extra` more sends.
    pub(crate) fn enqueue_news_with<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        subject: &NodeId,
        message: &Message<'_>,
        sent: u32,
        extra: u32,
    ) {
        sh.enqueue(Queue::Membership, subject.clone(), message, sent, extra);
    }

    /// News about `subject` we hold queued came from elsewhere too (see
    /// [`Outbox::heard_again`](crate::outbox::Outbox::heard_again)).
    pub(crate) fn heard_again<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, subject: &[u8], message: &Message<'_>) {
        let limit = self.retransmit_budget(sh);
        sh.outbox.heard_again(subject, message, limit);
    }

    /// One gossip round's sends, now: queued news to `fanout` random members (live ones,
    /// and recently Down ones so they can hear of it and refute).
    pub(crate) fn gossip_now<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, fanout: usize) {
        let mut targets: SmallVec<[SocketAddr; 8]> = SmallVec::new();
        for _ in 0..fanout * 4 {
            if targets.len() >= fanout {
                break;
            }
            let Some((_, m)) = self.members.random(&mut *sh.rng) else {
                break;
            };
            let eligible = m.state.is_live()
                || (m.state == MemberState::Down && sh.now.saturating_since(m.since) < sh.config.gossip_to_the_dead);
            if eligible && !targets.contains(&m.addr()) {
                targets.push(m.addr());
            }
        }
        for dest in targets {
            self.send(sh, dest, &[]);
        }
    }
}
