//! Captions the first sample of the bundled test set with a Qwen3-VL checkpoint:
//!
//! ```text
//! cargo run --release -p caption-one -- covip-model/tests/fixtures/tiny-qwen3-vl
//! ```
use std::path::PathBuf;

use covip_data::formats::{Dataset, load};
use covip_data::prompt::{QueryHeader, Templates, caption_prompt, conversation_images};
use covip_model::device::Cpu;
use covip_model::{GenerateOptions, LoadOptions, ModelBundle, RenderOptions, Sampling};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model_dir: PathBuf = std::env::args_os()
        .nth(1)
        .ok_or("usage: caption-one MODEL_DIR")?
        .into();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/sample/test");
    let sample = load(&data)?
        .into_iter()
        .find_map(|d| match d {
            Dataset::Test { samples, .. } => samples.records.into_iter().next(),
            _ => None,
        })
        .ok_or("no test sample")?
        .1;

    let device = Default::default();
    let bundle = ModelBundle::<Cpu>::load(&model_dir, LoadOptions::default(), &device)?;

    // The captioning prompt (context dialogues, then the new image), its images as pixels.
    let messages = caption_prompt(
        &sample.context,
        &sample.query,
        QueryHeader::NewImage,
        &Templates::default(),
    );
    let mut images = Vec::new();
    for r in conversation_images(&messages) {
        let origin = r.name().unwrap_or("<embedded image>");
        images.push(bundle.images.decode(&r.read_bytes()?, origin)?);
    }
    let pixels = bundle.images.process(&images)?;
    let render = RenderOptions {
        add_generation_prompt: true,
        add_vision_id: true,
    };
    let ids = bundle
        .processor
        .encode_chat(&messages, &pixels.image_tokens(), render)?;

    let opts = GenerateOptions {
        max_new_tokens: 64,
        sampling: Sampling::greedy(),
        stop_ids: bundle.processor.stop_ids.clone(),
        seed: 0,
        pad_id: bundle.processor.pad_id,
    };
    let out = bundle
        .multimodal()?
        .generate(&[ids], &[&pixels], &opts, &device, |_, _| {})?;
    let tokens: Vec<u32> = out.tokens[0]
        .iter()
        .copied()
        .filter(|t| !opts.stop_ids.contains(t))
        .collect();
    let caption = bundle.processor.tokenizer.decode(&tokens, true)?;
    println!("{}: {}", sample.id, caption.trim());
    Ok(())
}
