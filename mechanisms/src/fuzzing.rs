//! Entry points for whole-session fuzz targets (and the tests that replay their corpora).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use zmtp_core::{
    AuthReply, Event, Greeting, MechanismConfig, MechanismName, Session, SessionConfig, SocketType,
};

use crate::NullConfig;

/// Runs one session against fuzz bytes. The first octet picks the socket type and whether the
/// side asks ZAP; the peer's greeting is valid (so the input reaches the handshake and traffic
/// phases) unless bit 7 of the first octet asks for the raw bytes alone. Input arrives in chunks
/// whose sizes come from the input itself. The session must never panic, and once failed it must
/// stay failed.
pub fn session(mechanism: Arc<dyn MechanismConfig>, peer_mechanism: MechanismName, data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let socket_type = SocketType::ALL[usize::from(control & 0x0F) % SocketType::ALL.len()];
    let mut config = SessionConfig::new(socket_type, mechanism);
    if control & 0x10 != 0 {
        config.zap_domain = Some("fuzz".into());
    }
    config.heartbeat.interval = Some(Duration::from_millis(100));
    config.limits.max_frame_size = 1 << 16;
    config.limits.max_message_size = 1 << 17;
    let start = Instant::now();
    let mut session = Session::new(Arc::new(config), "127.0.0.1:1", start);
    let mut input = BytesMut::new();
    if control & 0x80 == 0 {
        Greeting::ours(peer_mechanism, control & 0x20 != 0).encode(&mut input);
    }
    let mut now = start;
    let mut failed = None;
    let mut chunks = rest;
    while !chunks.is_empty() {
        let n = usize::from(chunks[0] % 64) + 1;
        let take = n.min(chunks.len());
        input.extend_from_slice(&chunks[..take]);
        chunks = &chunks[take..];
        now += Duration::from_millis(u64::from(n as u8 % 50));
        let r = session
            .handle_input(&mut input, now)
            .and_then(|()| session.handle_timeout(now));
        while session.poll_transmit().is_some() {}
        while let Some(ev) = session.poll_event() {
            if let Event::AuthRequest(_) = ev {
                let _ = session.handle_auth_reply(Ok(AuthReply::allow("fuzz")), now);
            }
        }
        match (&failed, r) {
            (Some(first), Err(e)) => assert_eq!(first, &e, "errors are sticky"),
            (Some(_), Ok(())) => panic!("a failed session accepted input"),
            (None, Err(e)) => failed = Some(e),
            (None, Ok(())) => {
                if session.is_ready() {
                    let _ = session.send_message(vec![bytes::Bytes::from_static(b"x")]);
                }
            }
        }
    }
}

/// The NULL mechanism against fuzz bytes.
pub fn null_session(data: &[u8]) {
    session(Arc::new(NullConfig::new()), MechanismName::NULL, data);
}

/// A PLAIN server against fuzz bytes (its auth requests are answered with 200).
pub fn plain_server_session(data: &[u8]) {
    session(
        Arc::new(crate::PlainServerConfig::new()),
        MechanismName::PLAIN,
        data,
    );
}

/// A PLAIN client against fuzz bytes.
pub fn plain_client_session(data: &[u8]) {
    let config = crate::PlainClientConfig::new(b"user", b"pass").expect("valid credentials");
    session(Arc::new(config), MechanismName::PLAIN, data);
}

fn fuzz_keys() -> (crate::CurveSecretKey, crate::CurvePublicKey) {
    let secret = crate::CurveSecretKey::from_bytes([0x11; 32]).expect("non-zero key");
    let public = secret.public_key();
    (secret, public)
}

/// A CURVE server against fuzz bytes. With the `fuzzing` feature the boxes are not encrypted and
/// MACs are not checked, so inputs reach every handshake step; without it, the real crypto runs.
pub fn curve_server_session(data: &[u8]) {
    let (secret, _) = fuzz_keys();
    #[cfg(feature = "fuzzing")]
    let config = crate::CurveServerConfig::with_null_crypto_for_fuzzing(secret);
    #[cfg(not(feature = "fuzzing"))]
    let config = crate::CurveServerConfig::new(secret);
    session(Arc::new(config), MechanismName::CURVE, data);
}

/// A CURVE client against fuzz bytes (see [`curve_server_session`] on the crypto).
pub fn curve_client_session(data: &[u8]) {
    let (secret, server) = fuzz_keys();
    #[cfg(feature = "fuzzing")]
    let config = crate::CurveClientConfig::with_null_crypto_for_fuzzing(secret, server);
    #[cfg(not(feature = "fuzzing"))]
    let config = crate::CurveClientConfig::new(secret, server);
    session(Arc::new(config), MechanismName::CURVE, data);
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_run() {
        let mut ready = vec![0x02u8, 0x2a];
        ready.extend_from_slice(
            b"\x04\x28\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x00",
        );
        ready.extend_from_slice(b"\x00\x02hi\x04\x06\x04PING\x00\x01");
        super::null_session(&ready);
        super::null_session(&[0x80, 1, 2, 3]);
        super::null_session(&[]);
    }
}
