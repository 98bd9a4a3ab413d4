//! Conversion of one dataset between its released forms: a training list between JSON and
//! JSONL, a downstream set between JSON, JSONL and Parquet. The output form follows the output
//! path's extension.
//!
//! Conversion is two steps so that a caller sees every problem before anything is written:
//! [`Conversion::load`] reads the input and collects its problems, [`Conversion::write`] writes
//! the records that have none.
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Problem};
use crate::formats::{self, Dataset};

/// A loaded input, ready to be written in another form.
#[derive(Debug)]
pub struct Conversion {
    input: PathBuf,
    dataset: Dataset,
}

impl Conversion {
    /// Reads the one dataset at `input` (a file, or a folder holding exactly one dataset).
    pub fn load(input: &Path) -> Result<Conversion, DataError> {
        let mut datasets = formats::load(input)?;
        if datasets.len() != 1 {
            return Err(DataError::Other(format!(
                "{}: expected one dataset, found {}",
                input.display(),
                datasets.len()
            )));
        }
        Ok(Conversion {
            input: input.to_path_buf(),
            dataset: datasets.remove(0),
        })
    }

    /// Every problem found in the input; the records they concern are not written.
    pub fn problems(&self) -> &[Problem] {
        self.dataset.problems()
    }

    /// The dataset as read.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// Writes the records without problems to `output`, in the form its extension names
    /// (`.json`, `.jsonl`, or `.parquet` for a downstream set), and returns how many went out.
    ///
    /// Embedded images of a downstream set written as JSON(L) go to `image_dir`, by default
    /// the folder `<stem>_images` beside `output`.
    pub fn write(self, output: &Path, image_dir: Option<&Path>) -> Result<usize, DataError> {
        let ext = output
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        match self.dataset {
            Dataset::Train {
                records, samples, ..
            } => {
                if !matches!(ext.as_str(), "json" | "jsonl") {
                    return Err(DataError::Other(format!(
                        "{}: a training list converts to .json or .jsonl",
                        output.display()
                    )));
                }
                // Problems are per record location: only the records without one go out.
                let bad: HashSet<_> = samples.problems.iter().map(|p| &p.record).collect();
                let good: Vec<_> = records
                    .records
                    .into_iter()
                    .filter(|(loc, _)| !bad.contains(loc))
                    .map(|(_, r)| r)
                    .collect();
                formats::write_train(output, &good)?;
                Ok(good.len())
            }
            Dataset::Downstream { samples, .. } => {
                // A downstream record with a problem never parsed: every record read is good.
                let good: Vec<_> = samples.records.into_iter().map(|(_, s)| s).collect();
                match ext.as_str() {
                    "parquet" => formats::write_downstream_parquet(output, &good)?,
                    "json" | "jsonl" => {
                        let dir = image_dir
                            .map(Path::to_path_buf)
                            .unwrap_or_else(|| default_image_dir(output));
                        formats::write_downstream_json(output, &good, &dir).map_err(|e| {
                            DataError::Other(format!("writing {}: {e}", output.display()))
                        })?
                    }
                    _ => {
                        return Err(DataError::Other(format!(
                            "{}: a downstream set converts to .json, .jsonl or .parquet",
                            output.display()
                        )));
                    }
                }
                Ok(good.len())
            }
            Dataset::Test { .. } => Err(DataError::Other(format!(
                "{}: test sets are a metadata JSONL plus a ground-truth JSON and have no other released form",
                self.input.display()
            ))),
        }
    }
}

/// Where a JSON(L) downstream set's embedded images go by default: `<stem>_images` beside it.
pub fn default_image_dir(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!("{stem}_images"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../data/sample")
            .join(rel)
    }

    #[test]
    fn training_list_converts_to_json_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let conv = Conversion::load(&sample("train.jsonl")).unwrap();
        assert!(conv.problems().is_empty());
        let json = dir.path().join("train.json");
        let n = conv.write(&json, None).unwrap();
        assert!(n > 0);
        let back = dir.path().join("train.jsonl");
        assert_eq!(
            Conversion::load(&json).unwrap().write(&back, None).unwrap(),
            n
        );
        let a = std::fs::read_to_string(sample("train.jsonl")).unwrap();
        let b = std::fs::read_to_string(&back).unwrap();
        let parse = |t: &str| -> Vec<serde_json::Value> {
            t.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        assert_eq!(parse(&a), parse(&b));
    }

    #[test]
    fn refuses_forms_a_dataset_has_not() {
        let dir = tempfile::tempdir().unwrap();
        let err = Conversion::load(&sample("train.jsonl"))
            .unwrap()
            .write(&dir.path().join("t.parquet"), None)
            .unwrap_err();
        assert!(
            err.to_string().contains("converts to .json or .jsonl"),
            "{err}"
        );
        let err = Conversion::load(&sample("test"))
            .unwrap()
            .write(&dir.path().join("t.jsonl"), None)
            .unwrap_err();
        assert!(
            err.to_string().contains("have no other released form"),
            "{err}"
        );
        // The folder holds three JSONL sets and one Parquet set.
        if cfg!(feature = "parquet") {
            let err = Conversion::load(&sample("diagnostics")).unwrap_err();
            assert!(
                err.to_string().contains("expected one dataset, found 4"),
                "{err}"
            );
        }
    }

    #[test]
    fn default_image_dir_sits_beside_the_output() {
        assert_eq!(
            default_image_dir(Path::new("out/lsd.jsonl")),
            Path::new("out/lsd_images")
        );
    }
}
