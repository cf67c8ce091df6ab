//! Leader election on gossip membership: the leader is the lowest live id, and it holds a
//! lease key that it renews; a node that becomes the lowest waits until the previous
//! leader's lease, as last seen renewed here, has run out before it claims.
//!
//! Run with `cargo run -p gossip-tokio --example leader`: five nodes in one process agree
//! on `node-0`, `node-0` crashes (no goodbye), and the other four agree on `node-1` once
//! the crash is detected and the old lease has run out.
//!
//! What this gives is what gossip gives: **eventual agreement**. Once membership has
//! settled, every node names the same leader, and a new leader waits out its predecessor's
//! lease. It is **not consensus**: during a partition each side elects its own leader (two
//! at once), and a paused leader may act on a lease the others think expired. Where two
//! leaders would do harm, use a consensus system (Raft, etcd, ZooKeeper) or fence the
//! leader's actions with a term number checked by whatever it acts on.
//! docs/design.md ("Leader election") says more.

use gossip_tokio::gossip_core::{Config, Event, NodeId};
use gossip_tokio::{Cluster, Options};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, interval, timeout};

/// The key a leader renews; its value is the leader's renewal count.
pub const LEASE_KEY: &str = "leader.lease";

/// One node's new opinion of who leads (`None`: nobody it knows of, yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Whose opinion.
    pub node: NodeId,
    /// The leader it now names.
    pub leader: Option<NodeId>,
}

/// Runs the election on `cluster` until its node stops, reporting every change of opinion.
///
/// Every `lease / 4` the node looks at the membership: if it is the lowest live id and no
/// other node's lease is fresh (renewed within `lease`, by this node's clock), it leads and
/// renews its own lease; if a lower live id appears, it steps down and deletes its lease
/// so the lower one need not wait. A node that is not the lowest names the lowest holder
/// of a fresh lease.
pub async fn elect(cluster: Cluster, lease: Duration, changes: mpsc::UnboundedSender<Change>) {
    let Ok(me) = cluster.members().await.map(|m| m[0].id.clone()) else { return };
    let mut events = cluster.events();
    let mut renewed: BTreeMap<NodeId, Instant> = BTreeMap::new(); // lease holder -> last renewal seen
    let mut tick = interval(lease / 4);
    let (mut believed, mut holding, mut renewals) = (None, false, 0u64);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                None => return, // the node stopped
                Some(Event::KeyChanged { owner, key, value, .. }) if key == LEASE_KEY => match value {
                    Some(_) => { renewed.insert(owner, Instant::now()); }
                    None => { renewed.remove(&owner); } // stepped down
                },
                Some(_) => {}
            },
            _ = tick.tick() => {
                let Ok(members) = cluster.members().await else { return };
                let live: BTreeSet<NodeId> =
                    members.into_iter().filter(|m| m.state.is_live()).map(|m| m.id).collect();
                renewed.retain(|_, at| at.elapsed() < lease);
                let holder = renewed.keys().find(|id| **id != me).cloned(); // the lowest fresh lease
                let lowest = live.first() == Some(&me);
                let leader = match (lowest, holder) {
                    (true, None) => Some(me.clone()),
                    (_, holder) => holder, // the old lease runs out first, or the lower one leads
                };
                if holding && leader.as_ref() != Some(&me) {
                    holding = false;
                    let _ = cluster.delete(LEASE_KEY).await;
                }
                if leader.as_ref() == Some(&me) {
                    holding = true;
                    renewals += 1;
                    let _ = cluster.set(LEASE_KEY, renewals.to_string()).await;
                }
                if leader != believed {
                    believed = leader.clone();
                    let _ = changes.send(Change { node: me.clone(), leader });
                }
            }
        }
    }
}

/// `n` nodes on loopback elect a leader; the leader crashes and the rest elect the next.
/// Returns both leaders; `print` gets every line the demo has to say.
pub async fn demo(
    n: usize,
    lease: Duration,
    mut print: impl FnMut(String),
) -> Result<(NodeId, NodeId), Box<dyn std::error::Error>> {
    let mut nodes = Vec::new();
    for i in 0..n {
        let options = Options::new(Config::local(n), format!("node-{i}"), "127.0.0.1:0".parse()?);
        nodes.push(Cluster::start(options).await?);
    }
    let seed = nodes[0].local_addr().to_string();
    nodes[0].join(Vec::<String>::new()).await?;
    for node in &nodes[1..] {
        node.join([&seed]).await?;
    }
    let (tx, mut changes) = mpsc::unbounded_channel();
    for node in &nodes {
        tokio::spawn(elect(node.clone(), lease, tx.clone()));
    }
    let mut opinions: BTreeMap<NodeId, Option<NodeId>> = BTreeMap::new();
    let start = Instant::now();
    let says = |c: &Change| {
        format!("{:5.2} s  {} says the leader is {}", start.elapsed().as_secs_f64(), c.node, name(&c.leader))
    };
    let agreed = |opinions: &BTreeMap<NodeId, Option<NodeId>>, voters: usize| {
        let leaders: BTreeSet<_> = opinions.values().collect();
        match leaders.into_iter().collect::<Vec<_>>()[..] {
            [Some(leader)] if opinions.len() == voters => Some(leader.clone()),
            _ => None,
        }
    };
    let first = loop {
        let change = timeout(Duration::from_secs(30), changes.recv()).await?.ok_or("no election")?;
        print(says(&change));
        opinions.insert(change.node, change.leader);
        if let Some(leader) = agreed(&opinions, n) {
            break leader;
        }
    };
    print(format!("{:5.2} s  all {n} agree: {first}; {first} crashes", start.elapsed().as_secs_f64()));
    let crashed = nodes.remove(leader_index(&first).ok_or("a leader the demo did not start")?);
    crashed.shutdown().await;
    opinions.remove(&first);
    let next = loop {
        let change = timeout(Duration::from_secs(30), changes.recv()).await?.ok_or("no election")?;
        print(says(&change));
        if change.node != first {
            opinions.insert(change.node, change.leader);
        }
        if let Some(leader) = agreed(&opinions, n - 1).filter(|l| *l != first) {
            break leader;
        }
    };
    print(format!("{:5.2} s  the other {} agree: {next}", start.elapsed().as_secs_f64(), n - 1));
    for node in nodes {
        node.leave().await?;
    }
    Ok((first, next))
}

/// The index of `node-{i}` in the demo's list.
fn leader_index(id: &NodeId) -> Option<usize> {
    String::from_utf8_lossy(id.as_bytes()).strip_prefix("node-")?.parse().ok()
}

fn name(leader: &Option<NodeId>) -> String {
    leader.as_ref().map_or_else(|| "nobody yet".to_owned(), ToString::to_string)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    demo(5, Duration::from_secs(2), |line| println!("{line}")).await?;
    Ok(())
}
