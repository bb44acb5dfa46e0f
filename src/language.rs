//! Recovery-focused language prompts: an organisation's list of phrases that stigmatise or
//! describe people by deficit (`data/language-prompts.toml` is the default, documented there),
//! and finding them in text, as whole words, with why each can harm and what to say instead.
//!
//! Owns: the list's format (TOML) and its checks, and the matching (one Aho-Corasick automaton
//! per list, built once). Must not: do I/O (the caller reads the file), refuse or decide
//! anything (a prompt is advice; the text is saved as written), keep, log or return the text
//! it looks at (a prompt says where, never what).

use std::collections::BTreeSet;

use aho_corasick::{AhoCorasick, MatchKind};
use serde::Deserialize;

/// The list withus serves when no `--language FILE` is given.
pub const DEFAULT_LIST: &str = include_str!("../data/language-prompts.toml");

/// Most prompts one call answers with; the rest are counted ([`Prompts::omitted`]). A note of 64
/// segments of 64 KiB could hold hundreds of thousands of matches, and an accepted call must
/// never fail on the size of its answer.
pub const MAX_PROMPTS: usize = 100;

/// Limits on a list, so that a prompt stays readable and an answer bounded.
pub const MAX_ENTRIES: usize = 1000;
pub const MAX_PHRASES: usize = 32;
pub const MAX_PHRASE_CHARS: usize = 100;
pub const MAX_WHY_CHARS: usize = 1000;
pub const MAX_ALTERNATIVES: usize = 10;
pub const MAX_ALTERNATIVE_CHARS: usize = 200;
pub const MAX_SOURCES: usize = 10;
pub const MAX_SOURCE_CHARS: usize = 300;
pub const MAX_ID_CHARS: usize = 64;

/// One entry of the list: phrases that mean the same harm, why, and what to say instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Unique in the list: lowercase ASCII letters, digits and hyphens.
    pub id: String,
    /// As the list writes them.
    pub phrases: Vec<String>,
    pub why: String,
    pub alternatives: Vec<String>,
    pub sources: Vec<String>,
}

/// A phrase of the list found in one text: where, in Unicode scalar values from the text's
/// start (`end` exclusive), which phrase and which entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found<'l> {
    pub start: usize,
    pub end: usize,
    /// The phrase as the list writes it.
    pub phrase: &'l str,
    pub entry: &'l Entry,
}

/// A phrase found in one of several texts (a note's segments), named by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt<'l> {
    pub segment_id: String,
    pub found: Found<'l>,
}

/// The prompts for a set of texts: at most [`MAX_PROMPTS`], in the order of the texts and of
/// their positions, and how many more were found and left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompts<'l> {
    pub prompts: Vec<Prompt<'l>>,
    pub omitted: usize,
}

/// Why a list could not be used, naming where: the line and column of a TOML error, or the
/// entry (its number from 1, its line and id) and field of a rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("entry {number} (line {line}, id {id:?}): {field}: {message}")]
    Entry {
        number: usize,
        line: usize,
        id: String,
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    List(String),
}

/// A list ready to match: its entries and the automaton over all their phrases.
#[derive(Clone)]
pub struct LanguageList {
    entries: Vec<Entry>,
    /// For each pattern of `matcher`, in order: (entry, phrase) indexes.
    patterns: Vec<(usize, usize)>,
    matcher: AhoCorasick,
}

impl std::fmt::Debug for LanguageList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageList")
            .field("entries", &self.entries.len())
            .field("phrases", &self.patterns.len())
            .finish()
    }
}

impl Default for LanguageList {
    /// The default list ([`DEFAULT_LIST`]). It is part of the program and checked by the tests
    /// (`the_default_list_reads_and_has_sources`), so it always parses.
    fn default() -> LanguageList {
        LanguageList::parse(DEFAULT_LIST).expect("the embedded default language list parses")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawList {
    #[serde(default)]
    entry: Vec<toml::Spanned<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: String,
    phrases: Vec<String>,
    why: String,
    alternatives: Vec<String>,
    sources: Vec<String>,
}

impl LanguageList {
    /// Reads a list (the format `data/language-prompts.toml` documents) and builds its matcher.
    pub fn parse(text: &str) -> Result<LanguageList, ListError> {
        let raw: RawList = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_column(text, s.start))
                .unwrap_or((1, 1));
            ListError::Syntax {
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        if raw.entry.is_empty() {
            return Err(ListError::List(
                "the list has no [[entry]]; to use withus' own list, leave out --language".into(),
            ));
        }
        if raw.entry.len() > MAX_ENTRIES {
            return Err(ListError::List(format!(
                "the list has {} entries, over the limit of {MAX_ENTRIES}",
                raw.entry.len()
            )));
        }
        let mut entries = Vec::with_capacity(raw.entry.len());
        let mut patterns = Vec::new();
        let mut needles = Vec::new();
        let mut ids = BTreeSet::new();
        // Each normalised phrase (ASCII letters lowercased) → (entry number, phrase as written).
        let mut seen = std::collections::BTreeMap::<String, (usize, String)>::new();
        for (i, spanned) in raw.entry.into_iter().enumerate() {
            let number = i + 1;
            let line = line_column(text, spanned.span().start).0;
            let e = spanned.into_inner();
            let fail = |field: &'static str, message: String| ListError::Entry {
                number,
                line,
                id: e.id.clone(),
                field,
                message,
            };
            let id_ok = !e.id.is_empty()
                && e.id.len() <= MAX_ID_CHARS
                && e.id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !id_ok {
                return Err(fail(
                    "id",
                    format!("must be 1-{MAX_ID_CHARS} lowercase letters, digits and hyphens"),
                ));
            }
            if !ids.insert(e.id.clone()) {
                return Err(fail("id", "is already the id of an earlier entry".into()));
            }
            count("phrases", &e.phrases, MAX_PHRASES).map_err(|m| fail("phrases", m))?;
            for (k, phrase) in e.phrases.iter().enumerate() {
                let needle = check_phrase(phrase).map_err(|m| fail("phrases", m))?;
                let key = needle.to_ascii_lowercase();
                if let Some((other, written)) = seen.get(&key) {
                    return Err(fail(
                        "phrases",
                        format!(
                            "{phrase:?} reads the same as {written:?} of entry {other} \
                             (case, spaces and hyphens do not count); list it once"
                        ),
                    ));
                }
                seen.insert(key, (number, phrase.clone()));
                patterns.push((i, k));
                needles.push(needle);
            }
            text_field("why", &e.why, MAX_WHY_CHARS).map_err(|m| fail("why", m))?;
            count("alternatives", &e.alternatives, MAX_ALTERNATIVES)
                .map_err(|m| fail("alternatives", m))?;
            for a in &e.alternatives {
                text_field("alternatives", a, MAX_ALTERNATIVE_CHARS)
                    .map_err(|m| fail("alternatives", m))?;
            }
            count("sources", &e.sources, MAX_SOURCES).map_err(|m| fail("sources", m))?;
            for s in &e.sources {
                text_field("sources", s, MAX_SOURCE_CHARS).map_err(|m| fail("sources", m))?;
            }
            entries.push(Entry {
                id: e.id,
                phrases: e.phrases.iter().map(|p| p.trim().to_string()).collect(),
                why: e.why.trim().to_string(),
                alternatives: e
                    .alternatives
                    .iter()
                    .map(|a| a.trim().to_string())
                    .collect(),
                sources: e.sources.iter().map(|s| s.trim().to_string()).collect(),
            });
        }
        // Overlapping search with standard semantics; `find` then chooses leftmost-longest among
        // the matches that are whole words. A leftmost-longest automaton reports only the longest
        // match at each start: with phrases "victim" and "victim of", in "victim offered" it
        // would report "victim of" (not whole words, so dropped) and never "victim" (which is).
        let matcher = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&needles)
            .map_err(|e| ListError::List(format!("the phrases cannot be matched: {e}")))?;
        Ok(LanguageList {
            entries,
            patterns,
            matcher,
        })
    }

    /// The entries, in the list's order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Every phrase of the list in `text` as a whole word (or words), not inside double quotes,
    /// in order; where found phrases overlap, the one that starts first and then the longest.
    /// Offsets are in Unicode scalar values.
    pub fn find(&self, text: &str) -> Vec<Found<'_>> {
        let norm = Normalised::of(text);
        let quotes = quoted_spans(&norm.text);
        let mut candidates: Vec<(usize, usize, usize)> = self
            .matcher
            .find_overlapping_iter(norm.text.as_str())
            .filter(|m| whole_words(&norm.text, m.start(), m.end()))
            .map(|m| (m.start(), m.end(), m.pattern().as_usize()))
            .collect();
        candidates.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut found = Vec::new();
        let mut taken_to = 0;
        let mut q = quotes.iter().peekable();
        for (start, end, pattern) in candidates {
            if start < taken_to {
                continue;
            }
            while q.next_if(|(_, close)| *close <= start).is_some() {}
            if q.peek().is_some_and(|(open, _)| *open < start) {
                continue; // inside a quotation: the person's own words
            }
            let Some(&(e, p)) = self.patterns.get(pattern) else {
                continue;
            };
            let (Some(entry), Some(&first), Some(&last)) = (
                self.entries.get(e),
                norm.origin.get(start),
                end.checked_sub(1).and_then(|l| norm.origin.get(l)),
            ) else {
                continue;
            };
            let Some(phrase) = entry.phrases.get(p) else {
                continue;
            };
            taken_to = end;
            found.push(Found {
                start: first,
                end: last + 1,
                phrase,
                entry,
            });
        }
        found
    }

    /// The prompts for `texts` (each a segment id and its text): [`LanguageList::find`] in each,
    /// the first [`MAX_PROMPTS`] kept and the rest counted.
    pub fn check<'t>(&self, texts: impl IntoIterator<Item = (&'t str, &'t str)>) -> Prompts<'_> {
        let mut out = Prompts::default();
        for (segment_id, text) in texts {
            for found in self.find(text) {
                if out.prompts.len() < MAX_PROMPTS {
                    out.prompts.push(Prompt {
                        segment_id: segment_id.to_string(),
                        found,
                    });
                } else {
                    out.omitted += 1;
                }
            }
        }
        out
    }
}

/// 1-based line and column (in characters) of byte `at` of `text`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let mut cut = at.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let before = &text[..cut];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn count(field: &str, items: &[String], max: usize) -> Result<(), String> {
    if items.is_empty() {
        return Err(match field {
            "alternatives" => "needs at least one recovery-focused alternative".into(),
            "sources" => "needs at least one source, so readers can see where the advice comes \
                          from (your organisation's own guidance counts)"
                .into(),
            _ => "needs at least one phrase".into(),
        });
    }
    if items.len() > max {
        return Err(format!("has {}, over the limit of {max}", items.len()));
    }
    Ok(())
}

fn text_field(field: &str, value: &str, max: usize) -> Result<(), String> {
    let chars = value.trim().chars().count();
    if chars == 0 {
        return Err(format!(
            "an empty {field} text says nothing; write it or leave it out"
        ));
    }
    if chars > max {
        return Err(format!("{chars} characters is over the limit of {max}"));
    }
    Ok(())
}

/// A phrase as the matcher looks for it (normalised as text is), or why it cannot be one.
fn check_phrase(phrase: &str) -> Result<String, String> {
    if phrase.chars().count() > MAX_PHRASE_CHARS {
        return Err(format!(
            "{:?} is over the limit of {MAX_PHRASE_CHARS} characters",
            phrase.chars().take(40).collect::<String>()
        ));
    }
    if phrase.contains(['"', '\u{201c}', '\u{201d}']) {
        return Err(format!(
            "{phrase:?} contains a double quote; quoted words are never prompted, so a phrase \
             cannot hold one"
        ));
    }
    let written = phrase.trim();
    let needle = Normalised::of(written).text;
    let (Some(first), Some(last)) = (written.chars().next(), written.chars().next_back()) else {
        return Err("an empty phrase matches nothing".into());
    };
    if !is_word_char(first) || !is_word_char(last) {
        return Err(format!(
            "{phrase:?} must start and end with a letter or digit (matches are whole words)"
        ));
    }
    Ok(needle)
}

/// Text as the matcher reads it: every run of whitespace and hyphens (of any kind) is one ASCII
/// space, curly single quotes are straight; `origin[b]` is the index, in characters of the
/// original text, of the character that byte `b` came from.
struct Normalised {
    text: String,
    origin: Vec<usize>,
}

impl Normalised {
    fn of(original: &str) -> Normalised {
        let mut text = String::with_capacity(original.len());
        let mut origin = Vec::with_capacity(original.len());
        let mut in_gap = false;
        for (i, c) in original.chars().enumerate() {
            let c = if c.is_whitespace() || is_hyphen(c) {
                if in_gap {
                    continue;
                }
                in_gap = true;
                ' '
            } else {
                in_gap = false;
                match c {
                    '\u{2018}' | '\u{2019}' | '\u{02bc}' => '\'',
                    c => c,
                }
            };
            text.push(c);
            origin.extend(std::iter::repeat_n(i, c.len_utf8()));
        }
        Normalised { text, origin }
    }
}

fn is_hyphen(c: char) -> bool {
    matches!(c, '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{00ad}')
}

/// A character that belongs to a word: a letter or digit of any script, an underscore, or a
/// combining mark (so "cafe" + U+0301 is one word, not "cafe" and an accent).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
        || c == '_'
        || matches!(c,
            '\u{0300}'..='\u{036f}'
            | '\u{1ab0}'..='\u{1aff}'
            | '\u{1dc0}'..='\u{1dff}'
            | '\u{20d0}'..='\u{20ff}'
            | '\u{fe20}'..='\u{fe2f}')
}

/// Is `text[start..end]` whole words: no word character just before or just after it?
fn whole_words(text: &str, start: usize, end: usize) -> bool {
    let (Some(before), Some(after)) = (text.get(..start), text.get(end..)) else {
        return false; // not on character boundaries: cannot happen for UTF-8 phrases, but never panic
    };
    !before.chars().next_back().is_some_and(is_word_char)
        && !after.chars().next().is_some_and(is_word_char)
}

/// The closed double quotations of `text` as (opening, closing) byte offsets, in order: a
/// straight `"` pairs with the next straight one, `“` with the next `”`. An unclosed quote
/// quotes nothing (a stray mark must not hide the rest of a note from the prompts).
fn quoted_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut open: Option<(usize, char)> = None;
    for (b, c) in text.char_indices() {
        match (open, c) {
            (None, '"') => open = Some((b, '"')),
            (None, '\u{201c}') => open = Some((b, '\u{201d}')),
            (Some((at, close)), c) if c == close => {
                spans.push((at, b));
                open = None;
            }
            _ => {}
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> LanguageList {
        LanguageList::default()
    }

    /// (phrase as the list writes it, the text found, in chars) of every match.
    fn found(text: &str) -> Vec<(String, String)> {
        let chars: Vec<char> = text.chars().collect();
        list()
            .find(text)
            .iter()
            .map(|f| {
                (
                    f.phrase.to_string(),
                    chars[f.start..f.end].iter().collect::<String>(),
                )
            })
            .collect()
    }

    fn pair(phrase: &str, text: &str) -> (String, String) {
        (phrase.to_string(), text.to_string())
    }

    #[test]
    fn the_default_list_reads_and_has_sources() {
        let l = LanguageList::parse(DEFAULT_LIST).unwrap();
        assert!(
            (25..=40).contains(&l.entries().len()),
            "{}",
            l.entries().len()
        );
        for e in l.entries() {
            assert!(
                !e.sources.is_empty() && !e.alternatives.is_empty(),
                "{}",
                e.id
            );
        }
        for id in [
            "committed-suicide",
            "suffers-from",
            "non-compliant",
            "attention-seeking",
            "a-schizophrenic",
            "manipulative",
            "refused-to-engage",
            "frequent-flyer",
            "lacks-insight",
            "wheelchair-bound",
        ] {
            assert!(l.entries().iter().any(|e| e.id == id), "{id} missing");
        }
    }

    #[test]
    fn case_does_not_matter() {
        assert_eq!(
            found("She SUFFERS FROM low mood. Suffers From it daily."),
            vec![
                pair("suffers from", "SUFFERS FROM"),
                pair("suffers from", "Suffers From")
            ]
        );
    }

    #[test]
    fn only_whole_words_match() {
        assert!(found("he spoke manipulatively").is_empty());
        assert!(found("uncommitted suicidebomb").is_empty());
        assert!(found("committed suicides").is_empty());
        assert!(found("xcommitted suicide").is_empty());
        assert_eq!(
            found("(committed suicide)."),
            vec![pair("committed suicide", "committed suicide")]
        );
        assert_eq!(
            found("was manipulative."),
            vec![pair("manipulative", "manipulative")]
        );
        // An apostrophe is not a word character: "schizophrenic's" still names a person by a diagnosis.
        assert_eq!(
            found("a schizophrenic's flat"),
            vec![pair("a schizophrenic", "a schizophrenic")]
        );
    }

    #[test]
    fn several_matches_are_found_in_order() {
        let text = "She suffers from depression and was non-compliant; a frequent flyer.";
        assert_eq!(
            found(text),
            vec![
                pair("suffers from", "suffers from"),
                pair("non-compliant", "non-compliant"),
                pair("frequent flyer", "frequent flyer"),
            ]
        );
    }

    #[test]
    fn overlapping_phrases_give_the_longest_that_starts_first() {
        assert_eq!(
            found("described as mentally handicapped"),
            vec![pair("mentally handicapped", "mentally handicapped")]
        );
        assert_eq!(
            found("a failed suicide attempt"),
            vec![pair("failed suicide attempt", "failed suicide attempt")]
        );
        // "the mentally ill" starts before "mentally ill person": the first start wins.
        assert_eq!(
            found("the mentally ill person"),
            vec![pair("the mentally ill", "the mentally ill")]
        );
    }

    #[test]
    fn a_longer_phrase_that_is_not_whole_words_leaves_a_shorter_one_found() {
        let l = LanguageList::parse(
            r#"
[[entry]]
id = "victim"
phrases = ["victim", "victim of"]
why = "w"
alternatives = ["a"]
sources = ["s"]
"#,
        )
        .unwrap();
        let f = l.find("a victim offered");
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].phrase, f[0].start, f[0].end), ("victim", 2, 8));
        let f = l.find("a victim of");
        assert_eq!((f[0].phrase, f[0].start, f[0].end), ("victim of", 2, 11));
    }

    #[test]
    fn spaces_line_breaks_and_hyphens_are_alike() {
        assert_eq!(
            found("was non\n  compliant and non–compliant, and non- \tcompliant"),
            vec![
                pair("non-compliant", "non\n  compliant"),
                pair("non-compliant", "non–compliant"),
                pair("non-compliant", "non- \tcompliant"),
            ]
        );
        assert_eq!(found("an attention seeking act")[0].0, "attention-seeking");
        assert_eq!(found("she was DNA’d twice")[0].0, "DNA'd");
    }

    #[test]
    fn offsets_are_in_characters_and_non_ascii_letters_are_word_characters() {
        let text = "Zoë — “tired” — suffers from anxiety 🙂 and lacks insight";
        let l = list();
        let f = l.find(text);
        let chars: Vec<char> = text.chars().collect();
        assert_eq!(f.len(), 2);
        assert_eq!(
            chars[f[0].start..f[0].end].iter().collect::<String>(),
            "suffers from"
        );
        assert_eq!(f[0].start, 16);
        assert_eq!(
            chars[f[1].start..f[1].end].iter().collect::<String>(),
            "lacks insight"
        );
        // A letter beyond ASCII next to a phrase makes it part of a longer word.
        assert!(found("ésuffers from").is_empty());
        assert!(found("suffers fromé").is_empty());
        assert!(found("psychoé").is_empty());
        assert!(
            found("psycho\u{0301}").is_empty(),
            "a combining mark continues the word"
        );
        assert_eq!(found("«psycho»"), vec![pair("psycho", "psycho")]);
        assert_eq!(found("日本psycho日本").len(), 0);
    }

    #[test]
    fn quoted_words_are_the_persons_own_and_not_prompted() {
        assert!(found(r#"She said "I'm an addict and proud of my recovery"."#).is_empty());
        assert!(found("He said “they think I'm a psycho” and laughed").is_empty());
        // Outside the quotation, and with an unclosed quote, prompts still come.
        assert_eq!(
            found(r#"She said "I'm fine" but suffers from it"#),
            vec![pair("suffers from", "suffers from")]
        );
        assert_eq!(
            found(r#"a stray " then suffers from"#),
            vec![pair("suffers from", "suffers from")]
        );
    }

    #[test]
    fn text_without_phrases_and_odd_text_give_nothing() {
        for t in [
            "",
            " ",
            "-",
            "\"",
            "“",
            "a",
            "\u{0301}",
            "🙂🙂",
            "\0\u{10ffff}",
        ] {
            assert!(found(t).is_empty(), "{t:?}");
        }
        assert!(found("We met at the café and talked about her week.").is_empty());
    }

    #[test]
    fn check_names_segments_and_counts_what_it_leaves_out() {
        let l = list();
        let many = "psycho ".repeat(MAX_PROMPTS + 5);
        let p = l.check([("s1", "suffers from"), ("s2", many.as_str())]);
        assert_eq!(p.prompts.len(), MAX_PROMPTS);
        assert_eq!(p.omitted, 6);
        assert_eq!(p.prompts[0].segment_id, "s1");
        assert_eq!(p.prompts[1].segment_id, "s2");
        assert_eq!(p.prompts[1].found.entry.id, "slurs");
    }

    fn err(toml: &str) -> String {
        LanguageList::parse(toml).unwrap_err().to_string()
    }

    const ONE: &str = r#"
[[entry]]
id = "one"
phrases = ["suffers from"]
why = "w"
alternatives = ["lives with"]
sources = ["s"]
"#;

    #[test]
    fn a_bad_list_is_refused_naming_the_line_and_entry() {
        assert!(LanguageList::parse(ONE).is_ok());
        assert!(err("[[entry]]\nid = \"x\"\nphrases = [\"a\"\n").starts_with("line 3, column"));
        let two = format!("{ONE}\n[[entry]]\nid = \"two\"\nphrases = [\"x\"]\nwhy = \"w\"\nalternatives = []\nsources = [\"s\"]\n");
        assert_eq!(
            err(&two),
            "entry 2 (line 9, id \"two\"): alternatives: needs at least one recovery-focused alternative"
        );
        assert!(err(&ONE.replace("one", "One")).contains("id: must be"));
        assert!(err(&ONE.replace("sources = [\"s\"]", "sources = []")).contains("sources: needs"));
        assert!(err(&ONE.replace("why = \"w\"", "why = \" \"")).contains("why:"));
        assert!(err(&ONE.replace("why = \"w\"", "whi = \"w\"")).contains("line"));
        assert!(err(&ONE.replace("suffers from", "-suffers")).contains("must start and end"));
        assert!(err(&ONE.replace("suffers from", "say \\\"x\\\"")).contains("double quote"));
        assert!(
            err(&ONE.replace("\"suffers from\"", "\"a-b\", \"A  b\"")).contains("reads the same")
        );
        assert!(err(&format!("{ONE}{}", ONE.replace("\"one\"", "\"two\"")))
            .contains("reads the same as \"suffers from\" of entry 1"));
        assert!(err(&format!("{ONE}{ONE}")).contains("already the id"));
        assert!(err("").contains("no [[entry]]"));
        assert!(err("title = 1").starts_with("line 1"));
    }
}
