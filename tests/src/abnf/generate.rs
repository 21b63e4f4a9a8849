//! Derivations: a seeded random walk over a [`Grammar`] that keeps the tree it walked, so that
//! length fields can be computed from what follows them and mutations land on grammar
//! boundaries.

use std::collections::BTreeSet;

use super::grammar::{Grammar, Node};

/// A deterministic xorshift generator: the same seed gives the same inputs on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any seed, 0 included).
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so that neighbouring seeds start far apart; never zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
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
        debug_assert!(lo <= hi);
        let span = (hi - lo) as u64 + 1;
        lo + (self.next_u64() % span) as usize
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next_u64().is_multiple_of(n)
    }
}

/// What a derivation node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Literal octets (a char-val or dotted num-val).
    Literal {
        /// The octets.
        octets: Vec<u8>,
        /// Whether the grammar matches them in either case.
        nocase: bool,
    },
    /// One octet drawn from a range.
    Octet {
        /// The octet.
        value: u8,
        /// The range's first octet.
        lo: u8,
        /// The range's last octet.
        hi: u8,
    },
    /// A rule; its one child is the rule's element. `pad_to`: its `@exact-length`.
    Rule {
        /// The rule's name.
        name: String,
        /// The length its octets are cut or NUL-padded to.
        pad_to: Option<usize>,
    },
    /// A concatenation: the children in order.
    Sequence,
    /// A repetition: one child per occurrence.
    Repeat {
        /// Fewest occurrences the grammar allows.
        min: usize,
        /// Most occurrences the grammar allows.
        max: Option<usize>,
        /// The repeated element (to derive one more occurrence).
        node: Node,
    },
    /// A `@length-of-rest` field: rendered as the big-endian length of the siblings after it,
    /// plus `delta` (0 unless a mutation made it off by one).
    Length {
        /// The field's rule.
        name: String,
        /// Its width in octets.
        width: usize,
        /// What is added to the true length.
        delta: i64,
    },
}

/// One node of a derivation tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derivation {
    /// What it is.
    pub kind: Kind,
    /// Its parts.
    pub children: Vec<Derivation>,
}

impl Derivation {
    fn leaf(kind: Kind) -> Derivation {
        Derivation {
            kind,
            children: Vec::new(),
        }
    }

    /// The octets this derivation stands for, every length field computed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.render(&mut out, &mut Vec::new());
        out
    }

    /// The octets, and every offset where an element starts or ends (strictly inside).
    pub fn to_bytes_with_boundaries(&self) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut marks = Vec::new();
        self.render(&mut out, &mut marks);
        let len = out.len();
        let mut marks: Vec<usize> = marks.into_iter().filter(|&m| m > 0 && m < len).collect();
        marks.sort_unstable();
        marks.dedup();
        (out, marks)
    }

    fn render(&self, out: &mut Vec<u8>, marks: &mut Vec<usize>) {
        let start = out.len();
        marks.push(start);
        match &self.kind {
            Kind::Literal { octets, .. } => out.extend_from_slice(octets),
            Kind::Octet { value, .. } => out.push(*value),
            // A length field alone (not inside a sequence) counts nothing after it.
            Kind::Length { width, delta, .. } => write_length(out, start, *width, 0, *delta),
            Kind::Rule { pad_to, .. } => {
                render_sequence(&self.children, out, marks);
                if let Some(n) = pad_to {
                    out.resize(start + n, 0);
                    marks.retain(|&m| m <= start + n);
                }
            }
            Kind::Sequence | Kind::Repeat { .. } => render_sequence(&self.children, out, marks),
        }
        marks.push(out.len());
    }

    /// The names of every rule this derivation went through.
    pub fn rules_used(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        self.collect_rules(&mut names);
        names
    }

    fn collect_rules(&self, names: &mut BTreeSet<String>) {
        match &self.kind {
            Kind::Rule { name, .. } | Kind::Length { name, .. } => {
                names.insert(name.clone());
            }
            _ => {}
        }
        self.children.iter().for_each(|c| c.collect_rules(names));
    }

    pub(super) fn at_mut(&mut self, path: &[usize]) -> &mut Derivation {
        match path.split_first() {
            None => self,
            Some((&i, rest)) => self.children[i].at_mut(rest),
        }
    }
}

/// Renders siblings; a length field among them is written once the siblings after it are.
fn render_sequence(children: &[Derivation], out: &mut Vec<u8>, marks: &mut Vec<usize>) {
    for (i, child) in children.iter().enumerate() {
        if let Kind::Length { width, delta, .. } = child.kind {
            let at = out.len();
            marks.push(at);
            out.resize(at + width, 0);
            marks.push(at + width);
            render_sequence(&children[i + 1..], out, marks);
            let rest = out.len() - at - width;
            write_length(out, at, width, rest, delta);
            return;
        }
        child.render(out, marks);
    }
}

/// Writes `len + delta` big-endian in `width` octets at `at` (wrapping, so an off-by-one below
/// zero is all ones).
fn write_length(out: &mut Vec<u8>, at: usize, width: usize, len: usize, delta: i64) {
    if out.len() < at + width {
        out.resize(at + width, 0);
    }
    let value = (len as i128 + i128::from(delta)) as u128 as u64;
    out[at..at + width].copy_from_slice(&value.to_be_bytes()[8 - width..]);
}

/// The largest length a field of `width` octets holds.
fn width_max(width: usize) -> u64 {
    if width >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * width)) - 1
    }
}

/// Derives inputs from a grammar.
#[derive(Debug)]
pub struct Generator<'g> {
    grammar: &'g Grammar,
    /// Occurrences beyond the minimum that an unbounded repetition (`*x`, `n*x`) may take.
    pub max_repeat: usize,
    /// Rule depth beyond which only the shallowest derivations are taken (bounds recursion).
    pub max_depth: usize,
    /// Whether to favour the edges: a range's first and last octet, a repetition's least and
    /// greatest count (up to [`Generator::max_edge`]).
    pub edges: bool,
    /// The greatest bounded repetition count taken as an edge (`1*255x` takes 255 occurrences
    /// now and then; above this, bounded repetitions are capped like unbounded ones).
    pub max_edge: usize,
    rng: Rng,
    minimal: bool,
}

impl<'g> Generator<'g> {
    /// A generator with a seed and the default bounds.
    pub fn new(grammar: &'g Grammar, seed: u64) -> Generator<'g> {
        Generator {
            grammar,
            max_repeat: 4,
            max_depth: 32,
            edges: true,
            max_edge: 300,
            rng: Rng::new(seed),
            minimal: false,
        }
    }

    /// The random source, for callers that vary what they ask for.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// A valid derivation of `rule`.
    ///
    /// # Panics
    /// When `rule` is not in the grammar.
    pub fn derive(&mut self, rule: &str) -> Derivation {
        self.gen_rule(&rule.to_ascii_lowercase(), 0)
    }

    /// The octets of a valid derivation of `rule`.
    pub fn bytes(&mut self, rule: &str) -> Vec<u8> {
        self.derive(rule).to_bytes()
    }

    fn gen_rule(&mut self, name: &str, depth: usize) -> Derivation {
        let rule = self
            .grammar
            .rule(name)
            .unwrap_or_else(|| panic!("no rule {name} in the grammar"));
        let child = self.gen(&rule.node, depth + 1);
        let mut d = Derivation {
            kind: Kind::Rule {
                name: rule.name.clone(),
                pad_to: rule.notes.exact_length,
            },
            children: vec![child],
        };
        // A derivation longer than its exact length would be cut: derive again, the last
        // attempts as small as the grammar allows.
        if let Some(n) = rule.notes.exact_length {
            let mut attempt = 0;
            while d.to_bytes().len() > n && attempt < 8 {
                let was = std::mem::replace(&mut self.minimal, attempt >= 6);
                d.children = vec![self.gen(&rule.node, depth + 1)];
                self.minimal = was;
                attempt += 1;
            }
        }
        d
    }

    pub(super) fn gen(&mut self, node: &Node, depth: usize) -> Derivation {
        match node {
            Node::Lit { octets, nocase } => Derivation::leaf(Kind::Literal {
                octets: octets.clone(),
                nocase: *nocase,
            }),
            Node::Range(lo, hi) => {
                let value = if self.edges && self.rng.one_in(4) {
                    if self.rng.one_in(2) {
                        *lo
                    } else {
                        *hi
                    }
                } else {
                    self.rng.range(usize::from(*lo), usize::from(*hi)) as u8
                };
                Derivation::leaf(Kind::Octet {
                    value,
                    lo: *lo,
                    hi: *hi,
                })
            }
            Node::Rule(r) => self.gen_rule(r, depth),
            Node::Alt(alts) => {
                let i = if self.minimal || depth > self.max_depth {
                    // The shallowest alternative: recursion ends.
                    (0..alts.len())
                        .min_by_key(|&i| self.grammar.height(&alts[i]))
                        .expect("an alternation has alternatives")
                } else {
                    self.rng.range(0, alts.len() - 1)
                };
                self.gen(&alts[i], depth)
            }
            Node::Rep { min, max, node } => {
                let count = self.count(*min, *max, depth);
                let children = (0..count).map(|_| self.gen(node, depth)).collect();
                Derivation {
                    kind: Kind::Repeat {
                        min: *min,
                        max: *max,
                        node: (**node).clone(),
                    },
                    children,
                }
            }
            Node::Cat(items) => Derivation {
                kind: Kind::Sequence,
                children: self.gen_sequence(items, depth),
            },
        }
    }

    fn count(&mut self, min: usize, max: Option<usize>, depth: usize) -> usize {
        if self.minimal || depth > self.max_depth || max == Some(min) {
            return min;
        }
        // Unbounded: a few beyond the minimum. Bounded: up to four times that, or the maximum.
        let cap = max.map_or(min + self.max_repeat, |m| {
            m.min(min.saturating_add(4 * self.max_repeat))
        });
        if self.edges && self.rng.one_in(8) {
            return match max {
                Some(m) if m <= self.max_edge && self.rng.one_in(2) => m,
                _ => min,
            };
        }
        self.rng.range(min, cap)
    }

    fn gen_sequence(&mut self, items: &[Node], depth: usize) -> Vec<Derivation> {
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let length = match item {
                Node::Rule(r) => self
                    .grammar
                    .rule(r)
                    .and_then(|rule| Some((rule.name.clone(), rule.notes.length_of_rest?))),
                _ => None,
            };
            let Some((name, width)) = length else {
                out.push(self.gen(item, depth));
                continue;
            };
            // What follows must fit in the field: derive again, and smaller, until it does.
            let mut rest = self.gen_sequence(&items[i + 1..], depth);
            for attempt in 0..8 {
                let len: usize = rest.iter().map(|d| d.to_bytes().len()).sum();
                if len as u64 <= width_max(width) {
                    break;
                }
                let was = std::mem::replace(&mut self.minimal, attempt >= 3);
                rest = self.gen_sequence(&items[i + 1..], depth);
                self.minimal = was;
            }
            out.push(Derivation::leaf(Kind::Length {
                name,
                width,
                delta: 0,
            }));
            out.extend(rest);
            break;
        }
        out
    }

    /// A valid derivation of a `@frames` rule: one derivation per frame.
    ///
    /// # Panics
    /// When `rule` is not a `@frames` rule.
    pub fn derive_frames(&mut self, rule: &str) -> Vec<Derivation> {
        let r = self
            .grammar
            .rule(rule)
            .unwrap_or_else(|| panic!("no rule {rule} in the grammar"));
        assert!(r.notes.frames, "{rule} is not a @frames rule");
        let mut out = Vec::new();
        self.gen_frames(&r.node, &mut out);
        out
    }

    fn gen_frames(&mut self, node: &Node, out: &mut Vec<Derivation>) {
        match node {
            Node::Rule(r) => {
                let rule = self.grammar.rule(r).expect("checked grammar");
                if rule.notes.frames {
                    self.gen_frames(&rule.node, out);
                } else {
                    out.push(self.gen_rule(r, 0));
                }
            }
            Node::Cat(items) => items.iter().for_each(|n| self.gen_frames(n, out)),
            Node::Alt(alts) => {
                let i = self.rng.range(0, alts.len() - 1);
                self.gen_frames(&alts[i], out);
            }
            Node::Rep { min, max, node } => {
                for _ in 0..self.count(*min, *max, 0) {
                    self.gen_frames(node, out);
                }
            }
            // Literals in a frame list stand for no frame (`""`: no credentials).
            Node::Lit { .. } | Node::Range(..) => {}
        }
    }

    /// The frames of a valid derivation of a `@frames` rule.
    pub fn frames(&mut self, rule: &str) -> Vec<Vec<u8>> {
        self.derive_frames(rule)
            .iter()
            .map(Derivation::to_bytes)
            .collect()
    }
}
