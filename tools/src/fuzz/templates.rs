//! A valid `data` object of every event type (domain.md), and mutations of JSON values that keep
//! most of a shape while changing what it says — so the event parser accepts many of them and
//! `Projections::apply` meets events that no decision would emit.

use serde_json::{json, Map, Value};
use withus::domain::types::*;

use super::world::{ACTORS, CONCERNS, CONSENTS, MEETINGS, NOTES, PROPOSALS, SARS, SUPPORTS, T0};
use super::Input;

const H: &str = "a3f1c0de00000000000000000000000000000000000000000000000000000001";
const T: &str = "2026-11-23T09:00:00.000Z";

/// `(type, natural stream kind, data)` for every event type, in `Event::TYPES` order.
pub fn templates() -> &'static [(&'static str, &'static str, Value)] {
    static TEMPLATES: std::sync::OnceLock<Vec<(&'static str, &'static str, Value)>> =
        std::sync::OnceLock::new();
    TEMPLATES.get_or_init(make_templates)
}

fn make_templates() -> Vec<(&'static str, &'static str, Value)> {
    let seg = |id: &str| json!({"id": id, "commit": H, "chars": 12});
    vec![
        (
            "actor.registered",
            "actor",
            json!({"id": "su-sam", "role": "service_user", "team": null, "display": seg("d")}),
        ),
        (
            "actor.deactivated",
            "actor",
            json!({"id": "pw-ben", "reason": "left_organisation"}),
        ),
        (
            "token.issued",
            "actor",
            json!({"actor": "su-sam", "token_hash": H, "expires_at": T}),
        ),
        ("token.revoked", "actor", json!({"token_hash": H})),
        (
            "support.referred",
            "support",
            json!({"support_id": "sp-0", "worker": "pw-amara", "source": "self"}),
        ),
        ("support.offered", "support", json!({})),
        ("support.accepted", "support", json!({"on_behalf": false})),
        ("support.declined", "support", json!({"on_behalf": true})),
        ("support.ended", "support", json!({"reason": "goals_met"})),
        (
            "meeting.recorded",
            "meeting",
            json!({"meeting_id": "m-0", "support_id": "sp-0", "worker": "pw-amara",
                   "kind": "one_to_one", "group_id": null, "mode": "in_person",
                   "place": "clinic", "place_detail": seg("pd"), "occurred_at": T, "minutes": 50}),
        ),
        (
            "note.drafted",
            "note",
            json!({"note_id": "n-0", "meeting_id": "m-0", "segments": [seg("s-0"), seg("s-1")]}),
        ),
        ("note.revised", "note", json!({"segments": [seg("s-0")]})),
        (
            "redaction.proposed",
            "note",
            json!({"proposal_id": "p-0", "segments": ["s-0"], "reason": "not_wanted"}),
        ),
        ("redaction.agreed", "note", json!({"proposal_id": "p-0"})),
        (
            "redaction.declined",
            "note",
            json!({"proposal_id": "p-0", "reason": seg("why")}),
        ),
        ("redaction.withdrawn", "note", json!({"proposal_id": "p-0"})),
        ("note.agreed", "note", json!({"revision": 1})),
        (
            "note.closed_without_agreement",
            "note",
            json!({"reason": "person_declined"}),
        ),
        ("note.addendum", "note", json!({"segments": [seg("s-9")]})),
        (
            "consent.granted",
            "consent",
            json!({"consent_id": "c-0", "scope": "share_with_care_team",
                   "grantee": "cmht-north", "expires_at": null, "on_behalf": false}),
        ),
        (
            "consent.revoked",
            "consent",
            json!({"consent_id": "c-0", "on_behalf": false}),
        ),
        (
            "safeguarding.raised",
            "concern",
            json!({"concern_id": "k-0", "category": "self_harm", "urgency": "immediate",
                   "summary": [seg("k")]}),
        ),
        ("safeguarding.acknowledged", "concern", json!({})),
        (
            "safeguarding.outcome",
            "concern",
            json!({"outcome": "advice_given", "detail": seg("o")}),
        ),
        (
            "safeguarding.subject_informed",
            "concern",
            json!({"how": "letter"}),
        ),
        (
            "disclosure.withheld",
            "disclosure",
            json!({"target_stream": "note:n-0", "exemption": "serious_harm",
                   "justification": seg("j"), "review_by": "2027-01-01T00:00:00.000Z"}),
        ),
        (
            "disclosure.released",
            "disclosure",
            json!({"target_stream": "note:n-0"}),
        ),
        (
            "record.accessed",
            "access",
            json!({"streams": ["note:n-0", "meeting:m-0"], "basis": "support:sp-0"}),
        ),
        (
            "access.denied",
            "access",
            json!({"what": "record", "reason": "no_consent"}),
        ),
        (
            "sar.requested",
            "sar",
            json!({"sar_id": "r-0", "via": "app"}),
        ),
        (
            "sar.fulfilled",
            "sar",
            json!({"sar_id": "r-0", "bundle_hash": H, "tree_size": 12, "withheld": 0}),
        ),
        (
            "discussion.recorded",
            "discussion",
            json!({"discussion_id": "d-0", "setting": "mdt", "with": {"team": "cmht-north"},
                   "held_at": T, "basis": "consent:c-0", "summary": [seg("ds-0")]}),
        ),
        (
            "statement.added",
            "statement",
            json!({"statement_id": "st-0", "target_stream": "note:n-0",
                   "segments": [seg("st-s0")]}),
        ),
        (
            "meeting.planned",
            "meeting",
            json!({"meeting_id": MEETINGS[1], "support_id": SUPPORTS[0], "worker": "pw-amara",
                   "mode": "in_person", "place": "clinic", "place_detail": null,
                   "planned_for": T, "minutes": 30}),
        ),
        (
            "meeting.place_proposed",
            "meeting",
            json!({"place": "community", "place_detail": seg("pl"), "on_behalf": false}),
        ),
        (
            "meeting.place_agreed",
            "meeting",
            json!({"on_behalf": true}),
        ),
        ("meeting.cancelled", "meeting", json!({"by": "person"})),
        ("meeting.not_attended", "meeting", json!({})),
        (
            "meeting.held",
            "meeting",
            json!({"occurred_at": T, "minutes": 45, "goals": ["goal-0"],
                   "activities": [{"kind": "signposting", "detail": seg("a1")}]}),
        ),
        (
            "group.formed",
            "group",
            json!({"group_id": "g-0", "name": seg("gn"), "facilitators": ["pw-amara"]}),
        ),
        (
            "goal.set",
            "goal",
            json!({"goal_id": "goal-0", "support_id": SUPPORTS[0], "words": [seg("w1")],
                   "co_produced": true, "on_behalf": false}),
        ),
        (
            "goal.reviewed",
            "goal",
            json!({"words": [seg("r1")], "on_behalf": false}),
        ),
        (
            "goal.closed",
            "goal",
            json!({"outcome": "let_go", "words": [], "on_behalf": true}),
        ),
        (
            "authority.granted",
            "authority",
            json!({"authority_id": "au-0", "representative": "rp-kim", "relation": "carer",
                   "basis": "consent", "scope": ["read_record", "subject_access"],
                   "expires_at": T, "evidence": null}),
        ),
        (
            "authority.ended",
            "authority",
            json!({"reason": "person_withdrew"}),
        ),
        (
            "support.transfer_proposed",
            "support",
            json!({"to_worker": "pw-ben"}),
        ),
        (
            "support.transfer_accepted",
            "support",
            json!({"on_behalf": false}),
        ),
        (
            "support.transfer_declined",
            "support",
            json!({"on_behalf": true}),
        ),
        (
            "retention.date_recorded",
            "retention",
            json!({"kind": "birth", "date": "2008-02-29"}),
        ),
        (
            "legal_hold.placed",
            "retention",
            json!({"hold_id": "h-0", "reason": "inquest"}),
        ),
        ("legal_hold.lifted", "retention", json!({"hold_id": "h-0"})),
        (
            "retention.erased",
            "retention",
            json!({"rule": "adult_end_of_care", "basis": "2026-01-01", "due": "2046-01-01",
                   "segments": [H]}),
        ),
        (
            "identity.linked",
            "actor",
            json!({"actor": "su-sam", "issuer": "https://idp.example", "identity": H}),
        ),
        (
            "identity.unlinked",
            "actor",
            json!({"actor": "su-sam", "issuer": "https://idp.example", "identity": H}),
        ),
        (
            "signin.code_issued",
            "actor",
            json!({"actor": "su-sam", "code_digest": H, "expires_at": T}),
        ),
    ]
}

/// Every vocabulary word, so a mutated field often holds a word of another vocabulary.
fn words() -> &'static [&'static str] {
    static WORDS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    WORDS.get_or_init(all_words)
}

fn all_words() -> Vec<&'static str> {
    let mut w: Vec<&'static str> = Vec::new();
    w.extend(Role::ALL.iter().map(|v| v.as_str()));
    w.extend(DeactivationReason::ALL.iter().map(|v| v.as_str()));
    w.extend(ReferralSource::ALL.iter().map(|v| v.as_str()));
    w.extend(EndReason::ALL.iter().map(|v| v.as_str()));
    w.extend(MeetingKind::ALL.iter().map(|v| v.as_str()));
    w.extend(MeetingMode::ALL.iter().map(|v| v.as_str()));
    w.extend(Place::ALL.iter().map(|v| v.as_str()));
    w.extend(RedactionReason::ALL.iter().map(|v| v.as_str()));
    w.extend(CloseReason::ALL.iter().map(|v| v.as_str()));
    w.extend(Scope::ALL.iter().map(|v| v.as_str()));
    w.extend(ConcernCategory::ALL.iter().map(|v| v.as_str()));
    w.extend(Urgency::ALL.iter().map(|v| v.as_str()));
    w.extend(ConcernOutcome::ALL.iter().map(|v| v.as_str()));
    w.extend(InformedHow::ALL.iter().map(|v| v.as_str()));
    w.extend(Exemption::ALL.iter().map(|v| v.as_str()));
    w.extend(SarVia::ALL.iter().map(|v| v.as_str()));
    w.extend(DenialReason::ALL.iter().map(|v| v.as_str()));
    w.extend(DiscussionSetting::ALL.iter().map(|v| v.as_str()));
    w.extend(MeetingStatus::ALL.iter().map(|v| v.as_str()));
    w.extend(Party::ALL.iter().map(|v| v.as_str()));
    w.extend(ActivityKind::ALL.iter().map(|v| v.as_str()));
    w.extend(GoalOutcome::ALL.iter().map(|v| v.as_str()));
    w.extend(Relation::ALL.iter().map(|v| v.as_str()));
    w.extend(AuthorityBasis::ALL.iter().map(|v| v.as_str()));
    w.extend(AuthorityScope::ALL.iter().map(|v| v.as_str()));
    w.extend(AuthorityEndReason::ALL.iter().map(|v| v.as_str()));
    w
}

/// A value for a field: an id that exists somewhere, a word, a time, a hash, an edge number,
/// a segment, null, or a container of those.
pub fn value(u: &mut Input<'_>, depth: u32) -> Value {
    let alphabets: [&[&str]; 9] = [
        ACTORS,
        SUPPORTS,
        MEETINGS,
        NOTES,
        PROPOSALS,
        CONSENTS,
        CONCERNS,
        SARS,
        &["s-0", "s-1"],
    ];
    match u.below(if depth > 2 { 12 } else { 15 }) {
        0 | 1 => {
            let a = *u.choose(&alphabets);
            Value::String(u.choose(a).to_string())
        }
        2 => Value::String(u.choose(words()).to_string()),
        3 => Value::String(withus::format::format_millis(
            T0.saturating_add(u.u32() as u64 * 1000)
                .saturating_sub(u32::MAX as u64 * 500),
        )),
        4 => Value::String(
            u.choose(&[
                "9999-12-31T23:59:59.999Z",
                "1970-01-01T00:00:00.000Z",
                "2026-02-30T00:00:00.000Z",
                "2026-11-23T09:00:00Z",
                H,
                "A3F1C0DE00000000000000000000000000000000000000000000000000000001",
                "",
                "support:sp-0",
                "consent:su-sam",
                "concern:k-0",
                "note:n-0",
            ])
            .to_string(),
        ),
        5 => json!(u.number()),
        6 => json!(*u.choose(&[-1i64, i64::MIN])),
        7 => json!(1.5),
        8 => Value::Null,
        9 => Value::Bool(u.bool()),
        10 => Value::String(u.text(8)),
        11 => json!({"id": u.choose(&["s-0", "s-1", "d"]), "commit": H, "chars": u.number()}),
        12 => Value::Array((0..u.below(4)).map(|_| value(u, depth + 1)).collect()),
        13 => {
            let mut m = Map::new();
            for _ in 0..u.below(3) {
                m.insert(
                    u.choose(&["id", "commit", "chars", "x"]).to_string(),
                    value(u, depth + 1),
                );
            }
            Value::Object(m)
        }
        _ => {
            json!([{"id": "s-0", "commit": H, "chars": 1}, {"id": "s-0", "commit": H, "chars": 2}])
        }
    }
}

/// Changes some of `v` in place: replaces values, drops and adds fields, recurses.
pub fn mutate_value(v: &mut Value, u: &mut Input<'_>, depth: u32) {
    match v {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                match u.below(10) {
                    0 | 1 => {
                        if let Some(x) = m.get_mut(&k) {
                            *x = value(u, depth);
                        }
                    }
                    2 => {
                        m.remove(&k);
                    }
                    3 if depth < 4 => {
                        if let Some(x) = m.get_mut(&k) {
                            mutate_value(x, u, depth + 1);
                        }
                    }
                    _ => {}
                }
            }
            if u.chance(1, 10) {
                m.insert(
                    u.choose(&["extra", "id", "seq"]).to_string(),
                    value(u, depth),
                );
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                if u.chance(1, 4) {
                    *x = value(u, depth);
                }
            }
            if u.chance(1, 4) {
                a.push(value(u, depth));
            }
        }
        other => {
            if u.chance(1, 2) {
                *other = value(u, depth);
            }
        }
    }
}
