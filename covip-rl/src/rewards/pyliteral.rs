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
mod eval;
mod int;
mod lex;
mod parse;
mod value;

pub use int::PyInt;
pub use value::{HashKey, PyStr, PyValue};

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

/// Evaluates `source` as Python 3.11's `ast.literal_eval(source)` would, or says why that
/// raises. See the module documentation for what is accepted.
///
/// ```
/// use covip_rl::rewards::pyliteral::{PyValue, literal_eval};
/// assert!(matches!(literal_eval(" (1, 0b10,)\n"), Ok(PyValue::Tuple(v)) if v.len() == 2));
/// let Ok(PyValue::Complex { re, im }) = literal_eval("-1e999-2j") else { panic!() };
/// assert_eq!((re, im), (f64::NEG_INFINITY, -2.0));
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
    let tokens = lex::tokenize(&text)?;
    let node = parse::parse(tokens)?;
    eval::convert(node)
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
        let below = format!("0b{}0{}", "1".repeat(53), "1".repeat(970));
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
        // 1e30 is 1000000000000000019884624838656.
        assert_ne!(key(&format!("1{}", "0".repeat(30))), key("1e30"));
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
            matches!(literal_eval(r"b'\777\u0041'"), Ok(PyValue::Bytes(b)) if b == b"\xff\\u0041")
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
