//! Recognition: whether octets (or a list of frames) derive from a rule, with the same reading
//! of the annotations as the generator's. Used to tell which near-valid inputs the grammar
//! still accepts, so that a parser's verdict can be held to the grammar's.

use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use super::grammar::{Grammar, Node};

impl Grammar {
    /// Whether `input` is a derivation of `rule` (any case), all of it.
    ///
    /// Char-vals match letters in either case (RFC 5234), `%s` char-vals and num-vals exactly.
    /// A `@length-of-rest` field must hold the length of what follows it in its concatenation;
    /// an `@exact-length N` rule takes exactly N octets: a derivation, then NULs.
    ///
    /// # Panics
    /// When `rule` is not in the grammar.
    pub fn matches(&self, rule: &str, input: &[u8]) -> bool {
        let (key, _) = self
            .entry(&rule.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("no rule {rule} in the grammar"));
        let mut m = Matcher {
            grammar: self,
            input,
            memo: HashMap::new(),
        };
        m.rule_ends(key, 0, input.len()).contains(&input.len())
    }

    /// Whether `frames` is a derivation of the `@frames` rule `rule`: each element that names a
    /// rule without `@frames` is one frame that must derive from it.
    ///
    /// # Panics
    /// When `rule` is not in the grammar.
    pub fn matches_frames<F: AsRef<[u8]>>(&self, rule: &str, frames: &[F]) -> bool {
        let (_, r) = self
            .entry(&rule.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("no rule {rule} in the grammar"));
        self.frame_ends(&r.node, frames, 0).contains(&frames.len())
    }

    fn frame_ends<F: AsRef<[u8]>>(&self, node: &Node, frames: &[F], start: usize) -> Vec<usize> {
        match node {
            Node::Rule(r) => {
                let (_, rule) = self.entry(r).expect("checked grammar");
                if rule.notes.frames {
                    self.frame_ends(&rule.node, frames, start)
                } else if start < frames.len() && self.matches(r, frames[start].as_ref()) {
                    vec![start + 1]
                } else {
                    Vec::new()
                }
            }
            Node::Cat(items) => {
                let mut at = vec![start];
                for item in items {
                    let next: BTreeSet<usize> = at
                        .iter()
                        .flat_map(|&p| self.frame_ends(item, frames, p))
                        .collect();
                    at = next.into_iter().collect();
                }
                at
            }
            Node::Alt(alts) => {
                let all: BTreeSet<usize> = alts
                    .iter()
                    .flat_map(|n| self.frame_ends(n, frames, start))
                    .collect();
                all.into_iter().collect()
            }
            Node::Rep { min, max, node } => {
                repeat(*min, *max, start, |p| self.frame_ends(node, frames, p))
            }
            Node::Lit { .. } | Node::Range(..) => vec![start],
        }
    }
}

/// The ends of `min*max` occurrences of an element from `start`, given the ends of one
/// occurrence from any position.
fn repeat(
    min: usize,
    max: Option<usize>,
    start: usize,
    mut step: impl FnMut(usize) -> Vec<usize>,
) -> Vec<usize> {
    let mut seen = BTreeSet::new();
    let mut frontier = BTreeSet::from([start]);
    let mut count = 0;
    loop {
        if count >= min {
            // Past the minimum, a position reached again has nothing new to offer.
            frontier.retain(|&p| seen.insert(p));
        }
        if frontier.is_empty() || max == Some(count) {
            break;
        }
        frontier = frontier.iter().flat_map(|&p| step(p)).collect();
        count += 1;
    }
    seen.into_iter().collect()
}

struct Matcher<'g, 'i> {
    grammar: &'g Grammar,
    input: &'i [u8],
    memo: HashMap<(&'g str, usize, usize), Rc<Vec<usize>>>,
}

impl<'g> Matcher<'g, '_> {
    /// Every end of a derivation of `node` that starts at `start` and stays before `limit`.
    fn ends(&mut self, node: &'g Node, start: usize, limit: usize) -> Vec<usize> {
        match node {
            Node::Lit { octets, nocase } => {
                let end = start + octets.len();
                let ok = end <= limit && {
                    let have = &self.input[start..end];
                    if *nocase {
                        have.eq_ignore_ascii_case(octets)
                    } else {
                        have == &octets[..]
                    }
                };
                if ok {
                    vec![end]
                } else {
                    Vec::new()
                }
            }
            Node::Range(lo, hi) => {
                if start < limit && (*lo..=*hi).contains(&self.input[start]) {
                    vec![start + 1]
                } else {
                    Vec::new()
                }
            }
            Node::Rule(r) => self.rule_ends(r, start, limit).to_vec(),
            Node::Alt(alts) => {
                let mut all = BTreeSet::new();
                for n in alts {
                    all.extend(self.ends(n, start, limit));
                }
                all.into_iter().collect()
            }
            Node::Cat(items) => self.sequence_ends(items, start, limit),
            Node::Rep { min, max, node } => {
                repeat(*min, *max, start, |p| self.ends(node, p, limit))
            }
        }
    }

    fn rule_ends(&mut self, key: &'g str, start: usize, limit: usize) -> Rc<Vec<usize>> {
        if let Some(found) = self.memo.get(&(key, start, limit)) {
            return Rc::clone(found);
        }
        // A left-recursive rule meets this empty answer instead of looping.
        self.memo.insert((key, start, limit), Rc::new(Vec::new()));
        let (_, rule) = self.grammar.entry(key).expect("checked grammar");
        let ends = match rule.notes.exact_length {
            Some(n) if start + n > limit => Vec::new(),
            Some(n) => {
                let end = start + n;
                let inner = self.ends(&rule.node, start, end);
                let padded = inner
                    .iter()
                    .any(|&e| self.input[e..end].iter().all(|&b| b == 0));
                if padded {
                    vec![end]
                } else {
                    Vec::new()
                }
            }
            None => self.ends(&rule.node, start, limit),
        };
        let ends = Rc::new(ends);
        self.memo.insert((key, start, limit), Rc::clone(&ends));
        ends
    }

    fn sequence_ends(&mut self, items: &'g [Node], start: usize, limit: usize) -> Vec<usize> {
        let mut at = vec![start];
        for (i, item) in items.iter().enumerate() {
            if let Some(width) = self.length_width(item) {
                // The field holds the length of the rest of this concatenation.
                let mut out = Vec::new();
                for &p in &at {
                    if p + width > limit {
                        continue;
                    }
                    let len = self.input[p..p + width]
                        .iter()
                        .fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
                    let end = (p + width) as u128 + len;
                    if end > limit as u128 {
                        continue;
                    }
                    let end = end as usize;
                    if self
                        .sequence_ends(&items[i + 1..], p + width, end)
                        .contains(&end)
                    {
                        out.push(end);
                    }
                }
                out.sort_unstable();
                out.dedup();
                return out;
            }
            let mut next = BTreeSet::new();
            for &p in &at {
                next.extend(self.ends(item, p, limit));
            }
            if next.is_empty() {
                return Vec::new();
            }
            at = next.into_iter().collect();
        }
        at
    }

    fn length_width(&self, item: &Node) -> Option<usize> {
        match item {
            Node::Rule(r) => self.grammar.entry(r)?.1.notes.length_of_rest,
            _ => None,
        }
    }
}
