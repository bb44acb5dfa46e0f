//! Projections: the current state of every aggregate, folded from the log by an infallible
//! `apply`, and its persisted form.
//!
//! Owns: the records (actors, tokens, support relationships, meetings, notes, consents,
//! concerns, withholdings, subject access requests, a per-person index, caseloads, and reads
//! whose basis was not valid) and their encoding as keyed JSON records. Must not touch: I/O or
//! clocks. The service persists [`Projections::take_dirty`] through the store and loads records
//! back with [`Projections::load`].
//!
//! Invariant: `apply` is deterministic and total. Entries that are not domain events (a
//! benchmark's) or that refer to records that do not exist are skipped, never a panic: the log
//! is the truth and a projection only reflects it. Maps are ordered (`BTreeMap`), so encoding the
//! same state always gives the same bytes — `withus rebuild` relies on it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::access;
use super::calendar;
use super::event::*;
use super::stream::Stream;
use super::types::*;

/// Bump when a record's shape or meaning changes: persisted views of another schema are rebuilt
/// from the log on open.
/// 3: a person's record is persisted only once their access counters are non-zero.
pub const VIEW_SCHEMA: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorRec {
    pub id: String,
    pub role: Role,
    pub team: Option<String>,
    pub display: SegmentRef,
    pub active: bool,
    pub registered_at: Time,
    pub deactivated_at: Option<Time>,
    /// Length of stream `actor:<id>` (token events are on it too).
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRec {
    pub actor: String,
    pub issued_at: Time,
    pub expires_at: Option<Time>,
    pub revoked_at: Option<Time>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupportStatus {
    Referred,
    Offered,
    Accepted,
    Declined,
    Ended,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportRec {
    pub support_id: String,
    pub subject: String,
    pub worker: String,
    pub source: ReferralSource,
    pub status: SupportStatus,
    pub referred_at: Time,
    pub referred_by: String,
    pub offered_at: Option<Time>,
    pub accepted_at: Option<Time>,
    /// Whether the acceptance or refusal was recorded by the worker on the person's word.
    pub on_behalf: bool,
    pub declined_at: Option<Time>,
    pub ended_at: Option<Time>,
    pub ended_by: Option<String>,
    pub end_reason: Option<EndReason>,
    pub version: u64,
}

impl SupportRec {
    /// Is this an accepted, not ended, relationship with this worker?
    pub fn active_with(&self, worker: &str) -> bool {
        self.status == SupportStatus::Accepted && self.worker == worker
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingRec {
    pub meeting_id: String,
    pub subject: String,
    pub support_id: String,
    pub worker: String,
    pub kind: MeetingKind,
    pub group_id: Option<String>,
    pub mode: MeetingMode,
    pub place: Place,
    pub place_detail: Option<SegmentRef>,
    pub occurred_at: Time,
    pub minutes: u32,
    pub recorded_at: Time,
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteStatus {
    /// Being co-produced: not yet agreed by both on the latest revision (or an addendum is).
    Open,
    /// Both agreed the latest revision.
    Agreed,
    /// Closed without agreement.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionRec {
    pub revision: u64,
    /// `drafted`, `revised` or `addendum`.
    pub kind: String,
    pub at: Time,
    pub by: String,
    pub segments: Vec<SegmentRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    Pending,
    Agreed,
    Declined,
    Withdrawn,
}

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
    pub close_reason: Option<CloseReason>,
    pub proposals: BTreeMap<String, ProposalRec>,
    /// Segment id → removal.
    pub removed: BTreeMap<String, Removal>,
    pub version: u64,
}

impl NoteRec {
    /// The current text of the note: the latest body revision, then each addendum.
    pub fn current_segments(&self) -> Vec<&SegmentRef> {
        let mut out = Vec::new();
        if let Some(body) = self.revisions.iter().rev().find(|r| r.kind != "addendum") {
            out.extend(body.segments.iter());
        }
        for a in self.revisions.iter().filter(|r| r.kind == "addendum") {
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRec {
    pub consent_id: String,
    pub scope: Scope,
    pub grantee: Option<Grantee>,
    pub expires_at: Option<Time>,
    pub on_behalf: bool,
    pub granted_by: String,
    pub granted_at: Time,
    pub granted_seq: u64,
    pub revoked_at: Option<Time>,
    pub revoked_seq: Option<u64>,
    pub revoked_by: Option<String>,
}

impl ConsentRec {
    /// Rule 6: in force for a read recorded at entry `seq` stamped `at` — granted by an earlier
    /// entry, not revoked by an earlier entry, not expired at `at`.
    pub fn valid_at(&self, seq: u64, at: Time) -> bool {
        self.granted_seq < seq
            && self.revoked_seq.is_none_or(|r| r > seq)
            && self.expires_at.is_none_or(|e| at < e)
    }

    /// In force now (for a decision about the next entry).
    pub fn in_force(&self, now: Time) -> bool {
        self.revoked_seq.is_none() && self.expires_at.is_none_or(|e| now < e)
    }

    pub fn names_team(&self, team: &str) -> bool {
        self.scope == Scope::ShareWithCareTeam
            && matches!(&self.grantee, Some(Grantee::Team(t)) if t == team)
    }
}

/// The consents of one person (stream `consent:<subject>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentLedger {
    pub consents: BTreeMap<String, ConsentRec>,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcernRec {
    pub concern_id: String,
    pub subject: String,
    pub raised_by: String,
    pub category: ConcernCategory,
    pub urgency: Urgency,
    pub summary: Vec<SegmentRef>,
    pub raised_at: Time,
    pub acknowledged_at: Option<Time>,
    pub acknowledged_by: Option<String>,
    pub outcome: Option<ConcernOutcome>,
    pub outcome_detail: Option<SegmentRef>,
    pub outcome_at: Option<Time>,
    pub informed: Option<InformedHow>,
    pub informed_at: Option<Time>,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithholdingRec {
    pub target_stream: String,
    pub exemption: Exemption,
    pub justification: SegmentRef,
    pub review_by: Time,
    pub withheld_at: Time,
    pub withheld_by: String,
    pub released_at: Option<Time>,
    pub released_by: Option<String>,
}

/// Withholdings of one person (stream `disclosure:<subject>`), in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureLedger {
    pub items: Vec<WithholdingRec>,
    pub version: u64,
}

impl DisclosureLedger {
    pub fn active(&self) -> impl Iterator<Item = &WithholdingRec> {
        self.items.iter().filter(|w| w.released_at.is_none())
    }

    /// How many items are withheld now (rule 7's count; an item withheld twice counts once).
    pub fn withheld_count(&self) -> u64 {
        self.active()
            .map(|w| w.target_stream.as_str())
            .collect::<BTreeSet<_>>()
            .len() as u64
    }

    pub fn is_withheld(&self, stream: &str) -> bool {
        self.active().any(|w| w.target_stream == stream)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SarRec {
    pub sar_id: String,
    pub subject: String,
    pub via: SarVia,
    pub requested_by: String,
    pub requested_at: Time,
    /// One calendar month after the request's date (UTC), `YYYY-MM-DD`.
    pub due_date: String,
    /// The end of the due date: fulfilled at or after this is late.
    pub due_at: Time,
    pub fulfilled_at: Option<Time>,
    pub fulfilled_by: Option<String>,
    pub bundle_hash: Option<HexHash>,
    pub tree_size: Option<u64>,
    pub withheld: Option<u64>,
    pub version: u64,
}

/// What exists about one person: ids of their items, and their access stream.
///
/// The id sets are not persisted: they grow with the person's history, and re-encoding them at
/// every save was the commands' p99. [`Projections::load`] rebuilds them from the item records,
/// which each name their subject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRec {
    #[serde(skip)]
    pub supports: BTreeSet<String>,
    #[serde(skip)]
    pub meetings: BTreeSet<String>,
    #[serde(skip)]
    pub notes: BTreeSet<String>,
    #[serde(skip)]
    pub concerns: BTreeSet<String>,
    #[serde(skip)]
    pub sars: BTreeSet<String>,
    /// Length of stream `access:<subject>`.
    pub access_version: u64,
    pub reads: u64,
    pub denials: u64,
}

/// A `record.accessed` whose basis was not valid at that entry (rule 8; must never happen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidRead {
    pub seq: u64,
    pub at: Time,
    pub subject: String,
    pub reader: String,
    pub basis: String,
    pub why: String,
}

/// Every projection, in memory. Cloning is cheap enough for tests and time travel of one person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projections {
    /// Entries `0..applied` have been applied.
    pub applied: u64,
    pub actors: BTreeMap<String, ActorRec>,
    /// Token hash (hex) → token.
    pub tokens: BTreeMap<String, TokenRec>,
    pub supports: BTreeMap<String, SupportRec>,
    pub meetings: BTreeMap<String, MeetingRec>,
    pub notes: BTreeMap<String, NoteRec>,
    /// Subject → their consents.
    pub consents: BTreeMap<String, ConsentLedger>,
    pub concerns: BTreeMap<String, ConcernRec>,
    /// Subject → their withholdings.
    pub disclosures: BTreeMap<String, DisclosureLedger>,
    pub sars: BTreeMap<String, SarRec>,
    pub people: BTreeMap<String, PersonRec>,
    /// Worker → support ids ever assigned to them.
    pub caseloads: BTreeMap<String, BTreeSet<String>>,
    /// Seq → a read whose basis was not valid.
    pub invalid_reads: BTreeMap<u64, InvalidRead>,
    /// Entries that are not domain events or did not fit the state (counted, not applied).
    pub skipped: u64,
    /// Record keys changed since the last [`Projections::take_dirty`].
    dirty: BTreeSet<Key>,
}

/// A persisted record's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Actor(String),
    Token(String),
    Support(String),
    Meeting(String),
    Note(String),
    Consents(String),
    Concern(String),
    Disclosures(String),
    Sar(String),
    Person(String),
    Caseload(String),
    InvalidRead(u64),
    Stats,
}

impl Key {
    fn encode(&self) -> Vec<u8> {
        let (kind, id) = match self {
            Key::Actor(i) => ("actor", i.clone()),
            Key::Token(i) => ("token", i.clone()),
            Key::Support(i) => ("support", i.clone()),
            Key::Meeting(i) => ("meeting", i.clone()),
            Key::Note(i) => ("note", i.clone()),
            Key::Consents(i) => ("consents", i.clone()),
            Key::Concern(i) => ("concern", i.clone()),
            Key::Disclosures(i) => ("disclosures", i.clone()),
            Key::Sar(i) => ("sar", i.clone()),
            Key::Person(i) => ("person", i.clone()),
            Key::Caseload(i) => ("caseload", i.clone()),
            Key::InvalidRead(s) => ("invalid", format!("{s:020}")),
            Key::Stats => ("stats", String::new()),
        };
        format!("{kind}/{id}").into_bytes()
    }
}

#[derive(Serialize, Deserialize)]
struct Stats {
    skipped: u64,
}

/// Where persisted views could not be read back; the caller rebuilds from the log.
#[derive(Debug, thiserror::Error)]
#[error("persisted view record {key:?} is unreadable ({why}); rebuild the views from the log")]
pub struct LoadError {
    pub key: String,
    pub why: String,
}

impl Projections {
    pub fn new() -> Projections {
        Projections::default()
    }

    pub fn actor(&self, id: &str) -> Option<&ActorRec> {
        self.actors.get(id)
    }

    /// Whether `id` is a registered service user (a person records are about).
    pub fn is_person(&self, id: &str) -> bool {
        self.actors
            .get(id)
            .is_some_and(|a| a.role == Role::ServiceUser)
    }

    /// The ids of the active admins.
    pub fn active_admins(&self) -> Vec<&str> {
        self.actors
            .values()
            .filter(|a| a.active && a.role == Role::Admin)
            .map(|a| a.id.as_str())
            .collect()
    }

    /// The number of events stream `stream` holds, as this projection knows it.
    pub fn stream_version(&self, stream: &str) -> u64 {
        let Some(stream) = Stream::parse(stream) else {
            return 0;
        };
        match &stream {
            Stream::Actor(id) => self.actors.get(id).map_or(0, |r| r.version),
            Stream::Support(id) => self.supports.get(id).map_or(0, |r| r.version),
            Stream::Meeting(id) => self.meetings.get(id).map_or(0, |r| r.version),
            Stream::Note(id) => self.notes.get(id).map_or(0, |r| r.version),
            Stream::Consent(id) => self.consents.get(id).map_or(0, |r| r.version),
            Stream::Concern(id) => self.concerns.get(id).map_or(0, |r| r.version),
            Stream::Disclosure(id) => self.disclosures.get(id).map_or(0, |r| r.version),
            Stream::Sar(id) => self.sars.get(id).map_or(0, |r| r.version),
            Stream::Access(id) => self.people.get(id).map_or(0, |r| r.access_version),
        }
    }

    /// Is `stream` (a note or concern of `subject`) withheld from the person's own view now?
    pub fn is_withheld(&self, subject: &str, stream: &str) -> bool {
        self.disclosures
            .get(subject)
            .is_some_and(|d| d.is_withheld(stream))
    }

    /// Applies one entry. Infallible: what does not fit is counted in `skipped`.
    pub fn apply(&mut self, r: &Recorded) {
        if r.seq < self.applied {
            return; // already applied
        }
        // Saturating: an entry claiming the last seq there is must not overflow (found by
        // fuzzing; a store never assigns it, but `apply` is total).
        self.applied = r.seq.saturating_add(1);
        if !self.apply_event(r) {
            self.skipped += 1;
            self.dirty.insert(Key::Stats);
        }
    }

    /// Counts an entry that is not a domain event (it still advances `applied`).
    pub fn skip(&mut self, seq: u64) {
        if seq < self.applied {
            return;
        }
        self.applied = seq.saturating_add(1);
        self.skipped += 1;
        self.dirty.insert(Key::Stats);
    }

    /// Returns false when the entry did not fit the state and changed nothing.
    fn apply_event(&mut self, r: &Recorded) -> bool {
        let next = r.version.saturating_add(1);
        let id_of = |stream: &str, kind: &str| -> Option<String> {
            stream
                .strip_prefix(kind)
                .and_then(|s| s.strip_prefix(':'))
                .map(str::to_string)
        };
        match &r.event {
            Event::ActorRegistered(e) => {
                self.actors.insert(
                    e.id.clone(),
                    ActorRec {
                        id: e.id.clone(),
                        role: e.role,
                        team: e.team.clone(),
                        display: e.display.clone(),
                        active: true,
                        registered_at: r.at,
                        deactivated_at: None,
                        version: next,
                    },
                );
                self.dirty.insert(Key::Actor(e.id.clone()));
            }
            Event::ActorDeactivated(e) => {
                let Some(a) = self.actors.get_mut(&e.id) else {
                    return false;
                };
                a.active = false;
                a.deactivated_at = Some(r.at);
                a.version = next;
                self.dirty.insert(Key::Actor(e.id.clone()));
            }
            Event::TokenIssued(e) => {
                let Some(a) = self.actors.get_mut(&e.actor) else {
                    return false;
                };
                a.version = next;
                let h = crate::format::to_hex(&e.token_hash.0);
                self.tokens.insert(
                    h.clone(),
                    TokenRec {
                        actor: e.actor.clone(),
                        issued_at: r.at,
                        expires_at: e.expires_at,
                        revoked_at: None,
                    },
                );
                self.dirty.insert(Key::Actor(e.actor.clone()));
                self.dirty.insert(Key::Token(h));
            }
            Event::TokenRevoked(e) => {
                let h = crate::format::to_hex(&e.token_hash.0);
                let Some(t) = self.tokens.get_mut(&h) else {
                    return false;
                };
                t.revoked_at = Some(r.at);
                let actor = t.actor.clone();
                if let Some(a) = self.actors.get_mut(&actor) {
                    a.version = next;
                    self.dirty.insert(Key::Actor(actor));
                }
                self.dirty.insert(Key::Token(h));
            }
            Event::SupportReferred(e) => {
                let Some(subject) = r.subject.clone() else {
                    return false;
                };
                self.supports.insert(
                    e.support_id.clone(),
                    SupportRec {
                        support_id: e.support_id.clone(),
                        subject: subject.clone(),
                        worker: e.worker.clone(),
                        source: e.source,
                        status: SupportStatus::Referred,
                        referred_at: r.at,
                        referred_by: r.actor_id.clone(),
                        offered_at: None,
                        accepted_at: None,
                        on_behalf: false,
                        declined_at: None,
                        ended_at: None,
                        ended_by: None,
                        end_reason: None,
                        version: next,
                    },
                );
                self.dirty.insert(Key::Support(e.support_id.clone()));
                self.person_ids(&subject)
                    .supports
                    .insert(e.support_id.clone());
                self.caseloads
                    .entry(e.worker.clone())
                    .or_default()
                    .insert(e.support_id.clone());
                self.dirty.insert(Key::Caseload(e.worker.clone()));
            }
            Event::SupportOffered(_)
            | Event::SupportAccepted(_)
            | Event::SupportDeclined(_)
            | Event::SupportEnded(_) => {
                let Some(id) = id_of(&r.stream, "support") else {
                    return false;
                };
                let Some(s) = self.supports.get_mut(&id) else {
                    return false;
                };
                match &r.event {
                    Event::SupportOffered(_) => {
                        s.status = SupportStatus::Offered;
                        s.offered_at = Some(r.at);
                    }
                    Event::SupportAccepted(e) => {
                        s.status = SupportStatus::Accepted;
                        s.accepted_at = Some(r.at);
                        s.on_behalf = e.on_behalf;
                    }
                    Event::SupportDeclined(e) => {
                        s.status = SupportStatus::Declined;
                        s.declined_at = Some(r.at);
                        s.on_behalf = e.on_behalf;
                    }
                    Event::SupportEnded(e) => {
                        s.status = SupportStatus::Ended;
                        s.ended_at = Some(r.at);
                        s.ended_by = Some(r.actor_id.clone());
                        s.end_reason = Some(e.reason);
                    }
                    _ => {}
                }
                s.version = next;
                self.dirty.insert(Key::Support(id));
            }
            Event::MeetingRecorded(e) => {
                let Some(subject) = r.subject.clone() else {
                    return false;
                };
                self.meetings.insert(
                    e.meeting_id.clone(),
                    MeetingRec {
                        meeting_id: e.meeting_id.clone(),
                        subject: subject.clone(),
                        support_id: e.support_id.clone(),
                        worker: e.worker.clone(),
                        kind: e.kind,
                        group_id: e.group_id.clone(),
                        mode: e.mode,
                        place: e.place,
                        place_detail: e.place_detail.clone(),
                        occurred_at: e.occurred_at,
                        minutes: e.minutes,
                        recorded_at: r.at,
                        version: next,
                    },
                );
                self.dirty.insert(Key::Meeting(e.meeting_id.clone()));
                self.person_ids(&subject)
                    .meetings
                    .insert(e.meeting_id.clone());
            }
            Event::NoteDrafted(e) => {
                let Some(subject) = r.subject.clone() else {
                    return false;
                };
                let support_id = self
                    .meetings
                    .get(&e.meeting_id)
                    .map(|m| m.support_id.clone())
                    .unwrap_or_default();
                self.notes.insert(
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
                        close_reason: None,
                        proposals: BTreeMap::new(),
                        removed: BTreeMap::new(),
                        version: next,
                    },
                );
                self.dirty.insert(Key::Note(e.note_id.clone()));
                self.person_ids(&subject).notes.insert(e.note_id.clone());
            }
            Event::NoteRevised(_)
            | Event::NoteAddendum(_)
            | Event::RedactionProposed(_)
            | Event::RedactionAgreed(_)
            | Event::RedactionDeclined(_)
            | Event::RedactionWithdrawn(_)
            | Event::NoteAgreed(_)
            | Event::NoteClosed(_) => {
                let Some(id) = id_of(&r.stream, "note") else {
                    return false;
                };
                let Some(n) = self.notes.get_mut(&id) else {
                    return false;
                };
                let by_person = r.subject.as_deref() == Some(r.actor_id.as_str());
                apply_note(n, r, by_person);
                n.version = next;
                self.dirty.insert(Key::Note(id));
            }
            Event::ConsentGranted(e) => {
                let Some(subject) = id_of(&r.stream, "consent") else {
                    return false;
                };
                let l = self.consents.entry(subject.clone()).or_default();
                l.consents.insert(
                    e.consent_id.clone(),
                    ConsentRec {
                        consent_id: e.consent_id.clone(),
                        scope: e.scope,
                        grantee: e.grantee.clone(),
                        expires_at: e.expires_at,
                        on_behalf: e.on_behalf,
                        granted_by: r.actor_id.clone(),
                        granted_at: r.at,
                        granted_seq: r.seq,
                        revoked_at: None,
                        revoked_seq: None,
                        revoked_by: None,
                    },
                );
                l.version = next;
                self.dirty.insert(Key::Consents(subject));
            }
            Event::ConsentRevoked(e) => {
                let Some(subject) = id_of(&r.stream, "consent") else {
                    return false;
                };
                let Some(l) = self.consents.get_mut(&subject) else {
                    return false;
                };
                if let Some(c) = l.consents.get_mut(&e.consent_id) {
                    if c.revoked_seq.is_none() {
                        c.revoked_at = Some(r.at);
                        c.revoked_seq = Some(r.seq);
                        c.revoked_by = Some(r.actor_id.clone());
                    }
                }
                l.version = next;
                self.dirty.insert(Key::Consents(subject));
            }
            Event::SafeguardingRaised(e) => {
                let Some(subject) = r.subject.clone() else {
                    return false;
                };
                self.concerns.insert(
                    e.concern_id.clone(),
                    ConcernRec {
                        concern_id: e.concern_id.clone(),
                        subject: subject.clone(),
                        raised_by: r.actor_id.clone(),
                        category: e.category,
                        urgency: e.urgency,
                        summary: e.summary.clone(),
                        raised_at: r.at,
                        acknowledged_at: None,
                        acknowledged_by: None,
                        outcome: None,
                        outcome_detail: None,
                        outcome_at: None,
                        informed: None,
                        informed_at: None,
                        version: next,
                    },
                );
                self.dirty.insert(Key::Concern(e.concern_id.clone()));
                self.person_ids(&subject)
                    .concerns
                    .insert(e.concern_id.clone());
            }
            Event::SafeguardingAcknowledged(_)
            | Event::SafeguardingOutcome(_)
            | Event::SubjectInformed(_) => {
                let Some(id) = id_of(&r.stream, "concern") else {
                    return false;
                };
                let Some(c) = self.concerns.get_mut(&id) else {
                    return false;
                };
                match &r.event {
                    Event::SafeguardingAcknowledged(_) if c.acknowledged_at.is_none() => {
                        c.acknowledged_at = Some(r.at);
                        c.acknowledged_by = Some(r.actor_id.clone());
                    }
                    Event::SafeguardingOutcome(e) => {
                        c.outcome = Some(e.outcome);
                        c.outcome_detail = Some(e.detail.clone());
                        c.outcome_at = Some(r.at);
                    }
                    Event::SubjectInformed(e) => {
                        c.informed = Some(e.how);
                        c.informed_at = Some(r.at);
                    }
                    _ => {}
                }
                c.version = next;
                self.dirty.insert(Key::Concern(id));
            }
            Event::DisclosureWithheld(e) => {
                let Some(subject) = id_of(&r.stream, "disclosure") else {
                    return false;
                };
                let l = self.disclosures.entry(subject.clone()).or_default();
                l.items.push(WithholdingRec {
                    target_stream: e.target_stream.clone(),
                    exemption: e.exemption,
                    justification: e.justification.clone(),
                    review_by: e.review_by,
                    withheld_at: r.at,
                    withheld_by: r.actor_id.clone(),
                    released_at: None,
                    released_by: None,
                });
                l.version = next;
                self.dirty.insert(Key::Disclosures(subject));
            }
            Event::DisclosureReleased(e) => {
                let Some(subject) = id_of(&r.stream, "disclosure") else {
                    return false;
                };
                let Some(l) = self.disclosures.get_mut(&subject) else {
                    return false;
                };
                for w in l.items.iter_mut() {
                    if w.target_stream == e.target_stream && w.released_at.is_none() {
                        w.released_at = Some(r.at);
                        w.released_by = Some(r.actor_id.clone());
                    }
                }
                l.version = next;
                self.dirty.insert(Key::Disclosures(subject));
            }
            Event::RecordAccessed(e) => {
                let Some(subject) = id_of(&r.stream, "access") else {
                    return false;
                };
                // Rule 8: prove every read's basis was valid at the entry that records it.
                if let Err(why) = access::basis_valid_at(self, &r.actor_id, &subject, &e.basis, r) {
                    self.invalid_reads.insert(
                        r.seq,
                        InvalidRead {
                            seq: r.seq,
                            at: r.at,
                            subject: subject.clone(),
                            reader: r.actor_id.clone(),
                            basis: e.basis.clone(),
                            why,
                        },
                    );
                    self.dirty.insert(Key::InvalidRead(r.seq));
                }
                let p = self.person(&subject);
                p.access_version = next;
                p.reads += 1;
            }
            Event::AccessDenied(_) => {
                let Some(subject) = id_of(&r.stream, "access") else {
                    return false;
                };
                let p = self.person(&subject);
                p.access_version = next;
                p.denials += 1;
            }
            Event::SarRequested(e) => {
                let Some(subject) = r.subject.clone() else {
                    return false;
                };
                let (due_date, due_at) = calendar::one_month_after(r.at);
                self.sars.insert(
                    e.sar_id.clone(),
                    SarRec {
                        sar_id: e.sar_id.clone(),
                        subject: subject.clone(),
                        via: e.via,
                        requested_by: r.actor_id.clone(),
                        requested_at: r.at,
                        due_date,
                        due_at,
                        fulfilled_at: None,
                        fulfilled_by: None,
                        bundle_hash: None,
                        tree_size: None,
                        withheld: None,
                        version: next,
                    },
                );
                self.dirty.insert(Key::Sar(e.sar_id.clone()));
                self.person_ids(&subject).sars.insert(e.sar_id.clone());
            }
            Event::SarFulfilled(e) => {
                let Some(s) = self.sars.get_mut(&e.sar_id) else {
                    return false;
                };
                s.fulfilled_at = Some(r.at);
                s.fulfilled_by = Some(r.actor_id.clone());
                s.bundle_hash = Some(e.bundle_hash);
                s.tree_size = Some(e.tree_size);
                s.withheld = Some(e.withheld);
                s.version = next;
                self.dirty.insert(Key::Sar(e.sar_id.clone()));
            }
        }
        true
    }

    /// A person's record, to change what is persisted of it (its access counters).
    fn person(&mut self, subject: &str) -> &mut PersonRec {
        self.dirty.insert(Key::Person(subject.to_string()));
        self.person_ids(subject)
    }

    /// A person's record, to change only its id sets, which are not persisted (so this marks
    /// nothing to save: a meeting recorded used to re-save its person's record every time).
    fn person_ids(&mut self, subject: &str) -> &mut PersonRec {
        self.people.entry(subject.to_string()).or_default()
    }

    /// The records changed since the last call, encoded, in key order.
    pub fn take_dirty(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let keys = self.take_dirty_keys();
        self.encode_keys(&keys)
    }

    /// The keys of records changed since the last call (encode them with
    /// [`Projections::encode_keys`], which needs only shared access).
    pub fn take_dirty_keys(&mut self) -> BTreeSet<Key> {
        std::mem::take(&mut self.dirty)
    }

    /// Takes the changed records out of the dirty set and copies just those into a partial
    /// projection at the same `applied`, whose [`Projections::take_dirty`] then encodes them.
    /// The copy is cheap next to encoding, so the caller can encode without holding up whoever
    /// applies new entries, and the records are still exactly as of `applied`.
    pub fn split_dirty(&mut self) -> Projections {
        fn copy<K: Ord + Clone, V: Clone>(from: &BTreeMap<K, V>, to: &mut BTreeMap<K, V>, k: &K) {
            if let Some(v) = from.get(k) {
                to.insert(k.clone(), v.clone());
            }
        }
        let keys = std::mem::take(&mut self.dirty);
        let mut out = Projections {
            applied: self.applied,
            skipped: self.skipped,
            ..Projections::default()
        };
        for k in &keys {
            match k {
                Key::Actor(i) => copy(&self.actors, &mut out.actors, i),
                Key::Token(i) => copy(&self.tokens, &mut out.tokens, i),
                Key::Support(i) => copy(&self.supports, &mut out.supports, i),
                Key::Meeting(i) => copy(&self.meetings, &mut out.meetings, i),
                Key::Note(i) => copy(&self.notes, &mut out.notes, i),
                Key::Consents(i) => copy(&self.consents, &mut out.consents, i),
                Key::Concern(i) => copy(&self.concerns, &mut out.concerns, i),
                Key::Disclosures(i) => copy(&self.disclosures, &mut out.disclosures, i),
                Key::Sar(i) => copy(&self.sars, &mut out.sars, i),
                Key::Caseload(i) => copy(&self.caseloads, &mut out.caseloads, i),
                Key::InvalidRead(s) => copy(&self.invalid_reads, &mut out.invalid_reads, s),
                // Only the persisted fields: the id sets grow with the person's history.
                Key::Person(i) => {
                    if let Some(p) = self.people.get(i) {
                        let persisted = PersonRec {
                            access_version: p.access_version,
                            reads: p.reads,
                            denials: p.denials,
                            ..PersonRec::default()
                        };
                        out.people.insert(i.clone(), persisted);
                    }
                }
                Key::Stats => {}
            }
        }
        out.dirty = keys;
        out
    }

    /// How many records changed since the last [`Projections::take_dirty_keys`].
    pub fn dirty_len(&self) -> usize {
        self.dirty.len()
    }

    /// These records, encoded, in key order.
    pub fn encode_keys(&self, keys: &BTreeSet<Key>) -> Vec<(Vec<u8>, Vec<u8>)> {
        keys.iter().filter_map(|k| self.encode(k)).collect()
    }

    /// Every record, encoded, in key order (a rebuild writes these).
    pub fn encode_all(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut keys: Vec<Key> = Vec::new();
        keys.extend(self.actors.keys().cloned().map(Key::Actor));
        keys.extend(self.tokens.keys().cloned().map(Key::Token));
        keys.extend(self.supports.keys().cloned().map(Key::Support));
        keys.extend(self.meetings.keys().cloned().map(Key::Meeting));
        keys.extend(self.notes.keys().cloned().map(Key::Note));
        keys.extend(self.consents.keys().cloned().map(Key::Consents));
        keys.extend(self.concerns.keys().cloned().map(Key::Concern));
        keys.extend(self.disclosures.keys().cloned().map(Key::Disclosures));
        keys.extend(self.sars.keys().cloned().map(Key::Sar));
        // A person whose counters are all zero has nothing persisted: their record is rebuilt
        // from the item records at load, as it is when saves never wrote it.
        keys.extend(
            self.people
                .iter()
                .filter(|(_, p)| p.access_version > 0 || p.reads > 0 || p.denials > 0)
                .map(|(k, _)| Key::Person(k.clone())),
        );
        keys.extend(self.caseloads.keys().cloned().map(Key::Caseload));
        keys.extend(self.invalid_reads.keys().copied().map(Key::InvalidRead));
        if self.skipped > 0 {
            keys.push(Key::Stats);
        }
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = keys.iter().filter_map(|k| self.encode(k)).collect();
        out.sort();
        out
    }

    fn encode(&self, k: &Key) -> Option<(Vec<u8>, Vec<u8>)> {
        fn j<T: Serialize>(v: &T) -> Option<Vec<u8>> {
            serde_json::to_vec(v).ok()
        }
        let v = match k {
            Key::Actor(i) => j(self.actors.get(i)?),
            Key::Token(i) => j(self.tokens.get(i)?),
            Key::Support(i) => j(self.supports.get(i)?),
            Key::Meeting(i) => j(self.meetings.get(i)?),
            Key::Note(i) => j(self.notes.get(i)?),
            Key::Consents(i) => j(self.consents.get(i)?),
            Key::Concern(i) => j(self.concerns.get(i)?),
            Key::Disclosures(i) => j(self.disclosures.get(i)?),
            Key::Sar(i) => j(self.sars.get(i)?),
            Key::Person(i) => j(self.people.get(i)?),
            Key::Caseload(i) => j(self.caseloads.get(i)?),
            Key::InvalidRead(s) => j(self.invalid_reads.get(s)?),
            Key::Stats => j(&Stats {
                skipped: self.skipped,
            }),
        }?;
        Some((k.encode(), v))
    }

    /// Reads persisted records back (the inverse of [`Projections::encode_all`]).
    pub fn load(
        applied: u64,
        records: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<Projections, LoadError> {
        let mut p = Projections {
            applied,
            ..Projections::default()
        };
        for (k, v) in records {
            let key = String::from_utf8_lossy(&k).into_owned();
            let err = |why: String| LoadError {
                key: key.clone(),
                why,
            };
            let (kind, id) = key.split_once('/').ok_or_else(|| err("no kind".into()))?;
            let id = id.to_string();
            fn d<T: serde::de::DeserializeOwned>(v: &[u8]) -> Result<T, String> {
                serde_json::from_slice(v).map_err(|e| e.to_string())
            }
            match kind {
                "actor" => drop(p.actors.insert(id, d(&v).map_err(err)?)),
                "token" => drop(p.tokens.insert(id, d(&v).map_err(err)?)),
                "support" => drop(p.supports.insert(id, d(&v).map_err(err)?)),
                "meeting" => drop(p.meetings.insert(id, d(&v).map_err(err)?)),
                "note" => drop(p.notes.insert(id, d(&v).map_err(err)?)),
                "consents" => drop(p.consents.insert(id, d(&v).map_err(err)?)),
                "concern" => drop(p.concerns.insert(id, d(&v).map_err(err)?)),
                "disclosures" => drop(p.disclosures.insert(id, d(&v).map_err(err)?)),
                "sar" => drop(p.sars.insert(id, d(&v).map_err(err)?)),
                "person" => drop(p.people.insert(id, d(&v).map_err(err)?)),
                "caseload" => drop(p.caseloads.insert(id, d(&v).map_err(err)?)),
                "invalid" => {
                    let seq: u64 = id.parse().map_err(|_| err("bad seq".into()))?;
                    p.invalid_reads.insert(seq, d(&v).map_err(err)?);
                }
                "stats" => {
                    let s: Stats = d(&v).map_err(err)?;
                    p.skipped = s.skipped;
                }
                other => return Err(err(format!("unknown record kind {other:?}"))),
            }
        }
        // The per-person id sets are derived from the item records (see `PersonRec`).
        let mut people = std::mem::take(&mut p.people);
        fn person<'a>(people: &'a mut BTreeMap<String, PersonRec>, s: &str) -> &'a mut PersonRec {
            people.entry(s.to_string()).or_default()
        }
        for (id, r) in &p.supports {
            person(&mut people, &r.subject).supports.insert(id.clone());
        }
        for (id, r) in &p.meetings {
            person(&mut people, &r.subject).meetings.insert(id.clone());
        }
        for (id, r) in &p.notes {
            person(&mut people, &r.subject).notes.insert(id.clone());
        }
        for (id, r) in &p.concerns {
            person(&mut people, &r.subject).concerns.insert(id.clone());
        }
        for (id, r) in &p.sars {
            person(&mut people, &r.subject).sars.insert(id.clone());
        }
        p.people = people;
        Ok(p)
    }

    /// Every part of the state, including what is not persisted, equals `other`'s (changes not
    /// yet saved aside).
    pub fn same_state(&self, other: &Projections) -> bool {
        let strip = |p: &Projections| Projections {
            dirty: BTreeSet::new(),
            ..p.clone()
        };
        strip(self) == strip(other)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`fuzz --target apply`): `apply` and `skip` of the last possible seq
    /// overflowed `applied`.
    #[test]
    fn the_last_seq_applies_and_skips_without_overflow() {
        let r = Recorded {
            seq: u64::MAX,
            at: Time(0),
            stream: "support:sp-1".into(),
            version: 0,
            subject: None,
            actor_id: "a".into(),
            actor_role: "admin".into(),
            command: None,
            event: Event::SupportOffered(SupportOffered {}),
        };
        let mut p = Projections::new();
        p.apply(&r);
        assert_eq!((p.applied, p.skipped), (u64::MAX, 1));
        let mut p = Projections::new();
        p.skip(u64::MAX);
        assert_eq!((p.applied, p.skipped), (u64::MAX, 1));
    }
}
