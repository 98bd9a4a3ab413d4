//! `tokenizer.json` through the tokenizers crate, with NFC applied first as Qwen's does.
use std::path::{Path, PathBuf};

use unicode_normalization::UnicodeNormalization;

use crate::error::{ModelError, Result};

pub struct QwenTokenizer {
    inner: tokenizers::Tokenizer,
    pub path: PathBuf,
}

impl QwenTokenizer {
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(ModelError::Tokenizer {
                path: path.display().to_string(),
                msg: "file not found".into(),
            });
        }
        let err = |msg: String| ModelError::Tokenizer {
            path: path.display().to_string(),
            msg,
        };
        // tokenizers 0.22 panics on some malformed `decoder` sections instead of returning an
        // error: a damaged file must be an error here, not a crash.
        let inner = std::panic::catch_unwind(|| tokenizers::Tokenizer::from_file(path))
            .map_err(|_| err("malformed tokenizer file (the tokenizers crate panicked)".into()))?
            .map_err(|e| err(e.to_string()))?;
        Ok(Self {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// `dir/tokenizer.json`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        Self::from_file(&dir.join("tokenizer.json"))
    }

    /// Token ids of `text`; special tokens written in the text (`<|im_start|>`, …) become their
    /// ids; nothing is added around the text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let nfc: String = text.nfc().collect();
        let enc = self.inner.encode(nfc, false).map_err(|e| self.err(e))?;
        Ok(enc.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| self.err(e))
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Tokens the tokenizer knows, added tokens included (may be below the model's vocab).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    fn err(&self, e: impl std::fmt::Display) -> ModelError {
        ModelError::Tokenizer {
            path: self.path.display().to_string(),
            msg: e.to_string(),
        }
    }
}
