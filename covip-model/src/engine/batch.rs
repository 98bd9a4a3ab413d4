//! The running batch's key/value cache: per-sequence caches of different lengths kept as one
//! left-padded cache, so that a decode step is one batched forward pass.
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::generate::cache::KvCache;

/// Left-padded cache of the running sequences: layer tensors `[rows, kv_heads, S, head_dim]`
/// and `valid[row][j]`, false where key `j` is padding of that row (masked in attention).
#[derive(Debug, Clone)]
pub struct RunningBatch<B: Backend> {
    pub cache: KvCache<B>,
    pub valid: Vec<Vec<bool>>,
}

impl<B: Backend> RunningBatch<B> {
    pub fn new(num_layers: usize) -> Self {
        RunningBatch {
            cache: KvCache::new(num_layers),
            valid: Vec::new(),
        }
    }

    pub fn rows(&self) -> usize {
        self.valid.len()
    }

    /// Cached positions per row, padding included.
    pub fn seq_len(&self) -> usize {
        self.valid.first().map_or(0, Vec::len)
    }

    /// Adds `copies` rows that all continue the single-row cache `one` (a prefilled prompt,
    /// `[1, kv_heads, P, head_dim]` per layer, no padding), padding whichever side is shorter.
    pub fn join(&mut self, one: &KvCache<B>, copies: usize) {
        if copies == 0 {
            return;
        }
        let p = one.seq_len();
        let s = self.seq_len();
        let had_rows = self.rows() > 0;
        for (i, layer) in one.layers.iter().enumerate() {
            let Some((k, v)) = layer else { continue };
            let (mut k, mut v) = (k.clone(), v.clone());
            if copies > 1 {
                k = k.repeat_dim(0, copies);
                v = v.repeat_dim(0, copies);
            }
            let joined = match self.cache.layers[i].take() {
                Some((bk, bv)) if had_rows => {
                    let (bk, k) = pad_pair(bk, k);
                    let (bv, v) = pad_pair(bv, v);
                    (Tensor::cat(vec![bk, k], 0), Tensor::cat(vec![bv, v], 0))
                }
                _ => (k, v),
            };
            self.cache.layers[i] = Some(joined);
        }
        if had_rows && p > s {
            for row in &mut self.valid {
                row.splice(0..0, std::iter::repeat_n(false, p - s));
            }
        }
        let width = s.max(p);
        for _ in 0..copies {
            let mut row = vec![false; width - p];
            row.extend(std::iter::repeat_n(true, p));
            self.valid.push(row);
        }
    }

    /// Keeps only `keep` (row indices, in their new order) and drops the leading key columns
    /// that are padding in every remaining row.
    pub fn retain(&mut self, keep: &[usize], device: &B::Device) {
        if keep.len() == self.rows() && keep.iter().enumerate().all(|(i, &r)| i == r) {
            return;
        }
        if keep.is_empty() {
            *self = Self::new(self.cache.layers.len());
            return;
        }
        let idx: Vec<i64> = keep.iter().map(|&r| r as i64).collect();
        let rows = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [keep.len()]), device);
        self.cache.select_rows(rows);
        self.valid = keep.iter().map(|&r| self.valid[r].clone()).collect();
        let lead = self
            .valid
            .iter()
            .map(|row| row.iter().take_while(|v| !**v).count())
            .min()
            .unwrap_or(0);
        if lead > 0 {
            let s = self.seq_len();
            for (k, v) in self.cache.layers.iter_mut().flatten() {
                *k = k.clone().narrow(2, lead, s - lead);
                *v = v.clone().narrow(2, lead, s - lead);
            }
            for row in &mut self.valid {
                row.drain(..lead);
            }
        }
    }
}

/// Left-pads the shorter of `a`, `b` (`[rows, kv_heads, S, head_dim]`) along the key axis.
fn pad_pair<B: Backend>(a: Tensor<B, 4>, b: Tensor<B, 4>) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let (sa, sb) = (a.dims()[2], b.dims()[2]);
    if sa < sb {
        (pad_left(a, sb - sa), b)
    } else {
        let b = pad_left(b, sa - sb);
        (a, b)
    }
}

fn pad_left<B: Backend>(t: Tensor<B, 4>, n: usize) -> Tensor<B, 4> {
    if n == 0 {
        return t;
    }
    let [r, h, _, d] = t.dims();
    let zeros = Tensor::<B, 4>::zeros([r, h, n, d], (&t.device(), t.dtype()));
    Tensor::cat(vec![zeros, t], 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    fn one(len: usize, fill: f32) -> KvCache<Flex> {
        let dev = Default::default();
        let t = Tensor::<Flex, 4>::from_data(
            TensorData::new(vec![fill; len * 2], [1, 1, len, 2]),
            &dev,
        );
        KvCache {
            layers: vec![Some((t.clone(), t))],
        }
    }

    fn keys(b: &RunningBatch<Flex>) -> Vec<f32> {
        let (k, _) = b.cache.layers[0].clone().unwrap();
        k.into_data().to_vec::<f32>().unwrap()
    }

    #[test]
    fn rows_of_different_lengths_pad_left_and_trim_when_they_leave() {
        let dev = Default::default();
        let mut b = RunningBatch::<Flex>::new(1);
        b.join(&one(2, 1.0), 1);
        b.join(&one(3, 2.0), 2);
        assert_eq!(b.rows(), 3);
        assert_eq!(b.valid[0], [false, true, true]);
        assert_eq!(b.valid[2], [true, true, true]);
        assert_eq!(&keys(&b)[..6], &[0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        b.join(&one(1, 3.0), 1);
        assert_eq!(b.valid[3], [false, false, true]);
        // Only the shortest two stay: one leading column is padding in both and goes.
        b.retain(&[3, 0], &dev);
        assert_eq!(b.valid, vec![vec![false, true], vec![true, true]]);
        assert_eq!(keys(&b), [0.0, 0.0, 3.0, 3.0, 1.0, 1.0, 1.0, 1.0]);
        b.retain(&[], &dev);
        assert_eq!(b.rows(), 0);
        assert_eq!(b.seq_len(), 0);
    }
}
