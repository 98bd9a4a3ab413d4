//! The training configuration: one serde (TOML) file, saved as `RUN_DIR/config.toml`.
//!
//! [`TrainConfig::default`] is SPEC §5's released recipe (the one that trained the published
//! CoViP model), even where it is surprising: rollouts sample at the checkpoint's
//! `generation_config.json` values (0.7 / 20 / 0.8), log-probs are taken without temperature
//! scaling, and with μ = 1 the clip never binds.
use std::path::{Path, PathBuf};

use covip_model::lora::LoraConfig;
use serde::{Deserialize, Serialize};

use super::TrainError;
use crate::loss::{AdvantageScale, PolicyLossConfig, PolicyLossKind};

/// The policy objective, as `--loss` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossName {
    /// GSPO (sequence ratio, sequence-mean aggregation): the released default.
    Gspo,
    /// GSPO-token.
    GspoToken,
    /// GRPO (token ratio, ε 0.2).
    Grpo,
    /// Dr.GRPO (no std division of the advantages, constant normaliser).
    DrGrpo,
}

impl LossName {
    /// Parses `gspo|gspo-token|grpo|dr-grpo`.
    pub fn parse(s: &str) -> Result<LossName, TrainError> {
        Ok(match s {
            "gspo" => LossName::Gspo,
            "gspo-token" => LossName::GspoToken,
            "grpo" => LossName::Grpo,
            "dr-grpo" => LossName::DrGrpo,
            other => {
                return Err(TrainError::Config(format!(
                    "loss {other:?}: expected gspo, gspo-token, grpo or dr-grpo"
                )));
            }
        })
    }

    fn defaults(self) -> PolicyLossConfig {
        match self {
            LossName::Gspo => PolicyLossConfig::gspo(),
            LossName::GspoToken => PolicyLossConfig::gspo_token(),
            LossName::Grpo => PolicyLossConfig::grpo(),
            LossName::DrGrpo => PolicyLossConfig::dr_grpo(),
        }
    }
}

/// AdamW and its schedule. burn's own defaults differ (ε 1e-5, weight decay 1e-4): every
/// value is set explicitly from here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerConfig {
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Linear warm-up over this many optimiser updates (0 as released), then linear decay to
    /// 0 at the end of the run.
    pub warmup_steps: usize,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
    /// Global gradient-norm clip over every LoRA gradient together (as torch's
    /// `clip_grad_norm_`); 0 disables.
    pub max_grad_norm: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            learning_rate: 5e-6,
            warmup_steps: 0,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
            max_grad_norm: 1.0,
        }
    }
}

/// Rollout sampling. A value left out is taken from the checkpoint's
/// `generation_config.json`, and where that has none from the released checkpoint's
/// (temperature 0.7, top-k 20, top-p 0.8).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutSampling {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
}

/// Everything a run is made of besides the model, the data and the judge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Seeds the data order, the prompts' random parts, the LoRA init, the rollouts and the
    /// dropout masks.
    pub seed: u64,
    /// Passes over the training list (ignored when `max_steps` is set).
    pub epochs: usize,
    /// Total steps; wins over `epochs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<usize>,
    /// Prompts per step.
    pub batch_size: usize,
    /// G: completions per prompt.
    pub group_size: usize,
    /// μ: optimisation passes per rollout batch.
    pub mu: usize,
    /// A checkpoint every this many steps (and one after the last step).
    pub save_every: usize,
    /// Rollout length limit.
    pub max_new_tokens: usize,
    pub loss: LossName,
    /// Lower clip; left out: the loss's default (3e-4 for GSPO, 0.2 for GRPO).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epsilon_low: Option<f64>,
    /// Upper clip; left out: the loss's default (4e-4 for GSPO, 0.2 for GRPO).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epsilon_high: Option<f64>,
    /// β of the KL to the frozen base (0: no reference pass).
    pub beta: f64,
    /// Prompt wording (covip-data templates as JSON); left out: covip's own wording.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub templates: Option<PathBuf>,
    /// Bounds of the image processor's resizing (`height × width`); left out: the
    /// checkpoint's `preprocessor_config.json`. The release trained with min 3136 and max
    /// 12845056 (SPEC §5); set them here to match it exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_min_pixels: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_max_pixels: Option<usize>,
    /// A PEFT LoRA adapter folder to start from instead of a fresh adapter (A random, B zero):
    /// an SFT adapter, or another run's export. Its r, α and target modules replace the
    /// `[lora]` ones (dropout stays the configuration's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_adapter: Option<PathBuf>,
    /// Load the base's weights as f32 even when the checkpoint stores bf16 (`--f32`): on the
    /// CPU backend f32 runs faster than bf16 (1.75× per step measured at Qwen3-VL-2B's shape),
    /// at twice the weights' memory. Off: the stored dtype, as released (bf16 on GPUs).
    #[serde(rename = "f32")]
    pub load_f32: bool,
    pub optimizer: OptimizerConfig,
    pub sampling: RolloutSampling,
    pub lora: LoraConfig,
}

impl Default for TrainConfig {
    /// SPEC §5's released recipe.
    fn default() -> Self {
        TrainConfig {
            seed: 42,
            epochs: 2,
            max_steps: None,
            batch_size: 1,
            group_size: 4,
            mu: 1,
            save_every: 50,
            max_new_tokens: 512,
            loss: LossName::Gspo,
            epsilon_low: None,
            epsilon_high: None,
            beta: 0.0,
            templates: None,
            init_adapter: None,
            load_f32: false,
            image_min_pixels: None,
            image_max_pixels: None,
            optimizer: OptimizerConfig::default(),
            sampling: RolloutSampling::default(),
            lora: LoraConfig::default(),
        }
    }
}

impl TrainConfig {
    /// Reads a TOML file; unknown keys are errors naming them.
    pub fn from_file(path: &Path) -> Result<TrainConfig, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        Self::from_toml(&text).map_err(|e| TrainError::Config(format!("{}: {e}", path.display())))
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<TrainConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The TOML text (what `RUN_DIR/config.toml` holds).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a TrainConfig always serialises")
    }

    /// The loss settings: the named loss's defaults with the clip range and β of this file.
    pub fn loss_config(&self) -> PolicyLossConfig {
        let mut c = self.loss.defaults();
        if let Some(e) = self.epsilon_low {
            c.epsilon_low = e;
        }
        if let Some(e) = self.epsilon_high {
            c.epsilon_high = e;
        }
        c.beta = self.beta;
        if c.kind == PolicyLossKind::DrGrpo {
            c.max_completion_len = Some(self.max_new_tokens);
        }
        c
    }

    /// Dr.GRPO does not divide by the group's std; the others do.
    pub fn advantage_scale(&self) -> AdvantageScale {
        match self.loss {
            LossName::DrGrpo => AdvantageScale::None,
            _ => AdvantageScale::GroupStd,
        }
    }

    /// Checks what the loop relies on; the error names the key.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |k: &str, why: &str| Err(TrainError::Config(format!("{k}: {why}")));
        if self.batch_size == 0 {
            return bad("batch-size", "must be at least 1");
        }
        if self.group_size < 2 && self.advantage_scale() == AdvantageScale::GroupStd {
            return bad(
                "group-size",
                "must be at least 2 (group advantages divide by an unbiased std)",
            );
        }
        if self.group_size == 0 {
            return bad("group-size", "must be at least 1");
        }
        if self.mu == 0 {
            return bad("mu", "must be at least 1");
        }
        if self.save_every == 0 {
            return bad("save-every", "must be at least 1");
        }
        if self.max_new_tokens == 0 {
            return bad("max-new-tokens", "must be at least 1");
        }
        if self.max_steps == Some(0) || (self.max_steps.is_none() && self.epochs == 0) {
            return bad("max-steps / epochs", "the run would have no step");
        }
        if !(self.optimizer.learning_rate.is_finite() && self.optimizer.learning_rate >= 0.0) {
            return bad("learning-rate", "must be a finite number ≥ 0");
        }
        if let (Some(lo), Some(hi)) = (self.image_min_pixels, self.image_max_pixels)
            && lo > hi
        {
            return bad("image_min_pixels", "is above image_max_pixels");
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return bad("beta", "must be a finite number ≥ 0");
        }
        if !(self.optimizer.max_grad_norm.is_finite() && self.optimizer.max_grad_norm >= 0.0) {
            return bad("max-grad-norm", "must be a finite number ≥ 0");
        }
        self.lora
            .validate()
            .map_err(|e| TrainError::Config(format!("lora: {e}")))
    }

    /// Steps of the run for a training list of `n` prompts: `max_steps`, else `epochs` ×
    /// ⌈n / batch_size⌉ (the last batch of an epoch may be smaller).
    pub fn total_steps(&self, n: usize) -> usize {
        self.max_steps
            .unwrap_or(self.epochs * n.div_ceil(self.batch_size.max(1)))
    }
}

/// Command-line values that win over the file (as TRL's flags do): each `Some` replaces the
/// key of the same name. `max_steps` wins over `epochs` by the configuration's own rule.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainOverrides {
    pub max_steps: Option<usize>,
    pub epochs: Option<usize>,
    pub seed: Option<u64>,
    pub save_every: Option<usize>,
    pub max_new_tokens: Option<usize>,
    pub group_size: Option<usize>,
    pub batch_size: Option<usize>,
    pub learning_rate: Option<f64>,
    pub loss: Option<LossName>,
    pub mu: Option<usize>,
    pub beta: Option<f64>,
    pub epsilon_low: Option<f64>,
    pub epsilon_high: Option<f64>,
    pub lora_rank: Option<usize>,
    pub lora_alpha: Option<f64>,
    pub lora_dropout: Option<f64>,
    /// Module names, e.g. `q_proj,v_proj`.
    pub lora_targets: Option<Vec<String>>,
    pub temperature: Option<f32>,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    pub templates: Option<PathBuf>,
    pub init_adapter: Option<PathBuf>,
    pub f32: Option<bool>,
}

impl TrainOverrides {
    /// Applies every given value to `c`.
    pub fn apply(&self, c: &mut TrainConfig) {
        fn set<T: Clone>(dst: &mut T, v: &Option<T>) {
            if let Some(v) = v {
                *dst = v.clone();
            }
        }
        if self.max_steps.is_some() {
            c.max_steps = self.max_steps;
        }
        set(&mut c.epochs, &self.epochs);
        set(&mut c.seed, &self.seed);
        set(&mut c.save_every, &self.save_every);
        set(&mut c.max_new_tokens, &self.max_new_tokens);
        set(&mut c.group_size, &self.group_size);
        set(&mut c.batch_size, &self.batch_size);
        set(&mut c.optimizer.learning_rate, &self.learning_rate);
        set(&mut c.loss, &self.loss);
        set(&mut c.mu, &self.mu);
        set(&mut c.beta, &self.beta);
        if self.epsilon_low.is_some() {
            c.epsilon_low = self.epsilon_low;
        }
        if self.epsilon_high.is_some() {
            c.epsilon_high = self.epsilon_high;
        }
        set(&mut c.lora.rank, &self.lora_rank);
        set(&mut c.lora.alpha, &self.lora_alpha);
        set(&mut c.lora.dropout, &self.lora_dropout);
        set(&mut c.lora.targets, &self.lora_targets);
        if self.temperature.is_some() {
            c.sampling.temperature = self.temperature;
        }
        if self.top_k.is_some() {
            c.sampling.top_k = self.top_k;
        }
        if self.top_p.is_some() {
            c.sampling.top_p = self.top_p;
        }
        set(&mut c.load_f32, &self.f32);
        if self.init_adapter.is_some() {
            c.init_adapter = self.init_adapter.clone();
        }
        if self.templates.is_some() {
            c.templates = self.templates.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_released_recipe() {
        let c = TrainConfig::default();
        assert_eq!((c.group_size, c.batch_size, c.mu), (4, 1, 1));
        assert_eq!((c.epochs, c.save_every, c.seed), (2, 50, 42));
        assert_eq!(c.max_new_tokens, 512);
        let l = c.loss_config();
        assert_eq!(l.kind, PolicyLossKind::Gspo);
        assert_eq!((l.epsilon_low, l.epsilon_high, l.beta), (3e-4, 4e-4, 0.0));
        let o = &c.optimizer;
        assert_eq!((o.learning_rate, o.warmup_steps), (5e-6, 0));
        assert_eq!(
            (o.beta1, o.beta2, o.epsilon, o.weight_decay),
            (0.9, 0.999, 1e-8, 0.0)
        );
        assert_eq!(o.max_grad_norm, 1.0);
        assert_eq!(
            (c.lora.rank, c.lora.alpha, c.lora.dropout),
            (64, 128.0, 0.05)
        );
        assert_eq!(c.sampling, RolloutSampling::default());
        assert_eq!(c.total_steps(10), 20);
        c.validate().unwrap();
    }

    #[test]
    fn toml_round_trip_and_partial_files() {
        let mut c = TrainConfig {
            max_steps: Some(7),
            loss: LossName::DrGrpo,
            epsilon_high: Some(0.28),
            image_min_pixels: Some(3136),
            image_max_pixels: Some(12845056),
            ..TrainConfig::default()
        };
        c.sampling.temperature = Some(1.0);
        c.lora.targets = vec!["q_proj".into(), "v_proj".into()];
        let text = c.to_toml();
        assert_eq!(TrainConfig::from_toml(&text).unwrap(), c);
        let partial =
            TrainConfig::from_toml("group_size = 8\n[optimizer]\nlearning_rate = 1e-5\n").unwrap();
        assert_eq!(partial.group_size, 8);
        assert_eq!(partial.optimizer.learning_rate, 1e-5);
        assert_eq!(partial.optimizer.epsilon, 1e-8);
        let err = TrainConfig::from_toml("group_sise = 8\n").unwrap_err();
        assert!(err.contains("group_sise"), "{err}");
        let err = TrainConfig::from_toml("loss = \"ppo\"\n").unwrap_err();
        assert!(err.contains("ppo"), "{err}");
    }

    #[test]
    fn loss_defaults_follow_the_loss() {
        let c = TrainConfig {
            loss: LossName::Grpo,
            ..TrainConfig::default()
        };
        assert_eq!(c.loss_config().epsilon_low, 0.2);
        let c = TrainConfig {
            loss: LossName::DrGrpo,
            max_new_tokens: 9,
            ..TrainConfig::default()
        };
        assert_eq!(c.advantage_scale(), AdvantageScale::None);
        assert_eq!(c.loss_config().max_completion_len, Some(9));
        assert!(LossName::parse("ppo").is_err());
        assert_eq!(LossName::parse("gspo-token").unwrap(), LossName::GspoToken);
    }

    #[test]
    fn flags_win_over_the_file() {
        let mut c = TrainConfig::from_toml(
            "epochs = 3\nseed = 1\ngroup_size = 8\n[lora]\nrank = 16\n[optimizer]\nlearning_rate = 1e-5\n",
        )
        .unwrap();
        TrainOverrides {
            max_steps: Some(5),
            seed: Some(9),
            learning_rate: Some(2e-6),
            loss: Some(LossName::Grpo),
            lora_targets: Some(vec!["q_proj".into()]),
            temperature: Some(1.0),
            ..TrainOverrides::default()
        }
        .apply(&mut c);
        assert_eq!(c.total_steps(100), 5, "max-steps wins over epochs");
        assert_eq!((c.epochs, c.seed, c.group_size), (3, 9, 8));
        assert_eq!(c.optimizer.learning_rate, 2e-6);
        assert_eq!(c.loss, LossName::Grpo);
        assert_eq!(c.lora.rank, 16);
        assert_eq!(c.lora.targets, ["q_proj"]);
        assert_eq!(c.sampling.temperature, Some(1.0));
        let before = c.clone();
        TrainOverrides::default().apply(&mut c);
        assert_eq!(c, before);

        // `f32 = true` in the file, `--f32` and `--init-adapter` on the command line.
        let mut c = TrainConfig::from_toml("f32 = true\n").unwrap();
        assert!(c.load_f32);
        assert!(c.to_toml().contains("f32 = true"), "{}", c.to_toml());
        c.load_f32 = false;
        TrainOverrides {
            f32: Some(true),
            init_adapter: Some("adapter".into()),
            ..TrainOverrides::default()
        }
        .apply(&mut c);
        assert!(c.load_f32);
        assert_eq!(
            c.init_adapter.as_deref(),
            Some(std::path::Path::new("adapter"))
        );
    }

    #[test]
    fn validation_names_the_key() {
        let c = TrainConfig {
            group_size: 1,
            ..TrainConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("group-size"));
        let c = TrainConfig {
            max_steps: Some(0),
            ..TrainConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("max-steps"));
        let c = TrainConfig {
            max_steps: Some(3),
            epochs: 0,
            ..TrainConfig::default()
        };
        assert_eq!(c.total_steps(100), 3);
    }
}
