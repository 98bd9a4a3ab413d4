//! Turning messages into token ids: chat template, image placeholders, tokenizer.
pub mod chat;
pub mod image;
pub mod tokenizer;

use std::path::Path;

use covip_data::prompt::Message;

use crate::config::{GenerationConfig, Qwen3VlConfig, stop_ids};
use crate::error::{ModelError, Result};
pub use chat::{ChatTemplate, RenderOptions, expand_image_pads, render_builtin};
pub use tokenizer::QwenTokenizer;

/// Tokenizer + chat template + the ids generation needs, read from a checkpoint folder.
pub struct Processor {
    pub tokenizer: QwenTokenizer,
    pub template: Option<ChatTemplate>,
    /// The image placeholder token's text (`<|image_pad|>` in released models).
    pub image_pad: String,
    pub stop_ids: Vec<u32>,
    pub pad_id: u32,
    pub generation: GenerationConfig,
}

impl Processor {
    pub fn from_dir(dir: &Path, cfg: &Qwen3VlConfig) -> Result<Self> {
        let tokenizer = QwenTokenizer::from_dir(dir)?;
        let template = ChatTemplate::from_dir(dir)?;
        let generation = GenerationConfig::from_dir(dir)?;
        let image_pad = match cfg.tokens.image_token_id {
            Some(id) => tokenizer
                .id_to_token(id)
                .ok_or_else(|| ModelError::Tokenizer {
                    path: tokenizer.path.display().to_string(),
                    msg: format!("config.json's image_token_id {id} is not in the tokenizer"),
                })?,
            None => "<|image_pad|>".to_string(),
        };
        let stop = stop_ids(cfg, &generation);
        let pad_id = generation
            .pad_token_id
            .or(cfg.tokens.pad_token_id)
            .or_else(|| stop.last().copied())
            .unwrap_or(0);
        Ok(Self {
            tokenizer,
            template,
            image_pad,
            stop_ids: stop,
            pad_id,
            generation,
        })
    }

    /// Renders `messages` (template if the folder has one, else the built-in Qwen format).
    pub fn render(&self, messages: &[Message], opts: RenderOptions) -> Result<String> {
        match &self.template {
            Some(t) => t.render(messages, opts),
            None => Ok(render_builtin(messages, opts)),
        }
    }

    /// Renders, expands each image to `image_tokens[i]` placeholders, and tokenises.
    pub fn encode_chat(
        &self,
        messages: &[Message],
        image_tokens: &[usize],
        opts: RenderOptions,
    ) -> Result<Vec<u32>> {
        let text = self.render(messages, opts)?;
        let text = expand_image_pads(&text, &self.image_pad, image_tokens)?;
        self.tokenizer.encode(&text)
    }
}
