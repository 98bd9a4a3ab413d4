//! JSON and JSONL plumbing shared by the released formats: one problem per bad record, with
//! the field path, and atomic writers.
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DataError, Loaded, Problem, RecordLoc};
use crate::io::write_atomic;

/// Reads a file as UTF-8 text.
pub fn read_text(path: &Path) -> Result<String, DataError> {
    std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))
}

/// Deserialises one record, turning a failure into a `Problem` that names the field.
pub fn parse_record<T: DeserializeOwned>(
    path: &Path,
    loc: RecordLoc,
    value: serde_json::Value,
) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        Problem::new(path, loc, field, e.into_inner().to_string())
    })
}

/// Parses JSONL text: every non-blank line is one record ([`crate::jsonl::Lines`]). Lines
/// that are not JSON, or not the record shape, become problems; the others are kept. A torn
/// last line is a problem like any other (a dataset is written whole).
pub fn parse_jsonl<T: DeserializeOwned>(path: &Path, text: &str) -> Loaded<T> {
    let mut out = Loaded::default();
    let mut lines = crate::jsonl::Lines::new(text.as_bytes());
    // Reading from memory cannot fail.
    while let Ok(Some(line)) = lines.next_line() {
        let loc = RecordLoc::Line(line.number);
        let value: serde_json::Value = match serde_json::from_slice(line.bytes) {
            Ok(v) => v,
            Err(e) => {
                out.problems
                    .push(Problem::new(path, loc, "", format!("not JSON: {e}")));
                continue;
            }
        };
        match parse_record(path, loc.clone(), value) {
            Ok(r) => out.records.push((loc, r)),
            Err(p) => out.problems.push(p),
        }
    }
    out
}

/// Parses a whole file as one JSON value; syntax errors are a file-level problem.
pub fn parse_json_value(path: &Path, text: &str) -> Result<serde_json::Value, DataError> {
    serde_json::from_str(text).map_err(|e| {
        DataError::Invalid(Problem::new(
            path,
            RecordLoc::File,
            "",
            format!("not JSON: {e}"),
        ))
    })
}

/// The file-level error for a JSON file of the wrong shape.
pub fn wrong_shape(path: &Path, expected: &str) -> DataError {
    DataError::Invalid(Problem::new(
        path,
        RecordLoc::File,
        "",
        format!("expected {expected}"),
    ))
}

/// Parses a JSON array of records. A file that is not a JSON array is an error; a bad element
/// is a problem at its index.
pub fn parse_json_array<T: DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<Loaded<T>, DataError> {
    let serde_json::Value::Array(items) = parse_json_value(path, text)? else {
        return Err(wrong_shape(path, "a JSON array of records"));
    };
    let mut out = Loaded::default();
    for (i, item) in items.into_iter().enumerate() {
        let loc = RecordLoc::Index(i);
        match parse_record(path, loc.clone(), item) {
            Ok(r) => out.records.push((loc, r)),
            Err(p) => out.problems.push(p),
        }
    }
    Ok(out)
}

/// Parses records from a `.json` (array) or `.jsonl` file, chosen by the file's first
/// non-blank character.
pub fn parse_json_or_jsonl<T: DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<Loaded<T>, DataError> {
    if text.trim_start().starts_with('[') {
        parse_json_array(path, text)
    } else {
        Ok(parse_jsonl(path, text))
    }
}

/// Writes records as JSONL, atomically.
pub fn write_jsonl<T: Serialize>(path: &Path, records: &[T]) -> Result<(), DataError> {
    let mut buf = Vec::new();
    for r in records {
        serde_json::to_writer(&mut buf, r)
            .map_err(|e| DataError::Other(format!("{}: cannot serialise: {e}", path.display())))?;
        buf.push(b'\n');
    }
    write_atomic(path, &buf)
}

/// Writes records as a pretty JSON array, atomically.
pub fn write_json_array<T: Serialize>(path: &Path, records: &[T]) -> Result<(), DataError> {
    crate::io::write_json_atomic(path, records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct R {
        a: u32,
        b: Vec<String>,
    }

    #[test]
    fn jsonl_reports_each_bad_line_and_keeps_the_rest() {
        let text = "{\"a\":1,\"b\":[]}\n\n{\"a\":\"x\",\"b\":[]}\nnope\n{\"a\":2,\"b\":[\"k\", 3]}\n{\"a\":3,\"b\":[]}\n";
        let l: Loaded<R> = parse_jsonl(Path::new("f.jsonl"), text);
        assert_eq!(l.records.len(), 2);
        let msgs: Vec<String> = l.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(msgs.len(), 3);
        assert!(
            msgs[0].starts_with("f.jsonl: line 3: a: invalid type: string \"x\""),
            "{}",
            msgs[0]
        );
        assert!(
            msgs[1].starts_with("f.jsonl: line 4: not JSON"),
            "{}",
            msgs[1]
        );
        assert!(
            msgs[2].starts_with("f.jsonl: line 5: b[1]: invalid type: integer `3`"),
            "{}",
            msgs[2]
        );
    }

    #[test]
    fn array_reports_index() {
        let l: Loaded<R> =
            parse_json_array(Path::new("f.json"), r#"[{"a":1,"b":[]},{"b":[]}]"#).unwrap();
        assert_eq!(l.records.len(), 1);
        assert_eq!(
            l.problems[0].to_string(),
            "f.json: record 1: missing field `a`"
        );
        let err = parse_json_array::<R>(Path::new("f.json"), "{}").unwrap_err();
        assert!(err.to_string().contains("expected a JSON array"));
    }
}
