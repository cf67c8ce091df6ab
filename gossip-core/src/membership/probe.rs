//! The SWIM probe cycle: ring and randomized round-robin pings, ping-req through helpers,
//! relayed acks and Lifeguard nacks, and a suspicion when nothing answers.

use super::Membership;
use crate::config::Config;
use crate::config::Detector;
use crate::identity::MemberState;
use crate::membership::focused::Focused;
use crate::membership::members::{MemberRef, Members};
use crate::membership::phi::{RttWindow, probe_waits};
use crate::rand::Walk;
use crate::shared::Shared;
use crate::time::Time;
use crate::wire::Message;
use alloc::collections::VecDeque;
use core::net::SocketAddr;
use core::time::Duration;
use rand_core::RngCore;
use smallvec::SmallVec;

/// Round trips kept for the application at most; older ones are dropped.
const RECENT_RTTS: usize = 64;

/// With ring probes, one probe in this many goes to a random member and the rest to the
/// ring successor (see [`Lane`]).
const WALK_SHARE: u32 = 4;

/// One of the two probe schedules, each with its own probe in flight. With
/// [`Config::ring_probes`] the ring lane probes the ring successor every `4/3` probe
/// intervals and the walk lane a random member every 4: one probe per interval in all, as
/// without rings, but every member is probed by its ring predecessor within 1.33 intervals
/// of any moment (a crash is noticed that soon), and every node still probes every member
/// in turn (a member whose ring predecessor is unreachable, slow or lying is still
/// probed). Without ring probes only the walk lane runs, every interval: SWIM.
///
/// [`Config::ring_probes`]: crate::Config::ring_probes
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    Ring,
    Walk,
}

impl Lane {
    pub(crate) const ALL: [Lane; 2] = [Lane::Ring, Lane::Walk];
}

/// A lane's schedule and its probe in flight.
#[derive(Debug, Default)]
struct LaneState {
    next_probe: Time,
    current: Option<Probe>,
}

/// Probe scheduling and the probes in flight.
#[derive(Debug, Default)]
pub(crate) struct Prober {
    /// This round's walk over the member slab: each member once per round, in random order.
    round: Walk,
    lanes: [LaneState; 2],
    seq: u32,
    /// Ping-reqs this node is relaying for others, oldest (earliest deadline) first.
    relays: VecDeque<Relay>,
    /// Pre-Down checks of suspects in flight: the ping's sequence number and the suspect.
    verifications: VecDeque<(u32, MemberRef)>,
    /// Focused suspicions' checks in flight (see `focused.rs`).
    pub(crate) focused: Focused,
    /// The ring successor, and the live-set version it was found at.
    successor: Option<(u64, Option<MemberRef>)>,
    /// Round-trip times of the direct acks to this node's probes ([`Detector::Phi`]).
    pub(crate) rtt: RttWindow,
    /// The latest round trips of direct acks, whatever the detector, until the
    /// application takes them ([`Node::drain_probe_rtts`](crate::Node::drain_probe_rtts)).
    pub(crate) recent_rtts: VecDeque<Duration>,
}

/// This node's probe of one member, from its ping to the next probe tick.
#[derive(Debug, Clone, Copy)]
struct Probe {
    seq: u32,
    target: MemberRef,
    /// The target's address when pinged: only an ack from there is a direct one.
    addr: SocketAddr,
    /// The target's incarnation when probed: a failure is evidence against that one only.
    incarnation: u32,
    /// When the ping went out (its ack's round trip is measured from here).
    sent: Time,
    /// When to ask helpers if no ack came.
    indirect_at: Time,
    /// When to give up and suspect the target: once the helpers had their time (one more
    /// probe timeout under SWIM, phi's `2t` with [`Detector::Phi`]), and at the latest at
    /// the next probe tick.
    finish_at: Time,
    acked: bool,
    /// A direct ack arrived (and, with phi, its round trip was recorded).
    direct_acked: bool,
    indirect_sent: bool,
    /// The probe already ended (early, at `finish_at`); it still records a late direct ack.
    finished: bool,
    /// Lifeguard: nacks expected from helpers, and received.
    expected_nacks: u32,
    nacks: u32,
}

/// A member's place on the probe ring: a fixed hash of its id, the same on every node
/// (FNV-1a, then a 64-bit finalizer to spread ids that differ in one byte).
fn ring_position(id: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in id {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// A ping this node sent on behalf of `origin`'s ping-req.
#[derive(Debug)]
struct Relay {
    seq: u32,
    origin: SocketAddr,
    origin_seq: u32,
    /// When to give up and send the origin a nack.
    deadline: Time,
}

impl Prober {
    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn lane(&mut self, lane: Lane) -> &mut LaneState {
        &mut self.lanes[lane as usize]
    }

    /// Starts each lane's schedule at its `first` probe (indexed by [`Lane`]), or never.
    pub(crate) fn schedule(&mut self, first: [Option<Time>; 2]) {
        for (lane, at) in self.lanes.iter_mut().zip(first) {
            lane.next_probe = at.unwrap_or(Time::MAX);
        }
    }

    /// Stops probing for good (the node left).
    pub(crate) fn abandon(&mut self) {
        self.schedule([None; 2]);
        for lane in Lane::ALL {
            self.lane(lane).current = None;
        }
    }

    /// The probe in flight with this sequence number.
    fn probe_with(&mut self, seq: u32) -> Option<&mut Probe> {
        self.lanes.iter_mut().filter_map(|l| l.current.as_mut()).find(|p| p.seq == seq)
    }

    /// The earliest probe-related deadline.
    pub(crate) fn next_deadline(&self) -> Option<Time> {
        let mut next = Time::MAX;
        for lane in &self.lanes {
            next = next.min(lane.next_probe);
            if let Some(p) = &lane.current
                && !p.acked
            {
                if !p.indirect_sent {
                    next = next.min(p.indirect_at);
                }
                if !p.finished {
                    next = next.min(p.finish_at);
                }
            }
        }
        if let Some(r) = self.relays.front() {
            next = next.min(r.deadline);
        }
        if let Some(at) = self.focused.next_deadline() {
            next = next.min(at);
        }
        Some(next)
    }

    /// The next live member after `me` on the probe ring (see [`Config::ring_probes`]),
    /// found by one scan of the table whenever the live set has changed since the last.
    ///
    /// [`Config::ring_probes`]: crate::Config::ring_probes
    fn successor(&mut self, members: &Members, me: &[u8]) -> Option<MemberRef> {
        let version = members.live_set_version();
        if let Some((at, successor)) = self.successor
            && at == version
        {
            return successor;
        }
        let mine = ring_position(me);
        let successor = members
            .iter()
            .filter(|(_, m)| m.state.is_live())
            .min_by_key(|(_, m)| (ring_position(m.id.as_bytes()).wrapping_sub(mine), m.id.as_bytes()))
            .map(|(r, _)| r);
        self.successor = Some((version, successor));
        successor
    }

    /// The next live member in probe order: a random walk over the member slab, anew each
    /// round, so each member is probed once per round (SWIM's randomized round-robin). The
    /// walk spans twice the slab, rounded up to a power of two, and skips empty slots, so a
    /// member added during a round is probed in it if its slot is still ahead, else in the
    /// next (memberlist inserts newcomers at a random place: the same bound); only a slab
    /// grown past the walk starts a new one. (A walk over the slab as it was would leave
    /// every member learnt since, in a young cluster most of them, for its next round.)
    fn next_walk_target(&mut self, members: &Members, rng: &mut impl RngCore) -> Option<MemberRef> {
        let slots = members.slot_count();
        let span = slots.saturating_mul(2).next_power_of_two();
        if slots > self.round.len() {
            self.round = Walk::new(rng, span);
        }
        // Two walks at most: the rest of this round, then a whole new one.
        for _ in 0..2 {
            while let Some(idx) = self.round.next() {
                if let Some((r, m)) = members.at(idx)
                    && m.state.is_live()
                {
                    return Some(r);
                }
            }
            self.round = Walk::new(rng, span);
        }
        None
    }
}

impl Membership {
    /// Runs the probe cycle's due timers: relay deadlines, the indirect phase, the next probe.
    pub(crate) fn probe_timers<R: RngCore>(&mut self, sh: &mut Shared<'_, R>) {
        while let Some(r) = self.prober.relays.front()
            && r.deadline <= sh.now
        {
            let (origin, seq) = (r.origin, r.origin_seq);
            self.prober.relays.pop_front();
            self.send(sh, origin, &[Message::Nack { seq }]);
        }
        self.focused_timers(sh);
        for lane in Lane::ALL {
            self.lane_timers(sh, lane);
        }
    }

    /// One lane's due timers: its probe's indirect phase and end, and its next probe.
    fn lane_timers<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, lane: Lane) {
        if let Some(p) = &self.prober.lane(lane).current
            && !p.acked
            && !p.indirect_sent
            && p.indirect_at <= sh.now
        {
            self.send_indirect(sh, lane);
        }
        if let Some(p) = self.prober.lane(lane).current.as_mut()
            && !p.acked
            && !p.finished
            && p.finish_at <= sh.now
        {
            p.finished = true;
            let p = *p;
            self.finish_probe(sh, p);
        }
        if self.prober.lane(lane).next_probe <= sh.now && !self.left {
            if let Some(p) = self.prober.lane(lane).current.take()
                && !p.finished
            {
                self.finish_probe(sh, p);
            }
            self.start_probe(sh, lane);
            let period = self.probe_period(sh.config, lane).unwrap_or(Duration::MAX);
            self.prober.lane(lane).next_probe = sh.now.saturating_add(self.health.scale(period));
        }
    }

    /// Time between two probes of `lane` (see [`Lane`]), or `None` if it does not run.
    pub(crate) fn probe_period(&self, config: &Config, lane: Lane) -> Option<Duration> {
        let interval = config.probe_interval;
        match (lane, config.ring_probes) {
            (Lane::Ring, false) => None,
            (Lane::Walk, false) => Some(interval),
            (Lane::Ring, true) => Some(interval.saturating_mul(WALK_SHARE) / (WALK_SHARE - 1)),
            (Lane::Walk, true) => Some(interval.saturating_mul(WALK_SHARE)),
        }
    }

    fn start_probe<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, lane: Lane) {
        let target = match lane {
            Lane::Ring => self.prober.successor(&self.members, self.identity.id.as_bytes()),
            Lane::Walk => self.prober.next_walk_target(&self.members, &mut *sh.rng),
        };
        let Some(target) = target else {
            return;
        };
        let Some((incarnation, addr)) = self.members.get(target).map(|m| (m.incarnation, m.addr())) else {
            return;
        };
        let seq = self.ping_member(sh, target, sh.config.buddy_system);
        sh.stats.probes += 1;
        let (indirect_at, finish_at) = match self.phi_waits(sh.config) {
            Some((direct, indirect)) => {
                let indirect_at = sh.now.saturating_add(self.health.scale(direct));
                (indirect_at, indirect_at.saturating_add(self.health.scale(indirect)))
            }
            None => {
                let indirect_at = sh.now.saturating_add(self.health.scale(sh.config.probe_timeout));
                (indirect_at, indirect_at.saturating_add(self.health.scale(sh.config.probe_timeout)))
            }
        };
        self.prober.lane(lane).current = Some(Probe {
            seq,
            target,
            addr,
            incarnation,
            sent: sh.now,
            indirect_at,
            finish_at,
            acked: false,
            direct_acked: false,
            indirect_sent: false,
            finished: false,
            expected_nacks: 0,
            nacks: 0,
        });
    }

    /// [`Detector::Phi`] with enough round trips measured: the wait for a direct ack and
    /// then for the helpers' answers, before local health stretches them (see
    /// [`probe_waits`]). `None` means SWIM's fixed timeouts apply.
    pub(crate) fn phi_waits(&self, config: &Config) -> Option<(Duration, Duration)> {
        if config.detector != Detector::Phi || self.prober.rtt.len() < config.phi_min_samples {
            return None;
        }
        let t = self.prober.rtt.timeout(config.phi_threshold, config.phi_min_std)?;
        Some(probe_waits(t, config.probe_interval))
    }

    /// How long this node now waits for a direct ack before asking helpers, local health's
    /// stretch included: `probe_timeout`, or with [`Detector::Phi`] (once
    /// `phi_min_samples` round trips are known) the phi timeout of the measured RTTs.
    pub(crate) fn direct_ack_timeout(&self, config: &Config) -> Duration {
        let wait = self.phi_waits(config).map_or(config.probe_timeout, |(direct, _)| direct);
        self.health.scale(wait)
    }

    /// Pings a member and returns the sequence number used. With `buddy`, a ping to a
    /// suspect carries the suspicion (Lifeguard's buddy system) *ahead of* the ping, so a
    /// live suspect reads it first and its ack already carries its refutation.
    pub(crate) fn ping_member<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, target: MemberRef, buddy: bool) -> u32 {
        let seq = self.prober.next_seq();
        let Some(m) = self.members.get(target) else { return seq };
        let (id, addr) = (m.id.clone(), m.addr());
        let suspected = (buddy && m.state == MemberState::Suspect).then_some(m.incarnation);
        let me = self.identity.id.clone();
        let mut messages: SmallVec<[Message<'_>; 2]> = SmallVec::new();
        if let Some(incarnation) = suspected {
            messages.push(Message::Suspect { incarnation, id: id.as_bytes(), from: me.as_bytes() });
        }
        messages.push(Message::Ping { seq, target: id.as_bytes() });
        self.send(sh, addr, &messages);
        seq
    }

    /// Up to `count` distinct random Alive members other than `target` and `except`.
    pub(crate) fn random_alive<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        target: MemberRef,
        except: Option<SocketAddr>,
        count: usize,
    ) -> SmallVec<[SocketAddr; 8]> {
        let mut picked: SmallVec<[SocketAddr; 8]> = SmallVec::new();
        for _ in 0..count * 4 {
            if picked.len() >= count {
                break;
            }
            let Some((r, m)) = self.members.random(&mut *sh.rng) else { break };
            let addr = m.addr();
            if r != target && m.state == MemberState::Alive && Some(addr) != except && !picked.contains(&addr) {
                picked.push(addr);
            }
        }
        picked
    }

    /// Asks up to `indirect_checks` Alive members other than `target` (and `except`) to
    /// ping it for us with sequence number `seq`. Returns how many were asked.
    pub(crate) fn ask_helpers<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        target: MemberRef,
        seq: u32,
        except: Option<SocketAddr>,
    ) -> usize {
        let Some(m) = self.members.get(target) else { return 0 };
        let (id, addr) = (m.id.clone(), m.addr());
        let helpers = self.random_alive(sh, target, except, sh.config.indirect_checks);
        for &helper in &helpers {
            self.send(sh, helper, &[Message::PingReq { seq, target: id.as_bytes(), addr }]);
        }
        sh.stats.indirect_probes += helpers.len() as u64;
        helpers.len()
    }

    /// Checks a suspect once more before declaring it Down: a buddy ping and ping-reqs
    /// through helpers, all at once. Any ack (see [`Membership::on_ack`]) restarts the suspicion
    /// instead, so a member that answers is never declared Down on stale news.
    pub(crate) fn verify_suspect<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, target: MemberRef) {
        let seq = self.ping_member(sh, target, true);
        self.ask_helpers(sh, target, seq, None);
        /// Verifications in flight are few (one per expiring suspicion); bound them anyway.
        const MAX_VERIFICATIONS: usize = 64;
        if self.prober.verifications.len() >= MAX_VERIFICATIONS {
            self.prober.verifications.pop_front();
        }
        self.prober.verifications.push_back((seq, target));
        sh.stats.verifications += 1;
    }

    /// No direct ack in time: ask helpers to probe for us (Lifeguard: and expect nacks).
    fn send_indirect<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, lane: Lane) {
        let Some(p) = self.prober.lane(lane).current.as_mut() else { return };
        p.indirect_sent = true;
        let (seq, target) = (p.seq, p.target);
        let asked = self.ask_helpers(sh, target, seq, None);
        if let Some(p) = self.prober.lane(lane).current.as_mut()
            && sh.config.local_health
        {
            p.expected_nacks = asked as u32;
        }
    }

    /// The probe's time is up: adjust local health, and suspect the target if nothing
    /// answered.
    fn finish_probe<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, p: Probe) {
        let max = sh.config.local_health_max;
        if p.acked {
            if sh.config.local_health {
                self.health.apply(-1, max);
            }
            return;
        }
        sh.stats.failed_probes += 1;
        if sh.config.local_health {
            // Lifeguard: helpers that did not even nack suggest that we are the slow one.
            let missed = if p.expected_nacks > 0 { p.expected_nacks.saturating_sub(p.nacks) } else { 1 };
            self.health.apply(missed as i32, max);
        }
        let Some(m) = self.members.get(p.target) else {
            return;
        };
        if m.state.is_live() {
            self.suspect_after_probe(sh, p.target, p.incarnation);
        }
    }

    /// How long a check (of a suspect, all paths at once) waits for an answer: with phi, as
    /// a probe waits for its helpers (two round trips); SWIM waits one probe timeout.
    pub(crate) fn check_wait(&self, config: &Config) -> Duration {
        self.phi_waits(config).map_or(config.probe_timeout, |(_, indirect)| indirect)
    }

    /// A ping from `from`. `stranger`: when the sender is one, the bytes that may still go
    /// back to it; it gets a bare ack within them (see `admission.rs`). `kv_sum`: our
    /// key/value sum, for the ack (asked only when one is sent).
    pub(crate) fn on_ping<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        from: SocketAddr,
        seq: u32,
        target: &[u8],
        stranger: Option<&mut usize>,
        kv_sum: impl FnOnce() -> u64,
    ) {
        if target != self.identity.id.as_bytes() {
            // Meant for a member that used to live at this address.
            sh.stats.misdirected_pings += 1;
            return;
        }
        if stranger.is_some() {
            self.send_bare(sh, from, &Message::Ack { seq }, stranger);
            return;
        }
        // A node that holds keys tells its prober its key/value sum, `kv_sum` (see
        // `Message::KeySum` in `Node::apply_message`).
        match kv_sum() {
            0 => self.send(sh, from, &[Message::Ack { seq }]),
            sum => self.send(sh, from, &[Message::Ack { seq }, Message::KeySum { sum }]),
        }
    }

    /// An ack from `from`: for the current probe (directly from its target, or relayed by
    /// a helper), a pre-Down check, or a ping this node relays.
    pub(crate) fn on_ack<R: RngCore>(&mut self, sh: &mut Shared<'_, R>, from: SocketAddr, seq: u32) {
        if let Some(p) = self.prober.probe_with(seq) {
            p.acked = true;
            // Phi's window: round trips of direct acks only, each probe's first one (a
            // duplicate is no new sample), late ones too: a window that never saw a slow
            // answer would tighten the timeout around the fast ones.
            if from == p.addr && !p.direct_acked {
                p.direct_acked = true;
                let (target, rtt) = (p.target, sh.now.saturating_since(p.sent));
                self.members.mark_answered(target);
                if sh.config.detector == Detector::Phi {
                    self.prober.rtt.record(rtt);
                }
                if self.prober.recent_rtts.len() >= RECENT_RTTS {
                    self.prober.recent_rtts.pop_front();
                }
                self.prober.recent_rtts.push_back(rtt);
            }
            return;
        }
        if self.claim_answered(sh, from, seq) {
            return;
        }
        if let Some(i) = self.prober.verifications.iter().position(|v| v.0 == seq)
            && let Some((_, suspect)) = self.prober.verifications.remove(i)
        {
            self.suspect_answered(sh, suspect);
            return;
        }
        if self.prober.focused.answered(seq) {
            return;
        }
        if let Some(i) = self.prober.relays.iter().position(|r| r.seq == seq)
            && let Some(relay) = self.prober.relays.remove(i)
        {
            self.send(sh, relay.origin, &[Message::Ack { seq: relay.origin_seq }]);
        }
    }

    pub(crate) fn on_nack(&mut self, seq: u32) {
        if let Some(p) = self.prober.probe_with(seq)
            && p.indirect_sent
        {
            p.nacks = p.nacks.saturating_add(1);
        }
    }

    pub(crate) fn on_ping_req<R: RngCore>(
        &mut self,
        sh: &mut Shared<'_, R>,
        from: SocketAddr,
        origin_seq: u32,
        target: &[u8],
        addr: SocketAddr,
    ) {
        if self.prober.relays.len() >= sh.config.max_relays {
            sh.stats.relays_dropped += 1;
            return;
        }
        let seq = self.prober.next_seq();
        // Nack a little before the origin's probe ends, so that it arrives in time to count.
        // With phi, the origin waits `2t` for its helpers and this node's own `t` (the time
        // by which a live member's ack is due) is the estimate of the origin's: nack at
        // 0.8 t, as SWIM does at 0.8 probe_timeout.
        let deadline = match self.phi_waits(sh.config) {
            Some((direct, _)) => sh.now.saturating_add(direct.saturating_mul(4) / 5),
            None => sh.now.saturating_add(sh.config.probe_timeout.mul_f32(0.8)),
        };
        // Kept in deadline order (phi's `t` moves between relays; SWIM's wait does not, and
        // there this is a push to the back).
        let at = self.prober.relays.partition_point(|r| r.deadline <= deadline);
        self.prober.relays.insert(at, Relay { seq, origin: from, origin_seq, deadline });
        self.send(sh, addr, &[Message::Ping { seq, target }]);
        sh.stats.relays += 1;
    }
}
