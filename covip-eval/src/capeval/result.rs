//! The result file of `covip capeval --out` and the pooling of hits into Acc+ / Acc−.
use std::collections::BTreeMap;

use covip_data::{Letter, QaId};
use serde::{Deserialize, Serialize};

/// The concept-count buckets as released: `"1"`, `"2"`, `"3"`, and `"4"` for every other
/// count (0 and more than 4 included).
pub const BUCKETS: [&str; 4] = ["1", "2", "3", "4"];

/// The bucket of a sample with `present` concepts in its query image.
///
/// ```
/// use covip_eval::capeval::bucket;
/// assert_eq!([bucket(1), bucket(3), bucket(4), bucket(0), bucket(7)], ["1", "3", "4", "4", "4"]);
/// ```
pub fn bucket(present: usize) -> &'static str {
    match present {
        1 => "1",
        2 => "2",
        3 => "3",
        _ => "4",
    }
}

/// `{"runs": [RUN, ...]}`: one run per captions file, in the order given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapevalResult {
    pub runs: Vec<Run>,
}

/// One captions file scored by one judge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The captions file as it was named.
    pub captions: String,
    /// Who judged: `lexical`, or the server URL and model.
    pub judge: String,
    /// Positive hits / positive QAs over every scored QA; `null` without positive QAs.
    pub acc_pos: Option<f64>,
    /// Negative hits / negative QAs; `null` without negative QAs.
    pub acc_neg: Option<f64>,
    pub n_pos: usize,
    pub n_neg: usize,
    /// The same, pooled per bucket of present concepts (always the four keys of [`BUCKETS`]).
    pub by_concepts: BTreeMap<String, Bucket>,
    /// Every judge answer, per sample in test-set order.
    pub samples: Samples,
    /// Samples of the test set the captions file lacks, skipped with `--allow-missing`
    /// (absent from the file when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// Acc+ / Acc− of one bucket.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub acc_pos: Option<f64>,
    pub acc_neg: Option<f64>,
    pub n_pos: usize,
    pub n_neg: usize,
}

/// The judged QAs of one sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleResult {
    /// Indices of the concepts present in the query image, in the released order.
    pub present: Vec<usize>,
    /// QAs about present concepts, in context order.
    pub pos: Vec<QaResult>,
    /// QAs about absent concepts, in context order.
    pub neg: Vec<QaResult>,
}

/// One QA, the judge's raw answer and how it was read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QaResult {
    pub qa_id: QaId,
    /// Index of the concept the QA is about.
    pub concept: usize,
    /// The letter that counts as a hit: the QA's answer for a positive QA, `D` for a negative.
    pub correct: Letter,
    /// The judge's text.
    pub raw: String,
    /// The box content as released ([`super::parse_answer`]), `"D"` when there is no box.
    pub parsed: String,
    pub hit: bool,
}

/// Samples keyed by id, kept in test-set order (a JSON object whose keys keep that order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples(pub Vec<(String, SampleResult)>);

impl Samples {
    pub fn get(&self, id: &str) -> Option<&SampleResult> {
        self.0.iter().find(|(k, _)| k == id).map(|(_, v)| v)
    }
}

impl Serialize for Samples {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Samples {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Samples, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Samples;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of samples")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Samples, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, SampleResult>()? {
                    out.push((k, v));
                }
                Ok(Samples(out))
            }
        }
        d.deserialize_map(Visitor)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    pos_hits: usize,
    n_pos: usize,
    neg_hits: usize,
    n_neg: usize,
}

impl Tally {
    fn add(&mut self, s: &SampleResult) {
        self.n_pos += s.pos.len();
        self.pos_hits += s.pos.iter().filter(|q| q.hit).count();
        self.n_neg += s.neg.len();
        self.neg_hits += s.neg.iter().filter(|q| q.hit).count();
    }

    fn bucket(&self) -> Bucket {
        let frac = |h: usize, n: usize| (n > 0).then(|| h as f64 / n as f64);
        Bucket {
            acc_pos: frac(self.pos_hits, self.n_pos),
            acc_neg: frac(self.neg_hits, self.n_neg),
            n_pos: self.n_pos,
            n_neg: self.n_neg,
        }
    }
}

/// Pools the QAs of `samples` (over QAs, not averaged over samples) into a [`Run`], overall
/// and per concept-count bucket.
pub fn pool(captions: String, judge: String, samples: Samples, missing: Vec<String>) -> Run {
    let mut all = Tally::default();
    let mut by: BTreeMap<&str, Tally> = BUCKETS.iter().map(|b| (*b, Tally::default())).collect();
    for (_, s) in &samples.0 {
        all.add(s);
        by.get_mut(bucket(s.present.len()))
            .expect("every bucket is present")
            .add(s);
    }
    let overall = all.bucket();
    Run {
        captions,
        judge,
        acc_pos: overall.acc_pos,
        acc_neg: overall.acc_neg,
        n_pos: overall.n_pos,
        n_neg: overall.n_neg,
        by_concepts: by
            .into_iter()
            .map(|(k, t)| (k.to_string(), t.bucket()))
            .collect(),
        samples,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qa(hit: bool, correct: Letter) -> QaResult {
        QaResult {
            qa_id: QaId::from("Q1"),
            concept: 0,
            correct,
            raw: String::new(),
            parsed: "D".into(),
            hit,
        }
    }

    fn sample(present: usize, pos: &[bool], neg: &[bool]) -> SampleResult {
        SampleResult {
            present: (0..present).collect(),
            pos: pos.iter().map(|&h| qa(h, Letter::A)).collect(),
            neg: neg.iter().map(|&h| qa(h, Letter::D)).collect(),
        }
    }

    #[test]
    fn pooled_over_qas_not_averaged_over_samples() {
        // Sample averages would give Acc+ = (1/1 + 0/3) / 2 = 0.5; pooled it is 1/4.
        let s = Samples(vec![
            ("a".into(), sample(1, &[true], &[true, false])),
            ("b".into(), sample(2, &[false, false, false], &[true])),
        ]);
        let r = pool("c.json".into(), "lexical".into(), s, vec![]);
        assert_eq!((r.acc_pos, r.n_pos), (Some(0.25), 4));
        assert_eq!((r.acc_neg, r.n_neg), (Some(2.0 / 3.0), 3));
        assert_eq!(r.by_concepts["1"].acc_pos, Some(1.0));
        assert_eq!(r.by_concepts["2"].acc_pos, Some(0.0));
        assert_eq!(r.by_concepts["2"].acc_neg, Some(1.0));
    }

    #[test]
    fn buckets_as_released_and_nulls_when_empty() {
        let s = Samples(vec![
            // Zero present concepts and six both go to "4".
            ("z".into(), sample(0, &[], &[true])),
            ("six".into(), sample(6, &[true, false], &[])),
        ]);
        let r = pool("c".into(), "j".into(), s, vec![]);
        let keys: Vec<&str> = r.by_concepts.keys().map(String::as_str).collect();
        assert_eq!(keys, BUCKETS);
        for b in ["1", "2", "3"] {
            let e = r.by_concepts[b];
            assert_eq!((e.acc_pos, e.acc_neg, e.n_pos, e.n_neg), (None, None, 0, 0));
        }
        let four = r.by_concepts["4"];
        assert_eq!((four.acc_pos, four.acc_neg), (Some(0.5), Some(1.0)));
        let empty = pool("c".into(), "j".into(), Samples::default(), vec![]);
        assert_eq!((empty.acc_pos, empty.acc_neg), (None, None));
    }

    #[test]
    fn json_shape_and_order() {
        let s = Samples(vec![
            ("sample_10".into(), sample(1, &[true], &[])),
            ("sample_2".into(), sample(2, &[], &[false])),
        ]);
        let r = CapevalResult {
            runs: vec![pool("c.json".into(), "lexical".into(), s, vec![])],
        };
        let v = serde_json::to_value(&r).unwrap();
        let run = &v["runs"][0];
        let keys: Vec<&str> = run
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "captions",
                "judge",
                "acc_pos",
                "acc_neg",
                "n_pos",
                "n_neg",
                "by_concepts",
                "samples"
            ]
        );
        // Test-set order, not sorted.
        let ids: Vec<&str> = run["samples"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(ids, ["sample_10", "sample_2"]);
        assert!(run["by_concepts"]["3"]["acc_pos"].is_null());
        assert_eq!(run["by_concepts"]["1"]["n_pos"], 1);
        let q = &run["samples"]["sample_10"]["pos"][0];
        let qk: Vec<&str> = q.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(qk, ["qa_id", "concept", "correct", "raw", "parsed", "hit"]);
        assert_eq!(q["correct"], "A");
        assert_eq!(
            run["samples"]["sample_2"]["present"],
            serde_json::json!([0, 1])
        );
        // Round trip.
        let back: CapevalResult = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        // The missing list appears only when there is one.
        let m = pool(
            "c".into(),
            "j".into(),
            Samples::default(),
            vec!["s9".into()],
        );
        assert_eq!(
            serde_json::to_value(&m).unwrap()["missing"],
            serde_json::json!(["s9"])
        );
    }
}
