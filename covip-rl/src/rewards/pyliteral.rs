//! Python literals as Python 3.11's `ast.literal_eval` reads them from a string (SPEC §4.1).
//!
//! The released recognition reward evaluates the box content with `ast.literal_eval`, so the
//! reward of a completion depends on exactly which strings that function accepts and which
//! values they denote. [`literal_eval`] accepts the same strings and nothing more:
//!
//! - numbers: integers in every base with `_` separators (`0x_1F`, `0o17`, `0b1`, `1_000`; no
//!   leading zeros in a non-zero decimal, so `01` fails and `00`/`0_0` do not), floats with
//!   fractions, exponents and `_` (`1_0.5e-1_0`, `.5`, `5.`; overflow gives `inf`), imaginary
//!   literals (`1j`, `09j`), one unary `+`/`-` on a number (`-(1)`, not `--1` nor `-True`), and
//!   `real ± imaginary` (`-1+2j`; an int too large for a float fails there as in Python);
//! - `True`, `False`, `None`, `...`;
//! - string and bytes literals with every prefix `literal_eval` takes (`r`, `u`, `b`, `br`,
//!   `rb` in any case; f-strings fail), escapes, and implicit concatenation (`'a' "b"`);
//! - tuple, list and set displays (trailing commas, parenthesised expressions, a bare `1, 2`),
//!   dict displays and `set()`;
//! - comments, `\` line continuations, newlines inside brackets, and the white space rules of
//!   Python's tokenizer (leading spaces and tabs are stripped first, as `literal_eval` does; an
//!   indented later line, a vertical tab, a no-break space or a NUL fail).
//!
//! It also fails where Python's own limits make `literal_eval` fail: a non-zero decimal
//! integer literal of more than 4300 digits (`sys.int_info.default_max_str_digits`), more than
//! 200 nested brackets (the tokenizer's `MAXLEVEL`), and nesting that exhausts the PEG parser's
//! stack of 6000 rule calls (see [`PARSER_DEPTH_BUDGET`]). These bounds also keep hostile input
//! from recursing without bound: recursion depth is at most a few frames per open bracket, and
//! every allocation is proportional to the input.
//!
//! The one known difference: `\N{NAME}` escapes in str literals need the Unicode name table,
//! which this crate does not carry, so they fail with [`LiteralError::NamedEscape`]. They
//! cannot occur in a recognition box, whose content never holds a `}`.
//!
//! Values compare with Python equality through [`HashKey`]: `1 == 1.0 == True == (1+0j)`,
//! `-0.0 == 0`, big integers compare exactly with floats, strings never equal numbers.
//!
//! ```
//! use covip_rl::rewards::pyliteral::{PyValue, literal_eval};
//! let v = literal_eval("[0x1, 2.0, True, 1_0e-1]  # the answer").unwrap();
//! let PyValue::List(items) = &v else { panic!() };
//! let keys: Vec<_> = items.iter().map(|x| x.hash_key().unwrap()).collect();
//! assert_eq!(keys[0], keys[2]); // 0x1 == True
//! assert_eq!(keys[0], keys[3]); // 1_0e-1 == 1.0
//! assert!(literal_eval("01").is_err());
//! assert!(literal_eval("[1] + [2]").is_err());
//! ```
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

/// Most brackets that may be open at once: Python's tokenizer fails on the 201st
/// ("too many nested parentheses").
pub const MAX_BRACKET_NESTING: usize = 200;

/// Most decimal digits of a non-zero int literal (Python 3.11's default
/// `sys.get_int_max_str_digits()`); longer ones fail. Other bases and floats have no limit.
pub const MAX_INT_DIGITS: usize = 4300;

/// Deepest position the PEG parser may reach, in rule calls below the depth of a top-level `1`.
///
/// CPython 3.11's parser raises `MemoryError` when its rule-call stack passes 6000. The costs
/// below were measured on CPython 3.11.7 by finding, for each construct, how many unary minus
/// signs (one rule call each) still fit beneath it; they add up exactly along a path:
/// the first element of a list, set or dict (key or value) costs 29, the first element of a
/// parenthesised tuple or a parenthesised expression 28, any element after a comma 30 (2 at
/// the top level), a unary sign 1, a string 2, the argument list of `set()` 24, an empty
/// `[]`/`{}` 29 and `()` 28. A top-level `1` can sit under 5975 unary signs.
pub const PARSER_DEPTH_BUDGET: u32 = 5975;

/// Why a string is not a Python literal (the error `ast.literal_eval` would raise, in kind).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LiteralError {
    /// The tokenizer or parser rejects the text (`SyntaxError`, `IndentationError`).
    #[error("syntax error at byte {offset}: {message}")]
    Syntax {
        /// Byte offset in the text after leading spaces and tabs were stripped and newlines
        /// normalised.
        offset: usize,
        /// What is wrong.
        message: &'static str,
    },
    /// More than [`MAX_BRACKET_NESTING`] brackets open at once.
    #[error("too many nested parentheses (more than {MAX_BRACKET_NESTING})")]
    TooManyNestedBrackets,
    /// Nesting that exhausts CPython's parser stack (see [`PARSER_DEPTH_BUDGET`]).
    #[error("expression too deeply nested for the Python parser")]
    TooComplex,
    /// A non-zero decimal int literal with more than [`MAX_INT_DIGITS`] digits.
    #[error("int literal has {digits} decimal digits, over Python's limit of {MAX_INT_DIGITS}")]
    IntTooLong {
        /// Its number of digits.
        digits: usize,
    },
    /// Valid Python, but not a literal `literal_eval` evaluates (`ValueError`).
    #[error("malformed node or string: {0}")]
    Malformed(&'static str),
    /// A list, set or dict as a set element or dict key (`TypeError`).
    #[error("unhashable type: '{0}'")]
    Unhashable(&'static str),
    /// `int ± imaginary` with an int beyond the float range (`OverflowError`).
    #[error("int too large to convert to float")]
    IntTooLargeForFloat,
    /// A `\N{...}` escape in a str literal (not supported, see the module docs).
    #[error("\\N{{...}} escapes are not supported")]
    NamedEscape,
}

type Result<T> = std::result::Result<T, LiteralError>;

fn syntax<T>(offset: usize, message: &'static str) -> Result<T> {
    Err(LiteralError::Syntax { offset, message })
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// An arbitrary-precision integer, as Python's `int`.
///
/// Hand-written rather than a bignum crate to keep this crate lean: literals only need
/// construction from digits, negation, exact comparison with floats (through the magnitude of
/// an integral `f64`) and a correctly rounded conversion to `f64`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PyInt {
    negative: bool,
    /// Little-endian base-2^32 limbs without high zero limbs; empty for zero.
    magnitude: Vec<u32>,
}

impl PyInt {
    /// Zero.
    pub fn zero() -> PyInt {
        PyInt {
            negative: false,
            magnitude: Vec::new(),
        }
    }

    /// The integer `v`.
    pub fn from_i64(v: i64) -> PyInt {
        PyInt::from_u64_shifted(v.unsigned_abs(), 0).with_sign(v < 0)
    }

    /// The value as an `i64`, when it fits.
    ///
    /// ```
    /// use covip_rl::rewards::pyliteral::{PyValue, literal_eval};
    /// let PyValue::Int(big) = literal_eval("0x8000_0000_0000_0000").unwrap() else { panic!() };
    /// assert_eq!(big.to_i64(), None);
    /// assert_eq!(big.negated().to_i64(), Some(i64::MIN));
    /// ```
    pub fn to_i64(&self) -> Option<i64> {
        if self.magnitude.len() > 2 {
            return None;
        }
        let m = self.low_u64();
        if self.negative {
            if m <= 1u64 << 63 {
                Some((m as i64).wrapping_neg())
            } else {
                None
            }
        } else {
            i64::try_from(m).ok()
        }
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.magnitude.is_empty()
    }

    /// The value with its sign flipped.
    pub fn negated(&self) -> PyInt {
        self.clone().with_sign(!self.negative)
    }

    /// Number of bits of the magnitude (Python's `int.bit_length`).
    pub fn bit_length(&self) -> u64 {
        match self.magnitude.last() {
            None => 0,
            Some(top) => {
                (self.magnitude.len() as u64 - 1) * 32 + u64::from(32 - top.leading_zeros())
            }
        }
    }

    /// The nearest `f64` (ties to even), or `None` when it is beyond the float range, exactly
    /// as Python's `float(int)` raises `OverflowError`.
    ///
    /// ```
    /// use covip_rl::rewards::pyliteral::PyInt;
    /// assert_eq!(PyInt::from_i64(-3).to_f64(), Some(-3.0));
    /// // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: to even.
    /// assert_eq!(PyInt::from_i64((1 << 53) + 1).to_f64(), Some(9007199254740992.0));
    /// ```
    pub fn to_f64(&self) -> Option<f64> {
        let n = self.bit_length();
        let magnitude = if n <= 64 {
            self.low_u64() as f64
        } else {
            if n > 1024 {
                return None;
            }
            let shift = n - 64;
            // The top 64 bits with every lower bit folded into bit 0: rounding that to 53 bits
            // rounds the whole value correctly, because bit 0 only ever breaks a tie.
            let top = self.bits_at(shift) | u64::from(self.any_bit_below(shift));
            // u64 -> f64 rounds to nearest, ties to even; scaling by 2^shift is exact.
            (top as f64) * f64::from_bits((1023 + shift) << 52)
        };
        if !magnitude.is_finite() {
            return None;
        }
        Some(if self.negative { -magnitude } else { magnitude })
    }

    /// The exact integer value of an integral finite `f64`, or `None` for fractions, infinities
    /// and NaN.
    ///
    /// ```
    /// use covip_rl::rewards::pyliteral::PyInt;
    /// assert_eq!(PyInt::from_integral_f64(1e20).unwrap().to_hex(), "0x56bc75e2d63100000");
    /// assert!(PyInt::from_integral_f64(-0.0).unwrap().is_zero());
    /// assert!(PyInt::from_integral_f64(0.5).is_none());
    /// ```
    pub fn from_integral_f64(f: f64) -> Option<PyInt> {
        if !f.is_finite() || f.fract() != 0.0 {
            return None;
        }
        let bits = f.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as i64;
        if exponent == 0 {
            // Zero or subnormal; a subnormal is never integral.
            return Some(PyInt::zero());
        }
        let mantissa = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
        let shift = exponent - 1075;
        let int = if shift >= 0 {
            PyInt::from_u64_shifted(mantissa, shift as u32)
        } else {
            // Integral, so the bits shifted out are zero.
            PyInt::from_u64_shifted(mantissa >> (-shift), 0)
        };
        Some(int.with_sign(f < 0.0))
    }

    /// Python's `hex(n)`: `0x0`, `0x1f`, `-0x1f`.
    pub fn to_hex(&self) -> String {
        let Some((top, rest)) = self.magnitude.split_last() else {
            return "0x0".to_string();
        };
        let mut s = String::with_capacity(3 + 8 * self.magnitude.len());
        if self.negative {
            s.push('-');
        }
        s.push_str(&format!("0x{top:x}"));
        for limb in rest.iter().rev() {
            s.push_str(&format!("{limb:08x}"));
        }
        s
    }

    fn with_sign(mut self, negative: bool) -> PyInt {
        self.negative = negative && !self.magnitude.is_empty();
        self
    }

    fn normalized(mut self) -> PyInt {
        while self.magnitude.last() == Some(&0) {
            self.magnitude.pop();
        }
        if self.magnitude.is_empty() {
            self.negative = false;
        }
        self
    }

    /// `m * 2^shift`.
    fn from_u64_shifted(m: u64, shift: u32) -> PyInt {
        let words = (shift / 32) as usize;
        let bits = shift % 32;
        let wide = u128::from(m) << bits;
        let mut magnitude = vec![0u32; words];
        magnitude.extend([wide as u32, (wide >> 32) as u32, (wide >> 64) as u32]);
        PyInt {
            negative: false,
            magnitude,
        }
        .normalized()
    }

    /// Decimal ASCII digits (no sign, no `_`). Quadratic, which the 4300-digit limit bounds.
    fn from_decimal(digits: &[u8]) -> PyInt {
        let mut magnitude = Vec::new();
        for chunk in digits.chunks(9) {
            let mut value = 0u32;
            for &d in chunk {
                value = value * 10 + u32::from(d - b'0');
            }
            mul_add_small(&mut magnitude, 10u32.pow(chunk.len() as u32), value);
        }
        PyInt {
            negative: false,
            magnitude,
        }
        .normalized()
    }

    /// Digit values (each below `2^bits_per_digit`), most significant first. Linear time, as a
    /// hex literal's length is not limited.
    fn from_power_of_two_digits(digits: &[u8], bits_per_digit: u32) -> PyInt {
        let mut magnitude = Vec::with_capacity(digits.len() * bits_per_digit as usize / 32 + 1);
        let (mut acc, mut filled) = (0u64, 0u32);
        for &d in digits.iter().rev() {
            acc |= u64::from(d) << filled;
            filled += bits_per_digit;
            if filled >= 32 {
                magnitude.push(acc as u32);
                acc >>= 32;
                filled -= 32;
            }
        }
        magnitude.push(acc as u32);
        PyInt {
            negative: false,
            magnitude,
        }
        .normalized()
    }

    fn low_u64(&self) -> u64 {
        let limb = |i: usize| u64::from(self.magnitude.get(i).copied().unwrap_or(0));
        limb(0) | (limb(1) << 32)
    }

    /// Bits `shift .. shift + 64` of the magnitude.
    fn bits_at(&self, shift: u64) -> u64 {
        let word = (shift / 32) as usize;
        let limb = |i: usize| u128::from(self.magnitude.get(i).copied().unwrap_or(0));
        let window = limb(word) | (limb(word + 1) << 32) | (limb(word + 2) << 64);
        (window >> (shift % 32)) as u64
    }

    /// Whether any bit below `shift` is set.
    fn any_bit_below(&self, shift: u64) -> bool {
        let word = (shift / 32) as usize;
        let partial = self.magnitude.get(word).copied().unwrap_or(0) & ((1u32 << (shift % 32)) - 1);
        partial != 0
            || self.magnitude[..word.min(self.magnitude.len())]
                .iter()
                .any(|&l| l != 0)
    }
}

/// `magnitude = magnitude * mul + add` on little-endian limbs.
fn mul_add_small(magnitude: &mut Vec<u32>, mul: u32, add: u32) {
    let mut carry = u64::from(add);
    for limb in magnitude.iter_mut() {
        let v = u64::from(*limb) * u64::from(mul) + carry;
        *limb = v as u32;
        carry = v >> 32;
    }
    if carry != 0 {
        magnitude.push(carry as u32);
    }
}

/// A Python `str`: a sequence of code points, which (unlike a Rust `String`) may hold lone
/// surrogates such as `'\ud800'`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct PyStr {
    code_points: Vec<u32>,
}

impl PyStr {
    /// The code points.
    pub fn code_points(&self) -> &[u32] {
        &self.code_points
    }

    /// The text, with each lone surrogate replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> String {
        self.code_points
            .iter()
            .map(|&c| char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    }
}

/// A value `ast.literal_eval` can return.
#[derive(Clone, Debug)]
pub enum PyValue {
    /// `None`.
    None,
    /// `...`.
    Ellipsis,
    /// `True` / `False`.
    Bool(bool),
    /// An `int`.
    Int(PyInt),
    /// A `float`.
    Float(f64),
    /// A `complex`.
    Complex {
        /// Real part.
        re: f64,
        /// Imaginary part.
        im: f64,
    },
    /// A `str`.
    Str(PyStr),
    /// A `bytes`.
    Bytes(Vec<u8>),
    /// A `tuple`.
    Tuple(Vec<PyValue>),
    /// A `list`.
    List(Vec<PyValue>),
    /// A `set`: distinct elements, the first of each equal group kept, in display order.
    Set(Vec<PyValue>),
    /// A `dict`: distinct keys (the first of each equal group kept, with the last value given),
    /// in display order.
    Dict(Vec<(PyValue, PyValue)>),
}

/// A value's identity under Python equality: two hashable values are `==` exactly when their
/// keys are equal (NaNs excepted, see [`HashKey::NaN`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HashKey {
    /// `None`.
    None,
    /// `...`.
    Ellipsis,
    /// A number with an integral value: ints, bools, integral floats (`-0.0` included) and
    /// complex numbers with such a real part and a zero imaginary part.
    Int(PyInt),
    /// Any other real number (a fraction or an infinity), by its bits.
    Float(u64),
    /// A complex number with a non-zero imaginary part, by the bits of `(re, im)` (`-0.0`
    /// real part read as `0.0`).
    Complex(u64, u64),
    /// A number with a NaN part. NaN equals nothing, so every NaN gets a fresh id and stays its
    /// own set element (Python would merge only the very same NaN object).
    NaN(u64),
    /// A `str`.
    Str(Vec<u32>),
    /// A `bytes` (never equal to a `str`).
    Bytes(Vec<u8>),
    /// A tuple of hashable values, compared element-wise.
    Tuple(Vec<HashKey>),
}

static NEXT_NAN_ID: AtomicU64 = AtomicU64::new(0);

fn real_key(x: f64) -> HashKey {
    if x.is_nan() {
        return HashKey::NaN(NEXT_NAN_ID.fetch_add(1, Ordering::Relaxed));
    }
    match PyInt::from_integral_f64(x) {
        Some(int) => HashKey::Int(int),
        None => HashKey::Float(x.to_bits()),
    }
}

impl PyValue {
    /// Python's `type(v).__name__`.
    pub fn type_name(&self) -> &'static str {
        match self {
            PyValue::None => "NoneType",
            PyValue::Ellipsis => "ellipsis",
            PyValue::Bool(_) => "bool",
            PyValue::Int(_) => "int",
            PyValue::Float(_) => "float",
            PyValue::Complex { .. } => "complex",
            PyValue::Str(_) => "str",
            PyValue::Bytes(_) => "bytes",
            PyValue::Tuple(_) => "tuple",
            PyValue::List(_) => "list",
            PyValue::Set(_) => "set",
            PyValue::Dict(_) => "dict",
        }
    }

    /// Python's `len(v)` for sized values (str counts code points), else `None`.
    pub fn len(&self) -> Option<usize> {
        match self {
            PyValue::Str(s) => Some(s.code_points.len()),
            PyValue::Bytes(b) => Some(b.len()),
            PyValue::Tuple(v) | PyValue::List(v) | PyValue::Set(v) => Some(v.len()),
            PyValue::Dict(d) => Some(d.len()),
            _ => None,
        }
    }

    /// The key under Python equality, or [`LiteralError::Unhashable`] for a list, set or dict,
    /// or a tuple holding one.
    ///
    /// ```
    /// use covip_rl::rewards::pyliteral::literal_eval;
    /// let key = |s: &str| literal_eval(s).unwrap().hash_key();
    /// assert_eq!(key("1").unwrap(), key("(1+0j)").unwrap());
    /// assert_eq!(key("-0.0").unwrap(), key("0").unwrap());
    /// assert_ne!(key("'1'").unwrap(), key("1").unwrap());
    /// assert!(literal_eval("10**0").is_err()); // not a literal at all
    /// assert!(key("(1, [2])").is_err());
    /// ```
    pub fn hash_key(&self) -> Result<HashKey> {
        Ok(match self {
            PyValue::None => HashKey::None,
            PyValue::Ellipsis => HashKey::Ellipsis,
            PyValue::Bool(b) => HashKey::Int(PyInt::from_i64(i64::from(*b))),
            PyValue::Int(i) => HashKey::Int(i.clone()),
            PyValue::Float(x) => real_key(*x),
            PyValue::Complex { re, im } => {
                if *im == 0.0 {
                    real_key(*re)
                } else if re.is_nan() || im.is_nan() {
                    HashKey::NaN(NEXT_NAN_ID.fetch_add(1, Ordering::Relaxed))
                } else {
                    let re = if *re == 0.0 { 0.0 } else { *re };
                    HashKey::Complex(re.to_bits(), im.to_bits())
                }
            }
            PyValue::Str(s) => HashKey::Str(s.code_points.clone()),
            PyValue::Bytes(b) => HashKey::Bytes(b.clone()),
            PyValue::Tuple(items) => {
                HashKey::Tuple(items.iter().map(PyValue::hash_key).collect::<Result<_>>()?)
            }
            PyValue::List(_) | PyValue::Set(_) | PyValue::Dict(_) => {
                return Err(LiteralError::Unhashable(self.type_name()));
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Tok {
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

struct Token {
    tok: Tok,
    offset: usize,
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

// ---------------------------------------------------------------------------------------------
// Parser: the expression subset that can evaluate, with Python's node shapes
// ---------------------------------------------------------------------------------------------

enum Node {
    Const(PyValue),
    Unary {
        negative: bool,
        operand: Box<Node>,
    },
    BinOp {
        subtract: bool,
        left: Box<Node>,
        right: Box<Node>,
    },
    Tuple(Vec<Node>),
    List(Vec<Node>),
    Set(Vec<Node>),
    Dict(Vec<(Node, Node)>),
    SetCall,
    /// A name; only `set` called without arguments is a literal.
    Name {
        is_set: bool,
    },
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    deepest: u32,
}

/// PEG stack costs of [`PARSER_DEPTH_BUDGET`].
mod cost {
    pub const TOP_AFTER_COMMA: u32 = 2;
    pub const PAREN_FIRST: u32 = 28;
    pub const BRACKET_FIRST: u32 = 29;
    pub const AFTER_COMMA: u32 = 30;
    pub const UNARY: u32 = 1;
    pub const STRING: u32 = 2;
    pub const SET_CALL_ARGS: u32 = 24;
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].tok
    }

    fn offset(&self) -> usize {
        self.toks[self.i].offset
    }

    fn bump(&mut self) -> Tok {
        let tok = std::mem::replace(&mut self.toks[self.i].tok, Tok::End);
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        tok
    }

    fn eat(&mut self, f: impl Fn(&Tok) -> bool) -> bool {
        if f(self.peek()) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_close(&mut self, opener: u8) -> Result<()> {
        if self.eat(|t| matches!(t, Tok::Close(o) if *o == opener)) {
            Ok(())
        } else {
            syntax(self.offset(), "invalid syntax")
        }
    }

    fn leaf(&mut self, depth: u32) {
        self.deepest = self.deepest.max(depth);
    }

    fn starts_expression(&self) -> bool {
        matches!(
            self.peek(),
            Tok::Int(_)
                | Tok::Float(_)
                | Tok::Imag(_)
                | Tok::Str(_)
                | Tok::Bytes(_)
                | Tok::Keyword(_)
                | Tok::SetName
                | Tok::OtherName
                | Tok::Open(_)
                | Tok::Plus
                | Tok::Minus
                | Tok::Ellipsis
        )
    }

    fn eval_input(&mut self) -> Result<Node> {
        let first = self.expression(0)?;
        let node = if self.eat(|t| matches!(t, Tok::Comma)) {
            let mut items = vec![first];
            while self.starts_expression() {
                items.push(self.expression(cost::TOP_AFTER_COMMA)?);
                if !self.eat(|t| matches!(t, Tok::Comma)) {
                    break;
                }
            }
            Node::Tuple(items)
        } else {
            first
        };
        self.eat(|t| matches!(t, Tok::Newline));
        if !matches!(self.peek(), Tok::End) {
            return syntax(self.offset(), "invalid syntax");
        }
        Ok(node)
    }

    /// A `sum`: at most one binary `+`/`-` can be a literal, so a second one fails here.
    fn expression(&mut self, depth: u32) -> Result<Node> {
        let left = self.factor(depth)?;
        let subtract = match self.peek() {
            Tok::Plus => false,
            Tok::Minus => true,
            _ => return Ok(left),
        };
        self.bump();
        let right = self.factor(depth)?;
        if matches!(self.peek(), Tok::Plus | Tok::Minus) {
            return Err(LiteralError::Malformed("chained binary operation"));
        }
        Ok(Node::BinOp {
            subtract,
            left: Box::new(left),
            right: Box::new(right),
        })
    }

    /// A unary sign applies to one number only, so a second sign fails here (which also keeps
    /// `- - - ... 1` from recursing).
    fn factor(&mut self, depth: u32) -> Result<Node> {
        let negative = match self.peek() {
            Tok::Plus => false,
            Tok::Minus => true,
            _ => return self.primary(depth),
        };
        self.bump();
        if matches!(self.peek(), Tok::Plus | Tok::Minus) {
            return Err(LiteralError::Malformed("nested unary operation"));
        }
        let operand = self.primary(depth + cost::UNARY)?;
        Ok(Node::Unary {
            negative,
            operand: Box::new(operand),
        })
    }

    fn primary(&mut self, depth: u32) -> Result<Node> {
        let atom = self.atom(depth)?;
        match self.peek() {
            Tok::Open(b'(') => {}
            Tok::Open(b'[') => return Err(LiteralError::Malformed("subscript")),
            _ => return Ok(atom),
        }
        if !matches!(atom, Node::Name { is_set: true }) {
            return Err(LiteralError::Malformed("call"));
        }
        self.bump();
        self.leaf(depth + cost::SET_CALL_ARGS);
        if !self.eat(|t| matches!(t, Tok::Close(b'('))) {
            return Err(LiteralError::Malformed("set() with arguments"));
        }
        if matches!(self.peek(), Tok::Open(b'(' | b'[')) {
            return Err(LiteralError::Malformed("call or subscript of set()"));
        }
        Ok(Node::SetCall)
    }

    fn atom(&mut self, depth: u32) -> Result<Node> {
        let offset = self.offset();
        match self.bump() {
            Tok::Int(i) => {
                self.leaf(depth);
                Ok(Node::Const(PyValue::Int(i)))
            }
            Tok::Float(x) => {
                self.leaf(depth);
                Ok(Node::Const(PyValue::Float(x)))
            }
            Tok::Imag(x) => {
                self.leaf(depth);
                Ok(Node::Const(PyValue::Complex { re: 0.0, im: x }))
            }
            Tok::Keyword(v) => {
                self.leaf(depth);
                Ok(Node::Const(v))
            }
            Tok::Ellipsis => {
                self.leaf(depth);
                Ok(Node::Const(PyValue::Ellipsis))
            }
            Tok::SetName => {
                self.leaf(depth);
                Ok(Node::Name { is_set: true })
            }
            Tok::OtherName => Err(LiteralError::Malformed("name")),
            tok @ (Tok::Str(_) | Tok::Bytes(_)) => {
                self.leaf(depth + cost::STRING);
                self.strings(tok)
            }
            Tok::Open(b'(') => self.paren(depth),
            Tok::Open(b'[') => {
                let items = self.items(depth, b'[')?;
                Ok(Node::List(items))
            }
            Tok::Open(_) => self.brace(depth),
            _ => syntax(offset, "invalid syntax"),
        }
    }

    /// Implicit concatenation of adjacent string (or bytes) literals.
    fn strings(&mut self, first: Tok) -> Result<Node> {
        let is_bytes = matches!(first, Tok::Bytes(_));
        let mut text: Vec<u32> = Vec::new();
        let mut data: Vec<u8> = Vec::new();
        let mut tok = first;
        loop {
            match tok {
                Tok::Str(s) => text.extend(s),
                Tok::Bytes(b) => data.extend(b),
                _ => unreachable!("only string tokens reach here"),
            }
            match self.peek() {
                Tok::Str(_) | Tok::Bytes(_) => {
                    if matches!(self.peek(), Tok::Bytes(_)) != is_bytes {
                        return syntax(self.offset(), "cannot mix bytes and nonbytes literals");
                    }
                    tok = self.bump();
                }
                _ => break,
            }
        }
        Ok(Node::Const(if is_bytes {
            PyValue::Bytes(data)
        } else {
            PyValue::Str(PyStr { code_points: text })
        }))
    }

    /// After `(`: `()`, a parenthesised expression, or a tuple.
    fn paren(&mut self, depth: u32) -> Result<Node> {
        if self.eat(|t| matches!(t, Tok::Close(b'('))) {
            self.leaf(depth + cost::PAREN_FIRST);
            return Ok(Node::Tuple(Vec::new()));
        }
        let first = self.expression(depth + cost::PAREN_FIRST)?;
        if self.eat(|t| matches!(t, Tok::Close(b'('))) {
            // Parentheses make no node: `(set)()` is still a call of the name `set`.
            return Ok(first);
        }
        if !self.eat(|t| matches!(t, Tok::Comma)) {
            return syntax(self.offset(), "invalid syntax");
        }
        let mut items = vec![first];
        while self.starts_expression() {
            items.push(self.expression(depth + cost::AFTER_COMMA)?);
            if !self.eat(|t| matches!(t, Tok::Comma)) {
                break;
            }
        }
        self.expect_close(b'(')?;
        Ok(Node::Tuple(items))
    }

    /// Comma-separated expressions up to the bracket closing `opener` (a trailing comma
    /// allowed), for lists and sets.
    fn items(&mut self, depth: u32, opener: u8) -> Result<Vec<Node>> {
        let mut items = Vec::new();
        if self.eat(|t| matches!(t, Tok::Close(o) if *o == opener)) {
            self.leaf(depth + cost::BRACKET_FIRST);
            return Ok(items);
        }
        items.push(self.expression(depth + cost::BRACKET_FIRST)?);
        self.rest_of_items(depth, opener, items)
    }

    fn rest_of_items(&mut self, depth: u32, opener: u8, mut items: Vec<Node>) -> Result<Vec<Node>> {
        while self.eat(|t| matches!(t, Tok::Comma)) {
            if !self.starts_expression() {
                break;
            }
            items.push(self.expression(depth + cost::AFTER_COMMA)?);
        }
        self.expect_close(opener)?;
        Ok(items)
    }

    /// After `{`: a dict or a set display.
    fn brace(&mut self, depth: u32) -> Result<Node> {
        if self.eat(|t| matches!(t, Tok::Close(b'{'))) {
            self.leaf(depth + cost::BRACKET_FIRST);
            return Ok(Node::Dict(Vec::new()));
        }
        let first = self.expression(depth + cost::BRACKET_FIRST)?;
        if !self.eat(|t| matches!(t, Tok::Colon)) {
            let items = self.rest_of_items(depth, b'{', vec![first])?;
            return Ok(Node::Set(items));
        }
        let value = self.expression(depth + cost::BRACKET_FIRST)?;
        let mut pairs = vec![(first, value)];
        while self.eat(|t| matches!(t, Tok::Comma)) {
            if !self.starts_expression() {
                break;
            }
            let key = self.expression(depth + cost::AFTER_COMMA)?;
            if !self.eat(|t| matches!(t, Tok::Colon)) {
                return syntax(self.offset(), "':' expected after dictionary key");
            }
            let value = self.expression(depth + cost::AFTER_COMMA)?;
            pairs.push((key, value));
        }
        self.expect_close(b'{')?;
        Ok(Node::Dict(pairs))
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation: `ast.literal_eval`'s `_convert`
// ---------------------------------------------------------------------------------------------

/// A number constant (`_convert_num`): int, float or complex, not bool.
fn number(node: Node) -> Result<PyValue> {
    match node {
        Node::Const(v @ (PyValue::Int(_) | PyValue::Float(_) | PyValue::Complex { .. })) => Ok(v),
        _ => Err(LiteralError::Malformed("not a number")),
    }
}

/// A number with at most one unary sign (`_convert_signed_num`).
fn signed_number(node: Node) -> Result<PyValue> {
    let Node::Unary { negative, operand } = node else {
        return number(node);
    };
    let v = number(*operand)?;
    if !negative {
        return Ok(v);
    }
    Ok(match v {
        PyValue::Int(i) => PyValue::Int(i.negated()),
        PyValue::Float(x) => PyValue::Float(-x),
        PyValue::Complex { re, im } => PyValue::Complex { re: -re, im: -im },
        _ => unreachable!("number() returns numbers only"),
    })
}

/// Distinct values by Python equality, the first of each group kept.
fn distinct(values: Vec<PyValue>) -> Result<Vec<PyValue>> {
    let mut seen = HashSet::with_capacity(values.len());
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        if seen.insert(v.hash_key()?) {
            out.push(v);
        }
    }
    Ok(out)
}

fn convert(node: Node) -> Result<PyValue> {
    Ok(match node {
        Node::Const(v) => v,
        Node::Tuple(items) => {
            PyValue::Tuple(items.into_iter().map(convert).collect::<Result<_>>()?)
        }
        Node::List(items) => PyValue::List(items.into_iter().map(convert).collect::<Result<_>>()?),
        Node::Set(items) => PyValue::Set(distinct(
            items.into_iter().map(convert).collect::<Result<_>>()?,
        )?),
        Node::SetCall => PyValue::Set(Vec::new()),
        Node::Dict(pairs) => {
            let mut index: HashMap<HashKey, usize> = HashMap::with_capacity(pairs.len());
            let mut out: Vec<(PyValue, PyValue)> = Vec::with_capacity(pairs.len());
            // Python converts all keys, then all values; the first failure is reported either
            // way, and which one does not matter here.
            for (k, v) in pairs {
                let key = convert(k)?;
                let value = convert(v)?;
                match index.entry(key.hash_key()?) {
                    std::collections::hash_map::Entry::Occupied(slot) => out[*slot.get()].1 = value,
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(out.len());
                        out.push((key, value));
                    }
                }
            }
            PyValue::Dict(out)
        }
        Node::BinOp {
            subtract,
            left,
            right,
        } => {
            let left = signed_number(*left)?;
            let right = number(*right)?;
            let PyValue::Complex { re: rre, im: rim } = right else {
                return Err(LiteralError::Malformed(
                    "binary operation without an imaginary right operand",
                ));
            };
            let l = match left {
                PyValue::Int(i) => i.to_f64().ok_or(LiteralError::IntTooLargeForFloat)?,
                PyValue::Float(x) => x,
                _ => return Err(LiteralError::Malformed("complex left operand")),
            };
            // complex(l, 0.0) +/- complex(rre, rim), component by component as CPython does.
            if subtract {
                PyValue::Complex {
                    re: l - rre,
                    im: 0.0 - rim,
                }
            } else {
                PyValue::Complex {
                    re: l + rre,
                    im: 0.0 + rim,
                }
            }
        }
        node @ Node::Unary { .. } => signed_number(node)?,
        Node::Name { .. } => return Err(LiteralError::Malformed("name")),
    })
}

/// Evaluates `source` as Python 3.11's `ast.literal_eval(source)` would, or says why that
/// raises. See the module documentation for what is accepted.
///
/// ```
/// use covip_rl::rewards::pyliteral::{PyValue, literal_eval};
/// assert!(matches!(literal_eval(" (1, 0b10,)\n"), Ok(PyValue::Tuple(v)) if v.len() == 2));
/// assert!(matches!(literal_eval("-1e999-2j"), Ok(PyValue::Complex { re, im }) if re == f64::NEG_INFINITY && im == -2.0));
/// assert!(matches!(literal_eval("set()"), Ok(PyValue::Set(v)) if v.is_empty()));
/// assert!(literal_eval("{[1]: 2}").is_err()); // unhashable key
/// assert!(literal_eval("\n  1").is_err()); // unexpected indent
/// assert!(literal_eval(&"[".repeat(201)).is_err());
/// ```
pub fn literal_eval(source: &str) -> Result<PyValue> {
    if let Some(offset) = source.find('\0') {
        return syntax(offset, "source code string cannot contain null bytes");
    }
    let stripped = source.trim_start_matches([' ', '\t']);
    let text: std::borrow::Cow<str> = if stripped.contains('\r') {
        stripped.replace("\r\n", "\n").replace('\r', "\n").into()
    } else {
        stripped.into()
    };
    let lexer = Lexer {
        src: &text,
        pos: 0,
        brackets: Vec::new(),
        toks: Vec::new(),
    };
    let toks = lexer.run()?;
    let mut parser = Parser {
        toks,
        i: 0,
        deepest: 0,
    };
    let node = parser.eval_input()?;
    if parser.deepest > PARSER_DEPTH_BUDGET {
        return Err(LiteralError::TooComplex);
    }
    convert(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> HashKey {
        literal_eval(s).unwrap().hash_key().unwrap()
    }

    fn int(s: &str) -> PyInt {
        match literal_eval(s).unwrap() {
            PyValue::Int(i) => i,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn int_to_float_rounds_half_even_and_overflows_like_python() {
        assert_eq!(
            int(&(1u64 << 53).to_string()).to_f64(),
            Some(9007199254740992.0)
        );
        assert_eq!(int("9007199254740993").to_f64(), Some(9007199254740992.0));
        assert_eq!(int("9007199254740995").to_f64(), Some(9007199254740996.0));
        // 2^1024 - 2^970 is the midpoint between f64::MAX and 2^1024: rounds up, overflows.
        let max = int(&format!("0x{}{}", "f".repeat(14), "0".repeat(242))); // 2^1024 - 2^968
        assert_eq!(max.to_f64(), None);
        let midpoint = format!("0b{}{}", "1".repeat(54), "0".repeat(970)); // 2^1024 - 2^970
        assert_eq!(int(&midpoint).to_f64(), None); // a tie, to even: 2^1024
        let below = format!("0b{}{}", "1".repeat(53), "0".repeat(1) + &"1".repeat(970));
        assert_eq!(int(&below).to_f64(), Some(f64::MAX));
        let f64_max = PyInt::from_integral_f64(f64::MAX).unwrap();
        assert_eq!(f64_max.to_f64(), Some(f64::MAX));
        assert_eq!(int(&format!("-0x1{}", "0".repeat(256))).to_f64(), None); // -2^1024
        assert_eq!(int("-123").to_f64(), Some(-123.0));
        assert_eq!(int("0").to_f64(), Some(0.0));
    }

    #[test]
    fn integral_floats_compare_exactly_with_big_ints() {
        assert_eq!(key("18446744073709551616"), key("1.8446744073709552e19"));
        assert_eq!(key("0x10000000000000000"), key("18446744073709551616.0"));
        assert_ne!(key(&format!("1{}", "0".repeat(30))), key("1e30")); // 1e30 is 1000000000000000019884624838656
        assert_eq!(key("1000000000000000019884624838656"), key("1e30"));
        assert_eq!(key("1"), key("True"));
        assert_eq!(key("1"), key("(1+0j)"));
        assert_eq!(key("0"), key("-0.0"));
        assert_eq!(key("0"), key("-0j"));
        assert_ne!(key("1e999"), key("-1e999"));
        assert_eq!(key("1e999"), key("1e999+0j"));
        assert_ne!(key("'1'"), key("1"));
        assert_ne!(key("b'1'"), key("'1'"));
        assert_eq!(key("(1, 'a')"), key("(1.0, 'a')"));
        assert_ne!(key("(1, 2)"), key("(1, 2, 3)"));
        assert_ne!(key("1j"), key("-1j"));
        assert_eq!(key("1+1j"), key("(1.0+1j)"));
    }

    #[test]
    fn nan_equals_nothing() {
        let nan = PyValue::Float(f64::NAN);
        assert_ne!(nan.hash_key().unwrap(), nan.hash_key().unwrap());
        let c = PyValue::Complex {
            re: f64::NAN,
            im: 1.0,
        };
        assert_ne!(c.hash_key().unwrap(), c.hash_key().unwrap());
    }

    #[test]
    fn python_limits_are_reproduced() {
        let nest =
            |n: usize, open: &str, close: &str| format!("{}1{}", open.repeat(n), close.repeat(n));
        assert!(literal_eval(&nest(200, "[", "]")).is_ok());
        assert_eq!(
            literal_eval(&nest(201, "[", "]")).unwrap_err(),
            LiteralError::TooManyNestedBrackets
        );
        assert!(literal_eval(&nest(199, "[0, ", "]")).is_ok());
        assert_eq!(
            literal_eval(&nest(200, "[0, ", "]")).unwrap_err(),
            LiteralError::TooComplex
        );
        assert!(literal_eval(&nest(200, "(", ",)")).is_ok());
        let digits = |n: usize| format!("1{}", "0".repeat(n - 1));
        assert!(literal_eval(&digits(4300)).is_ok());
        assert_eq!(
            literal_eval(&digits(4301)).unwrap_err(),
            LiteralError::IntTooLong { digits: 4301 }
        );
        assert!(literal_eval(&"0".repeat(5000)).is_ok());
        assert!(literal_eval(&format!("{}.0", digits(5000))).is_ok());
        assert!(literal_eval(&format!("0x{}", "f".repeat(5000))).is_ok());
        assert_eq!(
            literal_eval(&format!("{}+1j", digits(310))).unwrap_err(),
            LiteralError::IntTooLargeForFloat
        );
    }

    #[test]
    fn white_space_and_line_rules() {
        for ok in [
            " 1",
            "\t1",
            "\n1",
            "\x0c1",
            " \x0c1",
            "1\n",
            "1\n\n  \n# x\n",
            "1 # c",
            "\\\n1",
            "[1,\\\n2]",
            "1\r\n",
            "[1,\r2]",
            "1 \\\n+1j",
            "1\n\x0c",
        ] {
            assert!(literal_eval(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "\n 1",
            "\x0c 1",
            "1 #c\n2",
            "1 \\\n",
            "\x0b1",
            "\u{a0}1",
            "\u{feff}1",
            "1\0",
            "[1]\n\t",
            "\\\n 1",
            "",
            "#c",
        ] {
            assert!(literal_eval(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn strings_escape_and_concatenate() {
        let s = |src: &str| match literal_eval(src).unwrap() {
            PyValue::Str(s) => s.code_points().to_vec(),
            other => panic!("{other:?}"),
        };
        assert_eq!(s("'a' \"b\" u'c'"), [97, 98, 99]);
        assert_eq!(s(r"'\x41\101\u0041\U00000041'"), [65; 4]);
        assert_eq!(s(r"'\777'"), [0o777]);
        assert_eq!(s(r"'\d'"), [92, 100]);
        assert_eq!(s(r"'\ud800'"), [0xd800]);
        assert_eq!(s("'''a\r\nb'''"), [97, 10, 98]);
        assert_eq!(s(r"R'\n'"), [92, 110]);
        assert!(
            matches!(literal_eval(r"b'\777\u0041'"), Ok(PyValue::Bytes(b)) if b == [0xff, 92, 117, 48, 48, 52, 49])
        );
        for bad in [
            "'a' b'b'",
            "f'a'",
            "'a' f'b'",
            "ur'a'",
            "b'é'",
            r"'\x4'",
            r"'\U00110000'",
            "'a\nb'",
            r"r'\'",
        ] {
            assert!(literal_eval(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            literal_eval(r"'\N{DASH}'").unwrap_err(),
            LiteralError::NamedEscape
        );
    }

    #[test]
    fn only_literal_node_shapes_evaluate() {
        for ok in [
            "-(1)",
            "(-1)+(2j)",
            "1-1j",
            "+1.5+0j",
            "set()",
            "(set)()",
            "ｓｅｔ()",
            "{1: 2, 1.0: 3}",
            "(1,)",
            "1,",
            "...",
        ] {
            assert!(literal_eval(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "--1",
            "-True",
            "1+2",
            "1j+1",
            "1+1j+1j",
            "True+1j",
            "1+-1j",
            "-(1,)",
            "set(1)",
            "set()()",
            "Set()",
            "[1][0]",
            "{[1]}",
            "{[1]: 2}",
            "x",
            "Ｔｒｕｅ",
            "{**{}}",
            "[*()]",
        ] {
            assert!(literal_eval(bad).is_err(), "{bad:?}");
        }
        let PyValue::Dict(d) = literal_eval("{1: 'a', True: 'b', 1.0: 'c'}").unwrap() else {
            panic!()
        };
        assert_eq!(d.len(), 1);
        assert!(matches!(&d[0], (PyValue::Int(_), PyValue::Str(s)) if s.code_points() == [99]));
    }
}
