//! Multiple-choice questions about a concept (SPEC §2.1).
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An option letter. `D` is always "the answer cannot be determined".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Letter {
    A,
    B,
    C,
    D,
}

impl Letter {
    /// All four letters in order.
    pub const ALL: [Letter; 4] = [Letter::A, Letter::B, Letter::C, Letter::D];

    /// The letter as a `char` (`'A'`..`'D'`).
    pub fn as_char(self) -> char {
        match self {
            Letter::A => 'A',
            Letter::B => 'B',
            Letter::C => 'C',
            Letter::D => 'D',
        }
    }

    /// The letter as a one-character string slice.
    pub fn as_str(self) -> &'static str {
        match self {
            Letter::A => "A",
            Letter::B => "B",
            Letter::C => "C",
            Letter::D => "D",
        }
    }

    /// Parses exactly `"A"`..`"D"` (no trimming, no lower case).
    pub fn parse(s: &str) -> Option<Letter> {
        match s {
            "A" => Some(Letter::A),
            "B" => Some(Letter::B),
            "C" => Some(Letter::C),
            "D" => Some(Letter::D),
            _ => None,
        }
    }
}

impl fmt::Display for Letter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a QA is about a concept that is present in the query image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Polarity {
    /// The concept appears in the query image; the correct letter is one of A–C.
    Positive,
    /// The concept is absent; the right answer from a caption is `D`.
    Negative,
}

/// The `id` of a QA as the file wrote it.
///
/// The released files use strings (`"2-0"`); hand-made files often number their questions
/// (`7`). Both are accepted and kept as written, so a record read and written back is
/// unchanged: an integer stays an integer.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QaId {
    /// A string id, as in the released files.
    Text(String),
    /// An integer id (any value a JSON integer in `i64` or `u64` takes).
    Int(i128),
}

impl QaId {
    /// The id as a string slice, when it was written as a string.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            QaId::Text(s) => Some(s),
            QaId::Int(_) => None,
        }
    }
}

impl fmt::Display for QaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QaId::Text(s) => f.write_str(s),
            QaId::Int(n) => write!(f, "{n}"),
        }
    }
}

/// Debug prints the id as JSON would (`"q7"` or `7`), which is what error messages quote.
impl fmt::Debug for QaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QaId::Text(s) => fmt::Debug::fmt(s, f),
            QaId::Int(n) => write!(f, "{n}"),
        }
    }
}

impl From<&str> for QaId {
    fn from(s: &str) -> QaId {
        QaId::Text(s.to_string())
    }
}

impl From<String> for QaId {
    fn from(s: String) -> QaId {
        QaId::Text(s)
    }
}

impl From<i64> for QaId {
    fn from(n: i64) -> QaId {
        QaId::Int(n.into())
    }
}

impl From<u64> for QaId {
    fn from(n: u64) -> QaId {
        QaId::Int(n.into())
    }
}

impl PartialEq<str> for QaId {
    fn eq(&self, other: &str) -> bool {
        self.as_text() == Some(other)
    }
}

impl PartialEq<&str> for QaId {
    fn eq(&self, other: &&str) -> bool {
        self.as_text() == Some(*other)
    }
}

impl Serialize for QaId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            QaId::Text(t) => s.serialize_str(t),
            // Only values read from `i64`/`u64` (or built from them) exist, so one of the two fits.
            QaId::Int(n) => match i64::try_from(*n) {
                Ok(v) => s.serialize_i64(v),
                Err(_) => match u64::try_from(*n) {
                    Ok(v) => s.serialize_u64(v),
                    Err(_) => Err(serde::ser::Error::custom(format!(
                        "QA id {n} is outside the JSON integer range"
                    ))),
                },
            },
        }
    }
}

impl<'de> Deserialize<'de> for QaId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<QaId, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = QaId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<QaId, E> {
                Ok(QaId::Text(v.to_string()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<QaId, E> {
                Ok(QaId::Text(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<QaId, E> {
                Ok(QaId::from(v))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<QaId, E> {
                Ok(QaId::from(v))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// One question in the released shape `{id, question, options: {A,B,C,D}, correct_answer}`.
///
/// `options` is a map so that a record missing an option can be read and then reported by
/// validation instead of failing opaquely.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qa {
    /// A string in the released files; an integer is accepted and written back as one.
    pub id: QaId,
    pub question: String,
    pub options: BTreeMap<Letter, String>,
    pub correct_answer: Letter,
}

impl Qa {
    /// Builds a QA from the three written options plus the fixed `D` option.
    pub fn new(
        id: impl Into<QaId>,
        question: impl Into<String>,
        abc: [&str; 3],
        d: &str,
        correct_answer: Letter,
    ) -> Qa {
        let options = [
            (Letter::A, abc[0]),
            (Letter::B, abc[1]),
            (Letter::C, abc[2]),
            (Letter::D, d),
        ]
        .into_iter()
        .map(|(l, s)| (l, s.to_string()))
        .collect();
        Qa {
            id: id.into(),
            question: question.into(),
            options,
            correct_answer,
        }
    }

    /// The text of option `letter`, if present.
    pub fn option(&self, letter: Letter) -> Option<&str> {
        self.options.get(&letter).map(String::as_str)
    }

    /// Problems with this QA, as (field, message) pairs; empty when it is well formed.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for letter in Letter::ALL {
            match self.options.get(&letter) {
                None => out.push((format!("options.{letter}"), "option is missing".to_string())),
                Some(text) if text.trim().is_empty() => {
                    out.push((format!("options.{letter}"), "option is empty".to_string()))
                }
                Some(_) => {}
            }
        }
        if !self.options.contains_key(&self.correct_answer) {
            out.push((
                "correct_answer".to_string(),
                format!(
                    "correct answer {} is not among the options",
                    self.correct_answer
                ),
            ));
        }
        if self.question.trim().is_empty() {
            out.push(("question".to_string(), "question is empty".to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_round_trip_through_json() {
        let qa = Qa::new("Q1", "Where?", ["a", "b", "c"], "cannot tell", Letter::B);
        let json = serde_json::to_string(&qa).unwrap();
        assert!(json.contains(r#""options":{"A":"a","B":"b","C":"c","D":"cannot tell"}"#));
        assert!(json.contains(r#""correct_answer":"B""#));
        let back: Qa = serde_json::from_str(&json).unwrap();
        assert_eq!(back, qa);
        assert!(back.problems().is_empty());
    }

    #[test]
    fn ids_keep_the_type_they_were_written_with() {
        let text = r#"{"id":7,"question":"q","options":{"A":"a","B":"b","C":"c","D":"d"},"correct_answer":"A"}"#;
        let qa: Qa = serde_json::from_str(text).unwrap();
        assert_eq!(qa.id, QaId::Int(7));
        assert_eq!(qa.id.to_string(), "7");
        assert_eq!(serde_json::to_string(&qa).unwrap(), text);
        let text = text.replace(r#""id":7"#, r#""id":"7""#);
        let qa: Qa = serde_json::from_str(&text).unwrap();
        assert_eq!(qa.id, "7");
        assert_eq!(serde_json::to_string(&qa).unwrap(), text);
        for (id, want) in [
            ("-3", QaId::Int(-3)),
            ("18446744073709551615", QaId::Int(u64::MAX.into())),
        ] {
            let qa: Qa = serde_json::from_str(&text.replace(r#""7""#, id)).unwrap();
            assert_eq!(qa.id, want);
            assert!(
                serde_json::to_string(&qa)
                    .unwrap()
                    .contains(&format!(r#""id":{id}"#))
            );
        }
    }

    #[test]
    fn other_id_types_are_rejected_with_a_message() {
        for id in ["1.5", "null", "[1]", "true"] {
            let text = format!(
                r#"{{"id":{id},"question":"q","options":{{"A":"a","B":"b","C":"c","D":"d"}},"correct_answer":"A"}}"#
            );
            let err = serde_json::from_str::<Qa>(&text).unwrap_err().to_string();
            assert!(
                err.contains("expected a string or an integer"),
                "{id}: {err}"
            );
        }
    }

    #[test]
    fn unknown_letter_is_rejected() {
        let err = serde_json::from_str::<Qa>(
            r#"{"id":"Q1","question":"q","options":{"A":"a","B":"b","C":"c","D":"d"},"correct_answer":"E"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown variant `E`"), "{err}");
    }

    #[test]
    fn missing_correct_option_is_a_problem() {
        let mut qa = Qa::new("Q1", "q", ["a", "b", "c"], "d", Letter::C);
        qa.options.remove(&Letter::C);
        let problems = qa.problems();
        assert!(problems.iter().any(|(f, _)| f == "options.C"));
        assert!(
            problems
                .iter()
                .any(|(f, m)| f == "correct_answer" && m.contains("C is not among"))
        );
    }
}
