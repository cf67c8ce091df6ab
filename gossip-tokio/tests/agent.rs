//! `gossip-agent` processes on 127.0.0.1 (and ::1), started from the test and read through
//! their JSON-lines stdout: kill -9, leave, set, a wrong key, key rotation, IPv6. Every
//! wait is bounded and every child is killed on drop, so the tests stop by themselves.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_B: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f";
const WAIT: Duration = Duration::from_secs(30);

/// One agent process and everything it printed.
struct Agent {
    name: String,
    addr: String,
    child: Child,
    stdin: ChildStdin,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Agent {
    /// Starts an agent on `bind` (port 0: any) with fast loopback timings and `extra` flags,
    /// and waits for its `started` line.
    fn start(name: &str, bind: &str, extra: &[&str]) -> Option<Agent> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gossip-agent"))
            .args(["--name", name, "--bind", bind, "--profile", "local"])
            .args(["--set", "probe_interval=300ms", "--set", "probe_timeout=100ms", "--set", "gossip_interval=50ms"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the agent binary runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
                sink.lock().unwrap().push(value);
            }
        });
        let mut agent = Agent { name: name.into(), addr: String::new(), child, stdin, lines };
        let started = agent.wait_for(Duration::from_secs(10), |v| v["event"] == "started");
        let Some(started) = started else {
            let _ = agent.child.kill();
            return None; // it could not bind (no IPv6, say); it said why on stderr
        };
        agent.addr = started["addr"].as_str().unwrap().to_owned();
        Some(agent)
    }

    fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The first line matching `want`, waiting up to `limit` for it.
    fn wait_for(&self, limit: Duration, want: impl Fn(&Value) -> bool) -> Option<Value> {
        let end = Instant::now() + limit;
        loop {
            if let Some(v) = self.lines.lock().unwrap().iter().find(|v| want(v)) {
                return Some(v.clone());
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn saw(&self, event: &str, node: &str) -> bool {
        self.lines.lock().unwrap().iter().any(|v| v["event"] == event && v["node"] == node)
    }

    fn expect_event(&self, event: &str, node: &str) {
        let found = self.wait_for(WAIT, |v| v["event"] == event && v["node"] == node);
        assert!(found.is_some(), "{} never printed {event} for {node}", self.name);
    }

    /// The names in this agent's `members` answer (a JSON list), with their states.
    fn members(&mut self) -> Vec<(String, String)> {
        let before = self.lines.lock().unwrap().len();
        self.send("members");
        let end = Instant::now() + WAIT;
        loop {
            if let Some(list) = self.lines.lock().unwrap()[before..].iter().find_map(|v| v.as_array().cloned()) {
                return list
                    .iter()
                    .map(|m| (m["node"].as_str().unwrap().to_owned(), m["state"].as_str().unwrap().to_owned()))
                    .collect();
            }
            assert!(Instant::now() < end, "{} never answered members", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn alive_count(&mut self) -> usize {
        self.members().iter().filter(|(_, state)| state == "alive").count()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` agents named `{prefix}-{i}` on `host`, each joining the first.
fn cluster(prefix: &str, host: &str, n: usize, extra: &[&str]) -> Option<Vec<Agent>> {
    let first = Agent::start(&format!("{prefix}-0"), &format!("{host}:0"), extra)?;
    let seed = first.addr.clone();
    let mut agents = vec![first];
    for i in 1..n {
        let mut flags = vec!["--join", &seed];
        flags.extend_from_slice(extra);
        agents.push(Agent::start(&format!("{prefix}-{i}"), &format!("{host}:0"), &flags).expect("bind loopback"));
    }
    Some(agents)
}

fn until_all_alive(agents: &mut [Agent], n: usize) {
    let end = Instant::now() + WAIT;
    for agent in agents.iter_mut() {
        while agent.alive_count() != n {
            assert!(Instant::now() < end, "{} never saw {n} alive members", agent.name);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn five_agents_see_a_kill_a_leave_a_key_and_never_admit_a_wrong_key() {
    let mut agents = cluster("a", "127.0.0.1", 5, &["--key", KEY_A]).expect("bind loopback");
    let seed = agents[0].addr.clone();
    let mut intruder = Agent::start("intruder", "127.0.0.1:0", &["--join", &seed, "--key", KEY_B]).unwrap();
    until_all_alive(&mut agents, 5);

    agents[1].send("set color blue");
    for agent in agents.iter().filter(|a| a.name != "a-1") {
        let seen = agent.wait_for(WAIT, |v| v["event"] == "key" && v["node"] == "a-1" && v["key"] == "color");
        assert_eq!(seen.expect("the key event")["value"], "blue", "{}", agent.name);
    }

    let mut killed = agents.remove(4);
    killed.child.kill().unwrap(); // SIGKILL: no goodbye
    let _ = killed.child.wait();
    for agent in &agents {
        agent.expect_event("member_down", "a-4");
    }

    agents[3].send("leave");
    let status = wait_exit(&mut agents[3].child);
    assert!(status.success(), "leave exits 0");
    for agent in &agents[..3] {
        agent.expect_event("member_left", "a-3");
        assert!(!agent.saw("member_down", "a-3"), "a leave is not a failure");
    }

    for agent in agents[..3].iter_mut() {
        let names: Vec<String> = agent.members().into_iter().map(|(n, _)| n).collect();
        assert!(!names.contains(&"intruder".to_owned()), "{} lists the intruder: {names:?}", agent.name);
        assert!(!agent.saw("member_up", "intruder"));
    }
    assert_eq!(intruder.alive_count(), 1, "the intruder only knows itself");
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let end = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < end, "the agent did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_agents_rotate_their_key_without_a_false_down() {
    let mut agents = cluster("r", "127.0.0.1", 3, &["--key", KEY_A]).expect("bind loopback");
    until_all_alive(&mut agents, 3);
    for step in [format!("key add {KEY_B}"), format!("key use {KEY_B}"), format!("key remove {KEY_A}")] {
        for agent in agents.iter_mut() {
            agent.send(&step);
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    std::thread::sleep(Duration::from_secs(3)); // several probe rounds on the new key alone
    until_all_alive(&mut agents, 3);
    for agent in &agents {
        let lines = agent.lines.lock().unwrap();
        let bad: Vec<&Value> =
            lines.iter().filter(|v| v["event"] == "member_down" || v["event"] == "member_suspect").collect();
        assert!(bad.is_empty(), "{} saw {bad:?}", agent.name);
    }
    // The old key no longer gets in: the seed refuses what the late node sends (it does
    // arrive: the seed counts packets it cannot open), and the late node stays alone.
    let decrypt_failures = |agent: &mut Agent| {
        agent.send("stats");
        let line = agent.wait_for(WAIT, |v| v.get("stats").is_some()).expect("stats");
        agent.lines.lock().unwrap().retain(|v| v.get("stats").is_none());
        line["stats"]["drops_by_reason"]["decrypt"].as_u64().unwrap()
    };
    let before = decrypt_failures(&mut agents[0]);
    let seed = agents[0].addr.clone();
    let mut late = Agent::start("late", "127.0.0.1:0", &["--join", &seed, "--key", KEY_A]).unwrap();
    let end = Instant::now() + WAIT;
    while decrypt_failures(&mut agents[0]) == before {
        assert!(Instant::now() < end, "the late node's packets never reached the seed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(late.alive_count(), 1, "a node with the removed key is not admitted");
    assert!(!agents[0].saw("member_up", "late"));
}

#[test]
fn agents_form_a_cluster_over_ipv6_loopback() {
    let Some(probe) = Agent::start("v6-probe", "[::1]:0", &[]) else {
        eprintln!("skipping: this machine cannot bind [::1] (no IPv6 loopback)");
        return;
    };
    drop(probe);
    let mut agents = cluster("v6", "[::1]", 3, &[]).expect("[::1] bound a moment ago");
    until_all_alive(&mut agents, 3);
    agents[0].send("broadcast hello over v6");
    for agent in &agents[1..] {
        let got = agent.wait_for(WAIT, |v| v["event"] == "broadcast");
        assert_eq!(got.expect("the broadcast")["payload"], "hello over v6");
    }
}

#[test]
fn an_agent_takes_its_settings_from_a_toml_file_and_names_a_bad_one() {
    let dir = std::env::temp_dir().join(format!("gossip-agent-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "name = \"from-file\"\ncluster = \"prod\"\n[settings]\nsuspicion_mult = 3\nprobe_timeout = \"150ms\"\n",
    )
    .unwrap();
    let agent = Agent::start("from-flag", "127.0.0.1:0", &["--config", good.to_str().unwrap()]).expect("starts");
    let started = agent.wait_for(WAIT, |v| v["event"] == "started").unwrap();
    assert_eq!(started["node"], "from-flag", "a flag wins over the file");
    assert_eq!(started["cluster"], "prod", "the file's cluster applies");
    // The file's suspicion_mult applies; its probe_timeout loses to the flag's 100 ms.
    let mut expected = gossip_core::Config::local(256);
    for (field, value) in [("probe_interval", "300ms"), ("probe_timeout", "100ms"), ("suspicion_mult", "3")] {
        expected.set_field(field, value).unwrap();
    }
    assert_eq!(started["tolerated_silence_ms"], expected.tolerated_silence().as_millis() as u64, "{started}");
    assert_ne!(
        started["tolerated_silence_ms"],
        gossip_core::Config::local(256).tolerated_silence().as_millis() as u64,
        "the settings differ from the preset's"
    );
    drop(agent);
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[settings]\nsuspicion_mult = \"many\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gossip-agent"))
        .args(["--name", "x", "--bind", "127.0.0.1:0", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("suspicion_mult=many"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
