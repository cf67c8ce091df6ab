//! The WebSocket transport between real agents on 127.0.0.1: five converge, a key set on
//! one reaches all, a `kill -9` is seen Down by all; a peer that floods garbage messages is
//! cut off and counted, a wrong path is refused with 404, and a udp node refuses ws seeds.
//! Every wait has a deadline and every child is killed on drop.

mod common;

use common::{Agent, WAIT, cluster, members, poll, until_alive};
use gossip_tokio::gossip_core::{Config, MemberState};
use gossip_tokio::{Cluster, Options, Transport};
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

/// A WebSocket node in this process on 127.0.0.1 whose connections close after 50 ms
/// idle, so that peers dial again (and so dial a proxied node's URL) between probes.
async fn ws_node(name: &str, bind: &str, advertise: Option<&str>, url: Option<String>) -> Cluster {
    let mut options = Options::new(Config::local(3), name, bind.parse().unwrap());
    options.transport = Transport::Ws;
    options.advertise = advertise.map(|a| a.parse().unwrap());
    options.advertise_url = url;
    options.streams.idle_timeout = Duration::from_millis(50);
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
