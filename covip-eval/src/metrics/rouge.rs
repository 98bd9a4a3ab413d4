//! ROUGE-L exactly as pycocoevalcap 1.2 computes it: tokens split on single spaces, LCS length
//! against each reference, the maximum precision and the maximum recall over the references
//! (taken separately), F-measure with β = 1.2; the corpus score is the mean over images.

use super::error::MetricsError;
use super::ngram::{check_corpus, np_mean};

const BETA: f64 = 1.2;

/// Length of the longest common subsequence of two token sequences.
pub fn lcs_len(a: &[&str], b: &[&str]) -> usize {
    let (a, b): (Vec<Tok>, Vec<Tok>) = (
        a.iter().map(|t| Tok::new(t)).collect(),
        b.iter().map(|t| Tok::new(t)).collect(),
    );
    lcs_len_with(&a, &b, &mut Vec::new())
}

/// A token with its first 8 bytes and length packed for quick comparisons.
#[derive(Clone, Copy)]
struct Tok<'a> {
    head: u64,
    len: usize,
    text: &'a str,
}

impl<'a> Tok<'a> {
    fn new(text: &'a str) -> Tok<'a> {
        let b = text.as_bytes();
        let mut head = [0u8; 8];
        let n = b.len().min(8);
        head[..n].copy_from_slice(&b[..n]);
        Tok {
            head: u64::from_le_bytes(head),
            len: b.len(),
            text,
        }
    }
}

impl PartialEq for Tok<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.head == o.head && self.len == o.len && (self.len <= 8 || self.text == o.text)
    }
}

/// [`lcs_len`] with a reusable row buffer.
fn lcs_len_with(a: &[Tok], b: &[Tok], row: &mut Vec<u32>) -> usize {
    let (long, short) = if a.len() < b.len() { (b, a) } else { (a, b) };
    // One row, updated in place: `row[j + 1]` is the LCS of the processed prefix of `long`
    // and `short[..=j]`; `diag` carries the previous row's `row[j]`.
    row.clear();
    row.resize(short.len() + 1, 0);
    for x in long {
        let mut diag = 0u32;
        for (j, y) in short.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if x == y { diag + 1 } else { row[j].max(up) };
            diag = up;
        }
    }
    row[short.len()] as usize
}

/// Scratch buffers reused across images.
#[derive(Default)]
struct Scratch<'a> {
    cand: Vec<Tok<'a>>,
    reference: Vec<Tok<'a>>,
    row: Vec<u32>,
}

/// ROUGE-L of one candidate against its references.
pub fn rouge_l_one(cand: &str, refs: &[String]) -> f64 {
    rouge_l_with(cand, refs, &mut Scratch::default())
}

/// `s.split(' ')` as [`Tok`]s.
fn split_into<'a>(s: &'a str, out: &mut Vec<Tok<'a>>) {
    out.clear();
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b' ' {
            out.push(Tok::new(&s[start..i]));
            start = i + 1;
        }
    }
    out.push(Tok::new(&s[start..]));
}

fn rouge_l_with<'a>(cand: &'a str, refs: &'a [String], sc: &mut Scratch<'a>) -> f64 {
    split_into(cand, &mut sc.cand);
    let c = &sc.cand;
    let mut prec_max = f64::NEG_INFINITY;
    let mut rec_max = f64::NEG_INFINITY;
    for r in refs {
        split_into(r, &mut sc.reference);
        let t = &sc.reference;
        let l = lcs_len_with(t, c, &mut sc.row) as f64;
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

/// Corpus ROUGE-L (mean) and per-image scores, in input order; an error when the corpus is
/// not one candidate and at least one reference per image.
pub fn rouge_l(refs: &[Vec<String>], cands: &[String]) -> Result<(f64, Vec<f64>), MetricsError> {
    check_corpus(refs, cands)?;
    let mut sc = Scratch::default();
    let per: Vec<f64> = cands
        .iter()
        .zip(refs)
        .map(|(c, r)| rouge_l_with(c, r, &mut sc))
        .collect();
    Ok((np_mean(&per), per))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcs_basic() {
        assert_eq!(lcs_len(&["a", "b", "c", "d"], &["a", "c", "d", "e"]), 3);
        assert_eq!(lcs_len(&[], &["a"]), 0);
        // Long tokens sharing their first 8 bytes, and a prefix of one.
        let (x, y, z) = ("abcdefghij", "abcdefghik", "abcdefgh");
        assert_eq!(lcs_len(&[x, y, z], &[y, x]), 1);
        assert_eq!(lcs_len(&[x, y, z], &[z, x, y, z]), 3);
    }

    #[test]
    fn max_precision_and_recall_taken_separately() {
        let refs = vec!["a b".to_string(), "a b c d e f".to_string()];
        // cand "a b c": prec max = 1 (ref 2: 3/3), rec max = 1 (ref 1: 2/2).
        let s = rouge_l_one("a b c", &refs);
        assert!((s - 1.0).abs() < 1e-12, "{s}");
        assert_eq!(rouge_l_one("x", &refs), 0.0);
    }

    #[test]
    fn mismatched_corpora_are_errors() {
        let refs = vec![vec!["a b".to_string()]];
        let e = rouge_l(&refs, &[]).unwrap_err().to_string();
        assert!(e.contains("1 reference lists but 0 candidates"), "{e}");
        let e = rouge_l(&[vec![]], &["a".into()]).unwrap_err().to_string();
        assert!(e.contains("no reference captions"), "{e}");
    }
}
