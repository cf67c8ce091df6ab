//! `gossip-agent members|monitor|kv|leave`: clients of a running agent's HTTP API.
//!
//! Tables for people, `--json` for scripts. Exit codes: 0 done, 1 the agent did not answer
//! or refused (the message says which), 2 a usage error (from clap).

use bytes::Bytes;
use clap::{Args, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;
use tokio::net::TcpStream;

/// How long to wait for the agent to accept the connection, and to answer a request.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A client command.
#[derive(Subcommand, Debug)]
pub enum Client {
    /// List the members a running agent knows, with their states.
    Members {
        #[command(flatten)]
        agent: Agent,
        /// Print the JSON list instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a running agent's events as they happen, until interrupted.
    Monitor {
        #[command(flatten)]
        agent: Agent,
        /// Print each event's JSON object (as the agent's stdout) instead of a line of text.
        #[arg(long)]
        json: bool,
    },
    /// Read a member's keys, or write this agent's.
    Kv {
        #[command(subcommand)]
        op: Kv,
    },
    /// Make a running agent leave the cluster gracefully (it then exits).
    Leave {
        #[command(flatten)]
        agent: Agent,
    },
}

/// `kv get|set|delete`.
#[derive(Subcommand, Debug)]
pub enum Kv {
    /// Print NODE's value of KEY, as the agent knows it.
    Get {
        /// The member that owns the key.
        node: String,
        /// The key.
        key: String,
        #[command(flatten)]
        agent: Agent,
        /// Print `{"node","key","value"}` instead of the bare value.
        #[arg(long)]
        json: bool,
    },
    /// Set one of the agent's own keys.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Delete the key after this long (500ms, 30s, 5m, 2h).
        #[arg(long)]
        ttl: Option<String>,
        #[command(flatten)]
        agent: Agent,
    },
    /// Delete one of the agent's own keys.
    Delete {
        /// The key.
        key: String,
        #[command(flatten)]
        agent: Agent,
    },
}

/// Which agent to talk to.
#[derive(Args, Debug, Clone)]
pub struct Agent {
    /// The agent's HTTP address (its --http).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7373")]
    http: String,
    /// The agent's --http-token, if it has one.
    #[arg(long, value_name = "TOKEN", env = "GOSSIP_HTTP_TOKEN", hide_env_values = true)]
    http_token: Option<String>,
}

/// Runs `command` and says how it went.
pub async fn run(command: Client) -> ExitCode {
    match execute(command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gossip-agent: {e}");
            ExitCode::from(1)
        }
    }
}

async fn execute(command: Client) -> Result<(), String> {
    match command {
        Client::Members { agent, json } => {
            let members = agent.json(Method::GET, "/v1/members").await?;
            if json {
                println!("{members}");
            } else {
                print_table(members.as_array().map_or(&[][..], |v| v));
            }
        }
        Client::Monitor { agent, json } => monitor(&agent, json).await?,
        Client::Kv { op: Kv::Get { node, key, agent, json } } => {
            let path = format!("/v1/kv/{}/{}", escape(&node), escape(&key));
            let value = agent.bytes(Method::GET, &path, Bytes::new()).await?;
            let value = String::from_utf8_lossy(&value);
            if json {
                println!("{}", serde_json::json!({"node": node, "key": key, "value": value}));
            } else {
                println!("{value}");
            }
        }
        Client::Kv { op: Kv::Set { key, value, ttl, agent } } => {
            let mut path = format!("/v1/kv/{}", escape(&key));
            if let Some(ttl) = ttl {
                path.push_str(&format!("?ttl={}", escape(&ttl)));
            }
            agent.bytes(Method::PUT, &path, Bytes::from(value)).await?;
        }
        Client::Kv { op: Kv::Delete { key, agent } } => {
            agent.bytes(Method::DELETE, &format!("/v1/kv/{}", escape(&key)), Bytes::new()).await?;
        }
        Client::Leave { agent } => {
            agent.bytes(Method::POST, "/v1/leave", Bytes::new()).await?;
            println!("left");
        }
    }
    Ok(())
}

impl Agent {
    /// Sends one request and returns the answer's head, once it is a success.
    async fn send(&self, method: Method, path: &str, body: Bytes) -> Result<Response<Incoming>, String> {
        let no_answer = |e: &dyn std::fmt::Display| {
            format!("no agent answers at {} ({e}); is one running with --http {}?", self.http, self.http)
        };
        let stream = match tokio::time::timeout(TIMEOUT, TcpStream::connect(&self.http)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(no_answer(&e)),
            Err(_) => return Err(no_answer(&"timed out")),
        };
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| no_answer(&e))?;
        tokio::spawn(connection);
        let mut request = Request::builder().method(method).uri(path).header(header::HOST, &self.http);
        if let Some(token) = &self.http_token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Full::new(body)).map_err(|e| format!("bad request: {e}"))?;
        let answer = match tokio::time::timeout(TIMEOUT, sender.send_request(request)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(no_answer(&e)),
            Err(_) => return Err(no_answer(&"no answer in time")),
        };
        if answer.status().is_success() {
            return Ok(answer);
        }
        let status = answer.status();
        let body = answer.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let message = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        Err(match status {
            StatusCode::UNAUTHORIZED => format!("the agent at {} refused: {message} (see --http-token)", self.http),
            _ => format!("the agent at {} answered {status}: {message}", self.http),
        })
    }

    /// A whole successful answer's body.
    async fn bytes(&self, method: Method, path: &str, body: Bytes) -> Result<Bytes, String> {
        let answer = self.send(method, path, body).await?;
        let body = tokio::time::timeout(TIMEOUT, answer.into_body().collect()).await;
        match body {
            Ok(Ok(body)) => Ok(body.to_bytes()),
            _ => Err(format!("the agent at {} did not finish its answer", self.http)),
        }
    }

    async fn json(&self, method: Method, path: &str) -> Result<Value, String> {
        let body = self.bytes(method, path, Bytes::new()).await?;
        serde_json::from_slice(&body)
            .map_err(|e| format!("the agent at {} answered something else than JSON: {e}", self.http))
    }
}

/// Prints the events of `/v1/events` as they arrive, until the agent stops.
async fn monitor(agent: &Agent, json: bool) -> Result<(), String> {
    let mut body = agent.send(Method::GET, "/v1/events", Bytes::new()).await?.into_body();
    let mut pending = Vec::new();
    let mut out = std::io::stdout();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("the event stream broke: {e}"))?;
        let Some(data) = frame.data_ref() else { continue };
        pending.extend_from_slice(data);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]);
            let text = if json { line.into_owned() } else { describe(&line) };
            if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
                return Ok(()); // the reader went away
            }
        }
    }
    Err(format!("the agent at {} stopped", agent.http))
}

/// One event as a line for people: `12:34:56.789 member_down  node-2  incarnation=3`.
fn describe(line: &str) -> String {
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(line) else { return line.to_owned() };
    let ms = fields.get("ts_ms").and_then(Value::as_u64).unwrap_or(0);
    let clock = format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000 % 24, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let kind = fields.get("event").and_then(Value::as_str).unwrap_or("?");
    let node = fields.get("node").and_then(Value::as_str).unwrap_or("");
    let rest: Vec<String> = fields
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "ts_ms" | "event" | "node"))
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    format!("{clock} {kind:<15} {node:<16} {}", rest.join(" ")).trim_end().to_owned()
}

/// The members as an aligned table, sorted by name.
fn print_table(members: &[Value]) {
    let mut rows: Vec<[String; 5]> = members
        .iter()
        .map(|m| {
            let field = |k: &str| match &m[k] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            [field("node"), field("addr"), field("state"), field("incarnation"), field("meta")]
        })
        .collect();
    rows.sort();
    let header = ["NODE", "ADDRESS", "STATE", "INCARNATION", "META"].map(str::to_owned);
    let mut widths = [0; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", cells.join("  ").trim_end());
    }
}

/// Percent-encodes one path segment or query value (everything but RFC 3986's unreserved).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_escaped_but_unreserved_bytes_are_kept() {
        assert_eq!(escape("node-1.a_b~"), "node-1.a_b~");
        assert_eq!(escape("a/b c?é"), "a%2Fb%20c%3F%C3%A9");
    }

    #[test]
    fn events_read_as_one_line_for_people() {
        let line = r#"{"ts_ms": 3723004, "event": "member_down", "node": "n-2", "incarnation": 3}"#;
        assert_eq!(describe(line), "01:02:03.004 member_down     n-2              incarnation=3");
        assert_eq!(describe("not json"), "not json");
    }
}
