//! The data messages on the wire (`rfcs/group-keys.md` §2), sans-IO.
//!
//! A group message is two or more ZMTP frames: the topic in the clear (so that SUB sockets
//! filter on it as usual) and an envelope.
//!
//! ```text
//! envelope, sealed (kind 1) or sealed and signed (kind 2):
//!   0       version = 1
//!   1       kind
//!   2..18   group id
//!   18..26  epoch, u64 big-endian
//!   26..34  sender id, u64 big-endian
//!   34..42  counter, u64 big-endian
//!   kind 2: 42..74  the publisher's Ed25519 verifying key
//!   then    XChaCha20-Poly1305 ciphertext of the body, with its 16-octet tag
//!   kind 2: the last 64 octets, an Ed25519 signature
//! envelope, clear (kind 0): the two octets [1, 0]; the parts follow as frames of their own.
//! ```
//!
//! The AEAD nonce is sender id ‖ epoch ‖ counter; its associated data is the topic's length
//! (u32 big-endian), the topic, and every envelope octet before the ciphertext. The body is the
//! application's parts: a u32 count, then each part as a u32 length and its octets. A signature
//! covers `SIGNATURE_CONTEXT`, the topic's length, the topic and the envelope up to the
//! signature.

use bytes::{BufMut, Bytes, BytesMut};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use zeroize::Zeroizing;

use crate::error::{OpenError, SealError};

/// The wire format's version octet.
pub const VERSION: u8 = 1;
/// Octets of a sealed envelope's fixed header.
pub const HEADER_LEN: usize = 42;
/// Octets of the AEAD tag.
pub const TAG_LEN: usize = 16;
/// Octets of a verifying key in a signed envelope.
pub const SIGNER_LEN: usize = 32;
/// Octets of a signature.
pub const SIGNATURE_LEN: usize = 64;
/// What a signature's message starts with, so that no other protocol's signature verifies.
pub const SIGNATURE_CONTEXT: &[u8] = b"zmtp-group/1 publisher signature\0";

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// In the clear (the application chose not to seal it).
    Clear = 0,
    /// Sealed with the epoch key.
    Sealed = 1,
    /// Sealed with the epoch key and signed by the publisher.
    Signed = 2,
}

impl Kind {
    fn from_octet(octet: u8) -> Result<Kind, OpenError> {
        match octet {
            0 => Ok(Kind::Clear),
            1 => Ok(Kind::Sealed),
            2 => Ok(Kind::Signed),
            other => Err(OpenError::UnknownKind(other)),
        }
    }
}

/// A group's identifier: 16 octets, random when the group is created.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub [u8; 16]);

impl std::fmt::Debug for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GroupId(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// One epoch's key of a group. The key octets are wiped when it is dropped.
#[derive(Clone)]
pub struct EpochKey {
    /// The group.
    pub group: GroupId,
    /// The epoch: 1 for the first key, one more at each rotation.
    pub epoch: u64,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochKey")
            .field("group", &self.group)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl EpochKey {
    /// A key from its octets.
    pub fn new(group: GroupId, epoch: u64, key: [u8; 32]) -> EpochKey {
        EpochKey {
            group,
            epoch,
            key: Zeroizing::new(key),
        }
    }

    /// A fresh random key.
    pub fn generate(group: GroupId, epoch: u64) -> EpochKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut key[..]);
        EpochKey { group, epoch, key }
    }

    /// The key octets (for boxing it to a member).
    pub fn expose(&self) -> &[u8; 32] {
        &self.key
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.key).into())
    }
}

/// The fixed header of a sealed envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Sealed, or sealed and signed.
    pub kind: Kind,
    /// The group.
    pub group: GroupId,
    /// The epoch whose key sealed it.
    pub epoch: u64,
    /// The sending publisher's id (random per publisher instance).
    pub sender: u64,
    /// The sender's counter in this epoch.
    pub counter: u64,
}

impl Header {
    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(VERSION);
        out.put_u8(self.kind as u8);
        out.put_slice(&self.group.0);
        out.put_u64(self.epoch);
        out.put_u64(self.sender);
        out.put_u64(self.counter);
    }

    fn nonce(&self) -> XNonce {
        let mut nonce = [0u8; 24];
        nonce[..8].copy_from_slice(&self.sender.to_be_bytes());
        nonce[8..16].copy_from_slice(&self.epoch.to_be_bytes());
        nonce[16..].copy_from_slice(&self.counter.to_be_bytes());
        nonce.into()
    }
}

/// Limits on what an opened body may hold, checked before anything is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most parts in one message.
    pub max_parts: usize,
    /// Most octets in one envelope or clear message.
    pub max_size: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_parts: 1024,
            max_size: 64 << 20,
        }
    }
}

fn aad(topic: &[u8], envelope_head: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(4 + topic.len() + envelope_head.len());
    aad.extend_from_slice(&(topic.len() as u32).to_be_bytes());
    aad.extend_from_slice(topic);
    aad.extend_from_slice(envelope_head);
    aad
}

fn signed_message(topic: &[u8], envelope_unsigned: &[u8]) -> Vec<u8> {
    let mut m =
        Vec::with_capacity(SIGNATURE_CONTEXT.len() + 4 + topic.len() + envelope_unsigned.len());
    m.extend_from_slice(SIGNATURE_CONTEXT);
    m.extend_from_slice(&(topic.len() as u32).to_be_bytes());
    m.extend_from_slice(topic);
    m.extend_from_slice(envelope_unsigned);
    m
}

/// Seals `parts` under `key` as message `counter` of `sender`, signed by `signer` if given.
/// Returns the frames to publish: `[topic, envelope]`.
pub fn seal(
    key: &EpochKey,
    sender: u64,
    counter: u64,
    signer: Option<&SigningKey>,
    topic: &[u8],
    parts: &[Bytes],
    limits: &Limits,
) -> Result<[Bytes; 2], SealError> {
    if parts.len() > limits.max_parts {
        return Err(SealError::TooManyParts {
            parts: parts.len(),
            max: limits.max_parts,
        });
    }
    if topic.len() > u32::MAX as usize {
        return Err(SealError::TooLarge {
            size: topic.len(),
            max: u32::MAX as usize,
        });
    }
    let body_len = 4 + parts.iter().map(|p| 4 + p.len()).sum::<usize>();
    let head_len = HEADER_LEN + if signer.is_some() { SIGNER_LEN } else { 0 };
    let total = head_len + body_len + TAG_LEN + if signer.is_some() { SIGNATURE_LEN } else { 0 };
    if total > limits.max_size || parts.iter().any(|p| p.len() > u32::MAX as usize) {
        return Err(SealError::TooLarge {
            size: total,
            max: limits.max_size,
        });
    }
    let header = Header {
        kind: if signer.is_some() {
            Kind::Signed
        } else {
            Kind::Sealed
        },
        group: key.group,
        epoch: key.epoch,
        sender,
        counter,
    };
    let mut out = BytesMut::with_capacity(total);
    header.encode(&mut out);
    if let Some(signer) = signer {
        out.put_slice(signer.verifying_key().as_bytes());
    }
    out.put_u32(parts.len() as u32);
    for part in parts {
        out.put_u32(part.len() as u32);
        out.put_slice(part);
    }
    let aad = aad(topic, &out[..head_len]);
    let tag = key
        .cipher()
        .encrypt_in_place_detached(&header.nonce(), &aad, &mut out[head_len..])
        .map_err(|_| SealError::Cipher)?;
    out.put_slice(&tag);
    if let Some(signer) = signer {
        let signature = signer.sign(&signed_message(topic, &out));
        out.put_slice(&signature.to_bytes());
    }
    Ok([Bytes::copy_from_slice(topic), out.freeze()])
}

/// A message sent in the clear: `[topic, [1, 0], parts...]`.
pub fn clear(topic: &[u8], parts: &[Bytes]) -> Vec<Bytes> {
    let mut frames = Vec::with_capacity(parts.len() + 2);
    frames.push(Bytes::copy_from_slice(topic));
    frames.push(Bytes::from_static(&[VERSION, Kind::Clear as u8]));
    frames.extend(parts.iter().cloned());
    frames
}

/// What a received message is, before any key is used.
// A parse result lives on the stack for one call; boxing the verifying key would cost an
// allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Parsed<'a> {
    /// Sent in the clear.
    Clear {
        /// The topic frame.
        topic: &'a Bytes,
        /// The parts, as sent.
        parts: &'a [Bytes],
    },
    /// Sealed: look the key up by `header.group` and `header.epoch`, then [`open`].
    Sealed {
        /// The clear header.
        header: Header,
        /// The publisher's verifying key, for kind 2.
        signer: Option<VerifyingKey>,
    },
}

/// Reads a received message's frames far enough to know its kind and, if sealed, its header.
pub fn parse<'a>(frames: &'a [Bytes], limits: &Limits) -> Result<Parsed<'a>, OpenError> {
    let [topic, envelope, rest @ ..] = frames else {
        return Err(OpenError::Truncated("fewer than two frames"));
    };
    let size = frames.iter().map(Bytes::len).sum::<usize>();
    if size > limits.max_size {
        return Err(OpenError::TooLarge {
            size,
            max: limits.max_size,
        });
    }
    match envelope.first() {
        None => return Err(OpenError::Truncated("empty envelope")),
        Some(&VERSION) => {}
        Some(&other) => return Err(OpenError::UnknownVersion(other)),
    }
    let kind = Kind::from_octet(
        *envelope
            .get(1)
            .ok_or(OpenError::Truncated("no kind octet"))?,
    )?;
    if kind == Kind::Clear {
        if envelope.len() != 2 {
            return Err(OpenError::Truncated("a clear envelope is two octets"));
        }
        if rest.len() > limits.max_parts {
            return Err(OpenError::TooManyParts {
                parts: rest.len(),
                max: limits.max_parts,
            });
        }
        return Ok(Parsed::Clear { topic, parts: rest });
    }
    if !rest.is_empty() {
        return Err(OpenError::Truncated("a sealed message is two frames"));
    }
    let head_len = HEADER_LEN + if kind == Kind::Signed { SIGNER_LEN } else { 0 };
    let min = head_len
        + 4
        + TAG_LEN
        + if kind == Kind::Signed {
            SIGNATURE_LEN
        } else {
            0
        };
    if envelope.len() < min {
        return Err(OpenError::Truncated(
            "envelope shorter than its header, body and tag",
        ));
    }
    let u64_at = |at: usize| u64::from_be_bytes(envelope[at..at + 8].try_into().expect("8 octets"));
    let header = Header {
        kind,
        group: GroupId(envelope[2..18].try_into().expect("16 octets")),
        epoch: u64_at(18),
        sender: u64_at(26),
        counter: u64_at(34),
    };
    let signer = if kind == Kind::Signed {
        let key: [u8; 32] = envelope[HEADER_LEN..head_len]
            .try_into()
            .expect("32 octets");
        Some(VerifyingKey::from_bytes(&key).map_err(|_| OpenError::BadSignature)?)
    } else {
        None
    };
    Ok(Parsed::Sealed { header, signer })
}

/// Opens a sealed message whose [`parse`]d header named `key`'s group and epoch: checks the
/// tag, then the signature (if the envelope is signed), and returns the parts. The caller checks
/// replay and whether the signer is trusted.
pub fn open(key: &EpochKey, frames: &[Bytes], limits: &Limits) -> Result<Vec<Bytes>, OpenError> {
    let Parsed::Sealed { header, signer } = parse(frames, limits)? else {
        return Err(OpenError::Truncated("not a sealed message"));
    };
    if header.group != key.group || header.epoch != key.epoch {
        return Err(OpenError::UnknownEpoch {
            epoch: header.epoch,
        });
    }
    let topic = &frames[0];
    let envelope = &frames[1];
    let head_len = HEADER_LEN + if signer.is_some() { SIGNER_LEN } else { 0 };
    let sealed_end = envelope.len() - if signer.is_some() { SIGNATURE_LEN } else { 0 };
    let tag_at = sealed_end - TAG_LEN;
    let mut body = Zeroizing::new(envelope[head_len..tag_at].to_vec());
    let tag = Tag::from_slice(&envelope[tag_at..sealed_end]);
    key.cipher()
        .decrypt_in_place_detached(
            &header.nonce(),
            &aad(topic, &envelope[..head_len]),
            &mut body,
            tag,
        )
        .map_err(|_| OpenError::Forged)?;
    if let Some(signer) = signer {
        let signature: [u8; 64] = envelope[sealed_end..].try_into().expect("64 octets");
        signer
            .verify(
                &signed_message(topic, &envelope[..sealed_end]),
                &Signature::from_bytes(&signature),
            )
            .map_err(|_| OpenError::BadSignature)?;
    }
    decode_body(&body, limits)
}

fn decode_body(body: &[u8], limits: &Limits) -> Result<Vec<Bytes>, OpenError> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], OpenError> {
        let end = at.checked_add(n).filter(|&e| e <= body.len());
        let end = end.ok_or(OpenError::Truncated("body shorter than its lengths"))?;
        let out = &body[at..end];
        at = end;
        Ok(out)
    };
    let count = u32::from_be_bytes(take(4)?.try_into().expect("4 octets")) as usize;
    if count > limits.max_parts {
        return Err(OpenError::TooManyParts {
            parts: count,
            max: limits.max_parts,
        });
    }
    // Every part takes at least its four length octets: a count the body cannot hold is refused
    // before the vector is sized.
    if count > (body.len() - 4) / 4 {
        return Err(OpenError::Truncated("more parts than the body holds"));
    }
    let mut parts = Vec::with_capacity(count);
    for _ in 0..count {
        let len = u32::from_be_bytes(take(4)?.try_into().expect("4 octets")) as usize;
        parts.push(Bytes::copy_from_slice(take(len)?));
    }
    if at != body.len() {
        return Err(OpenError::Truncated("octets after the last part"));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> EpochKey {
        EpochKey::new(GroupId([7; 16]), 3, [0x42; 32])
    }

    fn parts() -> Vec<Bytes> {
        vec![
            Bytes::from_static(b"hello"),
            Bytes::new(),
            Bytes::from(vec![9u8; 1000]),
        ]
    }

    #[test]
    fn sealed_round_trip_and_layout() {
        let frames = seal(
            &key(),
            0x0102030405060708,
            5,
            None,
            b"t",
            &parts(),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(&frames[0][..], b"t");
        let env = &frames[1];
        assert_eq!(&env[..2], &[1, 1]);
        assert_eq!(&env[2..18], &[7; 16]);
        assert_eq!(&env[18..26], &3u64.to_be_bytes());
        assert_eq!(&env[26..34], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&env[34..42], &5u64.to_be_bytes());
        assert_eq!(
            env.len(),
            HEADER_LEN + 4 + (4 + 5) + 4 + (4 + 1000) + TAG_LEN
        );
        assert_eq!(open(&key(), &frames, &Limits::default()).unwrap(), parts());
    }

    #[test]
    fn signed_round_trip() {
        let signer = SigningKey::from_bytes(&[1; 32]);
        let frames = seal(
            &key(),
            1,
            0,
            Some(&signer),
            b"",
            &parts(),
            &Limits::default(),
        )
        .unwrap();
        let Parsed::Sealed {
            header,
            signer: got,
        } = parse(&frames, &Limits::default()).unwrap()
        else {
            panic!("sealed");
        };
        assert_eq!(header.kind, Kind::Signed);
        assert_eq!(got, Some(signer.verifying_key()));
        assert_eq!(open(&key(), &frames, &Limits::default()).unwrap(), parts());
    }

    #[test]
    fn every_altered_octet_is_refused() {
        let signer = SigningKey::from_bytes(&[1; 32]);
        for signed in [None, Some(&signer)] {
            let frames = seal(
                &key(),
                1,
                0,
                signed,
                b"topic",
                &[Bytes::from_static(b"x")],
                &Limits::default(),
            )
            .unwrap();
            for frame in 0..2 {
                for at in 0..frames[frame].len() {
                    let mut altered = frames.clone();
                    let mut f = altered[frame].to_vec();
                    f[at] ^= 0x01;
                    altered[frame] = f.into();
                    assert!(
                        open(&key(), &altered, &Limits::default()).is_err(),
                        "frame {frame} octet {at} (signed: {})",
                        signed.is_some()
                    );
                }
            }
        }
    }

    #[test]
    fn truncation_at_every_length_is_refused_without_panic() {
        let frames = seal(&key(), 1, 0, None, b"t", &parts(), &Limits::default()).unwrap();
        for len in 0..frames[1].len() {
            let cut = [frames[0].clone(), frames[1].slice(..len)];
            assert!(
                open(&key(), &cut, &Limits::default()).is_err(),
                "length {len}"
            );
        }
        assert!(matches!(
            parse(&frames[..1], &Limits::default()),
            Err(OpenError::Truncated(_))
        ));
    }

    #[test]
    fn another_epochs_key_is_refused() {
        let frames = seal(&key(), 1, 0, None, b"t", &parts(), &Limits::default()).unwrap();
        let other = EpochKey::new(GroupId([7; 16]), 3, [0x43; 32]);
        assert!(matches!(
            open(&other, &frames, &Limits::default()),
            Err(OpenError::Forged)
        ));
        let later = EpochKey::new(GroupId([7; 16]), 4, [0x42; 32]);
        assert!(matches!(
            open(&later, &frames, &Limits::default()),
            Err(OpenError::UnknownEpoch { epoch: 3 })
        ));
    }

    #[test]
    fn limits_are_checked_before_allocation() {
        let limits = Limits {
            max_parts: 2,
            max_size: 1 << 20,
        };
        assert!(matches!(
            seal(&key(), 1, 0, None, b"", &parts(), &limits),
            Err(SealError::TooManyParts { parts: 3, max: 2 })
        ));
        let big = [Bytes::from(vec![0u8; 2 << 20])];
        assert!(matches!(
            seal(&key(), 1, 0, None, b"", &big, &limits),
            Err(SealError::TooLarge { .. })
        ));
        // A body claiming 2^32-1 parts in a few octets.
        assert!(matches!(
            decode_body(&[0xff, 0xff, 0xff, 0xff], &Limits::default()),
            Err(OpenError::TooManyParts { .. })
        ));
        assert!(matches!(
            decode_body(&[0, 0, 0, 200, 0, 0, 0, 0], &Limits::default()),
            Err(OpenError::Truncated(_))
        ));
    }

    #[test]
    fn clear_messages_parse_as_clear() {
        let frames = clear(b"t", &parts());
        assert_eq!(&frames[1][..], &[1, 0]);
        let Parsed::Clear { topic, parts: got } = parse(&frames, &Limits::default()).unwrap()
        else {
            panic!("clear");
        };
        assert_eq!(&topic[..], b"t");
        assert_eq!(got, &parts()[..]);
        assert!(matches!(
            parse(
                &[Bytes::new(), Bytes::from_static(&[2, 0])],
                &Limits::default()
            ),
            Err(OpenError::UnknownVersion(2))
        ));
        assert!(matches!(
            parse(
                &[Bytes::new(), Bytes::from_static(&[1, 9])],
                &Limits::default()
            ),
            Err(OpenError::UnknownKind(9))
        ));
    }
}
