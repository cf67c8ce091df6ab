//! Arbitrary bytes into the wire decoder (see `gossip_core::fuzzing::decode`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| gossip_core::fuzzing::decode(data));
