//! Hostile input never panics and never exhausts memory (issue 10 §1).
//!
//! Every parser a user's file reaches — training, test and downstream readers (JSON, JSONL,
//! Parquet), PNG and JPEG decoding, `config.json` and the other checkpoint configs,
//! safetensors headers and shard indexes, `tokenizer.json` and chat templates, chat input,
//! reward and degeneration JSONL lines, r_vis completions, caption and reference files — gets
//! 10,000 seeded mutations of valid files (see `hostile/mutate.rs`; inputs up to 256 KiB). Each
//! input must give `Ok` or an error with a message: never a panic, never more than the time
//! budget (10 s, plus as much per MiB of input: linear work on long input is fine, super-linear
//! work is not; the slowest legitimate input, a tokenizer.json with a 1000-fold repeated string,
//! takes about 2 s in this debug-built test on a busy 2-core machine, hence the margin), never an
//! allocation peak over 512 MiB; images are decoded under a 1-MiP pixel cap.
//! A request that would take the process past 2 GiB is refused and aborts that target's process
//! with the target, seed and input named (stable Rust cannot unwind out of an allocation
//! failure).
//!
//! Each target runs in a child process (this binary again, test `hostile_child`), two at a time,
//! so an abort in one is reported and the others still run. Failing inputs are saved under
//! `target/hostile-failures/`. Settings: `HOSTILE_SEED`, `HOSTILE_INPUTS`, `HOSTILE_BUDGET_MS`,
//! `HOSTILE_PEAK_MIB`, `HOSTILE_THREADS` (children at once); `HOSTILE_ONLY=target[:index]`
//! runs one target or one input (e.g. to reproduce a failure); `HOSTILE_TRACE=1` prints each
//! input's size, time and peak.
//!
//! Run with `cargo test -p covip --test hostile_inputs -- --nocapture`.
mod hostile;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use hostile::harness::{self, Report, Settings};

#[global_allocator]
static ALLOC: hostile::alloc::Counting = hostile::alloc::Counting;

/// Set in a child: the target it runs.
const CHILD_ENV: &str = "HOSTILE_CHILD";
/// The line a child prints its report on.
const REPORT_PREFIX: &str = "HOSTILE-REPORT ";

/// What a child said: its report, or why there is none.
fn run_child(name: &str, skip: &[u64]) -> Result<Report, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "hostile_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, name)
        .env(
            "HOSTILE_SKIP",
            skip.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(","),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning the child: {e}"))?;
    let mut stderr = child.stderr.take().expect("piped stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut out = String::new();
    let _ = child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut out);
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the child: {e}"))?;
    let err = err_reader.join().unwrap_or_default();
    // libtest prints the test's name on the same line, before the report.
    let report = out
        .lines()
        .find_map(|l| l.find(REPORT_PREFIX).map(|i| &l[i + REPORT_PREFIX.len()..]));
    match report {
        Some(json) => serde_json::from_str(json).map_err(|e| format!("unreadable report ({e})")),
        None => {
            // A refused allocation: its report (workspace frames, then the summary line with
            // the input), without the backtrace std prints after it.
            if let Some(at) = err.rfind("workspace frames of the refused allocation") {
                let report = &err[at..];
                let end = report
                    .find("hostile_inputs: allocation of")
                    .and_then(|i| report[i..].find('\n').map(|j| i + j))
                    .unwrap_or(report.len());
                return Err(format!("the child aborted ({status}):\n{}", &report[..end]));
            }
            let tail: String = {
                let chars: Vec<char> = err.chars().collect();
                chars[chars.len().saturating_sub(2500)..].iter().collect()
            };
            Err(format!(
                "the child ended ({status}) without a report; its stderr ends:\n{tail}"
            ))
        }
    }
}

/// The input a child's refused allocation names in its last words, if that is how it ended.
fn refused_input(error: &str) -> Option<u64> {
    let at = error.rfind("hostile_inputs: allocation of ")?;
    let tail = &error[at..];
    let i = tail.find(", input ")? + ", input ".len();
    let digits: String = tail[i..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Children until one finishes the target: an input whose allocation was refused aborts its
/// child, so it is recorded and the target runs again without it (at most 20 times).
fn run_target_children(name: &str) -> Result<(Report, Vec<String>), String> {
    let mut skip = Vec::new();
    let mut aborts = Vec::new();
    loop {
        match run_child(name, &skip) {
            Ok(mut report) => {
                report.inputs += skip.len() as u64;
                report.aborted = skip.len() as u64;
                return Ok((report, aborts));
            }
            Err(e) => match refused_input(&e) {
                Some(i) if !skip.contains(&i) && skip.len() < 20 => {
                    skip.push(i);
                    aborts.push(e);
                }
                _ => {
                    aborts.push(e);
                    return Err(aborts.join("\n"));
                }
            },
        }
    }
}

#[test]
fn hostile_inputs_give_errors_never_panics() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let settings = Settings::from_env();
    let names: Vec<&'static str> = hostile::targets::all()
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| settings.only.as_ref().is_none_or(|(o, _)| o == n))
        .collect();
    assert!(!names.is_empty(), "HOSTILE_ONLY names no target");
    eprintln!(
        "hostile inputs: {} target(s) x {} input(s), seed {}, budget {:?}/input, peak {} MiB/input, {} process(es) at once",
        names.len(),
        if settings.only.as_ref().is_some_and(|(_, i)| i.is_some()) {
            1
        } else {
            settings.inputs
        },
        settings.seed,
        settings.budget,
        settings.peak_limit >> 20,
        settings.threads
    );
    let t0 = Instant::now();
    let queue = Mutex::new(names.iter().copied().enumerate());
    type Outcome = Result<(Report, Vec<String>), String>;
    let results: Mutex<Vec<(usize, &str, Outcome)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..settings.threads.min(names.len()) {
            s.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                    let Some((k, name)) = next else { break };
                    let r = run_target_children(name);
                    if let Ok((rep, _)) = &r {
                        eprintln!("  done: {}", rep.row());
                    }
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((k, name, r));
                }
            });
        }
    });
    let wall = t0.elapsed();
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(k, _, _)| *k);

    println!("\n{}", Report::header());
    let mut problems = Vec::new();
    let mut total = 0;
    for (_, name, r) in &results {
        match r {
            Ok((rep, aborts)) => {
                total += rep.inputs;
                for a in aborts {
                    problems.push(format!("{name}: {a}"));
                }
                println!("{}", rep.row());
                let min = if settings.only.as_ref().is_some_and(|(_, i)| i.is_some()) {
                    1
                } else {
                    settings.inputs
                };
                if rep.inputs < min {
                    problems.push(format!("{name}: only {} of {min} inputs ran", rep.inputs));
                }
                // Each kind of problem once in full, the rest counted.
                let mut shown = std::collections::HashMap::<(&str, String), usize>::new();
                for f in &rep.failures {
                    let key = match &f.problem {
                        harness::Problem::Panic { location, .. } => ("panic", location.clone()),
                        p => (p.tag(), String::new()),
                    };
                    let n = shown.entry(key).or_default();
                    *n += 1;
                    if *n <= 2 {
                        problems.push(format!(
                            "{name} input {} (HOSTILE_ONLY={name}:{} HOSTILE_SEED={}): {}\n    made by: {}\n    saved: {}{}",
                            f.index,
                            f.index,
                            settings.seed,
                            f.problem,
                            f.how.chars().take(300).collect::<String>(),
                            f.saved.as_ref().map_or("-".into(), |p| p.display().to_string()),
                            f.backtrace.as_ref().map_or(String::new(), |b| format!("\n    backtrace:\n{}", our_frames(b)))
                        ));
                    }
                }
                for ((tag, loc), n) in shown {
                    if n > 2 {
                        problems.push(format!("{name}: {n} inputs in all with {tag} {loc}"));
                    }
                }
            }
            Err(e) => {
                println!("{name:<22} (no report)");
                problems.push(format!("{name}: {e}"));
            }
        }
    }
    println!("{total} inputs in {:.1} s", wall.as_secs_f64());
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The frames of a backtrace that are in this workspace (the rest is std and the harness).
fn our_frames(bt: &str) -> String {
    let lines: Vec<&str> = bt.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.contains("covip") && !l.contains("hostile") && l.trim_start().starts_with("at ") {
            out.push(format!(
                "      {} {}",
                lines.get(i.wrapping_sub(1)).map_or("", |f| f.trim()),
                l.trim()
            ));
        }
    }
    if out.is_empty() {
        format!("      (no workspace frame)\n{bt}")
    } else {
        out.join("\n")
    }
}

/// Runs one target (named by `HOSTILE_CHILD`) and prints its report; a no-op otherwise.
#[test]
fn hostile_child() {
    let Ok(name) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut settings = Settings::from_env();
    settings.threads = 1;
    let make = hostile::targets::all()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| f)
        .unwrap_or_else(|| panic!("no target {name:?}"));
    let target = make();
    harness::install_panic_hook();
    let report = harness::run_target(&target, &settings);
    println!(
        "{REPORT_PREFIX}{}",
        serde_json::to_string(&report).expect("report serialises")
    );
}
