//! libFuzzer entry for `parley_gateway::fuzzing::ws_reader`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parley_gateway::fuzzing::ws_reader(data));
