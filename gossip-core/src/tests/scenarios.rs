//! Membership behaviour on the multi-node harness: join, crash, refute, leave, restart,
//! determinism. Each test runs several seeds.

use super::util::{Harness, addr_of, name};
use crate::{Config, Event, MemberState};
use core::time::Duration;

/// Seeds 1..=N, where N is `GOSSIP_TEST_SEEDS` (default 3): set it higher for a deeper
/// sweep; a failure names its seed, and that seed replays it exactly.
fn seeds() -> impl Iterator<Item = u64> {
    let n = std::env::var("GOSSIP_TEST_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    1..=n
}
const SECOND: Duration = Duration::from_secs(1);

fn converged_cluster(n: usize, seed: u64, config: Config) -> Harness {
    let mut h = Harness::new(n, seed, config);
    h.join_all();
    let t = h.run_until(Duration::from_secs(60), SECOND, Harness::converged);
    assert!(t.is_some(), "seed {seed}: {n} nodes did not converge in 60 s");
    h
}

// 50 nodes joining through one seed all end up seeing all 49 others Alive: as peers, and
// in `members`, which lists the node itself first (as `Cluster::members` does).
#[test]
fn fifty_nodes_join_through_one_seed_and_all_see_all() {
    for seed in seeds() {
        let h = converged_cluster(50, seed, Config::lan(50));
        for i in 0..50 {
            let node = h.node(i);
            assert_eq!(node.peers().count(), 49, "seed {seed} node {i}");
            let members: Vec<_> = node.members().collect();
            assert_eq!((members.len(), &members[0]), (50, &node.local()), "seed {seed} node {i}");
            assert!(members[1..].iter().all(|m| m.state == crate::MemberState::Alive));
        }
        assert!(h.events.iter().any(|(_, i, e)| *i == 1 && *e == Event::Joined));
        assert!(h.max_datagram <= 1400);
    }
}

// A join reply is merged quietly: the members it names are not re-gossiped by the joiner
// (the seed already spreads them; the n² re-gossip is what makes mass joins slow), and the
// catch-up sync fills what gossip then misses. With catch-up off, the joiner re-gossips
// everything, as memberlist does. Either way the cluster converges.
#[test]
fn a_join_reply_is_merged_quietly_and_catch_up_syncs_converge() {
    for seed in seeds() {
        for catch_up in [Duration::from_secs(1), Duration::ZERO] {
            let mut config = Config::lan(40);
            config.catch_up_sync = catch_up;
            let mut h = Harness::new(40, seed, config);
            h.join_all();
            let last = 39;
            h.run_until(SECOND, Duration::from_millis(1), |h| h.node(last).peers().count() > 0);
            let (learned, queued) = (h.node(last).peers().count(), h.node(last).pending_news());
            assert!(learned >= 30, "seed {seed}: the join reply named {learned} members");
            if catch_up.is_zero() {
                assert!(queued >= learned, "seed {seed}: {queued} queued of {learned} learned");
            } else {
                assert!(queued <= 2, "seed {seed}: {queued} queued after a quiet merge of {learned}");
            }
            let t = h.run_until(Duration::from_secs(60), SECOND, Harness::converged);
            assert!(t.is_some(), "seed {seed}, catch-up {catch_up:?}: no convergence in 60 s");
        }
    }
}

// A crashed node is marked Down by every live node, and nobody else is.
#[test]
fn crashed_node_is_marked_down_by_every_live_node() {
    for seed in seeds() {
        let mut h = converged_cluster(50, seed, Config::lan(50));
        h.crash(7);
        let detected = h.run_until(Duration::from_secs(50), SECOND, |h| h.all_see(7, Some(MemberState::Down)));
        assert!(detected.is_some(), "seed {seed}: crash not detected everywhere");
        let wrongly_down =
            h.events.iter().filter(|(_, _, e)| matches!(e, Event::MemberDown { id, .. } if *id != name(7))).count();
        assert_eq!(wrongly_down, 0, "seed {seed}: a live node was declared down");
    }
}

// A node cut off until somebody suspects it, then reconnected, refutes with a higher
// incarnation and is never declared Down: it ends Alive everywhere.
#[test]
fn falsely_suspected_node_refutes_and_stays_alive() {
    for seed in seeds() {
        let mut h = converged_cluster(30, seed, Config::lan(30));
        let start = h.events.len();
        h.isolate(4, Duration::from_secs(60));
        let suspected = h.run_until(Duration::from_secs(30), Duration::from_millis(50), |h| {
            h.events[start..].iter().any(|(_, _, e)| matches!(e, Event::MemberSuspect { id, .. } if *id == name(4)))
        });
        assert!(suspected.is_some(), "seed {seed}: isolation did not cause a suspicion");
        h.reconnect(4);
        h.run_for(Duration::from_secs(60));
        assert!(h.node(4).local().incarnation >= 1, "seed {seed}: no refutation");
        assert!(h.node(4).stats().refutations >= 1);
        let downed = h.events[start..].iter().any(|(_, _, e)| matches!(e, Event::MemberDown { .. }));
        assert!(!downed, "seed {seed}: a refuting node was declared down");
        assert!(h.all_see(4, Some(MemberState::Alive)), "seed {seed}: not alive everywhere");
    }
}

// Metadata changed at run time reaches every member with a new incarnation, and each
// reports it as an update; setting the same metadata again changes nothing.
#[test]
fn metadata_updates_reach_everyone() {
    for seed in seeds() {
        let mut h = converged_cluster(50, seed, Config::lan(50));
        let start = h.events.len();
        h.with(5, |node, _| node.set_meta(node.now(), "role=db").unwrap());
        h.with(5, |node, _| node.set_meta(node.now(), "role=db").unwrap());
        assert_eq!(h.node(5).local().incarnation, 1);
        h.run_for(Duration::from_secs(10));
        let updated: std::collections::BTreeSet<usize> = h.events[start..]
            .iter()
            .filter(|(_, _, e)| matches!(e, Event::MemberUpdated(m) if m.id == name(5) && &m.meta[..] == b"role=db"))
            .map(|(_, observer, _)| *observer)
            .collect();
        assert_eq!(updated.len(), 49, "seed {seed}: updated at {updated:?}");
        for i in (0..50).filter(|&i| i != 5) {
            let m = h.node(i).peers().find(|m| *m.id() == name(5)).unwrap();
            assert_eq!((&m.meta()[..], m.incarnation()), (&b"role=db"[..], 1), "seed {seed}: node {i}");
        }
        assert_eq!(
            h.with(5, |node, _| node.set_meta(node.now(), vec![0u8; 513])),
            Err(crate::CommandError::MetaTooLong { len: 513 })
        );
    }
}

// A leaving node is Left everywhere, then forgotten everywhere after the reclaim time.
#[test]
fn leaving_node_is_left_everywhere_then_reclaimed() {
    for seed in seeds() {
        let mut config = Config::lan(30);
        config.reclaim_after = Duration::from_secs(20);
        let mut h = converged_cluster(30, seed, config);
        h.with(5, |n, now| n.leave(now).unwrap());
        let left =
            h.run_until(Duration::from_secs(10), Duration::from_millis(100), |h| h.all_see(5, Some(MemberState::Left)));
        assert!(left.is_some(), "seed {seed}: leave did not reach everyone");
        // The leaving node goes quiet once its notice is fully sent.
        let quiet = h.run_until(Duration::from_secs(10), SECOND, |h| h.node(5).poll_timeout().is_none());
        assert!(quiet.is_some(), "seed {seed}: leaving node kept running timers");
        h.run_for(Duration::from_secs(21));
        assert!(h.all_see(5, None), "seed {seed}: tombstone not reclaimed");
        let downs = h.events.iter().filter(|(_, _, e)| matches!(e, Event::MemberDown { .. })).count();
        assert_eq!(downs, 0, "seed {seed}: leave must not look like a failure");
    }
}

// A crashed node restarted under the same name at a new address is Alive again
// everywhere, at its new address.
#[test]
fn restarted_node_with_new_address_is_alive_everywhere() {
    for seed in seeds() {
        let mut h = converged_cluster(30, seed, Config::lan(30));
        h.crash(9);
        let down = h.run_until(Duration::from_secs(50), SECOND, |h| h.all_see(9, Some(MemberState::Down)));
        assert!(down.is_some(), "seed {seed}: crash not detected");
        let new_addr = addr_of(9, 1);
        h.restart(9, new_addr, 0);
        let back = h.run_until(Duration::from_secs(30), SECOND, |h| {
            h.all_see(9, Some(MemberState::Alive))
                && (0..h.len())
                    .filter(|&i| i != 9)
                    .all(|i| h.node(i).member(name(9).as_bytes()).unwrap().addr() == new_addr)
        });
        assert!(back.is_some(), "seed {seed}: restarted node not alive everywhere");
        assert!(h.node(9).local().incarnation >= 1, "rejoin needs a new incarnation");
        assert!(h.converged());
    }
}

// The same seed gives identical transmits and events; another seed does not.
#[test]
fn same_seed_gives_identical_runs() {
    let run = |seed| {
        let mut h = Harness::new(20, seed, Config::lan(20));
        h.loss = 0.05;
        h.join_all();
        h.run_for(Duration::from_secs(10));
        h.crash(3);
        h.run_for(Duration::from_secs(20));
        (h.digest, h.events.len())
    };
    let a = run(11);
    assert_eq!(a, run(11));
    assert_ne!(a.0, run(12).0);
}

// Lossy links: with 10% loss, a converged cluster stays converged without false Downs.
#[test]
fn loss_does_not_cause_false_downs() {
    for seed in seeds() {
        let mut h = converged_cluster(40, seed, Config::lan(40));
        h.loss = 0.10;
        h.run_for(Duration::from_secs(120));
        let downs = h.events.iter().filter(|(_, _, e)| matches!(e, Event::MemberDown { .. })).count();
        assert_eq!(downs, 0, "seed {seed}: false positives under 10% loss");
    }
}

/// False Down notices in a 40-node cluster over 120 s at `loss`, summed over `seeds`.
fn false_downs(config: &Config, loss: f64, seeds: impl Iterator<Item = u64>) -> usize {
    let mut total = 0;
    for seed in seeds {
        let mut h = converged_cluster(40, seed, config.clone());
        h.loss = loss;
        let start = h.events.len();
        h.run_for(Duration::from_secs(120));
        total += h.events[start..].iter().filter(|(_, _, e)| matches!(e, Event::MemberDown { .. })).count();
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
