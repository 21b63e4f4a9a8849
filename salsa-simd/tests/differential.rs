//! Every backend this CPU has against RustCrypto's `crypto_secretbox`, over random keys, nonces,
//! lengths and buffer offsets; and tampering.

use crypto_secretbox::aead::generic_array::GenericArray;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use proptest::prelude::*;
use salsa_simd::{Backend, BackendUnavailable, XSalsa20Poly1305Key};

fn reference_seal(key: &[u8; 32], nonce: &[u8; 24], buf: &mut [u8]) -> [u8; 16] {
    XSalsa20Poly1305::new(GenericArray::from_slice(key))
        .encrypt_in_place_detached(GenericArray::from_slice(nonce), b"", buf)
        .unwrap()
        .into()
}

/// Seals `message` (placed at `offset` in a larger buffer) with `backend`, compares with the
/// reference, opens it again, and checks that a flipped tag or ciphertext bit is refused without
/// touching the buffer.
fn check(
    backend: Backend,
    key: &[u8; 32],
    nonce: &[u8; 24],
    message: &[u8],
    offset: usize,
    flip: usize,
) {
    let k = XSalsa20Poly1305Key::with_backend(key, backend).unwrap();
    let mut expected = message.to_vec();
    let expected_tag = reference_seal(key, nonce, &mut expected);

    let mut storage = vec![0xeeu8; offset + message.len() + 7];
    let buf = &mut storage[offset..offset + message.len()];
    buf.copy_from_slice(message);
    let tag = k.seal_in_place_detached(nonce, buf);
    assert_eq!(
        tag,
        expected_tag,
        "{backend}: tag, {} octets",
        message.len()
    );
    assert!(
        buf == &expected[..],
        "{backend}: ciphertext, {} octets",
        message.len()
    );

    let mut bad_tag = tag;
    bad_tag[flip % 16] ^= 1 << (flip % 8);
    assert!(k.open_in_place_detached(nonce, buf, &bad_tag).is_err());
    assert!(
        buf == &expected[..],
        "{backend}: a refused tag leaves the buffer"
    );
    if !buf.is_empty() {
        let at = flip % buf.len();
        buf[at] ^= 0x80;
        assert!(k.open_in_place_detached(nonce, buf, &tag).is_err());
        buf[at] ^= 0x80;
        assert!(buf == &expected[..]);
    }
    let mut other_nonce = *nonce;
    other_nonce[flip % 24] ^= 1;
    assert!(k.open_in_place_detached(&other_nonce, buf, &tag).is_err());

    k.open_in_place_detached(nonce, buf, &tag).unwrap();
    assert!(buf == message, "{backend}: round trip");
    assert!(
        storage[..offset].iter().all(|&b| b == 0xee),
        "{backend}: before the buffer"
    );
    assert!(
        storage[offset + message.len()..].iter().all(|&b| b == 0xee),
        "{backend}: after"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn backends_match_crypto_secretbox(
        key in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
        message in proptest::collection::vec(any::<u8>(), 0..=4096),
        offset in 1usize..32,
        flip in any::<usize>(),
    ) {
        for backend in Backend::available() {
            check(backend, &key, &nonce, &message, offset, flip);
        }
    }
}

/// Every length around the block, batch and tail boundaries, for every backend.
#[test]
fn every_length_up_to_three_batches() {
    let key: [u8; 32] = core::array::from_fn(|i| (i * 3) as u8);
    let nonce: [u8; 24] = core::array::from_fn(|i| (200 - i) as u8);
    let message: Vec<u8> = (0..3200u32).map(|i| (i ^ (i >> 3)) as u8).collect();
    for backend in Backend::available() {
        for len in 0..=message.len() {
            check(backend, &key, &nonce, &message[..len], 1 + len % 31, len);
        }
    }
}

/// Each backend by name, so a run shows which ones this machine exercised.
#[test]
fn portable_backend() {
    run_named(Backend::Portable);
}

#[test]
fn avx2_backend() {
    run_named(Backend::Avx2);
}

#[test]
fn avx512_backend() {
    run_named(Backend::Avx512);
}

fn run_named(backend: Backend) {
    match XSalsa20Poly1305Key::with_backend(&[1; 32], backend) {
        Ok(k) => assert_eq!(k.backend(), backend),
        Err(e) => {
            assert_eq!(e, BackendUnavailable(backend));
            assert!(!Backend::available().contains(&backend));
            eprintln!("{backend}: not available on this CPU, skipped");
            return;
        }
    }
    let message: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    for len in [
        0, 1, 31, 32, 33, 95, 96, 97, 543, 544, 545, 1056, 1057, 4096, 5000,
    ] {
        check(backend, &[9; 32], &[3; 24], &message[..len], 5, len);
    }
}
