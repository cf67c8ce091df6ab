//! Ground truth and what every node believes, kept incrementally so that convergence and
//! detection are known after every event without scanning the cluster.

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
    /// Distinct (subject, incarnation) pairs some observer declared Down while live (not
    /// counting Downs about a restarted member's previous life).
    pub false_positive_decisions: BTreeSet<(usize, u32)>,
    /// The member whose failure or departure is being timed, and since when.
    pub watched: Option<(usize, Time)>,
    /// First time a live observer saw the watched member Down or Left.
    pub detect_first: Option<Time>,
    /// First time every live observer saw it Down, Left or forgot it.
    pub detect_all: Option<Time>,
    /// When each observer first saw the watched member Down or Left (for the CDF).
    pub detections: Vec<Time>,
    seen_gone: Vec<bool>,
    /// Per subject, the highest incarnation any observer reported for it.
    highest: Vec<u32>,
    /// Per subject, the highest incarnation reported before its latest restart: a Down at
    /// or below it is about a previous life (which did die), not a false positive.
    previous_life: Vec<Option<u32>>,
    /// Whether each node was ever started (so the next start is a restart).
    booted: Vec<bool>,
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
            watched: None,
            detect_first: None,
            detect_all: None,
            detections: Vec::new(),
            seen_gone: vec![false; n],
            highest: vec![0; n],
            previous_life: vec![None; n],
            booted: vec![false; n],
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
            out[usize::from(self.view[i * self.n + j])] += 1;
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

    /// Whether node `i` is live (up, not left).
    pub fn is_live(&self, i: usize) -> bool {
        self.live[i]
    }

    /// Live nodes.
    pub fn live_count(&self) -> usize {
        self.live.iter().filter(|l| **l).count()
    }

    /// The fraction of live observers whose view of `j` matches the truth.
    pub fn agreement(&self, j: usize) -> f64 {
        let observers: Vec<usize> = (0..self.n).filter(|&i| i != j && self.live[i]).collect();
        if observers.is_empty() {
            return 1.0;
        }
        let right = observers.iter().filter(|&&i| !wrong(self.live[j], self.view[i * self.n + j])).count();
        right as f64 / observers.len() as f64
    }

    fn pair_wrong(&self, i: usize, j: usize) -> bool {
        i != j && self.live[i] && wrong(self.live[j], self.view[i * self.n + j])
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

    /// Node `j` became live or stopped being live. A node that (re)starts knows nobody.
    pub fn set_live(&mut self, j: usize, live: bool, fresh: bool) {
        let seen: Vec<bool> = (0..self.n).map(|k| self.pair_wrong(k, j)).collect();
        let was_incomplete = self.live[j] && self.wrong_views[j] > 0;
        let before = seen.iter().filter(|w| **w).count() as u64 + u64::from(self.wrong_views[j]);
        if live && fresh && self.booted[j] {
            self.previous_life[j] = Some(self.highest[j]);
        }
        self.booted[j] |= live;
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
        self.highest[j] = self.highest[j].max(incarnation);
        let previous_life = self.previous_life[j].is_some_and(|top| incarnation <= top);
        if v == DOWN && self.live[j] && self.live[i] && !previous_life {
            self.false_positive_notices += 1;
            self.false_positive_decisions.insert((j, incarnation));
        }
        if let Some((w, _)) = self.watched
            && w == j
            && (v == DOWN || v == LEFT)
            && self.live[i]
        {
            self.detect_first.get_or_insert(now);
            if !self.seen_gone[i] {
                self.seen_gone[i] = true;
                self.detections.push(now);
            }
            if self.detect_all.is_none() && self.all_see_gone(j) {
                self.detect_all = Some(now);
            }
        }
    }

    fn all_see_gone(&self, j: usize) -> bool {
        (0..self.n).filter(|&i| i != j && self.live[i]).all(|i| matches!(self.view[i * self.n + j], DOWN | LEFT))
    }

    /// Starts timing the failure or departure of `j` at `now`.
    pub fn watch(&mut self, j: usize, now: Time) {
        self.watched = Some((j, now));
        self.detect_first = None;
        self.detect_all = None;
        self.detections.clear();
        self.seen_gone.fill(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A Down about a restarted member counts as a false positive only when it is about an
    // incarnation its previous life never reached (that life did die).
    #[test]
    fn downs_about_a_previous_life_are_not_false_positives() {
        let ids: Vec<NodeId> = ["a", "b"].into_iter().map(NodeId::from).collect();
        let mut t = Truth::new(&ids);
        let down = |incarnation| Event::MemberDown { id: NodeId::from("b"), incarnation };
        t.set_live(0, true, true);
        t.set_live(1, true, true);
        t.observe(Time::ZERO, 0, &down(3));
        assert_eq!(t.false_positive_notices, 1, "b was live: a false Down");
        t.set_live(1, false, false);
        t.set_live(1, true, true); // restarted: its previous life reached incarnation 3
        t.observe(Time::ZERO, 0, &down(3));
        assert_eq!(t.false_positive_notices, 1, "a late Down about the dead life");
        t.observe(Time::ZERO, 0, &down(4));
        assert_eq!(t.false_positive_notices, 2, "incarnation 4 is the new life's");
        assert_eq!(t.false_positive_decisions.len(), 2);
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
                0 => t.set_live(j, true, true),
                1 => t.set_live(j, false, false),
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
