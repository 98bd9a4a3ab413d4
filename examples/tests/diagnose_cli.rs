//! `covip diagnose` end to end: saved responses of all three sets scored (LAR by a loopback
//! judge this test runs), and generation through `covip serve` on the fixture checkpoint for
//! every set with and without CAG (LAR judged by the same served model), with resume.
mod serve_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

fn set_file(set: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/sample/diagnostics")
        .join(format!("{set}.jsonl"))
}

/// The records of a bundled set.
fn records(set: &str) -> Vec<Value> {
    std::fs::read_to_string(set_file(set))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn covip(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_covip"))
        .args(args)
        .current_dir(cwd)
        .env_remove("OPENAI_API_KEY")
        .output()
        .expect("run covip")
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "covip failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn sorted_keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// Checks the result file's shape for `set`.
fn assert_shape(v: &Value, set: &str, cag: Value, n: usize) {
    let lar = set == "lar";
    let mut top = vec!["cag", "n", "samples", "score", "set"];
    if lar {
        top.push("score_strict");
    }
    top.sort();
    assert_eq!(sorted_keys(v), top, "{v}");
    assert_eq!(v["set"], set);
    assert_eq!(v["cag"], cag);
    assert_eq!(v["n"], n);
    let score = v["score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&score), "{score}");
    let samples = v["samples"].as_array().unwrap();
    assert_eq!(samples.len(), n);
    let mut keys = vec!["extracted", "index", "response", "score"];
    if lar {
        keys.extend(["correct", "correct_strict", "verdict"]);
    }
    keys.sort();
    for (i, s) in samples.iter().enumerate() {
        assert_eq!(sorted_keys(s), keys, "{s}");
        assert_eq!(s["index"], i);
        assert!(s["response"].is_string());
        if set != "lsd" {
            assert_eq!(s["extracted"], s["response"]);
        }
        if lar {
            assert_eq!(s["score"].as_f64().unwrap(), s["correct"].as_f64().unwrap());
            assert!(s["verdict"].is_string());
        }
    }
    let mean = samples
        .iter()
        .map(|s| s["score"].as_f64().unwrap())
        .sum::<f64>()
        / n as f64;
    assert!((mean - score).abs() < 1e-9, "{mean} vs {score}");
}

/// A loopback OpenAI-compatible server: lists one model, and answers a chat completion whose
/// messages hold `resp-K` with `VERDICTS[K % 3]` (any other with `VERDICTS[0]`). Records every
/// request body.
struct FakeJudge {
    url: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

const VERDICTS: [&str; 3] = ["Correct", "Incorrect.", "Wrong"];

impl FakeJudge {
    fn start() -> FakeJudge {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let log = log.clone();
                std::thread::spawn(move || serve_connection(stream, &log));
            }
        });
        FakeJudge { url, requests }
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

/// Answers requests on one keep-alive connection until the client closes it.
fn serve_connection(stream: TcpStream, log: &Mutex<Vec<Value>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
        let answer = if request_line.starts_with("GET") {
            json!({"object": "list", "data": [{"id": "fake-judge", "object": "model"}]})
        } else {
            let req: Value = serde_json::from_slice(&body).unwrap();
            let prompt = req["messages"].to_string();
            log.lock().unwrap().push(req);
            let k: usize = prompt
                .split("resp-")
                .nth(1)
                .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            json!({
                "id": "x", "object": "chat.completion", "model": "fake-judge",
                "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": format!(" {}\n", VERDICTS[k % 3])}}]
            })
        };
        let text = answer.to_string();
        write!(
            writer,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        )
        .unwrap();
        writer.flush().unwrap();
    }
}

#[test]
fn saved_responses_are_scored_for_all_three_sets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // LSD, strings: even samples box the gold place, odd ones use a single slash.
    let lsd = records("lsd");
    let n = lsd.len();
    let responses: Vec<String> = lsd
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let place = r["answer"].as_str().unwrap();
            if i % 2 == 0 {
                format!("Step by step... //boxed{{ {place} }}")
            } else {
                format!("It was /boxed{{{place}}}")
            }
        })
        .collect();
    std::fs::write(d.join("lsd_resp.json"), json!(responses).to_string()).unwrap();
    let data = set_file("lsd");
    let stdout = ok(&covip(
        &[
            "diagnose",
            "--set",
            "lsd",
            "--data",
            data.to_str().unwrap(),
            "--responses",
            "lsd_resp.json",
            "--out",
            "lsd.json",
        ],
        d,
    ));
    assert!(stdout.contains("LSD (saved responses)"), "{stdout}");
    let v = read_json(&d.join("lsd.json"));
    assert_shape(&v, "lsd", Value::Null, n);
    assert_eq!(v["samples"][0]["extracted"], lsd[0]["answer"]);
    assert_eq!(v["samples"][0]["score"], 1.0);
    assert_eq!(v["samples"][1]["extracted"], "");
    let evens = n.div_ceil(2) as f64 / n as f64;
    assert!((v["score"].as_f64().unwrap() - evens).abs() < 1e-12);
    // Nothing to generate or judge: no log.
    assert!(!d.join("lsd.json.log.jsonl").exists());

    // ITR, objects with `response`: SKS in every third.
    let itr = records("itr");
    let objects: Vec<Value> = (0..itr.len())
        .map(|i| {
            let r = if i % 3 == 0 {
                "SKS! You saw them at the pier."
            } else {
                "You saw them at the sks pier."
            };
            json!({"id": i, "response": r})
        })
        .collect();
    std::fs::write(d.join("itr_resp.json"), json!(objects).to_string()).unwrap();
    let data = set_file("itr");
    ok(&covip(
        &[
            "diagnose",
            "--set",
            "itr",
            "--data",
            data.to_str().unwrap(),
            "--responses",
            "itr_resp.json",
            "--out",
            "itr.json",
        ],
        d,
    ));
    let v = read_json(&d.join("itr.json"));
    assert_shape(&v, "itr", Value::Null, itr.len());
    let hits = (0..itr.len()).filter(|i| i % 3 == 0).count() as f64 / itr.len() as f64;
    assert!((v["score"].as_f64().unwrap() - hits).abs() < 1e-12);

    // LAR, judged by the loopback judge: Correct / Incorrect. / Wrong by sample.
    let lar = records("lar");
    let n = lar.len();
    let responses: Vec<String> = (0..n)
        .map(|i| format!("You were busy, resp-{i}."))
        .collect();
    std::fs::write(d.join("lar_resp.json"), json!(responses).to_string()).unwrap();
    let judge = FakeJudge::start();
    let data = set_file("lar");
    let args = [
        "diagnose",
        "--set",
        "lar",
        "--data",
        data.to_str().unwrap(),
        "--responses",
        "lar_resp.json",
        "--judge",
        judge.url.as_str(),
        "--out",
        "lar.json",
    ];
    let stdout = ok(&covip(&args, d));
    assert!(stdout.contains("strict"), "{stdout}");
    let v = read_json(&d.join("lar.json"));
    assert_shape(&v, "lar", Value::Null, n);
    let released = (0..n).filter(|i| i % 3 != 2).count() as f64 / n as f64;
    let strict = (0..n).filter(|i| i % 3 == 0).count() as f64 / n as f64;
    assert!((v["score"].as_f64().unwrap() - released).abs() < 1e-12);
    assert!((v["score_strict"].as_f64().unwrap() - strict).abs() < 1e-12);
    assert_eq!(v["samples"][1]["verdict"], "Incorrect.");
    assert_eq!(v["samples"][1]["correct"], 1);
    assert_eq!(v["samples"][1]["correct_strict"], 0);
    // One request per sample: a single user message with the reference and the response,
    // the released judge sampling.
    assert_eq!(judge.count(), n);
    let reqs = judge.requests.lock().unwrap().clone();
    let action = lar[3]["last_action"].as_str().unwrap();
    let r3 = reqs
        .iter()
        .find(|r| {
            r["messages"][0]["content"]
                .as_str()
                .unwrap()
                .contains("resp-3.")
        })
        .unwrap();
    assert_eq!(r3["messages"].as_array().unwrap().len(), 1);
    assert_eq!(r3["messages"][0]["role"], "user");
    assert!(
        r3["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains(&format!("User said \"{action}\""))
    );
    assert_eq!(
        (
            &r3["temperature"],
            &r3["top_p"],
            &r3["top_k"],
            &r3["max_tokens"]
        ),
        (&json!(0.7), &json!(0.8), &json!(20), &json!(16384))
    );
    assert_eq!(r3["model"], "fake-judge");
    // The rerun asks the judge nothing and writes the same file.
    let before = std::fs::read(d.join("lar.json")).unwrap();
    ok(&covip(&args, d));
    assert_eq!(judge.count(), n);
    assert_eq!(std::fs::read(d.join("lar.json")).unwrap(), before);

    // Errors: LAR without a judge, a count mismatch, two sources.
    let out = covip(
        &[
            "diagnose",
            "--set",
            "lar",
            "--data",
            data.to_str().unwrap(),
            "--responses",
            "lar_resp.json",
        ],
        d,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--judge"));
    let lsd_data = set_file("lsd");
    let out = covip(
        &[
            "diagnose",
            "--set",
            "lsd",
            "--data",
            lsd_data.to_str().unwrap(),
            "--responses",
            "itr_resp.json",
        ],
        d,
    );
    assert!(out.status.success(), "ITR's responses fit LSD's count");
    std::fs::write(d.join("short.json"), r#"["a"]"#).unwrap();
    let out = covip(
        &[
            "diagnose",
            "--set",
            "lsd",
            "--data",
            lsd_data.to_str().unwrap(),
            "--responses",
            "short.json",
        ],
        d,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("1 saved responses for {n} samples")),
        "{err}"
    );
}

#[test]
fn serve_runs_every_set_with_and_without_cag_and_resumes() {
    let server = serve_common::Serve::start(&[]);
    let url = format!("{}/v1", server.base);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let runs: Vec<(&str, bool)> = ["lsd", "lar", "itr"]
        .into_iter()
        .flat_map(|s| [(s, false), (s, true)])
        .collect();
    let args_of = |set: &str, cag: bool| -> Vec<String> {
        let mut a: Vec<String> = [
            "diagnose",
            "--set",
            set,
            "--data",
            set_file(set).to_str().unwrap(),
            "--endpoint",
            url.as_str(),
            "--max-tokens",
            "4",
            "--out",
            &format!("{set}{}.json", if cag { "_cag" } else { "" }),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if cag {
            a.push("--cag".into());
        }
        if set == "lar" {
            a.extend(["--judge", url.as_str(), "--judge-max-tokens", "4"].map(String::from));
        }
        a
    };
    // The six runs at once: the server batches their requests.
    std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .map(|&(set, cag)| {
                let a = args_of(set, cag);
                let d = &d;
                s.spawn(move || {
                    let a: Vec<&str> = a.iter().map(String::as_str).collect();
                    covip(&a, d)
                })
            })
            .collect();
        for (h, (set, cag)) in handles.into_iter().zip(&runs) {
            let out = h.join().unwrap();
            assert!(
                out.status.success(),
                "{set} cag={cag}: {}\nserver:\n{}",
                String::from_utf8_lossy(&out.stderr),
                server.stderr()
            );
        }
    });
    for &(set, cag) in &runs {
        let name = format!("{set}{}.json", if cag { "_cag" } else { "" });
        let v = read_json(&d.join(&name));
        assert_shape(&v, set, json!(cag), records(set).len());
        // The log keeps every caption (CAG), response and verdict (LAR).
        let log = std::fs::read_to_string(d.join(format!("{name}.log.jsonl"))).unwrap();
        let n = records(set).len();
        let stages = 1 + usize::from(cag) + usize::from(set == "lar");
        assert_eq!(log.lines().count(), n * stages, "{name}");
    }
    // A rerun generates and judges nothing, and writes the same result.
    for (set, cag) in [("lar", true), ("lsd", false)] {
        let name = format!("{set}{}.json", if cag { "_cag" } else { "" });
        let before = std::fs::read(d.join(&name)).unwrap();
        let a = args_of(set, cag);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = covip(&a, &d);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        let n = records(set).len();
        assert!(
            err.contains(&format!("response: {n} samples, {n} found")) && err.contains("0 to do"),
            "{err}"
        );
        assert!(!err.contains(", 0 found"), "{err}");
        assert_eq!(std::fs::read(d.join(&name)).unwrap(), before, "{name}");
    }
    server.terminate();
}

#[test]
fn local_checkpoint_answers_lsd_directly() {
    let dir = tempfile::tempdir().unwrap();
    let model = serve_common::fixture_model();
    let data = set_file("lsd");
    let args = [
        "diagnose",
        "--set",
        "lsd",
        "--data",
        data.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--max-tokens",
        "4",
        "--out",
        "lsd.json",
    ];
    let stdout = ok(&covip(&args, dir.path()));
    assert!(stdout.contains("LSD (without CAG)"), "{stdout}");
    let n = records("lsd").len();
    let v = read_json(&dir.path().join("lsd.json"));
    assert_shape(&v, "lsd", json!(false), n);
    // Resumed from the log: nothing generated, the same file.
    let before = std::fs::read(dir.path().join("lsd.json")).unwrap();
    let out = covip(&args, dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("{n} found")) && err.contains("0 to do"),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.path().join("lsd.json")).unwrap(), before);
    // Two sources at once are refused.
    let out = covip(
        &[
            "diagnose",
            "--set",
            "lsd",
            "--data",
            data.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--responses",
            "x.json",
        ],
        dir.path(),
    );
    assert!(!out.status.success());
}

/// The first `k` records of a bundled set, images made absolute, written to `dir`.
fn subset(set: &str, k: usize, dir: &Path) -> PathBuf {
    let base = set_file(set).parent().unwrap().canonicalize().unwrap();
    let abs = |v: &Value| json!(base.join(v.as_str().unwrap()).to_str().unwrap());
    let lines: Vec<String> = records(set)
        .into_iter()
        .take(k)
        .map(|mut r| {
            let ctx: Vec<Value> = r["images_context"]
                .as_array()
                .unwrap()
                .iter()
                .map(abs)
                .collect();
            r["images_context"] = json!(ctx);
            r["query_image"] = abs(&r["query_image"]);
            r.to_string()
        })
        .collect();
    let p = dir.join(format!("{set}.jsonl"));
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

/// `{key: text}` of a diagnose log.
fn log_texts(p: &Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["key"].as_str().unwrap().to_string(),
                v["value"]["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The endpoint sends the same conversations the local model renders (vision ids included):
/// CAG's greedy captions through `covip serve` equal the local checkpoint's.
#[test]
fn endpoint_and_local_captions_agree() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = subset("lsd", 2, d);
    let server = serve_common::Serve::start(&[]);
    let url = format!("{}/v1", server.base);
    let model = serve_common::fixture_model();
    let common = [
        "diagnose",
        "--set",
        "lsd",
        "--cag",
        "--data",
        data.to_str().unwrap(),
        "--max-tokens",
        "24",
    ];
    let mut a: Vec<&str> = common.to_vec();
    a.extend(["--endpoint", url.as_str(), "--out", "served.json"]);
    ok(&covip(&a, d));
    let mut b: Vec<&str> = common.to_vec();
    b.extend(["--model", model.to_str().unwrap(), "--out", "local.json"]);
    ok(&covip(&b, d));
    server.terminate();
    let served = log_texts(&d.join("served.json.log.jsonl"));
    let local = log_texts(&d.join("local.json.log.jsonl"));
    for k in ["caption/0", "caption/1"] {
        assert!(!served[k].is_empty(), "{k}");
        assert_eq!(served[k], local[k], "{k}");
    }
}

/// What goes over the wire to the endpoint: per set and variant the released structure, the
/// released sampling, vision ids asked of the chat template, images as data URLs.
#[test]
fn endpoint_requests_follow_the_released_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fake = FakeJudge::start();
    let mut seen = 0;
    for (set, cag) in [("lsd", true), ("lsd", false), ("itr", true), ("lar", false)] {
        let data = set_file(set);
        let mut a = vec![
            "diagnose",
            "--set",
            set,
            "--data",
            data.to_str().unwrap(),
            "--endpoint",
            fake.url.as_str(),
            "--seed",
            "100",
        ];
        if cag {
            a.push("--cag");
        }
        if set == "lar" {
            a.extend(["--judge", fake.url.as_str()]);
        }
        ok(&covip(&a, d));
        let n = records(set).len();
        let reqs: Vec<Value> = fake.requests.lock().unwrap()[seen..].to_vec();
        seen += reqs.len();
        let per_sample = 1 + usize::from(cag) + usize::from(set == "lar");
        assert_eq!(reqs.len(), n * per_sample, "{set} {cag}");
        let roles = |r: &Value| -> Vec<String> {
            r["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["role"].as_str().unwrap().to_string())
                .collect()
        };
        let images = |r: &Value| -> usize {
            r["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|m| m["content"].as_array())
                .flatten()
                .filter(|p| {
                    p["type"] == "image_url"
                        && p["image_url"]["url"]
                            .as_str()
                            .unwrap()
                            .starts_with("data:image/png;base64,")
                })
                .count()
        };
        let last_text = |r: &Value| -> String {
            let m = r["messages"].as_array().unwrap().last().unwrap();
            match &m["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts.last().unwrap()["text"].as_str().unwrap().into(),
                other => panic!("{other}"),
            }
        };
        // Requests are sent in stages: captions (greedy), answers, verdicts.
        let (captions, rest) = reqs.split_at(if cag { n } else { 0 });
        let (answers, verdicts) = rest.split_at(n);
        for r in captions {
            assert_eq!(roles(r), ["user"]);
            assert_eq!(r["temperature"], 0.0);
            assert_eq!(r["max_tokens"], 1024);
            assert!(r.get("seed").is_none() && r.get("presence_penalty").is_none());
            assert_eq!(r["chat_template_kwargs"]["add_vision_id"], true);
            assert_eq!(images(r), 11);
        }
        for r in answers {
            let expected: &[&str] = match (set, cag) {
                (_, true) => &["system", "user", "assistant", "user"],
                ("lsd", false) => &["user"],
                _ => &["system", "user"],
            };
            assert_eq!(roles(r), expected, "{set} {cag}");
            assert_eq!(
                (
                    &r["temperature"],
                    &r["top_k"],
                    &r["top_p"],
                    &r["presence_penalty"],
                    &r["max_tokens"]
                ),
                (
                    &json!(0.7),
                    &json!(20),
                    &json!(0.8),
                    &json!(1.5),
                    &json!(1024)
                ),
            );
            // Repetition penalty 1.0 is vLLM's default: left out.
            assert!(r.get("repetition_penalty").is_none());
            let seed = r["seed"].as_u64().unwrap();
            assert!((100..100 + n as u64).contains(&seed), "{seed}");
            assert_eq!(r["chat_template_kwargs"]["add_vision_id"], true);
            assert_eq!(images(r), 11);
            assert_eq!(
                last_text(r).contains("//boxed{"),
                set == "lsd",
                "{set} {cag}"
            );
            if cag {
                // The caption the server returned is the assistant's turn.
                assert_eq!(r["messages"][2]["content"], VERDICTS[0]);
            }
        }
        // Each sample has its own seed.
        let mut seeds: Vec<u64> = answers
            .iter()
            .map(|r| r["seed"].as_u64().unwrap())
            .collect();
        seeds.sort_unstable();
        seeds.dedup();
        assert_eq!(seeds.len(), n);
        for r in verdicts {
            assert_eq!(roles(r), ["user"]);
            assert!(r.get("chat_template_kwargs").is_none());
        }
    }
}
