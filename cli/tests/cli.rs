//! The `zmtp` binary, spawned as users run it: every sub-command, its exit statuses, and
//! send/recv against a real libzmq peer for NULL, PLAIN and CURVE.

mod common;

use common::{free_port, zmtp_command, CLIENT_PUBLIC, CLIENT_SECRET, SERVER_PUBLIC, SERVER_SECRET};
use std::io::Write;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use zmtp_tests::pyzmq::{hex_frames, Peer};

fn zmtp(args: &[&str]) -> Output {
    zmtp_command().args(args).output().expect("zmtp runs")
}

fn zmtp_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = zmtp_command()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zmtp runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || zmtp_command().args(&args).output().expect("zmtp runs"))
        .await
        .unwrap()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[test]
fn demo_runs_and_reports() {
    let out = zmtp(&["demo"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(text.contains("User-Id \"demo-client\""), "{text}");
    assert!(text.contains("HANDSHAKE_FAILED_AUTH 400"), "{text}");
    assert!(text.contains("summary:"), "{text}");
}

#[test]
fn demo_json_is_one_document() {
    let out = zmtp(&["demo", "--json"]);
    assert!(out.status.success());
    let doc: Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["summary"]["refused_clients"], 1);
    assert!(doc["steps"].as_array().unwrap().len() >= 6);
}

#[test]
fn keygen_prints_a_pair_that_derives() {
    let out = zmtp(&["keygen", "--json"]);
    assert!(out.status.success());
    let pair: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let (public, secret) = (
        pair["public"].as_str().unwrap(),
        pair["secret"].as_str().unwrap(),
    );
    assert_eq!(public.len(), 40);
    let derived = zmtp(&["keygen", "--public-from", secret]);
    assert_eq!(stdout(&derived).trim(), format!("public: {public}"));
    let text = stdout(&zmtp(&["keygen"]));
    assert!(text.starts_with("public: ") && text.contains("\nsecret: "));
}

#[test]
fn keygen_derives_the_man_page_key_and_refuses_bad_keys() {
    let out = zmtp(&["keygen", "--public-from", CLIENT_SECRET]);
    assert_eq!(stdout(&out).trim(), format!("public: {CLIENT_PUBLIC}"));
    let bad = zmtp(&["keygen", "--public-from", "tooshort"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(!bad.stderr.is_empty());
}

#[test]
fn z85_keys_may_start_with_a_hyphen() {
    // '-' is a Z85 character, so about one key in 85 starts with it; it is a value, not a flag.
    let secret = format!("-{}", &SERVER_SECRET[1..]);
    let out = zmtp(&["keygen", "--public-from", &secret]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("public: "));
    let out = zmtp(&[
        "recv",
        "--bind",
        "tcp://127.0.0.1:0",
        "--type",
        "PULL",
        "--timeout-ms",
        "50",
        "--curve-server",
        "--curve-allow-any",
        "--curve-secretkey",
        &secret,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let server_key = format!("-{}", &SERVER_PUBLIC[1..]);
    let out = zmtp(&[
        "send",
        "--connect",
        "tcp://127.0.0.1:1",
        "--type",
        "PUSH",
        "--timeout-ms",
        "50",
        "--curve-serverkey",
        &server_key,
        "--curve-publickey",
        &format!("-{}", &CLIENT_PUBLIC[1..]),
        "--curve-secretkey",
        CLIENT_SECRET,
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--curve-publickey does not belong"),
        "{}",
        stderr(&out)
    );
    // A missing key does not swallow the next flag silently: it is an invalid key, said so.
    let out = zmtp(&[
        "send",
        "--connect",
        "tcp://127.0.0.1:1",
        "--curve-serverkey",
        "--type",
        "PUSH",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value '--type' for '--curve-serverkey")
            && stderr(&out).contains("40 Z85 characters"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn send_with_nothing_to_send_exits_at_once() {
    // No FRAME arguments and an empty stdin: nothing to wait for, even as a PUB nobody joins.
    for ty in ["PUB", "PUSH"] {
        let out = zmtp_stdin(&["send", "--bind", "tcp://127.0.0.1:0", "--type", ty], b"");
        assert_eq!(out.status.code(), Some(0), "{ty}: {}", stderr(&out));
    }
}

/// The value after `label: ` on the line that starts with it.
fn labelled<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(label)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {label:?} line in {text:?}"))
}

#[test]
fn keygen_cert_writes_files_that_load_in_both_formats() {
    use zmtp::zap::Certificate;
    let dir = tempfile::tempdir().unwrap();
    for (format_args, public_name, secret_name) in [
        (&[][..], "gw", "gw_secret"),
        (&["--cert-format", "czmq"][..], "czmq", "czmq_secret"),
        (&["--cert-format", "pyzmq"][..], "py.key", "py.key_secret"),
    ] {
        let base = dir.path().join(public_name.trim_end_matches(".key"));
        let mut args = vec!["keygen", "--cert", base.to_str().unwrap()];
        args.extend_from_slice(format_args);
        args.extend_from_slice(&["--meta", "name=gateway 1", "--meta", "Role=a=b"]);
        let out = zmtp(&args);
        assert!(out.status.success(), "{out:?}");
        let text = stdout(&out);
        let (public, secret) = (labelled(&text, "public"), labelled(&text, "secret"));
        let public_file = dir.path().join(public_name);
        let secret_file = dir.path().join(secret_name);
        assert_eq!(
            labelled(&text, "public certificate"),
            public_file.to_str().unwrap()
        );
        assert_eq!(
            labelled(&text, "secret certificate"),
            secret_file.to_str().unwrap()
        );
        let metadata = vec![
            ("name".to_owned(), "gateway 1".to_owned()),
            ("Role".to_owned(), "a=b".to_owned()),
        ];
        let p = Certificate::load(&public_file).unwrap();
        assert_eq!(p.public.to_z85(), public);
        assert!(p.secret.is_none());
        // The public file carries the metadata too: it is what a server's directory reads.
        assert_eq!(p.metadata, metadata);
        let s = Certificate::load(&secret_file).unwrap();
        assert_eq!(s.public.to_z85(), public);
        assert_eq!(s.secret.unwrap().to_z85().as_str(), secret);
        assert_eq!(s.metadata, metadata);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&secret_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{secret_file:?} is private");
        }
    }
}

#[test]
fn keygen_cert_refuses_bad_input_with_exit_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("node");
    let base = base.to_str().unwrap();
    let missing = dir.path().join("no/such/dir/node");
    for args in [
        vec!["keygen", "--cert", base, "--meta", "novalue"],
        vec!["keygen", "--cert", base, "--meta", "bad name=x"],
        vec!["keygen", "--cert", base, "--meta", "q=say \"hi\""],
        vec!["keygen", "--cert", base, "--meta", "secret-key=x"],
        vec!["keygen", "--cert", base, "--cert-format", "zcert"],
        vec!["keygen", "--cert-format", "pyzmq"],
        vec!["keygen", "--meta", "a=b"],
        vec!["keygen", "--cert", missing.to_str().unwrap()],
    ] {
        let out = zmtp(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.trim().is_empty(), "{args:?}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // A reason on one line for our own checks (clap's usage errors have their own layout).
    let out = zmtp(&["keygen", "--cert", base, "--meta", "bad name=x"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim().lines().count(),
        1
    );
}

#[test]
fn z85_round_trip_and_errors() {
    let out = zmtp_stdin(
        &["z85", "encode"],
        &[0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B],
    );
    assert_eq!(stdout(&out), "HelloWorld\n");
    let out = zmtp_stdin(&["z85", "decode"], b"HelloWorld\n");
    assert_eq!(out.stdout, [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]);
    assert_eq!(
        zmtp_stdin(&["z85", "encode"], b"abc").status.code(),
        Some(2)
    );
    let bad = zmtp_stdin(&["z85", "decode"], b"ab cd");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("offset 2"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        zmtp(&["send", "--type", "NOPE", "--connect", "tcp://127.0.0.1:1"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(zmtp(&["send", "--type", "PUSH"]).status.code(), Some(2));
    let bad_key = zmtp(&[
        "recv",
        "--bind",
        "tcp://127.0.0.1:0",
        "--type",
        "PULL",
        "--curve-server",
        "--curve-secretkey",
        "short",
    ]);
    assert_eq!(bad_key.status.code(), Some(2));
}

#[test]
fn every_help_has_an_example() {
    // help_examples.rs runs them; bench needs the libzmq build, which CI runs with --quick.
    for sub in ["demo", "keygen", "z85", "send", "recv", "bench"] {
        let out = zmtp(&[sub, "--help"]);
        assert!(out.status.success());
        assert!(
            stdout(&out).contains("Examples:"),
            "{sub} --help has no example"
        );
    }
}

#[tokio::test]
async fn recv_times_out_with_exit_3() {
    let ep = format!("tcp://127.0.0.1:{}", free_port());
    let out = run(strings(&[
        "recv",
        "--bind",
        &ep,
        "--type",
        "PULL",
        "--timeout-ms",
        "200",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(3));
}

#[tokio::test]
async fn send_and_recv_with_each_other() {
    let ep = format!("tcp://127.0.0.1:{}", free_port());
    let recv = tokio::spawn(run(strings(&[
        "recv",
        "--bind",
        &ep,
        "--type",
        "pull",
        "--count",
        "2",
        "--json",
        "--timeout-ms",
        "10000",
    ])));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = run(strings(&[
        "send",
        "--connect",
        &ep,
        "--type",
        "push",
        "--count",
        "2",
        "a",
        "b",
    ]))
    .await;
    assert!(sent.status.success());
    let out = recv.await.unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["frames"], json!(["a", "b"]));
    assert_eq!(lines[0]["properties"]["Socket-Type"], "PUSH");
}

#[tokio::test]
async fn req_prints_the_reply_from_rep() {
    let ep = format!("tcp://127.0.0.1:{}", free_port());
    let rep = tokio::spawn(run(strings(&[
        "recv", "--bind", &ep, "--type", "REP", "--count", "1", "--reply", "pong",
    ])));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let req = run(strings(&[
        "send",
        "--connect",
        &ep,
        "--type",
        "REQ",
        "ping",
        "--timeout-ms",
        "10000",
    ]))
    .await;
    assert_eq!(stdout(&req).trim(), "pong");
    assert!(rep.await.unwrap().status.success());
}

#[tokio::test]
async fn recv_from_libzmq_null_plain_and_curve() {
    for (name, ours, theirs) in [
        ("NULL", vec![], json!({})),
        (
            "PLAIN",
            vec!["--plain-username", "admin", "--plain-password", "secret"],
            json!({ "options": { "plain_server": true, "zap_domain": "x" }, "zap": { "users": { "admin": "secret" } } }),
        ),
        (
            "CURVE",
            vec![
                "--curve-serverkey",
                SERVER_PUBLIC,
                "--curve-secretkey",
                CLIENT_SECRET,
            ],
            json!({ "options": { "curve_server": true, "curve_secretkey": SERVER_SECRET, "zap_domain": "x" }, "zap": { "curve_keys": [CLIENT_PUBLIC] } }),
        ),
    ] {
        let mut config = theirs;
        config["type"] = json!("PUSH");
        config["bind"] = json!("tcp://127.0.0.1:*");
        config["script"] =
            json!([{ "op": "send", "frames": hex_frames(&[b"hello", name.as_bytes()]) }]);
        let mut peer = Peer::spawn(&config);
        let ep = peer.bound().await;
        let mut args = strings(&[
            "recv",
            "--connect",
            &ep,
            "--type",
            "PULL",
            "--count",
            "1",
            "--json",
            "--timeout-ms",
            "15000",
        ]);
        args.extend(ours.iter().map(|s| s.to_string()));
        let out = run(args).await;
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        assert_eq!(line["frames"], json!(["hello", name]), "{name}");
        peer.done().await;
    }
}

#[tokio::test]
async fn send_to_libzmq_null_plain_and_curve() {
    for (name, ours, theirs) in [
        ("NULL", vec![], json!({})),
        (
            "PLAIN",
            vec!["--plain-username", "admin", "--plain-password", "secret"],
            json!({ "options": { "plain_server": true, "zap_domain": "x" }, "zap": { "users": { "admin": "secret" } } }),
        ),
        (
            "CURVE",
            vec!["--curve-serverkey", SERVER_PUBLIC],
            json!({ "options": { "curve_server": true, "curve_secretkey": SERVER_SECRET } }),
        ),
    ] {
        let mut config = theirs;
        config["type"] = json!("PULL");
        config["bind"] = json!("tcp://127.0.0.1:*");
        config["script"] = json!([{ "op": "recv", "count": 1 }]);
        let mut peer = Peer::spawn(&config);
        let ep = peer.bound().await;
        let mut args = strings(&[
            "send",
            "--connect",
            &ep,
            "--type",
            "PUSH",
            "--timeout-ms",
            "15000",
            "--hex",
            "00ff",
            "6869",
        ]);
        args.extend(ours.iter().map(|s| s.to_string()));
        let out = run(args).await;
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (frames, _) = peer.received().await;
        assert_eq!(frames, vec![vec![0x00, 0xFF], b"hi".to_vec()], "{name}");
        peer.done().await;
    }
}

#[tokio::test]
async fn refused_by_libzmq_exits_4() {
    let mut peer = Peer::spawn(&json!({
        "type": "PULL", "bind": "tcp://127.0.0.1:*",
        "options": { "plain_server": true, "zap_domain": "x" },
        "zap": { "users": { "admin": "secret" } },
        "script": [{ "op": "sleep", "ms": 3000 }],
    }));
    let ep = peer.bound().await;
    let out = run(strings(&[
        "send",
        "--connect",
        &ep,
        "--type",
        "PUSH",
        "--plain-username",
        "admin",
        "--plain-password",
        "wrong",
        "--timeout-ms",
        "10000",
        "--monitor",
        "x",
    ]))
    .await;
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"event\":\"HANDSHAKE_FAILED_AUTH\"") && err.contains("\"value\":400"),
        "{err}"
    );
    assert!(err.contains("refused"), "{err}");
}

#[tokio::test]
async fn socket_options_reach_the_socket_xpub_welcome_message() {
    let ep = format!("tcp://127.0.0.1:{}", free_port());
    let publisher = tokio::spawn(run(strings(&[
        "send",
        "--bind",
        &ep,
        "--type",
        "XPUB",
        "--xpub-welcome-msg",
        "hi",
        "--timeout-ms",
        "10000",
        "hi there",
    ])));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sub = run(strings(&[
        "recv",
        "--connect",
        &ep,
        "--type",
        "SUB",
        "--subscribe",
        "hi",
        "--count",
        "2",
        "--timeout-ms",
        "10000",
    ]))
    .await;
    assert!(sub.status.success(), "{}", stderr(&sub));
    let printed = stdout(&sub);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"hi"),
        "the welcome message comes first"
    );
    assert!(publisher.await.unwrap().status.success());
}
