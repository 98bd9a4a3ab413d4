//! The local burn model as a [`Generator`]: the chat template rendered with vision ids
//! ("Picture N: "), images through the checkpoint's processor, one conversation at a time so
//! each draws from its own seed.
use std::path::Path;

use covip_data::prompt::conversation_images;
use covip_model::burn::tensor::backend::Backend;
use covip_model::processor::image::PixelPatches;
use covip_model::{
    GenerateOptions, LoadOptions, ModelBundle, ModelError, RenderOptions, Sampling, Vision,
};

use super::generate::{GenParams, GenerationRequest, Generator};

/// A Qwen3-VL checkpoint run by burn on `device`.
pub struct LocalGenerator<B: Backend> {
    bundle: ModelBundle<B>,
    device: B::Device,
    identity: String,
}

impl<B: Backend> LocalGenerator<B> {
    /// Wraps a loaded checkpoint (its vision tower included); `identity` names it in the log
    /// (the checkpoint folder, say).
    pub fn new(
        bundle: ModelBundle<B>,
        device: B::Device,
        identity: String,
    ) -> Result<Self, ModelError> {
        bundle.multimodal()?;
        Ok(LocalGenerator {
            bundle,
            device,
            identity,
        })
    }

    /// Loads the checkpoint folder `dir` (weights as `load.dtype`, vision tower included).
    pub fn load(dir: &Path, load: LoadOptions, device: B::Device) -> Result<Self, ModelError> {
        let load = LoadOptions {
            vision: Vision::Load,
            ..load
        };
        let bundle = ModelBundle::load(dir, load, &device)?;
        Self::new(bundle, device, format!("local:{}", dir.display()))
    }

    fn one(&self, r: &GenerationRequest<'_>) -> Result<String, ModelError> {
        let images = &self.bundle.images;
        let rgb = conversation_images(r.messages)
            .into_iter()
            .map(|img| {
                let origin = img.name().unwrap_or("embedded image").to_string();
                let bytes = img
                    .read_bytes()
                    .map_err(|e| ModelError::Input(e.to_string()))?;
                images.decode(&bytes, &origin)
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let px = images.process(&rgb)?;
        let render = RenderOptions {
            add_generation_prompt: true,
            add_vision_id: true,
        };
        let processor = &self.bundle.processor;
        let ids = processor.encode_chat(r.messages, &px.image_tokens(), render)?;
        let opts = GenerateOptions {
            max_new_tokens: r.params.max_tokens as usize,
            sampling: sampling(r.params),
            stop_ids: processor.stop_ids.clone(),
            seed: r.seed,
            pad_id: processor.pad_id,
        };
        let refs: [&PixelPatches; 1] = [&px];
        let g = self.bundle.multimodal()?.generate(
            std::slice::from_ref(&ids),
            &refs,
            &opts,
            &self.device,
            |_, _| {},
        )?;
        let tokens: Vec<u32> = g
            .tokens
            .first()
            .map(|t| {
                t.iter()
                    .copied()
                    .filter(|t| !processor.stop_ids.contains(t))
                    .collect()
            })
            .unwrap_or_default();
        processor.tokenizer.decode(&tokens, true)
    }
}

/// The model's sampling for `p` (greedy when the temperature is 0).
fn sampling(p: &GenParams) -> Sampling {
    if p.is_greedy() {
        return Sampling::greedy();
    }
    Sampling {
        do_sample: true,
        temperature: p.temperature as f32,
        top_k: p.top_k.unwrap_or(0) as usize,
        top_p: p.top_p as f32,
        min_p: 0.0,
        repetition_penalty: p.repetition_penalty as f32,
        presence_penalty: p.presence_penalty as f32,
        frequency_penalty: 0.0,
    }
}

impl<B: Backend> Generator for LocalGenerator<B> {
    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn generate(&mut self, requests: &[GenerationRequest<'_>]) -> Vec<Result<String, String>> {
        requests
            .iter()
            .map(|r| self.one(r).map_err(|e| e.to_string()))
            .collect()
    }
}
