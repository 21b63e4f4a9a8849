//! ZAP against real libzmq 4.3.5 and pyzmq: libzmq clients against our servers with each
//! built-in handler, pyzmq's own `zmq.auth` handler reached through our proxy, and libzmq
//! servers answered by our `serve_zap` through a bridge from their in-process ZAP endpoint. Certificate
//! files crossing between us and pyzmq are in `interop_certs.rs`.

use std::sync::Arc;

use serde_json::{json, Value};
use zmtp::mechanisms::{
    CurveClientConfig, CurvePublicKey, CurveSecretKey, CurveServerConfig, PlainClientConfig,
    PlainServerConfig,
};
use zmtp::zap::{Authenticator, CertFormat, Certificate, Policy};
use zmtp::{serve_zap, MonitorEvent, Socket, SocketOptions, SocketType, ZapProxy};
use zmtp_tests::pyzmq::{hex_frames, Peer};
use zmtp_tests::{event, recv};

// The zmq_curve(7) man-page keypairs (../shared/vectors/keys.txt).
const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

fn curve_server(auth: Arc<dyn Authenticator>) -> SocketOptions {
    SocketOptions {
        mechanism: Arc::new(CurveServerConfig::new(
            CurveSecretKey::from_z85(SERVER_SECRET).unwrap(),
        )),
        authenticator: Some(auth),
        ..Default::default()
    }
}

fn plain_server(auth: Arc<dyn Authenticator>) -> SocketOptions {
    SocketOptions {
        mechanism: Arc::new(PlainServerConfig::new()),
        authenticator: Some(auth),
        ..Default::default()
    }
}

fn libzmq_curve_client(public: &str, secret: &str) -> Value {
    json!({
        "type": "DEALER",
        "monitor": true,
        "options": {
            "curve_serverkey": SERVER_PUBLIC,
            "curve_publickey": public,
            "curve_secretkey": secret,
        },
    })
}

fn libzmq_plain_client(user: &str, password: &str) -> Value {
    json!({
        "type": "DEALER",
        "monitor": true,
        "options": { "plain_username": user, "plain_password": password },
    })
}

/// Binds `ours`, starts a libzmq client that sends "hello" once its handshake succeeded, and
/// returns our received message.
async fn admitted(ours: &Socket, mut client: Value) -> zmtp::Message {
    let ep = ours.bind("tcp://127.0.0.1:*").await.unwrap();
    client["connect"] = json!(ep);
    client["script"] = json!([
        { "op": "wait_event", "event": "HANDSHAKE_SUCCEEDED" },
        { "op": "send", "frames": hex_frames(&[b"hello"]) },
    ]);
    let _peer = Peer::spawn(&client);
    recv(ours).await
}

/// Binds `ours`, starts a libzmq client, and returns the ZAP status its monitor reports.
async fn refused(ours: &Socket, mut client: Value) -> u64 {
    let mut monitor = ours.monitor(64);
    let ep = ours.bind("tcp://127.0.0.1:*").await.unwrap();
    client["connect"] = json!(ep);
    client["script"] = json!([{ "op": "wait_event", "event": "HANDSHAKE_FAILED_AUTH" }]);
    let mut peer = Peer::spawn(&client);
    let ours_saw = event(&mut monitor, MonitorEvent::HandshakeFailedAuth).await;
    let theirs = peer.event("HANDSHAKE_FAILED_AUTH").await;
    assert_eq!(u64::from(ours_saw), theirs);
    theirs
}

#[tokio::test]
async fn libzmq_curve_client_and_our_certificate_directory() {
    let dir = tempfile::tempdir().unwrap();
    // The client's public certificate, written by us in czmq form with metadata.
    Certificate::from_secret(CurveSecretKey::from_z85(CLIENT_SECRET).unwrap())
        .with_metadata("Hello", "World")
        .save_public(&dir.path().join("client"), CertFormat::Czmq)
        .unwrap();
    let policy = Arc::new(Policy::new().curve_certs("*", dir.path()).unwrap());
    let ours = Socket::with_options(SocketType::Dealer, curve_server(policy.clone()));
    let msg = admitted(&ours, libzmq_curve_client(CLIENT_PUBLIC, CLIENT_SECRET)).await;
    assert_eq!(msg.property("User-Id"), Some(CLIENT_PUBLIC));
    assert_eq!(msg.property("Hello"), Some("World"));

    // A client whose key is in no certificate: libzmq reports our 400.
    let ours = Socket::with_options(SocketType::Dealer, curve_server(policy));
    let status = refused(&ours, libzmq_curve_client(SERVER_PUBLIC, SERVER_SECRET)).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn libzmq_curve_client_with_a_pyzmq_written_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let created = pyzmq_certs(json!({
        "create": { "dir": dir.path(), "name": "client", "metadata": { "Role": "ops" } }
    }))
    .await;
    let public = created["created_keys"][0].as_str().unwrap().to_owned();
    let secret = created["created_keys"][1].as_str().unwrap().to_owned();
    // pyzmq put both files in the directory; the secret one is skipped by name.
    let policy = Arc::new(Policy::new().curve_certs("*", dir.path()).unwrap());
    let ours = Socket::with_options(SocketType::Dealer, curve_server(policy));
    let msg = admitted(&ours, libzmq_curve_client(&public, &secret)).await;
    assert_eq!(msg.property("User-Id"), Some(public.as_str()));
}

#[tokio::test]
async fn libzmq_curve_client_with_allow_any() {
    let policy = Arc::new(Policy::new().curve_allow_any("*"));
    let ours = Socket::with_options(SocketType::Dealer, curve_server(policy));
    let msg = admitted(&ours, libzmq_curve_client(CLIENT_PUBLIC, CLIENT_SECRET)).await;
    assert_eq!(msg.property("User-Id"), Some(CLIENT_PUBLIC));
}

#[tokio::test]
async fn libzmq_plain_client_and_our_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passwords");
    std::fs::write(&path, "admin=secret\n").unwrap();
    let policy = Arc::new(Policy::new().passwords_file("*", &path).unwrap());
    let ours = Socket::with_options(SocketType::Dealer, plain_server(policy.clone()));
    let msg = admitted(&ours, libzmq_plain_client("admin", "secret")).await;
    assert_eq!(msg.property("User-Id"), Some("admin"));
    let ours = Socket::with_options(SocketType::Dealer, plain_server(policy));
    assert_eq!(
        refused(&ours, libzmq_plain_client("admin", "nope")).await,
        400
    );
}

#[tokio::test]
async fn libzmq_null_client_and_our_address_lists() {
    let deny = Arc::new(Policy::new().deny("127.0.0.1").unwrap());
    let ours = Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            authenticator: Some(deny),
            ..Default::default()
        },
    );
    let client = json!({ "type": "DEALER", "monitor": true });
    assert_eq!(refused(&ours, client.clone()).await, 400);
    let allow = Arc::new(Policy::new().allow("127.0.0.1").unwrap());
    let ours = Socket::with_options(
        SocketType::Dealer,
        SocketOptions {
            authenticator: Some(allow),
            ..Default::default()
        },
    );
    let msg = admitted(&ours, client).await;
    assert_eq!(msg.parts()[0], "hello");
}

async fn pyzmq_handler(config: Value) -> (Peer, String) {
    let mut handler = Peer::spawn_script("zap_handler.py", &config);
    let ep = handler.bound().await;
    (handler, ep)
}

#[tokio::test]
async fn pyzmq_zap_handler_through_our_proxy_plain() {
    let (_handler, ep) = pyzmq_handler(json!({
        "plain": { "passwords": { "admin": "secret" } },
    }))
    .await;
    let proxy = Arc::new(ZapProxy::connect(&ep).await.unwrap());
    let ours = Socket::with_options(SocketType::Dealer, plain_server(proxy.clone()));
    let msg = admitted(&ours, libzmq_plain_client("admin", "secret")).await;
    assert_eq!(msg.property("User-Id"), Some("admin"));
    let ours = Socket::with_options(SocketType::Dealer, plain_server(proxy));
    assert_eq!(
        refused(&ours, libzmq_plain_client("admin", "wrong")).await,
        400
    );
}

#[tokio::test]
async fn pyzmq_zap_handler_through_our_proxy_curve_with_our_pyzmq_certificates() {
    let dir = tempfile::tempdir().unwrap();
    Certificate::from_secret(CurveSecretKey::from_z85(CLIENT_SECRET).unwrap())
        .save_public(&dir.path().join("client"), CertFormat::Pyzmq)
        .unwrap();
    let (_handler, ep) = pyzmq_handler(json!({
        "curve": { "location": dir.path() },
    }))
    .await;
    let proxy = Arc::new(ZapProxy::connect(&ep).await.unwrap());
    let ours = Socket::with_options(SocketType::Dealer, curve_server(proxy.clone()));
    let msg = admitted(&ours, libzmq_curve_client(CLIENT_PUBLIC, CLIENT_SECRET)).await;
    // pyzmq names CURVE users by their Z85 key.
    assert_eq!(msg.property("User-Id"), Some(CLIENT_PUBLIC));
    let ours = Socket::with_options(SocketType::Dealer, curve_server(proxy));
    assert_eq!(
        refused(&ours, libzmq_curve_client(SERVER_PUBLIC, SERVER_SECRET)).await,
        400
    );
}

/// A libzmq PULL server with `options`, whose ZAP requests a bridge in its process forwards from
/// `inproc://zeromq.zap.01` to our `serve_zap` over tcp; it receives one message. Returns the
/// peer, its endpoint, and our ZAP socket.
async fn libzmq_server_asking_us(options: Value, policy: Policy) -> (Peer, String, Arc<Socket>) {
    let router = Arc::new(Socket::new(SocketType::Router));
    let zap_ep = router.bind("tcp://127.0.0.1:*").await.unwrap();
    tokio::spawn(serve_zap(router.clone(), Arc::new(policy)));
    let mut server = Peer::spawn(&json!({
        "type": "PULL",
        "bind": "tcp://127.0.0.1:*",
        "zap": { "forward": zap_ep },
        "options": options,
        "script": [{ "op": "recv", "count": 1 }],
    }));
    let ep = server.bound().await;
    (server, ep, router)
}

/// Our client with `options` connects to `ep`; returns the ZAP status it was refused with.
async fn our_client_refused(ep: &str, options: SocketOptions) -> u32 {
    let client = Socket::with_options(SocketType::Push, options);
    let mut monitor = client.monitor(64);
    client.connect(ep).await.unwrap();
    event(&mut monitor, MonitorEvent::HandshakeFailedAuth).await
}

fn plain_client(user: &str, password: &str) -> SocketOptions {
    SocketOptions {
        mechanism: Arc::new(PlainClientConfig::new(user.as_bytes(), password.as_bytes()).unwrap()),
        ..Default::default()
    }
}

fn curve_client(secret: &str) -> SocketOptions {
    SocketOptions {
        mechanism: Arc::new(CurveClientConfig::new(
            CurveSecretKey::from_z85(secret).unwrap(),
            CurvePublicKey::from_z85(SERVER_PUBLIC).unwrap(),
        )),
        ..Default::default()
    }
}

#[tokio::test]
async fn libzmq_plain_server_answered_by_our_serve_zap_through_a_bridge() {
    let mut users = zmtp::zap::Passwords::new();
    users.insert("admin", "secret");
    let policy = Policy::new().passwords("*", users);
    let (mut server, ep, _zap) = libzmq_server_asking_us(
        json!({ "plain_server": true, "zap_domain": "global" }),
        policy,
    )
    .await;
    assert_eq!(
        our_client_refused(&ep, plain_client("admin", "wrong")).await,
        400
    );
    let client = Socket::with_options(SocketType::Push, plain_client("admin", "secret"));
    client.connect(&ep).await.unwrap();
    client.send("hello").await.unwrap();
    let (frames, props) = server.received().await;
    assert_eq!(frames, [b"hello".to_vec()]);
    assert_eq!(props["User-Id"], "admin");
}

#[tokio::test]
async fn libzmq_curve_server_answered_by_our_serve_zap_through_a_bridge() {
    let dir = tempfile::tempdir().unwrap();
    Certificate::from_secret(CurveSecretKey::from_z85(CLIENT_SECRET).unwrap())
        .with_metadata("Hello", "World")
        .save_public(&dir.path().join("client"), CertFormat::Czmq)
        .unwrap();
    let policy = Policy::new().curve_certs("*", dir.path()).unwrap();
    let (mut server, ep, _zap) = libzmq_server_asking_us(
        json!({ "curve_server": true, "curve_secretkey": SERVER_SECRET, "zap_domain": "global" }),
        policy,
    )
    .await;
    // A client whose key is in no certificate.
    assert_eq!(
        our_client_refused(&ep, curve_client(SERVER_SECRET)).await,
        400
    );
    let client = Socket::with_options(SocketType::Push, curve_client(CLIENT_SECRET));
    client.connect(&ep).await.unwrap();
    client.send("hello").await.unwrap();
    let (_, props) = server.received().await;
    assert_eq!(props["User-Id"], CLIENT_PUBLIC);
    assert_eq!(
        props["Hello"], "World",
        "certificate metadata reached libzmq"
    );
}

/// pyzmq's `create_certificates` in a directory: the files and the keys it wrote.
async fn pyzmq_certs(config: Value) -> Value {
    let mut p = Peer::spawn_script("certs.py", &config);
    p.next().await
}
