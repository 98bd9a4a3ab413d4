//! Human-alignment sheets: blinded pairwise comparisons of two caption sets by people.
//!
//! [`make_sheet`] turns two caption files (`{sample_id: caption}` or
//! `{sample_id: {"caption": ...}}`) and a test set into one self-contained HTML page of
//! randomised, blinded pairs (the query image, the context images with their dialogues, the two
//! captions as "A" and "B"), and a key kept apart from the raters that says which file each
//! side shows. As in the authors' released human-evaluation tool, every pair asks two questions,
//! each answered A, B or Tie: [`Criterion::Context`] (context groundedness) and
//! [`Criterion::Description`] (new-image description). The page's export button writes the
//! choices as JSON; [`tally`] reads one or more such exports with the key, un-blinds them and
//! counts preferences per criterion with a 95 % Wilson score interval on the share of non-tie
//! judgements that prefer the A file.
//!
//! The page is the whole instrument: images are embedded as `data:` URLs, the script and style
//! are inline, and a Content-Security-Policy forbids every other resource, so it can be mailed to
//! raters and opened offline. Nothing on it names the caption files (that would unblind it).
//!
//! No model is involved; this module needs covip-data's JSON readers only.
mod captions;
mod html;
mod sheet;
mod tally;
#[cfg(test)]
mod tests;

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use captions::{MAX_CAPTIONS_FILE_BYTES, read_captions};
pub use html::{base64_encode, escape_html};
pub use sheet::{
    KEY_FORMAT, KeyPair, MAX_IMAGE_BYTES, MAX_SHEET_BYTES, Sheet, SheetKey, SheetOptions,
    build_sheet, key_path_for, load_test_samples, make_sheet, write_sheet,
};
pub use tally::{
    Answer, CHOICES_FORMAT, ChoiceRow, ChoicesExport, CriterionTally, ExportInfo, IntervalInfo,
    MAX_CHOICES_FILE_BYTES, Tally, TallyOptions, WILSON_Z95, read_choices, read_key, render_table,
    tally, wilson_interval,
};

/// What can go wrong making or tallying a sheet. Every message names the file (and the pair or
/// sample) at fault.
#[derive(Debug, thiserror::Error)]
pub enum PairwiseError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file whose content is wrong: which file, and what.
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error(transparent)]
    Data(#[from] covip_data::DataError),
    /// Wrong arguments or inputs that belong to no single file.
    #[error("{0}")]
    Other(String),
}

impl PairwiseError {
    fn invalid(path: &Path, message: impl Into<String>) -> PairwiseError {
        PairwiseError::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    fn io(path: &Path, source: std::io::Error) -> PairwiseError {
        PairwiseError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One of the two questions each pair asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Context groundedness: recalling the remembered objects that reappear in the new image.
    Context,
    /// New-image description: the new image's visual content, described accurately.
    Description,
}

impl Criterion {
    /// Both criteria, in the order the page asks them.
    pub const ALL: [Criterion; 2] = [Criterion::Context, Criterion::Description];

    /// The key used in the page's form, the export and the tally JSON.
    pub fn key(self) -> &'static str {
        match self {
            Criterion::Context => "context",
            Criterion::Description => "description",
        }
    }

    /// The name shown in tables.
    pub fn title(self) -> &'static str {
        match self {
            Criterion::Context => "context groundedness",
            Criterion::Description => "new-image description",
        }
    }

    /// The question put to the rater.
    pub fn question(self) -> &'static str {
        match self {
            Criterion::Context => {
                "Context groundedness: which caption recalls, accurately and in detail, the \
                 remembered objects (from the dialogues above) that also appear in the new image?"
            }
            Criterion::Description => {
                "New-image description: which caption describes the new image's visual content \
                 accurately?"
            }
        }
    }
}

/// Which of the two caption files given to `make` (in command-line order) a side shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The first caption file (`A.json` of `covip pairwise make A.json B.json`).
    AFile,
    /// The second caption file.
    BFile,
}

impl Source {
    /// The other file.
    pub fn other(self) -> Source {
        match self {
            Source::AFile => Source::BFile,
            Source::BFile => Source::AFile,
        }
    }
}

/// Reads a whole file, refusing one larger than `max` bytes before allocating for it (and
/// stopping at `max + 1` bytes should it grow while being read).
fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, PairwiseError> {
    let file = std::fs::File::open(path).map_err(|e| PairwiseError::io(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| PairwiseError::io(path, e))?
        .len();
    if len > max {
        return Err(PairwiseError::invalid(
            path,
            format!("{what} of {len} bytes is larger than the {max}-byte limit"),
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| PairwiseError::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(PairwiseError::invalid(
            path,
            format!("{what} is larger than the {max}-byte limit"),
        ));
    }
    Ok(bytes)
}
