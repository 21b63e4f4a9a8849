#![no_main]
use libfuzzer_sys::fuzz_target;

// Every Salsa20 backend this CPU has against crypto_secretbox: key, nonce, a knob octet, message.
fuzz_target!(|data: &[u8]| {
    salsa_simd::fuzzing::backends_agree(data);
});
