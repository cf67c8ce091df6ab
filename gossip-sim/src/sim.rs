//! The event loop: real nodes, real encoded packets, virtual time that jumps from one
//! event to the next, and faults applied to nodes and links.

use crate::net::{NetConfig, Network};
use crate::rng::SplitMix;
use crate::trace::Digest;
use crate::truth::Truth;
use bytes::Bytes;
use core::net::SocketAddr;
use core::time::Duration;
use gossip_core::wire::{self, Limits, Message};
use gossip_core::{Config, Event, Identity, MemberState, Node, NodeId, Time, Transmit};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// A simulated node's slot: its fixed name, current address, and the node when running.
struct Slot {
    addr: SocketAddr,
    node: Option<Node<SplitMix>>,
    /// The deadline this slot has a timer entry queued for.
    timer_at: Option<Time>,
    /// Input and timers wait until then (a paused, CPU-starved node).
    paused_until: Time,
    /// How many times the node was (re)started, to derive fresh seeds and addresses.
    boots: u64,
    /// The settings this node boots with instead of [`Sim::config`] ([`Sim::set_node_config`]).
    config: Option<Config>,
}

enum What {
    Deliver { to: usize, from: SocketAddr, payload: Bytes, reliable: bool },
    Timer { node: usize },
}

struct Scheduled {
    at: Time,
    seq: u64,
    what: What,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
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
    seed: u64,
    digest: Digest,
    transmits: Vec<Transmit>,
    events: Vec<Event>,
    /// Events handled, for the simulator's own speed.
    pub steps: u64,
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
        let slots: Vec<Slot> = (0..n)
            .map(|i| Slot {
                addr: address(i, 0),
                node: None,
                timer_at: None,
                paused_until: Time::ZERO,
                boots: 0,
                config: None,
            })
            .collect();
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
            seed,
            digest: Digest::default(),
            transmits: Vec::new(),
            events: Vec::new(),
            steps: 0,
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
        self.slots[i].node.as_ref()
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
        let node = self.slots[i].node.as_mut().unwrap_or_else(|| panic!("node {i} is not running"));
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
        let slot = &mut self.slots[i];
        slot.boots += 1;
        let rng = SplitMix::new(self.seed, (i as u64 + 1) | (slot.boots << 40));
        // Each boot is a new life: its keys supersede the previous life's.
        let identity = Identity::new(name(i), slot.addr).with_generation(slot.boots as u32);
        let config = slot.config.clone().unwrap_or_else(|| self.config.clone());
        let node = Node::new(config, identity, rng).expect("valid simulator config");
        slot.node = Some(node);
        slot.timer_at = None;
        slot.paused_until = Time::ZERO;
        self.truth.set_live(i, true, true, self.now);
        let seeds: Vec<SocketAddr> = seeds.iter().map(|&s| self.slots[s].addr).collect();
        self.command(i, |node, now| {
            let _ = node.join(now, &seeds);
        });
    }

    /// Runs a command on node `i`, if it is running, at the simulator's time, and
    /// collects what it sent.
    fn command(&mut self, i: usize, f: impl FnOnce(&mut Node<SplitMix>, Time)) {
        let now = self.now;
        if let Some(node) = self.slots[i].node.as_mut() {
            f(node, now);
        }
        self.flush(i);
    }

    /// Node `i` stops without a word.
    pub fn crash(&mut self, i: usize) {
        self.slots[i].node = None;
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
        if let Some(node) = self.slots[i].node.as_mut() {
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
        self.slots[i].paused_until = self.now.saturating_add(d);
    }

    fn push(&mut self, at: Time, what: What) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled { at, seq: self.seq, what }));
    }

    /// Collects node `i`'s output: transmits into the network, events into the truth,
    /// and its next deadline into the queue.
    fn flush(&mut self, i: usize) {
        let Some(node) = self.slots[i].node.as_mut() else { return };
        let mut transmits = std::mem::take(&mut self.transmits);
        let mut events = std::mem::take(&mut self.events);
        while let Some(t) = node.poll_transmit() {
            transmits.push(t);
        }
        while let Some(e) = node.poll_event() {
            events.push(e);
        }
        let deadline = node.poll_timeout();
        let from = self.slots[i].addr;
        let now = self.now;
        for t in transmits.drain(..) {
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
        for e in events.drain(..) {
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
        self.transmits = transmits;
        self.events = events;
        if let Some(at) = deadline
            && self.slots[i].timer_at != Some(at)
        {
            self.slots[i].timer_at = Some(at);
            self.push(at, What::Timer { node: i });
        }
    }

    /// Handles events in time order until `end` or until `stop` holds after an event.
    /// Returns whether `stop` held.
    pub fn run_until(&mut self, end: Time, mut stop: impl FnMut(&Sim) -> bool) -> bool {
        while let Some(Reverse(next)) = self.queue.peek() {
            if next.at > end {
                break;
            }
            let Some(Reverse(s)) = self.queue.pop() else { break };
            self.observe_until(s.at);
            self.now = self.now.max(s.at);
            self.steps += 1;
            self.dispatch(s.what);
            if stop(self) {
                return true;
            }
        }
        self.observe_until(end);
        self.now = self.now.max(end);
        stop(self)
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

    fn dispatch(&mut self, what: What) {
        let now = self.now;
        match what {
            What::Deliver { to, from, payload, reliable } => {
                let slot = &mut self.slots[to];
                if slot.node.is_none() {
                    return;
                }
                if slot.paused_until > now {
                    // A starved process wakes to overdue timers first and reads its socket
                    // backlog after: the input it missed lands just after its timers.
                    let at = slot.paused_until.saturating_add(Duration::from_millis(1));
                    self.push(at, What::Deliver { to, from, payload, reliable });
                    return;
                }
                let node = slot.node.as_mut().expect("checked above");
                let _ = if reliable {
                    node.handle_stream(now, from, &payload)
                } else {
                    node.handle_datagram(now, from, &payload)
                };
                self.flush(to);
            }
            What::Timer { node: i } => {
                let slot = &mut self.slots[i];
                if slot.node.is_none() || slot.timer_at.is_none_or(|t| t > now) {
                    return; // crashed, or a stale entry for a deadline that moved
                }
                if slot.paused_until > now {
                    let at = slot.paused_until;
                    slot.timer_at = Some(at);
                    self.push(at, What::Timer { node: i });
                    return;
                }
                slot.timer_at = None;
                if let Some(node) = slot.node.as_mut() {
                    node.handle_timeout(now);
                }
                self.flush(i);
            }
        }
    }
}
