//! `gossip-agent`: one gossip node on real sockets, driven from a terminal or a script.
//!
//! Prints one JSON object per line on stdout for every event and reads commands on stdin,
//! one per line (see `../shared/DESIGN.md`, "Contracts"). Diagnostics go to stderr, so
//! stdout stays machine-readable. Interrupt (Ctrl-C) leaves gracefully, like Serf's agent;
//! end of input does not stop it.

use clap::Parser;
use gossip_core::{Config, Event, Keyring, MemberInfo, MemberState};
use gossip_tokio::{Cluster, Options};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::io::{AsyncBufReadExt, BufReader};

/// One gossip node on real sockets: JSON-lines events on stdout, commands on stdin
/// (members, set KEY VALUE, delete KEY, get NODE KEY, broadcast TEXT, key add|use|remove HEX,
/// stats, leave).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// This node's unique name.
    #[arg(long)]
    name: Option<String>,
    /// Where to bind UDP and TCP (the same port), e.g. `127.0.0.1:7946` or `[::1]:7946`.
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// The address peers should use, when --bind is 0.0.0.0 or ::.
    #[arg(long)]
    advertise: Option<SocketAddr>,
    /// A member to join through (IP:PORT or host:port); repeat for more.
    #[arg(long = "join")]
    join: Vec<String>,
    /// Encryption key in hex (32 bytes); repeat for a keyring: the first one sends.
    #[arg(long = "key")]
    key: Vec<String>,
    /// Cluster name: nodes of other clusters are ignored.
    #[arg(long)]
    cluster: Option<String>,
    /// Timing preset: lan (default), wan or local.
    #[arg(long)]
    profile: Option<Profile>,
    /// Metadata to announce.
    #[arg(long)]
    meta: Option<String>,
    /// Any protocol setting by name, e.g. --set probe_interval=500ms; repeat for more.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    set: Vec<String>,
    /// A TOML file with the same settings (command-line flags win).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed for the node's random generator (default: from the OS). Tests only: with --key,
    /// nonces come from it, so never reuse a seed.
    #[arg(long)]
    seed: Option<u64>,
}

/// A timing preset ([`Config::lan`], [`Config::wan`], [`Config::local`]).
#[derive(Clone, Copy, Debug, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
enum Profile {
    Lan,
    Wan,
    Local,
}

/// `--config FILE`: every flag, and the protocol settings in a `[settings]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: Option<String>,
    bind: Option<SocketAddr>,
    advertise: Option<SocketAddr>,
    #[serde(default)]
    join: Vec<String>,
    #[serde(default)]
    key: Vec<String>,
    cluster: Option<String>,
    profile: Option<Profile>,
    meta: Option<String>,
    seed: Option<u64>,
    #[serde(default)]
    settings: toml::Table,
}

/// The cluster size the presets are sized for (their bounds grow with it).
const PRESET_SIZE: usize = 256;

fn options(args: Args) -> Result<(Options, Vec<String>), String> {
    let file: File = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => File::default(),
    };
    let mut config = match args.profile.or(file.profile).unwrap_or(Profile::Lan) {
        Profile::Lan => Config::lan(PRESET_SIZE),
        Profile::Wan => Config::wan(PRESET_SIZE),
        Profile::Local => Config::local(PRESET_SIZE),
    };
    for (field, value) in &file.settings {
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => value.to_string(),
            _ => return Err(format!("setting {field}: expected a string, number or boolean")),
        };
        config.set_field(field, &text).map_err(|e| e.to_string())?;
    }
    for setting in &args.set {
        let (field, value) = setting.split_once('=').ok_or_else(|| format!("--set {setting}: expected FIELD=VALUE"))?;
        config.set_field(field.trim(), value.trim()).map_err(|e| e.to_string())?;
    }
    if let Some(cluster) = args.cluster.or(file.cluster) {
        config.set_field("cluster_name", &cluster).map_err(|e| e.to_string())?;
    }
    let keys = if args.key.is_empty() { file.key } else { args.key };
    let mut ring: Option<Keyring> = None;
    for hex in &keys {
        let key = Keyring::parse_key(hex).map_err(|e| format!("--key: {e}"))?;
        match &mut ring {
            None => ring = Some(Keyring::new(key)),
            Some(ring) => ring.add(key).map_err(|e| format!("--key: {e}"))?,
        }
    }
    config.keyring = ring;
    config.validate().map_err(|e| e.to_string())?;
    let name = args.name.or(file.name).ok_or("--name is required")?;
    let bind = args.bind.or(file.bind).ok_or("--bind is required")?;
    let mut options = Options::new(config, name, bind);
    options.advertise = args.advertise.or(file.advertise);
    options.meta = args.meta.or(file.meta).unwrap_or_default().into();
    options.seed = args.seed.or(file.seed);
    let join = if args.join.is_empty() { file.join } else { args.join };
    Ok((options, join))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (options, join) = match options(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("gossip-agent: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(run(options, join))
}

async fn run(options: Options, join: Vec<String>) -> ExitCode {
    let name = String::from_utf8_lossy(options.name.as_bytes()).into_owned();
    let cluster = match Cluster::start(options).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gossip-agent: {e}");
            return ExitCode::from(1);
        }
    };
    let mut events = cluster.events();
    print(json!({"event": "started", "node": name, "addr": cluster.local_addr().to_string()}));
    let joiner = cluster.clone();
    tokio::spawn(async move {
        if let Err(e) = joiner.join(&join).await {
            eprintln!("gossip-agent: join: {e}");
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => print_event(&name, event),
                None => return ExitCode::SUCCESS, // the node stopped (after a leave)
            },
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(line)) => {
                    if let Err(e) = command(&cluster, line.trim()).await {
                        eprintln!("gossip-agent: {e}");
                    }
                }
                _ => stdin_open = false, // keep running without a terminal
            },
            _ = tokio::signal::ctrl_c() => {
                let _ = cluster.leave().await;
                return ExitCode::SUCCESS;
            }
        }
    }
}

/// Runs one stdin command.
async fn command(cluster: &Cluster, line: &str) -> Result<(), String> {
    let (verb, rest) = line.split_once(char::is_whitespace).map_or((line, ""), |(v, r)| (v, r.trim()));
    let e = |e: gossip_tokio::ClusterError| e.to_string();
    match verb {
        "" => {}
        "members" => {
            let members = cluster.members().await.map_err(e)?;
            print(Value::Array(members.iter().map(member_json).collect()));
        }
        "set" => {
            let (key, value) = rest.split_once(char::is_whitespace).ok_or("usage: set KEY VALUE")?;
            cluster.set(key.to_owned(), value.trim_start().to_owned()).await.map_err(e)?;
        }
        "delete" if !rest.is_empty() => cluster.delete(rest.to_owned()).await.map_err(e)?,
        "get" => {
            let (node, key) = rest.split_once(char::is_whitespace).ok_or("usage: get NODE KEY")?;
            let key = key.trim();
            let value = cluster.get(node, key).await.map_err(e)?;
            print(json!({"node": node, "key": key, "value": value.as_deref().map(text)}));
        }
        "broadcast" => cluster.broadcast(rest.to_owned()).await.map_err(e)?,
        "stats" => {
            let (core, transport) = cluster.stats().await.map_err(e)?;
            print(json!({"stats": format!("{core:?}"), "transport": format!("{transport:?}")}));
        }
        "key" => {
            let (action, hex) = rest.split_once(char::is_whitespace).ok_or("usage: key add|use|remove HEX")?;
            let key = Keyring::parse_key(hex).map_err(|e| e.to_string())?;
            match action {
                "add" => cluster.add_key(key).await.map_err(e)?,
                "use" => cluster.use_key(key).await.map_err(e)?,
                "remove" => cluster.remove_key(key).await.map_err(e)?,
                _ => return Err("usage: key add|use|remove HEX".into()),
            }
        }
        "leave" => {
            cluster.leave().await.map_err(e)?;
            std::process::exit(0);
        }
        _ => return Err(format!("unknown command {line:?} (members, set, delete, get, broadcast, key, stats, leave)")),
    }
    Ok(())
}

fn print_event(me: &str, event: Event) {
    let line = match event {
        Event::MemberUp(m) => member_event("member_up", &m),
        Event::MemberUpdated(m) => member_event("member_updated", &m),
        Event::MemberSuspect { id, incarnation } => {
            json!({"event": "member_suspect", "node": text(id.as_bytes()), "incarnation": incarnation})
        }
        Event::MemberDown { id, incarnation } => {
            json!({"event": "member_down", "node": text(id.as_bytes()), "incarnation": incarnation})
        }
        Event::MemberLeft { id, incarnation } => {
            json!({"event": "member_left", "node": text(id.as_bytes()), "incarnation": incarnation})
        }
        Event::KeyChanged { owner, key, value, version } => json!({
            "event": "key", "node": text(owner.as_bytes()), "key": text(&key),
            "value": value.as_deref().map(text), "version": version,
        }),
        Event::Broadcast { origin, payload } => {
            json!({"event": "broadcast", "node": text(origin.as_bytes()), "payload": text(&payload)})
        }
        Event::Message { from, payload } => {
            json!({"event": "message", "node": text(from.as_bytes()), "payload": text(&payload)})
        }
        Event::Joined => json!({"event": "joined", "node": me}),
        Event::Refuted { incarnation } => json!({"event": "refuted", "node": me, "incarnation": incarnation}),
        other => json!({"event": "other", "node": me, "debug": format!("{other:?}")}),
    };
    print(line);
}

fn member_event(kind: &str, m: &MemberInfo) -> Value {
    let mut v = json!({"event": kind});
    if let (Value::Object(fields), Value::Object(mut member)) = (&mut v, member_json(m)) {
        fields.append(&mut member);
    }
    v
}

fn member_json(m: &MemberInfo) -> Value {
    let state = match m.state {
        MemberState::Alive => "alive",
        MemberState::Suspect => "suspect",
        MemberState::Down => "down",
        MemberState::Left => "left",
    };
    json!({"node": text(m.id.as_bytes()), "addr": m.addr.to_string(), "state": state, "incarnation": m.incarnation, "meta": text(&m.meta)})
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Prints one JSON line; an event object gets `ts_ms` (Unix time in milliseconds) first.
fn print(mut line: Value) {
    if let Value::Object(fields) = &mut line {
        let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let mut with_ts = serde_json::Map::new();
        with_ts.insert("ts_ms".into(), json!(ts as u64));
        with_ts.append(fields);
        *fields = with_ts;
    }
    let mut out = std::io::stdout().lock();
    // A closed stdout (the reader went away) must not kill the node.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
