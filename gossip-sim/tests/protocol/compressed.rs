//! Compressed clusters (gossip-core's feature `compression`): the same protocol for fewer
//! bytes.

use crate::util::{cluster, converged, join_all, node, run_for};
use core::time::Duration;
use gossip_sim::gossip_core::Config;
use gossip_sim::sim::name;

/// Runs 30 nodes for 40 s (joins, syncs, each node's keys), with and without compression:
/// whether they converged with every key everywhere, the bytes they sent, and the largest
/// datagram.
fn run(seed: u64, compress_above: usize) -> (bool, u64, usize) {
    let n = 30;
    let mut sim = cluster(n, seed, Config { compress_above, ..Config::lan(n) });
    join_all(&mut sim);
    for i in 0..n {
        sim.with_node(i, |node, now| {
            node.set(now, format!("service/{i}/endpoint"), "http://10.0.0.1:8080/health").unwrap()
        });
    }
    run_for(&mut sim, Duration::from_secs(40));
    let keys_everywhere = (0..n).all(|i| (0..n).all(|j| i == j || node(&sim, i).keys(name(j).as_bytes()).count() == 1));
    let bytes: u64 = (0..n).map(|i| node(&sim, i).stats().bytes_out).sum();
    (converged(&sim) && keys_everywhere, bytes, sim.traffic.max_datagram)
}

// A cluster that compresses packets above 256 bytes converges with every key everywhere,
// as a plain one does, and sends fewer bytes; no datagram exceeds the MTU.
#[test]
fn a_compressed_cluster_converges_and_sends_fewer_bytes() {
    for seed in 1..=3 {
        let (plain_ok, plain_bytes, _) = run(seed, 0);
        let (ok, bytes, max_datagram) = run(seed, 256);
        assert!(plain_ok && ok, "seed {seed}: both converge with every key everywhere");
        assert!(bytes < plain_bytes, "seed {seed}: compressed {bytes} B vs plain {plain_bytes} B");
        assert!(max_datagram <= Config::lan(30).mtu);
    }
}
