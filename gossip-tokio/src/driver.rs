//! The node task: owns the [`Node`], selects over its inputs, and moves its outputs.

use crate::stream::{self, Inbound, StreamLimits};
use crate::telemetry;
#[cfg(feature = "ws")]
use crate::ws;
use crate::{Command, NodeRng, Options, StartError, TransportStats};
use bytes::Bytes;
use gossip_core::{CommandError, Event, Identity, Node, RecvError, Time, Transmit};
use rand_core::SeedableRng;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until};
use tracing::Instrument;

/// Largest datagram read (the UDP limit; the core drops anything above its MTU rules).
const MAX_DATAGRAM: usize = 65_536;

/// How long to stop accepting after an accept error.
const ACCEPT_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

pub(crate) struct Handles {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) stats: Arc<TransportStats>,
    pub(crate) local: SocketAddr,
    /// The WebSocket transport's peers (URLs to dial), with [`Transport::Ws`](crate::Transport::Ws).
    #[cfg(feature = "ws")]
    pub(crate) ws: Option<Arc<ws::Peers>>,
}

/// Binds the sockets, builds the node and spawns its task.
pub(crate) async fn spawn(options: Options) -> Result<Handles, StartError> {
    let (udp, listener) = bind(options.bind).await?;
    let bound = udp.local_addr().map_err(|error| StartError::Bind { addr: options.bind, error })?;
    let advertise = match options.advertise {
        Some(a) => SocketAddr::new(a.ip(), if a.port() == 0 { bound.port() } else { a.port() }),
        None if bound.ip().is_unspecified() => return Err(StartError::NoAdvertiseAddress),
        None => bound,
    };
    let (frames_tx, frames) = mpsc::channel(64);
    let (datagrams_tx, ws_datagrams) = mpsc::channel(64);
    let stats = Arc::new(TransportStats::default());
    let preamble = stream::preamble(advertise);
    #[cfg(feature = "ws")]
    let ws = {
        let sinks = ws::Sinks { datagrams: datagrams_tx, frames: frames_tx.clone() };
        ws::Shared::new(&options, sinks, stats.clone(), &preamble)?
    };
    #[cfg(not(feature = "ws"))]
    drop(datagrams_tx); // nothing sends datagrams but the socket
    let generation = options.generation.unwrap_or_else(unix_seconds);
    let mut identity = Identity::new(options.name.clone(), advertise).with_generation(generation);
    identity.meta = options.meta.clone();
    let rng = match options.seed {
        Some(seed) => NodeRng::seed_from_u64(seed),
        None => NodeRng::from_os_rng(),
    };
    let max_frame = options.config.max_stream_frame;
    let span = tracing::info_span!("node", id = %options.name, addr = %advertise);
    let node = Node::new(options.config, identity, rng).map_err(StartError::Config)?;
    let (commands_tx, commands) = mpsc::channel(64);
    let (events, _) = broadcast::channel(options.event_buffer.max(1));
    #[cfg(feature = "ws")]
    let peers = ws.as_ref().map(|w| w.peers.clone());
    let driver = Driver {
        node,
        origin: Instant::now(),
        udp,
        listener,
        commands,
        frames_tx,
        frames,
        events: events.clone(),
        stats: stats.clone(),
        writers: HashMap::new(),
        preamble,
        #[cfg(feature = "ws")]
        ws,
        ws_datagrams,
        inbound: Inbound::new(&options.streams),
        limits: options.streams,
        max_frame,
        join_waiters: Vec::new(),
        leave: None,
        leave_timeout: options.leave_timeout,
    };
    span.in_scope(|| tracing::info!(bound = %bound, "node started"));
    tokio::spawn(driver.run().instrument(span));
    Ok(Handles {
        commands: commands_tx,
        events,
        stats,
        local: advertise,
        #[cfg(feature = "ws")]
        ws: peers,
    })
}

/// Binds UDP and TCP on one port; with port 0, tries a few until both are free.
async fn bind(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), StartError> {
    let mut last = None;
    for _ in 0..if addr.port() == 0 { 16 } else { 1 } {
        let udp = UdpSocket::bind(addr).await.map_err(|error| StartError::Bind { addr, error })?;
        let port = udp.local_addr().map_err(|error| StartError::Bind { addr, error })?.port();
        match TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(error) => last = Some(error),
        }
    }
    Err(StartError::Bind { addr, error: last.unwrap_or_else(|| io::Error::other("no free port")) })
}

/// Whether a WebSocket message the node refused is garbage, which ends its connection
/// (a benign refusal, such as input after this node left, does not).
fn is_garbage(taken: Result<(), RecvError>) -> bool {
    matches!(
        taken,
        Err(RecvError::Decode(_)
            | RecvError::TooLarge
            | RecvError::WrongCluster
            | RecvError::Decrypt
            | RecvError::FromSelf)
    )
}

fn unix_seconds() -> u32 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}

struct Driver {
    node: Node<NodeRng>,
    origin: Instant,
    udp: UdpSocket,
    listener: TcpListener,
    commands: mpsc::Receiver<Command>,
    frames_tx: mpsc::Sender<stream::Frame>,
    frames: mpsc::Receiver<stream::Frame>,
    events: broadcast::Sender<Event>,
    stats: Arc<TransportStats>,
    /// One writer task per peer with frames to send, fed through its queue.
    writers: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
    preamble: Bytes,
    /// The WebSocket transport, which then carries every transmit.
    #[cfg(feature = "ws")]
    ws: Option<ws::Shared>,
    /// Datagrams that arrived over WebSocket (none without the transport).
    ws_datagrams: mpsc::Receiver<stream::Frame>,
    inbound: Arc<Inbound>,
    limits: StreamLimits,
    max_frame: usize,
    join_waiters: Vec<oneshot::Sender<Result<(), CommandError>>>,
    /// Leaving: when to stop at the latest, and who waits for it.
    leave: Option<(Instant, oneshot::Sender<Result<(), CommandError>>)>,
    leave_timeout: std::time::Duration,
}

/// What woke the task up.
enum Input {
    Datagram(io::Result<(usize, SocketAddr)>),
    Frame(stream::Frame),
    WsDatagram(stream::Frame),
    Connection(io::Result<(TcpStream, SocketAddr)>),
    Timeout,
    Command(Option<Command>),
    Publish,
}

impl Driver {
    async fn run(mut self) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut done: Option<oneshot::Sender<()>> = None;
        // After a failed accept (out of file descriptors, say), stop accepting for a while
        // rather than spin on the error; the node's own timers wake the loop meanwhile.
        let mut accept_after = Instant::now();
        let mut publish = interval(telemetry::METRICS_INTERVAL);
        publish.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut described = false;
        loop {
            self.flush().await;
            let deadline = self.node.poll_timeout();
            if let Some((until, _)) = &self.leave
                && (deadline.is_none() || Instant::now() >= *until)
            {
                break; // the leave notice went out its full budget (or we waited long enough)
            }
            let leave_by = self.leave.as_ref().map(|(until, _)| *until);
            let wake = deadline.map(|t| self.instant(t)).into_iter().chain(leave_by).min();
            let input = tokio::select! {
                r = self.udp.recv_from(&mut buf) => Input::Datagram(r),
                Some(frame) = self.frames.recv() => Input::Frame(frame),
                Some(datagram) = self.ws_datagrams.recv() => Input::WsDatagram(datagram),
                c = self.listener.accept(), if Instant::now() >= accept_after => Input::Connection(c),
                () = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => Input::Timeout,
                c = self.commands.recv() => Input::Command(c),
                _ = publish.tick() => Input::Publish,
            };
            let now = self.now();
            match input {
                Input::Datagram(Ok((len, from))) => {
                    if let Err(error) = self.node.handle_datagram(now, from, &buf[..len]) {
                        tracing::debug!(%from, %error, "datagram dropped");
                    }
                }
                // ICMP errors of earlier sends surface here on some systems; nothing to do.
                Input::Datagram(Err(_)) => {}
                Input::Frame((from, frame, verdict)) => {
                    let taken = self.node.handle_stream(now, from, &frame);
                    if let Err(error) = taken {
                        tracing::debug!(%from, %error, "stream frame dropped");
                    }
                    let _ = verdict.send(taken.is_ok());
                }
                Input::WsDatagram((from, datagram, verdict)) => {
                    let taken = self.node.handle_datagram(now, from, &datagram);
                    if let Err(error) = taken {
                        tracing::debug!(%from, %error, "datagram dropped");
                    }
                    let _ = verdict.send(!is_garbage(taken));
                }
                Input::Connection(Ok((conn, peer))) => self.accept(conn, peer),
                Input::Connection(Err(error)) => {
                    tracing::warn!(%error, "accept failed; pausing new connections");
                    accept_after = Instant::now() + ACCEPT_PAUSE;
                }
                Input::Publish => {
                    let transport = self.stats.snapshot();
                    let queues = telemetry::Queues {
                        outbound_streams: self.writers.len(),
                        commands: self.commands.len(),
                        inbound_frames: self.frames.len(),
                    };
                    telemetry::publish(&mut self.node, &transport, queues, &mut described);
                }
                Input::Timeout => self.node.handle_timeout(now),
                Input::Command(None) => break, // every handle dropped
                Input::Command(Some(command)) => {
                    if let Some(reply) = self.command(now, command) {
                        done = Some(reply);
                        break;
                    }
                }
            }
        }
        let leave = self.leave.take();
        drop(self); // close the sockets before anyone hears we are done
        if let Some((_, reply)) = leave {
            let _ = reply.send(Ok(()));
        }
        if let Some(reply) = done {
            let _ = reply.send(());
        }
    }

    /// Carries out `command`; for a shutdown, returns who waits for the task to end.
    fn command(&mut self, now: Time, command: Command) -> Option<oneshot::Sender<()>> {
        match command {
            Command::Run(f) => f(&mut self.node, now),
            Command::Join(seeds, reply) => match self.node.join(now, &seeds) {
                Err(e) => {
                    tracing::warn!(error = %e, "join refused");
                    let _ = reply.send(Err(e));
                }
                Ok(()) if seeds.is_empty() => {
                    let _ = reply.send(Ok(()));
                }
                Ok(()) => self.join_waiters.push(reply),
            },
            Command::Leave(reply) => match self.node.leave(now) {
                Err(e) => {
                    tracing::warn!(error = %e, "leave refused");
                    let _ = reply.send(Err(e));
                }
                Ok(()) => {
                    tracing::info!("leaving");
                    self.leave = Some((Instant::now() + self.leave_timeout, reply));
                }
            },
            Command::Shutdown(reply) => return Some(reply),
        }
        None
    }

    /// Sends every queued packet and hands out every event.
    async fn flush(&mut self) {
        while let Some(t) = self.node.poll_transmit() {
            #[cfg(feature = "ws")]
            if let Some(ws) = &self.ws {
                if !ws.send(t.dest, &t.payload, t.reliable) {
                    self.stats.frames_dropped.fetch_add(1, Relaxed);
                    tracing::debug!(dest = %t.dest, "message dropped: the peer's WebSocket queue is full");
                }
                continue;
            }
            if t.reliable {
                self.send_frame(t);
            } else if let Err(error) = self.udp.send_to(&t.payload, t.dest).await {
                self.stats.send_errors.fetch_add(1, Relaxed);
                tracing::debug!(dest = %t.dest, %error, "datagram send failed");
            }
        }
        let mut membership_changed = false;
        while let Some(event) = self.node.poll_event() {
            membership_changed |= matches!(
                event,
                Event::MemberUp(_) | Event::MemberUpdated(_) | Event::MemberDown { .. } | Event::MemberLeft { .. }
            );
            if event == Event::Joined {
                for waiter in self.join_waiters.drain(..) {
                    let _ = waiter.send(Ok(()));
                }
            }
            telemetry::trace_event(&event);
            let _ = self.events.send(event); // no receiver: nobody is listening, fine
        }
        if membership_changed {
            self.inbound.set_members(self.node.peers().map(|m| m.addr()).collect());
        }
    }

    /// Queues a frame on the peer's connection, opening one if needed.
    fn send_frame(&mut self, t: Transmit) {
        if let Some(queue) = self.writers.get(&t.dest).filter(|q| !q.is_closed()) {
            if queue.try_send(t.payload).is_err() {
                self.stats.frames_dropped.fetch_add(1, Relaxed);
                tracing::debug!(dest = %t.dest, "frame dropped: the peer's queue is full");
            }
            return;
        }
        self.writers.retain(|_, q| !q.is_closed());
        if self.writers.len() >= self.limits.max_outbound {
            self.stats.frames_dropped.fetch_add(1, Relaxed);
            tracing::debug!(dest = %t.dest, max_outbound = self.limits.max_outbound, "frame dropped: too many outbound streams");
            return;
        }
        let (queue, rx) = mpsc::channel(self.limits.queue_per_peer.max(1));
        let _ = queue.try_send(t.payload);
        tokio::spawn(stream::write_frames(t.dest, self.preamble.clone(), rx, self.limits, self.stats.clone()));
        self.writers.insert(t.dest, queue);
    }

    fn accept(&mut self, conn: TcpStream, peer: SocketAddr) {
        let Some(slot) = self.inbound.admit(peer.ip()) else {
            self.stats.refused_streams.fetch_add(1, Relaxed);
            tracing::debug!(%peer, max_inbound = self.limits.max_inbound, "inbound stream refused: too many open");
            return; // dropping the stream closes it
        };
        #[cfg(feature = "ws")]
        if let Some(ws) = &self.ws {
            tokio::spawn(ws::accept(conn, ws.clone(), slot));
            return;
        }
        let reader =
            stream::read_frames(conn, self.frames_tx.clone(), self.max_frame, self.limits, self.stats.clone(), slot);
        tokio::spawn(reader);
    }

    fn now(&self) -> Time {
        Time::from_nanos(u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    fn instant(&self, t: Time) -> Instant {
        let far = self.origin + std::time::Duration::from_secs(86_400 * 365);
        self.origin.checked_add(std::time::Duration::from_nanos(t.as_nanos())).map_or(far, |i| i.min(far))
    }
}
