//! ROUGE-L exactly as pycocoevalcap 1.2 computes it: tokens split on single spaces, LCS length
//! against each reference, the maximum precision and the maximum recall over the references
//! (taken separately), F-measure with β = 1.2; the corpus score is the mean over images.

use super::ngram::np_mean;

const BETA: f64 = 1.2;

/// Length of the longest common subsequence of two token sequences.
pub fn lcs_len(a: &[&str], b: &[&str]) -> usize {
    let (long, short) = if a.len() < b.len() { (b, a) } else { (a, b) };
    let mut prev = vec![0usize; short.len() + 1];
    let mut cur = vec![0usize; short.len() + 1];
    for x in long {
        for (j, y) in short.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                cur[j].max(prev[j + 1])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[short.len()]
}

/// ROUGE-L of one candidate against its references.
pub fn rouge_l_one(cand: &str, refs: &[String]) -> f64 {
    let c: Vec<&str> = cand.split(' ').collect();
    let mut prec_max = f64::NEG_INFINITY;
    let mut rec_max = f64::NEG_INFINITY;
    for r in refs {
        let t: Vec<&str> = r.split(' ').collect();
        let l = lcs_len(&t, &c) as f64;
        prec_max = prec_max.max(l / c.len() as f64);
        rec_max = rec_max.max(l / t.len() as f64);
    }
    let b2 = BETA * BETA;
    if prec_max != 0.0 && rec_max != 0.0 && !refs.is_empty() {
        ((1.0 + b2) * prec_max * rec_max) / (rec_max + b2 * prec_max)
    } else {
        0.0
    }
}

/// Corpus ROUGE-L (mean) and per-image scores, in input order.
///
/// # Panics
/// If `refs` and `cands` differ in length.
pub fn rouge_l(refs: &[Vec<String>], cands: &[String]) -> (f64, Vec<f64>) {
    assert_eq!(refs.len(), cands.len(), "one candidate per image");
    let per: Vec<f64> = cands
        .iter()
        .zip(refs)
        .map(|(c, r)| rouge_l_one(c, r))
        .collect();
    (np_mean(&per), per)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcs_basic() {
        assert_eq!(lcs_len(&["a", "b", "c", "d"], &["a", "c", "d", "e"]), 3);
        assert_eq!(lcs_len(&[], &["a"]), 0);
    }

    #[test]
    fn max_precision_and_recall_taken_separately() {
        let refs = vec!["a b".to_string(), "a b c d e f".to_string()];
        // cand "a b c": prec max = 1 (ref 2: 3/3), rec max = 1 (ref 1: 2/2).
        let s = rouge_l_one("a b c", &refs);
        assert!((s - 1.0).abs() < 1e-12, "{s}");
        assert_eq!(rouge_l_one("x", &refs), 0.0);
    }
}
