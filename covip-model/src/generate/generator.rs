//! Batched autoregressive generation with a KV cache (left padding, per-row stop ids).
use burn::tensor::{DType, Tensor, TensorData, backend::Backend};

use crate::error::{ModelError, Result};
use crate::generate::cache::KvCache;
use crate::generate::sampling::{Rng, Sampling, select_token};
use crate::model::{ModelInput, Qwen3Vl};
use crate::position_ids::{attention_bias, decode_position_ids, position_tensor};

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    pub sampling: Sampling,
    /// Generation stops for a row once it emits one of these (the stop token is kept).
    pub stop_ids: Vec<u32>,
    /// Row `i` draws from its own stream seeded with `seed + i`, so a prompt samples the same
    /// tokens alone or in a batch.
    pub seed: u64,
    /// Token used to left-pad shorter prompts (never attended to).
    pub pad_id: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
}

#[derive(Debug, Clone)]
pub struct Generation {
    /// New tokens per prompt, including the stop token when one ended the row.
    pub tokens: Vec<Vec<u32>>,
    pub finish: Vec<FinishReason>,
}

/// Generates continuations of `prompts` (token ids, unpadded). `on_token(row, id)` is called
/// for every new token as soon as it is chosen (streaming).
pub fn generate<B: Backend>(
    model: &Qwen3Vl<B>,
    prompts: &[Vec<u32>],
    opts: &GenerateOptions,
    device: &B::Device,
    on_token: impl FnMut(usize, u32),
) -> Result<Generation> {
    if prompts.is_empty() || prompts.iter().any(Vec::is_empty) {
        return Err(ModelError::Input(
            "generate needs at least one non-empty prompt".into(),
        ));
    }
    let (ids, valid) = left_pad(prompts, opts.pad_id);
    let (input, deltas) = model.text_input(&ids, &valid, device);
    generate_prefilled(model, prompts, valid, input, deltas, opts, device, on_token)
}

/// Left-pads `prompts` with `pad_id`: ids `[B][T]` and validity `[B][T]`.
pub fn left_pad(prompts: &[Vec<u32>], pad_id: u32) -> (Vec<Vec<u32>>, Vec<Vec<bool>>) {
    let t = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(prompts.len());
    let mut valid = Vec::with_capacity(prompts.len());
    for p in prompts {
        let pad = t - p.len();
        ids.push([vec![pad_id; pad], p.clone()].concat());
        valid.push([vec![false; pad], vec![true; p.len()]].concat());
    }
    (ids, valid)
}

/// Generation from a ready prefill `input` (text or multimodal) over the left-padded batch
/// whose validity is `valid` (`[B][T]`); `deltas` offsets decode positions (see
/// [`crate::position_ids::decode_position_ids`]). `prompts` are the unpadded ids (penalties).
#[allow(clippy::too_many_arguments)]
pub fn generate_prefilled<B: Backend>(
    model: &Qwen3Vl<B>,
    prompts: &[Vec<u32>],
    mut valid: Vec<Vec<bool>>,
    input: ModelInput<B>,
    deltas: Vec<i64>,
    opts: &GenerateOptions,
    device: &B::Device,
    mut on_token: impl FnMut(usize, u32),
) -> Result<Generation> {
    let b = prompts.len();
    let mut cache = KvCache::new(model.num_layers());
    let hidden = model.forward_hidden(input, Some(&mut cache))?;
    let mut logits = last_logits(model, hidden)?;
    let mut rngs: Vec<Rng> = (0..b)
        .map(|i| Rng::new(opts.seed.wrapping_add(i as u64)))
        .collect();
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); b];
    let mut finish = vec![FinishReason::Length; b];
    let mut done = vec![false; b];
    let vocab = logits.len() / b;
    for step in 0..opts.max_new_tokens {
        let mut next = Vec::with_capacity(b);
        for r in 0..b {
            if done[r] {
                next.push(opts.pad_id);
                continue;
            }
            let row = &mut logits[r * vocab..(r + 1) * vocab];
            let context: Vec<u32> = prompts[r].iter().chain(&out[r]).copied().collect();
            let tok = select_token(row, &context, &out[r], &opts.sampling, &mut rngs[r]);
            out[r].push(tok);
            on_token(r, tok);
            if opts.stop_ids.contains(&tok) {
                done[r] = true;
                finish[r] = FinishReason::Stop;
            }
            next.push(tok);
        }
        if done.iter().all(|&d| d) || step + 1 == opts.max_new_tokens {
            break;
        }
        let cached = cache.seq_len();
        // Finished rows keep decoding a pad token; their outputs are discarded.
        for v in valid.iter_mut() {
            v.push(true);
        }
        let input = ModelInput {
            input_ids: Some(Tensor::from_data(
                TensorData::new(next.iter().map(|&x| x as i64).collect::<Vec<_>>(), [b, 1]),
                device,
            )),
            inputs_embeds: None,
            position_ids: position_tensor(decode_position_ids(cached, &deltas), b, 1, device),
            attention_bias: Some(attention_bias(&valid, 1, model.dtype(), device)),
            deepstack: None,
        };
        let hidden = model.forward_hidden(input, Some(&mut cache))?;
        logits = last_logits(model, hidden)?;
    }
    Ok(Generation {
        tokens: out,
        finish,
    })
}

/// Logits of the last position of each row, f32 on the host, `[B · vocab]`.
pub(crate) fn last_logits<B: Backend>(
    model: &Qwen3Vl<B>,
    hidden: Tensor<B, 3>,
) -> Result<Vec<f32>> {
    let t = hidden.dims()[1];
    let logits = model.lm_logits(hidden.narrow(1, t - 1, 1));
    logits
        .cast(DType::F32)
        .into_data()
        .to_vec::<f32>()
        .map_err(|e| ModelError::Input(format!("reading logits: {e:?}")))
}
