//! The check shared by the `salsa_backends` fuzz target and the test that replays its corpus
//! (`tests/tests/fuzz_corpora.rs`). Needs the `fuzzing` feature, which makes `crypto_secretbox`
//! a dependency.

use crypto_secretbox::aead::generic_array::GenericArray;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Kdf, XSalsa20Poly1305};

use crate::{hsalsa20, Backend, XSalsa20Poly1305Key};

/// Input layout: 32 octets of key, 24 of nonce, one octet choosing the buffer's misalignment and
/// the bit to tamper with, then the message. Shorter inputs are ignored.
///
/// Every available backend must seal exactly as `crypto_secretbox::XSalsa20Poly1305` does, open
/// its own box, and refuse a flipped tag or ciphertext bit without changing the buffer;
/// HSalsa20 must match `crypto_secretbox::Kdf`.
pub fn backends_agree(data: &[u8]) {
    if data.len() < 57 {
        return;
    }
    let key: [u8; 32] = data[..32].try_into().expect("32 octets");
    let nonce: [u8; 24] = data[32..56].try_into().expect("24 octets");
    let knob = data[56];
    let message = &data[57..];

    let prefix: [u8; 16] = nonce[..16].try_into().expect("16 octets");
    let kdf = <XSalsa20Poly1305 as Kdf>::kdf(
        GenericArray::from_slice(&key),
        GenericArray::from_slice(&prefix),
    );
    assert_eq!(hsalsa20(&key, &prefix)[..], kdf[..]);

    let mut expected = message.to_vec();
    let expected_tag = XSalsa20Poly1305::new(GenericArray::from_slice(&key))
        .encrypt_in_place_detached(GenericArray::from_slice(&nonce), b"", &mut expected)
        .expect("crypto_secretbox seals any length");

    let offset = usize::from(knob % 32);
    let mut storage = vec![0u8; offset + message.len()];
    for backend in Backend::available() {
        let k = XSalsa20Poly1305Key::with_backend(&key, backend).expect("available");
        let buf = &mut storage[offset..];
        buf.copy_from_slice(message);
        let tag = k.seal_in_place_detached(&nonce, buf);
        assert_eq!(tag[..], expected_tag[..], "{backend}: tag");
        assert!(*buf == expected[..], "{backend}: ciphertext");

        let mut bad = tag;
        bad[usize::from(knob) % 16] ^= 1 << (knob % 8);
        assert!(k.open_in_place_detached(&nonce, buf, &bad).is_err());
        assert!(
            *buf == expected[..],
            "{backend}: a refused box is left alone"
        );
        if !buf.is_empty() {
            let at = usize::from(knob) * 131 % buf.len();
            buf[at] ^= 1 << (knob % 8);
            assert!(k.open_in_place_detached(&nonce, buf, &tag).is_err());
            buf[at] ^= 1 << (knob % 8);
        }
        let opened = k.open_in_place_detached(&nonce, buf, &tag);
        assert!(opened.is_ok(), "{backend}: opens its own box");
        assert!(*buf == *message, "{backend}: round trip");
    }
}
