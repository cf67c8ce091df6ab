//! Node-level tests: one, two or three nodes driven by hand on virtual time, fed crafted
//! packets. Clusters at real sizes run on the simulator (gossip-sim's tests/protocol).

mod detector;
mod focused;
mod fuzz_bodies;
mod hostile;
mod probing;
#[cfg(feature = "tracing")]
mod tracing;
pub(crate) mod util;
