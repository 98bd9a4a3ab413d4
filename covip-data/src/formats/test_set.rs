//! The released test set (SPEC §2.3): a metadata JSONL (`imgs`, `concepts`, `dialogues`) and
//! a ground-truth JSON `{sample_k: {qas: {concept_j: {qa: [3 QAs]}}, gts: [...]}}`.
//! Line k of the metadata (0-based, blank lines skipped) is `sample_k` of the ground truth.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Loaded, Problem, RecordLoc};
use crate::formats::json;
use crate::image::ImageRef;
use crate::qa::Qa;
use crate::sample::{ContextEntry, Sample, TaskKind};
use crate::validate::qa_list_problems;

/// One metadata line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestMeta {
    /// The query image.
    pub imgs: String,
    /// Context concept images in order.
    pub concepts: Vec<String>,
    /// Dialogues keyed by anything; the values are in concept order.
    pub dialogues: serde_json::Map<String, serde_json::Value>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `{qa: [...]}` for one concept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConceptQas {
    pub qa: Vec<Qa>,
}

/// One ground-truth entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// `concept_j` → its QAs, `j` the concept's index.
    pub qas: serde_json::Map<String, serde_json::Value>,
    /// Indices of the concepts present in the query.
    pub gts: Vec<usize>,
}

/// Name of the k-th test sample.
pub fn sample_key(k: usize) -> String {
    format!("sample_{k}")
}

fn concept_index(key: &str) -> Option<usize> {
    key.strip_prefix("concept_")?.parse().ok()
}

/// The metadata file: records with their sample index, and how many samples it holds.
#[derive(Clone, Debug)]
pub struct TestMetaFile {
    /// Records that parsed, each with its sample index (its position among the non-blank
    /// lines, counting malformed ones, so one bad line does not shift the others).
    pub loaded: Loaded<(usize, TestMeta)>,
    /// Number of non-blank lines, malformed ones included.
    pub lines: usize,
}

/// Reads the metadata JSONL.
pub fn read_test_meta(path: &Path) -> Result<TestMetaFile, DataError> {
    let text = json::read_text(path)?;
    let mut nonblank: Vec<usize> = Vec::new();
    let mut lines = crate::jsonl::Lines::new(text.as_bytes());
    // Reading from memory cannot fail.
    while let Ok(Some(line)) = lines.next_line() {
        nonblank.push(line.number);
    }
    let parsed: Loaded<TestMeta> = json::parse_jsonl(path, &text);
    let mut loaded = Loaded {
        records: Vec::new(),
        problems: parsed.problems,
    };
    for (loc, m) in parsed.records {
        let RecordLoc::Line(n) = loc else {
            unreachable!("JSONL records have lines")
        };
        let k = nonblank
            .binary_search(&n)
            .expect("a parsed line is non-blank");
        loaded.records.push((loc, (k, m)));
    }
    for (loc, (_, m)) in &loaded.records {
        for (i, v) in m.dialogues.values().enumerate() {
            if !v.is_string() {
                loaded.problems.push(Problem::new(
                    path,
                    loc.clone(),
                    format!("dialogues[{i}]"),
                    "a dialogue must be a string",
                ));
            }
        }
        if m.dialogues.len() != m.concepts.len() {
            loaded.problems.push(Problem::new(
                path,
                loc.clone(),
                "dialogues",
                format!(
                    "{} dialogues for {} concepts",
                    m.dialogues.len(),
                    m.concepts.len()
                ),
            ));
        }
    }
    Ok(TestMetaFile {
        loaded,
        lines: nonblank.len(),
    })
}

/// Reads the ground-truth JSON object, one problem per malformed entry.
pub fn read_ground_truth(path: &Path) -> Result<Loaded<(String, GroundTruth)>, DataError> {
    let text = json::read_text(path)?;
    let serde_json::Value::Object(map) = json::parse_json_value(path, &text)? else {
        return Err(json::wrong_shape(path, "an object keyed by sample name"));
    };
    let mut out = Loaded::default();
    for (key, entry) in map {
        let loc = RecordLoc::Key(key.clone());
        match json::parse_record::<GroundTruth>(path, loc.clone(), entry) {
            Ok(gt) => out.records.push((loc, (key, gt))),
            Err(p) => out.problems.push(p),
        }
    }
    Ok(out)
}

/// Joins metadata and ground truth into canonical samples, validating both together:
/// gold indices in range, 3 QAs per concept, one QA list per concept, matching sample counts.
pub fn join_test_set(
    meta_path: &Path,
    meta: &TestMetaFile,
    gt_path: &Path,
    gt: &Loaded<(String, GroundTruth)>,
) -> Loaded<Sample> {
    let mut out = Loaded {
        records: Vec::new(),
        problems: meta
            .loaded
            .problems
            .iter()
            .chain(&gt.problems)
            .cloned()
            .collect(),
    };
    let base = meta_path.parent().unwrap_or(Path::new("."));
    let by_key: std::collections::HashMap<&str, &GroundTruth> =
        gt.values().map(|(k, g)| (k.as_str(), g)).collect();
    let mut used = std::collections::HashSet::new();
    for (loc, (k, m)) in &meta.loaded.records {
        let key = sample_key(*k);
        let Some(g) = by_key.get(key.as_str()) else {
            out.problems.push(Problem::new(
                meta_path,
                loc.clone(),
                "",
                format!("no ground truth for {key} in {}", gt_path.display()),
            ));
            continue;
        };
        used.insert(key.clone());
        let gloc = RecordLoc::Key(key.clone());
        let n = m.concepts.len();
        let mut bad = false;
        let mut report = |field: String, message: String| {
            out.problems
                .push(Problem::new(gt_path, gloc.clone(), field, message));
        };
        for (i, &gi) in g.gts.iter().enumerate() {
            if gi >= n {
                report(
                    format!("gts[{i}]"),
                    format!("gold index {gi} is out of range for {n} concepts"),
                );
                bad = true;
            }
        }
        if g.gts.is_empty() {
            report("gts".into(), "no gold concept".into());
            bad = true;
        }
        let mut qas: Vec<Option<Vec<Qa>>> = vec![None; n];
        for (ckey, cval) in &g.qas {
            let field = format!("qas.{ckey}");
            let Some(j) = concept_index(ckey).filter(|&j| j < n) else {
                report(field, format!("not a concept_<j> key with j < {n}"));
                bad = true;
                continue;
            };
            match json::parse_record::<ConceptQas>(gt_path, gloc.clone(), cval.clone()) {
                Ok(c) => {
                    for (f, msg) in
                        qa_list_problems(&format!("{field}.qa"), &c.qa, g.gts.contains(&j))
                    {
                        report(f, msg);
                        bad = true;
                    }
                    qas[j] = Some(c.qa);
                }
                Err(p) => {
                    report(format!("{field}.{}", p.field), p.message);
                    bad = true;
                }
            }
        }
        for (j, q) in qas.iter().enumerate() {
            if q.is_none() {
                report(
                    format!("qas.concept_{j}"),
                    "QAs for this concept are missing".into(),
                );
                bad = true;
            }
        }
        if bad {
            continue;
        }
        let sample = Sample {
            id: key,
            context: m
                .concepts
                .iter()
                .zip(m.dialogues.values())
                .map(|(c, d)| ContextEntry {
                    image: ImageRef::path(c).resolved(base),
                    dialogue: d.as_str().unwrap_or_default().to_string(),
                })
                .collect(),
            query: ImageRef::path(&m.imgs).resolved(base),
            gold: g.gts.clone(),
            qas: qas.into_iter().map(Option::unwrap_or_default).collect(),
            task: TaskKind::Caption,
            yes_no: None,
        };
        out.records.push((loc.clone(), sample));
    }
    for (key, _) in gt.values() {
        // A key whose metadata line exists but is malformed was reported with that line.
        let covered = key
            .strip_prefix("sample_")
            .and_then(|k| k.parse::<usize>().ok())
            .is_some_and(|k| k < meta.lines);
        if !used.contains(key) && !covered {
            out.problems.push(Problem::new(
                gt_path,
                RecordLoc::Key(key.clone()),
                "",
                format!(
                    "no metadata line for this sample in {}",
                    meta_path.display()
                ),
            ));
        }
    }
    out
}

/// Reads and joins a test set.
pub fn read_test_set(meta_path: &Path, gt_path: &Path) -> Result<Loaded<Sample>, DataError> {
    let meta = read_test_meta(meta_path)?;
    let gt = read_ground_truth(gt_path)?;
    Ok(join_test_set(meta_path, &meta, gt_path, &gt))
}

/// Writes samples as a test set: the metadata JSONL and the ground-truth JSON. Samples must
/// use file images; `sample_k` follows the order given.
pub fn write_test_set(
    meta_path: &Path,
    gt_path: &Path,
    samples: &[Sample],
) -> Result<(), DataError> {
    let path_of = |s: &Sample, r: &ImageRef| match r {
        ImageRef::Path(p) => Ok(p.to_string_lossy().into_owned()),
        ImageRef::Embedded { .. } => Err(DataError::Other(format!(
            "sample {}: embedded images cannot go in a test set; write them to files first",
            s.id
        ))),
    };
    let mut metas = Vec::with_capacity(samples.len());
    let mut gts = serde_json::Map::new();
    for (k, s) in samples.iter().enumerate() {
        let concepts = s
            .context
            .iter()
            .map(|c| path_of(s, &c.image))
            .collect::<Result<Vec<_>, _>>()?;
        let dialogues = s
            .context
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    format!("dialogue_{i}"),
                    serde_json::Value::String(c.dialogue.clone()),
                )
            })
            .collect();
        metas.push(TestMeta {
            imgs: path_of(s, &s.query)?,
            concepts,
            dialogues,
            extra: Default::default(),
        });
        let qas = s
            .qas
            .iter()
            .enumerate()
            .map(|(j, q)| {
                (
                    format!("concept_{j}"),
                    serde_json::to_value(ConceptQas { qa: q.clone() }).expect("QAs serialise"),
                )
            })
            .collect();
        let gt = GroundTruth {
            qas,
            gts: s.gold.clone(),
        };
        gts.insert(
            sample_key(k),
            serde_json::to_value(gt).expect("ground truth serialises"),
        );
    }
    json::write_jsonl(meta_path, &metas)?;
    crate::io::write_json_atomic(gt_path, &serde_json::Value::Object(gts))
}
