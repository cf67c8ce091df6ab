//! The event loop: real nodes, real encoded packets, virtual time that jumps from one
//! event to the next, and faults applied to nodes and links.

use crate::host::{Host, Outcome, Output, START_SEQ, Scheduled, What};
use crate::net::{NetConfig, Network};
use crate::rng::SplitMix;
use crate::trace::Digest;
use crate::truth::Truth;
use crate::workers::{Job, Window, Workers, weight};
use core::net::SocketAddr;
use core::time::Duration;
use gossip_core::wire::{self, Limits, Message};
use gossip_core::{Config, Event, Identity, MemberState, Node, NodeId, Time};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// A simulated node's slot: its fixed name, current address, and its process.
struct Slot {
    addr: SocketAddr,
    host: Host,
    /// How many times the node was (re)started, to derive fresh seeds and addresses.
    boots: u64,
    /// The settings this node boots with instead of [`Sim::config`] ([`Sim::set_node_config`]).
    config: Option<Config>,
}

/// What a stop condition waits for, so that a window of events can run on several threads
/// when the condition cannot come true inside it ([`Sim::run_until_gated`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// The stop never holds: a run to a time.
    Never,
    /// The stop holds only once every live node's view is true ([`Truth::converged`]).
    Converged,
    /// The stop holds only once every live node sees the watched member gone
    /// ([`Truth::detect_all`]).
    Detected,
    /// Both of the above.
    Both,
    /// Anything: every event runs in turn, one thread.
    Opaque,
}

/// Traffic counters over a measurement window.
#[derive(Clone, Debug, Default)]
pub struct Traffic {
    /// Bytes handed to the network (datagrams and frames).
    pub bytes: u64,
    /// Packets handed to the network.
    pub packets: u64,
    /// Of [`Traffic::bytes`], those sent over reliable streams (full syncs, big messages).
    pub stream_bytes: u64,
    /// The largest datagram.
    pub max_datagram: usize,
    /// With [`Sim::count_kv`] on: key/value bytes handed to the network, as decoded from
    /// the packets (key writes in datagrams, key/value sections in syncs): the traffic
    /// `Config::kv_bytes_per_sec` bounds, measured without the nodes' own accounting.
    pub kv_bytes: u64,
    /// With [`Sim::breakdown`] on: per kind of message (and `header` for packet headers,
    /// `stream` for whole stream frames), how many were sent and their bytes.
    pub by_kind: BTreeMap<&'static str, [u64; 2]>,
}

/// The name of a message's kind, for [`Traffic::by_kind`].
fn kind_name(m: &Message<'_>) -> &'static str {
    match m {
        Message::Ping { .. } => "ping",
        Message::Ack { .. } => "ack",
        Message::Nack { .. } => "nack",
        Message::PingReq { .. } => "ping_req",
        Message::Alive { .. } => "alive",
        Message::Suspect { .. } => "suspect",
        Message::Down { .. } => "down",
        Message::Left { .. } => "left",
        Message::KeyWrites { .. } => "key_writes",
        Message::Broadcast { .. } => "broadcast",
        Message::KeySum { .. } => "key_sum",
        Message::UserMessage { .. } => "user_message",
        Message::PushPull { .. } => "push_pull",
    }
}

impl Traffic {
    /// Adds one packet handed to the network to [`Traffic::by_kind`], decoded as a
    /// receiver would (an undecodable one counts as `other`).
    /// Adds the key/value bytes of one packet handed to the network to [`Traffic::kv_bytes`].
    fn count_kv(&mut self, payload: &[u8], limits: &Limits) {
        let Ok(packet) = wire::decode(payload, limits) else { return };
        for m in &packet.messages {
            self.kv_bytes += match m {
                Message::KeyWrites { .. } => m.encoded_len(),
                Message::PushPull { kv: Some(section), .. } => section.encoded_len(),
                _ => 0,
            } as u64;
        }
    }

    fn count_kinds(&mut self, payload: &[u8], reliable: bool) {
        let mut add = |kind: &'static str, bytes: usize| {
            let entry = self.by_kind.entry(kind).or_default();
            entry[0] += 1;
            entry[1] += bytes as u64;
        };
        if reliable {
            return add("stream", payload.len());
        }
        match wire::decode(payload, &Limits::default()) {
            Ok(packet) => {
                add("header", packet.header.encoded_len());
                for m in &packet.messages {
                    let kind = match m {
                        // A node's own Alive (a join, a refutation, new metadata) apart
                        // from the Alives it relays about others.
                        Message::Alive { id, .. } if *id == packet.header.sender => "alive_own",
                        _ => kind_name(m),
                    };
                    add(kind, m.encoded_len());
                }
            }
            Err(_) => add("other", payload.len()),
        }
    }
}

/// A cluster of real nodes on virtual time.
pub struct Sim {
    /// Current virtual time.
    pub now: Time,
    /// The configuration every node boots with.
    pub config: Config,
    /// The network between the nodes.
    pub net: Network,
    /// What is true, what each node believes, and the accuracy metrics.
    pub truth: Truth,
    /// Traffic since the last [`Sim::reset_traffic`].
    pub traffic: Traffic,
    slots: Vec<Slot>,
    by_addr: HashMap<SocketAddr, usize>,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    /// The last queue position a start took ([`Sim::start_at`]).
    start_seq: u64,
    seed: u64,
    digest: Digest,
    /// Threads that handle a window's events when its stop allows ([`Sim::run_until_gated`]):
    /// 1 (the default) handles every event in turn. Any number gives the same run.
    pub threads: usize,
    /// Windows whose events weigh less run on one thread, where sharing them out costs
    /// more (an event weighs 256 plus the bytes it carries; 32 KB by default).
    pub min_window_weight: usize,
    workers: Option<Workers>,
    /// Per node, its job in the window being run ([`NO_JOB`] for none).
    job_of: Vec<u32>,
    /// While a window's outcomes are applied: its end, and its entries still to apply.
    window_end: Option<Time>,
    window_queue: BinaryHeap<Reverse<(Time, u64, usize)>>,
    /// Events handled, for the simulator's own speed.
    pub steps: u64,
    /// Of [`Sim::steps`], those handled in windows shared among threads.
    pub parallel_steps: u64,
    /// Every `sample_every` of virtual time, how far the views match the truth.
    pub samples: Vec<Sample>,
    /// Sampling period for [`Sim::samples`]; `None` samples nothing.
    pub sample_every: Option<Duration>,
    next_sample: Time,
    /// Print a progress line to stderr every few wall-clock seconds.
    pub progress: bool,
    /// Decode every packet handed to the network and count its messages by kind
    /// ([`Traffic::by_kind`]): where the bytes go, at some cost in speed.
    pub breakdown: bool,
    /// Whether to decode every packet for its key/value bytes ([`Traffic::kv_bytes`]).
    pub count_kv: bool,
    /// The decoder's bounds under the nodes' config.
    limits: Limits,
    last_progress: Option<std::time::Instant>,
    /// Broadcasts each node has delivered.
    broadcasts_delivered: Vec<u32>,
    /// Whose news [`Sim::first_news`] times: its broadcasts and its keys' changes.
    news_of: Option<NodeId>,
    /// Per node, when it first delivered a broadcast of, or saw a key change of, the node
    /// [`Sim::watch_news`] named.
    pub first_news: Vec<Option<Time>>,
    /// Whether to keep every event in [`Sim::event_log`] (tests that look for one event).
    pub log_events: bool,
    /// With [`Sim::log_events`] on: every event the nodes handed out, with when and by which
    /// node, in the order the trace folds them in.
    pub event_log: Vec<(Time, usize, Event)>,
}

/// How far the nodes' views matched the truth at one moment ([`Sim::samples`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// When.
    pub at: Time,
    /// The share of (live observer, other member) views that match the truth.
    pub views: f64,
    /// The share of live observers whose view of the watched member matches it, if one is
    /// watched ([`Truth::watch`]).
    pub watched: Option<f64>,
}

/// The name of node `i`.
pub fn name(i: usize) -> NodeId {
    NodeId::from(format!("node-{i}"))
}

/// The address of node `i` in its `boot`-th life (restarts may move it).
pub fn address(i: usize, generation: u64) -> SocketAddr {
    SocketAddr::from(([10, generation as u8, (i >> 8) as u8, i as u8], 7946 + (i >> 16) as u16))
}

impl Sim {
    /// `n` nodes, none running yet.
    pub fn new(n: usize, seed: u64, config: Config, net: NetConfig) -> Self {
        let ids: Vec<NodeId> = (0..n).map(name).collect();
        let mut truth = Truth::new(&ids);
        // The latest a Down can report a death: the first probe within two probe
        // intervals, the probe's own timeouts, the longest suspicion, the check before
        // Down, and a second to spread.
        let longest_suspicion = config.suspicion_timeout().saturating_mul(config.suspicion_max_timeout_mult);
        truth.set_dead_life_window(
            config.probe_interval.saturating_mul(2)
                + config.probe_timeout.saturating_mul(3)
                + longest_suspicion
                + Duration::from_secs(1),
        );
        let limits = config.limits();
        let slots: Vec<Slot> =
            (0..n).map(|i| Slot { addr: address(i, 0), host: Host::empty(), boots: 0, config: None }).collect();
        Sim {
            now: Time::ZERO,
            config,
            net: Network::new(n, net, SplitMix::new(seed, 0)),
            truth,
            traffic: Traffic::default(),
            by_addr: slots.iter().enumerate().map(|(i, s)| (s.addr, i)).collect(),
            slots,
            queue: BinaryHeap::new(),
            seq: 0,
            start_seq: START_SEQ,
            seed,
            digest: Digest::default(),
            threads: 1,
            min_window_weight: 32 << 10,
            workers: None,
            job_of: vec![NO_JOB; n],
            window_end: None,
            window_queue: BinaryHeap::new(),
            steps: 0,
            parallel_steps: 0,
            samples: Vec::new(),
            sample_every: None,
            next_sample: Time::ZERO,
            progress: false,
            breakdown: false,
            count_kv: false,
            limits,
            last_progress: None,
            broadcasts_delivered: vec![0; n],
            news_of: None,
            first_news: vec![None; n],
            log_events: false,
            event_log: Vec::new(),
        }
    }

    /// Number of node slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are no node slots.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The running node `i`, if it is up.
    pub fn node(&self, i: usize) -> Option<&Node<SplitMix>> {
        self.slots[i].host.node.as_deref()
    }

    /// Node `i`'s current address (it moves when [`Sim::restart`] asks for a new one).
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.slots[i].addr
    }

    /// What running node `i` believes of node `j`: `None` if `i` is down or does not know `j`.
    pub fn view(&self, i: usize, j: usize) -> Option<MemberState> {
        self.node(i)?.member(name(j).as_bytes()).map(|m| m.state())
    }

    /// Makes node `i` boot with `config` instead of [`Sim::config`] from its next
    /// [`Sim::start`] or [`Sim::restart`] on (a node with another key, another detector).
    pub fn set_node_config(&mut self, i: usize, config: Config) {
        self.slots[i].config = Some(config);
    }

    /// Calls `f` on running node `i` at the simulator's time, then collects what the node
    /// sent and raised, as after any input: a test's way to command a node, read its state or
    /// hand it a crafted packet (`node.handle_datagram(now, from, &bytes)`). What `f` takes
    /// out of the node itself (`poll_transmit`) never reaches the network.
    ///
    /// # Panics
    /// If node `i` is not running.
    pub fn with_node<T>(&mut self, i: usize, f: impl FnOnce(&mut Node<SplitMix>, Time) -> T) -> T {
        let now = self.now;
        let node = self.slots[i].host.node.as_mut().unwrap_or_else(|| panic!("node {i} is not running"));
        let out = f(node, now);
        self.flush(i);
        out
    }

    /// A digest of every transmit and event so far, in order: equal runs, equal digests.
    pub fn trace_hash(&self) -> u64 {
        self.digest.value()
    }

    /// Zeroes the traffic counters (to measure a window).
    pub fn reset_traffic(&mut self) {
        self.traffic = Traffic::default();
    }

    /// Boots node `i` (a fresh process: incarnation 0, no state) at its current address
    /// and joins it through `seeds` (none: it founds the cluster).
    pub fn start(&mut self, i: usize, seeds: &[usize]) {
        let boot = self.boot(i);
        self.slots[i].host = Host { node: Some(boot), ..Host::empty() };
        self.truth.set_live(i, true, true, self.now);
        let seeds = self.addrs(seeds);
        self.command(i, |node, now| {
            let _ = node.join(now, &seeds);
        });
    }

    /// As [`Sim::start`] at `at`, queued: a run to `at` or past it starts the node after
    /// every other event due by `at`, as one that ends at `at` and calls [`Sim::start`]
    /// would. Runs on several threads then need not stop at each start. (The node's boot
    /// is counted now, for the address of a later restart.)
    pub fn start_at(&mut self, at: Time, i: usize, seeds: &[usize]) {
        let boot = self.boot(i);
        let seeds = self.addrs(seeds);
        self.start_seq += 1;
        self.queue.push(Reverse(Scheduled { at, seq: self.start_seq, what: What::Start { node: i, boot, seeds } }));
    }

    /// Node `i` in a new life, not yet running.
    fn boot(&mut self, i: usize) -> Box<Node<SplitMix>> {
        let slot = &mut self.slots[i];
        slot.boots += 1;
        let rng = SplitMix::new(self.seed, (i as u64 + 1) | (slot.boots << 40));
        // Each boot is a new life: its keys supersede the previous life's.
        let identity = Identity::new(name(i), slot.addr).with_generation(slot.boots as u32);
        let config = slot.config.clone().unwrap_or_else(|| self.config.clone());
        Box::new(Node::new(config, identity, rng).expect("valid simulator config"))
    }

    fn addrs(&self, nodes: &[usize]) -> Vec<SocketAddr> {
        nodes.iter().map(|&s| self.slots[s].addr).collect()
    }

    /// Runs a command on node `i`, if it is running, at the simulator's time, and
    /// collects what it sent.
    fn command(&mut self, i: usize, f: impl FnOnce(&mut Node<SplitMix>, Time)) {
        let now = self.now;
        if let Some(node) = self.slots[i].host.node.as_mut() {
            f(node, now);
        }
        self.flush(i);
    }

    /// Node `i` stops without a word.
    pub fn crash(&mut self, i: usize) {
        self.slots[i].host.node = None;
        self.truth.set_live(i, false, false, self.now);
    }

    /// Node `i` comes back at a new address (or the same), fresh, and joins via `seeds`.
    pub fn restart(&mut self, i: usize, new_address: bool, seeds: &[usize]) {
        if new_address {
            let slot = &mut self.slots[i];
            self.by_addr.remove(&slot.addr);
            slot.addr = address(i, slot.boots);
            self.by_addr.insert(slot.addr, i);
        }
        self.start(i, seeds);
    }

    /// Node `i` sets one of its replicated keys.
    pub fn set_key(&mut self, i: usize, key: &[u8], value: &[u8]) {
        self.command(i, |node, now| {
            let _ = node.set(now, key.to_vec(), value.to_vec());
        });
    }

    /// Node `i` deletes one of its replicated keys.
    pub fn delete_key(&mut self, i: usize, key: &[u8]) {
        self.command(i, |node, now| {
            let _ = node.delete(now, key.to_vec());
        });
    }

    /// Whether every live node other than `owner` sees exactly `owner`'s own keys.
    pub fn all_agree_on_keys(&self, owner: usize) -> bool {
        let id = name(owner);
        let Some(truth) = self.node(owner) else { return false };
        let truth: Vec<_> = truth.keys(id.as_bytes()).collect();
        self.live_others(owner).all(|i| self.node(i).is_some_and(|n| n.keys(id.as_bytes()).eq(truth.iter().copied())))
    }

    /// How old every live node's copy of every other live node's `keys` is, in seconds,
    /// as (mean, median, 90th percentile, max), where each value holds its write's time in
    /// milliseconds (the `kv-load` scenario); a key not yet seen counts from `since`.
    pub fn key_staleness(&self, keys: &[Vec<u8>], since: Time) -> [f64; 4] {
        let now_ms = self.now.as_nanos() / 1_000_000;
        let since_ms = since.as_nanos() / 1_000_000;
        let mut ages: Vec<u64> = Vec::new();
        for owner in (0..self.len()).filter(|&o| self.truth.is_live(o)) {
            let id = name(owner);
            for node in self.live_others(owner).filter_map(|i| self.node(i)) {
                for key in keys {
                    let written = node.get(id.as_bytes(), key).and_then(|v| core::str::from_utf8(v).ok()?.parse().ok());
                    ages.push(now_ms.saturating_sub(written.unwrap_or(since_ms)));
                }
            }
        }
        ages.sort_unstable();
        let at = |q: f64| ages.get(((ages.len() as f64 * q) as usize).min(ages.len().saturating_sub(1))).copied();
        let secs = |ms: Option<u64>| ms.unwrap_or(0) as f64 / 1000.0;
        let mean = ages.iter().sum::<u64>() as f64 / ages.len().max(1) as f64 / 1000.0;
        [mean, secs(at(0.5)), secs(at(0.9)), secs(ages.last().copied())]
    }

    /// Whether node `i` knows every other live node, and as Alive.
    pub fn knows_all_members(&self, i: usize) -> bool {
        let Some(node) = self.node(i) else { return false };
        self.live_others(i).all(|j| node.member(name(j).as_bytes()).is_some_and(|m| m.state() == MemberState::Alive))
    }

    /// Whether node `i` holds exactly `owner`'s own keys.
    pub fn holds_keys_of(&self, i: usize, owner: usize) -> bool {
        let id = name(owner);
        match (self.node(i), self.node(owner)) {
            (Some(node), Some(truth)) => node.keys(id.as_bytes()).eq(truth.keys(id.as_bytes())),
            _ => false,
        }
    }

    /// From now on, times in [`Sim::first_news`] when each node first hears news of node
    /// `origin`: one of its broadcasts delivered, or a change of one of its keys.
    pub fn watch_news(&mut self, origin: usize) {
        self.news_of = Some(name(origin));
        self.first_news.fill(None);
    }

    /// Node `i` broadcasts `payload` to the cluster.
    pub fn broadcast(&mut self, i: usize, payload: &[u8]) {
        self.command(i, |node, now| {
            let _ = node.broadcast(now, payload.to_vec());
        });
    }

    /// The live nodes other than `i`.
    fn live_others(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.len()).filter(move |&j| j != i && self.truth.is_live(j))
    }

    /// Whether every live node other than `origin` has delivered a broadcast.
    pub fn all_delivered_broadcast(&self, origin: usize) -> bool {
        self.live_others(origin).all(|i| self.broadcasts_delivered[i] > 0)
    }

    /// Whether every live node other than `owner` holds `owner`'s `key` at `value`.
    pub fn all_have_key(&self, owner: usize, key: &[u8], value: &[u8]) -> bool {
        let id = name(owner);
        self.live_others(owner)
            .all(|i| self.node(i).is_some_and(|n| n.get(id.as_bytes(), key).is_some_and(|v| v[..] == *value)))
    }

    /// Node `i` leaves gracefully; it keeps running until its notice is out.
    pub fn leave(&mut self, i: usize) {
        let now = self.now;
        if let Some(node) = self.slots[i].host.node.as_mut() {
            let _ = node.leave(now);
        }
        self.truth.set_live(i, false, false, self.now);
        self.flush(i);
    }

    /// Cuts the network: node `i` can reach only the nodes of its group `group_of(i)`.
    /// The truth learns the sides, so that Downs across the cut are told apart from false
    /// positives ([`Truth::partition_down_decisions`](crate::truth::Truth::partition_down_decisions)).
    pub fn partition(&mut self, group_of: impl Fn(usize) -> u16) {
        self.net.partition(&group_of);
        self.truth.set_cut(Some((0..self.len()).map(group_of).collect()), self.now);
    }

    /// Removes every cut.
    pub fn heal(&mut self) {
        self.net.heal();
        self.truth.set_cut(None, self.now);
    }

    /// Node `i` handles nothing (input or timers) until `now + d`, then catches up.
    pub fn pause(&mut self, i: usize, d: Duration) {
        self.slots[i].host.paused_until = self.now.saturating_add(d);
    }

    /// Queues `what` at `at`. Inside a window's merge, an entry due in the window goes to
    /// the window's own queue: its node has handled it already (see [`Sim::run_window`]).
    fn push(&mut self, at: Time, what: What) {
        self.seq += 1;
        match self.window_end {
            Some(end) if at < end => self.window_queue.push(Reverse((at, self.seq, what.node()))),
            _ => self.queue.push(Reverse(Scheduled { at, seq: self.seq, what })),
        }
    }

    /// Collects node `i`'s output after a command and applies it.
    fn flush(&mut self, i: usize) {
        if let Some(out) = self.slots[i].host.collect() {
            self.apply(i, Outcome::Handled(out));
        }
    }

    /// Applies what an event did at node `i`: its transmits into the network, its events
    /// into the truth, a timer or a put-off input back into the queue.
    fn apply(&mut self, i: usize, outcome: Outcome) {
        let Output { transmits, events, timer, started } = match outcome {
            Outcome::Nothing => return,
            Outcome::Deferred(at, what) => return self.push(at, what),
            Outcome::Handled(out) => out,
        };
        let from = self.slots[i].addr;
        let now = self.now;
        if started {
            self.truth.set_live(i, true, true, now);
        }
        for t in transmits {
            self.digest.word(now.as_nanos());
            self.digest.word(i as u64);
            self.digest.bytes(&t.payload);
            self.traffic.bytes += t.payload.len() as u64;
            self.traffic.packets += 1;
            if self.breakdown {
                self.traffic.count_kinds(&t.payload, t.reliable);
            }
            if self.count_kv {
                self.traffic.count_kv(&t.payload, &self.limits);
            }
            if t.reliable {
                self.traffic.stream_bytes += t.payload.len() as u64;
            } else {
                self.traffic.max_datagram = self.traffic.max_datagram.max(t.payload.len());
            }
            let Some(&to) = self.by_addr.get(&t.dest) else { continue };
            if !self.net.connected(i, to) {
                continue;
            }
            for delay in self.net.delays(t.reliable) {
                let what = What::Deliver { to, from, payload: t.payload.clone(), reliable: t.reliable };
                self.push(now.saturating_add(delay), what);
            }
        }
        for e in events {
            if matches!(e, Event::Broadcast { .. }) {
                self.broadcasts_delivered[i] += 1;
            }
            if let (Event::Broadcast { origin: from, .. } | Event::KeyChanged { owner: from, .. }, Some(of)) =
                (&e, &self.news_of)
                && from == of
            {
                self.first_news[i].get_or_insert(now);
            }
            self.digest.event(i, &e);
            self.truth.observe(now, i, &e);
            if self.log_events {
                self.event_log.push((now, i, e));
            }
        }
        if let Some(at) = timer {
            self.push(at, What::Timer { node: i });
        }
    }

    /// Handles events in time order until `end` or until `stop` holds after an event.
    /// Returns whether `stop` held. One event at a time, whatever [`Sim::threads`] says:
    /// `stop` may read anything, nodes included (see [`Sim::run_until_gated`]).
    pub fn run_until(&mut self, end: Time, stop: impl FnMut(&Sim) -> bool) -> bool {
        self.run_until_gated(end, Gate::Opaque, stop)
    }

    /// Handles every event until `end`.
    pub fn run_to(&mut self, end: Time) {
        self.run_until_gated(end, Gate::Never, |_| false);
    }

    /// As [`Sim::run_until`], where `stop` reads only the truth and the time, and cannot
    /// hold before what `gate` names. With [`Sim::threads`] above one, events then run in
    /// windows as long as the shortest latency: nothing a node sends inside one arrives
    /// inside it, so each node's events in it depend on that node alone, and run on
    /// several threads. What they sent and raised is then applied in the order one thread
    /// would have handled them, `stop` checked after each: the same run, the same trace.
    /// A window runs on one thread when `gate` does not rule the stop out inside it (every
    /// node that would keep it false handles an event there) or when it holds little work.
    pub fn run_until_gated(&mut self, end: Time, gate: Gate, mut stop: impl FnMut(&Sim) -> bool) -> bool {
        let lookahead = Duration::from_millis(self.net.config.latency_ms.0);
        let windows = self.threads > 1 && gate != Gate::Opaque && !lookahead.is_zero();
        while let Some(Reverse(next)) = self.queue.peek() {
            if next.at > end {
                break;
            }
            if !windows {
                if self.step(&mut stop) {
                    return true;
                }
                continue;
            }
            let close =
                self.now.max(next.at).saturating_add(lookahead).min(end.saturating_add(Duration::from_nanos(1)));
            if self.run_window(close, gate, &mut stop) {
                continue;
            }
            while self.queue.peek().is_some_and(|Reverse(n)| n.at < close) {
                if self.step(&mut stop) {
                    return true;
                }
            }
        }
        self.observe_until(end);
        self.now = self.now.max(end);
        stop(self)
    }

    /// Handles the next event; returns whether `stop` holds after it.
    fn step(&mut self, stop: &mut impl FnMut(&Sim) -> bool) -> bool {
        let Some(Reverse(s)) = self.queue.pop() else { return false };
        self.observe_until(s.at);
        self.now = self.now.max(s.at);
        self.steps += u64::from(s.seq < START_SEQ);
        let i = s.what.node();
        let outcome = self.slots[i].host.step(self.now, s.what);
        self.apply(i, outcome);
        stop(self)
    }

    /// Runs the events due before `close` on [`Sim::threads`] threads, then applies what
    /// they did in queue order. Returns `false`, having run nothing, when the window holds
    /// too little work or `gate` does not rule out the stop inside it.
    fn run_window(&mut self, close: Time, gate: Gate, stop: &mut impl FnMut(&Sim) -> bool) -> bool {
        let mut due = Vec::new();
        while let Some(Reverse(n)) = self.queue.peek()
            && n.at < close
        {
            due.extend(self.queue.pop().map(|Reverse(s)| s));
        }
        let mut jobs: Vec<Job> = Vec::new();
        for s in &due {
            let i = s.what.node();
            if self.job_of[i] == NO_JOB {
                self.job_of[i] = jobs.len() as u32;
                jobs.push(Job::new(i));
            }
        }
        let busy = |i: usize| self.job_of[i] != NO_JOB;
        // A start changes the truth (a node comes to life) outside the gates' reasoning.
        let starts = || due.iter().any(|s| s.seq >= START_SEQ);
        let worth_it = due.iter().map(weight).sum::<usize>() >= self.min_window_weight;
        // Shared out only with work enough, and the stop ruled out inside it.
        let shared = worth_it
            && match gate {
                Gate::Never => true,
                _ if starts() => false,
                Gate::Converged => self.truth.wrong_outside(busy),
                Gate::Detected => self.truth.undetected_outside(busy),
                Gate::Both => self.truth.wrong_outside(busy) || self.truth.undetected_outside(busy),
                Gate::Opaque => false,
            };
        if !shared {
            jobs.iter().for_each(|j| self.job_of[j.node] = NO_JOB);
            self.queue.extend(due.into_iter().map(Reverse));
            return false;
        }
        let mut order = BinaryHeap::with_capacity(due.len());
        for s in due {
            let job = &mut jobs[self.job_of[s.what.node()] as usize];
            order.push(Reverse((s.at, s.seq, job.node)));
            job.events.push(s);
        }
        for job in &mut jobs {
            job.host = std::mem::replace(&mut self.slots[job.node].host, Host::empty());
        }
        if self.workers.as_ref().is_none_or(|w| w.len() != self.threads) {
            self.workers = Some(Workers::new(self.threads - 1));
        }
        let window = Window { now: self.now, end: close, first_new_seq: self.seq + 1 };
        let jobs = self.workers.as_mut().expect("made above").run(jobs, window);
        let mut outcomes = Vec::with_capacity(jobs.len());
        let mut nodes = Vec::with_capacity(jobs.len());
        for (k, job) in jobs.into_iter().enumerate() {
            self.job_of[job.node] = k as u32;
            self.slots[job.node].host = job.host;
            nodes.push(job.node);
            outcomes.push(job.outcomes.into_iter());
        }
        self.window_end = Some(close);
        self.window_queue = order;
        while let Some(Reverse((at, seq, i))) = self.window_queue.pop() {
            self.observe_until(at);
            self.now = self.now.max(at);
            self.steps += u64::from(seq < START_SEQ);
            self.parallel_steps += u64::from(seq < START_SEQ);
            let outcome = outcomes[self.job_of[i] as usize].next().expect("the node handled every event of its window");
            self.apply(i, outcome);
            assert!(!stop(self), "a stop held inside a window that its gate ruled out");
        }
        self.window_end = None;
        for (k, left) in outcomes.iter_mut().enumerate() {
            debug_assert!(left.next().is_none(), "outcome {k} left over");
        }
        nodes.into_iter().for_each(|i| self.job_of[i] = NO_JOB);
        true
    }

    /// Takes the samples due before `t`, and prints progress now and then.
    fn observe_until(&mut self, t: Time) {
        if let Some(every) = self.sample_every {
            while self.next_sample <= t {
                let watched = self.truth.watched().map(|(j, _)| self.truth.agreement(j));
                let views = self.truth.overall_agreement();
                self.samples.push(Sample { at: self.next_sample, views, watched });
                self.next_sample = self.next_sample.saturating_add(every);
            }
        }
        if self.progress && self.steps.is_multiple_of(65_536) {
            let now = std::time::Instant::now();
            let last = *self.last_progress.get_or_insert(now);
            if now.duration_since(last) >= Duration::from_secs(2) {
                self.last_progress = Some(now);
                eprintln!("  ... simulated {:.1} s, {} events", t.as_secs_f64(), self.steps);
            }
        }
    }
}

/// [`Sim::job_of`] for a node with no job in the window.
const NO_JOB: u32 = u32::MAX;
