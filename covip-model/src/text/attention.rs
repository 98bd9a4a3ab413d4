//! Grouped-query self-attention with per-head q/k RMSNorm and MRoPE.
use burn::module::Module;
use burn::tensor::{DType, Tensor, activation::softmax, backend::Backend};

use crate::generate::cache::KvCache;
use crate::nn::Linear;
use crate::text::rms_norm::{RmsNorm, to_dtype};
use crate::text::rope::apply_rotary;

#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub q_proj: Linear<B>,
    pub k_proj: Linear<B>,
    pub v_proj: Linear<B>,
    pub o_proj: Linear<B>,
    /// RMSNorm over `head_dim`, applied per head before the rotary embedding.
    pub q_norm: RmsNorm<B>,
    pub k_norm: RmsNorm<B>,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl<B: Backend> Attention<B> {
    /// `x`: `[B, T, hidden]`; `cos`/`sin`: `[B, 1, T, head_dim]`; `mask`: additive
    /// `[B, 1, T, S]` (S = cached + T) or `None` for plain causal without padding when T = 1.
    /// With a cache, this layer's keys/values are appended at `layer`. Returns `[B, T, hidden]`.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        cos: Tensor<B, 4>,
        sin: Tensor<B, 4>,
        mask: Option<Tensor<B, 4>>,
        cache: Option<(&mut KvCache<B>, usize)>,
    ) -> Tensor<B, 3> {
        let [b, t, _] = x.dims();
        let (h, kvh, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let q = self.q_proj.forward(x.clone()).reshape([b, t, h, d]);
        let k = self.k_proj.forward(x.clone()).reshape([b, t, kvh, d]);
        let v = self.v_proj.forward(x).reshape([b, t, kvh, d]);
        let q = self.q_norm.forward(q).swap_dims(1, 2); // [B, H, T, D]
        let k = self.k_norm.forward(k).swap_dims(1, 2); // [B, KVH, T, D]
        let v = v.swap_dims(1, 2);
        let q = apply_rotary(q, cos.clone(), sin.clone());
        let k = apply_rotary(k, cos, sin);
        let (k, v) = match cache {
            Some((c, layer)) => c.append(layer, k, v),
            None => (k, v),
        };
        let s = k.dims()[2];
        let g = h / kvh;
        let dtype = q.dtype();
        // Query heads h = kv·g + i share kv head kv: fold the group into the row axis.
        let q = q.reshape([b, kvh, g * t, d]);
        let scores = q.matmul(k.swap_dims(2, 3)) * (1.0 / (d as f64).sqrt()); // [B, KVH, G·T, S]
        let scores = to_dtype(scores.reshape([b, h, t, s]), DType::F32);
        let scores = match mask {
            Some(m) => scores + to_dtype(m, DType::F32),
            None => scores,
        };
        let probs = to_dtype(softmax(scores, 3), dtype).reshape([b, kvh, g * t, s]);
        let out = probs.matmul(v).reshape([b, h, t, d]).swap_dims(1, 2); // [B, T, H, D]
        self.o_proj.forward(out.reshape([b, t, h * d]))
    }
}
