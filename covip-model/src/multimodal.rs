//! The full Qwen3-VL: text decoder + vision tower from one checkpoint folder, the multimodal
//! prefill (image embeddings scattered into the placeholder positions, DeepStack features,
//! 3-axis position ids), logits and generation with images, batched with left padding.
use std::path::Path;

use burn::tensor::{DType, Int, Tensor, TensorData, backend::Backend};

use crate::config::Qwen3VlConfig;
use crate::error::{ModelError, Result};
use crate::generate::generator::{GenerateOptions, Generation, generate_prefilled, left_pad};
use crate::loader::{Checkpoint, WeightDtype};
use crate::model::{ModelInput, Qwen3Vl};
use crate::position_ids::{attention_bias, position_tensor};
use crate::processor::image::PixelPatches;
use crate::rope_index::rope_index;
use crate::score::{ScoreLayout, Scores};
use crate::text::decoder::Deepstack;
use crate::vision::{VisionConfig, VisionTower};

/// Qwen3-VL with its vision tower.
#[derive(Debug)]
pub struct Qwen3VlMultimodal<B: Backend> {
    pub model: Qwen3Vl<B>,
    pub visual: VisionTower<B>,
    /// The `<|image_pad|>` id (`image_token_id` of config.json).
    pub image_token_id: u32,
}

/// Images of a whole batch, in row-major order of their placeholders.
#[derive(Debug, Clone)]
pub struct Images<B: Backend> {
    /// `[patches, C·T·P·P]` as [`PixelPatches`] lays them out.
    pub pixel_values: Tensor<B, 2>,
    /// Per image `[t, h, w]` in patches.
    pub grid_thw: Vec<[usize; 3]>,
}

impl<B: Backend> Images<B> {
    /// Concatenates the images of several samples (batch order) into one upload.
    pub fn from_patches(samples: &[&PixelPatches], device: &B::Device) -> Result<Option<Self>> {
        let grid_thw: Vec<[usize; 3]> = samples.iter().flat_map(|p| p.grid_thw.clone()).collect();
        if grid_thw.is_empty() {
            return Ok(None);
        }
        let dims: Vec<usize> = samples
            .iter()
            .filter(|p| !p.grid_thw.is_empty())
            .map(|p| p.patch_dim)
            .collect();
        let dim = dims[0];
        if dims.iter().any(|&d| d != dim) {
            return Err(ModelError::Input(format!(
                "images of one batch have different patch sizes {dims:?}"
            )));
        }
        let data: Vec<f32> = samples
            .iter()
            .flat_map(|p| p.pixel_values.iter().copied())
            .collect();
        let n = data.len() / dim;
        Ok(Some(Self {
            pixel_values: Tensor::from_data(TensorData::new(data, [n, dim]), device),
            grid_thw,
        }))
    }
}

impl<B: Backend> Qwen3VlMultimodal<B> {
    /// Loads text model and vision tower from the checkpoint folder `dir`; every tensor of the
    /// folder must belong to one of them.
    pub fn load(
        dir: &Path,
        dtype: WeightDtype,
        device: &B::Device,
    ) -> Result<(Self, Qwen3VlConfig)> {
        let path = dir.join("config.json");
        let origin = path.display().to_string();
        let cfg = Qwen3VlConfig::from_file(&path)?;
        let ckpt = Checkpoint::open(dir)?;
        let model = Qwen3Vl::from_checkpoint(&ckpt, &cfg.text, dtype, device)?;
        let vcfg = cfg
            .vision_config
            .as_ref()
            .ok_or_else(|| ModelError::Config {
                path: origin.clone(),
                msg: "no vision_config: this checkpoint has no vision tower".into(),
            })?;
        let vcfg = VisionConfig::from_value(vcfg, &origin)?;
        let visual = VisionTower::load(&ckpt, &vcfg, dtype, device)?;
        let image_token_id = cfg
            .tokens
            .image_token_id
            .ok_or_else(|| ModelError::Config {
                path: origin,
                msg: "no image_token_id".into(),
            })?;
        Ok((
            Self {
                model,
                visual,
                image_token_id,
            },
            cfg,
        ))
    }

    /// Prefill input of a left-padded batch (`ids`, `valid`: `[B][T]`) with the batch's
    /// images (row-major order of their placeholder runs). Returns the input and the rope
    /// deltas of each row. Without images this is the text-only input.
    pub fn prefill_input(
        &self,
        ids: &[Vec<u32>],
        valid: &[Vec<bool>],
        images: Option<&Images<B>>,
        device: &B::Device,
    ) -> Result<(ModelInput<B>, Vec<i64>)> {
        let b = ids.len();
        let t = ids.first().map_or(0, Vec::len);
        // Flat (b·T + t) indices of the placeholders, row-major: the order of the image rows.
        let positions: Vec<usize> = (0..b)
            .flat_map(|r| (0..t).map(move |j| (r, j)))
            .filter(|&(r, j)| valid[r][j] && ids[r][j] == self.image_token_id)
            .map(|(r, j)| r * t + j)
            .collect();
        let Some(images) = images else {
            if !positions.is_empty() {
                return Err(ModelError::Input(format!(
                    "input_ids hold {} image placeholder tokens (id {}) but no images were given",
                    positions.len(),
                    self.image_token_id
                )));
            }
            return Ok(self.model.text_input(ids, valid, device));
        };
        let merge = self.visual.config.spatial_merge_size;
        let (pos, deltas) = rope_index(ids, valid, self.image_token_id, &images.grid_thw, merge)?;
        let vision = self
            .visual
            .forward(images.pixel_values.clone(), &images.grid_thw)?;
        let n_img = vision.embeds.dims()[0];
        if n_img != positions.len() {
            return Err(ModelError::Input(format!(
                "input_ids hold {} image placeholder tokens but the vision tower gave {} image \
                 embeddings for grids {:?}",
                positions.len(),
                n_img,
                images.grid_thw
            )));
        }
        let flat: Vec<i64> = ids.iter().flatten().map(|&x| x as i64).collect();
        let ids_t = Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [b, t]), device);
        let text = self.model.language_model.embed(ids_t);
        let hidden = text.dims()[2];
        let dtype = text.dtype();
        // Exact replacement: gather every row from [text rows; image rows].
        let mut idx: Vec<i64> = (0..(b * t) as i64).collect();
        for (k, &p) in positions.iter().enumerate() {
            idx[p] = (b * t + k) as i64;
        }
        let table = Tensor::cat(
            vec![text.reshape([b * t, hidden]), vision.embeds.cast(dtype)],
            0,
        );
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [b * t]), device);
        let embeds = table.select(0, idx).reshape([b, t, hidden]);
        let input = ModelInput {
            input_ids: None,
            inputs_embeds: Some(embeds),
            position_ids: position_tensor(pos, b, t, device),
            attention_bias: Some(attention_bias(valid, t, dtype, device)),
            deepstack: Some(Deepstack {
                positions,
                features: vision.deepstack,
            }),
        };
        Ok((input, deltas))
    }

    /// Logits `[T, vocab]` (f32, host) of one unpadded prompt with its images, no cache.
    /// Returns the logits and the vocabulary size.
    pub fn prompt_logits(
        &self,
        ids: &[u32],
        images: Option<&PixelPatches>,
        device: &B::Device,
    ) -> Result<(Vec<f32>, usize)> {
        if ids.is_empty() {
            return Err(ModelError::Input("empty prompt".into()));
        }
        let imgs = match images {
            Some(p) => Images::from_patches(&[p], device)?,
            None => None,
        };
        let valid = vec![vec![true; ids.len()]];
        let (input, _) = self.prefill_input(&[ids.to_vec()], &valid, imgs.as_ref(), device)?;
        let logits = self.model.forward(input, None)?;
        let v = logits.dims()[2];
        let data = logits
            .cast(DType::F32)
            .into_data()
            .to_vec::<f32>()
            .map_err(|e| ModelError::Input(format!("reading logits: {e:?}")))?;
        Ok((data, v))
    }

    /// Per-token log-probs of `continuations[i]` after `prompts[i]` with the images
    /// `images[i]` (placeholders already expanded in the prompt ids). Differentiable on an
    /// autodiff backend, like the text-only [`crate::score::score_continuations`].
    pub fn score_continuations(
        &self,
        prompts: &[Vec<u32>],
        continuations: &[Vec<u32>],
        images: &[&PixelPatches],
        pad_id: u32,
        device: &B::Device,
    ) -> Result<Scores<B>> {
        if images.len() != prompts.len() {
            return Err(ModelError::Input(format!(
                "score: {} prompts but {} image lists",
                prompts.len(),
                images.len()
            )));
        }
        let layout = ScoreLayout::new(prompts, continuations, pad_id)?;
        let imgs = Images::from_patches(images, device)?;
        let (input, _) = self.prefill_input(&layout.ids, &layout.valid, imgs.as_ref(), device)?;
        let hidden = self.model.forward_hidden(input, None)?;
        Ok(layout.gather(&self.model, hidden, device))
    }

    /// Generates continuations of `prompts` (unpadded ids), row `i` with the images
    /// `images[i]` (its placeholders already expanded in the ids). Batched with left padding.
    pub fn generate(
        &self,
        prompts: &[Vec<u32>],
        images: &[&PixelPatches],
        opts: &GenerateOptions,
        device: &B::Device,
        on_token: impl FnMut(usize, u32),
    ) -> Result<Generation> {
        if prompts.is_empty() || prompts.iter().any(Vec::is_empty) {
            return Err(ModelError::Input(
                "generate needs at least one non-empty prompt".into(),
            ));
        }
        if images.len() != prompts.len() {
            return Err(ModelError::Input(format!(
                "generate: {} prompts but {} image lists",
                prompts.len(),
                images.len()
            )));
        }
        let (ids, valid) = left_pad(prompts, opts.pad_id);
        let imgs = Images::from_patches(images, device)?;
        let (input, deltas) = self.prefill_input(&ids, &valid, imgs.as_ref(), device)?;
        generate_prefilled(
            &self.model,
            prompts,
            valid,
            input,
            deltas,
            opts,
            device,
            on_token,
        )
    }
}
