//! Who a node is: its id, the address peers reach it at, and its metadata.

use bytes::Bytes;
use core::fmt;
use core::net::SocketAddr;

/// The longest node id the protocol carries, in bytes (its length goes on the wire as a `u8`).
pub const MAX_ID_LEN: usize = 255;

/// A member's name: non-empty opaque bytes, at most [`Config::max_id_len`](crate::Config)
/// long, unique in the cluster and stable across restarts of the same member.
///
/// Cheap to clone (it shares its buffer). Ordered bytewise, which is the order the core
/// uses wherever it must iterate deterministically.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(Bytes);

impl NodeId {
    /// A node id from any bytes; the length is checked when a [`Node`](crate::Node) is
    /// built or a peer's id is decoded, against the configured limit.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        NodeId(bytes.into())
    }

    /// A node id copied from a borrowed slice (used when a decoded id is first stored).
    pub fn copy_from_slice(bytes: &[u8]) -> Self {
        NodeId(Bytes::copy_from_slice(bytes))
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The id as shared bytes.
    pub fn to_bytes(&self) -> Bytes {
        self.0.clone()
    }
}

impl core::borrow::Borrow<[u8]> for NodeId {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        NodeId(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for NodeId {
    fn from(s: String) -> Self {
        NodeId(Bytes::from(s.into_bytes()))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for NodeId {
    /// UTF-8 ids print as text; other bytes print escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match core::str::from_utf8(&self.0) {
            Ok(s) => f.write_str(s),
            Err(_) => write!(f, "{}", self.0.escape_ascii()),
        }
    }
}

/// This node's identity: what every other member learns about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The node's unique, stable name.
    pub id: NodeId,
    /// The address peers send datagrams and open streams to.
    pub addr: SocketAddr,
    /// Opaque application metadata (at most [`Config::max_meta_len`](crate::Config) bytes),
    /// carried in every Alive announcement.
    pub meta: Bytes,
}

impl Identity {
    /// An identity without metadata.
    pub fn new(id: impl Into<NodeId>, addr: SocketAddr) -> Self {
        Identity { id: id.into(), addr, meta: Bytes::new() }
    }
}

/// A member's liveness as this node sees it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberState {
    /// Answering probes (or nobody has said otherwise).
    Alive,
    /// Failed a probe; it has a suspicion timeout to refute before being declared Down.
    Suspect,
    /// Declared failed. Kept as a tombstone until reclaimed.
    Down,
    /// Left gracefully. Kept as a tombstone until reclaimed.
    Left,
}

impl MemberState {
    /// Whether the member counts as part of the live cluster (Alive or Suspect).
    pub fn is_live(self) -> bool {
        matches!(self, MemberState::Alive | MemberState::Suspect)
    }
}

/// A snapshot of what this node knows about one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// The member's name.
    pub id: NodeId,
    /// Where it is reached.
    pub addr: SocketAddr,
    /// Its incarnation: bumped by the member itself to refute suspicion or announce a change.
    pub incarnation: u32,
    /// Its liveness as seen here.
    pub state: MemberState,
    /// Its metadata.
    pub meta: Bytes,
}
