//! The authorisation matrix: every role × every RPC of withus.v1 → allowed or PERMISSION_DENIED,
//! as DOMAIN.md says, each call made on a fresh fixture so one call's effect cannot decide the
//! next. For refused reads of a person's data (record, access log, request status, bundle),
//! exactly one `access.denied` entry must be appended; any other refusal appends nothing.

use std::collections::BTreeSet;

use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use withus::grpc::{pb, ServeConfig};
use withus::store::StoreConfig;

const ROLES: [&str; 7] = [
    "service_user",
    "peer_worker",
    "care_team",
    "safeguarding_lead",
    "auditor",
    "admin",
    "representative",
];

struct World {
    ch: Channel,
    admin: String,
    tokens: std::collections::HashMap<&'static str, String>,
    n: std::sync::atomic::AtomicU64,
}

fn call(id: String) -> Option<pb::CallOptions> {
    Some(pb::CallOptions {
        command_id: id,
        expected_version: None,
    })
}

fn req<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    let v: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    r.metadata_mut().insert("authorization", v);
    r
}

fn seg(id: &str) -> pb::TextSegment {
    pb::TextSegment {
        id: id.into(),
        text: format!("text {id}"),
    }
}

fn future_ms(days: u64) -> Option<prost_types::Timestamp> {
    in_ms(days * 86_400_000)
}

fn in_ms(ms: u64) -> Option<prost_types::Timestamp> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    Some(withus::grpc::convert::timestamp(
        withus::domain::types::Time(now + ms),
    ))
}

/// What a fixture holds about its person P.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Referred,
    Offered,
    Full,
    /// As Full, with the planned meeting's time already come.
    Passed,
    /// As Full, with note n2 agreed by both.
    Agreed,
    /// Full, and a transfer of the relationship to pw2 proposed by pw.
    Transfer,
}

struct Fix {
    p: String,
    p_token: String,
    sp: String,
    /// A drafted note with a pending proposal `r-1` (by P, on s2).
    n: String,
    /// A drafted note without proposals.
    n2: String,
    /// A registered actor nobody uses (to deactivate).
    spare: String,
    id: u64,
}

impl World {
    fn next(&self) -> u64 {
        self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    fn c(&self) -> Channel {
        self.ch.clone()
    }

    async fn register(&self, id: &str, role: pb::Role, team: &str) {
        pb::admin_client::AdminClient::new(self.c())
            .register_actor(req(
                pb::RegisterActorRequest {
                    call: call(format!("reg-{id}")),
                    id: id.into(),
                    role: role as i32,
                    team: team.into(),
                    display_name: id.into(),
                },
                &self.admin,
            ))
            .await
            .unwrap();
    }

    async fn token(&self, id: &str) -> String {
        pb::admin_client::AdminClient::new(self.c())
            .issue_token(req(
                pb::IssueTokenRequest {
                    call: call(format!("tok-{id}")),
                    actor: id.into(),
                    expires_at: None,
                },
                &self.admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .token
    }

    async fn fixture(&self, kind: Kind) -> Fix {
        let id = self.next();
        let (p, sp, m, n, n2, spare) = (
            format!("su-{id}"),
            format!("sp-{id}"),
            format!("m-{id}"),
            format!("n-{id}"),
            format!("n2-{id}"),
            format!("spare-{id}"),
        );
        self.register(&p, pb::Role::ServiceUser, "").await;
        self.register(&spare, pb::Role::Auditor, "").await;
        let p_token = self.token(&p).await;
        let pw = self.tokens["peer_worker"].clone();
        let c = |s: &str| call(format!("{s}-{id}"));
        // A sign-in identity of P, for Admin.UnlinkIdentity.
        pb::admin_client::AdminClient::new(self.c())
            .link_identity(req(
                pb::LinkIdentityRequest {
                    call: c("f-link"),
                    actor: p.clone(),
                    issuer: "https://idp.example".into(),
                    subject: format!("sub-{p}"),
                },
                &self.admin,
            ))
            .await
            .unwrap();
        let mut support = pb::support_client::SupportClient::new(self.c());
        support
            .refer(req(
                pb::ReferRequest {
                    call: c("f-ref"),
                    support_id: sp.clone(),
                    subject: p.clone(),
                    worker: "pw".into(),
                    source: pb::ReferralSource::CareTeam as i32,
                },
                &pw,
            ))
            .await
            .unwrap();
        if kind != Kind::Referred {
            support
                .offer(req(
                    pb::SupportRequest {
                        call: c("f-off"),
                        support_id: sp.clone(),
                    },
                    &pw,
                ))
                .await
                .unwrap();
        }
        let full = matches!(
            kind,
            Kind::Full | Kind::Passed | Kind::Agreed | Kind::Transfer
        );
        if full {
            support
                .accept(req(
                    pb::SupportRequest {
                        call: c("f-acc"),
                        support_id: sp.clone(),
                    },
                    &p_token,
                ))
                .await
                .unwrap();
            pb::meetings_client::MeetingsClient::new(self.c())
                .record(req(
                    pb::RecordMeetingRequest {
                        call: c("f-m"),
                        meeting_id: m.clone(),
                        support_id: sp.clone(),
                        kind: pb::MeetingKind::OneToOne as i32,
                        group_id: String::new(),
                        goals: vec![],
                        activities: vec![],
                        mode: pb::MeetingMode::Phone as i32,
                        place: pb::Place::Online as i32,
                        place_detail: String::new(),
                        occurred_at: future_ms(0),
                        minutes: 20,
                    },
                    &pw,
                ))
                .await
                .unwrap();
            let mut notes = pb::notes_client::NotesClient::new(self.c());
            for (note, k) in [(&n, "f-n"), (&n2, "f-n2")] {
                notes
                    .draft(req(
                        pb::DraftNoteRequest {
                            call: c(k),
                            note_id: note.clone(),
                            meeting_id: m.clone(),
                            segments: vec![seg("s1"), seg("s2")],
                        },
                        &pw,
                    ))
                    .await
                    .unwrap();
            }
            if kind == Kind::Agreed {
                for (k, token) in [("f-a1", &p_token), ("f-a2", &pw)] {
                    notes
                        .agree(req(
                            pb::AgreeNoteRequest {
                                call: c(k),
                                note_id: n2.clone(),
                                revision: 1,
                            },
                            token,
                        ))
                        .await
                        .unwrap();
                }
            }
            notes
                .propose_redaction(req(
                    pb::ProposeRedactionRequest {
                        call: c("f-r"),
                        note_id: n.clone(),
                        proposal_id: "r-1".into(),
                        segments: vec!["s2".into()],
                        reason: pb::RedactionReason::NotWanted as i32,
                    },
                    &p_token,
                ))
                .await
                .unwrap();
            pb::consent_client::ConsentClient::new(self.c())
                .grant(req(
                    pb::GrantConsentRequest {
                        call: c("f-c"),
                        subject: p.clone(),
                        consent_id: "c-1".into(),
                        scope: pb::ConsentScope::ShareWithCareTeam as i32,
                        grantee: "cmht-north".into(),
                        expires_at: None,
                    },
                    &p_token,
                ))
                .await
                .unwrap();
            let mut sg = pb::safeguarding_client::SafeguardingClient::new(self.c());
            for k in ["k-1", "k-2"] {
                sg.raise(req(
                    pb::RaiseConcernRequest {
                        call: c(&format!("f-{k}")),
                        concern_id: format!("{k}-{id}"),
                        subject: p.clone(),
                        category: pb::ConcernCategory::Other as i32,
                        urgency: pb::Urgency::Routine as i32,
                        summary: vec![seg("k")],
                    },
                    &pw,
                ))
                .await
                .unwrap();
            }
            sg.acknowledge(req(
                pb::ConcernRequest {
                    call: c("f-ack"),
                    concern_id: format!("k-2-{id}"),
                },
                &self.tokens["safeguarding_lead"],
            ))
            .await
            .unwrap();
            sg.withhold(req(
                pb::WithholdRequest {
                    call: c("f-w"),
                    subject: p.clone(),
                    target_stream: format!("concern:k-2-{id}"),
                    exemption: pb::Exemption::SeriousHarm as i32,
                    justification: "why".into(),
                    review_by: future_ms(30),
                },
                &self.tokens["safeguarding_lead"],
            ))
            .await
            .unwrap();
            // A meeting planned ahead (at the clinic, proposed by the worker) and P's goal.
            let planned_in = if kind == Kind::Passed {
                300
            } else {
                86_400_000
            };
            pb::meetings_client::MeetingsClient::new(self.c())
                .plan(req(
                    pb::PlanMeetingRequest {
                        call: c("f-pm"),
                        meeting_id: format!("pm-{id}"),
                        support_id: sp.clone(),
                        mode: pb::MeetingMode::InPerson as i32,
                        place: pb::Place::Clinic as i32,
                        place_detail: String::new(),
                        planned_for: in_ms(planned_in),
                        minutes: 30,
                    },
                    &pw,
                ))
                .await
                .unwrap();
            pb::goals_client::GoalsClient::new(self.c())
                .set(req(
                    pb::SetGoalRequest {
                        call: c("f-g"),
                        goal_id: format!("g-{id}"),
                        support_id: sp.clone(),
                        words: vec![seg("w")],
                        co_produced: false,
                    },
                    &p_token,
                ))
                .await
                .unwrap();
            if kind == Kind::Passed {
                tokio::time::sleep(std::time::Duration::from_millis(400)).await;
            }
            let mut sar = pb::subject_access_client::SubjectAccessClient::new(self.c());
            for s in ["sar-1", "sar-2"] {
                sar.request(req(
                    pb::SarRequest {
                        call: c(&format!("f-{s}")),
                        sar_id: format!("{s}-{id}"),
                        subject: p.clone(),
                        via: pb::SarVia::App as i32,
                    },
                    &p_token,
                ))
                .await
                .unwrap();
            }
            sar.fulfil(req(
                pb::FulfilSarRequest {
                    call: c("f-ful"),
                    sar_id: format!("sar-2-{id}"),
                },
                &self.tokens["auditor"],
            ))
            .await
            .unwrap();
            // The representative acts for P under P's consent: read_record and subject_access.
            pb::authorities_client::AuthoritiesClient::new(self.c())
                .grant(req(
                    pb::GrantAuthorityRequest {
                        call: c("f-au"),
                        authority_id: format!("au-1-{id}"),
                        subject: p.clone(),
                        representative: "rep".into(),
                        relation: pb::Relation::Carer as i32,
                        basis: pb::AuthorityBasis::Consent as i32,
                        scope: vec![
                            pb::AuthorityScope::ReadRecord as i32,
                            pb::AuthorityScope::SubjectAccess as i32,
                        ],
                        expires_at: None,
                        evidence: String::new(),
                    },
                    &p_token,
                ))
                .await
                .unwrap();
        }
        if kind == Kind::Transfer {
            support
                .propose_transfer(req(
                    pb::ProposeTransferRequest {
                        call: c("f-tr"),
                        support_id: sp.clone(),
                        to_worker: "pw2".into(),
                    },
                    &pw,
                ))
                .await
                .unwrap();
        }
        if full {
            // A legal hold, for Retention.LiftHold.
            pb::retention_client::RetentionClient::new(self.c())
                .place_hold(req(
                    pb::PlaceLegalHoldRequest {
                        call: c("f-hold"),
                        subject: p.clone(),
                        hold_id: "h-0".into(),
                        reason: pb::HoldReason::Litigation as i32,
                    },
                    &self.admin,
                ))
                .await
                .unwrap();
        }
        Fix {
            p,
            p_token,
            sp,
            n,
            n2,
            spare,
            id,
        }
    }
}

/// Makes the RPC `name` as `token` on fixture `f`.
async fn rpc(w: &World, name: &str, f: &Fix, role: &str, token: &str) -> Result<(), Status> {
    let c = |s: &str| call(format!("{s}-{}-{role}", f.id));
    let ch = w.c();
    let id = f.id;
    macro_rules! go {
        ($client:ident :: $ty:ident . $method:ident ( $msg:expr )) => {
            pb::$client::$ty::new(ch)
                .$method(req($msg, token))
                .await
                .map(|_| ())
        };
    }
    match name {
        "Admin.RegisterActor" => go!(admin_client::AdminClient.register_actor(
            pb::RegisterActorRequest {
                call: c("x"),
                id: format!("new-{id}-{role}"),
                role: pb::Role::Auditor as i32,
                team: String::new(),
                display_name: "X".into()
            }
        )),
        "Admin.DeactivateActor" => go!(admin_client::AdminClient.deactivate_actor(
            pb::DeactivateActorRequest {
                call: c("x"),
                id: f.spare.clone(),
                reason: pb::DeactivationReason::Other as i32
            }
        )),
        "Admin.IssueToken" => go!(
            admin_client::AdminClient.issue_token(pb::IssueTokenRequest {
                call: c("x"),
                actor: f.p.clone(),
                expires_at: None
            })
        ),
        "Admin.IssueSignInCode" => go!(admin_client::AdminClient.issue_sign_in_code(
            pb::IssueSignInCodeRequest {
                call: c("x"),
                person: f.p.clone()
            }
        )),
        "Admin.RevokeToken" => go!(admin_client::AdminClient.revoke_token(
            pb::RevokeTokenRequest {
                call: c("x"),
                token_hash: withus::format::to_hex(blake3::hash(f.p_token.as_bytes()).as_bytes())
            }
        )),
        "Admin.LinkIdentity" => go!(admin_client::AdminClient.link_identity(
            pb::LinkIdentityRequest {
                call: c("x"),
                actor: f.p.clone(),
                issuer: "https://other-idp.example".into(),
                subject: format!("sub-{id}-{role}"),
            }
        )),
        "Admin.UnlinkIdentity" => go!(admin_client::AdminClient.unlink_identity(
            pb::UnlinkIdentityRequest {
                call: c("x"),
                actor: f.p.clone(),
                issuer: "https://idp.example".into(),
            }
        )),
        "Admin.ListActors" => go!(
            admin_client::AdminClient.list_actors(pb::ListActorsRequest {
                page_size: 2,
                page_token: String::new()
            })
        ),
        "Admin.Backup" => go!(admin_client::AdminClient.backup(pb::BackupRequest {
            with_keys: false,
            passphrase: String::new()
        })),
        "Audit.ExportLog" => {
            go!(audit_client::AuditClient.export_log(pb::ExportLogRequest { tree_size: 0 }))
        }
        "Support.Refer" => {
            let source = if role == "service_user" {
                pb::ReferralSource::Self_
            } else {
                pb::ReferralSource::CareTeam
            };
            go!(support_client::SupportClient.refer(pb::ReferRequest {
                call: c("x"),
                support_id: format!("sp-new-{id}-{role}"),
                subject: f.p.clone(),
                worker: "pw2".into(),
                source: source as i32
            }))
        }
        "Support.Offer" => go!(support_client::SupportClient.offer(pb::SupportRequest {
            call: c("x"),
            support_id: f.sp.clone()
        })),
        "Support.Accept" => go!(support_client::SupportClient.accept(pb::SupportRequest {
            call: c("x"),
            support_id: f.sp.clone()
        })),
        "Support.Decline" => go!(support_client::SupportClient.decline(pb::SupportRequest {
            call: c("x"),
            support_id: f.sp.clone()
        })),
        "Support.End" => go!(support_client::SupportClient.end(pb::EndSupportRequest {
            call: c("x"),
            support_id: f.sp.clone(),
            reason: pb::EndReason::Other as i32
        })),
        "Support.ProposeTransfer" => go!(support_client::SupportClient.propose_transfer(
            pb::ProposeTransferRequest {
                call: c("x"),
                support_id: f.sp.clone(),
                to_worker: "pw2".into()
            }
        )),
        "Support.RespondTransfer" => go!(support_client::SupportClient.respond_transfer(
            pb::RespondTransferRequest {
                call: c("x"),
                support_id: f.sp.clone(),
                accept: true
            }
        )),
        "Authorities.Grant" => go!(authorities_client::AuthoritiesClient.grant(
            pb::GrantAuthorityRequest {
                call: c("x"),
                authority_id: format!("au-new-{id}-{role}"),
                subject: f.p.clone(),
                representative: "rep".into(),
                relation: pb::Relation::Carer as i32,
                basis: pb::AuthorityBasis::Consent as i32,
                scope: vec![pb::AuthorityScope::ReadRecord as i32],
                expires_at: future_ms(30),
                evidence: String::new()
            }
        )),
        "Authorities.GrantLpa" => go!(authorities_client::AuthoritiesClient.grant(
            pb::GrantAuthorityRequest {
                call: c("x"),
                authority_id: format!("au-new-{id}-{role}"),
                subject: f.p.clone(),
                representative: "rep".into(),
                relation: pb::Relation::Attorney as i32,
                basis: pb::AuthorityBasis::LastingPowerOfAttorney as i32,
                scope: vec![pb::AuthorityScope::SubjectAccess as i32],
                expires_at: None,
                evidence: "LPA registered 2025, reference 7000-1234".into()
            }
        )),
        "Authorities.End" => go!(authorities_client::AuthoritiesClient.end(
            pb::EndAuthorityRequest {
                call: c("x"),
                authority_id: format!("au-1-{id}"),
                reason: pb::AuthorityEndReason::Other as i32
            }
        )),
        "Meetings.Record" => go!(meetings_client::MeetingsClient.record(
            pb::RecordMeetingRequest {
                call: c("x"),
                meeting_id: format!("m-new-{id}-{role}"),
                support_id: f.sp.clone(),
                kind: pb::MeetingKind::OneToOne as i32,
                group_id: String::new(),
                goals: vec![],
                activities: vec![],
                mode: pb::MeetingMode::Phone as i32,
                place: pb::Place::Online as i32,
                place_detail: String::new(),
                occurred_at: future_ms(0),
                minutes: 10
            }
        )),
        "Notes.Draft" => go!(notes_client::NotesClient.draft(pb::DraftNoteRequest {
            call: c("x"),
            note_id: format!("n-new-{id}-{role}"),
            meeting_id: format!("m-{id}"),
            segments: vec![seg("s1")]
        })),
        "Notes.Revise" => go!(notes_client::NotesClient.revise(pb::NoteTextRequest {
            call: c("x"),
            note_id: f.n2.clone(),
            segments: vec![seg("s1")]
        })),
        "Notes.ProposeRedaction" => go!(notes_client::NotesClient.propose_redaction(
            pb::ProposeRedactionRequest {
                call: c("x"),
                note_id: f.n2.clone(),
                proposal_id: "r-9".into(),
                segments: vec!["s1".into()],
                reason: pb::RedactionReason::Other as i32
            }
        )),
        "Notes.AgreeRedaction" => go!(notes_client::NotesClient.agree_redaction(
            pb::ProposalRequest {
                call: c("x"),
                note_id: f.n.clone(),
                proposal_id: "r-1".into()
            }
        )),
        "Notes.DeclineRedaction" => go!(notes_client::NotesClient.decline_redaction(
            pb::DeclineRedactionRequest {
                call: c("x"),
                note_id: f.n.clone(),
                proposal_id: "r-1".into(),
                reason: "we need it".into()
            }
        )),
        "Notes.WithdrawRedaction" => go!(notes_client::NotesClient.withdraw_redaction(
            pb::ProposalRequest {
                call: c("x"),
                note_id: f.n.clone(),
                proposal_id: "r-1".into()
            }
        )),
        "Notes.Agree" => go!(notes_client::NotesClient.agree(pb::AgreeNoteRequest {
            call: c("x"),
            note_id: f.n2.clone(),
            revision: 1
        })),
        "Notes.Close" => go!(notes_client::NotesClient.close(pb::CloseNoteRequest {
            call: c("x"),
            note_id: f.n2.clone(),
            reason: pb::CloseReason::Other as i32
        })),
        "Consent.Grant" => go!(
            consent_client::ConsentClient.grant(pb::GrantConsentRequest {
                call: c("x"),
                subject: f.p.clone(),
                consent_id: format!("c-new-{role}"),
                scope: pb::ConsentScope::ShareWithGp as i32,
                grantee: String::new(),
                expires_at: None
            })
        ),
        "Consent.Revoke" => go!(
            consent_client::ConsentClient.revoke(pb::RevokeConsentRequest {
                call: c("x"),
                subject: f.p.clone(),
                consent_id: "c-1".into()
            })
        ),
        "Safeguarding.Raise" => go!(safeguarding_client::SafeguardingClient.raise(
            pb::RaiseConcernRequest {
                call: c("x"),
                concern_id: format!("k-new-{id}-{role}"),
                subject: f.p.clone(),
                category: pb::ConcernCategory::Other as i32,
                urgency: pb::Urgency::Routine as i32,
                summary: vec![seg("k")]
            }
        )),
        "Safeguarding.Acknowledge" => go!(safeguarding_client::SafeguardingClient.acknowledge(
            pb::ConcernRequest {
                call: c("x"),
                concern_id: format!("k-1-{id}")
            }
        )),
        "Safeguarding.RecordOutcome" => go!(safeguarding_client::SafeguardingClient
            .record_outcome(pb::OutcomeRequest {
                call: c("x"),
                concern_id: format!("k-2-{id}"),
                outcome: pb::ConcernOutcome::AdviceGiven as i32,
                detail: "advice".into()
            })),
        "Safeguarding.InformSubject" => go!(safeguarding_client::SafeguardingClient
            .inform_subject(pb::InformRequest {
                call: c("x"),
                // k-2 is acknowledged: the person is told once a lead has taken it on.
                concern_id: format!("k-2-{id}"),
                how: pb::InformedHow::Phone as i32
            })),
        "Safeguarding.Withhold" => go!(safeguarding_client::SafeguardingClient.withhold(
            pb::WithholdRequest {
                call: c("x"),
                subject: f.p.clone(),
                target_stream: format!("concern:k-1-{id}"),
                exemption: pb::Exemption::SeriousHarm as i32,
                justification: "why".into(),
                review_by: future_ms(10)
            }
        )),
        "Safeguarding.Release" => go!(safeguarding_client::SafeguardingClient.release(
            pb::ReleaseRequest {
                call: c("x"),
                subject: f.p.clone(),
                target_stream: format!("concern:k-2-{id}")
            }
        )),
        "Records.GetRecord" => go!(records_client::RecordsClient.get_record(
            pb::GetRecordRequest {
                subject: f.p.clone(),
                ..Default::default()
            }
        )),
        "Records.GetAccessLog" => go!(records_client::RecordsClient.get_access_log(
            pb::AccessLogRequest {
                subject: f.p.clone(),
                ..Default::default()
            }
        )),
        "SubjectAccess.Request" => go!(subject_access_client::SubjectAccessClient.request(
            pb::SarRequest {
                call: c("x"),
                sar_id: format!("sar-new-{id}-{role}"),
                subject: f.p.clone(),
                via: pb::SarVia::App as i32
            }
        )),
        "SubjectAccess.Fulfil" => go!(subject_access_client::SubjectAccessClient.fulfil(
            pb::FulfilSarRequest {
                call: c("x"),
                sar_id: format!("sar-1-{id}")
            }
        )),
        "SubjectAccess.Status" => go!(subject_access_client::SubjectAccessClient.status(
            pb::SarStatusRequest {
                sar_id: format!("sar-1-{id}")
            }
        )),
        "SubjectAccess.GetBundle" => go!(subject_access_client::SubjectAccessClient.get_bundle(
            pb::SarStatusRequest {
                sar_id: format!("sar-2-{id}")
            }
        )),
        "SubjectAccess.GetFulfilment" => go!(subject_access_client::SubjectAccessClient
            .get_fulfilment(pb::SarStatusRequest {
                sar_id: format!("sar-2-{id}")
            })),
        "Discussions.Record" => go!(discussions_client::DiscussionsClient.record(
            pb::RecordDiscussionRequest {
                call: c("x"),
                discussion_id: format!("d-{id}-{role}"),
                subject: f.p.clone(),
                setting: pb::DiscussionSetting::Mdt as i32,
                with_team: "cmht-north".into(),
                with_role: pb::Role::Unspecified as i32,
                held_at: future_ms(0),
                basis: "consent:c-1".into(),
                summary: vec![seg("d")],
            }
        )),
        "Statements.Add" => go!(
            statements_client::StatementsClient.add(pb::AddStatementRequest {
                call: c("x"),
                statement_id: format!("st-{id}-{role}"),
                target_stream: format!("note:{}", f.n),
                segments: vec![seg("st")],
            })
        ),
        "Retention.RecordDate" => go!(retention_client::RetentionClient.record_date(
            pb::RecordRetentionDateRequest {
                call: c("x"),
                subject: f.p.clone(),
                kind: pb::DateKind::Birth as i32,
                date: "2000-01-01".into(),
            }
        )),
        "Retention.PlaceHold" => go!(retention_client::RetentionClient.place_hold(
            pb::PlaceLegalHoldRequest {
                call: c("x"),
                subject: f.p.clone(),
                hold_id: format!("h-{id}-{role}"),
                reason: pb::HoldReason::Inquest as i32,
            }
        )),
        "Retention.LiftHold" => go!(retention_client::RetentionClient.lift_hold(
            pb::LiftLegalHoldRequest {
                call: c("x"),
                subject: f.p.clone(),
                hold_id: "h-0".into(),
            }
        )),
        "Retention.Plan" => {
            go!(retention_client::RetentionClient.plan(pb::RetentionPlanRequest::default()))
        }
        "Retention.Run" => {
            go!(retention_client::RetentionClient.run(pb::RunRetentionRequest {}))
        }
        "Records.GetMyBundle" => {
            go!(records_client::RecordsClient.get_my_bundle(pb::GetMyBundleRequest {}))
        }
        "Audit.GetCheckpoint" => {
            go!(audit_client::AuditClient.get_checkpoint(pb::GetCheckpointRequest {}))
        }
        "Audit.GetInclusionProof" => go!(audit_client::AuditClient.get_inclusion_proof(
            pb::GetInclusionProofRequest {
                seq: 0,
                tree_size: 0
            }
        )),
        "Audit.GetConsistencyProof" => go!(audit_client::AuditClient.get_consistency_proof(
            pb::GetConsistencyProofRequest {
                from_size: 1,
                to_size: 0
            }
        )),
        "Audit.ListEntries" => go!(audit_client::AuditClient.list_entries(
            pb::ListEntriesRequest {
                from_seq: 0,
                page_size: 5,
                page_token: String::new(),
            }
        )),
        "Audit.Verify" => go!(audit_client::AuditClient.verify(pb::VerifyRequest {})),
        "Audit.ComplianceFlags" => {
            go!(audit_client::AuditClient.compliance_flags(pb::ComplianceFlagsRequest {}))
        }
        "Audit.Subscribe" => {
            go!(audit_client::AuditClient.subscribe(pb::SubscribeRequest { from_seq: 0 }))
        }
        "Meetings.Plan" => go!(
            meetings_client::MeetingsClient.plan(pb::PlanMeetingRequest {
                call: c("x"),
                meeting_id: format!("pm-new-{id}-{role}"),
                support_id: f.sp.clone(),
                mode: pb::MeetingMode::Phone as i32,
                place: pb::Place::Online as i32,
                place_detail: String::new(),
                planned_for: future_ms(1),
                minutes: 30
            })
        ),
        "Meetings.ProposePlace" => go!(meetings_client::MeetingsClient.propose_place(
            pb::ProposePlaceRequest {
                call: c("x"),
                meeting_id: format!("pm-{id}"),
                place: pb::Place::Community as i32,
                place_detail: "the café".into(),
                on_behalf: false
            }
        )),
        // The worker proposed the place: the person agrees it, or the worker for them.
        "Meetings.AgreePlace" => go!(meetings_client::MeetingsClient.agree_place(
            pb::AgreePlaceRequest {
                call: c("x"),
                meeting_id: format!("pm-{id}"),
                on_behalf: role == "peer_worker"
            }
        )),
        "Meetings.Cancel" => go!(meetings_client::MeetingsClient.cancel(
            pb::CancelMeetingRequest {
                call: c("x"),
                meeting_id: format!("pm-{id}"),
                by: if role == "peer_worker" {
                    pb::Party::Worker as i32
                } else {
                    pb::Party::Person as i32
                }
            }
        )),
        "Meetings.RecordNotAttended" => go!(meetings_client::MeetingsClient.record_not_attended(
            pb::MeetingRequest {
                call: c("x"),
                meeting_id: format!("pm-{id}"),
            }
        )),
        "Meetings.RecordHeld" => go!(meetings_client::MeetingsClient.record_held(
            pb::HoldMeetingRequest {
                call: c("x"),
                meeting_id: format!("pm-{id}"),
                occurred_at: future_ms(0),
                minutes: 30,
                goals: vec![format!("g-{id}")],
                activities: vec![pb::Activity {
                    kind: pb::ActivityKind::Accompanying as i32,
                    detail: "the GP appointment".into()
                }]
            }
        )),
        "Groups.Form" => go!(groups_client::GroupsClient.form(pb::FormGroupRequest {
            call: c("x"),
            group_id: format!("grp-{id}-{role}"),
            name: "a group".into(),
            facilitators: vec!["pw".into()]
        })),
        "Goals.Set" => go!(goals_client::GoalsClient.set(pb::SetGoalRequest {
            call: c("x"),
            goal_id: format!("g-new-{id}-{role}"),
            support_id: f.sp.clone(),
            words: vec![seg("w")],
            co_produced: true
        })),
        "Goals.Review" => go!(goals_client::GoalsClient.review(pb::ReviewGoalRequest {
            call: c("x"),
            goal_id: format!("g-{id}"),
            words: vec![seg("r")]
        })),
        "Goals.Close" => go!(goals_client::GoalsClient.close(pb::CloseGoalRequest {
            call: c("x"),
            goal_id: format!("g-{id}"),
            outcome: pb::GoalOutcome::Changed as i32,
            words: vec![]
        })),
        "Notes.AddAddendum" => go!(notes_client::NotesClient.add_addendum(pb::NoteTextRequest {
            call: c("x"),
            note_id: f.n2.clone(),
            segments: vec![seg("a1")]
        })),
        "Notes.CheckWording" => go!(notes_client::NotesClient.check_wording(
            pb::CheckWordingRequest {
                segments: vec![seg("s1")]
            }
        )),
        other => panic!("no case for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_times_every_rpc_is_allowed_or_permission_denied_as_domain_md_says() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(withus::grpc::run(
        listener,
        ServeConfig::new(StoreConfig::new(dir.path())),
        ready_tx,
        async move {
            let _ = stop_rx.await;
        },
    ));
    let ready = ready_rx.await.unwrap();
    let ch = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut w = World {
        ch,
        admin: ready.admin_token.unwrap(),
        tokens: Default::default(),
        n: Default::default(),
    };
    for (id, role, team) in [
        ("pw", pb::Role::PeerWorker, "peer"),
        ("pw2", pb::Role::PeerWorker, "peer"),
        ("ct", pb::Role::CareTeam, "cmht-north"),
        ("sg", pb::Role::SafeguardingLead, ""),
        ("au", pb::Role::Auditor, ""),
        ("rep", pb::Role::Representative, ""),
    ] {
        w.register(id, role, team).await;
    }
    for (role, id) in [
        ("peer_worker", "pw"),
        ("care_team", "ct"),
        ("safeguarding_lead", "sg"),
        ("auditor", "au"),
        ("representative", "rep"),
    ] {
        let t = w.token(id).await;
        w.tokens.insert(role, t);
    }
    let admin = w.admin.clone();
    w.tokens.insert("admin", admin);

    // (rpc, fixture, roles allowed). The service user is the fixture's person.
    let all: &[&str] = &ROLES;
    let matrix: &[(&str, Kind, &[&str])] = &[
        ("Admin.RegisterActor", Kind::Full, &["admin"]),
        ("Admin.DeactivateActor", Kind::Full, &["admin"]),
        ("Admin.IssueToken", Kind::Full, &["admin"]),
        ("Admin.RevokeToken", Kind::Full, &["admin"]),
        // The person's peer worker (an accepted relationship in every fixture) or an admin.
        (
            "Admin.IssueSignInCode",
            Kind::Full,
            &["peer_worker", "admin"],
        ),
        ("Admin.LinkIdentity", Kind::Full, &["admin"]),
        ("Admin.UnlinkIdentity", Kind::Full, &["admin"]),
        ("Admin.ListActors", Kind::Full, &["auditor", "admin"]),
        (
            "Support.Refer",
            Kind::Full,
            &["service_user", "peer_worker", "care_team"],
        ),
        ("Support.Offer", Kind::Referred, &["peer_worker"]),
        (
            "Support.Accept",
            Kind::Offered,
            &["service_user", "peer_worker"],
        ),
        (
            "Support.Decline",
            Kind::Offered,
            &["service_user", "peer_worker"],
        ),
        ("Support.End", Kind::Full, &["service_user", "peer_worker"]),
        ("Meetings.Record", Kind::Full, &["peer_worker"]),
        ("Notes.Draft", Kind::Full, &["peer_worker"]),
        ("Notes.Revise", Kind::Full, &["service_user", "peer_worker"]),
        (
            "Notes.ProposeRedaction",
            Kind::Full,
            &["service_user", "peer_worker"],
        ),
        ("Notes.AgreeRedaction", Kind::Full, &["peer_worker"]),
        ("Notes.DeclineRedaction", Kind::Full, &["peer_worker"]),
        ("Notes.WithdrawRedaction", Kind::Full, &["service_user"]),
        ("Notes.Agree", Kind::Full, &["service_user", "peer_worker"]),
        ("Notes.Close", Kind::Full, &["peer_worker"]),
        (
            "Notes.AddAddendum",
            Kind::Agreed,
            &["service_user", "peer_worker"],
        ),
        (
            "Consent.Grant",
            Kind::Full,
            &["service_user", "peer_worker"],
        ),
        (
            "Consent.Revoke",
            Kind::Full,
            &["service_user", "peer_worker"],
        ),
        (
            "Safeguarding.Raise",
            Kind::Full,
            &["peer_worker", "safeguarding_lead"],
        ),
        (
            "Safeguarding.Acknowledge",
            Kind::Full,
            &["safeguarding_lead"],
        ),
        (
            "Safeguarding.RecordOutcome",
            Kind::Full,
            &["safeguarding_lead"],
        ),
        (
            "Safeguarding.InformSubject",
            Kind::Full,
            &["safeguarding_lead"],
        ),
        ("Safeguarding.Withhold", Kind::Full, &["safeguarding_lead"]),
        ("Safeguarding.Release", Kind::Full, &["safeguarding_lead"]),
        (
            "Records.GetRecord",
            Kind::Full,
            &[
                "service_user",
                "peer_worker",
                "care_team",
                "safeguarding_lead",
                "representative",
            ],
        ),
        (
            "Records.GetAccessLog",
            Kind::Full,
            &["service_user", "auditor"],
        ),
        (
            "SubjectAccess.Request",
            Kind::Full,
            &["service_user", "peer_worker", "representative"],
        ),
        ("SubjectAccess.Fulfil", Kind::Full, &["auditor"]),
        (
            "SubjectAccess.Status",
            Kind::Full,
            &["service_user", "peer_worker", "auditor", "representative"],
        ),
        (
            "SubjectAccess.GetBundle",
            Kind::Full,
            &["service_user", "representative"],
        ),
        (
            "SubjectAccess.GetFulfilment",
            Kind::Full,
            &["service_user", "representative"],
        ),
        ("Records.GetMyBundle", Kind::Full, &["service_user"]),
        ("Audit.GetCheckpoint", Kind::Full, all),
        ("Audit.GetInclusionProof", Kind::Full, all),
        ("Audit.GetConsistencyProof", Kind::Full, all),
        ("Audit.ListEntries", Kind::Full, &["auditor", "admin"]),
        ("Audit.Verify", Kind::Full, &["auditor", "admin"]),
        ("Audit.ComplianceFlags", Kind::Full, &["auditor"]),
        ("Audit.Subscribe", Kind::Full, &["auditor", "admin"]),
        ("Audit.ExportLog", Kind::Full, &["auditor", "admin"]),
        // A backup carries everyone's sealed content and salts: the admin's alone.
        ("Admin.Backup", Kind::Full, &["admin"]),
        (
            "Discussions.Record",
            Kind::Full,
            &["peer_worker", "care_team", "safeguarding_lead"],
        ),
        ("Statements.Add", Kind::Full, &["service_user"]),
        ("Meetings.Plan", Kind::Full, &["peer_worker"]),
        (
            "Meetings.ProposePlace",
            Kind::Full,
            &["service_user", "peer_worker"],
        ),
        (
            "Meetings.AgreePlace",
            Kind::Full,
            &["service_user", "peer_worker"],
        ),
        (
            "Meetings.Cancel",
            Kind::Full,
            &["service_user", "peer_worker"],
        ),
        ("Meetings.RecordNotAttended", Kind::Passed, &["peer_worker"]),
        ("Meetings.RecordHeld", Kind::Full, &["peer_worker"]),
        // The caller's own token is pw's for the peer worker: a worker forms a group they
        // facilitate.
        ("Groups.Form", Kind::Full, &["peer_worker", "admin"]),
        ("Goals.Set", Kind::Full, &["service_user", "peer_worker"]),
        ("Goals.Review", Kind::Full, &["service_user", "peer_worker"]),
        ("Goals.Close", Kind::Full, &["service_user", "peer_worker"]),
        // Advice on words not yet saved: reads nothing about anyone, appends nothing.
        ("Notes.CheckWording", Kind::Full, all),
        ("Authorities.Grant", Kind::Full, &["service_user"]),
        ("Authorities.GrantLpa", Kind::Full, &["admin"]),
        (
            "Authorities.End",
            Kind::Full,
            &["service_user", "admin", "representative"],
        ),
        (
            "Support.ProposeTransfer",
            Kind::Full,
            &["peer_worker", "admin"],
        ),
        (
            "Support.RespondTransfer",
            Kind::Transfer,
            &["service_user", "peer_worker"],
        ),
        ("Retention.RecordDate", Kind::Full, &["admin"]),
        (
            "Retention.PlaceHold",
            Kind::Full,
            &["safeguarding_lead", "admin"],
        ),
        (
            "Retention.LiftHold",
            Kind::Full,
            &["safeguarding_lead", "admin"],
        ),
        // The DPO's plan: dates and rules, no content; appends nothing.
        ("Retention.Plan", Kind::Full, &["auditor", "admin"]),
        // Nothing is due in the fixtures: running appends nothing.
        ("Retention.Run", Kind::Full, &["admin"]),
    ];
    // Every RPC the server offers is in the matrix.
    let listed: BTreeSet<&str> = matrix
        .iter()
        .map(|(r, _, _)| r.split('.').next().unwrap())
        .collect();
    for s in withus::grpc::SERVICES {
        assert!(
            listed.contains(s.trim_start_matches("withus.v1.")),
            "{s} missing from the matrix"
        );
    }

    // And every command RPC, one by one.
    let names: BTreeSet<&str> = matrix.iter().map(|(r, _, _)| *r).collect();
    for method in withus::grpc::commands::METHODS {
        let name = method.trim_start_matches("withus.v1.").replace('/', ".");
        assert!(
            names.contains(name.as_str()),
            "{method} missing from the matrix"
        );
    }

    let mut failures = Vec::new();
    for (name, kind, allowed) in matrix {
        for role in ROLES {
            let f = w.fixture(*kind).await;
            let token = if role == "service_user" {
                f.p_token.clone()
            } else {
                w.tokens[role].clone()
            };
            let before = audit_size(&w).await;
            let got = rpc(&w, name, &f, role, &token).await;
            let want_ok = allowed.contains(&role);
            match (&got, want_ok) {
                (Ok(()), true) => {
                    if ["Notes.CheckWording", "Retention.Plan", "Retention.Run"].contains(name) {
                        let after = audit_size(&w).await;
                        assert_eq!(after, before, "{name} as {role}: appends nothing");
                    }
                }
                (Err(e), false) if e.code() == Code::PermissionDenied => {
                    let after = audit_size(&w).await;
                    if [
                        "Records.GetRecord",
                        "Records.GetAccessLog",
                        "SubjectAccess.Status",
                        "SubjectAccess.GetBundle",
                        "SubjectAccess.GetFulfilment",
                    ]
                    .contains(name)
                    {
                        // A refused read of anything about the person is logged, and nothing
                        // else is appended.
                        assert_eq!(after, before + 1, "{name} as {role}: one access.denied");
                        let log = pb::audit_client::AuditClient::new(w.c())
                            .list_entries(req(
                                pb::ListEntriesRequest {
                                    from_seq: before,
                                    page_size: 1,
                                    page_token: String::new(),
                                },
                                &w.tokens["auditor"],
                            ))
                            .await
                            .unwrap()
                            .into_inner();
                        assert_eq!(log.entries[0].r#type, "access.denied", "{name} as {role}");
                    } else {
                        assert_eq!(after, before, "{name} as {role}: a refusal appends nothing");
                    }
                }
                _ => failures.push(format!(
                    "{name} as {role}: want {}, got {:?}",
                    if want_ok { "OK" } else { "PERMISSION_DENIED" },
                    got.map_err(|e| (e.code(), e.message().to_string()))
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}

async fn audit_size(w: &World) -> u64 {
    pb::audit_client::AuditClient::new(w.c())
        .get_checkpoint(req(pb::GetCheckpointRequest {}, &w.tokens["auditor"]))
        .await
        .unwrap()
        .into_inner()
        .tree_size
}
