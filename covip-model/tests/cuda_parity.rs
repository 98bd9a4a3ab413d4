//! The parity checks of `parity.rs` / `multimodal.rs` on burn's CUDA backend (needs an NVIDIA
//! GPU and driver at run time; builds without a CUDA toolkit). Same fixtures as on the CPU; the
//! logits tolerance is `TF32_REL_TOL`, since burn's CUDA matmul computes f32 products in TF32
//! on tensor-core GPUs (see `common`).
#![cfg(feature = "cuda")]

mod common;

use covip_model::burn::backend::Cuda;

#[test]
fn cuda_text_logits_match_transformers() {
    let worst = common::check_text_logits::<Cuda>(&Default::default(), common::TF32_REL_TOL);
    eprintln!("cuda text parity: worst max|Δ| = {worst:.3e}");
}

#[test]
fn cuda_multimodal_logits_and_greedy_match_transformers() {
    let worst = common::check_multimodal_logits_and_greedy::<Cuda>(
        &Default::default(),
        common::TF32_REL_TOL,
    );
    eprintln!("cuda multimodal parity: worst max|Δ| = {worst:.3e}");
}
