//! Decoding PNG and JPEG files to 8-bit RGB as Pillow's `Image.open(...).convert("RGB")` does,
//! with the pixel count held to a cap: the one image decoder of covip (`data inspect
//! --check-images` and the model's image processor accept the same files).
//!
//! JPEGs go through [`super::jpeg`] (libjpeg-turbo-exact pixels); other JPEG variants and PNGs
//! through the image crate, with its [`image::Limits`] set from the same cap before decoding.
//! RGB conversion: grey is replicated, palettes are looked up, alpha is dropped (not
//! composited onto a background), 16-bit samples are scaled to 8 bits.
use std::io::Cursor;

use image::{ImageDecoder, ImageReader, RgbImage};

use super::jpeg::{self, JpegError};
use crate::error::DataError;

/// Pillow's decompression-bomb limit, `PIL.Image.MAX_IMAGE_PIXELS` (1024 · 1024 · 1024 / 4 / 3).
pub const PILLOW_MAX_IMAGE_PIXELS: u64 = 89_478_485;

/// Bounds on what a decode may allocate.
///
/// Pillow warns above `MAX_IMAGE_PIXELS` and raises above twice that; covip refuses anything
/// above `max_pixels`, Pillow's warning threshold by default, so a file that Pillow would open
/// only with a `DecompressionBombWarning` needs a raised cap here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest `width · height` accepted; checked from the header, before any pixel buffer
    /// is allocated.
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_pixels: PILLOW_MAX_IMAGE_PIXELS,
        }
    }
}

impl DecodeLimits {
    /// Bytes the image crate may allocate: the largest decoded buffer (RGBA, 16 bits per
    /// sample) at the cap, plus room for the decoder's own tables.
    fn max_alloc(&self) -> u64 {
        self.max_pixels.saturating_mul(8).saturating_add(1 << 20)
    }
}

/// Decodes PNG or JPEG `bytes` to RGB. `origin` names the image in errors, which say what is
/// wrong (an invalid header field, a size over `limits`, an unsupported format).
pub fn decode_rgb(
    bytes: &[u8],
    origin: &str,
    limits: &DecodeLimits,
) -> Result<RgbImage, DataError> {
    let fail = |message: String| DataError::Image {
        image: origin.to_string(),
        message,
    };
    if jpeg::is_jpeg(bytes) {
        match jpeg::decode(bytes, limits.max_pixels) {
            Ok(d) => {
                let (w, h) = (d.width as u32, d.height as u32);
                return RgbImage::from_raw(w, h, d.rgb)
                    .ok_or_else(|| fail(format!("decoded {w}x{h} buffer has the wrong size")));
            }
            Err(JpegError::Refused(m)) => return Err(fail(format!("JPEG: {m}"))),
            Err(JpegError::Unsupported) => {}
        }
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| fail(e.to_string()))?;
    match reader.format() {
        Some(image::ImageFormat::Png | image::ImageFormat::Jpeg) => {}
        Some(f) => {
            return Err(fail(format!(
                "{f:?} images are not supported (PNG and JPEG only)"
            )));
        }
        None => {
            return Err(fail(
                "not a PNG or JPEG file (the only formats supported)".to_string(),
            ));
        }
    }
    let mut reader = reader;
    let side = u32::try_from(limits.max_pixels).unwrap_or(u32::MAX);
    let mut l = image::Limits::default();
    l.max_image_width = Some(side);
    l.max_image_height = Some(side);
    l.max_alloc = Some(limits.max_alloc());
    reader.limits(l);
    let decoder = reader.into_decoder().map_err(|e| fail(e.to_string()))?;
    let (w, h) = decoder.dimensions();
    let pixels = w as u64 * h as u64;
    if pixels > limits.max_pixels {
        return Err(fail(format!(
            "the image is {w}x{h} = {pixels} pixels, more than the limit of {} (raise \
             DecodeLimits::max_pixels to accept it)",
            limits.max_pixels
        )));
    }
    if decoder.total_bytes() > limits.max_alloc() {
        return Err(fail(format!(
            "decoding needs {} bytes, more than the limit of {}",
            decoder.total_bytes(),
            limits.max_alloc()
        )));
    }
    let img = image::DynamicImage::from_decoder(decoder).map_err(|e| fail(e.to_string()))?;
    Ok(img.to_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small JPEG made by the image crate's encoder (baseline, 4:2:0).
    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 9) as u8, (y * 7) as u8, 90]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .encode_image(&img)
            .unwrap();
        out
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    /// Offset of the first `FF marker` header segment (walking the segments from SOI).
    fn find(bytes: &[u8], marker: u8) -> usize {
        let mut pos = 2;
        while bytes[pos] == 0xFF && bytes[pos + 1] != marker {
            pos += 2 + u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]) as usize;
        }
        assert_eq!(
            bytes[pos..pos + 2],
            [0xFF, marker],
            "no marker {marker:02X}"
        );
        pos
    }

    fn err(bytes: &[u8], limits: &DecodeLimits) -> String {
        decode_rgb(bytes, "pic.jpg", limits)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn decodes_both_formats() {
        let l = DecodeLimits::default();
        // The encoder's baseline JPEG goes through the libjpeg-exact decoder, no fallback.
        assert!(jpeg::decode(&jpeg(33, 20), l.max_pixels).is_ok());
        let a = decode_rgb(&jpeg(33, 20), "a.jpg", &l).unwrap();
        assert_eq!(a.dimensions(), (33, 20));
        let b = decode_rgb(&png(5, 4), "b.png", &l).unwrap();
        assert_eq!(b.get_pixel(4, 3).0, [4, 3, 7]);
    }

    #[test]
    fn cap_applies_to_jpeg_and_png() {
        let l = DecodeLimits { max_pixels: 100 };
        let e = err(&jpeg(11, 10), &l);
        assert!(
            e.contains("pic.jpg") && e.contains("11x10 = 110 pixels"),
            "{e}"
        );
        let e = err(&png(11, 10), &l);
        assert!(e.contains("110 pixels"), "{e}");
        assert!(decode_rgb(&png(10, 10), "p", &l).is_ok());
    }

    #[test]
    fn corrupt_headers_give_clear_errors() {
        let l = DecodeLimits::default();
        let good = jpeg(24, 16);
        // SOS: DC table selector 15 of the first component (the old 4-entry index panic).
        let mut b = good.clone();
        let sos = find(&b, 0xDA);
        b[sos + 6] = 0xF0;
        let e = err(&b, &l);
        assert!(e.contains("selects Huffman tables DC 15"), "{e}");
        // SOF: precision 9.
        let mut b = good.clone();
        let sof = find(&b, 0xC0);
        b[sof + 4] = 9;
        assert!(err(&b, &l).contains("precision 9"));
        // DQT: table id 5.
        let mut b = good.clone();
        let dqt = find(&b, 0xDB);
        b[dqt + 4] = 0x05;
        assert!(err(&b, &l).contains("table id 5"));
        // DHT: class 3.
        let mut b = good.clone();
        let dht = find(&b, 0xC4);
        b[dht + 4] = 0x30;
        assert!(err(&b, &l).contains("class 3"));
        // Not an image at all.
        assert!(err(b"GIF89a....", &l).contains("Gif images are not supported"));
        assert!(err(b"plain text", &l).contains("not a PNG or JPEG"));
    }

    #[test]
    fn png_header_damage_is_an_error() {
        let l = DecodeLimits::default();
        let mut b = png(6, 6);
        // IHDR width (bytes 16..20) set to 2^31 - 1: a CRC error or a limit error, no panic.
        b[16..20].copy_from_slice(&0x7FFF_FFFFu32.to_be_bytes());
        assert!(decode_rgb(&b, "p.png", &l).is_err());
    }
}
