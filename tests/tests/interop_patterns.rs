//! Every compatible socket pair against an in-process libzmq 4.3.5 (`libzmq-ffi`): REQ/REP,
//! REQ/ROUTER, DEALER/REP, DEALER/ROUTER, PUB/SUB, XPUB/XSUB, PUB/XSUB, XPUB/SUB, PUSH/PULL and
//! PAIR/PAIR, with our socket in either role.
//!
//! One `#[test]` per (pair, roles, mechanism) runs four cases: tcp and ipc, our side binding and
//! our side connecting. Under CURVE the binding side is the server, so each pair meets both our
//! CURVE server and our CURVE client. Each role is one script written against [`Side`], played by
//! our socket and by libzmq's alike, so both directions check the same frames and envelopes.
//! Two chains (REQ → ROUTER/DEALER proxy → REP) mix our sockets and libzmq's over two hops.
//!
//! Every send and receive is bounded (`STEP`: our `sndtimeo`/`rcvtimeo`, libzmq's
//! `ZMQ_SNDTIMEO`/`ZMQ_RCVTIMEO`), and so is each case as a whole (`CASE_LIMIT`).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libzmq_ffi as lz;
use zmtp::core::MechanismConfig;
use zmtp::mechanisms::{CurveClientConfig, CurvePublicKey, CurveSecretKey, CurveServerConfig};
use zmtp::{Socket, SocketOptions, SocketType};

/// The bound on any one send or receive, on either side.
const STEP: Duration = Duration::from_secs(3);
const STEP_MS: i32 = 3_000;
/// The bound on one whole case (both scripts).
const CASE_LIMIT: Duration = Duration::from_secs(10);
/// Request/reply rounds per case.
const ROUNDS: u8 = 2;
/// The routing id every REQ client announces, so that a ROUTER can check it.
const REQ_ID: &[u8] = b"req-client";
const TOPIC: &[u8] = b"topic";
const TOPIC_END: &[u8] = b"topic.end";

/// A part longer than 255 bytes: sent in a long frame.
fn long_part() -> Vec<u8> {
    (0..300u16).map(|i| i as u8).collect()
}

fn msg(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// Frames for failure messages: escaped, long ones by length only.
fn show(parts: &[Vec<u8>]) -> String {
    let shown: Vec<String> = parts
        .iter()
        .map(|p| match p.len() {
            0..=40 => format!("\"{}\"", p.escape_ascii()),
            n => format!("<{n} bytes>"),
        })
        .collect();
    format!("[{}]", shown.join(", "))
}

// ---------------------------------------------------------------------------------------------
// Roles and the frames they exchange.

/// A socket type in a pattern. PAIR has two roles: the side that speaks first and the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Req,
    Rep,
    Dealer,
    Router,
    Pub,
    Sub,
    Xpub,
    Xsub,
    Push,
    Pull,
    PairPing,
    PairPong,
}

impl Role {
    fn ours(self) -> SocketType {
        match self {
            Role::Req => SocketType::Req,
            Role::Rep => SocketType::Rep,
            Role::Dealer => SocketType::Dealer,
            Role::Router => SocketType::Router,
            Role::Pub => SocketType::Pub,
            Role::Sub => SocketType::Sub,
            Role::Xpub => SocketType::Xpub,
            Role::Xsub => SocketType::Xsub,
            Role::Push => SocketType::Push,
            Role::Pull => SocketType::Pull,
            Role::PairPing | Role::PairPong => SocketType::Pair,
        }
    }

    fn libzmq(self) -> lz::SocketType {
        match self {
            Role::Req => lz::SocketType::Req,
            Role::Rep => lz::SocketType::Rep,
            Role::Dealer => lz::SocketType::Dealer,
            Role::Router => lz::SocketType::Router,
            Role::Pub => lz::SocketType::Pub,
            Role::Sub => lz::SocketType::Sub,
            Role::Xpub => lz::SocketType::Xpub,
            Role::Xsub => lz::SocketType::Xsub,
            Role::Push => lz::SocketType::Push,
            Role::Pull => lz::SocketType::Pull,
            Role::PairPing | Role::PairPong => lz::SocketType::Pair,
        }
    }

    /// The ZMTP name, as in the "Socket-Type" property.
    fn name(self) -> &'static str {
        self.libzmq().name()
    }

    /// The name in case labels: PAIR says which of its two roles it plays.
    fn title(self) -> &'static str {
        match self {
            Role::PairPing => "PAIR speaking first",
            Role::PairPong => "PAIR answering",
            _ => self.name(),
        }
    }
}

/// What a client's application sends in round `i`, and what it must get back.
fn client_frames(client: Role, server: Role, i: u8) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    match (client, server) {
        (Role::Req, _) => (msg(&[b"request", &[i]]), msg(&[b"reply", &[i]])),
        // A DEALER speaking to REP writes the envelope itself; REP must hand it back whole.
        (Role::Dealer, Role::Rep) => (
            msg(&[b"hop-1", b"", b"request", &[i]]),
            msg(&[b"hop-1", b"", b"reply", &[i]]),
        ),
        (Role::Dealer, _) => (
            msg(&[b"request", b"", &[i], &long_part()]),
            msg(&[b"reply", b"", &[i], &long_part()]),
        ),
        _ => unreachable!("{client:?} is no client"),
    }
}

/// What a server's application receives in round `i` (after the routing id, for ROUTER) and
/// what it answers.
fn server_frames(client: Role, server: Role, i: u8) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    match (client, server) {
        // REP strips the envelope, whoever wrote it.
        (_, Role::Rep) => (msg(&[b"request", &[i]]), msg(&[b"reply", &[i]])),
        // ROUTER shows REQ's empty delimiter.
        (Role::Req, Role::Router) => (msg(&[b"", b"request", &[i]]), msg(&[b"", b"reply", &[i]])),
        (Role::Dealer, Role::Router) => client_frames(client, server, i),
        _ => unreachable!("{server:?} is no server for {client:?}"),
    }
}

fn job(i: u8) -> Vec<Vec<u8>> {
    msg(&[b"job", &[i], b"", &long_part()])
}

// ---------------------------------------------------------------------------------------------
// The two sides behind one interface.

/// A received message as the scripts see it.
#[derive(Debug)]
struct Received {
    parts: Vec<Vec<u8>>,
    socket_type: Option<String>,
}

/// A socket playing a role: ours, or libzmq's (its blocking calls run on tokio's blocking pool).
trait Side {
    fn who(&self) -> &str;
    async fn send(&self, parts: Vec<Vec<u8>>) -> Result<(), String>;
    async fn recv(&self) -> Result<Received, String>;
    /// SUB's subscribe (ours: `subscribe`; libzmq: `ZMQ_SUBSCRIBE`).
    async fn subscribe(&self, topic: &[u8]) -> Result<(), String>;
}

struct Ours {
    socket: Socket,
    who: String,
}

impl Side for Ours {
    fn who(&self) -> &str {
        &self.who
    }

    async fn send(&self, parts: Vec<Vec<u8>>) -> Result<(), String> {
        let shown = show(&parts);
        self.socket
            .send(parts)
            .await
            .map_err(|e| format!("{}: send {shown}: {e}", self.who))
    }

    async fn recv(&self) -> Result<Received, String> {
        let m = self
            .socket
            .recv()
            .await
            .map_err(|e| format!("{}: recv: {e}", self.who))?;
        Ok(Received {
            parts: m.parts().iter().map(|p| p.to_vec()).collect(),
            socket_type: m.property("Socket-Type").map(str::to_owned),
        })
    }

    async fn subscribe(&self, topic: &[u8]) -> Result<(), String> {
        self.socket
            .subscribe(topic.to_vec())
            .map_err(|e| format!("{}: subscribe: {e}", self.who))
    }
}

struct Libzmq {
    socket: Arc<Mutex<lz::Socket>>,
    who: String,
}

impl Libzmq {
    async fn call<T: Send + 'static>(
        &self,
        what: String,
        f: impl FnOnce(&lz::Socket) -> Result<T, lz::ZmqError> + Send + 'static,
    ) -> Result<T, String> {
        let socket = self.socket.clone();
        let who = self.who.clone();
        tokio::task::spawn_blocking(move || f(&socket.lock().unwrap()))
            .await
            .map_err(|e| format!("{who}: {what}: {e}"))?
            .map_err(|e| format!("{who}: {what}: {e}"))
    }
}

impl Side for Libzmq {
    fn who(&self) -> &str {
        &self.who
    }

    async fn send(&self, parts: Vec<Vec<u8>>) -> Result<(), String> {
        let what = format!("send {}", show(&parts));
        self.call(what, move |s| s.send_multipart(&parts)).await
    }

    async fn recv(&self) -> Result<Received, String> {
        self.call("recv".into(), |s| {
            s.recv_message().map(|m| Received {
                socket_type: m.property("Socket-Type"),
                parts: m.into_parts(),
            })
        })
        .await
    }

    async fn subscribe(&self, topic: &[u8]) -> Result<(), String> {
        let topic = topic.to_vec();
        self.call("subscribe".into(), move |s| s.set_subscribe(&topic))
            .await
    }
}

fn expect_parts(
    side: &impl Side,
    what: &str,
    got: &Received,
    want: &[Vec<u8>],
) -> Result<(), String> {
    if got.parts != want {
        return Err(format!(
            "{}: {what}: got {}, want {}",
            side.who(),
            show(&got.parts),
            show(want)
        ));
    }
    Ok(())
}

/// The "Socket-Type" property of a received message names the peer's type.
fn expect_peer(side: &impl Side, got: &Received, peer: Role) -> Result<(), String> {
    if got.socket_type.as_deref() != Some(peer.name()) {
        return Err(format!(
            "{}: Socket-Type property {:?}, want {:?}",
            side.who(),
            got.socket_type,
            peer.name()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The scripts, one per role.

/// Plays `me` against a peer playing `peer`. `delivered` is set by a subscriber once a
/// matching message arrived; the publisher retries until then.
async fn play(
    me: Role,
    peer: Role,
    side: &impl Side,
    delivered: &AtomicBool,
) -> Result<(), String> {
    match me {
        Role::Req | Role::Dealer => {
            for i in 0..ROUNDS {
                let (request, reply) = client_frames(me, peer, i);
                side.send(request).await?;
                let got = side.recv().await?;
                expect_parts(side, "reply", &got, &reply)?;
                expect_peer(side, &got, peer)?;
            }
        }
        Role::Rep => {
            for i in 0..ROUNDS {
                let (request, reply) = server_frames(peer, me, i);
                let got = side.recv().await?;
                expect_parts(side, "request", &got, &request)?;
                expect_peer(side, &got, peer)?;
                side.send(reply).await?;
            }
        }
        Role::Router => {
            let mut first_id: Option<Vec<u8>> = None;
            for i in 0..ROUNDS {
                let (request, reply) = server_frames(peer, me, i);
                let mut got = side.recv().await?;
                if got.parts.is_empty() {
                    return Err(format!("{}: a message without a routing id", side.who()));
                }
                let id = got.parts.remove(0);
                let id_ok = match (&first_id, peer) {
                    (Some(first), _) => id == *first,
                    (None, Role::Req) => id == REQ_ID,
                    (None, _) => !id.is_empty(),
                };
                if !id_ok {
                    return Err(format!(
                        "{}: routing id \"{}\" in round {i}",
                        side.who(),
                        id.escape_ascii()
                    ));
                }
                expect_parts(side, "request after the routing id", &got, &request)?;
                expect_peer(side, &got, peer)?;
                let mut answer = vec![id.clone()];
                answer.extend(reply);
                side.send(answer).await?;
                first_id = Some(id);
            }
        }
        Role::Pub | Role::Xpub => {
            if me == Role::Xpub {
                let got = side.recv().await?;
                expect_parts(side, "the subscription", &got, &msg(&[b"\x01topic"]))?;
            }
            let deadline = Instant::now() + STEP;
            // Until the subscription has reached the publisher, PUB drops everything.
            while !delivered.load(Ordering::Acquire) {
                if Instant::now() > deadline {
                    return Err(format!(
                        "{}: no subscriber got \"{}\" within {STEP:?}",
                        side.who(),
                        TOPIC.escape_ascii()
                    ));
                }
                side.send(msg(&[b"other", b"not subscribed"])).await?;
                side.send(msg(&[TOPIC, b"", b"payload"])).await?;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Sent after a non-matching message: the subscriber stops at this one, having
            // received anything the filter let through before it.
            side.send(msg(&[b"other", b"late"])).await?;
            side.send(msg(&[TOPIC_END])).await?;
        }
        Role::Sub | Role::Xsub => {
            if me == Role::Sub {
                side.subscribe(TOPIC).await?;
            } else {
                side.send(msg(&[b"\x01topic"])).await?;
            }
            loop {
                let got = side.recv().await?;
                if !got.parts.first().is_some_and(|p| p.starts_with(TOPIC)) {
                    return Err(format!(
                        "{}: received {} without subscribing to it",
                        side.who(),
                        show(&got.parts)
                    ));
                }
                expect_peer(side, &got, peer)?;
                if got.parts == msg(&[TOPIC_END]) {
                    break;
                }
                expect_parts(side, "published", &got, &msg(&[TOPIC, b"", b"payload"]))?;
                delivered.store(true, Ordering::Release);
            }
            if !delivered.load(Ordering::Acquire) {
                return Err(format!("{}: the end marker came first", side.who()));
            }
        }
        Role::Push => {
            for i in 0..3 {
                side.send(job(i)).await?;
            }
        }
        Role::Pull => {
            for i in 0..3 {
                let got = side.recv().await?;
                expect_parts(side, "job", &got, &job(i))?;
                expect_peer(side, &got, peer)?;
            }
        }
        Role::PairPing => {
            side.send(msg(&[b"ping", b"", &long_part()])).await?;
            let got = side.recv().await?;
            expect_parts(side, "pong", &got, &msg(&[b"pong", b"back"]))?;
            expect_peer(side, &got, peer)?;
        }
        Role::PairPong => {
            let got = side.recv().await?;
            expect_parts(side, "ping", &got, &msg(&[b"ping", b"", &long_part()]))?;
            expect_peer(side, &got, peer)?;
            side.send(msg(&[b"pong", b"back"])).await?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The matrix.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mechanism {
    Null,
    Curve,
}

#[derive(Debug, Clone, Copy)]
enum Transport {
    Tcp,
    Ipc,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Ipc => "ipc",
        })
    }
}

/// CURVE key pairs for the server (the binding side) and the client, made by libzmq.
struct Keys {
    server: lz::CurveKeyPair,
    client: lz::CurveKeyPair,
}

impl Keys {
    fn generate() -> Keys {
        Keys {
            server: lz::curve_keypair().expect("libzmq key pair"),
            client: lz::curve_keypair().expect("libzmq key pair"),
        }
    }
}

fn our_options(role: Role, mechanism: Mechanism, server: bool, keys: &Keys) -> SocketOptions {
    let mechanism: Arc<dyn MechanismConfig> = match (mechanism, server) {
        (Mechanism::Null, _) => SocketOptions::default().mechanism,
        (Mechanism::Curve, true) => Arc::new(CurveServerConfig::new(
            CurveSecretKey::from_bytes(keys.server.secret).unwrap(),
        )),
        (Mechanism::Curve, false) => Arc::new(CurveClientConfig::new(
            CurveSecretKey::from_bytes(keys.client.secret).unwrap(),
            CurvePublicKey::from_bytes(keys.server.public).unwrap(),
        )),
    };
    SocketOptions {
        mechanism,
        routing_id: if role == Role::Req {
            REQ_ID.into()
        } else {
            Default::default()
        },
        sndtimeo: Some(STEP),
        rcvtimeo: Some(STEP),
        ..Default::default()
    }
}

fn libzmq_socket(
    ctx: &lz::Context,
    role: Role,
    mechanism: Mechanism,
    server: bool,
    keys: &Keys,
) -> Result<lz::Socket, lz::ZmqError> {
    let s = ctx.socket(role.libzmq())?;
    s.set_rcvtimeo(STEP_MS)?;
    s.set_sndtimeo(STEP_MS)?;
    s.set_linger(0)?;
    if role == Role::Req {
        s.set_routing_id(REQ_ID)?;
    }
    match (mechanism, server) {
        (Mechanism::Null, _) => {}
        (Mechanism::Curve, true) => {
            s.set_curve_server(true)?;
            s.set_curve_secretkey(&keys.server.secret)?;
        }
        (Mechanism::Curve, false) => {
            s.set_curve_serverkey(&keys.server.public)?;
            s.set_curve_publickey(&keys.client.public)?;
            s.set_curve_secretkey(&keys.client.secret)?;
        }
    }
    Ok(s)
}

struct Case<'a> {
    ctx: &'a lz::Context,
    keys: &'a Keys,
    ours: Role,
    theirs: Role,
    mechanism: Mechanism,
    transport: Transport,
    we_bind: bool,
}

impl Case<'_> {
    fn label(&self) -> String {
        format!(
            "{}(ours)/{}(libzmq) {:?} {} {}",
            self.ours.title(),
            self.theirs.title(),
            self.mechanism,
            self.transport,
            if self.we_bind {
                "ours binds"
            } else {
                "ours connects"
            },
        )
    }

    async fn run(&self) -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let address = match self.transport {
            Transport::Tcp => "tcp://127.0.0.1:*".to_owned(),
            Transport::Ipc => format!("ipc://{}", dir.path().join("socket").display()),
        };
        let ours = Socket::with_options(
            self.ours.ours(),
            our_options(self.ours, self.mechanism, self.we_bind, self.keys),
        );
        let theirs = libzmq_socket(
            self.ctx,
            self.theirs,
            self.mechanism,
            !self.we_bind,
            self.keys,
        )
        .map_err(|e| format!("libzmq socket: {e}"))?;
        if self.we_bind {
            let endpoint = ours
                .bind(&address)
                .await
                .map_err(|e| format!("our bind: {e}"))?;
            theirs
                .connect(&endpoint)
                .map_err(|e| format!("libzmq connect {endpoint}: {e}"))?;
        } else {
            theirs
                .bind(&address)
                .map_err(|e| format!("libzmq bind {address}: {e}"))?;
            let endpoint = theirs
                .last_endpoint()
                .map_err(|e| format!("libzmq endpoint: {e}"))?;
            ours.connect(&endpoint)
                .await
                .map_err(|e| format!("our connect {endpoint}: {e}"))?;
        }
        let ours = Ours {
            socket: ours,
            who: format!("our {}", self.ours.name()),
        };
        let theirs = Libzmq {
            socket: Arc::new(Mutex::new(theirs)),
            who: format!("libzmq {}", self.theirs.name()),
        };
        let delivered = AtomicBool::new(false);
        let bounded = |r: Result<Result<(), String>, _>, who: &str| {
            r.unwrap_or_else(|_| Err(format!("{who}: not done within {CASE_LIMIT:?}")))
        };
        let (a, b) = tokio::join!(
            tokio::time::timeout(CASE_LIMIT, play(self.ours, self.theirs, &ours, &delivered)),
            tokio::time::timeout(
                CASE_LIMIT,
                play(self.theirs, self.ours, &theirs, &delivered)
            ),
        );
        match (bounded(a, &ours.who), bounded(b, &theirs.who)) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
            (Err(a), Err(b)) => Err(format!("{a}; {b}")),
        }
    }
}

/// Runs `ours` against libzmq's `theirs` over tcp and ipc, binding and connecting; reports
/// every combination and fails with the list of those that failed.
fn run_matrix(ours: Role, theirs: Role, mechanism: Mechanism) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ctx = lz::Context::new().expect("libzmq context");
    let keys = Keys::generate();
    let mut failed = Vec::new();
    for transport in [Transport::Tcp, Transport::Ipc] {
        for we_bind in [true, false] {
            let case = Case {
                ctx: &ctx,
                keys: &keys,
                ours,
                theirs,
                mechanism,
                transport,
                we_bind,
            };
            let started = Instant::now();
            match runtime.block_on(case.run()) {
                Ok(()) => println!("ok   {} ({:?})", case.label(), started.elapsed()),
                Err(e) => {
                    println!("FAIL {}: {e}", case.label());
                    failed.push(format!("{}: {e}", case.label()));
                }
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of 4 combinations failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// For each pair `first / second`, a module with four tests: our socket as `first` and as
/// `second`, under NULL and under CURVE.
macro_rules! pairs {
    ($($name:ident: $first:ident / $second:ident;)*) => {$(
        mod $name {
            use super::*;

            #[test]
            fn ours_first_null() {
                run_matrix(Role::$first, Role::$second, Mechanism::Null);
            }

            #[test]
            fn ours_first_curve() {
                run_matrix(Role::$first, Role::$second, Mechanism::Curve);
            }

            #[test]
            fn ours_second_null() {
                run_matrix(Role::$second, Role::$first, Mechanism::Null);
            }

            #[test]
            fn ours_second_curve() {
                run_matrix(Role::$second, Role::$first, Mechanism::Curve);
            }
        }
    )*};
}

pairs! {
    req_rep: Req / Rep;
    req_router: Req / Router;
    dealer_rep: Dealer / Rep;
    dealer_router: Dealer / Router;
    pub_sub: Pub / Sub;
    xpub_xsub: Xpub / Xsub;
    pub_xsub: Pub / Xsub;
    xpub_sub: Xpub / Sub;
    push_pull: Push / Pull;
    pair_pair: PairPing / PairPong;
}

// ---------------------------------------------------------------------------------------------
// Two hops: REQ → ROUTER/DEALER proxy → REP. The front hop runs CURVE over tcp (the proxy's
// ROUTER is the server), the back hop NULL over ipc.

const CHAIN_ROUNDS: u8 = 3;

fn chain_request(i: u8) -> Vec<Vec<u8>> {
    msg(&[b"through", &[i], &long_part()])
}

fn chain_reply(i: u8) -> Vec<Vec<u8>> {
    msg(&[b"served", &[i]])
}

/// The proxy's front ROUTER must see REQ's envelope: its routing id, then the delimiter.
fn check_envelope(parts: &[Vec<u8>]) -> Result<(), String> {
    if parts.len() < 3 || parts[0] != REQ_ID || !parts[1].is_empty() {
        return Err(format!("proxy: request envelope {}", show(parts)));
    }
    Ok(())
}

/// libzmq's ROUTER/DEALER proxy, in one thread. The bindings have no `zmq_poll`, so it polls
/// by alternating 2 ms receives on the two sockets; it forwards whole multipart messages both
/// ways until `stop`, and returns (requests, replies) forwarded.
fn libzmq_proxy(
    frontend: lz::Socket,
    backend: lz::Socket,
    stop: Arc<AtomicBool>,
) -> Result<(usize, usize), String> {
    let err = |what: &'static str| move |e: lz::ZmqError| format!("proxy: {what}: {e}");
    frontend.set_rcvtimeo(2).map_err(err("rcvtimeo"))?;
    backend.set_rcvtimeo(2).map_err(err("rcvtimeo"))?;
    let deadline = Instant::now() + CASE_LIMIT;
    let (mut requests, mut replies) = (0, 0);
    while !stop.load(Ordering::Acquire) && Instant::now() < deadline {
        match frontend.recv_multipart() {
            Ok(parts) => {
                check_envelope(&parts)?;
                backend.send_multipart(&parts).map_err(err("to backend"))?;
                requests += 1;
            }
            Err(e) if e.is_timeout() => {}
            Err(e) => return Err(err("from frontend")(e)),
        }
        match backend.recv_multipart() {
            Ok(parts) => {
                frontend
                    .send_multipart(&parts)
                    .map_err(err("to frontend"))?;
                replies += 1;
            }
            Err(e) if e.is_timeout() => {}
            Err(e) => return Err(err("from backend")(e)),
        }
    }
    Ok((requests, replies))
}

#[test]
fn chain_our_req_libzmq_proxy_our_rep() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ctx = lz::Context::new().unwrap();
    let keys = Keys::generate();
    let dir = tempfile::tempdir().unwrap();
    let frontend = libzmq_socket(&ctx, Role::Router, Mechanism::Curve, true, &keys).unwrap();
    frontend.bind("tcp://127.0.0.1:*").unwrap();
    let front_endpoint = frontend.last_endpoint().unwrap();
    let backend = libzmq_socket(&ctx, Role::Dealer, Mechanism::Null, true, &keys).unwrap();
    backend
        .bind(&format!("ipc://{}", dir.path().join("backend").display()))
        .unwrap();
    let back_endpoint = backend.last_endpoint().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let proxy = std::thread::spawn({
        let stop = stop.clone();
        move || libzmq_proxy(frontend, backend, stop)
    });

    let outcome = runtime.block_on(async {
        let client = Socket::with_options(
            SocketType::Req,
            our_options(Role::Req, Mechanism::Curve, false, &keys),
        );
        client.connect(&front_endpoint).await.unwrap();
        let server = Socket::with_options(
            SocketType::Rep,
            our_options(Role::Rep, Mechanism::Null, false, &keys),
        );
        server.connect(&back_endpoint).await.unwrap();
        let client = Ours {
            socket: client,
            who: "our REQ".into(),
        };
        let server = Ours {
            socket: server,
            who: "our REP".into(),
        };
        let serve = async {
            for i in 0..CHAIN_ROUNDS {
                let got = server.recv().await?;
                expect_parts(&server, "request", &got, &chain_request(i))?;
                expect_peer(&server, &got, Role::Dealer)?;
                server.send(chain_reply(i)).await?;
            }
            Ok::<_, String>(())
        };
        let ask = async {
            for i in 0..CHAIN_ROUNDS {
                client.send(chain_request(i)).await?;
                let got = client.recv().await?;
                expect_parts(&client, "reply", &got, &chain_reply(i))?;
                expect_peer(&client, &got, Role::Router)?;
            }
            Ok::<_, String>(())
        };
        tokio::time::timeout(CASE_LIMIT, async { tokio::try_join!(serve, ask) })
            .await
            .unwrap_or_else(|_| Err(format!("not done within {CASE_LIMIT:?}")))
    });
    stop.store(true, Ordering::Release);
    let forwarded = proxy.join().expect("proxy thread");
    outcome.expect("REQ → libzmq proxy → REP");
    assert_eq!(
        forwarded,
        Ok((CHAIN_ROUNDS.into(), CHAIN_ROUNDS.into())),
        "(requests, replies) through libzmq's proxy"
    );
}

/// Our ROUTER/DEALER proxy: one loop forwarding both ways until `stop`; returns (requests,
/// replies) forwarded.
async fn our_proxy(
    frontend: &Socket,
    backend: &Socket,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<(usize, usize), String> {
    tokio::pin!(stop);
    let (mut requests, mut replies) = (0, 0);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok((requests, replies)),
            m = frontend.recv() => {
                let parts = m.map_err(|e| format!("proxy: from frontend: {e}"))?.into_parts();
                let parts: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
                check_envelope(&parts)?;
                backend.send(parts).await.map_err(|e| format!("proxy: to backend: {e}"))?;
                requests += 1;
            }
            m = backend.recv() => {
                let m = m.map_err(|e| format!("proxy: from backend: {e}"))?;
                frontend.send(m.into_parts()).await.map_err(|e| format!("proxy: to frontend: {e}"))?;
                replies += 1;
            }
        }
    }
}

#[test]
fn chain_libzmq_req_our_proxy_libzmq_rep() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ctx = lz::Context::new().unwrap();
    let keys = Keys::generate();
    let dir = tempfile::tempdir().unwrap();
    runtime.block_on(async {
        // The proxy waits as long as it must: `stop` ends it, the case limit bounds it.
        let frontend = Socket::with_options(
            SocketType::Router,
            SocketOptions {
                rcvtimeo: None,
                ..our_options(Role::Router, Mechanism::Curve, true, &keys)
            },
        );
        let front_endpoint = frontend.bind("tcp://127.0.0.1:*").await.unwrap();
        let backend = Socket::with_options(
            SocketType::Dealer,
            SocketOptions {
                rcvtimeo: None,
                ..our_options(Role::Dealer, Mechanism::Null, true, &keys)
            },
        );
        let back_endpoint = backend
            .bind(&format!("ipc://{}", dir.path().join("backend").display()))
            .await
            .unwrap();
        let client = libzmq_socket(&ctx, Role::Req, Mechanism::Curve, false, &keys).unwrap();
        client.connect(&front_endpoint).unwrap();
        let server = libzmq_socket(&ctx, Role::Rep, Mechanism::Null, false, &keys).unwrap();
        server.connect(&back_endpoint).unwrap();
        let client = Libzmq {
            socket: Arc::new(Mutex::new(client)),
            who: "libzmq REQ".into(),
        };
        let server = Libzmq {
            socket: Arc::new(Mutex::new(server)),
            who: "libzmq REP".into(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let ends = async {
            let serve = async {
                for i in 0..CHAIN_ROUNDS {
                    let got = server.recv().await?;
                    expect_parts(&server, "request", &got, &chain_request(i))?;
                    expect_peer(&server, &got, Role::Dealer)?;
                    server.send(chain_reply(i)).await?;
                }
                Ok::<_, String>(())
            };
            let ask = async {
                for i in 0..CHAIN_ROUNDS {
                    client.send(chain_request(i)).await?;
                    let got = client.recv().await?;
                    expect_parts(&client, "reply", &got, &chain_reply(i))?;
                    expect_peer(&client, &got, Role::Router)?;
                }
                Ok::<_, String>(())
            };
            let done = tokio::try_join!(serve, ask);
            let _ = stop.send(());
            done
        };
        let (proxied, ends) = tokio::time::timeout(CASE_LIMIT, async {
            tokio::join!(our_proxy(&frontend, &backend, stopped), ends)
        })
        .await
        .expect("the chain finishes within the case limit");
        ends.expect("libzmq REQ → our proxy → libzmq REP");
        assert_eq!(
            proxied,
            Ok((CHAIN_ROUNDS.into(), CHAIN_ROUNDS.into())),
            "(requests, replies) through our proxy"
        );
    });
}
