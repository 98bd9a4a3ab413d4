//! The recognition (`multi_vision`) and object-consistency (`vision`) prompts.
use crate::image::ImageRef;
use crate::prompt::messages::{Message, Role};
use crate::prompt::templates::{Templates, fill};

/// Concept images with 0-based headers, the instruction, then the query image (the released
/// order), in one user turn. The expected answer is `Answer: \boxed{[0, 2]}`.
pub fn recognition_prompt(concepts: &[ImageRef], query: &ImageRef, t: &Templates) -> Vec<Message> {
    let mut msg = Message::new(Role::User);
    for (i, img) in concepts.iter().enumerate() {
        msg.push_text(fill(&t.concept_header, &[("index", &i.to_string())]));
        msg.push_image(img.clone());
    }
    msg.push_text(&t.recognition_instruction);
    msg.push_image(query.clone());
    vec![msg]
}

/// Two images, then the yes/no question about the object named `name`.
pub fn consistency_prompt(
    first: &ImageRef,
    second: &ImageRef,
    name: &str,
    t: &Templates,
) -> Vec<Message> {
    let mut msg = Message::new(Role::User);
    msg.push_image(first.clone());
    msg.push_image(second.clone());
    msg.push_text(fill(&t.consistency_instruction, &[("name", name)]));
    vec![msg]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognition_order() {
        let t = Templates::default();
        let c = [ImageRef::path("a"), ImageRef::path("b")];
        let m = recognition_prompt(&c, &ImageRef::path("q"), &t);
        let flat = m[0].flat_text();
        assert!(flat.starts_with("===== Concept 0 =====\n<image>===== Concept 1 =====\n<image>"));
        assert!(flat.ends_with("<image>"));
        let imgs: Vec<_> = m[0]
            .images()
            .map(|i| i.name().unwrap().to_string())
            .collect();
        assert_eq!(imgs, ["a", "b", "q"]);
    }

    #[test]
    fn consistency_names_the_object() {
        let m = consistency_prompt(
            &ImageRef::path("a"),
            &ImageRef::path("b"),
            "Pino",
            &Templates::default(),
        );
        assert!(m[0].flat_text().starts_with("<image><image>"));
        assert!(m[0].flat_text().contains("called Pino"));
    }
}
