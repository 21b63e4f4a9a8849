//! The reader, generator and recogniser on small grammars of their own.

use super::*;

fn kind_of(text: &str) -> (usize, AbnfErrorKind) {
    let e = Grammar::parse(text).expect_err(text);
    (e.line, e.kind)
}

#[test]
fn reads_every_construct() {
    let g = Grammar::parse(
        "a = b / \"xy\" c ; comment\n\
         b = 2*3%x41-43 [%d48] (%b1 / %x4A.4B)\n\
         c = *DIGIT\n  / SP ; continued\n\
         c =/ %s\"Zz\" / %i\"q\"\n",
    )
    .unwrap();
    assert!(matches!(g.rule("A").unwrap().node, Node::Alt(_)));
    match &g.rule("c").unwrap().node {
        Node::Alt(v) => {
            assert_eq!(v.len(), 4);
            assert_eq!(
                v[2],
                Node::Lit {
                    octets: b"Zz".to_vec(),
                    nocase: false
                }
            );
        }
        other => panic!("{other:?}"),
    }
    match &g.rule("b").unwrap().node {
        Node::Cat(items) => {
            assert!(matches!(
                items[0],
                Node::Rep {
                    min: 2,
                    max: Some(3),
                    ..
                }
            ));
            assert!(matches!(items[2], Node::Alt(_)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_are_typed_and_name_the_line() {
    assert_eq!(
        kind_of("a = \"open\n"),
        (1, AbnfErrorKind::UnterminatedCharVal)
    );
    assert_eq!(
        kind_of("a = x\nx = OCTET\nb = (x\n"),
        (3, AbnfErrorKind::Unclosed('('))
    );
    assert_eq!(
        kind_of("a = 3*2x\nx = %x00\n"),
        (1, AbnfErrorKind::ReversedRepetition { min: 3, max: 2 })
    );
    assert_eq!(
        kind_of("\n\na = %x100\n"),
        (3, AbnfErrorKind::AboveOctet(256))
    );
    assert_eq!(kind_of("a = %x42-41\n"), (1, AbnfErrorKind::ReversedRange));
    assert_eq!(
        kind_of("a = <some prose>\n"),
        (1, AbnfErrorKind::ProseVal("some prose".into()))
    );
    assert_eq!(
        kind_of("a = %x00\n  ; @bogus\n"),
        (2, AbnfErrorKind::BadAnnotation("unknown @bogus".into()))
    );
    assert_eq!(
        kind_of("a = b\n"),
        (1, AbnfErrorKind::UndefinedRule("b".into()))
    );
    assert_eq!(
        kind_of("a = %x00\na = %x01\n"),
        (2, AbnfErrorKind::DuplicateRule("a".into()))
    );
    assert_eq!(
        kind_of("a = %x00 b\nb = a\n"),
        (1, AbnfErrorKind::NonTerminating("a".into()))
    );
    assert_eq!(
        kind_of("a = %x00\"b\"\n"),
        (1, AbnfErrorKind::MissingWhitespace)
    );
    assert_eq!(kind_of("a %x00\n"), (1, AbnfErrorKind::MissingDefinedAs));
    assert_eq!(
        kind_of("a = %x00\n  %x01\n %x02 )\n"),
        (3, AbnfErrorKind::Unexpected(')'))
    );
    assert_eq!(kind_of("a = %q00\n"), (1, AbnfErrorKind::BadNumValBase));
    assert_eq!(
        kind_of("a = OCTET\nb = a 3OCTET\nlen = 2OCTET ; @length-of-rest u8\n"),
        (
            3,
            AbnfErrorKind::MisplacedAnnotation {
                rule: "len".into(),
                reason: "a 1-octet length, but the rule derives Some(2) octets".into()
            }
        )
    );
    // Repeating a rule identically (as a second grammar file may) is fine.
    assert!(Grammar::parse_all(&["a = %x00\n", "a = %x00\n"]).is_ok());
    // A comment line between rules, and an indented comment inside one, are fine.
    assert!(Grammar::parse("; top\na = %x00\n   ; inside\n   / %x01\n; after\n").is_ok());
}

#[test]
fn length_and_padding_annotations_shape_derivations() {
    let g = Grammar::parse(
        "name = len 1*300%x61-7A\n\
         len = OCTET ; @length-of-rest u8\n\
         wide = wlen 3OCTET\n\
         wlen = 4OCTET ; @length-of-rest be32\n\
         pad = 1*30%x41 ; @exact-length 6\n",
    )
    .unwrap();
    for seed in 0..200 {
        let mut gen = Generator::new(&g, seed);
        let n = gen.bytes("name");
        assert_eq!(usize::from(n[0]), n.len() - 1, "the rest always fits a u8");
        assert!(g.matches("name", &n));
        assert_eq!(gen.bytes("wide")[..4], [0, 0, 0, 3]);
        let p = gen.bytes("pad");
        assert_eq!(p.len(), 6);
        assert!(p.starts_with(b"A") && g.matches("pad", &p));
    }
    assert!(g.matches("name", b"\x02ab"));
    assert!(!g.matches("name", b"\x02a"));
    assert!(!g.matches("name", b"\x01ab"));
    assert!(!g.matches("name", b"\x00"));
    assert!(!g.matches("pad", b"AAA\0\0"));
    assert!(!g.matches("pad", b"AA\0A\0\0"));
}

#[test]
fn recursion_is_bounded() {
    let g = Grammar::parse("list = %x28 *item %x29\nitem = %x61 / list\n").unwrap();
    for seed in 0..100 {
        let mut gen = Generator::new(&g, seed);
        gen.max_depth = 6;
        let out = gen.bytes("list");
        assert!(out.len() < 100_000);
        assert!(g.matches("list", &out), "{}", String::from_utf8_lossy(&out));
    }
}

#[test]
fn matching_follows_rfc_5234() {
    let g = Grammar::parse(
        "word = \"Ab\" %s\"Cd\" %i\"eF\"\nhex = 1*HEXDIG\nopt = [%x41] %x42\nrep = 2*3(%x41 / %x41.41)\n",
    )
    .unwrap();
    assert!(g.matches("word", b"abCdef"));
    assert!(g.matches("word", b"ABCdEF"));
    assert!(!g.matches("word", b"abcdef"));
    assert!(g.matches("hex", b"00aF"));
    assert!(!g.matches("hex", b""));
    assert!(g.matches("opt", b"AB") && g.matches("opt", b"B"));
    assert!(!g.matches("opt", b"AAB"));
    assert!(g.matches("rep", b"AA") && g.matches("rep", b"AAAAAA"));
    assert!(!g.matches("rep", b"A") && !g.matches("rep", b"AAAAAAA"));
}

#[test]
fn frame_lists_derive_and_match() {
    let g = Grammar::parse(
        "msg = empty tag *2body ; @frames\nempty = \"\"\ntag = %s\"T\"\nbody = 1*3%x30-39\n",
    )
    .unwrap();
    for seed in 0..50 {
        let frames = Generator::new(&g, seed).frames("msg");
        assert!(frames.len() >= 2 && frames[0].is_empty() && frames[1] == b"T");
        assert!(g.matches_frames("msg", &frames));
    }
    assert!(!g.matches_frames("msg", &[&b""[..]]));
    assert!(!g.matches_frames("msg", &[&b""[..], b"T", b"1", b"2", b"3"]));
}

#[test]
fn mutations_land_on_boundaries() {
    let g =
        Grammar::parse("prop = len 1*4%x61-62 %x7C\nlen = OCTET ; @length-of-rest u8\n").unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..400 {
        let mut gen = Generator::new(&g, seed);
        let valid = gen.derive("prop");
        let m = gen.mutate(&valid);
        seen.insert(m.kind);
        match m.kind {
            MutationKind::OutOfRange => {
                let bytes = valid.to_bytes();
                assert_eq!(m.bytes.len(), bytes.len(), "{m:?}");
                let at = (0..bytes.len()).find(|&i| bytes[i] != m.bytes[i]).unwrap();
                assert!(matches!(m.bytes[at], 0x60 | 0x63 | 0x7B | 0x7D), "{m:?}");
                assert!(!g.matches("prop", &m.bytes));
            }
            MutationKind::Truncate => {
                assert!(valid.to_bytes().starts_with(&m.bytes));
                assert!(!g.matches("prop", &m.bytes));
            }
            // Lengths are recomputed after a drop: only the count rules can break.
            MutationKind::Drop if !m.site.ends_with("/len") && m.bytes.len() > 1 => {
                assert_eq!(usize::from(m.bytes[0]), m.bytes.len() - 1, "{m:?}");
            }
            _ => {}
        }
    }
    assert_eq!(seen.len(), MutationKind::ALL.len() - 1, "{seen:?}"); // no literal here
}

#[test]
fn generation_is_deterministic_per_seed() {
    let g = Grammar::parse("a = *OCTET\n").unwrap();
    let a: Vec<_> = (0..20).map(|s| Generator::new(&g, s).bytes("a")).collect();
    let b: Vec<_> = (0..20).map(|s| Generator::new(&g, s).bytes("a")).collect();
    assert_eq!(a, b);
    assert!(a.iter().collect::<std::collections::BTreeSet<_>>().len() > 10);
}

#[test]
fn dictionary_holds_literals_and_fixed_runs() {
    let g = Grammar::parse(
        "cmd = %d5 %s\"READY\" body\nbody = *OCTET\nv = %x31.2E.30\nq = \"a\\b\" %x22\n",
    )
    .unwrap();
    let entries = g.dictionary_entries();
    assert!(entries.contains(&b"\x05READY".to_vec()));
    assert!(entries.contains(&b"READY".to_vec()));
    assert!(entries.contains(&b"1.0".to_vec()));
    assert!(entries.contains(&b"a\\b\"".to_vec()));
    let text = g.dictionary();
    assert!(text.contains("\"\\x05READY\"\n"));
    assert_eq!(parse_dictionary(&text), entries);
}
