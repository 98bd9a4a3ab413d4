//! The LAR judge: one chat completion per sample, a single user message (the `lar_judge`
//! template filled with the question, `User said "{last_action}"` and the whole response),
//! sampled as released (temperature 0.7, top-p 0.8, top-k 20, up to 16384 tokens).
use covip_rl::openai::{ChatClient, ChatMessage, ChatRequest};
use serde::Serialize;

/// The judge's sampling.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JudgeParams {
    pub temperature: f64,
    pub top_p: f64,
    pub top_k: u32,
    pub max_tokens: u32,
}

impl Default for JudgeParams {
    /// The released LAR judge's `SamplingParams(temperature=0.7, top_p=0.8, top_k=20,
    /// min_p=0.0, max_tokens=16384)`.
    fn default() -> Self {
        JudgeParams {
            temperature: 0.7,
            top_p: 0.8,
            top_k: 20,
            max_tokens: 16384,
        }
    }
}

/// Answers judge prompts with their raw verdict text.
pub trait LarJudge {
    /// Who judges with which sampling: part of the key under which verdicts are kept.
    fn identity(&self) -> String;

    /// Most prompts handed over per [`LarJudge::judge`] call.
    fn batch_size(&self) -> usize {
        1
    }

    /// One verdict (or why it failed) per prompt, in order.
    fn judge(&self, prompts: &[String]) -> Vec<Result<String, String>>;
}

/// A judge model behind an OpenAI-compatible endpoint.
pub struct EndpointLarJudge {
    client: ChatClient,
    model: String,
    params: JudgeParams,
    concurrency: usize,
}

impl EndpointLarJudge {
    /// `client`'s model (configured, else the first the server lists) judges with `params`,
    /// at most `concurrency` requests in flight.
    pub fn new(
        client: ChatClient,
        params: JudgeParams,
        concurrency: usize,
    ) -> Result<EndpointLarJudge, String> {
        let model = client
            .model()
            .map_err(|e| format!("{}: {e}", client.base_url()))?;
        Ok(EndpointLarJudge {
            client,
            model,
            params,
            concurrency: concurrency.max(1),
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// The request for one prompt: a single user message, no system turn.
    pub fn request(&self, prompt: &str) -> ChatRequest {
        let p = &self.params;
        ChatRequest {
            model: Some(self.model.clone()),
            messages: vec![ChatMessage::user(prompt)],
            temperature: Some(p.temperature),
            top_p: Some(p.top_p),
            top_k: Some(p.top_k.min(i32::MAX as u32) as i32),
            max_tokens: Some(p.max_tokens),
            ..Default::default()
        }
    }
}

impl LarJudge for EndpointLarJudge {
    fn identity(&self) -> String {
        let p = &self.params;
        format!(
            "endpoint:{}|temperature={}|top_p={}|top_k={}|max_tokens={}",
            self.model, p.temperature, p.top_p, p.top_k, p.max_tokens
        )
    }

    fn batch_size(&self) -> usize {
        self.concurrency
    }

    fn judge(&self, prompts: &[String]) -> Vec<Result<String, String>> {
        let requests: Vec<ChatRequest> = prompts.iter().map(|p| self.request(p)).collect();
        self.client
            .chat_many(&requests, self.concurrency)
            .into_iter()
            .map(|r| {
                r.map(|resp| super::generate::clean(resp.text()))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }
}
