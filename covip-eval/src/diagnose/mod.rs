//! The LSD / LAR / ITR diagnostics (SPEC §6, issue 12 §2): does a VLM really use its visual
//! memory? Responses come from a [`Generator`] (a local checkpoint or an OpenAI-compatible
//! endpoint), with or without caption-augmented generation (CAG), or from a saved file; they
//! are scored as the released downstream scripts score them:
//!
//! - LSD: the answer extracted as released ([`extract_lsd_answer`]: the last `//boxed{…}`,
//!   else around the last `//`), token-set F1 against the gold place; mean.
//! - ITR: 1 when the whole response contains `SKS`; mean.
//! - LAR: a judge compares the whole response with `User said "{last_action}"`; the released
//!   accuracy counts a verdict containing `correct` (so "Incorrect" counts), the strict one
//!   only a verdict whose first word is `correct`. Both are reported.
//!
//! Runs resume: every caption, response (with its extraction) and verdict is appended to a
//! JSONL log as soon as it exists, keyed by the sample's index and a digest of everything that
//! produced it (model, sampling, seed, the full conversation or judge prompt). A rerun reuses
//! what matches and redoes the rest, so an interrupted run continues where it stopped and a
//! finished one asks nothing again and writes the same result.
mod extract;
mod generate;
mod judge;
#[cfg(feature = "model")]
mod local;

use std::path::{Path, PathBuf};

use covip_data::diagnostics::{DiagnosticKind, DiagnosticSample};
use covip_data::formats::{read_downstream_json, read_downstream_parquet};
use covip_data::io::{ResumeLog, write_json_atomic};
use covip_data::prompt::downstream::{
    cag_caption_prompt, cag_question_prompt, downstream_prompt, lar_judge_text,
};
use covip_data::prompt::{Message, Part, Templates};
use covip_data::{DataError, ImageRef};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use extract::{
    extract_lsd_answer, itr_hit, lsd_boxes, token_set_f1, verdict_correct_released,
    verdict_correct_strict,
};
pub use generate::{EndpointGenerator, GenParams, GenerationRequest, Generator, to_chat_messages};
pub use judge::{EndpointLarJudge, JudgeParams, LarJudge};
#[cfg(feature = "model")]
pub use local::LocalGenerator;

/// Why a diagnostic run stopped. Whatever was finished before is kept in the log.
#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    /// Reading the set or a responses file, or writing the log or the result.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Generation failed for a sample (after the generator's own retries).
    #[error("generating the {stage} of sample {index}: {message}")]
    Generate {
        stage: &'static str,
        index: usize,
        message: String,
    },
    /// The LAR judge failed for a sample (after the client's retries).
    #[error("LAR judge, sample {index}: {message}")]
    Judge { index: usize, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// Reads a downstream set (JSONL/JSON, or Parquet) for `set`. Every record must be valid, so
/// that indices are the dataset's order: problems are an error listing the first ones. LAR
/// records need their `last_action`.
pub fn read_diagnostic_set(
    path: &Path,
    set: DiagnosticKind,
) -> Result<Vec<DiagnosticSample>, DiagnoseError> {
    let loaded = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
    {
        read_downstream_parquet(path)?
    } else {
        read_downstream_json(path)?
    };
    if !loaded.problems.is_empty() {
        let first: Vec<String> = loaded
            .problems
            .iter()
            .take(5)
            .map(|p| format!("  {p}"))
            .collect();
        return Err(DiagnoseError::Invalid(format!(
            "{}: {} problem(s) in the set; first:\n{}",
            path.display(),
            loaded.problems.len(),
            first.join("\n")
        )));
    }
    let mut out = Vec::with_capacity(loaded.records.len());
    for (loc, mut s) in loaded.records {
        if set == DiagnosticKind::Lar && s.last_action.as_deref().is_none_or(str::is_empty) {
            return Err(DiagnoseError::Invalid(format!(
                "{}: {loc}: an LAR record needs `last_action` (is this an LAR set?)",
                path.display()
            )));
        }
        s.kind = set;
        out.push(s);
    }
    if out.is_empty() {
        return Err(DiagnoseError::Invalid(format!(
            "{}: no samples",
            path.display()
        )));
    }
    Ok(out)
}

/// The largest responses file read (a JSON list of texts).
pub const MAX_RESPONSES_BYTES: u64 = 1 << 30;

/// Reads saved responses: a JSON list in dataset order, of strings or of objects with a
/// `response` string (the two shapes the released scripts save). Each is kept as it is.
pub fn read_responses(path: &Path) -> Result<Vec<String>, DiagnoseError> {
    let len = std::fs::metadata(path)
        .map_err(|e| io_error(path, e))?
        .len();
    if len > MAX_RESPONSES_BYTES {
        return Err(DiagnoseError::Invalid(format!(
            "{}: {len} bytes, more than the {MAX_RESPONSES_BYTES} a responses file may have",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, e))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| DiagnoseError::Invalid(format!("{}: not JSON: {e}", path.display())))?;
    let serde_json::Value::Array(items) = value else {
        return Err(DiagnoseError::Invalid(format!(
            "{}: expected a JSON list of responses (strings or {{\"response\": ...}} objects)",
            path.display()
        )));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            serde_json::Value::String(s) => Ok(s),
            serde_json::Value::Object(mut o) => match o.remove("response") {
                Some(serde_json::Value::String(s)) => Ok(s),
                other => Err(DiagnoseError::Invalid(format!(
                    "{}: item {i}: `response` is {}, not a string",
                    path.display(),
                    other.map_or("missing".to_string(), |v| json_kind(&v).to_string())
                ))),
            },
            other => Err(DiagnoseError::Invalid(format!(
                "{}: item {i} is {}, not a string or an object with `response`",
                path.display(),
                json_kind(&other)
            ))),
        })
        .collect()
}

fn io_error(path: &Path, source: std::io::Error) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Where the responses come from.
pub enum ResponseSource<'a> {
    /// Generated by `generator`, directly or (`cag`) after a caption.
    Generate {
        generator: &'a mut dyn Generator,
        cag: bool,
    },
    /// Saved responses, one per sample in dataset order (`cag` is then `null`).
    Saved(Vec<String>),
}

/// Settings of a run; `Default` is the released setup.
#[derive(Clone, Debug)]
pub struct DiagnoseOptions {
    pub templates: Templates,
    /// CAG's caption.
    pub caption: GenParams,
    /// Every answering conversation.
    pub answer: GenParams,
    /// Sample `i` is answered with seed `seed + i`.
    pub seed: u64,
}

impl Default for DiagnoseOptions {
    fn default() -> Self {
        DiagnoseOptions {
            templates: Templates::default(),
            caption: GenParams::caption(),
            answer: GenParams::answer(),
            seed: 0,
        }
    }
}

/// One scored sample of the result file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleScore {
    /// 0-based, dataset order.
    pub index: usize,
    pub response: String,
    /// LSD: the extracted answer; LAR and ITR: the whole response.
    pub extracted: String,
    /// LSD: token-set F1; ITR: 0 or 1; LAR: the released verdict (0 or 1).
    pub score: f64,
    /// LAR: the judge's raw text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// LAR: the released verdict, 0 or 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct: Option<u8>,
    /// LAR: the strict verdict, 0 or 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct_strict: Option<u8>,
}

/// The result file: `{"set", "cag", "n", "score", ["score_strict",] "samples"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiagnoseResult {
    pub set: DiagnosticKind,
    /// Whether CAG was used; `null` for saved responses.
    pub cag: Option<bool>,
    pub n: usize,
    /// The mean: LSD F1, ITR hit rate, LAR released accuracy.
    pub score: f64,
    /// LAR: the strict accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_strict: Option<f64>,
    pub samples: Vec<SampleScore>,
}

/// What a run reports as it goes (for progress bars).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiagnoseEvent {
    /// A stage begins: `total` samples, `done` of them found in the log, `todo` to do now.
    Stage {
        stage: Stage,
        total: usize,
        done: usize,
        todo: usize,
    },
    /// One unit of the current stage finished and was logged.
    Done { stage: Stage, index: usize },
}

/// The stages of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// CAG's captions.
    Caption,
    /// The answers.
    Response,
    /// LAR's verdicts.
    Verdict,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Caption => "caption",
            Stage::Response => "response",
            Stage::Verdict => "verdict",
        }
    }
}

/// One log line's value: what produced it (a digest) and what came out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// SHA-256 of the producer and its whole input; an entry whose digest differs from the
    /// current run's is stale and redone.
    pub input: String,
    /// The caption, response or verdict (stripped as released).
    pub text: String,
    /// Responses: the extraction scored (LSD's answer, else the whole response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extracted: Option<String>,
}

/// The log that belongs to the result file `out`: `<out>.log.jsonl`.
pub fn log_path_for(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".log.jsonl");
    out.with_file_name(name)
}

/// The log of a run without a result file: `diagnose-<set>[-cag|-saved].log.jsonl` in the
/// working directory.
pub fn default_log_path(set: DiagnosticKind, cag: Option<bool>) -> PathBuf {
    let variant = match cag {
        Some(true) => "-cag",
        Some(false) => "",
        None => "-saved",
    };
    PathBuf::from(format!("diagnose-{}{variant}.log.jsonl", set.as_str()))
}

fn digest(value: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(value).expect("a JSON value serialises");
    let d = Sha256::digest(&bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A stable description of a conversation: roles, texts, and images by canonical path (or
/// by the digest of embedded bytes).
fn conversation_key(messages: &[Message]) -> serde_json::Value {
    let image = |img: &ImageRef| match img {
        // Canonical, so that the same set read through another relative path (from another
        // working directory) still finds its log entries.
        ImageRef::Path(p) => {
            let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            serde_json::json!({"path": p.to_string_lossy()})
        }
        ImageRef::Embedded { bytes, .. } => {
            let d = Sha256::digest(bytes);
            serde_json::json!({"sha256": d.iter().map(|b| format!("{b:02x}")).collect::<String>()})
        }
    };
    serde_json::Value::Array(
        messages
            .iter()
            .map(|m| {
                let parts: Vec<serde_json::Value> = m
                    .parts
                    .iter()
                    .map(|p| match p {
                        Part::Text(t) => serde_json::json!({"text": t}),
                        Part::Image(i) => serde_json::json!({"image": image(i)}),
                    })
                    .collect();
                serde_json::json!({"role": m.role.as_str(), "parts": parts})
            })
            .collect(),
    )
}

fn generation_digest(
    stage: Stage,
    generator: &str,
    params: &GenParams,
    seed: u64,
    messages: &[Message],
) -> String {
    digest(&serde_json::json!({
        "stage": stage.as_str(),
        "generator": generator,
        "params": params,
        "seed": if params.is_greedy() { None } else { Some(seed) },
        "conversation": conversation_key(messages),
    }))
}

/// The log, opened only when a stage needs it.
struct Log {
    path: PathBuf,
    inner: Option<ResumeLog<LogEntry>>,
}

impl Log {
    fn open(&mut self) -> Result<&mut ResumeLog<LogEntry>, DiagnoseError> {
        if self.inner.is_none() {
            self.inner = Some(ResumeLog::open(self.path.clone())?);
        }
        Ok(self.inner.as_mut().expect("just opened"))
    }

    /// The logged text of `stage` for sample `index`, if it was produced from `input`.
    fn done(
        &mut self,
        stage: Stage,
        index: usize,
        input: &str,
    ) -> Result<Option<String>, DiagnoseError> {
        let log = self.open()?;
        Ok(log
            .get(&key(stage, index))
            .filter(|e| e.input == input)
            .map(|e| e.text.clone()))
    }
}

fn key(stage: Stage, index: usize) -> String {
    format!("{}/{index}", stage.as_str())
}

/// The extraction scored for a response: LSD's answer, else the whole response.
pub fn extraction(set: DiagnosticKind, response: &str) -> String {
    match set {
        DiagnosticKind::Lsd => extract_lsd_answer(response),
        DiagnosticKind::Lar | DiagnosticKind::Itr => response.to_string(),
    }
}

/// Answers (or per-index failure messages) for the indices asked, in order.
type StageAnswers = Result<Vec<Result<String, String>>, DiagnoseError>;

/// The resume loop of every stage: answers whose input digest (`inputs[i]`) is already in the
/// log are reused; the rest are asked in batches of `batch` through `ask` (one result per index
/// given), each success logged at once as `finish` turns it into (text, extraction); a failure
/// (`fail`) stops the stage after the batch's successes are logged.
#[allow(clippy::too_many_arguments)]
fn resumable_stage(
    stage: Stage,
    inputs: &[String],
    batch: usize,
    log: &mut Log,
    ask: &mut dyn FnMut(&[usize]) -> StageAnswers,
    finish: &dyn Fn(String) -> (String, Option<String>),
    fail: &dyn Fn(usize, String) -> DiagnoseError,
    on_event: &mut dyn FnMut(DiagnoseEvent),
) -> Result<Vec<String>, DiagnoseError> {
    let total = inputs.len();
    let mut out: Vec<Option<String>> = Vec::with_capacity(total);
    for (i, input) in inputs.iter().enumerate() {
        out.push(log.done(stage, i, input)?);
    }
    let pending: Vec<usize> = (0..total).filter(|&i| out[i].is_none()).collect();
    on_event(DiagnoseEvent::Stage {
        stage,
        total,
        done: total - pending.len(),
        todo: pending.len(),
    });
    for chunk in pending.chunks(batch.max(1)) {
        let mut failure = None;
        for (&i, answer) in chunk.iter().zip(ask(chunk)?) {
            match answer {
                Ok(text) => {
                    let (text, extracted) = finish(text);
                    log.open()?.record(
                        &key(stage, i),
                        LogEntry {
                            input: inputs[i].clone(),
                            text: text.clone(),
                            extracted,
                        },
                    )?;
                    out[i] = Some(text);
                    on_event(DiagnoseEvent::Done { stage, index: i });
                }
                Err(message) => {
                    failure.get_or_insert(fail(i, message));
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(out
        .into_iter()
        .map(|t| t.expect("every sample answered"))
        .collect())
}

/// Runs one stage of generation over every sample: conversations from `build`, answers kept
/// in the log as they come (a failure stops the stage after logging the batch's successes).
#[allow(clippy::too_many_arguments)]
fn generation_stage(
    stage: Stage,
    samples: &[DiagnosticSample],
    set: DiagnosticKind,
    generator: &mut dyn Generator,
    params: &GenParams,
    seed: u64,
    log: &mut Log,
    build: &dyn Fn(usize, &DiagnosticSample) -> Vec<Message>,
    on_event: &mut dyn FnMut(DiagnoseEvent),
) -> Result<Vec<String>, DiagnoseError> {
    let identity = generator.identity();
    let conversations: Vec<Vec<Message>> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| build(i, s))
        .collect();
    let inputs: Vec<String> = conversations
        .iter()
        .enumerate()
        .map(|(i, c)| generation_digest(stage, &identity, params, seed + i as u64, c))
        .collect();
    let batch = generator.batch_size();
    let mut ask = |chunk: &[usize]| {
        let requests: Vec<GenerationRequest<'_>> = chunk
            .iter()
            .map(|&i| GenerationRequest {
                index: i,
                messages: &conversations[i],
                params,
                seed: seed + i as u64,
            })
            .collect();
        let answers = generator.generate(&requests);
        if answers.len() != chunk.len() {
            return Err(DiagnoseError::Invalid(format!(
                "the generator returned {} answers for {} conversations",
                answers.len(),
                chunk.len()
            )));
        }
        Ok(answers)
    };
    let finish = |text: String| {
        let text = generate::clean(&text);
        let extracted = (stage == Stage::Response).then(|| extraction(set, &text));
        (text, extracted)
    };
    let fail = |index, message| DiagnoseError::Generate {
        stage: stage.as_str(),
        index,
        message,
    };
    resumable_stage(
        stage, &inputs, batch, log, &mut ask, &finish, &fail, on_event,
    )
}

/// LAR's verdicts for every response, kept in the log as they come.
fn verdict_stage(
    samples: &[DiagnosticSample],
    responses: &[String],
    judge: &dyn LarJudge,
    templates: &Templates,
    log: &mut Log,
    on_event: &mut dyn FnMut(DiagnoseEvent),
) -> Result<Vec<String>, DiagnoseError> {
    let identity = judge.identity();
    let prompts: Vec<String> = samples
        .iter()
        .zip(responses)
        .map(|(s, r)| lar_judge_text(s.last_action.as_deref().unwrap_or(""), r, templates))
        .collect();
    let inputs: Vec<String> = prompts
        .iter()
        .map(|p| digest(&serde_json::json!({"stage": "verdict", "judge": identity, "prompt": p})))
        .collect();
    let mut ask = |chunk: &[usize]| {
        let batch: Vec<String> = chunk.iter().map(|&i| prompts[i].clone()).collect();
        let verdicts = judge.judge(&batch);
        if verdicts.len() != chunk.len() {
            return Err(DiagnoseError::Invalid(format!(
                "the judge returned {} verdicts for {} prompts",
                verdicts.len(),
                chunk.len()
            )));
        }
        Ok(verdicts)
    };
    let fail = |index, message| DiagnoseError::Judge { index, message };
    resumable_stage(
        Stage::Verdict,
        &inputs,
        judge.batch_size(),
        log,
        &mut ask,
        &|text| (text, None),
        &fail,
        on_event,
    )
}

/// Scores responses (no judge needed for LSD and ITR; `verdicts` for LAR).
pub fn score(
    set: DiagnosticKind,
    cag: Option<bool>,
    samples: &[DiagnosticSample],
    responses: Vec<String>,
    verdicts: Option<Vec<String>>,
) -> Result<DiagnoseResult, DiagnoseError> {
    if responses.len() != samples.len() {
        return Err(DiagnoseError::Invalid(format!(
            "{} responses for {} samples",
            responses.len(),
            samples.len()
        )));
    }
    let verdicts = match (set, verdicts) {
        (DiagnosticKind::Lar, Some(v)) if v.len() == samples.len() => Some(v),
        (DiagnosticKind::Lar, _) => {
            return Err(DiagnoseError::Invalid(
                "LAR needs one judge verdict per sample".into(),
            ));
        }
        _ => None,
    };
    let mut out = Vec::with_capacity(samples.len());
    for (index, (s, response)) in samples.iter().zip(responses).enumerate() {
        let extracted = extraction(set, &response);
        let mut row = SampleScore {
            index,
            response,
            extracted,
            score: 0.0,
            verdict: None,
            correct: None,
            correct_strict: None,
        };
        match set {
            DiagnosticKind::Lsd => row.score = token_set_f1(&row.extracted, &s.answer),
            DiagnosticKind::Itr => row.score = f64::from(u8::from(itr_hit(&row.response))),
            DiagnosticKind::Lar => {
                let v = verdicts.as_ref().expect("checked above")[index].clone();
                let correct = u8::from(verdict_correct_released(&v));
                row.score = f64::from(correct);
                row.correct = Some(correct);
                row.correct_strict = Some(u8::from(verdict_correct_strict(&v)));
                row.verdict = Some(v);
            }
        }
        out.push(row);
    }
    let n = out.len();
    let mean = |f: &dyn Fn(&SampleScore) -> f64| {
        if n == 0 {
            0.0
        } else {
            out.iter().map(f).sum::<f64>() / n as f64
        }
    };
    let score = mean(&|r| r.score);
    let score_strict =
        (set == DiagnosticKind::Lar).then(|| mean(&|r| f64::from(r.correct_strict.unwrap_or(0))));
    Ok(DiagnoseResult {
        set,
        cag,
        n,
        score,
        score_strict,
        samples: out,
    })
}

/// Runs a diagnostic over `samples` (all of one set, as [`read_diagnostic_set`] reads them):
/// generates what the log does not hold yet
/// (captions for CAG, then answers), asks `judge` for LAR's verdicts, scores, and writes
/// `out` atomically once everything is done. `log` is the resume log (see
/// [`log_path_for`]); it is created only when something has to be generated or judged.
pub fn run_diagnose(
    samples: &[DiagnosticSample],
    source: ResponseSource<'_>,
    judge: Option<&dyn LarJudge>,
    options: &DiagnoseOptions,
    log: &Path,
    out: Option<&Path>,
    on_event: &mut dyn FnMut(DiagnoseEvent),
) -> Result<DiagnoseResult, DiagnoseError> {
    let set = samples
        .first()
        .map(|s| s.kind)
        .ok_or_else(|| DiagnoseError::Invalid("no samples to diagnose".into()))?;
    if let Some(s) = samples.iter().find(|s| s.kind != set) {
        return Err(DiagnoseError::Invalid(format!(
            "sample {} belongs to {}, not {} as the first one does",
            s.id,
            s.kind.as_str(),
            set.as_str()
        )));
    }
    if set == DiagnosticKind::Lar && judge.is_none() {
        return Err(DiagnoseError::Invalid(
            "LAR is scored by a judge; none was given".into(),
        ));
    }
    let mut log = Log {
        path: log.to_path_buf(),
        inner: None,
    };
    let t = &options.templates;
    let (responses, cag) = match source {
        ResponseSource::Saved(responses) => {
            if responses.len() != samples.len() {
                return Err(DiagnoseError::Invalid(format!(
                    "{} saved responses for {} samples (they must be in dataset order, one each)",
                    responses.len(),
                    samples.len()
                )));
            }
            (responses, None)
        }
        ResponseSource::Generate { generator, cag } => {
            let responses = if cag {
                let captions = generation_stage(
                    Stage::Caption,
                    samples,
                    set,
                    generator,
                    &options.caption,
                    options.seed,
                    &mut log,
                    &|_, s| cag_caption_prompt(s, t),
                    on_event,
                )?;
                generation_stage(
                    Stage::Response,
                    samples,
                    set,
                    generator,
                    &options.answer,
                    options.seed,
                    &mut log,
                    &|i, s| cag_question_prompt(s, &captions[i], t),
                    on_event,
                )?
            } else {
                generation_stage(
                    Stage::Response,
                    samples,
                    set,
                    generator,
                    &options.answer,
                    options.seed,
                    &mut log,
                    &|_, s| downstream_prompt(s, t),
                    on_event,
                )?
            };
            (responses, Some(cag))
        }
    };
    let verdicts = match (set, judge) {
        (DiagnosticKind::Lar, Some(judge)) => Some(verdict_stage(
            samples, &responses, judge, t, &mut log, on_event,
        )?),
        _ => None,
    };
    let result = score(set, cag, samples, responses, verdicts)?;
    if let Some(out) = out {
        write_json_atomic(out, &result)?;
    }
    Ok(result)
}

#[cfg(test)]
mod tests;
