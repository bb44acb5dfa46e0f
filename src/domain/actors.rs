//! Actors and their tokens: who is registered, in which role and team, and which bearer tokens
//! and sign-in identities speak for them.
//!
//! Owns: `actor.registered`, `actor.deactivated`, `token.issued`, `token.revoked`,
//! `identity.linked`, `identity.unlinked`, `signin.code_issued` — the rules that refuse them
//! (only an admin, and for a person's sign-in code also their peer worker; the first admin once;
//! an identity speaks for one actor, an actor has one identity per issuer) and how
//! they fold into [`ActorRec`], [`TokenRec`] and [`IdentityRec`]. Must not touch: I/O, clocks,
//! randomness, or any other area's records.

use serde::{Deserialize, Serialize};

use super::checks::*;
use super::decide::{Commit, Decision};
use super::event::*;
use super::projection::{Key, Projections};
use super::stream::Stream;
use super::types::*;
use crate::format::Hash;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorRec {
    pub id: String,
    pub role: Role,
    pub team: Option<String>,
    pub display: SegmentRef,
    pub active: bool,
    pub registered_at: Time,
    pub deactivated_at: Option<Time>,
    /// Length of stream `actor:<id>` (token and identity events are on it too).
    pub version: u64,
    /// Issuer → the keyed digest of the identity linked there (at most one per issuer).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub identities: std::collections::BTreeMap<String, HexHash>,
}

/// A sign-in identity linked to an actor (`identity.linked`), by its keyed digest. Kept once
/// unlinked (as a revoked token is), with `unlinked_at` set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRec {
    pub actor: String,
    pub issuer: String,
    pub linked_at: Time,
    pub unlinked_at: Option<Time>,
}

impl IdentityRec {
    /// Whether the link still speaks for its actor (who must also be active).
    pub fn linked(&self) -> bool {
        self.unlinked_at.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRec {
    pub actor: String,
    pub issued_at: Time,
    pub expires_at: Option<Time>,
    pub revoked_at: Option<Time>,
}

/// The first admin: allowed only while no actor is registered. `caller_id` registers itself.
pub fn decide_bootstrap(
    p: &Projections,
    id: &str,
    display: &Passage,
    commit: &mut dyn Commit,
) -> R<Decision> {
    check_id("id", id)?;
    if !p.actors.is_empty() {
        return Err(precondition(
            "bootstrap.once",
            "id",
            "actors are already registered; an admin registers further actors",
        ));
    }
    check_passage("display", display)?;
    Ok(Decision::one(
        Stream::actor(id),
        None,
        Event::ActorRegistered(ActorRegistered {
            id: id.to_string(),
            role: Role::Admin,
            team: None,
            display: commit.commit(display),
        }),
    ))
}

pub(super) fn register_actor(
    p: &Projections,
    caller: &ActorRec,
    id: &str,
    r: &Role,
    team: &Option<String>,
    display: &Passage,
    commit: &mut dyn Commit,
) -> R<Decision> {
    role(caller, &[Role::Admin], "register actors")?;
    check_id("id", id)?;
    if id == super::retention::RETENTION_ACTOR {
        return Err(invalid(
            "actor.reserved_id",
            "id",
            format!("{id} is the system actor of the retention schedule; choose another id"),
        ));
    }
    if p.actors.contains_key(id) {
        return Err(exists("id", format!("actor {id}")));
    }
    check_passage("display", display)?;
    match (r, team) {
        (Role::PeerWorker | Role::CareTeam, None) => {
            return Err(invalid(
                "actor.team",
                "team",
                format!("a {r} belongs to a team (consents name teams); give its id"),
            ))
        }
        (_, Some(t)) => check_id("team", t)?,
        _ => {}
    }
    let subject = (*r == Role::ServiceUser).then(|| id.to_string());
    Ok(Decision::one(
        Stream::actor(id),
        subject,
        Event::ActorRegistered(ActorRegistered {
            id: id.to_string(),
            role: *r,
            team: team.clone(),
            display: commit.commit(display),
        }),
    ))
}

pub(super) fn deactivate_actor(
    p: &Projections,
    caller: &ActorRec,
    id: &str,
    reason: &DeactivationReason,
) -> R<Decision> {
    role(caller, &[Role::Admin], "deactivate actors")?;
    check_id("id", id)?;
    let a = active_actor(p, "id", id)?;
    if a.id == caller.id {
        return Err(precondition(
            "actor.self",
            "id",
            "an admin cannot deactivate themselves; another admin must",
        ));
    }
    let subject = (a.role == Role::ServiceUser).then(|| id.to_string());
    Ok(Decision::one(
        Stream::actor(id),
        subject,
        Event::ActorDeactivated(ActorDeactivated {
            id: id.to_string(),
            reason: *reason,
        }),
    ))
}

pub(super) fn issue_token(
    p: &Projections,
    caller: &ActorRec,
    actor: &str,
    token_hash: &Hash,
    expires_at: &Option<Time>,
    now: Time,
) -> R<Decision> {
    role(caller, &[Role::Admin], "issue tokens")?;
    check_id("actor", actor)?;
    let a = active_actor(p, "actor", actor)?;
    if p.tokens.contains_key(&crate::format::to_hex(token_hash)) {
        return Err(exists("token_hash", "this token"));
    }
    if let Some(e) = expires_at {
        future("expires_at", *e, now)?;
    }
    let subject = (a.role == Role::ServiceUser).then(|| actor.to_string());
    Ok(Decision::one(
        Stream::actor(actor),
        subject,
        Event::TokenIssued(TokenIssued {
            actor: actor.to_string(),
            token_hash: HexHash(*token_hash),
            expires_at: *expires_at,
        }),
    ))
}

/// Most a sign-in code may live: it is for signing in now, at a desk or on the phone with the
/// person, not a standing credential.
pub const MAX_SIGNIN_CODE_MS: u64 = 60 * 60 * 1000;

/// A one-time sign-in code for the person `actor`'s own page. Issued by an admin, or by the
/// person's peer worker (an accepted support relationship) — who then could sign in as them, so
/// the code's issue is an entry in the person's stream naming its issuer. A peer worker without
/// that relationship gets the one no-basis answer, whether or not the person exists.
pub(super) fn issue_signin_code(
    p: &Projections,
    caller: &ActorRec,
    actor: &str,
    code_digest: &Hash,
    expires_at: Time,
    now: Time,
) -> R<Decision> {
    check_id("actor", actor)?;
    let mut relied_on = Vec::new();
    match caller.role {
        Role::Admin => {}
        Role::PeerWorker => match active_support(p, &caller.id, actor) {
            Some(s) => relied_on.push(Stream::support(&s.support_id)),
            None => return Err(no_basis("actor", format!("person {actor}"))),
        },
        _ => {
            role(
                caller,
                &[Role::Admin, Role::PeerWorker],
                "issue sign-in codes",
            )?;
        }
    }
    service_user(p, "actor", actor)?;
    future("expires_at", expires_at, now)?;
    if expires_at.0 > now.0.saturating_add(MAX_SIGNIN_CODE_MS) {
        return Err(invalid(
            "signin_code.expiry",
            "expires_at",
            format!(
                "a sign-in code may live at most {} minutes",
                MAX_SIGNIN_CODE_MS / 60_000
            ),
        ));
    }
    Ok(Decision::one(
        Stream::actor(actor),
        Some(actor.to_string()),
        Event::SignInCodeIssued(SignInCodeIssued {
            actor: actor.to_string(),
            code_digest: HexHash(*code_digest),
            expires_at,
        }),
    )
    .depending(relied_on))
}

pub(super) fn revoke_token(p: &Projections, caller: &ActorRec, token_hash: &Hash) -> R<Decision> {
    role(caller, &[Role::Admin], "revoke tokens")?;
    let h = crate::format::to_hex(token_hash);
    let t = p
        .tokens
        .get(&h)
        .ok_or_else(|| Refusal::not_found("token_hash", "this token"))?;
    if t.revoked_at.is_some() {
        return Err(precondition(
            "token.revoked",
            "token_hash",
            "the token is already revoked",
        ));
    }
    let subject = p
        .actors
        .get(&t.actor)
        .filter(|a| a.role == Role::ServiceUser)
        .map(|a| a.id.clone());
    Ok(Decision::one(
        Stream::actor(&t.actor),
        subject,
        Event::TokenRevoked(TokenRevoked {
            token_hash: HexHash(*token_hash),
        }),
    ))
}

pub(super) fn link_identity(
    p: &Projections,
    caller: &ActorRec,
    actor: &str,
    issuer: &str,
    identity: &Hash,
) -> R<Decision> {
    role(caller, &[Role::Admin], "link sign-in identities")?;
    check_id("actor", actor)?;
    crate::oidc::check_issuer(issuer).map_err(|m| invalid("identity.issuer", "issuer", m))?;
    let a = active_actor(p, "actor", actor)?;
    let linked = p.identities.get(&crate::format::to_hex(identity));
    if linked.is_some_and(|l| l.linked()) {
        return Err(Refusal::new(
            Code::AlreadyExists,
            "identity.linked",
            "subject",
            // Not naming the actor: a guessed subject must not find out whose it is.
            "this identity is already linked to another actor; unlink it from them first to link it elsewhere",
        ));
    }
    if a.identities.contains_key(issuer) {
        return Err(precondition(
            "identity.one_per_issuer",
            "actor",
            format!(
                "actor {actor} is already linked to an identity at this issuer; unlink it first"
            ),
        ));
    }
    let subject = (a.role == Role::ServiceUser).then(|| actor.to_string());
    Ok(Decision::one(
        Stream::actor(actor),
        subject,
        Event::IdentityLinked(IdentityLinked {
            actor: actor.to_string(),
            issuer: issuer.to_string(),
            identity: HexHash(*identity),
        }),
    ))
}

/// Cuts a link, also of a deactivated actor (whose link already authenticates nobody), so the
/// identity can be linked again elsewhere.
pub(super) fn unlink_identity(
    p: &Projections,
    caller: &ActorRec,
    actor: &str,
    issuer: &str,
) -> R<Decision> {
    role(caller, &[Role::Admin], "unlink sign-in identities")?;
    check_id("actor", actor)?;
    crate::oidc::check_issuer(issuer).map_err(|m| invalid("identity.issuer", "issuer", m))?;
    let a = p
        .actors
        .get(actor)
        .ok_or_else(|| Refusal::not_found("actor", format!("actor {actor}")))?;
    let identity = a.identities.get(issuer).ok_or_else(|| {
        Refusal::not_found("issuer", format!("a link of actor {actor} at this issuer"))
    })?;
    let subject = (a.role == Role::ServiceUser).then(|| actor.to_string());
    Ok(Decision::one(
        Stream::actor(actor),
        subject,
        Event::IdentityUnlinked(IdentityUnlinked {
            actor: actor.to_string(),
            issuer: issuer.to_string(),
            identity: *identity,
        }),
    ))
}

/// Folds an actor, token or identity event.
/// Returns false when the entry does not fit the state (it is then counted as skipped).
pub(super) fn apply(p: &mut Projections, r: &Recorded, next: u64) -> bool {
    match &r.event {
        Event::ActorRegistered(e) => {
            p.actors.insert(
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
                    identities: Default::default(),
                },
            );
            p.dirty.insert(Key::Actor(e.id.clone()));
        }
        Event::ActorDeactivated(e) => {
            let Some(a) = p.actors.get_mut(&e.id) else {
                return false;
            };
            a.active = false;
            a.deactivated_at = Some(r.at);
            a.version = next;
            p.dirty.insert(Key::Actor(e.id.clone()));
        }
        Event::TokenIssued(e) => {
            let Some(a) = p.actors.get_mut(&e.actor) else {
                return false;
            };
            a.version = next;
            let h = crate::format::to_hex(&e.token_hash.0);
            p.tokens.insert(
                h.clone(),
                TokenRec {
                    actor: e.actor.clone(),
                    issued_at: r.at,
                    expires_at: e.expires_at,
                    revoked_at: None,
                },
            );
            p.dirty.insert(Key::Actor(e.actor.clone()));
            p.dirty.insert(Key::Token(h));
        }
        Event::TokenRevoked(e) => {
            let h = crate::format::to_hex(&e.token_hash.0);
            let Some(t) = p.tokens.get_mut(&h) else {
                return false;
            };
            t.revoked_at = Some(r.at);
            let actor = t.actor.clone();
            if let Some(a) = p.actors.get_mut(&actor) {
                a.version = next;
                p.dirty.insert(Key::Actor(actor));
            }
            p.dirty.insert(Key::Token(h));
        }
        Event::IdentityLinked(e) => {
            let h = crate::format::to_hex(&e.identity.0);
            if p.identities.get(&h).is_some_and(|l| l.linked()) {
                return false;
            }
            let Some(a) = p.actors.get_mut(&e.actor) else {
                return false;
            };
            if a.identities.contains_key(&e.issuer) {
                return false;
            }
            a.identities.insert(e.issuer.clone(), e.identity);
            a.version = next;
            p.identities.insert(
                h.clone(),
                IdentityRec {
                    actor: e.actor.clone(),
                    issuer: e.issuer.clone(),
                    linked_at: r.at,
                    unlinked_at: None,
                },
            );
            p.dirty.insert(Key::Actor(e.actor.clone()));
            p.dirty.insert(Key::Identity(h));
        }
        Event::SignInCodeIssued(e) => {
            // Nothing to keep: the code is redeemed from the service's memory (a restart voids
            // it); the entry is the person's record of who issued it.
            let Some(a) = p.actors.get_mut(&e.actor) else {
                return false;
            };
            a.version = next;
            p.dirty.insert(Key::Actor(e.actor.clone()));
        }
        Event::IdentityUnlinked(e) => {
            let h = crate::format::to_hex(&e.identity.0);
            let Some(l) = p
                .identities
                .get_mut(&h)
                .filter(|l| l.linked() && l.actor == e.actor)
            else {
                return false;
            };
            let Some(a) = p.actors.get_mut(&e.actor) else {
                return false;
            };
            if a.identities.get(&e.issuer) != Some(&e.identity) {
                return false;
            }
            l.unlinked_at = Some(r.at);
            a.identities.remove(&e.issuer);
            a.version = next;
            p.dirty.insert(Key::Actor(e.actor.clone()));
            p.dirty.insert(Key::Identity(h));
        }
        _ => return false,
    }
    true
}
