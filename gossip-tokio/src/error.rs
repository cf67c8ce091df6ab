//! Errors a user of the adapter can act on.

use gossip_core::{CommandError, ConfigError, KeyringError};
use std::fmt;
use std::net::SocketAddr;

/// Why [`Cluster::start`](crate::Cluster::start) failed; nothing is left running.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The settings, the name or the metadata were refused by the core.
    Config(ConfigError),
    /// The UDP socket or the TCP listener could not be bound (in use, not a local address,
    /// no permission).
    Bind {
        /// The address tried.
        addr: SocketAddr,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The bind address is 0.0.0.0 or `::`, which peers cannot send to: set
    /// [`Options::advertise`](crate::Options::advertise).
    NoAdvertiseAddress,
    /// [`Options::advertise_url`](crate::Options::advertise_url) is not a `ws://` or
    /// `wss://` URL of at most 2048 bytes, or the transport is not WebSocket.
    #[cfg(feature = "ws")]
    AdvertiseUrl(String),
    /// [`Options::tls_roots`](crate::Options::tls_roots) is set but the transport is not
    /// WebSocket (only `wss://` dials use it).
    #[cfg(feature = "ws")]
    TlsRootsWithoutWs,
    /// Certificate `index` of [`Options::tls_roots`](crate::Options::tls_roots) is not one
    /// rustls can trust as a root (not DER, not X.509, an unsupported key).
    #[cfg(feature = "ws")]
    TlsRoot {
        /// Its position in the list.
        index: usize,
        /// Why rustls refused it.
        error: rustls::Error,
    },
    /// The discovery socket could not join its multicast group (no multicast route or
    /// interface, the port taken without address reuse).
    Discovery {
        /// The group tried.
        group: std::net::SocketAddrV4,
        /// What the operating system said.
        error: std::io::Error,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "bad settings: {e}"),
            StartError::Bind { addr, error } => write!(f, "cannot bind {addr}: {error}"),
            StartError::NoAdvertiseAddress => {
                f.write_str("the bind address is unspecified (0.0.0.0 or ::): give an address to advertise")
            }
            #[cfg(feature = "ws")]
            StartError::AdvertiseUrl(url) => {
                write!(f, "cannot advertise {url:?}: it takes a ws:// or wss:// URL and the ws transport")
            }
            #[cfg(feature = "ws")]
            StartError::TlsRootsWithoutWs => f.write_str("TLS roots are for wss:// peers: they need the ws transport"),
            #[cfg(feature = "ws")]
            StartError::TlsRoot { index, error } => write!(f, "TLS root {index} cannot be trusted: {error}"),
            StartError::Discovery { group, error } => write!(f, "cannot join the discovery group {group}: {error}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Config(e) => Some(e),
            StartError::Bind { error, .. } | StartError::Discovery { error, .. } => Some(error),
            #[cfg(feature = "ws")]
            StartError::TlsRoot { error, .. } => Some(error),
            #[cfg(feature = "ws")]
            StartError::AdvertiseUrl(_) | StartError::TlsRootsWithoutWs => None,
            StartError::NoAdvertiseAddress => None,
        }
    }
}

/// Why a [`Cluster`](crate::Cluster) call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterError {
    /// The node task has stopped (after [`leave`](crate::Cluster::leave) or
    /// [`shutdown`](crate::Cluster::shutdown)).
    Closed,
    /// The node refused the command (a key too long, an unknown member, ...).
    Command(CommandError),
    /// A keyring change was refused (the ring is unchanged).
    Keyring(KeyringError),
    /// A keyring change on a node started without encryption.
    NotEncrypted,
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::Closed => f.write_str("the node has stopped"),
            ClusterError::Command(e) => e.fmt(f),
            ClusterError::Keyring(e) => e.fmt(f),
            ClusterError::NotEncrypted => f.write_str("this node was started without an encryption key"),
        }
    }
}

impl std::error::Error for ClusterError {}

/// Why [`Cluster::join`](crate::Cluster::join) failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// A seed name did not resolve to an address of this node's family (IPv4 or IPv6).
    Resolve {
        /// The seed as given.
        seed: String,
        /// Why.
        reason: String,
    },
    /// No seed answered within `join_timeout`; the node keeps trying in the background.
    Timeout,
    /// The node task has stopped.
    Closed,
    /// The node refused to join (it has left).
    Command(CommandError),
    /// [`Cluster::join_with_retry`](crate::Cluster::join_with_retry) made its
    /// `max_attempts` attempts and none succeeded; the node keeps contacting the seeds it
    /// resolved in the background.
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
        /// Why the last one failed.
        last: Box<JoinError>,
    },
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Resolve { seed, reason } => write!(f, "cannot resolve seed {seed:?}: {reason}"),
            JoinError::Timeout => f.write_str("no seed answered in time (still trying)"),
            JoinError::Closed => f.write_str("the node has stopped"),
            JoinError::Command(e) => e.fmt(f),
            JoinError::GaveUp { attempts, last } => write!(f, "gave up after {attempts} attempts: {last}"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<crate::ClusterError> for JoinError {
    fn from(e: ClusterError) -> Self {
        match e {
            ClusterError::Closed => JoinError::Closed,
            ClusterError::Command(c) => JoinError::Command(c),
            ClusterError::Keyring(_) | ClusterError::NotEncrypted => JoinError::Closed,
        }
    }
}
