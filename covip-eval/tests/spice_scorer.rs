//! SPICE's tuple scorer on hand-built scene graphs with a tiny in-memory synonym dictionary:
//! every expected number is worked out by hand from SPICE 1.0's rules.

use covip_eval::metrics::spice::{
    Evaluation, Matching, SceneGraph, SpiceCorpus, SpiceStats, TupleCategory, TupleSet,
    TupleSizeError, rescore_detailed, score_graphs, score_tuples,
};
use covip_eval::metrics::wordnet::SynonymDictionary;

/// Synsets: car~automobile (10), automobile~auto (11), red~crimson (20), grass~lawn (30),
/// ride~drive (50), drive~push (51), table~board (60), board~plank (61), gray~grey (70),
/// little~small (100), small~minor (101). "dogs" reaches dog's synset through the `-s` rule,
/// "men" through the irregular forms.
fn dict() -> SynonymDictionary {
    let synsets = "\
dog\n1\npuppy\n2\ncar\n10\nautomobile\n10 11\nauto\n11 12\nred\n20\ncrimson\n20\n\
grass\n30\nlawn\n30 31\non\n40\nride\n50\ndrive\n50 51\npush\n51\nfeed\n52\n\
table\n60\nboard\n60 61\nplank\n61\ngray\n70\ngrey\n70\nman\n80\nhorse\n82\ntwo\n90\n\
little\n100\nsmall\n100 101\nminor\n101 102 103\nin_front_of\n110\n";
    let exceptions = "man\nmen\n";
    SynonymDictionary::parse(synsets, exceptions).expect("valid dictionary")
}

fn t(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn graph(tuples: &[&[&str]]) -> SceneGraph {
    let tuples: Vec<Vec<String>> = tuples.iter().map(|x| t(x)).collect();
    SceneGraph::from_tuples(&tuples, &dict(), true).unwrap()
}

fn refs_graph(captions: &[&[&[&str]]]) -> SceneGraph {
    let captions: Vec<Vec<Vec<String>>> = captions
        .iter()
        .map(|c| c.iter().map(|x| t(x)).collect())
        .collect();
    SceneGraph::from_captions(&captions, &dict(), true).unwrap()
}

fn eval(stats: &SpiceStats, c: TupleCategory) -> Evaluation {
    *stats.get(c).unwrap()
}

/// (tp, fp, fn, pr, re, f) with NaN compared as NaN.
fn check(e: Evaluation, tp: i64, fp: i64, fn_: i64, pr: f64, re: f64, f: f64) {
    let same = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || (a - b).abs() < 1e-12;
    assert_eq!((e.tp, e.fp, e.fn_), (tp, fp, fn_), "{e:?}");
    assert!(
        same(e.pr, pr) && same(e.re, re) && same(e.f, f),
        "{e:?} vs pr {pr} re {re} f {f}"
    );
    assert_eq!(e.num_images, 1);
}

const NAN: f64 = f64::NAN;

fn printed(set: &TupleSet) -> Vec<Vec<String>> {
    set.printed().into_iter().map(|(t, _)| t).collect()
}

#[test]
fn identical_graphs_score_one_in_every_present_category() {
    let g: &[&[&str]] = &[
        &["dog"],
        &["dog", "red"],
        &["dog", "on", "grass"],
        &["grass"],
    ];
    let s = score_graphs(&graph(g), &graph(g), Matching::Synonyms).stats;
    check(eval(&s, TupleCategory::All), 4, 0, 0, 1.0, 1.0, 1.0);
    check(eval(&s, TupleCategory::Object), 2, 0, 0, 1.0, 1.0, 1.0);
    check(eval(&s, TupleCategory::Attribute), 1, 0, 0, 1.0, 1.0, 1.0);
    check(eval(&s, TupleCategory::Relation), 1, 0, 0, 1.0, 1.0, 1.0);
    check(eval(&s, TupleCategory::Color), 1, 0, 0, 1.0, 1.0, 1.0);
    // No reference tuple of the category: NaN, as the jar writes (null) for subsets.
    check(eval(&s, TupleCategory::Cardinality), 0, 0, 0, NAN, NAN, NAN);
    check(eval(&s, TupleCategory::Size), 0, 0, 0, NAN, NAN, NAN);
    assert_eq!(s.spice(), 1.0);
    assert_eq!(s.scores.len(), 7);
}

#[test]
fn synonyms_match_and_exact_matching_does_not() {
    let test = graph(&[&["car"], &["car", "crimson"], &["dog"]]);
    let refs = graph(&[&["automobile"], &["automobile", "red"], &["puppy"]]);
    let s = score_graphs(&test, &refs, Matching::Synonyms);
    // car~automobile and crimson~red share synsets; dog and puppy do not.
    check(
        eval(&s.stats, TupleCategory::All),
        2,
        1,
        1,
        2.0 / 3.0,
        2.0 / 3.0,
        2.0 / 3.0,
    );
    // "crimson" is no colour word, "red" is: the candidate has no colour tuple, so precision
    // stays 0 and F is 0 (not NaN: the references have one).
    check(eval(&s.stats, TupleCategory::Color), 0, 0, 1, 0.0, 0.0, 0.0);
    // Matched tuples are listed first.
    let truth: Vec<bool> = s
        .test_tuples
        .printed()
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    assert_eq!(truth, [true, true, false]);
    assert_eq!(printed(&s.test_tuples)[2], t(&["dog"]));

    let e = score_graphs(&test, &refs, Matching::Exact).stats;
    check(eval(&e, TupleCategory::All), 0, 3, 3, 0.0, 0.0, 0.0);
}

#[test]
fn stem_synsets_match_plurals_and_irregular_forms() {
    let test = graph(&[&["dogs"], &["men"], &["men", "ride", "dogs"]]);
    let refs = graph(&[&["dog"], &["man"], &["man", "ride", "dog"]]);
    let s = score_graphs(&test, &refs, Matching::Synonyms).stats;
    check(eval(&s, TupleCategory::All), 3, 0, 0, 1.0, 1.0, 1.0);
    // The words stay as written.
    assert_eq!(printed(&test.tuple_set())[0], t(&["dogs"]));
}

#[test]
fn duplicate_tuples_collapse_in_the_scene_graph() {
    let test = graph(&[
        &["dog"],
        &["dog"],
        &["dog", "red"],
        &["dog", "red"],
        &["dog", "on", "grass"],
        &["dog", "on", "grass"],
    ]);
    // dog, grass, (dog, red), (dog, on, grass)
    assert_eq!(test.num_objects(), 2);
    assert_eq!(test.tuple_set().len(), 4);
    let s = score_graphs(&test, &graph(&[&["dog"]]), Matching::Synonyms).stats;
    check(eval(&s, TupleCategory::All), 1, 3, 0, 0.25, 1.0, 0.4);
    // A TupleSet built directly keeps duplicates, as the jar's TupleSet would.
    let d = dict();
    let raw = TupleSet::from_printed(&[t(&["dog"]), t(&["dog"])], &d).unwrap();
    assert_eq!(raw.len(), 2);
}

#[test]
fn empty_candidate_scores_zero_and_subsets_follow_the_references() {
    let refs = graph(&[&["dog"], &["dog", "red"]]);
    let s = score_graphs(&SceneGraph::default(), &refs, Matching::Synonyms).stats;
    check(eval(&s, TupleCategory::All), 0, 0, 2, 0.0, 0.0, 0.0);
    check(eval(&s, TupleCategory::Object), 0, 0, 1, 0.0, 0.0, 0.0);
    check(eval(&s, TupleCategory::Color), 0, 0, 1, 0.0, 0.0, 0.0);
    check(eval(&s, TupleCategory::Relation), 0, 0, 0, NAN, NAN, NAN);
}

#[test]
fn empty_references_score_zero_for_all_and_nan_for_subsets() {
    let test = graph(&[&["dog"], &["dog", "red"]]);
    let s = score_graphs(&test, &SceneGraph::default(), Matching::Synonyms).stats;
    check(eval(&s, TupleCategory::All), 0, 2, 0, 0.0, 0.0, 0.0);
    check(eval(&s, TupleCategory::Object), 0, 1, 0, NAN, NAN, NAN);
    check(eval(&s, TupleCategory::Color), 0, 1, 0, NAN, NAN, NAN);
    let both = score_graphs(
        &SceneGraph::default(),
        &SceneGraph::default(),
        Matching::Synonyms,
    );
    check(
        eval(&both.stats, TupleCategory::All),
        0,
        0,
        0,
        0.0,
        0.0,
        0.0,
    );
}

#[test]
fn references_merge_into_one_graph() {
    let refs = refs_graph(&[
        &[&["car"], &["car", "red"]],
        &[&["automobile"], &["automobile", "crimson"]],
        &[&["auto"]],
    ]);
    // car, automobile and auto become one node; red and crimson one attribute.
    assert_eq!(refs.num_objects(), 1);
    let set = refs.tuple_set();
    assert_eq!(set.len(), 2);
    let mut words: Vec<&str> = set.tuples()[0].elements()[0].concepts();
    words.sort_unstable();
    assert_eq!(words, ["auto", "automobile", "car"]);
    // Java HashSet order of the printed concept: "automobile" (bucket 0), "auto" (2), "car" (5).
    assert_eq!(
        set.tuples()[0].elements()[0].java_string(),
        "automobile/auto/car"
    );
    let mut syn = set.tuples()[0].elements()[0].synsets().to_vec();
    syn.sort_unstable();
    assert_eq!(syn, [10, 11, 12]);

    let test = graph(&[&["auto"], &["auto", "red"]]);
    let s = score_graphs(&test, &refs, Matching::Synonyms).stats;
    check(eval(&s, TupleCategory::All), 2, 0, 0, 1.0, 1.0, 1.0);
    // The merged attribute prints as two words, so it is no colour; the candidate's "red" is.
    check(eval(&s, TupleCategory::Color), 0, 1, 0, NAN, NAN, NAN);

    // score_tuples builds the same graphs.
    let captions: Vec<Vec<Vec<String>>> = vec![
        vec![t(&["car"]), t(&["car", "red"])],
        vec![t(&["automobile"]), t(&["automobile", "crimson"])],
        vec![t(&["auto"])],
    ];
    let st = score_tuples(&[t(&["auto"]), t(&["auto", "red"])], &captions, &dict()).unwrap();
    assert!(st.stats.agrees_with(&s, 0.0));
}

#[test]
fn one_merged_reference_tuple_can_match_several_candidate_tuples() {
    // table~board, board~plank, but table and plank share nothing: the references merge all
    // three into one node, the candidate keeps two. Both candidate tuples match it.
    let refs = refs_graph(&[&[&["table"]], &[&["board"]], &[&["plank"]]]);
    let test = graph(&[&["table"], &["plank"]]);
    assert_eq!(refs.num_objects(), 1);
    assert_eq!(test.num_objects(), 2);
    let s = score_graphs(&test, &refs, Matching::Synonyms).stats;
    // fn = 1 - 2 = -1; recall 2; F = 2·1·2/3.
    check(eval(&s, TupleCategory::All), 2, 0, -1, 1.0, 2.0, 4.0 / 3.0);
}

#[test]
fn a_new_object_merges_into_the_most_similar_node() {
    // small (100, 101) shares half of little's synsets (Jaccard 1/2) and one of minor's four
    // (1/4): it joins little.
    let refs = refs_graph(&[&[&["little"]], &[&["minor"]], &[&["small"]]]);
    let set = refs.tuple_set();
    let mut objects: Vec<Vec<&str>> = set
        .tuples()
        .iter()
        .map(|t| {
            let mut w = t.elements()[0].concepts();
            w.sort_unstable();
            w
        })
        .collect();
    objects.sort();
    assert_eq!(objects, vec![vec!["little", "small"], vec!["minor"]]);
}

#[test]
fn similar_relations_between_the_same_objects_merge() {
    let refs = graph(&[
        &["man", "ride", "horse"],
        &["man", "drive", "horse"],
        &["man", "push", "horse"],
        &["man", "feed", "horse"],
        &["horse", "ride", "man"],
    ]);
    // ride~drive, then push~(ride/drive): one relation; feed stays; the reversed edge stays.
    let set = refs.tuple_set();
    let rels: Vec<Vec<String>> = printed(&set).into_iter().filter(|t| t.len() == 3).collect();
    assert_eq!(rels.len(), 3, "{rels:?}");
    let test = graph(&[&["man", "push", "horse"]]);
    let s = score_graphs(&test, &refs, Matching::Synonyms).stats;
    check(
        eval(&s, TupleCategory::Relation),
        1,
        0,
        2,
        1.0,
        1.0 / 3.0,
        0.5,
    );
}

#[test]
fn a_leading_be_is_dropped_from_relations_and_case_only_changes_synset_lookup() {
    let test = graph(&[&["man", "be on", "horse"]]);
    assert_eq!(printed(&test.tuple_set())[2], t(&["man", "on", "horse"]));
    let refs = graph(&[&["man", "on", "horse"]]);
    let s = score_graphs(&test, &refs, Matching::Exact).stats;
    check(eval(&s, TupleCategory::All), 3, 0, 0, 1.0, 1.0, 1.0);

    // " Dog " looks up "dog"'s synsets but keeps its spelling; phrases look up with "_".
    let g = graph(&[&[" Dog "], &["dog"], &["dog", "in front of", "grass"]]);
    assert_eq!(g.num_objects(), 2);
    let set = g.tuple_set();
    let dog = set
        .tuples()
        .iter()
        .find(|t| t.len() == 1 && t.elements()[0].contains("dog"));
    let mut words = dog.unwrap().elements()[0].concepts();
    words.sort_unstable();
    assert_eq!(words, [" Dog ", "dog"]);
    let rel = set.tuples().iter().find(|t| t.len() == 3).unwrap();
    assert_eq!(rel.elements()[1].synsets(), &[110]);
}

#[test]
fn without_merging_similar_objects_stay_apart() {
    let d = dict();
    let tuples = vec![
        t(&["car"]),
        t(&["automobile"]),
        t(&["car", "red"]),
        t(&["car", "crimson"]),
    ];
    let merged = SceneGraph::from_tuples(&tuples, &d, true).unwrap();
    let apart = SceneGraph::from_tuples(&tuples, &d, false).unwrap();
    assert_eq!((merged.num_objects(), merged.tuple_set().len()), (1, 2));
    assert_eq!((apart.num_objects(), apart.tuple_set().len()), (2, 4));
}

#[test]
fn tuples_have_one_to_three_elements() {
    let d = dict();
    let bad = vec![t(&["a", "b", "c", "d"])];
    assert_eq!(
        SceneGraph::from_tuples(&bad, &d, true).unwrap_err(),
        TupleSizeError(4)
    );
    let empty: Vec<Vec<String>> = vec![vec![]];
    assert!(TupleSet::from_printed(&empty, &d).is_err());
}

#[test]
fn evaluation_follows_calc_f_score() {
    let e = |tp, c, r, nan| Evaluation::from_counts(tp, c, r, nan);
    check(e(0, 0, 0, false), 0, 0, 0, 0.0, 0.0, 0.0);
    check(e(0, 0, 0, true), 0, 0, 0, NAN, NAN, NAN);
    check(e(0, 3, 0, true), 0, 3, 0, NAN, NAN, NAN);
    check(e(0, 2, 3, true), 0, 2, 3, 0.0, 0.0, 0.0);
    check(e(1, 4, 2, false), 1, 3, 1, 0.25, 0.5, 1.0 / 3.0);
    check(e(2, 2, 1, false), 2, 0, -1, 1.0, 2.0, 4.0 / 3.0);
}

#[test]
fn corpus_spice_is_the_mean_of_all_f_and_the_console_summary_skips_nan() {
    let d = dict();
    let img = |test: &[Vec<String>], refs: &[Vec<String>]| {
        score_tuples(test, &[refs.to_vec()], &d).unwrap().stats
    };
    let a = img(&[t(&["dog"])], &[t(&["dog"])]); // All f 1, Relation NaN
    let b = img(
        &[t(&["dog"]), t(&["dog", "on", "grass"])],
        &[t(&["dog"]), t(&["dog", "on", "lawn"]), t(&["puppy"])],
    ); // dog, grass~lawn, (dog, on, grass~lawn): All P 3/3, R 3/4, F 6/7; Relation 1/1
    let corpus = SpiceCorpus::new(vec!["a".into(), "b".into()], vec![a, b]);
    assert!((corpus.spice - (1.0 + 6.0 / 7.0) / 2.0).abs() < 1e-15);
    assert!(corpus.image("b").is_some() && corpus.image("c").is_none());
    let rel = corpus.macro_average(TupleCategory::Relation);
    assert_eq!((rel.tp, rel.num_images), (1, 1));
    assert_eq!(rel.f, 1.0);
    let size = corpus.macro_average(TupleCategory::Size);
    assert!(size.f.is_nan() && size.num_images == 0);
    assert!(SpiceCorpus::new(vec![], vec![]).spice.is_nan());
}

#[test]
fn rescore_detailed_recomputes_scores_from_printed_tuples() {
    // A -detailed output in the jar's layout; merged concepts print with "/".
    let output = r#"[
  {
    "test_tuples": [
      {"tuple": ["auto"], "truth_value": true},
      {"tuple": ["auto", "red"], "truth_value": true},
      {"tuple": ["dog"], "truth_value": false}
    ],
    "ref_tuples": [
      {"tuple": ["automobile/auto/car"], "truth_value": true},
      {"tuple": ["automobile/auto/car", "red/crimson"], "truth_value": true}
    ],
    "scores": {
      "All": {"pr": 0.6666666666666666, "re": 1, "f": 0.8, "fn": 0, "numImages": 1, "fp": 1, "tp": 2},
      "Color": {"pr": null, "re": null, "f": null, "fn": 0, "numImages": 1, "fp": 1, "tp": 0},
      "Object": {"pr": 0.5, "re": 1, "f": 0.6666666666666666, "fn": 0, "numImages": 1, "fp": 1, "tp": 1}
    },
    "image_id": 7
  }
]"#;
    let r = rescore_detailed(output, &dict()).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].image_id, "7");
    assert!(r[0].agrees(1e-15), "{:?}", r[0]);
    // The Rust sets print merged concepts in Java's HashSet order too ("red" falls in bucket
    // 0, "crimson" in 3), so the printed tuples and truth values are the jar's.
    let refs = r[0].rust.ref_tuples.printed();
    assert_eq!(refs[1].0, t(&["automobile/auto/car", "red/crimson"]));
    assert!(r[0].tuples_agree);
    // A wrong jar score is caught.
    let wrong = output.replace("\"fp\": 1, \"tp\": 2", "\"fp\": 0, \"tp\": 3");
    assert!(!rescore_detailed(&wrong, &dict()).unwrap()[0].agrees(1e-12));
    // Without -detailed there is nothing to rescore.
    let plain = r#"[{"image_id": "x", "scores": {"All": {"pr": 0, "re": 0, "f": 0, "fn": 0, "numImages": 1, "fp": 0, "tp": 0}}}]"#;
    let err = rescore_detailed(plain, &dict()).unwrap_err().to_string();
    assert!(err.contains("-detailed"), "{err}");
}
