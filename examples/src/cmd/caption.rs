//! `covip caption`: personalised captions for every sample of a benchmark file, written as
//! `{sample_id: caption}` (the shape CapEval-QAs reads), by covip-eval's local captioner.
//!
//! Resumable: each finished sample is appended to `<out>.resume.jsonl` at once; a rerun skips
//! the samples found there. The final file is written atomically once every sample is done.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use covip_data::Sample;
use covip_eval::captioner::{
    CaptionEvent, CaptionReport, Captioner, LocalCaptionOptions, LocalCaptioner, run_captioning,
    test_samples,
};
use covip_model::burn::tensor::backend::Backend;
use covip_model::device::{DeviceKind, OnDevice, dispatch};
use covip_model::{LoadOptions, Vision, WeightDtype};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser, Debug, Clone)]
pub struct Args {
    /// Hugging Face checkpoint folder (with preprocessor_config.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Test set: its folder or its meta.jsonl / ground-truth file.
    #[arg(long)]
    pub data: PathBuf,
    /// Output JSON `{sample_id: caption}`; the resume log is `<out>.resume.jsonl`.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[arg(long, default_value_t = 512)]
    pub max_new_tokens: usize,
    /// Samples generated together (left padding).
    #[arg(long, default_value_t = 1)]
    pub batch_size: usize,
    /// Stop after captioning this many new samples in this run (the rest is left for a
    /// resumed run; the final file is then not written).
    #[arg(long)]
    pub max_samples: Option<usize>,
    /// Load weights as f32 even when the checkpoint stores bf16.
    #[arg(long)]
    pub f32: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let kind: DeviceKind = args.device.parse()?;
    dispatch(kind, Job(args))??;
    Ok(ExitCode::SUCCESS)
}

struct Job(Args);

impl OnDevice for Job {
    type Output = anyhow::Result<()>;
    fn run<B: Backend>(self, device: B::Device) -> anyhow::Result<()> {
        let a = self.0;
        let samples =
            test_samples(&a.data).with_context(|| format!("reading {}", a.data.display()))?;
        let options = LocalCaptionOptions {
            max_new_tokens: a.max_new_tokens,
            batch_size: a.batch_size,
        };
        let mut captioner = load_local::<B>(&a.model, a.f32, device, options)?;
        let report = caption_with_bar(&mut captioner, &samples, &a.out, a.max_samples, None)?;
        if report.written {
            eprintln!("wrote {} ({} captions)", a.out.display(), report.total);
        } else {
            eprintln!(
                "stopped with {} of {} samples left; rerun to resume ({} not written)",
                report.remaining,
                report.total,
                a.out.display()
            );
        }
        Ok(())
    }
}

/// Loads the checkpoint folder `model` as a local captioner, vision tower included and weights
/// as stored unless `f32`: the one construction `covip caption` and `covip capeval --model` share.
pub(super) fn load_local<B: Backend>(
    model: &Path,
    f32: bool,
    device: B::Device,
    options: LocalCaptionOptions,
) -> anyhow::Result<LocalCaptioner<B>> {
    let load = LoadOptions {
        dtype: if f32 {
            WeightDtype::F32
        } else {
            WeightDtype::AsStored
        },
        vision: Vision::Load,
        ..Default::default()
    };
    LocalCaptioner::<B>::load(model, load, device, options)
        .with_context(|| format!("loading {}", model.display()))
}

/// Runs `captioner` resumably over `samples` into `out` with a progress bar on stderr. `label`
/// (capeval's "captioning") starts the bar and the opening line; how an unfinished run is
/// reported is left to the caller.
pub(super) fn caption_with_bar(
    captioner: &mut dyn Captioner,
    samples: &[Sample],
    out: &Path,
    max_samples: Option<usize>,
    label: Option<&str>,
) -> anyhow::Result<CaptionReport> {
    let (bar_prefix, line_prefix) = match label {
        Some(l) => (format!("{l} "), format!("{l}: ")),
        None => (String::new(), String::new()),
    };
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(&format!(
            "{bar_prefix}{{bar:40}} {{pos}}/{{len}} samples [{{elapsed}}<{{eta}}]"
        ))
        .expect("valid progress template"),
    );
    let report = run_captioning(
        captioner,
        samples,
        out,
        max_samples,
        &mut |event| match event {
            CaptionEvent::Started {
                total,
                done,
                todo,
                log,
            } => {
                eprintln!(
                    "{line_prefix}{total} samples, {done} already captioned (log {}), {todo} to do",
                    log.display()
                );
                bar.set_length(todo as u64);
            }
            CaptionEvent::Captioned { .. } => bar.inc(1),
        },
    )?;
    bar.finish_and_clear();
    Ok(report)
}
