//! What a node hands back to its caller: packets to send and events to report.

use crate::identity::{MemberInfo, NodeId};
use bytes::Bytes;
use core::net::SocketAddr;

/// A packet to send, drained with [`Node::poll_transmit`](crate::Node::poll_transmit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub dest: SocketAddr,
    /// The encoded packet. A datagram is never longer than `Config::mtu`.
    pub payload: Bytes,
    /// `true`: deliver as one frame over a reliable stream (the receiver passes it to
    /// [`Node::handle_stream`](crate::Node::handle_stream)); `false`: send one datagram.
    pub reliable: bool,
}

/// Something the application may want to know, drained with
/// [`Node::poll_event`](crate::Node::poll_event). Each membership event reports a state
/// change as this node sees it, in the order the node decided them.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Event {
    /// A member became Alive: first heard of, rejoined after Down/Left, or refuted a suspicion.
    MemberUp(MemberInfo),
    /// An Alive member changed its address or metadata (with a new incarnation).
    MemberUpdated(MemberInfo),
    /// A member failed a probe and is suspected; it has a timeout to refute.
    MemberSuspect {
        /// The suspect.
        id: NodeId,
        /// The incarnation suspected.
        incarnation: u32,
    },
    /// A member was declared failed.
    MemberDown {
        /// The failed member.
        id: NodeId,
        /// The incarnation declared down.
        incarnation: u32,
    },
    /// A member left gracefully.
    MemberLeft {
        /// The member that left.
        id: NodeId,
        /// The incarnation it left with.
        incarnation: u32,
    },
    /// Somebody suspected or declared this node failed; it announced a new incarnation.
    Refuted {
        /// This node's new incarnation.
        incarnation: u32,
    },
    /// The first full membership state arrived from a seed: this node is in the cluster.
    Joined,
    /// A member's broadcast (see [`Node::broadcast`](crate::Node::broadcast)), delivered once.
    Broadcast {
        /// Who broadcast it.
        origin: NodeId,
        /// Its bytes.
        payload: Bytes,
    },
    /// A message for this node alone (see [`Node::send_to`](crate::Node::send_to)).
    Message {
        /// Who sent it.
        from: NodeId,
        /// Its bytes.
        payload: Bytes,
    },
    /// Another node's replicated key changed here (see [`Node::set`](crate::Node::set)).
    KeyChanged {
        /// The node that owns the key.
        owner: NodeId,
        /// The key.
        key: Bytes,
        /// Its new value, or `None`: deleted.
        value: Option<Bytes>,
        /// The owner's version of this change.
        version: u64,
    },
}
