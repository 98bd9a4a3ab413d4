//! CapEval-QAs (SPEC §6): how much of a user's visual memory a personalised caption carries.
//!
//! The evaluated VLM writes one caption per test sample; a text-only judge then answers every
//! QA of the sample from the caption alone. QAs about concepts present in the query image are
//! *positive* (a hit when the judge picks the right letter), QAs about absent concepts are
//! *negative* (a hit when it answers `D`, "cannot be determined"). Acc+ and Acc− pool the hits
//! over QAs, overall and by number of present concepts.
//!
//! The released scoring rules are the defaults, since published numbers were computed with
//! them: one user message per QA (the `judge` template filled with the caption and the
//! `judge_question` block, nothing trimmed), temperature 0.7 / top-p 0.8 / top-k 20, the answer
//! read as the text between the first `\boxed{` and the next `}` ([`parse_answer`]), letters
//! matched by containment, buckets `"1"`..`"4"` with `"4"` taking every other count.
//!
//! Unlike the released script, nothing is dropped silently: a captions file missing samples is
//! an error (or, when allowed, a listed omission), and a judge failure stops the run naming the
//! sample and QA. Every answer goes through the judge's on-disk cache as soon as it arrives, so
//! a killed run started again asks no question twice.
//!
//! ```
//! use std::path::Path;
//! use covip_eval::capeval::{read_test_set, read_captions, score_captions, JudgeSettings, ScoreOptions};
//! let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample");
//! let samples = read_test_set(&root.join("test")).unwrap();
//! let caps = root.join("captions/personalised.json");
//! let judge = JudgeSettings::default().open().unwrap(); // lexical, in-memory cache
//! let run = score_captions(&judge, &samples, &caps.display().to_string(), &read_captions(&caps).unwrap(),
//!     &ScoreOptions::default(), &|_| {}).unwrap();
//! assert!(run.acc_pos.unwrap() > 0.5 && run.n_pos > 0);
//! ```
mod captions;
pub(crate) mod chart;
mod judge;
mod result;
mod table;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use covip_data::{DataError, Letter, Polarity, Qa, Sample};
use covip_rl::judge::{Judge, JudgeError, JudgeRequest};
use covip_rl::rewards::boxed::boxed_content;

pub use captions::{MAX_CAPTIONS_BYTES, read_captions, read_test_set};
pub use chart::{chart_png, write_chart};
pub use judge::{
    JudgeSettings, OpenedJudge, default_cache_path, default_captions_path, served_models,
};
pub use result::{
    BUCKETS, Bucket, CapevalResult, QaResult, Run, SampleResult, Samples, bucket, pool,
};
pub use table::markdown_table;

/// Why a CapEval-QAs run stopped.
#[derive(Debug, thiserror::Error)]
pub enum CapevalError {
    /// Reading the test set or writing a file.
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("test set: {0}")]
    TestSet(String),
    /// A captions file that cannot be read or has the wrong shape.
    #[error("captions {}: {message}", path.display())]
    Captions { path: PathBuf, message: String },
    /// Samples of the test set without a caption (and `allow_missing` is off).
    #[error("captions {captions}: no caption for {} sample(s) of the test set: {}{} (--allow-missing scores the rest)", ids.len(), ids.iter().take(20).cloned().collect::<Vec<_>>().join(", "), if ids.len() > 20 { ", ..." } else { "" })]
    Missing { captions: String, ids: Vec<String> },
    /// The judge could not be built.
    #[error("judge: {message}")]
    Judge { message: String },
    /// The judge failed on a question after its retries; every earlier answer is cached.
    #[error("captions {captions}: sample {sample}, QA {qa_id} (concept {concept}): {source}")]
    Question {
        captions: String,
        sample: String,
        qa_id: String,
        concept: usize,
        #[source]
        source: Box<JudgeError>,
    },
    /// Drawing the chart.
    #[error("chart {}: {message}", path.display())]
    Chart { path: PathBuf, message: String },
}

/// A judge's answer as the released evaluation reads it: the text between the first
/// `\boxed{` and the next `}` (which may span lines, kept as it is), or `"D"` when there is
/// no such box.
///
/// ```
/// use covip_eval::capeval::parse_answer;
/// assert_eq!(parse_answer("so \\boxed{B} or \\boxed{C}"), "B");
/// assert_eq!(parse_answer("\\boxed{\\text{A}}"), "\\text{A");
/// assert_eq!(parse_answer("I cannot tell."), "D");
/// ```
pub fn parse_answer(raw: &str) -> &str {
    boxed_content(raw).unwrap_or("D")
}

/// Whether an answer is a hit: its parsed text contains `correct` (the QA's letter for a
/// positive QA, `D` for a negative one), upper-case, anywhere.
///
/// ```
/// use covip_data::Letter;
/// use covip_eval::capeval::is_hit;
/// assert!(is_hit("Answer: \\boxed{A or D}", Letter::D));
/// assert!(!is_hit("\\boxed{b}", Letter::B));
/// assert!(is_hit("no box", Letter::D));
/// ```
pub fn is_hit(raw: &str, correct: Letter) -> bool {
    parse_answer(raw).contains(correct.as_char())
}

/// How a captions file is scored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScoreOptions {
    /// Score the samples that have a caption and list the others, instead of stopping.
    pub allow_missing: bool,
}

/// What a scoring run reports as it goes (from the worker threads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapevalEvent<'a> {
    /// Before the first question of a captions file: `questions` QAs to judge.
    Started { captions: &'a str, questions: usize },
    /// One question answered (from the cache or the judge).
    Answered,
}

/// One question of the run.
struct Item<'a> {
    sample: usize,
    concept: usize,
    qa: &'a Qa,
    polarity: Polarity,
}

/// Judges every QA of every sample that has a caption in `captions` and pools the hits.
///
/// `judge.concurrency` worker threads take one question at a time, so each answer reaches the
/// cache (and its file) the moment it arrives. On a failure no new question is started, the
/// ones in flight finish (and are cached), and the first failed question in test-set order is
/// the error. `label` is what the result records as `captions`.
pub fn score_captions(
    judge: &OpenedJudge,
    samples: &[Sample],
    label: &str,
    captions: &HashMap<String, String>,
    options: &ScoreOptions,
    on_event: &(dyn Fn(CapevalEvent<'_>) + Sync),
) -> Result<Run, CapevalError> {
    let missing: Vec<String> = samples
        .iter()
        .filter(|s| !captions.contains_key(&s.id))
        .map(|s| s.id.clone())
        .collect();
    if !missing.is_empty() && !options.allow_missing {
        return Err(CapevalError::Missing {
            captions: label.to_string(),
            ids: missing,
        });
    }
    let known: HashSet<&str> = samples.iter().map(|s| s.id.as_str()).collect();
    let extra = captions
        .keys()
        .filter(|k| !known.contains(k.as_str()))
        .count();
    if extra > 0 {
        tracing::warn!("{label}: {extra} caption(s) for samples not in the test set, ignored");
    }
    let items: Vec<Item<'_>> = samples
        .iter()
        .enumerate()
        .filter(|(_, s)| captions.contains_key(&s.id))
        .flat_map(|(i, s)| {
            s.qas_with_polarity()
                .map(move |(concept, qa, polarity)| Item {
                    sample: i,
                    concept,
                    qa,
                    polarity,
                })
        })
        .collect();
    on_event(CapevalEvent::Started {
        captions: label,
        questions: items.len(),
    });
    let mut answers: Vec<Option<Result<String, JudgeError>>> =
        ask_all(judge, samples, captions, &items, on_event)
            .into_iter()
            .map(OnceLock::into_inner)
            .collect();

    // The first failure in test-set order names the question.
    if let Some(at) = answers.iter().position(|a| matches!(a, Some(Err(_)))) {
        let Some(Err(source)) = answers.swap_remove(at) else {
            unreachable!("found above")
        };
        let item = &items[at];
        return Err(CapevalError::Question {
            captions: label.to_string(),
            sample: samples[item.sample].id.clone(),
            qa_id: format!("{:?}", item.qa.id),
            concept: item.concept,
            source: Box::new(source),
        });
    }

    let mut per_sample: Vec<Option<SampleResult>> = vec![None; samples.len()];
    for (item, a) in items.iter().zip(answers) {
        let raw = match a {
            Some(Ok(raw)) => raw,
            // Not started because an earlier question failed: reported above.
            _ => unreachable!("every question answered when none failed"),
        };
        let correct = match item.polarity {
            Polarity::Positive => item.qa.correct_answer,
            Polarity::Negative => Letter::D,
        };
        let parsed = parse_answer(&raw).to_string();
        let hit = parsed.contains(correct.as_char());
        let entry = per_sample[item.sample].get_or_insert_with(|| SampleResult {
            present: samples[item.sample].gold.clone(),
            pos: Vec::new(),
            neg: Vec::new(),
        });
        let r = QaResult {
            qa_id: item.qa.id.clone(),
            concept: item.concept,
            correct,
            raw,
            parsed,
            hit,
        };
        match item.polarity {
            Polarity::Positive => entry.pos.push(r),
            Polarity::Negative => entry.neg.push(r),
        }
    }
    let scored = samples
        .iter()
        .zip(per_sample)
        .filter(|(s, _)| captions.contains_key(&s.id))
        .map(|(s, r)| {
            let r = r.unwrap_or_else(|| SampleResult {
                present: s.gold.clone(),
                pos: Vec::new(),
                neg: Vec::new(),
            });
            (s.id.clone(), r)
        })
        .collect();
    Ok(pool(
        label.to_string(),
        judge.id.clone(),
        Samples(scored),
        missing,
    ))
}

/// Asks every item with `judge.concurrency` workers, one question per call; stops starting
/// new questions after the first failure.
fn ask_all(
    judge: &OpenedJudge,
    samples: &[Sample],
    captions: &HashMap<String, String>,
    items: &[Item<'_>],
    on_event: &(dyn Fn(CapevalEvent<'_>) + Sync),
) -> Vec<OnceLock<Result<String, JudgeError>>> {
    let answers: Vec<OnceLock<Result<String, JudgeError>>> =
        (0..items.len()).map(|_| OnceLock::new()).collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let events = Mutex::new(());
    let workers = judge.concurrency.max(1).min(items.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    if failed.load(Ordering::Acquire) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::AcqRel);
                    let Some(item) = items.get(i) else { break };
                    let request = JudgeRequest {
                        description: &captions[&samples[item.sample].id],
                        qa: item.qa,
                    };
                    let answer = judge
                        .judge
                        .answer_batch(&[request])
                        .pop()
                        .unwrap_or_else(|| {
                            Err(JudgeError::Prompt("the judge returned no answer".into()))
                        });
                    let ok = answer.is_ok();
                    if !ok {
                        failed.store(true, Ordering::Release);
                    }
                    let _ = answers[i].set(answer);
                    if ok {
                        let _guard = events.lock().unwrap_or_else(|p| p.into_inner());
                        on_event(CapevalEvent::Answered);
                    }
                }
            });
        }
    });
    answers
}

/// Scores each captions file in turn with one judge, as `covip capeval` does. `files` pairs
/// the label recorded in the result with the captions.
pub fn score_all(
    judge: &OpenedJudge,
    samples: &[Sample],
    files: &[(String, HashMap<String, String>)],
    options: &ScoreOptions,
    on_event: &(dyn Fn(CapevalEvent<'_>) + Sync),
) -> Result<CapevalResult, CapevalError> {
    let mut runs = Vec::with_capacity(files.len());
    for (label, captions) in files {
        runs.push(score_captions(
            judge, samples, label, captions, options, on_event,
        )?);
    }
    Ok(CapevalResult { runs })
}

/// Writes the result atomically (pretty JSON): readers see the old file or the whole new one.
pub fn write_result(path: &std::path::Path, result: &CapevalResult) -> Result<(), CapevalError> {
    covip_data::io::write_json_atomic(path, result)?;
    Ok(())
}

#[cfg(test)]
mod tests;
