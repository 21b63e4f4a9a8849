//! Helpers shared by the threat-model tests (`threats_*.rs`): fixed long-term keys, a link that
//! moves bytes between the two ends of a `zmtp_core::testing::Pair` while recording (and, when
//! asked, altering) every octet, and a splitter that cuts a recorded ZMTP stream into frames.

#![allow(dead_code)] // each threat file uses its own subset

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use zmtp_core::testing::{End, Pair};
use zmtp_core::{Error, Event, Session, SessionConfig, SocketType};
use zmtp_mechanisms::{
    CurveClientConfig, CurveKeyPair, CurvePublicKey, CurveSecretKey, CurveServerConfig,
    CurveTestEphemerals,
};

/// Octets of a ZMTP 3.x greeting.
pub const GREETING_LEN: usize = 64;

/// A long-term key pair from a fixed seed, so failures reproduce (`seed` must not be 0).
pub fn keypair(seed: u8) -> CurveKeyPair {
    assert_ne!(seed, 0);
    let mut bytes = [seed; 32];
    // Make the 32 octets differ from each other, so no key is a run of one octet value.
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = b.wrapping_add((i as u8).wrapping_mul(37));
    }
    CurveKeyPair::from_secret(CurveSecretKey::from_bytes(bytes).unwrap())
}

/// The server key pair most tests use (derived once: an X25519 costs milliseconds in debug).
pub fn server_keys() -> CurveKeyPair {
    static KEYS: OnceLock<CurveKeyPair> = OnceLock::new();
    KEYS.get_or_init(|| keypair(0x51)).clone()
}

/// The client key pair most tests use.
pub fn client_keys() -> CurveKeyPair {
    static KEYS: OnceLock<CurveKeyPair> = OnceLock::new();
    KEYS.get_or_init(|| keypair(0xC1)).clone()
}

/// Fixed "random" values for the testing-only fixed-ephemeral configs: the transient secret is
/// [`keypair`]`(seed)`'s, the nonces and cookie key are derived from `seed`.
pub fn ephemerals(seed: u8) -> CurveTestEphemerals {
    CurveTestEphemerals {
        transient_secret: *keypair(seed).secret.expose(),
        cookie_key: [seed ^ 0x11; 32],
        welcome_nonce: [seed ^ 0x22; 16],
        cookie_nonce: [seed ^ 0x33; 16],
        vouch_nonce: [seed ^ 0x44; 16],
    }
}

/// The heartbeat interval of [`fixed_configs`]' client.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// XSUB client (it sends SUBSCRIBE and heartbeats every [`HEARTBEAT`]), XPUB server (it delivers
/// subscriptions), with fixed ephemerals: every run writes the same octets, so a fresh session
/// fed an edited recording meets exactly the honest peer's octets.
pub fn fixed_configs() -> (Arc<SessionConfig>, Arc<SessionConfig>) {
    let (ck, sk) = (client_keys(), server_keys());
    let c = CurveClientConfig::with_fixed_ephemerals_for_testing_only(
        ck.secret.clone(),
        sk.public,
        ephemerals(0x0C),
    );
    let s = CurveServerConfig::with_fixed_ephemerals_for_testing_only(
        sk.secret.clone(),
        ephemerals(0x05),
    );
    let mut c = SessionConfig::new(SocketType::Xsub, Arc::new(c));
    c.heartbeat.interval = Some(HEARTBEAT);
    let s = SessionConfig::new(SocketType::Xpub, Arc::new(s));
    (Arc::new(c), Arc::new(s))
}

/// CURVE session configurations: a client pinned to `server.public`, and the server.
pub fn curve_configs(
    client: &CurveKeyPair,
    server: &CurveKeyPair,
    types: (SocketType, SocketType),
) -> (SessionConfig, SessionConfig) {
    let c = CurveClientConfig::new(client.secret.clone(), server.public);
    let s = CurveServerConfig::new(server.secret.clone());
    (
        SessionConfig::new(types.0, Arc::new(c)),
        SessionConfig::new(types.1, Arc::new(s)),
    )
}

/// A fresh CURVE pair with the default keys.
pub fn curve_pair(types: (SocketType, SocketType)) -> Pair {
    let (c, s) = curve_configs(&client_keys(), &server_keys(), types);
    Pair::new(c, s)
}

/// Which way octets travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// From the connecting side to the accepting side.
    ClientToServer,
    /// From the accepting side to the connecting side.
    ServerToClient,
}

/// Every octet each side wrote, in order (before any tampering).
#[derive(Clone, Debug, Default)]
pub struct Capture {
    /// What the client wrote.
    pub c2s: Vec<u8>,
    /// What the server wrote.
    pub s2c: Vec<u8>,
}

impl Capture {
    /// One direction's stream.
    pub fn stream(&self, dir: Dir) -> &[u8] {
        match dir {
            Dir::ClientToServer => &self.c2s,
            Dir::ServerToClient => &self.s2c,
        }
    }

    /// Total octets both ways.
    pub fn total(&self) -> usize {
        self.c2s.len() + self.s2c.len()
    }
}

/// One octet to alter on the way: `stream[offset] ^= mask` in direction `dir`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flip {
    /// The direction.
    pub dir: Dir,
    /// Offset in that direction's stream (the greeting is octets 0-63).
    pub offset: usize,
    /// The bits to flip (non-zero).
    pub mask: u8,
}

/// A pair whose every octet is recorded on its way, and optionally altered.
pub struct Link {
    /// The two sessions.
    pub pair: Pair,
    /// What each side wrote.
    pub capture: Capture,
    /// What each side received, after any alteration.
    pub delivered: Capture,
    /// The alteration to make, if any.
    pub flip: Option<Flip>,
    /// Whether the flip has been made.
    pub flipped: bool,
    /// When set, octets are handed over one at a time, and after each the receiver's count of
    /// application events (see [`seen`]) is noted here.
    pub trace: Option<Trace>,
}

/// The receiver's count of application events after each octet of each direction.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// After each client octet, the server's count.
    pub c2s: Vec<usize>,
    /// After each server octet, the client's count.
    pub s2c: Vec<usize>,
}

impl Trace {
    /// Events the receiver had completed before octet `offset` of direction `dir` arrived.
    pub fn before(&self, dir: Dir, offset: usize) -> usize {
        let counts = match dir {
            Dir::ClientToServer => &self.c2s,
            Dir::ServerToClient => &self.s2c,
        };
        match offset {
            0 => 0,
            n => counts[n - 1],
        }
    }
}

impl Link {
    /// A link over `pair`, with no alteration.
    pub fn new(pair: Pair) -> Link {
        Link {
            pair,
            capture: Capture::default(),
            delivered: Capture::default(),
            flip: None,
            flipped: false,
            trace: None,
        }
    }

    /// A link that alters one octet.
    pub fn with_flip(pair: Pair, flip: Flip) -> Link {
        Link {
            flip: Some(flip),
            ..Link::new(pair)
        }
    }

    /// Moves octets both ways until both sides are quiet. Returns octets moved.
    pub fn step(&mut self) -> usize {
        let mut moved = 0;
        for _ in 0..10_000 {
            let c = take_output(&mut self.pair.client.session);
            let s = take_output(&mut self.pair.server.session);
            if c.is_empty() && s.is_empty() {
                break;
            }
            moved += c.len() + s.len();
            let c = self.record(Dir::ClientToServer, c);
            let s = self.record(Dir::ServerToClient, s);
            let now = self.pair.now;
            match self.trace.as_mut() {
                None => {
                    deliver(&mut self.pair.server, &c, now);
                    deliver(&mut self.pair.client, &s, now);
                }
                Some(trace) => {
                    for b in c {
                        deliver(&mut self.pair.server, &[b], now);
                        trace.c2s.push(app_events(&self.pair.server.events));
                    }
                    for b in s {
                        deliver(&mut self.pair.client, &[b], now);
                        trace.s2c.push(app_events(&self.pair.client.events));
                    }
                }
            }
        }
        moved
    }

    fn record(&mut self, dir: Dir, mut bytes: Vec<u8>) -> Vec<u8> {
        let (sent, got) = match dir {
            Dir::ClientToServer => (&mut self.capture.c2s, &mut self.delivered.c2s),
            Dir::ServerToClient => (&mut self.capture.s2c, &mut self.delivered.s2c),
        };
        let start = sent.len();
        sent.extend_from_slice(&bytes);
        if let Some(f) = self.flip {
            if f.dir == dir && (start..start + bytes.len()).contains(&f.offset) {
                bytes[f.offset - start] ^= f.mask;
                self.flipped = true;
            }
        }
        got.extend_from_slice(&bytes);
        bytes
    }

    /// Runs the handshake; true when both sides are ready.
    pub fn handshake(&mut self) -> bool {
        self.step();
        self.pair.client.session.is_ready() && self.pair.server.session.is_ready()
    }

    /// Advances the virtual clock, fires due timers on both sides, then moves octets.
    pub fn advance(&mut self, by: Duration) {
        self.pair.now += by;
        let now = self.pair.now;
        for end in [&mut self.pair.client, &mut self.pair.server] {
            if end.error.is_none() {
                if let Err(e) = end.session.handle_timeout(now) {
                    end.error = Some(e);
                }
            }
        }
        self.step();
    }
}

/// Everything `session` has queued for the peer.
pub fn take_output(session: &mut Session) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = session.poll_transmit() {
        out.extend_from_slice(&chunk);
    }
    out
}

/// Feeds `bytes` to one end of a pair as the peer's, then drains its events (answering auth
/// requests with its authenticator). An end that has failed takes nothing more.
pub fn deliver(end: &mut End, bytes: &[u8], now: Instant) {
    if end.error.is_some() || bytes.is_empty() {
        return;
    }
    end.inbox.extend_from_slice(bytes);
    if let Err(e) = end.session.handle_input(&mut end.inbox, now) {
        end.error = Some(e);
    }
    drain(end, now);
}

/// Moves one end's events into `end.events`, answering auth requests.
pub fn drain(end: &mut End, now: Instant) {
    while let Some(ev) = end.session.poll_event() {
        if let Event::AuthRequest(req) = &ev {
            end.auth_requests.push(req.clone());
            if let Some(auth) = end.authenticator.as_mut() {
                let reply = auth(req);
                if let Err(e) = end.session.handle_auth_reply(reply, now) {
                    end.error.get_or_insert(e);
                }
            }
        }
        end.events.push(ev);
    }
}

/// What the application saw: messages and subscriptions, comparable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A whole message.
    Message(Vec<Bytes>),
    /// A subscription.
    Subscribe(Bytes),
    /// A cancellation.
    Cancel(Bytes),
}

/// How many of `events` the application sees (messages and subscriptions).
pub fn app_events(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Message(_) | Event::Subscribe(_) | Event::Cancel(_)
            )
        })
        .count()
}

/// The application-visible events of one end, in order.
pub fn seen(events: &[Event]) -> Vec<Seen> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(Seen::Message(m.to_vec())),
            Event::Subscribe(t) => Some(Seen::Subscribe(t.clone())),
            Event::Cancel(t) => Some(Seen::Cancel(t.clone())),
            _ => None,
        })
        .collect()
}

/// One frame of a recorded stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireFrame {
    /// Offset of the flags octet in the stream.
    pub offset: usize,
    /// Flags octet plus size field: 2 or 9.
    pub header_len: usize,
    /// The flags octet.
    pub flags: u8,
    /// The body.
    pub body: Vec<u8>,
}

impl WireFrame {
    /// Whether the COMMAND flag is set.
    pub fn is_command(&self) -> bool {
        self.flags & 0x04 != 0
    }

    /// The command name (or, for a CURVE traffic frame, "MESSAGE"), if the body starts with a
    /// length-prefixed name.
    pub fn name(&self) -> Option<String> {
        let len = usize::from(*self.body.first()?);
        let name = self.body.get(1..1 + len)?;
        Some(String::from_utf8_lossy(name).into_owned())
    }

    /// The octet range of the whole frame in the stream.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.header_len + self.body.len()
    }

    /// The octet range of the body in the stream.
    pub fn body_range(&self) -> std::ops::Range<usize> {
        self.offset + self.header_len..self.offset + self.header_len + self.body.len()
    }
}

/// Cuts a recorded stream (greeting first) into its frames. Panics on a truncated stream: a
/// recording from honest sessions is always whole.
pub fn split_stream(stream: &[u8]) -> Vec<WireFrame> {
    assert!(stream.len() >= GREETING_LEN, "no greeting");
    let mut at = GREETING_LEN;
    let mut frames = Vec::new();
    while at < stream.len() {
        let flags = stream[at];
        let (header_len, len) = if flags & 0x02 != 0 {
            let mut size = [0u8; 8];
            size.copy_from_slice(&stream[at + 1..at + 9]);
            (9, u64::from_be_bytes(size) as usize)
        } else {
            (2, usize::from(stream[at + 1]))
        };
        let body = stream[at + header_len..at + header_len + len].to_vec();
        frames.push(WireFrame {
            offset: at,
            header_len,
            flags,
            body,
        });
        at += header_len + len;
    }
    frames
}

/// Whether `needle` occurs anywhere in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The first `n`-octet window of `needle` found in `haystack`, as (window start, offset).
pub fn any_window(haystack: &[u8], needle: &[u8], n: usize) -> Option<(usize, usize)> {
    assert!(needle.len() >= n);
    (0..=needle.len() - n).find_map(|i| {
        let w = &needle[i..i + n];
        haystack.windows(n).position(|h| h == w).map(|at| (i, at))
    })
}

/// A session at virtual time `now` (the peer address is only used for ZAP and Peer-Address).
pub fn session(config: &Arc<SessionConfig>, now: Instant) -> Session {
    Session::new(Arc::clone(config), "127.0.0.1:40000", now)
}

/// Feeds `bytes` to `session`, returning the events it produced and its error, if any. What the
/// session leaves unconsumed (a partial frame) is dropped: use [`feed_with`] to go on later.
pub fn feed(session: &mut Session, bytes: &[u8], now: Instant) -> (Vec<Event>, Option<Error>) {
    feed_with(session, &mut BytesMut::new(), bytes, now)
}

/// Like [`feed`], keeping what the session leaves unconsumed in `inbox` for the next call.
pub fn feed_with(
    session: &mut Session,
    inbox: &mut BytesMut,
    bytes: &[u8],
    now: Instant,
) -> (Vec<Event>, Option<Error>) {
    inbox.extend_from_slice(bytes);
    let r = session.handle_input(inbox, now);
    let mut events = Vec::new();
    while let Some(ev) = session.poll_event() {
        events.push(ev);
    }
    (events, r.err())
}

/// A CURVE public key from its raw octets (for keys seen on the wire).
pub fn public_from(bytes: &[u8]) -> CurvePublicKey {
    CurvePublicKey::from_bytes(bytes.try_into().unwrap()).unwrap()
}

/// The attacker's own NaCl primitives, as CurveZMQ uses them (X25519, HSalsa20, XSalsa20-Poly1305
/// with the tag first), built from the crates the workspace already uses, not from the library
/// under test.
pub mod nacl {
    use crypto_secretbox::aead::generic_array::GenericArray;
    use crypto_secretbox::aead::{AeadInPlace, KeyInit};
    use crypto_secretbox::{Kdf, XSalsa20Poly1305};
    use curve25519_dalek::montgomery::MontgomeryPoint;

    /// X25519(`secret`, `public`), the secret clamped (RFC 7748).
    pub fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
        MontgomeryPoint(*public).mul_clamped(*secret).to_bytes()
    }

    /// X25519(`secret`, 9): the public key of `secret`.
    pub fn public_key(secret: &[u8; 32]) -> [u8; 32] {
        MontgomeryPoint::mul_base_clamped(*secret).to_bytes()
    }

    /// `crypto_box_beforenm`: HSalsa20 of the X25519 shared secret, with a zero nonce.
    pub fn box_key(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
        hsalsa20(&x25519(secret, public))
    }

    /// HSalsa20(`key`, 16 zero octets).
    pub fn hsalsa20(key: &[u8; 32]) -> [u8; 32] {
        <XSalsa20Poly1305 as Kdf>::kdf(GenericArray::from_slice(key), &GenericArray::default())
            .into()
    }

    /// Opens `tag` + `ciphertext` under `key` and `nonce`; `None` when the tag does not verify.
    pub fn open(
        key: &[u8; 32],
        nonce: &[u8; 24],
        tag: &[u8],
        ciphertext: &[u8],
    ) -> Option<Vec<u8>> {
        let mut buf = ciphertext.to_vec();
        XSalsa20Poly1305::new(GenericArray::from_slice(key))
            .decrypt_in_place_detached(
                GenericArray::from_slice(nonce),
                b"",
                &mut buf,
                GenericArray::from_slice(tag),
            )
            .ok()?;
        Some(buf)
    }

    /// Seals `plaintext` under `key` and `nonce`: the 16-octet tag, then the ciphertext.
    pub fn seal(key: &[u8; 32], nonce: &[u8; 24], plaintext: &[u8]) -> Vec<u8> {
        let mut buf = plaintext.to_vec();
        let tag = XSalsa20Poly1305::new(GenericArray::from_slice(key))
            .encrypt_in_place_detached(GenericArray::from_slice(nonce), b"", &mut buf)
            .expect("sealing never fails");
        let mut out = tag.to_vec();
        out.extend_from_slice(&buf);
        out
    }

    /// A 24-octet nonce: a prefix then the rest.
    pub fn nonce(prefix: &[u8], rest: &[u8]) -> [u8; 24] {
        let mut n = [0u8; 24];
        n[..prefix.len()].copy_from_slice(prefix);
        n[prefix.len()..].copy_from_slice(rest);
        n
    }
}
