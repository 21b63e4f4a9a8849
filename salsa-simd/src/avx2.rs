//! Salsa20/20 keystream, eight blocks at a time with AVX2.
//!
//! Layout: sixteen 256-bit registers, register `i` holding state word `i` of eight consecutive
//! blocks (lane `j` is counter `c + j`). A quarter-round is then eight quarter-rounds at once, and
//! rotations are a left shift, a right shift and an OR (Salsa20 rotates by 7, 9, 13 and 18: none
//! is a whole number of octets, so no byte shuffle helps). After the rounds two 8×8 transposes
//! (words 0–7 and 8–15) turn registers into blocks, which are XORed into the buffer with
//! unaligned loads and stores.

#![allow(unsafe_code)]

use std::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_loadu_si256, _mm256_or_si256, _mm256_permute2x128_si256,
    _mm256_set1_epi32, _mm256_setr_epi32, _mm256_slli_epi32, _mm256_srli_epi32,
    _mm256_storeu_si256, _mm256_unpackhi_epi32, _mm256_unpackhi_epi64, _mm256_unpacklo_epi32,
    _mm256_unpacklo_epi64, _mm256_xor_si256,
};
use std::arch::x86_64::{_mm256_blend_epi32, _mm256_shuffle_epi32};

use zeroize::Zeroize;

use crate::portable::{self, BLOCK};

macro_rules! rotl {
    ($v:expr, $n:literal) => {{
        let v = $v;
        _mm256_or_si256(
            _mm256_slli_epi32::<$n>(v),
            _mm256_srli_epi32::<{ 32 - $n }>(v),
        )
    }};
}

macro_rules! quarter_round {
    ($x:ident, $a:literal, $b:literal, $c:literal, $d:literal) => {
        $x[$b] = _mm256_xor_si256($x[$b], rotl!(_mm256_add_epi32($x[$a], $x[$d]), 7));
        $x[$c] = _mm256_xor_si256($x[$c], rotl!(_mm256_add_epi32($x[$b], $x[$a]), 9));
        $x[$d] = _mm256_xor_si256($x[$d], rotl!(_mm256_add_epi32($x[$c], $x[$b]), 13));
        $x[$a] = _mm256_xor_si256($x[$a], rotl!(_mm256_add_epi32($x[$d], $x[$c]), 18));
    };
}

/// Octets of keystream one batch yields.
pub(crate) const BATCH: usize = 8 * BLOCK;

/// A tail longer than this goes through one more batch rather than block by block.
const PORTABLE_TAIL_MAX: usize = 2 * BLOCK;

/// XORs `buf` with the keystream of `state` from block `counter` on (`buf` starts at a block
/// boundary). Falls back to the portable code on a CPU without AVX2.
pub(crate) fn xor_blocks(state: &[u32; 16], counter: u64, buf: &mut [u8]) {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return portable::xor_blocks(state, counter, buf);
    }
    // SAFETY: AVX2 was detected on this CPU just above, which is all `xor_blocks_avx2` requires
    // beyond its safe signature.
    unsafe { xor_blocks_avx2(state, counter, buf) }
}

/// Blocks 0 to 7 of `state` XORed into `out` (zeros on entry: the keystream itself), if this CPU
/// has AVX2; `false`, with `out` untouched, if not.
pub(crate) fn prefix(state: &[u32; 16], out: &mut [u8; BATCH]) -> bool {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return false;
    }
    // SAFETY: AVX2 was detected on this CPU just above, which is all `xor_batch` requires beyond
    // its safe signature.
    unsafe { xor_batch(state, 0, out) };
    true
}

/// Blocks `counter` and `counter + 1` of `state` into `out`, for a short message, if this CPU
/// has AVX2 (`false`, `out` untouched, if not).
///
/// A single Salsa20 block is bound by the latency of its add-rotate-XOR chains, not by
/// throughput, so this computes two blocks in the time of one: each 128-bit half of four
/// registers holds one block in the diagonal arrangement (`a` = words 0, 5, 10, 15; `b` = 4, 9,
/// 14, 3; `c` = 8, 13, 2, 7; `d` = 12, 1, 6, 11), where a column round is one vector
/// quarter-round and a row round is one more after rotating the words of `b`, `c` and `d`.
pub(crate) fn two_blocks(state: &[u32; 16], counter: u64, out: &mut [u8; 2 * BLOCK]) -> bool {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return false;
    }
    // SAFETY: AVX2 was detected on this CPU just above, which is all `two_blocks_avx2` requires
    // beyond its safe signature.
    unsafe { two_blocks_avx2(state, counter, out) };
    true
}

#[target_feature(enable = "avx2")]
fn two_blocks_avx2(state: &[u32; 16], counter: u64, out: &mut [u8; 2 * BLOCK]) {
    let mut x0 = *state;
    x0[8] = counter as u32;
    x0[9] = (counter >> 32) as u32;
    let mut x1 = x0;
    let next = counter.wrapping_add(1);
    x1[8] = next as u32;
    x1[9] = (next >> 32) as u32;
    let diag = |i: [usize; 4]| {
        let w = |x: &[u32; 16], k: usize| x[i[k]] as i32;
        _mm256_setr_epi32(
            w(&x0, 0),
            w(&x0, 1),
            w(&x0, 2),
            w(&x0, 3),
            w(&x1, 0),
            w(&x1, 1),
            w(&x1, 2),
            w(&x1, 3),
        )
    };
    let input = [
        diag([0, 5, 10, 15]),
        diag([4, 9, 14, 3]),
        diag([8, 13, 2, 7]),
        diag([12, 1, 6, 11]),
    ];
    x0.zeroize();
    x1.zeroize();
    let [mut a, mut b, mut c, mut d] = input;
    for _ in 0..10 {
        // Column round.
        b = _mm256_xor_si256(b, rotl!(_mm256_add_epi32(a, d), 7));
        c = _mm256_xor_si256(c, rotl!(_mm256_add_epi32(b, a), 9));
        d = _mm256_xor_si256(d, rotl!(_mm256_add_epi32(c, b), 13));
        a = _mm256_xor_si256(a, rotl!(_mm256_add_epi32(d, c), 18));
        // Row round: (1, 6, 11, 12) from d, (2, 7, 8, 13) from c, (3, 4, 9, 14) from b.
        let mut rb = _mm256_shuffle_epi32::<0x39>(d);
        let mut rc = _mm256_shuffle_epi32::<0x4e>(c);
        let mut rd = _mm256_shuffle_epi32::<0x93>(b);
        rb = _mm256_xor_si256(rb, rotl!(_mm256_add_epi32(a, rd), 7));
        rc = _mm256_xor_si256(rc, rotl!(_mm256_add_epi32(rb, a), 9));
        rd = _mm256_xor_si256(rd, rotl!(_mm256_add_epi32(rc, rb), 13));
        a = _mm256_xor_si256(a, rotl!(_mm256_add_epi32(rd, rc), 18));
        b = _mm256_shuffle_epi32::<0x39>(rd);
        c = _mm256_shuffle_epi32::<0x4e>(rc);
        d = _mm256_shuffle_epi32::<0x93>(rb);
    }
    let v = [
        _mm256_add_epi32(a, input[0]),
        _mm256_add_epi32(b, input[1]),
        _mm256_add_epi32(c, input[2]),
        _mm256_add_epi32(d, input[3]),
    ];
    // Row r's word i is word i of v[(r - i) mod 4]: three blends per row.
    let row = |r: usize| {
        let t = _mm256_blend_epi32::<0x22>(v[r], v[(r + 3) % 4]);
        let u = _mm256_blend_epi32::<0x88>(v[(r + 2) % 4], v[(r + 1) % 4]);
        _mm256_blend_epi32::<0xcc>(t, u)
    };
    let rows = [row(0), row(1), row(2), row(3)];
    let halves = [
        _mm256_permute2x128_si256::<0x20>(rows[0], rows[1]),
        _mm256_permute2x128_si256::<0x20>(rows[2], rows[3]),
        _mm256_permute2x128_si256::<0x31>(rows[0], rows[1]),
        _mm256_permute2x128_si256::<0x31>(rows[2], rows[3]),
    ];
    for (chunk, h) in out.chunks_exact_mut(32).zip(halves) {
        let p = chunk.as_mut_ptr().cast::<__m256i>();
        // SAFETY: `chunk` is 32 in-bounds octets of `out`, borrowed mutably; `storeu` accepts
        // any alignment. AVX2 is enabled on this function and detected by its only caller.
        unsafe { _mm256_storeu_si256(p, h) }
    }
}

/// A batch of keystream on the stack, aligned for whole-register stores, wiped on drop.
#[repr(C, align(32))]
pub(crate) struct Scratch(pub(crate) [u8; BATCH]);

impl Drop for Scratch {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// Wipes a batch-sized keystream buffer, with sixteen volatile 32-octet stores when AVX2 is there
/// and the buffer is 32-aligned (the `zeroize` crate's byte-by-byte volatile writes cost about as
/// much as computing the batch).
pub(crate) fn wipe(buf: &mut [u8; BATCH]) {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return buf.zeroize();
    }
    // SAFETY: AVX2 was detected on this CPU just above, which is all `wipe_avx2` requires beyond
    // its safe signature.
    unsafe { wipe_avx2(buf) }
}

#[target_feature(enable = "avx2")]
fn wipe_avx2(buf: &mut [u8; BATCH]) {
    if buf.as_ptr().align_offset(32) != 0 {
        return buf.zeroize();
    }
    let p = buf.as_mut_ptr().cast::<__m256i>();
    for i in 0..BATCH / 32 {
        // SAFETY: `buf` is borrowed mutably and is BATCH octets long, so `p.add(i)` for
        // i < BATCH / 32 is in bounds, and it is 32-aligned (checked above), as a volatile
        // `__m256i` write needs; any bit pattern is a valid `u8`.
        unsafe { std::ptr::write_volatile(p.add(i), _mm256_set1_epi32(0)) }
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

#[target_feature(enable = "avx2")]
fn xor_blocks_avx2(state: &[u32; 16], mut counter: u64, buf: &mut [u8]) {
    let mut chunks = buf.chunks_exact_mut(BATCH);
    for chunk in &mut chunks {
        xor_batch(state, counter, chunk);
        counter = counter.wrapping_add(8);
    }
    let tail = chunks.into_remainder();
    if tail.len() <= PORTABLE_TAIL_MAX {
        portable::xor_blocks(state, counter, tail);
    } else {
        let mut scratch = Scratch([0u8; BATCH]);
        scratch.0[..tail.len()].copy_from_slice(tail);
        xor_batch(state, counter, &mut scratch.0);
        tail.copy_from_slice(&scratch.0[..tail.len()]);
    }
}

/// XORs the 512 octets of `chunk` with blocks `counter..counter + 8`.
#[target_feature(enable = "avx2")]
fn xor_batch(state: &[u32; 16], counter: u64, chunk: &mut [u8]) {
    assert_eq!(chunk.len(), BATCH);
    let mut input = [_mm256_set1_epi32(0); 16];
    for (v, &w) in input.iter_mut().zip(state.iter()) {
        *v = _mm256_set1_epi32(w as i32);
    }
    let mut lo = [0i32; 8];
    let mut hi = [0i32; 8];
    for (j, (l, h)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
        let c = counter.wrapping_add(j as u64);
        *l = c as u32 as i32;
        *h = (c >> 32) as u32 as i32;
    }
    input[8] = _mm256_setr_epi32(lo[0], lo[1], lo[2], lo[3], lo[4], lo[5], lo[6], lo[7]);
    input[9] = _mm256_setr_epi32(hi[0], hi[1], hi[2], hi[3], hi[4], hi[5], hi[6], hi[7]);

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
        *v = _mm256_add_epi32(*v, *i);
    }

    let low = transpose([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
    let high = transpose([x[8], x[9], x[10], x[11], x[12], x[13], x[14], x[15]]);
    for (j, block) in chunk.chunks_exact_mut(BLOCK).enumerate() {
        let (first, second) = block.split_at_mut(32);
        xor_into(first, low[j]);
        xor_into(second, high[j]);
    }
}

/// `out` ^= `ks` for a 32-octet `out`.
#[target_feature(enable = "avx2")]
fn xor_into(out: &mut [u8], ks: __m256i) {
    assert_eq!(out.len(), 32);
    let p = out.as_mut_ptr().cast::<__m256i>();
    // SAFETY: `out` is 32 in-bounds octets (checked above) and borrowed mutably, so reading and
    // then writing 32 octets at `p` stays inside it; `loadu`/`storeu` accept any alignment. AVX2
    // is enabled on this function, and its callers only run after detecting it.
    unsafe { _mm256_storeu_si256(p, _mm256_xor_si256(_mm256_loadu_si256(p), ks)) }
}

/// Transposes an 8×8 matrix of 32-bit words: row `j` of the result holds word `j` of every
/// input register, that is the eight consecutive state words of block `j`.
#[target_feature(enable = "avx2")]
fn transpose(a: [__m256i; 8]) -> [__m256i; 8] {
    // Within each 128-bit half: pairs of rows interleaved by word, then by double word.
    let t0 = _mm256_unpacklo_epi32(a[0], a[1]);
    let t1 = _mm256_unpackhi_epi32(a[0], a[1]);
    let t2 = _mm256_unpacklo_epi32(a[2], a[3]);
    let t3 = _mm256_unpackhi_epi32(a[2], a[3]);
    let t4 = _mm256_unpacklo_epi32(a[4], a[5]);
    let t5 = _mm256_unpackhi_epi32(a[4], a[5]);
    let t6 = _mm256_unpacklo_epi32(a[6], a[7]);
    let t7 = _mm256_unpackhi_epi32(a[6], a[7]);
    // u0 holds words (0 | 4) of rows 0..4, u1 words (1 | 5), u2 (2 | 6), u3 (3 | 7); u4..u7 the
    // same of rows 4..8.
    let u0 = _mm256_unpacklo_epi64(t0, t2);
    let u1 = _mm256_unpackhi_epi64(t0, t2);
    let u2 = _mm256_unpacklo_epi64(t1, t3);
    let u3 = _mm256_unpackhi_epi64(t1, t3);
    let u4 = _mm256_unpacklo_epi64(t4, t6);
    let u5 = _mm256_unpackhi_epi64(t4, t6);
    let u6 = _mm256_unpacklo_epi64(t5, t7);
    let u7 = _mm256_unpackhi_epi64(t5, t7);
    // Join the halves: low halves give words 0..4, high halves words 4..8.
    [
        _mm256_permute2x128_si256::<0x20>(u0, u4),
        _mm256_permute2x128_si256::<0x20>(u1, u5),
        _mm256_permute2x128_si256::<0x20>(u2, u6),
        _mm256_permute2x128_si256::<0x20>(u3, u7),
        _mm256_permute2x128_si256::<0x31>(u0, u4),
        _mm256_permute2x128_si256::<0x31>(u1, u5),
        _mm256_permute2x128_si256::<0x31>(u2, u6),
        _mm256_permute2x128_si256::<0x31>(u3, u7),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches and tails of every length up to three batches, against the portable stream, from
    /// a counter whose low word wraps inside a batch.
    #[test]
    fn matches_portable_across_the_counter_carry() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let st = portable::state(&[0x11; 32], &[0x22; 8]);
        for counter in [0u64, 1, 0xffff_fffd] {
            for len in (0..=3 * BATCH + 1).step_by(7) {
                let mut a: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mut b = a.clone();
                xor_blocks(&st, counter, &mut a);
                portable::xor_blocks(&st, counter, &mut b);
                assert!(a == b, "counter {counter:#x}, {len} octets");
            }
        }
    }

    #[test]
    fn wipe_clears_aligned_and_unaligned_buffers() {
        let mut aligned = Scratch([0xa5; BATCH]);
        wipe(&mut aligned.0);
        assert!(aligned.0.iter().all(|&b| b == 0));
        let mut storage = vec![0x5au8; BATCH + 1];
        let unaligned: &mut [u8; BATCH] = (&mut storage[1..]).try_into().unwrap();
        wipe(unaligned);
        assert!(storage[1..].iter().all(|&b| b == 0));
    }

    #[test]
    fn two_blocks_match_portable() {
        let st = portable::state(&[0x77; 32], &[0x88; 8]);
        for counter in [0u64, 5, 0xffff_ffff] {
            let mut out = [0u8; 2 * BLOCK];
            if !two_blocks(&st, counter, &mut out) {
                return;
            }
            let mut expected = [0u8; 2 * BLOCK];
            portable::xor_blocks(&st, counter, &mut expected);
            assert_eq!(out, expected, "counter {counter:#x}");
        }
    }
}
