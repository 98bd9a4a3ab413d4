//! `covip caption`: personalised captions for every sample of a benchmark file, written as
//! `{sample_id: caption}` (the shape CapEval-QAs reads), by covip-eval's local captioner.
//!
//! Resumable: each finished sample is appended to `<out>.resume.jsonl` at once; a rerun skips
//! the samples found there. The final file is written atomically once every sample is done.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use covip_eval::captioner::{
    CaptionEvent, LocalCaptionOptions, LocalCaptioner, run_captioning, test_samples,
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
        let load = LoadOptions {
            dtype: if a.f32 {
                WeightDtype::F32
            } else {
                WeightDtype::AsStored
            },
            vision: Vision::Load,
            ..Default::default()
        };
        let options = LocalCaptionOptions {
            max_new_tokens: a.max_new_tokens,
            batch_size: a.batch_size,
        };
        let mut captioner = LocalCaptioner::<B>::load(&a.model, load, device, options)
            .with_context(|| format!("loading {}", a.model.display()))?;
        let bar = ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} samples [{elapsed}<{eta}]")
                .expect("valid progress template"),
        );
        let report = run_captioning(
            &mut captioner,
            &samples,
            &a.out,
            a.max_samples,
            &mut |event| match event {
                CaptionEvent::Started {
                    total,
                    done,
                    todo,
                    log,
                } => {
                    eprintln!(
                        "{total} samples, {done} already captioned (log {}), {todo} to do",
                        log.display()
                    );
                    bar.set_length(todo as u64);
                }
                CaptionEvent::Captioned { .. } => bar.inc(1),
            },
        )?;
        bar.finish_and_clear();
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
