//! BLEU-1..4, ROUGE-L and CIDEr-D parity with pycocoevalcap 1.2 (fixtures written by
//! `scripts/metrics_coco_fixture.py`): corpus-level and per-image scores identical to 1e-9, with
//! and without PTB tokenisation, and the tokenised captions identical.
use std::path::PathBuf;

use covip_eval::metrics::{CaptionCorpus, CaptionMetric, score_captions};

fn fx(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fx("coco_scores.json")).unwrap()).unwrap()
}

fn check(mode: &str, corpus: &CaptionCorpus, exp: &serde_json::Value) {
    let metrics = CaptionMetric::parse_list("bleu,rouge,cider").unwrap();
    let report = score_captions(corpus, &metrics).unwrap();
    let mut max_delta = 0.0f64;
    let mut compared = 0;
    for (name, v) in &report.corpus {
        let e = exp[mode]["corpus"][name]
            .as_f64()
            .unwrap_or_else(|| panic!("{mode} {name}"));
        max_delta = max_delta.max((v - e).abs());
        compared += 1;
        assert!(
            (v - e).abs() <= 1e-9,
            "{mode} corpus {name}: ours {v} vs pycocoevalcap {e}"
        );
    }
    for (id, scores) in &report.per_image {
        for (name, v) in scores {
            let e = exp[mode]["per_image"][id][name].as_f64().unwrap();
            max_delta = max_delta.max((v - e).abs());
            compared += 1;
            assert!(
                (v - e).abs() <= 1e-9,
                "{mode} image {id} {name}: ours {v} vs {e}"
            );
        }
    }
    assert_eq!(compared, 6 * (corpus.ids.len() + 1));
    eprintln!("{mode}: {compared} values compared, max |delta| = {max_delta:e}");
}

#[test]
fn caption_metrics_match_pycocoevalcap_tokenized_and_raw() {
    let exp = expected();
    let corpus = CaptionCorpus::load(&fx("coco_refs.json"), &fx("coco_cands.json")).unwrap();
    let n_caps: usize = corpus.refs.iter().map(Vec::len).sum::<usize>() + corpus.cands.len();
    assert!(n_caps >= 500, "corpus too small: {n_caps}");
    assert_eq!(exp["n_captions"].as_u64().unwrap() as usize, n_caps);

    let tok = corpus.tokenized();
    for (i, id) in tok.ids.iter().enumerate() {
        let er: Vec<&str> = exp["tokenized_refs"][id]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(tok.refs[i], er, "tokenised references of {id}");
        assert_eq!(
            tok.cands[i],
            exp["tokenized_cands"][id].as_str().unwrap(),
            "tokenised candidate of {id}"
        );
    }
    check("tokenized", &tok, &exp);
    check("raw", &corpus, &exp);
}
