//! Request parameters checked against vLLM's ranges and completed from the checkpoint's
//! `generation_config.json`, as vLLM completes them.
use crate::config::GenerationConfig;
use crate::generate::sampling::Sampling;
use crate::server::errors::ApiError;
use crate::server::protocol::SamplingFields;

/// Most `top_logprobs` / completions `logprobs` a request may ask for (vLLM's default
/// `max_logprobs`, OpenAI's limit).
pub const MAX_TOP_LOGPROBS: i64 = 20;
/// Most stop strings, and the longest one, a request may send (bounds the work per token).
pub const MAX_STOP_STRINGS: usize = 16;
pub const MAX_STOP_LEN: usize = 256;

/// Checked settings of one request, before its prompt length is known.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub sampling: Sampling,
    /// `None`: the rest of the context.
    pub max_tokens: Option<usize>,
    pub seed: Option<u64>,
    pub n: usize,
    pub stop: Vec<String>,
    /// Token ids that end a choice (the checkpoint's unless `ignore_eos`, plus the request's).
    pub stop_ids: Vec<u32>,
    pub stream: bool,
    pub include_usage: bool,
    pub skip_special_tokens: bool,
}

/// What the checks need to know about the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    pub generation: &'a GenerationConfig,
    pub checkpoint_stop_ids: &'a [u32],
    pub max_batch: usize,
    pub vocab: usize,
}

fn finite(name: &str, v: f64) -> Result<f64, ApiError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ApiError::bad(
            name,
            format!("{name} must be a finite number"),
        ))
    }
}

/// Checks `f` (with `max_tokens` from whichever field carried it) and fills what it omits.
pub fn resolve(
    f: &SamplingFields,
    max_tokens_field: (&str, Option<i64>),
    lim: Limits<'_>,
) -> Result<Params, ApiError> {
    let g = lim.generation;
    let temperature = match f.temperature {
        Some(t) => {
            let t = finite("temperature", t)?;
            if t < 0.0 {
                return Err(ApiError::bad(
                    "temperature",
                    format!("temperature must be non-negative, got {t}"),
                ));
            }
            Some(t as f32)
        }
        None => None,
    };
    let top_p = match f.top_p {
        Some(p) => {
            let p = finite("top_p", p)?;
            if !(p > 0.0 && p <= 1.0) {
                return Err(ApiError::bad(
                    "top_p",
                    format!("top_p must be in (0, 1], got {p}"),
                ));
            }
            p as f32
        }
        None => g.top_p.unwrap_or(1.0),
    };
    let top_k = match f.top_k {
        // vLLM: -1 (and 0) disable top-k.
        Some(-1) | Some(0) => 0,
        Some(k) if k > 0 => usize::try_from(k).unwrap_or(usize::MAX),
        Some(k) => {
            return Err(ApiError::bad(
                "top_k",
                format!("top_k must be -1 (disable), 0 (disable) or at least 1, got {k}"),
            ));
        }
        None => g.top_k.unwrap_or(0),
    };
    let min_p = match f.min_p {
        Some(p) => {
            let p = finite("min_p", p)?;
            if !(0.0..=1.0).contains(&p) {
                return Err(ApiError::bad(
                    "min_p",
                    format!("min_p must be in [0, 1], got {p}"),
                ));
            }
            p as f32
        }
        None => g.min_p.unwrap_or(0.0),
    };
    let penalty = |name: &str, v: Option<f64>, default: f32| -> Result<f32, ApiError> {
        match v {
            Some(v) => {
                let v = finite(name, v)?;
                if !(-2.0..=2.0).contains(&v) {
                    return Err(ApiError::bad(
                        name,
                        format!("{name} must be in [-2, 2], got {v}"),
                    ));
                }
                Ok(v as f32)
            }
            None => Ok(default),
        }
    };
    let presence_penalty = penalty(
        "presence_penalty",
        f.presence_penalty,
        g.presence_penalty.unwrap_or(0.0),
    )?;
    let frequency_penalty = penalty("frequency_penalty", f.frequency_penalty, 0.0)?;
    let repetition_penalty = match f.repetition_penalty {
        Some(r) => {
            let r = finite("repetition_penalty", r)?;
            if !(r > 0.0 && r <= 2.0) {
                return Err(ApiError::bad(
                    "repetition_penalty",
                    format!("repetition_penalty must be in (0, 2], got {r}"),
                ));
            }
            r as f32
        }
        None => g.repetition_penalty.unwrap_or(1.0),
    };
    // vLLM: an omitted temperature takes the checkpoint's, else 1.0 (sampling); the
    // checkpoint's `do_sample: false` makes the default greedy, as transformers reads it.
    let (do_sample, temperature) = match temperature {
        Some(t) => (t > 0.0, if t > 0.0 { t } else { 1.0 }),
        None => {
            let t = g.temperature.unwrap_or(1.0);
            (
                g.do_sample != Some(false) && t > 0.0,
                if t > 0.0 { t } else { 1.0 },
            )
        }
    };
    let (mt_name, mt) = max_tokens_field;
    let max_tokens = match mt {
        Some(m) if m >= 1 => Some(usize::try_from(m).unwrap_or(usize::MAX)),
        Some(m) => {
            return Err(ApiError::bad(
                mt_name,
                format!("{mt_name} must be at least 1, got {m}"),
            ));
        }
        None => None,
    };
    let n = match f.n {
        None => 1,
        Some(n) if n >= 1 && n as u64 <= lim.max_batch as u64 => n as usize,
        Some(n) => {
            return Err(ApiError::bad(
                "n",
                format!(
                    "n must be between 1 and the server's batch size {} (--max-batch), got {n}",
                    lim.max_batch
                ),
            ));
        }
    };
    if f.stop.len() > MAX_STOP_STRINGS {
        return Err(ApiError::bad(
            "stop",
            format!(
                "at most {MAX_STOP_STRINGS} stop strings are taken, got {}",
                f.stop.len()
            ),
        ));
    }
    for (i, s) in f.stop.iter().enumerate() {
        if s.is_empty() || s.len() > MAX_STOP_LEN {
            return Err(ApiError::bad(
                format!("stop[{i}]"),
                format!(
                    "stop[{i}]: a stop string must have 1 to {MAX_STOP_LEN} bytes, got {}",
                    s.len()
                ),
            ));
        }
    }
    for (i, &t) in f.stop_token_ids.iter().enumerate() {
        if t as usize >= lim.vocab {
            return Err(ApiError::bad(
                format!("stop_token_ids[{i}]"),
                format!(
                    "stop_token_ids[{i}]: token id {t} is outside the vocabulary of {} tokens",
                    lim.vocab
                ),
            ));
        }
    }
    let mut stop_ids: Vec<u32> = if f.ignore_eos {
        Vec::new()
    } else {
        lim.checkpoint_stop_ids.to_vec()
    };
    for &t in &f.stop_token_ids {
        if !stop_ids.contains(&t) {
            stop_ids.push(t);
        }
    }
    Ok(Params {
        sampling: Sampling {
            do_sample,
            temperature,
            top_k,
            top_p,
            min_p,
            repetition_penalty,
            presence_penalty,
            frequency_penalty,
        },
        max_tokens,
        // Seeds are 64-bit patterns: a negative seed is as good as any.
        seed: f.seed.map(|s| s as u64),
        n,
        stop: f.stop.clone(),
        stop_ids,
        stream: f.stream,
        include_usage: f.include_usage,
        skip_special_tokens: f.skip_special_tokens,
    })
}

/// The number of new tokens a request gets: its `max_tokens`, or the rest of the context;
/// a prompt that leaves no room, or a `max_tokens` past the context, is a 400.
pub fn budget(
    prompt_len: usize,
    max_tokens: Option<usize>,
    max_len: usize,
    prompt_field: &str,
    max_tokens_field: &str,
) -> Result<usize, ApiError> {
    if prompt_len == 0 {
        return Err(ApiError::bad(prompt_field, "the prompt is empty"));
    }
    if prompt_len >= max_len {
        return Err(ApiError::bad(
            prompt_field,
            format!(
                "this model's maximum context length is {max_len} tokens, but the prompt has \
                 {prompt_len} tokens, which leaves no room for a completion; shorten the prompt"
            ),
        ));
    }
    let room = max_len - prompt_len;
    match max_tokens {
        None => Ok(room),
        Some(m) if m <= room => Ok(m),
        Some(m) => Err(ApiError::bad(
            max_tokens_field,
            format!(
                "this model's maximum context length is {max_len} tokens; you requested {} \
                 tokens ({prompt_len} in the prompt, {m} in the completion); reduce the \
                 prompt or {max_tokens_field}",
                prompt_len.saturating_add(m)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(g: &GenerationConfig) -> Limits<'_> {
        Limits {
            generation: g,
            checkpoint_stop_ids: &[7],
            max_batch: 4,
            vocab: 100,
        }
    }

    fn fields() -> SamplingFields {
        SamplingFields {
            skip_special_tokens: true,
            ..Default::default()
        }
    }

    #[test]
    fn omitted_fields_take_the_checkpoint_values() {
        let g = GenerationConfig {
            do_sample: Some(true),
            temperature: Some(0.7),
            top_k: Some(20),
            top_p: Some(0.8),
            repetition_penalty: Some(1.05),
            ..Default::default()
        };
        let p = resolve(&fields(), ("max_tokens", None), lim(&g)).unwrap();
        assert!(p.sampling.do_sample);
        assert_eq!(
            (p.sampling.temperature, p.sampling.top_k, p.sampling.top_p),
            (0.7, 20, 0.8)
        );
        assert_eq!(p.sampling.repetition_penalty, 1.05);
        assert_eq!(p.stop_ids, vec![7]);
        // The request wins; temperature 0 is greedy.
        let f = SamplingFields {
            temperature: Some(0.0),
            top_k: Some(-1),
            ..fields()
        };
        let p = resolve(&f, ("max_tokens", None), lim(&g)).unwrap();
        assert!(p.sampling.is_greedy());
        assert_eq!(p.sampling.top_k, 0);
        // do_sample false in the checkpoint: greedy by default.
        let g = GenerationConfig {
            do_sample: Some(false),
            ..Default::default()
        };
        let p = resolve(&fields(), ("max_tokens", None), lim(&g)).unwrap();
        assert!(p.sampling.is_greedy());
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        let g = GenerationConfig::default();
        let cases: Vec<(SamplingFields, &str)> = vec![
            (
                SamplingFields {
                    temperature: Some(-0.5),
                    ..fields()
                },
                "temperature",
            ),
            (
                SamplingFields {
                    top_p: Some(0.0),
                    ..fields()
                },
                "top_p",
            ),
            (
                SamplingFields {
                    top_p: Some(1.5),
                    ..fields()
                },
                "top_p",
            ),
            (
                SamplingFields {
                    top_k: Some(-3),
                    ..fields()
                },
                "top_k",
            ),
            (
                SamplingFields {
                    min_p: Some(2.0),
                    ..fields()
                },
                "min_p",
            ),
            (
                SamplingFields {
                    presence_penalty: Some(3.0),
                    ..fields()
                },
                "presence_penalty",
            ),
            (
                SamplingFields {
                    repetition_penalty: Some(0.0),
                    ..fields()
                },
                "repetition_penalty",
            ),
            (
                SamplingFields {
                    n: Some(0),
                    ..fields()
                },
                "n",
            ),
            (
                SamplingFields {
                    n: Some(5),
                    ..fields()
                },
                "n",
            ),
            (
                SamplingFields {
                    stop: vec![String::new()],
                    ..fields()
                },
                "stop[0]",
            ),
            (
                SamplingFields {
                    stop_token_ids: vec![100],
                    ..fields()
                },
                "stop_token_ids[0]",
            ),
        ];
        for (f, field) in cases {
            let e = resolve(&f, ("max_tokens", None), lim(&g)).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(field), "{e}");
            assert!(e.message.contains(field), "{e}");
        }
        let e = resolve(&fields(), ("max_tokens", Some(-1)), lim(&g)).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
    }

    #[test]
    fn the_budget_is_the_rest_of_the_context() {
        assert_eq!(budget(10, None, 100, "messages", "max_tokens").unwrap(), 90);
        assert_eq!(
            budget(10, Some(90), 100, "messages", "max_tokens").unwrap(),
            90
        );
        let e = budget(10, Some(91), 100, "messages", "max_tokens").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
        let e = budget(100, None, 100, "messages", "max_tokens").unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages"));
        assert!(e.message.contains("context length"), "{e}");
    }
}
