//! LAN discovery: while a node knows no live member, it announces itself on a UDP
//! multicast group; every node on the group answers, and the lonely node joins those that
//! answer (Gossip-based-DS's broadcast bootstrap, on multicast).
//!
//! An announcement or answer is one datagram, sealed with the cluster's keyring when it
//! has one (a node without a key of the ring can neither be heard nor be answered):
//!
//! ```text
//! "GSPD"   magic
//! 0x01     version
//! kind     1 = announce (who is there?), 2 = answer (here I am)
//! u8 len   cluster name      (must equal ours)
//! u8 len   node id           (ours: ignored)
//! u8 len   gossip address    (text, e.g. 10.0.0.7:7946)
//! ```

use crate::TransportStats;
use gossip_core::{Keyring, NodeId};
use rand_core::{RngCore, SeedableRng};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::{Instant, interval};

const MAGIC: &[u8; 4] = b"GSPD";
const VERSION: u8 = 1;
const ANNOUNCE: u8 = 1;
const ANSWER: u8 = 2;
/// The largest discovery datagram read or sent (a name, an id and an address fit easily).
const MAX_DATAGRAM: usize = 1024;
/// At most one answer per this long: a flood of announcements costs one answer a period.
const ANSWER_EVERY: Duration = Duration::from_millis(200);
/// The same address is joined again at most this often.
const REJOIN_AFTER: Duration = Duration::from_secs(5);
/// Addresses remembered as recently joined (oldest forgotten first).
const MAX_REMEMBERED: usize = 256;

/// Where and how [`Options::discovery`](crate::Options::discovery) announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Discovery {
    /// The multicast group and port (IPv4; default [`Discovery::DEFAULT_GROUP`]).
    pub group: SocketAddrV4,
    /// The local interface's address to announce and listen on; `0.0.0.0`: the node's
    /// bind address if it has one, else the system's choice.
    pub interface: Ipv4Addr,
    /// How often a node that knows no live member announces itself.
    pub interval: Duration,
}

impl Discovery {
    /// 239.255.77.46:7950: an organisation-local group (RFC 2365), so routers keep it in.
    pub const DEFAULT_GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, 46), 7950);

    /// Discovery on `group`, every second, on the node's own interface.
    pub fn new(group: SocketAddrV4) -> Self {
        Discovery { group, interface: Ipv4Addr::UNSPECIFIED, interval: Duration::from_secs(1) }
    }

    /// `multicast` or `multicast:GROUP:PORT`, as the agent's `--discover` takes it.
    pub fn parse(text: &str) -> Result<Discovery, String> {
        match text.split_once(':') {
            None if text == "multicast" => Ok(Discovery::new(Discovery::DEFAULT_GROUP)),
            Some(("multicast", group)) => {
                let group: SocketAddrV4 =
                    group.parse().map_err(|_| format!("{group:?}: expected an IPv4 GROUP:PORT"))?;
                if !group.ip().is_multicast() {
                    return Err(format!("{} is not a multicast address (224.0.0.0/4)", group.ip()));
                }
                Ok(Discovery::new(group))
            }
            _ => Err(format!("{text:?}: expected multicast or multicast:GROUP:PORT")),
        }
    }
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery::new(Discovery::DEFAULT_GROUP)
    }
}

/// A decoded discovery datagram.
#[derive(Debug, PartialEq, Eq)]
struct Notice {
    kind: u8,
    cluster: Vec<u8>,
    id: Vec<u8>,
    addr: SocketAddr,
}

/// Why a discovery datagram was refused (each counted in `discovery_refused`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refused {
    /// Not sealed by a key of our ring, or sealed while we have none.
    Unsealed,
    /// Not a discovery datagram, or a truncated or unknown one.
    Malformed,
    /// Another cluster's.
    OtherCluster,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::Unsealed => "not sealed with a key of this node's ring",
            Refused::Malformed => "malformed",
            Refused::OtherCluster => "another cluster's",
        })
    }
}

fn encode(kind: u8, cluster: &[u8], id: &[u8], addr: SocketAddr) -> Option<Vec<u8>> {
    let addr = addr.to_string();
    let mut out = Vec::with_capacity(8 + cluster.len() + id.len() + addr.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VERSION, kind]);
    for field in [cluster, id, addr.as_bytes()] {
        out.push(u8::try_from(field.len()).ok()?);
        out.extend_from_slice(field);
    }
    Some(out)
}

fn decode(bytes: &[u8]) -> Option<Notice> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let ([VERSION, kind @ (ANNOUNCE | ANSWER)], mut rest) = rest.split_first_chunk::<2>()? else { return None };
    let mut field = || {
        let (&len, tail) = rest.split_first()?;
        let (value, tail) = tail.split_at_checked(usize::from(len))?;
        rest = tail;
        Some(value)
    };
    let (cluster, id, addr) = (field()?.to_vec(), field()?.to_vec(), field()?);
    let addr = std::str::from_utf8(addr).ok()?.parse().ok()?;
    rest.is_empty().then_some(Notice { kind: *kind, cluster, id, addr })
}

/// What one node announces with.
pub(crate) struct Announcer {
    pub(crate) discovery: Discovery,
    pub(crate) cluster_name: Vec<u8>,
    pub(crate) id: NodeId,
    pub(crate) addr: SocketAddr,
    pub(crate) keyring: Option<Keyring>,
}

impl Announcer {
    fn seal(&self, plain: Vec<u8>, rng: &mut crate::NodeRng) -> Vec<u8> {
        match &self.keyring {
            Some(ring) => {
                let mut nonce = [0u8; gossip_core::seal::NONCE_LEN];
                rng.fill_bytes(&mut nonce);
                ring.seal(nonce, &plain)
            }
            None => plain,
        }
    }

    fn open(&self, bytes: &[u8]) -> Result<Notice, Refused> {
        let plain = match &self.keyring {
            Some(ring) => ring.open(bytes).ok_or(Refused::Unsealed)?,
            None if bytes.first() == Some(&gossip_core::seal::SEALED) => return Err(Refused::Unsealed),
            None => bytes.to_vec(),
        };
        let notice = decode(&plain).ok_or(Refused::Malformed)?;
        if notice.cluster != self.cluster_name {
            return Err(Refused::OtherCluster);
        }
        Ok(notice)
    }

    fn notice(&self, kind: u8, rng: &mut crate::NodeRng) -> Option<Vec<u8>> {
        encode(kind, &self.cluster_name, self.id.as_bytes(), self.addr).map(|plain| self.seal(plain, rng))
    }

    /// The group's socket: bound to its port with address reuse (several nodes of one host
    /// share it), a member of the group on the interface, sending there with TTL 1.
    pub(crate) fn socket(&self) -> std::io::Result<UdpSocket> {
        use socket2::{Domain, Protocol, Socket, Type};
        let interface = match (self.discovery.interface, self.addr) {
            (i, SocketAddr::V4(a)) if i.is_unspecified() => *a.ip(),
            (i, _) => i,
        };
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        #[cfg(unix)]
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, self.discovery.group.port())).into())?;
        socket.join_multicast_v4(self.discovery.group.ip(), &interface)?;
        socket.set_multicast_if_v4(&interface)?;
        socket.set_multicast_loop_v4(true)?;
        socket.set_multicast_ttl_v4(1)?;
        UdpSocket::from_std(socket.into())
    }
}

/// Announces while alone and answers always, until the node stops.
pub(crate) async fn run(
    cluster: crate::WeakCluster,
    announcer: Announcer,
    socket: UdpSocket,
    stats: Arc<TransportStats>,
) {
    let mut rng = crate::NodeRng::from_os_rng();
    let group = SocketAddr::V4(announcer.discovery.group);
    let mut tick = interval(announcer.discovery.interval);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut last_answer: Option<Instant> = None;
    let mut joined: BTreeMap<SocketAddr, Instant> = BTreeMap::new();
    let send = |bytes: Vec<u8>| {
        stats.discovery_sent.fetch_add(1, Relaxed);
        bytes
    };
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = tick.tick() => {
                let Some(cluster) = cluster.upgrade() else { return };
                match cluster.alone().await {
                    Err(_) => return, // the node stopped
                    Ok(false) => {}
                    Ok(true) => if let Some(bytes) = announcer.notice(ANNOUNCE, &mut rng) {
                        let _ = socket.send_to(&send(bytes), group).await;
                    },
                }
                continue;
            }
        };
        let Ok((len, from)) = received else { continue };
        let notice = match announcer.open(&buf[..len]) {
            Ok(n) if n.id == announcer.id.as_bytes() => continue, // our own, looped back
            Ok(n) => n,
            Err(why) => {
                stats.discovery_refused.fetch_add(1, Relaxed);
                tracing::debug!(%from, %why, "discovery datagram refused");
                continue;
            }
        };
        stats.discovery_heard.fetch_add(1, Relaxed);
        let Some(cluster) = cluster.upgrade() else { return };
        if notice.kind == ANNOUNCE && last_answer.is_none_or(|at| at.elapsed() >= ANSWER_EVERY) {
            last_answer = Some(Instant::now());
            if let Some(bytes) = announcer.notice(ANSWER, &mut rng) {
                let _ = socket.send_to(&send(bytes), group).await;
            }
        }
        // Alone: join whoever speaks (an answer, or another lonely node's announcement).
        let recent = joined.get(&notice.addr).is_some_and(|at| at.elapsed() < REJOIN_AFTER);
        if !recent && cluster.alone().await.unwrap_or(false) {
            if joined.len() >= MAX_REMEMBERED {
                joined.retain(|_, at| at.elapsed() < REJOIN_AFTER);
            }
            joined.insert(notice.addr, Instant::now());
            tracing::info!(addr = %notice.addr, id = %String::from_utf8_lossy(&notice.id), "discovered; joining");
            let addr = notice.addr.to_string();
            tokio::spawn(async move {
                if let Err(error) = cluster.join([addr]).await {
                    tracing::debug!(%error, "join through a discovered node failed");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announcer(keyring: Option<Keyring>, cluster: &str) -> Announcer {
        Announcer {
            discovery: Discovery::default(),
            cluster_name: cluster.into(),
            id: "a".into(),
            addr: "127.0.0.1:7946".parse().unwrap(),
            keyring,
        }
    }

    #[test]
    fn notices_round_trip_and_garbage_is_refused() {
        let bytes = encode(ANNOUNCE, b"prod", b"node-1", "10.0.0.7:7946".parse().unwrap()).unwrap();
        let notice = decode(&bytes).unwrap();
        assert_eq!((notice.kind, &notice.cluster[..], &notice.id[..]), (ANNOUNCE, &b"prod"[..], &b"node-1"[..]));
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), None, "truncated at {cut}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing), None);
        let mut kind = bytes.clone();
        kind[5] = 9;
        assert_eq!(decode(&kind), None);
    }

    #[test]
    fn the_keyring_and_the_cluster_name_decide_who_is_heard() {
        let mut rng = crate::NodeRng::seed_from_u64(1);
        let (ring, other) = (Keyring::new([7; 32]), Keyring::new([8; 32]));
        let sealed = announcer(Some(ring.clone()), "c");
        let bytes = sealed.notice(ANSWER, &mut rng).unwrap();
        assert!(sealed.open(&bytes).is_ok());
        assert_eq!(announcer(Some(other), "c").open(&bytes).unwrap_err(), Refused::Unsealed);
        assert_eq!(announcer(None, "c").open(&bytes).unwrap_err(), Refused::Unsealed);
        let plain = announcer(None, "c").notice(ANSWER, &mut rng).unwrap();
        assert_eq!(sealed.open(&plain).unwrap_err(), Refused::Unsealed, "a sealed cluster ignores plain notices");
        assert_eq!(announcer(None, "d").open(&plain).unwrap_err(), Refused::OtherCluster);
        assert_eq!(announcer(None, "c").open(b"GSPD\x01").unwrap_err(), Refused::Malformed);
    }

    #[test]
    fn the_flag_parses() {
        assert_eq!(Discovery::parse("multicast"), Ok(Discovery::default()));
        assert_eq!(Discovery::parse("multicast:239.1.2.3:9000").unwrap().group, "239.1.2.3:9000".parse().unwrap());
        assert!(Discovery::parse("multicast:10.0.0.1:9000").is_err(), "not a multicast group");
        assert!(Discovery::parse("broadcast").is_err());
    }
}
