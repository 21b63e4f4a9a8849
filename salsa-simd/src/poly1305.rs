//! Poly1305 (the one-time authenticator of NaCl and RFC 8439), scalar, on three 44/44/42-bit
//! limbs with 128-bit products. Constant time: the only data-dependent choice, the final
//! reduction, is a mask, and the work depends only on the message length.
//!
//! Why ours and not RustCrypto's `poly1305` (which the tests compare against): its AVX2 backend,
//! chosen at run time, costs about 1.6 µs per tag on this project's benchmark machine even for
//! 64 octets (key-power setup and finalisation), three times libsodium's whole 64-octet box; this
//! scalar code takes ~50 ns there. Long messages go to the IFMA code (`avx512.rs`) or, from
//! 8 KiB on a SIMD backend without IFMA, to RustCrypto's (see `lib.rs`).

use zeroize::Zeroize;

const MASK44: u64 = (1 << 44) - 1;
const MASK42: u64 = (1 << 42) - 1;

/// Below this many octets the scalar code is faster than computing r^2..r^8 for the IFMA code.
const WIDE_MIN: usize = 256;

/// `h · r mod 2^130 − 5` on 44/44/42-bit limbs (`s` is `r1·20, r2·20`); the result has limbs
/// below 2^44, 2^44 + 2^10 and 2^42. `h`'s limbs may be a few bits wider than that.
#[inline(always)]
fn mul(h: [u64; 3], r: [u64; 3], s: [u64; 2]) -> [u64; 3] {
    let [h0, h1, h2] = h;
    let [r0, r1, r2] = r;
    let [s1, s2] = s;
    let m = |a: u64, b: u64| u128::from(a) * u128::from(b);
    let d0 = m(h0, r0) + m(h1, s2) + m(h2, s1);
    let mut d1 = m(h0, r1) + m(h1, r0) + m(h2, s2);
    let mut d2 = m(h0, r2) + m(h1, r1) + m(h2, r0);

    let h0 = (d0 as u64) & MASK44;
    d1 += d0 >> 44;
    let h1 = (d1 as u64) & MASK44;
    d2 += d1 >> 44;
    let h2 = (d2 as u64) & MASK42;
    let c = (d2 >> 42) as u64;
    let h0 = h0 + c * 5;
    [h0 & MASK44, h1 + (h0 >> 44), h2]
}

fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 octets"))
}

/// A Poly1305 computation under one 32-octet key (`r` then `s`). Wiped on drop.
pub(crate) struct Poly1305 {
    r: [u64; 3],
    /// `r1` and `r2` times 20: 2^132 ≡ 20 (mod 2^130 − 5) folds the overflowing products.
    s: [u64; 2],
    h: [u64; 3],
    pad: [u64; 2],
}

impl Poly1305 {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        let t0 = le64(&key[0..8]);
        let t1 = le64(&key[8..16]);
        // r with the clamp 0x0ffffffc0ffffffc0ffffffc0fffffff applied, split into limbs.
        let r0 = t0 & 0x0000_0ffc_0fff_ffff;
        let r1 = ((t0 >> 44) | (t1 << 20)) & 0x0000_0fff_ffc0_ffff;
        let r2 = (t1 >> 24) & 0x0000_000f_ffff_fc0f;
        Poly1305 {
            r: [r0, r1, r2],
            s: [r1 * 20, r2 * 20],
            h: [0; 3],
            pad: [le64(&key[16..24]), le64(&key[24..32])],
        }
    }

    /// h = (h + block + hibit·2^128) · r mod 2^130 − 5.
    #[inline(always)]
    fn block(&mut self, m: &[u8; 16], hibit: u64) {
        let t0 = le64(&m[0..8]);
        let t1 = le64(&m[8..16]);
        let h = [
            self.h[0] + (t0 & MASK44),
            self.h[1] + (((t0 >> 44) | (t1 << 20)) & MASK44),
            self.h[2] + (((t1 >> 24) & MASK42) | hibit),
        ];
        self.h = mul(h, self.r, self.s);
    }

    /// The tag of `data` (any length; a final partial block is padded with 1 then zeros). With
    /// `wide`, a long message's leading 128-octet groups go through the AVX-512 IFMA code when
    /// the CPU has it (same result, see `avx512::poly1305_groups`).
    pub(crate) fn compute(mut self, data: &[u8], wide: bool) -> [u8; 16] {
        let data = self.wide_prefix(data, wide);
        let mut blocks = data.chunks_exact(16);
        for b in &mut blocks {
            self.block(b.try_into().expect("16 octets"), 1 << 40);
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 16];
            last[..rest.len()].copy_from_slice(rest);
            last[rest.len()] = 1;
            self.block(&last, 0);
            last.zeroize();
        }
        self.finish()
    }

    /// Hashes the longest prefix of `data` made of 128-octet groups with the IFMA code, when
    /// `wide` is asked for, the CPU has it and the message is long enough to pay for the powers of
    /// `r`; returns what is left for the scalar code.
    #[cfg(target_arch = "x86_64")]
    fn wide_prefix<'a>(&mut self, data: &'a [u8], wide: bool) -> &'a [u8] {
        if !wide || data.len() < WIDE_MIN || !crate::avx512::has_ifma() {
            return data;
        }
        let mut powers = [self.r; 8];
        for i in 1..8 {
            powers[i] = mul(powers[i - 1], self.r, self.s);
        }
        let (groups, rest) = data.split_at(data.len() / 128 * 128);
        let h = crate::avx512::poly1305_groups(&powers, groups);
        powers.zeroize();
        // The lane sums are a few bits wide of the scalar limbs: carry once.
        let [mut h0, mut h1, mut h2] = h;
        h1 += h0 >> 44;
        h0 &= MASK44;
        h2 += h1 >> 44;
        h1 &= MASK44;
        h0 += (h2 >> 42) * 5;
        h2 &= MASK42;
        h1 += h0 >> 44;
        h0 &= MASK44;
        self.h = [h0, h1, h2];
        rest
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn wide_prefix<'a>(&mut self, data: &'a [u8], _wide: bool) -> &'a [u8] {
        data
    }

    fn finish(&mut self) -> [u8; 16] {
        let [mut h0, mut h1, mut h2] = self.h;
        // Carry fully: h < 2^130 + a little.
        for _ in 0..2 {
            h2 += h1 >> 44;
            h1 &= MASK44;
            h0 += (h2 >> 42) * 5;
            h2 &= MASK42;
            h1 += h0 >> 44;
            h0 &= MASK44;
        }
        // g = h + 5 − 2^130; keep g if that did not go negative (h ≥ p), else h.
        let mut g0 = h0 + 5;
        let mut g1 = h1 + (g0 >> 44);
        g0 &= MASK44;
        let g2 = (h2 + (g1 >> 44)).wrapping_sub(1 << 42);
        g1 &= MASK44;
        let keep_g = (g2 >> 63).wrapping_sub(1);
        h0 = (h0 & !keep_g) | (g0 & keep_g);
        h1 = (h1 & !keep_g) | (g1 & keep_g);
        h2 = (h2 & !keep_g) | (g2 & keep_g & MASK42);
        // + s, mod 2^128.
        let [p0, p1] = self.pad;
        h0 += p0 & MASK44;
        h1 += (((p0 >> 44) | (p1 << 20)) & MASK44) + (h0 >> 44);
        h0 &= MASK44;
        h2 += ((p1 >> 24) & MASK42) + (h1 >> 44);
        h1 &= MASK44;
        let lo = h0 | (h1 << 44);
        let hi = (h1 >> 20) | (h2 << 24);
        let mut tag = [0u8; 16];
        tag[..8].copy_from_slice(&lo.to_le_bytes());
        tag[8..].copy_from_slice(&hi.to_le_bytes());
        tag
    }
}

impl Drop for Poly1305 {
    fn drop(&mut self) {
        self.r.zeroize();
        self.s.zeroize();
        self.h.zeroize();
        self.pad.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::poly1305::universal_hash::KeyInit;

    /// RFC 8439 section 2.5.2.
    #[test]
    fn rfc8439_example() {
        let key: [u8; 32] =
            hex::decode("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
                .unwrap()
                .try_into()
                .unwrap();
        let tag = Poly1305::new(&key).compute(b"Cryptographic Forum Research Group", false);
        assert_eq!(hex::encode(tag), "a8061dc1305136c6c22b8baf0c0127a9");
    }

    /// Against RustCrypto's poly1305 on every length to 1200 (both paths) and keys that stress the carries.
    #[test]
    fn matches_rustcrypto() {
        let data: Vec<u8> = (0..1200u32).map(|i| (i * 31 + 7) as u8).collect();
        let ff = vec![0xffu8; 1200];
        for (n, key) in [[0xffu8; 32], [0u8; 32], [0x5a; 32], {
            let mut k = [0xffu8; 32];
            k[16..].fill(0);
            k
        }]
        .iter()
        .enumerate()
        {
            for len in 0..=1200 {
                for msg in [&data[..len], &ff[..len]] {
                    let theirs = ::poly1305::Poly1305::new(key.into()).compute_unpadded(msg);
                    for wide in [false, true] {
                        let ours = Poly1305::new(key).compute(msg, wide);
                        assert_eq!(ours[..], theirs[..], "key {n} len {len} wide {wide}");
                    }
                }
            }
        }
    }

    /// Long messages of all-ones octets under keys with every r bit the clamp allows: the
    /// widest limbs either path can see.
    #[test]
    fn long_worst_case_messages_match_rustcrypto() {
        let ff = vec![0xffu8; 70_001];
        for key in [[0xffu8; 32], [0x0f; 32]] {
            for len in [128 * 9, 65_536, 70_001] {
                let theirs = ::poly1305::Poly1305::new((&key).into()).compute_unpadded(&ff[..len]);
                for wide in [false, true] {
                    let ours = Poly1305::new(&key).compute(&ff[..len], wide);
                    assert_eq!(ours[..], theirs[..], "len {len} wide {wide}");
                }
            }
        }
    }
}
