//! The Rust SPICE scorer against SPICE 1.0's own Java classes.
//!
//! `fixtures/spice/oracle_detailed.json` was written by `scripts/spice_oracle/run.sh`: the
//! cases of `fixtures/spice/oracle_cases.json` (candidate tuples and reference captions'
//! tuples) built into scene graphs and scored by the classes of pycocoevalcap 1.2's
//! `spice-1.0.jar` (SceneGraph, TupleSet, Evaluation, SpiceStats) with METEOR 1.5's WordNet
//! synonyms, bypassing only the CoreNLP parser; laid out as the jar's `-detailed -subset`
//! output. These tests need METEOR's English synonym files, found as the library finds them
//! (`$COVIP_METEOR_DATA`, else the per-user folder `covip metrics setup-meteor` fills); without
//! them they are skipped with a notice, and fail under CI.

mod common;

use std::path::{Path, PathBuf};

use covip_eval::metrics::spice::{
    Matching, SceneGraph, TupleCategory, parse_output, rescore_detailed_with, score_graphs,
};
use covip_eval::metrics::wordnet::SynonymDictionary;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/spice")
        .join(name)
}

fn wordnet() -> Option<SynonymDictionary> {
    let dir = common::meteor_dir()?.join("synonym");
    Some(SynonymDictionary::load(&dir).expect("synonym files load"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn tuples(v: &Value) -> Vec<Vec<String>> {
    v.as_array().unwrap().iter().map(strings).collect()
}

#[test]
fn scene_graphs_built_from_tuples_score_as_the_jar_classes_do() {
    let Some(dict) = wordnet() else { return };
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("oracle_cases.json")).unwrap())
            .unwrap();
    let text = std::fs::read_to_string(fixture("oracle_detailed.json")).unwrap();
    let jar = parse_output(&text).unwrap();
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), jar.len());
    assert!(cases.len() >= 14);
    for (case, expected) in cases.iter().zip(&jar) {
        let id = case["image_id"].as_str().unwrap();
        assert_eq!(id, expected.image_id);
        let synonyms = case.get("synsets") != Some(&Value::Bool(false));
        let test = SceneGraph::from_tuples(&tuples(&case["test"]), &dict, synonyms).unwrap();
        let captions: Vec<Vec<Vec<String>>> = case["refs"]
            .as_array()
            .unwrap()
            .iter()
            .map(tuples)
            .collect();
        let refs = SceneGraph::from_captions(&captions, &dict, synonyms).unwrap();
        let matching = if synonyms {
            Matching::Synonyms
        } else {
            Matching::Exact
        };
        let got = score_graphs(&test, &refs, matching);
        // Same arithmetic in the same order: bit-identical numbers.
        assert!(
            got.stats.agrees_with(&expected.stats, 0.0),
            "{id}: rust {:?}\njar {:?}",
            got.stats,
            expected.stats
        );
        // Same tuples, printed alike (Java HashSet order of merged words), in the jar's sorted
        // order, with the same truth values.
        let printed = |set: &covip_eval::metrics::spice::TupleSet| -> Vec<(Vec<String>, bool)> {
            set.printed()
        };
        let want = |ts: &Option<Vec<covip_eval::metrics::spice::PrintedTuple>>| {
            ts.as_ref()
                .unwrap()
                .iter()
                .map(|t| (t.tuple.clone(), t.truth_value))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            printed(&got.test_tuples),
            want(&expected.test_tuples),
            "{id}: test tuples"
        );
        assert_eq!(
            printed(&got.ref_tuples),
            want(&expected.ref_tuples),
            "{id}: ref tuples"
        );
    }
}

#[test]
fn rescoring_the_detailed_output_reproduces_it() {
    let Some(dict) = wordnet() else { return };
    let text = std::fs::read_to_string(fixture("oracle_detailed.json")).unwrap();
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("oracle_cases.json")).unwrap())
            .unwrap();
    let exact_ids: Vec<&str> = cases
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c.get("synsets") == Some(&Value::Bool(false)))
        .map(|c| c["image_id"].as_str().unwrap())
        .collect();
    let syn = rescore_detailed_with(&text, &dict, Matching::Synonyms).unwrap();
    let exact = rescore_detailed_with(&text, &dict, Matching::Exact).unwrap();
    let mut checked = 0;
    for (s, e) in syn.iter().zip(&exact) {
        let r = if exact_ids.contains(&s.image_id.as_str()) {
            e
        } else {
            s
        };
        assert!(
            r.agrees(0.0),
            "{}: {:?} vs {:?}",
            r.image_id,
            r.rust.stats,
            r.jar
        );
        assert!(r.tuples_agree, "{}: tuples differ", r.image_id);
        assert_eq!(r.jar.scores.len(), TupleCategory::EVERY.len());
        checked += 1;
    }
    assert_eq!(checked, cases.as_array().unwrap().len());
}
