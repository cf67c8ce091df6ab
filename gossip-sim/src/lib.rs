//! Deterministic simulator for [`gossip_core`]: many nodes on virtual time with faults.
//!
//! Not built yet: issue 3 fills this crate with the event loop, the network model and the
//! `gossip-sim run` command line. Until then `gossip-core/examples/cluster.rs` is the
//! runnable demonstration.
#![forbid(unsafe_code)]

pub use gossip_core;
