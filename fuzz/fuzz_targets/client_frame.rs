//! libFuzzer entry for `parley_gateway::fuzzing::client_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parley_gateway::fuzzing::client_frame(data));
