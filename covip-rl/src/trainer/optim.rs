//! The optimiser side of a step, written by hand where burn 0.21 differs from the released
//! trainer: AdamW with every value explicit, the linear schedule, and clipping by the global
//! norm of all LoRA gradients together (burn clips per tensor).
use burn::module::ParamId;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};

use super::config::OptimizerConfig;

/// AdamW as configured: β1, β2, ε and weight decay set explicitly (burn's defaults are
/// ε 1e-5 and weight decay 1e-4), no clipping inside burn (see [`clip_global_norm`]).
pub fn adamw(cfg: &OptimizerConfig) -> AdamWConfig {
    AdamWConfig::new()
        .with_beta_1(cfg.beta1)
        .with_beta_2(cfg.beta2)
        .with_epsilon(cfg.epsilon)
        .with_weight_decay(cfg.weight_decay)
}

/// The learning rate of optimiser update `update` (0-based) out of `total`: linear warm-up
/// from 0 over `warmup` updates, then linear decay to 0 at `total`, as transformers'
/// `get_linear_schedule_with_warmup` computes it (the first update after warm-up uses the
/// peak rate; the last uses peak / (total − warmup)).
pub fn scheduled_lr(peak: f64, warmup: usize, total: usize, update: usize) -> f64 {
    if update < warmup {
        return peak * update as f64 / warmup.max(1) as f64;
    }
    let left = total.saturating_sub(update) as f64;
    let span = total.saturating_sub(warmup).max(1) as f64;
    peak * (left / span).max(0.0)
}

/// Keeps only the gradients of `ids` (the LoRA matrices, all rank 2), scales them together
/// so that their global L2 norm is at most `max_norm` (torch's `clip_grad_norm_`: factor
/// `max_norm / (norm + 1e-6)` when below 1; `max_norm` 0 disables) and returns them with the
/// norm before clipping. A missing gradient counts as zero.
pub fn clip_global_norm<B: AutodiffBackend>(
    mut grads: GradientsParams,
    ids: &[ParamId],
    max_norm: f64,
) -> (GradientsParams, f64) {
    let mut kept: Vec<(ParamId, Tensor<B::InnerBackend, 2>)> = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(g) = grads.remove::<B::InnerBackend, 2>(*id) {
            kept.push((*id, g));
        }
    }
    let norm = global_norm::<B::InnerBackend>(kept.iter().map(|(_, g)| g));
    let mut out = GradientsParams::new();
    let factor = if max_norm > 0.0 {
        (max_norm / (norm + 1e-6)).min(1.0)
    } else {
        1.0
    };
    for (id, g) in kept {
        let g = if factor < 1.0 {
            g.mul_scalar(factor)
        } else {
            g
        };
        out.register::<B::InnerBackend, 2>(id, g);
    }
    (out, norm)
}

/// √(Σ g²) over every element of every tensor, accumulated in f64.
pub fn global_norm<'a, B: Backend>(grads: impl Iterator<Item = &'a Tensor<B, 2>>) -> f64 {
    let mut sum = 0.0f64;
    for g in grads {
        let sq: f32 = g.clone().powi_scalar(2).sum().into_scalar().elem();
        sum += sq as f64;
    }
    sum.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};

    type AB = Autodiff<Flex>;

    #[test]
    fn linear_schedule_without_and_with_warmup() {
        let lr: Vec<f64> = (0..4).map(|u| scheduled_lr(4.0, 0, 4, u)).collect();
        assert_eq!(lr, [4.0, 3.0, 2.0, 1.0]);
        assert_eq!(scheduled_lr(4.0, 0, 4, 4), 0.0);
        let lr: Vec<f64> = (0..6).map(|u| scheduled_lr(4.0, 2, 6, u)).collect();
        assert_eq!(lr, [0.0, 2.0, 4.0, 3.0, 2.0, 1.0]);
        assert_eq!(scheduled_lr(1.0, 0, 1, 0), 1.0);
    }

    #[test]
    fn adamw_values_are_explicit() {
        // The fields are private: read them through Debug.
        let c = format!("{:?}", adamw(&OptimizerConfig::default()));
        for want in [
            "beta_1: 0.9",
            "beta_2: 0.999",
            "epsilon: 1e-8",
            "weight_decay: 0.0",
            "grad_clipping: None",
        ] {
            assert!(c.contains(want), "{want} not in {c}");
        }
    }

    #[test]
    fn global_norm_clip_scales_all_tensors_together() {
        let dev = Default::default();
        let a = Tensor::<Flex, 2>::from_floats([[3.0, 0.0]], &dev);
        let b = Tensor::<Flex, 2>::from_floats([[0.0], [4.0]], &dev);
        let c = Tensor::<Flex, 2>::from_floats([[100.0]], &dev);
        let (ia, ib, ic) = (ParamId::from(1), ParamId::from(2), ParamId::from(3));
        let mut g = GradientsParams::new();
        g.register::<Flex, 2>(ia, a);
        g.register::<Flex, 2>(ib, b);
        g.register::<Flex, 2>(ic, c);
        // Only a and b are kept: norm 5, clipped to 1 (factor 1 / (5 + 1e-6)).
        let (out, norm) = clip_global_norm::<AB>(g, &[ia, ib], 1.0);
        assert!((norm - 5.0).abs() < 1e-9);
        assert_eq!(out.len(), 2);
        let a: Vec<f32> = out
            .get::<Flex, 2>(ia)
            .unwrap()
            .into_data()
            .to_vec()
            .unwrap();
        let f = (1.0 / (5.0 + 1e-6)) as f32;
        assert!((a[0] - 3.0 * f).abs() < 1e-7 && a[1] == 0.0, "{a:?}");
        let b: Vec<f32> = out
            .get::<Flex, 2>(ib)
            .unwrap()
            .into_data()
            .to_vec()
            .unwrap();
        assert!((b[1] - 4.0 * f).abs() < 1e-7);
        assert!(out.get::<Flex, 2>(ic).is_none());

        // Below the limit nothing changes.
        let mut g = GradientsParams::new();
        g.register::<Flex, 2>(ia, Tensor::<Flex, 2>::from_floats([[0.3, 0.4]], &dev));
        let (out, norm) = clip_global_norm::<AB>(g, &[ia], 1.0);
        assert!((norm - 0.5).abs() < 1e-7);
        let a: Vec<f32> = out
            .get::<Flex, 2>(ia)
            .unwrap()
            .into_data()
            .to_vec()
            .unwrap();
        assert_eq!(a, [0.3, 0.4]);
    }
}
