//! Who answers the diagnostic conversations: the [`Generator`] seam, its sampling settings,
//! and the OpenAI-compatible endpoint implementation ([`EndpointGenerator`]). The local burn
//! model implementation is `super::local::LocalGenerator` (feature `model`).
use covip_data::ImageRef;
use covip_data::prompt::{Message, Part, Role};
use covip_data::pystr;
use covip_rl::openai::{
    ChatClient, ChatMessage, ChatRequest, ChatRole, ContentPart, MessageContent,
};
use serde::Serialize;

/// Sampling of one generation. [`GenParams::caption`] and [`GenParams::answer`] are the
/// released scripts' settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenParams {
    /// 0 is greedy decoding (the other sampling fields then do not matter).
    pub temperature: f64,
    /// `None` disables top-k.
    pub top_k: Option<u32>,
    pub top_p: f64,
    /// vLLM/OpenAI meaning: subtracted once from every token already generated.
    pub presence_penalty: f64,
    /// transformers/vLLM multiplicative penalty; 1 disables.
    pub repetition_penalty: f64,
    pub max_tokens: u32,
}

impl GenParams {
    /// CAG's caption (the released `SamplingParams(temperature=0, max_tokens=1024)`): greedy,
    /// up to 1024 tokens.
    pub fn caption() -> GenParams {
        GenParams {
            temperature: 0.0,
            top_k: None,
            top_p: 1.0,
            presence_penalty: 0.0,
            repetition_penalty: 1.0,
            max_tokens: 1024,
        }
    }

    /// Every answering conversation: temperature 0.7, top-k 20, top-p 0.8, presence penalty
    /// 1.5, repetition penalty 1.0, up to 1024 tokens.
    pub fn answer() -> GenParams {
        GenParams {
            temperature: 0.7,
            top_k: Some(20),
            top_p: 0.8,
            presence_penalty: 1.5,
            repetition_penalty: 1.0,
            max_tokens: 1024,
        }
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }
}

/// One conversation to answer.
#[derive(Clone, Copy, Debug)]
pub struct GenerationRequest<'a> {
    /// The sample's 0-based index in the dataset (for error messages).
    pub index: usize,
    pub messages: &'a [Message],
    pub params: &'a GenParams,
    /// The sampling seed of this request (ignored by greedy decoding).
    pub seed: u64,
}

/// Answers conversations (text and images) with text. The runner hands over at most
/// [`Generator::batch_size`] requests per call and keeps every answer in its log at once.
pub trait Generator {
    /// Who generates (model name, or checkpoint folder): part of the key under which answers
    /// are kept, so a rerun with another model generates again.
    fn identity(&self) -> String;

    /// Most requests one [`Generator::generate`] call takes.
    fn batch_size(&self) -> usize {
        1
    }

    /// One result per request, in order: the answer's text (the runner strips it), or why it
    /// failed.
    fn generate(&mut self, requests: &[GenerationRequest<'_>]) -> Vec<Result<String, String>>;
}

/// A model behind an OpenAI-compatible chat endpoint (vLLM, `covip serve`): each request is
/// one chat completion with its images as data URLs, the chat template asked to number them
/// (`chat_template_kwargs: {"add_vision_id": true}`, the "Picture N: " labels), and the
/// sampling of [`GenParams`] plus a seed.
pub struct EndpointGenerator {
    client: ChatClient,
    model: String,
    concurrency: usize,
}

impl EndpointGenerator {
    /// `client`'s model (the configured one, else the first the server lists) answers, with at
    /// most `concurrency` requests in flight.
    pub fn new(client: ChatClient, concurrency: usize) -> Result<EndpointGenerator, String> {
        let model = client
            .model()
            .map_err(|e| format!("{}: {e}", client.base_url()))?;
        Ok(EndpointGenerator {
            client,
            model,
            concurrency: concurrency.max(1),
        })
    }

    /// The served model that answers.
    pub fn model(&self) -> &str {
        &self.model
    }

    fn request(&self, r: &GenerationRequest<'_>) -> Result<ChatRequest, String> {
        let p = r.params;
        let mut kwargs = serde_json::Map::new();
        kwargs.insert("add_vision_id".into(), serde_json::Value::Bool(true));
        Ok(ChatRequest {
            model: Some(self.model.clone()),
            messages: to_chat_messages(r.messages)?,
            temperature: Some(p.temperature),
            top_p: (!p.is_greedy()).then_some(p.top_p),
            top_k: if p.is_greedy() {
                None
            } else {
                p.top_k.map(|k| k.min(i32::MAX as u32) as i32)
            },
            presence_penalty: (p.presence_penalty != 0.0).then_some(p.presence_penalty),
            repetition_penalty: (p.repetition_penalty != 1.0).then_some(p.repetition_penalty),
            max_tokens: Some(p.max_tokens),
            seed: (!p.is_greedy()).then_some(r.seed),
            chat_template_kwargs: Some(kwargs),
            ..Default::default()
        })
    }
}

impl Generator for EndpointGenerator {
    fn identity(&self) -> String {
        format!("endpoint:{}", self.model)
    }

    fn batch_size(&self) -> usize {
        self.concurrency
    }

    fn generate(&mut self, requests: &[GenerationRequest<'_>]) -> Vec<Result<String, String>> {
        let built: Vec<Result<ChatRequest, String>> =
            requests.iter().map(|r| self.request(r)).collect();
        let ready: Vec<ChatRequest> = built.iter().filter_map(|b| b.clone().ok()).collect();
        let mut answers = self
            .client
            .chat_many(&ready, self.concurrency)
            .into_iter()
            .map(|r| {
                r.map(|resp| resp.text().to_string())
                    .map_err(|e| e.to_string())
            });
        built
            .into_iter()
            .map(|b| match b {
                Ok(_) => answers
                    .next()
                    .unwrap_or_else(|| Err("the client returned too few answers".into())),
                Err(e) => Err(e),
            })
            .collect()
    }
}

/// The chat API's form of a conversation: text-only turns as plain strings, turns with images
/// as typed parts (each image a data URL of its encoded bytes).
pub fn to_chat_messages(messages: &[Message]) -> Result<Vec<ChatMessage>, String> {
    messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::System => ChatRole::System,
                Role::User => ChatRole::User,
                Role::Assistant => ChatRole::Assistant,
            };
            if m.images().next().is_none() {
                return Ok(ChatMessage::text(role, m.flat_text()));
            }
            let parts = m
                .parts
                .iter()
                .map(|p| match p {
                    Part::Text(t) => Ok(ContentPart::text(t.clone())),
                    Part::Image(img) => image_part(img),
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(ChatMessage {
                role,
                content: MessageContent::Parts(parts),
            })
        })
        .collect()
}

fn image_part(img: &ImageRef) -> Result<ContentPart, String> {
    let name = img.name().unwrap_or("embedded image");
    let bytes = img.read_bytes().map_err(|e| e.to_string())?;
    ContentPart::image_bytes(&bytes).map_err(|e| format!("{name}: {e}"))
}

/// A generated text as the released scripts keep it (`.strip()`).
pub(crate) fn clean(text: &str) -> String {
    pystr::strip(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_sampling() {
        let a = GenParams::answer();
        assert_eq!(
            (
                a.temperature,
                a.top_k,
                a.top_p,
                a.presence_penalty,
                a.repetition_penalty,
                a.max_tokens
            ),
            (0.7, Some(20), 0.8, 1.5, 1.0, 1024)
        );
        let c = GenParams::caption();
        assert!(c.is_greedy());
        assert_eq!(c.max_tokens, 1024);
    }

    #[test]
    fn chat_messages_keep_roles_parts_and_order() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("a.png");
        std::fs::write(&png, b"\x89PNG\r\n\x1a\nrest").unwrap();
        let mut user = Message::new(Role::User);
        user.push_text("===== New Image =====\n");
        user.push_image(ImageRef::path(&png));
        user.push_text("Q?");
        let msgs = [
            Message::text(Role::System, "sys"),
            user,
            Message::text(Role::Assistant, "cap"),
        ];
        let chat = to_chat_messages(&msgs).unwrap();
        let v = serde_json::to_value(&chat).unwrap();
        assert_eq!(
            v[0],
            serde_json::json!({"role": "system", "content": "sys"})
        );
        assert_eq!(v[1]["content"][0]["text"], "===== New Image =====\n");
        assert!(
            v[1]["content"][1]["image_url"]["url"]
                .as_str()
                .unwrap()
                .starts_with("data:image/png;base64,")
        );
        assert_eq!(v[1]["content"][2]["text"], "Q?");
        assert_eq!(v[2]["content"], "cap");
        let missing = [{
            let mut m = Message::new(Role::User);
            m.push_image(ImageRef::path(dir.path().join("nope.png")));
            m
        }];
        let e = to_chat_messages(&missing).unwrap_err();
        assert!(e.contains("nope.png"), "{e}");
    }
}
