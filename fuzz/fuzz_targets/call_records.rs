#![no_main]
//! `call_records`: see `taskforce_fuzz::harness::call_records`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| taskforce_fuzz::harness::call_records(data));
