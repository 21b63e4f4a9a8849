//! Fixed answers: NaCl's published HSalsa20 and secretbox vectors, and HSalsa20 against the
//! `crypto_secretbox::Kdf` that `crypto.rs` used before this crate.

use crypto_secretbox::aead::generic_array::GenericArray;
use crypto_secretbox::{Kdf, XSalsa20Poly1305};
use salsa_simd::{hsalsa20, Backend, XSalsa20Poly1305Key};

fn bytes<const N: usize>(hex: &str) -> [u8; N] {
    hex::decode(hex).unwrap().try_into().unwrap()
}

/// NaCl's Curve25519 shared secret from its box tests (`tests/core1.c`).
const SHARED: &str = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
/// HSalsa20(SHARED, 0): the box key ("firstkey") of NaCl's tests.
const FIRSTKEY: &str = "1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389";
/// The 24-octet nonce of NaCl's box and secretbox tests.
const NONCE: &str = "69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37";
/// NaCl's 131-octet secretbox test message.
const MESSAGE: &str =
    "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a\
1ac728d45e6c61296cdc3c01233561f41db66cce314adb310e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a\
024a838f21af1fde048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f937763848645e0705";
/// Its tag, then its ciphertext.
const TAG: &str = "f3ffc7703f9400e52a7dfb4b3d3305d9";
const CIPHERTEXT: &str =
    "8e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186ac0dfc17c98dce87b\
4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae90224368517acfea\
bd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74e355a5";

#[test]
fn hsalsa20_matches_nacl_core1_and_core2() {
    assert_eq!(hsalsa20(&bytes(SHARED), &[0u8; 16]), bytes::<32>(FIRSTKEY));
    let nonce: [u8; 24] = bytes(NONCE);
    assert_eq!(
        hsalsa20(&bytes(FIRSTKEY), nonce[..16].try_into().unwrap()),
        bytes::<32>("dc908dda0b9344a953629b733820778880f3ceb421bb61b91cbd4c3e66256ce4")
    );
}

#[test]
fn hsalsa20_matches_crypto_secretbox_kdf() {
    for seed in 0u8..32 {
        let key = [seed.wrapping_mul(37).wrapping_add(1); 32];
        let mut key = key;
        key[seed as usize] ^= 0xa5;
        let nonce: [u8; 16] = core::array::from_fn(|i| (i as u8).wrapping_mul(seed));
        let theirs = <XSalsa20Poly1305 as Kdf>::kdf(
            GenericArray::from_slice(&key),
            GenericArray::from_slice(&nonce),
        );
        assert_eq!(hsalsa20(&key, &nonce)[..], theirs[..], "seed {seed}");
    }
}

#[test]
fn every_backend_seals_and_opens_nacl_secretbox_vector() {
    let key: [u8; 32] = bytes(FIRSTKEY);
    let nonce: [u8; 24] = bytes(NONCE);
    let message = hex::decode(MESSAGE).unwrap();
    let ciphertext = hex::decode(CIPHERTEXT).unwrap();
    for backend in Backend::available() {
        let key = XSalsa20Poly1305Key::with_backend(&key, backend).unwrap();
        let mut buf = message.clone();
        let tag = key.seal_in_place_detached(&nonce, &mut buf);
        assert_eq!(tag, bytes::<16>(TAG), "{backend}");
        assert_eq!(buf, ciphertext, "{backend}");
        key.open_in_place_detached(&nonce, &mut buf, &tag).unwrap();
        assert_eq!(buf, message, "{backend}");
    }
}

/// Messages long enough for every backend's batches, its tails, its counter words and the switch
/// to RustCrypto's Poly1305 (8192 octets) on backends without IFMA.
#[test]
fn every_backend_agrees_on_long_messages() {
    use crypto_secretbox::aead::{AeadInPlace, KeyInit};
    let key = [0x5au8; 32];
    let nonce: [u8; 24] = core::array::from_fn(|i| i as u8);
    let message: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for len in [8191, 8192, 8193, 65_536, 70_000] {
        let mut expected = message[..len].to_vec();
        let expected_tag = XSalsa20Poly1305::new(GenericArray::from_slice(&key))
            .encrypt_in_place_detached(GenericArray::from_slice(&nonce), b"", &mut expected)
            .unwrap();
        for backend in Backend::available() {
            let k = XSalsa20Poly1305Key::with_backend(&key, backend).unwrap();
            let mut buf = message[..len].to_vec();
            let tag = k.seal_in_place_detached(&nonce, &mut buf);
            assert_eq!(tag[..], expected_tag[..], "{backend} {len}");
            assert!(buf == expected, "{backend} {len}");
            k.open_in_place_detached(&nonce, &mut buf, &tag).unwrap();
            assert!(buf == message[..len], "{backend} {len}");
        }
    }
}
