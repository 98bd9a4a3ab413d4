//! BERTScore parity with the `bert_score` package (0.3.13) on a tiny random BERT committed under
//! `tests/fixtures/tiny_bert` (fixture: `scripts/metrics_bertscore_fixture.py`).
use std::path::PathBuf;

use covip_eval::metrics::bert::BertEncoder;
use covip_eval::metrics::bertscore::{BertScoreOptions, BertScorer};
use covip_model::device::Cpu;
use serde_json::Value;

fn fixture() -> (PathBuf, Value) {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    let fx = serde_json::from_str(&std::fs::read_to_string(dir.join("bertscore.json")).unwrap())
        .unwrap();
    (dir.join("tiny_bert"), fx)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn encoder_hidden_states_match_transformers() {
    let (model, fx) = fixture();
    let dev = Default::default();
    let enc = BertEncoder::<Cpu>::load(&model, Some(2), &dev).unwrap();
    let scorer = BertScorer::<Cpu>::load(&model, Some(2), &dev).unwrap();
    let mut max = 0.0f64;
    let hidden = fx["hidden"].as_object().unwrap();
    assert_eq!(hidden.len(), 2);
    let mut batch = Vec::new();
    for (sent, v) in hidden {
        let ids: Vec<u32> = v["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(scorer.tokenize(sent).unwrap(), ids, "token ids of {sent:?}");
        batch.push(ids);
    }
    // Both in one padded batch: padding must not change the result.
    let got = enc.encode(&batch).unwrap();
    for ((_, v), g) in hidden.iter().zip(&got) {
        let want: Vec<f64> = v["hidden"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
            .collect();
        assert_eq!(want.len(), g.len());
        for (a, b) in want.iter().zip(g) {
            max = max.max((a - *b as f64).abs());
        }
    }
    assert!(max < 1e-4, "max |hidden - transformers| = {max:e}");
}

#[test]
fn bertscore_matches_bert_score_package() {
    let (model, fx) = fixture();
    let dev = Default::default();
    let layers = fx["num_layers"].as_u64().unwrap() as usize;
    let scorer = BertScorer::<Cpu>::load(&model, Some(layers), &dev).unwrap();
    let cands = strings(&fx["cands"]);
    let refs: Vec<Vec<String>> = fx["refs"].as_array().unwrap().iter().map(strings).collect();
    assert!(cands.len() >= 30 && refs.iter().any(|r| r.len() > 1));
    let b = &fx["baseline"];
    let baseline = [0, 1, 2].map(|k| b[k].as_f64().unwrap());
    let mut worst = 0.0f64;
    for (key, idf, base) in [
        ("no_idf", false, None),
        ("idf", true, None),
        ("rescaled_idf", true, Some(baseline)),
    ] {
        let got = scorer
            .score(
                &refs,
                &cands,
                &BertScoreOptions {
                    idf,
                    baseline: base,
                    batch_size: 7,
                },
            )
            .unwrap();
        for (k, name) in ["P", "R", "F"].iter().enumerate() {
            let want: Vec<f64> = fx[key][name]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            assert_eq!(want.len(), got.per_item.len());
            for (i, (w, g)) in want.iter().zip(&got.per_item).enumerate() {
                let g = [g.p, g.r, g.f][k];
                let d = (w - g).abs();
                worst = worst.max(d);
                assert!(
                    d < 1e-4,
                    "{key} {name}[{i}] ({:?}): bert_score {w}, covip {g}",
                    cands[i]
                );
            }
        }
    }
    eprintln!("max |covip - bert_score| = {worst:e}");
}
