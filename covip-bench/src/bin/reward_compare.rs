//! Runs the same caption file through the Python reference (`scripts/reward_reference.py`) and
//! covip-rl in one run, checks that they agree record by record, and prints the throughput of
//! each and the ratio (one core each: the Rust side is single-threaded).
//!
//! Each side times `--repeat` passes over the whole file separately and reports the median and
//! the best pass; the ratios compare median with median and best with best. For low noise, pin
//! the run (Python inherits the affinity) to one core and look at the load average it prints:
//!
//! ```text
//! taskset -c 0 cargo run --release -p covip-bench --bin reward_compare -- [--n 400]
//!     [--share 0.25] [--seed 7] [--repeat 7] [--python python3]
//!     [--script scripts/reward_reference.py]
//! ```
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use covip_rl::{DegenerationFilter, RetrievalConfig, caption_reward};
use serde_json::{Value, json};

use covip_bench::reward_corpus::{self, CaptionRecord};

struct Opts {
    n: usize,
    share: f64,
    seed: u64,
    repeat: usize,
    python: String,
    script: PathBuf,
}

fn opts() -> Result<Opts, String> {
    let mut o = Opts {
        n: 400,
        share: 0.25,
        seed: 7,
        repeat: 7,
        python: "python3".into(),
        script: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/reward_reference.py"
        )),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--n" => o.n = val()?.parse().map_err(|e| format!("--n: {e}"))?,
            "--share" => o.share = val()?.parse().map_err(|e| format!("--share: {e}"))?,
            "--seed" => o.seed = val()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--repeat" => o.repeat = val()?.parse().map_err(|e| format!("--repeat: {e}"))?,
            "--python" => o.python = val()?,
            "--script" => o.script = PathBuf::from(val()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

/// (median, best) captions per second over passes of `per_pass` captions.
fn rates(per_pass: usize, mut secs: Vec<f64>) -> (f64, f64) {
    secs.sort_by(f64::total_cmp);
    let m = secs.len() / 2;
    let median = if secs.len() % 2 == 1 {
        secs[m]
    } else {
        (secs[m - 1] + secs[m]) / 2.0
    };
    (per_pass as f64 / median, per_pass as f64 / secs[0])
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The CPUs this process may run on (`taskset` affinity), as the kernel lists them.
fn cpus_allowed() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Cpus_allowed_list:")
                    .map(|v| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The pass times (seconds) and the results of the Python reference.
fn python(
    o: &Opts,
    input: &Path,
    mode: &str,
    output: &Path,
) -> Result<(Vec<f64>, Vec<Value>), String> {
    let out = Command::new(&o.python)
        .arg(&o.script)
        .args(["--input", input.to_str().unwrap(), "--mode", mode])
        .args(["--output", output.to_str().unwrap()])
        .args(["--repeat", &o.repeat.to_string()])
        .output()
        .map_err(|e| format!("running {}: {e}", o.python))?;
    if !out.status.success() {
        return Err(format!(
            "python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let summary: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("python summary: {e}"))?;
    let results = std::fs::read_to_string(output)
        .map_err(|e| e.to_string())?
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let passes = summary["pass_seconds"]
        .as_array()
        .ok_or("python summary has no pass_seconds")?
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    Ok((passes, results))
}

fn close(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9,
        _ => a == b,
    }
}

fn main() -> ExitCode {
    let o = match opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let records = reward_corpus::records(o.n, o.share, o.seed);
    let dir = std::env::temp_dir().join(format!("covip-reward-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("captions.jsonl");
    let text: String = records.iter().map(|r| r.to_string() + "\n").collect();
    std::fs::write(&input, text).unwrap();
    let recs: Vec<CaptionRecord> = records.iter().map(CaptionRecord::from_value).collect();
    let words: usize = recs
        .iter()
        .map(|r| r.caption.split_whitespace().count())
        .sum();
    let filter = DegenerationFilter::default();
    let cfg = RetrievalConfig::default();
    println!(
        "load average {}; CPUs allowed {}",
        load_average(),
        cpus_allowed()
    );
    println!(
        "{} captions, {:.0} words on average, {} degenerate; {} timed passes each",
        recs.len(),
        words as f64 / recs.len() as f64,
        recs.iter()
            .filter(|r| filter.is_degenerate(&r.caption).unwrap())
            .count(),
        o.repeat
    );
    println!(
        "{:<8} {:>21} {:>21} {:>15}  agree",
        "", "python capt/s", "rust capt/s", "ratio"
    );
    println!(
        "{:<8} {:>10} {:>10} {:>10} {:>10} {:>7} {:>7}",
        "mode", "median", "best", "median", "best", "median", "best"
    );
    let mut all_agree = true;
    for mode in ["verdict", "report", "caption"] {
        let (py_secs, py) = match python(&o, &input, mode, &dir.join(format!("{mode}.jsonl"))) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let run_once = || -> Vec<Value> {
            recs.iter()
                .map(|r| match mode {
                    "verdict" => json!({"degenerate": filter.is_degenerate(&r.caption).unwrap()}),
                    "report" => {
                        let rep = filter.report(&r.caption).unwrap();
                        json!({"sentence_ratio": rep.sentence_ratio, "ngram_ratio": rep.ngram_ratio,
                               "chunk_ratios": {"10": rep.chunk_ratio(10), "20": rep.chunk_ratio(20), "30": rep.chunk_ratio(30)}})
                    }
                    _ => {
                        let c = caption_reward(&filter, &r.caption, &r.pos, Some(&r.judge_pos[..]),
                                               &r.neg, Some(&r.judge_neg[..]), &cfg).unwrap();
                        json!({"reward": c.reward, "degenerate": c.degenerate,
                               "sigma_pos": c.retrieval.map(|s| s.sigma_pos),
                               "sigma_neg": c.retrieval.map(|s| s.sigma_neg)})
                    }
                })
                .collect()
        };
        let rust = run_once();
        // Time the computation alone (building the JSON for comparison is not timed).
        let mut rust_secs = Vec::with_capacity(o.repeat);
        for _ in 0..o.repeat {
            let start = Instant::now();
            for r in &recs {
                match mode {
                    "verdict" => {
                        std::hint::black_box(
                            filter
                                .is_degenerate(std::hint::black_box(&r.caption))
                                .unwrap(),
                        );
                    }
                    "report" => {
                        std::hint::black_box(
                            filter.report(std::hint::black_box(&r.caption)).unwrap(),
                        );
                    }
                    _ => {
                        std::hint::black_box(
                            caption_reward(
                                &filter,
                                std::hint::black_box(&r.caption),
                                &r.pos,
                                Some(&r.judge_pos[..]),
                                &r.neg,
                                Some(&r.judge_neg[..]),
                                &cfg,
                            )
                            .unwrap(),
                        );
                    }
                }
            }
            rust_secs.push(start.elapsed().as_secs_f64());
        }
        let (py_med, py_best) = rates(recs.len(), py_secs);
        let (rust_med, rust_best) = rates(recs.len(), rust_secs);
        let mut mismatches = 0;
        for (i, (a, b)) in rust.iter().zip(&py).enumerate() {
            let same = match (a, b) {
                (Value::Object(x), Value::Object(y)) => {
                    x.iter().all(|(k, v)| match (v, y.get(k)) {
                        (Value::Object(inner), Some(Value::Object(other))) => inner
                            .iter()
                            .all(|(k2, v2)| other.get(k2).is_some_and(|w| close(v2, w))),
                        (v, Some(w)) => close(v, w),
                        _ => false,
                    })
                }
                _ => false,
            };
            if !same {
                mismatches += 1;
                if mismatches <= 3 {
                    eprintln!("{mode} record {i}: rust {a} vs python {b}");
                }
            }
        }
        let agree = mismatches == 0 && rust.len() == py.len();
        all_agree &= agree;
        println!(
            "{mode:<8} {py_med:>10.0} {py_best:>10.0} {rust_med:>10.0} {rust_best:>10.0} {:>6.1}x {:>6.1}x  {}",
            rust_med / py_med,
            rust_best / py_best,
            if agree {
                "yes".to_string()
            } else {
                format!("NO ({mismatches} differ)")
            }
        );
    }
    println!("load average {} at the end", load_average());
    let _ = std::fs::remove_dir_all(&dir);
    if all_agree {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
