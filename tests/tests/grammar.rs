//! Inputs generated from the grammars in `rfcs/abnf/` against the real parsers: every valid
//! derivation parses and re-encodes to the same octets; near-valid ones give a typed error or a
//! valid parse, never a panic. Seeds are fixed, so a failure names an input that reproduces.

use bytes::{Bytes, BytesMut};
use zmtp_core::wire::command::{encode_error, parse_error_reason, Command, Ping};
use zmtp_core::wire::frame::{encode_frame, FrameDecoder, FrameLimits};
use zmtp_core::wire::greeting::GreetingDecoder;
use zmtp_core::Metadata;
use zmtp_tests::abnf::{Generator, Grammar};
use zmtp_tests::repo_root;

const SEEDS: u64 = 400;

const LIMITS: FrameLimits = FrameLimits {
    max_data: 1 << 20,
    max_command: 1 << 16,
    data_limit_is_message: false,
    commands_only: false,
};

fn file(name: &str) -> String {
    let path = repo_root().join("rfcs/abnf").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn grammar(files: &[&str]) -> Grammar {
    let texts: Vec<String> = files.iter().map(|f| file(f)).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    Grammar::parse_all(&refs).unwrap_or_else(|e| panic!("{files:?}: {e}"))
}

fn zmtp() -> Grammar {
    grammar(&["rfc23-zmtp.abnf"])
}

#[test]
fn every_grammar_file_parses() {
    for f in [
        "rfc23-zmtp.abnf",
        "rfc32-z85.abnf",
        "rfc25-curve.abnf",
        "rfc27-zap.abnf",
    ] {
        grammar(&[f]);
    }
    // PLAIN builds on ZMTP's metadata and ERROR reason.
    grammar(&["rfc23-zmtp.abnf", "rfc24-plain.abnf"]);
}

#[test]
fn greetings_parse_with_their_fields() {
    let g = zmtp();
    for seed in 0..SEEDS {
        let input = Generator::new(&g, seed).bytes("greeting");
        assert_eq!(input.len(), 64, "seed {seed}");
        let mut src = BytesMut::from(&input[..]);
        let greeting = GreetingDecoder::new()
            .decode(&mut src)
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
        // Any split gives the same verdict.
        zmtp_core::fuzzing::greeting(&input);
    }
}

#[test]
fn near_valid_greetings_never_panic_and_split_consistently() {
    let g = zmtp();
    for seed in 0..SEEDS {
        let input = Generator::new(&g, seed).near_valid("greeting");
        zmtp_core::fuzzing::greeting(&input);
    }
}

#[test]
fn frame_streams_decode_and_short_forms_reencode_identically() {
    let g = zmtp();
    for seed in 0..SEEDS {
        let mut gen = Generator::new(&g, seed);
        let mut input = Vec::new();
        let count = 1 + (seed % 5) as usize;
        for _ in 0..count {
            input.extend(gen.bytes("traffic"));
        }
        let mut src = BytesMut::from(&input[..]);
        let mut decoder = FrameDecoder::new();
        let mut frames = 0;
        let mut offset = 0;
        while !src.is_empty() {
            let before = src.len();
            let frame = decoder
                .decode(&mut src, LIMITS)
                .unwrap_or_else(|e| panic!("seed {seed}: {e:?} at {offset} in {input:02x?}"))
                .unwrap_or_else(|| panic!("seed {seed}: frame at {offset} incomplete"));
            let used = before - src.len();
            let original = &input[offset..offset + used];
            let mut again = BytesMut::new();
            encode_frame(&frame, &mut again);
            // The encoder picks the short form for bodies up to 255 octets; the grammar also
            // allows the long form there, which decodes to the same frame.
            if original[0] & 0x02 == 0 || frame.body.len() > 255 {
                assert_eq!(&again[..], original, "seed {seed}");
            }
            assert_eq!(frame.command, original[0] & 0x04 != 0);
            assert_eq!(frame.more, original[0] & 0x01 != 0);
            offset += used;
            frames += 1;
        }
        assert!(decoder.is_idle());
        assert!(frames >= count, "seed {seed}");
        zmtp_core::fuzzing::frames(&input);
    }
}

#[test]
fn near_valid_frame_streams_never_panic() {
    let g = zmtp();
    for seed in 0..SEEDS {
        let input = Generator::new(&g, seed).near_valid("traffic");
        zmtp_core::fuzzing::frames(&input);
    }
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
        let md = Metadata::decode(c.data.clone(), 64).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(md.to_bytes(), c.data);

        let error = gen.bytes("error");
        let c = command(&error, "ERROR");
        let reason = parse_error_reason(c.data.clone()).expect("ERROR reason");
        assert_eq!(encode_error(&reason), error);

        let ping = gen.bytes("ping");
        let c = command(&ping, "PING");
        let p = Ping::parse(c.data.clone()).expect("PING");
        assert_eq!(p.encode(), ping);

        for (rule, name) in [
            ("pong", "PONG"),
            ("subscribe", "SUBSCRIBE"),
            ("cancel", "CANCEL"),
        ] {
            command(&gen.bytes(rule), name);
        }
    }
}

#[test]
fn metadata_parses_and_reencodes_identically() {
    let g = zmtp();
    for seed in 0..SEEDS {
        let mut gen = Generator::new(&g, seed);
        let input = gen.bytes("metadata");
        let md = Metadata::decode(Bytes::from(input.clone()), 64)
            .unwrap_or_else(|e| panic!("seed {seed}: {e:?} for {input:02x?}"));
        assert_eq!(md.to_bytes(), input);
        zmtp_core::fuzzing::metadata(&gen.near_valid("metadata"));
    }
}

#[test]
fn plain_hello_is_a_command_with_two_counted_strings() {
    let g = grammar(&["rfc23-zmtp.abnf", "rfc24-plain.abnf"]);
    for seed in 0..SEEDS {
        let mut gen = Generator::new(&g, seed);
        let hello = gen.bytes("hello");
        let c = command(&hello, "HELLO");
        let user_len = usize::from(c.data[0]);
        let pass_len = usize::from(c.data[1 + user_len]);
        assert_eq!(c.data.len(), 2 + user_len + pass_len, "seed {seed}");
        command(&gen.bytes("welcome"), "WELCOME");
        let initiate = gen.bytes("initiate");
        let c = command(&initiate, "INITIATE");
        Metadata::decode(c.data, 64).expect("INITIATE metadata");
    }
}

#[test]
fn curve_commands_have_libzmq_sizes() {
    let g = grammar(&["rfc25-curve.abnf"]);
    for seed in 0..SEEDS {
        let mut gen = Generator::new(&g, seed);
        assert_eq!(command(&gen.bytes("hello"), "HELLO").data.len() + 6, 200);
        assert_eq!(
            command(&gen.bytes("welcome"), "WELCOME").data.len() + 8,
            168
        );
        assert!(command(&gen.bytes("initiate"), "INITIATE").data.len() + 9 >= 257);
        assert!(command(&gen.bytes("ready"), "READY").data.len() + 6 >= 30);
        assert!(command(&gen.bytes("message"), "MESSAGE").data.len() + 8 >= 33);
    }
}

#[test]
fn z85_text_decodes_and_reencodes_identically() {
    let g = grammar(&["rfc32-z85.abnf"]);
    let mut overflows = 0;
    for seed in 0..SEEDS {
        let mut gen = Generator::new(&g, seed);
        let text = String::from_utf8(gen.bytes("z85-text")).unwrap();
        // The grammar cannot say that a group's value fits in 32 bits: the decoder must.
        match z85_codec::decode(&text) {
            Ok(bin) => assert_eq!(z85_codec::encode(&bin).unwrap(), text),
            Err(z85_codec::DecodeError::Overflow { offset }) => {
                assert_eq!(offset % 5, 0);
                overflows += 1;
            }
            Err(e) => panic!("seed {seed}: {e} for {text:?}"),
        }
        let bin = gen.bytes("z85-binary");
        assert_eq!(bin.len() % 4, 0);
        let text = z85_codec::encode(&bin).unwrap();
        assert_eq!(z85_codec::decode(&text).unwrap(), bin);
        let near = String::from_utf8_lossy(&gen.near_valid("z85-text")).into_owned();
        let _ = z85_codec::decode(&near);
    }
    assert!(overflows < SEEDS as usize / 2, "most generated groups fit");
}

fn frames(list: Vec<Vec<u8>>) -> Vec<Bytes> {
    list.into_iter().map(Bytes::from).collect()
}

#[test]
fn zap_messages_parse_and_reencode_identically() {
    let g = grammar(&["rfc27-zap.abnf"]);
    for seed in 0..SEEDS {
        let mut gen = Generator::new(&g, seed);
        let request = frames(gen.frames("zap-request"));
        let parsed = zmtp_zap::wire::parse_request(&request)
            .unwrap_or_else(|e| panic!("seed {seed}: {e:?} for {request:?}"));
        assert_eq!(
            zmtp_zap::wire::encode_request(&parsed.id, &parsed.request),
            request
        );
        let reply = frames(gen.frames("zap-reply"));
        let parsed = zmtp_zap::wire::parse_reply(&reply, &reply[2])
            .unwrap_or_else(|e| panic!("seed {seed}: {e:?} for {reply:?}"));
        assert_eq!(zmtp_zap::wire::encode_reply(&reply[2], &parsed), reply);
        // Near-valid: one frame dropped or duplicated.
        let mut near = request.clone();
        let i = seed as usize % near.len();
        if seed % 2 == 0 {
            near.remove(i);
        } else {
            near.insert(i, near[i].clone());
        }
        let _ = zmtp_zap::wire::parse_request(&near);
        let _ = zmtp_zap::wire::parse_reply(&near, b"1");
    }
}

#[test]
fn the_fuzz_dictionary_has_every_grammar_literal() {
    let dict = std::fs::read_to_string(repo_root().join("fuzz/dict/zmtp.dict")).unwrap();
    for f in ["rfc23-zmtp.abnf", "rfc25-curve.abnf", "rfc27-zap.abnf"] {
        for line in grammar(&[f]).dictionary().lines() {
            assert!(
                dict.lines().any(|l| l.trim() == line),
                "fuzz/dict/zmtp.dict lacks {line} from {f} (run the ignored test regenerate_fuzz_seeds)"
            );
        }
    }
}

/// Writes generated seeds into the fuzz corpora and adds missing grammar literals to the
/// dictionary. Run by hand: `cargo test -p zmtp-tests --test grammar -- --ignored`.
#[test]
#[ignore]
fn regenerate_fuzz_seeds() {
    let corpus = repo_root().join("fuzz/corpus");
    let zmtp = zmtp();
    let write = |target: &str, seed: u64, data: &[u8]| {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("grammar-{seed:03}")), data).unwrap();
    };
    for seed in 0..12 {
        let mut gen = Generator::new(&zmtp, seed);
        write("greeting", seed, &gen.bytes("greeting"));
        let mut stream = gen.bytes("traffic");
        stream.extend(gen.bytes("traffic"));
        write("frames", seed, &stream);
        write("metadata", seed, &gen.bytes("metadata"));
        let rule = ["ready", "error", "ping", "pong", "subscribe"][seed as usize % 5];
        write("command", seed, &gen.bytes(rule));
    }
    let z85 = grammar(&["rfc32-z85.abnf"]);
    for seed in 0..8 {
        write("z85", seed, &Generator::new(&z85, seed).bytes("z85-text"));
    }
    let dict_path = repo_root().join("fuzz/dict/zmtp.dict");
    let mut dict = std::fs::read_to_string(&dict_path).unwrap();
    let mut added = String::new();
    for f in ["rfc23-zmtp.abnf", "rfc25-curve.abnf", "rfc27-zap.abnf"] {
        for line in grammar(&[f]).dictionary().lines() {
            if !dict.lines().any(|l| l.trim() == line) && !added.lines().any(|l| l == line) {
                added.push_str(line);
                added.push('\n');
            }
        }
    }
    if !added.is_empty() {
        dict.push_str("\n# From rfcs/abnf (tests/tests/grammar.rs)\n");
        dict.push_str(&added);
        std::fs::write(&dict_path, dict).unwrap();
    }
}
