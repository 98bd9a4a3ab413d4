//! The judge flags `covip reward` and `covip train` share (`--judge-model`, `--judge-prompt`,
//! `--judge-cache`, `--judge-concurrency`, `--judge-timeout`, `--judge-retries`, `--api-key`),
//! kept in one place so that both commands build the judge the same way.
use std::path::PathBuf;

use covip_rl::judge::{JudgePrompt, JudgeSpec, OpenAiJudgeConfig};

/// Settings of an OpenAI-compatible (or lexical) judge; `--judge` itself stays with each command,
/// since one takes it as optional and the other requires it.
#[derive(clap::Args, Debug)]
pub struct JudgeArgs {
    /// Model name sent to the judge endpoint.
    #[arg(long, default_value = "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8")]
    pub judge_model: String,
    /// Replace the judge prompt with a template file ({{description}} and {{question}}).
    #[arg(long)]
    pub judge_prompt: Option<PathBuf>,
    /// Persist judge answers here (JSONL) and reuse them on later runs.
    #[arg(long)]
    pub judge_cache: Option<PathBuf>,
    /// Judge requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub judge_concurrency: usize,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 120.0)]
    pub judge_timeout: f64,
    /// Further attempts after a failed judge request.
    #[arg(long, default_value_t = 3)]
    pub judge_retries: u32,
    /// API key for the judge endpoint (default: the OPENAI_API_KEY environment variable).
    #[arg(long)]
    pub api_key: Option<String>,
}

impl JudgeArgs {
    /// The judge for `target` (`lexical` or a base URL), answers cached in `cache`; the API key
    /// falls back to OPENAI_API_KEY. Fails when the `--judge-prompt` file cannot be read.
    pub fn spec(&self, target: String, cache: Option<PathBuf>) -> anyhow::Result<JudgeSpec> {
        Ok(JudgeSpec {
            target,
            server: OpenAiJudgeConfig {
                model: self.judge_model.clone(),
                api_key: self
                    .api_key
                    .clone()
                    .or_else(|| std::env::var("OPENAI_API_KEY").ok()),
                concurrency: self.judge_concurrency,
                timeout_secs: self.judge_timeout,
                retries: self.judge_retries,
                ..Default::default()
            },
            prompt: match &self.judge_prompt {
                Some(p) => JudgePrompt::from_file(p)?,
                None => JudgePrompt::default(),
            },
            cache,
        })
    }
}
