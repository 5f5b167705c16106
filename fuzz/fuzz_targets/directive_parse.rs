#![no_main]
//! `directive_parse`: see `taskforce_fuzz::harness::directive_parse`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| taskforce_fuzz::harness::directive_parse(data));
