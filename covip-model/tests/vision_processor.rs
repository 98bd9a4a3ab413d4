//! Parity of the image processor with transformers' slow (Pillow) Qwen2-VL image processor.
//! Fixtures: `scripts/make_vision_fixtures.py`.
mod common;

use std::path::PathBuf;

use covip_model::processor::image::{
    ImageProcessor, ImageProcessorConfig, RgbImage, decode_rgb, load_rgb,
};
use safetensors::SafeTensors;

use common::{st_f32s as f32s, st_i64s as i64s};

fn dir() -> PathBuf {
    common::fixtures().join("vision")
}

fn u8s(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<u8>) {
    let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(t.dtype(), safetensors::Dtype::U8);
    (t.shape().to_vec(), t.data().to_vec())
}

struct Fixture {
    meta: serde_json::Value,
    bytes: Vec<u8>,
}

fn fixture() -> Fixture {
    let d = dir();
    Fixture {
        meta: serde_json::from_str(&std::fs::read_to_string(d.join("processor.json")).unwrap())
            .unwrap(),
        bytes: std::fs::read(d.join("processor.safetensors")).unwrap(),
    }
}

/// Compares one case's output with the reference; returns max |Δ|.
fn compare(st: &SafeTensors, key: &str, proc: &ImageProcessor, img: &RgbImage) -> f32 {
    let out = proc.process(std::slice::from_ref(img)).unwrap();
    let grid = i64s(st, &format!("image_grid_thw.{key}"));
    let got: Vec<i64> = out.grid_thw[0].iter().map(|&x| x as i64).collect();
    assert_eq!(got, grid, "{key}: grid");
    let (shape, want) = f32s(st, &format!("pixel_values.{key}"));
    assert_eq!(
        shape,
        vec![out.num_patches(), out.patch_dim],
        "{key}: shape"
    );
    let max = want
        .iter()
        .zip(&out.pixel_values)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let differ = want
        .iter()
        .zip(&out.pixel_values)
        .filter(|(a, b)| a != b)
        .count();
    eprintln!(
        "{key:28} grid {grid:?} max|Δ| {max:e} ({differ} of {} values differ)",
        want.len()
    );
    max
}

/// Resizing, rescaling, normalising and patchifying Pillow's own decoded pixels reproduces
/// transformers' slow processor exactly (every case, PNG and JPEG, both config key styles).
#[test]
fn pixel_values_match_from_pillow_decoded_pixels() {
    let fx = fixture();
    let st = SafeTensors::deserialize(&fx.bytes).unwrap();
    let cases = fx.meta["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let key = case["case"].as_str().unwrap();
        let cfg =
            ImageProcessorConfig::from_file(&dir().join(case["config"].as_str().unwrap())).unwrap();
        let (shape, data) = u8s(&st, &format!("decoded.{key}"));
        let img = RgbImage::new(shape[1], shape[0], data).unwrap();
        let max = compare(&st, key, &ImageProcessor::new(cfg), &img);
        assert!(max <= 1e-6, "{key}: max |Δ| {max}");
    }
}

/// Decoding gives Pillow's `convert("RGB")` pixels exactly: PNG (RGB, L, P with transparency,
/// RGBA) and JPEG (libjpeg-turbo-exact: grey, 4:4:4, 4:2:2 with restart markers, 4:2:0, a
/// 3-pixel-wide 4:2:0, progressive colour and grey).
#[test]
fn decoding_matches_pillow_convert_rgb() {
    let fx = fixture();
    let st = SafeTensors::deserialize(&fx.bytes).unwrap();
    let mut jpegs = 0;
    for case in fx.meta["cases"].as_array().unwrap() {
        let key = case["case"].as_str().unwrap();
        let name = case["image"].as_str().unwrap();
        let img = load_rgb(&dir().join("images").join(name)).unwrap();
        let (shape, want) = u8s(&st, &format!("decoded.{key}"));
        assert_eq!(
            [img.height, img.width, 3],
            [shape[0], shape[1], shape[2]],
            "{key}"
        );
        let max = want
            .iter()
            .zip(&img.data)
            .map(|(a, b)| (*a as i32 - *b as i32).abs())
            .max()
            .unwrap();
        let differ = want.iter().zip(&img.data).filter(|(a, b)| a != b).count();
        eprintln!(
            "{name:20} max level diff {max} ({differ} of {} bytes)",
            want.len()
        );
        assert_eq!(max, 0, "{name}");
        jpegs += name.ends_with(".jpg") as usize;
    }
    assert!(jpegs >= 7);
}

/// From the image files, end to end: every case reproduces the reference exactly.
#[test]
fn pixel_values_match_transformers_pillow_processor() {
    let fx = fixture();
    let st = SafeTensors::deserialize(&fx.bytes).unwrap();
    for case in fx.meta["cases"].as_array().unwrap() {
        let key = case["case"].as_str().unwrap();
        let cfg =
            ImageProcessorConfig::from_file(&dir().join(case["config"].as_str().unwrap())).unwrap();
        let name = case["image"].as_str().unwrap();
        let img = load_rgb(&dir().join("images").join(name)).unwrap();
        let max = compare(&st, key, &ImageProcessor::new(cfg), &img);
        assert!(max <= 1e-6, "{key}: max |Δ| {max}");
    }
}
#[test]
fn batches_concatenate_in_order() {
    let d = dir();
    let cfg = ImageProcessorConfig::from_file(&d.join("preprocessor_small.json")).unwrap();
    let proc = ImageProcessor::new(cfg);
    let a = load_rgb(&d.join("images/rgb_45x77.png")).unwrap();
    let b = load_rgb(&d.join("images/gray_120x37.png")).unwrap();
    let one_a = proc.process(std::slice::from_ref(&a)).unwrap();
    let one_b = proc.process(std::slice::from_ref(&b)).unwrap();
    let both = proc.process(&[a, b]).unwrap();
    assert_eq!(both.grid_thw, vec![one_a.grid_thw[0], one_b.grid_thw[0]]);
    assert_eq!(both.image_tokens(), vec![6, 4]);
    assert_eq!(
        both.pixel_values,
        [one_a.pixel_values, one_b.pixel_values].concat()
    );
}

#[test]
fn clear_errors_for_bad_images() {
    let d = dir();
    let e = load_rgb(&d.join("images/not_an_image.png")).unwrap_err();
    assert!(e.to_string().contains("cannot decode"), "{e}");
    let e = decode_rgb(b"GIF89a....", "x.gif").unwrap_err();
    assert!(e.to_string().contains("x.gif"), "{e}");
    let proc = ImageProcessor::default();
    let thin = RgbImage::new(300, 1, vec![0; 900]).unwrap();
    let e = proc.process(&[thin]).unwrap_err();
    assert!(e.to_string().contains("aspect ratio"), "{e}");
    let cfg = ImageProcessorConfig {
        min_pixels: 0,
        ..Default::default()
    };
    let tiny = RgbImage::new(8, 8, vec![0; 192]).unwrap();
    let e = ImageProcessor::new(cfg).process(&[tiny]).unwrap_err();
    assert!(e.to_string().contains("too small"), "{e}");
}

/// Truncated or damaged JPEG/PNG data gives an image or a clear error, never a panic.
#[test]
fn damaged_files_do_not_panic() {
    for name in [
        "rgb_300x200.jpg",
        "rgb_53x75_prog.jpg",
        "rgb_61x97_422.jpg",
        "rgb_45x77.png",
    ] {
        let bytes = std::fs::read(dir().join("images").join(name)).unwrap();
        for cut in [20, bytes.len() / 3, bytes.len() / 2, bytes.len() - 3] {
            let _ = decode_rgb(&bytes[..cut], name);
        }
        let mut flipped = bytes.clone();
        for i in (bytes.len() / 2..bytes.len() - 2).step_by(97) {
            flipped[i] ^= 0x5A;
        }
        let _ = decode_rgb(&flipped, name);
    }
}
