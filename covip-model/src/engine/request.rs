//! What a caller asks of the engine and what it hears back.
use crate::generate::generator::FinishReason;
use crate::generate::sampling::Sampling;
use crate::processor::image::PixelPatches;

/// The engine's name for one admitted request (unique per engine).
pub type RequestId = u64;

/// One prompt to continue `n` times.
#[derive(Debug, Clone)]
pub struct SeqRequest {
    /// Prompt ids with every image's placeholders already expanded.
    pub prompt: Vec<u32>,
    /// The prompt's images in placeholder order (`None` for text).
    pub images: Option<PixelPatches>,
    /// Samples of this prompt (≥ 1). They share the prefill: the prompt runs once.
    pub n: usize,
    pub max_new_tokens: usize,
    pub sampling: Sampling,
    /// Choice `i` draws from its own stream seeded with `seed + i`.
    pub seed: u64,
    /// A choice stops once it emits one of these (the stop token is reported).
    pub stop_ids: Vec<u32>,
    /// `Some(k)`: report each sampled token's log-prob and the `k` most likely tokens'.
    pub logprobs: Option<usize>,
}

impl SeqRequest {
    /// A greedy request for one continuation.
    pub fn greedy(prompt: Vec<u32>, max_new_tokens: usize, stop_ids: Vec<u32>) -> Self {
        SeqRequest {
            prompt,
            images: None,
            n: 1,
            max_new_tokens,
            sampling: Sampling::greedy(),
            seed: 0,
            stop_ids,
            logprobs: None,
        }
    }
}

/// Log-probs of a sampled token, from the model's log-softmax before temperature and
/// penalties (what vLLM reports by default).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub logprob: f32,
    /// The most likely tokens and their log-probs, most likely first.
    pub top: Vec<(u32, f32)>,
}

/// What the engine reports about a request, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// Choice `choice` emitted `token`.
    Token {
        choice: usize,
        token: u32,
        logprob: Option<TokenLogprob>,
    },
    /// Choice `choice` ended (after its last token event).
    Finished { choice: usize, reason: FinishReason },
    /// The request failed as a whole (its prompt did not prefill, say); nothing follows.
    Failed { message: String },
}

/// Log-prob of `token` and the `top` most likely tokens of raw `logits` (one row), computed
/// in f64: log-softmax before any temperature or penalty.
pub fn token_logprob(logits: &[f32], token: u32, top: usize) -> TokenLogprob {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max
        + logits
            .iter()
            .map(|&l| (l as f64 - max).exp())
            .sum::<f64>()
            .ln();
    let lp = |i: usize| (logits[i] as f64 - lse) as f32;
    let mut best: Vec<u32> = Vec::new();
    if top > 0 {
        let mut order: Vec<u32> = (0..logits.len() as u32).collect();
        let k = top.min(order.len());
        // Largest first; ties by lower id (a stable order clients can rely on).
        let cmp = |a: &u32, b: &u32| {
            logits[*b as usize]
                .total_cmp(&logits[*a as usize])
                .then(a.cmp(b))
        };
        if k < order.len() {
            order.select_nth_unstable_by(k - 1, cmp);
            order.truncate(k);
        }
        order.sort_by(cmp);
        best = order;
    }
    TokenLogprob {
        logprob: lp(token as usize),
        top: best.into_iter().map(|i| (i, lp(i as usize))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logprobs_are_a_log_softmax_and_top_is_sorted() {
        let l = [0.0f32, (3.0f32).ln(), 0.0];
        let t = token_logprob(&l, 1, 2);
        assert!((t.logprob - (3.0f32 / 5.0).ln()).abs() < 1e-6);
        assert_eq!(t.top[0].0, 1);
        assert_eq!(t.top[1].0, 0, "ties go to the lower id");
        assert!((t.top[1].1 - (1.0f32 / 5.0).ln()).abs() < 1e-6);
        assert!(token_logprob(&l, 2, 0).top.is_empty());
        assert_eq!(token_logprob(&l, 2, 10).top.len(), 3);
    }
}
