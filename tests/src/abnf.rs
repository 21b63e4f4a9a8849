//! The grammars in `rfcs/abnf/` as input generators and recognisers.
//!
//! ```text
//! rfcs/abnf/*.abnf ──Grammar::parse_all──► Grammar ──Generator──► Derivation ──► octets / frames
//!                                             │                       └─mutate──► near-valid octets
//!                                             ├─matches / matches_frames: does an input derive?
//!                                             └─dictionary, write_seeds: fuzzer dictionary, corpora
//! ```
//!
//! # Reading
//! [`Grammar::parse`] reads RFC 5234 ABNF: rules and `=/`, alternation, concatenation,
//! repetition `n*m`, groups, options, char-vals (which match letters in either case, and are
//! generated as written), RFC 7405 `%s"..."` (case-sensitive) and `%i"..."`, num-vals in `%x`,
//! `%d` and `%b` with ranges and dotted strings, and comments; the RFC 5234 core rules (ALPHA,
//! DIGIT, HEXDIG, OCTET, VCHAR…) are always there. Prose-vals (`<...>`) cannot be generated
//! and are an error. Every error is an [`AbnfError`]: an [`AbnfErrorKind`] and the line.
//! [`Grammar::check`] also refuses undefined rules, rules without a finite derivation and
//! annotations that do not fit their rule.
//!
//! # Generating
//! A [`Generator`] walks the grammar from a start rule with a seeded xorshift [`Rng`], keeping
//! the [`Derivation`] tree. Unbounded repetition takes at most [`Generator::max_repeat`]
//! occurrences beyond its minimum; bounded repetition and ranges favour their edges now and
//! then (`1*255x` sometimes takes 255); beyond [`Generator::max_depth`] rules, every choice is
//! the shallowest, so recursion ends. Near-valid mode ([`Generator::near_valid`]) applies one
//! [`MutationKind`] at a grammar boundary of a valid derivation: an element dropped or written
//! twice, a range's octet just outside the range, a literal's octet changed, a length field, an
//! exact length or a repetition count off by one, or a cut where an element starts or ends.
//!
//! # Lengths and other context
//! Some of what the wire formats require is not context-free: a size octet equals the length
//! of what follows it; a mechanism name is NUL-padded to exactly 20 octets; ZAP messages are
//! lists of frames. We chose to say so in the grammar files, as structured comments on the rule
//! (they stay plain ABNF comments to any other reader), and to read them here, so the generator
//! and the recogniser need no per-grammar code:
//!
//! - `@length-of-rest u8|be16|be32|be64`: the rule is a big-endian length field of that width
//!   (its own definition must be exactly that many octets). Where it appears in a
//!   concatenation, its value is the length in octets of the elements after it in that
//!   concatenation (`name = name-length 1*255name-char`). The generator computes it when the
//!   derivation is rendered, so a mutation inside the counted elements keeps the field true
//!   unless the mutation is the field's own off-by-one; what follows a field is derived again
//!   (smaller) until it fits the width.
//! - `@exact-length N`: the rule takes exactly N octets: a derivation of it, then NULs. The
//!   generator derives again (smaller) until a derivation fits.
//! - `@frames`: the rule is a list of frames. In [`Generator::derive_frames`] and
//!   [`Grammar::matches_frames`] each element that names a rule without `@frames` is one frame;
//!   an element naming a `@frames` rule contributes that rule's frames; the literal `""` stands
//!   for no frame (a mechanism without credentials).
//!
//! What a grammar still cannot say (a Z85 group's value fits in 32 bits; a CURVE box opens) is
//! left to the tests that use it.
//!
//! # Fuzzing
//! [`Grammar::dictionary`] lists the grammar's literal octet strings for a libFuzzer
//! dictionary; [`Grammar::write_seeds`] writes valid derivations as `grammar-<hash>` corpus
//! files.

mod dictionary;
mod error;
mod generate;
mod grammar;
mod matcher;
mod mutate;
mod reader;

pub use dictionary::{dictionary_line, parse_dictionary, seed_name, MAX_SEED, SEED_PREFIX};
pub use error::{AbnfError, AbnfErrorKind};
pub use generate::{Derivation, Generator, Kind, Rng};
pub use grammar::{Annotations, Grammar, Node, Rule};
pub use mutate::{Mutant, MutationKind};

#[cfg(test)]
mod tests;
