//! The `covip metrics caption` pipeline without the rest of the CLI (for speed comparisons):
//! `caption_score REFS.json CANDS.json` prints the same JSON object. With `COVIP_TIMING=1` the
//! time of each phase goes to stderr.
use std::time::Instant;

use covip_eval::metrics::{CaptionMetric, score_captions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let timing = std::env::var_os("COVIP_TIMING").is_some();
    let t0 = Instant::now();
    let lap = |what: &str, t: &mut Instant| {
        if timing {
            eprintln!("{what}: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
            *t = Instant::now();
        }
    };
    let mut t = t0;
    let mut args = std::env::args().skip(1);
    let (refs, cands) = (args.next().ok_or("REFS")?, args.next().ok_or("CANDS")?);
    let corpus = covip_eval::metrics::CaptionCorpus::load(refs.as_ref(), cands.as_ref())?;
    lap("load", &mut t);
    let tok = corpus.tokenized();
    lap("tokenize", &mut t);
    for (m, name) in [
        (CaptionMetric::Bleu, "bleu"),
        (CaptionMetric::Rouge, "rouge"),
        (CaptionMetric::Cider, "cider"),
    ] {
        if timing {
            // Best of 5 (the machine may be shared).
            let mut best = f64::INFINITY;
            for _ in 0..5 {
                let t1 = Instant::now();
                score_captions(&tok, &[m])?;
                best = best.min(t1.elapsed().as_secs_f64());
            }
            eprintln!("{name}: best of 5 {:.1} ms", best * 1e3);
            t = Instant::now();
        }
    }
    let metrics = CaptionMetric::parse_list("bleu,rouge,cider")?;
    let report = score_captions(&tok, &metrics)?;
    lap("all metrics (threads)", &mut t);
    let out = serde_json::to_string(&report.to_json())?;
    println!("{out}");
    lap("json out", &mut t);
    Ok(())
}
