//! The person's own statements (rectification, UK GDPR Art. 16): the person attaches their own
//! words to an item of their record — a note however it ended, a meeting, a concern and its
//! outcome, a discussion, a support relationship — saying they disagree and why.
//!
//! Owns: `statement.added`, its rules, and [`StatementRec`]. Must not touch: I/O, clocks, or
//! other areas' records beyond reading which items are the person's and visible to them.
//!
//! Rules (DOMAIN.md "The person's statements"):
//! - only the person adds a statement, about an item of their own record they can see (an item
//!   withheld from them is answered as one that does not exist);
//! - nobody edits or removes it: there is no event that could;
//! - whoever is shown the item is shown the statement with it ([`super::view`] attaches it to
//!   every view that holds its target, and a logged read lists its stream).

use serde::{Deserialize, Serialize};

use super::actors::ActorRec;
use super::checks::*;
use super::decide::{commit_all, Commit, Decision};
use super::event::*;
use super::projection::{Key, Projections};
use super::stream::Stream;
use super::types::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementRec {
    pub statement_id: String,
    pub subject: String,
    pub target_stream: String,
    pub segments: Vec<SegmentRef>,
    pub added_by: String,
    pub added_at: Time,
    pub version: u64,
}

/// Whom the item named by `stream` is about, if it is an item a statement can be about.
fn item_subject<'a>(p: &'a Projections, stream: &Stream) -> Option<&'a str> {
    match stream {
        Stream::Support(id) => p.supports.get(id).map(|s| s.subject.as_str()),
        Stream::Meeting(id) => p.meetings.get(id).map(|m| m.subject.as_str()),
        Stream::Note(id) => p.notes.get(id).map(|n| n.subject.as_str()),
        Stream::Concern(id) => p.concerns.get(id).map(|c| c.subject.as_str()),
        Stream::Discussion(id) => p.discussions.get(id).map(|d| d.subject.as_str()),
        Stream::Goal(id) => p.goals.get(id).map(|g| g.subject.as_str()),
        _ => None,
    }
}

pub(super) fn add_statement(
    p: &Projections,
    caller: &ActorRec,
    statement_id: &str,
    target_stream: &str,
    segments: &[Passage],
    commit: &mut dyn Commit,
) -> R<Decision> {
    if caller.role != Role::ServiceUser {
        return Err(denied(
            "statement.own",
            format!(
                "a {} may not add a statement: a statement is the person's own words about their \
                 record, added only by them",
                caller.role
            ),
        ));
    }
    check_id("statement_id", statement_id)?;
    let subject = caller.id.as_str();
    let stream = Stream::parse(target_stream).ok_or_else(|| {
        invalid(
            "statement.target",
            "target_stream",
            "name an item of your record: support:<id>, meeting:<id>, note:<id>, concern:<id>, \
             discussion:<id> or goal:<id>",
        )
    })?;
    let about = item_subject(p, &stream);
    if about != Some(subject) || p.is_withheld(subject, target_stream) {
        return Err(Refusal::not_found(
            "target_stream",
            format!("{target_stream} in your record"),
        ));
    }
    check_passages("segments", segments, false)?;
    if p.statements.contains_key(statement_id) {
        return Err(exists("statement_id", format!("statement {statement_id}")));
    }
    Ok(Decision::one(
        Stream::statement(statement_id),
        Some(subject.to_string()),
        Event::StatementAdded(StatementAdded {
            statement_id: statement_id.to_string(),
            target_stream: target_stream.to_string(),
            segments: commit_all(commit, segments),
        }),
    )
    .depending([stream]))
}

/// Folds a statement event.
/// Returns false when the entry does not fit the state (it is then counted as skipped).
pub(super) fn apply(p: &mut Projections, r: &Recorded, next: u64) -> bool {
    match &r.event {
        Event::StatementAdded(e) => {
            let Some(subject) = r.subject.clone() else {
                return false;
            };
            p.statements.insert(
                e.statement_id.clone(),
                StatementRec {
                    statement_id: e.statement_id.clone(),
                    subject: subject.clone(),
                    target_stream: e.target_stream.clone(),
                    segments: e.segments.clone(),
                    added_by: r.actor_id.clone(),
                    added_at: r.at,
                    version: next,
                },
            );
            p.dirty.insert(Key::Statement(e.statement_id.clone()));
            p.person_ids(&subject)
                .statements
                .insert(e.statement_id.clone());
        }
        _ => return false,
    }
    true
}
