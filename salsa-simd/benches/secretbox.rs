//! XSalsa20-Poly1305 seal and open in place at 64 B, 1 KiB and 64 KiB: each backend this CPU
//! has, RustCrypto's `crypto_secretbox` (what `SystemCrypto` used before), and libsodium's
//! `crypto_secretbox_detached`/`_open_detached` (built from source by `libsodium-sys-stable`), in
//! the same run.
//!
//! `cargo bench -p salsa-simd --bench secretbox`

// Only for the libsodium FFI calls below; the crate itself denies unsafe code.
#![allow(unsafe_code)]

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use crypto_secretbox::aead::generic_array::GenericArray;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use salsa_simd::{Backend, XSalsa20Poly1305Key};

fn sodium_seal(key: &[u8; 32], nonce: &[u8; 24], buf: &mut [u8]) -> [u8; 16] {
    let mut tag = [0u8; 16];
    // SAFETY: libsodium was initialised in `bench`; `buf` is valid for `buf.len()` octets and
    // libsodium allows the ciphertext to overwrite the message in place; `tag`, `nonce` and
    // `key` are 16, 24 and 32 octets, the sizes the function reads and writes.
    let rc = unsafe {
        libsodium_sys::crypto_secretbox_detached(
            buf.as_mut_ptr(),
            tag.as_mut_ptr(),
            buf.as_ptr(),
            buf.len() as u64,
            nonce.as_ptr(),
            key.as_ptr(),
        )
    };
    assert_eq!(rc, 0);
    tag
}

fn sodium_open(key: &[u8; 32], nonce: &[u8; 24], buf: &mut [u8], tag: &[u8; 16]) {
    // SAFETY: as in `sodium_seal`: in-place decryption of `buf.len()` valid octets, with a
    // 16-octet tag, a 24-octet nonce and a 32-octet key.
    let rc = unsafe {
        libsodium_sys::crypto_secretbox_open_detached(
            buf.as_mut_ptr(),
            buf.as_ptr(),
            tag.as_ptr(),
            buf.len() as u64,
            nonce.as_ptr(),
            key.as_ptr(),
        )
    };
    assert_eq!(rc, 0);
}

fn bench(c: &mut Criterion) {
    // SAFETY: `sodium_init` may be called any number of times, from any thread.
    assert!(unsafe { libsodium_sys::sodium_init() } >= 0);
    let key = [0x3cu8; 32];
    let nonce = [0x5au8; 24];
    let rustcrypto = XSalsa20Poly1305::new(GenericArray::from_slice(&key));
    for (name, len) in [("64B", 64usize), ("1KiB", 1024), ("64KiB", 64 * 1024)] {
        let message: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut group = c.benchmark_group(format!("secretbox_{name}"));
        group.throughput(Throughput::Bytes(len as u64));

        let mut sealed = message.clone();
        let tag = sodium_seal(&key, &nonce, &mut sealed);

        for backend in Backend::available() {
            let k = XSalsa20Poly1305Key::with_backend(&key, backend).unwrap();
            let mut buf = message.clone();
            group.bench_function(BenchmarkId::new("seal", backend.name()), |b| {
                b.iter(|| k.seal_in_place_detached(&nonce, &mut buf))
            });
            group.bench_function(BenchmarkId::new("open", backend.name()), |b| {
                b.iter_batched_ref(
                    || sealed.clone(),
                    |buf| k.open_in_place_detached(&nonce, buf, &tag).unwrap(),
                    BatchSize::SmallInput,
                )
            });
        }

        let mut buf = message.clone();
        group.bench_function(BenchmarkId::new("seal", "crypto_secretbox"), |b| {
            b.iter(|| {
                rustcrypto
                    .encrypt_in_place_detached(GenericArray::from_slice(&nonce), b"", &mut buf)
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("open", "crypto_secretbox"), |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |buf| {
                    rustcrypto
                        .decrypt_in_place_detached(
                            GenericArray::from_slice(&nonce),
                            b"",
                            buf,
                            GenericArray::from_slice(&tag),
                        )
                        .unwrap()
                },
                BatchSize::SmallInput,
            )
        });

        let mut buf = message.clone();
        group.bench_function(BenchmarkId::new("seal", "libsodium"), |b| {
            b.iter(|| sodium_seal(&key, &nonce, &mut buf))
        });
        group.bench_function(BenchmarkId::new("open", "libsodium"), |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |buf| sodium_open(&key, &nonce, buf, &tag),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
