//! LoRA (Hu et al. 2021) on the text decoder's linear layers, as PEFT computes it, and the
//! PEFT adapter files (`adapter_config.json`, `adapter_model.safetensors`).
//!
//! burn 0.21 has no LoRA, so this is covip's own: each targeted [`Linear`] gets an optional
//! [`LoraAdapter`] (A `[r, in]` kaiming-uniform, B `[out, r]` zero, scale α/r, dropout on the
//! input while training) and computes `W·x + b + s·B·A·dropout(x)`. The base weights are
//! frozen (`Module::no_grad`), the adapter is f32 whatever the base dtype (casts at the
//! boundary), and its [`ParamId`]s are derived from the module path, so an optimiser state
//! saved in one run is found again by a resumed one (burn's ids are random per run otherwise).
//!
//! Defaults are SPEC §5's released recipe: rank 64, α 128, dropout 0.05, every linear layer
//! outside the vision tower except the embeddings, `lm_head` included. Where the head is tied
//! to the embeddings (Qwen3-VL 2B and 4B) a LoRA on `lm_head` would also change the input
//! embeddings once merged: [`Qwen3Vl::apply_lora`] refuses it and says so.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use burn::module::{Module, Param, ParamId};
use burn::tensor::{DType, Distribution, Tensor, TensorData, backend::Backend};
use covip_data::rng::SeededRng;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::model::{Qwen3Vl, TEXT_PREFIX};
use crate::multimodal::Qwen3VlMultimodal;
use crate::nn::{Linear, matmul_weight_t};

/// The module names a LoRA can target, as PEFT's `target_modules` spells them.
pub const LORA_TARGETS: [&str; 8] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
    "lm_head",
];

/// The adapter's configuration file in a PEFT folder.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// The adapter's weights in a PEFT folder.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// The prefix PEFT puts before the wrapped model's module paths.
pub const PEFT_PREFIX: &str = "base_model.model.";

/// Largest rank accepted: far above any use (PEFT recipes stay ≤ 256), low enough that a
/// damaged config cannot make the loader allocate without bound.
pub const MAX_RANK: usize = 4096;
/// Largest `adapter_config.json` read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// What vLLM does with a LoRA on `lm_head`, for the exporter to say.
pub const VLLM_LM_HEAD_NOTE: &str = "this adapter trains lm_head: PEFT and transformers load it, but vLLM rejects a LoRA on \
     lm_head (it supports LoRA on the decoder's linear layers only); serve the merged \
     checkpoint instead (`covip export-adapter RUN_DIR --merged --out DIR`, \
     covip_model::export::export_merged)";

/// A LoRA's hyper-parameters (the `[lora]` part of a training configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraConfig {
    /// r: the adapter's inner dimension.
    pub rank: usize,
    /// α: the update is scaled by α / r.
    pub alpha: f64,
    /// Dropout probability on the adapter's input, in training only.
    pub dropout: f64,
    /// Module names, from [`LORA_TARGETS`].
    pub targets: Vec<String>,
}

impl Default for LoraConfig {
    /// SPEC §5: rank 64, α 128, dropout 0.05, every linear layer of the decoder and the head.
    fn default() -> Self {
        LoraConfig {
            rank: 64,
            alpha: 128.0,
            dropout: 0.05,
            targets: LORA_TARGETS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl LoraConfig {
    /// α / r, the factor of the adapter's output.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    /// Whether `lm_head` is among the targets.
    pub fn targets_lm_head(&self) -> bool {
        self.targets.iter().any(|t| t == "lm_head")
    }

    /// The same configuration without `lm_head` (what a tied-head model needs).
    pub fn without_lm_head(&self) -> Self {
        LoraConfig {
            targets: self
                .targets
                .iter()
                .filter(|t| *t != "lm_head")
                .cloned()
                .collect(),
            ..self.clone()
        }
    }

    /// [`VLLM_LM_HEAD_NOTE`] when `lm_head` is a target (vLLM will refuse the adapter).
    pub fn vllm_note(&self) -> Option<&'static str> {
        self.targets_lm_head().then_some(VLLM_LM_HEAD_NOTE)
    }

    /// The number of LoRA parameters on a decoder of shape `text`, without building it:
    /// r·(in + out) per targeted layer (184,573,952 for Qwen3-VL-8B with the defaults, as
    /// SPEC §5 states). Errors as [`Qwen3Vl::apply_lora`] does on a tied head.
    pub fn parameters_for(&self, text: &crate::config::TextConfig) -> Result<usize> {
        self.validate()?;
        if self.targets_lm_head() && text.tie_word_embeddings {
            return Err(ModelError::Input(
                "LoRA target lm_head: the head is tied to embed_tokens; leave lm_head out".into(),
            ));
        }
        let names = crate::tensor_names::TextTensors::new(text);
        let r = self.rank;
        let per =
            |wb: &crate::tensor_names::WeightBias| r * (wb.weight.shape[0] + wb.weight.shape[1]);
        let has = |t: &str| self.targets.iter().any(|x| x == t);
        let mut n = 0;
        for l in &names.layers {
            for (t, wb) in [
                ("q_proj", &l.q_proj),
                ("k_proj", &l.k_proj),
                ("v_proj", &l.v_proj),
                ("o_proj", &l.o_proj),
                ("gate_proj", &l.gate_proj),
                ("up_proj", &l.up_proj),
                ("down_proj", &l.down_proj),
            ] {
                if has(t) {
                    n += per(wb);
                }
            }
        }
        if let Some(h) = &names.lm_head
            && has("lm_head")
        {
            n += r * (h.shape[0] + h.shape[1]);
        }
        Ok(n)
    }

    /// Checks every field; the error names the field and the accepted range.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(ModelError::Input(format!("LoRA configuration: {msg}")));
        if self.rank == 0 || self.rank > MAX_RANK {
            return bad(format!("rank {} is not in 1..={MAX_RANK}", self.rank));
        }
        if !self.alpha.is_finite() || self.alpha <= 0.0 {
            return bad(format!("alpha {} must be a positive number", self.alpha));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} is not in [0, 1)", self.dropout));
        }
        if self.targets.is_empty() {
            return bad("no target modules".into());
        }
        let mut seen = BTreeSet::new();
        for t in &self.targets {
            if !LORA_TARGETS.contains(&t.as_str()) {
                return bad(format!(
                    "unknown target module {t:?} (known: {})",
                    LORA_TARGETS.join(", ")
                ));
            }
            if !seen.insert(t.as_str()) {
                return bad(format!("target module {t:?} given twice"));
            }
        }
        Ok(())
    }
}

/// A LoRA adapter beside a frozen linear layer: `Δy = scale · B · A · dropout(x)`.
#[derive(Module, Debug)]
pub struct LoraAdapter<B: Backend> {
    /// A, `[r, in]`, f32.
    pub lora_a: Param<Tensor<B, 2>>,
    /// B, `[out, r]`, f32.
    pub lora_b: Param<Tensor<B, 2>>,
    /// α / r.
    pub scale: f64,
    /// Dropout probability on the input; applied only on an autodiff backend, as burn's
    /// `Dropout` does (`model.valid()` gives the inference model without it). The mask comes
    /// from the backend's generator: a trainer that must resume bit for bit seeds it
    /// (`B::seed(device, ·)`) from its own state before each pass.
    pub dropout: f64,
}

/// FNV-1a, 64 bits: a fixed hash of module paths (std's hasher may change between releases,
/// and these values seed weights and name optimiser state across runs).
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The [`ParamId`] of one LoRA matrix: a hash of its PEFT key, the same in every run.
pub fn lora_param_id(peft_key: &str) -> ParamId {
    ParamId::from(fnv1a(&format!("covip-lora:{peft_key}")))
}

/// The PEFT key prefix of a module path (`model.language_model.layers.0.self_attn.q_proj`).
pub fn peft_prefix(module_path: &str) -> String {
    format!("{PEFT_PREFIX}{module_path}")
}

impl<B: Backend> LoraAdapter<B> {
    /// A fresh adapter for the module at `path` with `d_in` inputs and `d_out` outputs.
    ///
    /// A is drawn as PEFT's `reset_lora_parameters` does (`kaiming_uniform_(a=√5)`:
    /// uniform(−b, b) with b = √3 · √(2 / (1 + a²)) / √in = 1/√in), from a stream seeded by
    /// `seed` and the module path, so the same seed gives the same adapter in every run; B is
    /// zero, so the adapted model starts equal to the base.
    pub fn init(
        path: &str,
        d_in: usize,
        d_out: usize,
        cfg: &LoraConfig,
        seed: u64,
        device: &B::Device,
    ) -> Self {
        let r = cfg.rank;
        let a_kaiming = 5f64.sqrt();
        let gain = (2.0 / (1.0 + a_kaiming * a_kaiming)).sqrt();
        let bound = 3f64.sqrt() * gain / (d_in as f64).sqrt();
        let mut rng = SeededRng::new(fnv1a(&format!("covip-lora-init:{seed}:{path}")));
        let a: Vec<f32> = (0..r * d_in)
            .map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32)
            .collect();
        let a = Tensor::<B, 2>::from_data(TensorData::new(a, [r, d_in]), (device, DType::F32));
        let b = Tensor::<B, 2>::zeros([d_out, r], (device, DType::F32));
        Self::from_tensors(path, a, b, cfg)
    }

    /// An adapter holding the given A `[r, in]` and B `[out, r]` (cast to f32), trainable, with
    /// the path-derived ids.
    pub fn from_tensors(path: &str, a: Tensor<B, 2>, b: Tensor<B, 2>, cfg: &LoraConfig) -> Self {
        let prefix = peft_prefix(path);
        LoraAdapter {
            lora_a: Param::initialized(
                lora_param_id(&format!("{prefix}.lora_A.weight")),
                a.cast(DType::F32).require_grad(),
            ),
            lora_b: Param::initialized(
                lora_param_id(&format!("{prefix}.lora_B.weight")),
                b.cast(DType::F32).require_grad(),
            ),
            scale: cfg.scale(),
            dropout: cfg.dropout,
        }
    }

    /// r.
    pub fn rank(&self) -> usize {
        self.lora_a.val().dims()[0]
    }

    /// The update of `x` `[rows, in]` (any float dtype): `scale · (dropout(x) · Aᵀ) · Bᵀ`,
    /// `[rows, out]` in f32.
    pub fn delta(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let x = x.cast(DType::F32);
        let x = if self.dropout > 0.0 && B::ad_enabled(&x.device()) {
            let keep = 1.0 - self.dropout;
            let mask = x.random_like(Distribution::Bernoulli(keep));
            (x * mask).div_scalar(keep)
        } else {
            x
        };
        matmul_weight_t(matmul_weight_t(x, self.lora_a.val()), self.lora_b.val())
            .mul_scalar(self.scale)
    }

    /// `scale · B · A`, `[out, in]` f32: what merging adds to the base weight.
    pub fn delta_weight(&self) -> Tensor<B, 2> {
        self.lora_b
            .val()
            .matmul(self.lora_a.val())
            .mul_scalar(self.scale)
    }
}

/// One targetable linear layer: module path (checkpoint naming), PEFT target name, layer.
type Site<'a, B> = (String, &'static str, &'a Linear<B>);
type SiteMut<'a, B> = (String, &'static str, &'a mut Linear<B>);

fn layer_path(i: usize, n: &str) -> String {
    format!("{TEXT_PREFIX}layers.{i}.{n}")
}

impl<B: Backend> Qwen3Vl<B> {
    /// Every linear layer a LoRA can target, in model order (`lm_head` last when untied).
    pub fn lora_sites(&self) -> Vec<Site<'_, B>> {
        let mut out = Vec::new();
        for (i, l) in self.language_model.layers.iter().enumerate() {
            let (a, m) = (&l.self_attn, &l.mlp);
            out.push((layer_path(i, "self_attn.q_proj"), "q_proj", &a.q_proj));
            out.push((layer_path(i, "self_attn.k_proj"), "k_proj", &a.k_proj));
            out.push((layer_path(i, "self_attn.v_proj"), "v_proj", &a.v_proj));
            out.push((layer_path(i, "self_attn.o_proj"), "o_proj", &a.o_proj));
            out.push((layer_path(i, "mlp.gate_proj"), "gate_proj", &m.gate_proj));
            out.push((layer_path(i, "mlp.up_proj"), "up_proj", &m.up_proj));
            out.push((layer_path(i, "mlp.down_proj"), "down_proj", &m.down_proj));
        }
        if let Some(h) = &self.lm_head {
            out.push(("lm_head".to_string(), "lm_head", h));
        }
        out
    }

    fn lora_sites_mut(&mut self) -> Vec<SiteMut<'_, B>> {
        let mut out = Vec::new();
        for (i, l) in self.language_model.layers.iter_mut().enumerate() {
            let (a, m) = (&mut l.self_attn, &mut l.mlp);
            out.push((layer_path(i, "self_attn.q_proj"), "q_proj", &mut a.q_proj));
            out.push((layer_path(i, "self_attn.k_proj"), "k_proj", &mut a.k_proj));
            out.push((layer_path(i, "self_attn.v_proj"), "v_proj", &mut a.v_proj));
            out.push((layer_path(i, "self_attn.o_proj"), "o_proj", &mut a.o_proj));
            out.push((
                layer_path(i, "mlp.gate_proj"),
                "gate_proj",
                &mut m.gate_proj,
            ));
            out.push((layer_path(i, "mlp.up_proj"), "up_proj", &mut m.up_proj));
            out.push((
                layer_path(i, "mlp.down_proj"),
                "down_proj",
                &mut m.down_proj,
            ));
        }
        if let Some(h) = &mut self.lm_head {
            out.push(("lm_head".to_string(), "lm_head", h));
        }
        out
    }

    /// Sets every adapter's dropout probability (a loaded adapter keeps the one its file
    /// gave; a trainer sets its own).
    pub fn set_lora_dropout(&mut self, p: f64) {
        for (_, _, lin) in self.lora_sites_mut() {
            if let Some(l) = lin.lora.as_mut() {
                l.dropout = p;
            }
        }
    }

    /// Whether any layer carries an adapter.
    pub fn has_lora(&self) -> bool {
        self.lora_sites().iter().any(|(_, _, l)| l.lora.is_some())
    }

    /// The PEFT keys and shapes a LoRA of `cfg` on this model has, in model order, after
    /// checking `cfg` against the model (see [`Qwen3Vl::apply_lora`] for the errors).
    pub fn lora_layout(&self, cfg: &LoraConfig) -> Result<Vec<(String, [usize; 2])>> {
        cfg.validate()?;
        if cfg.targets_lm_head() && self.lm_head.is_none() {
            return Err(ModelError::Input(format!(
                "LoRA target lm_head: this model's head is tied to embed_tokens \
                 (tie_word_embeddings = true), so a LoRA on lm_head would also change the input \
                 embeddings once merged; leave lm_head out of the targets (SPEC §5; {:?})",
                cfg.without_lm_head().targets
            )));
        }
        let mut out = Vec::new();
        for (path, target, lin) in self.lora_sites() {
            if !cfg.targets.iter().any(|t| t == target) {
                continue;
            }
            let [d_out, d_in] = lin.weight.val().dims();
            let p = peft_prefix(&path);
            out.push((format!("{p}.lora_A.weight"), [cfg.rank, d_in]));
            out.push((format!("{p}.lora_B.weight"), [d_out, cfg.rank]));
        }
        Ok(out)
    }

    /// Freezes every base parameter and adds a fresh adapter (B = 0) to each targeted layer.
    ///
    /// Errors, leaving the model unchanged: an invalid `cfg`, a model that already has
    /// adapters (merge them or load the base again), `lm_head` targeted on a tied head.
    pub fn apply_lora(&mut self, cfg: &LoraConfig, seed: u64) -> Result<()> {
        self.lora_layout(cfg)?;
        if self.has_lora() {
            return Err(ModelError::Input(
                "apply_lora: the model already has LoRA adapters (merge them with merge_lora \
                 or load the base again)"
                    .into(),
            ));
        }
        self.freeze_base();
        for (path, target, lin) in self.lora_sites_mut() {
            if !cfg.targets.iter().any(|t| t == target) {
                continue;
            }
            let w = lin.weight.val();
            let [d_out, d_in] = w.dims();
            lin.lora = Some(LoraAdapter::init(
                &path,
                d_in,
                d_out,
                cfg,
                seed,
                &w.device(),
            ));
        }
        Ok(())
    }

    /// Marks every parameter as not requiring gradients except the LoRA matrices, so a
    /// backward pass computes (and the optimiser updates) the adapters only.
    pub fn freeze_base(&mut self) {
        *self = self.clone().no_grad();
        for (_, _, lin) in self.lora_sites_mut() {
            if let Some(l) = lin.lora.as_mut() {
                l.lora_a = l.lora_a.clone().set_require_grad(true);
                l.lora_b = l.lora_b.clone().set_require_grad(true);
            }
        }
    }

    /// Number of LoRA parameters (the trainable ones after [`Qwen3Vl::apply_lora`]).
    pub fn lora_parameters_count(&self) -> usize {
        self.lora_sites()
            .iter()
            .filter_map(|(_, _, l)| l.lora.as_ref())
            .map(|l| l.num_params())
            .sum()
    }

    /// Folds every adapter into its base weight (`W += scale · B · A`, rounded to the base
    /// dtype as PEFT's `merge_and_unload` does) and removes the adapters. Returns how many
    /// layers were merged.
    pub fn merge_lora(&mut self) -> usize {
        let mut n = 0;
        for (_, _, lin) in self.lora_sites_mut() {
            let Some(l) = lin.lora.take() else { continue };
            let w = lin.weight.val();
            let rg = lin.weight.is_require_grad();
            let merged = (w.clone() + l.delta_weight().cast(w.dtype())).detach();
            lin.weight = Param::initialized(lin.weight.id, merged.set_require_grad(rg));
            n += 1;
        }
        n
    }

    /// The adapters' matrices under their PEFT keys
    /// (`base_model.model.model.language_model.layers.{i}.self_attn.q_proj.lora_A.weight`, …),
    /// in model order, f32.
    pub fn lora_state(&self) -> Vec<(String, Tensor<B, 2>)> {
        let mut out = Vec::new();
        for (path, _, lin) in self.lora_sites() {
            if let Some(l) = &lin.lora {
                let p = peft_prefix(&path);
                out.push((format!("{p}.lora_A.weight"), l.lora_a.val()));
                out.push((format!("{p}.lora_B.weight"), l.lora_b.val()));
            }
        }
        out
    }

    /// Replaces the adapters' matrices by `state` (PEFT keys, as [`Qwen3Vl::lora_state`]
    /// gives them), keeping their ids and gradient flags. Every adapter's A and B must be
    /// given with its shape, and nothing else; otherwise the error lists every problem and
    /// the model is unchanged.
    pub fn load_lora_state(&mut self, state: Vec<(String, Tensor<B, 2>)>) -> Result<()> {
        let expected: Vec<(String, [usize; 2])> = self
            .lora_state()
            .into_iter()
            .map(|(k, t)| (k, t.dims()))
            .collect();
        if expected.is_empty() {
            return Err(ModelError::Input(
                "load_lora_state: the model has no LoRA adapters (apply_lora first)".into(),
            ));
        }
        let given: Vec<(String, Vec<usize>)> = state
            .iter()
            .map(|(k, t)| (k.clone(), t.dims().to_vec()))
            .collect();
        let problems = check_layout(&expected, &given, None);
        if !problems.is_empty() {
            return Err(ModelError::Checkpoint {
                dir: "LoRA state".into(),
                report: problems.join("\n"),
            });
        }
        let mut state: HashMap<String, Tensor<B, 2>> = state.into_iter().collect();
        for (path, _, lin) in self.lora_sites_mut() {
            let Some(l) = lin.lora.as_mut() else { continue };
            let p = peft_prefix(&path);
            for (suffix, param) in [("lora_A", &mut l.lora_a), ("lora_B", &mut l.lora_b)] {
                let t = state
                    .remove(&format!("{p}.{suffix}.weight"))
                    .expect("checked above");
                let rg = param.is_require_grad();
                *param =
                    Param::initialized(param.id, t.cast(DType::F32).detach().set_require_grad(rg));
            }
        }
        Ok(())
    }
}

/// Compares given `(key, shape)` pairs with the expected layout; one line per problem
/// (missing, wrong shape, rank differing from the configuration's r, unexpected).
fn check_layout(
    expected: &[(String, [usize; 2])],
    given: &[(String, Vec<usize>)],
    rank: Option<usize>,
) -> Vec<String> {
    let given_map: BTreeMap<&str, &[usize]> = given
        .iter()
        .map(|(k, s)| (k.as_str(), s.as_slice()))
        .collect();
    let want: BTreeSet<&str> = expected.iter().map(|(k, _)| k.as_str()).collect();
    let mut out = Vec::new();
    for (key, shape) in expected {
        match given_map.get(key.as_str()) {
            None => out.push(format!("  missing     {key} {shape:?}")),
            Some(s) if *s != shape.as_slice() => {
                let is_a = key.ends_with(".lora_A.weight");
                let file_rank = if is_a { s.first() } else { s.get(1) };
                match (rank, file_rank) {
                    (Some(r), Some(&fr)) if s.len() == 2 && fr != r => out.push(format!(
                        "  r mismatch  {key}: the tensor has rank {fr} ({s:?}), the \
                         configuration says r = {r}"
                    )),
                    _ => out.push(format!(
                        "  wrong shape {key}: file has {s:?}, model needs {shape:?}"
                    )),
                }
            }
            Some(_) => {}
        }
    }
    for (key, shape) in given {
        if !want.contains(key.as_str()) {
            out.push(format!("  unexpected  {key} {shape:?}"));
        }
    }
    out
}

impl<B: Backend> Qwen3VlMultimodal<B> {
    /// [`Qwen3Vl::apply_lora`] on the decoder, with the vision tower frozen too (SPEC §5: the
    /// tower is not trained).
    pub fn apply_lora(&mut self, cfg: &LoraConfig, seed: u64) -> Result<()> {
        self.model.apply_lora(cfg, seed)?;
        self.visual = self.visual.clone().no_grad();
        Ok(())
    }

    /// [`load_peft_adapter`] on the decoder (to train on from there), with the vision tower
    /// frozen too.
    pub fn load_peft_adapter(&mut self, dir: &Path) -> Result<LoraConfig> {
        let cfg = load_peft_adapter(&mut self.model, dir)?;
        self.visual = self.visual.clone().no_grad();
        Ok(cfg)
    }
}

fn io_err(path: &Path, e: std::io::Error) -> ModelError {
    ModelError::Io {
        path: path.display().to_string(),
        source: e,
    }
}

fn data_err(e: covip_data::error::DataError) -> ModelError {
    ModelError::Input(e.to_string())
}

/// `adapter_config.json` as written: what PEFT's `LoraConfig` reads, with the options this
/// implementation does not have spelled out as off.
fn peft_config_json(cfg: &LoraConfig, base_model_name_or_path: &str) -> serde_json::Value {
    // Integral α is written as an integer, as PEFT writes it (its field is typed int).
    let alpha = if cfg.alpha.fract() == 0.0 && cfg.alpha.abs() < 1e15 {
        serde_json::json!(cfg.alpha as i64)
    } else {
        serde_json::json!(cfg.alpha)
    };
    serde_json::json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": cfg.rank,
        "lora_alpha": alpha,
        "lora_dropout": cfg.dropout,
        "target_modules": cfg.targets,
        "bias": "none",
        "base_model_name_or_path": base_model_name_or_path,
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "use_rslora": false,
        "use_dora": false,
        "modules_to_save": null,
        "layers_to_transform": null,
        "layers_pattern": null,
        "rank_pattern": {},
        "alpha_pattern": {},
        "revision": null,
    })
}

/// Writes `model`'s adapters as a PEFT folder: `dir/adapter_config.json` and
/// `dir/adapter_model.safetensors` (f32), each written atomically (temporary file + rename).
///
/// `cfg` must be the configuration the adapters were made with (same targets and r, same
/// scale); otherwise an error says what differs. When `lm_head` is trained, the export
/// succeeds and logs [`VLLM_LM_HEAD_NOTE`] as a warning.
pub fn export_peft_adapter<B: Backend>(
    model: &Qwen3Vl<B>,
    cfg: &LoraConfig,
    base_model_name_or_path: &str,
    dir: &Path,
) -> Result<()> {
    let layout = model.lora_layout(cfg)?;
    let state = model.lora_state();
    if state.is_empty() {
        return Err(ModelError::Input(
            "export_peft_adapter: the model has no LoRA adapters".into(),
        ));
    }
    let given: Vec<(String, Vec<usize>)> = state
        .iter()
        .map(|(k, t)| (k.clone(), t.dims().to_vec()))
        .collect();
    let mut problems = check_layout(&layout, &given, Some(cfg.rank));
    for (path, _, lin) in model.lora_sites() {
        if let Some(l) = &lin.lora
            && ((l.scale - cfg.scale()).abs() > 1e-12 * cfg.scale().abs()
                || l.dropout != cfg.dropout)
        {
            problems.push(format!(
                "  {path}: adapter has scale {} and dropout {}, the configuration gives \
                 α / r = {} and dropout {}",
                l.scale,
                l.dropout,
                cfg.scale(),
                cfg.dropout
            ));
        }
    }
    if !problems.is_empty() {
        return Err(ModelError::Checkpoint {
            dir: format!(
                "{} (export: the model's adapters and the configuration differ)",
                dir.display()
            ),
            report: problems.join("\n"),
        });
    }
    if cfg.targets_lm_head() {
        tracing::warn!("{}: {VLLM_LM_HEAD_NOTE}", dir.display());
    }
    let weights_path = dir.join(ADAPTER_WEIGHTS);
    let mut bufs: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(state.len());
    for (key, t) in state {
        let shape = t.dims().to_vec();
        let v: Vec<f32> = t
            .cast(DType::F32)
            .into_data()
            .to_vec()
            .map_err(|e| ModelError::Input(format!("{key}: {e:?}")))?;
        bufs.push((key, shape, v.iter().flat_map(|x| x.to_le_bytes()).collect()));
    }
    let st = |e: safetensors::SafeTensorError| ModelError::Safetensors {
        path: weights_path.display().to_string(),
        msg: e.to_string(),
    };
    let views = bufs
        .iter()
        .map(|(k, s, b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                .map(|v| (k.clone(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(st)?;
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes = safetensors::serialize(views, Some(meta)).map_err(st)?;
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    covip_data::io::write_atomic(&weights_path, &bytes).map_err(data_err)?;
    covip_data::io::write_json_atomic(
        &dir.join(ADAPTER_CONFIG),
        &peft_config_json(cfg, base_model_name_or_path),
    )
    .map_err(data_err)?;
    Ok(())
}

/// The fields of a PEFT `adapter_config.json` this loader reads; the others are ignored.
#[derive(Debug, Deserialize)]
struct PeftConfigIn {
    peft_type: Option<String>,
    r: usize,
    lora_alpha: f64,
    #[serde(default)]
    lora_dropout: f64,
    target_modules: serde_json::Value,
    #[serde(default)]
    bias: Option<String>,
    #[serde(default)]
    use_dora: bool,
    #[serde(default)]
    use_rslora: bool,
    #[serde(default)]
    fan_in_fan_out: bool,
    #[serde(default)]
    rank_pattern: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    alpha_pattern: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    layers_to_transform: serde_json::Value,
    #[serde(default)]
    modules_to_save: serde_json::Value,
}

/// Reads and checks `dir/adapter_config.json`: a plain LoRA (no DoRA, rsLoRA, per-layer ranks,
/// bias or saved modules) on known target names, given as a list.
pub fn read_peft_config(dir: &Path) -> Result<LoraConfig> {
    let path = dir.join(ADAPTER_CONFIG);
    let cfg_err = |msg: String| ModelError::Config {
        path: path.display().to_string(),
        msg,
    };
    let len = std::fs::metadata(&path)
        .map_err(|e| io_err(&path, e))?
        .len();
    if len > MAX_CONFIG_BYTES {
        return Err(cfg_err(format!(
            "{len} bytes, more than the {MAX_CONFIG_BYTES} an adapter configuration may have"
        )));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    let c: PeftConfigIn =
        serde_path_to_error::deserialize(de).map_err(|e| cfg_err(e.to_string()))?;
    if let Some(t) = &c.peft_type
        && t != "LORA"
    {
        return Err(cfg_err(format!("peft_type {t:?}: only LORA is supported")));
    }
    let mut unsupported = Vec::new();
    if c.use_dora {
        unsupported.push("use_dora = true");
    }
    if c.use_rslora {
        unsupported.push("use_rslora = true");
    }
    if c.fan_in_fan_out {
        unsupported.push("fan_in_fan_out = true");
    }
    if c.bias.as_deref().is_some_and(|b| b != "none") {
        unsupported.push("bias other than \"none\"");
    }
    if c.rank_pattern.as_ref().is_some_and(|m| !m.is_empty()) {
        unsupported.push("a rank_pattern");
    }
    if c.alpha_pattern.as_ref().is_some_and(|m| !m.is_empty()) {
        unsupported.push("an alpha_pattern");
    }
    if !c.layers_to_transform.is_null() {
        unsupported.push("layers_to_transform");
    }
    if !(c.modules_to_save.is_null() || c.modules_to_save.as_array().is_some_and(Vec::is_empty)) {
        unsupported.push("modules_to_save");
    }
    if !unsupported.is_empty() {
        return Err(cfg_err(format!(
            "unsupported PEFT options: {}",
            unsupported.join(", ")
        )));
    }
    let targets = match &c.target_modules {
        serde_json::Value::Array(a) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| cfg_err(format!("target_modules: {v} is not a module name")))
            })
            .collect::<Result<Vec<_>>>()?,
        other => {
            return Err(cfg_err(format!(
                "target_modules {other}: only a list of module names is supported (not a \
                 regular expression or \"all-linear\")"
            )));
        }
    };
    let cfg = LoraConfig {
        rank: c.r,
        alpha: c.lora_alpha,
        dropout: c.lora_dropout,
        targets,
    };
    cfg.validate().map_err(|e| cfg_err(e.to_string()))?;
    Ok(cfg)
}

/// The key under which PEFT's `save_pretrained` also stores the head's base weight when
/// `lm_head` is a target (its `save_embedding_layers="auto"` treats `lm_head` as an embedding
/// layer); PEFT loads it back into the base layer, and so does [`load_peft_adapter`].
pub const PEFT_HEAD_BASE_KEY: &str = "base_model.model.lm_head.base_layer.weight";

/// Loads the PEFT adapter in `dir` over `model` (a base without adapters): reads and checks
/// `adapter_config.json`, checks every key and shape of `adapter_model.safetensors` against the
/// model (errors name the file and each missing, unexpected or mis-shaped key, and an r that
/// differs from the configuration's), then attaches the adapters (base frozen). A head weight
/// saved beside a LoRA on `lm_head` ([`PEFT_HEAD_BASE_KEY`], as PEFT writes it) replaces the
/// base's head, as PEFT does. Returns the configuration. On error the model is unchanged.
pub fn load_peft_adapter<B: Backend>(model: &mut Qwen3Vl<B>, dir: &Path) -> Result<LoraConfig> {
    let cfg = read_peft_config(dir)?;
    if model.has_lora() {
        return Err(ModelError::Input(format!(
            "{}: the model already has LoRA adapters (load the adapter over a base)",
            dir.display()
        )));
    }
    let layout = model
        .lora_layout(&cfg)
        .map_err(|e| ModelError::Input(format!("{}: {e}", dir.join(ADAPTER_CONFIG).display())))?;
    let path = dir.join(ADAPTER_WEIGHTS);
    let st_err = |msg: String| ModelError::Safetensors {
        path: path.display().to_string(),
        msg,
    };
    // The file can hold at most the expected tensors as f32 plus a header: anything larger is
    // refused before it is read.
    let head_shape: Option<[usize; 2]> = match &model.lm_head {
        Some(h) if cfg.targets_lm_head() => Some(h.weight.val().dims()),
        _ => None,
    };
    let expected_bytes: u64 = layout
        .iter()
        .map(|(_, [a, b])| (a * b * 4) as u64)
        .sum::<u64>()
        + head_shape.map_or(0, |[a, b]| (a * b * 4) as u64);
    let limit = expected_bytes + (16 << 20);
    let len = std::fs::metadata(&path)
        .map_err(|e| io_err(&path, e))?
        .len();
    if len > limit {
        return Err(st_err(format!(
            "{len} bytes, more than the {limit} this adapter's tensors can take"
        )));
    }
    let bytes = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| st_err(e.to_string()))?;
    let mut given: Vec<(String, Vec<usize>)> = st
        .tensors()
        .into_iter()
        .map(|(k, v)| (k, v.shape().to_vec()))
        .collect();
    let mut problems = Vec::new();
    let mut head_base = false;
    if let Some(want) = head_shape
        && let Some(i) = given.iter().position(|(k, _)| k == PEFT_HEAD_BASE_KEY)
    {
        let (_, shape) = given.remove(i);
        if shape != want {
            problems.push(format!(
                "  wrong shape {PEFT_HEAD_BASE_KEY}: file has {shape:?}, model needs {want:?}"
            ));
        }
        head_base = true;
    }
    problems.extend(check_layout(&layout, &given, Some(cfg.rank)));
    for (k, v) in st.tensors() {
        if !matches!(
            v.dtype(),
            safetensors::Dtype::F32 | safetensors::Dtype::BF16 | safetensors::Dtype::F16
        ) {
            problems.push(format!(
                "  bad dtype   {k}: {:?} (need f32, bf16 or f16)",
                v.dtype()
            ));
        }
    }
    if !problems.is_empty() {
        return Err(ModelError::Checkpoint {
            dir: path.display().to_string(),
            report: problems.join("\n"),
        });
    }
    let device = model.language_model.embed_tokens.val().device();
    // One tensor of the file as `dtype` (the file's f32, bf16 or f16 converted).
    let read = |key: &str, shape: [usize; 2], dtype: DType| -> Result<Tensor<B, 2>> {
        let v = st.tensor(key).map_err(|e| st_err(format!("{key}: {e}")))?;
        let given = match v.dtype() {
            safetensors::Dtype::BF16 => DType::BF16,
            safetensors::Dtype::F16 => DType::F16,
            _ => DType::F32,
        };
        let data = TensorData::from_bytes_vec(v.data().to_vec(), shape.to_vec(), given);
        let data = if given == dtype {
            data
        } else {
            data.convert_dtype(dtype)
        };
        Ok(Tensor::<B, 2>::from_data(data, (&device, dtype)))
    };
    let mut state = Vec::with_capacity(layout.len());
    for (key, shape) in &layout {
        state.push((key.clone(), read(key, *shape, DType::F32)?));
    }
    let mut adapted = model.clone();
    if head_base && let (Some(head), Some(shape)) = (adapted.lm_head.as_mut(), head_shape) {
        let dtype = head.weight.val().dtype();
        head.weight = Param::initialized(head.weight.id, read(PEFT_HEAD_BASE_KEY, shape, dtype)?);
    }
    adapted.apply_lora(&cfg, 0)?;
    adapted.load_lora_state(state)?;
    *model = adapted;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};

    fn t2<B: Backend>(v: Vec<f32>, shape: [usize; 2], dtype: DType) -> Tensor<B, 2> {
        Tensor::from_data(
            TensorData::new(v, shape).convert_dtype(dtype),
            (&Default::default(), dtype),
        )
    }

    /// W = [[1, 2], [3, 4], [5, 6]], b = [0.5, 0, −1], A = [[0.5, −1]], B = [[1], [2], [−1]],
    /// α = 2, r = 1 (scale 2), x = [1, 3]:
    /// W·x + b = [7.5, 15, 22]; A·x = −2.5; s·B·A·x = [−5, −10, 5]; y = [2.5, 5, 27].
    fn hand_layer<B: Backend>(dtype: DType, dropout: f64) -> Linear<B> {
        let cfg = LoraConfig {
            rank: 1,
            alpha: 2.0,
            dropout,
            targets: vec!["q_proj".into()],
        };
        let mut l = Linear::new(
            t2(vec![1., 2., 3., 4., 5., 6.], [3, 2], dtype),
            Some(Tensor::from_data(
                TensorData::new(vec![0.5f32, 0., -1.], [3]).convert_dtype(dtype),
                (&Default::default(), dtype),
            )),
        );
        l.lora = Some(LoraAdapter::from_tensors(
            "x",
            t2(vec![0.5, -1.], [1, 2], DType::F32),
            t2(vec![1., 2., -1.], [3, 1], DType::F32),
            &cfg,
        ));
        l
    }

    #[test]
    fn forward_is_wx_plus_scaled_bax() {
        let l = hand_layer::<Flex>(DType::F32, 0.5);
        // Flex is not an autodiff backend: no dropout even at p = 0.5.
        let x = Tensor::<Flex, 3>::from_data(
            TensorData::new(vec![1f32, 3.], [1, 1, 2]),
            &Default::default(),
        );
        let y: Vec<f32> = l.forward(x).into_data().to_vec().unwrap();
        assert_eq!(y, vec![2.5, 5.0, 27.0]);
        // A bf16 base: the f32 update is cast at the boundary; every value here is exact in bf16.
        let l = hand_layer::<Flex>(DType::BF16, 0.0);
        let x = t2::<Flex>(vec![1., 3.], [1, 2], DType::BF16);
        let y = l.forward(x);
        assert_eq!(y.dtype(), DType::BF16);
        let y: Vec<f32> = y.cast(DType::F32).into_data().to_vec().unwrap();
        assert_eq!(y, vec![2.5, 5.0, 27.0]);
        // Merging gives the same layer without the adapter: W + 2·B·A.
        let a = l.lora.as_ref().unwrap().delta_weight();
        let d: Vec<f32> = a.into_data().to_vec().unwrap();
        assert_eq!(d, vec![1., -2., 2., -4., -1., 2.]);
    }

    #[test]
    fn dropout_only_on_an_autodiff_backend() {
        type A = Autodiff<Flex>;
        let l = hand_layer::<A>(DType::F32, 0.5);
        let rows = 256;
        let x = Tensor::<A, 2>::from_data(
            TensorData::new([1f32, 3.].repeat(rows), [rows, 2]),
            &Default::default(),
        );
        let y: Vec<f32> = l.forward(x).into_data().to_vec().unwrap();
        // Without dropout every row is [2.5, 5, 27]; with p = 0.5 each input is dropped or
        // doubled, so rows take other values (all 256 rows equal: probability 4^-255).
        let distinct: BTreeSet<u32> = y.chunks(3).map(|r| r[0].to_bits()).collect();
        assert!(distinct.len() > 1, "{distinct:?}");
        // The base part is untouched: W·x + b − y = the update only, a multiple of B.
        for r in y.chunks(3) {
            let d = [r[0] - 7.5, r[1] - 15.0, r[2] - 22.0];
            assert!(
                (d[1] - 2.0 * d[0]).abs() < 1e-4 && (d[2] + d[0]).abs() < 1e-4,
                "{r:?}"
            );
        }
    }

    #[test]
    fn init_is_peft_s_and_seeded() {
        let cfg = LoraConfig {
            rank: 16,
            ..LoraConfig::default()
        };
        let dev = Default::default();
        let a = LoraAdapter::<Flex>::init("p", 100, 30, &cfg, 1, &dev);
        let va: Vec<f32> = a.lora_a.val().into_data().to_vec().unwrap();
        let vb: Vec<f32> = a.lora_b.val().into_data().to_vec().unwrap();
        assert_eq!(
            (a.lora_a.val().dims(), a.lora_b.val().dims()),
            ([16, 100], [30, 16])
        );
        assert!(vb.iter().all(|&x| x == 0.0));
        // kaiming_uniform_(a = √5) on fan_in 100: bound 1/√100 = 0.1; the draws fill it.
        let max = va.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(max <= 0.1 && max > 0.09, "{max}");
        let mean = va.iter().sum::<f32>() / va.len() as f32;
        assert!(mean.abs() < 0.01, "{mean}");
        assert_eq!(a.scale, 128.0 / 16.0);
        let same = LoraAdapter::<Flex>::init("p", 100, 30, &cfg, 1, &dev);
        let other_seed = LoraAdapter::<Flex>::init("p", 100, 30, &cfg, 2, &dev);
        let other_path = LoraAdapter::<Flex>::init("q", 100, 30, &cfg, 1, &dev);
        let vals =
            |l: &LoraAdapter<Flex>| -> Vec<f32> { l.lora_a.val().into_data().to_vec().unwrap() };
        assert_eq!(vals(&same), va);
        assert_ne!(vals(&other_seed), va);
        assert_ne!(vals(&other_path), va);
        assert_eq!(same.lora_a.id, a.lora_a.id);
        assert_eq!(other_seed.lora_b.id, a.lora_b.id);
        assert_ne!(other_path.lora_a.id, a.lora_a.id);
        assert_ne!(a.lora_a.id, a.lora_b.id);
        // Fixed forever: the hash of a path never changes between builds.
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn config_defaults_and_validation() {
        let d = LoraConfig::default();
        assert_eq!(
            (d.rank, d.alpha, d.dropout, d.scale()),
            (64, 128.0, 0.05, 2.0)
        );
        assert_eq!(d.targets.len(), 8);
        assert!(d.targets_lm_head() && !d.without_lm_head().targets_lm_head());
        d.validate().unwrap();
        let from_json: LoraConfig = serde_json::from_str(r#"{"rank": 8}"#).unwrap();
        assert_eq!(
            from_json,
            LoraConfig {
                rank: 8,
                ..d.clone()
            }
        );
        assert!(serde_json::from_str::<LoraConfig>(r#"{"rnak": 8}"#).is_err());
        let bad = |c: LoraConfig, want: &str| {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        };
        bad(
            LoraConfig {
                rank: 0,
                ..d.clone()
            },
            "rank 0",
        );
        bad(
            LoraConfig {
                rank: MAX_RANK + 1,
                ..d.clone()
            },
            "rank",
        );
        bad(
            LoraConfig {
                alpha: f64::NAN,
                ..d.clone()
            },
            "alpha",
        );
        bad(
            LoraConfig {
                dropout: 1.0,
                ..d.clone()
            },
            "dropout",
        );
        bad(
            LoraConfig {
                targets: vec![],
                ..d.clone()
            },
            "no target",
        );
        bad(
            LoraConfig {
                targets: vec!["embed_tokens".into()],
                ..d.clone()
            },
            "unknown target module \"embed_tokens\"",
        );
        bad(
            LoraConfig {
                targets: vec!["q_proj".into(), "q_proj".into()],
                ..d.clone()
            },
            "twice",
        );
    }

    fn text_config(
        layers: usize,
        hidden: usize,
        inter: usize,
        heads: usize,
        vocab: usize,
        tied: bool,
    ) -> crate::config::TextConfig {
        crate::config::TextConfig {
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: inter,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: 8,
            head_dim: 128,
            rms_norm_eps: 1e-6,
            rope_theta: 5e6,
            mrope_section: [24, 20, 20],
            mrope_interleaved: true,
            attention_bias: false,
            hidden_act: "silu".into(),
            tie_word_embeddings: tied,
            max_position_embeddings: 262144,
        }
    }

    #[test]
    fn parameter_counts_of_the_released_shapes() {
        // Qwen3-VL-8B (untied): SPEC §5 quotes 184,573,952 trainable parameters.
        let b8 = text_config(36, 4096, 12288, 32, 151936, false);
        assert_eq!(
            LoraConfig::default().parameters_for(&b8).unwrap(),
            184_573_952
        );
        // Qwen3-VL-2B ties its head: the default is refused, the head-less one counted.
        let b2 = text_config(28, 2048, 6144, 16, 151936, true);
        let e = LoraConfig::default().parameters_for(&b2).unwrap_err();
        assert!(e.to_string().contains("lm_head"), "{e}");
        // Per layer: 64·(2048+2048) + 2·64·(2048+1024) + 64·(2048+2048) + 3·64·(2048+6144).
        let per_layer = 64 * (4096 + 2 * 3072 + 4096 + 3 * 8192);
        assert_eq!(
            LoraConfig::default()
                .without_lm_head()
                .parameters_for(&b2)
                .unwrap(),
            28 * per_layer
        );
        assert!(LoraConfig::default().vllm_note().is_some());
        assert!(
            LoraConfig::default()
                .without_lm_head()
                .vllm_note()
                .is_none()
        );
    }

    #[test]
    fn layout_problems_are_named() {
        let expected = vec![
            ("m.lora_A.weight".to_string(), [4, 10]),
            ("m.lora_B.weight".to_string(), [6, 4]),
        ];
        let given = vec![
            ("m.lora_A.weight".to_string(), vec![8, 10]),
            ("n.lora_B.weight".to_string(), vec![6, 4]),
        ];
        let p = check_layout(&expected, &given, Some(4)).join("\n");
        assert!(
            p.contains("r mismatch  m.lora_A.weight: the tensor has rank 8"),
            "{p}"
        );
        assert!(p.contains("missing     m.lora_B.weight [6, 4]"), "{p}");
        assert!(p.contains("unexpected  n.lora_B.weight [6, 4]"), "{p}");
        assert!(
            check_layout(
                &expected,
                &[
                    ("m.lora_A.weight".into(), vec![4, 10]),
                    ("m.lora_B.weight".into(), vec![6, 4])
                ],
                Some(4)
            )
            .is_empty()
        );
    }
}
