//! `gossip-agent`: one gossip node on real sockets, driven from a terminal, a script or
//! over HTTP; and the client that talks to a running one.
//!
//! Prints one JSON object per line on stdout for every event and reads commands on stdin,
//! one per line (the events and commands are listed in docs/design.md, "The tokio adapter
//! and gossip-agent"). With `--http ADDR` it also serves the HTTP API, Prometheus metrics
//! and a live dashboard ([`api`]). Logs go to stderr (`RUST_LOG` filters them), so stdout
//! stays machine-readable. Interrupt (Ctrl-C) leaves gracefully, like Serf's agent; end of
//! input does not stop it.
//!
//! `gossip-agent members|monitor|kv|leave` are clients of a running agent's API ([`client`]).

mod api;
mod client;
mod objects;

use clap::Parser;
use gossip_core::{Config, Keyring};
use gossip_tokio::rustls::pki_types::CertificateDer;
use gossip_tokio::rustls::pki_types::pem::PemObject;
use gossip_tokio::{Cluster, Discovery, Options, RetryJoin, Transport};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// One gossip node on real sockets: JSON-lines events on stdout, commands on stdin
/// (members, set KEY VALUE, delete KEY, get NODE KEY, broadcast TEXT, key add|use|remove HEX,
/// stats, leave), and with --http an HTTP API. With a subcommand, a client of a running
/// agent's API instead.
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Args {
    /// Talk to a running agent instead of starting one.
    #[command(subcommand)]
    client: Option<client::Client>,
    /// This node's unique name.
    #[arg(long)]
    name: Option<String>,
    /// Where to bind UDP and TCP (the same port), e.g. `127.0.0.1:7946` or `[::1]:7946`.
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// The address peers should use, when --bind is 0.0.0.0 or ::.
    #[arg(long)]
    advertise: Option<SocketAddr>,
    /// A member to join through: IP:PORT, host:port (through each of its addresses) or
    /// srv+NAME (SRV records, e.g. srv+_gossip._udp.example.org); repeat for more. Tried
    /// once (the node keeps contacting it); see --retry-join to insist.
    #[arg(long = "join")]
    join: Vec<String>,
    /// A member to join through, tried again with backoff until one answers (names are
    /// resolved again at each attempt); repeat for more. Each attempt is logged.
    #[arg(long = "retry-join", value_name = "ADDR")]
    retry_join: Vec<String>,
    /// The wait after the first failed --retry-join attempt; it doubles after each failure
    /// up to --retry-max-interval (default 1s).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    retry_interval: Option<Duration>,
    /// The longest wait between two --retry-join attempts (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    retry_max_interval: Option<Duration>,
    /// Attempts of --retry-join before the agent gives up and exits with status 1
    /// (default 0: never give up).
    #[arg(long, value_name = "N")]
    retry_max: Option<u32>,
    /// How peers are reached: udp (datagrams over UDP, streams over TCP) or ws (everything
    /// over WebSocket at ws://ADDR/gossip; --join then also takes ws:// and wss:// URLs).
    #[arg(long, value_enum)]
    transport: Option<TransportFlag>,
    /// With --transport ws behind a reverse proxy: the ws:// or wss:// URL peers dial this
    /// node at. It is still named by its --advertise (or --bind) address, which must be
    /// unique in the cluster.
    #[arg(long, value_name = "URL")]
    advertise_url: Option<String>,
    /// With --transport ws: a PEM file of certificate authorities that wss:// peers'
    /// certificates must chain to, instead of the Mozilla roots (for proxies with a
    /// private CA); repeat for more.
    #[arg(long = "tls-ca", value_name = "FILE")]
    tls_ca: Vec<PathBuf>,
    /// LAN discovery: while this node knows no live member, announce it on a UDP multicast
    /// group (default 239.255.77.46:7950) and join the nodes that answer; sealed with the
    /// keyring when there is one.
    #[arg(long, value_name = "multicast[:GROUP:PORT]", value_parser = Discovery::parse)]
    discover: Option<Discovery>,
    /// A DNS server (IP:PORT) to resolve seed names with instead of the system's; repeat
    /// for more.
    #[arg(long = "dns", value_name = "IP:PORT")]
    dns: Vec<SocketAddr>,
    /// How long one join attempt waits for a seed to answer (default 5s).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    join_timeout: Option<Duration>,
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
    /// Serve the HTTP API, /metrics and the dashboard on this address (e.g. 127.0.0.1:7373).
    /// A non-loopback address needs --http-token.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Require `Authorization: Bearer TOKEN` on every HTTP request (better given in --config
    /// or the environment than on a command line that every user can list).
    #[arg(long, value_name = "TOKEN", env = "GOSSIP_HTTP_TOKEN", hide_env_values = true)]
    http_token: Option<String>,
    /// How to write logs on stderr (filtered by RUST_LOG; default: info).
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per event.
    Json,
}

/// `--transport`.
#[derive(Clone, Copy, Debug, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
enum TransportFlag {
    Udp,
    Ws,
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
    retry_join: Vec<String>,
    #[serde(default)]
    dns: Vec<SocketAddr>,
    discover: Option<String>,
    transport: Option<TransportFlag>,
    advertise_url: Option<String>,
    #[serde(default)]
    tls_ca: Vec<PathBuf>,
    retry_interval: Option<String>,
    retry_max_interval: Option<String>,
    retry_max: Option<u32>,
    join_timeout: Option<String>,
    #[serde(default)]
    key: Vec<String>,
    cluster: Option<String>,
    profile: Option<Profile>,
    meta: Option<String>,
    seed: Option<u64>,
    http: Option<SocketAddr>,
    http_token: Option<String>,
    #[serde(default)]
    settings: toml::Table,
}

/// What the agent runs besides its node.
struct Serve {
    http: Option<SocketAddr>,
    http_token: Option<String>,
}

/// The seeds: tried once, and tried until one answers.
struct Seeds {
    join: Vec<String>,
    retry_join: Vec<String>,
    retry: RetryJoin,
}

/// `500ms`, `30s`, `5m`, `2h`: a whole number and a unit.
fn duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?}: expected a duration such as 500ms, 30s, 5m or 2h");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(n.saturating_mul(3600))),
        _ => Err(bad()),
    }
}

/// A duration flag, else the same setting in the file, else `default`.
fn duration_or(flag: Option<Duration>, file: Option<&str>, name: &str, default: Duration) -> Result<Duration, String> {
    match (flag, file) {
        (Some(d), _) => Ok(d),
        (None, Some(text)) => duration(text).map_err(|e| format!("{name}: {e}")),
        (None, None) => Ok(default),
    }
}

/// Every certificate in the PEM file at `path` (`--tls-ca`); none is an error.
fn pem_certificates(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bad = |e: &dyn std::fmt::Display| format!("--tls-ca {}: {e}", path.display());
    let certificates = CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))?;
    let certificates = certificates.collect::<Result<Vec<_>, _>>().map_err(|e| bad(&e))?;
    if certificates.is_empty() {
        return Err(bad(&"no PEM certificate in it"));
    }
    Ok(certificates)
}

/// The cluster size the presets are sized for (their bounds grow with it).
const PRESET_SIZE: usize = 256;

fn options(args: Args) -> Result<(Options, Seeds, Serve), String> {
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
    options.nameservers = if args.dns.is_empty() { file.dns } else { args.dns };
    options.transport = match args.transport.or(file.transport) {
        Some(TransportFlag::Ws) => Transport::Ws,
        Some(TransportFlag::Udp) | None => Transport::Udp,
    };
    options.advertise_url = args.advertise_url.or(file.advertise_url);
    for path in if args.tls_ca.is_empty() { &file.tls_ca } else { &args.tls_ca } {
        options.tls_roots.extend(pem_certificates(path)?);
    }
    options.discovery = match (args.discover, file.discover) {
        (Some(d), _) => Some(d),
        (None, Some(text)) => Some(Discovery::parse(&text).map_err(|e| format!("discover: {e}"))?),
        (None, None) => None,
    };
    options.join_timeout =
        duration_or(args.join_timeout, file.join_timeout.as_deref(), "join_timeout", options.join_timeout)?;
    if options.join_timeout.is_zero() {
        return Err("--join-timeout must be above zero".into());
    }
    let default = RetryJoin::default();
    let retry = RetryJoin {
        interval: duration_or(args.retry_interval, file.retry_interval.as_deref(), "retry_interval", default.interval)?,
        max_interval: duration_or(
            args.retry_max_interval,
            file.retry_max_interval.as_deref(),
            "retry_max_interval",
            default.max_interval,
        )?,
        max_attempts: args.retry_max.or(file.retry_max).filter(|&n| n > 0),
    };
    let seeds = Seeds {
        join: if args.join.is_empty() { file.join } else { args.join },
        retry_join: if args.retry_join.is_empty() { file.retry_join } else { args.retry_join },
        retry,
    };
    let serve = Serve { http: args.http.or(file.http), http_token: args.http_token.or(file.http_token) };
    if let Some(addr) = serve.http {
        api::check_bind(addr, serve.http_token.as_deref())?;
    }
    Ok((options, seeds, serve))
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    if let Some(command) = args.client.take() {
        return runtime.block_on(client::run(command));
    }
    init_logs(args.log_format);
    let (options, seeds, serve) = match options(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("gossip-agent: {e}");
            return ExitCode::from(2);
        }
    };
    let code = runtime.block_on(run(options, seeds, serve));
    // Not a plain drop: that would wait for the blocking read of stdin, which never ends
    // while a terminal or a parent holds it open.
    runtime.shutdown_background();
    code
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logs(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

async fn run(options: Options, seeds: Seeds, serve: Serve) -> ExitCode {
    let name = String::from_utf8_lossy(options.name.as_bytes()).into_owned();
    // Bound before the node starts, so that a taken address fails the start; the recorder
    // is installed before the node too, so it receives every metric and its description.
    let http = match serve.http {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => Some((listener, api::install_metrics())),
            Err(e) => {
                eprintln!("gossip-agent: cannot serve HTTP on {addr}: {e}");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    // What the settings came to, for operators (and for the test that a config file's
    // settings are applied).
    let cluster_name = String::from_utf8_lossy(&options.config.cluster_name).into_owned();
    let tolerated_ms = options.config.tolerated_silence().as_millis() as u64;
    let cluster = match Cluster::start(options).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gossip-agent: {e}");
            return ExitCode::from(1);
        }
    };
    let mut events = cluster.events();
    let mut started = json!({
        "event": "started",
        "node": name,
        "addr": cluster.local_addr().to_string(),
        "cluster": cluster_name,
        "tolerated_silence_ms": tolerated_ms,
    });
    let (left_tx, mut left) = tokio::sync::mpsc::channel::<()>(1);
    let mut server = None;
    if let Some((listener, metrics)) = http {
        let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        started["http"] = json!(addr);
        let state = api::State::new(cluster.clone(), name.clone(), serve.http_token, metrics, left_tx);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(api::serve(listener, state, stopped));
        tracing::info!(%addr, "serving the HTTP API");
        server = Some((stop, task));
    }
    print(started);
    // --join: one attempt. Without seeds the node starts a cluster of its own (which a
    // discovered node may then join); with --retry-join alone it waits for a seed.
    if !seeds.join.is_empty() || seeds.retry_join.is_empty() {
        let joiner = cluster.clone();
        tokio::spawn(async move {
            if let Err(e) = joiner.join(&seeds.join).await {
                eprintln!("gossip-agent: join: {e}");
            }
        });
    }
    // --retry-join: attempts until one succeeds; giving up ends the agent with status 1.
    let (gave_up_tx, mut gave_up) = tokio::sync::mpsc::channel::<String>(1);
    if !seeds.retry_join.is_empty() {
        let joiner = cluster.clone();
        tokio::spawn(async move {
            if let Err(e) = joiner.join_with_retry(&seeds.retry_join, &seeds.retry).await {
                let _ = gave_up_tx.send(e.to_string()).await;
            }
        });
    }
    let mut code = ExitCode::SUCCESS;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => print(objects::event(&name, &event)),
                None => break, // the node stopped
            },
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(line)) => {
                    if let Err(e) = command(&cluster, line.trim()).await {
                        eprintln!("gossip-agent: {e}");
                    }
                }
                _ => stdin_open = false, // keep running without a terminal
            },
            _ = left.recv() => break, // POST /v1/leave: the node has left
            Some(why) = gave_up.recv() => {
                eprintln!("gossip-agent: retry-join: {why}");
                cluster.shutdown().await;
                code = ExitCode::from(1);
                break;
            }
            _ = tokio::signal::ctrl_c() => {
                let _ = cluster.leave().await;
                break;
            }
        }
    }
    // Let the HTTP server answer what it was answering (the leave request among them), but
    // not wait for event streams that would never end.
    if let Some((stop, task)) = server {
        let _ = stop.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), task).await;
    }
    code
}

/// Runs one stdin command.
async fn command(cluster: &Cluster, line: &str) -> Result<(), String> {
    let (verb, rest) = line.split_once(char::is_whitespace).map_or((line, ""), |(v, r)| (v, r.trim()));
    let e = |e: gossip_tokio::ClusterError| e.to_string();
    match verb {
        "" => {}
        "members" => {
            let members = cluster.members().await.map_err(e)?;
            print(Value::Array(members.iter().map(objects::member).collect()));
        }
        "set" => {
            let (key, value) = rest.split_once(char::is_whitespace).ok_or("usage: set KEY VALUE")?;
            cluster.set(key.to_owned(), value.trim_start().to_owned()).await.map_err(e)?;
        }
        "delete" if rest.is_empty() => return Err("usage: delete KEY".into()),
        "delete" => cluster.delete(rest.to_owned()).await.map_err(e)?,
        "get" => {
            let (node, key) = rest.split_once(char::is_whitespace).ok_or("usage: get NODE KEY")?;
            let key = key.trim();
            let value = cluster.get(node, key).await.map_err(e)?;
            print(json!({"node": node, "key": key, "value": value.as_deref().map(objects::text)}));
        }
        "broadcast" => cluster.broadcast(rest.to_owned()).await.map_err(e)?,
        "stats" => {
            let (core, transport) = cluster.stats().await.map_err(e)?;
            print(objects::stats(&core, &transport));
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

/// Prints one JSON line; an event object gets `ts_ms` (Unix time in milliseconds) first.
fn print(line: Value) {
    let line = objects::stamped(line);
    let mut out = std::io::stdout().lock();
    // A closed stdout (the reader went away) must not kill the node.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
