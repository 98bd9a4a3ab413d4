//! `covip reward`: the CoViP reward of each completion in a JSONL file.
//!
//! Each line is a `covip_rl::records::RewardRecord`, `{"id", "task", "completion", …}`:
//! `multi_vision` records carry `answer` (a list of ints), `vision` records `answer`
//! ("yes"|"no"), `caption` records `pos_qas` (per present concept, a list of QAs), `neg_qas` (a
//! flat list) and the raw judge outputs `judge_pos` (flattened in the same order) and
//! `judge_neg`, unless `--judge` is given, in which case the judge is asked. Output per line:
//! `{"id", "reward", "degenerate", "sigma_pos", "sigma_neg"}` (`null` where a field does not
//! apply). Malformed lines are reported on stderr with their line number; the exit status is
//! then non-zero.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args as ClapArgs;
use covip_rl::RetrievalConfig;
use covip_rl::judge::Judge;
use covip_rl::records::{RecordError, RewardRecord, RewardSettings};

use super::degeneration::{filter, map_lines};
use super::judge_args::JudgeArgs;

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
    #[command(flatten)]
    pub judge_args: JudgeArgs,
    /// α, the weight of the negative term of r_ret.
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
}

/// One line in, one JSON line out (the reward computation is `RewardRecord`'s).
fn process(
    settings: &RewardSettings,
    judge: Option<&dyn Judge>,
    line: &str,
) -> Result<String, String> {
    let record = RewardRecord::from_json(line).map_err(|e| e.to_string())?;
    let reward = match judge {
        Some(judge) => record
            .reward_with_judge(settings, judge)
            .map_err(|e| e.to_string())?,
        None => record.reward(settings).map_err(|e| match e {
            RecordError::MissingJudgeAnswers => format!("{e} (or pass --judge)"),
            other => other.to_string(),
        })?,
    };
    serde_json::to_string(&reward.line(record.id())).map_err(|e| e.to_string())
}

fn judge(args: &Args) -> anyhow::Result<Option<Box<dyn Judge>>> {
    let Some(target) = &args.judge else {
        return Ok(None);
    };
    let spec = args
        .judge_args
        .spec(target.clone(), args.judge_args.judge_cache.clone())?;
    Ok(Some(spec.open()?))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = RewardSettings {
        filter: filter(args.tokenizer.as_ref(), args.max_tokens)?,
        retrieval: RetrievalConfig {
            alpha: args.alpha,
            ..Default::default()
        },
        // r_vis reads the box as the released code does.
        ..Default::default()
    };
    let judge = judge(&args)?;
    map_lines(args.input.as_ref(), |line| {
        process(&settings, judge.as_deref(), line)
    })
}
