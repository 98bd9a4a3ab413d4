//! Where an image comes from (a file on disk or bytes embedded in a dataset) and, with the
//! `images` feature, the one decoder that turns it into RGB ([`decode_rgb`]).
#[cfg(feature = "images")]
mod decode;
#[cfg(feature = "images")]
mod jpeg;

use std::path::{Path, PathBuf};

use crate::error::DataError;
#[cfg(feature = "images")]
pub use decode::{DecodeLimits, PILLOW_MAX_IMAGE_PIXELS, decode_rgb};

/// A reference to an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRef {
    /// A PNG/JPEG file; relative paths are resolved by the caller against the dataset's folder.
    Path(PathBuf),
    /// Encoded bytes carried inside a dataset (Hugging Face `{bytes, path}` image struct).
    Embedded {
        bytes: Vec<u8>,
        /// The original file name, when the dataset kept one.
        path: Option<String>,
    },
}

impl ImageRef {
    /// A path reference.
    pub fn path(p: impl Into<PathBuf>) -> ImageRef {
        ImageRef::Path(p.into())
    }

    /// The path for a file reference, or the recorded name of embedded bytes.
    pub fn name(&self) -> Option<&str> {
        match self {
            ImageRef::Path(p) => p.to_str(),
            ImageRef::Embedded { path, .. } => path.as_deref(),
        }
    }

    /// Resolves a relative file path against `base` (embedded images are returned unchanged).
    pub fn resolved(&self, base: &Path) -> ImageRef {
        match self {
            ImageRef::Path(p) if p.is_relative() => ImageRef::Path(base.join(p)),
            other => other.clone(),
        }
    }

    /// Reads the encoded bytes (from disk for a path).
    pub fn read_bytes(&self) -> Result<Vec<u8>, DataError> {
        match self {
            ImageRef::Path(p) => std::fs::read(p).map_err(|source| DataError::Io {
                path: p.clone(),
                source,
            }),
            ImageRef::Embedded { bytes, .. } => Ok(bytes.clone()),
        }
    }

    /// Decodes the image to 8-bit RGB under the default [`DecodeLimits`] (see [`decode_rgb`]).
    #[cfg(feature = "images")]
    pub fn decode(&self) -> Result<image::RgbImage, DataError> {
        self.decode_with(&DecodeLimits::default())
    }

    /// Decodes the image to 8-bit RGB under `limits`, as the model's image processor does.
    #[cfg(feature = "images")]
    pub fn decode_with(&self, limits: &DecodeLimits) -> Result<image::RgbImage, DataError> {
        let bytes = self.read_bytes()?;
        decode_rgb(&bytes, self.name().unwrap_or("<embedded image>"), limits)
    }
}
