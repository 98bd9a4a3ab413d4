//! The parity checks of `parity.rs` / `multimodal.rs` on burn's wgpu backend (default device:
//! on a machine without a GPU, Mesa's software Vulkan `lavapipe`, Debian `mesa-vulkan-drivers`).
//! Same fixtures, same tolerances as on the CPU.
#![cfg(feature = "wgpu")]

mod common;

use covip_model::burn::backend::Wgpu;

#[test]
fn wgpu_text_logits_match_transformers() {
    let worst = common::check_text_logits::<Wgpu>(&Default::default(), common::F32_REL_TOL);
    eprintln!("wgpu text parity: worst max|Δ| = {worst:.3e}");
}

#[test]
fn wgpu_multimodal_logits_and_greedy_match_transformers() {
    let worst = common::check_multimodal_logits_and_greedy::<Wgpu>(
        &Default::default(),
        common::F32_REL_TOL,
    );
    eprintln!("wgpu multimodal parity: worst max|Δ| = {worst:.3e}");
}
