//! Where an image comes from: a file on disk or bytes embedded in a dataset.
use std::path::{Path, PathBuf};

use crate::error::DataError;

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

    /// Decodes the image to 8-bit RGB, as an image loader would before preprocessing.
    pub fn decode(&self) -> Result<image::RgbImage, DataError> {
        let bytes = self.read_bytes()?;
        let what = self.name().unwrap_or("<embedded image>").to_string();
        let img = image::load_from_memory(&bytes).map_err(|e| DataError::Image {
            image: what,
            message: e.to_string(),
        })?;
        Ok(img.to_rgb8())
    }
}
