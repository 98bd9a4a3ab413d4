//! Policy-gradient losses on burn tensors (SPEC §5): GSPO (sequence ratio), GSPO-token,
//! GRPO (token ratio) and Dr.GRPO, with the group advantages they use.
//!
//! Inputs are per-token log-probabilities `[B, T]` of the sampled completion tokens under the
//! current policy (with gradients), optionally under the policy that sampled them (`old`; when
//! absent the current values, detached, are used, so every ratio is exactly 1) and under a
//! reference policy (for the KL term), a `[B, T]` mask (1 for completion tokens, 0 for padding)
//! and advantages per sequence `[B]` (or per token `[B, T]` for the token-level variants).
//!
//! ```
//! use burn::backend::Flex;
//! use burn::tensor::Tensor;
//! use covip_rl::{policy_loss, Advantages, PolicyLossConfig, PolicyLossInput};
//! let dev = Default::default();
//! let logp = Tensor::<Flex, 2>::from_floats([[-1.0, -2.0], [-0.5, -0.5]], &dev);
//! let mask = Tensor::<Flex, 2>::from_floats([[1.0, 1.0], [1.0, 0.0]], &dev);
//! let adv = Tensor::<Flex, 1>::from_floats([1.0, -1.0], &dev);
//! let out = policy_loss(&PolicyLossConfig::gspo(), PolicyLossInput {
//!     logp, old_logp: None, ref_logp: None, mask, advantages: Advantages::PerSequence(adv),
//! }).unwrap();
//! // Ratios are 1: loss = -mean(A) = 0.
//! assert_eq!(out.loss.into_scalar(), 0.0);
//! assert_eq!((out.stats.mean_ratio, out.stats.clip_fraction), (1.0, 0.0));
//! ```
pub mod advantage;
pub mod grpo;
pub mod gspo;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

pub use advantage::{AdvantageScale, GROUP_STD_EPS, group_advantages};

/// Which objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyLossKind {
    /// Sequence ratio s_i = exp(mean_t(logp − old)), clipped per sequence; loss = mean_i L_i.
    Gspo,
    /// s_i,t = sg[s_i]·π_θ(y_t)/sg[π_θ(y_t)]: GSPO's value with per-token advantages allowed.
    GspoToken,
    /// Token ratio exp(logp − old), clipped per token; per-sequence token mean, then batch mean.
    Grpo,
    /// GRPO's token loss summed over all tokens and divided by B × `max_completion_len`.
    DrGrpo,
}

/// Loss settings. The constructors give the released / paper defaults.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PolicyLossConfig {
    pub kind: PolicyLossKind,
    /// Lower clip: ratios below 1 − ε_low are clipped.
    pub epsilon_low: f64,
    /// Upper clip: ratios above 1 + ε_high are clipped.
    pub epsilon_high: f64,
    /// β of the KL penalty to the reference policy (0: none, no reference needed).
    pub beta: f64,
    /// Dr.GRPO's constant normaliser (the generation budget); `None` uses T, the tensor width.
    pub max_completion_len: Option<usize>,
}

impl PolicyLossConfig {
    /// GSPO as released: ε_low 3e-4, ε_high 4e-4, β 0.
    pub fn gspo() -> Self {
        PolicyLossConfig {
            kind: PolicyLossKind::Gspo,
            epsilon_low: 3e-4,
            epsilon_high: 4e-4,
            beta: 0.0,
            max_completion_len: None,
        }
    }

    /// GSPO-token with GSPO's clip range.
    pub fn gspo_token() -> Self {
        PolicyLossConfig {
            kind: PolicyLossKind::GspoToken,
            ..Self::gspo()
        }
    }

    /// GRPO: ε 0.2 both sides, β 0.
    pub fn grpo() -> Self {
        PolicyLossConfig {
            kind: PolicyLossKind::Grpo,
            epsilon_low: 0.2,
            epsilon_high: 0.2,
            beta: 0.0,
            max_completion_len: None,
        }
    }

    /// Dr.GRPO: ε 0.2, β 0; pair it with [`AdvantageScale::None`].
    pub fn dr_grpo() -> Self {
        PolicyLossConfig {
            kind: PolicyLossKind::DrGrpo,
            ..Self::grpo()
        }
    }
}

/// Advantages per sequence `[B]` or per token `[B, T]` (token-level variants only).
#[derive(Clone, Debug)]
pub enum Advantages<B: Backend> {
    PerSequence(Tensor<B, 1>),
    PerToken(Tensor<B, 2>),
}

/// The tensors a loss reads. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct PolicyLossInput<B: Backend> {
    /// log π_θ of each completion token, `[B, T]`, with gradients.
    pub logp: Tensor<B, 2>,
    /// log π_old, `[B, T]`; `None`: the current values, detached (ratio exactly 1).
    pub old_logp: Option<Tensor<B, 2>>,
    /// log π_ref, `[B, T]`; needed when β > 0, and the KL statistic is reported whenever given.
    pub ref_logp: Option<Tensor<B, 2>>,
    /// 1 for completion tokens, 0 for padding, `[B, T]`; every row needs a token.
    pub mask: Tensor<B, 2>,
    pub advantages: Advantages<B>,
}

/// Diagnostics of one loss evaluation (no gradients).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct LossStats {
    /// Share of ratios outside [1 − ε_low, 1 + ε_high]: sequences for GSPO, completion tokens
    /// for the token-level variants.
    pub clip_fraction: f64,
    /// Mean ratio over the same units.
    pub mean_ratio: f64,
    /// Mean over sequences of the token-mean k3 KL estimate exp(ref − logp) − (ref − logp) − 1;
    /// `None` without reference log-probs.
    pub kl: Option<f64>,
}

/// The scalar loss (shape `[1]`, differentiable) and its statistics.
#[derive(Clone, Debug)]
pub struct PolicyLoss<B: Backend> {
    pub loss: Tensor<B, 1>,
    pub stats: LossStats,
}

/// Inputs that do not fit together.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LossError {
    #[error("{name} has shape {got:?}, expected {expected:?}")]
    Shape {
        name: &'static str,
        got: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error("sequence {0} has no completion tokens in the mask")]
    EmptySequence(usize),
    #[error("beta = {0} > 0 needs reference log-probs")]
    MissingReference(f64),
    #[error("{0:?} takes one advantage per sequence, not per token")]
    PerTokenAdvantages(PolicyLossKind),
    #[error("advantages: {0}")]
    Advantages(String),
}

/// Computes the configured loss. See [`PolicyLossKind`] for the variants.
pub fn policy_loss<B: Backend>(
    config: &PolicyLossConfig,
    input: PolicyLossInput<B>,
) -> Result<PolicyLoss<B>, LossError> {
    let [b, t] = input.logp.dims();
    let check = |name: &'static str, dims: Vec<usize>, expected: Vec<usize>| {
        if dims == expected {
            Ok(())
        } else {
            Err(LossError::Shape {
                name,
                got: dims,
                expected,
            })
        }
    };
    check("mask", input.mask.dims().to_vec(), vec![b, t])?;
    if let Some(o) = &input.old_logp {
        check("old_logp", o.dims().to_vec(), vec![b, t])?;
    }
    if let Some(r) = &input.ref_logp {
        check("ref_logp", r.dims().to_vec(), vec![b, t])?;
    }
    match &input.advantages {
        Advantages::PerSequence(a) => check("advantages", a.dims().to_vec(), vec![b])?,
        Advantages::PerToken(a) => {
            if config.kind == PolicyLossKind::Gspo {
                return Err(LossError::PerTokenAdvantages(config.kind));
            }
            check("advantages", a.dims().to_vec(), vec![b, t])?
        }
    }
    if config.beta > 0.0 && input.ref_logp.is_none() {
        return Err(LossError::MissingReference(config.beta));
    }
    let lens = to_vec(input.mask.clone().sum_dim(1));
    if let Some(i) = lens.iter().position(|&l| l <= 0.0) {
        return Err(LossError::EmptySequence(i));
    }
    Ok(match config.kind {
        PolicyLossKind::Gspo => gspo::gspo_loss(config, input),
        PolicyLossKind::GspoToken => gspo::gspo_token_loss(config, input),
        PolicyLossKind::Grpo | PolicyLossKind::DrGrpo => grpo::grpo_loss(config, input),
    })
}

/// Host copy of a tensor's values as f64.
pub(crate) fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

/// Per-token k3 KL estimate exp(ref − logp) − (ref − logp) − 1.
pub(crate) fn token_kl<B: Backend>(logp: Tensor<B, 2>, ref_logp: Tensor<B, 2>) -> Tensor<B, 2> {
    let d = ref_logp - logp;
    d.clone().exp() - d - 1.0
}

/// Advantages as a `[B, 1]` or `[B, T]` tensor.
pub(crate) fn advantages_2d<B: Backend>(a: Advantages<B>) -> Tensor<B, 2> {
    match a {
        Advantages::PerSequence(a) => a.unsqueeze_dim(1),
        Advantages::PerToken(a) => a,
    }
}

/// −min(r·A, clip(r)·A), elementwise.
pub(crate) fn clipped_objective<B: Backend, const D: usize>(
    ratio: Tensor<B, D>,
    adv: Tensor<B, D>,
    config: &PolicyLossConfig,
) -> Tensor<B, D> {
    let clipped = ratio
        .clone()
        .clamp(1.0 - config.epsilon_low, 1.0 + config.epsilon_high);
    let a = ratio * adv.clone();
    let c = clipped * adv;
    a.min_pair(c).neg()
}

/// (clip fraction, mean ratio) over the units whose weight is positive; a ratio counts as
/// clipped when clamping changes it (as the released trainer measures it).
pub(crate) fn ratio_stats<B: Backend, const D: usize>(
    ratio: Tensor<B, D>,
    weight: Tensor<B, D>,
    config: &PolicyLossConfig,
) -> (f64, f64) {
    let r = ratio.detach();
    let c = to_vec(
        r.clone()
            .clamp(1.0 - config.epsilon_low, 1.0 + config.epsilon_high),
    );
    let r = to_vec(r);
    let w = to_vec(weight);
    let (mut n, mut clipped, mut sum) = (0.0, 0.0, 0.0);
    for ((r, c), w) in r.iter().zip(&c).zip(&w) {
        if *w > 0.0 {
            n += 1.0;
            sum += r;
            if r != c {
                clipped += 1.0;
            }
        }
    }
    (clipped / n, sum / n)
}
