//! Ten real nodes in one process over loopback UDP and TCP: they converge, a node dropped
//! without a word is seen Down by all, one that leaves is seen Left, and a key set on one
//! is seen by all. Every wait is bounded, so the test stops by itself.

use gossip_core::{Config, MemberState};
use gossip_tokio::{Cluster, Options};
use std::time::Duration;
use tokio::time::{Instant, sleep};

/// Fast timings for loopback, so detection takes seconds, not tens of seconds.
pub fn fast_config(n: usize) -> Config {
    let mut config = Config::local(n);
    for (field, value) in [("probe_interval", "300ms"), ("probe_timeout", "100ms"), ("gossip_interval", "50ms")] {
        config.set_field(field, value).unwrap();
    }
    config
}

async fn start(i: usize, n: usize) -> Cluster {
    let options = Options::new(fast_config(n), format!("node-{i}"), "127.0.0.1:0".parse().unwrap());
    Cluster::start(options).await.expect("bind a loopback port")
}

/// Polls `check` every 50 ms until it holds; panics with `what` after `limit`.
async fn eventually(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let end = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < end, "timed out after {limit:?}: {what}");
        sleep(Duration::from_millis(50)).await;
    }
}

/// [`eventually`] `check` holds on every node of `nodes`.
async fn on_every_node(nodes: &[Cluster], limit: Duration, what: &str, check: impl AsyncFn(&Cluster) -> bool) {
    eventually(limit, what, async || {
        for node in nodes {
            if !check(node).await {
                return false;
            }
        }
        true
    })
    .await;
}

async fn state_of(c: &Cluster, name: &str) -> Option<MemberState> {
    let members = c.members().await.ok()?;
    members.iter().find(|m| m.id.as_bytes() == name.as_bytes()).map(|m| m.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_converge_detect_a_silent_failure_see_a_leave_and_share_keys() {
    let n = 10;
    let mut nodes = Vec::new();
    for i in 0..n {
        nodes.push(start(i, n).await);
    }
    // Every node's events from the start, to check at the end that nobody declared a
    // live node Down.
    let mut events: Vec<_> = nodes.iter().map(|node| node.events()).collect();
    let seed = nodes[0].local_addr().to_string();
    nodes[0].join(Vec::<String>::new()).await.unwrap();
    for node in &nodes[1..] {
        node.join([&seed]).await.expect("the seed answers");
    }
    on_every_node(&nodes, Duration::from_secs(20), "every node sees all ten alive", async |node| {
        let members = node.members().await.unwrap();
        members.iter().filter(|m| m.state == MemberState::Alive).count() == n
    })
    .await;

    nodes[3].set("role", "db").await.unwrap();
    on_every_node(&nodes, Duration::from_secs(10), "every node has node-3's key", async |node| {
        node.get("node-3", "role").await.unwrap().as_deref() == Some(&b"db"[..])
    })
    .await;

    // Dropped without a word: its sockets close, it answers nothing.
    nodes[9].shutdown().await;
    let dropped = nodes.pop().unwrap();
    assert!(dropped.members().await.is_err(), "a stopped node refuses calls");
    on_every_node(&nodes, Duration::from_secs(30), "every live node sees node-9 Down", async |node| {
        state_of(node, "node-9").await == Some(MemberState::Down)
    })
    .await;

    nodes[8].leave().await.unwrap();
    let left = nodes.pop().unwrap();
    assert!(left.members().await.is_err(), "the node stopped after leaving");
    on_every_node(&nodes, Duration::from_secs(15), "every live node sees node-8 Left", async |node| {
        state_of(node, "node-8").await == Some(MemberState::Left)
    })
    .await;
    for node in &nodes {
        node.shutdown().await;
    }
    // Each receiver ends once its node stopped and every handle is gone; none of them saw
    // a live node go Down.
    drop((nodes, dropped, left));
    for (i, receiver) in events.iter_mut().enumerate() {
        let drain = async {
            let mut downs = Vec::new();
            while let Some(event) = receiver.recv().await {
                if let gossip_core::Event::MemberDown { id, .. } = event {
                    downs.push(id);
                }
            }
            downs
        };
        let downs = tokio::time::timeout(Duration::from_secs(10), drain).await.expect("the node's events end");
        for id in downs {
            assert_eq!(id.as_bytes(), b"node-9", "node-{i} declared the live {id} Down");
        }
        assert_eq!(receiver.missed(), 0, "node-{i}'s receiver fell behind: the check would be blind");
    }
}

#[tokio::test]
async fn typed_errors_for_a_port_in_use_an_unresolvable_seed_and_a_bad_key() {
    let first = start(0, 2).await;
    let taken = first.local_addr();
    let options = Options::new(fast_config(2), "other", taken);
    let err = Cluster::start(options).await.unwrap_err();
    assert!(matches!(err, gossip_tokio::StartError::Bind { .. }), "{err}");
    assert!(err.to_string().contains(&taken.to_string()));

    let err = first.join(["no-such-host.invalid:7946"]).await.unwrap_err();
    assert!(matches!(err, gossip_tokio::JoinError::Resolve { .. }), "{err}");
    let err = first.set("", "x").await.unwrap_err();
    assert!(matches!(err, gossip_tokio::ClusterError::Command(_)), "{err}");
    let err = first.add_key([1; 32]).await.unwrap_err();
    assert_eq!(err, gossip_tokio::ClusterError::NotEncrypted);

    let unspecified = Options::new(fast_config(2), "any", "0.0.0.0:0".parse().unwrap());
    let err = Cluster::start(unspecified).await.unwrap_err();
    assert!(matches!(err, gossip_tokio::StartError::NoAdvertiseAddress), "{err}");
    first.shutdown().await;
}

#[tokio::test]
async fn a_misbehaving_peer_cannot_stall_the_node() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    // Silent connections are given far longer than the test to say something, so they are
    // all still open when the node answers: the answer cannot have waited for them.
    let mut options = Options::new(fast_config(4), "node-0", "127.0.0.1:0".parse().unwrap());
    options.streams.preamble_timeout = Duration::from_secs(3600);
    let node = Cluster::start(options).await.expect("bind a loopback port");
    node.join(Vec::<String>::new()).await.unwrap();
    let addr = node.local_addr();
    // Garbage instead of a preamble; a valid preamble and then a 4 GiB frame length; a
    // connection that says nothing; and a hundred idle ones, above the inbound cap.
    let mut garbage = TcpStream::connect(addr).await.unwrap();
    garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut huge = TcpStream::connect(addr).await.unwrap();
    let mut preamble = b"GSPT\x01\x04\x7f\x00\x00\x01\x1f\x90".to_vec();
    preamble.extend_from_slice(&u32::MAX.to_be_bytes());
    huge.write_all(&preamble).await.unwrap();
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Garbage datagrams too.
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..100u8 {
        udp.send_to(&[i; 64], addr).await.unwrap();
    }
    // The node task still answers while every silent connection it accepted is open (a
    // deadline only so that a stalled task fails the test instead of hanging it)...
    let answer = tokio::time::timeout(Duration::from_secs(60), node.members()).await;
    assert_eq!(answer.expect("the task was stalled").unwrap().len(), 1);
    let mut open = 0;
    for conn in &idle {
        let mut byte = [0u8; 1];
        if matches!(conn.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            open += 1;
        }
    }
    assert!(open > 0, "no silent connection was still open when the node answered");
    // ...and a real peer still joins it (by name, not address) once they close.
    drop(idle);
    let peer = start(1, 4).await;
    let _ = peer.join([format!("localhost:{}", addr.port())]).await;
    eventually(Duration::from_secs(20), "the node sees its real peer", async || {
        state_of(&node, "node-1").await == Some(MemberState::Alive)
    })
    .await;
    let (stats, transport) = node.stats().await.unwrap();
    assert!(stats.drops.iter().sum::<u64>() >= 100, "the garbage datagrams were counted: {:?}", stats.drops);
    assert!(transport.refused_streams > 0, "connections above the cap were refused: {transport:?}");
    assert!(transport.bad_streams >= 2, "the garbage and the oversized frame were cut off: {transport:?}");
    node.shutdown().await;
    peer.shutdown().await;
}

/// Holds `count` connections to `addr` from 127.0.0.2 (an address of its own, as an
/// attacker's would be), reopened as soon as the node closes one: each sends a preamble
/// naming `claimed` and then a one-byte frame every 200 ms. Runs until aborted.
async fn slowloris(addr: std::net::SocketAddr, claimed: std::net::SocketAddr, count: usize) {
    use tokio::io::AsyncWriteExt;
    let mut preamble = b"GSPT\x01".to_vec();
    match claimed {
        std::net::SocketAddr::V4(a) => {
            preamble.push(4);
            preamble.extend_from_slice(&a.ip().octets());
            preamble.extend_from_slice(&a.port().to_be_bytes());
        }
        std::net::SocketAddr::V6(_) => unreachable!("the tests claim IPv4 addresses"),
    }
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        let preamble = preamble.clone();
        tasks.spawn(async move {
            loop {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                if socket.bind("127.0.0.2:0".parse().unwrap()).is_err() {
                    return;
                }
                let Ok(mut conn) = socket.connect(addr).await else {
                    sleep(Duration::from_millis(20)).await;
                    continue;
                };
                if conn.write_all(&preamble).await.is_err() {
                    continue;
                }
                while conn.write_all(&[0, 0, 0, 1, 0xff]).await.is_ok() {
                    sleep(Duration::from_millis(200)).await;
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

// Issue 14, item 4: connections that hold the inbound slots with a preamble and a trickle
// of one-byte frames (64, reopened as fast as they are closed, naming an address that is
// no member's or the address of a member) neither keep a new node from joining through
// the node they besiege (a join is a sync) nor from being seen by all; with a keyring
// neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_connections_do_not_starve_a_node_of_its_peers() {
    for (keyed, name_a_member) in [(false, false), (false, true), (true, false)] {
        let config = |n| {
            let mut config = fast_config(n);
            if keyed {
                config.keyring = Some(gossip_core::Keyring::new([7; 32]));
            }
            config
        };
        let start = async |i: usize| {
            let options = Options::new(config(4), format!("node-{i}"), "127.0.0.1:0".parse().unwrap());
            Cluster::start(options).await.expect("bind a loopback port")
        };
        let (a, b, c) = (start(0).await, start(1).await, start(2).await);
        a.join(Vec::<String>::new()).await.unwrap();
        b.join([a.local_addr().to_string()]).await.unwrap();
        eventually(Duration::from_secs(20), "b joined a", async || {
            state_of(&a, "node-1").await == Some(MemberState::Alive)
        })
        .await;
        let claimed = if name_a_member { b.local_addr() } else { "127.0.0.2:9".parse().unwrap() };
        let siege = tokio::spawn(slowloris(a.local_addr(), claimed, 64));
        sleep(Duration::from_secs(2)).await;
        let (_, before) = a.stats().await.unwrap();
        // A join completes on the seed's sync reply: it needs the stream path to work.
        c.join([a.local_addr().to_string()]).await.expect("c joins through the besieged node");
        eventually(Duration::from_secs(20), "a and b see c, c sees both", async || {
            state_of(&a, "node-2").await == Some(MemberState::Alive)
                && state_of(&b, "node-2").await == Some(MemberState::Alive)
                && state_of(&c, "node-0").await == Some(MemberState::Alive)
                && state_of(&c, "node-1").await == Some(MemberState::Alive)
        })
        .await;
        let (_, after) = a.stats().await.unwrap();
        assert!(after.bad_streams > before.bad_streams || after.refused_streams > before.refused_streams, "{after:?}");
        siege.abort();
        for node in [a, b, c] {
            node.shutdown().await;
        }
    }
}

// Issue 14, item 5, on real sockets: a node answers a stranger's datagram (a ping, and
// Alives of forty members it names, each checked with a ping at the address given) with no
// more bytes than it sent, and ignores a stranger's ping-req.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_use_a_node_to_amplify() {
    use gossip_core::wire::{Header, Message};
    use tokio::net::UdpSocket;
    let node = start(0, 4).await;
    node.join(Vec::<String>::new()).await.unwrap();
    let target = node.local_addr();
    // Where the claims say the named members live, and where the ping-req points: sockets
    // of the test's own, which count what arrives.
    let mut sinks = Vec::new();
    for _ in 0..41 {
        sinks.push(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    }
    let ids: Vec<String> = (0..40).map(|i| format!("claimed-{i}")).collect();
    let mut messages = vec![Message::Ping { seq: 1, target: b"node-0" }];
    for (id, sink) in ids.iter().zip(&sinks) {
        messages.push(Message::Alive {
            incarnation: 0,
            id: id.as_bytes(),
            addr: sink.local_addr().unwrap(),
            meta: b"",
        });
    }
    let relay = sinks[40].local_addr().unwrap();
    messages.push(Message::PingReq { seq: 2, target: b"node-9", addr: relay });
    let mut packet = bytes::BytesMut::new();
    Header { cluster: b"", sender: b"stranger" }.encode(&mut packet);
    for m in &messages {
        m.encode(&mut packet);
    }
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    stranger.send_to(&packet, target).await.unwrap();
    // Loopback delivers within milliseconds; a second is ample for every answer.
    sleep(Duration::from_secs(1)).await;
    let (mut received, mut buf) = (0, [0u8; 2048]);
    for socket in std::iter::once(&stranger).chain(&sinks) {
        while let Ok((n, _)) = socket.try_recv_from(&mut buf) {
            assert!(socket.local_addr().unwrap() != relay, "the stranger's ping-req was honoured");
            received += n;
        }
    }
    assert!(received > 0, "the ping was answered");
    assert!(received <= packet.len(), "{received} bytes came back for {} sent", packet.len());
    node.shutdown().await;
}
