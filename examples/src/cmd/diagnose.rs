//! `covip diagnose`: the LSD / LAR / ITR diagnostics, with or without caption-augmented
//! generation (CAG), on a downstream set (JSONL or Parquet), by covip-eval's `diagnose`.
//!
//! Responses come from a local checkpoint (`--model DIR`), an OpenAI-compatible endpoint
//! (`--endpoint URL`: vLLM, `covip serve`) or a saved file (`--responses FILE`). LAR is scored
//! by a judge model (`--judge URL`). Every caption, response and verdict goes to a log beside
//! the result (`RESULT.json.log.jsonl`) as soon as it exists, so a rerun of the same command
//! continues where the last one stopped and asks nothing twice.
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use covip_data::DiagnosticKind;
use covip_data::prompt::Templates;
use covip_eval::diagnose::{
    DiagnoseEvent, DiagnoseOptions, DiagnoseResult, EndpointGenerator, EndpointLarJudge, Generator,
    JudgeParams, LarJudge, LocalGenerator, ResponseSource, default_log_path, log_path_for,
    read_diagnostic_set, read_responses, run_diagnose,
};
use covip_model::burn::tensor::backend::Backend;
use covip_model::device::{DeviceKind, OnDevice, dispatch};
use covip_model::{LoadOptions, Vision, WeightDtype};
use covip_rl::openai::{ChatClient, ChatClientConfig};
use indicatif::{ProgressBar, ProgressStyle};

/// Which diagnostic set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Set {
    /// Last-seen detection: token-set F1 of the `//boxed{…}` answer against the gold place.
    Lsd,
    /// Last-action recall: a judge compares the response with the last action.
    Lar,
    /// Instruction-triggered recall: does the response say `SKS`.
    Itr,
}

impl From<Set> for DiagnosticKind {
    fn from(s: Set) -> Self {
        match s {
            Set::Lsd => DiagnosticKind::Lsd,
            Set::Lar => DiagnosticKind::Lar,
            Set::Itr => DiagnosticKind::Itr,
        }
    }
}

#[derive(Parser, Debug, Clone)]
pub struct Args {
    /// The diagnostic set the data holds.
    #[arg(long, value_enum)]
    pub set: Set,
    /// The downstream set: JSONL (or a JSON list) or Parquet.
    #[arg(long)]
    pub data: PathBuf,
    /// Generate with this Hugging Face checkpoint folder (vision tower included).
    #[arg(long, conflicts_with_all = ["endpoint", "responses"])]
    pub model: Option<PathBuf>,
    /// Generate through this OpenAI-compatible server (e.g. http://localhost:8000/v1).
    #[arg(long, conflicts_with = "responses")]
    pub endpoint: Option<String>,
    /// The endpoint's model name (default: the first one GET /v1/models lists).
    #[arg(long, requires = "endpoint")]
    pub endpoint_model: Option<String>,
    /// Caption first, then ask after the caption (caption-augmented generation).
    #[arg(long, conflicts_with = "responses")]
    pub cag: bool,
    /// Score saved responses instead of generating: a JSON list in dataset order, of strings
    /// or of objects with a `response` field.
    #[arg(long)]
    pub responses: Option<PathBuf>,
    /// The LAR judge: an OpenAI-compatible server (needed for --set lar).
    #[arg(long)]
    pub judge: Option<String>,
    /// The judge's model name (default: the first one its GET /v1/models lists).
    #[arg(long, requires = "judge")]
    pub judge_model: Option<String>,
    /// The result JSON, written atomically once every sample is scored; the log is
    /// RESULT.json.log.jsonl.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The resume log (default: beside --out, else diagnose-SET[-cag|-saved].log.jsonl in the
    /// working directory).
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Prompt wording overrides: a JSON object {template_name: text} (covip-data's names,
    /// e.g. lsd_question, lsd_answer_format, lar_question, personalization_system,
    /// caption_instruction, lar_judge).
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// Most new tokens of each caption and response (released: 1024).
    #[arg(long, default_value_t = 1024)]
    pub max_tokens: u32,
    /// Most new tokens of each LAR verdict (released: 16384).
    #[arg(long, default_value_t = 16384)]
    pub judge_max_tokens: u32,
    /// Sample i is answered with seed SEED + i.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Requests in flight at once (endpoint and judge).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Whole-request timeout for the endpoint and the judge, seconds.
    #[arg(long, default_value_t = 600.0)]
    pub timeout: f64,
    /// With --model: cpu, wgpu or cuda (the latter two need the matching cargo feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// With --model: load weights as f32 even when the checkpoint stores bf16.
    #[arg(long)]
    pub f32: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let set: DiagnosticKind = args.set.into();
    let sources = [
        args.model.is_some(),
        args.endpoint.is_some(),
        args.responses.is_some(),
    ];
    if sources.iter().filter(|s| **s).count() != 1 {
        bail!("give one of --model DIR, --endpoint URL or --responses FILE");
    }
    if set == DiagnosticKind::Lar && args.judge.is_none() {
        bail!(
            "--set lar is scored by a judge model: give --judge URL (an OpenAI-compatible server)"
        );
    }
    if set != DiagnosticKind::Lar && args.judge.is_some() {
        bail!("--judge is only used by --set lar");
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!("--timeout must be a positive number of seconds");
    }
    if args.max_tokens == 0 || args.judge_max_tokens == 0 {
        bail!("--max-tokens and --judge-max-tokens must be at least 1");
    }
    if let Some(model) = args.model.clone() {
        let kind: DeviceKind = args.device.parse()?;
        return dispatch(kind, Local { args, model })?;
    }
    if let Some(url) = &args.endpoint {
        let client = client(url, args.endpoint_model.as_deref(), &args);
        let mut generator = EndpointGenerator::new(client, args.concurrency.into())
            .map_err(anyhow::Error::msg)
            .context("the --endpoint server")?;
        let cag = args.cag;
        return execute(
            &args,
            ResponseSource::Generate {
                generator: &mut generator,
                cag,
            },
        );
    }
    let path = args.responses.as_ref().expect("one source was given");
    let saved = read_responses(path)?;
    execute(&args, ResponseSource::Saved(saved))
}

/// A client for `url`, with the model named or the first the server lists.
fn client(url: &str, model: Option<&str>, args: &Args) -> ChatClient {
    ChatClient::new(ChatClientConfig {
        base_url: url.to_string(),
        model: model.unwrap_or_default().to_string(),
        api_key: std::env::var("OPENAI_API_KEY")
            .ok()
            .filter(|k| !k.is_empty()),
        timeout_secs: args.timeout,
        max_connections: usize::from(args.concurrency),
        ..Default::default()
    })
}

struct Local {
    args: Args,
    model: PathBuf,
}

impl OnDevice for Local {
    type Output = anyhow::Result<ExitCode>;
    fn run<B: Backend>(self, device: B::Device) -> anyhow::Result<ExitCode> {
        let load = LoadOptions {
            dtype: if self.args.f32 {
                WeightDtype::F32
            } else {
                WeightDtype::AsStored
            },
            vision: Vision::Load,
            ..Default::default()
        };
        let mut generator = LocalGenerator::<B>::load(&self.model, load, device)
            .with_context(|| format!("loading {}", self.model.display()))?;
        let cag = self.args.cag;
        execute(
            &self.args,
            ResponseSource::Generate {
                generator: &mut generator as &mut dyn Generator,
                cag,
            },
        )
    }
}

/// Reads the set, builds the judge, runs, prints the summary.
fn execute(args: &Args, source: ResponseSource<'_>) -> anyhow::Result<ExitCode> {
    let set: DiagnosticKind = args.set.into();
    let samples = read_diagnostic_set(&args.data, set)?;
    let mut templates = Templates::default();
    if let Some(p) = &args.templates {
        templates.override_from_json(p)?;
    }
    let mut options = DiagnoseOptions {
        templates,
        seed: args.seed,
        ..Default::default()
    };
    options.caption.max_tokens = args.max_tokens;
    options.answer.max_tokens = args.max_tokens;
    let judge = match &args.judge {
        Some(url) => {
            let params = JudgeParams {
                max_tokens: args.judge_max_tokens,
                ..Default::default()
            };
            let j = EndpointLarJudge::new(
                client(url, args.judge_model.as_deref(), args),
                params,
                args.concurrency.into(),
            )
            .map_err(anyhow::Error::msg)
            .context("the --judge server")?;
            Some(j)
        }
        None => None,
    };
    let cag = match &source {
        ResponseSource::Generate { cag, .. } => Some(*cag),
        ResponseSource::Saved(_) => None,
    };
    let log = match (&args.log, &args.out) {
        (Some(l), _) => l.clone(),
        (None, Some(out)) => log_path_for(out),
        (None, None) => default_log_path(set, cag),
    };
    let bar = progress_bar();
    let result = run_diagnose(
        &samples,
        source,
        judge.as_ref().map(|j| j as &dyn LarJudge),
        &options,
        &log,
        args.out.as_deref(),
        &mut |event| match event {
            DiagnoseEvent::Stage {
                stage,
                total,
                done,
                todo,
            } => {
                if let Some(b) = &bar {
                    b.set_length(todo as u64);
                    b.set_position(0);
                    b.set_message(stage.as_str());
                }
                eprintln!(
                    "{}: {total} samples, {done} found in {}, {todo} to do",
                    stage.as_str(),
                    log.display()
                );
            }
            DiagnoseEvent::Done { .. } => {
                if let Some(b) = &bar {
                    b.inc(1);
                }
            }
        },
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let result = result.with_context(|| {
        format!(
            "{} on {} (finished work is kept in {}; rerun to resume)",
            set.as_str(),
            args.data.display(),
            log.display()
        )
    })?;
    print_summary(&result);
    if let Some(out) = &args.out {
        eprintln!("wrote {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// A bar on stderr when it is a terminal.
fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{msg:>8} {bar:40} {pos}/{len} [{elapsed}<{eta}]")
                .expect("valid progress template"),
        ),
    )
}

fn print_summary(r: &DiagnoseResult) {
    let variant = match r.cag {
        Some(true) => "with CAG",
        Some(false) => "without CAG",
        None => "saved responses",
    };
    match r.set {
        DiagnosticKind::Lsd => println!(
            "LSD ({variant}): mean token-set F1 {:.4} over {} samples",
            r.score, r.n
        ),
        DiagnosticKind::Itr => println!(
            "ITR ({variant}): SKS rate {:.4} over {} samples",
            r.score, r.n
        ),
        DiagnosticKind::Lar => println!(
            "LAR ({variant}): accuracy {:.4} as released (a verdict containing \"correct\"), \
             {:.4} strict (first word \"correct\"), over {} samples",
            r.score,
            r.score_strict.unwrap_or(0.0),
            r.n
        ),
    }
}
