//! Readers and writers of every released format: round trips on the bundled sample set, and
//! the exact problems malformed inputs produce.
use std::path::{Path, PathBuf};

use covip_data::formats::{self, Dataset, TrainRecord};
use covip_data::inspect::summarize;
use covip_data::{DiagnosticKind, ImageRef, Letter, TaskKind};

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample")
}

fn messages(problems: &[covip_data::Problem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

#[test]
fn bundled_sample_set_loads_without_problems() {
    let datasets = formats::load(&sample_dir()).unwrap();
    assert_eq!(
        datasets.len(),
        6,
        "3 JSONL + 1 Parquet diagnostics, train, test"
    );
    for d in &datasets {
        let s = summarize(d, true);
        assert!(s.problems.is_empty(), "{}: {:?}", s.path, s.problems);
        assert!(s.samples > 0);
    }
    let test = datasets
        .iter()
        .find_map(|d| match d {
            Dataset::Test { samples, .. } => Some(samples),
            _ => None,
        })
        .unwrap();
    let present: Vec<usize> = test.values().map(|s| s.gold.len()).collect();
    assert_eq!(present, [1, 2, 3, 4]);
    for s in test.values() {
        assert_eq!(
            s.context.len(),
            3 * s.gold.len(),
            "1 positive : 2 negatives"
        );
        assert_eq!(s.pos_qas().len(), s.gold.len());
        assert_eq!(s.neg_qas().len(), 3 * (s.context.len() - s.gold.len()));
        assert!(
            s.pos_qas()
                .iter()
                .flat_map(|q| q.iter())
                .all(|q| q.correct_answer != Letter::D)
        );
    }
}

#[test]
fn bundled_sample_set_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let report = covip_data::bundled::write_sample_set(dir.path()).unwrap();
    assert!(report.files.len() > 50);
    for f in &report.files {
        let rel = f.strip_prefix(dir.path()).unwrap();
        let committed = std::fs::read(sample_dir().join(rel))
            .unwrap_or_else(|e| panic!("{} is not committed: {e}", rel.display()));
        assert_eq!(
            std::fs::read(f).unwrap(),
            committed,
            "{} differs",
            rel.display()
        );
    }
}

#[test]
fn training_list_round_trips_between_json_and_jsonl() {
    let src = sample_dir().join("train.jsonl");
    let records = formats::read_train(&src).unwrap().into_result().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let as_json = dir.path().join("train.json");
    formats::write_train(&as_json, &records).unwrap();
    assert!(
        std::fs::read_to_string(&as_json)
            .unwrap()
            .trim_start()
            .starts_with('[')
    );
    let back = formats::read_train(&as_json)
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(back, records);
    let as_jsonl = dir.path().join("again.jsonl");
    formats::write_train(&as_jsonl, &back).unwrap();
    assert_eq!(
        std::fs::read(&as_jsonl).unwrap(),
        std::fs::read(&src).unwrap()
    );
}

#[test]
fn test_set_round_trips() {
    let dir = sample_dir().join("test");
    let samples = formats::read_test_set(&dir.join("meta.jsonl"), &dir.join("qas_gt.json"))
        .unwrap()
        .into_result()
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    // Write with the same relative paths the originals had.
    let rel: Vec<_> = samples
        .iter()
        .map(|s| {
            let strip = |r: &ImageRef| match r {
                ImageRef::Path(p) => ImageRef::path(p.strip_prefix(&dir).unwrap()),
                o => o.clone(),
            };
            covip_data::Sample {
                context: s
                    .context
                    .iter()
                    .map(|c| covip_data::ContextEntry {
                        image: strip(&c.image),
                        dialogue: c.dialogue.clone(),
                    })
                    .collect(),
                query: strip(&s.query),
                ..s.clone()
            }
        })
        .collect();
    let (m, g) = (out.path().join("meta.jsonl"), out.path().join("gt.json"));
    formats::write_test_set(&m, &g, &rel).unwrap();
    assert_eq!(
        std::fs::read(&m).unwrap(),
        std::fs::read(dir.join("meta.jsonl")).unwrap()
    );
    assert_eq!(
        std::fs::read(&g).unwrap(),
        std::fs::read(dir.join("qas_gt.json")).unwrap()
    );
}

#[test]
fn downstream_round_trips_through_parquet_and_jsonl() {
    let src = sample_dir().join("diagnostics/lar.jsonl");
    let samples = formats::read_downstream_json(&src)
        .unwrap()
        .into_result()
        .unwrap();
    assert!(
        samples
            .iter()
            .all(|s| s.kind == DiagnosticKind::Lar && s.last_action.is_some())
    );
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("lar.parquet");
    formats::write_downstream_parquet(&pq, &samples).unwrap();
    let back = formats::read_downstream_parquet(&pq)
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(back, samples);
    // Embedded images come back as bytes, and JSONL output writes them to files.
    let embedded =
        formats::read_downstream_parquet(&sample_dir().join("diagnostics/lsd_embedded.parquet"))
            .unwrap()
            .into_result()
            .unwrap();
    let lsd = formats::read_downstream_json(&sample_dir().join("diagnostics/lsd.jsonl"))
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(embedded.len(), lsd.len());
    for (e, j) in embedded.iter().zip(&lsd) {
        assert_eq!(e.answer, j.answer);
        assert!(matches!(e.query, ImageRef::Embedded { .. }));
        assert_eq!(e.query.read_bytes().unwrap(), j.query.read_bytes().unwrap());
    }
    let out = dir.path().join("lsd.jsonl");
    formats::write_downstream_json(&out, &embedded, &dir.path().join("imgs")).unwrap();
    let again = formats::read_downstream_json(&out)
        .unwrap()
        .into_result()
        .unwrap();
    for (a, j) in again.iter().zip(&lsd) {
        assert_eq!(a.context.len(), j.context.len());
        assert_eq!(
            a.context[3].image.read_bytes().unwrap(),
            j.context[3].image.read_bytes().unwrap()
        );
        assert_eq!(a.answer, j.answer);
    }
}

#[test]
fn hugging_face_parquet_fixture_reads() {
    // Written by scripts/make_data_fixtures.py with pyarrow: large strings, `{bytes, path}`
    // image structs with and without bytes, and a bad row.
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf_lar.parquet");
    let loaded = formats::read_downstream_parquet(&p).unwrap();
    assert_eq!(loaded.records.len(), 2);
    let s = &loaded.records[0].1;
    assert_eq!(s.kind, DiagnosticKind::Lar);
    assert_eq!(s.last_action.as_deref(), Some("I was baking bread."));
    assert_eq!(s.context.len(), 2);
    assert!(
        matches!(&s.context[0].image, ImageRef::Embedded { bytes, path } if bytes.starts_with(b"\x89PNG") && path.as_deref() == Some("a.png"))
    );
    assert!(matches!(&s.context[1].image, ImageRef::Path(p) if p.ends_with("b.png")));
    assert!(s.context[0].image.decode().is_ok());
    assert_eq!(
        messages(&loaded.problems),
        [format!(
            "{}: record 2: dialogues_context: 1 dialogues for 2 context images",
            p.display()
        )]
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn good_caption_record() -> serde_json::Value {
    let qa = |c: &str| serde_json::json!({"id": "Q1", "question": "q?", "options": {"A": "a", "B": "b", "C": "c", "D": "cannot tell"}, "correct_answer": c});
    serde_json::json!({
        "images": ["c0.png", "c1.png", "c2.png", "q.png"],
        "accu_reward_method": "caption",
        "answer": [1],
        "pos_qas": [[qa("A"), qa("B"), qa("C")]],
        "neg_qas": [qa("A"), qa("B"), qa("C"), qa("A"), qa("B"), qa("C")],
        "c_num": 3,
        "dialogues": ["d0", "d1", "d2"],
    })
}

#[test]
fn malformed_training_records_get_exact_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_caption_record();
    let mut bad_letter = good.clone();
    bad_letter["pos_qas"][0][1]["correct_answer"] = "E".into();
    let mut missing_option = good.clone();
    missing_option["neg_qas"][2]["options"]
        .as_object_mut()
        .unwrap()
        .remove("C");
    let mut out_of_range = good.clone();
    out_of_range["answer"] = serde_json::json!([3]);
    let mut short = good.clone();
    short["pos_qas"][0].as_array_mut().unwrap().pop();
    let mut bad_task = good.clone();
    bad_task["accu_reward_method"] = "captioning".into();
    let lines = [
        good.to_string(),
        bad_letter.to_string(),
        missing_option.to_string(),
        out_of_range.to_string(),
        short.to_string(),
        "{\"images\": [".to_string(),
        bad_task.to_string(),
    ];
    let p = write(dir.path(), "train.jsonl", &lines.join("\n"));
    let loaded = formats::read_train(&p).unwrap();
    let d = p.display();
    assert_eq!(
        loaded.records.len(),
        4,
        "lines 1, 3, 4, 5 parse; 3–5 are then invalid"
    );
    assert_eq!(
        messages(&loaded.problems),
        [
            format!(
                "{d}: line 2: pos_qas[0][1].correct_answer: unknown variant `E`, expected one of `A`, `B`, `C`, `D`"
            ),
            format!("{d}: line 3: neg_qas[2].options.C: option is missing"),
            format!(
                "{d}: line 3: neg_qas[2].correct_answer: correct answer C is not among the options"
            ),
            format!("{d}: line 4: answer[0]: gold index 3 is out of range for 3 concepts"),
            format!("{d}: line 5: pos_qas[0]: expected 3 QAs, found 2"),
            format!("{d}: line 6: not JSON: EOF while parsing a list at line 1 column 12"),
            format!(
                "{d}: line 7: accu_reward_method: unknown variant `captioning`, expected one of `caption`, `multi_vision`, `vision`"
            ),
        ]
    );
    // Only the valid record becomes a sample; the problems stay reported.
    let samples = formats::read_train_samples(&p).unwrap();
    assert_eq!(samples.records.len(), 1);
    assert_eq!(samples.records[0].1.task, TaskKind::Caption);
    assert_eq!(samples.records[0].1.gold, [1]);
    assert_eq!(samples.problems.len(), 7);
    assert!(samples.into_result().is_err());
}

#[test]
fn json_array_training_list_reports_indices() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = good_caption_record();
    bad["dialogues"] = serde_json::json!(["only one"]);
    let p = write(
        dir.path(),
        "train.json",
        &serde_json::json!([good_caption_record(), bad]).to_string(),
    );
    let loaded = formats::read_train(&p).unwrap();
    assert_eq!(
        messages(&loaded.problems),
        [format!(
            "{}: record 1: dialogues: 1 dialogues for 3 concepts",
            p.display()
        )]
    );
    let rec: &TrainRecord = &loaded.records[0].1;
    assert_eq!(rec.num_concepts(), 3);
}

#[test]
fn malformed_test_sets_get_exact_errors() {
    let dir = tempfile::tempdir().unwrap();
    let meta_line = serde_json::json!({"imgs": "q.png", "concepts": ["a.png", "b.png"], "dialogues": {"0": "d0", "1": "d1"}});
    let meta = write(
        dir.path(),
        "meta.jsonl",
        &format!("{meta_line}\n{{\"imgs\": 3}}\n{meta_line}\n"),
    );
    let qa = serde_json::json!({"id": "Q1", "question": "q?", "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "correct_answer": "A"});
    let three = serde_json::json!({"qa": [qa, qa, qa]});
    let gt = serde_json::json!({
        "sample_0": {"qas": {"concept_0": three, "concept_1": three}, "gts": [0]},
        "sample_1": {"qas": {"concept_0": three, "concept_1": three}, "gts": [1]},
        "sample_2": {"qas": {"concept_0": three, "concept_1": {"qa": [qa]}}, "gts": [2]},
        "sample_3": {"qas": {}, "gts": [0]},
    });
    let gtp = write(dir.path(), "gt.json", &gt.to_string());
    let loaded = formats::read_test_set(&meta, &gtp).unwrap();
    let (m, g) = (meta.display(), gtp.display());
    assert_eq!(loaded.records.len(), 1);
    assert_eq!(loaded.records[0].1.id, "sample_0");
    assert_eq!(
        messages(&loaded.problems),
        [
            format!("{m}: line 2: imgs: invalid type: integer `3`, expected a string"),
            format!(
                "{g}: record \"sample_2\": gts[0]: gold index 2 is out of range for 2 concepts"
            ),
            format!("{g}: record \"sample_2\": qas.concept_1.qa: expected 3 QAs, found 1"),
            format!("{g}: record \"sample_3\": no metadata line for this sample in {m}"),
        ]
    );
}

#[test]
fn malformed_downstream_records_get_exact_errors() {
    let dir = tempfile::tempdir().unwrap();
    let rec = serde_json::json!({"images_context": ["a.png"], "dialogues_context": ["d"], "query_image": {"path": "q.png"}, "answer": "the park"});
    let mut mismatch = rec.clone();
    mismatch["dialogues_context"] = serde_json::json!([]);
    let mut lar_without_action = rec.clone();
    lar_without_action["last_action"] = "  ".into();
    let p = write(
        dir.path(),
        "my_lar.jsonl",
        &format!("{rec}\n{mismatch}\n{lar_without_action}\n"),
    );
    let loaded = formats::read_downstream_json(&p).unwrap();
    assert_eq!(loaded.records.len(), 1);
    assert_eq!(
        loaded.records[0].1.kind,
        DiagnosticKind::Lsd,
        "no last_action: LSD shape"
    );
    assert_eq!(
        messages(&loaded.problems),
        [
            format!(
                "{}: line 2: dialogues_context: 0 dialogues for 1 context images",
                p.display()
            ),
            format!(
                "{}: line 3: last_action: an LAR record needs its last action",
                p.display()
            ),
        ]
    );
}

#[test]
fn image_checks_are_opt_in_and_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.png"), b"not a png").unwrap();
    let rec = serde_json::json!({"images_context": ["missing.png"], "dialogues_context": ["d"], "query_image": "broken.png", "answer": "x"});
    let p = write(dir.path(), "lsd.jsonl", &rec.to_string());
    let ds = formats::load(&p).unwrap();
    assert!(summarize(&ds[0], false).problems.is_empty());
    let problems = summarize(&ds[0], true).problems;
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].ends_with(&format!(
        "line 1: context[0].image: image {} does not exist",
        dir.path().join("missing.png").display()
    )));
    assert!(
        problems[1].contains("line 1: query: image ") && problems[1].contains("does not decode"),
        "{}",
        problems[1]
    );
}

#[test]
fn unknown_files_and_missing_paths_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "captions.json", r#"{"sample_0": "a caption"}"#);
    let err = formats::load(&p).unwrap_err().to_string();
    assert!(
        err.contains("captions.json: cannot tell the format"),
        "{err}"
    );
    let err = formats::load(&dir.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope: no such file or folder"), "{err}");
}

/// Every QA `id` of a JSON value (a training record or a ground-truth file), in order.
fn qa_ids(v: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
    match v {
        serde_json::Value::Object(o) => {
            if o.contains_key("question") && o.contains_key("options") {
                out.push(o["id"].clone());
            }
            o.values().for_each(|x| qa_ids(x, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| qa_ids(x, out)),
        _ => {}
    }
}

#[test]
fn integer_qa_ids_are_read_and_written_back_as_integers() {
    let dir = tempfile::tempdir().unwrap();
    let mut record = good_caption_record();
    let mut n = 0;
    for list in ["pos_qas", "neg_qas"] {
        let qas: Vec<&mut serde_json::Value> = if list == "pos_qas" {
            record[list][0].as_array_mut().unwrap().iter_mut().collect()
        } else {
            record[list].as_array_mut().unwrap().iter_mut().collect()
        };
        for qa in qas {
            // Integers and strings mixed, as a hand-made file might have them.
            qa["id"] = if n % 2 == 0 {
                serde_json::json!(n)
            } else {
                serde_json::json!(format!("{n}"))
            };
            n += 1;
        }
    }
    let mut want = Vec::new();
    qa_ids(&record, &mut want);
    assert_eq!(want[..3], [serde_json::json!(0), "1".into(), 2.into()]);
    let p = write(dir.path(), "train.jsonl", &format!("{record}\n"));
    let loaded = formats::read_train(&p).unwrap();
    assert!(
        loaded.problems.is_empty(),
        "{:?}",
        messages(&loaded.problems)
    );
    let qa = &loaded.records[0].1.pos_qas[0][0];
    assert_eq!(qa.id, covip_data::QaId::Int(0));
    assert_eq!(loaded.records[0].1.pos_qas[0][1].id, "1");
    // Written back, as JSONL and as a JSON array: the same ids, the same types.
    let records: Vec<TrainRecord> = loaded.into_result().unwrap();
    for name in ["out.jsonl", "out.json"] {
        let out = dir.path().join(name);
        formats::write_train(&out, &records).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let values: Vec<serde_json::Value> = if name.ends_with(".jsonl") {
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        } else {
            serde_json::from_str(&text).unwrap()
        };
        let mut got = Vec::new();
        qa_ids(&values[0], &mut got);
        assert_eq!(got, want, "{name}");
    }
    // Through the canonical sample and the test-set format too.
    let samples = formats::read_train_samples(&p)
        .unwrap()
        .into_result()
        .unwrap();
    let (meta, gt) = (dir.path().join("meta.jsonl"), dir.path().join("gt.json"));
    formats::write_test_set(&meta, &gt, &samples).unwrap();
    let gt_value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&gt).unwrap()).unwrap();
    let mut got = Vec::new();
    qa_ids(&gt_value, &mut got);
    let mut sorted_got: Vec<String> = got.iter().map(|v| v.to_string()).collect();
    let mut sorted_want: Vec<String> = want.iter().map(|v| v.to_string()).collect();
    sorted_got.sort();
    sorted_want.sort();
    assert_eq!(
        sorted_got, sorted_want,
        "the ground truth keeps each id's type"
    );
    let back = formats::read_test_set(&meta, &gt)
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(back[0].qas, samples[0].qas);
}
