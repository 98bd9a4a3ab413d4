//! Shared helpers for covip's benchmarks and comparison harnesses.

pub mod reward_corpus;

/// The `config.json` of a random model with Qwen3-VL-2B-Instruct's text shape (hidden 2048,
/// 16 heads of 128, 8 key-value heads, MLP 6144, vocabulary 151,936, tied embeddings) and
/// `layers` decoder layers: what the decoder, batching and training-memory measurements build.
pub fn qwen3_vl_2b_text(layers: usize) -> String {
    format!(
        r#"{{"tie_word_embeddings": true, "text_config": {{"vocab_size": 151936, "hidden_size": 2048,
        "intermediate_size": 6144, "num_hidden_layers": {layers}, "num_attention_heads": 16,
        "num_key_value_heads": 8, "head_dim": 128, "rms_norm_eps": 1e-6, "rope_theta": 5000000,
        "rope_scaling": {{"rope_type": "default", "mrope_section": [24, 20, 20], "mrope_interleaved": true}}}}}}"#
    )
}
