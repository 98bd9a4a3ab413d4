//! `covip reward`: the CoViP reward of each completion in a JSONL file.
//!
//! Each line is `{"id", "task", "completion", …}`: `multi_vision` records carry `answer` (a list
//! of ints), `vision` records `answer` ("yes"|"no"), `caption` records `pos_qas` (per present
//! concept, a list of QAs), `neg_qas` (a flat list) and the raw judge outputs `judge_pos`
//! (flattened in the same order) and `judge_neg`, unless `--judge` is given, in which case the
//! judge is asked. Output per line: `{"id", "reward", "degenerate", "sigma_pos", "sigma_neg"}`
//! (`null` where a field does not apply). Malformed lines are reported on stderr with their
//! line number; the exit status is then non-zero.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args as ClapArgs;
use covip_data::{Qa, TaskKind};
use covip_rl::judge::{
    CachedJudge, Judge, JudgePrompt, LexicalJudge, OpenAiJudge, OpenAiJudgeConfig, score_caption,
};
use covip_rl::{
    DegenerationFilter, RetrievalConfig, caption_reward, consistency_reward, recognition_reward,
};
use serde::Serialize;
use serde_json::Value;

use super::degeneration::{filter, map_lines};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// JSONL input (default: stdin).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// A Hugging Face `tokenizer.json`; without it the length limit is not applied.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Captions with more tokens than this are degenerate (needs --tokenizer).
    #[arg(long, default_value_t = 511)]
    pub max_tokens: usize,
    /// Ask a judge instead of reading `judge_pos`/`judge_neg`: an OpenAI-compatible base URL
    /// (e.g. http://localhost:8000/v1) or `lexical` for the offline word-overlap judge.
    #[arg(long)]
    pub judge: Option<String>,
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
    /// α, the weight of the negative term of r_ret.
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
}

#[derive(Serialize)]
struct Line<'a> {
    id: &'a Value,
    reward: f64,
    degenerate: Option<bool>,
    sigma_pos: Option<usize>,
    sigma_neg: Option<usize>,
}

struct Ctx {
    filter: DegenerationFilter,
    judge: Option<Box<dyn Judge>>,
    retrieval: RetrievalConfig,
}

fn field<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Result<&'a Value, String> {
    obj.get(name)
        .ok_or_else(|| format!("missing field `{name}`"))
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value, name: &str) -> Result<T, String> {
    T::deserialize(v).map_err(|e| format!("field `{name}`: {e}"))
}

fn process(ctx: &Ctx, line: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v.as_object().ok_or("expected a JSON object")?;
    let id = field(obj, "id")?;
    let task_name: String = parse(field(obj, "task")?, "task")?;
    let task = TaskKind::parse(&task_name).ok_or_else(|| {
        format!("unknown task {task_name:?} (expected caption, multi_vision or vision)")
    })?;
    let completion: String = parse(field(obj, "completion")?, "completion")?;
    let mut out = Line {
        id,
        reward: 0.0,
        degenerate: None,
        sigma_pos: None,
        sigma_neg: None,
    };
    match task {
        TaskKind::MultiVision => {
            let answer = field(obj, "answer")?;
            let gold: Vec<i64> = match answer {
                Value::Number(_) => vec![parse(answer, "answer")?],
                _ => parse(answer, "answer")?,
            };
            out.reward = recognition_reward(&completion, &gold);
        }
        TaskKind::Vision => {
            let gold: String = parse(field(obj, "answer")?, "answer")?;
            out.reward = consistency_reward(&completion, &gold);
        }
        TaskKind::Caption => {
            let pos: Vec<Vec<Qa>> = parse(field(obj, "pos_qas")?, "pos_qas")?;
            let pos: Vec<Qa> = pos.into_iter().flatten().collect();
            let neg: Vec<Qa> = parse(field(obj, "neg_qas")?, "neg_qas")?;
            let reward = match &ctx.judge {
                Some(judge) => {
                    score_caption(&ctx.filter, judge, &completion, &pos, &neg, &ctx.retrieval)
                        .map_err(|e| e.to_string())?
                        .reward
                }
                None => {
                    let answers = |name: &str| -> Result<Option<Vec<String>>, String> {
                        obj.get(name).map(|v| parse(v, name)).transpose()
                    };
                    let (jp, jn) = (answers("judge_pos")?, answers("judge_neg")?);
                    caption_reward(
                        &ctx.filter,
                        &completion,
                        &pos,
                        jp.as_deref(),
                        &neg,
                        jn.as_deref(),
                        &ctx.retrieval,
                    )
                    .map_err(|e| match e {
                        covip_rl::RewardError::MissingJudgeAnswers => {
                            "caption is not degenerate: fields `judge_pos` and `judge_neg` are needed (or pass --judge)".to_string()
                        }
                        covip_rl::RewardError::AnswerCount(m) => format!(
                            "judge_{}: {} answers for {} {} QAs",
                            if m.which == "positive" { "pos" } else { "neg" },
                            m.answers,
                            m.qas,
                            m.which
                        ),
                        other => other.to_string(),
                    })?
                }
            };
            out.reward = reward.reward;
            out.degenerate = Some(reward.degenerate);
            out.sigma_pos = reward.retrieval.map(|r| r.sigma_pos);
            out.sigma_neg = reward.retrieval.map(|r| r.sigma_neg);
        }
    }
    serde_json::to_string(&out).map_err(|e| e.to_string())
}

fn judge(args: &Args) -> anyhow::Result<Option<Box<dyn Judge>>> {
    let Some(spec) = &args.judge else {
        return Ok(None);
    };
    let prompt = match &args.judge_prompt {
        Some(p) => JudgePrompt::from_file(p)?,
        None => JudgePrompt::default(),
    };
    let inner: Box<dyn Judge> = if spec == "lexical" {
        Box::new(LexicalJudge::default())
    } else if spec.starts_with("http://") || spec.starts_with("https://") {
        Box::new(OpenAiJudge::new(
            OpenAiJudgeConfig {
                base_url: spec.clone(),
                model: args.judge_model.clone(),
                api_key: args
                    .api_key
                    .clone()
                    .or_else(|| std::env::var("OPENAI_API_KEY").ok()),
                concurrency: args.judge_concurrency.max(1),
                timeout_secs: args.judge_timeout,
                retries: args.judge_retries,
                ..Default::default()
            },
            prompt,
        ))
    } else {
        anyhow::bail!("--judge must be an http(s):// URL or `lexical`, got {spec:?}");
    };
    Ok(Some(match &args.judge_cache {
        Some(path) => Box::new(CachedJudge::open(inner, path)?),
        None => inner,
    }))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ctx = Ctx {
        filter: filter(args.tokenizer.as_ref(), args.max_tokens)?,
        judge: judge(&args)?,
        retrieval: RetrievalConfig {
            alpha: args.alpha,
            ..Default::default()
        },
    };
    map_lines(args.input.as_ref(), |line| process(&ctx, line))
}
