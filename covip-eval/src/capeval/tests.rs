use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use covip_data::prompt::Templates;
use covip_data::{ImageRef, QaId};
use covip_rl::judge::{CachedJudge, JudgePrompt};

use super::*;

#[test]
fn parse_quirks_as_released() {
    // First box, next closing brace, across lines, kept as it is.
    assert_eq!(parse_answer("\\boxed{A} then \\boxed{B}"), "A");
    assert_eq!(parse_answer("x \\boxed{\n C \n} y"), "\n C \n");
    assert_eq!(parse_answer("\\boxed{\\text{B}}"), "\\text{B");
    // An unclosed first box runs to the next brace, wherever it is.
    assert_eq!(parse_answer("\\boxed{A \\boxed{B}"), "A \\boxed{B");
    // No box, or no closing brace at all: D.
    assert_eq!(parse_answer("The answer is B."), "D");
    assert_eq!(parse_answer("\\boxed{B"), "D");
    assert_eq!(parse_answer("\\boxed {B}"), "D");
    assert_eq!(parse_answer("\\boxed{}"), "");
}

#[test]
fn hits_by_containment() {
    // Containment, upper case only: "A or D" is a hit for both A and D.
    assert!(is_hit("\\boxed{A or D}", Letter::A));
    assert!(is_hit("\\boxed{A or D}", Letter::D));
    assert!(!is_hit("\\boxed{a}", Letter::A));
    // "Cannot Determine" contains C and D.
    assert!(is_hit("\\boxed{Cannot Determine}", Letter::C));
    // No box is D: a hit for a negative QA, never for a positive one with A-C.
    assert!(is_hit("no idea", Letter::D));
    assert!(!is_hit("no idea", Letter::B));
    // An empty box counts for nothing, D included.
    assert!(!is_hit("\\boxed{}", Letter::D));
}

/// A judge answering from a script: `answer(prompt)`; fails (after counting) on call
/// number `fail_at` (0-based) when set.
struct Scripted {
    calls: Arc<AtomicUsize>,
    asked: Arc<Mutex<Vec<String>>>,
    fail_at: Option<usize>,
    answer: fn(&str) -> String,
}

impl Judge for Scripted {
    fn identity(&self) -> String {
        "scripted".into()
    }
    fn prompt(&self, r: &JudgeRequest<'_>) -> Result<String, JudgeError> {
        JudgePrompt::default().render(r.description, r.qa)
    }
    fn answer_batch(&self, rs: &[JudgeRequest<'_>]) -> Vec<Result<String, JudgeError>> {
        rs.iter()
            .map(|r| {
                let n = self.calls.fetch_add(1, Ordering::SeqCst);
                if Some(n) == self.fail_at {
                    return Err(JudgeError::Request {
                        url: "http://judge".into(),
                        attempts: 4,
                        message: "HTTP 503".into(),
                    });
                }
                let p = self.prompt(r)?;
                self.asked.lock().unwrap().push(p.clone());
                Ok((self.answer)(&p))
            })
            .collect()
    }
}

fn scripted(
    fail_at: Option<usize>,
    answer: fn(&str) -> String,
) -> (Scripted, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let asked = Arc::new(Mutex::new(Vec::new()));
    (
        Scripted {
            calls: calls.clone(),
            asked: asked.clone(),
            fail_at,
            answer,
        },
        calls,
        asked,
    )
}

fn opened(judge: CachedJudge<Box<dyn Judge>>, concurrency: usize) -> OpenedJudge {
    OpenedJudge {
        judge,
        id: "scripted".into(),
        concurrency,
    }
}

fn qa(id: &str, correct: Letter) -> Qa {
    Qa::new(
        id,
        format!("question {id}?").as_str(),
        ["alpha", "beta", "gamma"],
        "cannot tell",
        correct,
    )
}

/// A sample with `n` concepts (one QA each, correct letters cycling A, B, C), `gold` present.
fn sample(id: &str, n: usize, gold: &[usize]) -> Sample {
    let letters = [Letter::A, Letter::B, Letter::C];
    Sample {
        id: id.into(),
        context: (0..n)
            .map(|i| covip_data::ContextEntry {
                image: ImageRef::path(format!("c{i}.png")),
                dialogue: String::new(),
            })
            .collect(),
        query: ImageRef::path("q.png"),
        gold: gold.to_vec(),
        qas: (0..n)
            .map(|i| vec![qa(&format!("{id}-{i}"), letters[i % 3])])
            .collect(),
        task: covip_data::TaskKind::Caption,
        yes_no: None,
    }
}

/// Answers the letter named in the caption for the QA whose id is in the prompt: the caption
/// lists `qid=L` pairs.
fn from_caption(prompt: &str) -> String {
    let desc = prompt
        .split("[Description]\n")
        .nth(1)
        .and_then(|r| r.split("\n\n[Question]").next())
        .unwrap_or("");
    let q = prompt.split("Question: question ").nth(1).unwrap_or("");
    let qid = q.split('?').next().unwrap_or("");
    for pair in desc.split_whitespace() {
        if let Some((k, v)) = pair.split_once('=')
            && k == qid
        {
            return format!("Reasoning.\nAnswer: \\boxed{{{v}}}");
        }
    }
    "I cannot tell.".into()
}

fn world() -> (Vec<Sample>, HashMap<String, String>) {
    let samples = vec![
        sample("s1", 3, &[1]),             // bucket "1": pos s1-1 (B); neg s1-0, s1-2
        sample("s2", 4, &[0, 3]),          // bucket "2": pos s2-0 (A), s2-3 (A); neg s2-1, s2-2
        sample("s5", 6, &[0, 1, 2, 3, 4]), // bucket "4" (five present); neg s5-5
    ];
    let captions = HashMap::from([
        // s1: right on its positive, wrongly claims an absent one.
        ("s1".to_string(), "s1-1=B s1-0=A".to_string()),
        // s2: one positive right, one wrong; negatives answered D by having no box.
        ("s2".to_string(), "s2-0=A s2-3=C".to_string()),
        // s5: every positive right (letters cycle A B C A B), the negative says "A or D".
        (
            "s5".to_string(),
            "s5-0=A s5-1=B s5-2=C s5-3=A s5-4=B s5-5=A_or_D".to_string(),
        ),
    ]);
    (samples, captions)
}

#[test]
fn scores_pool_by_bucket_and_keep_every_answer() {
    let (samples, captions) = world();
    let (j, calls, _) = scripted(None, from_caption);
    let judge = opened(CachedJudge::in_memory(Box::new(j) as Box<dyn Judge>), 3);
    let run = score_captions(
        &judge,
        &samples,
        "caps.json",
        &captions,
        &ScoreOptions::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3 + 4 + 6);
    // Positives: s1 1/1, s2 1/2, s5 5/5 -> 7/8. Negatives: s1 1/2, s2 2/2, s5 1/1 -> 4/5.
    assert_eq!((run.n_pos, run.n_neg), (8, 5));
    assert_eq!(run.acc_pos, Some(7.0 / 8.0));
    assert_eq!(run.acc_neg, Some(4.0 / 5.0));
    let b = &run.by_concepts;
    assert_eq!((b["1"].acc_pos, b["1"].acc_neg), (Some(1.0), Some(0.5)));
    assert_eq!((b["2"].acc_pos, b["2"].acc_neg), (Some(0.5), Some(1.0)));
    assert_eq!(
        (b["3"].acc_pos, b["3"].acc_neg, b["3"].n_pos),
        (None, None, 0)
    );
    assert_eq!((b["4"].acc_pos, b["4"].acc_neg), (Some(1.0), Some(1.0)));
    let s1 = run.samples.get("s1").unwrap();
    assert_eq!(s1.present, vec![1]);
    assert_eq!(s1.pos[0].qa_id, QaId::from("s1-1"));
    assert_eq!(
        (s1.pos[0].correct, s1.pos[0].parsed.as_str(), s1.pos[0].hit),
        (Letter::B, "B", true)
    );
    let neg: Vec<(usize, &str, bool)> = s1
        .neg
        .iter()
        .map(|q| (q.concept, q.parsed.as_str(), q.hit))
        .collect();
    assert_eq!(neg, [(0, "A", false), (2, "D", true)]);
    assert!(s1.neg.iter().all(|q| q.correct == Letter::D));
    assert_eq!(s1.neg[1].raw, "I cannot tell.");
    let ids: Vec<&str> = run.samples.0.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(ids, ["s1", "s2", "s5"]);
}

#[test]
fn concurrency_does_not_change_the_result() {
    let (samples, captions) = world();
    let run = |n| {
        let (j, _, _) = scripted(None, from_caption);
        let judge = opened(CachedJudge::in_memory(Box::new(j) as Box<dyn Judge>), n);
        score_captions(
            &judge,
            &samples,
            "c",
            &captions,
            &ScoreOptions::default(),
            &|_| {},
        )
        .unwrap()
    };
    assert_eq!(run(1), run(7));
}

#[test]
fn missing_captions_are_an_error_unless_allowed() {
    let (samples, mut captions) = world();
    captions.remove("s2");
    captions.insert("unknown".into(), "x".into());
    let (j, calls, _) = scripted(None, from_caption);
    let judge = opened(CachedJudge::in_memory(Box::new(j) as Box<dyn Judge>), 2);
    let e = score_captions(
        &judge,
        &samples,
        "caps.json",
        &captions,
        &ScoreOptions::default(),
        &|_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("caps.json") && e.contains("1 sample(s)") && e.contains("s2"),
        "{e}"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "nothing asked before the check"
    );
    let allow = ScoreOptions {
        allow_missing: true,
    };
    let run = score_captions(&judge, &samples, "caps.json", &captions, &allow, &|_| {}).unwrap();
    assert_eq!(run.missing, ["s2"]);
    assert!(run.samples.get("s2").is_none());
    assert_eq!(run.n_pos + run.n_neg, 3 + 6);
}

#[test]
fn a_judge_failure_names_sample_and_qa_and_keeps_the_cache() {
    let (samples, captions) = world();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache.jsonl");
    // Sequential: questions 0..4 answered, the fifth (s2's second QA) fails.
    let (j, _, _) = scripted(Some(4), from_caption);
    let judge = opened(
        CachedJudge::open(Box::new(j) as Box<dyn Judge>, &cache).unwrap(),
        1,
    );
    let e = score_captions(
        &judge,
        &samples,
        "caps.json",
        &captions,
        &ScoreOptions::default(),
        &|_| {},
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("sample s2, QA \"s2-1\" (concept 1)") && msg.contains("HTTP 503"),
        "{msg}"
    );
    drop(judge);
    assert_eq!(std::fs::read_to_string(&cache).unwrap().lines().count(), 4);

    // Started again: the four cached answers are not asked again; the result equals an
    // uninterrupted run.
    let (j, calls, asked) = scripted(None, from_caption);
    let judge = opened(
        CachedJudge::open(Box::new(j) as Box<dyn Judge>, &cache).unwrap(),
        3,
    );
    let resumed = score_captions(
        &judge,
        &samples,
        "caps.json",
        &captions,
        &ScoreOptions::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 13 - 4);
    let asked = asked.lock().unwrap();
    let mut unique = asked.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), asked.len());
    let (j, _, _) = scripted(None, from_caption);
    let fresh = opened(CachedJudge::in_memory(Box::new(j) as Box<dyn Judge>), 1);
    let whole = score_captions(
        &fresh,
        &samples,
        "caps.json",
        &captions,
        &ScoreOptions::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(resumed, whole);
}

#[test]
fn prompts_are_the_templates_filled_untrimmed() {
    let (samples, _) = world();
    let captions = HashMap::from([
        ("s1".to_string(), "  padded caption \n".to_string()),
        ("s2".to_string(), String::new()),
        ("s5".to_string(), "x".to_string()),
    ]);
    let mut t = Templates::default();
    t.set("judge", "D<{{description}}>Q<{{question}}>".into())
        .unwrap();
    t.set(
        "judge_question",
        "{{question}}|{{A}}|{{B}}|{{C}}|{{D}}".into(),
    )
    .unwrap();
    // A recording judge behind the settings' prompt: the OpenAI judge renders with it too.
    let prompt = JudgePrompt::from_templates(t);
    let rendered = prompt
        .render(&captions["s1"], &samples[0].qas[0][0])
        .unwrap();
    assert_eq!(
        rendered,
        "D<  padded caption \n>Q<question s1-0?|alpha|beta|gamma|cannot tell>"
    );
}

#[test]
fn events_count_every_question() {
    let (samples, captions) = world();
    let (j, _, _) = scripted(None, from_caption);
    let judge = opened(CachedJudge::in_memory(Box::new(j) as Box<dyn Judge>), 4);
    let answered = AtomicUsize::new(0);
    let started = Mutex::new(Vec::new());
    score_captions(
        &judge,
        &samples,
        "c",
        &captions,
        &ScoreOptions::default(),
        &|e| match e {
            CapevalEvent::Started { questions, .. } => started.lock().unwrap().push(questions),
            CapevalEvent::Answered => {
                answered.fetch_add(1, Ordering::SeqCst);
            }
        },
    )
    .unwrap();
    assert_eq!(*started.lock().unwrap(), [13]);
    assert_eq!(answered.load(Ordering::SeqCst), 13);
}

#[test]
fn bundled_caption_sets_rank_personalised_above_generic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample");
    let samples = read_test_set(&root.join("test")).unwrap();
    let judge = JudgeSettings::default().open().unwrap();
    let mut runs = Vec::new();
    for name in ["generic", "personalised"] {
        let path = root.join(format!("captions/{name}.json"));
        let caps = read_captions(&path).unwrap();
        runs.push(
            score_captions(
                &judge,
                &samples,
                name,
                &caps,
                &ScoreOptions::default(),
                &|_| {},
            )
            .unwrap(),
        );
    }
    let (generic, personal) = (&runs[0], &runs[1]);
    // The generic captions recall nothing: Acc+ low, Acc- perfect. The personalised ones
    // recall the present concepts and leave the absent ones out.
    assert!(generic.acc_pos.unwrap() < 0.2, "{:?}", generic.acc_pos);
    assert_eq!(generic.acc_neg, Some(1.0));
    assert!(personal.acc_pos.unwrap() > 0.8, "{:?}", personal.acc_pos);
    assert!(personal.acc_neg.unwrap() > 0.8, "{:?}", personal.acc_neg);
    for b in BUCKETS {
        assert!(personal.by_concepts[b].n_pos > 0, "bucket {b}");
    }
    let table = markdown_table(&CapevalResult { runs: runs.clone() });
    assert_eq!(
        table
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| ---"))
            .count(),
        3,
        "{table}"
    );
    let png = chart_png(&CapevalResult { runs }).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn chart_draws_nulls_and_many_runs() {
    let mut runs = Vec::new();
    for i in 0..10 {
        runs.push(pool(
            format!("dir/run{i}.json"),
            "lexical".into(),
            Samples::default(),
            vec![],
        ));
    }
    let png = chart_png(&CapevalResult { runs }).unwrap();
    assert!(png.len() > 1000);
    let png = chart_png(&CapevalResult { runs: vec![] }).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}
