//! Personal recovery goals, in the person's words: set, reviewed, closed (achieved, changed,
//! let go).
//!
//! Owns: `goal.set`, `goal.reviewed`, `goal.closed`, their rules and [`GoalRec`]. Must not
//! touch: I/O, clocks, or other areas' records beyond reading the support relationship a goal is
//! worked on in.
//!
//! Rules (DOMAIN.md "Recovery goals"):
//! - a goal is the person's: they set, review and close it themselves, or their worker records
//!   it `on_behalf` — a goal the worker records must be co-produced with the person and agreed
//!   by them in person (the worker cannot set a goal *for* someone);
//! - it is worked on in one accepted support relationship, whose worker sees it (and nobody
//!   else but the person: goals are not shared with the care team by a consent to share notes);
//! - reviews and closing are only of an open goal.

use serde::{Deserialize, Serialize};

use super::actors::ActorRec;
use super::checks::*;
use super::decide::{commit_all, Commit, Decision};
use super::event::*;
use super::projection::{Key, Projections};
use super::stream::Stream;
use super::support::{SupportRec, SupportStatus};
use super::types::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalRec {
    pub goal_id: String,
    pub subject: String,
    pub support_id: String,
    pub words: Vec<SegmentRef>,
    pub co_produced: bool,
    pub on_behalf: bool,
    pub set_by: String,
    pub set_at: Time,
    pub reviews: Vec<GoalReview>,
    pub closed: Option<GoalClosure>,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalReview {
    pub words: Vec<SegmentRef>,
    pub on_behalf: bool,
    pub by: String,
    pub at: Time,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalClosure {
    pub outcome: GoalOutcome,
    pub words: Vec<SegmentRef>,
    pub on_behalf: bool,
    pub by: String,
    pub at: Time,
}

/// The caller speaks for the person: the person themselves (`false`), or the worker of the
/// relationship recording what the person said in person (`true`). Anyone else gets the one
/// no-basis answer for the relationship.
fn for_the_person(s: &SupportRec, caller: &ActorRec, field: &str, what: &str) -> R<bool> {
    if is_person(caller, &s.subject) {
        return Ok(false);
    }
    if caller.id == s.worker {
        if s.status != SupportStatus::Accepted {
            return Err(precondition(
                "support.accepted",
                field,
                format!(
                    "support {} is {:?}: the worker {what} only while the person has accepted \
                     peer support",
                    s.support_id, s.status
                ),
            ));
        }
        return Ok(true);
    }
    Err(no_basis(
        field,
        format!("support relationship {}", s.support_id),
    ))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn set_goal(
    p: &Projections,
    caller: &ActorRec,
    goal_id: &str,
    support_id: &str,
    words: &[Passage],
    co_produced: bool,
    commit: &mut dyn Commit,
) -> R<Decision> {
    check_id("goal_id", goal_id)?;
    let s = party_support(p, caller, support_id)?;
    let on_behalf = for_the_person(s, caller, "support_id", "records a goal")?;
    if s.status != SupportStatus::Accepted {
        return Err(precondition(
            "support.accepted",
            "support_id",
            format!(
                "support {support_id} is {:?}: goals are worked on in an accepted relationship",
                s.status
            ),
        ));
    }
    if on_behalf && !co_produced {
        return Err(denied(
            "goal.person_agreed",
            "a goal is the person's own: a worker records one only as co-produced with the \
             person and agreed by them (co_produced: true)",
        ));
    }
    check_passages("words", words, false)?;
    if p.goals.contains_key(goal_id) {
        return Err(exists("goal_id", format!("goal {goal_id}")));
    }
    Ok(Decision::one(
        Stream::goal(goal_id),
        Some(s.subject.clone()),
        Event::GoalSet(GoalSet {
            goal_id: goal_id.to_string(),
            support_id: support_id.to_string(),
            words: commit_all(commit, words),
            co_produced,
            on_behalf,
        }),
    )
    .depending([Stream::support(support_id)]))
}

/// An open goal the caller may speak for, with whether they speak on the person's behalf.
fn open_goal<'a>(p: &'a Projections, caller: &ActorRec, goal_id: &str) -> R<(&'a GoalRec, bool)> {
    check_id("goal_id", goal_id)?;
    let unknown = || no_basis("goal_id", format!("goal {goal_id}"));
    let g = p.goals.get(goal_id).ok_or_else(unknown)?;
    let s = p.supports.get(&g.support_id).ok_or_else(unknown)?;
    if !is_person(caller, &g.subject) && caller.id != s.worker {
        return Err(unknown());
    }
    let on_behalf = for_the_person(s, caller, "goal_id", "speaks for the person's goal")?;
    if let Some(c) = &g.closed {
        return Err(precondition(
            "goal.open",
            "goal_id",
            format!("goal {goal_id} was closed ({}) at {}", c.outcome, c.at),
        ));
    }
    Ok((g, on_behalf))
}

pub(super) fn review_goal(
    p: &Projections,
    caller: &ActorRec,
    goal_id: &str,
    words: &[Passage],
    commit: &mut dyn Commit,
) -> R<Decision> {
    let (g, on_behalf) = open_goal(p, caller, goal_id)?;
    check_passages("words", words, false)?;
    Ok(Decision::one(
        Stream::goal(goal_id),
        Some(g.subject.clone()),
        Event::GoalReviewed(GoalReviewed {
            words: commit_all(commit, words),
            on_behalf,
        }),
    )
    .depending([Stream::support(&g.support_id)]))
}

pub(super) fn close_goal(
    p: &Projections,
    caller: &ActorRec,
    goal_id: &str,
    outcome: &GoalOutcome,
    words: &[Passage],
    commit: &mut dyn Commit,
) -> R<Decision> {
    let (g, on_behalf) = open_goal(p, caller, goal_id)?;
    check_passages("words", words, true)?;
    Ok(Decision::one(
        Stream::goal(goal_id),
        Some(g.subject.clone()),
        Event::GoalClosed(GoalClosed {
            outcome: *outcome,
            words: commit_all(commit, words),
            on_behalf,
        }),
    )
    .depending([Stream::support(&g.support_id)]))
}

/// Folds a goal event.
/// Returns false when the entry does not fit the state (it is then counted as skipped).
pub(super) fn apply(p: &mut Projections, r: &Recorded, next: u64) -> bool {
    match &r.event {
        Event::GoalSet(e) => {
            let Some(subject) = r.subject.clone() else {
                return false;
            };
            p.goals.insert(
                e.goal_id.clone(),
                GoalRec {
                    goal_id: e.goal_id.clone(),
                    subject: subject.clone(),
                    support_id: e.support_id.clone(),
                    words: e.words.clone(),
                    co_produced: e.co_produced,
                    on_behalf: e.on_behalf,
                    set_by: r.actor_id.clone(),
                    set_at: r.at,
                    reviews: Vec::new(),
                    closed: None,
                    version: next,
                },
            );
            p.dirty.insert(Key::Goal(e.goal_id.clone()));
            p.person_ids(&subject).goals.insert(e.goal_id.clone());
        }
        Event::GoalReviewed(_) | Event::GoalClosed(_) => {
            let Some(id) = Projections::stream_id(&r.stream, "goal") else {
                return false;
            };
            let Some(g) = p.goals.get_mut(&id) else {
                return false;
            };
            match &r.event {
                Event::GoalReviewed(e) => g.reviews.push(GoalReview {
                    words: e.words.clone(),
                    on_behalf: e.on_behalf,
                    by: r.actor_id.clone(),
                    at: r.at,
                }),
                Event::GoalClosed(e) => {
                    g.closed = Some(GoalClosure {
                        outcome: e.outcome,
                        words: e.words.clone(),
                        on_behalf: e.on_behalf,
                        by: r.actor_id.clone(),
                        at: r.at,
                    })
                }
                _ => return false,
            }
            g.version = next;
            p.dirty.insert(Key::Goal(id));
        }
        _ => return false,
    }
    true
}
