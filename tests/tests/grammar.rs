//! Inputs derived from the grammars in `rfcs/abnf/`, against the real parsers and encoders.
//!
//! - Every valid derivation parses, with the fields it was derived with, and re-encodes to the
//!   same octets where an encoder exists.
//! - Every near-valid input (one mutation at a grammar boundary) gets a typed error or a valid
//!   parse, never a panic; and whether a parser accepts it is held to whether the grammar
//!   derives it. Where a parser is deliberately laxer than the grammar, the laxness is written
//!   below as a grammar of its own (`LAX`), so the verdicts are still checked both ways.
//! - What our encoders emit (greetings, PLAIN and CURVE commands, MESSAGE boxes) derives from
//!   the grammar.
//!
//! Seeds are fixed: a failure names the seed and the input, and reproduces.

use std::collections::BTreeSet;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use zmtp_core::wire::command::{encode_error, encode_pong, parse_error_reason, Command, Ping};
use zmtp_core::wire::frame::{encode_frame, Frame, FrameDecoder, FrameLimits};
use zmtp_core::wire::greeting::GreetingDecoder;
use zmtp_core::{
    AuthReply, Error, Greeting, HandshakeContext, Mechanism, MechanismConfig, MechanismName,
    Metadata, ProtocolError, SocketType, TransmitQueue,
};
use zmtp_mechanisms::{
    CurveClientConfig, CurveSecretKey, CurveServerConfig, PlainClientConfig, PlainServerConfig,
};
use zmtp_tests::abnf::{parse_dictionary, Generator, Grammar, Mutant, Node, SEED_PREFIX};
use zmtp_tests::repo_root;

const SEEDS: u64 = 300;

/// CURVE steps that need a real key agreement per input are slower in debug builds.
const CURVE_SEEDS: u64 = 16;

const LIMITS: FrameLimits = FrameLimits {
    max_data: 1 << 20,
    max_command: 1 << 16,
    data_limit_is_message: false,
    commands_only: false,
};

/// Productions over `rfc23-zmtp.abnf` for these tests and the fuzz corpora: a frame of either
/// kind, a stream of them, and what the `command` fuzz target takes.
const ZMTP_EXTRA: &str = "\
frame         = more-frame / final-frame / command
frames        = *frame
frame-stream  = 1*4frame
command-seed  = ready / error / ping / pong / subscribe / cancel / command-body
";

/// What the frame decoder reads: frames whose command bodies are opaque (they are parsed a
/// layer up, by `Command::parse`).
const FRAMING: &str = "\
raw-frames    = *raw-frame
raw-frame     = more-frame / final-frame / raw-command
raw-command   = %x04 short-size body / %x06 long-size body
";

/// What our ZMTP parsers accept where they are laxer than the grammar: `Command::parse` takes
/// any octets as a command name (RFC 23 has ALPHA); ERROR's reason may hold any octets (RFC 23
/// has VCHAR); a PING context may be longer than 16 octets and is cut to 16 (DEV-ZMTP-3), and
/// a PONG's is not looked at. A parser is held between the two grammars: it accepts every
/// derivation of the grammar, and nothing the lax grammar does not derive.
const LAX: &str = "\
lax-command   = lax-name command-data
lax-name      = name-length 1*255OCTET
lax-error     = %d5 %s\"ERROR\" lax-reason
lax-reason    = reason-length 0*255OCTET
lax-ping      = %d4 %s\"PING\" ping-ttl *OCTET
lax-pong      = %d4 %s\"PONG\" *OCTET
";

fn file(name: &str) -> String {
    let path = repo_root().join("rfcs/abnf").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn grammar(files: &[&str], extra: &[&str]) -> Grammar {
    let texts: Vec<String> = files.iter().map(|f| file(f)).collect();
    let mut refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    refs.extend_from_slice(extra);
    Grammar::parse_all(&refs).unwrap_or_else(|e| panic!("{files:?}: {e}"))
}

fn zmtp() -> Grammar {
    grammar(&["rfc23-zmtp.abnf"], &[ZMTP_EXTRA, FRAMING, LAX])
}

fn plain() -> Grammar {
    grammar(&["rfc23-zmtp.abnf", "rfc24-plain.abnf"], &[])
}

fn curve() -> Grammar {
    grammar(&["rfc25-curve.abnf"], &[])
}

fn z85() -> Grammar {
    grammar(&["rfc32-z85.abnf"], &[])
}

fn zap() -> Grammar {
    grammar(&["rfc27-zap.abnf"], &[])
}

/// Counts how near-valid inputs fell, so that a test whose mutations never bite fails.
#[derive(Debug, Default)]
struct Tally {
    derived: usize,
    refused: usize,
}

impl Tally {
    fn add(&mut self, derives: bool) {
        if derives {
            self.derived += 1;
        } else {
            self.refused += 1;
        }
    }

    fn assert_both(&self, what: &str) {
        assert!(
            self.derived > 0 && self.refused > 0,
            "{what}: near-valid inputs should fall both ways: {self:?}"
        );
    }

    /// For a rule without repetition, where every mutation breaks the derivation.
    fn assert_refused(&self, what: &str) {
        assert!(
            self.refused > 0,
            "{what}: no near-valid input was refused: {self:?}"
        );
    }
}

/// Every rule reachable from `start`, lower-cased.
fn reachable(g: &Grammar, start: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![start.to_ascii_lowercase()];
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let mut stack = vec![&g.rule(&name).expect("defined").node];
        while let Some(node) = stack.pop() {
            match node {
                Node::Rule(r) => todo.push(r.clone()),
                Node::Alt(v) | Node::Cat(v) => stack.extend(v),
                Node::Rep { node, .. } => stack.push(node),
                Node::Lit { .. } | Node::Range(..) => {}
            }
        }
    }
    seen
}

#[test]
fn every_derivation_of_every_rule_derives_and_covers_its_grammar() {
    let grammars = [
        (
            "zmtp",
            zmtp(),
            vec!["zmtp", "frame-stream", "command-seed", "metadata"],
        ),
        (
            "plain",
            plain(),
            vec!["hello", "welcome", "initiate", "ready", "error"],
        ),
        (
            "curve",
            curve(),
            vec!["hello", "welcome", "initiate", "ready", "message"],
        ),
        ("z85", z85(), vec!["z85-text", "z85-binary"]),
        ("zap", zap(), vec!["zap-request", "zap-reply"]),
    ];
    for (what, g, starts) in &grammars {
        // The generator and the recogniser agree on every rule.
        for rule in g.own_rules() {
            for seed in 0..20 {
                let mut gen = Generator::new(g, seed);
                if rule.notes.frames {
                    let frames = gen.frames(&rule.name);
                    assert!(
                        g.matches_frames(&rule.name, &frames),
                        "{what} {}",
                        rule.name
                    );
                } else {
                    let input = gen.bytes(&rule.name);
                    assert!(
                        g.matches(&rule.name, &input),
                        "{what} {} seed {seed}: {input:02x?}",
                        rule.name
                    );
                }
            }
        }
        // The main productions reach every rule under them.
        for start in starts {
            let mut used = BTreeSet::new();
            for seed in 0..SEEDS {
                let mut gen = Generator::new(g, seed);
                if g.rule(start).unwrap().notes.frames {
                    for d in gen.derive_frames(start) {
                        used.extend(d.rules_used());
                    }
                } else {
                    used.extend(gen.derive(start).rules_used());
                }
            }
            let used: BTreeSet<String> = used.iter().map(|r| r.to_ascii_lowercase()).collect();
            let mut missed: Vec<String> = reachable(g, start)
                .into_iter()
                .filter(|r| !used.contains(r) && !g.rule(r).unwrap().notes.frames)
                .collect();
            // Core rules reachable only inside ones the test reaches are fine to miss.
            missed.retain(|r| g.rule(r).unwrap().line != 0);
            assert!(
                missed.is_empty(),
                "{what} {start}: never derived {missed:?}"
            );
        }
    }
}

#[test]
fn greetings_parse_with_their_fields() {
    let g = zmtp();
    for seed in 0..SEEDS {
        let input = Generator::new(&g, seed).bytes("greeting");
        assert_eq!(input.len(), 64, "seed {seed}");
        let greeting = GreetingDecoder::new()
            .decode(&mut BytesMut::from(&input[..]))
            .unwrap_or_else(|e| panic!("seed {seed}: {e:?} for {input:02x?}"))
            .unwrap_or_else(|| panic!("seed {seed}: incomplete"));
        assert_eq!(greeting.major, 3);
        assert_eq!(greeting.minor, input[11]);
        assert_eq!(&greeting.mechanism[..], &input[12..32]);
        assert_eq!(greeting.as_server, input[32] == 1);
        // Re-encoded, only the padding (never validated, sent as zeros) may differ.
        let mut out = BytesMut::new();
        greeting.encode(&mut out);
        assert_eq!(out[0], input[0]);
        assert_eq!(&out[9..], &input[9..], "seed {seed}");
        // Whole and octet by octet give the same verdict.
        zmtp_core::fuzzing::greeting(&input);
    }
    // What we send derives from the grammar.
    for mechanism in [
        MechanismName::NULL,
        MechanismName::PLAIN,
        MechanismName::CURVE,
    ] {
        for as_server in [false, true] {
            let mut out = BytesMut::new();
            Greeting::ours(mechanism, as_server).encode(&mut out);
            assert!(g.matches("greeting", &out), "{mechanism} {as_server}");
        }
    }
}

/// What the greeting decoder accepts: the grammar's greetings, and also what it deliberately
/// leaves unchecked (padding, octet 10 beyond bit 0, higher versions, the mechanism octets,
/// as-server and filler; see DEV-ZMTP-1/2 and ZMTP-2/3/4).
fn greeting_decoder_accepts(input: &[u8]) -> bool {
    input.len() >= 64 && input[0] == 0xFF && input[9] & 1 == 1 && input[10] >= 3
}

#[test]
fn near_valid_greetings_are_refused_or_parsed_as_the_grammar_says() {
    let g = zmtp();
    let mut tally = Tally::default();
    for seed in 0..SEEDS {
        let m = Generator::new(&g, seed).near_valid("greeting");
        zmtp_core::fuzzing::greeting(&m.bytes);
        let verdict = GreetingDecoder::new().decode(&mut BytesMut::from(&m.bytes[..]));
        let derives = g.matches("greeting", &m.bytes);
        tally.add(derives);
        let accepted = matches!(verdict, Ok(Some(_)));
        if derives {
            assert!(accepted, "seed {seed}: {m:?} derives but gives {verdict:?}");
        }
        assert_eq!(
            accepted,
            greeting_decoder_accepts(&m.bytes),
            "seed {seed}: {m:?} gives {verdict:?}"
        );
        if m.bytes.len() < 64 {
            assert!(!matches!(verdict, Ok(Some(_))), "seed {seed}: {m:?}");
        }
    }
    tally.assert_both("greeting");
}

/// Decodes a whole stream: the frames, or why not (`Ok(None)`: it ends inside a frame).
fn decode_stream(input: &[u8]) -> Result<Option<Vec<(Frame, usize)>>, Error> {
    let mut src = BytesMut::from(input);
    let mut decoder = FrameDecoder::new();
    let mut frames = Vec::new();
    while !src.is_empty() {
        let before = src.len();
        match decoder.decode(&mut src, LIMITS)? {
            Some(frame) => frames.push((frame, before - src.len())),
            None => return Ok(None),
        }
    }
    Ok(decoder.is_idle().then_some(frames))
}

#[test]
fn frame_streams_decode_and_reencode_identically() {
    let g = zmtp();
    let mut long_bodies = 0;
    for seed in 0..SEEDS {
        let mut gen = Generator::new(&g, seed);
        if seed % 4 == 0 {
            // Room for bodies past 255 octets, which take the long form.
            gen.max_repeat = 400;
        }
        let input = gen.bytes("frame-stream");
        let frames = decode_stream(&input)
            .unwrap_or_else(|e| panic!("seed {seed}: {e:?} for {input:02x?}"))
            .unwrap_or_else(|| panic!("seed {seed}: incomplete {input:02x?}"));
        let mut offset = 0;
        for (frame, used) in &frames {
            let original = &input[offset..offset + used];
            offset += used;
            assert_eq!(frame.command, original[0] & 0x04 != 0);
            assert_eq!(frame.more, original[0] & 0x01 != 0);
            let mut again = BytesMut::new();
            encode_frame(frame, &mut again);
            // The encoder picks the short form up to 255 octets; the grammar also allows the
            // long form there, which decodes to the same frame.
            let long = original[0] & 0x02 != 0;
            if !long || frame.body.len() > 255 {
                assert_eq!(&again[..], original, "seed {seed}");
            } else {
                assert_eq!(decode_stream(&again).unwrap().unwrap()[0].0, *frame);
            }
            if frame.body.len() > 255 {
                long_bodies += 1;
            }
        }
        zmtp_core::fuzzing::frames(&input);
    }
    assert!(long_bodies > 0, "some frames are long");
}

#[test]
fn near_valid_frame_streams_are_refused_exactly_when_their_framing_is_wrong() {
    let g = zmtp();
    let mut tally = Tally::default();
    for seed in 0..SEEDS {
        let m = Generator::new(&g, seed).near_valid("frame-stream");
        zmtp_core::fuzzing::frames(&m.bytes);
        let verdict = decode_stream(&m.bytes);
        let accepted = matches!(verdict, Ok(Some(_)));
        let derives = g.matches("frames", &m.bytes);
        tally.add(derives);
        if derives {
            assert!(accepted, "seed {seed}: {m:?} derives, gives {verdict:?}");
        }
        assert_eq!(
            accepted,
            g.matches("raw-frames", &m.bytes),
            "seed {seed}: {m:?} gives {verdict:?}"
        );
    }
    tally.assert_both("frames");
}

fn command(body: &[u8], name: &str) -> Command {
    let c = Command::parse(Bytes::copy_from_slice(body))
        .unwrap_or_else(|e| panic!("{name}: {e:?} for {body:02x?}"));
    assert!(c.is(name), "{body:02x?}");
    assert_eq!(Command::encode(name, &c.data), body);
    c
}

#[test]
fn commands_parse_and_reencode_identically() {
    let g = zmtp();
    for seed in 0..SEEDS {
        let mut gen = Generator::new(&g, seed);
        let ready = gen.bytes("ready");
        let c = command(&ready, "READY");
        let md = Metadata::decode(c.data.clone(), 256).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(zmtp_core::wire::command::encode_ready(&md), ready);

        let error = gen.bytes("error");
        let c = command(&error, "ERROR");
        let reason = parse_error_reason(c.data.clone()).expect("ERROR reason");
        assert_eq!(reason.len(), usize::from(error[6]));
        assert_eq!(encode_error(&reason), error);

        let ping = gen.bytes("ping");
        let c = command(&ping, "PING");
        let p = Ping::parse(c.data.clone()).expect("PING");
        assert_eq!(p.ttl_deciseconds, u16::from_be_bytes([ping[5], ping[6]]));
        assert_eq!(p.encode(), ping);

        let pong = gen.bytes("pong");
        let c = command(&pong, "PONG");
        assert_eq!(encode_pong(&c.data), pong);

        for (rule, name) in [("subscribe", "SUBSCRIBE"), ("cancel", "CANCEL")] {
            let body = gen.bytes(rule);
            assert_eq!(command(&body, name).data, body[1 + name.len()..]);
        }
        let any = gen.bytes("command-body");
        let c = Command::parse(Bytes::from(any.clone())).expect("any command");
        assert!(c.name.iter().all(u8::is_ascii_alphabetic) && !c.name.is_empty());
        zmtp_core::fuzzing::command(&any);
    }
}

/// A command rule, the name it carries, the lax rule its parser is held to (if laxer), and
/// whether its data parses.
struct CommandCheck {
    rule: &'static str,
    name: &'static str,
    lax: Option<&'static str>,
    data_parses: fn(&Command) -> bool,
}

const COMMAND_CHECKS: [CommandCheck; 5] = [
    CommandCheck {
        rule: "ready",
        name: "READY",
        lax: None,
        data_parses: |c| Metadata::decode(c.data.clone(), 256).is_ok(),
    },
    CommandCheck {
        rule: "error",
        name: "ERROR",
        lax: Some("lax-error"),
        data_parses: |c| parse_error_reason(c.data.clone()).is_ok(),
    },
    CommandCheck {
        rule: "ping",
        name: "PING",
        lax: Some("lax-ping"),
        data_parses: |c| Ping::parse(c.data.clone()).is_ok(),
    },
    CommandCheck {
        rule: "pong",
        name: "PONG",
        lax: Some("lax-pong"),
        data_parses: |_| true,
    },
    CommandCheck {
        rule: "subscribe",
        name: "SUBSCRIBE",
        lax: None,
        data_parses: |_| true,
    },
];

#[test]
fn near_valid_commands_are_refused_as_the_grammar_says() {
    let g = zmtp();
    let mut tallies: [Tally; 5] = Default::default();
    for seed in 0..SEEDS {
        let mut gen = Generator::new(&g, seed);
        for (check, tally) in COMMAND_CHECKS.iter().zip(&mut tallies) {
            let rule = check.rule;
            let m: Mutant = gen.near_valid(rule);
            zmtp_core::fuzzing::command(&m.bytes);
            let accepted = Command::parse(Bytes::from(m.bytes.clone()))
                .is_ok_and(|c| c.is(check.name) && (check.data_parses)(&c));
            let derives = g.matches(rule, &m.bytes);
            tally.add(derives);
            if derives {
                assert!(accepted, "{rule} seed {seed}: {m:?} derives, refused");
            }
            match check.lax {
                // Where the parser is laxer, it accepts nothing beyond the lax grammar.
                Some(lax) if accepted => {
                    assert!(g.matches(lax, &m.bytes), "{rule} seed {seed}: {m:?}")
                }
                Some(_) => {}
                None => assert_eq!(accepted, derives, "{rule} seed {seed}: {m:?}"),
            }
        }
        // The command splitter takes a counted name of any octets, and at least the grammar's.
        let m = gen.near_valid("command-body");
        let accepted = Command::parse(Bytes::from(m.bytes.clone())).is_ok();
        if accepted {
            assert!(g.matches("lax-command", &m.bytes), "seed {seed}: {m:?}");
        }
        if g.matches("command-body", &m.bytes) {
            assert!(accepted, "seed {seed}: {m:?}");
        }
    }
    for (check, tally) in COMMAND_CHECKS.iter().zip(&tallies) {
        tally.assert_both(check.rule);
    }
}

#[test]
fn metadata_is_refused_exactly_when_the_grammar_refuses() {
    let g = zmtp();
    let mut tally = Tally::default();
    for seed in 0..SEEDS {
        let mut gen = Generator::new(&g, seed);
        let input = gen.bytes("metadata");
        let md = Metadata::decode(Bytes::from(input.clone()), 256)
            .unwrap_or_else(|e| panic!("seed {seed}: {e:?} for {input:02x?}"));
        assert_eq!(md.to_bytes(), input);
        let m = gen.near_valid("metadata");
        zmtp_core::fuzzing::metadata(&m.bytes);
        let verdict = Metadata::decode(Bytes::from(m.bytes.clone()), 256);
        let derives = g.matches("metadata", &m.bytes);
        tally.add(derives);
        assert_eq!(
            verdict.is_ok(),
            derives,
            "seed {seed}: {m:?} gives {verdict:?}"
        );
    }
    tally.assert_both("metadata");
}

fn context(mechanism: MechanismName, peer_as_server: bool) -> HandshakeContext {
    HandshakeContext {
        socket_type: SocketType::Dealer,
        local_metadata: Metadata::new()
            .with("Socket-Type", &b"DEALER"[..])
            .expect("valid property"),
        peer_greeting: Greeting::ours(mechanism, peer_as_server),
        zap_domain: None,
        max_properties: 256,
        now: Instant::now(),
    }
}

fn start(config: &dyn MechanismConfig, peer_as_server: bool) -> Box<dyn Mechanism> {
    config
        .start(context(config.name(), peer_as_server))
        .expect("mechanism starts")
}

fn feed(m: &mut Box<dyn Mechanism>, body: &[u8]) -> Result<(), Error> {
    m.handle_command_body(Bytes::copy_from_slice(body), Instant::now())
}

/// The two counted strings of a PLAIN HELLO.
fn hello_fields(hello: &[u8]) -> (&[u8], &[u8]) {
    let user_len = usize::from(hello[6]);
    let user = &hello[7..7 + user_len];
    let pass = &hello[8 + user_len..];
    assert_eq!(usize::from(hello[7 + user_len]), pass.len());
    (user, pass)
}

/// An INITIATE body with `Socket-Type: DEALER` put before its generated properties (a property
/// list followed by a property list is one, so it still derives).
fn with_dealer_socket_type(initiate: &[u8]) -> Vec<u8> {
    let (name, properties) = initiate.split_at(9);
    assert_eq!(name, b"\x08INITIATE");
    [name, b"\x0bSocket-Type\x00\x00\x00\x06DEALER", properties].concat()
}

/// A server's verdict on an INITIATE as far as the grammar goes: the metadata parsed. RFC 23's
/// Socket-Type rule (present and compatible, checked once the metadata parses and before READY)
/// is not the grammar's, so `IncompatibleSocketType` counts as accepted here.
fn grammar_accepts(verdict: Result<(), Error>) -> bool {
    matches!(
        verdict,
        Ok(())
            | Err(Error::Protocol(
                ProtocolError::IncompatibleSocketType { .. }
            ))
    )
}

/// A PLAIN server that has read a HELLO and been told to allow it: INITIATE is next.
fn plain_server_after_hello(g: &Grammar, seed: u64) -> Box<dyn Mechanism> {
    let mut server = start(&PlainServerConfig::new(), false);
    let hello = Generator::new(g, seed).bytes("hello");
    feed(&mut server, &hello).expect("HELLO");
    let request = server.poll_auth_request().expect("asks ZAP");
    let (user, pass) = hello_fields(&hello);
    assert_eq!(request.credentials, [user, pass], "seed {seed}");
    server
        .handle_auth_reply(Ok(AuthReply::allow("user")))
        .expect("allowed");
    let welcome = server.poll_command().expect("WELCOME");
    assert!(g.matches("welcome", &welcome));
    server
}

#[test]
fn plain_commands_drive_both_sides_as_the_grammar_says() {
    let g = plain();
    let mut tallies: [Tally; 4] = Default::default();
    for seed in 0..SEEDS {
        let mut gen = Generator::new(&g, seed);

        // Server: HELLO's fields reach ZAP, INITIATE completes, READY derives. (A Socket-Type
        // the server can talk to goes first: RFC 23 requires it, the grammar cannot.)
        let mut server = plain_server_after_hello(&g, seed);
        let initiate = with_dealer_socket_type(&gen.bytes("initiate"));
        assert!(g.matches("initiate", &initiate), "seed {seed}");
        feed(&mut server, &initiate).expect("INITIATE");
        let ready = server.poll_command().expect("READY");
        assert!(
            g.matches("ready", &ready) && server.is_ready(),
            "seed {seed}"
        );

        let m = gen.near_valid("hello");
        let accepted = feed(&mut start(&PlainServerConfig::new(), false), &m.bytes).is_ok();
        let derives = g.matches("hello", &m.bytes);
        tallies[0].add(derives);
        assert_eq!(accepted, derives, "seed {seed}: {m:?}");

        let m = gen.near_valid("initiate");
        let accepted = grammar_accepts(feed(&mut plain_server_after_hello(&g, seed), &m.bytes));
        let derives = g.matches("initiate", &m.bytes);
        tallies[1].add(derives);
        assert_eq!(accepted, derives, "seed {seed}: {m:?}");

        // Client: what it sends derives; WELCOME, READY and ERROR are read as the grammar says.
        let hello = gen.bytes("hello");
        let (user, pass) = hello_fields(&hello);
        let Ok(config) = PlainClientConfig::new(user, pass) else {
            // Our client refuses empty credentials when configured; the wire allows them.
            assert!(user.is_empty() || pass.is_empty());
            continue;
        };
        let mut client = start(&config, true);
        assert_eq!(client.poll_command().as_deref(), Some(&hello[..]));
        feed(&mut client, &gen.bytes("welcome")).expect("WELCOME");
        let initiate = client.poll_command().expect("INITIATE");
        assert!(g.matches("initiate", &initiate), "seed {seed}");
        if seed % 2 == 0 {
            feed(&mut client, &gen.bytes("ready")).expect("READY");
            assert!(client.is_ready());
        } else {
            let error = gen.bytes("error");
            let reason = String::from_utf8(error[7..].to_vec()).expect("VCHAR");
            match feed(&mut client, &error) {
                Err(Error::PeerRefused { reason: got }) => assert_eq!(got, reason),
                other => panic!("seed {seed}: ERROR gives {other:?}"),
            }
        }

        let m = gen.near_valid("welcome");
        let accepted = feed(&mut start(&config, true), &m.bytes).is_ok();
        let derives = g.matches("welcome", &m.bytes);
        tallies[2].add(derives);
        assert_eq!(accepted, derives, "seed {seed}: {m:?}");

        let m = gen.near_valid("ready");
        let mut client = start(&config, true);
        feed(&mut client, b"\x07WELCOME").expect("WELCOME");
        let accepted = feed(&mut client, &m.bytes).is_ok();
        let derives = g.matches("ready", &m.bytes);
        tallies[3].add(derives);
        assert_eq!(accepted, derives, "seed {seed}: {m:?}");
    }
    tallies[0].assert_both("hello");
    tallies[1].assert_both("initiate");
    tallies[2].assert_refused("welcome");
    tallies[3].assert_both("ready");
}

/// Refused before any box is opened: the command's shape is wrong.
fn refused_for_its_shape(e: &Error) -> bool {
    matches!(
        e,
        Error::Protocol(
            ProtocolError::MalformedCommand(_)
                | ProtocolError::UnexpectedCommand { .. }
                | ProtocolError::TruncatedCommand
        )
    )
}

/// Refused at a box or a nonce: the shape was right, the cryptography not.
fn refused_at_the_box(e: &Error) -> bool {
    matches!(
        e,
        Error::Protocol(
            ProtocolError::Cryptographic
                | ProtocolError::KeyExchange
                | ProtocolError::InvalidSequence
        )
    )
}

/// Holds a CURVE verdict to the grammar: a derivation may only fail at the box, anything
/// else only for its shape.
fn curve_verdict(
    g: &Grammar,
    rule: &str,
    input: &[u8],
    verdict: Result<(), Error>,
    tally: &mut Tally,
) {
    let derives = g.matches(rule, input);
    tally.add(derives);
    match verdict {
        Err(e) if derives => assert!(refused_at_the_box(&e), "{rule} {input:02x?}: {e:?}"),
        Err(e) => assert!(refused_for_its_shape(&e), "{rule} {input:02x?}: {e:?}"),
        Ok(()) => panic!("{rule} {input:02x?}: a made-up box opened"),
    }
}

struct CurveKeys {
    server: CurveServerConfig,
    client: CurveClientConfig,
}

fn curve_keys() -> CurveKeys {
    let server_secret = CurveSecretKey::from_bytes([0x11; 32]).expect("key");
    let server_public = server_secret.public_key();
    let client_secret = CurveSecretKey::from_bytes([0x22; 32]).expect("key");
    CurveKeys {
        server: CurveServerConfig::new(server_secret),
        client: CurveClientConfig::new(client_secret, server_public),
    }
}

#[test]
fn curve_commands_are_refused_at_the_box_exactly_when_well_formed() {
    let g = curve();
    let keys = curve_keys();
    let mut tallies: [Tally; 5] = Default::default();

    // A real handshake: everything both sides send derives from the grammar.
    let mut client = start(&keys.client, true);
    let mut server = start(&keys.server, false);
    let hello = client.poll_command().expect("HELLO");
    assert!(g.matches("hello", &hello), "{hello:02x?}");
    feed(&mut server, &hello).expect("HELLO");
    let welcome = server.poll_command().expect("WELCOME");
    assert!(g.matches("welcome", &welcome), "{welcome:02x?}");
    feed(&mut client, &welcome).expect("WELCOME");
    let initiate = client.poll_command().expect("INITIATE");
    assert!(g.matches("initiate", &initiate), "{initiate:02x?}");
    feed(&mut server, &initiate).expect("INITIATE");
    if server.poll_auth_request().is_some() {
        server
            .handle_auth_reply(Ok(AuthReply::allow("user")))
            .expect("allowed");
    }
    let ready = server.poll_command().expect("READY");
    assert!(g.matches("ready", &ready), "{ready:02x?}");
    feed(&mut client, &ready).expect("READY");
    let mut client_codec = client.into_established().expect("client ready").codec;
    let mut server_codec = server.into_established().expect("server ready").codec;
    let mut queue = TransmitQueue::new();
    client_codec
        .seal(
            Frame::data(Bytes::from_static(b"payload"), true),
            &mut queue,
        )
        .expect("sealed");
    let mut wire = BytesMut::new();
    while let Some(chunk) = queue.pop() {
        wire.extend_from_slice(&chunk);
    }
    let frame = FrameDecoder::new()
        .decode(&mut wire, LIMITS)
        .expect("a frame")
        .expect("whole");
    // RFC 26: MESSAGE travels in a data frame with no flags; MORE goes inside the box.
    assert!(!frame.more && !frame.command);
    assert!(g.matches("message", &frame.body), "{:02x?}", frame.body);
    let opened = server_codec.open(frame).expect("opens");
    assert!(opened.more && &opened.body[..] == b"payload");

    for seed in 0..SEEDS {
        // MESSAGE: the established codec opens no made-up box, and a failed open changes
        // nothing, so one codec serves every seed.
        let mut gen = Generator::new(&g, seed);
        for m in [gen.bytes("message"), gen.near_valid("message").bytes] {
            let verdict = server_codec.open(Frame::data(Bytes::from(m.clone()), false));
            curve_verdict(&g, "message", &m, verdict.map(drop), &mut tallies[0]);
        }
    }
    for seed in 0..CURVE_SEEDS {
        let mut gen = Generator::new(&g, seed);
        let (valid, near) = (gen.bytes("hello"), gen.near_valid("hello"));
        for input in [valid, near.bytes] {
            let verdict = feed(&mut start(&keys.server, false), &input);
            curve_verdict(&g, "hello", &input, verdict, &mut tallies[1]);
        }
        let (valid, near) = (gen.bytes("welcome"), gen.near_valid("welcome"));
        for input in [valid, near.bytes] {
            let verdict = feed(&mut start(&keys.client, true), &input);
            curve_verdict(&g, "welcome", &input, verdict, &mut tallies[2]);
        }
        // INITIATE and READY, each after a real first exchange.
        let (valid, near) = (gen.bytes("initiate"), gen.near_valid("initiate"));
        for input in [valid, near.bytes] {
            let mut client = start(&keys.client, true);
            let mut server = start(&keys.server, false);
            feed(&mut server, &client.poll_command().expect("HELLO")).expect("HELLO");
            let verdict = feed(&mut server, &input);
            curve_verdict(&g, "initiate", &input, verdict, &mut tallies[3]);
        }
        let (valid, near) = (gen.bytes("ready"), gen.near_valid("ready"));
        for input in [valid, near.bytes] {
            let mut client = start(&keys.client, true);
            let mut server = start(&keys.server, false);
            feed(&mut server, &client.poll_command().expect("HELLO")).expect("HELLO");
            feed(&mut client, &server.poll_command().expect("WELCOME")).expect("WELCOME");
            let verdict = feed(&mut client, &input);
            curve_verdict(&g, "ready", &input, verdict, &mut tallies[4]);
        }
    }
    for (tally, rule) in tallies
        .iter()
        .zip(["message", "hello", "welcome", "initiate", "ready"])
    {
        tally.assert_both(rule);
    }
}

/// Whether every 5-character group of Z85 text fits in 32 bits (what the grammar cannot say).
fn z85_groups_fit(text: &[u8]) -> bool {
    const ALPHABET: &[u8] =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    text.chunks(5).all(|group| {
        let value = group.iter().fold(0u64, |acc, c| {
            let digit = ALPHABET.iter().position(|a| a == c).unwrap_or(0) as u64;
            acc * 85 + digit
        });
        value <= u64::from(u32::MAX)
    })
}

#[test]
fn z85_text_is_refused_exactly_when_the_grammar_refuses() {
    let g = z85();
    let mut tally = Tally::default();
    let mut overflows = 0;
    for seed in 0..SEEDS {
        let mut gen = Generator::new(&g, seed);
        let text = String::from_utf8(gen.bytes("z85-text")).expect("ASCII");
        match z85_codec::decode(&text) {
            Ok(bin) => {
                assert!(z85_groups_fit(text.as_bytes()));
                assert_eq!(z85_codec::encode(&bin).expect("multiple of 4"), text);
            }
            Err(z85_codec::DecodeError::Overflow { offset }) => {
                assert_eq!(offset % 5, 0);
                assert!(!z85_groups_fit(text.as_bytes()), "seed {seed}: {text:?}");
                overflows += 1;
            }
            Err(e) => panic!("seed {seed}: {e} for {text:?}"),
        }
        let bin = gen.bytes("z85-binary");
        let text = z85_codec::encode(&bin).expect("multiple of 4");
        assert!(g.matches("z85-text", text.as_bytes()), "{text:?}");
        assert_eq!(z85_codec::decode(&text).expect("decodes"), bin);

        let m = gen.near_valid("z85-text");
        let derives = g.matches("z85-text", &m.bytes) && z85_groups_fit(&m.bytes);
        tally.add(derives);
        let verdict = match std::str::from_utf8(&m.bytes) {
            Ok(text) => z85_codec::decode(text).is_ok(),
            Err(_) => false,
        };
        assert_eq!(verdict, derives, "seed {seed}: {m:?}");
    }
    assert!(overflows < SEEDS as usize / 2, "most generated groups fit");
    tally.assert_both("z85");
}

#[test]
fn zap_messages_parse_and_reencode_identically() {
    let g = zap();
    let mut tally = Tally::default();
    for seed in 0..SEEDS {
        let mut gen = Generator::new(&g, seed);
        let request: Vec<Bytes> = gen
            .frames("zap-request")
            .into_iter()
            .map(Bytes::from)
            .collect();
        let parsed = zmtp_zap::wire::parse_request(&request)
            .unwrap_or_else(|e| panic!("seed {seed}: {e:?} for {request:?}"));
        assert_eq!(
            zmtp_zap::wire::encode_request(&parsed.id, &parsed.request),
            request
        );
        let reply: Vec<Bytes> = gen
            .frames("zap-reply")
            .into_iter()
            .map(Bytes::from)
            .collect();
        let parsed = zmtp_zap::wire::parse_reply(&reply, &reply[2])
            .unwrap_or_else(|e| panic!("seed {seed}: {e:?} for {reply:?}"));
        assert_eq!(zmtp_zap::wire::encode_reply(&reply[2], &parsed), reply);

        // Near-valid: whatever still derives is accepted; the rest never panics.
        let (near, kind, site) = gen.near_valid_frames("zap-request");
        let near: Vec<Bytes> = near.into_iter().map(Bytes::from).collect();
        let derives = g.matches_frames("zap-request", &near);
        tally.add(derives);
        let verdict = zmtp_zap::wire::parse_request(&near);
        if derives {
            assert!(
                verdict.is_ok(),
                "seed {seed}: {kind:?} at {site}: {verdict:?}"
            );
        }
        let (near, kind, site) = gen.near_valid_frames("zap-reply");
        let near: Vec<Bytes> = near.into_iter().map(Bytes::from).collect();
        let id = near.get(2).cloned().unwrap_or_default();
        let verdict = zmtp_zap::wire::parse_reply(&near, &id);
        if g.matches_frames("zap-reply", &near) {
            assert!(
                verdict.is_ok(),
                "seed {seed}: {kind:?} at {site}: {verdict:?}"
            );
        }
    }
    tally.assert_both("zap-request");
}

/// The grammars whose literals the fuzzers of ZMTP, PLAIN, CURVE and ZAP share.
fn dictionary_grammars() -> Vec<(&'static str, Grammar)> {
    vec![
        ("rfc23-zmtp.abnf", grammar(&["rfc23-zmtp.abnf"], &[])),
        ("rfc24-plain.abnf", plain()),
        ("rfc25-curve.abnf", curve()),
        ("rfc27-zap.abnf", zap()),
    ]
}

/// The heading of the dictionary's generated section, which runs to the end of the file.
const DICT_SECTION: &str = "# From rfcs/abnf";

#[test]
fn the_fuzz_dictionary_has_every_grammar_literal() {
    let path = repo_root().join("fuzz/dict/zmtp.dict");
    let dict: BTreeSet<Vec<u8>> = parse_dictionary(&std::fs::read_to_string(&path).unwrap())
        .into_iter()
        .collect();
    let mut checked = 0;
    for (name, g) in dictionary_grammars() {
        for entry in g.dictionary_entries() {
            assert!(
                dict.contains(&entry),
                "fuzz/dict/zmtp.dict lacks {entry:02x?} from {name} (run the ignored test regenerate_fuzz_seeds)"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "the grammars have literals ({checked})");
    // The Z85 target has its own dictionary; its grammar's literals are single characters.
    assert!(z85().dictionary_entries().is_empty());
}

/// The corpora that take grammar seeds: target, grammar, rule.
fn seed_targets() -> Vec<(&'static str, Grammar, &'static str)> {
    vec![
        ("greeting", zmtp(), "greeting"),
        ("frames", zmtp(), "frame-stream"),
        ("command", zmtp(), "command-seed"),
        ("metadata", zmtp(), "metadata"),
        ("z85", z85(), "z85-text"),
    ]
}

/// Grammar seeds per corpus.
const SEEDS_PER_TARGET: usize = 16;

#[test]
fn the_grammar_seeds_in_the_fuzz_corpora_still_derive() {
    for (target, g, rule) in seed_targets() {
        let dir = repo_root().join("fuzz/corpus").join(target);
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.starts_with(SEED_PREFIX) {
                continue;
            }
            let Ok(data) = std::fs::read(&path) else {
                continue;
            };
            assert!(
                g.matches(rule, &data),
                "{target}/{name} no longer derives from {rule} (run the ignored test regenerate_fuzz_seeds)"
            );
            assert_eq!(name, zmtp_tests::abnf::seed_name(&data), "{target}/{name}");
            count += 1;
        }
        assert!(
            (1..=SEEDS_PER_TARGET).contains(&count),
            "{target}: {count} grammar seeds"
        );
    }
}

/// Writes the `grammar-*` seeds of the fuzz corpora and the grammar section of the ZMTP
/// dictionary. Run by hand: `cargo test -p zmtp-tests --test grammar -- --ignored`.
#[test]
#[ignore]
fn regenerate_fuzz_seeds() {
    let corpus = repo_root().join("fuzz/corpus");
    for (target, g, rule) in seed_targets() {
        let written = g
            .write_seeds(&corpus.join(target), rule, SEEDS_PER_TARGET)
            .unwrap();
        assert!(!written.is_empty(), "{target}");
    }
    let path = repo_root().join("fuzz/dict/zmtp.dict");
    let text = std::fs::read_to_string(&path).unwrap();
    let hand = text
        .split_once(DICT_SECTION)
        .map_or(text.as_str(), |(before, _)| before)
        .trim_end();
    let have: BTreeSet<Vec<u8>> = parse_dictionary(hand).into_iter().collect();
    let mut added = BTreeSet::new();
    for (_, g) in dictionary_grammars() {
        added.extend(
            g.dictionary_entries()
                .into_iter()
                .filter(|e| !have.contains(e)),
        );
    }
    let mut out =
        format!("{hand}\n\n{DICT_SECTION} (tests/tests/grammar.rs::regenerate_fuzz_seeds)\n");
    for entry in added {
        out.push_str(&zmtp_tests::abnf::dictionary_line(&entry));
        out.push('\n');
    }
    std::fs::write(&path, out).unwrap();
}
