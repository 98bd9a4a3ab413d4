//! CoViP benchmark data: the units of the benchmark (concepts, dialogues, QAs, samples),
//! readers and writers of the released formats, context assembly with negative retrieval,
//! prompt rendering into model-agnostic messages, and the LSD/LAR/ITR diagnostic sets.
//!
//! Nothing here depends on a model: the crate is what every other covip crate reads data with.
//!
//! Features, all on by default: `parquet` (the Parquet downstream reader and writer),
//! `images` (image decoding, `ImageRef::decode`), `assembly` (context assembly over
//! embeddings). With `default-features = false` the crate holds the schemas, the JSON formats
//! and the prompts, and depends on serde and a few small crates; the `bundled` sample set
//! needs all three.
//!
//! ```
//! use covip_data::formats;
//! # #[cfg(feature = "parquet")] // the sample folder holds a Parquet set
//! # fn main() -> Result<(), covip_data::DataError> {
//! let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample");
//! for dataset in formats::load(&root)? {
//!     let summary = covip_data::inspect::summarize(&dataset, false);
//!     assert!(summary.problems.is_empty(), "{:?}", summary.problems);
//! }
//! # Ok(()) }
//! # #[cfg(not(feature = "parquet"))] fn main() {}
//! ```

#[cfg(feature = "assembly")]
pub mod assembly;
/// The bundled sample set needs every optional reader and writer.
#[cfg(all(feature = "parquet", feature = "images", feature = "assembly"))]
pub mod bundled;
pub mod concept;
pub mod diagnostics;
pub mod dialogue;
pub mod error;
pub mod formats;
pub mod image;
pub mod inspect;
pub mod io;
pub mod jsonl;
pub mod prompt;
pub mod pystr;
pub mod qa;
pub mod rng;
pub mod sample;
pub mod validate;

pub use concept::{Concept, ConceptKind};
pub use diagnostics::{DiagnosticKind, DiagnosticSample};
pub use dialogue::{Dialogue, Speaker, Turn};
pub use error::{DataError, Loaded, Problem, RecordLoc};
pub use image::ImageRef;
pub use qa::{Letter, Polarity, Qa, QaId};
pub use sample::{ContextEntry, Sample, TaskKind};
