//! The key service's messages (`rfcs/group-keys.md` §3), sans-IO: what a member asks its
//! coordinator over their CURVE connection, and the grants that carry epoch keys, boxed to the
//! member's long-term key.
//!
//! ```text
//! member → coordinator (DEALER → ROUTER), first frame "ZMTP-GROUP/1":
//!   JOIN                 the current key
//!   KEY    epoch (u64)   one epoch's key (a member that missed a rotation)
//!   ALIVE                still here (the coordinator forgets members it stops hearing)
//!   LEAVE                gone (the coordinator may rotate)
//! coordinator → member:
//!   GRANT  nonce (24)  box          crypto_box(member key, coordinator key) of the grant
//!   DENIED reason (UTF-8)
//! grant: group id (16) ‖ epoch (u64) ‖ key (32) ‖ publisher count (u8) ‖ publishers (32 each)
//! ```

use bytes::Bytes;
use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::Aead;
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use ed25519_dalek::VerifyingKey;
use zeroize::Zeroizing;
use zmtp::mechanisms::{CurvePublicKey, CurveSecretKey};

use crate::wire::{EpochKey, GroupId};

/// The first frame of every key-service message.
pub const PROTOCOL: &[u8] = b"ZMTP-GROUP/1";
/// Most publishers one grant names.
pub const MAX_PUBLISHERS: usize = 32;

/// A key-service message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Member: the current key, please.
    Join,
    /// Member: this epoch's key, please.
    Key(u64),
    /// Member: still here.
    Alive,
    /// Member: leaving.
    Leave,
    /// Coordinator: a boxed grant.
    Grant {
        /// The box's nonce.
        nonce: [u8; 24],
        /// The boxed grant.
        sealed: Bytes,
    },
    /// Coordinator: no key for you, and why.
    Denied(String),
}

/// Why a key-service message was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ControlError {
    /// Not a key-service message, or malformed.
    #[error("malformed key-service message: {0}")]
    Malformed(&'static str),
    /// The grant's box does not open with our key and the coordinator's.
    #[error("the grant does not open (not from our coordinator, or altered)")]
    BadBox,
}

impl Control {
    /// The message's frames.
    pub fn encode(&self) -> Vec<Bytes> {
        let verb: &'static [u8] = match self {
            Control::Join => b"JOIN",
            Control::Key(_) => b"KEY",
            Control::Alive => b"ALIVE",
            Control::Leave => b"LEAVE",
            Control::Grant { .. } => b"GRANT",
            Control::Denied(_) => b"DENIED",
        };
        let mut frames = vec![Bytes::from_static(PROTOCOL), Bytes::from_static(verb)];
        match self {
            Control::Key(epoch) => frames.push(Bytes::copy_from_slice(&epoch.to_be_bytes())),
            Control::Grant { nonce, sealed } => {
                frames.push(Bytes::copy_from_slice(nonce));
                frames.push(sealed.clone());
            }
            Control::Denied(reason) => frames.push(Bytes::from(reason.clone().into_bytes())),
            _ => {}
        }
        frames
    }

    /// Reads a message's frames.
    pub fn decode(frames: &[Bytes]) -> Result<Control, ControlError> {
        let [protocol, verb, args @ ..] = frames else {
            return Err(ControlError::Malformed("fewer than two frames"));
        };
        if &protocol[..] != PROTOCOL {
            return Err(ControlError::Malformed("not ZMTP-GROUP/1"));
        }
        match (&verb[..], args) {
            (b"JOIN", []) => Ok(Control::Join),
            (b"ALIVE", []) => Ok(Control::Alive),
            (b"LEAVE", []) => Ok(Control::Leave),
            (b"KEY", [epoch]) => Ok(Control::Key(u64::from_be_bytes(
                epoch[..]
                    .try_into()
                    .map_err(|_| ControlError::Malformed("an epoch is 8 octets"))?,
            ))),
            (b"GRANT", [nonce, sealed]) => Ok(Control::Grant {
                nonce: nonce[..]
                    .try_into()
                    .map_err(|_| ControlError::Malformed("a nonce is 24 octets"))?,
                sealed: sealed.clone(),
            }),
            (b"DENIED", [reason]) => Ok(Control::Denied(
                String::from_utf8_lossy(reason).into_owned(),
            )),
            _ => Err(ControlError::Malformed("unknown verb or wrong arguments")),
        }
    }
}

/// What a grant gives a member.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The epoch key.
    pub key: EpochKey,
    /// The publishers whose signatures members accept.
    pub publishers: Vec<VerifyingKey>,
}

/// The box between two long-term keys (one X25519; a coordinator keeps it per member).
pub fn grant_box(theirs: &CurvePublicKey, ours: &CurveSecretKey) -> SalsaBox {
    SalsaBox::new(
        &PublicKey::from(*theirs.as_bytes()),
        &SecretKey::from(*ours.expose()),
    )
}

/// Boxes `grant` from the coordinator (`ours`) to a member (`theirs`).
pub fn seal_grant(grant: &Grant, theirs: &CurvePublicKey, ours: &CurveSecretKey) -> Control {
    seal_grant_with(grant, &grant_box(theirs, ours))
}

/// Boxes `grant` with a box made by [`grant_box`].
pub fn seal_grant_with(grant: &Grant, boxer: &SalsaBox) -> Control {
    let publishers = &grant.publishers[..grant.publishers.len().min(MAX_PUBLISHERS)];
    let mut plain = Zeroizing::new(Vec::with_capacity(57 + 32 * publishers.len()));
    plain.extend_from_slice(&grant.key.group.0);
    plain.extend_from_slice(&grant.key.epoch.to_be_bytes());
    plain.extend_from_slice(grant.key.expose());
    plain.push(publishers.len() as u8);
    for p in publishers {
        plain.extend_from_slice(p.as_bytes());
    }
    let mut nonce = [0u8; 24];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    let sealed = boxer
        .encrypt(GenericArray::from_slice(&nonce), &plain[..])
        .expect("a grant is far below the cipher's limit");
    Control::Grant {
        nonce,
        sealed: sealed.into(),
    }
}

/// Opens a grant a member (`ours`) received from its coordinator (`theirs`).
pub fn open_grant(
    nonce: &[u8; 24],
    sealed: &[u8],
    theirs: &CurvePublicKey,
    ours: &CurveSecretKey,
) -> Result<Grant, ControlError> {
    let plain = Zeroizing::new(
        grant_box(theirs, ours)
            .decrypt(GenericArray::from_slice(nonce), sealed)
            .map_err(|_| ControlError::BadBox)?,
    );
    if plain.len() < 57 {
        return Err(ControlError::Malformed("grant shorter than 57 octets"));
    }
    let count = plain[56] as usize;
    if count > MAX_PUBLISHERS || plain.len() != 57 + 32 * count {
        return Err(ControlError::Malformed("grant's publisher list"));
    }
    let group = GroupId(plain[..16].try_into().expect("16"));
    let epoch = u64::from_be_bytes(plain[16..24].try_into().expect("8"));
    let key = EpochKey::new(group, epoch, plain[24..56].try_into().expect("32"));
    let publishers = plain[57..]
        .chunks_exact(32)
        .map(|c| VerifyingKey::from_bytes(c.try_into().expect("32")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ControlError::Malformed("a publisher key is not a curve point"))?;
    Ok(Grant { key, publishers })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zmtp::mechanisms::CurveKeyPair;

    #[test]
    fn messages_round_trip_as_bytes() {
        for m in [
            Control::Join,
            Control::Key(7),
            Control::Alive,
            Control::Leave,
            Control::Denied("revoked".into()),
            Control::Grant {
                nonce: [3; 24],
                sealed: Bytes::from_static(b"box"),
            },
        ] {
            assert_eq!(Control::decode(&m.encode()).unwrap(), m);
        }
        assert_eq!(
            Control::Key(0x0102).encode(),
            vec![
                Bytes::from_static(b"ZMTP-GROUP/1"),
                Bytes::from_static(b"KEY"),
                Bytes::from_static(&[0, 0, 0, 0, 0, 0, 1, 2])
            ]
        );
        assert!(Control::decode(&[
            Bytes::from_static(b"ZMTP-GROUP/2"),
            Bytes::from_static(b"JOIN")
        ])
        .is_err());
        assert!(
            Control::decode(&[Bytes::from_static(PROTOCOL), Bytes::from_static(b"KEY")]).is_err()
        );
        assert!(Control::decode(&[
            Bytes::from_static(PROTOCOL),
            Bytes::from_static(b"KEY"),
            Bytes::from_static(b"1")
        ])
        .is_err());
    }

    #[test]
    fn a_grant_opens_only_for_its_member() {
        let coordinator = CurveKeyPair::generate().unwrap();
        let member = CurveKeyPair::generate().unwrap();
        let other = CurveKeyPair::generate().unwrap();
        let grant = Grant {
            key: EpochKey::new(GroupId([9; 16]), 4, [1; 32]),
            publishers: vec![ed25519_dalek::SigningKey::from_bytes(&[2; 32]).verifying_key()],
        };
        let Control::Grant { nonce, sealed } =
            seal_grant(&grant, &member.public, &coordinator.secret)
        else {
            panic!("grant");
        };
        let got = open_grant(&nonce, &sealed, &coordinator.public, &member.secret).unwrap();
        assert_eq!(
            (got.key.group, got.key.epoch, *got.key.expose()),
            (GroupId([9; 16]), 4, [1; 32])
        );
        assert_eq!(got.publishers, grant.publishers);
        assert_eq!(
            open_grant(&nonce, &sealed, &coordinator.public, &other.secret).unwrap_err(),
            ControlError::BadBox
        );
        let mut altered = sealed.to_vec();
        altered[0] ^= 1;
        assert!(open_grant(&nonce, &altered, &coordinator.public, &member.secret).is_err());
    }
}
