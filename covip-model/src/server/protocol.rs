//! The wire shapes of the OpenAI API as vLLM serves them: requests (every field optional
//! except what the endpoint needs, unknown fields ignored as vLLM does) and responses.
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `stop`: one string or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StopSpec {
    One(String),
    Many(Vec<String>),
}

impl StopSpec {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            StopSpec::One(s) => vec![s],
            StopSpec::Many(v) => v,
        }
    }
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// Declares a request struct with its own fields followed by the sampling and length fields
/// both endpoints share (vLLM's `extra_body` parameters `top_k`, `min_p`,
/// `repetition_penalty`, … accepted at the top level, as vLLM does). Written out rather than
/// `#[serde(flatten)]`ed so that a type error names its field (flatten loses the path).
macro_rules! request_with_sampling {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Deserialize)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            pub temperature: Option<f64>,
            pub top_p: Option<f64>,
            pub top_k: Option<i64>,
            pub min_p: Option<f64>,
            pub presence_penalty: Option<f64>,
            pub frequency_penalty: Option<f64>,
            pub repetition_penalty: Option<f64>,
            pub max_tokens: Option<i64>,
            pub seed: Option<i64>,
            pub stop: Option<StopSpec>,
            /// vLLM: extra token ids that end a choice.
            pub stop_token_ids: Option<Vec<u32>>,
            /// vLLM: keep generating past the checkpoint's end-of-sequence tokens.
            #[serde(default)]
            pub ignore_eos: bool,
            pub n: Option<i64>,
            #[serde(default)]
            pub stream: bool,
            pub stream_options: Option<StreamOptions>,
            /// vLLM: whether special tokens are left out of the text (default true).
            pub skip_special_tokens: Option<bool>,
        }

        impl $name {
            /// The shared fields, for validation.
            pub fn sampling_fields(&self) -> SamplingFields {
                SamplingFields {
                    temperature: self.temperature,
                    top_p: self.top_p,
                    top_k: self.top_k,
                    min_p: self.min_p,
                    presence_penalty: self.presence_penalty,
                    frequency_penalty: self.frequency_penalty,
                    repetition_penalty: self.repetition_penalty,
                    max_tokens: self.max_tokens,
                    seed: self.seed,
                    stop: self.stop.clone().map(StopSpec::into_vec).unwrap_or_default(),
                    stop_token_ids: self.stop_token_ids.clone().unwrap_or_default(),
                    ignore_eos: self.ignore_eos,
                    n: self.n,
                    stream: self.stream,
                    include_usage: self.stream_options.as_ref().is_some_and(|o| o.include_usage),
                    skip_special_tokens: self.skip_special_tokens.unwrap_or(true),
                }
            }
        }
    };
}

/// The fields both endpoints share, as sent.
#[derive(Debug, Clone, Default)]
pub struct SamplingFields {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<i64>,
    pub min_p: Option<f64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub repetition_penalty: Option<f64>,
    pub max_tokens: Option<i64>,
    pub seed: Option<i64>,
    pub stop: Vec<String>,
    pub stop_token_ids: Vec<u32>,
    pub ignore_eos: bool,
    pub n: Option<i64>,
    pub stream: bool,
    pub include_usage: bool,
    pub skip_special_tokens: bool,
}

request_with_sampling! {
    /// `POST /v1/chat/completions`.
    pub struct ChatRequest {
        pub model: Option<String>,
        /// Kept as JSON and read by the handler so that every error names the message and
        /// part it is about.
        pub messages: Vec<Value>,
        /// OpenAI's newer name for `max_tokens`.
        pub max_completion_tokens: Option<i64>,
        #[serde(default)]
        pub logprobs: bool,
        pub top_logprobs: Option<i64>,
        /// vLLM: render the template with the assistant header appended (default true).
        pub add_generation_prompt: Option<bool>,
        /// vLLM: extra template variables; `add_vision_id` and `add_generation_prompt` are
        /// read (the switches covip's renderer has), others are ignored.
        pub chat_template_kwargs: Option<serde_json::Map<String, Value>>,
    }
}

/// `prompt` of `/v1/completions`: text or token ids (a list of one of either is taken too).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PromptSpec {
    Text(String),
    Ids(Vec<u32>),
    Texts(Vec<String>),
    IdLists(Vec<Vec<u32>>),
}

request_with_sampling! {
    /// `POST /v1/completions`.
    pub struct CompletionRequest {
        pub model: Option<String>,
        pub prompt: PromptSpec,
        /// Number of most likely tokens to report per position (legacy completions shape).
        pub logprobs: Option<i64>,
        #[serde(default)]
        pub echo: bool,
        pub suffix: Option<String>,
    }
}

/// `usage`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub total_tokens: usize,
}

impl Usage {
    pub fn new(prompt_tokens: usize, completion_tokens: usize) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

/// One of the most likely tokens at a position (chat shape).
#[derive(Debug, Clone, Serialize)]
pub struct TopLogprob {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
}

/// One sampled token's log-prob (chat shape).
#[derive(Debug, Clone, Serialize)]
pub struct ChatLogprob {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
    pub top_logprobs: Vec<TopLogprob>,
}

/// `choices[i].logprobs` of a chat completion.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChatLogprobs {
    pub content: Vec<ChatLogprob>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChatMessageOut {
    pub role: &'static str,
    pub content: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChatChoice {
    pub index: usize,
    pub message: ChatMessageOut,
    pub logprobs: Option<ChatLogprobs>,
    pub finish_reason: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChatResponse {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChatChoice>,
    pub usage: Usage,
}

/// `delta` of a streamed chat chunk.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChatDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChatChunkChoice {
    pub index: usize,
    pub delta: ChatDelta,
    pub logprobs: Option<ChatLogprobs>,
    pub finish_reason: Option<&'static str>,
}

/// `chat.completion.chunk`.
#[derive(Debug, Clone, Serialize)]
pub struct ChatChunk {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChatChunkChoice>,
    /// Present (`null` until the last chunk) when `stream_options.include_usage` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<Usage>>,
}

/// `choices[i].logprobs` of a (legacy) completion.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompletionLogprobs {
    pub text_offset: Vec<usize>,
    pub token_logprobs: Vec<f32>,
    pub tokens: Vec<String>,
    pub top_logprobs: Vec<TopMap>,
}

/// One position's `{token: logprob}` object of the legacy completions shape, in order of
/// likelihood (kept as pairs: log-probs print as the f32 values they are).
#[derive(Debug, Clone, Default)]
pub struct TopMap(pub Vec<(String, f32)>);

impl Serialize for TopMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CompletionChoice {
    pub index: usize,
    pub text: String,
    pub logprobs: Option<CompletionLogprobs>,
    pub finish_reason: Option<&'static str>,
}

/// `text_completion` (and its streamed chunks, which have the same shape).
#[derive(Debug, Clone, Serialize)]
pub struct CompletionResponse {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<Usage>>,
}

/// One entry of `GET /v1/models`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelCard {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: &'static str,
    pub root: String,
    pub parent: Option<String>,
    pub max_model_len: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelCard>,
}
