//! The interop matrix against other ZMTP stacks.
//!
//! Every peer program speaks the protocol of `tests/interop/STACKS.md`, so one [`Matrix`] runs
//! the same cases against each: NULL, PLAIN and CURVE (where the stack has them) × PUSH/PULL,
//! DEALER/ROUTER, REQ/REP, PUB/SUB × our side binding or connecting × our side sending or
//! receiving, each with a single-part message, a multipart one and a 100 KB one; and the
//! refusals (a wrong server key, an unknown client key, a wrong password) in both directions,
//! with nothing delivered.
//!
//! A case that fails is run again with libzmq (the pyzmq peer) in our place, so the report says
//! whose defect it likely is: if libzmq fails with the peer too, the peer's; if libzmq passes,
//! ours. Cases a stack is known to fail are declared with their reason (recorded in
//! `rfcs/interop-stacks.md`); the test fails if any case's outcome differs from what is declared,
//! so a fixed defect is noticed as surely as a new one.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::process::Command;
use tokio::sync::Semaphore;
use zmtp::mechanisms::{
    CurveClientConfig, CurveKeyPair, CurvePublicKey, CurveSecretKey, CurveServerConfig,
    PlainClientConfig, PlainServerConfig,
};
use zmtp::zap::{Passwords, Policy};
use zmtp::{MonitorEvent, Socket, SocketOptions, SocketType};

use crate::pyzmq::{python, Peer};
use crate::repo_root;

/// A security mechanism of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mech {
    /// No security.
    Null,
    /// User name and password.
    Plain,
    /// CurveZMQ.
    Curve,
}

impl Mech {
    /// All three.
    pub const ALL: [Mech; 3] = [Mech::Null, Mech::Plain, Mech::Curve];

    fn name(self) -> &'static str {
        match self {
            Mech::Null => "NULL",
            Mech::Plain => "PLAIN",
            Mech::Curve => "CURVE",
        }
    }
}

/// A socket pair of the matrix: the first type sends first (the client), the second answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pattern {
    /// PUSH → PULL.
    PushPull,
    /// DEALER → ROUTER, which echoes.
    DealerRouter,
    /// REQ → REP, which echoes.
    ReqRep,
    /// PUB → SUB.
    PubSub,
}

impl Pattern {
    /// All four.
    pub const ALL: [Pattern; 4] = [
        Pattern::PushPull,
        Pattern::DealerRouter,
        Pattern::ReqRep,
        Pattern::PubSub,
    ];

    /// The sending side's type and the receiving side's.
    fn types(self) -> (&'static str, &'static str) {
        match self {
            Pattern::PushPull => ("PUSH", "PULL"),
            Pattern::DealerRouter => ("DEALER", "ROUTER"),
            Pattern::ReqRep => ("REQ", "REP"),
            Pattern::PubSub => ("PUB", "SUB"),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = self.types();
        write!(f, "{a}/{b}")
    }
}

/// What a refusal case gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Wrong {
    /// A CURVE client that has the wrong server key.
    ServerKey,
    /// A CURVE client whose key the server does not admit.
    ClientKey,
    /// A PLAIN client with the wrong password.
    Password,
}

impl Wrong {
    fn mech(self) -> Mech {
        match self {
            Wrong::ServerKey | Wrong::ClientKey => Mech::Curve,
            Wrong::Password => Mech::Plain,
        }
    }
}

/// One case of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Case {
    /// Messages cross and come back as the pattern promises.
    Traffic {
        /// The mechanism; the binding side is its server.
        mech: Mech,
        /// The socket pair.
        pattern: Pattern,
        /// Our side binds (else the peer binds).
        we_bind: bool,
        /// Our side is the pattern's sending side (PUSH, DEALER, REQ, PUB).
        we_send: bool,
    },
    /// A client with wrong credentials (PUSH) is refused by the server (PULL, binding): nothing
    /// is delivered, and the client never sees its handshake succeed.
    Refused {
        /// What is wrong.
        wrong: Wrong,
        /// Our side is the server (and binds).
        we_serve: bool,
    },
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Case::Traffic {
                mech,
                pattern,
                we_bind,
                we_send,
            } => write!(
                f,
                "{} | {pattern} | {} | {}",
                mech.name(),
                if we_bind { "we bind" } else { "we connect" },
                if we_send { "we send" } else { "we receive" },
            ),
            Case::Refused { wrong, we_serve } => write!(
                f,
                "{} | refusal: {} | {} | {}",
                wrong.mech().name(),
                match wrong {
                    Wrong::ServerKey => "wrong server key",
                    Wrong::ClientKey => "unknown client key",
                    Wrong::Password => "wrong password",
                },
                if we_serve { "we bind" } else { "we connect" },
                if we_serve {
                    "we are the server"
                } else {
                    "we are the client"
                },
            ),
        }
    }
}

/// A peer program of another stack.
#[derive(Debug, Clone)]
pub struct Program {
    /// The stack and its version, for the report.
    pub name: String,
    program: PathBuf,
    args: Vec<String>,
    /// Speaks `peer.py`'s own configuration (libzmq), translated from the common one.
    pyzmq: bool,
}

impl Program {
    /// A program that speaks `tests/interop/STACKS.md`.
    pub fn new(name: impl Into<String>, program: impl Into<PathBuf>) -> Program {
        Program {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            pyzmq: false,
        }
    }

    /// With arguments (a script for an interpreter).
    pub fn arg(mut self, arg: impl Into<String>) -> Program {
        self.args.push(arg.into());
        self
    }

    /// libzmq 4.3.5 through pyzmq (`tests/interop/peer.py`), the reference.
    pub fn libzmq() -> Program {
        Program {
            name: "libzmq 4.3.5 (pyzmq)".into(),
            program: python(),
            args: vec![repo_root()
                .join("tests/interop/peer.py")
                .display()
                .to_string()],
            pyzmq: true,
        }
    }

    /// The program printed on the last line of a setup script (`scripts/setup-*`), which
    /// installs it on first use; panics with the script's stderr when it fails.
    pub fn installed_by(script: &str) -> PathBuf {
        let out = std::process::Command::new(repo_root().join("scripts").join(script))
            .output()
            .unwrap_or_else(|e| panic!("scripts/{script} did not start: {e}"));
        assert!(
            out.status.success(),
            "scripts/{script} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        PathBuf::from(stdout.lines().last().expect("a path").trim())
    }

    fn spawn(&self, config: &Value) -> Peer {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        // The peers' own diagnostics (hundreds of lines for the refusal cases) only with
        // ZMTP_STACKS_STDERR=1; the report carries what each case needs.
        if std::env::var_os("ZMTP_STACKS_STDERR").is_none() {
            command.stderr(std::process::Stdio::null());
        }
        let config = if self.pyzmq {
            to_pyzmq(config)
        } else {
            config.clone()
        };
        Peer::spawn_command(command, &config)
    }
}

/// `peer.py`'s form of a common configuration.
fn to_pyzmq(config: &Value) -> Value {
    let mut out = json!({ "type": config["type"], "script": config["script"] });
    for key in ["bind", "connect", "timeout_ms"] {
        if !config[key].is_null() {
            out[key] = config[key].clone();
        }
    }
    let mut options = serde_json::Map::new();
    if let Some(subscribe) = config.get("subscribe") {
        options.insert("subscribe".into(), subscribe.clone());
    }
    let mech = &config["mechanism"];
    let server = mech["server"].as_bool().unwrap_or(false);
    match mech["name"].as_str() {
        Some("PLAIN") if server => {
            options.insert("plain_server".into(), json!(true));
            out["zap"] = json!({ "users": mech["users"] });
        }
        Some("PLAIN") => {
            options.insert("plain_username".into(), mech["username"].clone());
            options.insert("plain_password".into(), mech["password"].clone());
        }
        Some("CURVE") => {
            if server {
                options.insert("curve_server".into(), json!(true));
                if let Some(clients) = mech.get("clients") {
                    out["zap"] = json!({ "curve_keys": clients });
                }
            } else {
                options.insert("curve_serverkey".into(), mech["server_key"].clone());
                options.insert("curve_publickey".into(), mech["public_key"].clone());
            }
            options.insert("curve_secretkey".into(), mech["secret_key"].clone());
        }
        _ => {}
    }
    out["options"] = Value::Object(options);
    out
}

/// Who plays a side of a case.
#[derive(Debug, Clone)]
enum Party {
    /// Our sockets, in this process.
    Us,
    /// A peer program.
    Peer(Program),
}

/// One side's part in a case.
#[derive(Debug, Clone)]
struct Side {
    socket_type: &'static str,
    endpoint: String,
    bind: bool,
    mechanism: Value,
    subscribe: Vec<String>,
    script: Vec<Value>,
    timeout_ms: u64,
}

impl Side {
    fn config(&self) -> Value {
        let mut config = json!({
            "type": self.socket_type,
            "mechanism": self.mechanism,
            "timeout_ms": self.timeout_ms,
            "script": self.script,
        });
        config[if self.bind { "bind" } else { "connect" }] = json!(self.endpoint);
        if !self.subscribe.is_empty() {
            config["subscribe"] = json!(self.subscribe);
        }
        config
    }
}

/// What a side saw: the messages it received, whether its handshake succeeded (ours only), and
/// the error that ended its script, if any.
#[derive(Debug, Default)]
struct Seen {
    messages: Vec<Vec<Vec<u8>>>,
    handshake_succeeded: bool,
    handshake_failed: bool,
    error: Option<String>,
    /// Our monitor's events, for the report of a failure.
    events: Vec<String>,
}

/// The messages every traffic case sends: one part, three parts, and 100 KB.
fn messages() -> Vec<Vec<Vec<u8>>> {
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    vec![
        vec![b"hello".to_vec()],
        vec![b"multi".to_vec(), b"part".to_vec(), b"message".to_vec()],
        vec![big],
    ]
}

fn send_op(frames: &[Vec<u8>]) -> Value {
    json!({ "op": "send", "frames": frames.iter().map(hex::encode).collect::<Vec<_>>() })
}

const WARM_UP: &[u8] = b"warm-up";

/// Keys for one case: the server's pair, the client's pair, and a stranger's pair.
struct Keys {
    server: CurveKeyPair,
    client: CurveKeyPair,
    stranger: CurveKeyPair,
}

impl Keys {
    fn generate() -> Keys {
        let pair = || CurveKeyPair::generate().expect("keys");
        Keys {
            server: pair(),
            client: pair(),
            stranger: pair(),
        }
    }
}

fn z85_pair(pair: &CurveKeyPair) -> (String, String) {
    (pair.public.to_z85(), pair.secret.to_z85().to_string())
}

/// The mechanism configurations (common form) of server and client.
fn mechanisms(mech: Mech, keys: &Keys, wrong: Option<Wrong>) -> (Value, Value) {
    match mech {
        Mech::Null => (json!({ "name": "NULL" }), json!({ "name": "NULL" })),
        Mech::Plain => {
            let password = if wrong == Some(Wrong::Password) {
                "not-the-password"
            } else {
                "s3cret"
            };
            (
                json!({ "name": "PLAIN", "server": true, "users": { "admin": "s3cret" } }),
                json!({ "name": "PLAIN", "username": "admin", "password": password }),
            )
        }
        Mech::Curve => {
            let (server_public, server_secret) = z85_pair(&keys.server);
            let client = if wrong == Some(Wrong::ClientKey) {
                &keys.stranger
            } else {
                &keys.client
            };
            let (client_public, client_secret) = z85_pair(client);
            let server_key = if wrong == Some(Wrong::ServerKey) {
                keys.stranger.public.to_z85()
            } else {
                server_public.clone()
            };
            (
                json!({
                    "name": "CURVE", "server": true, "secret_key": server_secret,
                    "public_key": server_public, "clients": [keys.client.public.to_z85()],
                }),
                json!({
                    "name": "CURVE", "server_key": server_key, "secret_key": client_secret,
                    "public_key": client_public,
                }),
            )
        }
    }
}

/// Our socket options for a common mechanism configuration.
fn our_options(mechanism: &Value) -> SocketOptions {
    let text = |key: &str| mechanism[key].as_str().expect(key).to_owned();
    let server = mechanism["server"].as_bool().unwrap_or(false);
    match mechanism["name"].as_str() {
        Some("PLAIN") if server => {
            let mut passwords = Passwords::new();
            for (user, password) in mechanism["users"].as_object().expect("users") {
                passwords.insert(user.clone(), password.as_str().expect("password"));
            }
            SocketOptions {
                mechanism: Arc::new(PlainServerConfig::new()),
                authenticator: Some(Arc::new(Policy::new().passwords("*", passwords))),
                ..Default::default()
            }
        }
        Some("PLAIN") => SocketOptions {
            mechanism: Arc::new(
                PlainClientConfig::new(text("username"), text("password")).expect("plain"),
            ),
            ..Default::default()
        },
        Some("CURVE") if server => {
            let mut policy = Policy::new();
            for key in mechanism["clients"].as_array().expect("clients") {
                let key = CurvePublicKey::from_z85(key.as_str().expect("z85")).expect("key");
                policy = policy.curve_key("*", &key, Default::default());
            }
            SocketOptions {
                mechanism: Arc::new(CurveServerConfig::new(
                    CurveSecretKey::from_z85(&text("secret_key")).expect("key"),
                )),
                authenticator: Some(Arc::new(policy)),
                ..Default::default()
            }
        }
        Some("CURVE") => SocketOptions {
            mechanism: Arc::new(CurveClientConfig::new(
                CurveSecretKey::from_z85(&text("secret_key")).expect("key"),
                CurvePublicKey::from_z85(&text("server_key")).expect("key"),
            )),
            ..Default::default()
        },
        _ => SocketOptions::default(),
    }
}

/// A loopback endpoint on a port that was free a moment ago.
fn free_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    format!("tcp://{}", listener.local_addr().expect("bound"))
}

/// Plays a side with our sockets. `bound` is told once the socket is bound or connecting; the
/// socket is kept until `finish` fires, so nothing queued is lost by closing early.
async fn run_ours(
    side: Side,
    bound: tokio::sync::oneshot::Sender<()>,
    finish: tokio::sync::oneshot::Receiver<bool>,
) -> Seen {
    let socket_type: SocketType = side.socket_type.parse().expect("socket type");
    let socket = Socket::with_options(socket_type, our_options(&side.mechanism));
    let mut monitor = socket.monitor(256);
    let started = tokio::time::Instant::now();
    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = tokio::spawn(async move {
        while let Some(event) = monitor.recv().await {
            let _ = events_tx.send((started.elapsed(), event));
        }
    });
    let mut seen = Seen::default();
    for prefix in &side.subscribe {
        socket
            .subscribe(hex::decode(prefix).expect("hex"))
            .expect("subscribe");
    }
    let result = if side.bind {
        socket.bind(&side.endpoint).await.map(drop)
    } else {
        socket.connect(&side.endpoint).await
    };
    let _ = bound.send(());
    if let Err(e) = result {
        seen.error = Some(format!("bind/connect: {e}"));
        return seen;
    }
    // The script, unless the other side fails first (then waiting out our timeouts would only
    // slow the report down).
    let mut finish = finish;
    let failed_first = {
        let script = run_script(&socket, &side, &mut seen);
        tokio::pin!(script);
        tokio::select! {
            () = &mut script => {
                let _ = (&mut finish).await;
                false
            }
            signal = &mut finish => {
                if signal == Ok(true) {
                    true
                } else {
                    // The other side finished well: ours goes on to its end.
                    script.await;
                    false
                }
            }
        }
    };
    if failed_first {
        seen.error
            .get_or_insert_with(|| "stopped: the other side failed first".into());
    }
    watcher.abort();
    while let Ok((at, event)) = events_rx.try_recv() {
        seen.events.push(format!(
            "{:?}({})@{}ms",
            event.event,
            event.value,
            at.as_millis()
        ));
        match event.event {
            MonitorEvent::HandshakeSucceeded => seen.handshake_succeeded = true,
            MonitorEvent::HandshakeFailedAuth
            | MonitorEvent::HandshakeFailedProtocol
            | MonitorEvent::HandshakeFailedNoDetail => seen.handshake_failed = true,
            _ => {}
        }
    }
    socket.close(Duration::from_millis(500)).await;
    seen
}

/// Runs a side's script on our socket, noting what it receives and the error that ends it.
async fn run_script(socket: &Socket, side: &Side, seen: &mut Seen) {
    let timeout = Duration::from_millis(side.timeout_ms);
    for step in &side.script {
        match step["op"].as_str().expect("op") {
            "send" => {
                let frames: Vec<Bytes> = step["frames"]
                    .as_array()
                    .expect("frames")
                    .iter()
                    .map(|f| Bytes::from(hex::decode(f.as_str().expect("hex")).expect("hex")))
                    .collect();
                match tokio::time::timeout(timeout, socket.send(frames)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        seen.error = Some(format!("send: {e}"));
                        return;
                    }
                    Err(_) => {
                        seen.error = Some(format!("send blocked for {timeout:?}"));
                        return;
                    }
                }
            }
            op @ ("recv" | "echo") => {
                let skip = step["skip"].as_str().map(|s| hex::decode(s).expect("hex"));
                let mut count = 0;
                while count < step["count"].as_u64().unwrap_or(1) {
                    let message = match tokio::time::timeout(timeout, socket.recv()).await {
                        Ok(Ok(message)) => message,
                        Ok(Err(e)) => {
                            seen.error = Some(format!("recv: {e}"));
                            return;
                        }
                        Err(_) => {
                            seen.error = Some(format!("no message within {timeout:?}"));
                            return;
                        }
                    };
                    let frames: Vec<Vec<u8>> = message.parts().iter().map(|p| p.to_vec()).collect();
                    if skip.as_ref().is_some_and(|s| frames[0].starts_with(s)) {
                        continue;
                    }
                    count += 1;
                    if op == "echo" {
                        if let Err(e) = socket.send(message.parts().to_vec()).await {
                            seen.error = Some(format!("send: {e}"));
                            return;
                        }
                    }
                    seen.messages.push(frames);
                }
            }
            "sleep" => {
                tokio::time::sleep(Duration::from_millis(step["ms"].as_u64().expect("ms"))).await
            }
            other => panic!("unknown op {other}"),
        }
    }
}

/// Plays a side with a peer program; returns once it is done, failed or timed out.
async fn run_peer(
    program: &Program,
    side: Side,
    bound: tokio::sync::oneshot::Sender<()>,
    deadline: Duration,
) -> Seen {
    let mut peer = program.spawn(&side.config());
    let mut seen = Seen::default();
    let mut bound = Some(bound);
    if !side.bind {
        let _ = bound.take().map(|b| b.send(()));
    }
    let until = tokio::time::Instant::now() + deadline;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let Some(line) = peer.try_next(left).await else {
            seen.error
                .get_or_insert_with(|| "the peer exited or went silent".into());
            break;
        };
        if line.get("bound").is_some() {
            let _ = bound.take().map(|b| b.send(()));
        } else if let Some(frames) = line.get("recv") {
            seen.messages.push(
                frames
                    .as_array()
                    .expect("array")
                    .iter()
                    .map(|f| hex::decode(f.as_str().expect("hex")).expect("hex"))
                    .collect(),
            );
        } else if let Some(e) = line.get("error") {
            seen.error = Some(e.as_str().map_or_else(|| e.to_string(), str::to_owned));
            // libzmq's peer reports done after an error; others exit. Either way, stop.
            break;
        } else if line.get("done").is_some() {
            drop(bound);
            peer.wait_exit(Duration::from_secs(3)).await;
            return seen;
        }
    }
    // A binder that never bound lets the other side go on and fail.
    drop(bound);
    peer.kill().await;
    seen
}

async fn play(
    party: &Party,
    side: Side,
    bound: tokio::sync::oneshot::Sender<()>,
    finish: tokio::sync::oneshot::Receiver<bool>,
    deadline: Duration,
) -> Seen {
    match party {
        Party::Us => run_ours(side, bound, finish).await,
        Party::Peer(program) => run_peer(program, side, bound, deadline).await,
    }
}

/// The two sides of a case: (ours, the peer's).
fn sides(case: Case, keys: &Keys) -> (Side, Side) {
    let endpoint = free_endpoint();
    let side = |socket_type, bind, mechanism: &Value, script: Vec<Value>, timeout_ms| Side {
        socket_type,
        endpoint: endpoint.clone(),
        bind,
        mechanism: mechanism.clone(),
        subscribe: Vec::new(),
        script,
        timeout_ms,
    };
    match case {
        Case::Traffic {
            mech,
            pattern,
            we_bind,
            we_send,
        } => {
            let (server_mech, client_mech) = mechanisms(mech, keys, None);
            let msgs = messages();
            let n = msgs.len();
            let (sender_type, receiver_type) = pattern.types();
            let (sender_script, receiver_script): (Vec<Value>, Vec<Value>) = match pattern {
                Pattern::PushPull => (
                    msgs.iter().map(|m| send_op(m)).collect(),
                    vec![json!({ "op": "recv", "count": n })],
                ),
                Pattern::DealerRouter => (
                    msgs.iter()
                        .map(|m| send_op(m))
                        .chain([json!({ "op": "recv", "count": n })])
                        .collect(),
                    vec![json!({ "op": "echo", "count": n })],
                ),
                Pattern::ReqRep => (
                    msgs.iter()
                        .flat_map(|m| [send_op(m), json!({ "op": "recv", "count": 1 })])
                        .collect(),
                    vec![json!({ "op": "echo", "count": n })],
                ),
                Pattern::PubSub => (
                    (0..25)
                        .flat_map(|_| {
                            [
                                send_op(&[WARM_UP.to_vec()]),
                                json!({ "op": "sleep", "ms": 20 }),
                            ]
                        })
                        .chain(msgs.iter().map(|m| send_op(m)))
                        .collect(),
                    vec![json!({ "op": "recv", "count": n, "skip": hex::encode(WARM_UP) })],
                ),
            };
            // The binding side is the mechanism's server.
            let sender_binds = we_bind == we_send;
            let (sender_mech, receiver_mech) = if sender_binds {
                (&server_mech, &client_mech)
            } else {
                (&client_mech, &server_mech)
            };
            let sender = side(
                sender_type,
                sender_binds,
                sender_mech,
                sender_script,
                10_000,
            );
            let mut receiver = side(
                receiver_type,
                !sender_binds,
                receiver_mech,
                receiver_script,
                10_000,
            );
            if pattern == Pattern::PubSub {
                receiver.subscribe = vec![String::new()];
            }
            if we_send {
                (sender, receiver)
            } else {
                (receiver, sender)
            }
        }
        Case::Refused { wrong, we_serve } => {
            let (server_mech, client_mech) = mechanisms(wrong.mech(), keys, Some(wrong));
            let client = side(
                "PUSH",
                false,
                &client_mech,
                vec![
                    send_op(&[b"must not arrive".to_vec()]),
                    json!({ "op": "sleep", "ms": 1500 }),
                ],
                1500,
            );
            let server = side(
                "PULL",
                true,
                &server_mech,
                vec![json!({ "op": "recv", "count": 1 })],
                1500,
            );
            if we_serve {
                (server, client)
            } else {
                (client, server)
            }
        }
    }
}

/// Judges what the two sides saw; `Ok` or what went wrong.
fn judge(case: Case, ours: &Seen, theirs: &Seen, we_are_us: bool) -> Result<(), String> {
    let msgs = messages();
    let short = |e: &Option<String>| e.clone().unwrap_or_default();
    match case {
        Case::Traffic {
            pattern, we_send, ..
        } => {
            let (sender, receiver) = if we_send {
                (ours, theirs)
            } else {
                (theirs, ours)
            };
            // The peer's error first: ours may only say that we stopped because of it.
            let mut sides = [("sender", sender), ("receiver", receiver)];
            sides.sort_by_key(|(_, seen)| std::ptr::eq(*seen, ours));
            for (who, seen) in sides {
                if seen.error.is_some() {
                    return Err(format!(
                        "{who} ({}): {}",
                        match (std::ptr::eq(seen, ours), we_are_us) {
                            (true, true) => "our side",
                            (true, false) => "libzmq in our place",
                            (false, _) => "peer",
                        },
                        short(&seen.error)
                    ));
                }
            }
            let strip = |got: &[Vec<Vec<u8>>]| -> Vec<Vec<Vec<u8>>> {
                got.iter()
                    .map(|m| m.get(1..).unwrap_or(&[]).to_vec())
                    .collect()
            };
            let (received, replies) = match pattern {
                Pattern::DealerRouter => {
                    if receiver
                        .messages
                        .iter()
                        .any(|m| m.first().is_none_or(|id| id.is_empty()))
                    {
                        return Err("ROUTER got a message without a routing id".into());
                    }
                    (strip(&receiver.messages), Some(&sender.messages))
                }
                Pattern::ReqRep => (receiver.messages.clone(), Some(&sender.messages)),
                Pattern::PushPull | Pattern::PubSub => (receiver.messages.clone(), None),
            };
            if received != msgs {
                return Err(format!(
                    "receiver got {} messages of sizes {:?}",
                    received.len(),
                    sizes(&received)
                ));
            }
            if let Some(replies) = replies {
                if *replies != msgs {
                    return Err(format!(
                        "sender got {} replies of sizes {:?}",
                        replies.len(),
                        sizes(replies)
                    ));
                }
            }
            Ok(())
        }
        Case::Refused { we_serve, .. } => {
            let (server, client) = if we_serve {
                (ours, theirs)
            } else {
                (theirs, ours)
            };
            if !server.messages.is_empty() {
                return Err("the server received a message from a refused client".into());
            }
            if we_are_us {
                if !we_serve && ours.handshake_succeeded {
                    return Err("our client reported HANDSHAKE_SUCCEEDED".into());
                }
                if we_serve && !ours.handshake_failed {
                    return Err("our server reported no HANDSHAKE_FAILED_* event".into());
                }
            }
            let _ = client;
            Ok(())
        }
    }
}

fn sizes(messages: &[Vec<Vec<u8>>]) -> Vec<Vec<usize>> {
    messages
        .iter()
        .map(|m| m.iter().map(Vec::len).collect())
        .collect()
}

/// Runs one case between `us` (our sockets, or libzmq in our place) and the peer.
async fn run_case(case: Case, us: Party, peer: &Program) -> Result<(), String> {
    let keys = Keys::generate();
    let (our_side, their_side) = sides(case, &keys);
    let deadline = Duration::from_secs(30);
    let (our_bound_tx, our_bound) = tokio::sync::oneshot::channel();
    let (their_bound_tx, their_bound) = tokio::sync::oneshot::channel();
    let (our_finish_tx, our_finish) = tokio::sync::oneshot::channel();
    let (_their_finish_tx, their_finish) = tokio::sync::oneshot::channel::<bool>();
    let we_bind = our_side.bind;
    let is_us = matches!(us, Party::Us);
    let them = Party::Peer(peer.clone());
    let run = async move {
        // The binding side starts first; the connecting one once it has bound.
        let (ours, theirs) = if we_bind {
            let ours = tokio::spawn(async move {
                play(&us, our_side, our_bound_tx, our_finish, deadline).await
            });
            let _ = our_bound.await;
            let theirs = play(&them, their_side, their_bound_tx, their_finish, deadline).await;
            let _ = our_finish_tx.send(theirs.error.is_some());
            (ours.await.expect("our side"), theirs)
        } else {
            let theirs = tokio::spawn(async move {
                play(&them, their_side, their_bound_tx, their_finish, deadline).await
            });
            let _ = their_bound.await;
            let ours = tokio::spawn(async move {
                play(&us, our_side, our_bound_tx, our_finish, deadline).await
            });
            let theirs = theirs.await.expect("their side");
            let _ = our_finish_tx.send(theirs.error.is_some());
            (ours.await.expect("our side"), theirs)
        };
        (ours, theirs)
    };
    match tokio::time::timeout(deadline + Duration::from_secs(10), run).await {
        Ok((ours, theirs)) => judge(case, &ours, &theirs, is_us).map_err(|e| {
            if ours.events.is_empty() {
                e
            } else {
                let shown = ours.events.len().min(6);
                let more = ours.events.len() - shown;
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                format!("{e}; our events: {}{more}", ours.events[..shown].join(" "))
            }
        }),
        Err(_) => Err("the case did not finish in time".into()),
    }
}

/// One row of the report.
#[derive(Debug)]
pub struct Outcome {
    /// The case.
    pub case: Case,
    /// What happened with our sockets.
    pub result: Result<(), String>,
    /// For a failure: what happened with libzmq in our place.
    pub libzmq: Option<Result<(), String>>,
    /// The declared known failure, if any.
    pub known: Option<&'static str>,
    /// The declared race, if any: the outcome is reported, not asserted.
    pub flaky: Option<&'static str>,
}

/// The matrix for one stack.
pub struct Matrix {
    program: Program,
    mechs: Vec<Mech>,
    patterns: Vec<Pattern>,
    absent: Vec<(String, &'static str)>,
    known: Vec<(CaseFilter, &'static str)>,
    flaky: Vec<(CaseFilter, &'static str)>,
}

/// Which cases a declaration is about.
type CaseFilter = Box<dyn Fn(&Case) -> bool + Send + Sync>;

impl fmt::Debug for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Matrix")
            .field("program", &self.program.name)
            .field("mechs", &self.mechs)
            .field("patterns", &self.patterns)
            .field(
                "known",
                &self.known.iter().map(|(_, why)| why).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Matrix {
    /// Every mechanism and pattern against `program`.
    pub fn new(program: Program) -> Matrix {
        Matrix {
            program,
            mechs: Mech::ALL.to_vec(),
            patterns: Pattern::ALL.to_vec(),
            absent: Vec::new(),
            known: Vec::new(),
            flaky: Vec::new(),
        }
    }

    /// The stack lacks `mech`: its cases are listed in the report as not applicable, with why.
    pub fn without_mech(mut self, mech: Mech, why: &'static str) -> Matrix {
        self.mechs.retain(|m| *m != mech);
        self.absent.push((mech.name().to_owned(), why));
        self
    }

    /// The stack lacks `pattern`.
    pub fn without_pattern(mut self, pattern: Pattern, why: &'static str) -> Matrix {
        self.patterns.retain(|p| *p != pattern);
        self.absent.push((pattern.to_string(), why));
        self
    }

    /// Cases matching `which` are known to fail, for `why` (the stack's defect, named in
    /// `rfcs/interop-stacks.md`). The test fails if such a case passes.
    pub fn known_failure(
        mut self,
        which: impl Fn(&Case) -> bool + Send + Sync + 'static,
        why: &'static str,
    ) -> Matrix {
        self.known.push((Box::new(which), why));
        self
    }

    /// Cases matching `which` fail some of the time for `why` (a race in the peer's stack,
    /// reproduced without us). They are run and reported, but their outcome is not asserted.
    pub fn known_flaky(
        mut self,
        which: impl Fn(&Case) -> bool + Send + Sync + 'static,
        why: &'static str,
    ) -> Matrix {
        self.flaky.push((Box::new(which), why));
        self
    }

    /// Every case of the matrix.
    pub fn cases(&self) -> Vec<Case> {
        let mut cases = Vec::new();
        for &mech in &self.mechs {
            for &pattern in &self.patterns {
                for we_bind in [true, false] {
                    for we_send in [true, false] {
                        cases.push(Case::Traffic {
                            mech,
                            pattern,
                            we_bind,
                            we_send,
                        });
                    }
                }
            }
        }
        for wrong in [Wrong::ServerKey, Wrong::ClientKey, Wrong::Password] {
            if self.mechs.contains(&wrong.mech()) {
                for we_serve in [true, false] {
                    cases.push(Case::Refused { wrong, we_serve });
                }
            }
        }
        cases
    }

    /// Runs every case (four at a time), prints the table, and panics if any outcome differs
    /// from what was declared.
    pub async fn run(self) -> Vec<Outcome> {
        let mut cases = self.cases();
        // For chasing one case by hand: `ZMTP_STACKS_CASE="CURVE | REQ/REP"` runs only the cases
        // whose row contains the text.
        if let Ok(only) = std::env::var("ZMTP_STACKS_CASE") {
            cases.retain(|c| c.to_string().contains(&only));
            eprintln!("ZMTP_STACKS_CASE={only:?}: running {} cases", cases.len());
        }
        // Four cases at a time across every matrix of the process (the tests of one binary run
        // in parallel): more would measure the machine's load rather than the stacks.
        static LIMIT: std::sync::OnceLock<Arc<Semaphore>> = std::sync::OnceLock::new();
        let limit = LIMIT.get_or_init(|| Arc::new(Semaphore::new(4))).clone();
        let program = Arc::new(self.program.clone());
        let mut tasks = Vec::new();
        for case in cases {
            let limit = limit.clone();
            let program = program.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = limit.acquire().await.expect("open");
                let result = run_case(case, Party::Us, &program).await;
                let libzmq = if result.is_err() && !program.pyzmq {
                    Some(run_case(case, Party::Peer(Program::libzmq()), &program).await)
                } else {
                    None
                };
                (case, result, libzmq)
            }));
        }
        let mut outcomes = Vec::new();
        for task in tasks {
            let (case, result, libzmq) = task.await.expect("case task");
            let known = self
                .known
                .iter()
                .find(|(which, _)| which(&case))
                .map(|(_, why)| *why);
            let flaky = self
                .flaky
                .iter()
                .find(|(which, _)| which(&case))
                .map(|(_, why)| *why);
            outcomes.push(Outcome {
                case,
                result,
                libzmq,
                known,
                flaky,
            });
        }
        let report = self.report(&outcomes);
        println!("{report}");
        let unexpected: Vec<_> = outcomes
            .iter()
            .filter(|o| o.flaky.is_none() && o.result.is_ok() == o.known.is_some())
            .map(|o| o.case.to_string())
            .collect();
        assert!(
            unexpected.is_empty(),
            "{} against {}: {} outcomes differ from what is declared: {unexpected:#?}\n{report}",
            self.program.name,
            env!("CARGO_PKG_NAME"),
            unexpected.len()
        );
        outcomes
    }

    fn report(&self, outcomes: &[Outcome]) -> String {
        let mut out = format!(
            "\n{}\n| mechanism | pattern | bind | direction | result | libzmq in our place |\n|---|---|---|---|---|---|\n",
            self.program.name
        );
        let mut by_case: BTreeMap<Case, &Outcome> = BTreeMap::new();
        for o in outcomes {
            by_case.insert(o.case, o);
        }
        for (case, o) in by_case {
            let result = match (&o.result, o.flaky) {
                (Ok(()), Some(why)) => format!("pass (known to fail at times: {why})"),
                (Err(e), Some(why)) => format!("fail, known to at times: {why} ({e})"),
                _ => String::new(),
            };
            let result = if o.flaky.is_some() {
                result
            } else {
                match (&o.result, o.known) {
                    (Ok(()), None) => "pass".to_owned(),
                    (Ok(()), Some(why)) => format!("PASS, declared to fail ({why})"),
                    (Err(e), Some(why)) => format!("fail, known: {why} ({e})"),
                    (Err(e), None) => format!("FAIL: {e}"),
                }
            };
            let libzmq = match &o.libzmq {
                None => String::new(),
                Some(Ok(())) => "pass (our defect)".into(),
                Some(Err(e)) => format!("fail too (the peer's defect): {e}"),
            };
            out.push_str(&format!("| {case} | {result} | {libzmq} |\n"));
        }
        for (what, why) in &self.absent {
            out.push_str(&format!("| {what} | not applicable: {why} |\n"));
        }
        out
    }
}
