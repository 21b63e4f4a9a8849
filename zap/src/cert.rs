//! CURVE certificate files, as czmq (`zcert`) and pyzmq (`zmq.auth`) write them.
//!
//! A certificate is a small ZPL file (the ZeroMQ Property Language: `#` comments, sections at
//! column 0, `name = value` properties indented four spaces per level):
//!
//! ```text
//! #   ****  Generated on 2026-11-22 10:00:00 UTC by zmtp  ****
//! #   ZeroMQ CURVE Public Certificate
//!
//! metadata
//!     name = "gateway-1"
//! curve
//!     public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
//! ```
//!
//! The secret certificate adds `secret-key`. Both tools write the comment block, one blank
//! line, then `metadata` and `curve`. File names: czmq writes `NAME` and `NAME_secret`; pyzmq
//! writes `NAME.key` and `NAME.key_secret`, with metadata values unquoted (and, in
//! `create_certificates`, metadata in the secret file only; we write it in both files, since
//! the public one is what a server's certificate directory reads).
//!
//! Reading is lenient where the two tools differ and strict where it matters: quoted (`"…"`,
//! `'…'`) and unquoted values (an unquoted value ends at `#`, as in czmq's ZPL reader), CRLF,
//! tab indentation, unknown sections; but each key must appear at most once, be exactly 40
//! characters of Z85 for 32 octets, and a secret key must belong to the public key.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;
use zmtp_mechanisms::{CurveKeyPair, CurvePublicKey, CurveSecretKey};

use crate::files::{read_bounded, ReadFailure};

/// Largest certificate file read (64 KiB); real ones are a few hundred bytes.
pub const MAX_CERT_FILE: u64 = 64 << 10;

/// Which tool's file names and layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CertFormat {
    /// czmq: `NAME` (public) and `NAME_secret`; metadata values quoted.
    #[default]
    Czmq,
    /// pyzmq: `NAME.key` (public) and `NAME.key_secret`; metadata values unquoted where that
    /// reads back the same.
    Pyzmq,
}

impl CertFormat {
    /// The public certificate's path for a base name.
    pub fn public_path(self, base: &Path) -> PathBuf {
        match self {
            CertFormat::Czmq => base.to_path_buf(),
            CertFormat::Pyzmq => with_suffix(base, ".key"),
        }
    }

    /// The secret certificate's path for a base name.
    pub fn secret_path(self, base: &Path) -> PathBuf {
        match self {
            CertFormat::Czmq => with_suffix(base, "_secret"),
            CertFormat::Pyzmq => with_suffix(base, ".key_secret"),
        }
    }
}

fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Why a certificate could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// File system failure.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_CERT_FILE`].
    #[error("{path}: {size} bytes is more than a certificate can be ({MAX_CERT_FILE})")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The text is not a certificate.
    #[error("line {line}: {reason}")]
    Parse {
        /// 1-based line (0: the file as a whole).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A key is not 40 characters of valid Z85 for 32 octets (or is a refused key).
    #[error("line {line}: bad {which}: {reason}")]
    BadKey {
        /// 1-based line.
        line: usize,
        /// `public-key` or `secret-key`.
        which: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The secret key does not belong to the public key.
    #[error("the secret key does not belong to the public key")]
    KeyMismatch,
    /// A metadata entry cannot be written.
    #[error(
        "metadata {0:?}: names are 1-255 of A-Z a-z 0-9 - _ . + (not starting with public-key or \
         secret-key) and values one line without '\"'"
    )]
    BadMetadata(String),
    /// Key generation failed.
    #[error("cannot generate a keypair: {0}")]
    Generate(String),
    /// The error of one file, with its path.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<CertError>,
    },
}

/// A CURVE certificate: a public key, the secret key when this is a secret certificate, and
/// metadata (name/value pairs, returned to connections as ZAP metadata by the cert-directory
/// handler).
#[derive(Clone)]
pub struct Certificate {
    /// The public key.
    pub public: CurvePublicKey,
    /// The secret key (secret certificates only).
    pub secret: Option<CurveSecretKey>,
    /// Metadata, in file order.
    pub metadata: Vec<(String, String)>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("public", &self.public.to_z85())
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// A metadata name we write: a ZMTP property name (RFC 23: 1-255 of these characters), and not
/// one pyzmq's line reader would take for a key (it reads any line starting with `public-key` or
/// `secret-key`, whatever its section).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.+".contains(&c))
        && !name.starts_with("public-key")
        && !name.starts_with("secret-key")
}

fn valid_value(value: &str) -> bool {
    !value.contains(['\n', '\r', '"'])
}

/// Whether pyzmq's way of writing a value, unquoted, reads back as the same value.
fn plain_value_reads_back(value: &str) -> bool {
    !value.is_empty()
        && value.trim() == value
        && !value.starts_with(['"', '\''])
        && !value.contains('#')
}

/// Splits a ZPL value: quoted (`"…"`, `'…'`) up to its closing quote; else the rest up to a `#`
/// comment, trimmed (RFC 4 and czmq's zconfig; pyzmq writes `a#b` unquoted, which czmq reads as
/// `a` too).
fn zpl_value(raw: &str, line: usize) -> Result<String, CertError> {
    let raw = raw.trim();
    for q in ['"', '\''] {
        if let Some(rest) = raw.strip_prefix(q) {
            let Some(end) = rest.find(q) else {
                return Err(CertError::Parse {
                    line,
                    reason: format!("unterminated {q}-quoted value"),
                });
            };
            let after = rest[end + 1..].trim_start();
            if !(after.is_empty() || after.starts_with('#')) {
                return Err(CertError::Parse {
                    line,
                    reason: "text after a quoted value".into(),
                });
            }
            return Ok(rest[..end].to_owned());
        }
    }
    let unquoted = raw.split_once('#').map_or(raw, |(value, _comment)| value);
    Ok(unquoted.trim_end().to_owned())
}

/// A key's value: quoted, as both tools write it, or unquoted up to the first blank. Z85 has `#`
/// in its alphabet, so an unquoted key does not end at a `#`; a comment after it needs a blank.
fn zpl_key_value(raw: &str, line: usize) -> Result<Zeroizing<String>, CertError> {
    let raw = raw.trim();
    if raw.starts_with(['"', '\'']) {
        return zpl_value(raw, line).map(Zeroizing::new);
    }
    let (key, rest) = raw.split_once(char::is_whitespace).unwrap_or((raw, ""));
    let rest = rest.trim_start();
    if !(rest.is_empty() || rest.starts_with('#')) {
        return Err(CertError::Parse {
            line,
            reason: "text after the key".into(),
        });
    }
    Ok(Zeroizing::new(key.to_owned()))
}

fn date_time_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn read_limited(path: &Path) -> Result<Zeroizing<String>, CertError> {
    read_bounded(path, MAX_CERT_FILE).map_err(|e| match e {
        ReadFailure::Io(source) => CertError::Io {
            path: path.to_owned(),
            source,
        },
        ReadFailure::TooLarge(size) => CertError::TooLarge {
            path: path.to_owned(),
            size,
        },
    })
}

/// Writes a file by creating a fresh temporary file beside it (never an existing file, never
/// through a symlink), with mode 0600 for secrets on unix, then renaming it into place. The
/// rename replaces whatever was at `path` (a symlink itself, not its target), so an existing
/// world-readable file or a planted link cannot receive a secret key.
fn write_file(path: &Path, text: &str, private: bool) -> Result<(), CertError> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let io = |source| CertError::Io {
        path: path.to_owned(),
        source,
    };
    let name = path
        .file_name()
        .ok_or_else(|| io(std::io::ErrorKind::InvalidInput.into()))?
        .to_string_lossy();
    let tmp = path.with_file_name(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let written = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(io)
}

impl Certificate {
    /// A new certificate with a fresh keypair and no metadata.
    pub fn generate() -> Result<Certificate, CertError> {
        let pair = CurveKeyPair::generate().map_err(|e| CertError::Generate(e.to_string()))?;
        Ok(Certificate::from_secret(pair.secret))
    }

    /// The certificate of a secret key (its public key derived).
    pub fn from_secret(secret: CurveSecretKey) -> Certificate {
        Certificate {
            public: secret.public_key(),
            secret: Some(secret),
            metadata: Vec::new(),
        }
    }

    /// A public certificate.
    pub fn from_public(public: CurvePublicKey) -> Certificate {
        Certificate {
            public,
            secret: None,
            metadata: Vec::new(),
        }
    }

    /// Adds a metadata entry (checked when written).
    pub fn with_metadata(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((name.into(), value.into()));
        self
    }

    /// This certificate without its secret key.
    pub fn public_only(&self) -> Certificate {
        Certificate {
            secret: None,
            ..self.clone()
        }
    }

    /// Parses certificate text (public or secret).
    pub fn parse(text: &str) -> Result<Certificate, CertError> {
        #[derive(PartialEq)]
        enum Section {
            None,
            Metadata,
            Curve,
            Other,
        }
        let mut section = Section::None;
        let mut public = None;
        let mut secret = None;
        let mut metadata = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - line.trim_start().len();
            if indent == 0 {
                section = match trimmed {
                    "metadata" => Section::Metadata,
                    "curve" => Section::Curve,
                    _ => Section::Other,
                };
                continue;
            }
            let (name, value) = match trimmed.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v)),
                None => (trimmed, None),
            };
            // Deeper levels (children of a property) are not part of either format.
            let deep = line.starts_with("        ") || line.starts_with("\t\t");
            match (&section, value) {
                (Section::Metadata, Some(v)) if !deep => {
                    metadata.push((name.to_owned(), zpl_value(v, line_no)?));
                }
                // A ZPL property without `=` has the empty value.
                (Section::Metadata, None) if !deep => {
                    metadata.push((name.to_owned(), String::new()))
                }
                (Section::Curve, Some(v))
                    if !deep && (name == "public-key" || name == "secret-key") =>
                {
                    let value = zpl_key_value(v, line_no)?;
                    let bad = |reason: String| CertError::BadKey {
                        line: line_no,
                        which: if name == "public-key" {
                            "public-key"
                        } else {
                            "secret-key"
                        },
                        reason,
                    };
                    if value.len() != 40 {
                        return Err(bad(format!("{} characters, not 40", value.len())));
                    }
                    // czmq takes the first of two keys and pyzmq the last: refuse the ambiguity.
                    let seen = if name == "public-key" {
                        public.is_some()
                    } else {
                        secret.is_some()
                    };
                    if seen {
                        return Err(CertError::Parse {
                            line: line_no,
                            reason: format!("a second {name}"),
                        });
                    }
                    if name == "public-key" {
                        public =
                            Some(CurvePublicKey::from_z85(&value).map_err(|e| bad(e.to_string()))?);
                    } else {
                        secret =
                            Some(CurveSecretKey::from_z85(&value).map_err(|e| bad(e.to_string()))?);
                    }
                }
                (Section::None, _) => {
                    return Err(CertError::Parse {
                        line: line_no,
                        reason: "indented line outside a section".into(),
                    })
                }
                _ => {}
            }
        }
        let public = match (public, &secret) {
            (Some(p), Some(s)) if s.public_key() != p => return Err(CertError::KeyMismatch),
            (Some(p), _) => p,
            (None, Some(s)) => s.public_key(),
            (None, None) => {
                return Err(CertError::Parse {
                    line: 0,
                    reason: "no curve public-key".into(),
                })
            }
        };
        Ok(Certificate {
            public,
            secret,
            metadata,
        })
    }

    /// Reads a certificate file (refusing one over [`MAX_CERT_FILE`] before reading it).
    pub fn load(path: &Path) -> Result<Certificate, CertError> {
        let text = read_limited(path)?;
        Certificate::parse(&text).map_err(|e| match e {
            e @ (CertError::Io { .. } | CertError::TooLarge { .. }) => e,
            e => CertError::File {
                path: path.to_owned(),
                source: Box::new(e),
            },
        })
    }

    fn check_metadata(&self) -> Result<(), CertError> {
        for (name, value) in &self.metadata {
            if !valid_name(name) || !valid_value(value) {
                return Err(CertError::BadMetadata(name.clone()));
            }
        }
        Ok(())
    }

    fn text(&self, format: CertFormat, secret: bool) -> Result<Zeroizing<String>, CertError> {
        self.check_metadata()?;
        let mut s = Zeroizing::new(String::with_capacity(512));
        s.push_str(&format!(
            "#   ****  Generated on {} by zmtp  ****\n",
            date_time_utc()
        ));
        if secret {
            s.push_str("#   ZeroMQ CURVE **Secret** Certificate\n");
            s.push_str("#   Keep this file private: whoever reads it can act as its owner.\n");
        } else {
            s.push_str("#   ZeroMQ CURVE Public Certificate\n");
            s.push_str("#   Share it freely, but check through a trusted channel that it is\n");
            s.push_str("#   the owner's before adding it to a certificate directory.\n");
        }
        // czmq's zconfig and pyzmq both end the comment block with one blank line.
        s.push('\n');
        s.push_str("metadata\n");
        for (name, value) in &self.metadata {
            if format == CertFormat::Pyzmq && plain_value_reads_back(value) {
                s.push_str(&format!("    {name} = {value}\n"));
            } else {
                s.push_str(&format!("    {name} = \"{value}\"\n"));
            }
        }
        s.push_str("curve\n");
        s.push_str(&format!("    public-key = \"{}\"\n", self.public.to_z85()));
        if secret {
            let key = self.secret.as_ref().ok_or(CertError::Parse {
                line: 0,
                reason: "no secret key to write".into(),
            })?;
            s.push_str(&format!("    secret-key = \"{}\"\n", key.to_z85().as_str()));
        }
        Ok(s)
    }

    /// The public certificate's text.
    pub fn to_public_text(&self, format: CertFormat) -> Result<String, CertError> {
        Ok(self.text(format, false)?.to_string())
    }

    /// The secret certificate's text (an error without a secret key).
    pub fn to_secret_text(&self, format: CertFormat) -> Result<Zeroizing<String>, CertError> {
        self.text(format, true)
    }

    /// Writes the public certificate for `base` in `format`; returns its path.
    pub fn save_public(&self, base: &Path, format: CertFormat) -> Result<PathBuf, CertError> {
        let path = format.public_path(base);
        write_file(&path, &self.to_public_text(format)?, false)?;
        Ok(path)
    }

    /// Writes both certificates (the secret one readable by its owner only, on unix); returns
    /// (public path, secret path).
    pub fn save(&self, base: &Path, format: CertFormat) -> Result<(PathBuf, PathBuf), CertError> {
        let secret_text = self.to_secret_text(format)?;
        let public = self.save_public(base, format)?;
        let secret = format.secret_path(base);
        write_file(&secret, &secret_text, true)?;
        Ok((public, secret))
    }

    /// Reads every public certificate in a directory, in name order: czmq files and pyzmq
    /// `*.key` files. Like czmq's certificate store, every regular file whose name does not end
    /// in `_secret` is a candidate, whatever its extension (czmq names are often host names,
    /// `gw.example.org`); secret certificates (`*_secret`, `*.key_secret`), hidden files and
    /// subdirectories are skipped.
    ///
    /// A file that is not a certificate (or is too large to be one) is skipped with a
    /// `tracing` warning naming it, and the rest still load: one stray file must not lock every
    /// client out. A file that cannot be read at all fails the whole load instead (see below).
    /// A secret certificate under a public name contributes its public key only.
    pub fn load_public_dir(dir: &Path) -> Result<Vec<(PathBuf, Certificate)>, CertError> {
        let io = |source| CertError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.ends_with("_secret") {
                continue;
            }
            // Regular files only (symlinks followed): no directories, FIFOs or devices, which
            // could block a read forever.
            match std::fs::metadata(entry.path()) {
                Ok(m) if m.is_file() => paths.push(entry.path()),
                Ok(_) => continue,
                Err(e) => return Err(io(e)),
            }
        }
        paths.sort();
        let mut out = Vec::new();
        for path in paths {
            match Certificate::load(&path) {
                Ok(cert) => {
                    if cert.secret.is_some() {
                        tracing::warn!(path = %path.display(), "a secret certificate in a public certificate directory; only its public key is used");
                    }
                    out.push((path, cert.public_only()));
                }
                // A file we could not read fails the whole load (the caller keeps what it had):
                // dropping a valid key because of a passing I/O error would lock its owner out.
                Err(e @ CertError::Io { .. }) => return Err(e),
                Err(e) => tracing::warn!("skipped: {e}"),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A fixed keypair (the CurveZMQ server example keys).
    const PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    const SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

    fn fixed() -> Certificate {
        Certificate::from_secret(CurveSecretKey::from_z85(SECRET).unwrap())
            .with_metadata("name", "gateway 1")
            .with_metadata("Hello", "World")
    }

    /// Drops the first (dated) line.
    fn undated(text: &str) -> &str {
        text.split_once('\n').unwrap().1
    }

    #[test]
    fn the_fixed_keys_belong_together() {
        assert_eq!(fixed().public.to_z85(), PUBLIC);
    }

    #[test]
    fn czmq_layout_is_exact() {
        let c = fixed();
        let public = c.to_public_text(CertFormat::Czmq).unwrap();
        assert!(public.starts_with("#   ****  Generated on "));
        assert!(public
            .lines()
            .next()
            .unwrap()
            .ends_with(" UTC by zmtp  ****"));
        assert_eq!(
            undated(&public),
            "#   ZeroMQ CURVE Public Certificate\n\
             #   Share it freely, but check through a trusted channel that it is\n\
             #   the owner's before adding it to a certificate directory.\n\
             \n\
             metadata\n    name = \"gateway 1\"\n    Hello = \"World\"\n\
             curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n"
        );
        let secret = c.to_secret_text(CertFormat::Czmq).unwrap();
        assert_eq!(
            undated(&secret),
            "#   ZeroMQ CURVE **Secret** Certificate\n\
             #   Keep this file private: whoever reads it can act as its owner.\n\
             \n\
             metadata\n    name = \"gateway 1\"\n    Hello = \"World\"\n\
             curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n    \
             secret-key = \"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6\"\n"
        );
    }

    #[test]
    fn pyzmq_layout_is_exact() {
        let c = fixed();
        let public = c.to_public_text(CertFormat::Pyzmq).unwrap();
        assert_eq!(
            undated(&public),
            "#   ZeroMQ CURVE Public Certificate\n\
             #   Share it freely, but check through a trusted channel that it is\n\
             #   the owner's before adding it to a certificate directory.\n\
             \n\
             metadata\n    name = gateway 1\n    Hello = World\n\
             curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n"
        );
        let secret = c.to_secret_text(CertFormat::Pyzmq).unwrap();
        assert_eq!(
            undated(&secret),
            "#   ZeroMQ CURVE **Secret** Certificate\n\
             #   Keep this file private: whoever reads it can act as its owner.\n\
             \n\
             metadata\n    name = gateway 1\n    Hello = World\n\
             curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n    \
             secret-key = \"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6\"\n"
        );
        // Values that would not read back unquoted are quoted.
        let awkward = Certificate::from_public(c.public)
            .with_metadata("hash", "a#b")
            .with_metadata("padded", " x ")
            .with_metadata("empty", "")
            .with_metadata("quote", "'q'");
        let text = awkward.to_public_text(CertFormat::Pyzmq).unwrap();
        assert!(text.contains(
            "metadata\n    hash = \"a#b\"\n    padded = \" x \"\n    empty = \"\"\n    \
             quote = \"'q'\"\ncurve\n"
        ));
        assert_eq!(
            Certificate::parse(&text).unwrap().metadata,
            awkward.metadata
        );
    }

    #[test]
    fn unquoted_keys_may_hold_a_hash() {
        // The fixed secret key with a `#` in it (still 32 octets).
        let secret_text = format!("J#{}", &SECRET[2..]);
        let secret = CurveSecretKey::from_z85(&secret_text).unwrap();
        let public = secret.public_key().to_z85();
        let text = format!(
            "curve\n    public-key = '{public}'\n    secret-key = {secret_text}   # hand-written\n"
        );
        let c = Certificate::parse(&text).unwrap();
        assert_eq!(c.secret.unwrap().expose(), secret.expose());
        let junk = format!("curve\n    public-key = {public} trailing\n");
        assert!(matches!(
            Certificate::parse(&junk),
            Err(CertError::Parse { line: 2, .. })
        ));
    }

    #[test]
    fn unquoted_values_end_at_a_comment_and_bare_names_are_empty() {
        let text = format!(
            "metadata\n    a = b#c\n    d = e f   # note\n    bare\n\tg = h\ncurve\n    \
             public-key = {PUBLIC}\n"
        );
        let c = Certificate::parse(&text).unwrap();
        assert_eq!(c.public.to_z85(), PUBLIC);
        let pairs: Vec<(&str, &str)> = c
            .metadata
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(pairs, [("a", "b"), ("d", "e f"), ("bare", ""), ("g", "h")]);
    }

    #[test]
    fn parses_both_layouts_and_quoting_styles() {
        let czmq = "#   ZeroMQ CURVE Public Certificate\n\nmetadata\n    name = \"a b\"\n    \
                    quoted = 'x # y'  # comment\ncurve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n";
        let c = Certificate::parse(czmq).unwrap();
        assert_eq!(c.public.to_z85(), PUBLIC);
        assert!(c.secret.is_none());
        assert_eq!(
            c.metadata,
            vec![
                ("name".to_owned(), "a b".to_owned()),
                ("quoted".to_owned(), "x # y".to_owned())
            ]
        );
        let pyzmq = format!(
            "# by pyzmq\r\nmetadata\r\n    owner = bob smith\r\ncurve\r\n    public-key = \"{PUBLIC}\"\r\n    secret-key = \"{SECRET}\"\r\n"
        );
        let c = Certificate::parse(&pyzmq).unwrap();
        assert!(c.secret.is_some());
        assert_eq!(
            c.metadata,
            vec![("owner".to_owned(), "bob smith".to_owned())]
        );
    }

    #[test]
    fn bad_certificates_are_typed() {
        let key_line = |k: &str| format!("curve\n    public-key = \"{k}\"\n");
        assert!(matches!(
            Certificate::parse(&key_line("short")),
            Err(CertError::BadKey { line: 2, .. })
        ));
        assert!(matches!(
            Certificate::parse(&key_line(&"~".repeat(40))),
            Err(CertError::BadKey { .. })
        ));
        assert!(matches!(
            Certificate::parse("metadata\n    a = b\n"),
            Err(CertError::Parse { line: 0, .. })
        ));
        assert!(matches!(
            Certificate::parse("    orphan = 1\n"),
            Err(CertError::Parse { line: 1, .. })
        ));
        assert!(matches!(
            Certificate::parse("metadata\n    a = \"open\n"),
            Err(CertError::Parse { line: 2, .. })
        ));
        let other = Certificate::generate().unwrap();
        let mismatched = format!(
            "curve\n    public-key = \"{}\"\n    secret-key = \"{SECRET}\"\n",
            other.public.to_z85()
        );
        assert!(matches!(
            Certificate::parse(&mismatched),
            Err(CertError::KeyMismatch)
        ));
        let twice =
            format!("curve\n    public-key = \"{PUBLIC}\"\n    public-key = \"{PUBLIC}\"\n");
        assert!(matches!(
            Certificate::parse(&twice),
            Err(CertError::Parse { line: 3, .. })
        ));
        // A secret key in Z85 that is one character short, and one with a character outside Z85.
        let short_secret = format!("curve\n    secret-key = \"{}\"\n", &SECRET[..39]);
        assert!(matches!(
            Certificate::parse(&short_secret),
            Err(CertError::BadKey {
                which: "secret-key",
                ..
            })
        ));
        let bad_char = format!("curve\n    secret-key = \"{}\\\"\n", &SECRET[..39]);
        assert!(matches!(
            Certificate::parse(&bad_char),
            Err(CertError::BadKey {
                which: "secret-key",
                ..
            })
        ));
        let zero = format!("curve\n    public-key = \"{}\"\n", "0".repeat(40));
        assert!(matches!(
            Certificate::parse(&zero),
            Err(CertError::BadKey { .. })
        ));
        let bad_meta = fixed().with_metadata("bad name", "v");
        assert!(matches!(
            bad_meta.to_public_text(CertFormat::Czmq),
            Err(CertError::BadMetadata(_))
        ));
        let bad_value = fixed().with_metadata("ok", "a\"b");
        assert!(bad_value.to_secret_text(CertFormat::Pyzmq).is_err());
        let two_lines = fixed().with_metadata("ok", "a\nb");
        assert!(two_lines.to_public_text(CertFormat::Czmq).is_err());
        // pyzmq would read this line as the certificate's key.
        let key_like = fixed().with_metadata("secret-key-hint", "x");
        assert!(matches!(
            key_like.to_public_text(CertFormat::Pyzmq),
            Err(CertError::BadMetadata(_))
        ));
        assert!(fixed()
            .public_only()
            .to_secret_text(CertFormat::Czmq)
            .is_err());
    }

    #[test]
    fn debug_redacts_the_secret() {
        let s = format!("{:?}", fixed());
        assert!(!s.contains(SECRET), "{s}");
        assert!(s.contains(PUBLIC));
    }

    #[test]
    fn save_and_load_in_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        for (format, public_name, secret_name) in [
            (CertFormat::Czmq, "node", "node_secret"),
            (CertFormat::Pyzmq, "node", "node.key_secret"),
        ] {
            let base = dir.path().join(format!("{format:?}")).join(public_name);
            std::fs::create_dir_all(base.parent().unwrap()).unwrap();
            let c = fixed();
            let (p, s) = c.save(&base, format).unwrap();
            assert_eq!(s.file_name().unwrap(), secret_name);
            let public = Certificate::load(&p).unwrap();
            assert_eq!(public.public, c.public);
            assert!(public.secret.is_none());
            let secret = Certificate::load(&s).unwrap();
            assert_eq!(
                secret.secret.unwrap().expose(),
                c.secret.as_ref().unwrap().expose()
            );
            assert_eq!(secret.metadata, c.metadata);
            assert_eq!(public.metadata, c.metadata);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&s).unwrap().permissions().mode();
                assert_eq!(mode & 0o077, 0, "secret file is private");
            }
        }
    }

    #[test]
    fn public_directory_loads_both_formats_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let a = Certificate::generate().unwrap().with_metadata("who", "a");
        let b = Certificate::generate().unwrap().with_metadata("who", "b");
        a.save(&dir.path().join("alice"), CertFormat::Czmq).unwrap();
        b.save(&dir.path().join("bob"), CertFormat::Pyzmq).unwrap();
        std::fs::write(dir.path().join("README"), "not a certificate\n").unwrap();
        std::fs::File::create(dir.path().join("huge"))
            .unwrap()
            .set_len(MAX_CERT_FILE + 1)
            .unwrap();
        // Hidden files and subdirectories are not read, even when they hold certificates.
        let c = Certificate::generate().unwrap();
        c.save_public(&dir.path().join(".hidden"), CertFormat::Czmq)
            .unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        c.save_public(&dir.path().join("sub/carol"), CertFormat::Czmq)
            .unwrap();
        let loaded = Certificate::load_public_dir(dir.path()).unwrap();
        let names: Vec<_> = loaded
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["alice", "bob.key"]);
        assert_eq!(loaded[0].1.public, a.public);
        assert_eq!(loaded[0].1.metadata, a.metadata);
        assert_eq!(loaded[1].1.public, b.public);
        assert_eq!(loaded[1].1.metadata, b.metadata);
        assert!(loaded.iter().all(|(_, c)| c.secret.is_none()));
        assert!(Certificate::load_public_dir(&dir.path().join("missing")).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn saving_never_writes_through_a_link_or_into_a_readable_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "untouched").unwrap();
        let base = dir.path().join("node");
        std::os::unix::fs::symlink(&elsewhere, dir.path().join("node_secret")).unwrap();
        std::fs::write(&base, "old public").unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o666)).unwrap();
        let (_, secret) = fixed().save(&base, CertFormat::Czmq).unwrap();
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "untouched");
        let meta = std::fs::symlink_metadata(&secret).unwrap();
        assert!(meta.is_file(), "the link was replaced by a file");
        assert_eq!(meta.permissions().mode() & 0o077, 0);
        assert!(Certificate::load(&secret).unwrap().secret.is_some());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn oversized_files_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::File::create(&path)
            .unwrap()
            .set_len(MAX_CERT_FILE + 1)
            .unwrap();
        assert!(matches!(
            Certificate::load(&path),
            Err(CertError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_date_is_a_plausible_utc_time() {
        let d = date_time_utc();
        assert_eq!(d.len(), "2026-11-22 10:00:00 UTC".len(), "{d}");
        let year: i32 = d[..4].parse().unwrap();
        assert!(year >= 2024, "{d}");
    }
}
