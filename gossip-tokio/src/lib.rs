//! Tokio runtime adapter for [`gossip_core`]: drives a node over UDP and TCP sockets.
//!
//! Not built yet: issue 5 fills this crate with the driver task, the `Cluster` handle and
//! the `gossip-agent` binary. It builds today so the workspace layout is final.
#![forbid(unsafe_code)]

pub use gossip_core;
