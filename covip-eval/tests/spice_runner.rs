//! The SPICE jar runner with a stand-in `java` (a shell script written per test), and once with
//! the real jar and Java when they are here.
//!
//! Fixtures (`fixtures/spice/`):
//! - `oracle_detailed.json`: an output in the jar's layout (see `spice_oracle.rs`);
//! - `pycocoevalcap_gts_res.json` / `pycocoevalcap_input.json`: captions handed to
//!   pycocoevalcap 1.2's `Spice().compute_score` with a stand-in `java` that returned
//!   `oracle_detailed.json`, the input file spice.py wrote, and the `average_score` it
//!   reported;
//! - `real_corenlp_missing_stderr.txt`: what `java -jar spice-1.0.jar …` prints (exit 1) when
//!   the CoreNLP jars are absent, captured from the real jar here;
//! - `java17_no_nashorn_stderr.txt`: what it prints on Java 15+ once scoring is done
//!   (reconstructed: the NullPointerException Java 17 raises at `SpiceScorer.java:128`,
//!   `scriptEngine.put`, where `getEngineByName("JavaScript")` returns null).
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use covip_eval::metrics::MetricsError;
use covip_eval::metrics::spice::{SpiceError, SpiceJar, TupleCategory, parse_output};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/spice")
        .join(name)
}

/// A folder with an (empty) `spice-1.0.jar` and a stand-in `java` running `body` (POSIX sh;
/// `$OUT` is the `-out` argument, `$IN` the input file, `$DIR` the folder).
struct Stage {
    dir: tempfile::TempDir,
}

impl Stage {
    fn new(body: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("spice-1.0.jar"), b"").unwrap();
        let script = format!(
            "#!/bin/sh\nDIR='{}'\nprintf '%s\\n' \"$@\" > \"$DIR/args.txt\"\nIN=\"$4\"\nOUT=''\nprev=''\nfor a in \"$@\"; do [ \"$prev\" = -out ] && OUT=\"$a\"; prev=\"$a\"; done\npwd > \"$DIR/cwd.txt\"\n{body}\n",
            d.display()
        );
        let java = d.join("java");
        std::fs::write(&java, script).unwrap();
        std::fs::set_permissions(&java, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn jar(&self) -> SpiceJar {
        let mut j = SpiceJar::new(self.path().join("spice-1.0.jar"));
        j.java = self.path().join("java");
        j.temp_root = Some(self.path().to_path_buf());
        j
    }
}

/// The captions of `pycocoevalcap_gts_res.json` as (ids, candidates, references), in the
/// file's key order.
fn gts_res() -> (Vec<String>, Vec<String>, Vec<Vec<String>>, f64) {
    let text = std::fs::read_to_string(fixture("pycocoevalcap_gts_res.json")).unwrap();
    // Key order matters little here (the runner sorts), but keep it.
    let v: Value = serde_json::from_str(&text).unwrap();
    let gts = v["gts"].as_object().unwrap();
    let res = v["res"].as_object().unwrap();
    let mut ids = Vec::new();
    let mut cands = Vec::new();
    let mut refs = Vec::new();
    for (id, r) in gts {
        ids.push(id.clone());
        refs.push(
            r.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect(),
        );
        cands.push(res[id][0].as_str().unwrap().to_string());
    }
    (ids, cands, refs, v["average_score"].as_f64().unwrap())
}

fn canned_output_stage() -> Stage {
    Stage::new(&format!(
        "cp \"$IN\" \"$DIR/input.json\"\ncp '{}' \"$OUT\"",
        fixture("oracle_detailed.json").display()
    ))
}

#[test]
fn a_run_writes_spice_py_input_and_parses_the_output() {
    let stage = canned_output_stage();
    let (ids, cands, refs, average) = gts_res();
    let mut jar = stage.jar();
    jar.cache_dir = Some(stage.path().join("cache"));
    let run = jar.run(&ids, &cands, &refs).unwrap();

    // The input file is byte for byte what spice.py wrote for the same captions.
    let written = std::fs::read_to_string(stage.path().join("input.json")).unwrap();
    let expected = std::fs::read_to_string(fixture("pycocoevalcap_input.json")).unwrap();
    assert_eq!(written, expected);

    // The command line is spice.py's, run in the jar's folder.
    let args: Vec<String> = std::fs::read_to_string(stage.path().join("args.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(&args[..2], ["-jar", "-Xmx8G"]);
    assert_eq!(
        args[2],
        stage.path().join("spice-1.0.jar").display().to_string()
    );
    assert!(args[3].ends_with("input.json"));
    assert_eq!(
        &args[4..6],
        ["-cache", &stage.path().join("cache").display().to_string()]
    );
    assert_eq!(args[6], "-out");
    assert_eq!(&args[8..], ["-subset", "-silent"]);
    assert!(stage.path().join("cache").is_dir());
    let cwd = std::fs::read_to_string(stage.path().join("cwd.txt")).unwrap();
    assert_eq!(
        std::fs::canonicalize(cwd.trim()).unwrap(),
        std::fs::canonicalize(stage.path()).unwrap()
    );
    // The temporary folder is gone.
    let leftovers: Vec<_> = std::fs::read_dir(stage.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("covip-spice-"))
        .collect();
    assert!(leftovers.is_empty());

    // Corpus SPICE exactly as pycocoevalcap averaged the same output.
    assert_eq!(run.corpus.spice, average);
    assert_eq!(run.corpus.image_ids, ids);
    // Per image, in the caller's order, with NaN for the jar's nulls.
    let tm = run.corpus.image("transitive-merge").unwrap();
    assert_eq!(tm.all().tp, 2);
    assert_eq!(tm.all().fn_, -1);
    assert_eq!(tm.all().re, 2.0);
    assert!(tm.get(TupleCategory::Size).unwrap().f.is_nan());
    assert_eq!(run.images.len(), ids.len());
    assert!(run.images[0].test_tuples.is_some());
    assert_eq!(
        run.output_json,
        std::fs::read_to_string(fixture("oracle_detailed.json")).unwrap()
    );
}

#[test]
fn options_map_to_jar_flags() {
    let stage = canned_output_stage();
    let (ids, cands, refs, _) = gts_res();
    let mut jar = stage.jar();
    jar.max_memory = "2G".into();
    jar.jvm_args = vec!["-Dfoo=bar".into()];
    jar.subset = false;
    jar.silent = false;
    jar.detailed = true;
    jar.threads = Some(3);
    jar.synonyms = false;
    jar.extra_args = vec!["-x".into()];
    jar.run(&ids, &cands, &refs).unwrap();
    let args: Vec<String> = std::fs::read_to_string(stage.path().join("args.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(&args[..3], ["-jar", "-Xmx2G", "-Dfoo=bar"]);
    assert_eq!(args[5], "-out");
    assert_eq!(
        &args[7..],
        ["-detailed", "-threads", "3", "-noSynsets", "-x"]
    );
}

#[test]
fn output_without_tuples_or_subsets_parses() {
    let text = r#"[
  {"image_id": 42, "scores": {"All": {"pr": 0.5, "re": 1, "f": 0.6666666666666666, "fn": 0, "numImages": 1, "fp": 1, "tp": 1}}}
]"#;
    let images = parse_output(text).unwrap();
    assert_eq!(images[0].image_id, "42");
    assert_eq!(images[0].stats.scores.len(), 1);
    assert!(images[0].test_tuples.is_none());
    assert_eq!(images[0].stats.spice(), 0.6666666666666666);
}

#[test]
fn missing_corenlp_is_recognised_from_the_real_jars_message() {
    let stage = Stage::new(&format!(
        "cat '{}' >&2\nexit 1",
        fixture("real_corenlp_missing_stderr.txt").display()
    ));
    let err = stage
        .jar()
        .run(&["1".into()], &["a dog".into()], &[vec!["a dog".into()]])
        .unwrap_err();
    match &err {
        SpiceError::CoreNlpMissing {
            lib_dir, missing, ..
        } => {
            assert_eq!(lib_dir, &stage.path().join("lib"));
            assert_eq!(missing.len(), 2);
            assert!(missing[0].ends_with("stanford-corenlp-3.6.0.jar"));
            assert!(missing[1].ends_with("stanford-corenlp-3.6.0-models.jar"));
        }
        other => panic!("expected CoreNlpMissing, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("get_stanford_models.py"), "{msg}");
    assert!(msg.contains("stanford-corenlp-3.6.0-models.jar"), "{msg}");
    assert!(msg.contains("SemgrexPattern"), "{msg}");
    // Into the crate's error type with the whole message.
    let m: MetricsError = err.into();
    assert!(m.to_string().contains("get_stanford_models.py"));
}

#[test]
fn missing_models_jar_alone_is_recognised() {
    // CoreNLP's code is there but not its models: CoreNLP fails opening the tagger model.
    let stage = Stage::new(
        "echo 'Error: Could not score batched file input:' >&2\n\
         echo 'edu.stanford.nlp.io.RuntimeIOException: Error while loading a tagger model (probably missing model file)' >&2\n\
         echo 'Caused by: java.io.IOException: Unable to open \"edu/stanford/nlp/models/pos-tagger/english-left3words/english-left3words-distsim.tagger\" as class path, filename or URL' >&2\n\
         exit 1",
    );
    std::fs::create_dir(stage.path().join("lib")).unwrap();
    std::fs::write(stage.path().join("lib/stanford-corenlp-3.6.0.jar"), b"").unwrap();
    let err = stage
        .jar()
        .run(&["1".into()], &["a".into()], &[vec!["b".into()]])
        .unwrap_err();
    match err {
        SpiceError::CoreNlpMissing { missing, .. } => {
            assert_eq!(missing.len(), 1);
            assert!(missing[0].ends_with("stanford-corenlp-3.6.0-models.jar"));
        }
        other => panic!("expected CoreNlpMissing, got {other:?}"),
    }
}

#[test]
fn java_without_nashorn_is_recognised() {
    let stage = Stage::new(&format!(
        "cat '{}' >&2\n: > \"$OUT\"\nexit 1",
        fixture("java17_no_nashorn_stderr.txt").display()
    ));
    let err = stage
        .jar()
        .run(&["1".into()], &["a".into()], &[vec!["b".into()]])
        .unwrap_err();
    assert!(
        matches!(err, SpiceError::NoJavaScriptEngine { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("Java 8 to 14"), "{err}");
}

#[test]
fn other_failures_carry_status_hint_and_stderr_tail() {
    let stage = Stage::new(
        "echo 'Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space' >&2\nexit 3",
    );
    let err = stage
        .jar()
        .run(&["1".into()], &["a".into()], &[vec!["b".into()]])
        .unwrap_err();
    match &err {
        SpiceError::Failed {
            status,
            hint,
            stderr_tail,
        } => {
            assert!(status.contains('3'), "{status}");
            assert!(hint.contains("-Xmx8G"), "{hint}");
            assert!(stderr_tail.contains("Java heap space"));
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[test]
fn a_missing_jar_is_named() {
    let stage = canned_output_stage();
    let mut jar = stage.jar();
    jar.jar = stage.path().join("nowhere/spice-1.0.jar");
    let err = jar
        .run(&["1".into()], &["a".into()], &[vec!["b".into()]])
        .unwrap_err();
    assert!(matches!(err, SpiceError::JarMissing(_)));
    assert!(err.to_string().contains("nowhere/spice-1.0.jar"), "{err}");
    // The stand-in never ran.
    assert!(!stage.path().join("args.txt").exists());
}

#[test]
fn a_missing_java_is_named() {
    let stage = canned_output_stage();
    let mut jar = stage.jar();
    jar.java = stage.path().join("no-java-here");
    let err = jar
        .run(&["1".into()], &["a".into()], &[vec!["b".into()]])
        .unwrap_err();
    assert!(matches!(err, SpiceError::JavaNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("no-java-here"), "{err}");
}

#[test]
fn incomplete_or_malformed_output_is_an_error_not_a_partial_result() {
    let (ids, cands, refs, _) = gts_res();
    // No output file.
    let err = Stage::new("exit 0")
        .jar()
        .run(&ids, &cands, &refs)
        .unwrap_err();
    assert!(err.to_string().contains("no output file"), "{err}");
    // Empty output file.
    let err = Stage::new(": > \"$OUT\"")
        .jar()
        .run(&ids, &cands, &refs)
        .unwrap_err();
    assert!(err.to_string().contains("empty output"), "{err}");
    // Not JSON.
    let err = Stage::new("echo '[{' > \"$OUT\"")
        .jar()
        .run(&ids, &cands, &refs)
        .unwrap_err();
    assert!(err.to_string().contains("invalid JSON"), "{err}");
    // One image short: the canned output has 14 images, ask for one more.
    let stage = canned_output_stage();
    let mut more = (ids.clone(), cands.clone(), refs.clone());
    more.0.push("zzz-extra".into());
    more.1.push("x".into());
    more.2.push(vec!["y".into()]);
    let err = stage.jar().run(&more.0, &more.1, &more.2).unwrap_err();
    assert!(matches!(err, SpiceError::MalformedOutput { .. }));
    assert!(
        err.to_string().contains("\"zzz-extra\" is missing"),
        "{err}"
    );
    // One image too many.
    let err = stage
        .jar()
        .run(&ids[1..], &cands[1..], &refs[1..])
        .unwrap_err();
    assert!(err.to_string().contains("unexpected image"), "{err}");
    // A score of the wrong type.
    let bad = r#"[{"image_id": "1", "scores": {"All": {"pr": "x", "re": 0, "f": 0, "fn": 0, "numImages": 1, "fp": 0, "tp": 0}}}]"#;
    assert!(
        parse_output(bad)
            .unwrap_err()
            .to_string()
            .contains("All.pr")
    );
    let no_all = r#"[{"image_id": "1", "scores": {}}]"#;
    assert!(
        parse_output(no_all)
            .unwrap_err()
            .to_string()
            .contains("All")
    );
}

/// Runs the real jar once (`COVIP_SPICE_JAR`, else the one `covip metrics setup-meteor`
/// installs from pycocoevalcap; skipped with a notice when it or Java is missing, a failure
/// under CI): without the CoreNLP jars beside it (pycocoevalcap does not ship them) the run
/// must fail with [`SpiceError::CoreNlpMissing`]; with them it must score.
#[test]
fn the_real_jar_fails_clearly_without_corenlp() {
    let Some(jar_path) = common::spice_jar() else {
        return;
    };
    if common::java().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut jar = SpiceJar::new(&jar_path);
    jar.max_memory = "1G".into();
    jar.temp_root = Some(tmp.path().to_path_buf());
    let result = jar.run(
        &["1".into(), "2".into()],
        &["a dog runs on the grass".into(), "a red car".into()],
        &[
            vec!["a brown dog running on green grass".into()],
            vec!["a red automobile parked on a street".into()],
        ],
    );
    let lib = jar_path.parent().unwrap().join("lib");
    let have_corenlp = lib.join("stanford-corenlp-3.6.0.jar").is_file()
        && lib.join("stanford-corenlp-3.6.0-models.jar").is_file();
    match result {
        Err(SpiceError::CoreNlpMissing { missing, .. }) if !have_corenlp => {
            assert!(!missing.is_empty());
        }
        Ok(run) if have_corenlp => {
            assert_eq!(run.corpus.per_image.len(), 2);
            assert!(run.corpus.spice.is_finite());
        }
        // With CoreNLP on a Java 15+ runtime the jar cannot write its output.
        Err(SpiceError::NoJavaScriptEngine { .. }) if have_corenlp => {}
        other => panic!("unexpected result (CoreNLP present: {have_corenlp}): {other:?}"),
    }
}
