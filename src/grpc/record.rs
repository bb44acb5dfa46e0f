//! A person's record on the wire: [`RecordView`] (what one reader may see, decided in the
//! permission module and composed by the service) as the typed `withus.v1.Record` of
//! `record.proto`, field by field.
//!
//! Owns: that translation and nothing else. Must not touch: which items a reader sees (the view
//! arrives already scoped and, for content reads, with its text resolved after the read was
//! logged), the store, or any rule.

use super::convert::{optional_timestamp, optional_to_wire, timestamp, to_wire};
use super::pb;
use super::pb::record as rec;
use crate::domain::event::DiscussedWith;
use crate::domain::sar::SarRec;
use crate::domain::support::SupportRec;
use crate::domain::view::*;
use crate::format::to_hex;

/// The wire record of a view.
pub fn record(view: RecordView) -> pb::Record {
    pb::Record {
        subject: view.subject,
        as_of_seq: view.as_of,
        supports: view.supports.into_iter().map(support).collect(),
        meetings: view.meetings.into_iter().map(meeting).collect(),
        notes: view.notes.into_iter().map(note).collect(),
        consents: view.consents.into_iter().map(consent).collect(),
        concerns: view.concerns.into_iter().map(concern).collect(),
        withholdings: view.withholdings.into_iter().map(withholding).collect(),
        withheld_count: view.withheld,
        subject_access_requests: view.sars.into_iter().map(subject_access).collect(),
        discussions: view.discussions.into_iter().map(discussion).collect(),
        statements: view.statements.into_iter().map(statement).collect(),
        goals: view.goals.into_iter().map(goal).collect(),
        authorities: view.authorities.into_iter().map(authority).collect(),
    }
}

fn passage(p: Passage) -> pb::Passage {
    pb::Passage {
        id: p.id,
        commitment: to_hex(&p.commit.0),
        chars: p.chars,
        text: p.text,
        removed: p.removed.map(|r| pb::Removal {
            proposal_id: r.proposal_id,
            agreed_by: r.agreed_by,
            agreed_at: Some(timestamp(r.agreed_at)),
            chars: r.chars,
        }),
        erased_at: optional_timestamp(p.erased_at),
    }
}

fn passages(ps: Vec<Passage>) -> Vec<pb::Passage> {
    ps.into_iter().map(passage).collect()
}

fn support(s: SupportRec) -> rec::Support {
    rec::Support {
        support_id: s.support_id,
        worker: s.worker,
        source: to_wire::<pb::ReferralSource>(s.source),
        status: to_wire::<pb::SupportStatus>(s.status),
        referred_at: Some(timestamp(s.referred_at)),
        referred_by: s.referred_by,
        offered_at: optional_timestamp(s.offered_at),
        accepted_at: optional_timestamp(s.accepted_at),
        on_behalf: s.on_behalf,
        declined_at: optional_timestamp(s.declined_at),
        ended_at: optional_timestamp(s.ended_at),
        ended_by: s.ended_by.unwrap_or_default(),
        end_reason: optional_to_wire::<pb::EndReason>(s.end_reason),
        transfer_to: s.transfer_to.unwrap_or_default(),
        transfer_proposed_by: s.transfer_proposed_by.unwrap_or_default(),
        previous_workers: s
            .previous_workers
            .into_iter()
            .map(|(worker, until)| rec::PreviousWorker {
                worker,
                until: Some(timestamp(until)),
            })
            .collect(),
        version: s.version,
    }
}

fn meeting(m: MeetingView) -> rec::Meeting {
    rec::Meeting {
        meeting_id: m.meeting_id,
        support_id: m.support_id,
        worker: m.worker,
        kind: to_wire::<pb::MeetingKind>(m.kind),
        mode: to_wire::<pb::MeetingMode>(m.mode),
        place: to_wire::<pb::Place>(m.place),
        place_detail: m.place_detail.map(passage),
        place_proposed_by: to_wire::<pb::Party>(m.place_proposed_by),
        place_agreed: m.place_agreed,
        occurred_at: Some(timestamp(m.occurred_at)),
        minutes: m.minutes,
        recorded_at: Some(timestamp(m.recorded_at)),
        status: to_wire::<pb::MeetingStatus>(m.status),
        planned_for: optional_timestamp(m.planned_for),
        cancelled_by: optional_to_wire::<pb::Party>(m.cancelled_by),
        status_at: Some(timestamp(m.status_at)),
        goal_ids: m.goals,
        activities: m
            .activities
            .into_iter()
            .map(|a| rec::Activity {
                kind: to_wire::<pb::ActivityKind>(a.kind),
                detail: a.detail.map(passage),
            })
            .collect(),
        version: m.version,
    }
}

fn note(n: NoteView) -> rec::Note {
    rec::Note {
        note_id: n.note_id,
        meeting_id: n.meeting_id,
        support_id: n.support_id,
        author: n.author,
        drafted_at: Some(timestamp(n.drafted_at)),
        revision: n.revision,
        status: to_wire::<pb::NoteStatus>(n.status),
        person_agreed_revision: n.person_agreed,
        author_agreed_revision: n.author_agreed,
        agreed_revision: n.agreed_revision,
        agreed_at: optional_timestamp(n.agreed_at),
        close_reason: optional_to_wire::<pb::CloseReason>(n.close_reason),
        passages: passages(n.passages),
        proposals: n
            .proposals
            .into_iter()
            .map(|p| rec::Proposal {
                proposal_id: p.proposal_id,
                proposed_by: p.proposed_by,
                segment_ids: p.segments,
                reason: to_wire::<pb::RedactionReason>(p.reason),
                proposed_at: Some(timestamp(p.at)),
                status: to_wire::<pb::ProposalStatus>(p.status),
                decided_by: p.decided_by.unwrap_or_default(),
                decided_at: optional_timestamp(p.decided_at),
                decline_reason: p.decline_reason.map(passage),
            })
            .collect(),
        version: n.version,
    }
}

fn consent(c: ConsentView) -> rec::Consent {
    rec::Consent {
        consent_id: c.consent_id,
        scope: to_wire::<pb::ConsentScope>(c.scope),
        team: c.team.unwrap_or_default(),
        person: c.person.map(passage),
        expires_at: optional_timestamp(c.expires_at),
        on_behalf: c.on_behalf,
        granted_by: c.granted_by,
        granted_at: Some(timestamp(c.granted_at)),
        revoked_at: optional_timestamp(c.revoked_at),
        revoked_by: c.revoked_by.unwrap_or_default(),
        version: c.version,
    }
}

fn concern(c: ConcernView) -> rec::Concern {
    rec::Concern {
        concern_id: c.concern_id,
        raised_by: c.raised_by,
        category: to_wire::<pb::ConcernCategory>(c.category),
        urgency: to_wire::<pb::Urgency>(c.urgency),
        summary: passages(c.summary),
        raised_at: Some(timestamp(c.raised_at)),
        acknowledged_at: optional_timestamp(c.acknowledged_at),
        acknowledged_by: c.acknowledged_by.unwrap_or_default(),
        outcome: optional_to_wire::<pb::ConcernOutcome>(c.outcome),
        outcome_detail: c.outcome_detail.map(passage),
        informed: optional_to_wire::<pb::InformedHow>(c.informed),
        informed_at: optional_timestamp(c.informed_at),
        version: c.version,
    }
}

fn withholding(w: WithholdingView) -> rec::Withholding {
    rec::Withholding {
        target_stream: w.target_stream,
        exemption: to_wire::<pb::Exemption>(w.exemption),
        justification: Some(passage(w.justification)),
        review_by: Some(timestamp(w.review_by)),
        withheld_at: Some(timestamp(w.withheld_at)),
        withheld_by: w.withheld_by,
        released_at: optional_timestamp(w.released_at),
    }
}

fn subject_access(s: SarRec) -> rec::SubjectAccessRequest {
    rec::SubjectAccessRequest {
        sar_id: s.sar_id,
        via: to_wire::<pb::SarVia>(s.via),
        requested_by: s.requested_by,
        requested_at: Some(timestamp(s.requested_at)),
        due_date: s.due_date,
        due_at: Some(timestamp(s.due_at)),
        fulfilled_at: optional_timestamp(s.fulfilled_at),
        fulfilled_by: s.fulfilled_by.unwrap_or_default(),
        bundle_hash: s.bundle_hash.map(|h| to_hex(&h.0)).unwrap_or_default(),
        tree_size: s.tree_size,
        withheld_count: s.withheld,
        version: s.version,
    }
}

fn discussion(d: DiscussionView) -> rec::Discussion {
    rec::Discussion {
        discussion_id: d.discussion_id,
        setting: to_wire::<pb::DiscussionSetting>(d.setting),
        with: Some(match d.with {
            DiscussedWith::Team(team) => rec::discussion::With::WithTeam(team),
            DiscussedWith::Role(role) => rec::discussion::With::WithRole(to_wire::<pb::Role>(role)),
        }),
        held_at: Some(timestamp(d.held_at)),
        basis: d.basis,
        summary: passages(d.summary),
        recorded_by: d.recorded_by,
        recorded_at: Some(timestamp(d.recorded_at)),
        basis_lapsed_at: optional_timestamp(d.basis_lapsed_at),
        version: d.version,
    }
}

fn statement(s: StatementView) -> rec::Statement {
    rec::Statement {
        statement_id: s.statement_id,
        target_stream: s.target_stream,
        segments: passages(s.segments),
        added_by: s.added_by,
        added_at: Some(timestamp(s.added_at)),
        version: s.version,
    }
}

fn goal(g: GoalView) -> rec::Goal {
    rec::Goal {
        goal_id: g.goal_id,
        support_id: g.support_id,
        words: passages(g.words),
        co_produced: g.co_produced,
        on_behalf: g.on_behalf,
        set_by: g.set_by,
        set_at: Some(timestamp(g.set_at)),
        reviews: g
            .reviews
            .into_iter()
            .map(|r| rec::GoalReview {
                words: passages(r.words),
                on_behalf: r.on_behalf,
                by: r.by,
                at: Some(timestamp(r.at)),
            })
            .collect(),
        closed: g.closed.map(|c| rec::GoalClosed {
            outcome: to_wire::<pb::GoalOutcome>(c.outcome),
            words: passages(c.words),
            on_behalf: c.on_behalf,
            by: c.by,
            at: Some(timestamp(c.at)),
        }),
        version: g.version,
    }
}

fn authority(a: AuthorityView) -> rec::Authority {
    rec::Authority {
        authority_id: a.authority_id,
        representative: a.representative,
        relation: to_wire::<pb::Relation>(a.relation),
        basis: to_wire::<pb::AuthorityBasis>(a.basis),
        scope: a
            .scope
            .into_iter()
            .map(to_wire::<pb::AuthorityScope>)
            .collect(),
        expires_at: optional_timestamp(a.expires_at),
        evidence: a.evidence.map(passage),
        granted_by: a.granted_by,
        granted_at: Some(timestamp(a.granted_at)),
        ended_at: optional_timestamp(a.ended_at),
        ended_by: a.ended_by.unwrap_or_default(),
        end_reason: optional_to_wire::<pb::AuthorityEndReason>(a.end_reason),
        version: a.version,
    }
}
