//! CIDEr-D exactly as pycocoevalcap 1.2 computes it (its `Cider` scorer is CIDEr-D):
//! n = 1..4, TF-IDF vectors with document frequencies counted over the references of the
//! evaluated corpus (idf = ln(#images) − ln(max(1, df))), candidate weights clipped to the
//! reference weights, Gaussian length penalty with σ = 6 where the "length" is the number of
//! bigrams (a quirk of the reference code), averaged over n and references, × 10.

use super::ngram::{Counts, FxMap, Gram, Interner, gram_order, gram_u64, np_mean, np_sum, precook};

const N: usize = 4;
const SIGMA: f64 = 6.0;

/// No dense id: an n-gram that occurs in no reference.
const NO_ID: u32 = u32::MAX;

/// TF-IDF vector of one sentence, parallel to its [`Counts::grams`] (same order as the
/// reference implementation's dictionaries).
struct Vecs<'c> {
    counts: &'c Counts,
    /// Dense id of each n-gram among the reference n-grams ([`NO_ID`] if none).
    ids: &'c [u32],
    /// Weight per n-gram, parallel to `counts.grams`.
    w: Vec<f64>,
    norm: [f64; N],
    length: f64,
}

/// `log_df[id]` = `ln(max(1, df))` of the reference n-gram with that dense id.
fn counts2vec<'c>(c: &'c Counts, ids: &'c [u32], log_df: &[f64], ref_len: f64) -> Vecs<'c> {
    let mut w = Vec::with_capacity(c.grams.len());
    let mut norm = [0.0; N];
    let mut length = 0u64;
    for (&(g, tf), &id) in c.grams.iter().zip(ids) {
        // df 0 (an n-gram absent from the references): ln(max(1, 0)) = 0.
        let d = if id == NO_ID {
            0.0
        } else {
            log_df[id as usize]
        };
        let n = gram_order(g) - 1;
        let x = tf as f64 * (ref_len - d);
        w.push(x);
        norm[n] += x.powi(2);
        if n == 1 {
            length += tf as u64;
        }
    }
    for x in &mut norm {
        *x = x.sqrt();
    }
    Vecs {
        counts: c,
        ids,
        w,
        norm,
        length: length as f64,
    }
}

/// Positions of the hypothesis n-grams by dense id (small, reused per candidate), and the
/// reference weight found for each position.
struct HypIndex {
    pos: FxMap<u32, u32>,
    wr: Vec<f64>,
}

impl HypIndex {
    fn fill(&mut self, h: &Vecs) {
        self.pos.clear();
        for (i, &id) in h.ids.iter().enumerate() {
            if id != NO_ID {
                self.pos.insert(id, i as u32);
            }
        }
    }
}

fn sim(h: &Vecs, r: &Vecs, hi: &mut HypIndex) -> [f64; N] {
    hi.wr.clear();
    hi.wr.resize(h.w.len(), 0.0);
    for (&id, &w) in r.ids.iter().zip(&r.w) {
        if let Some(&p) = hi.pos.get(&id) {
            hi.wr[p as usize] = w;
        }
    }
    let delta = h.length - r.length;
    let mut val = [0.0; N];
    // The reference loops over n, then over the hypothesis n-grams of order n in order; the
    // grams are stored by order, so one pass accumulates each val[n] in the same order.
    for ((&(g, _), &wh), &wr) in h.counts.grams.iter().zip(&h.w).zip(&hi.wr) {
        let n = gram_order(g) - 1;
        val[n] += wh.min(wr) * wr;
    }
    #[allow(clippy::needless_range_loop)] // mirrors the reference loop over n
    for n in 0..N {
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
    // Up to 65535 distinct words an n-gram fits 64 bits: a map half the size, fewer misses.
    if it.len() < 0xFFFF {
        score_counts(&crefs, &ctest, gram_u64)
    } else {
        score_counts(&crefs, &ctest, |g| g)
    }
}

fn score_counts<K: std::hash::Hash + Eq + Copy>(
    crefs: &[Vec<Counts>],
    ctest: &[Counts],
    key: impl Fn(Gram) -> K,
) -> (f64, Vec<f64>) {
    // Dense ids for the reference n-grams; document frequency = number of images whose
    // references contain the n-gram.
    let total: usize = crefs.iter().flatten().map(|c| c.grams.len()).sum();
    let mut gid: FxMap<K, u32> = FxMap::with_capacity_and_hasher(total / 4, Default::default());
    let mut df: Vec<u32> = Vec::new();
    let mut seen_in: Vec<u32> = Vec::new();
    let ref_ids: Vec<Vec<Vec<u32>>> = crefs
        .iter()
        .enumerate()
        .map(|(img, rs)| {
            rs.iter()
                .map(|r| {
                    r.grams
                        .iter()
                        .map(|&(g, _)| {
                            let next = gid.len() as u32;
                            let id = *gid.entry(key(g)).or_insert(next);
                            if id == next {
                                df.push(0);
                                seen_in.push(u32::MAX);
                            }
                            if seen_in[id as usize] != img as u32 {
                                seen_in[id as usize] = img as u32;
                                df[id as usize] += 1;
                            }
                            id
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let log_df: Vec<f64> = df.iter().map(|&d| (d as f64).max(1.0).ln()).collect();
    let test_ids: Vec<Vec<u32>> = ctest
        .iter()
        .map(|c| {
            c.grams
                .iter()
                .map(|&(g, _)| gid.get(&key(g)).copied().unwrap_or(NO_ID))
                .collect()
        })
        .collect();
    let mut hi = HypIndex {
        pos: FxMap::default(),
        wr: Vec::new(),
    };
    let ref_len = (crefs.len() as f64).ln();
    let per: Vec<f64> = ctest
        .iter()
        .zip(&test_ids)
        .zip(crefs.iter().zip(&ref_ids))
        .map(|((t, tids), (rs, rids))| {
            let h = counts2vec(t, tids, &log_df, ref_len);
            hi.fill(&h);
            let mut score = [0.0; N];
            for (r, ids) in rs.iter().zip(rids) {
                let rv = counts2vec(r, ids, &log_df, ref_len);
                let s = sim(&h, &rv, &mut hi);
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
