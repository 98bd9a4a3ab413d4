//! Python's `int`: the few arbitrary-precision operations literals need.

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
    pub(super) fn from_decimal(digits: &[u8]) -> PyInt {
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
    pub(super) fn from_power_of_two_digits(digits: &[u8], bits_per_digit: u32) -> PyInt {
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
