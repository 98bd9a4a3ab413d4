//! Downstream questions (LSD, LAR, ITR), asked directly or after a caption (CAG), in the
//! structure of the released `downstream/` scripts (the wording is ours, in [`Templates`]):
//!
//! | set | without CAG | CAG, second conversation |
//! |---|---|---|
//! | LSD | user: context + query + question + `//boxed{…}` request; no system turn | system: captioning instruction; user: context + query; assistant: caption; user: question + box request |
//! | LAR | system: personalisation; user: context + query + question | system: captioning instruction; user: context + query; assistant: caption; user: question |
//! | ITR | system: personalisation; user: context + query + LSD question (no box) | system: personalisation; user: context + query; assistant: caption; user: LSD question |
//!
//! The caption of CAG comes from a first conversation, the captioning prompt itself (user:
//! context + query + captioning instruction).
use crate::diagnostics::{DiagnosticKind, DiagnosticSample};
use crate::prompt::caption::{QueryHeader, push_context};
use crate::prompt::messages::{Message, Role};
use crate::prompt::templates::{Templates, fill};

/// The question a diagnostic set asks, as its last user text: LSD's question with the
/// `//boxed{…}` request (`lsd_answer_format`), LAR's question, and for ITR the LSD question
/// alone (the released ITR scripts ask no box).
pub fn downstream_question(kind: DiagnosticKind, t: &Templates) -> String {
    match kind {
        DiagnosticKind::Lsd => format!("{}{}", t.lsd_question, t.lsd_answer_format),
        DiagnosticKind::Itr => t.lsd_question.clone(),
        DiagnosticKind::Lar => t.lar_question.clone(),
    }
}

/// A user turn holding the sample's context and query image (no instruction).
fn context_turn(sample: &DiagnosticSample, t: &Templates) -> Message {
    let mut user = Message::new(Role::User);
    push_context(
        &mut user,
        &sample.context,
        &sample.query,
        QueryHeader::NewImage,
        t,
    );
    user
}

/// The system turn of the direct question: none for LSD, the personalisation prompt for LAR
/// and ITR.
pub fn direct_system(kind: DiagnosticKind, t: &Templates) -> Option<&str> {
    match kind {
        DiagnosticKind::Lsd => None,
        DiagnosticKind::Lar | DiagnosticKind::Itr => Some(&t.personalization_system),
    }
}

/// The system turn of CAG's second conversation: the captioning instruction for LSD and LAR,
/// the personalisation prompt for ITR.
pub fn cag_system(kind: DiagnosticKind, t: &Templates) -> &str {
    match kind {
        DiagnosticKind::Lsd | DiagnosticKind::Lar => &t.caption_instruction,
        DiagnosticKind::Itr => &t.personalization_system,
    }
}

/// Asked directly (without CAG): the set's system turn if any, then one user turn of the
/// context, the query image and the question.
pub fn downstream_prompt(sample: &DiagnosticSample, t: &Templates) -> Vec<Message> {
    let mut user = context_turn(sample, t);
    user.push_text(downstream_question(sample.kind, t));
    let mut out = Vec::with_capacity(2);
    if let Some(system) = direct_system(sample.kind, t) {
        out.push(Message::text(Role::System, system));
    }
    out.push(user);
    out
}

/// CAG, first conversation: the captioning prompt for the sample's context and query (one
/// user turn: context, query, captioning instruction).
pub fn cag_caption_prompt(sample: &DiagnosticSample, t: &Templates) -> Vec<Message> {
    crate::prompt::caption::caption_prompt(&sample.context, &sample.query, QueryHeader::NewImage, t)
}

/// CAG, second conversation: the set's CAG system turn, the context and query as a user
/// turn (no instruction), the generated caption as the assistant's turn, then the question
/// in a last user turn.
pub fn cag_question_prompt(
    sample: &DiagnosticSample,
    caption: &str,
    t: &Templates,
) -> Vec<Message> {
    vec![
        Message::text(Role::System, cag_system(sample.kind, t)),
        context_turn(sample, t),
        Message::text(Role::Assistant, caption),
        Message::text(Role::User, downstream_question(sample.kind, t)),
    ]
}

/// The LAR judge's user message (`lar_judge`): the LAR question, `User said "{last_action}"`
/// as the reference, and the whole response, each inserted as it is (one pass, so text in
/// the response that looks like a placeholder stays as written).
pub fn lar_judge_text(last_action: &str, response: &str, t: &Templates) -> String {
    let reference = format!("User said \"{last_action}\"");
    fill(
        &t.lar_judge,
        &[
            ("question", &t.lar_question),
            ("reference", &reference),
            ("response", response),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageRef;
    use crate::prompt::messages::Part;
    use crate::sample::ContextEntry;

    fn sample(kind: DiagnosticKind) -> DiagnosticSample {
        DiagnosticSample {
            id: "0".into(),
            kind,
            context: vec![ContextEntry {
                image: ImageRef::path("c.png"),
                dialogue: "User: hi".into(),
            }],
            query: ImageRef::path("q.png"),
            answer: "park".into(),
            last_action: None,
        }
    }

    /// The shared context turn: header, image, dialogue, blank line, New Image header, query.
    fn assert_context(m: &Message, tail: &str) {
        assert_eq!(m.role, Role::User);
        assert_eq!(
            m.parts,
            [
                Part::Text("===== Dialogue 1 =====\n".into()),
                Part::Image(ImageRef::path("c.png")),
                Part::Text("User: hi\n\n===== New Image =====\n".to_string()),
                Part::Image(ImageRef::path("q.png")),
            ]
            .into_iter()
            .chain((!tail.is_empty()).then(|| Part::Text(tail.to_string())))
            .collect::<Vec<_>>()
        );
    }

    fn roles(m: &[Message]) -> Vec<Role> {
        m.iter().map(|m| m.role).collect()
    }

    #[test]
    fn direct_lsd_has_no_system_turn_and_asks_for_the_double_slash_box() {
        let t = Templates::default();
        let m = downstream_prompt(&sample(DiagnosticKind::Lsd), &t);
        assert_eq!(roles(&m), [Role::User]);
        let q = format!("{}{}", t.lsd_question, t.lsd_answer_format);
        assert!(q.contains("//boxed{"), "{q}");
        assert_context(&m[0], &q);
    }

    #[test]
    fn direct_lar_and_itr_have_the_personalisation_turn_and_no_box() {
        let t = Templates::default();
        for (kind, question) in [
            (DiagnosticKind::Lar, &t.lar_question),
            (DiagnosticKind::Itr, &t.lsd_question),
        ] {
            let m = downstream_prompt(&sample(kind), &t);
            assert_eq!(roles(&m), [Role::System, Role::User], "{kind:?}");
            assert_eq!(m[0].flat_text(), t.personalization_system);
            assert_context(&m[1], question);
            assert!(!m[1].flat_text().contains("boxed"), "{kind:?}");
        }
    }

    #[test]
    fn cag_second_conversation_per_set() {
        let t = Templates::default();
        let lsd_q = format!("{}{}", t.lsd_question, t.lsd_answer_format);
        for (kind, system, question) in [
            (DiagnosticKind::Lsd, &t.caption_instruction, &lsd_q),
            (DiagnosticKind::Lar, &t.caption_instruction, &t.lar_question),
            (
                DiagnosticKind::Itr,
                &t.personalization_system,
                &t.lsd_question,
            ),
        ] {
            let m = cag_question_prompt(&sample(kind), "Mina at the park.", &t);
            assert_eq!(
                roles(&m),
                [Role::System, Role::User, Role::Assistant, Role::User],
                "{kind:?}"
            );
            assert_eq!(&m[0].flat_text(), system, "{kind:?}");
            assert_context(&m[1], "");
            assert_eq!(m[2].parts, [Part::Text("Mina at the park.".into())]);
            assert_eq!(&m[3].flat_text(), question, "{kind:?}");
        }
    }

    #[test]
    fn cag_caption_conversation_is_the_captioning_prompt() {
        let t = Templates::default();
        for kind in DiagnosticKind::ALL {
            let m = cag_caption_prompt(&sample(kind), &t);
            assert_eq!(roles(&m), [Role::User]);
            assert_context(&m[0], &t.caption_instruction);
        }
    }

    #[test]
    fn released_wording_drops_in_byte_for_byte() {
        let mut t = Templates::default();
        t.set(
            "lsd_question",
            "Where did I last see the one in the new image?".into(),
        )
        .unwrap();
        t.set(
            "lsd_answer_format",
            " Think step by step and provide your final answer within //boxed{your_answer}.".into(),
        )
        .unwrap();
        let m = downstream_prompt(&sample(DiagnosticKind::Lsd), &t);
        assert!(m[0].flat_text().ends_with(
            "<image>Where did I last see the one in the new image? Think step by step and \
             provide your final answer within //boxed{your_answer}."
        ));
    }

    #[test]
    fn lar_judge_text_fills_reference_and_response_once() {
        let mut t = Templates::default();
        t.set(
            "lar_judge",
            "Q: {{question}}\nGT: {{reference}}\nA: {{response}}".into(),
        )
        .unwrap();
        let s = lar_judge_text("I was baking.", "You were {{reference}} baking.", &t);
        assert_eq!(
            s,
            format!(
                "Q: {}\nGT: User said \"I was baking.\"\nA: You were {{{{reference}}}} baking.",
                t.lar_question
            )
        );
        let d = lar_judge_text("x", "y", &Templates::default());
        assert!(d.contains("User said \"x\"") && d.ends_with("y"), "{d}");
    }
}
