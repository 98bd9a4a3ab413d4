//! BLEU-1..4 exactly as pycocoevalcap 1.2 computes it (`Bleu(4)`, option `closest`).
//!
//! Per image: clipped n-gram matches against the per-n-gram maximum count over the references,
//! the reference length closest to the candidate length (ties: the shorter), precisions with the
//! `1e-15` / `1e-9` epsilons, the geometric mean accumulated n by n, and the brevity penalty
//! `exp(1 - 1/ratio)` when `ratio < 1`. Corpus: the same over summed statistics.

use super::error::MetricsError;
use super::ngram::{GramCorpus, NONE};

const SMALL: f64 = 1e-9;
const TINY: f64 = 1e-15;

/// BLEU-1..4 for a corpus.
#[derive(Clone, Debug, PartialEq)]
pub struct BleuScores {
    /// Corpus-level `Bleu_1`..`Bleu_4`.
    pub corpus: [f64; 4],
    /// Per-image `Bleu_1`..`Bleu_4`, in input order.
    pub per_image: Vec<[f64; 4]>,
}

struct Cooked {
    testlen: usize,
    reflen: usize,
    guess: [usize; 4],
    correct: [usize; 4],
}

/// Per-sentence statistics of image `i` (`cook_refs` + `cook_test` with `closest`);
/// `maxcounts` is scratch space.
fn cook(g: &GramCorpus, i: usize, maxcounts: &mut Vec<u32>) -> Cooked {
    let h = g.cand(i);
    let testlen = g.lens[h] as usize;
    // min over (|l - testlen|, l): smallest gap, then the shorter reference.
    let reflen = g
        .refs(i)
        .map(|r| g.lens[r] as usize)
        .min_by_key(|&l| (l.abs_diff(testlen), l))
        .unwrap_or(0);
    let mut guess = [0usize; 4];
    for (k, g) in guess.iter_mut().enumerate() {
        *g = (testlen + 1).saturating_sub(k + 1);
    }
    let mut correct = [0usize; 4];
    for (k, c) in correct.iter_mut().enumerate() {
        let e = &g.ord[k];
        // The largest count over the references of each candidate n-gram (0 where absent):
        // the only entries of `cook_refs`' maxcounts that `cook_test` looks up.
        maxcounts.clear();
        maxcounts.resize(e.of(h).len(), 0);
        for r in g.refs(i) {
            let r = e.of(r);
            for (&p, &tf) in e.hyp_pos[r.clone()].iter().zip(&e.tfs[r]) {
                if p != NONE {
                    let m = &mut maxcounts[p as usize];
                    *m = (*m).max(tf);
                }
            }
        }
        for (&m, &tf) in maxcounts.iter().zip(&e.tfs[e.of(h)]) {
            *c += m.min(tf) as usize;
        }
    }
    Cooked {
        testlen,
        reflen,
        guess,
        correct,
    }
}

fn bleu_from(testlen: usize, reflen: usize, guess: &[usize; 4], correct: &[usize; 4]) -> [f64; 4] {
    let mut out = [0.0; 4];
    let mut bleu = 1.0f64;
    for k in 0..4 {
        bleu *= (correct[k] as f64 + TINY) / (guess[k] as f64 + SMALL);
        out[k] = bleu.powf(1.0 / (k as f64 + 1.0));
    }
    let ratio = (testlen as f64 + TINY) / (reflen as f64 + SMALL);
    if ratio < 1.0 {
        let bp = (1.0 - 1.0 / ratio).exp();
        for v in &mut out {
            *v *= bp;
        }
    }
    out
}

/// BLEU-1..4 of `cands[i]` against `refs[i]` (already tokenised, whitespace-separated); an
/// error when the corpus is not one candidate and at least one reference per image.
pub fn bleu(refs: &[Vec<String>], cands: &[String]) -> Result<BleuScores, MetricsError> {
    Ok(bleu_grams(&GramCorpus::build(refs, cands)?))
}

/// [`bleu`] from already counted n-grams.
pub fn bleu_grams(g: &GramCorpus) -> BleuScores {
    let mut per_image = Vec::with_capacity(g.images());
    let (mut tl, mut rl) = (0usize, 0usize);
    let (mut tg, mut tc) = ([0usize; 4], [0usize; 4]);
    let mut maxcounts = Vec::new();
    for i in 0..g.images() {
        let c = cook(g, i, &mut maxcounts);
        per_image.push(bleu_from(c.testlen, c.reflen, &c.guess, &c.correct));
        tl += c.testlen;
        rl += c.reflen;
        for k in 0..4 {
            tg[k] += c.guess[k];
            tc[k] += c.correct[k];
        }
    }
    BleuScores {
        corpus: bleu_from(tl, rl, &tg, &tc),
        per_image,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_is_one_and_empty_is_zero() {
        let refs = vec![vec!["a man riding a horse".to_string()]];
        let s = bleu(&refs, &["a man riding a horse".to_string()]).unwrap();
        for v in s.corpus {
            assert!((v - 1.0).abs() < 1e-9, "{v}");
        }
        let s = bleu(&refs, &[String::new()]).unwrap();
        assert!(s.corpus.iter().all(|&v| v < 1e-12));
    }

    #[test]
    fn closest_length_prefers_shorter_on_tie() {
        let refs = vec![vec!["a b c d".to_string(), "a b".to_string()]];
        // testlen 3: |4-3| = |2-3| = 1 -> reflen 2, no brevity penalty.
        let s = bleu(&refs, &["a b c".to_string()]).unwrap();
        assert!((s.per_image[0][0] - 1.0).abs() < 1e-9);
    }
}
