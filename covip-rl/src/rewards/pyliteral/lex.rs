//! Python 3.11's tokenizer, for the tokens a literal can contain: white space, line and
//! indentation rules, numbers, strings, names, brackets.
use super::{LiteralError, MAX_BRACKET_NESTING, MAX_INT_DIGITS, PyInt, PyValue, Result, syntax};

/// A token; operators other than these never occur in a literal and fail in the lexer.
#[derive(Clone, Debug)]
pub(super) enum Tok {
    Int(PyInt),
    Float(f64),
    Imag(f64),
    Str(Vec<u32>),
    Bytes(Vec<u8>),
    /// `True`, `False`, `None`.
    Keyword(PyValue),
    /// A name that reads `set` after NFKC normalisation.
    SetName,
    /// Any other name.
    OtherName,
    Open(u8),
    Close(u8),
    Comma,
    Colon,
    Plus,
    Minus,
    Ellipsis,
    Newline,
    End,
}

pub(super) struct Token {
    pub(super) tok: Tok,
    /// Byte offset in the normalised text.
    pub(super) offset: usize,
}

/// The tokens of `src` (leading spaces and tabs stripped, newlines normalised to `\n`), ending
/// with [`Tok::End`].
pub(super) fn tokenize(src: &str) -> Result<Vec<Token>> {
    Lexer {
        src,
        pos: 0,
        brackets: Vec::new(),
        toks: Vec::new(),
    }
    .run()
}

/// Non-ASCII identifier characters whose NFKC form is `s`, `e` or `t`, so that for example
/// `ｓｅｔ()` reads as `set()` in Python. Generated on CPython 3.11.7 (Unicode 14) by
/// normalising every code point and keeping those valid in an identifier; no other
/// sequence of non-ASCII characters normalises to `set`.
const SET_LOOKALIKES: &[(u32, u8)] = &[
    (0x17f, b's'),
    (0x2e2, b's'),
    (0x1d49, b'e'),
    (0x1d57, b't'),
    (0x2091, b'e'),
    (0x209b, b's'),
    (0x209c, b't'),
    (0x212f, b'e'),
    (0x2147, b'e'),
    (0xff45, b'e'),
    (0xff53, b's'),
    (0xff54, b't'),
    (0x1d41e, b'e'),
    (0x1d42c, b's'),
    (0x1d42d, b't'),
    (0x1d452, b'e'),
    (0x1d460, b's'),
    (0x1d461, b't'),
    (0x1d486, b'e'),
    (0x1d494, b's'),
    (0x1d495, b't'),
    (0x1d4c8, b's'),
    (0x1d4c9, b't'),
    (0x1d4ee, b'e'),
    (0x1d4fc, b's'),
    (0x1d4fd, b't'),
    (0x1d522, b'e'),
    (0x1d530, b's'),
    (0x1d531, b't'),
    (0x1d556, b'e'),
    (0x1d564, b's'),
    (0x1d565, b't'),
    (0x1d58a, b'e'),
    (0x1d598, b's'),
    (0x1d599, b't'),
    (0x1d5be, b'e'),
    (0x1d5cc, b's'),
    (0x1d5cd, b't'),
    (0x1d5f2, b'e'),
    (0x1d600, b's'),
    (0x1d601, b't'),
    (0x1d626, b'e'),
    (0x1d634, b's'),
    (0x1d635, b't'),
    (0x1d65a, b'e'),
    (0x1d668, b's'),
    (0x1d669, b't'),
    (0x1d68e, b'e'),
    (0x1d69c, b's'),
    (0x1d69d, b't'),
];

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    brackets: Vec<u8>,
    toks: Vec<Token>,
}

fn is_ident_ascii(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.src.as_bytes().get(self.pos + ahead).copied()
    }

    fn push(&mut self, tok: Tok, offset: usize) {
        self.toks.push(Token { tok, offset });
    }

    /// A `\` outside a string: it must end its line, and the text must go on after that line.
    fn continuation(&mut self) -> Result<()> {
        if self.peek_at(1) != Some(b'\n') {
            return syntax(
                self.pos,
                "unexpected character after line continuation character",
            );
        }
        self.pos += 2;
        if self.peek().is_none() {
            return syntax(self.pos, "unexpected EOF while parsing");
        }
        Ok(())
    }

    fn skip_comment(&mut self) {
        match self.src[self.pos..].find('\n') {
            Some(n) => self.pos += n,
            None => self.pos = self.src.len(),
        }
    }

    fn run(mut self) -> Result<Vec<Token>> {
        let mut line_start = true;
        loop {
            if line_start {
                // Indentation of a new logical line (only ever at bracket level 0). Eval input
                // allows none; blank and comment-only lines are skipped whatever their
                // indentation, but a last line of only spaces without a newline is not blank.
                let mut indented = false;
                loop {
                    match self.peek() {
                        Some(b' ' | b'\t') => {
                            indented = true;
                            self.pos += 1;
                        }
                        Some(b'\x0c') => {
                            indented = false;
                            self.pos += 1;
                        }
                        Some(b'\\') => self.continuation()?,
                        _ => break,
                    }
                }
                match self.peek() {
                    Some(b'#') => {
                        self.skip_comment();
                        continue;
                    }
                    Some(b'\n') => {
                        self.pos += 1;
                        continue;
                    }
                    _ if indented => return syntax(self.pos, "unexpected indent"),
                    None => {
                        self.push(Tok::End, self.pos);
                        return Ok(self.toks);
                    }
                    Some(_) => line_start = false,
                }
            }
            while let Some(b' ' | b'\t' | b'\x0c') = self.peek() {
                self.pos += 1;
            }
            let start = self.pos;
            let Some(b) = self.peek() else {
                if !self.brackets.is_empty() {
                    return syntax(start, "unexpected EOF in multi-line statement");
                }
                self.push(Tok::Newline, start);
                self.push(Tok::End, start);
                return Ok(self.toks);
            };
            match b {
                b'#' => self.skip_comment(),
                b'\\' => self.continuation()?,
                b'\n' => {
                    self.pos += 1;
                    if self.brackets.is_empty() {
                        self.push(Tok::Newline, start);
                        line_start = true;
                    }
                }
                b'(' | b'[' | b'{' => {
                    if self.brackets.len() >= MAX_BRACKET_NESTING {
                        return Err(LiteralError::TooManyNestedBrackets);
                    }
                    self.brackets.push(b);
                    self.pos += 1;
                    self.push(Tok::Open(b), start);
                }
                b')' | b']' | b'}' => {
                    let opener = match b {
                        b')' => b'(',
                        b']' => b'[',
                        _ => b'{',
                    };
                    if self.brackets.pop() != Some(opener) {
                        return syntax(start, "unmatched closing bracket");
                    }
                    self.pos += 1;
                    self.push(Tok::Close(opener), start);
                }
                b',' | b':' | b'+' | b'-' => {
                    self.pos += 1;
                    let tok = match b {
                        b',' => Tok::Comma,
                        b':' => Tok::Colon,
                        b'+' => Tok::Plus,
                        _ => Tok::Minus,
                    };
                    self.push(tok, start);
                }
                b'.' if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => {
                    let tok = self.number()?;
                    self.push(tok, start);
                }
                b'.' if self.src[self.pos..].starts_with("...") => {
                    self.pos += 3;
                    self.push(Tok::Ellipsis, start);
                }
                b'0'..=b'9' => {
                    let tok = self.number()?;
                    self.push(tok, start);
                }
                b'\'' | b'"' => {
                    let tok = self.string(false, false)?;
                    self.push(tok, start);
                }
                _ if is_ident_ascii(b) || b >= 0x80 => {
                    let tok = self.name_or_prefixed_string()?;
                    self.push(tok, start);
                }
                // Any other operator or character makes a node literal_eval rejects, or a
                // syntax error.
                _ => return syntax(start, "not part of a literal"),
            }
        }
    }

    /// `digit (["_"] digit)*` in the given radix; the digit values. Empty when no digit starts
    /// here; an error on a `_` not followed by a digit.
    fn digit_part(&mut self, radix: u32) -> Result<Vec<u8>> {
        let mut digits = Vec::new();
        loop {
            let mut p = self.pos;
            let underscore = !digits.is_empty() && self.src.as_bytes().get(p) == Some(&b'_');
            if underscore {
                p += 1;
            }
            match self
                .src
                .as_bytes()
                .get(p)
                .and_then(|&c| (c as char).to_digit(radix))
            {
                Some(d) => {
                    digits.push(d as u8);
                    self.pos = p + 1;
                }
                None if underscore => return syntax(p, "invalid decimal literal"),
                None => return Ok(digits),
            }
        }
    }

    fn number(&mut self) -> Result<Tok> {
        let start = self.pos;
        let radix_prefix = match (self.peek(), self.peek_at(1)) {
            (Some(b'0'), Some(b'x' | b'X')) => Some((16, 4)),
            (Some(b'0'), Some(b'o' | b'O')) => Some((8, 3)),
            (Some(b'0'), Some(b'b' | b'B')) => Some((2, 1)),
            _ => None,
        };
        if let Some((radix, bits)) = radix_prefix {
            self.pos += 2;
            // `0x_1` is allowed: an underscore may follow the prefix.
            if self.peek() == Some(b'_') {
                self.pos += 1;
                if !self.peek().is_some_and(|c| (c as char).is_digit(radix)) {
                    return syntax(self.pos, "invalid based literal");
                }
            }
            let digits = self.digit_part(radix)?;
            if digits.is_empty() {
                return syntax(self.pos, "invalid based literal");
            }
            return Ok(Tok::Int(PyInt::from_power_of_two_digits(&digits, bits)));
        }
        let int_digits = self.digit_part(10)?;
        let mut frac_digits = Vec::new();
        let mut exponent: Option<(bool, Vec<u8>)> = None;
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            is_float = true;
            frac_digits = self.digit_part(10)?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            let save = self.pos;
            self.pos += 1;
            let negative = match self.peek() {
                Some(b'+') => {
                    self.pos += 1;
                    false
                }
                Some(b'-') => {
                    self.pos += 1;
                    true
                }
                _ => false,
            };
            let digits = self.digit_part(10)?;
            if digits.is_empty() {
                if self.pos != save + 1 {
                    return syntax(self.pos, "invalid decimal literal");
                }
                // `1else`: the `e` starts a name (which then fails as a literal).
                self.pos = save;
            } else {
                is_float = true;
                exponent = Some((negative, digits));
            }
        }
        let imaginary = matches!(self.peek(), Some(b'j' | b'J'));
        if imaginary {
            self.pos += 1;
        }
        if !is_float && !imaginary {
            let all_zero = int_digits.iter().all(|&d| d == 0);
            if int_digits.len() > 1 && int_digits[0] == 0 && !all_zero {
                return syntax(
                    start,
                    "leading zeros in decimal integer literals are not permitted",
                );
            }
            if int_digits.len() > MAX_INT_DIGITS && !all_zero {
                return Err(LiteralError::IntTooLong {
                    digits: int_digits.len(),
                });
            }
            let ascii: Vec<u8> = int_digits.iter().map(|d| d + b'0').collect();
            return Ok(Tok::Int(PyInt::from_decimal(&ascii)));
        }
        let mut text = String::with_capacity(int_digits.len() + frac_digits.len() + 8);
        let push_digits = |text: &mut String, digits: &[u8]| {
            if digits.is_empty() {
                text.push('0');
            }
            text.extend(digits.iter().map(|d| (d + b'0') as char));
        };
        push_digits(&mut text, &int_digits);
        text.push('.');
        push_digits(&mut text, &frac_digits);
        if let Some((negative, digits)) = &exponent {
            text.push_str(if *negative { "e-" } else { "e" });
            push_digits(&mut text, digits);
        }
        // Rust's parse is correctly rounded like Python's, and also overflows to inf.
        let value: f64 = text.parse().map_err(|_| LiteralError::Syntax {
            offset: start,
            message: "invalid decimal literal",
        })?;
        Ok(if imaginary {
            Tok::Imag(value)
        } else {
            Tok::Float(value)
        })
    }

    fn name_or_prefixed_string(&mut self) -> Result<Tok> {
        let start = self.pos;
        let mut normalized = String::new();
        let mut ascii = true;
        for c in self.src[start..].chars() {
            if c.is_ascii() {
                if !is_ident_ascii(c as u8) {
                    break;
                }
                normalized.push(c);
            } else {
                match SET_LOOKALIKES.iter().find(|(cp, _)| *cp == c as u32) {
                    Some(&(_, letter)) => normalized.push(letter as char),
                    // Either not an identifier character or part of a name other than `set`.
                    None => return syntax(self.pos, "not part of a literal"),
                }
                ascii = false;
            }
            self.pos += c.len_utf8();
        }
        if ascii && matches!(self.peek(), Some(b'\'' | b'"')) {
            let prefix = normalized.to_ascii_lowercase();
            return match prefix.as_str() {
                "r" | "u" | "b" | "br" | "rb" => {
                    self.string(prefix.contains('r'), prefix.contains('b'))
                }
                "f" | "fr" | "rf" => Err(LiteralError::Malformed("f-string")),
                _ => syntax(self.pos, "name followed by a string"),
            };
        }
        Ok(match normalized.as_str() {
            "True" if ascii => Tok::Keyword(PyValue::Bool(true)),
            "False" if ascii => Tok::Keyword(PyValue::Bool(false)),
            "None" if ascii => Tok::Keyword(PyValue::None),
            "set" => Tok::SetName,
            _ => Tok::OtherName,
        })
    }

    /// A string literal body from its opening quote; `\r\n` and `\r` are already `\n`.
    fn string(&mut self, raw: bool, bytes: bool) -> Result<Tok> {
        let start = self.pos;
        let quote = self.src.as_bytes()[start];
        let triple = self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        let mut out: Vec<u32> = Vec::new();
        let mut chars = self.src[self.pos..].char_indices().peekable();
        let base = self.pos;
        let unterminated = LiteralError::Syntax {
            offset: start,
            message: "unterminated string literal",
        };
        loop {
            let Some((i, c)) = chars.next() else {
                return Err(unterminated);
            };
            if c as u32 == u32::from(quote) {
                if !triple {
                    self.pos = base + i + 1;
                    break;
                }
                let closing = if quote == b'"' { "\"\"\"" } else { "'''" };
                if self.src[base + i..].starts_with(closing) {
                    self.pos = base + i + 3;
                    break;
                }
                out.push(c as u32);
                continue;
            }
            if c == '\n' && !triple {
                return Err(unterminated);
            }
            if bytes && !c.is_ascii() {
                return syntax(base + i, "bytes can only contain ASCII literal characters");
            }
            if c != '\\' {
                out.push(c as u32);
                continue;
            }
            let Some((j, e)) = chars.next() else {
                return Err(unterminated);
            };
            if raw {
                // The backslash stays, and still keeps the next character (a quote or a
                // newline) from ending the literal.
                if bytes && !e.is_ascii() {
                    return syntax(base + j, "bytes can only contain ASCII literal characters");
                }
                out.push(u32::from(b'\\'));
                out.push(e as u32);
                continue;
            }
            let mut hex = |n: usize| -> Result<u32> {
                let mut v = 0u32;
                for _ in 0..n {
                    match chars.next().and_then(|(_, h)| h.to_digit(16)) {
                        Some(d) => v = v * 16 + d,
                        None => return syntax(base + j, "truncated \\xXX / \\uXXXX escape"),
                    }
                }
                Ok(v)
            };
            match e {
                '\n' => {}
                '\\' | '\'' | '"' => out.push(e as u32),
                'a' => out.push(7),
                'b' => out.push(8),
                'f' => out.push(12),
                'n' => out.push(10),
                'r' => out.push(13),
                't' => out.push(9),
                'v' => out.push(11),
                '0'..='7' => {
                    let mut v = e as u32 - u32::from(b'0');
                    for _ in 0..2 {
                        match chars.peek() {
                            Some(&(_, o @ '0'..='7')) => {
                                v = v * 8 + (o as u32 - u32::from(b'0'));
                                chars.next();
                            }
                            _ => break,
                        }
                    }
                    // Bytes keep the low 8 bits of `\777`, as CPython 3.11 does.
                    out.push(if bytes { v & 0xff } else { v });
                }
                'x' => out.push(hex(2)?),
                'u' if !bytes => out.push(hex(4)?),
                'U' if !bytes => {
                    let v = hex(8)?;
                    if v > 0x10ffff {
                        return syntax(base + j, "illegal Unicode character");
                    }
                    out.push(v);
                }
                'N' if !bytes => return Err(LiteralError::NamedEscape),
                _ => {
                    // Unknown escapes keep their backslash (a DeprecationWarning in 3.11).
                    if bytes && !e.is_ascii() {
                        return syntax(base + j, "bytes can only contain ASCII literal characters");
                    }
                    out.push(u32::from(b'\\'));
                    out.push(e as u32);
                }
            }
        }
        Ok(if bytes {
            Tok::Bytes(out.into_iter().map(|c| c as u8).collect())
        } else {
            Tok::Str(out)
        })
    }
}
