//! Sealed clusters (feature `encryption`): members with the key form a cluster, a node
//! without it never gets in, and keys rotate without a false Down.

use super::util::{Harness, name};
use crate::seal::{Keyring, SEALED};
use crate::{Config, Event, MemberState, RecvError};
use core::time::Duration;

const A: [u8; 32] = [0xAA; 32];
const B: [u8; 32] = [0xBB; 32];

fn sealed(n: usize, key: [u8; 32]) -> Config {
    Config { keyring: Some(Keyring::new(key)), ..Config::lan(n) }
}

fn downs(h: &Harness) -> usize {
    h.events.iter().filter(|(_, _, e)| matches!(e, Event::MemberDown { .. })).count()
}

#[test]
fn members_with_the_key_converge_and_a_node_without_it_never_appears() {
    for seed in 1..=3 {
        let n = 20;
        let mut h = Harness::new(n, seed, sealed(n, A));
        h.configure(n - 1, sealed(n, B)); // the intruder: the wrong key
        h.join_all();
        h.run_for(Duration::from_secs(20));
        for i in 0..n - 1 {
            assert_eq!(h.node(i).live_members(), n - 2, "seed {seed}: node {i} sees every keyed member");
            assert!(h.node(i).member(name(n - 1).as_bytes()).is_none(), "seed {seed}: node {i} knows the intruder");
        }
        assert_eq!(h.node(n - 1).live_members(), 0, "seed {seed}: the intruder learned no one");
        let refused: u64 = (0..n - 1).map(|i| h.node(i).stats().drops[RecvError::Decrypt.kind()]).sum();
        assert!(refused > 0, "seed {seed}: the intruder's packets were counted as undecryptable");
        assert!(h.max_datagram <= h.config.mtu, "seed {seed}: sealing stays within the MTU");
    }
}

#[test]
fn every_packet_is_sealed_and_a_tampered_one_is_dropped() {
    let mut h = Harness::new(3, 7, sealed(3, A));
    h.join_all();
    h.run_for(Duration::from_secs(5));
    let t = h.with(0, |node, now| {
        node.handle_timeout(now.saturating_add(Duration::from_secs(1)));
        core::iter::from_fn(|| node.poll_transmit()).next()
    });
    let t = t.expect("a probe or a gossip round");
    assert_eq!(t.payload[0], SEALED);
    let mut bad = t.payload.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let from = h.addr(0);
    let before = h.node(1).stats().drops[RecvError::Decrypt.kind()];
    assert_eq!(h.with(1, |node, now| node.handle_datagram(now, from, &bad)), Err(RecvError::Decrypt));
    assert_eq!(h.node(1).stats().drops[RecvError::Decrypt.kind()], before + 1);
}

#[test]
fn keys_rotate_across_a_running_cluster_without_a_false_down() {
    for seed in 1..=3 {
        let n = 12;
        let mut h = Harness::new(n, seed, sealed(n, A));
        h.join_all();
        h.run_for(Duration::from_secs(15));
        assert!(h.converged(), "seed {seed}");
        // One node at a time, a few hundred ms apart, as an operator's script would.
        let step = |h: &mut Harness, f: &dyn Fn(&mut Keyring)| {
            for i in 0..n {
                h.with(i, |node, _| f(node.keyring_mut().unwrap()));
                h.run_for(Duration::from_millis(300));
            }
        };
        step(&mut h, &|ring| ring.add(B).unwrap());
        step(&mut h, &|ring| ring.use_key(&B).unwrap());
        step(&mut h, &|ring| ring.remove(&A).unwrap());
        h.run_for(Duration::from_secs(15));
        assert!(h.converged(), "seed {seed}: still one cluster on the new key");
        assert_eq!(downs(&h), 0, "seed {seed}: no member was declared down during the rotation");
        assert!((0..n).all(|i| h.view(0, i).is_none_or(|s| s == MemberState::Alive)));
        let refused: u64 = (0..n).map(|i| h.node(i).stats().drops[RecvError::Decrypt.kind()]).sum();
        assert_eq!(refused, 0, "seed {seed}: no packet was refused while every ring held both keys");
    }
}
