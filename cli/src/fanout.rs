//! `zmtp bench --fanout`: what one PUB pays per message as its audience grows, CURVE (each
//! message encrypted once per connection) against group keys (sealed once, the same ciphertext
//! to every subscriber).
//!
//! The publisher runs in the `zmtp bench` process, and for group keys its coordinator too; the
//! subscribers all run in one child process (`zmtp bench-fanout-peer`, hidden from the help),
//! so that the process CPU time measured here is the publisher's alone. The child reads its
//! keys from stdin (never its command line), says `ready` once every subscriber is connected
//! (and, for group keys, holds the key), counts what each subscriber opens, says `warm` once
//! every subscriber has the unmeasured warm-up messages published first, and reports `done`
//! with the totals once every subscriber has every message, or once the parent said `end` and
//! nothing more arrived for a moment. Its subscribers stay connected until that report is out,
//! so that the publisher's measured time holds no connection teardown.
//!
//! The PUB waits for a full subscriber (`ZMQ_XPUB_NODROP`) instead of dropping, so the
//! publisher goes at the pace of its slowest subscriber and nothing is lost to the high-water
//! mark; what was delivered is counted anyway and shown.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, ValueEnum};
use serde_json::json;
use tokio::sync::mpsc;
use zmtp::mechanisms::{CurveClientConfig, CurveKeyPair, CurvePublicKey, CurveServerConfig};
use zmtp::zap::Policy;
use zmtp::{Socket, SocketOptions, SocketType};
use zmtp_group::{
    Coordinator, CoordinatorConfig, GroupError, GroupPublisher, GroupSubscriber, Limits, Member,
    MemberConfig, SigningKey,
};

use crate::bench::{run_on, Layout};
use crate::common::Failure;

/// The audiences compared.
const AUDIENCES: [usize; 3] = [1, 10, 100];
/// Octets of application payload per message.
const PAYLOAD: usize = 64;
/// How long setup steps and the whole publishing of a case may take.
const TIMEOUT: Duration = Duration::from_secs(60);
/// How long the idle cost of a case's setup is measured, before its publishing.
const IDLE_WINDOW: Duration = Duration::from_millis(300);
/// Below this delivered fraction a row is flagged.
const LOW_DELIVERY: f64 = 0.9;
/// At most this many messages are published and delivered, unmeasured, before the measured
/// ones: enough for every subscriber's queue and write buffer to reach the size the run keeps
/// them at (a high-water mark's worth), so that what is measured is the steady cost of a
/// message and not the first touch of that memory.
const WARMUP_MAX: usize = 5_000;

/// How the publisher protects its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// A CURVE server PUB: every message encrypted once per subscriber connection.
    Curve,
    /// A NULL PUB with a group publisher: sealed (and signed) once for everyone.
    Group,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Curve => "curve",
            Mode::Group => "group",
        }
    }
}

/// Messages published per case, for about a second each in a release build: fewer for a larger
/// audience, and fewer with group keys, whose subscribers check a signature each (the
/// subscribers' process, not the publisher, sets the pace).
fn messages(mode: Mode, subscribers: usize, quick: bool) -> usize {
    let full = match (mode, subscribers) {
        (Mode::Curve, 0..=1) => 500_000,
        (Mode::Curve, 2..=10) => 150_000,
        (Mode::Curve, _) => 15_000,
        (Mode::Group, 0..=1) => 20_000,
        (Mode::Group, 2..=10) => 5_000,
        (Mode::Group, _) => 1_000,
    };
    if quick {
        full / 5
    } else {
        full
    }
}

/// The subscribers' side of one fan-out case (run by `zmtp bench --fanout`).
#[derive(Args, Debug, Clone)]
pub struct FanoutPeerArgs {
    #[arg(long, value_enum)]
    mode: Mode,
    #[arg(long)]
    subscribers: usize,
    #[arg(long)]
    messages: u64,
    /// Messages published before the measured ones; the child says `warm` once every
    /// subscriber has them.
    #[arg(long, default_value_t = 0)]
    warmup: u64,
    /// The PUB's endpoint.
    #[arg(long)]
    endpoint: String,
    /// The coordinator's endpoint (group mode).
    #[arg(long)]
    coordinator: Option<String>,
}

fn fail(what: &str) -> impl Fn(zmtp::SocketError) -> Failure + '_ {
    move |e| Failure::other(format!("{what}: {e}"))
}

fn group_fail(what: &str) -> impl Fn(GroupError) -> Failure + '_ {
    move |e| Failure::other(format!("{what}: {e}"))
}

fn io_fail(what: &str) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |e| Failure::other(format!("{what}: {e}"))
}

/// The process's CPU time so far (user and system, every thread).
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// What one case measured.
struct Outcome {
    mode: Mode,
    subscribers: usize,
    messages: usize,
    cpu: Duration,
    wall: Duration,
    delivered: u64,
    min_delivered: u64,
    refused: u64,
    /// CPU seconds per second while idle, before the publishing.
    idle: f64,
}

impl Outcome {
    fn cpu_us_per_msg(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.messages as f64
    }

    fn delivered_fraction(&self) -> f64 {
        self.delivered as f64 / (self.messages * self.subscribers) as f64
    }

    fn min_fraction(&self) -> f64 {
        self.min_delivered as f64 / self.messages as f64
    }
}

/// The parent's end of the subscribers' process: its stdin, and its stdout lines as they come.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    fn spawn(
        mode: Mode,
        subscribers: usize,
        messages: usize,
        warmup: usize,
        endpoint: &str,
        coordinator: Option<&str>,
        keys: &str,
    ) -> Result<Peer, Failure> {
        let exe = std::env::current_exe().map_err(io_fail("own executable"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("bench-fanout-peer")
            .arg("--mode")
            .arg(mode.name())
            .arg("--subscribers")
            .arg(subscribers.to_string())
            .arg("--messages")
            .arg(messages.to_string())
            .arg("--warmup")
            .arg(warmup.to_string())
            .arg("--endpoint")
            .arg(endpoint);
        if let Some(c) = coordinator {
            cmd.arg("--coordinator").arg(c);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(io_fail("start bench-fanout-peer"))?;
        let mut stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        // A few lines per case; the reader waits while the parent is behind.
        let (tx, lines) = mpsc::channel(16);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        stdin
            .write_all(keys.as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(io_fail("write keys"))?;
        Ok(Peer {
            child,
            stdin,
            lines,
        })
    }

    async fn line(&mut self) -> Result<String, Failure> {
        match tokio::time::timeout(TIMEOUT, self.lines.recv()).await {
            Ok(Some(line)) => Ok(line),
            Ok(None) => Err(Failure::other("bench-fanout-peer ended early")),
            Err(_) => Err(Failure::timeout("bench-fanout-peer said nothing in time")),
        }
    }

    /// Reads the next line, which must be `want`.
    async fn expect(&mut self, want: &str) -> Result<(), Failure> {
        let said = self.line().await?;
        if said == want {
            Ok(())
        } else {
            Err(Failure::other(format!(
                "bench-fanout-peer said {said:?}, not {want}"
            )))
        }
    }

    fn tell(&mut self, word: &str) -> Result<(), Failure> {
        self.stdin
            .write_all(format!("{word}\n").as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(io_fail("write bench-fanout-peer"))
    }

    async fn finish(mut self) -> Result<(), Failure> {
        let status = tokio::task::spawn_blocking(move || self.child.wait())
            .await
            .map_err(|e| Failure::other(e.to_string()))?
            .map_err(io_fail("wait bench-fanout-peer"))?;
        if status.success() {
            Ok(())
        } else {
            Err(Failure::other(format!(
                "bench-fanout-peer failed: {status}"
            )))
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // A child still running after a failure is not left behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The publisher's side, either kind.
enum Publisher {
    Curve(Socket),
    Group(Box<GroupPublisher>),
}

impl Publisher {
    fn socket(&self) -> &Socket {
        match self {
            Publisher::Curve(s) => s,
            Publisher::Group(p) => p.socket(),
        }
    }
}

fn pub_options() -> SocketOptions {
    SocketOptions {
        // Wait for a full subscriber rather than drop: the publisher goes at the pace of the
        // slowest one, and every message published is one delivered.
        xpub_nodrop: true,
        ..Default::default()
    }
}

/// Runs one case: sets it up, waits for every subscription, then times the publishing.
async fn case(mode: Mode, subscribers: usize, messages: usize) -> Result<Outcome, Failure> {
    let keygen = || CurveKeyPair::generate().map_err(|e| Failure::other(e.to_string()));
    let server = keygen()?;
    let members = (0..subscribers)
        .map(|_| keygen())
        .collect::<Result<Vec<_>, _>>()?;
    let mut keys = format!("{}\n", server.public.to_z85());
    for m in &members {
        keys.push_str(&m.secret.to_z85());
        keys.push('\n');
    }
    // The coordinator serves its members for the whole case, in this process.
    let mut coordinator = None;
    let publisher = match mode {
        Mode::Curve => {
            let socket = Socket::try_with_options(
                SocketType::Pub,
                SocketOptions {
                    mechanism: Arc::new(CurveServerConfig::new(server.secret.clone())),
                    ..pub_options()
                },
            )
            .map_err(fail("socket"))?;
            Publisher::Curve(socket)
        }
        Mode::Group => {
            let mut policy = Policy::new();
            for m in &members {
                policy = policy.curve_key("*", &m.public, Default::default());
            }
            let signer = SigningKey::generate(&mut rand_core::OsRng);
            let mut config = CoordinatorConfig::new(server.secret.clone(), Arc::new(policy));
            config.publishers = vec![signer.verifying_key()];
            let service = Coordinator::bind(config, "tcp://127.0.0.1:*")
                .await
                .map_err(group_fail("coordinator"))?;
            let socket =
                Socket::try_with_options(SocketType::Pub, pub_options()).map_err(fail("socket"))?;
            let publisher =
                GroupPublisher::new(socket, service.keys(), Some(signer), Limits::default());
            coordinator = Some(service);
            Publisher::Group(Box::new(publisher))
        }
    };
    let coordinator_endpoint = coordinator.as_ref().map(|c| c.endpoint().to_owned());
    let endpoint = publisher
        .socket()
        .bind("tcp://127.0.0.1:*")
        .await
        .map_err(fail("bind"))?;
    let warmup = messages.min(WARMUP_MAX);
    let mut peer = Peer::spawn(
        mode,
        subscribers,
        messages,
        warmup,
        &endpoint,
        coordinator_endpoint.as_deref(),
        &keys,
    )?;
    peer.expect("ready").await?;
    publisher
        .socket()
        .wait_for_subscribers(subscribers, b"", TIMEOUT)
        .await
        .map_err(fail("waiting for the subscriptions"))?;

    // What the publisher's process spends doing nothing but keep its connections (and, for
    // group keys, its coordinator) alive, for comparison.
    let idle_start = (process_cpu(), Instant::now());
    tokio::time::sleep(IDLE_WINDOW).await;
    let idle = (process_cpu().saturating_sub(idle_start.0)).as_secs_f64()
        / idle_start.1.elapsed().as_secs_f64();

    let payload = Bytes::from(vec![0xA5u8; PAYLOAD]);
    if warmup > 0 {
        publish(&publisher, &payload, warmup).await?;
        peer.expect("warm").await?;
    }
    let cpu_start = process_cpu();
    let start = Instant::now();
    publish(&publisher, &payload, messages).await?;
    peer.tell("end")?;
    let report = peer.line().await?;
    let cpu = process_cpu().saturating_sub(cpu_start);
    let elapsed = start.elapsed();
    let field = |name: &str| -> Result<u64, Failure> {
        report
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            .ok_or_else(|| Failure::other(format!("bench-fanout-peer said {report:?}")))
    };
    if !report.starts_with("done ") {
        return Err(Failure::other(format!("bench-fanout-peer said {report:?}")));
    }
    let outcome = Outcome {
        mode,
        subscribers,
        messages,
        cpu,
        // The child's quiet wait after the last message (when some went missing) is not the
        // publisher's time.
        wall: elapsed.saturating_sub(Duration::from_millis(field("idle_ms")?)),
        // The warm-up's messages are not counted.
        delivered: field("received")?.saturating_sub((warmup * subscribers) as u64),
        min_delivered: field("min")?.saturating_sub(warmup as u64),
        refused: field("refused")?,
        idle,
    };
    peer.finish().await?;
    drop(coordinator);
    Ok(outcome)
}

/// Publishes `n` messages of `payload`, within the case's time limit.
async fn publish(publisher: &Publisher, payload: &Bytes, n: usize) -> Result<(), Failure> {
    let parts = [payload.clone()];
    let publishing = async {
        for _ in 0..n {
            match publisher {
                Publisher::Curve(s) => s.send(payload.clone()).await.map_err(fail("send"))?,
                Publisher::Group(p) => p
                    .publish(b"", &parts)
                    .await
                    .map_err(group_fail("publish"))?,
            }
        }
        Ok::<_, Failure>(())
    };
    tokio::time::timeout(TIMEOUT, publishing)
        .await
        .map_err(|_| Failure::timeout("publishing did not finish in time"))?
}

/// A JSON object with its fields in the order given (the first ones are what readers look for).
fn ordered(fields: &[(&str, serde_json::Value)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {v}", serde_json::Value::from(*k)))
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// `zmtp bench --fanout`: every (audience, mode) case, as a table or one JSON document.
/// Runs the fan-out cases, the publisher on a runtime of its own laid out as asked (see
/// [`run_on`]).
pub fn run(
    quick: bool,
    runs: usize,
    json_out: bool,
    only: Option<&str>,
    layout: Layout,
) -> Result<(), Failure> {
    let only = only.map(str::to_owned);
    run_on(layout, async move {
        run_cases(quick, runs, json_out, only.as_deref(), layout).await
    })
}

async fn run_cases(
    quick: bool,
    runs: usize,
    json_out: bool,
    only: Option<&str>,
    layout: Layout,
) -> Result<(), Failure> {
    let layout_name = match layout {
        Layout::Current => "current",
        Layout::Multi => "multi",
    };
    if !json_out {
        println!(
            "fan-out: one PUB, {PAYLOAD} B messages, its subscribers in another process; \
             publisher CPU (user+system) per message, the median of {runs} run(s); publisher \
             runtime: {layout_name}"
        );
        println!(
            "{:<6} {:>11} {:>9} {:>12} {:>8} {:>10} {:>14}",
            "mode", "subscribers", "messages", "cpu us/msg", "wall s", "delivered", "idle cpu ms/s"
        );
    }
    let mut rows = Vec::new();
    for subscribers in AUDIENCES {
        for mode in [Mode::Group, Mode::Curve] {
            let name = format!("fan-out {} {subscribers}", mode.name());
            if only.is_some_and(|o| !name.contains(o)) {
                continue;
            }
            // The run of median CPU time stands for the case, all its columns with it: on a
            // shared machine single runs of the same case differ by half.
            let mut outcomes = Vec::with_capacity(runs);
            for _ in 0..runs {
                outcomes.push(case(mode, subscribers, messages(mode, subscribers, quick)).await?);
            }
            outcomes.sort_by(|a, b| a.cpu_us_per_msg().total_cmp(&b.cpu_us_per_msg()));
            let o = outcomes.swap_remove(outcomes.len() / 2);
            if json_out {
                rows.push(ordered(&[
                    ("case", json!("fan-out")),
                    ("mode", json!(o.mode.name())),
                    ("subscribers", json!(o.subscribers)),
                    ("publisher_cpu_us_per_msg", json!(o.cpu_us_per_msg())),
                    ("messages", json!(o.messages)),
                    ("payload_bytes", json!(PAYLOAD)),
                    ("signed", json!(o.mode == Mode::Group)),
                    ("runtime", json!(layout_name)),
                    ("runs", json!(runs)),
                    ("publisher_cpu_s", json!(o.cpu.as_secs_f64())),
                    ("publisher_idle_cpu_ms_per_s", json!(o.idle * 1e3)),
                    ("wall_s", json!(o.wall.as_secs_f64())),
                    ("delivered_fraction", json!(o.delivered_fraction())),
                    ("min_delivered_fraction", json!(o.min_fraction())),
                    ("refused", json!(o.refused)),
                ]));
            } else {
                let mut flag = String::new();
                if o.min_fraction() < LOW_DELIVERY {
                    flag = format!(
                        "  LOW: a subscriber got {:.1}% of the messages",
                        o.min_fraction() * 100.0
                    );
                }
                if o.refused > 0 {
                    flag.push_str(&format!("  ({} refused)", o.refused));
                }
                println!(
                    "{:<6} {:>11} {:>9} {:>12.2} {:>8.2} {:>9.1}% {:>14.2}{flag}",
                    o.mode.name(),
                    o.subscribers,
                    o.messages,
                    o.cpu_us_per_msg(),
                    o.wall.as_secs_f64(),
                    o.delivered_fraction() * 100.0,
                    o.idle * 1e3,
                );
            }
        }
    }
    if json_out {
        println!("{{\"results\": [{}]}}", rows.join(", "));
    }
    Ok(())
}

// ---- the subscribers' process ----

fn say(line: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(io_fail("write stdout"))
}

/// Per subscriber: messages opened, and refused.
#[derive(Default)]
struct Counts {
    received: AtomicU64,
    refused: AtomicU64,
}

/// One subscriber socket, connected and (for group keys) keyed, ready to count.
enum Subscriber {
    Curve(Socket),
    Group(GroupSubscriber),
}

async fn subscriber(
    args: &FanoutPeerArgs,
    server: CurvePublicKey,
    secret: zmtp::mechanisms::CurveSecretKey,
) -> Result<Subscriber, Failure> {
    match args.mode {
        Mode::Curve => {
            let sub = Socket::try_with_options(
                SocketType::Sub,
                SocketOptions {
                    mechanism: Arc::new(CurveClientConfig::new(secret, server)),
                    ..Default::default()
                },
            )
            .map_err(fail("socket"))?;
            sub.subscribe(Bytes::new()).map_err(fail("subscribe"))?;
            sub.connect(&args.endpoint).await.map_err(fail("connect"))?;
            sub.wait_for_peers(1, TIMEOUT)
                .await
                .map_err(fail("handshake"))?;
            Ok(Subscriber::Curve(sub))
        }
        Mode::Group => {
            let coordinator = args
                .coordinator
                .as_deref()
                .ok_or_else(|| Failure::usage("group mode needs --coordinator"))?;
            let member = Member::connect(coordinator, MemberConfig::new(secret, server))
                .await
                .map_err(group_fail("member"))?;
            member
                .wait_for_key(TIMEOUT)
                .await
                .map_err(group_fail("group key"))?;
            let sub = Socket::new(SocketType::Sub);
            sub.subscribe(Bytes::new()).map_err(fail("subscribe"))?;
            sub.connect(&args.endpoint).await.map_err(fail("connect"))?;
            sub.wait_for_peers(1, TIMEOUT)
                .await
                .map_err(fail("handshake"))?;
            Ok(Subscriber::Group(GroupSubscriber::new(sub, member)))
        }
    }
}

/// Counts until `want` messages are in, or the socket fails. Hands the subscriber back, still
/// connected: closing it here would put the publisher's work of tearing the connection down
/// into the time measured for publishing.
async fn count(
    sub: Subscriber,
    want: u64,
    counts: Arc<Counts>,
    last: Arc<AtomicU64>,
    t0: Instant,
) -> Subscriber {
    let mark = || last.store(t0.elapsed().as_millis() as u64, Ordering::Relaxed);
    while counts.received.load(Ordering::Relaxed) < want {
        match &sub {
            Subscriber::Curve(s) => match s.recv().await {
                Ok(_) => {
                    counts.received.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => break,
            },
            Subscriber::Group(s) => match s.recv().await {
                Ok(_) => {
                    counts.received.fetch_add(1, Ordering::Relaxed);
                }
                Err(GroupError::Socket(_) | GroupError::Closed) => break,
                Err(_) => {
                    counts.refused.fetch_add(1, Ordering::Relaxed);
                }
            },
        }
        mark();
    }
    sub
}

/// The child: N subscribers on a small runtime of its own.
pub fn peer(args: FanoutPeerArgs) -> Result<(), Failure> {
    let mut stdin = std::io::stdin().lock();
    let mut read = || -> Result<String, Failure> {
        let mut line = String::new();
        stdin.read_line(&mut line).map_err(io_fail("read keys"))?;
        Ok(line.trim().to_owned())
    };
    let server = crate::common::parse_public_key(&read()?).map_err(Failure::usage)?;
    let secrets = (0..args.subscribers)
        .map(|_| crate::common::parse_secret_key(&read()?).map_err(Failure::usage))
        .collect::<Result<Vec<_>, _>>()?;
    drop(stdin);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::other(format!("cannot start runtime: {e}")))?;
    runtime.block_on(async {
        let mut subscribers = tokio::task::JoinSet::new();
        for secret in secrets {
            let args = args.clone();
            subscribers.spawn(async move { subscriber(&args, server, secret).await });
        }
        let mut ready = Vec::new();
        while let Some(r) = subscribers.join_next().await {
            ready.push(r.map_err(|e| Failure::other(e.to_string()))??);
        }
        // The parent's `end`, read on a thread of its own.
        let (end_tx, mut end) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            let _ = end_tx.send(());
        });
        let t0 = Instant::now();
        let last = Arc::new(AtomicU64::new(0));
        let counts: Vec<Arc<Counts>> = (0..ready.len()).map(|_| Arc::default()).collect();
        let mut counting = tokio::task::JoinSet::new();
        for (sub, c) in ready.into_iter().zip(&counts) {
            counting.spawn(count(
                sub,
                args.warmup + args.messages,
                c.clone(),
                last.clone(),
                t0,
            ));
        }
        say("ready")?;
        let mut ended = false;
        let mut warm = args.warmup == 0;
        // The subscribers that have every message, kept connected until the report is out.
        let mut finished = Vec::with_capacity(counts.len());
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tokio::select! {
                done = counting.join_next() => match done {
                    Some(Ok(sub)) => finished.push(sub),
                    Some(Err(e)) => return Err(Failure::other(e.to_string())),
                    None => break,
                },
                _ = &mut end, if !ended => ended = true,
                _ = tick.tick() => {
                    if !warm
                        && counts
                            .iter()
                            .all(|c| c.received.load(Ordering::Relaxed) >= args.warmup)
                    {
                        warm = true;
                        say("warm")?;
                    }
                    // Once the publisher is done, a quiet half second means nothing more comes.
                    let idle = t0.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed);
                    if ended && idle >= 500 {
                        break;
                    }
                }
            }
        }
        let idle = if counting.is_empty() {
            0
        } else {
            t0.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed)
        };
        let received: Vec<u64> = counts
            .iter()
            .map(|c| c.received.load(Ordering::Relaxed))
            .collect();
        let refused: u64 = counts
            .iter()
            .map(|c| c.refused.load(Ordering::Relaxed))
            .sum();
        say(&format!(
            "done received={} min={} refused={refused} idle_ms={idle}",
            received.iter().sum::<u64>(),
            received.iter().min().copied().unwrap_or(0),
        ))?;
        counting.abort_all();
        drop(finished);
        Ok(())
    })
}
