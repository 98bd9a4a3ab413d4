//! GSPO post-training of Qwen3-VL with the CoViP rewards and LoRA (SPEC §4–§5), as a custom
//! loop (burn-train's `Learner` does not fit rollouts, μ passes and judge calls).
//!
//! One step:
//! 1. take `batch_size` prompts from the seeded, epoch-shuffled data cursor and render their
//!    training prompts (no system turn, no vision ids, a random query header, a random name
//!    for `vision`);
//! 2. sample G completions per prompt with `covip_model::engine::generate_group` (one shared
//!    prefill) on the inner backend, without gradients, at the rollout sampling (the
//!    checkpoint's 0.7 / 20 / 0.8 by default);
//! 3. reward every completion through its reward record (caption → retrieval reward with the
//!    degeneration filter and the 511-token limit, multi_vision → recognition F1, vision →
//!    yes/no) and the judge, on a second thread **while** the policy runs the first forward
//!    pass (the judge's latency hides behind it);
//! 4. group advantages; old log-probs = the first pass's, detached (so with μ = 1 every ratio
//!    is exactly 1, as released);
//! 5. μ passes: loss, backward, the LoRA gradients only, global-norm clip, AdamW with the
//!    linearly decaying learning rate.
//!
//! Log-probs are the log-softmax of the raw logits (no temperature), over the completion mask
//! (up to and including the first stop id). Every random stream (data order, prompt draws,
//! rollout seeds, dropout masks through `B::seed`) derives from the seed and the step number,
//! so a run resumed from a checkpoint ends with the same LoRA weights, bit for bit on the
//! CPU, as one never interrupted (`tests/trainer_resume.rs`).
pub mod checkpoint;
pub mod config;
pub mod metrics;
pub mod optim;
pub mod parallel;
pub mod rollout;
pub mod update;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{AutodiffModule, ParamId};
use burn::optim::Optimizer;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use covip_data::prompt::{Templates, conversation_images};
use covip_data::rng::SeededRng;
use covip_data::sample::Sample;
use covip_model::engine::SeqRequest;
use covip_model::lora::LoraConfig;
use covip_model::processor::image::PixelPatches;
use covip_model::{
    LoadOptions, ModelBundle, Qwen3Vl, Qwen3VlMultimodal, RenderOptions, Sampling, Weights,
};
use serde::{Deserialize, Serialize};

pub use checkpoint::CheckpointState;
pub use config::{LossName, OptimizerConfig, RolloutSampling, TrainConfig, TrainOverrides};
pub use metrics::StepMetrics;
pub use parallel::{Peer, sample_groups, shard_ranges};
pub use rollout::{RewardFn, Rewarder};
pub use update::{PassStats, RolloutBatch, Shard, UpdateSchedule, optimisation_passes};

use crate::loss::group_advantages;
use crate::records::RewardSettings;
use rollout::{DataCursor, TAG_DROPOUT, TAG_PROMPT, TAG_ROLLOUT, derive_seed};

/// The run's configuration file.
pub const CONFIG_FILE: &str = "config.toml";
/// What the run was made from (model folder, data, judge).
pub const RUN_FILE: &str = "run.json";
/// One JSON object per step.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The judge's answer cache that `covip train` keeps in the run folder. The caller opens it
/// before the run starts, so a run folder holding only this file counts as empty.
pub const JUDGE_CACHE_FILE: &str = "judge.cache.jsonl";

/// Why training stopped.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Io(String),
    #[error("run folder {path}: {msg}")]
    RunDir { path: String, msg: String },
    #[error("training data: {0}")]
    Data(String),
    #[error("model: {0}")]
    Model(#[from] covip_model::ModelError),
    #[error("reward: {0}")]
    Reward(String),
    #[error("loss at step {step}: {source}")]
    Loss {
        step: usize,
        source: crate::loss::LossError,
    },
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

impl TrainError {
    pub(crate) fn io(path: &Path, e: std::io::Error) -> TrainError {
        TrainError::Io(format!("{}: {e}", path.display()))
    }
}

/// `RUN_DIR/run.json`: what `covip export-adapter` needs besides the checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The base checkpoint folder, as given.
    pub model: PathBuf,
    pub data: PathBuf,
    pub judge: String,
}

impl RunInfo {
    pub fn read(run_dir: &Path) -> Result<RunInfo, TrainError> {
        let p = run_dir.join(RUN_FILE);
        let text = std::fs::read_to_string(&p).map_err(|e| TrainError::io(&p, e))?;
        serde_json::from_str(&text).map_err(|e| TrainError::RunDir {
            path: p.display().to_string(),
            msg: e.to_string(),
        })
    }
}

/// Called after each step with its metrics and the run's total steps.
pub type StepCallback = Box<dyn FnMut(&StepMetrics, usize)>;

/// One training run.
pub struct TrainRun {
    pub model_dir: PathBuf,
    pub data: PathBuf,
    pub out: PathBuf,
    pub config: TrainConfig,
    /// Continue the run in `out` from its last checkpoint (or from the start when it has
    /// none). Without it an existing non-empty `out` is an error.
    pub resume: bool,
    pub rewarder: Rewarder,
    /// The judge's name for `run.json` (`lexical`, a URL, `custom`).
    pub judge_name: String,
    /// Return after this step as if the run had been killed there (tests of resume).
    pub stop_after: Option<usize>,
    /// Called after each step with its metrics (a progress bar).
    pub on_step: Option<StepCallback>,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSummary {
    /// The last step completed.
    pub step: usize,
    pub total_steps: usize,
    /// The checkpoint step a resumed run started from (`Some(0)`: resumed with none).
    pub resumed_from: Option<usize>,
    /// The last checkpoint written or found.
    pub last_checkpoint: Option<PathBuf>,
}

/// The model with its vision tower on the inner (non-autodiff) backend, for rollouts and
/// reference passes: same weights, no graph, no dropout.
fn inner_multimodal<B: AutodiffBackend>(
    m: &Qwen3VlMultimodal<B>,
) -> Qwen3VlMultimodal<B::InnerBackend> {
    Qwen3VlMultimodal {
        model: m.model.valid(),
        visual: m.visual.valid(),
        image_token_id: m.image_token_id,
    }
}

/// The ids of every LoRA matrix (what the optimiser updates and the clip measures).
pub fn lora_ids<B: burn::tensor::backend::Backend>(m: &Qwen3Vl<B>) -> Vec<ParamId> {
    m.lora_sites()
        .iter()
        .filter_map(|(_, _, l)| l.lora.as_ref())
        .flat_map(|l| [l.lora_a.id, l.lora_b.id])
        .collect()
}

/// Refuses a non-empty run folder `out` unless resuming (called before the model is loaded,
/// so the refusal is immediate; callers that open the judge cache inside the folder call it
/// before that too); a folder holding only the judge cache counts as empty.
pub fn check_run_dir(out: &Path, resume: bool) -> Result<(), TrainError> {
    let non_empty = match std::fs::read_dir(out) {
        Ok(d) => d
            .filter_map(|e| e.ok())
            .any(|e| e.file_name() != JUDGE_CACHE_FILE),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(TrainError::io(out, e)),
    };
    if non_empty && !resume {
        return Err(TrainError::RunDir {
            path: out.display().to_string(),
            msg: "exists and is not empty; pass --resume to continue that run, or choose \
                  another folder (nothing was overwritten)"
                .into(),
        });
    }
    Ok(())
}

/// Writes `config.toml` (or, resuming, checks it against `config`) and `run.json`.
fn prepare_run_dir(run: &TrainRun, config: &TrainConfig) -> Result<(), TrainError> {
    let out = &run.out;
    let run_dir_err = |msg: String| TrainError::RunDir {
        path: out.display().to_string(),
        msg,
    };
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    let cfg_path = out.join(CONFIG_FILE);
    if run.resume && cfg_path.is_file() {
        let saved = TrainConfig::from_file(&cfg_path)?;
        if &saved != config {
            return Err(run_dir_err(format!(
                "the configuration differs from the run's {CONFIG_FILE}; a resumed run keeps \
                 its configuration (give the same flags, or start a new run). Saved:\n{}",
                saved.to_toml()
            )));
        }
    } else {
        covip_data::io::write_atomic(&cfg_path, config.to_toml().as_bytes())
            .map_err(|e| TrainError::Io(e.to_string()))?;
    }
    let info = RunInfo {
        // Absolute, so that an export from another folder finds the base.
        model: std::fs::canonicalize(&run.model_dir).unwrap_or_else(|_| run.model_dir.clone()),
        data: run.data.clone(),
        judge: run.judge_name.clone(),
    };
    covip_data::io::write_json_atomic(&out.join(RUN_FILE), &info)
        .map_err(|e| TrainError::Io(e.to_string()))
}

/// The rollout sampling: the configuration's values, else `generation_config.json`'s, else
/// the released checkpoint's 0.7 / 20 / 0.8.
pub fn rollout_sampling(
    cfg: &RolloutSampling,
    generation: &covip_model::GenerationConfig,
) -> Sampling {
    Sampling {
        do_sample: true,
        temperature: cfg.temperature.or(generation.temperature).unwrap_or(0.7),
        top_k: cfg.top_k.or(generation.top_k).unwrap_or(20),
        top_p: cfg.top_p.or(generation.top_p).unwrap_or(0.8),
        ..Sampling::greedy()
    }
}

/// One prompt of a step, ready for the model.
struct Prompt {
    sample: usize,
    ids: Vec<u32>,
    pixels: PixelPatches,
}

/// Runs (or resumes) training on one device. See the [module docs](self).
pub fn train<B: AutodiffBackend>(
    run: TrainRun,
    device: &B::Device,
) -> Result<TrainSummary, TrainError> {
    train_on::<B>(run, std::slice::from_ref(device))
}

/// Runs (or resumes) training on `devices`: with several, data-parallel (one replica per
/// device, gradients summed by burn-collective; see [`parallel`]), which needs this crate's
/// `collective` feature. The model loads on the first device; checkpoints are the first
/// replica's.
pub fn train_on<B: AutodiffBackend>(
    mut run: TrainRun,
    devices: &[B::Device],
) -> Result<TrainSummary, TrainError> {
    let device = devices
        .first()
        .ok_or_else(|| TrainError::Config("no device to train on".into()))?;
    if devices.len() > 1 && !cfg!(feature = "collective") {
        return Err(TrainError::Config(format!(
            "{} devices: data parallelism needs covip-rl's `collective` feature",
            devices.len()
        )));
    }
    let mut cfg = run.config.clone();
    cfg.validate()?;
    if cfg.group_size * cfg.batch_size < devices.len() {
        return Err(TrainError::Config(format!(
            "{} devices but {} completions per step (group-size × batch-size): every device \
             needs at least one",
            devices.len(),
            cfg.group_size * cfg.batch_size
        )));
    }
    check_run_dir(&run.out, run.resume)?;

    // The model, its processors, and the adapters.
    let load = LoadOptions {
        dtype: if cfg.load_f32 {
            covip_model::WeightDtype::F32
        } else {
            covip_model::WeightDtype::AsStored
        },
        ..LoadOptions::default()
    };
    let bundle = ModelBundle::<B>::load(&run.model_dir, load, device)?;
    let ModelBundle {
        weights,
        processor,
        config: model_config,
        images: mut image_processor,
        ..
    } = bundle;
    if let Some(p) = cfg.image_min_pixels {
        image_processor.config.min_pixels = p;
    }
    if let Some(p) = cfg.image_max_pixels {
        image_processor.config.max_pixels = p;
    }
    let mut mm = match weights {
        Weights::Multimodal(m) => *m,
        Weights::Text(_) => unreachable!("loaded with Vision::Load"),
    };
    let init_adapter = match &cfg.init_adapter {
        Some(dir) => {
            let a = covip_model::lora::read_peft_config(dir)?;
            cfg.lora = LoraConfig {
                dropout: cfg.lora.dropout,
                ..a
            };
            Some(dir.clone())
        }
        None => None,
    };
    if init_adapter.is_none() && cfg.lora.targets_lm_head() && mm.model.lm_head.is_none() {
        tracing::info!(
            "the head is tied to the embeddings: lm_head left out of the LoRA targets (SPEC §5)"
        );
        cfg.lora = cfg.lora.without_lm_head();
    }
    prepare_run_dir(&run, &cfg)?;
    let reference = (cfg.beta > 0.0).then(|| inner_multimodal(&mm));
    match &init_adapter {
        Some(dir) => {
            mm.load_peft_adapter(dir)?;
            mm.model.set_lora_dropout(cfg.lora.dropout);
        }
        None => mm.apply_lora(&cfg.lora, cfg.seed)?,
    }
    let ids = lora_ids(&mm.model);

    // Data, prompts' wording, rewards.
    let loaded = covip_data::formats::read_train_samples(&run.data)
        .map_err(|e| TrainError::Data(e.to_string()))?;
    if let Some(p) = loaded.problems.first() {
        return Err(TrainError::Data(format!(
            "{} problem(s) in {}; the first: {p}",
            loaded.problems.len(),
            run.data.display()
        )));
    }
    let samples: Vec<Sample> = loaded.records.into_iter().map(|(_, s)| s).collect();
    if samples.is_empty() {
        return Err(TrainError::Data(format!(
            "{}: no training record",
            run.data.display()
        )));
    }
    let templates = match &cfg.templates {
        Some(p) => Templates::from_json_file(p).map_err(|e| TrainError::Config(e.to_string()))?,
        None => Templates::default(),
    };
    let mut settings = RewardSettings::default();
    let tok = processor.tokenizer.path.clone();
    settings.filter = settings
        .filter
        .with_tokenizer_file(&tok)
        .map_err(|e| TrainError::Reward(e.to_string()))?;
    let sampling = rollout_sampling(&cfg.sampling, &processor.generation);
    let cursor = DataCursor {
        prompts: samples.len(),
        batch_size: cfg.batch_size,
        seed: cfg.seed,
    };
    let total = cfg.total_steps(samples.len());
    let total_updates = total * cfg.mu;
    let base_name = run.model_dir.display().to_string();

    // The checkpoint to continue from.
    let mut resume_optim: Option<(PathBuf, u64)> = None;
    let metrics_path = run.out.join(METRICS_FILE);
    let mut start = 0;
    let mut resumed_from = None;
    let mut last_checkpoint = None;
    if run.resume {
        match checkpoint::latest(&run.out)? {
            Some((dir, state)) => {
                if state.seed != cfg.seed || state.prompts != samples.len() {
                    return Err(TrainError::Checkpoint(format!(
                        "{}: made with seed {} over {} prompts; this run has seed {} and {} \
                         prompts",
                        dir.display(),
                        state.seed,
                        state.prompts,
                        cfg.seed,
                        samples.len()
                    )));
                }
                let layout: Vec<(String, [usize; 2])> = mm
                    .model
                    .lora_state()
                    .into_iter()
                    .map(|(k, t)| (k, t.dims()))
                    .collect();
                let lora = checkpoint::read_lora::<B>(&dir, &layout, device)?;
                mm.model.load_lora_state(lora)?;
                let lora_bytes: u64 = layout.iter().map(|(_, [a, b])| (a * b * 4) as u64).sum();
                resume_optim = Some((dir.clone(), lora_bytes));
                start = state.step;
                resumed_from = Some(state.step);
                tracing::info!("resuming from {} (step {})", dir.display(), state.step);
                last_checkpoint = Some(dir);
            }
            None => {
                tracing::warn!(
                    "{}: no checkpoint; starting from the start",
                    run.out.display()
                );
                resumed_from = Some(0);
            }
        }
        metrics::truncate(&metrics_path, start)?;
    }

    // One replica and optimiser per device (the resumed optimiser state in each).
    let make_optim = |d: &B::Device| -> Result<_, TrainError> {
        let o = optim::adamw(&cfg.optimizer).init::<B, Qwen3Vl<B>>();
        Ok(match &resume_optim {
            Some((dir, bytes)) => o.load_record(checkpoint::read_optimizer(dir, *bytes, d)?),
            None => o,
        })
    };
    let image_token_id = mm.image_token_id;
    let mut peers = parallel::replicate(mm, devices, make_optim)?;
    #[cfg(feature = "collective")]
    if peers.len() > 1 {
        parallel::register_peers(&peers)?;
    }

    let placeholders: Vec<u32> = [Some(image_token_id), model_config.tokens.video_token_id]
        .into_iter()
        .flatten()
        .collect();
    let render = RenderOptions {
        add_generation_prompt: true,
        add_vision_id: false,
    };
    let g = cfg.group_size;
    let mut step = start;
    while step < total {
        step += 1;
        let t_step = Instant::now();
        let (epoch, _, batch) = cursor.batch(step);

        // 1. Prompts.
        let mut prompts = Vec::with_capacity(batch.len());
        for (j, &i) in batch.iter().enumerate() {
            let mut rng = SeededRng::new(derive_seed(cfg.seed, TAG_PROMPT, step as u64, j as u64));
            let messages = rollout::training_messages(&samples[i], &mut rng, &templates);
            let mut decoded = Vec::new();
            for r in conversation_images(&messages) {
                let origin = r.name().unwrap_or("<embedded image>").to_string();
                let bytes = r
                    .read_bytes()
                    .map_err(|e| TrainError::Data(format!("sample {}: {e}", samples[i].id)))?;
                decoded.push(image_processor.decode(&bytes, &origin)?);
            }
            let pixels = image_processor.process(&decoded)?;
            let ids = processor.encode_chat(&messages, &pixels.image_tokens(), render)?;
            prompts.push(Prompt {
                sample: i,
                ids,
                pixels,
            });
        }

        // 2. Rollouts, without gradients.
        let t_roll = Instant::now();
        let groups = parallel::sample_groups(&peers, prompts.len(), g, |j, choices| {
            let p = &prompts[j];
            let req = SeqRequest {
                prompt: p.ids.clone(),
                images: Some(p.pixels.clone()),
                n: choices.len(),
                max_new_tokens: cfg.max_new_tokens,
                sampling: sampling.clone(),
                // Choice i of the group draws from seed + i, whichever device samples it.
                seed: derive_seed(cfg.seed, TAG_ROLLOUT, step as u64, j as u64)
                    .wrapping_add(choices.start as u64),
                stop_ids: processor.stop_ids.clone(),
                logprobs: None,
            };
            (req, p.ids.len() + cfg.max_new_tokens)
        })?;
        let mut completions: Vec<Vec<u32>> = Vec::with_capacity(prompts.len() * g);
        let mut generated = 0usize;
        for tokens in groups {
            generated += tokens.len();
            let n = rollout::scored_len(&tokens, &processor.stop_ids, &placeholders);
            let mut t = tokens;
            t.truncate(n);
            if t.is_empty() {
                // A zero-length sample cannot be scored: the stop token alone stands for it
                // (it happens only when the first sampled token was a placeholder).
                t.push(
                    processor
                        .stop_ids
                        .first()
                        .copied()
                        .unwrap_or(processor.pad_id),
                );
            }
            completions.push(t);
        }
        let roll_secs = t_roll.elapsed().as_secs_f64();

        // Texts for the rewards: the completion without its stop token.
        let mut items: Vec<(&Sample, String)> = Vec::with_capacity(completions.len());
        for (k, c) in completions.iter().enumerate() {
            let p = &prompts[k / g];
            let body: Vec<u32> = c
                .iter()
                .copied()
                .take_while(|t| !processor.stop_ids.contains(t))
                .collect();
            items.push((&samples[p.sample], processor.tokenizer.decode(&body, true)?));
        }
        let row_prompts: Vec<Vec<u32>> = (0..completions.len())
            .map(|k| prompts[k / g].ids.clone())
            .collect();
        let row_images: Vec<&PixelPatches> = (0..completions.len())
            .map(|k| &prompts[k / g].pixels)
            .collect();

        // Reference log-probs (β > 0), on the frozen base.
        let ref_logp = match &reference {
            Some(r) => {
                let s = r.score_continuations(
                    &row_prompts,
                    &completions,
                    &row_images,
                    processor.pad_id,
                    device,
                )?;
                Some(Tensor::<B, 2>::from_inner(s.logprobs))
            }
            None => None,
        };

        // 3.–5. Rewards (the judge) while the policy runs the first pass; advantages; μ passes.
        let t_train = Instant::now();
        let dropout_seed = |k: usize| derive_seed(cfg.seed, TAG_DROPOUT, step as u64, k as u64);
        let schedule = UpdateSchedule {
            first_update: (step - 1) * cfg.mu,
            total_updates,
        };
        let advantages_of = |scored: &[rollout::Scored]| {
            let rewards: Vec<f64> = scored.iter().map(|s| s.reward).collect();
            group_advantages(&rewards, g, cfg.advantage_scale())
                .map_err(|source| TrainError::Loss { step, source })
        };
        // Each branch returns its passes with the rewards (the judge's verdicts) it computed.
        let (passes, (scored, judge_secs)) = if peers.len() == 1 {
            let Peer {
                device: d,
                model,
                mut optim,
            } = peers.pop().expect("one peer");
            let (r, first) = std::thread::scope(|s| {
                let handle = s.spawn(|| rollout::reward_all(&run.rewarder, &settings, &items));
                B::seed(&d, dropout_seed(0));
                let first = model.score_continuations(
                    &row_prompts,
                    &completions,
                    &row_images,
                    processor.pad_id,
                    &d,
                );
                let r = handle.join().unwrap_or_else(|_| {
                    Err(TrainError::Reward("the reward thread panicked".into()))
                });
                (r, first)
            });
            let (scored, judge_secs) = r?;
            let first = first?;
            let adv = advantages_of(&scored)?;
            let batch_rows = RolloutBatch {
                prompts: &row_prompts,
                completions: &completions,
                images: &row_images,
                pad_id: processor.pad_id,
                advantages: &adv,
            };
            let (model, passes) = optimisation_passes(
                model,
                &mut optim,
                &cfg,
                &ids,
                &batch_rows,
                ref_logp,
                schedule,
                Some(first),
                &dropout_seed,
                &mut |_, _, _| {},
                None,
                &d,
            )?;
            peers.push(Peer {
                device: d,
                model,
                optim,
            });
            (passes, (scored, judge_secs))
        } else {
            #[cfg(feature = "collective")]
            {
                let batch_rows = RolloutBatch {
                    prompts: &row_prompts,
                    completions: &completions,
                    images: &row_images,
                    pad_id: processor.pad_id,
                    advantages: &[],
                };
                let mut rewarded = None;
                let (back, passes) = parallel::parallel_passes(
                    std::mem::take(&mut peers),
                    &cfg,
                    &ids,
                    &batch_rows,
                    ref_logp,
                    schedule,
                    &dropout_seed,
                    || {
                        let (scored, judge_secs) =
                            rollout::reward_all(&run.rewarder, &settings, &items)?;
                        let adv = advantages_of(&scored)?;
                        rewarded = Some((scored, judge_secs));
                        Ok(adv)
                    },
                )?;
                peers = back;
                let r = rewarded.expect("the rewards come with the advantages");
                (passes, r)
            }
            #[cfg(not(feature = "collective"))]
            unreachable!("refused at the start: several devices need the collective feature")
        };
        let rewards: Vec<f64> = scored.iter().map(|s| s.reward).collect();
        let lr = passes.last().map_or(0.0, |p| p.learning_rate);
        let pick = |f: fn(&PassStats) -> f64| passes.iter().map(f).collect::<Vec<f64>>();
        let losses = pick(|p| p.loss);
        let clip = pick(|p| p.clip_fraction);
        let ratio = pick(|p| p.mean_ratio);
        let norms = pick(|p| p.grad_norm);
        let kls: Vec<f64> = passes.iter().filter_map(|p| p.kl).collect();
        let train_secs = t_train.elapsed().as_secs_f64();

        // Metrics.
        let lens: Vec<f64> = completions.iter().map(|c| c.len() as f64).collect();
        let (reward_mean, reward_std) = metrics::mean_std(&rewards);
        let mut by_task: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for ((sample, _), r) in items.iter().zip(&rewards) {
            by_task
                .entry(sample.task.as_str().to_string())
                .or_default()
                .push(*r);
        }
        let tasks = by_task
            .into_iter()
            .map(|(k, v)| {
                let (mean, std) = metrics::mean_std(&v);
                (
                    k,
                    metrics::TaskStats {
                        mean,
                        std,
                        count: v.len(),
                    },
                )
            })
            .collect();
        let flags: Vec<bool> = scored.iter().filter_map(|s| s.degenerate).collect();
        let degenerate_share = (!flags.is_empty())
            .then(|| flags.iter().filter(|d| **d).count() as f64 / flags.len() as f64);
        let train_tokens: usize = row_prompts
            .iter()
            .zip(&completions)
            .map(|(p, c)| p.len() + c.len())
            .sum::<usize>()
            * cfg.mu;
        let mean = |v: &[f64]| metrics::mean_std(v).0;
        let m = StepMetrics {
            step,
            epoch,
            reward_mean,
            reward_std,
            tasks,
            degenerate_share,
            loss: mean(&losses),
            clip_fraction: mean(&clip),
            mean_ratio: mean(&ratio),
            kl: (!kls.is_empty()).then(|| mean(&kls)),
            grad_norm: norms,
            learning_rate: lr,
            response_length: mean(&lens),
            judge_seconds: judge_secs,
            rollout_tokens_per_s: generated as f64 / roll_secs.max(1e-9),
            train_tokens_per_s: train_tokens as f64 / train_secs.max(1e-9),
            step_seconds: t_step.elapsed().as_secs_f64(),
            peak_memory_bytes: metrics::peak_memory_bytes(),
        };
        metrics::append(&metrics_path, &m)?;
        if let Some(f) = run.on_step.as_mut() {
            f(&m, total);
        }

        // Checkpoint.
        if step % cfg.save_every == 0 || step == total {
            let (next_epoch, position) = cursor.after(step);
            let state = CheckpointState {
                step,
                total_steps: total,
                updates: step * cfg.mu,
                learning_rate: lr,
                seed: cfg.seed,
                epoch: next_epoch,
                position,
                prompts: samples.len(),
                next_rollout_seed: derive_seed(cfg.seed, TAG_ROLLOUT, step as u64 + 1, 0),
                next_dropout_seed: derive_seed(cfg.seed, TAG_DROPOUT, step as u64 + 1, 0),
            };
            let dir = checkpoint::save(
                &run.out,
                &peers[0].model.model,
                &cfg.lora,
                &base_name,
                peers[0].optim.to_record(),
                &state,
            )?;
            last_checkpoint = Some(dir);
        }
        if run.stop_after == Some(step) {
            break;
        }
    }
    #[cfg(feature = "collective")]
    if peers.len() > 1 {
        parallel::finish_peers(&peers)?;
    }
    Ok(TrainSummary {
        step,
        total_steps: total,
        resumed_from,
        last_checkpoint,
    })
}

/// The LoRA configuration and the base folder of a run, and its last checkpoint: what an
/// export needs. Errors name the run folder when it has no checkpoint yet.
pub fn last_checkpoint(run_dir: &Path) -> Result<(TrainConfig, RunInfo, PathBuf), TrainError> {
    let cfg = TrainConfig::from_file(&run_dir.join(CONFIG_FILE))?;
    let info = RunInfo::read(run_dir)?;
    let (dir, _) = checkpoint::latest(run_dir)?.ok_or_else(|| TrainError::RunDir {
        path: run_dir.display().to_string(),
        msg: "no checkpoint yet (one is written every save-every steps and after the last step)"
            .into(),
    })?;
    Ok((cfg, info, dir))
}

/// What [`export_run`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Exported {
    /// The checkpoint exported (the run's last).
    pub checkpoint: PathBuf,
    /// The base checkpoint folder of the run.
    pub base: PathBuf,
    /// Set when the adapter trains `lm_head`, which vLLM refuses (an adapter export only).
    pub vllm_note: Option<&'static str>,
}

/// `covip export-adapter`: the LoRA of `run_dir`'s last checkpoint into `out` (which must not
/// exist or be empty), as a PEFT folder (the checkpoint's `adapter_config.json` and
/// `adapter_model.safetensors`, copied atomically), or with `merged` as a full checkpoint in
/// the base's dtype with the adapters folded in (loaded on `device`).
pub fn export_run<B: burn::tensor::backend::Backend>(
    run_dir: &Path,
    out: &Path,
    merged: bool,
    device: &B::Device,
) -> Result<Exported, TrainError> {
    use covip_model::lora::{ADAPTER_CONFIG, ADAPTER_WEIGHTS, load_peft_adapter, read_peft_config};
    let (_, info, ckpt) = last_checkpoint(run_dir)?;
    if std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) {
        return Err(TrainError::Io(format!(
            "{}: exists and is not empty (nothing is overwritten)",
            out.display()
        )));
    }
    let lora = read_peft_config(&ckpt)?;
    let mut vllm_note = None;
    if merged {
        let (mut model, _, _) =
            Qwen3Vl::<B>::load(&info.model, covip_model::WeightDtype::default(), device)?;
        load_peft_adapter(&mut model, &ckpt)?;
        covip_model::export::export_merged(&info.model, &model, out)?;
    } else {
        // The checkpoint's LoRA is already a PEFT folder written by
        // covip_model::lora::export_peft_adapter: copied as it is.
        std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
        for name in [ADAPTER_CONFIG, ADAPTER_WEIGHTS] {
            let src = ckpt.join(name);
            let bytes = std::fs::read(&src).map_err(|e| TrainError::io(&src, e))?;
            covip_data::io::write_atomic(&out.join(name), &bytes)
                .map_err(|e| TrainError::Io(e.to_string()))?;
        }
        vllm_note = lora.vllm_note();
    }
    Ok(Exported {
        checkpoint: ckpt,
        base: info.model,
        vllm_note,
    })
}
