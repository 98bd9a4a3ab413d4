//! A judge behind an OpenAI-compatible `/chat/completions` endpoint (vLLM, SGLang, `covip
//! serve`, …).
//!
//! Blocking HTTP with a bounded number of worker threads; each question is one request sent
//! through [`crate::openai::ChatClient`], with its retries and exponential backoff. A question
//! whose request finally fails is an error, never a silent `D`. Plain `http://` works out of
//! the box; `https://` needs the `tls` feature.
use crate::openai::{
    ChatClient, ChatClientConfig, ChatMessage, ChatRequest, OpenAiError, parallel_map,
};

use super::{Judge, JudgeError, JudgePrompt, JudgeRequest};

/// Where and how to ask. `Default` gives the released judge's sampling (temperature 0.7,
/// top-p 0.8, top-k 20) against `http://localhost:8000/v1`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct OpenAiJudgeConfig {
    /// Base URL, e.g. `http://localhost:8000/v1`; `/chat/completions` is appended unless the
    /// URL already ends with it.
    pub base_url: String,
    /// The served model name; empty: the first model the server lists.
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set.
    #[serde(skip_serializing)]
    pub api_key: Option<String>,
    pub temperature: f64,
    pub top_p: f64,
    /// Sent as the top-level `top_k` field (a vLLM extension) when set.
    pub top_k: Option<u32>,
    /// `max_tokens`; omitted when `None` (server default).
    pub max_tokens: Option<u32>,
    /// At most this many requests in flight.
    pub concurrency: usize,
    /// Whole-request timeout, seconds.
    pub timeout_secs: f64,
    /// Further attempts after the first one fails with a transport error, 408, 409, 429 or 5xx.
    pub retries: u32,
    /// First backoff, seconds; doubled after each failed attempt, capped at 30 s.
    pub backoff_secs: f64,
}

impl Default for OpenAiJudgeConfig {
    fn default() -> Self {
        OpenAiJudgeConfig {
            base_url: "http://localhost:8000/v1".into(),
            model: "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8".into(),
            api_key: None,
            temperature: 0.7,
            top_p: 0.8,
            top_k: Some(20),
            max_tokens: None,
            concurrency: 8,
            timeout_secs: 120.0,
            retries: 3,
            backoff_secs: 0.5,
        }
    }
}

/// The OpenAI-compatible judge client.
///
/// ```no_run
/// use covip_rl::judge::{Judge, JudgePrompt, OpenAiJudge, OpenAiJudgeConfig};
/// let judge = OpenAiJudge::new(OpenAiJudgeConfig {
///     base_url: "http://localhost:8001/v1".into(),
///     ..Default::default()
/// }, JudgePrompt::default());
/// println!("{}", judge.identity());
/// ```
pub struct OpenAiJudge {
    config: OpenAiJudgeConfig,
    prompt: JudgePrompt,
    client: ChatClient,
}

impl std::fmt::Debug for OpenAiJudge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiJudge")
            .field("url", &self.client.chat_url())
            .field("model", &self.config.model)
            .finish()
    }
}

impl OpenAiJudge {
    pub fn new(config: OpenAiJudgeConfig, prompt: JudgePrompt) -> Self {
        let client = ChatClient::new(ChatClientConfig {
            base_url: config.base_url.clone(),
            model: config.model.clone(),
            api_key: config.api_key.clone(),
            timeout_secs: config.timeout_secs,
            retries: config.retries,
            backoff_secs: config.backoff_secs,
            max_connections: config.concurrency.max(1),
            ..Default::default()
        });
        OpenAiJudge {
            config,
            prompt,
            client,
        }
    }

    pub fn config(&self) -> &OpenAiJudgeConfig {
        &self.config
    }

    /// The full endpoint URL.
    pub fn url(&self) -> &str {
        self.client.chat_url()
    }

    /// The chat client the judge asks through (to send other requests to the same server).
    pub fn client(&self) -> &ChatClient {
        &self.client
    }

    /// The request for one prompt: a single user message of plain text and the configured
    /// sampling (`top_k` and `max_tokens` only when set).
    fn request(&self, prompt: &str) -> ChatRequest {
        ChatRequest {
            // An empty model: the client asks the server's first one.
            model: (!self.config.model.is_empty()).then(|| self.config.model.clone()),
            messages: vec![ChatMessage::user(prompt)],
            temperature: Some(self.config.temperature),
            top_p: Some(self.config.top_p),
            top_k: self
                .config
                .top_k
                .map(|k| i32::try_from(k).unwrap_or(i32::MAX)),
            max_tokens: self.config.max_tokens,
            ..Default::default()
        }
    }

    /// Asks one prompt, with retries; the first choice's text, trimmed.
    pub fn ask(&self, prompt: &str) -> Result<String, JudgeError> {
        let response = self
            .client
            .chat(&self.request(prompt))
            .map_err(|e| self.judge_error(e))?;
        match response.choices.first().and_then(|c| c.content.as_deref()) {
            Some(text) => Ok(text.trim().to_string()),
            None => Err(JudgeError::Response {
                url: self.url().to_string(),
                message: "choices[0].message.content is null, not text".into(),
            }),
        }
    }

    fn judge_error(&self, e: OpenAiError) -> JudgeError {
        match e {
            OpenAiError::Transport {
                url,
                attempts,
                message,
            } => JudgeError::Request {
                url,
                attempts,
                message,
            },
            OpenAiError::Status {
                url,
                status,
                attempts,
                message,
            } => JudgeError::Request {
                url,
                attempts,
                message: format!("HTTP {status}: {message}"),
            },
            OpenAiError::Response { url, message } => JudgeError::Response { url, message },
            e @ (OpenAiError::Invalid(_) | OpenAiError::Image { .. }) => JudgeError::Request {
                url: self.url().to_string(),
                attempts: 0,
                message: e.to_string(),
            },
        }
    }
}

impl Judge for OpenAiJudge {
    fn identity(&self) -> String {
        let c = &self.config;
        format!(
            "openai:{}|model={}|temperature={}|top_p={}|top_k={:?}|max_tokens={:?}",
            self.url(),
            c.model,
            c.temperature,
            c.top_p,
            c.top_k,
            c.max_tokens
        )
    }

    fn prompt(&self, request: &JudgeRequest<'_>) -> Result<String, JudgeError> {
        self.prompt.render(request.description, request.qa)
    }

    fn answer_batch(&self, requests: &[JudgeRequest<'_>]) -> Vec<Result<String, JudgeError>> {
        let prompts: Vec<Result<String, JudgeError>> =
            requests.iter().map(|r| self.prompt(r)).collect();
        self.ask_pool(prompts)
    }
}

impl OpenAiJudge {
    /// Asks free-form prompts (not multiple-choice QAs: MMHal's rating prompt, say) with the
    /// same concurrency, timeout and retries; one result per prompt, in order.
    pub fn ask_many(&self, prompts: &[String]) -> Vec<Result<String, JudgeError>> {
        self.ask_pool(prompts.iter().cloned().map(Ok).collect())
    }

    fn ask_pool(
        &self,
        prompts: Vec<Result<String, JudgeError>>,
    ) -> Vec<Result<String, JudgeError>> {
        parallel_map(&prompts, self.config.concurrency, |p| match p {
            Ok(p) => self.ask(p),
            Err(e) => Err(JudgeError::Prompt(e.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_body() {
        let j = OpenAiJudge::new(
            OpenAiJudgeConfig {
                base_url: "http://h:1/v1/".into(),
                max_tokens: Some(64),
                ..Default::default()
            },
            JudgePrompt::default(),
        );
        assert_eq!(j.url(), "http://h:1/v1/chat/completions");
        let b = serde_json::to_value(j.request("hi")).unwrap();
        assert_eq!(b["top_k"], 20);
        assert_eq!(b["max_tokens"], 64);
        assert_eq!(b["messages"][0]["content"], "hi");
        assert_eq!(b["temperature"], 0.7);
        assert_eq!(b["model"], "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8");
        // Nothing the judge does not set: the server's defaults apply.
        assert_eq!(b.as_object().unwrap().len(), 6, "{b}");
    }
}
