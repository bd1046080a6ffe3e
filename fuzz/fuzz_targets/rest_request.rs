//! libFuzzer entry for `parley_gateway::fuzzing::rest_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parley_gateway::fuzzing::rest_request(data));
