//! Checks shared by the readers, and the opt-in image check.
use std::path::Path;

use crate::error::{Problem, RecordLoc};
use crate::image::ImageRef;
use crate::qa::{Letter, Qa};

/// Every context concept carries exactly this many QAs.
pub const QAS_PER_CONCEPT: usize = 3;

/// Whether `letter` may be a positive QA's correct answer: never `D`, which is "cannot be
/// determined" (the training reader and the QA-list check share this rule).
pub fn positive_answer_is_valid(letter: Letter) -> bool {
    letter != Letter::D
}

/// Problems of one concept's QA list (`field` is its path, e.g. `pos_qas[1]`).
/// `positive` also flags a correct answer of `D`, which a positive QA never has.
pub fn qa_list_problems(field: &str, qas: &[Qa], positive: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if qas.len() != QAS_PER_CONCEPT {
        out.push((
            field.to_string(),
            format!("expected {QAS_PER_CONCEPT} QAs, found {}", qas.len()),
        ));
    }
    for (j, qa) in qas.iter().enumerate() {
        for (f, m) in qa.problems() {
            out.push((format!("{field}[{j}].{f}"), m));
        }
        if positive && !positive_answer_is_valid(qa.correct_answer) {
            out.push((
                format!("{field}[{j}].correct_answer"),
                "a positive QA's correct answer is D (\"cannot be determined\")".into(),
            ));
        }
    }
    out
}

/// Checks that an image exists and decodes; `field` names where it was referenced. Without
/// the `images` feature nothing is decoded: an existing image is reported as not checked.
pub fn check_image(
    file: &Path,
    record: RecordLoc,
    field: &str,
    image: &ImageRef,
) -> Option<Problem> {
    if let ImageRef::Path(p) = image
        && !p.exists()
    {
        return Some(Problem::new(
            file,
            record,
            field,
            format!("image {} does not exist", p.display()),
        ));
    }
    #[cfg(feature = "images")]
    let problem = image.decode().err().map(|e| e.to_string());
    #[cfg(not(feature = "images"))]
    let problem =
        Some("not decoded: covip-data was built without its `images` feature".to_string());
    problem.map(|message| Problem::new(file, record, field, message))
}
