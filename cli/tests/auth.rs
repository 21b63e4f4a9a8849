//! Server-side authentication flags of `zmtp recv`: --passwords, --curve-certs, --allow/--deny,
//! --curve-cert and --zap-endpoint, with the binary spawned as users run it.

mod common;

use common::{free_port, zmtp_command, CLIENT_PUBLIC, CLIENT_SECRET, SERVER_PUBLIC, SERVER_SECRET};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

fn spawn_env(args: &[&str], env: &[(&str, &str)]) -> Child {
    zmtp_command()
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zmtp runs")
}

fn run(args: &[&str]) -> Output {
    zmtp_command().args(args).output().expect("zmtp runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Starts `zmtp recv --json --count 1` with `server_flags`, runs `zmtp send hello` with
/// `client_flags`, and returns (receiver output, sender output).
fn exchange(server_flags: &[&str], client_flags: &[&str]) -> (Output, Output) {
    exchange_env((server_flags, &[]), (client_flags, &[]))
}

/// [`exchange`] with environment variables for each side.
type Side<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);

fn exchange_env(
    (server_flags, server_env): Side<'_>,
    (client_flags, client_env): Side<'_>,
) -> (Output, Output) {
    let ep = format!("tcp://127.0.0.1:{}", free_port());
    let mut args = vec![
        "recv",
        "--bind",
        &ep,
        "--type",
        "PULL",
        "--json",
        "--count",
        "1",
        "--timeout-ms",
        "4000",
    ];
    args.extend_from_slice(server_flags);
    let receiver = spawn_env(&args, server_env);
    // Give the receiver time to bind; the sender also waits for a peer.
    std::thread::sleep(Duration::from_millis(300));
    let mut args = vec![
        "send",
        "--connect",
        &ep,
        "--type",
        "PUSH",
        "--timeout-ms",
        "3000",
    ];
    args.extend_from_slice(client_flags);
    args.push("hello");
    let sent = spawn_env(&args, client_env).wait_with_output().unwrap();
    let received = receiver.wait_with_output().unwrap();
    (received, sent)
}

fn json_line(out: &Output) -> Value {
    let s = text(&out.stdout);
    let line = s.lines().next().unwrap_or_else(|| {
        panic!(
            "no output; status {:?}, stderr: {}",
            out.status,
            text(&out.stderr)
        )
    });
    serde_json::from_str(line).unwrap()
}

#[test]
fn plain_server_with_a_passwords_file() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("passwords");
    std::fs::write(&pw, "# users\nadmin=secret\n").unwrap();
    let pw = pw.to_str().unwrap();
    let (recv, send) = exchange(
        &["--plain-server", "--passwords", pw],
        &["--plain-username", "admin", "--plain-password", "secret"],
    );
    assert!(send.status.success(), "{}", text(&send.stderr));
    let msg = json_line(&recv);
    assert_eq!(msg["frames"][0], "hello");
    assert_eq!(msg["properties"]["User-Id"], "admin");

    let (recv, send) = exchange(
        &["--plain-server", "--passwords", pw],
        &["--plain-username", "admin", "--plain-password", "wrong"],
    );
    assert_eq!(send.status.code(), Some(4), "{}", text(&send.stderr));
    assert!(text(&send.stderr).contains("400"), "{}", text(&send.stderr));
    assert_eq!(recv.status.code(), Some(3));
}

fn write_cert(dir: &std::path::Path, name: &str, public: &str, meta: &[(&str, &str)]) {
    let mut s = String::from("#   ZeroMQ CURVE Public Certificate\n\nmetadata\n");
    for (k, v) in meta {
        s.push_str(&format!("    {k} = \"{v}\"\n"));
    }
    s.push_str(&format!("curve\n    public-key = \"{public}\"\n"));
    std::fs::write(dir.join(name), s).unwrap();
}

#[test]
fn curve_server_with_a_certificate_directory_and_client_cert_file() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    write_cert(&certs, "client", CLIENT_PUBLIC, &[("Hello", "World")]);
    let client_cert = dir.path().join("client_secret");
    std::fs::write(
        &client_cert,
        format!(
            "#   ZeroMQ CURVE **Secret** Certificate\n\nmetadata\ncurve\n    public-key = \"{CLIENT_PUBLIC}\"\n    secret-key = \"{CLIENT_SECRET}\"\n"
        ),
    )
    .unwrap();
    let server_flags = [
        "--curve-server",
        "--curve-secretkey",
        SERVER_SECRET,
        "--curve-certs",
        certs.to_str().unwrap(),
    ];
    let (recv, send) = exchange(
        &server_flags,
        &[
            "--curve-serverkey",
            SERVER_PUBLIC,
            "--curve-cert",
            client_cert.to_str().unwrap(),
        ],
    );
    assert!(send.status.success(), "{}", text(&send.stderr));
    let msg = json_line(&recv);
    assert_eq!(msg["properties"]["User-Id"], CLIENT_PUBLIC);
    assert_eq!(msg["properties"]["Hello"], "World");

    // A client with a fresh key is not in the directory.
    let (_, send) = exchange(&server_flags, &["--curve-serverkey", SERVER_PUBLIC]);
    assert_eq!(send.status.code(), Some(4), "{}", text(&send.stderr));
}

#[test]
fn deny_and_allow_lists_on_a_null_server() {
    let (_, send) = exchange(&["--deny", "127.0.0.1"], &[]);
    assert_eq!(send.status.code(), Some(4), "{}", text(&send.stderr));
    let (recv, send) = exchange(&["--allow", "127.0.0.1"], &[]);
    assert!(send.status.success(), "{}", text(&send.stderr));
    assert_eq!(json_line(&recv)["frames"][0], "hello");
}

#[test]
fn configuration_mistakes_exit_2_with_a_reason() {
    let ep = format!("tcp://127.0.0.1:{}", free_port());
    let base = [
        "recv",
        "--bind",
        ep.as_str(),
        "--type",
        "PULL",
        "--timeout-ms",
        "100",
    ];
    for (flags, says) in [
        (&["--plain-server"][..], "--passwords"),
        (
            &["--allow", "127.0.0.1", "--deny", "10.0.0.1"][..],
            "--deny",
        ),
        (&["--allow", "not-an-ip"][..], "not-an-ip"),
        (
            &["--plain-server", "--passwords", "/nonexistent/pw"][..],
            "--passwords",
        ),
        (
            &[
                "--curve-server",
                "--curve-secretkey",
                SERVER_SECRET,
                "--curve-certs",
                "/nonexistent/dir",
            ][..],
            "--curve-certs",
        ),
        (
            &["--curve-server", "--curve-cert", "/nonexistent/cert"][..],
            "--curve-cert",
        ),
        (&["--curve-certs", "/tmp"][..], "--curve-server"),
    ] {
        let mut args = base.to_vec();
        args.extend_from_slice(flags);
        let out = run(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{flags:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(says),
            "{flags:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn zap_endpoint_asks_an_external_handler() {
    // The external handler: an RFC 27 server over our library, in this test's process.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let handler_ep = rt.block_on(async {
        let router = std::sync::Arc::new(zmtp::Socket::new(zmtp::SocketType::Router));
        let ep = router.bind("tcp://127.0.0.1:*").await.unwrap();
        let mut users = zmtp::zap::Passwords::new();
        users.insert("remote", "pw");
        let policy = zmtp::zap::Policy::new().passwords("*", users);
        tokio::spawn(zmtp::serve_zap(router, std::sync::Arc::new(policy)));
        ep
    });
    let (recv, send) = exchange(
        &["--plain-server", "--zap-endpoint", &handler_ep],
        &["--plain-username", "remote", "--plain-password", "pw"],
    );
    assert!(send.status.success(), "{}", text(&send.stderr));
    assert_eq!(json_line(&recv)["properties"]["User-Id"], "remote");
    drop(rt);
}

#[test]
fn keygen_writes_certificates_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    for (format, public_name, secret_name) in [
        ("czmq", "node", "node_secret"),
        ("pyzmq", "node.key", "node.key_secret"),
    ] {
        let base = dir.path().join(format).join("node");
        std::fs::create_dir_all(base.parent().unwrap()).unwrap();
        let out = run(&[
            "keygen",
            "--json",
            "--cert",
            base.to_str().unwrap(),
            "--cert-format",
            format,
            "--meta",
            "name=node one",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let public_file = dir.path().join(format).join(public_name);
        let secret_file = dir.path().join(format).join(secret_name);
        assert_eq!(v["public_file"], public_file.to_str().unwrap());
        assert_eq!(v["secret_file"], secret_file.to_str().unwrap());
        let public = zmtp::zap::Certificate::load(&public_file).unwrap();
        assert_eq!(public.public.to_z85(), v["public"].as_str().unwrap());
        assert!(public.secret.is_none());
        let secret = zmtp::zap::Certificate::load(&secret_file).unwrap();
        assert_eq!(
            secret.secret.unwrap().to_z85().as_str(),
            v["secret"].as_str().unwrap()
        );
        assert_eq!(
            secret.metadata,
            vec![("name".to_owned(), "node one".to_owned())]
        );
        // Never overwritten.
        let again = run(&[
            "keygen",
            "--cert",
            base.to_str().unwrap(),
            "--cert-format",
            format,
        ]);
        assert_eq!(again.status.code(), Some(2), "{}", text(&again.stderr));
    }
    let bad = run(&["keygen", "--cert", "x", "--meta", "novalue"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn secrets_can_come_from_the_environment() {
    // CURVE: the server's secret key from ZMTP_CURVE_SECRETKEY, none on the command line.
    let (received, sent) = exchange_env(
        (
            &["--curve-server", "--curve-allow-any"],
            &[("ZMTP_CURVE_SECRETKEY", SERVER_SECRET)],
        ),
        (&["--curve-serverkey", SERVER_PUBLIC], &[]),
    );
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    assert_eq!(json_line(&received)["frames"][0], "hello");

    // A client never takes its identity from the variable (it may hold a server's key set in
    // the same shell): without --curve-secretkey or --curve-cert it uses a fresh keypair.
    let (received, sent) = exchange_env(
        (
            &[
                "--curve-server",
                "--curve-allow-any",
                "--curve-secretkey",
                SERVER_SECRET,
            ],
            &[],
        ),
        (
            &["--curve-serverkey", SERVER_PUBLIC],
            &[("ZMTP_CURVE_SECRETKEY", CLIENT_SECRET)],
        ),
    );
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let user = json_line(&received)["properties"]["User-Id"].clone();
    assert_ne!(user, CLIENT_PUBLIC, "the client read the server variable");
    assert_eq!(user.as_str().map(str::len), Some(40), "{user}");
    assert!(
        text(&sent.stderr).contains("ZMTP_CURVE_SECRETKEY is for --curve-server only"),
        "the client says why it ignores the variable: {}",
        text(&sent.stderr)
    );

    // PLAIN: the password from ZMTP_PLAIN_PASSWORD; a wrong one there is refused like any.
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("passwords");
    std::fs::write(&pw, "admin=secret\n").unwrap();
    let server = ["--plain-server", "--passwords", pw.to_str().unwrap()];
    let (received, sent) = exchange_env(
        (&server, &[]),
        (
            &["--plain-username", "admin"],
            &[("ZMTP_PLAIN_PASSWORD", "secret")],
        ),
    );
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    assert_eq!(json_line(&received)["properties"]["User-Id"], "admin");
    let (_, sent) = exchange_env(
        (&server, &[]),
        (
            &["--plain-username", "admin"],
            &[("ZMTP_PLAIN_PASSWORD", "wrong")],
        ),
    );
    assert_eq!(sent.status.code(), Some(4), "{}", text(&sent.stderr));

    // A bad key there is a usage error naming it; a blank one counts as unset; the flag wins
    // over the variable; sockets that are not CURVE servers do not read it.
    let curve_server = |env: &str, extra: &[&str]| {
        zmtp_command()
            .args(["recv", "--bind", "tcp://127.0.0.1:0", "--type", "PULL"])
            .args(["--timeout-ms", "50", "--curve-server", "--curve-allow-any"])
            .args(extra)
            .env("ZMTP_CURVE_SECRETKEY", env)
            .output()
            .unwrap()
    };
    let out = curve_server("too short", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("ZMTP_CURVE_SECRETKEY"));
    let out = curve_server(" \n", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("needs --curve-secretkey"),
        "{}",
        text(&out.stderr)
    );
    let out = curve_server(&format!("{SERVER_SECRET}\n"), &[]);
    assert_eq!(out.status.code(), Some(3), "a trailing newline is dropped");
    let out = curve_server("too short", &["--curve-secretkey", SERVER_SECRET]);
    assert_eq!(out.status.code(), Some(3), "the flag's key is used");
    let out = zmtp_command()
        .args(["send", "--connect", "tcp://127.0.0.1:1", "--type", "PUSH"])
        .args([
            "--curve-serverkey",
            SERVER_PUBLIC,
            "--timeout-ms",
            "50",
            "x",
        ])
        .env("ZMTP_CURVE_SECRETKEY", "too short")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "a client ignores the variable");
    let out = zmtp_command()
        .args(["recv", "--bind", "tcp://127.0.0.1:0", "--type", "PULL"])
        .args(["--timeout-ms", "50"])
        .env("ZMTP_CURVE_SECRETKEY", "too short")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "NULL ignores the variable");
    for password in [None, Some(""), Some("  ")] {
        let mut c = zmtp_command();
        c.args(["send", "--connect", "tcp://127.0.0.1:1", "--type", "PUSH"])
            .args(["--plain-username", "admin", "x"]);
        if let Some(p) = password {
            c.env("ZMTP_PLAIN_PASSWORD", p);
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "password {password:?}");
        assert!(text(&out.stderr).contains("ZMTP_PLAIN_PASSWORD"));
    }
}
