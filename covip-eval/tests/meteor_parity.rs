//! METEOR parity with pycocoevalcap 1.2's meteor-1.5.jar (fixtures written by
//! `scripts/metrics_meteor_fixture.py`): per image, the jar's statistics line and score; per
//! corpus, the score of the summed statistics. Both must be identical, bit for bit.
//!
//! Two checks per corpus:
//! - aligner and scorer alone: the jar's own normalised segments and stems (from the fixture)
//!   go through covip's matchers, beam search and score formula;
//! - end to end: the captions go through covip's stdio emulation, normaliser and stemmer too.
//!
//! The resources come from `$COVIP_METEOR_DATA` or the per-user default location; without
//! them the tests are skipped with a notice, unless `CI` is set or `COVIP_REQUIRE_METEOR=1`
//! (set by `.ci/run`, which installs them first), which makes their absence a failure.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use covip_eval::metrics::CaptionCorpus;
use covip_eval::metrics::meteor::{Meteor, MeteorCorpusScore, MeteorStats};
use serde_json::Value;

fn fx(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A score of the fixture: a repr string, parsed exactly.
fn score(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a score string: {v}"))
}

fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fx(name)).unwrap()).unwrap()
}

/// The shared scorer, or `None` (test skipped) when the resources are not installed.
fn meteor() -> Option<Arc<Meteor>> {
    let dir = common::meteor_dir()?;
    let t = std::time::Instant::now();
    let m = Meteor::shared(&dir).expect("load METEOR resources");
    eprintln!("METEOR resources ready in {:.2?}", t.elapsed());
    Some(m)
}

/// The corpus of a fixture name, tokenised or not as pycocoevalcap saw it.
fn corpus(name: &str) -> CaptionCorpus {
    let (refs, cands, tokenize) = match name {
        "coco_tokenized" => ("coco_refs.json", "coco_cands.json", true),
        "coco_raw" => ("coco_refs.json", "coco_cands.json", false),
        "cases" => ("meteor/cases_refs.json", "meteor/cases_cands.json", false),
        "long" => ("meteor/long_refs.json", "meteor/long_cands.json", true),
        other => panic!("unknown corpus {other}"),
    };
    let c = CaptionCorpus::load(&fx(refs), &fx(cands)).unwrap();
    if tokenize { c.tokenized() } else { c }
}

const CORPORA: [&str; 4] = ["coco_tokenized", "coco_raw", "cases", "long"];

/// Compares covip's result with the jar's; returns (images, max |Δ| per image, |Δ| corpus).
fn compare(what: &str, ids: &[String], got: &MeteorCorpusScore, exp: &Value) -> (usize, f64, f64) {
    assert_eq!(
        ids.len(),
        exp["n_images"].as_u64().unwrap() as usize,
        "{what}"
    );
    let mut max_image = 0.0f64;
    let mut bad = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let want_stats: Vec<u64> = exp["stats"][id]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: no stats for {id}"))
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let want = score(&exp["per_image"][id]);
        let d = (got.per_image[i] - want).abs();
        max_image = max_image.max(d);
        if got.stats[i].to_array().as_slice() != want_stats.as_slice() || d != 0.0 {
            bad.push(format!(
                "{id}: score {} vs jar {want}; stats {:?} vs jar {:?}",
                got.per_image[i],
                got.stats[i].to_array(),
                want_stats
            ));
        }
    }
    let want = score(&exp["corpus"]);
    let d_corpus = (got.corpus - want).abs();
    eprintln!(
        "{what}: {} images, max |delta| per image {max_image:e}, corpus {} vs jar {want} (|delta| {d_corpus:e}), {} image(s) differ",
        ids.len(),
        got.corpus,
        bad.len()
    );
    assert!(
        bad.is_empty(),
        "{what}: {} image(s) differ from the jar, first: {:#?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
    assert_eq!(d_corpus, 0.0, "{what}: corpus score");
    (ids.len(), max_image, d_corpus)
}

#[test]
fn aligner_and_scorer_match_the_jar_on_its_own_segments() {
    let Some(m) = meteor() else { return };
    let scores = json("meteor/scores.json");
    let view = json("meteor/view.json");
    let stems: HashMap<String, String> = view["stems"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let stems = Arc::new(stems);
    let jar_stems = (*m).clone().with_stemmer(Arc::new(move |w: &str| {
        stems
            .get(w)
            .cloned()
            .unwrap_or_else(|| panic!("no jar stem for {w:?}"))
    }));
    for name in CORPORA {
        let ids = corpus(name).ids;
        let v = &view["corpora"][name];
        let tests: Vec<String> = ids
            .iter()
            .map(|id| v[id]["test"].as_str().unwrap().to_string())
            .collect();
        let refs: Vec<Vec<String>> = ids
            .iter()
            .map(|id| {
                v[id]["refs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect()
            })
            .collect();
        let got = jar_stems.score_corpus_normalized(&refs, &tests).unwrap();
        compare(
            &format!("{name} (jar segments)"),
            &ids,
            &got,
            &scores["corpora"][name],
        );
    }
}

#[test]
fn end_to_end_matches_pycocoevalcap() {
    let Some(m) = meteor() else { return };
    let scores = json("meteor/scores.json");
    let (mut images, mut worst_image, mut worst_corpus) = (0, 0.0f64, 0.0f64);
    for name in CORPORA {
        let c = corpus(name);
        let t = std::time::Instant::now();
        let got = m.score_corpus(&c.refs, &c.cands).unwrap();
        eprintln!("{name}: scored in {:.2?}", t.elapsed());
        let (n, di, dc) = compare(name, &c.ids, &got, &scores["corpora"][name]);
        images += n;
        worst_image = worst_image.max(di);
        worst_corpus = worst_corpus.max(dc);
    }
    eprintln!(
        "end to end: {images} images, max |delta| per image {worst_image:e}, per corpus {worst_corpus:e}"
    );
}

#[test]
fn results_do_not_depend_on_image_order_or_threads() {
    let Some(m) = meteor() else { return };
    let c = corpus("coco_tokenized");
    let all = m.score_corpus(&c.refs, &c.cands).unwrap();
    // One image at a time, in reverse: same per-image statistics, same summed score.
    let mut total = MeteorStats::default();
    for i in (0..c.ids.len()).rev() {
        let s = m.segment(&c.cands[i], &c.refs[i]);
        assert_eq!(s, all.stats[i], "{}", c.ids[i]);
        total.add(&s);
    }
    assert_eq!(total, all.total);
    assert_eq!(total.score(m.parameters()).score, all.corpus);
}
