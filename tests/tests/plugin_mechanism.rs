//! The plug-in proof: `X-PSK` (tests/src/psk.rs), written against the public traits only, runs
//! in the core's in-memory session pair and in real sockets, with ZAP, and refuses wrong keys,
//! tampering and replays with typed errors.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use zmtp::core::testing::{Delivery, Pair};
use zmtp::core::{AuthReply, AuthRequest, Error, ProtocolError, SessionConfig};
use zmtp::zap::FnAuthenticator;
use zmtp::{MonitorEvent, Socket, SocketOptions, SocketType};
use zmtp_tests::psk::{PskConfig, NAME};
use zmtp_tests::{event, recv};

const KEY: [u8; 32] = [7; 32];

fn pair(client_key: [u8; 32], zap: bool) -> Pair {
    let client = SessionConfig::new(SocketType::Dealer, Arc::new(PskConfig::client(client_key)));
    let mut server = SessionConfig::new(SocketType::Router, Arc::new(PskConfig::server(KEY, "k1")));
    server.authenticate = zap;
    let mut p = Pair::new(client, server);
    if zap {
        p.server.authenticator = Some(Box::new(|req: &AuthRequest| {
            assert_eq!(req.mechanism, NAME);
            assert_eq!(req.credentials, vec![Bytes::from_static(b"k1")]);
            let mut reply = AuthReply::allow("psk-user");
            reply.metadata = zmtp::Metadata::new().with("Hello", "World").unwrap();
            Ok(reply)
        }));
    }
    p
}

#[test]
fn handshake_and_traffic_in_the_session_pair_however_the_bytes_arrive() {
    for delivery in [
        Delivery::Whole,
        Delivery::ByteByByte,
        Delivery::Reads(1000),
        Delivery::Reads(64 << 10),
    ] {
        let mut p = pair(KEY, true);
        p.delivery = delivery;
        assert!(p.handshake(), "{:?} {:?}", p.client.error, p.server.error);
        let info = p.server.session.peer().unwrap();
        assert_eq!(info.user_id.as_deref(), Some("psk-user"));
        assert_eq!(info.properties.get_str("Hello"), Some("World"));
        assert_eq!(info.properties.get_str("Socket-Type"), Some("DEALER"));
        p.client
            .session
            .send_message(vec![Bytes::from_static(b"a"), Bytes::from_static(b"bc")])
            .unwrap();
        p.server
            .session
            .send_message(vec![Bytes::new(), Bytes::from_static(b"reply")])
            .unwrap();
        // A body above the decoder's pooling size reaches this codec, which has no in-place
        // open, through its `open` (as a pooled buffer the session lends it).
        let big: Bytes = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        if delivery != Delivery::ByteByByte {
            p.client.session.send_message(vec![big.clone()]).unwrap();
        }
        p.step();
        let mut want = vec![vec![Bytes::from_static(b"a"), Bytes::from_static(b"bc")]];
        if delivery != Delivery::ByteByByte {
            want.push(vec![big.clone()]);
        }
        assert_eq!(p.server.messages(), want, "{delivery:?}");
        assert_eq!(
            p.client.messages(),
            vec![vec![Bytes::new(), Bytes::from_static(b"reply")]]
        );
    }
}

#[test]
fn a_wrong_key_is_a_cryptographic_error() {
    let mut p = pair([8; 32], false);
    assert!(!p.handshake());
    assert!(
        matches!(
            p.server.error,
            Some(Error::Protocol(ProtocolError::Cryptographic))
        ),
        "{:?}",
        p.server.error
    );
}

/// One sealed frame as the client would put it on the wire.
fn client_frame(p: &mut Pair, text: &'static str) -> BytesMut {
    p.client
        .session
        .send_message(vec![Bytes::from_static(text.as_bytes())])
        .unwrap();
    let mut wire = BytesMut::new();
    while let Some(chunk) = p.client.session.poll_transmit() {
        wire.extend_from_slice(&chunk);
    }
    wire
}

#[test]
fn traffic_is_sealed_and_tampering_or_replay_fails() {
    let mut p = pair(KEY, false);
    assert!(p.handshake());
    let frame = client_frame(&mut p, "secret plaintext");
    assert!(
        !frame.windows(6).any(|w| w == b"secret"),
        "plaintext on the wire"
    );
    // Replay: the same frame twice.
    let mut twice = frame.clone();
    twice.extend_from_slice(&frame);
    let now = Instant::now();
    let e = p.server.session.handle_input(&mut twice, now).unwrap_err();
    assert!(
        matches!(e, Error::Protocol(ProtocolError::InvalidSequence)),
        "{e:?}"
    );

    // Every octet of a fresh frame's body flipped in turn.
    for i in 2..frame.len() {
        let mut p = pair(KEY, false);
        assert!(p.handshake());
        let mut f = client_frame(&mut p, "secret plaintext");
        f[i] ^= 0x20;
        let r = p.server.session.handle_input(&mut f, now);
        assert!(r.is_err(), "octet {i} flipped was accepted");
        assert!(p.server.messages().is_empty());
    }
}

#[tokio::test]
async fn real_sockets_with_zap_user_id_and_a_refused_wrong_key() {
    let auth = FnAuthenticator(|req: &AuthRequest| {
        Ok(if req.mechanism == NAME {
            AuthReply::allow("psk-client")
        } else {
            AuthReply::deny("not X-PSK")
        })
    });
    let server = Socket::with_options(
        SocketType::Router,
        SocketOptions {
            mechanism: Arc::new(PskConfig::server(KEY, "k1")),
            authenticator: Some(Arc::new(auth)),
            ..Default::default()
        },
    );
    let mut monitor = server.monitor(64);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            mechanism: Arc::new(PskConfig::client(KEY)),
            ..Default::default()
        },
    );
    client.connect(&ep).await.unwrap();
    client
        .send(vec![Bytes::from_static(b"over X-PSK")])
        .await
        .unwrap();
    let msg = recv(&server).await;
    assert_eq!(msg.parts()[1], "over X-PSK");
    assert_eq!(msg.property("User-Id"), Some("psk-client"));

    let intruder = Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            mechanism: Arc::new(PskConfig::client([9; 32])),
            ..Default::default()
        },
    );
    intruder.connect(&ep).await.unwrap();
    let code = event(&mut monitor, MonitorEvent::HandshakeFailedProtocol).await;
    assert_eq!(code, 0x1100_0001, "CRYPTOGRAPHIC");
}
