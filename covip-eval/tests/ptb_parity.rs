//! PTB tokenisation parity with the Stanford CoreNLP 3.4.1 jar that pycocoevalcap bundles.
//! Fixture: `scripts/metrics_ptb_fixture.py` (raw lines and the jar's `-preserveLines -lowerCase`
//! output for the joined file).
use covip_eval::metrics::ptb::PtbTokenizer;

#[test]
fn ptb_matches_stanford_jar_on_fixture_corpus() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ptb_jar.json");
    let fx: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let input: Vec<&str> = fx["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let expected: Vec<&str> = fx["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        input.len() >= 2000,
        "fixture corpus too small: {}",
        input.len()
    );
    let got = PtbTokenizer::global().tokenize_lines(&input.join("\n"));
    assert_eq!(got.len(), expected.len(), "line count differs");
    let mut bad = 0;
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        if g != e {
            bad += 1;
            if bad <= 40 {
                eprintln!("line {i}: {:?}\n  jar:  {e:?}\n  ours: {g:?}", input.get(i));
            }
        }
    }
    assert_eq!(
        bad,
        0,
        "{bad} of {} lines differ from the jar",
        expected.len()
    );
}
