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

/// The plain-text fast path must print exactly what the full rule set prints.
#[test]
fn fast_path_equals_full_rules() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
    let fx: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}ptb_jar.json")).unwrap())
            .unwrap();
    let mut lines: Vec<String> = fx["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let refs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}coco_refs.json")).unwrap())
            .unwrap();
    for v in refs.as_object().unwrap().values() {
        for r in v.as_array().unwrap() {
            lines.push(r.as_str().unwrap().replace('\n', " "));
        }
    }
    // Edge shapes around the fast path's boundaries.
    for s in [
        "cannot Cannot gonna WANNA gimme lemme gotta",
        "a. b . . . c. d.\u{a0}. e , f ,5 g .5 h",
        "Mr. Smith etc. And co. ltd. Inc. U.S. A",
        "a b  c   d\te\r\nf\rg\u{2028}h",
        "a.jpg b.c. x.y: end.",
        "  leading and trailing  ",
        ".",
        ",",
        "word.",
        "word,",
        "it's don't y'all o'clock",
        "Bancorp. Messrs. bancorps. abcdefgh. Abcdefghij. . . longerword.com picturefile.jpg",
        "horse, horse,5 horse,x horse,@x.com elephants.\nelephants. Elephants.",
        "eightlet. x\nsentence.",
        "no. 5 No. 5 art. 5 co. ltd Co. Ltd pte. ltd etc. Etc.\nThe mr. Mr. Dr. a. A. I. U.S. x.",
        "fig. 3 figs. 2 Jan. 5 Calif. Ariz. az. Az. Miss. miss. vs. wm. Wm. bros. inc. Inc.",
        "dog? dog! dog?! dog;) dog: dog;x ok:) what?! ;) :D ? ! ?? a:b http: me@x.com;",
        "short. words. here. in. a. row.\nend. Of. line.",
    ] {
        lines.push(s.to_string());
    }
    let text = lines.join("\n");
    let tok = PtbTokenizer::global();
    let fast = tok.tokenize_lines_with(&text, true);
    let slow = tok.tokenize_lines_with(&text, false);
    assert_eq!(fast.len(), slow.len(), "line count differs");
    for (i, (f, s)) in fast.iter().zip(&slow).enumerate() {
        assert_eq!(f, s, "line {i}: {:?}", lines.get(i));
    }
}
