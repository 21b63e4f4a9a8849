//! PLAIN handshakes and traffic over the in-memory session pair.

use std::sync::Arc;

use bytes::Bytes;
use zmtp_core::error::MalformedKind;
use zmtp_core::testing::{Delivery, Pair};
use zmtp_core::{
    AuthReply, AuthRequest, AuthResult, AuthStatus, Error, Metadata, MonitorEvent, ProtocolError,
    SessionConfig, SocketType, ZapFailure,
};
use zmtp_mechanisms::{PlainClientConfig, PlainErrorForm, PlainServerConfig};

fn client_config(user: &str, password: &str) -> SessionConfig {
    SessionConfig::new(
        SocketType::Dealer,
        Arc::new(PlainClientConfig::new(user, password).unwrap()),
    )
}

fn server_config() -> SessionConfig {
    let mut s = SessionConfig::new(SocketType::Router, Arc::new(PlainServerConfig::new()));
    s.routing_id = Bytes::from_static(b"srv");
    s
}

/// A ZAP handler that knows one user.
fn admin_only(req: &AuthRequest) -> AuthResult {
    assert_eq!(req.mechanism, zmtp_core::MechanismName::PLAIN);
    if req.credentials == [Bytes::from_static(b"admin"), Bytes::from_static(b"secret")] {
        Ok(AuthReply::allow("admin"))
    } else {
        Ok(AuthReply::deny("bad credentials"))
    }
}

fn pair(user: &str, password: &str) -> Pair {
    let mut p = Pair::new(client_config(user, password), server_config());
    p.server.authenticator = Some(Box::new(admin_only));
    p
}

#[test]
fn plain_handshake_and_messages_both_ways() {
    for delivery in [
        Delivery::Whole,
        Delivery::ByteByByte,
        Delivery::Reads(1000),
        Delivery::Reads(64 << 10),
    ] {
        let mut p = pair("admin", "secret");
        p.delivery = delivery;
        assert!(p.handshake(), "{delivery:?}");
        let req = &p.server.auth_requests[0];
        assert_eq!(req.address, "127.0.0.1");
        assert_eq!(&req.identity[..], b"srv");
        assert_eq!(req.credentials.len(), 2);
        let peer = p.server.session.peer().unwrap();
        assert_eq!(peer.user_id.as_deref(), Some("admin"));
        assert_eq!(peer.socket_type, SocketType::Dealer);
        assert_eq!(
            p.client.session.peer().unwrap().socket_type,
            SocketType::Router
        );

        let big = Bytes::from(vec![0x5Au8; 1 << 20]);
        p.client
            .session
            .send_message(vec![Bytes::from_static(b"a"), Bytes::new(), big.clone()])
            .unwrap();
        p.server.session.send_message(vec![big.clone()]).unwrap();
        p.server
            .session
            .send_message(vec![Bytes::from_static(b"x"), Bytes::from_static(b"y")])
            .unwrap();
        p.step();
        assert_eq!(
            p.server.messages(),
            vec![vec![Bytes::from_static(b"a"), Bytes::new(), big.clone()]]
        );
        assert_eq!(
            p.client.messages(),
            vec![
                vec![big.clone()],
                vec![Bytes::from_static(b"x"), Bytes::from_static(b"y")]
            ]
        );
    }
}

#[test]
fn plain_wire_bytes_are_exact() {
    let mut p = pair("admin", "secret");
    assert!(p.handshake());
    // A HELLO as RFC 24 spells it, fed to a fresh server after its greeting.
    let mut fresh = Pair::new(client_config("admin", "secret"), server_config());
    let mut greeting = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    greeting.extend_from_slice(b"PLAIN\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    greeting.extend_from_slice(&[0u8; 32]);
    greeting.extend_from_slice(b"\x04\x13\x05HELLO\x05admin\x06secret");
    fresh.inject_into_server(&greeting).unwrap();
    let req = &fresh.server.auth_requests[0];
    assert_eq!(
        req.credentials,
        vec![Bytes::from_static(b"admin"), Bytes::from_static(b"secret")]
    );
    // Debug never prints the password.
    assert!(!format!("{req:?}").contains("secret"));
}

#[test]
fn empty_username_and_password_are_valid_on_the_wire() {
    let mut p = pair("admin", "secret");
    let mut greeting = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    greeting.extend_from_slice(b"PLAIN\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    greeting.extend_from_slice(&[0u8; 32]);
    greeting.extend_from_slice(b"\x04\x08\x05HELLO\x00\x00");
    p.server.authenticator = None;
    p.inject_into_server(&greeting).unwrap();
    assert_eq!(
        p.server.auth_requests[0].credentials,
        vec![Bytes::new(), Bytes::new()]
    );
}

#[test]
fn anything_after_the_password_is_malformed_hello() {
    for hello in [
        &b"\x04\x0a\x05HELLO\x00\x00\x00\x00"[..],
        b"\x04\x07\x05HELLO\x05",
        b"\x04\x09\x05HELLO\x01a\x02b",
        b"\x04\x06\x05HELLO",
    ] {
        let mut p = pair("admin", "secret");
        let mut bytes = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
        bytes.extend_from_slice(b"PLAIN\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        bytes.extend_from_slice(&[0u8; 32]);
        bytes.extend_from_slice(hello);
        assert_eq!(
            p.inject_into_server(&bytes).unwrap_err(),
            Error::Protocol(ProtocolError::MalformedCommand(MalformedKind::Hello)),
            "{hello:?}"
        );
    }
}

#[test]
fn wrong_password_is_refused_with_400() {
    let mut p = pair("admin", "guess");
    assert!(!p.handshake());
    assert!(matches!(
        p.server.error,
        Some(Error::AuthFailed { status: 400, .. })
    ));
    let err = p.client.error.clone().unwrap();
    assert_eq!(
        err,
        Error::PeerRefused {
            reason: "400".into()
        }
    );
    assert_eq!(
        err.handshake_event(),
        (MonitorEvent::HandshakeFailedAuth, 400)
    );
}

#[test]
fn zap_statuses() {
    for (status, client_sees) in [
        (AuthStatus::Failure, Some("400")),
        (AuthStatus::InternalError, Some("500")),
        (AuthStatus::TemporaryFailure, None),
    ] {
        let mut p = pair("admin", "secret");
        p.server.authenticator = Some(Box::new(move |_| {
            let mut r = AuthReply::deny("no");
            r.status = status;
            Ok(r)
        }));
        assert!(!p.handshake());
        assert!(
            matches!(p.server.error, Some(Error::AuthFailed { status: s, .. }) if s == status.code())
        );
        match client_sees {
            Some(reason) => assert_eq!(
                p.client.error,
                Some(Error::PeerRefused {
                    reason: reason.into()
                })
            ),
            // 300: the server closes without ERROR; the client hears nothing.
            None => assert_eq!(p.client.error, None),
        }
    }
}

#[test]
fn zap_allow_carries_user_id_and_metadata() {
    let mut p = pair("admin", "secret");
    p.server.authenticator = Some(Box::new(|_| {
        let mut r = AuthReply::allow("alice");
        r.metadata = Metadata::new().with("Role", &b"ops"[..]).unwrap();
        Ok(r)
    }));
    assert!(p.handshake());
    let peer = p.server.session.peer().unwrap();
    assert_eq!(peer.properties.get_str("User-Id"), Some("alice"));
    assert_eq!(peer.properties.get_str("Role"), Some("ops"));
}

#[test]
fn zap_failure_closes_without_error_command() {
    let mut p = pair("admin", "secret");
    p.server.authenticator = Some(Box::new(|_| Err(ZapFailure::Unspecified)));
    assert!(!p.handshake());
    assert_eq!(
        p.server.error,
        Some(Error::Protocol(ProtocolError::Zap(ZapFailure::Unspecified)))
    );
    assert_eq!(
        p.server.error.as_ref().unwrap().handshake_event(),
        (MonitorEvent::HandshakeFailedProtocol, 0x2000_0000)
    );
    assert_eq!(p.client.error, None);
}

#[test]
fn the_server_waits_for_zap() {
    let mut p = pair("admin", "secret");
    p.server.authenticator = None;
    assert!(!p.handshake());
    assert_eq!(p.server.auth_requests.len(), 1);
    let now = p.now;
    p.server
        .session
        .handle_auth_reply(Ok(AuthReply::allow("late")), now)
        .unwrap();
    assert!(p.handshake());
}

/// The octets the server sends after its greeting when it refuses "admin"/"guess".
fn refusal_bytes(form: Option<PlainErrorForm>) -> Vec<u8> {
    let mut server = server_config();
    if let Some(form) = form {
        server.mechanism = Arc::new(PlainServerConfig::new().with_error_form(form));
    }
    let mut p = Pair::new(client_config("admin", "guess"), server);
    p.server.authenticator = Some(Box::new(admin_only));
    let mut bytes = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    bytes.extend_from_slice(b"PLAIN\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    bytes.extend_from_slice(&[0u8; 32]);
    bytes.extend_from_slice(b"\x04\x12\x05HELLO\x05admin\x05guess");
    // The HELLO is accepted; the refusal comes with the ZAP answer.
    p.inject_into_server(&bytes).unwrap();
    assert!(matches!(
        p.server.error,
        Some(Error::AuthFailed { status: 400, .. })
    ));
    let mut out = Vec::new();
    while let Some(chunk) = p.server.session.poll_transmit() {
        out.extend_from_slice(&chunk);
    }
    out[64..].to_vec()
}

#[test]
fn the_default_refusal_is_spelt_as_libzmq_spells_it() {
    // libzmq 4.3.5's PLAIN server: 5e 52 52 4f 52 ("^RROR"), the reason length, the reason.
    assert_eq!(
        refusal_bytes(None),
        b"\x04\x09\x5eRROR\x03400".to_vec(),
        "flip DEFAULT_PLAIN_ERROR_FORM only together with this test"
    );
    assert_eq!(
        refusal_bytes(Some(PlainErrorForm::Rfc)),
        b"\x04\x0a\x05ERROR\x03400".to_vec()
    );
    assert_eq!(
        zmtp_mechanisms::DEFAULT_PLAIN_ERROR_FORM,
        PlainErrorForm::Libzmq
    );
}

#[test]
fn our_client_reads_both_error_forms() {
    for form in [PlainErrorForm::Libzmq, PlainErrorForm::Rfc] {
        let mut server = server_config();
        server.mechanism = Arc::new(PlainServerConfig::new().with_error_form(form));
        let mut p = Pair::new(client_config("admin", "guess"), server);
        p.server.authenticator = Some(Box::new(admin_only));
        assert!(!p.handshake());
        let err = p.client.error.clone().unwrap();
        assert_eq!(
            err,
            Error::PeerRefused {
                reason: "400".into()
            },
            "{form:?}"
        );
        assert_eq!(
            err.handshake_event(),
            (MonitorEvent::HandshakeFailedAuth, 400)
        );
    }
}

#[test]
fn unexpected_commands_are_typed() {
    // The server sends READY where WELCOME belongs.
    let mut p = pair("admin", "secret");
    let mut bytes = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    bytes.extend_from_slice(b"PLAIN\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    bytes.extend_from_slice(&[0u8; 32]);
    bytes.extend_from_slice(b"\x04\x06\x05READY");
    let mut inbox = bytes::BytesMut::from(&bytes[..]);
    let err = p
        .client
        .session
        .handle_input(&mut inbox, p.now)
        .unwrap_err();
    assert_eq!(
        err,
        Error::Protocol(ProtocolError::UnexpectedCommand {
            expected: "WELCOME",
            got: "READY".into()
        })
    );
    // A WELCOME with a body is malformed.
    let mut p = pair("admin", "secret");
    let mut bytes = bytes[..64].to_vec();
    bytes.extend_from_slice(b"\x04\x09\x07WELCOME!");
    let mut inbox = bytes::BytesMut::from(&bytes[..]);
    assert_eq!(
        p.client
            .session
            .handle_input(&mut inbox, p.now)
            .unwrap_err(),
        Error::Protocol(ProtocolError::MalformedCommand(MalformedKind::Welcome))
    );
}

#[test]
fn an_incompatible_client_gets_no_ready() {
    // PUB cannot talk to PUSH (RFC 23). PLAIN asks ZAP at HELLO, before the client's type is
    // known; INITIATE then shows it, and the server fails instead of queueing READY.
    let client = |socket_type| {
        SessionConfig::new(
            socket_type,
            Arc::new(PlainClientConfig::new("admin", "secret").unwrap()),
        )
    };
    let server = SessionConfig::new(SocketType::Push, Arc::new(PlainServerConfig::new()));
    let mut p = Pair::new(client(SocketType::Pub), server.clone());
    p.server.authenticator = Some(Box::new(admin_only));
    p.server.transmitted = Some(Vec::new());
    assert!(!p.handshake());
    assert_eq!(p.server.commands_sent(), ["WELCOME"]);
    assert_eq!(
        p.server.error,
        Some(Error::Protocol(ProtocolError::IncompatibleSocketType {
            ours: "PUSH",
            peer: "PUB".into()
        }))
    );
    assert!(!p.client.saw_ready() && !p.client.session.is_ready());
    // The same server with a compatible client: WELCOME, then READY.
    let mut p = Pair::new(client(SocketType::Pull), server);
    p.server.authenticator = Some(Box::new(admin_only));
    p.server.transmitted = Some(Vec::new());
    assert!(p.handshake());
    assert_eq!(p.server.commands_sent(), ["WELCOME", "READY"]);
}
