//! Sheet and tally tests on the bundled sample test set.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

fn sample_test_set() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/test")
}

/// Captions for every sample; each names its file with a marker so a test can tell which
/// file a side shows by reading the page.
fn captions(samples: &[covip_data::Sample], marker: &str) -> BTreeMap<String, String> {
    samples
        .iter()
        .map(|s| (s.id.clone(), format!("{marker} caption of {}", s.id)))
        .collect()
}

const SECRET_A: &str = "/data/runs/secret-personalised-model.json";
const SECRET_B: &str = "/data/runs/secret-baseline-model.json";

fn sheet_with(seed: u64, max_pairs: Option<usize>) -> (Vec<covip_data::Sample>, Sheet) {
    let samples = load_test_samples(&sample_test_set()).unwrap();
    let a = captions(&samples, "AFILEMARK");
    let b = captions(&samples, "BFILEMARK");
    let options = SheetOptions {
        seed,
        max_pairs,
        allow_missing: false,
    };
    let sheet = build_sheet(
        &samples,
        (SECRET_A, &a),
        (SECRET_B, &b),
        "data/sample/test",
        &options,
    )
    .unwrap();
    (samples, sheet)
}

/// `(pair id, text of caption A, text of caption B)` for every section of the page, in order.
fn shown_pairs(html: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for section in html.split("<section class=\"pair\"").skip(1) {
        let id = section
            .split("data-pair=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_string();
        let side = |s: &str| {
            let marker =
                format!("data-side=\"{s}\"><h4>Caption {s}</h4><p class=\"caption-text\">");
            section
                .split(&marker)
                .nth(1)
                .and_then(|t| t.split("</p>").next())
                .unwrap()
                .to_string()
        };
        out.push((id, side("A"), side("B")));
    }
    out
}

fn export(sheet_id: &str, rows: Vec<ChoiceRow>) -> ChoicesExport {
    ChoicesExport {
        sheet_id: sheet_id.to_string(),
        rater: "tester".into(),
        choices: rows,
    }
}

#[test]
fn blinding_round_trips_through_the_page_and_the_key() {
    let (samples, sheet) = sheet_with(7, None);
    let key = &sheet.key;
    assert_eq!(key.pairs.len(), samples.len());
    assert_eq!(key.format, KEY_FORMAT);
    assert_eq!(key.seed, 7);
    let shown = shown_pairs(&sheet.html);
    assert_eq!(shown.len(), key.pairs.len());
    let mut a_side_holds_a_file = 0;
    for ((id, cap_a, cap_b), kp) in shown.iter().zip(&key.pairs) {
        assert_eq!(id, &kp.pair);
        assert_ne!(kp.side_a, kp.side_b);
        // The page shows on each side exactly the file the key says, for this pair's sample.
        let expect = |src: Source| match src {
            Source::AFile => format!("AFILEMARK caption of {}", kp.sample),
            Source::BFile => format!("BFILEMARK caption of {}", kp.sample),
        };
        assert_eq!(cap_a, &expect(kp.side_a), "pair {id}");
        assert_eq!(cap_b, &expect(kp.side_b), "pair {id}");
        if kp.side_a == Source::AFile {
            a_side_holds_a_file += 1;
        }
    }
    // Randomised: both assignments occur, and the order is not the test set's.
    assert!(
        a_side_holds_a_file > 0 && a_side_holds_a_file < key.pairs.len(),
        "sides not randomised: {a_side_holds_a_file} of {}",
        key.pairs.len()
    );
    let order: Vec<&str> = key.pairs.iter().map(|p| p.sample.as_str()).collect();
    let original: Vec<&str> = samples.iter().map(|s| s.id.as_str()).collect();
    assert_ne!(order, original, "pair order not shuffled");
    let mut sorted = order.clone();
    sorted.sort();
    let mut orig_sorted = original.clone();
    orig_sorted.sort();
    assert_eq!(sorted, orig_sorted, "every sample appears once");

    // A rater who always prefers the caption that reads "AFILEMARK" on context, and always
    // answers "B" on description: the tally must un-blind to exactly that.
    let rows: Vec<ChoiceRow> = shown
        .iter()
        .map(|(id, cap_a, _)| ChoiceRow {
            pair: id.clone(),
            context: Some(if cap_a.starts_with("AFILEMARK") {
                Answer::A
            } else {
                Answer::B
            }),
            description: Some(Answer::B),
        })
        .collect();
    let n = rows.len() as u64;
    let t = tally(
        key,
        &[("choices.json".into(), export(&key.sheet_id, rows))],
        TallyOptions::default(),
    )
    .unwrap();
    let ctx = &t.criteria["context"];
    assert_eq!((ctx.a_file_wins, ctx.b_file_wins, ctx.ties), (n, 0, 0));
    assert_eq!(ctx.a_file_share, Some(1.0));
    let desc = &t.criteria["description"];
    let b_side_a_file = key
        .pairs
        .iter()
        .filter(|p| p.side_b == Source::AFile)
        .count() as u64;
    assert_eq!(desc.a_file_wins, b_side_a_file);
    assert_eq!(desc.b_file_wins, n - b_side_a_file);
    assert_eq!(t.a_file, SECRET_A);
    let table = render_table(&t);
    let row = format!("| context groundedness | {n} | 0 | 0 | 0 | 1.000 |");
    assert!(table.contains(&row), "{table}");
    assert!(table.contains("Wilson"), "{table}");
}

#[test]
fn the_page_is_self_contained_and_does_not_name_the_files() {
    let (samples, sheet) = sheet_with(3, None);
    let html = &sheet.html;
    assert!(
        !html.contains("secret-personalised"),
        "the page names a caption file"
    );
    assert!(
        !html.contains("secret-baseline"),
        "the page names a caption file"
    );
    assert!(!html.contains("://"), "an absolute URL in the page");
    // Every image is embedded: one context image per dialogue plus the query, per pair.
    let images: usize = samples.iter().map(|s| s.context.len() + 1).sum();
    assert_eq!(
        html.matches("<img src=\"data:image/png;base64,").count(),
        images
    );
    assert_eq!(html.matches("<img ").count(), images);
    // Dialogue text and both questions are on the page, with A, B and Tie for each.
    let dialogue = &samples[0].context[0].dialogue;
    let first_line = escape_html(dialogue.lines().next().unwrap());
    assert!(html.contains(&first_line));
    for c in Criterion::ALL {
        assert_eq!(
            html.matches(&format!("data-criterion=\"{}\" value=", c.key()))
                .count(),
            3 * samples.len()
        );
    }
    assert!(html.contains(&format!("\"sheet_id\":\"{}\"", sheet.key.sheet_id)));
    assert!(html.contains("<textarea id=\"export\""));
    assert!(html.contains("new Blob("));
}

#[test]
fn same_seed_same_sheet_other_seed_other_sheet() {
    let (_, one) = sheet_with(11, None);
    let (_, two) = sheet_with(11, None);
    let (_, three) = sheet_with(12, None);
    assert_eq!(one.html, two.html);
    assert_eq!(one.key, two.key);
    assert_ne!(one.key.sheet_id, three.key.sheet_id);
    assert_ne!(one.key.pairs, three.key.pairs);
    assert_eq!(one.key.sheet_id.len(), 16);
    let (_, few) = sheet_with(11, Some(3));
    assert_eq!(few.key.pairs.len(), 3);
    assert_eq!(few.key.pairs[0].pair, "p001");
}

#[test]
fn hostile_captions_and_ids_are_escaped() {
    let samples = load_test_samples(&sample_test_set()).unwrap();
    let hostile = "</p></section><script>alert(1)</script><img src=x onerror=alert(2)> & \"q\" 'x'";
    let a: BTreeMap<String, String> = samples
        .iter()
        .map(|s| (s.id.clone(), hostile.to_string()))
        .collect();
    let b = captions(&samples, "plain");
    let sheet = build_sheet(
        &samples,
        ("a.json", &a),
        ("b.json", &b),
        "t",
        &SheetOptions::default(),
    )
    .unwrap();
    assert!(!sheet.html.contains("<script>alert"));
    assert!(!sheet.html.contains("<img src=x"));
    assert_eq!(sheet.html.matches("<script").count(), 2);
    assert!(sheet.html.contains(
        "&lt;/p&gt;&lt;/section&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x \
         onerror=alert(2)&gt; &amp; &quot;q&quot; &#39;x&#39;"
    ));
    assert_eq!(
        sheet.html.matches("<section class=\"pair\"").count(),
        samples.len()
    );
}

#[test]
fn coverage_errors_name_the_file_and_the_samples() {
    let samples = load_test_samples(&sample_test_set()).unwrap();
    let full = captions(&samples, "x");
    let mut short = full.clone();
    short.remove(&samples[2].id);
    let err = build_sheet(
        &samples,
        ("a.json", &full),
        ("short.json", &short),
        "TESTSET",
        &SheetOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("short.json: no caption for 1 sample(s) of TESTSET"),
        "{err}"
    );
    assert!(err.contains(&format!("{:?}", samples[2].id)), "{err}");

    let mut extra = full.clone();
    extra.insert("sample_999".into(), "?".into());
    let err = build_sheet(
        &samples,
        ("extra.json", &extra),
        ("a.json", &full),
        "TESTSET",
        &SheetOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("extra.json: captions for 1 sample(s) that TESTSET does not hold"));
    assert!(err.contains("\"sample_999\""), "{err}");

    // Allowed: only the samples both caption are paired.
    let options = SheetOptions {
        allow_missing: true,
        ..SheetOptions::default()
    };
    let sheet = build_sheet(&samples, ("a", &extra), ("s", &short), "T", &options).unwrap();
    assert_eq!(sheet.key.pairs.len(), samples.len() - 1);
    assert!(sheet.key.pairs.iter().all(|p| p.sample != samples[2].id));

    let none = BTreeMap::from([("sample_999".to_string(), "?".to_string())]);
    let err = build_sheet(&samples, ("a", &none), ("s", &none), "T", &options)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no sample of T is captioned by both files"),
        "{err}"
    );
    let zero = SheetOptions {
        max_pairs: Some(0),
        ..SheetOptions::default()
    };
    assert!(build_sheet(&samples, ("a", &full), ("b", &full), "T", &zero).is_err());
}

#[test]
fn an_image_that_is_not_an_image_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut samples = load_test_samples(&sample_test_set()).unwrap();
    samples.truncate(1);
    let fake = dir.path().join("fake.png");
    std::fs::write(&fake, "<svg onload=alert(1)>").unwrap();
    samples[0].query = covip_data::ImageRef::path(&fake);
    let c = captions(&samples, "x");
    let err = build_sheet(
        &samples,
        ("a", &c),
        ("b", &c),
        "T",
        &SheetOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("fake.png") && err.contains("not a PNG, JPEG"),
        "{err}"
    );
    samples[0].query = covip_data::ImageRef::path(dir.path().join("absent.png"));
    let err = build_sheet(
        &samples,
        ("a", &c),
        ("b", &c),
        "T",
        &SheetOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("absent.png"), "{err}");
}

#[test]
fn key_sits_beside_the_page_and_is_not_overwritten() {
    assert_eq!(
        key_path_for(Path::new("out/sheet.html")),
        Path::new("out/sheet.key.json")
    );
    assert_eq!(key_path_for(Path::new("s.HTM")), Path::new("s.key.json"));
    assert_eq!(key_path_for(Path::new("page")), Path::new("page.key.json"));
    let dir = tempfile::tempdir().unwrap();
    let (_, sheet) = sheet_with(5, Some(2));
    let out = dir.path().join("sheet.html");
    let key_path = write_sheet(&sheet, &out, false).unwrap();
    assert_eq!(key_path, dir.path().join("sheet.key.json"));
    assert_eq!(read_key(&key_path).unwrap(), sheet.key);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), sheet.html);
    let err = write_sheet(&sheet, &out, false).unwrap_err().to_string();
    assert!(err.contains("sheet.key.json: already exists"), "{err}");
    write_sheet(&sheet, &out, true).unwrap();
}

#[test]
fn wilson_interval_matches_published_values() {
    // Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I,
    // method 3 (score interval without continuity correction).
    for (x, n, lo, hi) in [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ] {
        let (l, h) = wilson_interval(x, n, WILSON_Z95).unwrap();
        assert!(
            (l - lo).abs() < 5e-5 && (h - hi).abs() < 5e-5,
            "{x}/{n}: [{l}, {h}]"
        );
    }
    // Symmetric at one half; all successes reach 1.
    let (l, h) = wilson_interval(5, 10, WILSON_Z95).unwrap();
    assert!(
        (l + h - 1.0).abs() < 1e-12 && (l - 0.236_593).abs() < 1e-5,
        "{l}"
    );
    assert_eq!(wilson_interval(10, 10, WILSON_Z95).unwrap().1, 1.0);
    assert_eq!(wilson_interval(0, 0, WILSON_Z95), None);
    assert_eq!(wilson_interval(3, 2, WILSON_Z95), None);
}

#[test]
fn tally_counts_ties_and_pools_raters() {
    let (_, sheet) = sheet_with(9, Some(4));
    let key = &sheet.key;
    let row = |i: usize, c: Answer, d: Answer| ChoiceRow {
        pair: key.pairs[i].pair.clone(),
        context: Some(c),
        description: Some(d),
    };
    let one = export(
        &key.sheet_id,
        vec![
            row(0, Answer::Tie, Answer::Tie),
            row(1, Answer::A, Answer::Tie),
            row(2, Answer::A, Answer::B),
            row(3, Answer::B, Answer::A),
        ],
    );
    let two = export(
        &key.sheet_id,
        (0..4).map(|i| row(i, Answer::Tie, Answer::Tie)).collect(),
    );
    let t = tally(
        key,
        &[("one.json".into(), one), ("two.json".into(), two)],
        TallyOptions::default(),
    )
    .unwrap();
    let ctx = &t.criteria["context"];
    assert_eq!(ctx.ties, 5);
    assert_eq!(ctx.a_file_wins + ctx.b_file_wins, 3);
    let desc = &t.criteria["description"];
    assert_eq!((desc.ties, desc.a_file_wins + desc.b_file_wins), (6, 2));
    // Which file won follows the key.
    let src = |i: usize, a: Answer| {
        if a == Answer::A {
            key.pairs[i].side_a
        } else {
            key.pairs[i].side_b
        }
    };
    let ctx_a = [src(1, Answer::A), src(2, Answer::A), src(3, Answer::B)]
        .iter()
        .filter(|s| **s == Source::AFile)
        .count() as u64;
    assert_eq!(ctx.a_file_wins, ctx_a);
    let (l, h) = wilson_interval(ctx_a, 3, WILSON_Z95).unwrap();
    assert_eq!((ctx.ci_low, ctx.ci_high), (Some(l), Some(h)));
    assert_eq!(t.exports.len(), 2);
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["interval"]["method"], "Wilson score interval");
    assert_eq!(json["criteria"]["context"]["ties"], 5);
}

#[test]
fn tally_refuses_other_sheets_unknown_pairs_and_gaps() {
    let (_, sheet) = sheet_with(9, Some(3));
    let key = &sheet.key;
    let full = |id: &str| {
        export(
            id,
            key.pairs
                .iter()
                .map(|p| ChoiceRow {
                    pair: p.pair.clone(),
                    context: Some(Answer::A),
                    description: Some(Answer::B),
                })
                .collect(),
        )
    };
    let run = |e: ChoicesExport, allow: bool| {
        tally(
            key,
            &[("c.json".into(), e)],
            TallyOptions {
                allow_incomplete: allow,
            },
        )
    };
    let err = run(full("ffffffffffffffff"), false)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("c.json: choices for sheet \"ffffffffffffffff\""),
        "{err}"
    );
    assert!(err.contains("a different sheet"), "{err}");

    let mut e = full(&key.sheet_id);
    e.choices.push(ChoiceRow {
        pair: "p999".into(),
        context: None,
        description: None,
    });
    let err = run(e, false).unwrap_err().to_string();
    assert!(err.contains("pair \"p999\" is not in the key"), "{err}");

    let mut e = full(&key.sheet_id);
    e.choices[1].description = None;
    e.choices.remove(2);
    let err = run(e.clone(), false).unwrap_err().to_string();
    assert!(err.contains("3 answer(s) missing"), "{err}");
    assert!(
        err.contains(&format!("{} description", key.pairs[1].pair)),
        "{err}"
    );
    let t = run(e, true).unwrap();
    assert_eq!(t.criteria["context"].unanswered, 1);
    assert_eq!(t.criteria["description"].unanswered, 2);

    assert!(tally(key, &[], TallyOptions::default()).is_err());
}

#[test]
fn malformed_exports_and_keys_are_errors_with_messages() {
    let dir = tempfile::tempdir().unwrap();
    let (_, sheet) = sheet_with(2, Some(2));
    let key_path = dir.path().join("k.key.json");
    covip_data::io::write_json_atomic(&key_path, &sheet.key).unwrap();
    let id = &sheet.key.sheet_id;
    let p = &sheet.key.pairs[0].pair;
    let good = format!(
        r#"{{"format":"{CHOICES_FORMAT}","sheet_id":"{id}","rater":"r","choices":[{{"pair":"{p}","context":"A","description":null}}]}}"#
    );
    let f = dir.path().join("c.json");
    std::fs::write(&f, &good).unwrap();
    let e = read_choices(&f).unwrap();
    assert_eq!(e.choices[0].context, Some(Answer::A));
    assert_eq!(e.choices[0].description, None);

    for (text, needle) in [
        ("", "not valid JSON"),
        ("[]", "expected a JSON object"),
        ("{}", "no \"format\" field"),
        (
            r#"{"format":"other/1"}"#,
            "is not \"covip-pairwise-choices/1\"",
        ),
        (
            &format!(r#"{{"format":"{KEY_FORMAT}"}}"#),
            "this is a sheet key",
        ),
        (
            &format!(r#"{{"format":"{CHOICES_FORMAT}","choices":[]}}"#),
            "\"sheet_id\" missing",
        ),
        (
            &format!(r#"{{"format":"{CHOICES_FORMAT}","sheet_id":"x"}}"#),
            "\"choices\" missing",
        ),
        (
            &format!(r#"{{"format":"{CHOICES_FORMAT}","sheet_id":"x","choices":[1]}}"#),
            "choices[0]: not an object",
        ),
        (
            &format!(
                r#"{{"format":"{CHOICES_FORMAT}","sheet_id":"x","choices":[{{"context":"A"}}]}}"#
            ),
            "choices[0]: \"pair\" missing",
        ),
        (
            &format!(
                r#"{{"format":"{CHOICES_FORMAT}","sheet_id":"x","choices":[{{"pair":"p1","context":"C"}}]}}"#
            ),
            "choices[0] (pair \"p1\"): context: \"C\" is not \"A\", \"B\", \"Tie\" or null",
        ),
        (
            &format!(
                r#"{{"format":"{CHOICES_FORMAT}","sheet_id":"x","choices":[{{"pair":"p1","description":5}}]}}"#
            ),
            "description: 5 is not",
        ),
        (
            &format!(
                r#"{{"format":"{CHOICES_FORMAT}","sheet_id":"x","choices":[{{"pair":"p1"}},{{"pair":"p1"}}]}}"#
            ),
            "choices[1]: pair \"p1\" appears twice",
        ),
    ] {
        std::fs::write(&f, text).unwrap();
        let err = read_choices(&f).unwrap_err().to_string();
        assert!(err.contains(needle), "{text}: {err}");
        assert!(err.contains("c.json"), "{err}");
    }

    // Keys.
    assert_eq!(read_key(&key_path).unwrap(), sheet.key);
    std::fs::write(&f, &good).unwrap();
    let err = read_key(&f).unwrap_err().to_string();
    assert!(err.contains("this is a choices export"), "{err}");
    let mut k = serde_json::to_value(&sheet.key).unwrap();
    k["pairs"][1]["B"] = k["pairs"][1]["A"].clone();
    std::fs::write(&f, k.to_string()).unwrap();
    let err = read_key(&f).unwrap_err().to_string();
    assert!(err.contains("both sides show the same file"), "{err}");
    let mut k = serde_json::to_value(&sheet.key).unwrap();
    k["pairs"][1]["pair"] = k["pairs"][0]["pair"].clone();
    std::fs::write(&f, k.to_string()).unwrap();
    assert!(
        read_key(&f)
            .unwrap_err()
            .to_string()
            .contains("appears twice")
    );
    let mut k = serde_json::to_value(&sheet.key).unwrap();
    k["pairs"][0]["A"] = "c_file".into();
    std::fs::write(&f, k.to_string()).unwrap();
    assert!(
        read_key(&f)
            .unwrap_err()
            .to_string()
            .contains("malformed key")
    );
    let err = read_key(&dir.path().join("none.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("none.json"), "{err}");
}
