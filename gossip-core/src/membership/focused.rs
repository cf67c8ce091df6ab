//! Focused suspicions ([`Config::suspicion_witnesses`]): a node whose probe fails tells the
//! suspect and a few witnesses, not the whole cluster. This module holds the checks a node
//! runs as a witness of another's suspicion, and the rechecks of the suspects it accuses
//! itself. The suspicion's own bookkeeping (timeouts, confirmations, Down) is in
//! `news.rs`.
//!
//! [`Config::suspicion_witnesses`]: crate::Config::suspicion_witnesses

use super::Membership;
use crate::identity::MemberState;
use crate::membership::incarnation::{latest, newer};
use crate::membership::members::MemberRef;
use crate::shared::Shared;
use crate::time::Time;
use crate::wire::Message;
use alloc::collections::VecDeque;
use core::net::SocketAddr;
use rand_core::RngCore;

/// Witness checks in flight at most; beyond it requests are refused and counted.
const MAX_WITNESS_CHECKS: usize = 64;

/// Suspicions this node raised that it rechecks at once, at most.
const MAX_RECHECKS: usize = 64;

/// The checks in flight, each queue in deadline order.
#[derive(Debug, Default)]
pub(crate) struct Focused {
    /// Checks this node runs as a witness of another member's suspicion.
    checks: VecDeque<WitnessCheck>,
    /// This node's own focused suspicions, each with when to ping the suspect again (and
    /// the incarnation suspected): a live suspect answers the ping with its refutation, so
    /// each one is another chance for the refutation to get through a lossy network.
    rechecks: VecDeque<(Time, MemberRef, u32)>,
}

/// A check of a suspect that its accuser asked this node to run.
#[derive(Debug, Clone, Copy)]
struct WitnessCheck {
    seq: u32,
    suspect: MemberRef,
    /// The incarnation the accuser suspects.
    incarnation: u32,
    accuser: SocketAddr,
    /// When to give up and confirm the suspicion to the accuser.
    deadline: Time,
    /// The suspect answered: nothing to confirm.
    answered: bool,
    /// The accuser declared it Down (at an incarnation older than this node knows): silence
    /// makes this node declare it Down itself rather than confirm.
    down: bool,
}

impl Focused {
    /// The earliest deadline of a check or a recheck.
    pub(crate) fn next_deadline(&self) -> Option<Time> {
        let check = self.checks.front().map(|w| w.deadline);
        let recheck = self.rechecks.front().map(|r| r.0);
        check.into_iter().chain(recheck).min()
    }

    /// Marks the witness check that pinged with `seq` as answered; whether there was one.
    pub(crate) fn answered(&mut self, seq: u32) -> bool {
        self.checks.iter_mut().find(|w| w.seq == seq).map(|w| w.answered = true).is_some()
    }
}

impl Membership {
    /// Runs the due witness checks and rechecks.
    pub(crate) fn focused_timers<R: RngCore>(&mut self, sh: &mut Shared<'_, R>) {
        while let Some(w) = self.prober.focused.checks.front().copied()
            && w.deadline <= sh.now
        {
            self.prober.focused.checks.pop_front();
            self.witness_check_done(sh, w);
        }
        while let Some(&(at, suspect, incarnation)) = self.prober.focused.rechecks.front()
            && at <= sh.now
        {
            self.prober.focused.rechecks.pop_front();
            let still = self
                .members
                .get(suspect)
                .is_some_and(|m| m.state == MemberState::Suspect && m.incarnation == incarnation);
            if still {
                self.ping_member(sh, suspect, true);
                self.schedule_recheck(sh, suspect, incarnation);
            }
        }
    }

    /// Asks up to `count` random Alive members other than `suspect` to check it, each
    /// told by a `Suspect` in this node's name. Returns how many.
    pub(crate) fn ask_witnesses<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        suspect: MemberRef,
        incarnation: u32,
        count: usize,
    ) -> u32 {
        let Some(id) = self.members.get(suspect).map(|m| m.id.clone()) else { return 0 };
        let witnesses = self.random_alive(sh, suspect, None, count);
        let me = self.identity.id.clone();
        let notice = Message::Suspect { incarnation, id: id.as_bytes(), from: me.as_bytes() };
        for &w in &witnesses {
            self.send(sh, w, &[notice]);
        }
        witnesses.len() as u32
    }

    /// `accuser` (at `accuser_addr`) suspects `suspect` at `incarnation` and asked this node
    /// to witness (or, with `down`, declared it Down while this node knows it live): ping it
    /// at once with the accusation attached (so a live suspect refutes: straight to its
    /// accuser, or to everyone for a Down) and through helpers. See [`Membership::witness_check_done`] for
    /// what the answer, or the silence, leads to; a refutation heard meanwhile is passed on
    /// at once (see [`Membership::witnessed_alive`]).
    pub(crate) fn witness<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        suspect: MemberRef,
        incarnation: u32,
        accuser: &[u8],
        accuser_addr: SocketAddr,
        down: bool,
    ) {
        let checks = &self.prober.focused.checks;
        if checks.iter().any(|w| w.suspect == suspect) {
            return;
        }
        if checks.len() >= MAX_WITNESS_CHECKS {
            sh.stats.witness_checks_dropped += 1;
            return;
        }
        let Some(m) = self.members.get(suspect) else { return };
        let (id, addr) = (m.id.clone(), m.addr());
        let seq = self.prober.next_seq();
        // Told of a Down, a live member refutes to everyone (others may hold the Down too);
        // of a suspicion, straight to its accuser.
        let notice = if down {
            Message::Down { incarnation, id: id.as_bytes(), from: accuser }
        } else {
            Message::Suspect { incarnation, id: id.as_bytes(), from: accuser }
        };
        self.send(sh, addr, &[notice, Message::Ping { seq, target: id.as_bytes() }]);
        // The accuser already failed to reach it: helpers other than the accuser.
        self.ask_helpers(sh, suspect, seq, Some(accuser_addr));
        let deadline = sh.now.saturating_add(self.health.scale(self.check_wait(sh.config)));
        let checks = &mut self.prober.focused.checks;
        let at = checks.partition_point(|w| w.deadline <= deadline);
        let check = WitnessCheck { seq, suspect, incarnation, accuser: accuser_addr, deadline, answered: false, down };
        checks.insert(at, check);
        sh.stats.witness_checks += 1;
    }

    /// Pings `suspect` again (with the suspicion attached) half a check's wait from now,
    /// while this node still suspects it at `incarnation`.
    pub(crate) fn schedule_recheck<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        suspect: MemberRef,
        incarnation: u32,
    ) {
        if self.prober.focused.rechecks.len() >= MAX_RECHECKS {
            return;
        }
        let at = sh.now.saturating_add(self.health.scale(self.check_wait(sh.config) / 2));
        let rechecks = &mut self.prober.focused.rechecks;
        let i = rechecks.partition_point(|r| r.0 <= at);
        rechecks.insert(i, (at, suspect, incarnation));
    }

    /// A witness check's time is up. The suspect answered: if this node knows it at a
    /// newer incarnation than the accusation, the accuser gets that Alive. It stayed
    /// silent: the suspicion is confirmed to the accuser in this node's name, at the
    /// incarnation this node knows; a Down about an older incarnation is declared anew.
    fn witness_check_done<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, w: WitnessCheck) {
        let Some(m) = self.members.get(w.suspect).filter(|m| m.state.is_live()) else { return };
        let (incarnation, id) = (latest(m.incarnation, w.incarnation), m.id.clone());
        let me = self.identity.id.clone();
        if w.answered {
            self.pass_on_alive(sh, w);
        } else if w.down {
            self.on_down(sh, incarnation, id.as_bytes(), me.as_bytes());
        } else {
            sh.stats.witness_confirmations += 1;
            self.send(sh, w.accuser, &[Message::Suspect { incarnation, id: id.as_bytes(), from: me.as_bytes() }]);
        }
    }

    /// `suspect` was just heard Alive at a newer incarnation: if this node is witnessing a
    /// suspicion of it, the check is over and the accuser gets the refutation.
    pub(crate) fn witnessed_alive<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, suspect: MemberRef) {
        let checks = &mut self.prober.focused.checks;
        let Some(w) = checks.iter().position(|w| w.suspect == suspect).and_then(|i| checks.remove(i)) else {
            return;
        };
        self.pass_on_alive(sh, w);
    }

    /// Sends the accuser of `w` the suspect's Alive, if this node knows it at a newer
    /// incarnation than the accusation.
    fn pass_on_alive<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, w: WitnessCheck) {
        let Some(m) = self.members.get(w.suspect).filter(|m| newer(m.incarnation, w.incarnation)) else { return };
        let (incarnation, id, addr, meta) = (m.incarnation, m.id.clone(), m.addr(), m.meta().clone());
        sh.stats.corrections += 1;
        self.send(sh, w.accuser, &[Message::Alive { incarnation, id: id.as_bytes(), addr, meta: &meta }]);
    }
}
