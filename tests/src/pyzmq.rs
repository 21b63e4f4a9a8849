//! The reference libzmq peer: `tests/interop/peer.py` run by the pyzmq that
//! `scripts/setup-interop` installs (pyzmq bundles libzmq 4.3.5 built with libsodium).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::repo_root;

/// How long any expected line may take.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(20);

/// The Python with pyzmq, installed on first use by the project's own script.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let root = repo_root();
            let out = std::process::Command::new(root.join("scripts/setup-interop"))
                .output()
                .expect("scripts/setup-interop runs");
            assert!(
                out.status.success(),
                "scripts/setup-interop failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            PathBuf::from(stdout.lines().last().expect("python path").trim())
        })
        .clone()
}

/// A running libzmq peer.
#[derive(Debug)]
pub struct Peer {
    child: Child,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Every line seen so far.
    pub seen: Vec<Value>,
}

impl Peer {
    /// Starts a peer with the JSON configuration `tests/interop/peer.py` documents.
    pub fn spawn(config: &Value) -> Peer {
        Peer::spawn_script("peer.py", config)
    }

    /// Starts another script of `tests/interop/` the same way (configuration on stdin, JSON
    /// lines on stdout).
    pub fn spawn_script(name: &str, config: &Value) -> Peer {
        let script = repo_root().join("tests/interop").join(name);
        let mut command = Command::new(python());
        command.arg(script);
        Peer::spawn_command(command, config)
    }

    /// Starts any program that speaks the same protocol (the configuration as one JSON
    /// document on stdin, JSON lines on stdout): the peers of the other stacks. Its stderr is
    /// what `command` says (inherited unless set).
    pub fn spawn_command(mut command: Command, config: &Value) -> Peer {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the interop peer starts");
        // The configuration goes through stdin: large frames would not fit in an argument.
        let mut stdin = child.stdin.take().expect("piped");
        let text = config.to_string().into_bytes();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = stdin.write_all(&text).await;
            let _ = stdin.shutdown().await;
        });
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    Err(_) => eprintln!("peer: {line}"),
                }
            }
        });
        Peer {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// The next line, or a panic after [`LINE_TIMEOUT`].
    pub async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(LINE_TIMEOUT, self.lines.recv())
            .await
            .unwrap_or_else(|_| panic!("peer silent for {LINE_TIMEOUT:?}; seen {:?}", self.seen))
            .unwrap_or_else(|| panic!("peer exited; seen {:?}", self.seen));
        self.seen.push(line.clone());
        line
    }

    /// The next line within `wait`, or `None` if the peer stayed silent or exited.
    pub async fn try_next(&mut self, wait: Duration) -> Option<Value> {
        let line = tokio::time::timeout(wait, self.lines.recv()).await.ok()??;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Stops the peer now.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Lets the peer exit on its own (closing its socket, flushing what it still sends) for up
    /// to `wait`, then stops it.
    pub async fn wait_exit(mut self, wait: Duration) {
        if tokio::time::timeout(wait, self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }

    /// Skips lines until one has `key`; panics on an `error` line.
    pub async fn until(&mut self, key: &str) -> Value {
        loop {
            let line = self.next().await;
            if line.get(key).is_some() {
                return line;
            }
            if let Some(e) = line.get("error") {
                panic!("peer error: {e}; seen {:?}", self.seen);
            }
        }
    }

    /// The endpoint the peer bound.
    pub async fn bound(&mut self) -> String {
        self.until("bound").await["bound"]
            .as_str()
            .expect("string")
            .to_owned()
    }

    /// The next message the peer received: frames and properties.
    pub async fn received(&mut self) -> (Vec<Vec<u8>>, Value) {
        let line = self.until("recv").await;
        let frames = line["recv"]
            .as_array()
            .expect("array")
            .iter()
            .map(|f| hex::decode(f.as_str().expect("hex")).expect("hex"))
            .collect();
        (frames, line["props"].clone())
    }

    /// Waits for a monitor event with this name; returns its value.
    pub async fn event(&mut self, name: &str) -> u64 {
        loop {
            let line = self.until("event").await;
            if line["event"] == name {
                return line["value"].as_u64().unwrap_or(0);
            }
        }
    }

    /// Waits for the script to finish; panics if it reported an error.
    pub async fn done(mut self) -> Vec<Value> {
        loop {
            let line = self.next().await;
            if let Some(e) = line.get("error") {
                panic!("peer error: {e}; seen {:?}", self.seen);
            }
            if line.get("done").is_some() {
                let _ = self.child.wait().await;
                return self.seen;
            }
        }
    }
}

/// Hex of each frame, for scripts.
pub fn hex_frames(frames: &[&[u8]]) -> Vec<String> {
    frames.iter().map(hex::encode).collect()
}
