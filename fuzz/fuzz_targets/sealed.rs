//! Arbitrary bytes into the decrypting decoder (see `gossip_core::fuzzing::open_sealed`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| gossip_core::fuzzing::open_sealed(data));
