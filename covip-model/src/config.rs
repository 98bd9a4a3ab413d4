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

/// A token id or a list of them (`eos_token_id` is either in released files).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(u32),
    Many(Vec<u32>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<u32> {
        match self {
            OneOrMany::One(x) => vec![x],
            OneOrMany::Many(v) => v,
        }
    }
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<u32>, D::Error> {
    Ok(Option::<OneOrMany>::deserialize(d)?.map_or_else(Vec::new, OneOrMany::into_vec))
}

/// The rope settings, under `rope_parameters` (newer) or `rope_scaling` (older).
#[derive(Deserialize, Default)]
struct RawRope {
    rope_type: Option<String>,
    /// The older spelling of `rope_type`.
    #[serde(rename = "type")]
    kind: Option<String>,
    rope_theta: Option<f64>,
    mrope_section: Option<Vec<usize>>,
    mrope_interleaved: Option<bool>,
}

/// `text_config` as written (or the top level of a plain Qwen3 `config.json`); validated
/// into [`TextConfig`].
#[derive(Deserialize)]
struct RawText {
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_parameters: Option<RawRope>,
    rope_scaling: Option<RawRope>,
    attention_bias: Option<bool>,
    hidden_act: Option<String>,
    tie_word_embeddings: Option<bool>,
    max_position_embeddings: Option<usize>,
    #[serde(default, deserialize_with = "one_or_many")]
    eos_token_id: Vec<u32>,
    bos_token_id: Option<u32>,
    pad_token_id: Option<u32>,
    torch_dtype: Option<String>,
    dtype: Option<String>,
}

/// The top level of `config.json`.
#[derive(Deserialize)]
struct RawTop {
    text_config: Option<RawText>,
    /// Kept as written: the vision tower parses it ([`crate::vision::VisionConfig`]), and a
    /// text-only load never looks at it.
    vision_config: Option<Value>,
    tie_word_embeddings: Option<bool>,
    image_token_id: Option<u32>,
    video_token_id: Option<u32>,
    vision_start_token_id: Option<u32>,
    vision_end_token_id: Option<u32>,
    bos_token_id: Option<u32>,
    #[serde(default, deserialize_with = "one_or_many")]
    eos_token_id: Vec<u32>,
    pad_token_id: Option<u32>,
    torch_dtype: Option<String>,
    dtype: Option<String>,
}

/// Deserialises `json` into `T`; errors name the field's path (`text_config.vocab_size`).
fn from_json<T: serde::de::DeserializeOwned>(json: &str, origin: &str) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ModelError::Config {
            path: origin.to_string(),
            msg: if path == "." {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            },
        }
    })
}

/// The largest width (vocabulary, hidden, MLP) a config may declare: 16M, far above any real
/// checkpoint, and small enough that products of two sizes cannot overflow.
pub const MAX_DIM: usize = 1 << 24;
/// The most layers (text decoder or vision tower) a config may declare.
pub const MAX_LAYERS: usize = 4096;
/// The most attention heads a config may declare.
pub const MAX_HEADS: usize = 4096;
/// The largest per-head width a config may declare.
pub const MAX_HEAD_DIM: usize = 8192;

impl TextConfig {
    /// Validates a deserialised `text_config`. `top_tie` is the top level's
    /// `tie_word_embeddings`, which wins over the text config's.
    fn from_raw(text: RawText, top_tie: Option<bool>, origin: &str) -> Result<Self> {
        let bad = |msg: String| ModelError::Config {
            path: origin.to_string(),
            msg,
        };
        let req = |v: Option<usize>, key: &str| {
            v.ok_or_else(|| bad(format!("text_config.{key} is missing")))
        };
        // Sizes far beyond any real checkpoint are refused here, so that nothing computed from
        // them (tensor shapes, the name table, caches) can overflow or allocate without bound.
        let bounded = |v: Option<usize>, key: &str, max: usize| -> Result<Option<usize>> {
            match v {
                Some(x) if x > max => Err(bad(format!(
                    "text_config.{key} is {x}, more than the supported {max}"
                ))),
                other => Ok(other),
            }
        };
        for (v, key, max) in [
            (text.vocab_size, "vocab_size", MAX_DIM),
            (text.hidden_size, "hidden_size", MAX_DIM),
            (text.intermediate_size, "intermediate_size", MAX_DIM),
            (text.num_hidden_layers, "num_hidden_layers", MAX_LAYERS),
            (text.num_attention_heads, "num_attention_heads", MAX_HEADS),
            (text.num_key_value_heads, "num_key_value_heads", MAX_HEADS),
            (text.head_dim, "head_dim", MAX_HEAD_DIM),
        ] {
            bounded(v, key, max)?;
        }
        let hidden_size = req(text.hidden_size, "hidden_size")?;
        let num_attention_heads = req(text.num_attention_heads, "num_attention_heads")?;
        if num_attention_heads == 0 {
            return Err(bad("text_config.num_attention_heads is 0".into()));
        }
        let num_key_value_heads = text.num_key_value_heads.unwrap_or(num_attention_heads);
        if num_key_value_heads == 0 || num_attention_heads % num_key_value_heads != 0 {
            return Err(bad(format!(
                "num_attention_heads {num_attention_heads} is not a multiple of num_key_value_heads {num_key_value_heads}"
            )));
        }
        let head_dim = text.head_dim.unwrap_or(hidden_size / num_attention_heads);
        // Rope: newer `rope_parameters`, else older `rope_scaling` + `rope_theta`.
        let params_theta = text.rope_parameters.as_ref().and_then(|r| r.rope_theta);
        let scaling_theta = text.rope_scaling.as_ref().and_then(|r| r.rope_theta);
        let rope = text
            .rope_parameters
            .or(text.rope_scaling)
            .unwrap_or_default();
        let rope_theta = params_theta
            .or(text.rope_theta)
            .or(scaling_theta)
            .ok_or_else(|| bad("no rope_theta in text_config (nor in rope_parameters)".into()))?;
        if let Some(kind) = rope.rope_type.as_ref().or(rope.kind.as_ref())
            && kind != "default"
            && kind != "mrope"
        {
            return Err(bad(format!(
                "rope_type {kind:?} is not supported (only default/mrope)"
            )));
        }
        let half = head_dim / 2;
        let mrope_section = match rope.mrope_section {
            Some(v) => <[usize; 3]>::try_from(v.as_slice()).map_err(|_| {
                bad(format!(
                    "mrope_section must be a list of 3 integers, got {v:?}"
                ))
            })?,
            // transformers' default for Qwen3-VL.
            None => [24, 20, 20],
        };
        let sum = mrope_section
            .iter()
            .try_fold(0usize, |a, &x| a.checked_add(x));
        if sum != Some(half) {
            return Err(bad(format!(
                "mrope_section {mrope_section:?} does not sum to head_dim/2 = {half}"
            )));
        }
        let hidden_act = text.hidden_act.unwrap_or_else(|| "silu".to_string());
        if hidden_act != "silu" {
            return Err(bad(format!(
                "hidden_act {hidden_act:?} is not supported (only silu)"
            )));
        }
        let rms_norm_eps = text.rms_norm_eps.unwrap_or(1e-6);
        if !(rms_norm_eps.is_finite() && rms_norm_eps >= 0.0) {
            return Err(bad(format!(
                "text_config.rms_norm_eps {rms_norm_eps} is not a non-negative number"
            )));
        }
        Ok(Self {
            vocab_size: req(text.vocab_size, "vocab_size")?,
            hidden_size,
            intermediate_size: req(text.intermediate_size, "intermediate_size")?,
            num_hidden_layers: req(text.num_hidden_layers, "num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps,
            rope_theta,
            mrope_section,
            mrope_interleaved: rope.mrope_interleaved.unwrap_or(true),
            attention_bias: text.attention_bias.unwrap_or(false),
            hidden_act,
            tie_word_embeddings: top_tie.or(text.tie_word_embeddings).unwrap_or(false),
            max_position_embeddings: text.max_position_embeddings.unwrap_or(128_000),
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

    /// Parses the text of a `config.json`; `origin` names it in errors, which also name the
    /// field (`text_config.hidden_size: invalid type ...`).
    pub fn from_json_str(json: &str, origin: &str) -> Result<Self> {
        let top: RawTop = from_json(json, origin)?;
        // A plain Qwen3 text checkpoint has no `text_config`: read the top level then.
        let text = match top.text_config {
            Some(t) => t,
            None => from_json::<RawText>(json, origin)?,
        };
        let mut eos = top.eos_token_id.clone();
        for &id in &text.eos_token_id {
            if !eos.contains(&id) {
                eos.push(id);
            }
        }
        let tokens = TokenIds {
            image_token_id: top.image_token_id,
            video_token_id: top.video_token_id,
            vision_start_token_id: top.vision_start_token_id,
            vision_end_token_id: top.vision_end_token_id,
            bos_token_id: top.bos_token_id.or(text.bos_token_id),
            eos_token_ids: eos,
            pad_token_id: top.pad_token_id.or(text.pad_token_id),
        };
        let dtype = top
            .torch_dtype
            .or(top.dtype)
            .or_else(|| text.torch_dtype.clone())
            .or_else(|| text.dtype.clone());
        Ok(Self {
            text: TextConfig::from_raw(text, top.tie_word_embeddings, origin)?,
            tokens,
            vision_config: top.vision_config,
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
        from_json(&text, &path.display().to_string())
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
    fn wrong_types_and_missing_fields_name_the_field() {
        let wrong = NEW.replace(r#""vocab_size": 10"#, r#""vocab_size": "ten""#);
        let err = Qwen3VlConfig::from_json_str(&wrong, "c.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("c.json") && err.contains("text_config.vocab_size"),
            "{err}"
        );
        let missing = NEW.replace(r#""vocab_size": 10, "#, "");
        let err = Qwen3VlConfig::from_json_str(&missing, "c.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("text_config.vocab_size is missing"), "{err}");
        let ids = OLD.replace(r#""eos_token_id": 3,"#, r#""eos_token_id": [3, "x"],"#);
        let err = Qwen3VlConfig::from_json_str(&ids, "c.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("eos_token_id"), "{err}");
        let heads = NEW.replace(r#""num_attention_heads": 2"#, r#""num_attention_heads": 0"#);
        assert!(Qwen3VlConfig::from_json_str(&heads, "c.json").is_err());
    }

    #[test]
    fn plain_text_config_reads_the_top_level() {
        let plain = r#"{"vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
            "num_hidden_layers": 1, "num_attention_heads": 2, "head_dim": 4, "rope_theta": 3.0,
            "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 0]}, "eos_token_id": 5}"#;
        let c = Qwen3VlConfig::from_json_str(plain, "p").unwrap();
        assert_eq!((c.text.rope_theta, c.text.mrope_section), (3.0, [1, 1, 0]));
        assert_eq!(c.tokens.eos_token_ids, vec![5]);
        assert!(c.vision_config.is_none());
    }

    #[test]
    fn generation_config_takes_one_or_many_stop_ids() {
        let one: GenerationConfig = from_json(r#"{"eos_token_id": 7}"#, "g").unwrap();
        let many: GenerationConfig =
            from_json(r#"{"eos_token_id": [7, 8], "top_k": 20}"#, "g").unwrap();
        assert_eq!((one.eos_token_id, many.eos_token_id), (vec![7], vec![7, 8]));
        assert!(from_json::<GenerationConfig>(r#"{"top_k": -1}"#, "g").is_err());
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
