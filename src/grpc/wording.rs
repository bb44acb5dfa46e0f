//! Recovery-focused language prompts on the wire: the text of a request → `pb::WordingPrompts`,
//! through the organisation's list (`crate::language`), and the checks of `Notes.CheckWording`.
//!
//! Owns: which text of a request is looked at and how prompts are encoded. Must not: store,
//! seal, append or log any of that text or its prompts (they travel in the answer only), or
//! refuse a command for its wording (prompts are advice; the handlers attach them only to an
//! accepted call).

use std::collections::BTreeSet;

use tonic::Status;

use super::pb;
use super::status::refuse;
use crate::content::MAX_SEGMENT_BYTES;
use crate::domain::decide::MAX_SEGMENTS;
use crate::domain::types::{is_id, ID_RULE};
use crate::domain::Code;
use crate::language::{LanguageList, Prompts};

/// The prompts for `texts` (segment id, text). A text over the segment limit is skipped: the
/// command carrying it is refused anyway, and looking at it would only cost time.
pub(super) fn prompts<'t>(
    list: &LanguageList,
    texts: impl IntoIterator<Item = (&'t str, &'t str)>,
) -> pb::WordingPrompts {
    encode(
        list.check(
            texts
                .into_iter()
                .filter(|(_, text)| text.len() <= MAX_SEGMENT_BYTES),
        ),
    )
}

/// A request's segments as (id, text).
pub(super) fn segments(segs: &[pb::TextSegment]) -> impl Iterator<Item = (&str, &str)> {
    segs.iter().map(|s| (s.id.as_str(), s.text.as_str()))
}

/// A single text field, named by the passage id the command gives it (`detail`, `reason`,
/// `justification`); empty means none.
pub(super) fn field<'t>(id: &'t str, text: &'t str) -> Option<(&'t str, &'t str)> {
    (!text.is_empty()).then_some((id, text))
}

/// `Notes.CheckWording`: the request's segments checked as a note's are (count, ids, sizes; an
/// empty text is allowed), then their prompts.
pub(super) fn check_wording(
    list: &LanguageList,
    q: &pb::CheckWordingRequest,
) -> Result<pb::WordingPrompts, Status> {
    if q.segments.is_empty() {
        return Err(refuse(
            Code::InvalidArgument,
            "segments",
            "needs at least one segment of text to check",
        ));
    }
    if q.segments.len() > MAX_SEGMENTS {
        return Err(refuse(
            Code::ResourceExhausted,
            "segments",
            &format!(
                "{} segments is over the limit of {MAX_SEGMENTS}; check them in parts",
                q.segments.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, s) in q.segments.iter().enumerate() {
        if !is_id(&s.id) {
            return Err(refuse(
                Code::InvalidArgument,
                &format!("segments[{i}].id"),
                ID_RULE,
            ));
        }
        if !seen.insert(s.id.as_str()) {
            return Err(refuse(
                Code::InvalidArgument,
                &format!("segments[{i}].id"),
                &format!("segment id {} appears twice; ids are unique", s.id),
            ));
        }
        if s.text.len() > MAX_SEGMENT_BYTES {
            return Err(refuse(
                Code::ResourceExhausted,
                &format!("segments[{i}].text"),
                &format!(
                    "segment {} is {} bytes, over the {MAX_SEGMENT_BYTES} byte limit per \
                     segment; split the text",
                    s.id,
                    s.text.len()
                ),
            ));
        }
    }
    Ok(prompts(list, segments(&q.segments)))
}

fn encode(p: Prompts<'_>) -> pb::WordingPrompts {
    // Offsets fit: a text looked at is at most 64 KiB.
    let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    pb::WordingPrompts {
        prompts: p
            .prompts
            .into_iter()
            .map(|p| pb::WordingPrompt {
                segment_id: p.segment_id,
                start: at(p.found.start),
                end: at(p.found.end),
                phrase: p.found.phrase.to_string(),
                entry_id: p.found.entry.id.clone(),
                why: p.found.entry.why.clone(),
                alternatives: p.found.entry.alternatives.clone(),
                sources: p.found.entry.sources.clone(),
            })
            .collect(),
        omitted: at(p.omitted),
    }
}
