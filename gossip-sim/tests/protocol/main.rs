//! The protocol's behaviour on the simulator at tens of nodes, several seeds each: what
//! gossip-core's own tests keep to one, two or three hand-driven nodes. Real nodes,
//! real encoded packets, virtual time; the tests read the nodes' own state and events
//! ([`gossip_sim::Sim::event_log`]) and hand nodes crafted packets
//! ([`gossip_sim::Sim::with_node`]).

mod compressed;
mod hostile;
mod membership;
mod sealed;
mod util;
