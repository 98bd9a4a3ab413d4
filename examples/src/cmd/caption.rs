//! `covip caption`: personalised captions for every sample of a benchmark file, written as
//! `{sample_id: caption}` (the shape CapEval-QAs reads). Captioning prompt of SPEC §3 with the
//! "New Image" header, chat template with "Picture N: " ids, greedy decoding.
//!
//! Resumable: each finished sample is appended to `<out>.resume.jsonl` at once; a rerun skips
//! the samples found there. The final file is written atomically once every sample is done.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use covip_data::Sample;
use covip_data::formats::{Dataset, load};
use covip_data::io::{ResumeLog, write_json_atomic};
use covip_data::prompt::{QueryHeader, Templates, caption_prompt, conversation_images};
use covip_model::burn::tensor::backend::Backend;
use covip_model::device::{DeviceKind, OnDevice, dispatch};
use covip_model::processor::image::{ImageProcessor, PixelPatches, decode_rgb};
use covip_model::{
    GenerateOptions, Processor, Qwen3VlMultimodal, RenderOptions, Sampling, WeightDtype,
};
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

/// The resume log that belongs to `out`.
pub fn resume_log_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".resume.jsonl");
    out.with_file_name(name)
}

fn test_samples(path: &Path) -> anyhow::Result<Vec<Sample>> {
    let mut out = Vec::new();
    for d in load(path).with_context(|| format!("reading {}", path.display()))? {
        match d {
            Dataset::Test { meta, samples, .. } => {
                if let Some(p) = samples.problems.first() {
                    bail!(
                        "{}: {} problem(s), first: {p:?}",
                        meta.display(),
                        samples.problems.len()
                    );
                }
                out.extend(samples.records.into_iter().map(|(_, s)| s));
            }
            Dataset::Train { path, .. } | Dataset::Downstream { path, .. } => {
                tracing::info!("{}: not a test set, skipped", path.display());
            }
        }
    }
    if out.is_empty() {
        bail!("{}: no test-set samples found", path.display());
    }
    Ok(out)
}

struct Job(Args);

impl OnDevice for Job {
    type Output = anyhow::Result<()>;
    fn run<B: Backend>(self, device: B::Device) -> anyhow::Result<()> {
        let a = self.0;
        let samples = test_samples(&a.data)?;
        let dtype = if a.f32 {
            WeightDtype::F32
        } else {
            WeightDtype::AsStored
        };
        let (model, cfg) = Qwen3VlMultimodal::<B>::load(&a.model, dtype, &device)
            .with_context(|| format!("loading {}", a.model.display()))?;
        let processor = Processor::from_dir(&a.model, &cfg)?;
        let images = ImageProcessor::from_dir(&a.model)?;
        let log_path = resume_log_path(&a.out);
        let mut log = ResumeLog::<String>::open(&log_path)?;
        let pending: Vec<&Sample> = samples.iter().filter(|s| !log.contains(&s.id)).collect();
        eprintln!(
            "{} samples, {} already captioned (log {}), {} to do",
            samples.len(),
            samples.len() - pending.len(),
            log_path.display(),
            pending.len()
        );
        let todo = a
            .max_samples
            .map_or(pending.len(), |n| n.min(pending.len()));
        let bar = ProgressBar::new(todo as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} samples [{elapsed}<{eta}]")
                .expect("valid progress template"),
        );
        let templates = Templates::default();
        let opts = GenerateOptions {
            max_new_tokens: a.max_new_tokens,
            sampling: Sampling::greedy(),
            stop_ids: processor.stop_ids.clone(),
            seed: 0,
            pad_id: processor.pad_id,
        };
        let render = RenderOptions {
            add_generation_prompt: true,
            add_vision_id: true,
        };
        for chunk in pending[..todo].chunks(a.batch_size) {
            let mut prompts = Vec::with_capacity(chunk.len());
            let mut pixels: Vec<PixelPatches> = Vec::with_capacity(chunk.len());
            for s in chunk {
                let messages =
                    caption_prompt(&s.context, &s.query, QueryHeader::NewImage, &templates);
                let rgb = conversation_images(&messages)
                    .into_iter()
                    .map(|r| {
                        let origin = format!("sample {}: image {}", s.id, r.name().unwrap_or("?"));
                        let bytes = r.read_bytes().with_context(|| origin.clone())?;
                        Ok(decode_rgb(&bytes, &origin)?)
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let px = images
                    .process(&rgb)
                    .with_context(|| format!("sample {}: image processing", s.id))?;
                prompts.push(processor.encode_chat(&messages, &px.image_tokens(), render)?);
                pixels.push(px);
            }
            let refs: Vec<&PixelPatches> = pixels.iter().collect();
            let g = model
                .generate(&prompts, &refs, &opts, &device, |_, _| {})
                .with_context(|| {
                    let ids: Vec<&str> = chunk.iter().map(|s| s.id.as_str()).collect();
                    format!("captioning {ids:?}")
                })?;
            for (s, toks) in chunk.iter().zip(&g.tokens) {
                let toks: Vec<u32> = toks
                    .iter()
                    .copied()
                    .filter(|t| !processor.stop_ids.contains(t))
                    .collect();
                let caption = processor.tokenizer.decode(&toks, true)?.trim().to_string();
                log.record(&s.id, caption)?;
                bar.inc(1);
            }
        }
        bar.finish_and_clear();
        let missing = samples.iter().filter(|s| !log.contains(&s.id)).count();
        if missing > 0 {
            eprintln!(
                "stopped with {missing} of {} samples left; rerun to resume ({} not written)",
                samples.len(),
                a.out.display()
            );
            return Ok(());
        }
        let captions: BTreeMap<&str, &String> = samples
            .iter()
            .map(|s| (s.id.as_str(), log.get(&s.id).expect("every sample is done")))
            .collect();
        write_json_atomic(&a.out, &captions)?;
        eprintln!("wrote {} ({} captions)", a.out.display(), captions.len());
        Ok(())
    }
}
