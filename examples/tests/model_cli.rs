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

/// A JPEG whose scan header selects Huffman table 15 (once an index panic, exit 101) is an
/// error naming the file: exit status 1.
#[test]
fn logits_with_a_damaged_image_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = std::fs::read(fixture().join("../vision/images/rgb_300x200.jpg")).unwrap();
    let sos = b.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    b[sos + 6] = 0xFF;
    let bad = dir.path().join("BAD.jpg");
    std::fs::write(&bad, &b).unwrap();
    let out = covip()
        .args(["logits", "--model"])
        .arg(fixture())
        .args(["--prompt", "x", "--image"])
        .arg(&bad)
        .arg("--out")
        .arg(dir.path().join("never.safetensors"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("BAD.jpg") && err.contains("Huffman"), "{err}");
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

fn caption_cmd(out: &std::path::Path, extra: &[&str]) -> Command {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/sample/test");
    let mut c = covip();
    c.args(["caption", "--model"])
        .arg(fixture())
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(["--max-new-tokens", "6"])
        .args(extra);
    c
}

fn caption(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    caption_cmd(out, extra).output().unwrap()
}

fn log_path(out: &std::path::Path) -> PathBuf {
    out.with_file_name(format!(
        "{}.resume.jsonl",
        out.file_name().unwrap().to_str().unwrap()
    ))
}

/// The keys of the finished (newline-terminated) entries of the resume log, in file order,
/// duplicates included.
fn log_keys(out: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(log_path(out)).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["key"].as_str().unwrap().to_string()
        })
        .collect()
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A run killed (SIGKILL) after its first finished sample, resumed for one more sample with
/// `--max-samples 1`, then to completion: no finished sample is redone, no final file exists
/// before the end, and the result equals an uninterrupted (batched) run's output.
#[test]
fn caption_resumes_after_a_kill_without_redoing_samples() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.json");
    let o = caption(&full, &["--batch-size", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = read_json(&full);
    let n = want.as_object().unwrap().len();
    assert_eq!(n, 4, "{want}");
    assert!(want.as_object().unwrap().values().all(|c| c.is_string()));

    // Interrupted run: one sample per batch so that finished entries appear one at a time.
    let part = dir.path().join("captions.json");
    let stderr = std::fs::File::create(dir.path().join("killed.stderr")).unwrap();
    let mut child = caption_cmd(&part, &["--batch-size", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let err = std::fs::read_to_string(dir.path().join("killed.stderr")).unwrap();
            panic!(
                "the run ended ({status}) before it could be killed mid-way; {} entries logged\n{err}",
                log_keys(&part).len()
            );
        }
        if !log_keys(&part).is_empty() {
            break;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(300),
            "no finished sample after 300 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = log_keys(&part);
    assert!(
        !part.exists(),
        "final file written before all samples were done"
    );
    assert!(
        !before.is_empty() && before.len() < n,
        "killed after {} of {n} samples",
        before.len()
    );

    // Resume for one more sample only (`--max-samples`): the final file is written only when
    // that completes the set.
    let o = caption(&part, &["--max-samples", "1"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!("{} already captioned", before.len())),
        "{err}"
    );
    let mid = log_keys(&part);
    assert_eq!(mid.len(), before.len() + 1, "{mid:?}");
    assert_eq!(&mid[..before.len()], &before[..]);
    assert_eq!(part.exists(), mid.len() == n);

    // Resume to completion.
    let o = caption(&part, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!("{} already captioned", mid.len())),
        "{err}"
    );
    let keys = log_keys(&part);
    let unique: std::collections::BTreeSet<&String> = keys.iter().collect();
    assert_eq!(
        (keys.len(), unique.len()),
        (n, n),
        "a finished sample was redone: {keys:?}"
    );
    assert_eq!(&keys[..mid.len()], &mid[..]);
    assert_eq!(read_json(&part), want);
}
