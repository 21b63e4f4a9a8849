//! `zmtp demo`: a CURVE ROUTER with ZAP admitting exactly one client key, that client (DEALER),
//! a short request/reply exchange, and an intruder with another key that gets refused. All in
//! one process on loopback; everything printed is observed, not scripted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use zmtp::core::{AuthReply, AuthRequest};
use zmtp::mechanisms::{CurveClientConfig, CurveKeyPair, CurvePublicKey, CurveServerConfig};
use zmtp::zap::{FnAuthenticator, ZapService};
use zmtp::{MonitorEvent, Socket, SocketEvent, SocketOptions, SocketType};

use crate::common::Failure;

const STEP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  zmtp demo\n  zmtp demo --json")]
pub struct DemoArgs {
    /// Print the same as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Request/reply round trips to run.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub messages: u32,
}

/// Collects what happened: printed at once as text, or kept for one JSON document.
struct Report {
    json: bool,
    start: Instant,
    steps: Vec<Value>,
}

impl Report {
    fn step(&mut self, who: &str, what: String, detail: Value) {
        let ms = self.start.elapsed().as_secs_f64() * 1000.0;
        if self.json {
            self.steps
                .push(json!({ "t_ms": (ms * 1000.0).round() / 1000.0, "who": who, "what": what, "detail": detail }));
        } else {
            println!("{ms:8.2} ms  {who:<9} {what}");
        }
    }
}

fn short(key: &CurvePublicKey) -> String {
    let z = key.to_z85();
    format!("{}…", &z[..8.min(z.len())])
}

async fn wait_event(
    rx: &mut mpsc::Receiver<SocketEvent>,
    wanted: &[MonitorEvent],
) -> Result<SocketEvent, Failure> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) if wanted.contains(&ev.event) => return Ok(ev),
            Ok(Some(_)) => {}
            Ok(None) => return Err(Failure::other("monitor closed")),
            Err(_) => return Err(Failure::timeout(format!("no {wanted:?} event in time"))),
        }
    }
}

fn curve_client(keys: &CurveKeyPair, server: &CurvePublicKey) -> SocketOptions {
    SocketOptions {
        mechanism: Arc::new(CurveClientConfig::new(keys.secret.clone(), *server)),
        ..Default::default()
    }
}

pub async fn run(args: DemoArgs) -> Result<(), Failure> {
    let mut report = Report {
        json: args.json,
        start: Instant::now(),
        steps: Vec::new(),
    };
    let keys = |what| CurveKeyPair::generate().map_err(|e| Failure::other(format!("{what}: {e}")));
    let server_keys = keys("server keys")?;
    let client_keys = keys("client keys")?;
    let intruder_keys = keys("intruder keys")?;
    report.step(
        "setup",
        format!(
            "generated CURVE keys: server {}, client {}, intruder {}",
            short(&server_keys.public),
            short(&client_keys.public),
            short(&intruder_keys.public)
        ),
        json!({
            "server_public": server_keys.public.to_z85(),
            "client_public": client_keys.public.to_z85(),
            "intruder_public": intruder_keys.public.to_z85(),
        }),
    );

    // The ZAP handler admits exactly the client's key, and logs every decision it makes.
    let allowed = *client_keys.public.as_bytes();
    let decisions: Arc<Mutex<Vec<(String, String, u16)>>> = Arc::default();
    let log = decisions.clone();
    let authenticator = FnAuthenticator(move |req: &AuthRequest| {
        let key = req
            .credentials
            .first()
            .and_then(|k| <[u8; 32]>::try_from(&k[..]).ok());
        let z85 = key
            .and_then(|k| CurvePublicKey::from_bytes(k).ok())
            .map(|k| k.to_z85())
            .unwrap_or_default();
        let reply = if key == Some(allowed) {
            AuthReply::allow("demo-client")
        } else {
            AuthReply::deny("client key not in the allow list")
        };
        log.lock().unwrap_or_else(|e| e.into_inner()).push((
            z85,
            req.address.clone(),
            reply.status.code(),
        ));
        Ok(reply)
    });
    // The handler runs as a ZAP service (an actor behind a bounded channel, like libzmq's
    // inproc://zeromq.zap.01), which any number of server sockets could share.
    let (zap, _zap_service) = ZapService::new().spawn(Arc::new(authenticator));
    let server = Socket::with_options(
        SocketType::Router,
        SocketOptions {
            mechanism: Arc::new(CurveServerConfig::new(server_keys.secret.clone())),
            zap_domain: Some("demo".into()),
            authenticator: Some(Arc::new(zap)),
            ..Default::default()
        },
    );
    let mut server_events = server.monitor(256);
    let endpoint = server
        .bind("tcp://127.0.0.1:*")
        .await
        .map_err(|e| Failure::other(format!("bind: {e}")))?;
    report.step(
        "server",
        format!("ROUTER listening on {endpoint} (CURVE server, ZAP domain \"demo\")"),
        json!({ "endpoint": endpoint }),
    );

    // The admitted client.
    let client = Socket::with_options(
        SocketType::Dealer,
        curve_client(&client_keys, &server_keys.public),
    );
    let mut client_events = client.monitor(256);
    let handshake_start = Instant::now();
    client
        .connect(&endpoint)
        .await
        .map_err(|e| Failure::other(format!("connect: {e}")))?;
    wait_event(&mut client_events, &[MonitorEvent::Connected]).await?;
    report.step("client", "DEALER connected over TCP".into(), json!({}));
    let ev = wait_event(
        &mut client_events,
        &[
            MonitorEvent::HandshakeSucceeded,
            MonitorEvent::HandshakeFailedAuth,
            MonitorEvent::HandshakeFailedProtocol,
        ],
    )
    .await?;
    if ev.event != MonitorEvent::HandshakeSucceeded {
        return Err(Failure::other(format!("client handshake failed: {ev:?}")));
    }
    let handshake_ms = handshake_start.elapsed().as_secs_f64() * 1000.0;
    wait_event(&mut server_events, &[MonitorEvent::HandshakeSucceeded]).await?;
    if let Some((key, address, status)) = decisions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .first()
        .cloned()
    {
        report.step(
            "zap",
            format!(
                "INITIATE vouched for key {}… from {address}: status {status}",
                &key[..8.min(key.len())]
            ),
            json!({ "client_key": key, "address": address, "status": status }),
        );
    }
    report.step(
        "client",
        format!("handshake complete (HELLO, WELCOME, INITIATE, READY) in {handshake_ms:.2} ms"),
        json!({ "handshake_ms": handshake_ms }),
    );

    // Request/reply.
    let mut round_trips = Vec::new();
    for i in 1..=args.messages {
        let request = format!("request {i}");
        let t = Instant::now();
        client
            .send(request.as_str())
            .await
            .map_err(|e| Failure::other(format!("send: {e}")))?;
        let msg = tokio::time::timeout(STEP_TIMEOUT, server.recv())
            .await
            .map_err(|_| Failure::timeout("server received nothing"))?
            .map_err(|e| Failure::other(e.to_string()))?;
        let parts = msg.parts().to_vec();
        let user = msg.property("User-Id").unwrap_or("").to_owned();
        let body = String::from_utf8_lossy(&parts[1]).into_owned();
        report.step(
            "server",
            format!(
                "received {body:?} from User-Id {user:?} (Socket-Type {})",
                msg.property("Socket-Type").unwrap_or("?")
            ),
            json!({ "frames": [body], "user_id": user }),
        );
        let reply = format!("reply {i}");
        server
            .send(vec![
                parts[0].clone(),
                Bytes::from(reply.clone().into_bytes()),
            ])
            .await
            .map_err(|e| Failure::other(format!("reply: {e}")))?;
        let got = tokio::time::timeout(STEP_TIMEOUT, client.recv())
            .await
            .map_err(|_| Failure::timeout("client received no reply"))?
            .map_err(|e| Failure::other(e.to_string()))?;
        let rtt = t.elapsed().as_secs_f64() * 1000.0;
        round_trips.push(rtt);
        report.step(
            "client",
            format!(
                "got {:?} ({rtt:.3} ms round trip, encrypted both ways)",
                String::from_utf8_lossy(&got.parts()[0])
            ),
            json!({ "frames": [String::from_utf8_lossy(&got.parts()[0])], "rtt_ms": rtt }),
        );
    }

    // The intruder: valid CURVE keys, knows the server key, but is not in the allow list.
    let intruder = Socket::with_options(
        SocketType::Dealer,
        curve_client(&intruder_keys, &server_keys.public),
    );
    let mut intruder_events = intruder.monitor(256);
    intruder
        .connect(&endpoint)
        .await
        .map_err(|e| Failure::other(format!("connect: {e}")))?;
    let ev = wait_event(
        &mut intruder_events,
        &[
            MonitorEvent::HandshakeFailedAuth,
            MonitorEvent::HandshakeSucceeded,
            MonitorEvent::HandshakeFailedProtocol,
        ],
    )
    .await?;
    if ev.event != MonitorEvent::HandshakeFailedAuth {
        return Err(Failure::other(format!(
            "the intruder was not refused: {ev:?}"
        )));
    }
    let reason = decisions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(_, _, status)| *status != 200)
        .map(|(key, _, status)| {
            format!(
                "ZAP answered {status} for key {}…: client key not in the allow list",
                &key[..8.min(key.len())]
            )
        })
        .unwrap_or_else(|| "no ZAP decision recorded".into());
    report.step(
        "intruder",
        format!(
            "refused: {} {} ({reason}); it will not retry with the same key",
            ev.event.name(),
            ev.value
        ),
        json!({ "event": ev.event.name(), "value": ev.value, "reason": reason }),
    );
    intruder.close(Duration::from_millis(100)).await;

    let total_ms = report.start.elapsed().as_secs_f64() * 1000.0;
    let mut sorted = round_trips.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    if args.json {
        println!(
            "{}",
            json!({
                "ok": true,
                "endpoint": endpoint,
                "steps": report.steps,
                "summary": {
                    "handshake_ms": handshake_ms,
                    "median_round_trip_ms": median,
                    "messages": args.messages,
                    "refused_clients": 1,
                    "total_ms": total_ms,
                }
            })
        );
    } else {
        println!(
            "summary: CURVE handshake {handshake_ms:.2} ms, {} round trips (median {median:.3} ms), 1 client refused, total {total_ms:.1} ms",
            args.messages
        );
    }
    client.close(Duration::from_millis(100)).await;
    server.close(Duration::from_millis(100)).await;
    Ok(())
}
