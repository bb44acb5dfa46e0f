//! The subject access page: one self-contained HTML file that shows a person their record and
//! checks their bundle in their browser, offline (`src/sar/page/`: the template, its style, the
//! vendored cryptography `noble.js`, the verifier `verify.js` and the section's behaviour
//! `page.js`).
//!
//! Owns: filling the template, with the escaping each place needs, and the page's Content
//! Security Policy (no network; only the page's own scripts run, by hash); the key fingerprint
//! the page shows. Must not touch: the bundle's contents or checks (the verifier in `verify.js`
//! and, on the Rust side, the bundle module do that), the record's sections (the caller renders
//! them), I/O.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::checkpoint::{CheckpointError, NoteVerifier};

const TEMPLATE: &str = include_str!("page/template.html");
const STYLE: &str = include_str!("page/style.css");
/// The scripts the page runs, in order: each is inlined in its own `<script>` element and
/// allowed by its SHA-256 in the page's policy.
const SCRIPTS: [(&str, &str); 3] = [
    ("noble.js", include_str!("page/noble.js")),
    ("verify.js", include_str!("page/verify.js")),
    ("page.js", include_str!("page/page.js")),
];

/// The whole page for one bundle.
///
/// - `title`: plain text (escaped here), the page's `<title>` and heading.
/// - `content_html`: the record's sections, already rendered as HTML by the caller, inserted
///   as they are; it must be trusted HTML with every value in it escaped. Scripts in it do not
///   run (the policy allows only the page's own, by hash) and nothing it names is loaded. It
///   must not use the ids of the check's section (`bundle`, `vkey`, `key-fingerprint`,
///   `check-*`): if it does, the page refuses to check rather than read the wrong element.
/// - `bundle_json`: the bundle's JSON text (`sar-bundle.md` §1), embedded in a
///   `<script type="application/json" id="bundle">` with every `<` written `\u003c`, so no
///   text in it can end the element or open a comment; the JSON value, and so every entry's
///   bytes, is unchanged.
/// - `vkey`: the log's verifier key (escaped here), which the page's check trusts.
pub fn render(title: &str, content_html: &str, bundle_json: &str, vkey: &str) -> String {
    let scripts: String = SCRIPTS
        .iter()
        .map(|(_, text)| format!("<script>{text}</script>\n"))
        .collect();
    let hashes: Vec<String> = SCRIPTS
        .iter()
        .map(|(_, text)| format!("'sha256-{}'", B64.encode(Sha256::digest(text.as_bytes()))))
        .collect();
    let title = escape_html(title);
    let values = [
        ("TITLE", title.as_str()),
        ("CONTENT", content_html),
        ("BUNDLE_JSON", &escape_json_for_script(bundle_json)),
        ("VKEY", &escape_html(vkey)),
        ("STYLE", STYLE),
        ("SCRIPTS", &scripts),
        ("SCRIPT_HASHES", &hashes.join(" ")),
    ];
    fill(TEMPLATE, &values)
}

/// The page's style sheet, which the person's own page (`crate::http::person`) shares, so the
/// two look alike.
pub(crate) fn style() -> &'static str {
    STYLE
}

/// The key fingerprint the page shows (computed there by `verify.js` from the key it checks
/// with; this gives the same for the organisation to publish): the vkey's 4-byte key id
/// (log-format.md §3) followed by the first 8 bytes of SHA-256 of the 32-byte Ed25519 public
/// key, as 24 lowercase hex digits in six groups of four, e.g. `daf1 465e 5647 5aa7 5463 474c`.
pub fn key_fingerprint(vkey: &str) -> Result<String, CheckpointError> {
    let verifier = NoteVerifier::from_vkey(vkey)?;
    // from_vkey has checked the form `<name>+<hex id>+<base64(0x01 ‖ key)>`.
    let blob = vkey
        .trim()
        .splitn(3, '+')
        .nth(2)
        .and_then(|b| B64.decode(b).ok())
        .filter(|b| b.len() == 33)
        .ok_or_else(|| CheckpointError::BadVkey("key is not base64 of 33 bytes".into()))?;
    let digest = Sha256::digest(&blob[1..]);
    let mut hex = hex::encode(verifier.key_id);
    hex.push_str(&hex::encode(&digest[..8]));
    let groups: Vec<&str> = (0..6).filter_map(|i| hex.get(i * 4..i * 4 + 4)).collect();
    Ok(groups.join(" "))
}

/// One pass over the template: each `{{NAME}}` with a value is replaced by it; inserted text is
/// never scanned again, so a title that reads `{{CONTENT}}` stays that text.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let name_end = after.find("}}");
        let value = name_end.and_then(|end| {
            let name = &after[..end];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v, end))
        });
        match value {
            Some((v, end)) => {
                out.push_str(v);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Text for an element's content or an attribute value (double-quoted).
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// JSON for a `<script type="application/json">` element: `<` can only stand inside a JSON
/// string, where `\u003c` means the same character, and without it no `</script` or `<!--` can
/// appear in the element's text.
fn escape_json_for_script(json: &str) -> String {
    json.replace('<', "\\u003c")
}

#[cfg(test)]
mod tests {
    use super::*;

    const VKEY: &str =
        "withus.example/vectors+daf1465e+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";

    /// The text of the one element `<script type="application/json" id="bundle">`.
    fn embedded_bundle(page: &str) -> &str {
        let open = r#"<script type="application/json" id="bundle">"#;
        let start = page
            .find(open)
            .map(|i| i + open.len())
            .unwrap_or(page.len());
        let len = page[start..].find("</script>").unwrap_or(0);
        &page[start..start + len]
    }

    /// A bundle text holding `</script>` and `<!--` (as a person's note might) cannot end the
    /// data element or start a comment that swallows the page's scripts; the JSON value it
    /// carries is the same.
    #[test]
    fn a_bundle_holding_script_end_and_comment_open_stays_inert() {
        let bundle = r#"{"entries":[{"entry":"</script><script>alert(1)</script><!-- x","n":"<\/SCRIPT >"}]}"#;
        let page = render("Record", "<p>x</p>", bundle, VKEY);
        let embedded = embedded_bundle(&page);
        assert!(!embedded.contains('<'), "{embedded}");
        let want: serde_json::Value = serde_json::from_str(bundle).expect("test JSON");
        let got: serde_json::Value = serde_json::from_str(embedded).expect("embedded JSON");
        assert_eq!(got, want);
        // Exactly the page's own script elements close: the data element and the three scripts.
        assert_eq!(page.matches("</script>").count(), 1 + SCRIPTS.len());
        assert_eq!(
            page.to_ascii_lowercase().matches("</script").count(),
            1 + SCRIPTS.len()
        );
        assert!(!page.contains("<!--"));
    }

    #[test]
    fn title_and_vkey_are_escaped_and_placeholders_in_values_stay_text() {
        let page = render(
            "Sam's record <b>&</b> {{CONTENT}}",
            "<p id=\"c\">content</p>",
            "{}",
            "k\"><script>x</script>",
        );
        assert!(
            page.contains("<title>Sam&#39;s record &lt;b&gt;&amp;&lt;/b&gt; {{CONTENT}}</title>")
        );
        assert!(page.contains("<h1>Sam&#39;s record &lt;b&gt;&amp;&lt;/b&gt; {{CONTENT}}</h1>"));
        assert!(
            page.contains(r#"<code id="vkey">k&quot;&gt;&lt;script&gt;x&lt;/script&gt;</code>"#)
        );
        assert_eq!(page.matches("<p id=\"c\">content</p>").count(), 1);
        // Every placeholder of the template was filled.
        for name in [
            "TITLE",
            "CONTENT",
            "BUNDLE_JSON",
            "VKEY",
            "STYLE",
            "SCRIPTS",
            "SCRIPT_HASHES",
        ] {
            assert!(
                TEMPLATE.contains(&format!("{{{{{name}}}}}")),
                "{name} not in the template"
            );
        }
        let without_title = page.replace("{{CONTENT}}", "");
        assert!(!without_title.contains("{{"), "an unfilled placeholder");
    }

    /// The policy forbids every load (no `connect-src`, `img-src` only `data:`, …) and allows
    /// exactly the page's three scripts, by the hash of the text the page carries.
    #[test]
    fn the_policy_allows_only_the_pages_own_scripts_and_no_network() {
        let page = render("t", "", "{}", VKEY);
        let csp_start = page
            .find("Content-Security-Policy\" content=\"")
            .expect("CSP meta");
        let csp = &page[csp_start + "Content-Security-Policy\" content=\"".len()..];
        let csp = &csp[..csp.find("\">").expect("end of CSP")];
        let directives: Vec<Vec<&str>> = csp
            .split(';')
            .map(|d| d.split_whitespace().collect())
            .collect();
        let sources = |name: &str| {
            directives
                .iter()
                .find(|d| d.first() == Some(&name))
                .map(|d| d[1..].to_vec())
        };
        assert_eq!(sources("default-src"), Some(vec!["'none'"]), "{csp}");
        assert_eq!(sources("img-src"), Some(vec!["data:"]), "{csp}");
        assert_eq!(sources("connect-src"), None, "{csp}");
        let want: Vec<String> = SCRIPTS
            .iter()
            .map(|(_, text)| format!("'sha256-{}'", B64.encode(Sha256::digest(text.as_bytes()))))
            .collect();
        assert_eq!(
            sources("script-src"),
            Some(want.iter().map(String::as_str).collect())
        );
        for (name, text) in SCRIPTS {
            let hash = B64.encode(Sha256::digest(text.as_bytes()));
            assert!(
                csp.contains(&format!("'sha256-{hash}'")),
                "{name} not allowed"
            );
            assert!(
                page.contains(&format!("<script>{text}</script>")),
                "{name} not inlined"
            );
            // A script that held these could not be inlined; one with a CR would not match its
            // hash once the HTML parser normalised it.
            let lower = text.to_ascii_lowercase();
            assert!(
                !lower.contains("</script") && !lower.contains("<!--") && !text.contains('\r'),
                "{name}"
            );
        }
        assert!(!STYLE.to_ascii_lowercase().contains("</style"));
        // The policy comes before anything that could load or run.
        assert!(csp_start < page.find("<style>").expect("style"));
    }

    #[test]
    fn the_key_fingerprint_is_the_key_id_and_the_public_keys_sha256() {
        // Key id daf1465e (vectors.json); SHA-256 of the public key 03a107…31b8 starts 56475aa7….
        assert_eq!(
            key_fingerprint(VKEY).as_deref(),
            Ok("daf1 465e 5647 5aa7 5463 474c")
        );
        assert!(key_fingerprint(
            "withus.example/vectors+daf1465f+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
        )
        .is_err());
        assert!(key_fingerprint("nonsense").is_err());
    }
}
