//! Key/value cache for incremental decoding.
use burn::tensor::{Tensor, backend::Backend};

/// Keys and values of one layer: each `[B, kv_heads, S, head_dim]`.
pub type LayerKv<B> = (Tensor<B, 4>, Tensor<B, 4>);

/// One entry per decoder layer; empty until the first forward pass fills it.
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    pub layers: Vec<Option<LayerKv<B>>>,
}

impl<B: Backend> KvCache<B> {
    pub fn new(num_layers: usize) -> Self {
        Self {
            layers: vec![None; num_layers],
        }
    }

    /// Number of cached positions (0 when empty).
    pub fn seq_len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map(|(k, _)| k.dims()[2])
            .unwrap_or(0)
    }

    /// Appends `k`, `v` (`[B, kv_heads, T, head_dim]`) to layer `i` and returns the full ones.
    pub fn append(&mut self, i: usize, k: Tensor<B, 4>, v: Tensor<B, 4>) -> LayerKv<B> {
        let (k, v) = match self.layers[i].take() {
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
            None => (k, v),
        };
        self.layers[i] = Some((k.clone(), v.clone()));
        (k, v)
    }

    /// Keeps only the batch rows in `rows` (used when finished sequences leave a batch).
    pub fn select_rows(&mut self, rows: Tensor<B, 1, burn::tensor::Int>) {
        for l in self.layers.iter_mut().flatten() {
            l.0 = l.0.clone().select(0, rows.clone());
            l.1 = l.1.clone().select(0, rows.clone());
        }
    }
}
