//! The WebSocket transport ([`Transport::Ws`](crate::Transport)): every datagram and every
//! stream frame travels as one binary message on one connection per peer, for networks
//! where only HTTP(S) passes.
//!
//! A node accepts at `ws://ADDR/gossip` on its bind address and dials `ws://ADDR/gossip`
//! for a member at ADDR (or the `ws://` / `wss://` URL a seed was given as). Each side's
//! first message is its hello: the TCP path's preamble (its gossip address) followed, for a
//! node with an advertised URL, by a u16 length and that URL. The dialer sends its hello
//! and its queued messages at once; either side can then send on the connection, and the
//! acceptor answers on it rather than dialing back. Each side dials the other's advertised
//! URL for the address that hello named from then on, once the connection has delivered a
//! message the node accepted (so a stranger cannot redirect a member's traffic): the
//! acceptor's hello is how a node that joined through a seed's URL learns the URL of the
//! member behind it. Each later message is one byte of kind (0 datagram, 1 stream frame)
//! and the core's bytes. The TCP path's bounds hold: messages above `max_stream_frame` end
//! the connection, the handshake and preamble are due within `preamble_timeout`, writes
//! within `io_timeout`, idle connections close after `idle_timeout`, inbound connections
//! take the same capped slots (per source and for strangers), and a peer's queue drops
//! rather than blocks. A message the node refuses as garbage (undecodable, another
//! cluster's, not opened by the keyring, text) ends the connection and is counted in
//! `bad_streams`.

use crate::resolve::{Urls, WS_PATH as PATH};
use crate::stream::{self, Frame, Slot, StreamLimits};
use crate::{Options, StartError, Transport, TransportStats};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, WebSocketStream};

const DATAGRAM: u8 = 0;
const FRAME: u8 = 1;

/// The open connections by peer gossip address, and the URLs to dial for addresses that
/// were given as URLs (seeds behind a proxy, `wss://`).
#[derive(Debug, Default)]
pub(crate) struct Peers {
    conns: Mutex<HashMap<SocketAddr, mpsc::Sender<Bytes>>>,
    urls: Mutex<HashMap<SocketAddr, String>>,
}

/// The longest URL a node may advertise.
pub const MAX_URL_LEN: usize = 2048;

/// The hello a node sends first: its preamble, and its advertised URL if it has one.
pub(crate) fn hello(preamble: Bytes, url: Option<&str>) -> Bytes {
    let Some(url) = url else { return preamble };
    let mut out = BytesMut::from(&preamble[..]);
    out.put_u16(u16::try_from(url.len()).unwrap_or(0));
    out.put_slice(url.as_bytes());
    out.freeze()
}

/// Whether `url` can be advertised: `ws://` or `wss://`, at most [`MAX_URL_LEN`] bytes.
pub(crate) fn valid_url(url: &str) -> bool {
    url.len() <= MAX_URL_LEN && (url.starts_with("ws://") || url.starts_with("wss://")) && url.len() > 6
}

/// A hello's sender and advertised URL; `None` if it is not a hello.
async fn parse_hello(bytes: &[u8]) -> Option<(SocketAddr, Option<String>)> {
    let (addr, rest) = stream::parse_preamble(bytes).await?;
    if rest.is_empty() {
        return Some((addr, None));
    }
    let (len, url) = rest.split_first_chunk::<2>()?;
    let url = std::str::from_utf8(url).ok().filter(|u| u.len() == usize::from(u16::from_be_bytes(*len)))?;
    valid_url(url).then(|| (addr, Some(url.to_owned())))
}

/// The most URLs remembered (seeds are few; the map must not grow without bound).
const MAX_URLS: usize = 1024;

impl Urls for Peers {
    fn set_url(&self, addr: SocketAddr, url: String) {
        let mut urls = self.urls.lock().unwrap_or_else(|e| e.into_inner());
        if urls.len() < MAX_URLS || urls.contains_key(&addr) {
            urls.insert(addr, url);
        }
    }
}

impl Peers {
    fn url(&self, addr: SocketAddr) -> String {
        let urls = self.urls.lock().unwrap_or_else(|e| e.into_inner());
        urls.get(&addr).cloned().unwrap_or_else(|| format!("ws://{addr}{PATH}"))
    }
}

/// Where the connections hand what they read: datagrams and frames, each with a verdict.
#[derive(Clone)]
pub(crate) struct Sinks {
    pub(crate) datagrams: mpsc::Sender<Frame>,
    pub(crate) frames: mpsc::Sender<Frame>,
}

/// How `wss://` dials check certificates: `None` trusts the Mozilla roots (tungstenite's
/// default connector); else a rustls client trusting only `roots`, with the ring provider.
fn connector(roots: &[rustls::pki_types::CertificateDer<'static>]) -> Result<Option<Connector>, StartError> {
    if roots.is_empty() {
        return Ok(None);
    }
    let mut store = rustls::RootCertStore::empty();
    for (index, root) in roots.iter().enumerate() {
        store.add(root.clone()).map_err(|error| StartError::TlsRoot { index, error })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| StartError::TlsRoot { index: 0, error })?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Some(Connector::Rustls(Arc::new(config))))
}

/// What every connection task shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) peers: Arc<Peers>,
    sinks: Sinks,
    limits: StreamLimits,
    max_frame: usize,
    stats: Arc<TransportStats>,
    /// This node's hello: its preamble and advertised URL.
    preamble: Bytes,
    /// The TLS client of `wss://` dials ([`connector`]).
    tls: Option<Connector>,
}

impl Shared {
    /// The transport for a node started with `options` (`None` if it does not use it),
    /// once the settings that only it uses are checked: the advertised URL, the TLS roots.
    pub(crate) fn new(
        options: &Options,
        sinks: Sinks,
        stats: Arc<TransportStats>,
        preamble: &Bytes,
    ) -> Result<Option<Shared>, StartError> {
        let ws = options.transport == Transport::Ws;
        if let Some(url) = &options.advertise_url
            && (!ws || !valid_url(url))
        {
            return Err(StartError::AdvertiseUrl(url.clone()));
        }
        if !options.tls_roots.is_empty() && !ws {
            return Err(StartError::TlsRootsWithoutWs);
        }
        if !ws {
            return Ok(None);
        }
        Ok(Some(Shared {
            peers: Arc::default(),
            sinks,
            limits: options.streams,
            max_frame: options.config.max_stream_frame,
            stats,
            preamble: hello(preamble.clone(), options.advertise_url.as_deref()),
            tls: connector(&options.tls_roots)?,
        }))
    }

    fn config(&self) -> WebSocketConfig {
        // One byte of kind on top of the largest frame; nothing larger is buffered.
        let max = self.max_frame.saturating_add(1);
        WebSocketConfig::default().max_message_size(Some(max)).max_frame_size(Some(max))
    }

    /// Queues `payload` for `dest`, dialing a connection if there is none. Returns `false`
    /// when it was dropped (a full queue, or `max_outbound` connections open).
    pub(crate) fn send(&self, dest: SocketAddr, payload: &[u8], reliable: bool) -> bool {
        let mut message = BytesMut::with_capacity(1 + payload.len());
        message.put_u8(if reliable { FRAME } else { DATAGRAM });
        message.put_slice(payload);
        let message = message.freeze();
        let mut conns = self.peers.conns.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(queue) = conns.get(&dest).filter(|q| !q.is_closed()) {
            return queue.try_send(message).is_ok();
        }
        conns.retain(|_, q| !q.is_closed());
        if conns.len() >= self.limits.max_outbound.saturating_add(self.limits.max_inbound) {
            return false;
        }
        let (queue, rx) = mpsc::channel(self.limits.queue_per_peer.max(1));
        let _ = queue.try_send(message);
        conns.insert(dest, queue);
        tokio::spawn(dial(dest, self.peers.url(dest), rx, self.clone()));
        true
    }
}

/// Opens a connection to `dest` at `url`, sends the preamble and serves it.
async fn dial(dest: SocketAddr, url: String, queue: mpsc::Receiver<Bytes>, shared: Shared) {
    let io = shared.limits.io_timeout;
    if url.starts_with("wss://") && shared.tls.is_none() {
        // tungstenite's default connector takes the process's rustls provider, which rustls
        // picks from its crate features and refuses (panics) to pick when an application's
        // graph enables two; name ours (an error: one is already set).
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let config = Some(shared.config());
    let connect = tokio_tungstenite::connect_async_tls_with_config(url.as_str(), config, true, shared.tls.clone());
    let mut ws = match timeout(io, connect).await {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(error)) => {
            shared.stats.connect_failures.fetch_add(1, Relaxed);
            tracing::debug!(%dest, %url, %error, "cannot open a WebSocket");
            return;
        }
        Err(_) => {
            shared.stats.connect_failures.fetch_add(1, Relaxed);
            tracing::debug!(%dest, %url, "cannot open a WebSocket: timed out");
            return;
        }
    };
    if !matches!(timeout(io, ws.send(Message::Binary(shared.preamble.clone()))).await, Ok(Ok(()))) {
        shared.stats.connect_failures.fetch_add(1, Relaxed);
        return;
    }
    serve(ws, dest, queue, shared, Side::Dialed).await;
}

/// Accepts one inbound connection on `/gossip`: the handshake and the preamble within
/// `preamble_timeout`, then serves it, answering on it.
pub(crate) async fn accept(conn: TcpStream, shared: Shared, slot: Slot) {
    let peer = conn.peer_addr().ok();
    let _ = conn.set_nodelay(true);
    #[allow(clippy::result_large_err)] // tungstenite's callback signature
    let on_path = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        if request.uri().path() == PATH {
            Ok(response)
        } else {
            let mut refusal = ErrorResponse::new(Some("gossip peers connect on /gossip".into()));
            *refusal.status_mut() = StatusCode::NOT_FOUND;
            Err(refusal)
        }
    };
    let wait = shared.limits.preamble_timeout;
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(conn, on_path, Some(shared.config()));
    let Ok(Ok(mut ws)) = timeout(wait, handshake).await else {
        shared.stats.bad_streams.fetch_add(1, Relaxed);
        tracing::debug!(?peer, "WebSocket closed: no handshake on /gossip in time");
        return;
    };
    let from = match timeout(wait, ws.next()).await {
        Ok(Some(Ok(Message::Binary(bytes)))) => parse_hello(&bytes).await,
        _ => None,
    };
    let Some((from, url)) = from else {
        shared.stats.bad_streams.fetch_add(1, Relaxed);
        tracing::debug!(?peer, "WebSocket closed: no valid preamble in time");
        return;
    };
    let Ok(stranger) = slot.stranger_permit(&from) else {
        shared.stats.refused_streams.fetch_add(1, Relaxed);
        tracing::debug!(%from, "WebSocket refused: too many from addresses that are no member's");
        return;
    };
    // Our hello back: a dialer that reached this node through a URL it was given (a seed
    // behind a proxy) learns the address it is named by, and the URL to dial it at.
    if !matches!(timeout(shared.limits.io_timeout, ws.send(Message::Binary(shared.preamble.clone()))).await, Ok(Ok(())))
    {
        return;
    }
    let (queue, rx) = mpsc::channel(shared.limits.queue_per_peer.max(1));
    shared.peers.conns.lock().unwrap_or_else(|e| e.into_inner()).insert(from, queue);
    let side = Side::Accepted { slot, stranger, url: url.map(|url| (from, url)) };
    serve(ws, from, rx, shared, side).await;
}

/// Which end of a connection this node is.
enum Side {
    /// This node dialed: the acceptor's hello is its first message.
    Dialed,
    /// This node accepted: the connection holds its inbound slot (and a stranger's, until
    /// the sender is a member); `url` is the dialer's advertised URL for its address.
    Accepted { slot: Slot, stranger: Option<OwnedSemaphorePermit>, url: Option<(SocketAddr, String)> },
}

/// Carries messages both ways on one connection to the peer at `from` until it closes,
/// idles, misbehaves or fails a write. A URL the peer advertised in its hello is dialed
/// for the address the hello named once the connection has delivered a message the node
/// accepted.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    ws: WebSocketStream<S>,
    from: SocketAddr,
    mut queue: mpsc::Receiver<Bytes>,
    shared: Shared,
    side: Side,
) {
    let (mut sink, mut source) = ws.split();
    let limits = shared.limits;
    // A stranger's inbound connection holds one of the strangers' slots and may idle only
    // as long as a preamble may take, until its sender becomes a member.
    let (slot, mut stranger, mut url, mut hello_due) = match side {
        Side::Accepted { slot, stranger, url } => (Some(slot), stranger, url, false),
        Side::Dialed => (None, None, None, true),
    };
    loop {
        if let (Some(slot), Some(_)) = (&slot, &stranger)
            && slot.is_member(&from)
        {
            stranger = None;
        }
        let idle = if stranger.is_some() || hello_due { limits.preamble_timeout } else { limits.idle_timeout };
        tokio::select! {
            out = queue.recv() => {
                let Some(message) = out else { break };
                if !matches!(timeout(limits.io_timeout, sink.send(Message::Binary(message))).await, Ok(Ok(()))) {
                    shared.stats.frames_dropped.fetch_add(1, Relaxed);
                    tracing::debug!(%from, "WebSocket write failed; queued messages dropped");
                    break;
                }
                shared.stats.frames_out.fetch_add(1, Relaxed);
            }
            read = timeout(idle, source.next()) => {
                let bytes = match read {
                    Ok(Some(Ok(Message::Binary(bytes)))) => bytes,
                    Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue, // answered by tungstenite
                    Ok(Some(Ok(Message::Text(_) | Message::Frame(_))))
                    | Ok(Some(Err(WsError::Capacity(_) | WsError::Protocol(_) | WsError::Utf8))) => {
                        shared.stats.bad_streams.fetch_add(1, Relaxed);
                        tracing::debug!(%from, "WebSocket closed: a text, oversized or broken message");
                        break;
                    }
                    // Closed, reset, idle: the normal end.
                    Ok(Some(Ok(Message::Close(_)) | Err(_))) | Ok(None) | Err(_) => break,
                };
                if hello_due {
                    hello_due = false;
                    let Some((named, advertised)) = parse_hello(&bytes).await else {
                        shared.stats.bad_streams.fetch_add(1, Relaxed);
                        tracing::debug!(%from, "WebSocket closed: the acceptor's hello is missing or malformed");
                        break;
                    };
                    url = advertised.map(|url| (named, url));
                    continue;
                }
                let sink_for = match bytes.first() {
                    Some(&DATAGRAM) => &shared.sinks.datagrams,
                    Some(&FRAME) => &shared.sinks.frames,
                    kind => {
                        shared.stats.bad_streams.fetch_add(1, Relaxed);
                        tracing::debug!(%from, ?kind, "WebSocket closed: no or an unknown message kind");
                        break;
                    }
                };
                shared.stats.frames_in.fetch_add(1, Relaxed);
                let (verdict, taken) = oneshot::channel();
                if sink_for.send((from, bytes.slice(1..), verdict)).await.is_err() {
                    break; // the node stopped
                }
                if taken.await != Ok(true) {
                    shared.stats.bad_streams.fetch_add(1, Relaxed);
                    tracing::debug!(%from, "WebSocket closed: the node refused a message as garbage");
                    break;
                }
                if let Some((named, url)) = url.take() {
                    tracing::debug!(%from, %named, %url, "dialing this member at its advertised URL");
                    shared.peers.set_url(named, url);
                }
            }
        }
    }
    let _ = timeout(limits.io_timeout, sink.close()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hellos_carry_the_address_and_the_url() {
        let addr: SocketAddr = "10.0.0.1:7946".parse().unwrap();
        let plain = hello(stream::preamble(addr), None);
        assert_eq!(parse_hello(&plain).await, Some((addr, None)));
        let url = "wss://gossip.example.org/node-3";
        let with = hello(stream::preamble(addr), Some(url));
        assert_eq!(parse_hello(&with).await, Some((addr, Some(url.to_owned()))));
        for cut in 0..with.len() {
            let parsed = parse_hello(&with[..cut]).await;
            assert!(parsed.is_none() || cut == plain.len(), "cut at {cut}: {parsed:?}");
        }
        let mut bad = with.to_vec();
        let n = bad.len();
        bad[n - 1] = 0xff; // not UTF-8
        assert_eq!(parse_hello(&bad).await, None);
        let http = hello(stream::preamble(addr), Some("http://x/"));
        assert_eq!(parse_hello(&http).await, None, "only ws:// and wss:// URLs");
    }
}
