//! Threat: an active attacker on the path alters octets of a CURVE connection in flight, in
//! either direction, in the handshake or in the traffic, or injects frames of his own making.
//! Defence: every handshake command and every MESSAGE box is authenticated, so the receiver
//! refuses any altered or forged frame with a typed error and never delivers an altered message,
//! the only unprotected octets being frame headers, whose alteration at worst stalls the frame
//! or (for the MORE and COMMAND bits of a MESSAGE frame, which the receiver ignores) changes
//! nothing.

// How the sweeps stay affordable in a debug build, where one X25519 costs milliseconds: the
// session sweeps record one honest session between testing-only fixed-ephemeral configs, whose
// transcript is therefore the same on every run, and replay each altered stream to a fresh
// receiving session (one receiver handshake per alteration). Every octet of every handshake
// command is altered there; MESSAGE frames get their header octets and a sample of their body
// there, and every bit of every octet of their bodies on the traffic codecs of one real
// (randomised) handshake, which a refused box leaves as it was.

mod threats_common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use threats_common::{
    client_keys, curve_configs, feed, fixed_configs, seen, server_keys, session, split_stream,
    take_output, Capture, Dir, Link, Seen, Trace, WireFrame, GREETING_LEN, HEARTBEAT,
};
use zmtp_core::testing::Pair;
use zmtp_core::wire::command::{encode_pong, Ping};
use zmtp_core::wire::frame::{FrameDecoder, FrameLimits};
use zmtp_core::{
    Command, Error, Frame, Greeting, HandshakeContext, MechanismConfig, MechanismName,
    MessageCodec, Metadata, ProtocolError, SessionConfig, SocketType, TransmitQueue,
};
use zmtp_mechanisms::{CurveClientConfig, CurveServerConfig};

/// A full session: handshake, a subscription and a two-part message from the client, a PING
/// from the client answered by a PONG, a two-part message from the server.
fn scenario(link: &mut Link) {
    link.step();
    let c = &mut link.pair.client.session;
    c.send_subscription(b"news", true).unwrap();
    c.send_message(vec![
        Bytes::from_static(b"part-1"),
        Bytes::from_static(b"part-2"),
    ])
    .unwrap();
    link.step();
    link.advance(HEARTBEAT);
    link.pair
        .server
        .session
        .send_message(vec![Bytes::from_static(b"news"), Bytes::from_static(b"x")])
        .unwrap();
    link.step();
}

/// The honest session: what each side wrote, what each receiver saw, and when.
struct Honest {
    configs: (Arc<SessionConfig>, Arc<SessionConfig>),
    capture: Capture,
    trace: Trace,
    frames: BTreeMap<Dir, Vec<WireFrame>>,
    seen: BTreeMap<Dir, Vec<Seen>>,
    now: Instant,
}

/// The honest session, recorded once for all the tests of this file.
fn honest() -> &'static Honest {
    static HONEST: std::sync::OnceLock<Honest> = std::sync::OnceLock::new();
    HONEST.get_or_init(record)
}

fn record() -> Honest {
    let configs = fixed_configs();
    let mut l = Link::new(Pair::new((*configs.0).clone(), (*configs.1).clone()));
    l.trace = Some(Trace::default());
    scenario(&mut l);
    let p = &l.pair;
    assert!(p.client.error.is_none() && p.server.error.is_none());
    let server_seen = seen(&p.server.events);
    let client_seen = seen(&p.client.events);
    assert_eq!(
        server_seen,
        vec![
            Seen::Subscribe(Bytes::from_static(b"news")),
            Seen::Message(vec![
                Bytes::from_static(b"part-1"),
                Bytes::from_static(b"part-2")
            ]),
        ]
    );
    assert_eq!(
        client_seen,
        vec![Seen::Message(vec![
            Bytes::from_static(b"news"),
            Bytes::from_static(b"x")
        ])]
    );
    let frames: BTreeMap<Dir, Vec<WireFrame>> = [Dir::ClientToServer, Dir::ServerToClient]
        .into_iter()
        .map(|d| (d, split_stream(l.capture.stream(d))))
        .collect();
    let names = |d: Dir| -> Vec<String> {
        frames[&d]
            .iter()
            .map(|f| f.name().unwrap_or_default())
            .collect()
    };
    // Client: HELLO, INITIATE, then SUBSCRIBE, two parts and PING, each in a MESSAGE box.
    // Server: WELCOME, READY, then PONG and two parts.
    assert_eq!(
        names(Dir::ClientToServer),
        ["HELLO", "INITIATE", "MESSAGE", "MESSAGE", "MESSAGE", "MESSAGE"]
    );
    assert_eq!(
        names(Dir::ServerToClient),
        ["WELCOME", "READY", "MESSAGE", "MESSAGE", "MESSAGE"]
    );
    Honest {
        capture: l.capture.clone(),
        trace: l.trace.clone().unwrap(),
        frames,
        seen: [
            (Dir::ClientToServer, server_seen),
            (Dir::ServerToClient, client_seen),
        ]
        .into_iter()
        .collect(),
        configs,
        now: l.pair.now,
    }
}

#[test]
fn fixed_ephemeral_transcripts_repeat_so_a_replay_is_the_honest_peer() {
    // The premise of the session sweeps: two runs write the same octets, and a fresh session
    // fed one side's recording ends exactly as the live receiver did.
    let (a, b) = (honest(), &record());
    assert_eq!(a.capture.c2s, b.capture.c2s);
    assert_eq!(a.capture.s2c, b.capture.s2c);
    for dir in [Dir::ClientToServer, Dir::ServerToClient] {
        let (mut rx, events, error) = replay(a, dir, None);
        assert_eq!(error, None, "{dir:?}");
        assert!(rx.is_ready());
        assert_eq!(seen(&events), a.seen[&dir], "{dir:?}");
        // It answered exactly as the live side did, as far as its input took it.
        let out = take_output(&mut rx);
        let live = a.capture.stream(match dir {
            Dir::ClientToServer => Dir::ServerToClient,
            Dir::ServerToClient => Dir::ClientToServer,
        });
        assert!(
            out.len() > GREETING_LEN + 200,
            "{dir:?}: {} octets",
            out.len()
        );
        assert!(
            live.starts_with(&out),
            "{dir:?}: the replayed receiver wrote other octets"
        );
    }
}

/// Feeds direction `dir` of the honest recording, with one octet flipped when asked, to a fresh
/// receiving session.
fn replay(
    h: &Honest,
    dir: Dir,
    flip: Option<(usize, u8)>,
) -> (zmtp_core::Session, Vec<zmtp_core::Event>, Option<Error>) {
    let config = match dir {
        Dir::ClientToServer => &h.configs.1,
        Dir::ServerToClient => &h.configs.0,
    };
    let mut stream = h.capture.stream(dir).to_vec();
    if let Some((offset, mask)) = flip {
        stream[offset] ^= mask;
    }
    let mut rx = session(config, h.now);
    let (events, error) = feed(&mut rx, &stream, h.now);
    (rx, events, error)
}

/// How a tampered run ended for the receiver.
#[derive(Debug)]
enum Verdict {
    /// A typed error (its kind).
    Refused(String),
    /// The altered size made the receiver wait for octets that never came.
    Stalled,
    /// Nothing changed (an ignored outer flag).
    Unchanged,
}

fn kind(e: &Error) -> String {
    let first_word = |text: String| -> String {
        text.split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    match e {
        Error::Protocol(p) => format!("Protocol::{}", first_word(format!("{p:?}"))),
        other => first_word(format!("{other:?}")),
    }
}

/// Flips `mask` at `offset` of direction `dir` and checks what the receiver did.
fn check(h: &Honest, dir: Dir, offset: usize, mask: u8) -> Verdict {
    let what = format!("{dir:?} offset {offset} mask {mask:#04x}");
    let frame = h.frames[&dir]
        .iter()
        .find(|f| f.range().contains(&offset))
        .unwrap();
    let at = offset - frame.offset;
    let traffic = frame.name().as_deref() == Some("MESSAGE");
    let honest_seen = &h.seen[&dir];
    let (mut rx, events, error) = replay(h, dir, Some((offset, mask)));
    let got = seen(&events);
    // Never an altered, extra or repeated message.
    assert!(
        got.len() <= honest_seen.len() && got[..] == honest_seen[..got.len()],
        "{what}: the receiver saw {got:?}"
    );

    // The outer MORE and COMMAND bits of a MESSAGE frame are not authenticated; libzmq sends
    // 0x00 and the box carries the real flags, so the receiver ignores them: nothing changes.
    if traffic && at == 0 && (mask == 0x01 || mask == 0x04) {
        assert_eq!(error, None, "{what}");
        assert_eq!(&got, honest_seen, "{what}");
        return Verdict::Unchanged;
    }

    // Every other octet is protected: nothing from the altered frame on is delivered.
    let before = h.trace.before(dir, frame.offset);
    assert!(
        got.len() <= before,
        "{what}: {} events delivered, only {before} precede the altered frame",
        got.len()
    );
    match error {
        Some(e) => {
            assert!(
                matches!(e, Error::Protocol(_) | Error::LimitExceeded { .. }),
                "{what}: not a protocol or limit error: {e:?}"
            );
            assert_eq!(rx.error(), Some(&e), "{what}: the error is sticky");
            Verdict::Refused(kind(&e))
        }
        None => {
            // Only a header can do this: the size octet(s), or the LONG bit making the size
            // eight octets, announcing a frame that ends past everything that was sent.
            let long = frame.flags & 0x02 != 0;
            let in_size = if long { (1..9).contains(&at) } else { at == 1 };
            let long_bit = at == 0 && mask == 0x02;
            assert!(
                in_size || long_bit,
                "{what} ({at} into {:?}): no error, yet not a header octet",
                frame.name()
            );
            let mut stream = h.capture.stream(dir).to_vec();
            stream[offset] ^= mask;
            let now_long = long != long_bit;
            let (header, len) = if now_long {
                let mut size = [0u8; 8];
                size.copy_from_slice(&stream[frame.offset + 1..frame.offset + 9]);
                (9, u64::from_be_bytes(size) as usize)
            } else {
                (2, usize::from(stream[frame.offset + 1]))
            };
            assert!(
                frame.offset + header + len > stream.len(),
                "{what}: the altered frame fits in what was sent, yet nothing refused it"
            );
            // The stall ends in a typed error: the handshake timer, or the end of the stream.
            if rx.is_ready() {
                assert_eq!(rx.handle_eof(), Error::PeerClosed, "{what}");
            } else {
                let later = h.now + Duration::from_secs(31);
                assert_eq!(
                    rx.handle_timeout(later),
                    Err(Error::HandshakeTimeout),
                    "{what}"
                );
            }
            Verdict::Stalled
        }
    }
}

/// Which flips to make in one frame: (offset in the stream, mask).
type Plan = Vec<(usize, u8)>;

/// One flip per octet of `frame` whose offset `keep` accepts, the flipped bit cycling through
/// all eight positions along the frame, and all eight bits of its flags octet.
fn every_octet(frame: &WireFrame, keep: impl Fn(usize) -> bool) -> Plan {
    let mut plan = Plan::new();
    for offset in frame.range().filter(|&o| keep(o)) {
        if offset == frame.offset {
            plan.extend((0..8).map(|b| (offset, 1u8 << b)));
        } else {
            plan.push((offset, 1u8 << (offset % 8)));
        }
    }
    plan
}

/// The session-level flips of a MESSAGE frame (its box is swept bit by bit on the codec): the
/// flags octet's MORE, LONG and COMMAND bits and two reserved ones, the size octet growing and
/// shrinking, the name's length and a letter, the nonce's last octet, a tag octet and the last
/// ciphertext octet.
fn message_plan(frame: &WireFrame) -> Plan {
    assert_eq!(frame.header_len, 2, "the scenario's frames are short");
    let o = frame.offset;
    let body = o + 2;
    let mut plan: Plan = [0x01, 0x02, 0x04, 0x08, 0x80]
        .into_iter()
        .map(|m| (o, m))
        .collect();
    plan.extend([(o + 1, 0x80), (o + 1, 0x01)]);
    plan.extend([(body, 0x01), (body + 3, 0x20)]);
    plan.push((body + 15, 0x01));
    plan.push((body + 16, 0x40));
    plan.push((frame.range().end - 1, 0x02));
    plan
}

/// Runs `plan` in direction `dir`; returns how often each verdict came.
fn sweep(h: &Honest, dir: Dir, plan: Plan) -> BTreeMap<String, usize> {
    let mut verdicts = BTreeMap::<String, usize>::new();
    let runs = plan.len();
    for (offset, mask) in plan {
        let key = match check(h, dir, offset, mask) {
            Verdict::Refused(k) => k,
            other => format!("{other:?}"),
        };
        *verdicts.entry(key).or_default() += 1;
    }
    eprintln!("{dir:?}: {runs} flips: {verdicts:?}");
    assert!(runs > 0);
    verdicts
}

fn refused(v: &BTreeMap<String, usize>) -> usize {
    v.iter()
        .filter(|(k, _)| k.starts_with("Protocol::") || k.as_str() == "LimitExceeded")
        .map(|(_, n)| n)
        .sum()
}

/// The honest frame named `name` in direction `dir`.
fn frame<'h>(h: &'h Honest, dir: Dir, name: &str) -> &'h WireFrame {
    h.frames[&dir]
        .iter()
        .find(|f| f.name().as_deref() == Some(name))
        .unwrap()
}

/// Sweeps every octet of handshake command `name` that `keep` accepts; all must be refused
/// (stalls allowed only as `check` allows them).
fn handshake_sweep(dir: Dir, name: &str, keep: impl Fn(usize, &WireFrame) -> bool) -> usize {
    let h = honest();
    let f = frame(h, dir, name);
    let v = sweep(h, dir, every_octet(f, |o| keep(o, f)));
    assert!(!v.contains_key("Unchanged"), "{name}: {v:?}");
    let stalls = v.get("Stalled").copied().unwrap_or(0);
    assert!(
        stalls <= 2,
        "{name}: stalls come only from the size octet: {v:?}"
    );
    refused(&v)
}

#[test]
fn every_altered_octet_of_hello_and_ready_is_refused() {
    // HELLO: 202 octets; READY: 2 + 30 + the server's 20 octets of metadata.
    assert!(handshake_sweep(Dir::ClientToServer, "HELLO", |_, _| true) >= 200);
    assert!(handshake_sweep(Dir::ServerToClient, "READY", |_, _| true) >= 50);
}

#[test]
fn every_altered_octet_of_welcome_is_refused() {
    assert!(handshake_sweep(Dir::ServerToClient, "WELCOME", |_, _| true) >= 170);
}

#[test]
fn every_altered_octet_of_initiate_up_to_its_box_is_refused() {
    // Header, name, cookie (nonce, tag, box), short nonce, and the INITIATE box's tag.
    let n = handshake_sweep(Dir::ClientToServer, "INITIATE", |o, f| {
        o < f.body_range().start + 9 + 96 + 8 + 16
    });
    assert!(n >= 130, "{n}");
}

#[test]
fn every_altered_octet_of_initiate_in_its_box_is_refused() {
    // The client's key, the vouch (nonce, tag, box) and the metadata.
    let n = handshake_sweep(Dir::ClientToServer, "INITIATE", |o, f| {
        o >= f.body_range().start + 9 + 96 + 8 + 16
    });
    assert!(n >= 140, "{n}");
}

#[test]
fn altered_traffic_frames_are_refused_by_the_session() {
    // Session level, both ways, on every MESSAGE frame: SUBSCRIBE, two parts and PING from the
    // client; PONG and two parts from the server.
    let h = honest();
    let mut totals = Vec::new();
    for dir in [Dir::ClientToServer, Dir::ServerToClient] {
        let plan: Plan = h.frames[&dir]
            .iter()
            .filter(|f| f.name().as_deref() == Some("MESSAGE"))
            .flat_map(message_plan)
            .collect();
        totals.push(sweep(h, dir, plan));
    }
    let (c2s, s2c) = (&totals[0], &totals[1]);
    // Exactly the two ignored outer bits of each MESSAGE frame change nothing.
    assert_eq!(c2s.get("Unchanged").copied(), Some(2 * 4), "{c2s:?}");
    assert_eq!(s2c.get("Unchanged").copied(), Some(2 * 3), "{s2c:?}");
    for v in [c2s, s2c] {
        for k in [
            "Protocol::Cryptographic",
            "Protocol::UnexpectedCommand",
            "Protocol::ReservedFlags",
            "LimitExceeded",
        ] {
            assert!(v.contains_key(k), "{k}: {v:?}");
        }
    }
    // The nonce 3 → 2 alteration of the client's first MESSAGE is a replayed nonce.
    assert!(c2s.contains_key("Protocol::InvalidSequence"), "{c2s:?}");
}

// ---- The MESSAGE boxes, every bit of every octet, on the codecs of a real handshake ----

fn context(socket_type: SocketType, peer_is_server: bool) -> HandshakeContext {
    HandshakeContext {
        socket_type,
        local_metadata: Metadata::new()
            .with("Socket-Type", socket_type.as_str().as_bytes().to_vec())
            .unwrap(),
        peer_greeting: Greeting::ours(MechanismName::CURVE, peer_is_server),
        zap_domain: None,
        max_properties: 64,
        now: Instant::now(),
    }
}

/// The traffic codecs of both sides after a real handshake (system randomness).
fn codecs() -> (Box<dyn MessageCodec>, Box<dyn MessageCodec>) {
    let (ck, sk) = (client_keys(), server_keys());
    let now = Instant::now();
    let mut c = CurveClientConfig::new(ck.secret.clone(), sk.public)
        .start(context(SocketType::Xsub, true))
        .unwrap();
    let mut s = CurveServerConfig::new(sk.secret.clone())
        .start(context(SocketType::Xpub, false))
        .unwrap();
    for _ in 0..4 {
        while let Some(body) = c.poll_command() {
            s.handle_command(Command::parse(body).unwrap(), now)
                .unwrap();
        }
        while let Some(body) = s.poll_command() {
            c.handle_command(Command::parse(body).unwrap(), now)
                .unwrap();
        }
    }
    assert!(c.is_ready() && s.is_ready());
    (
        c.into_established().unwrap().codec,
        s.into_established().unwrap().codec,
    )
}

/// The wire frame a codec queues for `frame`, decoded back into a frame by the real decoder.
fn seal(codec: &mut dyn MessageCodec, frame: Frame) -> Frame {
    let mut q = TransmitQueue::new();
    codec.seal(frame, &mut q).unwrap();
    let mut wire = BytesMut::new();
    while let Some(chunk) = q.pop() {
        wire.extend_from_slice(&chunk);
    }
    let limits = FrameLimits {
        max_data: 1 << 20,
        max_command: 1 << 20,
        data_limit_is_message: false,
        commands_only: false,
    };
    let out = FrameDecoder::new()
        .decode(&mut wire, limits)
        .unwrap()
        .unwrap();
    assert!(wire.is_empty());
    out
}

/// Every single-bit alteration, every truncation and an extension of `sealed` is refused by
/// `rx` with a typed error; then the honest box opens to `plain`. Returns the kinds seen.
fn every_bit(
    rx: &mut dyn MessageCodec,
    sealed: &Frame,
    plain: &Frame,
    kinds: &mut BTreeMap<String, usize>,
) {
    let body = &sealed.body;
    for i in 0..body.len() {
        for bit in 0..8 {
            let mut altered = body.to_vec();
            altered[i] ^= 1 << bit;
            let r = rx.open(Frame::data(Bytes::from(altered), false));
            let e = r.expect_err(&format!("octet {i} bit {bit} of {:?} opened", plain.body));
            assert!(matches!(e, Error::Protocol(_)), "{e:?}");
            *kinds.entry(kind(&e)).or_default() += 1;
        }
    }
    for len in 0..body.len() {
        let r = rx.open(Frame::data(body.slice(..len), false));
        assert!(
            matches!(r, Err(Error::Protocol(_))),
            "truncated to {len}: {r:?}"
        );
    }
    let mut longer = body.to_vec();
    longer.push(0);
    assert!(matches!(
        rx.open(Frame::data(Bytes::from(longer), false)),
        Err(Error::Protocol(ProtocolError::Cryptographic))
    ));
    // A refused box leaves the codec as it was: the honest one still opens, exactly.
    assert_eq!(rx.open(sealed.clone()).as_ref(), Ok(plain));
}

#[test]
fn every_bit_of_every_message_box_both_ways_is_refused_by_the_codec() {
    let (mut client, mut server) = codecs();
    let c2s = [
        Frame::command(Command::encode("SUBSCRIBE", b"news")),
        Frame::data(Bytes::from_static(b"part-1"), true),
        Frame::data(Bytes::from_static(b"part-2"), false),
        Frame::command(
            Ping {
                ttl_deciseconds: 0,
                context: Bytes::new(),
            }
            .encode(),
        ),
    ];
    let s2c = [
        Frame::command(encode_pong(b"")),
        Frame::data(Bytes::from_static(b"news"), true),
        Frame::data(Bytes::from_static(b"x"), false),
    ];
    let mut kinds = BTreeMap::new();
    for plain in c2s {
        let sealed = seal(&mut *client, plain.clone());
        every_bit(&mut *server, &sealed, &plain, &mut kinds);
    }
    for plain in s2c {
        let sealed = seal(&mut *server, plain.clone());
        every_bit(&mut *client, &sealed, &plain, &mut kinds);
    }
    eprintln!("{kinds:?}");
    // The name, the nonce and the box each have their refusal.
    for k in [
        "Protocol::UnexpectedCommand",
        "Protocol::InvalidSequence",
        "Protocol::Cryptographic",
    ] {
        assert!(kinds.contains_key(k), "{k}: {kinds:?}");
    }
}

// ---- Frames injected by a third party ----

/// A deterministic stream of octets (xorshift), for "random" boxes that reproduce.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A well-formed MESSAGE wire frame: name, short nonce `n`, then `boxed` (tag and ciphertext).
fn message_frame(flags: u8, n: u64, boxed: &[u8]) -> Vec<u8> {
    let mut body = b"\x07MESSAGE".to_vec();
    body.extend_from_slice(&n.to_be_bytes());
    body.extend_from_slice(boxed);
    let mut wire = vec![flags, body.len() as u8];
    assert!(body.len() < 256);
    wire.extend_from_slice(&body);
    wire
}

/// DEALER-ROUTER CURVE configs with system randomness, made once.
fn live_configs() -> &'static (SessionConfig, SessionConfig) {
    static CONFIGS: std::sync::OnceLock<(SessionConfig, SessionConfig)> =
        std::sync::OnceLock::new();
    CONFIGS.get_or_init(|| {
        curve_configs(
            &client_keys(),
            &server_keys(),
            (SocketType::Dealer, SocketType::Router),
        )
    })
}

fn live_pair() -> Pair {
    let (c, s) = live_configs().clone();
    let mut p = Pair::new(c, s);
    assert!(p.handshake());
    p
}

#[test]
fn injected_messages_with_random_boxes_are_refused_both_ways() {
    // The client's first MESSAGE nonce is 3 (HELLO 1, INITIATE 2), the server's 2 (READY 1).
    for (to_server, first_nonce) in [(true, 3u64), (false, 2u64)] {
        for (i, (flags, nonce)) in [
            (0x00, first_nonce),
            (0x00, first_nonce + 1000),
            (0x04, first_nonce),
            (0x01, u64::MAX),
        ]
        .into_iter()
        .enumerate()
        {
            let mut p = live_pair();
            let forged = message_frame(flags, nonce, &noise(i as u64 + 7, 16 + 1 + 12));
            let rx = if to_server {
                &mut p.server
            } else {
                &mut p.client
            };
            let (events, error) = feed(&mut rx.session, &forged, p.now);
            assert_eq!(
                error,
                Some(Error::Protocol(ProtocolError::Cryptographic)),
                "to server {to_server}, flags {flags:#04x}, nonce {nonce}"
            );
            assert_eq!(seen(&events), vec![]);
            // The connection is over: the honest traffic that follows is not taken either.
            let tx = if to_server {
                &mut p.client
            } else {
                &mut p.server
            };
            tx.session
                .send_message(vec![Bytes::from_static(b"honest")])
                .unwrap();
            let honest = take_output(&mut tx.session);
            let rx = if to_server {
                &mut p.server
            } else {
                &mut p.client
            };
            let (events, error) = feed(&mut rx.session, &honest, p.now);
            assert_eq!(error, Some(Error::Protocol(ProtocolError::Cryptographic)));
            assert_eq!(seen(&events), vec![]);
        }
    }
}

#[test]
fn a_box_from_another_connection_or_the_other_direction_is_refused() {
    // Same long-term keys, same server configuration, same nonce: a MESSAGE sealed for another
    // connection does not open, nor does the server's own MESSAGE reflected back to it.
    let (c, s) = live_configs().clone();
    let mut victim = Pair::new(c.clone(), s.clone());
    let mut other = Pair::new(c, s);
    assert!(victim.handshake() && other.handshake());
    other
        .client
        .session
        .send_message(vec![Bytes::from_static(b"from the other connection")])
        .unwrap();
    let spliced = take_output(&mut other.client.session);
    assert_eq!(
        &spliced[10..18],
        &3u64.to_be_bytes(),
        "the nonce the victim expects"
    );
    let (events, error) = feed(&mut victim.server.session, &spliced, victim.now);
    assert_eq!(error, Some(Error::Protocol(ProtocolError::Cryptographic)));
    assert!(seen(&events).is_empty());

    let mut p = live_pair();
    // Nonce 3 from the server, above what the server will have seen from the client (2).
    p.server
        .session
        .send_message(vec![Bytes::from_static(b"one")])
        .unwrap();
    p.server
        .session
        .send_message(vec![Bytes::from_static(b"two")])
        .unwrap();
    let reflected = take_output(&mut p.server.session);
    let second = &reflected[reflected.len() / 2..];
    assert_eq!(&second[10..18], &3u64.to_be_bytes());
    let (events, error) = feed(&mut p.server.session, second, p.now);
    assert_eq!(error, Some(Error::Protocol(ProtocolError::Cryptographic)));
    assert!(seen(&events).is_empty());
}

#[test]
fn injected_plaintext_frames_and_handshake_commands_during_traffic_are_refused() {
    for (what, wire, expected) in [
        (
            "a plaintext data frame",
            b"\x00\x0d\x05hello, world".to_vec(),
            ProtocolError::UnexpectedCommand {
                expected: "MESSAGE",
                got: "hello".into(),
            },
        ),
        (
            "a plaintext SUBSCRIBE",
            b"\x04\x0e\x09SUBSCRIBEnews".to_vec(),
            ProtocolError::UnexpectedCommand {
                expected: "MESSAGE",
                got: "SUBSCRIBE".into(),
            },
        ),
        (
            "a plaintext PING",
            b"\x04\x07\x04PING\x00\x00".to_vec(),
            ProtocolError::UnexpectedCommand {
                expected: "MESSAGE",
                got: "PING".into(),
            },
        ),
        (
            "a MESSAGE too short for a box",
            message_frame(0x00, 3, &[0u8; 16]),
            ProtocolError::MalformedCommand(zmtp_core::error::MalformedKind::Message),
        ),
    ] {
        let mut p = live_pair();
        let (events, error) = feed(&mut p.server.session, &wire, p.now);
        assert_eq!(error, Some(Error::Protocol(expected)), "{what}");
        assert!(seen(&events).is_empty(), "{what}");
    }
}

#[test]
fn a_forged_ready_or_welcome_is_refused_by_the_client() {
    // The attacker answers the client's HELLO himself, with boxes he cannot have made.
    let (c, s) = live_configs().clone();
    let c = Arc::new(c);
    let s = Arc::new(s);
    let now = Instant::now();
    let mut client = session(&c, now);
    let mut server = session(&s, now);
    let server_greeting = take_output(&mut server);
    let (_, error) = feed(&mut client, &server_greeting, now);
    assert_eq!(error, None);
    let mut welcome = vec![0x04, 168];
    welcome.extend_from_slice(b"\x07WELCOME");
    welcome.extend_from_slice(&noise(99, 160));
    let (events, error) = feed(&mut client, &welcome, now);
    assert_eq!(error, Some(Error::Protocol(ProtocolError::Cryptographic)));
    assert!(events.is_empty() && !client.is_ready());
}
