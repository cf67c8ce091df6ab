//! The network model: per-packet latency, loss, duplication, and partitions.

use crate::rng::SplitMix;
use core::time::Duration;
use smallvec::SmallVec;

/// How the simulated network treats datagrams. Streams (reliable transmits) see latency
/// only, and are refused across a partition or to a crashed node.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    /// One-way latency is uniform in this range, milliseconds (inclusive).
    pub latency_ms: (u64, u64),
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice (the copy with its own latency).
    pub duplicate: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig { latency_ms: (1, 5), loss: 0.0, duplicate: 0.0 }
    }
}

/// The links between nodes: which groups can talk, and the fault draw for each packet.
#[derive(Clone, Debug)]
pub struct Network {
    /// Current settings.
    pub config: NetConfig,
    /// Partition group of each node; packets cross only within a group.
    group: Vec<u16>,
    rng: SplitMix,
}

impl Network {
    /// A fully connected network of `n` nodes.
    pub fn new(n: usize, config: NetConfig, rng: SplitMix) -> Self {
        Network { config, group: vec![0; n], rng }
    }

    /// Puts each node in the group `group_of(node)`.
    pub fn partition(&mut self, group_of: impl Fn(usize) -> u16) {
        for (i, g) in self.group.iter_mut().enumerate() {
            *g = group_of(i);
        }
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
    }

    /// Whether `from` can reach `to`.
    pub fn connected(&self, from: usize, to: usize) -> bool {
        self.group[from] == self.group[to]
    }

    /// The delays of the copies of one packet that arrive: none if lost, two if duplicated
    /// (inline: no allocation per packet).
    pub fn delays(&mut self, reliable: bool) -> SmallVec<[Duration; 2]> {
        let mut out = SmallVec::new();
        if !reliable && self.config.loss > 0.0 && self.rng.unit() < self.config.loss {
            return out;
        }
        out.push(self.latency());
        if !reliable && self.config.duplicate > 0.0 && self.rng.unit() < self.config.duplicate {
            out.push(self.latency());
        }
        out
    }

    fn latency(&mut self) -> Duration {
        let (lo, hi) = self.config.latency_ms;
        // Microsecond resolution, so packets sent together arrive in a random order.
        Duration::from_micros(self.rng.range(lo * 1000, hi * 1000))
    }
}
