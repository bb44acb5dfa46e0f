//! Notes, co-produced: drafted by the worker, revised, agreed by both, changed after agreement
//! only by addendum; passages removed by agreement are erased and never come back.
//!
//! Owns: `note.*` and `redaction.*` events, their rules, and [`NoteRec`] with its revisions,
//! proposals and removals. Must not touch: I/O, clocks, or other areas' records beyond reading
//! the meeting and support relationship a note belongs to.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::actors::ActorRec;
use super::checks::*;
use super::decide::{commit_all, Commit, Decision};
use super::event::*;
use super::projection::{Key, Projections};
use super::stream::Stream;
use super::support::SupportStatus;
use super::types::*;

crate::domain::types::vocabulary!(
    /// Where a note is in its co-production.
    NoteStatus {
        /// Being co-produced: not yet agreed by both on the latest revision (or an addendum is).
        Open = "open",
        /// Both agreed the latest revision.
        Agreed = "agreed",
        /// Closed without agreement.
        Closed = "closed",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionRec {
    pub revision: u64,
    /// `drafted`, `revised` or `addendum`.
    pub kind: String,
    pub at: Time,
    pub by: String,
    pub segments: Vec<SegmentRef>,
}

crate::domain::types::vocabulary!(
    /// Where a proposed redaction is: waiting for the other party, or decided.
    ProposalStatus {
        Pending = "pending",
        Agreed = "agreed",
        Declined = "declined",
        Withdrawn = "withdrawn",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalRec {
    pub proposal_id: String,
    pub proposed_by: String,
    /// Proposed by the person (else by the author): decides who the "other party" is.
    pub by_person: bool,
    pub segments: Vec<String>,
    pub reason: RedactionReason,
    pub at: Time,
    pub status: ProposalStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<Time>,
    /// A decliner's written reason (the person sees it).
    pub decline_reason: Option<SegmentRef>,
}

/// A passage removed by agreement: who agreed, when, and how long it was — never the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    pub proposal_id: String,
    pub agreed_by: String,
    pub agreed_at: Time,
    pub chars: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteRec {
    pub note_id: String,
    pub subject: String,
    pub meeting_id: String,
    pub support_id: String,
    pub author: String,
    pub drafted_at: Time,
    /// Latest revision number; drafting is revision 1.
    pub revision: u64,
    /// Every revision, in order: what redaction erases from and what time travel shows.
    pub revisions: Vec<RevisionRec>,
    pub status: NoteStatus,
    /// The revision the person agreed, if any (cleared by a new revision).
    pub person_agreed: Option<u64>,
    /// The revision the author agreed, if any.
    pub author_agreed: Option<u64>,
    /// The latest revision both agreed.
    pub agreed_revision: Option<u64>,
    pub agreed_at: Option<Time>,
    /// When the note was first agreed or closed (rule 8's 14 days).
    pub settled_at: Option<Time>,
    /// Revision → when both parties agreed it (an addendum's agreement, for rule 8's flag).
    #[serde(default)]
    pub agreed_revisions: BTreeMap<u64, Time>,
    pub close_reason: Option<CloseReason>,
    pub proposals: BTreeMap<String, ProposalRec>,
    /// Segment id → removal.
    pub removed: BTreeMap<String, Removal>,
    pub version: u64,
}

impl NoteRec {
    /// The current text of the note: the latest body revision, then each addendum.
    pub fn current_segments(&self) -> Vec<&SegmentRef> {
        self.segments_at(self.revision)
    }

    /// The text of the note as of `revision`: the latest body revision up to it, then each
    /// addendum up to it (what was agreed, while a later addendum awaits agreement).
    pub fn segments_at(&self, revision: u64) -> Vec<&SegmentRef> {
        let upto = || {
            self.revisions
                .iter()
                .filter(move |r| r.revision <= revision)
        };
        let mut out = Vec::new();
        if let Some(body) = upto().rfind(|r| r.kind != "addendum") {
            out.extend(body.segments.iter());
        }
        for a in upto().filter(|r| r.kind == "addendum") {
            out.extend(a.segments.iter());
        }
        out
    }

    /// Every commitment ever held under these segment ids, in any revision.
    pub fn commits_of(&self, ids: &[String]) -> Vec<HexHash> {
        let mut out: BTreeSet<HexHash> = BTreeSet::new();
        for r in &self.revisions {
            for s in &r.segments {
                if ids.contains(&s.id) {
                    out.insert(s.commit);
                }
            }
        }
        out.into_iter().collect()
    }

    pub fn has_pending_proposal(&self) -> bool {
        self.proposals
            .values()
            .any(|p| p.status == ProposalStatus::Pending)
    }
}

/// The note `id`, if the caller is one of its parties (the person, or its author); otherwise
/// the one no-basis answer, the same as for a note that does not exist.
fn party_note<'a>(p: &'a Projections, caller: &ActorRec, id: &str) -> R<&'a NoteRec> {
    check_id("note_id", id)?;
    match p.notes.get(id) {
        Some(n) if is_person(caller, &n.subject) || caller.id == n.author => Ok(n),
        _ => Err(no_basis("note_id", format!("note {id}"))),
    }
}

/// How a party acts on a note: the person always may; the author only while the support
/// relationship the note was made under is accepted (domain.md: a peer worker acts for people
/// with an accepted relationship). Returns `(by_person, streams relied on)`.
fn note_party(
    p: &Projections,
    n: &NoteRec,
    caller: &ActorRec,
    what: &str,
) -> R<(bool, Vec<Stream>)> {
    if is_person(caller, &n.subject) {
        return Ok((true, Vec::new()));
    }
    let support_id = p.meetings.get(&n.meeting_id).map(|m| m.support_id.clone());
    match support_id.as_deref().and_then(|id| p.supports.get(id)) {
        Some(s) if s.worker == caller.id && s.status == SupportStatus::Accepted => {
            Ok((false, vec![Stream::support(&s.support_id)]))
        }
        _ => Err(denied(
            "support.accepted",
            format!(
                "the support relationship note {} was written under is no longer accepted: \
                 its author may no longer {what} it (the person still can)",
                n.note_id
            ),
        )),
    }
}

fn note_emit(n: &NoteRec, event: Event) -> Decision {
    Decision::one(Stream::note(&n.note_id), Some(n.subject.clone()), event)
}

pub(super) fn draft_note(
    p: &Projections,
    caller: &ActorRec,
    note_id: &str,
    meeting_id: &str,
    segments: &[Passage],
    commit: &mut dyn Commit,
) -> R<Decision> {
    check_id("note_id", note_id)?;
    check_id("meeting_id", meeting_id)?;
    let m = match p.meetings.get(meeting_id) {
        Some(m) if caller.id == m.worker || is_person(caller, &m.subject) => m,
        _ => return Err(no_basis("meeting_id", format!("meeting {meeting_id}"))),
    };
    if caller.id != m.worker {
        return Err(denied(
            "note.author",
            format!(
                "only the worker who met the person ({}) drafts the note of meeting {meeting_id}",
                m.worker
            ),
        ));
    }
    let s = p.supports.get(&m.support_id).ok_or_else(|| {
        Refusal::not_found("meeting_id", format!("support of meeting {meeting_id}"))
    })?;
    if s.status != SupportStatus::Accepted {
        return Err(precondition(
            "support.accepted",
            "meeting_id",
            format!(
                "support {} is {:?}; notes are drafted only while support is accepted",
                s.support_id, s.status
            ),
        ));
    }
    if m.status != MeetingStatus::Held {
        return Err(precondition(
            "meeting.held",
            "meeting_id",
            format!(
                "meeting {meeting_id} is {}: a note is drafted only of a meeting that was held",
                m.status
            ),
        ));
    }
    if p.notes.contains_key(note_id) {
        return Err(exists("note_id", format!("note {note_id}")));
    }
    check_passages("segments", segments, false)?;
    Ok(Decision::one(
        Stream::note(note_id),
        Some(m.subject.clone()),
        Event::NoteDrafted(NoteDrafted {
            note_id: note_id.to_string(),
            meeting_id: meeting_id.to_string(),
            segments: commit_all(commit, segments),
        }),
    )
    .depending([Stream::support(&m.support_id), Stream::meeting(meeting_id)]))
}

pub(super) fn revise_note(
    p: &Projections,
    caller: &ActorRec,
    note_id: &str,
    segments: &[Passage],
    commit: &mut dyn Commit,
) -> R<Decision> {
    let n = party_note(p, caller, note_id)?;
    let (_, depends) = note_party(p, n, caller, "revise")?;
    if n.status != NoteStatus::Open || n.agreed_revision.is_some() {
        return Err(precondition("note.open", "note_id", format!("note {note_id} is {:?}; an agreed note changes only by addendum, a closed one not at all", n.status)));
    }
    check_passages("segments", segments, false)?;
    no_removed(n, segments)?;
    Ok(note_emit(
        n,
        Event::NoteRevised(NoteRevised {
            segments: commit_all(commit, segments),
        }),
    )
    .depending(depends))
}

pub(super) fn add_addendum(
    p: &Projections,
    caller: &ActorRec,
    note_id: &str,
    segments: &[Passage],
    commit: &mut dyn Commit,
) -> R<Decision> {
    let n = party_note(p, caller, note_id)?;
    let (_, depends) = note_party(p, n, caller, "add an addendum to")?;
    if n.status != NoteStatus::Agreed {
        return Err(precondition("note.addendum_after_agreement", "note_id", format!("note {note_id} is {:?}; addenda are added to agreed notes (revise a draft instead)", n.status)));
    }
    check_passages("segments", segments, false)?;
    let existing: BTreeSet<&String> = n
        .revisions
        .iter()
        .flat_map(|r| r.segments.iter().map(|s| &s.id))
        .collect();
    for (i, s) in segments.iter().enumerate() {
        if existing.contains(&s.id) {
            return Err(Refusal::new(
                Code::AlreadyExists,
                "segments",
                format!("segments[{i}].id"),
                format!(
                    "segment id {} is already used in note {note_id}; addenda use new ids",
                    s.id
                ),
            ));
        }
    }
    Ok(note_emit(
        n,
        Event::NoteAddendum(NoteAddendum {
            segments: commit_all(commit, segments),
        }),
    )
    .depending(depends))
}

pub(super) fn propose_redaction(
    p: &Projections,
    caller: &ActorRec,
    note_id: &str,
    proposal_id: &str,
    segments: &[String],
    reason: &RedactionReason,
) -> R<Decision> {
    let n = party_note(p, caller, note_id)?;
    let (_, depends) = note_party(p, n, caller, "propose a redaction in")?;
    check_id("proposal_id", proposal_id)?;
    if n.proposals.contains_key(proposal_id) {
        return Err(exists("proposal_id", format!("proposal {proposal_id}")));
    }
    if segments.is_empty() {
        return Err(invalid(
            "redaction.segments",
            "segments",
            "name at least one segment id to remove",
        ));
    }
    let current: BTreeSet<&String> = n.current_segments().into_iter().map(|s| &s.id).collect();
    let pending: BTreeSet<&String> = n
        .proposals
        .values()
        .filter(|p| p.status == ProposalStatus::Pending)
        .flat_map(|p| p.segments.iter())
        .collect();
    let mut seen = BTreeSet::new();
    for (i, id) in segments.iter().enumerate() {
        let f = format!("segments[{i}]");
        check_id(&f, id)?;
        if !seen.insert(id) {
            return Err(invalid(
                "redaction.segments",
                &f,
                format!("segment {id} is named twice"),
            ));
        }
        if n.removed.contains_key(id) {
            return Err(precondition(
                "redaction.once",
                &f,
                format!("segment {id} was already removed by agreement"),
            ));
        }
        if !current.contains(id) {
            return Err(Refusal::not_found(
                &f,
                format!("segment {id} in the current text of note {note_id}"),
            ));
        }
        if pending.contains(id) {
            return Err(precondition("redaction.one_pending", &f, format!("segment {id} is already in a pending proposal; agree, decline or withdraw that first")));
        }
    }
    Ok(note_emit(
        n,
        Event::RedactionProposed(RedactionProposed {
            proposal_id: proposal_id.to_string(),
            segments: segments.to_vec(),
            reason: *reason,
        }),
    )
    .depending(depends))
}

/// Agrees a pending redaction proposal (`decline` is `None`), or declines it with the reason
/// given (`Some(reason)`). Only the other party to the proposal answers it.
pub(super) fn answer_redaction(
    p: &Projections,
    caller: &ActorRec,
    note_id: &str,
    proposal_id: &str,
    decline: Option<&Option<Passage>>,
    commit: &mut dyn Commit,
) -> R<Decision> {
    let n = party_note(p, caller, note_id)?;
    let by_person = is_person(caller, &n.subject);
    let pr = pending_proposal(n, proposal_id)?;
    // The person's wish not to have something recorded does not lapse with the
    // relationship: the author may still agree to a removal the person proposed. Anything
    // else the author decides needs the relationship to be accepted.
    let agreeing_to_person = decline.is_none() && pr.by_person;
    let depends = if by_person || agreeing_to_person {
        Vec::new()
    } else {
        note_party(p, n, caller, "decline a redaction in")?.1
    };
    if pr.by_person == by_person {
        return Err(denied("redaction.other_party", "a redaction proposal needs the other party's agreement: the proposer cannot agree or decline it (withdraw it instead)"));
    }
    if let Some(reason) = decline {
        match reason {
            None if !by_person => {
                return Err(invalid("redaction.decline_reason", "reason", "a worker may decline a person's proposal only with a written reason, which the person sees"))
            }
            Some(r) => check_passage("reason", r)?,
            None => {}
        }
        return Ok(note_emit(
            n,
            Event::RedactionDeclined(RedactionDeclined {
                proposal_id: proposal_id.to_string(),
                reason: reason.as_ref().map(|r| commit.commit(r)),
            }),
        )
        .depending(depends));
    }
    let mut d = note_emit(
        n,
        Event::RedactionAgreed(RedactionAgreed {
            proposal_id: proposal_id.to_string(),
        }),
    )
    .depending(depends);
    d.erase = n
        .commits_of(&pr.segments)
        .into_iter()
        .map(|h| h.0)
        .collect();
    Ok(d)
}

pub(super) fn withdraw_redaction(
    p: &Projections,
    caller: &ActorRec,
    note_id: &str,
    proposal_id: &str,
) -> R<Decision> {
    let n = party_note(p, caller, note_id)?;
    let (by_person, depends) = note_party(p, n, caller, "withdraw a redaction in")?;
    let pr = pending_proposal(n, proposal_id)?;
    if pr.by_person != by_person {
        return Err(denied(
            "redaction.proposer",
            "only the proposer may withdraw a proposal; the other party agrees or declines it",
        ));
    }
    Ok(note_emit(
        n,
        Event::RedactionWithdrawn(RedactionWithdrawn {
            proposal_id: proposal_id.to_string(),
        }),
    )
    .depending(depends))
}

pub(super) fn agree_note(
    p: &Projections,
    caller: &ActorRec,
    note_id: &str,
    revision: &u64,
) -> R<Decision> {
    let n = party_note(p, caller, note_id)?;
    let (by_person, depends) = note_party(p, n, caller, "agree")?;
    if n.status != NoteStatus::Open {
        return Err(precondition(
            "note.open",
            "note_id",
            format!("note {note_id} is {:?}", n.status),
        ));
    }
    if *revision != n.revision {
        return Err(precondition("note.latest_revision", "revision", format!("note {note_id} is at revision {}; agreement is on the latest revision (read it again, then agree {})", n.revision, n.revision)));
    }
    let mine = if by_person {
        n.person_agreed
    } else {
        n.author_agreed
    };
    if mine == Some(*revision) {
        return Err(precondition(
            "note.agreed_once",
            "revision",
            format!("you have already agreed revision {revision}"),
        ));
    }
    if n.has_pending_proposal() {
        return Err(precondition(
            "note.no_pending_redaction",
            "note_id",
            "a redaction proposal is pending; decide it before agreeing the note",
        ));
    }
    Ok(note_emit(
        n,
        Event::NoteAgreed(NoteAgreed {
            revision: *revision,
        }),
    )
    .depending(depends))
}

pub(super) fn close_note(
    p: &Projections,
    caller: &ActorRec,
    note_id: &str,
    reason: &CloseReason,
) -> R<Decision> {
    let n = party_note(p, caller, note_id)?;
    if caller.id != n.author {
        return Err(denied("note.author", format!("only the author ({}) closes a note without agreement; the person can propose redactions or decline to agree", n.author)));
    }
    let (_, depends) = note_party(p, n, caller, "close")?;
    if n.status != NoteStatus::Open || n.agreed_revision.is_some() {
        return Err(precondition(
            "note.open",
            "note_id",
            format!(
                "note {note_id} is {:?}; only a note never agreed can be closed without agreement",
                n.status
            ),
        ));
    }
    Ok(note_emit(n, Event::NoteClosed(NoteClosed { reason: *reason })).depending(depends))
}

fn pending_proposal<'a>(n: &'a NoteRec, id: &str) -> R<&'a ProposalRec> {
    check_id("proposal_id", id)?;
    let pr = n.proposals.get(id).ok_or_else(|| {
        Refusal::not_found(
            "proposal_id",
            format!("proposal {id} in note {}", n.note_id),
        )
    })?;
    if pr.status != ProposalStatus::Pending {
        return Err(precondition(
            "redaction.pending",
            "proposal_id",
            format!("proposal {id} is {:?}, no longer pending", pr.status),
        ));
    }
    Ok(pr)
}

/// Rule 4: what was removed by agreement does not come back in a later revision, under its id.
/// (Retyped under a new id, the words cannot be recognised: their salt and text were erased,
/// which is the point of erasure. The person sees every revision and can propose removing it
/// again.)
fn no_removed(n: &NoteRec, segments: &[Passage]) -> R<()> {
    for (i, s) in segments.iter().enumerate() {
        if n.removed.contains_key(&s.id) {
            return Err(precondition(
                "redaction.stays_removed",
                &format!("segments[{i}]"),
                format!(
                    "segment {} was removed by agreement and cannot be put back",
                    s.id
                ),
            ));
        }
    }
    Ok(())
}

/// Folds a note or redaction event.
/// Returns false when the entry does not fit the state (it is then counted as skipped).
pub(super) fn apply(p: &mut Projections, r: &Recorded, next: u64) -> bool {
    match &r.event {
        Event::NoteDrafted(e) => {
            let Some(subject) = r.subject.clone() else {
                return false;
            };
            let support_id = p
                .meetings
                .get(&e.meeting_id)
                .map(|m| m.support_id.clone())
                .unwrap_or_default();
            p.notes.insert(
                e.note_id.clone(),
                NoteRec {
                    note_id: e.note_id.clone(),
                    subject: subject.clone(),
                    meeting_id: e.meeting_id.clone(),
                    support_id,
                    author: r.actor_id.clone(),
                    drafted_at: r.at,
                    revision: 1,
                    revisions: vec![RevisionRec {
                        revision: 1,
                        kind: "drafted".into(),
                        at: r.at,
                        by: r.actor_id.clone(),
                        segments: e.segments.clone(),
                    }],
                    status: NoteStatus::Open,
                    person_agreed: None,
                    author_agreed: None,
                    agreed_revision: None,
                    agreed_at: None,
                    settled_at: None,
                    agreed_revisions: BTreeMap::new(),
                    close_reason: None,
                    proposals: BTreeMap::new(),
                    removed: BTreeMap::new(),
                    version: next,
                },
            );
            p.dirty.insert(Key::Note(e.note_id.clone()));
            p.person_ids(&subject).notes.insert(e.note_id.clone());
        }
        Event::NoteRevised(_)
        | Event::NoteAddendum(_)
        | Event::RedactionProposed(_)
        | Event::RedactionAgreed(_)
        | Event::RedactionDeclined(_)
        | Event::RedactionWithdrawn(_)
        | Event::NoteAgreed(_)
        | Event::NoteClosed(_) => {
            let Some(id) = Projections::stream_id(&r.stream, "note") else {
                return false;
            };
            let Some(n) = p.notes.get_mut(&id) else {
                return false;
            };
            let by_person = r.subject.as_deref() == Some(r.actor_id.as_str());
            apply_note(n, r, by_person);
            n.version = next;
            p.dirty.insert(Key::Note(id));
        }
        _ => return false,
    }
    true
}

fn apply_note(n: &mut NoteRec, r: &Recorded, by_person: bool) {
    match &r.event {
        Event::NoteRevised(e) => {
            n.revision += 1;
            n.revisions.push(RevisionRec {
                revision: n.revision,
                kind: "revised".into(),
                at: r.at,
                by: r.actor_id.clone(),
                segments: e.segments.clone(),
            });
            n.person_agreed = None;
            n.author_agreed = None;
        }
        Event::NoteAddendum(e) => {
            n.revision += 1;
            n.revisions.push(RevisionRec {
                revision: n.revision,
                kind: "addendum".into(),
                at: r.at,
                by: r.actor_id.clone(),
                segments: e.segments.clone(),
            });
            n.person_agreed = None;
            n.author_agreed = None;
            n.status = NoteStatus::Open;
        }
        Event::RedactionProposed(e) => {
            n.proposals.insert(
                e.proposal_id.clone(),
                ProposalRec {
                    proposal_id: e.proposal_id.clone(),
                    proposed_by: r.actor_id.clone(),
                    by_person,
                    segments: e.segments.clone(),
                    reason: e.reason,
                    at: r.at,
                    status: ProposalStatus::Pending,
                    decided_by: None,
                    decided_at: None,
                    decline_reason: None,
                },
            );
        }
        Event::RedactionAgreed(e) => {
            let chars: BTreeMap<String, u64> = n
                .revisions
                .iter()
                .flat_map(|rev| rev.segments.iter())
                .map(|s| (s.id.clone(), s.chars))
                .collect();
            if let Some(p) = n.proposals.get_mut(&e.proposal_id) {
                p.status = ProposalStatus::Agreed;
                p.decided_by = Some(r.actor_id.clone());
                p.decided_at = Some(r.at);
                for s in &p.segments {
                    n.removed.insert(
                        s.clone(),
                        Removal {
                            proposal_id: e.proposal_id.clone(),
                            agreed_by: r.actor_id.clone(),
                            agreed_at: r.at,
                            chars: chars.get(s).copied().unwrap_or(0),
                        },
                    );
                }
            }
        }
        Event::RedactionDeclined(e) => {
            if let Some(p) = n.proposals.get_mut(&e.proposal_id) {
                p.status = ProposalStatus::Declined;
                p.decided_by = Some(r.actor_id.clone());
                p.decided_at = Some(r.at);
                p.decline_reason = e.reason.clone();
            }
        }
        Event::RedactionWithdrawn(e) => {
            if let Some(p) = n.proposals.get_mut(&e.proposal_id) {
                p.status = ProposalStatus::Withdrawn;
                p.decided_by = Some(r.actor_id.clone());
                p.decided_at = Some(r.at);
            }
        }
        Event::NoteAgreed(e) => {
            if by_person {
                n.person_agreed = Some(e.revision);
            } else {
                n.author_agreed = Some(e.revision);
            }
            if n.person_agreed == Some(n.revision) && n.author_agreed == Some(n.revision) {
                n.status = NoteStatus::Agreed;
                n.agreed_revision = Some(n.revision);
                n.agreed_at = Some(r.at);
                n.settled_at.get_or_insert(r.at);
                n.agreed_revisions.insert(n.revision, r.at);
            }
        }
        Event::NoteClosed(e) => {
            n.status = NoteStatus::Closed;
            n.close_reason = Some(e.reason);
            n.settled_at.get_or_insert(r.at);
        }
        _ => {}
    }
}
