//! The example program end to end: records in, reward lines out, a bad line reported.
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn rewards_each_record_and_reports_bad_lines() {
    let input = concat!(
        r#"{"id": "mv", "task": "multi_vision", "completion": "Answer: \\boxed{[0, 1]}", "answer": [1, 2]}"#,
        "\n",
        r#"{"id": 2, "task": "vision", "completion": "No, it is not.", "answer": "no"}"#,
        "\n\n",
        r#"{"id": 3, "task": "dance", "completion": "x"}"#,
        "\n",
        r#"{"id": "c", "task": "caption", "completion": "Ann waves.", "pos_qas": [[{"id": "p", "question": "Who?", "options": {"A": "Ann", "B": "Bo", "C": "Cy", "D": "cannot tell"}, "correct_answer": "A"}]], "neg_qas": [{"id": "n", "question": "Who?", "options": {"A": "Ann", "B": "Bo", "C": "Cy", "D": "cannot tell"}, "correct_answer": "B"}], "judge_pos": ["\\boxed{A}"], "judge_neg": ["\\boxed{B}"]}"#,
        "\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_rewards-jsonl"))
        .args(["--alpha", "0.5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"id":"mv","reward":0.5,"degenerate":null,"sigma_pos":null,"sigma_neg":null}"#,
            r#"{"id":2,"reward":1.0,"degenerate":null,"sigma_pos":null,"sigma_neg":null}"#,
            // σ+ = 1 of 1 QA (1/3), σ− = 1 of 1 with α = 0.5.
            r#"{"id":"c","reward":-0.16666666666666669,"degenerate":false,"sigma_pos":1,"sigma_neg":1}"#,
        ]
    );
    assert!(
        stderr.contains("line 4: unknown task \"dance\""),
        "{stderr}"
    );
}
