//! The patch merger (and the DeepStack mergers): LayerNorm, 2×2 neighbouring patches
//! concatenated, fc1 → GELU (erf) → fc2 to the text width.
use burn::module::Module;
use burn::tensor::{Tensor, activation, backend::Backend};

use crate::nn::Linear;
use crate::vision::block::LayerNorm;

#[derive(Module, Debug)]
pub struct PatchMerger<B: Backend> {
    /// Over `hidden` (main merger) or `merge²·hidden` (DeepStack, `use_postshuffle_norm`).
    pub norm: LayerNorm<B>,
    /// `[merge²·hidden, merge²·hidden]`
    pub linear_fc1: Linear<B>,
    /// `[out_hidden, merge²·hidden]`
    pub linear_fc2: Linear<B>,
    /// Normalise after concatenating the merge block (DeepStack) instead of per patch.
    pub use_postshuffle_norm: bool,
    /// `merge²` patches per merged token.
    pub unit: usize,
}

impl<B: Backend> PatchMerger<B> {
    /// `x`: `[patches, hidden]` in merge-block order → `[patches / merge², out_hidden]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let [n, hidden] = x.dims();
        let rows = [n / self.unit, hidden * self.unit];
        let x = if self.use_postshuffle_norm {
            self.norm.forward(x.reshape(rows))
        } else {
            self.norm.forward(x).reshape(rows)
        };
        self.linear_fc2
            .forward(activation::gelu(self.linear_fc1.forward(x)))
    }
}
