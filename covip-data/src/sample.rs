//! A benchmark sample: context entries, a query image, gold concepts and QAs.
use serde::{Deserialize, Serialize};

use crate::image::ImageRef;
use crate::qa::{Polarity, Qa};

/// Which task (and so which reward) a sample trains (SPEC §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Personalised captioning, rewarded by judge answers (r_ret).
    Caption,
    /// Which context concepts appear in the query (r_vis).
    MultiVision,
    /// Is the object of the first image in the second (object consistency).
    Vision,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Caption => "caption",
            TaskKind::MultiVision => "multi_vision",
            TaskKind::Vision => "vision",
        }
    }

    pub fn parse(s: &str) -> Option<TaskKind> {
        match s {
            "caption" => Some(TaskKind::Caption),
            "multi_vision" => Some(TaskKind::MultiVision),
            "vision" => Some(TaskKind::Vision),
            _ => None,
        }
    }
}

/// One remembered dialogue group: a concept image and the dialogue about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextEntry {
    pub image: ImageRef,
    /// The dialogue text as released (turns rendered to one string).
    pub dialogue: String,
}

/// A sample in its canonical form, whatever file it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Identifier (`sample_12` in the test set; the record index for training lists).
    pub id: String,
    /// Context entries in prompt order.
    pub context: Vec<ContextEntry>,
    pub query: ImageRef,
    /// Indices into `context` of the concepts present in the query, in the released order.
    pub gold: Vec<usize>,
    /// Three QAs per context entry (`qas[i]` is about `context[i]`); empty for tasks without QAs.
    pub qas: Vec<Vec<Qa>>,
    pub task: TaskKind,
    /// The yes/no answer of a `vision` sample.
    pub yes_no: Option<bool>,
}

impl Sample {
    /// The QAs of the gold concepts, in gold order (the positive QAs of r_ret).
    pub fn pos_qas(&self) -> Vec<&[Qa]> {
        self.gold
            .iter()
            .filter_map(|&g| self.qas.get(g).map(Vec::as_slice))
            .collect()
    }

    /// The QAs of every non-gold concept, flattened in context order (the negative QAs).
    pub fn neg_qas(&self) -> Vec<&Qa> {
        self.qas
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.gold.contains(i))
            .flat_map(|(_, qas)| qas.iter())
            .collect()
    }

    /// Polarity of the QAs about context entry `concept`: positive when it is in the query.
    pub fn polarity(&self, concept: usize) -> Polarity {
        if self.gold.contains(&concept) {
            Polarity::Positive
        } else {
            Polarity::Negative
        }
    }

    /// Every QA with its concept index and polarity, in context order.
    pub fn qas_with_polarity(&self) -> impl Iterator<Item = (usize, &Qa, Polarity)> {
        self.qas
            .iter()
            .enumerate()
            .flat_map(move |(i, qas)| qas.iter().map(move |q| (i, q, self.polarity(i))))
    }

    /// Number of concepts present in the query.
    pub fn num_present(&self) -> usize {
        self.gold.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qa::Letter;

    fn qa(id: &str) -> Qa {
        Qa::new(id, "q", ["a", "b", "c"], "d", Letter::A)
    }

    #[test]
    fn positive_and_negative_qas_follow_gold() {
        let entry = |n: &str| ContextEntry {
            image: ImageRef::path(n),
            dialogue: String::new(),
        };
        let s = Sample {
            id: "s".into(),
            context: vec![entry("0"), entry("1"), entry("2")],
            query: ImageRef::path("q"),
            gold: vec![2, 0],
            qas: vec![vec![qa("a0")], vec![qa("b0"), qa("b1")], vec![qa("c0")]],
            task: TaskKind::Caption,
            yes_no: None,
        };
        let pos: Vec<&str> = s
            .pos_qas()
            .iter()
            .map(|q| q[0].id.as_text().unwrap())
            .collect();
        assert_eq!(pos, ["c0", "a0"]);
        let neg: Vec<&str> = s
            .neg_qas()
            .iter()
            .map(|q| q.id.as_text().unwrap())
            .collect();
        assert_eq!(neg, ["b0", "b1"]);
        let pol: Vec<(usize, Polarity)> = s.qas_with_polarity().map(|(i, _, p)| (i, p)).collect();
        assert_eq!(
            pol,
            [
                (0, Polarity::Positive),
                (1, Polarity::Negative),
                (1, Polarity::Negative),
                (2, Polarity::Positive)
            ]
        );
    }
}
