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

/// One question in the released shape `{id, question, options: {A,B,C,D}, correct_answer}`.
///
/// `options` is a map so that a record missing an option can be read and then reported by
/// validation instead of failing opaquely.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qa {
    pub id: String,
    pub question: String,
    pub options: BTreeMap<Letter, String>,
    pub correct_answer: Letter,
}

impl Qa {
    /// Builds a QA from the three written options plus the fixed `D` option.
    pub fn new(
        id: impl Into<String>,
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
