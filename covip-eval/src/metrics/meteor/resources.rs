//! Where METEOR's English resources live and how they are read.
//!
//! The jar bundles its word lists and WordNet files and reads its paraphrase table from a
//! `data` folder next to it; covip reads the same files from one directory:
//!
//! ```text
//! DIR/covip-meteor.json              manifest written by `covip metrics setup-meteor`
//! DIR/function/english.words         function words (δ weighting)
//! DIR/nonbreaking/english.prefixes   non-breaking prefixes of the -norm tokeniser
//! DIR/synonym/english.synsets        WordNet synsets per word (synonym module)
//! DIR/synonym/english.exceptions     WordNet irregular forms (synonym module)
//! DIR/synonym/english.relations      WordNet relations (shipped by the jar, unused)
//! DIR/synonym/COPYING.WORDNET        WordNet's licence
//! DIR/paraphrase/paraphrase-en.gz    the paraphrase table (paraphrase module)
//! DIR/spice/spice-1.0.jar            SPICE 1.0 (when the source package had it)
//! DIR/spice/lib/*.jar                its libraries (Stanford CoreNLP 3.6.0 is added by hand)
//! ```
//!
//! The directory is, in order: the one given explicitly (`--meteor-data DIR`), the
//! `COVIP_METEOR_DATA` environment variable, or the per-user default
//! (`$XDG_DATA_HOME/covip/meteor-1.5`, else `~/.local/share/covip/meteor-1.5`; on Windows
//! `%LOCALAPPDATA%\covip\meteor-1.5`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::normalize::Normalizer;
use super::paraphrase::ParaphraseTable;
use crate::metrics::error::MetricsError;
use crate::metrics::wordnet::SynonymDictionary;

/// Environment variable naming the resource directory.
pub const ENV_VAR: &str = "COVIP_METEOR_DATA";

/// Manifest file name.
pub const MANIFEST: &str = "covip-meteor.json";

/// Function words.
pub const FUNCTION_WORDS: &str = "function/english.words";
/// Non-breaking prefixes.
pub const PREFIXES: &str = "nonbreaking/english.prefixes";
/// WordNet folder.
pub const SYNONYM_DIR: &str = "synonym";
/// Paraphrase table.
pub const PARAPHRASES: &str = "paraphrase/paraphrase-en.gz";

/// SPICE 1.0's jar, from the same pycocoevalcap package (installed when the source has it).
pub const SPICE_JAR: &str = "spice/spice-1.0.jar";
/// The jars SPICE's manifest loads (pycocoevalcap's `spice/lib/`); Stanford CoreNLP 3.6.0's
/// two jars are not in the package and go here too.
pub const SPICE_LIB: &str = "spice/lib";

/// Every file of the directory (relative paths) besides the manifest, in manifest order.
pub const FILES: [&str; 7] = [
    FUNCTION_WORDS,
    PREFIXES,
    "synonym/english.synsets",
    "synonym/english.exceptions",
    "synonym/english.relations",
    "synonym/COPYING.WORDNET",
    PARAPHRASES,
];

/// The files the scorer reads (the others are kept for completeness and the licence).
const REQUIRED: [&str; 5] = [
    FUNCTION_WORDS,
    PREFIXES,
    "synonym/english.synsets",
    "synonym/english.exceptions",
    PARAPHRASES,
];

/// The per-user default directory, if a home or data directory is known.
pub fn default_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = if cfg!(windows) {
        var("LOCALAPPDATA")
    } else {
        var("XDG_DATA_HOME").or_else(|| var("HOME").map(|h| h.join(".local").join("share")))
    };
    base.map(|b| b.join("covip").join("meteor-1.5"))
}

/// The directory to read: `explicit`, else `$COVIP_METEOR_DATA`, else [`default_dir`].
pub fn resolve_dir(explicit: Option<&Path>) -> Result<PathBuf, MetricsError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os(ENV_VAR).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    default_dir().ok_or_else(|| MetricsError::Resources {
        path: PathBuf::from("<no home directory>"),
        message: format!(
            "no METEOR resource directory: pass --meteor-data DIR or set {ENV_VAR}, after `covip metrics setup-meteor --dest DIR`"
        ),
    })
}

/// SPICE's jar in `dir`, if `setup-meteor` installed it there.
pub fn spice_jar(dir: &Path) -> Option<PathBuf> {
    Some(dir.join(SPICE_JAR)).filter(|p| p.is_file())
}

/// True when `dir` has every file the scorer reads.
pub fn is_complete(dir: &Path) -> bool {
    REQUIRED.iter().all(|f| dir.join(f).is_file())
}

fn missing(dir: &Path, path: PathBuf) -> MetricsError {
    MetricsError::Resources {
        message: format!(
            "METEOR resource missing; run `covip metrics setup-meteor{}` to install them",
            if Some(dir) == default_dir().as_deref() {
                String::new()
            } else {
                format!(" --dest {}", dir.display())
            }
        ),
        path,
    }
}

fn read_text(dir: &Path, rel: &str) -> Result<String, MetricsError> {
    let path = dir.join(rel);
    if !path.is_file() {
        return Err(missing(dir, path));
    }
    std::fs::read_to_string(&path).map_err(|source| MetricsError::Io { path, source })
}

/// METEOR's English resources, loaded.
#[derive(Debug)]
pub struct MeteorResources {
    /// Function words (compared after lower-casing).
    pub function_words: HashSet<String>,
    /// The `-norm` tokeniser.
    pub normalizer: Normalizer,
    /// WordNet synsets and irregular forms.
    pub synonyms: SynonymDictionary,
    /// The paraphrase table.
    pub paraphrases: ParaphraseTable,
}

impl MeteorResources {
    /// Loads the resources of `dir` (the paraphrase table and WordNet as two rayon tasks).
    pub fn load(dir: &Path) -> Result<Self, MetricsError> {
        if !dir.is_dir() {
            return Err(missing(dir, dir.to_path_buf()));
        }
        for rel in REQUIRED {
            if !dir.join(rel).is_file() {
                return Err(missing(dir, dir.join(rel)));
            }
        }
        let (paraphrases, synonyms) = rayon::join(
            || ParaphraseTable::load_gz_cached(&dir.join(PARAPHRASES)),
            || SynonymDictionary::load(&dir.join(SYNONYM_DIR)),
        );
        // The jar adds every line as read (no trimming).
        let function_words = read_text(dir, FUNCTION_WORDS)?
            .lines()
            .map(str::to_string)
            .collect();
        Ok(MeteorResources {
            function_words,
            normalizer: Normalizer::from_prefixes(&read_text(dir, PREFIXES)?),
            synonyms: synonyms?,
            paraphrases: paraphrases?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_name_the_path_and_the_setup_command() {
        let tmp = tempfile::tempdir().unwrap();
        let err = MeteorResources::load(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("function/english.words"), "{err}");
        assert!(err.contains("covip metrics setup-meteor"), "{err}");
        let err = MeteorResources::load(&tmp.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope"), "{err}");
        assert!(!is_complete(tmp.path()));
    }

    #[test]
    fn explicit_directory_wins() {
        assert_eq!(
            resolve_dir(Some(Path::new("/x/y"))).unwrap(),
            PathBuf::from("/x/y")
        );
    }
}
