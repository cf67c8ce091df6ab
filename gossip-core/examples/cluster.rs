//! A cluster of real `gossip-core` nodes on virtual time, driven through the public API
//! only: the run loop every adapter writes (deliver what arrives, run what is due, send
//! what the node hands out), with a seeded 1-5 ms of latency per packet. Watch membership
//! converge, then a crash being detected. Runs in about a second.
//!
//! ```text
//! cargo run --release -p gossip-core --example cluster -- [NODES] [SEED]
//! ```
//!
//! `gossip-sim` is the full simulator (loss, partitions, thousands of nodes, ground truth).

use core::net::SocketAddr;
use core::time::Duration;
use gossip_core::{Config, Event, Identity, Node, Time};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// A packet in flight: when it arrives, to whom, from where, and what it is.
type InFlight = Reverse<(Time, u64, usize, SocketAddr, bool, Vec<u8>)>;

struct Cluster {
    now: Time,
    nodes: Vec<Option<Node<ChaCha8Rng>>>,
    by_addr: HashMap<SocketAddr, usize>,
    in_flight: BinaryHeap<InFlight>,
    sent: u64,
    net: ChaCha8Rng,
    /// Every event, with when and at which node.
    events: Vec<(Time, usize, Event)>,
}

impl Cluster {
    /// Hands out what node `i` wants sent (onto the network, 1-5 ms away) and raised.
    fn drain(&mut self, i: usize) {
        let Some(node) = self.nodes[i].as_mut() else { return };
        while let Some(t) = node.poll_transmit() {
            let latency = Duration::from_millis(1 + self.net.next_u64() % 5);
            if let Some(&to) = self.by_addr.get(&t.dest) {
                self.sent += 1;
                let at = self.now.saturating_add(latency);
                self.in_flight.push(Reverse((at, self.sent, to, addr(i), t.reliable, t.payload.to_vec())));
            }
        }
        while let Some(e) = node.poll_event() {
            self.events.push((self.now, i, e));
        }
    }

    /// Runs until `end`: the earliest of the next arrival and the next node deadline, in
    /// time order.
    fn run_until(&mut self, end: Time) {
        loop {
            let arrival = self.in_flight.peek().map(|Reverse(p)| p.0);
            let deadline =
                (0..self.nodes.len()).filter_map(|i| Some((self.nodes[i].as_ref()?.poll_timeout()?, i))).min();
            let next = match (arrival, deadline) {
                (Some(a), Some((d, _))) => a.min(d),
                (Some(a), None) => a,
                (None, Some((d, _))) => d,
                (None, None) => break,
            };
            if next > end {
                break;
            }
            self.now = next;
            if arrival == Some(next) {
                let Reverse((_, _, to, from, reliable, bytes)) = self.in_flight.pop().expect("peeked");
                if let Some(node) = self.nodes[to].as_mut() {
                    // A refused packet is counted by the node; nothing else to do.
                    let _ = if reliable {
                        node.handle_stream(next, from, &bytes)
                    } else {
                        node.handle_datagram(next, from, &bytes)
                    };
                }
                self.drain(to);
            } else if let Some((_, i)) = deadline {
                self.nodes[i].as_mut().expect("has a deadline").handle_timeout(next);
                self.drain(i);
            }
        }
        self.now = end;
    }

    fn running(&self) -> impl Iterator<Item = &Node<ChaCha8Rng>> {
        self.nodes.iter().flatten()
    }
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 7946))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100).max(2);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let wall = std::time::Instant::now();
    let nodes = (0..n)
        .map(|i| {
            // Each node its own generator, so that a seed replays a run.
            let rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
            Some(Node::new(Config::lan(n), Identity::new(format!("node-{i}"), addr(i)), rng).expect("valid config"))
        })
        .collect();
    let by_addr = (0..n).map(|i| (addr(i), i)).collect();
    let mut c = Cluster {
        now: Time::ZERO,
        nodes,
        by_addr,
        in_flight: BinaryHeap::new(),
        sent: 0,
        net: ChaCha8Rng::seed_from_u64(seed),
        events: Vec::new(),
    };

    println!("{n} nodes join through node-0 (seed {seed}), 10 ms apart");
    for i in 0..n {
        let seeds = if i == 0 { vec![] } else { vec![addr(0)] };
        let now = c.now;
        c.nodes[i].as_mut().expect("running").join(now, &seeds).expect("a first join");
        c.drain(i);
        c.run_until(now.saturating_add(Duration::from_millis(10)));
    }
    let joined_at = c.now;
    while c.running().any(|node| node.live_members() < n - 1) && c.now < Time::from_secs(120) {
        c.run_until(c.now.saturating_add(Duration::from_millis(50)));
    }
    println!(
        "every node sees every other {:.2} s after the last join",
        c.now.saturating_since(joined_at).as_secs_f64()
    );

    let victim = n / 2;
    let name = format!("node-{victim}");
    println!("\n{name} crashes");
    c.nodes[victim] = None;
    let crashed_at = c.now;
    let is_down = |e: &Event| matches!(e, Event::MemberDown { id, .. } if id.as_bytes() == name.as_bytes());
    while c.events.iter().filter(|(t, _, e)| *t >= crashed_at && is_down(e)).count() < n - 1
        && c.now < crashed_at.saturating_add(Duration::from_secs(120))
    {
        c.run_until(c.now.saturating_add(Duration::from_millis(50)));
    }
    let downs: Vec<Time> = c.events.iter().filter(|(_, _, e)| is_down(e)).map(|(t, _, _)| *t).collect();
    if let (Some(first), Some(last)) = (downs.first(), downs.last()) {
        println!("first node marked it Down after {:.2} s", first.saturating_since(crashed_at).as_secs_f64());
        println!(
            "{} of {} marked it Down after {:.2} s",
            downs.len(),
            n - 1,
            last.saturating_since(crashed_at).as_secs_f64()
        );
    }
    let false_downs = c.events.iter().filter(|(_, _, e)| matches!(e, Event::MemberDown { .. }) && !is_down(e)).count();
    let (bytes, packets) =
        c.running().fold((0, 0), |(b, p), node| (b + node.stats().bytes_out, p + node.stats().packets_out));
    let per = n as f64 * c.now.as_secs_f64();
    println!("\nfalse Down notices about live nodes: {false_downs}");
    println!(
        "traffic: {:.0} bytes and {:.1} packets per node per simulated second",
        bytes as f64 / per,
        packets as f64 / per
    );
    println!("simulated {:.1} s in {:.2} s of wall time", c.now.as_secs_f64(), wall.elapsed().as_secs_f64());
}
