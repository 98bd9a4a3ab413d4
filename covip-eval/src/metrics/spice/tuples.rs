//! SPICE's semantic tuples, tuple sets and the greedy matching between a candidate's and the
//! references' tuple sets (`SemanticTuple`, `TupleSet`, `TupleFilter` of SPICE 1.0).

use std::cmp::Ordering;

use super::concept::SemanticConcept;
use crate::metrics::wordnet::SynonymDictionary;

/// A tuple with a number of elements other than 1, 2 or 3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a SPICE tuple is [object], [object, attribute] or [subject, relation, object]; got {0} element(s)"
)]
pub struct TupleSizeError(pub usize);

/// One proposition: `(object)`, `(object, attribute)` or `(subject, relation, object)`.
#[derive(Clone, Debug)]
pub struct SemanticTuple {
    elements: Vec<SemanticConcept>,
    /// Set by matching: the tuple found a similar (or equal) tuple on the other side.
    pub truth_value: bool,
}

/// What a tuple states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TupleKind {
    /// `(object)`.
    Object,
    /// `(object, attribute)`.
    Attribute,
    /// `(subject, relation, object)`.
    Relation,
}

impl SemanticTuple {
    /// A tuple of 1, 2 or 3 concepts (object / object, attribute / subject, relation, object).
    pub fn new(elements: Vec<SemanticConcept>) -> Result<Self, TupleSizeError> {
        if !(1..=3).contains(&elements.len()) {
            return Err(TupleSizeError(elements.len()));
        }
        Ok(Self {
            elements,
            truth_value: false,
        })
    }

    /// A tuple as the jar prints it in its `-detailed` output: each element is a concept's
    /// words joined with `/` (`"automobile/auto/car"`); each word gets its synsets from `dict`
    /// (a merged concept's synsets are the union of its words' synsets, as SPICE builds them).
    /// A word that itself contains `/` cannot be told apart from two words.
    pub fn from_printed<S: AsRef<str>>(
        elements: &[S],
        dict: &SynonymDictionary,
    ) -> Result<Self, TupleSizeError> {
        let concepts = elements
            .iter()
            .map(|e| {
                let mut words = e.as_ref().split('/');
                let mut c = SemanticConcept::from_word(words.next().unwrap_or(""), dict);
                for w in words {
                    c.merge(&SemanticConcept::from_word(w, dict));
                }
                c
            })
            .collect();
        Self::new(concepts)
    }

    /// Number of elements (1, 2 or 3).
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// Never true (a tuple has at least one element); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// The elements.
    pub fn elements(&self) -> &[SemanticConcept] {
        &self.elements
    }

    /// Object, attribute or relation tuple.
    pub fn kind(&self) -> TupleKind {
        match self.elements.len() {
            1 => TupleKind::Object,
            2 => TupleKind::Attribute,
            _ => TupleKind::Relation,
        }
    }

    /// `SemanticTuple.similarTo`: same size and every element similar.
    pub fn similar_to(&self, other: &SemanticTuple) -> bool {
        self.elements.len() == other.elements.len()
            && self
                .elements
                .iter()
                .zip(&other.elements)
                .all(|(a, b)| a.similar_to(b))
    }

    /// `SemanticTuple.matchesTo`: same size and every element equal (words and synsets).
    pub fn matches(&self, other: &SemanticTuple) -> bool {
        self.elements == other.elements
    }

    /// The elements as the jar prints them (`SemanticConcept.toString`).
    pub fn printed(&self) -> Vec<String> {
        self.elements.iter().map(|c| c.java_string()).collect()
    }

    /// `SemanticTuple.compareTo`: matched tuples first, then the elements lexicographically.
    pub fn java_cmp(&self, other: &SemanticTuple) -> Ordering {
        other.truth_value.cmp(&self.truth_value).then_with(|| {
            for (a, b) in self.elements.iter().zip(&other.elements) {
                let o = a.java_cmp(b);
                if o != Ordering::Equal {
                    return o;
                }
            }
            self.elements.len().cmp(&other.elements.len())
        })
    }
}

/// The tuple categories of SPICE's `-subset` output (`TupleFilter`), plus `All`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TupleCategory {
    /// Every tuple.
    All,
    /// Object tuples.
    Object,
    /// Attribute tuples.
    Attribute,
    /// Relation tuples.
    Relation,
    /// Attribute tuples whose attribute prints as `one` … `ten`.
    Cardinality,
    /// Attribute tuples whose attribute prints as one of 18 common colours.
    Color,
    /// Attribute tuples whose attribute prints as one of SPICE's size adjectives.
    Size,
}

const SMALL_NUMBERS: [&str; 10] = [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
];

const COMMON_COLORS: [&str; 18] = [
    "black", "brown", "blue", "red", "yellow", "pink", "gray", "grey", "green", "dark", "light",
    "white", "cream", "orange", "purple", "maroon", "beige", "violet",
];

const SIZE_ADJECTIVES: [&str; 105] = [
    "baby",
    "illimitable",
    "scrawny",
    "beefy",
    "immeasurable",
    "short",
    "big",
    "immense",
    "sizable",
    "bony",
    "infinitesimal",
    "skeletal",
    "boundless",
    "lanky",
    "skimpy",
    "brawny",
    "large",
    "skinny",
    "broad",
    "lean",
    "slender",
    "bulky",
    "life-size",
    "slim",
    "chunky",
    "limitless",
    "small",
    "colossal",
    "little",
    "squat",
    "compact",
    "mammoth",
    "stocky",
    "corpulent",
    "massive",
    "stout",
    "cosmic",
    "meager",
    "strapping",
    "cubby",
    "measly",
    "sturdy",
    "curvy",
    "microscopic",
    "tall",
    "elfin",
    "mini",
    "teensy",
    "emaciated",
    "miniature",
    "teeny",
    "endless",
    "minuscule",
    "teeny-tiny",
    "enormous",
    "minute",
    "teeny-weeny",
    "epic",
    "narrow",
    "thick",
    "expansive",
    "obese",
    "thickset",
    "extensive",
    "outsized",
    "thin",
    "fat",
    "oversize",
    "tiny",
    "fleshy",
    "overweight",
    "titanic",
    "full-size",
    "paltry",
    "towering",
    "gargantuan",
    "petite",
    "trifling",
    "gaunt",
    "pint-size",
    "trim",
    "giant",
    "plump",
    "tubby",
    "gigantic",
    "pocket-size",
    "undersized",
    "grand",
    "portly",
    "underweight",
    "great",
    "pudgy",
    "unlimited",
    "heavy",
    "puny",
    "vast",
    "hefty",
    "rotund",
    "wee",
    "huge",
    "scanty",
    "whopping",
    "hulking",
    "scraggy",
    "wide",
];

impl TupleCategory {
    /// All categories, `All` first, then in the order the jar's source registers its filters.
    pub const EVERY: [TupleCategory; 7] = [
        TupleCategory::All,
        TupleCategory::Object,
        TupleCategory::Attribute,
        TupleCategory::Relation,
        TupleCategory::Cardinality,
        TupleCategory::Color,
        TupleCategory::Size,
    ];

    /// The key of the category in the jar's output (`"All"`, `"Object"`, …).
    pub fn name(self) -> &'static str {
        match self {
            TupleCategory::All => "All",
            TupleCategory::Object => "Object",
            TupleCategory::Attribute => "Attribute",
            TupleCategory::Relation => "Relation",
            TupleCategory::Cardinality => "Cardinality",
            TupleCategory::Color => "Color",
            TupleCategory::Size => "Size",
        }
    }

    /// The category with that output key.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::EVERY.into_iter().find(|c| c.name() == name)
    }

    /// The jar's `TupleFilter` for this category (`All`: every tuple). The word filters look
    /// at the attribute as printed, so a merged attribute such as `gray/grey` is no colour.
    pub fn accepts(self, tuple: &SemanticTuple) -> bool {
        let attribute = || tuple.elements[1].java_string();
        match self {
            TupleCategory::All => true,
            TupleCategory::Object => tuple.len() == 1,
            TupleCategory::Attribute => tuple.len() == 2,
            TupleCategory::Relation => tuple.len() == 3,
            TupleCategory::Cardinality => {
                tuple.len() == 2 && SMALL_NUMBERS.contains(&attribute().as_str())
            }
            TupleCategory::Color => {
                tuple.len() == 2 && COMMON_COLORS.contains(&attribute().as_str())
            }
            TupleCategory::Size => {
                tuple.len() == 2 && SIZE_ADJECTIVES.contains(&attribute().as_str())
            }
        }
    }
}

/// The tuples of a scene graph (`TupleSet`): a list, not a set — the scene graph has already
/// merged duplicates — kept in the jar's sorted order.
#[derive(Clone, Debug, Default)]
pub struct TupleSet {
    tuples: Vec<SemanticTuple>,
}

impl TupleSet {
    /// A set of the given tuples, sorted as the `TupleSet` constructor sorts (truth values are
    /// cleared first). Duplicates are kept: use a [`super::SceneGraph`] to merge them.
    pub fn new(tuples: Vec<SemanticTuple>) -> Self {
        let mut set = Self { tuples };
        for t in &mut set.tuples {
            t.truth_value = false;
        }
        set.sort();
        set
    }

    /// The tuples of the jar's `-detailed` output (`test_tuples` / `ref_tuples`: each a list
    /// of printed elements), with synsets looked up in `dict` (see
    /// [`SemanticTuple::from_printed`]).
    pub fn from_printed<T, S>(
        tuples: &[T],
        dict: &SynonymDictionary,
    ) -> Result<Self, TupleSizeError>
    where
        T: AsRef<[S]>,
        S: AsRef<str>,
    {
        let tuples = tuples
            .iter()
            .map(|t| SemanticTuple::from_printed(t.as_ref(), dict))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(tuples))
    }

    /// The tuples in their current order.
    pub fn tuples(&self) -> &[SemanticTuple] {
        &self.tuples
    }

    /// Number of tuples.
    pub fn len(&self) -> usize {
        self.tuples.len()
    }

    /// True when there is no tuple.
    pub fn is_empty(&self) -> bool {
        self.tuples.is_empty()
    }

    /// The tuples of one category, as `new TupleSet(sceneGraph, filter)` builds them (truth
    /// values cleared, sorted).
    pub fn filtered(&self, category: TupleCategory) -> TupleSet {
        TupleSet::new(
            self.tuples
                .iter()
                .filter(|t| category.accepts(t))
                .cloned()
                .collect(),
        )
    }

    /// `Collections.sort(tuples)` (stable) with `SemanticTuple.compareTo`.
    pub fn sort(&mut self) {
        self.tuples.sort_by(|a, b| a.java_cmp(b));
    }

    /// `TupleSet.match_similar` (`exact`: `match_exact`): every candidate tuple (`self`) is
    /// compared with the reference tuples in order and counts once when some reference tuple
    /// is similar (equal); the first such reference tuple is marked too. A reference tuple may
    /// match several candidate tuples, so the count can exceed the number of references.
    /// Both sets are re-sorted afterwards (matched tuples first). Returns the count.
    pub fn match_against(&mut self, references: &mut TupleSet, exact: bool) -> usize {
        for r in &mut references.tuples {
            r.truth_value = false;
        }
        let mut n = 0;
        for t in &mut self.tuples {
            t.truth_value = false;
            for r in &mut references.tuples {
                let hit = if exact { t.matches(r) } else { t.similar_to(r) };
                if hit {
                    t.truth_value = true;
                    r.truth_value = true;
                    n += 1;
                    break;
                }
            }
        }
        self.sort();
        references.sort();
        n
    }

    /// Each tuple as printed, with its truth value.
    pub fn printed(&self) -> Vec<(Vec<String>, bool)> {
        self.tuples
            .iter()
            .map(|t| (t.printed(), t.truth_value))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_list_is_the_jars_105_words() {
        let mut words: Vec<&str> = SIZE_ADJECTIVES.to_vec();
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), 105);
    }

    #[test]
    fn categories_round_trip_their_names() {
        for c in TupleCategory::EVERY {
            assert_eq!(TupleCategory::from_name(c.name()), Some(c));
        }
        assert_eq!(TupleCategory::from_name("Count"), None);
    }

    #[test]
    fn a_tuple_has_one_to_three_elements() {
        assert_eq!(SemanticTuple::new(vec![]).unwrap_err(), TupleSizeError(0));
        let c = SemanticConcept::new("a", &[]);
        assert!(SemanticTuple::new(vec![c.clone(); 4]).is_err());
        assert_eq!(
            SemanticTuple::new(vec![c.clone(); 3]).unwrap().kind(),
            TupleKind::Relation
        );
    }
}
