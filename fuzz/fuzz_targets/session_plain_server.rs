#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| zmtp_mechanisms::fuzzing::plain_server_session(data));
