//! Membership behaviour at tens of nodes: join, crash, refute, metadata, leave, restart,
//! determinism, and false Downs under loss. Each test runs several seeds.

use crate::util::{
    SECOND, all_see, cluster, converged, converged_cluster, count, downs, isolate, join_all, node, run_for, run_until,
    seeds,
};
use core::time::Duration;
use gossip_sim::gossip_core::{CommandError, Config, Detector, Event, MemberState};
use gossip_sim::sim::name;
use std::collections::BTreeSet;

// 50 nodes joining through one seed all end up seeing all 49 others Alive: as peers, and
// in `members`, which lists the node itself first (as `Cluster::members` does).
#[test]
fn fifty_nodes_join_through_one_seed_and_all_see_all() {
    for seed in seeds() {
        let sim = converged_cluster(50, seed, Config::lan(50));
        for i in 0..50 {
            let node = node(&sim, i);
            assert_eq!(node.peers().count(), 49, "seed {seed} node {i}");
            let members: Vec<_> = node.members().collect();
            assert_eq!((members.len(), &members[0]), (50, &node.local()), "seed {seed} node {i}");
            assert!(members[1..].iter().all(|m| m.state == MemberState::Alive));
        }
        assert!(sim.event_log.iter().any(|(_, i, e)| *i == 1 && *e == Event::Joined));
        assert!(sim.traffic.max_datagram <= 1400);
    }
}

// A join reply is merged quietly: the members it names are not re-gossiped by the joiner
// (the seed already spreads them; the n² re-gossip is what makes mass joins slow), and the
// catch-up sync fills what gossip then misses. With catch-up off, the joiner re-gossips
// everything, as memberlist does. Either way the cluster converges.
#[test]
fn a_join_reply_is_merged_quietly_and_catch_up_syncs_converge() {
    for seed in seeds() {
        for catch_up in [SECOND, Duration::ZERO] {
            let mut config = Config::lan(40);
            config.catch_up_sync = catch_up;
            let mut sim = cluster(40, seed, config);
            join_all(&mut sim);
            let last = 39;
            run_until(&mut sim, SECOND, Duration::from_millis(1), |s| node(s, last).peers().count() > 0);
            let (learned, queued) = (node(&sim, last).peers().count(), node(&sim, last).pending_news());
            assert!(learned >= 30, "seed {seed}: the join reply named {learned} members");
            if catch_up.is_zero() {
                assert!(queued >= learned, "seed {seed}: {queued} queued of {learned} learned");
            } else {
                assert!(queued <= 2, "seed {seed}: {queued} queued after a quiet merge of {learned}");
            }
            let t = run_until(&mut sim, Duration::from_secs(60), SECOND, converged);
            assert!(t.is_some(), "seed {seed}, catch-up {catch_up:?}: no convergence in 60 s");
        }
    }
}

// A crashed node is marked Down by every live node, and nobody else is.
#[test]
fn crashed_node_is_marked_down_by_every_live_node() {
    for seed in seeds() {
        let mut sim = converged_cluster(50, seed, Config::lan(50));
        sim.crash(7);
        let detected = run_until(&mut sim, Duration::from_secs(50), SECOND, |s| all_see(s, 7, Some(MemberState::Down)));
        assert!(detected.is_some(), "seed {seed}: crash not detected everywhere");
        let wrongly_down = count(&sim, 0, |e| matches!(e, Event::MemberDown { id, .. } if *id != name(7)));
        assert_eq!(wrongly_down, 0, "seed {seed}: a live node was declared down");
    }
}

// A node cut off until somebody suspects it, then reconnected, refutes with a higher
// incarnation and is never declared Down: it ends Alive everywhere.
#[test]
fn falsely_suspected_node_refutes_and_stays_alive() {
    for seed in seeds() {
        let mut sim = converged_cluster(30, seed, Config::lan(30));
        let start = sim.event_log.len();
        isolate(&mut sim, 4);
        let suspected = run_until(&mut sim, Duration::from_secs(30), Duration::from_millis(50), |s| {
            count(s, start, |e| matches!(e, Event::MemberSuspect { id, .. } if *id == name(4))) > 0
        });
        assert!(suspected.is_some(), "seed {seed}: isolation did not cause a suspicion");
        sim.heal();
        run_for(&mut sim, Duration::from_secs(60));
        assert!(node(&sim, 4).local().incarnation >= 1, "seed {seed}: no refutation");
        assert!(node(&sim, 4).stats().refutations >= 1);
        assert_eq!(downs(&sim, start), 0, "seed {seed}: a refuting node was declared down");
        assert!(all_see(&sim, 4, Some(MemberState::Alive)), "seed {seed}: not alive everywhere");
    }
}

// Metadata changed at run time reaches every member with a new incarnation, and each
// reports it as an update; setting the same metadata again changes nothing.
#[test]
fn metadata_updates_reach_everyone() {
    for seed in seeds() {
        let mut sim = converged_cluster(50, seed, Config::lan(50));
        let start = sim.event_log.len();
        sim.with_node(5, |node, now| node.set_meta(now, "role=db").unwrap());
        sim.with_node(5, |node, now| node.set_meta(now, "role=db").unwrap());
        assert_eq!(node(&sim, 5).local().incarnation, 1);
        run_for(&mut sim, Duration::from_secs(10));
        let updated: BTreeSet<usize> = sim.event_log[start..]
            .iter()
            .filter(|(_, _, e)| matches!(e, Event::MemberUpdated(m) if m.id == name(5) && &m.meta[..] == b"role=db"))
            .map(|(_, observer, _)| *observer)
            .collect();
        assert_eq!(updated.len(), 49, "seed {seed}: updated at {updated:?}");
        for i in (0..50).filter(|&i| i != 5) {
            let m = node(&sim, i).peers().find(|m| *m.id() == name(5)).unwrap();
            assert_eq!((&m.meta()[..], m.incarnation()), (&b"role=db"[..], 1), "seed {seed}: node {i}");
        }
        assert_eq!(
            sim.with_node(5, |node, now| node.set_meta(now, vec![0u8; 513])),
            Err(CommandError::MetaTooLong { len: 513 })
        );
    }
}

// A leaving node is Left everywhere, then forgotten everywhere after the reclaim time.
#[test]
fn leaving_node_is_left_everywhere_then_reclaimed() {
    for seed in seeds() {
        let mut config = Config::lan(30);
        config.reclaim_after = Duration::from_secs(20);
        let mut sim = converged_cluster(30, seed, config);
        sim.leave(5);
        let left = run_until(&mut sim, Duration::from_secs(10), Duration::from_millis(100), |s| {
            all_see(s, 5, Some(MemberState::Left))
        });
        assert!(left.is_some(), "seed {seed}: leave did not reach everyone");
        // The leaving node goes quiet once its notice is fully sent.
        let quiet = run_until(&mut sim, Duration::from_secs(10), SECOND, |s| node(s, 5).poll_timeout().is_none());
        assert!(quiet.is_some(), "seed {seed}: leaving node kept running timers");
        run_for(&mut sim, Duration::from_secs(21));
        assert!(all_see(&sim, 5, None), "seed {seed}: tombstone not reclaimed");
        assert_eq!(downs(&sim, 0), 0, "seed {seed}: leave must not look like a failure");
    }
}

// A crashed node restarted under the same name at a new address is Alive again
// everywhere, at its new address.
#[test]
fn restarted_node_with_new_address_is_alive_everywhere() {
    for seed in seeds() {
        let mut sim = converged_cluster(30, seed, Config::lan(30));
        let old_addr = sim.addr(9);
        sim.crash(9);
        let down = run_until(&mut sim, Duration::from_secs(50), SECOND, |s| all_see(s, 9, Some(MemberState::Down)));
        assert!(down.is_some(), "seed {seed}: crash not detected");
        sim.restart(9, true, &[0]);
        let new_addr = sim.addr(9);
        assert_ne!(new_addr, old_addr);
        let back = run_until(&mut sim, Duration::from_secs(30), SECOND, |s| {
            all_see(s, 9, Some(MemberState::Alive))
                && (0..s.len())
                    .filter(|&i| i != 9)
                    .all(|i| node(s, i).member(name(9).as_bytes()).unwrap().addr() == new_addr)
        });
        assert!(back.is_some(), "seed {seed}: restarted node not alive everywhere");
        assert!(node(&sim, 9).local().incarnation >= 1, "rejoin needs a new incarnation");
        assert!(converged(&sim));
    }
}

// The same seed gives identical transmits and events, through the simulator's own API (the
// scenarios test the same of the command line's runs); another seed does not.
#[test]
fn same_seed_gives_identical_runs() {
    let run = |seed| {
        let mut sim = cluster(20, seed, Config::lan(20));
        sim.net.config.loss = 0.05;
        join_all(&mut sim);
        run_for(&mut sim, Duration::from_secs(10));
        sim.crash(3);
        run_for(&mut sim, Duration::from_secs(20));
        (sim.trace_hash(), sim.event_log.len())
    };
    let a = run(11);
    assert_eq!(a, run(11));
    assert_ne!(a.0, run(12).0);
}

// Lossy links: with 10% loss, a converged cluster stays converged without false Downs.
#[test]
fn loss_does_not_cause_false_downs() {
    for seed in seeds() {
        let mut sim = converged_cluster(40, seed, Config::lan(40));
        sim.net.config.loss = 0.10;
        run_for(&mut sim, Duration::from_secs(120));
        assert_eq!(downs(&sim, 0), 0, "seed {seed}: false positives under 10% loss");
    }
}

/// False Down notices in a 40-node cluster over 120 s at `loss`, summed over `seeds`.
fn false_downs(config: &Config, loss: f64, seeds: impl Iterator<Item = u64>) -> usize {
    let mut total = 0;
    for seed in seeds {
        let mut sim = converged_cluster(40, seed, config.clone());
        sim.net.config.loss = loss;
        let start = sim.event_log.len();
        run_for(&mut sim, Duration::from_secs(120));
        total += downs(&sim, start);
    }
    total
}

// At 20% loss, Lifeguard plus the pre-Down check keep every live node Alive, where plain
// SWIM (same seeds) declares live nodes Down.
#[test]
fn lifeguard_and_verification_prevent_false_downs_under_heavy_loss() {
    let ours = Config::lan(40);
    let mut swim = Config::lan(40);
    swim.set_lifeguard(false);
    swim.verify_before_down = false;
    let with = false_downs(&ours, 0.20, seeds());
    let without = false_downs(&swim, 0.20, seeds());
    assert_eq!(with, 0, "false Downs with Lifeguard and verification");
    assert!(without > 0, "plain SWIM should show false Downs at 20% loss (else the test proves nothing)");
}

// Under 10% loss a 40-node cluster on the phi-accrual detector stays free of false Downs,
// and a crash is still detected everywhere.
#[test]
fn phi_cluster_detects_a_crash_without_false_downs_under_loss() {
    for seed in seeds() {
        let config = Config { detector: Detector::Phi, ..Config::lan(40) };
        let mut sim = converged_cluster(40, seed, config);
        sim.net.config.loss = 0.10;
        run_for(&mut sim, Duration::from_secs(60));
        sim.crash(7);
        let detected = run_until(&mut sim, Duration::from_secs(60), SECOND, |s| all_see(s, 7, Some(MemberState::Down)));
        assert!(detected.is_some(), "seed {seed}: crash not detected everywhere");
        let false_downs = count(&sim, 0, |e| matches!(e, Event::MemberDown { id, .. } if *id != name(7)));
        assert_eq!(false_downs, 0, "seed {seed}: live members declared Down");
    }
}
