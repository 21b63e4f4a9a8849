//! Threat: an eavesdropper records every octet of a connection, both ways, and searches the
//! recording for message payloads, metadata, the client's long-term public key and any secret key.
//! Defence: CURVE seals everything after HELLO in boxes under per-connection transient keys, so
//! a CURVE recording holds none of them, whereas the NULL and PLAIN recordings of the same
//! exchange (the controls that prove the search finds what is there) expose it all, PLAIN's
//! password included.

mod threats_common;

use std::sync::Arc;

use bytes::Bytes;
use threats_common::{
    any_window, client_keys, contains, keypair, server_keys, split_stream, Capture, Dir, Link,
};
use zmtp_core::testing::Pair;
use zmtp_core::{AuthReply, Metadata, SessionConfig, SocketType};
use zmtp_mechanisms::{
    CurveClientConfig, CurveKeyPair, CurveSecretKey, CurveServerConfig, CurveTestEphemerals,
    NullConfig, PlainClientConfig, PlainServerConfig,
};

/// The application payload the eavesdropper looks for.
const MARKER: &[u8] = b"<<MARKER: the launch code is 7-4-1-9, tell nobody outside the bunker>>";
/// A property the client announces in its metadata.
const META_MARKER: &[u8] = b"meta-marker:quartermaster-ledger-2291";
/// The client's routing id (sent as its Identity property).
const ROUTING_ID: &[u8] = b"routing-id:dealer-omega-77";
const PLAIN_USER: &[u8] = b"operator-kilo";
const PLAIN_PASSWORD: &[u8] = b"correct-horse-battery-staple";

/// Window length for partial matches.
const W: usize = 8;

/// The exchange every mechanism carries: the client sends the marker (twice, and once beside
/// its own long-term public key) and the server answers with it.
fn exchange(mut link: Link, client_public: &[u8; 32]) -> Capture {
    assert!(link.handshake(), "the honest handshake completes");
    let marker = Bytes::from_static(MARKER);
    let key = Bytes::copy_from_slice(client_public);
    let p = &mut link.pair;
    p.client
        .session
        .send_message(vec![marker.clone(), key.clone()])
        .unwrap();
    p.client.session.send_message(vec![marker.clone()]).unwrap();
    link.step();
    let p = &mut link.pair;
    p.server
        .session
        .send_message(vec![Bytes::from_static(b"ack"), marker.clone()])
        .unwrap();
    link.step();
    let p = &link.pair;
    assert!(p.client.error.is_none() && p.server.error.is_none());
    // The payload really crossed: the recording is of a working exchange.
    assert_eq!(
        p.server.messages(),
        vec![vec![marker.clone(), key], vec![marker.clone()]]
    );
    assert_eq!(
        p.client.messages(),
        vec![vec![Bytes::from_static(b"ack"), marker]]
    );
    // The server learnt the client's metadata, whatever the mechanism.
    let peer = p.server.session.peer().unwrap();
    assert_eq!(
        peer.properties.get("X-Note").map(|v| &v[..]),
        Some(META_MARKER)
    );
    assert_eq!(&peer.routing_id[..], ROUTING_ID);
    link.capture
}

fn with_client_metadata(mut c: SessionConfig) -> SessionConfig {
    c.routing_id = Bytes::from_static(ROUTING_ID);
    c.metadata = Metadata::new().with("X-Note", META_MARKER).unwrap();
    c
}

fn curve_link(client: &CurveKeyPair, server: &CurveKeyPair) -> Link {
    let c = CurveClientConfig::new(client.secret.clone(), server.public);
    let s = CurveServerConfig::new(server.secret.clone());
    Link::new(Pair::new(
        with_client_metadata(SessionConfig::new(SocketType::Dealer, Arc::new(c))),
        SessionConfig::new(SocketType::Router, Arc::new(s)),
    ))
}

fn null_link() -> Link {
    Link::new(Pair::new(
        with_client_metadata(SessionConfig::new(
            SocketType::Dealer,
            Arc::new(NullConfig::new()),
        )),
        SessionConfig::new(SocketType::Router, Arc::new(NullConfig::new())),
    ))
}

fn plain_link() -> Link {
    let c = PlainClientConfig::new(PLAIN_USER, PLAIN_PASSWORD).unwrap();
    let mut p = Pair::new(
        with_client_metadata(SessionConfig::new(SocketType::Dealer, Arc::new(c))),
        SessionConfig::new(SocketType::Router, Arc::new(PlainServerConfig::new())),
    );
    p.server.authenticator = Some(Box::new(|req| {
        let ok = req.credentials
            == [
                Bytes::from_static(PLAIN_USER),
                Bytes::from_static(PLAIN_PASSWORD),
            ];
        Ok(if ok {
            AuthReply::allow("operator")
        } else {
            AuthReply::deny("no")
        })
    }));
    Link::new(p)
}

/// Where (direction, window start in the needle, offset in the stream) any `W`-octet window
/// of `needle` occurs in the recording.
fn find(capture: &Capture, needle: &[u8]) -> Option<(Dir, usize, usize)> {
    [Dir::ClientToServer, Dir::ServerToClient]
        .into_iter()
        .find_map(|d| any_window(capture.stream(d), needle, W).map(|(i, at)| (d, i, at)))
}

fn found_whole(capture: &Capture, needle: &[u8]) -> bool {
    contains(&capture.c2s, needle) || contains(&capture.s2c, needle)
}

/// Every secret-bearing thing the eavesdropper hunts for, by name.
fn needles(client: &CurveKeyPair, server: &CurveKeyPair) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("payload marker", MARKER.to_vec()),
        ("metadata marker", META_MARKER.to_vec()),
        ("routing id", ROUTING_ID.to_vec()),
        (
            "client long-term public key",
            client.public.as_bytes().to_vec(),
        ),
        (
            "client public key (Z85)",
            client.public.to_z85().into_bytes(),
        ),
        ("client secret key", client.secret.expose().to_vec()),
        (
            "client secret key (Z85)",
            client.secret.to_z85().as_bytes().to_vec(),
        ),
        ("server secret key", server.secret.expose().to_vec()),
        (
            "server secret key (Z85)",
            server.secret.to_z85().as_bytes().to_vec(),
        ),
    ]
}

#[test]
fn a_curve_recording_holds_no_payload_metadata_client_key_or_secret() {
    let (client, server) = (client_keys(), server_keys());
    let capture = exchange(curve_link(&client, &server), client.public.as_bytes());
    // A recording of a real session: greeting, four handshake commands, and the traffic.
    assert!(capture.total() > 1000, "{} octets", capture.total());
    for (what, needle) in needles(&client, &server) {
        assert_eq!(
            find(&capture, &needle),
            None,
            "{what}: an {W}-octet window of it is in the CURVE recording"
        );
    }
}

#[test]
fn the_same_plaintext_twice_gives_unrelated_boxes() {
    // The client sent the marker alone in its second message: the two MESSAGE frames carrying
    // it (the first part of message one, and message two) share no ciphertext.
    let (client, server) = (client_keys(), server_keys());
    let capture = exchange(curve_link(&client, &server), client.public.as_bytes());
    let traffic: Vec<_> = split_stream(&capture.c2s)
        .into_iter()
        .filter(|f| f.name().as_deref() == Some("MESSAGE"))
        .collect();
    assert_eq!(traffic.len(), 3, "three client frames: two parts, one part");
    let (a, b) = (&traffic[0].body, &traffic[2].body);
    assert_eq!(a.len(), b.len(), "same plaintext length, same box length");
    // Skip the 8-octet name; the nonces differ, the tags and the ciphertexts too.
    assert_ne!(a[8..16], b[8..16], "short nonces");
    assert_eq!(
        any_window(&a[16..], &b[16..], W),
        None,
        "a shared window of ciphertext"
    );
}

#[test]
fn two_connections_with_the_same_keys_share_no_ciphertext() {
    // Same long-term keys, same messages: nothing but the fixed command names repeats, since
    // every connection has its own transient keys.
    let (client, server) = (client_keys(), server_keys());
    let one = exchange(curve_link(&client, &server), client.public.as_bytes());
    let two = exchange(curve_link(&client, &server), client.public.as_bytes());
    for dir in [Dir::ClientToServer, Dir::ServerToClient] {
        let (a, b) = (split_stream(one.stream(dir)), split_stream(two.stream(dir)));
        assert_eq!(a.len(), b.len());
        for (fa, fb) in a.iter().zip(&b) {
            // The varying fields of each command: keys, cookies and boxes. Names, HELLO's
            // version and padding, and the short nonces (counters from 1 on every connection)
            // repeat by design and are skipped.
            let name = fa.name().unwrap_or_default();
            let end = fa.body.len();
            let ranges = match name.as_str() {
                "HELLO" => vec![(80, 112), (120, end)],
                "WELCOME" => vec![(8, end)],
                "INITIATE" => vec![(9, 105), (113, end)],
                "READY" => vec![(14, end)],
                "MESSAGE" => vec![(16, end)],
                other => panic!("unexpected command {other:?}"),
            };
            for (from, to) in ranges {
                assert_eq!(
                    any_window(&fb.body[from..to], &fa.body[from..to], W),
                    None,
                    "{dir:?} {name} {from}..{to}: two connections repeat ciphertext"
                );
            }
        }
    }
}

#[test]
fn control_the_search_finds_a_transient_key_that_is_on_the_wire() {
    // With known transient secrets (the testing-only fixed ephemerals), C' and S' are known to
    // the test: C' travels in clear in HELLO and is found; S' travels inside WELCOME's box and
    // is not; C never is.
    let (client, server) = (client_keys(), server_keys());
    let eph = |seed: u8| CurveTestEphemerals {
        transient_secret: *keypair(seed).secret.expose(),
        cookie_key: [seed ^ 0x11; 32],
        welcome_nonce: [seed ^ 0x22; 16],
        cookie_nonce: [seed ^ 0x33; 16],
        vouch_nonce: [seed ^ 0x44; 16],
    };
    let c = CurveClientConfig::with_fixed_ephemerals_for_testing_only(
        client.secret.clone(),
        server.public,
        eph(0x0C),
    );
    let s =
        CurveServerConfig::with_fixed_ephemerals_for_testing_only(server.secret.clone(), eph(0x05));
    let link = Link::new(Pair::new(
        with_client_metadata(SessionConfig::new(SocketType::Dealer, Arc::new(c))),
        SessionConfig::new(SocketType::Router, Arc::new(s)),
    ));
    let capture = exchange(link, client.public.as_bytes());
    let c_prime = CurveSecretKey::from_bytes(eph(0x0C).transient_secret)
        .unwrap()
        .public_key();
    let s_prime = CurveSecretKey::from_bytes(eph(0x05).transient_secret)
        .unwrap()
        .public_key();
    let hello = &split_stream(&capture.c2s)[0];
    assert_eq!(hello.name().as_deref(), Some("HELLO"));
    assert!(contains(&hello.body, c_prime.as_bytes()), "C' is in HELLO");
    assert!(found_whole(&capture, c_prime.as_bytes()));
    assert_eq!(find(&capture, s_prime.as_bytes()), None, "S' is boxed");
    for (what, needle) in needles(&client, &server) {
        assert_eq!(find(&capture, &needle), None, "{what}");
    }
}

#[test]
fn control_a_null_recording_exposes_payload_metadata_and_key_bytes() {
    let (client, server) = (client_keys(), server_keys());
    let capture = exchange(null_link(), client.public.as_bytes());
    for (what, needle) in [
        ("payload marker", MARKER),
        ("metadata marker", META_MARKER),
        ("routing id", ROUTING_ID),
        ("client public key", client.public.as_bytes()),
    ] {
        assert!(found_whole(&capture, needle), "{what} is readable in NULL");
    }
    // The server's answer is readable too.
    assert!(contains(&capture.s2c, MARKER));
    // NULL never touches CURVE secrets, so they are absent: the search is not a "finds
    // everything" search.
    assert_eq!(find(&capture, client.secret.expose()), None);
    assert_eq!(find(&capture, server.secret.expose()), None);
}

#[test]
fn control_a_plain_recording_exposes_everything_including_the_password() {
    // Documented non-defence: PLAIN sends the user name and password in clear in HELLO (RFC 24);
    // use it only over a channel that is already private.
    let (client, _) = (client_keys(), server_keys());
    let capture = exchange(plain_link(), client.public.as_bytes());
    for (what, needle) in [
        ("payload marker", MARKER),
        ("metadata marker", META_MARKER),
        ("routing id", ROUTING_ID),
        ("client public key", client.public.as_bytes()),
        ("user name", PLAIN_USER),
        ("password", PLAIN_PASSWORD),
    ] {
        assert!(found_whole(&capture, needle), "{what} is readable in PLAIN");
    }
    // Precisely: HELLO is the client's first frame, user name and password as they are.
    let hello = &split_stream(&capture.c2s)[0];
    assert_eq!(hello.name().as_deref(), Some("HELLO"));
    let mut expected = b"\x05HELLO".to_vec();
    expected.push(PLAIN_USER.len() as u8);
    expected.extend_from_slice(PLAIN_USER);
    expected.push(PLAIN_PASSWORD.len() as u8);
    expected.extend_from_slice(PLAIN_PASSWORD);
    assert_eq!(hello.body, expected);
}
