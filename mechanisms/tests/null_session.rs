//! NULL handshakes and session behaviour over an in-memory pair.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use zmtp_core::testing::{Delivery, Pair};
use zmtp_core::{
    AuthReply, AuthStatus, Error, Event, Limit, Metadata, MonitorEvent, ProtocolError,
    SessionConfig, SocketType, ZapFailure,
};
use zmtp_mechanisms::NullConfig;

fn config(t: SocketType) -> SessionConfig {
    SessionConfig::new(t, Arc::new(NullConfig::new()))
}

fn pair(a: SocketType, b: SocketType) -> Pair {
    Pair::new(config(a), config(b))
}

#[test]
fn null_handshake_and_messages_both_ways() {
    for delivery in [
        Delivery::Whole,
        Delivery::ByteByByte,
        Delivery::Reads(1000),
        Delivery::Reads(64 << 10),
    ] {
        let mut p = pair(SocketType::Dealer, SocketType::Router);
        p.delivery = delivery;
        assert!(p.handshake(), "{delivery:?}");
        let peer = p.server.session.peer().unwrap();
        assert_eq!(peer.socket_type, SocketType::Dealer);
        assert_eq!(peer.properties.get_str("Peer-Address"), Some("127.0.0.1"));
        p.client
            .session
            .send_message(vec![Bytes::from_static(b"a"), Bytes::from_static(b"bc")])
            .unwrap();
        p.server
            .session
            .send_message(vec![Bytes::from(vec![7u8; 70_000])])
            .unwrap();
        p.step();
        assert_eq!(
            p.server.messages(),
            vec![vec![Bytes::from_static(b"a"), Bytes::from_static(b"bc")]]
        );
        assert_eq!(p.client.messages()[0][0].len(), 70_000);
    }
}

#[test]
fn null_ready_bytes_are_exact() {
    let mut p = pair(SocketType::Dealer, SocketType::Router);
    let mut wire = Vec::new();
    while let Some(c) = p.client.session.poll_transmit() {
        wire.extend_from_slice(&c);
    }
    assert_eq!(
        wire.len(),
        64,
        "only the greeting before the peer's greeting arrives"
    );
    // Feed the server's greeting to the client: its READY follows.
    let mut server_out = Vec::new();
    while let Some(c) = p.server.session.poll_transmit() {
        server_out.extend_from_slice(&c);
    }
    let mut inbox = bytes::BytesMut::from(&server_out[..]);
    p.client.session.handle_input(&mut inbox, p.now).unwrap();
    let mut ready = Vec::new();
    while let Some(c) = p.client.session.poll_transmit() {
        ready.extend_from_slice(&c);
    }
    let expected: &[u8] =
        b"\x04\x29\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x00";
    assert_eq!(&ready[..], expected);
}

#[test]
fn incompatible_socket_types_are_closed() {
    let mut p = pair(SocketType::Push, SocketType::Push);
    assert!(!p.handshake());
    assert!(matches!(
        p.server.error,
        Some(Error::Protocol(
            ProtocolError::IncompatibleSocketType { .. }
        ))
    ));
}

#[test]
fn identity_is_sent_only_by_req_dealer_router() {
    let mut c = config(SocketType::Dealer);
    c.routing_id = Bytes::from_static(b"peer-7");
    let mut p = Pair::new(c, config(SocketType::Router));
    assert!(p.handshake());
    assert_eq!(
        p.server.session.peer().unwrap().routing_id,
        Bytes::from_static(b"peer-7")
    );
    let mut c = config(SocketType::Push);
    c.routing_id = Bytes::from_static(b"ignored");
    let mut p = Pair::new(c, config(SocketType::Pull));
    assert!(p.handshake());
    assert!(p
        .server
        .session
        .peer()
        .unwrap()
        .properties
        .get("Identity")
        .is_none());
}

#[test]
fn mechanism_mismatch_is_typed() {
    let mut p = pair(SocketType::Pair, SocketType::Pair);
    let mut greeting = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    greeting.extend_from_slice(b"PLAIN\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    greeting.extend_from_slice(&[0u8; 32]);
    let err = p.inject_into_server(&greeting).unwrap_err();
    assert_eq!(
        err,
        Error::Protocol(ProtocolError::MechanismMismatch {
            ours: "NULL".into(),
            theirs: "PLAIN".into()
        })
    );
    assert_eq!(
        err.handshake_event(),
        (MonitorEvent::HandshakeFailedProtocol, 0x1100_0002)
    );
    // Sticky: later input gets the same error.
    assert_eq!(p.inject_into_server(b"more").unwrap_err(), err);
}

#[test]
fn garbage_is_refused() {
    let mut p = pair(SocketType::Pair, SocketType::Pair);
    let err = p.inject_into_server(b"GET / HTTP/1.1\r\n").unwrap_err();
    assert_eq!(err, Error::Protocol(ProtocolError::BadSignature));
}

#[test]
fn data_frame_during_handshake_is_refused() {
    let mut p = pair(SocketType::Pair, SocketType::Pair);
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
    g.extend_from_slice(b"NULL\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    g.extend_from_slice(&[0u8; 32]);
    g.extend_from_slice(b"\x00\x02hi");
    assert_eq!(
        p.inject_into_server(&g).unwrap_err(),
        Error::Protocol(ProtocolError::DataDuringHandshake)
    );
}

#[test]
fn oversized_frame_is_refused_without_allocating() {
    let mut server = config(SocketType::Pull);
    server.limits.max_frame_size = 1024;
    let mut p = Pair::new(config(SocketType::Push), server);
    assert!(p.handshake());
    // A frame announcing 2^63 octets.
    let err = p
        .inject_into_server(b"\x02\x80\x00\x00\x00\x00\x00\x00\x00")
        .unwrap_err();
    assert!(matches!(
        err,
        Error::LimitExceeded {
            what: Limit::FrameSize,
            ..
        }
    ));
}

#[test]
fn message_size_and_part_limits_hold_across_frames() {
    let mut server = config(SocketType::Pull);
    server.limits.max_message_size = 100;
    let mut p = Pair::new(config(SocketType::Push), server);
    assert!(p.handshake());
    p.client
        .session
        .send_message(vec![Bytes::from(vec![0u8; 60]), Bytes::from(vec![0u8; 60])])
        .unwrap();
    p.step();
    assert!(matches!(
        p.server.error,
        Some(Error::LimitExceeded {
            what: Limit::MessageSize,
            ..
        })
    ));

    let mut server = config(SocketType::Pull);
    server.limits.max_message_parts = 3;
    let mut p = Pair::new(config(SocketType::Push), server);
    assert!(p.handshake());
    p.client
        .session
        .send_message(vec![Bytes::new(); 4])
        .unwrap();
    p.step();
    assert!(matches!(
        p.server.error,
        Some(Error::LimitExceeded {
            what: Limit::MessageParts,
            ..
        })
    ));
}

#[test]
fn handshake_times_out() {
    let mut p = pair(SocketType::Pair, SocketType::Pair);
    // The client never receives anything: only time passes.
    p.server
        .session
        .handle_timeout(p.now + Duration::from_secs(29))
        .unwrap();
    assert_eq!(
        p.server
            .session
            .handle_timeout(p.now + Duration::from_secs(30)),
        Err(Error::HandshakeTimeout)
    );
}

#[test]
fn heartbeats_ping_pong_and_timeout() {
    let mut c = config(SocketType::Dealer);
    c.heartbeat.interval = Some(Duration::from_secs(1));
    c.heartbeat.ttl = Some(Duration::from_secs(3));
    let mut p = Pair::new(c, config(SocketType::Dealer));
    assert!(p.handshake());
    let deadline = p.client.session.poll_timeout().unwrap();
    assert_eq!(deadline, p.now + Duration::from_secs(1));
    // The PING goes out, the server answers PONG, the client stays alive.
    p.advance(Duration::from_secs(1));
    p.advance(Duration::from_secs(1));
    assert!(p.client.error.is_none() && p.server.error.is_none());
    // The server now holds a TTL of 3 s: if the client goes silent, the server gives up.
    let silent_from = p.now;
    assert_eq!(
        p.server
            .session
            .handle_timeout(silent_from + Duration::from_secs(3)),
        Err(Error::HeartbeatTimeout)
    );
}

#[test]
fn missing_pong_times_out() {
    let mut c = config(SocketType::Dealer);
    c.heartbeat.interval = Some(Duration::from_secs(1));
    c.heartbeat.timeout = Some(Duration::from_secs(2));
    let mut p = Pair::new(c, config(SocketType::Dealer));
    assert!(p.handshake());
    let t0 = p.now;
    p.client
        .session
        .handle_timeout(t0 + Duration::from_secs(1))
        .unwrap();
    // The PING is never delivered, so no PONG comes back.
    while p.client.session.poll_transmit().is_some() {}
    assert_eq!(
        p.client.session.handle_timeout(t0 + Duration::from_secs(3)),
        Err(Error::HeartbeatTimeout)
    );
}

#[test]
fn a_ping_flood_leaves_one_pong_owed() {
    // Threat: a peer sends PINGs and never reads. Each PING used to queue its own PONG, so the
    // server's memory grew with the flood; now a newer PING replaces the PONG still owed.
    let mut p = pair(SocketType::Dealer, SocketType::Dealer);
    assert!(p.handshake());
    let mut flood = Vec::new();
    for i in 0..10_000u32 {
        // PING: ttl 0, context = the counter.
        let ctx = i.to_be_bytes();
        flood.extend_from_slice(&[0x04, 5 + 2 + 4, 4]);
        flood.extend_from_slice(b"PING\x00\x00");
        flood.extend_from_slice(&ctx);
    }
    p.inject_into_server(&flood).unwrap();
    assert!(p.server.session.pong_due());
    assert!(p.server.session.pending_transmit() < 64);
    let mut out = Vec::new();
    while let Some(chunk) = p.server.session.poll_transmit() {
        out.extend_from_slice(&chunk);
    }
    // One PONG, echoing the latest PING's context.
    let mut pong = vec![0x04, 5 + 4, 4];
    pong.extend_from_slice(b"PONG");
    pong.extend_from_slice(&9_999u32.to_be_bytes());
    assert_eq!(out, pong);
    assert!(!p.server.session.pong_due());
}

#[test]
fn a_pong_waits_behind_queued_bytes_and_keeps_order() {
    let mut p = pair(SocketType::Dealer, SocketType::Dealer);
    assert!(p.handshake());
    p.server
        .session
        .send_message(vec![Bytes::from_static(b"first")])
        .unwrap();
    p.inject_into_server(b"\x04\x07\x04PING\x00\x00").unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = p.server.session.poll_transmit() {
        out.extend_from_slice(&chunk);
    }
    assert_eq!(out, b"\x00\x05first\x04\x05\x04PONG");
}

#[test]
fn a_user_id_announced_by_the_peer_is_dropped_without_zap() {
    // Threat: on a NULL socket without ZAP, a peer announcing `User-Id: root` in READY passed
    // for an authenticated user. Only the authenticator sets User-Id (and only we Peer-Address).
    let mut c = config(SocketType::Dealer);
    c.metadata = Metadata::new()
        .with("User-Id", &b"root"[..])
        .unwrap()
        .with("peer-address", &b"10.0.0.1"[..])
        .unwrap()
        .with("Hello", &b"World"[..])
        .unwrap();
    let mut p = Pair::new(c, config(SocketType::Dealer));
    assert!(p.handshake());
    let peer = p.server.session.peer().unwrap();
    assert_eq!(peer.properties.get_str("User-Id"), None);
    assert_eq!(peer.user_id, None);
    assert_eq!(peer.properties.get_str("Peer-Address"), Some("127.0.0.1"));
    // The peer's other properties stay reachable under their names.
    assert_eq!(peer.properties.get_str("Hello"), Some("World"));
}

#[test]
fn subscriptions_travel_as_commands_to_3_1_peers() {
    let mut p = pair(SocketType::Sub, SocketType::Pub);
    assert!(p.handshake());
    p.client
        .session
        .send_subscription(b"weather", true)
        .unwrap();
    p.client
        .session
        .send_subscription(b"weather", false)
        .unwrap();
    p.step();
    let subs: Vec<_> = p
        .server
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Subscribe(t) => Some(("sub", t.clone())),
            Event::Cancel(t) => Some(("cancel", t.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        subs,
        vec![
            ("sub", Bytes::from_static(b"weather")),
            ("cancel", Bytes::from_static(b"weather"))
        ]
    );
}

#[test]
fn pub_accepts_3_0_subscription_messages() {
    let mut p = pair(SocketType::Xsub, SocketType::Xpub);
    assert!(p.handshake());
    p.client
        .session
        .send_message(vec![Bytes::from_static(b"\x01topic")])
        .unwrap();
    p.client
        .session
        .send_message(vec![Bytes::from_static(b"\x00topic")])
        .unwrap();
    p.step();
    assert!(matches!(&p.server.events[1], Event::Subscribe(t) if &t[..] == b"topic"));
    assert!(matches!(&p.server.events[2], Event::Cancel(t) if &t[..] == b"topic"));
}

fn zap_server(domain: &str) -> SessionConfig {
    let mut s = config(SocketType::Router);
    s.zap_domain = Some(domain.into());
    s.routing_id = Bytes::from_static(b"srv");
    s
}

#[test]
fn null_with_zap_allows_and_sets_user_id() {
    let mut p = Pair::new(config(SocketType::Dealer), zap_server("global"));
    p.server.authenticator = Some(Box::new(|req| {
        assert_eq!(req.domain, "global");
        assert_eq!(req.address, "127.0.0.1");
        assert_eq!(&req.identity[..], b"srv");
        assert!(req.credentials.is_empty());
        let mut reply = AuthReply::allow("anonymous");
        reply.metadata = Metadata::new().with("Hello", &b"World"[..]).unwrap();
        Ok(reply)
    }));
    assert!(p.handshake());
    let peer = p.server.session.peer().unwrap();
    assert_eq!(peer.user_id.as_deref(), Some("anonymous"));
    assert_eq!(peer.properties.get_str("User-Id"), Some("anonymous"));
    assert_eq!(peer.properties.get_str("Hello"), Some("World"));
}

#[test]
fn peer_cannot_shadow_user_id() {
    let mut c = config(SocketType::Dealer);
    c.metadata = Metadata::new().with("User-Id", &b"root"[..]).unwrap();
    let mut p = Pair::new(c, zap_server("d"));
    p.server.authenticator = Some(Box::new(|_| Ok(AuthReply::allow("guest"))));
    assert!(p.handshake());
    let peer = p.server.session.peer().unwrap();
    assert_eq!(peer.properties.get_str("User-Id"), Some("guest"));
}

#[test]
fn null_with_zap_denied_sends_error_with_status() {
    for (status, code) in [
        (AuthStatus::Failure, 400u16),
        (AuthStatus::InternalError, 500),
    ] {
        let mut p = Pair::new(config(SocketType::Dealer), zap_server("d"));
        p.server.authenticator = Some(Box::new(move |_| {
            let mut r = AuthReply::deny("no");
            r.status = status;
            Ok(r)
        }));
        assert!(!p.handshake());
        assert!(matches!(p.server.error, Some(Error::AuthFailed { status, .. }) if status == code));
        assert_eq!(
            p.client.error,
            Some(Error::PeerRefused {
                reason: code.to_string()
            })
        );
        assert_eq!(
            p.client.error.as_ref().unwrap().handshake_event(),
            (MonitorEvent::HandshakeFailedAuth, u32::from(code))
        );
    }
}

#[test]
fn zap_300_closes_without_error() {
    let mut p = Pair::new(config(SocketType::Dealer), zap_server("d"));
    p.server.authenticator = Some(Box::new(|_| {
        let mut r = AuthReply::deny("later");
        r.status = AuthStatus::TemporaryFailure;
        Ok(r)
    }));
    assert!(!p.handshake());
    assert!(matches!(
        p.server.error,
        Some(Error::AuthFailed { status: 300, .. })
    ));
    assert!(p.client.error.is_none(), "no ERROR reaches the client");
}

#[test]
fn zap_failure_closes_with_protocol_code() {
    let mut p = Pair::new(config(SocketType::Dealer), zap_server("d"));
    p.server.authenticator = Some(Box::new(|_| Err(ZapFailure::BadVersion)));
    assert!(!p.handshake());
    let err = p.server.error.clone().unwrap();
    assert_eq!(
        err.handshake_event(),
        (MonitorEvent::HandshakeFailedProtocol, 0x2000_0003)
    );
}

#[test]
fn auth_request_waits_for_a_reply() {
    let mut p = Pair::new(config(SocketType::Dealer), zap_server("d"));
    assert!(!p.handshake());
    assert_eq!(p.server.auth_requests.len(), 1);
    let now = p.now;
    p.server
        .session
        .handle_auth_reply(Ok(AuthReply::allow("late")), now)
        .unwrap();
    assert!(p.handshake());
}

#[test]
fn a_null_side_awaiting_zap_sends_no_ready_to_an_incompatible_peer() {
    // The ZAP verdict is held back, so the client's READY (PUB, which a ROUTER cannot talk to)
    // arrives first: the server fails on it at once and never sends its own READY.
    let mut p = Pair::new(config(SocketType::Pub), zap_server("d"));
    p.server.transmitted = Some(Vec::new());
    assert!(!p.handshake());
    assert_eq!(p.server.auth_requests.len(), 1);
    assert_eq!(
        p.server.error,
        Some(Error::Protocol(ProtocolError::IncompatibleSocketType {
            ours: "ROUTER",
            peer: "PUB".into()
        }))
    );
    assert!(p.server.commands_sent().is_empty());
    assert!(p
        .server
        .session
        .handle_auth_reply(Ok(AuthReply::allow("late")), p.now)
        .is_err());
    p.step();
    assert!(p.server.commands_sent().is_empty());
}

#[test]
fn a_message_encoded_once_reaches_every_null_peer_as_sent() {
    // One encoding, handed to the sessions of two peers: each receives the message whole,
    // after what was queued before it and before what follows.
    let parts = [Bytes::from_static(b"topic"), Bytes::from(vec![3u8; 300])];
    let wire = zmtp_core::wire::frame::encode_message(&parts);
    for _ in 0..2 {
        let mut p = pair(SocketType::Pub, SocketType::Sub);
        assert!(p.handshake());
        assert!(p.client.session.peer().unwrap().frames_unchanged);
        let server = &mut p.server.session;
        server.send_message([Bytes::from_static(b"first")]).unwrap();
        server.send_encoded(wire.clone()).unwrap();
        server.send_message([Bytes::from_static(b"last")]).unwrap();
        p.step();
        assert_eq!(
            p.client.messages(),
            vec![
                vec![Bytes::from_static(b"first")],
                parts.to_vec(),
                vec![Bytes::from_static(b"last")],
            ]
        );
    }
}

#[test]
fn an_encoded_message_before_the_handshake_is_refused() {
    let mut p = pair(SocketType::Pub, SocketType::Sub);
    let wire = zmtp_core::wire::frame::encode_message(&[Bytes::from_static(b"x")]);
    assert!(matches!(
        p.server.session.send_encoded(wire),
        Err(Error::User(zmtp_core::UserError::NotReady))
    ));
}
