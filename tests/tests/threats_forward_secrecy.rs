//! Threat: an attacker records a CURVE session and later obtains both sides' long-term secret
//! keys, hoping to decrypt the recorded messages.
//! Defence: MESSAGE boxes are sealed under a key agreed between the two per-connection transient
//! keys, whose secrets never travel and are discarded with the connection, so no key the attacker
//! can form from the long-term secrets and the public keys on the wire opens a single box, while
//! the same attack given one transient secret (obtainable only through the testing-only fixed
//! ephemerals) opens them all.

mod threats_common;

use std::sync::Arc;

use bytes::Bytes;
use threats_common::{
    client_keys, ephemerals, keypair, nacl, server_keys, split_stream, Capture, Dir, Link,
};
use zmtp_core::testing::Pair;
use zmtp_core::{SessionConfig, SocketType};
use zmtp_mechanisms::{CurveClientConfig, CurveServerConfig};

const MARKER: &[u8] = b"forward-secret payload: the vault combination is 31-41-59";

/// A DEALER-ROUTER session: messages both ways, each carrying the marker.
fn record(client: CurveClientConfig, server: CurveServerConfig) -> Capture {
    let mut l = Link::new(Pair::new(
        SessionConfig::new(SocketType::Dealer, Arc::new(client)),
        SessionConfig::new(SocketType::Router, Arc::new(server)),
    ));
    assert!(l.handshake());
    let marker = Bytes::from_static(MARKER);
    l.pair
        .client
        .session
        .send_message(vec![Bytes::from_static(b"to-server"), marker.clone()])
        .unwrap();
    l.pair
        .server
        .session
        .send_message(vec![marker.clone()])
        .unwrap();
    l.pair
        .client
        .session
        .send_message(vec![marker.clone()])
        .unwrap();
    l.step();
    assert_eq!(l.pair.server.messages().len(), 2);
    assert_eq!(l.pair.client.messages().len(), 1);
    l.capture
}

/// What the attacker reads off the recording.
struct Wire {
    /// HELLO's body, WELCOME's body, INITIATE's body, READY's body.
    hello: Vec<u8>,
    welcome: Vec<u8>,
    initiate: Vec<u8>,
    ready: Vec<u8>,
    /// Every MESSAGE body, with its direction.
    messages: Vec<(Dir, Vec<u8>)>,
}

fn read(capture: &Capture) -> Wire {
    let body = |dir: Dir, name: &str| -> Vec<u8> {
        split_stream(capture.stream(dir))
            .into_iter()
            .find(|f| f.name().as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no {name}"))
            .body
    };
    let messages: Vec<(Dir, Vec<u8>)> = [Dir::ClientToServer, Dir::ServerToClient]
        .into_iter()
        .flat_map(|d| {
            split_stream(capture.stream(d))
                .into_iter()
                .filter(|f| f.name().as_deref() == Some("MESSAGE"))
                .map(move |f| (d, f.body))
        })
        .collect();
    // Client: two parts, then one; server: one.
    assert_eq!(messages.len(), 4);
    Wire {
        hello: body(Dir::ClientToServer, "HELLO"),
        welcome: body(Dir::ServerToClient, "WELCOME"),
        initiate: body(Dir::ClientToServer, "INITIATE"),
        ready: body(Dir::ServerToClient, "READY"),
        messages,
    }
}

fn key32(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().unwrap()
}

/// C', in clear in HELLO.
fn c_prime(w: &Wire) -> [u8; 32] {
    key32(&w.hello[80..112])
}

/// Opens HELLO's signature box with a candidate key.
fn open_hello(w: &Wire, key: &[u8; 32]) -> Option<Vec<u8>> {
    let nonce = nacl::nonce(b"CurveZMQHELLO---", &w.hello[112..120]);
    nacl::open(key, &nonce, &w.hello[120..136], &w.hello[136..200])
}

/// Opens WELCOME's box (S' and the cookie) with a candidate key.
fn open_welcome(w: &Wire, key: &[u8; 32]) -> Option<Vec<u8>> {
    let nonce = nacl::nonce(b"WELCOME-", &w.welcome[8..24]);
    nacl::open(key, &nonce, &w.welcome[24..40], &w.welcome[40..168])
}

fn open_initiate(w: &Wire, key: &[u8; 32]) -> Option<Vec<u8>> {
    let nonce = nacl::nonce(b"CurveZMQINITIATE", &w.initiate[105..113]);
    nacl::open(key, &nonce, &w.initiate[113..129], &w.initiate[129..])
}

fn open_ready(w: &Wire, key: &[u8; 32]) -> Option<Vec<u8>> {
    let nonce = nacl::nonce(b"CurveZMQREADY---", &w.ready[6..14]);
    nacl::open(key, &nonce, &w.ready[14..30], &w.ready[30..])
}

/// Opens one MESSAGE body with a candidate key, under either direction's nonce prefix.
fn open_message(body: &[u8], key: &[u8; 32]) -> Option<Vec<u8>> {
    [b"CurveZMQMESSAGEC", b"CurveZMQMESSAGES"]
        .into_iter()
        .find_map(|prefix| {
            let nonce = nacl::nonce(prefix, &body[8..16]);
            nacl::open(key, &nonce, &body[16..32], &body[32..])
        })
}

/// Every key the attacker can form: from each secret he holds with each public key he knows,
/// the NaCl box key and the bare X25519 output, and the secrets (bare and through HSalsa20) and
/// public keys themselves. A box key needs one secret of the pair: the transient ones he lacks.
fn candidate_keys(secrets: &[[u8; 32]], publics: &[[u8; 32]]) -> Vec<(String, [u8; 32])> {
    let mut keys = Vec::new();
    for (i, x) in secrets.iter().enumerate() {
        for (j, y) in publics.iter().enumerate() {
            keys.push((format!("box(secret {i}, public {j})"), nacl::box_key(x, y)));
            keys.push((
                format!("x25519(secret {i}, public {j})"),
                nacl::x25519(x, y),
            ));
        }
        keys.push((format!("secret {i}"), *x));
        keys.push((format!("hsalsa20(secret {i})"), nacl::hsalsa20(x)));
    }
    for (j, y) in publics.iter().enumerate() {
        keys.push((format!("public {j}"), *y));
    }
    keys
}

#[test]
fn long_term_secrets_and_every_public_key_open_no_message_box() {
    let (ck, sk) = (client_keys(), server_keys());
    let capture = record(
        CurveClientConfig::new(ck.secret.clone(), sk.public),
        CurveServerConfig::new(sk.secret.clone()),
    );
    let w = read(&capture);
    let c_prime = c_prime(&w);

    // What the attacker can open with the long-term secrets, to get every public key there is:
    // HELLO and WELCOME are boxes between C' and S, so the server's secret opens both, and
    // WELCOME gives up S'. (These succeed: the attacker's tools are the real ones.)
    let hello_key = nacl::box_key(sk.secret.expose(), &c_prime);
    assert_eq!(open_hello(&w, &hello_key), Some(vec![0u8; 64]));
    let welcome = open_welcome(&w, &hello_key).expect("s opens WELCOME");
    let s_prime = key32(&welcome[..32]);
    assert_ne!(s_prime, *sk.public.as_bytes());

    let secrets = [*ck.secret.expose(), *sk.secret.expose()];
    let publics = [
        *ck.public.as_bytes(),
        *sk.public.as_bytes(),
        c_prime,
        s_prime,
    ];
    let keys = candidate_keys(&secrets, &publics);
    assert_eq!(keys.len(), 2 * 4 * 2 + 2 * 2 + 4);
    for (name, key) in &keys {
        for (i, (dir, body)) in w.messages.iter().enumerate() {
            assert_eq!(
                open_message(body, key),
                None,
                "{name} opened MESSAGE {i} ({dir:?})"
            );
        }
        // Nor the boxes under the same session key: INITIATE (with the vouch and the client's
        // metadata) and READY.
        assert_eq!(open_initiate(&w, key), None, "{name} opened INITIATE");
        assert_eq!(open_ready(&w, key), None, "{name} opened READY");
    }
}

#[test]
fn control_with_the_transient_secret_every_box_opens() {
    // The client's transient secret c' is known here only because the testing-only constructor
    // pinned it. With it and S' (from WELCOME, which the server's long-term secret opens), the
    // attacker's same code opens every MESSAGE, READY and INITIATE, and the vouch inside.
    let (ck, sk) = (client_keys(), server_keys());
    let eph = ephemerals(0x3C);
    let c_transient = eph.transient_secret;
    let capture = record(
        CurveClientConfig::with_fixed_ephemerals_for_testing_only(
            ck.secret.clone(),
            sk.public,
            eph,
        ),
        CurveServerConfig::new(sk.secret.clone()),
    );
    let w = read(&capture);
    assert_eq!(c_prime(&w), nacl::public_key(&c_transient));
    let hello_key = nacl::box_key(sk.secret.expose(), &c_prime(&w));
    let s_prime = key32(&open_welcome(&w, &hello_key).unwrap()[..32]);
    let session_key = nacl::box_key(&c_transient, &s_prime);

    let mut opened = Vec::new();
    for (dir, body) in &w.messages {
        let plain = open_message(body, &session_key).expect("c' and S' open every MESSAGE");
        // Inner flags, then the part.
        opened.push((*dir, plain[0], plain[1..].to_vec()));
    }
    assert_eq!(
        opened,
        vec![
            (Dir::ClientToServer, 0x01, b"to-server".to_vec()),
            (Dir::ClientToServer, 0x00, MARKER.to_vec()),
            (Dir::ClientToServer, 0x00, MARKER.to_vec()),
            (Dir::ServerToClient, 0x00, MARKER.to_vec()),
        ]
    );
    assert!(open_ready(&w, &session_key).is_some());
    let initiate = open_initiate(&w, &session_key).expect("INITIATE opens");
    // C, then the vouch Box[C' + S](C->S'), which the client's long-term secret opens.
    assert_eq!(&initiate[..32], ck.public.as_bytes());
    let vouch_key = nacl::box_key(ck.secret.expose(), &s_prime);
    let vouch = nacl::open(
        &vouch_key,
        &nacl::nonce(b"VOUCH---", &initiate[32..48]),
        &initiate[48..64],
        &initiate[64..128],
    )
    .expect("the vouch opens");
    assert_eq!(&vouch[..32], &c_prime(&w));
    assert_eq!(&vouch[32..], sk.public.as_bytes());
}

#[test]
fn one_sessions_transient_secret_opens_no_other_session() {
    // Same long-term keys twice: a transient secret leaked from one connection (pinned here)
    // is no use against the next, which made its own.
    let (ck, sk) = (client_keys(), server_keys());
    let leaked = ephemerals(0x3C).transient_secret;
    let first = read(&record(
        CurveClientConfig::with_fixed_ephemerals_for_testing_only(
            ck.secret.clone(),
            sk.public,
            ephemerals(0x3C),
        ),
        CurveServerConfig::new(sk.secret.clone()),
    ));
    let second = read(&record(
        CurveClientConfig::new(ck.secret.clone(), sk.public),
        CurveServerConfig::new(sk.secret.clone()),
    ));
    let s_prime = |w: &Wire| {
        let k = nacl::box_key(sk.secret.expose(), &c_prime(w));
        key32(&open_welcome(w, &k).unwrap()[..32])
    };
    // The leak opens its own session (the premise)...
    let own = nacl::box_key(&leaked, &s_prime(&first));
    assert!(open_message(&first.messages[0].1, &own).is_some());
    // ...and nothing of the other, with either S' it could pair with.
    assert_ne!(c_prime(&first), c_prime(&second));
    for s in [s_prime(&first), s_prime(&second)] {
        let key = nacl::box_key(&leaked, &s);
        for (_, body) in &second.messages {
            assert_eq!(open_message(body, &key), None);
        }
    }
    // And every key from the long-term secrets and both sessions' public keys fails there too.
    let publics = [
        *ck.public.as_bytes(),
        *sk.public.as_bytes(),
        c_prime(&first),
        s_prime(&first),
        c_prime(&second),
        s_prime(&second),
    ];
    let keys = candidate_keys(
        &[*ck.secret.expose(), *sk.secret.expose(), leaked],
        &publics,
    );
    for (name, key) in keys {
        for (_, body) in &second.messages {
            assert_eq!(open_message(body, &key), None, "{name}");
        }
    }
}

#[test]
fn control_a_server_with_a_pinned_transient_key_loses_every_session() {
    // The same attack from the server side: with s' pinned (testing only) and C' in clear in
    // HELLO, every MESSAGE of every connection to that server opens, whoever the client is.
    let sk = server_keys();
    let eph = ephemerals(0x5E);
    let s_transient = eph.transient_secret;
    let server = CurveServerConfig::with_fixed_ephemerals_for_testing_only(sk.secret.clone(), eph);
    for client in [client_keys(), keypair(0x42), keypair(0x43)] {
        let w = read(&record(
            CurveClientConfig::new(client.secret.clone(), sk.public),
            server.clone(),
        ));
        let key = nacl::box_key(&s_transient, &c_prime(&w));
        for (_, body) in &w.messages {
            let plain = open_message(body, &key).expect("s' and C' open it");
            assert!(plain.ends_with(MARKER) || plain.ends_with(b"to-server"));
        }
    }
}
