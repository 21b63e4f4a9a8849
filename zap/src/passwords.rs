//! PLAIN credentials: a `user=password` file, re-read when it changes.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::files::{read_bounded, ReadFailure};

/// Largest password file read (1 MiB).
pub const MAX_PASSWORD_FILE: u64 = 1 << 20;

/// Why a password file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_PASSWORD_FILE`].
    #[error("{path}: {size} bytes is more than the {MAX_PASSWORD_FILE}-byte limit")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// A line is not `user=password`.
    #[error("{path}:{line}: expected user=password")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
}

/// A set of PLAIN users and their passwords (kept zeroized, compared in constant time).
#[derive(Default, Clone)]
pub struct Passwords {
    users: HashMap<String, Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passwords")
            .field("users", &self.users.len())
            .finish()
    }
}

impl Passwords {
    /// An empty set.
    pub fn new() -> Passwords {
        Passwords::default()
    }

    /// Adds or replaces a user.
    pub fn insert(&mut self, user: impl Into<String>, password: impl AsRef<[u8]>) {
        self.users
            .insert(user.into(), Zeroizing::new(password.as_ref().to_vec()));
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether `user` exists with exactly `password`. The password comparison takes the same
    /// time wherever the first difference is.
    pub fn check(&self, user: &[u8], password: &[u8]) -> bool {
        let Ok(user) = std::str::from_utf8(user) else {
            return false;
        };
        match self.users.get(user) {
            Some(stored) => bool::from(stored.as_slice().ct_eq(password)),
            None => false,
        }
    }

    /// Parses the file format: one `user=password` a line (the password is everything after the
    /// first `=`, spaces included); blank lines and lines starting with `#` are skipped; a
    /// trailing `\r` is dropped. Any other line is an error, so a typo never silently locks a
    /// user out.
    pub fn parse(text: &str, path: &Path) -> Result<Passwords, PasswordFileError> {
        let mut out = Passwords::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            match line.split_once('=') {
                Some((user, password)) if !user.is_empty() && user.len() <= 255 => {
                    out.insert(user, password)
                }
                _ => {
                    return Err(PasswordFileError::Syntax {
                        path: path.to_owned(),
                        line: i + 1,
                    })
                }
            }
        }
        Ok(out)
    }

    /// Reads and parses a file, refusing one larger than [`MAX_PASSWORD_FILE`] before reading.
    pub fn load(path: &Path) -> Result<Passwords, PasswordFileError> {
        let text = read_bounded(path, MAX_PASSWORD_FILE).map_err(|e| match e {
            ReadFailure::Io(source) => PasswordFileError::Io {
                path: path.to_owned(),
                source,
            },
            ReadFailure::TooLarge(size) => PasswordFileError::TooLarge {
                path: path.to_owned(),
                size,
            },
        })?;
        Passwords::parse(&text, path)
    }
}

/// A password file that is re-read whenever its modification time or size changes (checked at
/// each request). If a re-read fails, the last good contents stay in use and the failure is
/// logged, so a half-written file never locks everyone out or lets anyone in.
pub struct PasswordFile {
    path: PathBuf,
    state: Mutex<PasswordState>,
}

struct PasswordState {
    /// The file as it was when `passwords` were read.
    loaded: Option<(SystemTime, u64)>,
    passwords: Passwords,
    /// A state of the file that failed to load: not retried (nor logged) until it changes.
    failed: Option<Option<(SystemTime, u64)>>,
}

impl fmt::Debug for PasswordFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordFile")
            .field("path", &self.path)
            .finish()
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl PasswordFile {
    /// Loads the file now (errors are reported here, at configuration time).
    pub fn open(path: impl Into<PathBuf>) -> Result<PasswordFile, PasswordFileError> {
        let path = path.into();
        let st = stamp(&path);
        let passwords = Passwords::load(&path)?;
        Ok(PasswordFile {
            path,
            state: Mutex::new(PasswordState {
                loaded: st,
                passwords,
                failed: None,
            }),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks a user, re-reading the file first if it changed.
    pub fn check(&self, user: &[u8], password: &[u8]) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = stamp(&self.path);
        if now != state.loaded && state.failed != Some(now) {
            match Passwords::load(&self.path) {
                Ok(p) => {
                    tracing::debug!(path = %self.path.display(), users = p.len(), "password file reloaded");
                    *state = PasswordState {
                        loaded: now,
                        passwords: p,
                        failed: None,
                    };
                }
                Err(e) => {
                    tracing::warn!("password file not reloaded, keeping the last good one: {e}");
                    state.failed = Some(now);
                }
            }
        }
        state.passwords.check(user, password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_file_format() {
        let p = Passwords::parse(
            "# users\nadmin=secret\n\nbob=pa=ss word\r\n  # indented comment\ncarol=\n",
            Path::new("f"),
        )
        .unwrap();
        assert_eq!(p.len(), 3);
        assert!(p.check(b"admin", b"secret"));
        assert!(p.check(b"bob", b"pa=ss word"));
        assert!(p.check(b"carol", b""));
        assert!(!p.check(b"admin", b"secreT"));
        assert!(!p.check(b"admin", b"secret "));
        assert!(!p.check(b"nobody", b""));
        assert!(!p.check(&[0xff], b""));
    }

    #[test]
    fn a_bad_line_names_the_line() {
        let e = Passwords::parse("a=b\njunk\n", Path::new("pw")).unwrap_err();
        assert!(
            matches!(e, PasswordFileError::Syntax { line: 2, .. }),
            "{e}"
        );
        assert!(Passwords::parse("=nouser\n", Path::new("pw")).is_err());
    }

    #[test]
    fn oversized_files_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_PASSWORD_FILE + 1).unwrap();
        assert!(matches!(
            Passwords::load(&path),
            Err(PasswordFileError::TooLarge { .. })
        ));
    }

    #[test]
    fn reloads_when_the_file_changes_and_keeps_the_last_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwords");
        std::fs::write(&path, "admin=one\n").unwrap();
        let file = PasswordFile::open(&path).unwrap();
        assert!(file.check(b"admin", b"one"));
        // A different size is a change even within the file system's timestamp granularity.
        std::fs::write(&path, "admin=two2\n").unwrap();
        assert!(file.check(b"admin", b"two2"));
        assert!(!file.check(b"admin", b"one"));
        std::fs::write(&path, "garbage line\n").unwrap();
        assert!(file.check(b"admin", b"two2"), "last good contents stay");
        std::fs::remove_file(&path).unwrap();
        assert!(file.check(b"admin", b"two2"));
    }

    #[test]
    fn debug_never_shows_passwords() {
        let mut p = Passwords::new();
        p.insert("admin", "hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
