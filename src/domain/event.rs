//! Events: what happened, past tense, each with its `type` string and schema version `v`.
//!
//! Owns: the `data` shape of every event type of domain.md, and the translation between a typed
//! [`Event`] and the `(type, v, data)` of a log entry. Must not touch: I/O, clocks, rules (which
//! events may happen is [`super::decide`]'s business).
//!
//! Every data struct refuses unknown fields: an entry the code does not fully understand is not
//! silently half-read.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::types::*;

/// `actor.registered` — an admin registered an actor (stream `actor:<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorRegistered {
    pub id: String,
    pub role: Role,
    /// The team of a peer worker or care team member (consents name teams); null otherwise.
    pub team: Option<String>,
    /// The actor's display name: content, so only its commitment is in the log.
    pub display: SegmentRef,
}

/// `actor.deactivated` — the actor may no longer act or read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorDeactivated {
    pub id: String,
    pub reason: DeactivationReason,
}

/// `token.issued` — a bearer token for `actor`; only its BLAKE3 hash is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenIssued {
    pub actor: String,
    pub token_hash: HexHash,
    /// After this the token is refused; null for no expiry.
    pub expires_at: Option<Time>,
}

/// `signin.code_issued` — an admin, or the person's peer worker, issued a one-time code with
/// which `actor` (a person) signs in to their own page (`withus serve --http`). Only a keyed
/// digest of the code is recorded, never the code; who issued it is the entry's actor, so the
/// person sees in their record who could have signed in as them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInCodeIssued {
    pub actor: String,
    /// The store's keyed BLAKE3 digest of the code (as of `identity.linked`'s).
    pub code_digest: HexHash,
    /// After this the code is refused (it is also refused once used).
    pub expires_at: Time,
}

/// `token.revoked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRevoked {
    pub token_hash: HexHash,
}

/// `identity.linked` — an admin linked a sign-in identity at an OpenID Connect issuer to
/// `actor`: a token of that issuer naming that subject now speaks for the actor. The subject
/// itself is never recorded, only a keyed digest of issuer and subject (DOMAIN.md, "Sign-in").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityLinked {
    pub actor: String,
    /// The issuer's URL (the tokens' `iss`).
    pub issuer: String,
    /// The store's keyed digest of `(issuer, subject)`.
    pub identity: HexHash,
}

/// `identity.unlinked` — the link is cut: that identity no longer speaks for the actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityUnlinked {
    pub actor: String,
    pub issuer: String,
    pub identity: HexHash,
}

/// `support.referred` — someone asked that the person be offered peer support (stream
/// `support:<id>`; the entry's subject is the person).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportReferred {
    pub support_id: String,
    /// The peer worker who will offer support.
    pub worker: String,
    pub source: ReferralSource,
}

/// `support.offered` — the worker offered peer support; the person chooses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportOffered {}

/// `support.accepted` — the person opted in. `on_behalf`: recorded by the worker, the person
/// having said so in person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportAccepted {
    pub on_behalf: bool,
}

/// `support.declined` — the person chose not to work with peer support.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportDeclined {
    pub on_behalf: bool,
}

/// `support.ended` — either party ended the relationship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportEnded {
    pub reason: EndReason,
}

/// `meeting.recorded` — that a meeting took place (stream `meeting:<id>`). A group session is
/// one entry per participant sharing `group_id`, so no person's record holds another's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingRecorded {
    pub meeting_id: String,
    /// The support relationship the meeting belongs to (the basis of the worker's access).
    pub support_id: String,
    pub worker: String,
    pub kind: MeetingKind,
    pub group_id: Option<String>,
    pub mode: MeetingMode,
    pub place: Place,
    /// Words about the place ("the café by the park"): content.
    pub place_detail: Option<SegmentRef>,
    pub occurred_at: Time,
    pub minutes: u32,
    /// The person's recovery goals the meeting worked on (absent when none, as in entries
    /// written before goals existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub goals: Vec<String>,
    /// What was done (absent when not said).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activities: Vec<Activity>,
}

/// One thing done in a meeting, with words where they say more (what the person was
/// accompanied to, what they were signposted to). In an event the words are a [`SegmentRef`];
/// in a command, the [`Passage`] that becomes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activity<S = SegmentRef> {
    pub kind: ActivityKind,
    pub detail: Option<S>,
}

/// `meeting.planned` — the worker planned a one-to-one meeting with the person (stream
/// `meeting:<id>`), proposing a place the person can confirm or change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingPlanned {
    pub meeting_id: String,
    pub support_id: String,
    pub worker: String,
    pub mode: MeetingMode,
    pub place: Place,
    pub place_detail: Option<SegmentRef>,
    pub planned_for: Time,
    pub minutes: u32,
}

/// `meeting.place_proposed` — one party proposed another place for a planned meeting; the
/// other must agree it. `on_behalf`: the worker recorded the person's proposal, made in person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingPlaceProposed {
    pub place: Place,
    pub place_detail: Option<SegmentRef>,
    pub on_behalf: bool,
}

/// `meeting.place_agreed` — the party who did not propose the place agreed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingPlaceAgreed {
    pub on_behalf: bool,
}

/// `meeting.cancelled` — a planned meeting will not happen; `by` says who cancelled it (the
/// worker may record that the person did).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingCancelled {
    pub by: Party,
}

/// `meeting.not_attended` — the planned time passed and the person did not come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingNotAttended {}

/// `meeting.held` — a planned meeting took place (its place and mode are the plan's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingHeld {
    pub occurred_at: Time,
    pub minutes: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub goals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activities: Vec<Activity>,
}

/// `note.drafted` — the first revision of a co-produced note (stream `note:<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteDrafted {
    pub note_id: String,
    pub meeting_id: String,
    pub segments: Vec<SegmentRef>,
}

/// `note.revised` — the full new list of segments; unchanged segments keep id and commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteRevised {
    pub segments: Vec<SegmentRef>,
}

/// `redaction.proposed` — one party asks that passages be removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionProposed {
    pub proposal_id: String,
    /// Segment ids of the note.
    pub segments: Vec<String>,
    pub reason: RedactionReason,
}

/// `redaction.agreed` — the other party agreed; the passages' content is erased in the same
/// durable step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionAgreed {
    pub proposal_id: String,
}

/// `redaction.declined` — the other party declined. A worker declining must give a written
/// reason (content), which the person sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionDeclined {
    pub proposal_id: String,
    pub reason: Option<SegmentRef>,
}

/// `redaction.withdrawn` — the proposer took the proposal back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionWithdrawn {
    pub proposal_id: String,
}

/// `note.agreed` — one party (the person or the author) agreed the given revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteAgreed {
    pub revision: u64,
}

/// `note.closed_without_agreement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteClosed {
    pub reason: CloseReason,
}

/// `note.addendum` — text added after agreement; a new revision both must agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteAddendum {
    pub segments: Vec<SegmentRef>,
}

/// Who a consent names: a team id, a person (their name is content), or nobody in particular.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// In an event the person is a [`SegmentRef`]; in a command, the [`Passage`] that becomes it.
#[serde(untagged)]
pub enum Grantee<S = SegmentRef> {
    Person(S),
    Team(String),
}

/// `consent.granted` (stream `consent:<subject>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentGranted {
    pub consent_id: String,
    pub scope: Scope,
    pub grantee: Option<Grantee>,
    /// The consent lapses at this time; null: until revoked.
    pub expires_at: Option<Time>,
    /// Recorded by a worker, given by the person in person.
    pub on_behalf: bool,
}

/// `consent.revoked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRevoked {
    pub consent_id: String,
    pub on_behalf: bool,
}

/// `safeguarding.raised` (stream `concern:<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafeguardingRaised {
    pub concern_id: String,
    pub category: ConcernCategory,
    pub urgency: Urgency,
    pub summary: Vec<SegmentRef>,
}

/// `safeguarding.acknowledged` — a safeguarding lead has taken the concern on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafeguardingAcknowledged {}

/// `safeguarding.outcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafeguardingOutcome {
    pub outcome: ConcernOutcome,
    pub detail: SegmentRef,
}

/// `safeguarding.subject_informed` — the person was told about the concern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectInformed {
    pub how: InformedHow,
}

/// `disclosure.withheld` (stream `disclosure:<subject>`) — an item is hidden from the person's
/// own view under an exemption, until released; reviewed by `review_by`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosureWithheld {
    pub target_stream: String,
    pub exemption: Exemption,
    pub justification: SegmentRef,
    pub review_by: Time,
}

/// `disclosure.released`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosureReleased {
    pub target_stream: String,
}

/// `record.accessed` (stream `access:<subject>`) — someone other than the person read their
/// content, on this basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordAccessed {
    /// The streams whose content was returned.
    pub streams: Vec<String>,
    /// `support:<id>`, `consent:<id>` or `concern:<id>`.
    pub basis: String,
}

/// `access.denied` — a read was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessDenied {
    /// What was asked for: `record`, `record@<seq>`, `access_log`, or a stream.
    pub what: String,
    pub reason: DenialReason,
    /// Refused attempts by the same reader about the same person since the last logged one that
    /// were not logged one by one because the reader was over their rate limit (absent when 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<u64>,
}

/// `sar.requested` (stream `sar:<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SarRequested {
    pub sar_id: String,
    pub via: SarVia,
}

/// `sar.fulfilled` — the bundle (the person's own view at `tree_size`) was produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SarFulfilled {
    pub sar_id: String,
    pub bundle_hash: HexHash,
    pub tree_size: u64,
    /// How many items were withheld from the bundle.
    pub withheld: u64,
}

/// Who a person was discussed with: a team (by id), or people in a role (a supervisor who is a
/// peer worker, a safeguarding lead).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DiscussedWith {
    Team(String),
    Role(Role),
}

/// `discussion.recorded` (stream `discussion:<id>`; subject the person) — the person was
/// discussed outside their presence, or with them present, on this basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscussionRecorded {
    pub discussion_id: String,
    pub setting: DiscussionSetting,
    pub with: DiscussedWith,
    /// When the discussion took place: the basis must have held then.
    pub held_at: Time,
    /// `present` (the person took part), `consent:<consent_id>` or `concern:<concern_id>`.
    pub basis: String,
    /// What was discussed and decided: content.
    pub summary: Vec<SegmentRef>,
}

/// `statement.added` (stream `statement:<id>`; subject the person) — the person's own words
/// about an item of their record (UK GDPR Art. 16): that they disagree, and why. Only the person
/// adds one; nobody edits or removes it; whoever is shown the item is shown it too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementAdded {
    pub statement_id: String,
    /// The item it is about: `support:`, `meeting:`, `note:`, `concern:` or `discussion:<id>`.
    pub target_stream: String,
    pub segments: Vec<SegmentRef>,
}

/// `group.formed` (stream `group:<id>`, no subject) — a peer support group and the workers who
/// facilitate it. It names no participant: each one's attendance is a `meeting.recorded` of
/// their own that does not name the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupFormed {
    pub group_id: String,
    /// What the group is called ("Thursday hearing voices group"): content.
    pub name: SegmentRef,
    pub facilitators: Vec<String>,
}

/// `goal.set` (stream `goal:<id>`; subject the person) — a personal recovery goal in the
/// person's words, set by them, or co-produced with their worker and agreed by them (then
/// recorded by the worker `on_behalf`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalSet {
    pub goal_id: String,
    /// The support relationship the goal is worked on in (whose worker may see it).
    pub support_id: String,
    pub words: Vec<SegmentRef>,
    /// Worked out together with the worker.
    pub co_produced: bool,
    pub on_behalf: bool,
}

/// `goal.reviewed` — how it is going, in the person's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalReviewed {
    pub words: Vec<SegmentRef>,
    pub on_behalf: bool,
}

/// `goal.closed` — achieved, changed or let go; words optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalClosed {
    pub outcome: GoalOutcome,
    pub words: Vec<SegmentRef>,
    pub on_behalf: bool,
}

/// `authority.granted` (stream `authority:<id>`; subject the person) — a representative may act
/// for the person within `scope` until `expires_at`, on `basis`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorityGranted {
    pub authority_id: String,
    /// The representative's actor id (role `representative`).
    pub representative: String,
    pub relation: Relation,
    pub basis: AuthorityBasis,
    /// What the representative may do: at least one, each once.
    pub scope: Vec<AuthorityScope>,
    /// The authority lapses at this time (checked at every use); null: until ended.
    pub expires_at: Option<Time>,
    /// What the admin saw (the document, its reference): content.
    pub evidence: Option<SegmentRef>,
}

/// `authority.ended` — the person withdrew a consent-based authority, an admin ended it, or the
/// representative stepped down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorityEnded {
    pub reason: AuthorityEndReason,
}

/// `support.transfer_proposed` (stream `support:<id>`) — worker cover: the relationship would
/// move to `to_worker` once the person accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportTransferProposed {
    pub to_worker: String,
}

/// `support.transfer_accepted` — the person accepted the new worker; from this entry the
/// relationship's worker is the proposed one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportTransferAccepted {
    pub on_behalf: bool,
}

/// `support.transfer_declined` — the person declined; the worker stays as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportTransferDeclined {
    pub on_behalf: bool,
}

/// `retention.date_recorded` (stream `retention:<subject>`) — a date the person's retention
/// period is counted from: their birth (children's records) or death. Recorded again, the later
/// entry corrects the earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionDateRecorded {
    pub kind: DateKind,
    /// `YYYY-MM-DD`.
    pub date: String,
}

/// `legal_hold.placed` (stream `retention:<subject>`) — nothing of the person's record is erased
/// under the retention period while the hold is in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalHoldPlaced {
    pub hold_id: String,
    pub reason: HoldReason,
}

/// `legal_hold.lifted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalHoldLifted {
    pub hold_id: String,
}

/// `retention.erased` (stream `retention:<subject>`, by the system actor `withus-retention`) —
/// the retention period ended: the content of these segments is erased in the same durable
/// step, exactly as an agreed redaction erases (salts wiped; entries and proofs intact).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionErased {
    pub rule: RetentionRule,
    /// The date the period was counted from (`YYYY-MM-DD`): end of care, death or birth.
    pub basis: String,
    /// The first day the content was no longer to be kept (`YYYY-MM-DD`).
    pub due: String,
    /// The commitments of the segments erased (at most [`MAX_ERASED_PER_EVENT`] an entry; a
    /// larger record is erased by several entries in one append).
    pub segments: Vec<HexHash>,
}

/// Most commitments one `retention.erased` lists (about 8.6 KB of `data`, within the store's
/// limit on an entry's data).
pub const MAX_ERASED_PER_EVENT: usize = 128;

macro_rules! events {
    ($($variant:ident($data:ty) = $name:literal),+ $(,)?) => {
        /// Every event of domain.md, typed.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Event {
            $($variant($data)),+
        }

        impl Event {
            /// Every event type string, in domain.md order.
            pub const TYPES: &'static [&'static str] = &[$($name),+];

            /// The entry's `type`.
            pub fn event_type(&self) -> &'static str {
                match self { $(Event::$variant(_) => $name),+ }
            }

            /// The entry's `data`.
            pub fn data(&self) -> Value {
                let v = match self { $(Event::$variant(d) => serde_json::to_value(d)),+ };
                // Serialising these plain structs cannot fail (no maps with non-string keys).
                v.unwrap_or(Value::Null)
            }

            /// Reads an entry's `(type, v, data)`.
            pub fn parse(event_type: &str, v: u32, data: &str) -> Result<Event, String> {
                if v != Event::V {
                    return Err(format!("{event_type} v{v} is not a schema this withus knows (v{})", Event::V));
                }
                match event_type {
                    $($name => serde_json::from_str::<$data>(data)
                        .map(Event::$variant)
                        .map_err(|e| format!("{event_type}: {e}")),)+
                    other => Err(format!("unknown event type {other:?}")),
                }
            }
        }
    };
}

events! {
    ActorRegistered(ActorRegistered) = "actor.registered",
    ActorDeactivated(ActorDeactivated) = "actor.deactivated",
    TokenIssued(TokenIssued) = "token.issued",
    TokenRevoked(TokenRevoked) = "token.revoked",
    SupportReferred(SupportReferred) = "support.referred",
    SupportOffered(SupportOffered) = "support.offered",
    SupportAccepted(SupportAccepted) = "support.accepted",
    SupportDeclined(SupportDeclined) = "support.declined",
    SupportEnded(SupportEnded) = "support.ended",
    MeetingRecorded(MeetingRecorded) = "meeting.recorded",
    NoteDrafted(NoteDrafted) = "note.drafted",
    NoteRevised(NoteRevised) = "note.revised",
    RedactionProposed(RedactionProposed) = "redaction.proposed",
    RedactionAgreed(RedactionAgreed) = "redaction.agreed",
    RedactionDeclined(RedactionDeclined) = "redaction.declined",
    RedactionWithdrawn(RedactionWithdrawn) = "redaction.withdrawn",
    NoteAgreed(NoteAgreed) = "note.agreed",
    NoteClosed(NoteClosed) = "note.closed_without_agreement",
    NoteAddendum(NoteAddendum) = "note.addendum",
    ConsentGranted(ConsentGranted) = "consent.granted",
    ConsentRevoked(ConsentRevoked) = "consent.revoked",
    SafeguardingRaised(SafeguardingRaised) = "safeguarding.raised",
    SafeguardingAcknowledged(SafeguardingAcknowledged) = "safeguarding.acknowledged",
    SafeguardingOutcome(SafeguardingOutcome) = "safeguarding.outcome",
    SubjectInformed(SubjectInformed) = "safeguarding.subject_informed",
    DisclosureWithheld(DisclosureWithheld) = "disclosure.withheld",
    DisclosureReleased(DisclosureReleased) = "disclosure.released",
    RecordAccessed(RecordAccessed) = "record.accessed",
    AccessDenied(AccessDenied) = "access.denied",
    SarRequested(SarRequested) = "sar.requested",
    SarFulfilled(SarFulfilled) = "sar.fulfilled",
    DiscussionRecorded(DiscussionRecorded) = "discussion.recorded",
    StatementAdded(StatementAdded) = "statement.added",
    MeetingPlanned(MeetingPlanned) = "meeting.planned",
    MeetingPlaceProposed(MeetingPlaceProposed) = "meeting.place_proposed",
    MeetingPlaceAgreed(MeetingPlaceAgreed) = "meeting.place_agreed",
    MeetingCancelled(MeetingCancelled) = "meeting.cancelled",
    MeetingNotAttended(MeetingNotAttended) = "meeting.not_attended",
    MeetingHeld(MeetingHeld) = "meeting.held",
    GroupFormed(GroupFormed) = "group.formed",
    GoalSet(GoalSet) = "goal.set",
    GoalReviewed(GoalReviewed) = "goal.reviewed",
    GoalClosed(GoalClosed) = "goal.closed",
    AuthorityGranted(AuthorityGranted) = "authority.granted",
    AuthorityEnded(AuthorityEnded) = "authority.ended",
    SupportTransferProposed(SupportTransferProposed) = "support.transfer_proposed",
    SupportTransferAccepted(SupportTransferAccepted) = "support.transfer_accepted",
    SupportTransferDeclined(SupportTransferDeclined) = "support.transfer_declined",
    RetentionDateRecorded(RetentionDateRecorded) = "retention.date_recorded",
    LegalHoldPlaced(LegalHoldPlaced) = "legal_hold.placed",
    LegalHoldLifted(LegalHoldLifted) = "legal_hold.lifted",
    RetentionErased(RetentionErased) = "retention.erased",
    IdentityLinked(IdentityLinked) = "identity.linked",
    IdentityUnlinked(IdentityUnlinked) = "identity.unlinked",
    SignInCodeIssued(SignInCodeIssued) = "signin.code_issued",
}

impl Event {
    /// The segments of text this event commits to — what must be stored with it. Typed, one
    /// arm per event, so a new event with text cannot be forgotten (the match is exhaustive).
    pub fn segments(&self) -> Vec<&SegmentRef> {
        match self {
            Event::ActorRegistered(d) => vec![&d.display],
            Event::MeetingRecorded(d) => d
                .place_detail
                .iter()
                .chain(d.activities.iter().filter_map(|a| a.detail.as_ref()))
                .collect(),
            Event::MeetingPlanned(d) => d.place_detail.iter().collect(),
            Event::MeetingPlaceProposed(d) => d.place_detail.iter().collect(),
            Event::MeetingHeld(d) => d
                .activities
                .iter()
                .filter_map(|a| a.detail.as_ref())
                .collect(),
            Event::GroupFormed(d) => vec![&d.name],
            Event::GoalSet(d) => d.words.iter().collect(),
            Event::GoalReviewed(d) => d.words.iter().collect(),
            Event::GoalClosed(d) => d.words.iter().collect(),
            Event::NoteDrafted(d) => d.segments.iter().collect(),
            Event::NoteRevised(d) => d.segments.iter().collect(),
            Event::NoteAddendum(d) => d.segments.iter().collect(),
            Event::RedactionDeclined(d) => d.reason.iter().collect(),
            Event::ConsentGranted(d) => match &d.grantee {
                Some(Grantee::Person(s)) => vec![s],
                Some(Grantee::Team(_)) | None => Vec::new(),
            },
            Event::SafeguardingRaised(d) => d.summary.iter().collect(),
            Event::SafeguardingOutcome(d) => vec![&d.detail],
            Event::DisclosureWithheld(d) => vec![&d.justification],
            Event::DiscussionRecorded(d) => d.summary.iter().collect(),
            Event::StatementAdded(d) => d.segments.iter().collect(),
            Event::AuthorityGranted(d) => d.evidence.iter().collect(),
            Event::ActorDeactivated(_)
            | Event::TokenIssued(_)
            | Event::TokenRevoked(_)
            | Event::SupportReferred(_)
            | Event::SupportOffered(_)
            | Event::SupportAccepted(_)
            | Event::SupportDeclined(_)
            | Event::SupportEnded(_)
            | Event::RedactionProposed(_)
            | Event::RedactionAgreed(_)
            | Event::RedactionWithdrawn(_)
            | Event::NoteAgreed(_)
            | Event::NoteClosed(_)
            | Event::ConsentRevoked(_)
            | Event::SafeguardingAcknowledged(_)
            | Event::SubjectInformed(_)
            | Event::DisclosureReleased(_)
            | Event::RecordAccessed(_)
            | Event::AccessDenied(_)
            | Event::SarRequested(_)
            | Event::SarFulfilled(_)
            | Event::MeetingPlaceAgreed(_)
            | Event::MeetingCancelled(_)
            | Event::MeetingNotAttended(_)
            | Event::AuthorityEnded(_)
            | Event::SupportTransferProposed(_)
            | Event::SupportTransferAccepted(_)
            | Event::SupportTransferDeclined(_)
            | Event::RetentionDateRecorded(_)
            | Event::LegalHoldPlaced(_)
            | Event::LegalHoldLifted(_)
            | Event::RetentionErased(_)
            | Event::IdentityLinked(_)
            | Event::IdentityUnlinked(_)
            | Event::SignInCodeIssued(_) => Vec::new(),
        }
    }

    /// Every event type is at schema version 1.
    pub const V: u32 = 1;
}

/// An event as the log recorded it: the entry's envelope with its typed data. This is what
/// projections apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub seq: u64,
    pub at: Time,
    pub stream: String,
    pub version: u64,
    pub subject: Option<String>,
    pub actor_id: String,
    pub actor_role: String,
    pub command: Option<String>,
    pub event: Event,
}

impl Recorded {
    /// Reads a log entry. `Err` for entries that are not domain events (e.g. benchmark entries)
    /// or whose data does not match their type's schema.
    pub fn from_entry(e: &crate::format::EntryView<'_>) -> Result<Recorded, String> {
        let event = Event::parse(&e.event_type, e.v, e.data)?;
        let at = Time::parse(&e.at).ok_or_else(|| format!("bad at {:?}", e.at))?;
        Ok(Recorded {
            seq: e.seq,
            at,
            stream: e.stream.to_string(),
            version: e.version,
            subject: e.subject.as_ref().map(|s| s.to_string()),
            actor_id: e.actor_id.to_string(),
            actor_role: e.actor_role.to_string(),
            command: e.command.as_ref().map(|c| c.to_string()),
            event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_round_trips_and_unknown_fields_are_refused() {
        let e = Event::ConsentGranted(ConsentGranted {
            consent_id: "c1".into(),
            scope: Scope::ShareWithCareTeam,
            grantee: Some(Grantee::Team("team-a".into())),
            expires_at: Some(Time(1_800_000_000_000)),
            on_behalf: false,
        });
        let data = serde_json::to_string(&e.data()).unwrap();
        assert_eq!(Event::parse("consent.granted", 1, &data).unwrap(), e);
        assert!(Event::parse("consent.granted", 2, &data).is_err());
        let extra = data.replacen('{', "{\"x\":1,", 1);
        assert!(Event::parse("consent.granted", 1, &extra).is_err());
        assert!(Event::parse("consent.grunted", 1, &data).is_err());
        assert_eq!(Event::TYPES.len(), 55);
    }

    /// Every commit of a segment object (`{id, commit, chars}`) anywhere in `data`.
    fn commits_in(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let (Some(Value::String(c)), true) = (m.get("commit"), m.contains_key("chars")) {
                    out.push(c.clone());
                }
                m.values().for_each(|x| commits_in(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| commits_in(x, out)),
            _ => {}
        }
    }

    /// `Event::segments` names exactly the segments the event's `data` holds, for every event
    /// type that holds text (and none for the others): the service stores what it names.
    #[test]
    fn the_segments_of_an_event_are_the_segments_in_its_data() {
        let samples = [
            (
                "actor.registered",
                r#"{"id":"a","role":"admin","team":null,"display":{"id":"s1","commit":"0101010101010101010101010101010101010101010101010101010101010101","chars":3}}"#,
            ),
            (
                "meeting.recorded",
                r#"{"meeting_id":"m","support_id":"sp","worker":"w","kind":"one_to_one","group_id":null,"mode":"phone","place":"other","place_detail":{"id":"s2","commit":"0202020202020202020202020202020202020202020202020202020202020202","chars":3},"occurred_at":"2026-01-01T00:00:00.000Z","minutes":5}"#,
            ),
            (
                "note.drafted",
                r#"{"note_id":"n","meeting_id":"m","segments":[{"id":"s3","commit":"0303030303030303030303030303030303030303030303030303030303030303","chars":3},{"id":"s4","commit":"0404040404040404040404040404040404040404040404040404040404040404","chars":3}]}"#,
            ),
            (
                "note.revised",
                r#"{"segments":[{"id":"s5","commit":"0505050505050505050505050505050505050505050505050505050505050505","chars":3}]}"#,
            ),
            (
                "note.addendum",
                r#"{"segments":[{"id":"s6","commit":"0606060606060606060606060606060606060606060606060606060606060606","chars":3}]}"#,
            ),
            (
                "redaction.declined",
                r#"{"proposal_id":"r","reason":{"id":"s7","commit":"0707070707070707070707070707070707070707070707070707070707070707","chars":3}}"#,
            ),
            (
                "consent.granted",
                r#"{"consent_id":"c","scope":"share_with_person","grantee":{"id":"s8","commit":"0808080808080808080808080808080808080808080808080808080808080808","chars":3},"expires_at":null,"on_behalf":false}"#,
            ),
            (
                "safeguarding.raised",
                r#"{"concern_id":"c","category":"other","urgency":"routine","summary":[{"id":"s9","commit":"0909090909090909090909090909090909090909090909090909090909090909","chars":3}]}"#,
            ),
            (
                "safeguarding.outcome",
                r#"{"outcome":"no_further_action","detail":{"id":"s10","commit":"0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a","chars":3}}"#,
            ),
            (
                "disclosure.withheld",
                r#"{"target_stream":"note:n","exemption":"serious_harm","justification":{"id":"s11","commit":"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b","chars":3},"review_by":"2026-01-01T00:00:00.000Z"}"#,
            ),
            (
                "authority.granted",
                r#"{"authority_id":"a","representative":"r","relation":"attorney","basis":"lasting_power_of_attorney","scope":["read_record"],"expires_at":null,"evidence":{"id":"s12","commit":"0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c","chars":3}}"#,
            ),
            (
                "meeting.recorded",
                r#"{"meeting_id":"m","support_id":"sp","worker":"w","kind":"one_to_one","group_id":null,"mode":"phone","place":"online","place_detail":null,"occurred_at":"2026-01-01T00:00:00.000Z","minutes":3,"activities":[{"kind":"signposting","detail":{"id":"s13","commit":"0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d","chars":3}}]}"#,
            ),
            (
                "meeting.planned",
                r#"{"meeting_id":"m","support_id":"sp","worker":"w","mode":"phone","place":"online","place_detail":{"id":"s14","commit":"0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e","chars":3},"planned_for":"2026-01-01T00:00:00.000Z","minutes":3}"#,
            ),
            (
                "meeting.place_proposed",
                r#"{"place":"other","place_detail":{"id":"s15","commit":"0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f","chars":3},"on_behalf":false}"#,
            ),
            (
                "meeting.held",
                r#"{"occurred_at":"2026-01-01T00:00:00.000Z","minutes":3,"activities":[{"kind":"accompanying","detail":{"id":"s16","commit":"1010101010101010101010101010101010101010101010101010101010101010","chars":3}}]}"#,
            ),
            (
                "group.formed",
                r#"{"group_id":"g","name":{"id":"s17","commit":"1111111111111111111111111111111111111111111111111111111111111111","chars":3},"facilitators":["w"]}"#,
            ),
            (
                "goal.set",
                r#"{"goal_id":"g","support_id":"sp","words":[{"id":"s18","commit":"1212121212121212121212121212121212121212121212121212121212121212","chars":3}],"co_produced":false,"on_behalf":false}"#,
            ),
            (
                "goal.reviewed",
                r#"{"words":[{"id":"s19","commit":"1313131313131313131313131313131313131313131313131313131313131313","chars":3}],"on_behalf":false}"#,
            ),
            (
                "goal.closed",
                r#"{"outcome":"achieved","words":[{"id":"s20","commit":"1414141414141414141414141414141414141414141414141414141414141414","chars":3}],"on_behalf":false}"#,
            ),
        ];
        let mut with_text = std::collections::BTreeSet::new();
        for (event_type, data) in samples {
            let e = Event::parse(event_type, 1, data).unwrap_or_else(|e| panic!("{e}"));
            let mut want = Vec::new();
            commits_in(&e.data(), &mut want);
            let got: Vec<String> = e
                .segments()
                .iter()
                .map(|s| crate::format::to_hex(&s.commit.0))
                .collect();
            assert!(!want.is_empty(), "{event_type}");
            assert_eq!(got, want, "{event_type}");
            with_text.insert(event_type);
        }
        assert_eq!(with_text.len(), 18);
    }
}
