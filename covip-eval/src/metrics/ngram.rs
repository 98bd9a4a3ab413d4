//! Shared n-gram counting for BLEU and CIDEr-D, in the order pycocoevalcap's `precook` builds
//! its dictionaries (n = 1..4, left to right, first occurrence first), so floating-point sums
//! over n-grams happen in the same order as in the reference implementation.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::error::MetricsError;
use super::ptb::py_split_whitespace;

/// Checks what BLEU, ROUGE-L and CIDEr-D need of their input, as pycocoevalcap asserts it:
/// one candidate per image and at least one reference per image.
pub fn check_corpus(refs: &[Vec<String>], cands: &[String]) -> Result<(), MetricsError> {
    if refs.len() != cands.len() {
        return Err(MetricsError::Input(format!(
            "{} reference lists but {} candidates: one candidate per image",
            refs.len(),
            cands.len()
        )));
    }
    if let Some(i) = refs.iter().position(Vec::is_empty) {
        return Err(MetricsError::Input(format!(
            "image {i} (0-based) has no reference captions"
        )));
    }
    Ok(())
}

/// A small, fast hasher for words and interned n-gram keys.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 59));
        }
    }
    fn write_u64(&mut self, i: u64) {
        // Folded multiply (high ^ low half of the 128-bit product): every input bit reaches
        // the low bits that pick the bucket (a plain multiply leaves keys that differ only in
        // their high half, such as packed n-gram keys, in the same bucket).
        let p = ((self.0.rotate_left(5) ^ i) as u128) * 0x51_7c_c1_b7_27_22_0a_95u128;
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }
    fn write_u128(&mut self, i: u128) {
        self.write_u64(i as u64);
        self.write_u64((i >> 64) as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// HashMap with [`FxHasher`].
pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// "None": a reference n-gram absent from the image's candidate.
pub const NONE: u32 = u32::MAX;

/// The distinct n-grams of one order, sentence after sentence.
#[derive(Debug, Default)]
pub struct Entries {
    /// N-gram id (within the order) of each entry.
    pub ids: Vec<u32>,
    /// Count of each entry in its sentence.
    pub tfs: Vec<u32>,
    /// For reference entries: the entry of the image's candidate (counted from the candidate's
    /// first entry of this order) holding the same n-gram, or [`NONE`]. [`NONE`] for
    /// candidate entries.
    pub hyp_pos: Vec<u32>,
    /// Sentence `s` owns entries `off[s]..off[s + 1]`.
    pub off: Vec<u32>,
}

impl Entries {
    /// The entry range of sentence `s`.
    pub fn of(&self, s: usize) -> std::ops::Range<usize> {
        self.off[s] as usize..self.off[s + 1] as usize
    }
}

/// The 1..=4-gram statistics of an aligned corpus (one candidate and its references per image)
/// that BLEU and CIDEr-D need, computed once: per sentence and order the distinct n-grams with
/// their counts in the order pycocoevalcap's `precook` builds its dictionaries (left to right,
/// first occurrence first, so floating-point sums over n-grams run in the reference order), the
/// document frequency of every n-gram over the references, and for every reference n-gram its
/// entry in the image's candidate.
///
/// N-grams are interned order by order: a word gets an id, a (k+1)-gram is identified by the
/// id of its leading k-gram and the id of its last word, so equal ids mean equal n-grams (no
/// hashing of n-grams, no collisions; see [`next_order`]). Each order is one pass over the
/// corpus, and the per-order entry passes run on their own threads for large corpora.
#[derive(Debug, Default)]
pub struct GramCorpus {
    /// Entries per order (index k = order − 1).
    pub ord: [Entries; 4],
    /// Number of words (Python `str.split()`) per sentence.
    pub lens: Vec<u32>,
    /// Sentences are numbered per image: its candidate, then its references; image `i` owns
    /// sentences `img[i]..img[i + 1]` (`img.len()` = images + 1).
    pub img: Vec<u32>,
    /// Document frequency per order and n-gram id.
    pub df: [Vec<u32>; 4],
}

/// Per n-gram bookkeeping of one pass.
#[derive(Clone, Copy, Default)]
struct Info {
    /// Document frequency (images whose references contain the n-gram).
    df: u32,
    /// Last image (+1) counted in `df`.
    df_img: u32,
    /// Last image (+1) whose candidate contains the n-gram, and its entry there.
    hyp_img: u32,
    hyp_pos: u32,
}

/// Sentences with at most this many n-grams of one order find repeats by a linear scan.
const SHORT: usize = 48;

/// Corpora with fewer words are counted on the calling thread only.
const PARALLEL_WORDS: usize = 20_000;

impl GramCorpus {
    /// Counts the n-grams of `cands[i]` and `refs[i]` for every image `i`; refuses input
    /// that [`check_corpus`] refuses, and corpora of 2^32 words or more.
    pub fn build(refs: &[Vec<String>], cands: &[String]) -> Result<GramCorpus, MetricsError> {
        check_corpus(refs, cands)?;
        let n_sents = cands.len() + refs.iter().map(Vec::len).sum::<usize>();
        let bytes: usize = cands.iter().map(String::len).sum::<usize>()
            + refs.iter().flatten().map(String::len).sum::<usize>();
        let mut out = GramCorpus {
            lens: Vec::with_capacity(n_sents),
            img: Vec::with_capacity(cands.len() + 1),
            ..GramCorpus::default()
        };
        // Word ids of every sentence, back to back; sentence s starts at start[s].
        let mut words = Words::default();
        let mut w: Vec<u32> = Vec::with_capacity(bytes / 4 + 16);
        let mut start: Vec<u32> = Vec::with_capacity(n_sents + 1);
        for (cand, rs) in cands.iter().zip(refs) {
            out.img.push(start.len() as u32);
            for s in std::iter::once(cand).chain(rs) {
                start.push(w.len() as u32);
                w.extend(py_split_whitespace(s).map(|t| words.id(t)));
            }
        }
        out.img.push(start.len() as u32);
        start.push(w.len() as u32);
        // Word and sentence positions are kept as u32.
        if w.len() >= u32::MAX as usize || start.len() >= u32::MAX as usize {
            return Err(MetricsError::Input(format!(
                "{} words in {} sentences: n-gram counting handles fewer than 2^32",
                w.len(),
                start.len()
            )));
        }
        out.lens = start.windows(2).map(|p| p[1] - p[0]).collect();
        let n_words = words.len();
        drop(words);

        // g[p]: id of the (k+1)-gram starting at word p, one array per order. For a large
        // corpus the entry pass of an order runs as a rayon task as soon as that order's ids
        // are known (each pass writes only its own order: the result does not depend on the
        // schedule).
        let (start, img) = (&start[..], &out.img[..]);
        let [e0, e1, e2, e3] = &mut out.ord;
        let [d0, d1, d2, d3] = &mut out.df;
        let w = &w[..];
        let mut sc = OrderScratch::default();
        if w.len() < PARALLEL_WORDS {
            *d0 = Pass::default().entries(e0, w, start, img, 0, n_words);
            let (g1, n1) = next_order(w, n_words, w, n_words, start, 1, &mut sc);
            *d1 = Pass::default().entries(e1, &g1, start, img, 1, n1);
            let (g2, n2) = next_order(&g1, n1, w, n_words, start, 2, &mut sc);
            *d2 = Pass::default().entries(e2, &g2, start, img, 2, n2);
            let (g3, n3) = next_order(&g2, n2, w, n_words, start, 3, &mut sc);
            *d3 = Pass::default().entries(e3, &g3, start, img, 3, n3);
            return Ok(out);
        }
        let (mut g1, mut g2) = ((Vec::new(), 0), (Vec::new(), 0));
        let (g1m, g2m) = (&mut g1, &mut g2);
        rayon::scope(|scope| {
            scope.spawn(move |_| *d0 = Pass::default().entries(e0, w, start, img, 0, n_words));
            *g1m = next_order(w, n_words, w, n_words, start, 1, &mut sc);
            let (g1, n1): &(Vec<u32>, usize) = g1m;
            scope.spawn(move |_| *d1 = Pass::default().entries(e1, g1, start, img, 1, *n1));
            *g2m = next_order(g1, *n1, w, n_words, start, 2, &mut sc);
            let (g2, n2): &(Vec<u32>, usize) = g2m;
            scope.spawn(move |_| *d2 = Pass::default().entries(e2, g2, start, img, 2, *n2));
            let (g3, n3) = next_order(g2, *n2, w, n_words, start, 3, &mut sc);
            *d3 = Pass::default().entries(e3, &g3, start, img, 3, n3);
        });
        Ok(out)
    }

    /// Number of images.
    pub fn images(&self) -> usize {
        self.img.len() - 1
    }

    /// The sentence number of the candidate of image `i`.
    pub fn cand(&self, i: usize) -> usize {
        self.img[i] as usize
    }

    /// The sentence numbers of the references of image `i`.
    pub fn refs(&self, i: usize) -> std::ops::Range<usize> {
        self.img[i] as usize + 1..self.img[i + 1] as usize
    }

    /// The largest document frequency.
    pub fn max_df(&self) -> u32 {
        self.df.iter().flatten().copied().max().unwrap_or(0)
    }
}

/// Interns words: those of up to 7 bytes by their bytes packed in a `u64` (no string hashing
/// or comparison), longer ones by text.
#[derive(Default)]
struct Words<'a> {
    short: FxMap<u64, u32>,
    long: FxMap<&'a str, u32>,
}

impl<'a> Words<'a> {
    fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    fn id(&mut self, t: &'a str) -> u32 {
        let next = self.len() as u32;
        let b = t.as_bytes();
        if b.len() < 8 {
            let mut key = [0u8; 8];
            key[..b.len()].copy_from_slice(b);
            key[7] = b.len() as u8;
            *self.short.entry(u64::from_le_bytes(key)).or_insert(next)
        } else {
            *self.long.entry(t).or_insert(next)
        }
    }
}

/// The ids of the (k+1)-grams: `g[p]` for the one starting at word p, made of the k-gram with
/// id `prev[p]` (ids below `n_prev`) and the word `w[p + k]` (ids below `n_words`); returns
/// `g` and the number of distinct (k+1)-grams.
///
/// No hash table: the positions are bucketed by `prev[p]` (a counting sort), then within a
/// bucket equal words get equal ids through a per-word stamp. All arrays are dense and about
/// as large as the corpus, so the passes stay in cache far better than a table of the
/// n-grams would.
fn next_order(
    prev: &[u32],
    n_prev: usize,
    w: &[u32],
    n_words: usize,
    start: &[u32],
    k: usize,
    sc: &mut OrderScratch,
) -> (Vec<u32>, usize) {
    // Bucket boundaries: count per k-gram id, then prefix sums.
    let head = &mut sc.head;
    head.clear();
    head.resize(n_prev + 1, 0);
    for s in start.windows(2) {
        let (a, b) = (s[0] as usize, s[1] as usize);
        if b - a > k {
            for &x in &prev[a..b - k] {
                head[x as usize + 1] += 1;
            }
        }
    }
    for i in 0..n_prev {
        head[i + 1] += head[i];
    }
    let pos = &mut sc.pos;
    pos.clear();
    pos.resize(head[n_prev] as usize, 0);
    let fill = &mut sc.fill;
    fill.clear();
    fill.extend_from_slice(head);
    for s in start.windows(2) {
        let (a, b) = (s[0] as usize, s[1] as usize);
        if b - a > k {
            for p in a..b - k {
                let f = &mut fill[prev[p] as usize];
                pos[*f as usize] = p as u32;
                *f += 1;
            }
        }
    }
    let mut g = vec![u32::MAX; w.len()];
    // stamp[word]: (bucket + 1, id) of the last (k+1)-gram seen with that last word.
    let stamp = &mut sc.stamp;
    stamp.clear();
    stamp.resize(n_words, (0, 0));
    let mut n = 0u32;
    for bucket in 0..n_prev {
        let tag = bucket as u32 + 1;
        for &p in &pos[head[bucket] as usize..head[bucket + 1] as usize] {
            let st = &mut stamp[w[p as usize + k] as usize];
            if st.0 != tag {
                *st = (tag, n);
                n += 1;
            }
            g[p as usize] = st.1;
        }
    }
    (g, n as usize)
}

/// Buffers of [`next_order`], reused from order to order.
#[derive(Default)]
struct OrderScratch {
    head: Vec<u32>,
    fill: Vec<u32>,
    pos: Vec<u32>,
    stamp: Vec<(u32, u32)>,
}

/// Scratch space of the per-order entry pass.
#[derive(Default)]
struct Pass {
    info: Vec<Info>,
    long: FxMap<u32, u32>,
}

impl Pass {
    /// Fills `out` with the distinct k-grams of every sentence (ids in `cur`, words of sentence
    /// s from `start[s]`), links reference entries to candidate entries and returns the
    /// document frequencies of the `n_ids` k-grams.
    fn entries(
        &mut self,
        out: &mut Entries,
        cur: &[u32],
        start: &[u32],
        img: &[u32],
        k: usize,
        n_ids: usize,
    ) -> Vec<u32> {
        self.info.clear();
        self.info.resize(n_ids, Info::default());
        let cap = cur.len();
        out.ids = Vec::with_capacity(cap);
        out.tfs = Vec::with_capacity(cap);
        out.hyp_pos = Vec::with_capacity(cap);
        out.off = Vec::with_capacity(start.len());
        for i in 0..img.len() - 1 {
            let stamp = i as u32 + 1;
            let base = out.ids.len() as u32;
            for s in img[i] as usize..img[i + 1] as usize {
                let is_cand = s == img[i] as usize;
                let first = out.ids.len();
                out.off.push(first as u32);
                let (a, b) = (start[s] as usize, start[s + 1] as usize);
                if b - a <= k {
                    continue;
                }
                let grams = &cur[a..b - k];
                let long = grams.len() > SHORT;
                if long {
                    self.long.clear();
                }
                for &id in grams {
                    let seen = if long {
                        self.long.get(&id).copied()
                    } else {
                        out.ids[first..]
                            .iter()
                            .position(|&x| x == id)
                            .map(|p| (first + p) as u32)
                    };
                    if let Some(e) = seen {
                        out.tfs[e as usize] += 1;
                        continue;
                    }
                    let e = out.ids.len() as u32;
                    if long {
                        self.long.insert(id, e);
                    }
                    out.ids.push(id);
                    out.tfs.push(1);
                    let inf = &mut self.info[id as usize];
                    let link = if is_cand {
                        inf.hyp_img = stamp;
                        inf.hyp_pos = e - base;
                        NONE
                    } else {
                        if inf.df_img != stamp {
                            inf.df_img = stamp;
                            inf.df += 1;
                        }
                        if inf.hyp_img == stamp {
                            inf.hyp_pos
                        } else {
                            NONE
                        }
                    };
                    out.hyp_pos.push(link);
                }
            }
        }
        out.off.push(out.ids.len() as u32);
        self.info.iter().map(|x| x.df).collect()
    }
}

/// numpy's pairwise summation (what `np.mean`/`np.sum` use on a contiguous float64 array).
pub fn np_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - (n % 8) {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        np_sum(&a[..n2]) + np_sum(&a[n2..])
    }
}

/// `np.mean` of a float64 array (NaN for an empty one, as numpy returns).
pub fn np_mean(a: &[f64]) -> f64 {
    if a.is_empty() {
        return f64::NAN;
    }
    np_sum(a) / a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_precook_order_with_df_and_candidate_links() {
        let refs = vec![
            vec!["a b a b".to_string(), "b a".to_string()],
            vec!["a b".to_string()],
        ];
        let cands = vec!["b a x".to_string(), String::new()];
        let g = GramCorpus::build(&refs, &cands).unwrap();
        assert_eq!(g.images(), 2);
        assert_eq!(
            (g.cand(0), g.refs(0), g.cand(1), g.refs(1)),
            (0, 1..3, 3, 4..5)
        );
        assert_eq!(g.lens, vec![3, 4, 2, 0, 2]);
        let r = 1; // "a b a b"
        let sizes: Vec<usize> = (0..4).map(|k| g.ord[k].of(r).len()).collect();
        assert_eq!(sizes, vec![2, 2, 2, 1]);
        let tfs: Vec<Vec<u32>> = (0..4)
            .map(|k| g.ord[k].tfs[g.ord[k].of(r)].to_vec())
            .collect();
        assert_eq!(tfs, vec![vec![2, 2], vec![2, 1], vec![1, 1], vec![1]]); // a b, "a b" "b a", ...
        // "a" and "b" in both images' references, "a b" too, "b a" in image 0 only.
        let id = |k: usize, j: usize| g.ord[k].ids[g.ord[k].of(r).start + j] as usize;
        assert_eq!(
            (g.df[0][id(0, 0)], g.df[1][id(1, 0)], g.df[1][id(1, 1)]),
            (2, 2, 1)
        );
        // Candidate "b a x": unigrams b, a, x; bigrams "b a", "a x"; trigram "b a x".
        let links: Vec<Vec<u32>> = (0..4)
            .map(|k| g.ord[k].hyp_pos[g.ord[k].of(r)].to_vec())
            .collect();
        assert_eq!(
            links,
            vec![vec![1, 0], vec![NONE, 0], vec![NONE, NONE], vec![NONE]]
        );
        assert!((0..4).all(|k| g.ord[k].of(g.cand(1)).is_empty()));
        assert_eq!(g.df[0].len(), 3);
    }

    #[test]
    fn pairwise_sum_matches_plain_sum_closely() {
        let v: Vec<f64> = (0..1000).map(|i| (i as f64).sin()).collect();
        let plain: f64 = v.iter().sum();
        assert!((np_sum(&v) - plain).abs() < 1e-9);
        assert!(np_mean(&[]).is_nan());
    }
}
