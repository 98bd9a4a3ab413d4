//! A model-agnostic conversation: roles, turns, and text and image parts in order.
use crate::image::ImageRef;

/// Who speaks a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// The name chat templates use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One piece of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Image(ImageRef),
}

/// One turn: a role and its parts in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
}

impl Message {
    pub fn new(role: Role) -> Message {
        Message {
            role,
            parts: Vec::new(),
        }
    }

    /// A message holding one text part.
    pub fn text(role: Role, text: impl Into<String>) -> Message {
        Message {
            role,
            parts: vec![Part::Text(text.into())],
        }
    }

    /// Appends text, merging with a preceding text part so adjacent texts stay one part.
    pub fn push_text(&mut self, text: impl AsRef<str>) -> &mut Self {
        let text = text.as_ref();
        if text.is_empty() {
            return self;
        }
        if let Some(Part::Text(prev)) = self.parts.last_mut() {
            prev.push_str(text);
        } else {
            self.parts.push(Part::Text(text.to_string()));
        }
        self
    }

    pub fn push_image(&mut self, image: ImageRef) -> &mut Self {
        self.parts.push(Part::Image(image));
        self
    }

    /// The images of this message, in order.
    pub fn images(&self) -> impl Iterator<Item = &ImageRef> {
        self.parts.iter().filter_map(|p| match p {
            Part::Image(i) => Some(i),
            Part::Text(_) => None,
        })
    }

    /// All text parts joined, images shown as `<image>` (for logs and tests).
    pub fn flat_text(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Image(_) => "<image>",
            })
            .collect()
    }
}

/// The images of a whole conversation, in order.
pub fn conversation_images(messages: &[Message]) -> Vec<&ImageRef> {
    messages.iter().flat_map(Message::images).collect()
}
