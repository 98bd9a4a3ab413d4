//! POPE as its released evaluation script scores it: an answer is "no" when its first sentence
//! (text before the first `.`), with commas removed and split on single spaces, contains the
//! word `No`, `not` or `no`; otherwise "yes". A label is "no" only when it is exactly `no`.
//! Reports accuracy, precision, recall, F1 (positive class = yes) and the yes-ratio.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::error::MetricsError;

/// One line of a POPE answers file (JSONL): the answer is the first string among `answer`,
/// `text` (LLaVA's answer files) and `response`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct PopeAnswerRecord {
    /// Pairs the line with its label when both files have it.
    #[serde(default)]
    pub question_id: Option<Value>,
    /// The answer under `answer`.
    #[serde(default)]
    pub answer: Option<Value>,
    /// The answer under `text`.
    #[serde(default)]
    pub text: Option<Value>,
    /// The answer under `response`.
    #[serde(default)]
    pub response: Option<Value>,
}

impl PopeAnswerRecord {
    /// The answer text (see the type's documentation).
    pub fn answer_text(&self) -> Option<&str> {
        [&self.answer, &self.text, &self.response]
            .into_iter()
            .find_map(|v| v.as_ref().and_then(Value::as_str))
    }
}

/// One line of a POPE labels file (JSONL): `label` is `yes` or `no`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct PopeLabelRecord {
    /// Pairs the line with its answer when both files have it.
    #[serde(default)]
    pub question_id: Option<Value>,
    /// The label.
    #[serde(default)]
    pub label: Option<Value>,
}

/// Reads a JSONL file of `T`, one record per non-blank line; an error names the file and
/// line, and an empty file is an error.
fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, MetricsError> {
    use covip_data::jsonl::{self, TornLastLine};
    let out = jsonl::read(path, TornLastLine::Reject)
        .map_err(|e| match e {
            covip_data::DataError::Io { path, source } => MetricsError::Io { path, source },
            other => MetricsError::Input(other.to_string()),
        })?
        .into_values();
    if out.is_empty() {
        return Err(MetricsError::Record {
            path: path.to_path_buf(),
            record: "<file>".into(),
            field: "<root>".into(),
            message: "no records".into(),
        });
    }
    Ok(out)
}

/// Reads an answers file and a labels file (see [`PopeAnswerRecord`], [`PopeLabelRecord`]),
/// paired line by line and checked by `question_id` where both lines have one; returns the
/// answers and the labels, in order.
pub fn read_pope_files(
    answers: &Path,
    labels: &Path,
) -> Result<(Vec<String>, Vec<String>), MetricsError> {
    let ans: Vec<PopeAnswerRecord> = read_jsonl(answers)?;
    let lab: Vec<PopeLabelRecord> = read_jsonl(labels)?;
    if ans.len() != lab.len() {
        return Err(MetricsError::Mismatch {
            message: format!(
                "{} has {} answers but {} has {} labels",
                answers.display(),
                ans.len(),
                labels.display(),
                lab.len()
            ),
        });
    }
    let mut out = (Vec::with_capacity(ans.len()), Vec::with_capacity(ans.len()));
    for (i, (a, l)) in ans.iter().zip(&lab).enumerate() {
        let record = |path: &Path, field: &str| MetricsError::Record {
            path: path.to_path_buf(),
            record: format!("line {}", i + 1),
            field: field.into(),
            message: "missing or not a string".into(),
        };
        let text = a
            .answer_text()
            .ok_or_else(|| record(answers, "answer/text/response"))?;
        let label = l
            .label
            .as_ref()
            .and_then(Value::as_str)
            .ok_or_else(|| record(labels, "label"))?;
        if let (Some(q1), Some(q2)) = (&a.question_id, &l.question_id)
            && q1 != q2
        {
            return Err(MetricsError::Mismatch {
                message: format!(
                    "line {}: question_id {q1} in {} but {q2} in {}",
                    i + 1,
                    answers.display(),
                    labels.display()
                ),
            });
        }
        out.0.push(text.to_string());
        out.1.push(label.to_string());
    }
    Ok(out)
}

/// The released script's yes/no reading of a free-form answer (`true` = yes).
pub fn parse_yes_no(answer: &str) -> bool {
    let first = match answer.find('.') {
        Some(i) => &answer[..i],
        None => answer,
    };
    let text = first.replace(',', "");
    !text
        .split(' ')
        .any(|w| w == "No" || w == "not" || w == "no")
}

/// POPE scores.
#[derive(Debug, Clone, PartialEq)]
pub struct PopeScores {
    /// True positives (pred yes, label yes).
    pub tp: usize,
    /// False positives.
    pub fp: usize,
    /// True negatives.
    pub tn: usize,
    /// False negatives.
    pub fn_: usize,
    /// (TP + TN) / N.
    pub accuracy: f64,
    /// TP / (TP + FP); 0 when nothing was predicted yes (the script would divide by zero).
    pub precision: f64,
    /// TP / (TP + FN); 0 when no label is yes.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
    /// Share of yes predictions.
    pub yes_ratio: f64,
    /// Number of answers.
    pub n: usize,
}

impl PopeScores {
    /// The scores as `covip metrics pope` prints them (accuracy first, counts as `TP` ...).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "accuracy": self.accuracy, "precision": self.precision, "recall": self.recall,
            "f1": self.f1, "yes_ratio": self.yes_ratio, "TP": self.tp, "FP": self.fp,
            "TN": self.tn, "FN": self.fn_, "n": self.n,
        })
    }
}

/// Scores answers against labels (paired in order, as the script pairs them); an error when
/// the slices differ in length or are empty.
pub fn pope(answers: &[String], labels: &[String]) -> Result<PopeScores, MetricsError> {
    if answers.len() != labels.len() {
        return Err(MetricsError::Input(format!(
            "{} answers but {} labels: one label per answer",
            answers.len(),
            labels.len()
        )));
    }
    if answers.is_empty() {
        return Err(MetricsError::Input("POPE: no answers to score".into()));
    }
    let (mut tp, mut fp, mut tn, mut fn_) = (0, 0, 0, 0);
    let mut yes = 0;
    for (a, l) in answers.iter().zip(labels) {
        let pred = parse_yes_no(a);
        let label = l != "no";
        yes += pred as usize;
        match (pred, label) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = div(tp, tp + fp);
    let recall = div(tp, tp + fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Ok(PopeScores {
        tp,
        fp,
        tn,
        fn_,
        accuracy: div(tp + tn, answers.len()),
        precision,
        recall,
        f1,
        yes_ratio: div(yes, answers.len()),
        n: answers.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_parsing_quirks() {
        assert!(parse_yes_no("Yes, there is a dog."));
        assert!(!parse_yes_no("No, there is no dog."));
        assert!(!parse_yes_no("There is not a dog"));
        // Only the first sentence counts.
        assert!(parse_yes_no("Yes. No."));
        // Case-sensitive word match: "NO" and "No," after comma removal.
        assert!(parse_yes_no("NO"));
        assert!(!parse_yes_no("No,"));
        // Anything else is yes.
        assert!(parse_yes_no("I cannot tell"));
    }

    #[test]
    fn scores() {
        let ans: Vec<String> = ["Yes", "No", "Yes", "No"].map(String::from).to_vec();
        let lab: Vec<String> = ["yes", "no", "no", "yes"].map(String::from).to_vec();
        let s = pope(&ans, &lab).unwrap();
        assert_eq!((s.tp, s.fp, s.tn, s.fn_), (1, 1, 1, 1));
        assert_eq!(s.accuracy, 0.5);
        assert_eq!(s.f1, 0.5);
        assert_eq!(s.yes_ratio, 0.5);
        let e = pope(&ans, &lab[..3]).unwrap_err().to_string();
        assert!(e.contains("4 answers but 3 labels"), "{e}");
        assert!(
            pope(&[], &[])
                .unwrap_err()
                .to_string()
                .contains("no answers")
        );
    }

    #[test]
    fn files_pair_by_line_and_question_id() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a.jsonl");
        let l = tmp.path().join("l.jsonl");
        std::fs::write(
            &a,
            "{\"question_id\":1,\"text\":\"Yes.\"}\n\n{\"question_id\":2,\"answer\":7,\"response\":\"No\"}\n",
        )
        .unwrap();
        std::fs::write(
            &l,
            "{\"question_id\":1,\"label\":\"yes\"}\n{\"label\":\"no\"}\n",
        )
        .unwrap();
        let (ans, lab) = read_pope_files(&a, &l).unwrap();
        assert_eq!(ans, ["Yes.", "No"]);
        assert_eq!(lab, ["yes", "no"]);
        std::fs::write(
            &l,
            "{\"question_id\":1,\"label\":\"yes\"}\n{\"question_id\":3,\"label\":\"no\"}\n",
        )
        .unwrap();
        let e = read_pope_files(&a, &l).unwrap_err().to_string();
        assert!(e.contains("line 2: question_id 2"), "{e}");
        std::fs::write(&l, "{\"label\":\"yes\"}\n[1]\n").unwrap();
        let e = read_pope_files(&a, &l).unwrap_err().to_string();
        assert!(e.contains("l.jsonl") && e.contains("line 2"), "{e}");
        std::fs::write(&l, "{\"label\":\"yes\"}\n{\"label\":true}\n").unwrap();
        let e = read_pope_files(&a, &l).unwrap_err().to_string();
        assert!(e.contains("\"label\"") && e.contains("line 2"), "{e}");
    }
}
