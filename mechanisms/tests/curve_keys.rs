//! CURVE keys on the API: Z85 and raw forms from shared/vectors/keys.txt, refused at construction
//! when malformed or all zero.

use zmtp_mechanisms::{ConfigError, CurveKeyPair, CurvePublicKey, CurveSecretKey};

const KEYS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/keys.txt"
));

/// (label, Z85, hex) rows of keys.txt.
fn rows() -> Vec<(String, String, Vec<u8>)> {
    KEYS.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let n = fields.len();
            (
                fields[..n - 2].join(" "),
                fields[n - 2].to_owned(),
                hex::decode(fields[n - 1]).unwrap(),
            )
        })
        .collect()
}

#[test]
fn keys_txt_pairs_parse_in_every_form_and_derive() {
    let rows = rows();
    let find = |label: &str| rows.iter().find(|r| r.0 == label).unwrap().clone();
    for who in ["server", "client"] {
        let (_, public_z85, public_raw) = find(&format!("{who} public"));
        let (_, secret_z85, secret_raw) = find(&format!("{who} secret"));
        let public = CurvePublicKey::from_z85(&public_z85).unwrap();
        assert_eq!(&public.as_bytes()[..], &public_raw[..]);
        assert_eq!(public.to_z85(), public_z85);
        assert_eq!(public.to_string(), public_z85);
        assert_eq!(public_z85.parse::<CurvePublicKey>().unwrap(), public);
        // libzmq's option forms: 32 raw octets, 40 characters, 41 with a trailing NUL.
        assert_eq!(
            CurvePublicKey::from_option_bytes(&public_raw).unwrap(),
            public
        );
        assert_eq!(
            CurvePublicKey::from_option_bytes(public_z85.as_bytes()).unwrap(),
            public
        );
        let mut with_nul = public_z85.clone().into_bytes();
        with_nul.push(0);
        assert_eq!(
            CurvePublicKey::from_option_bytes(&with_nul).unwrap(),
            public
        );

        let secret = CurveSecretKey::from_z85(&secret_z85).unwrap();
        assert_eq!(&secret.expose()[..], &secret_raw[..]);
        assert_eq!(&secret.to_z85()[..], &secret_z85[..]);
        assert_eq!(secret.public_key(), public);
        assert_eq!(CurveKeyPair::from_secret(secret).public, public);
    }
}

#[test]
fn the_zero_key_is_refused_in_every_form() {
    let (_, zero_z85, zero_raw) = rows().into_iter().find(|r| r.0 == "zero").unwrap();
    assert_eq!(
        CurvePublicKey::from_z85(&zero_z85).unwrap_err(),
        ConfigError::ZeroKey
    );
    assert_eq!(
        CurveSecretKey::from_z85(&zero_z85).unwrap_err(),
        ConfigError::ZeroKey
    );
    assert_eq!(
        CurvePublicKey::from_option_bytes(&zero_raw).unwrap_err(),
        ConfigError::ZeroKey
    );
}

#[test]
fn malformed_keys_are_refused_at_construction() {
    assert_eq!(
        CurvePublicKey::from_z85("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf").unwrap_err(),
        ConfigError::KeyLength { len: 39 }
    );
    // A character outside the Z85 alphabet.
    assert_eq!(
        CurvePublicKey::from_z85("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf\"").unwrap_err(),
        ConfigError::KeyEncoding
    );
    // "%nSc1" overflows 32 bits.
    assert_eq!(
        CurvePublicKey::from_z85("%nSc1%nSc1%nSc1%nSc1%nSc1%nSc1%nSc1%nSc1").unwrap_err(),
        ConfigError::KeyEncoding
    );
    assert_eq!(
        CurveSecretKey::from_option_bytes(&[7u8; 33]).unwrap_err(),
        ConfigError::KeyLength { len: 33 }
    );
    // 41 octets whose last is not NUL.
    assert_eq!(
        CurvePublicKey::from_option_bytes(&[b'a'; 41]).unwrap_err(),
        ConfigError::KeyLength { len: 41 }
    );
}

#[test]
fn generated_pairs_round_trip_through_z85() {
    let pair = CurveKeyPair::generate().unwrap();
    assert_eq!(pair.secret.public_key(), pair.public);
    let again = CurveSecretKey::from_z85(&pair.secret.to_z85()).unwrap();
    assert_eq!(again.public_key(), pair.public);
    assert_eq!(
        CurvePublicKey::from_z85(&pair.public.to_z85()).unwrap(),
        pair.public
    );
}
