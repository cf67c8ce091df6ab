//! Applying membership news: precedence, state transitions, Lifeguard suspicion
//! bookkeeping, refutation, events, and re-gossip of what changed.

use super::Membership;
use crate::config::Config;
use crate::event::Event;
use crate::identity::{MemberState, NodeId};
use crate::membership::incarnation::{at_least, latest, newer, next};
use crate::membership::lifeguard::suspicion_timeout;
use crate::membership::members::{Member, MemberRef, Suspicion, supersedes};
use crate::membership::timer::TimerKind;
use crate::shared::Shared;
use crate::time::Time;
use crate::wire::{MemberRecord, Message};
use core::net::SocketAddr;
use rand_core::RngCore;
use smallvec::smallvec;

/// A `Suspect` or `Down` message as received: who sent it from where, and whom it
/// accuses of what.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Accusation<'a> {
    /// Where the packet came from.
    pub(crate) at: SocketAddr,
    /// The packet's sender.
    pub(crate) sender: &'a [u8],
    /// The incarnation accused.
    pub(crate) incarnation: u32,
    /// The member accused.
    pub(crate) id: &'a [u8],
    /// Who raised the accusation (the sender in person, or a node it relays).
    pub(crate) accuser: &'a [u8],
}

impl Membership {
    pub(crate) fn is_me(&self, id: &[u8]) -> bool {
        id == self.identity.id.as_bytes()
    }

    fn current(&self, id: &[u8]) -> Option<(MemberRef, MemberState, u32)> {
        let r = self.members.find(id)?;
        let m = self.members.get(r)?;
        Some((r, m.state, m.incarnation))
    }

    /// Whether suspicions are focused: told to the suspect and witnesses only, not gossiped
    /// (see `Config::suspicion_witnesses`).
    pub(crate) fn focused(&self, config: &Config) -> bool {
        config.suspicion_witnesses > 0
    }

    /// Somebody says `id` is alive at `addr` with this incarnation.
    pub(crate) fn on_alive<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        incarnation: u32,
        id: &[u8],
        addr: SocketAddr,
        meta: &[u8],
    ) {
        if self.is_me(id) {
            // A newer or different claim about us (our previous life, or a stale view): refute.
            let differs = addr != self.identity.addr || meta != &self.identity.meta[..];
            if newer(incarnation, self.incarnation) || (incarnation == self.incarnation && differs) {
                self.refute(sh, incarnation, None);
            }
            return;
        }
        let current = self.current(id);
        if !supersedes(current.map(|(_, s, i)| (s, i)), MemberState::Alive, incarnation) {
            if current.is_some_and(|(_, s, i)| s == MemberState::Alive && i == incarnation) {
                self.heard_again(sh, id, &Message::Alive { incarnation, id, addr, meta });
            }
            return;
        }
        // A live member keeps its address (memberlist's rule): whoever claims it moved, it
        // still answers where it is, and a claim believed would send every probe of it
        // elsewhere (an address hijack). A member that really moved is declared Down at
        // the old address, and its refutation then brings the new one.
        if let Some((r, was, _)) = current
            && was.is_live()
            && self.members.get(r).is_some_and(|m| m.addr() != addr)
        {
            trace!(node = %self.identity.id, member = %alloc::string::String::from_utf8_lossy(id), %addr, "a move of a live member refused");
            sh.stats.address_conflicts += 1;
            return;
        }
        let (r, event, changed) = match current {
            None => {
                if self.members.len() >= sh.config.max_members {
                    // A full table takes a member only once it answers (see `admission.rs`).
                    let claim = MemberRecord { state: MemberState::Alive, incarnation, id, addr, meta };
                    self.check_claim(sh, &claim, None);
                    return;
                }
                let mut member =
                    Member::new(NodeId::copy_from_slice(id), addr, incarnation, MemberState::Alive, sh.now);
                member.set_meta(meta);
                let r = self.members.insert(member);
                (r, Some(true), false)
            }
            Some((r, was, _)) => {
                let (mut changed, mut push_afresh) = (false, false);
                self.members.update(r, |m| {
                    let (moved, same_meta) = (m.addr() != addr, m.meta() == meta);
                    // Perhaps a new life, which holds none of our keys: back from Down or
                    // Left, at a new address, or at a new incarnation while Alive with the
                    // same metadata (not refuting a suspicion, nor announcing new metadata).
                    // Our pushes to it start over (see `state/push.rs`).
                    push_afresh = !was.is_live() || moved || (was == MemberState::Alive && same_meta);
                    changed = m.set_meta(meta) || moved;
                    m.set_addr(addr);
                    m.incarnation = incarnation;
                    m.state = MemberState::Alive;
                    m.since = sh.now;
                    m.set_suspicion(None);
                });
                if push_afresh {
                    self.members.reset_pushed(r);
                }
                self.witnessed_alive(sh, r);
                (r, if was != MemberState::Alive { Some(true) } else { changed.then_some(false) }, changed)
            }
        };
        let Some(m) = self.members.get(r) else { return };
        let subject = m.id.clone();
        match event {
            Some(true) => sh.outbox.event(Event::MemberUp(m.info())),
            Some(false) => sh.outbox.event(Event::MemberUpdated(m.info())),
            None => {}
        }
        // A quiet merge keeps quiet only about members that are new to us (who exists);
        // news about a member we knew (a refutation, a new address) is spread as usual.
        // A member new to a node in the middle of a mass join (see `in_join_storm`) is most
        // likely another joiner: every node hears of every other, and relaying each with
        // the full budget costs n² · 4·log10(n) sends. It is relayed with half of it; the
        // few nodes the thinner epidemic misses get the member from their catch-up syncs.
        // Focused suspicions are known only to their accuser and witnesses, which the
        // suspect answers directly: a mere incarnation bump of a live member is no news to
        // spread. A comeback from Down or Left, a move and new metadata are; a comeback is
        // the one news that undoes a Down, and as with the Down no suspicion anywhere backs
        // it up: twice the budget, as a Down gets.
        let comeback = current.is_some_and(|(_, was, _)| !was.is_live());
        let message = Message::Alive { incarnation, id, addr, meta };
        match (current, self.quiet, sh.join_storm) {
            (None, true, _) => {}
            (None, false, true) => self.enqueue_news_sparingly(sh, &subject, &message),
            _ if comeback && self.focused(sh.config) => self.enqueue_urgent_news(sh, &subject, &message),
            _ if current.is_none() || changed || comeback || !self.focused(sh.config) => {
                self.enqueue_news(sh, &subject, &message)
            }
            _ => {}
        }
    }

    /// The sender of a packet accuses `id` at `claimed` in its own name (`accuser` is the
    /// sender), but we know `id` Alive at a higher incarnation: the accuser missed the
    /// refutation, and holds a suspicion that will end in a false Down unless a check
    /// happens to reach the suspect. Tell it directly, at once. (The refutation's gossip
    /// is over by then; at 20% loss a node missed all of it about once in 40 runs of 40
    /// nodes for two minutes.)
    fn correct_stale_accuser<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, a: &Accusation<'_>) {
        let Accusation { at, sender, incarnation: claimed, id, accuser } = *a;
        if accuser != sender || self.left {
            return;
        }
        let Some(m) = self.members.by_id(id).filter(|m| m.state == MemberState::Alive && newer(m.incarnation, claimed))
        else {
            return;
        };
        let (incarnation, addr, meta) = (m.incarnation, m.addr(), m.meta().clone());
        sh.stats.corrections += 1;
        self.send(sh, at, &[Message::Alive { incarnation, id, addr, meta: &meta }]);
    }

    /// A `Suspect` message arrived: its accuser suspects the member at that incarnation.
    /// With focused suspicions, a first-hand accusation (the sender is the accuser) of a
    /// live member this node does not suspect asks it to witness: it checks the suspect
    /// rather than believe the accuser (see [`Membership::witness`]). Otherwise the message is
    /// applied as news.
    pub(crate) fn on_suspect_message<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, a: &Accusation<'_>) {
        let Accusation { at, sender, incarnation, id, accuser } = *a;
        if self.is_me(id) {
            let direct = self.focused(sh.config).then(|| self.members.by_id(accuser).map(|m| m.addr()).unwrap_or(at));
            self.answer_accusation(sh, incarnation, direct);
            return;
        }
        if !self.focused(sh.config) {
            self.on_suspect(sh, incarnation, id, accuser);
            self.correct_stale_accuser(sh, a);
            return;
        }
        let Some((r, state, current)) = self.current(id) else { return };
        if state == MemberState::Suspect && current == incarnation {
            self.on_suspect(sh, incarnation, id, accuser); // a confirmation
        } else if state.is_live() && accuser == sender {
            self.witness(sh, r, incarnation, accuser, at, false);
        } else if state == MemberState::Down && at_least(current, incarnation) && accuser == sender {
            // The accuser missed the Down's gossip: it is news to it.
            let me = self.identity.id.clone();
            self.send(sh, at, &[Message::Down { incarnation: current, id, from: me.as_bytes() }]);
        }
    }

    /// A `Down` message arrived: its accuser declared the member Down at that incarnation.
    /// With focused suspicions this node may know the member Alive at a higher incarnation
    /// (a refutation that went only to its accuser): rather than ignore the Down or believe
    /// it, it checks the member, and declares it Down at the incarnation it knows if
    /// nothing answers.
    pub(crate) fn on_down_message<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, a: &Accusation<'_>) {
        if self.focused(sh.config)
            && let Some((r, state, current)) = self.current(a.id)
            && state.is_live()
            && newer(current, a.incarnation)
        {
            self.witness(sh, r, a.incarnation, a.accuser, a.at, true);
            return;
        }
        self.on_down(sh, a.incarnation, a.id, a.accuser);
        if !self.focused(sh.config) {
            self.correct_stale_accuser(sh, a);
        }
    }

    /// This node's own probe of `target` at `incarnation` went unanswered: suspect it, and
    /// with focused suspicions tell the suspect (so it can refute at once) and ask
    /// witnesses to check it.
    pub(crate) fn suspect_after_probe<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        target: MemberRef,
        incarnation: u32,
    ) {
        let Some(id) = self.members.get(target).map(|m| m.id.clone()) else { return };
        let me = self.identity.id.clone();
        self.on_suspect(sh, incarnation, id.as_bytes(), me.as_bytes());
        if !self.focused(sh.config) || self.members.get(target).is_none_or(|m| m.state != MemberState::Suspect) {
            return;
        }
        let Some(addr) = self.members.get(target).map(|m| m.addr()) else { return };
        self.send(sh, addr, &[Message::Suspect { incarnation, id: id.as_bytes(), from: me.as_bytes() }]);
        self.schedule_recheck(sh, target, incarnation);
        let want = sh.config.suspicion_witnesses;
        let asked = self.ask_witnesses(sh, target, incarnation, want);
        if asked < want as u32 {
            // Fewer witnesses than hoped (a small cluster): expect only those.
            let epoch = self.members.update_suspicion(target, |s| s.expected = s.expected.min(asked));
            self.schedule_suspicion(sh, target, epoch);
        }
    }

    /// `from` suspects `id` at this incarnation (or confirms an ongoing suspicion). Focused
    /// suspicions stay with this node; otherwise they are gossiped.
    fn on_suspect<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, incarnation: u32, id: &[u8], from: &[u8]) {
        if self.is_me(id) {
            self.answer_accusation(sh, incarnation, None);
            return;
        }
        let Some((r, state, current_inc)) = self.current(id) else {
            return;
        };
        let message = Message::Suspect { incarnation, id, from };
        let gossip = !self.focused(sh.config);
        if state == MemberState::Suspect && incarnation == current_inc {
            if from == id {
                return; // unattributed (see `merge_record`): not a confirmation
            }
            // Lifeguard: an independent confirmation shortens the suspicion.
            let fresh = self.members.get(r).and_then(|m| m.suspicion()).is_some_and(|s| s.can_confirm(from));
            if fresh {
                // Only a real confirmation moves the deadline (an update restarts timers).
                let epoch = self.members.update_suspicion(r, |s| {
                    s.confirmers.push(NodeId::copy_from_slice(from));
                });
                self.schedule_suspicion(sh, r, epoch);
                if gossip {
                    let subject = NodeId::copy_from_slice(id);
                    self.enqueue_news(sh, &subject, &message);
                }
            }
            return;
        }
        if !supersedes(Some((state, current_inc)), MemberState::Suspect, incarnation) {
            return;
        }
        // Lifeguard's k: confirmations that bring the timeout down to its minimum. Focused,
        // the witnesses this node asks (fewer if the cluster is small, see
        // `suspect_after_probe`); otherwise memberlist's `suspicion_mult - 2`.
        let n = self.members.live() + 1;
        let mut expected = match sh.config.suspicion_witnesses {
            0 => sh.config.suspicion_mult.saturating_sub(2),
            k => k as u32,
        };
        if (n as u32).saturating_sub(2) < expected {
            expected = 0;
        }
        let epoch = self.members.update(r, |m| {
            m.state = MemberState::Suspect;
            m.incarnation = incarnation;
            m.since = sh.now;
            m.set_suspicion(Some(Suspicion {
                start: sh.now,
                expected,
                confirmers: smallvec![NodeId::copy_from_slice(from)],
                verified: false,
                early_checked: false,
            }));
        });
        self.schedule_suspicion(sh, r, epoch);
        if self.is_me(from) {
            sh.stats.suspicions += 1;
        }
        let subject = NodeId::copy_from_slice(id);
        sh.outbox.event(Event::MemberSuspect { id: subject.clone(), incarnation });
        if gossip {
            self.enqueue_news(sh, &subject, &message);
        }
    }

    /// (Re)schedules the Down deadline of a suspect from its confirmations so far.
    fn schedule_suspicion<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, r: MemberRef, epoch: Option<u32>) {
        let (Some(epoch), Some(m)) = (epoch, self.members.get(r)) else { return };
        let Some(s) = m.suspicion() else { return };
        let (early, last) = self.suspicion_deadlines(sh.config, s);
        let at = if sh.config.verify_before_down && !s.early_checked && early < last { early } else { last };
        self.deadlines.schedule(at, TimerKind::Suspicion, r, epoch);
    }

    /// When a suspicion reaches its minimum timeout, and when it runs out (later, until
    /// Lifeguard's independent confirmations arrive).
    fn suspicion_deadlines(&self, config: &Config, s: &Suspicion) -> (Time, Time) {
        let min = config.suspicion_timeout();
        let timeout = if config.dynamic_suspicion {
            let max = min.saturating_mul(config.suspicion_max_timeout_mult);
            suspicion_timeout(min, max, s.expected, s.confirmations())
        } else {
            min
        };
        (s.start.saturating_add(min), s.start.saturating_add(timeout))
    }

    /// A suspicion ran out without refutation: this node declares the member Down, after
    /// one last check when `verify_before_down` is on. With that option, a suspicion still
    /// short of Lifeguard's confirmations is also checked once at its minimum timeout.
    ///
    /// The check (a buddy ping plus ping-reqs, see `Membership::verify_suspect`) delays a true
    /// Down by one probe timeout. It saves a live member from a node that missed every
    /// copy of its refutation, or that was itself cut off when it raised the suspicion:
    /// both otherwise declare a healthy member Down on stale news.
    pub(crate) fn suspicion_expired<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, r: MemberRef) {
        let Some(m) = self.members.get(r) else { return };
        let Some(s) = m.suspicion().filter(|_| m.state == MemberState::Suspect) else { return };
        if sh.config.verify_before_down && !s.early_checked && sh.now < self.suspicion_deadlines(sh.config, s).1 {
            // Still waiting for confirmations at the minimum timeout: check early, so a
            // suspicion whose refutation we missed does not linger until the maximum.
            let epoch = self.members.update_suspicion(r, |s| {
                s.early_checked = true;
            });
            self.verify_suspect(sh, r);
            self.schedule_suspicion(sh, r, epoch);
            return;
        }
        if sh.config.verify_before_down && !s.verified {
            let epoch = self.members.update_suspicion(r, |s| {
                s.verified = true;
            });
            self.verify_suspect(sh, r);
            if let Some(epoch) = epoch {
                let at = sh.now.saturating_add(self.health.scale(self.check_wait(sh.config)));
                self.deadlines.schedule(at, TimerKind::Suspicion, r, epoch);
            }
            return;
        }
        let (incarnation, id) = (m.incarnation, m.id.clone());
        let me = self.identity.id.clone();
        self.on_down(sh, incarnation, id.as_bytes(), me.as_bytes());
    }

    /// A suspect answered its pre-Down check: it is alive, so the suspicion starts over
    /// (its refutation, carried by the answer, usually ends it at once).
    pub(crate) fn suspect_answered<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, r: MemberRef) {
        if self.members.get(r).is_none_or(|m| m.state != MemberState::Suspect) {
            return;
        }
        let epoch = self.members.update_suspicion(r, |s| {
            s.start = sh.now;
            s.verified = false;
        });
        self.schedule_suspicion(sh, r, epoch);
    }

    /// `from` declared `id` Down at this incarnation.
    pub(crate) fn on_down<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, incarnation: u32, id: &[u8], from: &[u8]) {
        if self.is_me(id) {
            self.answer_accusation(sh, incarnation, None);
            return;
        }
        if self.bury(sh, id, MemberState::Down, incarnation) {
            let subject = NodeId::copy_from_slice(id);
            sh.outbox.event(Event::MemberDown { id: subject.clone(), incarnation });
            // Focused, every node learns of a Down from gossip alone (no suspicion of its
            // own runs out in step): twice the usual budget, so the epidemic misses nobody.
            let message = Message::Down { incarnation, id, from };
            if self.focused(sh.config) {
                self.enqueue_urgent_news(sh, &subject, &message);
            } else {
                self.enqueue_news(sh, &subject, &message);
            }
            // A Down is rare and urgent: pass it on at once rather than at the next gossip
            // round, so it crosses the cluster in round trips, and to twice the usual fanout:
            // a node that the first wave misses (one in e^fanout) waits for a gossip round.
            self.gossip_now(sh, sh.config.gossip_nodes * 2);
        }
    }

    /// `id` left gracefully at this incarnation.
    pub(crate) fn on_left<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, incarnation: u32, id: &[u8]) {
        if self.is_me(id) {
            // Only we announce our own leave; a copy of it is stale news to answer.
            self.answer_accusation(sh, incarnation, None);
            return;
        }
        if self.bury(sh, id, MemberState::Left, incarnation) {
            let subject = NodeId::copy_from_slice(id);
            sh.outbox.event(Event::MemberLeft { id: subject.clone(), incarnation });
            self.enqueue_news(sh, &subject, &Message::Left { incarnation, id });
        }
    }

    /// Moves a member to a tombstone state (Down or Left) if the news supersedes what is
    /// known, and schedules its reclaim. Returns whether it changed.
    fn bury<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, id: &[u8], state: MemberState, incarnation: u32) -> bool {
        let Some((r, cur, cur_inc)) = self.current(id) else {
            return false;
        };
        if !supersedes(Some((cur, cur_inc)), state, incarnation) {
            return false;
        }
        let epoch = self.members.update(r, |m| {
            m.state = state;
            m.incarnation = incarnation;
            m.since = sh.now;
            m.set_suspicion(None);
        });
        if let Some(epoch) = epoch {
            self.deadlines.schedule(sh.now.saturating_add(sh.config.reclaim_after), TimerKind::Reclaim, r, epoch);
        }
        true
    }

    /// Merges one record of the push-pull that `sender` (at `from`) sent. A remote Down
    /// becomes a local suspicion (memberlist's rule): the member gets a chance to refute
    /// before this node agrees.
    ///
    /// A record does not say who raised a suspicion, and the peer may only be echoing ours,
    /// so the suspicion is merged *unattributed* (its accuser is the subject itself) and
    /// never counts as a Lifeguard confirmation, here or wherever it is gossiped.
    ///
    /// With focused suspicions, a peer's Suspect says only who exists, and a peer's Down of
    /// a member this node knows live, at an incarnation it has not seen refuted, is passed
    /// to the member: a live one refutes to everyone (after a partition heals, this is how
    /// each side learns that the other holds it Down), and a dead one is found by probes
    /// as usual.
    pub(crate) fn merge_record<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        record: &MemberRecord<'_>,
        sender: &[u8],
    ) {
        let MemberRecord { state, incarnation, id, addr, meta } = *record;
        match state {
            MemberState::Alive => self.on_alive(sh, incarnation, id, addr, meta),
            MemberState::Suspect if self.focused(sh.config) => self.on_alive(sh, incarnation, id, addr, meta),
            MemberState::Down if self.focused(sh.config) && !self.is_me(id) => {
                let unrefuted =
                    self.members.by_id(id).filter(|m| m.state.is_live() && at_least(incarnation, m.incarnation));
                if let Some(at) = unrefuted.map(|m| m.addr()) {
                    self.send(sh, at, &[Message::Down { incarnation, id, from: sender }]);
                }
            }
            MemberState::Suspect | MemberState::Down => self.on_suspect(sh, incarnation, id, id),
            MemberState::Left => self.on_left(sh, incarnation, id),
        }
    }

    /// Somebody suspects this node, or declared it Down or Left, at `incarnation`. At our
    /// incarnation or above, refute with a higher one. Below it, the accuser missed our
    /// last refutation (whose retransmit budget may be spent): announce our current Alive
    /// again, so it rides on our next packets, the ack to a buddy ping among them.
    ///
    /// `direct`: a focused suspicion, known only to its accuser (at this address) and its
    /// witnesses: the answer goes straight to the accuser and rides on our next few packets
    /// (the acks to the witnesses' pings), instead of being gossiped to everyone.
    fn answer_accusation<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, incarnation: u32, direct: Option<SocketAddr>) {
        if self.left {
            return;
        }
        if at_least(incarnation, self.incarnation) {
            self.refute(sh, incarnation, direct);
        } else {
            self.announce_self(sh, direct);
        }
    }

    /// Announces a higher incarnation than `claimed`, so that this node's Alive supersedes
    /// whatever was said about it (`direct`: see [`Membership::answer_accusation`]).
    fn refute<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, claimed: u32, direct: Option<SocketAddr>) {
        self.incarnation = next(latest(claimed, self.incarnation));
        sh.stats.refutations += 1;
        if sh.config.local_health {
            // Lifeguard: being suspected hints that we are the slow one.
            self.health.apply(1, sh.config.local_health_max);
        }
        sh.outbox.event(Event::Refuted { incarnation: self.incarnation });
        self.announce_self(sh, direct);
    }

    /// Queues this node's Alive at its current incarnation for dissemination, or with
    /// `direct` sends it to that address and lets it ride on the next few packets only.
    pub(crate) fn announce_self<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, direct: Option<SocketAddr>) {
        /// Sends of a direct answer's copy on our own next packets.
        const DIRECT_RIDES: u32 = 3;
        let me = self.identity.clone();
        let alive =
            Message::Alive { incarnation: self.incarnation, id: me.id.as_bytes(), addr: me.addr, meta: &me.meta };
        match direct {
            None => self.enqueue_news(sh, &me.id, &alive),
            Some(accuser) => {
                self.send(sh, accuser, &[alive]);
                let rides = self.retransmit_budget(sh).saturating_sub(DIRECT_RIDES);
                self.enqueue_news_with(sh, &me.id, &alive, rides, 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::util::{datagram, introduce, rng};
    use crate::wire::{self, Limits, Message};
    use crate::{Config, Identity, Node, Time};
    use core::net::SocketAddr;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 2, i], 7946))
    }

    // Gossiped suspicions (SWIM's way): an accuser that missed a refutation and still
    // spreads its own suspicion (or Down) is answered at once with the newer Alive; a
    // second-hand or current accusation is not. (Focused suspicions check the suspect
    // first: see `tests::focused`.)
    #[test]
    fn a_stale_accuser_is_corrected_directly() {
        let config = Config { suspicion_witnesses: 0, ..Config::lan(10) };
        let mut node = Node::new(config, Identity::new("a", addr(1)), rng(1)).unwrap();
        let alive =
            |id: &'static [u8], i: u8, inc: u32| Message::Alive { incarnation: inc, id, addr: addr(i), meta: b"" };
        let t = Time::ZERO;
        introduce(&mut node, t, b"b", addr(2));
        node.handle_datagram(t, addr(2), &datagram(b"b", &[alive(b"b", 2, 0), alive(b"x", 3, 2)])).unwrap();
        while node.poll_transmit().is_some() {}
        let cases: [(&[u8], Message<'_>, bool); 4] = [
            (b"b", Message::Suspect { incarnation: 1, id: b"x", from: b"b" }, true),
            (b"b", Message::Down { incarnation: 1, id: b"x", from: b"b" }, true),
            (b"b", Message::Suspect { incarnation: 1, id: b"x", from: b"c" }, false),
            (b"b", Message::Suspect { incarnation: 2, id: b"x", from: b"b" }, false),
        ];
        for (sender, accusation, corrected) in cases {
            node.handle_datagram(t, addr(2), &datagram(sender, &[accusation])).unwrap();
            let replies: Vec<_> = core::iter::from_fn(|| node.poll_transmit()).filter(|p| p.dest == addr(2)).collect();
            let carries_alive = replies.iter().any(|p| {
                let packet = wire::decode(&p.payload, &Limits::default()).unwrap();
                packet.messages.iter().any(|m| matches!(m, Message::Alive { id: b"x", incarnation: 2, .. }))
            });
            assert_eq!(carries_alive, corrected, "{accusation:?}");
        }
        assert_eq!(node.stats().corrections, 2);
    }
}
