//! Sequence scoring: per-token log-probabilities of given continuations.
//!
//! Differentiable when `B` is an autodiff backend (the GSPO trainer backpropagates through
//! it); on a plain backend (or `model.valid()`) the same code is the no-grad evaluation path.
use burn::tensor::{DType, Int, Tensor, TensorData, activation::log_softmax, backend::Backend};

use crate::error::{ModelError, Result};
use crate::model::Qwen3Vl;

/// Log-probs of a batch of continuations, left-aligned: `logprobs[i, j]` scores token `j` of
/// continuation `i`; `mask[i, j]` is 1 where that token exists, 0 in the padding.
#[derive(Debug, Clone)]
pub struct Scores<B: Backend> {
    /// `[B, L]` f32, L = longest continuation; 0 in padding.
    pub logprobs: Tensor<B, 2>,
    /// `[B, L]` f32 in {0, 1}.
    pub mask: Tensor<B, 2>,
}

/// Scores `continuations[i]` given `prompts[i]`. Sequences are laid out as
/// `[left pad, prompt, continuation, right pad]` so every continuation starts at the same index.
pub fn score_continuations<B: Backend>(
    model: &Qwen3Vl<B>,
    prompts: &[Vec<u32>],
    continuations: &[Vec<u32>],
    pad_id: u32,
    device: &B::Device,
) -> Result<Scores<B>> {
    if prompts.len() != continuations.len() || prompts.is_empty() {
        return Err(ModelError::Input(format!(
            "score: {} prompts for {} continuations",
            prompts.len(),
            continuations.len()
        )));
    }
    if prompts.iter().any(Vec::is_empty) || continuations.iter().any(Vec::is_empty) {
        return Err(ModelError::Input(
            "score: empty prompt or continuation".into(),
        ));
    }
    let b = prompts.len();
    let p_max = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let l = continuations.iter().map(Vec::len).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(b);
    let mut valid = Vec::with_capacity(b);
    let mut targets = Vec::with_capacity(b * l);
    let mut mask = Vec::with_capacity(b * l);
    for (p, c) in prompts.iter().zip(continuations) {
        let (lp, rp) = (p_max - p.len(), l - c.len());
        ids.push([vec![pad_id; lp], p.clone(), c.clone(), vec![pad_id; rp]].concat());
        valid.push(
            [
                vec![false; lp],
                vec![true; p.len() + c.len()],
                vec![false; rp],
            ]
            .concat(),
        );
        for j in 0..l {
            targets.push(c.get(j).copied().unwrap_or(0) as i64);
            mask.push(if j < c.len() { 1.0f32 } else { 0.0 });
        }
    }
    let (input, _) = model.text_input(&ids, &valid, device);
    let hidden = model.forward_hidden(input, None)?;
    // Position p_max - 1 + j predicts continuation token j.
    let logits = model.lm_logits(hidden.narrow(1, p_max - 1, l));
    let logp = log_softmax(logits.cast(DType::F32), 2); // [B, L, V]
    let idx = Tensor::<B, 3, Int>::from_data(TensorData::new(targets, [b, l, 1]), device);
    let mask = Tensor::<B, 2>::from_data(TensorData::new(mask, [b, l]), (device, DType::F32));
    let logprobs = logp.gather(2, idx).reshape([b, l]) * mask.clone();
    Ok(Scores { logprobs, mask })
}
