//! Arbitrary bytes into the inflating decoder (see `gossip_core::fuzzing::inflate`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| gossip_core::fuzzing::inflate(data));
