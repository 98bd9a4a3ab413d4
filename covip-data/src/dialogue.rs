//! Dialogues about a concept image, with the metadata the diagnostic sets check.
use serde::{Deserialize, Serialize};

/// Who speaks a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    User,
    Assistant,
}

impl Speaker {
    pub fn label(self) -> &'static str {
        match self {
            Speaker::User => "User",
            Speaker::Assistant => "Assistant",
        }
    }
}

/// One turn of a dialogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    pub speaker: Speaker,
    pub text: String,
}

/// A dialogue about one concept image. The released formats store only the rendered text
/// (`render`); `date` and `place` are the facts the diagnostic sets verify.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dialogue {
    pub turns: Vec<Turn>,
    /// ISO date (`YYYY-MM-DD`) the dialogue states, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Place the dialogue states, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
}

impl Dialogue {
    /// Builds a dialogue from alternating user/assistant texts, user first.
    pub fn alternating<S: AsRef<str>>(texts: &[S]) -> Dialogue {
        let turns = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Turn {
                speaker: if i % 2 == 0 {
                    Speaker::User
                } else {
                    Speaker::Assistant
                },
                text: t.as_ref().to_string(),
            })
            .collect();
        Dialogue {
            turns,
            date: None,
            place: None,
        }
    }

    /// The dialogue as the released formats store it: one `Speaker: text` line per turn.
    pub fn render(&self) -> String {
        self.turns
            .iter()
            .map(|t| format!("{}: {}", t.speaker.label(), t.text))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Appends a sentence to the last turn (LAR actions and ITR instructions go there).
    pub fn append_to_last_turn(&mut self, sentence: &str) {
        if let Some(last) = self.turns.last_mut() {
            if !last.text.is_empty() && !last.text.ends_with(' ') {
                last.text.push(' ');
            }
            last.text.push_str(sentence);
        } else {
            self.turns.push(Turn {
                speaker: Speaker::User,
                text: sentence.to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_turns_in_order() {
        let mut d = Dialogue::alternating(&["Hi, this is Mina.", "Nice to meet Mina!"]);
        d.append_to_last_turn("Remember SKS.");
        assert_eq!(
            d.render(),
            "User: Hi, this is Mina.\nAssistant: Nice to meet Mina! Remember SKS."
        );
    }
}
