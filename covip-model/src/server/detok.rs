//! Text of a choice as its tokens arrive: incremental detokenisation that never splits a
//! UTF-8 character, `stop` strings, and the per-choice bookkeeping of a running request.
use crate::engine::{EngineEvent, TokenLogprob};
use crate::generate::generator::FinishReason;
use crate::processor::QwenTokenizer;

/// Decodes a growing token list into text that only ever grows (vLLM's prefix/read offsets):
/// the text of the newest tokens is held back while it ends in an incomplete character (a
/// byte-level token may carry half of one), and when its decoding depends on what follows.
#[derive(Debug, Clone, Default)]
pub struct IncrementalText {
    tokens: Vec<u32>,
    prefix_offset: usize,
    read_offset: usize,
    /// The stable text so far.
    pub text: String,
}

impl IncrementalText {
    /// Appends `token`; the text grows when its decoding is complete.
    pub fn push(&mut self, tok: &QwenTokenizer, token: u32, skip_special: bool) {
        self.tokens.push(token);
        self.advance(tok, skip_special, false);
    }

    /// Appends whatever is still held back (at the end of the choice), incomplete characters
    /// included as U+FFFD.
    pub fn flush(&mut self, tok: &QwenTokenizer, skip_special: bool) {
        self.advance(tok, skip_special, true);
    }

    fn advance(&mut self, tok: &QwenTokenizer, skip_special: bool, last: bool) {
        let decode = |ids: &[u32]| tok.decode(ids, skip_special).unwrap_or_default();
        let prefix = decode(&self.tokens[self.prefix_offset..self.read_offset]);
        let full = decode(&self.tokens[self.prefix_offset..]);
        if full.len() > prefix.len()
            && (last || !full.ends_with('\u{FFFD}'))
            && let Some(new) = full.get(prefix.len()..)
        {
            self.text.push_str(new);
            self.prefix_offset = self.read_offset;
            self.read_offset = self.tokens.len();
        }
    }
}

/// How a choice ended, as the API names it.
pub fn finish_name(r: FinishReason) -> &'static str {
    match r {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

/// One choice of a running request.
#[derive(Debug, Clone, Default)]
pub struct ChoiceState {
    pub text: IncrementalText,
    /// Bytes of `text` up to which stop strings were searched.
    searched: usize,
    /// Bytes of the text already streamed.
    pub emitted: usize,
    /// Tokens generated (the stop token included, as vLLM counts them).
    pub tokens: usize,
    /// Each generated token with its log-probs (when asked for).
    pub logprobs: Vec<(u32, TokenLogprob)>,
    /// Text offset of each token with log-probs (completions' `text_offset`).
    pub offsets: Vec<usize>,
    /// Log-prob entries already streamed.
    pub logprobs_sent: usize,
    pub finish: Option<&'static str>,
}

/// What one engine event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Choice `c` changed (text, log-probs or its end).
    Touched(usize),
    /// Choice `c` hit a stop string: it has ended here and must be cancelled in the engine.
    StopString(usize),
    /// Nothing changed (an event for a choice already ended).
    Nothing,
    /// The request failed as a whole.
    Failed(String),
}

/// The choices of one request and the rules that end them.
#[derive(Debug, Clone)]
pub struct RequestText {
    pub choices: Vec<ChoiceState>,
    stops: Vec<String>,
    max_stop: usize,
    stop_ids: Vec<u32>,
    skip_special: bool,
}

impl RequestText {
    pub fn new(n: usize, stops: Vec<String>, stop_ids: Vec<u32>, skip_special: bool) -> Self {
        let max_stop = stops.iter().map(String::len).max().unwrap_or(0);
        RequestText {
            choices: vec![ChoiceState::default(); n],
            stops,
            max_stop,
            stop_ids,
            skip_special,
        }
    }

    pub fn all_done(&self) -> bool {
        self.choices.iter().all(|c| c.finish.is_some())
    }

    /// Tokens generated over all choices.
    pub fn completion_tokens(&self) -> usize {
        self.choices.iter().map(|c| c.tokens).sum()
    }

    /// Takes one engine event.
    pub fn apply(&mut self, tok: &QwenTokenizer, ev: EngineEvent) -> Applied {
        match ev {
            EngineEvent::Failed { message } => Applied::Failed(message),
            EngineEvent::Token {
                choice,
                token,
                logprob,
            } => {
                let Some(c) = self.choices.get_mut(choice) else {
                    return Applied::Nothing;
                };
                if c.finish.is_some() {
                    return Applied::Nothing;
                }
                c.tokens += 1;
                if let Some(lp) = logprob {
                    c.offsets.push(c.text.text.len());
                    c.logprobs.push((token, lp));
                }
                // The end-of-sequence token is reported but is not text.
                if !self.stop_ids.contains(&token) {
                    c.text.push(tok, token, self.skip_special);
                }
                if cut_at_stop(c, &self.stops, self.max_stop) {
                    c.finish = Some("stop");
                    return Applied::StopString(choice);
                }
                Applied::Touched(choice)
            }
            EngineEvent::Finished { choice, reason } => {
                let Some(c) = self.choices.get_mut(choice) else {
                    return Applied::Nothing;
                };
                if c.finish.is_some() {
                    return Applied::Nothing;
                }
                c.text.flush(tok, self.skip_special);
                c.finish = Some(if cut_at_stop(c, &self.stops, self.max_stop) {
                    "stop"
                } else {
                    finish_name(reason)
                });
                Applied::Touched(choice)
            }
        }
    }

    /// Streaming: the text of choice `c` not yet sent, keeping back what could still turn out
    /// to begin a stop string (everything once the choice has ended).
    pub fn take_delta(&mut self, c: usize) -> String {
        let hold = self.max_stop.saturating_sub(1);
        let Some(st) = self.choices.get_mut(c) else {
            return String::new();
        };
        let text = &st.text.text;
        let mut end = if st.finish.is_some() {
            text.len()
        } else {
            text.len().saturating_sub(hold)
        };
        while end > st.emitted && !text.is_char_boundary(end) {
            end -= 1;
        }
        if end <= st.emitted {
            return String::new();
        }
        let out = text[st.emitted..end].to_string();
        st.emitted = end;
        out
    }
}

/// Cuts the choice's text before the first stop string in it; true when one was found.
fn cut_at_stop(c: &mut ChoiceState, stops: &[String], max_stop: usize) -> bool {
    if stops.is_empty() {
        return false;
    }
    let text = &mut c.text.text;
    // Only text that arrived since the last search (plus an overlap the length of the
    // longest stop string) can hold a new match.
    let mut from = c.searched.saturating_sub(max_stop.saturating_sub(1));
    while from > 0 && !text.is_char_boundary(from) {
        from -= 1;
    }
    let hit = stops
        .iter()
        .filter_map(|s| text[from..].find(s.as_str()).map(|p| from + p))
        .min();
    match hit {
        Some(p) => {
            text.truncate(p);
            c.emitted = c.emitted.min(p);
            c.searched = p;
            true
        }
        None => {
            c.searched = text.len();
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::generator::FinishReason;

    fn tokenizer() -> QwenTokenizer {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-qwen3-vl");
        QwenTokenizer::from_dir(&dir).unwrap()
    }

    fn token(choice: usize, token: u32) -> EngineEvent {
        EngineEvent::Token {
            choice,
            token,
            logprob: None,
        }
    }

    #[test]
    fn streamed_deltas_never_split_a_character_and_add_up() {
        let tok = tokenizer();
        let text = "héllo wörld — ünïcode ✓ done";
        let ids = tok.encode(text).unwrap();
        assert!(ids.len() > 5);
        let mut r = RequestText::new(1, Vec::new(), vec![], true);
        let mut streamed = String::new();
        for &id in &ids {
            assert_eq!(r.apply(&tok, token(0, id)), Applied::Touched(0));
            // Every delta is whole characters (a `String` could not hold anything else) and
            // the stable text never holds U+FFFD for this valid input.
            streamed.push_str(&r.take_delta(0));
            assert!(!r.choices[0].text.text.contains('\u{FFFD}'));
        }
        r.apply(
            &tok,
            EngineEvent::Finished {
                choice: 0,
                reason: FinishReason::Length,
            },
        );
        streamed.push_str(&r.take_delta(0));
        assert_eq!(streamed, tok.decode(&ids, true).unwrap());
        assert_eq!(r.choices[0].finish, Some("length"));
        assert_eq!(r.completion_tokens(), ids.len());
    }

    #[test]
    fn a_stop_string_cuts_the_text_and_ends_the_choice() {
        let tok = tokenizer();
        let ids = tok.encode("one two three four five").unwrap();
        let mut r = RequestText::new(2, vec!["thr".into(), "zzz".into()], vec![], true);
        let mut streamed = String::new();
        let mut stopped = false;
        for &id in &ids {
            match r.apply(&tok, token(1, id)) {
                Applied::StopString(1) => {
                    stopped = true;
                    streamed.push_str(&r.take_delta(1));
                    break;
                }
                Applied::Touched(1) => streamed.push_str(&r.take_delta(1)),
                other => panic!("{other:?}"),
            }
            // Held back: nothing that could begin a stop string has been sent.
            assert!("one two ".starts_with(&streamed), "{streamed:?}");
        }
        assert!(stopped);
        assert_eq!(r.choices[1].text.text, "one two ");
        assert_eq!(streamed, "one two ");
        assert_eq!(r.choices[1].finish, Some("stop"));
        assert!(!r.all_done(), "choice 0 is still going");
        // Later events of an ended choice change nothing.
        assert_eq!(r.apply(&tok, token(1, ids[0])), Applied::Nothing);
        // The end-of-sequence token counts but is not text.
        let eos = 7;
        let mut r = RequestText::new(1, vec![], vec![eos], true);
        r.apply(&tok, token(0, ids[0]));
        r.apply(&tok, token(0, eos));
        r.apply(
            &tok,
            EngineEvent::Finished {
                choice: 0,
                reason: FinishReason::Stop,
            },
        );
        assert_eq!(r.choices[0].text.text, tok.decode(&ids[..1], true).unwrap());
        assert_eq!(
            (r.completion_tokens(), r.choices[0].finish),
            (2, Some("stop"))
        );
        assert!(r.all_done());
    }
}
