//! Model configuration read from a checkpoint's `config.json` (and `generation_config.json`).
//!
//! Every value the file states is taken from it; defaults only fill keys a file leaves out and
//! follow transformers' `Qwen3VLTextConfig` / `Qwen3VLConfig`. Both rope key styles are accepted:
//! the older `rope_theta` + `rope_scaling: {mrope_section, mrope_interleaved}` and the newer
//! `rope_parameters: {rope_theta, mrope_section, mrope_interleaved}`.
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{ModelError, Result};

/// The text decoder's shape and numerics (`text_config` in `config.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    /// Frequency slots owned by the (time, height, width) axes; sums to `head_dim / 2`.
    pub mrope_section: [usize; 3],
    /// Interleaved (Qwen3-VL) or chunked (Qwen2-VL style) assignment of slots to axes.
    pub mrope_interleaved: bool,
    pub attention_bias: bool,
    pub hidden_act: String,
    pub tie_word_embeddings: bool,
    pub max_position_embeddings: usize,
}

/// Token ids the processor and generator need.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TokenIds {
    pub image_token_id: Option<u32>,
    pub video_token_id: Option<u32>,
    pub vision_start_token_id: Option<u32>,
    pub vision_end_token_id: Option<u32>,
    pub bos_token_id: Option<u32>,
    /// End-of-sequence ids stated by `config.json` (text or top level).
    pub eos_token_ids: Vec<u32>,
    pub pad_token_id: Option<u32>,
}

/// The whole checkpoint configuration. `vision_config` is kept raw for the vision issue.
#[derive(Debug, Clone)]
pub struct Qwen3VlConfig {
    pub text: TextConfig,
    pub tokens: TokenIds,
    pub vision_config: Option<Value>,
    /// `torch_dtype` / `dtype` as the file states it (e.g. "bfloat16").
    pub dtype: Option<String>,
}

/// Sampling defaults and stop ids from `generation_config.json`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GenerationConfig {
    #[serde(default, deserialize_with = "one_or_many")]
    pub eos_token_id: Vec<u32>,
    pub pad_token_id: Option<u32>,
    pub bos_token_id: Option<u32>,
    pub do_sample: Option<bool>,
    pub temperature: Option<f32>,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
    pub repetition_penalty: Option<f32>,
    pub presence_penalty: Option<f32>,
    pub max_new_tokens: Option<usize>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<u32>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(ids_from_value(v.as_ref()))
}

fn ids_from_value(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|x| vec![x as u32]).unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_u64())
            .map(|x| x as u32)
            .collect(),
        _ => Vec::new(),
    }
}

fn get_u32(v: &Value, key: &str) -> Option<u32> {
    v.get(key).and_then(Value::as_u64).map(|x| x as u32)
}

impl TextConfig {
    /// Parses a `text_config` object. `top` is the whole `config.json`, consulted for keys that
    /// checkpoints put at the top level (`tie_word_embeddings`).
    pub fn from_value(text: &Value, top: &Value, origin: &str) -> Result<Self> {
        let req = |key: &str| -> Result<usize> {
            text.get(key)
                .and_then(Value::as_u64)
                .map(|x| x as usize)
                .ok_or_else(|| ModelError::Config {
                    path: origin.to_string(),
                    msg: format!("text_config.{key} is missing or not an unsigned integer"),
                })
        };
        let hidden_size = req("hidden_size")?;
        let num_attention_heads = req("num_attention_heads")?;
        let num_key_value_heads = text
            .get("num_key_value_heads")
            .and_then(Value::as_u64)
            .map(|x| x as usize)
            .unwrap_or(num_attention_heads);
        let head_dim = text
            .get("head_dim")
            .and_then(Value::as_u64)
            .map(|x| x as usize)
            .unwrap_or(hidden_size / num_attention_heads);
        // Rope: newer `rope_parameters`, else older `rope_scaling` + `rope_theta`.
        let rope_params = text.get("rope_parameters").filter(|v| v.is_object());
        let rope_scaling = text.get("rope_scaling").filter(|v| v.is_object());
        let rope_obj = rope_params.or(rope_scaling);
        let rope_theta = rope_params
            .and_then(|r| r.get("rope_theta"))
            .or_else(|| text.get("rope_theta"))
            .or_else(|| rope_scaling.and_then(|r| r.get("rope_theta")))
            .and_then(Value::as_f64)
            .ok_or_else(|| ModelError::Config {
                path: origin.to_string(),
                msg: "no rope_theta in text_config (nor in rope_parameters)".into(),
            })?;
        if let Some(kind) = rope_obj
            .and_then(|r| r.get("rope_type").or_else(|| r.get("type")))
            .and_then(Value::as_str)
            && kind != "default"
            && kind != "mrope"
        {
            return Err(ModelError::Config {
                path: origin.to_string(),
                msg: format!("rope_type {kind:?} is not supported (only default/mrope)"),
            });
        }
        let half = head_dim / 2;
        let mrope_section = match rope_obj.and_then(|r| r.get("mrope_section")) {
            Some(Value::Array(a)) if a.len() == 3 => {
                let mut s = [0usize; 3];
                for (i, x) in a.iter().enumerate() {
                    s[i] = x.as_u64().ok_or_else(|| ModelError::Config {
                        path: origin.to_string(),
                        msg: "mrope_section holds a non-integer".into(),
                    })? as usize;
                }
                s
            }
            Some(other) => {
                return Err(ModelError::Config {
                    path: origin.to_string(),
                    msg: format!("mrope_section must be a list of 3 integers, got {other}"),
                });
            }
            // transformers' default for Qwen3-VL.
            None => [24, 20, 20],
        };
        if mrope_section.iter().sum::<usize>() != half {
            return Err(ModelError::Config {
                path: origin.to_string(),
                msg: format!(
                    "mrope_section {mrope_section:?} sums to {} but head_dim/2 is {half}",
                    mrope_section.iter().sum::<usize>()
                ),
            });
        }
        let mrope_interleaved = rope_obj
            .and_then(|r| r.get("mrope_interleaved"))
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let tie_word_embeddings = top
            .get("tie_word_embeddings")
            .or_else(|| text.get("tie_word_embeddings"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let hidden_act = text
            .get("hidden_act")
            .and_then(Value::as_str)
            .unwrap_or("silu")
            .to_string();
        if hidden_act != "silu" {
            return Err(ModelError::Config {
                path: origin.to_string(),
                msg: format!("hidden_act {hidden_act:?} is not supported (only silu)"),
            });
        }
        if num_attention_heads % num_key_value_heads != 0 {
            return Err(ModelError::Config {
                path: origin.to_string(),
                msg: format!(
                    "num_attention_heads {num_attention_heads} is not a multiple of num_key_value_heads {num_key_value_heads}"
                ),
            });
        }
        Ok(Self {
            vocab_size: req("vocab_size")?,
            hidden_size,
            intermediate_size: req("intermediate_size")?,
            num_hidden_layers: req("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps: text
                .get("rms_norm_eps")
                .and_then(Value::as_f64)
                .unwrap_or(1e-6),
            rope_theta,
            mrope_section,
            mrope_interleaved,
            attention_bias: text
                .get("attention_bias")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            hidden_act,
            tie_word_embeddings,
            max_position_embeddings: text
                .get("max_position_embeddings")
                .and_then(Value::as_u64)
                .unwrap_or(128_000) as usize,
        })
    }

    /// Which axis (0 = time, 1 = height, 2 = width) owns each of the `head_dim / 2` frequency
    /// slots. Interleaved: H owns slots 1, 4, … below `3·section[1]`, W owns 2, 5, … below
    /// `3·section[2]`, T owns the rest. Chunked: T, then H, then W, in contiguous runs.
    pub fn mrope_axis_of_slots(&self) -> Vec<usize> {
        mrope_axes(self.mrope_section, self.mrope_interleaved)
    }

    /// Number of query heads sharing one key/value head.
    pub fn kv_groups(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }
}

/// See [`TextConfig::mrope_axis_of_slots`].
pub fn mrope_axes(section: [usize; 3], interleaved: bool) -> Vec<usize> {
    let half: usize = section.iter().sum();
    let mut axes = vec![0usize; half];
    if interleaved {
        for (axis, offset) in [(1usize, 1usize), (2, 2)] {
            let mut j = offset;
            while j < section[axis] * 3 && j < half {
                axes[j] = axis;
                j += 3;
            }
        }
    } else {
        let mut j = 0;
        for (axis, &len) in section.iter().enumerate() {
            for a in axes.iter_mut().skip(j).take(len) {
                *a = axis;
            }
            j += len;
        }
    }
    axes
}

impl Qwen3VlConfig {
    /// Reads `config.json` from a file path.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Self::from_json_str(&text, &path.display().to_string())
    }

    /// Parses the text of a `config.json`; `origin` names it in errors.
    pub fn from_json_str(json: &str, origin: &str) -> Result<Self> {
        let top: Value = serde_json::from_str(json).map_err(|e| ModelError::Config {
            path: origin.to_string(),
            msg: format!("not valid JSON: {e}"),
        })?;
        // A plain Qwen3 text checkpoint has no `text_config`: read the top level then.
        let text = top.get("text_config").unwrap_or(&top);
        let text_cfg = TextConfig::from_value(text, &top, origin)?;
        let mut eos = ids_from_value(top.get("eos_token_id"));
        for id in ids_from_value(text.get("eos_token_id")) {
            if !eos.contains(&id) {
                eos.push(id);
            }
        }
        let tokens = TokenIds {
            image_token_id: get_u32(&top, "image_token_id"),
            video_token_id: get_u32(&top, "video_token_id"),
            vision_start_token_id: get_u32(&top, "vision_start_token_id"),
            vision_end_token_id: get_u32(&top, "vision_end_token_id"),
            bos_token_id: get_u32(&top, "bos_token_id").or_else(|| get_u32(text, "bos_token_id")),
            eos_token_ids: eos,
            pad_token_id: get_u32(&top, "pad_token_id").or_else(|| get_u32(text, "pad_token_id")),
        };
        let dtype = top
            .get("torch_dtype")
            .or_else(|| top.get("dtype"))
            .or_else(|| text.get("torch_dtype"))
            .or_else(|| text.get("dtype"))
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(Self {
            text: text_cfg,
            tokens,
            vision_config: top.get("vision_config").cloned(),
            dtype,
        })
    }
}

impl GenerationConfig {
    /// Reads `generation_config.json`; a missing file gives the empty configuration.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("generation_config.json");
        if !path.exists() {
            return Ok(Self::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        serde_json::from_str(&text).map_err(|e| ModelError::Config {
            path: path.display().to_string(),
            msg: e.to_string(),
        })
    }
}

/// Stop ids: `generation_config.json`'s `eos_token_id` if it states any, else `config.json`'s.
pub fn stop_ids(cfg: &Qwen3VlConfig, gen_cfg: &GenerationConfig) -> Vec<u32> {
    if gen_cfg.eos_token_id.is_empty() {
        cfg.tokens.eos_token_ids.clone()
    } else {
        gen_cfg.eos_token_id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = r#"{"tie_word_embeddings": true, "image_token_id": 9, "eos_token_id": 3,
      "text_config": {"vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
        "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 12,
        "rope_theta": 5000.0, "eos_token_id": [3, 4],
        "rope_scaling": {"rope_type": "default", "mrope_section": [2, 2, 2], "mrope_interleaved": true}}}"#;
    const NEW: &str = r#"{"text_config": {"vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
        "num_hidden_layers": 1, "num_attention_heads": 2, "head_dim": 12, "tie_word_embeddings": false,
        "rope_parameters": {"rope_type": "default", "rope_theta": 7.0, "mrope_section": [4, 1, 1]}}}"#;

    #[test]
    fn both_rope_key_styles_parse() {
        let a = Qwen3VlConfig::from_json_str(OLD, "old").unwrap();
        assert_eq!(a.text.rope_theta, 5000.0);
        assert_eq!(a.text.mrope_section, [2, 2, 2]);
        assert!(a.text.tie_word_embeddings);
        assert_eq!(a.text.num_key_value_heads, 1);
        assert_eq!(a.tokens.image_token_id, Some(9));
        assert_eq!(a.tokens.eos_token_ids, vec![3, 4]);
        let b = Qwen3VlConfig::from_json_str(NEW, "new").unwrap();
        assert_eq!(b.text.rope_theta, 7.0);
        assert_eq!(b.text.mrope_section, [4, 1, 1]);
        assert!(!b.text.tie_word_embeddings);
        assert_eq!(b.text.num_key_value_heads, 2);
    }

    #[test]
    fn bad_section_is_an_error_naming_the_file() {
        let bad = NEW.replace("[4, 1, 1]", "[4, 1, 2]");
        let err = Qwen3VlConfig::from_json_str(&bad, "x/config.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x/config.json") && err.contains("mrope_section"),
            "{err}"
        );
    }

    #[test]
    fn interleaved_axes_match_qwen3_vl_layout() {
        let axes = mrope_axes([24, 20, 20], true);
        assert_eq!(axes.len(), 64);
        for j in 0..64 {
            let want = if j >= 60 { 0 } else { [0, 1, 2][j % 3] };
            assert_eq!(axes[j], want, "slot {j}");
        }
        assert_eq!(mrope_axes([2, 1, 1], false), vec![0, 0, 1, 2]);
    }
}
