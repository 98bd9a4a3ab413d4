//! Everything a command needs from a checkpoint folder, loaded in one call: the weights (text
//! decoder, and the vision tower when asked for), the processor (tokenizer, chat template,
//! stop and pad ids, `generation_config.json`) and the image processor
//! (`preprocessor_config.json`).
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;

use crate::config::{GenerationConfig, Qwen3VlConfig};
use crate::error::{ModelError, Result};
use crate::loader::WeightDtype;
use crate::model::Qwen3Vl;
use crate::multimodal::Qwen3VlMultimodal;
use crate::processor::Processor;
use crate::processor::image::{DecodeLimits, ImageProcessor};

/// Whether to load the vision tower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Vision {
    /// Text decoder only (the folder's `model.visual.*` tensors are left on disk).
    Skip,
    /// Text decoder and vision tower; an error when the folder has no `vision_config`.
    #[default]
    Load,
}

/// How to load a folder.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LoadOptions {
    pub dtype: WeightDtype,
    pub vision: Vision,
    /// Cap on decoded image sizes, given to the image processor.
    pub image_limits: DecodeLimits,
}

/// The loaded weights.
#[derive(Debug)]
pub enum Weights<B: Backend> {
    // Both boxed: the variants differ in size by the whole tower.
    Text(Box<Qwen3Vl<B>>),
    Multimodal(Box<Qwen3VlMultimodal<B>>),
}

impl<B: Backend> Weights<B> {
    /// The causal LM (text path), present either way.
    pub fn text(&self) -> &Qwen3Vl<B> {
        match self {
            Weights::Text(m) => m,
            Weights::Multimodal(m) => &m.model,
        }
    }

    /// The causal LM, to change (attach a LoRA adapter, say).
    pub fn text_mut(&mut self) -> &mut Qwen3Vl<B> {
        match self {
            Weights::Text(m) => m,
            Weights::Multimodal(m) => &mut m.model,
        }
    }

    /// The model with its vision tower, when it was loaded.
    pub fn multimodal(&self) -> Option<&Qwen3VlMultimodal<B>> {
        match self {
            Weights::Text(_) => None,
            Weights::Multimodal(m) => Some(m.as_ref()),
        }
    }
}

/// A checkpoint folder loaded for use: weights, processor and image processor.
///
/// ```no_run
/// use covip_model::{LoadOptions, ModelBundle, device::Cpu};
/// # fn main() -> covip_model::Result<()> {
/// let dir = std::path::Path::new("Qwen3-VL-2B");
/// let bundle = ModelBundle::<Cpu>::load(dir, LoadOptions::default(), &Default::default())?;
/// let model = bundle.multimodal()?;
/// # let _ = model; Ok(()) }
/// ```
pub struct ModelBundle<B: Backend> {
    pub dir: PathBuf,
    pub config: Qwen3VlConfig,
    pub weights: Weights<B>,
    pub processor: Processor,
    pub images: ImageProcessor,
}

impl<B: Backend> ModelBundle<B> {
    /// Loads `dir`: `config.json`, the safetensors weights, `tokenizer.json` (+ chat template
    /// and `generation_config.json`), `preprocessor_config.json`.
    pub fn load(dir: &Path, opts: LoadOptions, device: &B::Device) -> Result<Self> {
        if !dir.is_dir() {
            return Err(ModelError::Io {
                path: dir.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such checkpoint folder",
                ),
            });
        }
        let (weights, config) = match opts.vision {
            Vision::Skip => {
                let (m, cfg, _) = Qwen3Vl::load(dir, opts.dtype, device)?;
                (Weights::Text(Box::new(m)), cfg)
            }
            Vision::Load => {
                let (m, cfg) = Qwen3VlMultimodal::load(dir, opts.dtype, device)?;
                (Weights::Multimodal(Box::new(m)), cfg)
            }
        };
        let processor = Processor::from_dir(dir, &config)?;
        let images = ImageProcessor::from_dir(dir)?.with_limits(opts.image_limits);
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            weights,
            processor,
            images,
        })
    }

    /// The model with its vision tower; an error naming the folder when it was loaded
    /// without one.
    pub fn multimodal(&self) -> Result<&Qwen3VlMultimodal<B>> {
        self.weights.multimodal().ok_or_else(|| {
            ModelError::Input(format!(
                "{}: loaded without its vision tower (Vision::Skip)",
                self.dir.display()
            ))
        })
    }

    /// `generation_config.json` (empty when the folder has none).
    pub fn generation(&self) -> &GenerationConfig {
        &self.processor.generation
    }
}
