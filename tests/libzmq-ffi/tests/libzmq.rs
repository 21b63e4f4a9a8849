//! Proves the from-source libzmq build works: NULL, CURVE and PLAIN (with a
//! ZAP handler) between two libzmq sockets over TCP loopback, monitor events,
//! message properties, and the utility oracles.

use libzmq_ffi::{
    curve_keypair, curve_public, has_capability, version, z85_decode, z85_encode, zap_metadata,
    Context, Event, Socket, SocketType, ZapHandler, ZapReply, ZmqError,
};

/// Every blocking call in these tests is bounded by this.
const TIMEOUT_MS: i32 = 5_000;

// The well-known keys of the zmq_curve man page (shared/vectors/keys.txt).
const SERVER_PUBLIC_Z85: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const SERVER_SECRET_Z85: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
const CLIENT_PUBLIC_Z85: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const CLIENT_SECRET_Z85: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
const SERVER_PUBLIC_HEX: &str = "54FCBA24E93249969316FB617C872BB0C1D1FF14800427C594CBFACF1BC2D652";
const SERVER_SECRET_HEX: &str = "8E0BDD697628B91D8F245587EE95C5B04D48963F79259877B49CD9063AEAD3B7";
const CLIENT_PUBLIC_HEX: &str = "BB88471D65E2659B30C55A5321CEBB5AAB2B70A398645C26DCA2B2FCB43FC518";
const CLIENT_SECRET_HEX: &str = "7BB864B489AFA3671FBE69101F94B38972F24816DFB01B51656B3FEC8DFD0888";

fn key(z85: &str) -> [u8; 32] {
    z85_decode(z85).unwrap().try_into().unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn socket(ctx: &Context, kind: SocketType) -> Socket {
    let s = ctx.socket(kind).unwrap();
    s.set_rcvtimeo(TIMEOUT_MS).unwrap();
    s.set_sndtimeo(TIMEOUT_MS).unwrap();
    s.set_linger(0).unwrap();
    s
}

/// Binds `server` on an ephemeral loopback port and returns the endpoint.
fn bind_loopback(server: &Socket) -> String {
    server.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = server.last_endpoint().unwrap();
    assert!(endpoint.starts_with("tcp://127.0.0.1:"), "{endpoint}");
    assert!(
        !endpoint.ends_with(":*") && !endpoint.ends_with(":0"),
        "{endpoint}"
    );
    endpoint
}

#[test]
fn version_is_4_3_5_with_curve() {
    assert_eq!(version(), (4, 3, 5));
    assert!(has_capability("curve"));
    assert!(has_capability("ipc"));
    assert!(!has_capability("draft"), "built without the DRAFT API");
    assert!(!has_capability("no-such-capability"));
}

#[test]
fn z85_and_curve_oracles_match_the_known_keys() {
    for (z85, hexed) in [
        (SERVER_PUBLIC_Z85, SERVER_PUBLIC_HEX),
        (SERVER_SECRET_Z85, SERVER_SECRET_HEX),
        (CLIENT_PUBLIC_Z85, CLIENT_PUBLIC_HEX),
        (CLIENT_SECRET_Z85, CLIENT_SECRET_HEX),
    ] {
        let bytes = z85_decode(z85).unwrap();
        assert_eq!(hex(&bytes), hexed);
        assert_eq!(z85_encode(&bytes).unwrap(), z85);
    }
    assert_eq!(
        curve_public(&key(SERVER_SECRET_Z85)).unwrap(),
        key(SERVER_PUBLIC_Z85)
    );
    assert_eq!(
        curve_public(&key(CLIENT_SECRET_Z85)).unwrap(),
        key(CLIENT_PUBLIC_Z85)
    );

    // The Z85 spec's own example.
    let hello = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
    assert_eq!(z85_encode(&hello).unwrap(), "HelloWorld");
    assert_eq!(z85_decode("HelloWorld").unwrap(), hello);

    let bad_len = z85_encode(&[1, 2, 3]).unwrap_err();
    assert_eq!(bad_len.errno, libzmq_ffi::EINVAL);
    assert!(z85_decode("1234").is_err());

    let pair = curve_keypair().unwrap();
    assert_eq!(curve_public(&pair.secret).unwrap(), pair.public);
    assert_ne!(curve_keypair().unwrap(), pair);
}

#[test]
fn errors_carry_errno_and_text() {
    let ctx = Context::new().unwrap();
    let s = socket(&ctx, SocketType::Dealer);
    let err: ZmqError = s.connect("nonsense://x").unwrap_err();
    assert_ne!(err.errno, 0);
    assert!(!err.message.is_empty());

    s.set_rcvtimeo(10).unwrap();
    let timeout = s.recv_multipart().unwrap_err();
    assert!(timeout.is_timeout(), "{timeout}");

    let unknown = s.set_int_option(9999, 1).unwrap_err();
    assert_eq!(unknown.errno, libzmq_ffi::EINVAL);
    assert_eq!(unknown.to_string(), "Invalid argument (errno 22)");
}

#[test]
fn dealer_dealer_null_over_tcp() {
    let ctx = Context::new().unwrap();
    let server = socket(&ctx, SocketType::Dealer);
    server.set_routing_id(b"server").unwrap();
    let endpoint = bind_loopback(&server);

    let client = socket(&ctx, SocketType::Dealer);
    client.set_routing_id(b"client-1").unwrap();
    let monitor = client.monitor(Event::ALL).unwrap();
    client.connect(&endpoint).unwrap();

    client
        .send_multipart(&[b"hello".as_slice(), b"", b"world"])
        .unwrap();
    let msg = server.recv_message().unwrap();
    assert_eq!(msg.parts(), [b"hello".to_vec(), vec![], b"world".to_vec()]);
    assert_eq!(msg.property("Socket-Type").as_deref(), Some("DEALER"));
    assert_eq!(msg.property("Identity").as_deref(), Some("client-1"));
    assert_eq!(msg.property("Peer-Address").as_deref(), Some("127.0.0.1"));
    assert_eq!(msg.property("User-Id"), None);

    let big = vec![0xA5u8; 1 << 20];
    server.send_multipart(&[&big[..], b"tail"]).unwrap();
    assert_eq!(client.recv_multipart().unwrap(), [big, b"tail".to_vec()]);

    let connected = monitor
        .wait_for(Event::CONNECTED, 5_000)
        .expect("CONNECTED");
    assert_eq!(connected.endpoint, endpoint);
    let ok = monitor
        .wait_for(Event::HANDSHAKE_SUCCEEDED, 5_000)
        .expect("HANDSHAKE_SUCCEEDED");
    assert_eq!(ok.name(), "HANDSHAKE_SUCCEEDED");
}

#[test]
fn router_sees_routing_id() {
    let ctx = Context::new().unwrap();
    let router = socket(&ctx, SocketType::Router);
    let endpoint = bind_loopback(&router);
    let dealer = socket(&ctx, SocketType::Dealer);
    dealer.set_routing_id(b"peer-A").unwrap();
    dealer.connect(&endpoint).unwrap();

    dealer.send(b"ping").unwrap();
    assert_eq!(
        router.recv_multipart().unwrap(),
        [b"peer-A".to_vec(), b"ping".to_vec()]
    );
    router
        .send_multipart(&[b"peer-A".as_slice(), b"pong"])
        .unwrap();
    assert_eq!(dealer.recv_multipart().unwrap(), [b"pong".to_vec()]);
}

/// Options are copied to a listener when it binds: set them all first.
fn curve_server(ctx: &Context, zap_domain: Option<&[u8]>) -> (Socket, String) {
    let server = socket(ctx, SocketType::Dealer);
    server.set_curve_server(true).unwrap();
    server.set_curve_secretkey(&key(SERVER_SECRET_Z85)).unwrap();
    if let Some(domain) = zap_domain {
        server.set_zap_domain(domain).unwrap();
    }
    let endpoint = bind_loopback(&server);
    (server, endpoint)
}

fn curve_client(ctx: &Context, endpoint: &str) -> (Socket, libzmq_ffi::Monitor) {
    let client = socket(ctx, SocketType::Dealer);
    client.set_curve_serverkey(&key(SERVER_PUBLIC_Z85)).unwrap();
    client.set_curve_publickey(&key(CLIENT_PUBLIC_Z85)).unwrap();
    client.set_curve_secretkey(&key(CLIENT_SECRET_Z85)).unwrap();
    let monitor = client.monitor(Event::ALL).unwrap();
    client.connect(endpoint).unwrap();
    (client, monitor)
}

#[test]
fn curve_handshake_with_the_known_keys() {
    let ctx = Context::new().unwrap();
    let (server, endpoint) = curve_server(&ctx, None);
    let (client, monitor) = curve_client(&ctx, &endpoint);

    monitor
        .wait_for(Event::HANDSHAKE_SUCCEEDED, 5_000)
        .expect("CURVE handshake succeeded");
    assert_eq!(
        server.get_int_option(libzmq_ffi::opt::MECHANISM).unwrap(),
        2
    );

    client
        .send_multipart(&[b"secret".as_slice(), b"message"])
        .unwrap();
    let msg = server.recv_message().unwrap();
    assert_eq!(msg.parts(), [b"secret".to_vec(), b"message".to_vec()]);
    // User-Id comes only from a ZAP reply; there is no handler here.
    assert_eq!(msg.property("User-Id"), None);

    server.send(b"reply").unwrap();
    assert_eq!(client.recv_multipart().unwrap(), [b"reply".to_vec()]);
}

#[test]
fn curve_with_zap_sees_client_key_and_sets_user_id() {
    let ctx = Context::new().unwrap();
    let client_key = key(CLIENT_PUBLIC_Z85);
    let zap = ZapHandler::start(&ctx, move |req| {
        if req.curve_public_key() == Some(client_key) {
            ZapReply::allow("known-client").with_metadata(zap_metadata(&[("Tier", "gold")]))
        } else {
            ZapReply::deny("unknown key")
        }
    })
    .unwrap();
    let (server, endpoint) = curve_server(&ctx, Some(b"curve-domain"));
    let (client, _monitor) = curve_client(&ctx, &endpoint);

    client.send(b"hi").unwrap();
    let msg = server.recv_message().unwrap();
    assert_eq!(msg.parts(), [b"hi".to_vec()]);
    assert_eq!(msg.property("User-Id").as_deref(), Some("known-client"));
    assert_eq!(msg.property("Tier").as_deref(), Some("gold"));

    let requests = zap.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let req = &requests[0];
    assert_eq!(req.version, "1.0");
    assert_eq!(req.mechanism, "CURVE");
    assert_eq!(req.domain, "curve-domain");
    assert_eq!(req.address, "127.0.0.1");
    assert_eq!(req.credentials, [client_key.to_vec()]);

    // A client with another key pair is refused with 400.
    let stranger = curve_keypair().unwrap();
    let bad = socket(&ctx, SocketType::Dealer);
    bad.set_curve_serverkey(&key(SERVER_PUBLIC_Z85)).unwrap();
    bad.set_curve_publickey(&stranger.public).unwrap();
    bad.set_curve_secretkey(&stranger.secret).unwrap();
    let monitor = bad.monitor(Event::ALL).unwrap();
    bad.connect(&endpoint).unwrap();
    let failed = monitor
        .wait_for(Event::HANDSHAKE_FAILED_AUTH, 5_000)
        .expect("HANDSHAKE_FAILED_AUTH");
    assert_eq!(failed.value, 400);
}

#[test]
fn plain_with_zap_accepts_one_user_and_rejects_another() {
    let ctx = Context::new().unwrap();
    let zap = ZapHandler::start(&ctx, |req| match req.plain_credentials() {
        Some((b"admin", b"s3cret")) => {
            ZapReply::allow("admin-user-id").with_metadata(zap_metadata(&[
                ("Hello", b"World".as_slice()),
                ("X-Role", b"ops"),
            ]))
        }
        _ => ZapReply::deny("bad credentials"),
    })
    .unwrap();

    let server = socket(&ctx, SocketType::Dealer);
    server.set_plain_server(true).unwrap();
    server.set_zap_domain(b"test").unwrap();
    let server_monitor = server.monitor(Event::ALL).unwrap();
    let endpoint = bind_loopback(&server);

    // Accepted user: messages flow and carry the ZAP user id and metadata.
    let good = socket(&ctx, SocketType::Dealer);
    good.set_plain_username(b"admin").unwrap();
    good.set_plain_password(b"s3cret").unwrap();
    good.connect(&endpoint).unwrap();
    good.send_multipart(&[b"from".as_slice(), b"admin"])
        .unwrap();
    let msg = server.recv_message().unwrap();
    assert_eq!(msg.parts(), [b"from".to_vec(), b"admin".to_vec()]);
    assert_eq!(msg.property("User-Id").as_deref(), Some("admin-user-id"));
    assert_eq!(msg.property("Hello").as_deref(), Some("World"));
    assert_eq!(msg.property("X-Role").as_deref(), Some("ops"));
    assert_eq!(msg.property("Socket-Type").as_deref(), Some("DEALER"));
    server.send(b"welcome").unwrap();
    assert_eq!(good.recv_multipart().unwrap(), [b"welcome".to_vec()]);

    // Rejected user: the client's monitor reports the ZAP status code.
    let bad = socket(&ctx, SocketType::Dealer);
    bad.set_plain_username(b"mallory").unwrap();
    bad.set_plain_password(b"guess").unwrap();
    let monitor = bad.monitor(Event::ALL).unwrap();
    bad.connect(&endpoint).unwrap();
    let failed = monitor
        .wait_for(Event::HANDSHAKE_FAILED_AUTH, 5_000)
        .expect("client sees HANDSHAKE_FAILED_AUTH");
    assert_eq!(failed.value, 400);
    assert_eq!(failed.endpoint, endpoint);
    let server_failed = server_monitor
        .wait_for(Event::HANDSHAKE_FAILED_AUTH, 5_000)
        .expect("server sees HANDSHAKE_FAILED_AUTH");
    assert_eq!(server_failed.value, 400);

    // Nothing from the rejected client reaches the server.
    bad.try_send(b"sneaky").ok();
    server.set_rcvtimeo(200).unwrap();
    assert!(server.recv_multipart().unwrap_err().is_timeout());

    let requests = zap.requests();
    assert!(requests.len() >= 2, "{requests:?}");
    assert_eq!(requests[0].mechanism, "PLAIN");
    assert_eq!(requests[0].domain, "test");
    assert_eq!(
        requests[0].credentials,
        [b"admin".to_vec(), b"s3cret".to_vec()]
    );
    assert!(requests[1..]
        .iter()
        .all(|r| r.plain_credentials() == Some((b"mallory".as_slice(), b"guess".as_slice()))));
}

#[test]
fn zap_handler_that_panics_answers_500() {
    let ctx = Context::new().unwrap();
    let _zap = ZapHandler::start(&ctx, |_| panic!("handler bug")).unwrap();
    let server = socket(&ctx, SocketType::Dealer);
    server.set_plain_server(true).unwrap();
    let endpoint = bind_loopback(&server);
    let client = socket(&ctx, SocketType::Dealer);
    client.set_plain_username(b"u").unwrap();
    client.set_plain_password(b"p").unwrap();
    let monitor = client.monitor(Event::ALL).unwrap();
    client.connect(&endpoint).unwrap();
    let failed = monitor
        .wait_for(Event::HANDSHAKE_FAILED_AUTH, 5_000)
        .expect("HANDSHAKE_FAILED_AUTH");
    assert_eq!(failed.value, 500);
}

#[test]
fn second_zap_handler_in_one_context_is_refused_and_drop_is_prompt() {
    let ctx = Context::new().unwrap();
    let first = ZapHandler::start(&ctx, |_| ZapReply::allow("x")).unwrap();
    assert!(ZapHandler::start(&ctx, |_| ZapReply::allow("y")).is_err());
    let started = std::time::Instant::now();
    drop(first);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // The endpoint is free again.
    let again = ZapHandler::start(&ctx, |_| ZapReply::allow("z")).unwrap();
    drop(again);
    drop(ctx);
}

#[test]
fn pub_sub_and_push_pull() {
    let ctx = Context::new().unwrap();

    let publisher = socket(&ctx, SocketType::Pub);
    let endpoint = bind_loopback(&publisher);
    let subscriber = socket(&ctx, SocketType::Sub);
    subscriber.set_subscribe(b"news").unwrap();
    subscriber.connect(&endpoint).unwrap();
    // Subscriptions propagate asynchronously: publish until one arrives.
    subscriber.set_rcvtimeo(50).unwrap();
    let got = (0..100).find_map(|_| {
        publisher
            .send_multipart(&[b"weather".as_slice(), b"x"])
            .unwrap();
        publisher
            .send_multipart(&[b"news".as_slice(), b"y"])
            .unwrap();
        subscriber.recv_multipart().ok()
    });
    assert_eq!(got, Some(vec![b"news".to_vec(), b"y".to_vec()]));

    let pull = socket(&ctx, SocketType::Pull);
    let endpoint = bind_loopback(&pull);
    let push = socket(&ctx, SocketType::Push);
    push.connect(&endpoint).unwrap();
    for i in 0..10u8 {
        push.send(&[i]).unwrap();
    }
    for i in 0..10u8 {
        assert_eq!(pull.recv_multipart().unwrap(), [vec![i]]);
    }
}

#[test]
fn zap_enforce_domain_works_without_the_draft_api() {
    let ctx = Context::new().unwrap();
    // NULL with a ZAP domain but no handler: allowed by default...
    let lenient = socket(&ctx, SocketType::Dealer);
    lenient.set_zap_domain(b"d").unwrap();
    let endpoint = bind_loopback(&lenient);
    let client = socket(&ctx, SocketType::Dealer);
    client.connect(&endpoint).unwrap();
    client.send(b"in").unwrap();
    assert_eq!(lenient.recv_multipart().unwrap(), [b"in".to_vec()]);

    // ...refused when the domain is enforced.
    let strict = socket(&ctx, SocketType::Dealer);
    strict.set_zap_domain(b"d").unwrap();
    strict.set_zap_enforce_domain(true).unwrap();
    assert_eq!(
        strict
            .get_int_option(libzmq_ffi::opt::ZAP_ENFORCE_DOMAIN)
            .unwrap(),
        1
    );
    let monitor = strict.monitor(Event::ALL).unwrap();
    let endpoint = bind_loopback(&strict);
    let client = socket(&ctx, SocketType::Dealer);
    client.connect(&endpoint).unwrap();
    let failed = monitor
        .wait_for(Event::HANDSHAKE_FAILED_NO_DETAIL, 5_000)
        .expect("HANDSHAKE_FAILED_NO_DETAIL");
    // libzmq reports EFAULT (14 on Linux) for the missing handler.
    assert_eq!(failed.value, 14);
}

#[test]
fn zap_metadata_is_zmtp_encoded() {
    assert_eq!(
        zap_metadata(&[("Hello", b"World".as_slice()), ("E", b"")]),
        b"\x05Hello\x00\x00\x00\x05World\x01E\x00\x00\x00\x00"
    );
}
