//! Writing forward-pass results for side-by-side comparison with other implementations.
use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, tensor::TensorView};

use crate::error::{ModelError, Result};
use crate::processor::image::PixelPatches;

/// Writes `input_ids` `[seq]` i64 and `logits` `[seq, vocab]` f32 to a safetensors file.
pub fn write_logits(path: &Path, ids: &[u32], logits: &[f32], vocab: usize) -> Result<()> {
    write_logits_with_images(path, ids, logits, vocab, None)
}

/// As [`write_logits`], plus (when `images` is given) `pixel_values` `[patches, patch_dim]` f32
/// and `image_grid_thw` `[images, 3]` i64.
pub fn write_logits_with_images(
    path: &Path,
    ids: &[u32],
    logits: &[f32],
    vocab: usize,
    images: Option<&PixelPatches>,
) -> Result<()> {
    if logits.len() != ids.len() * vocab {
        return Err(ModelError::Input(format!(
            "{} logits for {} tokens × vocab {vocab}",
            logits.len(),
            ids.len()
        )));
    }
    let ids64: Vec<u8> = ids.iter().flat_map(|&x| (x as i64).to_le_bytes()).collect();
    let lg: Vec<u8> = logits.iter().flat_map(|x| x.to_le_bytes()).collect();
    let st = |e: safetensors::SafeTensorError| ModelError::Safetensors {
        path: path.display().to_string(),
        msg: e.to_string(),
    };
    let (px, grid): (Vec<u8>, Vec<u8>) = match images {
        Some(p) => (
            p.pixel_values
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
            p.grid_thw
                .iter()
                .flatten()
                .flat_map(|&x| (x as i64).to_le_bytes())
                .collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let mut tensors = HashMap::new();
    tensors.insert(
        "input_ids".to_string(),
        TensorView::new(Dtype::I64, vec![ids.len()], &ids64).map_err(st)?,
    );
    tensors.insert(
        "logits".to_string(),
        TensorView::new(Dtype::F32, vec![ids.len(), vocab], &lg).map_err(st)?,
    );
    if let Some(p) = images {
        tensors.insert(
            "pixel_values".to_string(),
            TensorView::new(Dtype::F32, vec![p.num_patches(), p.patch_dim], &px).map_err(st)?,
        );
        tensors.insert(
            "image_grid_thw".to_string(),
            TensorView::new(Dtype::I64, vec![p.grid_thw.len(), 3], &grid).map_err(st)?,
        );
    }
    safetensors::serialize_to_file(&tensors, None, path).map_err(st)
}
