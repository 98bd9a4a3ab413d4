//! METEOR 1.5 text-processing parity with the jar pycocoevalcap 1.2 runs: the Snowball English
//! stemmer and the `-norm` normaliser (plus lower-casing), checked string for string.
//! Fixtures: `scripts/meteor_text_fixture.py` (oracle source: `scripts/java/MeteorTextOracle.java`).
use covip_eval::metrics::meteor::normalize::Normalizer;
use covip_eval::metrics::meteor::stem::stem;
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/meteor_text/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fixture's rows, each a list of strings.
fn rows(name: &str) -> Vec<Vec<String>> {
    let fx: Value = serde_json::from_str(&fixture(name)).expect("fixture json");
    fx["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_str().expect("string").to_string())
                .collect()
        })
        .collect()
}

/// Panics listing the first mismatches, if any.
fn report(what: &str, checked: usize, mismatches: &[String]) {
    for m in mismatches.iter().take(40) {
        eprintln!("{m}");
    }
    assert!(
        mismatches.is_empty(),
        "{} of {checked} {what} differ from meteor-1.5.jar (first {} above)",
        mismatches.len(),
        mismatches.len().min(40)
    );
}

#[test]
fn stems_match_jar() {
    let rows = rows("stems.json");
    assert!(
        rows.len() >= 5000,
        "fixture too small: {} words",
        rows.len()
    );
    let mut bad = Vec::new();
    for row in &rows {
        let (word, expected) = (&row[0], &row[1]);
        let got = stem(word);
        if &got != expected {
            bad.push(format!("stem({word:?}): jar {expected:?}, ours {got:?}"));
        }
    }
    eprintln!("{} words checked", rows.len());
    report("stems", rows.len(), &bad);
}

#[test]
fn normalized_lines_match_jar() {
    let norm = Normalizer::from_prefixes(&fixture("english.prefixes"));
    let rows = rows("normalize.json");
    assert!(
        rows.len() >= 2000,
        "fixture too small: {} lines",
        rows.len()
    );
    let mut bad = Vec::new();
    for row in &rows {
        let line = &row[0];
        for (keep, expected) in [(true, &row[1]), (false, &row[2])] {
            let got = norm.normalize_line(line, keep);
            if &got != expected {
                bad.push(format!(
                    "normalize_line({line:?}, keep_punctuation={keep}):\n  jar:  {expected:?}\n  ours: {got:?}"
                ));
            }
        }
    }
    eprintln!("{} lines checked (x2 punctuation modes)", rows.len());
    report("normalised lines", rows.len() * 2, &bad);
}

#[test]
fn english_prefix_file_parses_like_java() {
    let norm = Normalizer::from_prefixes(&fixture("english.prefixes"));
    // 26 single letters plus the listed titles and abbreviations; no comments.
    assert!(norm.prefixes.contains("Mr") && norm.prefixes.contains("No"));
    assert!(norm.prefixes.contains("e.g") && norm.prefixes.contains("pp"));
    assert!(
        norm.prefixes
            .iter()
            .all(|p| !p.starts_with('#') && !p.contains(' '))
    );
    assert_eq!(norm.normalize_line("No. 5", true), "no. 5");
    assert_eq!(norm.normalize_line("No. five", true), "no. five");
    assert_eq!(norm.normalize_line("No.", true), "no .");
    assert_eq!(norm.normalize_line("Nos. 5", true), "nos. 5");
}
