//! A cluster of real `gossip-core` nodes on virtual time: watch membership converge, then
//! a crash being detected. Runs in about a second.
//!
//! ```text
//! cargo run --release -p gossip-core --example cluster -- [NODES] [SEED]
//! ```
//!
//! It drives the nodes with the same harness the crate's tests use (seeded latency of
//! 1-5 ms per packet, every packet really encoded and decoded). `gossip-sim` (issue 3)
//! grows this into the full simulator.

// The harness refers to the library as `crate::`; re-export it at this crate's root.
pub use gossip_core::*;

#[path = "../src/tests/util.rs"]
#[allow(dead_code)]
mod util;

use core::time::Duration;
use util::{Harness, name};

fn main() {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let wall = std::time::Instant::now();
    let mut h = Harness::new(nodes, seed, Config::lan(nodes));
    println!("{nodes} nodes join through node-0 (seed {seed}), 10 ms apart");
    h.join_all();
    let joined_at = h.now;
    let converged = h.run_until(Duration::from_secs(120), Duration::from_millis(250), |h| {
        let full = (0..h.len()).filter(|&i| h.node(i).live_members() == h.len() - 1).count();
        println!("  t={:>6.2}s  {full:>4}/{} nodes see every other member", h.now.as_secs_f64(), h.len());
        h.converged()
    });
    match converged {
        Some(t) => println!("converged {:.2} s after the last join", t.saturating_since(joined_at).as_secs_f64()),
        None => println!("did not converge in 120 s"),
    }

    let victim = nodes / 2;
    println!("\nnode-{victim} crashes");
    h.crash(victim);
    let crashed_at = h.now;
    let mut first = None;
    let all = h.run_until(Duration::from_secs(120), Duration::from_millis(100), |h| {
        let down = (0..h.len()).filter(|&i| h.is_up(i) && h.view(i, victim) == Some(MemberState::Down)).count();
        down == h.len() - 1
    });
    for (t, _, e) in &h.events {
        if matches!(e, Event::MemberDown { id, .. } if *id == name(victim)) {
            first = first.or(Some(t.saturating_since(crashed_at)));
        }
    }
    let false_downs =
        h.events.iter().filter(|(_, _, e)| matches!(e, Event::MemberDown { id, .. } if *id != name(victim))).count();
    if let Some(first) = first {
        println!("first live node marked it Down after {:.2} s", first.as_secs_f64());
    }
    match all {
        Some(t) => {
            println!("every live node marked it Down after {:.2} s", t.saturating_since(crashed_at).as_secs_f64())
        }
        None => println!("not every live node marked it Down within 120 s"),
    }
    let (bytes, packets): (u64, u64) = (0..h.len())
        .filter(|&i| h.is_up(i))
        .map(|i| (h.node(i).stats().bytes_out, h.node(i).stats().packets_out))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let per = (nodes as f64) * h.now.as_secs_f64();
    println!("\nfalse Down notices about live nodes: {false_downs}");
    println!("largest datagram: {} bytes (MTU {})", h.max_datagram, h.config.mtu);
    println!(
        "traffic: {:.0} bytes and {:.1} packets per node per simulated second",
        bytes as f64 / per,
        packets as f64 / per
    );
    println!(
        "simulated {:.1} s in {:.2} s of wall time; trace digest {:016x}",
        h.now.as_secs_f64(),
        wall.elapsed().as_secs_f64(),
        h.digest
    );
}
