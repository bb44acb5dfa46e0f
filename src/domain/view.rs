//! Views composed from projections: a person's record (scoped by an access decision), the
//! metadata-only record auditors see, and the compliance flags of rule 8.
//!
//! Owns: what each scope includes. Must not touch: I/O or content — passages carry commitments,
//! and the service fills in text only after [`super::access::decide_read`] allowed the read.

use serde::Serialize;

use super::access::Scope;
use super::projection::*;
use super::stream::Stream;
use super::types::Scope as ConsentScope;
use super::types::*;

/// A piece of text in a view: its commitment and length, the text once the service has
/// resolved it, or who removed it by agreement and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Passage {
    pub id: String,
    pub commit: HexHash,
    pub chars: u64,
    /// Filled in by the service for content reads; `None` in metadata views and once erased.
    pub text: Option<String>,
    /// "Removed by agreement on <date>": who agreed, when, the length. Never the text.
    pub removed: Option<Removal>,
    /// "Erased under the retention period on <date>": when its content was erased because the
    /// record's retention period had ended.
    pub erased_at: Option<Time>,
}

impl Passage {
    fn of(s: &SegmentRef, removed: Option<&Removal>) -> Passage {
        Passage {
            id: s.id.clone(),
            commit: s.commit,
            chars: s.chars,
            text: None,
            removed: removed.cloned(),
            erased_at: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeetingView {
    pub meeting_id: String,
    pub support_id: String,
    pub worker: String,
    pub kind: MeetingKind,
    pub mode: MeetingMode,
    pub place: Place,
    pub place_detail: Option<Passage>,
    /// Who proposed the place now standing, and whether the other party agreed it.
    pub place_proposed_by: Party,
    pub place_agreed: bool,
    /// When it was held, or is planned for.
    pub occurred_at: Time,
    pub minutes: u32,
    pub recorded_at: Time,
    pub status: MeetingStatus,
    pub planned_for: Option<Time>,
    pub cancelled_by: Option<Party>,
    /// When it was held, cancelled or marked not attended.
    pub status_at: Time,
    /// Goals of the person it worked on (ids of [`GoalView`]s).
    pub goals: Vec<String>,
    pub activities: Vec<ActivityView>,
    /// The number of events its stream holds: `CallOptions.expected_version` for the next
    /// command on it.
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityView {
    pub kind: ActivityKind,
    pub detail: Option<Passage>,
}

/// A personal recovery goal, in the person's words, with its reviews and how it closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoalView {
    pub goal_id: String,
    pub support_id: String,
    pub words: Vec<Passage>,
    pub co_produced: bool,
    /// Recorded by the worker, agreed by the person in person.
    pub on_behalf: bool,
    pub set_by: String,
    pub set_at: Time,
    pub reviews: Vec<GoalReviewView>,
    pub closed: Option<GoalClosedView>,
    /// The number of events its stream holds: `CallOptions.expected_version` for the next
    /// command on it.
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoalReviewView {
    pub words: Vec<Passage>,
    pub on_behalf: bool,
    pub by: String,
    pub at: Time,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoalClosedView {
    pub outcome: GoalOutcome,
    pub words: Vec<Passage>,
    pub on_behalf: bool,
    pub by: String,
    pub at: Time,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposalView {
    pub proposal_id: String,
    pub proposed_by: String,
    pub segments: Vec<String>,
    pub reason: RedactionReason,
    pub at: Time,
    pub status: ProposalStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<Time>,
    pub decline_reason: Option<Passage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteView {
    pub note_id: String,
    pub meeting_id: String,
    pub support_id: String,
    pub author: String,
    pub drafted_at: Time,
    pub revision: u64,
    pub status: NoteStatus,
    pub person_agreed: Option<u64>,
    pub author_agreed: Option<u64>,
    pub agreed_revision: Option<u64>,
    pub agreed_at: Option<Time>,
    pub close_reason: Option<CloseReason>,
    /// The current text: latest body revision then addenda; removed passages keep their place.
    pub passages: Vec<Passage>,
    pub proposals: Vec<ProposalView>,
    /// The number of events its stream holds: `CallOptions.expected_version` for the next
    /// command on it.
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentView {
    pub consent_id: String,
    pub scope: ConsentScope,
    pub team: Option<String>,
    pub person: Option<Passage>,
    pub expires_at: Option<Time>,
    pub on_behalf: bool,
    pub granted_by: String,
    pub granted_at: Time,
    pub revoked_at: Option<Time>,
    pub revoked_by: Option<String>,
    /// The number of events its stream holds: `CallOptions.expected_version` for the next
    /// command on it.
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConcernView {
    pub concern_id: String,
    pub raised_by: String,
    pub category: ConcernCategory,
    pub urgency: Urgency,
    pub summary: Vec<Passage>,
    pub raised_at: Time,
    pub acknowledged_at: Option<Time>,
    pub acknowledged_by: Option<String>,
    pub outcome: Option<ConcernOutcome>,
    pub outcome_detail: Option<Passage>,
    pub informed: Option<InformedHow>,
    pub informed_at: Option<Time>,
    /// The number of events its stream holds: `CallOptions.expected_version` for the next
    /// command on it.
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscussionView {
    pub discussion_id: String,
    pub setting: DiscussionSetting,
    pub with: super::event::DiscussedWith,
    pub held_at: Time,
    /// `present`, `consent:<id>` or `concern:<id>`.
    pub basis: String,
    pub summary: Vec<Passage>,
    pub recorded_by: String,
    pub recorded_at: Time,
    /// Set when the basis had lapsed by the time it was recorded (recorded late).
    pub basis_lapsed_at: Option<Time>,
    /// The number of events its stream holds: `CallOptions.expected_version` for the next
    /// command on it.
    pub version: u64,
}

/// The person's own statement about an item, shown with the item to whoever sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementView {
    pub statement_id: String,
    pub target_stream: String,
    pub segments: Vec<Passage>,
    pub added_by: String,
    pub added_at: Time,
    /// The number of events its stream holds: `CallOptions.expected_version` for the next
    /// command on it.
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WithholdingView {
    pub target_stream: String,
    pub exemption: Exemption,
    pub justification: Passage,
    pub review_by: Time,
    pub withheld_at: Time,
    pub withheld_by: String,
    pub released_at: Option<Time>,
}

/// An authority for a representative to act for the person: who, on what basis, for what, until
/// when, recorded by whom, and whether it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorityView {
    pub authority_id: String,
    pub representative: String,
    pub relation: Relation,
    pub basis: AuthorityBasis,
    pub scope: Vec<AuthorityScope>,
    pub expires_at: Option<Time>,
    /// The document the admin saw, in their words.
    pub evidence: Option<Passage>,
    pub granted_by: String,
    pub granted_at: Time,
    pub ended_at: Option<Time>,
    pub ended_by: Option<String>,
    pub end_reason: Option<AuthorityEndReason>,
    /// The number of events its stream holds: `CallOptions.expected_version` for the next
    /// command on it.
    pub version: u64,
}

/// A person's record as one reader may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordView {
    pub subject: String,
    /// The log prefix this view reflects.
    pub as_of: u64,
    pub supports: Vec<SupportRec>,
    pub meetings: Vec<MeetingView>,
    pub notes: Vec<NoteView>,
    pub consents: Vec<ConsentView>,
    pub concerns: Vec<ConcernView>,
    /// Withholdings in force (safeguarding scope and metadata views only).
    pub withholdings: Vec<WithholdingView>,
    /// How many items are withheld from the person's own view (rule 7).
    pub withheld: u64,
    pub sars: Vec<SarRec>,
    /// Every recorded discussion of the person the scope shows, with its basis.
    pub discussions: Vec<DiscussionView>,
    /// The person's statements about the items this view shows (and only those).
    pub statements: Vec<StatementView>,
    /// The person's recovery goals (the person, and the worker of the relationship each is
    /// worked on in).
    pub goals: Vec<GoalView>,
    /// Who may act for the person (the person's own view and the metadata view; a
    /// representative sees only their own).
    pub authorities: Vec<AuthorityView>,
}

/// Which items of a record one read shows: `size` items from the `from`th, counted across the
/// record's lists in their field order (supports, meetings, notes, consents, concerns,
/// withholdings, subject access requests, discussions, statements, goals, authorities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordWindow {
    pub from: usize,
    pub size: usize,
}

impl RecordWindow {
    /// The whole record.
    pub const ALL: RecordWindow = RecordWindow {
        from: 0,
        size: usize::MAX,
    };
}

/// Keeps the part of `list` the window still covers, counting down what is left to skip and
/// what room is left.
fn keep_window<T>(list: &mut Vec<T>, skip: &mut usize, room: &mut usize) {
    let start = (*skip).min(list.len());
    *skip -= start;
    let end = start + (*room).min(list.len() - start);
    *room -= end - start;
    list.truncate(end);
    list.drain(..start);
}

impl RecordView {
    /// How many items the record holds, counted across its lists.
    pub fn items(&self) -> usize {
        self.supports.len()
            + self.meetings.len()
            + self.notes.len()
            + self.consents.len()
            + self.concerns.len()
            + self.withholdings.len()
            + self.sars.len()
            + self.discussions.len()
            + self.statements.len()
            + self.goals.len()
            + self.authorities.len()
    }

    /// The window's items only (the subject, `as_of` and the withheld count stay), and whether
    /// items follow it.
    pub fn window(mut self, window: RecordWindow) -> (RecordView, bool) {
        let more = self.items() > window.from.saturating_add(window.size);
        let (mut skip, mut room) = (window.from, window.size);
        keep_window(&mut self.supports, &mut skip, &mut room);
        keep_window(&mut self.meetings, &mut skip, &mut room);
        keep_window(&mut self.notes, &mut skip, &mut room);
        keep_window(&mut self.consents, &mut skip, &mut room);
        keep_window(&mut self.concerns, &mut skip, &mut room);
        keep_window(&mut self.withholdings, &mut skip, &mut room);
        keep_window(&mut self.sars, &mut skip, &mut room);
        keep_window(&mut self.discussions, &mut skip, &mut room);
        keep_window(&mut self.statements, &mut skip, &mut room);
        keep_window(&mut self.goals, &mut skip, &mut room);
        keep_window(&mut self.authorities, &mut skip, &mut room);
        (self, more)
    }

    /// Every passage, for the service to resolve text into.
    pub fn passages_mut(&mut self) -> Vec<&mut Passage> {
        let mut out: Vec<&mut Passage> = Vec::new();
        for m in &mut self.meetings {
            out.extend(m.place_detail.as_mut());
            for a in &mut m.activities {
                out.extend(a.detail.as_mut());
            }
        }
        for g in &mut self.goals {
            out.extend(g.words.iter_mut());
            for r in &mut g.reviews {
                out.extend(r.words.iter_mut());
            }
            if let Some(c) = &mut g.closed {
                out.extend(c.words.iter_mut());
            }
        }
        for n in &mut self.notes {
            out.extend(n.passages.iter_mut());
            for p in &mut n.proposals {
                out.extend(p.decline_reason.as_mut());
            }
        }
        for c in &mut self.consents {
            out.extend(c.person.as_mut());
        }
        for c in &mut self.concerns {
            out.extend(c.summary.iter_mut());
            out.extend(c.outcome_detail.as_mut());
        }
        for w in &mut self.withholdings {
            out.push(&mut w.justification);
        }
        for d in &mut self.discussions {
            out.extend(d.summary.iter_mut());
        }
        for s in &mut self.statements {
            out.extend(s.segments.iter_mut());
        }
        for a in &mut self.authorities {
            out.extend(a.evidence.as_mut());
        }
        out
    }

    /// The streams whose content this view holds (what `record.accessed` lists).
    pub fn streams(&self) -> Vec<String> {
        let mut s: Vec<String> = Vec::new();
        s.extend(
            self.supports
                .iter()
                .map(|x| Stream::support(&x.support_id).name()),
        );
        s.extend(
            self.meetings
                .iter()
                .map(|x| Stream::meeting(&x.meeting_id).name()),
        );
        s.extend(self.notes.iter().map(|x| Stream::note(&x.note_id).name()));
        if !self.consents.is_empty() {
            s.push(Stream::consent(&self.subject).name());
        }
        s.extend(
            self.concerns
                .iter()
                .map(|x| Stream::concern(&x.concern_id).name()),
        );
        if !self.withholdings.is_empty() {
            s.push(Stream::disclosure(&self.subject).name());
        }
        s.extend(
            self.discussions
                .iter()
                .map(|x| Stream::discussion(&x.discussion_id).name()),
        );
        s.extend(
            self.statements
                .iter()
                .map(|x| Stream::statement(&x.statement_id).name()),
        );
        s.extend(self.goals.iter().map(|x| Stream::goal(&x.goal_id).name()));
        s.extend(
            self.authorities
                .iter()
                .map(|x| Stream::authority(&x.authority_id).name()),
        );
        s.sort();
        s
    }

    /// The streams of the items shown (what a statement can be attached to).
    fn item_streams(&self) -> std::collections::BTreeSet<String> {
        let mut s = std::collections::BTreeSet::new();
        s.extend(
            self.supports
                .iter()
                .map(|x| Stream::support(&x.support_id).name()),
        );
        s.extend(
            self.meetings
                .iter()
                .map(|x| Stream::meeting(&x.meeting_id).name()),
        );
        s.extend(self.notes.iter().map(|x| Stream::note(&x.note_id).name()));
        s.extend(
            self.concerns
                .iter()
                .map(|x| Stream::concern(&x.concern_id).name()),
        );
        s.extend(
            self.discussions
                .iter()
                .map(|x| Stream::discussion(&x.discussion_id).name()),
        );
        s.extend(self.goals.iter().map(|x| Stream::goal(&x.goal_id).name()));
        s
    }
}

fn note_view(n: &NoteRec) -> NoteView {
    note_view_at(n, n.revision)
}

/// The note as of `revision` (the agreed one, for a care team while an addendum awaits
/// agreement): that revision's text, status and agreement.
fn note_view_at(n: &NoteRec, revision: u64) -> NoteView {
    if revision != n.revision {
        let mut v = note_view_of(n, n.segments_at(revision));
        v.revision = revision;
        v.status = NoteStatus::Agreed;
        v.person_agreed = Some(revision);
        v.author_agreed = Some(revision);
        v.agreed_at = n.agreed_revisions.get(&revision).copied().or(n.agreed_at);
        return v;
    }
    note_view_of(n, n.current_segments())
}

fn note_view_of(n: &NoteRec, segments: Vec<&SegmentRef>) -> NoteView {
    NoteView {
        note_id: n.note_id.clone(),
        meeting_id: n.meeting_id.clone(),
        support_id: n.support_id.clone(),
        author: n.author.clone(),
        drafted_at: n.drafted_at,
        revision: n.revision,
        status: n.status,
        person_agreed: n.person_agreed,
        author_agreed: n.author_agreed,
        agreed_revision: n.agreed_revision,
        agreed_at: n.agreed_at,
        close_reason: n.close_reason,
        passages: segments
            .into_iter()
            .map(|s| Passage::of(s, n.removed.get(&s.id)))
            .collect(),
        proposals: n
            .proposals
            .values()
            .map(|p| ProposalView {
                proposal_id: p.proposal_id.clone(),
                proposed_by: p.proposed_by.clone(),
                segments: p.segments.clone(),
                reason: p.reason,
                at: p.at,
                status: p.status,
                decided_by: p.decided_by.clone(),
                decided_at: p.decided_at,
                decline_reason: p.decline_reason.as_ref().map(|s| Passage::of(s, None)),
            })
            .collect(),
        version: n.version,
    }
}

fn meeting_view(m: &MeetingRec) -> MeetingView {
    MeetingView {
        meeting_id: m.meeting_id.clone(),
        support_id: m.support_id.clone(),
        worker: m.worker.clone(),
        kind: m.kind,
        mode: m.mode,
        place: m.place,
        place_detail: m.place_detail.as_ref().map(|s| Passage::of(s, None)),
        place_proposed_by: m.place_proposed_by,
        place_agreed: m.place_agreed,
        occurred_at: m.occurred_at,
        minutes: m.minutes,
        recorded_at: m.recorded_at,
        status: m.status,
        planned_for: m.planned_for,
        cancelled_by: m.cancelled_by,
        status_at: m.status_at,
        goals: m.goals.clone(),
        activities: m
            .activities
            .iter()
            .map(|a| ActivityView {
                kind: a.kind,
                detail: a.detail.as_ref().map(|s| Passage::of(s, None)),
            })
            .collect(),
        version: m.version,
    }
}

fn passages(segments: &[SegmentRef]) -> Vec<Passage> {
    segments.iter().map(|s| Passage::of(s, None)).collect()
}

fn goal_view(g: &GoalRec) -> GoalView {
    GoalView {
        goal_id: g.goal_id.clone(),
        support_id: g.support_id.clone(),
        words: passages(&g.words),
        co_produced: g.co_produced,
        on_behalf: g.on_behalf,
        set_by: g.set_by.clone(),
        set_at: g.set_at,
        reviews: g
            .reviews
            .iter()
            .map(|r| GoalReviewView {
                words: passages(&r.words),
                on_behalf: r.on_behalf,
                by: r.by.clone(),
                at: r.at,
            })
            .collect(),
        closed: g.closed.as_ref().map(|c| GoalClosedView {
            outcome: c.outcome,
            words: passages(&c.words),
            on_behalf: c.on_behalf,
            by: c.by.clone(),
            at: c.at,
        }),
        version: g.version,
    }
}

/// A consent as a view; `version` is that of the person's consent stream (`consent:<subject>`,
/// which holds every consent of theirs).
fn consent_view(c: &ConsentRec, version: u64) -> ConsentView {
    let (team, person) = match &c.grantee {
        Some(super::event::Grantee::Team(t)) => (Some(t.clone()), None),
        Some(super::event::Grantee::Person(s)) => (None, Some(Passage::of(s, None))),
        None => (None, None),
    };
    ConsentView {
        consent_id: c.consent_id.clone(),
        scope: c.scope,
        team,
        person,
        expires_at: c.expires_at,
        on_behalf: c.on_behalf,
        granted_by: c.granted_by.clone(),
        granted_at: c.granted_at,
        revoked_at: c.revoked_at,
        revoked_by: c.revoked_by.clone(),
        version,
    }
}

fn discussion_view(d: &DiscussionRec) -> DiscussionView {
    DiscussionView {
        discussion_id: d.discussion_id.clone(),
        setting: d.setting,
        with: d.with.clone(),
        held_at: d.held_at,
        basis: d.basis.clone(),
        summary: d.summary.iter().map(|s| Passage::of(s, None)).collect(),
        recorded_by: d.recorded_by.clone(),
        recorded_at: d.recorded_at,
        basis_lapsed_at: d.basis_lapsed_at,
        version: d.version,
    }
}

fn statement_view(s: &StatementRec) -> StatementView {
    StatementView {
        statement_id: s.statement_id.clone(),
        target_stream: s.target_stream.clone(),
        segments: s.segments.iter().map(|x| Passage::of(x, None)).collect(),
        added_by: s.added_by.clone(),
        added_at: s.added_at,
        version: s.version,
    }
}

fn authority_view(a: &AuthorityRec) -> AuthorityView {
    AuthorityView {
        authority_id: a.authority_id.clone(),
        representative: a.representative.clone(),
        relation: a.relation,
        basis: a.basis,
        scope: a.scope.clone(),
        expires_at: a.expires_at,
        evidence: a.evidence.as_ref().map(|s| Passage::of(s, None)),
        granted_by: a.granted_by.clone(),
        granted_at: a.granted_at,
        ended_at: a.ended_at,
        ended_by: a.ended_by.clone(),
        end_reason: a.end_reason,
        version: a.version,
    }
}

fn concern_view(c: &ConcernRec) -> ConcernView {
    ConcernView {
        concern_id: c.concern_id.clone(),
        raised_by: c.raised_by.clone(),
        category: c.category,
        urgency: c.urgency,
        summary: c.summary.iter().map(|s| Passage::of(s, None)).collect(),
        raised_at: c.raised_at,
        acknowledged_at: c.acknowledged_at,
        acknowledged_by: c.acknowledged_by.clone(),
        outcome: c.outcome,
        outcome_detail: c.outcome_detail.as_ref().map(|s| Passage::of(s, None)),
        informed: c.informed,
        informed_at: c.informed_at,
        version: c.version,
    }
}

/// Composes `subject`'s record as `scope` allows. `None` scope is the metadata view (auditors):
/// every item, with no text ever filled in.
pub fn record(p: &Projections, subject: &str, scope: Option<&Scope>) -> RecordView {
    let empty = PersonRec::default();
    let person = p.people.get(subject).unwrap_or(&empty);
    let disclosures = p.disclosures.get(subject);
    let withheld_now = |stream: &str| disclosures.is_some_and(|d| d.is_withheld(stream));
    let withheld: u64 = disclosures.map_or(0, |d| d.withheld_count());

    let supports = person.supports.iter().filter_map(|id| p.supports.get(id));
    let meetings = person.meetings.iter().filter_map(|id| p.meetings.get(id));
    let notes = person.notes.iter().filter_map(|id| p.notes.get(id));
    let concerns = person.concerns.iter().filter_map(|id| p.concerns.get(id));
    let discussions = person
        .discussions
        .iter()
        .filter_map(|id| p.discussions.get(id));
    let goals = person.goals.iter().filter_map(|id| p.goals.get(id));
    let consent_stream_version = p.consents.get(subject).map_or(0, |l| l.version);
    let consents = p
        .consents
        .get(subject)
        .into_iter()
        .flat_map(|l| l.consents.values());
    let consent_view = |c: &ConsentRec| consent_view(c, consent_stream_version);
    let withholdings = || {
        disclosures
            .into_iter()
            .flat_map(|d| d.active())
            .map(|w| WithholdingView {
                target_stream: w.target_stream.clone(),
                exemption: w.exemption,
                justification: Passage::of(&w.justification, None),
                review_by: w.review_by,
                withheld_at: w.withheld_at,
                withheld_by: w.withheld_by.clone(),
                released_at: w.released_at,
            })
    };

    let mut v = RecordView {
        subject: subject.to_string(),
        as_of: p.applied,
        supports: Vec::new(),
        meetings: Vec::new(),
        notes: Vec::new(),
        consents: Vec::new(),
        concerns: Vec::new(),
        withholdings: Vec::new(),
        withheld,
        sars: Vec::new(),
        discussions: Vec::new(),
        statements: Vec::new(),
        goals: Vec::new(),
        authorities: Vec::new(),
    };
    let authorities = person
        .authorities
        .iter()
        .filter_map(|id| p.authorities.get(id));
    match scope {
        None => {
            v.supports = supports.cloned().collect();
            v.meetings = meetings.map(meeting_view).collect();
            v.notes = notes.map(note_view).collect();
            v.consents = consents.map(consent_view).collect();
            v.concerns = concerns.map(concern_view).collect();
            v.withholdings = withholdings().collect();
            v.sars = person
                .sars
                .iter()
                .filter_map(|id| p.sars.get(id))
                .cloned()
                .collect();
            v.discussions = discussions.map(discussion_view).collect();
            v.goals = goals.map(goal_view).collect();
            v.authorities = authorities.map(authority_view).collect();
        }
        Some(scope @ (Scope::Own | Scope::Representative { .. })) => {
            v.supports = supports.cloned().collect();
            v.meetings = meetings.map(meeting_view).collect();
            v.notes = notes
                .filter(|n| !withheld_now(&Stream::note(&n.note_id).name()))
                .map(note_view)
                .collect();
            v.consents = consents.map(consent_view).collect();
            v.concerns = concerns
                .filter(|c| !withheld_now(&Stream::concern(&c.concern_id).name()))
                .map(concern_view)
                .collect();
            v.discussions = discussions
                .filter(|d| !withheld_now(&Stream::discussion(&d.discussion_id).name()))
                .map(discussion_view)
                .collect();
            v.goals = goals.map(goal_view).collect();
            v.sars = person
                .sars
                .iter()
                .filter_map(|id| p.sars.get(id))
                .cloned()
                .collect();
            v.authorities = authorities
                .filter(|a| match scope {
                    Scope::Representative { representative } => &a.representative == representative,
                    _ => true,
                })
                .map(authority_view)
                .collect();
        }
        Some(Scope::Support {
            worker,
            support_ids,
        }) => {
            v.supports = supports
                .filter(|s| support_ids.contains(&s.support_id))
                .cloned()
                .collect();
            v.meetings = meetings
                .filter(|m| support_ids.contains(&m.support_id))
                .map(meeting_view)
                .collect();
            v.notes = notes
                .filter(|n| support_ids.contains(&n.support_id))
                .map(note_view)
                .collect();
            v.consents = consents.map(consent_view).collect();
            v.concerns = concerns
                .filter(|c| &c.raised_by == worker)
                .map(concern_view)
                .collect();
            v.discussions = discussions
                .filter(|d| &d.recorded_by == worker)
                .map(discussion_view)
                .collect();
            v.goals = goals
                .filter(|g| support_ids.contains(&g.support_id))
                .map(goal_view)
                .collect();
        }
        Some(Scope::CareTeam) => {
            v.meetings = meetings.map(meeting_view).collect();
            for m in &mut v.meetings {
                // Where they met, the goals they worked on and what was done in words stay
                // between the two of them: a consent to share notes shares the notes.
                m.place_detail = None;
                m.goals.clear();
                for a in &mut m.activities {
                    a.detail = None;
                }
            }
            // What both agreed: a note whose addendum awaits agreement is shown as agreed
            // before it, not hidden.
            v.notes = notes
                .filter_map(|n| n.agreed_revision.map(|r| note_view_at(n, r)))
                .collect();
            for n in &mut v.notes {
                n.proposals.clear();
            }
        }
        Some(Scope::Safeguarding) => {
            v.concerns = concerns.map(concern_view).collect();
            v.withholdings = withholdings().collect();
            v.discussions = discussions
                .filter(|d| d.basis.starts_with("concern:"))
                .map(discussion_view)
                .collect();
        }
    }
    // A statement goes wherever its item goes, and nowhere else.
    let shown = v.item_streams();
    v.statements = person
        .statements
        .iter()
        .filter_map(|id| p.statements.get(id))
        .filter(|s| shown.contains(&s.target_stream))
        .map(statement_view)
        .collect();
    if let Some(r) = p.retention.get(subject) {
        for passage in v.passages_mut() {
            passage.erased_at = r.erased_at(&passage.commit);
        }
    }
    v
}

/// An actor as an admin or auditor sees them: never a token, a hash or a display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActorSummary {
    pub id: String,
    pub role: Role,
    pub team: Option<String>,
    pub active: bool,
    pub registered_at: Time,
    pub deactivated_at: Option<Time>,
    /// Tokens neither revoked nor expired at `now`.
    pub usable_tokens: u64,
    /// The OpenID Connect issuers at which a sign-in identity is linked to the actor (never
    /// the identity itself).
    pub linked_issuers: Vec<String>,
}

/// Up to `size` actors in id order after `after`, and whether more follow.
pub fn actors(
    p: &Projections,
    after: Option<&str>,
    size: usize,
    now: Time,
) -> (Vec<ActorSummary>, bool) {
    use std::ops::Bound;
    let from = match after {
        Some(id) => Bound::Excluded(id.to_string()),
        None => Bound::Unbounded,
    };
    let mut page: Vec<&ActorRec> = p
        .actors
        .range((from, Bound::Unbounded))
        .map(|(_, a)| a)
        .take(size.saturating_add(1))
        .collect();
    let more = page.len() > size;
    page.truncate(size);
    let mut usable: std::collections::BTreeMap<&str, u64> =
        page.iter().map(|a| (a.id.as_str(), 0)).collect();
    for t in p.tokens.values() {
        let live = t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now);
        if let (true, Some(n)) = (live, usable.get_mut(t.actor.as_str())) {
            *n += 1;
        }
    }
    let list = page
        .into_iter()
        .map(|a| ActorSummary {
            id: a.id.clone(),
            role: a.role,
            team: a.team.clone(),
            active: a.active,
            registered_at: a.registered_at,
            deactivated_at: a.deactivated_at,
            usable_tokens: usable.get(a.id.as_str()).copied().unwrap_or(0),
            linked_issuers: a.identities.keys().cloned().collect(),
        })
        .collect();
    (list, more)
}

/// One compliance flag (rule 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    pub kind: FlagKind,
    pub subject: String,
    /// The stream the flag is about (`note:<id>`, `concern:<id>`, `sar:<id>`, …).
    pub item: String,
    /// When it fell due.
    pub due_at: Time,
    /// When it was done, if late; `None` while still outstanding.
    pub done_at: Option<Time>,
    /// A plain-words explanation.
    pub detail: String,
}

crate::domain::types::vocabulary!(
    /// What a compliance flag (rule 8) is about.
    FlagKind {
        /// A note not agreed or closed within 14 days of drafting.
        NoteNotSettled = "note_not_settled",
        /// A concern not acknowledged within 1 hour / 24 hours / 7 days.
        ConcernNotAcknowledged = "concern_not_acknowledged",
        /// A subject access request not fulfilled within one calendar month.
        SarOverdue = "sar_overdue",
        /// A withholding past its review date.
        WithholdingPastReview = "withholding_past_review",
        /// A read whose basis was not valid at that moment.
        ReadWithoutValidBasis = "read_without_valid_basis",
        /// An addendum not agreed by both within 14 days of being added.
        AddendumNotAgreed = "addendum_not_agreed",
        /// A discussion whose basis had lapsed by the time it was recorded (recorded late).
        DiscussionRecordedLate = "discussion_recorded_late",
    }
);

/// How long a note may stay unsettled.
pub const NOTE_SETTLE_MS: u64 = 14 * Time::DAY;

/// Rule 8's flags at `now`: outstanding items past due, and items done late (history matters to
/// an audit), in (kind, item) order.
pub fn compliance_flags(p: &Projections, now: Time) -> Vec<Flag> {
    let mut out = Vec::new();
    let mut late =
        |kind, subject: &str, item: String, due: Time, done: Option<Time>, what: &str| {
            let overdue = match done {
                Some(d) => d >= due,
                None => now >= due,
            };
            if overdue {
                out.push(Flag {
                    kind,
                    subject: subject.to_string(),
                    detail: match done {
                        Some(d) => format!("{what}: due {due}, done {d}"),
                        None => format!("{what}: due {due}, still outstanding"),
                    },
                    item,
                    due_at: due,
                    done_at: done,
                });
            }
        };
    for n in p.notes.values() {
        late(
            FlagKind::NoteNotSettled,
            &n.subject,
            Stream::note(&n.note_id).name(),
            n.drafted_at.plus(NOTE_SETTLE_MS),
            n.settled_at,
            "note not agreed or closed within 14 days of drafting",
        );
    }
    for c in p.concerns.values() {
        late(
            FlagKind::ConcernNotAcknowledged,
            &c.subject,
            Stream::concern(&c.concern_id).name(),
            c.raised_at.plus(c.urgency.acknowledge_within_ms()),
            c.acknowledged_at,
            &format!("{} concern not acknowledged in time", c.urgency),
        );
    }
    for s in p.sars.values() {
        late(
            FlagKind::SarOverdue,
            &s.subject,
            Stream::sar(&s.sar_id).name(),
            s.due_at,
            s.fulfilled_at,
            &format!("subject access request due {}", s.due_date),
        );
    }
    for (subject, l) in &p.disclosures {
        for w in &l.items {
            late(
                FlagKind::WithholdingPastReview,
                subject,
                w.target_stream.clone(),
                w.review_by,
                w.released_at,
                "withholding not reviewed (released) by its review date",
            );
        }
    }
    for n in p.notes.values() {
        for a in n.revisions.iter().filter(|r| r.kind == "addendum") {
            let agreed = n
                .agreed_revisions
                .range(a.revision..)
                .map(|(_, at)| *at)
                .next();
            late(
                FlagKind::AddendumNotAgreed,
                &n.subject,
                format!("{}#{}", Stream::note(&n.note_id), a.revision),
                a.at.plus(NOTE_SETTLE_MS),
                agreed,
                &format!(
                    "addendum (revision {}) not agreed by both within 14 days",
                    a.revision
                ),
            );
        }
    }
    for d in p.discussions.values() {
        if let Some(lapsed) = d.basis_lapsed_at {
            out.push(Flag {
                kind: FlagKind::DiscussionRecordedLate,
                subject: d.subject.clone(),
                item: Stream::discussion(&d.discussion_id).name(),
                due_at: lapsed,
                done_at: Some(d.recorded_at),
                detail: format!(
                    "{} discussion held {} on basis {} recorded {}, after the basis lapsed \
                     ({lapsed})",
                    d.setting, d.held_at, d.basis, d.recorded_at
                ),
            });
        }
    }
    for r in p.invalid_reads.values() {
        out.push(Flag {
            kind: FlagKind::ReadWithoutValidBasis,
            subject: r.subject.clone(),
            item: format!("{}@{}", Stream::access(&r.subject), r.seq),
            due_at: r.at,
            done_at: Some(r.at),
            detail: format!("{} read on basis {}: {}", r.reader, r.basis, r.why),
        });
    }
    out.sort_by(|a, b| (a.kind, &a.item).cmp(&(b.kind, &b.item)));
    out
}
