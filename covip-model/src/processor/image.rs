//! Image preprocessing as transformers' slow (Pillow) Qwen2-VL image processor does it:
//! decode → RGB → `smart_resize` → Pillow BICUBIC → rescale → normalise → 2 frames → patches.
//!
//! The resampling reproduces Pillow's `ImagingResample` bit for bit: separable two-pass
//! (horizontal, then vertical), the filter support widened by the scale when shrinking
//! (antialiasing), 22-bit fixed-point coefficients, and rounding/clipping to 8 bits after each pass.
//!
//! RGB conversion follows Pillow's `Image.convert("RGB")`: grey is replicated, palettes are
//! looked up, alpha is dropped (not composited onto a background). Decoding is covip-data's
//! [`covip_data::image::decode_rgb`] (libjpeg-turbo-exact JPEGs, a pixel cap), the decoder
//! `covip data inspect --check-images` uses too.
use std::path::Path;

pub use covip_data::image::DecodeLimits;

use serde::Deserialize;

use crate::error::{ModelError, Result};

/// Largest allowed ratio between an image's long and short side (as transformers).
pub const MAX_ASPECT_RATIO: f64 = 200.0;

/// An 8-bit RGB image, rows top to bottom, pixels interleaved `[r, g, b]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    /// `[height, width, 3]`, row-major.
    pub data: Vec<u8>,
}

impl RgbImage {
    /// Wraps interleaved RGB bytes; `data.len()` must be `width * height * 3`.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Result<Self> {
        if data.len() != width * height * 3 {
            return Err(ModelError::Input(format!(
                "RGB buffer of {} bytes does not hold a {width}x{height} image",
                data.len()
            )));
        }
        Ok(Self {
            width,
            height,
            data,
        })
    }
}

/// The settings of `preprocessor_config.json` that the Qwen2-VL / Qwen3-VL image processor uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageProcessorConfig {
    /// Lower bound on `height * width` after resizing.
    pub min_pixels: usize,
    /// Upper bound on `height * width` after resizing.
    pub max_pixels: usize,
    pub patch_size: usize,
    pub temporal_patch_size: usize,
    pub merge_size: usize,
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
    pub rescale_factor: f64,
    pub do_resize: bool,
    pub do_rescale: bool,
    pub do_normalize: bool,
}

impl Default for ImageProcessorConfig {
    /// The released Qwen3-VL settings.
    fn default() -> Self {
        Self {
            min_pixels: 65_536,
            max_pixels: 16_777_216,
            patch_size: 16,
            temporal_patch_size: 2,
            merge_size: 2,
            image_mean: [0.5; 3],
            image_std: [0.5; 3],
            rescale_factor: 1.0 / 255.0,
            do_resize: true,
            do_rescale: true,
            do_normalize: true,
        }
    }
}

#[derive(Deserialize)]
struct SizeKeys {
    shortest_edge: Option<usize>,
    longest_edge: Option<usize>,
    min_pixels: Option<usize>,
    max_pixels: Option<usize>,
}

#[derive(Deserialize)]
struct RawConfig {
    min_pixels: Option<usize>,
    max_pixels: Option<usize>,
    size: Option<SizeKeys>,
    patch_size: Option<usize>,
    temporal_patch_size: Option<usize>,
    merge_size: Option<usize>,
    image_mean: Option<Vec<f32>>,
    image_std: Option<Vec<f32>>,
    rescale_factor: Option<f64>,
    do_resize: Option<bool>,
    do_rescale: Option<bool>,
    do_normalize: Option<bool>,
}

impl ImageProcessorConfig {
    /// Reads `dir/preprocessor_config.json`; a folder without one gets the released defaults.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("preprocessor_config.json");
        if !path.exists() {
            return Ok(Self::default());
        }
        Self::from_file(&path)
    }

    /// Reads a `preprocessor_config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// Parses the JSON text of a `preprocessor_config.json` (`origin` names it in errors).
    /// Pixel bounds come from top-level `min_pixels` / `max_pixels` (which win, as in
    /// transformers) or from `size: {shortest_edge, longest_edge}`; absent keys keep the
    /// released Qwen3-VL values.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        let bad = |msg: String| ModelError::Config {
            path: origin.to_string(),
            msg,
        };
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let d = Self::default();
        let size = raw.size.as_ref();
        let min_pixels = raw
            .min_pixels
            .or(size.and_then(|s| s.shortest_edge.or(s.min_pixels)))
            .unwrap_or(d.min_pixels);
        let max_pixels = raw
            .max_pixels
            .or(size.and_then(|s| s.longest_edge.or(s.max_pixels)))
            .unwrap_or(d.max_pixels);
        let three = |v: Option<Vec<f32>>, name: &str, dflt: [f32; 3]| -> Result<[f32; 3]> {
            match v {
                None => Ok(dflt),
                Some(v) if v.len() == 1 => Ok([v[0]; 3]),
                Some(v) if v.len() == 3 => Ok([v[0], v[1], v[2]]),
                Some(v) => Err(bad(format!("{name} needs 3 values, got {}", v.len()))),
            }
        };
        let cfg = Self {
            min_pixels,
            max_pixels,
            patch_size: raw.patch_size.unwrap_or(d.patch_size),
            temporal_patch_size: raw.temporal_patch_size.unwrap_or(d.temporal_patch_size),
            merge_size: raw.merge_size.unwrap_or(d.merge_size),
            image_mean: three(raw.image_mean, "image_mean", d.image_mean)?,
            image_std: three(raw.image_std, "image_std", d.image_std)?,
            rescale_factor: raw.rescale_factor.unwrap_or(d.rescale_factor),
            do_resize: raw.do_resize.unwrap_or(true),
            do_rescale: raw.do_rescale.unwrap_or(true),
            do_normalize: raw.do_normalize.unwrap_or(true),
        };
        if cfg.patch_size == 0 || cfg.merge_size == 0 || cfg.temporal_patch_size == 0 {
            return Err(bad(
                "patch_size, merge_size and temporal_patch_size must be positive".into(),
            ));
        }
        // Far above any real processor; keeps factor() and patch_dim() from overflowing.
        if cfg.patch_size > 1024 || cfg.merge_size > 64 || cfg.temporal_patch_size > 16 {
            return Err(bad(format!(
                "patch_size {} / merge_size {} / temporal_patch_size {} exceed the supported \
                 1024 / 64 / 16",
                cfg.patch_size, cfg.merge_size, cfg.temporal_patch_size
            )));
        }
        if cfg.min_pixels > cfg.max_pixels {
            return Err(bad(format!(
                "min pixels {} exceed max pixels {}",
                cfg.min_pixels, cfg.max_pixels
            )));
        }
        if cfg.image_std.contains(&0.0) {
            return Err(bad("image_std has a zero".into()));
        }
        Ok(cfg)
    }

    /// Side multiple of a resized image: `patch_size * merge_size` (32 in Qwen3-VL).
    pub fn factor(&self) -> usize {
        self.patch_size * self.merge_size
    }

    /// Values per patch row: `3 * temporal_patch_size * patch_size²` (1536 in Qwen3-VL).
    pub fn patch_dim(&self) -> usize {
        3 * self.temporal_patch_size * self.patch_size * self.patch_size
    }
}

/// The processor's output for a list of images, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelPatches {
    /// `[patches, patch_dim]` row-major: rows in (t, block row, block col, row in block, col in
    /// block) order, columns in (channel, frame, row, col) order.
    pub pixel_values: Vec<f32>,
    pub patch_dim: usize,
    /// Per image `[t, h, w]` in patches (t = 1 for a still image).
    pub grid_thw: Vec<[usize; 3]>,
    pub merge_size: usize,
}

impl PixelPatches {
    /// Number of patch rows.
    pub fn num_patches(&self) -> usize {
        self.pixel_values.len() / self.patch_dim.max(1)
    }

    /// `pixel_values` as a `[patches, patch_dim]` f32 tensor for the vision tower.
    pub fn to_tensor<B: burn::tensor::backend::Backend>(
        &self,
        device: &B::Device,
    ) -> burn::tensor::Tensor<B, 2> {
        let data = burn::tensor::TensorData::new(
            self.pixel_values.clone(),
            [self.num_patches(), self.patch_dim],
        );
        burn::tensor::Tensor::from_data(data, device)
    }

    /// Placeholder tokens per image: `t * h * w / merge²`.
    pub fn image_tokens(&self) -> Vec<usize> {
        let m2 = self.merge_size * self.merge_size;
        self.grid_thw
            .iter()
            .map(|g| g[0] * g[1] * g[2] / m2)
            .collect()
    }
}

/// Decodes PNG or JPEG bytes and converts to RGB as Pillow's `convert("RGB")` does, under the
/// default [`DecodeLimits`]. `origin` names the image in errors.
pub fn decode_rgb(bytes: &[u8], origin: &str) -> Result<RgbImage> {
    decode_rgb_with(bytes, origin, &DecodeLimits::default())
}

/// [`decode_rgb`] under explicit limits.
pub fn decode_rgb_with(bytes: &[u8], origin: &str, limits: &DecodeLimits) -> Result<RgbImage> {
    let rgb = covip_data::image::decode_rgb(bytes, origin, limits).map_err(|e| match e {
        covip_data::DataError::Image { image, message } => ModelError::Input(format!(
            "{image}: cannot decode the image (PNG and JPEG are supported): {message}"
        )),
        other => ModelError::Input(other.to_string()),
    })?;
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    RgbImage::new(w, h, rgb.into_raw())
}

/// Reads and decodes an image file (see [`decode_rgb`]).
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    load_rgb_with(path, &DecodeLimits::default())
}

/// [`load_rgb`] under explicit limits.
pub fn load_rgb_with(path: &Path, limits: &DecodeLimits) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| ModelError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    decode_rgb_with(&bytes, &path.display().to_string(), limits)
}

/// transformers' `smart_resize`: the `(height, width)` to resize to, multiples of `factor`,
/// with `min_pixels <= h * w <= max_pixels` (when reachable), aspect ratio kept as closely as
/// possible. Rounding is half to even, as Python's `round`.
pub fn smart_resize(
    height: usize,
    width: usize,
    factor: usize,
    min_pixels: usize,
    max_pixels: usize,
) -> Result<(usize, usize)> {
    if height == 0 || width == 0 {
        return Err(ModelError::Input(format!(
            "image of {width}x{height} pixels is too small: it has no pixels"
        )));
    }
    let (h, w, f) = (height as f64, width as f64, factor as f64);
    let ratio = h.max(w) / h.min(w);
    if ratio > MAX_ASPECT_RATIO {
        return Err(ModelError::Input(format!(
            "image of {width}x{height} pixels has an aspect ratio of {ratio:.1}, more than the \
             {MAX_ASPECT_RATIO} the model accepts"
        )));
    }
    // Saturating arithmetic: absurd bounds from a config give absurd sizes (which the caller
    // refuses against its pixel cap), never an overflow.
    let mut h_bar = ((h / f).round_ties_even() as usize).saturating_mul(factor);
    let mut w_bar = ((w / f).round_ties_even() as usize).saturating_mul(factor);
    let area = h * w;
    if h_bar.saturating_mul(w_bar) > max_pixels {
        let beta = (area / max_pixels as f64).sqrt();
        h_bar = factor.max(((h / beta / f).floor() as usize).saturating_mul(factor));
        w_bar = factor.max(((w / beta / f).floor() as usize).saturating_mul(factor));
    } else if h_bar.saturating_mul(w_bar) < min_pixels {
        let beta = (min_pixels as f64 / area).sqrt();
        h_bar = ((h * beta / f).ceil() as usize).saturating_mul(factor);
        w_bar = ((w * beta / f).ceil() as usize).saturating_mul(factor);
    }
    if h_bar == 0 || w_bar == 0 {
        return Err(ModelError::Input(format!(
            "image of {width}x{height} pixels is too small: it resizes to {w_bar}x{h_bar} \
             (sides must reach a multiple of {factor}; raise min_pixels)"
        )));
    }
    Ok((h_bar, w_bar))
}

// ---- Pillow's BICUBIC resampling (libImaging/Resample.c) ----

/// Fixed-point precision of Pillow's 8-bit resampling coefficients.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's bicubic kernel (a = -0.5), support 2.
fn bicubic_filter(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Per output pixel: first input index, tap count, and `ksize` fixed-point coefficients.
struct Coeffs {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    kk: Vec<i32>,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the box `[0, in_size)`.
fn precompute_coeffs(in_size: usize, out_size: usize) -> Coeffs {
    const SUPPORT: f64 = 2.0;
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = SUPPORT * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut kk = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C casts truncate toward zero.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax - xmin;
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(n) {
            let w = bicubic_filter(((x + xmin) as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        for x in 0..n {
            let v = if ww != 0.0 { k[x] / ww } else { k[x] };
            let scaled = v * (1u32 << PRECISION_BITS) as f64;
            kk[xx * ksize + x] = if v < 0.0 {
                (-0.5 + scaled) as i32
            } else {
                (0.5 + scaled) as i32
            };
        }
        bounds.push((xmin, n));
    }
    Coeffs { ksize, bounds, kk }
}

#[inline]
fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Which pass Pillow runs first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PassOrder {
    /// Pillow >= 13: vertical first when the height shrinks by more than twice as many
    /// pixels as the width does (`in_h - out_h > 0 && in_h - out_h > 2 * (in_w - out_w)`),
    /// horizontal first otherwise.
    #[default]
    Pillow13,
    /// Pillow <= 12: always horizontal first.
    HorizontalFirst,
}

impl PassOrder {
    fn horizontal_first(self, in_w: usize, in_h: usize, out_w: usize, out_h: usize) -> bool {
        match self {
            PassOrder::HorizontalFirst => true,
            PassOrder::Pillow13 => {
                let dh = in_h as i64 - out_h as i64;
                let dw = in_w as i64 - out_w as i64;
                !(dh > 0 && dh > dw * 2)
            }
        }
    }
}

/// One horizontal pass over rows `row0 .. row0 + rows` of `src` (`src_w` wide).
fn pass_horizontal(src: &[u8], src_w: usize, row0: usize, rows: usize, c: &Coeffs) -> Vec<u8> {
    let out_w = c.bounds.len();
    let rounding = 1i32 << (PRECISION_BITS - 1);
    let mut out = vec![0u8; rows * out_w * 3];
    for r in 0..rows {
        let line = &src[(r + row0) * src_w * 3..(r + row0 + 1) * src_w * 3];
        for xx in 0..out_w {
            let (xmin, n) = c.bounds[xx];
            let k = &c.kk[xx * c.ksize..xx * c.ksize + n];
            let mut ss = [rounding; 3];
            for (x, &kx) in k.iter().enumerate() {
                let p = &line[(xmin + x) * 3..(xmin + x) * 3 + 3];
                ss[0] += p[0] as i32 * kx;
                ss[1] += p[1] as i32 * kx;
                ss[2] += p[2] as i32 * kx;
            }
            let o = (r * out_w + xx) * 3;
            out[o] = clip8(ss[0]);
            out[o + 1] = clip8(ss[1]);
            out[o + 2] = clip8(ss[2]);
        }
    }
    out
}

/// One vertical pass over `src` (`width` wide) whose row 0 is input row `row0`.
fn pass_vertical(src: &[u8], width: usize, row0: usize, c: &Coeffs) -> Vec<u8> {
    let out_h = c.bounds.len();
    let rounding = 1i32 << (PRECISION_BITS - 1);
    let mut out = vec![0u8; out_h * width * 3];
    for yy in 0..out_h {
        let (ymin, n) = c.bounds[yy];
        let k = &c.kk[yy * c.ksize..yy * c.ksize + n];
        for xx in 0..width {
            let mut ss = [rounding; 3];
            for (y, &ky) in k.iter().enumerate() {
                let o = ((ymin + y - row0) * width + xx) * 3;
                ss[0] += src[o] as i32 * ky;
                ss[1] += src[o + 1] as i32 * ky;
                ss[2] += src[o + 2] as i32 * ky;
            }
            let o = (yy * width + xx) * 3;
            out[o] = clip8(ss[0]);
            out[o + 1] = clip8(ss[1]);
            out[o + 2] = clip8(ss[2]);
        }
    }
    out
}

/// Resizes as Pillow's `Image.resize((width, height), BICUBIC)` does, bit-exact
/// (pass order of Pillow >= 13; see [`resize_bicubic_with`]).
pub fn resize_bicubic(img: &RgbImage, width: usize, height: usize) -> RgbImage {
    resize_bicubic_with(img, width, height, PassOrder::default())
}

/// [`resize_bicubic`] with an explicit pass order. Sizes must be positive.
pub fn resize_bicubic_with(
    img: &RgbImage,
    width: usize,
    height: usize,
    order: PassOrder,
) -> RgbImage {
    let need_h = width != img.width;
    let need_v = height != img.height;
    let done = |data| RgbImage {
        width,
        height,
        data,
    };
    if !need_h && !need_v {
        return img.clone();
    }
    let horiz = need_h.then(|| precompute_coeffs(img.width, width));
    let vert = need_v.then(|| precompute_coeffs(img.height, height));
    match (horiz, vert) {
        (Some(h), None) => done(pass_horizontal(&img.data, img.width, 0, img.height, &h)),
        (None, Some(v)) => done(pass_vertical(&img.data, img.width, 0, &v)),
        (Some(h), Some(v)) => {
            if order.horizontal_first(img.width, img.height, width, height) {
                // Only the input rows the vertical pass reads.
                let first = v.bounds[0].0;
                let last = v.bounds[height - 1].0 + v.bounds[height - 1].1;
                let tmp = pass_horizontal(&img.data, img.width, first, last - first, &h);
                done(pass_vertical(&tmp, width, first, &v))
            } else {
                let tmp = pass_vertical(&img.data, img.width, 0, &v);
                done(pass_horizontal(&tmp, img.width, 0, height, &h))
            }
        }
        (None, None) => unreachable!(),
    }
}

/// The Qwen2-VL / Qwen3-VL image processor.
#[derive(Debug, Clone, Default)]
pub struct ImageProcessor {
    pub config: ImageProcessorConfig,
    /// Pillow's pass order to reproduce (Pillow >= 13 by default).
    pub pass_order: PassOrder,
    /// Bounds on decoding image files (Pillow's decompression-bomb limit by default).
    pub limits: DecodeLimits,
}

impl ImageProcessor {
    pub fn new(config: ImageProcessorConfig) -> Self {
        Self {
            config,
            pass_order: PassOrder::default(),
            limits: DecodeLimits::default(),
        }
    }

    /// The same processor with another decoding cap.
    pub fn with_limits(mut self, limits: DecodeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Decodes PNG/JPEG bytes under this processor's [`DecodeLimits`].
    pub fn decode(&self, bytes: &[u8], origin: &str) -> Result<RgbImage> {
        decode_rgb_with(bytes, origin, &self.limits)
    }

    /// Reads the folder's `preprocessor_config.json` (defaults when absent).
    pub fn from_dir(dir: &Path) -> Result<Self> {
        Ok(Self::new(ImageProcessorConfig::from_dir(dir)?))
    }

    /// The `(height, width)` an image of this size is resized to.
    pub fn target_size(&self, height: usize, width: usize) -> Result<(usize, usize)> {
        let c = &self.config;
        if !c.do_resize {
            let f = c.factor();
            if !height.is_multiple_of(f) || !width.is_multiple_of(f) || height == 0 || width == 0 {
                return Err(ModelError::Input(format!(
                    "with do_resize off, image sides must be positive multiples of {f}; got \
                     {width}x{height}"
                )));
            }
            return Ok((height, width));
        }
        let (h, w) = smart_resize(height, width, c.factor(), c.min_pixels, c.max_pixels)?;
        // A config may ask for more pixels than any image should get (a huge min_pixels
        // upscales everything): the resized image is held to the same cap as a decoded one.
        let pixels = (h as u64).saturating_mul(w as u64);
        if pixels > self.limits.max_pixels {
            return Err(ModelError::Input(format!(
                "resizing {width}x{height} to {w}x{h} ({pixels} pixels) exceeds the cap of {} \
                 pixels (check min_pixels/max_pixels in preprocessor_config.json)",
                self.limits.max_pixels
            )));
        }
        Ok((h, w))
    }

    /// Processes still images into patches; `pixel_values` concatenates them in order.
    pub fn process(&self, images: &[RgbImage]) -> Result<PixelPatches> {
        let c = &self.config;
        let (p, m, tp) = (c.patch_size, c.merge_size, c.temporal_patch_size);
        let dim = c.patch_dim();
        let mut pixel_values = Vec::new();
        let mut grid_thw = Vec::with_capacity(images.len());
        for img in images {
            let (h, w) = self.target_size(img.height, img.width)?;
            let resized = resize_bicubic_with(img, w, h, self.pass_order);
            // Per channel, per byte value: rescale in f64 then f32, normalise in f32 (numpy).
            let mut lut = [[0f32; 256]; 3];
            for (ch, table) in lut.iter_mut().enumerate() {
                for (v, out) in table.iter_mut().enumerate() {
                    let mut x = if c.do_rescale {
                        (v as f64 * c.rescale_factor) as f32
                    } else {
                        v as f32
                    };
                    if c.do_normalize {
                        x = (x - c.image_mean[ch]) / c.image_std[ch];
                    }
                    *out = x;
                }
            }
            let (gh, gw) = (h / p, w / p);
            let base = pixel_values.len();
            pixel_values.resize(base + gh * gw * dim, 0.0);
            let rows = &mut pixel_values[base..];
            let mut row = 0;
            for bh in 0..gh / m {
                for bw in 0..gw / m {
                    for ih in 0..m {
                        for iw in 0..m {
                            let y0 = (bh * m + ih) * p;
                            let x0 = (bw * m + iw) * p;
                            let dst = &mut rows[row * dim..(row + 1) * dim];
                            for ch in 0..3 {
                                for t in 0..tp {
                                    for py in 0..p {
                                        for px in 0..p {
                                            let s = ((y0 + py) * w + x0 + px) * 3 + ch;
                                            dst[((ch * tp + t) * p + py) * p + px] =
                                                lut[ch][resized.data[s] as usize];
                                        }
                                    }
                                }
                            }
                            row += 1;
                        }
                    }
                }
            }
            grid_thw.push([1, gh, gw]);
        }
        Ok(PixelPatches {
            pixel_values,
            patch_dim: dim,
            grid_thw,
            merge_size: m,
        })
    }

    /// Loads and processes image files.
    pub fn process_files(&self, paths: &[&Path]) -> Result<PixelPatches> {
        let images = paths
            .iter()
            .map(|p| load_rgb_with(p, &self.limits))
            .collect::<Result<Vec<_>>>()?;
        self.process(&images)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smart_resize_rounds_half_to_even() {
        // 80/32 = 2.5 → 2, 48/32 = 1.5 → 2.
        assert_eq!(smart_resize(80, 48, 32, 0, 1 << 20).unwrap(), (64, 64));
        // 112/32 = 3.5 → 4.
        assert_eq!(smart_resize(112, 64, 32, 0, 1 << 20).unwrap(), (128, 64));
    }

    #[test]
    fn smart_resize_respects_bounds() {
        let (h, w) = smart_resize(4000, 3000, 32, 65_536, 1_000_000).unwrap();
        assert!(h * w <= 1_000_000 && h % 32 == 0 && w % 32 == 0);
        let (h, w) = smart_resize(10, 10, 32, 65_536, 16_777_216).unwrap();
        assert_eq!((h, w), (256, 256));
    }

    #[test]
    fn rejects_extreme_aspect_and_tiny_images() {
        let e = smart_resize(2, 500, 32, 4096, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("aspect ratio"), "{e}");
        let e = smart_resize(10, 10, 32, 0, 1 << 20).unwrap_err();
        assert!(e.to_string().contains("too small"), "{e}");
        assert!(smart_resize(0, 10, 32, 0, 1 << 20).is_err());
    }

    #[test]
    fn bicubic_keeps_constant_images_and_identity() {
        let img = RgbImage::new(7, 5, [10u8, 200, 255].repeat(35)).unwrap();
        let up = resize_bicubic(&img, 19, 13);
        assert!(up.data.chunks(3).all(|p| p == [10, 200, 255]));
        let down = resize_bicubic(&img, 3, 2);
        assert!(down.data.chunks(3).all(|p| p == [10, 200, 255]));
        assert_eq!(resize_bicubic(&img, 7, 5), img);
    }

    #[test]
    fn pass_order_follows_pillow_13() {
        assert!(!PassOrder::Pillow13.horizontal_first(48, 80, 64, 64));
        assert!(PassOrder::Pillow13.horizontal_first(200, 300, 64, 128));
        assert!(PassOrder::HorizontalFirst.horizontal_first(48, 80, 64, 64));
        let data: Vec<u8> = (0..48 * 80 * 3).map(|i| (i * 37 % 251) as u8).collect();
        let img = RgbImage::new(48, 80, data).unwrap();
        let a = resize_bicubic_with(&img, 64, 64, PassOrder::Pillow13);
        let b = resize_bicubic_with(&img, 64, 64, PassOrder::HorizontalFirst);
        assert_ne!(a, b);
    }

    #[test]
    fn patch_order_matches_transformers() {
        // A 32x32 image whose red channel encodes the column and green the row.
        let mut data = Vec::new();
        for y in 0..32u8 {
            for x in 0..32u8 {
                data.extend([x, y, 0]);
            }
        }
        let img = RgbImage::new(32, 32, data).unwrap();
        let cfg = ImageProcessorConfig {
            min_pixels: 0,
            do_rescale: false,
            do_normalize: false,
            ..Default::default()
        };
        let out = ImageProcessor::new(cfg).process(&[img]).unwrap();
        assert_eq!(out.grid_thw, vec![[1, 2, 2]]);
        assert_eq!(out.image_tokens(), vec![1]);
        let d = out.patch_dim;
        // Patch 1 is the top-right 16x16 tile; column 0 of channel 0 is its (0, 0) pixel.
        assert_eq!(out.pixel_values[d], 16.0);
        // Patch 2 is bottom-left: green (channel 1) at (0, 0) is row 16; frame 1 duplicates 0.
        let g = 2 * d + 2 * 256;
        assert_eq!(out.pixel_values[g], 16.0);
        assert_eq!(out.pixel_values[g + 256], 16.0);
        // Row 3, col 5 of patch 3, channel 0 → x = 16 + 5.
        assert_eq!(out.pixel_values[3 * d + 3 * 16 + 5], 21.0);
    }

    #[test]
    fn config_reads_both_key_styles() {
        let a = ImageProcessorConfig::from_json(
            r#"{"min_pixels": 100, "max_pixels": 2000, "patch_size": 14}"#,
            "a",
        )
        .unwrap();
        assert_eq!((a.min_pixels, a.max_pixels, a.patch_size), (100, 2000, 14));
        let b = ImageProcessorConfig::from_json(
            r#"{"size": {"shortest_edge": 300, "longest_edge": 4000}, "image_mean": [0.1, 0.2, 0.3]}"#,
            "b",
        )
        .unwrap();
        assert_eq!((b.min_pixels, b.max_pixels), (300, 4000));
        assert_eq!(b.image_mean, [0.1, 0.2, 0.3]);
        assert!(ImageProcessorConfig::from_json(r#"{"image_std": [1, 2]}"#, "c").is_err());
    }
}
