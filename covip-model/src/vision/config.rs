//! The vision settings of a checkpoint's `config.json` (`vision_config`).
use serde::Deserialize;
use serde_json::Value;

use crate::error::{ModelError, Result};

/// Activation of the vision MLP (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisionAct {
    /// `gelu_pytorch_tanh` / `gelu_new` / `gelu_fast`: the tanh approximation.
    GeluTanh,
    /// `gelu`: the exact (erf) form.
    Gelu,
    Silu,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VisionConfig {
    pub depth: usize,
    pub hidden_size: usize,
    pub num_heads: usize,
    pub intermediate_size: usize,
    pub in_channels: usize,
    pub patch_size: usize,
    pub temporal_patch_size: usize,
    pub spatial_merge_size: usize,
    /// Width of the merged tokens (the text model's hidden size).
    pub out_hidden_size: usize,
    /// Rows of the learned position table; a square grid of `sqrt` per side.
    pub num_position_embeddings: usize,
    /// Blocks after which a DeepStack merger takes the hidden states.
    pub deepstack_visual_indexes: Vec<usize>,
    pub hidden_act: VisionAct,
    /// θ of the 2D rotary embedding.
    pub rope_theta: f64,
}

#[derive(Deserialize)]
struct Raw {
    model_type: Option<String>,
    depth: usize,
    hidden_size: usize,
    num_heads: usize,
    intermediate_size: usize,
    #[serde(default = "three")]
    in_channels: usize,
    patch_size: usize,
    temporal_patch_size: usize,
    spatial_merge_size: usize,
    out_hidden_size: usize,
    num_position_embeddings: usize,
    #[serde(default)]
    deepstack_visual_indexes: Vec<usize>,
    #[serde(default = "tanh")]
    hidden_act: String,
    rope_theta: Option<f64>,
    rope_parameters: Option<RawRope>,
}

/// `rope_parameters` of the vision config.
#[derive(Deserialize)]
struct RawRope {
    rope_theta: Option<f64>,
    rope_type: Option<String>,
}

fn three() -> usize {
    3
}

fn tanh() -> String {
    "gelu_pytorch_tanh".into()
}

impl VisionConfig {
    /// Parses `vision_config` (`origin` names the file in errors). Accepts the vision
    /// `model_type` spelled `qwen3_vl` or `qwen3_vl_vision` (or absent).
    pub fn from_value(v: &Value, origin: &str) -> Result<Self> {
        let bad = |msg: String| ModelError::Config {
            path: origin.to_string(),
            msg: format!("vision_config: {msg}"),
        };
        let raw: Raw = serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            bad(format!("{path}: {}", e.into_inner()))
        })?;
        if let Some(t) = &raw.model_type
            && t != "qwen3_vl"
            && t != "qwen3_vl_vision"
        {
            return Err(bad(format!(
                "model_type {t:?} is not a Qwen3-VL vision tower"
            )));
        }
        let hidden_act = match raw.hidden_act.as_str() {
            "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast" => VisionAct::GeluTanh,
            "gelu" => VisionAct::Gelu,
            "silu" => VisionAct::Silu,
            other => return Err(bad(format!("unsupported hidden_act {other:?}"))),
        };
        let rope_theta = raw
            .rope_parameters
            .as_ref()
            .and_then(|p| p.rope_theta)
            .or(raw.rope_theta)
            .unwrap_or(10_000.0);
        if let Some(t) = raw
            .rope_parameters
            .as_ref()
            .and_then(|p| p.rope_type.as_deref())
            && t != "axial"
            && t != "default"
        {
            return Err(bad(format!("rope_type {t:?} (only axial 2D rope)")));
        }
        let cfg = Self {
            depth: raw.depth,
            hidden_size: raw.hidden_size,
            num_heads: raw.num_heads,
            intermediate_size: raw.intermediate_size,
            in_channels: raw.in_channels,
            patch_size: raw.patch_size,
            temporal_patch_size: raw.temporal_patch_size,
            spatial_merge_size: raw.spatial_merge_size,
            out_hidden_size: raw.out_hidden_size,
            num_position_embeddings: raw.num_position_embeddings,
            deepstack_visual_indexes: raw.deepstack_visual_indexes,
            hidden_act,
            rope_theta,
        };
        // Bounds far above any real tower, so that no shape computed from them can overflow or
        // allocate without bound (patch_dim multiplies four of them).
        use crate::config::{MAX_DIM, MAX_HEADS, MAX_LAYERS};
        for (v, key, max) in [
            (cfg.depth, "depth", MAX_LAYERS),
            (cfg.hidden_size, "hidden_size", MAX_DIM),
            (cfg.num_heads, "num_heads", MAX_HEADS),
            (cfg.intermediate_size, "intermediate_size", MAX_DIM),
            (cfg.out_hidden_size, "out_hidden_size", MAX_DIM),
            (
                cfg.num_position_embeddings,
                "num_position_embeddings",
                MAX_DIM,
            ),
            (cfg.in_channels, "in_channels", 16),
            (cfg.patch_size, "patch_size", 1024),
            (cfg.temporal_patch_size, "temporal_patch_size", 16),
            (cfg.spatial_merge_size, "spatial_merge_size", 64),
        ] {
            if v > max {
                return Err(bad(format!("{key} is {v}, more than the supported {max}")));
            }
        }
        if cfg.num_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_heads) {
            return Err(bad("hidden_size must be a multiple of num_heads".into()));
        }
        if !cfg.head_dim().is_multiple_of(4) {
            return Err(bad("head_dim must be a multiple of 4 (2D rope)".into()));
        }
        let side = cfg.grid_side();
        if side * side != cfg.num_position_embeddings || side < 2 {
            return Err(bad(format!(
                "num_position_embeddings {} is not a square of side >= 2",
                cfg.num_position_embeddings
            )));
        }
        if let Some(&i) = cfg
            .deepstack_visual_indexes
            .iter()
            .find(|&&i| i >= cfg.depth)
        {
            return Err(bad(format!("deepstack index {i} >= depth {}", cfg.depth)));
        }
        Ok(cfg)
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }

    /// Side of the learned position grid (`sqrt(num_position_embeddings)`).
    pub fn grid_side(&self) -> usize {
        (self.num_position_embeddings as f64).sqrt().round() as usize
    }

    /// Inputs of the patch embedding: `in_channels · temporal_patch_size · patch_size²`.
    pub fn patch_dim(&self) -> usize {
        self.in_channels * self.temporal_patch_size * self.patch_size * self.patch_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        serde_json::json!({
            "depth": 2, "hidden_size": 32, "num_heads": 2, "intermediate_size": 64,
            "patch_size": 16, "temporal_patch_size": 2, "spatial_merge_size": 2,
            "out_hidden_size": 64, "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0, 1], "hidden_act": "gelu_pytorch_tanh",
            "model_type": "qwen3_vl"
        })
    }

    #[test]
    fn parses_both_model_type_spellings() {
        let a = VisionConfig::from_value(&base(), "x").unwrap();
        assert_eq!((a.grid_side(), a.head_dim(), a.patch_dim()), (8, 16, 1536));
        assert_eq!(a.hidden_act, VisionAct::GeluTanh);
        let mut b = base();
        b["model_type"] = "qwen3_vl_vision".into();
        b["rope_parameters"] = serde_json::json!({"rope_theta": 500.0, "rope_type": "axial"});
        assert_eq!(VisionConfig::from_value(&b, "x").unwrap().rope_theta, 500.0);
        b["model_type"] = "siglip".into();
        assert!(VisionConfig::from_value(&b, "x").is_err());
    }

    #[test]
    fn rejects_bad_tables_and_indexes() {
        let mut b = base();
        b["num_position_embeddings"] = 60.into();
        assert!(VisionConfig::from_value(&b, "x").is_err());
        let mut b = base();
        b["deepstack_visual_indexes"] = serde_json::json!([2]);
        assert!(VisionConfig::from_value(&b, "x").is_err());
    }
}
