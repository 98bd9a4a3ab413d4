//! `bertscore MODEL_DIR LAYERS idf|noidf REFS.json CANDS.json`: prints `{"P": [...], "R": [...],
//! "F": [...]}` per image in references order (used by `scripts/metrics_bertscore_fixture.py`
//! to check a real model against the bert_score package).
use covip_eval::metrics::CaptionCorpus;
use covip_eval::metrics::bertscore::{BertScoreOptions, BertScorer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() != 5 {
        return Err("usage: bertscore MODEL_DIR LAYERS idf|noidf REFS.json CANDS.json".into());
    }
    let layers: usize = a[1].parse()?;
    let corpus = CaptionCorpus::load(a[3].as_ref(), a[4].as_ref())?;
    let dev = Default::default();
    let scorer = BertScorer::<covip_model::device::Cpu>::load(a[0].as_ref(), Some(layers), &dev)?;
    let opts = BertScoreOptions {
        idf: a[2] == "idf",
        ..Default::default()
    };
    let s = scorer.score(&corpus.refs, &corpus.cands, &opts)?;
    let col = |f: fn(&covip_eval::metrics::bertscore::Prf) -> f64| {
        s.per_item.iter().map(f).collect::<Vec<f64>>()
    };
    let out = serde_json::json!({"P": col(|x| x.p), "R": col(|x| x.r), "F": col(|x| x.f)});
    println!("{out}");
    Ok(())
}
