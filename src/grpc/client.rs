//! A gRPC client for the CLI: `withus admin …`, `withus sar fetch` and `withus demo`. Uses only the public API, as
//! any app would.

use std::fmt::Write as _;

use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::Request;

use super::convert;
use super::pb;
use crate::domain::types::Vocabulary as _;

/// What went wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {url}: {why}; is `withus serve` running there?")]
    Connect { url: String, why: String },
    #[error("{what}: {code:?}: {message}")]
    Call {
        what: String,
        code: tonic::Code,
        message: String,
    },
    #[error("{0}")]
    Bad(String),
}

/// A connection and the bearer token its calls carry.
#[derive(Clone)]
pub struct Client {
    channel: Channel,
    token: String,
}

fn new_command_id() -> String {
    let mut b = [0u8; 12];
    // Without randomness the id falls back to the clock; it only needs to be unique per call.
    if getrandom::getrandom(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b[..12].copy_from_slice(&t.to_le_bytes()[..12]);
    }
    format!("cli-{}", hex::encode(b))
}

fn call(id: Option<String>) -> Option<pb::CallOptions> {
    Some(pb::CallOptions {
        command_id: id.unwrap_or_else(new_command_id),
        expected_version: None,
    })
}

impl Client {
    pub async fn connect(url: &str, token: &str) -> Result<Client, ClientError> {
        let endpoint = Channel::from_shared(url.to_string()).map_err(|e| ClientError::Connect {
            url: url.into(),
            why: e.to_string(),
        })?;
        let channel = endpoint.connect().await.map_err(|e| ClientError::Connect {
            url: url.into(),
            why: e.to_string(),
        })?;
        Ok(Client {
            channel,
            token: token.to_string(),
        })
    }

    /// The same connection acting as someone else.
    pub fn as_token(&self, token: &str) -> Client {
        Client {
            channel: self.channel.clone(),
            token: token.to_string(),
        }
    }

    fn req<T>(&self, msg: T) -> Result<Request<T>, ClientError> {
        let mut r = Request::new(msg);
        let v: MetadataValue<_> = format!("Bearer {}", self.token)
            .parse()
            .map_err(|_| ClientError::Bad("the token is not a valid header value".into()))?;
        r.metadata_mut().insert("authorization", v);
        Ok(r)
    }

    fn fail(what: &str) -> impl Fn(tonic::Status) -> ClientError + '_ {
        move |s| ClientError::Call {
            what: what.to_string(),
            code: s.code(),
            message: s.message().to_string(),
        }
    }

    /// A subject access bundle's file bytes: of a fulfilled request (`Some(sar_id)`,
    /// `SubjectAccess.GetBundle`) or of the caller's record now (`None`, `Records.GetMyBundle`),
    /// reassembled from its chunks; with the bundle hash the request's `sar.fulfilled` recorded
    /// (empty for an on-demand one).
    pub async fn bundle(&self, sar_id: Option<&str>) -> Result<(Vec<u8>, String), ClientError> {
        let what = "get the bundle";
        let mut stream = match sar_id {
            Some(id) => pb::subject_access_client::SubjectAccessClient::new(self.channel.clone())
                .get_bundle(self.req(pb::SarStatusRequest { sar_id: id.into() })?)
                .await
                .map_err(Self::fail(what))?
                .into_inner(),
            None => pb::records_client::RecordsClient::new(self.channel.clone())
                .get_my_bundle(self.req(pb::GetMyBundleRequest {})?)
                .await
                .map_err(Self::fail(what))?
                .into_inner(),
        };
        read_bundle(&mut stream).await
    }

    /// A fulfilled request's `sar.fulfilled` entry with its proof, as the companion file
    /// `withus sar verify --fulfilment` checks.
    pub async fn fulfilment(
        &self,
        sar_id: &str,
    ) -> Result<crate::sar::bundle::FulfilmentFile, ClientError> {
        let f = pb::subject_access_client::SubjectAccessClient::new(self.channel.clone())
            .get_fulfilment(self.req(pb::SarStatusRequest {
                sar_id: sar_id.into(),
            })?)
            .await
            .map_err(Self::fail("get the fulfilment"))?
            .into_inner();
        let entry = String::from_utf8(f.entry)
            .map_err(|_| ClientError::Bad("the fulfilment entry is not UTF-8".into()))?;
        Ok(crate::sar::bundle::FulfilmentFile {
            seq: f.seq,
            entry,
            proof: f.proof.iter().map(hex::encode).collect(),
            checkpoint: f.checkpoint,
        })
    }

    pub async fn register_actor(
        &self,
        id: &str,
        role: pb::Role,
        team: &str,
        name: &str,
        command_id: Option<String>,
    ) -> Result<pb::Receipts, ClientError> {
        let mut c = pb::admin_client::AdminClient::new(self.channel.clone());
        let r = self.req(pb::RegisterActorRequest {
            call: call(command_id),
            id: id.into(),
            role: role as i32,
            team: team.into(),
            display_name: name.into(),
        })?;
        Ok(c.register_actor(r)
            .await
            .map_err(Self::fail("register actor"))?
            .into_inner())
    }

    pub async fn deactivate_actor(
        &self,
        id: &str,
        reason: &str,
        command_id: Option<String>,
    ) -> Result<pb::Receipts, ClientError> {
        let mut c = pb::admin_client::AdminClient::new(self.channel.clone());
        let r = self.req(pb::DeactivateActorRequest {
            call: call(command_id),
            id: id.into(),
            reason: convert::to_wire::<pb::DeactivationReason>(
                crate::domain::types::DeactivationReason::parse(reason).ok_or_else(|| {
                    ClientError::Bad(format!(
                        "{reason:?} is not a reason: use one of {}",
                        crate::domain::types::DeactivationReason::expected()
                    ))
                })?,
            ),
        })?;
        Ok(c.deactivate_actor(r)
            .await
            .map_err(Self::fail("deactivate actor"))?
            .into_inner())
    }

    pub async fn issue_token(
        &self,
        actor: &str,
        expires_at: &str,
        command_id: Option<String>,
    ) -> Result<pb::IssueTokenResponse, ClientError> {
        let mut c = pb::admin_client::AdminClient::new(self.channel.clone());
        let r = self.req(pb::IssueTokenRequest {
            call: call(command_id),
            actor: actor.into(),
            expires_at: match expires_at {
                "" => None,
                t => Some(convert::timestamp(
                    crate::domain::types::Time::parse(t).ok_or_else(|| {
                        ClientError::Bad(format!(
                            "{t:?} is not a time of the form YYYY-MM-DDTHH:MM:SS.mmmZ"
                        ))
                    })?,
                )),
            },
        })?;
        Ok(c.issue_token(r)
            .await
            .map_err(Self::fail("issue token"))?
            .into_inner())
    }

    pub async fn issue_sign_in_code(
        &self,
        person: &str,
        command_id: Option<String>,
    ) -> Result<pb::IssueSignInCodeResponse, ClientError> {
        let mut c = pb::admin_client::AdminClient::new(self.channel.clone());
        let r = self.req(pb::IssueSignInCodeRequest {
            call: call(command_id),
            person: person.into(),
        })?;
        Ok(c.issue_sign_in_code(r)
            .await
            .map_err(Self::fail("issue sign-in code"))?
            .into_inner())
    }

    pub async fn revoke_token(
        &self,
        token_hash: &str,
        command_id: Option<String>,
    ) -> Result<pb::Receipts, ClientError> {
        let mut c = pb::admin_client::AdminClient::new(self.channel.clone());
        let r = self.req(pb::RevokeTokenRequest {
            call: call(command_id),
            token_hash: token_hash.into(),
        })?;
        Ok(c.revoke_token(r)
            .await
            .map_err(Self::fail("revoke token"))?
            .into_inner())
    }

    pub async fn link_identity(
        &self,
        actor: &str,
        issuer: &str,
        subject: &str,
        command_id: Option<String>,
    ) -> Result<pb::Receipts, ClientError> {
        let mut c = pb::admin_client::AdminClient::new(self.channel.clone());
        let r = self.req(pb::LinkIdentityRequest {
            call: call(command_id),
            actor: actor.into(),
            issuer: issuer.into(),
            subject: subject.into(),
        })?;
        Ok(c.link_identity(r)
            .await
            .map_err(Self::fail("link identity"))?
            .into_inner())
    }

    pub async fn unlink_identity(
        &self,
        actor: &str,
        issuer: &str,
        command_id: Option<String>,
    ) -> Result<pb::Receipts, ClientError> {
        let mut c = pb::admin_client::AdminClient::new(self.channel.clone());
        let r = self.req(pb::UnlinkIdentityRequest {
            call: call(command_id),
            actor: actor.into(),
            issuer: issuer.into(),
        })?;
        Ok(c.unlink_identity(r)
            .await
            .map_err(Self::fail("unlink identity"))?
            .into_inner())
    }

    /// Every registered actor, page by page.
    pub async fn list_actors(&self) -> Result<Vec<pb::ActorSummary>, ClientError> {
        let mut c = pb::admin_client::AdminClient::new(self.channel.clone());
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let r = self.req(pb::ListActorsRequest {
                page_size: 0,
                page_token: page_token.clone(),
            })?;
            let page = c
                .list_actors(r)
                .await
                .map_err(Self::fail("list actors"))?
                .into_inner();
            all.extend(page.actors);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            page_token = page.next_page_token;
        }
    }

    async fn record(&self, subject: &str) -> Result<pb::RecordResponse, ClientError> {
        let mut c = pb::records_client::RecordsClient::new(self.channel.clone());
        let r = self.req(pb::GetRecordRequest {
            subject: subject.into(),
            as_of_seq: None,
            as_of_time: None,
            page_size: 0,
            page_token: String::new(),
        })?;
        Ok(c.get_record(r)
            .await
            .map_err(Self::fail("read record"))?
            .into_inner())
    }

    /// `Admin.Backup`: writes the backup file's bytes to `out` as they arrive. Returns the tree
    /// size it is of and its length. The caller makes the file durable (and removes it if this
    /// fails: a stream that breaks leaves a truncated file, which restore refuses).
    pub async fn backup(
        &self,
        with_keys: bool,
        passphrase: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<(u64, u64), ClientError> {
        let what = "take a backup";
        let mut stream = pb::admin_client::AdminClient::new(self.channel.clone())
            .backup(self.req(pb::BackupRequest {
                with_keys,
                passphrase: passphrase.to_string(),
            })?)
            .await
            .map_err(Self::fail(what))?
            .into_inner();
        let (mut size, mut bytes, mut last) = (0, 0u64, false);
        while let Some(chunk) = stream.message().await.map_err(Self::fail(what))? {
            if last {
                return Err(ClientError::Bad(
                    "the server sent more after the backup's last chunk".into(),
                ));
            }
            size = chunk.tree_size;
            last = chunk.last;
            out.write_all(&chunk.data)
                .map_err(|e| ClientError::Bad(format!("writing the backup: {e}")))?;
            bytes += chunk.data.len() as u64;
        }
        if !last {
            return Err(ClientError::Bad(format!(
                "the backup stream ended after {bytes} bytes without its last chunk (the server \
                 stopped?); take the backup again"
            )));
        }
        Ok((size, bytes))
    }

    /// `Audit.ExportLog`: every entry up to the current tree size, in order, each handed to
    /// `entry` with its seq. Returns the tree size and the server's signed checkpoint of it.
    pub async fn export_log(
        &self,
        entry: &mut EntrySink<'_>,
    ) -> Result<(u64, String), ClientError> {
        let what = "export the log";
        let mut stream = pb::audit_client::AuditClient::new(self.channel.clone())
            .export_log(self.req(pb::ExportLogRequest { tree_size: 0 })?)
            .await
            .map_err(Self::fail(what))?
            .into_inner();
        let (mut size, mut checkpoint, mut next) = (None, String::new(), 0u64);
        while let Some(chunk) = stream.message().await.map_err(Self::fail(what))? {
            if size.is_none() {
                size = Some(chunk.tree_size);
                checkpoint = chunk.checkpoint;
            }
            if chunk.first_seq != next {
                return Err(ClientError::Bad(format!(
                    "the server sent entries from seq {} where {next} was next",
                    chunk.first_seq
                )));
            }
            for e in &chunk.entries {
                entry(next, e)?;
                next += 1;
            }
        }
        let size = size.unwrap_or(0);
        if next != size {
            return Err(ClientError::Bad(format!(
                "the export stream ended after {next} of {size} entries"
            )));
        }
        Ok((size, checkpoint))
    }

    /// `withus log verify --server`: streams the log and checks it (log-format.md §6) and the
    /// server's checkpoint of it, which must verify with `vkey` (a key the caller trusts, not
    /// one the server sends).
    pub async fn verify_log(&self, vkey: &str) -> Result<LogCheck, ClientError> {
        let mut checker = crate::store::EntryChecker::default();
        let mut failure = None;
        let (_, checkpoint) = self
            .export_log(&mut |_, e| {
                if failure.is_none() {
                    if let Err(f) = checker.push(e) {
                        failure = Some(f);
                    }
                }
                Ok(())
            })
            .await?;
        if failure.is_none() {
            failure = checker.check_checkpoint(&checkpoint, vkey).err();
        }
        Ok(LogCheck {
            entries: checker.size(),
            root: checker.root(),
            failure,
        })
    }
}

/// What receives each exported entry (its seq and exact bytes).
pub type EntrySink<'a> = dyn FnMut(u64, &[u8]) -> Result<(), ClientError> + 'a;

/// What `Client::verify_log` found.
#[derive(Debug)]
pub struct LogCheck {
    /// Entries that passed the checks (all of them when `failure` is `None`).
    pub entries: u64,
    /// Their Merkle root.
    pub root: crate::format::Hash,
    /// The first problem, naming its seq.
    pub failure: Option<crate::store::Failure>,
}

/// Reassembles a bundle streamed by `GetBundle` or `GetMyBundle`: its bytes, and the bundle hash
/// its request recorded (empty for an on-demand one). Fails if the stream breaks or ends short of
/// the length its first chunk announced.
pub async fn read_bundle(
    stream: &mut tonic::Streaming<pb::BundleChunk>,
) -> Result<(Vec<u8>, String), ClientError> {
    let (mut bytes, mut recorded, mut total) = (Vec::new(), String::new(), None);
    while let Some(chunk) = stream
        .message()
        .await
        .map_err(Client::fail("get the bundle"))?
    {
        if total.is_none() {
            total = Some(chunk.total_bytes);
            recorded = chunk.recorded_bundle_hash;
            bytes.reserve(usize::try_from(chunk.total_bytes).unwrap_or(0).min(1 << 30));
        }
        bytes.extend_from_slice(&chunk.data);
    }
    if total != Some(bytes.len() as u64) {
        return Err(ClientError::Bad(format!(
            "the bundle stream ended after {} of {} bytes",
            bytes.len(),
            total.unwrap_or(0)
        )));
    }
    Ok((bytes, recorded))
}

fn seg(id: &str, text: &str) -> pb::TextSegment {
    pb::TextSegment {
        id: id.into(),
        text: text.into(),
    }
}

/// Plays the seeds' story through the API as its cast (registered with a fresh suffix, so the
/// demo can run again on the same server) and returns the person's record and access log in
/// plain words. `admin` must act as an admin.
pub async fn demo(admin: &Client) -> Result<String, ClientError> {
    let run = &new_command_id()[4..12];
    let id = |who: &str| format!("{who}-{run}");
    let (sam, amara, cho, lee) = (id("su-sam"), id("pw-amara"), id("ct-cho"), id("sg-lee"));
    let kim = id("rp-kim");
    let team = id("cmht-north");
    let mut tokens = std::collections::HashMap::new();
    for (who, role, t, name) in [
        (&sam, pb::Role::ServiceUser, "", "Sam"),
        (&amara, pb::Role::PeerWorker, "peer-team", "Amara"),
        (&cho, pb::Role::CareTeam, team.as_str(), "Dr Cho"),
        (&lee, pb::Role::SafeguardingLead, "", "Lee"),
        (&kim, pb::Role::Representative, "", "Kim"),
    ] {
        admin.register_actor(who, role, t, name, None).await?;
        tokens.insert(who.clone(), admin.issue_token(who, "", None).await?.token);
    }
    let as_ = |who: &String| admin.as_token(&tokens[who]);
    let (c_sam, c_amara, c_cho, c_lee) = (as_(&sam), as_(&amara), as_(&cho), as_(&lee));
    let sp = id("sp");
    let fail = Client::fail;

    // Opt-in.
    let mut s = pb::support_client::SupportClient::new(c_amara.channel.clone());
    s.refer(c_amara.req(pb::ReferRequest {
        call: call(None),
        support_id: sp.clone(),
        subject: sam.clone(),
        worker: amara.clone(),
        source: pb::ReferralSource::CareTeam as i32,
    })?)
    .await
    .map_err(fail("refer"))?;
    s.offer(c_amara.req(pb::SupportRequest {
        call: call(None),
        support_id: sp.clone(),
    })?)
    .await
    .map_err(fail("offer"))?;
    s.accept(c_sam.req(pb::SupportRequest {
        call: call(None),
        support_id: sp.clone(),
    })?)
    .await
    .map_err(fail("accept"))?;
    // Sam's recovery goal, worked out with Amara, in Sam's words.
    let now = now_millis();
    let goal = id("g");
    let mut goals = pb::goals_client::GoalsClient::new(c_sam.channel.clone());
    goals
        .set(c_sam.req(pb::SetGoalRequest {
            call: call(None),
            goal_id: goal.clone(),
            support_id: sp.clone(),
            words: vec![seg(
                "w1",
                "Get back to the allotment, and go to the job centre.",
            )],
            co_produced: true,
        })?)
        .await
        .map_err(fail("set goal"))?;
    // A meeting planned at the clinic; Sam would rather meet at the café; Amara agrees; it is
    // held: Amara went with Sam to the job centre, and pointed Sam to a walking group.
    let (m, n) = (id("m"), id("n"));
    let mut meetings = pb::meetings_client::MeetingsClient::new(c_amara.channel.clone());
    meetings
        .plan(c_amara.req(pb::PlanMeetingRequest {
            call: call(None),
            meeting_id: m.clone(),
            support_id: sp.clone(),
            mode: pb::MeetingMode::InPerson as i32,
            place: pb::Place::Clinic as i32,
            place_detail: String::new(),
            planned_for: at(now.saturating_add(86_400_000)),
            minutes: 50,
        })?)
        .await
        .map_err(fail("plan meeting"))?;
    pb::meetings_client::MeetingsClient::new(c_sam.channel.clone())
        .propose_place(c_sam.req(pb::ProposePlaceRequest {
            call: call(None),
            meeting_id: m.clone(),
            place: pb::Place::Community as i32,
            place_detail: "the café by the park".into(),
            on_behalf: false,
        })?)
        .await
        .map_err(fail("propose a place"))?;
    meetings
        .agree_place(c_amara.req(pb::AgreePlaceRequest {
            call: call(None),
            meeting_id: m.clone(),
            on_behalf: false,
        })?)
        .await
        .map_err(fail("agree the place"))?;
    meetings
        .record_held(c_amara.req(pb::HoldMeetingRequest {
            call: call(None),
            meeting_id: m.clone(),
            occurred_at: at(now),
            minutes: 50,
            goals: vec![goal.clone()],
            activities: vec![
                pb::Activity {
                    kind: pb::ActivityKind::Accompanying as i32,
                    detail: "the job centre appointment".into(),
                },
                pb::Activity {
                    kind: pb::ActivityKind::Signposting as i32,
                    detail: "the Saturday walking group at the park".into(),
                },
            ],
        })?)
        .await
        .map_err(fail("record the meeting held"))?;
    goals
        .review(c_sam.req(pb::ReviewGoalRequest {
            call: call(None),
            goal_id: goal.clone(),
            words: vec![seg(
                "r1",
                "Went to the job centre with Amara; the allotment next.",
            )],
        })?)
        .await
        .map_err(fail("review goal"))?;
    // A co-produced note; Sam asks for a passage to be removed; Amara agrees; both agree.
    let mut notes = pb::notes_client::NotesClient::new(c_amara.channel.clone());
    notes
        .draft(c_amara.req(pb::DraftNoteRequest {
            call: call(None),
            note_id: n.clone(),
            meeting_id: m.clone(),
            segments: vec![
                seg(
                    "s1",
                    "We talked about what has helped this week: walking and the allotment.",
                ),
                seg("s2", "Sam talked about their brother's debts."),
                seg("s3", "Plan: walk together on Saturday."),
            ],
        })?)
        .await
        .map_err(fail("draft note"))?;
    notes
        .propose_redaction(c_sam.req(pb::ProposeRedactionRequest {
            call: call(None),
            note_id: n.clone(),
            proposal_id: "r-1".into(),
            segments: vec!["s2".into()],
            reason: pb::RedactionReason::NotWanted as i32,
        })?)
        .await
        .map_err(fail("propose redaction"))?;
    notes
        .agree_redaction(c_amara.req(pb::ProposalRequest {
            call: call(None),
            note_id: n.clone(),
            proposal_id: "r-1".into(),
        })?)
        .await
        .map_err(fail("agree redaction"))?;
    notes
        .agree(c_sam.req(pb::AgreeNoteRequest {
            call: call(None),
            note_id: n.clone(),
            revision: 1,
        })?)
        .await
        .map_err(fail("agree note"))?;
    notes
        .agree(c_amara.req(pb::AgreeNoteRequest {
            call: call(None),
            note_id: n.clone(),
            revision: 1,
        })?)
        .await
        .map_err(fail("agree note"))?;
    // Consent to the care team; a clinician reads; consent revoked; the next read is refused.
    let mut consent = pb::consent_client::ConsentClient::new(c_sam.channel.clone());
    consent
        .grant(c_sam.req(pb::GrantConsentRequest {
            call: call(None),
            subject: sam.clone(),
            consent_id: "c-1".into(),
            scope: pb::ConsentScope::ShareWithCareTeam as i32,
            grantee: team.clone(),
            expires_at: None,
        })?)
        .await
        .map_err(fail("grant consent"))?;
    // The MDT discusses Sam under that consent, and Dr Cho records it (Sam sees it).
    let mut discussions = pb::discussions_client::DiscussionsClient::new(c_cho.channel.clone());
    let mdt = |discussion_id: String| pb::RecordDiscussionRequest {
        call: call(None),
        discussion_id,
        subject: sam.clone(),
        setting: pb::DiscussionSetting::Mdt as i32,
        with_team: team.clone(),
        with_role: pb::Role::Unspecified as i32,
        held_at: at(now_millis()),
        basis: "consent:c-1".into(),
        summary: vec![seg(
            "d1",
            "Reviewed how peer support is going; Sam's plan to walk on Saturdays supported.",
        )],
    };
    discussions
        .record(c_cho.req(mdt(id("d-1")))?)
        .await
        .map_err(fail("record discussion"))?;
    // Sam says, in their own words, where they disagree with the note.
    pb::statements_client::StatementsClient::new(c_sam.channel.clone())
        .add(c_sam.req(pb::AddStatementRequest {
            call: call(None),
            statement_id: id("st-1"),
            target_stream: format!("note:{n}"),
            segments: vec![seg(
                "st1",
                "I don't agree that the allotment is what helped most: it was talking to Amara.",
            )],
        })?)
        .await
        .map_err(fail("add statement"))?;
    // Whoever is shown the note is shown Sam's statement with it.
    let seen = c_cho.record(&sam).await?;
    if !shows(&seen, "it was talking to Amara") {
        return Err(ClientError::Bad(
            "the care team was shown the note without Sam's statement".into(),
        ));
    }
    consent
        .revoke(c_sam.req(pb::RevokeConsentRequest {
            call: call(None),
            subject: sam.clone(),
            consent_id: "c-1".into(),
        })?)
        .await
        .map_err(fail("revoke consent"))?;
    match c_cho.record(&sam).await {
        Err(ClientError::Call {
            code: tonic::Code::PermissionDenied,
            ..
        }) => {}
        Err(e) => return Err(e),
        Ok(_) => {
            return Err(ClientError::Bad(
                "a read after revocation was allowed".into(),
            ))
        }
    }
    // Without the consent, the team may not discuss Sam: recording it is refused.
    match discussions.record(c_cho.req(mdt(id("d-2")))?).await {
        Err(status) if status.code() == tonic::Code::PermissionDenied => {}
        Err(status) => return Err(fail("record discussion")(status)),
        Ok(_) => {
            return Err(ClientError::Bad(
                "a discussion without a basis was recorded".into(),
            ))
        }
    }
    // A safeguarding concern, acknowledged.
    let k = id("k");
    let mut sg = pb::safeguarding_client::SafeguardingClient::new(c_amara.channel.clone());
    sg.raise(c_amara.req(pb::RaiseConcernRequest {
        call: call(None),
        concern_id: k.clone(),
        subject: sam.clone(),
        category: pb::ConcernCategory::SelfNeglect as i32,
        urgency: pb::Urgency::SameDay as i32,
        summary: vec![seg("k", "Sam has not been eating and the flat is cold.")],
    })?)
    .await
    .map_err(fail("raise concern"))?;
    sg.acknowledge(c_lee.req(pb::ConcernRequest {
        call: call(None),
        concern_id: k.clone(),
    })?)
    .await
    .map_err(fail("acknowledge concern"))?;
    sg.inform_subject(c_lee.req(pb::InformRequest {
        call: call(None),
        concern_id: k.clone(),
        how: pb::InformedHow::InPerson as i32,
    })?)
    .await
    .map_err(fail("inform the person"))?;

    // Sam's carer, Kim, may read Sam's record on Sam's own consent; the read is logged with that
    // authority as its basis, and Sam sees it.
    pb::authorities_client::AuthoritiesClient::new(c_sam.channel.clone())
        .grant(c_sam.req(pb::GrantAuthorityRequest {
            call: call(None),
            authority_id: id("au-1"),
            subject: sam.clone(),
            representative: kim.clone(),
            relation: pb::Relation::Carer as i32,
            basis: pb::AuthorityBasis::Consent as i32,
            scope: vec![pb::AuthorityScope::ReadRecord as i32],
            expires_at: at(now.saturating_add(90 * 86_400_000)),
            evidence: String::new(),
        })?)
        .await
        .map_err(fail("grant an authority"))?;
    let c_kim = admin.as_token(&tokens[&kim]);
    let read = c_kim.record(&sam).await?;
    if !shows(&read, "Get back to the allotment") {
        return Err(ClientError::Bad(
            "the carer was not shown the record the authority covers".into(),
        ));
    }

    // What Sam sees.
    let mine = c_sam.record(&sam).await?;
    let log = pb::records_client::RecordsClient::new(c_sam.channel.clone())
        .get_access_log(c_sam.req(pb::AccessLogRequest {
            page_size: 0,
            page_token: String::new(),
            subject: sam.clone(),
        })?)
        .await
        .map_err(fail("access log"))?
        .into_inner();
    let record = mine
        .record
        .ok_or_else(|| ClientError::Bad("the record response held no record".into()))?;
    Ok(describe(&sam, &record, &log.lines))
}

/// The client's clock, in milliseconds since the Unix epoch (0 before 1970).
fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0)
}

/// A time in milliseconds since the Unix epoch, on the wire.
fn at(millis: u64) -> Option<prost_types::Timestamp> {
    Some(convert::timestamp(crate::domain::types::Time(millis)))
}

/// Whether a record response shows these words anywhere (a statement, a goal, a note).
fn shows(read: &pb::RecordResponse, words: &str) -> bool {
    let Some(record) = &read.record else {
        return false;
    };
    let all = record
        .statements
        .iter()
        .flat_map(|s| s.segments.iter())
        .chain(record.goals.iter().flat_map(|g| g.words.iter()))
        .chain(record.notes.iter().flat_map(|n| n.passages.iter()));
    all.filter_map(|p| p.text.as_deref())
        .any(|text| text.contains(words))
}

/// A wire time in the log's form; empty when unset.
pub fn when(t: &Option<prost_types::Timestamp>) -> String {
    let Some(t) = t else {
        return String::new();
    };
    match convert::time("at", Some(*t)) {
        Ok(Some(t)) => t.to_string(),
        _ => format!("{}s", t.seconds),
    }
}

/// A wire enum value in plain words (`in person`); empty when unset.
fn words_of<W: convert::WireVocabulary>(value: i32) -> String {
    convert::optional_from_wire::<W>("value", value)
        .ok()
        .flatten()
        .map(|v| v.name().replace('_', " "))
        .unwrap_or_default()
}

/// The words of passages the reader may see, each quoted.
fn quoted(passages: &[pb::Passage]) -> String {
    passages
        .iter()
        .filter_map(|p| p.text.as_ref().map(|t| format!("\"{t}\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A record and its access log in plain words.
pub fn describe(subject: &str, record: &pb::Record, log: &[pb::AccessLine]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "The record of {subject}, as they see it (log size {}):",
        record.as_of_seq
    );
    for sp in &record.supports {
        let _ = writeln!(
            out,
            "- Peer support {} with {}: {} (referred {}).",
            sp.support_id,
            sp.worker,
            words_of::<pb::SupportStatus>(sp.status),
            when(&sp.referred_at)
        );
    }
    for m in &record.meetings {
        let place = m
            .place_detail
            .as_ref()
            .and_then(|p| p.text.as_ref())
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        let agreed = if m.place_agreed {
            ", place agreed by both"
        } else {
            ""
        };
        let done: Vec<String> = m
            .activities
            .iter()
            .map(|a| {
                let kind = words_of::<pb::ActivityKind>(a.kind);
                match a.detail.as_ref().and_then(|d| d.text.as_ref()) {
                    Some(t) => format!("{kind} ({t})"),
                    None => kind,
                }
            })
            .collect();
        let done = if done.is_empty() {
            String::new()
        } else {
            format!("; {}", done.join(", "))
        };
        let _ = writeln!(
            out,
            "- Meeting with {} {} at {}{}{agreed}, {} minutes, {} {}{done}.",
            m.worker,
            words_of::<pb::MeetingMode>(m.mode),
            words_of::<pb::Place>(m.place),
            place,
            m.minutes,
            words_of::<pb::MeetingStatus>(m.status),
            when(&m.occurred_at)
        );
    }
    for g in &record.goals {
        let state = match &g.closed {
            Some(c) => format!("closed: {}", words_of::<pb::GoalOutcome>(c.outcome)),
            None => "open".into(),
        };
        let _ = writeln!(
            out,
            "- Recovery goal {} ({state}): {}",
            g.goal_id,
            quoted(&g.words)
        );
        for r in &g.reviews {
            let _ = writeln!(out, "    reviewed {}: {}", when(&r.at), quoted(&r.words));
        }
    }
    for n in &record.notes {
        let _ = writeln!(
            out,
            "- Note {} ({}, revision {}):",
            n.note_id,
            words_of::<pb::NoteStatus>(n.status),
            n.revision
        );
        for p in &n.passages {
            match (&p.text, &p.removed) {
                (_, Some(removed)) => {
                    let _ = writeln!(
                        out,
                        "    [removed by agreement on {} (agreed by {}), {} characters]",
                        when(&removed.agreed_at),
                        removed.agreed_by,
                        p.chars
                    );
                }
                (Some(t), None) => {
                    let _ = writeln!(out, "    \"{t}\"");
                }
                (None, None) if p.erased_at.is_some() => {
                    let _ = writeln!(
                        out,
                        "    [erased under the retention period on {}, {} characters]",
                        when(&p.erased_at),
                        p.chars
                    );
                }
                (None, None) => {
                    let _ = writeln!(out, "    [text no longer stored, {} characters]", p.chars);
                }
            }
        }
    }
    for c in &record.consents {
        let until = if c.revoked_at.is_some() {
            format!("revoked {}", when(&c.revoked_at))
        } else {
            "in force".into()
        };
        let _ = writeln!(
            out,
            "- Consent {}: {} {} (given {}; {until}).",
            c.consent_id,
            words_of::<pb::ConsentScope>(c.scope),
            c.team,
            when(&c.granted_at)
        );
    }
    for k in &record.concerns {
        let acknowledged = match when(&k.acknowledged_at) {
            t if t.is_empty() => "not yet".to_string(),
            t => t,
        };
        let _ = writeln!(
            out,
            "- Safeguarding concern {} ({}, {}), raised by {} on {}; acknowledged: {acknowledged}.",
            k.concern_id,
            words_of::<pb::ConcernCategory>(k.category),
            words_of::<pb::Urgency>(k.urgency),
            k.raised_by,
            when(&k.raised_at),
        );
    }
    for d in &record.discussions {
        let with = match &d.with {
            Some(pb::record::discussion::With::WithTeam(team)) => team.clone(),
            Some(pb::record::discussion::With::WithRole(role)) => words_of::<pb::Role>(*role),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "- Discussed ({}) with {with} on {}, on the basis of {}; recorded by {}.",
            words_of::<pb::DiscussionSetting>(d.setting),
            when(&d.held_at),
            d.basis,
            d.recorded_by
        );
    }
    for st in &record.statements {
        let _ = writeln!(
            out,
            "- Your statement about {}: {}",
            st.target_stream,
            quoted(&st.segments)
        );
    }
    if record.withheld_count > 0 {
        let _ = writeln!(
            out,
            "- {} item(s) are withheld from this view under an exemption.",
            record.withheld_count
        );
    }
    let _ = writeln!(out, "Who looked at it:");
    if log.is_empty() {
        let _ = writeln!(out, "- Nobody but {subject}.");
    }
    for l in log {
        let role = words_of::<pb::Role>(l.reader_role);
        if l.kind == pb::AccessKind::Read as i32 {
            let _ = writeln!(
                out,
                "- {} {} ({role}) read {} on the basis of {}.",
                when(&l.at),
                l.reader,
                l.streams.join(", "),
                l.basis
            );
        } else {
            let _ = writeln!(
                out,
                "- {} {} ({role}) was refused ({}).",
                when(&l.at),
                l.reader,
                words_of::<pb::DenialReason>(l.denial_reason)
            );
        }
    }
    out
}
