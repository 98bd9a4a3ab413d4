//! The values `ast.literal_eval` returns, and their identity under Python equality.
use std::sync::atomic::{AtomicU64, Ordering};

use super::{LiteralError, PyInt, Result};

/// A Python `str`: a sequence of code points, which (unlike a Rust `String`) may hold lone
/// surrogates such as `'\ud800'`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct PyStr {
    code_points: Vec<u32>,
}

impl PyStr {
    pub(super) fn from_code_points(code_points: Vec<u32>) -> PyStr {
        PyStr { code_points }
    }

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
    pub fn py_len(&self) -> Option<usize> {
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
