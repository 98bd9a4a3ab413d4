//! A judge behind an OpenAI-compatible `/chat/completions` endpoint (vLLM, SGLang, …).
//!
//! Blocking HTTP with a bounded number of worker threads; each question is one request with
//! retries and exponential backoff. A question whose request finally fails is an error, never
//! a silent `D`. Plain `http://` works out of the box; `https://` needs the `tls` feature.
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Judge, JudgeError, JudgePrompt, JudgeRequest};

/// Where and how to ask. `Default` gives the released judge's sampling (temperature 0.7,
/// top-p 0.8, top-k 20) against `http://localhost:8000/v1`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct OpenAiJudgeConfig {
    /// Base URL, e.g. `http://localhost:8000/v1`; `/chat/completions` is appended unless the
    /// URL already ends with it.
    pub base_url: String,
    /// The served model name.
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
    url: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for OpenAiJudge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiJudge")
            .field("url", &self.url)
            .field("model", &self.config.model)
            .finish()
    }
}

enum Attempt {
    Done(String),
    Retry(String),
    Fatal(JudgeError),
}

impl OpenAiJudge {
    pub fn new(config: OpenAiJudgeConfig, prompt: JudgePrompt) -> Self {
        let base = config.base_url.trim_end_matches('/');
        let url = if base.ends_with("/chat/completions") {
            base.to_string()
        } else {
            format!("{base}/chat/completions")
        };
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs_f64(config.timeout_secs.max(0.001)))
            .max_idle_connections_per_host(config.concurrency.max(1))
            .build();
        OpenAiJudge {
            config,
            prompt,
            url,
            agent,
        }
    }

    pub fn config(&self) -> &OpenAiJudgeConfig {
        &self.config
    }

    /// The full endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn body(&self, prompt: &str) -> Value {
        let mut body = json!({
            "model": self.config.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": self.config.temperature,
            "top_p": self.config.top_p,
        });
        if let Some(k) = self.config.top_k {
            body["top_k"] = json!(k);
        }
        if let Some(m) = self.config.max_tokens {
            body["max_tokens"] = json!(m);
        }
        body
    }

    fn attempt(&self, body: &Value) -> Attempt {
        let mut req = self
            .agent
            .post(&self.url)
            .set("Content-Type", "application/json");
        if let Some(key) = &self.config.api_key {
            req = req.set("Authorization", &format!("Bearer {key}"));
        }
        match req.send_json(body) {
            Ok(resp) => {
                let text = match resp.into_string() {
                    Ok(t) => t,
                    Err(e) => return Attempt::Retry(format!("reading the response: {e}")),
                };
                match parse_completion(&text) {
                    Ok(c) => Attempt::Done(c),
                    Err(message) => Attempt::Fatal(JudgeError::Response {
                        url: self.url.clone(),
                        message,
                    }),
                }
            }
            Err(ureq::Error::Status(code, resp)) => {
                let body = resp.into_string().unwrap_or_default();
                let snippet: String = body.chars().take(300).collect();
                let message = format!("HTTP {code}: {snippet}");
                if matches!(code, 408 | 409 | 429) || code >= 500 {
                    Attempt::Retry(message)
                } else {
                    Attempt::Fatal(JudgeError::Request {
                        url: self.url.clone(),
                        attempts: 1,
                        message,
                    })
                }
            }
            Err(ureq::Error::Transport(t)) => Attempt::Retry(t.to_string()),
        }
    }

    /// Asks one prompt, with retries.
    pub fn ask(&self, prompt: &str) -> Result<String, JudgeError> {
        let body = self.body(prompt);
        let mut backoff = self.config.backoff_secs.max(0.0);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match self.attempt(&body) {
                Attempt::Done(c) => return Ok(c),
                Attempt::Fatal(JudgeError::Request { url, message, .. }) => {
                    return Err(JudgeError::Request {
                        url,
                        attempts,
                        message,
                    });
                }
                Attempt::Fatal(e) => return Err(e),
                Attempt::Retry(message) => {
                    if attempts > self.config.retries {
                        return Err(JudgeError::Request {
                            url: self.url.clone(),
                            attempts,
                            message,
                        });
                    }
                    tracing::warn!(url = %self.url, attempts, %message, "judge request failed; retrying");
                    std::thread::sleep(Duration::from_secs_f64(backoff));
                    backoff = (backoff * 2.0).min(30.0);
                }
            }
        }
    }
}

/// `choices[0].message.content`, trimmed.
fn parse_completion(text: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        let snippet: String = text.chars().take(200).collect();
        format!("not JSON ({e}): {snippet}")
    })?;
    let content = v
        .get("choices")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("message"))
        .and_then(|m| m.get("content"))
        .ok_or_else(|| "no choices[0].message.content in the response".to_string())?;
    match content {
        Value::String(s) => Ok(s.trim().to_string()),
        other => Err(format!("choices[0].message.content is {other}, not text")),
    }
}

impl Judge for OpenAiJudge {
    fn identity(&self) -> String {
        let c = &self.config;
        format!(
            "openai:{}|model={}|temperature={}|top_p={}|top_k={:?}|max_tokens={:?}",
            self.url, c.model, c.temperature, c.top_p, c.top_k, c.max_tokens
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
        if prompts.is_empty() {
            return Vec::new();
        }
        let results: Vec<Mutex<Option<Result<String, JudgeError>>>> =
            (0..prompts.len()).map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let workers = self.config.concurrency.max(1).min(prompts.len());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= prompts.len() {
                            break;
                        }
                        let r = match &prompts[i] {
                            Ok(p) => self.ask(p),
                            Err(e) => Err(JudgeError::Prompt(e.to_string())),
                        };
                        *results[i].lock().expect("result slot") = Some(r);
                    }
                });
            }
        });
        results
            .into_iter()
            .map(|m| {
                m.into_inner()
                    .expect("result slot")
                    .expect("every request was answered")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_parsing() {
        let ok = r#"{"choices":[{"message":{"role":"assistant","content":"  x \\boxed{A}\n"}}]}"#;
        assert_eq!(parse_completion(ok).unwrap(), "x \\boxed{A}");
        assert!(parse_completion("{}").unwrap_err().contains("choices[0]"));
        assert!(
            parse_completion("<html>")
                .unwrap_err()
                .starts_with("not JSON")
        );
        let null = r#"{"choices":[{"message":{"content":null}}]}"#;
        assert!(parse_completion(null).unwrap_err().contains("null"));
    }

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
        let b = j.body("hi");
        assert_eq!(b["top_k"], 20);
        assert_eq!(b["max_tokens"], 64);
        assert_eq!(b["messages"][0]["content"], "hi");
        assert_eq!(b["temperature"], 0.7);
    }
}
