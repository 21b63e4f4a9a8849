//! Near-valid inputs: one mutation of a valid derivation, at a grammar boundary.

use std::fmt;

use super::generate::{Derivation, Generator, Kind};

/// The kinds of mutation near-valid mode applies, each at a grammar boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MutationKind {
    /// One element (a rule, an occurrence, a literal, an octet) removed.
    Drop,
    /// One element written twice.
    Duplicate,
    /// An octet from a range replaced by the octet just below or just above the range.
    OutOfRange,
    /// One octet of a literal changed (case flipped for a letter, else the next octet).
    Literal,
    /// A length field or an `@exact-length` one more or one less than the truth, or a
    /// repetition with one occurrence more or less.
    OffByOne,
    /// The input cut where an element starts or ends.
    Truncate,
}

impl MutationKind {
    /// Every kind.
    pub const ALL: [MutationKind; 6] = [
        MutationKind::Drop,
        MutationKind::Duplicate,
        MutationKind::OutOfRange,
        MutationKind::Literal,
        MutationKind::OffByOne,
        MutationKind::Truncate,
    ];
}

/// A near-valid input: a valid derivation with one mutation.
#[derive(Clone, PartialEq, Eq)]
pub struct Mutant {
    /// The octets.
    pub bytes: Vec<u8>,
    /// What was done.
    pub kind: MutationKind,
    /// Where: the rules from the start rule down to the mutated element.
    pub site: String,
}

impl fmt::Debug for Mutant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} at {} -> {:02x?}", self.kind, self.site, self.bytes)
    }
}

impl Generator<'_> {
    /// A valid derivation of `rule` with one mutation at a grammar boundary. The result is
    /// usually invalid, never guaranteed to be: duplicating an occurrence of `*x` stays valid.
    pub fn near_valid(&mut self, rule: &str) -> Mutant {
        let d = self.derive(rule);
        self.mutate(&d)
    }

    /// `d` with one mutation at a grammar boundary (see [`MutationKind`]).
    pub fn mutate(&mut self, d: &Derivation) -> Mutant {
        let mut sites: Vec<(MutationKind, Vec<usize>, String)> = Vec::new();
        collect_sites(d, &mut Vec::new(), "", &mut sites);
        let (bytes, marks) = d.to_bytes_with_boundaries();
        let mut kinds: Vec<MutationKind> = MutationKind::ALL
            .into_iter()
            .filter(|k| sites.iter().any(|(s, ..)| s == k))
            .collect();
        if !marks.is_empty() {
            kinds.push(MutationKind::Truncate);
        }
        if kinds.is_empty() {
            return Mutant {
                bytes,
                kind: MutationKind::Duplicate,
                site: "(nothing to mutate)".into(),
            };
        }
        let kind = kinds[self.rng().range(0, kinds.len() - 1)];
        if kind == MutationKind::Truncate {
            let at = marks[self.rng().range(0, marks.len() - 1)];
            return Mutant {
                bytes: bytes[..at].to_vec(),
                kind,
                site: format!("octet {at} of {}", bytes.len()),
            };
        }
        let candidates: Vec<&(MutationKind, Vec<usize>, String)> =
            sites.iter().filter(|(k, ..)| *k == kind).collect();
        let (_, path, site) = candidates[self.rng().range(0, candidates.len() - 1)].clone();
        let mut tree = d.clone();
        let up = self.rng().one_in(2);
        match kind {
            MutationKind::Drop | MutationKind::Duplicate => {
                let (&last, parent) = path.split_last().expect("never the root");
                let parent = tree.at_mut(parent);
                if kind == MutationKind::Drop {
                    parent.children.remove(last);
                } else {
                    let copy = parent.children[last].clone();
                    parent.children.insert(last, copy);
                }
            }
            MutationKind::OutOfRange => {
                if let Kind::Octet { value, lo, hi } = &mut tree.at_mut(&path).kind {
                    *value = match (lo.checked_sub(1), hi.checked_add(1)) {
                        (Some(below), Some(above)) => {
                            if up {
                                above
                            } else {
                                below
                            }
                        }
                        (Some(below), None) => below,
                        (None, Some(above)) => above,
                        (None, None) => unreachable!("a full range is no site"),
                    };
                }
            }
            MutationKind::Literal => {
                if let Kind::Literal { octets, .. } = &mut tree.at_mut(&path).kind {
                    let i = self.rng().range(0, octets.len() - 1);
                    octets[i] = if octets[i].is_ascii_alphabetic() {
                        octets[i] ^ 0x20
                    } else {
                        octets[i].wrapping_add(1)
                    };
                }
            }
            MutationKind::OffByOne => {
                let node = tree.at_mut(&path);
                let step: i64 = if up { 1 } else { -1 };
                match &mut node.kind {
                    Kind::Length { delta, .. } => *delta += step,
                    Kind::Rule {
                        pad_to: Some(n), ..
                    } => *n = n.saturating_add_signed(step as isize),
                    Kind::Repeat { node: element, .. } => {
                        if up || node.children.is_empty() {
                            let element = element.clone();
                            let extra = self.gen(&element, 0);
                            let at = self.rng().range(0, node.children.len());
                            node.children.insert(at, extra);
                        } else {
                            let at = self.rng().range(0, node.children.len() - 1);
                            node.children.remove(at);
                        }
                    }
                    _ => unreachable!("only lengths, exact lengths and repetitions are sites"),
                }
            }
            MutationKind::Truncate => unreachable!("handled above"),
        }
        Mutant {
            bytes: tree.to_bytes(),
            kind,
            site,
        }
    }

    /// A frame list with one mutation: a frame dropped or repeated, or one frame mutated.
    pub fn near_valid_frames(&mut self, rule: &str) -> (Vec<Vec<u8>>, MutationKind, String) {
        let frames = self.derive_frames(rule);
        let mut out: Vec<Vec<u8>> = frames.iter().map(Derivation::to_bytes).collect();
        if out.is_empty() {
            return (
                vec![Vec::new()],
                MutationKind::OffByOne,
                "one frame more".into(),
            );
        }
        let i = self.rng().range(0, out.len() - 1);
        if self.rng().one_in(3) {
            if self.rng().one_in(2) {
                out.remove(i);
                return (out, MutationKind::Drop, format!("frame {i}"));
            }
            out.insert(i, out[i].clone());
            return (out, MutationKind::Duplicate, format!("frame {i}"));
        }
        let m = self.mutate(&frames[i]);
        out[i] = m.bytes;
        (out, m.kind, format!("frame {i}: {}", m.site))
    }
}

/// Every place a mutation can land, with the path of child indices to it.
fn collect_sites(
    d: &Derivation,
    path: &mut Vec<usize>,
    site: &str,
    out: &mut Vec<(MutationKind, Vec<usize>, String)>,
) {
    let site = match &d.kind {
        Kind::Rule { name, .. } | Kind::Length { name, .. } if site.is_empty() => name.clone(),
        Kind::Rule { name, .. } | Kind::Length { name, .. } => format!("{site}/{name}"),
        _ => site.to_owned(),
    };
    if !path.is_empty() {
        out.push((MutationKind::Drop, path.clone(), site.clone()));
        out.push((MutationKind::Duplicate, path.clone(), site.clone()));
    }
    match &d.kind {
        Kind::Octet { lo, hi, .. } if *lo > 0 || *hi < 255 => {
            out.push((MutationKind::OutOfRange, path.clone(), site.clone()))
        }
        Kind::Literal { octets, .. } if !octets.is_empty() => {
            out.push((MutationKind::Literal, path.clone(), site.clone()))
        }
        Kind::Length { .. }
        | Kind::Rule {
            pad_to: Some(_), ..
        }
        | Kind::Repeat { .. } => out.push((MutationKind::OffByOne, path.clone(), site.clone())),
        _ => {}
    }
    for (i, child) in d.children.iter().enumerate() {
        path.push(i);
        collect_sites(child, path, &site, out);
        path.pop();
    }
}
