//! The μ optimisation passes over one rollout batch: the part of a step that follows the
//! rewards. Public so that a step can be checked against a reference from the same prompts,
//! completions and advantages (`tests/trainer_step_parity.rs` matches PyTorch + PEFT).
use burn::module::ParamId;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor, TensorData};
use covip_model::processor::image::PixelPatches;
use covip_model::{Qwen3Vl, Qwen3VlMultimodal, Scores};

use super::{TrainConfig, TrainError, optim};
use crate::loss::{Advantages, PolicyLossInput, policy_loss};

/// One rollout batch, row by row (a prompt's G completions are G rows).
pub struct RolloutBatch<'a> {
    /// The prompt ids of each row (placeholders expanded).
    pub prompts: &'a [Vec<u32>],
    /// Each row's completion, cut after its first stop id: every token is scored.
    pub completions: &'a [Vec<u32>],
    /// Each row's images (empty patches for a text prompt).
    pub images: &'a [&'a PixelPatches],
    /// The id padding uses (never scored).
    pub pad_id: u32,
    /// One advantage per row.
    pub advantages: &'a [f64],
}

/// What one optimisation pass measured.
#[derive(Clone, Debug, PartialEq)]
pub struct PassStats {
    pub loss: f64,
    pub clip_fraction: f64,
    pub mean_ratio: f64,
    /// Mean token KL to the reference (β > 0 only).
    pub kl: Option<f64>,
    /// The global L2 norm of the LoRA gradients, before clipping.
    pub grad_norm: f64,
    pub learning_rate: f64,
}

/// One data-parallel peer's part of a batch (see [`super::parallel`]): its loss is scaled by
/// its rows / `total_rows` and `reduce` sums the gradients over the peers before clipping, so
/// every peer applies the gradient of the whole batch's mean loss. Valid because every loss
/// here is a mean over sequences of per-sequence terms (GSPO, GSPO-token, GRPO and Dr.GRPO
/// as SPEC §5 aggregates them).
pub struct Shard<'a> {
    /// The rows of the whole batch, over every peer.
    pub total_rows: usize,
    /// Sums the gradients with the other peers' (an all-reduce).
    pub reduce: &'a mut dyn FnMut(GradientsParams) -> Result<GradientsParams, TrainError>,
}

/// Where the passes sit in the run's schedule.
#[derive(Clone, Copy, Debug)]
pub struct UpdateSchedule {
    /// The number (0-based) of this batch's first optimiser update in the run.
    pub first_update: usize,
    /// The run's optimiser updates in all (steps × μ): the learning rate reaches 0 there.
    pub total_updates: usize,
}

/// Runs `cfg.mu` passes of the configured loss over `batch`: score (with gradients), loss,
/// backward, keep the LoRA gradients of `lora_ids` only, clip them by their global norm,
/// AdamW at the scheduled learning rate. The old log-probs are the first pass's, detached
/// (with μ = 1 every ratio is 1, as released). `first`, when given, is the first pass's
/// scoring already done (the trainer overlaps it with the judge). Before every pass that
/// scores, the backend is seeded with `dropout_seed(pass)`. `observe` sees each pass's
/// model (the weights the pass scored with) and its gradients before clipping (tests compare
/// both with a reference). With a `shard`, the batch is this peer's part of a data-parallel
/// batch: the loss is scaled and the gradients summed over the peers (the statistics stay
/// this peer's, the loss unscaled; the gradient norm is the whole batch's).
#[allow(clippy::too_many_arguments)]
pub fn optimisation_passes<B, O>(
    mut mm: Qwen3VlMultimodal<B>,
    optim: &mut O,
    cfg: &TrainConfig,
    lora_ids: &[ParamId],
    batch: &RolloutBatch<'_>,
    ref_logp: Option<Tensor<B, 2>>,
    schedule: UpdateSchedule,
    mut first: Option<Scores<B>>,
    dropout_seed: &dyn Fn(usize) -> u64,
    observe: &mut dyn FnMut(usize, &Qwen3Vl<B>, &GradientsParams),
    mut shard: Option<Shard<'_>>,
    device: &B::Device,
) -> Result<(Qwen3VlMultimodal<B>, Vec<PassStats>), TrainError>
where
    B: AutodiffBackend,
    O: Optimizer<Qwen3Vl<B>, B>,
{
    let rows = batch.completions.len();
    if batch.prompts.len() != rows || batch.images.len() != rows || batch.advantages.len() != rows {
        return Err(TrainError::Config(format!(
            "rollout batch: {rows} completions but {} prompts, {} image lists and {} advantages",
            batch.prompts.len(),
            batch.images.len(),
            batch.advantages.len()
        )));
    }
    let loss_cfg = cfg.loss_config();
    let adv = Tensor::<B, 1>::from_data(
        TensorData::new(
            batch
                .advantages
                .iter()
                .map(|&a| a as f32)
                .collect::<Vec<_>>(),
            [rows],
        ),
        device,
    );
    let step = schedule.first_update / cfg.mu.max(1) + 1;
    let mut old: Option<Tensor<B, 2>> = None;
    let mut stats = Vec::with_capacity(cfg.mu);
    for k in 0..cfg.mu {
        let scores = match first.take() {
            Some(s) => s,
            None => {
                B::seed(device, dropout_seed(k));
                mm.score_continuations(
                    batch.prompts,
                    batch.completions,
                    batch.images,
                    batch.pad_id,
                    device,
                )?
            }
        };
        if cfg.mu > 1 && old.is_none() {
            old = Some(scores.logprobs.clone().detach());
        }
        let out = policy_loss(
            &loss_cfg,
            PolicyLossInput {
                logp: scores.logprobs,
                old_logp: old.clone(),
                ref_logp: ref_logp.clone(),
                mask: scores.mask,
                advantages: Advantages::PerSequence(adv.clone()),
            },
        )
        .map_err(|source| TrainError::Loss { step, source })?;
        let loss = out.loss.clone().into_scalar().elem::<f64>();
        let scaled = match &shard {
            Some(s) => out
                .loss
                .mul_scalar(rows as f64 / s.total_rows.max(1) as f64),
            None => out.loss,
        };
        let mut grads = GradientsParams::from_grads(scaled.backward(), &mm.model);
        observe(k, &mm.model, &grads);
        if let Some(s) = shard.as_mut() {
            grads = (s.reduce)(grads)?;
        }
        let (grads, grad_norm) =
            optim::clip_global_norm::<B>(grads, lora_ids, cfg.optimizer.max_grad_norm);
        let learning_rate = optim::scheduled_lr(
            cfg.optimizer.learning_rate,
            cfg.optimizer.warmup_steps,
            schedule.total_updates,
            schedule.first_update + k,
        );
        let Qwen3VlMultimodal {
            model,
            visual,
            image_token_id,
        } = mm;
        let model = optim.step(learning_rate, model, grads);
        mm = Qwen3VlMultimodal {
            model,
            visual,
            image_token_id,
        };
        stats.push(PassStats {
            loss,
            clip_fraction: out.stats.clip_fraction,
            mean_ratio: out.stats.mean_ratio,
            kl: out.stats.kl,
            grad_norm,
            learning_rate,
        });
    }
    Ok((mm, stats))
}
