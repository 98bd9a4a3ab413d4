//! The `tokenizers` crate's regex backend splits and encodes as Python `tokenizers` (Oniguruma)
//! does, on the Qwen2/Qwen3 pre-tokenizer regex: the workspace builds tokenizers with its
//! pure-Rust `fancy-regex` backend instead of the C Oniguruma library, and this is the check
//! that the switch changes no token.
//!
//! The fixture (scripts/make_tokenizer_regex_fixture.py) holds a varied corpus (contractions in
//! every case, numbers of many scripts, every kind of white space run, letters of recent
//! Unicode versions, emoji sequences, controls, code) and 2,000 seeded random strings mixing
//! them, with the pieces and ids Python `tokenizers` gives for the parity fixture's tokenizer.
use std::path::PathBuf;

use serde::Deserialize;
use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, Tokenizer};

#[derive(Deserialize)]
struct Fixture {
    tokenizers_version: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    /// The split regex's pieces, byte-level mapped (the whole pre-tokenizer, no normaliser).
    pieces: Vec<String>,
    /// `encode(text, add_special_tokens=False)`.
    ids: Vec<u32>,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn qwen_split_regex_matches_python_tokenizers() {
    let text = std::fs::read_to_string(fixtures().join("tokenizer_regex.json")).unwrap();
    let fixture: Fixture = serde_json::from_str(&text).unwrap();
    assert!(fixture.cases.len() > 2000, "{}", fixture.cases.len());
    let tok = Tokenizer::from_file(fixtures().join("tiny-qwen3-vl/tokenizer.json")).unwrap();
    let pre = tok
        .get_pre_tokenizer()
        .expect("the fixture has a pre-tokenizer");
    let mut piece_mismatches = Vec::new();
    let mut id_mismatches = Vec::new();
    for (i, case) in fixture.cases.iter().enumerate() {
        let mut split = PreTokenizedString::from(case.text.as_str());
        pre.pre_tokenize(&mut split).unwrap();
        let pieces: Vec<&str> = split
            .get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .map(|(piece, _, _)| piece)
            .collect();
        if pieces != case.pieces {
            piece_mismatches.push(format!(
                "case {i} {:?}: ours {pieces:?}, Python's {:?}",
                case.text, case.pieces
            ));
        }
        let ids = tok.encode(case.text.as_str(), false).unwrap();
        if ids.get_ids() != case.ids.as_slice() {
            id_mismatches.push(format!("case {i} {:?}", case.text));
        }
    }
    assert!(
        piece_mismatches.is_empty() && id_mismatches.is_empty(),
        "against Python tokenizers {}: {} split and {} id mismatches of {} cases:\n{}\n{}",
        fixture.tokenizers_version,
        piece_mismatches.len(),
        id_mismatches.len(),
        fixture.cases.len(),
        piece_mismatches.join("\n"),
        id_mismatches.join("\n")
    );
}
