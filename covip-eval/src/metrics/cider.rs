//! CIDEr-D exactly as pycocoevalcap 1.2 computes it (its `Cider` scorer is CIDEr-D):
//! n = 1..4, TF-IDF vectors with document frequencies counted over the references of the
//! evaluated corpus (idf = ln(#images) − ln(max(1, df))), candidate weights clipped to the
//! reference weights, Gaussian length penalty with σ = 6 where the "length" is the number of
//! bigrams (a quirk of the reference code), averaged over n and references, × 10.

use super::error::MetricsError;
use super::ngram::{GramCorpus, NONE, np_mean, np_sum};

const N: usize = 4;
const SIGMA: f64 = 6.0;

/// `counts2vec` of sentence `s`: the TF-IDF weights of its entries (`w[n]` parallel to its
/// order-(n+1) entries), the norm per order and the "length" (number of bigrams).
fn counts2vec(
    g: &GramCorpus,
    s: usize,
    idf: &[Vec<f64>; N],
    w: &mut [Vec<f64>; N],
) -> ([f64; N], f64) {
    let mut norm = [0.0; N];
    let mut length = 0u64;
    for n in 0..N {
        let e = &g.ord[n];
        let r = e.of(s);
        w[n].clear();
        for (&tf, &id) in e.tfs[r.clone()].iter().zip(&e.ids[r]) {
            // idf[n][id] = ref_len − ln(max(1, df)) (df 0 for an n-gram absent from the
            // references: ln(1) = 0).
            let x = tf as f64 * idf[n][id as usize];
            w[n].push(x);
            norm[n] += x.powi(2);
            if n == 1 {
                length += tf as u64;
            }
        }
    }
    for x in &mut norm {
        *x = x.sqrt();
    }
    (norm, length as f64)
}

/// Corpus CIDEr-D (mean over images) and per-image scores, in input order; an error when
/// the corpus is not one candidate and at least one reference per image.
pub fn cider_d(refs: &[Vec<String>], cands: &[String]) -> Result<(f64, Vec<f64>), MetricsError> {
    Ok(cider_d_grams(&GramCorpus::build(refs, cands)?))
}

/// [`cider_d`] from already counted n-grams.
pub fn cider_d_grams(g: &GramCorpus) -> (f64, Vec<f64>) {
    let ref_len = (g.images() as f64).ln();
    // `ref_len - ln(max(1, df))` for every df value, then per n-gram.
    let by_df: Vec<f64> = (0..=g.max_df())
        .map(|d| ref_len - (d as f64).max(1.0).ln())
        .collect();
    let idf: [Vec<f64>; N] =
        std::array::from_fn(|n| g.df[n].iter().map(|&d| by_df[d as usize]).collect());
    let mut wh: [Vec<f64>; N] = Default::default();
    let mut wr: [Vec<f64>; N] = Default::default();
    let mut wr_at_h: Vec<f64> = Vec::new();
    let per: Vec<f64> = (0..g.images())
        .map(|i| {
            let (norm_h, length_h) = counts2vec(g, g.cand(i), &idf, &mut wh);
            let mut score = [0.0; N];
            for r in g.refs(i) {
                let (norm_r, length_r) = counts2vec(g, r, &idf, &mut wr);
                let delta = length_h - length_r;
                let gauss = std::f64::consts::E.powf(-(delta * delta) / (2.0 * SIGMA * SIGMA));
                // `sim`: per order, over the candidate n-grams in order, with the reference
                // weight of each (0 where the reference lacks it).
                for n in 0..N {
                    wr_at_h.clear();
                    wr_at_h.resize(wh[n].len(), 0.0);
                    for (&p, &w) in g.ord[n].hyp_pos[g.ord[n].of(r)].iter().zip(&wr[n]) {
                        if p != NONE {
                            wr_at_h[p as usize] = w;
                        }
                    }
                    let mut val = 0.0f64;
                    for (&x, &y) in wh[n].iter().zip(&wr_at_h) {
                        val += x.min(y) * y;
                    }
                    if norm_h[n] != 0.0 && norm_r[n] != 0.0 {
                        val /= norm_h[n] * norm_r[n];
                    }
                    val *= gauss;
                    score[n] += val;
                }
            }
            let mut avg = np_sum(&score) / N as f64;
            avg /= g.refs(i).len() as f64;
            avg * 10.0
        })
        .collect();
    (np_mean(&per), per)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_candidates_score_high_and_unrelated_zero() {
        let refs = vec![
            vec!["a man riding a horse".to_string()],
            vec!["a plate of food on a table".to_string()],
            vec!["two dogs play in the snow".to_string()],
        ];
        let cands: Vec<String> = refs.iter().map(|r| r[0].clone()).collect();
        let (c, per) = cider_d(&refs, &cands).unwrap();
        assert!(c > 1.0 && per.iter().all(|&x| x > 1.0), "{per:?}");
        let (c, _) = cider_d(&refs, &["zz".into(), "yy".into(), "xx".into()]).unwrap();
        // One candidate per image, at least one reference each.
        assert!(cider_d(&refs, &["zz".into()]).is_err());
        assert!(cider_d(&[vec![]], &["zz".into()]).is_err());
        assert_eq!(c, 0.0);
    }
}
