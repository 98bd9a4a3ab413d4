//! The released training list (SPEC §2.3): a JSON array or JSONL of records
//! `{images, accu_reward_method, answer, pos_qas, neg_qas, c_num, dialogues}`.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Loaded, Problem};
use crate::formats::json;
use crate::image::ImageRef;
use crate::qa::Qa;
use crate::sample::{ContextEntry, Sample, TaskKind};
use crate::validate::{QAS_PER_CONCEPT, qa_list_problems};

/// `answer`: "yes"/"no" for `vision`, concept indices for `multi_vision` (and, in our
/// files, for `caption`, where it records the gold concepts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TrainAnswer {
    Indices(Vec<usize>),
    Text(String),
}

/// One record of the training list, as released. Unknown fields are kept and written back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainRecord {
    /// Context concept images in order, then the query image last.
    pub images: Vec<String>,
    pub accu_reward_method: TaskKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<TrainAnswer>,
    /// Per gold concept, its three QAs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pos_qas: Vec<Vec<Qa>>,
    /// QAs of the absent concepts, flattened in context order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neg_qas: Vec<Qa>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c_num: Option<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dialogues: Vec<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl TrainRecord {
    /// Number of context concepts: `c_num`, else every image but the query.
    pub fn num_concepts(&self) -> usize {
        self.c_num.unwrap_or(self.images.len().saturating_sub(1))
    }

    /// The gold concept indices, when the record states them.
    pub fn gold(&self) -> Option<&[usize]> {
        match &self.answer {
            Some(TrainAnswer::Indices(v)) => Some(v),
            _ => None,
        }
    }

    /// Problems as (field, message) pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let n = self.num_concepts();
        let task = self.accu_reward_method;
        if self.images.is_empty() {
            out.push(("images".into(), "no images".into()));
        }
        match task {
            TaskKind::Vision => {
                if self.images.len() != 2 {
                    out.push((
                        "images".into(),
                        format!("a vision record has 2 images, found {}", self.images.len()),
                    ));
                }
                match &self.answer {
                    Some(TrainAnswer::Text(t)) if t == "yes" || t == "no" => {}
                    other => out.push((
                        "answer".into(),
                        format!("a vision record answers \"yes\" or \"no\", found {other:?}"),
                    )),
                }
            }
            TaskKind::MultiVision | TaskKind::Caption => {
                if let Some(c) = self.c_num
                    && c.checked_add(1) != Some(self.images.len())
                {
                    out.push((
                        "images".into(),
                        format!(
                            "c_num is {c}, so {} images are expected (concepts then query), found {}",
                            c as u128 + 1,
                            self.images.len()
                        ),
                    ));
                }
                match &self.answer {
                    Some(TrainAnswer::Indices(g)) => {
                        for (i, &gi) in g.iter().enumerate() {
                            if gi >= n {
                                out.push((
                                    format!("answer[{i}]"),
                                    format!("gold index {gi} is out of range for {n} concepts"),
                                ));
                            }
                            if g[..i].contains(&gi) {
                                out.push((
                                    format!("answer[{i}]"),
                                    format!("gold index {gi} repeats"),
                                ));
                            }
                        }
                        if task == TaskKind::Caption && g.len() != self.pos_qas.len() {
                            out.push((
                                "pos_qas".into(),
                                format!(
                                    "{} gold concepts but QAs for {}",
                                    g.len(),
                                    self.pos_qas.len()
                                ),
                            ));
                        }
                    }
                    None if task == TaskKind::Caption => {}
                    other => out.push((
                        "answer".into(),
                        format!("expected a list of concept indices, found {other:?}"),
                    )),
                }
            }
        }
        if task == TaskKind::Caption {
            if self.dialogues.len() != n {
                out.push((
                    "dialogues".into(),
                    format!("{} dialogues for {n} concepts", self.dialogues.len()),
                ));
            }
            if self.pos_qas.is_empty() {
                out.push((
                    "pos_qas".into(),
                    "a caption record needs positive QAs".into(),
                ));
            }
            for (i, qas) in self.pos_qas.iter().enumerate() {
                out.extend(qa_list_problems(&format!("pos_qas[{i}]"), qas, true));
            }
            let absent = n.saturating_sub(self.pos_qas.len());
            let needed = absent.checked_mul(QAS_PER_CONCEPT);
            if needed != Some(self.neg_qas.len()) {
                out.push((
                    "neg_qas".into(),
                    format!(
                        "{absent} absent concepts need {} negative QAs, found {}",
                        absent as u128 * QAS_PER_CONCEPT as u128,
                        self.neg_qas.len()
                    ),
                ));
            }
            for (i, qa) in self.neg_qas.iter().enumerate() {
                for (f, m) in qa.problems() {
                    out.push((format!("neg_qas[{i}].{f}"), m));
                }
            }
        }
        out
    }

    /// The canonical sample. Image paths are resolved against `base`. A caption record needs
    /// its gold indices (`answer`) to place the QAs on concepts.
    pub fn to_sample(&self, id: impl Into<String>, base: &Path) -> Result<Sample, String> {
        let id = id.into();
        let problems = self.problems();
        if let Some((f, m)) = problems.first() {
            return Err(format!("{f}: {m}"));
        }
        let img = |p: &String| ImageRef::path(p).resolved(base);
        let (query, concept_images) = self.images.split_last().ok_or("no images")?;
        let mut sample = Sample {
            id,
            context: Vec::new(),
            query: img(query),
            gold: Vec::new(),
            qas: Vec::new(),
            task: self.accu_reward_method,
            yes_no: None,
        };
        match self.accu_reward_method {
            TaskKind::Vision => {
                sample.context.push(ContextEntry {
                    image: img(&concept_images[0]),
                    dialogue: String::new(),
                });
                sample.yes_no =
                    Some(matches!(&self.answer, Some(TrainAnswer::Text(t)) if t == "yes"));
            }
            TaskKind::MultiVision | TaskKind::Caption => {
                sample.context = concept_images
                    .iter()
                    .enumerate()
                    .map(|(i, p)| ContextEntry {
                        image: img(p),
                        dialogue: self.dialogues.get(i).cloned().unwrap_or_default(),
                    })
                    .collect();
                sample.gold = match self.gold() {
                    Some(g) => g.to_vec(),
                    None => {
                        return Err("answer: a caption record without gold indices cannot be placed on its concepts".into());
                    }
                };
                if self.accu_reward_method == TaskKind::Caption {
                    let mut qas = vec![Vec::new(); concept_images.len()];
                    for (g, pos) in sample.gold.iter().zip(&self.pos_qas) {
                        qas[*g] = pos.clone();
                    }
                    let mut neg = self.neg_qas.chunks(QAS_PER_CONCEPT);
                    for (i, slot) in qas.iter_mut().enumerate() {
                        if !sample.gold.contains(&i) {
                            *slot = neg.next().map(<[Qa]>::to_vec).unwrap_or_default();
                        }
                    }
                    sample.qas = qas;
                }
            }
        }
        Ok(sample)
    }

    /// The released record for a canonical sample. Image paths are written as given
    /// (embedded images cannot be written to a training list).
    pub fn from_sample(sample: &Sample) -> Result<TrainRecord, String> {
        let path_of = |r: &ImageRef| match r {
            ImageRef::Path(p) => Ok(p.to_string_lossy().into_owned()),
            ImageRef::Embedded { .. } => Err(format!(
                "sample {}: embedded images cannot go in a training list; write them to files first",
                sample.id
            )),
        };
        let mut images = sample
            .context
            .iter()
            .map(|c| path_of(&c.image))
            .collect::<Result<Vec<_>, _>>()?;
        images.push(path_of(&sample.query)?);
        let mut rec = TrainRecord {
            images,
            accu_reward_method: sample.task,
            answer: None,
            pos_qas: Vec::new(),
            neg_qas: Vec::new(),
            c_num: None,
            dialogues: Vec::new(),
            extra: Default::default(),
        };
        match sample.task {
            TaskKind::Vision => {
                rec.answer = Some(TrainAnswer::Text(
                    if sample.yes_no.unwrap_or(false) {
                        "yes"
                    } else {
                        "no"
                    }
                    .into(),
                ));
            }
            TaskKind::MultiVision => {
                rec.answer = Some(TrainAnswer::Indices(sample.gold.clone()));
                rec.c_num = Some(sample.context.len());
            }
            TaskKind::Caption => {
                rec.answer = Some(TrainAnswer::Indices(sample.gold.clone()));
                rec.c_num = Some(sample.context.len());
                rec.dialogues = sample.context.iter().map(|c| c.dialogue.clone()).collect();
                rec.pos_qas = sample.pos_qas().into_iter().map(<[Qa]>::to_vec).collect();
                rec.neg_qas = sample.neg_qas().into_iter().cloned().collect();
            }
        }
        Ok(rec)
    }
}

/// Reads a training list (JSON array or JSONL) and validates every record.
pub fn read_train(path: &Path) -> Result<Loaded<TrainRecord>, DataError> {
    let text = json::read_text(path)?;
    let mut loaded: Loaded<TrainRecord> = json::parse_json_or_jsonl(path, &text)?;
    for (loc, rec) in &loaded.records {
        for (field, message) in rec.problems() {
            loaded
                .problems
                .push(Problem::new(path, loc.clone(), field, message));
        }
    }
    loaded.problems.sort_by(|a, b| a.record.cmp(&b.record));
    Ok(loaded)
}

/// Reads a training list into canonical samples (ids are `train_{index}`).
pub fn read_train_samples(path: &Path) -> Result<Loaded<Sample>, DataError> {
    let loaded = read_train(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Loaded {
        records: Vec::new(),
        problems: loaded.problems.clone(),
    };
    for (i, (loc, rec)) in loaded.records.iter().enumerate() {
        if rec.problems().is_empty() {
            match rec.to_sample(format!("train_{i}"), base) {
                Ok(s) => out.records.push((loc.clone(), s)),
                Err(m) => out.problems.push(Problem::new(path, loc.clone(), "", m)),
            }
        }
    }
    Ok(out)
}

/// Writes a training list; `.jsonl` gives JSONL, anything else a JSON array.
pub fn write_train(path: &Path, records: &[TrainRecord]) -> Result<(), DataError> {
    if path.extension().is_some_and(|e| e == "jsonl") {
        json::write_jsonl(path, records)
    } else {
        json::write_json_array(path, records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qa::Letter;

    fn qa(id: &str, c: Letter) -> Qa {
        Qa::new(
            id,
            "q?",
            ["a", "b", "c"],
            "The answer cannot be determined",
            c,
        )
    }

    fn caption_sample() -> Sample {
        let e = |i: usize| ContextEntry {
            image: ImageRef::path(format!("c{i}.png")),
            dialogue: format!("User: about {i}"),
        };
        Sample {
            id: "s".into(),
            context: (0..3).map(e).collect(),
            query: ImageRef::path("q.png"),
            gold: vec![2],
            qas: (0..3)
                .map(|i| (0..3).map(|j| qa(&format!("{i}-{j}"), Letter::B)).collect())
                .collect(),
            task: TaskKind::Caption,
            yes_no: None,
        }
    }

    #[test]
    fn sample_record_round_trip() {
        let s = caption_sample();
        let rec = TrainRecord::from_sample(&s).unwrap();
        assert!(rec.problems().is_empty(), "{:?}", rec.problems());
        assert_eq!(rec.images.last().unwrap(), "q.png");
        assert_eq!(rec.pos_qas[0][0].id, "2-0");
        assert_eq!(rec.neg_qas.len(), 6);
        let back = rec.to_sample("s", Path::new("")).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn json_round_trip_keeps_unknown_fields() {
        let text = r#"{"images":["a.png","q.png"],"accu_reward_method":"vision","answer":"yes","source":"repic"}"#;
        let rec: TrainRecord = serde_json::from_str(text).unwrap();
        assert_eq!(rec.extra["source"], "repic");
        assert_eq!(serde_json::to_string(&rec).unwrap(), text);
    }

    #[test]
    fn validation_names_fields() {
        let mut rec = TrainRecord::from_sample(&caption_sample()).unwrap();
        rec.answer = Some(TrainAnswer::Indices(vec![5]));
        rec.pos_qas[0].pop();
        rec.neg_qas[1].correct_answer = Letter::C;
        rec.neg_qas[1].options.remove(&Letter::C);
        let p = rec.problems();
        let has = |f: &str, m: &str| p.iter().any(|(pf, pm)| pf == f && pm.contains(m));
        assert!(
            has("answer[0]", "gold index 5 is out of range for 3 concepts"),
            "{p:?}"
        );
        assert!(has("pos_qas[0]", "expected 3 QAs, found 2"), "{p:?}");
        assert!(
            has("neg_qas[1].correct_answer", "C is not among the options"),
            "{p:?}"
        );
    }

    #[test]
    fn positive_d_is_flagged() {
        assert!(!crate::validate::positive_answer_is_valid(Letter::D));
        let mut rec = TrainRecord::from_sample(&caption_sample()).unwrap();
        rec.pos_qas[0][1].correct_answer = Letter::D;
        let p = rec.problems();
        assert!(
            p.iter()
                .any(|(f, m)| f == "pos_qas[0][1].correct_answer" && m.contains("D")),
            "{p:?}"
        );
    }
}
