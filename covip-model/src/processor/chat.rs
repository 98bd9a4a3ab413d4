//! Chat rendering: the checkpoint's own Jinja template (minijinja, set up as transformers sets
//! up Jinja) or, without one, the built-in Qwen format; then image placeholder expansion.
use std::path::Path;

use covip_data::prompt::{Message, Part};
use serde_json::{Value, json};

use crate::error::{ModelError, Result};

/// Rendering switches, as `apply_chat_template` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    pub add_generation_prompt: bool,
    /// Prefix each image with "Picture N: ".
    pub add_vision_id: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            add_generation_prompt: true,
            add_vision_id: false,
        }
    }
}

/// A Jinja chat template.
pub struct ChatTemplate {
    pub source: String,
    env: minijinja::Environment<'static>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChatTemplate({} chars)", self.source.len())
    }
}

impl ChatTemplate {
    pub fn new(source: String) -> Result<Self> {
        let mut env = minijinja::Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        env.add_template_owned("chat", source.clone())
            .map_err(|e| ModelError::Template(format!("cannot parse: {e}")))?;
        Ok(Self { source, env })
    }

    /// Finds the template in `chat_template.jinja`, `chat_template.json` or
    /// `tokenizer_config.json` (first found wins); `None` when the folder has none.
    pub fn from_dir(dir: &Path) -> Result<Option<Self>> {
        let jinja = dir.join("chat_template.jinja");
        if jinja.exists() {
            let s = std::fs::read_to_string(&jinja).map_err(|e| ModelError::Io {
                path: jinja.display().to_string(),
                source: e,
            })?;
            return Self::new(s).map(Some);
        }
        for name in ["chat_template.json", "tokenizer_config.json"] {
            let p = dir.join(name);
            if !p.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&p).map_err(|e| ModelError::Io {
                path: p.display().to_string(),
                source: e,
            })?;
            let v: Value = serde_json::from_str(&text).map_err(|e| ModelError::Config {
                path: p.display().to_string(),
                msg: e.to_string(),
            })?;
            match v.get("chat_template") {
                Some(Value::String(s)) => return Self::new(s.clone()).map(Some),
                // A list of named templates: take "default".
                Some(Value::Array(list)) => {
                    if let Some(s) = list
                        .iter()
                        .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                        .and_then(|t| t.get("template"))
                        .and_then(Value::as_str)
                    {
                        return Self::new(s.to_string()).map(Some);
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// Renders the messages (images as `{"type": "image"}` parts, text as `{"type": "text"}`).
    pub fn render(&self, messages: &[Message], opts: RenderOptions) -> Result<String> {
        self.render_json(&messages_to_json(messages), opts)
    }

    /// Renders messages already in transformers' JSON shape.
    pub fn render_json(&self, messages: &Value, opts: RenderOptions) -> Result<String> {
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| ModelError::Template(e.to_string()))?;
        tmpl.render(minijinja::context! {
            messages => minijinja::Value::from_serialize(messages),
            add_generation_prompt => opts.add_generation_prompt,
            add_vision_id => opts.add_vision_id,
        })
        .map_err(|e| ModelError::Template(format!("render failed: {e}")))
    }
}

/// transformers' message shape: `{"role", "content": [{"type": "text", "text"} | {"type": "image"}]}`.
pub fn messages_to_json(messages: &[Message]) -> Value {
    Value::Array(
        messages
            .iter()
            .map(|m| {
                let content: Vec<Value> = m
                    .parts
                    .iter()
                    .map(|p| match p {
                        Part::Text(t) => json!({"type": "text", "text": t}),
                        Part::Image(_) => json!({"type": "image"}),
                    })
                    .collect();
                json!({"role": m.role.as_str(), "content": content})
            })
            .collect(),
    )
}

/// The Qwen chat format without a template file: optional system turn, then
/// `<|im_start|>{role}\n…<|im_end|>\n` per message, images as
/// `<|vision_start|><|image_pad|><|vision_end|>` (with "Picture N: " when asked).
pub fn render_builtin(messages: &[Message], opts: RenderOptions) -> String {
    let mut s = String::new();
    let mut n_img = 0;
    for m in messages {
        s.push_str("<|im_start|>");
        s.push_str(m.role.as_str());
        s.push('\n');
        for p in &m.parts {
            match p {
                Part::Text(t) => s.push_str(t),
                Part::Image(_) => {
                    n_img += 1;
                    if opts.add_vision_id {
                        s.push_str(&format!("Picture {n_img}: "));
                    }
                    s.push_str("<|vision_start|><|image_pad|><|vision_end|>");
                }
            }
        }
        s.push_str("<|im_end|>\n");
    }
    if opts.add_generation_prompt {
        s.push_str("<|im_start|>assistant\n");
    }
    s
}

/// Replaces the i-th `pad` in `text` by `counts[i]` copies (as the processor expands each
/// image to its merged-patch count). The number of pads must equal `counts.len()`.
pub fn expand_image_pads(text: &str, pad: &str, counts: &[usize]) -> Result<String> {
    let found = text.matches(pad).count();
    if found != counts.len() {
        return Err(ModelError::Input(format!(
            "prompt has {found} image placeholders but {} image token counts were given",
            counts.len()
        )));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    for &n in counts {
        let i = rest.find(pad).expect("counted above");
        out.push_str(&rest[..i]);
        for _ in 0..n {
            out.push_str(pad);
        }
        rest = &rest[i + pad.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_each_placeholder_by_its_count() {
        let t = "a<p>b<p>c";
        assert_eq!(expand_image_pads(t, "<p>", &[2, 0]).unwrap(), "a<p><p>bc");
        assert!(
            expand_image_pads(t, "<p>", &[1])
                .unwrap_err()
                .to_string()
                .contains("2 image placeholders")
        );
    }
}
