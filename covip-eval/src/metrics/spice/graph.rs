//! SPICE's `SceneGraph`: objects (nodes) with attributes, and relations between objects,
//! built from the tuples the parser proposes, with SPICE's merging of similar concepts:
//!
//! - an object equal to a node's object (same words and synsets) is that node; otherwise, with
//!   merging on, it merges into the *most similar* node (a shared word counts 1, else the
//!   Jaccard index of the synsets; first best wins; zero similarity never merges);
//! - an attribute equal to one of the node's attributes is dropped; otherwise, with merging
//!   on, it merges into the first similar attribute;
//! - a relation equal to an existing one (same nodes, equal relation concept) is dropped;
//!   otherwise, with merging on, it merges into the first relation between the same two
//!   nodes whose relation concept is similar. A leading `be ` is removed from the relation.
//!
//! The jar builds one scene graph per candidate caption and one for *all* references of an
//! image together (every reference's tuples added to the same graph in turn), so similar
//! objects of different references become one node.
//!
//! Order: the jar walks nodes, attributes and edges in hash-map order keyed by identity hash
//! codes, which differs from run to run; it only matters when a new concept is equally similar
//! to two nodes, or similar to two attributes or relations. This graph walks them in insertion
//! order.

use super::concept::SemanticConcept;
use super::tuples::{SemanticTuple, TupleCategory, TupleSet, TupleSizeError};
use crate::metrics::wordnet::SynonymDictionary;

#[derive(Clone, Debug)]
struct Node {
    object: SemanticConcept,
    attributes: Vec<SemanticConcept>,
}

#[derive(Clone, Debug)]
struct Relation {
    source: usize,
    target: usize,
    relation: SemanticConcept,
}

/// A scene graph (see the module documentation).
#[derive(Clone, Debug)]
pub struct SceneGraph {
    nodes: Vec<Node>,
    relations: Vec<Relation>,
    merge_similar: bool,
}

impl Default for SceneGraph {
    fn default() -> Self {
        Self::new(true)
    }
}

impl SceneGraph {
    /// An empty graph; `merge_similar` is the jar's default `true` (`-noSynsets` turns it off
    /// together with synonym matching).
    pub fn new(merge_similar: bool) -> Self {
        Self {
            nodes: Vec::new(),
            relations: Vec::new(),
            merge_similar,
        }
    }

    /// A graph of one caption's tuples ([`SceneGraph::add_tuple`] each, in order).
    pub fn from_tuples<T, S>(
        tuples: &[T],
        dict: &SynonymDictionary,
        merge_similar: bool,
    ) -> Result<Self, TupleSizeError>
    where
        T: AsRef<[S]>,
        S: AsRef<str>,
    {
        let mut g = Self::new(merge_similar);
        for t in tuples {
            g.add_tuple(t.as_ref(), dict)?;
        }
        Ok(g)
    }

    /// The reference graph of an image: every caption's tuples added to one graph, caption
    /// after caption (`SpiceParser.parseCaptions` with chunks).
    pub fn from_captions<C, T, S>(
        captions: &[C],
        dict: &SynonymDictionary,
        merge_similar: bool,
    ) -> Result<Self, TupleSizeError>
    where
        C: AsRef<[T]>,
        T: AsRef<[S]>,
        S: AsRef<str>,
    {
        let mut g = Self::new(merge_similar);
        for c in captions {
            for t in c.as_ref() {
                g.add_tuple(t.as_ref(), dict)?;
            }
        }
        Ok(g)
    }

    /// Adds `[object]`, `[object, attribute]` or `[subject, relation, object]` — the order in
    /// which the jar prints tuples. (The jar's parser hands `SceneGraph.addTuple` relations as
    /// `[subject, object, relation]`; this takes the printed order.)
    pub fn add_tuple<S: AsRef<str>>(
        &mut self,
        tuple: &[S],
        dict: &SynonymDictionary,
    ) -> Result<(), TupleSizeError> {
        match tuple {
            [o] => self.add_object(o.as_ref(), dict),
            [o, a] => self.add_attribute(o.as_ref(), a.as_ref(), dict),
            [s, r, o] => self.add_relation(s.as_ref(), r.as_ref(), o.as_ref(), dict),
            _ => return Err(TupleSizeError(tuple.len())),
        }
        Ok(())
    }

    /// `SceneGraph.addObject`.
    pub fn add_object(&mut self, object: &str, dict: &SynonymDictionary) {
        self.node_for(object, dict);
    }

    /// `SceneGraph.addAttribute` (adds the object when needed).
    pub fn add_attribute(&mut self, object: &str, attribute: &str, dict: &SynonymDictionary) {
        let n = self.node_for(object, dict);
        let concept = SemanticConcept::from_word(attribute, dict);
        let attrs = &mut self.nodes[n].attributes;
        if attrs.contains(&concept) {
            return;
        }
        if self.merge_similar
            && let Some(a) = attrs.iter_mut().find(|a| concept.similar_to(a))
        {
            a.merge(&concept);
            return;
        }
        attrs.push(concept);
    }

    /// `SceneGraph.addRelation` (adds the objects when needed, subject first).
    pub fn add_relation(
        &mut self,
        subject: &str,
        relation: &str,
        object: &str,
        dict: &SynonymDictionary,
    ) {
        let source = self.node_for(subject, dict);
        let target = self.node_for(object, dict);
        let word = relation.strip_prefix("be ").unwrap_or(relation);
        let concept = SemanticConcept::from_word(word, dict);
        let same_nodes = |r: &Relation| r.source == source && r.target == target;
        if self
            .relations
            .iter()
            .any(|r| same_nodes(r) && r.relation == concept)
        {
            return;
        }
        if self.merge_similar
            && let Some(r) = self
                .relations
                .iter_mut()
                .find(|r| same_nodes(r) && concept.similar_to(&r.relation))
        {
            r.relation.merge(&concept);
            return;
        }
        self.relations.push(Relation {
            source,
            target,
            relation: concept,
        });
    }

    /// `getOrAddNodeByString`: the node of `word` (see the module documentation).
    fn node_for(&mut self, word: &str, dict: &SynonymDictionary) -> usize {
        let concept = SemanticConcept::from_word(word, dict);
        let mut best: Option<usize> = None;
        let mut best_sim = 0f32;
        for (i, node) in self.nodes.iter().enumerate() {
            if node.object == concept {
                return i;
            }
            let sim = concept.similarity(&node.object);
            if sim > best_sim {
                best_sim = sim;
                best = Some(i);
            }
        }
        if self.merge_similar
            && let Some(i) = best
        {
            self.nodes[i].object.merge(&concept);
            return i;
        }
        self.nodes.push(Node {
            object: concept,
            attributes: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// Number of objects.
    pub fn num_objects(&self) -> usize {
        self.nodes.len()
    }

    /// The tuples of the graph (`new TupleSet(sg)`): per node its object tuple and its
    /// attribute tuples, then the relation tuples; sorted.
    pub fn tuple_set(&self) -> TupleSet {
        let mut tuples = Vec::new();
        let mk = |v: Vec<SemanticConcept>| SemanticTuple::new(v).expect("1 to 3 elements");
        for node in &self.nodes {
            tuples.push(mk(vec![node.object.clone()]));
            for a in &node.attributes {
                tuples.push(mk(vec![node.object.clone(), a.clone()]));
            }
        }
        for r in &self.relations {
            tuples.push(mk(vec![
                self.nodes[r.source].object.clone(),
                r.relation.clone(),
                self.nodes[r.target].object.clone(),
            ]));
        }
        TupleSet::new(tuples)
    }

    /// The tuples of one category (`new TupleSet(sg, filter)`).
    pub fn tuple_set_of(&self, category: TupleCategory) -> TupleSet {
        self.tuple_set().filtered(category)
    }
}
