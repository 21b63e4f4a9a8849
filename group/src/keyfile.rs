//! A publisher's Ed25519 keys in files, in the shape of ZeroMQ certificates: a public file to
//! hand to the coordinator, and a secret file (readable by its owner only) for the publisher.
//!
//! ```text
//! #   zmtp group publisher: Ed25519 verifying key
//!
//! public-key = "<64 hex digits>"
//! secret-key = "<64 hex digits>"      (secret file only)
//! ```
//!
//! Lines starting with `#` are comments; a field is `name = "value"` (the quotes optional).
//! Specified in `rfcs/group-keys.md` §6.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use zeroize::Zeroizing;

/// The largest key file read: a key file is a few hundred octets.
const MAX_FILE: u64 = 64 * 1024;

/// Why a key file or hex key was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is larger than any key file.
    #[error("{path}: over {len} octets is too large for a key file")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// How much of it was read (one octet past the limit).
        len: u64,
    },
    /// The file has no such field (a public file holds no `secret-key`).
    #[error("{path}: no {field} in this file")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The field looked for.
        field: &'static str,
    },
    /// A key is not 64 hex digits.
    #[error("an Ed25519 key is 64 hex digits")]
    NotHex,
    /// 32 octets that are not an Ed25519 public key.
    #[error("not an Ed25519 public key")]
    NotAPublicKey,
    /// A file's public key is not the one its secret key makes.
    #[error("{path}: its public-key does not belong to its secret-key")]
    Mismatch {
        /// The file.
        path: PathBuf,
    },
}

fn hex32(text: &str) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    let mut out = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), &mut out[..]).map_err(|_| KeyFileError::NotHex)?;
    Ok(out)
}

/// A signing key from 64 hex digits.
pub fn signing_key_from_hex(text: &str) -> Result<SigningKey, KeyFileError> {
    let bytes = hex32(text)?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// A verifying key from 64 hex digits.
pub fn verifying_key_from_hex(text: &str) -> Result<VerifyingKey, KeyFileError> {
    let bytes = hex32(text)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyFileError::NotAPublicKey)
}

/// The fields of a key file, by name.
struct Fields {
    public: Option<Zeroizing<[u8; 32]>>,
    secret: Option<Zeroizing<[u8; 32]>>,
}

fn read_fields(path: &Path) -> Result<Fields, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    // Read at most one octet past the limit, whatever the file grows to meanwhile.
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = Zeroizing::new(String::new());
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_FILE + 1), &mut text)
        .map_err(io)?;
    let len = text.len() as u64;
    if len > MAX_FILE {
        return Err(KeyFileError::TooLarge {
            path: path.to_owned(),
            len,
        });
    }
    let mut fields = Fields {
        public: None,
        secret: None,
    };
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match name.trim() {
            "public-key" => fields.public = Some(hex32(value)?),
            "secret-key" => fields.secret = Some(hex32(value)?),
            _ => {}
        }
    }
    Ok(fields)
}

/// The signing key of a secret key file. Its `public-key`, when present, must be the one the
/// secret key makes.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, KeyFileError> {
    let fields = read_fields(path)?;
    let secret = fields.secret.ok_or_else(|| KeyFileError::Missing {
        path: path.to_owned(),
        field: "secret-key",
    })?;
    let key = SigningKey::from_bytes(&secret);
    if fields
        .public
        .is_some_and(|p| *p != *key.verifying_key().as_bytes())
    {
        return Err(KeyFileError::Mismatch {
            path: path.to_owned(),
        });
    }
    Ok(key)
}

/// The verifying key of a key file, public or secret.
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, KeyFileError> {
    let fields = read_fields(path)?;
    let public = fields.public.ok_or_else(|| KeyFileError::Missing {
        path: path.to_owned(),
        field: "public-key",
    })?;
    VerifyingKey::from_bytes(&public).map_err(|_| KeyFileError::NotAPublicKey)
}

/// The text of a key file for `key`: the public key, and the secret one too when `secret`.
pub fn key_file_text(key: &SigningKey, secret: bool) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::new());
    if secret {
        s.push_str("#   zmtp group publisher: Ed25519 **signing** key\n");
        s.push_str("#   Keep this file private: whoever reads it can publish as its owner.\n");
    } else {
        s.push_str("#   zmtp group publisher: Ed25519 verifying key\n");
        s.push_str("#   Give it to the coordinator (its publishers).\n");
    }
    s.push('\n');
    s.push_str("public-key = \"");
    s.push_str(&hex::encode(key.verifying_key().as_bytes()));
    s.push_str("\"\n");
    if secret {
        s.push_str("secret-key = \"");
        s.push_str(&Zeroizing::new(hex::encode(key.as_bytes())));
        s.push_str("\"\n");
    }
    s
}

/// Writes `key`'s public file at `public` and its secret file at `secret`, never over an
/// existing file; the secret one is readable by its owner only (on Unix). When the secret file
/// cannot be written, the public one just written is removed again: no half pair is left.
pub fn write_key_files(key: &SigningKey, public: &Path, secret: &Path) -> Result<(), KeyFileError> {
    write_new(public, &key_file_text(key, false), false)?;
    write_new(secret, &key_file_text(key, true), true).inspect_err(|_| {
        let _ = std::fs::remove_file(public);
    })
}

fn write_new(path: &Path, text: &str, private: bool) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "zmtp-group-keyfile-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn written_files_read_back_and_the_public_one_has_no_secret() {
        let d = dir();
        let key = SigningKey::from_bytes(&[7; 32]);
        let (p, s) = (d.join("signer"), d.join("signer_secret"));
        write_key_files(&key, &p, &s).unwrap();
        assert_eq!(read_signing_key(&s).unwrap().as_bytes(), key.as_bytes());
        assert_eq!(read_verifying_key(&s).unwrap(), key.verifying_key());
        assert_eq!(read_verifying_key(&p).unwrap(), key.verifying_key());
        assert!(matches!(
            read_signing_key(&p),
            Err(KeyFileError::Missing {
                field: "secret-key",
                ..
            })
        ));
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(&format!(
            "public-key = \"{}\"",
            hex::encode(key.verifying_key().as_bytes())
        )));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&s).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the secret file is the owner's only");
        }
        // Never over an existing file.
        assert!(matches!(
            write_key_files(&key, &p, &s),
            Err(KeyFileError::Io { .. })
        ));
        // A secret file that cannot be written leaves no public file behind.
        let lone = d.join("lone");
        assert!(matches!(
            write_key_files(&key, &lone, &s),
            Err(KeyFileError::Io { .. })
        ));
        assert!(
            !lone.exists(),
            "the public half of a failed pair was removed"
        );
        assert!(s.exists(), "the existing secret file is untouched");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn bad_files_are_typed_errors() {
        let d = dir();
        let key = SigningKey::from_bytes(&[9; 32]);
        let other = SigningKey::from_bytes(&[10; 32]);
        let bad = d.join("bad");
        std::fs::write(&bad, "public-key = \"12zz\"\n").unwrap();
        assert!(matches!(
            read_verifying_key(&bad),
            Err(KeyFileError::NotHex)
        ));
        let mixed = d.join("mixed");
        std::fs::write(
            &mixed,
            format!(
                "# a comment = \"x\"\npublic-key = \"{}\"\nsecret-key = {}\n",
                hex::encode(other.verifying_key().as_bytes()),
                hex::encode(key.as_bytes())
            ),
        )
        .unwrap();
        assert!(matches!(
            read_signing_key(&mixed),
            Err(KeyFileError::Mismatch { .. })
        ));
        let big = d.join("big");
        std::fs::write(&big, vec![b'#'; MAX_FILE as usize + 1]).unwrap();
        assert!(matches!(
            read_verifying_key(&big),
            Err(KeyFileError::TooLarge { .. })
        ));
        assert!(matches!(
            read_verifying_key(&d.join("absent")),
            Err(KeyFileError::Io { .. })
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn hex_keys() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let public = hex::encode(key.verifying_key().as_bytes());
        assert_eq!(
            verifying_key_from_hex(&public).unwrap(),
            key.verifying_key()
        );
        assert_eq!(
            signing_key_from_hex(&hex::encode(key.as_bytes()))
                .unwrap()
                .as_bytes(),
            key.as_bytes()
        );
        assert!(matches!(
            signing_key_from_hex("abc"),
            Err(KeyFileError::NotHex)
        ));
    }
}
