//! Typed messages: user types sent as direct messages or broadcasts, tagged, encoded with
//! the cluster's [`Codec`], and handed to the handler registered for their tag.
//!
//! A typed payload is an envelope inside the core's opaque message bytes:
//!
//! ```text
//! 0x00      marker (no text payload starts with NUL)
//! 0x01      envelope version
//! codec     1 = JSON, 2 = MessagePack (the sender's; a receiver decodes either)
//! tag_len   1..=64
//! tag       UTF-8, TypedMessage::TAG
//! body      the value in that codec: the rest of the payload
//! ```

use crate::{Cluster, ClusterError, TransportStats};
use bytes::{BufMut, Bytes, BytesMut};
use gossip_core::{Event, NodeId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock};

const MARKER: u8 = 0x00;
const VERSION: u8 = 0x01;
/// The deepest nesting a MessagePack body may have (rmp-serde's own limit, 1024, overflows
/// a 2 MiB thread stack in an unoptimised build).
const MAX_DEPTH: usize = 64;
/// The longest [`TypedMessage::TAG`].
pub const MAX_TAG_LEN: usize = 64;

/// A user type that travels between members: serde gives its encoding, `TAG` names it on
/// the wire so the receiver knows which handler decodes it.
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Resize { width: u32, height: u32 }
/// impl gossip_tokio::TypedMessage for Resize {
///     const TAG: &'static str = "app.resize.v1";
/// }
/// ```
pub trait TypedMessage: Serialize + DeserializeOwned + Send + 'static {
    /// The type's name on the wire: 1 to [`MAX_TAG_LEN`] bytes, unique within the
    /// application. Changing a type's shape incompatibly deserves a new tag (`...v2`).
    const TAG: &'static str;
}

/// How typed messages are encoded; chosen per cluster in [`Options::codec`](crate::Options::codec).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codec {
    /// JSON (serde_json): readable in `message` and `broadcast` events and by any language.
    #[default]
    Json,
    /// MessagePack (rmp-serde, structs as maps): about half JSON's size for numbers and
    /// bytes, and still self-describing, so fields can be added.
    MessagePack,
}

impl Codec {
    fn byte(self) -> u8 {
        match self {
            Codec::Json => 1,
            Codec::MessagePack => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Codec> {
        match b {
            1 => Some(Codec::Json),
            2 => Some(Codec::MessagePack),
            _ => None,
        }
    }

    fn encode<T: Serialize>(self, value: &T, out: &mut Vec<u8>) -> Result<(), String> {
        match self {
            Codec::Json => serde_json::to_writer(out, value).map_err(|e| e.to_string()),
            Codec::MessagePack => rmp_serde::encode::write_named(out, value).map_err(|e| e.to_string()),
        }
    }

    /// `body` as a `T`, or `None`. Nesting is bounded (serde_json stops at 128 levels, and
    /// MessagePack at [`MAX_DEPTH`]), so a hostile payload cannot exhaust the stack.
    fn decode<T: DeserializeOwned>(self, body: &[u8]) -> Option<T> {
        match self {
            Codec::Json => serde_json::from_slice(body).ok(),
            Codec::MessagePack => {
                let mut decoder = rmp_serde::Deserializer::from_read_ref(body);
                decoder.set_max_depth(MAX_DEPTH);
                T::deserialize(&mut decoder).ok()
            }
        }
    }
}

/// Why [`Cluster::send_typed`] or [`Cluster::broadcast_typed`] failed; nothing was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TypedError {
    /// The value could not be encoded in the cluster's codec (serde's reason: a map with
    /// non-string keys in JSON, a failing `Serialize` impl, ...).
    Encode(String),
    /// [`TypedMessage::TAG`] is empty or longer than [`MAX_TAG_LEN`].
    BadTag,
    /// The node refused or could not take the message (too large, unknown member, stopped).
    Cluster(ClusterError),
}

impl fmt::Display for TypedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypedError::Encode(e) => write!(f, "cannot encode the message: {e}"),
            TypedError::BadTag => write!(f, "a message tag must be 1 to {MAX_TAG_LEN} bytes"),
            TypedError::Cluster(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TypedError {}

/// Decodes one payload for its handler; `false`: it did not decode as the handler's type.
type Handler = Arc<dyn Fn(&NodeId, Codec, &[u8]) -> bool + Send + Sync>;

/// The handlers of one cluster and the task that feeds them.
pub(crate) struct Typed {
    codec: Codec,
    handlers: Mutex<BTreeMap<String, Handler>>,
    dispatcher: OnceLock<()>,
}

impl fmt::Debug for Typed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tags: Vec<String> = self.handlers.lock().map(|h| h.keys().cloned().collect()).unwrap_or_default();
        f.debug_struct("Typed").field("codec", &self.codec).field("tags", &tags).finish()
    }
}

impl Typed {
    pub(crate) fn new(codec: Codec) -> Self {
        Typed { codec, handlers: Mutex::new(BTreeMap::new()), dispatcher: OnceLock::new() }
    }
}

/// The envelope around `value`.
fn envelope<T: TypedMessage>(codec: Codec, value: &T) -> Result<Bytes, TypedError> {
    let tag = T::TAG.as_bytes();
    let tag_len = u8::try_from(tag.len()).ok().filter(|&n| n > 0 && usize::from(n) <= MAX_TAG_LEN);
    let tag_len = tag_len.ok_or(TypedError::BadTag)?;
    let mut body = Vec::new();
    codec.encode(value, &mut body).map_err(TypedError::Encode)?;
    let mut out = BytesMut::with_capacity(4 + tag.len() + body.len());
    out.put_slice(&[MARKER, VERSION, codec.byte(), tag_len]);
    out.put_slice(tag);
    out.put_slice(&body);
    Ok(out.freeze())
}

/// What a payload holds.
#[derive(Debug, PartialEq, Eq)]
enum Parsed<'a> {
    /// Not a typed message (no marker): a plain payload, not ours to judge.
    Plain,
    /// A typed envelope that cannot be read (truncated, unknown version or codec, bad tag).
    Malformed,
    /// A well-formed envelope.
    Typed { codec: Codec, tag: &'a str, body: &'a [u8] },
}

fn parse(payload: &[u8]) -> Parsed<'_> {
    let Some((&MARKER, rest)) = payload.split_first() else { return Parsed::Plain };
    let Some(([version, codec, tag_len], rest)) = rest.split_first_chunk::<3>() else { return Parsed::Malformed };
    let (Some(codec), VERSION) = (Codec::from_byte(*codec), *version) else { return Parsed::Malformed };
    let Some((tag, body)) = rest.split_at_checked(usize::from(*tag_len)) else { return Parsed::Malformed };
    match std::str::from_utf8(tag) {
        Ok(tag) if !tag.is_empty() => Parsed::Typed { codec, tag, body },
        _ => Parsed::Malformed,
    }
}

impl Cluster {
    /// Calls `handler` with every `T` that reaches this node, as a direct message
    /// ([`Cluster::send_typed`]) or a broadcast ([`Cluster::broadcast_typed`]), with the
    /// sender's id; replaces an earlier handler of the same tag.
    ///
    /// Handlers run one at a time on a task of their own that reads the node's events, so
    /// a handler MUST return quickly (spawn longer work); one that panics loses that
    /// message only. A payload tagged `T::TAG` that does
    /// not decode as `T`, or whose envelope is malformed, is dropped and counted in
    /// [`TransportCounts::typed_undecodable`](crate::TransportCounts); one whose tag has no
    /// handler in `typed_unhandled`; messages the task missed because it fell behind in
    /// `typed_missed`. Typed messages still appear as [`Event::Message`] and
    /// [`Event::Broadcast`] to every [`Events`](crate::Events) receiver.
    pub fn on<T: TypedMessage>(&self, handler: impl Fn(NodeId, T) + Send + Sync + 'static) {
        let decode: Handler = Arc::new(move |from: &NodeId, codec: Codec, body: &[u8]| match codec.decode::<T>(body) {
            Some(value) => {
                handler(from.clone(), value);
                true
            }
            None => false,
        });
        if let Ok(mut handlers) = self.parts.typed.handlers.lock() {
            handlers.insert(T::TAG.to_owned(), decode);
        }
        self.parts.typed.dispatcher.get_or_init(|| {
            let (mut events, typed, stats) = (self.events(), self.parts.typed.clone(), self.parts.stats.clone());
            tokio::spawn(async move {
                let mut missed = 0;
                while let Some(event) = events.recv().await {
                    if events.missed() != missed {
                        stats.typed_missed.fetch_add(events.missed() - missed, Relaxed);
                        missed = events.missed();
                    }
                    if let Event::Message { from: sender, payload } | Event::Broadcast { origin: sender, payload } =
                        &event
                    {
                        dispatch(&typed, &stats, sender, payload);
                    }
                }
            });
        });
    }

    /// Sends `message` to the member named `to` in the cluster's codec: over a stream if
    /// `reliable`, else in one datagram (see [`Cluster::send_to`]).
    pub async fn send_typed<T: TypedMessage>(
        &self,
        to: impl AsRef<[u8]>,
        message: &T,
        reliable: bool,
    ) -> Result<(), TypedError> {
        let payload = envelope(self.parts.typed.codec, message)?;
        self.send_to(to, payload, reliable).await.map_err(TypedError::Cluster)
    }

    /// Broadcasts `message` to every member in the cluster's codec (see [`Cluster::broadcast`]).
    pub async fn broadcast_typed<T: TypedMessage>(&self, message: &T) -> Result<(), TypedError> {
        let payload = envelope(self.parts.typed.codec, message)?;
        self.broadcast(payload).await.map_err(TypedError::Cluster)
    }
}

/// Hands one payload to its handler, counting what becomes of it.
fn dispatch(typed: &Typed, stats: &TransportStats, from: &NodeId, payload: &[u8]) {
    let (codec, tag, body) = match parse(payload) {
        Parsed::Plain => return,
        Parsed::Malformed => {
            stats.typed_undecodable.fetch_add(1, Relaxed);
            tracing::debug!(%from, "typed message dropped: malformed envelope");
            return;
        }
        Parsed::Typed { codec, tag, body } => (codec, tag, body),
    };
    let handler = typed.handlers.lock().ok().and_then(|h| h.get(tag).cloned());
    let Some(handler) = handler else {
        stats.typed_unhandled.fetch_add(1, Relaxed);
        tracing::debug!(%from, tag, "typed message dropped: no handler for its tag");
        return;
    };
    // A handler that panics loses its message, not the handlers' task.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(from, codec, body)));
    match decoded {
        Err(_) => tracing::error!(%from, tag, "a typed message handler panicked"),
        Ok(true) => {
            stats.typed_delivered.fetch_add(1, Relaxed);
        }
        Ok(false) => {
            stats.typed_undecodable.fetch_add(1, Relaxed);
            tracing::debug!(%from, tag, ?codec, "typed message dropped: it does not decode as its handler's type");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Point {
        x: i32,
        label: String,
        tags: Vec<String>,
    }
    impl TypedMessage for Point {
        const TAG: &'static str = "point";
    }

    #[test]
    fn envelopes_round_trip_in_both_codecs() {
        let p = Point { x: -3, label: "a".into(), tags: vec!["b".into()] };
        for codec in [Codec::Json, Codec::MessagePack] {
            let bytes = envelope(codec, &p).unwrap();
            let Parsed::Typed { codec: c, tag, body } = parse(&bytes) else { panic!("{bytes:?}") };
            assert_eq!((c, tag), (codec, "point"));
            assert_eq!(c.decode::<Point>(body), Some(Point { x: -3, label: "a".into(), tags: vec!["b".into()] }));
        }
    }

    #[test]
    fn plain_and_malformed_payloads_are_told_apart() {
        assert_eq!(parse(b""), Parsed::Plain);
        assert_eq!(parse(b"hello"), Parsed::Plain);
        for bad in [
            &b"\0"[..],
            b"\0\x01",
            b"\0\x02\x01\x01a",
            b"\0\x01\x09\x01a",
            b"\0\x01\x01\x05ab",
            b"\0\x01\x01\x00",
            b"\0\x01\x01\x01\xff",
        ] {
            assert_eq!(parse(bad), Parsed::Malformed, "{bad:?}");
        }
    }

    /// Arbitrary bytes as either codec's body never panic and never decode as a `Point`
    /// they are not; deep nesting stops at the decoders' depth limits.
    #[test]
    fn garbage_bodies_are_refused_without_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..5_000 {
            let len = (next() % 64) as usize;
            let body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            for codec in [Codec::Json, Codec::MessagePack] {
                let _ = codec.decode::<Point>(&body);
                let _ = codec.decode::<serde_json::Value>(&body);
            }
            assert!(round < 5_000);
        }
        let deep_json = "[".repeat(100_000);
        assert_eq!(Codec::Json.decode::<serde_json::Value>(deep_json.as_bytes()), None);
        let deep_msgpack = vec![0x91u8; 100_000]; // fixarray of one, nested
        assert_eq!(Codec::MessagePack.decode::<serde_json::Value>(&deep_msgpack), None);
        // A length prefix of 4 GiB with nothing behind it allocates nothing of the sort.
        assert_eq!(Codec::MessagePack.decode::<Vec<u8>>(&[0xdd, 0xff, 0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn a_bad_tag_is_refused() {
        #[derive(Serialize, Deserialize)]
        struct Untagged;
        impl TypedMessage for Untagged {
            const TAG: &'static str = "";
        }
        assert_eq!(envelope(Codec::Json, &Untagged), Err(TypedError::BadTag));
    }
}
