//! The synchronous engine: admit (prefill alone), step (one batched decode step), cancel.
use std::sync::Arc;

use burn::tensor::{Tensor, TensorData, backend::Backend};

use crate::engine::batch::RunningBatch;
use crate::engine::request::{EngineEvent, RequestId, SeqRequest, TokenLogprob, token_logprob};
use crate::error::{ModelError, Result};
use crate::generate::cache::KvCache;
use crate::generate::generator::{FinishReason, last_logits};
use crate::generate::sampling::{Rng, Sampling, select_token};
use crate::model::{ModelInput, Qwen3Vl};
use crate::multimodal::{Images, Qwen3VlMultimodal};
use crate::position_ids::{attention_bias, position_tensor};

/// One running sequence (one choice of one request); its index in `Engine::rows` is its row
/// in the running batch's cache.
struct Row {
    id: RequestId,
    choice: usize,
    /// Prompt then generated ids (the context of the repetition penalty).
    context: Vec<u32>,
    prompt_len: usize,
    /// MRoPE position of the next input token (the same on the three axes after a prompt).
    next_pos: i64,
    /// The token sampled last: the input of the next step.
    pending: u32,
    rng: Rng,
    max_new_tokens: usize,
    sampling: Arc<Sampling>,
    stop_ids: Arc<Vec<u32>>,
    logprobs: Option<usize>,
}

impl Row {
    fn generated(&self) -> &[u32] {
        &self.context[self.prompt_len..]
    }

    /// Samples from one row of raw logits; returns the token, its log-probs when asked for,
    /// and whether the row is finished.
    fn choose(
        &mut self,
        logits: &mut [f32],
        max_len: usize,
    ) -> (u32, Option<TokenLogprob>, Option<FinishReason>) {
        let raw = self.logprobs.map(|_| logits.to_vec());
        let (context, generated) = (&self.context[..], &self.context[self.prompt_len..]);
        let tok = select_token(logits, context, generated, &self.sampling, &mut self.rng);
        let lp = raw.map(|raw| token_logprob(&raw, tok, self.logprobs.unwrap_or(0)));
        self.context.push(tok);
        self.pending = tok;
        let finish = if self.stop_ids.contains(&tok) {
            Some(FinishReason::Stop)
        } else if self.generated().len() >= self.max_new_tokens || self.context.len() >= max_len {
            Some(FinishReason::Length)
        } else {
            None
        };
        (tok, lp, finish)
    }
}

/// Continuous batching over per-sequence KV caches (see the module docs). Runs on the
/// caller's thread; [`crate::engine::EngineHandle`] puts one on a worker thread.
pub struct Engine<'m, B: Backend> {
    text: &'m Qwen3Vl<B>,
    multimodal: Option<&'m Qwen3VlMultimodal<B>>,
    device: B::Device,
    /// Most positions a sequence may hold, prompt included (the context length).
    max_len: usize,
    rows: Vec<Row>,
    batch: RunningBatch<B>,
}

impl<'m, B: Backend> Engine<'m, B> {
    /// An engine over the text model; with `multimodal` (whose `model` should be `text`)
    /// requests may carry images. `max_len` caps prompt + generated tokens.
    pub fn new(
        text: &'m Qwen3Vl<B>,
        multimodal: Option<&'m Qwen3VlMultimodal<B>>,
        device: B::Device,
        max_len: usize,
    ) -> Self {
        Engine {
            text,
            multimodal,
            batch: RunningBatch::new(text.num_layers()),
            device,
            max_len,
            rows: Vec::new(),
        }
    }

    /// Running sequences (rows of the batch).
    pub fn running(&self) -> usize {
        self.rows.len()
    }

    pub fn is_idle(&self) -> bool {
        self.rows.is_empty()
    }

    /// Prefills `req` alone and samples each choice's first token (reported through `emit`);
    /// the choices that go on join the running batch at the next [`Engine::step`]. An error
    /// leaves the running batch as it was.
    pub fn admit(
        &mut self,
        id: RequestId,
        req: SeqRequest,
        emit: &mut dyn FnMut(RequestId, EngineEvent),
    ) -> Result<()> {
        if req.n == 0 {
            return Err(ModelError::Input("n must be at least 1".into()));
        }
        if req.prompt.is_empty() {
            return Err(ModelError::Input("the prompt is empty".into()));
        }
        if req.prompt.len() >= self.max_len {
            return Err(ModelError::Input(format!(
                "the prompt has {} tokens; the context holds {} with room for one new token",
                req.prompt.len(),
                self.max_len
            )));
        }
        if req.max_new_tokens == 0 {
            for choice in 0..req.n {
                emit(
                    id,
                    EngineEvent::Finished {
                        choice,
                        reason: FinishReason::Length,
                    },
                );
            }
            return Ok(());
        }
        let prompt = vec![req.prompt.clone()];
        let valid = vec![vec![true; req.prompt.len()]];
        let (input, deltas) = match (&req.images, self.multimodal) {
            (Some(p), Some(mm)) => {
                let imgs = Images::from_patches(&[p], &self.device)?;
                mm.prefill_input(&prompt, &valid, imgs.as_ref(), &self.device)?
            }
            (Some(_), None) => {
                return Err(ModelError::Input(
                    "this model was loaded without its vision tower: images are not accepted"
                        .into(),
                ));
            }
            (None, Some(mm)) => mm.prefill_input(&prompt, &valid, None, &self.device)?,
            (None, None) => self.text.text_input(&prompt, &valid, &self.device),
        };
        let mut cache = KvCache::new(self.text.num_layers());
        let hidden = self.text.forward_hidden(input, Some(&mut cache))?;
        let logits = last_logits(self.text, hidden)?;
        let sampling = Arc::new(req.sampling);
        let stop_ids = Arc::new(req.stop_ids);
        let mut going = Vec::new();
        for choice in 0..req.n {
            let mut row = Row {
                id,
                choice,
                context: req.prompt.clone(),
                prompt_len: req.prompt.len(),
                next_pos: req.prompt.len() as i64 + deltas[0],
                pending: 0,
                rng: Rng::new(req.seed.wrapping_add(choice as u64)),
                max_new_tokens: req.max_new_tokens,
                sampling: sampling.clone(),
                stop_ids: stop_ids.clone(),
                logprobs: req.logprobs,
            };
            let mut l = logits.clone();
            let (token, logprob, finish) = row.choose(&mut l, self.max_len);
            emit(
                id,
                EngineEvent::Token {
                    choice,
                    token,
                    logprob,
                },
            );
            match finish {
                Some(reason) => emit(id, EngineEvent::Finished { choice, reason }),
                None => going.push(row),
            }
        }
        self.batch.join(&cache, going.len());
        self.rows.extend(going);
        Ok(())
    }

    /// One decode step over every running sequence: each emits one token; finished ones
    /// leave. On a model error every running request gets [`EngineEvent::Failed`] and the
    /// batch is emptied.
    pub fn step(&mut self, emit: &mut dyn FnMut(RequestId, EngineEvent)) {
        if self.rows.is_empty() {
            return;
        }
        if let Err(e) = self.try_step(emit) {
            let mut failed: Vec<RequestId> = self.rows.iter().map(|r| r.id).collect();
            failed.dedup();
            for id in failed {
                emit(
                    id,
                    EngineEvent::Failed {
                        message: format!("decoding failed: {e}"),
                    },
                );
            }
            self.rows.clear();
            self.batch = RunningBatch::new(self.text.num_layers());
        }
    }

    fn try_step(&mut self, emit: &mut dyn FnMut(RequestId, EngineEvent)) -> Result<()> {
        let b = self.rows.len();
        for v in self.batch.valid.iter_mut() {
            v.push(true);
        }
        let ids: Vec<i64> = self.rows.iter().map(|r| r.pending as i64).collect();
        let pos: Vec<i64> = self.rows.iter().map(|r| r.next_pos).collect();
        let pos = [pos.clone(), pos.clone(), pos].concat();
        let input = ModelInput {
            input_ids: Some(Tensor::from_data(
                TensorData::new(ids, [b, 1]),
                &self.device,
            )),
            inputs_embeds: None,
            position_ids: position_tensor(pos, b, 1, &self.device),
            attention_bias: Some(attention_bias(
                &self.batch.valid,
                1,
                self.text.dtype(),
                &self.device,
            )),
            deepstack: None,
        };
        let hidden = self
            .text
            .forward_hidden(input, Some(&mut self.batch.cache))?;
        let mut logits = last_logits(self.text, hidden)?;
        let vocab = logits.len() / b;
        let mut keep = Vec::with_capacity(b);
        for (r, row) in self.rows.iter_mut().enumerate() {
            row.next_pos += 1;
            let l = &mut logits[r * vocab..(r + 1) * vocab];
            let (token, logprob, finish) = row.choose(l, self.max_len);
            let choice = row.choice;
            emit(
                row.id,
                EngineEvent::Token {
                    choice,
                    token,
                    logprob,
                },
            );
            match finish {
                Some(reason) => emit(row.id, EngineEvent::Finished { choice, reason }),
                None => keep.push(r),
            }
        }
        self.retain(&keep);
        Ok(())
    }

    /// Stops request `id` (one choice, or all of them): its rows leave the batch at once and
    /// report nothing more.
    pub fn cancel(&mut self, id: RequestId, choice: Option<usize>) {
        let keep: Vec<usize> = (0..self.rows.len())
            .filter(|&r| {
                let row = &self.rows[r];
                !(row.id == id && choice.is_none_or(|c| c == row.choice))
            })
            .collect();
        self.retain(&keep);
    }

    fn retain(&mut self, keep: &[usize]) {
        if keep.len() == self.rows.len() {
            return;
        }
        self.batch.retain(keep, &self.device);
        let mut rows: Vec<Option<Row>> = std::mem::take(&mut self.rows)
            .into_iter()
            .map(Some)
            .collect();
        self.rows = keep.iter().filter_map(|&r| rows[r].take()).collect();
    }
}

/// One sample of a [`generate_group`] call.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOutput {
    /// New tokens, the stop token included when one ended the sample.
    pub tokens: Vec<u32>,
    /// Per token, when the request asked for log-probs.
    pub logprobs: Vec<TokenLogprob>,
    pub finish: FinishReason,
}

/// The samples of one prompt, choice order.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupOutput {
    pub samples: Vec<SampleOutput>,
}

/// `req.n` samples of one prompt (GSPO's group of G rollouts): the prompt is prefilled once
/// and its KV cache shared by the samples, which then decode as one batch; sample `i` draws
/// from `req.seed + i`. Pass `multimodal` for prompts with images.
pub fn generate_group<B: Backend>(
    text: &Qwen3Vl<B>,
    multimodal: Option<&Qwen3VlMultimodal<B>>,
    req: SeqRequest,
    max_len: usize,
    device: &B::Device,
) -> Result<GroupOutput> {
    let n = req.n;
    let mut engine = Engine::new(text, multimodal, device.clone(), max_len);
    let mut samples = vec![
        SampleOutput {
            tokens: Vec::new(),
            logprobs: Vec::new(),
            finish: FinishReason::Length,
        };
        n
    ];
    let mut failure = None;
    let mut collect = |_: RequestId, ev: EngineEvent| match ev {
        EngineEvent::Token {
            choice,
            token,
            logprob,
        } => {
            samples[choice].tokens.push(token);
            samples[choice].logprobs.extend(logprob);
        }
        EngineEvent::Finished { choice, reason } => samples[choice].finish = reason,
        EngineEvent::Failed { message } => failure = Some(message),
    };
    engine.admit(0, req, &mut collect)?;
    while !engine.is_idle() {
        engine.step(&mut collect);
    }
    match failure {
        Some(m) => Err(ModelError::Input(m)),
        None => Ok(GroupOutput { samples }),
    }
}
