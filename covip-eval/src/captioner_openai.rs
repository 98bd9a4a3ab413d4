//! Captioning through an OpenAI-compatible server (vLLM, `covip serve`): the same
//! conversation as `LocalCaptioner` (SPEC §3's caption prompt with the "New Image"
//! header, images where the prompt puts them), sent as one chat request per sample with the
//! images as `data:` URLs. Re-exported from [`crate::captioner`].
//!
//! The local captioner renders the checkpoint's chat template with `add_vision_id` (the
//! "Picture N: " labels); over the wire that is vLLM's `chat_template_kwargs`, which this
//! captioner sends so that a server with the same checkpoint sees the same prompt tokens.
use covip_data::Sample;
use covip_data::image::ImageRef;
use covip_data::prompt::{Message, Part, QueryHeader, Role, Templates, caption_prompt};
use covip_rl::openai::{
    ChatClient, ChatMessage, ChatRequest, ChatRole, ContentPart, MessageContent, OpenAiError,
    image_data_url, image_file_data_url,
};
use serde_json::{Map, Value};

use crate::captioner::{CaptionError, Captioner};

/// Settings of the OpenAI-compatible captioner. `Default`: greedy (temperature 0), 512 new
/// tokens at most (as `LocalCaptionOptions`), 8 requests in flight, "Picture N: "
/// labels on.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiCaptionOptions {
    /// `max_tokens` of each request.
    pub max_tokens: u32,
    /// Requests in flight at once; also [`Captioner::batch_size`], so a run hands over this
    /// many samples per call.
    pub concurrency: usize,
    /// 0 is greedy decoding, the captions a local run gives.
    pub temperature: f64,
    /// Sent when set (matters only when sampling).
    pub seed: Option<u64>,
    /// Sends `chat_template_kwargs: {"add_vision_id": true}` (the local captioner's labels).
    /// Off for a server whose template does not take it.
    pub add_vision_id: bool,
}

impl Default for OpenAiCaptionOptions {
    fn default() -> Self {
        OpenAiCaptionOptions {
            max_tokens: 512,
            concurrency: 8,
            temperature: 0.0,
            seed: None,
            add_vision_id: true,
        }
    }
}

/// Captions with a model behind an OpenAI-compatible `/chat/completions` endpoint.
///
/// ```no_run
/// use covip_eval::captioner::{OpenAiCaptionOptions, OpenAiCaptioner};
/// use covip_rl::openai::{ChatClient, ChatClientConfig};
/// let client = ChatClient::new(ChatClientConfig {
///     base_url: "http://127.0.0.1:8000/v1".into(),
///     ..Default::default()
/// });
/// let captioner = OpenAiCaptioner::new(client, OpenAiCaptionOptions::default()).unwrap();
/// ```
pub struct OpenAiCaptioner {
    client: ChatClient,
    options: OpenAiCaptionOptions,
    templates: Templates,
}

impl std::fmt::Debug for OpenAiCaptioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCaptioner")
            .field("client", &self.client)
            .field("options", &self.options)
            .finish()
    }
}

impl OpenAiCaptioner {
    /// Checks the options; nothing is sent yet.
    pub fn new(client: ChatClient, options: OpenAiCaptionOptions) -> Result<Self, CaptionError> {
        if options.concurrency == 0 {
            return Err(CaptionError::Invalid(
                "the concurrency must be at least 1".into(),
            ));
        }
        if options.max_tokens == 0 {
            return Err(CaptionError::Invalid(
                "max_tokens must be at least 1".into(),
            ));
        }
        if !(options.temperature.is_finite() && options.temperature >= 0.0) {
            return Err(CaptionError::Invalid(format!(
                "the temperature must be a finite number ≥ 0, not {}",
                options.temperature
            )));
        }
        Ok(OpenAiCaptioner {
            client,
            options,
            templates: Templates::default(),
        })
    }

    pub fn client(&self) -> &ChatClient {
        &self.client
    }

    pub fn options(&self) -> &OpenAiCaptionOptions {
        &self.options
    }

    /// The chat request for one sample: its caption conversation, images read and inlined
    /// as data URLs.
    pub fn request(&self, sample: &Sample) -> Result<ChatRequest, CaptionError> {
        let conversation = caption_prompt(
            &sample.context,
            &sample.query,
            QueryHeader::NewImage,
            &self.templates,
        );
        let messages = conversation
            .iter()
            .map(|m| chat_message(sample, m))
            .collect::<Result<Vec<_>, _>>()?;
        let chat_template_kwargs = self.options.add_vision_id.then(|| {
            let mut kwargs = Map::new();
            kwargs.insert("add_vision_id".into(), Value::Bool(true));
            kwargs
        });
        Ok(ChatRequest {
            messages,
            temperature: Some(self.options.temperature),
            max_tokens: Some(self.options.max_tokens),
            seed: self.options.seed,
            chat_template_kwargs,
            ..Default::default()
        })
    }
}

/// One covip-data message as an OpenAI message of text and image parts, in order.
fn chat_message(sample: &Sample, message: &Message) -> Result<ChatMessage, CaptionError> {
    let role = match message.role {
        Role::System => ChatRole::System,
        Role::User => ChatRole::User,
        Role::Assistant => ChatRole::Assistant,
    };
    let parts = message
        .parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => Ok(ContentPart::text(t.clone())),
            Part::Image(image) => image_part(sample, image),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ChatMessage {
        role,
        content: MessageContent::Parts(parts),
    })
}

/// A data-URL image part; files are read with covip-rl's size bound.
fn image_part(sample: &Sample, image: &ImageRef) -> Result<ContentPart, CaptionError> {
    let url = match image {
        ImageRef::Path(p) => image_file_data_url(p),
        ImageRef::Embedded { bytes, .. } => image_data_url(bytes),
    };
    url.map(ContentPart::image_url)
        .map_err(|e| remote_error(&[sample], e))
}

fn remote_error(samples: &[&Sample], source: OpenAiError) -> CaptionError {
    CaptionError::Remote {
        samples: samples.iter().map(|s| s.id.clone()).collect(),
        source,
    }
}

impl Captioner for OpenAiCaptioner {
    fn batch_size(&self) -> usize {
        self.options.concurrency
    }

    fn caption(&mut self, samples: &[&Sample]) -> Result<Vec<String>, CaptionError> {
        let requests = samples
            .iter()
            .map(|s| self.request(s))
            .collect::<Result<Vec<_>, _>>()?;
        let answers = self.client.chat_many(&requests, self.options.concurrency);
        samples
            .iter()
            .zip(answers)
            .map(|(s, answer)| {
                let response = answer.map_err(|e| remote_error(&[s], e))?;
                match response.choices.first().and_then(|c| c.content.as_deref()) {
                    Some(text) => Ok(text.trim().to_string()),
                    None => Err(remote_error(
                        &[s],
                        OpenAiError::Response {
                            url: self.client.chat_url().to_string(),
                            message: "the first choice has no text content".into(),
                        },
                    )),
                }
            })
            .collect()
    }
}
