//! GRPO (token-level ratio) and Dr.GRPO.
use super::gspo::{mean, sequence_kl};
use super::{
    LossStats, PolicyLoss, PolicyLossConfig, PolicyLossInput, PolicyLossKind, advantages_2d,
    clipped_objective, ratio_stats, to_vec, token_kl,
};
use burn::tensor::backend::Backend;

/// Token loss ℓ_t = −min(r_t A, clip(r_t) A) + β·KL_t with r_t = exp(logp_t − old_t).
/// GRPO: mean over sequences of the per-sequence token mean. Dr.GRPO: Σ_{i,t} ℓ_t / (B · L),
/// L = `max_completion_len` or T.
pub(crate) fn grpo_loss<B: Backend>(
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
    let ratio = (logp.clone() - old).exp();
    let adv = advantages_2d(advantages).expand([b, t]);
    let mut token_loss = clipped_objective(ratio.clone(), adv, config);
    let len = mask.clone().sum_dim(1);
    if config.beta > 0.0 {
        let r = ref_logp.clone().expect("checked: beta > 0 has a reference");
        token_loss = token_loss + token_kl(logp.clone(), r) * config.beta;
    }
    let masked = token_loss * mask.clone();
    let loss = match config.kind {
        PolicyLossKind::DrGrpo => {
            let l = config.max_completion_len.unwrap_or(t).max(1);
            masked.sum() / (b * l) as f64
        }
        _ => (masked.sum_dim(1) / len.clone()).mean(),
    };
    let kl = sequence_kl(&logp, ref_logp, &mask, &len);
    let (clip_fraction, mean_ratio) = ratio_stats(ratio, mask, config);
    PolicyLoss {
        loss,
        stats: LossStats {
            clip_fraction,
            mean_ratio,
            kl: kl.map(|k| mean(&to_vec(k.detach()))),
        },
    }
}
