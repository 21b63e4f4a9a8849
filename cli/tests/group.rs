//! Group keys from the shell: `zmtp coordinator`, `zmtp recv --group` and `zmtp send --group`
//! as separate processes, with keys from `zmtp keygen`. An admitted subscriber opens what the
//! publisher sealed; one whose key the coordinator does not admit gets no key, and what it
//! receives is refused on stderr, never printed.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{free_port, zmtp_command};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `zmtp` in `dir` to the end.
fn run(dir: &Path, args: &[&str]) -> Output {
    let out = zmtp_command()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("zmtp runs");
    assert!(
        out.status.success(),
        "zmtp {args:?} exited {:?}: {}",
        out.status.code(),
        text(&out.stderr)
    );
    out
}

/// A running `zmtp`, killed if the test ends first; its stdout and stderr lines come on
/// channels.
struct Running {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

fn lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Running {
    fn start(dir: &Path, args: &[&str]) -> Running {
        let mut child = zmtp_command()
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("zmtp runs");
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits for a line containing `want` on `pipe`.
    fn expect(pipe: &mpsc::Receiver<String>, want: &str) -> String {
        let end = std::time::Instant::now() + WAIT;
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            match pipe.recv_timeout(left) {
                Ok(line) if line.contains(want) => return line,
                Ok(_) => {}
                Err(_) => panic!("no line with {want:?}"),
            }
        }
    }

    /// Waits for the exit; returns the status code and what was left on stdout and stderr.
    fn wait(mut self) -> (Option<i32>, Vec<String>, Vec<String>) {
        let end = std::time::Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(std::time::Instant::now() < end, "zmtp did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        };
        // The pipes close with the process; their readers have everything soon after.
        let drain = |rx: &mpsc::Receiver<String>| {
            let mut out = Vec::new();
            while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
                out.push(line);
            }
            out
        };
        (status.code(), drain(&self.stdout), drain(&self.stderr))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keys for a coordinator, an admitted subscriber, a publisher and a stranger (CURVE), and the
/// publisher's signing keys; returns the signer's verifying key (hex).
fn keys(dir: &Path) -> String {
    for name in ["coord", "sub", "pub", "stranger"] {
        run(dir, &["keygen", "--cert", name]);
    }
    let out = run(dir, &["keygen", "--ed25519", "--cert", "signer", "--json"]);
    let signer: Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(signer["public_file"], "signer");
    assert_eq!(signer["secret_file"], "signer_secret");
    signer["public"].as_str().unwrap().to_owned()
}

fn coordinator(dir: &Path) -> (Running, String) {
    let c = Running::start(
        dir,
        &[
            "coordinator",
            "--bind",
            "tcp://127.0.0.1:0",
            "--secret-key",
            "coord_secret",
            "--allow",
            "sub",
            "--allow",
            "pub",
            "--publisher",
            "signer",
            "--json",
        ],
    );
    let line = Running::expect(&c.stdout, "endpoint");
    let info: Value = serde_json::from_str(&line).unwrap();
    let endpoint = info["endpoint"].as_str().unwrap().to_owned();
    (c, endpoint)
}

fn subscriber(dir: &Path, data: &str, group: &str, key: &str, timeout_ms: &str) -> Running {
    Running::start(
        dir,
        &[
            "recv",
            "--type",
            "SUB",
            "--connect",
            data,
            "--group",
            group,
            "--coordinator-key",
            "coord",
            "--member-key",
            key,
            "--count",
            "1",
            "--json",
            "--timeout-ms",
            timeout_ms,
        ],
    )
}

fn publish(dir: &Path, data: &str, group: &str) -> Output {
    run(
        dir,
        &[
            "send",
            "--type",
            "PUB",
            "--bind",
            data,
            "--group",
            group,
            "--coordinator-key",
            "coord",
            "--member-key",
            "pub_secret",
            "--signing-key",
            "signer_secret",
            "--topic",
            "weather",
            "--timeout-ms",
            "20000",
            "sunny",
        ],
    )
}

#[test]
fn an_admitted_subscriber_opens_what_the_publisher_sealed_and_a_stranger_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let signer = keys(dir);
    let (coord, group) = coordinator(dir);

    // The admitted subscriber joins, then the publisher (a member too) seals one message.
    let data = format!("tcp://127.0.0.1:{}", free_port());
    let sub = subscriber(dir, &data, &group, "sub_secret", "20000");
    publish(dir, &data, &group);
    let (code, out, err) = sub.wait();
    assert_eq!(code, Some(0), "{err:?}");
    let msg: Value = serde_json::from_str(&out[0]).unwrap();
    assert_eq!(msg["topic"], "weather");
    assert_eq!(msg["frames"], serde_json::json!(["sunny"]));
    assert_eq!(msg["sealed"]["signer"], signer.as_str());
    assert!(msg["sealed"]["epoch"].as_u64().unwrap() >= 1);

    // A stranger's key is not admitted: it is told so (ZAP refused its CURVE handshake), and
    // what it receives is refused.
    let data = format!("tcp://127.0.0.1:{}", free_port());
    let stranger = subscriber(dir, &data, &group, "stranger_secret", "3000");
    Running::expect(&stranger.stderr, "ZAP status 400");
    // It is subscribed once it warned; the publisher waits for it, so the message reaches it.
    publish(dir, &data, &group);
    let (code, out, err) = stranger.wait();
    assert_eq!(
        code,
        Some(3),
        "timed out waiting for a message it could open: {err:?}"
    );
    assert!(out.is_empty(), "the stranger printed {out:?}");
    assert!(
        err.iter().any(|l| l.contains("refused")),
        "the message was refused on stderr: {err:?}"
    );
    drop(coord);
}

#[test]
fn coordinator_flags_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    keys(dir);
    let usage = |args: &[&str]| {
        let out = zmtp_command().args(args).current_dir(dir).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stderr)
    };
    let bind = ["coordinator", "--bind", "tcp://127.0.0.1:0"];
    let no_publisher = [
        &bind[..],
        &["--secret-key", "coord_secret", "--allow", "sub"],
    ]
    .concat();
    assert!(usage(&no_publisher).contains("--publisher"));
    let nobody = [
        &bind[..],
        &["--secret-key", "coord_secret", "--publisher", "signer"],
    ]
    .concat();
    assert!(usage(&nobody).contains("nobody could join"));
    // A public certificate is no secret key, and a CURVE certificate no Ed25519 key.
    usage(
        &[
            &bind[..],
            &[
                "--secret-key",
                "coord",
                "--allow",
                "sub",
                "--publisher",
                "signer",
            ],
        ]
        .concat(),
    );
    usage(
        &[
            &bind[..],
            &[
                "--secret-key",
                "coord_secret",
                "--allow",
                "sub",
                "--publisher",
                "sub",
            ],
        ]
        .concat(),
    );
    // send --group needs a signing key.
    let out = zmtp_command()
        .args([
            "send",
            "--type",
            "PUB",
            "--bind",
            "tcp://127.0.0.1:0",
            "--group",
            "tcp://127.0.0.1:1",
            "--coordinator-key",
            "coord",
            "--member-key",
            "pub_secret",
            "x",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--signing-key"));
    let help = run(dir, &["coordinator", "--help"]);
    assert!(text(&help.stdout).contains("Examples:"));
}
