//! Reading ABNF text: RFC 5234's rule list, with RFC 7405's `%s`/`%i` char-vals, and the
//! structured comments of `rfcs/abnf/` (see the module docs of [`crate::abnf`]).

use super::error::{AbnfError, AbnfErrorKind};
use super::grammar::{Annotations, Node};

/// One rule as written.
pub(super) struct ParsedRule {
    /// The name as written.
    pub(super) name: String,
    /// Defined with `=/`.
    pub(super) incremental: bool,
    /// The definition.
    pub(super) node: Node,
    /// The annotations of its comments.
    pub(super) notes: Annotations,
    /// The line it starts on.
    pub(super) line: usize,
}

/// A cursor over ABNF text. Rules start in the first column; a line that starts with
/// whitespace continues the rule above (RFC 5234 `c-wsp = WSP / (c-nl WSP)`). Comments inside
/// a rule, and the one ending its last line, are the rule's: that is where annotations live.
pub(super) struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
    line: usize,
    comments: Vec<(usize, String)>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(text: &'a str) -> Reader<'a> {
        Reader {
            s: text.as_bytes(),
            pos: 0,
            line: 1,
            comments: Vec::new(),
        }
    }

    fn fail<T>(&self, kind: AbnfErrorKind) -> Result<T, AbnfError> {
        Err(AbnfError {
            line: self.line,
            kind,
        })
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// Where the cursor is, to look ahead and come back.
    fn mark(&self) -> (usize, usize, usize) {
        (self.pos, self.line, self.comments.len())
    }

    fn reset(&mut self, (pos, line, comments): (usize, usize, usize)) {
        self.pos = pos;
        self.line = line;
        self.comments.truncate(comments);
    }

    fn at_newline(&self) -> bool {
        matches!(self.peek(), Some(b'\n'))
            || (self.peek() == Some(b'\r') && self.s.get(self.pos + 1) == Some(&b'\n'))
    }

    fn eat_newline(&mut self) {
        if self.peek() == Some(b'\r') {
            self.pos += 1;
        }
        self.pos += 1;
        self.line += 1;
    }

    fn eat_comment(&mut self) {
        let start = self.pos + 1;
        while self.peek().is_some() && !self.at_newline() {
            self.pos += 1;
        }
        let text = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        self.comments.push((self.line, text));
    }

    /// Skips `*c-wsp` inside a rule; returns whether anything was skipped. Stops before a line
    /// break that ends the rule.
    fn skip_cwsp(&mut self) -> bool {
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.pos += 1,
                Some(b';') => self.eat_comment(),
                _ if self.at_newline() => {
                    let after = if self.peek() == Some(b'\r') { 2 } else { 1 };
                    if matches!(self.s.get(self.pos + after), Some(b' ' | b'\t')) {
                        self.eat_newline();
                    } else {
                        break;
                    }
                }
                _ => break,
            }
        }
        self.pos != start
    }

    /// The next rule, skipping blank and comment lines between rules.
    pub(super) fn next_rule(&mut self) -> Result<Option<ParsedRule>, AbnfError> {
        loop {
            let Some(c) = self.peek() else {
                return Ok(None);
            };
            if self.at_newline() {
                self.eat_newline();
                continue;
            }
            if matches!(c, b' ' | b'\t' | b';') {
                // `*c-wsp c-nl` between rules; an indented line with content continues nothing.
                while matches!(self.peek(), Some(b' ' | b'\t')) {
                    self.pos += 1;
                }
                if self.peek() == Some(b';') {
                    self.eat_comment();
                }
                if self.peek().is_some() && !self.at_newline() {
                    return self.fail(AbnfErrorKind::StrayContinuation);
                }
                continue;
            }
            return self.rule().map(Some);
        }
    }

    fn rule(&mut self) -> Result<ParsedRule, AbnfError> {
        let line = self.line;
        self.comments.clear();
        let Some(name) = self.rule_name() else {
            return self.fail(AbnfErrorKind::BadRuleName);
        };
        self.skip_cwsp();
        if self.peek() != Some(b'=') {
            return self.fail(AbnfErrorKind::MissingDefinedAs);
        }
        self.pos += 1;
        let incremental = self.peek() == Some(b'/');
        if incremental {
            self.pos += 1;
        }
        self.skip_cwsp();
        let node = self.alternation()?;
        self.skip_cwsp();
        if self.peek().is_some() && !self.at_newline() {
            let c = self.peek().map_or(' ', char::from);
            return self.fail(AbnfErrorKind::Unexpected(c));
        }
        let mut notes = Annotations::default();
        for (at, comment) in std::mem::take(&mut self.comments) {
            annotate(&mut notes, &comment).map_err(|kind| AbnfError { line: at, kind })?;
        }
        Ok(ParsedRule {
            name,
            incremental,
            node,
            notes,
            line,
        })
    }

    fn rule_name(&mut self) -> Option<String> {
        if !self.peek()?.is_ascii_alphabetic() {
            return None;
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'-')
        {
            self.pos += 1;
        }
        Some(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn alternation(&mut self) -> Result<Node, AbnfError> {
        let mut alts = vec![self.concatenation()?];
        loop {
            let mark = self.mark();
            self.skip_cwsp();
            if self.peek() == Some(b'/') {
                self.pos += 1;
                self.skip_cwsp();
                alts.push(self.concatenation()?);
            } else {
                self.reset(mark);
                break;
            }
        }
        Ok(if alts.len() == 1 {
            alts.remove(0)
        } else {
            Node::Alt(alts)
        })
    }

    fn starts_element(c: u8) -> bool {
        c.is_ascii_alphanumeric() || matches!(c, b'*' | b'(' | b'[' | b'"' | b'%' | b'<')
    }

    fn concatenation(&mut self) -> Result<Node, AbnfError> {
        let mut items = vec![self.repetition()?];
        loop {
            let mark = self.mark();
            let spaced = self.skip_cwsp();
            match self.peek() {
                Some(c) if Self::starts_element(c) => {
                    if !spaced {
                        return self.fail(AbnfErrorKind::MissingWhitespace);
                    }
                    items.push(self.repetition()?);
                }
                _ => {
                    self.reset(mark);
                    break;
                }
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Cat(items)
        })
    }

    fn decimal(&mut self) -> Option<usize> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if start == self.pos {
            return None;
        }
        // Digits only: the parse fails on overflow alone, and a bound that large is no bound.
        let digits = std::str::from_utf8(&self.s[start..self.pos]).expect("ASCII digits");
        Some(digits.parse().unwrap_or(usize::MAX))
    }

    fn repetition(&mut self) -> Result<Node, AbnfError> {
        let min = self.decimal();
        let (min, max) = if self.peek() == Some(b'*') {
            self.pos += 1;
            (min.unwrap_or(0), self.decimal())
        } else if let Some(n) = min {
            (n, Some(n))
        } else {
            return self.element();
        };
        if let Some(max) = max.filter(|&m| m < min) {
            return self.fail(AbnfErrorKind::ReversedRepetition { min, max });
        }
        let node = self.element()?;
        Ok(Node::Rep {
            min,
            max,
            node: Box::new(node),
        })
    }

    fn element(&mut self) -> Result<Node, AbnfError> {
        let Some(c) = self.peek() else {
            return self.fail(AbnfErrorKind::UnexpectedEnd);
        };
        match c {
            b'(' | b'[' => {
                let close = if c == b'(' { b')' } else { b']' };
                self.pos += 1;
                self.skip_cwsp();
                let inner = self.alternation()?;
                self.skip_cwsp();
                if self.peek() != Some(close) {
                    return self.fail(AbnfErrorKind::Unclosed(char::from(c)));
                }
                self.pos += 1;
                Ok(if c == b'(' {
                    inner
                } else {
                    Node::Rep {
                        min: 0,
                        max: Some(1),
                        node: Box::new(inner),
                    }
                })
            }
            b'"' => self.char_val(true),
            b'%' => self.num_val(),
            b'<' => {
                let start = self.pos + 1;
                while self.peek().is_some_and(|c| c != b'>') && !self.at_newline() {
                    self.pos += 1;
                }
                let prose = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                self.fail(AbnfErrorKind::ProseVal(prose))
            }
            c if c.is_ascii_alphabetic() => {
                let name = self.rule_name().expect("starts with a letter");
                Ok(Node::Rule(name.to_ascii_lowercase()))
            }
            b'\r' | b'\n' => self.fail(AbnfErrorKind::UnexpectedEnd),
            c => self.fail(AbnfErrorKind::Unexpected(char::from(c))),
        }
    }

    /// `"..."`; `nocase` is false for RFC 7405 `%s"..."`.
    fn char_val(&mut self, nocase: bool) -> Result<Node, AbnfError> {
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b'"') => break,
                None => return self.fail(AbnfErrorKind::UnterminatedCharVal),
                Some(_) if self.at_newline() => {
                    return self.fail(AbnfErrorKind::UnterminatedCharVal)
                }
                Some(0x20..=0x21 | 0x23..=0x7E) => self.pos += 1,
                Some(c) => return self.fail(AbnfErrorKind::BadCharValOctet(c)),
            }
        }
        let octets = self.s[start..self.pos].to_vec();
        self.pos += 1;
        let nocase = nocase && octets.iter().any(u8::is_ascii_alphabetic);
        Ok(Node::Lit { octets, nocase })
    }

    fn num_val(&mut self) -> Result<Node, AbnfError> {
        self.pos += 1;
        let radix = match self.peek().map(|c| c.to_ascii_lowercase()) {
            Some(b'x') => 16,
            Some(b'd') => 10,
            Some(b'b') => 2,
            Some(b's') | Some(b'i') if self.s.get(self.pos + 1) == Some(&b'"') => {
                let nocase = self.peek().map(|c| c.to_ascii_lowercase()) == Some(b'i');
                self.pos += 1;
                return self.char_val(nocase);
            }
            _ => return self.fail(AbnfErrorKind::BadNumValBase),
        };
        self.pos += 1;
        let first = self.octet(radix)?;
        match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                let last = self.octet(radix)?;
                if last < first {
                    return self.fail(AbnfErrorKind::ReversedRange);
                }
                Ok(Node::Range(first, last))
            }
            Some(b'.') => {
                let mut octets = vec![first];
                while self.peek() == Some(b'.') {
                    self.pos += 1;
                    octets.push(self.octet(radix)?);
                }
                Ok(Node::Lit {
                    octets,
                    nocase: false,
                })
            }
            _ => Ok(Node::Range(first, first)),
        }
    }

    fn octet(&mut self, radix: u32) -> Result<u8, AbnfError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| char::from(c).is_digit(radix)) {
            self.pos += 1;
        }
        if start == self.pos {
            return self.fail(AbnfErrorKind::MissingDigits);
        }
        let digits = std::str::from_utf8(&self.s[start..self.pos]).expect("ASCII digits");
        let value = u64::from_str_radix(digits, radix).unwrap_or(u64::MAX);
        u8::try_from(value).or_else(|_| self.fail(AbnfErrorKind::AboveOctet(value)))
    }
}

/// Reads the `@` words of one comment into `notes`.
fn annotate(notes: &mut Annotations, comment: &str) -> Result<(), AbnfErrorKind> {
    let words: Vec<&str> = comment.split_whitespace().collect();
    for (i, word) in words.iter().enumerate() {
        let arg = words.get(i + 1).copied().unwrap_or("");
        match *word {
            "@length-of-rest" => {
                notes.length_of_rest = Some(match arg {
                    "u8" => 1,
                    "be16" => 2,
                    "be32" => 4,
                    "be64" => 8,
                    _ => {
                        return Err(AbnfErrorKind::BadAnnotation(format!(
                            "@length-of-rest takes u8, be16, be32 or be64, not {arg:?}"
                        )))
                    }
                })
            }
            "@exact-length" => match arg.parse() {
                Ok(n) => notes.exact_length = Some(n),
                Err(_) => {
                    return Err(AbnfErrorKind::BadAnnotation(format!(
                        "@exact-length takes a number, not {arg:?}"
                    )))
                }
            },
            "@frames" => notes.frames = true,
            w if w.starts_with('@') => {
                return Err(AbnfErrorKind::BadAnnotation(format!("unknown {w}")))
            }
            _ => {}
        }
    }
    Ok(())
}
