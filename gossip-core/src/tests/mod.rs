//! Scenario tests: real nodes on the in-crate harness at tens of nodes, several seeds.

#[cfg(feature = "compression")]
mod compression;
mod detector;
#[cfg(feature = "encryption")]
mod encryption;
mod focused;
mod fuzz_bodies;
mod hostile;
mod probing;
mod scenarios;
#[cfg(feature = "tracing")]
mod tracing;
pub(crate) mod util;
