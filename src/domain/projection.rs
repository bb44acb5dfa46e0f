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

use super::event::*;
use super::stream::Stream;
use super::types::*;
use super::{
    actors, authority, consent, discussions, goals, meetings, notes, reads, retention,
    safeguarding, sar, statements, support,
};

pub use super::actors::{ActorRec, IdentityRec, TokenRec};
pub use super::authority::AuthorityRec;
pub use super::consent::{ConsentLedger, ConsentRec};
pub use super::discussions::DiscussionRec;
pub use super::goals::{GoalClosure, GoalRec, GoalReview};
pub use super::meetings::{GroupRec, MeetingRec};
pub use super::notes::{NoteRec, NoteStatus, ProposalRec, ProposalStatus, Removal, RevisionRec};
pub use super::reads::InvalidRead;
pub use super::retention::{ErasureRec, HoldRec, RetentionRec};
pub use super::safeguarding::ConcernRec;
pub use super::sar::{DisclosureLedger, SarRec, WithholdingRec};
pub use super::statements::StatementRec;
pub use super::support::{SupportRec, SupportStatus};

/// Bump when a record's shape or meaning changes: persisted views of another schema are rebuilt
/// from the log on open.
/// 3: a person's record is persisted only once their access counters are non-zero.
/// 4: discussions and statements; a note keeps when each revision was agreed.
/// 5: meetings as they happen (status, plan, place agreement, goals, activities), groups, goals.
/// 6: authorities (representatives); a support relationship's pending transfer and former
///    workers.
/// 7: retention (dates, legal holds, what was erased and when).
pub const VIEW_SCHEMA: u32 = 7;

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
    #[serde(skip)]
    pub discussions: BTreeSet<String>,
    #[serde(skip)]
    pub statements: BTreeSet<String>,
    #[serde(skip)]
    pub goals: BTreeSet<String>,
    pub authorities: BTreeSet<String>,
    /// Length of stream `access:<subject>`.
    pub access_version: u64,
    pub reads: u64,
    pub denials: u64,
}

/// Every projection, in memory. Cloning is cheap enough for tests and time travel of one person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projections {
    /// Entries `0..applied` have been applied.
    pub applied: u64,
    pub actors: BTreeMap<String, ActorRec>,
    /// Token hash (hex) → token.
    pub tokens: BTreeMap<String, TokenRec>,
    /// Identity digest (hex) → the link (`identity.linked`).
    pub identities: BTreeMap<String, IdentityRec>,
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
    pub discussions: BTreeMap<String, DiscussionRec>,
    pub statements: BTreeMap<String, StatementRec>,
    pub goals: BTreeMap<String, GoalRec>,
    pub groups: BTreeMap<String, GroupRec>,
    pub authorities: BTreeMap<String, AuthorityRec>,
    /// Subject → their retention: dates, legal holds, erasures.
    pub retention: BTreeMap<String, RetentionRec>,
    /// Entries that are not domain events or did not fit the state (counted, not applied).
    pub skipped: u64,
    /// Record keys changed since the last [`Projections::take_dirty`].
    pub(super) dirty: BTreeSet<Key>,
}

/// A persisted record's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Actor(String),
    Token(String),
    Identity(String),
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
    Discussion(String),
    Statement(String),
    Goal(String),
    Group(String),
    Authority(String),
    Retention(String),
}

impl Key {
    fn encode(&self) -> Vec<u8> {
        let (kind, id) = match self {
            Key::Actor(i) => ("actor", i.clone()),
            Key::Token(i) => ("token", i.clone()),
            Key::Identity(i) => ("identity", i.clone()),
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
            Key::Discussion(i) => ("discussion", i.clone()),
            Key::Statement(i) => ("statement", i.clone()),
            Key::Goal(i) => ("goal", i.clone()),
            Key::Group(i) => ("group", i.clone()),
            Key::Authority(i) => ("authority", i.clone()),
            Key::Retention(i) => ("retention", i.clone()),
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
            Stream::Discussion(id) => self.discussions.get(id).map_or(0, |r| r.version),
            Stream::Statement(id) => self.statements.get(id).map_or(0, |r| r.version),
            Stream::Goal(id) => self.goals.get(id).map_or(0, |r| r.version),
            Stream::Group(id) => self.groups.get(id).map_or(0, |r| r.version),
            Stream::Authority(id) => self.authorities.get(id).map_or(0, |r| r.version),
            Stream::Retention(id) => self.retention.get(id).map_or(0, |r| r.version),
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
        match &r.event {
            Event::ActorRegistered(_)
            | Event::ActorDeactivated(_)
            | Event::TokenIssued(_)
            | Event::TokenRevoked(_)
            | Event::IdentityLinked(_)
            | Event::IdentityUnlinked(_)
            | Event::SignInCodeIssued(_) => actors::apply(self, r, next),
            Event::SupportReferred(_)
            | Event::SupportOffered(_)
            | Event::SupportAccepted(_)
            | Event::SupportDeclined(_)
            | Event::SupportEnded(_)
            | Event::SupportTransferProposed(_)
            | Event::SupportTransferAccepted(_)
            | Event::SupportTransferDeclined(_) => support::apply(self, r, next),
            Event::MeetingRecorded(_)
            | Event::MeetingPlanned(_)
            | Event::MeetingPlaceProposed(_)
            | Event::MeetingPlaceAgreed(_)
            | Event::MeetingCancelled(_)
            | Event::MeetingNotAttended(_)
            | Event::MeetingHeld(_)
            | Event::GroupFormed(_) => meetings::apply(self, r, next),
            Event::NoteDrafted(_)
            | Event::NoteRevised(_)
            | Event::NoteAddendum(_)
            | Event::RedactionProposed(_)
            | Event::RedactionAgreed(_)
            | Event::RedactionDeclined(_)
            | Event::RedactionWithdrawn(_)
            | Event::NoteAgreed(_)
            | Event::NoteClosed(_) => notes::apply(self, r, next),
            Event::ConsentGranted(_) | Event::ConsentRevoked(_) => consent::apply(self, r, next),
            Event::SafeguardingRaised(_)
            | Event::SafeguardingAcknowledged(_)
            | Event::SafeguardingOutcome(_)
            | Event::SubjectInformed(_) => safeguarding::apply(self, r, next),
            Event::DisclosureWithheld(_)
            | Event::DisclosureReleased(_)
            | Event::SarRequested(_)
            | Event::SarFulfilled(_) => sar::apply(self, r, next),
            Event::RecordAccessed(_) | Event::AccessDenied(_) => reads::apply(self, r, next),
            Event::DiscussionRecorded(_) => discussions::apply(self, r, next),
            Event::StatementAdded(_) => statements::apply(self, r, next),
            Event::GoalSet(_) | Event::GoalReviewed(_) | Event::GoalClosed(_) => {
                goals::apply(self, r, next)
            }
            Event::AuthorityGranted(_) | Event::AuthorityEnded(_) => {
                authority::apply(self, r, next)
            }
            Event::RetentionDateRecorded(_)
            | Event::LegalHoldPlaced(_)
            | Event::LegalHoldLifted(_)
            | Event::RetentionErased(_) => retention::apply(self, r, next),
        }
    }

    /// The id of stream `stream` when it is of kind `kind` (`support:s1` → `s1`).
    pub(super) fn stream_id(stream: &str, kind: &str) -> Option<String> {
        stream
            .strip_prefix(kind)
            .and_then(|s| s.strip_prefix(':'))
            .map(str::to_string)
    }

    /// A person's record, to change what is persisted of it (its access counters).
    pub(super) fn person(&mut self, subject: &str) -> &mut PersonRec {
        self.dirty.insert(Key::Person(subject.to_string()));
        self.person_ids(subject)
    }

    /// A person's record, to change only its id sets, which are not persisted (so this marks
    /// nothing to save: a meeting recorded used to re-save its person's record every time).
    pub(super) fn person_ids(&mut self, subject: &str) -> &mut PersonRec {
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
                Key::Identity(i) => copy(&self.identities, &mut out.identities, i),
                Key::Support(i) => copy(&self.supports, &mut out.supports, i),
                Key::Meeting(i) => copy(&self.meetings, &mut out.meetings, i),
                Key::Note(i) => copy(&self.notes, &mut out.notes, i),
                Key::Consents(i) => copy(&self.consents, &mut out.consents, i),
                Key::Concern(i) => copy(&self.concerns, &mut out.concerns, i),
                Key::Disclosures(i) => copy(&self.disclosures, &mut out.disclosures, i),
                Key::Sar(i) => copy(&self.sars, &mut out.sars, i),
                Key::Caseload(i) => copy(&self.caseloads, &mut out.caseloads, i),
                Key::InvalidRead(s) => copy(&self.invalid_reads, &mut out.invalid_reads, s),
                Key::Discussion(i) => copy(&self.discussions, &mut out.discussions, i),
                Key::Statement(i) => copy(&self.statements, &mut out.statements, i),
                Key::Goal(i) => copy(&self.goals, &mut out.goals, i),
                Key::Group(i) => copy(&self.groups, &mut out.groups, i),
                Key::Authority(i) => copy(&self.authorities, &mut out.authorities, i),
                Key::Retention(i) => copy(&self.retention, &mut out.retention, i),
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
        self.records_in_order().collect()
    }

    /// Every record, encoded one at a time as the iterator is drawn, in the order of their
    /// encoded keys (the order [`Projections::encode_all`] returns and the views persist).
    fn records_in_order(&self) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
        let mut keys: Vec<Key> = Vec::new();
        keys.extend(self.actors.keys().cloned().map(Key::Actor));
        keys.extend(self.tokens.keys().cloned().map(Key::Token));
        keys.extend(self.identities.keys().cloned().map(Key::Identity));
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
        keys.extend(self.discussions.keys().cloned().map(Key::Discussion));
        keys.extend(self.statements.keys().cloned().map(Key::Statement));
        keys.extend(self.goals.keys().cloned().map(Key::Goal));
        keys.extend(self.groups.keys().cloned().map(Key::Group));
        keys.extend(self.authorities.keys().cloned().map(Key::Authority));
        keys.extend(self.retention.keys().cloned().map(Key::Retention));
        if self.skipped > 0 {
            keys.push(Key::Stats);
        }
        // Keys are unique, so ordering by the encoded key alone is the order of the records;
        // each key is encoded once, for the sort, and handed out with its value.
        let mut encoded: Vec<(Vec<u8>, Key)> = keys.into_iter().map(|k| (k.encode(), k)).collect();
        encoded.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        encoded
            .into_iter()
            .filter_map(move |(key, k)| Some((key, self.encode_value(&k)?)))
    }

    /// The encoded key of the first record (in key order) that these projections and `other`
    /// do not hold alike: present in one only, or encoded to different bytes. `None` when every
    /// record is byte-identical. One record of each side is encoded at a time, so comparing two
    /// Trust-sized projections costs their keys, not two more whole copies of them (a checked
    /// rebuild at 10 M entries ran out of 24 GiB when it compared whole encodings).
    pub fn first_difference(&self, other: &Projections) -> Option<Vec<u8>> {
        let mut ours = self.records_in_order();
        let mut theirs = other.records_in_order();
        loop {
            match (ours.next(), theirs.next()) {
                (None, None) => return None,
                (Some((key, _)), None) | (None, Some((key, _))) => return Some(key),
                (Some((our_key, our_value)), Some((their_key, their_value))) => {
                    if our_key != their_key {
                        return Some(our_key.min(their_key));
                    }
                    if our_value != their_value {
                        return Some(our_key);
                    }
                }
            }
        }
    }

    fn encode(&self, k: &Key) -> Option<(Vec<u8>, Vec<u8>)> {
        Some((k.encode(), self.encode_value(k)?))
    }

    /// The record's value alone (`None` when the record does not exist).
    fn encode_value(&self, k: &Key) -> Option<Vec<u8>> {
        fn j<T: Serialize>(v: &T) -> Option<Vec<u8>> {
            serde_json::to_vec(v).ok()
        }
        match k {
            Key::Actor(i) => j(self.actors.get(i)?),
            Key::Token(i) => j(self.tokens.get(i)?),
            Key::Identity(i) => j(self.identities.get(i)?),
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
            Key::Discussion(i) => j(self.discussions.get(i)?),
            Key::Statement(i) => j(self.statements.get(i)?),
            Key::Goal(i) => j(self.goals.get(i)?),
            Key::Group(i) => j(self.groups.get(i)?),
            Key::Authority(i) => j(self.authorities.get(i)?),
            Key::Retention(i) => j(self.retention.get(i)?),
        }
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
                "identity" => drop(p.identities.insert(id, d(&v).map_err(err)?)),
                "support" => drop(p.supports.insert(id, d(&v).map_err(err)?)),
                "meeting" => drop(p.meetings.insert(id, d(&v).map_err(err)?)),
                "note" => drop(p.notes.insert(id, d(&v).map_err(err)?)),
                "consents" => drop(p.consents.insert(id, d(&v).map_err(err)?)),
                "concern" => drop(p.concerns.insert(id, d(&v).map_err(err)?)),
                "disclosures" => drop(p.disclosures.insert(id, d(&v).map_err(err)?)),
                "sar" => drop(p.sars.insert(id, d(&v).map_err(err)?)),
                "person" => drop(p.people.insert(id, d(&v).map_err(err)?)),
                "caseload" => drop(p.caseloads.insert(id, d(&v).map_err(err)?)),
                "discussion" => drop(p.discussions.insert(id, d(&v).map_err(err)?)),
                "statement" => drop(p.statements.insert(id, d(&v).map_err(err)?)),
                "goal" => drop(p.goals.insert(id, d(&v).map_err(err)?)),
                "group" => drop(p.groups.insert(id, d(&v).map_err(err)?)),
                "authority" => drop(p.authorities.insert(id, d(&v).map_err(err)?)),
                "retention" => drop(p.retention.insert(id, d(&v).map_err(err)?)),
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
        for (id, r) in &p.discussions {
            person(&mut people, &r.subject)
                .discussions
                .insert(id.clone());
        }
        for (id, r) in &p.statements {
            person(&mut people, &r.subject)
                .statements
                .insert(id.clone());
        }
        for (id, r) in &p.goals {
            person(&mut people, &r.subject).goals.insert(id.clone());
        }
        for (id, r) in &p.authorities {
            person(&mut people, &r.subject)
                .authorities
                .insert(id.clone());
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

    fn on_support(seq: u64, support: &str, event: Event) -> Recorded {
        Recorded {
            seq,
            at: Time(0),
            stream: format!("support:{support}"),
            version: 0,
            subject: Some("su-1".into()),
            actor_id: "a".into(),
            actor_role: "admin".into(),
            command: None,
            event,
        }
    }

    fn referred(seq: u64, support: &str, worker: &str) -> Recorded {
        let event = Event::SupportReferred(SupportReferred {
            support_id: support.into(),
            worker: worker.into(),
            source: ReferralSource::SelfReferral,
        });
        on_support(seq, support, event)
    }

    /// What `withus rebuild --check` reports: the first record in key order that two
    /// projections do not hold alike, whether it is missing from one side or encoded
    /// differently, and nothing when they are alike.
    #[test]
    fn first_difference_names_the_first_record_not_alike_in_key_order() {
        let mut ours = Projections::new();
        let mut theirs = Projections::new();
        for p in [&mut ours, &mut theirs] {
            p.apply(&referred(0, "sp-2", "w-1"));
            p.apply(&referred(1, "sp-4", "w-1"));
        }
        assert_eq!(ours.first_difference(&theirs), None);
        assert_eq!(ours.first_difference(&ours), None);

        // Records only one side holds (worker w-0's caseload and support sp-1): the first of
        // them in key order, whichever side is asked.
        theirs.apply(&referred(2, "sp-1", "w-0"));
        assert_eq!(
            ours.first_difference(&theirs),
            Some(b"caseload/w-0".to_vec())
        );
        assert_eq!(
            theirs.first_difference(&ours),
            Some(b"caseload/w-0".to_vec())
        );
        ours.apply(&referred(2, "sp-1", "w-0"));
        assert_eq!(ours.first_difference(&theirs), None);

        // A record both hold, encoded differently.
        let offered = Event::SupportOffered(SupportOffered {});
        theirs.apply(&on_support(3, "sp-4", offered));
        assert_eq!(ours.encode_all().len(), theirs.encode_all().len());
        assert_eq!(
            ours.first_difference(&theirs),
            Some(b"support/sp-4".to_vec())
        );
    }
}
