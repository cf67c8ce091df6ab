//! What the protocol tests share: a cluster on the simulator formed the way an operator
//! would (one founder, the others joining through it 10 ms apart), stepped in fixed steps,
//! and read through the nodes' own state rather than the simulator's ground truth.

use core::time::Duration;
use gossip_sim::gossip_core::wire::{Header, Message};
use gossip_sim::gossip_core::{Config, Event, MemberState, Node, Time};
use gossip_sim::rng::SplitMix;
use gossip_sim::sim::address;
use gossip_sim::{NetConfig, Sim};

pub const SECOND: Duration = Duration::from_secs(1);

/// Seeds 1..=N, where N is `GOSSIP_TEST_SEEDS` (default 3): set it higher for a deeper
/// sweep; a failure names its seed, and that seed replays it exactly.
pub fn seeds() -> impl Iterator<Item = u64> {
    let n = std::env::var("GOSSIP_TEST_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    1..=n
}

/// `n` nodes (none started) on a lossless network with 1-5 ms of latency, every event
/// kept in [`Sim::event_log`].
pub fn cluster(n: usize, seed: u64, config: Config) -> Sim {
    let mut sim = Sim::new(n, seed, config, NetConfig::default());
    sim.log_events = true;
    sim
}

/// Node 0 founds the cluster; every other node joins through it, 10 ms apart.
pub fn join_all(sim: &mut Sim) {
    join_first(sim, sim.len());
}

/// Nodes `0..k` as in [`join_all`]; the others stay down.
pub fn join_first(sim: &mut Sim, k: usize) {
    sim.start(0, &[]);
    for i in 1..k {
        run_for(sim, Duration::from_millis(10));
        sim.start(i, &[0]);
    }
}

/// `n` nodes joined as in [`join_all`] and converged ([`converged`]) within 60 s.
pub fn converged_cluster(n: usize, seed: u64, config: Config) -> Sim {
    let mut sim = cluster(n, seed, config);
    join_all(&mut sim);
    let t = run_until(&mut sim, Duration::from_secs(60), SECOND, converged);
    assert!(t.is_some(), "seed {seed}: {n} nodes did not converge in 60 s");
    sim
}

/// Advances virtual time by `d`. No datagram sent so far may exceed the MTU.
pub fn run_for(sim: &mut Sim, d: Duration) {
    let end = sim.now.saturating_add(d);
    sim.run_until(end, |_| false);
    assert!(sim.traffic.max_datagram <= sim.config.mtu, "a datagram over the MTU: {}", sim.traffic.max_datagram);
}

/// Runs in steps of `step` until `done` holds or `limit` passes; returns when it held.
pub fn run_until(sim: &mut Sim, limit: Duration, step: Duration, done: impl Fn(&Sim) -> bool) -> Option<Time> {
    let end = sim.now.saturating_add(limit);
    while sim.now < end {
        if done(sim) {
            return Some(sim.now);
        }
        run_for(sim, step);
    }
    done(sim).then_some(sim.now)
}

/// Running node `i`.
pub fn node(sim: &Sim, i: usize) -> &Node<SplitMix> {
    sim.node(i).unwrap_or_else(|| panic!("node {i} is not running"))
}

/// The running nodes.
pub fn up(sim: &Sim) -> impl Iterator<Item = usize> + '_ {
    (0..sim.len()).filter(|&i| sim.node(i).is_some())
}

/// Whether every running node other than `j` sees `j` in `state` (`None`: does not know it).
pub fn all_see(sim: &Sim, j: usize, state: Option<MemberState>) -> bool {
    up(sim).filter(|&i| i != j).all(|i| sim.view(i, j) == state)
}

/// Whether every running node sees every other running node Alive, and no one else live.
pub fn converged(sim: &Sim) -> bool {
    let up: Vec<usize> = up(sim).collect();
    up.iter().all(|&i| {
        node(sim, i).live_members() == up.len() - 1
            && up.iter().all(|&j| i == j || sim.view(i, j) == Some(MemberState::Alive))
    })
}

/// How many logged events from index `since` on match `f`.
pub fn count(sim: &Sim, since: usize, f: impl Fn(&Event) -> bool) -> usize {
    sim.event_log[since..].iter().filter(|(_, _, e)| f(e)).count()
}

/// How many `MemberDown` events were logged from index `since` on.
pub fn downs(sim: &Sim, since: usize) -> usize {
    count(sim, since, |e| matches!(e, Event::MemberDown { .. }))
}

/// Cuts node `i` off from every other node (both ways) until [`Sim::heal`].
pub fn isolate(sim: &mut Sim, i: usize) {
    sim.partition(|j| u16::from(j == i));
}

/// An address no node uses: `address(i, generation)` past the restarts a test makes.
pub fn elsewhere(i: usize, generation: u64) -> std::net::SocketAddr {
    address(i, generation)
}

/// A datagram of `messages` from `sender` in `cluster` (the nodes' is empty).
pub fn packet(cluster: &[u8], sender: &[u8], messages: &[Message<'_>]) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    Header { cluster, sender }.encode(&mut out);
    for m in messages {
        m.encode(&mut out);
    }
    out.to_vec()
}
