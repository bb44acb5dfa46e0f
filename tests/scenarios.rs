//! The seeds' stories, end to end through the command service on a real store: opt-in, a
//! meeting in a café, a co-produced note with an agreed redaction, consent granted and revoked
//! around a clinician's reads, and a safeguarding concern withheld under an exemption.

mod common;

use common::world::World;
use withus::domain::projection::NoteStatus;
use withus::domain::types::*;
use withus::domain::view::FlagKind;
use withus::domain::Command;
use withus::merkle;
use withus::service::Page;
use withus::service::{AsOf, ServiceError};

const PASSAGE: &str = "Sam talked about their brother's debts and the argument at home";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_is_co_produced_and_a_passage_removed_by_agreement_is_gone_but_the_log_verifies() {
    let w = World::new().await;
    // Opt-in: referred by the care team, offered by the worker, accepted by the person.
    w.ok(
        "ct-cho",
        Command::ReferSupport {
            support_id: "sp-1".into(),
            subject: "su-sam".into(),
            worker: "pw-amara".into(),
            source: ReferralSource::CareTeam,
        },
    )
    .await;
    w.ok(
        "pw-amara",
        Command::OfferSupport {
            support_id: "sp-1".into(),
        },
    )
    .await;
    w.ok(
        "su-sam",
        Command::AcceptSupport {
            support_id: "sp-1".into(),
        },
    )
    .await;

    // A meeting in a café: where is words, so it is content.
    let cafe = Passage::new("place", "the café by the park");
    w.ok(
        "pw-amara",
        Command::RecordMeeting {
            meeting_id: "m-1".into(),
            support_id: "sp-1".into(),
            kind: MeetingKind::OneToOne,
            group_id: None,
            goals: vec![],
            activities: vec![],
            mode: MeetingMode::InPerson,
            place: Place::Community,
            place_detail: Some(cafe),
            occurred_at: w.now(),
            minutes: 50,
        },
    )
    .await;

    let segs = w
        .draft(
            "n-1",
            "m-1",
            "pw-amara",
            &[
                (
                    "s1",
                    "We talked about what has helped this week: walking and the allotment.",
                ),
                ("s2", PASSAGE),
                (
                    "s3",
                    "Plan: walk together on Saturday; Sam will try the recovery college.",
                ),
            ],
        )
        .await;
    let drafted_seq = w.size() - 1;

    // The person asks for a passage to be removed; the worker agrees.
    w.ok(
        "su-sam",
        Command::ProposeRedaction {
            note_id: "n-1".into(),
            proposal_id: "r-1".into(),
            segments: vec!["s2".into()],
            reason: RedactionReason::NotWanted,
        },
    )
    .await;
    assert!(
        w.svc.store().content(&segs[1].commit.0).unwrap().is_some(),
        "text kept until agreed"
    );
    w.ok(
        "pw-amara",
        Command::AgreeRedaction {
            note_id: "n-1".into(),
            proposal_id: "r-1".into(),
        },
    )
    .await;

    // Gone from the content store…
    assert_eq!(w.svc.store().content(&segs[1].commit.0).unwrap(), None);
    assert!(w.svc.store().content(&segs[0].commit.0).unwrap().is_some());
    // …and from every view: the person's own shows who agreed, when and the length.
    let mine = w.svc.read_record("su-sam", "su-sam", None).await.unwrap();
    assert!(
        mine.receipts.is_empty(),
        "a person's own read is not logged"
    );
    let note = &mine.view.notes[0];
    let s2 = note.passages.iter().find(|p| p.id == "s2").unwrap();
    assert_eq!(s2.text, None);
    let removal = s2.removed.as_ref().expect("removal marker");
    assert_eq!(removal.agreed_by, "pw-amara");
    assert_eq!(removal.chars, PASSAGE.chars().count() as u64);
    assert!(note
        .passages
        .iter()
        .find(|p| p.id == "s1")
        .unwrap()
        .text
        .as_deref()
        .unwrap()
        .contains("allotment"));
    assert_eq!(
        mine.view.meetings[0]
            .place_detail
            .as_ref()
            .unwrap()
            .text
            .as_deref(),
        Some("the café by the park")
    );
    let json = serde_json::to_string(&mine.view).unwrap();
    assert!(
        !json.contains("brother"),
        "the removed text appears nowhere in the view"
    );

    // The log, the tree and a proof for the drafted entry still verify.
    let report = w.svc.store().verify(&mut |_, _| {}).unwrap();
    assert!(report.failure.is_none(), "{:?}", report.failure);
    let size = w.size();
    let root = w.svc.store().root(size).unwrap();
    let leaf = w.svc.store().leaf_hash(drafted_seq).unwrap();
    let proof = w.svc.store().inclusion_proof(drafted_seq, size).unwrap();
    assert!(merkle::verify_inclusion(
        &leaf,
        drafted_seq,
        size,
        &proof,
        &root
    ));

    // Both agree the latest revision: the note is agreed.
    w.ok(
        "su-sam",
        Command::AgreeNote {
            note_id: "n-1".into(),
            revision: 1,
        },
    )
    .await;
    let p = w.svc.projections().unwrap();
    assert_eq!(
        p.notes["n-1"].status,
        NoteStatus::Open,
        "one party is not agreement"
    );
    w.ok(
        "pw-amara",
        Command::AgreeNote {
            note_id: "n-1".into(),
            revision: 1,
        },
    )
    .await;
    let p = w.svc.projections().unwrap();
    assert_eq!(p.notes["n-1"].status, NoteStatus::Agreed);
    assert_eq!(p.notes["n-1"].agreed_revision, Some(1));

    // Views survive a restart and equal a replay from zero, byte for byte.
    let before = w.svc.projections().unwrap().encode_all();
    let w = w.reopen();
    assert_eq!(w.svc.projections().unwrap().encode_all(), before);
    let (_, rebuilt) = withus::service::rebuild_views(w.svc.store()).unwrap();
    let digest_after = w.svc.store().views_digest().unwrap().unwrap().1;
    assert_eq!(rebuilt, digest_after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinician_reads_under_consent_and_is_refused_once_it_is_revoked_and_both_are_logged() {
    let w = World::new().await;
    w.accepted_support("sp-1", "su-sam", "pw-amara").await;
    w.meeting("m-1", "sp-1", "pw-amara").await;
    w.draft(
        "n-1",
        "m-1",
        "pw-amara",
        &[("s1", "Agreed words about the week")],
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
    w.ok(
        "pw-amara",
        Command::AgreeNote {
            note_id: "n-1".into(),
            revision: 1,
        },
    )
    .await;
    w.draft(
        "n-2",
        "m-1",
        "pw-amara",
        &[("s1", "A draft not yet agreed")],
    )
    .await;

    // No consent yet: refused and logged.
    let e = w
        .svc
        .read_record("ct-cho", "su-sam", None)
        .await
        .unwrap_err();
    let ServiceError::AccessDenied {
        reason, receipts, ..
    } = e
    else {
        panic!("{e}")
    };
    assert_eq!(reason, DenialReason::NoConsent);
    assert_eq!(receipts.len(), 1);

    w.ok(
        "su-sam",
        Command::GrantConsent {
            subject: "su-sam".into(),
            consent_id: "c-1".into(),
            scope: Scope::ShareWithCareTeam,
            grantee: Some(withus::domain::event::Grantee::Team("cmht-north".into())),
            expires_at: None,
        },
    )
    .await;
    let read = w.svc.read_record("ct-cho", "su-sam", None).await.unwrap();
    assert_eq!(read.basis.as_deref(), Some("consent:c-1"));
    assert_eq!(read.receipts.len(), 1, "the read is logged");
    assert_eq!(read.view.notes.len(), 1, "only agreed notes are shared");
    assert_eq!(
        read.view.notes[0].passages[0].text.as_deref(),
        Some("Agreed words about the week")
    );

    // Another team is not named by the consent.
    assert!(matches!(
        w.svc.read_record("ct-dev", "su-sam", None).await,
        Err(ServiceError::AccessDenied {
            reason: DenialReason::NoConsent,
            ..
        })
    ));
    // Auditors never read content.
    assert!(matches!(
        w.svc.read_record("au-ida", "su-sam", None).await,
        Err(ServiceError::AccessDenied {
            reason: DenialReason::MetadataOnlyRole,
            ..
        })
    ));

    w.ok(
        "su-sam",
        Command::RevokeConsent {
            subject: "su-sam".into(),
            consent_id: "c-1".into(),
        },
    )
    .await;
    let e = w
        .svc
        .read_record("ct-cho", "su-sam", None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ServiceError::AccessDenied {
                reason: DenialReason::NoConsent,
                ..
            }
        ),
        "{e}"
    );

    // The person sees exactly who looked, on what basis, and who was refused.
    let log = w
        .svc
        .access_log("su-sam", "su-sam", Page::default())
        .await
        .unwrap()
        .lines;
    let lines: Vec<(String, String, String)> = log
        .iter()
        .map(|l| {
            (
                l.reader.clone(),
                l.event_type.clone(),
                l.basis_or_reason.clone(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            ("ct-cho".into(), "access.denied".into(), "no_consent".into()),
            (
                "ct-cho".into(),
                "record.accessed".into(),
                "consent:c-1".into()
            ),
            ("ct-dev".into(), "access.denied".into(), "no_consent".into()),
            (
                "au-ida".into(),
                "access.denied".into(),
                "metadata_only_role".into()
            ),
            ("ct-cho".into(), "access.denied".into(), "no_consent".into()),
        ]
    );
    assert!(log[1].streams.contains(&"note:n-1".to_string()));
    assert!(!log[1].streams.contains(&"note:n-2".to_string()));
    // Someone else cannot read it; an auditor can.
    assert!(w
        .svc
        .access_log("ct-cho", "su-sam", Page::default())
        .await
        .is_err());
    assert_eq!(
        w.svc
            .access_log("au-ida", "su-sam", Page::default())
            .await
            .unwrap()
            .lines
            .len(),
        6,
        "five reads, and the clinician's refused look at the access log itself"
    );
    // Every read's basis was valid at its entry (rule 8's proof).
    assert!(w.svc.projections().unwrap().invalid_reads.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_consent_is_valid_until_its_expiry_and_not_a_millisecond_after() {
    let w = World::new().await;
    w.accepted_support("sp-1", "su-sam", "pw-amara").await;
    let expiry = w.now().plus(Time::HOUR);
    w.ok(
        "su-sam",
        Command::GrantConsent {
            subject: "su-sam".into(),
            consent_id: "c-1".into(),
            scope: Scope::ShareWithCareTeam,
            grantee: Some(withus::domain::event::Grantee::Team("cmht-north".into())),
            expires_at: Some(expiry),
        },
    )
    .await;
    w.clock.set(expiry.0 - 1);
    w.svc.read_record("ct-cho", "su-sam", None).await.unwrap();
    w.clock.set(expiry.0);
    assert!(matches!(
        w.svc.read_record("ct-cho", "su-sam", None).await,
        Err(ServiceError::AccessDenied { .. })
    ));
    assert!(w.svc.projections().unwrap().invalid_reads.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safeguarding_concern_is_acted_on_withheld_from_the_person_and_visible_to_the_auditor() {
    let w = World::new().await;
    w.accepted_support("sp-1", "su-sam", "pw-amara").await;
    let summary = vec![Passage::new(
        "k1",
        "Sam said they are being pressured to hand over money",
    )];
    w.ok(
        "pw-amara",
        Command::RaiseConcern {
            concern_id: "k-1".into(),
            subject: "su-sam".into(),
            category: ConcernCategory::Exploitation,
            urgency: Urgency::SameDay,
            summary,
        },
    )
    .await;
    w.advance(2 * Time::HOUR);
    w.ok(
        "sg-lee",
        Command::AcknowledgeConcern {
            concern_id: "k-1".into(),
        },
    )
    .await;

    // The lead reads the concern (logged, basis the concern).
    let read = w.svc.read_record("sg-lee", "su-sam", None).await.unwrap();
    assert_eq!(read.basis.as_deref(), Some("concern:k-1"));
    assert!(read.view.concerns[0].summary[0]
        .text
        .as_deref()
        .unwrap()
        .contains("pressured"));
    assert!(
        read.view.notes.is_empty(),
        "a lead reads concerns, not notes"
    );

    // Before withholding the person sees it; after, they see only that something is withheld.
    assert_eq!(
        w.svc
            .read_record("su-sam", "su-sam", None)
            .await
            .unwrap()
            .view
            .concerns
            .len(),
        1
    );
    let review_by = w.now().plus(30 * Time::DAY);
    let why = Passage::new(
        "why",
        "Disclosure now would put Sam at risk from the person named",
    );
    w.ok(
        "sg-lee",
        Command::Withhold {
            subject: "su-sam".into(),
            target_stream: "concern:k-1".into(),
            exemption: Exemption::SeriousHarm,
            justification: why,
            review_by,
        },
    )
    .await;
    let mine = w
        .svc
        .read_record("su-sam", "su-sam", None)
        .await
        .unwrap()
        .view;
    assert!(mine.concerns.is_empty());
    assert_eq!(mine.withheld, 1);
    assert!(
        mine.withholdings.is_empty(),
        "the person does not see the withholding's reasons"
    );

    // The auditor sees the withholding, its exemption and review date — never its text.
    let meta = w.svc.record_metadata("au-ida", "su-sam").unwrap();
    assert_eq!(meta.withholdings.len(), 1);
    assert_eq!(meta.withholdings[0].exemption, Exemption::SeriousHarm);
    assert_eq!(meta.withholdings[0].review_by, review_by);
    assert_eq!(meta.withholdings[0].justification.text, None);
    assert_eq!(meta.concerns[0].summary[0].text, None);
    assert!(w.svc.record_metadata("sg-lee", "su-sam").is_err());

    // Rule 8: a same-day concern acknowledged after 2 hours is in time; the withholding is
    // flagged once its review date passes.
    assert!(w.svc.compliance_flags("au-ida").unwrap().is_empty());
    w.clock.set(review_by.0 + 1);
    let flags = w.svc.compliance_flags("au-ida").unwrap();
    assert_eq!(
        flags.iter().map(|f| f.kind).collect::<Vec<_>>(),
        vec![FlagKind::WithholdingPastReview]
    );

    // A subject access request: bundle without the withheld item, saying one is withheld.
    w.ok(
        "su-sam",
        Command::RequestSar {
            sar_id: "sar-1".into(),
            subject: "su-sam".into(),
            via: SarVia::App,
        },
    )
    .await;
    let (hash, _) = w.svc.fulfil_sar("au-ida", w.call(), "sar-1").await.unwrap();
    let (bundle, _) = w.svc.sar_bundle("su-sam", "sar-1").await.unwrap();
    assert_eq!(
        w.svc.projections().unwrap().sars["sar-1"]
            .bundle_hash
            .map(|h| h.0),
        Some(hash),
        "the hash recorded is the one the auditor was told"
    );
    let b = withus::sar::bundle::Bundle::parse(&bundle).unwrap();
    let withheld = b
        .entries
        .iter()
        .filter(|e| matches!(e, withus::sar::bundle::BundleEntry::Withheld { .. }))
        .count();
    assert!(
        withheld >= 1,
        "the withheld note's entries are shown by leaf only"
    );
    assert!(!String::from_utf8_lossy(&bundle).contains("pressured"));
    assert!(
        w.svc.sar_bundle("au-ida", "sar-1").await.is_err(),
        "the bundle is the person's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_shows_the_record_as_it_was() {
    let w = World::new().await;
    w.accepted_support("sp-1", "su-sam", "pw-amara").await;
    w.meeting("m-1", "sp-1", "pw-amara").await;
    w.draft("n-1", "m-1", "pw-amara", &[("s1", "First words")])
        .await;
    let after_draft = w.size();
    let t_draft = w.now();
    w.advance(Time::HOUR);
    let segs = vec![
        Passage::new("s1", "First words"),
        Passage::new("s2", "More words, added together"),
    ];
    w.ok(
        "su-sam",
        Command::ReviseNote {
            note_id: "n-1".into(),
            segments: segs,
        },
    )
    .await;

    let now = w
        .svc
        .read_record("su-sam", "su-sam", None)
        .await
        .unwrap()
        .view;
    assert_eq!(now.notes[0].revision, 2);
    let then = w
        .svc
        .read_record("su-sam", "su-sam", Some(AsOf::Seq(after_draft)))
        .await
        .unwrap()
        .view;
    assert_eq!(then.notes[0].revision, 1);
    assert_eq!(then.notes[0].passages.len(), 1);
    assert_eq!(then.as_of, after_draft);
    let by_time = w
        .svc
        .read_record("su-sam", "su-sam", Some(AsOf::Time(t_draft)))
        .await
        .unwrap()
        .view;
    assert_eq!(by_time, then);
    // A worker's read of the past is logged like any other.
    let r = w
        .svc
        .read_record("pw-amara", "su-sam", Some(AsOf::Seq(after_draft)))
        .await
        .unwrap();
    assert_eq!(r.receipts.len(), 1);
    assert!(matches!(
        w.svc
            .read_record("su-sam", "su-sam", Some(AsOf::Seq(w.size() + 10)))
            .await,
        Err(ServiceError::Refused(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_command_returns_the_same_receipts_and_appends_nothing() {
    let w = World::new().await;
    let call = w.call();
    let cmd = Command::ReferSupport {
        support_id: "sp-1".into(),
        subject: "su-sam".into(),
        worker: "pw-amara".into(),
        source: ReferralSource::CareTeam,
    };
    let first = w
        .svc
        .execute("ct-cho", call.clone(), cmd.clone())
        .await
        .unwrap();
    let size = w.size();
    let again = w.svc.execute("ct-cho", call, cmd).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(w.size(), size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_expected_version_is_aborted_and_changes_nothing() {
    let w = World::new().await;
    w.accepted_support("sp-1", "su-sam", "pw-amara").await;
    w.meeting("m-1", "sp-1", "pw-amara").await;
    w.draft("n-1", "m-1", "pw-amara", &[("s1", "words")]).await;
    let size = w.size();
    let mut call = w.call();
    call.expected_version = Some(0);
    let e = w
        .svc
        .execute(
            "su-sam",
            call,
            Command::AgreeNote {
                note_id: "n-1".into(),
                revision: 1,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ServiceError::Conflict {
                expected: 0,
                actual: 1,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.code(), withus::domain::Code::Aborted);
    assert_eq!(w.size(), size);
    let mut call = w.call();
    call.expected_version = Some(1);
    w.svc
        .execute(
            "su-sam",
            call,
            Command::AgreeNote {
                note_id: "n-1".into(),
                revision: 1,
            },
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_record_is_read_and_every_stream_read_is_named_in_the_access_log() {
    let w = World::new().await;
    w.accepted_support("sp-1", "su-sam", "pw-amara").await;
    for i in 0..300 {
        w.meeting(
            &format!("m-{i:03}-with-a-longish-identifier-to-fill-the-entry"),
            "sp-1",
            "pw-amara",
        )
        .await;
    }
    let read = w.svc.read_record("pw-amara", "su-sam", None).await.unwrap();
    assert_eq!(read.view.meetings.len(), 300);
    assert!(
        read.receipts.len() >= 3,
        "split over several entries, one atomic append"
    );
    let logged: Vec<String> = w
        .svc
        .access_log("su-sam", "su-sam", Page::default())
        .await
        .unwrap()
        .lines
        .into_iter()
        .flat_map(|l| l.streams)
        .collect();
    assert_eq!(logged, read.view.streams());
}
