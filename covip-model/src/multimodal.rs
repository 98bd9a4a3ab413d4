//! The full Qwen3-VL: text decoder + vision tower from one checkpoint folder, the multimodal
//! prefill (image embeddings scattered into the placeholder positions, DeepStack features,
//! 3-axis position ids), logits and generation with images, batched with left padding. Rows
//! that share a prompt's images (pointer-equal `&PixelPatches`) encode them once.
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
use crate::vision::{VisionConfig, VisionOutput, VisionTower};

/// Qwen3-VL with its vision tower.
#[derive(Debug, Clone)]
pub struct Qwen3VlMultimodal<B: Backend> {
    pub model: Qwen3Vl<B>,
    pub visual: VisionTower<B>,
    /// The `<|image_pad|>` id (`image_token_id` of config.json).
    pub image_token_id: u32,
}

/// Images of a whole batch, in row-major order of their placeholders.
///
/// Rows that pass the same `&PixelPatches` (a GRPO/GSPO group: G completions of one prompt)
/// share one encoding: `pixel_values` holds each distinct sample once and the tower's
/// outputs are expanded to every image of the batch by [`Images::source`], so the vision
/// tower runs once per prompt instead of once per row.
#[derive(Debug, Clone)]
pub struct Images<B: Backend> {
    /// `[patches, C·T·P·P]` as [`PixelPatches`] lays them out: the images of
    /// `encoded_grid_thw`, each distinct sample once.
    pub pixel_values: Tensor<B, 2>,
    /// Per image of the batch `[t, h, w]` in patches, in placeholder order (what
    /// [`rope_index`] and the placeholder checks need).
    pub grid_thw: Vec<[usize; 3]>,
    /// Per image the vision tower encodes `[t, h, w]`, in `pixel_values` order.
    pub encoded_grid_thw: Vec<[usize; 3]>,
    /// Per image of the batch (`grid_thw` order), its index in `encoded_grid_thw`
    /// (`grid_thw[i] == encoded_grid_thw[source[i]]`); `0, 1, …` when nothing is shared.
    pub source: Vec<usize>,
}

/// Distinct samples of a batch, grouped by pointer identity (never by pixel content, which
/// would cost a pass over every pixel): returns the distinct samples in first-use order and,
/// per row, the index of its sample among them. Rows without images (`grid_thw` empty) are
/// mapped too but add nothing to the vision tower's input.
pub fn dedup_rows<'a>(samples: &[&'a PixelPatches]) -> (Vec<&'a PixelPatches>, Vec<usize>) {
    let mut unique: Vec<&'a PixelPatches> = Vec::new();
    let rows = samples
        .iter()
        .map(|&p| match unique.iter().position(|&u| std::ptr::eq(u, p)) {
            Some(k) => k,
            None => {
                unique.push(p);
                unique.len() - 1
            }
        })
        .collect();
    (unique, rows)
}

thread_local! {
    /// Images (grid entries) this thread has sent through the vision tower in
    /// [`Qwen3VlMultimodal::prefill_input`]; see [`vision_images_encoded`].
    static IMAGES_ENCODED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many images the vision tower has encoded on this thread so far (through
/// [`Qwen3VlMultimodal::prefill_input`], hence scoring, prompt logits and generation).
/// Lets tests and diagnostics see that a group of rows sharing a prompt's images encodes
/// them once; per thread so that concurrent callers (parallel tests) do not mix counts.
pub fn vision_images_encoded() -> usize {
    IMAGES_ENCODED.with(std::cell::Cell::get)
}

impl<B: Backend> Images<B> {
    /// The images of several samples (one per row, batch order) as one upload. Rows passing
    /// the same `&PixelPatches` (pointer-equal) are uploaded and encoded once; see
    /// [`dedup_rows`].
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
        if dim == 0 || dims.iter().any(|&d| d != dim) {
            return Err(ModelError::Input(format!(
                "images of one batch have different or zero patch sizes {dims:?}"
            )));
        }
        let (unique, rows) = dedup_rows(samples);
        // First encoded-image index of each distinct sample.
        let mut first = Vec::with_capacity(unique.len());
        let mut encoded_grid_thw = Vec::new();
        for u in &unique {
            first.push(encoded_grid_thw.len());
            encoded_grid_thw.extend_from_slice(&u.grid_thw);
        }
        let source: Vec<usize> = rows
            .iter()
            .flat_map(|&u| first[u]..first[u] + unique[u].grid_thw.len())
            .collect();
        let data: Vec<f32> = unique
            .iter()
            .flat_map(|p| p.pixel_values.iter().copied())
            .collect();
        let n = data.len() / dim;
        if n * dim != data.len() {
            return Err(ModelError::Input(format!(
                "pixel values of the batch ({} floats) are not whole patches of {dim}",
                data.len()
            )));
        }
        Ok(Some(Self {
            pixel_values: Tensor::from_data(TensorData::new(data, [n, dim]), device),
            grid_thw,
            encoded_grid_thw,
            source,
        }))
    }
}

/// Per merged image token of the batch (placeholder order), the row of the vision tower's
/// output (`[encoded tokens, hidden]`) it takes, for the images of [`Images::source`];
/// `None` when `source` is `0, 1, …` (the output is already in batch order, nothing to
/// expand). `merge`: the spatial merge size (tokens of an image: `t·h·w / merge²`). Checks
/// that `source` points into `encoded` and that the grids agree, since [`Images`] has
/// public fields.
fn token_index(
    grid_thw: &[[usize; 3]],
    encoded: &[[usize; 3]],
    source: &[usize],
    merge: usize,
) -> Result<Option<Vec<i64>>> {
    if source.len() != grid_thw.len()
        || source
            .iter()
            .zip(grid_thw)
            .any(|(&s, g)| encoded.get(s) != Some(g))
    {
        return Err(ModelError::Input(format!(
            "images: source {source:?} does not map the grids {grid_thw:?} onto the encoded \
             grids {encoded:?}"
        )));
    }
    if source.iter().enumerate().all(|(i, &s)| i == s) {
        return Ok(None);
    }
    let tokens = |g: &[usize; 3]| g[0] * g[1] * g[2] / (merge * merge).max(1);
    let mut start = Vec::with_capacity(encoded.len());
    let mut acc = 0usize;
    for g in encoded {
        start.push(acc);
        acc += tokens(g);
    }
    Ok(Some(
        source
            .iter()
            .flat_map(|&s| (start[s]..start[s] + tokens(&encoded[s])).map(|x| x as i64))
            .collect(),
    ))
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
    /// deltas of each row. Without images this is the text-only input. The tower encodes
    /// `images.encoded_grid_thw` only; its outputs (embeddings and DeepStack features,
    /// `[encoded tokens, hidden]`) are expanded to `[batch image tokens, hidden]` by a
    /// `select` when rows share images (see [`Images`]).
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
        let index = token_index(
            &images.grid_thw,
            &images.encoded_grid_thw,
            &images.source,
            merge,
        )?;
        let encoded = self
            .visual
            .forward(images.pixel_values.clone(), &images.encoded_grid_thw)?;
        IMAGES_ENCODED.with(|c| c.set(c.get() + images.encoded_grid_thw.len()));
        let vision = match index {
            None => encoded,
            // Shared images: `[encoded tokens, hidden]` → `[batch tokens, hidden]` for the
            // embeddings and every DeepStack feature alike (select is differentiable).
            Some(index) => {
                let rows = encoded.embeds.dims()[0];
                if index.iter().any(|&i| i as usize >= rows) {
                    return Err(ModelError::Input(format!(
                        "the vision tower gave {rows} image embeddings for the distinct grids \
                         {:?}, fewer than those grids hold",
                        images.encoded_grid_thw
                    )));
                }
                let n = index.len();
                let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [n]), device);
                VisionOutput {
                    embeds: encoded.embeds.select(0, index.clone()),
                    deepstack: encoded
                        .deepstack
                        .into_iter()
                        .map(|f| f.select(0, index.clone()))
                        .collect(),
                }
            }
        };
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
    ///
    /// Rows that pass the same `&PixelPatches` (pointer-equal: the G completions of one
    /// prompt) run the vision tower once for all of them; pass separate clones to encode
    /// each row's images on their own (same results).
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
    /// `images[i]` (its placeholders already expanded in the ids). Batched with left padding;
    /// rows sharing one `&PixelPatches` encode it once, as in [`Self::score_continuations`].
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

#[cfg(test)]
mod tests {
    use super::*;

    fn px(grids: &[[usize; 3]]) -> PixelPatches {
        let n: usize = grids.iter().map(|g| g[0] * g[1] * g[2]).sum();
        PixelPatches {
            pixel_values: vec![0.5; n * 3],
            patch_dim: 3,
            grid_thw: grids.to_vec(),
            merge_size: 2,
        }
    }

    #[test]
    fn dedup_rows_groups_by_pointer_not_content() {
        let a = px(&[[1, 2, 2]]);
        let b = px(&[[1, 2, 2]]); // equal content, another allocation: not shared
        let none = px(&[]);
        let (unique, rows) = dedup_rows(&[&a, &a, &none, &b, &a, &none]);
        assert_eq!(rows, vec![0, 0, 1, 2, 0, 1]);
        assert_eq!(unique.len(), 3);
        assert!(std::ptr::eq(unique[0], &a) && std::ptr::eq(unique[2], &b));
        let (unique, rows) = dedup_rows(&[]);
        assert!(unique.is_empty() && rows.is_empty());
    }

    #[test]
    fn token_index_expands_shared_images_and_skips_identity() {
        // Encoded: image 0 of 1 token ([1,2,2] / 4), image 1 of 2 tokens ([1,2,4] / 4).
        let enc = [[1, 2, 2], [1, 2, 4]];
        assert_eq!(token_index(&enc, &enc, &[0, 1], 2).unwrap(), None);
        let grids = [[1, 2, 4], [1, 2, 2], [1, 2, 4], [1, 2, 2]];
        assert_eq!(
            token_index(&grids, &enc, &[1, 0, 1, 0], 2).unwrap(),
            Some(vec![1, 2, 0, 1, 2, 0])
        );
        // A source that names the wrong grid or no grid at all is an error, not a panic.
        let e = token_index(&grids, &enc, &[0, 0, 1, 0], 2).unwrap_err();
        assert!(e.to_string().contains("does not map"), "{e}");
        assert!(token_index(&grids, &enc, &[1, 0, 1, 7], 2).is_err());
        assert!(token_index(&grids, &enc, &[1, 0], 2).is_err());
    }

    #[test]
    fn from_patches_uploads_each_shared_sample_once() {
        use burn::backend::Flex;
        let a = px(&[[1, 2, 2]]);
        let b = px(&[[1, 2, 4], [1, 2, 2]]);
        let none = px(&[]);
        let dev = Default::default();
        let imgs = Images::<Flex>::from_patches(&[&a, &none, &b, &a, &b], &dev)
            .unwrap()
            .unwrap();
        let (g1, g2, g3) = ([1, 2, 2], [1, 2, 4], [1, 2, 2]);
        assert_eq!(imgs.grid_thw, vec![g1, g2, g3, g1, g2, g3]);
        assert_eq!(imgs.encoded_grid_thw, vec![g1, g2, g3]);
        assert_eq!(imgs.source, vec![0, 1, 2, 0, 1, 2]);
        // Patches of a (4) and b (8 + 4), once each.
        assert_eq!(imgs.pixel_values.dims(), [16, 3]);
        // Distinct samples: the old layout, identity source.
        let b2 = b.clone();
        let imgs = Images::<Flex>::from_patches(&[&b, &b2], &dev)
            .unwrap()
            .unwrap();
        assert_eq!(imgs.source, vec![0, 1, 2, 3]);
        assert_eq!(imgs.pixel_values.dims(), [24, 3]);
        assert!(
            Images::<Flex>::from_patches(&[&none, &none], &dev)
                .unwrap()
                .is_none()
        );
    }
}
