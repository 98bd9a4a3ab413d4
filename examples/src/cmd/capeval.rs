//! `covip capeval`: CapEval-QAs. A judge answers every QA of the test set from each caption
//! alone; Acc+ / Acc− are printed as a Markdown table and, with `--out`, written with every
//! judge answer. With no argument at all it scores the two caption sets bundled with
//! `data/sample` under the offline lexical judge and writes nothing.
//!
//! `--model DIR` / `--captioner URL` write the captions first (resumably, through covip-eval's
//! `Captioner` seam) to `RESULT.json.captions.json`, or `captions.json` without `--out`.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use covip_data::Sample;
use covip_data::prompt::Templates;
use covip_eval::capeval::{
    CapevalEvent, CapevalResult, JudgeSettings, ScoreOptions, default_cache_path,
    default_captions_path, markdown_table, read_captions, read_test_set, score_all, write_chart,
    write_result,
};
use covip_eval::captioner::{
    Captioner, LocalCaptionOptions, OpenAiCaptionOptions, OpenAiCaptioner,
};
use covip_model::burn::tensor::backend::Backend;
use covip_model::device::{DeviceKind, OnDevice, dispatch};
use covip_rl::openai::{ChatClient, ChatClientConfig};
use indicatif::{ProgressBar, ProgressStyle};

use super::caption::{caption_with_bar, load_local};

/// The bundled test set and caption sets the no-argument run scores.
const SAMPLE_TEST: &str = "data/sample/test";
const SAMPLE_CAPTIONS: [&str; 2] = [
    "data/sample/captions/generic.json",
    "data/sample/captions/personalised.json",
];

#[derive(Parser, Debug, Clone)]
pub struct Args {
    /// Test set: its folder, or its metadata JSONL / ground-truth JSON
    /// [default: data/sample/test].
    #[arg(long, value_name = "TESTSET")]
    pub data: Option<PathBuf>,
    /// A captions file, {sample_id: caption} or {sample_id: {"caption": ...}}; repeat to
    /// compare several (one result run each). Without it, --model or --captioner, and
    /// without --data: the generic and personalised sets bundled with data/sample.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["model", "captioner"])]
    pub captions: Vec<PathBuf>,
    /// Caption the test set first with this Qwen3-VL checkpoint folder (resumable).
    #[arg(long, value_name = "DIR", conflicts_with = "captioner")]
    pub model: Option<PathBuf>,
    /// Caption the test set first through this OpenAI-compatible server (resumable).
    #[arg(long, value_name = "URL")]
    pub captioner: Option<String>,
    /// The captioner server's model [default: the first one it lists].
    #[arg(long, value_name = "NAME", requires = "captioner")]
    pub captioner_model: Option<String>,
    /// `lexical` (offline word overlap) or the base URL of an OpenAI-compatible judge server
    /// (vLLM, `covip serve`), e.g. http://localhost:8000/v1.
    #[arg(long, default_value = "lexical", value_name = "URL|lexical")]
    pub judge: String,
    /// The judge server's model [default: the first one GET /v1/models lists].
    #[arg(long, value_name = "NAME")]
    pub judge_model: Option<String>,
    /// Template override file (JSON, keys `judge` and `judge_question`; placeholders
    /// {{description}}, {{question}}, {{A}}..{{D}}).
    #[arg(long, value_name = "FILE")]
    pub templates: Option<PathBuf>,
    /// Judge requests in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// Judge sampling temperature.
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f64,
    /// Judge nucleus sampling.
    #[arg(long, default_value_t = 0.8)]
    pub top_p: f64,
    /// Judge top-k (sent as vLLM's `top_k`); 0 leaves it out.
    #[arg(long, default_value_t = 20)]
    pub top_k: u32,
    /// Judge `max_tokens` [default: the server's].
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Further attempts after a transient judge failure (timeout, 429, 5xx).
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Whole-request timeout of the judge, seconds.
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
    /// Write the result JSON here (atomically, once every QA is scored).
    #[arg(long, value_name = "RESULT.json")]
    pub out: Option<PathBuf>,
    /// The judge-answer cache [default for a server judge: RESULT.json.cache.jsonl, or
    /// capeval.cache.jsonl without --out; the lexical judge keeps none unless given].
    #[arg(long, value_name = "FILE")]
    pub cache: Option<PathBuf>,
    /// Draw Acc+ and Acc- by present concepts as a PNG bar chart.
    #[arg(long, value_name = "PNG")]
    pub chart: Option<PathBuf>,
    /// Score the samples a captions file has and list the missing ones, instead of stopping.
    #[arg(long)]
    pub allow_missing: bool,
    /// Device of --model: cpu, wgpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Caption length limit of --model and --captioner.
    #[arg(long, default_value_t = 512)]
    pub max_new_tokens: usize,
    /// Samples captioned together by --model.
    #[arg(long, default_value_t = 1)]
    pub batch_size: usize,
    /// Load --model's weights as f32 even when the checkpoint stores bf16.
    #[arg(long)]
    pub f32: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bundled = args.captions.is_empty() && args.model.is_none() && args.captioner.is_none();
    if bundled && args.data.is_some() {
        bail!("give the captions to score: --captions FILE, --model DIR or --captioner URL");
    }
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from(SAMPLE_TEST));
    let samples = read_test_set(&data).with_context(|| {
        if args.data.is_none() {
            format!(
                "reading the bundled test set {} (run covip capeval from the repository root, or give --data)",
                data.display()
            )
        } else {
            format!("reading {}", data.display())
        }
    })?;

    // The captions files, in order.
    let files: Vec<PathBuf> = if bundled {
        SAMPLE_CAPTIONS.iter().map(PathBuf::from).collect()
    } else if !args.captions.is_empty() {
        args.captions.clone()
    } else {
        vec![caption_first(&args, &samples)?]
    };
    let mut loaded: Vec<(String, HashMap<String, String>)> = Vec::with_capacity(files.len());
    for f in &files {
        loaded.push((f.display().to_string(), read_captions(f)?));
    }

    let mut templates = Templates::default();
    if let Some(t) = &args.templates {
        templates
            .override_from_json(t)
            .with_context(|| format!("reading templates {}", t.display()))?;
    }
    let server = args.judge != "lexical";
    let cache = match (&args.cache, server) {
        (Some(c), _) => Some(c.clone()),
        (None, true) => Some(default_cache_path(args.out.as_deref())),
        (None, false) => None,
    };
    let settings = JudgeSettings {
        target: args.judge.clone(),
        model: args.judge_model.clone(),
        temperature: args.temperature,
        top_p: args.top_p,
        top_k: (args.top_k > 0).then_some(args.top_k),
        max_tokens: args.max_tokens,
        concurrency: args.concurrency.into(),
        retries: args.retries,
        timeout_secs: args.timeout,
        templates,
        cache: cache.clone(),
        ..JudgeSettings::default()
    };
    let judge = settings.open()?;
    if let Some(c) = &cache {
        eprintln!(
            "judge {}; answers cached in {} ({} already)",
            judge.id,
            c.display(),
            judge.judge.len()
        );
    }

    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} questions [{elapsed}<{eta}]")
            .expect("valid progress template"),
    );
    let options = ScoreOptions {
        allow_missing: args.allow_missing,
    };
    let result = score_all(&judge, &samples, &loaded, &options, &|e| match e {
        CapevalEvent::Started {
            captions,
            questions,
        } => {
            bar.reset();
            bar.set_length(questions as u64);
            bar.set_message(captions.to_string());
        }
        CapevalEvent::Answered => bar.inc(1),
    });
    bar.finish_and_clear();
    if cache.is_some() {
        eprintln!(
            "{} answer(s) from the cache, {} asked",
            judge.judge.hits(),
            judge.judge.misses()
        );
    }
    let result: CapevalResult = result?;
    for run in &result.runs {
        if !run.missing.is_empty() {
            eprintln!(
                "{}: no caption for {} sample(s), not scored: {}",
                run.captions,
                run.missing.len(),
                run.missing.join(", ")
            );
        }
    }
    print!("{}", markdown_table(&result));
    if let Some(out) = &args.out {
        write_result(out, &result)?;
        eprintln!("wrote {}", out.display());
    }
    if let Some(chart) = &args.chart {
        write_chart(&result, chart)?;
        eprintln!("wrote {}", chart.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Captions the test set with `--model` or `--captioner` into the captions file beside the
/// result, resuming from its log; returns the file.
fn caption_first(args: &Args, samples: &[Sample]) -> anyhow::Result<PathBuf> {
    let out = default_captions_path(args.out.as_deref());
    if let Some(model) = &args.model {
        if args.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        let kind: DeviceKind = args.device.parse()?;
        dispatch(
            kind,
            LocalJob {
                model: model.clone(),
                out: out.clone(),
                samples: samples.to_vec(),
                options: LocalCaptionOptions {
                    max_new_tokens: args.max_new_tokens,
                    batch_size: args.batch_size,
                },
                f32: args.f32,
            },
        )??;
    } else if let Some(url) = &args.captioner {
        let mut captioner = url_captioner(args, url)?;
        caption_with(captioner.as_mut(), samples, &out)?;
    }
    Ok(out)
}

/// A captioner behind an OpenAI-compatible server (greedy, as the local captioner).
fn url_captioner(args: &Args, url: &str) -> anyhow::Result<Box<dyn Captioner>> {
    let client = ChatClient::new(ChatClientConfig {
        base_url: url.to_string(),
        model: args.captioner_model.clone().unwrap_or_default(),
        timeout_secs: args.timeout.max(600.0),
        retries: args.retries,
        max_connections: usize::from(args.concurrency),
        ..Default::default()
    });
    let options = OpenAiCaptionOptions {
        max_tokens: u32::try_from(args.max_new_tokens).unwrap_or(u32::MAX),
        concurrency: usize::from(args.concurrency),
        ..Default::default()
    };
    Ok(Box::new(
        OpenAiCaptioner::new(client, options).with_context(|| format!("--captioner {url}"))?,
    ))
}

struct LocalJob {
    model: PathBuf,
    out: PathBuf,
    samples: Vec<Sample>,
    options: LocalCaptionOptions,
    f32: bool,
}

impl OnDevice for LocalJob {
    type Output = anyhow::Result<()>;
    fn run<B: Backend>(self, device: B::Device) -> anyhow::Result<()> {
        let mut captioner = load_local::<B>(&self.model, self.f32, device, self.options)?;
        caption_with(&mut captioner, &self.samples, &self.out)
    }
}

/// Runs a captioner over the samples resumably, with a progress bar.
fn caption_with(
    captioner: &mut dyn Captioner,
    samples: &[Sample],
    out: &Path,
) -> anyhow::Result<()> {
    let report = caption_with_bar(captioner, samples, out, None, Some("captioning"))?;
    if !report.written {
        bail!(
            "captioning stopped with {} of {} samples left; run again to resume",
            report.remaining,
            report.total
        );
    }
    eprintln!("wrote {} ({} captions)", out.display(), report.total);
    Ok(())
}
