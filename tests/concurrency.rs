//! Races the service must win: a consent revoked while its grantee reads, and many parties
//! acting on one note at once. Decisions are checked against projections that may be stale;
//! the conditions they append with must make every outcome one a serial order would give.

mod common;

use std::sync::Arc;

use common::world::World;
use withus::domain::event::Grantee;
use withus::domain::types::*;
use withus::domain::Command;
use withus::service::RefusalLimit;
use withus::service::ServiceError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_racing_grants_and_revocations_never_use_a_revoked_consent() {
    let w = Arc::new(World::new().await);
    w.accepted_support("sp-1", "su-sam", "pw-amara").await;
    let mut tasks = Vec::new();
    // The clinician is refused by design on about half of 180 reads: far past the default
    // allowance of refusals, which is not what this test is about.
    w.svc.set_refusal_limit(RefusalLimit {
        burst: 100_000,
        refill_ms: 1,
    });
    for reader in ["ct-cho", "ct-cho", "ct-cho", "pw-amara"] {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut denied) = (0u64, 0u64);
            for _ in 0..60 {
                match w.svc.read_record(reader, "su-sam", None).await {
                    Ok(r) => {
                        assert_eq!(r.receipts.len(), 1);
                        ok += 1
                    }
                    Err(ServiceError::AccessDenied { .. }) => denied += 1,
                    Err(e) => panic!("{e}"),
                }
            }
            (ok, denied)
        }));
    }
    let toggler = {
        let w = w.clone();
        tokio::spawn(async move {
            for i in 0..30 {
                let id = format!("c-{i}");
                w.ok(
                    "su-sam",
                    Command::GrantConsent {
                        subject: "su-sam".into(),
                        consent_id: id.clone(),
                        scope: Scope::ShareWithCareTeam,
                        grantee: Some(Grantee::Team("cmht-north".into())),
                        expires_at: None,
                    },
                )
                .await;
                tokio::task::yield_now().await;
                w.ok(
                    "su-sam",
                    Command::RevokeConsent {
                        subject: "su-sam".into(),
                        consent_id: id,
                    },
                )
                .await;
            }
        })
    };
    let mut total = (0, 0);
    for t in tasks {
        let (ok, denied) = t.await.unwrap();
        total.0 += ok;
        total.1 += denied;
    }
    toggler.await.unwrap();
    assert_eq!(total.0 + total.1, 240);
    let p = w.svc.projections().unwrap();
    assert!(
        p.invalid_reads.is_empty(),
        "reads on a consent not in force: {:?}",
        p.invalid_reads
    );
    assert_eq!(p.people["su-sam"].reads + p.people["su-sam"].denials, 240);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_parties_acting_on_one_note_at_once_get_serial_outcomes() {
    let w = Arc::new(World::new().await);
    w.accepted_support("sp-1", "su-sam", "pw-amara").await;
    w.meeting("m-1", "sp-1", "pw-amara").await;
    w.draft("n-1", "m-1", "pw-amara", &[("s1", "one"), ("s2", "two")])
        .await;
    // 16 proposals for the same passage at once: exactly one can be pending.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let w = w.clone();
        let who = if i % 2 == 0 { "su-sam" } else { "pw-amara" };
        tasks.push(tokio::spawn(async move {
            w.run(
                who,
                Command::ProposeRedaction {
                    note_id: "n-1".into(),
                    proposal_id: format!("r-{i}"),
                    segments: vec!["s2".into()],
                    reason: RedactionReason::NotWanted,
                },
            )
            .await
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(ServiceError::Refused(r)) => assert_eq!(r.rule, "redaction.one_pending"),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(accepted, 1);
    // Revisions racing agreements: whatever interleaving, agreement is only ever on the latest.
    let p = w.svc.projections().unwrap();
    let pending = p.notes["n-1"].proposals.values().next().unwrap().clone();
    w.ok(
        &pending.proposed_by,
        Command::WithdrawRedaction {
            note_id: "n-1".into(),
            proposal_id: pending.proposal_id.clone(),
        },
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            if i % 4 == 0 {
                let segs = vec![Passage::new("s1", format!("one v{i}"))];
                let _ = w
                    .run(
                        "su-sam",
                        Command::ReviseNote {
                            note_id: "n-1".into(),
                            segments: segs,
                        },
                    )
                    .await;
            } else {
                let rev = w.svc.projections().unwrap().notes["n-1"].revision;
                let who = if i % 2 == 0 { "su-sam" } else { "pw-amara" };
                let _ = w
                    .run(
                        who,
                        Command::AgreeNote {
                            note_id: "n-1".into(),
                            revision: rev,
                        },
                    )
                    .await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Replaying the log reproduces the state, and every note.agreed named the latest revision at
    // its point in the log.
    let full = withus::service::replay(w.svc.store(), w.svc.store().size()).unwrap();
    assert_eq!(full.encode_all(), w.svc.projections().unwrap().encode_all());
    let mut revision = 0;
    for e in w.svc.store().stream_entries("note:n-1").unwrap() {
        let v = e.view().unwrap();
        match v.event_type.as_ref() {
            "note.drafted" => revision = 1,
            "note.revised" | "note.addendum" => revision += 1,
            "note.agreed" => {
                let d: serde_json::Value = serde_json::from_str(v.data).unwrap();
                assert_eq!(
                    d["revision"], revision,
                    "agreement on a stale revision at seq {}",
                    v.seq
                );
            }
            _ => {}
        }
    }
}
