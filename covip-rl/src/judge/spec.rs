//! A judge chosen the way the command-line tools name it: `lexical` for the offline
//! word-overlap judge, or the base URL of an OpenAI-compatible server (vLLM, `covip serve`),
//! optionally behind an on-disk answer cache.
use std::path::PathBuf;

use super::{
    CachedJudge, Judge, JudgeError, JudgePrompt, LexicalJudge, OpenAiJudge, OpenAiJudgeConfig,
};

/// Which judge to build and how: `target` is `lexical` or an `http(s)://` base URL; `server`
/// holds the endpoint settings (its `base_url` is replaced by `target`), used only for a URL.
#[derive(Clone, Debug)]
pub struct JudgeSpec {
    pub target: String,
    pub server: OpenAiJudgeConfig,
    pub prompt: JudgePrompt,
    /// Keep answers in this JSONL file and reuse them on later runs.
    pub cache: Option<PathBuf>,
}

impl JudgeSpec {
    /// `target` with the default endpoint settings and prompt, without a cache.
    pub fn new(target: impl Into<String>) -> JudgeSpec {
        JudgeSpec {
            target: target.into(),
            server: OpenAiJudgeConfig::default(),
            prompt: JudgePrompt::default(),
            cache: None,
        }
    }

    /// Builds the judge; a target that is neither `lexical` nor an http(s) URL is an error.
    ///
    /// ```
    /// use covip_rl::judge::JudgeSpec;
    /// assert!(JudgeSpec::new("lexical").open().unwrap().identity().starts_with("lexical"));
    /// let err = JudgeSpec::new("ftp://x").open().err().unwrap().to_string();
    /// assert!(err.contains("`lexical`"), "{err}");
    /// ```
    pub fn open(&self) -> Result<Box<dyn Judge>, JudgeError> {
        let inner: Box<dyn Judge> = if self.target == "lexical" {
            Box::new(LexicalJudge::default())
        } else if self.target.starts_with("http://") || self.target.starts_with("https://") {
            let config = OpenAiJudgeConfig {
                base_url: self.target.clone(),
                concurrency: self.server.concurrency.max(1),
                ..self.server.clone()
            };
            Box::new(OpenAiJudge::new(config, self.prompt.clone()))
        } else {
            return Err(JudgeError::Spec(format!(
                "a judge is an http(s):// URL or `lexical`, got {:?}",
                self.target
            )));
        };
        Ok(match &self.cache {
            Some(path) => Box::new(CachedJudge::open(inner, path)?),
            None => inner,
        })
    }
}
