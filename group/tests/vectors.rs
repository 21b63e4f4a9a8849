//! The test vectors of `rfcs/group-keys.md`, computed and compared with the hex the
//! specification prints, so that the document and the code cannot drift apart.

use bytes::Bytes;
use zmtp_group::wire::{self, EpochKey, GroupId, Limits};
use zmtp_group::{Keyring, ReceiverConfig, SigningKey};

fn spec() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rfcs/group-keys.md"
    ))
    .expect("rfcs/group-keys.md")
}

/// The hex of the fenced block that follows the line `label` in the specification.
fn vector(label: &str) -> Vec<u8> {
    let text = spec();
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("{label} in rfcs/group-keys.md"));
    let block = text[at..].split("```").nth(1).expect("a fenced block");
    let hex: String = block
        .lines()
        .skip(1)
        .flat_map(|l| l.split_whitespace())
        .collect();
    hex::decode(hex).expect("hex")
}

fn inputs() -> (EpochKey, SigningKey, Vec<Bytes>) {
    let group = GroupId(*b"0123456789abcdef");
    let key = EpochKey::new(group, 7, core::array::from_fn(|i| i as u8));
    let signer = SigningKey::from_bytes(&[0x5a; 32]);
    let parts = vec![Bytes::from_static(b"hello"), Bytes::from_static(b"world")];
    (key, signer, parts)
}

#[test]
fn sealed_vector() {
    let (key, _, parts) = inputs();
    let frames = wire::seal(
        &key,
        0x1122334455667788,
        42,
        None,
        b"news",
        &parts,
        &Limits::default(),
    )
    .unwrap();
    if std::env::var_os("ZMTP_PRINT_VECTORS").is_some() {
        println!("sealed: {}", hex::encode(&frames[1]));
    }
    assert_eq!(&frames[1][..], &vector("Vector 1")[..]);
    let mut ring = Keyring::new(
        key.group,
        ReceiverConfig {
            require_signature: false,
            ..Default::default()
        },
    );
    ring.insert(key);
    assert_eq!(ring.open(&frames).unwrap().parts, parts);
}

#[test]
fn signed_vector() {
    let (key, signer, parts) = inputs();
    let frames = wire::seal(
        &key,
        0x1122334455667788,
        43,
        Some(&signer),
        b"news",
        &parts,
        &Limits::default(),
    )
    .unwrap();
    if std::env::var_os("ZMTP_PRINT_VECTORS").is_some() {
        println!("signed: {}", hex::encode(&frames[1]));
        println!(
            "verifying key: {}",
            hex::encode(signer.verifying_key().as_bytes())
        );
    }
    assert_eq!(&frames[1][..], &vector("Vector 2")[..]);
    let mut ring = Keyring::new(key.group, ReceiverConfig::default());
    ring.set_publishers(vec![signer.verifying_key()]);
    ring.insert(key);
    assert_eq!(ring.open(&frames).unwrap().parts, parts);
}
