//! Tokio runtime adapter for [`gossip_core`]: one task drives a [`Node`] over a UDP socket
//! and a TCP listener bound to the same port, and a cloneable [`Cluster`] handle talks to it.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use gossip_tokio::{Cluster, Options};
//! use gossip_core::{Config, Event};
//!
//! let cluster = Cluster::start(Options::new(Config::lan(16), "node-a", "127.0.0.1:7946".parse()?)).await?;
//! let mut events = cluster.events();
//! cluster.join(["127.0.0.1:7947", "seed.example:7946"]).await?;
//! cluster.set("role", "db").await?;
//! while let Some(event) = events.recv().await {
//!     if let Event::MemberDown { id, .. } = event {
//!         println!("{id} is down");
//!     }
//! }
//! cluster.leave().await?;
//! # Ok(()) }
//! ```
//!
//! The core does the protocol; this crate only moves bytes and time:
//! - datagrams over UDP, reliable frames (push-pull syncs, big messages) over TCP
//!   ([`stream`](StreamLimits) describes the framing and its bounds);
//! - one `sleep_until` on [`Node::poll_timeout`], with time measured from the task's start;
//! - events fanned out to every [`Events`] receiver.
//!
//! With [`Transport::Ws`] everything travels over WebSocket instead (for networks where
//! only HTTP(S) passes; the default feature `ws`, without which neither tokio-tungstenite
//! nor rustls is linked). Around the node: seeds by DNS ([`Cluster::join`]), retry-join
//! ([`Cluster::join_with_retry`]), LAN discovery ([`Discovery`]) and typed messages
//! ([`Cluster::on`], [`TypedMessage`]).
//!
//! A peer can never stall or crash the task: frames are bounded in size and time, inbound
//! connections are capped, and a slow peer's queue drops frames rather than block.
//!
//! # Observability
//!
//! - **tracing**: the node task runs in a `node` span (`id`, `addr`) and emits an event
//!   per membership change (info; `member down` and a refutation at warn), per refused
//!   command (warn) and per transport error or dropped input (debug).
//! - **metrics**: once a second the task publishes, through the `metrics` facade, every
//!   [`Stats`] counter as `gossip_<field>_total` (per-kind arrays as
//!   `gossip_drops_total{reason}` and `gossip_decode_errors_total{kind}`), every
//!   [`TransportCounts`] field as `gossip_transport_<field>_total`, and the gauges
//!   `gossip_members{state}` (other members by state), `gossip_local_health_score`,
//!   `gossip_pending_news` (the dissemination queue), `gossip_kv_local_keys`,
//!   `gossip_kv_max_keys`, `gossip_outbound_streams`, `gossip_command_queue` and
//!   `gossip_inbound_frame_queue`. Nothing is recorded unless the
//!   application installs a recorder; install it before [`Cluster::start`] so that the
//!   descriptions (help text and units) reach it too.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod discovery;
mod driver;
mod error;
mod resolve;
mod retry;
mod stream;
mod telemetry;
mod typed;
#[cfg(feature = "ws")]
mod ws;

pub use discovery::Discovery;
pub use error::{ClusterError, JoinError, StartError};
pub use gossip_core;
pub use resolve::MAX_ADDRS_PER_SEED;
pub use retry::RetryJoin;
/// The TLS library of `wss://` dials, for [`Options::tls_roots`]'s certificate type.
#[cfg(feature = "ws")]
pub use rustls;
pub use stream::StreamLimits;
pub use typed::{Codec, MAX_TAG_LEN, TypedError, TypedMessage};

use bytes::Bytes;
use gossip_core::{CommandError, Config, Event, Keyring, KeyringError, MemberInfo, Node, NodeId, Stats, Time};
use rand_chacha::ChaCha12Rng;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// The generator each node draws from: ChaCha12, seeded from the OS or [`Options::seed`].
pub type NodeRng = ChaCha12Rng;

/// Everything [`Cluster::start`] needs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The protocol settings (a preset from [`Config::lan`] and friends, tuned).
    pub config: Config,
    /// This node's unique name.
    pub name: NodeId,
    /// Where to bind the UDP socket and the TCP listener (the same port). Port 0 picks one.
    pub bind: SocketAddr,
    /// The address peers should use, if not `bind` (required when `bind` is 0.0.0.0 or ::).
    pub advertise: Option<SocketAddr>,
    /// Initial metadata.
    pub meta: Bytes,
    /// Which life of this node this is (see [`gossip_core::Identity::generation`]); `None`:
    /// the current Unix time in seconds, which grows across restarts.
    pub generation: Option<u32>,
    /// Seed for the node's generator; `None`: from the operating system. For tests: with
    /// encryption the nonces come from this generator, so two nodes (or two lives of one)
    /// must never share a seed.
    pub seed: Option<u64>,
    /// How long [`Cluster::join`] waits for the first seed to answer (and, at most, for
    /// each seed name to resolve).
    pub join_timeout: Duration,
    /// DNS servers to resolve seed names with (`host:port` and `srv+NAME`); empty: the
    /// system's (host names through its resolver, with `/etc/hosts`; SRV through its DNS
    /// configuration).
    pub nameservers: Vec<SocketAddr>,
    /// How [`Cluster::send_typed`] and [`Cluster::broadcast_typed`] encode (any codec is
    /// decoded on receipt, so a cluster can change codec one node at a time).
    pub codec: Codec,
    /// How peers are reached: UDP datagrams and TCP streams (the default), or WebSocket.
    pub transport: Transport,
    /// With [`Transport::Ws`], the URL peers should dial this node at, when it is behind a
    /// reverse proxy (`wss://gossip.example.org/node-3`). The node is still named by its
    /// gossip address ([`Options::advertise`], else the bind address), which must be unique
    /// in the cluster; peers dial the URL for that address once a connection from this
    /// node has carried a message they accepted.
    #[cfg(feature = "ws")]
    pub advertise_url: Option<String>,
    /// With [`Transport::Ws`], the certificate authorities that a `wss://` peer's
    /// certificate must chain to, in DER (read PEM with
    /// [`rustls::pki_types::pem::PemObject`]); empty: the Mozilla roots that
    /// webpki-roots ships. Set it for peers behind proxies whose certificates a private
    /// CA signed: only these roots are then trusted. `ws://` dials ignore it.
    #[cfg(feature = "ws")]
    pub tls_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// LAN discovery: while this node knows no live member, announce it on a multicast
    /// group and join the nodes that answer ([`Discovery`]); `None`: seeds only.
    pub discovery: Option<Discovery>,
    /// How long [`Cluster::leave`] keeps sending the leave notice at most.
    pub leave_timeout: Duration,
    /// Bounds on the reliable path.
    pub streams: StreamLimits,
    /// Events buffered per receiver; a receiver that falls further behind misses the
    /// oldest (counted in [`Events::missed`]) rather than hold the node back.
    pub event_buffer: usize,
}

impl Options {
    /// Options with defaults for everything but the settings, the name and the address.
    pub fn new(config: Config, name: impl Into<NodeId>, bind: SocketAddr) -> Self {
        Options {
            config,
            name: name.into(),
            bind,
            advertise: None,
            meta: Bytes::new(),
            generation: None,
            seed: None,
            join_timeout: Duration::from_secs(5),
            nameservers: Vec::new(),
            codec: Codec::default(),
            discovery: None,
            transport: Transport::Udp,
            #[cfg(feature = "ws")]
            advertise_url: None,
            #[cfg(feature = "ws")]
            tls_roots: Vec::new(),
            leave_timeout: Duration::from_secs(5),
            streams: StreamLimits::default(),
            event_buffer: 4096,
        }
    }
}

/// How a node reaches its peers ([`Options::transport`]); every node of a cluster uses the
/// same one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// Datagrams over UDP and reliable frames over TCP, both on the bind port.
    #[default]
    Udp,
    /// Everything over WebSocket, one connection per peer: the node accepts at
    /// `ws://BIND/gossip`, dials `ws://ADDR/gossip` for a member at ADDR, and seeds may be
    /// `ws://` and `wss://` URLs (TLS with rustls, trusting the Mozilla roots or
    /// [`Options::tls_roots`]), as for a seed behind a reverse proxy. Frames, timeouts and
    /// slots have the bounds of [`StreamLimits`]. Needs the `ws` feature (a default one).
    ///
    /// Failures are detected as fast as over UDP, on a clean network and under random loss
    /// (TCP sends a lost probe again instead of losing it, so fewer live members are
    /// suspected); the price is about twice the bytes on the wire (TCP acks and headers),
    /// and a lost segment delays what follows it on that connection by 200 ms or more.
    #[cfg(feature = "ws")]
    Ws,
}

/// Counters of the transport itself (the protocol's are in [`Stats`]).
#[derive(Debug, Default)]
pub struct TransportStats {
    /// Datagrams that the socket refused to send.
    pub send_errors: AtomicU64,
    /// Frames written to peers.
    pub frames_out: AtomicU64,
    /// Frames read from peers.
    pub frames_in: AtomicU64,
    /// Frames dropped: the peer's queue was full, or its connection failed mid-write.
    pub frames_dropped: AtomicU64,
    /// Outbound connections that could not be opened.
    pub connect_failures: AtomicU64,
    /// Inbound connections closed for a bad preamble, an oversized, truncated or slow frame.
    pub bad_streams: AtomicU64,
    /// Inbound connections refused because `max_inbound` were open.
    pub refused_streams: AtomicU64,
    /// Typed messages handed to their handler ([`Cluster::on`]).
    pub typed_delivered: AtomicU64,
    /// Typed messages dropped: a malformed envelope, or a body that does not decode as
    /// its handler's type.
    pub typed_undecodable: AtomicU64,
    /// Typed messages dropped: no handler for their tag.
    pub typed_unhandled: AtomicU64,
    /// Messages the typed-message task missed because it fell `event_buffer` behind.
    pub typed_missed: AtomicU64,
    /// Discovery announcements and answers sent to the multicast group.
    pub discovery_sent: AtomicU64,
    /// Discovery datagrams heard from other nodes of this cluster.
    pub discovery_heard: AtomicU64,
    /// Discovery datagrams refused: malformed, another cluster's, or not sealed with a
    /// key of this node's ring.
    pub discovery_refused: AtomicU64,
}

/// A snapshot of [`TransportStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[allow(missing_docs)] // the fields mirror TransportStats
#[serde(default)] // an older agent's stats lack the newer counters
pub struct TransportCounts {
    pub send_errors: u64,
    pub frames_out: u64,
    pub frames_in: u64,
    pub frames_dropped: u64,
    pub connect_failures: u64,
    pub bad_streams: u64,
    pub refused_streams: u64,
    pub typed_delivered: u64,
    pub typed_undecodable: u64,
    pub typed_unhandled: u64,
    pub typed_missed: u64,
    pub discovery_sent: u64,
    pub discovery_heard: u64,
    pub discovery_refused: u64,
}

impl TransportStats {
    pub(crate) fn snapshot(&self) -> TransportCounts {
        TransportCounts {
            send_errors: self.send_errors.load(Relaxed),
            frames_out: self.frames_out.load(Relaxed),
            frames_in: self.frames_in.load(Relaxed),
            frames_dropped: self.frames_dropped.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
            bad_streams: self.bad_streams.load(Relaxed),
            refused_streams: self.refused_streams.load(Relaxed),
            typed_delivered: self.typed_delivered.load(Relaxed),
            typed_undecodable: self.typed_undecodable.load(Relaxed),
            typed_unhandled: self.typed_unhandled.load(Relaxed),
            typed_missed: self.typed_missed.load(Relaxed),
            discovery_sent: self.discovery_sent.load(Relaxed),
            discovery_heard: self.discovery_heard.load(Relaxed),
            discovery_refused: self.discovery_refused.load(Relaxed),
        }
    }
}

/// A closure run on the node inside its task.
type OnNode = Box<dyn FnOnce(&mut Node<NodeRng>, Time) + Send>;

/// Work for the node task. Most commands are a closure run on the node.
pub(crate) enum Command {
    Run(OnNode),
    Join(Vec<SocketAddr>, oneshot::Sender<Result<(), CommandError>>),
    Leave(oneshot::Sender<Result<(), CommandError>>),
    Shutdown(oneshot::Sender<()>),
}

/// A handle on a running node; clone it freely. When the last handle is dropped, the task
/// stops (without leaving: call [`Cluster::leave`] first for a graceful exit).
#[derive(Clone, Debug)]
pub struct Cluster {
    commands: mpsc::Sender<Command>,
    parts: Arc<Parts>,
}

/// Everything a handle holds but the command channel, which alone keeps the node running.
#[derive(Debug)]
struct Parts {
    events: broadcast::Sender<Event>,
    stats: Arc<TransportStats>,
    local: SocketAddr,
    join_timeout: Duration,
    nameservers: Vec<SocketAddr>,
    typed: Arc<typed::Typed>,
    /// The WebSocket transport's peers (URLs to dial), with [`Transport::Ws`].
    #[cfg(feature = "ws")]
    ws: Option<Arc<ws::Peers>>,
}

impl Cluster {
    /// Binds the sockets and starts the node task. The node starts talking on
    /// [`Cluster::join`]; until then it only answers.
    pub async fn start(options: Options) -> Result<Cluster, StartError> {
        let join_timeout = options.join_timeout;
        let nameservers = options.nameservers.clone();
        let typed = Arc::new(typed::Typed::new(options.codec));
        let announcer = options.discovery.map(|discovery| discovery::Announcer {
            discovery,
            cluster_name: options.config.cluster_name.to_vec(),
            id: options.name.clone(),
            addr: options.bind,
            keyring: options.config.keyring.clone(),
        });
        let handles = driver::spawn(options).await?;
        let (commands, stats, local) = (handles.commands, handles.stats, handles.local);
        let parts = Arc::new(Parts {
            events: handles.events,
            stats,
            local,
            join_timeout,
            nameservers,
            typed,
            #[cfg(feature = "ws")]
            ws: handles.ws,
        });
        let cluster = Cluster { commands, parts };
        if let Some(mut announcer) = announcer {
            announcer.addr = local;
            let socket = match announcer.socket() {
                Ok(socket) => socket,
                Err(error) => {
                    cluster.shutdown().await;
                    return Err(StartError::Discovery { group: announcer.discovery.group, error });
                }
            };
            let weak = WeakCluster { commands: cluster.commands.downgrade(), parts: cluster.parts.clone() };
            tokio::spawn(discovery::run(weak, announcer, socket, cluster.parts.stats.clone()));
        }
        Ok(cluster)
    }

    /// Whether this node knows no live member but itself.
    pub(crate) async fn alone(&self) -> Result<bool, ClusterError> {
        self.with_node(|node, _| node.peers().all(|m| !m.state().is_live())).await
    }

    /// The address peers reach this node at.
    pub fn local_addr(&self) -> SocketAddr {
        self.parts.local
    }

    /// A new receiver of every event from now on.
    pub fn events(&self) -> Events {
        Events { rx: self.parts.events.subscribe(), missed: 0 }
    }

    /// Joins the cluster through `seeds` and waits until one answers with its state.
    ///
    /// A seed is `IP:PORT`, `[IPv6]:PORT`, `host:port` (every address of this node's family
    /// that the name has, up to [`MAX_ADDRS_PER_SEED`]) or `srv+NAME` (the SRV records of
    /// `NAME`, e.g. `srv+_gossip._udp.example.org`: each target's addresses at its port),
    /// resolved here through [`Options::nameservers`] or the system's resolver. With
    /// [`Transport::Ws`], also `ws://HOST:PORT/PATH` or `wss://...`: the node is dialed at
    /// that URL. With no seeds, starts a new
    /// cluster at once. On [`JoinError::Timeout`] the node keeps retrying in the background;
    /// [`Cluster::join_with_retry`] also resolves the names again and reports each attempt.
    pub async fn join<S: AsRef<str>>(&self, seeds: impl IntoIterator<Item = S>) -> Result<(), JoinError> {
        let addrs = resolve::seeds(
            seeds,
            self.parts.local,
            &self.parts.nameservers,
            self.parts.join_timeout,
            self.parts.urls(),
        )
        .await?;
        let (reply, answer) = oneshot::channel();
        self.send(Command::Join(addrs, reply)).await?;
        match tokio::time::timeout(self.parts.join_timeout, answer).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(JoinError::Command(e)),
            Ok(Err(_)) => Err(JoinError::Closed),
            Err(_) => Err(JoinError::Timeout),
        }
    }

    /// Leaves gracefully: sends the leave notice (up to [`Options::leave_timeout`]), then
    /// stops the task. Every member will see this node as Left.
    pub async fn leave(&self) -> Result<(), ClusterError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Leave(reply)).await?;
        answer.await.map_err(|_| ClusterError::Closed)?.map_err(ClusterError::Command)
    }

    /// Stops the task at once, without a word to the cluster (peers will detect it as
    /// failed), and waits until its sockets are closed.
    pub async fn shutdown(&self) {
        let (reply, answer) = oneshot::channel();
        if self.send(Command::Shutdown(reply)).await.is_ok() {
            let _ = answer.await;
        }
    }

    /// This node and every member it knows of, in any state (Alive, Suspect, Down, Left).
    pub async fn members(&self) -> Result<Vec<MemberInfo>, ClusterError> {
        self.with_node(|node, _| node.members().collect()).await
    }

    /// Sets one of this node's replicated keys.
    pub async fn set(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<(), ClusterError> {
        let (key, value) = (key.into(), value.into());
        self.command(move |node, now| node.set(now, key, value)).await
    }

    /// Sets a key that this node deletes after `ttl`.
    pub async fn set_with_ttl(
        &self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<(), ClusterError> {
        let (key, value) = (key.into(), value.into());
        self.command(move |node, now| node.set_with_ttl(now, key, value, ttl)).await
    }

    /// Deletes one of this node's keys.
    pub async fn delete(&self, key: impl Into<Bytes>) -> Result<(), ClusterError> {
        let key = key.into();
        self.command(move |node, now| node.delete(now, key)).await
    }

    /// `owner`'s value of `key`, as far as this node knows.
    pub async fn get(&self, owner: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> Result<Option<Bytes>, ClusterError> {
        let (owner, key) = (owner.as_ref().to_vec(), key.as_ref().to_vec());
        self.with_node(move |node, _| node.get(&owner, &key).map(Bytes::copy_from_slice)).await
    }

    /// Every live key of `owner` known here, with its value.
    pub async fn keys(&self, owner: impl AsRef<[u8]>) -> Result<Vec<(Bytes, Bytes)>, ClusterError> {
        let owner = owner.as_ref().to_vec();
        self.with_node(move |node, _| {
            node.keys(&owner).map(|(k, v)| (Bytes::copy_from_slice(k), Bytes::copy_from_slice(v))).collect()
        })
        .await
    }

    /// Sends a user broadcast to every member (each gets [`Event::Broadcast`] once).
    pub async fn broadcast(&self, payload: impl Into<Bytes>) -> Result<(), ClusterError> {
        let payload = payload.into();
        self.command(move |node, now| node.broadcast(now, payload)).await
    }

    /// Sends `payload` to the member named `to`: over a stream if `reliable`, else one datagram.
    pub async fn send_to(
        &self,
        to: impl AsRef<[u8]>,
        payload: impl Into<Bytes>,
        reliable: bool,
    ) -> Result<(), ClusterError> {
        let (to, payload) = (to.as_ref().to_vec(), payload.into());
        self.command(move |node, now| node.send_to(now, &to, payload, reliable)).await
    }

    /// Replaces this node's metadata; every member sees [`Event::MemberUpdated`].
    pub async fn set_meta(&self, meta: impl Into<Bytes>) -> Result<(), ClusterError> {
        let meta = meta.into();
        self.command(move |node, now| node.set_meta(now, meta)).await
    }

    /// Key rotation, step 1: accept `key` too (do it on every node first).
    pub async fn add_key(&self, key: [u8; 32]) -> Result<(), ClusterError> {
        self.on_keyring(move |ring| ring.add(key)).await
    }

    /// Key rotation, step 2: seal with `key`, already added (once every node has it).
    pub async fn use_key(&self, key: [u8; 32]) -> Result<(), ClusterError> {
        self.on_keyring(move |ring| ring.use_key(&key)).await
    }

    /// Key rotation, step 3: stop accepting `key` (once no node seals with it).
    pub async fn remove_key(&self, key: [u8; 32]) -> Result<(), ClusterError> {
        self.on_keyring(move |ring| ring.remove(&key)).await
    }

    async fn on_keyring(
        &self,
        f: impl FnOnce(&mut Keyring) -> Result<(), KeyringError> + Send + 'static,
    ) -> Result<(), ClusterError> {
        let changed = self.with_node(move |node, _| node.keyring_mut().map(f)).await?;
        changed.ok_or(ClusterError::NotEncrypted)?.map_err(ClusterError::Keyring)
    }

    /// The protocol's counters and the transport's.
    pub async fn stats(&self) -> Result<(Stats, TransportCounts), ClusterError> {
        let transport = self.parts.stats.clone();
        self.with_node(move |node, _| (node.stats().clone(), transport.snapshot())).await
    }

    /// Runs `f` on the node inside its task and returns what it returns.
    async fn with_node<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node<NodeRng>, Time) -> T + Send + 'static,
    ) -> Result<T, ClusterError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Run(Box::new(move |node, now| {
            let _ = reply.send(f(node, now));
        })))
        .await?;
        answer.await.map_err(|_| ClusterError::Closed)
    }

    /// [`Cluster::with_node`] for the node's commands, which may be refused.
    async fn command(
        &self,
        f: impl FnOnce(&mut Node<NodeRng>, Time) -> Result<(), CommandError> + Send + 'static,
    ) -> Result<(), ClusterError> {
        self.with_node(f).await?.map_err(ClusterError::Command)
    }

    async fn send(&self, command: Command) -> Result<(), ClusterError> {
        self.commands.send(command).await.map_err(|_| ClusterError::Closed)
    }
}

impl Parts {
    /// Where seeds given as `ws://` and `wss://` URLs are written down, with [`Transport::Ws`].
    fn urls(&self) -> Option<&dyn resolve::Urls> {
        #[cfg(feature = "ws")]
        if let Some(peers) = &self.ws {
            return Some(peers.as_ref());
        }
        None
    }
}

/// A [`Cluster`] that does not keep the node running: for the adapter's own tasks, which
/// must stop when the user's last handle is dropped.
pub(crate) struct WeakCluster {
    commands: mpsc::WeakSender<Command>,
    parts: Arc<Parts>,
}

impl WeakCluster {
    /// A full handle while the node still runs.
    pub(crate) fn upgrade(&self) -> Option<Cluster> {
        Some(Cluster { commands: self.commands.upgrade()?, parts: self.parts.clone() })
    }
}

/// A receiver of the node's events ([`Cluster::events`]).
#[derive(Debug)]
pub struct Events {
    rx: broadcast::Receiver<Event>,
    missed: u64,
}

impl Events {
    /// The next event; `None` once the node task has stopped and every event was read.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            match self.rx.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(n)) => self.missed += n,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Events this receiver missed because it fell more than `event_buffer` behind.
    pub fn missed(&self) -> u64 {
        self.missed
    }
}
