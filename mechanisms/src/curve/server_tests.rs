//! Hand-made INITIATE commands against a real server: weak long-term keys, vouches for other
//! keys, vouches sealed by someone else.

use zmtp_core::{Greeting, SocketType};

use super::*;
use crate::curve::crypto::agree_box;
use crate::curve::CurveClientConfig;

const CLIENT_TRANSIENT: [u8; 32] = [0x31; 32];

fn ephemerals(transient: [u8; 32]) -> CurveTestEphemerals {
    CurveTestEphemerals {
        transient_secret: transient,
        cookie_key: [0x41; 32],
        welcome_nonce: [0x51; 16],
        cookie_nonce: [0x61; 16],
        vouch_nonce: [0x71; 16],
    }
}

fn ctx(socket_type: SocketType) -> HandshakeContext {
    HandshakeContext {
        socket_type,
        local_metadata: Metadata::new()
            .with("Socket-Type", socket_type.as_str().as_bytes().to_vec())
            .unwrap(),
        peer_greeting: Greeting::ours(MechanismName::CURVE, false),
        zap_domain: None,
        max_properties: 16,
        now: Instant::now(),
    }
}

fn key(bytes: [u8; 32]) -> CurveSecretKey {
    CurveSecretKey::from_bytes(bytes).unwrap()
}

/// A server that has answered a real HELLO, and what a client learns from its WELCOME.
fn after_welcome() -> (Box<dyn Mechanism>, CurvePublicKey, [u8; 96], CurvePublicKey) {
    let server_config = CurveServerConfig::with_fixed_ephemerals_for_testing_only(
        key([0x21; 32]),
        ephemerals([0x22; 32]),
    );
    let server_key = *server_config.public_key();
    let client_config = CurveClientConfig::with_fixed_ephemerals_for_testing_only(
        key([0x11; 32]),
        server_key,
        ephemerals(CLIENT_TRANSIENT),
    );
    let mut client = client_config.start(ctx(SocketType::Dealer)).unwrap();
    let mut server = server_config.start(ctx(SocketType::Router)).unwrap();
    let now = Instant::now();
    let hello = client.poll_command().unwrap();
    server
        .handle_command(Command::parse(hello).unwrap(), now)
        .unwrap();
    let welcome = server.poll_command().unwrap();
    let hello_key = agree_box(&server_key, &key(CLIENT_TRANSIENT)).unwrap();
    let mut plain = [0u8; 128];
    plain.copy_from_slice(&welcome[40..]);
    let mut n = [0u8; 16];
    n.copy_from_slice(&welcome[8..24]);
    hello_key
        .open(
            &nonce::long(nonce::WELCOME, &n),
            &mut plain,
            &tag_at(&welcome, 8 + 16),
        )
        .unwrap();
    let mut cookie = [0u8; 96];
    cookie.copy_from_slice(&plain[32..]);
    (server, key_at(&plain, 0), cookie, server_key)
}

/// An INITIATE claiming long-term key `claimed`, whose vouch (sealed with `vouch_secret`)
/// holds `vouch`.
fn initiate(
    server_transient: &CurvePublicKey,
    cookie: &[u8; 96],
    claimed: [u8; 32],
    vouch_secret: Option<&CurveSecretKey>,
    mut vouch: [u8; 64],
) -> Command {
    let session = agree_box(server_transient, &key(CLIENT_TRANSIENT)).unwrap();
    let vouch_tag = match vouch_secret {
        Some(secret) => agree_box(server_transient, secret)
            .unwrap()
            .seal(&nonce::long(nonce::VOUCH, &[0x71; 16]), &mut vouch)
            .unwrap(),
        None => [0; 16],
    };
    let mut body = BytesMut::new();
    body.put_slice(b"\x08INITIATE");
    body.put_slice(cookie);
    body.put_u64(2);
    body.put_bytes(0, 16);
    body.put_slice(&claimed);
    body.put_slice(&[0x71; 16]);
    body.put_slice(&vouch_tag);
    body.put_slice(&vouch);
    body.put_slice(b"\x0bSocket-Type\x00\x00\x00\x06DEALER");
    let tag = session
        .seal(
            &nonce::short(nonce::INITIATE, 2),
            &mut body[9 + 96 + 8 + 16..],
        )
        .unwrap();
    body[9 + 96 + 8..9 + 96 + 8 + 16].copy_from_slice(&tag);
    Command::parse(body.freeze()).unwrap()
}

#[test]
fn weak_long_term_client_keys_are_cryptographic() {
    let order8: [u8; 32] = [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ];
    for weak in [[0u8; 32], order8] {
        let (mut server, s_prime, cookie, _) = after_welcome();
        let cmd = initiate(&s_prime, &cookie, weak, None, [0; 64]);
        assert_eq!(
            server.handle_command(cmd, Instant::now()),
            Err(Error::Protocol(ProtocolError::Cryptographic))
        );
    }
}

#[test]
fn a_vouch_for_other_keys_is_key_exchange() {
    let client_long = key([0x11; 32]);
    let c_prime = key(CLIENT_TRANSIENT).public_key();
    // A proper vouch, but naming another C' (then another S).
    for wrong_half in [0usize, 1] {
        let (mut server, s_prime, cookie, server_key) = after_welcome();
        let mut vouch = [0u8; 64];
        vouch[..32].copy_from_slice(c_prime.as_bytes());
        vouch[32..].copy_from_slice(server_key.as_bytes());
        vouch[wrong_half * 32] ^= 1;
        let cmd = initiate(
            &s_prime,
            &cookie,
            *client_long.public_key().as_bytes(),
            Some(&client_long),
            vouch,
        );
        assert_eq!(
            server.handle_command(cmd, Instant::now()),
            Err(Error::Protocol(ProtocolError::KeyExchange))
        );
    }
    // The same vouch made correctly completes the handshake.
    let (mut server, s_prime, cookie, server_key) = after_welcome();
    let mut vouch = [0u8; 64];
    vouch[..32].copy_from_slice(c_prime.as_bytes());
    vouch[32..].copy_from_slice(server_key.as_bytes());
    let cmd = initiate(
        &s_prime,
        &cookie,
        *client_long.public_key().as_bytes(),
        Some(&client_long),
        vouch,
    );
    server.handle_command(cmd, Instant::now()).unwrap();
    assert!(server.is_ready());
}

#[test]
fn a_vouch_sealed_by_another_key_is_cryptographic() {
    let client_long = key([0x11; 32]);
    let impostor = key([0x12; 32]);
    let (mut server, s_prime, cookie, server_key) = after_welcome();
    let mut vouch = [0u8; 64];
    vouch[..32].copy_from_slice(key(CLIENT_TRANSIENT).public_key().as_bytes());
    vouch[32..].copy_from_slice(server_key.as_bytes());
    // Claims the client's key, but the vouch was sealed by someone else.
    let cmd = initiate(
        &s_prime,
        &cookie,
        *client_long.public_key().as_bytes(),
        Some(&impostor),
        vouch,
    );
    assert_eq!(
        server.handle_command(cmd, Instant::now()),
        Err(Error::Protocol(ProtocolError::Cryptographic))
    );
}

#[test]
fn housekeeping_wipes_cookie_keys_on_time() {
    let rotation = Duration::from_secs(60);
    let server_config = CurveServerConfig::new(key([0x21; 32])).with_cookie_rotation(rotation);
    let client_config = CurveClientConfig::new(key([0x11; 32]), *server_config.public_key());
    let t0 = Instant::now();
    // No key yet: look again in a rotation.
    assert_eq!(server_config.housekeeping(t0), Some(t0 + rotation));
    let mut client = client_config.start(ctx(SocketType::Dealer)).unwrap();
    let mut server = server_config.start(ctx(SocketType::Router)).unwrap();
    let hello = client.poll_command().unwrap();
    server
        .handle_command(Command::parse(hello).unwrap(), t0)
        .unwrap();
    let welcome = server.poll_command().unwrap();
    client
        .handle_command(Command::parse(welcome).unwrap(), t0)
        .unwrap();
    let initiate = Command::parse(client.poll_command().unwrap()).unwrap();
    let jar = &server_config.keys.cookies;
    assert_eq!(jar.keys_made(), vec![t0]);
    // Demoted after one rotation, due to go after two.
    assert_eq!(
        server_config.housekeeping(t0 + rotation),
        Some(t0 + rotation * 2)
    );
    assert_eq!(jar.keys_held(), 1);
    // No HELLO since: the timer alone wipes the key made at t0.
    assert_eq!(
        server_config.housekeeping(t0 + rotation * 2),
        Some(t0 + rotation * 3)
    );
    assert_eq!(jar.keys_held(), 0);
    assert!(!jar.keys_made().contains(&t0));
    // The cookie sealed at t0 opens no more.
    assert_eq!(
        server.handle_command(initiate, t0 + rotation * 2),
        Err(Error::Protocol(ProtocolError::Cryptographic))
    );
}
