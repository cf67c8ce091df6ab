//! Sealed clusters (gossip-core's feature `encryption`): members with the key form a
//! cluster, a node without it never gets in, and keys rotate without a false Down.

use crate::util::{cluster, converged, downs, join_all, node, run_for};
use core::time::Duration;
use gossip_sim::Sim;
use gossip_sim::gossip_core::seal::SEALED;
use gossip_sim::gossip_core::{Config, Keyring, MemberState, RecvError};
use gossip_sim::sim::name;

const A: [u8; 32] = [0xAA; 32];
const B: [u8; 32] = [0xBB; 32];

fn sealed(n: usize, key: [u8; 32]) -> Config {
    Config { keyring: Some(Keyring::new(key)), ..Config::lan(n) }
}

/// Packets the nodes `nodes` refused as undecryptable.
fn undecryptable(sim: &Sim, nodes: core::ops::Range<usize>) -> u64 {
    nodes.map(|i| node(sim, i).stats().drops[RecvError::Decrypt.kind()]).sum()
}

// Members with the key form one cluster within 20 s; a node with another key learns no
// one, no member learns it, and its packets are counted as undecryptable; sealing keeps
// every datagram within the MTU.
#[test]
fn members_with_the_key_converge_and_a_node_without_it_never_appears() {
    for seed in 1..=3 {
        let n = 20;
        let mut sim = cluster(n, seed, sealed(n, A));
        sim.set_node_config(n - 1, sealed(n, B)); // the intruder: the wrong key
        join_all(&mut sim);
        run_for(&mut sim, Duration::from_secs(20));
        for i in 0..n - 1 {
            assert_eq!(node(&sim, i).live_members(), n - 2, "seed {seed}: node {i} sees every keyed member");
            assert!(node(&sim, i).member(name(n - 1).as_bytes()).is_none(), "seed {seed}: node {i} knows the intruder");
        }
        assert_eq!(node(&sim, n - 1).live_members(), 0, "seed {seed}: the intruder learned no one");
        assert!(undecryptable(&sim, 0..n - 1) > 0, "seed {seed}: the intruder's packets were counted as undecryptable");
        assert!(sim.traffic.max_datagram <= sim.config.mtu, "seed {seed}: sealing stays within the MTU");
    }
}

// Every packet a sealed node sends starts with the sealed marker, and one with a flipped
// bit is refused as undecryptable and counted.
#[test]
fn every_packet_is_sealed_and_a_tampered_one_is_dropped() {
    let mut sim = cluster(3, 7, sealed(3, A));
    join_all(&mut sim);
    run_for(&mut sim, Duration::from_secs(5));
    let t = sim.with_node(0, |node, now| {
        node.handle_timeout(now.saturating_add(Duration::from_secs(1)));
        core::iter::from_fn(|| node.poll_transmit()).next()
    });
    let t = t.expect("a probe or a gossip round");
    assert_eq!(t.payload[0], SEALED);
    let mut bad = t.payload.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let from = sim.addr(0);
    let before = undecryptable(&sim, 1..2);
    assert_eq!(sim.with_node(1, |node, now| node.handle_datagram(now, from, &bad)), Err(RecvError::Decrypt));
    assert_eq!(undecryptable(&sim, 1..2), before + 1);
}

// Keys rotate across a running cluster, one node at a time (add the new key, use it,
// remove the old one): it stays one cluster, no member is declared Down, and no packet is
// refused while every ring holds both keys.
#[test]
fn keys_rotate_across_a_running_cluster_without_a_false_down() {
    for seed in 1..=3 {
        let n = 12;
        let mut sim = cluster(n, seed, sealed(n, A));
        join_all(&mut sim);
        run_for(&mut sim, Duration::from_secs(15));
        assert!(converged(&sim), "seed {seed}");
        // One node at a time, a few hundred ms apart, as an operator's script would.
        let step = |sim: &mut Sim, f: &dyn Fn(&mut Keyring)| {
            for i in 0..n {
                sim.with_node(i, |node, _| f(node.keyring_mut().unwrap()));
                run_for(sim, Duration::from_millis(300));
            }
        };
        step(&mut sim, &|ring| ring.add(B).unwrap());
        step(&mut sim, &|ring| ring.use_key(&B).unwrap());
        step(&mut sim, &|ring| ring.remove(&A).unwrap());
        run_for(&mut sim, Duration::from_secs(15));
        assert!(converged(&sim), "seed {seed}: still one cluster on the new key");
        assert_eq!(downs(&sim, 0), 0, "seed {seed}: no member was declared down during the rotation");
        assert!((0..n).all(|i| sim.view(0, i).is_none_or(|s| s == MemberState::Alive)));
        assert_eq!(undecryptable(&sim, 0..n), 0, "seed {seed}: no packet was refused while every ring held both keys");
    }
}
