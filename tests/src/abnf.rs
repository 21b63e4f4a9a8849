//! The grammars in `rfcs/abnf/` as input generators.
//!
//! [`Grammar::parse`] reads RFC 5234 ABNF (rules, `=/`, alternation, concatenation, repetition,
//! groups, options, char-vals, `%x`/`%d`/`%b` num-vals with ranges and dotted strings, comments)
//! and adds the RFC 5234 core rules. A [`Generator`] then derives byte strings from a start
//! rule with a seeded random walk, bounding unbounded repetition and recursion depth; in
//! near-valid mode it applies one mutation at a grammar boundary.
//!
//! Some of what the wire formats require is not context-free: a size octet must equal the
//! length of what follows it; a mechanism name is padded with NULs to exactly 20 octets; ZAP
//! messages are lists of frames, not byte strings. The grammar files say so in structured
//! comments on the rule's line, which remain plain ABNF comments to any other reader:
//!
//! - `@length-of-rest u8|be32|be64`: this rule's value is the length, in octets, of the elements
//!   that follow it in the concatenation where it appears (`name = name-length 1*255name-char`);
//!   its own derivation is replaced by that length in the given encoding.
//! - `@exact-length N`: the derivation is cut or NUL-padded to exactly N octets.
//! - `@frames`: in [`Generator::frames`], each element of this rule's concatenation that names
//!   a rule is one frame (or, when that rule is itself `@frames`, its frames); literal elements
//!   contribute no frame (an empty credential list is written `""`).
//! - `@max N`: a derived big-endian number (for `@length-of-rest`) never exceeds N.

use std::collections::HashMap;
use std::fmt;

/// A grammar element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// One of several alternatives.
    Alt(Vec<Node>),
    /// A sequence.
    Cat(Vec<Node>),
    /// `min*max element` (`max` None: unbounded).
    Rep {
        /// Fewest repetitions.
        min: usize,
        /// Most repetitions, if bounded.
        max: Option<usize>,
        /// The repeated element.
        node: Box<Node>,
    },
    /// A rule reference (lower-cased).
    Rule(String),
    /// A literal string (char-val or dotted num-val). `nocase`: a char-val, which ABNF matches
    /// case-insensitively (generated as written).
    Lit(Vec<u8>),
    /// An octet range, inclusive.
    Range(u32, u32),
}

/// Structured annotations from a rule's comment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    /// `@length-of-rest`: the encoding width in octets (1, 4 or 8).
    pub length_of_rest: Option<usize>,
    /// `@exact-length`.
    pub exact_length: Option<usize>,
    /// `@frames`.
    pub frames: bool,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Its definition.
    pub node: Node,
    /// Its annotations.
    pub notes: Annotations,
    /// The line it starts on (0 for core rules).
    pub line: usize,
}

/// A parse failure, with the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbnfError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for AbnfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for AbnfError {}

/// A set of rules.
#[derive(Debug, Clone, Default)]
pub struct Grammar {
    /// Rules by lower-cased name.
    pub rules: HashMap<String, Rule>,
    /// Literal strings of two or more octets, for fuzzing dictionaries.
    pub literals: Vec<Vec<u8>>,
}

const CORE: &str = "\
ALPHA = %x41-5A / %x61-7A
BIT = \"0\" / \"1\"
CHAR = %x01-7F
CR = %x0D
CRLF = CR LF
CTL = %x00-1F / %x7F
DIGIT = %x30-39
DQUOTE = %x22
HEXDIG = DIGIT / \"A\" / \"B\" / \"C\" / \"D\" / \"E\" / \"F\"
HTAB = %x09
LF = %x0A
LWSP = *(WSP / CRLF WSP)
OCTET = %x00-FF
SP = %x20
VCHAR = %x21-7E
WSP = SP / HTAB
";

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    line: usize,
}

impl Parser<'_> {
    fn err<T>(&self, reason: impl Into<String>) -> Result<T, AbnfError> {
        Err(AbnfError {
            line: self.line,
            reason: reason.into(),
        })
    }

    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn number(&mut self, radix: u32) -> Option<u32> {
        let start = self.pos;
        while self.peek().is_some_and(|c| (c as char).is_digit(radix)) {
            self.pos += 1;
        }
        if start == self.pos {
            return None;
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).ok()?;
        u32::from_str_radix(text, radix).ok()
    }

    fn alternation(&mut self) -> Result<Node, AbnfError> {
        let mut alts = vec![self.concatenation()?];
        loop {
            self.skip_ws();
            if self.peek() == Some(b'/') {
                self.pos += 1;
                alts.push(self.concatenation()?);
            } else {
                break;
            }
        }
        Ok(if alts.len() == 1 {
            alts.pop().expect("one")
        } else {
            Node::Alt(alts)
        })
    }

    fn concatenation(&mut self) -> Result<Node, AbnfError> {
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None | Some(b'/') | Some(b')') | Some(b']') => break,
                _ => items.push(self.repetition()?),
            }
        }
        if items.is_empty() {
            return self.err("empty concatenation");
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Node::Cat(items)
        })
    }

    fn repetition(&mut self) -> Result<Node, AbnfError> {
        let min = self.number(10);
        let (min, max) = if self.peek() == Some(b'*') {
            self.pos += 1;
            (
                min.unwrap_or(0) as usize,
                self.number(10).map(|n| n as usize),
            )
        } else if let Some(n) = min {
            (n as usize, Some(n as usize))
        } else {
            return self.element();
        };
        if max.is_some_and(|m| m < min) {
            return self.err("repetition max below min");
        }
        let node = self.element()?;
        Ok(Node::Rep {
            min,
            max,
            node: Box::new(node),
        })
    }

    fn element(&mut self) -> Result<Node, AbnfError> {
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let n = self.alternation()?;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return self.err("missing )");
                }
                self.pos += 1;
                Ok(n)
            }
            Some(b'[') => {
                self.pos += 1;
                let n = self.alternation()?;
                self.skip_ws();
                if self.peek() != Some(b']') {
                    return self.err("missing ]");
                }
                self.pos += 1;
                Ok(Node::Rep {
                    min: 0,
                    max: Some(1),
                    node: Box::new(n),
                })
            }
            Some(b'"') => {
                self.pos += 1;
                let start = self.pos;
                while self.peek().is_some_and(|c| c != b'"') {
                    self.pos += 1;
                }
                if self.peek() != Some(b'"') {
                    return self.err("unterminated char-val");
                }
                let lit = self.s[start..self.pos].to_vec();
                self.pos += 1;
                Ok(Node::Lit(lit))
            }
            Some(b'%') => {
                self.pos += 1;
                let radix = match self.peek().map(|c| c.to_ascii_lowercase()) {
                    Some(b'x') => 16,
                    Some(b'd') => 10,
                    Some(b'b') => 2,
                    _ => return self.err("num-val needs x, d or b"),
                };
                self.pos += 1;
                let Some(first) = self.number(radix) else {
                    return self.err("num-val without digits");
                };
                match self.peek() {
                    Some(b'-') => {
                        self.pos += 1;
                        let Some(last) = self.number(radix) else {
                            return self.err("range without an end");
                        };
                        if last < first || last > 0xFF {
                            return self.err("bad range (octets only)");
                        }
                        Ok(Node::Range(first, last))
                    }
                    Some(b'.') => {
                        let mut lit = vec![first];
                        while self.peek() == Some(b'.') {
                            self.pos += 1;
                            let Some(n) = self.number(radix) else {
                                return self.err("dotted num-val without digits");
                            };
                            lit.push(n);
                        }
                        if lit.iter().any(|&n| n > 0xFF) {
                            return self.err("num-val above one octet");
                        }
                        Ok(Node::Lit(lit.into_iter().map(|n| n as u8).collect()))
                    }
                    _ => {
                        if first > 0xFF {
                            return self.err("num-val above one octet");
                        }
                        Ok(Node::Range(first, first))
                    }
                }
            }
            Some(b'<') => self.err("prose-val is not generatable"),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'-')
                {
                    self.pos += 1;
                }
                let name = String::from_utf8_lossy(&self.s[start..self.pos]).to_ascii_lowercase();
                Ok(Node::Rule(name))
            }
            Some(c) => self.err(format!("unexpected {:?}", c as char)),
            None => self.err("unexpected end of rule"),
        }
    }
}

fn annotations(comment: &str, line: usize) -> Result<Annotations, AbnfError> {
    let mut notes = Annotations::default();
    let words: Vec<&str> = comment.split_whitespace().collect();
    let bad = |reason: String| Err(AbnfError { line, reason });
    for (i, w) in words.iter().enumerate() {
        match *w {
            "@length-of-rest" => {
                notes.length_of_rest = Some(match words.get(i + 1) {
                    Some(&"u8") => 1,
                    Some(&"be32") => 4,
                    Some(&"be64") => 8,
                    other => return bad(format!("@length-of-rest width {other:?}")),
                })
            }
            "@exact-length" => match words.get(i + 1).and_then(|n| n.parse().ok()) {
                Some(n) => notes.exact_length = Some(n),
                None => return bad("@exact-length needs a number".into()),
            },
            "@frames" => notes.frames = true,
            w if w.starts_with('@') => return bad(format!("unknown annotation {w}")),
            _ => {}
        }
    }
    Ok(notes)
}

fn collect_literals(node: &Node, out: &mut Vec<Vec<u8>>) {
    match node {
        Node::Lit(l) if l.len() >= 2 => out.push(l.clone()),
        Node::Alt(v) | Node::Cat(v) => v.iter().for_each(|n| collect_literals(n, out)),
        Node::Rep { node, .. } => collect_literals(node, out),
        _ => {}
    }
}

impl Grammar {
    /// Parses ABNF text; core rules are added unless the text defines them.
    pub fn parse(text: &str) -> Result<Grammar, AbnfError> {
        Grammar::parse_all(&[text])
    }

    /// Parses several ABNF texts into one grammar (a later text may repeat an earlier rule
    /// word for word, as the PLAIN grammar repeats READY and ERROR from ZMTP's).
    pub fn parse_all(texts: &[&str]) -> Result<Grammar, AbnfError> {
        let mut g = Grammar::default();
        g.add(CORE)?;
        for t in texts {
            g.add(t)?;
        }
        g.check()?;
        Ok(g)
    }

    fn add(&mut self, text: &str) -> Result<(), AbnfError> {
        // Join continuation lines (indented) to their rule; keep each rule's comments.
        let mut pending: Option<(usize, String, String)> = None;
        let mut rules = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let (body, comment) = match raw.find(';') {
                // A ';' inside a char-val is not a comment: count quotes before it.
                Some(p) if raw[..p].matches('"').count() % 2 == 0 => (&raw[..p], &raw[p + 1..]),
                _ => (raw, ""),
            };
            let continues = raw.starts_with([' ', '\t']);
            if continues {
                if let Some((_, b, c)) = pending.as_mut() {
                    b.push(' ');
                    b.push_str(body.trim());
                    c.push(' ');
                    c.push_str(comment);
                }
                continue;
            }
            if let Some(p) = pending.take() {
                rules.push(p);
            }
            if body.trim().is_empty() {
                continue;
            }
            pending = Some((i + 1, body.trim().to_owned(), comment.to_owned()));
        }
        rules.extend(pending);
        for (line, body, comment) in rules {
            let Some(eq) = body.find('=') else {
                return Err(AbnfError {
                    line,
                    reason: "no '=' in rule".into(),
                });
            };
            let name = body[..eq].trim().to_ascii_lowercase();
            if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
                return Err(AbnfError {
                    line,
                    reason: format!("bad rule name {name:?}"),
                });
            }
            let incremental = body[eq + 1..].starts_with('/');
            let rest = if incremental {
                &body[eq + 2..]
            } else {
                &body[eq + 1..]
            };
            let mut p = Parser {
                s: rest.as_bytes(),
                pos: 0,
                line,
            };
            let node = p.alternation()?;
            p.skip_ws();
            if p.pos != rest.len() {
                return p.err(format!("trailing text {:?}", &rest[p.pos..]));
            }
            collect_literals(&node, &mut self.literals);
            let notes = annotations(&comment, line)?;
            if incremental {
                let Some(r) = self.rules.get_mut(&name) else {
                    return Err(AbnfError {
                        line,
                        reason: format!("=/ for undefined {name}"),
                    });
                };
                let old = std::mem::replace(&mut r.node, Node::Alt(vec![]));
                r.node = match old {
                    Node::Alt(mut v) => {
                        v.push(node);
                        Node::Alt(v)
                    }
                    other => Node::Alt(vec![other, node]),
                };
            } else {
                // A grammar may redefine a core rule, and repeat a rule identically; it may not
                // define a rule twice in two ways.
                if let Some(old) = self.rules.get(&name).filter(|r| r.line != 0) {
                    if old.node == node {
                        continue;
                    }
                    return Err(AbnfError {
                        line,
                        reason: format!("{name} defined twice"),
                    });
                }
                self.rules.insert(name, Rule { node, notes, line });
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<(), AbnfError> {
        fn walk(g: &Grammar, n: &Node, line: usize) -> Result<(), AbnfError> {
            match n {
                Node::Rule(r) if !g.rules.contains_key(r) => Err(AbnfError {
                    line,
                    reason: format!("undefined rule {r}"),
                }),
                Node::Alt(v) | Node::Cat(v) => v.iter().try_for_each(|n| walk(g, n, line)),
                Node::Rep { node, .. } => walk(g, node, line),
                _ => Ok(()),
            }
        }
        for r in self.rules.values() {
            walk(self, &r.node, r.line)?;
        }
        Ok(())
    }

    /// The grammar's literals as a libFuzzer dictionary (`"\xNN"` escapes), deduplicated.
    pub fn dictionary(&self) -> String {
        let mut lits = self.literals.clone();
        lits.sort();
        lits.dedup();
        let mut out = String::new();
        for l in lits {
            out.push('"');
            for &b in &l {
                if b.is_ascii_graphic() && b != b'"' && b != b'\\' || b == b' ' {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("\\x{b:02X}"));
                }
            }
            out.push_str("\"\n");
        }
        out
    }
}

/// A deterministic xorshift generator: the same seed gives the same inputs on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}

/// Derives inputs from a grammar.
#[derive(Debug)]
pub struct Generator<'g> {
    grammar: &'g Grammar,
    /// Cap on unbounded repetition (`*x`, `n*x`: at most `n + max_repeat`).
    pub max_repeat: usize,
    /// Depth beyond which only minimal derivations are chosen.
    pub max_depth: usize,
    rng: Rng,
}

impl<'g> Generator<'g> {
    /// A generator with a seed.
    pub fn new(grammar: &'g Grammar, seed: u64) -> Generator<'g> {
        Generator {
            grammar,
            max_repeat: 4,
            max_depth: 24,
            rng: Rng::new(seed),
        }
    }

    fn rule(&self, name: &str) -> &'g Rule {
        self.grammar
            .rules
            .get(&name.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("no rule {name}"))
    }

    /// A valid derivation of `rule` as one byte string.
    pub fn bytes(&mut self, rule: &str) -> Vec<u8> {
        let mut out = Vec::new();
        self.gen_rule(rule, 0, &mut out);
        out
    }

    fn gen_rule(&mut self, name: &str, depth: usize, out: &mut Vec<u8>) {
        let rule = self.rule(name);
        let start = out.len();
        self.gen(&rule.node, depth + 1, out);
        if let Some(n) = rule.notes.exact_length {
            out.resize(start + n, 0);
        }
    }

    fn gen(&mut self, node: &Node, depth: usize, out: &mut Vec<u8>) {
        match node {
            Node::Lit(l) => out.extend_from_slice(l),
            Node::Range(a, b) => out.push(self.rng.range(*a as usize, *b as usize) as u8),
            Node::Rule(r) => self.gen_rule(r, depth, out),
            Node::Alt(v) => {
                let i = if depth > self.max_depth {
                    0
                } else {
                    self.rng.range(0, v.len() - 1)
                };
                self.gen(&v[i], depth, out);
            }
            Node::Rep { min, max, node } => {
                let hi = max.unwrap_or(min + self.max_repeat);
                let hi = if depth > self.max_depth { *min } else { hi };
                // Large exact counts (`72%x00`) are generated exactly; large bounds are capped.
                let hi = if hi - min > self.max_repeat * 4 {
                    min + self.max_repeat * 4
                } else {
                    hi
                };
                let n = self.rng.range(*min, hi);
                for _ in 0..n {
                    self.gen(node, depth, out);
                }
            }
            Node::Cat(items) => self.gen_cat(items, depth, out),
        }
    }

    fn gen_cat(&mut self, items: &[Node], depth: usize, out: &mut Vec<u8>) {
        let mut i = 0;
        while i < items.len() {
            let width = match &items[i] {
                Node::Rule(r) => self.rule(r).notes.length_of_rest,
                _ => None,
            };
            match width {
                Some(w) => {
                    let mut rest = Vec::new();
                    self.gen_cat(&items[i + 1..], depth, &mut rest);
                    let len = rest.len() as u64;
                    out.extend_from_slice(&len.to_be_bytes()[8 - w..]);
                    out.extend_from_slice(&rest);
                    return;
                }
                None => self.gen(&items[i], depth, out),
            }
            i += 1;
        }
    }

    /// A valid derivation of a `@frames` rule as a list of frames.
    pub fn frames(&mut self, rule: &str) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.gen_frames(rule, &mut out);
        out
    }

    fn gen_frames(&mut self, name: &str, out: &mut Vec<Vec<u8>>) {
        let rule = self.rule(name);
        assert!(rule.notes.frames, "{name} is not a @frames rule");
        let mut node = &rule.node;
        // A @frames rule may be an alternation of @frames rules.
        if let Node::Alt(v) = node {
            node = &v[self.rng.range(0, v.len() - 1)];
        }
        let items: Vec<&Node> = match node {
            Node::Cat(v) => v.iter().collect(),
            other => vec![other],
        };
        for item in items {
            match item {
                Node::Rule(r) if self.rule(r).notes.frames => self.gen_frames(r, out),
                Node::Rule(r) => out.push(self.bytes(r)),
                Node::Rep { min, max, node } => {
                    let hi = max.unwrap_or(min + self.max_repeat);
                    for _ in 0..self.rng.range(*min, hi) {
                        if let Node::Rule(r) = &**node {
                            out.push(self.bytes(r));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// A valid derivation with one mutation: an octet changed, inserted or removed, a cut, or
    /// an element duplicated. The result may still be valid; it is never guaranteed invalid.
    pub fn near_valid(&mut self, rule: &str) -> Vec<u8> {
        let mut v = self.bytes(rule);
        let len = v.len();
        match self.rng.range(0, 4) {
            0 if len > 0 => {
                let i = self.rng.range(0, len - 1);
                v[i] = v[i].wrapping_add(self.rng.range(1, 255) as u8);
            }
            1 => {
                let i = self.rng.range(0, len);
                v.insert(i, self.rng.next_u64() as u8);
            }
            2 if len > 0 => {
                let i = self.rng.range(0, len - 1);
                v.remove(i);
            }
            3 => {
                let i = self.rng.range(0, len);
                v.truncate(i);
            }
            _ => {
                let other = self.bytes(rule);
                v.extend_from_slice(&other);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_construct() {
        let g = Grammar::parse(
            "a = b / \"xy\" c ; comment\nb = 2*3%x41-43 [%d48] (%b1 / %x4A.4B)\nc = *DIGIT\n  / SP\nc =/ \"z\"\n",
        )
        .unwrap();
        assert!(matches!(g.rules["a"].node, Node::Alt(_)));
        assert!(g.literals.contains(&b"xy".to_vec()));
        assert!(g.literals.contains(&b"JK".to_vec()));
        match &g.rules["c"].node {
            Node::Alt(v) => assert_eq!(v.len(), 3),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("a = \"open\n", 1),
            ("a = b\n", 0),
            ("a = x\nb = (c\n", 2),
            ("a = 3*2x\nx = %x00\n", 1),
            ("a = %x100-101\n", 1),
            ("a = <prose>\n", 1),
            ("a = %x00 ; @bogus\n", 1),
        ] {
            let e = Grammar::parse(text).unwrap_err();
            if line > 0 {
                assert_eq!(e.line, line, "{text:?}: {e}");
            }
        }
        assert!(Grammar::parse("a = %x00\na = %x01\n").is_err());
    }

    #[test]
    fn length_annotations_fill_in_lengths() {
        let g = Grammar::parse(
            "name = len 1*9%x61-7A\nlen = OCTET ; @length-of-rest u8\nwide = wlen 3OCTET\nwlen = 4OCTET ; @length-of-rest be32\npad = 1*3%x41 ; @exact-length 6\n",
        )
        .unwrap();
        for seed in 0..50 {
            let mut gen = Generator::new(&g, seed);
            let n = gen.bytes("name");
            assert_eq!(usize::from(n[0]), n.len() - 1);
            assert_eq!(gen.bytes("wide")[..4], [0, 0, 0, 3]);
            let p = gen.bytes("pad");
            assert_eq!(p.len(), 6);
            assert!(p.starts_with(b"A") && p.ends_with(&[0]));
        }
    }

    #[test]
    fn generation_is_deterministic_per_seed() {
        let g = Grammar::parse("a = *OCTET\n").unwrap();
        assert_eq!(
            Generator::new(&g, 7).bytes("a"),
            Generator::new(&g, 7).bytes("a")
        );
    }
}
