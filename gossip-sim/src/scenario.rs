//! The named scenarios of `gossip-sim run`, and the report each produces.

use crate::net::NetConfig;
pub use crate::report::Report;
use crate::rng::SplitMix;
use crate::sim::{Gate, Sim};
use crate::svg::{Picture, Right};
use core::time::Duration;
use gossip_core::{Config, Time};
use rand_core::RngCore;

/// The key and value the `kv` scenario sets.
const KV_KEY: &[u8] = b"service";
const KV_VALUE: &[u8] = b"db:5432";

/// Scenario names `gossip-sim run --scenario` accepts.
pub const SCENARIOS: [&str; 18] = [
    "join",
    "join-one",
    "steady",
    "crash",
    "loss",
    "leave",
    "partition",
    "slow",
    "restart-new-address",
    "mass-restart",
    "flap",
    "long-partition",
    "churn",
    "broadcast",
    "kv",
    "kv-partition",
    "kv-load",
    "big-state",
];

/// What the scenario `name` (one of [`SCENARIOS`]) does and measures, in a line (for
/// `gossip-sim --list-scenarios` and `--help`); `None` for an unknown name. Every
/// scenario but `join` first forms the cluster (everyone joins through node 0) and waits
/// until it has converged, then `--settle` seconds.
pub fn describe(name: &str) -> Option<&'static str> {
    Some(match name {
        "join" => {
            "every node joins through node 0 within --join-within SECS (1 s); times from t = 0 until every view is true"
        }
        "join-one" => "the last node joins the settled cluster through node 0: until every view holds it",
        "steady" => {
            "nothing happens: the cost of running a converged cluster (with --keys N, of keeping N keys a node)"
        }
        "crash" => "one node crashes: how soon the first and the last live node mark it Down",
        "loss" => "the network loses --loss P of the packets for the duration; nobody fails: the false positives",
        "leave" => "one node leaves gracefully: how soon the first and the last node see it Left",
        "partition" => "the cluster is cut in two halves for 30 s, then healed: how soon every view is true again",
        "slow" => "one node in ten stalls 2 s out of every 2.5 s (slow, not failed): the Lifeguard case",
        "restart-new-address" => "one node crashes and, once everyone has noticed, comes back at a new address",
        "mass-restart" => "every node restarts within one second, node 0 first, the rest joining through it",
        "flap" => "one node stalls --pause SECS (3 s) every 10 s: suspected and refuted, never to be marked Down",
        "long-partition" => "the halves stay apart 30 s past reclaim_after, so they forget each other, then heal",
        "churn" => {
            "every 2 s a node crashes and comes back 20 s later (every other one at a new address); then 60 s quiet"
        }
        "broadcast" => "one node broadcasts a message (--payload-bytes N long): until every live node has it",
        "kv" => "one node sets one replicated key: until every live node has it",
        "kv-partition" => {
            "an owner on each side of a 30 s cut deletes, changes and adds keys: after the heal all agree"
        }
        "kv-load" => "every node rewrites its --keys N keys (10) each second: traffic, staleness, time to agree after",
        "big-state" => "every node but one sets --keys N keys (100); that one restarts empty: until it has all of them",
        _ => return None,
    })
}

/// Keys each node but the newcomer owns in `big-state` by default.
const BIG_STATE_KEYS: usize = 100;

/// Keys each node owns in `kv-load` by default, each rewritten once a second.
const LOAD_KEYS: usize = 10;

/// One simulator run: what happens, to how many nodes, on which network.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// One of [`SCENARIOS`].
    pub name: String,
    /// Cluster size.
    pub nodes: usize,
    /// Seed of every random choice in the run.
    pub seed: u64,
    /// Loss applies from the fault on (the `loss` scenario) or throughout (others).
    pub net: NetConfig,
    /// Simulated seconds after the fault; `None` picks the scenario's default.
    pub duration: Option<f64>,
    /// Simulated seconds between convergence and the fault (0 by default): time for the
    /// join's gossip and catch-up syncs to die down, so the measured window is steady state.
    pub settle: f64,
    /// Every node but node 0 joins through it at a random moment within this many
    /// simulated seconds of the start (1 by default; 0: all at once).
    pub join_within: f64,
    /// Keys per node in `kv-load` and `big-state` (`None` picks the scenario's default), and
    /// in `steady` (`None`: no keys).
    pub keys: Option<usize>,
    /// Size of the `broadcast` scenario's payload, bytes; `None`: a short one. Above what
    /// a datagram holds it travels over streams.
    pub payload_bytes: Option<usize>,
    /// How long the `flap` scenario's node stalls each time, seconds (`None`: 3 s, within
    /// the LAN preset's [`Config::tolerated_silence`]).
    pub pause: Option<f64>,
    /// The configuration every node runs.
    pub config: Config,
    /// Draw the run as SVG into [`Report::svg`].
    pub svg: bool,
    /// Print a progress line to stderr every few seconds of wall time.
    pub progress: bool,
    /// Count the bytes sent by kind of message ([`Report::bytes_by_kind`]).
    pub breakdown: bool,
    /// Threads the simulator runs on ([`Sim::threads`]; every core by default): the same
    /// run, the same trace, for any number.
    pub threads: usize,
    /// The least work a window shares out among threads ([`Sim::min_window_weight`]);
    /// `None`: the simulator's default.
    pub min_window_weight: Option<usize>,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn since(t: Option<Time>, from: Time) -> Option<f64> {
    t.map(|t| secs(t.saturating_since(from)))
}

impl Scenario {
    /// A scenario with the default network and the LAN preset sized to `nodes`.
    pub fn new(name: &str, nodes: usize, seed: u64) -> Self {
        Scenario {
            name: name.to_string(),
            nodes,
            seed,
            net: NetConfig::default(),
            duration: None,
            settle: 0.0,
            join_within: 1.0,
            keys: None,
            payload_bytes: None,
            pause: None,
            config: Config::lan(nodes),
            svg: false,
            progress: false,
            breakdown: false,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            min_window_weight: None,
        }
    }

    fn default_duration(&self) -> f64 {
        match self.name.as_str() {
            "loss" | "slow" | "flap" => 300.0,
            "steady" | "kv-load" => 60.0,
            // A node the epidemic misses waits for its periodic push-pull (150 s at 500 nodes).
            "kv-partition" => 300.0,
            _ => 120.0,
        }
    }

    /// Runs the scenario to the end and reports.
    pub fn run(&self) -> Result<Report, String> {
        if !SCENARIOS.contains(&self.name.as_str()) {
            return Err(format!("unknown scenario {:?}; known: {}", self.name, SCENARIOS.join(", ")));
        }
        if self.nodes < 2 {
            return Err("--nodes must be at least 2".into());
        }
        let wall = std::time::Instant::now();
        let mut choice = SplitMix::new(self.seed, u64::MAX);
        let n = self.nodes;
        let loss = self.net.loss;
        let mut net = self.net.clone();
        if self.name == "loss" {
            net.loss = 0.0; // the cluster forms on a clean network; loss is the fault
        }
        let mut sim = Sim::new(n, self.seed, self.config.clone(), net);
        sim.progress = self.progress;
        sim.breakdown = self.breakdown;
        sim.threads = self.threads;
        if let Some(w) = self.min_window_weight {
            sim.min_window_weight = w;
        }
        if self.svg {
            sim.sample_every = Some(Duration::from_millis(10));
            sim.truth.log_complete = true;
        }
        let duration = Duration::from_secs_f64(self.duration.unwrap_or_else(|| self.default_duration()));

        // Everyone joins through node 0, at random moments within `join_within` seconds.
        sim.start(0, &[]);
        let mut order: Vec<(u64, usize)> = (1..n).map(|i| (choice.next_u64() % 1_000_000, i)).collect();
        order.sort();
        // In `join-one`, the last node stays out until the cluster has settled.
        let newcomer = (self.name == "join-one").then_some(n - 1);
        let mut last_start = Time::ZERO;
        for (micros, i) in order.into_iter().filter(|&(_, i)| Some(i) != newcomer) {
            last_start = Time::from_nanos((micros as f64 * 1000.0 * self.join_within) as u64);
            sim.start_at(last_start, i, &[0]);
        }
        sim.run_to(last_start);
        let warmup_limit = sim.now.saturating_add(Duration::from_secs(120));
        let joined_at = Time::ZERO;
        if self.name == "join" {
            // Traffic and times count from t = 0: the joins themselves are the event.
            let end = sim.now.saturating_add(duration);
            let mut p99 = None;
            let converged = sim.run_until_gated(end, Gate::Converged, |s| {
                if p99.is_none() && s.truth.incomplete_views() * 100 <= s.truth.live_count() {
                    p99 = Some(s.now);
                }
                s.truth.converged()
            });
            let converged_secs = converged.then(|| secs(sim.now.saturating_since(joined_at)));
            let mut report = self.report(&sim, joined_at, converged_secs, wall);
            report.form_wall_secs = report.wall_secs;
            report.converged_p99_secs = since(p99, joined_at);
            report.svg = self.picture(&sim, &report, joined_at, joined_at, Vec::new());
            return Ok(report);
        }
        if !sim.run_until_gated(warmup_limit, Gate::Converged, |s| s.truth.converged()) {
            return Err(format!("the cluster did not converge within 120 s of joining (seed {})", self.seed));
        }
        let settled = sim.now.saturating_add(Duration::from_secs_f64(self.settle));
        sim.run_to(settled);

        let event_at = sim.now;
        let form_wall_secs = wall.elapsed().as_secs_f64();
        sim.reset_traffic();
        let fp_before = (sim.truth.false_positive_notices, sim.truth.false_positive_decisions.len());
        let victim = 1 + (choice.next_u64() as usize) % (n - 1);
        let mut end = event_at.saturating_add(duration);
        let mut measured_from = event_at;
        let mut delivered_all_secs = None;
        let mut kv_owners: Vec<usize> = Vec::new();
        let mut stepped_converged = None;
        // With --svg, the share that the key scenarios' right panel draws, sampled on their
        // 100 ms steps (see `Scenario::picture`).
        let mut key_shares: Vec<(f64, f64)> = Vec::new();
        let mut joiner_knows_all = None;
        let mut load_traffic = None;
        let mut staleness = None;
        match self.name.as_str() {
            "crash" => {
                sim.truth.watch(victim, event_at, false);
                sim.crash(victim);
            }
            "leave" => {
                sim.truth.watch(victim, event_at, true);
                sim.leave(victim);
            }
            "loss" => sim.net.config.loss = loss,
            "join-one" => sim.start(n - 1, &[0]),
            // A converged cluster where nothing happens: the cost of just running it. With
            // `--keys N`, every node first sets N keys and the window starts a minute after
            // they have spread: the cost of keeping replicated state that nobody changes.
            "steady" => {
                if let Some(keys) = self.keys {
                    for i in 0..n {
                        for k in 0..keys {
                            sim.set_key(i, format!("key-{k:03}").as_bytes(), format!("value-{i}-{k}").as_bytes());
                        }
                    }
                    let spread_by = sim.now.saturating_add(Duration::from_secs(600));
                    while !(0..n).all(|o| sim.all_agree_on_keys(o)) {
                        if sim.now >= spread_by {
                            return Err(format!("steady: the keys did not spread within 600 s (seed {})", self.seed));
                        }
                        sim.run_to(sim.now.saturating_add(Duration::from_secs(1)));
                    }
                    // The writes' own gossip dies down within a minute (40 s at 200 nodes).
                    sim.run_to(sim.now.saturating_add(Duration::from_secs(60)));
                    sim.reset_traffic();
                    sim.count_kv = true;
                    measured_from = sim.now;
                    end = measured_from.saturating_add(duration);
                    sim.run_to(end);
                    load_traffic = Some(sim.traffic.clone());
                }
            }
            "partition" | "long-partition" => {
                // Long: past the reclaim time, so the two halves forget each other entirely
                // (memberlist #222).
                let apart = match self.name.as_str() {
                    "partition" => Duration::from_secs(30),
                    _ => self.config.reclaim_after + Duration::from_secs(30),
                };
                sim.partition(|i| u16::from(i >= n / 2));
                sim.run_to(event_at.saturating_add(apart));
                sim.heal();
                measured_from = sim.now;
                end = measured_from.saturating_add(duration); // the heal is the event measured
            }
            "kv-partition" => {
                // One owner on each side of a 30 s partition sets keys, then while apart both
                // delete one, change one and add one. After the heal every node must hold
                // exactly each owner's keys: no deleted key back, no change lost.
                let (a, b) = (victim % (n / 2), n / 2 + victim % (n - n / 2));
                for owner in [a, b] {
                    for key in [&b"gone"[..], b"changed", b"kept"] {
                        sim.set_key(owner, key, b"before");
                    }
                }
                sim.run_to(event_at.saturating_add(Duration::from_secs(5)));
                sim.partition(|i| u16::from(i >= n / 2));
                sim.run_to(sim.now.saturating_add(Duration::from_secs(5)));
                for owner in [a, b] {
                    sim.delete_key(owner, b"gone");
                    sim.set_key(owner, b"changed", b"after");
                    sim.set_key(owner, b"new", b"after");
                }
                sim.run_to(event_at.saturating_add(Duration::from_secs(35)));
                sim.heal();
                measured_from = sim.now;
                end = measured_from.saturating_add(duration);
                kv_owners = vec![a, b];
            }
            "slow" => {
                // One node in ten is starved of CPU: it stalls for 2 s out of every 2.5 s,
                // each stall shorter than the LAN preset's tolerated silence, so it is slow,
                // not failed. On waking it fires its overdue timers before it reads what
                // arrived meanwhile (see `Sim::pause`): its probes seem to have failed and
                // its suspicions to have run out, so it accuses healthy members (the
                // Lifeguard paper's case).
                let slow: Vec<usize> = (0..n).filter(|i| i % 10 == 7).collect();
                let stall = Duration::from_millis(2000);
                while sim.now < end {
                    for &i in &slow {
                        sim.pause(i, stall);
                    }
                    let next = sim.now.saturating_add(Duration::from_millis(2500));
                    sim.run_to(next.min(end));
                }
            }
            "restart-new-address" => {
                // Crash, wait until everyone noticed, then come back elsewhere.
                sim.truth.watch(victim, event_at, false);
                sim.crash(victim);
                let detected_by = event_at.saturating_add(Duration::from_secs(60));
                sim.run_until_gated(detected_by, Gate::Detected, |s| s.truth.detect_all.is_some());
                sim.restart(victim, true, &[0]);
                measured_from = sim.now;
            }
            "mass-restart" => {
                // Every node restarts within one second (memberlist PR #345's incarnation
                // race); node 0 first, the rest join through it.
                let mut order: Vec<(u64, usize)> = (1..n).map(|i| (choice.next_u64() % 1_000_000, i)).collect();
                order.sort();
                sim.crash(0);
                sim.restart(0, false, &[]);
                for (micros, i) in order {
                    sim.run_to(event_at.saturating_add(Duration::from_micros(micros)));
                    sim.crash(i);
                    sim.restart(i, false, &[0]);
                }
            }
            "flap" => {
                // One node stalls (3 s by default) every 10 s: it should be suspected and
                // refute, and never be declared Down while the stall is within the
                // configuration's tolerated silence. Converged times how long after the last
                // stall every node sees every live member Alive again.
                let pause = Duration::from_secs_f64(self.pause.unwrap_or(3.0));
                let last_wake = loop {
                    sim.pause(victim, pause);
                    let wake = sim.now.saturating_add(pause);
                    let next = sim.now.saturating_add(Duration::from_secs(10).max(pause * 2));
                    if next >= end {
                        break wake;
                    }
                    sim.run_to(next);
                };
                sim.run_to(last_wake);
                measured_from = last_wake;
                end = last_wake.saturating_add(Duration::from_secs(60));
            }
            "churn" => {
                // For the duration, every 2 s a random node (not the seed) crashes; each
                // crashed node comes back 20 s later (every other one at a new address).
                // Then 60 s of quiet: converged times how long the cluster takes to agree.
                let mut down: Vec<(Time, usize)> = Vec::new();
                let mut flip = false;
                while sim.now < end {
                    let next = sim.now.saturating_add(Duration::from_secs(2));
                    let i = 1 + (choice.next_u64() as usize) % (n - 1);
                    if sim.truth.is_live(i) {
                        sim.crash(i);
                        down.push((sim.now.saturating_add(Duration::from_secs(20)), i));
                    }
                    while let Some(&(at, j)) = down.first()
                        && at <= sim.now
                    {
                        down.remove(0);
                        flip = !flip;
                        sim.restart(j, flip, &[0]);
                    }
                    sim.run_to(next.min(end));
                }
                for (_, j) in down.drain(..) {
                    flip = !flip;
                    sim.restart(j, flip, &[0]);
                }
                measured_from = sim.now;
                end = measured_from.saturating_add(Duration::from_secs(60));
            }
            "kv-load" => {
                // Every node owns `keys` keys (LOAD_KEYS by default) and rewrites each once a
                // second, at its own random phase; the value is the write's time in
                // milliseconds. Traffic is measured over the writes; then how stale the copies
                // are, and how long after the last write every node holds every owner's keys
                // exactly.
                let mut phases: Vec<(u64, usize)> = (0..n).map(|i| (choice.next_u64() % 1_000_000, i)).collect();
                phases.sort();
                let keys: Vec<Vec<u8>> =
                    (0..self.keys.unwrap_or(LOAD_KEYS)).map(|k| format!("k{k}").into_bytes()).collect();
                sim.count_kv = true;
                let mut second = event_at;
                while second < end {
                    for &(micros, i) in &phases {
                        sim.run_to(second.saturating_add(Duration::from_micros(micros)));
                        let value = format!("{:012}", sim.now.as_nanos() / 1_000_000);
                        for key in &keys {
                            sim.set_key(i, key, value.as_bytes());
                        }
                    }
                    second = second.saturating_add(Duration::from_secs(1));
                }
                sim.run_to(end);
                load_traffic = Some(sim.traffic.clone());
                staleness = Some(sim.key_staleness(&keys, event_at));
                measured_from = sim.now;
                end = measured_from.saturating_add(Duration::from_secs(120));
                kv_owners = (0..n).collect();
            }
            "big-state" => {
                // Every node but one owns `keys` keys (BIG_STATE_KEYS by default); once every
                // node holds them all, the one restarts as a fresh process and joins through
                // node 0. It must learn the whole membership first (joiner_knows_all_secs:
                // it knows every member Alive; converged_secs: every node's view matches the
                // truth) and the bulk state after (delivered_all_secs: it holds every owner's
                // keys).
                for i in (0..n).filter(|&i| i != victim) {
                    for k in 0..self.keys.unwrap_or(BIG_STATE_KEYS) {
                        sim.set_key(i, format!("key-{k:03}").as_bytes(), format!("value-{i}-{k}").as_bytes());
                    }
                }
                let spread_by = sim.now.saturating_add(Duration::from_secs(600));
                while !(0..n).all(|o| sim.all_agree_on_keys(o)) {
                    if sim.now >= spread_by {
                        return Err(format!("big-state: the keys did not spread within 600 s (seed {})", self.seed));
                    }
                    sim.run_to(sim.now.saturating_add(Duration::from_secs(1)));
                }
                if self.progress {
                    let spread = secs(sim.now.saturating_since(event_at));
                    eprintln!("  ... the keys reached every node {spread:.1} s after they were set");
                }
                sim.reset_traffic();
                sim.crash(victim);
                sim.restart(victim, false, &[0]);
                measured_from = sim.now;
                // The duration counts from the restart: spreading 100 keys of every node
                // takes longer than the default duration at 500 nodes.
                end = measured_from.saturating_add(duration);
                let step = Duration::from_millis(100);
                let (mut knows_all, mut holds_all, mut all_agree) = (None, None, None);
                if self.svg {
                    key_shares.push((0.0, 0.0)); // the joiner starts with nothing
                }
                while sim.now < end && (knows_all.is_none() || holds_all.is_none() || all_agree.is_none()) {
                    sim.run_to(sim.now.saturating_add(step));
                    let at = Some(secs(sim.now.saturating_since(measured_from)));
                    if knows_all.is_none() && sim.knows_all_members(victim) {
                        knows_all = at;
                    }
                    if all_agree.is_none() && sim.truth.converged() {
                        all_agree = at;
                    }
                    if holds_all.is_none() && (0..n).all(|o| o == victim || sim.holds_keys_of(victim, o)) {
                        holds_all = at;
                    }
                    if self.svg {
                        let held = (0..n).filter(|&o| o != victim && sim.holds_keys_of(victim, o)).count();
                        key_shares.push((secs(sim.now.saturating_since(measured_from)), held as f64 / (n - 1) as f64));
                    }
                }
                stepped_converged = all_agree;
                joiner_knows_all = knows_all;
                delivered_all_secs = holds_all;
            }
            // One node sets one replicated key; delivered once every live node has it.
            "kv" => {
                sim.watch_news(victim);
                sim.set_key(victim, KV_KEY, KV_VALUE);
            }
            // One node broadcasts one message; delivered once every live node has it.
            "broadcast" => {
                sim.watch_news(victim);
                match self.payload_bytes {
                    Some(len) => sim.broadcast(victim, &vec![b'x'; len]),
                    None => sim.broadcast(victim, KV_VALUE),
                }
            }
            _ => unreachable!("checked against SCENARIOS"),
        }
        let converged = match self.name.as_str() {
            "crash" | "leave" => {
                sim.run_until_gated(end, Gate::Both, |s| s.truth.detect_all.is_some() && s.truth.converged())
            }
            "partition" | "long-partition" | "restart-new-address" | "mass-restart" | "churn" | "flap" => {
                sim.run_until_gated(end, Gate::Converged, |s| s.truth.converged())
            }
            "join-one" => sim.run_until_gated(end, Gate::Converged, |s| s.truth.is_live(n - 1) && s.truth.converged()),
            "big-state" => stepped_converged.is_some(),
            "kv" | "broadcast" | "kv-partition" | "kv-load" => {
                let delivered = |s: &Sim| match self.name.as_str() {
                    "kv" => s.all_have_key(victim, KV_KEY, KV_VALUE),
                    "broadcast" => s.all_delivered_broadcast(victim),
                    _ => kv_owners.iter().all(|&o| s.all_agree_on_keys(o)),
                };
                // Checked every 100 ms: the check reads every node. Membership convergence
                // (after a heal) is timed on the same steps.
                let step = Duration::from_millis(100);
                let mut converged_at = None;
                loop {
                    if converged_at.is_none() && sim.truth.converged() {
                        converged_at = Some(sim.now);
                    }
                    if delivered_all_secs.is_none() && delivered(&sim) {
                        delivered_all_secs = Some(secs(sim.now.saturating_since(measured_from)));
                    }
                    if self.svg && !kv_owners.is_empty() {
                        let exact = |i: usize| kv_owners.iter().all(|&o| o == i || sim.holds_keys_of(i, o));
                        let held = (0..n).filter(|&i| sim.truth.is_live(i) && exact(i)).count();
                        let at = secs(sim.now.saturating_since(measured_from));
                        key_shares.push((at, held as f64 / sim.truth.live_count().max(1) as f64));
                    }
                    if sim.now >= end || (converged_at.is_some() && delivered_all_secs.is_some()) {
                        break;
                    }
                    sim.run_to(sim.now.saturating_add(step).min(end));
                }
                stepped_converged = converged_at.map(|at| secs(at.saturating_since(measured_from)));
                converged_at.is_some()
            }
            _ => {
                sim.run_to(end);
                sim.truth.converged()
            }
        };
        let converged_secs = match self.name.as_str() {
            "crash"
            | "leave"
            | "partition"
            | "long-partition"
            | "restart-new-address"
            | "mass-restart"
            | "churn"
            | "flap"
            | "join-one" => converged.then(|| secs(sim.now.saturating_since(measured_from))),
            "kv-partition" | "big-state" => stepped_converged,
            _ => None,
        };
        let mut report = self.report(&sim, event_at, converged_secs, wall);
        report.form_wall_secs = form_wall_secs;
        report.delivered_all_secs = delivered_all_secs;
        report.joiner_knows_all_secs = joiner_knows_all;
        if let Some(traffic) = load_traffic {
            // The load's window only, not the quiet drain after it.
            let per = secs(duration) * n as f64;
            report.bytes_per_node_per_sec = traffic.bytes as f64 / per;
            report.packets_per_node_per_sec = traffic.packets as f64 / per;
            report.kv_bytes_per_node_per_sec = Some(traffic.kv_bytes as f64 / per);
        }
        if let Some([mean, p50, p90, max]) = staleness {
            report.staleness_mean_secs = Some(mean);
            report.staleness_p50_secs = Some(p50);
            report.staleness_p90_secs = Some(p90);
            report.staleness_max_secs = Some(max);
        }
        report.false_positive_notices -= fp_before.0;
        report.false_positives -= fp_before.1 as u64;
        report.svg = self.picture(&sim, &report, event_at, measured_from, key_shares);
        Ok(report)
    }

    fn report(&self, sim: &Sim, from: Time, converged_secs: Option<f64>, wall: std::time::Instant) -> Report {
        let window = secs(sim.now.saturating_since(from)).max(1e-9);
        let per = window * self.nodes as f64;
        let (watch_from, first, all) = match sim.truth.watched() {
            Some((_, at)) => (at, sim.truth.detect_first, sim.truth.detect_all),
            None => (from, None, None),
        };
        Report {
            scenario: self.name.clone(),
            nodes: self.nodes,
            seed: self.seed,
            simulated_secs: secs(sim.now.saturating_since(Time::ZERO)),
            wall_secs: wall.elapsed().as_secs_f64(),
            form_wall_secs: 0.0,
            converged_secs,
            converged_p99_secs: None,
            joiner_knows_all_secs: None,
            detect_first_secs: since(first, watch_from),
            detect_all_secs: since(all, watch_from),
            false_positives: sim.truth.false_positive_decisions.len() as u64,
            false_positive_notices: sim.truth.false_positive_notices,
            partition_downs: sim.truth.partition_down_decisions.len() as u64,
            partition_down_notices: sim.truth.partition_down_notices,
            max_packet_bytes: sim.traffic.max_datagram,
            delivered_all_secs: None,
            staleness_mean_secs: None,
            staleness_p50_secs: None,
            staleness_p90_secs: None,
            staleness_max_secs: None,
            kv_bytes_per_node_per_sec: None,
            bytes_per_node_per_sec: sim.traffic.bytes as f64 / per,
            packets_per_node_per_sec: sim.traffic.packets as f64 / per,
            peak_rss_bytes: peak_rss_bytes(),
            trace_hash: format!("{:016x}", sim.trace_hash()),
            steps: sim.steps,
            parallel_steps: sim.parallel_steps,
            svg: None,
            bytes_by_kind: sim
                .traffic
                .by_kind
                .iter()
                .map(|(kind, [count, bytes])| (kind.to_string(), *count as f64 / per, *bytes as f64 / per))
                .collect(),
        }
    }
}

impl Scenario {
    /// The label of the scenario's event on the picture.
    fn event_label(&self) -> &'static str {
        match self.name.as_str() {
            "steady" if self.keys.is_some() => "keys set",
            "steady" => "window opens",
            "crash" | "restart-new-address" => "crash",
            "loss" => "loss begins",
            "leave" => "leave",
            "partition" | "long-partition" | "kv-partition" => "cut",
            "slow" | "flap" => "stalls begin",
            "mass-restart" => "restarts",
            "churn" => "churn starts",
            "broadcast" => "broadcast",
            "kv" => "key set",
            "kv-load" => "writes start",
            "big-state" => "keys set",
            _ => "",
        }
    }

    /// The moment after the scenario's event that its times count from, when that is
    /// another one (a heal, the last stall): its label on the picture, and the right
    /// panel's axis title for the seconds after it.
    fn measured_moment(&self) -> (&'static str, &'static str) {
        match self.name.as_str() {
            "join" => ("", "seconds after the first join"),
            "steady" => ("window opens", "seconds after the window opened"),
            "loss" => ("", "seconds after the loss began"),
            "partition" | "long-partition" | "kv-partition" => ("heal", "seconds after the heal"),
            "slow" => ("", "seconds after the stalls began"),
            "mass-restart" => ("", "seconds after the restarts began"),
            "flap" => ("last stall ends", "seconds after the last stall"),
            "churn" => ("churn stops", "seconds after the churn stopped"),
            "kv-load" => ("writes stop", "seconds after the writes stopped"),
            "big-state" => ("joiner restarts", "seconds after the joiner restarted"),
            "restart-new-address" => ("restart", "seconds after the restart"),
            _ => ("", "seconds after the event"),
        }
    }

    /// The run drawn as SVG ([`crate::svg`]) when [`Scenario::svg`] asks for it: the
    /// scenario's event at `event_at`, its times counted from `measured_from`.
    fn picture(
        &self,
        sim: &Sim,
        report: &Report,
        event_at: Time,
        measured_from: Time,
        key_shares: Vec<(f64, f64)>,
    ) -> Option<String> {
        if !self.svg {
            return None;
        }
        let (moment, x_title) = self.measured_moment();
        let mut marks = Vec::new();
        if self.name != "join" {
            marks.push((event_at, self.event_label()));
        }
        if measured_from != event_at {
            marks.push((measured_from, moment));
        }
        let leave = self.name == "leave";
        let until = secs(sim.now.saturating_since(measured_from));
        let live = sim.truth.live_count();
        let right = match (sim.truth.watched(), self.name.as_str()) {
            (Some((j, at)), _) => Right::Arrivals {
                title: if leave { "when each live node saw it leave" } else { "when each live node saw it Down" },
                x_title: if leave { "seconds after it left" } else { "seconds after the crash" },
                times: sim.truth.detections.iter().map(|t| secs(t.saturating_since(at))).collect(),
                observers: live - usize::from(sim.truth.is_live(j)),
            },
            (None, name @ ("kv" | "broadcast")) => Right::Arrivals {
                title: if name == "kv" { "when each live node got the key" } else { "when each live node got it" },
                x_title: if name == "kv" { "seconds after it was set" } else { "seconds after it was sent" },
                times: sim.first_news.iter().flatten().map(|t| secs(t.saturating_since(event_at))).collect(),
                observers: live.saturating_sub(1),
            },
            (None, "kv-partition" | "kv-load") => Right::Share {
                title: "live nodes holding every owner's keys exactly",
                y_title: "share of live nodes",
                x_title,
                points: key_shares,
                until,
                every: Some(0.1),
                done: report.delivered_all_secs.map(|at| (at, "all exact after")),
            },
            (None, "big-state") => Right::Share {
                title: "owners whose keys the joiner holds exactly",
                y_title: "share of owners",
                x_title,
                points: key_shares,
                until,
                every: Some(0.1),
                done: report.delivered_all_secs.map(|at| (at, "all held after")),
            },
            (None, _) => Right::Share {
                title: "live nodes whose every view is true",
                y_title: "share of live nodes",
                x_title,
                points: crate::svg::complete_after(&sim.truth.complete_log, measured_from),
                until,
                every: None,
                done: report.converged_secs.map(|at| (at, "all true after")),
            },
        };
        let watched = if leave { "views of the member that left" } else { "views of the crashed member" };
        let picture = Picture { report, samples: &sim.samples, marks, watched, right };
        Some(crate::svg::render(&picture))
    }
}

/// The process's peak resident set, from `/proc/self/status` (Linux); 0 elsewhere.
pub fn peak_rss_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return 0 };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
