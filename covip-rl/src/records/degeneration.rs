//! `covip degeneration`'s records: `{"id": any, "text": string}` in, one report line out.
//!
//! The filter runs over every rollout of a training run, so a line is read without building a
//! JSON map: only `id` and `text` are kept, the other keys are skipped unparsed, and the text is
//! borrowed from the line when it holds no escapes.
//!
//! ```
//! use covip_rl::DegenerationFilter;
//! use covip_rl::records::DegenerationInput;
//! let filter = DegenerationFilter::default();
//! let mut out = Vec::new();
//! DegenerationInput::from_json(r#"{"id": 3, "text": "A red kite."}"#)
//!     .unwrap()
//!     .write_report(&filter, &mut out)
//!     .unwrap();
//! assert!(String::from_utf8(out).unwrap().starts_with(r#"{"id":3,"degenerate":false,"#));
//! assert_eq!(DegenerationInput::from_json("[1]").unwrap_err().to_string(), "expected a JSON object");
//! ```
use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::rewards::{DegenerationFilter, DegenerationReport, TokenCountError};

/// Why a degeneration input line could not be read or reported.
#[derive(Debug, thiserror::Error)]
pub enum DegenerationLineError {
    #[error("invalid JSON: {0}")]
    Json(serde_json::Error),
    #[error("expected a JSON object")]
    NotAnObject,
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// `text` holds another JSON value (shown as found).
    #[error("field `text` must be a string, got {0}")]
    TextNotString(Value),
    #[error(transparent)]
    TokenCount(#[from] TokenCountError),
}

/// One input line: its `id` (any JSON value, passed through) and its `text`.
#[derive(Clone, Debug, PartialEq)]
pub struct DegenerationInput<'a> {
    pub id: Value,
    pub text: Cow<'a, str>,
}

impl<'a> DegenerationInput<'a> {
    /// Reads one JSON line. A key given twice keeps its last value, as a JSON object map does.
    pub fn from_json(line: &'a str) -> Result<DegenerationInput<'a>, DegenerationLineError> {
        let input: RawInput = serde_json::from_str(line).map_err(DegenerationLineError::Json)?;
        let RawInput::Object { id, text } = input else {
            return Err(DegenerationLineError::NotAnObject);
        };
        let id = id.ok_or(DegenerationLineError::MissingField("id"))?;
        match text {
            Some(Text::Str(text)) => Ok(DegenerationInput { id, text }),
            Some(Text::Other(other)) => Err(DegenerationLineError::TextNotString(other)),
            None => Err(DegenerationLineError::MissingField("text")),
        }
    }

    /// Runs `filter` on the text and appends the output line (JSON, without a line break) to
    /// `out`.
    pub fn write_report(
        &self,
        filter: &DegenerationFilter,
        out: &mut Vec<u8>,
    ) -> Result<(), DegenerationLineError> {
        let report = filter.report(&self.text)?;
        serde_json::to_writer(out, &DegenerationLine::new(&self.id, &report))
            .map_err(DegenerationLineError::Json)
    }
}

/// The ratios of the chunk level, keyed by chunk size.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChunkRatios {
    #[serde(rename = "10")]
    pub c10: Option<f64>,
    #[serde(rename = "20")]
    pub c20: Option<f64>,
    #[serde(rename = "30")]
    pub c30: Option<f64>,
}

/// One output line: every level's ratio (`null` below the level's minimum size), the token
/// count (`null` without a tokenizer) and the verdict. The field order is part of the contract.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DegenerationLine<'a> {
    pub id: &'a Value,
    pub degenerate: bool,
    pub sentence_ratio: Option<f64>,
    pub ngram_ratio: Option<f64>,
    pub chunk_ratios: ChunkRatios,
    pub token_count: Option<usize>,
    pub too_long: bool,
}

impl<'a> DegenerationLine<'a> {
    /// The line of `report` for the input `id`.
    pub fn new(id: &'a Value, report: &DegenerationReport) -> DegenerationLine<'a> {
        DegenerationLine {
            id,
            degenerate: report.degenerate,
            sentence_ratio: report.sentence_ratio,
            ngram_ratio: report.ngram_ratio,
            chunk_ratios: ChunkRatios {
                c10: report.chunk_ratio(10),
                c20: report.chunk_ratio(20),
                c30: report.chunk_ratio(30),
            },
            token_count: report.token_count,
            too_long: report.too_long,
        }
    }
}

/// An input line's `text`: borrowed from the line when it holds no escapes; any other JSON
/// value is kept to say what was found instead of a string.
enum Text<'a> {
    Str(Cow<'a, str>),
    Other(Value),
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Owned(v)))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Text<'de>, E> {
        Ok(Text::Other(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Text<'de>, E> {
        Ok(Text::Other(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Text<'de>, E> {
        Ok(Text::Other(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Text<'de>, E> {
        Ok(Text::Other(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Text<'de>, E> {
        Ok(Text::Other(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text<'de>, A::Error> {
        Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Text::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text<'de>, A::Error> {
        Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(Text::Other)
    }
}

/// The keys of an input object that matter; the others are skipped unparsed.
enum Key {
    Id,
    Text,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "id" => Key::Id,
                    "text" => Key::Text,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// One parsed input line; `NotObject` when the line is valid JSON but not an object.
enum RawInput<'a> {
    Object {
        id: Option<Value>,
        text: Option<Text<'a>>,
    },
    NotObject,
}

impl<'de> Deserialize<'de> for RawInput<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(InputVisitor)
    }
}

struct InputVisitor;

impl<'de> Visitor<'de> for InputVisitor {
    type Value = RawInput<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawInput<'de>, A::Error> {
        let (mut id, mut text) = (None, None);
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Id => id = Some(map.next_value()?),
                Key::Text => text = Some(map.next_value()?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(RawInput::Object { id, text })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawInput<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RawInput::NotObject)
    }
    fn visit_bool<E>(self, _: bool) -> Result<RawInput<'de>, E> {
        Ok(RawInput::NotObject)
    }
    fn visit_i64<E>(self, _: i64) -> Result<RawInput<'de>, E> {
        Ok(RawInput::NotObject)
    }
    fn visit_u64<E>(self, _: u64) -> Result<RawInput<'de>, E> {
        Ok(RawInput::NotObject)
    }
    fn visit_f64<E>(self, _: f64) -> Result<RawInput<'de>, E> {
        Ok(RawInput::NotObject)
    }
    fn visit_str<E>(self, _: &str) -> Result<RawInput<'de>, E> {
        Ok(RawInput::NotObject)
    }
    fn visit_unit<E>(self) -> Result<RawInput<'de>, E> {
        Ok(RawInput::NotObject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: &str) -> String {
        DegenerationInput::from_json(line).unwrap_err().to_string()
    }

    #[test]
    fn reads_id_and_text_and_skips_other_keys() {
        let input =
            DegenerationInput::from_json(r#"{"x": {"deep": [1, 2]}, "id": "a", "text": "hi"}"#)
                .unwrap();
        assert_eq!(input.id, Value::from("a"));
        assert!(matches!(input.text, Cow::Borrowed("hi")));
        let escaped = DegenerationInput::from_json(r#"{"id": 1, "text": "a\nb"}"#).unwrap();
        assert_eq!(escaped.text, "a\nb");
        let twice = DegenerationInput::from_json(r#"{"id": 1, "id": 2, "text": "t"}"#).unwrap();
        assert_eq!(twice.id, Value::from(2));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert!(err("{").starts_with("invalid JSON: "));
        assert_eq!(err("\"text\""), "expected a JSON object");
        assert_eq!(err(r#"{"text": "t"}"#), "missing field `id`");
        assert_eq!(err(r#"{"id": 1}"#), "missing field `text`");
        assert_eq!(
            err(r#"{"id": 1, "text": [1]}"#),
            "field `text` must be a string, got [1]"
        );
    }

    #[test]
    fn report_line_has_the_contract_keys_in_order() {
        let filter = DegenerationFilter::default();
        let mut out = Vec::new();
        let input = DegenerationInput::from_json(r#"{"id": null, "text": "One. Two."}"#).unwrap();
        input.write_report(&filter, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"id":null,"degenerate":false,"sentence_ratio":null,"ngram_ratio":null,"chunk_ratios":{"10":null,"20":null,"30":null},"token_count":null,"too_long":false}"#
        );
    }
}
