//! The dashboard (`GET /`) in a real browser: headless Chromium, driven over the DevTools
//! protocol, loads the page of a 3-agent cluster, lists the three members with their
//! addresses, and turns a killed agent Down live, from `/v1/events`, without a reload.
//!
//! Skips (and says so) when no Chromium is installed: Debian's `chromium` package, which
//! `.ci/run` installs where it can. `CHROMIUM=/path` picks another binary.

mod common;

use common::{WAIT, cluster, poll, until_alive};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// The browser binary: `$CHROMIUM`, else the first of the usual names on `PATH`.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// One headless Chromium with one page, attached over the DevTools protocol; killed (and
/// its profile directory removed) on drop.
struct Browser {
    child: Child,
    profile: PathBuf,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
}

impl Browser {
    fn open(binary: &Path, url: &str) -> Browser {
        let profile = std::env::temp_dir().join(format!("gossip-dashboard-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let mut child = Command::new(binary)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
            .args(["--remote-debugging-port=0", "--window-size=1000,640", "--hide-scrollbars"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not run: {e}", binary.display()));
        // Chromium says where its DevTools endpoint listens on stderr.
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split_whitespace().find(|w| w.starts_with("ws://")) {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let Ok(endpoint) = rx.recv_timeout(WAIT) else {
            let _ = child.kill();
            panic!("{} never opened its DevTools endpoint", binary.display());
        };
        let socket = match tungstenite::connect(endpoint.as_str()) {
            Ok((socket, _)) => socket,
            Err(e) => {
                let _ = child.kill();
                panic!("cannot open the DevTools websocket {endpoint}: {e}");
            }
        };
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream.set_read_timeout(Some(WAIT)).unwrap();
        }
        let mut browser = Browser { child, profile, socket, session: String::new(), next_id: 0 };
        let targets = browser.call("Target.getTargets", json!({}));
        let page = targets["targetInfos"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["targetId"].as_str())
            .expect("a page target")
            .to_owned();
        let attached = browser.call("Target.attachToTarget", json!({"targetId": page, "flatten": true}));
        browser.session = attached["sessionId"].as_str().expect("a session").to_owned();
        browser
    }

    /// Sends one DevTools command (to the page, once attached) and returns its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket.send(Message::text(message.to_string())).expect("DevTools send");
        loop {
            let Message::Text(text) = self.socket.read().expect("a DevTools answer") else { continue };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["id"] == id {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true}));
        result["result"]["value"].clone()
    }

    fn screenshot(&mut self, path: &Path) {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        std::fs::write(path, base64(shot["data"].as_str().expect("PNG data"))).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Standard base64 (as DevTools sends screenshots) to bytes.
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &d)| n | u32::from(d) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// The member rows as the page shows them: (node, state, address).
const ROWS: &str = "JSON.stringify([...document.querySelectorAll('#members tbody tr')].map(r => \
    [r.dataset.node, r.dataset.state, r.cells[1].textContent]))";

fn rows(browser: &mut Browser) -> Vec<(String, String, String)> {
    let text = browser.eval(ROWS);
    serde_json::from_str(text.as_str().unwrap_or("[]")).unwrap_or_default()
}

#[test]
fn the_dashboard_lists_the_members_and_turns_a_killed_agent_down_live() {
    let Some(binary) = chromium() else {
        eprintln!(
            "skipping the dashboard test: no Chromium found (install Debian's chromium package, or set CHROMIUM)"
        );
        return;
    };
    let mut agents = cluster("d", 3, &["--meta", "role=web"]);
    until_alive(&agents[0].http, 3);
    let mut browser = Browser::open(&binary, &format!("http://{}/", agents[0].http));

    let listed = poll(WAIT, || {
        let rows = rows(&mut browser);
        (rows.len() == 3 && rows.iter().all(|(_, state, _)| state == "alive")).then_some(rows)
    });
    let listed =
        listed.unwrap_or_else(|| panic!("the page never listed three alive members: {:?}", rows(&mut browser)));
    for (agent, (node, _, addr)) in agents.iter().zip(&listed) {
        assert_eq!((node, addr), (&agent.name, &agent.addr), "rows are sorted by name and show the gossip address");
    }
    assert_eq!(browser.eval("document.getElementById('status').textContent"), "live");
    assert_eq!(browser.eval("document.title"), "gossip-agent d-0");

    // The page stays open: the change must come over the event stream.
    let marker = browser.eval("window.loadedOnce = true");
    assert_eq!(marker, true);
    let mut killed = agents.remove(2);
    killed.child.kill().unwrap();
    let _ = killed.child.wait();
    let down = poll(WAIT, || {
        let rows = rows(&mut browser);
        rows.iter().any(|(node, state, _)| node == "d-2" && state == "down").then_some(rows)
    });
    assert!(down.is_some(), "the page never showed d-2 down: {:?}", rows(&mut browser));
    assert_eq!(browser.eval("window.loadedOnce"), true, "the page was not reloaded");
    let events = browser.eval("document.querySelector('#events tbody').textContent");
    assert!(events.as_str().unwrap_or("").contains("member_down"), "the last events list the down: {events}");

    std::thread::sleep(Duration::from_millis(300)); // let the badge paint before the picture
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    browser.screenshot(&shot);
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
    eprintln!("dashboard screenshot: {}", shot.display());
}

#[test]
fn base64_decodes_what_devtools_sends() {
    assert_eq!(base64("aGVsbG8="), b"hello");
    assert_eq!(base64("aGk="), b"hi");
    assert_eq!(base64("YWJj"), b"abc");
}
