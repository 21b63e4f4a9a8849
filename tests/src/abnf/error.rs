//! What can be wrong with a grammar, and where.

use std::fmt;

/// What is wrong with a grammar.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbnfErrorKind {
    /// A rule name does not start with a letter, or no rule name where one belongs.
    BadRuleName,
    /// A rule without `=` or `=/` after its name.
    MissingDefinedAs,
    /// An indented line that continues no rule.
    StrayContinuation,
    /// A char-val without its closing quote (char-vals end on their line).
    UnterminatedCharVal,
    /// A char-val with an octet outside `%x20-21 / %x23-7E`.
    BadCharValOctet(u8),
    /// A `(` or `[` without its closing bracket.
    Unclosed(char),
    /// `%` not followed by `b`, `d`, `x`, `s` or `i`.
    BadNumValBase,
    /// A num-val base without digits after it.
    MissingDigits,
    /// A num-val above 255: these grammars describe octets.
    AboveOctet(u64),
    /// A range whose end is below its start.
    ReversedRange,
    /// A repetition whose maximum is below its minimum.
    ReversedRepetition {
        /// The minimum written.
        min: usize,
        /// The maximum written.
        max: usize,
    },
    /// A prose-val (`<...>`): prose cannot be generated.
    ProseVal(String),
    /// Two elements of a concatenation without whitespace between them.
    MissingWhitespace,
    /// A character where no element can start.
    Unexpected(char),
    /// The text ended inside a rule.
    UnexpectedEnd,
    /// A rule that is used and never defined.
    UndefinedRule(String),
    /// A rule defined twice, differently.
    DuplicateRule(String),
    /// `=/` for a rule not defined before.
    IncrementalWithoutRule(String),
    /// An annotation that is unknown or malformed.
    BadAnnotation(String),
    /// An annotation that does not fit the rule it is on.
    MisplacedAnnotation {
        /// The rule.
        rule: String,
        /// Why.
        reason: String,
    },
    /// A rule with no finite derivation.
    NonTerminating(String),
}

impl fmt::Display for AbnfErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AbnfErrorKind::BadRuleName => f.write_str("a rule name must start with a letter"),
            AbnfErrorKind::MissingDefinedAs => f.write_str("expected '=' or '=/' after the name"),
            AbnfErrorKind::StrayContinuation => f.write_str("indented line continues no rule"),
            AbnfErrorKind::UnterminatedCharVal => f.write_str("char-val without closing quote"),
            AbnfErrorKind::BadCharValOctet(b) => write!(f, "octet {b:#04x} in a char-val"),
            AbnfErrorKind::Unclosed(c) => write!(f, "'{c}' is never closed"),
            AbnfErrorKind::BadNumValBase => f.write_str("'%' must be followed by b, d, x, s or i"),
            AbnfErrorKind::MissingDigits => f.write_str("num-val without digits"),
            AbnfErrorKind::AboveOctet(n) => write!(f, "num-val {n} is above one octet"),
            AbnfErrorKind::ReversedRange => f.write_str("range end below its start"),
            AbnfErrorKind::ReversedRepetition { min, max } => {
                write!(f, "repetition {min}*{max}: maximum below minimum")
            }
            AbnfErrorKind::ProseVal(p) => write!(f, "prose-val <{p}> cannot be generated"),
            AbnfErrorKind::MissingWhitespace => f.write_str("elements need whitespace between"),
            AbnfErrorKind::Unexpected(c) => write!(f, "unexpected {c:?}"),
            AbnfErrorKind::UnexpectedEnd => f.write_str("text ends inside a rule"),
            AbnfErrorKind::UndefinedRule(r) => write!(f, "rule {r} is used but never defined"),
            AbnfErrorKind::DuplicateRule(r) => write!(f, "rule {r} is defined twice, differently"),
            AbnfErrorKind::IncrementalWithoutRule(r) => write!(f, "'=/' for undefined rule {r}"),
            AbnfErrorKind::BadAnnotation(a) => write!(f, "bad annotation: {a}"),
            AbnfErrorKind::MisplacedAnnotation { rule, reason } => {
                write!(f, "annotation on {rule}: {reason}")
            }
            AbnfErrorKind::NonTerminating(r) => write!(f, "rule {r} has no finite derivation"),
        }
    }
}

/// A grammar error and the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbnfError {
    /// 1-based line in the text that was being read (for errors found once every text is read,
    /// the line of the rule concerned).
    pub line: usize,
    /// What is wrong.
    pub kind: AbnfErrorKind,
}

impl fmt::Display for AbnfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl std::error::Error for AbnfError {}
