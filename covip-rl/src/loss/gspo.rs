//! GSPO (sequence-level ratio) and GSPO-token.
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::{
    LossStats, PolicyLoss, PolicyLossConfig, PolicyLossInput, advantages_2d, clipped_objective,
    ratio_stats, to_vec, token_kl,
};

/// log s_i = Σ_t mask·(logp − old) / Σ_t mask, as `[B, 1]`, and the token counts `[B, 1]`.
fn sequence_log_ratio<B: Backend>(
    logp: &Tensor<B, 2>,
    old: Tensor<B, 2>,
    mask: &Tensor<B, 2>,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let len = mask.clone().sum_dim(1);
    let log_ratio = ((logp.clone() - old) * mask.clone()).sum_dim(1) / len.clone();
    (log_ratio, len)
}

/// Mean over sequences of the token-mean KL, `[B, 1]`, when a reference is given.
pub(crate) fn sequence_kl<B: Backend>(
    logp: &Tensor<B, 2>,
    ref_logp: Option<Tensor<B, 2>>,
    mask: &Tensor<B, 2>,
    len: &Tensor<B, 2>,
) -> Option<Tensor<B, 2>> {
    ref_logp.map(|r| (token_kl(logp.clone(), r) * mask.clone()).sum_dim(1) / len.clone())
}

pub(crate) fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// L = mean_i −min(s_i A_i, clip(s_i) A_i) (+ β · token-mean KL_i).
pub(crate) fn gspo_loss<B: Backend>(
    config: &PolicyLossConfig,
    input: PolicyLossInput<B>,
) -> PolicyLoss<B> {
    let PolicyLossInput {
        logp,
        old_logp,
        ref_logp,
        mask,
        advantages,
    } = input;
    let old = old_logp.unwrap_or_else(|| logp.clone().detach());
    let (log_ratio, len) = sequence_log_ratio(&logp, old, &mask);
    let ratio = log_ratio.exp();
    let adv = advantages_2d(advantages);
    let mut seq_loss = clipped_objective(ratio.clone(), adv, config);
    let kl = sequence_kl(&logp, ref_logp, &mask, &len);
    if config.beta > 0.0 {
        let k = kl.clone().expect("checked: beta > 0 has a reference");
        seq_loss = seq_loss + k * config.beta;
    }
    let (clip_fraction, mean_ratio) = ratio_stats(ratio.clone(), ratio.ones_like(), config);
    PolicyLoss {
        loss: seq_loss.mean(),
        stats: LossStats {
            clip_fraction,
            mean_ratio,
            kl: kl.map(|k| mean(&to_vec(k.detach()))),
        },
    }
}

/// s_i,t = sg[s_i] · exp(logp_t − sg[logp_t]); token losses averaged per sequence, then over
/// the batch. Equal to GSPO in value and gradient when advantages are per sequence.
pub(crate) fn gspo_token_loss<B: Backend>(
    config: &PolicyLossConfig,
    input: PolicyLossInput<B>,
) -> PolicyLoss<B> {
    let PolicyLossInput {
        logp,
        old_logp,
        ref_logp,
        mask,
        advantages,
    } = input;
    let [b, t] = logp.dims();
    let old = old_logp.unwrap_or_else(|| logp.clone().detach());
    let (log_ratio, len) = sequence_log_ratio(&logp, old, &mask);
    let log_w = log_ratio.detach().expand([b, t]) + logp.clone() - logp.clone().detach();
    let ratio = log_w.exp();
    let adv = advantages_2d(advantages).expand([b, t]);
    let token_loss = clipped_objective(ratio.clone(), adv, config);
    let mut seq_loss = (token_loss * mask.clone()).sum_dim(1) / len.clone();
    let kl = sequence_kl(&logp, ref_logp, &mask, &len);
    if config.beta > 0.0 {
        let k = kl.clone().expect("checked: beta > 0 has a reference");
        seq_loss = seq_loss + k * config.beta;
    }
    let (clip_fraction, mean_ratio) = ratio_stats(ratio, mask, config);
    PolicyLoss {
        loss: seq_loss.mean(),
        stats: LossStats {
            clip_fraction,
            mean_ratio,
            kl: kl.map(|k| mean(&to_vec(k.detach()))),
        },
    }
}
