//! The checkpoint's tensor names and shapes, one table per part of the model. The loaders read
//! exactly these tensors and [`crate::loader::Checkpoint::check`] expects exactly these, so the
//! two can never drift apart.
use crate::config::TextConfig;
use crate::vision::VisionConfig;

/// Prefix of the text decoder's tensors in Qwen3-VL checkpoints.
pub const TEXT_PREFIX: &str = "model.language_model.";
/// Prefix of the vision tower's tensors.
pub const VISION_PREFIX: &str = "model.visual.";
/// The untied LM head.
pub const LM_HEAD: &str = "lm_head.weight";

/// One tensor: its checkpoint name and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

fn spec(name: String, shape: &[usize]) -> TensorSpec {
    TensorSpec {
        name,
        shape: shape.to_vec(),
    }
}

/// A weight with an optional bias (linear layers, norms, the patch convolution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightBias {
    pub weight: TensorSpec,
    pub bias: Option<TensorSpec>,
}

impl WeightBias {
    /// `{prefix}.weight` of `shape`, and `{prefix}.bias` of `[shape[0]]` when `bias`.
    fn new(prefix: &str, shape: &[usize], bias: bool) -> Self {
        WeightBias {
            weight: spec(format!("{prefix}.weight"), shape),
            bias: bias.then(|| spec(format!("{prefix}.bias"), &shape[..1])),
        }
    }

    fn list(&self, out: &mut Vec<TensorSpec>) {
        out.push(self.weight.clone());
        out.extend(self.bias.clone());
    }
}

/// One text decoder layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderLayerTensors {
    pub q_proj: WeightBias,
    pub k_proj: WeightBias,
    pub v_proj: WeightBias,
    pub o_proj: WeightBias,
    pub q_norm: TensorSpec,
    pub k_norm: TensorSpec,
    pub gate_proj: WeightBias,
    pub up_proj: WeightBias,
    pub down_proj: WeightBias,
    pub input_layernorm: TensorSpec,
    pub post_attention_layernorm: TensorSpec,
}

/// The text model and its head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextTensors {
    pub embed_tokens: TensorSpec,
    pub layers: Vec<DecoderLayerTensors>,
    pub norm: TensorSpec,
    /// `None` when the head is tied to `embed_tokens`.
    pub lm_head: Option<TensorSpec>,
}

impl TextTensors {
    pub fn new(cfg: &TextConfig) -> Self {
        let (h, d, i) = (cfg.hidden_size, cfg.head_dim, cfg.intermediate_size);
        let (qh, kvh) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        let b = cfg.attention_bias;
        let layers = (0..cfg.num_hidden_layers)
            .map(|l| {
                let p = |n: &str| format!("{TEXT_PREFIX}layers.{l}.{n}");
                DecoderLayerTensors {
                    q_proj: WeightBias::new(&p("self_attn.q_proj"), &[qh * d, h], b),
                    k_proj: WeightBias::new(&p("self_attn.k_proj"), &[kvh * d, h], b),
                    v_proj: WeightBias::new(&p("self_attn.v_proj"), &[kvh * d, h], b),
                    o_proj: WeightBias::new(&p("self_attn.o_proj"), &[h, qh * d], b),
                    q_norm: spec(p("self_attn.q_norm.weight"), &[d]),
                    k_norm: spec(p("self_attn.k_norm.weight"), &[d]),
                    gate_proj: WeightBias::new(&p("mlp.gate_proj"), &[i, h], false),
                    up_proj: WeightBias::new(&p("mlp.up_proj"), &[i, h], false),
                    down_proj: WeightBias::new(&p("mlp.down_proj"), &[h, i], false),
                    input_layernorm: spec(p("input_layernorm.weight"), &[h]),
                    post_attention_layernorm: spec(p("post_attention_layernorm.weight"), &[h]),
                }
            })
            .collect();
        TextTensors {
            embed_tokens: spec(
                format!("{TEXT_PREFIX}embed_tokens.weight"),
                &[cfg.vocab_size, h],
            ),
            layers,
            norm: spec(format!("{TEXT_PREFIX}norm.weight"), &[h]),
            lm_head: (!cfg.tie_word_embeddings)
                .then(|| spec(LM_HEAD.to_string(), &[cfg.vocab_size, h])),
        }
    }

    /// Every tensor, in checkpoint order of the parts.
    pub fn list(&self) -> Vec<TensorSpec> {
        let mut out = vec![self.embed_tokens.clone(), self.norm.clone()];
        for l in &self.layers {
            for wb in [&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj] {
                wb.list(&mut out);
            }
            out.extend([l.q_norm.clone(), l.k_norm.clone()]);
            for wb in [&l.gate_proj, &l.up_proj, &l.down_proj] {
                wb.list(&mut out);
            }
            out.extend([
                l.input_layernorm.clone(),
                l.post_attention_layernorm.clone(),
            ]);
        }
        out.extend(self.lm_head.clone());
        out
    }
}

/// One vision transformer block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisionBlockTensors {
    pub norm1: WeightBias,
    pub norm2: WeightBias,
    pub qkv: WeightBias,
    pub proj: WeightBias,
    pub linear_fc1: WeightBias,
    pub linear_fc2: WeightBias,
}

/// A patch merger (the final one or a DeepStack one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergerTensors {
    pub norm: WeightBias,
    pub linear_fc1: WeightBias,
    pub linear_fc2: WeightBias,
}

impl MergerTensors {
    fn new(prefix: &str, norm: usize, merged: usize, out: usize) -> Self {
        MergerTensors {
            norm: WeightBias::new(&format!("{prefix}.norm"), &[norm], true),
            linear_fc1: WeightBias::new(&format!("{prefix}.linear_fc1"), &[merged, merged], true),
            linear_fc2: WeightBias::new(&format!("{prefix}.linear_fc2"), &[out, merged], true),
        }
    }

    fn list(&self, out: &mut Vec<TensorSpec>) {
        for wb in [&self.norm, &self.linear_fc1, &self.linear_fc2] {
            wb.list(out);
        }
    }
}

/// The vision tower (`model.visual.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisionTensors {
    /// The 3D patch convolution: weight `[hidden, C, T, P, P]` and bias.
    pub patch_embed: WeightBias,
    pub pos_embed: TensorSpec,
    pub blocks: Vec<VisionBlockTensors>,
    pub merger: MergerTensors,
    /// One per `deepstack_visual_indexes` entry, in that order.
    pub deepstack_merger_list: Vec<MergerTensors>,
}

impl VisionTensors {
    pub fn new(cfg: &VisionConfig) -> Self {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let m = h * cfg.spatial_merge_size * cfg.spatial_merge_size;
        let p = |n: &str| format!("{VISION_PREFIX}{n}");
        let blocks = (0..cfg.depth)
            .map(|b| {
                let n = |s: &str| p(&format!("blocks.{b}.{s}"));
                VisionBlockTensors {
                    norm1: WeightBias::new(&n("norm1"), &[h], true),
                    norm2: WeightBias::new(&n("norm2"), &[h], true),
                    qkv: WeightBias::new(&n("attn.qkv"), &[3 * h, h], true),
                    proj: WeightBias::new(&n("attn.proj"), &[h, h], true),
                    linear_fc1: WeightBias::new(&n("mlp.linear_fc1"), &[i, h], true),
                    linear_fc2: WeightBias::new(&n("mlp.linear_fc2"), &[h, i], true),
                }
            })
            .collect();
        let (ps, tp) = (cfg.patch_size, cfg.temporal_patch_size);
        VisionTensors {
            patch_embed: WeightBias::new(
                &p("patch_embed.proj"),
                &[h, cfg.in_channels, tp, ps, ps],
                true,
            ),
            pos_embed: spec(p("pos_embed.weight"), &[cfg.num_position_embeddings, h]),
            blocks,
            merger: MergerTensors::new(&p("merger"), h, m, cfg.out_hidden_size),
            deepstack_merger_list: (0..cfg.deepstack_visual_indexes.len())
                .map(|k| {
                    MergerTensors::new(
                        &p(&format!("deepstack_merger_list.{k}")),
                        m,
                        m,
                        cfg.out_hidden_size,
                    )
                })
                .collect(),
        }
    }

    /// Every tensor.
    pub fn list(&self) -> Vec<TensorSpec> {
        let mut out = Vec::new();
        self.patch_embed.list(&mut out);
        out.push(self.pos_embed.clone());
        for b in &self.blocks {
            for wb in [
                &b.norm1,
                &b.norm2,
                &b.qkv,
                &b.proj,
                &b.linear_fc1,
                &b.linear_fc2,
            ] {
                wb.list(&mut out);
            }
        }
        self.merger.list(&mut out);
        for d in &self.deepstack_merger_list {
            d.list(&mut out);
        }
        out
    }
}

/// `(name, shape)` pairs as [`crate::loader::Checkpoint::check`] takes them.
pub fn name_shape_pairs(specs: Vec<TensorSpec>) -> Vec<(String, Vec<usize>)> {
    specs.into_iter().map(|s| (s.name, s.shape)).collect()
}
