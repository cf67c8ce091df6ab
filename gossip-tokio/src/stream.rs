//! The reliable path: core frames over TCP, each connection one way.
//!
//! A connection opens with a preamble (magic, version, the sender's gossip address) and then
//! carries frames, each a 4-byte big-endian length and that many bytes. The receiver hands
//! the core the address from the preamble, not the connection's ephemeral source port, so a
//! reply reaches the peer's listener. Every read is bounded in size and time, and the number
//! of open inbound connections is capped: a peer that sends garbage, stalls or opens
//! connections in a loop costs one task and one permit, never the node task.
//!
//! Inbound slots are guarded against a peer that holds them (a slowloris): one source
//! address may hold at most `max_inbound_per_ip` of them; a connection whose preamble
//! names no member of the cluster is one of at most `max_inbound_strangers`, so that the
//! rest stay for members, and idles no longer than a preamble may take; every first frame
//! is due as quickly as the preamble; and a frame
//! the node refuses (undecodable, from another cluster, not opened by the keyring) ends
//! the connection instead of keeping it alive.

use crate::TransportStats;
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::timeout;

/// The first bytes of every connection: "GSPT" and the framing version.
const MAGIC: &[u8; 4] = b"GSPT";
const VERSION: u8 = 1;

/// Bounds on the reliable path (see [`Options::streams`](crate::Options)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    /// Most inbound connections open at once; more are closed on accept (and counted).
    pub max_inbound: usize,
    /// Most inbound connections open at once from one IP address.
    pub max_inbound_per_ip: usize,
    /// Most inbound connections open at once whose preamble names an address that is not
    /// a member's: the other slots stay for members.
    pub max_inbound_strangers: usize,
    /// Most outbound connections kept open at once (one per peer, reused while busy).
    pub max_outbound: usize,
    /// Longest wait for a connect, the rest of a started frame, or a write.
    pub io_timeout: Duration,
    /// Longest wait for a new connection's preamble, and then for its first frame: short,
    /// so that silent connections cannot hold the inbound slots for long.
    pub preamble_timeout: Duration,
    /// A connection with nothing to carry for this long is closed.
    pub idle_timeout: Duration,
    /// Frames queued for one peer while its connection is busy; more are dropped (counted).
    pub queue_per_peer: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_inbound: 64,
            max_inbound_per_ip: 32,
            max_inbound_strangers: 16,
            max_outbound: 64,
            io_timeout: Duration::from_secs(5),
            preamble_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(30),
            queue_per_peer: 32,
        }
    }
}

/// The preamble announcing `addr` as the sender's gossip address: the magic, the version,
/// the address family (4 or 6), the address, the port (big-endian).
pub(crate) fn preamble(addr: SocketAddr) -> Bytes {
    let mut out = BytesMut::with_capacity(24);
    out.put_slice(MAGIC);
    out.put_u8(VERSION);
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.put_u8(4);
            out.put_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.put_u8(6);
            out.put_slice(&ip.octets());
        }
    }
    out.put_u16(addr.port());
    out.freeze()
}

/// Reads a preamble; `None` if the bytes are not one.
async fn read_preamble(stream: &mut (impl AsyncRead + Unpin)) -> Option<SocketAddr> {
    let mut head = [0u8; 6];
    stream.read_exact(&mut head).await.ok()?;
    let (magic, version, family) = (&head[..4], head[4], head[5]);
    if magic != MAGIC || version != VERSION {
        return None;
    }
    let ip_len = match family {
        4 => 4,
        6 => 16,
        _ => return None,
    };
    let mut addr = [0u8; 16 + 2];
    let addr = &mut addr[..ip_len + 2];
    stream.read_exact(addr).await.ok()?;
    let (ip, port) = addr.split_at(ip_len);
    let ip = match <[u8; 4]>::try_from(ip) {
        Ok(v4) => IpAddr::from(v4),
        Err(_) => IpAddr::from(<[u8; 16]>::try_from(ip).ok()?),
    };
    Some(SocketAddr::new(ip, u16::from_be_bytes([port[0], port[1]])))
}

/// The preamble that a WebSocket's first message starts with, and the bytes after it;
/// `None` if it is not one.
#[cfg(feature = "ws")]
pub(crate) async fn parse_preamble(bytes: &[u8]) -> Option<(SocketAddr, &[u8])> {
    let mut rest = bytes;
    let addr = read_preamble(&mut rest).await?;
    Some((addr, rest))
}

/// A frame for the node task, with the sender's gossip address and where to say whether
/// the node took it.
pub(crate) type Frame = (SocketAddr, Bytes, oneshot::Sender<bool>);

/// Who holds the inbound slots (see the module docs), shared by the node task, which
/// accepts connections and knows the members, and the tasks that read them.
#[derive(Debug)]
pub(crate) struct Inbound {
    slots: Arc<Semaphore>,
    strangers: Arc<Semaphore>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    max_per_ip: usize,
    /// The addresses of the node's members, as of its last change of membership.
    members: RwLock<HashSet<SocketAddr>>,
}

/// An inbound slot, held while its connection is open.
pub(crate) struct Slot {
    inbound: Arc<Inbound>,
    ip: IpAddr,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    /// For a connection whose preamble names `from`: `Ok(None)` if it is a member's, a
    /// strangers' permit if one is free, `Err` if all are taken (refuse the connection).
    pub(crate) fn stranger_permit(&self, from: &SocketAddr) -> Result<Option<OwnedSemaphorePermit>, ()> {
        if self.inbound.is_member(from) {
            return Ok(None);
        }
        self.inbound.strangers.clone().try_acquire_owned().map(Some).map_err(|_| ())
    }

    /// Whether `addr` is a member's address, as of the node's last change of membership.
    pub(crate) fn is_member(&self, addr: &SocketAddr) -> bool {
        self.inbound.is_member(addr)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_ip = self.inbound.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

impl Inbound {
    pub(crate) fn new(limits: &StreamLimits) -> Arc<Self> {
        Arc::new(Inbound {
            slots: Arc::new(Semaphore::new(limits.max_inbound)),
            strangers: Arc::new(Semaphore::new(limits.max_inbound_strangers)),
            per_ip: Mutex::new(HashMap::new()),
            max_per_ip: limits.max_inbound_per_ip,
            members: RwLock::new(HashSet::new()),
        })
    }

    /// A slot for a connection from `ip`, if one is free and `ip` holds fewer than its share.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let held = per_ip.entry(ip).or_insert(0);
        if *held >= self.max_per_ip {
            return None;
        }
        let permit = self.slots.clone().try_acquire_owned().ok()?;
        *held += 1;
        Some(Slot { inbound: self.clone(), ip, _permit: permit })
    }

    /// Replaces the member addresses that connections may name to use the members' slots.
    pub(crate) fn set_members(&self, members: HashSet<SocketAddr>) {
        *self.members.write().unwrap_or_else(|e| e.into_inner()) = members;
    }

    fn is_member(&self, addr: &SocketAddr) -> bool {
        self.members.read().unwrap_or_else(|e| e.into_inner()).contains(addr)
    }
}

/// Serves one inbound connection: hands each frame, with the sender's gossip address, to
/// the node task until the peer closes, idles, misbehaves or the task stops.
pub(crate) async fn read_frames(
    mut stream: TcpStream,
    frames: mpsc::Sender<Frame>,
    max_frame: usize,
    limits: StreamLimits,
    stats: Arc<TransportStats>,
    slot: Slot,
) {
    let peer = stream.peer_addr().ok();
    let Ok(Some(from)) = timeout(limits.preamble_timeout, read_preamble(&mut stream)).await else {
        stats.bad_streams.fetch_add(1, Relaxed);
        tracing::debug!(?peer, "inbound stream closed: no valid preamble in time");
        return;
    };
    // A stranger's connection takes one of the few slots strangers may hold, too, and may
    // idle only as long as a preamble may take, until its sender becomes a member (a
    // joiner does within a round trip).
    let Ok(mut stranger) = slot.stranger_permit(&from) else {
        stats.refused_streams.fetch_add(1, Relaxed);
        tracing::debug!(%from, "inbound stream refused: too many from addresses that are no member's");
        return;
    };
    let mut first = true;
    loop {
        if stranger.is_some() && slot.is_member(&from) {
            stranger = None;
        }
        let wait = if first || stranger.is_some() { limits.preamble_timeout } else { limits.idle_timeout };
        first = false;
        let len = match timeout(wait, stream.read_u32()).await {
            Ok(Ok(len)) => len as usize,
            _ => return, // closed or idle: the normal end
        };
        if len > max_frame {
            stats.bad_streams.fetch_add(1, Relaxed);
            tracing::debug!(%from, len, max_frame, "inbound stream closed: frame too large");
            return;
        }
        // Grown as bytes arrive (never `len` up front): a peer must send what it claims.
        let mut frame = Vec::new();
        let read = timeout(limits.io_timeout, (&mut stream).take(len as u64).read_to_end(&mut frame)).await;
        if !matches!(read, Ok(Ok(n)) if n == len) {
            stats.bad_streams.fetch_add(1, Relaxed);
            tracing::debug!(%from, len, "inbound stream closed: truncated or slow frame");
            return;
        }
        stats.frames_in.fetch_add(1, Relaxed);
        let (verdict, taken) = oneshot::channel();
        if frames.send((from, Bytes::from(frame), verdict)).await.is_err() {
            return;
        }
        if taken.await != Ok(true) {
            stats.bad_streams.fetch_add(1, Relaxed);
            tracing::debug!(%from, "inbound stream closed: the node refused a frame");
            return;
        }
    }
}

/// Owns one outbound connection to `dest`: connects, sends the preamble, then writes the
/// frames queued for it until it idles or an error ends it (queued frames are then lost,
/// as datagrams may be: the protocol retries what matters).
pub(crate) async fn write_frames(
    dest: SocketAddr,
    preamble: Bytes,
    mut queue: mpsc::Receiver<Bytes>,
    limits: StreamLimits,
    stats: Arc<TransportStats>,
) {
    let io = limits.io_timeout;
    let mut stream = match timeout(io, TcpStream::connect(dest)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            stats.connect_failures.fetch_add(1, Relaxed);
            tracing::debug!(%dest, %error, "cannot open a stream");
            return;
        }
        Err(_) => {
            stats.connect_failures.fetch_add(1, Relaxed);
            tracing::debug!(%dest, "cannot open a stream: timed out");
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    if !matches!(timeout(io, stream.write_all(&preamble)).await, Ok(Ok(()))) {
        stats.connect_failures.fetch_add(1, Relaxed);
        tracing::debug!(%dest, "cannot open a stream: the preamble was not taken");
        return;
    }
    while let Ok(Some(frame)) = timeout(limits.idle_timeout, queue.recv()).await {
        let Ok(len) = u32::try_from(frame.len()) else { continue };
        let write = async {
            stream.write_all(&len.to_be_bytes()).await?;
            stream.write_all(&frame).await
        };
        if !matches!(timeout(io, write).await, Ok(Ok(()))) {
            stats.frames_dropped.fetch_add(1, Relaxed);
            tracing::debug!(%dest, "stream write failed; queued frames dropped");
            return;
        }
        stats.frames_out.fetch_add(1, Relaxed);
    }
    let _ = timeout(io, stream.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn preambles_round_trip_and_garbage_is_refused() {
        for addr in ["127.0.0.1:7946", "[::1]:65535", "10.1.2.3:1"] {
            let addr: SocketAddr = addr.parse().unwrap();
            let bytes = preamble(addr);
            assert_eq!(read_preamble(&mut &bytes[..]).await, Some(addr));
            for cut in 0..bytes.len() {
                assert_eq!(read_preamble(&mut &bytes[..cut]).await, None, "cut at {cut}");
            }
        }
        let mut wrong = preamble("127.0.0.1:1".parse().unwrap()).to_vec();
        wrong[4] = 2;
        assert_eq!(read_preamble(&mut &wrong[..]).await, None, "another framing version");
        assert_eq!(read_preamble(&mut &b"GET / HTTP/1.1\r\n"[..]).await, None);
    }
}
