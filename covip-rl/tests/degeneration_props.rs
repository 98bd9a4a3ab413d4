//! Randomised properties of the degeneration filter (fixed seeds) and the length limit through
//! a real `tokenizers::Tokenizer`.
use covip_data::rng::SeededRng;
use covip_rl::{DegenerationConfig, DegenerationFilter};

fn word(rng: &mut SeededRng) -> String {
    let len = 2 + rng.below(7);
    (0..len)
        .map(|_| (b'a' + rng.below(26) as u8) as char)
        .collect()
}

fn sentence(rng: &mut SeededRng) -> String {
    let n = 3 + rng.below(6);
    let mut s: Vec<String> = (0..n).map(|_| word(rng)).collect();
    s[0] = format!("{}{}", s[0][..1].to_uppercase(), &s[0][1..]);
    format!("{}.", s.join(" "))
}

#[test]
fn repeating_a_sentence_enough_times_flips_the_sentence_level() {
    let mut rng = SeededRng::new(0xdead_beef);
    let filter = DegenerationFilter::new(DegenerationConfig::default());
    for _ in 0..300 {
        let distinct = rng.below(12);
        let mut parts: Vec<String> = (0..distinct).map(|_| sentence(&mut rng)).collect();
        let rep = sentence(&mut rng);
        // (k − 1)/(k + distinct) ≥ 0.3 ⇔ k ≥ (1 + 0.3·distinct)/0.7; also ≥ 4 sentences.
        let k = (((1.0 + 0.3 * distinct as f64) / 0.7).ceil() as usize).max(4);
        for _ in 0..k {
            let at = rng.below(parts.len() + 1);
            parts.insert(at, rep.clone());
        }
        let text = parts.join(if rng.below(2) == 0 { " " } else { "\n" });
        let r = filter.report(&text).unwrap();
        let ratio = r.sentence_ratio.expect("at least 4 sentences");
        // Random words can collide, making more duplicates, never fewer.
        assert!(ratio >= 0.3, "{ratio} for {text:?}");
        assert!(r.degenerate && filter.is_degenerate(&text).unwrap());
    }
}

#[test]
fn ratios_stay_in_unit_interval_and_none_exactly_below_minimum_sizes() {
    let mut rng = SeededRng::new(12345);
    let c = DegenerationConfig::default();
    let filter = DegenerationFilter::new(c.clone());
    for _ in 0..500 {
        let vocab: Vec<String> = (0..1 + rng.below(30)).map(|_| word(&mut rng)).collect();
        let n = rng.below(200);
        let mut text = String::new();
        for _ in 0..n {
            text.push_str(&vocab[rng.below(vocab.len())]);
            text.push_str([" ", ". ", "! ", "\t", "?? "][rng.below(5)]);
        }
        let r = filter.report(&text).unwrap();
        let words = text.split_whitespace().count();
        for x in [r.sentence_ratio, r.ngram_ratio]
            .into_iter()
            .chain(r.chunk_ratios.iter().map(|x| x.1))
            .flatten()
        {
            assert!((0.0..=1.0).contains(&x), "{x}");
        }
        assert_eq!(r.ngram_ratio.is_some(), words >= 20, "{words}");
        for (size, ratio) in &r.chunk_ratios {
            assert_eq!(ratio.is_some(), words >= 2 * size);
        }
        assert_eq!(filter.is_degenerate(&text).unwrap(), r.degenerate);
        let expect = r.sentence_ratio.is_some_and(|x| x >= 0.3)
            || r.ngram_ratio.is_some_and(|x| x >= 0.3)
            || r.chunk_ratios
                .iter()
                .any(|(_, x)| x.is_some_and(|x| x >= 0.2));
        assert_eq!(r.degenerate, expect);
    }
}

#[test]
fn distinct_words_are_never_repetitive() {
    let filter = DegenerationFilter::default();
    let text: Vec<String> = (0..600).map(|i| format!("w{i}")).collect();
    let r = filter.report(&text.join(" ")).unwrap();
    assert_eq!(r.ngram_ratio, Some(0.0));
    assert!(r.chunk_ratios.iter().all(|(_, x)| *x == Some(0.0)));
    assert!(!r.degenerate);
}

#[test]
fn thresholds_are_configurable() {
    let text = "a b c d e f g h i j a b c d e f g h i j"; // 20 words, 5-gram ratio 6/16
    let strict = DegenerationFilter::new(DegenerationConfig {
        ngram_threshold: 0.4,
        chunk_threshold: 0.5,
        ..Default::default()
    });
    assert!(!strict.report(text).unwrap().degenerate);
    assert!(
        DegenerationFilter::default()
            .report(text)
            .unwrap()
            .degenerate
    );
    let small = DegenerationFilter::new(DegenerationConfig {
        chunk_sizes: vec![3],
        ..Default::default()
    });
    let r = small.report(text).unwrap();
    assert_eq!(r.chunk_ratios.len(), 1);
    assert_eq!(r.chunk_ratio(3), Some(16.0 / 18.0));
}

#[test]
#[cfg(feature = "tokenizers")]
fn length_limit_through_a_real_tokenizer() {
    use covip_rl::TokenCounter;
    use std::sync::Arc;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tokenizer_wordlevel.json"
    );
    let tok = tokenizers::Tokenizer::from_file(path).unwrap();
    // "the dog sleeps." = 4 tokens (the Whitespace pre-tokenizer splits the period off).
    assert_eq!(tok.count_tokens("the dog sleeps.").unwrap(), 4);
    let filter = DegenerationFilter::new(DegenerationConfig {
        max_tokens: 7,
        ..Default::default()
    })
    .with_token_counter(Arc::new(tok));
    let two = "The dog sleeps. A cat purrs.";
    let r = filter.report(two).unwrap();
    assert_eq!(r.token_count, Some(8));
    assert!(r.too_long && r.degenerate && !r.repetitive);
    assert!(filter.is_degenerate(two).unwrap());
    let r = filter.report("the dog sleeps.").unwrap();
    assert_eq!(
        (r.token_count, r.too_long, r.degenerate),
        (Some(4), false, false)
    );
}
