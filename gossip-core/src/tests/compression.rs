//! Compressed clusters (feature `compression`): the same protocol for fewer bytes.

use super::util::Harness;
use crate::Config;
use core::time::Duration;

/// Runs 30 nodes for 40 s (joins, syncs, each node's keys), with and without compression.
fn run(seed: u64, compress_above: usize) -> (bool, u64, usize) {
    let n = 30;
    let mut h = Harness::new(n, seed, Config { compress_above, ..Config::lan(n) });
    h.join_all();
    for i in 0..n {
        h.with(i, |node, _| {
            node.set(node.now(), format!("service/{i}/endpoint"), "http://10.0.0.1:8080/health").unwrap()
        });
    }
    h.run_for(Duration::from_secs(40));
    let keys_everywhere =
        (0..n).all(|i| (0..n).all(|j| i == j || h.node(i).keys(format!("node-{j}").as_bytes()).count() == 1));
    let bytes: u64 = (0..n).map(|i| h.node(i).stats().bytes_out).sum();
    (h.converged() && keys_everywhere, bytes, h.max_datagram)
}

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
