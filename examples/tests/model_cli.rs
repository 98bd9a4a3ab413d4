//! Runs `covip generate` / `covip logits` on the tiny fixture checkpoint of covip-model.
use std::path::PathBuf;
use std::process::Command;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../covip-model/tests/fixtures/tiny-qwen3-vl")
}

fn covip() -> Command {
    Command::new(env!("CARGO_BIN_EXE_covip"))
}

#[test]
fn generate_prints_text_from_the_fixture() {
    let out = covip()
        .args(["generate", "--model"])
        .arg(fixture())
        .args([
            "--prompt",
            "Describe the image in detail.",
            "--max-new-tokens",
            "8",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.trim().chars().count() >= 3, "generated {text:?}");
}

#[test]
fn logits_writes_ids_and_logits() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("l.safetensors");
    let out = covip()
        .args(["logits", "--model"])
        .arg(fixture())
        .args(["--prompt", "Describe the image in detail.", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&file).unwrap();
    let st = covip_model::safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let ids = st.tensor("input_ids").unwrap();
    let logits = st.tensor("logits").unwrap();
    assert_eq!(ids.dtype(), covip_model::safetensors::Dtype::I64);
    assert_eq!(logits.dtype(), covip_model::safetensors::Dtype::F32);
    // The fixture's reference prompt 0 is this message: 27 tokens, vocab 448 (config's).
    assert_eq!(ids.shape(), &[27]);
    assert_eq!(logits.shape(), &[27, 448]);
    let first = i64::from_le_bytes(ids.data()[..8].try_into().unwrap());
    assert_eq!(first, 421, "<|im_start|>");
}

#[test]
fn logits_with_image_is_a_clear_error() {
    let out = covip()
        .args(["logits", "--model"])
        .arg(fixture())
        .args([
            "--prompt",
            "x",
            "--image",
            "a.png",
            "--out",
            "/tmp/never.safetensors",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--image is not supported yet"), "{err}");
}

#[test]
fn missing_model_folder_is_named() {
    let out = covip()
        .args(["generate", "--model", "/nonexistent/ckpt", "--prompt", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/ckpt"), "{err}");
}
