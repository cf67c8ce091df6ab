//! A multi-node harness on virtual time (quinn's `Pair`, generalized to N nodes): real
//! nodes exchange real encoded packets through a seeded network with latency and loss.

use crate::{Config, Event, Identity, MemberState, Node, NodeId, Time, Transmit};
use core::net::SocketAddr;
use core::time::Duration;
use rand_core::RngCore;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// SplitMix64: a tiny seeded generator for nodes and the network.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix(pub u64);

impl RngCore for SplitMix {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// A packet in flight.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Time,
    seq: u64,
    to: usize,
    from: SocketAddr,
    reliable: bool,
    payload: Vec<u8>,
}

/// N nodes, a network between them, and a log of everything that happened.
pub(crate) struct Harness {
    pub now: Time,
    pub config: Config,
    nodes: Vec<Option<Node<SplitMix>>>,
    addrs: Vec<SocketAddr>,
    by_addr: HashMap<SocketAddr, usize>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    net: SplitMix,
    seed: u64,
    /// Datagram loss probability, 0..1.
    pub loss: f64,
    /// One-way latency range, milliseconds.
    pub latency_ms: (u64, u64),
    /// Nodes whose traffic (both ways) is dropped until the given time.
    isolated_until: Vec<Time>,
    /// Every event, with when and where it was raised.
    pub events: Vec<(Time, usize, Event)>,
    /// FNV-1a over every transmit and event, in order: equal runs give equal digests.
    pub digest: u64,
    /// The largest datagram sent.
    pub max_datagram: usize,
}

pub(crate) fn addr_of(i: usize, generation: u8) -> SocketAddr {
    SocketAddr::from(([10, generation, (i >> 8) as u8, i as u8], 7946))
}

pub(crate) fn name(i: usize) -> NodeId {
    NodeId::from(format!("node-{i}"))
}

impl Harness {
    /// `n` nodes named `node-{i}`, not started.
    pub fn new(n: usize, seed: u64, config: Config) -> Self {
        let mut h = Harness {
            now: Time::ZERO,
            config,
            nodes: Vec::new(),
            addrs: Vec::new(),
            by_addr: HashMap::new(),
            in_flight: BinaryHeap::new(),
            seq: 0,
            net: SplitMix(seed ^ 0xA5A5_A5A5),
            seed,
            loss: 0.0,
            latency_ms: (1, 5),
            isolated_until: vec![Time::ZERO; n],
            events: Vec::new(),
            digest: 0xcbf2_9ce4_8422_2325,
            max_datagram: 0,
        };
        for i in 0..n {
            h.nodes.push(None);
            h.addrs.push(addr_of(i, 0));
            h.boot(i, addr_of(i, 0));
        }
        h
    }

    /// Rebuilds node `i` (not started yet) with its own settings.
    #[cfg_attr(not(feature = "encryption"), allow(dead_code))]
    pub fn configure(&mut self, i: usize, config: Config) {
        let rng = SplitMix(self.seed.wrapping_mul(1_000_003).wrapping_add(i as u64 * 7919 + self.seq));
        self.nodes[i] = Some(Node::new(config, Identity::new(name(i), self.addrs[i]), rng).unwrap());
    }

    fn boot(&mut self, i: usize, addr: SocketAddr) {
        self.by_addr.retain(|_, &mut v| v != i);
        self.by_addr.insert(addr, i);
        self.addrs[i] = addr;
        let rng = SplitMix(self.seed.wrapping_mul(1_000_003).wrapping_add(i as u64 * 7919 + self.seq));
        self.nodes[i] = Some(Node::new(self.config.clone(), Identity::new(name(i), addr), rng).unwrap());
    }

    /// Node 0 starts the cluster; every other node joins through it, 10 ms apart.
    pub fn join_all(&mut self) {
        let seed = self.addrs[0];
        self.with(0, |n, now| n.join(now, &[]).unwrap());
        for i in 1..self.nodes.len() {
            self.run_for(Duration::from_millis(10));
            self.with(i, |n, now| n.join(now, &[seed]).unwrap());
        }
    }

    pub fn node(&self, i: usize) -> &Node<SplitMix> {
        self.nodes[i].as_ref().expect("node is running")
    }

    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].is_some()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn addr(&self, i: usize) -> SocketAddr {
        self.addrs[i]
    }

    /// Calls `f` on node `i` at the current time, then collects its output.
    pub fn with<T>(&mut self, i: usize, f: impl FnOnce(&mut Node<SplitMix>, Time) -> T) -> T {
        let now = self.now;
        let out = f(self.nodes[i].as_mut().expect("node is running"), now);
        self.flush(i);
        out
    }

    /// The node stops without a word (its packets in flight still arrive).
    pub fn crash(&mut self, i: usize) {
        self.nodes[i] = None;
    }

    /// A crashed node comes back with the same name (new incarnation 0, maybe a new
    /// address) and joins through node `via`.
    pub fn restart(&mut self, i: usize, addr: SocketAddr, via: usize) {
        self.boot(i, addr);
        let seed = self.addrs[via];
        self.with(i, |n, now| n.join(now, &[seed]).unwrap());
    }

    /// Drops all traffic to and from node `i` for `d`.
    pub fn isolate(&mut self, i: usize, d: Duration) {
        self.isolated_until[i] = self.now.saturating_add(d);
    }

    /// Ends an isolation early.
    pub fn reconnect(&mut self, i: usize) {
        self.isolated_until[i] = self.now;
    }

    /// What node `i` believes about node `j`.
    pub fn view(&self, i: usize, j: usize) -> Option<MemberState> {
        self.node(i).member(name(j).as_bytes()).map(|m| m.state())
    }

    /// Whether every running node other than `j` sees `j` in `state`.
    pub fn all_see(&self, j: usize, state: Option<MemberState>) -> bool {
        (0..self.len()).filter(|&i| i != j && self.is_up(i)).all(|i| self.view(i, j) == state)
    }

    fn hash(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.digest = (self.digest ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn flush(&mut self, i: usize) {
        let Some(node) = self.nodes[i].as_mut() else {
            return;
        };
        let mut transmits = Vec::new();
        while let Some(t) = node.poll_transmit() {
            transmits.push(t);
        }
        let mut events = Vec::new();
        while let Some(e) = node.poll_event() {
            events.push(e);
        }
        for t in transmits {
            self.transmit(i, t);
        }
        for e in events {
            self.hash(format!("{}:{i}:{e:?}", self.now.as_nanos()).as_bytes());
            self.events.push((self.now, i, e));
        }
    }

    fn transmit(&mut self, from: usize, t: Transmit) {
        self.hash(&self.now.as_nanos().to_le_bytes());
        self.hash(&t.payload);
        if !t.reliable {
            self.max_datagram = self.max_datagram.max(t.payload.len());
            assert!(t.payload.len() <= self.config.mtu, "datagram over the MTU");
        }
        let Some(&to) = self.by_addr.get(&t.dest) else {
            return;
        };
        if self.isolated_until[from] > self.now || self.isolated_until[to] > self.now {
            return;
        }
        if !t.reliable && self.loss > 0.0 && (self.net.next_u64() as f64 / u64::MAX as f64) < self.loss {
            return;
        }
        let (lo, hi) = self.latency_ms;
        let ms = lo + self.net.next_u64() % (hi - lo + 1);
        let at = self.now.saturating_add(Duration::from_millis(ms));
        self.seq += 1;
        let msg = InFlight {
            at,
            seq: self.seq,
            to,
            from: self.addrs[from],
            reliable: t.reliable,
            payload: t.payload.to_vec(),
        };
        self.in_flight.push(Reverse(msg));
    }

    /// Advances virtual time by `d`, delivering packets and firing timers in time order.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now.saturating_add(d);
        loop {
            let next_packet = self.in_flight.peek().map(|Reverse(p)| p.at);
            let next_timer = (0..self.nodes.len())
                .filter_map(|i| self.nodes[i].as_ref().and_then(|n| n.poll_timeout()).map(|t| (t, i)))
                .min();
            let packet_first = match (next_packet, next_timer) {
                (Some(p), Some((t, _))) => p <= t,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let at = if packet_first { next_packet.unwrap() } else { next_timer.unwrap().0 };
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            if packet_first {
                let Reverse(p) = self.in_flight.pop().unwrap();
                if self.isolated_until[p.to] > self.now {
                    continue;
                }
                if let Some(node) = self.nodes[p.to].as_mut() {
                    let _ = if p.reliable {
                        node.handle_stream(self.now, p.from, &p.payload)
                    } else {
                        node.handle_datagram(self.now, p.from, &p.payload)
                    };
                    self.flush(p.to);
                }
            } else {
                let i = next_timer.unwrap().1;
                let now = self.now;
                self.nodes[i].as_mut().unwrap().handle_timeout(now);
                self.flush(i);
            }
        }
        self.now = end;
    }

    /// Runs in steps of `step` until `done` holds or `limit` passes; returns when it held.
    pub fn run_until(&mut self, limit: Duration, step: Duration, done: impl Fn(&Self) -> bool) -> Option<Time> {
        let end = self.now.saturating_add(limit);
        while self.now < end {
            if done(self) {
                return Some(self.now);
            }
            self.run_for(step);
        }
        done(self).then_some(self.now)
    }

    /// Whether every running node sees every other running node Alive.
    pub fn converged(&self) -> bool {
        let up: Vec<usize> = (0..self.len()).filter(|&i| self.is_up(i)).collect();
        up.iter().all(|&i| {
            self.node(i).live_members() == up.len() - 1
                && up.iter().all(|&j| i == j || self.view(i, j) == Some(MemberState::Alive))
        })
    }
}

/// A datagram from `sender` (no cluster name) carrying `messages`.
pub(crate) fn datagram(sender: &[u8], messages: &[crate::wire::Message<'_>]) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    crate::wire::Header { cluster: b"", sender }.encode(&mut out);
    for m in messages {
        m.encode(&mut out);
    }
    out.to_vec()
}

/// Makes `node` know `id` at `addr` as a live member, the way a stranger gets in (see
/// `admission.rs`): it announces itself, and answers the ping that checks it. What the
/// node sends meanwhile is dropped.
pub(crate) fn introduce<R: rand_core::RngCore>(node: &mut Node<R>, now: Time, id: &[u8], addr: SocketAddr) {
    let alive = crate::wire::Message::Alive { incarnation: 0, id, addr, meta: b"" };
    node.handle_datagram(now, addr, &datagram(id, &[alive])).unwrap();
    let limits = crate::wire::Limits::default();
    let pings: Vec<u32> = core::iter::from_fn(|| node.poll_transmit())
        .filter(|t| t.dest == addr && !t.reliable)
        .filter_map(|t| {
            let packet = crate::wire::decode(&t.payload, &limits).ok()?;
            packet.messages.iter().find_map(|m| match *m {
                crate::wire::Message::Ping { seq, target } if target == id => Some(seq),
                _ => None,
            })
        })
        .collect();
    for seq in pings {
        node.handle_datagram(now, addr, &datagram(id, &[crate::wire::Message::Ack { seq }])).unwrap();
    }
    while node.poll_transmit().is_some() {}
    assert!(node.member(id).is_some(), "introduced");
}
