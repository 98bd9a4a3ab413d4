//! `score-captions REFS.json CANDS.json`: BLEU-1..4, ROUGE-L and CIDEr-D of the candidates
//! (image id → caption) against the references (image id → list of captions), PTB-tokenised
//! as pycocoevalcap does, printed as one JSON object (corpus scores, then per image).
//!
//! A program another project could write with covip-eval alone:
//! `cargo run -p score-captions -- covip-eval/tests/fixtures/coco_refs.json covip-eval/tests/fixtures/coco_cands.json`.
use std::process::ExitCode;

use covip_eval::metrics::{CaptionCorpus, CaptionMetric, score_captions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [refs, cands] = args.as_slice() else {
        eprintln!("usage: score-captions REFS.json CANDS.json");
        return ExitCode::from(2);
    };
    let run = || -> Result<serde_json::Value, covip_eval::metrics::MetricsError> {
        let corpus = CaptionCorpus::load(refs.as_ref(), cands.as_ref())?.tokenized();
        let metrics = [
            CaptionMetric::Bleu,
            CaptionMetric::Rouge,
            CaptionMetric::Cider,
        ];
        Ok(score_captions(&corpus, &metrics)?.to_json())
    };
    match run() {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
