//! Salsa20/20 and HSalsa20 on `u32` words, one block at a time. Every operation is an addition,
//! XOR or fixed rotation on words whose positions are fixed: no branch and no memory index depends
//! on the key, nonce or data, so the time taken depends only on the length.
//!
//! This is also the reference the SIMD backends are tested against, and the code that handles
//! block 0 (the Poly1305 key) and short tails for them.

use zeroize::Zeroize;

/// "expand 32-byte k", the four constant words of a Salsa20 state with a 256-bit key.
pub(crate) const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// Octets in one Salsa20 block.
pub(crate) const BLOCK: usize = 64;

/// The Salsa20 quarter-round on four words of `x` (the specification's `quarterround`).
#[inline(always)]
fn quarter_round(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[b] ^= x[a].wrapping_add(x[d]).rotate_left(7);
    x[c] ^= x[b].wrapping_add(x[a]).rotate_left(9);
    x[d] ^= x[c].wrapping_add(x[b]).rotate_left(13);
    x[a] ^= x[d].wrapping_add(x[c]).rotate_left(18);
}

/// Ten double rounds (a column round then a row round each): the twenty rounds of Salsa20/20.
#[inline(always)]
pub(crate) fn rounds(x: &mut [u32; 16]) {
    for _ in 0..10 {
        quarter_round(x, 0, 4, 8, 12);
        quarter_round(x, 5, 9, 13, 1);
        quarter_round(x, 10, 14, 2, 6);
        quarter_round(x, 15, 3, 7, 11);
        quarter_round(x, 0, 1, 2, 3);
        quarter_round(x, 5, 6, 7, 4);
        quarter_round(x, 10, 11, 8, 9);
        quarter_round(x, 15, 12, 13, 14);
    }
}

fn le_words<const N: usize>(bytes: &[u8]) -> [u32; N] {
    let mut words = [0u32; N];
    for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    words
}

/// The Salsa20 input words for a 256-bit `key`, eight octets of `nonce` and block counter 0
/// (words 8 and 9 hold the 64-bit counter, low word first).
pub(crate) fn state(key: &[u8; 32], nonce: &[u8; 8]) -> [u32; 16] {
    let k: [u32; 8] = le_words(key);
    let n: [u32; 2] = le_words(nonce);
    [
        SIGMA[0], k[0], k[1], k[2], k[3], SIGMA[1], n[0], n[1], 0, 0, SIGMA[2], k[4], k[5], k[6],
        k[7], SIGMA[3],
    ]
}

/// The Salsa20 hash ("core") of 64 octets: twenty rounds, then the input added word by word.
pub fn salsa20_core(input: &[u8; 64]) -> [u8; 64] {
    let words: [u32; 16] = le_words(input);
    let mut out = [0u8; 64];
    block_words(&words, &mut out);
    out
}

/// Salsa20 of the words `input` (the counter already in words 8 and 9), as 64 octets in `out`.
#[inline(always)]
fn block_words(input: &[u32; 16], out: &mut [u8; 64]) {
    let mut x = *input;
    rounds(&mut x);
    for ((o, xi), ii) in out.chunks_exact_mut(4).zip(x.iter()).zip(input.iter()) {
        o.copy_from_slice(&xi.wrapping_add(*ii).to_le_bytes());
    }
    x.zeroize();
}

/// The keystream block `counter` of `state`.
pub(crate) fn block(state: &[u32; 16], counter: u64, out: &mut [u8; 64]) {
    let mut input = *state;
    input[8] = counter as u32;
    input[9] = (counter >> 32) as u32;
    block_words(&input, out);
    input.zeroize();
}

/// XORs `buf` with the keystream of `state` from block `counter` on (`buf` starts at a block
/// boundary; its last block may be partial).
pub(crate) fn xor_blocks(state: &[u32; 16], mut counter: u64, buf: &mut [u8]) {
    let mut ks = [0u8; 64];
    for chunk in buf.chunks_mut(BLOCK) {
        block(state, counter, &mut ks);
        for (b, k) in chunk.iter_mut().zip(ks.iter()) {
            *b ^= k;
        }
        counter = counter.wrapping_add(1);
    }
    ks.zeroize();
}

/// HSalsa20: the Salsa20 rounds over `key` and a 16-octet `nonce` (in words 6 to 9), without the
/// final addition, keeping words 0, 5, 10, 15, 6, 7, 8, 9. XSalsa20 derives its subkey with it
/// and NaCl's `crypto_box_beforenm` its box key (with a zero nonce).
pub fn hsalsa20(key: &[u8; 32], nonce: &[u8; 16]) -> [u8; 32] {
    let k: [u32; 8] = le_words(key);
    let n: [u32; 4] = le_words(nonce);
    let mut x = [
        SIGMA[0], k[0], k[1], k[2], k[3], SIGMA[1], n[0], n[1], n[2], n[3], SIGMA[2], k[4], k[5],
        k[6], k[7], SIGMA[3],
    ];
    rounds(&mut x);
    let mut out = [0u8; 32];
    for (o, i) in out.chunks_exact_mut(4).zip([0, 5, 10, 15, 6, 7, 8, 9]) {
        o.copy_from_slice(&x[i].to_le_bytes());
    }
    x.zeroize();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qr(y: [u32; 4]) -> [u32; 4] {
        let mut x = [0u32; 16];
        x[..4].copy_from_slice(&y);
        quarter_round(&mut x, 0, 1, 2, 3);
        [x[0], x[1], x[2], x[3]]
    }

    /// The quarterround examples of the Salsa20 specification (section 3).
    #[test]
    fn quarter_round_matches_the_specification() {
        assert_eq!(qr([0, 0, 0, 0]), [0, 0, 0, 0]);
        assert_eq!(
            qr([1, 0, 0, 0]),
            [0x0800_8145, 0x0000_0080, 0x0001_0200, 0x2050_0000]
        );
        assert_eq!(
            qr([0, 1, 0, 0]),
            [0x8800_0100, 0x0000_0001, 0x0000_0200, 0x0040_2000]
        );
        assert_eq!(
            qr([0xe7e8_c006, 0xc4f9_417d, 0x6479_b4b2, 0x68c6_7137]),
            [0xe876_d72b, 0x9361_dfd5, 0xf146_0244, 0x9485_41a3]
        );
        assert_eq!(
            qr([0xd391_7c5b, 0x55f1_c407, 0x52a5_8a7a, 0x8f88_7a3b]),
            [0x3e2f_308c, 0xd90a_8f36, 0x6ab2_a923, 0x2883_524c]
        );
    }

    /// The Salsa20 hash examples of the specification (section 8).
    #[test]
    fn core_matches_the_specification() {
        assert_eq!(salsa20_core(&[0u8; 64]), [0u8; 64]);
        let input: [u8; 64] = [
            211, 159, 13, 115, 76, 55, 82, 183, 3, 117, 222, 37, 191, 187, 234, 136, 49, 237, 179,
            48, 1, 106, 178, 219, 175, 199, 166, 48, 86, 16, 179, 207, 31, 240, 32, 63, 15, 83, 93,
            161, 116, 147, 48, 113, 238, 55, 204, 36, 79, 201, 235, 79, 3, 81, 156, 47, 203, 26,
            244, 243, 88, 118, 104, 54,
        ];
        let output: [u8; 64] = [
            109, 42, 178, 168, 156, 240, 248, 238, 168, 196, 190, 203, 26, 110, 170, 154, 29, 29,
            150, 26, 150, 30, 235, 249, 190, 163, 251, 48, 69, 144, 51, 57, 118, 40, 152, 157, 180,
            57, 27, 94, 107, 42, 236, 35, 27, 111, 114, 114, 219, 236, 232, 135, 111, 155, 110, 18,
            24, 232, 95, 158, 179, 19, 48, 202,
        ];
        assert_eq!(salsa20_core(&input), output);
        let input: [u8; 64] = [
            88, 118, 104, 54, 79, 201, 235, 79, 3, 81, 156, 47, 203, 26, 244, 243, 191, 187, 234,
            136, 211, 159, 13, 115, 76, 55, 82, 183, 3, 117, 222, 37, 86, 16, 179, 207, 49, 237,
            179, 48, 1, 106, 178, 219, 175, 199, 166, 48, 238, 55, 204, 36, 31, 240, 32, 63, 15,
            83, 93, 161, 116, 147, 48, 113,
        ];
        let output: [u8; 64] = [
            179, 19, 48, 202, 219, 236, 232, 135, 111, 155, 110, 18, 24, 232, 95, 158, 26, 110,
            170, 154, 109, 42, 178, 168, 156, 240, 248, 238, 168, 196, 190, 203, 69, 144, 51, 57,
            29, 29, 150, 26, 150, 30, 235, 249, 190, 163, 251, 48, 27, 111, 114, 114, 118, 40, 152,
            157, 180, 57, 27, 94, 107, 42, 236, 35,
        ];
        assert_eq!(salsa20_core(&input), output);
    }

    #[test]
    fn counter_spans_both_words() {
        let st = state(&[7u8; 32], &[9u8; 8]);
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        block(&st, 0x1_0000_0002, &mut a);
        let mut words = st;
        words[8] = 2;
        words[9] = 1;
        block_words(&words, &mut b);
        assert_eq!(a, b);
    }
}
