//! Opening the judge of a CapEval-QAs run: `lexical`, or an OpenAI-compatible server, behind
//! the on-disk answer cache.
use std::path::{Path, PathBuf};

use covip_data::prompt::Templates;
use covip_rl::judge::{
    CachedJudge, Judge, JudgePrompt, LexicalJudge, OpenAiJudge, OpenAiJudgeConfig,
};

use super::CapevalError;

/// How to reach the judge and how it samples. `Default`: the released judge's sampling
/// (temperature 0.7, top-p 0.8, top-k 20), 8 requests at once, 3 retries.
#[derive(Clone, Debug)]
pub struct JudgeSettings {
    /// `lexical`, or the base URL of an OpenAI-compatible server (`http://host:8000/v1`).
    pub target: String,
    /// The served model; `None`: the first model `GET /v1/models` lists.
    pub model: Option<String>,
    pub temperature: f64,
    pub top_p: f64,
    pub top_k: Option<u32>,
    pub max_tokens: Option<u32>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Further attempts after a transient failure (transport error, 408, 409, 429, 5xx).
    pub retries: u32,
    /// Whole-request timeout, seconds.
    pub timeout_secs: f64,
    /// First wait between attempts, seconds (doubled after each failure).
    pub backoff_secs: f64,
    /// The `judge` and `judge_question` templates fill the prompt.
    pub templates: Templates,
    /// Where answers are kept and reused; `None`: in memory only.
    pub cache: Option<PathBuf>,
}

impl Default for JudgeSettings {
    fn default() -> Self {
        let server = OpenAiJudgeConfig::default();
        JudgeSettings {
            target: "lexical".into(),
            model: None,
            temperature: server.temperature,
            top_p: server.top_p,
            top_k: server.top_k,
            max_tokens: server.max_tokens,
            concurrency: 8,
            retries: server.retries,
            timeout_secs: server.timeout_secs,
            backoff_secs: server.backoff_secs,
            templates: Templates::default(),
            cache: None,
        }
    }
}

/// A judge ready to ask, with its answer cache.
pub struct OpenedJudge {
    pub judge: CachedJudge<Box<dyn Judge>>,
    /// What the result file records as `judge`: `lexical`, or `URL MODEL`.
    pub id: String,
    /// Requests in flight at once.
    pub concurrency: usize,
}

/// The served models of an OpenAI-compatible server (`GET /v1/models`), in its order.
pub fn served_models(base_url: &str) -> Result<Vec<String>, CapevalError> {
    let client = covip_rl::openai::ChatClient::new(covip_rl::openai::ChatClientConfig {
        base_url: base_url.to_string(),
        ..Default::default()
    });
    client.models().map_err(|e| CapevalError::Judge {
        message: format!("listing the models of {base_url}: {e}"),
    })
}

impl JudgeSettings {
    /// Builds the judge: for a URL, asks the server for its first model when none is named.
    /// Anything but `lexical` or an http(s) URL is an error.
    pub fn open(&self) -> Result<OpenedJudge, CapevalError> {
        let concurrency = self.concurrency.clamp(1, 1024);
        let (inner, id): (Box<dyn Judge>, String) = if self.target == "lexical" {
            (Box::new(LexicalJudge::default()), "lexical".into())
        } else if self.target.starts_with("http://") || self.target.starts_with("https://") {
            let base = self.target.trim_end_matches('/').to_string();
            let model =
                match &self.model {
                    Some(m) => m.clone(),
                    None => served_models(&base)?.into_iter().next().ok_or_else(|| {
                        CapevalError::Judge {
                            message: format!(
                                "{base}/models lists no model; name one with --judge-model"
                            ),
                        }
                    })?,
                };
            let config = OpenAiJudgeConfig {
                base_url: base.clone(),
                model: model.clone(),
                temperature: self.temperature,
                top_p: self.top_p,
                top_k: self.top_k,
                max_tokens: self.max_tokens,
                concurrency,
                timeout_secs: self.timeout_secs,
                retries: self.retries,
                backoff_secs: self.backoff_secs,
                ..OpenAiJudgeConfig::default()
            };
            let prompt = JudgePrompt::from_templates(self.templates.clone());
            (
                Box::new(OpenAiJudge::new(config, prompt)),
                format!("{base} {model}"),
            )
        } else {
            return Err(CapevalError::Judge {
                message: format!(
                    "a judge is `lexical` or an http(s):// URL of an OpenAI-compatible server, got {:?}",
                    self.target
                ),
            });
        };
        let judge = match &self.cache {
            Some(path) => CachedJudge::open(inner, path).map_err(|e| CapevalError::Judge {
                message: e.to_string(),
            })?,
            None => CachedJudge::in_memory(inner),
        };
        Ok(OpenedJudge {
            judge,
            id,
            concurrency,
        })
    }
}

/// The cache beside a result file: `RESULT.json.cache.jsonl`, or `capeval.cache.jsonl` in the
/// working directory without one.
pub fn default_cache_path(out: Option<&Path>) -> PathBuf {
    match out {
        Some(out) => sibling(out, ".cache.jsonl"),
        None => PathBuf::from("capeval.cache.jsonl"),
    }
}

/// Where `--model` / `--captioner` write their captions: `RESULT.json.captions.json`, or
/// `captions.json` in the working directory without a result file.
pub fn default_captions_path(out: Option<&Path>) -> PathBuf {
    match out {
        Some(out) => sibling(out, ".captions.json"),
        None => PathBuf::from("captions.json"),
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_beside_the_result() {
        let out = Path::new("runs/r.json");
        assert_eq!(
            default_cache_path(Some(out)),
            Path::new("runs/r.json.cache.jsonl")
        );
        assert_eq!(
            default_captions_path(Some(out)),
            Path::new("runs/r.json.captions.json")
        );
        assert_eq!(default_cache_path(None), Path::new("capeval.cache.jsonl"));
        assert_eq!(default_captions_path(None), Path::new("captions.json"));
    }

    #[test]
    fn lexical_and_bad_targets() {
        let j = JudgeSettings::default().open().unwrap();
        assert_eq!(j.id, "lexical");
        let e = JudgeSettings {
            target: "ftp://x".into(),
            ..Default::default()
        }
        .open()
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("ftp://x") && e.contains("lexical"), "{e}");
    }
}
