//! Parity checks shared by the CPU tests and the backend tests (`wgpu_parity.rs`): each loads
//! the tiny f32 fixture checkpoint on the backend it is given and compares with the committed
//! transformers references (scripts/make_fixtures.py, scripts/make_multimodal_fixtures.py).
#![allow(dead_code)] // each test crate uses a different subset

use std::path::{Path, PathBuf};

use covip_model::burn::tensor::DType;
use covip_model::burn::tensor::backend::Backend;
use covip_model::processor::image::{ImageProcessor, PixelPatches};
use covip_model::{GenerateOptions, Qwen3Vl, Qwen3VlMultimodal, Sampling, WeightDtype};
use serde_json::Value;

/// The fixture folder; `COVIP_MODEL_FIXTURES` overrides it for test binaries run away from the
/// tree they were built in (a GPU machine, say).
pub fn fixtures() -> PathBuf {
    match std::env::var_os("COVIP_MODEL_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
    }
}
pub fn f32_dir() -> PathBuf {
    fixtures().join("tiny-qwen3-vl")
}
fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(name)).unwrap()).unwrap()
}
/// An f32 tensor of a safetensors file: (shape, values).
pub fn st_f32s(st: &safetensors::SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name}");
    let v = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (t.shape().to_vec(), v)
}
/// An i64 tensor of a safetensors file, flattened.
pub fn st_i64s(st: &safetensors::SafeTensors, name: &str) -> Vec<i64> {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(t.dtype(), safetensors::Dtype::I64, "{name}");
    t.data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}
fn tensor_bytes(file: &str, name: &str) -> (Vec<u8>, Vec<usize>) {
    let bytes = std::fs::read(fixtures().join(file)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st
        .tensor(name)
        .unwrap_or_else(|e| panic!("{file}: {name}: {e}"));
    (t.data().to_vec(), t.shape().to_vec())
}
fn f32s(file: &str, name: &str) -> (Vec<f32>, Vec<usize>) {
    let (b, shape) = tensor_bytes(file, name);
    let v = b
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (v, shape)
}
fn i64s(file: &str, name: &str) -> Vec<i64> {
    tensor_bytes(file, name)
        .0
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}
pub fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
pub fn max_abs(a: &[f32]) -> f32 {
    a.iter().map(|x| x.abs()).fold(0.0, f32::max)
}

/// Relative logits tolerance for f32 arithmetic (CPU, wgpu).
pub const F32_REL_TOL: f32 = 1e-4;
/// Relative logits tolerance on CUDA tensor-core GPUs: burn's CUDA matmul (cubek-matmul) stages
/// f32 operands as TF32 (10-bit mantissa, unit round-off 2^-11 ≈ 4.9e-4) when the card has
/// tensor cores, as PyTorch does with `allow_tf32`; 2.5e-3 is about five TF32 round-offs.
pub const TF32_REL_TOL: f32 = 2.5e-3;

/// Text-only logits of the 4 reference prompts on the f32 checkpoint, within
/// `rel_tol` · max(1, max|ref|). Returns the worst max|Δ|.
pub fn check_text_logits<B: Backend>(device: &B::Device, rel_tol: f32) -> f32 {
    let (model, cfg, _) = Qwen3Vl::<B>::load(&f32_dir(), WeightDtype::AsStored, device).unwrap();
    assert_eq!(model.dtype(), DType::F32);
    assert!(model.lm_head.is_some() && !cfg.text.tie_word_embeddings);
    let r = json("reference.json");
    let prompts = r["prompts"].as_array().unwrap();
    assert_eq!(prompts.len(), 4);
    let mut worst = 0f32;
    for (i, p) in prompts.iter().enumerate() {
        let ids = u32s(&p["input_ids"]);
        let (got, vocab) = model.prompt_logits(&ids, device).unwrap();
        let (want, shape) = f32s("reference.safetensors", &format!("logits_f32_{i}"));
        assert_eq!(shape, vec![ids.len(), vocab]);
        let d = max_abs_diff(&got, &want);
        let tol = rel_tol * max_abs(&want).max(1.0);
        eprintln!(
            "prompt {i}: T={} max|ref|={:.3} max|Δ|={d:.3e} tol={tol:.1e}",
            ids.len(),
            max_abs(&want)
        );
        assert!(d <= tol, "prompt {i}: max|Δ| {d} > {tol}");
        worst = worst.max(d);
    }
    eprintln!("f32 parity: worst max|Δ| = {worst:.3e}");
    worst
}

/// The multimodal references (prompts with 1 and with 3 images).
pub fn multimodal_reference() -> Value {
    json("multimodal.json")
}

/// The processed images of one multimodal reference prompt.
pub fn patches(p: &Value) -> PixelPatches {
    let proc = ImageProcessor::from_dir(&f32_dir()).unwrap();
    let paths: Vec<PathBuf> = p["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| fixtures().join("vision/images").join(n.as_str().unwrap()))
        .collect();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    proc.process_files(&refs).unwrap()
}

pub fn greedy(r: &Value, n: usize) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens: n,
        sampling: Sampling::greedy(),
        stop_ids: u32s(&r["stop_ids"]),
        seed: 0,
        pad_id: r["pad_id"].as_u64().unwrap() as u32,
    }
}

/// Grids, pixel values (≤ 1e-2), logits (≤ `rel_tol` · max(1, max|ref|)) and 10 greedy tokens of
/// the 1-image and 3-image reference prompts. Returns the worst logits max|Δ|.
pub fn check_multimodal_logits_and_greedy<B: Backend>(device: &B::Device, rel_tol: f32) -> f32 {
    let r = multimodal_reference();
    let m = Qwen3VlMultimodal::<B>::load(&f32_dir(), WeightDtype::F32, device)
        .unwrap()
        .0;
    let file = "multimodal.safetensors";
    let mut worst = 0f32;
    for (i, p) in r["prompts"].as_array().unwrap().iter().enumerate() {
        let px = patches(p);
        let grid: Vec<i64> = px.grid_thw.iter().flatten().map(|&x| x as i64).collect();
        assert_eq!(
            grid,
            i64s(file, &format!("image_grid_thw_{i}")),
            "prompt {i}"
        );
        let (want_px, _) = f32s(file, &format!("pixel_values_{i}"));
        let dpx = px
            .pixel_values
            .iter()
            .zip(&want_px)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(dpx <= 1e-2, "prompt {i}: pixel_values max|Δ| {dpx}");
        let ids = u32s(&p["input_ids"]);
        let (logits, _) = m.prompt_logits(&ids, Some(&px), device).unwrap();
        let (want, _) = f32s(file, &format!("logits_{i}"));
        assert_eq!(logits.len(), want.len());
        let max_ref = max_abs(&want);
        let d = max_abs_diff(&logits, &want);
        let bound = rel_tol * max_ref.max(1.0);
        eprintln!(
            "prompt {i} ({} images): logits max|Δ| {d:e} (max|ref| {max_ref:.3}, bound {bound:e})",
            px.grid_thw.len()
        );
        assert!(d <= bound, "prompt {i}: max|Δ| {d} > {bound}");
        worst = worst.max(d);
        let g = m
            .generate(&[ids], &[&px], &greedy(&r, 10), device, |_, _| {})
            .unwrap();
        assert_eq!(g.tokens[0], u32s(&p["greedy"]), "prompt {i} greedy");
    }
    worst
}
