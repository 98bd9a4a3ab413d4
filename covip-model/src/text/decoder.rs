//! Decoder layers and the text model (`model.language_model.*`).
use burn::module::{Module, Param};
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};

use crate::config::TextConfig;
use crate::generate::cache::KvCache;
use crate::text::attention::Attention;
use crate::text::mlp::Mlp;
use crate::text::rms_norm::RmsNorm;
use crate::text::rope::Mrope;

#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    pub self_attn: Attention<B>,
    pub mlp: Mlp<B>,
    pub input_layernorm: RmsNorm<B>,
    pub post_attention_layernorm: RmsNorm<B>,
}

impl<B: Backend> DecoderLayer<B> {
    /// Pre-norm residual block. `x`: `[B, T, hidden]` → `[B, T, hidden]`.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        cos: Tensor<B, 4>,
        sin: Tensor<B, 4>,
        mask: Option<Tensor<B, 4>>,
        cache: Option<(&mut KvCache<B>, usize)>,
    ) -> Tensor<B, 3> {
        let h = self.self_attn.forward(
            self.input_layernorm.forward(x.clone()),
            cos,
            sin,
            mask,
            cache,
        );
        let x = x + h;
        let h = self
            .mlp
            .forward(self.post_attention_layernorm.forward(x.clone()));
        x + h
    }
}

/// DeepStack visual features added to the outputs of the first decoder layers, at prefill.
#[derive(Debug, Clone)]
pub struct Deepstack<B: Backend> {
    /// Flat indices `b·T + t` of the visual positions, in the order of the feature rows.
    pub positions: Vec<usize>,
    /// One `[n_visual, hidden]` tensor per layer k = 0, 1, …: added to layer k's output.
    pub features: Vec<Tensor<B, 2>>,
}

/// The text decoder: token embedding, layers, final norm and the rotary tables.
#[derive(Module, Debug)]
pub struct TextModel<B: Backend> {
    /// `[vocab, hidden]`
    pub embed_tokens: Param<Tensor<B, 2>>,
    pub layers: Vec<DecoderLayer<B>>,
    pub norm: RmsNorm<B>,
    #[module(skip)]
    pub rope: Mrope,
}

impl<B: Backend> TextModel<B> {
    /// `ids`: `[B, T]` → `[B, T, hidden]`.
    pub fn embed(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let [b, t] = ids.dims();
        let w = self.embed_tokens.val();
        let hidden = w.dims()[1];
        w.select(0, ids.reshape([b * t])).reshape([b, t, hidden])
    }

    /// Runs the layers and the final norm.
    /// - `embeds`: `[B, T, hidden]` (token embeddings, or with image embeddings merged in)
    /// - `positions`: `[3, B, T]` MRoPE position ids (time, height, width)
    /// - `mask`: additive `[B, 1, T, S]`, S = cached + T (see [`crate::position_ids::attention_bias`])
    /// - `cache`: appended in place when given
    /// - `deepstack`: visual features added after the first layers (prefill only)
    ///
    /// Returns the normalised hidden states `[B, T, hidden]`.
    pub fn forward(
        &self,
        embeds: Tensor<B, 3>,
        positions: Tensor<B, 3, Int>,
        mask: Option<Tensor<B, 4>>,
        mut cache: Option<&mut KvCache<B>>,
        deepstack: Option<&Deepstack<B>>,
    ) -> Tensor<B, 3> {
        let dtype = embeds.dtype();
        let (cos, sin) = self.rope.cos_sin(positions, dtype);
        let mut x = embeds;
        for (i, layer) in self.layers.iter().enumerate() {
            let c = cache.as_deref_mut().map(|c| (c, i));
            x = layer.forward(x, cos.clone(), sin.clone(), mask.clone(), c);
            if let Some(ds) = deepstack
                && let Some(feat) = ds.features.get(i)
            {
                x = add_at_positions(x, &ds.positions, feat.clone());
            }
        }
        self.norm.forward(x)
    }
}

/// `x[pos[k]] += feat[k]` over flat `(b, t)` positions; `x`: `[B, T, H]`, `feat`: `[N, H]`.
pub fn add_at_positions<B: Backend>(
    x: Tensor<B, 3>,
    pos: &[usize],
    feat: Tensor<B, 2>,
) -> Tensor<B, 3> {
    let [b, t, h] = x.dims();
    let n = feat.dims()[0];
    assert_eq!(
        n,
        pos.len(),
        "deepstack: {} feature rows for {} visual positions",
        n,
        pos.len()
    );
    let device = x.device();
    // Row n of the padded table is zero: every non-visual position picks it.
    let mut idx = vec![n as i64; b * t];
    for (k, &p) in pos.iter().enumerate() {
        idx[p] = k as i64;
    }
    let zero = Tensor::<B, 2>::zeros([1, h], (&device, feat.dtype()));
    let table = Tensor::cat(vec![feat, zero], 0);
    let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [b * t]), &device);
    let dtype = x.dtype();
    x + crate::text::rms_norm::to_dtype(table.select(0, idx).reshape([b, t, h]), dtype)
}

/// Builds an untrained text model with the config's shapes (normal weights, std `0.02`,
/// norms at one): for benchmarks and tests that need no checkpoint.
pub fn init_text_model<B: Backend>(
    cfg: &TextConfig,
    device: &B::Device,
    seed: u64,
) -> TextModel<B> {
    let mut rng = crate::generate::sampling::Rng::new(seed);
    let mut normal = |shape: [usize; 2]| -> Tensor<B, 2> {
        let n = shape[0] * shape[1];
        let v: Vec<f32> = (0..n).map(|_| rng.normal() * 0.02).collect();
        Tensor::from_data(TensorData::new(v, shape), device)
    };
    let (h, d) = (cfg.hidden_size, cfg.head_dim);
    let ones = |n: usize| RmsNorm::new(Tensor::<B, 1>::ones([n], device), cfg.rms_norm_eps);
    let lin = |w: Tensor<B, 2>| crate::nn::Linear::new(w, None);
    let mut layers = Vec::new();
    for _ in 0..cfg.num_hidden_layers {
        layers.push(DecoderLayer {
            self_attn: Attention {
                q_proj: lin(normal([cfg.num_attention_heads * d, h])),
                k_proj: lin(normal([cfg.num_key_value_heads * d, h])),
                v_proj: lin(normal([cfg.num_key_value_heads * d, h])),
                o_proj: lin(normal([h, cfg.num_attention_heads * d])),
                q_norm: ones(d),
                k_norm: ones(d),
                num_heads: cfg.num_attention_heads,
                num_kv_heads: cfg.num_key_value_heads,
                head_dim: d,
            },
            mlp: Mlp {
                gate_proj: lin(normal([cfg.intermediate_size, h])),
                up_proj: lin(normal([cfg.intermediate_size, h])),
                down_proj: lin(normal([h, cfg.intermediate_size])),
            },
            input_layernorm: ones(h),
            post_attention_layernorm: ones(h),
        });
    }
    TextModel {
        embed_tokens: Param::from_tensor(normal([cfg.vocab_size, h])),
        layers,
        norm: ones(h),
        rope: Mrope::new(cfg),
    }
}
