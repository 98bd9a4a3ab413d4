//! Recognition reward r_vis for task `multi_vision` (SPEC §4.1): F1 between the predicted and gold
//! sets of concept indices.
//!
//! By default the box content is read as the released code reads it, with Python's
//! `ast.literal_eval` ([`super::pyliteral::literal_eval`]) and Python equality, so that
//! `\boxed{[1.0, 0x2]}`, `\boxed{True}` or `\boxed{[1]  # final}` score as the numbers they
//! denote. [`RecognitionParse::StrictIntegers`] keeps the stricter integer-only reading.
use std::collections::{BTreeSet, HashSet};

use super::boxed::boxed_content;
use super::pyliteral::{HashKey, PyInt, PyValue, literal_eval};

/// How [`recognition_reward_with`] reads the content of the box.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecognitionParse {
    /// As released (`yes_no_reward_multi_vis`): `ast.literal_eval` of the content; a list,
    /// tuple or set gives its elements, any other value is one element; the elements form a
    /// set under Python equality (`1 == 1.0 == True`), and an unhashable element (a nested
    /// list, a dict) makes the reward 0.
    #[default]
    Released,
    /// Integers only ([`parse_index_set`]): a bare integer, a list or tuple of integers, or a
    /// bare comma-separated sequence; anything else (floats, booleans, other bases, comments)
    /// scores 0.
    StrictIntegers,
}

/// The [`RecognitionParse::StrictIntegers`] reading of a box: a set of integers from a bare
/// integer, a `[...]` list, a `(...)` tuple or a bare comma-separated sequence (`1, 2`), with
/// surrounding white space and a trailing comma allowed. Duplicates collapse. `None` when the
/// text is anything else (floats, booleans, other bases, words, nested lists, comments,
/// unbalanced brackets).
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
    f1_from_counts(pred.intersection(gold).count(), pred.len(), gold.len())
}

/// F1 from counts, computed as the released code does (P = TP/|pred|, R = TP/|gold|,
/// 2·P·R/(P+R) in that order of operations, so results agree to the last bit); 0 when either
/// set is empty or nothing overlaps.
///
/// ```
/// use covip_rl::rewards::recognition::f1_from_counts;
/// assert_eq!(f1_from_counts(1, 2, 3), 0.4);
/// assert_eq!(f1_from_counts(0, 2, 3), 0.0);
/// ```
pub fn f1_from_counts(true_positives: usize, predicted: usize, gold: usize) -> f64 {
    let tp = true_positives as f64;
    let precision = if predicted > 0 {
        tp / predicted as f64
    } else {
        0.0
    };
    let recall = if gold > 0 { tp / gold as f64 } else { 0.0 };
    if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    }
}

/// The predicted elements of a box as the released code reads them: the distinct
/// [`HashKey`]s of the `literal_eval` value's elements (or of the value itself when it is not a
/// list, tuple or set). `None` when the content is not a literal or an element is unhashable.
///
/// ```
/// use covip_rl::rewards::recognition::released_prediction;
/// assert_eq!(released_prediction("[1, 1.0, True, 0b1, (1+0j)]").unwrap().len(), 1);
/// assert_eq!(released_prediction("'12'").unwrap().len(), 1);
/// assert!(released_prediction("[[1], 2]").is_none());
/// assert!(released_prediction("[1, 2").is_none());
/// ```
pub fn released_prediction(content: &str) -> Option<HashSet<HashKey>> {
    let value = literal_eval(content).ok()?;
    let elements = match value {
        PyValue::List(v) | PyValue::Tuple(v) | PyValue::Set(v) => v,
        other => vec![other],
    };
    elements.iter().map(|e| e.hash_key().ok()).collect()
}

/// r_vis: F1 between the elements of the completion's first `\boxed{}` and `gold`, read as
/// released ([`RecognitionParse::Released`]); 0 when there is no box, the content is not a
/// Python literal, or an element is unhashable.
///
/// ```
/// use covip_rl::recognition_reward;
/// assert_eq!(recognition_reward("Answer: \\boxed{[0, 2]}", &[2, 0]), 1.0);
/// assert_eq!(recognition_reward("Answer: \\boxed{[0, 1]}", &[0]), 2.0 / 3.0);
/// assert_eq!(recognition_reward("Answer: \\boxed{[1.0, 0x2]  # both}", &[1, 2]), 1.0);
/// assert_eq!(recognition_reward("Answer: \\boxed{True}", &[1]), 1.0);
/// assert_eq!(recognition_reward("Answer: \\boxed{[[0]]}", &[0]), 0.0);
/// assert_eq!(recognition_reward("Answer: 0", &[0]), 0.0);
/// ```
pub fn recognition_reward(completion: &str, gold: &[i64]) -> f64 {
    recognition_reward_with(completion, gold, RecognitionParse::Released)
}

/// r_vis with the box content read as `parse` says.
///
/// ```
/// use covip_rl::rewards::recognition::{RecognitionParse, recognition_reward_with};
/// let text = "\\boxed{[1.0, 2]}";
/// assert_eq!(recognition_reward_with(text, &[1, 2], RecognitionParse::Released), 1.0);
/// assert_eq!(recognition_reward_with(text, &[1, 2], RecognitionParse::StrictIntegers), 0.0);
/// ```
pub fn recognition_reward_with(completion: &str, gold: &[i64], parse: RecognitionParse) -> f64 {
    let Some(content) = boxed_content(completion) else {
        return 0.0;
    };
    match parse {
        RecognitionParse::Released => {
            let Some(pred) = released_prediction(content) else {
                return 0.0;
            };
            let gold: HashSet<HashKey> = gold
                .iter()
                .map(|&g| HashKey::Int(PyInt::from_i64(g)))
                .collect();
            let tp = gold.iter().filter(|g| pred.contains(g)).count();
            f1_from_counts(tp, pred.len(), gold.len())
        }
        RecognitionParse::StrictIntegers => {
            let Some(pred) = parse_index_set(content) else {
                return 0.0;
            };
            let gold: BTreeSet<i64> = gold.iter().copied().collect();
            set_f1(&pred, &gold)
        }
    }
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
    fn released_parse_reads_every_python_spelling() {
        // Each of these scored 0 under the integer-only parse; the released code reads numbers.
        for (content, gold) in [
            ("[1.0, 2]", &[1, 2][..]),
            ("True", &[1]),
            ("0x1", &[1]),
            ("0o1", &[1]),
            ("[1e0]", &[1]),
            ("[1]  # final", &[1]),
            ("[0b11, 0X_2, 1_0]", &[3, 2, 10]),
            ("(1+0j, -0.0)", &[1, 0]),
            ("\n[1,\n 2,\n]\n", &[1, 2]),
        ] {
            let text = format!("Answer: \\boxed{{{content}}}");
            assert_eq!(recognition_reward(&text, gold), 1.0, "{content}");
            assert_eq!(
                recognition_reward_with(&text, gold, RecognitionParse::StrictIntegers),
                if content.starts_with('\n') { 1.0 } else { 0.0 },
                "{content}"
            );
        }
    }

    #[test]
    fn released_parse_zero_cases() {
        for content in [
            "[[1]]",
            "[1, [2]]",
            "([1],)",
            "[set()]",
            "[1",
            "01",
            "1 2",
            "x",
            "[1] + [2]",
            "\n 1",
        ] {
            let text = format!("\\boxed{{{content}}}");
            assert_eq!(recognition_reward(&text, &[1, 2]), 0.0, "{content}");
        }
        // A string or None is one (wrong) element: it lowers precision only.
        // P = 1/2, R = 1/2 and P = 1/2, R = 1.
        assert_eq!(recognition_reward("\\boxed{[1, '2']}", &[1, 2]), 0.5);
        assert_eq!(recognition_reward("\\boxed{[1, None]}", &[1]), 2.0 / 3.0);
        // Empty prediction or gold.
        assert_eq!(recognition_reward("\\boxed{()}", &[1]), 0.0);
        assert_eq!(recognition_reward("\\boxed{set()}", &[1]), 0.0);
        assert_eq!(recognition_reward("\\boxed{1}", &[]), 0.0);
    }

    #[test]
    fn f1_from_counts_matches_set_f1() {
        let pred: BTreeSet<i64> = [0, 1, 3].into();
        let gold: BTreeSet<i64> = [1, 3, 5, 7].into();
        assert_eq!(set_f1(&pred, &gold), f1_from_counts(2, 3, 4));
        assert_eq!(f1_from_counts(0, 0, 0), 0.0);
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
