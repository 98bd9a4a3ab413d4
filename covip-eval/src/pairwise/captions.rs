//! Caption files as `covip caption` writes them and CapEval-QAs reads them.
use std::collections::BTreeMap;
use std::path::Path;

use super::{PairwiseError, read_bounded};

/// The largest caption file read (a test set's captions are a few MiB at most).
pub const MAX_CAPTIONS_FILE_BYTES: u64 = 256 << 20;

/// Reads `{sample_id: "caption"}` or `{sample_id: {"caption": "..."}}` (the two shapes are
/// allowed to mix). Anything else — not an object, a value without a string caption — is an
/// error naming the sample.
pub fn read_captions(path: &Path) -> Result<BTreeMap<String, String>, PairwiseError> {
    let bytes = read_bounded(path, MAX_CAPTIONS_FILE_BYTES, "caption file")?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| PairwiseError::invalid(path, format!("not valid JSON: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(PairwiseError::invalid(
            path,
            "expected a JSON object {sample_id: caption} or {sample_id: {\"caption\": ...}}",
        ));
    };
    let mut out = BTreeMap::new();
    for (id, v) in map {
        let caption = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Object(mut o) => match o.remove("caption") {
                Some(serde_json::Value::String(s)) => s,
                Some(_) => {
                    return Err(PairwiseError::invalid(
                        path,
                        format!("sample {id:?}: \"caption\" is not a string"),
                    ));
                }
                None => {
                    return Err(PairwiseError::invalid(
                        path,
                        format!("sample {id:?}: object without a \"caption\" field"),
                    ));
                }
            },
            other => {
                return Err(PairwiseError::invalid(
                    path,
                    format!(
                        "sample {id:?}: expected a caption string or {{\"caption\": ...}}, found {}",
                        kind(&other)
                    ),
                ));
            }
        };
        out.insert(id, caption);
    }
    if out.is_empty() {
        return Err(PairwiseError::invalid(path, "holds no caption"));
    }
    Ok(out)
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn both_shapes_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            &dir,
            "c.json",
            r#"{"sample_0": "plain", "sample_1": {"caption": "nested", "other": 1}}"#,
        );
        let c = read_captions(&p).unwrap();
        assert_eq!(c["sample_0"], "plain");
        assert_eq!(c["sample_1"], "nested");
    }

    #[test]
    fn bad_shapes_are_errors_naming_the_sample() {
        let dir = tempfile::tempdir().unwrap();
        for (text, needle) in [
            ("[1, 2]", "expected a JSON object"),
            (
                "{\"sample_3\": 5}",
                "sample \"sample_3\": expected a caption string",
            ),
            (
                "{\"sample_4\": {\"text\": \"x\"}}",
                "without a \"caption\" field",
            ),
            (
                "{\"sample_5\": {\"caption\": 1}}",
                "\"caption\" is not a string",
            ),
            ("{}", "holds no caption"),
            ("{\"a\": ", "not valid JSON"),
        ] {
            let p = write(&dir, "bad.json", text);
            let err = read_captions(&p).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(err.contains("bad.json"), "{err}");
        }
        let err = read_captions(&dir.path().join("absent.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("absent.json"), "{err}");
    }
}
