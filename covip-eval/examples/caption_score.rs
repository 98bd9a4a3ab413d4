//! The `covip metrics caption` pipeline without the rest of the CLI (for speed comparisons):
//! `caption_score REFS.json CANDS.json` prints the same JSON object.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (refs, cands) = (args.next().ok_or("REFS")?, args.next().ok_or("CANDS")?);
    let corpus = covip_eval::metrics::CaptionCorpus::load(refs.as_ref(), cands.as_ref())?;
    let metrics = covip_eval::metrics::CaptionMetric::parse_list("bleu,rouge,cider")?;
    let report = covip_eval::metrics::score_captions(&corpus.tokenized(), &metrics)?;
    println!("{}", serde_json::to_string(&report.to_json())?);
    Ok(())
}
