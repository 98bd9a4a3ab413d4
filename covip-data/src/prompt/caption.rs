//! The personalised captioning prompt (SPEC §3): numbered dialogue groups, the query image,
//! then the instruction, all in one user turn.
use crate::image::ImageRef;
use crate::prompt::messages::{Message, Role};
use crate::prompt::templates::{Templates, fill};
use crate::rng::SeededRng;
use crate::sample::ContextEntry;

/// The header shown before the query image. Evaluation uses `NewImage`; training draws one
/// at random (`QueryHeader::draw`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryHeader {
    NewImage,
    QueryImage,
    TargetImage,
}

impl QueryHeader {
    pub fn label(self) -> &'static str {
        match self {
            QueryHeader::NewImage => "New Image",
            QueryHeader::QueryImage => "Query Image",
            QueryHeader::TargetImage => "Target Image",
        }
    }

    /// The released training draw: Query with probability 1/2, else Target or New Image
    /// with 1/4 each.
    pub fn draw(rng: &mut SeededRng) -> QueryHeader {
        if rng.below(2) == 0 {
            QueryHeader::QueryImage
        } else if rng.below(2) == 0 {
            QueryHeader::TargetImage
        } else {
            QueryHeader::NewImage
        }
    }
}

/// Appends the numbered dialogue groups and the query image (with its header) to `msg`.
pub(crate) fn push_context(
    msg: &mut Message,
    context: &[ContextEntry],
    query: &ImageRef,
    header: QueryHeader,
    t: &Templates,
) {
    for (i, entry) in context.iter().enumerate() {
        msg.push_text(fill(&t.dialogue_header, &[("index", &(i + 1).to_string())]));
        msg.push_image(entry.image.clone());
        msg.push_text(format!("{}\n\n", entry.dialogue));
    }
    msg.push_text(fill(&t.query_header, &[("label", header.label())]));
    msg.push_image(query.clone());
}

/// The captioning conversation: one user message.
pub fn caption_prompt(
    context: &[ContextEntry],
    query: &ImageRef,
    header: QueryHeader,
    t: &Templates,
) -> Vec<Message> {
    let mut msg = Message::new(Role::User);
    push_context(&mut msg, context, query, header, t);
    msg.push_text(&t.caption_instruction);
    vec![msg]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::messages::Part;

    #[test]
    fn interleaves_headers_images_and_dialogues() {
        let ctx: Vec<ContextEntry> = (0..2)
            .map(|i| ContextEntry {
                image: ImageRef::path(format!("c{i}.png")),
                dialogue: format!("User: d{i}"),
            })
            .collect();
        let t = Templates::default();
        let m = caption_prompt(&ctx, &ImageRef::path("q.png"), QueryHeader::NewImage, &t);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].role, Role::User);
        let p = &m[0].parts;
        assert_eq!(p.len(), 7);
        assert_eq!(p[0], Part::Text("===== Dialogue 1 =====\n".into()));
        assert_eq!(p[1], Part::Image(ImageRef::path("c0.png")));
        assert_eq!(
            p[2],
            Part::Text("User: d0\n\n===== Dialogue 2 =====\n".into())
        );
        assert_eq!(
            p[4],
            Part::Text("User: d1\n\n===== New Image =====\n".to_string())
        );
        assert_eq!(p[5], Part::Image(ImageRef::path("q.png")));
        assert_eq!(p[6], Part::Text(t.caption_instruction.clone()));
    }

    #[test]
    fn header_draw_covers_all_three() {
        let mut r = SeededRng::new(0);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            seen.insert(QueryHeader::draw(&mut r).label());
        }
        assert_eq!(seen.len(), 3);
    }
}
