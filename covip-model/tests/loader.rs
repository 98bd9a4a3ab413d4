//! Loading errors name every bad tensor; vision tensors are recorded, not rejected.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::backend::Flex;
use covip_model::{Qwen3Vl, WeightDtype};
use safetensors::tensor::TensorView;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-qwen3-vl")
}

fn copy_dir(to: &Path) {
    for e in std::fs::read_dir(fixture()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn one_error_lists_missing_misshaped_and_unexpected() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(dir.path());
    let bytes = std::fs::read(fixture().join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut keep: HashMap<String, TensorView> = HashMap::new();
    for (name, view) in st.tensors() {
        match name.as_str() {
            "model.language_model.norm.weight" | "lm_head.weight" => {}
            "model.language_model.layers.1.mlp.up_proj.weight" => {
                // drop the last row: [128, 64] → [127, 64]
                let data = &view.data()[..127 * 64 * 4];
                keep.insert(
                    name,
                    TensorView::new(view.dtype(), vec![127, 64], data).unwrap(),
                );
            }
            _ => {
                keep.insert(name, view);
            }
        }
    }
    let extra = [0u8; 8];
    keep.insert(
        "model.language_model.extra.weight".into(),
        TensorView::new(safetensors::Dtype::F32, vec![2], &extra).unwrap(),
    );
    let out = safetensors::serialize(&keep, None).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), out).unwrap();
    let err = Qwen3Vl::<Flex>::load(dir.path(), WeightDtype::AsStored, &Default::default())
        .unwrap_err()
        .to_string();
    for want in [
        "missing     model.language_model.norm.weight [64]",
        "missing     lm_head.weight [448, 64]",
        "wrong shape model.language_model.layers.1.mlp.up_proj.weight: file has [127, 64], model needs [128, 64]",
        "unexpected  model.language_model.extra.weight [2]",
    ] {
        assert!(err.contains(want), "error lacks {want:?}:\n{err}");
    }
    assert!(err.contains(&dir.path().display().to_string()));
    assert!(
        !err.contains("model.visual"),
        "vision tensors are not errors:\n{err}"
    );
}

#[test]
fn vision_tensors_are_recorded_and_missing_files_named() {
    let (_, _, report) =
        Qwen3Vl::<Flex>::load(&fixture(), WeightDtype::AsStored, &Default::default()).unwrap();
    assert!(!report.ignored.is_empty());
    assert!(
        report
            .ignored
            .iter()
            .all(|n| n.starts_with("model.visual."))
    );
    let dir = tempfile::tempdir().unwrap();
    let err = Qwen3Vl::<Flex>::load(dir.path(), WeightDtype::AsStored, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("config.json"), "{err}");
    std::fs::copy(
        fixture().join("config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let err = Qwen3Vl::<Flex>::load(dir.path(), WeightDtype::AsStored, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.safetensors.index.json")
            && err.contains(&dir.path().display().to_string()),
        "{err}"
    );
}
