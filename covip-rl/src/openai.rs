//! A blocking client for OpenAI-compatible chat servers (vLLM, SGLang, `covip serve`).
//!
//! The other side of the wire `covip serve` speaks: the judges, the OpenAI-compatible
//! captioner of covip-eval and rollout collection all send their chat requests through
//! [`ChatClient`], so timeouts, retries and error reporting are written once.
//!
//! - [`ChatRequest`]: messages with text and image parts (images as `data:` URLs, built by
//!   [`image_data_url`] / [`image_file_data_url`] or [`ContentPart::image_bytes`] /
//!   [`ContentPart::image_file`]) and vLLM's sampling parameters. Every optional field left
//!   `None` (or an empty `stop`) is left out of the JSON, so the server's defaults (the
//!   checkpoint's `generation_config.json` in vLLM and `covip serve`) apply. vLLM's
//!   `extra_body` parameters (`top_k`, `min_p`, `repetition_penalty`) go at the top level of the
//!   JSON, where vLLM reads them.
//! - [`ChatResponse`]: the choices (text, `finish_reason`, per-token log-probs when asked for)
//!   and the token usage.
//! - Retries: a transport error (refused connection, timeout, reset), HTTP 408, 409, 429 and
//!   5xx are retried with exponential backoff, waiting what a `Retry-After` header asks (in
//!   seconds) when there is one, both capped by [`ChatClientConfig::max_backoff_secs`]. Any
//!   other status is an [`OpenAiError::Status`] carrying the status and the server's own
//!   error message.
//!
//! Plain `http://` works out of the box; `https://` needs the `tls` feature.
//!
//! ```no_run
//! use covip_rl::openai::{ChatClient, ChatClientConfig, ChatMessage, ChatRequest, ContentPart};
//! let client = ChatClient::new(ChatClientConfig {
//!     base_url: "http://127.0.0.1:8000/v1".into(),
//!     ..Default::default() // an empty model: the first one `GET /v1/models` lists
//! });
//! let request = ChatRequest {
//!     messages: vec![ChatMessage::user_parts(vec![
//!         ContentPart::image_file("photo.jpg")?,
//!         ContentPart::text("Describe the picture."),
//!     ])],
//!     temperature: Some(0.0),
//!     max_tokens: Some(128),
//!     ..Default::default()
//! };
//! let response = client.chat(&request)?;
//! println!("{}", response.choices[0].text());
//! # Ok::<(), covip_rl::openai::OpenAiError>(())
//! ```
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The largest image [`image_file_data_url`] reads: `covip serve`'s default body limit.
pub const MAX_IMAGE_BYTES: u64 = 64 << 20;

/// How much of a server's error body goes into an error message.
const ERROR_SNIPPET_CHARS: usize = 300;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenAiError {
    /// No HTTP answer: the connection was refused or reset, or the request timed out, on
    /// every attempt.
    #[error("request to {url} failed after {attempts} attempt(s): {message}")]
    Transport {
        url: String,
        attempts: u32,
        message: String,
    },
    /// The server answered with an error status: one that is not retried, or a retried one
    /// on the last attempt. `message` is the server's own error message when its body holds
    /// one (the OpenAI error object), else the start of the body.
    #[error("request to {url} failed after {attempts} attempt(s): HTTP {status}: {message}")]
    Status {
        url: String,
        status: u16,
        attempts: u32,
        message: String,
    },
    /// The server answered 200 but not with what the endpoint returns.
    #[error("bad response from {url}: {message}")]
    Response { url: String, message: String },
    /// The request cannot be sent as it is (a non-finite number, no messages, `stream`).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// An image could not be turned into a data URL.
    #[error("image {origin}: {message}")]
    Image { origin: String, message: String },
}

impl OpenAiError {
    /// The HTTP status of an [`OpenAiError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            OpenAiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Where and how to connect. `Default`: `http://localhost:8000/v1`, the first model the
/// server lists, a 600 s timeout, 3 retries from a 0.5 s backoff.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatClientConfig {
    /// The API root, e.g. `http://localhost:8000/v1` (what the `openai` Python client calls
    /// `base_url`). A trailing `/chat/completions` is dropped; a URL without a path gets
    /// `/v1`.
    pub base_url: String,
    /// The served model name sent with each request that names none. Empty: the first model
    /// `GET /v1/models` lists, asked once.
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set. Never serialised nor printed.
    #[serde(skip_serializing)]
    pub api_key: Option<String>,
    /// Whole-request timeout, seconds (connection, upload, generation and download).
    pub timeout_secs: f64,
    /// Further attempts after the first fails with a transport error, 408, 409, 429 or 5xx.
    pub retries: u32,
    /// First backoff, seconds; doubled after each failed attempt.
    pub backoff_secs: f64,
    /// Cap on one wait between attempts, a server's `Retry-After` included, seconds.
    pub max_backoff_secs: f64,
    /// Idle keep-alive connections kept for the server: as many as requests run at once.
    pub max_connections: usize,
    /// The largest response body read, bytes; a larger one is an error, not an allocation.
    pub max_response_bytes: u64,
}

impl Default for ChatClientConfig {
    fn default() -> Self {
        ChatClientConfig {
            base_url: "http://localhost:8000/v1".into(),
            model: String::new(),
            api_key: None,
            timeout_secs: 600.0,
            retries: 3,
            backoff_secs: 0.5,
            max_backoff_secs: 30.0,
            max_connections: 16,
            max_response_bytes: 64 << 20,
        }
    }
}

impl std::fmt::Debug for ChatClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatClientConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("timeout_secs", &self.timeout_secs)
            .field("retries", &self.retries)
            .field("backoff_secs", &self.backoff_secs)
            .field("max_backoff_secs", &self.max_backoff_secs)
            .field("max_connections", &self.max_connections)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

/// Who speaks a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: MessageContent,
}

impl ChatMessage {
    /// A message of one plain string (sent as `"content": "…"`).
    pub fn text(role: ChatRole, text: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role,
            content: MessageContent::Text(text.into()),
        }
    }

    pub fn system(text: impl Into<String>) -> ChatMessage {
        ChatMessage::text(ChatRole::System, text)
    }

    pub fn user(text: impl Into<String>) -> ChatMessage {
        ChatMessage::text(ChatRole::User, text)
    }

    pub fn assistant(text: impl Into<String>) -> ChatMessage {
        ChatMessage::text(ChatRole::Assistant, text)
    }

    /// A user message of text and image parts, in order.
    pub fn user_parts(parts: Vec<ContentPart>) -> ChatMessage {
        ChatMessage {
            role: ChatRole::User,
            content: MessageContent::Parts(parts),
        }
    }
}

/// A message's content: one string, or a list of typed parts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// One part of a multimodal message, tagged by `type` as OpenAI's API does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

/// The `image_url` object of an image part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// A `data:image/…;base64,…` URL (what `covip serve` always accepts), an `http(s)` URL
    /// or a local path, as the server allows.
    pub url: String,
    /// OpenAI's `detail` hint; left out when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ContentPart {
    pub fn text(text: impl Into<String>) -> ContentPart {
        ContentPart::Text { text: text.into() }
    }

    /// An image part pointing at `url` as it is.
    pub fn image_url(url: impl Into<String>) -> ContentPart {
        ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: url.into(),
                detail: None,
            },
        }
    }

    /// An image part carrying encoded PNG/JPEG bytes as a data URL.
    pub fn image_bytes(bytes: &[u8]) -> Result<ContentPart, OpenAiError> {
        Ok(ContentPart::image_url(image_data_url(bytes)?))
    }

    /// An image part carrying a PNG/JPEG file as a data URL.
    pub fn image_file(path: impl AsRef<Path>) -> Result<ContentPart, OpenAiError> {
        Ok(ContentPart::image_url(image_file_data_url(path.as_ref())?))
    }
}

/// The MIME type of encoded image bytes, from their magic bytes: PNG, JPEG, GIF or WebP.
pub fn sniff_image_mime(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// `data:<mime>;base64,<bytes>` for encoded image bytes, the MIME type sniffed from the
/// magic bytes. Bytes that are no known image are an error here rather than a 400 from the
/// server.
pub fn image_data_url(bytes: &[u8]) -> Result<String, OpenAiError> {
    data_url(bytes, "bytes")
}

/// [`image_data_url`] of a file (at most [`MAX_IMAGE_BYTES`]).
pub fn image_file_data_url(path: &Path) -> Result<String, OpenAiError> {
    let origin = path.display().to_string();
    let err = |message: String| OpenAiError::Image {
        origin: origin.clone(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_IMAGE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.to_string()))?;
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(err(format!("larger than {MAX_IMAGE_BYTES} bytes")));
    }
    data_url(&bytes, &origin)
}

fn data_url(bytes: &[u8], origin: &str) -> Result<String, OpenAiError> {
    let mime = sniff_image_mime(bytes).ok_or_else(|| {
        let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
        OpenAiError::Image {
            origin: origin.to_string(),
            message: format!(
                "not a PNG, JPEG, GIF or WebP image ({} bytes, starting {})",
                bytes.len(),
                head.join(" ")
            ),
        }
    })?;
    let mut url = format!("data:{mime};base64,");
    base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut url);
    Ok(url)
}

/// A `POST /chat/completions` request. Every `None` field (and an empty `stop`) is left out
/// of the JSON, so the server's default applies; build one with `..Default::default()`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The served model name; `None`: the client's [`ChatClientConfig::model`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub messages: Vec<ChatMessage>,
    /// 0 is greedy decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// vLLM extension, top level; -1 (vLLM) or 0 disables it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i32>,
    /// vLLM extension, top level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_p: Option<f64>,
    /// vLLM extension, top level; 1 is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// New tokens at most (per choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling seed; with `n` > 1, `covip serve` samples choice i from `seed + i`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Stop strings; the text ends before the first one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Samples of the one prompt (GSPO groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Per-token log-probs of the sampled tokens in each choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// With `logprobs`, this many alternatives per position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    /// Variables for the server's chat template (vLLM's `chat_template_kwargs`), e.g.
    /// `{"add_vision_id": true}` for Qwen-VL's "Picture N: " labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_template_kwargs: Option<Map<String, Value>>,
    /// Any other top-level field, sent as it is. `stream` is refused: this client reads one
    /// JSON answer.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// A request of these messages, every parameter left to the server.
    pub fn new(messages: Vec<ChatMessage>) -> ChatRequest {
        ChatRequest {
            messages,
            ..Default::default()
        }
    }

    /// Refuses what would not serialise faithfully (serde_json writes a NaN as `null`) or
    /// what this client cannot read.
    fn check(&self) -> Result<(), OpenAiError> {
        if self.messages.is_empty() {
            return Err(OpenAiError::Invalid("no messages".into()));
        }
        let floats = [
            ("temperature", self.temperature),
            ("top_p", self.top_p),
            ("min_p", self.min_p),
            ("repetition_penalty", self.repetition_penalty),
            ("presence_penalty", self.presence_penalty),
            ("frequency_penalty", self.frequency_penalty),
        ];
        for (name, v) in floats {
            if let Some(v) = v
                && !v.is_finite()
            {
                return Err(OpenAiError::Invalid(format!("{name} is {v}")));
            }
        }
        if self.n == Some(0) {
            return Err(OpenAiError::Invalid("n is 0".into()));
        }
        if let Some(s) = self.extra.get("stream")
            && s != &Value::Bool(false)
            && !s.is_null()
        {
            return Err(OpenAiError::Invalid(
                "stream: this client reads one JSON answer, not server-sent events".into(),
            ));
        }
        Ok(())
    }
}

/// The answer to a [`ChatRequest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The server's completion id (empty when it sent none).
    #[serde(default)]
    pub id: String,
    /// The model that answered (empty when the server did not say).
    #[serde(default)]
    pub model: String,
    /// Unix seconds (0 when the server did not say).
    #[serde(default)]
    pub created: u64,
    /// At least one; ordered by `index`.
    pub choices: Vec<ChatChoice>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

impl ChatResponse {
    /// The text of the first choice.
    pub fn text(&self) -> &str {
        self.choices.first().map_or("", ChatChoice::text)
    }
}

/// One sampled answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatChoice {
    pub index: u32,
    /// The assistant's text; `None` when the server sent `null` (a tool call, a refusal).
    pub content: Option<String>,
    /// `stop` (a stop token or string), `length` (`max_tokens` or the context), or what the
    /// server said.
    pub finish_reason: Option<String>,
    /// Per-token log-probs of the sampled tokens, when the request asked for `logprobs`.
    pub logprobs: Option<Vec<TokenLogprob>>,
}

impl ChatChoice {
    /// The text, empty for a `null` content.
    pub fn text(&self) -> &str {
        self.content.as_deref().unwrap_or("")
    }
}

/// The log-prob of one sampled token and its best alternatives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    pub token: String,
    pub logprob: f64,
    /// The token's UTF-8 bytes (a token may be part of a character).
    #[serde(default)]
    pub bytes: Option<Vec<u8>>,
    #[serde(default)]
    pub top_logprobs: Vec<TopLogprob>,
}

/// One alternative at a position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    pub token: String,
    pub logprob: f64,
    #[serde(default)]
    pub bytes: Option<Vec<u8>>,
}

/// Token counts of one request (all choices together for the completion).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
}

/// The wire shape of a chat completion, read leniently: unknown fields are ignored.
#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    created: Option<u64>,
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    index: Option<u32>,
    message: WireMessage,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    logprobs: Option<WireLogprobs>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct WireLogprobs {
    #[serde(default)]
    content: Option<Vec<TokenLogprob>>,
}

#[derive(Deserialize)]
struct WireModels {
    data: Vec<WireModel>,
}

#[derive(Deserialize)]
struct WireModel {
    id: String,
}

/// Parses a chat completion body.
fn parse_chat(text: &str) -> Result<ChatResponse, String> {
    let wire: WireResponse = serde_json::from_str(text).map_err(|e| {
        let snippet: String = text.chars().take(200).collect();
        format!("not a chat completion ({e}): {snippet}")
    })?;
    if wire.choices.is_empty() {
        return Err("no choices in the response".into());
    }
    let mut choices: Vec<ChatChoice> = wire
        .choices
        .into_iter()
        .enumerate()
        .map(|(i, c)| ChatChoice {
            index: c.index.unwrap_or(i as u32),
            content: c.message.content,
            finish_reason: c.finish_reason,
            logprobs: c.logprobs.and_then(|l| l.content),
        })
        .collect();
    choices.sort_by_key(|c| c.index);
    Ok(ChatResponse {
        id: wire.id.unwrap_or_default(),
        model: wire.model.unwrap_or_default(),
        created: wire.created.unwrap_or_default(),
        choices,
        usage: wire.usage,
    })
}

/// The server's message from an error body: the OpenAI error object
/// (`{"error": {"message": …}}`), `{"error": "…"}`, `{"message": …}`, FastAPI's
/// `{"detail": …}`, else the start of the body.
fn server_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let pick = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        };
        match v.get("error") {
            Some(Value::Object(e)) => e.get("message").and_then(pick),
            Some(e) => pick(e),
            None => v
                .get("message")
                .and_then(pick)
                .or_else(|| v.get("detail").and_then(pick)),
        }
    });
    let message = from_json.unwrap_or_else(|| body.trim().to_string());
    let mut out: String = message.chars().take(ERROR_SNIPPET_CHARS).collect();
    if out.len() < message.len() {
        out.push('…');
    }
    if out.is_empty() {
        out = "(empty body)".into();
    }
    out
}

/// One failed attempt.
struct Failure {
    retryable: bool,
    /// Seconds the server asked to wait (`Retry-After`).
    retry_after: Option<f64>,
    kind: FailureKind,
}

enum FailureKind {
    Transport(String),
    Status(u16, String),
    Response(String),
}

impl Failure {
    fn into_error(self, url: &str, attempts: u32) -> OpenAiError {
        let url = url.to_string();
        match self.kind {
            FailureKind::Transport(message) => OpenAiError::Transport {
                url,
                attempts,
                message,
            },
            FailureKind::Status(status, message) => OpenAiError::Status {
                url,
                status,
                attempts,
                message,
            },
            FailureKind::Response(message) => OpenAiError::Response { url, message },
        }
    }
}

/// `Retry-After` in seconds; the HTTP-date form is not read (the backoff applies).
fn retry_after_secs(value: Option<&str>) -> Option<f64> {
    let v: f64 = value?.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// A finite, non-negative number of seconds, else `fallback`.
fn secs(v: f64, fallback: f64) -> f64 {
    if v.is_finite() && v >= 0.0 {
        v
    } else {
        fallback
    }
}

/// The API root of a base URL: no trailing `/` nor `/chat/completions`; `/v1` added to a
/// URL without a path.
fn api_root(base_url: &str) -> String {
    let mut base = base_url.trim().trim_end_matches('/');
    if let Some(b) = base.strip_suffix("/chat/completions") {
        base = b.trim_end_matches('/');
    }
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    if !base[after_scheme..].contains('/') {
        return format!("{base}/v1");
    }
    base.to_string()
}

/// A blocking client for one OpenAI-compatible server. `Send + Sync`: share one client
/// between threads (its connection pool is shared too).
pub struct ChatClient {
    config: ChatClientConfig,
    root: String,
    chat_url: String,
    agent: ureq::Agent,
    /// The model of requests that name none, once known.
    model: OnceLock<String>,
}

impl std::fmt::Debug for ChatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatClient")
            .field("url", &self.chat_url)
            .field("model", &self.config.model)
            .finish()
    }
}

impl ChatClient {
    /// A client for `config.base_url`; nothing is sent until the first request.
    pub fn new(config: ChatClientConfig) -> ChatClient {
        let root = api_root(&config.base_url);
        let chat_url = format!("{root}/chat/completions");
        let timeout = secs(config.timeout_secs, 600.0).clamp(0.001, 1e9);
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs_f64(timeout))
            .max_idle_connections_per_host(config.max_connections.max(1))
            .build();
        let model = OnceLock::new();
        if !config.model.is_empty() {
            let _ = model.set(config.model.clone());
        }
        ChatClient {
            config,
            root,
            chat_url,
            agent,
            model,
        }
    }

    pub fn config(&self) -> &ChatClientConfig {
        &self.config
    }

    /// The API root requests go under, e.g. `http://localhost:8000/v1`.
    pub fn base_url(&self) -> &str {
        &self.root
    }

    /// The full `…/chat/completions` URL.
    pub fn chat_url(&self) -> &str {
        &self.chat_url
    }

    /// The model sent with requests that name none: the configured one, else the first one
    /// the server lists (asked once, then remembered).
    pub fn model(&self) -> Result<String, OpenAiError> {
        if let Some(m) = self.model.get() {
            return Ok(m.clone());
        }
        let models = self.models()?;
        let first = models
            .into_iter()
            .next()
            .ok_or_else(|| OpenAiError::Response {
                url: format!("{}/models", self.root),
                message: "the server lists no model".into(),
            })?;
        Ok(self.model.get_or_init(|| first).clone())
    }

    /// The ids of the served models (`GET /v1/models`), in the server's order.
    pub fn models(&self) -> Result<Vec<String>, OpenAiError> {
        let url = format!("{}/models", self.root);
        let text = self.send(&url, None)?;
        let wire: WireModels = serde_json::from_str(&text).map_err(|e| {
            let snippet: String = text.chars().take(200).collect();
            OpenAiError::Response {
                url: url.clone(),
                message: format!("not a model list ({e}): {snippet}"),
            }
        })?;
        Ok(wire.data.into_iter().map(|m| m.id).collect())
    }

    /// Sends one chat request, with retries; the model is the request's, else the client's.
    pub fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, OpenAiError> {
        request.check()?;
        /// The request with the client's model, serialised without copying the request
        /// (its images can be megabytes).
        #[derive(Serialize)]
        struct WithModel<'a> {
            model: &'a str,
            #[serde(flatten)]
            request: &'a ChatRequest,
        }
        let body = match &request.model {
            Some(_) => serde_json::to_vec(request),
            None => serde_json::to_vec(&WithModel {
                model: &self.model()?,
                request,
            }),
        }
        .map_err(|e| OpenAiError::Invalid(format!("serialising the request: {e}")))?;
        let text = self.send(&self.chat_url, Some(&body))?;
        parse_chat(&text).map_err(|message| OpenAiError::Response {
            url: self.chat_url.clone(),
            message,
        })
    }

    /// Sends `requests` with at most `concurrency` in flight; one result per request, in
    /// order.
    pub fn chat_many(
        &self,
        requests: &[ChatRequest],
        concurrency: usize,
    ) -> Vec<Result<ChatResponse, OpenAiError>> {
        parallel_map(requests, concurrency, |r| self.chat(r))
    }

    /// A GET (`body` `None`) or a JSON POST to `url`, retried as the module says; the body
    /// of the 200 answer.
    fn send(&self, url: &str, body: Option<&[u8]>) -> Result<String, OpenAiError> {
        let cap = secs(self.config.max_backoff_secs, 30.0);
        let mut backoff = secs(self.config.backoff_secs, 0.5).min(cap);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let failure = match self.attempt(url, body) {
                Ok(text) => return Ok(text),
                Err(f) => f,
            };
            if !failure.retryable || attempts > self.config.retries {
                return Err(failure.into_error(url, attempts));
            }
            let wait = failure.retry_after.unwrap_or(backoff).min(cap);
            let message = match &failure.kind {
                FailureKind::Transport(m) | FailureKind::Response(m) => m.clone(),
                FailureKind::Status(s, m) => format!("HTTP {s}: {m}"),
            };
            tracing::warn!(%url, attempts, %message, wait, "request failed; retrying");
            std::thread::sleep(Duration::from_secs_f64(wait));
            backoff = (backoff * 2.0).min(cap);
        }
    }

    fn attempt(&self, url: &str, body: Option<&[u8]>) -> Result<String, Failure> {
        let mut req = match body {
            Some(_) => self.agent.post(url).set("Content-Type", "application/json"),
            None => self.agent.get(url),
        };
        if let Some(key) = &self.config.api_key {
            req = req.set("Authorization", &format!("Bearer {key}"));
        }
        let result = match body {
            Some(b) => req.send_bytes(b),
            None => req.call(),
        };
        match result {
            Ok(resp) => self
                .read_body(resp)
                .map_err(|(retryable, message)| Failure {
                    retryable,
                    retry_after: None,
                    kind: if retryable {
                        FailureKind::Transport(message)
                    } else {
                        FailureKind::Response(message)
                    },
                }),
            Err(ureq::Error::Status(code, resp)) => {
                let retry_after = retry_after_secs(resp.header("retry-after"));
                let body = self.read_body(resp).unwrap_or_default();
                Err(Failure {
                    retryable: matches!(code, 408 | 409 | 429) || code >= 500,
                    retry_after,
                    kind: FailureKind::Status(code, server_message(&body)),
                })
            }
            Err(ureq::Error::Transport(t)) => Err(Failure {
                retryable: true,
                retry_after: None,
                kind: FailureKind::Transport(t.to_string()),
            }),
        }
    }

    /// The body as text, at most `max_response_bytes`: `Err((retryable, message))`, a read
    /// error being retryable and an oversized or non-UTF-8 body not.
    fn read_body(&self, resp: ureq::Response) -> Result<String, (bool, String)> {
        let limit = self.config.max_response_bytes;
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| (true, format!("reading the response: {e}")))?;
        if bytes.len() as u64 > limit {
            return Err((false, format!("the response is larger than {limit} bytes")));
        }
        String::from_utf8(bytes).map_err(|e| (false, format!("the response is not UTF-8: {e}")))
    }
}

/// `f` over `items` on at most `workers` scoped threads; results in order.
pub(crate) fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if items.is_empty() {
        return Vec::new();
    }
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = workers.clamp(1, items.len());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= items.len() {
                        break;
                    }
                    let r = f(&items[i]);
                    *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every item is mapped: a worker that panicked re-raised it in scope")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_roots() {
        assert_eq!(api_root("http://h:1/v1/"), "http://h:1/v1");
        assert_eq!(api_root("http://h:1/v1/chat/completions"), "http://h:1/v1");
        assert_eq!(api_root("http://h:1"), "http://h:1/v1");
        assert_eq!(api_root("http://h:1/"), "http://h:1/v1");
        assert_eq!(api_root("https://x.org/api/v1"), "https://x.org/api/v1");
    }

    #[test]
    fn sniffs_and_encodes_images() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(sniff_image_mime(png), Some("image/png"));
        assert_eq!(
            sniff_image_mime(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some("image/jpeg")
        );
        assert_eq!(
            sniff_image_mime(b"RIFF\0\0\0\0WEBPVP8 "),
            Some("image/webp")
        );
        assert_eq!(sniff_image_mime(b"GIF89a.."), Some("image/gif"));
        assert_eq!(sniff_image_mime(b"RIFF"), None);
        assert_eq!(sniff_image_mime(b""), None);
        assert_eq!(
            image_data_url(&[0xFF, 0xD8, 0xFF]).unwrap(),
            "data:image/jpeg;base64,/9j/"
        );
        let e = image_data_url(b"<html>").unwrap_err().to_string();
        assert!(e.contains("not a PNG") && e.contains("3c 68 74 6d"), "{e}");
        let e = image_file_data_url(Path::new("/no/such/image.png"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/no/such/image.png"), "{e}");
    }

    #[test]
    fn unset_fields_are_left_out_and_top_k_is_top_level() {
        let r = ChatRequest {
            messages: vec![ChatMessage::user("hi")],
            top_k: Some(20),
            ..Default::default()
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({"messages": [{"role": "user", "content": "hi"}], "top_k": 20})
        );
    }

    #[test]
    fn checks_requests_before_sending() {
        let ok = ChatRequest::new(vec![ChatMessage::user("x")]);
        assert!(ok.check().is_ok());
        let e = ChatRequest::default().check().unwrap_err().to_string();
        assert!(e.contains("no messages"), "{e}");
        let nan = ChatRequest {
            top_p: Some(f64::NAN),
            ..ok.clone()
        };
        assert!(
            nan.check()
                .unwrap_err()
                .to_string()
                .contains("top_p is NaN")
        );
        let mut stream = ok.clone();
        stream.extra.insert("stream".into(), json!(true));
        assert!(stream.check().unwrap_err().to_string().contains("stream"));
    }

    #[test]
    fn parses_choices_logprobs_and_usage() {
        let body = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 7, "model": "m",
            "choices": [
                {"index": 1, "message": {"role": "assistant", "content": "b"},
                 "finish_reason": "length", "logprobs": null},
                {"index": 0, "message": {"role": "assistant", "content": "a"},
                 "finish_reason": "stop",
                 "logprobs": {"content": [{"token": "a", "logprob": -0.25, "bytes": [97],
                    "top_logprobs": [{"token": "a", "logprob": -0.25, "bytes": [97]},
                                     {"token": "b", "logprob": -1.5, "bytes": null}]}]}}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        });
        let r = parse_chat(&body.to_string()).unwrap();
        assert_eq!(
            (r.id.as_str(), r.model.as_str(), r.created),
            ("chatcmpl-1", "m", 7)
        );
        assert_eq!(r.text(), "a");
        assert_eq!(r.choices[1].finish_reason.as_deref(), Some("length"));
        assert!(r.choices[1].logprobs.is_none());
        let lp = r.choices[0].logprobs.as_ref().unwrap();
        assert_eq!((lp[0].token.as_str(), lp[0].logprob), ("a", -0.25));
        assert_eq!(lp[0].top_logprobs[1].logprob, -1.5);
        assert_eq!(
            r.usage,
            Some(Usage {
                prompt_tokens: 3,
                completion_tokens: 2,
                total_tokens: 5
            })
        );
        assert!(
            parse_chat(r#"{"choices": []}"#)
                .unwrap_err()
                .contains("no choices")
        );
        assert!(
            parse_chat("<html>")
                .unwrap_err()
                .starts_with("not a chat completion")
        );
    }

    #[test]
    fn server_messages() {
        let openai = r#"{"object":"error","message":"x","error":{"message":"bad top_p","type":"BadRequestError"}}"#;
        assert_eq!(server_message(openai), "bad top_p");
        assert_eq!(server_message(r#"{"error":"Bad Request"}"#), "Bad Request");
        assert_eq!(server_message(r#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(server_message("  plain text\n"), "plain text");
        assert_eq!(server_message(""), "(empty body)");
        let long = "x".repeat(1000);
        assert_eq!(
            server_message(&long).chars().count(),
            ERROR_SNIPPET_CHARS + 1
        );
    }

    #[test]
    fn retry_after_values() {
        assert_eq!(retry_after_secs(Some(" 2 ")), Some(2.0));
        assert_eq!(retry_after_secs(Some("0.5")), Some(0.5));
        assert_eq!(retry_after_secs(Some("-1")), None);
        assert_eq!(
            retry_after_secs(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(retry_after_secs(None), None);
    }

    #[test]
    fn the_key_is_not_printed() {
        let c = ChatClientConfig {
            api_key: Some("sk-secret".into()),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("sk-secret"));
        assert!(!serde_json::to_string(&c).unwrap().contains("sk-secret"));
    }

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<usize> = (0..50).collect();
        assert_eq!(
            parallel_map(&items, 7, |i| i * 2),
            (0..50).map(|i| i * 2).collect::<Vec<_>>()
        );
        assert!(parallel_map(&[] as &[usize], 3, |i| *i).is_empty());
    }
}
