//! Parity of the recognition reward r_vis with the released Python function, and of
//! `pyliteral::literal_eval` with CPython 3.11's `ast.literal_eval`, on the fixtures written by
//! `scripts/make_recognition_fixture.py`; plus seeded property tests of the reward.
use std::path::Path;

use covip_data::rng::SeededRng;
use covip_rl::recognition_reward;
use covip_rl::rewards::pyliteral::{LiteralError, PyValue, literal_eval};
use covip_rl::rewards::recognition::released_prediction;
use serde_json::Value;

fn fixture(name: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("fixture line is JSON"))
        .collect();
    let version = lines[0]["python"]
        .as_str()
        .expect("header line with the Python version");
    assert!(
        version.starts_with("3.11."),
        "fixture made with Python {version}, not 3.11"
    );
    lines
}

fn gold_of(answer: &Value) -> Vec<i64> {
    match answer {
        Value::Array(items) => items
            .iter()
            .map(|x| x.as_i64().expect("int gold"))
            .collect(),
        x => vec![x.as_i64().expect("int gold")],
    }
}

#[test]
fn reward_equals_released_function_on_every_case() {
    let lines = fixture("recognition_released.jsonl");
    let cases = &lines[1..];
    assert!(cases.len() > 2000, "only {} cases", cases.len());
    let mut mismatches = Vec::new();
    for case in cases {
        let completion = case["completion"].as_str().expect("completion");
        let gold = gold_of(&case["answer"]);
        let expected = case["reward"].as_f64().expect("reward");
        let got = recognition_reward(completion, &gold);
        if got != expected {
            mismatches.push(format!(
                "{completion:?} gold {gold:?}: released {expected}, ours {got}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ, e.g.:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
    // The fixture exercises more than the zero reward.
    let positive = cases
        .iter()
        .filter(|c| c["reward"].as_f64().unwrap() > 0.0)
        .count();
    assert!(positive > 500, "{positive}");
}

/// The canonical description `describe` of the fixture script.
fn describe(v: &PyValue) -> String {
    let join = |items: &mut dyn Iterator<Item = String>| items.collect::<Vec<_>>().join(";");
    match v {
        PyValue::Bool(b) => format!("b:{}", if *b { "True" } else { "False" }),
        PyValue::Int(i) => format!("i:{}", i.to_hex()),
        PyValue::Float(x) => format!("f:{:016x}", x.to_bits()),
        PyValue::Complex { re, im } => format!("c:{:016x},{:016x}", re.to_bits(), im.to_bits()),
        PyValue::Str(s) => {
            let cps: Vec<String> = s.code_points().iter().map(|c| format!("{c:x}")).collect();
            format!("s:{}", cps.join(" "))
        }
        PyValue::Bytes(b) => format!(
            "y:{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
        PyValue::None => "None".into(),
        PyValue::Ellipsis => "...".into(),
        PyValue::Tuple(items) => format!("({})", join(&mut items.iter().map(describe))),
        PyValue::List(items) => format!("[{}]", join(&mut items.iter().map(describe))),
        PyValue::Set(items) => {
            let mut d: Vec<String> = items.iter().map(describe).collect();
            d.sort();
            format!("{{{}}}", d.join(";"))
        }
        PyValue::Dict(pairs) => {
            let d = pairs
                .iter()
                .map(|(k, v)| format!("{}:{}", describe(k), describe(v)));
            format!("{{{}}}", join(&mut d.into_iter()))
        }
    }
}

#[test]
fn literal_eval_equals_python_on_every_source() {
    let lines = fixture("recognition_literals.jsonl");
    let records = &lines[1..];
    assert!(records.len() > 500, "only {} records", records.len());
    let mut mismatches = Vec::new();
    let mut named_escapes = 0;
    for rec in records {
        let source = rec["source"].as_str().expect("source");
        let ok = rec["ok"].as_bool().expect("ok");
        let got = literal_eval(source);
        // The one documented difference: `\N{NAME}` needs the Unicode name table.
        if matches!(got, Err(LiteralError::NamedEscape)) {
            named_escapes += 1;
            continue;
        }
        let (ours_ok, ours_value) = match &got {
            Ok(v) => (true, Some(describe(v))),
            Err(_) => (false, None),
        };
        let expected_value = rec["value"].as_str().map(str::to_string);
        let ours_distinct = if ours_ok {
            released_prediction(source).map(|s| s.len() as u64)
        } else {
            None
        };
        if ours_ok != ok
            || ours_value != expected_value
            || ours_distinct != rec["distinct"].as_u64()
        {
            mismatches.push(format!(
                "{source:?}: python ok={ok} {expected_value:?} distinct {}, \
                 ours {got:?} {ours_value:?} distinct {ours_distinct:?}",
                rec["distinct"]
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} sources differ, e.g.:\n{}",
        mismatches.len(),
        records.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
    assert!(
        named_escapes <= 3,
        "{named_escapes} sources hit the \\N{{}} gap"
    );
}

/// The workspace's seeded generator, with the one draw these tests add.
trait Pick {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T;
}

impl Pick for SeededRng {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn random_case(rng: &mut SeededRng) -> (Vec<i64>, Vec<i64>) {
    let gold: Vec<i64> = (0..1 + rng.below(4)).map(|_| rng.below(8) as i64).collect();
    let pred: Vec<i64> = (0..rng.below(6)).map(|_| rng.below(10) as i64).collect();
    (gold, pred)
}

fn boxed_list(items: &[String]) -> String {
    format!("Answer: \\boxed{{[{}]}}", items.join(", "))
}

/// An element equal to `n`, spelled one of the ways Python reads as `n`.
fn spell(rng: &mut SeededRng, n: i64) -> String {
    match rng.below(9) {
        0 => format!("{n:#x}"),
        1 => format!("0X{n:X}"),
        2 => format!("{n:#o}"),
        3 => format!("{n:#b}"),
        4 => format!("{n}.0"),
        5 => format!("{n}e0"),
        6 => format!("{}e-1", n * 10),
        7 => format!("({n}+0j)"),
        _ if n == 1 => "True".into(),
        _ if n == 0 => "False".into(),
        _ => format!("+{n}"),
    }
}

#[test]
fn permuting_or_duplicating_elements_keeps_the_reward() {
    let mut rng = SeededRng::new(0x5eed_1234_abcd_0001);
    for _ in 0..3000 {
        let (gold, pred) = random_case(&mut rng);
        let items: Vec<String> = pred.iter().map(|n| n.to_string()).collect();
        let base = recognition_reward(&boxed_list(&items), &gold);
        let mut shuffled = items.clone();
        rng.shuffle(&mut shuffled);
        assert_eq!(
            recognition_reward(&boxed_list(&shuffled), &gold),
            base,
            "{items:?} {gold:?}"
        );
        if !items.is_empty() {
            let mut dup = items.clone();
            for _ in 0..1 + rng.below(3) {
                let x = rng.pick(&items).clone();
                dup.insert(rng.below(dup.len() + 1), x);
            }
            assert_eq!(
                recognition_reward(&boxed_list(&dup), &gold),
                base,
                "{dup:?} {gold:?}"
            );
        }
        let mut gold_shuffled = gold.clone();
        rng.shuffle(&mut gold_shuffled);
        gold_shuffled.push(*rng.pick(&gold));
        assert_eq!(
            recognition_reward(&boxed_list(&items), &gold_shuffled),
            base
        );
    }
}

#[test]
fn other_spellings_of_an_int_keep_the_reward() {
    let mut rng = SeededRng::new(0x5eed_1234_abcd_0002);
    for _ in 0..3000 {
        let (gold, pred) = random_case(&mut rng);
        let items: Vec<String> = pred.iter().map(|n| n.to_string()).collect();
        let base = recognition_reward(&boxed_list(&items), &gold);
        let respelled: Vec<String> = pred.iter().map(|&n| spell(&mut rng, n)).collect();
        assert_eq!(
            recognition_reward(&boxed_list(&respelled), &gold),
            base,
            "{respelled:?} {gold:?}"
        );
        // As a tuple, with a trailing comment and white space, too.
        let tuple = format!("\\boxed{{ ({},)  # final\n}}", respelled.join(",\n"));
        if !respelled.is_empty() {
            assert_eq!(
                recognition_reward(&tuple, &gold),
                base,
                "{tuple:?} {gold:?}"
            );
        }
    }
}

#[test]
fn reward_is_within_unit_interval() {
    let mut rng = SeededRng::new(0x5eed_1234_abcd_0003);
    let junk = [
        "'1'", "None", "1.5", "(1, 2)", "b'1'", "...", "1j", "2**3", "[1]", "-1",
    ];
    for _ in 0..3000 {
        let (gold, pred) = random_case(&mut rng);
        let mut items: Vec<String> = pred.iter().map(|&n| spell(&mut rng, n)).collect();
        if rng.below(3) == 0 {
            items.push(rng.pick(&junk).to_string());
        }
        let r = recognition_reward(&boxed_list(&items), &gold);
        assert!((0.0..=1.0).contains(&r), "{r} for {items:?} {gold:?}");
    }
}

#[test]
fn any_box_content_never_panics() {
    let mut rng = SeededRng::new(0x5eed_1234_abcd_0004);
    let pieces = [
        "[",
        "]",
        "(",
        ")",
        "{",
        "}",
        ",",
        ":",
        "+",
        "-",
        "_",
        ".",
        "...",
        "0",
        "1",
        "9",
        "0x",
        "0o",
        "0b",
        "e",
        "E",
        "j",
        "'",
        "\"",
        "'''",
        "\\",
        "\\\n",
        "#",
        " ",
        "\n",
        "\r",
        "\t",
        "\x0c",
        "\x0b",
        "\0",
        "True",
        "None",
        "set",
        "set()",
        "ｓｅｔ",
        "é",
        "\u{a0}",
        "\u{2028}",
        "\u{feff}",
        "🙂",
        "\\x",
        "\\u",
        "\\N{",
        "\\777",
        "b",
        "r",
        "f",
        "u",
        "rb",
        "1e999",
        "1_0",
        "99999999999999999999",
        "-0.0",
        "1+1j",
        "*",
        "**",
        "=",
        "lambda",
        "if",
    ];
    for _ in 0..20000 {
        let content: String = (0..rng.below(24)).map(|_| *rng.pick(&pieces)).collect();
        let r = recognition_reward(&format!("\\boxed{{{content}}}"), &[0, 1]);
        assert!((0.0..=1.0).contains(&r), "{content:?}");
        let _ = literal_eval(&content);
    }
    // Pathological sizes: long sign runs, deep brackets, long digit strings, many strings.
    for content in [
        "-".repeat(100_000) + "1",
        "[".repeat(100_000),
        "(".repeat(199) + &")".repeat(199),
        "1".repeat(100_000),
        "0x".to_string() + &"f".repeat(200_000),
        "1".repeat(50_000) + ".5e-99999999999999999999",
        "'a' ".repeat(20_000),
        "1+".repeat(50_000) + "0j",
    ] {
        let r = recognition_reward(&format!("\\boxed{{{content}}}"), &[1]);
        assert!((0.0..=1.0).contains(&r));
    }
}
