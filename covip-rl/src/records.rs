//! Reward records: one completion to reward and what its reward needs, tagged by `task`, as
//! `covip reward` reads them from JSONL (and the trainer builds them).
//!
//! | `task` | fields besides `id` and `completion` | reward |
//! |---|---|---|
//! | `multi_vision` | `answer`: the gold indices (a list of integers, or one) | r_vis |
//! | `vision` | `answer`: the gold `yes` / `no` text | object consistency |
//! | `caption` | `pos_qas` (per present concept, a list of QAs), `neg_qas` (a flat list), `judge_pos` and `judge_neg` (the judge's raw answers, in the same order; needed unless the caption is degenerate) | −1 if degenerate, else r_ret |
//!
//! `covip degeneration`'s lighter records, `{"id", "text"}` in and one report line out, are
//! [`DegenerationInput`] and [`DegenerationLine`].
//!
//! `id` is any JSON value and is passed through. [`RewardRecord::from_json`] reads one line
//! with messages that name the field at fault; the serde derives read and write the same shape.
//!
//! ```
//! use covip_rl::records::{RewardRecord, RewardSettings};
//! let line = r#"{"id": 7, "task": "multi_vision", "completion": "\\boxed{[1, 2]}", "answer": [2]}"#;
//! let record = RewardRecord::from_json(line).unwrap();
//! let scored = record.reward(&RewardSettings::default()).unwrap();
//! assert!((scored.reward - 2.0 / 3.0).abs() < 1e-12);
//! assert_eq!(serde_json::to_string(&scored.line(record.id())).unwrap(),
//!            format!(r#"{{"id":7,"reward":{},"degenerate":null,"sigma_pos":null,"sigma_neg":null}}"#, scored.reward));
//! ```
mod degeneration;

pub use degeneration::{ChunkRatios, DegenerationInput, DegenerationLine, DegenerationLineError};

use covip_data::{Qa, TaskKind};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::rewards::recognition::{RecognitionParse, recognition_reward_with};
use crate::rewards::{
    CaptionReward, DegenerationFilter, RetrievalConfig, RewardError, caption_reward,
    consistency_reward,
};

/// One completion to reward, tagged by `task`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum RewardRecord {
    /// Which context concepts appear in the query (r_vis).
    MultiVision(RecognitionRecord),
    /// Is the first image's object in the second (object consistency).
    Vision(ConsistencyRecord),
    /// A personalised caption (δ(y), then r_ret from the judge's answers).
    Caption(CaptionRecord),
}

/// A `multi_vision` record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecognitionRecord {
    pub id: Value,
    pub completion: String,
    /// The gold indices; one integer reads as a list of one.
    #[serde(deserialize_with = "one_or_many")]
    pub answer: Vec<i64>,
}

/// A `vision` record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsistencyRecord {
    pub id: Value,
    pub completion: String,
    /// The gold answer text; its first `yes` / `no` is what counts.
    pub answer: String,
}

/// A `caption` record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaptionRecord {
    pub id: Value,
    pub completion: String,
    /// Per concept present in the query, its QAs.
    pub pos_qas: Vec<Vec<Qa>>,
    /// QAs about concepts absent from the query.
    pub neg_qas: Vec<Qa>,
    /// The judge's raw answers to `pos_qas`, flattened in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_pos: Option<Vec<String>>,
    /// The judge's raw answers to `neg_qas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_neg: Option<Vec<String>>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "an integer or a list of integers")]
    enum OneOrMany {
        One(i64),
        Many(Vec<i64>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(i) => vec![i],
        OneOrMany::Many(v) => v,
    })
}

/// Why a reward record could not be read or rewarded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("invalid JSON: {0}")]
    Json(serde_json::Error),
    #[error("expected a JSON object")]
    NotAnObject,
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    #[error("unknown task {0:?} (expected caption, multi_vision or vision)")]
    UnknownTask(String),
    /// A field is missing or has the wrong shape for the record's task.
    #[error("{0}")]
    Field(String),
    /// A non-degenerate caption without `judge_pos` / `judge_neg`.
    #[error("caption is not degenerate: fields `judge_pos` and `judge_neg` are needed")]
    MissingJudgeAnswers,
    #[error(transparent)]
    Reward(RewardError),
}

impl From<RewardError> for RecordError {
    fn from(e: RewardError) -> Self {
        match e {
            RewardError::MissingJudgeAnswers => RecordError::MissingJudgeAnswers,
            other => RecordError::Reward(other),
        }
    }
}

/// What the rewards need besides the record: the degeneration filter (with its tokenizer, if
/// any), the weights of r_ret and how r_vis reads the box. `Default` is the released setup
/// (without the token-length limit, which needs a tokenizer).
#[derive(Clone, Debug, Default)]
pub struct RewardSettings {
    pub filter: DegenerationFilter,
    pub retrieval: RetrievalConfig,
    pub recognition: RecognitionParse,
}

/// A record's reward, and for a caption what it came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecordReward {
    pub reward: f64,
    /// `Some` for a caption record.
    pub caption: Option<CaptionReward>,
}

impl From<CaptionReward> for RecordReward {
    fn from(caption: CaptionReward) -> Self {
        RecordReward {
            reward: caption.reward,
            caption: Some(caption),
        }
    }
}

impl RecordReward {
    /// The output line `{"id", "reward", "degenerate", "sigma_pos", "sigma_neg"}` (`null`
    /// where a field does not apply: the last three outside captions, σ for a degenerate one).
    pub fn line<'a>(&self, id: &'a Value) -> RewardLine<'a> {
        let retrieval = self.caption.and_then(|c| c.retrieval);
        RewardLine {
            id,
            reward: self.reward,
            degenerate: self.caption.map(|c| c.degenerate),
            sigma_pos: retrieval.map(|r| r.sigma_pos),
            sigma_neg: retrieval.map(|r| r.sigma_neg),
        }
    }
}

/// One output line of `covip reward`; the field order is part of the contract.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RewardLine<'a> {
    pub id: &'a Value,
    pub reward: f64,
    pub degenerate: Option<bool>,
    pub sigma_pos: Option<usize>,
    pub sigma_neg: Option<usize>,
}

impl RewardRecord {
    /// Reads one JSON line. Errors name the field at fault, the task when it is unknown, or
    /// the JSON error.
    pub fn from_json(line: &str) -> Result<RewardRecord, RecordError> {
        let value: Value = serde_json::from_str(line).map_err(RecordError::Json)?;
        let Value::Object(object) = &value else {
            return Err(RecordError::NotAnObject);
        };
        if !object.contains_key("id") {
            return Err(RecordError::MissingField("id"));
        }
        let task = object
            .get("task")
            .ok_or(RecordError::MissingField("task"))?;
        let task = String::deserialize(task)
            .map_err(|e| RecordError::Field(format!("field `task`: {e}")))?;
        let kind = TaskKind::parse(&task).ok_or(RecordError::UnknownTask(task))?;
        Ok(match kind {
            TaskKind::MultiVision => RewardRecord::MultiVision(task_fields(value)?),
            TaskKind::Vision => RewardRecord::Vision(task_fields(value)?),
            TaskKind::Caption => RewardRecord::Caption(task_fields(value)?),
        })
    }

    pub fn id(&self) -> &Value {
        match self {
            RewardRecord::MultiVision(r) => &r.id,
            RewardRecord::Vision(r) => &r.id,
            RewardRecord::Caption(r) => &r.id,
        }
    }

    pub fn completion(&self) -> &str {
        match self {
            RewardRecord::MultiVision(r) => &r.completion,
            RewardRecord::Vision(r) => &r.completion,
            RewardRecord::Caption(r) => &r.completion,
        }
    }

    pub fn task(&self) -> TaskKind {
        match self {
            RewardRecord::MultiVision(_) => TaskKind::MultiVision,
            RewardRecord::Vision(_) => TaskKind::Vision,
            RewardRecord::Caption(_) => TaskKind::Caption,
        }
    }

    /// The reward from the record alone: a caption's judge answers come from its fields.
    pub fn reward(&self, settings: &RewardSettings) -> Result<RecordReward, RecordError> {
        Ok(match self {
            RewardRecord::MultiVision(r) => RecordReward {
                reward: recognition_reward_with(&r.completion, &r.answer, settings.recognition),
                caption: None,
            },
            RewardRecord::Vision(r) => RecordReward {
                reward: consistency_reward(&r.completion, &r.answer),
                caption: None,
            },
            RewardRecord::Caption(r) => caption_reward(
                &settings.filter,
                &r.completion,
                &r.positive_qas(),
                r.judge_pos.as_deref(),
                &r.neg_qas,
                r.judge_neg.as_deref(),
                &settings.retrieval,
            )?
            .into(),
        })
    }
}

impl CaptionRecord {
    /// The positive QAs flattened in order, as `judge_pos` answers them.
    pub fn positive_qas(&self) -> Vec<Qa> {
        self.pos_qas.iter().flatten().cloned().collect()
    }
}

/// Reads a task's fields, naming the field at fault (`pos_qas[0][1].options`, …); a missing
/// field's message names it already.
fn task_fields<T: serde::de::DeserializeOwned>(record: Value) -> Result<T, RecordError> {
    serde_path_to_error::deserialize(record).map_err(|e| {
        let at_top = e.path().iter().next().is_none();
        let message = if at_top {
            e.inner().to_string()
        } else {
            format!("field `{}`: {}", e.path(), e.inner())
        };
        RecordError::Field(message)
    })
}

/// The reward of a caption record, asking `judge` instead of reading `judge_pos` and
/// `judge_neg`; other records are rewarded as [`RewardRecord::reward`] does.
#[cfg(feature = "judges")]
impl RewardRecord {
    pub fn reward_with_judge<J: crate::judge::Judge + ?Sized>(
        &self,
        settings: &RewardSettings,
        judge: &J,
    ) -> Result<RecordReward, JudgedRecordError> {
        match self {
            RewardRecord::Caption(r) => Ok(crate::judge::score_caption(
                &settings.filter,
                judge,
                &r.completion,
                &r.positive_qas(),
                &r.neg_qas,
                &settings.retrieval,
            )?
            .reward
            .into()),
            other => Ok(other.reward(settings)?),
        }
    }
}

/// Why [`RewardRecord::reward_with_judge`] failed.
#[cfg(feature = "judges")]
#[derive(Debug, thiserror::Error)]
pub enum JudgedRecordError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Score(#[from] crate::judge::ScoreError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn qa(id: &str, correct: &str) -> Value {
        json!({"id": id, "question": "Who?", "options": {"A": "Ann", "B": "Bo", "C": "Cy", "D": "cannot tell"}, "correct_answer": correct})
    }

    fn caption(answers: bool) -> Value {
        let mut v = json!({"id": "c", "task": "caption", "completion": "Ann waves.",
            "pos_qas": [[qa("p0", "A"), qa("p1", "B")], [qa("p2", "C")]], "neg_qas": [qa("n0", "A")]});
        if answers {
            v["judge_pos"] = json!(["\\boxed{A}", "\\boxed{C}", "\\boxed{C}"]);
            v["judge_neg"] = json!(["\\boxed{B}"]);
        }
        v
    }

    fn err(line: &str) -> String {
        RewardRecord::from_json(line).unwrap_err().to_string()
    }

    #[test]
    fn reads_every_task_and_round_trips() {
        let lines = [
            json!({"id": 1, "task": "multi_vision", "completion": "x", "answer": 2}),
            json!({"id": [1], "task": "vision", "completion": "yes", "answer": "yes"}),
            caption(true),
            caption(false),
        ];
        for v in lines {
            let r = RewardRecord::from_json(&v.to_string()).unwrap();
            assert_eq!(r.id(), &v["id"]);
            assert_eq!(r.task().as_str(), v["task"]);
            let back: RewardRecord =
                serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
            assert_eq!(back, r);
        }
        let r = RewardRecord::from_json(&lines_one_answer()).unwrap();
        assert!(
            matches!(r, RewardRecord::MultiVision(RecognitionRecord { ref answer, .. }) if answer == &[2])
        );
    }

    fn lines_one_answer() -> String {
        json!({"id": 1, "task": "multi_vision", "completion": "x", "answer": 2}).to_string()
    }

    #[test]
    fn caption_reward_from_given_answers() {
        let r = RewardRecord::from_json(&caption(true).to_string()).unwrap();
        let out = r.reward(&RewardSettings::default()).unwrap();
        // σ+ = 2 (p0 A, p2 C), σ− = 1 (n0 answered B): 2/3 − 1.
        let c = out.caption.unwrap();
        assert!(!c.degenerate);
        assert_eq!(c.retrieval.unwrap().sigma_pos, 2);
        assert!((out.reward - (2.0 / 3.0 - 1.0)).abs() < 1e-12);
        let line = serde_json::to_value(out.line(r.id())).unwrap();
        assert_eq!(line["sigma_neg"], 1);
        assert_eq!(line["degenerate"], false);
    }

    #[test]
    fn degenerate_caption_needs_no_answers_and_others_do() {
        let mut v = caption(false);
        v["completion"] = json!("Ann waves. ".repeat(8));
        let r = RewardRecord::from_json(&v.to_string()).unwrap();
        let out = r.reward(&RewardSettings::default()).unwrap();
        assert_eq!(out.reward, -1.0);
        assert_eq!(
            serde_json::to_value(out.line(r.id())).unwrap(),
            json!({"id": "c", "reward": -1.0, "degenerate": true, "sigma_pos": null, "sigma_neg": null})
        );
        let r = RewardRecord::from_json(&caption(false).to_string()).unwrap();
        let e = r.reward(&RewardSettings::default()).unwrap_err();
        assert!(matches!(e, RecordError::MissingJudgeAnswers), "{e}");
        let mut v = caption(true);
        v["judge_neg"] = json!([]);
        let r = RewardRecord::from_json(&v.to_string()).unwrap();
        let e = r.reward(&RewardSettings::default()).unwrap_err();
        assert_eq!(e.to_string(), "judge_neg: 0 answers for 1 negative QAs");
    }

    #[test]
    fn errors_name_what_is_wrong() {
        assert!(err("not json").starts_with("invalid JSON: "));
        assert_eq!(err("[1, 2]"), "expected a JSON object");
        assert_eq!(err("{\"task\": \"vision\"}"), "missing field `id`");
        assert_eq!(err("{\"id\": 1}"), "missing field `task`");
        assert_eq!(
            err("{\"id\": 1, \"task\": \"dance\"}"),
            "unknown task \"dance\" (expected caption, multi_vision or vision)"
        );
        assert_eq!(
            err("{\"id\": 1, \"task\": \"vision\", \"completion\": \"yes\"}"),
            "missing field `answer`"
        );
        assert_eq!(
            err(
                "{\"id\": 1, \"task\": \"multi_vision\", \"completion\": \"x\", \"answer\": \"1\"}"
            ),
            "field `answer`: an integer or a list of integers"
        );
        let mut v = caption(true);
        v["pos_qas"][1][0]["correct_answer"] = json!("E");
        let e = err(&v.to_string());
        assert!(
            e.starts_with("field `pos_qas[1][0].correct_answer`: "),
            "{e}"
        );
        assert_eq!(
            err("{\"id\": 1, \"task\": 3}"),
            "field `task`: invalid type: integer `3`, expected a string"
        );
    }
}
