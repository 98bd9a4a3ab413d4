//! `covip capeval` as a user runs it: the no-argument run on the bundled sample, a result file
//! under the lexical judge, missing captions, a judge that fails, and a run killed halfway
//! and started again against a loopback OpenAI-compatible fake judge.
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod serve_common;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn covip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_covip"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("covip runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Names of the entries of `dir` (not recursive).
fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn no_argument_run_prints_the_table_and_writes_nothing() {
    let root = repo();
    let watched = [
        root.clone(),
        root.join("data/sample"),
        root.join("data/sample/test"),
        root.join("data/sample/captions"),
    ];
    let before: Vec<_> = watched.iter().map(|d| listing(d)).collect();
    let o = covip(&["capeval"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", text(&o));
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| ---"))
        .collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert!(rows[0].starts_with("| captions | Acc+ | Acc− |"), "{out}");
    assert!(
        rows[1].starts_with("| data/sample/captions/generic.json | 0.0 | 100.0 |"),
        "{out}"
    );
    assert!(
        rows[2].starts_with("| data/sample/captions/personalised.json |"),
        "{out}"
    );
    // Personalised captions recall the present concepts: Acc+ far above the generic 0.
    let acc_pos: f64 = rows[2].split('|').nth(2).unwrap().trim().parse().unwrap();
    assert!(acc_pos > 80.0, "{out}");
    assert!(
        out.contains("Judge: lexical. 4 samples, 30 positive and 60 negative QAs"),
        "{out}"
    );
    let after: Vec<_> = watched.iter().map(|d| listing(d)).collect();
    assert_eq!(before, after, "the no-argument run wrote a file");
}

#[test]
fn out_writes_the_result_with_every_answer() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let chart = dir.path().join("c.png");
    let o = covip(&[
        "capeval",
        "--data",
        "data/sample/test",
        "--captions",
        "data/sample/captions/personalised.json",
        "--captions",
        "data/sample/captions/generic.json",
        "--judge",
        "lexical",
        "--out",
        out.to_str().unwrap(),
        "--chart",
        chart.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        runs[0]["captions"],
        "data/sample/captions/personalised.json"
    );
    assert_eq!(runs[1]["captions"], "data/sample/captions/generic.json");
    let r = &runs[0];
    assert_eq!(r["judge"], "lexical");
    assert_eq!(
        (r["n_pos"].as_u64(), r["n_neg"].as_u64()),
        (Some(30), Some(60))
    );
    for b in ["1", "2", "3", "4"] {
        let e = &r["by_concepts"][b];
        for k in ["acc_pos", "acc_neg", "n_pos", "n_neg"] {
            assert!(e.get(k).is_some(), "bucket {b} lacks {k}");
        }
    }
    let samples = r["samples"].as_object().unwrap();
    let ids: Vec<&str> = samples.keys().map(String::as_str).collect();
    assert_eq!(ids, ["sample_0", "sample_1", "sample_2", "sample_3"]);
    let s0 = &samples["sample_0"];
    assert_eq!(s0["present"], json!([2]));
    assert_eq!(s0["pos"].as_array().unwrap().len(), 3);
    assert_eq!(s0["neg"].as_array().unwrap().len(), 6);
    let q = &s0["pos"][0];
    assert_eq!(q["qa_id"], "Q1");
    assert_eq!(q["concept"], 2);
    assert_eq!(q["correct"], "B");
    assert!(q["raw"].as_str().unwrap().contains("\\boxed{B}"), "{q}");
    assert_eq!(q["parsed"], "B");
    assert_eq!(q["hit"], true);
    assert!(
        s0["neg"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["correct"] == "D")
    );
    // The lexical judge keeps no cache unless asked; the chart is a PNG.
    assert!(!dir.path().join("r.json.cache.jsonl").exists());
    assert_eq!(&std::fs::read(&chart).unwrap()[..4], b"\x89PNG");
    // The table is printed too.
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("| data/sample/captions/generic.json | 0.0 | 100.0 |")
    );
}

#[test]
fn missing_captions_are_named_and_allow_missing_scores_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps.json");
    let mut all: serde_json::Map<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(repo().join("data/sample/captions/personalised.json")).unwrap(),
    )
    .unwrap();
    all.remove("sample_2");
    std::fs::write(&caps, serde_json::to_string(&all).unwrap()).unwrap();
    let out = dir.path().join("r.json");
    let args = [
        "capeval",
        "--data",
        "data/sample/test",
        "--captions",
        caps.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let o = covip(&args);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("caps.json") && t.contains("sample_2") && t.contains("--allow-missing"),
        "{t}"
    );
    assert!(!out.exists());

    let mut allow = args.to_vec();
    allow.push("--allow-missing");
    let o = covip(&allow);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("no caption for 1 sample(s), not scored: sample_2"),
        "{}",
        text(&o)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["runs"][0]["missing"], json!(["sample_2"]));
    assert!(v["runs"][0]["samples"].get("sample_2").is_none());
}

#[test]
fn bad_arguments_are_errors() {
    let o = covip(&["capeval", "--data", "data/sample/test"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--captions"), "{}", text(&o));
    let o = covip(&["capeval", "--judge", "ftp://nowhere"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("lexical"), "{}", text(&o));
    let o = covip(&["capeval", "--captions", "no/such/file.json"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no/such/file.json"), "{}", text(&o));
}

/// How the fake judge behaves after `limit` answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    /// Keep answering.
    Answer,
    /// Hold further questions without answering (the client is then killed).
    Hold,
    /// Answer HTTP 400.
    Refuse,
}

/// A loopback OpenAI-compatible judge: `GET /v1/models` lists `fake-judge`; each chat
/// completion answers a letter that depends on the prompt alone (deterministic), and every
/// answered prompt is recorded.
struct FakeJudge {
    url: String,
    /// The request bodies answered, in order.
    answered: Arc<Mutex<Vec<Value>>>,
    limit: Arc<AtomicUsize>,
    after: Arc<Mutex<After>>,
    /// Told when a question arrives past the limit.
    past_limit: mpsc::Receiver<()>,
    stop: Arc<AtomicBool>,
}

impl FakeJudge {
    fn start() -> FakeJudge {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let answered = Arc::new(Mutex::new(Vec::new()));
        let limit = Arc::new(AtomicUsize::new(usize::MAX));
        let after = Arc::new(Mutex::new(After::Answer));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, past_limit) = mpsc::channel();
        {
            let (answered, limit, after, stop) =
                (answered.clone(), limit.clone(), after.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    let Ok(conn) = conn else { continue };
                    let (answered, limit, after, stop, tx) = (
                        answered.clone(),
                        limit.clone(),
                        after.clone(),
                        stop.clone(),
                        tx.clone(),
                    );
                    std::thread::spawn(move || {
                        serve_one(conn, &answered, &limit, &after, &stop, &tx);
                    });
                }
            });
        }
        FakeJudge {
            url,
            answered,
            limit,
            after,
            past_limit,
            stop,
        }
    }

    /// The prompts answered, in order.
    fn answered(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| {
                r["messages"][0]["content"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }

    fn requests(&self) -> Vec<Value> {
        self.answered.lock().unwrap().clone()
    }

    fn set(&self, limit: usize, after: After) {
        self.limit.store(limit, Ordering::SeqCst);
        *self.after.lock().unwrap() = after;
    }
}

impl Drop for FakeJudge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve_one(
    conn: TcpStream,
    answered: &Mutex<Vec<Value>>,
    limit: &AtomicUsize,
    after: &Mutex<After>,
    stop: &AtomicBool,
    tx: &mpsc::Sender<()>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let reply = |status: &str, body: &Value| {
        let b = body.to_string();
        let mut c = &conn;
        let _ = write!(
            c,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}",
            b.len()
        );
    };
    if line.starts_with("GET /v1/models") {
        reply(
            "200 OK",
            &json!({"object": "list", "data": [{"id": "fake-judge", "object": "model"}]}),
        );
        return;
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let prompt = request["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let mut log = answered.lock().unwrap();
    if log.len() >= limit.load(Ordering::SeqCst) {
        let mode = *after.lock().unwrap();
        match mode {
            After::Answer => {}
            After::Hold => {
                drop(log);
                let _ = tx.send(());
                // Never answer; give up when the client has gone or the test ends.
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return;
            }
            After::Refuse => {
                drop(log);
                reply(
                    "400 Bad Request",
                    &json!({"error": {"message": "refused", "type": "invalid_request_error", "param": null, "code": 400}}),
                );
                return;
            }
        }
    }
    // A letter from the prompt alone: deterministic, and varied across questions.
    let sum: u32 = prompt.bytes().map(u32::from).sum();
    let letter = ["A", "B", "C", "D"][(sum % 4) as usize];
    log.push(request.clone());
    drop(log);
    reply(
        "200 OK",
        &json!({"id": "x", "object": "chat.completion", "model": "fake-judge",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": format!("Thinking.\nAnswer: \\boxed{{{letter}}}")}}]}),
    );
}

fn judge_args<'a>(url: &'a str, out: &'a str, concurrency: &'a str) -> Vec<&'a str> {
    vec![
        "capeval",
        "--data",
        "data/sample/test",
        "--captions",
        "data/sample/captions/personalised.json",
        "--judge",
        url,
        "--concurrency",
        concurrency,
        "--retries",
        "0",
        "--out",
        out,
    ]
}

#[test]
fn a_killed_run_resumes_without_asking_twice_and_writes_the_same_result() {
    let judge = FakeJudge::start();
    let dir = tempfile::tempdir().unwrap();

    // The uninterrupted run.
    let full = dir.path().join("full.json");
    let o = covip(&judge_args(&judge.url, full.to_str().unwrap(), "4"));
    assert!(o.status.success(), "{}", text(&o));
    let total = judge.answered().len();
    assert_eq!(total, 90);

    // The same command, killed once 25 questions are answered. One question at a time, so
    // when the 26th arrives the 25th answer is in the cache.
    let out = dir.path().join("r.json");
    let args = judge_args(&judge.url, out.to_str().unwrap(), "1");
    let first = judge.answered().len();
    judge.set(first + 25, After::Hold);
    let mut child = Command::new(env!("CARGO_BIN_EXE_covip"))
        .args(&args)
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    judge
        .past_limit
        .recv_timeout(Duration::from_secs(120))
        .expect("the run reaches the 26th question");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists(), "no result before every QA is scored");
    let cache = dir.path().join("r.json.cache.jsonl");
    let cached = std::fs::read_to_string(&cache).unwrap().lines().count();
    assert_eq!(cached, 25);

    // Started again with the same command: only the rest is asked.
    judge.set(usize::MAX, After::Answer);
    let o = covip(&args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("25 answer(s) from the cache, 65 asked"),
        "{}",
        text(&o)
    );
    let resumed: Vec<String> = judge.answered()[first..].to_vec();
    assert_eq!(resumed.len(), 90);
    let unique: BTreeSet<&String> = resumed.iter().collect();
    assert_eq!(unique.len(), 90, "a question was answered twice");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        std::fs::read_to_string(&full).unwrap(),
        "the resumed result differs from the uninterrupted one"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["runs"][0]["judge"], format!("{} fake-judge", judge.url));
}

#[test]
fn a_failing_judge_stops_naming_sample_and_qa_and_keeps_the_cache() {
    let judge = FakeJudge::start();
    judge.set(10, After::Refuse);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let o = covip(&judge_args(&judge.url, out.to_str().unwrap(), "1"));
    assert!(!o.status.success());
    let t = text(&o);
    // The eleventh question: sample_1's second QA of its first concept.
    assert!(
        t.contains("sample sample_1, QA \"Q2\" (concept 0)") && t.contains("400"),
        "{t}"
    );
    assert!(!out.exists());
    let cache = dir.path().join("r.json.cache.jsonl");
    assert_eq!(std::fs::read_to_string(&cache).unwrap().lines().count(), 10);
}

#[test]
fn capeval_through_covip_serve_on_the_fixture_checkpoint() {
    // The sample's longest captioning prompt (12 images) passes the fixture's 4096 positions.
    let server = serve_common::Serve::start(&["--max-model-len", "16384"]);
    let url = format!("{}/v1", server.base);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let args = [
        "capeval",
        "--data",
        "data/sample/test",
        "--captions",
        "data/sample/captions/personalised.json",
        "--judge",
        &url,
        "--max-tokens",
        "8",
        "--concurrency",
        "4",
        "--out",
        out.to_str().unwrap(),
    ];
    let o = covip(&args);
    assert!(
        o.status.success(),
        "{}\nserver: {}",
        text(&o),
        server.stderr()
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let run = &v["runs"][0];
    // The judge is named by the URL and the model the server lists first.
    let models = server.get("/v1/models").json();
    let model = models["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(run["judge"], format!("{url} {model}"));
    assert_eq!(
        (run["n_pos"].as_u64(), run["n_neg"].as_u64()),
        (Some(30), Some(60))
    );
    // Every answer is kept with how it was read (a random tiny model rarely boxes: "D").
    let mut answers = 0;
    for (_, s) in run["samples"].as_object().unwrap() {
        for q in s["pos"]
            .as_array()
            .unwrap()
            .iter()
            .chain(s["neg"].as_array().unwrap())
        {
            assert!(
                q["raw"].is_string() && q["parsed"].is_string() && q["hit"].is_boolean(),
                "{q}"
            );
            answers += 1;
        }
    }
    assert_eq!(answers, 90);
    // The same command again: every answer comes from the cache.
    let o = covip(&args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("90 answer(s) from the cache, 0 asked"),
        "{}",
        text(&o)
    );

    // The same server as the captioner: captions first (beside the result), then judged.
    let out = dir.path().join("c.json");
    let o = covip(&[
        "capeval",
        "--data",
        "data/sample/test",
        "--captioner",
        &url,
        "--max-new-tokens",
        "6",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        o.status.success(),
        "{}\nserver: {}",
        text(&o),
        server.stderr()
    );
    let captions = dir.path().join("c.json.captions.json");
    let caps: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&captions).unwrap()).unwrap();
    assert_eq!(caps.len(), 4);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["runs"][0]["captions"], captions.display().to_string());
    assert_eq!(v["runs"][0]["judge"], "lexical");
    server.terminate();
}

#[test]
fn model_captions_first_then_judges() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let model = repo().join("covip-model/tests/fixtures/tiny-qwen3-vl");
    let args = [
        "capeval",
        "--data",
        "data/sample/test",
        "--model",
        model.to_str().unwrap(),
        "--max-new-tokens",
        "4",
        "--out",
        out.to_str().unwrap(),
    ];
    let o = covip(&args);
    assert!(o.status.success(), "{}", text(&o));
    let captions = dir.path().join("r.json.captions.json");
    let caps: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&captions).unwrap()).unwrap();
    assert_eq!(caps.len(), 4);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["runs"][0]["n_pos"], 30);
    // Again: the captioning log says every sample is done; nothing is captioned twice.
    let o = covip(&args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("4 already captioned"), "{}", text(&o));
}

#[test]
fn one_user_message_per_qa_with_the_templates_and_the_released_sampling() {
    let judge = FakeJudge::start();
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("t.json");
    std::fs::write(
        &templates,
        r#"{"judge": "<{{description}}>\n{{question}}", "judge_question": "Q: {{question}} A) {{A}} B) {{B}} C) {{C}} D) {{D}}"}"#,
    )
    .unwrap();
    let caps = dir.path().join("caps.json");
    let mut all: serde_json::Map<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(repo().join("data/sample/captions/generic.json")).unwrap(),
    )
    .unwrap();
    // White space around a caption reaches the judge as written.
    all.insert("sample_0".into(), json!("  Mina waves.\n"));
    std::fs::write(&caps, serde_json::to_string(&all).unwrap()).unwrap();
    let out = dir.path().join("r.json");
    let o = covip(&[
        "capeval",
        "--data",
        "data/sample/test",
        "--captions",
        caps.to_str().unwrap(),
        "--judge",
        &judge.url,
        "--templates",
        templates.to_str().unwrap(),
        "--concurrency",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let requests = judge.requests();
    assert_eq!(requests.len(), 90);
    let first = &requests[0];
    assert_eq!(first["model"], "fake-judge");
    assert_eq!(first["messages"].as_array().unwrap().len(), 1);
    assert_eq!(first["messages"][0]["role"], "user");
    assert_eq!(
        first["messages"][0]["content"],
        "<  Mina waves.\n>\nQ: Where was the picture of Aiko taken? A) Cherry Hill Park B) the night market C) a lakeside cabin D) The answer cannot be determined"
    );
    assert_eq!(first["temperature"], 0.7);
    assert_eq!(first["top_p"], 0.8);
    assert_eq!(first["top_k"], 20);
}
