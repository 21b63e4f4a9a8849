//! The server's cookie keys (RFC 26 §"The WELCOME Command"): "The server MUST discard from its
//! memory the cookie key after a short interval, for example 60 seconds."
//!
//! One key seals every cookie for `rotation` after it is made; then a fresh key takes over and
//! the old one is kept for one more `rotation` only to open cookies already handed out. So a
//! client has at least `rotation` between WELCOME and INITIATE, and no key opens anything more
//! than `2 × rotation` after it was made. Keys are shared by all connections of a socket, so the
//! server keeps no secret per connection between HELLO and a valid INITIATE: the cookie carries
//! C' and s'. Time comes from the `now` the session passes in.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use zmtp_core::{Error, ProtocolError};

use super::crypto::{CurveCrypto, PrecomputedBox, Tag};

/// How long a cookie key seals new cookies (libzmq makes one per connection; RFC 26 suggests 60 s).
pub(crate) const DEFAULT_ROTATION: Duration = Duration::from_secs(60);

struct CookieKey {
    sealer: Box<dyn PrecomputedBox>,
    made: Instant,
}

#[derive(Default)]
struct Ring {
    current: Option<CookieKey>,
    previous: Option<CookieKey>,
}

/// The rotating cookie keys of one server socket.
pub(crate) struct CookieJar {
    crypto: Arc<dyn CurveCrypto>,
    rotation: Duration,
    ring: Mutex<Ring>,
}

impl fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieJar")
            .field("rotation", &self.rotation)
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl CookieJar {
    pub(crate) fn new(crypto: Arc<dyn CurveCrypto>, rotation: Duration) -> CookieJar {
        CookieJar {
            crypto,
            rotation,
            ring: Mutex::new(Ring::default()),
        }
    }

    pub(crate) fn rotation(&self) -> Duration {
        self.rotation
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        // A panic elsewhere cannot leave the ring half-written: every update is one assignment.
        self.ring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn usable(&self, key: &CookieKey, now: Instant) -> bool {
        now.saturating_duration_since(key.made) < self.rotation * 2
    }

    /// Seals a cookie's plaintext in place under the current key, rotating first when it is due.
    pub(crate) fn seal(
        &self,
        now: Instant,
        nonce: &[u8; 24],
        buf: &mut [u8],
    ) -> Result<Tag, Error> {
        let mut ring = self.ring();
        let due = match &ring.current {
            None => true,
            Some(key) => now.saturating_duration_since(key.made) >= self.rotation,
        };
        if due {
            let fresh = CookieKey {
                sealer: self.crypto.cookie_box()?,
                made: now,
            };
            ring.previous = ring.current.replace(fresh);
        }
        let current = ring.current.as_ref().ok_or(ProtocolError::Cryptographic)?;
        current.sealer.seal(nonce, buf)
    }

    /// Opens a cookie in place with whichever live key sealed it. `Cryptographic` when none does
    /// (forged, tampered, or older than its key).
    pub(crate) fn open(
        &self,
        now: Instant,
        nonce: &[u8; 24],
        buf: &mut [u8],
        tag: &Tag,
    ) -> Result<(), Error> {
        let ring = self.ring();
        for key in [&ring.current, &ring.previous].into_iter().flatten() {
            // A failed open leaves `buf` untouched, so the next key sees the same ciphertext.
            if self.usable(key, now) && key.sealer.open(nonce, buf, tag).is_ok() {
                return Ok(());
            }
        }
        Err(ProtocolError::Cryptographic.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curve::crypto::SystemCrypto;

    fn sealed(jar: &CookieJar, now: Instant) -> ([u8; 8], Tag) {
        let mut buf = *b"C'+s'...";
        let tag = jar.seal(now, &[1; 24], &mut buf).unwrap();
        (buf, tag)
    }

    fn opens(jar: &CookieJar, now: Instant, cookie: &([u8; 8], Tag)) -> bool {
        let mut buf = cookie.0;
        let ok = jar.open(now, &[1; 24], &mut buf, &cookie.1).is_ok();
        if ok {
            assert_eq!(&buf, b"C'+s'...");
        }
        ok
    }

    #[test]
    fn a_cookie_lives_between_one_and_two_rotations() {
        let jar = CookieJar::new(Arc::new(SystemCrypto), Duration::from_secs(60));
        let t0 = Instant::now();
        let first = sealed(&jar, t0);
        assert!(opens(&jar, t0 + Duration::from_secs(59), &first));
        // A new HELLO at 61 s rotates; the first key is kept as the previous one.
        let second = sealed(&jar, t0 + Duration::from_secs(61));
        assert!(opens(&jar, t0 + Duration::from_secs(100), &first));
        assert!(opens(&jar, t0 + Duration::from_secs(100), &second));
        // The first key is dead at 120 s even though it is still in the ring.
        assert!(!opens(&jar, t0 + Duration::from_secs(120), &first));
        assert!(opens(&jar, t0 + Duration::from_secs(120), &second));
        // Two more rotations drop it from memory altogether.
        let _third = sealed(&jar, t0 + Duration::from_secs(122));
        let _fourth = sealed(&jar, t0 + Duration::from_secs(183));
        assert!(!opens(&jar, t0 + Duration::from_secs(183), &second));
    }
}
