//! The CurveZMQ known-answer transcript (shared/vectors/curvezmq-kat.txt), reproduced byte for
//! byte in both roles: our client makes the vector's HELLO and INITIATE and accepts its WELCOME
//! and READY; our server makes its WELCOME and READY and accepts its HELLO and INITIATE; both
//! codecs make and open its MESSAGE boxes.

use std::collections::HashMap;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use zmtp_core::wire::frame::{FrameDecoder, FrameLimits};
use zmtp_core::{
    Command, Error, Frame, Greeting, HandshakeContext, Mechanism, MechanismConfig, MechanismName,
    Metadata, ProtocolError, SocketType, TransmitQueue,
};
use zmtp_mechanisms::{
    CurveClientConfig, CurvePublicKey, CurveSecretKey, CurveServerConfig, CurveTestEphemerals,
};

const KAT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/curvezmq-kat.txt"
));
const KEYS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/keys.txt"
));

// The zmq_curve man-page key pairs from keys.txt, as literals (checked against the file below).
const SERVER_PUBLIC: &str = "54FCBA24E93249969316FB617C872BB0C1D1FF14800427C594CBFACF1BC2D652";
const SERVER_SECRET: &str = "8E0BDD697628B91D8F245587EE95C5B04D48963F79259877B49CD9063AEAD3B7";
const CLIENT_PUBLIC: &str = "BB88471D65E2659B30C55A5321CEBB5AAB2B70A398645C26DCA2B2FCB43FC518";
const CLIENT_SECRET: &str = "7BB864B489AFA3671FBE69101F94B38972F24816DFB01B51656B3FEC8DFD0888";

/// `label = hex` lines of the transcript, read at test time.
fn vectors() -> HashMap<String, Vec<u8>> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/curvezmq-kat.txt"
    ))
    .expect("the KAT file is readable at test time");
    assert_eq!(text, KAT, "the file changed since it was compiled in");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(" = "))
        .map(|(label, value)| (label.trim().to_owned(), hex::decode(value.trim()).unwrap()))
        .collect()
}

fn v(vectors: &HashMap<String, Vec<u8>>, label: &str) -> Vec<u8> {
    vectors
        .get(label)
        .unwrap_or_else(|| panic!("no {label:?} in the KAT"))
        .clone()
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.try_into().unwrap()
}

fn secret(hex_text: &str) -> CurveSecretKey {
    CurveSecretKey::from_bytes(array(&hex::decode(hex_text).unwrap())).unwrap()
}

fn public(hex_text: &str) -> CurvePublicKey {
    CurvePublicKey::from_bytes(array(&hex::decode(hex_text).unwrap())).unwrap()
}

fn ephemerals(kat: &HashMap<String, Vec<u8>>, transient: &str) -> CurveTestEphemerals {
    CurveTestEphemerals {
        transient_secret: array(&v(kat, transient)),
        cookie_key: array(&v(kat, "cookie key")),
        welcome_nonce: array(&v(kat, "welcome nonce16")),
        cookie_nonce: array(&v(kat, "cookie nonce16")),
        vouch_nonce: array(&v(kat, "vouch nonce16")),
    }
}

fn context(socket_type: &str, as_server_peer: bool) -> HandshakeContext {
    HandshakeContext {
        socket_type: SocketType::from_wire(socket_type.as_bytes()).unwrap(),
        local_metadata: Metadata::new()
            .with("Socket-Type", socket_type.as_bytes().to_vec())
            .unwrap()
            .with("Identity", Bytes::new())
            .unwrap(),
        peer_greeting: Greeting::ours(MechanismName::CURVE, as_server_peer),
        zap_domain: None,
        max_properties: 64,
        now: Instant::now(),
    }
}

fn client(kat: &HashMap<String, Vec<u8>>) -> Box<dyn Mechanism> {
    CurveClientConfig::with_fixed_ephemerals_for_testing_only(
        secret(CLIENT_SECRET),
        public(SERVER_PUBLIC),
        ephemerals(kat, "client transient secret c'"),
    )
    .start(context("DEALER", true))
    .unwrap()
}

fn server(kat: &HashMap<String, Vec<u8>>) -> Box<dyn Mechanism> {
    CurveServerConfig::with_fixed_ephemerals_for_testing_only(
        secret(SERVER_SECRET),
        ephemerals(kat, "server transient secret s'"),
    )
    .start(context("DEALER", false))
    .unwrap()
}

fn command(body: &[u8]) -> Command {
    Command::parse(Bytes::copy_from_slice(body)).unwrap()
}

/// The whole frame a codec queues for one part.
fn sealed_wire(codec: &mut dyn zmtp_core::MessageCodec, frame: Frame) -> Vec<u8> {
    let mut q = TransmitQueue::new();
    codec.seal(frame, &mut q).unwrap();
    let mut out = Vec::new();
    while let Some(c) = q.pop() {
        out.extend_from_slice(&c);
    }
    out
}

/// The body of a wire frame, with the frame's header checked by the real decoder.
fn unframe(wire: &[u8]) -> Frame {
    let limits = FrameLimits {
        max_data: 1 << 20,
        max_command: 1 << 20,
        data_limit_is_message: false,
        commands_only: false,
    };
    let mut src = BytesMut::from(wire);
    let frame = FrameDecoder::new()
        .decode(&mut src, limits)
        .unwrap()
        .unwrap();
    assert!(src.is_empty());
    frame
}

#[test]
fn key_literals_match_keys_txt_and_derive() {
    for (label, hex_text) in [
        ("server public", SERVER_PUBLIC),
        ("server secret", SERVER_SECRET),
        ("client public", CLIENT_PUBLIC),
        ("client secret", CLIENT_SECRET),
    ] {
        let line = KEYS
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("{label} in keys.txt"));
        assert!(line.ends_with(hex_text), "{label}: {line}");
    }
    assert_eq!(secret(SERVER_SECRET).public_key(), public(SERVER_PUBLIC));
    assert_eq!(secret(CLIENT_SECRET).public_key(), public(CLIENT_PUBLIC));
    let kat = vectors();
    let c = CurveSecretKey::from_bytes(array(&v(&kat, "client transient secret c'"))).unwrap();
    assert_eq!(
        c.public_key().as_bytes()[..],
        v(&kat, "client transient public C'")[..]
    );
    let s = CurveSecretKey::from_bytes(array(&v(&kat, "server transient secret s'"))).unwrap();
    assert_eq!(
        s.public_key().as_bytes()[..],
        v(&kat, "server transient public S'")[..]
    );
}

#[test]
fn metadata_plaintext_matches() {
    let kat = vectors();
    assert_eq!(
        context("DEALER", true).local_metadata.to_bytes()[..],
        v(&kat, "INITIATE metadata plaintext")[..]
    );
}

#[test]
fn our_client_reproduces_hello_and_initiate_and_accepts_welcome_and_ready() {
    let kat = vectors();
    let now = Instant::now();
    let mut c = client(&kat);
    let hello = c.poll_command().unwrap();
    assert_eq!(
        hex::encode(&hello),
        hex::encode(v(&kat, "HELLO body (200 B)"))
    );
    assert!(c.poll_command().is_none());

    c.handle_command(command(&v(&kat, "WELCOME body (168 B)")), now)
        .unwrap();
    let initiate = c.poll_command().unwrap();
    assert_eq!(
        hex::encode(&initiate),
        hex::encode(v(&kat, "INITIATE body (292 B)"))
    );
    assert!(!c.is_ready());

    c.handle_command(command(&v(&kat, "READY body (65 B)")), now)
        .unwrap();
    assert!(c.is_ready());
    let established = c.into_established().unwrap();
    assert_eq!(
        established.peer_metadata.get_str("Socket-Type"),
        Some("DEALER")
    );
    let mut codec = established.codec;
    assert_eq!(codec.overhead(), 33);

    // C->S nonce 3, "Hello": the exact wire frame, flags 0x00.
    let wire = sealed_wire(
        &mut *codec,
        Frame::data(Bytes::from_static(b"Hello"), false),
    );
    assert_eq!(
        hex::encode(&wire),
        hex::encode(v(&kat, "wire frame (libzmq sends flags 0x00)"))
    );
    // C->S nonce 4, "A" with MORE: MORE travels inside the box, never on the outer frame.
    let wire = sealed_wire(&mut *codec, Frame::data(Bytes::from_static(b"A"), true));
    assert_eq!(wire[0], 0x00);
    assert_eq!(
        hex::encode(&wire[2..]),
        hex::encode(v(
            &kat,
            "MESSAGE C->S nonce 4 plaintext 01|\"A\" (MORE set)"
        ))
    );
    // S->C nonce 2, "World".
    let opened = codec
        .open(Frame::data(
            Bytes::from(v(&kat, "MESSAGE S->C nonce 2 plaintext 00|\"World\"")),
            false,
        ))
        .unwrap();
    assert_eq!(opened, Frame::data(Bytes::from_static(b"World"), false));
}

#[test]
fn our_server_reproduces_welcome_and_ready_and_accepts_hello_and_initiate() {
    let kat = vectors();
    let now = Instant::now();
    let mut s = server(&kat);
    assert!(s.poll_command().is_none(), "the server speaks second");
    // The HELLO vector arrives as the wire frame, through the real frame decoder.
    let hello = unframe(&v(&kat, "HELLO wire frame"));
    assert!(hello.command);
    s.handle_command(Command::parse(hello.body).unwrap(), now)
        .unwrap();
    let welcome = s.poll_command().unwrap();
    assert_eq!(
        hex::encode(&welcome),
        hex::encode(v(&kat, "WELCOME body (168 B)"))
    );

    let initiate = unframe(&v(&kat, "INITIATE wire frame"));
    s.handle_command(Command::parse(initiate.body).unwrap(), now)
        .unwrap();
    assert!(s.poll_auth_request().is_none(), "no ZAP domain: no request");
    let ready = s.poll_command().unwrap();
    assert_eq!(
        hex::encode(&ready),
        hex::encode(v(&kat, "READY body (65 B)"))
    );
    assert!(s.is_ready());
    let established = s.into_established().unwrap();
    assert_eq!(
        established.peer_metadata.get_str("Socket-Type"),
        Some("DEALER")
    );
    assert!(established.auth.is_none());
    let mut codec = established.codec;

    let hello = unframe(&v(&kat, "wire frame (libzmq sends flags 0x00)"));
    assert_eq!(
        codec.open(hello).unwrap(),
        Frame::data(Bytes::from_static(b"Hello"), false)
    );
    let wire = sealed_wire(
        &mut *codec,
        Frame::data(Bytes::from_static(b"World"), false),
    );
    assert_eq!(
        hex::encode(&wire[2..]),
        hex::encode(v(&kat, "MESSAGE S->C nonce 2 plaintext 00|\"World\""))
    );
    let a = codec
        .open(Frame::data(
            Bytes::from(v(
                &kat,
                "MESSAGE C->S nonce 4 plaintext 01|\"A\" (MORE set)",
            )),
            false,
        ))
        .unwrap();
    assert_eq!(a, Frame::data(Bytes::from_static(b"A"), true));
    // Replaying nonce 4 is refused.
    let replay = codec.open(Frame::data(
        Bytes::from(v(
            &kat,
            "MESSAGE C->S nonce 4 plaintext 01|\"A\" (MORE set)",
        )),
        false,
    ));
    assert_eq!(replay, Err(Error::Protocol(ProtocolError::InvalidSequence)));
}

#[test]
fn vector_sizes_are_the_libzmq_sizes() {
    let kat = vectors();
    assert_eq!(v(&kat, "HELLO body (200 B)").len(), 200);
    assert_eq!(v(&kat, "WELCOME body (168 B)").len(), 168);
    assert_eq!(v(&kat, "INITIATE body (292 B)").len(), 292);
    assert_eq!(v(&kat, "READY body (65 B)").len(), 65);
}

/// Everything `session` has queued.
fn output(session: &mut zmtp_core::Session) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = session.poll_transmit() {
        out.extend_from_slice(&chunk);
    }
    out
}

#[test]
fn sessions_put_the_vector_frames_on_the_wire() {
    use std::sync::Arc;
    use zmtp_core::{Session, SessionConfig, SocketType};

    let kat = vectors();
    let now = Instant::now();
    let client = CurveClientConfig::with_fixed_ephemerals_for_testing_only(
        secret(CLIENT_SECRET),
        public(SERVER_PUBLIC),
        ephemerals(&kat, "client transient secret c'"),
    );
    let server = CurveServerConfig::with_fixed_ephemerals_for_testing_only(
        secret(SERVER_SECRET),
        ephemerals(&kat, "server transient secret s'"),
    );
    let mut c = Session::new(
        Arc::new(SessionConfig::new(SocketType::Dealer, Arc::new(client))),
        "127.0.0.1:5555",
        now,
    );
    let mut s = Session::new(
        Arc::new(SessionConfig::new(SocketType::Dealer, Arc::new(server))),
        "127.0.0.1:40000",
        now,
    );
    let deliver = |to: &mut Session, bytes: &[u8]| {
        let mut inbox = BytesMut::from(bytes);
        to.handle_input(&mut inbox, now).unwrap();
        assert!(inbox.is_empty());
    };
    let client_greeting = output(&mut c);
    let server_greeting = output(&mut s);
    assert_eq!((client_greeting.len(), server_greeting.len()), (64, 64));
    deliver(&mut s, &client_greeting);
    deliver(&mut c, &server_greeting);
    let hello = output(&mut c);
    assert_eq!(
        hex::encode(&hello),
        hex::encode(v(&kat, "HELLO wire frame"))
    );
    deliver(&mut s, &hello);
    let welcome = output(&mut s);
    assert_eq!(
        hex::encode(&welcome),
        hex::encode(v(&kat, "WELCOME wire frame"))
    );
    deliver(&mut c, &welcome);
    let initiate = output(&mut c);
    assert_eq!(
        hex::encode(&initiate),
        hex::encode(v(&kat, "INITIATE wire frame"))
    );
    deliver(&mut s, &initiate);
    let ready = output(&mut s);
    assert_eq!(
        hex::encode(&ready),
        hex::encode(v(&kat, "READY wire frame"))
    );
    deliver(&mut c, &ready);
    assert!(c.is_ready() && s.is_ready());
    c.send_message(vec![Bytes::from_static(b"Hello")]).unwrap();
    assert_eq!(
        hex::encode(output(&mut c)),
        hex::encode(v(&kat, "wire frame (libzmq sends flags 0x00)"))
    );
}
