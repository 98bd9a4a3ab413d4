//! What a step samples and rewards: the seeded data cursor, the training prompts (SPEC §5: no
//! system turn, no vision ids, the random query header, a random name for the `vision` task),
//! the completion mask and the reward records.
use std::sync::Arc;
use std::time::Instant;

use covip_data::TaskKind;
use covip_data::prompt::{
    Message, QueryHeader, Templates, caption_prompt, consistency_prompt, recognition_prompt,
};
use covip_data::rng::SeededRng;
use covip_data::sample::Sample;
use serde_json::Value;

use super::TrainError;
use crate::judge::Judge;
use crate::records::RewardSettings;
use crate::records::{CaptionRecord, ConsistencyRecord, RecognitionRecord, RewardRecord};

/// Mixes `seed` with a stream tag and two indices into an independent 64-bit seed (SplitMix64
/// steps, fixed forever like [`SeededRng`]).
pub fn derive_seed(seed: u64, tag: u64, a: u64, b: u64) -> u64 {
    let mut r = SeededRng::new(seed);
    for x in [tag, a, b] {
        let v = r.next_u64() ^ x.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        r = SeededRng::new(v);
    }
    r.next_u64()
}

/// Stream tags of [`derive_seed`].
pub const TAG_ORDER: u64 = 1;
pub const TAG_PROMPT: u64 = 2;
pub const TAG_ROLLOUT: u64 = 3;
pub const TAG_DROPOUT: u64 = 4;

/// The data cursor: each epoch is its own seeded permutation of the training list, cut into
/// batches of `batch_size` (the last one of an epoch may be smaller). Which prompts step `s`
/// takes is a function of the seed and `s` alone, so a resumed run takes the same ones.
#[derive(Clone, Debug)]
pub struct DataCursor {
    pub prompts: usize,
    pub batch_size: usize,
    pub seed: u64,
}

impl DataCursor {
    pub fn steps_per_epoch(&self) -> usize {
        self.prompts.div_ceil(self.batch_size.max(1)).max(1)
    }

    /// The permutation of epoch `e`.
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.prompts).collect();
        SeededRng::new(derive_seed(self.seed, TAG_ORDER, epoch as u64, 0)).shuffle(&mut v);
        v
    }

    /// Step `step` (from 1): its epoch (from 0), the position of its first prompt in that
    /// epoch's order, and the prompt indices.
    pub fn batch(&self, step: usize) -> (usize, usize, Vec<usize>) {
        let s = step.saturating_sub(1);
        let epoch = s / self.steps_per_epoch();
        let start = (s % self.steps_per_epoch()) * self.batch_size;
        let end = (start + self.batch_size).min(self.prompts);
        let order = self.order(epoch);
        (epoch, start, order[start..end].to_vec())
    }

    /// Where the cursor stands after step `step`: (epoch, position) of the next prompt.
    pub fn after(&self, step: usize) -> (usize, usize) {
        let spe = self.steps_per_epoch();
        (step / spe, (step % spe) * self.batch_size)
    }
}

/// Fake names for the `vision` task's object (the release draws Korean and Spanish names;
/// these are ours).
pub const FAKE_NAMES: [&str; 16] = [
    "Minjun",
    "Seoyeon",
    "Jiho",
    "Haeun",
    "Doyun",
    "Sua",
    "Eunwoo",
    "Jiwon",
    "Mateo",
    "Lucía",
    "Santiago",
    "Valentina",
    "Diego",
    "Camila",
    "Alejandro",
    "Ximena",
];

/// The training conversation of `sample` (one user turn, no system turn), its random parts
/// drawn from `rng`: the query header for captions, the object's name for `vision`.
pub fn training_messages(sample: &Sample, rng: &mut SeededRng, t: &Templates) -> Vec<Message> {
    match sample.task {
        TaskKind::Caption => {
            caption_prompt(&sample.context, &sample.query, QueryHeader::draw(rng), t)
        }
        TaskKind::MultiVision => {
            let concepts: Vec<_> = sample.context.iter().map(|c| c.image.clone()).collect();
            recognition_prompt(&concepts, &sample.query, t)
        }
        TaskKind::Vision => {
            let name = FAKE_NAMES[rng.below(FAKE_NAMES.len())];
            // A vision record has exactly one context image (covip-data's reader checks).
            let first = sample
                .context
                .first()
                .map(|c| c.image.clone())
                .unwrap_or_else(|| sample.query.clone());
            consistency_prompt(&first, &sample.query, name, t)
        }
    }
}

/// The completion mask's length (SPEC §5): the tokens up to and including the first stop id,
/// the whole width when there is none.
pub fn completion_len(tokens: &[u32], stop_ids: &[u32]) -> usize {
    tokens
        .iter()
        .position(|t| stop_ids.contains(t))
        .map_or(tokens.len(), |i| i + 1)
}

/// The length of a completion as scored and rewarded: [`completion_len`], cut before the first
/// image or video placeholder id the policy sampled (a placeholder in the continuation would
/// be read as an image that is not there, and the log-prob pass refuses it). Such samples are
/// rare with a trained model and top-k / top-p; the cut is logged.
pub fn scored_len(tokens: &[u32], stop_ids: &[u32], placeholder_ids: &[u32]) -> usize {
    let n = completion_len(tokens, stop_ids);
    match tokens[..n].iter().position(|t| placeholder_ids.contains(t)) {
        Some(i) => {
            tracing::warn!(
                "a rollout sampled an image placeholder token at position {i}: cut there"
            );
            i
        }
        None => n,
    }
}

/// The reward record of one completion of `sample`.
pub fn reward_record(sample: &Sample, completion: &str) -> RewardRecord {
    let id = Value::String(sample.id.clone());
    let completion = completion.to_string();
    match sample.task {
        TaskKind::Caption => RewardRecord::Caption(CaptionRecord {
            id,
            completion,
            pos_qas: sample.pos_qas().into_iter().map(<[_]>::to_vec).collect(),
            neg_qas: sample.neg_qas().into_iter().cloned().collect(),
            judge_pos: None,
            judge_neg: None,
        }),
        TaskKind::MultiVision => RewardRecord::MultiVision(RecognitionRecord {
            id,
            completion,
            answer: sample.gold.iter().map(|&g| g as i64).collect(),
        }),
        TaskKind::Vision => RewardRecord::Vision(ConsistencyRecord {
            id,
            completion,
            answer: if sample.yes_no == Some(true) {
                "yes"
            } else {
                "no"
            }
            .to_string(),
        }),
    }
}

/// A reward of a completion given its sample, instead of the records and a judge (for tests
/// and experiments with other tasks).
pub type RewardFn = Arc<dyn Fn(&Sample, &str) -> f64 + Send + Sync>;

/// Where rewards come from.
pub enum Rewarder {
    /// SPEC §4: each completion's reward record, captions through this judge.
    Judge(Box<dyn Judge>),
    /// A function of the sample and the completion text.
    Custom(RewardFn),
}

/// One completion's reward and, for a caption, whether the filter flagged it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    pub reward: f64,
    pub degenerate: Option<bool>,
}

/// Completions rewarded at once: a caption's QAs already go to the judge as one batch (an
/// OpenAI-compatible judge keeps up to its own concurrency of them in flight), and this many
/// captions are judged side by side.
pub const PARALLEL_RECORDS: usize = 4;

/// Rewards every `(sample, completion)`, results in order; returns them with the seconds
/// spent. Up to [`PARALLEL_RECORDS`] completions are rewarded at the same time. A failing
/// judge stops the step with an error naming the sample.
pub fn reward_all(
    rewarder: &Rewarder,
    settings: &RewardSettings,
    items: &[(&Sample, String)],
) -> Result<(Vec<Scored>, f64), TrainError> {
    let t0 = Instant::now();
    let one = |(sample, text): &(&Sample, String)| -> Result<Scored, TrainError> {
        Ok(match rewarder {
            Rewarder::Custom(f) => Scored {
                reward: f(sample, text),
                degenerate: None,
            },
            Rewarder::Judge(judge) => {
                let record = reward_record(sample, text);
                let r = record
                    .reward_with_judge(settings, judge.as_ref())
                    .map_err(|e| TrainError::Reward(format!("sample {}: {e}", sample.id)))?;
                Scored {
                    reward: r.reward,
                    degenerate: r.caption.map(|c| c.degenerate),
                }
            }
        })
    };
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(PARALLEL_RECORDS) {
        let results: Vec<Result<Scored, TrainError>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk.iter().map(|it| s.spawn(move || one(it))).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(TrainError::Reward("a reward thread panicked".into()))
                    })
                })
                .collect()
        });
        for r in results {
            out.push(r?);
        }
    }
    Ok((out, t0.elapsed().as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_mask_stops_after_the_first_stop_id() {
        assert_eq!(completion_len(&[5, 6, 9, 7, 9], &[9]), 3);
        assert_eq!(completion_len(&[5, 6, 7], &[9]), 3);
        assert_eq!(completion_len(&[8, 1], &[9, 8]), 1);
        assert_eq!(completion_len(&[], &[9]), 0);
        assert_eq!(scored_len(&[5, 6, 9, 7], &[9], &[6]), 1);
        assert_eq!(scored_len(&[5, 9, 6], &[9], &[6]), 2);
        assert_eq!(scored_len(&[6, 5], &[9], &[6]), 0);
    }

    #[test]
    fn cursor_covers_each_epoch_once_and_is_seeded() {
        let c = DataCursor {
            prompts: 5,
            batch_size: 2,
            seed: 42,
        };
        assert_eq!(c.steps_per_epoch(), 3);
        let mut seen = Vec::new();
        for s in 1..=3 {
            let (e, _, b) = c.batch(s);
            assert_eq!(e, 0);
            seen.extend(b);
        }
        seen.sort();
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        assert_eq!(c.batch(3).2.len(), 1);
        assert_eq!(c.batch(4).0, 1);
        assert_ne!(c.order(0), c.order(1));
        assert_eq!(c.after(3), (1, 0));
        assert_eq!(c.after(4), (1, 2));
        let other = DataCursor {
            seed: 7,
            ..c.clone()
        };
        assert_ne!(c.order(0), other.order(0));
    }

    #[test]
    fn rewards_keep_their_order_across_parallel_chunks() {
        let sample = Sample {
            id: "v".into(),
            context: Vec::new(),
            query: covip_data::ImageRef::path("q.png"),
            gold: Vec::new(),
            qas: Vec::new(),
            task: TaskKind::Vision,
            yes_no: Some(true),
        };
        let texts = ["Yes.", "no", "yes it is", "No!", "nope", "yes", "I know"];
        let items: Vec<(&Sample, String)> =
            texts.iter().map(|t| (&sample, t.to_string())).collect();
        let judge = Rewarder::Judge(Box::new(crate::judge::LexicalJudge::default()));
        let (scored, _) = reward_all(&judge, &RewardSettings::default(), &items).unwrap();
        let r: Vec<f64> = scored.iter().map(|s| s.reward).collect();
        // "I know" holds "no" (SPEC §4.4: the first yes/no substring anywhere).
        assert_eq!(r, [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]);
        let custom = Rewarder::Custom(Arc::new(|_, t: &str| t.len() as f64));
        let (scored, _) = reward_all(&custom, &RewardSettings::default(), &items).unwrap();
        let lens: Vec<f64> = texts.iter().map(|t| t.len() as f64).collect();
        assert_eq!(scored.iter().map(|s| s.reward).collect::<Vec<_>>(), lens);
    }

    #[test]
    fn derived_seeds_differ_by_every_input() {
        let s = derive_seed(42, TAG_ROLLOUT, 1, 0);
        assert_eq!(s, derive_seed(42, TAG_ROLLOUT, 1, 0));
        assert_ne!(s, derive_seed(43, TAG_ROLLOUT, 1, 0));
        assert_ne!(s, derive_seed(42, TAG_DROPOUT, 1, 0));
        assert_ne!(s, derive_seed(42, TAG_ROLLOUT, 2, 0));
        assert_ne!(s, derive_seed(42, TAG_ROLLOUT, 1, 1));
    }
}
