//! The page itself: HTML escaping, `data:` URLs and the inline style and script.
//!
//! Everything that comes from a user file (captions, dialogues, sample ids) passes through
//! [`escape_html`]; the only other dynamic parts are pair ids and the sheet id, which the
//! library makes itself (`p001`, hex digits), and base64 image data.
use std::fmt::Write as _;

use super::Criterion;

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // NUL is a parse error in HTML and invisible anyway.
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 §4), as `data:` URLs want it. Twenty lines here
/// instead of one more dependency for covip-eval.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    let mut chunks = bytes.chunks_exact(3);
    for c in &mut chunks {
        let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        for shift in [18, 12, 6, 0] {
            out.push(B64[((n >> shift) & 63) as usize] as char);
        }
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.push(B64[((n >> 18) & 63) as usize] as char);
            out.push(B64[((n >> 12) & 63) as usize] as char);
            out.push_str("==");
        }
        [a, b] => {
            let n = (u32::from(a) << 16) | (u32::from(b) << 8);
            out.push(B64[((n >> 18) & 63) as usize] as char);
            out.push(B64[((n >> 12) & 63) as usize] as char);
            out.push(B64[((n >> 6) & 63) as usize] as char);
            out.push('=');
        }
        _ => {}
    }
    out
}

/// The MIME type of an encoded image from its first bytes, for the formats every browser
/// shows; `None` for anything else (which is then not embedded, but reported).
pub(super) fn sniff_image_mime(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// A `data:` URL for an image whose type [`sniff_image_mime`] recognised.
pub(super) fn data_url(mime: &str, bytes: &[u8]) -> String {
    format!("data:{mime};base64,{}", base64_encode(bytes))
}

/// One context entry as shown: its image and its dialogue text.
pub(super) struct PageContext<'a> {
    pub image: &'a str,
    pub dialogue: &'a str,
}

/// One pair as shown on the page: no file names, only what the rater needs.
pub(super) struct PagePair<'a> {
    pub id: &'a str,
    pub sample_id: &'a str,
    pub context: Vec<PageContext<'a>>,
    pub query: &'a str,
    pub caption_a: &'a str,
    pub caption_b: &'a str,
}

/// The page's inline style (the CSP allows inline style and nothing from outside).
const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem; line-height: 1.4; color: #111; }
header { border-bottom: 2px solid #444; margin-bottom: 1rem; }
section.pair { border: 1px solid #999; border-radius: 6px; padding: 0.75rem 1rem; margin: 1.5rem 0; }
.context { display: flex; flex-wrap: wrap; gap: 0.75rem; }
figure.dialogue { margin: 0; flex: 1 1 20rem; border: 1px solid #ccc; padding: 0.5rem; background: #fafafa; }
figure.dialogue img, .query img { max-width: 100%; max-height: 18rem; display: block; }
.dialogue-text, .caption-text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0.5rem 0 0 0; }
.dialogue-text { font-size: 0.9rem; }
.query { margin: 1rem 0; }
.query img { max-height: 28rem; }
.captions { display: flex; gap: 1rem; flex-wrap: wrap; }
.caption { flex: 1 1 24rem; border: 2px solid #357; border-radius: 6px; padding: 0.5rem 0.75rem; }
.caption h4 { margin: 0; }
fieldset { margin: 0.75rem 0; border: 1px solid #bbb; }
fieldset label { margin-right: 1.5rem; white-space: nowrap; }
fieldset.unanswered legend::after { content: "  (unanswered)"; color: #a00; }
footer { border-top: 2px solid #444; padding: 0.5rem 0; }
textarea#export { width: 100%; height: 8rem; font-family: monospace; }
"#;

/// The form logic: progress, a local autosave (so a reload keeps the answers), and the export
/// (a JSON download through a Blob, also put into `textarea#export`). The sheet id and pair
/// list come from the page itself, never from outside it.
const SCRIPT: &str = r#"
(function () {
  "use strict";
  var meta = JSON.parse(document.getElementById("sheet-meta").textContent);
  var criteria = meta.criteria;
  var storageKey = "covip-pairwise:" + meta.sheet_id;
  function sections() { return Array.prototype.slice.call(document.querySelectorAll("section.pair")); }
  function chosen(section, criterion) {
    var el = section.querySelector('input[type="radio"][data-criterion="' + criterion + '"]:checked');
    return el ? el.value : null;
  }
  function collect() {
    var missing = 0;
    var rows = sections().map(function (section) {
      var row = { pair: section.getAttribute("data-pair") };
      criteria.forEach(function (c) {
        row[c] = chosen(section, c);
        if (row[c] === null) { missing += 1; }
      });
      return row;
    });
    return { rows: rows, missing: missing };
  }
  function progress() {
    var r = collect();
    var total = r.rows.length * criteria.length;
    document.getElementById("progress").textContent =
      (total - r.missing) + " of " + total + " answers given";
    sections().forEach(function (section) {
      criteria.forEach(function (c) {
        var fs = section.querySelector('fieldset[data-criterion="' + c + '"]');
        if (fs) { fs.classList.toggle("unanswered", chosen(section, c) === null); }
      });
    });
    return r;
  }
  function save() {
    try { window.localStorage.setItem(storageKey, JSON.stringify(collect().rows)); } catch (e) { /* no storage: no autosave */ }
  }
  function restore() {
    var rows;
    try { rows = JSON.parse(window.localStorage.getItem(storageKey) || "[]"); } catch (e) { rows = []; }
    if (!Array.isArray(rows)) { return; }
    rows.forEach(function (row) {
      if (!row || typeof row.pair !== "string") { return; }
      var section = document.querySelector('section.pair[data-pair="' + row.pair.replace(/[^a-z0-9]/g, "") + '"]');
      if (!section) { return; }
      criteria.forEach(function (c) {
        var v = row[c];
        if (v !== "A" && v !== "B" && v !== "Tie") { return; }
        var el = section.querySelector('input[data-criterion="' + c + '"][value="' + v + '"]');
        if (el) { el.checked = true; }
      });
    });
  }
  function exportChoices() {
    var r = progress();
    var data = {
      format: meta.format,
      sheet_id: meta.sheet_id,
      rater: document.getElementById("rater").value,
      exported_at: new Date().toISOString(),
      choices: r.rows
    };
    var text = JSON.stringify(data, null, 2);
    document.getElementById("export").value = text;
    document.getElementById("export-status").textContent = r.missing === 0
      ? "All answers given. The download has started; send the file back."
      : r.missing + " answer(s) still missing; exported anyway.";
    var blob = new Blob([text], { type: "application/json" });
    var url = URL.createObjectURL(blob);
    var a = document.createElement("a");
    a.href = url;
    a.download = "choices-" + meta.sheet_id + ".json";
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
    setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
  }
  restore();
  progress();
  document.addEventListener("change", function (ev) {
    if (ev.target && ev.target.matches && ev.target.matches('input[type="radio"]')) { progress(); save(); }
  });
  document.getElementById("export-button").addEventListener("click", exportChoices);
})();
"#;

/// Serialises the page. `sheet_id` is the library's hex id; pair ids are `p` and digits.
pub(super) fn render(sheet_id: &str, pairs: &[PagePair<'_>], size_hint: usize) -> String {
    let mut out = String::with_capacity(size_hint + 16 * 1024);
    let meta = serde_json::json!({
        "format": super::CHOICES_FORMAT,
        "sheet_id": sheet_id,
        "criteria": Criterion::ALL.iter().map(|c| c.key()).collect::<Vec<_>>(),
    });
    // Inside <script>, `<` must not start `</script>`: escape it in the JSON text.
    let meta = meta.to_string().replace('<', "\\u003c");
    let n = pairs.len();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action 'none'; base-uri 'none'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>Caption comparison sheet {sid}</title>\n<style>{STYLE}</style>\n\
         <script type=\"application/json\" id=\"sheet-meta\">{meta}</script>\n</head>\n<body>\n\
         <header>\n<h1>Caption comparison</h1>\n\
         <p>Sheet <code id=\"sheet-id\">{sid}</code>, {n} pair(s). For each pair, read the \
         dialogues the user had about earlier photos (the context), look at the new image, then \
         compare caption A with caption B. Answer both questions with A, B or Tie. The sides are \
         assigned at random for every pair.</p>\n\
         <p><label>Your name or initials (optional): <input id=\"rater\" type=\"text\" \
         autocomplete=\"off\"></label></p>\n</header>\n<main>\n",
        sid = escape_html(sheet_id),
    );
    for (i, p) in pairs.iter().enumerate() {
        let id = escape_html(p.id);
        let _ = write!(
            out,
            "<section class=\"pair\" id=\"pair-{id}\" data-pair=\"{id}\">\n\
             <h2>Pair {num} of {n} <small>(sample {sample})</small></h2>\n\
             <h3>Context</h3>\n<div class=\"context\">\n",
            num = i + 1,
            sample = escape_html(p.sample_id),
        );
        for (k, c) in p.context.iter().enumerate() {
            let _ = writeln!(
                out,
                "<figure class=\"dialogue\"><figcaption>Dialogue {k1}</figcaption>\
                 <img src=\"{src}\" alt=\"context image {k1}\">\
                 <p class=\"dialogue-text\">{text}</p></figure>",
                k1 = k + 1,
                src = c.image,
                text = escape_html(c.dialogue),
            );
        }
        let _ = write!(
            out,
            "</div>\n<div class=\"query\"><h3>New image</h3><img src=\"{q}\" alt=\"new image\"></div>\n\
             <div class=\"captions\">\n\
             <div class=\"caption\" data-side=\"A\"><h4>Caption A</h4><p class=\"caption-text\">{a}</p></div>\n\
             <div class=\"caption\" data-side=\"B\"><h4>Caption B</h4><p class=\"caption-text\">{b}</p></div>\n\
             </div>\n",
            q = p.query,
            a = escape_html(p.caption_a),
            b = escape_html(p.caption_b),
        );
        for c in Criterion::ALL {
            let key = c.key();
            let _ = writeln!(
                out,
                "<fieldset data-criterion=\"{key}\"><legend>{question}</legend>",
                question = escape_html(c.question()),
            );
            for (value, label) in [("A", "A"), ("B", "B"), ("Tie", "Tie")] {
                let _ = writeln!(
                    out,
                    "<label><input type=\"radio\" id=\"{id}-{key}-{value}\" name=\"{id}.{key}\" \
                     data-criterion=\"{key}\" value=\"{value}\"> {label}</label>"
                );
            }
            out.push_str("</fieldset>\n");
        }
        out.push_str("</section>\n");
    }
    let _ = write!(
        out,
        "</main>\n<footer>\n<button id=\"export-button\" type=\"button\">Export choices</button> \
         <span id=\"progress\"></span> <span id=\"export-status\"></span>\n\
         <p><label for=\"export\">Exported choices (also downloaded as a file):</label></p>\n\
         <textarea id=\"export\" readonly></textarea>\n</footer>\n\
         <script>{SCRIPT}</script>\n</body>\n</html>\n"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape_html("plain é 🙂"), "plain é 🙂");
        assert_eq!(escape_html("a\0b"), "a\u{FFFD}b");
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(input.as_bytes()), want, "{input:?}");
        }
        assert_eq!(base64_encode(&[0xFF, 0xFE, 0xFD]), "//79");
    }

    #[test]
    fn image_types_are_sniffed() {
        assert_eq!(
            sniff_image_mime(b"\x89PNG\r\n\x1a\nrest"),
            Some("image/png")
        );
        assert_eq!(
            sniff_image_mime(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some("image/jpeg")
        );
        assert_eq!(sniff_image_mime(b"GIF89a..."), Some("image/gif"));
        assert_eq!(
            sniff_image_mime(b"RIFF\0\0\0\0WEBPVP8 "),
            Some("image/webp")
        );
        assert_eq!(sniff_image_mime(b"<svg onload=alert(1)>"), None);
        assert_eq!(sniff_image_mime(b""), None);
    }

    #[test]
    fn page_escapes_user_text_and_has_no_external_resource() {
        let hostile = "</p><script>alert('x')</script><img src=\"http://evil/\">";
        let pairs = [PagePair {
            id: "p001",
            sample_id: "sample_<0>",
            context: vec![PageContext {
                image: "data:image/png;base64,AAAA",
                dialogue: hostile,
            }],
            query: "data:image/png;base64,BBBB",
            caption_a: hostile,
            caption_b: "B & co",
        }];
        let page = render("0123abcd", &pairs, 0);
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img src=\"http"));
        assert!(page.contains("&lt;img src=&quot;http://evil/&quot;&gt;"));
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(page.contains("sample_&lt;0&gt;"));
        assert!(page.contains("B &amp; co"));
        // Exactly the two script elements of the page itself.
        assert_eq!(page.matches("<script").count(), 2);
        // No URL leaves the page: every src is a data: URL, and nothing links out.
        for piece in page.split("src=\"").skip(1) {
            assert!(
                piece.starts_with("data:"),
                "{}",
                &piece[..piece.len().min(40)]
            );
        }
        assert!(!page.contains("href=\""));
        assert!(page.contains("id=\"p001-context-A\""));
        assert!(page.contains("id=\"p001-description-Tie\""));
        assert!(page.contains("<textarea id=\"export\""));
    }
}
