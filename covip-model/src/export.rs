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

/// The files of a checkpoint folder besides its weights that [`export_merged`] copies when the
/// base has them: configuration, tokenizer, chat template, processors, generation settings.
pub const CHECKPOINT_SIDE_FILES: [&str; 13] = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.json",
    "chat_template.jinja",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "model.safetensors.index.json",
];

fn io_err(path: &Path, e: std::io::Error) -> ModelError {
    ModelError::Io {
        path: path.display().to_string(),
        source: e,
    }
}

/// `values` in a safetensors dtype, little-endian (float types only).
fn float_bytes(values: &[f32], dtype: Dtype, name: &str) -> Result<Vec<u8>> {
    Ok(match dtype {
        Dtype::F32 => values.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Dtype::BF16 => values
            .iter()
            .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
            .collect(),
        Dtype::F16 => values
            .iter()
            .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
            .collect(),
        Dtype::F64 => values
            .iter()
            .flat_map(|&x| (x as f64).to_le_bytes())
            .collect(),
        other => {
            return Err(ModelError::Input(format!(
                "{name}: stored as {other:?}, not a float type"
            )));
        }
    })
}

/// Writes `model` with its LoRA adapters merged as a full checkpoint folder `out_dir` that
/// covip-model, transformers and vLLM load: every safetensors file of `base_dir` (the folder
/// the model was loaded from) is rewritten under the same name with the merged weights in the
/// dtype each was stored in (the vision tower and every other tensor copied byte for byte),
/// and the base's configuration, tokenizer, chat template, processors and generation
/// settings ([`CHECKPOINT_SIDE_FILES`]) are copied.
///
/// Each file is written through a hidden temporary file and a rename, so a reader never sees
/// a half-written one; one shard at a time is held in memory. `out_dir` must not exist or be
/// empty (nothing is overwritten); an error names the weight of the model that the base
/// folder lacks or stores with another shape.
pub fn export_merged<B: burn::tensor::backend::Backend>(
    base_dir: &Path,
    model: &crate::model::Qwen3Vl<B>,
    out_dir: &Path,
) -> Result<()> {
    use burn::tensor::DType;

    if out_dir.exists() {
        let mut entries = std::fs::read_dir(out_dir).map_err(|e| io_err(out_dir, e))?;
        if entries.next().is_some() {
            return Err(ModelError::Io {
                path: out_dir.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the merged checkpoint's folder exists and is not empty (nothing is overwritten)",
                ),
            });
        }
    }
    if !base_dir.join("config.json").is_file() {
        return Err(ModelError::Io {
            path: base_dir.join("config.json").display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no base configuration"),
        });
    }
    // The merged weights of the adapted layers, under their checkpoint names.
    let mut merged_model = model.clone();
    let adapted: Vec<String> = merged_model
        .lora_sites()
        .iter()
        .filter(|(_, _, l)| l.lora.is_some())
        .map(|(p, _, _)| format!("{p}.weight"))
        .collect();
    merged_model.merge_lora();
    let mut merged: HashMap<String, burn::tensor::Tensor<B, 2>> = merged_model
        .lora_sites()
        .into_iter()
        .map(|(p, _, l)| (format!("{p}.weight"), l.weight.val()))
        .filter(|(n, _)| adapted.contains(n))
        .collect();

    // The base's weight files: the single file, or the shards its index names.
    let single = base_dir.join("model.safetensors");
    let index = base_dir.join("model.safetensors.index.json");
    let files: Vec<String> = if single.is_file() {
        vec!["model.safetensors".to_string()]
    } else {
        let f = crate::loader::shard_names(&index)?;
        // The names come from a file: only plain file names in the folder are accepted.
        if let Some(bad) = f
            .iter()
            .find(|n| Path::new(n).file_name().map(|x| x.to_str()) != Some(Some(n.as_str())))
        {
            return Err(ModelError::Config {
                path: index.display().to_string(),
                msg: format!("weight_map names {bad:?}, not a file of this folder"),
            });
        }
        f
    };
    // A first pass over the headers: every merged weight must be in the base with its shape,
    // checked before anything is written.
    let mut found: HashMap<String, Vec<usize>> = HashMap::new();
    for name in &files {
        let src = base_dir.join(name);
        let f = std::fs::File::open(&src).map_err(|e| io_err(&src, e))?;
        // SAFETY: opened read-only and only read while the map lives.
        let mmap = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| io_err(&src, e))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&mmap).map_err(|e| {
            ModelError::Safetensors {
                path: src.display().to_string(),
                msg: e.to_string(),
            }
        })?;
        for (tname, info) in meta.tensors() {
            if merged.contains_key(&tname) {
                found.insert(tname, info.shape.clone());
            }
        }
    }
    let mut problems: Vec<String> = Vec::new();
    for (n, w) in &merged {
        match found.get(n) {
            None => problems.push(format!(
                "  missing     {n} (the model has it; the base folder does not)"
            )),
            Some(s) if s.as_slice() != w.dims().as_slice() => problems.push(format!(
                "  wrong shape {n}: the base stores {s:?}, the model has {:?}",
                w.dims()
            )),
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        problems.sort();
        return Err(ModelError::Checkpoint {
            dir: base_dir.display().to_string(),
            report: problems.join("\n"),
        });
    }
    std::fs::create_dir_all(out_dir).map_err(|e| io_err(out_dir, e))?;
    for name in &files {
        let src = base_dir.join(name);
        let st_err = |e: String| ModelError::Safetensors {
            path: src.display().to_string(),
            msg: e,
        };
        let f = std::fs::File::open(&src).map_err(|e| io_err(&src, e))?;
        // SAFETY: opened read-only and only read while the map lives.
        let mmap = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| io_err(&src, e))?;
        let st = safetensors::SafeTensors::deserialize(&mmap).map_err(|e| st_err(e.to_string()))?;
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(&mmap).map_err(|e| st_err(e.to_string()))?;
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        let mut views: Vec<(String, TensorView<'_>)> = Vec::new();
        for (tname, view) in st.tensors() {
            match merged.remove(&tname) {
                Some(w) => {
                    if view.shape() != w.dims().as_slice() {
                        return Err(st_err(format!(
                            "{tname}: stored with shape {:?}, the model has {:?}",
                            view.shape(),
                            w.dims()
                        )));
                    }
                    let v: Vec<f32> = w
                        .cast(DType::F32)
                        .into_data()
                        .to_vec()
                        .map_err(|e| ModelError::Input(format!("{tname}: {e:?}")))?;
                    let bytes = float_bytes(&v, view.dtype(), &tname)?;
                    owned.push((tname, view.dtype(), view.shape().to_vec(), bytes));
                }
                None => views.push((tname, view)),
            }
        }
        for (tname, dtype, shape, bytes) in &owned {
            let v = TensorView::new(*dtype, shape.clone(), bytes)
                .map_err(|e| st_err(format!("{tname}: {e}")))?;
            views.push((tname.clone(), v));
        }
        let dst = out_dir.join(name);
        let tmp = out_dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let written = safetensors::serialize_to_file(views, meta.metadata().clone(), &tmp)
            .map_err(|e| ModelError::Safetensors {
                path: dst.display().to_string(),
                msg: e.to_string(),
            })
            .and_then(|()| {
                std::fs::File::open(&tmp)
                    .and_then(|f| f.sync_all())
                    .and_then(|()| std::fs::rename(&tmp, &dst))
                    .map_err(|e| io_err(&dst, e))
            });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    }
    for side in CHECKPOINT_SIDE_FILES {
        let src = base_dir.join(side);
        if src.is_file() {
            let bytes = std::fs::read(&src).map_err(|e| io_err(&src, e))?;
            covip_data::io::write_atomic(&out_dir.join(side), &bytes)
                .map_err(|e| ModelError::Input(e.to_string()))?;
        }
    }
    Ok(())
}
