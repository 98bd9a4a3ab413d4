//! Shared n-gram counting for BLEU and CIDEr-D, in the order pycocoevalcap's `precook` builds
//! its dictionaries (n = 1..4, left to right, first occurrence first), so floating-point sums
//! over n-grams happen in the same order as in the reference implementation.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::ptb::py_split_whitespace;

/// A small, fast hasher for interned n-gram keys.
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
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
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

/// An n-gram of up to four interned words: each slot holds `word id + 1`, unused slots are 0.
pub type Gram = u128;

/// Order (1..=4) of an n-gram key.
pub fn gram_order(g: Gram) -> usize {
    (0..4).filter(|i| (g >> (32 * i)) as u32 != 0).count()
}

/// Interns words to dense ids.
#[derive(Default)]
pub struct Interner<'a> {
    ids: FxMap<&'a str, u32>,
}

impl<'a> Interner<'a> {
    /// The id of `w` (assigned on first sight).
    pub fn id(&mut self, w: &'a str) -> u32 {
        let n = self.ids.len() as u32;
        *self.ids.entry(w).or_insert(n)
    }

    /// Number of distinct words seen.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no word was seen.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// `g` packed into 64 bits (16 bits per slot); only valid while every word id + 1 < 2^16.
pub fn gram_u64(g: Gram) -> u64 {
    let mut out = 0u64;
    for i in 0..4 {
        out |= (((g >> (32 * i)) as u32 as u64) & 0xFFFF) << (16 * i);
    }
    out
}

/// N-gram counts of one sentence, keys in first-occurrence order per order n.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Number of words (Python `str.split()`).
    pub len: usize,
    /// (n-gram, count) in insertion order: all unigrams first, then bigrams, ...
    pub grams: Vec<(Gram, u32)>,
}

thread_local! {
    /// Reused per thread by [`precook`]: word ids and the n-gram → position index.
    static SCRATCH: std::cell::RefCell<(Vec<u32>, FxMap<Gram, u32>)> =
        std::cell::RefCell::new((Vec::new(), FxMap::default()));
}

/// `precook(s, 4)`: whitespace-split words and their 1..=n-gram counts.
pub fn precook<'a>(s: &'a str, n: usize, interner: &mut Interner<'a>) -> Counts {
    SCRATCH.with(|cell| {
        let (words, index) = &mut *cell.borrow_mut();
        words.clear();
        index.clear();
        words.extend(py_split_whitespace(s).map(|w| interner.id(w) + 1));
        let mut c = Counts {
            len: words.len(),
            grams: Vec::with_capacity(words.len() * n),
        };
        for k in 1..=n {
            if words.len() < k {
                break;
            }
            for i in 0..=(words.len() - k) {
                let mut g: Gram = 0;
                for (j, &w) in words[i..i + k].iter().enumerate() {
                    g |= (w as u128) << (32 * j);
                }
                match index.get(&g) {
                    Some(&pos) => c.grams[pos as usize].1 += 1,
                    None => {
                        index.insert(g, c.grams.len() as u32);
                        c.grams.push((g, 1));
                    }
                }
            }
        }
        c
    })
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
    fn precook_counts_in_order() {
        let mut it = Interner::default();
        let c = precook("a b a b", 4, &mut it);
        assert_eq!(c.len, 4);
        let orders: Vec<usize> = c.grams.iter().map(|(g, _)| gram_order(*g)).collect();
        assert_eq!(orders, vec![1, 1, 2, 2, 3, 3, 4]);
        assert_eq!(c.grams[0].1, 2);
        assert_eq!(c.grams[2].1, 2); // "a b"
    }

    #[test]
    fn pairwise_sum_matches_plain_sum_closely() {
        let v: Vec<f64> = (0..1000).map(|i| (i as f64).sin()).collect();
        let plain: f64 = v.iter().sum();
        assert!((np_sum(&v) - plain).abs() < 1e-9);
        assert!(np_mean(&[]).is_nan());
    }
}
