//! The causal LM: text model + LM head, loaded from a checkpoint folder.
use std::path::Path;

use burn::module::Module;
use burn::tensor::{DType, Int, Tensor, TensorData, backend::Backend};

use crate::config::{Qwen3VlConfig, TextConfig};
use crate::error::{ModelError, Result};
use crate::generate::cache::KvCache;
use crate::loader::{Checkpoint, LoadReport, WeightDtype};
use crate::nn::Linear;
use crate::position_ids::{attention_bias, position_tensor, text_position_ids};
use crate::tensor_names::{TensorSpec, TextTensors, WeightBias, name_shape_pairs};
use crate::text::attention::Attention;
use crate::text::decoder::{DecoderLayer, Deepstack, TextModel};
use crate::text::mlp::Mlp;
use crate::text::rms_norm::RmsNorm;
use crate::text::rope::Mrope;

pub use crate::tensor_names::{LM_HEAD, TEXT_PREFIX, VISION_PREFIX};

/// Qwen3-VL as a causal LM (text path; the vision tower plugs in through `inputs_embeds`,
/// position ids and [`Deepstack`]).
#[derive(Module, Debug)]
pub struct Qwen3Vl<B: Backend> {
    pub language_model: TextModel<B>,
    /// `None` when the head is tied to `embed_tokens`.
    pub lm_head: Option<Linear<B>>,
}

/// One forward pass's inputs. Exactly one of `input_ids` / `inputs_embeds` is given.
#[derive(Debug, Clone)]
pub struct ModelInput<B: Backend> {
    /// `[B, T]`
    pub input_ids: Option<Tensor<B, 2, Int>>,
    /// `[B, T, hidden]`
    pub inputs_embeds: Option<Tensor<B, 3>>,
    /// `[3, B, T]`
    pub position_ids: Tensor<B, 3, Int>,
    /// Additive `[B, 1, T, S]` (S = cached + T), see [`attention_bias`].
    pub attention_bias: Option<Tensor<B, 4>>,
    pub deepstack: Option<Deepstack<B>>,
}

/// Every tensor name and shape the text model needs, in checkpoint naming (the table
/// [`TextTensors`] that the loader reads too).
pub fn expected_tensors(cfg: &TextConfig) -> Vec<(String, Vec<usize>)> {
    name_shape_pairs(TextTensors::new(cfg).list())
}

impl<B: Backend> Qwen3Vl<B> {
    /// Loads `dir` (config.json + safetensors). Vision tensors are recorded in the report.
    pub fn load(
        dir: &Path,
        dtype: WeightDtype,
        device: &B::Device,
    ) -> Result<(Self, Qwen3VlConfig, LoadReport)> {
        let cfg = Qwen3VlConfig::from_file(&dir.join("config.json"))?;
        let ckpt = Checkpoint::open(dir)?;
        let model = Self::from_checkpoint(&ckpt, &cfg.text, dtype, device)?;
        let mut ignore = vec![VISION_PREFIX];
        if cfg.text.tie_word_embeddings {
            ignore.push(LM_HEAD); // some tied checkpoints still store a copy
        }
        let report = ckpt.check(&expected_tensors(&cfg.text), &ignore)?;
        Ok((model, cfg, report))
    }

    /// Builds the model from an opened checkpoint after checking every name and shape.
    pub fn from_checkpoint(
        ckpt: &Checkpoint,
        cfg: &TextConfig,
        dtype: WeightDtype,
        device: &B::Device,
    ) -> Result<Self> {
        let names = TextTensors::new(cfg);
        let mut ignore = vec![VISION_PREFIX];
        if cfg.tie_word_embeddings {
            ignore.push(LM_HEAD);
        }
        ckpt.check(&name_shape_pairs(names.list()), &ignore)?;
        let t1 = |s: &TensorSpec| ckpt.tensor::<B, 1>(&s.name, dtype, device);
        let t2 = |s: &TensorSpec| ckpt.tensor::<B, 2>(&s.name, dtype, device);
        let lin = |wb: &WeightBias| -> Result<Linear<B>> {
            Ok(Linear::new(
                t2(&wb.weight)?,
                wb.bias.as_ref().map(t1).transpose()?,
            ))
        };
        let norm =
            |s: &TensorSpec| -> Result<RmsNorm<B>> { Ok(RmsNorm::new(t1(s)?, cfg.rms_norm_eps)) };
        let layers = names
            .layers
            .iter()
            .map(|l| {
                Ok(DecoderLayer {
                    self_attn: Attention {
                        q_proj: lin(&l.q_proj)?,
                        k_proj: lin(&l.k_proj)?,
                        v_proj: lin(&l.v_proj)?,
                        o_proj: lin(&l.o_proj)?,
                        q_norm: norm(&l.q_norm)?,
                        k_norm: norm(&l.k_norm)?,
                        num_heads: cfg.num_attention_heads,
                        num_kv_heads: cfg.num_key_value_heads,
                        head_dim: cfg.head_dim,
                    },
                    mlp: Mlp {
                        gate_proj: lin(&l.gate_proj)?,
                        up_proj: lin(&l.up_proj)?,
                        down_proj: lin(&l.down_proj)?,
                    },
                    input_layernorm: norm(&l.input_layernorm)?,
                    post_attention_layernorm: norm(&l.post_attention_layernorm)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let language_model = TextModel {
            embed_tokens: burn::module::Param::from_tensor(t2(&names.embed_tokens)?),
            layers,
            norm: norm(&names.norm)?,
            rope: Mrope::new(cfg),
        };
        let lm_head = match &names.lm_head {
            Some(s) => Some(Linear::new(t2(s)?, None)),
            None => None,
        };
        Ok(Self {
            language_model,
            lm_head,
        })
    }

    /// A randomly initialised model of `cfg`'s shape (untied head unless the config ties it).
    pub fn init_random(cfg: &TextConfig, device: &B::Device, seed: u64) -> Self {
        let language_model = crate::text::decoder::init_text_model(cfg, device, seed);
        let lm_head = (!cfg.tie_word_embeddings).then(|| {
            let head = crate::text::decoder::init_text_model::<B>(
                &TextConfig {
                    num_hidden_layers: 0,
                    ..cfg.clone()
                },
                device,
                seed ^ 0x9e37,
            );
            Linear::new(head.embed_tokens.val(), None)
        });
        Self {
            language_model,
            lm_head,
        }
    }

    /// The dtype of the weights (that of the embedding table).
    pub fn dtype(&self) -> DType {
        self.language_model.embed_tokens.val().dtype()
    }

    pub fn num_layers(&self) -> usize {
        self.language_model.layers.len()
    }

    /// Runs the decoder; returns normalised hidden states `[B, T, hidden]`.
    pub fn forward_hidden(
        &self,
        input: ModelInput<B>,
        cache: Option<&mut KvCache<B>>,
    ) -> Result<Tensor<B, 3>> {
        let embeds = match (input.input_ids, input.inputs_embeds) {
            (Some(ids), None) => self.language_model.embed(ids),
            (None, Some(e)) => e,
            _ => {
                return Err(ModelError::Input(
                    "give exactly one of input_ids and inputs_embeds".into(),
                ));
            }
        };
        let [b, t, _] = embeds.dims();
        let [three, pb, pt] = input.position_ids.dims();
        if three != 3 || pb != b || pt != t {
            return Err(ModelError::Input(format!(
                "position_ids must be [3, {b}, {t}], got [{three}, {pb}, {pt}]"
            )));
        }
        Ok(self.language_model.forward(
            embeds,
            input.position_ids,
            input.attention_bias,
            cache,
            input.deepstack.as_ref(),
        ))
    }

    /// LM head: `[B, T, hidden]` → logits `[B, T, vocab]` in the weights' dtype.
    pub fn lm_logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        match &self.lm_head {
            Some(h) => h.forward(hidden),
            None => {
                let [b, t, hd] = hidden.dims();
                let w = self.language_model.embed_tokens.val();
                let v = w.dims()[0];
                crate::nn::matmul_weight_t(hidden.reshape([b * t, hd]), w).reshape([b, t, v])
            }
        }
    }

    /// Full forward: logits `[B, T, vocab]`.
    pub fn forward(
        &self,
        input: ModelInput<B>,
        cache: Option<&mut KvCache<B>>,
    ) -> Result<Tensor<B, 3>> {
        let h = self.forward_hidden(input, cache)?;
        Ok(self.lm_logits(h))
    }

    /// Builds the text-only input of a left-padded batch: ids `[B][T]` and validity `[B][T]`.
    /// Returns the input and the per-row rope deltas.
    pub fn text_input(
        &self,
        ids: &[Vec<u32>],
        valid: &[Vec<bool>],
        device: &B::Device,
    ) -> (ModelInput<B>, Vec<i64>) {
        let b = ids.len();
        let t = ids.first().map_or(0, Vec::len);
        let flat: Vec<i64> = ids.iter().flatten().map(|&x| x as i64).collect();
        let (pos, deltas) = text_position_ids(valid);
        let input = ModelInput {
            input_ids: Some(Tensor::from_data(TensorData::new(flat, [b, t]), device)),
            inputs_embeds: None,
            position_ids: position_tensor(pos, b, t, device),
            attention_bias: Some(attention_bias(valid, t, self.dtype(), device)),
            deepstack: None,
        };
        (input, deltas)
    }

    /// Logits `[T, vocab]` of one unpadded prompt (no cache), as f32 on the host.
    pub fn prompt_logits(&self, ids: &[u32], device: &B::Device) -> Result<(Vec<f32>, usize)> {
        if ids.is_empty() {
            return Err(ModelError::Input("empty prompt".into()));
        }
        let valid = vec![vec![true; ids.len()]];
        let (input, _) = self.text_input(&[ids.to_vec()], &valid, device);
        let logits = self.forward(input, None)?;
        let v = logits.dims()[2];
        let data = logits.cast(DType::F32).into_data();
        Ok((
            data.to_vec::<f32>()
                .map_err(|e| ModelError::Input(format!("{e:?}")))?,
            v,
        ))
    }
}
