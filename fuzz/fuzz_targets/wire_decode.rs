#![no_main]
//! `wire_decode`: see `taskforce_fuzz::harness::wire_decode`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| taskforce_fuzz::harness::wire_decode(data));
