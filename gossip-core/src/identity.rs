//! Who a node is: its id, the address peers reach it at, and its metadata.

use crate::prelude::*;
use alloc::sync::Arc;
use bytes::Bytes;
use core::fmt;
use core::net::SocketAddr;

/// The longest node id the protocol carries, in bytes (its length goes on the wire as a `u8`).
pub const MAX_ID_LEN: usize = 255;

/// A member's name: non-empty opaque bytes, at most [`Config::max_id_len`](crate::Config)
/// long, unique in the cluster and stable across restarts of the same member.
///
/// 16 bytes, and cheap to clone: ids up to [`NodeId::INLINE`] bytes are stored inline,
/// with no allocation and no pointer to chase when a table compares them; longer ones
/// share one buffer. (A simulator holds n² ids: 10^8 at 10,000 nodes.) Ordered bytewise, which is the order the core uses
/// wherever it must iterate deterministically.
#[derive(Clone)]
pub struct NodeId(Repr);

#[derive(Clone)]
enum Repr {
    Inline {
        len: u8,
        buf: [u8; NodeId::INLINE],
    },
    /// A thin pointer (to a boxed slice), so that the whole id stays 16 bytes.
    Shared(Arc<Box<[u8]>>),
}

impl NodeId {
    /// The longest id stored inline, in bytes.
    pub const INLINE: usize = 14;

    /// A node id from any bytes; the length is checked when a [`Node`](crate::Node) is
    /// built or a peer's id is decoded, against the configured limit.
    pub fn new(bytes: impl AsRef<[u8]>) -> Self {
        Self::copy_from_slice(bytes.as_ref())
    }

    /// A node id copied from a borrowed slice (used when a decoded id is first stored).
    pub fn copy_from_slice(bytes: &[u8]) -> Self {
        if bytes.len() <= Self::INLINE {
            let mut buf = [0; Self::INLINE];
            buf[..bytes.len()].copy_from_slice(bytes);
            NodeId(Repr::Inline { len: bytes.len() as u8, buf })
        } else {
            NodeId(Repr::Shared(Arc::new(Box::from(bytes))))
        }
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..*len as usize],
            Repr::Shared(bytes) => bytes,
        }
    }
}

impl PartialEq for NodeId {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for NodeId {}

impl PartialOrd for NodeId {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for NodeId {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl core::hash::Hash for NodeId {
    /// Hashes exactly as the `[u8]` it borrows as, so maps keyed by id can be looked up by slice.
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl core::borrow::Borrow<[u8]> for NodeId {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        NodeId::copy_from_slice(s.as_bytes())
    }
}

impl From<String> for NodeId {
    fn from(s: String) -> Self {
        NodeId::copy_from_slice(s.as_bytes())
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
        match core::str::from_utf8(self.as_bytes()) {
            Ok(s) => f.write_str(s),
            Err(_) => write!(f, "{}", self.as_bytes().escape_ascii()),
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
    /// Which life of this node this is. A restarted node must come back with a higher one
    /// (a boot counter, or the boot time in seconds): its replicated keys then supersede
    /// its previous life's, which every replica drops. 0 by default.
    pub generation: u32,
}

impl Identity {
    /// An identity without metadata, of generation 0.
    pub fn new(id: impl Into<NodeId>, addr: SocketAddr) -> Self {
        Identity { id: id.into(), addr, meta: Bytes::new(), generation: 0 }
    }

    /// The same identity with another generation (see [`Identity::generation`]).
    pub fn with_generation(self, generation: u32) -> Self {
        Identity { generation, ..self }
    }
}

/// A member's liveness: one of the four states a member record carries on the wire.
pub use crate::wire::MemberState;

/// A snapshot of what this node knows about one member.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::BuildHasher;

    #[test]
    fn inline_and_shared_ids_compare_order_and_hash_by_their_bytes() {
        let hasher = std::hash::RandomState::new();
        let short = NodeId::from("node-1");
        let edge = NodeId::new([b'x'; NodeId::INLINE]);
        let long = NodeId::new([b'x'; NodeId::INLINE + 1]);
        assert!(matches!(edge.0, Repr::Inline { .. }) && matches!(long.0, Repr::Shared(_)));
        for id in [&short, &edge, &long] {
            let copy = NodeId::copy_from_slice(id.as_bytes());
            assert_eq!(&copy, id);
            assert_eq!(hasher.hash_one(&copy), hasher.hash_one(id.as_bytes()), "must hash as its slice");
        }
        assert_eq!(long.as_bytes().len(), NodeId::INLINE + 1);
        assert!(edge < long && short < edge, "bytewise order, whatever the storage");
        assert_ne!(edge, long);
        #[cfg(target_pointer_width = "64")]
        assert_eq!(core::mem::size_of::<NodeId>(), 16);
    }
}
