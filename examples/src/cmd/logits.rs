//! `covip logits`: one f32 forward pass over a chat-formatted prompt, saved as safetensors
//! (`input_ids` [seq] i64, `logits` [seq, vocab] f32; with `--image` also `pixel_values`
//! [patches, 1536] f32 and `image_grid_thw` [images, 3] i64).
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use covip_data::ImageRef;
use covip_data::prompt::{Message, Part, Role};
use covip_model::burn::tensor::backend::Backend;
use covip_model::device::{DeviceKind, OnDevice, dispatch};
use covip_model::processor::image::ImageProcessor;
use covip_model::{Processor, Qwen3Vl, Qwen3VlMultimodal, RenderOptions, WeightDtype};

#[derive(Parser, Debug, Clone)]
pub struct Args {
    /// Hugging Face checkpoint folder.
    #[arg(long)]
    pub model: PathBuf,
    /// Text of the user message (after the images).
    #[arg(long)]
    pub prompt: String,
    /// Images of the user message, in order, before the text (no "Picture N: " ids).
    #[arg(long)]
    pub image: Vec<PathBuf>,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Output .safetensors file.
    #[arg(long)]
    pub out: PathBuf,
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
        let opts = RenderOptions {
            add_generation_prompt: true,
            add_vision_id: false,
        };
        let loading = || format!("loading {}", a.model.display());
        if a.image.is_empty() {
            let (model, cfg, _) =
                Qwen3Vl::<B>::load(&a.model, WeightDtype::F32, &device).with_context(loading)?;
            let processor = Processor::from_dir(&a.model, &cfg)?;
            let messages = vec![Message::text(Role::User, a.prompt.clone())];
            let ids = processor.encode_chat(&messages, &[], opts)?;
            let (logits, vocab) = model.prompt_logits(&ids, &device)?;
            covip_model::export::write_logits(&a.out, &ids, &logits, vocab)?;
            eprintln!(
                "wrote {} ({} tokens, vocab {vocab})",
                a.out.display(),
                ids.len()
            );
            return Ok(());
        }
        let (model, cfg) = Qwen3VlMultimodal::<B>::load(&a.model, WeightDtype::F32, &device)
            .with_context(loading)?;
        let processor = Processor::from_dir(&a.model, &cfg)?;
        let images = ImageProcessor::from_dir(&a.model)?;
        let paths: Vec<&Path> = a.image.iter().map(PathBuf::as_path).collect();
        let patches = images.process_files(&paths)?;
        let mut parts: Vec<Part> = a
            .image
            .iter()
            .map(|p| Part::Image(ImageRef::path(p.display().to_string())))
            .collect();
        parts.push(Part::Text(a.prompt.clone()));
        let messages = vec![Message {
            role: Role::User,
            parts,
        }];
        let ids = processor.encode_chat(&messages, &patches.image_tokens(), opts)?;
        let (logits, vocab) = model.prompt_logits(&ids, Some(&patches), &device)?;
        covip_model::export::write_logits_with_images(
            &a.out,
            &ids,
            &logits,
            vocab,
            Some(&patches),
        )?;
        eprintln!(
            "wrote {} ({} tokens, {} images, vocab {vocab})",
            a.out.display(),
            ids.len(),
            patches.grid_thw.len()
        );
        Ok(())
    }
}
