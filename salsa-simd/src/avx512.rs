//! Salsa20/20 keystream, sixteen blocks at a time with AVX-512F.
//!
//! The layout of `avx2.rs` in 512-bit registers: register `i` holds state word `i` of sixteen
//! consecutive blocks, and `vprold` rotates in one instruction. Thirty-two registers hold the
//! state, the input and the temporaries without spilling. A 16×16 transpose (two unpack stages
//! within 128-bit lanes, then two 128-bit lane shuffles) turns registers into blocks. Anything
//! shorter than a batch goes to the AVX2 code.
//!
//! Also here: Poly1305 over 128-octet groups with AVX-512 IFMA (`poly1305_groups`), used by the
//! `Avx512` backend when the CPU has `avx512ifma`.

#![allow(unsafe_code)]

use std::arch::x86_64::{
    __m512i, _mm512_add_epi32, _mm512_loadu_si512, _mm512_rol_epi32, _mm512_set1_epi32,
    _mm512_setr_epi32, _mm512_shuffle_i32x4, _mm512_storeu_si512, _mm512_unpackhi_epi32,
    _mm512_unpackhi_epi64, _mm512_unpacklo_epi32, _mm512_unpacklo_epi64, _mm512_xor_si512,
};
use std::arch::x86_64::{
    _mm512_add_epi64, _mm512_and_si512, _mm512_madd52hi_epu64, _mm512_madd52lo_epu64,
    _mm512_or_si512, _mm512_permutex2var_epi64, _mm512_reduce_add_epi64, _mm512_set1_epi64,
    _mm512_setr_epi64, _mm512_setzero_si512, _mm512_slli_epi64, _mm512_srli_epi64,
};

use crate::avx2;
use crate::portable::BLOCK;

/// Octets of keystream one batch yields.
const BATCH: usize = 16 * BLOCK;

/// XORs `buf` with the keystream of `state` from block `counter` on (`buf` starts at a block
/// boundary). Falls back to the AVX2 (or portable) code on a CPU without AVX-512F.
pub(crate) fn xor_blocks(state: &[u32; 16], counter: u64, buf: &mut [u8]) {
    if !std::arch::is_x86_feature_detected!("avx512f") {
        return avx2::xor_blocks(state, counter, buf);
    }
    let whole = buf.len() - buf.len() % BATCH;
    let (batches, tail) = buf.split_at_mut(whole);
    // SAFETY: AVX-512F was detected on this CPU just above, which is all `xor_batches` requires
    // beyond its safe signature.
    unsafe { xor_batches(state, counter, batches) };
    let done = (whole / BLOCK) as u64;
    avx2::xor_blocks(state, counter.wrapping_add(done), tail);
}

macro_rules! quarter_round {
    ($x:ident, $a:literal, $b:literal, $c:literal, $d:literal) => {
        $x[$b] = _mm512_xor_si512(
            $x[$b],
            _mm512_rol_epi32::<7>(_mm512_add_epi32($x[$a], $x[$d])),
        );
        $x[$c] = _mm512_xor_si512(
            $x[$c],
            _mm512_rol_epi32::<9>(_mm512_add_epi32($x[$b], $x[$a])),
        );
        $x[$d] = _mm512_xor_si512(
            $x[$d],
            _mm512_rol_epi32::<13>(_mm512_add_epi32($x[$c], $x[$b])),
        );
        $x[$a] = _mm512_xor_si512(
            $x[$a],
            _mm512_rol_epi32::<18>(_mm512_add_epi32($x[$d], $x[$c])),
        );
    };
}

/// XORs `buf` (a whole number of batches) with the stream from block `counter` on.
#[target_feature(enable = "avx512f")]
fn xor_batches(state: &[u32; 16], mut counter: u64, buf: &mut [u8]) {
    let mut words = [_mm512_set1_epi32(0); 16];
    for (v, &w) in words.iter_mut().zip(state.iter()) {
        *v = _mm512_set1_epi32(w as i32);
    }
    for chunk in buf.chunks_exact_mut(BATCH) {
        let mut lo = [0i32; 16];
        let mut hi = [0i32; 16];
        for (j, (l, h)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
            let c = counter.wrapping_add(j as u64);
            *l = c as u32 as i32;
            *h = (c >> 32) as u32 as i32;
        }
        let mut input = words;
        input[8] = _mm512_setr_epi32(
            lo[0], lo[1], lo[2], lo[3], lo[4], lo[5], lo[6], lo[7], lo[8], lo[9], lo[10], lo[11],
            lo[12], lo[13], lo[14], lo[15],
        );
        input[9] = _mm512_setr_epi32(
            hi[0], hi[1], hi[2], hi[3], hi[4], hi[5], hi[6], hi[7], hi[8], hi[9], hi[10], hi[11],
            hi[12], hi[13], hi[14], hi[15],
        );
        let mut x = input;
        for _ in 0..10 {
            quarter_round!(x, 0, 4, 8, 12);
            quarter_round!(x, 5, 9, 13, 1);
            quarter_round!(x, 10, 14, 2, 6);
            quarter_round!(x, 15, 3, 7, 11);
            quarter_round!(x, 0, 1, 2, 3);
            quarter_round!(x, 5, 6, 7, 4);
            quarter_round!(x, 10, 11, 8, 9);
            quarter_round!(x, 15, 12, 13, 14);
        }
        for (v, i) in x.iter_mut().zip(input.iter()) {
            *v = _mm512_add_epi32(*v, *i);
        }
        let blocks = transpose(x);
        for (out, ks) in chunk.chunks_exact_mut(BLOCK).zip(blocks) {
            xor_into(out, ks);
        }
        counter = counter.wrapping_add(16);
    }
}

/// `out` ^= `ks` for a 64-octet `out`.
#[target_feature(enable = "avx512f")]
fn xor_into(out: &mut [u8], ks: __m512i) {
    assert_eq!(out.len(), BLOCK);
    let p = out.as_mut_ptr().cast::<__m512i>();
    // SAFETY: `out` is 64 in-bounds octets (checked above) and borrowed mutably, so reading and
    // then writing 64 octets at `p` stays inside it; `loadu`/`storeu` accept any alignment.
    // AVX-512F is enabled on this function, and its callers only run after detecting it.
    unsafe { _mm512_storeu_si512(p, _mm512_xor_si512(_mm512_loadu_si512(p), ks)) }
}

/// Transposes a 16×16 matrix of 32-bit words: row `j` of the result is block `j`.
#[target_feature(enable = "avx512f")]
fn transpose(a: [__m512i; 16]) -> [__m512i; 16] {
    // Within each 128-bit lane k, after the two unpack stages, u[4g + m] holds word 4k + m of
    // rows 4g..4g + 4.
    let mut t = a;
    for p in 0..8 {
        t[2 * p] = _mm512_unpacklo_epi32(a[2 * p], a[2 * p + 1]);
        t[2 * p + 1] = _mm512_unpackhi_epi32(a[2 * p], a[2 * p + 1]);
    }
    let mut u = t;
    for g in 0..4 {
        u[4 * g] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    // Block 4k + m is lane k of u[m], u[4 + m], u[8 + m], u[12 + m], in that order.
    let mut out = u;
    for m in 0..4 {
        let v0 = _mm512_shuffle_i32x4::<0x44>(u[m], u[4 + m]);
        let v1 = _mm512_shuffle_i32x4::<0xee>(u[m], u[4 + m]);
        let v2 = _mm512_shuffle_i32x4::<0x44>(u[8 + m], u[12 + m]);
        let v3 = _mm512_shuffle_i32x4::<0xee>(u[8 + m], u[12 + m]);
        out[m] = _mm512_shuffle_i32x4::<0x88>(v0, v2);
        out[4 + m] = _mm512_shuffle_i32x4::<0xdd>(v0, v2);
        out[8 + m] = _mm512_shuffle_i32x4::<0x88>(v1, v3);
        out[12 + m] = _mm512_shuffle_i32x4::<0xdd>(v1, v3);
    }
    out
}

/// Whether the IFMA Poly1305 can run here.
pub(crate) fn has_ifma() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512ifma")
}

/// Poly1305's accumulator after the 16-octet blocks of `groups` (a non-empty whole number of
/// 128-octet groups, every block full), starting from zero, as three limbs of 44, 44 and 42 bits
/// that may each run a few bits over. `powers[i]` is r^(i + 1) in the same limbs, each below
/// 2^45. Panics if IFMA is missing (callers check [`has_ifma`]).
///
/// Lane `j` of eight accumulates blocks `j`, `j + 8`, ...: H = H·r^8 + M per group, and at the
/// end lane `j` is multiplied by r^(8 − j) and the lanes summed, so block `i` of `n` carries
/// r^(n − i) as the sequential definition has it.
pub(crate) fn poly1305_groups(powers: &[[u64; 3]; 8], groups: &[u8]) -> [u64; 3] {
    assert!(has_ifma(), "poly1305_groups needs AVX-512 IFMA");
    assert!(!groups.is_empty() && groups.len().is_multiple_of(128));
    // SAFETY: AVX-512F and AVX-512 IFMA were detected on this CPU just above, which is all
    // `poly1305_ifma` requires beyond its safe signature.
    unsafe { poly1305_ifma(powers, groups) }
}

/// Radix-2^44 limbs of a value in every lane: the limbs themselves, and limbs 1 and 2 times 20
/// (2^132 ≡ 20 mod 2^130 − 5).
struct Multiplier {
    r: [__m512i; 3],
    s: [__m512i; 2],
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn multiplier(limbs: [[u64; 3]; 8]) -> Multiplier {
    let lane = |k: usize| {
        let v = |j: usize| limbs[j][k] as i64;
        _mm512_setr_epi64(v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7))
    };
    let r = [lane(0), lane(1), lane(2)];
    let twenty = |x: __m512i| {
        // 20x = 16x + 4x.
        _mm512_add_epi64(_mm512_slli_epi64::<4>(x), _mm512_slli_epi64::<2>(x))
    };
    Multiplier {
        r,
        s: [twenty(r[1]), twenty(r[2])],
    }
}

/// h · r mod 2^130 − 5 in every lane. Every input limb is below 2^52 (IFMA reads 52 bits); the
/// low halves of the 104-bit products sum below 2^54, the high halves are shifted to the weight
/// of the next limb (2^52 = 2^44 · 2^8), and the result's limbs are below 2^44, 2^44 + 2^10 and
/// 2^42.
#[target_feature(enable = "avx512f,avx512ifma")]
fn mul(h: [__m512i; 3], m: &Multiplier) -> [__m512i; 3] {
    let z = _mm512_setzero_si512();
    let [r0, r1, r2] = m.r;
    let [s1, s2] = m.s;
    let [h0, h1, h2] = h;
    let lo = |a: __m512i, b: __m512i, c: __m512i, d: __m512i, e: __m512i, f: __m512i| {
        _mm512_madd52lo_epu64(
            _mm512_madd52lo_epu64(_mm512_madd52lo_epu64(z, a, b), c, d),
            e,
            f,
        )
    };
    let hi = |a: __m512i, b: __m512i, c: __m512i, d: __m512i, e: __m512i, f: __m512i| {
        _mm512_madd52hi_epu64(
            _mm512_madd52hi_epu64(_mm512_madd52hi_epu64(z, a, b), c, d),
            e,
            f,
        )
    };
    let lo0 = lo(h0, r0, h1, s2, h2, s1);
    let hi0 = hi(h0, r0, h1, s2, h2, s1);
    let lo1 = lo(h0, r1, h1, r0, h2, s2);
    let hi1 = hi(h0, r1, h1, r0, h2, s2);
    let lo2 = lo(h0, r2, h1, r1, h2, r0);
    let hi2 = hi(h0, r2, h1, r1, h2, r0);

    let m44 = _mm512_set1_epi64((1 << 44) - 1);
    let m42 = _mm512_set1_epi64((1 << 42) - 1);
    let out0 = _mm512_and_si512(lo0, m44);
    let d1 = _mm512_add_epi64(
        lo1,
        _mm512_add_epi64(_mm512_srli_epi64::<44>(lo0), _mm512_slli_epi64::<8>(hi0)),
    );
    let out1 = _mm512_and_si512(d1, m44);
    let d2 = _mm512_add_epi64(
        lo2,
        _mm512_add_epi64(_mm512_srli_epi64::<44>(d1), _mm512_slli_epi64::<8>(hi1)),
    );
    let out2 = _mm512_and_si512(d2, m42);
    // Multiples of 2^130, folded back as 5 each.
    let c = _mm512_add_epi64(_mm512_srli_epi64::<42>(d2), _mm512_slli_epi64::<10>(hi2));
    let out0 = _mm512_add_epi64(out0, _mm512_add_epi64(c, _mm512_slli_epi64::<2>(c)));
    let out1 = _mm512_add_epi64(out1, _mm512_srli_epi64::<44>(out0));
    [_mm512_and_si512(out0, m44), out1, out2]
}

/// Eight full blocks as limbs, lane `j` holding block `j` (with its 2^128 bit).
#[target_feature(enable = "avx512f,avx512ifma")]
fn load_group(group: &[u8]) -> [__m512i; 3] {
    assert_eq!(group.len(), 128);
    let p = group.as_ptr().cast::<__m512i>();
    // SAFETY: `group` is 128 in-bounds octets (checked above): two unaligned 64-octet loads at
    // `p` and `p + 1` stay inside it; `loadu` accepts any alignment. AVX-512F is enabled here.
    let (a, b) = unsafe { (_mm512_loadu_si512(p), _mm512_loadu_si512(p.add(1))) };
    // a = b0.lo b0.hi b1.lo b1.hi ... b3.hi, b likewise for blocks 4..8.
    let t0 = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), b);
    let t1 = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15), b);
    let m44 = _mm512_set1_epi64((1 << 44) - 1);
    [
        _mm512_and_si512(t0, m44),
        _mm512_and_si512(
            _mm512_or_si512(_mm512_srli_epi64::<44>(t0), _mm512_slli_epi64::<20>(t1)),
            m44,
        ),
        _mm512_or_si512(_mm512_srli_epi64::<24>(t1), _mm512_set1_epi64(1 << 40)),
    ]
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn poly1305_ifma(powers: &[[u64; 3]; 8], groups: &[u8]) -> [u64; 3] {
    let r8 = multiplier([powers[7]; 8]);
    let mut chunks = groups.chunks_exact(128);
    let mut h = load_group(chunks.next().expect("at least one group"));
    for group in chunks {
        let m = load_group(group);
        let p = mul(h, &r8);
        h = [
            _mm512_add_epi64(p[0], m[0]),
            _mm512_add_epi64(p[1], m[1]),
            _mm512_add_epi64(p[2], m[2]),
        ];
    }
    // Lane j times r^(8 - j).
    let last = multiplier([
        powers[7], powers[6], powers[5], powers[4], powers[3], powers[2], powers[1], powers[0],
    ]);
    let h = mul(h, &last);
    [
        _mm512_reduce_add_epi64(h[0]) as u64,
        _mm512_reduce_add_epi64(h[1]) as u64,
        _mm512_reduce_add_epi64(h[2]) as u64,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portable;

    /// Batches and tails against the portable stream, from a counter whose low word wraps inside
    /// a batch.
    #[test]
    fn matches_portable_across_the_counter_carry() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        let st = portable::state(&[0x33; 32], &[0x44; 8]);
        for counter in [0u64, 1, 0xffff_fff7] {
            for len in (0..=3 * BATCH + 1).step_by(13) {
                let mut a: Vec<u8> = (0..len).map(|i| (i * 5) as u8).collect();
                let mut b = a.clone();
                xor_blocks(&st, counter, &mut a);
                portable::xor_blocks(&st, counter, &mut b);
                assert!(a == b, "counter {counter:#x}, {len} octets");
            }
        }
    }
}
