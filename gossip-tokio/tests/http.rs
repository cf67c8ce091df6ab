//! The agent's HTTP API and its client subcommands, on real processes over 127.0.0.1: three
//! agents with `--http`; members, keys, events, stats and metrics through the API and the
//! CLI; bad requests, tokens and a public bind refused. Every wait has a deadline and every
//! child is killed on drop, so the tests stop by themselves.

mod common;

use common::{Agent, WAIT, client, cluster, members, poll, until_alive};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// A `gossip-agent monitor --json` child, killed on drop, and the lines it printed.
struct Monitor {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Monitor {
    fn start(http: &str) -> Monitor {
        let mut child = Command::new(common::AGENT)
            .args(["monitor", "--json", "--http", http])
            .env_remove("GOSSIP_HTTP_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (sink, stdout) = (lines.clone(), child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(serde_json::from_str(&line).unwrap_or(Value::String(line)));
            }
        });
        Monitor { child, lines }
    }

    fn wait_for(&self, want: impl Fn(&Value) -> bool) -> Option<Value> {
        poll(WAIT, || self.lines.lock().unwrap().iter().find(|v| want(v)).cloned())
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A metric's value in a Prometheus text scrape, read with a parser (not a regex).
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text");
    scrape.samples.iter().find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))).map(
        |s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        },
    )
}

#[test]
fn three_agents_serve_members_keys_events_and_metrics() {
    let mut agents = cluster("h", 3, &[]);
    for agent in &agents {
        until_alive(&agent.http, 3);
    }
    // The table for people lists the same three.
    let table = client(&["members", "--http", &agents[0].http]);
    assert!(table.status.success());
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(table.starts_with("NODE"), "{table}");
    assert_eq!(table.lines().filter(|l| l.contains(" alive ")).count(), 3, "{table}");

    let monitor = Monitor::start(&agents[0].http);
    // The monitor prints nothing until an event comes: write a key on h-1 until h-0's
    // monitor prints it, so that its stream is known to be open before anything else.
    // A new value each time: rewriting the same one raises no event.
    let mut attempt = 0u32;
    let ready = poll(WAIT, || {
        attempt += 1;
        assert_eq!(agents[1].request("PUT", "/v1/kv/ready", None, attempt.to_string().as_bytes()).status, 204);
        monitor.lines.lock().unwrap().iter().find(|v| v["event"] == "key" && v["key"] == "ready").cloned()
    });
    assert!(ready.is_some(), "the monitor never printed h-1's key");
    let put = agents[1].request("PUT", "/v1/kv/color", None, b"blue");
    assert_eq!(put.status, 204, "{}", put.text());
    let seen = poll(WAIT, || {
        let got = agents[2].request("GET", "/v1/kv/h-1/color", None, b"");
        (got.status == 200).then(|| got.text())
    });
    assert_eq!(seen.as_deref(), Some("blue"), "h-2 never saw h-1's key");
    let all = agents[2].request("GET", "/v1/kv/h-1", None, b"").json();
    assert_eq!(all["color"], "blue");
    assert_eq!(agents[2].request("GET", "/v1/kv/h-1/no-such-key", None, b"").status, 404);

    // The CLI: kv set on one, kv get from another.
    let set = client(&["kv", "set", "size", "large", "--http", &agents[2].http]);
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let got = poll(WAIT, || {
        let out = client(&["kv", "get", "h-2", "size", "--http", &agents[0].http]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    assert_eq!(got.as_deref(), Some("large"));
    let missing = client(&["kv", "get", "h-2", "nothing", "--http", &agents[0].http]);
    assert_eq!(missing.status.code(), Some(1), "a missing key is an error");
    assert!(client(&["kv", "delete", "size", "--http", &agents[2].http]).status.success());
    let gone = poll(WAIT, || (agents[0].request("GET", "/v1/kv/h-2/size", None, b"").status == 404).then_some(()));
    assert!(gone.is_some(), "h-0 still has h-2's deleted key");

    // Bad requests: 4xx, a JSON error, and nothing changed.
    for (method, path, body) in [
        ("PUT", "/v1/kv/color?ttl=soon", &b"red"[..]),
        ("PUT", "/v1/kv/color?colour=1", b"red"),
        ("PUT", "/v1/kv/color", &[b'r'; 5000][..]), // above max_value_len
        ("POST", "/v1/broadcast", b""),
        ("GET", "/v1/kv/%FF", b""),
    ] {
        let answer = agents[1].request(method, path, None, body);
        assert_eq!(answer.status, 400, "{method} {path}: {}", answer.text());
        assert!(answer.json()["error"].is_string(), "{method} {path}: {}", answer.text());
    }
    assert_eq!(agents[1].request("DELETE", "/v1/members", None, b"").status, 405);
    assert_eq!(agents[1].request("GET", "/v1/nothing", None, b"").json()["error"], "no such endpoint");
    // A marker written after the bad requests: once another agent holds it, it would hold
    // anything they had written before it (an owner's writes arrive in order).
    assert_eq!(agents[1].request("PUT", "/v1/kv/marker", None, b"m").status, 204);
    let marked = poll(WAIT, || (agents[2].request("GET", "/v1/kv/h-1/marker", None, b"").status == 200).then_some(()));
    assert!(marked.is_some(), "the marker never reached h-2");
    assert_eq!(agents[1].request("GET", "/v1/kv/h-1/color", None, b"").text(), "blue");
    assert_eq!(agents[2].request("GET", "/v1/kv/h-1/color", None, b"").text(), "blue");

    // A broadcast goes out; stats are JSON.
    assert_eq!(agents[0].request("POST", "/v1/broadcast", None, b"hello").status, 204);
    for agent in &agents[1..] {
        let got = agent.wait_for(WAIT, |v| v["event"] == "broadcast");
        assert_eq!(got.expect("the broadcast")["payload"], "hello");
    }
    let stats = agents[0].request("GET", "/v1/stats", None, b"").json();
    assert!(stats["stats"]["packets_in"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["transport"]["frames_in"].is_u64(), "{stats}");

    // /metrics parses as Prometheus text, and its counters move.
    let scrape = agents[0].request("GET", "/metrics", None, b"");
    assert_eq!(scrape.status, 200);
    assert!(scrape.header("content-type").unwrap().starts_with("text/plain"));
    let text = scrape.text();
    let first = metric(&text, "gossip_packets_in_total", &[]).expect("gossip_packets_in_total");
    for (name, labels) in [
        ("gossip_drops_total", &[("reason", "decode")][..]),
        ("gossip_decode_errors_total", &[("kind", "truncated")][..]),
        ("gossip_transport_frames_in_total", &[]),
        ("gossip_local_health_score", &[]),
        ("gossip_pending_news", &[]),
        ("gossip_kv_max_keys", &[]),
        ("gossip_command_queue", &[]),
    ] {
        assert!(metric(&text, name, labels).is_some(), "no {name}{labels:?} in\n{text}");
    }
    assert!(text.contains("# TYPE gossip_packets_in_total counter"), "counters are typed");
    let alive = poll(WAIT, || {
        let text = agents[0].request("GET", "/metrics", None, b"").text();
        metric(&text, "gossip_members", &[("state", "alive")]).filter(|&n| n == 2.0)
    });
    assert!(alive.is_some(), "gossip_members{{state=alive}} never read 2");
    let moved = poll(WAIT, || {
        let text = agents[0].request("GET", "/metrics", None, b"").text();
        metric(&text, "gossip_packets_in_total", &[]).filter(|&n| n > first)
    });
    assert!(moved.is_some(), "gossip_packets_in_total stayed at {first}");
    // The probes' round trips, as a distribution (the exporter renders a summary).
    let rtts = poll(WAIT, || {
        let text = agents[0].request("GET", "/metrics", None, b"").text();
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text");
        scrape.samples.into_iter().find(|s| s.metric == "gossip_probe_rtt_seconds")
    });
    assert!(rtts.is_some(), "no gossip_probe_rtt_seconds");

    // The monitor saw the key write, and prints the member_down of a killed agent.
    let color = monitor.wait_for(|v| v["event"] == "key" && v["key"] == "color");
    assert_eq!(color.expect("the monitor printed the color key")["value"], "blue");
    let mut killed = agents.remove(2);
    killed.child.kill().unwrap(); // SIGKILL: no goodbye
    let _ = killed.child.wait();
    let down = monitor.wait_for(|v| v["event"] == "member_down" && v["node"] == "h-2");
    assert!(down.is_some(), "monitor never printed h-2's member_down: {:?}", monitor.lines.lock().unwrap());
    assert!(down.unwrap()["ts_ms"].is_u64());

    // Leave over HTTP: the answer comes, then the agent exits 0; the other sees it Left.
    let out = client(&["leave", "--http", &agents[1].http]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status = poll(WAIT, || agents[1].child.try_wait().unwrap());
    assert!(status.expect("the agent exits after a leave").success());
    assert!(monitor.wait_for(|v| v["event"] == "member_left" && v["node"] == "h-1").is_some());
    let states = members(&agents[0].http);
    assert!(states.contains(&("h-1".into(), "left".into())), "{states:?}");
}

#[test]
fn no_agent_answering_is_a_clear_error() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let http = format!("127.0.0.1:{port}");
    for args in [
        vec!["members", "--http", &http],
        vec!["monitor", "--http", &http],
        vec!["kv", "get", "n", "k", "--http", &http],
        vec!["kv", "set", "k", "v", "--http", &http],
        vec!["leave", "--http", &http],
    ] {
        let out = client(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no agent answers at") && stderr.contains(&http), "{args:?}: {stderr}");
    }
}

#[test]
fn a_token_guards_every_request_and_a_public_bind_needs_one() {
    // Without a token, an address other than loopback is refused before anything starts.
    let out = Command::new(common::AGENT)
        .args(["--name", "public", "--bind", "127.0.0.1:0", "--http", "0.0.0.0:0"])
        .env_remove("GOSSIP_HTTP_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--http-token"), "{out:?}");
    assert!(out.stdout.is_empty(), "it printed {:?}", String::from_utf8_lossy(&out.stdout));

    let agent = Agent::start("guarded", &["--http-token", "s3cret"]);
    for (method, path) in
        [("GET", "/v1/members"), ("GET", "/metrics"), ("PUT", "/v1/kv/k"), ("POST", "/v1/leave"), ("GET", "/")]
    {
        for token in [None, Some("wrong"), Some("s3cre"), Some("s3cret!")] {
            let answer = agent.request(method, path, token, b"v");
            assert_eq!(answer.status, 401, "{method} {path} with {token:?}");
            assert!(answer.json()["error"].is_string());
            assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
        }
    }
    assert_eq!(agent.request("GET", "/v1/kv/guarded/k", Some("s3cret"), b"").status, 404, "the PUTs changed nothing");
    assert_eq!(agent.request("GET", "/v1/members", Some("s3cret"), b"").status, 200);
    assert_eq!(agent.request("GET", "/?token=s3cret", None, b"").status, 200, "the dashboard takes ?token=");
    assert_eq!(agent.request("GET", "/v1/members?token=s3cret", None, b"").status, 401, "only the dashboard does");

    let refused = client(&["members", "--http", &agent.http]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--http-token"));
    let listed = client(&["members", "--json", "--http", &agent.http, "--http-token", "s3cret"]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let from_env = Command::new(common::AGENT)
        .args(["members", "--http", &agent.http])
        .env("GOSSIP_HTTP_TOKEN", "s3cret")
        .output()
        .unwrap();
    assert!(from_env.status.success(), "the token comes from GOSSIP_HTTP_TOKEN too");
}

#[test]
fn stdin_stats_print_json_and_delete_says_what_it_needs() {
    let mut agent = Agent::start("stdin", &[]);
    agent.send("stats");
    let stats = agent.wait_for(WAIT, |v| v.get("stats").is_some()).expect("a stats line");
    assert!(stats["stats"]["packets_out"].is_u64(), "{stats}");
    assert!(stats["stats"]["drops_by_reason"]["decode"].is_u64(), "{stats}");
    assert!(stats["transport"]["send_errors"].is_u64(), "{stats}");
    agent.send("delete");
    assert!(agent.wait_for_error(WAIT, "usage: delete KEY").is_some(), "{:?}", agent.errors.lock().unwrap());
}

#[test]
fn logs_go_to_stderr_as_json_with_the_membership_changes() {
    let mut agents = cluster("log", 2, &["--log-format", "json"]);
    until_alive(&agents[0].http, 2);
    let mut killed = agents.remove(1);
    killed.child.kill().unwrap();
    let _ = killed.child.wait();
    let down = poll(WAIT, || {
        let lines = agents[0].errors.lock().unwrap().clone();
        lines
            .into_iter()
            .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
            .find(|v| v["fields"]["message"] == "member down" && v["fields"]["member"] == "log-1")
    });
    let down = down.unwrap_or_else(|| panic!("no member down log line: {:?}", agents[0].errors.lock().unwrap()));
    assert_eq!(down["level"], "WARN");
    assert_eq!(down["span"]["id"], "log-0", "the node's span names it: {down}");
    // Every stderr line is JSON (nothing else is written there while all goes well).
    for line in agents[0].errors.lock().unwrap().iter() {
        assert!(serde_json::from_str::<Value>(line).is_ok(), "not JSON: {line}");
    }
}
