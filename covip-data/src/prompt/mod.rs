//! Prompt rendering into model-agnostic messages (SPEC §3). Chat-template details (special
//! tokens, "Picture N: " vision ids) belong to the model's processor, not here.
pub mod caption;
pub mod downstream;
pub mod judge;
pub mod messages;
pub mod recognition;
pub mod templates;

pub use caption::{QueryHeader, caption_prompt};
pub use downstream::{
    cag_caption_prompt, cag_question_prompt, downstream_prompt, downstream_question,
};
pub use judge::{judge_prompt, judge_question, judge_text};
pub use messages::{Message, Part, Role, conversation_images};
pub use recognition::{consistency_prompt, recognition_prompt};
pub use templates::{Templates, fill};
