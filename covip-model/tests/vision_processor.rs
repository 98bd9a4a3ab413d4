//! Parity of the image processor with transformers' slow (Pillow) Qwen2-VL image processor.
//! Fixtures: `scripts/make_vision_fixtures.py`.
mod common;

use std::path::PathBuf;

use covip_model::processor::image::{
    DecodeLimits, ImageProcessor, ImageProcessorConfig, RgbImage, decode_rgb, decode_rgb_with,
    load_rgb,
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
            check_outcome(decode_rgb(&bytes[..cut], name), name);
        }
        let mut flipped = bytes.clone();
        for i in (bytes.len() / 2..bytes.len() - 2).step_by(97) {
            flipped[i] ^= 0x5A;
        }
        check_outcome(decode_rgb(&flipped, name), name);
    }
}

/// An image, or an error that names the image and says something about it.
fn check_outcome(r: covip_model::Result<RgbImage>, name: &str) {
    if let Err(e) = r {
        let msg = e.to_string();
        assert!(
            msg.contains(name) && msg.len() > name.len() + 20,
            "unclear error: {msg}"
        );
    }
}

/// `(marker, offset of the marker)` of every JPEG header segment before the first scan's
/// data, in file order.
fn jpeg_segments(b: &[u8]) -> Vec<(u8, usize)> {
    let mut out = Vec::new();
    let mut pos = 2;
    while pos + 4 <= b.len() && b[pos] == 0xFF {
        let marker = b[pos + 1];
        out.push((marker, pos));
        if marker == 0xDA {
            break;
        }
        pos += 2 + u16::from_be_bytes([b[pos + 2], b[pos + 3]]) as usize;
    }
    out
}

/// Every byte of the SOF, DHT, DQT and SOS headers of each JPEG fixture (the first 24 bytes
/// of longer segments), and of the PNG signature and IHDR chunk, set to a few hostile
/// values: each gives an image or a clear error, never a panic.
#[test]
fn damaged_headers_give_clear_errors() {
    let images = dir().join("images");
    // A corrupted size field may claim a frame of millions of pixels that then decodes (as
    // libjpeg would): a small cap keeps the test quick.
    let cap = DecodeLimits {
        max_pixels: 1 << 16,
    };
    let mut tried = 0;
    let mut refused = 0;
    for name in [
        "rgb_40x3_420.jpg",
        "rgb_53x75_prog.jpg",
        "rgb_61x97_422.jpg",
        "rgb_97x61_444.jpg",
        "gray_33x47_prog.jpg",
    ] {
        let bytes = std::fs::read(images.join(name)).unwrap();
        let segs = jpeg_segments(&bytes);
        for kind in [0xC0u8, 0xC2, 0xC4, 0xDB, 0xDA] {
            for &(_, at) in segs.iter().filter(|(m, _)| *m == kind) {
                let len = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
                for i in at + 2..at + 2 + len.min(24) {
                    for v in [
                        0x00,
                        0xFF,
                        0x0F,
                        0xF0,
                        bytes[i] ^ 0x5A,
                        bytes[i].wrapping_add(1),
                    ] {
                        let mut b = bytes.clone();
                        b[i] = v;
                        let r = decode_rgb_with(&b, name, &cap);
                        refused += r.is_err() as usize;
                        check_outcome(r, name);
                        tried += 1;
                    }
                }
            }
        }
    }
    let png = std::fs::read(images.join("rgb_45x77.png")).unwrap();
    for i in 0..33 {
        for v in [0x00, 0xFF, 0x7F, png[i] ^ 0x5A] {
            let mut b = png.clone();
            b[i] = v;
            let r = decode_rgb_with(&b, "rgb_45x77.png", &cap);
            refused += r.is_err() as usize;
            check_outcome(r, "rgb_45x77.png");
            tried += 1;
        }
    }
    eprintln!("{tried} damaged headers: {refused} refused, the rest decoded");
    assert!(refused > tried / 4, "{refused} of {tried}");
}

/// The released bug: a scan header selecting Huffman table 15 (a 4-bit field) must be an
/// error naming the field, not an index panic.
#[test]
fn scan_header_table_selector_out_of_range_is_an_error() {
    let bytes = std::fs::read(dir().join("images/rgb_300x200.jpg")).unwrap();
    let &(_, sos) = jpeg_segments(&bytes)
        .iter()
        .find(|(m, _)| *m == 0xDA)
        .unwrap();
    let mut b = bytes.clone();
    b[sos + 6] = 0xFF; // first component: DC table 15, AC table 15
    let e = decode_rgb(&b, "sel.jpg").unwrap_err().to_string();
    assert!(
        e.contains("sel.jpg") && e.contains("Huffman tables DC 15"),
        "{e}"
    );
}

/// Peak resident memory of this process in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A JPEG header claiming 65000x65000 pixels (12.7 GB as RGB) and a PNG claiming
/// 65000x65000 are refused from the header, quickly and without a large allocation.
#[test]
fn decompression_bombs_are_refused_before_allocating() {
    let before = peak_rss_kib();
    let t0 = std::time::Instant::now();
    let bytes = std::fs::read(dir().join("images/rgb_300x200.jpg")).unwrap();
    let &(_, sof) = jpeg_segments(&bytes)
        .iter()
        .find(|(m, _)| *m == 0xC0)
        .unwrap();
    let mut b = bytes.clone();
    b[sof + 5..sof + 7].copy_from_slice(&65000u16.to_be_bytes());
    b[sof + 7..sof + 9].copy_from_slice(&65000u16.to_be_bytes());
    let e = decode_rgb(&b, "bomb.jpg").unwrap_err().to_string();
    assert!(e.contains("bomb.jpg") && e.contains("65000x65000"), "{e}");
    // PNG: IHDR width and height (bytes 16..24), CRC fixed up so the header is valid.
    let mut p = std::fs::read(dir().join("images/rgb_45x77.png")).unwrap();
    p[16..20].copy_from_slice(&65000u32.to_be_bytes());
    p[20..24].copy_from_slice(&65000u32.to_be_bytes());
    let crc = crc32(&p[12..29]);
    p[29..33].copy_from_slice(&crc.to_be_bytes());
    let e = decode_rgb(&p, "bomb.png").unwrap_err().to_string();
    assert!(e.contains("bomb.png") && e.contains("65000"), "{e}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));
    if let (Some(a), Some(b)) = (before, peak_rss_kib()) {
        assert!(
            b - a < 512 * 1024,
            "peak memory grew by {} MiB",
            (b - a) / 1024
        );
    }
    // A processor with a smaller cap refuses an image the default accepts.
    let small = ImageProcessor::default().with_limits(DecodeLimits { max_pixels: 1000 });
    let e = small.decode(&bytes, "big.jpg").unwrap_err().to_string();
    assert!(e.contains("60000 pixels"), "{e}");
}

/// CRC-32 (PNG's, reflected 0xEDB88320).
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}
