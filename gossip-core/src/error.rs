//! Errors of the node's API, one type per operation.

use crate::wire::DecodeError;
use core::fmt;

/// Why [`Node::new`](crate::Node::new) refused a configuration or identity. Nothing was built.
#[non_exhaustive]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A [`Config`](crate::Config) field is out of range or inconsistent with another.
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The node id is empty or longer than `max_id_len`.
    IdLength,
    /// The metadata is longer than `max_meta_len`.
    MetaTooLong,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid { field, reason } => {
                write!(f, "invalid config field {field}: {reason}")
            }
            ConfigError::IdLength => f.write_str("node id is empty or longer than max_id_len"),
            ConfigError::MetaTooLong => f.write_str("metadata is longer than max_meta_len"),
        }
    }
}

impl core::error::Error for ConfigError {}

/// Why a received datagram or stream frame was dropped. In every case the packet was
/// dropped whole, no state changed, and the matching counter in
/// [`Stats`](crate::Stats) was incremented.
#[non_exhaustive]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// The bytes are not a valid packet.
    Decode(DecodeError),
    /// Larger than any packet this node accepts (`max_stream_frame` for frames, 65535 for
    /// datagrams).
    TooLarge,
    /// The header names another cluster.
    WrongCluster,
    /// The header names this node as the sender: a loop, or a peer using our id.
    FromSelf,
    /// The node has left the cluster and no longer takes input.
    Left,
    /// This node encrypts, and no key of its ring opens the packet (sealed with another
    /// key, not sealed at all, or tampered with).
    Decrypt,
}

impl RecvError {
    /// Number of distinct kinds, for per-kind counters.
    pub const KINDS: usize = 6;

    /// A stable index per variant in `0..KINDS`.
    pub fn kind(&self) -> usize {
        match self {
            RecvError::Decode(_) => 0,
            RecvError::TooLarge => 1,
            RecvError::WrongCluster => 2,
            RecvError::FromSelf => 3,
            RecvError::Left => 4,
            RecvError::Decrypt => 5,
        }
    }

    /// The name of each kind, indexed by [`RecvError::kind`].
    pub const KIND_NAMES: [&'static str; Self::KINDS] =
        ["decode", "too_large", "wrong_cluster", "from_self", "left", "decrypt"];
}

impl From<DecodeError> for RecvError {
    fn from(e: DecodeError) -> Self {
        RecvError::Decode(e)
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Decode(e) => write!(f, "undecodable packet: {e}"),
            RecvError::TooLarge => f.write_str("packet larger than accepted"),
            RecvError::WrongCluster => f.write_str("packet from another cluster"),
            RecvError::FromSelf => f.write_str("packet claims to come from this node"),
            RecvError::Left => f.write_str("node has left; input ignored"),
            RecvError::Decrypt => f.write_str("no key of the keyring opens the packet"),
        }
    }
}

impl core::error::Error for RecvError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            RecvError::Decode(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a command ([`Node::join`](crate::Node::join), [`Node::leave`](crate::Node::leave),
/// [`Node::set`](crate::Node::set), ...) was refused. Nothing changed.
#[non_exhaustive]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// The node has already left; build a new node to rejoin.
    AlreadyLeft,
    /// A key longer than [`Config::max_key_len`](crate::Config), or empty.
    KeyLength {
        /// Its length.
        len: usize,
    },
    /// A value longer than [`Config::max_value_len`](crate::Config).
    ValueTooLong {
        /// Its length.
        len: usize,
    },
    /// A new key beyond [`Config::max_keys`](crate::Config) live keys.
    TooManyKeys {
        /// The limit.
        max: usize,
    },
    /// A message to a member this node does not know.
    UnknownMember,
    /// Metadata longer than [`Config::max_meta_len`](crate::Config).
    MetaTooLong {
        /// Its length.
        len: usize,
    },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::AlreadyLeft => f.write_str("the node has already left the cluster"),
            CommandError::KeyLength { len } => write!(f, "a key of {len} bytes is empty or above max_key_len"),
            CommandError::ValueTooLong { len } => write!(f, "a value of {len} bytes is above max_value_len"),
            CommandError::MetaTooLong { len } => write!(f, "metadata of {len} bytes is above max_meta_len"),
            CommandError::TooManyKeys { max } => write!(f, "this node already owns max_keys = {max} keys"),
            CommandError::UnknownMember => f.write_str("no such member"),
        }
    }
}

impl core::error::Error for CommandError {}
