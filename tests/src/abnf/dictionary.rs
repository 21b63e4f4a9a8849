//! What the grammars give the fuzzers: a libFuzzer dictionary of their literal octet strings,
//! and seed files of valid derivations.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use super::generate::Generator;
use super::grammar::{visit, Grammar, Node};

/// libFuzzer keeps dictionary entries up to 64 octets.
const MAX_ENTRY: usize = 64;

/// Seeds larger than this are not written: the corpora hold small files.
pub const MAX_SEED: usize = 1024;

/// The prefix of every seed file [`Grammar::write_seeds`] writes (and replaces).
pub const SEED_PREFIX: &str = "grammar-";

impl Grammar {
    /// The octet strings a fuzzer should know: every literal of two octets or more, and every
    /// run of fixed elements in a concatenation (`%d5 "READY"` gives `\x05READY`), up to 64
    /// octets. Sorted, without repeats.
    pub fn dictionary_entries(&self) -> Vec<Vec<u8>> {
        let mut entries = BTreeSet::new();
        for rule in self.own_rules() {
            visit(&rule.node, &mut |node| match node {
                Node::Lit { octets, .. } if octets.len() >= 2 && octets.len() <= MAX_ENTRY => {
                    entries.insert(octets.clone());
                }
                Node::Cat(items) => {
                    let mut run = Vec::new();
                    for item in items {
                        let value = self.fixed_value(item, 0);
                        match value {
                            Some(v) if run.len() + v.len() <= MAX_ENTRY => run.extend(v),
                            other => {
                                if run.len() >= 2 {
                                    entries.insert(std::mem::take(&mut run));
                                }
                                run = other.filter(|v| v.len() <= MAX_ENTRY).unwrap_or_default();
                            }
                        }
                    }
                    if run.len() >= 2 {
                        entries.insert(run);
                    }
                }
                _ => {}
            });
        }
        entries.into_iter().collect()
    }

    /// The only octets `node` derives, if it derives exactly one string (length fields and
    /// padded rules excepted).
    fn fixed_value(&self, node: &Node, depth: usize) -> Option<Vec<u8>> {
        if depth > 16 {
            return None;
        }
        match node {
            Node::Lit { octets, .. } => Some(octets.clone()),
            Node::Range(lo, hi) if lo == hi => Some(vec![*lo]),
            Node::Range(..) => None,
            Node::Rule(r) => {
                let rule = self.rule(r)?;
                if rule.notes.length_of_rest.is_some() || rule.notes.exact_length.is_some() {
                    return None;
                }
                self.fixed_value(&rule.node, depth + 1)
            }
            Node::Cat(items) => items.iter().try_fold(Vec::new(), |mut acc, n| {
                acc.extend(self.fixed_value(n, depth + 1)?);
                (acc.len() <= MAX_ENTRY).then_some(acc)
            }),
            Node::Alt(alts) if alts.len() == 1 => self.fixed_value(&alts[0], depth + 1),
            Node::Alt(_) => None,
            Node::Rep { min, max, node } if *max == Some(*min) => {
                let one = self.fixed_value(node, depth + 1)?;
                (one.len() * min <= MAX_ENTRY).then(|| one.repeat(*min))
            }
            Node::Rep { .. } => None,
        }
    }

    /// [`Grammar::dictionary_entries`] as a libFuzzer dictionary, one quoted entry a line.
    pub fn dictionary(&self) -> String {
        self.dictionary_entries()
            .iter()
            .map(|e| dictionary_line(e) + "\n")
            .collect()
    }

    /// Replaces the `grammar-*` seeds in `dir` (made if missing) with up to `n` distinct valid
    /// derivations of `rule`, from seeds 0, 1, 2… (none over [`MAX_SEED`] octets), each named
    /// after a hash of its content. Returns the files written.
    pub fn write_seeds(&self, dir: &Path, rule: &str, n: usize) -> io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let ours = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(SEED_PREFIX));
            if ours && path.is_file() {
                std::fs::remove_file(&path)?;
            }
        }
        let mut names = BTreeSet::new();
        let mut written = Vec::new();
        for seed in 0..(n as u64).saturating_mul(8) {
            if written.len() == n {
                break;
            }
            let bytes = Generator::new(self, seed).bytes(rule);
            let name = seed_name(&bytes);
            if bytes.len() > MAX_SEED || !names.insert(name.clone()) {
                continue;
            }
            let path = dir.join(name);
            std::fs::write(&path, &bytes)?;
            written.push(path);
        }
        Ok(written)
    }
}

/// `grammar-` and the 64-bit FNV-1a hash of `bytes` in hex.
pub fn seed_name(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{SEED_PREFIX}{hash:016x}")
}

/// One dictionary entry, quoted, with `\xNN` for octets that are not printable ASCII.
pub fn dictionary_line(entry: &[u8]) -> String {
    let mut line = String::from("\"");
    for &b in entry {
        match b {
            b'"' | b'\\' => line.push_str(&format!("\\x{b:02x}")),
            0x20..=0x7E => line.push(char::from(b)),
            _ => line.push_str(&format!("\\x{b:02x}")),
        }
    }
    line.push('"');
    line
}

/// The entries of a libFuzzer dictionary (`"..."` or `name="..."` lines; `#` comments), with
/// `\\`, `\"` and `\xNN` escapes read.
pub fn parse_dictionary(text: &str) -> Vec<Vec<u8>> {
    let mut entries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(open) = line.find('"') else {
            continue;
        };
        let Some(body) = line[open + 1..].strip_suffix('"') else {
            continue;
        };
        let bytes = body.as_bytes();
        let mut entry = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match (bytes[i], bytes.get(i + 1)) {
                (b'\\', Some(b'x')) => {
                    let hex = body.get(i + 2..i + 4).unwrap_or("");
                    entry.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                    i += 4;
                }
                (b'\\', Some(&c)) => {
                    entry.push(c);
                    i += 2;
                }
                (c, _) => {
                    entry.push(c);
                    i += 1;
                }
            }
        }
        entries.push(entry);
    }
    entries
}
