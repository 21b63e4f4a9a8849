//! czmq (Debian's 4.2.1, over the libzmq 4.3.4 it links) against us: czmq's own ZAP handler, the
//! zauth actor, deciding for our clients from a certificate directory of certificates we wrote
//! and from a password file; certificates written by czmq's zcert read by our
//! `Certificate::load` and used by our CURVE client; and our certificate-directory policy over
//! a directory zcert wrote, admitting a czmq client.
//!
//! The czmq side is `tests/interop/czmq_peer.c` (the protocol of `tests/interop/STACKS.md`,
//! with the czmq extras documented there), built by `scripts/setup-czmq`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::Command;
use zmtp::mechanisms::{
    CurveClientConfig, CurvePublicKey, CurveSecretKey, CurveServerConfig, PlainClientConfig,
};
use zmtp::zap::{CertFormat, Certificate, Policy};
use zmtp::{MonitorEvent, Socket, SocketOptions, SocketType};
use zmtp_tests::pyzmq::{hex_frames, Peer};
use zmtp_tests::{event, recv, repo_root};

// The zmq_curve(7) man-page keypairs (../shared/vectors/keys.txt).
const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

/// Longest any one of these tests may take.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a czmq server waits for a message that must not come.
const REFUSED_WAIT_MS: u64 = 1000;

/// The czmq peer binary, built on first use by the project's script.
fn czmq_peer() -> PathBuf {
    static PEER: OnceLock<PathBuf> = OnceLock::new();
    PEER.get_or_init(|| {
        let out = std::process::Command::new(repo_root().join("scripts/setup-czmq"))
            .output()
            .expect("scripts/setup-czmq runs");
        assert!(
            out.status.success(),
            "scripts/setup-czmq failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        PathBuf::from(stdout.lines().last().expect("the peer's path").trim())
    })
    .clone()
}

fn czmq(config: &Value) -> Peer {
    Peer::spawn_command(Command::new(czmq_peer()), config)
}

async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .unwrap_or_else(|_| panic!("the test took more than {TEST_TIMEOUT:?}"));
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

/// A czmq PULL server with `mechanism` that receives one message (or gives up after
/// `timeout_ms`), reporting the metadata properties `props` too. Returns it and its endpoint.
async fn czmq_server(mechanism: Value, timeout_ms: u64, props: &[&str]) -> (Peer, String) {
    let mut server = czmq(&json!({
        "type": "PULL",
        "bind": "tcp://127.0.0.1:*",
        "mechanism": mechanism,
        "props": props,
        "timeout_ms": timeout_ms,
        "script": [{ "op": "recv", "count": 1 }],
    }));
    let ep = server.bound().await;
    (server, ep)
}

/// Our PUSH client with `options` sends "hello" to `ep`; returns the client (kept open until the
/// server has the message).
async fn our_client_sends(ep: &str, options: SocketOptions) -> Socket {
    let client = Socket::with_options(SocketType::Push, options);
    client.connect(ep).await.unwrap();
    client.send("hello").await.unwrap();
    client
}

/// Our PUSH client with `options` connects to the czmq server and tries to send; returns the ZAP
/// status our monitor reports. The server must receive nothing: its receive times out.
async fn our_client_refused(mut server: Peer, ep: &str, options: SocketOptions) -> u32 {
    let client = Socket::with_options(SocketType::Push, options);
    let mut monitor = client.monitor(64);
    client.connect(ep).await.unwrap();
    // Queued at most: a refused connection never carries it.
    let _ = tokio::time::timeout(Duration::from_millis(200), client.send("hello")).await;
    let status = event(&mut monitor, MonitorEvent::HandshakeFailedAuth).await;
    let line = server.until("error").await;
    assert!(
        line["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("no message within"),
        "{line}"
    );
    assert!(
        server.seen.iter().all(|l| l.get("recv").is_none()),
        "a refused client's message arrived: {:?}",
        server.seen
    );
    status
}

fn curve_client(secret: CurveSecretKey, server: CurvePublicKey) -> SocketOptions {
    SocketOptions {
        mechanism: Arc::new(CurveClientConfig::new(secret, server)),
        ..Default::default()
    }
}

fn curve_client_z85(secret: &str) -> SocketOptions {
    curve_client(
        CurveSecretKey::from_z85(secret).unwrap(),
        CurvePublicKey::from_z85(SERVER_PUBLIC).unwrap(),
    )
}

fn plain_client(user: &str, password: &str) -> SocketOptions {
    SocketOptions {
        mechanism: Arc::new(PlainClientConfig::new(user.as_bytes(), password.as_bytes()).unwrap()),
        ..Default::default()
    }
}

fn sorted(mut metadata: Vec<(String, String)>) -> Vec<(String, String)> {
    metadata.sort();
    metadata
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    sorted(
        items
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// The metadata object of a `load_cert` line, as sorted pairs.
fn metadata_of(line: &Value) -> Vec<(String, String)> {
    sorted(
        line["metadata"]
            .as_object()
            .expect("metadata")
            .iter()
            .map(|(n, v)| (n.clone(), v.as_str().expect("a string").to_owned()))
            .collect(),
    )
}

#[tokio::test]
async fn czmq_zauth_with_a_directory_of_our_czmq_certificates() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("clients");
        std::fs::create_dir(&certs).unwrap();
        let public = Certificate::from_secret(CurveSecretKey::from_z85(CLIENT_SECRET).unwrap())
            .with_metadata("Hello", "World")
            .with_metadata("name", "client one")
            .save_public(&certs.join("client"), CertFormat::Czmq)
            .unwrap();

        // czmq's zcert reads our file as we wrote it: no secret key, the same metadata.
        let mut loader = czmq(&json!({ "script": [{ "op": "load_cert", "path": public }] }));
        let loaded = loader.until("loaded").await;
        assert_eq!(loaded["public_key"], CLIENT_PUBLIC);
        assert!(loaded["secret_key"].is_null(), "{loaded}");
        assert_eq!(
            metadata_of(&loaded),
            pairs(&[("Hello", "World"), ("name", "client one")])
        );
        loader.done().await;

        let mechanism = json!({
            "name": "CURVE",
            "server": true,
            "public_key": SERVER_PUBLIC,
            "secret_key": SERVER_SECRET,
            "cert_dir": path_str(&certs),
        });
        // Our client whose certificate is in the directory: admitted, with its metadata.
        let (mut server, ep) = czmq_server(mechanism.clone(), 10_000, &["Hello", "name"]).await;
        let _client = our_client_sends(&ep, curve_client_z85(CLIENT_SECRET)).await;
        let (frames, props) = server.received().await;
        assert_eq!(frames, [b"hello".to_vec()]);
        assert_eq!(
            props["User-Id"], CLIENT_PUBLIC,
            "zauth names CURVE users by key"
        );
        assert_eq!(
            props["Hello"], "World",
            "zauth returned the certificate's metadata"
        );
        assert_eq!(props["name"], "client one");
        server.done().await;

        // A client whose key is in no certificate: zauth's 400, nothing delivered.
        let (server, ep) = czmq_server(mechanism, REFUSED_WAIT_MS, &[]).await;
        let status = our_client_refused(server, &ep, curve_client_z85(SERVER_SECRET)).await;
        assert_eq!(status, 400);
    })
    .await;
}

#[tokio::test]
async fn czmq_zauth_with_a_password_file() {
    bounded(async {
        let mechanism = json!({
            "name": "PLAIN",
            "server": true,
            "users": { "admin": "secret", "guest": "guest" },
        });
        let (mut server, ep) = czmq_server(mechanism.clone(), 10_000, &[]).await;
        let _client = our_client_sends(&ep, plain_client("admin", "secret")).await;
        let (frames, props) = server.received().await;
        assert_eq!(frames, [b"hello".to_vec()]);
        assert_eq!(props["User-Id"], "admin");
        server.done().await;

        let (server, ep) = czmq_server(mechanism.clone(), REFUSED_WAIT_MS, &[]).await;
        let status = our_client_refused(server, &ep, plain_client("admin", "wrong")).await;
        assert_eq!(status, 400);

        // A name the file does not have.
        let (server, ep) = czmq_server(mechanism, REFUSED_WAIT_MS, &[]).await;
        let status = our_client_refused(server, &ep, plain_client("nobody", "secret")).await;
        assert_eq!(status, 400);
    })
    .await;
}

/// Has the czmq peer write certificates with zcert (fresh keys, `metadata`): `(base, metadata)`
/// for each. Returns each `saved` line.
async fn zcert_saves(certs: &[(&Path, Value)]) -> Vec<Value> {
    let script: Vec<Value> = certs
        .iter()
        .map(|(base, metadata)| json!({ "op": "save_cert", "path": base, "metadata": metadata }))
        .collect();
    let mut writer = czmq(&json!({ "script": script }));
    let mut saved = Vec::new();
    for _ in certs {
        saved.push(writer.until("saved").await);
    }
    writer.done().await;
    saved
}

#[tokio::test]
async fn zcert_certificates_read_by_us_and_used_by_our_curve_client() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let clients = dir.path().join("clients");
        std::fs::create_dir(&clients).unwrap();
        let client_base = clients.join("client");
        let server_base = dir.path().join("server");
        let saved = zcert_saves(&[
            (
                &client_base,
                json!({ "name": "client one", "Hello": "World", "Role": "ops # on call" }),
            ),
            (&server_base, json!({})),
        ])
        .await;
        let (client_keys, server_keys) = (&saved[0], &saved[1]);
        let expected = pairs(&[
            ("Hello", "World"),
            ("Role", "ops # on call"),
            ("name", "client one"),
        ]);

        // zcert writes NAME (public) and NAME_secret, metadata in both.
        let public = Certificate::load(&client_base).unwrap();
        assert_eq!(public.public.to_z85(), client_keys["public_key"]);
        assert!(public.secret.is_none());
        assert_eq!(sorted(public.metadata.clone()), expected);
        let secret = Certificate::load(&CertFormat::Czmq.secret_path(&client_base)).unwrap();
        assert_eq!(secret.public, public.public);
        assert_eq!(
            secret.secret.as_ref().map(|s| s.to_z85().to_string()),
            client_keys["secret_key"].as_str().map(str::to_owned)
        );
        assert_eq!(sorted(secret.metadata.clone()), expected);
        let server_public = Certificate::load(&server_base).unwrap();
        assert_eq!(server_public.public.to_z85(), server_keys["public_key"]);
        assert!(server_public.metadata.is_empty());

        // Our client with the zcert keypair; the czmq server with its zcert secret certificate
        // (zcert_load) and the client's directory.
        let server_secret = CertFormat::Czmq.secret_path(&server_base);
        let (mut server, ep) = czmq_server(
            json!({
                "name": "CURVE",
                "server": true,
                "cert": server_secret,
                "cert_dir": path_str(&clients),
            }),
            10_000,
            &["Role"],
        )
        .await;
        let options = curve_client(secret.secret.clone().unwrap(), server_public.public);
        let _client = our_client_sends(&ep, options).await;
        let (frames, props) = server.received().await;
        assert_eq!(frames, [b"hello".to_vec()]);
        assert_eq!(props["User-Id"], client_keys["public_key"]);
        assert_eq!(props["Role"], "ops # on call");
        server.done().await;
    })
    .await;
}

#[tokio::test]
async fn our_certificate_directory_policy_over_a_zcert_directory_and_a_czmq_client() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let client_base = dir.path().join("client");
        let saved = zcert_saves(&[(&client_base, json!({ "Hello": "World" }))]).await;
        // The directory holds zcert's public and secret files; our policy reads the public one.
        let policy = Policy::new().curve_certs("*", dir.path()).unwrap();
        let ours = Socket::with_options(
            SocketType::Pull,
            SocketOptions {
                mechanism: Arc::new(CurveServerConfig::new(
                    CurveSecretKey::from_z85(SERVER_SECRET).unwrap(),
                )),
                authenticator: Some(Arc::new(policy)),
                ..Default::default()
            },
        );
        let ep = ours.bind("tcp://127.0.0.1:*").await.unwrap();
        let client_secret = CertFormat::Czmq.secret_path(&client_base);
        let push = |mechanism: Value| {
            czmq(&json!({
                "type": "PUSH",
                "connect": ep,
                "mechanism": mechanism,
                "script": [{ "op": "send", "frames": hex_frames(&[b"hello"]) }],
            }))
        };
        let sender =
            push(json!({ "name": "CURVE", "cert": client_secret, "server_key": SERVER_PUBLIC }));
        let msg = recv(&ours).await;
        assert_eq!(msg.parts()[0], "hello");
        assert_eq!(msg.property("User-Id"), saved[0]["public_key"].as_str());
        assert_eq!(msg.property("Hello"), Some("World"));
        sender.done().await;

        // A czmq client whose key is in no certificate of the directory.
        let mut monitor = ours.monitor(64);
        let _refused = push(json!({
            "name": "CURVE",
            "public_key": CLIENT_PUBLIC,
            "secret_key": CLIENT_SECRET,
            "server_key": SERVER_PUBLIC,
        }));
        assert_eq!(
            event(&mut monitor, MonitorEvent::HandshakeFailedAuth).await,
            400
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(REFUSED_WAIT_MS), ours.recv())
                .await
                .is_err(),
            "a refused client's message arrived"
        );
    })
    .await;
}
