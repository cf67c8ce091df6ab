//! LAN discovery on a multicast group, in a network namespace the test makes (its own
//! loopback with multicast on, so nothing leaves the machine): three agents without seeds
//! find each other; an agent of another cluster and one with another key are not joined.
//! Skipped, with a message, where namespaces cannot be made (not root, no `ip`). Every
//! wait has a deadline, and the namespace is deleted on drop.

mod common;

use common::{Agent, WAIT};
use std::process::Command;
use std::time::Duration;

const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_B: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f";

/// A network namespace with a multicast-capable loopback, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Option<Netns> {
        let name = format!("gossip-{tag}-{}", std::process::id());
        let ip = |args: &[&str]| Command::new("ip").args(args).output().map(|o| o.status.success()).unwrap_or(false);
        if !ip(&["netns", "add", &name]) {
            eprintln!("skipped: cannot create a network namespace (needs root and iproute2)");
            return None;
        }
        let netns = Netns(name);
        let setup = [
            &["link", "set", "lo", "up"][..],
            &["link", "set", "lo", "multicast", "on"],
            &["route", "add", "224.0.0.0/4", "dev", "lo"],
        ];
        for step in setup {
            if !ip(&[&["netns", "exec", &netns.0, "ip"][..], step].concat()) {
                eprintln!("skipped: cannot enable multicast on the namespace's loopback ({step:?} failed)");
                return None;
            }
        }
        Some(netns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn sees(agent: &Agent, other: &str, limit: Duration) -> bool {
    agent.wait_for(limit, |v| v["event"] == "member_up" && v["node"] == other).is_some()
}

#[test]
fn agents_without_seeds_find_each_other_on_the_group() {
    let Some(netns) = Netns::new("disc") else { return };
    let flags = ["--discover", "multicast:239.255.77.46:7950", "--cluster", "lab", "--key", KEY_A];
    let names = ["d-0", "d-1", "d-2"];
    let agents: Vec<Agent> = names.iter().map(|n| Agent::start_in(&netns.0, n, "127.0.0.1:0", &flags)).collect();
    // Strangers on the same group: another cluster, and the same cluster with another key.
    let mut other_cluster = Agent::start_in(
        &netns.0,
        "x-cluster",
        "127.0.0.1:0",
        &["--discover", "multicast:239.255.77.46:7950", "--cluster", "prod", "--key", KEY_A],
    );
    let mut other_key = Agent::start_in(
        &netns.0,
        "x-key",
        "127.0.0.1:0",
        &["--discover", "multicast:239.255.77.46:7950", "--cluster", "lab", "--key", KEY_B],
    );
    for agent in &agents {
        for other in names.iter().filter(|n| **n != agent.name) {
            assert!(sees(agent, other, WAIT), "{} never saw {other}", agent.name);
        }
    }
    // Each stranger has heard the others' announcements by now, refused and counted them,
    // and joined none of them.
    std::thread::sleep(Duration::from_secs(2));
    for stranger in [&mut other_cluster, &mut other_key] {
        stranger.send("stats");
        let stats = stranger.wait_for(WAIT, |v| v.get("transport").is_some()).expect("stats");
        assert!(stats["transport"]["discovery_refused"].as_u64() > Some(0), "{}: {stats}", stranger.name);
    }
    for stranger in [&other_cluster, &other_key] {
        for name in names {
            assert!(!sees(stranger, name, Duration::ZERO), "{} joined {name}", stranger.name);
            assert!(!sees(&agents[0], &stranger.name, Duration::ZERO), "d-0 joined {}", stranger.name);
        }
    }
}
