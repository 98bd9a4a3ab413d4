use std::cell::RefCell;
use std::collections::BTreeMap;

use covip_data::prompt::Role;

use super::*;

fn bundled(set: DiagnosticKind) -> Vec<DiagnosticSample> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/sample/diagnostics")
        .join(format!("{}.jsonl", set.as_str()));
    read_diagnostic_set(&p, set).unwrap()
}

/// One request a fake saw: index, conversation, sampling, seed.
type Seen = (usize, Vec<Message>, GenParams, u64);

/// Answers LSD with the gold place boxed for even samples and a wrong place for odd ones,
/// LAR/ITR with the sample's index (and `SKS` for even ones); records every conversation.
struct Fake {
    id: String,
    gold: Vec<String>,
    seen: RefCell<Vec<Seen>>,
    fail_at: Option<usize>,
    batch: usize,
}

impl Fake {
    fn new(samples: &[DiagnosticSample]) -> Fake {
        Fake {
            id: "fake-1".into(),
            gold: samples.iter().map(|s| s.answer.clone()).collect(),
            seen: RefCell::new(Vec::new()),
            fail_at: None,
            batch: 3,
        }
    }
}

impl Generator for Fake {
    fn identity(&self) -> String {
        self.id.clone()
    }
    fn batch_size(&self) -> usize {
        self.batch
    }
    fn generate(&mut self, requests: &[GenerationRequest<'_>]) -> Vec<Result<String, String>> {
        assert!(requests.len() <= self.batch);
        requests
            .iter()
            .map(|r| {
                self.seen.borrow_mut().push((
                    r.index,
                    r.messages.to_vec(),
                    r.params.clone(),
                    r.seed,
                ));
                if self.fail_at == Some(r.index) {
                    return Err("the model fell over".into());
                }
                if r.params.is_greedy() {
                    return Ok(format!("  caption {}\n", r.index));
                }
                let place = if r.index % 2 == 0 {
                    self.gold[r.index].clone()
                } else {
                    "somewhere else".into()
                };
                let sks = if r.index % 2 == 0 { " SKS" } else { "" };
                Ok(format!(
                    " Thinking... //boxed{{{place}}}{sks} #{} ",
                    r.index
                ))
            })
            .collect()
    }
}

/// Verdicts cycling through Correct, Incorrect, Wrong; counts its calls.
struct FakeJudge {
    calls: RefCell<Vec<String>>,
}

impl LarJudge for FakeJudge {
    fn identity(&self) -> String {
        "fake-judge".into()
    }
    fn batch_size(&self) -> usize {
        4
    }
    fn judge(&self, prompts: &[String]) -> Vec<Result<String, String>> {
        prompts
            .iter()
            .map(|p| {
                self.calls.borrow_mut().push(p.clone());
                let i = self.calls.borrow().len() - 1;
                Ok(["Correct", "Incorrect", "Wrong"][i % 3].to_string())
            })
            .collect()
    }
}

#[test]
fn bundled_sets_read_with_their_kind() {
    for set in DiagnosticKind::ALL {
        let s = bundled(set);
        assert!(s.len() >= 3, "{set:?}");
        assert!(s.iter().all(|s| s.kind == set));
    }
    // An LSD file is no LAR set: its records lack `last_action`.
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/diagnostics/lsd.jsonl");
    let e = read_diagnostic_set(&p, DiagnosticKind::Lar)
        .unwrap_err()
        .to_string();
    assert!(e.contains("lsd.jsonl") && e.contains("last_action"), "{e}");
}

#[test]
fn lsd_direct_run_scores_resumes_and_writes_the_result() {
    let samples = bundled(DiagnosticKind::Lsd);
    let n = samples.len();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let log = log_path_for(&out);
    let mut fake = Fake::new(&samples);
    let mut events = Vec::new();
    let r = run_diagnose(
        &samples,
        ResponseSource::Generate {
            generator: &mut fake,
            cag: false,
        },
        None,
        &DiagnoseOptions::default(),
        &log,
        Some(&out),
        &mut |e| events.push(e),
    )
    .unwrap();
    assert_eq!((r.set, r.cag, r.n), (DiagnosticKind::Lsd, Some(false), n));
    // Even samples answer the gold place: F1 1; odd ones score 0.
    let evens = n.div_ceil(2) as f64;
    assert!((r.score - evens / n as f64).abs() < 1e-12, "{}", r.score);
    assert_eq!(r.samples[0].extracted, samples[0].answer);
    assert_eq!(r.samples[1].extracted, "somewhere else");
    assert_eq!(r.samples[1].score, 0.0);
    // The response is kept stripped, as released.
    assert!(r.samples[0].response.starts_with("Thinking"));
    assert!(r.samples[0].response.ends_with("#0"));
    // Each conversation: one user turn, the //boxed request, the answering sampling, seed i.
    let seen = fake.seen.borrow().clone();
    assert_eq!(seen.len(), n);
    for (i, m, p, seed) in &seen {
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].role, Role::User);
        assert!(m[0].flat_text().contains("//boxed{"));
        assert_eq!(m[0].images().count(), samples[*i].context.len() + 1);
        assert_eq!(p, &GenParams::answer());
        assert_eq!(*seed, *i as u64);
    }
    assert_eq!(
        events[0],
        DiagnoseEvent::Stage {
            stage: Stage::Response,
            total: n,
            done: 0,
            todo: n
        }
    );
    // The file is the result, with the issue's keys and no LAR fields.
    let text = std::fs::read_to_string(&out).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["cag", "n", "samples", "score", "set"]);
    assert_eq!(v["set"], "lsd");
    let mut sample_keys: Vec<&str> = v["samples"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    sample_keys.sort_unstable();
    assert_eq!(sample_keys, ["extracted", "index", "response", "score"]);
    // The log holds every response with its extraction.
    let lines = std::fs::read_to_string(&log).unwrap();
    assert_eq!(lines.lines().count(), n);
    assert!(lines.contains("\"extracted\""));
    // A rerun asks nothing and writes the same file.
    let mut again = Fake::new(&samples);
    let r2 = run_diagnose(
        &samples,
        ResponseSource::Generate {
            generator: &mut again,
            cag: false,
        },
        None,
        &DiagnoseOptions::default(),
        &log,
        Some(&out),
        &mut |_| {},
    )
    .unwrap();
    assert!(again.seen.borrow().is_empty());
    assert_eq!(r2, r);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
    // Another model (or other sampling) generates again.
    let mut other = Fake::new(&samples);
    other.id = "fake-2".into();
    run_diagnose(
        &samples,
        ResponseSource::Generate {
            generator: &mut other,
            cag: false,
        },
        None,
        &DiagnoseOptions::default(),
        &log,
        None,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(other.seen.borrow().len(), n);
}

#[test]
fn cag_captions_greedily_then_asks_after_the_caption() {
    for set in DiagnosticKind::ALL {
        let samples = bundled(set);
        let n = samples.len();
        let dir = tempfile::tempdir().unwrap();
        let mut fake = Fake::new(&samples);
        let judge = FakeJudge {
            calls: RefCell::new(Vec::new()),
        };
        let r = run_diagnose(
            &samples,
            ResponseSource::Generate {
                generator: &mut fake,
                cag: true,
            },
            Some(&judge),
            &DiagnoseOptions::default(),
            &dir.path().join("log.jsonl"),
            None,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(r.cag, Some(true));
        let seen = fake.seen.borrow();
        assert_eq!(seen.len(), 2 * n, "{set:?}");
        let t = Templates::default();
        for (i, m, p, _) in seen.iter().take(n) {
            assert!(p.is_greedy() && p.max_tokens == 1024);
            assert_eq!(m.len(), 1);
            assert!(m[0].flat_text().ends_with(&t.caption_instruction), "{i}");
        }
        for (i, m, p, _) in seen.iter().skip(n) {
            assert_eq!(p, &GenParams::answer());
            let roles: Vec<Role> = m.iter().map(|m| m.role).collect();
            assert_eq!(
                roles,
                [Role::System, Role::User, Role::Assistant, Role::User]
            );
            // The caption, stripped, is the assistant's turn.
            assert_eq!(m[2].flat_text(), format!("caption {i}"));
            let system = if set == DiagnosticKind::Itr {
                &t.personalization_system
            } else {
                &t.caption_instruction
            };
            assert_eq!(&m[0].flat_text(), system);
        }
        if set == DiagnosticKind::Itr {
            // Even samples say SKS.
            assert_eq!(r.samples[0].score, 1.0);
            assert_eq!(r.samples[1].score, 0.0);
            assert_eq!(r.samples[1].extracted, r.samples[1].response);
        }
    }
}

#[test]
fn lar_reports_released_and_strict_accuracy() {
    let samples = bundled(DiagnosticKind::Lar);
    let n = samples.len();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lar.json");
    let log = log_path_for(&out);
    let judge = FakeJudge {
        calls: RefCell::new(Vec::new()),
    };
    let responses: Vec<String> = (0..n).map(|i| format!("You were busy {i}.")).collect();
    let run = |judge: &FakeJudge| {
        run_diagnose(
            &samples,
            ResponseSource::Saved(responses.clone()),
            Some(judge),
            &DiagnoseOptions::default(),
            &log,
            Some(&out),
            &mut |_| {},
        )
        .unwrap()
    };
    let r = run(&judge);
    assert_eq!(r.cag, None);
    // Correct, Incorrect, Wrong, ...: released counts the first two, strict the first.
    let released = (0..n).filter(|i| i % 3 != 2).count() as f64 / n as f64;
    let strict = (0..n).filter(|i| i % 3 == 0).count() as f64 / n as f64;
    assert!((r.score - released).abs() < 1e-12);
    assert!((r.score_strict.unwrap() - strict).abs() < 1e-12);
    assert_eq!(r.samples[1].verdict.as_deref(), Some("Incorrect"));
    assert_eq!(
        (r.samples[1].correct, r.samples[1].correct_strict),
        (Some(1), Some(0))
    );
    assert_eq!(r.samples[1].score, 1.0);
    // The judge saw the reference and the whole response.
    let calls = judge.calls.borrow().clone();
    let action = samples[0].last_action.as_deref().unwrap();
    assert!(calls[0].contains(&format!("User said \"{action}\"")));
    assert!(calls[0].contains("You were busy 0."));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(v["cag"].is_null());
    assert!(v["score_strict"].is_number());
    for k in ["verdict", "correct", "correct_strict"] {
        assert!(!v["samples"][0][k].is_null(), "{k}");
    }
    // Verdicts resume too.
    let judge2 = FakeJudge {
        calls: RefCell::new(Vec::new()),
    };
    assert_eq!(run(&judge2), r);
    assert!(judge2.calls.borrow().is_empty());
}

#[test]
fn a_failure_keeps_what_was_done_and_the_rerun_finishes() {
    let samples = bundled(DiagnosticKind::Itr);
    let n = samples.len();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("itr.json");
    let log = log_path_for(&out);
    let mut broken = Fake::new(&samples);
    broken.fail_at = Some(4);
    let e = run_diagnose(
        &samples,
        ResponseSource::Generate {
            generator: &mut broken,
            cag: false,
        },
        None,
        &DiagnoseOptions::default(),
        &log,
        Some(&out),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("sample 4") && e.contains("fell over") && e.contains("response"),
        "{e}"
    );
    assert!(!out.exists(), "no result before every sample is done");
    // Batches of 3: samples 0..=5 were asked, all but 4 kept.
    let mut fixed = Fake::new(&samples);
    let r = run_diagnose(
        &samples,
        ResponseSource::Generate {
            generator: &mut fixed,
            cag: false,
        },
        None,
        &DiagnoseOptions::default(),
        &log,
        Some(&out),
        &mut |_| {},
    )
    .unwrap();
    let redone: Vec<usize> = fixed.seen.borrow().iter().map(|s| s.0).collect();
    let expected: Vec<usize> = std::iter::once(4).chain(6..n).collect();
    assert_eq!(redone, expected);
    assert_eq!(r.n, n);
    assert!(out.exists());
}

#[test]
fn saved_responses_in_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let strings = dir.path().join("a.json");
    std::fs::write(&strings, r#"["x //boxed{Gwangalli Beach}", "no"]"#).unwrap();
    let objects = dir.path().join("b.json");
    std::fs::write(
        &objects,
        r#"[{"response": "x //boxed{Gwangalli Beach}", "id": 0}, {"response": "no"}]"#,
    )
    .unwrap();
    let a = read_responses(&strings).unwrap();
    assert_eq!(a, read_responses(&objects).unwrap());
    let samples: Vec<DiagnosticSample> = bundled(DiagnosticKind::Lsd).into_iter().take(2).collect();
    let r = score(DiagnosticKind::Lsd, None, &samples, a, None).unwrap();
    assert_eq!(r.samples[0].score, 1.0);
    assert_eq!(r.samples[1].extracted, "");
    assert_eq!(r.score, 0.5);
    // Count mismatch, bad shapes.
    let e = run_diagnose(
        &bundled(DiagnosticKind::Lsd),
        ResponseSource::Saved(vec!["x".into()]),
        None,
        &DiagnoseOptions::default(),
        &dir.path().join("log.jsonl"),
        None,
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("1 saved responses for"), "{e}");
    assert!(!dir.path().join("log.jsonl").exists(), "nothing to log");
    for (text, needle) in [
        (r#"{"0": "x"}"#, "expected a JSON list"),
        (r#"["x", 3]"#, "item 1 is a number"),
        (r#"[{"text": "x"}]"#, "item 0: `response` is missing"),
        ("[", "not JSON"),
    ] {
        std::fs::write(&strings, text).unwrap();
        let e = read_responses(&strings).unwrap_err().to_string();
        assert!(e.contains(needle) && e.contains("a.json"), "{e}");
    }
}

#[test]
fn lar_without_a_judge_is_refused() {
    let samples = bundled(DiagnosticKind::Lar);
    let dir = tempfile::tempdir().unwrap();
    let e = run_diagnose(
        &samples,
        ResponseSource::Saved(vec![String::new(); samples.len()]),
        None,
        &DiagnoseOptions::default(),
        &dir.path().join("l"),
        None,
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("judge"), "{e}");
}

#[test]
fn default_log_names() {
    let names: BTreeMap<&str, PathBuf> = [
        ("a", default_log_path(DiagnosticKind::Lsd, Some(false))),
        ("b", default_log_path(DiagnosticKind::Lar, Some(true))),
        ("c", default_log_path(DiagnosticKind::Itr, None)),
    ]
    .into_iter()
    .collect();
    assert_eq!(names["a"], PathBuf::from("diagnose-lsd.log.jsonl"));
    assert_eq!(names["b"], PathBuf::from("diagnose-lar-cag.log.jsonl"));
    assert_eq!(names["c"], PathBuf::from("diagnose-itr-saved.log.jsonl"));
    assert_eq!(
        log_path_for(Path::new("d/r.json")),
        PathBuf::from("d/r.json.log.jsonl")
    );
}

#[test]
fn the_log_is_found_through_another_path_to_the_same_set() {
    let raw = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/diagnostics/itr.jsonl");
    let canonical = std::fs::canonicalize(&raw).unwrap();
    assert_ne!(raw, canonical);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let mut runs = Vec::new();
    for path in [&raw, &canonical] {
        let samples = read_diagnostic_set(path, DiagnosticKind::Itr).unwrap();
        let mut fake = Fake::new(&samples);
        let r = run_diagnose(
            &samples,
            ResponseSource::Generate {
                generator: &mut fake,
                cag: false,
            },
            None,
            &DiagnoseOptions::default(),
            &log,
            None,
            &mut |_| {},
        )
        .unwrap();
        runs.push((fake.seen.borrow().len(), r));
    }
    assert_eq!(runs[0].0, runs[0].1.n);
    assert_eq!(runs[1].0, 0, "the second path reuses the log");
    assert_eq!(runs[0].1, runs[1].1);
}
