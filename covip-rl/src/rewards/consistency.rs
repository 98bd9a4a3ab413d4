//! Object-consistency reward for task `vision` (SPEC §4.4, from RePIC).

/// The first `yes` or `no` substring of the lower-cased text, anywhere (even inside a word such
/// as "know" or "eyes"), or `None` when neither occurs.
///
/// ```
/// use covip_rl::rewards::consistency::first_yes_no;
/// assert_eq!(first_yes_no("I KNOW it is there: Yes."), Some(false)); // "know" holds "no"
/// assert_eq!(first_yes_no("Yes, it is."), Some(true));
/// assert_eq!(first_yes_no("maybe"), None);
/// ```
pub fn first_yes_no(text: &str) -> Option<bool> {
    let lower = text.to_lowercase();
    let b = lower.as_bytes();
    for i in 0..b.len() {
        if b[i..].starts_with(b"yes") {
            return Some(true);
        }
        if b[i..].starts_with(b"no") {
            return Some(false);
        }
    }
    None
}

/// 1 when the completion's and the gold answer's first `yes`/`no` both exist and agree, else 0.
///
/// ```
/// use covip_rl::consistency_reward;
/// assert_eq!(consistency_reward("Yes, the same mug.", "yes"), 1.0);
/// assert_eq!(consistency_reward("No.", "yes"), 0.0);
/// assert_eq!(consistency_reward("It is there.", "yes"), 0.0);
/// ```
pub fn consistency_reward(completion: &str, gold: &str) -> f64 {
    match (first_yes_no(completion), first_yes_no(gold)) {
        (Some(a), Some(b)) if a == b => 1.0,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_semantics() {
        assert_eq!(first_yes_no("EYES open, no"), Some(true));
        assert_eq!(first_yes_no("Nobody; yes"), Some(false));
        assert_eq!(first_yes_no("ÉNORME"), Some(false));
        assert_eq!(first_yes_no(""), None);
        assert_eq!(consistency_reward("I don't know", "no"), 1.0);
        assert_eq!(consistency_reward("yes", "maybe"), 0.0);
        assert_eq!(consistency_reward("", ""), 0.0);
    }
}
