//! A node fed an arbitrary sequence of datagrams, frames, timeouts and commands (see
//! `gossip_core::fuzzing::drive_node`).
#![no_main]
libfuzzer_sys::fuzz_target!(|ops: Vec<gossip_core::fuzzing::Op>| gossip_core::fuzzing::drive_node(&ops));
