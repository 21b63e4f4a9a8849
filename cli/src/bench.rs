//! `zmtp bench`: our sockets and libzmq side by side on loopback, in alternating runs.
//!
//! Each case runs `--runs` times for each implementation, ours then libzmq, alternating, and
//! reports the medians and the ratio ours/libzmq of the case's metric (for throughput and
//! handshakes a ratio above 1 means we are faster; for latency, below 1). The libzmq side is
//! linked in-process when the binary is built with `--features libzmq`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use serde_json::json;
use zmtp::mechanisms::{CurveClientConfig, CurveKeyPair, CurveServerConfig};
use zmtp::{Socket, SocketOptions, SocketType};

use crate::common::Failure;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    cargo run --release -p zmtp-cli --features libzmq -- bench\n  \
    zmtp bench --quick --json\n  \
    zmtp bench --fanout --quick\n\n\
    Cases: PUSH/PULL throughput at 64 B, 1 KiB, 64 KiB, 1 MiB; REQ/REP round trip (64 B); CURVE \
    handshakes per second; each with NULL and CURVE. Ratios are ours/libzmq. With \
    --processes the round trips come with a floor: the same payload written to the other \
    process and read back over plain TCP with blocking calls, no ZMTP (two wake-ups of a \
    sleeping process per round trip, which an implementation that does not spin pays too).\n\n\
    --fanout instead publishes 64 B messages to 1, 10 and 100 subscribers, all in one other \
    process (CURVE 500000, 150000 and 15000 messages, group keys 20000, 5000 and 1000; a fifth \
    with --quick), and reports the publisher process's CPU time (user+system) per message, the \
    wall time and the fraction delivered, for a CURVE server PUB and for a NULL PUB with group \
    keys (signed; its coordinator in the same process). Each case first publishes as many \
    messages again (at most 5000) unmeasured, until every subscriber has them, so that queues \
    and write buffers are at their working size. The idle column is what the process spends \
    per second before publishing, keeping its connections (and coordinator) alive.")]
pub struct BenchArgs {
    /// Runs per implementation and case (medians are reported).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub runs: usize,
    /// Bytes moved per throughput run.
    #[arg(long, default_value_t = 64 << 20, value_name = "BYTES")]
    pub bytes: usize,
    /// A short pass (for smoke tests): 1 run, 4 MiB, few round trips and handshakes.
    #[arg(long)]
    pub quick: bool,
    /// Print the table as JSON.
    #[arg(long)]
    pub json: bool,
    /// The tokio runtime our sockets run on: one thread for both peers (`current`), or a
    /// pool of two worker threads (`multi`). The default is `multi` for the in-process cases,
    /// and `current` for --fanout, whose publisher and subscribers are two processes sharing
    /// the machine (as with --processes, where each process runs a current-thread runtime).
    #[arg(long, value_enum)]
    pub runtime: Option<Layout>,
    /// Run each side of every case in its own process (as deployed), libzmq's too; our side
    /// then runs on a current-thread runtime in each process.
    #[arg(long)]
    pub processes: bool,
    /// Run only the cases whose name (e.g. "PUSH/PULL 64 B NULL", or with --fanout
    /// "fan-out group 100") contains this text.
    #[arg(long, value_name = "TEXT")]
    pub only: Option<String>,
    /// Run only the fan-out cases: one PUB's CPU time per message for 1, 10 and 100
    /// subscribers (in another process), CURVE (encrypted once per connection) against group
    /// keys (sealed and signed once for all), each the run of median CPU time of --runs. No
    /// libzmq involved; --bytes and --processes do not apply; --runtime lays out the
    /// publisher's runtime.
    #[arg(long, conflicts_with_all = ["processes", "bytes"])]
    pub fanout: bool,
}

/// How our side's runtime is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// Both peers on one current-thread runtime.
    Current,
    /// Both peers on one multi-thread runtime with two workers, the case's own code a task on
    /// them as an application's would be (see [`run_on`]).
    Multi,
}

/// A runtime laid out as asked.
pub(crate) fn runtime(layout: Layout) -> Result<tokio::runtime::Runtime, Failure> {
    match layout {
        Layout::Current => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Layout::Multi => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
    }
    .map_err(|e| Failure::other(format!("cannot start runtime: {e}")))
}

/// Runs `work` to its end on a runtime of its own, laid out as asked, on a thread of its own
/// (the caller only waits). On the multi-thread runtime `work` is a task, as an application's
/// work is: `block_on`'s own thread is not one of the runtime's workers, and every time `work`
/// waited there, waking it again cost a thread wake-up (a REQ/REP round trip measured 85-100 us
/// that way, against 9 us as a task; a fan-out publisher 26 us per message at one subscriber).
pub(crate) fn run_on<T, F>(layout: Layout, work: F) -> Result<T, Failure>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, Failure>> + Send + 'static,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let rt = runtime(layout)?;
                match layout {
                    Layout::Current => rt.block_on(work),
                    Layout::Multi => rt.block_on(async move {
                        tokio::spawn(work)
                            .await
                            .unwrap_or_else(|_| Err(Failure::other("benchmark task panicked")))
                    }),
                }
            })
            .join()
            .unwrap_or_else(|_| Err(Failure::other("benchmark thread panicked")))
    })
}

/// Runs one case of ours on a runtime of its own, laid out as asked.
fn run_ours(
    layout: Layout,
    case: Case,
    security: Security,
    plan: &Plan,
    keys: &(CurveKeyPair, CurveKeyPair),
) -> Result<f64, Failure> {
    let (plan, keys) = (*plan, keys.clone());
    run_on(
        layout,
        async move { ours(case, security, &plan, &keys).await },
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Security {
    Null,
    Curve,
}

impl Security {
    fn name(self) -> &'static str {
        match self {
            Security::Null => "NULL",
            Security::Curve => "CURVE",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Case {
    Throughput { size: usize },
    Latency { size: usize },
    Handshakes,
}

impl Case {
    fn label(self) -> String {
        match self {
            Case::Throughput { size } => format!("PUSH/PULL {}", human(size)),
            Case::Latency { size } => format!("REQ/REP round trip {}", human(size)),
            Case::Handshakes => "handshakes".into(),
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Case::Throughput { .. } => "MB/s",
            Case::Latency { .. } => "us",
            Case::Handshakes => "per s",
        }
    }
}

fn human(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

#[derive(Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) runs: usize,
    pub(crate) bytes: usize,
    pub(crate) round_trips: usize,
    pub(crate) handshakes: usize,
}

fn fail(what: &str) -> impl Fn(zmtp::SocketError) -> Failure + '_ {
    move |e| Failure::other(format!("{what}: {e}"))
}

pub(crate) fn our_options(
    security: Security,
    keys: &(CurveKeyPair, CurveKeyPair),
    server: bool,
) -> SocketOptions {
    let mut o = SocketOptions {
        sndhwm: 10_000,
        rcvhwm: 10_000,
        ..Default::default()
    };
    if security == Security::Curve {
        o.mechanism = if server {
            Arc::new(CurveServerConfig::new(keys.0.secret.clone()))
        } else {
            Arc::new(CurveClientConfig::new(keys.1.secret.clone(), keys.0.public))
        };
    }
    o
}

async fn ours(
    case: Case,
    security: Security,
    plan: &Plan,
    keys: &(CurveKeyPair, CurveKeyPair),
) -> Result<f64, Failure> {
    match case {
        Case::Throughput { size } => {
            let pull = Socket::with_options(SocketType::Pull, our_options(security, keys, true));
            let ep = pull.bind("tcp://127.0.0.1:*").await.map_err(fail("bind"))?;
            let push = Socket::with_options(SocketType::Push, our_options(security, keys, false));
            push.connect(&ep).await.map_err(fail("connect"))?;
            push.wait_for_peers(1, Duration::from_secs(10))
                .await
                .map_err(fail("handshake"))?;
            let count = (plan.bytes / size).max(1);
            let payload = Bytes::from(vec![0xABu8; size]);
            let start = Instant::now();
            let sender = async {
                for _ in 0..count {
                    push.send(payload.clone()).await?;
                }
                Ok::<_, zmtp::SocketError>(())
            };
            // The receiver is a task of its own, as an application's would be: on a
            // multi-thread runtime it runs on a worker, beside the sender.
            let pull = Arc::new(pull);
            let puller = pull.clone();
            let receiver = tokio::spawn(async move {
                for _ in 0..count {
                    puller.recv().await?;
                }
                Ok::<_, zmtp::SocketError>(())
            });
            let receiver = async {
                receiver
                    .await
                    .unwrap_or_else(|_| Err(zmtp::SocketError::Closed))
            };
            let (a, b) = tokio::join!(sender, receiver);
            a.map_err(fail("send"))?;
            b.map_err(fail("recv"))?;
            Ok((count * size) as f64 / start.elapsed().as_secs_f64() / 1e6)
        }
        Case::Latency { size } => {
            let rep = Socket::with_options(SocketType::Rep, our_options(security, keys, true));
            let ep = rep.bind("tcp://127.0.0.1:*").await.map_err(fail("bind"))?;
            let req = Socket::with_options(SocketType::Req, our_options(security, keys, false));
            req.connect(&ep).await.map_err(fail("connect"))?;
            req.wait_for_peers(1, Duration::from_secs(10))
                .await
                .map_err(fail("handshake"))?;
            let payload = Bytes::from(vec![1u8; size]);
            let server = async {
                for _ in 0..plan.round_trips {
                    let m = rep.recv().await?;
                    rep.send(m).await?;
                }
                Ok::<_, zmtp::SocketError>(())
            };
            let start = Instant::now();
            let client = async {
                for _ in 0..plan.round_trips {
                    req.send(payload.clone()).await?;
                    req.recv().await?;
                }
                Ok::<_, zmtp::SocketError>(())
            };
            let (a, b) = tokio::join!(client, server);
            a.map_err(fail("client"))?;
            b.map_err(fail("server"))?;
            Ok(start.elapsed().as_secs_f64() * 1e6 / plan.round_trips as f64)
        }
        Case::Handshakes => {
            let server =
                Socket::with_options(SocketType::Router, our_options(security, keys, true));
            let ep = server
                .bind("tcp://127.0.0.1:*")
                .await
                .map_err(fail("bind"))?;
            let start = Instant::now();
            for _ in 0..plan.handshakes {
                let client =
                    Socket::with_options(SocketType::Dealer, our_options(security, keys, false));
                client.connect(&ep).await.map_err(fail("connect"))?;
                client
                    .wait_for_peers(1, Duration::from_secs(10))
                    .await
                    .map_err(fail("handshake"))?;
                client.close(Duration::ZERO).await;
            }
            Ok(plan.handshakes as f64 / start.elapsed().as_secs_f64())
        }
    }
}

#[cfg(feature = "libzmq")]
mod reference {
    //! The same cases on libzmq, through the in-process bindings.

    use std::time::Instant;

    use libzmq_ffi::{Context, Event, SocketType};

    use super::{Case, Plan, Security};
    use crate::common::Failure;

    fn fail(what: &'static str) -> impl Fn(libzmq_ffi::ZmqError) -> Failure {
        move |e| Failure::other(format!("libzmq {what}: {e}"))
    }

    fn secure(
        sock: &libzmq_ffi::Socket,
        security: Security,
        keys: &([u8; 32], [u8; 32], [u8; 32], [u8; 32]),
        server: bool,
    ) -> Result<(), Failure> {
        if security == Security::Curve {
            let (server_public, server_secret, client_public, client_secret) = keys;
            if server {
                sock.set_curve_server(true).map_err(fail("option"))?;
                sock.set_curve_secretkey(server_secret)
                    .map_err(fail("option"))?;
            } else {
                sock.set_curve_serverkey(server_public)
                    .map_err(fail("option"))?;
                sock.set_curve_publickey(client_public)
                    .map_err(fail("option"))?;
                sock.set_curve_secretkey(client_secret)
                    .map_err(fail("option"))?;
            }
        }
        sock.set_sndhwm(10_000).map_err(fail("option"))?;
        sock.set_rcvhwm(10_000).map_err(fail("option"))?;
        Ok(())
    }

    pub(super) fn run(
        case: Case,
        security: Security,
        plan: &Plan,
        keys: &([u8; 32], [u8; 32], [u8; 32], [u8; 32]),
    ) -> Result<f64, Failure> {
        let ctx = Context::new().map_err(fail("context"))?;
        match case {
            Case::Throughput { size } => {
                let pull = ctx.socket(SocketType::Pull).map_err(fail("socket"))?;
                secure(&pull, security, keys, true)?;
                pull.bind("tcp://127.0.0.1:*").map_err(fail("bind"))?;
                let ep = pull.last_endpoint().map_err(fail("endpoint"))?;
                let push = ctx.socket(SocketType::Push).map_err(fail("socket"))?;
                secure(&push, security, keys, false)?;
                let monitor = push
                    .monitor(Event::HANDSHAKE_SUCCEEDED)
                    .map_err(fail("monitor"))?;
                push.connect(&ep).map_err(fail("connect"))?;
                monitor
                    .wait_for(Event::HANDSHAKE_SUCCEEDED, 10_000)
                    .ok_or_else(|| Failure::other("libzmq handshake timed out"))?;
                let count = (plan.bytes / size).max(1);
                let payload = vec![0xABu8; size];
                let start = Instant::now();
                std::thread::scope(|s| {
                    let payload = &payload;
                    // libzmq sockets may move between threads but not be shared.
                    // The socket comes back from the thread: dropping it there would close it
                    // with linger 0 and discard what is still queued.
                    let sender = s.spawn(move || {
                        for _ in 0..count {
                            push.send(payload)?;
                        }
                        Ok::<_, libzmq_ffi::ZmqError>(push)
                    });
                    for _ in 0..count {
                        pull.recv_multipart().map_err(fail("recv"))?;
                    }
                    sender
                        .join()
                        .map_err(|_| Failure::other("libzmq sender panicked"))?
                        .map_err(fail("send"))
                })?;
                Ok((count * size) as f64 / start.elapsed().as_secs_f64() / 1e6)
            }
            Case::Latency { size } => {
                let rep = ctx.socket(SocketType::Rep).map_err(fail("socket"))?;
                secure(&rep, security, keys, true)?;
                rep.bind("tcp://127.0.0.1:*").map_err(fail("bind"))?;
                let ep = rep.last_endpoint().map_err(fail("endpoint"))?;
                let req = ctx.socket(SocketType::Req).map_err(fail("socket"))?;
                secure(&req, security, keys, false)?;
                req.connect(&ep).map_err(fail("connect"))?;
                let payload = vec![1u8; size];
                // One warm-up exchange completes the handshake.
                req.send(&payload).map_err(fail("send"))?;
                let m = rep.recv_multipart().map_err(fail("recv"))?;
                rep.send_multipart(&m).map_err(fail("send"))?;
                req.recv_multipart().map_err(fail("recv"))?;
                let start = Instant::now();
                let round_trips = plan.round_trips;
                std::thread::scope(|s| {
                    let server = s.spawn(move || {
                        for _ in 0..round_trips {
                            let m = rep.recv_multipart()?;
                            rep.send_multipart(&m)?;
                        }
                        Ok::<_, libzmq_ffi::ZmqError>(())
                    });
                    for _ in 0..plan.round_trips {
                        req.send(&payload).map_err(fail("send"))?;
                        req.recv_multipart().map_err(fail("recv"))?;
                    }
                    server
                        .join()
                        .map_err(|_| Failure::other("libzmq server panicked"))?
                        .map_err(fail("server"))
                })?;
                Ok(start.elapsed().as_secs_f64() * 1e6 / plan.round_trips as f64)
            }
            Case::Handshakes => {
                let server = ctx.socket(SocketType::Router).map_err(fail("socket"))?;
                secure(&server, security, keys, true)?;
                server.bind("tcp://127.0.0.1:*").map_err(fail("bind"))?;
                let ep = server.last_endpoint().map_err(fail("endpoint"))?;
                let start = Instant::now();
                for _ in 0..plan.handshakes {
                    let client = ctx.socket(SocketType::Dealer).map_err(fail("socket"))?;
                    secure(&client, security, keys, false)?;
                    let monitor = client
                        .monitor(Event::HANDSHAKE_SUCCEEDED)
                        .map_err(fail("monitor"))?;
                    client.connect(&ep).map_err(fail("connect"))?;
                    monitor
                        .wait_for(Event::HANDSHAKE_SUCCEEDED, 10_000)
                        .ok_or_else(|| Failure::other("libzmq handshake timed out"))?;
                }
                Ok(plan.handshakes as f64 / start.elapsed().as_secs_f64())
            }
        }
    }
}

pub async fn run(args: BenchArgs) -> Result<(), Failure> {
    if args.fanout {
        let runs = if args.quick { 1 } else { args.runs.max(1) };
        return crate::fanout::run(
            args.quick,
            runs,
            args.json,
            args.only.as_deref(),
            args.runtime.unwrap_or(Layout::Current),
        );
    }
    let plan = if args.quick {
        Plan {
            runs: 1,
            bytes: 4 << 20,
            round_trips: 500,
            handshakes: 20,
        }
    } else {
        Plan {
            runs: args.runs.max(1),
            bytes: args.bytes.max(1 << 20),
            round_trips: 10_000,
            handshakes: 200,
        }
    };
    let keys = (
        CurveKeyPair::generate().map_err(|e| Failure::other(e.to_string()))?,
        CurveKeyPair::generate().map_err(|e| Failure::other(e.to_string()))?,
    );
    #[cfg(feature = "libzmq")]
    let raw_keys = (
        *keys.0.public.as_bytes(),
        *keys.0.secret.expose(),
        *keys.1.public.as_bytes(),
        *keys.1.secret.expose(),
    );
    let mut cases = Vec::new();
    for security in [Security::Null, Security::Curve] {
        for size in [64, 1 << 10, 64 << 10, 1 << 20] {
            cases.push((Case::Throughput { size }, security));
        }
        cases.push((Case::Latency { size: 64 }, security));
    }
    cases.push((Case::Handshakes, Security::Curve));
    let runtime = args.runtime.unwrap_or(Layout::Multi);
    let layout = match (args.processes, runtime) {
        (true, _) => "processes",
        (false, Layout::Current) => "one process, current-thread runtime",
        (false, Layout::Multi) => "one process, multi-thread runtime (2 workers)",
    };
    let mut rows = Vec::new();
    let mut round_trip_size = None;
    if !args.json {
        println!("layout: {layout}");
        println!(
            "{:<28} {:>6} {:>12} {:>12} {:>8}  unit",
            "case", "mech", "ours", "libzmq", "ratio"
        );
    }
    for (case, security) in cases {
        let name = format!("{} {}", case.label(), security.name());
        if args
            .only
            .as_ref()
            .is_some_and(|only| !name.contains(only.as_str()))
        {
            continue;
        }
        if let (Case::Latency { size }, true) = (case, args.processes) {
            round_trip_size = Some(size);
        }
        let mut our_runs = Vec::new();
        #[cfg_attr(not(feature = "libzmq"), allow(unused_mut))]
        let mut their_runs: Vec<f64> = Vec::new();
        for _ in 0..plan.runs {
            let (plan_ref, keys_ref) = (&plan, &keys);
            let r = tokio::task::block_in_place(|| {
                if args.processes {
                    crate::bench_peer::ours(case, security, plan_ref, keys_ref)
                } else {
                    run_ours(runtime, case, security, plan_ref, keys_ref)
                }
            })?;
            our_runs.push(r);
            #[cfg(feature = "libzmq")]
            if args.processes {
                let r = tokio::task::block_in_place(|| {
                    crate::bench_peer::reference::run(case, security, plan_ref, keys_ref)
                })?;
                their_runs.push(r);
            } else {
                let (plan_ref, keys_ref) = (&plan, &raw_keys);
                let r = tokio::task::block_in_place(|| {
                    reference::run(case, security, plan_ref, keys_ref)
                })?;
                their_runs.push(r);
            }
        }
        let our = median(our_runs);
        let their = (!their_runs.is_empty()).then(|| median(their_runs));
        let ratio = their.map(|t| our / t);
        if args.json {
            rows.push(json!({
                "case": case.label(), "mechanism": security.name(), "unit": case.unit(),
                "ours": our, "libzmq": their, "ratio": ratio, "runs": plan.runs,
            }));
        } else {
            let fmt = |v: Option<f64>, p: usize| {
                v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.p$}"))
            };
            println!(
                "{:<28} {:>6} {:>12} {:>12} {:>8}  {}",
                case.label(),
                security.name(),
                fmt(Some(our), 1),
                fmt(their, 1),
                fmt(ratio, 2),
                case.unit()
            );
        }
    }
    // What the machine allows a round trip between two processes, with no ZMTP at all.
    let floor = match round_trip_size {
        Some(size) => {
            let mut runs = Vec::with_capacity(plan.runs);
            for _ in 0..plan.runs {
                let (plan_ref, keys_ref) = (&plan, &keys);
                runs.push(tokio::task::block_in_place(|| {
                    crate::bench_peer::tcp_round_trip(size, plan_ref.round_trips, keys_ref)
                })?);
            }
            Some((size, median(runs)))
        }
        None => None,
    };
    if args.json {
        println!(
            "{}",
            json!({
                "runs": plan.runs, "libzmq": cfg!(feature = "libzmq"), "layout": layout,
                "results": rows,
                "tcp_round_trip_floor_us": floor.map(|(_, us)| us),
            })
        );
    } else if let Some((size, us)) = floor {
        println!(
            "floor: a plain TCP round trip of {} between two processes (blocking reads and \
             writes, no ZMTP): {us:.1} us",
            human(size)
        );
    }
    if !args.json && !cfg!(feature = "libzmq") {
        println!("(built without the libzmq column: cargo run --release -p zmtp-cli --features libzmq -- bench)");
    }
    Ok(())
}
