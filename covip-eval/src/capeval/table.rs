//! The Markdown table `covip capeval` prints.
use std::fmt::Write;

use super::result::{BUCKETS, CapevalResult};

/// One row per captions file: Acc+ and Acc− overall, then by number of present concepts
/// (`4` = four or more), as percentages with one decimal; `–` where a bucket has no QA of
/// that kind. A line under the table names the judge and the QA counts.
///
/// ```
/// use covip_eval::capeval::{markdown_table, pool, CapevalResult, Samples};
/// let r = CapevalResult { runs: vec![pool("c.json".into(), "lexical".into(), Samples::default(), vec![])] };
/// let t = markdown_table(&r);
/// assert!(t.starts_with("| captions | Acc+ | Acc− |"));
/// assert!(t.contains("| c.json | – | – |"));
/// ```
pub fn markdown_table(result: &CapevalResult) -> String {
    let mut out = String::from("| captions | Acc+ | Acc− |");
    for b in BUCKETS {
        let _ = write!(out, " Acc+ {b} | Acc− {b} |");
    }
    out.push_str("\n| --- | ---: | ---: |");
    for _ in BUCKETS {
        out.push_str(" ---: | ---: |");
    }
    out.push('\n');
    let pct = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{:.1}", 100.0 * x));
    for run in &result.runs {
        let _ = write!(
            out,
            "| {} | {} | {} |",
            run.captions.replace('|', "\\|"),
            pct(run.acc_pos),
            pct(run.acc_neg)
        );
        for b in BUCKETS {
            let e = run.by_concepts.get(b).copied();
            let _ = write!(
                out,
                " {} | {} |",
                pct(e.and_then(|e| e.acc_pos)),
                pct(e.and_then(|e| e.acc_neg))
            );
        }
        out.push('\n');
    }
    let mut judges: Vec<&str> = result.runs.iter().map(|r| r.judge.as_str()).collect();
    judges.dedup();
    if let Some(first) = result.runs.first() {
        let _ = writeln!(
            out,
            "\nAcc+ / Acc− in %, pooled over QAs; columns 1-4: by present concepts (4 = four or more). \
             Judge: {}. {} samples, {} positive and {} negative QAs{}.",
            judges.join(", "),
            first.samples.0.len(),
            first.n_pos,
            first.n_neg,
            if result.runs.len() > 1 {
                " per captions file"
            } else {
                ""
            }
        );
    }
    out
}
