//! `Math.pow(frag, 0.2)` as the JVM running the jar computes it.
//!
//! The fragmentation penalty is the only transcendental function in METEOR's score. The platform
//! `powf` and the JVM's `Math.pow` (HotSpot's x86-64 intrinsic) are both within one ulp but round
//! differently in about 0.1% of cases, which would leave one-ulp differences in segment scores.
//! So the power is computed correctly rounded (platform independent), then moved by one ulp at
//! the `(chunks, matches)` pairs where the JVM is known to round the other way
//! ([`super::pow_table`], measured by `scripts/meteor_pow_table.py` for every pair a segment of
//! up to a thousand matched words per side can produce). Beyond the table (corpus-level
//! statistics) the result is the correctly rounded one, which the JVM agrees with in about
//! 99.94% of cases.

use super::pow_table::{JVM_POW_EXCEPTIONS, MAX_MATCHES};

/// `x^0.2` (the double nearest 0.2) as the JVM computes it, for `frag = chunks / (matches / 2)`.
pub fn jvm_pow_fifth(chunks: f64, matches: f64, frag: f64) -> f64 {
    let r = pow_fifth_correctly_rounded(frag);
    if chunks.fract() != 0.0
        || matches.fract() != 0.0
        || !(1.0..=f64::from(MAX_MATCHES)).contains(&matches)
        || chunks < 1.0
    {
        return r;
    }
    let key = (matches as u16, chunks as u16);
    match JVM_POW_EXCEPTIONS.binary_search_by(|&(m, c, _)| (m, c).cmp(&key)) {
        Ok(i) => step_ulps(r, JVM_POW_EXCEPTIONS[i].2),
        Err(_) => r,
    }
}

/// Moves a positive finite `x` by `ulps` units in the last place.
fn step_ulps(x: f64, ulps: i8) -> f64 {
    let bits = x.to_bits() as i64 + i64::from(ulps);
    f64::from_bits(bits as u64)
}

/// `(hi, lo)` with `hi + lo = a * b` exactly.
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

/// `(hi, lo)` with `hi + lo = a + b` exactly.
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// Double-double product (about 104 significant bits).
fn dd_mul(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let (p, e) = two_prod(a.0, b.0);
    let e = e + (a.0 * b.1 + a.1 * b.0);
    let s = p + e;
    (s, e - (s - p))
}

/// The sign of `v^5 - x^(5y)` with `y` the double nearest 0.2, so `5y = 1 + 2^-54`:
/// `x^(5y) = x (1 + 2^-54 ln x)` to far better than the resolution needed here.
fn fifth_power_minus(v: (f64, f64), x: f64) -> f64 {
    let v2 = dd_mul(v, v);
    let v4 = dd_mul(v2, v2);
    let v5 = dd_mul(v4, v);
    let (s, e) = two_sum(v5.0, -x);
    (s + (e + v5.1)) - x * f64::powi(2.0, -54) * x.ln()
}

/// `x^0.2` correctly rounded to nearest for positive normal `x` (the platform `powf`, within an
/// ulp, corrected by comparing the fifth powers of the two neighbouring midpoints); other `x`
/// go to `powf`, which agrees with Java on zeros, infinities and NaN.
pub fn pow_fifth_correctly_rounded(x: f64) -> f64 {
    let r = x.powf(0.2);
    if !(1e-250..=1e250).contains(&x) {
        return r;
    }
    let up = f64::from_bits(r.to_bits() + 1);
    let down = f64::from_bits(r.to_bits() - 1);
    let mid = |a: f64, b: f64| {
        let (s, e) = two_sum(a, b);
        (s * 0.5, e * 0.5)
    };
    if fifth_power_minus(mid(r, up), x) < 0.0 {
        up
    } else if fifth_power_minus(mid(down, r), x) > 0.0 {
        down
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_values_follow_java() {
        assert_eq!(pow_fifth_correctly_rounded(0.0), 0.0);
        assert_eq!(pow_fifth_correctly_rounded(1.0), 1.0);
        assert!(pow_fifth_correctly_rounded(f64::NAN).is_nan());
        assert_eq!(pow_fifth_correctly_rounded(32.0), 2.0);
    }

    #[test]
    fn correctly_rounded_where_powf_may_not_be() {
        // Reference values from 40-digit decimal arithmetic (exp(0.2 ln x), 0.2 as a double).
        for (x, want) in [
            (0.5, 0.8705505632961241),
            (1.0 / 3.0, 0.8027415617602307),
            (0.1, 0.6309573444801932),
            // glibc's pow gives ...591 and ...978 for these two.
            (12.0 / 47.0, 0.7610561111586592),
            (14.0 / 111.0, 0.6609384404935977),
        ] {
            assert_eq!(pow_fifth_correctly_rounded(x), want, "x = {x}");
        }
    }

    #[test]
    fn the_table_is_sorted_and_applied() {
        assert!(
            JVM_POW_EXCEPTIONS
                .windows(2)
                .all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1))
        );
        for &(m, c, d) in JVM_POW_EXCEPTIONS.iter().take(50) {
            let (m, c) = (f64::from(m), f64::from(c));
            let frag = c / (m / 2.0);
            let cr = pow_fifth_correctly_rounded(frag);
            let jvm = jvm_pow_fifth(c, m, frag);
            assert_eq!(jvm.to_bits() as i64 - cr.to_bits() as i64, i64::from(d));
        }
    }
}
