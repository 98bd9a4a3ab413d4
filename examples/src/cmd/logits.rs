//! `covip logits`: one f32 forward pass over a chat-formatted prompt, saved as safetensors
//! (`input_ids` [seq] i64, `logits` [seq, vocab] f32).
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use covip_data::prompt::{Message, Role};
use covip_model::burn::tensor::backend::Backend;
use covip_model::device::{DeviceKind, OnDevice, dispatch};
use covip_model::{Processor, Qwen3Vl, RenderOptions, WeightDtype};

#[derive(Parser, Debug, Clone)]
pub struct Args {
    /// Hugging Face checkpoint folder.
    #[arg(long)]
    pub model: PathBuf,
    /// Text of the user message (after the images).
    #[arg(long)]
    pub prompt: String,
    /// Images of the user message, in order (needs the vision tower; not supported yet).
    #[arg(long)]
    pub image: Vec<PathBuf>,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Output .safetensors file.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.image.is_empty() {
        bail!(
            "--image is not supported yet: the Qwen3-VL vision tower is not implemented in this build \
             ({} image(s) given); run without --image for text-only logits",
            args.image.len()
        );
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
        let (model, cfg, _) = Qwen3Vl::<B>::load(&a.model, WeightDtype::F32, &device)
            .with_context(|| format!("loading {}", a.model.display()))?;
        let processor = Processor::from_dir(&a.model, &cfg)?;
        let messages = vec![Message::text(Role::User, a.prompt.clone())];
        let opts = RenderOptions {
            add_generation_prompt: true,
            add_vision_id: false,
        };
        let ids = processor.encode_chat(&messages, &[], opts)?;
        let (logits, vocab) = model.prompt_logits(&ids, &device)?;
        covip_model::export::write_logits(&a.out, &ids, &logits, vocab)?;
        eprintln!(
            "wrote {} ({} tokens, vocab {vocab})",
            a.out.display(),
            ids.len()
        );
        Ok(())
    }
}
