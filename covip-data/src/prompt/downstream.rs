//! Downstream questions (LSD, LAR, ITR), asked directly or after a caption (CAG).
use crate::diagnostics::{DiagnosticKind, DiagnosticSample};
use crate::prompt::caption::{QueryHeader, push_context};
use crate::prompt::messages::{Message, Role};
use crate::prompt::templates::Templates;

/// The question a diagnostic set asks (ITR asks the LSD question).
pub fn downstream_question(kind: DiagnosticKind, t: &Templates) -> &str {
    match kind {
        DiagnosticKind::Lsd | DiagnosticKind::Itr => &t.lsd_question,
        DiagnosticKind::Lar => &t.lar_question,
    }
}

/// The system turn and a user turn holding the sample's context and query image.
fn system_and_context(sample: &DiagnosticSample, t: &Templates) -> [Message; 2] {
    let mut user = Message::new(Role::User);
    push_context(
        &mut user,
        &sample.context,
        &sample.query,
        QueryHeader::NewImage,
        t,
    );
    [Message::text(Role::System, &t.personalization_system), user]
}

/// Asked directly: system turn, then the context, the query image and the question (with the
/// `\boxed{}` request) in one user turn.
pub fn downstream_prompt(sample: &DiagnosticSample, t: &Templates) -> Vec<Message> {
    let [system, mut user] = system_and_context(sample, t);
    user.push_text(downstream_question(sample.kind, t));
    user.push_text(&t.boxed_answer_suffix);
    vec![system, user]
}

/// CAG, first turn: the captioning prompt for the sample's context and query.
pub fn cag_caption_prompt(sample: &DiagnosticSample, t: &Templates) -> Vec<Message> {
    crate::prompt::caption::caption_prompt(&sample.context, &sample.query, QueryHeader::NewImage, t)
}

/// CAG, second turn: system, the context and query, the generated caption as the assistant's
/// turn, then the question in a new user turn.
pub fn cag_question_prompt(
    sample: &DiagnosticSample,
    caption: &str,
    t: &Templates,
) -> Vec<Message> {
    let [system, user] = system_and_context(sample, t);
    vec![
        system,
        user,
        Message::text(Role::Assistant, caption),
        Message::text(Role::User, downstream_question(sample.kind, t)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageRef;
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

    #[test]
    fn cag_has_two_user_turns_around_the_caption() {
        let t = Templates::default();
        let m = cag_question_prompt(&sample(DiagnosticKind::Lar), "Mina at the park.", &t);
        let roles: Vec<Role> = m.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [Role::System, Role::User, Role::Assistant, Role::User]
        );
        assert_eq!(m[2].flat_text(), "Mina at the park.");
        assert_eq!(m[3].flat_text(), t.lar_question);
        assert_eq!(m[1].images().count(), 2);
    }

    #[test]
    fn direct_question_asks_for_a_box() {
        let t = Templates::default();
        let m = downstream_prompt(&sample(DiagnosticKind::Itr), &t);
        assert!(
            m[1].flat_text()
                .ends_with(&format!("{}{}", t.lsd_question, t.boxed_answer_suffix))
        );
    }
}
