//! A cluster of real hosts on one machine: seven agents, each in a network namespace of its
//! own with an address on a bridge (in one more namespace) that the test builds. Two hosts
//! are cut off the bridge for 20 s (each is then alone), then restored, and both sides must agree again, all seven alive
//! everywhere, within 30 s of the heal. Skipped, with a message, where namespaces cannot be
//! made (not root, no `ip`). Everything the test made is deleted on drop; every wait has a
//! deadline. Nothing leaves the machine: the addresses live only on the test's bridge.

mod common;

use common::Agent;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `ip ARGS`; whether it succeeded.
fn ip(args: &[&str]) -> bool {
    Command::new("ip").args(args).output().map(|o| o.status.success()).unwrap_or(false)
}

/// `n` hosts on one bridge: namespace `{prefix}-{i}` has `eth0` at 10.77.0.{i+1}/24, its
/// peer `p{i}` sits on `br0` in namespace `{prefix}-br`.
struct Hosts {
    prefix: String,
    n: usize,
}

impl Hosts {
    fn new(n: usize) -> Option<Hosts> {
        let prefix = format!("gh{}", std::process::id());
        let bridge = format!("{prefix}-br");
        if !ip(&["netns", "add", &bridge]) {
            eprintln!("skipped: cannot create network namespaces (needs root and iproute2)");
            return None;
        }
        let mut hosts = Hosts { prefix, n: 0 };
        let in_bridge = |args: &[&str]| ip(&[&["netns", "exec", &bridge, "ip"][..], args].concat());
        if !(in_bridge(&["link", "add", "br0", "type", "bridge"]) && in_bridge(&["link", "set", "br0", "up"])) {
            eprintln!("skipped: cannot make a bridge in a namespace");
            return None;
        }
        for i in 0..n {
            let host = hosts.name(i);
            let (peer, addr) = (format!("p{i}"), format!("{}/24", Hosts::addr(i)));
            let in_host = |args: &[&str]| ip(&[&["netns", "exec", &host, "ip"][..], args].concat());
            let ok = ip(&["netns", "add", &host])
                && {
                    hosts.n = i + 1;
                    ip(&[
                        "link", "add", "eth0", "netns", &host, "type", "veth", "peer", "name", &peer, "netns", &bridge,
                    ])
                }
                && in_bridge(&["link", "set", &peer, "master", "br0"])
                && in_bridge(&["link", "set", &peer, "up"])
                && in_host(&["addr", "add", &addr, "dev", "eth0"])
                && in_host(&["link", "set", "eth0", "up"])
                && in_host(&["link", "set", "lo", "up"]);
            if !ok {
                eprintln!("skipped: cannot wire host {i} to the bridge");
                return None;
            }
        }
        Some(hosts)
    }

    fn name(&self, i: usize) -> String {
        format!("{}-{i}", self.prefix)
    }

    fn addr(i: usize) -> String {
        format!("10.77.0.{}", i + 1)
    }

    /// Takes host `i` off the bridge (`false`) or puts it back (`true`).
    fn link(&self, i: usize, up: bool) {
        let bridge = format!("{}-br", self.prefix);
        let state = if up { "up" } else { "down" };
        assert!(ip(&["netns", "exec", &bridge, "ip", "link", "set", &format!("p{i}"), state]), "link p{i} {state}");
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for i in 0..self.n {
            let _ = ip(&["netns", "del", &self.name(i)]);
        }
        let _ = ip(&["netns", "del", &format!("{}-br", self.prefix)]);
    }
}

/// Waits until every agent lists exactly `names` alive; false after `limit`.
fn agree(agents: &mut [Agent], names: &[String], limit: Duration) -> bool {
    let end = Instant::now() + limit;
    loop {
        let all = agents.iter_mut().all(|a| {
            let mut alive = a.alive();
            alive.sort();
            alive == names
        });
        if all {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn two_of_seven_hosts_cut_off_for_20_s_agree_again_within_30_s_of_the_heal() {
    let Some(hosts) = Hosts::new(7) else { return };
    let seed = format!("{}:7946", Hosts::addr(0));
    let mut agents: Vec<Agent> = (0..7)
        .map(|i| {
            let bind = format!("{}:7946", Hosts::addr(i));
            let join = if i == 0 { vec![] } else { vec!["--join", seed.as_str()] };
            Agent::start_in(&hosts.name(i), &format!("host-{i}"), &bind, &join)
        })
        .collect();
    let mut everyone: Vec<String> = (0..7).map(|i| format!("host-{i}")).collect();
    everyone.sort();
    assert!(agree(&mut agents, &everyone, Duration::from_secs(30)), "the seven never converged");

    hosts.link(5, false);
    hosts.link(6, false);
    let cut = Instant::now();
    let (left, right) = agents.split_at_mut(5);
    assert!(agree(left, &everyone[..5], Duration::from_secs(20)), "the majority never saw the cut");
    // Each host cut off is alone: its link to the bridge is its only one.
    for (i, agent) in right.iter_mut().enumerate() {
        let alone = [everyone[5 + i].clone()];
        assert!(
            agree(std::slice::from_mut(agent), &alone, Duration::from_secs(20)),
            "host-{} never saw the cut",
            5 + i
        );
    }
    std::thread::sleep(Duration::from_secs(20).saturating_sub(cut.elapsed()));
    hosts.link(5, true);
    hosts.link(6, true);
    let healed = Instant::now();
    assert!(agree(&mut agents, &everyone, Duration::from_secs(30)), "the sides did not agree within 30 s of the heal");
    eprintln!("both sides agree {:.1} s after the heal", healed.elapsed().as_secs_f64());
}
