//! Threat: an attacker who recorded a CURVE connection plays its commands and messages again,
//! out of order, or to a new connection, hoping to have them accepted a second time.
//! Defence: short nonces must strictly increase in each direction, an INITIATE's cookie is bound
//! to the connection it was handed to and dies with its cookie key, and every connection has
//! fresh transient keys, so each replay or reordering is refused with a typed error and nothing
//! is ever delivered twice.

mod threats_common;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use threats_common::{
    client_keys, curve_configs, feed, fixed_configs, seen, server_keys, session, split_stream,
    take_output, Capture, Dir, Link, Seen, WireFrame, GREETING_LEN, HEARTBEAT,
};
use zmtp_core::testing::Pair;
use zmtp_core::{Error, MechanismConfig, ProtocolError, Session, SessionConfig, SocketType};
use zmtp_mechanisms::CurveServerConfig;

fn invalid_sequence() -> Option<Error> {
    Some(Error::Protocol(ProtocolError::InvalidSequence))
}

fn cryptographic() -> Option<Error> {
    Some(Error::Protocol(ProtocolError::Cryptographic))
}

// ---- One recorded session, replayed with frames repeated, swapped or dropped ----

/// A unit of traffic: the frames of one message or command, and what the receiver makes of it.
#[derive(Clone, Debug)]
struct Unit {
    frames: Vec<WireFrame>,
    seen: Option<Seen>,
}

struct Recording {
    configs: (Arc<SessionConfig>, Arc<SessionConfig>),
    capture: Capture,
    now: Instant,
    /// Per direction: the octets up to the first traffic frame, then the traffic units.
    handshake: [Vec<u8>; 2],
    units: [Vec<Unit>; 2],
}

fn idx(dir: Dir) -> usize {
    match dir {
        Dir::ClientToServer => 0,
        Dir::ServerToClient => 1,
    }
}

fn b(s: &'static [u8]) -> Bytes {
    Bytes::from_static(s)
}

fn recording() -> &'static Recording {
    static REC: OnceLock<Recording> = OnceLock::new();
    REC.get_or_init(|| {
        let configs = fixed_configs();
        let mut l = Link::new(Pair::new((*configs.0).clone(), (*configs.1).clone()));
        assert!(l.handshake());
        let c = &mut l.pair.client.session;
        c.send_subscription(b"news", true).unwrap();
        c.send_message(vec![b(b"m1-a"), b(b"m1-b")]).unwrap();
        c.send_message(vec![b(b"m2")]).unwrap();
        l.step();
        l.advance(HEARTBEAT); // PING from the client, PONG from the server
        let s = &mut l.pair.server.session;
        s.send_message(vec![b(b"s1")]).unwrap();
        s.send_message(vec![b(b"s2")]).unwrap();
        l.pair.client.session.send_message(vec![b(b"m3")]).unwrap();
        l.step();
        let p = &l.pair;
        assert!(p.client.error.is_none() && p.server.error.is_none());
        let server_expects = [
            Some(Seen::Subscribe(b(b"news"))),
            Some(Seen::Message(vec![b(b"m1-a"), b(b"m1-b")])),
            Some(Seen::Message(vec![b(b"m2")])),
            None, // PING
            Some(Seen::Message(vec![b(b"m3")])),
        ];
        let client_expects = [
            None, // PONG
            Some(Seen::Message(vec![b(b"s1")])),
            Some(Seen::Message(vec![b(b"s2")])),
        ];
        assert_eq!(
            seen(&p.server.events),
            server_expects.iter().flatten().cloned().collect::<Vec<_>>()
        );
        assert_eq!(
            seen(&p.client.events),
            client_expects.iter().flatten().cloned().collect::<Vec<_>>()
        );
        let cut = |dir: Dir, sizes: &[usize], expects: &[Option<Seen>]| {
            let frames = split_stream(l.capture.stream(dir));
            let first = frames
                .iter()
                .position(|f| f.name().as_deref() == Some("MESSAGE"))
                .unwrap();
            let handshake = l.capture.stream(dir)[..frames[first].offset].to_vec();
            let mut traffic = frames[first..].iter().cloned();
            let units: Vec<Unit> = sizes
                .iter()
                .zip(expects)
                .map(|(&n, seen)| Unit {
                    frames: traffic.by_ref().take(n).collect(),
                    seen: seen.clone(),
                })
                .collect();
            assert!(traffic.next().is_none());
            assert!(units
                .iter()
                .flat_map(|u| &u.frames)
                .all(|f| f.name().as_deref() == Some("MESSAGE")));
            (handshake, units)
        };
        let (hc, uc) = cut(Dir::ClientToServer, &[1, 2, 1, 1, 1], &server_expects);
        let (hs, us) = cut(Dir::ServerToClient, &[1, 1, 1], &client_expects);
        Recording {
            configs,
            capture: l.capture.clone(),
            now: l.pair.now,
            handshake: [hc, hs],
            units: [uc, us],
        }
    })
}

/// The recorded handshake of `dir` followed by these traffic frames.
fn stream(r: &Recording, dir: Dir, frames: &[&WireFrame]) -> Vec<u8> {
    let whole = r.capture.stream(dir);
    let mut out = r.handshake[idx(dir)].clone();
    for f in frames {
        out.extend_from_slice(&whole[f.range()]);
    }
    out
}

/// Feeds `bytes` to a fresh session on the receiving end of `dir`.
fn receive(r: &Recording, dir: Dir, bytes: &[u8]) -> (Session, Vec<Seen>, Option<Error>) {
    let config = match dir {
        Dir::ClientToServer => &r.configs.1,
        Dir::ServerToClient => &r.configs.0,
    };
    let mut rx = session(config, r.now);
    let (events, error) = feed(&mut rx, bytes, r.now);
    (rx, seen(&events), error)
}

fn expected(units: &[Unit]) -> Vec<Seen> {
    units.iter().filter_map(|u| u.seen.clone()).collect()
}

const DIRS: [Dir; 2] = [Dir::ClientToServer, Dir::ServerToClient];

#[test]
fn the_unedited_recording_replays_as_the_honest_session() {
    // The premise: a fresh receiver fed the recording sees what the live one saw.
    let r = recording();
    for dir in DIRS {
        let units = &r.units[idx(dir)];
        let all: Vec<&WireFrame> = units.iter().flat_map(|u| &u.frames).collect();
        let (rx, got, error) = receive(r, dir, &stream(r, dir, &all));
        assert_eq!(error, None, "{dir:?}");
        assert!(rx.is_ready());
        assert_eq!(got, expected(units), "{dir:?}");
    }
}

#[test]
fn every_message_frame_replayed_at_once_or_at_the_end_is_refused() {
    let r = recording();
    let mut cases = 0;
    for dir in DIRS {
        let units = &r.units[idx(dir)];
        let all: Vec<&WireFrame> = units.iter().flat_map(|u| &u.frames).collect();
        for i in 0..all.len() {
            // Right after itself: the copy is refused, and what follows is never taken.
            let mut again: Vec<&WireFrame> = all[..=i].to_vec();
            again.push(all[i]);
            again.extend_from_slice(&all[i + 1..]);
            let (_, got, error) = receive(r, dir, &stream(r, dir, &again));
            assert_eq!(error, invalid_sequence(), "{dir:?} frame {i} repeated");
            let honest = expected(units);
            assert!(
                got.len() <= honest.len() && got[..] == honest[..got.len()],
                "{dir:?} frame {i}: {got:?}"
            );
            // Everything up to frame i was delivered once; nothing after.
            let complete_before = units
                .iter()
                .scan(0, |n, u| {
                    *n += u.frames.len();
                    Some((*n, u))
                })
                .filter(|(end, u)| *end <= i + 1 && u.seen.is_some())
                .count();
            assert_eq!(got.len(), complete_before, "{dir:?} frame {i}: {got:?}");

            // At the end, after the whole session: all delivered exactly once, then refused.
            let mut late = all.clone();
            late.push(all[i]);
            let (_, got, error) = receive(r, dir, &stream(r, dir, &late));
            assert_eq!(error, invalid_sequence(), "{dir:?} frame {i} replayed late");
            assert_eq!(got, honest, "{dir:?} frame {i}: nothing twice");
            cases += 2;
        }
    }
    assert_eq!(cases, 2 * (6 + 3));
}

#[test]
fn a_replayed_ping_gets_no_second_pong() {
    let r = recording();
    let dir = Dir::ClientToServer;
    let units = &r.units[idx(dir)];
    let all: Vec<&WireFrame> = units.iter().flat_map(|u| &u.frames).collect();
    let (mut rx, _, error) = receive(r, dir, &stream(r, dir, &all));
    assert_eq!(error, None);
    // The honest PING was answered: WELCOME, READY and one MESSAGE (the PONG).
    let honest_out = take_output(&mut rx);
    let names: Vec<String> = split_stream(&honest_out)
        .iter()
        .map(|f| f.name().unwrap_or_default())
        .collect();
    assert_eq!(names, ["WELCOME", "READY", "MESSAGE"]);
    // The same PING again: refused, and not answered.
    let ping = &units[3].frames[0];
    let (events, error) = feed(&mut rx, &r.capture.c2s[ping.range()], r.now);
    assert_eq!(error, invalid_sequence());
    assert!(events.is_empty());
    assert_eq!(take_output(&mut rx), Vec::<u8>::new(), "no second PONG");
}

#[test]
fn swapped_messages_are_refused_at_the_earlier_one() {
    // Units k and k+1 swapped: the later one arrives first and is taken (a receiver cannot know
    // what it has not seen yet), the earlier one is refused, nothing is delivered twice.
    let r = recording();
    let mut cases = 0;
    for dir in DIRS {
        let units = &r.units[idx(dir)];
        for k in 0..units.len() - 1 {
            let mut order: Vec<&Unit> = units.iter().collect();
            order.swap(k, k + 1);
            let frames: Vec<&WireFrame> = order.iter().flat_map(|u| &u.frames).collect();
            let (_, got, error) = receive(r, dir, &stream(r, dir, &frames));
            assert_eq!(error, invalid_sequence(), "{dir:?} units {k}, {}", k + 1);
            let mut want = expected(&units[..k]);
            want.extend(units[k + 1].seen.clone());
            assert_eq!(got, want, "{dir:?} units {k}, {}", k + 1);
            cases += 1;
        }
    }
    assert_eq!(cases, 4 + 2);
}

#[test]
fn documented_non_defence_a_dropped_frame_goes_unnoticed() {
    // Gaps in the nonce sequence are accepted, as libzmq accepts them (rfcs/rfc25-26-curve.md,
    // DEV-CURVE-3): an attacker who can drop a frame can drop a whole message, or the first part
    // of a multipart message, whose last part is then delivered alone. What is delivered is still
    // only what the peer sent, once.
    let r = recording();
    let dir = Dir::ClientToServer;
    let units = &r.units[idx(dir)];
    let all: Vec<&WireFrame> = units.iter().flat_map(|u| &u.frames).collect();
    // Drop m2 (frame 3): the session goes on without it.
    let mut without: Vec<&WireFrame> = all.clone();
    without.remove(3);
    let (rx, got, error) = receive(r, dir, &stream(r, dir, &without));
    assert_eq!(error, None);
    assert!(rx.is_ready());
    let mut want = expected(units);
    want.retain(|s| *s != Seen::Message(vec![b(b"m2")]));
    assert_eq!(got, want);
    // Drop m1's first part (frame 1): its second part arrives as a message of its own.
    let mut truncated: Vec<&WireFrame> = all.clone();
    truncated.remove(1);
    let (_, got, error) = receive(r, dir, &stream(r, dir, &truncated));
    assert_eq!(error, None);
    assert_eq!(
        got,
        vec![
            Seen::Subscribe(b(b"news")),
            Seen::Message(vec![b(b"m1-b")]),
            Seen::Message(vec![b(b"m2")]),
            Seen::Message(vec![b(b"m3")]),
        ]
    );
    // Swapping the two parts is caught at the first part, after the second went out alone.
    let mut swapped: Vec<&WireFrame> = all.clone();
    swapped.swap(1, 2);
    let (_, got, error) = receive(r, dir, &stream(r, dir, &swapped));
    assert_eq!(error, invalid_sequence());
    assert_eq!(
        got,
        vec![Seen::Subscribe(b(b"news")), Seen::Message(vec![b(b"m1-b")])]
    );
}

// ---- Handshake commands replayed, with real (random) ephemerals ----

/// DEALER-ROUTER configs with system randomness, made once (one server config: its cookie keys
/// are shared by every session made from it, as a socket's are).
fn live_configs() -> &'static (SessionConfig, SessionConfig) {
    static CONFIGS: OnceLock<(SessionConfig, SessionConfig)> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        curve_configs(
            &client_keys(),
            &server_keys(),
            (SocketType::Dealer, SocketType::Router),
        )
    })
}

/// A live session with two client messages; returns its recording.
fn live_recording() -> Capture {
    let (c, s) = live_configs().clone();
    let mut l = Link::new(Pair::new(c, s));
    assert!(l.handshake());
    l.pair
        .client
        .session
        .send_message(vec![b(b"first")])
        .unwrap();
    l.pair
        .client
        .session
        .send_message(vec![b(b"second")])
        .unwrap();
    l.step();
    assert_eq!(l.pair.server.messages().len(), 2);
    l.capture
}

/// The octets of the frame named `name` (header included).
fn frame_octets(stream: &[u8], name: &str) -> Vec<u8> {
    let f = split_stream(stream)
        .into_iter()
        .find(|f| f.name().as_deref() == Some(name))
        .unwrap();
    stream[f.range()].to_vec()
}

fn fresh(config: &SessionConfig, now: Instant) -> Session {
    session(&Arc::new(config.clone()), now)
}

#[test]
fn a_whole_client_transcript_replayed_to_a_new_server_session_delivers_nothing() {
    let capture = live_recording();
    let (_, s) = live_configs();
    let now = Instant::now();
    // Same server socket (same cookie keys, well within their lifetime), then a restarted one.
    let restarted = SessionConfig::new(
        SocketType::Router,
        Arc::new(CurveServerConfig::new(server_keys().secret.clone())),
    );
    for config in [s, &restarted] {
        // All at once.
        let mut srv = fresh(config, now);
        let (events, error) = feed(&mut srv, &capture.c2s, now);
        assert_eq!(error, cryptographic(), "the INITIATE of another connection");
        assert!(seen(&events).is_empty() && !srv.is_ready());

        // Step by step: the replayed HELLO is answered (HELLO carries nothing fresh, and the
        // server keeps no state for it), the replayed INITIATE is not.
        let mut srv = fresh(config, now);
        let hello_end = GREETING_LEN + frame_octets(&capture.c2s, "HELLO").len();
        let (events, error) = feed(&mut srv, &capture.c2s[..hello_end], now);
        assert_eq!(error, None);
        assert!(events.is_empty());
        let out = take_output(&mut srv);
        let frames = split_stream(&out);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].name().as_deref(), Some("WELCOME"));
        assert_eq!(frames[0].body.len(), 168);
        let (events, error) = feed(&mut srv, &capture.c2s[hello_end..], now);
        assert_eq!(error, cryptographic());
        assert!(seen(&events).is_empty() && !srv.is_ready());
        assert!(take_output(&mut srv).is_empty(), "no READY, no ERROR");
    }
}

#[test]
fn a_replayed_welcome_is_refused_by_a_fresh_client() {
    let capture = live_recording();
    let (c, _) = live_configs();
    let now = Instant::now();
    let mut client = fresh(c, now);
    let welcome_end = GREETING_LEN + frame_octets(&capture.s2c, "WELCOME").len();
    let (events, error) = feed(&mut client, &capture.s2c[..welcome_end], now);
    assert_eq!(error, cryptographic(), "sealed to another C'");
    assert!(events.is_empty() && !client.is_ready());
    // And the rest of the server's transcript after it changes nothing.
    let mut client = fresh(c, now);
    let (events, error) = feed(&mut client, &capture.s2c, now);
    assert_eq!(error, cryptographic());
    assert!(seen(&events).is_empty());
}

#[test]
fn handshake_commands_replayed_on_their_own_connection_are_refused() {
    let (c, s) = live_configs().clone();
    // HELLO again where INITIATE belongs.
    let mut l = Link::new(Pair::new(c.clone(), s.clone()));
    let p = &mut l.pair;
    let g = take_output(&mut p.client.session);
    let sg = take_output(&mut p.server.session);
    let (_, e) = feed(&mut p.server.session, &g, p.now);
    assert_eq!(e, None);
    let (_, e) = feed(&mut p.client.session, &sg, p.now);
    assert_eq!(e, None);
    let hello = take_output(&mut p.client.session);
    let (_, e) = feed(&mut p.server.session, &hello, p.now);
    assert_eq!(e, None);
    let (_, e) = feed(&mut p.server.session, &hello, p.now);
    assert_eq!(
        e,
        Some(Error::Protocol(ProtocolError::UnexpectedCommand {
            expected: "INITIATE",
            got: "HELLO".into()
        }))
    );

    // INITIATE again once the connection is up; READY again at the client.
    let mut l = Link::new(Pair::new(c, s));
    assert!(l.handshake());
    let initiate = frame_octets(&l.capture.c2s, "INITIATE");
    let ready = frame_octets(&l.capture.s2c, "READY");
    let p = &mut l.pair;
    let (events, e) = feed(&mut p.server.session, &initiate, p.now);
    assert_eq!(
        e,
        Some(Error::Protocol(ProtocolError::UnexpectedCommand {
            expected: "MESSAGE",
            got: "INITIATE".into()
        }))
    );
    assert!(events.is_empty());
    let (events, e) = feed(&mut p.client.session, &ready, p.now);
    assert_eq!(
        e,
        Some(Error::Protocol(ProtocolError::UnexpectedCommand {
            expected: "MESSAGE",
            got: "READY".into()
        }))
    );
    assert!(events.is_empty());
}

/// Greetings, HELLO and WELCOME at `t0`; returns the client's INITIATE (wire octets) and the
/// server session waiting for it.
fn held_initiate(
    client: &Arc<SessionConfig>,
    server: &Arc<SessionConfig>,
    t0: Instant,
) -> (Vec<u8>, Session) {
    let mut c = session(client, t0);
    let mut s = session(server, t0);
    for _ in 0..2 {
        let out = take_output(&mut c);
        assert_eq!(feed(&mut s, &out, t0).1, None);
        let out = take_output(&mut s);
        assert_eq!(feed(&mut c, &out, t0).1, None);
    }
    let initiate = take_output(&mut c);
    let framed = [vec![0u8; GREETING_LEN], initiate.clone()].concat();
    assert_eq!(split_stream(&framed)[0].name().as_deref(), Some("INITIATE"));
    (initiate, s)
}

#[test]
fn an_initiate_held_back_past_its_cookie_key_is_refused() {
    // Rotation 1 s: a cookie key seals for 1 s and opens for 2 s from when it was made. The
    // attacker holds the client's INITIATE back and releases it later.
    let rotation = Duration::from_secs(1);
    let server_mechanism =
        CurveServerConfig::new(server_keys().secret.clone()).with_cookie_rotation(rotation);
    let server = Arc::new(SessionConfig::new(
        SocketType::Router,
        Arc::new(server_mechanism.clone()),
    ));
    let client = Arc::new(live_configs().0.clone());
    let t0 = Instant::now();
    let just_in_time = t0 + 2 * rotation - Duration::from_millis(1);
    let too_late = t0 + 2 * rotation;

    // Control: just within the key's life the held INITIATE still completes the handshake.
    let (initiate, mut s) = held_initiate(&client, &server, t0);
    let (_, e) = feed(&mut s, &initiate, just_in_time);
    assert_eq!(e, None);
    assert!(s.is_ready());

    for housekeeping in [false, true] {
        let (initiate, mut s) = held_initiate(&client, &server, t0 + 10 * rotation);
        let late = too_late + 10 * rotation;
        if housekeeping {
            // The socket's timer drops the key on time, even with no HELLO to rotate it.
            let mut at = t0 + 10 * rotation;
            while at <= late {
                let _ = server_mechanism.housekeeping(at);
                at += rotation / 2;
            }
        }
        let (events, e) = feed(&mut s, &initiate, late);
        assert_eq!(e, cryptographic(), "housekeeping {housekeeping}");
        assert!(events.is_empty() && !s.is_ready());
    }
}

#[test]
fn control_with_fixed_ephemerals_a_replayed_transcript_is_accepted_again() {
    // Why the testing-only constructors say "no replay protection": a server that reuses its
    // transient key, cookie key and nonces accepts a recorded client transcript a second time
    // and delivers its messages again. The replays above are real attacks; fresh randomness is
    // what refuses them.
    let r = recording();
    let dir = Dir::ClientToServer;
    let (first, got1, e1) = receive(r, dir, r.capture.stream(dir));
    let (second, got2, e2) = receive(r, dir, r.capture.stream(dir));
    assert_eq!((e1, e2), (None, None));
    assert!(first.is_ready() && second.is_ready());
    assert_eq!(got1, got2);
    assert_eq!(got2.len(), 4, "every message delivered again");
}
