//! The WebSocket transport between real agents on 127.0.0.1: five converge, a key set on
//! one reaches all, a `kill -9` is seen Down by all; a peer that floods garbage messages is
//! cut off and counted, a wrong path is refused with 404, and a udp node refuses ws seeds.
//! Over `wss://`, through a TLS-terminating proxy in the test with a certificate from a CA
//! made in the test: a node that trusts the CA joins, one that does not is refused cleanly.
//! Every wait has a deadline and every child is killed on drop.
#![cfg(feature = "ws")]

mod common;

use common::{Agent, WAIT, cluster, members, poll, until_alive};
use gossip_tokio::gossip_core::{Config, Event, MemberState};
use gossip_tokio::rustls::ServerConfig;
use gossip_tokio::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use gossip_tokio::{Cluster, JoinError, Options, StartError, StreamLimits, Transport};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tungstenite::Message;

const WS: [&str; 2] = ["--transport", "ws"];

#[test]
fn five_agents_over_websocket_converge_share_keys_and_see_a_crash() {
    let mut agents = cluster("ws", 5, &WS);
    for agent in &agents {
        until_alive(&agent.http, 5);
    }
    agents[1].send("set color blue");
    for agent in agents.iter().filter(|a| a.name != "ws-1") {
        let key = agent.wait_for(WAIT, |v| v["event"] == "key" && v["node"] == "ws-1" && v["value"] == "blue");
        assert!(key.is_some(), "{} never got ws-1's key", agent.name);
    }
    let mut victim = agents.pop().unwrap();
    let _ = victim.child.kill(); // SIGKILL: no goodbye
    let _ = victim.child.wait();
    for agent in &agents {
        let down = poll(WAIT, || {
            let states = members(&agent.http);
            states.iter().any(|(n, s)| n == "ws-4" && (s == "down" || s == "left")).then_some(())
        });
        assert!(down.is_some(), "{} never saw ws-4 down: {:?}", agent.name, members(&agent.http));
    }
    let stats = agents[0].request("GET", "/v1/stats", None, b"").json();
    let drops: Vec<u64> = stats["stats"]["drops"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
    assert!(drops.iter().all(|&d| d == 0), "no message was refused on the way: {stats}");
}

/// The TCP path's preamble naming `addr` (stream.rs): magic, version, family, IP, port.
fn preamble(addr: std::net::SocketAddrV4) -> Vec<u8> {
    let mut out = b"GSPT\x01\x04".to_vec();
    out.extend_from_slice(&addr.ip().octets());
    out.extend_from_slice(&addr.port().to_be_bytes());
    out
}

#[test]
fn a_garbage_flood_is_cut_off_and_counted() {
    let agent = Agent::start("ws-target", &WS);
    let url = format!("ws://{}/gossip", agent.addr);
    let (mut socket, _) = tungstenite::connect(url.as_str()).expect("the agent accepts WebSockets on /gossip");
    socket.send(Message::Binary(preamble("127.0.0.1:9".parse().unwrap()).into())).unwrap();
    let mut sent = 0;
    let cut_off = (0..10_000).any(|i| {
        sent = i;
        let garbage = vec![0u8, 0xde, 0xad, (i % 256) as u8, 0xbe, 0xef];
        socket.send(Message::Binary(garbage.into())).is_err()
    });
    assert!(cut_off || socket.read().is_err(), "the connection survived {sent} garbage messages");
    let cut = poll(WAIT, || {
        let stats = agent.request("GET", "/v1/stats", None, b"").json();
        (stats["transport"]["bad_streams"].as_u64() >= Some(1)).then_some(())
    });
    assert!(cut.is_some(), "the cut-off is counted");

    // A text message, a message kind the transport does not know, a wrong path.
    for bad in [Message::Text("hello".into()), Message::Binary(vec![9u8, 1, 2].into())] {
        let (mut socket, _) = tungstenite::connect(url.as_str()).unwrap();
        socket.send(Message::Binary(preamble("127.0.0.1:9".parse().unwrap()).into())).unwrap();
        let _ = socket.send(bad);
        let closed = poll(WAIT, || match socket.read() {
            Ok(Message::Close(_)) | Err(_) => Some(()),
            Ok(_) => None,
        });
        assert!(closed.is_some(), "the connection is closed");
    }
    let wrong = tungstenite::connect(format!("ws://{}/elsewhere", agent.addr).as_str());
    match wrong {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 404),
        other => panic!("a wrong path is refused with 404, got {:?}", other.map(|_| ())),
    }
    std::thread::sleep(Duration::from_millis(100));
    let stats = agent.request("GET", "/v1/stats", None, b"").json();
    assert!(stats["transport"]["bad_streams"].as_u64() >= Some(3), "{stats}");
}

#[test]
fn ws_seeds_join_by_url_and_need_the_ws_transport() {
    let seed = Agent::start("ws-seed", &WS);
    let url = format!("ws://{}/gossip", seed.addr);
    let joiner = Agent::start("ws-joiner", &[&WS[..], &["--join", &url]].concat());
    until_alive(&joiner.http, 2);
    // TLS towards a node that speaks plain WebSocket fails its handshake: counted, no harm.
    let tls = Agent::start("wss-joiner", &[&WS[..], &["--join", &format!("wss://{}/gossip", seed.addr)]].concat());
    let failed = poll(WAIT, || {
        let stats = tls.request("GET", "/v1/stats", None, b"").json();
        (stats["transport"]["connect_failures"].as_u64() >= Some(1)).then_some(())
    });
    assert!(failed.is_some(), "the failed TLS handshake is counted");
    assert_eq!(members(&tls.http).len(), 1, "and nobody was joined");
    let udp = Agent::start("udp-node", &["--join", &url]);
    assert!(udp.wait_for_error(WAIT, "needs the WebSocket transport").is_some());
}

/// A TCP forwarder on 127.0.0.1 to `target`, standing in for a reverse proxy: each
/// connection is copied both ways until either side closes. Returns its address and the
/// count of connections it carried.
fn proxy(target: String) -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let carried = Arc::new(AtomicUsize::new(0));
    let count = carried.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().take(256) {
            let Ok(client) = client else { continue };
            count.fetch_add(1, Ordering::Relaxed);
            let Ok(server) = std::net::TcpStream::connect(&target) else { continue };
            for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    (addr, carried)
}

/// Options of a WebSocket node in this process on 127.0.0.1 whose connections close after
/// 50 ms idle, so that peers dial again (and so dial a proxied node's URL) between probes.
fn ws_options(name: &str, bind: &str) -> Options {
    let mut options = Options::new(Config::local(3), name, bind.parse().unwrap());
    options.transport = Transport::Ws;
    options.streams.idle_timeout = Duration::from_millis(50);
    options
}

/// A node of [`ws_options`], named by `advertise` and dialed at `url` if given.
async fn ws_node(name: &str, bind: &str, advertise: Option<&str>, url: Option<String>) -> Cluster {
    let mut options = ws_options(name, bind);
    options.advertise = advertise.map(|a| a.parse().unwrap());
    options.advertise_url = url;
    Cluster::start(options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_behind_a_proxy_is_reached_at_its_advertised_url() {
    let seed = ws_node("px-seed", "127.0.0.1:0", None, None).await;
    seed.join(Vec::<String>::new()).await.unwrap();
    let other = ws_node("px-other", "127.0.0.1:0", None, None).await;
    other.join([seed.local_addr().to_string()]).await.unwrap();
    // The hidden node's gossip address leads nowhere; only the proxy reaches it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (front, carried) = proxy(format!("127.0.0.1:{port}"));
    let bind = format!("127.0.0.1:{port}");
    let hidden = ws_node("px-hidden", &bind, Some("127.0.0.9:7"), Some(format!("ws://{front}/gossip"))).await;
    hidden.join([seed.local_addr().to_string()]).await.unwrap();
    let alive_everywhere = async {
        loop {
            let mut all = true;
            for node in [&seed, &other, &hidden] {
                let members = node.members().await.unwrap();
                all &= members.iter().filter(|m| m.state == MemberState::Alive).count() == 3;
            }
            if all && carried.load(Ordering::Relaxed) > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(WAIT, alive_everywhere).await.expect("all alive, and the proxy carried a connection");
    // Still alive everywhere a while later, with connections closing between probes:
    // probes reach the hidden node through the proxy.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for node in [&seed, &other] {
        let members = node.members().await.unwrap();
        let hidden = members.iter().find(|m| m.id.as_bytes() == b"px-hidden").unwrap();
        assert_eq!(hidden.state, MemberState::Alive);
    }
    assert!(carried.load(Ordering::Relaxed) > 1, "peers dialed the advertised URL again and again");
    for node in [seed, other, hidden] {
        node.shutdown().await;
    }
}

#[test]
fn an_advertised_url_must_be_a_ws_url() {
    let refused = common::client(&[
        "--name",
        "px-bad",
        "--bind",
        "127.0.0.1:0",
        "--transport",
        "ws",
        "--advertise-url",
        "http://x/",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cannot advertise"), "{refused:?}");
}

/// A certificate authority made for one test, and the TLS settings of a server for
/// `localhost` whose certificate it signed.
struct TestCa {
    root: CertificateDer<'static>,
    pem: String,
    server: Arc<ServerConfig>,
}

fn test_ca() -> TestCa {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "gossip-tokio test CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = params.signed_by(&key, &ca).unwrap();
    let provider = Arc::new(gossip_tokio::rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .unwrap();
    TestCa { root: ca.der().clone(), pem: ca.pem(), server: Arc::new(server) }
}

/// A TLS-terminating proxy on 127.0.0.1, standing in for a reverse proxy in front of a
/// node: it ends each connection's TLS with the test CA's certificate for `localhost` and
/// copies the plain bytes both ways to the node, until either side closes. Bound first, so
/// that the node can advertise its URL, and started once the node's address is known.
struct TlsProxy {
    listener: tokio::net::TcpListener,
}

/// What a started [`TlsProxy`] counted.
struct Front {
    /// Handshakes completed.
    served: Arc<AtomicUsize>,
    /// Handshakes that failed (a client that does not trust the certificate ends its own).
    refused: Arc<AtomicUsize>,
}

impl TlsProxy {
    async fn bind() -> TlsProxy {
        TlsProxy { listener: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap() }
    }

    fn url(&self) -> String {
        format!("wss://localhost:{}/gossip", self.listener.local_addr().unwrap().port())
    }

    /// Serves up to 1024 connections to `target` on the current runtime (and ends with it).
    fn start(self, server: Arc<ServerConfig>, target: SocketAddr) -> Front {
        let acceptor = tokio_rustls::TlsAcceptor::from(server);
        let front = Front { served: Arc::default(), refused: Arc::default() };
        let (served, refused) = (front.served.clone(), front.refused.clone());
        tokio::spawn(async move {
            for _ in 0..1024 {
                let Ok((client, _)) = self.listener.accept().await else { continue };
                let (acceptor, served, refused) = (acceptor.clone(), served.clone(), refused.clone());
                tokio::spawn(async move {
                    let Ok(Ok(mut tls)) = tokio::time::timeout(Duration::from_secs(5), acceptor.accept(client)).await
                    else {
                        refused.fetch_add(1, Ordering::Relaxed);
                        return;
                    };
                    served.fetch_add(1, Ordering::Relaxed);
                    let Ok(mut node) = tokio::net::TcpStream::connect(target).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut node).await;
                });
            }
        });
        front
    }
}

/// Polls `check` every 50 ms until it holds, for [`WAIT`] at most.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let wait = async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(WAIT, wait).await.unwrap_or_else(|_| panic!("{what}: not within {WAIT:?}"));
}

/// Whether `node` lists the member `name` as Alive.
async fn sees_alive(node: &Cluster, name: &str) -> bool {
    let members = node.members().await.unwrap();
    members.iter().any(|m| m.id.as_bytes() == name.as_bytes() && m.state == MemberState::Alive)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_trusts_the_ca_joins_over_wss_and_dials_the_advertised_url() {
    let ca = test_ca();
    // The node behind the proxy is named by an address that leads nowhere and advertises
    // the proxy's wss:// URL: its peers reach it only through the proxy, over TLS. Both
    // nodes keep connections open as long as by default (30 s idle), so the joiner's first
    // connection, to the seed's URL, stays the only one the node behind answers on: the
    // joiner must learn the URL from the acceptor's hello, not from a dial back.
    let proxy = TlsProxy::bind().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = format!("127.0.0.1:{port}");
    let mut options = ws_options("tls-behind", &bind);
    options.streams = StreamLimits::default();
    options.advertise = Some("127.0.0.9:7".parse().unwrap());
    options.advertise_url = Some(proxy.url());
    let behind = Cluster::start(options).await.unwrap();
    behind.join(Vec::<String>::new()).await.unwrap();
    let url = proxy.url();
    let front = proxy.start(ca.server.clone(), bind.parse().unwrap());
    let mut options = ws_options("tls-joiner", "127.0.0.1:0");
    options.streams = StreamLimits::default();
    options.tls_roots = vec![ca.root.clone()];
    let joiner = Cluster::start(options).await.unwrap();
    let mut events = joiner.events();
    joiner.join([url]).await.expect("the joiner trusts the test CA");
    until("both alive on both", async || {
        sees_alive(&joiner, "tls-behind").await && sees_alive(&behind, "tls-joiner").await
    })
    .await;
    behind.set("color", "green").await.unwrap();
    until("the key reaches the joiner", async || {
        joiner.get("tls-behind", "color").await.unwrap().as_deref() == Some(&b"green"[..])
    })
    .await;
    // Probes of the node behind go to its URL: a second connection through the proxy, and
    // no suspicion over four probe rounds.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(front.served.load(Ordering::Relaxed) >= 2, "the joiner dialed the advertised URL");
    assert_eq!(front.refused.load(Ordering::Relaxed), 0);
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(10), events.recv()).await {
        if let Event::MemberSuspect { id, .. } | Event::MemberDown { id, .. } = &event {
            assert_ne!(id.as_bytes(), b"tls-behind", "the joiner suspected the node behind: {event:?}");
        }
    }
    for node in [behind, joiner] {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_does_not_trust_the_ca_is_refused_cleanly() {
    let ca = test_ca();
    let proxy = TlsProxy::bind().await;
    let url = proxy.url();
    let node = ws_node("tls-node", "127.0.0.1:0", None, None).await;
    node.join(Vec::<String>::new()).await.unwrap();
    let front = proxy.start(ca.server.clone(), node.local_addr());
    // The default roots (Mozilla's) do not include the test CA.
    let mut options = ws_options("tls-stranger", "127.0.0.1:0");
    options.join_timeout = Duration::from_secs(2);
    let stranger = Cluster::start(options).await.unwrap();
    assert_eq!(stranger.join([url.as_str()]).await, Err(JoinError::Timeout));
    let (_, transport) = stranger.stats().await.unwrap();
    assert!(transport.connect_failures >= 1, "the refused handshake is counted: {transport:?}");
    assert!(front.refused.load(Ordering::Relaxed) >= 1 && front.served.load(Ordering::Relaxed) == 0);
    assert_eq!(stranger.members().await.unwrap().len(), 1, "and nobody was joined");
    assert_eq!(node.members().await.unwrap().len(), 1);

    // Roots are checked when the node starts, and only a ws node dials wss://.
    let mut options = ws_options("tls-bad-root", "127.0.0.1:0");
    options.tls_roots = vec![CertificateDer::from(b"not a certificate".to_vec())];
    assert!(matches!(Cluster::start(options).await, Err(StartError::TlsRoot { index: 0, .. })));
    let mut options = Options::new(Config::local(3), "tls-udp", "127.0.0.1:0".parse().unwrap());
    options.tls_roots = vec![ca.root.clone()];
    assert!(matches!(Cluster::start(options).await, Err(StartError::TlsRootsWithoutWs)));
    for node in [node, stranger] {
        node.shutdown().await;
    }
}

/// A PEM file of the test CA in the temporary directory, deleted on drop.
struct PemFile(std::path::PathBuf);

impl PemFile {
    fn new(name: &str, text: &str) -> PemFile {
        let path = std::env::temp_dir().join(format!("gossip-{}-{name}.pem", std::process::id()));
        std::fs::write(&path, text).unwrap();
        PemFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for PemFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn an_agent_with_tls_ca_joins_an_agent_behind_a_tls_proxy() {
    let ca = test_ca();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _in_runtime = runtime.enter();
    let proxy = runtime.block_on(TlsProxy::bind());
    let url = proxy.url();
    let behind = Agent::start("wss-behind", &[&WS[..], &["--advertise-url", &url]].concat());
    let _front = proxy.start(ca.server.clone(), behind.addr.parse().unwrap());
    let pem = PemFile::new("ca", &ca.pem);
    let flags = [&WS[..], &["--tls-ca", pem.path(), "--join", &url]].concat();
    let mut joiner = Agent::start("wss-joiner", &flags);
    until_alive(&joiner.http, 2);
    until_alive(&behind.http, 2);
    joiner.send("set color violet");
    let key = behind.wait_for(WAIT, |v| v["event"] == "key" && v["node"] == "wss-joiner" && v["value"] == "violet");
    assert!(key.is_some(), "the key crossed the proxy");

    // A file without a certificate is refused before the agent starts.
    let empty = PemFile::new("empty", "no certificate here\n");
    let refused =
        common::client(&["--name", "x", "--bind", "127.0.0.1:0", "--transport", "ws", "--tls-ca", empty.path()]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no PEM certificate"), "{refused:?}");
}
