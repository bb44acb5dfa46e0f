//! The subject access page in a real browser: pages made by `withus::sar::page::render` (and by
//! `withus::sar::html::page`, with the record in plain words) for the published bundle vectors
//! are opened from `file://` in headless Chromium, with the network cut (a proxy on a closed
//! port, every host name unresolvable, and the page's own policy), and the DOM is read after the
//! page's verifier ran. Good bundles must say "Verified"; tampered ones "Not verified" naming the
//! check of sar-bundle.md §7. Screenshots of good, tampered and whole-record pages are kept in
//! `target/browser-artifacts/`.
//!
//! Needs Chromium: Debian's `chromium` (`apt-get install -y chromium`), or the path of another
//! in `WITHUS_CHROMIUM`. Without it these tests fail, never pass: a missing browser must not
//! look like a verified page. Each launch is bounded (`LAUNCH_TIMEOUT`) and its whole process
//! group is killed on every path, panics included.

mod common;

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use withus::sar::bundle::Bundle;
use withus::sar::html;
use withus::sar::page::{key_fingerprint, render};

/// How long one Chromium launch may take before it is killed and the test fails. A launch here
/// takes well under a second.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn vector_text(name: &str) -> String {
    fs::read_to_string(vectors_dir().join(name)).expect("a vector file")
}

fn vkey() -> String {
    let v: Value = serde_json::from_str(&vector_text("vectors.json")).expect("vectors.json");
    v["signing"]["vkey"]
        .as_str()
        .expect("signing.vkey")
        .to_string()
}

fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("browser-artifacts");
    fs::create_dir_all(&dir).expect("create target/browser-artifacts");
    dir
}

/// The Chromium to drive: `WITHUS_CHROMIUM`, else `chromium` or `chromium-browser` on `PATH`.
/// Absent, the test fails with what to install.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("WITHUS_CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "tests/browser.rs needs headless Chromium and found none on PATH: install it with \
         `apt-get install -y chromium` (Debian; .ci/run does this), or set WITHUS_CHROMIUM to \
         a Chromium binary. These tests fail rather than skip, so a missing browser never \
         passes for a verified page."
    );
}

/// Kills the launch's whole process group when dropped, whether the launch ended, timed out or
/// the test panicked: Chromium starts helper processes, which must not outlive the test.
struct ProcessGroup(Child);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Ok(pgid) = i32::try_from(self.0.id()) {
            // SAFETY: killpg only sends a signal; the group is the one this launch created
            // (process_group(0) below), so nothing else is signalled. ESRCH (already gone) is fine.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
        let _ = self.0.wait();
    }
}

/// What the browser left: the DOM after the page's scripts ran.
struct Opened {
    dom: String,
    took: Duration,
}

/// Opens `html` from a file in a fresh temporary directory, in headless Chromium with a fresh
/// profile and no network, and returns the DOM once the page is idle (virtual time, so timers
/// run at once). With `screenshot`, also saves a 1200×2000 PNG there.
fn open_in_chromium(html: &str, name: &str, screenshot: Option<&Path>) -> Opened {
    open_in_chromium_at(html, name, screenshot, 2000)
}

/// [`open_in_chromium`] in a window `height` pixels tall (the screenshot's height).
fn open_in_chromium_at(html: &str, name: &str, screenshot: Option<&Path>, height: u32) -> Opened {
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join(format!("{name}.html"));
    fs::write(&page, html).expect("write the page");
    let profile = dir.path().join("profile");
    let stdout = dir.path().join("dom.html");
    let stderr = dir.path().join("stderr.txt");
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--mute-audio",
        // No network: every connection goes to a closed local port, no name resolves.
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=10000",
        "--dump-dom",
    ]);
    cmd.arg(format!("--window-size=1200,{height}"));
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    if let Some(png) = screenshot {
        cmd.arg(format!("--screenshot={}", png.display()));
    }
    cmd.arg(format!("file://{}", page.display()));
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(&stdout).expect("stdout file"))
        .stderr(fs::File::create(&stderr).expect("stderr file"))
        .process_group(0);
    let start = Instant::now();
    let mut group = ProcessGroup(cmd.spawn().expect("start Chromium"));
    let status = loop {
        if let Some(status) = group.0.try_wait().expect("wait for Chromium") {
            break status;
        }
        if start.elapsed() > LAUNCH_TIMEOUT {
            drop(group);
            panic!(
                "Chromium did not finish {name} within {LAUNCH_TIMEOUT:?} (killed); its stderr:\n{}",
                tail(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = start.elapsed();
    drop(group);
    let dom = fs::read_to_string(&stdout).unwrap_or_default();
    assert!(
        status.success() && dom.contains("</html>"),
        "Chromium failed on {name} ({status}); its stderr:\n{}",
        tail(&stderr)
    );
    Opened { dom, took }
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Text of the first element with `id`, tags removed and the serialiser's entities undone.
fn text_of(dom: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let Some(at) = dom.find(&marker) else {
        return String::new();
    };
    let Some(open_end) = dom[at..].find('>') else {
        return String::new();
    };
    let rest = &dom[at + open_end + 1..];
    let mut text = String::new();
    let mut depth = 0usize;
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '<' {
            let tag_end = rest[i..].find('>').map(|e| i + e).unwrap_or(rest.len());
            let tag = &rest[i..tag_end];
            if tag.starts_with("</") {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            } else if !tag.ends_with('/') {
                depth += 1;
            }
            while chars.peek().is_some_and(|(j, _)| *j <= tag_end) {
                chars.next();
            }
        } else {
            text.push(c);
        }
    }
    unescape(&text)
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The attribute `name` of the element with `id`.
fn attribute_of(dom: &str, id: &str, name: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let start = dom[..at].rfind('<')?;
    let tag = &dom[start..at + dom[at..].find('>')?];
    let key = format!("{name}=\"");
    let v = tag.find(&key)? + key.len();
    Some(unescape(&tag[v..v + tag[v..].find('"')?]))
}

/// A trivial record section, with a script that must not run: the page's policy allows only
/// its own scripts, by hash.
const CONTENT: &str = "<section aria-labelledby=\"r\"><h2 id=\"r\">Your record</h2>\
    <p>Sam's record, as recorded.</p>\
    <script>document.title = 'an injected script ran';</script></section>";

/// Neither the script in the content nor any text in the bundle ran: the title is the page's,
/// and the DOM holds exactly the page's script elements (the bundle's data element, the three
/// scripts) and the content's one.
fn assert_scripts_stayed_inert(dom: &str, name: &str) {
    assert!(
        dom.contains("<title>Your record: su-sam</title>"),
        "{name}: a script that must not run changed the title"
    );
    assert_eq!(dom.matches("<script").count(), 5, "{name}: script elements");
}

fn page_for(bundle: &str) -> String {
    render("Your record: su-sam", CONTENT, bundle, &vkey())
}

/// A bundle vector as a JSON value, changed by `tamper`, as text again.
fn tampered(vector: &str, tamper: impl FnOnce(&mut Value)) -> String {
    let mut b: Value = serde_json::from_str(&vector_text(vector)).expect("bundle JSON");
    tamper(&mut b);
    serde_json::to_string(&b).expect("serialise")
}

fn entry_mut(b: &mut Value, index: usize) -> &mut Value {
    &mut b["entries"][index]
}

#[test]
fn good_bundles_are_verified_in_the_browser() {
    let artifacts = artifacts_dir();
    let fingerprint = key_fingerprint(&vkey()).expect("the vectors' vkey");
    for (vector, shown, withheld, texts) in
        [("bundle.json", 6, 0, 4), ("bundle-withheld.json", 5, 1, 2)]
    {
        let png = artifacts.join(format!("verified-{}.png", vector.trim_end_matches(".json")));
        let _ = fs::remove_file(&png);
        // The vector's own text, not re-serialised: the page must take its escapes as they are.
        let opened = open_in_chromium(&page_for(&vector_text(vector)), vector, Some(&png));
        let status = text_of(&opened.dom, "check-status");
        let how = if withheld > 0 {
            format!(" ({shown} shown, {withheld} withheld and counted)")
        } else {
            String::new()
        };
        assert_eq!(
            status,
            format!(
                "Verified: all 6 entries about you{how} are in the organisation's signed log \
                 (withus.example/vectors, 7 entries), byte for byte as first recorded; your record \
                 runs unbroken from your first entry to entry 6, the last one the log signed for; \
                 {texts} texts are exactly as recorded; 2 people named are registered in the log."
            ),
            "{vector}"
        );
        assert_eq!(
            attribute_of(&opened.dom, "check-status", "data-result").as_deref(),
            Some("verified")
        );
        assert_eq!(
            attribute_of(&opened.dom, "check-status", "role").as_deref(),
            Some("status")
        );
        // The fingerprint the page computed from its key is the one the Rust side publishes.
        assert_eq!(text_of(&opened.dom, "key-fingerprint"), fingerprint);
        let details = text_of(&opened.dom, "check-details");
        assert!(
            details.contains("6e4407af38f5250aad96fcf7db22f47cf5dec5859cad7d956787f329897abfd3"),
            "the bundle hash of sar-bundle.md §8: {details}"
        );
        // The button is there for the person (shown once the script runs) and the script in the
        // content did not run.
        assert!(opened
            .dom
            .contains("id=\"check-button\">Check my record</button>"));
        assert_scripts_stayed_inert(&opened.dom, vector);
        assert!(png.is_file(), "no screenshot at {}", png.display());
        eprintln!(
            "{vector}: verified in {:?} (Chromium launch included)",
            opened.took
        );
    }
}

/// The page `withus::sar::html::page` makes (what the CLI writes) for both vectors: the record in
/// plain words — the peer worker's name, the passage removed by agreement with its date and
/// length, the withheld count — and the check saying "Verified". Screenshots of the whole page.
#[test]
fn the_record_in_plain_words_is_shown_and_verified() {
    let artifacts = artifacts_dir();
    for (vector, wants) in [
        (
            "bundle.json",
            &[
                "Recorded by Amara, peer worker, Rushcliffe team.",
                "This passage was removed by agreement on 21 November 2026, 43 characters.",
                "We talked about getting back to the allotment on Saturdays.",
                "The Rushcliffe care team may read your agreed notes and meetings.",
                "Nothing about you is withheld",
            ][..],
        ),
        (
            "bundle-withheld.json",
            &[
                "Recorded by Amara, peer worker, Rushcliffe team.",
                "One entry about you is withheld from this copy.",
                "the data protection officer (DPO)",
            ][..],
        ),
    ] {
        let text = vector_text(vector);
        let bundle = Bundle::parse(text.as_bytes()).expect("a bundle vector");
        let page = html::page(&bundle, &text, &vkey());
        let png = artifacts.join(format!("record-{}.png", vector.trim_end_matches(".json")));
        let _ = fs::remove_file(&png);
        let opened = open_in_chromium_at(&page, vector, Some(&png), 5200);
        let record = text_of(&opened.dom, "record")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for want in wants {
            assert!(
                record.contains(want),
                "{vector}: missing {want:?} in\n{record}"
            );
        }
        if vector == "bundle-withheld.json" {
            assert!(
                !record.contains("allotment"),
                "withheld text shown: {record}"
            );
        }
        let status = text_of(&opened.dom, "check-status");
        assert!(status.starts_with("Verified: "), "{vector}: {status}");
        assert!(
            opened
                .dom
                .contains("<title>Your record — Sam (su-sam)</title>"),
            "{vector}: title"
        );
        // The record adds no script element: the bundle's data element and the page's three.
        assert_eq!(opened.dom.matches("<script").count(), 4, "{vector}");
        assert!(png.is_file(), "no screenshot at {}", png.display());
        eprintln!("{vector}: record shown and verified in {:?}", opened.took);
    }
}

/// The tampers the brief names, as whole pages: a byte of an entry, a text (to one holding
/// `</script>` and `<!--`, which must stay inert), the head's count, a proof hash moved.
#[test]
fn tampered_bundles_are_not_verified_in_the_browser() {
    let artifacts = artifacts_dir();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "entry-byte",
            tampered("bundle.json", |b| {
                let e = entry_mut(b, 2)["entry"].as_str().expect("entry").to_string();
                entry_mut(b, 2)["entry"] = Value::from(e.replacen("10:15:00.000Z", "10:15:01.000Z", 1));
            }),
            "Not verified: 7.4 entries at entry 3: its proof does not show it in the signed log: \
             the entry or its proof was changed",
        ),
        (
            "text",
            tampered("bundle.json", |b| {
                b["content"][1]["text"] = Value::from("</script><script>document.title='pwned'</script><!-- x");
            }),
            "Not verified: 7.7 content at entry 3: text 2 is not the text that was recorded: it was changed",
        ),
        (
            "head-count",
            tampered("bundle.json", |b| {
                let head = b["head"].as_str().expect("head").replacen("\n7\n6\n6\n", "\n7\n5\n6\n", 1);
                b["head"] = Value::from(head);
            }),
            "Not verified: 7.3 head: the statement of your last entry does not verify: its signature \
             by withus.example/vectors does not match: the text was changed, or another key signed it",
        ),
        (
            "proof-moved",
            tampered("bundle.json", |b| {
                if let Some(p) = entry_mut(b, 1)["proof"].as_array_mut() {
                    p.swap(0, 1);
                }
            }),
            "Not verified: 7.4 entries at entry 2: its proof does not show it in the signed log: \
             the entry or its proof was changed",
        ),
    ];
    for (name, bundle, want) in cases {
        let png = (name == "entry-byte").then(|| artifacts.join("not-verified-entry-byte.png"));
        if let Some(png) = &png {
            let _ = fs::remove_file(png);
        }
        let opened = open_in_chromium(&page_for(&bundle), name, png.as_deref());
        assert_eq!(text_of(&opened.dom, "check-status"), want, "{name}");
        assert_eq!(
            attribute_of(&opened.dom, "check-status", "data-result").as_deref(),
            Some("not-verified"),
            "{name}"
        );
        assert_scripts_stayed_inert(&opened.dom, name);
        if let Some(png) = png {
            assert!(png.is_file(), "no screenshot at {}", png.display());
        }
    }
}

/// The record's sections come before the check in the page: an element there with the bundle's
/// id (here a good bundle, in a page whose own bundle was tampered with) must not be checked in
/// its place, and the page must not say "Verified".
#[test]
fn a_second_bundle_element_in_the_content_stops_the_check() {
    let good = vector_text("bundle.json").replace('<', "\\u003c");
    let content = format!("<script type=\"application/json\" id=\"bundle\">{good}</script>");
    let bad = tampered("bundle.json", |b| {
        b["content"][1]["text"] = Value::from("changed")
    });
    let page = render("Your record: su-sam", &content, &bad, &vkey());
    let opened = open_in_chromium(&page, "decoy", None);
    assert_eq!(
        text_of(&opened.dom, "check-status"),
        "Not verified: page: the bundle, the key or the checker in this page is missing or appears twice"
    );
}

/// Every tamper of sar-bundle.md §8 on both vectors, and inputs that are not bundles at all,
/// through the same verifier in the same browser, in one launch: a harness page runs
/// `withusVerifyBundle` on each and writes the answers into the DOM.
#[test]
fn every_tamper_of_the_spec_fails_its_check_in_the_browser() {
    let vkey = vkey();
    let mut cases: Vec<(String, String, String, Option<&'static str>)> = Vec::new();
    for vector in ["bundle.json", "bundle-withheld.json"] {
        let mut case = |name: &str, want: Option<&'static str>, tamper: &dyn Fn(&mut Value)| {
            cases.push((
                format!("{vector}: {name}"),
                tampered(vector, tamper),
                vkey.clone(),
                want,
            ));
        };
        case("untouched", None, &|_| {});
        case("an item removed", Some("7.3 head"), &|b| {
            if let Some(items) = b["entries"].as_array_mut() {
                items.remove(1);
            }
        });
        case("an entry's byte changed", Some("7.4 entries"), &|b| {
            let e = entry_mut(b, 1)["entry"]
                .as_str()
                .expect("entry")
                .replacen("\"v\":1", "\"v\":2", 1);
            entry_mut(b, 1)["entry"] = Value::from(e);
        });
        case("a text changed", Some("7.7 content"), &|b| {
            let t = b["content"][0]["text"].as_str().expect("text").to_string();
            b["content"][0]["text"] = Value::from(format!("{t}."));
        });
        case(
            "an opening added that no segment commits to",
            Some("7.7 content"),
            &|b| {
                let salt = [7u8; 32];
                let commit = withus::content::commit(&salt, "an added text");
                if let Some(content) = b["content"].as_array_mut() {
                    content.push(serde_json::json!({
                        "commit": withus::format::to_hex(&commit),
                        "salt": hex::encode(salt),
                        "text": "an added text",
                    }));
                }
            },
        );
        case("tree_size changed", Some("7.2 checkpoint"), &|b| {
            b["tree_size"] = Value::from(8)
        });
        case("a proof hash moved", Some("7.4 entries"), &|b| {
            if let Some(p) = entry_mut(b, 0)["proof"].as_array_mut() {
                p.swap(1, 2);
            }
        });
        case("the subject changed", Some("7.3 head"), &|b| {
            b["subject"] = Value::from("su-kim")
        });
        case("an actor repeated", Some("7.6 actors"), &|b| {
            let first = b["actors"][0].clone();
            if let Some(actors) = b["actors"].as_array_mut() {
                actors.push(first);
            }
        });
        case("the head's count changed", Some("7.3 head"), &|b| {
            let head = b["head"]
                .as_str()
                .expect("head")
                .replacen("\n7\n6\n6\n", "\n7\n7\n6\n", 1);
            b["head"] = Value::from(head);
        });
        case(
            "a withheld leaf changed or an entry shown as withheld",
            Some("7.4 entries"),
            &|b| {
                let item = entry_mut(b, 2);
                let leaf = match item["entry"].as_str() {
                    Some(bytes) => withus::format::to_hex(&withus::format::leaf_hash(
                        format!("{bytes} ").as_bytes(),
                    )),
                    None => "00".repeat(32),
                };
                *item = serde_json::json!({"seq": 3, "leaf": leaf, "proof": item["proof"].clone(), "withheld": true});
            },
        );
        case(
            "the checkpoint's signature line changed",
            Some("7.2 checkpoint"),
            &|b| {
                let cp = b["checkpoint"]
                    .as_str()
                    .expect("checkpoint")
                    .replacen("2vFGXv", "2vFGXw", 1);
                b["checkpoint"] = Value::from(cp);
            },
        );
        case("a field added", Some("7.1 shape"), &|b| {
            b["Format"] = Value::from("x")
        });
    }
    let good = vector_text("bundle.json");
    for (name, bundle, key, want) in [
        (
            "not JSON",
            "{\"format\":".to_string(),
            vkey.clone(),
            "7.1 shape",
        ),
        ("empty", String::new(), vkey.clone(), "7.1 shape"),
        ("a list", "[]".to_string(), vkey.clone(), "7.1 shape"),
        (
            "entries twice",
            good.replacen("\"entries\":", "\"entries\": [], \"entries\":", 1),
            vkey.clone(),
            "7.1 shape",
        ),
        (
            "a deep nest",
            "[".repeat(100_000),
            vkey.clone(),
            "7.1 shape",
        ),
        (
            "a malformed vkey",
            good.clone(),
            "nonsense".to_string(),
            "7.2 checkpoint",
        ),
        (
            "another key's vkey",
            good.clone(),
            // The vector key's name with another public key (and its key id).
            other_vkey(),
            "7.2 checkpoint",
        ),
    ] {
        cases.push((name.to_string(), bundle, key, Some(want)));
    }

    let harness = harness_page(&cases);
    let opened = open_in_chromium(&harness, "harness", None);
    let results: Value = serde_json::from_str(&text_of(&opened.dom, "results"))
        .expect("the harness wrote its results");
    let results = results.as_array().expect("a list of results");
    assert_eq!(results.len(), cases.len(), "every case answered");
    for ((name, _, _, want), got) in cases.iter().zip(results) {
        match want {
            None => assert_eq!(got["ok"], Value::Bool(true), "{name}: {got}"),
            Some(check) => {
                assert_eq!(got["ok"], Value::Bool(false), "{name} passed");
                assert_eq!(got["check"].as_str(), Some(*check), "{name}: {got}");
                assert!(
                    got["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{name}: {got}"
                );
            }
        }
    }
    eprintln!("{} cases in one launch, {:?}", cases.len(), opened.took);
}

/// A vkey of the same name as the vectors' but another key (seed 32 × 0x2a), well-formed.
fn other_vkey() -> String {
    withus::checkpoint::NoteSigner::new("withus.example/vectors", &[0x2a; 32])
        .expect("signer")
        .vkey()
}

/// A test page (not the product page): the vendored cryptography and the verifier, and a script
/// that runs the verifier on every case and writes the answers, as JSON, into `<pre id=results>`.
fn harness_page(cases: &[(String, String, String, Option<&str>)]) -> String {
    let inputs: Vec<Value> = cases
        .iter()
        .map(|(_, bundle, key, _)| serde_json::json!({"bundle": bundle, "vkey": key}))
        .collect();
    let inputs = serde_json::to_string(&inputs)
        .expect("inputs")
        .replace('<', "\\u003c");
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>verifier harness</title></head><body>\
         <script type=\"application/json\" id=\"inputs\">{inputs}</script>\
         <script>{}</script><script>{}</script>\
         <script>\
           var inputs = JSON.parse(document.getElementById('inputs').textContent);\
           var out = inputs.map(function (c) {{ return window.withusVerifyBundle(c.bundle, c.vkey); }});\
           var pre = document.createElement('pre'); pre.id = 'results';\
           pre.textContent = JSON.stringify(out); document.body.appendChild(pre);\
         </script></body></html>",
        include_str!("../src/sar/page/noble.js"),
        include_str!("../src/sar/page/verify.js"),
    )
}

/// A bundle the real service composed (real salts, a real key, an erased passage, text beyond
/// ASCII whose `chars` count scalar values, a worker's logged read): the page shows it and the
/// browser's verifier, written from the spec, agrees with the composer.
#[test]
fn a_bundle_the_service_composed_is_verified_in_the_browser() {
    use withus::domain::types::RedactionReason;
    use withus::domain::Command;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (bytes, vkey) = runtime.block_on(async {
        let w = common::world::World::new().await;
        w.accepted_support("sp-1", "su-sam", "pw-amara").await;
        w.meeting("m-1", "sp-1", "pw-amara").await;
        w.draft(
            "n-1",
            "m-1",
            "pw-amara",
            &[
                ("s1", "Café walk — Sam felt naïve at first, then glad 😊"),
                ("s2", "Sam's brother's debts."),
            ],
        )
        .await;
        w.ok(
            "su-sam",
            Command::ProposeRedaction {
                note_id: "n-1".into(),
                proposal_id: "r-1".into(),
                segments: vec!["s2".into()],
                reason: RedactionReason::NotWanted,
            },
        )
        .await;
        w.ok(
            "pw-amara",
            Command::AgreeRedaction {
                note_id: "n-1".into(),
                proposal_id: "r-1".into(),
            },
        )
        .await;
        w.svc.read_record("pw-amara", "su-sam", None).await.unwrap();
        let bytes = w.svc.my_bundle("su-sam").unwrap();
        (bytes, w.svc.store().vkey().unwrap())
    });
    let text = String::from_utf8(bytes).unwrap();
    let bundle = Bundle::parse(text.as_bytes()).unwrap();
    withus::sar::verify::verify(text.as_bytes(), &vkey).expect("withus' verifier agrees");
    let page = html::page(&bundle, &text, &vkey);
    let png = artifacts_dir().join("record-composed.png");
    let opened = open_in_chromium_at(&page, "composed", Some(&png), 4000);
    let status = text_of(&opened.dom, "check-status");
    assert!(status.starts_with("Verified: "), "{status}");
    let record = text_of(&opened.dom, "record");
    assert!(record.contains("then glad 😊"), "{record}");
    assert!(!record.contains("debts"), "{record}");
    assert!(record.contains("removed by agreement"), "{record}");
}
