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

/// The batch layout of scoring: `[left pad, prompt, continuation, right pad]` per row, so every
/// continuation starts at index `prompt_len`.
pub struct ScoreLayout {
    /// `[B][T]` token ids.
    pub ids: Vec<Vec<u32>>,
    /// `[B][T]`: true on prompt and continuation tokens.
    pub valid: Vec<Vec<bool>>,
    /// Longest prompt: position `prompt_len - 1 + j` predicts continuation token `j`.
    pub prompt_len: usize,
    /// Longest continuation (L).
    pub cont_len: usize,
    /// `[B·L]` continuation tokens (0 in padding).
    pub targets: Vec<i64>,
    /// `[B·L]` 1 where a continuation token exists.
    pub mask: Vec<f32>,
}

impl ScoreLayout {
    /// Lays out `continuations[i]` after `prompts[i]`; errors on empty or mismatched input.
    pub fn new(prompts: &[Vec<u32>], continuations: &[Vec<u32>], pad_id: u32) -> Result<Self> {
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
        let mut layout = ScoreLayout {
            ids: Vec::with_capacity(b),
            valid: Vec::with_capacity(b),
            prompt_len: p_max,
            cont_len: l,
            targets: Vec::with_capacity(b * l),
            mask: Vec::with_capacity(b * l),
        };
        for (p, c) in prompts.iter().zip(continuations) {
            let (lp, rp) = (p_max - p.len(), l - c.len());
            layout
                .ids
                .push([vec![pad_id; lp], p.clone(), c.clone(), vec![pad_id; rp]].concat());
            layout.valid.push(
                [
                    vec![false; lp],
                    vec![true; p.len() + c.len()],
                    vec![false; rp],
                ]
                .concat(),
            );
            for j in 0..l {
                layout.targets.push(c.get(j).copied().unwrap_or(0) as i64);
                layout.mask.push(if j < c.len() { 1.0f32 } else { 0.0 });
            }
        }
        Ok(layout)
    }

    /// Gathers the continuation log-probs from the final hidden states `[B, T, H]`.
    pub fn gather<B: Backend>(
        &self,
        model: &Qwen3Vl<B>,
        hidden: Tensor<B, 3>,
        device: &B::Device,
    ) -> Scores<B> {
        let (b, l) = (self.ids.len(), self.cont_len);
        let logits = model.lm_logits(hidden.narrow(1, self.prompt_len - 1, l));
        let logp = log_softmax(logits.cast(DType::F32), 2); // [B, L, V]
        let idx = Tensor::<B, 3, Int>::from_data(
            TensorData::new(self.targets.clone(), [b, l, 1]),
            device,
        );
        let mask = Tensor::<B, 2>::from_data(
            TensorData::new(self.mask.clone(), [b, l]),
            (device, DType::F32),
        );
        let logprobs = logp.gather(2, idx).reshape([b, l]) * mask.clone();
        Scores { logprobs, mask }
    }
}

/// Scores `continuations[i]` given `prompts[i]` (text only). Sequences are laid out as
/// `[left pad, prompt, continuation, right pad]` so every continuation starts at the same index.
pub fn score_continuations<B: Backend>(
    model: &Qwen3Vl<B>,
    prompts: &[Vec<u32>],
    continuations: &[Vec<u32>],
    pad_id: u32,
    device: &B::Device,
) -> Result<Scores<B>> {
    let layout = ScoreLayout::new(prompts, continuations, pad_id)?;
    let (input, _) = model.text_input(&layout.ids, &layout.valid, device);
    let hidden = model.forward_hidden(input, None)?;
    Ok(layout.gather(model, hidden, device))
}
