//! Runs the official SPICE 1.0 jar as pycocoevalcap 1.2's `spice.py` does, parses its output,
//! and rescores its `-detailed` output with the Rust tuple scorer.
//!
//! `spice.py` writes `[{"image_id", "test", "refs"}, …]` (images in sorted id order,
//! `json.dump(…, indent=2)`), runs
//! `java -jar -Xmx8G spice-1.0.jar IN -cache DIR -out OUT -subset -silent` in the jar's
//! folder, reads OUT (per image: `image_id`, `scores` per category with `pr`, `re`, `f`, `tp`,
//! `fp`, `fn`, `numImages`; NaN written as `null`) and reports the mean of the images'
//! `All.f`.
//!
//! The jar needs, next to it in `lib/`, Stanford CoreNLP 3.6.0's code and models jars
//! (`stanford-corenlp-3.6.0.jar`, `stanford-corenlp-3.6.0-models.jar`, which pycocoevalcap's
//! `get_stanford_models.py` downloads), and a Java 8 to 14 runtime: it pretty-prints its
//! output with the Nashorn JavaScript engine, which Java 15 removed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use serde_json::Value;

use super::score::{Evaluation, ImageScore, Matching, SpiceCorpus, SpiceStats, score_tuple_sets};
use super::tuples::{TupleCategory, TupleSet};
use crate::metrics::error::MetricsError;
use crate::metrics::wordnet::SynonymDictionary;

/// The CoreNLP jars the SPICE jar's manifest expects in its `lib/` folder.
pub const CORENLP_JARS: [&str; 2] = [
    "stanford-corenlp-3.6.0.jar",
    "stanford-corenlp-3.6.0-models.jar",
];

/// What can go wrong running the SPICE jar or reading its output.
#[derive(Debug, thiserror::Error)]
pub enum SpiceError {
    /// The captions handed to the runner are not a valid SPICE input.
    #[error("SPICE input: {0}")]
    Input(String),
    /// The jar file does not exist.
    #[error(
        "SPICE jar {} not found: give the path of spice-1.0.jar (pycocoevalcap 1.2 ships it as pycocoevalcap/spice/spice-1.0.jar, with its lib/ folder)",
        .0.display()
    )]
    JarMissing(PathBuf),
    /// The Java executable could not be started.
    #[error(
        "cannot start Java {java:?} to run SPICE: {source}; SPICE needs a Java 8 to 14 runtime (`java` on PATH, or give the java binary)"
    )]
    JavaNotFound {
        /// The executable tried.
        java: PathBuf,
        /// Why it did not start.
        source: std::io::Error,
    },
    /// The jar could not load Stanford CoreNLP's classes or models.
    #[error(
        "SPICE's parser needs Stanford CoreNLP 3.6.0 in {}: {}. Run pycocoevalcap's spice/get_stanford_models.py once (it downloads stanford-corenlp-full-2015-12-09.zip from nlp.stanford.edu and puts stanford-corenlp-3.6.0.jar and stanford-corenlp-3.6.0-models.jar into that lib/ folder), or copy the two jars there. Java said: {stderr_tail}",
        lib_dir.display(),
        if missing.is_empty() { "the jars are there but could not be loaded".to_string() } else { format!("missing {}", missing.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")) }
    )]
    CoreNlpMissing {
        /// The jar's `lib/` folder.
        lib_dir: PathBuf,
        /// Which of [`CORENLP_JARS`] are absent there.
        missing: Vec<PathBuf>,
        /// The end of the jar's standard error.
        stderr_tail: String,
    },
    /// Java 15+ has no JavaScript engine, which the jar uses to write its output.
    #[error(
        "the SPICE jar scored the captions but could not write its output: it pretty-prints JSON with the Nashorn JavaScript engine, which Java 15 and later lack ({java:?}). Run it with a Java 8 to 14 runtime (give that java binary). Java said: {stderr_tail}"
    )]
    NoJavaScriptEngine {
        /// The Java executable used.
        java: PathBuf,
        /// The end of the jar's standard error.
        stderr_tail: String,
    },
    /// The jar exited with a failure status for another reason.
    #[error("the SPICE jar failed ({status}){hint}. Java said: {stderr_tail}")]
    Failed {
        /// Exit status.
        status: String,
        /// A suggestion (with a leading `: `) or empty.
        hint: String,
        /// The end of the jar's standard error.
        stderr_tail: String,
    },
    /// A file could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The jar's output is not what it writes.
    #[error("SPICE output {origin}: {message}")]
    MalformedOutput {
        /// The output file, or `<text>`.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

impl From<SpiceError> for MetricsError {
    fn from(e: SpiceError) -> Self {
        match e {
            SpiceError::Io { path, source } => MetricsError::Io { path, source },
            other => MetricsError::Unsupported(other.to_string()),
        }
    }
}

/// A tuple as the jar's `-detailed` output lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrintedTuple {
    /// The elements, each a concept's words joined with `/`.
    pub tuple: Vec<String>,
    /// Whether it matched.
    pub truth_value: bool,
}

/// One image of the jar's output.
#[derive(Clone, Debug, PartialEq)]
pub struct JarImage {
    /// The image id (a JSON number is kept as its text).
    pub image_id: String,
    /// The scores (`All`, and the subsets with `-subset`).
    pub stats: SpiceStats,
    /// With `-detailed`: the candidate's tuples.
    pub test_tuples: Option<Vec<PrintedTuple>>,
    /// With `-detailed`: the references' tuples.
    pub ref_tuples: Option<Vec<PrintedTuple>>,
}

/// The result of a jar run.
#[derive(Clone, Debug)]
pub struct SpiceRun {
    /// Per-image scores in the caller's image order; `spice` is pycocoevalcap's mean, taken
    /// in the jar's (sorted-id) order.
    pub corpus: SpiceCorpus,
    /// The jar's images in its output order (with tuples under `-detailed`).
    pub images: Vec<JarImage>,
    /// The output file's text (for [`rescore_detailed`]).
    pub output_json: String,
    /// The jar's standard error (progress and timing messages).
    pub stderr: String,
}

/// How to run the SPICE jar. [`SpiceJar::new`] gives pycocoevalcap's settings.
#[derive(Clone, Debug)]
pub struct SpiceJar {
    /// `spice-1.0.jar` (its `lib/` folder next to it).
    pub jar: PathBuf,
    /// The Java executable (`java`: looked up on PATH).
    pub java: PathBuf,
    /// `-Xmx` value (`8G`).
    pub max_memory: String,
    /// Further JVM options, placed before the jar.
    pub jvm_args: Vec<String>,
    /// `-cache DIR` (created when missing): the jar's LMDB cache of parses. pycocoevalcap
    /// uses `pycocoevalcap/spice/cache`; `None` runs without a cache.
    pub cache_dir: Option<PathBuf>,
    /// `-subset`: category scores (on, as in pycocoevalcap).
    pub subset: bool,
    /// `-silent` (on, as in pycocoevalcap).
    pub silent: bool,
    /// `-detailed`: tuples in the output (off, as in pycocoevalcap).
    pub detailed: bool,
    /// `-threads N` (the jar defaults to the number of processors).
    pub threads: Option<usize>,
    /// `false` passes `-noSynsets` (exact matching, no merging).
    pub synonyms: bool,
    /// Further jar options, appended.
    pub extra_args: Vec<String>,
    /// Where the temporary input/output folder goes (the system temp folder by default).
    pub temp_root: Option<PathBuf>,
}

impl SpiceJar {
    /// pycocoevalcap's settings for `jar`: `java`, `-Xmx8G`, `-subset -silent`, no cache.
    pub fn new(jar: impl Into<PathBuf>) -> Self {
        Self {
            jar: jar.into(),
            java: PathBuf::from("java"),
            max_memory: "8G".into(),
            jvm_args: Vec::new(),
            cache_dir: None,
            subset: true,
            silent: true,
            detailed: false,
            threads: None,
            synonyms: true,
            extra_args: Vec::new(),
            temp_root: None,
        }
    }

    /// The arguments after the java executable, for input `input` and output `output`:
    /// `-jar -Xmx8G [jvm args] JAR IN [-cache DIR] -out OUT [-subset] [-silent] [-detailed]
    /// [-threads N] [-noSynsets] [extra]`.
    pub fn arguments(&self, input: &Path, output: &Path) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec!["-jar".into(), format!("-Xmx{}", self.max_memory).into()];
        a.extend(self.jvm_args.iter().map(OsString::from));
        a.push(absolute(&self.jar).into());
        a.push(input.into());
        if let Some(c) = &self.cache_dir {
            a.push("-cache".into());
            a.push(absolute(c).into());
        }
        a.push("-out".into());
        a.push(output.into());
        for (on, flag) in [
            (self.subset, "-subset"),
            (self.silent, "-silent"),
            (self.detailed, "-detailed"),
        ] {
            if on {
                a.push(flag.into());
            }
        }
        if let Some(n) = self.threads {
            a.push("-threads".into());
            a.push(n.to_string().into());
        }
        if !self.synonyms {
            a.push("-noSynsets".into());
        }
        a.extend(self.extra_args.iter().map(OsString::from));
        a
    }

    /// Scores one candidate per image against its references (at least one each) with the
    /// jar. Pass PTB-tokenised captions for pycocoevalcap's numbers (`COCOEvalCap` tokenises
    /// before scoring). The result is complete or an error: every image must come back.
    pub fn run(
        &self,
        ids: &[String],
        cands: &[String],
        refs: &[Vec<String>],
    ) -> Result<SpiceRun, SpiceError> {
        let input = write_input(ids, cands, refs)?;
        if !self.jar.is_file() {
            return Err(SpiceError::JarMissing(self.jar.clone()));
        }
        let root = self.temp_root.clone().unwrap_or_else(std::env::temp_dir);
        let tmp = TempDir::new(&absolute(&root))?;
        let in_path = tmp.0.join("input.json");
        let out_path = tmp.0.join("output.json");
        std::fs::write(&in_path, input).map_err(|source| SpiceError::Io {
            path: in_path.clone(),
            source,
        })?;
        if let Some(c) = &self.cache_dir {
            std::fs::create_dir_all(c).map_err(|source| SpiceError::Io {
                path: c.clone(),
                source,
            })?;
        }
        let jar_dir = absolute(&self.jar)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        tracing::info!(
            images = ids.len(),
            jar = %self.jar.display(),
            "running the SPICE jar"
        );
        let out = Command::new(&self.java)
            .args(self.arguments(&in_path, &out_path))
            .current_dir(&jar_dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| SpiceError::JavaNotFound {
                java: self.java.clone(),
                source,
            })?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(self.diagnose(&out.status.to_string(), &stdout, &stderr, &jar_dir));
        }
        let origin = out_path.display().to_string();
        let text = match std::fs::read_to_string(&out_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SpiceError::MalformedOutput {
                    origin,
                    message: format!(
                        "the jar exited successfully but wrote no output file. Java said: {}",
                        tail(&format!("{stdout}{stderr}"))
                    ),
                });
            }
            Err(source) => {
                return Err(SpiceError::Io {
                    path: out_path.clone(),
                    source,
                });
            }
        };
        let images = parse_output_from(&text, &origin)?;
        let corpus = collect(ids, &images, &origin)?;
        Ok(SpiceRun {
            corpus,
            images,
            output_json: text,
            stderr,
        })
    }

    /// Names the failure of a run that exited with `status`.
    fn diagnose(&self, status: &str, stdout: &str, stderr: &str, jar_dir: &Path) -> SpiceError {
        let all = format!("{stdout}\n{stderr}");
        let stderr_tail = tail(&all);
        let corenlp_class = (all.contains("NoClassDefFoundError")
            || all.contains("ClassNotFoundException"))
            && (all.contains("edu/stanford/nlp/") || all.contains("edu.stanford.nlp."));
        let corenlp_model =
            all.contains("edu/stanford/nlp/models/") || all.contains("probably missing model file");
        if corenlp_class || corenlp_model {
            let lib_dir = jar_dir.join("lib");
            let missing = CORENLP_JARS
                .iter()
                .map(|j| lib_dir.join(j))
                .filter(|p| !p.is_file())
                .collect();
            return SpiceError::CoreNlpMissing {
                lib_dir,
                missing,
                stderr_tail,
            };
        }
        if all.contains("NullPointerException")
            && (all.contains("javax.script.ScriptEngine")
                || all.contains("SpiceScorer.scoreBatch(SpiceScorer.java:128)"))
        {
            return SpiceError::NoJavaScriptEngine {
                java: self.java.clone(),
                stderr_tail,
            };
        }
        let hint = if all.contains("OutOfMemoryError") {
            format!(
                ": out of memory, raise the maximum heap (now -Xmx{})",
                self.max_memory
            )
        } else if all.contains("UnsupportedClassVersionError") {
            ": this Java is too old, SPICE needs Java 8 or later".into()
        } else if all.contains("UnsatisfiedLinkError") && all.to_lowercase().contains("lmdb") {
            ": the parse cache needs lmdbjni's native library, which has no build for this platform; run without a cache folder".into()
        } else if all.contains("Unknown option") {
            ": the jar rejected an option (see the extra arguments)".into()
        } else {
            String::new()
        };
        SpiceError::Failed {
            status: status.to_string(),
            hint,
            stderr_tail,
        }
    }
}

/// The last 25 lines (at most 4000 characters) of `s`.
fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.trim_end().lines().collect();
    let start = lines.len().saturating_sub(25);
    let mut t = lines[start..].join("\n");
    if t.chars().count() > 4000 {
        t = t.chars().skip(t.chars().count() - 4000).collect();
    }
    t
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A fresh folder removed (with its content) when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(root: &Path) -> Result<Self, SpiceError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        loop {
            let n = COUNTER.fetch_add(1, AtomicOrdering::Relaxed);
            let dir = root.join(format!("covip-spice-{}-{nanos}-{n}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(Self(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(SpiceError::Io { path: dir, source }),
            }
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Python's `json.dumps` string literal with `ensure_ascii=True`.
fn py_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// The jar's input as `spice.py` writes it: images in sorted id order, each
/// `{"image_id": ID, "test": CANDIDATE, "refs": [REFERENCES]}`, `json.dump(…, indent=2)`
/// (ids are strings here). Every image needs at least one reference and ids must be unique.
pub fn write_input(
    ids: &[String],
    cands: &[String],
    refs: &[Vec<String>],
) -> Result<String, SpiceError> {
    if ids.len() != cands.len() || ids.len() != refs.len() {
        return Err(SpiceError::Input(format!(
            "{} image ids, {} candidates and {} reference lists",
            ids.len(),
            cands.len(),
            refs.len()
        )));
    }
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|&a, &b| ids[a].cmp(&ids[b]));
    for w in order.windows(2) {
        if ids[w[0]] == ids[w[1]] {
            return Err(SpiceError::Input(format!(
                "duplicate image id {:?}",
                ids[w[0]]
            )));
        }
    }
    if order.is_empty() {
        return Ok("[]".into());
    }
    let mut s = String::from("[\n");
    for (k, &i) in order.iter().enumerate() {
        if refs[i].is_empty() {
            return Err(SpiceError::Input(format!(
                "image {:?} has no reference caption",
                ids[i]
            )));
        }
        s.push_str("  {\n    \"image_id\": ");
        py_json_string(&ids[i], &mut s);
        s.push_str(",\n    \"test\": ");
        py_json_string(&cands[i], &mut s);
        s.push_str(",\n    \"refs\": [\n");
        for (j, r) in refs[i].iter().enumerate() {
            s.push_str("      ");
            py_json_string(r, &mut s);
            s.push_str(if j + 1 < refs[i].len() { ",\n" } else { "\n" });
        }
        s.push_str("    ]\n  }");
        s.push_str(if k + 1 < order.len() { ",\n" } else { "\n" });
    }
    s.push(']');
    Ok(s)
}

fn malformed(origin: &str, message: impl Into<String>) -> SpiceError {
    SpiceError::MalformedOutput {
        origin: origin.to_string(),
        message: message.into(),
    }
}

/// pycocoevalcap's `float_convert`: a number, else NaN (the jar writes NaN as `null`).
fn float_of(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn count_of(v: Option<&Value>, origin: &str, at: &str) -> Result<i64, SpiceError> {
    let v = v.ok_or_else(|| malformed(origin, format!("{at}: missing")))?;
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(malformed(
            origin,
            format!("{at}: expected an integer, got {v}"),
        )),
    }
}

fn evaluation_of(v: &Value, origin: &str, at: &str) -> Result<Evaluation, SpiceError> {
    let o = v
        .as_object()
        .ok_or_else(|| malformed(origin, format!("{at}: expected an object")))?;
    for k in ["f", "pr", "re"] {
        match o.get(k) {
            Some(Value::Number(_) | Value::Null) => {}
            _ => {
                return Err(malformed(
                    origin,
                    format!("{at}.{k}: expected a number or null"),
                ));
            }
        }
    }
    Ok(Evaluation {
        f: float_of(&o["f"]),
        pr: float_of(&o["pr"]),
        re: float_of(&o["re"]),
        tp: count_of(o.get("tp"), origin, &format!("{at}.tp"))?,
        fp: count_of(o.get("fp"), origin, &format!("{at}.fp"))?,
        fn_: count_of(o.get("fn"), origin, &format!("{at}.fn"))?,
        num_images: count_of(o.get("numImages"), origin, &format!("{at}.numImages"))?.max(0) as u64,
    })
}

fn tuples_of(v: &Value, origin: &str, at: &str) -> Result<Vec<PrintedTuple>, SpiceError> {
    let arr = v
        .as_array()
        .ok_or_else(|| malformed(origin, format!("{at}: expected a list")))?;
    arr.iter()
        .enumerate()
        .map(|(i, t)| {
            let bad = || {
                malformed(
                    origin,
                    format!("{at}[{i}]: expected {{\"tuple\": [strings], \"truth_value\": bool}}"),
                )
            };
            let o = t.as_object().ok_or_else(bad)?;
            let tuple = o
                .get("tuple")
                .and_then(Value::as_array)
                .ok_or_else(bad)?
                .iter()
                .map(|e| e.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(bad)?;
            if !(1..=3).contains(&tuple.len()) {
                return Err(bad());
            }
            let truth_value = o
                .get("truth_value")
                .and_then(Value::as_bool)
                .ok_or_else(bad)?;
            Ok(PrintedTuple { tuple, truth_value })
        })
        .collect()
}

/// Parses the jar's output file (a JSON list of images).
pub fn parse_output(text: &str) -> Result<Vec<JarImage>, SpiceError> {
    parse_output_from(text, "<text>")
}

fn parse_output_from(text: &str, origin: &str) -> Result<Vec<JarImage>, SpiceError> {
    if text.trim().is_empty() {
        return Err(malformed(origin, "empty output"));
    }
    let v: Value =
        serde_json::from_str(text).map_err(|e| malformed(origin, format!("invalid JSON: {e}")))?;
    let arr = v
        .as_array()
        .ok_or_else(|| malformed(origin, "expected a JSON list of images"))?;
    let mut out = Vec::with_capacity(arr.len());
    for (i, item) in arr.iter().enumerate() {
        let at = format!("[{i}]");
        let o = item
            .as_object()
            .ok_or_else(|| malformed(origin, format!("{at}: expected an object")))?;
        let image_id = match o.get("image_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(malformed(
                    origin,
                    format!("{at}.image_id: expected a string or a number"),
                ));
            }
        };
        let at = format!("image {image_id:?}");
        let scores = o
            .get("scores")
            .and_then(Value::as_object)
            .ok_or_else(|| malformed(origin, format!("{at}: no \"scores\" object")))?;
        let mut stats = Vec::new();
        for category in TupleCategory::EVERY {
            if let Some(e) = scores.get(category.name()) {
                stats.push((
                    category,
                    evaluation_of(e, origin, &format!("{at}.scores.{}", category.name()))?,
                ));
            } else if category == TupleCategory::All {
                return Err(malformed(origin, format!("{at}: no \"All\" score")));
            }
        }
        let test_tuples = o
            .get("test_tuples")
            .map(|v| tuples_of(v, origin, &format!("{at}.test_tuples")))
            .transpose()?;
        let ref_tuples = o
            .get("ref_tuples")
            .map(|v| tuples_of(v, origin, &format!("{at}.ref_tuples")))
            .transpose()?;
        out.push(JarImage {
            image_id,
            stats: SpiceStats { scores: stats },
            test_tuples,
            ref_tuples,
        });
    }
    Ok(out)
}

/// Aligns the jar's images with the caller's ids: each exactly once.
fn collect(ids: &[String], images: &[JarImage], origin: &str) -> Result<SpiceCorpus, SpiceError> {
    let mut by_id: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (k, im) in images.iter().enumerate() {
        if by_id.insert(im.image_id.as_str(), k).is_some() {
            return Err(malformed(
                origin,
                format!("image {:?} appears twice", im.image_id),
            ));
        }
    }
    let mut per_image = Vec::with_capacity(ids.len());
    for id in ids {
        let k = by_id.remove(id.as_str()).ok_or_else(|| {
            malformed(
                origin,
                format!(
                    "image {id:?} is missing ({} of {} images came back)",
                    images.len(),
                    ids.len()
                ),
            )
        })?;
        per_image.push(images[k].stats.clone());
    }
    if let Some(extra) = by_id.keys().next() {
        return Err(malformed(origin, format!("unexpected image {extra:?}")));
    }
    // pycocoevalcap averages in the jar's order.
    let jar_order = SpiceCorpus::new(
        images.iter().map(|i| i.image_id.clone()).collect(),
        images.iter().map(|i| i.stats.clone()).collect(),
    );
    Ok(SpiceCorpus {
        image_ids: ids.to_vec(),
        per_image,
        spice: jar_order.spice,
    })
}

/// One image of a `-detailed` output rescored in Rust.
#[derive(Clone, Debug)]
pub struct Rescored {
    /// The image id.
    pub image_id: String,
    /// The jar's scores.
    pub jar: SpiceStats,
    /// The Rust scorer's scores and matched tuple sets.
    pub rust: ImageScore,
    /// The Rust tuple sets print the same tuples, in the same order, with the same truth
    /// values as the jar's (this also checks the emulated Java set and sort order).
    pub tuples_agree: bool,
}

impl Rescored {
    /// Every category the jar reported agrees with the Rust scores within `tol`.
    pub fn agrees(&self, tol: f64) -> bool {
        self.jar.scores.iter().all(|(c, e)| {
            self.rust
                .stats
                .get(*c)
                .is_some_and(|r| r.agrees_with(e, tol))
        })
    }
}

/// Recomputes the scores of a `-detailed` jar output from its `test_tuples` / `ref_tuples`
/// with the Rust scorer and synonym matching (the jar's default) — the check of the tuple
/// scorer against the jar for users who have the parser models. The jar prints merged concepts
/// as words joined by `/`; each word's synsets come from `dict` (METEOR's English synonym
/// files, as the jar uses).
pub fn rescore_detailed(
    output_json: &str,
    dict: &SynonymDictionary,
) -> Result<Vec<Rescored>, SpiceError> {
    rescore_detailed_with(output_json, dict, Matching::Synonyms)
}

/// [`rescore_detailed`] with a choice of matching (`Exact` for a `-noSynsets` output).
pub fn rescore_detailed_with(
    output_json: &str,
    dict: &SynonymDictionary,
    matching: Matching,
) -> Result<Vec<Rescored>, SpiceError> {
    let origin = "<detailed output>";
    let images = parse_output_from(output_json, origin)?;
    images
        .into_iter()
        .map(|im| {
            let (Some(test), Some(refs)) = (&im.test_tuples, &im.ref_tuples) else {
                return Err(malformed(
                    origin,
                    format!(
                        "image {:?} has no test_tuples/ref_tuples: run the jar with -detailed",
                        im.image_id
                    ),
                ));
            };
            let to_set = |ts: &[PrintedTuple]| {
                let raw: Vec<&[String]> = ts.iter().map(|t| t.tuple.as_slice()).collect();
                TupleSet::from_printed(&raw, dict)
                    .map_err(|e| malformed(origin, format!("image {:?}: {e}", im.image_id)))
            };
            let rust = score_tuple_sets(&to_set(test)?, &to_set(refs)?, matching);
            let same = |set: &TupleSet, printed: &[PrintedTuple]| {
                set.printed()
                    .into_iter()
                    .map(|(tuple, truth_value)| PrintedTuple { tuple, truth_value })
                    .eq(printed.iter().cloned())
            };
            let tuples_agree = same(&rust.test_tuples, test) && same(&rust.ref_tuples, refs);
            Ok(Rescored {
                image_id: im.image_id,
                jar: im.stats,
                rust,
                tuples_agree,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_json_strings_escape_like_ensure_ascii() {
        let mut s = String::new();
        py_json_string("a \"b\"\\ \n\té/😀\u{7f}", &mut s);
        assert_eq!(s, r#""a \"b\"\\ \n\t\u00e9/\ud83d\ude00\u007f""#);
    }

    #[test]
    fn input_is_sorted_and_indented_like_json_dump() {
        let ids = vec!["b".to_string(), "a".to_string()];
        let cands = vec!["x".to_string(), "y".to_string()];
        let refs = vec![
            vec!["r1".to_string(), "r2".to_string()],
            vec!["r3".to_string()],
        ];
        let s = write_input(&ids, &cands, &refs).unwrap();
        let expected = "[\n  {\n    \"image_id\": \"a\",\n    \"test\": \"y\",\n    \"refs\": [\n      \"r3\"\n    ]\n  },\n  {\n    \"image_id\": \"b\",\n    \"test\": \"x\",\n    \"refs\": [\n      \"r1\",\n      \"r2\"\n    ]\n  }\n]";
        assert_eq!(s, expected);
        assert_eq!(write_input(&[], &[], &[]).unwrap(), "[]");
    }

    #[test]
    fn input_errors_name_the_problem() {
        let one = vec!["a".to_string()];
        assert!(matches!(
            write_input(&one, &one, &[vec![]]),
            Err(SpiceError::Input(m)) if m.contains("no reference")
        ));
        let two = vec!["a".to_string(), "a".to_string()];
        let r = vec![one.clone(), one.clone()];
        assert!(matches!(
            write_input(&two, &two, &r),
            Err(SpiceError::Input(m)) if m.contains("duplicate")
        ));
        assert!(write_input(&one, &[], std::slice::from_ref(&one)).is_err());
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let s: String = (0..40).map(|i| format!("line {i}\n")).collect();
        let t = tail(&s);
        assert!(t.starts_with("line 15\n") && t.ends_with("line 39"));
    }
}
