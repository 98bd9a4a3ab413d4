//! Parity of the vision tower with transformers' `Qwen3VLVisionModel` on the tiny checkpoint.
//! Fixtures: `scripts/make_vision_fixtures.py`.
mod common;

use std::path::Path;

use covip_model::burn::backend::Flex;
use covip_model::burn::tensor::{Tensor, TensorData};
use covip_model::config::Qwen3VlConfig;
use covip_model::loader::{Checkpoint, WeightDtype};
use covip_model::vision::{VisionConfig, VisionTower};
use safetensors::SafeTensors;

use common::{fixtures, st_f32s as f32s, st_i64s as i64s};

fn vision_config(dir: &Path) -> VisionConfig {
    let cfg = Qwen3VlConfig::from_file(&dir.join("config.json")).unwrap();
    VisionConfig::from_value(cfg.vision_config.as_ref().unwrap(), "config.json").unwrap()
}

/// max |Δ| and the bound max(1, max|ref|)·1e-4.
fn check(name: &str, got: Tensor<Flex, 2>, shape: &[usize], want: &[f32]) {
    assert_eq!(got.dims().to_vec(), shape, "{name}: shape");
    let got: Vec<f32> = got.into_data().to_vec().unwrap();
    let max_ref = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let max = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let bound = 1e-4 * max_ref.max(1.0);
    eprintln!("{name:22} max|Δ| {max:e} (max|ref| {max_ref:.3}, bound {bound:e})");
    assert!(max <= bound, "{name}: max |Δ| {max} > {bound}");
}

#[test]
fn tower_matches_transformers_for_one_and_three_images() {
    let fx = fixtures();
    let ckpt_dir = fx.join("tiny-qwen3-vl");
    let dev = Default::default();
    let tower = VisionTower::<Flex>::from_dir(&ckpt_dir, WeightDtype::F32, &dev).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.join("vision/processor.json")).unwrap())
            .unwrap();
    let pbytes = std::fs::read(fx.join("vision/processor.safetensors")).unwrap();
    let pst = SafeTensors::deserialize(&pbytes).unwrap();
    let tbytes = std::fs::read(fx.join("vision/tower.safetensors")).unwrap();
    let tst = SafeTensors::deserialize(&tbytes).unwrap();
    let runs = meta["tower_runs"].as_object().unwrap();
    assert_eq!(runs.len(), 2);
    for (run, cases) in runs {
        let mut pixels = Vec::new();
        let mut grid = Vec::new();
        for case in cases.as_array().unwrap() {
            let key = case.as_str().unwrap();
            pixels.extend(f32s(&pst, &format!("pixel_values.{key}")).1);
            let g = i64s(&pst, &format!("image_grid_thw.{key}"));
            grid.push([g[0] as usize, g[1] as usize, g[2] as usize]);
        }
        let want_grid: Vec<i64> = i64s(&tst, &format!("{run}.grid_thw"));
        let flat: Vec<i64> = grid.iter().flatten().map(|&v| v as i64).collect();
        assert_eq!(flat, want_grid);
        let rows = pixels.len() / 1536;
        let pv = Tensor::<Flex, 2>::from_data(TensorData::new(pixels, [rows, 1536]), &dev);
        let out = tower.forward(pv, &grid).unwrap();
        let (shape, want) = f32s(&tst, &format!("{run}.embeds"));
        check(&format!("{run}.embeds"), out.embeds, &shape, &want);
        assert_eq!(out.deepstack.len(), 2);
        for (k, feat) in out.deepstack.into_iter().enumerate() {
            let name = format!("{run}.deepstack.{k}");
            let (shape, want) = f32s(&tst, &name);
            check(&name, feat, &shape, &want);
        }
    }
}

#[test]
fn load_reports_every_mismatch_at_once() {
    let dir = fixtures().join("tiny-qwen3-vl");
    let ckpt = Checkpoint::open(&dir).unwrap();
    let dev = Default::default();
    let base = vision_config(&dir);
    // One block more: its tensors are missing.
    let mut deeper = base.clone();
    deeper.depth = 3;
    let e = VisionTower::<Flex>::load(&ckpt, &deeper, WeightDtype::F32, &dev).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("missing     model.visual.blocks.2.attn.qkv.weight"),
        "{msg}"
    );
    // One block fewer: block 1 is unexpected.
    let mut shallow = base.clone();
    shallow.depth = 1;
    shallow.deepstack_visual_indexes = vec![0];
    let msg = VisionTower::<Flex>::load(&ckpt, &shallow, WeightDtype::F32, &dev)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("unexpected  model.visual.blocks.1.norm1.weight"),
        "{msg}"
    );
    assert!(
        msg.contains("unexpected  model.visual.deepstack_merger_list.1"),
        "{msg}"
    );
    // A different MLP width: shapes are wrong, all listed.
    let mut wide = base.clone();
    wide.intermediate_size = 96;
    let msg = VisionTower::<Flex>::load(&ckpt, &wide, WeightDtype::F32, &dev)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("wrong shape model.visual.blocks.0.mlp.linear_fc1.weight"),
        "{msg}"
    );
    assert!(
        msg.contains("wrong shape model.visual.blocks.1.mlp.linear_fc2.weight"),
        "{msg}"
    );
    // The real config loads; a mis-sized input is refused clearly.
    let tower = VisionTower::<Flex>::load(&ckpt, &base, WeightDtype::F32, &dev).unwrap();
    let pv = Tensor::<Flex, 2>::zeros([8, 1536], &dev);
    let e = tower.forward(pv, &[[1, 2, 2]]).unwrap_err();
    assert!(e.to_string().contains("pixel_values is [8, 1536]"), "{e}");
}

/// The bf16, sharded checkpoint run in bf16 tracks transformers' bf16 run (bf16 keeps about
/// three significant digits, and the two differ in where they round), and so does the same
/// checkpoint computed in f32.
#[test]
fn bf16_sharded_tower_tracks_reference() {
    let fx = fixtures();
    let dir = fx.join("tiny-qwen3-vl-bf16-tied");
    let dev = Default::default();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.join("vision/processor.json")).unwrap())
            .unwrap();
    let pbytes = std::fs::read(fx.join("vision/processor.safetensors")).unwrap();
    let pst = SafeTensors::deserialize(&pbytes).unwrap();
    let tbytes = std::fs::read(fx.join("vision/tower.safetensors")).unwrap();
    let tst = SafeTensors::deserialize(&tbytes).unwrap();
    let mut pixels = Vec::new();
    let mut grid = Vec::new();
    for case in meta["tower_runs"]["three"].as_array().unwrap() {
        let key = case.as_str().unwrap();
        pixels.extend(f32s(&pst, &format!("pixel_values.{key}")).1);
        let g = i64s(&pst, &format!("image_grid_thw.{key}"));
        grid.push([g[0] as usize, g[1] as usize, g[2] as usize]);
    }
    let rows = pixels.len() / 1536;
    for dtype in [WeightDtype::AsStored, WeightDtype::F32] {
        let tower = VisionTower::<Flex>::from_dir(&dir, dtype, &dev).unwrap();
        let pv = Tensor::<Flex, 2>::from_data(TensorData::new(pixels.clone(), [rows, 1536]), &dev);
        let out = tower.forward(pv, &grid).unwrap();
        let mut got = vec![("bf16.embeds".to_string(), out.embeds)];
        for (k, f) in out.deepstack.into_iter().enumerate() {
            got.push((format!("bf16.deepstack.{k}"), f));
        }
        for (name, t) in got {
            let (shape, want) = f32s(&tst, &name);
            assert_eq!(t.dims().to_vec(), shape, "{name}");
            let t: Vec<f32> = t
                .cast(covip_model::burn::tensor::DType::F32)
                .into_data()
                .to_vec()
                .unwrap();
            let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
            let d = t
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            eprintln!("{dtype:?} {name:18} max|Δ| {d:.3e} (scale {scale:.2})");
            assert!(d <= 0.05 * scale, "{dtype:?} {name}: {d} vs scale {scale}");
        }
    }
}
