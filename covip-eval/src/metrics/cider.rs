//! CIDEr-D exactly as pycocoevalcap 1.2 computes it (its `Cider` scorer is CIDEr-D):
//! n = 1..4, TF-IDF vectors with document frequencies counted over the references of the
//! evaluated corpus (idf = ln(#images) − ln(max(1, df))), candidate weights clipped to the
//! reference weights, Gaussian length penalty with σ = 6 where the "length" is the number of
//! bigrams (a quirk of the reference code), averaged over n and references, × 10.

use super::ngram::{Counts, FxMap, Gram, Interner, gram_order, np_mean, np_sum, precook};

const N: usize = 4;
const SIGMA: f64 = 6.0;

struct Vecs {
    /// Per order: (n-gram, weight) in first-occurrence order.
    vec: [Vec<(Gram, f64)>; N],
    map: [FxMap<Gram, f64>; N],
    norm: [f64; N],
    length: f64,
}

fn counts2vec(c: &Counts, df: &FxMap<Gram, f64>, ref_len: f64) -> Vecs {
    let mut v = Vecs {
        vec: Default::default(),
        map: Default::default(),
        norm: [0.0; N],
        length: 0.0,
    };
    let mut length = 0u64;
    for &(g, tf) in &c.grams {
        let d = df.get(&g).copied().unwrap_or(0.0).max(1.0).ln();
        let n = gram_order(g) - 1;
        let w = tf as f64 * (ref_len - d);
        v.vec[n].push((g, w));
        v.map[n].insert(g, w);
        v.norm[n] += w.powi(2);
        if n == 1 {
            length += tf as u64;
        }
    }
    for x in &mut v.norm {
        *x = x.sqrt();
    }
    v.length = length as f64;
    v
}

fn sim(h: &Vecs, r: &Vecs) -> [f64; N] {
    let delta = h.length - r.length;
    let mut val = [0.0; N];
    #[allow(clippy::needless_range_loop)] // mirrors the reference loop over n
    for n in 0..N {
        for &(g, wh) in &h.vec[n] {
            let wr = r.map[n].get(&g).copied().unwrap_or(0.0);
            val[n] += wh.min(wr) * wr;
        }
        if h.norm[n] != 0.0 && r.norm[n] != 0.0 {
            val[n] /= h.norm[n] * r.norm[n];
        }
        val[n] *= std::f64::consts::E.powf(-(delta * delta) / (2.0 * SIGMA * SIGMA));
    }
    val
}

/// Corpus CIDEr-D (mean over images) and per-image scores, in input order.
///
/// # Panics
/// If `refs` and `cands` differ in length.
pub fn cider_d(refs: &[Vec<String>], cands: &[String]) -> (f64, Vec<f64>) {
    assert_eq!(refs.len(), cands.len(), "one candidate per image");
    let mut it = Interner::default();
    let crefs: Vec<Vec<Counts>> = refs
        .iter()
        .map(|rs| rs.iter().map(|r| precook(r, N, &mut it)).collect())
        .collect();
    let ctest: Vec<Counts> = cands.iter().map(|c| precook(c, N, &mut it)).collect();
    let mut df: FxMap<Gram, f64> = FxMap::default();
    let mut seen: FxMap<Gram, ()> = FxMap::default();
    for rs in &crefs {
        seen.clear();
        for r in rs {
            for &(g, _) in &r.grams {
                seen.insert(g, ());
            }
        }
        for g in seen.keys() {
            *df.entry(*g).or_insert(0.0) += 1.0;
        }
    }
    let ref_len = (crefs.len() as f64).ln();
    let per: Vec<f64> = ctest
        .iter()
        .zip(&crefs)
        .map(|(t, rs)| {
            let h = counts2vec(t, &df, ref_len);
            let mut score = [0.0; N];
            for r in rs {
                let rv = counts2vec(r, &df, ref_len);
                let s = sim(&h, &rv);
                for n in 0..N {
                    score[n] += s[n];
                }
            }
            let mut avg = np_sum(&score) / N as f64;
            avg /= rs.len() as f64;
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
        let (c, per) = cider_d(&refs, &cands);
        assert!(c > 1.0 && per.iter().all(|&x| x > 1.0), "{per:?}");
        let (c, _) = cider_d(&refs, &["zz".into(), "yy".into(), "xx".into()]);
        assert_eq!(c, 0.0);
    }
}
