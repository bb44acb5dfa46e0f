//! Given / when / then: every rule of domain.md and every refusal, through the command service
//! on a real store. A refusal must name its rule and field and leave the log unchanged.

mod common;

use common::world::World;
use withus::domain::event::Grantee;
use withus::domain::types::*;
use withus::domain::{Code, Command};
use withus::service::ServiceError;

/// Then: refused with this code, rule and field, and nothing appended.
async fn refused(w: &World, caller: &str, cmd: Command, code: Code, rule: &str, field: &str) {
    let size = w.size();
    let what = format!("{caller} {cmd:?}");
    match w.run(caller, cmd).await {
        Err(ServiceError::Refused(r)) => {
            assert_eq!(
                (r.code, r.rule, r.field.as_str()),
                (code, rule, field),
                "{what}: {r}"
            );
            assert!(!r.message.is_empty());
        }
        other => panic!("{what}: expected a refusal, got {other:?}"),
    }
    assert_eq!(w.size(), size, "{what}: a refusal appends nothing");
}

fn team(t: &str) -> Option<Grantee<Passage>> {
    Some(Grantee::Team(t.into()))
}

/// Given: Sam has accepted support sp-1 with Amara, a meeting m-1 and a draft note n-1 (s1, s2).
async fn with_note() -> World {
    let w = World::new().await;
    w.accepted_support("sp-1", "su-sam", "pw-amara").await;
    w.meeting("m-1", "sp-1", "pw-amara").await;
    w.draft("n-1", "m-1", "pw-amara", &[("s1", "one"), ("s2", "two")])
        .await;
    w
}

fn refer(id: &str, subject: &str, worker: &str) -> Command {
    Command::ReferSupport {
        support_id: id.into(),
        subject: subject.into(),
        worker: worker.into(),
        source: ReferralSource::CareTeam,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_and_tokens_are_an_admins_business() {
    let w = World::new().await;
    let d = Passage::new("display", "X");
    refused(
        &w,
        "pw-amara",
        Command::RegisterActor {
            id: "x".into(),
            role: Role::Auditor,
            team: None,
            display: d.clone(),
        },
        Code::PermissionDenied,
        "role",
        "caller",
    )
    .await;
    let d = Passage::new("display", "X");
    refused(
        &w,
        "admin",
        Command::RegisterActor {
            id: "su-sam".into(),
            role: Role::ServiceUser,
            team: None,
            display: d.clone(),
        },
        Code::AlreadyExists,
        "unique_id",
        "id",
    )
    .await;
    let d = Passage::new("display", "X");
    refused(
        &w,
        "admin",
        Command::RegisterActor {
            id: "pw-new".into(),
            role: Role::PeerWorker,
            team: None,
            display: d.clone(),
        },
        Code::InvalidArgument,
        "actor.team",
        "team",
    )
    .await;
    let d = Passage::new("display", "X");
    refused(
        &w,
        "admin",
        Command::RegisterActor {
            id: "has space".into(),
            role: Role::Auditor,
            team: None,
            display: d,
        },
        Code::InvalidArgument,
        "identifier",
        "id",
    )
    .await;
    refused(
        &w,
        "admin",
        Command::DeactivateActor {
            id: "admin".into(),
            reason: DeactivationReason::Other,
        },
        Code::FailedPrecondition,
        "actor.self",
        "id",
    )
    .await;
    refused(
        &w,
        "admin",
        Command::DeactivateActor {
            id: "nobody".into(),
            reason: DeactivationReason::Other,
        },
        Code::NotFound,
        "exists",
        "id",
    )
    .await;
    refused(
        &w,
        "admin",
        Command::IssueToken {
            actor: "su-sam".into(),
            token_hash: [1; 32],
            expires_at: Some(w.now()),
        },
        Code::InvalidArgument,
        "time.future",
        "expires_at",
    )
    .await;
    refused(
        &w,
        "admin",
        Command::RevokeToken {
            token_hash: [9; 32],
        },
        Code::NotFound,
        "exists",
        "token_hash",
    )
    .await;

    // Tokens: issued, authenticate, revoked, refused.
    let (token, _) = w
        .svc
        .issue_token("admin", w.call(), "su-sam", Some(w.now().plus(Time::DAY)))
        .await
        .unwrap();
    assert_eq!(w.svc.authenticate(&token).await.unwrap().id, "su-sam");
    assert!(matches!(
        w.svc.authenticate("not-a-token").await,
        Err(ServiceError::Unauthenticated(_))
    ));
    w.advance(Time::DAY);
    assert!(
        matches!(
            w.svc.authenticate(&token).await,
            Err(ServiceError::Unauthenticated(_))
        ),
        "expired"
    );
    let (token, _) = w
        .svc
        .issue_token("admin", w.call(), "pw-amara", None)
        .await
        .unwrap();
    let hash = *blake3::hash(token.as_bytes()).as_bytes();
    w.ok("admin", Command::RevokeToken { token_hash: hash })
        .await;
    assert!(
        matches!(
            w.svc.authenticate(&token).await,
            Err(ServiceError::Unauthenticated(_))
        ),
        "revoked"
    );
    refused(
        &w,
        "admin",
        Command::RevokeToken { token_hash: hash },
        Code::FailedPrecondition,
        "token.revoked",
        "token_hash",
    )
    .await;
    // The token is never in the log, only its hash.
    let all: Vec<u8> = w
        .svc
        .store()
        .entries(0, w.size())
        .flat_map(|e| e.unwrap().bytes)
        .collect();
    assert!(!String::from_utf8_lossy(&all).contains(&token));

    // A deactivated actor can do nothing.
    w.ok(
        "admin",
        Command::DeactivateActor {
            id: "pw-ben".into(),
            reason: DeactivationReason::LeftOrganisation,
        },
    )
    .await;
    let size = w.size();
    assert!(matches!(
        w.run("pw-ben", refer("sp-9", "su-sam", "pw-amara")).await,
        Err(ServiceError::Unauthenticated(_))
    ));
    assert!(matches!(
        w.run("nobody", refer("sp-9", "su-sam", "pw-amara")).await,
        Err(ServiceError::Unauthenticated(_))
    ));
    assert_eq!(w.size(), size);
    // Bootstrapping again does nothing.
    assert!(w
        .svc
        .bootstrap_admin("admin2", "Second")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_support_is_opt_in() {
    let w = World::new().await;
    refused(
        &w,
        "su-sam",
        refer("sp-1", "su-ola", "pw-amara"),
        Code::PermissionDenied,
        "own_record",
        "caller",
    )
    .await;
    refused(
        &w,
        "su-sam",
        refer("sp-1", "su-sam", "pw-amara"),
        Code::InvalidArgument,
        "support.self_referral",
        "source",
    )
    .await;
    refused(
        &w,
        "au-ida",
        refer("sp-1", "su-sam", "pw-amara"),
        Code::PermissionDenied,
        "role",
        "caller",
    )
    .await;
    refused(
        &w,
        "ct-cho",
        refer("sp-1", "pw-ben", "pw-amara"),
        Code::InvalidArgument,
        "subject.role",
        "subject",
    )
    .await;
    refused(
        &w,
        "ct-cho",
        refer("sp-1", "su-sam", "ct-dev"),
        Code::InvalidArgument,
        "support.worker",
        "worker",
    )
    .await;
    refused(
        &w,
        "ct-cho",
        refer("sp-1", "nobody", "pw-amara"),
        Code::NotFound,
        "exists",
        "subject",
    )
    .await;
    w.ok("ct-cho", refer("sp-1", "su-sam", "pw-amara")).await;
    refused(
        &w,
        "ct-cho",
        refer("sp-1", "su-ola", "pw-amara"),
        Code::AlreadyExists,
        "unique_id",
        "support_id",
    )
    .await;
    refused(
        &w,
        "ct-cho",
        refer("sp-2", "su-sam", "pw-amara"),
        Code::FailedPrecondition,
        "support.one_open",
        "worker",
    )
    .await;
    // Only the named worker offers; the person chooses; nobody else can choose for them.
    refused(
        &w,
        "pw-ben",
        Command::OfferSupport {
            support_id: "sp-1".into(),
        },
        Code::PermissionDenied,
        "no_basis",
        "support_id",
    )
    .await;
    refused(
        &w,
        "su-sam",
        Command::AcceptSupport {
            support_id: "sp-1".into(),
        },
        Code::FailedPrecondition,
        "support.state",
        "support_id",
    )
    .await;
    w.ok(
        "pw-amara",
        Command::OfferSupport {
            support_id: "sp-1".into(),
        },
    )
    .await;
    refused(
        &w,
        "ct-cho",
        Command::AcceptSupport {
            support_id: "sp-1".into(),
        },
        Code::PermissionDenied,
        "no_basis",
        "support_id",
    )
    .await;
    refused(
        &w,
        "su-ola",
        Command::AcceptSupport {
            support_id: "sp-1".into(),
        },
        Code::PermissionDenied,
        "no_basis",
        "support_id",
    )
    .await;
    // Nothing can be recorded before the person accepts.
    refused(
        &w,
        "pw-amara",
        Command::RecordMeeting {
            meeting_id: "m-1".into(),
            support_id: "sp-1".into(),
            kind: MeetingKind::OneToOne,
            group_id: None,
            goals: vec![],
            activities: vec![],
            mode: MeetingMode::Phone,
            place: Place::Online,
            place_detail: None,
            occurred_at: w.now(),
            minutes: 30,
        },
        Code::FailedPrecondition,
        "support.accepted",
        "support_id",
    )
    .await;
    w.ok(
        "su-sam",
        Command::DeclineSupport {
            support_id: "sp-1".into(),
        },
    )
    .await;
    refused(
        &w,
        "su-sam",
        Command::AcceptSupport {
            support_id: "sp-1".into(),
        },
        Code::FailedPrecondition,
        "support.state",
        "support_id",
    )
    .await;
    refused(
        &w,
        "pw-amara",
        Command::EndSupport {
            support_id: "sp-1".into(),
            reason: EndReason::Other,
        },
        Code::FailedPrecondition,
        "support.state",
        "support_id",
    )
    .await;
    // A worker may record the person's choice given in person (on_behalf).
    w.ok("ct-cho", refer("sp-2", "su-sam", "pw-amara")).await;
    w.ok(
        "pw-amara",
        Command::OfferSupport {
            support_id: "sp-2".into(),
        },
    )
    .await;
    w.ok(
        "pw-amara",
        Command::AcceptSupport {
            support_id: "sp-2".into(),
        },
    )
    .await;
    assert!(w.svc.projections().unwrap().supports["sp-2"].on_behalf);
    refused(
        &w,
        "pw-ben",
        Command::EndSupport {
            support_id: "sp-2".into(),
            reason: EndReason::Other,
        },
        Code::PermissionDenied,
        "no_basis",
        "support_id",
    )
    .await;
    w.ok(
        "su-sam",
        Command::EndSupport {
            support_id: "sp-2".into(),
            reason: EndReason::PersonChose,
        },
    )
    .await;
    // Ended: the worker no longer reads the record.
    assert!(matches!(
        w.svc.read_record("pw-amara", "su-sam", None).await,
        Err(ServiceError::AccessDenied {
            reason: DenialReason::NoSupportRelationship,
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meetings_are_recorded_by_the_worker_of_an_accepted_relationship() {
    let w = World::new().await;
    w.accepted_support("sp-1", "su-sam", "pw-amara").await;
    let m = |id: &str, kind, group: Option<&str>, at: Time, minutes| Command::RecordMeeting {
        meeting_id: id.into(),
        support_id: "sp-1".into(),
        kind,
        group_id: group.map(Into::into),
        goals: vec![],
        activities: vec![],
        mode: MeetingMode::InPerson,
        place: Place::Home,
        place_detail: None,
        occurred_at: at,
        minutes,
    };
    refused(
        &w,
        "pw-ben",
        m("m-1", MeetingKind::OneToOne, None, w.now(), 30),
        Code::PermissionDenied,
        "no_basis",
        "support_id",
    )
    .await;
    refused(
        &w,
        "pw-amara",
        m("m-1", MeetingKind::Group, None, w.now(), 30),
        Code::InvalidArgument,
        "meeting.group",
        "group_id",
    )
    .await;
    refused(
        &w,
        "pw-amara",
        m("m-1", MeetingKind::OneToOne, Some("g"), w.now(), 30),
        Code::InvalidArgument,
        "meeting.group",
        "group_id",
    )
    .await;
    refused(
        &w,
        "pw-amara",
        m("m-1", MeetingKind::OneToOne, None, w.now().plus(1), 30),
        Code::InvalidArgument,
        "meeting.past",
        "occurred_at",
    )
    .await;
    refused(
        &w,
        "pw-amara",
        m("m-1", MeetingKind::OneToOne, None, w.now(), 0),
        Code::InvalidArgument,
        "meeting.minutes",
        "minutes",
    )
    .await;
    refused(
        &w,
        "pw-amara",
        m("m-1", MeetingKind::OneToOne, None, w.now(), 24 * 60 + 1),
        Code::InvalidArgument,
        "meeting.minutes",
        "minutes",
    )
    .await;
    refused(
        &w,
        "pw-amara",
        Command::RecordMeeting {
            meeting_id: "m-1".into(),
            support_id: "sp-x".into(),
            kind: MeetingKind::OneToOne,
            group_id: None,
            goals: vec![],
            activities: vec![],
            mode: MeetingMode::InPerson,
            place: Place::Home,
            place_detail: None,
            occurred_at: w.now(),
            minutes: 3,
        },
        Code::PermissionDenied,
        "no_basis",
        "support_id",
    )
    .await;
    // A group session: the group must exist, and the caller facilitate it.
    refused(
        &w,
        "pw-amara",
        m("m-1", MeetingKind::Group, Some("g-1"), w.now(), 90),
        Code::NotFound,
        "exists",
        "group_id",
    )
    .await;
    w.ok(
        "admin",
        Command::FormGroup {
            group_id: "g-1".into(),
            name: Passage::new("name", "the Tuesday walking group"),
            facilitators: vec!["pw-amara".into()],
        },
    )
    .await;
    w.ok(
        "pw-amara",
        m("m-1", MeetingKind::Group, Some("g-1"), w.now(), 90),
    )
    .await;
    refused(
        &w,
        "pw-amara",
        m("m-1", MeetingKind::OneToOne, None, w.now(), 30),
        Code::AlreadyExists,
        "unique_id",
        "meeting_id",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_are_drafted_by_the_worker_and_revised_by_either_party() {
    let w = with_note().await;
    let segs = |ids: &[&str]| {
        ids.iter()
            .map(|i| Passage::new(*i, format!("text {i}")))
            .collect::<Vec<_>>()
    };
    let s = segs(&["a"]);
    refused(
        &w,
        "pw-ben",
        Command::DraftNote {
            note_id: "n-2".into(),
            meeting_id: "m-1".into(),
            segments: s,
        },
        Code::PermissionDenied,
        "no_basis",
        "meeting_id",
    )
    .await;
    let s = segs(&["a"]);
    refused(
        &w,
        "pw-amara",
        Command::DraftNote {
            note_id: "n-1".into(),
            meeting_id: "m-1".into(),
            segments: s,
        },
        Code::AlreadyExists,
        "unique_id",
        "note_id",
    )
    .await;
    refused(
        &w,
        "pw-amara",
        Command::DraftNote {
            note_id: "n-2".into(),
            meeting_id: "m-1".into(),
            segments: vec![],
        },
        Code::InvalidArgument,
        "segments",
        "segments",
    )
    .await;
    let s = segs(&["a", "a"]);
    refused(
        &w,
        "pw-amara",
        Command::DraftNote {
            note_id: "n-2".into(),
            meeting_id: "m-1".into(),
            segments: s,
        },
        Code::InvalidArgument,
        "segments",
        "segments[1].id",
    )
    .await;
    let ids: Vec<String> = (0..65).map(|i| format!("s{i}")).collect();
    let s = segs(&ids.iter().map(String::as_str).collect::<Vec<_>>());
    refused(
        &w,
        "pw-amara",
        Command::DraftNote {
            note_id: "n-2".into(),
            meeting_id: "m-1".into(),
            segments: s,
        },
        Code::ResourceExhausted,
        "segments",
        "segments",
    )
    .await;
    let s = segs(&["a"]);
    refused(
        &w,
        "pw-amara",
        Command::DraftNote {
            note_id: "n-2".into(),
            meeting_id: "m-x".into(),
            segments: s,
        },
        Code::PermissionDenied,
        "no_basis",
        "meeting_id",
    )
    .await;
    // Someone outside the note cannot revise it; the person can (co-production).
    let s = segs(&["s1", "s3"]);
    refused(
        &w,
        "su-ola",
        Command::ReviseNote {
            note_id: "n-1".into(),
            segments: s,
        },
        Code::PermissionDenied,
        "no_basis",
        "note_id",
    )
    .await;
    let s = segs(&["s1", "s3"]);
    w.ok(
        "su-sam",
        Command::ReviseNote {
            note_id: "n-1".into(),
            segments: s,
        },
    )
    .await;
    assert_eq!(w.svc.projections().unwrap().notes["n-1"].revision, 2);
    // Text is limited per segment, and refused before anything is stored.
    refused(
        &w,
        "su-sam",
        Command::ReviseNote {
            note_id: "n-1".into(),
            segments: vec![Passage::new("big", "x".repeat(64 * 1024 + 1))],
        },
        Code::ResourceExhausted,
        "segments",
        "segments[0].text",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_4_redaction_needs_the_other_party_and_a_worker_declines_only_with_a_reason() {
    let w = with_note().await;
    let propose = |id: &str, segs: &[&str]| Command::ProposeRedaction {
        note_id: "n-1".into(),
        proposal_id: id.into(),
        segments: segs.iter().map(|s| s.to_string()).collect(),
        reason: RedactionReason::NotWanted,
    };
    refused(
        &w,
        "su-ola",
        propose("r-1", &["s2"]),
        Code::PermissionDenied,
        "no_basis",
        "note_id",
    )
    .await;
    refused(
        &w,
        "su-sam",
        propose("r-1", &[]),
        Code::InvalidArgument,
        "redaction.segments",
        "segments",
    )
    .await;
    refused(
        &w,
        "su-sam",
        propose("r-1", &["s9"]),
        Code::NotFound,
        "exists",
        "segments[0]",
    )
    .await;
    refused(
        &w,
        "su-sam",
        propose("r-1", &["s2", "s2"]),
        Code::InvalidArgument,
        "redaction.segments",
        "segments[1]",
    )
    .await;
    w.ok("su-sam", propose("r-1", &["s2"])).await;
    refused(
        &w,
        "su-sam",
        propose("r-1", &["s1"]),
        Code::AlreadyExists,
        "unique_id",
        "proposal_id",
    )
    .await;
    refused(
        &w,
        "pw-amara",
        propose("r-2", &["s2"]),
        Code::FailedPrecondition,
        "redaction.one_pending",
        "segments[0]",
    )
    .await;
    // The proposer cannot agree their own proposal.
    refused(
        &w,
        "su-sam",
        Command::AgreeRedaction {
            note_id: "n-1".into(),
            proposal_id: "r-1".into(),
        },
        Code::PermissionDenied,
        "redaction.other_party",
        "caller",
    )
    .await;
    // A worker declining a person's proposal must give a written reason.
    refused(
        &w,
        "pw-amara",
        Command::DeclineRedaction {
            note_id: "n-1".into(),
            proposal_id: "r-1".into(),
            reason: None,
        },
        Code::InvalidArgument,
        "redaction.decline_reason",
        "reason",
    )
    .await;
    // Agreement on the note waits for pending proposals.
    refused(
        &w,
        "su-sam",
        Command::AgreeNote {
            note_id: "n-1".into(),
            revision: 1,
        },
        Code::FailedPrecondition,
        "note.no_pending_redaction",
        "note_id",
    )
    .await;
    let why = Passage::new(
        "why",
        "We need this to plan the support together; can we reword it?",
    );
    w.ok(
        "pw-amara",
        Command::DeclineRedaction {
            note_id: "n-1".into(),
            proposal_id: "r-1".into(),
            reason: Some(why),
        },
    )
    .await;
    // The person sees the reason.
    let mine = w
        .svc
        .read_record("su-sam", "su-sam", None)
        .await
        .unwrap()
        .view;
    assert!(mine.notes[0].proposals[0]
        .decline_reason
        .as_ref()
        .unwrap()
        .text
        .as_deref()
        .unwrap()
        .contains("reword"));
    refused(
        &w,
        "pw-amara",
        Command::AgreeRedaction {
            note_id: "n-1".into(),
            proposal_id: "r-1".into(),
        },
        Code::FailedPrecondition,
        "redaction.pending",
        "proposal_id",
    )
    .await;
    // A worker's proposal: the person may decline without a reason; only the proposer withdraws.
    w.ok("pw-amara", propose("r-2", &["s1"])).await;
    refused(
        &w,
        "su-sam",
        Command::WithdrawRedaction {
            note_id: "n-1".into(),
            proposal_id: "r-2".into(),
        },
        Code::PermissionDenied,
        "redaction.proposer",
        "caller",
    )
    .await;
    w.ok(
        "pw-amara",
        Command::WithdrawRedaction {
            note_id: "n-1".into(),
            proposal_id: "r-2".into(),
        },
    )
    .await;
    w.ok("pw-amara", propose("r-3", &["s1"])).await;
    w.ok(
        "su-sam",
        Command::DeclineRedaction {
            note_id: "n-1".into(),
            proposal_id: "r-3".into(),
            reason: None,
        },
    )
    .await;
    // Agreed: erased from every revision that held it, and it cannot be put back.
    let p = w.svc.projections().unwrap();
    let s2 = p.notes["n-1"].revisions[0].segments[1].clone();
    let s1 = Passage::new("s1", "one");
    let s2b = Passage::new("s2", "two, reworded");
    w.ok(
        "pw-amara",
        Command::ReviseNote {
            note_id: "n-1".into(),
            segments: vec![s1.clone(), s2b.clone()],
        },
    )
    .await;
    let s2b = w.svc.projections().unwrap().notes["n-1"].revisions[1].segments[1].clone();
    w.ok("su-sam", propose("r-4", &["s2"])).await;
    w.ok(
        "pw-amara",
        Command::AgreeRedaction {
            note_id: "n-1".into(),
            proposal_id: "r-4".into(),
        },
    )
    .await;
    assert_eq!(
        w.svc.store().content(&s2.commit.0).unwrap(),
        None,
        "revision 1's s2 erased"
    );
    assert_eq!(
        w.svc.store().content(&s2b.commit.0).unwrap(),
        None,
        "revision 2's s2 erased"
    );
    refused(
        &w,
        "su-sam",
        propose("r-5", &["s2"]),
        Code::FailedPrecondition,
        "redaction.once",
        "segments[0]",
    )
    .await;
    let back = Passage::new("s2", "two");
    refused(
        &w,
        "pw-amara",
        Command::ReviseNote {
            note_id: "n-1".into(),
            segments: vec![s1, back],
        },
        Code::FailedPrecondition,
        "redaction.stays_removed",
        "segments[1]",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_5_a_note_is_agreed_by_both_on_its_latest_revision() {
    let w = with_note().await;
    refused(
        &w,
        "su-sam",
        Command::AgreeNote {
            note_id: "n-1".into(),
            revision: 2,
        },
        Code::FailedPrecondition,
        "note.latest_revision",
        "revision",
    )
    .await;
    refused(
        &w,
        "pw-ben",
        Command::AgreeNote {
            note_id: "n-1".into(),
            revision: 1,
        },
        Code::PermissionDenied,
        "no_basis",
        "note_id",
    )
    .await;
    refused(
        &w,
        "su-sam",
        Command::AgreeNote {
            note_id: "n-9".into(),
            revision: 1,
        },
        Code::PermissionDenied,
        "no_basis",
        "note_id",
    )
    .await;
    w.ok(
        "su-sam",
        Command::AgreeNote {
            note_id: "n-1".into(),
            revision: 1,
        },
    )
    .await;
    refused(
        &w,
        "su-sam",
        Command::AgreeNote {
            note_id: "n-1".into(),
            revision: 1,
        },
        Code::FailedPrecondition,
        "note.agreed_once",
        "revision",
    )
    .await;
    // A new revision clears earlier agreement.
    let s = vec![Passage::new("s1", "one, changed")];
    w.ok(
        "pw-amara",
        Command::ReviseNote {
            note_id: "n-1".into(),
            segments: s,
        },
    )
    .await;
    let n = &w.svc.projections().unwrap().notes["n-1"];
    assert_eq!((n.person_agreed, n.author_agreed), (None, None));
    refused(
        &w,
        "pw-amara",
        Command::AgreeNote {
            note_id: "n-1".into(),
            revision: 1,
        },
        Code::FailedPrecondition,
        "note.latest_revision",
        "revision",
    )
    .await;
    // Addenda only after agreement, and they are agreed the same way.
    let s = vec![Passage::new("a1", "added later")];
    refused(
        &w,
        "pw-amara",
        Command::AddAddendum {
            note_id: "n-1".into(),
            segments: s,
        },
        Code::FailedPrecondition,
        "note.addendum_after_agreement",
        "note_id",
    )
    .await;
    w.ok(
        "pw-amara",
        Command::AgreeNote {
            note_id: "n-1".into(),
            revision: 2,
        },
    )
    .await;
    w.ok(
        "su-sam",
        Command::AgreeNote {
            note_id: "n-1".into(),
            revision: 2,
        },
    )
    .await;
    let s = vec![Passage::new("a1", "added later")];
    w.ok(
        "su-sam",
        Command::AddAddendum {
            note_id: "n-1".into(),
            segments: s,
        },
    )
    .await;
    let n = &w.svc.projections().unwrap().notes["n-1"];
    assert_eq!((n.revision, n.agreed_revision), (3, Some(2)));
    let s = vec![Passage::new("a1", "again")];
    refused(
        &w,
        "su-sam",
        Command::ReviseNote {
            note_id: "n-1".into(),
            segments: s,
        },
        Code::FailedPrecondition,
        "note.open",
        "note_id",
    )
    .await;
    refused(
        &w,
        "pw-amara",
        Command::CloseNote {
            note_id: "n-1".into(),
            reason: CloseReason::Other,
        },
        Code::FailedPrecondition,
        "note.open",
        "note_id",
    )
    .await;
    w.ok(
        "pw-amara",
        Command::AgreeNote {
            note_id: "n-1".into(),
            revision: 3,
        },
    )
    .await;
    w.ok(
        "su-sam",
        Command::AgreeNote {
            note_id: "n-1".into(),
            revision: 3,
        },
    )
    .await;
    let s = vec![Passage::new("a1", "dup id")];
    refused(
        &w,
        "su-sam",
        Command::AddAddendum {
            note_id: "n-1".into(),
            segments: s,
        },
        Code::AlreadyExists,
        "segments",
        "segments[0].id",
    )
    .await;
    // Closing without agreement is the author's, on a note never agreed.
    w.draft("n-2", "m-1", "pw-amara", &[("s1", "x")]).await;
    refused(
        &w,
        "su-sam",
        Command::CloseNote {
            note_id: "n-2".into(),
            reason: CloseReason::Other,
        },
        Code::PermissionDenied,
        "note.author",
        "caller",
    )
    .await;
    w.ok(
        "pw-amara",
        Command::CloseNote {
            note_id: "n-2".into(),
            reason: CloseReason::PersonUnavailable,
        },
    )
    .await;
    refused(
        &w,
        "su-sam",
        Command::AgreeNote {
            note_id: "n-2".into(),
            revision: 1,
        },
        Code::FailedPrecondition,
        "note.open",
        "note_id",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_6_consent_is_the_persons_to_give_and_take_back() {
    let w = World::new().await;
    let grant = |id: &str, scope, grantee: Option<Grantee<Passage>>, exp: Option<Time>| {
        Command::GrantConsent {
            subject: "su-sam".into(),
            consent_id: id.into(),
            scope,
            grantee,
            expires_at: exp,
        }
    };
    refused(
        &w,
        "su-ola",
        grant("c-1", Scope::ShareWithCareTeam, team("cmht-north"), None),
        Code::PermissionDenied,
        "own_record",
        "caller",
    )
    .await;
    refused(
        &w,
        "ct-cho",
        grant("c-1", Scope::ShareWithCareTeam, team("cmht-north"), None),
        Code::PermissionDenied,
        "role",
        "caller",
    )
    .await;
    refused(
        &w,
        "pw-amara",
        grant("c-1", Scope::ShareWithCareTeam, team("cmht-north"), None),
        Code::PermissionDenied,
        "support.accepted",
        "caller",
    )
    .await;
    refused(
        &w,
        "su-sam",
        grant("c-1", Scope::ShareWithCareTeam, None, None),
        Code::InvalidArgument,
        "consent.grantee",
        "grantee",
    )
    .await;
    refused(
        &w,
        "su-sam",
        grant("c-1", Scope::ShareWithGp, team("x"), None),
        Code::InvalidArgument,
        "consent.grantee",
        "grantee",
    )
    .await;
    refused(
        &w,
        "su-sam",
        grant("c-1", Scope::ShareWithPerson, team("x"), None),
        Code::InvalidArgument,
        "consent.grantee",
        "grantee",
    )
    .await;
    refused(
        &w,
        "su-sam",
        grant(
            "c-1",
            Scope::ShareWithCareTeam,
            team("cmht-north"),
            Some(w.now()),
        ),
        Code::InvalidArgument,
        "time.future",
        "expires_at",
    )
    .await;
    w.ok(
        "su-sam",
        grant("c-1", Scope::DiscussInSupervision, None, None),
    )
    .await;
    refused(
        &w,
        "su-sam",
        grant("c-1", Scope::ShareWithGp, None, None),
        Code::AlreadyExists,
        "unique_id",
        "consent_id",
    )
    .await;
    // Given in person to their worker, recorded on their behalf.
    w.accepted_support("sp-1", "su-sam", "pw-amara").await;
    w.ok(
        "pw-amara",
        grant("c-2", Scope::ShareWithCareTeam, team("cmht-north"), None),
    )
    .await;
    let p = w.svc.projections().unwrap();
    assert!(p.consents["su-sam"].consents["c-2"].on_behalf);
    refused(
        &w,
        "su-sam",
        Command::RevokeConsent {
            subject: "su-sam".into(),
            consent_id: "c-9".into(),
        },
        Code::NotFound,
        "exists",
        "consent_id",
    )
    .await;
    w.ok(
        "su-sam",
        Command::RevokeConsent {
            subject: "su-sam".into(),
            consent_id: "c-2".into(),
        },
    )
    .await;
    refused(
        &w,
        "su-sam",
        Command::RevokeConsent {
            subject: "su-sam".into(),
            consent_id: "c-2".into(),
        },
        Code::FailedPrecondition,
        "consent.revoked",
        "consent_id",
    )
    .await;
    // A consent to share with supervision does not open the record to a care team.
    assert!(matches!(
        w.svc.read_record("ct-cho", "su-sam", None).await,
        Err(ServiceError::AccessDenied {
            reason: DenialReason::NoConsent,
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_7_safeguarding_is_the_leads_and_withholding_is_reviewed() {
    let w = World::new().await;
    let raise = |id: &str| Command::RaiseConcern {
        concern_id: id.into(),
        subject: "su-sam".into(),
        category: ConcernCategory::SelfNeglect,
        urgency: Urgency::Routine,
        summary: vec![Passage::new("k", "summary")],
    };
    let c = raise("k-1");
    refused(
        &w,
        "pw-amara",
        c,
        Code::PermissionDenied,
        "support.accepted",
        "caller",
    )
    .await;
    let c = raise("k-1");
    refused(&w, "ct-cho", c, Code::PermissionDenied, "role", "caller").await;
    w.accepted_support("sp-1", "su-sam", "pw-amara").await;
    let c = raise("k-1");
    w.ok("pw-amara", c).await;
    // A duty of care outlives the relationship.
    w.ok(
        "su-sam",
        Command::EndSupport {
            support_id: "sp-1".into(),
            reason: EndReason::PersonChose,
        },
    )
    .await;
    let c = raise("k-2");
    w.ok("pw-amara", c).await;
    refused(
        &w,
        "pw-amara",
        Command::AcknowledgeConcern {
            concern_id: "k-1".into(),
        },
        Code::PermissionDenied,
        "role",
        "caller",
    )
    .await;
    let d = Passage::new("d", "detail");
    refused(
        &w,
        "sg-lee",
        Command::RecordOutcome {
            concern_id: "k-1".into(),
            outcome: ConcernOutcome::AdviceGiven,
            detail: d,
        },
        Code::FailedPrecondition,
        "concern.acknowledged_first",
        "concern_id",
    )
    .await;
    w.ok(
        "sg-lee",
        Command::AcknowledgeConcern {
            concern_id: "k-1".into(),
        },
    )
    .await;
    refused(
        &w,
        "sg-lee",
        Command::AcknowledgeConcern {
            concern_id: "k-1".into(),
        },
        Code::FailedPrecondition,
        "concern.acknowledged_once",
        "concern_id",
    )
    .await;
    refused(
        &w,
        "sg-lee",
        Command::AcknowledgeConcern {
            concern_id: "k-9".into(),
        },
        Code::NotFound,
        "exists",
        "concern_id",
    )
    .await;
    let d = Passage::new("d", "detail");
    w.ok(
        "sg-lee",
        Command::RecordOutcome {
            concern_id: "k-1".into(),
            outcome: ConcernOutcome::AdviceGiven,
            detail: d,
        },
    )
    .await;
    w.ok(
        "sg-lee",
        Command::InformSubject {
            concern_id: "k-1".into(),
            how: InformedHow::InPerson,
        },
    )
    .await;

    let withhold = |target: &str, review: Time| Command::Withhold {
        subject: "su-sam".into(),
        target_stream: target.into(),
        exemption: Exemption::SeriousHarm,
        justification: Passage::new("j", "why"),
        review_by: review,
    };
    let later = w.now().plus(Time::DAY);
    for (caller, target, review, code, rule, field) in [
        (
            "pw-amara",
            "concern:k-1",
            later,
            Code::PermissionDenied,
            "role",
            "caller",
        ),
        (
            "sg-lee",
            "support:sp-1",
            later,
            Code::InvalidArgument,
            "disclosure.target",
            "target_stream",
        ),
        (
            "sg-lee",
            "concern:k-9",
            later,
            Code::NotFound,
            "exists",
            "target_stream",
        ),
        (
            "sg-lee",
            "concern:k-1",
            w.now(),
            Code::InvalidArgument,
            "time.future",
            "review_by",
        ),
        (
            "sg-lee",
            "concern:k-1",
            w.now().plus(400 * Time::DAY),
            Code::InvalidArgument,
            "disclosure.review",
            "review_by",
        ),
    ] {
        let c = withhold(target, review);
        refused(&w, caller, c, code, rule, field).await;
    }
    let c = withhold("concern:k-1", later);
    w.ok("sg-lee", c).await;
    let c = withhold("concern:k-1", later);
    refused(
        &w,
        "sg-lee",
        c,
        Code::FailedPrecondition,
        "disclosure.once",
        "target_stream",
    )
    .await;
    assert_eq!(
        w.svc
            .read_record("su-sam", "su-sam", None)
            .await
            .unwrap()
            .view
            .withheld,
        1
    );
    w.ok(
        "sg-lee",
        Command::Release {
            subject: "su-sam".into(),
            target_stream: "concern:k-1".into(),
        },
    )
    .await;
    refused(
        &w,
        "sg-lee",
        Command::Release {
            subject: "su-sam".into(),
            target_stream: "concern:k-1".into(),
        },
        Code::FailedPrecondition,
        "disclosure.withheld",
        "target_stream",
    )
    .await;
    let mine = w
        .svc
        .read_record("su-sam", "su-sam", None)
        .await
        .unwrap()
        .view;
    assert_eq!((mine.withheld, mine.concerns.len()), (0, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_8_compliance_flags_note_concern_sar_and_withholding_deadlines() {
    use withus::domain::view::FlagKind;
    let w = with_note().await; // n-1 drafted at T0
    let s = vec![Passage::new("k", "summary")];
    w.ok(
        "pw-amara",
        Command::RaiseConcern {
            concern_id: "k-1".into(),
            subject: "su-sam".into(),
            category: ConcernCategory::SelfHarm,
            urgency: Urgency::Immediate,
            summary: s,
        },
    )
    .await;
    w.ok(
        "su-sam",
        Command::RequestSar {
            sar_id: "sar-1".into(),
            subject: "su-sam".into(),
            via: SarVia::Letter,
        },
    )
    .await;
    let sar = w.svc.projections().unwrap().sars["sar-1"].clone();
    assert_eq!(sar.due_date, "2026-12-23");
    let kinds = |w: &World| {
        w.svc
            .compliance_flags("au-ida")
            .unwrap()
            .into_iter()
            .map(|f| (f.kind, f.item, f.done_at.is_some()))
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(&w), vec![]);
    // An immediate concern not acknowledged within the hour.
    w.advance(Time::HOUR);
    assert_eq!(
        kinds(&w),
        vec![(
            FlagKind::ConcernNotAcknowledged,
            "concern:k-1".into(),
            false
        )]
    );
    w.ok(
        "sg-lee",
        Command::AcknowledgeConcern {
            concern_id: "k-1".into(),
        },
    )
    .await;
    assert_eq!(
        kinds(&w),
        vec![(FlagKind::ConcernNotAcknowledged, "concern:k-1".into(), true)],
        "late stays on record"
    );
    // A note not agreed within 14 days; a SAR past its calendar month.
    w.clock.set(sar.due_at.0);
    assert_eq!(
        kinds(&w),
        vec![
            (FlagKind::NoteNotSettled, "note:n-1".into(), false),
            (FlagKind::ConcernNotAcknowledged, "concern:k-1".into(), true),
            (FlagKind::SarOverdue, "sar:sar-1".into(), false),
        ]
    );
    refused(
        &w,
        "su-sam",
        Command::FulfilSar {
            sar_id: "sar-1".into(),
            bundle_hash: [0; 32],
            tree_size: 1,
            withheld: 0,
        },
        Code::PermissionDenied,
        "role",
        "caller",
    )
    .await;
    // Only auditors read flags.
    assert!(w.svc.compliance_flags("sg-lee").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_without_a_basis_are_refused_and_logged_for_every_role() {
    let w = with_note().await;
    // Allowed: the person (not logged), their worker (logged, support basis).
    assert!(w
        .svc
        .read_record("su-sam", "su-sam", None)
        .await
        .unwrap()
        .receipts
        .is_empty());
    let r = w.svc.read_record("pw-amara", "su-sam", None).await.unwrap();
    assert_eq!(r.basis.as_deref(), Some("support:sp-1"));
    for (reader, reason) in [
        ("su-ola", DenialReason::NoBasis),
        ("pw-ben", DenialReason::NoSupportRelationship),
        ("ct-cho", DenialReason::NoConsent),
        ("sg-lee", DenialReason::OutOfScope),
        ("au-ida", DenialReason::MetadataOnlyRole),
        ("admin", DenialReason::MetadataOnlyRole),
    ] {
        let size = w.size();
        match w.svc.read_record(reader, "su-sam", None).await {
            Err(ServiceError::AccessDenied {
                reason: got,
                receipts,
                ..
            }) => {
                assert_eq!(got, reason, "{reader}");
                assert_eq!(
                    w.size(),
                    size + 1,
                    "{reader}: exactly one access.denied appended"
                );
                let e = w.svc.store().entry(receipts[0].seq).unwrap().unwrap();
                let v = e.view().unwrap();
                assert_eq!(
                    (
                        v.event_type.as_ref(),
                        v.actor_id.as_ref(),
                        v.stream.as_ref()
                    ),
                    ("access.denied", reader, "access:su-sam")
                );
            }
            other => panic!("{reader}: expected a logged refusal, got {other:?}"),
        }
    }
    // Whether the person exists is no part of the answer: a read of someone unknown is refused
    // and logged just the same (with no subject, so it joins no one's chain).
    for reader in ["au-ida", "ct-cho", "pw-ben"] {
        let known = w.svc.read_record(reader, "su-sam", None).await.unwrap_err();
        let unknown = w.svc.read_record(reader, "nobody", None).await.unwrap_err();
        match (&known, &unknown) {
            (
                ServiceError::AccessDenied { reason: a, .. },
                ServiceError::AccessDenied {
                    reason: b,
                    receipts,
                    ..
                },
            ) => {
                assert_eq!(a, b, "{reader}");
                let e = w.svc.store().entry(receipts[0].seq).unwrap().unwrap();
                assert_eq!(e.view().unwrap().subject, None);
            }
            other => panic!("{reader}: {other:?}"),
        }
        assert_eq!(
            known.to_string().replace("su-sam", "X"),
            unknown.to_string().replace("nobody", "X"),
            "{reader}: the same words for both"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remaining_refusals_of_actors_safeguarding_and_subject_access() {
    let w = World::new().await;
    w.ok(
        "admin",
        Command::DeactivateActor {
            id: "ct-dev".into(),
            reason: DeactivationReason::RoleChanged,
        },
    )
    .await;
    refused(
        &w,
        "admin",
        Command::DeactivateActor {
            id: "ct-dev".into(),
            reason: DeactivationReason::Other,
        },
        Code::FailedPrecondition,
        "actor.active",
        "id",
    )
    .await;
    refused(
        &w,
        "admin",
        Command::IssueToken {
            actor: "ct-dev".into(),
            token_hash: [3; 32],
            expires_at: None,
        },
        Code::FailedPrecondition,
        "actor.active",
        "actor",
    )
    .await;
    refused(
        &w,
        "ct-cho",
        refer("sp-1", "su-sam", "ct-dev"),
        Code::FailedPrecondition,
        "actor.active",
        "worker",
    )
    .await;

    // Safeguarding acts are the lead's.
    w.accepted_support("sp-1", "su-sam", "pw-amara").await;
    let s = vec![Passage::new("k", "summary")];
    w.ok(
        "pw-amara",
        Command::RaiseConcern {
            concern_id: "k-1".into(),
            subject: "su-sam".into(),
            category: ConcernCategory::Other,
            urgency: Urgency::Routine,
            summary: s,
        },
    )
    .await;
    let s = vec![Passage::new("k", "summary")];
    refused(
        &w,
        "sg-lee",
        Command::RaiseConcern {
            concern_id: "k-1".into(),
            subject: "su-sam".into(),
            category: ConcernCategory::Other,
            urgency: Urgency::Routine,
            summary: s,
        },
        Code::AlreadyExists,
        "unique_id",
        "concern_id",
    )
    .await;
    refused(
        &w,
        "sg-lee",
        Command::RaiseConcern {
            concern_id: "k-2".into(),
            subject: "su-sam".into(),
            category: ConcernCategory::Other,
            urgency: Urgency::Routine,
            summary: vec![],
        },
        Code::InvalidArgument,
        "segments",
        "summary",
    )
    .await;
    refused(
        &w,
        "pw-amara",
        Command::InformSubject {
            concern_id: "k-1".into(),
            how: InformedHow::Phone,
        },
        Code::PermissionDenied,
        "role",
        "caller",
    )
    .await;
    refused(
        &w,
        "pw-amara",
        Command::Release {
            subject: "su-sam".into(),
            target_stream: "concern:k-1".into(),
        },
        Code::PermissionDenied,
        "role",
        "caller",
    )
    .await;
    // A withholding must be about the person named.
    let j = Passage::new("j", "why");
    refused(
        &w,
        "sg-lee",
        Command::Withhold {
            subject: "su-ola".into(),
            target_stream: "concern:k-1".into(),
            exemption: Exemption::ThirdParty,
            justification: j,
            review_by: w.now().plus(Time::DAY),
        },
        Code::InvalidArgument,
        "disclosure.target",
        "target_stream",
    )
    .await;

    // Subject access: the person's (or their worker's) to ask, the auditor's to fulfil, once.
    refused(
        &w,
        "su-ola",
        Command::RequestSar {
            sar_id: "sar-1".into(),
            subject: "su-sam".into(),
            via: SarVia::App,
        },
        Code::PermissionDenied,
        "own_record",
        "caller",
    )
    .await;
    w.ok(
        "pw-amara",
        Command::RequestSar {
            sar_id: "sar-1".into(),
            subject: "su-sam".into(),
            via: SarVia::InPerson,
        },
    )
    .await;
    refused(
        &w,
        "su-sam",
        Command::RequestSar {
            sar_id: "sar-1".into(),
            subject: "su-sam".into(),
            via: SarVia::App,
        },
        Code::AlreadyExists,
        "unique_id",
        "sar_id",
    )
    .await;
    refused(
        &w,
        "au-ida",
        Command::FulfilSar {
            sar_id: "sar-9".into(),
            bundle_hash: [0; 32],
            tree_size: 1,
            withheld: 0,
        },
        Code::NotFound,
        "exists",
        "sar_id",
    )
    .await;
    assert!(
        matches!(w.svc.sar_bundle("su-sam", "sar-1").await, Err(ServiceError::Refused(r)) if r.rule == "sar.fulfilled")
    );
    w.svc.fulfil_sar("au-ida", w.call(), "sar-1").await.unwrap();
    refused(
        &w,
        "au-ida",
        Command::FulfilSar {
            sar_id: "sar-1".into(),
            bundle_hash: [0; 32],
            tree_size: 1,
            withheld: 0,
        },
        Code::FailedPrecondition,
        "sar.once",
        "sar_id",
    )
    .await;
    assert!(
        matches!(w.svc.fulfil_sar("sg-lee", w.call(), "sar-1").await, Err(ServiceError::Refused(r)) if r.code == Code::PermissionDenied)
    );
    // Bad identifiers are refused before anything else.
    refused(
        &w,
        "su-sam",
        Command::GrantConsent {
            subject: "su-sam".into(),
            consent_id: "".into(),
            scope: Scope::ShareWithGp,
            grantee: None,
            expires_at: None,
        },
        Code::InvalidArgument,
        "identifier",
        "consent_id",
    )
    .await;
    let size = w.size();
    let e = w
        .svc
        .execute(
            "su-sam",
            withus::service::Call::id("bad id"),
            Command::OfferSupport {
                support_id: "sp-1".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(w.size(), size);
}
