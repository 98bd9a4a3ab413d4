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

fn f32s(t: &covip_model::safetensors::tensor::TensorView) -> Vec<f32> {
    t.data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn i64s(t: &covip_model::safetensors::tensor::TensorView) -> Vec<i64> {
    t.data()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// `covip logits --image` on the multimodal fixture's 1-image prompt (image, then
/// "Describe the image in detail.") reproduces transformers' ids, pixels, grid and logits.
#[test]
fn logits_with_image_matches_transformers() {
    let fx = fixture().parent().unwrap().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("l.safetensors");
    let out = covip()
        .args(["logits", "--model"])
        .arg(fixture())
        .args(["--prompt", "Describe the image in detail.", "--image"])
        .arg(fx.join("vision/images/rgb_80x48.png"))
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = std::fs::read(&file).unwrap();
    let got = covip_model::safetensors::SafeTensors::deserialize(&got).unwrap();
    let want = std::fs::read(fx.join("multimodal.safetensors")).unwrap();
    let want = covip_model::safetensors::SafeTensors::deserialize(&want).unwrap();
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.join("multimodal.json")).unwrap())
            .unwrap();
    let ids: Vec<i64> = r["prompts"][0]["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!(i64s(&got.tensor("input_ids").unwrap()), ids);
    let grid = got.tensor("image_grid_thw").unwrap();
    assert_eq!(grid.dtype(), covip_model::safetensors::Dtype::I64);
    assert_eq!(grid.shape(), &[1, 3]);
    assert_eq!(i64s(&grid), i64s(&want.tensor("image_grid_thw_0").unwrap()));
    let px = got.tensor("pixel_values").unwrap();
    assert_eq!(px.shape(), &[16, 1536]);
    let dpx = f32s(&px)
        .iter()
        .zip(f32s(&want.tensor("pixel_values_0").unwrap()))
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(dpx <= 1e-2, "pixel_values max|Δ| {dpx}");
    let lg = got.tensor("logits").unwrap();
    assert_eq!(lg.shape(), &[ids.len(), 448]);
    let w = f32s(&want.tensor("logits_0").unwrap());
    let max_ref = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = f32s(&lg)
        .iter()
        .zip(&w)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(d <= 1e-4 * max_ref.max(1.0), "logits max|Δ| {d}");
}

#[test]
fn logits_with_a_missing_image_names_it() {
    let out = covip()
        .args(["logits", "--model"])
        .arg(fixture())
        .args([
            "--prompt",
            "x",
            "--image",
            "/nonexistent/a.png",
            "--out",
            "/tmp/never.safetensors",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/a.png"), "{err}");
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

fn caption(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/sample/test");
    covip()
        .args(["caption", "--model"])
        .arg(fixture())
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(["--max-new-tokens", "6"])
        .args(extra)
        .output()
        .unwrap()
}

fn log_keys(out: &std::path::Path) -> Vec<String> {
    let log = out.with_file_name(format!(
        "{}.resume.jsonl",
        out.file_name().unwrap().to_str().unwrap()
    ));
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["key"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Stopping after 2 samples then resuming redoes nothing and gives the uninterrupted output.
#[test]
fn caption_resumes_without_redoing_samples() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.json");
    let o = caption(&full, &["--batch-size", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&full).unwrap()).unwrap();
    let n = want.as_object().unwrap().len();
    assert_eq!(n, 4, "{want}");
    assert!(want.as_object().unwrap().values().all(|c| c.is_string()));

    let part = dir.path().join("part.json");
    let o = caption(&part, &["--max-samples", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        !part.exists(),
        "final file written before all samples were done"
    );
    let first = log_keys(&part);
    assert_eq!(first.len(), 2);

    let o = caption(&part, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("2 already captioned"), "{err}");
    let keys = log_keys(&part);
    assert_eq!(keys.len(), n, "a finished sample was redone: {keys:?}");
    assert_eq!(&keys[..2], &first[..]);
    let got: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&part).unwrap()).unwrap();
    assert_eq!(got, want);
}
