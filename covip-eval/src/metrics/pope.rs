//! POPE as its released evaluation script scores it: an answer is "no" when its first sentence
//! (text before the first `.`), with commas removed and split on single spaces, contains the
//! word `No`, `not` or `no`; otherwise "yes". A label is "no" only when it is exactly `no`.
//! Reports accuracy, precision, recall, F1 (positive class = yes) and the yes-ratio.

/// The released script's yes/no reading of a free-form answer (`true` = yes).
pub fn parse_yes_no(answer: &str) -> bool {
    let first = match answer.find('.') {
        Some(i) => &answer[..i],
        None => answer,
    };
    let text = first.replace(',', "");
    !text
        .split(' ')
        .any(|w| w == "No" || w == "not" || w == "no")
}

/// POPE scores.
#[derive(Debug, Clone, PartialEq)]
pub struct PopeScores {
    /// True positives (pred yes, label yes).
    pub tp: usize,
    /// False positives.
    pub fp: usize,
    /// True negatives.
    pub tn: usize,
    /// False negatives.
    pub fn_: usize,
    /// (TP + TN) / N.
    pub accuracy: f64,
    /// TP / (TP + FP); 0 when nothing was predicted yes (the script would divide by zero).
    pub precision: f64,
    /// TP / (TP + FN); 0 when no label is yes.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
    /// Share of yes predictions.
    pub yes_ratio: f64,
    /// Number of answers.
    pub n: usize,
}

/// Scores answers against labels (paired in order, as the script pairs them).
///
/// # Panics
/// If the slices differ in length or are empty (callers validate input first).
pub fn pope(answers: &[String], labels: &[String]) -> PopeScores {
    assert_eq!(answers.len(), labels.len(), "one label per answer");
    assert!(!answers.is_empty(), "no answers");
    let (mut tp, mut fp, mut tn, mut fn_) = (0, 0, 0, 0);
    let mut yes = 0;
    for (a, l) in answers.iter().zip(labels) {
        let pred = parse_yes_no(a);
        let label = l != "no";
        yes += pred as usize;
        match (pred, label) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = div(tp, tp + fp);
    let recall = div(tp, tp + fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    PopeScores {
        tp,
        fp,
        tn,
        fn_,
        accuracy: div(tp + tn, answers.len()),
        precision,
        recall,
        f1,
        yes_ratio: div(yes, answers.len()),
        n: answers.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_parsing_quirks() {
        assert!(parse_yes_no("Yes, there is a dog."));
        assert!(!parse_yes_no("No, there is no dog."));
        assert!(!parse_yes_no("There is not a dog"));
        // Only the first sentence counts.
        assert!(parse_yes_no("Yes. No."));
        // Case-sensitive word match: "NO" and "No," after comma removal.
        assert!(parse_yes_no("NO"));
        assert!(!parse_yes_no("No,"));
        // Anything else is yes.
        assert!(parse_yes_no("I cannot tell"));
    }

    #[test]
    fn scores() {
        let ans: Vec<String> = ["Yes", "No", "Yes", "No"].map(String::from).to_vec();
        let lab: Vec<String> = ["yes", "no", "no", "yes"].map(String::from).to_vec();
        let s = pope(&ans, &lab);
        assert_eq!((s.tp, s.fp, s.tn, s.fn_), (1, 1, 1, 1));
        assert_eq!(s.accuracy, 0.5);
        assert_eq!(s.f1, 0.5);
        assert_eq!(s.yes_ratio, 0.5);
    }
}
