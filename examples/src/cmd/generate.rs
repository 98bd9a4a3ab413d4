//! `covip generate`: chat-formatted text generation from a checkpoint folder.
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use covip_data::prompt::{Message, Role};
use covip_model::burn::tensor::backend::Backend;
use covip_model::device::{DeviceKind, OnDevice, dispatch};
use covip_model::{
    GenerateOptions, LoadOptions, ModelBundle, RenderOptions, Sampling, Vision, WeightDtype,
    generate,
};

#[derive(Parser, Debug, Clone)]
pub struct Args {
    /// Hugging Face checkpoint folder (config.json, safetensors, tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// The user message.
    #[arg(long)]
    pub prompt: String,
    /// Optional system message.
    #[arg(long)]
    pub system: Option<String>,
    #[arg(long, default_value_t = 128)]
    pub max_new_tokens: usize,
    /// Sample instead of greedy decoding (the other sampling flags then apply).
    #[arg(long)]
    pub sample: bool,
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// 0 disables.
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    #[arg(long, default_value_t = 0.0)]
    pub min_p: f32,
    #[arg(long, default_value_t = 1.0)]
    pub repetition_penalty: f32,
    #[arg(long, default_value_t = 0.0)]
    pub presence_penalty: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu, wgpu or cuda (the latter two need the matching cargo feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Load weights as f32 even when the checkpoint stores bf16.
    #[arg(long)]
    pub f32: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let kind: DeviceKind = args.device.parse()?;
    dispatch(kind, Job(args))??;
    Ok(ExitCode::SUCCESS)
}

struct Job(Args);

impl OnDevice for Job {
    type Output = anyhow::Result<()>;
    fn run<B: Backend>(self, device: B::Device) -> anyhow::Result<()> {
        let a = self.0;
        let load = LoadOptions {
            dtype: if a.f32 {
                WeightDtype::F32
            } else {
                WeightDtype::AsStored
            },
            vision: Vision::Skip,
            ..Default::default()
        };
        let bundle = ModelBundle::<B>::load(&a.model, load, &device)
            .with_context(|| format!("loading {}", a.model.display()))?;
        let (model, processor) = (bundle.weights.text(), &bundle.processor);
        let mut messages = Vec::new();
        if let Some(s) = &a.system {
            messages.push(Message::text(Role::System, s.clone()));
        }
        messages.push(Message::text(Role::User, a.prompt.clone()));
        let ids = processor.encode_chat(&messages, &[], RenderOptions::default())?;
        let opts = GenerateOptions {
            max_new_tokens: a.max_new_tokens,
            sampling: Sampling {
                do_sample: a.sample,
                temperature: a.temperature,
                top_k: a.top_k,
                top_p: a.top_p,
                min_p: a.min_p,
                repetition_penalty: a.repetition_penalty,
                presence_penalty: a.presence_penalty,
                frequency_penalty: 0.0,
            },
            stop_ids: processor.stop_ids.clone(),
            seed: a.seed,
            pad_id: processor.pad_id,
        };
        // Stream: print the decoded text grown so far, one token at a time.
        let mut toks: Vec<u32> = Vec::new();
        let mut printed = 0usize;
        let mut stdout = std::io::stdout();
        let g = generate(model, &[ids], &opts, &device, |_, t| {
            if processor.stop_ids.contains(&t) {
                return;
            }
            toks.push(t);
            if let Ok(text) = processor.tokenizer.decode(&toks, true)
                && text.len() > printed
                && text.is_char_boundary(printed)
            {
                let _ = write!(stdout, "{}", &text[printed..]);
                let _ = stdout.flush();
                printed = text.len();
            }
        })?;
        println!();
        tracing::info!(tokens = g.tokens[0].len(), finish = ?g.finish[0], "generated");
        Ok(())
    }
}
