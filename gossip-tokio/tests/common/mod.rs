//! Agents with `--http` on 127.0.0.1 for the HTTP, client and dashboard tests: each is a
//! real `gossip-agent` process, killed on drop, and every wait has a deadline.
#![allow(dead_code)] // each test file uses its own part

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(30);
pub const AGENT: &str = env!("CARGO_BIN_EXE_gossip-agent");

/// One agent process, with what it printed on stdout (JSON lines) and stderr (text).
pub struct Agent {
    pub name: String,
    /// Its gossip address.
    pub addr: String,
    /// Its HTTP address.
    pub http: String,
    pub child: Child,
    pub stdin: ChildStdin,
    pub lines: Arc<Mutex<Vec<Value>>>,
    pub errors: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    /// Starts an agent on 127.0.0.1 with fast loopback timings, its HTTP API on any free
    /// port, and `extra` flags; waits for its `started` line.
    pub fn start(name: &str, extra: &[&str]) -> Agent {
        Agent::start_on(name, "127.0.0.1:0", extra)
    }

    /// [`Agent::start`] on the gossip address `bind`.
    pub fn start_on(name: &str, bind: &str, extra: &[&str]) -> Agent {
        Agent::spawn(Command::new(AGENT), name, bind, extra)
    }

    /// [`Agent::start`] inside the network namespace `netns` (`ip netns exec`); its HTTP
    /// address is in there too, out of the test's reach: read its stdout instead.
    pub fn start_in(netns: &str, name: &str, bind: &str, extra: &[&str]) -> Agent {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", netns, AGENT]);
        Agent::spawn(command, name, bind, extra)
    }

    /// The names of the members this agent lists alive (its `members` command on stdin).
    pub fn alive(&mut self) -> Vec<String> {
        let before = self.lines.lock().unwrap().len();
        self.send("members");
        let list = poll(WAIT, || self.lines.lock().unwrap()[before..].iter().find(|v| v.is_array()).cloned());
        let list = list.unwrap_or_else(|| panic!("{} did not list its members", self.name));
        let alive = list.as_array().unwrap().iter().filter(|m| m["state"] == "alive");
        alive.map(|m| m["node"].as_str().unwrap().to_owned()).collect()
    }

    fn spawn(mut command: Command, name: &str, bind: &str, extra: &[&str]) -> Agent {
        let mut child = command
            .args(["--name", name, "--bind", bind, "--profile", "local", "--http", "127.0.0.1:0"])
            .args(["--set", "probe_interval=300ms", "--set", "probe_timeout=100ms", "--set", "gossip_interval=50ms"])
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("GOSSIP_HTTP_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the agent binary runs");
        let stdin = child.stdin.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (sink, stdout) = (lines.clone(), child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
                sink.lock().unwrap().push(value);
            }
        });
        let (sink, stderr) = (errors.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut agent =
            Agent { name: name.into(), addr: String::new(), http: String::new(), child, stdin, lines, errors };
        let started = agent.wait_for(Duration::from_secs(10), |v| v["event"] == "started");
        let started = started.unwrap_or_else(|| panic!("{name} did not start: {:?}", agent.errors.lock().unwrap()));
        agent.addr = started["addr"].as_str().unwrap().to_owned();
        agent.http = started["http"].as_str().expect("started names its HTTP address").to_owned();
        agent
    }

    pub fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The first stdout line matching `want`, waiting up to `limit` for it.
    pub fn wait_for(&self, limit: Duration, want: impl Fn(&Value) -> bool) -> Option<Value> {
        poll(limit, || self.lines.lock().unwrap().iter().find(|v| want(v)).cloned())
    }

    /// The first stderr line containing `text`, waiting up to `limit` for it.
    pub fn wait_for_error(&self, limit: Duration, text: &str) -> Option<String> {
        poll(limit, || self.errors.lock().unwrap().iter().find(|l| l.contains(text)).cloned())
    }

    /// Its exit status, once it has ended by itself within `limit`.
    pub fn exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        poll(limit, || self.child.try_wait().unwrap())
    }

    /// One request to this agent's API.
    pub fn request(&self, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> Answer {
        request(&self.http, method, path, token, body)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` agents named `{prefix}-{i}`, each joining the first, each with `extra` flags.
pub fn cluster(prefix: &str, n: usize, extra: &[&str]) -> Vec<Agent> {
    let first = Agent::start(&format!("{prefix}-0"), extra);
    let seed = first.addr.clone();
    let mut agents = vec![first];
    for i in 1..n {
        let mut flags = vec!["--join", seed.as_str()];
        flags.extend_from_slice(extra);
        agents.push(Agent::start(&format!("{prefix}-{i}"), &flags));
    }
    agents
}

/// `f()` once it is `Some`, trying every 50 ms until `limit` has passed.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An HTTP answer: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.0 request (so the answer ends when the connection closes: no chunking to undo).
pub fn request(http: &str, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> Answer {
    let mut conn = TcpStream::connect(http).unwrap_or_else(|e| panic!("connect {http}: {e}"));
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {http}\r\nContent-Length: {}\r\n", body.len());
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(body).unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer { status, headers, body: raw[split + 4..].to_vec() }
}

/// Runs a client subcommand of the agent binary to its end (it must end by itself).
pub fn client(args: &[&str]) -> Output {
    let mut child = Command::new(AGENT)
        .args(args)
        .env_remove("GOSSIP_HTTP_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the agent binary runs");
    let end = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            panic!("gossip-agent {args:?} did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `members --json` of the agent at `http`: (name, state) pairs.
pub fn members(http: &str) -> Vec<(String, String)> {
    let out = client(&["members", "--http", http, "--json"]);
    assert!(out.status.success(), "members: {}", String::from_utf8_lossy(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout).expect("members --json prints JSON");
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| (m["node"].as_str().unwrap().to_owned(), m["state"].as_str().unwrap().to_owned()))
        .collect()
}

/// Waits until the agent at `http` lists `n` members alive.
pub fn until_alive(http: &str, n: usize) {
    let seen = poll(WAIT, || {
        let alive = members(http).iter().filter(|(_, s)| s == "alive").count();
        (alive == n).then_some(())
    });
    assert!(seen.is_some(), "{http} never listed {n} alive members: {:?}", members(http));
}
