//! METEOR's aligner: from the candidate matches of a segment pair, the alignment its beam search
//! settles on.
//!
//! The search walks the reference left to right. A path either takes one of the unused
//! candidates starting at the current word or skips the word; paths are ranked by weighted
//! matched words (more first), then chunks (fewer), then distance (smaller), the best 40 kept.
//! Candidates that are the only one at their position and the only cover of their words are
//! fixed before the search. The jar's results depend on details that are reproduced here:
//! - the weighted totals are Java `int`s updated with `+=` of a `double`, so each match adds
//!   `floor(total + words * weight) - total` (the search weights are 1 for exact and 0.5 for
//!   the other modules: a one-word stem match adds nothing);
//! - the distance of a new path's match is added to its *parent* (which then goes on as the
//!   skip path, and is copied into the next sibling);
//! - ranking uses a stable sort of paths in creation order, so ties go to the earlier path.
//!
//! A path's used reference words need no storage of their own: ahead of the current word they
//! are exactly the fixed matches' words and the rest of the path's last match.

use super::matchers::{Match, Stage};

/// The jar's beam width.
pub const BEAM_SIZE: usize = 40;

/// Per-module weights of the search (exact, stem, synonym, paraphrase), not of the score.
pub const SEARCH_WEIGHTS: [f64; 4] = [1.0, 0.5, 0.5, 0.5];

/// The matches an alignment keeps, by reference position, and its chunk count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alignment {
    /// The chosen matches in reference order.
    pub matches: Vec<Match>,
    /// Runs of matches contiguous and in order on both sides.
    pub chunks: u32,
}

/// A bitset of test words, inline up to 256 words (paths are cloned a lot).
#[derive(Clone, Debug)]
enum Bits {
    Inline([u64; 4]),
    Heap(Vec<u64>),
}

impl Default for Bits {
    fn default() -> Self {
        Bits::Inline([0; 4])
    }
}

impl Bits {
    fn new(len: usize) -> Self {
        if len <= 256 {
            Bits::Inline([0; 4])
        } else {
            Bits::Heap(vec![0; len.div_ceil(64)])
        }
    }

    fn words(&self) -> &[u64] {
        match self {
            Bits::Inline(w) => w,
            Bits::Heap(w) => w,
        }
    }

    fn words_mut(&mut self) -> &mut [u64] {
        match self {
            Bits::Inline(w) => w,
            Bits::Heap(w) => w,
        }
    }

    fn get(&self, i: u32) -> bool {
        self.words()[i as usize / 64] >> (i % 64) & 1 == 1
    }

    fn set(&mut self, i: u32) {
        self.words_mut()[i as usize / 64] |= 1 << (i % 64);
    }
}

/// One search path.
#[derive(Clone, Debug, Default)]
struct Path {
    /// Last match this path chose (index into the arena), `u32::MAX` for none.
    node: u32,
    /// Test words used (fixed matches' words included).
    test_used: Bits,
    matches1: i32,
    matches2: i32,
    chunks: i32,
    /// Next reference word to decide on.
    idx: usize,
    /// One past the last test word of the previous match, -1 after a skip.
    last_match_end: i64,
    distance: i32,
}

const NO_NODE: u32 = u32::MAX;

impl Path {
    fn test_is_used(&self, m: &Match) -> bool {
        (m.test_start..m.test_start + m.test_len).any(|i| self.test_used.get(i))
    }

    fn use_test(&mut self, m: &Match) {
        for i in m.test_start..m.test_start + m.test_len {
            self.test_used.set(i);
        }
    }

    /// Counts a match into the totals, the chunks and the position (not the distance).
    fn take(&mut self, m: &Match) {
        let w = SEARCH_WEIGHTS[m.module as usize];
        self.matches1 = (f64::from(self.matches1) + f64::from(m.test_len) * w) as i32;
        self.matches2 = (f64::from(self.matches2) + f64::from(m.len) * w) as i32;
        if self.last_match_end != -1 && i64::from(m.test_start) != self.last_match_end {
            self.chunks += 1;
        }
        self.idx = (m.start + m.len) as usize;
        self.last_match_end = i64::from(m.test_start + m.test_len);
    }
}

fn distance(m: &Match) -> i32 {
    (m.start as i32 - m.test_start as i32).abs()
}

/// The jar's ranking: more weighted matches, then fewer chunks, then less distance; ties keep
/// their order (the jar sorts stably).
fn rank_key(p: &Path, position: usize) -> (i32, i32, i32, u32) {
    (
        -(p.matches1 + p.matches2),
        p.chunks,
        p.distance,
        position as u32,
    )
}

/// The first `k` paths of a stable sort by rank, in order (the rest are dropped, as the beam
/// drops them): a selection then a sort of `k`, with the position as the last key.
fn best_first(paths: Vec<Path>, k: usize) -> Vec<Path> {
    let mut order: Vec<(i32, i32, i32, u32)> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| rank_key(p, i))
        .collect();
    if order.len() > k {
        order.select_nth_unstable(k - 1);
        order.truncate(k);
    }
    order.sort_unstable();
    let mut slots: Vec<Option<Path>> = paths.into_iter().map(Some).collect();
    order
        .iter()
        .map(|&(.., i)| slots[i as usize].take().expect("each position once"))
        .collect()
}

/// Aligns a test segment of `test_len` words with a reference, given the candidates.
pub fn align(stage: &Stage, test_len: usize) -> Alignment {
    let ref_len = stage.by_start.len();
    // Fixed matches: alone at their position, and the only cover of every word they span.
    let mut fixed: Vec<Option<Match>> = vec![None; ref_len];
    let mut fixed_ref = vec![false; ref_len];
    let mut start = Path {
        node: NO_NODE,
        test_used: Bits::new(test_len),
        last_match_end: -1,
        ..Path::default()
    };
    for (i, cands) in stage.by_start.iter().enumerate() {
        if let [m] = cands.as_slice() {
            let ref_once = (m.start..m.start + m.len).all(|k| stage.ref_coverage[k as usize] == 1);
            let test_once = (m.test_start..m.test_start + m.test_len)
                .all(|k| stage.test_coverage[k as usize] == 1);
            if ref_once && test_once {
                fixed[i] = Some(*m);
                for k in m.start..m.start + m.len {
                    fixed_ref[k as usize] = true;
                }
                start.use_test(m);
            }
        }
    }

    let mut arena: Vec<(Match, u32)> = Vec::new();
    let mut next = vec![start];
    for current in 0..=ref_len {
        let mut paths = best_first(std::mem::take(&mut next), BEAM_SIZE);
        for slot in paths.iter_mut() {
            let mut path = std::mem::take(slot);
            if current == ref_len {
                if path.last_match_end != -1 {
                    path.chunks += 1;
                }
                next.push(path);
                continue;
            }
            if fixed_ref[current] || current < path.idx {
                if current < path.idx {
                    next.push(path);
                } else if let Some(m) =
                    fixed[path.idx].or_else(|| chosen_at(&arena, path.node, path.idx))
                {
                    path.take(&m);
                    path.distance += distance(&m);
                    next.push(path);
                } else {
                    // The jar drops such a path; keep it for the fallback below.
                    *slot = path;
                }
                continue;
            }
            for m in &stage.by_start[current] {
                // Reference words ahead of a path that is not inside a match are used only by
                // fixed matches.
                let ref_used = (m.start..m.start + m.len).any(|k| fixed_ref[k as usize]);
                if ref_used || path.test_is_used(m) {
                    continue;
                }
                let mut child = path.clone();
                child.use_test(m);
                child.take(m);
                arena.push((*m, path.node));
                child.node = (arena.len() - 1) as u32;
                path.distance += distance(m);
                next.push(child);
            }
            if path.last_match_end != -1 {
                path.chunks += 1;
                path.last_match_end = -1;
            }
            path.idx += 1;
            next.push(path);
        }
        if next.is_empty() {
            // Unreachable with the jar's invariants; it then goes on with the best path.
            next.push(paths.swap_remove(0));
        }
    }
    let best = &best_first(next, 1)[0];

    let mut by_start = fixed;
    let mut node = best.node;
    while node != NO_NODE {
        let (m, parent) = arena[node as usize];
        by_start[m.start as usize] = Some(m);
        node = parent;
    }
    let matches: Vec<Match> = by_start.into_iter().flatten().collect();
    let chunks = count_chunks(&matches);
    Alignment { matches, chunks }
}

/// The match a path chose at reference position `at`, if any.
fn chosen_at(arena: &[(Match, u32)], mut node: u32, at: usize) -> Option<Match> {
    while node != NO_NODE {
        let (m, parent) = arena[node as usize];
        if m.start as usize == at {
            return Some(m);
        }
        node = parent;
    }
    None
}

/// Chunks of a final alignment (matches in reference order): a new chunk starts after a
/// reference gap or where the test side does not continue the previous match.
pub fn count_chunks(matches: &[Match]) -> u32 {
    let mut chunks = 0;
    let mut prev: Option<&Match> = None;
    for m in matches {
        let continues = prev.is_some_and(|p| {
            p.start + p.len == m.start && p.test_start + p.test_len == m.test_start
        });
        if !continues {
            chunks += 1;
        }
        prev = Some(m);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::meteor::matchers::Module;

    fn stage(ref_len: usize, test_len: usize, cands: &[Match]) -> Stage {
        let mut s = Stage {
            by_start: vec![Vec::new(); ref_len],
            test_coverage: vec![0; test_len],
            ref_coverage: vec![0; ref_len],
        };
        for c in cands {
            s.by_start[c.start as usize].push(*c);
            for k in c.test_start..c.test_start + c.test_len {
                s.test_coverage[k as usize] += 1;
            }
            for k in c.start..c.start + c.len {
                s.ref_coverage[k as usize] += 1;
            }
        }
        s
    }

    #[test]
    fn identity_is_one_chunk() {
        let c: Vec<Match> = (0..4)
            .map(|i| Match::at(Module::Exact, i, 1, i, 1))
            .collect();
        let a = align(&stage(4, 4, &c), 4);
        assert_eq!(a.matches, c);
        assert_eq!(a.chunks, 1);
    }

    #[test]
    fn swapped_halves_are_two_chunks() {
        // test: c d a b ; reference: a b c d
        let c = [
            Match::at(Module::Exact, 0, 1, 2, 1),
            Match::at(Module::Exact, 1, 1, 3, 1),
            Match::at(Module::Exact, 2, 1, 0, 1),
            Match::at(Module::Exact, 3, 1, 1, 1),
        ];
        let a = align(&stage(4, 4, &c), 4);
        assert_eq!(a.matches.len(), 4);
        assert_eq!(a.chunks, 2);
    }

    #[test]
    fn repeated_word_prefers_the_contiguous_choice() {
        // test: the cat the dog ; reference: the dog
        // "the" (ref 0) can match test 0 or 2; taking test 2 makes one chunk with "dog".
        let c = [
            Match::at(Module::Exact, 0, 1, 0, 1),
            Match::at(Module::Exact, 0, 1, 2, 1),
            Match::at(Module::Exact, 1, 1, 3, 1),
        ];
        let a = align(&stage(2, 4, &c), 4);
        assert_eq!(a.matches, vec![c[1], c[2]]);
        assert_eq!(a.chunks, 1);
    }

    #[test]
    fn a_two_word_paraphrase_outlasts_an_exact_word() {
        // reference: big dog ; test: big hound. Exact "big" adds 1 + 1 weighted words, the
        // two-word paraphrase floor(2 * 0.5) = 1 per side: a tie. Skipping "dog" closes the
        // exact path's chunk one step before the paraphrase path's, which then ranks first and
        // stays first when both end with one chunk.
        let c = [
            Match::at(Module::Exact, 0, 1, 0, 1),
            Match::at(Module::Paraphrase, 0, 2, 0, 2),
        ];
        let a = align(&stage(2, 2, &c), 2);
        assert_eq!(a.matches, vec![c[1]]);
        assert_eq!(a.chunks, 1);
    }

    #[test]
    fn one_word_non_exact_matches_add_nothing_to_the_ranking() {
        // Two stem candidates for one reference word: both paths tie with the skip path on
        // weighted matches (0), the stem paths have more chunks (1 vs 0), so the search keeps
        // skipping: the word stays unmatched.
        let c = [
            Match::at(Module::Stem, 0, 1, 0, 1),
            Match::at(Module::Stem, 0, 1, 1, 1),
        ];
        let a = align(&stage(1, 2, &c), 2);
        assert!(a.matches.is_empty());
        // A lone stem candidate is fixed before the search and kept.
        let c = [Match::at(Module::Stem, 0, 1, 0, 1)];
        assert_eq!(align(&stage(1, 1, &c), 1).matches, c.to_vec());
    }

    #[test]
    fn empty_segments() {
        assert_eq!(align(&stage(0, 0, &[]), 0), Alignment::default());
        assert_eq!(align(&stage(3, 0, &[]), 0).chunks, 0);
    }

    #[test]
    fn chunk_counting() {
        let a = Match::at(Module::Exact, 0, 1, 0, 1);
        let b = Match::at(Module::Exact, 1, 1, 1, 1);
        let gap = Match::at(Module::Exact, 3, 1, 2, 1);
        let back = Match::at(Module::Exact, 4, 1, 0, 1);
        assert_eq!(count_chunks(&[]), 0);
        assert_eq!(count_chunks(&[a, b]), 1);
        assert_eq!(count_chunks(&[a, b, gap]), 2);
        assert_eq!(count_chunks(&[a, back]), 2);
    }
}
