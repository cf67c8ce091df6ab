//! Ground truth and what every node believes, kept incrementally so that convergence and
//! detection are known after every event without scanning the cluster.

use core::time::Duration;
use gossip_core::{Event, NodeId, Time};
use std::collections::{BTreeSet, HashMap};

const UNKNOWN: u8 = 0;
const ALIVE: u8 = 1;
const SUSPECT: u8 = 2;
const DOWN: u8 = 3;
const LEFT: u8 = 4;

/// Whether observer's view `v` of a subject disagrees with the subject's liveness.
fn wrong(subject_live: bool, v: u8) -> bool {
    if subject_live { v != ALIVE } else { v == ALIVE || v == SUSPECT }
}

/// The n×n matrix of views (one byte per observer and subject), the truth, and the
/// accuracy metrics derived from them.
pub struct Truth {
    n: usize,
    view: Vec<u8>,
    live: Vec<bool>,
    index: HashMap<NodeId, usize>,
    /// Live observer/subject pairs whose view disagrees with the truth.
    mismatches: u64,
    /// Per observer, the subjects it sees otherwise than they are (counted while live).
    wrong_views: Vec<u32>,
    /// Live observers with at least one wrong view.
    incomplete: usize,
    /// `MemberDown` events about live members, summed over observers.
    pub false_positive_notices: u64,
    /// Distinct (subject, life, incarnation) some observer declared Down while that life
    /// was live (Downs about a restarted member's previous life do not count, nor Downs
    /// across a cut: see [`Truth::partition_down_decisions`]).
    pub false_positive_decisions: BTreeSet<(usize, u32, u32)>,
    /// `MemberDown` events about live members on the other side of a cut while the cut
    /// holds, summed over observers: the Downs a partition is expected to cause.
    pub partition_down_notices: u64,
    /// Distinct (subject, life, incarnation) some observer declared Down while a cut
    /// kept them apart.
    pub partition_down_decisions: BTreeSet<(usize, u32, u32)>,
    /// While the network is cut ([`Truth::set_cut`]), each node's side; empty otherwise.
    side: Vec<u16>,
    /// The last cut healed: each node's side then, and when it healed.
    healed: Option<(Vec<u16>, Time)>,
    /// Whether to keep [`Truth::complete_log`] (for pictures).
    pub log_complete: bool,
    /// With [`Truth::log_complete`]: every moment the share of live nodes whose whole view
    /// is true changed, and the share from then on.
    pub complete_log: Vec<(Time, f64)>,
    /// Live nodes.
    live_n: usize,
    /// The member whose failure or departure is being timed, since when, and the view
    /// that counts as detecting it (Down for a failure, Left for a departure).
    watched: Option<(usize, Time, u8)>,
    /// First time a live observer saw the watched member gone (Down, or Left if it left).
    pub detect_first: Option<Time>,
    /// First time every live observer saw it so.
    pub detect_all: Option<Time>,
    /// When each observer first saw the watched member gone (for the CDF).
    pub detections: Vec<Time>,
    seen_gone: Vec<bool>,
    /// Whether each node was ever started (so the next start is a restart).
    booted: Vec<bool>,
    /// Per subject, how many times it restarted: which life it lives.
    life: Vec<u32>,
    /// Per subject, the highest incarnation any observer reported for it.
    highest: Vec<u32>,
    /// Per restarted subject, the highest incarnation its previous life reached, and when
    /// that life ended.
    previous_life: Vec<Option<(u32, Time)>>,
    /// When each node last stopped.
    died: Vec<Time>,
    /// How long after a death a Down may still be about the dead life (see
    /// [`Truth::set_dead_life_window`]).
    dead_life_window: Duration,
}

impl Truth {
    /// Nodes named by `ids`, none live yet.
    pub fn new(ids: &[NodeId]) -> Self {
        let n = ids.len();
        Truth {
            n,
            view: vec![UNKNOWN; n * n],
            live: vec![false; n],
            index: ids.iter().cloned().zip(0..).collect(),
            mismatches: 0,
            wrong_views: vec![0; n],
            incomplete: 0,
            false_positive_notices: 0,
            false_positive_decisions: BTreeSet::new(),
            partition_down_notices: 0,
            partition_down_decisions: BTreeSet::new(),
            side: Vec::new(),
            healed: None,
            log_complete: false,
            complete_log: Vec::new(),
            live_n: 0,
            watched: None,
            detect_first: None,
            detect_all: None,
            detections: Vec::new(),
            seen_gone: vec![false; n],
            booted: vec![false; n],
            life: vec![0; n],
            highest: vec![0; n],
            previous_life: vec![None; n],
            died: vec![Time::ZERO; n],
            dead_life_window: Duration::ZERO,
        }
    }

    /// Live observer/subject pairs whose view disagrees with the truth.
    pub fn mismatches(&self) -> u64 {
        self.mismatches
    }

    /// How many live observers see subject `j` in each view state (unknown, alive,
    /// suspect, down, left).
    pub fn views_of(&self, j: usize) -> [usize; 5] {
        let mut out = [0; 5];
        for i in (0..self.n).filter(|&i| i != j && self.live[i]) {
            out[usize::from(self.state(i, j))] += 1;
        }
        out
    }

    /// The fraction of (live observer, other member) pairs whose view matches the truth.
    pub fn overall_agreement(&self) -> f64 {
        let live = self.live_count() as f64;
        let pairs = live * (live - 1.0) + live * (self.n as f64 - live);
        if pairs <= 0.0 { 1.0 } else { 1.0 - self.mismatches as f64 / pairs }
    }

    /// Whether every live node sees every other node as it is.
    pub fn converged(&self) -> bool {
        self.mismatches == 0
    }

    /// Live nodes that see some member otherwise than it is.
    pub fn incomplete_views(&self) -> usize {
        self.incomplete
    }

    /// Adds `delta` (±1) to observer `i`'s wrong views, keeping the incomplete count.
    fn count_wrong(&mut self, i: usize, delta: i32) {
        let before = self.wrong_views[i] > 0;
        self.wrong_views[i] = self.wrong_views[i].wrapping_add_signed(delta);
        let after = self.wrong_views[i] > 0;
        if self.live[i] && before != after {
            if after { self.incomplete += 1 } else { self.incomplete -= 1 }
        }
    }

    /// Whether a live node for which `busy` is false sees some member wrongly: while such a
    /// node handles nothing, [`Truth::converged`] stays false.
    pub fn wrong_outside(&self, busy: impl Fn(usize) -> bool) -> bool {
        (0..self.n).any(|i| self.live[i] && self.wrong_views[i] > 0 && !busy(i))
    }

    /// Whether [`Truth::detect_all`] stays unset while only the nodes for which `busy`
    /// holds handle events: it is unset, and nothing is watched or some other live node
    /// does not see the watched member gone.
    pub fn undetected_outside(&self, busy: impl Fn(usize) -> bool) -> bool {
        self.detect_all.is_none()
            && self.watched.is_none_or(|(j, _, gone)| {
                (0..self.n).any(|i| i != j && self.live[i] && self.state(i, j) != gone && !busy(i))
            })
    }

    /// Whether node `i` is live (up, not left).
    pub fn is_live(&self, i: usize) -> bool {
        self.live[i]
    }

    /// Live nodes.
    pub fn live_count(&self) -> usize {
        self.live_n
    }

    /// The share of live nodes whose whole view is true.
    pub fn complete_share(&self) -> f64 {
        if self.live_n == 0 { 1.0 } else { 1.0 - self.incomplete as f64 / self.live_n as f64 }
    }

    /// With [`Truth::log_complete`], logs [`Truth::complete_share`] at `now` if it changed.
    /// Changes at one instant are one change (a crash and a restart at once are no dip).
    fn log(&mut self, now: Time) {
        if !self.log_complete {
            return;
        }
        let share = self.complete_share();
        if let Some(&(at, _)) = self.complete_log.last()
            && at == now
        {
            self.complete_log.pop();
        }
        if self.complete_log.last().is_none_or(|&(_, last)| last != share) {
            self.complete_log.push((now, share));
        }
    }

    /// The fraction of live observers whose view of `j` matches the truth.
    pub fn agreement(&self, j: usize) -> f64 {
        let observers: Vec<usize> = (0..self.n).filter(|&i| i != j && self.live[i]).collect();
        if observers.is_empty() {
            return 1.0;
        }
        let right = observers.iter().filter(|&&i| !wrong(self.live[j], self.state(i, j))).count();
        right as f64 / observers.len() as f64
    }

    fn pair_wrong(&self, i: usize, j: usize) -> bool {
        i != j && self.live[i] && wrong(self.live[j], self.state(i, j))
    }

    /// What observer `i` believes of `j`.
    fn state(&self, i: usize, j: usize) -> u8 {
        self.view[i * self.n + j]
    }

    fn set_view(&mut self, i: usize, j: usize, v: u8) {
        let before = self.pair_wrong(i, j);
        self.view[i * self.n + j] = v;
        let after = self.pair_wrong(i, j);
        self.mismatches = self.mismatches + u64::from(after) - u64::from(before);
        if before != after {
            self.count_wrong(i, if after { 1 } else { -1 });
        }
    }

    /// The longest a Down may lag the death it reports: the simulator sets the detector's
    /// worst case (the first probe, the longest suspicion, the check before Down, spread).
    pub fn set_dead_life_window(&mut self, window: Duration) {
        self.dead_life_window = window;
    }

    /// The network is cut into groups (`side[i]` is node `i`'s), or whole again (`None`),
    /// at `now`. While it is cut, a Down about a live member on the other side is a
    /// partition Down, not a false positive: the observer cannot tell the member from a
    /// crashed one. So is one decided soon after the heal (within the window in which a
    /// Down may still report a death, [`Truth::set_dead_life_window`]): it ends a
    /// suspicion raised while the member was out of reach.
    pub fn set_cut(&mut self, side: Option<Vec<u16>>, now: Time) {
        let before = core::mem::take(&mut self.side);
        match side {
            Some(side) => self.side = side,
            None if !before.is_empty() => self.healed = Some((before, now)),
            None => {}
        }
    }

    /// Whether a cut keeps nodes `i` and `j` apart at `now`, or did until just before.
    fn apart(&self, i: usize, j: usize, now: Time) -> bool {
        let across = |side: &[u16]| matches!((side.get(i), side.get(j)), (Some(a), Some(b)) if a != b);
        across(&self.side)
            || self
                .healed
                .as_ref()
                .is_some_and(|(side, at)| now <= at.saturating_add(self.dead_life_window) && across(side))
    }

    /// Node `j` became live or stopped being live at `now`. A node that (re)starts knows
    /// nobody.
    pub fn set_live(&mut self, j: usize, live: bool, fresh: bool, now: Time) {
        if !live && self.live[j] {
            self.died[j] = now;
        }
        let seen: Vec<bool> = (0..self.n).map(|k| self.pair_wrong(k, j)).collect();
        let was_incomplete = self.live[j] && self.wrong_views[j] > 0;
        let before = seen.iter().filter(|w| **w).count() as u64 + u64::from(self.wrong_views[j]);
        if live && fresh && self.booted[j] {
            self.life[j] += 1;
            self.previous_life[j] = Some((self.highest[j], self.died[j]));
        }
        self.booted[j] |= live;
        self.live_n = self.live_n + usize::from(live) - usize::from(self.live[j]);
        self.live[j] = live;
        if fresh {
            self.view[j * self.n..(j + 1) * self.n].fill(UNKNOWN);
        }
        for (k, was) in seen.into_iter().enumerate() {
            if self.pair_wrong(k, j) != was {
                self.count_wrong(k, if was { -1 } else { 1 });
            }
        }
        self.wrong_views[j] = (0..self.n).map(|k| u32::from(self.pair_wrong(j, k))).sum();
        let incomplete = self.live[j] && self.wrong_views[j] > 0;
        self.incomplete = self.incomplete + usize::from(incomplete) - usize::from(was_incomplete);
        let after: u64 =
            (0..self.n).map(|k| u64::from(self.pair_wrong(k, j))).sum::<u64>() + u64::from(self.wrong_views[j]);
        self.mismatches = self.mismatches + after - before;
        self.log(now);
    }

    /// Folds one event raised by observer `i` at `now` into the views and metrics.
    pub fn observe(&mut self, now: Time, i: usize, event: &Event) {
        let (id, v, incarnation) = match event {
            Event::MemberUp(m) | Event::MemberUpdated(m) => (&m.id, ALIVE, m.incarnation),
            Event::MemberSuspect { id, incarnation } => (id, SUSPECT, *incarnation),
            Event::MemberDown { id, incarnation } => (id, DOWN, *incarnation),
            Event::MemberLeft { id, incarnation } => (id, LEFT, *incarnation),
            _ => return,
        };
        let Some(&j) = self.index.get(id) else { return };
        self.set_view(i, j, v);
        self.log(now);
        self.highest[j] = self.highest[j].max(incarnation);
        // A Down of a live member is false, unless it may still be about the member's
        // previous life: at an incarnation that life reached, and soon enough after it died
        // for a suspicion of it to be running still. (Not by incarnation alone: every life
        // starts at 0, and a Down at 0 long after a restart is about the new one.)
        let about_dead_life = self.previous_life[j]
            .is_some_and(|(top, died)| incarnation <= top && now <= died.saturating_add(self.dead_life_window));
        if v == DOWN && self.live[j] && self.live[i] && !about_dead_life {
            let decision = (j, self.life[j], incarnation);
            // Across a cut, or a Down decided across it that is still spreading after the
            // heal (the same life and incarnation).
            if self.apart(i, j, now) || self.partition_down_decisions.contains(&decision) {
                self.partition_down_notices += 1;
                self.partition_down_decisions.insert(decision);
            } else {
                self.false_positive_notices += 1;
                self.false_positive_decisions.insert(decision);
            }
        }
        if let Some((w, _, gone)) = self.watched
            && w == j
            && v == gone
            && self.live[i]
        {
            self.detect_first.get_or_insert(now);
            if !self.seen_gone[i] {
                self.seen_gone[i] = true;
                self.detections.push(now);
            }
            if self.detect_all.is_none() && self.all_see(j, gone) {
                self.detect_all = Some(now);
            }
        }
    }

    fn all_see(&self, j: usize, state: u8) -> bool {
        (0..self.n).filter(|&i| i != j && self.live[i]).all(|i| self.state(i, j) == state)
    }

    /// The member being timed and since when (see [`Truth::watch`]).
    pub fn watched(&self) -> Option<(usize, Time)> {
        self.watched.map(|(j, at, _)| (j, at))
    }

    /// Starts timing the failure (`left` false: until it is seen Down) or the departure
    /// (until it is seen Left) of `j` at `now`.
    pub fn watch(&mut self, j: usize, now: Time, left: bool) {
        self.watched = Some((j, now, if left { LEFT } else { DOWN }));
        self.detect_first = None;
        self.detect_all = None;
        self.detections.clear();
        self.seen_gone.fill(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A Down about a restarted member is excused only while it may still be about the dead
    // life: at an incarnation that life reached, within the window after its death. Both
    // lives start at 0, so a Down at 0 after the window counts.
    #[test]
    fn downs_count_by_life_not_by_incarnation() {
        let ids: Vec<NodeId> = ["a", "b"].into_iter().map(NodeId::from).collect();
        let mut t = Truth::new(&ids);
        t.set_dead_life_window(Duration::from_secs(10));
        let down = |incarnation| Event::MemberDown { id: NodeId::from("b"), incarnation };
        let at = Time::from_secs;
        t.set_live(0, true, true, at(0));
        t.set_live(1, true, true, at(0));
        t.observe(at(1), 0, &down(3));
        assert_eq!(t.false_positive_notices, 1, "b was live: a false Down");
        t.set_live(1, false, false, at(20));
        t.set_live(1, true, true, at(22)); // restarted; its first life reached 3
        t.observe(at(25), 0, &down(0));
        assert_eq!(t.false_positive_notices, 1, "5 s after the death: about the dead life");
        t.observe(at(26), 0, &down(4));
        assert_eq!(t.false_positive_notices, 2, "incarnation 4: the new life's");
        t.observe(at(40), 0, &down(0));
        assert_eq!(t.false_positive_notices, 3, "20 s after the death: the new life's");
        assert_eq!(t.false_positive_decisions.len(), 3, "(b, 0, 3), (b, 1, 4), (b, 1, 0)");
    }

    // While a cut holds, a Down about a live member on the other side is a partition Down;
    // about one on the same side it is a false positive. After the heal, a Down across the
    // old cut is still a partition Down for the window in which a suspicion raised during
    // the cut can end, and so is every later notice of a partition Down decision; a new
    // decision past the window is a false positive.
    #[test]
    fn downs_across_a_cut_are_partition_downs() {
        let ids: Vec<NodeId> = ["a", "b", "c"].into_iter().map(NodeId::from).collect();
        let mut t = Truth::new(&ids);
        t.set_dead_life_window(Duration::from_secs(5));
        let down = |id: &str, incarnation| Event::MemberDown { id: NodeId::from(id), incarnation };
        for j in 0..3 {
            t.set_live(j, true, true, Time::ZERO);
        }
        t.set_cut(Some(vec![0, 0, 1]), Time::ZERO);
        t.observe(Time::from_secs(1), 0, &down("c", 0));
        assert_eq!((t.partition_down_notices, t.partition_down_decisions.len()), (1, 1));
        t.observe(Time::from_secs(1), 0, &down("b", 0));
        assert_eq!((t.false_positive_notices, t.false_positive_decisions.len()), (1, 1), "same side");
        t.set_cut(None, Time::from_secs(2));
        t.observe(Time::from_secs(3), 1, &down("c", 0));
        assert_eq!(t.partition_down_notices, 2, "the cut's decision, still spreading");
        t.observe(Time::from_secs(4), 2, &down("a", 0));
        assert_eq!(t.partition_down_notices, 3, "a suspicion from the cut, ending after the heal");
        t.observe(Time::from_secs(8), 2, &down("a", 1));
        assert_eq!((t.false_positive_notices, t.partition_down_notices), (2, 3), "past the window");
    }

    // The counts kept incrementally (mismatches, observers with a wrong view) equal a
    // recount from scratch after every step of a run of starts, crashes, restarts and
    // events in a pseudo-random order.
    #[test]
    fn incremental_counts_match_a_recount() {
        let ids: Vec<NodeId> = (0..6).map(|i| NodeId::from(format!("n{i}"))).collect();
        let mut t = Truth::new(&ids);
        let mut x: u64 = 7;
        for _ in 0..2000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let (i, j, what) = ((x >> 33) as usize % 6, (x >> 40) as usize % 6, (x >> 50) % 8);
            let id = ids[j].clone();
            let info = gossip_core::MemberInfo {
                id: id.clone(),
                addr: "10.0.0.1:1".parse().unwrap(),
                incarnation: 0,
                state: gossip_core::MemberState::Alive,
                meta: Default::default(),
            };
            match what {
                0 => t.set_live(j, true, true, Time::ZERO),
                1 => t.set_live(j, false, false, Time::ZERO),
                2 => t.observe(Time::ZERO, i, &Event::MemberSuspect { id, incarnation: 0 }),
                3 => t.observe(Time::ZERO, i, &Event::MemberDown { id, incarnation: 0 }),
                _ => t.observe(Time::ZERO, i, &Event::MemberUp(info)),
            }
            let wrong: Vec<usize> = (0..6).map(|a| (0..6).filter(|&b| t.pair_wrong(a, b)).count()).collect();
            assert_eq!(t.mismatches() as usize, wrong.iter().sum::<usize>());
            assert_eq!(t.incomplete_views(), (0..6).filter(|&a| t.live[a] && wrong[a] > 0).count());
        }
    }
}
