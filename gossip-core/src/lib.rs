//! A sans-IO gossip membership protocol: SWIM with the Lifeguard extensions.
//!
//! [`Node`] is a deterministic state machine. It never touches a socket, a clock or a
//! thread: the caller feeds it timestamped input and drains its output. The same inputs
//! and the same seeded random generator give the same outputs, byte for byte, so one
//! core serves a tokio adapter, a simulator of thousands of nodes and fuzz targets alike.
//!
//! # The run loop
//!
//! ```no_run
//! use gossip_core::{Config, Identity, Node, Time};
//! # fn clock() -> Time { Time::ZERO }
//! # fn recv() -> Option<(std::net::SocketAddr, Vec<u8>, bool)> { None }
//! # fn send(_: &gossip_core::Transmit) {}
//! # struct Rng(u64);
//! # impl rand_core::RngCore for Rng {
//! #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
//! #     fn next_u64(&mut self) -> u64 { self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1); self.0 }
//! #     fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u64() as u8 } }
//! # }
//! let me = Identity::new("node-a", "10.0.0.1:7946".parse().unwrap());
//! let mut node = Node::new(Config::lan(100), me, Rng(42)).unwrap();
//! node.join(clock(), &["10.0.0.2:7946".parse().unwrap()]).unwrap();
//! loop {
//!     // 1. Input: a datagram, a stream frame, or the deadline passing.
//!     match recv() {
//!         Some((from, bytes, false)) => { let _ = node.handle_datagram(clock(), from, &bytes); }
//!         Some((from, frame, true)) => { let _ = node.handle_stream(clock(), from, &frame); }
//!         None => node.handle_timeout(clock()),
//!     }
//!     // 2. Output, in this order: packets, events, then the next deadline.
//!     while let Some(t) = node.poll_transmit() { send(&t) }
//!     while let Some(event) = node.poll_event() { println!("{event:?}") }
//!     let _wake_at = node.poll_timeout(); // sleep until then, or until input arrives
//! }
//! ```
//!
//! # Contract
//!
//! - Time is the caller's: pass a monotonic [`Time`] to every call. A time earlier than
//!   one already seen is clamped and counted, never a panic.
//! - Bad input never panics, never allocates without bound and never changes state: the
//!   packet is dropped whole, `handle_*` returns a typed [`RecvError`], and
//!   [`Stats::drops`] counts it.
//! - Every datagram is at most [`Config::mtu`] bytes; reliable transmits (push-pull) go
//!   over a stream as one frame.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
// With std (outside tests, which have it anyway): for what derives name `::std` (arbitrary's).
#[cfg(all(feature = "std", not(test)))]
extern crate std;

/// What every module takes from `alloc` (a `no_std` crate has no prelude for it).
mod prelude {
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::format;
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec;
    pub(crate) use alloc::vec::Vec;
}

/// A `tracing` event (target `gossip_core`) with feature `tracing`; nothing without it.
macro_rules! trace {
    ($($arg:tt)+) => {{
        #[cfg(feature = "tracing")]
        tracing::debug!(target: "gossip_core", $($arg)+);
    }};
}

/// What a protocol layer is lent of a node for one call (see `shared.rs`): a
/// [`shared::Shared`] borrowing only those fields, so the node's layers stay borrowable.
macro_rules! shared {
    ($node:ident) => {
        crate::shared::Shared {
            now: $node.clock,
            join_storm: $node.sync.in_join_storm($node.clock),
            config: &$node.config,
            rng: &mut $node.rng,
            outbox: &mut $node.outbox,
            stats: &mut $node.stats,
        }
    };
}

mod config;
mod digest;
mod error;
mod event;
mod hashing;
mod identity;

mod membership;
mod messages;
mod node;
mod outbox;

mod rand;

#[cfg(feature = "encryption")]
pub mod seal;
#[cfg(feature = "serde")]
mod serde_impls;
mod settings;
mod shared;
mod state;
mod stats;
mod sync;
mod time;
#[cfg(feature = "wire")]
pub mod wire;
#[cfg(not(feature = "wire"))]
mod wire;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
#[cfg(test)]
mod tests;

pub use config::{Config, Detector};
pub use error::{CommandError, ConfigError, RecvError};
pub use event::{Event, Transmit};
pub use identity::{Identity, MAX_ID_LEN, MemberInfo, MemberState, NodeId};
pub use membership::members::Member;
pub use node::Node;
#[cfg(feature = "encryption")]
pub use seal::{Keyring, KeyringError};
pub use settings::SettingError;
pub use stats::Stats;
pub use time::Time;
pub use wire::DecodeError;
