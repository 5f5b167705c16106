#![no_main]
//! `sync_request`: see `taskforce_fuzz::harness::sync_request`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| taskforce_fuzz::harness::sync_request(data));
