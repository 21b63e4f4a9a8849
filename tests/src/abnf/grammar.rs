//! A [`Grammar`]: the rules of one or more ABNF texts and the RFC 5234 core rules, checked as a
//! whole.

use std::collections::HashMap;

use super::error::{AbnfError, AbnfErrorKind};
use super::reader::{ParsedRule, Reader};

/// A grammar element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// One of several alternatives (`a / b`).
    Alt(Vec<Node>),
    /// A sequence (`a b`).
    Cat(Vec<Node>),
    /// `min*max element`; `max` is `None` when unbounded. `[x]` is `0*1x`.
    Rep {
        /// Fewest repetitions.
        min: usize,
        /// Most repetitions, if bounded.
        max: Option<usize>,
        /// The repeated element.
        node: Box<Node>,
    },
    /// A rule reference, by lower-cased name.
    Rule(String),
    /// A literal: a char-val or a dotted num-val (`%x31.2E.30`).
    Lit {
        /// The octets as written.
        octets: Vec<u8>,
        /// A plain or `%i` char-val, which matches ASCII letters in either case (RFC 5234
        /// §2.3); generated as written. `%s` char-vals and num-vals match exactly.
        nocase: bool,
    },
    /// One octet in an inclusive range (`%x41-5A`; `%x41` is `Range(0x41, 0x41)`).
    Range(u8, u8),
}

/// Structured annotations from a rule's comments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Annotations {
    /// `@length-of-rest u8|be16|be32|be64`: the width of the big-endian length, in octets.
    pub length_of_rest: Option<usize>,
    /// `@exact-length N`.
    pub exact_length: Option<usize>,
    /// `@frames`.
    pub frames: bool,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The name as first written.
    pub name: String,
    /// Its definition (alternatives added with `=/` included).
    pub node: Node,
    /// Its annotations.
    pub notes: Annotations,
    /// The line it starts on, in the text that defined it (0 for core rules).
    pub line: usize,
}

/// RFC 5234 Appendix B.1, the core rules.
const CORE: &str = "\
ALPHA  = %x41-5A / %x61-7A
BIT    = \"0\" / \"1\"
CHAR   = %x01-7F
CR     = %x0D
CRLF   = CR LF
CTL    = %x00-1F / %x7F
DIGIT  = %x30-39
DQUOTE = %x22
HEXDIG = DIGIT / \"A\" / \"B\" / \"C\" / \"D\" / \"E\" / \"F\"
HTAB   = %x09
LF     = %x0A
LWSP   = *(WSP / CRLF WSP)
OCTET  = %x00-FF
SP     = %x20
VCHAR  = %x21-7E
WSP    = SP / HTAB
";

/// A set of rules, keyed by lower-cased name.
#[derive(Debug, Clone)]
pub struct Grammar {
    rules: HashMap<String, Rule>,
    /// Rule names in definition order (core rules first).
    order: Vec<String>,
    /// The least derivation depth of each rule (filled by [`Grammar::check`]).
    heights: HashMap<String, usize>,
}

impl Grammar {
    /// A grammar holding only the core rules.
    pub fn core() -> Grammar {
        let mut g = Grammar {
            rules: HashMap::new(),
            order: Vec::new(),
            heights: HashMap::new(),
        };
        g.add_text(CORE, true).expect("the core rules parse");
        g
    }

    /// Parses one ABNF text (the core rules are added unless it redefines them).
    pub fn parse(text: &str) -> Result<Grammar, AbnfError> {
        Grammar::parse_all(&[text])
    }

    /// Parses several texts into one grammar. A later text may repeat a rule of an earlier one
    /// word for word (the PLAIN grammar repeats ZMTP's READY and ERROR), but not redefine it.
    pub fn parse_all(texts: &[&str]) -> Result<Grammar, AbnfError> {
        let mut g = Grammar::core();
        for text in texts {
            g.add(text)?;
        }
        g.check()?;
        Ok(g)
    }

    /// Adds the rules of one more text; [`Grammar::check`] must follow before use.
    pub fn add(&mut self, text: &str) -> Result<(), AbnfError> {
        self.add_text(text, false)
    }

    fn add_text(&mut self, text: &str, core: bool) -> Result<(), AbnfError> {
        let mut reader = Reader::new(text);
        while let Some(parsed) = reader.next_rule()? {
            self.define(parsed, core)?;
        }
        Ok(())
    }

    fn define(&mut self, parsed: ParsedRule, core: bool) -> Result<(), AbnfError> {
        let key = parsed.name.to_ascii_lowercase();
        let line = if core { 0 } else { parsed.line };
        let err = |kind| Err(AbnfError { line, kind });
        if parsed.incremental {
            let Some(rule) = self.rules.get_mut(&key) else {
                return err(AbnfErrorKind::IncrementalWithoutRule(parsed.name));
            };
            let old = std::mem::replace(&mut rule.node, Node::Alt(Vec::new()));
            let mut alts = match old {
                Node::Alt(alts) => alts,
                other => vec![other],
            };
            match parsed.node {
                Node::Alt(more) => alts.extend(more),
                other => alts.push(other),
            }
            rule.node = Node::Alt(alts);
            return Ok(());
        }
        if let Some(old) = self.rules.get(&key) {
            // Core rules may be redefined; other rules only repeated identically.
            if old.line != 0 {
                if old.node == parsed.node && old.notes == parsed.notes {
                    return Ok(());
                }
                return err(AbnfErrorKind::DuplicateRule(parsed.name));
            }
        } else {
            self.order.push(key.clone());
        }
        self.rules.insert(
            key,
            Rule {
                name: parsed.name,
                node: parsed.node,
                notes: parsed.notes,
                line,
            },
        );
        Ok(())
    }

    /// Checks the grammar as a whole: every rule used is defined, every rule has a finite
    /// derivation, and annotations fit their rules. Records each rule's least derivation depth.
    pub fn check(&mut self) -> Result<(), AbnfError> {
        for key in &self.order {
            let rule = &self.rules[key];
            let mut missing = None;
            visit(&rule.node, &mut |n| {
                if let Node::Rule(r) = n {
                    if missing.is_none() && !self.rules.contains_key(r) {
                        missing = Some(r.clone());
                    }
                }
            });
            if let Some(r) = missing {
                return Err(AbnfError {
                    line: rule.line,
                    kind: AbnfErrorKind::UndefinedRule(r),
                });
            }
        }
        self.heights = self.least_heights();
        if let Some(key) = self.order.iter().find(|k| !self.heights.contains_key(*k)) {
            let rule = &self.rules[key];
            return Err(AbnfError {
                line: rule.line,
                kind: AbnfErrorKind::NonTerminating(rule.name.clone()),
            });
        }
        for key in &self.order {
            self.check_annotations(&self.rules[key])?;
        }
        Ok(())
    }

    fn check_annotations(&self, rule: &Rule) -> Result<(), AbnfError> {
        let misplaced = |reason: String| {
            Err(AbnfError {
                line: rule.line,
                kind: AbnfErrorKind::MisplacedAnnotation {
                    rule: rule.name.clone(),
                    reason,
                },
            })
        };
        if let Some(width) = rule.notes.length_of_rest {
            let fixed = self.fixed_length(&rule.node);
            if fixed != Some(width) {
                return misplaced(format!(
                    "a {width}-octet length, but the rule derives {fixed:?} octets"
                ));
            }
        }
        if rule.notes.frames {
            let mut literal = None;
            visit(&rule.node, &mut |n| {
                if let Node::Lit { octets, .. } = n {
                    if !octets.is_empty() {
                        literal = Some(String::from_utf8_lossy(octets).into_owned());
                    }
                }
            });
            if let Some(l) = literal {
                return misplaced(format!("@frames rule holds the literal {l:?}"));
            }
        }
        Ok(())
    }

    /// The least derivation depth of every rule that has a finite derivation.
    fn least_heights(&self) -> HashMap<String, usize> {
        let mut heights = HashMap::new();
        loop {
            let mut changed = false;
            for key in &self.order {
                if let Some(h) = node_height(&self.rules[key].node, &heights) {
                    if heights.get(key).is_none_or(|&old| h < old) {
                        heights.insert(key.clone(), h);
                        changed = true;
                    }
                }
            }
            if !changed {
                return heights;
            }
        }
    }

    /// The least derivation depth of `node` (0 for a terminal).
    pub(super) fn height(&self, node: &Node) -> usize {
        node_height(node, &self.heights).unwrap_or(usize::MAX)
    }

    /// The length of every derivation of `node`, when they all have the same length.
    pub fn fixed_length(&self, node: &Node) -> Option<usize> {
        self.fixed_length_at(node, 0)
    }

    fn fixed_length_at(&self, node: &Node, depth: usize) -> Option<usize> {
        if depth > 64 {
            return None;
        }
        match node {
            Node::Lit { octets, .. } => Some(octets.len()),
            Node::Range(..) => Some(1),
            Node::Rule(r) => {
                let rule = self.rules.get(r)?;
                rule.notes
                    .exact_length
                    .or_else(|| self.fixed_length_at(&rule.node, depth + 1))
            }
            Node::Cat(items) => items
                .iter()
                .map(|n| self.fixed_length_at(n, depth + 1))
                .sum(),
            Node::Alt(alts) => {
                let first = self.fixed_length_at(&alts[0], depth + 1)?;
                alts.iter()
                    .all(|n| self.fixed_length_at(n, depth + 1) == Some(first))
                    .then_some(first)
            }
            Node::Rep { min, max, node } => {
                if *max != Some(*min) {
                    return None;
                }
                Some(min * self.fixed_length_at(node, depth + 1)?)
            }
        }
    }

    /// The rule under its lower-cased name, with that name as the grammar holds it.
    pub(super) fn entry(&self, key: &str) -> Option<(&String, &Rule)> {
        self.rules.get_key_value(key)
    }

    /// The rule named `name` (any case).
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.get(&name.to_ascii_lowercase())
    }

    /// Every rule, core rules first, then in definition order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.order.iter().map(|k| &self.rules[k])
    }

    /// The rules of this grammar's own texts (no core rules).
    pub fn own_rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules().filter(|r| r.line != 0)
    }
}

fn node_height(node: &Node, heights: &HashMap<String, usize>) -> Option<usize> {
    match node {
        Node::Lit { .. } | Node::Range(..) => Some(0),
        Node::Rule(r) => heights.get(r).map(|h| h + 1),
        Node::Cat(items) => items
            .iter()
            .map(|n| node_height(n, heights))
            .try_fold(0, |acc, h| h.map(|h| acc.max(h))),
        Node::Alt(alts) => alts.iter().filter_map(|n| node_height(n, heights)).min(),
        Node::Rep { min: 0, .. } => Some(0),
        Node::Rep { node, .. } => node_height(node, heights),
    }
}

/// Calls `f` on `node` and every element inside it (not through rule references).
pub(super) fn visit(node: &Node, f: &mut impl FnMut(&Node)) {
    f(node);
    match node {
        Node::Alt(v) | Node::Cat(v) => v.iter().for_each(|n| visit(n, f)),
        Node::Rep { node, .. } => visit(node, f),
        _ => {}
    }
}
