//! The LSD / LAR / ITR diagnostic sets (SPEC §2.4): contexts of 10 dialogues, 3 about the
//! query person and 7 about others, built deterministically from a person pool and a seed.
use serde::{Deserialize, Serialize};

use crate::dialogue::Dialogue;
use crate::error::DataError;
use crate::image::ImageRef;
use crate::rng::SeededRng;
use crate::sample::ContextEntry;

/// Which diagnostic set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiagnosticKind {
    /// Last-seen detection: where was the person last seen.
    Lsd,
    /// Last-action recall: what was I doing when I last mentioned the person.
    Lar,
    /// Instruction-triggered recall: the answer must contain the keyword.
    Itr,
}

impl DiagnosticKind {
    pub const ALL: [DiagnosticKind; 3] = [
        DiagnosticKind::Lsd,
        DiagnosticKind::Lar,
        DiagnosticKind::Itr,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosticKind::Lsd => "lsd",
            DiagnosticKind::Lar => "lar",
            DiagnosticKind::Itr => "itr",
        }
    }
}

/// One diagnostic sample, whatever file it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiagnosticSample {
    pub id: String,
    pub kind: DiagnosticKind,
    pub context: Vec<ContextEntry>,
    pub query: ImageRef,
    /// LSD and ITR: the place of the latest-dated dialogue about the query person.
    /// LAR: the action appended to that dialogue.
    pub answer: String,
    /// LAR: the action sentence (what the LAR judge compares against).
    pub last_action: Option<String>,
}

/// A person of the pool: at least 4 images and dialogues that state a date and a place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub images: Vec<ImageRef>,
    pub dialogues: Vec<Dialogue>,
}

/// Settings of the builder; the defaults are the paper's.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagnosticConfig {
    /// Contexts in which each person is the query (10 in the paper: 50 people → 500).
    pub contexts_per_person: usize,
    /// Dialogues about the query person in each context.
    pub target_dialogues: usize,
    /// Dialogues about other people in each context.
    pub other_dialogues: usize,
    pub seed: u64,
    /// LAR: action sentences, one drawn per context.
    pub actions: Vec<String>,
    /// ITR: the instruction appended to the latest target dialogue.
    pub itr_instruction: String,
}

/// Our default LAR actions (first person, past tense, so they read as the user's words).
pub const DEFAULT_ACTIONS: &[&str] = &[
    "I was repainting the garden fence when we talked.",
    "I was baking bread for the neighbours at the time.",
    "I was packing for a hiking trip that evening.",
    "I was fixing the bicycle chain in the garage.",
    "I was practising the piano for a recital.",
    "I was planting tomatoes on the balcony.",
    "I was sorting old photographs into albums.",
    "I was training for the city half marathon.",
    "I was assembling a new bookshelf in the study.",
    "I was writing postcards to friends abroad.",
];

/// Our ITR instruction; the keyword `SKS` is what the evaluation looks for.
pub const DEFAULT_ITR_INSTRUCTION: &str =
    "If this person shows up again, remind me of it by saying the keyword SKS.";

/// The keyword ITR answers must contain.
pub const ITR_KEYWORD: &str = "SKS";

impl Default for DiagnosticConfig {
    fn default() -> Self {
        DiagnosticConfig {
            contexts_per_person: 10,
            target_dialogues: 3,
            other_dialogues: 7,
            seed: 0,
            actions: DEFAULT_ACTIONS.iter().map(|s| s.to_string()).collect(),
            itr_instruction: DEFAULT_ITR_INSTRUCTION.to_string(),
        }
    }
}

fn check_pool(pool: &[Person], cfg: &DiagnosticConfig) -> Result<(), DataError> {
    if pool.len() < 2 {
        return Err(DataError::Other(format!(
            "the person pool has {} people; at least 2 are needed",
            pool.len()
        )));
    }
    for p in pool {
        if p.images.len() < cfg.target_dialogues + 1 {
            return Err(DataError::Other(format!(
                "person {}: {} images, at least {} needed (1 query + {} in context)",
                p.id,
                p.images.len(),
                cfg.target_dialogues + 1,
                cfg.target_dialogues
            )));
        }
        for (i, d) in p.dialogues.iter().enumerate() {
            if d.date.is_none() || d.place.is_none() {
                return Err(DataError::Other(format!(
                    "person {}: dialogue {i} lacks its date or place",
                    p.id
                )));
            }
        }
        let mut dates: Vec<&str> = p
            .dialogues
            .iter()
            .filter_map(|d| d.date.as_deref())
            .collect();
        dates.sort();
        dates.dedup();
        if dates.len() < cfg.target_dialogues {
            return Err(DataError::Other(format!(
                "person {}: {} distinct dialogue dates, at least {} needed so the latest is unambiguous",
                p.id,
                dates.len(),
                cfg.target_dialogues
            )));
        }
    }
    Ok(())
}

/// Builds one diagnostic set: every person is the query of `contexts_per_person` contexts.
///
/// In each context: one of the person's images is the query (never placed in the context),
/// `target_dialogues` of their dialogues (distinct dates) go in with their other images, and
/// `other_dialogues` dialogues about other people (distinct people while there are enough) with
/// one of those people's images; the entries are shuffled. Gold is the place of the
/// latest-dated target dialogue; LAR appends an action and ITR the instruction to that dialogue.
/// Dates compare as strings, so they must be ISO (`YYYY-MM-DD`).
pub fn build_diagnostic_set(
    pool: &[Person],
    kind: DiagnosticKind,
    cfg: &DiagnosticConfig,
) -> Result<Vec<DiagnosticSample>, DataError> {
    check_pool(pool, cfg)?;
    if kind == DiagnosticKind::Lar && cfg.actions.is_empty() {
        return Err(DataError::Other("LAR needs at least one action".into()));
    }
    let mut rng = SeededRng::new(cfg.seed ^ (kind as u64).wrapping_mul(0x5851_F42D_4C95_7F2D));
    let mut out = Vec::with_capacity(pool.len() * cfg.contexts_per_person);
    for (pi, person) in pool.iter().enumerate() {
        for c in 0..cfg.contexts_per_person {
            let mut r = rng.fork((pi as u64) << 32 | c as u64);
            // Query image and the images that go into the context with the target dialogues.
            let img_order = r.sample_indices(person.images.len(), cfg.target_dialogues + 1);
            let query = person.images[img_order[0]].clone();
            // Target dialogues with distinct dates.
            let mut candidates: Vec<usize> = (0..person.dialogues.len()).collect();
            r.shuffle(&mut candidates);
            let mut targets: Vec<usize> = Vec::new();
            for d in candidates {
                let date = &person.dialogues[d].date;
                if targets.iter().all(|&t| &person.dialogues[t].date != date) {
                    targets.push(d);
                }
                if targets.len() == cfg.target_dialogues {
                    break;
                }
            }
            let latest = *targets
                .iter()
                .max_by(|&&a, &&b| person.dialogues[a].date.cmp(&person.dialogues[b].date))
                .expect("at least one target dialogue");
            let place = person.dialogues[latest].place.clone().expect("checked");
            let mut last_action = None;
            let mut entries: Vec<ContextEntry> = Vec::new();
            for (k, &d) in targets.iter().enumerate() {
                let mut dialogue = person.dialogues[d].clone();
                if d == latest {
                    match kind {
                        DiagnosticKind::Lsd => {}
                        DiagnosticKind::Lar => {
                            let action = r.choose(&cfg.actions).expect("non-empty").clone();
                            dialogue.append_to_last_turn(&action);
                            last_action = Some(action);
                        }
                        DiagnosticKind::Itr => dialogue.append_to_last_turn(&cfg.itr_instruction),
                    }
                }
                entries.push(ContextEntry {
                    image: person.images[img_order[k + 1]].clone(),
                    dialogue: dialogue.render(),
                });
            }
            // Dialogues about other people.
            let others: Vec<usize> = (0..pool.len()).filter(|&o| o != pi).collect();
            let picks: Vec<usize> = if others.len() >= cfg.other_dialogues {
                r.sample_indices(others.len(), cfg.other_dialogues)
            } else {
                (0..cfg.other_dialogues)
                    .map(|_| r.below(others.len()))
                    .collect()
            };
            for oi in picks {
                let other = &pool[others[oi]];
                let image = r.choose(&other.images).expect("checked").clone();
                let dialogue = r.choose(&other.dialogues).ok_or_else(|| {
                    DataError::Other(format!("person {} has no dialogues", other.id))
                })?;
                entries.push(ContextEntry {
                    image,
                    dialogue: dialogue.render(),
                });
            }
            r.shuffle(&mut entries);
            let answer = match kind {
                DiagnosticKind::Lar => last_action.clone().expect("set for LAR"),
                _ => place,
            };
            out.push(DiagnosticSample {
                id: format!("{}_{}_{c}", kind.as_str(), person.id),
                kind,
                context: entries,
                query,
                answer,
                last_action,
            });
        }
    }
    Ok(out)
}

/// Token-set F1 of an answer against the gold place, as LSD scores it: lower-cased,
/// split on white space, compared as sets; both empty scores 1. Lower-casing and splitting
/// are Python's (`set(s.lower().split())`, [`crate::pystr`]).
pub fn token_set_f1(prediction: &str, gold: &str) -> f64 {
    use crate::pystr;
    use std::collections::HashSet;
    let (prediction, gold) = (pystr::lower(prediction), pystr::lower(gold));
    let p: HashSet<&str> = pystr::split_whitespace(&prediction).collect();
    let g: HashSet<&str> = pystr::split_whitespace(&gold).collect();
    if p.is_empty() && g.is_empty() {
        return 1.0;
    }
    let common = p.intersection(&g).count() as f64;
    if common == 0.0 {
        return 0.0;
    }
    let precision = common / p.len() as f64;
    let recall = common / g.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> Vec<Person> {
        (0..n)
            .map(|i| Person {
                id: format!("p{i}"),
                name: format!("Name{i}"),
                images: (0..4)
                    .map(|k| ImageRef::path(format!("p{i}_{k}.png")))
                    .collect(),
                dialogues: (0..4)
                    .map(|k| {
                        let mut d = Dialogue::alternating(&[
                            format!("On 2024-0{}-1{k} I saw Name{i} at Place{i}{k}.", k + 1),
                            "Nice!".to_string(),
                        ]);
                        d.date = Some(format!("2024-0{}-1{k}", k + 1));
                        d.place = Some(format!("Place{i}{k} square"));
                        d
                    })
                    .collect(),
            })
            .collect()
    }

    #[test]
    fn contexts_have_the_paper_shape_and_gold() {
        let pool = pool(12);
        let cfg = DiagnosticConfig {
            contexts_per_person: 3,
            seed: 5,
            ..Default::default()
        };
        for kind in DiagnosticKind::ALL {
            let set = build_diagnostic_set(&pool, kind, &cfg).unwrap();
            assert_eq!(set.len(), 36);
            for s in &set {
                assert_eq!(s.context.len(), 10);
                let person = s.id.split('_').nth(1).unwrap();
                let about_target: Vec<&ContextEntry> = s
                    .context
                    .iter()
                    .filter(|e| e.image.name().unwrap().starts_with(&format!("{person}_")))
                    .collect();
                assert_eq!(about_target.len(), 3, "{}", s.id);
                assert!(
                    s.context.iter().all(|e| e.image != s.query),
                    "query leaked into context"
                );
                // The gold place is the one stated in the latest target dialogue.
                let latest = about_target
                    .iter()
                    .map(|e| {
                        let date = e.dialogue.split_whitespace().nth(2).unwrap().to_string();
                        (date, e)
                    })
                    .max_by(|a, b| a.0.cmp(&b.0))
                    .unwrap()
                    .1;
                match kind {
                    DiagnosticKind::Lsd => {
                        assert!(
                            latest
                                .dialogue
                                .contains(s.answer.split(' ').next().unwrap())
                        );
                    }
                    DiagnosticKind::Lar => {
                        let a = s.last_action.as_ref().unwrap();
                        assert_eq!(&s.answer, a);
                        assert!(latest.dialogue.ends_with(a.as_str()));
                        assert_eq!(
                            s.context
                                .iter()
                                .filter(|e| e.dialogue.contains(a.as_str()))
                                .count(),
                            1
                        );
                    }
                    DiagnosticKind::Itr => {
                        assert!(latest.dialogue.ends_with(DEFAULT_ITR_INSTRUCTION));
                        assert_eq!(
                            s.context
                                .iter()
                                .filter(|e| e.dialogue.contains(ITR_KEYWORD))
                                .count(),
                            1
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let pool = pool(9);
        let cfg = DiagnosticConfig {
            contexts_per_person: 2,
            seed: 11,
            ..Default::default()
        };
        let a = build_diagnostic_set(&pool, DiagnosticKind::Lar, &cfg).unwrap();
        let b = build_diagnostic_set(&pool, DiagnosticKind::Lar, &cfg).unwrap();
        assert_eq!(a, b);
        let c = build_diagnostic_set(
            &pool,
            DiagnosticKind::Lar,
            &DiagnosticConfig { seed: 12, ..cfg },
        )
        .unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn pool_problems_are_named() {
        let mut p = pool(3);
        p[1].images.truncate(3);
        let err = build_diagnostic_set(&p, DiagnosticKind::Lsd, &DiagnosticConfig::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("person p1: 3 images"), "{err}");
        let mut p = pool(3);
        p[2].dialogues[0].place = None;
        let err = build_diagnostic_set(&p, DiagnosticKind::Lsd, &DiagnosticConfig::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("person p2: dialogue 0 lacks"), "{err}");
    }

    #[test]
    fn token_f1_cases() {
        assert_eq!(token_set_f1("", ""), 1.0);
        assert_eq!(token_set_f1("the park", ""), 0.0);
        assert_eq!(token_set_f1("Central Park", "central park"), 1.0);
        let f = token_set_f1("at the central park", "central park");
        assert!((f - 2.0 * 0.5 * 1.0 / 1.5).abs() < 1e-12);
        // Python splits on U+001F and lower-cases a final sigma by context.
        assert_eq!(token_set_f1("central\x1fpark", "central park"), 1.0);
        assert_eq!(token_set_f1("ΟΔΟΣ", "\u{3bf}\u{3b4}\u{3bf}\u{3c2}"), 1.0);
    }
}
