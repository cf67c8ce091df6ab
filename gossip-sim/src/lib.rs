//! A deterministic simulator for [`gossip_core`]: thousands of real nodes exchanging real
//! encoded packets on virtual time, through a network with latency, loss, duplication and
//! partitions, with nodes that crash, restart, leave and stall.
//!
//! Ground truth is known, so a run measures what users care about: time to converge, time
//! to detect a failure, false positives and bandwidth. The same seed replays a run exactly:
//! [`Sim::trace_hash`] digests every transmit and event in order.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod host;
pub mod json;
pub mod net;
pub mod percentile;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod seeds;
pub mod settings;
pub mod sim;
pub mod svg;
pub mod trace;
pub mod truth;
mod workers;

pub use gossip_core;
pub use net::NetConfig;
pub use scenario::{Report, Scenario};
pub use sim::{Gate, Sim};
