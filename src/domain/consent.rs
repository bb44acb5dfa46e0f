//! Consent: what the person allows to be shared, given and taken back by them (or recorded by
//! their worker on their behalf), with an expiry.
//!
//! Owns: `consent.granted`, `consent.revoked`, their rules, and [`ConsentLedger`]. Must not
//! touch: I/O, clocks, or other areas' records. Whether a consent is a basis for a read is
//! decided in [`super::access`], from [`ConsentRec::in_force`] and [`ConsentRec::valid_at`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::actors::ActorRec;
use super::checks::*;
use super::decide::{Commit, Decision};
use super::event::*;
use super::projection::{Key, Projections};
use super::stream::Stream;
use super::types::*;

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

    /// In force at time `t` by the record's times (granted by then, not yet revoked or expired):
    /// the basis of something that happened at `t`, such as a discussion.
    pub fn held_at(&self, t: Time) -> bool {
        self.granted_at <= t
            && self.revoked_at.is_none_or(|r| t < r)
            && self.expires_at.is_none_or(|e| t < e)
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

#[allow(clippy::too_many_arguments)]
pub(super) fn grant_consent(
    p: &Projections,
    caller: &ActorRec,
    subject: &str,
    consent_id: &str,
    scope: &Scope,
    grantee: &Option<Grantee<Passage>>,
    expires_at: &Option<Time>,
    now: Time,
    commit: &mut dyn Commit,
) -> R<Decision> {
    check_id("subject", subject)?;
    let (on_behalf, depends) = person_or_their_worker(p, caller, subject, "grant consent")?;
    service_user(p, "subject", subject)?;
    check_id("consent_id", consent_id)?;
    if p.consents
        .get(subject)
        .is_some_and(|l| l.consents.contains_key(consent_id))
    {
        return Err(exists("consent_id", format!("consent {consent_id}")));
    }
    match (scope, grantee) {
        (Scope::ShareWithCareTeam, Some(Grantee::Team(t))) => check_id("grantee", t)?,
        (Scope::ShareWithCareTeam, _) => {
            return Err(invalid(
                "consent.grantee",
                "grantee",
                "share_with_care_team names a team id",
            ))
        }
        (Scope::ShareWithPerson, Some(Grantee::Person(s))) => check_passage("grantee", s)?,
        (Scope::ShareWithPerson, _) => {
            return Err(invalid(
                "consent.grantee",
                "grantee",
                "share_with_person names the person (as text)",
            ))
        }
        (_, Some(_)) => {
            return Err(invalid(
                "consent.grantee",
                "grantee",
                format!("{scope} takes no grantee"),
            ))
        }
        (_, None) => {}
    }
    if let Some(e) = expires_at {
        future("expires_at", *e, now)?;
    }
    Ok(Decision::one(
        Stream::consent(subject),
        Some(subject.to_string()),
        Event::ConsentGranted(ConsentGranted {
            consent_id: consent_id.to_string(),
            scope: *scope,
            grantee: grantee.as_ref().map(|g| match g {
                Grantee::Person(name) => Grantee::Person(commit.commit(name)),
                Grantee::Team(team) => Grantee::Team(team.clone()),
            }),
            expires_at: *expires_at,
            on_behalf,
        }),
    )
    .depending(depends))
}

pub(super) fn revoke_consent(
    p: &Projections,
    caller: &ActorRec,
    subject: &str,
    consent_id: &str,
) -> R<Decision> {
    check_id("subject", subject)?;
    let (on_behalf, depends) = person_or_their_worker(p, caller, subject, "revoke consent")?;
    check_id("consent_id", consent_id)?;
    let c = p
        .consents
        .get(subject)
        .and_then(|l| l.consents.get(consent_id))
        .ok_or_else(|| {
            Refusal::not_found("consent_id", format!("consent {consent_id} of {subject}"))
        })?;
    if c.revoked_seq.is_some() {
        return Err(precondition(
            "consent.revoked",
            "consent_id",
            format!("consent {consent_id} is already revoked"),
        ));
    }
    Ok(Decision::one(
        Stream::consent(subject),
        Some(subject.to_string()),
        Event::ConsentRevoked(ConsentRevoked {
            consent_id: consent_id.to_string(),
            on_behalf,
        }),
    )
    .depending(depends))
}

/// Folds a consent event.
/// Returns false when the entry does not fit the state (it is then counted as skipped).
pub(super) fn apply(p: &mut Projections, r: &Recorded, next: u64) -> bool {
    match &r.event {
        Event::ConsentGranted(e) => {
            let Some(subject) = Projections::stream_id(&r.stream, "consent") else {
                return false;
            };
            let l = p.consents.entry(subject.clone()).or_default();
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
            p.dirty.insert(Key::Consents(subject));
        }
        Event::ConsentRevoked(e) => {
            let Some(subject) = Projections::stream_id(&r.stream, "consent") else {
                return false;
            };
            let Some(l) = p.consents.get_mut(&subject) else {
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
            p.dirty.insert(Key::Consents(subject));
        }
        _ => return false,
    }
    true
}
