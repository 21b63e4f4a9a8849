//! What the interop peers of the other stacks share: the configuration and output protocol of
//! `tests/interop/STACKS.md` and the script runner. Each peer supplies one [`Endpoint`] (send
//! one message, receive one message) over its stack.

use std::future::Future;
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Where the socket goes.
#[derive(Debug, Clone)]
pub enum Attach {
    Bind(String),
    Connect(String),
}

/// The security mechanism asked for.
#[derive(Debug, Clone)]
pub enum Mechanism {
    Null,
    PlainServer {
        users: Vec<(String, String)>,
    },
    PlainClient {
        username: String,
        password: String,
    },
    CurveServer {
        secret_key: [u8; 32],
        public_key: [u8; 32],
        /// `None`: every client is admitted.
        clients: Option<Vec<[u8; 32]>>,
    },
    CurveClient {
        server_key: [u8; 32],
        secret_key: [u8; 32],
        public_key: [u8; 32],
    },
}

impl Mechanism {
    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::Null => "NULL",
            Mechanism::PlainServer { .. } | Mechanism::PlainClient { .. } => "PLAIN",
            Mechanism::CurveServer { .. } | Mechanism::CurveClient { .. } => "CURVE",
        }
    }
}

/// One script step.
#[derive(Debug, Clone)]
pub enum Op {
    Send(Vec<Vec<u8>>),
    Recv { count: u64, skip: Option<Vec<u8>> },
    Echo { count: u64 },
    Sleep(Duration),
}

/// The whole configuration document.
#[derive(Debug, Clone)]
pub struct Config {
    pub socket_type: String,
    pub attach: Attach,
    pub mechanism: Mechanism,
    pub subscribe: Vec<Vec<u8>>,
    pub timeout: Duration,
    pub script: Vec<Op>,
}

/// Writes one JSON line to stdout and flushes it (one locked write, so the watchdog thread
/// never interleaves with the runtime).
pub fn emit(value: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// Reports an error and exits nonzero at once (background tasks of the stack are abandoned).
pub fn fail(message: impl AsRef<str>) -> ! {
    let message = message.as_ref();
    eprintln!("{}: {message}", program());
    emit(json!({ "error": message }));
    std::process::exit(1);
}

/// A diagnostic on stderr.
pub fn note(message: impl AsRef<str>) {
    eprintln!("{}: {}", program(), message.as_ref());
}

fn program() -> String {
    std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "peer".to_owned())
}

fn hex_field(value: &Value, what: &str) -> Result<Vec<u8>, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("{what}: expected a hex string, got {value}"))?;
    hex::decode(text).map_err(|e| format!("{what}: bad hex {text:?}: {e}"))
}

fn str_field<'a>(object: &'a Value, key: &str, what: &str) -> Result<&'a str, String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what}: missing string field {key:?}"))
}

fn key_field(object: &Value, key: &str) -> Result<[u8; 32], String> {
    let text = str_field(object, key, "mechanism")?;
    z85_codec::decode_key(text).map_err(|e| format!("mechanism: {key} is not a Z85 key: {e}"))
}

fn parse_mechanism(value: Option<&Value>) -> Result<Mechanism, String> {
    let Some(m) = value else {
        return Ok(Mechanism::Null);
    };
    let name = str_field(m, "name", "mechanism")?;
    let server = m.get("server").and_then(Value::as_bool).unwrap_or(false);
    match (name, server) {
        ("NULL", _) => Ok(Mechanism::Null),
        ("PLAIN", true) => {
            let users = match m.get("users") {
                None => Vec::new(),
                Some(Value::Object(map)) => map
                    .iter()
                    .map(|(name, pw)| {
                        pw.as_str()
                            .map(|p| (name.clone(), p.to_owned()))
                            .ok_or_else(|| format!("mechanism: password of {name:?} not a string"))
                    })
                    .collect::<Result<_, _>>()?,
                Some(other) => return Err(format!("mechanism: users must be an object: {other}")),
            };
            Ok(Mechanism::PlainServer { users })
        }
        ("PLAIN", false) => Ok(Mechanism::PlainClient {
            username: str_field(m, "username", "mechanism")?.to_owned(),
            password: str_field(m, "password", "mechanism")?.to_owned(),
        }),
        ("CURVE", true) => {
            let clients = match m.get("clients") {
                None | Some(Value::Null) => None,
                Some(Value::Array(keys)) => Some(
                    keys.iter()
                        .map(|k| {
                            let text = k.as_str().ok_or("mechanism: clients must be strings")?;
                            z85_codec::decode_key(text)
                                .map_err(|e| format!("mechanism: client key {text:?}: {e}"))
                        })
                        .collect::<Result<_, String>>()?,
                ),
                Some(other) => return Err(format!("mechanism: clients must be a list: {other}")),
            };
            Ok(Mechanism::CurveServer {
                secret_key: key_field(m, "secret_key")?,
                public_key: key_field(m, "public_key")?,
                clients,
            })
        }
        ("CURVE", false) => Ok(Mechanism::CurveClient {
            server_key: key_field(m, "server_key")?,
            secret_key: key_field(m, "secret_key")?,
            public_key: key_field(m, "public_key")?,
        }),
        (other, _) => Err(format!("mechanism: unknown name {other:?}")),
    }
}

fn parse_op(step: &Value) -> Result<Op, String> {
    let op = str_field(step, "op", "script")?;
    let count = step.get("count").and_then(Value::as_u64).unwrap_or(1);
    match op {
        "send" => {
            let frames = step
                .get("frames")
                .and_then(Value::as_array)
                .ok_or("script: send without frames")?;
            let frames = frames
                .iter()
                .map(|f| hex_field(f, "send frame"))
                .collect::<Result<Vec<_>, _>>()?;
            if frames.is_empty() {
                return Err("script: send of a message with no frames".into());
            }
            Ok(Op::Send(frames))
        }
        "recv" => Ok(Op::Recv {
            count,
            skip: match step.get("skip") {
                None | Some(Value::Null) => None,
                Some(v) => Some(hex_field(v, "recv skip")?),
            },
        }),
        "echo" => Ok(Op::Echo { count }),
        "sleep" => Ok(Op::Sleep(Duration::from_millis(
            step.get("ms").and_then(Value::as_u64).unwrap_or(0),
        ))),
        other => Err(format!("script: unknown op {other:?}")),
    }
}

fn parse_config(doc: &Value) -> Result<Config, String> {
    let socket_type = str_field(doc, "type", "config")?.to_ascii_uppercase();
    let attach = match (doc.get("bind"), doc.get("connect")) {
        (Some(b), None) => Attach::Bind(b.as_str().ok_or("config: bind not a string")?.into()),
        (None, Some(c)) => {
            Attach::Connect(c.as_str().ok_or("config: connect not a string")?.into())
        }
        _ => return Err("config: exactly one of bind and connect is required".into()),
    };
    let subscribe = match doc.get("subscribe") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|p| hex_field(p, "subscribe"))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("config: subscribe must be a list: {other}")),
    };
    let timeout = Duration::from_millis(
        doc.get("timeout_ms")
            .and_then(Value::as_u64)
            .unwrap_or(10_000),
    );
    let script = match doc.get("script") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(steps)) => steps.iter().map(parse_op).collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("config: script must be a list: {other}")),
    };
    Ok(Config {
        socket_type,
        attach,
        mechanism: parse_mechanism(doc.get("mechanism"))?,
        subscribe,
        timeout,
        script,
    })
}

/// Reads the one configuration document from stdin (an error line and exit if it is bad) and
/// starts the watchdog.
pub fn read_config() -> Config {
    let mut text = String::new();
    if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
        fail(format!("config: reading stdin: {e}"));
    }
    let doc: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| fail(format!("config: not JSON: {e}")));
    let config = parse_config(&doc).unwrap_or_else(|e| fail(e));
    start_watchdog(&config);
    config
}

/// A last resort against a stack that blocks without yielding (every wait of ours is already
/// bounded): the process reports and exits once every wait of the script could have timed
/// out, plus the sleeps and a margin for the close.
fn start_watchdog(config: &Config) {
    let waits: u64 = 2 + config
        .script
        .iter()
        .map(|op| match op {
            Op::Send(_) => 1,
            Op::Recv { count, .. } => *count,
            Op::Echo { count } => 2 * *count,
            Op::Sleep(_) => 0,
        })
        .sum::<u64>();
    let sleeps: Duration = config
        .script
        .iter()
        .map(|op| match op {
            Op::Sleep(d) => *d,
            _ => Duration::ZERO,
        })
        .sum();
    let waits = u32::try_from(waits).unwrap_or(u32::MAX);
    let budget = config
        .timeout
        .saturating_mul(waits)
        .saturating_add(sleeps)
        .saturating_add(Duration::from_secs(5));
    std::thread::spawn(move || {
        std::thread::sleep(budget);
        fail(format!(
            "watchdog: the peer was still running after {} ms",
            budget.as_millis()
        ));
    });
}

/// One socket of a stack, as the script runner drives it.
pub trait Endpoint {
    /// Sends one message; may wait (the runner bounds the wait).
    fn send(&mut self, frames: Vec<Vec<u8>>) -> impl Future<Output = Result<(), String>>;
    /// Receives one message; an error that leaves the socket usable (a peer went away) is
    /// retried by the runner until its deadline.
    fn recv(&mut self) -> impl Future<Output = Result<Vec<Vec<u8>>, String>>;
}

/// How long any wait may take, as text for error lines.
fn ms(d: Duration) -> u128 {
    d.as_millis()
}

async fn send_bounded<E: Endpoint>(
    endpoint: &mut E,
    frames: Vec<Vec<u8>>,
    timeout: Duration,
) -> Result<(), String> {
    match tokio::time::timeout(timeout, endpoint.send(frames)).await {
        Ok(result) => result.map_err(|e| format!("send: {e}")),
        Err(_) => Err(format!("send: not accepted within {} ms", ms(timeout))),
    }
}

/// One message whose first frame does not start with `skip`, all within `timeout`.
async fn recv_bounded<E: Endpoint>(
    endpoint: &mut E,
    skip: Option<&[u8]>,
    timeout: Duration,
) -> Result<Vec<Vec<u8>>, String> {
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let outcome = tokio::time::timeout(left, endpoint.recv()).await;
        match outcome {
            Ok(Ok(frames)) => {
                let skipped = skip.is_some_and(|prefix| {
                    frames
                        .first()
                        .is_some_and(|first| first.starts_with(prefix))
                });
                if !skipped {
                    return Ok(frames);
                }
            }
            Ok(Err(e)) => {
                note(format!("recv: {e} (waiting on)"));
                last_error = Some(e);
                // The stack may report the same error at once again: do not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            let mut text = format!("recv: no message within {} ms", ms(timeout));
            if let Some(e) = last_error {
                text.push_str(&format!(" (last error: {e})"));
            }
            return Err(text);
        }
    }
}

fn report(frames: &[Vec<u8>]) {
    emit(json!({ "recv": frames.iter().map(hex::encode).collect::<Vec<_>>() }));
}

/// Runs the script; the first failure ends it.
pub async fn run_script<E: Endpoint>(endpoint: &mut E, config: &Config) -> Result<(), String> {
    for op in &config.script {
        match op {
            Op::Send(frames) => send_bounded(endpoint, frames.clone(), config.timeout).await?,
            Op::Recv { count, skip } => {
                for _ in 0..*count {
                    let frames = recv_bounded(endpoint, skip.as_deref(), config.timeout).await?;
                    report(&frames);
                }
            }
            Op::Echo { count } => {
                for _ in 0..*count {
                    let frames = recv_bounded(endpoint, None, config.timeout).await?;
                    report(&frames);
                    send_bounded(endpoint, frames, config.timeout).await?;
                }
            }
            Op::Sleep(d) => tokio::time::sleep(*d).await,
        }
    }
    Ok(())
}

/// Awaits a setup step (bind, connect, an option) for at most `timeout`.
pub async fn bounded<T, E: std::fmt::Display>(
    what: &str,
    timeout: Duration,
    future: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, future).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!(
            "{what}: did not complete within {} ms",
            ms(timeout)
        )),
    }
}
