//! `covip logits`: one f32 forward pass over a chat-formatted prompt (optionally with a PEFT
//! adapter over the checkpoint), saved as safetensors
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
use covip_model::{LoadOptions, ModelBundle, RenderOptions, Vision, WeightDtype};

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
    /// A PEFT LoRA adapter folder to load over --model (`covip export-adapter`'s output, or
    /// one PEFT saved).
    #[arg(long)]
    pub adapter: Option<PathBuf>,
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
        let load = LoadOptions {
            dtype: WeightDtype::F32,
            vision: if a.image.is_empty() {
                Vision::Skip
            } else {
                Vision::Load
            },
            ..Default::default()
        };
        let mut bundle = ModelBundle::<B>::load(&a.model, load, &device)
            .with_context(|| format!("loading {}", a.model.display()))?;
        if let Some(dir) = &a.adapter {
            covip_model::lora::load_peft_adapter(bundle.weights.text_mut(), dir)
                .with_context(|| format!("loading the adapter {}", dir.display()))?;
        }
        let processor = &bundle.processor;
        if a.image.is_empty() {
            let messages = vec![Message::text(Role::User, a.prompt.clone())];
            let ids = processor.encode_chat(&messages, &[], opts)?;
            let (logits, vocab) = bundle.weights.text().prompt_logits(&ids, &device)?;
            covip_model::export::write_logits(&a.out, &ids, &logits, vocab)?;
            eprintln!(
                "wrote {} ({} tokens, vocab {vocab})",
                a.out.display(),
                ids.len()
            );
            return Ok(());
        }
        let paths: Vec<&Path> = a.image.iter().map(PathBuf::as_path).collect();
        let patches = bundle.images.process_files(&paths)?;
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
        let (logits, vocab) = bundle
            .multimodal()?
            .prompt_logits(&ids, Some(&patches), &device)?;
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
