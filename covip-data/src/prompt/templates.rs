//! Prompt wording as replaceable templates. The defaults are our own words; any template can
//! be replaced from a JSON file (`{"caption_instruction": "..."}`) or a text file, so the exact
//! released wording can be dropped in to reproduce published numbers.
//!
//! Placeholders are written `{{name}}` so that literal braces (`\boxed{X}`) need no escaping.
use std::path::Path;

use crate::error::DataError;

macro_rules! templates {
    ($( $(#[$doc:meta])* $field:ident [$($ph:literal),*] = $default:expr; )*) => {
        /// Every prompt template. Field names are the keys of an override file.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct Templates {
            $( $(#[$doc])* pub $field: String, )*
        }

        impl Default for Templates {
            fn default() -> Self {
                Templates { $( $field: $default.to_string(), )* }
            }
        }

        impl Templates {
            /// Names of all templates.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];

            /// Placeholders each template must contain.
            pub fn placeholders(name: &str) -> Option<&'static [&'static str]> {
                match name {
                    $( stringify!($field) => Some(&[$($ph),*]), )*
                    _ => None,
                }
            }

            fn slot(&mut self, name: &str) -> Option<&mut String> {
                match name {
                    $( stringify!($field) => Some(&mut self.$field), )*
                    _ => None,
                }
            }

            /// The text of template `name`.
            pub fn get(&self, name: &str) -> Option<&str> {
                match name {
                    $( stringify!($field) => Some(&self.$field), )*
                    _ => None,
                }
            }
        }
    };
}

templates! {
    /// Header before each context entry of the captioning and downstream prompts.
    dialogue_header ["index"] = "===== Dialogue {{index}} =====\n";
    /// Header before the query image; `label` is `New Image`, `Query Image` or `Target Image`.
    query_header ["label"] = "===== {{label}} =====\n";
    /// Header before each concept image of the recognition prompt (0-based index).
    concept_header ["index"] = "===== Concept {{index}} =====\n";
    /// The captioning instruction after the query image.
    caption_instruction [] = CAPTION_INSTRUCTION;
    /// The recognition (`multi_vision`) instruction, placed before the query image.
    recognition_instruction [] = RECOGNITION_INSTRUCTION;
    /// The object-consistency (`vision`) question about two images.
    consistency_instruction ["name"] = CONSISTENCY_INSTRUCTION;
    /// The judge prompt: a description and one question block.
    judge [ "description", "question"] = JUDGE;
    /// One multiple-choice question as the judge sees it.
    judge_question ["question", "A", "B", "C", "D"] = "Question: {{question}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\n";
    /// The personalisation system turn: LAR and ITR asked directly, and ITR's second CAG
    /// conversation (LSD and LAR there take `caption_instruction` as their system turn).
    personalization_system [] = PERSONALIZATION_SYSTEM;
    /// LSD and ITR question (ITR asks it without `lsd_answer_format`).
    lsd_question [] = "Where did I last see the person in this new image?";
    /// Appended to the LSD question, with and without CAG: asks for the final answer inside
    /// `//boxed{...}`, the (double-slash) form the released LSD extraction looks for.
    lsd_answer_format [] = " Think it through, then write only the place as your final answer, in the form //boxed{place}.";
    /// LAR question.
    lar_question [] = "What was I doing the last time I mentioned the person in this new image?";
    /// The LAR judge's single user message: the LAR question, the reference
    /// (`User said "{last_action}"`) and the whole response; it answers Correct or Wrong.
    lar_judge ["question", "reference", "response"] = LAR_JUDGE;
}

const CAPTION_INSTRUCTION: &str = "The dialogues above are your memory of what this user has shared with you: each one pairs a picture with a conversation about a person, pet or object, with names, places, dates and events.

Describe the new image for this user, drawing on that memory.
- When someone or something from the dialogues appears in the new image, call it by the name the user gave it and bring in the remembered details that fit (where, when, what happened).
- Base the description on what the new image actually shows: the setting, the light, what each subject looks like and is doing now. Memory adds context; it never overrides what is visible.
- Leave out remembered people, pets and objects that do not appear in the new image.
- Write naturally, as to someone who shares these memories; do not copy the dialogues word for word.
- Answer with a single paragraph of prose.";

const RECOGNITION_INSTRUCTION: &str = "Each image above is one concept, numbered from 0 in the order shown. The final image below is the query.

Decide which of the concept images appear in the query image; it shows at most four of them, and the others are distractors.
Explain briefly, then give the final answer on its own line as

Answer: \\boxed{[i, j, ...]}

listing only the numbers of the concepts that appear, in square brackets.";

const CONSISTENCY_INSTRUCTION: &str = "Look at the two images. The object shown in the first image is called {{name}}. Is {{name}} also present in the second image? Answer yes or no.";

const JUDGE: &str = "Answer a multiple-choice question using only the description below. Treat the description as the only source of truth: no outside knowledge, no guesses beyond what it states.

- If the description clearly supports one of A, B or C, choose it.
- If it supports none of A, B or C, choose D.
- Give a short justification, then finish with a line of the form

Answer: \\boxed{X}

where X is exactly one of A, B, C or D.

[Description]
{{description}}

[Question]
{{question}}";

const PERSONALIZATION_SYSTEM: &str = "You remember what this user has told you in earlier dialogues about the people, pets and objects in their life, including names, places, dates and events. Use those memories to understand new images they share, but trust what the image shows over what you remember, and bring up only the memories that concern what is actually in the image.";

const LAR_JUDGE: &str = "Decide whether a model's answer agrees with a reference answer.

You get the question the model was asked, the reference answer, and the model's answer.
- The answer is Correct when it conveys the essential content of the reference, in any wording; extra details do not matter.
- The answer is Wrong when it misses that content, contradicts it, or stays too vague to convey the same action or experience.
- Judge only the meaning, not the style, length or fluency.

Reply with a single word: Correct or Wrong.

Question:
{{question}}

Reference answer:
{{reference}}

Model's answer:
{{response}}";

/// Fills `{{name}}` placeholders in one pass: inserted text is never scanned again, so a
/// description that happens to contain `{{question}}` stays as written. Unknown placeholders
/// are left as they are.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let hit = values.iter().find_map(|(k, v)| {
            tail.strip_prefix("{{")
                .and_then(|t| t.strip_prefix(k))
                .and_then(|t| t.strip_prefix("}}"))
                .map(|after| (v, after))
        });
        match hit {
            Some((v, after)) => {
                out.push_str(v);
                rest = after;
            }
            None => {
                out.push_str("{{");
                rest = &tail[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Templates {
    /// Replaces template `name` with `text`, checking that its placeholders are all there.
    pub fn set(&mut self, name: &str, text: String) -> Result<(), DataError> {
        let required = Templates::placeholders(name).ok_or_else(|| DataError::Template {
            name: name.to_string(),
            message: format!("unknown template; known: {}", Templates::NAMES.join(", ")),
        })?;
        for ph in required {
            if !text.contains(&format!("{{{{{ph}}}}}")) {
                return Err(DataError::Template {
                    name: name.to_string(),
                    message: format!("the replacement lacks the placeholder {{{{{ph}}}}}"),
                });
            }
        }
        *self.slot(name).expect("name checked") = text;
        Ok(())
    }

    /// Applies overrides from a JSON object `{template_name: text}`.
    pub fn override_from_json(&mut self, path: &Path) -> Result<(), DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| DataError::Template {
                name: path.display().to_string(),
                message: format!("not JSON: {e}"),
            })?;
        let serde_json::Value::Object(map) = value else {
            return Err(DataError::Template {
                name: path.display().to_string(),
                message: "expected an object {template_name: text}".into(),
            });
        };
        for (name, v) in map {
            let serde_json::Value::String(s) = v else {
                return Err(DataError::Template {
                    name: format!("{} in {}", name, path.display()),
                    message: "the template text must be a string".into(),
                });
            };
            self.set(&name, s)?;
        }
        Ok(())
    }

    /// Replaces one template with the contents of a text file.
    pub fn override_from_text_file(&mut self, name: &str, path: &Path) -> Result<(), DataError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        self.set(name, text)
    }

    /// Defaults with the overrides of a JSON file applied.
    pub fn from_json_file(path: &Path) -> Result<Templates, DataError> {
        let mut t = Templates::default();
        t.override_from_json(path)?;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_have_their_placeholders() {
        let t = Templates::default();
        for name in Templates::NAMES {
            let text = t.get(name).unwrap();
            for ph in Templates::placeholders(name).unwrap() {
                assert!(text.contains(&format!("{{{{{ph}}}}}")), "{name} lacks {ph}");
            }
        }
    }

    #[test]
    fn overrides_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.json");
        std::fs::write(&p, r#"{"lsd_question": "Where was this one last seen?"}"#).unwrap();
        let t = Templates::from_json_file(&p).unwrap();
        assert_eq!(t.lsd_question, "Where was this one last seen?");
        std::fs::write(&p, r#"{"judge": "no placeholders"}"#).unwrap();
        let err = Templates::from_json_file(&p).unwrap_err().to_string();
        assert!(
            err.contains("template judge") && err.contains("{{description}}"),
            "{err}"
        );
        std::fs::write(&p, r#"{"nope": "x"}"#).unwrap();
        let err = Templates::from_json_file(&p).unwrap_err().to_string();
        assert!(err.contains("unknown template"), "{err}");
    }

    #[test]
    fn fill_does_not_rescan_inserted_text() {
        assert_eq!(
            fill("{{a}}|{{b}}", &[("a", "{{b}}"), ("b", "B")]),
            "{{b}}|B"
        );
        assert_eq!(fill("{{x}} {{", &[("y", "1")]), "{{x}} {{");
    }

    #[test]
    fn fill_leaves_literal_braces() {
        assert_eq!(
            fill("Q{{i}}: \\boxed{X} {{i}}", &[("i", "3")]),
            "Q3: \\boxed{X} 3"
        );
    }
}
