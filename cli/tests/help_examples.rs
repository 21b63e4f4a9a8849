//! The examples in every sub-command's `--help` run as printed: each line is given to `sh` with
//! the built binary first on PATH, in a scratch directory holding the files the examples name.
//! Only the ports (to free ones) and the SERVER_Z85 placeholder (to a real key) are substituted.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{free_port, zmtp_command, ZMTP};

const DEADLINE: Duration = Duration::from_secs(30);

/// The example lines of `zmtp <sub> --help`.
fn examples(sub: &str) -> Vec<String> {
    let out = zmtp_command().args([sub, "--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let after = text
        .split_once("Examples:\n")
        .unwrap_or_else(|| panic!("{sub} --help has no examples"))
        .1;
    let lines: Vec<String> = after
        .lines()
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().to_owned())
        .collect();
    assert!(!lines.is_empty(), "{sub} --help lists no example");
    lines
}

/// A scratch directory, the binary on PATH, and the ports the examples use mapped to free ones.
struct Shell {
    dir: tempfile::TempDir,
    path: String,
    ports: Vec<(String, String)>,
    server_key: String,
    client_key: String,
}

impl Shell {
    fn new() -> Shell {
        let dir = tempfile::tempdir().unwrap();
        let bin = Path::new(ZMTP).parent().unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // Five different free ports (the OS may hand the same one out twice in a row).
        let mut free = BTreeSet::new();
        while free.len() < 5 {
            free.insert(free_port());
        }
        let ports = (5555..=5559)
            .zip(free)
            .map(|(from, to)| (format!("127.0.0.1:{from}"), format!("127.0.0.1:{to}")))
            .collect();
        Shell {
            dir,
            path,
            ports,
            server_key: String::new(),
            client_key: String::new(),
        }
    }

    fn command(&self, line: &str) -> Command {
        let mut line = line.replace("SERVER_Z85", &self.server_key);
        for (from, to) in &self.ports {
            line = line.replace(from, to);
        }
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(line)
            .current_dir(self.dir.path())
            .env("PATH", &self.path)
            .env_remove("ZMTP_CURVE_SECRETKEY")
            .env_remove("ZMTP_PLAIN_PASSWORD")
            // Its own process group, so the shell and whatever it put in the background can
            // be killed together.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs a line to the end (killed at the deadline); it must exit 0.
    fn run(&self, line: &str) -> String {
        let child = Group::spawn(self.command(line));
        let out = wait_with_deadline(child);
        assert!(
            out.status.success(),
            "`{line}` exited {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Starts a server line; its stdout lines arrive on the returned channel.
    fn start(&self, line: &str) -> (Group, mpsc::Receiver<String>) {
        let mut child = Group::spawn(self.command(&format!("exec {line}")));
        let stdout = child.child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }

    /// The files the security examples name: users.txt, server certificates, clients/.
    fn with_security_files(mut self) -> Shell {
        let d = self.dir.path();
        std::fs::write(d.join("users.txt"), "admin=secret\n").unwrap();
        let out = self.run("zmtp keygen --cert server --json");
        let keys: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        self.server_key = keys["public"].as_str().unwrap().to_owned();
        let out = self.run("zmtp keygen --cert client --json");
        let keys: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        self.client_key = keys["public"].as_str().unwrap().to_owned();
        std::fs::create_dir(d.join("clients")).unwrap();
        std::fs::copy(d.join("client"), d.join("clients/client")).unwrap();
        self
    }
}

/// A shell line's process group: killed whole at the deadline and when dropped, so a failing
/// test leaves no server or background job behind (nor a pipe open that would block a read).
struct Group {
    child: Child,
    reaped: bool,
}

impl Group {
    fn spawn(mut command: Command) -> Group {
        Group {
            child: command.spawn().unwrap(),
            reaped: false,
        }
    }

    fn kill(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        // Should `kill` be missing, the shell itself still goes.
        let _ = self.child.kill();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_all(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Waits for the shell to exit (killing its group at the deadline), then ends whatever it left
/// in the background, and collects its output.
fn wait_with_deadline(mut group: Group) -> Output {
    let stdout = read_all(group.child.stdout.take());
    let stderr = read_all(group.child.stderr.take());
    let start = Instant::now();
    while group.child.try_wait().unwrap().is_none() && start.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(20));
    }
    group.kill();
    let status = group.child.wait().unwrap();
    group.reaped = true;
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Waits for a server's output line containing `want`.
fn expect_line(rx: &mpsc::Receiver<String>, want: &str) -> String {
    let end = Instant::now() + DEADLINE;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(want) => return line,
            Ok(_) => {}
            Err(_) => panic!("no line with {want:?} from the server"),
        }
    }
}

#[test]
fn demo_keygen_and_z85_examples_run() {
    let shell = Shell::new();
    for line in examples("demo") {
        assert!(!shell.run(&line).is_empty(), "`{line}` printed nothing");
    }
    let mut mkdir_seen = false;
    for line in examples("keygen") {
        mkdir_seen |= line.starts_with("mkdir");
        let out = shell.run(&line);
        assert!(out.contains("public"), "`{line}`: {out}");
    }
    assert!(mkdir_seen);
    assert!(shell.dir.path().join("certs/gateway_secret").is_file());
    assert!(shell.dir.path().join("client.key_secret").is_file());
    let z85 = examples("z85");
    assert_eq!(shell.run(&z85[0]).trim(), "HelloWorld");
    assert_eq!(
        shell.run(&z85[1]).split_whitespace().collect::<Vec<_>>(),
        ["86", "4f", "d2", "6f", "b5", "59", "f7", "5b"]
    );
}

#[test]
fn send_and_recv_examples_run_against_each_other() {
    let shell = Shell::new().with_security_files();
    let send = examples("send");
    let recv = examples("recv");
    assert_eq!(send.len(), 7);
    assert_eq!(recv.len(), 5);

    // The first three send lines are one script: a PULL for three messages, two senders.
    let script = format!("{}\n{}\n{}\nwait\n", send[0], send[1], send[2]);
    assert_eq!(
        shell.run(&script).lines().collect::<Vec<_>>(),
        ["hello world", "a", "b"]
    );

    // recv's first example takes one message and exits.
    let (pull, lines) = shell.start(&recv[0]);
    shell.run(&send[1]);
    assert_eq!(expect_line(&lines, "hello"), "hello world");
    assert!(wait_with_deadline(pull).status.success());

    // Each further send example talks to the recv example on its port.
    let client_user = format!("\"User-Id\":\"{}\"", shell.client_key);
    for (server, client, shows) in [
        (&recv[1], &send[3], ["\"weather\"", "\"sunny\""]),
        (&recv[2], &send[4], ["hello", "hello"]),
        (&recv[3], &send[5], ["\"hello\"", "\"User-Id\":\"admin\""]),
        (&recv[4], &send[6], ["\"hello\"", client_user.as_str()]),
    ] {
        let (_server, lines) = shell.start(server);
        let out = shell.run(client);
        if client.contains("--type REQ") {
            assert_eq!(out.trim(), "ok", "`{client}` printed the reply");
        }
        let line = expect_line(&lines, shows[0]);
        assert!(line.contains(shows[1]), "`{server}` printed {line}");
    }
}
