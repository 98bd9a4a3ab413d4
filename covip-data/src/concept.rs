//! A remembered concept: a person, pet or object with an image and a name.
use serde::{Deserialize, Serialize};

use crate::image::ImageRef;

/// The three kinds of concept in the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConceptKind {
    Human,
    Object,
    Pet,
}

impl ConceptKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConceptKind::Human => "human",
            ConceptKind::Object => "object",
            ConceptKind::Pet => "pet",
        }
    }
}

/// One concept of a user's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Concept {
    pub id: String,
    pub image: ImageRef,
    pub kind: ConceptKind,
    pub name: String,
}
