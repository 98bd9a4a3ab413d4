//! A BERT / RoBERTa encoder in burn, loaded from a Hugging Face folder (`config.json`,
//! `model.safetensors` or shards), as transformers' `BertModel` / `RobertaModel` compute the
//! last hidden state (eager attention, absolute positions), optionally truncated to the first
//! `num_layers` layers (what `bert_score` does with `model.encoder.layer[:num_layers]`).

use std::path::{Path, PathBuf};

use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Int, Tensor, TensorData, backend::Backend};
use covip_model::loader::{Checkpoint, WeightDtype};
use covip_model::nn::Linear;

use super::error::MetricsError;

/// The fields of `config.json` the encoder needs.
#[derive(Debug, Clone, PartialEq)]
pub struct BertConfig {
    /// `bert`, `roberta`, `xlm-roberta`, ...
    pub model_type: String,
    /// Width.
    pub hidden_size: usize,
    /// Layers in the checkpoint.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// `gelu` (erf), `gelu_new` / `gelu_pytorch_tanh` (tanh approximation) or `relu`.
    pub hidden_act: String,
    /// Rows of the position table.
    pub max_position_embeddings: usize,
    /// Padding id (RoBERTa positions start after it).
    pub pad_token_id: u32,
}

fn model_err(path: &Path, message: impl Into<String>) -> MetricsError {
    MetricsError::Record {
        path: path.to_path_buf(),
        record: "<model>".into(),
        field: String::new(),
        message: message.into(),
    }
}

fn field_err(path: &Path, field: &str, message: impl Into<String>) -> MetricsError {
    MetricsError::Record {
        path: path.to_path_buf(),
        record: "<config>".into(),
        field: field.into(),
        message: message.into(),
    }
}

impl BertConfig {
    /// Reads `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, MetricsError> {
        let text = std::fs::read_to_string(path).map_err(|source| MetricsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| MetricsError::Json {
            path: path.to_path_buf(),
            line: None,
            message: e.to_string(),
        })?;
        let int = |k: &str| -> Result<usize, MetricsError> {
            v.get(k)
                .and_then(serde_json::Value::as_u64)
                .map(|x| x as usize)
                .ok_or_else(|| field_err(path, k, "missing or not a non-negative integer"))
        };
        let model_type = v
            .get("model_type")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| field_err(path, "model_type", "missing or not a string"))?
            .to_string();
        if !matches!(
            model_type.as_str(),
            "bert" | "roberta" | "xlm-roberta" | "camembert"
        ) {
            return Err(field_err(
                path,
                "model_type",
                format!("{model_type:?} is not supported (bert, roberta, xlm-roberta, camembert)"),
            ));
        }
        let cfg = BertConfig {
            hidden_size: int("hidden_size")?,
            num_hidden_layers: int("num_hidden_layers")?,
            num_attention_heads: int("num_attention_heads")?,
            layer_norm_eps: v
                .get("layer_norm_eps")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(1e-12),
            hidden_act: v
                .get("hidden_act")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("gelu")
                .to_string(),
            max_position_embeddings: int("max_position_embeddings")?,
            pad_token_id: v
                .get("pad_token_id")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(if model_type == "bert" { 0 } else { 1 })
                as u32,
            model_type,
        };
        if let Some(p) = v.get("position_embedding_type").and_then(|p| p.as_str())
            && p != "absolute"
        {
            return Err(field_err(
                path,
                "position_embedding_type",
                format!("{p:?} is not supported (absolute only)"),
            ));
        }
        if !matches!(
            cfg.hidden_act.as_str(),
            "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu"
        ) {
            return Err(field_err(
                path,
                "hidden_act",
                format!("{:?} is not supported", cfg.hidden_act),
            ));
        }
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            return Err(field_err(
                path,
                "num_attention_heads",
                "must divide hidden_size",
            ));
        }
        Ok(cfg)
    }

    /// RoBERTa-style models: positions start at `pad_token_id + 1`, BPE with a prefix space.
    pub fn is_roberta(&self) -> bool {
        self.model_type != "bert"
    }
}

struct LayerNorm<B: Backend> {
    w: Tensor<B, 1>,
    b: Tensor<B, 1>,
    eps: f64,
}

impl<B: Backend> LayerNorm<B> {
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let mean = x.clone().mean_dim(2);
        let xc = x - mean;
        let var = xc.clone().powi_scalar(2).mean_dim(2);
        let y = xc / (var + self.eps).sqrt();
        y * self.w.clone().unsqueeze::<3>() + self.b.clone().unsqueeze::<3>()
    }
}

struct Layer<B: Backend> {
    q: Linear<B>,
    k: Linear<B>,
    v: Linear<B>,
    o: Linear<B>,
    ln1: LayerNorm<B>,
    up: Linear<B>,
    down: Linear<B>,
    ln2: LayerNorm<B>,
}

/// The encoder (embeddings + the first `num_layers` layers).
pub struct BertEncoder<B: Backend> {
    /// The model's configuration.
    pub config: BertConfig,
    word: Tensor<B, 2>,
    pos: Tensor<B, 2>,
    tok_type: Tensor<B, 2>,
    ln: LayerNorm<B>,
    layers: Vec<Layer<B>>,
    device: B::Device,
    dir: PathBuf,
}

impl<B: Backend> BertEncoder<B> {
    /// Loads `dir` keeping the first `num_layers` layers (all when `None`).
    pub fn load(
        dir: &Path,
        num_layers: Option<usize>,
        device: &B::Device,
    ) -> Result<Self, MetricsError> {
        let config = BertConfig::from_file(&dir.join("config.json"))?;
        let n = num_layers.unwrap_or(config.num_hidden_layers);
        if n > config.num_hidden_layers {
            return Err(model_err(
                dir,
                format!(
                    "num_layers {n} is larger than the model's {} layers",
                    config.num_hidden_layers
                ),
            ));
        }
        let ck = Checkpoint::open(dir).map_err(|e| model_err(dir, e.to_string()))?;
        let prefix = ["", "bert.", "roberta.", "model."]
            .into_iter()
            .find(|p| ck.shape(&format!("{p}embeddings.word_embeddings.weight")).is_some())
            .ok_or_else(|| {
                model_err(
                    dir,
                    "no embeddings.word_embeddings.weight (nor with a bert./roberta. prefix) in the checkpoint",
                )
            })?;
        let t1 = |name: &str| -> Result<Tensor<B, 1>, MetricsError> {
            ck.tensor::<B, 1>(&format!("{prefix}{name}"), WeightDtype::F32, device)
                .map_err(|e| model_err(dir, e.to_string()))
        };
        let t2 = |name: &str| -> Result<Tensor<B, 2>, MetricsError> {
            ck.tensor::<B, 2>(&format!("{prefix}{name}"), WeightDtype::F32, device)
                .map_err(|e| model_err(dir, e.to_string()))
        };
        let lin = |name: &str| -> Result<Linear<B>, MetricsError> {
            Ok(Linear::new(
                t2(&format!("{name}.weight"))?,
                Some(t1(&format!("{name}.bias"))?),
            ))
        };
        let eps = config.layer_norm_eps;
        let ln = |name: &str| -> Result<LayerNorm<B>, MetricsError> {
            Ok(LayerNorm {
                w: t1(&format!("{name}.weight"))?,
                b: t1(&format!("{name}.bias"))?,
                eps,
            })
        };
        let mut layers = Vec::with_capacity(n);
        for i in 0..n {
            let p = format!("encoder.layer.{i}");
            layers.push(Layer {
                q: lin(&format!("{p}.attention.self.query"))?,
                k: lin(&format!("{p}.attention.self.key"))?,
                v: lin(&format!("{p}.attention.self.value"))?,
                o: lin(&format!("{p}.attention.output.dense"))?,
                ln1: ln(&format!("{p}.attention.output.LayerNorm"))?,
                up: lin(&format!("{p}.intermediate.dense"))?,
                down: lin(&format!("{p}.output.dense"))?,
                ln2: ln(&format!("{p}.output.LayerNorm"))?,
            });
        }
        Ok(BertEncoder {
            word: t2("embeddings.word_embeddings.weight")?,
            pos: t2("embeddings.position_embeddings.weight")?,
            tok_type: t2("embeddings.token_type_embeddings.weight")?,
            ln: ln("embeddings.LayerNorm")?,
            layers,
            config,
            device: device.clone(),
            dir: dir.to_path_buf(),
        })
    }

    fn act(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        match self.config.hidden_act.as_str() {
            "relu" => burn::tensor::activation::relu(x),
            "gelu_new" | "gelu_pytorch_tanh" => {
                // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
                let c = (2.0f64 / std::f64::consts::PI).sqrt();
                let inner = (x.clone() + x.clone().powi_scalar(3) * 0.044715) * c;
                x * (inner.tanh() + 1.0) * 0.5
            }
            _ => gelu(x),
        }
    }

    /// Last hidden states of a batch of token-id sequences (padded internally, padding masked
    /// out of attention): one `[len × hidden]` row-major matrix per sequence.
    pub fn encode(&self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, MetricsError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let cfg = &self.config;
        let (b, l) = (batch.len(), batch.iter().map(Vec::len).max().unwrap_or(0));
        let h = cfg.hidden_size;
        let offset = if cfg.is_roberta() {
            cfg.pad_token_id as usize + 1
        } else {
            0
        };
        if l + offset > cfg.max_position_embeddings {
            return Err(model_err(
                &self.dir,
                format!(
                    "a sequence of {l} tokens exceeds the {} positions of the model",
                    cfg.max_position_embeddings
                ),
            ));
        }
        let mut ids = Vec::with_capacity(b * l);
        let mut pos = Vec::with_capacity(b * l);
        let mut mask = Vec::with_capacity(b * l);
        for s in batch {
            for i in 0..l {
                let real = i < s.len();
                ids.push(if real { s[i] } else { cfg.pad_token_id } as i64);
                // RoBERTa: padding positions get `pad_token_id` (they are masked anyway).
                pos.push(if real {
                    (i + offset) as i64
                } else {
                    offset.saturating_sub(1) as i64
                });
                mask.push(if real { 0.0f32 } else { f32::MIN });
            }
        }
        let vocab = self.word.dims()[0];
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= vocab) {
            return Err(model_err(
                &self.dir,
                format!("token id {bad} is outside the vocabulary of {vocab}"),
            ));
        }
        let ids_t = Tensor::<B, 1, Int>::from_data(TensorData::new(ids, [b * l]), &self.device);
        let pos_t = Tensor::<B, 1, Int>::from_data(TensorData::new(pos, [b * l]), &self.device);
        let x = self.word.clone().select(0, ids_t) + self.pos.clone().select(0, pos_t);
        let x = x.reshape([b, l, h]) + self.tok_type.clone().slice([0..1, 0..h]).unsqueeze::<3>();
        let mut x = self.ln.forward(x);
        let mask_t = Tensor::<B, 2>::from_data(TensorData::new(mask, [b, l]), &self.device)
            .reshape([b, 1, 1, l]);
        let nh = cfg.num_attention_heads;
        let hd = h / nh;
        let scale = 1.0 / (hd as f64).sqrt();
        for layer in &self.layers {
            let heads = |t: Tensor<B, 3>| t.reshape([b, l, nh, hd]).swap_dims(1, 2);
            let q = heads(layer.q.forward(x.clone()));
            let k = heads(layer.k.forward(x.clone()));
            let v = heads(layer.v.forward(x.clone()));
            let scores = q.matmul(k.swap_dims(2, 3)) * scale + mask_t.clone();
            let probs = softmax(scores, 3);
            let ctx = probs.matmul(v).swap_dims(1, 2).reshape([b, l, h]);
            let a = layer.ln1.forward(layer.o.forward(ctx) + x);
            let m = layer.down.forward(self.act(layer.up.forward(a.clone())));
            x = layer.ln2.forward(m + a);
        }
        let data: Vec<f32> = x
            .into_data()
            .convert::<f32>()
            .to_vec()
            .map_err(|e| model_err(&self.dir, format!("{e:?}")))?;
        Ok(batch
            .iter()
            .enumerate()
            .map(|(i, s)| data[i * l * h..(i * l + s.len()) * h].to_vec())
            .collect())
    }
}
