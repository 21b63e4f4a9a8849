//! The server's cookie keys (RFC 26 §"The WELCOME Command"): "The server MUST discard from its
//! memory the cookie key after a short interval, for example 60 seconds."
//!
//! One key seals every cookie for `rotation` after it is made; then it is demoted and kept for one
//! more `rotation` only to open cookies already handed out, and the next HELLO makes a fresh key.
//! So a client has at least `rotation` between WELCOME and INITIATE, and no key opens anything
//! more than `2 × rotation` after it was made. Keys are shared by all connections of a socket, so
//! the server keeps no secret per connection between HELLO and a valid INITIATE: the cookie
//! carries C' and s'. Time comes from the `now` the session passes in.
//!
//! Keys leave memory on time even when no HELLO comes: [`CookieJar::housekeeping`] (called by the
//! socket's timer through `MechanismConfig::housekeeping`) demotes and drops them when due, and
//! says when it is next needed. A dropped key is wiped: each is a [`PrecomputedBox`], whose
//! implementations zeroize their key on drop (`salsa_simd::XSalsa20Poly1305Key` for
//! `SystemCrypto`).

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
    /// Seals new cookies (and opens them) until it is `rotation` old.
    current: Option<CookieKey>,
    /// Only opens cookies, until it is `2 × rotation` old.
    previous: Option<CookieKey>,
}

impl Ring {
    /// Demotes the current key once it has sealed for a whole rotation and drops (wipes) any key
    /// old enough to open nothing more.
    fn expire(&mut self, now: Instant, rotation: Duration) {
        let age = |key: &CookieKey| now.saturating_duration_since(key.made);
        if self.current.as_ref().is_some_and(|k| age(k) >= rotation) {
            // The previous key is at least a rotation older than the current one (a key is only
            // made once its predecessor was demoted), so it is dead by now: replacing it loses
            // nothing.
            self.previous = self.current.take();
        }
        if self
            .previous
            .as_ref()
            .is_some_and(|k| age(k) >= rotation.saturating_mul(2))
        {
            self.previous = None;
        }
    }

    /// When `expire` next has something to do; `None` when no key is held.
    fn next_change(&self, rotation: Duration) -> Option<Instant> {
        let demote = self
            .current
            .as_ref()
            .and_then(|k| k.made.checked_add(rotation));
        let drop = self
            .previous
            .as_ref()
            .and_then(|k| k.made.checked_add(rotation.saturating_mul(2)));
        demote.into_iter().chain(drop).min()
    }
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
        now.saturating_duration_since(key.made) < self.rotation.saturating_mul(2)
    }

    /// Seals a cookie's plaintext in place under the current key, rotating first when it is due.
    pub(crate) fn seal(
        &self,
        now: Instant,
        nonce: &[u8; 24],
        buf: &mut [u8],
    ) -> Result<Tag, Error> {
        let mut ring = self.ring();
        ring.expire(now, self.rotation);
        if ring.current.is_none() {
            ring.current = Some(CookieKey {
                sealer: self.crypto.cookie_box()?,
                made: now,
            });
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
        let mut ring = self.ring();
        ring.expire(now, self.rotation);
        for key in [&ring.current, &ring.previous].into_iter().flatten() {
            // A failed open leaves `buf` untouched, so the next key sees the same ciphertext.
            if self.usable(key, now) && key.sealer.open(nonce, buf, tag).is_ok() {
                return Ok(());
            }
        }
        Err(ProtocolError::Cryptographic.into())
    }

    /// Demotes and drops the keys that are due at `now`; returns when to be called next. With
    /// no key held that is one rotation away, since a HELLO may make a key at any moment: a key
    /// made just after this call is then seen before it is a rotation old, so no key outlives
    /// `2 × rotation` by more than the timer's lateness.
    pub(crate) fn housekeeping(&self, now: Instant) -> Option<Instant> {
        let mut ring = self.ring();
        ring.expire(now, self.rotation);
        ring.next_change(self.rotation)
            .or_else(|| now.checked_add(self.rotation))
    }

    /// How many keys are held (tests only).
    #[cfg(test)]
    pub(crate) fn keys_held(&self) -> usize {
        let ring = self.ring();
        usize::from(ring.current.is_some()) + usize::from(ring.previous.is_some())
    }

    /// When each key held was made (tests only).
    #[cfg(test)]
    pub(crate) fn keys_made(&self) -> Vec<Instant> {
        let ring = self.ring();
        [&ring.current, &ring.previous]
            .into_iter()
            .flatten()
            .map(|k| k.made)
            .collect()
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
        // The first key is dead at 120 s (and the open that finds so drops it).
        assert!(!opens(&jar, t0 + Duration::from_secs(120), &first));
        assert!(opens(&jar, t0 + Duration::from_secs(120), &second));
        // Two more rotations drop it from memory altogether.
        let _third = sealed(&jar, t0 + Duration::from_secs(122));
        let _fourth = sealed(&jar, t0 + Duration::from_secs(183));
        assert!(!opens(&jar, t0 + Duration::from_secs(183), &second));
    }

    #[test]
    fn housekeeping_drops_keys_from_an_idle_jar() {
        let rotation = Duration::from_secs(60);
        let jar = CookieJar::new(Arc::new(SystemCrypto), rotation);
        let t0 = Instant::now();
        // Nothing held: look again in one rotation, in case a HELLO makes a key meanwhile.
        assert_eq!(jar.housekeeping(t0), Some(t0 + rotation));
        let cookie = sealed(&jar, t0);
        assert_eq!(jar.keys_made(), vec![t0]);
        // Next due: the key's demotion, a rotation after it was made.
        assert_eq!(
            jar.housekeeping(t0 + Duration::from_secs(10)),
            Some(t0 + rotation)
        );
        assert_eq!(jar.keys_held(), 1);
        // Demoted at one rotation: it still opens, it seals no more, and it is due to go at two.
        assert_eq!(jar.housekeeping(t0 + rotation), Some(t0 + rotation * 2));
        assert_eq!(jar.keys_held(), 1);
        assert!(opens(&jar, t0 + rotation + Duration::from_secs(1), &cookie));
        // No HELLO came: at two rotations housekeeping alone wipes it.
        assert_eq!(jar.housekeeping(t0 + rotation * 2), Some(t0 + rotation * 3));
        assert_eq!(jar.keys_held(), 0);
        assert!(!jar.keys_made().contains(&t0));
        assert!(!opens(&jar, t0 + rotation * 2, &cookie));
        // Sealing still works afterwards, with a fresh key.
        let later = t0 + rotation * 2 + Duration::from_secs(1);
        let fresh = sealed(&jar, later);
        assert!(opens(&jar, later, &fresh));
        assert_eq!(jar.keys_made(), vec![later]);
    }

    #[test]
    fn housekeeping_names_the_earliest_change() {
        let rotation = Duration::from_secs(60);
        let jar = CookieJar::new(Arc::new(SystemCrypto), rotation);
        let t0 = Instant::now();
        let first = sealed(&jar, t0);
        // A HELLO at 70 s demotes the first key and makes a second.
        let t1 = t0 + Duration::from_secs(70);
        let second = sealed(&jar, t1);
        assert_eq!(jar.keys_held(), 2);
        // The first key goes at 120 s, before the second is demoted at 130 s.
        assert_eq!(jar.housekeeping(t1), Some(t0 + rotation * 2));
        assert_eq!(jar.housekeeping(t0 + rotation * 2), Some(t1 + rotation));
        assert_eq!(jar.keys_made(), vec![t1]);
        assert!(!opens(&jar, t0 + rotation * 2, &first));
        assert!(opens(&jar, t0 + rotation * 2, &second));
        // A late timer: at 190 s the second is past its demotion and its death at once.
        assert_eq!(jar.housekeeping(t1 + rotation * 2), Some(t1 + rotation * 3));
        assert_eq!(jar.keys_held(), 0);
    }

    #[test]
    fn a_long_idle_jar_never_opens_an_expired_cookie() {
        // Housekeeping never ran: open and seal expire keys themselves.
        let rotation = Duration::from_secs(60);
        let jar = CookieJar::new(Arc::new(SystemCrypto), rotation);
        let t0 = Instant::now();
        let cookie = sealed(&jar, t0);
        assert!(!opens(&jar, t0 + rotation * 5, &cookie));
        assert_eq!(jar.keys_held(), 0);
        let _ = sealed(&jar, t0 + rotation * 5);
        assert_eq!(jar.keys_made(), vec![t0 + rotation * 5]);
    }

    #[test]
    fn huge_rotations_do_not_overflow() {
        let jar = CookieJar::new(Arc::new(SystemCrypto), Duration::MAX);
        let t0 = Instant::now();
        let cookie = sealed(&jar, t0);
        assert!(opens(&jar, t0 + Duration::from_secs(3600), &cookie));
        // Nothing representable is due: never.
        assert_eq!(jar.housekeeping(t0), None);
    }
}
