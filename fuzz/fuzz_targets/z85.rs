#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    z85_codec::fuzzing::round_trip(data);
    // Differential: wherever RFC 32 accepts the text, the z85 crate must decode it the same way.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(ours) = z85_codec::decode(text) {
            assert_eq!(z85::decode(text).ok(), Some(ours));
        }
    }
});
