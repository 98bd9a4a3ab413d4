//! Recognition reward r_vis for task `multi_vision` (SPEC §4.1): F1 between the predicted and gold
//! sets of concept indices.
use std::collections::BTreeSet;

use super::boxed::boxed_content;

/// Parses the content of a box as a set of integers: a bare integer, a `[...]` list, a `(...)`
/// tuple or a bare comma-separated sequence (`1, 2`, as Python's literal syntax reads it), with
/// surrounding white space and a trailing comma allowed. Duplicates collapse. `None` when the
/// text is anything else (floats, words, nested lists, unbalanced brackets).
///
/// ```
/// use covip_rl::rewards::recognition::parse_index_set;
/// assert_eq!(parse_index_set(" [0, 3, 3]").unwrap().into_iter().collect::<Vec<_>>(), [0, 3]);
/// assert_eq!(parse_index_set("(2,)").unwrap().len(), 1);
/// assert_eq!(parse_index_set("-1").unwrap().first(), Some(&-1));
/// assert!(parse_index_set("[]").unwrap().is_empty());
/// assert!(parse_index_set("[0, x]").is_none());
/// assert!(parse_index_set("1.0").is_none());
/// ```
pub fn parse_index_set(content: &str) -> Option<BTreeSet<i64>> {
    let t = content.trim();
    let (inner, bracketed) = if let Some(rest) = t.strip_prefix('[') {
        (rest.strip_suffix(']')?, true)
    } else if let Some(rest) = t.strip_prefix('(') {
        (rest.strip_suffix(')')?, true)
    } else {
        (t, false)
    };
    let mut out = BTreeSet::new();
    if inner.trim().is_empty() {
        // `[]` and `()` are empty collections; an empty box is not a value.
        return bracketed.then_some(out);
    }
    let pieces: Vec<&str> = inner.split(',').collect();
    let n = pieces.len();
    for (i, piece) in pieces.iter().enumerate() {
        let p = piece.trim();
        if p.is_empty() {
            // Only a single trailing comma after at least one element is allowed.
            if i == n - 1 && n > 1 {
                continue;
            }
            return None;
        }
        out.insert(parse_int(p)?);
    }
    Some(out)
}

/// An integer literal: optional sign, decimal digits (no leading zeros unless all zeros),
/// single underscores between digits allowed as in Python.
fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, s[1..].trim_start()),
        b'+' => (false, s[1..].trim_start()),
        _ => (false, s),
    };
    let bytes = digits.as_bytes();
    if bytes.is_empty() || !bytes[0].is_ascii_digit() || !bytes[bytes.len() - 1].is_ascii_digit() {
        return None;
    }
    let mut clean = String::with_capacity(digits.len());
    let mut prev_underscore = false;
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                clean.push(b as char);
                prev_underscore = false;
            }
            b'_' if !prev_underscore => prev_underscore = true,
            _ => return None,
        }
    }
    if clean.len() > 1 && clean.starts_with('0') && clean.bytes().any(|b| b != b'0') {
        return None;
    }
    let v: i64 = clean.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// F1 of a predicted set against a gold set: P = TP/|pred|, R = TP/|gold|, 2PR/(P+R); 0 when
/// either set is empty or nothing overlaps. Symmetric in its arguments.
///
/// ```
/// use std::collections::BTreeSet;
/// use covip_rl::rewards::recognition::set_f1;
/// let pred: BTreeSet<i64> = [0, 1].into();
/// let gold: BTreeSet<i64> = [1, 2, 3].into();
/// // P = 1/2, R = 1/3, F1 = 2/5
/// assert!((set_f1(&pred, &gold) - 0.4).abs() < 1e-12);
/// ```
pub fn set_f1(pred: &BTreeSet<i64>, gold: &BTreeSet<i64>) -> f64 {
    if pred.is_empty() || gold.is_empty() {
        return 0.0;
    }
    let tp = pred.intersection(gold).count() as f64;
    let p = tp / pred.len() as f64;
    let r = tp / gold.len() as f64;
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

/// r_vis: F1 between the indices in the completion's first `\boxed{}` and `gold`; 0 when there is
/// no box or its content is not an integer / list / tuple of integers.
///
/// ```
/// use covip_rl::recognition_reward;
/// assert_eq!(recognition_reward("Answer: \\boxed{[0, 2]}", &[2, 0]), 1.0);
/// assert_eq!(recognition_reward("Answer: \\boxed{[0, 1]}", &[0]), 2.0 / 3.0);
/// assert_eq!(recognition_reward("Answer: 0", &[0]), 0.0);
/// ```
pub fn recognition_reward(completion: &str, gold: &[i64]) -> f64 {
    let Some(content) = boxed_content(completion) else {
        return 0.0;
    };
    let Some(pred) = parse_index_set(content) else {
        return 0.0;
    };
    let gold: BTreeSet<i64> = gold.iter().copied().collect();
    set_f1(&pred, &gold)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[i64]) -> BTreeSet<i64> {
        v.iter().copied().collect()
    }

    #[test]
    fn parses_python_literal_shapes() {
        assert_eq!(parse_index_set("3"), Some(set(&[3])));
        assert_eq!(parse_index_set("(3)"), Some(set(&[3])));
        assert_eq!(parse_index_set("1, 2"), Some(set(&[1, 2])));
        assert_eq!(parse_index_set("1,"), Some(set(&[1])));
        assert_eq!(parse_index_set("[1,\n 2,\n]"), Some(set(&[1, 2])));
        assert_eq!(parse_index_set("1_0"), Some(set(&[10])));
        assert_eq!(parse_index_set("00"), Some(set(&[0])));
        assert_eq!(parse_index_set(""), None);
        assert_eq!(parse_index_set("[,]"), None);
        assert_eq!(parse_index_set("[1,,2]"), None);
        assert_eq!(parse_index_set("[1 2]"), None);
        assert_eq!(parse_index_set("01"), None);
        assert_eq!(parse_index_set("[[1]]"), None);
        assert_eq!(parse_index_set("[1"), None);
        assert_eq!(parse_index_set("1__0"), None);
        assert_eq!(parse_index_set("99999999999999999999999"), None);
    }

    #[test]
    fn hand_worked_rewards() {
        // pred {0,1,3}, gold {1,3,5,7}: TP 2, P 2/3, R 1/2, F1 = 2*(1/3)/(7/6) = 4/7
        let r = recognition_reward("\\boxed{[0, 1, 3]}", &[1, 3, 5, 7]);
        assert!((r - 4.0 / 7.0).abs() < 1e-12, "{r}");
        assert_eq!(recognition_reward("\\boxed{[5, 6]}", &[1]), 0.0);
        assert_eq!(recognition_reward("\\boxed{[]}", &[1]), 0.0);
        assert_eq!(recognition_reward("\\boxed{[1]}", &[]), 0.0);
        assert_eq!(recognition_reward("\\boxed{[1, 1, 1]}", &[1, 1]), 1.0);
        assert_eq!(recognition_reward("\\boxed{two}", &[2]), 0.0);
    }

    #[test]
    fn f1_is_symmetric_and_bounded() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let a: BTreeSet<i64> = (0..next() % 6).map(|_| (next() % 8) as i64).collect();
            let b: BTreeSet<i64> = (0..next() % 6).map(|_| (next() % 8) as i64).collect();
            let ab = set_f1(&a, &b);
            assert_eq!(ab, set_f1(&b, &a), "{a:?} {b:?}");
            assert!((0.0..=1.0).contains(&ab));
            if !a.is_empty() {
                assert_eq!(set_f1(&a, &a), 1.0);
            }
        }
    }
}
